//! The state file (`DIR/state`): the store's settings and each tier's progress, rewritten
//! atomically. [`format`] is its byte layout (`format-spec/state.md`); [`rebuild`] recreates it
//! from the files on disk when it is lost or damaged.

pub mod format;
pub mod rebuild;
