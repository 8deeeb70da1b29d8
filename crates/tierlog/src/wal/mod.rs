//! The window log (`raw/<start>.wal`): one framed log per open window, holding every
//! accepted sample until the window is sealed into a segment. [`format`](crate::wal::format) is its record layout
//! (`format-spec/window-log.md`); frames are [`crate::logfile::frame`]. Appending is
//! `store::write`, replay at open is `store::open`.

pub mod format;
