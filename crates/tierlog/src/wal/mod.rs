//! The window log (`raw/<start>.wal`): one framed log per open window, holding every
//! accepted sample until the window is sealed into a segment. [`format`](mod@format) is its
//! record layout (`format-spec/window-log.md`); frames are [`crate::logfile::frame`].
//! `append` creates a window's log and encodes batches into frames (the store appends them
//! under its lock, `store::write`); `replay` loads a log at open and decodes it back into the
//! window's points (`store::open` decides which logs to replay).

pub(crate) mod append;
pub mod format;
pub(crate) mod replay;
