//! The state file (`DIR/state`): the store's settings and each tier's progress, rewritten
//! atomically. [`format`](crate::state::format) is its byte layout (`format-spec/state.md`); [`rebuild`](crate::state::rebuild) recreates it
//! from the files on disk when it is lost or damaged.

pub mod format;
pub mod rebuild;
