//! The writing side of a window log: creating a window's log, reopening a replayed one for
//! appends, and encoding a batch of samples into frames. Appending the frames (and cutting
//! them back out after an error) is the store's, under its state lock (`store::write`).

use std::path::Path;

use super::format::{LoggedSample, MAX_SAMPLES_PER_RECORD, encode_samples};
use crate::error::Result;
use crate::format::header::{FileKind, Header};
use crate::logfile::frame::encode_frame_with;
use crate::logfile::{Appender, Loaded};
use crate::vfs;

/// Creates the log of the window `[start, start + span)` at `path` (a synced create: the
/// header is durable, and the file's name in its directory, before this returns).
pub(crate) fn create(fs: &vfs::Fs, path: &Path, start: i64, span: i64) -> Result<Appender> {
    let header = Header::new(FileKind::WindowLog, 0, start, span);
    Appender::create(fs, path, &header)
}

/// Reopens the log at `path`, loaded (and recovered) at open, for appends after its last
/// valid frame.
pub(crate) fn reopen(fs: &vfs::Fs, path: &Path, log: &Loaded) -> Result<Appender> {
    Appender::open(fs, path, log.end)
}

/// Appends to `out` the frames of `samples`: one samples record per frame, a frame holding
/// at most [`MAX_SAMPLES_PER_RECORD`] of them (huge batches take several).
pub(crate) fn encode_frames(samples: &[LoggedSample], out: &mut Vec<u8>) {
    for part in samples.chunks(MAX_SAMPLES_PER_RECORD) {
        encode_frame_with(out, |o| encode_samples(part, o));
    }
}
