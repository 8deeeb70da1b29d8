//! The state file (`DIR/state`): the store's settings and each tier's progress, rewritten
//! atomically. [`format`](crate::state::format) is its byte layout (`format-spec/state.md`);
//! [`file`](crate::state::file) loads and persists it; [`policy`](crate::state::policy) settles
//! the retention policy it records against an open's configuration;
//! [`rebuild`](crate::state::rebuild) recreates it from the files on disk when it is lost or
//! damaged.

pub mod file;
pub mod format;
pub mod policy;
pub mod rebuild;
