//! The forward late log, `DIR/forward/late.log` (`format-spec/forward.md`, "Late log"): every
//! accepted sample whose time is behind the lowest forwarder watermark the writer knows — a
//! sample no forwarder's in-order stream will send — appended in the write call that accepts
//! it, before the write is acknowledged (the same `Sync` rules as the window logs).
//!
//! ```text
//! header   the common header: magic TLOGFLL1, version 1, tier 0, window start 0, span 0
//! frame    the log's epoch record (as a late log's generation record: type 3, u64 LE >= 1)
//! frames   samples records, as in a window log (type 1: count, then series, ts, value)
//! ```
//!
//! A forwarder's checkpoint (version 3) records the position it has handled, `(epoch, byte
//! offset)`: every sample of a record ending at or before the offset was sent, dropped or
//! skipped. A log of another epoch than the checkpoint's (or a checkpoint of epoch 0) is
//! handled from its first samples record.
//!
//! When every checkpoint has handled the whole log, a writer's maintenance pass replaces it
//! with an empty log of the next epoch (atomic replacement), so the log does not grow for
//! ever. A writer's open truncates a torn tail (`crate::logfile`); a log whose epoch record
//! never became durable held no acknowledged sample and is removed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::header::{FileKind, HEADER_LEN, Header};
use crate::forward::format::Checkpoint;
use crate::layout::{CHECKPOINT_EXT, FORWARD_DIR};
use crate::logfile::frame::encode_frame_with;
use crate::logfile::{self, AppendError, Appender, Mode, SyncHandle};
use crate::vfs;
use crate::wal::format::{
    LoggedSample, decode_late_generation, decode_record, encode_late_generation,
};

/// The log's file name under `DIR/forward/`.
pub const LATE_LOG_FILE: &str = "late.log";

/// Where the forward late log of the store in `store_dir` lives.
pub fn late_log_path(store_dir: &Path) -> PathBuf {
    store_dir.join(FORWARD_DIR).join(LATE_LOG_FILE)
}

/// The bytes of an empty log of `epoch`: the header and the epoch record.
pub fn empty_log(epoch: u64) -> Vec<u8> {
    let mut b = Header::new(FileKind::ForwardLateLog, 0, 0, 0).encode().to_vec();
    encode_frame_with(&mut b, |o| encode_late_generation(epoch, o));
    b
}

/// One samples record of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct LateRecord {
    /// Byte offset just past the record's frame: a checkpoint at this offset has handled it.
    pub end: u64,
    /// The samples, in the order they were written.
    pub samples: Vec<LoggedSample>,
}

/// The log as a reader sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LateView {
    /// The log's epoch (0: there is no log).
    pub epoch: u64,
    /// Offset of the first samples record (just past the epoch record).
    pub start: u64,
    /// Offset just past the last complete record.
    pub end: u64,
    /// Every complete samples record, in order.
    pub records: Vec<LateRecord>,
}

impl LateView {
    /// The records a checkpoint at `(epoch, offset)` has not handled yet.
    pub fn after(&self, epoch: u64, offset: u64) -> &[LateRecord] {
        if epoch != self.epoch || epoch == 0 {
            return &self.records;
        }
        let i = self.records.partition_point(|r| r.end <= offset);
        &self.records[i..]
    }

    /// Samples the checkpoint at `(epoch, offset)` has not handled yet.
    pub fn pending(&self, epoch: u64, offset: u64) -> u64 {
        self.after(epoch, offset)
            .iter()
            .map(|r| r.samples.len() as u64)
            .sum()
    }

    /// Samples in the log.
    pub fn samples(&self) -> u64 {
        self.pending(0, 0)
    }

    /// The position of a checkpoint that has handled the whole log (`(0, 0)` when there is
    /// no log: the log created later is handled from its start).
    pub fn end_position(&self) -> (u64, u64) {
        if self.epoch == 0 {
            (0, 0)
        } else {
            (self.epoch, self.end)
        }
    }
}

/// Decodes the log's valid frames (after `logfile::load`). `None`: no epoch record.
fn decode(path: &Path, loaded: &logfile::Loaded) -> Result<Option<LateView>> {
    let mut payloads = loaded.payloads();
    let Some((offset, first)) = payloads.next() else {
        return Ok(None);
    };
    let epoch = decode_late_generation(first).map_err(|w| Error::corrupt(path, offset, w))?;
    let mut view = LateView {
        epoch,
        start: offset + first.len() as u64,
        end: offset + first.len() as u64,
        records: Vec::new(),
    };
    for (offset, payload) in payloads {
        let mut samples = Vec::new();
        decode_record(payload, |s| samples.push(s)).map_err(|w| Error::corrupt(path, offset, w))?;
        view.end = offset + payload.len() as u64;
        view.records.push(LateRecord {
            end: view.end,
            samples,
        });
    }
    Ok(Some(view))
}

/// Reads the forward late log of the store in `store_dir` without changing it (a reader:
/// a torn tail is left out; damage before the tail is [`Error::Corrupt`]). An empty view
/// when there is none.
pub fn read_log(fs: &vfs::Fs, store_dir: &Path) -> Result<LateView> {
    let path = late_log_path(store_dir);
    let loaded = match logfile::load(fs, &path, FileKind::ForwardLateLog, Mode::Read) {
        Ok(Some(l)) => l,
        Ok(None) => return Ok(LateView::default()),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LateView::default());
        }
        Err(e) => return Err(e),
    };
    if let Some(crate::error::Finding::Damaged { offset, what, .. }) = &loaded.finding {
        return Err(Error::corrupt(&path, *offset, what.clone()));
    }
    Ok(decode(&path, &loaded)?.unwrap_or_default())
}

/// The writer's handle on the log.
#[derive(Debug)]
pub(crate) struct LateLog {
    pub(crate) epoch: u64,
    pub(crate) log: Appender,
    pub(crate) sync: Arc<SyncHandle>,
}

impl LateLog {
    /// Opens the log at a writer's open (truncating a torn tail); `None` when there is none.
    pub(crate) fn open(fs: &vfs::Fs, store_dir: &Path, salvage: bool) -> Result<Option<LateLog>> {
        let path = late_log_path(store_dir);
        if !fs.exists(&path) {
            return Ok(None);
        }
        let Some(loaded) = logfile::load(fs, &path, FileKind::ForwardLateLog, Mode::Write {
            salvage,
        })?
        else {
            return Ok(None);
        };
        let Some(view) = decode(&path, &loaded)? else {
            // Its epoch record never became durable: no sample in it was acknowledged.
            fs.remove_synced(&path)?;
            return Ok(None);
        };
        let log = Appender::open(fs, &path, loaded.end)?;
        let sync = Arc::new(log.sync_handle()?);
        Ok(Some(LateLog {
            epoch: view.epoch,
            log,
            sync,
        }))
    }

    /// Creates the log (epoch 1): a synced create of the header, then the epoch record
    /// appended and synced.
    pub(crate) fn create(fs: &vfs::Fs, store_dir: &Path) -> Result<LateLog> {
        fs.create_dir_all(&store_dir.join(FORWARD_DIR))?;
        let path = late_log_path(store_dir);
        let bytes = empty_log(1);
        let mut log = Appender::create(fs, &path, &Header::new(FileKind::ForwardLateLog, 0, 0, 0))?;
        match log.append(&bytes[HEADER_LEN..]) {
            Ok(()) => {}
            Err(AppendError::RolledBack(e)) | Err(AppendError::Poisoned(e)) => {
                let _ = fs.remove_synced(&path);
                return Err(e);
            }
        }
        let sync = Arc::new(log.sync_handle()?);
        sync.sync()?;
        Ok(LateLog {
            epoch: 1,
            log,
            sync,
        })
    }

    /// Replaces the log with an empty one of the next epoch (temporary file, fsync, rename,
    /// fsync of the directory).
    pub(crate) fn replace(&mut self, fs: &vfs::Fs) -> Result<()> {
        let path = self.log.path().to_owned();
        let epoch = self.epoch.saturating_add(1);
        let bytes = empty_log(epoch);
        fs.write_atomic(&path, &bytes)?;
        let log = Appender::open(fs, &path, bytes.len() as u64)?;
        self.sync = Arc::new(log.sync_handle()?);
        self.log = log;
        self.epoch = epoch;
        Ok(())
    }

    /// True when the log holds samples records.
    pub(crate) fn has_samples(&self) -> bool {
        self.log.len() > empty_log(self.epoch).len() as u64
    }
}

/// The forwarders' checkpoints in `DIR/forward/`, by name (`None` for one that does not
/// decode).
pub fn checkpoints(fs: &vfs::Fs, store_dir: &Path) -> Vec<(String, Option<Checkpoint>)> {
    let dir = store_dir.join(FORWARD_DIR);
    if !fs.is_dir(&dir) {
        return Vec::new();
    }
    let mut names = fs.list_files(&dir).unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let stem = name.strip_suffix(&format!(".{CHECKPOINT_EXT}"))?.to_owned();
            let c = fs
                .read(&dir.join(&name))
                .ok()
                .and_then(|b| Checkpoint::decode(&b).ok());
            Some((stem, c))
        })
        .collect()
}

/// What the forward late log holds for one forwarder ([`crate::StoreStats::forwarders`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ForwarderLate {
    /// The forwarder's name (its checkpoint `forward/<name>.ckpt`).
    pub name: String,
    /// Samples of the late log it has not handled yet (not sent).
    pub pending: u64,
    /// Late samples it skipped (`--late skip`) since its checkpoint was created: never sent.
    pub skipped: u64,
    /// Whether its checkpoint could be read (the counts are 0 when not).
    pub readable: bool,
    /// Its watermark, ms: every point before it was delivered (or dropped with a counted
    /// reason). `None` when the checkpoint could not be read.
    pub watermark_ms: Option<i64>,
    /// Samples delivered since its checkpoint was created.
    pub sent: u64,
    /// Samples the receiver refused (batches dropped) since then.
    pub dropped: u64,
}

impl crate::store::Shared {
    /// Appends the samples of `groups` behind the forward mark to the forward late log
    /// (creating it); returns how many there were. The mark is read once, so the count is
    /// exactly what was logged. On an error nothing was appended.
    pub(crate) fn log_forward_late(
        &self,
        st: &mut crate::store::State,
        groups: &[(i64, bool, &[LoggedSample])],
    ) -> Result<u64> {
        let mark = self.forward.mark.load(std::sync::atomic::Ordering::Relaxed);
        let late: Vec<LoggedSample> = groups
            .iter()
            .filter(|(start, _, _)| mark > *start)
            .flat_map(|(_, _, list)| list.iter().filter(|s| s.ts_ms < mark).copied())
            .collect();
        if late.is_empty() {
            return Ok(0);
        }
        if st.fwd_late.is_none() {
            st.fwd_late = Some(LateLog::create(&self.fs, &self.dir)?);
        }
        let log = st.fwd_late.as_mut().expect("created above");
        let mut frame = Vec::new();
        crate::wal::append::encode_frames(&late, &mut frame);
        match log.log.append(&frame) {
            Ok(()) => {}
            Err(AppendError::RolledBack(e)) => return Err(e),
            Err(AppendError::Poisoned(e)) => {
                self.poisoned
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                return Err(e);
            }
        }
        let n = late.len() as u64;
        self.forward
            .late
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }

    /// Starts the log anew (next epoch) when every forwarder's checkpoint has handled all of
    /// it. Run by maintenance passes.
    pub(crate) fn trim_forward_late(&self) -> Result<bool> {
        let handled = {
            let st = self.state.read();
            let Some(log) = &st.fwd_late else {
                return Ok(false);
            };
            if !log.has_samples() {
                return Ok(false);
            }
            (log.epoch, log.log.len())
        };
        let all = checkpoints(&self.fs, &self.dir).into_iter().all(|(_, c)| {
            c.is_some_and(|c| c.late_epoch == handled.0 && c.late_offset >= handled.1)
        });
        if !all {
            return Ok(false);
        }
        let mut st = self.state.write();
        let Some(log) = st.fwd_late.as_mut() else {
            return Ok(false);
        };
        if (log.epoch, log.log.len()) != handled {
            // Written to since: the next pass looks again.
            return Ok(false);
        }
        log.replace(&self.fs)?;
        Ok(true)
    }

    /// The late log's samples and each forwarder's share of it, read from the files.
    pub(crate) fn forward_late_stats(&self) -> (u64, Vec<ForwarderLate>) {
        let view = match read_log(&self.fs, &self.dir) {
            Ok(v) => v,
            Err(e) => {
                log::warn!("cannot read the forward late log: {e}");
                LateView::default()
            }
        };
        let forwarders = checkpoints(&self.fs, &self.dir)
            .into_iter()
            .map(|(name, c)| match c {
                Some(c) => ForwarderLate {
                    name,
                    pending: view.pending(c.late_epoch, c.late_offset),
                    skipped: c.late_skipped,
                    readable: true,
                    watermark_ms: Some(c.watermark),
                    sent: c.sent,
                    dropped: c.dropped,
                },
                None => ForwarderLate {
                    name,
                    pending: 0,
                    skipped: 0,
                    readable: false,
                    watermark_ms: None,
                    sent: 0,
                    dropped: 0,
                },
            })
            .collect();
        (view.samples(), forwarders)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_late_log() {
        let mut expected = Vec::new();
        expected.extend_from_slice(b"TLOGFLL1");
        expected.extend_from_slice(&[1, 0, 0, 0]);
        expected.extend_from_slice(&[0; 16]);
        let hc = crc32c::crc32c(&expected);
        expected.extend_from_slice(&hc.to_le_bytes());
        // The epoch record: type 3, epoch 2.
        let payload = [3u8, 2, 0, 0, 0, 0, 0, 0, 0];
        expected.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        expected.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        let fh = crc32c::crc32c(&expected[32..40]);
        expected.extend_from_slice(&fh.to_le_bytes());
        expected.extend_from_slice(&payload);
        assert_eq!(empty_log(2), expected);
        // A samples record: type 1, count 1, series 5, ts 1_700_000_000_000, value 1.5.
        let mut rec = vec![1u8, 1, 0, 0, 0, 5, 0, 0, 0];
        rec.extend_from_slice(&1_700_000_000_000i64.to_le_bytes());
        rec.extend_from_slice(&1.5f64.to_le_bytes());
        let mut framed = Vec::new();
        crate::wal::append::encode_frames(
            &[LoggedSample {
                series: 5,
                ts_ms: 1_700_000_000_000,
                value: 1.5,
            }],
            &mut framed,
        );
        assert_eq!(&framed[12..], &rec[..]);
        let mut file = expected.clone();
        file.extend_from_slice(&framed);
        let fs = vfs::Fs::std();
        let dir = tempfile::tempdir().unwrap();
        fs.create_dir_all(&dir.path().join(FORWARD_DIR)).unwrap();
        fs.write_atomic(&late_log_path(dir.path()), &file).unwrap();
        let view = read_log(&fs, dir.path()).unwrap();
        assert_eq!(view.epoch, 2);
        assert_eq!(view.start, expected.len() as u64);
        assert_eq!(view.end, file.len() as u64);
        assert_eq!(view.samples(), 1);
        assert_eq!(view.pending(2, view.start), 1);
        assert_eq!(view.pending(2, view.end), 0);
        // Another epoch, or epoch 0: from the start.
        assert_eq!(view.pending(1, view.end), 1);
        assert_eq!(view.pending(0, 0), 1);
        // A torn tail is left out by a reader.
        file.extend_from_slice(&framed[..10]);
        fs.write_atomic(&late_log_path(dir.path()), &file).unwrap();
        assert_eq!(read_log(&fs, dir.path()).unwrap(), view);
    }
}
