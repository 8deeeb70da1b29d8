//! Rollup queries: a tier's stored buckets, and step queries that stitch tiers and raw data
//! into epoch-aligned buckets of any whole-second width.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;


use crate::store::{Shared, Store};
use crate::error::{Error, Result};
use crate::model::{Labels, SeriesId};
use crate::query::selector::Selector;
use crate::rollup::{Bucket, Merged, aggregate, merge};
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
    fn from_merged(m: &Merged, width_ms: i64, tier: &Arc<str>) -> Self {
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
            tier: tier.clone(),
        }
    }

    fn from_bucket(b: &Bucket, width_ms: i64, tier: &Arc<str>) -> Self {
        BucketPoint::from_merged(&merge(std::slice::from_ref(b), b.start), width_ms, tier)
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
        let per = sh.tier_buckets(idx, &ids, from, to, &mut result.warnings);
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
    /// Each part of the range is answered from the coarsest tier whose interval divides the
    /// step and that has materialised it, the rest (the recent past) from raw points. count,
    /// nan_count, min, max, sum, first, last and increase merge exactly across the source
    /// buckets. p95 is exact or `None`: exact from raw points, equal to the stored p95 when the
    /// step equals the source tier's interval, recomputed from raw points when they are still
    /// kept, and otherwise `None` with a `p95_note`.
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
        let mut result = BucketResult::default();
        if from >= to {
            return Ok(result);
        }
        let lo = from.div_euclid(s).saturating_mul(s);
        let hi = to
            .div_euclid(s)
            .saturating_mul(s)
            .saturating_add(if to.rem_euclid(s) == 0 { 0 } else { s });
        let (ids, meta) = sh.select(selector);
        let counters: Vec<bool> = {
            let st = sh.state.read();
            ids.iter().map(|id| st.registry.is_counter(id.0)).collect()
        };
        let (ranges, raw_from) = {
            let st = sh.state.read();
            let raw_from = st.oldest_raw_window().unwrap_or(i64::MAX);
            let covers: Vec<Cover> = st
                .tiers
                .iter()
                .enumerate()
                .map(|(i, t)| Cover {
                    tier: Some(i),
                    // Buckets exist from the oldest bucket kept up to the materialised mark.
                    from: t
                        .segments
                        .values()
                        .next()
                        .and_then(|s| s.footer().entries.iter().map(|e| e.min_ts).min())
                        .into_iter()
                        .chain(t.bad.keys().next().copied())
                        .min()
                        .unwrap_or(i64::MAX),
                    to: t.done_through,
                    divides: s % t.interval == 0,
                })
                .collect();
            (stitch(&covers, raw_from, lo, hi, s), raw_from)
        };
        let mut per: Vec<Vec<BucketPoint>> = vec![Vec::new(); ids.len()];
        for (tier, a, b) in ranges {
            let Some(i) = tier else {
                sh.raw_step(&ids, &counters, a, b, s, &mut per, &mut result.warnings);
                continue;
            };
            let (name, interval) = {
                let st = sh.state.read();
                (
                    Arc::<str>::from(st.tiers[i].name.as_str()),
                    st.tiers[i].interval,
                )
            };
            let got = sh.tier_buckets(i, &ids, a, b, &mut result.warnings);
            if s % interval != 0 {
                // A coarser tier where nothing finer is left: its buckets as they are, each
                // with its own width.
                for (out, bs) in per.iter_mut().zip(&got) {
                    out.extend(
                        bs.iter()
                            .map(|b| BucketPoint::from_bucket(b, interval, &name)),
                    );
                }
                continue;
            }
            let first_new: Vec<usize> = per.iter().map(Vec::len).collect();
            for (out, bs) in per.iter_mut().zip(&got) {
                let mut k = 0;
                while k < bs.len() {
                    let start = bs[k].start.div_euclid(s) * s;
                    let n = bs[k..]
                        .iter()
                        .take_while(|x| x.start.div_euclid(s) * s == start)
                        .count();
                    let m = merge(&bs[k..k + n], start);
                    out.push(BucketPoint::from_merged(&m, s, &name));
                    k += n;
                }
            }
            if s != interval {
                sh.p95_from_raw(&ids, a.max(raw_from), b, s, &mut per, &first_new);
            }
        }
        result.series = collect(meta, per, |v| v);
        Ok(result)
    }
}

/// What a tier holds: buckets starting in `[from, to)`.
#[derive(Debug, Clone, Copy)]
struct Cover {
    tier: Option<usize>,
    from: i64,
    to: i64,
    /// The tier's interval divides the step.
    divides: bool,
}

/// Chooses the source of every part of the step buckets `[lo, hi)` (aligned to `step`):
/// `(Some(tier) | None for raw, from, to)` in time order. A step bucket comes from the
/// coarsest tier whose interval divides the step and that holds all of it; else from raw
/// points when they hold all of it; else from the finest coarser tier that holds it (its
/// buckets then keep their own width); else from whatever raw points overlap it. `raw_from`
/// is the start of the oldest raw window present.
fn stitch(
    covers: &[Cover],
    raw_from: i64,
    lo: i64,
    hi: i64,
    step: i64,
) -> Vec<(Option<usize>, i64, i64)> {
    // Raw points before the oldest raw window only ever existed if a tier holds buckets
    // there (raw data expired beneath it); otherwise raw points hold all there is.
    let raw_from = if covers.iter().any(|c| c.from < raw_from) {
        raw_from
    } else {
        i64::MIN
    };
    let down = |t: i64| t.div_euclid(step).saturating_mul(step);
    let up = |t: i64| down(t).saturating_add(if t.rem_euclid(step) == 0 { 0 } else { step });
    // Within each part between these cuts, every source either holds all or none of it.
    let mut cuts = vec![lo, hi, up(raw_from), down(raw_from)];
    for c in covers {
        cuts.extend([up(c.from), down(c.to), down(c.from), up(c.to)]);
    }
    cuts.retain(|&t| t >= lo && t <= hi);
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<(Option<usize>, i64, i64)> = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let holds = |c: &Cover| c.from <= a && b <= c.to;
        let pick = covers
            .iter()
            .rev()
            .find(|c| c.divides && holds(c))
            .map(|c| c.tier)
            .or_else(|| (raw_from <= a).then_some(None))
            .or_else(|| {
                covers
                    .iter()
                    .find(|c| !c.divides && c.from < b && a < c.to)
                    .map(|c| c.tier)
            })
            .or_else(|| (raw_from < b).then_some(None));
        let Some(src) = pick else { continue };
        match out.last_mut() {
            Some(last) if last.0 == src && last.2 == a => last.2 = b,
            _ => out.push((src, a, b)),
        }
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
                let mut points = std::mem::take(&mut prev.points);
                points.extend(s.points);
                points.sort_by_key(|p| p.t);
                let mut merged: Vec<BucketPoint> = Vec::with_capacity(points.len());
                for p in points {
                    match merged.last_mut() {
                        Some(q) if q.t == p.t => q.absorb(&p),
                        _ => merged.push(p),
                    }
                }
                prev.points = merged;
            }
            _ => out.push(s),
        }
    }
    out
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
        let segs: Vec<Arc<Segment>> = {
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
        };
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

    /// Step buckets of `[from, to)` computed from raw points.
    #[allow(clippy::too_many_arguments)]
    fn raw_step(
        &self,
        ids: &[SeriesId],
        counters: &[bool],
        from: i64,
        to: i64,
        step: i64,
        per: &mut [Vec<BucketPoint>],
        warnings: &mut Vec<String>,
    ) {
        let raw: Arc<str> = Arc::from(RAW);
        let points = self.raw_points(ids, from, to, warnings);
        // A counter's first step comes from its last raw point in the window before.
        let counter_ids: Vec<SeriesId> = ids
            .iter()
            .zip(counters)
            .filter(|(_, c)| **c)
            .map(|(id, _)| *id)
            .collect();
        let before = if counter_ids.is_empty() {
            Vec::new()
        } else {
            let span = self.config.span_ms();
            self.raw_points(&counter_ids, from.saturating_sub(span), from, warnings)
        };
        let mut before = before.into_iter();
        let mut buckets = Vec::new();
        for ((out, pts), &counter) in per.iter_mut().zip(points).zip(counters) {
            let prev = if counter {
                let b = before.next().unwrap_or_default();
                b.iter().rev().map(|p| p.1).find(|v| !v.is_nan())
            } else {
                None
            };
            buckets.clear();
            aggregate(&pts, step, counter, prev, &mut buckets);
            out.extend(
                buckets
                    .iter()
                    .map(|b| BucketPoint::from_bucket(b, step, &raw)),
            );
        }
    }

    /// Fills in the p95 of tier-sourced step buckets (those from `first_new[i]` on in
    /// `per[i]`) in `[from, to)` from raw points, where they are still kept and agree.
    fn p95_from_raw(
        &self,
        ids: &[SeriesId],
        from: i64,
        to: i64,
        step: i64,
        per: &mut [Vec<BucketPoint>],
        first_new: &[usize],
    ) {
        let from = from
            .div_euclid(step)
            .saturating_mul(step)
            .saturating_add(if from.rem_euclid(step) == 0 { 0 } else { step });
        if from >= to {
            return;
        }
        let mut ignored = Vec::new();
        let points = self.raw_points(ids, from, to, &mut ignored);
        let mut buckets = Vec::new();
        for ((out, pts), &k) in per.iter_mut().zip(points).zip(first_new) {
            if pts.is_empty() {
                continue;
            }
            buckets.clear();
            aggregate(&pts, step, false, None, &mut buckets);
            let by_start: HashMap<i64, &Bucket> = buckets.iter().map(|b| (b.start, b)).collect();
            for p in out[k..].iter_mut().filter(|p| p.t >= from && p.t < to) {
                match by_start.get(&p.t) {
                    Some(b)
                        if u64::from(b.count) == p.count
                            && u64::from(b.nan_count) == p.nan_count =>
                    {
                        p.p95 = Some(b.p95);
                        p.p95_note = None;
                    }
                    _ => p.p95_note = Some(P95_RAW_MISMATCH),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cover(tier: usize, from: i64, to: i64, divides: bool) -> Cover {
        Cover {
            tier: Some(tier),
            from,
            to,
            divides,
        }
    }

    #[test]
    fn stitching_prefers_coarse_divisors_then_raw_then_coarser_tiers() {
        // 10s holds 100..400 s, 60s holds 0..300 s, raw from 200 s (dropped beneath).
        let c = [cover(0, 100_000, 400_000, true), cover(1, 0, 300_000, true)];
        assert_eq!(
            stitch(&c, 200_000, 0, 600_000, 60_000),
            vec![
                (Some(1), 0, 300_000),
                (Some(0), 300_000, 360_000),
                (None, 360_000, 600_000)
            ]
        );
        // Step 10 s: 60s does not divide it; where neither 10s nor raw hold data, 60s does.
        assert_eq!(
            stitch(
                &[
                    cover(0, 100_000, 400_000, true),
                    cover(1, 0, 300_000, false)
                ],
                200_000,
                0,
                500_000,
                10_000
            ),
            vec![
                (Some(1), 0, 100_000),
                (Some(0), 100_000, 400_000),
                (None, 400_000, 500_000)
            ]
        );
        // Nothing anywhere before the data began: no source, no buckets.
        assert_eq!(
            stitch(&[], 1_000_000, 0, 500_000, 10_000),
            vec![(None, 0, 500_000)]
        );
        assert_eq!(
            stitch(
                &[cover(0, 600_000, 700_000, true)],
                i64::MAX,
                0,
                500_000,
                10_000
            ),
            vec![]
        );
    }
}
