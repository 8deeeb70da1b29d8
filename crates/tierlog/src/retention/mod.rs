//! Retention: dropping whole segments by age (each tier's keep and `max_age_days`) and by the
//! store's byte budget (`max_bytes`), oldest data first.
//!
//! A raw segment is never dropped before every tier has materialised its window (its buckets
//! exist) and the piece after it (which reads its last points for a counter's first step), and
//! open windows, the index and the state file are never dropped. A segment is
//! taken out of the store's maps under the lock (queries that already hold it keep reading
//! their mapping), then renamed to a `.tmp` name — from here a crash leaves a temporary file
//! that the next writer open removes — and unlinked, with the directory fsynced. No lock is
//! held across that I/O. With `on_expiry` set to archive, the last tier's segments are moved
//! to the archive instead (see `archive.rs`).

pub mod archive;

use std::collections::BTreeSet;
use std::path::PathBuf;


use crate::store::Shared;
use crate::error::{Error, Result};
use crate::vfs;

/// Why a segment was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum DropReason {
    /// Older than its tier's keep time (the shorter limit).
    TierKeep,
    /// Older than `max_age_days` (the shorter limit).
    MaxAge,
    /// Dropped, oldest first, to bring the store within `max_bytes`.
    Budget,
}

impl DropReason {
    /// The reason as it prints everywhere (tables, CSV, JSON): `tier_keep`, `max_age`,
    /// `budget`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::TierKeep => "tier_keep",
            DropReason::MaxAge => "max_age",
            DropReason::Budget => "budget",
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One dropped segment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DroppedSegment {
    /// `raw` or a tier's name.
    pub tier: String,
    /// Start of the time it covered, ms.
    pub start_ms: i64,
    /// End (exclusive) of the time it covered, ms.
    pub end_ms: i64,
    /// Bytes freed.
    pub bytes: u64,
    /// Which limit dropped it.
    pub reason: DropReason,
    /// Where the segment was archived, when it was moved to the archive instead of deleted.
    pub archived_to: Option<PathBuf>,
}

/// What retention did in one maintenance pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RetentionReport {
    /// Segments dropped, in the order they were.
    pub dropped: Vec<DroppedSegment>,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// Raw segments past their keep time kept because a tier has not materialised them yet.
    pub held_for_rollups: u64,
    /// Raw segments past their keep time kept because a forwarder has not sent all of their
    /// points yet (within [`crate::Config::forward_backlog`]).
    pub held_for_forward: u64,
    /// Raw points dropped before a forwarder sent them (the backlog limit or the byte budget
    /// was reached); also logged as a warning.
    pub never_forwarded: u64,
    /// The store's bytes on disk after the pass (counted only when there is a budget; 0
    /// otherwise).
    pub total_bytes: u64,
    /// By how much the store is still over `max_bytes` (0 when within it or no budget): what
    /// remains cannot be dropped (open windows, the index, raw data not rolled up yet).
    pub over_budget_bytes: u64,
    /// Deletions by age were held back: the clock is more than `max_clock_lead` ahead of the
    /// newest data (`Some(lead in ms)`), and `accept_clock` is not set.
    pub age_held_back: Option<i64>,
    /// Series removed from the index: their samples were all in dropped segments.
    pub series_removed: u64,
    /// The index was rewritten without removed series (`store::compact_index`).
    pub index_compacted: Option<crate::store::IndexCompaction>,
}

/// Retention's counters since the store was opened (in [`crate::StoreStats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RetentionTotals {
    /// Segments dropped for their tier's keep.
    pub dropped_tier_keep: u64,
    /// Segments dropped for `max_age_days`.
    pub dropped_max_age: u64,
    /// Segments dropped for the byte budget.
    pub dropped_budget: u64,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// Passes whose deletions by age were held back by clock sanity.
    pub passes_held_back: u64,
    /// Passes that ended over the byte budget.
    pub passes_over_budget: u64,
    /// Series removed from the index once none of their samples was left.
    pub series_removed: u64,
    /// Index compactions (`index.log` rewritten without removed series).
    pub index_compactions: u64,
}

/// A segment retention may drop.
#[derive(Debug, Clone)]
struct Candidate {
    /// `None` = raw, else the tier's index.
    tier: Option<usize>,
    start: i64,
    end: i64,
    bytes: u64,
    path: PathBuf,
    /// Raw data not yet materialised by every tier.
    protected: bool,
    /// The age limit of its tier, ms, and the reason that limit stands for.
    limit: i64,
    reason: DropReason,
}

impl Shared {
    /// One retention pass: by age, then by budget. The caller holds the maintenance mutex.
    pub(crate) fn retain(&self) -> Result<RetentionReport> {
        let mut report = RetentionReport::default();
        let mut touched = BTreeSet::new();
        let r = self.retain_segments(&mut report, &mut touched);
        // Series whose samples were in the dropped segments may have none left; so may
        // series of earlier sessions (see `sweep_below`).
        let sweep = *self.sweep_below.lock();
        if let Some(below) = sweep {
            let st = self.state.read();
            touched.extend(st.registry.live_series_ids().take_while(|&id| id < below));
        }
        let decided = touched.is_empty() || self.remove_expired_series(touched, &mut report)?;
        if decided && sweep.is_some() {
            *self.sweep_below.lock() = None;
        }
        report.index_compacted = self.compact_index_in_pass();
        r?;
        self.count(&report);
        Ok(report)
    }

    fn retain_segments(
        &self,
        report: &mut RetentionReport,
        touched: &mut BTreeSet<u32>,
    ) -> Result<()> {
        let mut cands = self.candidates();
        // Raw data a forwarder has not sent (its checkpoint's watermark) waits, up to the
        // backlog limit.
        let forwarded = self.forward_watermark();
        let (now, newest) = {
            let st = self.state.read();
            // The newest data: the newest raw point (the second of the newest sample), not
            // the end of its window, which can be most of a window later.
            let newest = st
                .open
                .values()
                .filter_map(|w| w.data.time_range())
                .chain(st.sealing.values().filter_map(|w| w.data.time_range()))
                .map(|(_, hi)| hi)
                .chain(
                    st.sealed
                        .values()
                        .filter_map(|s| s.footer().entries.iter().map(|e| e.max_ts).max()),
                )
                .max();
            (self.config.clock.now_ms().max(st.clock_high_water), newest)
        };
        // Clock sanity: a clock far ahead of every datum may be wrong; do not let it expire
        // everything.
        let lead = newest.map_or(0, |n| now.saturating_sub(n));
        let max_lead = self
            .config
            .max_clock_lead()
            .as_millis()
            .min(i64::MAX as u128) as i64;
        let by_age = lead <= max_lead || self.config.accept_clock;
        if !by_age {
            log::warn!(
                "the clock is {lead} ms ahead of the newest data; deletions by age are held back until data at this time arrives or the clock is accepted (`tierlog maintain --accept-clock`)"
            );
            report.age_held_back = Some(lead);
        }
        // By age.
        let backlog = self
            .config
            .forward_backlog
            .as_millis()
            .min(i64::MAX as u128) as i64;
        let mut kept = Vec::with_capacity(cands.len());
        for c in cands.drain(..) {
            if by_age && c.end <= now.saturating_sub(c.limit) {
                if c.protected {
                    report.held_for_rollups += 1;
                    kept.push(c);
                } else if c.tier.is_none()
                    && forwarded.is_some_and(|w| c.end > w)
                    && c.end > now.saturating_sub(backlog)
                {
                    report.held_for_forward += 1;
                    kept.push(c);
                } else {
                    self.drop_segment(&c, c.reason, report, touched, forwarded)?;
                }
            } else {
                kept.push(c);
            }
        }
        // By budget: oldest data first (by window end, raw before its rollups on ties).
        let budget = self.config.max_bytes();
        if budget == 0 {
            return Ok(());
        }
        let mut total = self.store_bytes()?;
        if total > budget {
            kept.sort_by_key(|c| (c.end, c.tier.map_or(0, |t| t + 1), c.start));
            for c in kept.iter().filter(|c| !c.protected) {
                if total <= budget {
                    break;
                }
                self.drop_segment(c, DropReason::Budget, report, touched, forwarded)?;
                total = total.saturating_sub(c.bytes);
            }
            total = self.store_bytes()?;
            if total > budget {
                report.over_budget_bytes = total - budget;
                log::warn!(
                    "the store takes {total} bytes, over its budget of {budget}: what remains cannot be dropped (open windows, the index, raw data not rolled up yet)"
                );
            }
        }
        report.total_bytes = total;
        Ok(())
    }

    fn count(&self, report: &RetentionReport) {
        let mut t = self.retention_totals.lock();
        for d in &report.dropped {
            match d.reason {
                DropReason::TierKeep => t.dropped_tier_keep += 1,
                DropReason::MaxAge => t.dropped_max_age += 1,
                DropReason::Budget => t.dropped_budget += 1,
            }
        }
        t.bytes_freed += report.bytes_freed;
        t.passes_held_back += u64::from(report.age_held_back.is_some());
        t.passes_over_budget += u64::from(report.over_budget_bytes > 0);
        t.series_removed += report.series_removed;
        t.index_compactions += u64::from(report.index_compacted.is_some());
    }

    /// Every sealed segment (raw and rollup, readable or damaged) with what retention needs.
    fn candidates(&self) -> Vec<Candidate> {
        let st = self.state.read();
        let span = self.config.span_ms();
        let max_age = self.config.max_age_ms();
        let limit_of = |keep: i64| {
            if keep < max_age {
                (keep, DropReason::TierKeep)
            } else {
                (max_age, DropReason::MaxAge)
            }
        };
        // Raw windows ending after the least materialised tier's mark are not rolled up yet,
        // and the window ending exactly there is the look-back of the next piece (a
        // counter's first step): both stay.
        let rolled_up_through = st.tiers.iter().map(|t| t.done_through).min();
        let (raw_limit, raw_reason) =
            limit_of(self.config.raw_keep().as_millis().min(i64::MAX as u128) as i64);
        let mut out = Vec::new();
        let raw = st
            .sealed
            .iter()
            .map(|(&s, seg)| (s, seg.len(), seg.path().to_owned()))
            .chain(st.bad.iter().map(|(&s, b)| (s, b.bytes, b.path.clone())));
        for (start, bytes, path) in raw {
            let end = start.saturating_add(span);
            out.push(Candidate {
                tier: None,
                start,
                end,
                bytes,
                path,
                protected: rolled_up_through.is_some_and(|d| d <= end),
                limit: raw_limit,
                reason: raw_reason,
            });
        }
        for (i, t) in st.tiers.iter().enumerate() {
            let (limit, reason) = limit_of(t.keep);
            let segs = t.segments.iter().map(|(&s, seg)| {
                (
                    s,
                    s.saturating_add(seg.header().window_span),
                    seg.len(),
                    seg.path().to_owned(),
                )
            });
            let bad = t
                .bad
                .iter()
                .map(|(&s, b)| (s, s.saturating_add(t.piece), b.bytes, b.path.clone()));
            for (start, end, bytes, path) in segs.chain(bad) {
                out.push(Candidate {
                    tier: Some(i),
                    start,
                    end,
                    bytes,
                    path,
                    protected: false,
                    limit,
                    reason,
                });
            }
        }
        out
    }

    /// Takes the segment out of the store, then renames and unlinks its file — or, for the
    /// last tier when archiving, moves it to the archive (whose index is made ready first:
    /// when that fails, nothing changes).
    fn drop_segment(
        &self,
        c: &Candidate,
        reason: DropReason,
        report: &mut RetentionReport,
        touched: &mut BTreeSet<u32>,
        forwarded: Option<i64>,
    ) -> Result<()> {
        let archive = match self.archive_dir() {
            Some(root) => {
                let st = self.state.read();
                let last = st.tiers.len().checked_sub(1);
                if c.tier == last {
                    let (name, seg) = match c.tier {
                        None => ("raw".to_string(), st.sealed.get(&c.start).cloned()),
                        Some(i) => (
                            st.tiers[i].name.clone(),
                            st.tiers[i].segments.get(&c.start).cloned(),
                        ),
                    };
                    drop(st);
                    // The directory may have changed since the open (a store created there,
                    // a symbolic link moved): checked again before anything is written.
                    if let Some(own) = &self.identity {
                        crate::retention::archive::check_archive(
                            &self.fs,
                            &self.dir,
                            &self.config,
                            own,
                            None,
                        )?;
                    }
                    self.prepare_archive(&root, &name, seg.as_deref())?;
                    Some((root, name))
                } else {
                    None
                }
            }
            None => None,
        };
        let (name, seg) = {
            let mut st = self.state.write();
            match c.tier {
                None => {
                    st.bad.remove(&c.start);
                    ("raw".to_string(), st.sealed.remove(&c.start))
                }
                Some(i) => {
                    let t = &mut st.tiers[i];
                    t.bad.remove(&c.start);
                    (t.name.clone(), t.segments.remove(&c.start))
                }
            }
        };
        if let Some(seg) = seg {
            touched.extend(seg.footer().entries.iter().map(|e| e.series));
            if let Some(w) = forwarded.filter(|&w| c.tier.is_none() && c.end > w) {
                let unsent = crate::forward::hold::unsent_points(&seg, w);
                if unsent > 0 {
                    log::warn!(
                        "{}: {unsent} raw points never forwarded are dropped ({reason:?}; the forwarders' checkpoints reach {w})",
                        c.path.display()
                    );
                    report.never_forwarded += unsent;
                    self.forward
                        .never_forwarded
                        .fetch_add(unsent, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        let mut archived_to = None;
        if let Some((root, tier)) = archive {
            let to = self.move_to_archive(&root, &tier, &c.path)?;
            log::info!(
                "archived {} to {} ({name} {}..{}, {} bytes): {reason:?}",
                c.path.display(),
                to.display(),
                c.start,
                c.end,
                c.bytes
            );
            archived_to = Some(to);
        } else {
            let doomed = vfs::temp_path(&c.path);
            match self.fs.try_rename(&c.path, &doomed) {
                Ok(()) => self.fs.remove_synced(&doomed)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&c.path, "rename", e)),
            }
            log::info!(
                "dropped {} ({name} {}..{}, {} bytes): {reason:?}",
                c.path.display(),
                c.start,
                c.end,
                c.bytes
            );
        }
        report.bytes_freed += c.bytes;
        report.dropped.push(DroppedSegment {
            tier: name,
            start_ms: c.start,
            end_ms: c.end,
            bytes: c.bytes,
            reason,
            archived_to,
        });
        Ok(())
    }
}

impl Shared {
    /// Removes from the index the series among `candidates` that no segment and no open
    /// window holds any more: a removal record is appended (and fsynced) to the index, then
    /// the registry forgets them. Their ids are never used again; a handle to one gets
    /// `SampleError::UnknownSeries`. Skipped while a damaged segment (whose series are unknown)
    /// is present: returns whether it decided. The caller holds the maintenance mutex, so
    /// rollup segments do not change here; raw windows may be sealed by writers meanwhile.
    fn remove_expired_series(
        &self,
        mut candidates: BTreeSet<u32>,
        report: &mut RetentionReport,
    ) -> Result<bool> {
        let scanned: BTreeSet<i64> = {
            let st = self.state.read();
            if !st.bad.is_empty() || st.tiers.iter().any(|t| !t.bad.is_empty()) {
                return Ok(false);
            }
            let segs = st
                .sealed
                .values()
                .chain(st.tiers.iter().flat_map(|t| t.segments.values()));
            for seg in segs {
                for e in &seg.footer().entries {
                    candidates.remove(&e.series);
                }
                if candidates.is_empty() {
                    return Ok(true);
                }
            }
            st.sealed.keys().copied().collect()
        };
        // Writers may have added samples to open windows, and sealed windows, meanwhile:
        // decide under the lock that also guards writes.
        let mut st = self.state.write();
        let sealed_since = st
            .sealed
            .iter()
            .filter(|(s, _)| !scanned.contains(s))
            .map(|(_, seg)| seg);
        for seg in sealed_since {
            for e in &seg.footer().entries {
                candidates.remove(&e.series);
            }
        }
        if !st.bad.is_empty() {
            return Ok(false);
        }
        for w in st.open.values().chain(st.sealing.values().map(|w| &**w)) {
            for id in w.data.series_ids() {
                candidates.remove(&id);
            }
        }
        let records: Vec<crate::index::format::IndexRecord> = candidates
            .into_iter()
            .filter(|&id| st.registry.has_series(id))
            .map(|id| crate::index::format::IndexRecord::SeriesRemoved { id })
            .collect();
        if records.is_empty() {
            return Ok(true);
        }
        self.append_index(&mut st, &records)?;
        report.series_removed += st
            .registry
            .remove_series_many(records.iter().filter_map(|r| match r {
                crate::index::format::IndexRecord::SeriesRemoved { id } => Some(*id),
                _ => None,
            }));
        log::info!(
            "removed {} series with no samples left",
            report.series_removed
        );
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::DropReason;

    #[test]
    fn drop_reasons_print_as_they_serialise() {
        for r in [DropReason::TierKeep, DropReason::MaxAge, DropReason::Budget] {
            let json = serde_json::to_value(r).unwrap();
            assert_eq!(json.as_str(), Some(r.as_str()));
            assert_eq!(r.to_string(), r.as_str());
        }
        assert_eq!(DropReason::TierKeep.to_string(), "tier_keep");
    }
}
