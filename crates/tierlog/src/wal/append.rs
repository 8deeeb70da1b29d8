//! The writing side of a window log: creating a window's log, reopening a replayed one for
//! appends, and encoding a batch of samples into frames. Appending the frames (and cutting
//! them back out after an error) is the store's, under its state lock (`store::write`).

use std::path::Path;

use super::format::{
    LoggedSample, MAX_SAMPLES_PER_KEYED_RECORD, MAX_SAMPLES_PER_RECORD, WRITE_KEY_LEN,
    encode_keyed_samples, encode_samples,
};
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

/// [`encode_frames`] for a keyed write: the last frame's record is a keyed samples record
/// carrying `key`, so a log that holds the key holds every frame of the write before it
/// (frames replay in order and a torn frame ends a log).
pub(crate) fn encode_frames_keyed(
    samples: &[LoggedSample],
    key: Option<&[u8; WRITE_KEY_LEN]>,
    out: &mut Vec<u8>,
) {
    let Some(key) = key else {
        return encode_frames(samples, out);
    };
    let cut = samples
        .len()
        .saturating_sub(MAX_SAMPLES_PER_KEYED_RECORD)
        .next_multiple_of(MAX_SAMPLES_PER_RECORD)
        .min(samples.len());
    let (head, last) = samples.split_at(cut);
    encode_frames(head, out);
    encode_frame_with(out, |o| encode_keyed_samples(key, last, o));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logfile::frame::{FrameRead, read_frame};
    use crate::wal::format::{RECORD_KEYED_SAMPLES, RECORD_SAMPLES, decode_samples};

    /// The record types of the frames in `buf`, the keys they carry and their samples.
    fn frames(buf: &[u8]) -> (Vec<u8>, Vec<[u8; 16]>, Vec<LoggedSample>) {
        let (mut kinds, mut keys, mut samples) = (Vec::new(), Vec::new(), Vec::new());
        let mut at = 0;
        while at < buf.len() {
            let FrameRead::Frame { payload, len } = read_frame(&buf[at..]) else {
                panic!("bad frame at {at}");
            };
            kinds.push(payload[0]);
            decode_samples(payload, |k| keys.push(k), |s| samples.push(s)).unwrap();
            at += len;
        }
        (kinds, keys, samples)
    }

    #[test]
    fn a_keyed_write_puts_its_key_on_its_last_frame() {
        let key = [9u8; 16];
        let small: Vec<LoggedSample> = (0..3)
            .map(|i| LoggedSample {
                series: i,
                ts_ms: i64::from(i),
                value: f64::from(i),
            })
            .collect();
        let mut out = Vec::new();
        encode_frames_keyed(&small, Some(&key), &mut out);
        assert_eq!(
            frames(&out),
            (vec![RECORD_KEYED_SAMPLES], vec![key], small.clone())
        );
        out.clear();
        encode_frames_keyed(&small, None, &mut out);
        assert_eq!(frames(&out), (vec![RECORD_SAMPLES], vec![], small));
        // More than one frame holds: whole samples records first, the key on the last.
        let n = MAX_SAMPLES_PER_RECORD + 5;
        let big: Vec<LoggedSample> = (0..n)
            .map(|i| LoggedSample {
                series: (i % 7) as u32,
                ts_ms: i as i64,
                value: i as f64,
            })
            .collect();
        out.clear();
        encode_frames_keyed(&big, Some(&key), &mut out);
        let (kinds, keys, samples) = frames(&out);
        assert_eq!(kinds, [RECORD_SAMPLES, RECORD_KEYED_SAMPLES]);
        assert_eq!(keys, [key]);
        assert!(samples == big, "samples differ");
    }
}
