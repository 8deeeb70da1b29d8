//! The executor: builds the plan's view of the store under the lock, asks the plan
//! (`plan.rs`), then drops or archives what it says, and removes the series left without data.

use std::collections::BTreeSet;

use super::plan;
use super::{DropReason, DroppedSegment, RetentionReport};
use crate::error::{Error, Result};
use crate::store::Shared;
use crate::vfs;

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

    /// Asks the plan what to drop by age and drops it, then, over the byte budget, measures
    /// the store, asks the plan what to drop by budget and drops it.
    fn retain_segments(
        &self,
        report: &mut RetentionReport,
        touched: &mut BTreeSet<u32>,
    ) -> Result<()> {
        let view = self.retention_view();
        let forwarded = view.forwarded;
        let by_age = plan::by_age(&view);
        if let Some(lead) = by_age.age_held_back {
            log::warn!(
                "the clock is {lead} ms ahead of the newest data; deletions by age are held back until data at this time arrives or the clock is accepted (`tierlog maintain --accept-clock`)"
            );
            report.age_held_back = Some(lead);
        }
        report.held_for_rollups += by_age.held_for_rollups;
        report.held_for_forward += by_age.held_for_forward;
        for d in &by_age.drops {
            self.drop_segment(d, report, touched, forwarded)?;
        }
        let budget = view.limits.max_bytes;
        if budget == 0 {
            return Ok(());
        }
        let mut total = self.store_bytes()?;
        if total > budget {
            for d in &by_age.by_budget(total) {
                self.drop_segment(d, report, touched, forwarded)?;
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

    /// What the plan needs: every sealed segment (raw and rollup, readable or damaged), the
    /// tiers' marks and the newest data, taken under one read lock; the forwarders' watermark
    /// (read from their checkpoints) before it; the settings.
    fn retention_view(&self) -> plan::StoreView {
        let ms = |d: std::time::Duration| d.as_millis().min(i64::MAX as u128) as i64;
        let limits = plan::Limits {
            raw_keep: ms(self.config.raw_keep()),
            max_age: self.config.max_age_ms(),
            max_bytes: self.config.max_bytes(),
            max_clock_lead: ms(self.config.max_clock_lead()),
            accept_clock: self.config.accept_clock,
            forward_backlog: ms(self.config.forward_backlog),
        };
        // Raw data a forwarder has not sent (its checkpoint's watermark) waits, up to the
        // backlog limit.
        let forwarded = self.forward_watermark();
        let st = self.state.read();
        let span = self.config.span_ms();
        let segment = |start: i64, end: i64, bytes: u64, path: &std::path::Path| plan::Segment {
            start,
            end,
            bytes,
            path: path.to_owned(),
        };
        let sealed = st.sealed.iter().map(|(&s, seg)| plan::RawSegment {
            segment: segment(s, s.saturating_add(span), seg.len(), seg.path()),
            // The second of its newest sample.
            newest: seg.footer().entries.iter().map(|e| e.max_ts).max(),
        });
        let bad = st.bad.iter().map(|(&s, b)| plan::RawSegment {
            segment: segment(s, s.saturating_add(span), b.bytes, &b.path),
            newest: None,
        });
        let raw = sealed.chain(bad).collect();
        let tiers = st
            .tiers
            .iter()
            .map(|t| {
                let segs = t.segments.iter().map(|(&s, seg)| {
                    segment(
                        s,
                        s.saturating_add(seg.header().window_span),
                        seg.len(),
                        seg.path(),
                    )
                });
                let bad = t
                    .bad
                    .iter()
                    .map(|(&s, b)| segment(s, s.saturating_add(t.piece), b.bytes, &b.path));
                plan::TierView {
                    keep: t.keep,
                    done_through: t.done_through,
                    segments: segs.chain(bad).collect(),
                }
            })
            .collect();
        let open_newest = st
            .open
            .values()
            .filter_map(|w| w.data.time_range())
            .chain(st.sealing.values().filter_map(|w| w.data.time_range()))
            .map(|(_, hi)| hi)
            .max();
        plan::StoreView {
            // The clock as it is: after a jump back, data written while it was ahead is not
            // old before its time, and what was written since is not expired early.
            now: self.config.clock.now_ms(),
            raw,
            open_newest,
            tiers,
            forwarded,
            limits,
        }
    }

    /// Takes the segment out of the store, then renames and unlinks its file — or, for the
    /// last tier when archiving, moves it to the archive (whose index is made ready first:
    /// when that fails, nothing changes).
    fn drop_segment(
        &self,
        d: &plan::PlannedDrop,
        report: &mut RetentionReport,
        touched: &mut BTreeSet<u32>,
        forwarded: Option<i64>,
    ) -> Result<()> {
        let (c, reason) = (&d.segment, d.reason);
        let archive = match self.archive_dir() {
            Some(root) => {
                let st = self.state.read();
                let last = st.tiers.len().checked_sub(1);
                if d.tier == last {
                    let (name, seg) = match d.tier {
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
            match d.tier {
                None => {
                    st.bad.remove(&c.start);
                    // Late samples of the window go with it (the byte budget dropped it
                    // before they were merged: they could not be merged exactly any more).
                    if let Some(late) = st.late.remove(&c.start) {
                        log::warn!(
                            "{}: {} late samples dropped with their window",
                            late.path.display(),
                            late.count
                        );
                        drop(late.log);
                        self.fs.remove_synced(&late.path)?;
                    }
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
            if let Some(w) = forwarded.filter(|&w| d.tier.is_none() && c.end > w) {
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
    /// Removes from the index the series among `candidates` that no segment, no open window
    /// and no late log holds any more: a removal record is appended (and fsynced) to the index, then
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
            st.keep_unheld_by_segments(&mut candidates);
            if candidates.is_empty() {
                return Ok(true);
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
        st.keep_unheld_in_memory(&mut candidates);
        report.series_removed += self.remove_series_records(&mut st, candidates)?;
        if report.series_removed > 0 {
            log::info!(
                "removed {} series with no samples left",
                report.series_removed
            );
        }
        Ok(true)
    }

    /// Removes from the index the series among `candidates` that no segment (raw or rollup)
    /// and no open window holds, with the write lock (`st`) held throughout: a delete's
    /// clean-up. `None`, deciding nothing, while a damaged segment (whose series are unknown)
    /// is present, as for retention's.
    pub(crate) fn remove_series_without_data(
        &self,
        st: &mut crate::store::State,
        mut candidates: BTreeSet<u32>,
    ) -> Result<Option<u64>> {
        if !st.bad.is_empty() || st.tiers.iter().any(|t| !t.bad.is_empty()) {
            return Ok(None);
        }
        st.keep_unheld_by_segments(&mut candidates);
        st.keep_unheld_in_memory(&mut candidates);
        self.remove_series_records(st, candidates).map(Some)
    }

    /// Appends a removal record for each of `ids` the registry has (fsynced), then makes the
    /// registry forget them; returns how many.
    fn remove_series_records(
        &self,
        st: &mut crate::store::State,
        ids: BTreeSet<u32>,
    ) -> Result<u64> {
        let records: Vec<crate::index::format::IndexRecord> = ids
            .into_iter()
            .filter(|&id| st.registry.has_series(id))
            .map(|id| crate::index::format::IndexRecord::SeriesRemoved { id })
            .collect();
        if records.is_empty() {
            return Ok(0);
        }
        self.append_index(st, &records)?;
        Ok(st
            .registry
            .remove_series_many(records.iter().filter_map(|r| match r {
                crate::index::format::IndexRecord::SeriesRemoved { id } => Some(*id),
                _ => None,
            })))
    }
}

impl crate::store::State {
    /// Keeps in `candidates` the series no segment (raw or rollup) holds.
    fn keep_unheld_by_segments(&self, candidates: &mut BTreeSet<u32>) {
        let segs = self
            .sealed
            .values()
            .chain(self.tiers.iter().flat_map(|t| t.segments.values()));
        for seg in segs {
            for e in &seg.footer().entries {
                candidates.remove(&e.series);
            }
            if candidates.is_empty() {
                return;
            }
        }
    }

    /// Keeps in `candidates` the series no open or sealing window, and no late sample not
    /// merged yet, holds.
    fn keep_unheld_in_memory(&self, candidates: &mut BTreeSet<u32>) {
        for w in self.open.values().chain(self.sealing.values().map(|w| &**w)) {
            for id in w.data.series_ids() {
                candidates.remove(&id);
            }
        }
        for l in self.late.values() {
            candidates.retain(|id| !l.has(*id));
        }
    }
}
