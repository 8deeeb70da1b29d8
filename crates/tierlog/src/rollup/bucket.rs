//! Bucket math: aggregating the raw points of one series into epoch-aligned buckets, and
//! merging buckets for step queries. Pure functions, no I/O.
//!
//! # Semantics
//!
//! - A bucket of interval `I` starts at `floor(ts / I) * I` (`ts.div_euclid(I) * I`, so
//!   negative timestamps land in the bucket below them) and holds the raw points with
//!   `start <= ts < start + I`.
//! - **NaN** raw points are excluded from every aggregate and only counted, in `nan_count`.
//! - A bucket without any raw point is not emitted. A bucket whose raw points are **all NaN**
//!   is emitted (so its NaN count survives) with `count = 0` and `min`, `max`, `sum`, `first`,
//!   `last` and `p95` all NaN (`f64::NAN`); its `avg()` is NaN too.
//! - `min`/`max` order values by IEEE 754 totalOrder ([`f64::total_cmp`]), so `-0.0 < +0.0`;
//!   ±Inf are ordinary values.
//! - `first`/`last` are the earliest and latest non-NaN values.
//! - `sum` is accumulated in time order, starting from the first non-NaN value itself (not
//!   from `0.0 + v`, so a single-point bucket's sum is bit-identical to its value, `-0.0`
//!   included).
//! - `p95` by the nearest-rank method: the non-NaN values sorted ascending by totalOrder, the
//!   value at 1-based rank `ceil(0.95 × count)`, computed in integers as
//!   `(95 × count + 99) / 100`. For `count <= 19` that rank is `count`, so p95 equals max.
//! - `increase` (counters only, else `None`): the sum, in time order, of the steps between
//!   consecutive non-NaN raw points, where a step from `p` to `v` is `v - p` when `v >= p`
//!   and `v` otherwise (a counter reset, as Prometheus' `increase` treats it). A step counts
//!   toward the bucket of its later point, also across bucket boundaries, and the first point
//!   steps from `prev` (the last non-NaN raw point before the slice) when known; so the sum of
//!   all buckets' increases is the series' total increase. Like `sum`, it starts from the
//!   first step itself; a bucket without a step has increase `0.0`.
//! - The store decides which steps exist by one **window rule** ([`step_counts`]), whatever
//!   answers a query (raw points, any tier): a point steps from the previous non-NaN point
//!   when that point lies at or after the start of the raw window before the point's own
//!   window. [`counter_increases`] computes increases under it.

use std::cmp::Ordering;

/// Aggregates of one bucket of one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Bucket start, ms, a multiple of the interval.
    pub start: i64,
    /// Number of non-NaN raw points.
    pub count: u32,
    /// Number of NaN raw points.
    pub nan_count: u32,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub first: f64,
    pub last: f64,
    /// Nearest-rank 95th percentile of the non-NaN raw values.
    pub p95: f64,
    /// Counter increase (counters only).
    pub increase: Option<f64>,
}

/// Every field of a [`Bucket`] as bits ([`Bucket::bits`]).
pub type BucketBits = (i64, u32, u32, [u64; 6], Option<u64>);

impl Bucket {
    /// Every field, floats as their IEEE 754 bits: equal exactly when two buckets are the
    /// same bit for bit (NaN payloads and the sign of zero included), for checks of encoders,
    /// decoders and recomputation.
    pub fn bits(&self) -> BucketBits {
        (
            self.start,
            self.count,
            self.nan_count,
            [self.min, self.max, self.sum, self.first, self.last, self.p95].map(f64::to_bits),
            self.increase.map(f64::to_bits),
        )
    }

    /// `sum / count`: NaN for a bucket of NaN points only.
    pub fn avg(&self) -> f64 {
        self.sum / f64::from(self.count)
    }
}

/// 1-based nearest rank of the 95th percentile among `count` values: `ceil(0.95 × count)`.
#[inline]
pub fn p95_rank(count: usize) -> usize {
    (95 * count).div_ceil(100)
}

/// A key whose signed integer order is IEEE totalOrder of the f64.
#[inline]
fn order_key(v: f64) -> i64 {
    let b = v.to_bits() as i64;
    b ^ ((((b >> 63) as u64) >> 1) as i64)
}

#[inline]
fn from_key(k: i64) -> f64 {
    f64::from_bits((k ^ ((((k >> 63) as u64) >> 1) as i64)) as u64)
}

/// The counter step from `p` to `v`: `v - p`, or `v` after a reset (`v < p`).
#[inline]
pub fn counter_step(p: f64, v: f64) -> f64 {
    if v >= p { v - p } else { v }
}

/// The window rule for counter steps: a non-NaN point at `ts` steps from the previous
/// non-NaN point, at `prev_ts`, when `prev_ts` is no earlier than the start of the raw window
/// (of `span_ms`) before the one holding `ts`. Rollup pieces, raw step buckets and the
/// first step after a change of source all follow it, so a counter's increase does not
/// depend on where a query finds its points.
#[inline]
pub fn step_counts(prev_ts: i64, ts: i64, span_ms: i64) -> bool {
    prev_ts
        >= ts
            .div_euclid(span_ms)
            .saturating_mul(span_ms)
            .saturating_sub(span_ms)
}

/// Sets the `increase` of `buckets` — the buckets [`aggregate`] made of `points` with
/// `interval_ms`, in the same order — under the window rule ([`step_counts`] with
/// `span_ms`): each step counts in the bucket of its later point, summed in time order from
/// the first step itself; a bucket without a step gets `0.0`. `prev` is the last non-NaN
/// point `(ts, value)` before `points[0]`, when known.
pub fn counter_increases(
    points: &[(i64, f64)],
    interval_ms: i64,
    span_ms: i64,
    prev: Option<(i64, f64)>,
    buckets: &mut [Bucket],
) {
    let mut prev = prev.filter(|p| !p.1.is_nan());
    let mut k = 0;
    for b in buckets.iter_mut() {
        b.increase = None;
    }
    for &(t, v) in points {
        let start = t.div_euclid(interval_ms).wrapping_mul(interval_ms);
        while k < buckets.len() && buckets[k].start < start {
            k += 1;
        }
        if v.is_nan() {
            continue;
        }
        if let Some((pt, pv)) = prev
            && step_counts(pt, t, span_ms)
            && let Some(b) = buckets.get_mut(k)
        {
            let s = counter_step(pv, v);
            b.increase = Some(b.increase.map_or(s, |a| a + s));
        }
        prev = Some((t, v));
    }
    for b in buckets.iter_mut() {
        b.increase = Some(b.increase.unwrap_or(0.0));
    }
}

/// Appends to `out` the buckets of `interval_ms` (> 0) of `points`: raw points `(ts ms,
/// value)` of one series with strictly increasing timestamps. `counter` computes `increase`;
/// `prev` is the raw value just before `points[0]` when known (a NaN `prev` is ignored). See
/// the module docs for every aggregate's definition.
pub fn aggregate(
    points: &[(i64, f64)],
    interval_ms: i64,
    counter: bool,
    prev: Option<f64>,
    out: &mut Vec<Bucket>,
) {
    assert!(interval_ms > 0, "bucket interval must be positive");
    debug_assert!(
        points.windows(2).all(|w| w[0].0 < w[1].0),
        "timestamps not strictly increasing"
    );
    let interval = interval_ms as u64;
    let mut prev = prev.filter(|p| !p.is_nan());
    let mut scratch: Vec<f64> = Vec::with_capacity(64);
    let mut i = 0;
    while i < points.len() {
        let start = points[i]
            .0
            .div_euclid(interval_ms)
            .wrapping_mul(interval_ms);
        scratch.clear();
        let mut nan_count = 0u32;
        let mut min = i64::MAX;
        let mut max = i64::MIN;
        let mut sum = 0.0f64;
        let mut first = f64::NAN;
        let mut last = f64::NAN;
        let mut inc: Option<f64> = None;
        // `start <= ts` for every point from here on; the wrapping difference is exact in u64.
        while let Some(&(t, v)) = points.get(i) {
            if (t.wrapping_sub(start) as u64) >= interval {
                break;
            }
            i += 1;
            if v.is_nan() {
                nan_count += 1;
                continue;
            }
            let k = order_key(v);
            min = min.min(k);
            max = max.max(k);
            if scratch.is_empty() {
                first = v;
                sum = v;
            } else {
                sum += v;
            }
            last = v;
            scratch.push(v);
            if counter {
                if let Some(p) = prev {
                    let s = counter_step(p, v);
                    inc = Some(match inc {
                        None => s,
                        Some(a) => a + s,
                    });
                }
                prev = Some(v);
            }
        }
        let count = scratch.len();
        let (min, max, sum, p95) = if count == 0 {
            (f64::NAN, f64::NAN, f64::NAN, f64::NAN)
        } else {
            let rank = p95_rank(count);
            let p95 = if rank == count {
                from_key(max)
            } else {
                *scratch.select_nth_unstable_by(rank - 1, f64::total_cmp).1
            };
            (from_key(min), from_key(max), sum, p95)
        };
        out.push(Bucket {
            start,
            count: count as u32,
            nan_count,
            min,
            max,
            sum,
            first,
            last,
            p95,
            increase: counter.then(|| inc.unwrap_or(0.0)),
        });
    }
}

/// Buckets merged for a step query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Merged {
    /// Start of the merged (step) bucket, as given to [`merge`].
    pub start: i64,
    pub count: u64,
    pub nan_count: u64,
    /// Min/max (totalOrder) over the source buckets that hold a non-NaN point; NaN if none.
    pub min: f64,
    pub max: f64,
    /// Sum of the source sums in time order (first one itself); NaN if no non-NaN point.
    pub sum: f64,
    /// `first` of the earliest / `last` of the latest source bucket with a non-NaN point.
    pub first: f64,
    pub last: f64,
    /// The source p95 when exactly one bucket was merged; `None` otherwise (a p95 of p95s is
    /// not a p95).
    pub p95: Option<f64>,
    /// Sum of the source increases in time order; `None` when no source has one.
    pub increase: Option<f64>,
}

impl Merged {
    /// `sum / count`.
    pub fn avg(&self) -> f64 {
        self.sum / self.count as f64
    }
}

/// Merges `buckets` (one series, ascending starts, all inside the step bucket beginning at
/// `start`) into one step bucket. count, nan_count, min, max, sum, first, last and increase
/// merge exactly (sum/increase up to the order of additions: time order); p95 only survives
/// a merge of a single bucket.
pub fn merge(buckets: &[Bucket], start: i64) -> Merged {
    let mut m = Merged::empty(start);
    for b in buckets {
        m.add(b);
    }
    m.p95 = match buckets {
        [b] => Some(b.p95),
        _ => None,
    };
    m
}

impl Merged {
    /// A step bucket starting at `start` with nothing merged into it yet.
    pub fn empty(start: i64) -> Merged {
        Merged {
            start,
            count: 0,
            nan_count: 0,
            min: f64::NAN,
            max: f64::NAN,
            sum: f64::NAN,
            first: f64::NAN,
            last: f64::NAN,
            p95: None,
            increase: None,
        }
    }

    /// Merges `b`, the next source bucket in time order, as [`merge`] does (which also sets
    /// `p95`: this leaves it alone).
    #[inline]
    pub fn add(&mut self, b: &Bucket) {
        let m = self;
        m.nan_count += u64::from(b.nan_count);
        if let Some(i) = b.increase {
            m.increase = Some(match m.increase {
                None => i,
                Some(a) => a + i,
            });
        }
        if b.count == 0 {
            return;
        }
        if m.count == 0 {
            m.min = b.min;
            m.max = b.max;
            m.sum = b.sum;
            m.first = b.first;
        } else {
            if b.min.total_cmp(&m.min) == Ordering::Less {
                m.min = b.min;
            }
            if b.max.total_cmp(&m.max) == Ordering::Greater {
                m.max = b.max;
            }
            m.sum += b.sum;
        }
        m.last = b.last;
        m.count += u64::from(b.count);
    }
}


/// Appends to `out` the buckets of `interval` of `points` (one series' raw points in time
/// order) starting in `[from, to)`, piece by piece (`piece` wide), as materialisation writes
/// them: a counter's (`counter`) increases step from the last non-NaN point before each
/// piece, among `points` or else `before` (the raw window before them), by the window rule
/// of `span`.
#[allow(clippy::too_many_arguments)]
pub fn piece_buckets(
    points: &[(i64, f64)],
    before: &[(i64, f64)],
    from: i64,
    to: i64,
    piece: i64,
    interval: i64,
    span: i64,
    counter: bool,
    out: &mut Vec<Bucket>,
) {
    let mut ps = from;
    while ps < to {
        let pe = ps.saturating_add(piece);
        let lo = points.partition_point(|p| p.0 < ps);
        let hi = points.partition_point(|p| p.0 < pe);
        if lo < hi {
            let first = out.len();
            aggregate(&points[lo..hi], interval, false, None, out);
            if counter {
                let prev = points[..lo]
                    .iter()
                    .rev()
                    .chain(before.iter().rev())
                    .find(|p| !p.1.is_nan())
                    .copied();
                counter_increases(&points[lo..hi], interval, span, prev, &mut out[first..]);
            }
        }
        ps = pe;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Oracle: groups with a map keyed by explicit floor division, sorts fully, loops.
    fn naive(
        points: &[(i64, f64)],
        interval: i64,
        counter: bool,
        prev: Option<f64>,
    ) -> Vec<Bucket> {
        let mut groups: std::collections::BTreeMap<i128, Vec<f64>> = Default::default();
        // increase per bucket from explicit step list
        let mut steps: std::collections::BTreeMap<i128, Vec<f64>> = Default::default();
        let mut last_good = prev.filter(|p| !p.is_nan());
        for &(t, v) in points {
            let (t, iv) = (i128::from(t), i128::from(interval));
            let mut q = t / iv;
            if t % iv != 0 && t < 0 {
                q -= 1;
            }
            let key = q * iv;
            groups.entry(key).or_default().push(v);
            steps.entry(key).or_default();
            if !v.is_nan() {
                if let Some(p) = last_good {
                    let s = if v < p { v } else { v - p };
                    steps.get_mut(&key).unwrap().push(s);
                }
                last_good = Some(v);
            }
        }
        let mut out = Vec::new();
        for (key, vals) in groups {
            let good: Vec<f64> = vals.iter().copied().filter(|v| !v.is_nan()).collect();
            let nan_count = (vals.len() - good.len()) as u32;
            let mut sorted = good.clone();
            sorted.sort_by(|a, b| a.total_cmp(b));
            let n = sorted.len();
            let (min, max, sum, first, last, p95) = if n == 0 {
                (f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN)
            } else {
                let mut sum = good[0];
                for v in &good[1..] {
                    sum += v;
                }
                let rank = ((0.95f64 * n as f64) - 1e-9).ceil() as usize; // ceil(0.95 n)
                (
                    sorted[0],
                    sorted[n - 1],
                    sum,
                    good[0],
                    good[n - 1],
                    sorted[rank.max(1) - 1],
                )
            };
            let increase = counter.then(|| {
                let s = &steps[&key];
                let mut acc = if s.is_empty() { 0.0 } else { s[0] };
                for x in s.iter().skip(1) {
                    acc += x;
                }
                acc
            });
            out.push(Bucket {
                start: key as i64,
                count: n as u32,
                nan_count,
                min,
                max,
                sum,
                first,
                last,
                p95,
                increase,
            });
        }
        out
    }

    fn assert_same(got: &[Bucket], want: &[Bucket]) {
        assert_eq!(got.len(), want.len(), "bucket count");
        for (g, w) in got.iter().zip(want) {
            let ctx = format!("got {g:?}\nwant {w:?}");
            assert_eq!(g.start, w.start, "{ctx}");
            assert_eq!(g.count, w.count, "{ctx}");
            assert_eq!(g.nan_count, w.nan_count, "{ctx}");
            for (a, b) in [
                (g.min, w.min),
                (g.max, w.max),
                (g.first, w.first),
                (g.last, w.last),
                (g.p95, w.p95),
            ] {
                assert_eq!(a.to_bits(), b.to_bits(), "{ctx}");
            }
            assert!(close(g.sum, w.sum, 1e-12), "sum {ctx}");
            match (g.increase, w.increase) {
                (None, None) => {}
                (Some(a), Some(b)) => assert!(close(a, b, 1e-12), "increase {ctx}"),
                _ => panic!("increase presence {ctx}"),
            }
        }
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        a.to_bits() == b.to_bits()
            || (a.is_nan() && b.is_nan())
            || (a - b).abs() <= rel * a.abs().max(b.abs())
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => (-1000i32..1000).prop_map(|n| f64::from(n) / 10.0),
            2 => Just(f64::NAN),
            1 => Just(-0.0),
            1 => Just(0.0),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            2 => any::<f64>(),
        ]
    }

    /// Strictly increasing timestamps (possibly negative) with values.
    fn series() -> impl Strategy<Value = Vec<(i64, f64)>> {
        (
            -100_000i64..100_000,
            prop::collection::vec((1i64..25_000, value()), 0..300),
        )
            .prop_map(|(t0, steps)| {
                let mut t = t0;
                steps
                    .into_iter()
                    .map(|(d, v)| {
                        t += d;
                        (t, v)
                    })
                    .collect()
            })
    }

    /// Counter-like: mostly rising, with resets and NaNs.
    fn counter_series() -> impl Strategy<Value = Vec<(i64, f64)>> {
        (
            -50_000i64..50_000,
            prop::collection::vec((1i64..12_000, 0u32..100, 0u8..20), 0..300),
        )
            .prop_map(|(t0, steps)| {
                let (mut t, mut c) = (t0, 0.0f64);
                steps
                    .into_iter()
                    .map(|(d, inc, kind)| {
                        t += d;
                        let v = match kind {
                            0 => {
                                c = f64::from(inc);
                                c
                            }
                            1 => f64::NAN,
                            _ => {
                                c += f64::from(inc);
                                c
                            }
                        };
                        (t, v)
                    })
                    .collect()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn aggregate_matches_oracle(
            pts in series(),
            interval in prop::sample::select(vec![1i64, 7, 1000, 10_000, 60_000]),
            counter in any::<bool>(),
            prev in prop::option::of(value()),
        ) {
            let mut got = Vec::new();
            aggregate(&pts, interval, counter, prev, &mut got);
            assert_same(&got, &naive(&pts, interval, counter, prev));
            // Appends rather than replaces.
            let n = got.len();
            aggregate(&pts, interval, counter, prev, &mut got);
            prop_assert_eq!(got.len(), 2 * n);
        }

        /// Whole-second points (raw points), dense enough that buckets fill up.
        #[test]
        fn aggregate_of_whole_seconds_matches_oracle(
            pts in series(),
            dense in any::<bool>(),
            interval in prop::sample::select(vec![1000i64, 10_000, 60_000, 150_000, 160_000]),
            counter in any::<bool>(),
        ) {
            // Seconds, strictly increasing; `dense` packs them so buckets fill up.
            let mut sec: Vec<(i64, f64)> = Vec::new();
            for (i, &(t, v)) in pts.iter().enumerate() {
                let s = if dense { i as i64 * 1000 } else { t.div_euclid(1000) * 1000 };
                if sec.last().is_none_or(|l| l.0 < s) {
                    sec.push((s, v));
                }
            }
            let mut got = Vec::new();
            aggregate(&sec, interval, counter, None, &mut got);
            assert_same(&got, &naive(&sec, interval, counter, None));
        }

        #[test]
        fn counter_increase_adds_up_across_buckets(
            pts in counter_series(),
            interval in prop::sample::select(vec![1000i64, 10_000, 60_000]),
            prev in prop::option::of(0u32..50),
        ) {
            let prev = prev.map(f64::from);
            let mut got = Vec::new();
            aggregate(&pts, interval, true, prev, &mut got);
            assert_same(&got, &naive(&pts, interval, true, prev));
            // Total increase of the series, computed on its own.
            let mut total = 0.0;
            let mut p = prev;
            for &(_, v) in &pts {
                if v.is_nan() { continue; }
                if let Some(p) = p { total += if v < p { v } else { v - p }; }
                p = Some(v);
            }
            let sum: f64 = got.iter().map(|b| b.increase.unwrap()).sum();
            prop_assert!(close(sum, total, 1e-9), "{} vs {}", sum, total);
            // Splitting the series anywhere and passing `prev` gives the same buckets' sum.
            if pts.len() > 2 {
                let cut = pts.len() / 2;
                let before = pts[..cut].iter().rev().map(|p| p.1).find(|v| !v.is_nan()).or(prev);
                let (mut a, mut b) = (Vec::new(), Vec::new());
                aggregate(&pts[..cut], interval, true, prev, &mut a);
                aggregate(&pts[cut..], interval, true, before, &mut b);
                let s: f64 = a.iter().chain(&b).map(|b| b.increase.unwrap()).sum();
                prop_assert!(close(s, total, 1e-9));
            }
        }

        #[test]
        fn window_rule_increases_match_aggregate_without_gaps(
            pts in counter_series(),
            interval in prop::sample::select(vec![1000i64, 10_000, 60_000]),
            prev in prop::option::of(0u32..50),
        ) {
            // A span longer than the data: every step counts, as in `aggregate`.
            let prev_pt = prev.map(|p| (-1_000_000_000, f64::from(p)));
            let mut want = Vec::new();
            aggregate(&pts, interval, true, prev.map(f64::from), &mut want);
            let mut got = Vec::new();
            aggregate(&pts, interval, false, None, &mut got);
            counter_increases(&pts, interval, 1_000_000_000_000, prev_pt, &mut got);
            assert_same(&got, &want);
        }

        #[test]
        fn merge_is_exact(pts in series(), counter in any::<bool>()) {
            let mut fine = Vec::new();
            aggregate(&pts, 10_000, counter, None, &mut fine);
            let mut coarse = Vec::new();
            aggregate(&pts, 60_000, counter, None, &mut coarse);
            for c in &coarse {
                let parts: Vec<Bucket> = fine
                    .iter()
                    .copied()
                    .filter(|b| b.start.div_euclid(60_000) * 60_000 == c.start)
                    .collect();
                let m = merge(&parts, c.start);
                prop_assert_eq!(m.start, c.start);
                prop_assert_eq!(m.count, u64::from(c.count));
                prop_assert_eq!(m.nan_count, u64::from(c.nan_count));
                for (a, b) in [(m.min, c.min), (m.max, c.max), (m.first, c.first), (m.last, c.last)] {
                    prop_assert_eq!(a.to_bits(), b.to_bits(), "{:?} vs {:?}", m, c);
                }
                // Sums are regrouped: compare within rounding of the magnitudes involved.
                let scale: f64 = pts.iter().map(|p| p.1.abs()).filter(|v| v.is_finite()).sum();
                let near = |a: f64, b: f64| close(a, b, 1e-12) || (a - b).abs() <= 1e-12 * 4.0 * scale || !scale.is_finite() || pts.iter().any(|p| p.1.is_infinite());
                prop_assert!(near(m.sum, c.sum), "{} vs {}", m.sum, c.sum);
                if parts.len() == 1 {
                    prop_assert_eq!(m.p95.map(f64::to_bits), Some(c.p95.to_bits()));
                } else {
                    prop_assert_eq!(m.p95, None);
                }
                match (m.increase, c.increase) {
                    (None, None) => {}
                    (Some(a), Some(b)) => prop_assert!(near(a, b), "{} vs {}", a, b),
                    other => prop_assert!(false, "increase {:?}", other),
                }
            }
        }
    }

    fn b(start: i64, pts: &[(i64, f64)], interval: i64, counter: bool) -> Vec<Bucket> {
        let mut out = Vec::new();
        aggregate(pts, interval, counter, None, &mut out);
        assert!(out.iter().all(|x| x.start >= start));
        out
    }

    #[test]
    fn p95_rank_is_ceil_of_95_percent() {
        for n in 1..=2000usize {
            let exact = (95 * n).div_ceil(100);
            assert_eq!(p95_rank(n), exact);
            assert!(exact * 100 >= 95 * n && (exact - 1) * 100 < 95 * n);
        }
        assert_eq!(p95_rank(1), 1);
        assert_eq!(p95_rank(10), 10);
        assert_eq!(p95_rank(19), 19);
        assert_eq!(p95_rank(20), 19);
        assert_eq!(p95_rank(60), 57);
        assert_eq!(p95_rank(100), 95);
    }

    #[test]
    fn single_points_negative_times_and_nans() {
        let pts = [
            (-10_001, 1.0),
            (-1, f64::NAN),
            (0, -0.0),
            (9_999, f64::NAN),
            (10_000, 5.0),
        ];
        let got = b(-20_000, &pts, 10_000, false);
        let starts: Vec<i64> = got.iter().map(|x| x.start).collect();
        assert_eq!(starts, [-20_000, -10_000, 0, 10_000]);
        // All-NaN bucket is kept, with count 0 and NaN aggregates.
        let nan_b = got[1];
        assert_eq!((nan_b.count, nan_b.nan_count), (0, 1));
        assert!(nan_b.min.is_nan() && nan_b.p95.is_nan() && nan_b.avg().is_nan());
        // -0.0 survives in every aggregate of a single-point bucket, sum included.
        let z = got[2];
        assert_eq!((z.count, z.nan_count), (1, 1));
        for v in [z.min, z.max, z.sum, z.first, z.last, z.p95] {
            assert_eq!(v.to_bits(), (-0.0f64).to_bits());
        }
        assert_eq!(got[0].increase, None);
    }

    #[test]
    fn resets_count_as_the_new_value() {
        // 10, 15 | 3 (reset), 8 | NaN | 4 (reset from 8)
        let pts = [
            (0, 10.0),
            (1_000, 15.0),
            (10_000, 3.0),
            (11_000, 8.0),
            (20_000, f64::NAN),
            (30_000, 4.0),
        ];
        let mut out = Vec::new();
        aggregate(&pts, 10_000, true, Some(7.0), &mut out);
        let inc: Vec<Option<f64>> = out.iter().map(|x| x.increase).collect();
        assert_eq!(inc, [Some(8.0), Some(8.0), Some(0.0), Some(4.0)]);
        assert_eq!(out[2].count, 0);
        // min = first, max = last = p95 for a rising counter in one bucket.
        assert_eq!((out[0].min, out[0].max, out[0].p95), (10.0, 15.0, 15.0));
    }

    #[test]
    fn the_window_rule_drops_steps_across_more_than_one_window_boundary() {
        // Windows of 10 s: 5 (window 0) -> 8 (window 1) counts; 8 -> 20 (window 3) does not.
        let pts = [(1_000, 5.0), (12_000, 8.0), (35_000, 20.0), (36_000, 21.0)];
        let mut got = Vec::new();
        aggregate(&pts, 10_000, false, None, &mut got);
        counter_increases(&pts, 10_000, 10_000, Some((-9_000, 1.0)), &mut got);
        let inc: Vec<Option<f64>> = got.iter().map(|b| b.increase).collect();
        assert_eq!(inc, [Some(4.0), Some(3.0), Some(1.0)]);
        assert!(step_counts(0, 19_999, 10_000) && !step_counts(-1, 10_000, 10_000));
    }

    #[test]
    fn p95_and_infinities() {
        let pts: Vec<(i64, f64)> = (0..100).map(|i| (i, f64::from(99 - i as i32))).collect();
        let got = b(0, &pts, 1_000, false);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].p95, 94.0); // rank 95 of 0..=99
        assert_eq!(got[0].avg(), 49.5);
        let pts = [(0, f64::INFINITY), (1, f64::NEG_INFINITY), (2, 1.0)];
        let got = b(0, &pts, 1_000, false);
        assert_eq!(
            (got[0].min, got[0].max, got[0].p95),
            (f64::NEG_INFINITY, f64::INFINITY, f64::INFINITY)
        );
    }

    #[test]
    fn merge_of_one_keeps_p95_and_of_nan_only_is_nan() {
        let pts = [(0, 1.0), (1, 2.0), (10_000, f64::NAN)];
        let got = b(0, &pts, 10_000, false);
        let m = merge(&got[..1], 0);
        assert_eq!(m.p95, Some(2.0));
        let m = merge(&got[1..], 0);
        assert_eq!((m.count, m.nan_count), (0, 1));
        assert!(m.min.is_nan() && m.sum.is_nan() && m.first.is_nan());
        let m = merge(&got, 0);
        assert_eq!((m.count, m.nan_count, m.p95, m.last), (2, 1, None, 2.0));
        let empty = merge(&[], 5);
        assert_eq!((empty.start, empty.count), (5, 0));
    }
}
