//! Late samples: writes into windows that are sealed (or being sealed).
//!
//! A sealed window's segment is immutable, so samples for it go to the window's **late log**,
//! `raw/<start>.late` (the window log format, its first record the log's generation), and
//! are held in memory in arrival order beside the segment. Every query folds them into the
//! segment's points: a late sample joins the point of its second exactly as if it had come
//! in time, because segments of version 3 keep the sample count and the exact sum of every
//! point of more than one sample. Until a maintenance pass has merged them, rollup buckets of
//! the window (and of the window after it, whose first counter step may look back into it)
//! are answered from raw points.
//!
//! A merge (maintenance, under the state lock) writes the window's segment again with the
//! late samples folded in and the log's generation in its footer (atomic replacement), then
//! recomputes every materialised rollup bucket of the window and of the next one from the
//! raw points (`rollup::recompute`), then removes the late log. A crash anywhere leaves
//! either the old segment and the log (replayed at open), or the new segment and the log:
//! its generation is no newer than the segment's, so its samples are not replayed again, and
//! the open finishes the merge (recomputes the buckets, removes the log) before handing the
//! store out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Shared, State};
use crate::error::{Corruption, Error, Result};
use crate::format::header::{FileKind, Header};
use crate::head::{RawPoint, second_start};
use crate::logfile::frame::encode_frame_with;
use crate::logfile::{self, Appender, Loaded, Mode, SyncHandle};
use crate::segment::Segment;
use crate::vfs;
use crate::wal::format::{
    LoggedSample, WRITE_KEY_LEN, decode_late_generation, decode_samples, encode_late_generation,
};

/// The late samples of one sealed window.
#[derive(Debug)]
pub(crate) struct LateWindow {
    /// The late log's generation: one more than the segment's it applies to.
    pub(crate) generation: u64,
    /// The log (None in a read-only store).
    pub(crate) log: Option<Appender>,
    pub(crate) sync: Option<Arc<SyncHandle>>,
    pub(crate) path: PathBuf,
    /// Samples by series, in arrival order.
    pub(crate) samples: HashMap<u32, Vec<(i64, f64)>>,
    /// Samples held.
    pub(crate) count: u64,
    /// Keys of the keyed writes logged here (`Store::write_keyed`).
    pub(crate) keys: crate::head::WriteKeys,
    /// The segment already holds these samples (a merge was cut short after its segment was
    /// in place): only the rollup recomputation and the log's removal remain.
    pub(crate) merged: bool,
}

/// Heap bytes charged per late sample and per series holding late samples.
const SAMPLE_BYTES: u64 = 16;
const SERIES_BYTES: u64 = 64;

impl LateWindow {
    pub(crate) fn heap_bytes(&self) -> u64 {
        self.count * SAMPLE_BYTES
            + self.samples.len() as u64 * SERIES_BYTES
            + self.keys.heap_bytes()
    }

    /// Notes that the keyed write `key` logged samples here.
    pub(crate) fn note_key(&mut self, key: [u8; WRITE_KEY_LEN]) {
        self.keys.note(key);
    }

    /// True when a keyed write with `key` logged samples here.
    pub(crate) fn has_key(&self, key: [u8; WRITE_KEY_LEN]) -> bool {
        self.keys.has(key)
    }

    pub(crate) fn add(&mut self, s: &LoggedSample) {
        self.samples
            .entry(s.series)
            .or_default()
            .push((s.ts_ms, s.value));
        self.count += 1;
    }

    /// True when `series` has late samples here.
    pub(crate) fn has(&self, series: u32) -> bool {
        self.samples.contains_key(&series)
    }

    /// `base` (the points of `series` with `from <= ts < to` from the segment or the
    /// sealing head, in time order) with this window's late samples of the series folded in,
    /// in arrival order.
    pub(crate) fn fold(&self, series: u32, base: &[RawPoint], from: i64, to: i64) -> Vec<RawPoint> {
        fold(base, self.samples.get(&series).map_or(&[], |v| v), from, to)
    }
}

/// `base` (in time order) with `late` samples `(ts, value)` folded in, in their order: each
/// joins the point of its second (starting from `base`'s point of that second when there
/// is one). Points outside `[from, to)` are left out.
pub(crate) fn fold(base: &[RawPoint], late: &[(i64, f64)], from: i64, to: i64) -> Vec<RawPoint> {
    // The late samples of the range by second; a stable sort keeps each second's samples in
    // arrival order (late samples mostly arrive in time order: then there is nothing to sort).
    let mut extra: Vec<(i64, f64)> = Vec::with_capacity(late.len());
    extra.extend(
        late.iter()
            .map(|&(ts, v)| (second_start(ts), v))
            .filter(|&(sec, _)| sec >= from && sec < to),
    );
    if extra.is_empty() {
        return base.to_vec();
    }
    if !extra.is_sorted_by_key(|e| e.0) {
        extra.sort_by_key(|e| e.0);
    }
    let mut out = Vec::with_capacity(base.len() + extra.len());
    let (mut i, mut k) = (0, 0);
    while let Some(&(sec, v)) = extra.get(k) {
        while let Some(b) = base.get(i).filter(|b| b.ts < sec) {
            out.push(*b);
            i += 1;
        }
        let mut p = match base.get(i) {
            Some(b) if b.ts == sec => {
                i += 1;
                let mut p = *b;
                p.join(v);
                p
            }
            _ => RawPoint::one(sec, v),
        };
        k += 1;
        while let Some(&(_, v)) = extra.get(k).filter(|e| e.0 == sec) {
            p.join(v);
            k += 1;
        }
        out.push(p);
    }
    out.extend_from_slice(&base[i..]);
    out
}

/// Creates the late log of window `start` at `path` with its generation record (a synced
/// create, then the record appended and synced).
pub(crate) fn create_log(
    fs: &vfs::Fs,
    path: &Path,
    start: i64,
    span: i64,
    generation: u64,
) -> Result<Appender> {
    let header = Header::new(FileKind::WindowLog, 0, start, span);
    let mut log = Appender::create(fs, path, &header)?;
    let mut frame = Vec::new();
    encode_frame_with(&mut frame, |o| encode_late_generation(generation, o));
    match log.append(&frame) {
        Ok(()) => {}
        Err(crate::logfile::AppendError::RolledBack(e))
        | Err(crate::logfile::AppendError::Poisoned(e)) => {
            let _ = fs.remove_synced(path);
            return Err(e);
        }
    }
    log.sync_handle()?.sync()?;
    Ok(log)
}

/// What a late log held at open.
pub(crate) struct LoadedLate {
    pub(crate) generation: u64,
    pub(crate) samples: Vec<LoggedSample>,
    /// Keys of the keyed writes in the log.
    pub(crate) keys: Vec<[u8; WRITE_KEY_LEN]>,
    pub(crate) loaded: Loaded,
}

/// Loads the late log at `path` of window `[start, start + span)`. `None`: a log whose
/// header or generation record never became durable (nothing in it was acknowledged).
/// Samples of series `known` refuses are skipped and counted in `unknown`.
pub(crate) fn load_log(
    fs: &vfs::Fs,
    path: &Path,
    start: i64,
    span: i64,
    mode: Mode,
    known: impl Fn(u32) -> bool,
    unknown: &mut u64,
) -> Result<Option<LoadedLate>> {
    let Some(log) = crate::wal::replay::load(fs, path, start, span, mode)? else {
        return Ok(None);
    };
    let mut payloads = log.payloads();
    let Some((offset, first)) = payloads.next() else {
        return Ok(None);
    };
    let generation = decode_late_generation(first).map_err(|w| Error::corrupt(path, offset, w))?;
    let mut samples = Vec::new();
    let mut keys = Vec::new();
    for (offset, payload) in payloads {
        let mut outside = false;
        let mut res = decode_samples(
            payload,
            |k| keys.push(k),
            |s| {
                if s.ts_ms < start || s.ts_ms >= start.saturating_add(span) {
                    outside = true;
                } else if known(s.series) {
                    samples.push(s);
                } else {
                    *unknown += 1;
                }
            },
        );
        if outside && res.is_ok() {
            res = Err(Corruption::BadField {
                what: "logged sample outside its window",
            });
        }
        res.map_err(|w| Error::corrupt(path, offset, w))?;
    }
    Ok(Some(LoadedLate {
        generation,
        samples,
        keys,
        loaded: log,
    }))
}

impl LateWindow {
    /// The late window of a log loaded at open; `merged` when the segment already holds its
    /// samples (they are then dropped).
    pub(crate) fn from_loaded(
        fs: &vfs::Fs,
        path: PathBuf,
        l: LoadedLate,
        segment_generation: u64,
        writer: bool,
    ) -> Result<LateWindow> {
        let (log, sync) = if writer {
            let app = Appender::open(fs, &path, l.loaded.end)?;
            let sync = Arc::new(app.sync_handle()?);
            (Some(app), Some(sync))
        } else {
            (None, None)
        };
        let merged = l.generation <= segment_generation;
        let mut w = LateWindow {
            generation: l.generation,
            log,
            sync,
            path,
            samples: HashMap::new(),
            count: 0,
            keys: Default::default(),
            merged,
        };
        if !merged {
            for s in &l.samples {
                w.add(s);
            }
            for &k in &l.keys {
                w.note_key(k);
            }
        }
        Ok(w)
    }
}

/// What merging late windows did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct LateReport {
    /// Windows whose late samples were merged into their segment.
    pub windows: u64,
    /// Late samples merged.
    pub samples: u64,
    /// Rollup buckets recomputed (written again from raw points).
    pub buckets_recomputed: u64,
}

impl Shared {
    /// The late window of `start`, creating its log if needed.
    pub(crate) fn late_window<'a>(
        &self,
        st: &'a mut State,
        start: i64,
    ) -> Result<&'a mut LateWindow> {
        if !st.late.contains_key(&start) {
            let generation = st
                .sealed
                .get(&start)
                .map_or(0, |s| s.generation())
                .saturating_add(1);
            let path = self
                .raw_dir()
                .join(super::window_file_name(start, crate::layout::LATE_LOG_EXT));
            let log = create_log(&self.fs, &path, start, self.config.span_ms(), generation)?;
            let sync = Arc::new(log.sync_handle()?);
            st.late.insert(
                start,
                LateWindow {
                    generation,
                    log: Some(log),
                    sync: Some(sync),
                    path,
                    samples: HashMap::new(),
                    count: 0,
                    keys: Default::default(),
                    merged: false,
                },
            );
        }
        Ok(st.late.get_mut(&start).expect("inserted above"))
    }

    /// Finishes the merges a crash cut short (their segments are in place; the rollups and
    /// the logs' removal remain). Run by a writer's open, before the store is handed out.
    pub(crate) fn finish_merges(&self) -> Result<LateReport> {
        let _one_at_a_time = self.maintain.lock();
        let stale: Vec<i64> = {
            let st = self.state.read();
            st.late
                .iter()
                .filter(|(_, l)| l.merged)
                .map(|(w, _)| *w)
                .collect()
        };
        let mut report = LateReport::default();
        for w in stale {
            self.merge_one_or_skip_damage(w, &mut report)?;
        }
        Ok(report)
    }

    /// Merges late windows into their segments: those due by the clock (end plus grace
    /// passed), or all with `all`. The caller holds the maintenance mutex.
    pub(crate) fn merge_late(&self, all: bool) -> Result<LateReport> {
        let mut report = LateReport::default();
        let (span, grace) = (self.config.span_ms(), self.config.grace_ms());
        let now = self.config.clock.now_ms();
        let due: Vec<i64> = {
            let st = self.state.read();
            st.late
                .iter()
                .filter(|(w, l)| {
                    !st.sealing.contains_key(w)
                        && !st.open.contains_key(w)
                        && (all || l.merged || w.saturating_add(span).saturating_add(grace) <= now)
                })
                .map(|(w, _)| *w)
                .collect()
        };
        for w in due {
            self.merge_one_or_skip_damage(w, &mut report)?;
        }
        Ok(report)
    }

    /// [`Shared::merge_one`], except that damage found on the way (a segment of the window or
    /// a tier file that does not read) leaves that window's late log as it is, with a
    /// warning, instead of failing the pass or the open: `repair` decides what the damaged
    /// file holds first, and the other windows still merge.
    fn merge_one_or_skip_damage(&self, w: i64, report: &mut LateReport) -> Result<()> {
        match self.merge_one(w, report) {
            Err(e @ Error::Corrupt { .. }) => {
                log::error!("late samples of window {w} not merged: {e}");
                Ok(())
            }
            other => other,
        }
    }

    /// Merges the late window `w`: segment, rollups, log removal (see the module docs).
    fn merge_one(&self, w: i64, report: &mut LateReport) -> Result<()> {
        let span = self.config.span_ms();
        let mut st = self.state.write();
        let Some(late) = st.late.get(&w) else {
            return Ok(());
        };
        if st.bad.contains_key(&w) {
            // Never write a damaged segment over: `repair` decides what it holds first.
            log::warn!(
                "raw window {w}: its segment is damaged; late samples stay in {}",
                late.path.display()
            );
            return Ok(());
        }
        if !late.merged {
            let seg = st.sealed.get(&w).cloned();
            let mut ids: Vec<u32> = late.samples.keys().copied().collect();
            if let Some(seg) = &seg {
                ids.extend(seg.footer().entries.iter().map(|e| e.series));
            }
            ids.sort_unstable();
            ids.dedup();
            let mut series = Vec::with_capacity(ids.len());
            let mut base = Vec::new();
            for id in ids {
                base.clear();
                if let Some(seg) = &seg
                    && let Err((offset, what)) =
                        seg.read_raw_points(id, i64::MIN, i64::MAX, &mut base)
                {
                    // Damage found now: leave the segment and the log as they are.
                    return Err(Error::corrupt(seg.path(), offset, what));
                }
                series.push((id, late.fold(id, &base, w, w.saturating_add(span))));
            }
            let path = self
                .raw_dir()
                .join(super::window_file_name(w, crate::layout::SEGMENT_EXT));
            let bytes = crate::segment::build_points(w, span, late.generation, &series);
            self.fs.write_atomic(&path, &bytes)?;
            let seg = Arc::new(Segment::open_in(&self.fs, &path)?);
            report.samples += late.count;
            report.windows += 1;
            st.sealed.insert(w, seg);
            st.sealed_through = st.sealed_through.max(w.saturating_add(span));
        }
        // The buckets of the series with late samples: the window's, and the next window's
        // (a counter's first step there may look back into this one), from the raw points as
        // they are now. A merge cut short by a crash (`merged`) no longer knows its series:
        // it recomputes every series of the window.
        let series: std::collections::BTreeSet<u32> = {
            let late = &st.late[&w];
            if late.merged {
                st.sealed.get(&w).map_or_else(Default::default, |s| {
                    s.footer().entries.iter().map(|e| e.series).collect()
                })
            } else {
                late.samples.keys().copied().collect()
            }
        };
        report.buckets_recomputed += self.recompute_rollups(&mut st, w, &series)?;
        let late = st.late.remove(&w).expect("checked above");
        drop(late.log);
        self.fs.remove_synced(&late.path)?;
        Ok(())
    }
}

/// Loads the late logs listed at open into `st.late` (see `store::open`): a window whose
/// log is still open is moved to `sealing` first (it was being sealed when the late samples
/// came), so that samples keep their arrival order.
#[allow(clippy::too_many_arguments)] // the open's context, passed as it is for the window logs
pub(crate) fn replay_late_logs(
    fs: &vfs::Fs,
    st: &mut State,
    logs: Vec<(i64, PathBuf)>,
    span: i64,
    mode: Mode,
    writer: bool,
    known: impl Fn(u32) -> bool,
    findings: &mut Vec<logfile::Finding>,
    unknown: &mut u64,
) -> Result<()> {
    for (start, path) in logs {
        let loaded = match load_log(fs, &path, start, span, mode, &known, unknown) {
            Ok(Some(l)) => l,
            Ok(None) => {
                if writer {
                    fs.remove_synced(&path)?;
                    findings.push(logfile::Finding::EmptyRemoved { file: path });
                }
                continue;
            }
            Err(Error::Io { source, .. })
                if !writer && source.kind() == std::io::ErrorKind::NotFound =>
            {
                // Merged between listing and opening: its segment holds the samples.
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Some(f) = &loaded.loaded.finding {
            findings.push(f.clone());
        }
        if let Some(w) = st.open.remove(&start) {
            st.sealing.insert(start, Arc::new(w));
        }
        let generation = st.sealed.get(&start).map_or(0, |s| s.generation());
        let late = LateWindow::from_loaded(fs, path, loaded, generation, writer)?;
        st.late.insert(start, late);
    }
    Ok(())
}

impl State {
    /// The series among `series` whose points the raw segment of window `w` holds (none
    /// without a segment).
    pub(crate) fn held_in(
        &self,
        w: i64,
        series: &std::collections::BTreeSet<u32>,
    ) -> std::collections::BTreeSet<u32> {
        match self.sealed.get(&w) {
            Some(seg) => series
                .iter()
                .copied()
                .filter(|&s| !seg.footer().entries_of(s).is_empty())
                .collect(),
            None => Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// The fold as first written (a map by second, filled in arrival order): the model.
    fn model(base: &[RawPoint], late: &[(i64, f64)], from: i64, to: i64) -> Vec<RawPoint> {
        let mut extra: std::collections::BTreeMap<i64, RawPoint> = Default::default();
        for &(ts, v) in late {
            let sec = second_start(ts);
            if sec < from || sec >= to {
                continue;
            }
            extra
                .entry(sec)
                .and_modify(|p| p.join(v))
                .or_insert_with(|| match base.iter().find(|p| p.ts == sec) {
                    Some(b) => {
                        let mut p = *b;
                        p.join(v);
                        p
                    }
                    None => RawPoint::one(sec, v),
                });
        }
        let mut all: std::collections::BTreeMap<i64, RawPoint> =
            base.iter().map(|p| (p.ts, *p)).collect();
        all.extend(extra);
        all.into_values().collect()
    }

    fn bits(v: &[RawPoint]) -> Vec<(i64, u32, u64)> {
        v.iter().map(|p| (p.ts, p.count, p.sum.to_bits())).collect()
    }

    /// Late samples in and out of order, repeated seconds, seconds the base holds and not,
    /// samples outside the range: the same points, bit for bit, as the model.
    #[test]
    fn fold_joins_late_samples_as_the_model_does() {
        let mut rng = SplitMix64::new(0x1a7e);
        for case in 0..2000 {
            let (from, to) = (10_000, 10_000 + 1000 * (1 + rng.next_u64() % 40) as i64);
            let mut base = Vec::new();
            for ts in (from..to).step_by(1000) {
                if rng.next_u64().is_multiple_of(3) {
                    continue;
                }
                let mut p = RawPoint::one(ts, (rng.next_u64() % 100) as f64 / 7.0);
                if rng.next_u64().is_multiple_of(4) {
                    p.join(1.5);
                }
                base.push(p);
            }
            if case % 10 == 0 {
                base.clear();
            }
            let n = rng.next_u64() % 30;
            let mut t = from - 2000;
            let late: Vec<(i64, f64)> = (0..n)
                .map(|_| {
                    t = if case % 2 == 0 {
                        t + (rng.next_u64() % 1500) as i64
                    } else {
                        from - 2000 + (rng.next_u64() % (to - from + 4000) as u64) as i64
                    };
                    (t, (rng.next_u64() % 1000) as f64 / 3.0)
                })
                .collect();
            assert_eq!(
                bits(&fold(&base, &late, from, to)),
                bits(&model(&base, &late, from, to)),
                "case {case}: base {base:?}, late {late:?}"
            );
        }
    }
}
