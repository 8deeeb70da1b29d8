//! Compaction of the sidecar index (`index.log`): rewriting it without the series retention
//! removed, so that an agent whose series churn (per-container labels, say) does not grow its
//! index forever.
//!
//! *Deciding* is a pure function of three counts the store keeps in memory (records in the
//! file, metrics, live series): [`due`]. *Executing* keeps writers waiting only for in-memory
//! work and the final swap:
//! 1. under the state lock: snapshot the registry's compacted records and the index length `L`;
//! 2. without it: write them to `index.log.tmp` and fsync it;
//! 3. under the state write lock: copy the frames writers appended since (`L` to the end;
//!    frames are self-contained) to the temporary file, fsync it, rename it over `index.log`,
//!    point the index appender at the new file, fsync the directory.
//!
//! A crash before the rename leaves the old index (and a `.tmp` the next writer open removes),
//! after it the new one; both are complete. Ids are never reused: the compacted file keeps the
//! highest id ever handed out (`Registry::compacted_records`). Only retention removes series,
//! and it holds the maintenance mutex while it runs this, so nothing the snapshot dropped can
//! come back through the copied tail.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Instant;


use crate::store::{INDEX_FILE, Shared};
use crate::error::{Error, Result};
use crate::logfile::frame::{self, Tail, encode_frame};
use crate::format::header::{FileKind, Header};
use crate::vfs;
use crate::logfile::Appender;

/// The fewest dead records (definitions of removed series, removal records, superseded metric
/// records) that make an index worth compacting: below it the file is small whatever the
/// ratio.
pub const COMPACT_MIN_DEAD_RECORDS: u64 = 1024;

/// What an index compaction did (in [`crate::RetentionReport`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct IndexCompaction {
    /// Length of `index.log` before.
    pub bytes_before: u64,
    /// Length of `index.log` after.
    pub bytes_after: u64,
    /// Records in it before.
    pub records_before: u64,
    /// Records in it after.
    pub records_after: u64,
    /// Records writers appended while the compacted file was written, copied over at the swap.
    pub records_carried: u64,
    /// Microseconds the compaction took.
    pub took_us: u64,
    /// Of those, microseconds the state lock was held: for the snapshot, and for the swap
    /// (tail copy, fsync, rename, directory fsync).
    pub locked_us: u64,
}

/// Whether an index of `records` records, for a registry of `metrics` metrics and
/// `live_series` live series, is due for compaction: its dead records (those a compaction
/// drops) are at least [`COMPACT_MIN_DEAD_RECORDS`] and at least as many as the live series,
/// so a compaction at least halves the series part of the file and its cost (proportional to
/// the live series) is paid for by as many removals.
pub fn due(records: u64, metrics: u64, live_series: u64) -> bool {
    let dead = records.saturating_sub(metrics.saturating_add(live_series));
    dead >= COMPACT_MIN_DEAD_RECORDS && dead >= live_series
}

impl Shared {
    /// Compacts `index.log` when [`due`]. Not while the registry holds placeholders of
    /// metric definitions lost to damage (rewriting would have to invent them). The caller
    /// holds the maintenance mutex.
    pub(crate) fn compact_index_if_due(&self) -> Result<Option<IndexCompaction>> {
        // 1. Snapshot. Appends to the index happen under the state write lock, so the read
        //    lock fixes the registry and the file length together (and lets queries run).
        self.check_writable()?;
        let started = Instant::now();
        let (records, from, records_before) = {
            let st = self.state.read();
            let Some(log) = st.index_log.as_ref() else {
                return Ok(None);
            };
            let reg = &st.registry;
            if !due(
                st.index_records,
                reg.metrics().len() as u64,
                reg.series_count() as u64,
            ) {
                return Ok(None);
            }
            if reg.has_placeholders() {
                log::warn!(
                    "{}: not compacted: metric definitions were lost to damage (run `tierlog repair`)",
                    log.path().display()
                );
                return Ok(None);
            }
            (reg.compacted_records(), log.len(), st.index_records)
        };
        let snapshot = started.elapsed();

        // 2. The compacted records, written and fsynced without any lock.
        let path = self.dir.join(INDEX_FILE);
        let mut out = self.fs.atomic_file(&path)?;
        let mut buf = Header::new(FileKind::Index, 0, 0, 0).encode().to_vec();
        let mut payload = Vec::new();
        let mut compacted_len = 0u64;
        for r in &records {
            payload.clear();
            r.encode(&mut payload);
            encode_frame(&payload, &mut buf);
            if buf.len() >= 1 << 16 {
                write_to(&mut out, &buf)?;
                compacted_len += buf.len() as u64;
                buf.clear();
            }
        }
        write_to(&mut out, &buf)?;
        compacted_len += buf.len() as u64;
        out.sync()?;

        // 3. The swap, under the write lock: no append may land in the old file once the
        //    tail is copied, nor be acknowledged before the rename is durable.
        let mut st = self.state.write();
        let swap = Instant::now();
        let Some(log) = st.index_log.as_ref() else {
            return Ok(None);
        };
        let end = log.len();
        let tail = match end.checked_sub(from) {
            Some(0) => Vec::new(),
            Some(n) => self.fs.read_range(&path, from, n)?,
            None => {
                log::warn!(
                    "{}: shorter than when compaction started; not compacted",
                    path.display()
                );
                return Ok(None);
            }
        };
        let appended = st.index_records - records_before;
        let scan = frame::scan(&tail);
        if !matches!(scan.tail, Tail::Clean) || scan.frames.len() as u64 != appended {
            // The appender only leaves whole frames behind; never carry over anything else.
            log::warn!(
                "{}: records appended during compaction are not whole frames; not compacted",
                path.display()
            );
            return Ok(None);
        }
        write_to(&mut out, &tail)?;
        let bytes_after = compacted_len + tail.len() as u64;
        out.rename_into_place()?;
        // index.log is now the new file: the old appender writes to an unlinked one.
        match Appender::open(&self.fs, &path, bytes_after) {
            Ok(app) => st.index_log = Some(app),
            Err(e) => {
                self.poisoned.store(true, Ordering::SeqCst);
                return Err(e);
            }
        }
        st.index_records = records.len() as u64 + appended;
        if let Err(e) = self.fs.sync_dir(&self.dir) {
            // The rename may not be durable: definitions appended from here could be lost.
            self.poisoned.store(true, Ordering::SeqCst);
            return Err(e);
        }
        let c = IndexCompaction {
            bytes_before: end,
            bytes_after,
            records_before: records_before + appended,
            records_after: st.index_records,
            records_carried: appended,
            took_us: 0,
            locked_us: 0,
        };
        drop(st);
        let locked = snapshot + swap.elapsed();
        let c = IndexCompaction {
            took_us: started.elapsed().as_micros() as u64,
            locked_us: locked.as_micros() as u64,
            ..c
        };
        log::info!(
            "{}: compacted from {} to {} bytes ({} to {} records) in {} us, {} us of them under the lock",
            path.display(),
            c.bytes_before,
            c.bytes_after,
            c.records_before,
            c.records_after,
            c.took_us,
            c.locked_us
        );
        Ok(Some(c))
    }

    /// [`Shared::compact_index_if_due`] for a retention pass: a failure is logged and the pass
    /// goes on (the old index is still whole, and the next pass tries again); what the pass
    /// dropped must still be reported.
    pub(crate) fn compact_index_in_pass(&self) -> Option<IndexCompaction> {
        self.compact_index_if_due().unwrap_or_else(|e| {
            log::error!("index compaction failed (will retry): {e}");
            None
        })
    }
}

fn write_to(out: &mut vfs::AtomicFile, bytes: &[u8]) -> Result<()> {
    out.write_all(bytes)
        .map_err(|e| Error::io(out.temp_path(), "write", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_needs_the_floor_and_as_many_dead_records_as_live_series() {
        // Nothing dead.
        assert!(!due(10, 2, 8));
        // Many dead, but under the floor.
        assert!(!due(1000, 1, 10));
        // At the floor, few live series.
        assert!(due(1 + 10 + 1024, 1, 10));
        // Over the floor but fewer dead than live.
        assert!(!due(1 + 5000 + 4999, 1, 5000));
        assert!(due(1 + 5000 + 5000, 1, 5000));
        // Counts that do not add up (damage) never underflow.
        assert!(!due(0, 5, 5));
    }
}
