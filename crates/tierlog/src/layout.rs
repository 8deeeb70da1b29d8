//! Where things live in a store directory: every directory and file name, and the extension of
//! each kind of file, in one place.
//!
//! ```text
//! DIR/
//!   LOCK                      the writer's lock (holds its pid)
//!   state                     settings and tier progress (format-spec/state.md)
//!   index.log                 metrics and series (format-spec/index.md)
//!   raw/<start>.wal           an open window's log (format-spec/window-log.md)
//!   raw/<start>.seg           a sealed raw segment (format-spec/segment.md)
//!   <tier>/<start>.seg        a rollup tier's piece, e.g. 10s/, 60s/
//!   forward/<name>.ckpt       a forwarder's checkpoint (format-spec/forward.md)
//!   delete.pending            a delete in progress (format-spec/delete.md)
//!   *.tmp                     a file being written; removed by the next writer open
//! ```
//!
//! `<start>` is the window's (or piece's) start in ms since 1970, zero-padded to 15 digits so
//! that names sort by time.

pub use crate::format::header::FileKind;

/// Name of the raw tier's directory.
pub const RAW_DIR: &str = "raw";
/// Name of the index file.
pub const INDEX_FILE: &str = "index.log";
/// Name of the state file.
pub const STATE_FILE: &str = "state";
/// Name of the intent file of a delete in progress.
pub const DELETE_FILE: &str = "delete.pending";
/// Name of the lock file.
pub const LOCK_FILE: &str = "LOCK";
/// Where `repair` moves damaged segment files (`quarantine/<tier>/<file>`).
pub const QUARANTINE_DIR: &str = "quarantine";
/// The directory under a store where forwarders keep their checkpoints and locks.
pub const FORWARD_DIR: &str = "forward";
/// Extension of an open window's log (`raw/<start>.wal`).
pub const WINDOW_LOG_EXT: &str = "wal";
/// Extension of a sealed segment, raw or rollup (`<tier>/<start>.seg`).
pub const SEGMENT_EXT: &str = "seg";
/// Extension of a late log: samples written into a sealed window, waiting to be merged
/// into its segment (`format-spec/window-log.md`).
pub const LATE_LOG_EXT: &str = "late";
/// Extension of a forwarder's checkpoint file (`forward/<name>.ckpt`).
pub const CHECKPOINT_EXT: &str = "ckpt";

/// File name of a window's log or segment: the window start in ms, zero-padded to 15 digits so
/// names sort by time.
pub fn window_file_name(start: i64, ext: &str) -> String {
    format!("{start:015}.{ext}")
}

/// Parses a window file name back into (start, extension).
pub fn parse_window_file_name(name: &str) -> Option<(i64, &str)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 15 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, ext))
}

/// The kind of file a name in a store directory stands for, from its extension (`None` for
/// names the store does not own).
pub fn file_kind(name: &str) -> Option<FileKind> {
    if name == INDEX_FILE {
        return Some(FileKind::Index);
    }
    if name == STATE_FILE {
        return Some(FileKind::State);
    }
    if name == DELETE_FILE {
        return Some(FileKind::DeleteIntent);
    }
    match name.rsplit_once('.')?.1 {
        WINDOW_LOG_EXT | LATE_LOG_EXT => Some(FileKind::WindowLog),
        SEGMENT_EXT => Some(FileKind::Segment),
        CHECKPOINT_EXT => Some(FileKind::ForwardCheckpoint),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_map_to_their_kind() {
        let name = window_file_name(1_700_000_000_000, SEGMENT_EXT);
        assert_eq!(name, "001700000000000.seg");
        assert_eq!(
            parse_window_file_name(&name),
            Some((1_700_000_000_000, SEGMENT_EXT))
        );
        assert_eq!(parse_window_file_name("17.seg"), None);
        assert_eq!(file_kind(&name), Some(FileKind::Segment));
        assert_eq!(file_kind("000000000000000.wal"), Some(FileKind::WindowLog));
        assert_eq!(file_kind("agent.ckpt"), Some(FileKind::ForwardCheckpoint));
        assert_eq!(file_kind(INDEX_FILE), Some(FileKind::Index));
        assert_eq!(file_kind(STATE_FILE), Some(FileKind::State));
        assert_eq!(file_kind(DELETE_FILE), Some(FileKind::DeleteIntent));
        assert_eq!(file_kind("notes.txt"), None);
    }
}
