//! Backfill: history older than the raw keep, written straight into the rollup tiers.
//!
//! Raw points older than the raw keep are not kept (as for live data), so imported history
//! goes to the tiers only: its samples are turned into raw points by the window log's rules
//! (the samples of one second make one point, their mean, as the head computes it), and
//! the points into buckets by the very functions materialisation uses
//! ([`crate::rollup::aggregate`], [`crate::rollup::counter_increases`]), so a backfilled
//! bucket is bit for bit the bucket materialisation would have made of the same points.
//!
//! The rules (`docs/rollups.md`, "Backfill"):
//!
//! - A sample goes to every tier whose keep (the shorter of the tier's keep and
//!   `max_age_days`) still covers its piece; one that no tier covers is **too old**.
//! - A tier **refuses** it when it cannot take it exactly: the tier already holds a bucket of
//!   its series at its bucket's start (the raw points behind that bucket are gone, and a p95
//!   of two sets cannot be rebuilt from their p95s), the time is damaged in the tier, or the
//!   piece is not *settled*. Each tier decides for itself (the `10s` tier takes a sample
//!   whose `60s` bucket exists already when its own `10s` bucket does not), so running an
//!   interrupted import again completes every tier; a sample some tier refused is counted as
//!   a **conflict**, one every tier keeping it took as accepted.
//! - A piece `[s, e)` is **settled** when no raw sample can still arrive in it
//!   (`e <= clock − raw keep`) and the materialiser will not write it again: the tier has
//!   materialised past it (`e <= done_through`), or no raw data lies before `e` (then the
//!   tier's `done_through` is raised to the end of the file written, as at open; the
//!   materialiser would only ever report that range as lost). So the materialiser never
//!   overwrites nor drops a backfilled file, and a late raw sample (which is never older than
//!   the raw keep) never lands in a backfilled bucket.
//! - The buckets go into the segment file that covers them (a piece, or a compacted span),
//!   rewritten with them merged in, or into a new file: the whole segment span when the tier
//!   has nothing in that span and the span is settled, else the piece. Each file is replaced
//!   atomically (temporary file, fsync, rename, fsync of the directory) under the
//!   maintenance mutex; buckets already in the file are copied unchanged.
//! - A counter's increase follows materialisation: each step from the previous non-NaN
//!   imported point (taken by the tier or not) counts under the window rule ([`crate::rollup::bucket::step_counts`]). The
//!   first imported point of a series has nothing to step from (as raw data whose window
//!   before was never written): its bucket's increase starts at the next point. Buckets the
//!   tiers held before are never changed, so a bucket right after an import keeps its
//!   increase without the step from the last imported point.

pub mod bulk;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub use bulk::BulkImport;

use crate::error::{Error, Result};
use crate::format::header::{FileKind, Header};
use crate::head::series::Acc;
use crate::rollup::materialise::check_piece;
use crate::rollup::{Bucket, aggregate, counter_increases};
use crate::segment::Segment;
use crate::segment::codec::MAX_COLUMN_POINTS;
use crate::segment::format::{ROLLUP_TIER, SegmentBuilder, chunk_bytes};
use crate::store::{Shared, Store, WriteSummary, window_file_name};
use crate::wal::format::LoggedSample;

/// What a backfill did with its samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BackfillCounts {
    /// Samples written into every tier that keeps their time.
    pub(crate) accepted: u64,
    /// Samples older than every tier's keep (or not older than the raw keep: those belong to
    /// the raw path).
    pub(crate) too_old: u64,
    /// Samples some tier keeping their time could not take exactly (the others took them).
    pub(crate) conflict: u64,
    /// Buckets written.
    pub(crate) buckets: u64,
    /// Files written.
    pub(crate) files: u64,
}

impl BackfillCounts {
    fn add(&mut self, o: &BackfillCounts) {
        self.accepted += o.accepted;
        self.too_old += o.too_old;
        self.conflict += o.conflict;
        self.buckets += o.buckets;
        self.files += o.files;
    }

    pub(crate) fn summary(&self) -> WriteSummary {
        WriteSummary {
            accepted: self.accepted,
            rejected_too_old: self.too_old,
            rejected_conflict: self.conflict,
            ..WriteSummary::default()
        }
    }
}

/// One series' imported points.
#[derive(Debug, Clone, Default)]
pub(crate) struct SeriesInput {
    pub(crate) id: u32,
    /// Raw points: `(second start, mean of the second's samples)`, ascending.
    pub(crate) points: Vec<(i64, f64)>,
    /// Samples behind each point.
    pub(crate) samples: Vec<u32>,
    /// The last non-NaN point of this series an earlier part of the same import wrote (a
    /// counter's first step); updated by [`Shared::backfill_series`].
    pub(crate) prev: Option<(i64, f64)>,
    /// Treat the series as a counter whatever its metric's recorded kind (an import that
    /// has read the metric's `TYPE` but records it only at its end).
    pub(crate) counter: bool,
}

/// Appends the raw points of one series' samples `raw` (`(ts ms, value)` in input order) to
/// `out`: the samples of one second make one point at the second's start whose value is
/// their mean in input order, by the window log's rules (`format-spec/window-log.md`,
/// "Meaning"). Sorts `raw` by second (stably: input order within a second stays).
pub(crate) fn second_points(raw: &mut [(i64, f64)], out: &mut SeriesInput) {
    let sec = |t: i64| t.div_euclid(1000);
    if !raw.is_sorted_by_key(|s| sec(s.0)) {
        raw.sort_by_key(|s| sec(s.0));
    }
    let mut i = 0;
    while i < raw.len() {
        let s = sec(raw[i].0);
        let mut j = i + 1;
        if raw.get(j).is_none_or(|r| sec(r.0) != s) {
            // The usual case: one sample, its value bit for bit.
            out.points.push((s * 1000, raw[i].1));
            out.samples.push(1);
            i = j;
            continue;
        }
        let mut acc = Acc::new(0, raw[i].1);
        while j < raw.len() && sec(raw[j].0) == s {
            acc.join(raw[j].1);
            j += 1;
        }
        out.points.push((s * 1000, acc.value()));
        out.samples.push((j - i).min(u32::MAX as usize) as u32);
        i = j;
    }
}

/// A tier as one backfill sees it.
struct TierView {
    idx: usize,
    name: String,
    interval: i64,
    piece: i64,
    span: i64,
    max_span: i64,
    /// A piece ending at or before this is past the tier's keep.
    expired_through: i64,
    done_through: i64,
    segments: BTreeMap<i64, Arc<Segment>>,
    /// Unreadable segments' time.
    bad: Vec<(i64, i64)>,
    /// Whether a segment (by start) has a damaged chunk.
    damaged: HashMap<i64, bool>,
}

/// The clock and the raw data a backfill decides by.
#[derive(Clone, Copy)]
struct Bounds {
    /// `clock − raw keep` (the clock as it is, not the high-water mark): samples from here
    /// on belong to the raw path.
    raw_bound: i64,
    /// Start of the oldest raw window present (open, sealing, sealed or damaged).
    raw_oldest: Option<i64>,
}

/// A tier's verdict on a piece.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Past the tier's keep.
    NotKept,
    /// Kept, but the tier cannot take new buckets there.
    Refused,
    /// Kept and open to new buckets (those the tier does not hold yet).
    Open,
}

impl TierView {
    fn piece_of(&self, ts: i64) -> i64 {
        ts.div_euclid(self.piece).saturating_mul(self.piece)
    }

    /// Whether the materialiser will not write `[.., end)` again and no raw sample can still
    /// arrive there.
    fn settled(&self, end: i64, b: Bounds) -> bool {
        end <= b.raw_bound && (end <= self.done_through || b.raw_oldest.is_none_or(|o| o >= end))
    }

    /// The segment covering `ts`, if any.
    fn segment_at(&self, ts: i64) -> Option<(i64, &Arc<Segment>)> {
        self.segments
            .range(..=ts)
            .next_back()
            .filter(|(s, g)| s.saturating_add(g.header().window_span) > ts)
            .map(|(&s, g)| (s, g))
    }

    fn holds_any(&self, from: i64, to: i64) -> bool {
        let lo = from.saturating_sub(self.max_span).saturating_add(1);
        self.segments
            .range(lo..to)
            .any(|(&s, g)| s < to && s.saturating_add(g.header().window_span) > from)
            || self.bad.iter().any(|&(a, b)| a < to && b > from)
    }

    fn verdict(&mut self, ps: i64, b: Bounds) -> Verdict {
        let pe = ps.saturating_add(self.piece);
        if pe <= self.expired_through {
            return Verdict::NotKept;
        }
        if !self.settled(pe, b) || self.bad.iter().any(|&(a, z)| a < pe && z > ps) {
            return Verdict::Refused;
        }
        if let Some((s, seg)) = self.segment_at(ps) {
            let seg = seg.clone();
            let damaged = *self
                .damaged
                .entry(s)
                .or_insert_with(|| !seg.verify().is_empty());
            if damaged {
                // Rewriting it would have to copy damage (or hide it): leave it alone.
                return Verdict::Refused;
            }
        }
        Verdict::Open
    }

    /// The file new buckets of the piece starting at `ps` go into: `(start, span, existing)`.
    fn target(&self, ps: i64, b: Bounds) -> (i64, i64, Option<Arc<Segment>>) {
        if let Some((s, seg)) = self.segment_at(ps) {
            return (s, seg.header().window_span, Some(seg.clone()));
        }
        let s = ps.div_euclid(self.span).saturating_mul(self.span);
        let e = s.saturating_add(self.span);
        if self.span > self.piece && !self.holds_any(s, e) && self.settled(e, b) {
            (s, self.span, None)
        } else {
            (ps, self.piece, None)
        }
    }
}

/// The points of one input a tier takes: `None` for all it keeps.
type Taken = Option<Vec<(i64, f64)>>;

/// One file to write: its new buckets' points, per series.
struct Target {
    span: i64,
    existing: Option<Arc<Segment>>,
    /// `(index into the inputs, lo, hi)`: the series' accepted points `lo..hi`.
    runs: Vec<(usize, usize, usize)>,
}

impl Shared {
    /// Imports samples older than the raw keep (validated, their series resolved) into the
    /// tiers. Samples not older than `clock − raw keep` are counted as too old: the raw path
    /// takes those.
    pub(crate) fn backfill(&self, samples: &[LoggedSample]) -> Result<BackfillCounts> {
        let mut by_series: BTreeMap<u32, Vec<(i64, f64)>> = BTreeMap::new();
        for s in samples {
            by_series
                .entry(s.series)
                .or_default()
                .push((s.ts_ms, s.value));
        }
        let mut inputs: Vec<SeriesInput> = by_series
            .into_iter()
            .map(|(id, mut raw)| {
                let mut input = SeriesInput {
                    id,
                    ..SeriesInput::default()
                };
                second_points(&mut raw, &mut input);
                input
            })
            .collect();
        self.backfill_series(&mut inputs)
    }

    /// Imports per-series points (`inputs` sorted by id, each id once) into the tiers; see the
    /// module documentation for the rules. Sets each input's `prev` to its last non-NaN point
    /// written.
    pub(crate) fn backfill_series(&self, inputs: &mut [SeriesInput]) -> Result<BackfillCounts> {
        self.check_writable()?;
        debug_assert!(inputs.windows(2).all(|w| w[0].id < w[1].id));
        let _guard = self.maintain.lock();
        let raw_keep = self.config.raw_keep().as_millis().min(i64::MAX as u128) as i64;
        let max_age = self.config.max_age_ms();
        let span_ms = self.config.span_ms();
        let (bounds, mut tiers, counter) = {
            let st = self.state.read();
            // Keeps by the clock retention drops by (a bucket written here is not dropped at
            // once); the raw bound by the clock as it is, which decides what raw data is
            // still accepted when it is behind the high-water mark.
            let clock = self.config.clock.now_ms();
            let now = clock.max(st.clock_high_water);
            let bounds = Bounds {
                raw_bound: clock.saturating_sub(raw_keep),
                raw_oldest: st.oldest_raw_window(),
            };
            let tiers: Vec<TierView> = st
                .tiers
                .iter()
                .enumerate()
                .map(|(idx, t)| TierView {
                    idx,
                    name: t.name.clone(),
                    interval: t.interval,
                    piece: t.piece,
                    span: t.span,
                    max_span: t.max_span,
                    expired_through: now.saturating_sub(t.keep.min(max_age)),
                    done_through: t.done_through,
                    segments: t.segments.clone(),
                    bad: t
                        .bad
                        .keys()
                        .map(|&s| (s, s.saturating_add(t.piece)))
                        .collect(),
                    damaged: HashMap::new(),
                })
                .collect();
            (bounds, tiers, st.registry.counter_flags())
        };
        let mut counts = BackfillCounts::default();

        // Pass 1: which points each tier keeping them can take.
        // Per tier and input: the points it takes, `None` when it takes every point it keeps
        // (no copy then; those it does not keep are a prefix, cut in pass 2).
        let mut accepted: Vec<Vec<Taken>> = vec![Vec::with_capacity(inputs.len()); tiers.len()];
        let mut existing: Vec<i64> = Vec::new();
        let mut scratch: Vec<Bucket> = Vec::new();
        // Per tier: the piece last judged and its verdict.
        let mut last: Vec<(i64, Verdict)> = vec![(i64::MIN, Verdict::NotKept); tiers.len()];
        let mut held: Vec<Vec<i64>> = vec![Vec::new(); tiers.len()];
        for input in inputs.iter() {
            let pts = &input.points;
            let mut ok: Vec<Taken> = vec![None; tiers.len()];
            if let (Some(first), Some(end)) = (pts.first(), pts.last()) {
                // Bucket starts each tier already holds for this series in the imported range.
                for (t, held) in tiers.iter().zip(&mut held) {
                    existing.clear();
                    let from = first.0.div_euclid(t.interval).saturating_mul(t.interval);
                    let lo = from.saturating_sub(t.max_span).saturating_add(1);
                    for (_, seg) in t.segments.range(lo..=end.0) {
                        scratch.clear();
                        let mut cursor = 0;
                        // A damaged chunk: its pieces are refused by the verdict.
                        let _ = seg.read_buckets_from(
                            &mut cursor,
                            input.id,
                            from,
                            end.0.saturating_add(1),
                            &mut scratch,
                        );
                        existing.extend(scratch.iter().map(|b| b.start));
                    }
                    existing.sort_unstable();
                    held.clone_from(&existing);
                }
            }
            for (k, &(ts, v)) in pts.iter().enumerate() {
                let n = u64::from(input.samples[k]);
                let mut kept = false;
                let mut refused = false;
                for (i, t) in tiers.iter_mut().enumerate() {
                    let verdict = if ts >= bounds.raw_bound {
                        // The raw path's.
                        Verdict::NotKept
                    } else {
                        let ps = t.piece_of(ts);
                        if last[i].0 == ps {
                            last[i].1
                        } else {
                            let v = t.verdict(ps, bounds);
                            last[i] = (ps, v);
                            v
                        }
                    };
                    let (keeps, takes) = match verdict {
                        Verdict::NotKept => (false, false),
                        Verdict::Refused => (true, false),
                        Verdict::Open => {
                            let bucket = ts.div_euclid(t.interval).saturating_mul(t.interval);
                            let has = !held[i].is_empty() && held[i].binary_search(&bucket).is_ok();
                            (true, !has)
                        }
                    };
                    kept |= keeps;
                    refused |= keeps && !takes;
                    match &mut ok[i] {
                        Some(list) if takes => list.push((ts, v)),
                        Some(_) => {}
                        // The first point this tier keeps but does not take (or one for the
                        // raw path): the points it takes are copied from here on. Those
                        // before are all taken, or not kept (a prefix pass 2 cuts).
                        None if ts >= bounds.raw_bound || (keeps && !takes) => {
                            ok[i] = Some(pts[..k].to_vec());
                        }
                        None => {}
                    }
                }
                if !kept {
                    counts.too_old += n;
                } else if refused {
                    counts.conflict += n;
                } else {
                    counts.accepted += n;
                }
            }
            for (a, o) in accepted.iter_mut().zip(ok) {
                a.push(o);
            }
        }

        // Pass 2: per tier, the files the accepted points go into.
        let mut raised = false;
        let mut buckets: Vec<Bucket> = Vec::new();
        let mut old: Vec<Bucket> = Vec::new();
        let mut merged: Vec<Bucket> = Vec::new();
        let mut chunk: Vec<u8> = Vec::new();
        for (t, accepted) in tiers.iter().zip(&accepted) {
            let mut targets: BTreeMap<i64, Target> = BTreeMap::new();
            for si in 0..inputs.len() {
                let pts = accepted[si].as_deref().unwrap_or(&inputs[si].points);
                let mut k = pts.partition_point(|p| {
                    t.piece_of(p.0).saturating_add(t.piece) <= t.expired_through
                });
                while k < pts.len() {
                    let (start, span, seg) = t.target(t.piece_of(pts[k].0), bounds);
                    let end = start.saturating_add(span);
                    let hi = k + pts[k..].partition_point(|p| p.0 < end);
                    targets
                        .entry(start)
                        .or_insert_with(|| Target {
                            span,
                            existing: seg,
                            runs: Vec::new(),
                        })
                        .runs
                        .push((si, k, hi));
                    k = hi;
                }
            }
            for (start, target) in targets {
                let dir = self.tier_dir(&t.name);
                let path = dir.join(window_file_name(start, crate::layout::SEGMENT_EXT));
                let write_err = |e: std::io::Error| Error::io(&path, "write", e);
                let f = self.fs.atomic_file(&path)?;
                let mut h = Header::new(FileKind::Segment, ROLLUP_TIER, start, target.span);
                // A file rewritten in part keeps its version: its untouched chunks are
                // copied as they are, so the new ones take their layout.
                if let Some(seg) = &target.existing {
                    h.version = seg.header().version;
                }
                let version = h.version;
                let mut b = SegmentBuilder::to_writer(h, f).map_err(write_err)?;
                let entries: &[crate::segment::format::ChunkEntry] = match &target.existing {
                    Some(seg) => {
                        b.set_partial(seg.partial().iter().copied());
                        &seg.footer().entries
                    }
                    None => &[],
                };
                let mut e = 0;
                let mut r = 0;
                let mut cursor = 0;
                while e < entries.len() || r < target.runs.len() {
                    let next_old = entries.get(e).map(|x| x.series);
                    let next_new = target.runs.get(r).map(|&(si, _, _)| inputs[si].id);
                    let id = match (next_old, next_new) {
                        (Some(a), Some(n)) => a.min(n),
                        (Some(a), None) => a,
                        (None, Some(n)) => n,
                        (None, None) => break,
                    };
                    let n_old = entries[e..].iter().take_while(|x| x.series == id).count();
                    let run = (next_new == Some(id)).then(|| target.runs[r]);
                    let seg = target.existing.as_ref();
                    match (run, seg) {
                        (None, Some(seg)) => {
                            // Untouched: its chunks as they are.
                            for x in &entries[e..e + n_old] {
                                let bytes = chunk_bytes(seg.bytes(), x)
                                    .map_err(|c| Error::corrupt(seg.path(), x.offset, c))?;
                                b.try_add_chunk(id, x.points, x.min_ts, x.max_ts, bytes)
                                    .map_err(write_err)?;
                            }
                        }
                        (Some((si, lo, hi)), seg) => {
                            let pts = accepted[si].as_deref().unwrap_or(&inputs[si].points);
                            buckets.clear();
                            aggregate(&pts[lo..hi], t.interval, false, None, &mut buckets);
                            if inputs[si].counter
                                || counter.get(id as usize).copied().unwrap_or(false)
                            {
                                // The previous imported point, whether this tier took it or
                                // not (it is real data).
                                let all = &inputs[si].points;
                                let before = all.partition_point(|p| p.0 < pts[lo].0);
                                let prev = all[..before]
                                    .iter()
                                    .rev()
                                    .find(|p| !p.1.is_nan())
                                    .copied()
                                    .or(inputs[si].prev);
                                counter_increases(
                                    &pts[lo..hi],
                                    t.interval,
                                    span_ms,
                                    prev,
                                    &mut buckets,
                                );
                            }
                            counts.buckets += buckets.len() as u64;
                            let all: &[Bucket] = match seg.filter(|_| n_old > 0) {
                                Some(seg) => {
                                    old.clear();
                                    seg.read_buckets_from(
                                        &mut cursor,
                                        id,
                                        i64::MIN,
                                        i64::MAX,
                                        &mut old,
                                    )
                                    .map_err(|(o, c)| Error::corrupt(seg.path(), o, c))?;
                                    merged.clear();
                                    merged.extend_from_slice(&old);
                                    merged.extend_from_slice(&buckets);
                                    merged.sort_by_key(|x| x.start);
                                    &merged
                                }
                                None => &buckets,
                            };
                            // A chunk's buckets all have an increase or none has.
                            let runs =
                                all.chunk_by(|a, b| a.increase.is_some() == b.increase.is_some());
                            for part in runs.flat_map(|x| x.chunks(MAX_COLUMN_POINTS)) {
                                chunk.clear();
                                crate::rollup::format::encode_chunk_at(version, part, start, &mut chunk);
                                let (lo, hi) = (part[0].start, part[part.len() - 1].start);
                                b.try_add_chunk(id, part.len() as u32, lo, hi, &chunk)
                                    .map_err(write_err)?;
                            }
                            r += 1;
                        }
                        (None, None) => unreachable!("an id comes from a run or an entry"),
                    }
                    e += n_old;
                }
                b.finish_writer().map_err(write_err)?.commit()?;
                counts.files += 1;
                let seg = Arc::new(check_piece(
                    Segment::open_in(&self.fs, &path)?,
                    start,
                    t.piece,
                )?);
                let end = start.saturating_add(target.span);
                let mut st = self.state.write();
                let td = &mut st.tiers[t.idx];
                td.max_span = td.max_span.max(target.span);
                td.segments.insert(start, seg);
                if end > td.done_through {
                    // Settled with no raw data before it (see the module docs).
                    td.done_through = end;
                    raised = true;
                }
            }
        }
        for input in inputs.iter_mut() {
            let pts = &input.points;
            let below = pts.partition_point(|p| p.0 < bounds.raw_bound);
            if let Some(&p) = pts[..below].iter().rev().find(|p| !p.1.is_nan()) {
                input.prev = Some(p);
            }
        }
        if raised {
            self.persist_state()?;
        }
        Ok(counts)
    }
}

impl Store {
    /// Imports history older than the raw keep straight into the rollup tiers; see
    /// `docs/rollups.md` ("Backfill") for the rules. Validation is [`Store::write`]'s: an
    /// invalid sample refuses the whole batch. Each sample goes into every tier whose keep
    /// covers its time that can take it exactly. It is counted in `accepted` when every such
    /// tier took it, in `rejected_too_old` when no tier keeps it (and when it is not older than
    /// the raw keep: [`Store::write`] takes those), and in `rejected_conflict` when a tier
    /// refused it because it already holds a bucket of its series there (an exact merge is
    /// impossible once the raw points are gone) or is still rolling that time up from raw
    /// points; the tiers without that bucket still take it. The tier files are durable when the call returns. For large imports,
    /// [`Store::bulk_import`] writes each file once.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tierlog::{Config, ManualClock, Sample, Selector, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let now = 1_700_000_000_000;
    /// let store = Store::open(dir.path(), Config::default().with_clock(Arc::new(ManualClock::new(now))))?;
    /// // Two days ago, two samples of one minute.
    /// let t = (now - 2 * 86_400_000) / 60_000 * 60_000;
    /// let s = store.backfill(&[
    ///     Sample::new("temp_celsius", &[("sensor", "cpu")], t, 40.0),
    ///     Sample::new("temp_celsius", &[("sensor", "cpu")], t + 30_000, 44.0),
    /// ])?;
    /// assert_eq!((s.accepted, s.new_series), (2, 1));
    /// let b = store.query_tier(&Selector::metric("temp_celsius"), t, t + 60_000, "60s")?;
    /// assert_eq!(b.series[0].points[0].avg, 42.0);
    /// // The same minute again: its bucket is there, the raw points behind it are not.
    /// let s = store.backfill(&[Sample::new("temp_celsius", &[("sensor", "cpu")], t + 1_000, 41.0)])?;
    /// assert_eq!(s.rejected_conflict, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn backfill(&self, samples: &[crate::store::Sample<'_>]) -> Result<WriteSummary> {
        let sh = &*self.shared;
        sh.check_writable()?;
        let summary = self
            .backfill_inner(samples)
            .map_err(|e| sh.rejections.note_error(e))?;
        sh.rejections.note_summary(&summary);
        Ok(summary)
    }

    fn backfill_inner(&self, samples: &[crate::store::Sample<'_>]) -> Result<WriteSummary> {
        use crate::store::write::{check_samples, resolve_series};
        let sh = &*self.shared;
        let limits = &sh.config.limits;
        check_samples(samples, limits)?;
        let resolved = {
            let mut st = sh.state.write();
            let (ids, pending) = resolve_series(
                &st,
                samples.iter().map(|s| (s.metric, s.labels)),
                limits.max_series,
            )?;
            let new_series = pending.new_series;
            // A batch none of whose samples any tier keeps registers nothing.
            let range = sh.backfill_range(&st);
            let keep = new_series > 0 && samples.iter().any(|s| range.contains(&s.ts_ms));
            if keep {
                pending.commit(sh, &mut st)?;
            }
            let resolved: Vec<LoggedSample> = samples
                .iter()
                .zip(ids)
                .map(|(s, series)| LoggedSample {
                    series,
                    ts_ms: s.ts_ms,
                    value: s.value,
                })
                .collect();
            (resolved, if keep { new_series } else { 0 })
        };
        // Samples of series left unregistered are all older than every keep: the backfill
        // counts them as too old without writing anything.
        let counts = sh.backfill(&resolved.0)?;
        let mut summary = counts.summary();
        summary.new_series = resolved.1;
        Ok(summary)
    }

    /// A bulk import of history: see [`BulkImport`].
    pub fn bulk_import(&self) -> BulkImport<'_> {
        BulkImport::new(self)
    }
}

impl Shared {
    /// The times a backfill may write: from the oldest time any tier keeps (the start of
    /// the oldest piece still kept) to `clock − raw keep`. Samples outside it are too old.
    pub(crate) fn backfill_range(&self, st: &crate::store::State) -> std::ops::Range<i64> {
        let clock = self.config.clock.now_ms();
        let now = clock.max(st.clock_high_water);
        let max_age = self.config.max_age_ms();
        let raw_keep = self.config.raw_keep().as_millis().min(i64::MAX as u128) as i64;
        let oldest = st
            .tiers
            .iter()
            .map(|t| {
                now.saturating_sub(t.keep.min(max_age))
                    .div_euclid(t.piece)
                    .saturating_mul(t.piece)
            })
            .min()
            .unwrap_or(i64::MAX);
        oldest..clock.saturating_sub(raw_keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(raw: &[(i64, f64)]) -> SeriesInput {
        let mut raw = raw.to_vec();
        let mut out = SeriesInput::default();
        second_points(&mut raw, &mut out);
        out
    }

    #[test]
    fn a_seconds_samples_make_one_point_by_the_window_log_rules() {
        let nan_a = f64::from_bits(0x7ff8_0000_0000_00aa);
        let nan_b = f64::from_bits(0xfff8_0000_0000_00bb);
        let p = points(&[
            // Seconds out of order; within a second the input order stays.
            (5_100, 1.0),
            (1_000, -0.0),
            (5_900, 2.0),
            (3_000, nan_a),
            (3_500, 5.0),
            (3_999, nan_b),
            (4_000, f64::INFINITY),
            (4_001, f64::NEG_INFINITY),
            (6_000, f64::MAX),
            (6_001, f64::MAX),
        ]);
        let bits: Vec<(i64, u64)> = p.points.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(
            bits,
            [
                (1_000, (-0.0f64).to_bits()),
                (3_000, nan_a.to_bits()),
                (4_000, 0x7ff8_0000_0000_0000),
                (5_000, 1.5f64.to_bits()),
                (6_000, f64::MAX.to_bits()),
            ]
        );
        assert_eq!(p.samples, [1, 3, 2, 2, 2]);
        // Negative times round down to their second.
        assert_eq!(points(&[(-1, 4.0), (-999, 2.0)]).points, [(-1_000, 3.0)]);
    }

    fn tier(done_through: i64) -> TierView {
        TierView {
            idx: 0,
            name: "60s".into(),
            interval: 60_000,
            piece: 1_200_000,
            span: 86_400_000,
            max_span: 86_400_000,
            expired_through: 10 * 1_200_000,
            done_through,
            segments: BTreeMap::new(),
            bad: vec![(30 * 1_200_000, 31 * 1_200_000)],
            damaged: HashMap::new(),
        }
    }

    #[test]
    fn a_piece_takes_buckets_only_when_kept_and_settled() {
        const P: i64 = 1_200_000;
        let b = Bounds {
            raw_bound: 50 * P + P / 2,
            raw_oldest: Some(40 * P),
        };
        let mut t = tier(45 * P);
        // Past the keep.
        assert!(Verdict::NotKept == t.verdict(9 * P, b));
        // Materialised, or before any raw data and before the raw keep boundary.
        assert!(Verdict::Open == t.verdict(10 * P, b));
        assert!(Verdict::Open == t.verdict(44 * P, b));
        assert!(Verdict::Open == t.verdict(39 * P, b));
        // Raw data lies before its end and the tier has not materialised it yet.
        let mut behind = tier(35 * P);
        assert!(Verdict::Refused == behind.verdict(40 * P, b));
        assert!(Verdict::Open == behind.verdict(38 * P, b));
        // Its end is after clock − raw keep: raw samples may still come.
        let mut none = tier(i64::MIN);
        let fresh = Bounds {
            raw_oldest: None,
            ..b
        };
        assert!(Verdict::Open == none.verdict(49 * P, fresh));
        assert!(Verdict::Refused == none.verdict(50 * P, fresh));
        // Damaged time.
        assert!(Verdict::Refused == t.verdict(30 * P, b));
        // A new file: the whole day when it is settled, else the piece.
        let later = Bounds {
            raw_bound: 200 * P,
            raw_oldest: None,
        };
        let target = |ts| {
            let (s, span, seg) = none.target(ts, later);
            (s, span, seg.is_some())
        };
        assert_eq!(target(72 * P + 5 * P), (72 * P, 72 * P, false));
        assert_eq!(target(150 * P), (150 * P, P, false));
    }
}
