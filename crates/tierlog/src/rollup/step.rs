//! Rollup queries: a tier's stored buckets, and step queries that stitch tiers and raw data
//! into epoch-aligned buckets of any whole-second width.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;


use crate::store::{Shared, Store};
use crate::error::{Corruption, Error, Result};
use crate::model::{Labels, SeriesId};
use crate::query::selector::Selector;
use crate::rollup::format::ChunkColumns;
use crate::rollup::{Bucket, Merged, aggregate, counter_increases, merge};
use crate::segment::Segment;

/// Why a step bucket's p95 is `None`.
pub const P95_MERGED: &str = "the step spans several buckets of the source tier and the raw points are no longer kept; a p95 of p95s would not be a p95";
/// Why a step bucket's p95 is `None` when raw points exist but do not match the tier.
pub const P95_RAW_MISMATCH: &str = "the raw points still kept no longer match the tier's bucket (some were lost); a p95 of them would not be this bucket's";

/// One bucket of a rollup or step query. `min`, `max`, `sum`, `first`, `last` and `p95` are
/// NaN for a bucket whose raw points were all NaN (`count` 0, `nan_count` > 0).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct BucketPoint {
    /// Bucket start, ms.
    pub t: i64,
    /// Width of the bucket, ms: the step (or the tier's interval for a tier query).
    pub width_ms: i64,
    /// Non-NaN raw points in the bucket.
    pub count: u64,
    /// NaN raw points in the bucket (not part of any aggregate).
    pub nan_count: u64,
    /// Smallest non-NaN raw value.
    pub min: f64,
    /// Largest non-NaN raw value.
    pub max: f64,
    /// Sum of the non-NaN raw values.
    pub sum: f64,
    /// `sum / count`.
    pub avg: f64,
    /// Exact nearest-rank 95th percentile of the bucket's raw points, or `None` (then
    /// `p95_note` says why) — never an approximation.
    pub p95: Option<f64>,
    /// Why `p95` is `None`.
    pub p95_note: Option<&'static str>,
    /// Earliest non-NaN raw value.
    pub first: f64,
    /// Latest non-NaN raw value.
    pub last: f64,
    /// Counter increase (counters only).
    pub increase: Option<f64>,
    /// Where the bucket was computed from: `raw` or a tier's name.
    pub tier: Arc<str>,
}

impl BucketPoint {
    fn from_merged(m: &Merged, width_ms: i64, tier: Arc<str>) -> Self {
        BucketPoint {
            t: m.start,
            width_ms,
            count: m.count,
            nan_count: m.nan_count,
            min: m.min,
            max: m.max,
            sum: m.sum,
            avg: m.avg(),
            p95: m.p95,
            p95_note: if m.p95.is_none() {
                Some(P95_MERGED)
            } else {
                None
            },
            first: m.first,
            last: m.last,
            increase: m.increase,
            tier,
        }
    }

    fn from_bucket(b: &Bucket, width_ms: i64, tier: &Arc<str>) -> Self {
        BucketPoint::from_merged(
            &merge(std::slice::from_ref(b), b.start),
            width_ms,
            tier.clone(),
        )
    }
}

/// One series of a rollup or step query.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct SeriesBuckets {
    /// Metric name.
    pub metric: String,
    /// Labels.
    pub labels: Labels,
    /// Buckets in time order.
    pub points: Vec<BucketPoint>,
}

/// The answer to a rollup or step query; partial when `warnings` is not empty.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct BucketResult {
    /// Matching series with at least one bucket, ordered by metric then labels.
    pub series: Vec<SeriesBuckets>,
    /// What was skipped, and why.
    pub warnings: Vec<String>,
}

impl BucketResult {
    /// True when data was skipped, or could not be answered as asked (see `warnings`).
    pub fn is_partial(&self) -> bool {
        !self.warnings.is_empty()
    }
}

const RAW: &str = "raw";

impl Store {
    /// The buckets tier `tier` (a rollup tier's name, e.g. `"10s"`) holds for the series
    /// `selector` matches, with `from <= start < to`. Only materialised buckets are returned:
    /// the recent past, whose pieces are not final yet, is in the raw tier
    /// ([`Store::query`]) or answered by [`Store::query_step`]. An unknown tier is
    /// [`Error::InvalidQuery`].
    pub fn query_tier(
        &self,
        selector: &Selector,
        from: i64,
        to: i64,
        tier: &str,
    ) -> Result<BucketResult> {
        let sh = &*self.shared;
        let (idx, interval, name) = sh.tier_by_name(tier)?;
        let (ids, meta) = sh.select(selector);
        let mut result = BucketResult::default();
        let done = sh.state.read().tiers[idx].done_through;
        sh.raw_damage_under(idx, &name, from, to.min(done), &mut result.warnings);
        let mut per = sh.tier_buckets(idx, &ids, from, to, &mut result.warnings);
        // Where late samples are not merged yet, their series' buckets come from the raw
        // points.
        for (a, b, series) in sh.late_dirty() {
            let (a, b) = (a.max(from), b.min(to).min(done));
            if a >= b {
                continue;
            }
            let a = a.div_euclid(interval) * interval;
            let which: Vec<usize> = (0..ids.len())
                .filter(|&k| series.contains(&ids[k].0))
                .collect();
            if which.is_empty() {
                continue;
            }
            let sub: Vec<SeriesId> = which.iter().map(|&k| ids[k]).collect();
            let fresh = sh.raw_buckets(&sub, a, b, interval, &mut result.warnings);
            for (&k, f) in which.iter().zip(fresh) {
                let bs = &mut per[k];
                bs.retain(|x| x.start < a || x.start >= b);
                bs.extend(f.into_iter().filter(|x| x.start >= from && x.start < to));
                bs.sort_by_key(|x| x.start);
            }
        }
        result.series = collect(meta, per, |bs| {
            bs.iter()
                .map(|b| BucketPoint::from_bucket(b, interval, &name))
                .collect()
        });
        Ok(result)
    }

    /// Epoch-aligned buckets of width `step` (a positive whole number of seconds) for the
    /// series `selector` matches, covering every step bucket that overlaps `[from, to)`.
    ///
    /// Every part of a step bucket is answered by one source, so each retained point counts
    /// once: the coarsest tier whose interval divides the step and that has materialised that
    /// part (a materialised piece covers its whole range, with data or without), raw points
    /// for the rest, and — only where neither is left — the finest other tier, whose buckets
    /// then keep their own width (with a warning). count, nan_count, min, max, sum, first,
    /// last and increase merge exactly across the parts; a counter's first step follows one
    /// rule whatever the source (a step counts when the earlier point lies no earlier than the
    /// start of the raw window before the one holding the later point). p95 is exact
    /// or `None`: the source's own when one source bucket makes the step bucket, else
    /// recomputed from raw points wherever they hold every point of the bucket, else `None`
    /// with a `p95_note`. Damaged raw data under a returned part is a warning.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use tierlog::{Config, ManualClock, MetricKind, MetricMeta, Sample, Selector, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let t0 = 1_700_000_400_000; // on a minute boundary
    /// let clock = Arc::new(ManualClock::new(t0 + 120_000));
    /// let store = Store::open(dir.path(), Config::default().with_clock(clock))?;
    /// let meta = MetricMeta { kind: MetricKind::Counter, ..MetricMeta::default() };
    /// store.set_metric_meta("requests_total", meta)?;
    /// // A counter growing by 10 a second for two minutes.
    /// let samples: Vec<Sample> = (0..120)
    ///     .map(|i| Sample::new("requests_total", &[], t0 + i * 1_000, 10.0 * i as f64))
    ///     .collect();
    /// store.write(&samples)?;
    ///
    /// let sel = Selector::metric("requests_total");
    /// let r = store.query_step(&sel, t0, t0 + 120_000, Duration::from_secs(60))?;
    /// let buckets = &r.series[0].points;
    /// assert_eq!(buckets.len(), 2);
    /// assert_eq!(buckets[1].t, t0 + 60_000);
    /// assert_eq!((buckets[1].count, buckets[1].first, buckets[1].last), (60, 600.0, 1190.0));
    /// assert_eq!(buckets[1].p95, Some(1_160.0)); // exact, from the raw points
    /// assert!(buckets[1].increase.is_some()); // counters only
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn query_step(
        &self,
        selector: &Selector,
        from: i64,
        to: i64,
        step: Duration,
    ) -> Result<BucketResult> {
        let mut it = self.query_step_iter(selector, from, to, step)?;
        let series = it.by_ref().collect();
        Ok(BucketResult {
            series,
            warnings: it.into_warnings(),
        })
    }

    /// Like [`Store::query_step`], one series at a time: the series come in the same order
    /// with the same buckets, and [`StepIter::warnings`] ends up with the same warnings (each
    /// once), but only one series' buckets are in memory at once, and a series' tier buckets
    /// are folded into step buckets segment by segment as they are read.
    ///
    /// The sources of every part of the range (which tier, raw points) and the tier segments
    /// that answer are chosen when this is called; each series is read when the iterator
    /// reaches it (raw points as the store holds them then). An invalid step is
    /// [`Error::InvalidQuery`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use tierlog::{Config, ManualClock, Sample, Selector, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let t0 = 1_700_000_400_000; // on a minute boundary
    /// let store = Store::open(dir.path(), Config::default().with_clock(Arc::new(ManualClock::new(t0 + 120_000))))?;
    /// for host in [[("host", "a")], [("host", "b")]] {
    ///     let samples: Vec<Sample> = (0..120)
    ///         .map(|i| Sample::new("load", &host, t0 + i * 1_000, i as f64))
    ///         .collect();
    ///     store.write(&samples)?;
    /// }
    /// let mut it = store.query_step_iter(&Selector::metric("load"), t0, t0 + 120_000, Duration::from_secs(60))?;
    /// let mut hosts = Vec::new();
    /// for s in it.by_ref() {
    ///     assert_eq!(s.points.len(), 2);
    ///     hosts.push(s.labels.get("host").to_owned());
    /// }
    /// assert_eq!(hosts, ["a", "b"]);
    /// assert!(it.warnings().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn query_step_iter(
        &self,
        selector: &Selector,
        from: i64,
        to: i64,
        step: Duration,
    ) -> Result<StepIter<'_>> {
        let sh = &*self.shared;
        let s = step.as_millis();
        let problem = if s == 0 || !s.is_multiple_of(1000) {
            Some("must be a positive whole number of seconds")
        } else if s > i64::MAX as u128 / 2 {
            Some("is too large (the most is about 146 million years)")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(Error::InvalidQuery {
                message: format!("step {step:?} {problem}"),
            });
        }
        let s = s as i64;
        let mut it = StepIter {
            shared: sh,
            series: Vec::new().into_iter(),
            plan: Plan {
                step: s,
                from,
                to,
                parts: Vec::new(),
                covers: Vec::new(),
                labels: vec![Arc::from(RAW)],
                raw_from: i64::MAX,
                span: sh.config.span_ms(),
                dirty: Vec::new(),
            },
            warnings: Vec::new(),
            seen: HashSet::new(),
            buf: Vec::new(),
            cols: ChunkColumns::default(),
            spare: Vec::new(),
            recycling: false,
        };
        if from >= to {
            return Ok(it);
        }
        let lo = from.div_euclid(s).saturating_mul(s);
        let hi = to
            .div_euclid(s)
            .saturating_mul(s)
            .saturating_add(if to.rem_euclid(s) == 0 { 0 } else { s });
        let (ids, meta) = sh.select(selector);
        let mut series: Vec<Selected> = {
            let st = sh.state.read();
            let p = &mut it.plan;
            p.covers = st.tiers.iter().map(Cover::of).collect();
            p.labels
                .extend(st.tiers.iter().map(|t| Arc::from(t.name.as_str())));
            p.raw_from = st.oldest_raw_window().unwrap_or(i64::MAX);
            ids.into_iter()
                .zip(meta)
                .map(|(id, (metric, labels))| Selected {
                    id,
                    counter: st.registry.is_counter(id.0),
                    metric,
                    labels,
                })
                .collect()
        };
        // Stable: series with equal labels stay in id order, the older id first.
        series.sort_by(|a, b| (&a.metric, &a.labels).cmp(&(&b.metric, &b.labels)));
        it.series = series.into_iter();
        // Late samples not merged yet: the tier buckets of their series there are stale, and
        // those series' parts come from raw points (parts are cut at the ranges' ends).
        it.plan.dirty = sh.late_dirty();
        let ranges: Vec<(i64, i64)> = it.plan.dirty.iter().map(|d| (d.0, d.1)).collect();
        let mut warnings = Vec::new();
        for (src, a, b) in sources(&it.plan.covers, it.plan.raw_from, &ranges, lo, hi, s) {
            let segs = match src {
                // What every series' read of the part reports (corrupt segments), also when
                // no series matched.
                Src::Raw => {
                    sh.raw_points(&[], a, b, &mut warnings);
                    Vec::new()
                }
                Src::Tier(i) | Src::Wide(i) => {
                    sh.raw_damage_under(i, &it.plan.labels[i + 1], a, b, &mut warnings);
                    sh.tier_segments(i, a, b, &mut warnings)
                }
            };
            it.plan.parts.push(Part { src, a, b, segs });
        }
        it.note(warnings);
        Ok(it)
    }
}

/// A matched series of a step query.
#[derive(Debug)]
struct Selected {
    id: SeriesId,
    counter: bool,
    metric: String,
    labels: Labels,
}

/// One part of a step query's range and its source; for a tier, the segments that answer.
#[derive(Debug, Clone)]
struct Part {
    src: Src,
    a: i64,
    b: i64,
    segs: Vec<Arc<Segment>>,
}

/// What a step query reads, decided when it starts.
#[derive(Debug, Clone)]
struct Plan {
    step: i64,
    from: i64,
    to: i64,
    parts: Vec<Part>,
    covers: Vec<Cover>,
    /// Source names: `raw`, then the tiers' (tier `i` is `labels[i + 1]`).
    labels: Vec<Arc<str>>,
    raw_from: i64,
    span: i64,
    dirty: Vec<(i64, i64, BTreeSet<u32>)>,
}

/// The series of a step query, one at a time, in the order of [`BucketResult::series`]; made
/// by [`Store::query_step_iter`].
///
/// What could not be read accumulates in [`StepIter::warnings`], each message once; read
/// them once the iteration is done (iterate with `by_ref()` or `while let` to keep the
/// iterator).
#[derive(Debug)]
pub struct StepIter<'a> {
    shared: &'a Shared,
    /// The matched series still to read, in output order.
    series: std::vec::IntoIter<Selected>,
    plan: Plan,
    warnings: Vec<String>,
    /// `warnings` as a set: every series' read reports the same damaged segments.
    seen: HashSet<String>,
    /// Buckets of one segment's chunks of one series, reused.
    buf: Vec<Bucket>,
    /// One chunk's columns, reused.
    cols: ChunkColumns,
    /// A buffer given back by [`StepIter::recycle`], for the next series' points.
    spare: Vec<BucketPoint>,
    /// Whether buffers have been given back: then a new one is made for every step of the
    /// range at once (it will serve again), instead of growing by doubling.
    recycling: bool,
}

/// The most points a new buffer is made for at once (about 2.25 MiB of them).
const RESERVE_MAX: usize = 1 << 14;

impl<'a> StepIter<'a> {
    /// Splits off every other series still to read into a second iterator over the same
    /// store, to be read on another thread (a series under several ids stays whole, in one
    /// of them). Each gives its series in this iterator's order, so merging the two by
    /// metric, then labels, gives that order back. Each keeps its own warnings: a damaged
    /// segment that both read is reported by both (keep each message once).
    pub fn split(&mut self) -> StepIter<'a> {
        let rest: Vec<Selected> = std::mem::take(&mut self.series).collect();
        // Whether each continues the series before it (the same one under a later id).
        let same: Vec<bool> = std::iter::once(false)
            .chain(
                rest.windows(2)
                    .map(|w| w[0].metric == w[1].metric && w[0].labels == w[1].labels),
            )
            .collect();
        let (mut mine, mut theirs) = (Vec::new(), Vec::new());
        let mut here = false;
        for (x, same) in rest.into_iter().zip(same) {
            if !same {
                here = !here;
            }
            if here { &mut mine } else { &mut theirs }.push(x);
        }
        self.series = mine.into_iter();
        StepIter {
            shared: self.shared,
            series: theirs.into_iter(),
            plan: self.plan.clone(),
            warnings: Vec::new(),
            seen: HashSet::new(),
            buf: Vec::new(),
            cols: ChunkColumns::default(),
            spare: Vec::new(),
            recycling: self.recycling,
        }
    }
}

impl StepIter<'_> {
    /// What was skipped so far, and why (each message once). Not empty = partial answer.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The warnings, consuming the iterator.
    pub fn into_warnings(self) -> Vec<String> {
        self.warnings
    }

    /// Gives back the points of a series this iterator returned, once they are read: the next
    /// series' points are built in this buffer instead of a new one. A consumer on another
    /// thread (one that writes each series while the next is folded) saves a fresh
    /// allocation, and the page faults of fresh memory, per series; one that keeps every
    /// series need not call it. Once a buffer has come back, a new one (needed while others
    /// are out) is made for every step of the range at once, up to 16 384 points, since it
    /// will serve again; until then buffers grow as their series need.
    pub fn recycle(&mut self, points: Vec<BucketPoint>) {
        self.recycling = true;
        self.keep_spare(points);
    }

    /// Keeps `points`, emptied, for the next series when it is larger than the one kept.
    fn keep_spare(&mut self, mut points: Vec<BucketPoint>) {
        if points.capacity() > self.spare.capacity() {
            points.clear();
            self.spare = points;
        }
    }

    fn note(&mut self, warnings: Vec<String>) {
        for w in warnings {
            if !self.seen.contains(&w) {
                self.seen.insert(w.clone());
                self.warnings.push(w);
            }
        }
    }

    /// The step buckets of one series id, in time order.
    fn series_points(
        &mut self,
        id: SeriesId,
        counter: bool,
        warnings: &mut Vec<String>,
    ) -> Vec<BucketPoint> {
        let (sh, p, buf, cols) = (self.shared, &self.plan, &mut self.buf, &mut self.cols);
        let s = p.step;
        let mut out = std::mem::take(&mut self.spare);
        if out.capacity() == 0 && self.recycling {
            // Each step of the range holds at most one bucket.
            let steps = (p.to.saturating_sub(p.from) / s).saturating_add(2);
            out.reserve(usize::try_from(steps).map_or(RESERVE_MAX, |n| n.min(RESERVE_MAX)));
        }
        let mut fold = Fold::new(s, &p.labels, out);
        // A chunk's runs of buckets, one per step bucket, and their sums and increases.
        let (mut runs, mut sums, mut incs) = (Vec::new(), Vec::new(), Vec::new());
        // Buckets of a tier whose interval does not divide the step.
        let mut wide: Vec<BucketPoint> = Vec::new();
        for part in &p.parts {
            let (a, b) = (part.a, part.b);
            match part.src {
                Src::Raw => {
                    let points = sh
                        .raw_points(&[id], a, b, warnings)
                        .pop()
                        .unwrap_or_default();
                    let prev = sh
                        .counter_prevs(&[id], &[counter], &p.covers, p.raw_from, a, warnings)
                        .pop()
                        .flatten();
                    buf.clear();
                    aggregate(&points, s, false, None, buf);
                    if counter {
                        counter_increases(&points, s, p.span, prev, buf);
                    }
                    for x in buf.iter() {
                        fold.push(x.start, 0, x);
                    }
                }
                Src::Tier(i) => {
                    let stale = p
                        .dirty
                        .iter()
                        .any(|(x, y, set)| *x < b && *y > a && set.contains(&id.0));
                    if stale {
                        let fresh = sh
                            .raw_buckets(&[id], a, b, s, warnings)
                            .pop()
                            .unwrap_or_default();
                        for x in &fresh {
                            fold.push(x.start, 0, x);
                        }
                        continue;
                    }
                    // Straight from the chunks' columns: each run of a chunk's buckets in
                    // one step bucket is folded at once.
                    let interval = p.covers[i].interval.max(1);
                    for seg in &part.segs {
                        let res = seg.fold_buckets_from(&mut 0, id.0, a, b, cols, |c, range| {
                            let starts = c.starts();
                            runs.clear();
                            let mut k = range.start;
                            while k < range.end {
                                let lo = starts[k].div_euclid(s) * s;
                                let hi = lo.saturating_add(s);
                                // Where the run ends when no bucket is missing (the tier's
                                // buckets start a whole number of intervals apart); else
                                // found by a search.
                                let gap = (hi - starts[k]) / interval;
                                let guess = usize::try_from(gap)
                                    .map_or(range.end, |g| k.saturating_add(g.max(1)).min(range.end));
                                let end = if starts[guess - 1] < hi
                                    && (guess == range.end || starts[guess] >= hi)
                                {
                                    guess
                                } else {
                                    k + 1 + starts[k + 1..range.end].partition_point(|&t| t < hi)
                                };
                                runs.push((lo, k..end));
                                k = end;
                            }
                            // The runs that start a step bucket (each but perhaps the first)
                            // have their sums and increases added up together first.
                            let first_fresh = usize::from(runs.first().is_some_and(|r| fold.continues(r.0)));
                            let (sums, incs) = (&mut sums, &mut incs);
                            sums.clear();
                            incs.clear();
                            if c.counts().is_none() {
                                run_sums(c.sum(), &runs[first_fresh..], sums);
                            }
                            if let Some(inc) = c.increase() {
                                run_sums(inc, &runs[first_fresh..], incs);
                            }
                            for (j, (lo, run)) in runs.iter().enumerate() {
                                let k = j.checked_sub(first_fresh);
                                let pre = Pre {
                                    sum: k.and_then(|k| sums.get(k).copied()),
                                    increase: k.and_then(|k| incs.get(k).copied()),
                                };
                                fold.push_run(*lo, i + 1, c, run.clone(), pre);
                            }
                        });
                        if let Err(e) = res {
                            warnings.push(tier_damage(seg, id, e));
                        }
                    }
                }
                Src::Wide(i) => {
                    let interval = p.covers[i].interval;
                    let mut any = false;
                    for seg in &part.segs {
                        buf.clear();
                        read_tier(seg, id, a, b, buf, warnings);
                        any |= !buf.is_empty();
                        let inside = buf.iter().filter(|x| {
                            x.start < p.to && x.start.saturating_add(interval) > p.from
                        });
                        for x in inside {
                            wide.push(BucketPoint::from_bucket(x, interval, &p.labels[i + 1]));
                        }
                    }
                    // Warned even when its only buckets lie outside `[from, to)`: the step
                    // bucket they cut is then not whole.
                    if any {
                        warnings.push(format!(
                            "{a}..{b}: finer data has expired; answered by the {} tier's {} s buckets, which a {} s step cannot split",
                            p.labels[i + 1],
                            interval / 1000,
                            s / 1000
                        ));
                    }
                }
            }
        }
        let mut out = fold.finish();
        sh.p95_from_raw(&[id], p.raw_from, s, std::slice::from_mut(&mut out));
        if !wide.is_empty() {
            out.extend(wide);
            out.sort_by_key(|b| b.t);
        }
        out
    }
}

impl Iterator for StepIter<'_> {
    type Item = SeriesBuckets;

    fn next(&mut self) -> Option<SeriesBuckets> {
        while let Some(x) = self.series.next() {
            let mut warnings = Vec::new();
            let mut points = self.series_points(x.id, x.counter, &mut warnings);
            // The same series under later ids (an archive's series that came back after a
            // clean-up): one series.
            while let Some(next) = self
                .series
                .as_slice()
                .first()
                .filter(|y| y.metric == x.metric && y.labels == x.labels)
            {
                let (id, counter) = (next.id, next.counter);
                self.series.next();
                let more = self.series_points(id, counter, &mut warnings);
                if points.is_empty() {
                    self.keep_spare(std::mem::replace(&mut points, more));
                } else if !more.is_empty() {
                    points = merge_buckets(points, more);
                } else {
                    self.keep_spare(more);
                }
            }
            self.note(warnings);
            if points.is_empty() {
                // Its buffer serves the next series.
                self.keep_spare(points);
            } else {
                return Some(SeriesBuckets {
                    metric: x.metric,
                    labels: x.labels,
                    points,
                });
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.series.len()))
    }
}

impl std::iter::FusedIterator for StepIter<'_> {}

/// Appends the buckets of `id` in `seg` starting in `[a, b)`; damage is a warning.
fn read_tier(
    seg: &Segment,
    id: SeriesId,
    a: i64,
    b: i64,
    out: &mut Vec<Bucket>,
    warnings: &mut Vec<String>,
) {
    if let Err(e) = seg.read_buckets_from(&mut 0, id.0, a, b, out) {
        warnings.push(tier_damage(seg, id, e));
    }
}

/// The warning for a damaged chunk of `id` in `seg`.
fn tier_damage(seg: &Segment, id: SeriesId, (offset, what): (u64, Corruption)) -> String {
    format!(
        "{} at offset {offset}: {what}; series {} skipped in this piece",
        seg.path().display(),
        id.0
    )
}

/// Folds the parts of step buckets (source buckets in time order, each with the start of
/// its step bucket and its source) into step buckets as they come, as [`merge`] merges a
/// step bucket's parts.
struct Fold<'l> {
    step: i64,
    labels: &'l [Arc<str>],
    out: Vec<BucketPoint>,
    /// The step bucket being merged (when `n > 0`), its number of parts `n` and its first
    /// part's p95.
    cur: Merged,
    n: usize,
    p95: f64,
    /// The sources of `cur`, by first appearance.
    srcs: Vec<usize>,
}

impl<'l> Fold<'l> {
    /// A fold whose step buckets are appended to `out` (empty).
    fn new(step: i64, labels: &'l [Arc<str>], out: Vec<BucketPoint>) -> Self {
        Fold {
            step,
            labels,
            out,
            cur: Merged::empty(0),
            n: 0,
            p95: f64::NAN,
            srcs: Vec::new(),
        }
    }

    /// Adds `b`, from source `src` (an index of `labels`), a part of the step bucket at
    /// `start`.
    #[inline(always)]
    fn push(&mut self, start: i64, src: usize, b: &Bucket) {
        if self.n > 0 && self.cur.start != start {
            self.flush();
        }
        if self.n == 0 {
            self.cur = Merged::empty(start);
            self.p95 = b.p95;
            self.srcs.clear();
            self.srcs.push(src);
        } else if self.srcs.last() != Some(&src) {
            self.add_source(src);
        }
        self.cur.add(b);
        self.n += 1;
    }

    /// Whether a part of the step bucket at `start` would join buckets already pushed.
    fn continues(&self, start: i64) -> bool {
        self.n > 0 && self.cur.start == start
    }

    /// Adds the buckets `run` of the chunk `c`, from source `src`, all parts of the step
    /// bucket at `start` (as [`Fold::push`] of each in turn would). `pre` may carry the
    /// run's sums when it does not continue a step bucket ([`Fold::continues`]).
    #[inline]
    fn push_run(&mut self, start: i64, src: usize, c: &ChunkColumns, run: Range<usize>, pre: Pre) {
        if self.n > 0 && self.cur.start != start {
            self.flush();
        }
        if self.n == 0 {
            self.cur = Merged::empty(start);
            self.p95 = c.p95()[run.start];
            self.srcs.clear();
            self.srcs.push(src);
        } else if self.srcs.last() != Some(&src) {
            self.add_source(src);
        }
        self.n += run.len();
        fold_run(&mut self.cur, c, run, pre);
    }

    #[cold]
    fn add_source(&mut self, src: usize) {
        if !self
            .srcs
            .iter()
            .any(|&x| self.labels[x] == self.labels[src])
        {
            self.srcs.push(src);
        }
    }

    fn flush(&mut self) {
        if self.n == 0 {
            return;
        }
        let mut m = self.cur;
        m.p95 = (self.n == 1).then_some(self.p95);
        self.n = 0;
        let tier: Arc<str> = match self.srcs[..] {
            [one] => self.labels[one].clone(),
            _ => Arc::from(
                self.srcs
                    .iter()
                    .map(|&x| &*self.labels[x])
                    .collect::<Vec<&str>>()
                    .join("+"),
            ),
        };
        self.out.push(BucketPoint::from_merged(&m, self.step, tier));
    }

    fn finish(mut self) -> Vec<BucketPoint> {
        self.flush();
        self.out
    }
}

/// Sums of a run of buckets found beforehand by [`run_sums`]: each is the sum of the run's
/// column alone, so it is given only for a run that starts its step bucket ([`fold_run`]
/// takes it only while the step bucket holds nothing of its kind yet).
#[derive(Debug, Clone, Copy, Default)]
struct Pre {
    /// Of the `sum` column, when every bucket of the run holds a non-NaN point.
    sum: Option<f64>,
    /// Of the `increase` column.
    increase: Option<f64>,
}

/// Appends, for each run `r` (none empty), the sum of `xs[r]` as the additions
/// `xs[r.start] + xs[r.start + 1] + …` from left to right give it, bit for bit. Four runs'
/// additions are interleaved, so that each waits only on its own run's previous one: a
/// run's additions must stay in their order, or the sum could round differently, and one
/// chain of additions is bound by their latency.
fn run_sums(xs: &[f64], runs: &[(i64, Range<usize>)], out: &mut Vec<f64>) {
    let mut quads = runs.chunks_exact(4);
    for q in &mut quads {
        let r: [&[f64]; 4] = std::array::from_fn(|l| &xs[q[l].1.clone()]);
        let common = r.iter().map(|x| x.len()).min().unwrap_or(0);
        let head: [&[f64]; 4] = std::array::from_fn(|l| &r[l][..common]);
        let mut acc: [f64; 4] = std::array::from_fn(|l| head[l][0]);
        for j in 1..common {
            for (a, h) in acc.iter_mut().zip(&head) {
                *a += h[j];
            }
        }
        for l in 0..4 {
            for &x in &r[l][common..] {
                acc[l] += x;
            }
            out.push(acc[l]);
        }
    }
    for (_, run) in quads.remainder() {
        let r = &xs[run.clone()];
        let mut acc = r[0];
        for &x in &r[1..] {
            acc += x;
        }
        out.push(acc);
    }
}

/// Merges the buckets `run` (not empty) of `c` into `m`, as [`Merged::add`] of each in time
/// order does: the same additions in the same order, so the same bits. `pre`'s sums, when
/// given, are the run's own: its sum is taken only when `m` has counted no point yet, its
/// increase only when `m` has none, which is where the additions would start from the
/// run's first bucket too.
fn fold_run(m: &mut Merged, c: &ChunkColumns, run: Range<usize>, pre: Pre) {
    if let Some(inc) = c.increase() {
        let inc = &inc[run.clone()];
        let acc = match (pre.increase, m.increase) {
            (Some(sum), None) => sum,
            (_, prev) => {
                let mut acc = match prev {
                    None => inc[0],
                    Some(a) => a + inc[0],
                };
                for &x in &inc[1..] {
                    acc += x;
                }
                acc
            }
        };
        m.increase = Some(acc);
    }
    if let Some(nans) = c.nan_counts() {
        m.nan_count += nans[run.clone()].iter().map(|&x| u64::from(x)).sum::<u64>();
    }
    let (min, max, sum) = (&c.min()[run.clone()], &c.max()[run.clone()], &c.sum()[run.clone()]);
    let (first, last) = (&c.first()[run.clone()], &c.last()[run.clone()]);
    match c.counts() {
        // Every bucket holds a non-NaN point.
        None => {
            let mut k = 0;
            let fresh = m.count == 0;
            if fresh {
                m.min = min[0];
                m.max = max[0];
                m.sum = sum[0];
                m.first = first[0];
                k = 1;
            }
            if std::ptr::eq(min, max) {
                // Max is the min column (buckets of one point each): one pass for both.
                (m.min, m.max) = fold_min_max(m.min, m.max, &min[k..]);
            } else {
                m.min = fold_keys(m.min, &min[k..], i64::min);
                m.max = fold_keys(m.max, &max[k..], i64::max);
            }
            match pre.sum {
                Some(total) if fresh => m.sum = total,
                _ => {
                    let mut acc = m.sum;
                    for &x in &sum[k..] {
                        acc += x;
                    }
                    m.sum = acc;
                }
            }
            m.last = last[last.len() - 1];
            m.count += run.len() as u64;
        }
        Some(counts) => {
            for (k, &n) in counts[run].iter().enumerate() {
                if n == 0 {
                    continue;
                }
                if m.count == 0 {
                    m.min = min[k];
                    m.max = max[k];
                    m.sum = sum[k];
                    m.first = first[k];
                } else {
                    if min[k].total_cmp(&m.min) == std::cmp::Ordering::Less {
                        m.min = min[k];
                    }
                    if max[k].total_cmp(&m.max) == std::cmp::Ordering::Greater {
                        m.max = max[k];
                    }
                    m.sum += sum[k];
                }
                m.last = last[k];
                m.count += u64::from(n);
            }
        }
    }
}

/// `x`'s key in IEEE 754 totalOrder: keys compare as `f64::total_cmp` compares, and equal
/// keys are equal bits.
#[inline(always)]
fn total_key(x: f64) -> i64 {
    let b = x.to_bits() as i64;
    b ^ ((((b >> 63) as u64) >> 1) as i64)
}

/// The inverse of [`total_key`].
#[inline(always)]
fn from_total_key(k: i64) -> f64 {
    // The key map is its own inverse.
    f64::from_bits(total_key(f64::from_bits(k as u64)) as u64)
}

/// The totalOrder minimum (`pick` = `i64::min`) or maximum (`i64::max`) of `init` and `xs`,
/// as a run of `total_cmp` comparisons finds it (of equal keys it does not matter which:
/// they are the same bits). Four lanes, so the comparisons do not wait on each other.
#[inline]
fn fold_keys(init: f64, xs: &[f64], pick: fn(i64, i64) -> i64) -> f64 {
    let mut acc = [total_key(init); 4];
    let mut quads = xs.chunks_exact(4);
    for q in &mut quads {
        for l in 0..4 {
            acc[l] = pick(acc[l], total_key(q[l]));
        }
    }
    for &x in quads.remainder() {
        acc[0] = pick(acc[0], total_key(x));
    }
    from_total_key(pick(pick(acc[0], acc[1]), pick(acc[2], acc[3])))
}

/// `(fold_keys(lo, xs, i64::min), fold_keys(hi, xs, i64::max))` in one pass.
#[inline]
fn fold_min_max(lo: f64, hi: f64, xs: &[f64]) -> (f64, f64) {
    let (mut a, mut b) = ([total_key(lo); 4], [total_key(hi); 4]);
    let mut quads = xs.chunks_exact(4);
    for q in &mut quads {
        for l in 0..4 {
            let k = total_key(q[l]);
            a[l] = a[l].min(k);
            b[l] = b[l].max(k);
        }
    }
    for &x in quads.remainder() {
        let k = total_key(x);
        a[0] = a[0].min(k);
        b[0] = b[0].max(k);
    }
    (
        from_total_key(a[0].min(a[1]).min(a[2].min(a[3]))),
        from_total_key(b[0].max(b[1]).max(b[2].max(b[3]))),
    )
}

/// What a tier holds: it has materialised `[from, to)` (every piece in it covers its whole
/// range, with data or without); buckets of `interval`.
#[derive(Debug, Clone, Copy)]
struct Cover {
    from: i64,
    to: i64,
    interval: i64,
}

impl Cover {
    fn of(t: &crate::rollup::materialise::TierData) -> Cover {
        // From the start of the oldest piece kept (a damaged one included: its range was
        // materialised, and reading it warns) to the materialised mark.
        let from = [t.segments.keys().next(), t.bad.keys().next()]
            .into_iter()
            .flatten()
            .min()
            .copied()
            .unwrap_or(i64::MAX);
        Cover {
            from,
            to: t.done_through,
            interval: t.interval,
        }
    }

    fn holds(&self, a: i64, b: i64) -> bool {
        self.from <= a && b <= self.to
    }
}

/// The source of one part of a step query's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    /// Raw points.
    Raw,
    /// A tier whose interval divides the step: its buckets nest in the step buckets.
    Tier(usize),
    /// A tier whose interval does not divide the step, where neither raw points nor such a
    /// tier are left: its buckets keep their own width.
    Wide(usize),
}

/// Chooses the source of every part of `[lo, hi)` (the step buckets' range): `(source, from,
/// to)` in time order, disjoint, so that every retained point is read from exactly one
/// source. Each part comes from the coarsest tier whose interval divides the step and that
/// has materialised it; else from raw points where they are kept (`raw_from`: start of the
/// oldest raw window) or nothing else is; else from the finest other tier holding it, whose
/// part then grows to whole buckets of that tier (the neighbouring parts shrink).
/// `covers` are the tiers finest first.
fn sources(
    covers: &[Cover],
    raw_from: i64,
    dirty: &[(i64, i64)],
    lo: i64,
    hi: i64,
    step: i64,
) -> Vec<(Src, i64, i64)> {
    let mut cuts = vec![lo, hi, raw_from];
    for c in covers {
        cuts.extend([c.from, c.to]);
    }
    for &(a, b) in dirty {
        cuts.extend([a, b]);
    }
    cuts.retain(|&t| t >= lo && t <= hi);
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<(Src, i64, i64)> = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let src = covers
            .iter()
            .rposition(|c| step % c.interval == 0 && c.holds(a, b))
            .map(Src::Tier)
            .or_else(|| (raw_from <= a).then_some(Src::Raw))
            .or_else(|| covers.iter().position(|c| c.holds(a, b)).map(Src::Wide))
            .unwrap_or(Src::Raw);
        match out.last_mut() {
            Some(last) if last.0 == src && last.2 == a => last.2 = b,
            _ => out.push((src, a, b)),
        }
    }
    // Wide parts take whole buckets of their tier, coarsest first.
    let mut wide: Vec<(i64, usize)> = out
        .iter()
        .filter_map(|p| match p.0 {
            Src::Wide(i) => Some((covers[i].interval, i)),
            _ => None,
        })
        .collect();
    wide.sort_unstable_by(|x, y| y.cmp(x));
    wide.dedup();
    for (interval, i) in wide {
        let mut k = 0;
        while k < out.len() {
            if out[k].0 != Src::Wide(i) {
                k += 1;
                continue;
            }
            let x = out[k].1.div_euclid(interval).saturating_mul(interval);
            let y = out[k].2.div_euclid(interval).saturating_mul(interval);
            let y = if y < out[k].2 {
                y.saturating_add(interval)
            } else {
                y
            };
            out[k].1 = x;
            out[k].2 = y;
            // The other parts lie wholly before or after this one: trim them off its
            // buckets (a part inside them ends up empty).
            for (j, p) in out.iter_mut().enumerate() {
                if j < k {
                    p.2 = p.2.min(x);
                } else if j > k {
                    p.1 = p.1.max(y);
                }
            }
            k += 1;
        }
        out.retain(|p| p.1 < p.2);
    }
    out
}

/// Pairs results with their series, dropping series without buckets, ordered by metric
/// then labels.
fn collect<T>(
    meta: Vec<(String, Labels)>,
    per: Vec<T>,
    f: impl Fn(T) -> Vec<BucketPoint>,
) -> Vec<SeriesBuckets> {
    let mut out: Vec<SeriesBuckets> = meta
        .into_iter()
        .zip(per)
        .map(|((metric, labels), p)| SeriesBuckets {
            metric,
            labels,
            points: f(p),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    // Stable: series with equal labels stay in id order, the older id first.
    out.sort_by(|a, b| (&a.metric, &a.labels).cmp(&(&b.metric, &b.labels)));
    merge_equal_series(out)
}

/// One series per metric and labels: an archive holds a series under two ids when it came back
/// after the store had cleaned it up. Their buckets are merged in time order (the older id's
/// first); two buckets with the same start become one.
fn merge_equal_series(sorted: Vec<SeriesBuckets>) -> Vec<SeriesBuckets> {
    let mut out: Vec<SeriesBuckets> = Vec::with_capacity(sorted.len());
    for s in sorted {
        match out.last_mut() {
            Some(prev) if prev.metric == s.metric && prev.labels == s.labels => {
                prev.points = merge_buckets(std::mem::take(&mut prev.points), s.points);
            }
            _ => out.push(s),
        }
    }
    out
}

/// The buckets of one series under two ids, `more` of the later id, in time order; two
/// buckets with the same start become one.
fn merge_buckets(mut points: Vec<BucketPoint>, more: Vec<BucketPoint>) -> Vec<BucketPoint> {
    points.extend(more);
    points.sort_by_key(|p| p.t);
    let mut merged: Vec<BucketPoint> = Vec::with_capacity(points.len());
    for p in points {
        match merged.last_mut() {
            Some(q) if q.t == p.t => q.absorb(&p),
            _ => merged.push(p),
        }
    }
    merged
}

impl BucketPoint {
    /// Adds `later`, the same bucket of the same series under a later id: count, nan_count,
    /// min, max, sum and last merge exactly, `first` stays; the p95 of two buckets is not
    /// known, and an increase cannot cross the series' gap, so it is the sum of both.
    fn absorb(&mut self, later: &BucketPoint) {
        if later.count > 0 {
            if self.count == 0 {
                self.min = later.min;
                self.max = later.max;
                self.sum = later.sum;
                self.first = later.first;
            } else {
                self.min = self.min.min(later.min);
                self.max = self.max.max(later.max);
                self.sum += later.sum;
            }
            self.last = later.last;
        }
        self.count += later.count;
        self.nan_count += later.nan_count;
        self.avg = self.sum / self.count as f64;
        self.p95 = None;
        self.p95_note = Some(P95_MERGED);
        self.increase = match (self.increase, later.increase) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.width_ms = self.width_ms.max(later.width_ms);
    }
}

impl Shared {
    /// Index, interval and name of the rollup tier called `name`.
    fn tier_by_name(&self, name: &str) -> Result<(usize, i64, Arc<str>)> {
        let st = self.state.read();
        match st.tiers.iter().position(|t| t.name == name) {
            Some(i) => Ok((i, st.tiers[i].interval, Arc::from(name))),
            None => Err(Error::InvalidQuery {
                message: format!(
                    "no tier {name:?}; this store has {}",
                    std::iter::once(RAW)
                        .chain(st.tiers.iter().map(|t| t.name.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    /// The segments of tier `idx` that may hold buckets starting in `[from, to)`; the corrupt
    /// ones there are warnings.
    fn tier_segments(
        &self,
        idx: usize,
        from: i64,
        to: i64,
        warnings: &mut Vec<String>,
    ) -> Vec<Arc<Segment>> {
        let st = self.state.read();
        let t = &st.tiers[idx];
        let overlaps = |start: i64| start < to && start.saturating_add(t.max_span) > from;
        for (_, bad) in t.bad.iter().filter(|(s, _)| overlaps(**s)) {
            warnings.push(format!(
                "segment {} is corrupt and was skipped: {}",
                bad.path.display(),
                bad.error
            ));
        }
        t.segments
            .range(from.saturating_sub(t.max_span).saturating_add(1)..to)
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// The stored buckets of tier `idx` with `from <= start < to` for each of `ids`.
    fn tier_buckets(
        &self,
        idx: usize,
        ids: &[SeriesId],
        from: i64,
        to: i64,
        warnings: &mut Vec<String>,
    ) -> Vec<Vec<Bucket>> {
        if from >= to {
            return vec![Vec::new(); ids.len()];
        }
        let segs = self.tier_segments(idx, from, to, warnings);
        let mut out: Vec<Vec<Bucket>> = vec![Vec::new(); ids.len()];
        for seg in segs {
            let mut cursor = 0;
            for (o, id) in out.iter_mut().zip(ids) {
                if let Err((offset, what)) = seg.read_buckets_from(&mut cursor, id.0, from, to, o) {
                    warnings.push(format!(
                        "{} at offset {offset}: {what}; series {} skipped in this piece",
                        seg.path().display(),
                        id.0
                    ));
                }
            }
        }
        out
    }

    /// Buckets of `interval` starting in `[a, b)` (`a` aligned) of each of `ids`, computed
    /// from raw points as materialisation computes them.
    fn raw_buckets(
        &self,
        ids: &[SeriesId],
        a: i64,
        b: i64,
        interval: i64,
        warnings: &mut Vec<String>,
    ) -> Vec<Vec<Bucket>> {
        let (counters, covers, raw_from) = {
            let st = self.state.read();
            let counters: Vec<bool> = ids.iter().map(|id| st.registry.is_counter(id.0)).collect();
            let covers: Vec<Cover> = st.tiers.iter().map(Cover::of).collect();
            (counters, covers, st.oldest_raw_window().unwrap_or(i64::MAX))
        };
        let span = self.config.span_ms();
        let points = self.raw_points(ids, a, b, warnings);
        let prevs = self.counter_prevs(ids, &counters, &covers, raw_from, a, warnings);
        points
            .iter()
            .zip(counters.iter().zip(prevs))
            .map(|(pts, (&counter, prev))| {
                let mut out = Vec::new();
                aggregate(pts, interval, false, None, &mut out);
                if counter {
                    counter_increases(pts, interval, span, prev, &mut out);
                }
                out
            })
            .collect()
    }

    /// Where tier buckets are stale: each late window not yet merged, and the window after
    /// it (whose first counter step may look back into it), with the series that have late
    /// samples there.
    pub(crate) fn late_dirty(&self) -> Vec<(i64, i64, std::collections::BTreeSet<u32>)> {
        let span = self.config.span_ms();
        let st = self.state.read();
        let mut out = Vec::new();
        for (&w, l) in &st.late {
            let series: std::collections::BTreeSet<u32> = l.samples.keys().copied().collect();
            // The next window, for the series its raw segment holds (the others' buckets
            // there stay as the tier holds them, as a merge leaves them).
            let next = w.saturating_add(span);
            let held = st.held_in(next, &series);
            out.push((w, next, series));
            if !held.is_empty() {
                out.push((next, next.saturating_add(span), held));
            }
        }
        out
    }

    /// For each counter of `ids` (others get `None`): the last non-NaN point before `at`
    /// that the window rule may step from — no earlier than the start of the raw window
    /// before the one holding `at` — from raw points where they are kept, else from the
    /// latest bucket with a value of a tier that holds the time (its `last`, at the bucket's
    /// start: a bucket never straddles a raw window when its interval divides the span).
    #[allow(clippy::too_many_arguments)]
    fn counter_prevs(
        &self,
        ids: &[SeriesId],
        counters: &[bool],
        covers: &[Cover],
        raw_from: i64,
        at: i64,
        warnings: &mut Vec<String>,
    ) -> Vec<Option<(i64, f64)>> {
        let mut out: Vec<Option<(i64, f64)>> = vec![None; ids.len()];
        let wanted: Vec<usize> = (0..ids.len()).filter(|&k| counters[k]).collect();
        if wanted.is_empty() {
            return out;
        }
        let span = self.config.span_ms();
        let floor = at
            .div_euclid(span)
            .saturating_mul(span)
            .saturating_sub(span);
        let sub: Vec<SeriesId> = wanted.iter().map(|&k| ids[k]).collect();
        let mut ignored = Vec::new();
        let raw = self.raw_points(&sub, floor, at, &mut ignored);
        for (&k, pts) in wanted.iter().zip(&raw) {
            out[k] = pts.iter().rev().find(|p| !p.1.is_nan()).copied();
        }
        let end = at.min(raw_from);
        if floor >= end {
            return out;
        }
        // Where raw points are gone: the tiers, the latest bucket end wins (finer on a tie).
        let mut best: Vec<Option<(i64, i64, f64, bool)>> = vec![None; ids.len()];
        for (i, c) in covers.iter().enumerate() {
            let (a, b) = (floor.max(c.from), end.min(c.to));
            if a >= b {
                continue;
            }
            let got = self.tier_buckets(i, &sub, a, b, warnings);
            for (&k, bs) in wanted.iter().zip(got) {
                if out[k].is_some() {
                    continue;
                }
                if let Some(x) = bs.iter().rev().find(|x| x.count > 0) {
                    let bucket_end = x.start.saturating_add(c.interval);
                    if best[k].is_none_or(|(e, ..)| bucket_end > e) {
                        best[k] = Some((bucket_end, x.start, x.last, span % c.interval == 0));
                    }
                }
            }
        }
        let mut inexact = false;
        for (o, b) in out.iter_mut().zip(best) {
            if o.is_none()
                && let Some((_, t, v, aligned)) = b
            {
                *o = Some((t, v));
                inexact |= !aligned;
            }
        }
        if inexact {
            warnings.push(format!(
                "a counter's first step at {at} comes from a tier whose buckets do not align with the raw windows; it may be counted where it should not, or the other way round"
            ));
        }
        out
    }

    /// Warns when tier `idx`'s (`name`'s) buckets of `[from, to)` may lack points: a raw
    /// segment there is damaged (its points were left out when the buckets were computed),
    /// or a segment of the tier records that damage (its partial ranges: the raw segment may
    /// be long gone).
    fn raw_damage_under(
        &self,
        idx: usize,
        name: &str,
        from: i64,
        to: i64,
        warnings: &mut Vec<String>,
    ) {
        let st = self.state.read();
        let t = &st.tiers[idx];
        let lo = from.saturating_sub(t.max_span).saturating_add(1);
        let segs = if from < to {
            t.segments.range(lo..to)
        } else {
            t.segments.range(0..0)
        };
        for seg in segs.map(|(_, s)| s) {
            for &(a, b) in seg.partial().iter().filter(|r| r.0 < to && r.1 > from) {
                let w = format!(
                    "the {name} buckets of {a}..{b} were computed while raw data there was damaged (recorded in {}): they lack its points",
                    seg.path().display()
                );
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
        }
        let span = self.config.span_ms();
        let overlaps = |start: i64| start < to && start.saturating_add(span) > from;
        let bad = st
            .bad
            .iter()
            .filter(|(s, _)| overlaps(**s))
            .map(|(_, b)| b.path.clone());
        let damaged = st
            .sealed
            .iter()
            .filter(|(s, seg)| overlaps(**s) && seg.is_damaged())
            .map(|(_, seg)| seg.path().to_owned());
        for path in bad.chain(damaged) {
            warnings.push(format!(
                "raw segment {} is damaged: the {name} buckets of its time may lack its points",
                path.display()
            ));
        }
    }

    /// Fills in the p95 of step buckets that have none (several source buckets merged)
    /// from the raw points still kept, where they hold every point of the bucket (the same
    /// count and NaN count).
    fn p95_from_raw(
        &self,
        ids: &[SeriesId],
        raw_from: i64,
        step: i64,
        per: &mut [Vec<BucketPoint>],
    ) {
        let need =
            |p: &BucketPoint| p.p95.is_none() && p.count > 0 && p.t.saturating_add(step) > raw_from;
        let Some(from) = per.iter().flatten().filter(|p| need(p)).map(|p| p.t).min() else {
            return;
        };
        let to = per
            .iter()
            .flatten()
            .filter(|p| need(p))
            .map(|p| p.t.saturating_add(step))
            .max()
            .unwrap_or(from);
        let mut ignored = Vec::new();
        let points = self.raw_points(ids, from.max(raw_from), to, &mut ignored);
        let mut buckets = Vec::new();
        for (out, pts) in per.iter_mut().zip(points) {
            if pts.is_empty() {
                continue;
            }
            buckets.clear();
            aggregate(&pts, step, false, None, &mut buckets);
            let by_start: HashMap<i64, &Bucket> = buckets.iter().map(|b| (b.start, b)).collect();
            for p in out.iter_mut().filter(|p| need(p)) {
                match by_start.get(&p.t) {
                    Some(b)
                        if u64::from(b.count) == p.count
                            && u64::from(b.nan_count) == p.nan_count =>
                    {
                        p.p95 = Some(b.p95);
                        p.p95_note = None;
                    }
                    // Raw points held the whole bucket, yet not all of its points.
                    Some(_) if p.t >= raw_from => p.p95_note = Some(P95_RAW_MISMATCH),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000;

    /// Folding a run of a chunk's columns gives the bits that merging its buckets one by
    /// one gives, starting empty or after earlier buckets: counts of 0 (NaN points only),
    /// NaN payloads, ±0, infinities, subnormals, counters' increases (derived and stored).
    #[test]
    fn a_run_of_columns_folds_as_its_buckets_merge() {
        let mut rng = crate::rng::SplitMix64::new(19);
        let odd = [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::from_bits(0xfff8_0000_0000_0007),
            4.9e-324,
            -1e308,
            0.1,
        ];
        let mut cols = ChunkColumns::default();
        for case in 0..400u64 {
            // Points every 10 s, some missing; buckets of 60 s hold 1..=6 of them.
            let per = if case % 3 == 0 { 60_000 } else { 10_000 };
            let n = 1 + (rng.next_u64() % 300) as usize;
            let mut points = Vec::new();
            let mut v = 100.0f64;
            for i in 0..n as i64 {
                if rng.next_u64().is_multiple_of(5) {
                    continue;
                }
                v = match rng.next_u64() % 8 {
                    0 if case % 4 == 1 => odd[(rng.next_u64() % odd.len() as u64) as usize],
                    1 => v - (rng.next_u64() % 50) as f64,
                    _ => v.abs() + (rng.next_u64() % 7) as f64 / 4.0,
                };
                points.push((i * per, v));
            }
            let counter = case % 2 == 0;
            let mut buckets = Vec::new();
            aggregate(&points, M, counter, None, &mut buckets);
            if counter {
                counter_increases(&points, M, 7_200_000, None, &mut buckets);
            }
            if buckets.is_empty() {
                continue;
            }
            let mut enc = Vec::new();
            crate::rollup::format::encode_chunk(&buckets, 0, &mut enc);
            crate::rollup::format::decode_chunk_columns(&enc, 0, &mut cols).expect("decodes");
            let mut back = Vec::new();
            crate::rollup::format::decode_chunk(&enc, 0, &mut back).expect("decodes");
            let len = back.len();
            let a = (rng.next_u64() % len as u64) as usize;
            let b = a + 1 + (rng.next_u64() % (len - a) as u64) as usize;
            let before = (rng.next_u64() % (a as u64 + 1)) as usize;
            let mut want = Merged::empty(7);
            let mut got = Merged::empty(7);
            for x in &back[before..a] {
                want.add(x);
                got.add(x);
            }
            for x in &back[a..b] {
                want.add(x);
            }
            fold_run(&mut got, &cols, a..b, Pre::default());
            let bits = |m: &Merged| {
                (
                    m.start,
                    m.count,
                    m.nan_count,
                    [m.min, m.max, m.sum, m.first, m.last].map(f64::to_bits),
                    m.increase.map(f64::to_bits),
                )
            };
            assert_eq!(bits(&got), bits(&want), "case {case}: {got:?} vs {want:?}");
            // A run that starts its step bucket, with its sums found beforehand as the step
            // query finds them (the other runs of the same call beside it).
            let mut fresh = Merged::empty(7);
            let mut want = Merged::empty(7);
            for x in &back[a..b] {
                want.add(x);
            }
            let runs = [(0, 0..a.max(1)), (0, a..b), (0, b - 1..len), (0, 0..len)];
            let (mut sums, mut incs) = (Vec::new(), Vec::new());
            run_sums(cols.sum(), &runs, &mut sums);
            if let Some(inc) = cols.increase() {
                run_sums(inc, &runs, &mut incs);
            }
            let pre = Pre {
                sum: cols.counts().is_none().then(|| sums[1]),
                increase: incs.get(1).copied(),
            };
            fold_run(&mut fresh, &cols, a..b, pre);
            assert_eq!(bits(&fresh), bits(&want), "case {case}: {fresh:?} vs {want:?}");
        }
    }

    /// Interleaved sums are each run's left-to-right sum, bit for bit, with values whose
    /// sum depends on the order of the additions, runs of every length (one included) and
    /// fewer than four runs left over.
    #[test]
    fn run_sums_add_each_run_in_order() {
        let mut rng = crate::rng::SplitMix64::new(23);
        let odd = [1e16, -1e16, 1.0, 0.1, 3.0, -0.0, f64::MAX, f64::MIN, 5e-324, f64::NAN];
        for case in 0..300u64 {
            let n = 1 + (rng.next_u64() % 200) as usize;
            let xs: Vec<f64> = (0..n)
                .map(|_| match rng.next_u64() % 4 {
                    0 => odd[(rng.next_u64() % odd.len() as u64) as usize],
                    _ => (rng.next_u64() % 1000) as f64 / 7.0 - 70.0,
                })
                .collect();
            let mut runs = Vec::new();
            let mut k = 0;
            while k < n {
                let len = 1 + (rng.next_u64() % (1 + case % 70)) as usize;
                let end = (k + len).min(n);
                runs.push((0, k..end));
                k = end;
            }
            let mut got = Vec::new();
            run_sums(&xs, &runs, &mut got);
            let want: Vec<u64> = runs
                .iter()
                .map(|(_, r)| {
                    let mut acc = xs[r.start];
                    for &x in &xs[r.start + 1..r.end] {
                        acc += x;
                    }
                    acc.to_bits()
                })
                .collect();
            let got: Vec<u64> = got.iter().map(|x| x.to_bits()).collect();
            assert_eq!(got, want, "case {case}");
        }
        // Order matters for these: a reordered sum gives 2, the ordered one 0.
        let xs = [1e16, 1.0, 1.0, -1e16];
        let mut got = Vec::new();
        let runs: [(i64, Range<usize>); 5] = std::array::from_fn(|_| (0, 0..4));
        run_sums(&xs, &runs, &mut got);
        assert_eq!(got, [0.0; 5]);
    }

    fn cover(from: i64, to: i64, interval: i64) -> Cover {
        Cover { from, to, interval }
    }

    /// Every instant of `[lo, hi)` is in exactly one part, and parts are in order.
    fn disjoint(parts: &[(Src, i64, i64)], lo: i64, hi: i64) {
        assert_eq!(parts.first().map(|p| p.1), Some(lo), "{parts:?}");
        assert_eq!(parts.last().map(|p| p.2), Some(hi), "{parts:?}");
        assert!(parts.windows(2).all(|w| w[0].2 == w[1].1), "{parts:?}");
        assert!(parts.iter().all(|p| p.1 < p.2), "{parts:?}");
    }

    #[test]
    fn each_part_comes_from_one_source() {
        // 10s holds 20..80 min, 60s holds 0..60 min, raw from 40 min.
        let c = [cover(20 * M, 80 * M, 10_000), cover(0, 60 * M, M)];
        let p = sources(&c, 40 * M, &[], 0, 120 * M, 5 * M);
        assert_eq!(
            p,
            vec![
                (Src::Tier(1), 0, 60 * M),
                (Src::Tier(0), 60 * M, 80 * M),
                (Src::Raw, 80 * M, 120 * M)
            ]
        );
        disjoint(&p, 0, 120 * M);
        // A tier covers from its oldest piece's start, not from its first point; a step
        // bucket that starts before it and after the raw data has nothing else.
        let p = sources(&[cover(20 * M, 40 * M, M)], i64::MAX, &[], 15 * M, 45 * M, 5 * M);
        assert_eq!(
            p,
            vec![
                (Src::Raw, 15 * M, 20 * M),
                (Src::Tier(0), 20 * M, 40 * M),
                (Src::Raw, 40 * M, 45 * M)
            ]
        );
        // Step 10 s: the 60s tier answers only where neither 10s nor raw points are left,
        // in whole buckets of its own; the others give way.
        let c = [cover(20 * M + 30_000, 80 * M, 10_000), cover(0, 60 * M, M)];
        let p = sources(&c, 100 * M, &[], 10 * M, 90 * M, 10_000);
        assert_eq!(
            p,
            vec![
                (Src::Wide(1), 10 * M, 21 * M),
                (Src::Tier(0), 21 * M, 80 * M),
                (Src::Raw, 80 * M, 90 * M)
            ]
        );
        disjoint(&p, 10 * M, 90 * M);
        // Raw points where a non-dividing tier holds the older part: raw from a time that
        // cuts one of its buckets takes the rest of that bucket.
        let p = sources(&[cover(0, 60 * M, M)], 30 * M + 20_000, &[], 0, 40 * M, 7_000);
        assert_eq!(
            p,
            vec![(Src::Wide(0), 0, 31 * M), (Src::Raw, 31 * M, 40 * M)]
        );
    }
}
