//! A randomized differential test of every query path against an oracle: small stores of
//! gauges and counters (resets, NaN, ±Inf, −0, several samples in a second, gaps), written
//! as a replay (one batch per second, the clock following the data, no maintenance) or live
//! (maintenance passes along the way), then the clock moved through sealing, raw expiry and
//! the 10s tier's expiry; at each clock the raw query, both tiers and step queries of many
//! widths and ranges are compared with buckets computed here from the samples still retained.
//!
//! The normal suite runs a fixed seed; `TIERLOG_DIFF_CASES=N` (and `TIERLOG_DIFF_SEED`) runs
//! more by hand. A property test draws steps from 1 s to 1 d and clocks from "just ingested"
//! to "raw and 10s expired".

use tierlog_testkit::helpers as common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{SplitMix64, T0, fast_tempdir, mean};
use proptest::prelude::*;
use tierlog::{
    BucketPoint, Config, ManualClock, MetricKind, MetricMeta, Sample, Selector, Store, Sync,
};

const SPAN: i64 = 600_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;

/// A case's data: per series (name, counter), the second-start → samples written.
struct Case {
    series: Vec<(String, bool)>,
    written: Vec<BTreeMap<i64, Vec<f64>>>,
    live: bool,
    last: i64,
}

fn gen_case(rng: &mut SplitMix64) -> Case {
    let n = rng.range(1, 4) as usize;
    let start = T0 + rng.range(0, 2 * HOUR as u64 / 1000) as i64 * 1000;
    let secs = rng.range(60, 100 * 60) as i64;
    let mut series = Vec::new();
    let mut written = Vec::new();
    let mut last = start;
    for k in 0..n {
        let counter = rng.range(0, 2) == 0;
        series.push((format!("m{k}"), counter));
        let mut w: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        let density = rng.range(1, 20);
        let mut c = rng.range(0, 100) as f64;
        let mut gap = 0;
        for s in 0..secs {
            if gap > 0 {
                gap -= 1;
                continue;
            }
            if rng.range(0, 300) == 0 {
                gap = rng.range(10, 1500);
            }
            if rng.range(0, density) != 0 {
                continue;
            }
            let t = start + s * 1000;
            let r = rng.range(0, 100);
            let v = if counter {
                if r < 3 {
                    c = rng.range(0, 5) as f64;
                } else {
                    c += rng.range(0, 10) as f64;
                }
                if r == 99 { f64::NAN } else { c }
            } else {
                match r {
                    0..=2 => f64::NAN,
                    3 => f64::INFINITY,
                    4 => f64::NEG_INFINITY,
                    5 => -0.0,
                    _ => (rng.range(0, 2000) as f64 - 1000.0) / 4.0,
                }
            };
            let e = w.entry(t).or_default();
            e.push(v);
            // Now and then a second sample in the same second (finite values only, so the
            // mean is exact).
            if v.is_finite() && !counter && rng.range(0, 10) == 0 {
                e.push((rng.range(0, 200) as f64) / 2.0);
            }
            last = last.max(t);
        }
        written.push(w);
    }
    Case {
        series,
        written,
        live: rng.range(0, 2) == 0,
        last,
    }
}

fn config(clock: &Arc<ManualClock>) -> Config {
    Config {
        ..common::config(clock)
    }
    .with_sync(Sync::Never)
}

fn ingest(store: &Store, clock: &ManualClock, case: &Case) {
    let mut by_sec: BTreeMap<i64, Vec<(usize, f64)>> = BTreeMap::new();
    for (k, w) in case.written.iter().enumerate() {
        for (&t, vs) in w {
            for &v in vs {
                by_sec.entry(t).or_default().push((k, v));
            }
        }
    }
    for (k, (name, counter)) in case.series.iter().enumerate() {
        if *counter {
            let meta = MetricMeta {
                kind: MetricKind::Counter,
                ..MetricMeta::default()
            };
            store.set_metric_meta(name, meta).unwrap();
        }
        let _ = k;
    }
    let mut next_maintain = by_sec.keys().next().copied().unwrap_or(T0) + 20 * MIN;
    for (t, xs) in by_sec {
        clock.set(t + 999);
        let samples: Vec<Sample<'_>> = xs
            .iter()
            .map(|&(k, v)| Sample::new(&case.series[k].0, &[], t, v))
            .collect();
        let sum = store.write(&samples).unwrap();
        assert_eq!(sum.accepted, samples.len() as u64);
        if case.live && t >= next_maintain {
            store.maintain().unwrap();
            next_maintain = t + 20 * MIN;
        }
    }
}

/// One expected bucket.
#[derive(Debug, Clone, Copy)]
struct Want {
    count: u64,
    nan_count: u64,
    min: f64,
    max: f64,
    sum: f64,
    first: f64,
    last: f64,
    p95: f64,
    increase: Option<f64>,
    abs: f64,
}

/// The window rule for counter steps.
fn counts(prev: i64, t: i64) -> bool {
    prev >= t.div_euclid(SPAN) * SPAN - SPAN
}

/// Buckets of `width` over the points with `keep(t)`; counter steps from every point
/// written (a tier keeps the steps it computed while the earlier points existed).
fn oracle(
    all: &[(i64, f64)],
    width: i64,
    counter: bool,
    keep: impl Fn(i64) -> bool,
) -> BTreeMap<i64, Want> {
    let mut out: BTreeMap<i64, Vec<(i64, f64, Option<f64>)>> = BTreeMap::new();
    let mut prev: Option<(i64, f64)> = None;
    for &(t, v) in all {
        let step = match prev {
            Some((pt, pv)) if !v.is_nan() && counts(pt, t) => {
                Some(if v >= pv { v - pv } else { v })
            }
            _ => None,
        };
        if !v.is_nan() {
            prev = Some((t, v));
        }
        if keep(t) {
            out.entry(t.div_euclid(width) * width)
                .or_default()
                .push((t, v, step));
        }
    }
    out.into_iter()
        .map(|(start, pts)| {
            let vals: Vec<f64> = pts.iter().map(|p| p.1).filter(|v| !v.is_nan()).collect();
            let mut sorted = vals.clone();
            sorted.sort_by(f64::total_cmp);
            let n = vals.len();
            let nan = f64::NAN;
            let mut sum = nan;
            for (i, v) in vals.iter().enumerate() {
                sum = if i == 0 { *v } else { sum + v };
            }
            let mut inc: Option<f64> = None;
            for s in pts.iter().filter_map(|p| p.2) {
                inc = Some(inc.map_or(s, |a| a + s));
            }
            let w = Want {
                count: n as u64,
                nan_count: (pts.len() - n) as u64,
                min: sorted.first().copied().unwrap_or(nan),
                max: sorted.last().copied().unwrap_or(nan),
                sum,
                first: vals.first().copied().unwrap_or(nan),
                last: vals.last().copied().unwrap_or(nan),
                p95: if n == 0 {
                    nan
                } else {
                    sorted[(95 * n).div_ceil(100) - 1]
                },
                increase: counter.then(|| inc.unwrap_or(0.0)),
                abs: vals.iter().map(|v| v.abs()).sum::<f64>()
                    + pts.iter().filter_map(|p| p.2).map(f64::abs).sum::<f64>(),
            };
            (start, w)
        })
        .collect()
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn near(a: f64, b: f64, scale: f64) -> bool {
    same(a, b) || a == b || (a - b).abs() <= 1e-12 * scale.max(a.abs()).max(b.abs())
}

fn check_bucket(ctx: &str, g: &BucketPoint, w: &Want, p95_required: bool) {
    assert_eq!(
        (g.count, g.nan_count),
        (w.count, w.nan_count),
        "{ctx}: counts {g:?} {w:?}"
    );
    for (what, a, b) in [
        ("min", g.min, w.min),
        ("max", g.max, w.max),
        ("first", g.first, w.first),
        ("last", g.last, w.last),
    ] {
        assert!(same(a, b), "{ctx}: {what} {a:?} != {b:?}");
    }
    assert!(
        near(g.sum, w.sum, w.abs),
        "{ctx}: sum {} != {}",
        g.sum,
        w.sum
    );
    match g.p95 {
        Some(p) => assert!(same(p, w.p95), "{ctx}: p95 {p:?} != {:?}", w.p95),
        None => assert!(
            !p95_required || w.count == 0,
            "{ctx}: p95 withheld ({:?})",
            g.p95_note
        ),
    }
    match (g.increase, w.increase) {
        (Some(a), Some(b)) => assert!(near(a, b, w.abs), "{ctx}: increase {a} != {b}"),
        (a, b) => assert_eq!(a.is_some(), b.is_some(), "{ctx}: increase presence"),
    }
}

/// What the store retains, from its stats: the start of the oldest raw window, and per tier
/// the range it holds (`[oldest bucket, materialised)`).
struct Retained {
    raw_from: i64,
    tiers: Vec<(String, i64, i64, i64)>,
}

impl Retained {
    fn of(store: &Store) -> Retained {
        let st = store.stats();
        let raw_from = st.tiers[0]
            .oldest_ms
            .map_or(i64::MAX, |t| t.div_euclid(SPAN) * SPAN);
        let tiers = st.tiers[1..]
            .iter()
            .map(|t| {
                let interval = match t.tier.as_str() {
                    "10s" => 10_000,
                    "60s" => MIN,
                    other => panic!("tier {other}"),
                };
                // Retention drops whole segments, oldest first: the tier holds every bucket
                // from its oldest one on (none existed between that segment's start and it).
                let from = t.oldest_ms.unwrap_or(i64::MAX);
                let to = t.materialised_through_ms.unwrap_or(i64::MIN);
                (t.tier.clone(), interval, from, to)
            })
            .collect();
        Retained { raw_from, tiers }
    }

    /// Oldest time from which every sample written is still retained somewhere.
    fn from(&self) -> i64 {
        self.tiers
            .iter()
            .filter(|t| t.2 < t.3)
            .map(|t| t.2)
            .chain([self.raw_from])
            .min()
            .unwrap()
    }
}

fn points(case: &Case, k: usize) -> Vec<(i64, f64)> {
    case.written[k].iter().map(|(&t, v)| (t, mean(v))).collect()
}

fn all() -> Selector {
    "{__name__=~\".+\"}".parse().unwrap()
}

fn by_name(series: Vec<(String, Vec<BucketPoint>)>) -> BTreeMap<String, Vec<BucketPoint>> {
    series.into_iter().collect()
}

/// Every query path at the store's current clock, against the oracle.
fn check_all(ctx: &str, store: &Store, case: &Case, rng: &mut SplitMix64, steps: &[i64]) {
    let ret = Retained::of(store);
    let lo = case
        .written
        .iter()
        .flat_map(|w| w.keys().next())
        .min()
        .copied()
        .unwrap_or(T0);
    // Raw: every point from the oldest raw window on.
    let r = store.query(&all(), i64::MIN, i64::MAX).unwrap();
    assert!(r.warnings.is_empty(), "{ctx}: {:?}", r.warnings);
    let raw: BTreeMap<String, Vec<(i64, f64)>> =
        r.series.into_iter().map(|s| (s.metric, s.points)).collect();
    for (k, (name, _)) in case.series.iter().enumerate() {
        let want: Vec<(i64, u64)> = points(case, k)
            .into_iter()
            .filter(|p| p.0 >= ret.raw_from)
            .map(|(t, v)| (t, v.to_bits()))
            .collect();
        let got: Vec<(i64, u64)> = raw
            .get(name)
            .map(|p| p.iter().map(|(t, v)| (*t, v.to_bits())).collect())
            .unwrap_or_default();
        assert_eq!(got, want, "{ctx}: raw {name}");
    }
    // Tiers: every bucket of their whole segments.
    for (tier, interval, from, to) in &ret.tiers {
        let r = store.query_tier(&all(), i64::MIN, i64::MAX, tier).unwrap();
        assert!(r.warnings.is_empty(), "{ctx}: {:?}", r.warnings);
        let got = by_name(r.series.into_iter().map(|s| (s.metric, s.points)).collect());
        for (k, (name, counter)) in case.series.iter().enumerate() {
            let want = oracle(&points(case, k), *interval, *counter, |t| {
                t >= *from && t < *to
            });
            let g = got.get(name).cloned().unwrap_or_default();
            assert_eq!(
                g.iter().map(|b| b.t).collect::<Vec<_>>(),
                want.keys().copied().collect::<Vec<_>>(),
                "{ctx}: tier {tier} {name} bucket starts"
            );
            for b in &g {
                check_bucket(
                    &format!("{ctx} tier {tier} {name} @{}", b.t),
                    b,
                    &want[&b.t],
                    true,
                );
            }
        }
    }
    // Steps over random ranges.
    let kept = ret.from();
    for &step in steps {
        let (from, to) = match rng.range(0, 3) {
            0 => (i64::MIN / 4, i64::MAX / 4),
            _ => {
                let a = lo - HOUR + rng.range(0, 4 * HOUR as u64) as i64;
                (a, a + rng.range(1, 3 * HOUR as u64) as i64)
            }
        };
        check_step(
            &format!("{ctx} step {} s [{from}, {to})", step / 1000),
            store,
            case,
            &ret,
            kept,
            step,
            from,
            to,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn check_step(
    ctx: &str,
    store: &Store,
    case: &Case,
    ret: &Retained,
    kept: i64,
    step: i64,
    from: i64,
    to: i64,
) {
    let r = store
        .query_step(&all(), from, to, Duration::from_millis(step as u64))
        .unwrap();
    // Series by series, the same answer.
    let mut it = store
        .query_step_iter(&all(), from, to, Duration::from_millis(step as u64))
        .unwrap();
    // Each series' buffer given back once it is read, as the CLI's writer does: the next
    // series is built in it, and must hold only its own buckets.
    let mut streamed = Vec::new();
    while let Some(s) = it.next() {
        let mut back = s.points.clone();
        streamed.push(s);
        back.truncate(back.len() / 2);
        it.recycle(back);
    }
    // Compared as text: NaN aggregates are not equal to themselves.
    assert!(
        format!("{streamed:?}") == format!("{:?}", r.series),
        "{ctx}: query_step_iter's series"
    );
    // Split in two (every other series each), merged by metric and labels: the same series
    // in the same order, and between them every warning.
    let mut a = store
        .query_step_iter(&all(), from, to, Duration::from_millis(step as u64))
        .unwrap();
    let mut b = a.split();
    let (xs, ys): (Vec<_>, Vec<_>) = (a.by_ref().collect(), b.by_ref().collect());
    let mut merged = Vec::new();
    let (mut xs, mut ys) = (xs.into_iter().peekable(), ys.into_iter().peekable());
    loop {
        let take_x = match (xs.peek(), ys.peek()) {
            (Some(x), Some(y)) => (&x.metric, &x.labels) < (&y.metric, &y.labels),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        merged.push(if take_x { xs.next() } else { ys.next() }.unwrap());
    }
    assert!(
        format!("{merged:?}") == format!("{:?}", r.series),
        "{ctx}: split query_step_iter's series"
    );
    let mut warned: Vec<&String> = a.warnings().iter().chain(b.warnings()).collect();
    warned.sort();
    warned.dedup();
    let mut want_warned: Vec<&String> = r.warnings.iter().collect();
    want_warned.sort();
    assert_eq!(
        warned, want_warned,
        "{ctx}: split query_step_iter's warnings"
    );
    assert_eq!(
        it.warnings(),
        r.warnings,
        "{ctx}: query_step_iter's warnings"
    );
    let warned = !r.warnings.is_empty();
    let lo = from.div_euclid(step) * step;
    let hi = to.div_euclid(step) * step + if to.rem_euclid(step) == 0 { 0 } else { step };
    for s in &r.series {
        tier_folds_bit_for_bit(ctx, store, s, lo, hi, step);
    }
    let got = by_name(r.series.into_iter().map(|s| (s.metric, s.points)).collect());
    for (k, (name, counter)) in case.series.iter().enumerate() {
        let pts = points(case, k);
        let g = got.get(name).cloned().unwrap_or_default();
        let c = format!("{ctx} {name}");
        assert!(g.windows(2).all(|w| w[0].t <= w[1].t), "{c}: order");
        for b in &g {
            assert!(
                b.t < to && b.t + b.width_ms > from,
                "{c}: bucket {} outside",
                b.t
            );
        }
        let wide: Vec<&BucketPoint> = g.iter().filter(|b| b.width_ms != step).collect();
        assert!(
            wide.is_empty() || warned,
            "{c}: wider buckets without a warning"
        );
        for b in &wide {
            let want = oracle(&pts, b.width_ms, *counter, |t| t >= kept);
            check_bucket(&format!("{c} wide @{}", b.t), b, &want[&b.t], false);
        }
        let in_wide = |t: i64| wide.iter().any(|b| t >= b.t && t < b.t + b.width_ms);
        // Every retained point in [lo, hi) counted exactly once. With wider buckets, those
        // of [lo, from) in a wide bucket that ends before `from` are not returned (it lies
        // outside the range): every point of [from, to) is counted, and nothing twice.
        let total: u64 = g.iter().map(|b| b.count + b.nan_count).sum();
        let retained = |p: &&(i64, f64)| p.0 >= kept;
        let at_most = pts
            .iter()
            .filter(retained)
            .filter(|p| (p.0 >= lo && p.0 < hi) || in_wide(p.0))
            .count() as u64;
        if !warned {
            assert_eq!(total, at_most, "{c}: points counted");
        } else {
            let at_least = pts
                .iter()
                .filter(retained)
                .filter(|p| p.0 >= from && p.0 < to)
                .count() as u64;
            assert!(
                at_least <= total && total <= at_most,
                "{c}: {total} points counted, not in {at_least}..={at_most}"
            );
        }
        if warned {
            continue;
        }
        let want = oracle(&pts, step, *counter, |t| t >= kept && t >= lo && t < hi);
        assert_eq!(
            g.iter().map(|b| b.t).collect::<Vec<_>>(),
            want.keys().copied().collect::<Vec<_>>(),
            "{c}: bucket starts"
        );
        for b in &g {
            // Raw points hold the whole bucket: its p95 is exact and present.
            let required = b.t >= ret.raw_from;
            check_bucket(
                &format!("{c} @{} ({})", b.t, b.tier),
                b,
                &want[&b.t],
                required,
            );
        }
    }
}

/// A step bucket answered by one tier alone is that tier's buckets in it merged one by one in
/// time order: the same additions in the same order, so the same bits. The oracle compares
/// sums within a tolerance (its own additions come in another order); this compares the step
/// query's fold of a tier's chunks, bit for bit, with the tier's buckets as `query_tier`
/// reads them.
/// Returns how many step buckets it compared.
fn tier_folds_bit_for_bit(
    ctx: &str,
    store: &Store,
    s: &tierlog::SeriesBuckets,
    lo: i64,
    hi: i64,
    step: i64,
) -> usize {
    let mut compared = 0;
    for (tier, interval) in [("10s", 10_000), ("60s", MIN)] {
        if step % interval != 0 || !s.points.iter().any(|p| &*p.tier == tier) {
            continue;
        }
        let sel: Selector = s.metric.parse().unwrap();
        let t = store.query_tier(&sel, lo, hi, tier).unwrap();
        let parts: &[BucketPoint] = t.series.first().map_or(&[], |x| &x.points);
        for p in s.points.iter().filter(|p| &*p.tier == tier) {
            let c = format!("{ctx} {} @{} from {tier}", s.metric, p.t);
            let mut m = (0u64, 0u64, f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN);
            let mut increase: Option<f64> = None;
            let mine: Vec<&BucketPoint> = parts
                .iter()
                .filter(|b| b.t >= p.t && b.t < p.t + step)
                .collect();
            assert!(!mine.is_empty(), "{c}: no tier buckets under it");
            for b in mine {
                m.1 += b.nan_count;
                if let Some(i) = b.increase {
                    increase = Some(increase.map_or(i, |a| a + i));
                }
                if b.count == 0 {
                    continue;
                }
                if m.0 == 0 {
                    (m.2, m.3, m.4, m.5) = (b.min, b.max, b.sum, b.first);
                } else {
                    if b.min.total_cmp(&m.2).is_lt() {
                        m.2 = b.min;
                    }
                    if b.max.total_cmp(&m.3).is_gt() {
                        m.3 = b.max;
                    }
                    m.4 += b.sum;
                }
                m.6 = b.last;
                m.0 += b.count;
            }
            let bits = |x: [f64; 5]| x.map(f64::to_bits);
            assert_eq!((p.count, p.nan_count), (m.0, m.1), "{c}: counts");
            assert_eq!(
                bits([p.min, p.max, p.sum, p.first, p.last]),
                bits([m.2, m.3, m.4, m.5, m.6]),
                "{c}: min, max, sum, first, last"
            );
            assert_eq!(
                p.increase.map(f64::to_bits),
                increase.map(f64::to_bits),
                "{c}: increase"
            );
            compared += 1;
        }
    }
    compared
}

/// The oracle's values are quarters, whose sums come out the same in any order. Here values
/// of every magnitude and sign, and a counter stepping by tenths, make sums and increases
/// that change with the order of their additions, so the step fold of the tiers' chunks
/// (runs of buckets, their sums added several runs at a time) must keep each step bucket's
/// additions in time order to give the tier's buckets merged one by one.
#[test]
fn tier_folds_keep_the_order_of_additions() {
    let mut rng = SplitMix64(0x0dd_5a5e);
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    let meta = MetricMeta {
        kind: MetricKind::Counter,
        ..MetricMeta::default()
    };
    store.set_metric_meta("c", meta).unwrap();
    let mut c = 0.0f64;
    let secs = 3 * HOUR / 1000;
    for i in 0..secs {
        let t = T0 + i * 1000;
        // Gaps of a few minutes now and then: runs of buckets with some missing.
        if (i / 60) % 17 == 5 {
            continue;
        }
        clock.set(t + 999);
        let e = rng.range(0, 20) as i32 - 3;
        let mut g = (rng.range(1, 1000) as f64 / 7.0) * 10f64.powi(e);
        if rng.range(0, 2) == 0 {
            g = -g;
        }
        if rng.range(0, 200) == 0 {
            g = f64::NAN;
        }
        c += rng.range(0, 30) as f64 / 10.0;
        if rng.range(0, 2000) == 0 {
            c = 0.3;
        }
        let samples = [Sample::new("g", &[], t, g), Sample::new("c", &[], t, c)];
        store.write(&samples).unwrap();
        if i % 1200 == 1199 {
            store.maintain().unwrap();
        }
    }
    let mut compared = [0usize; 2];
    // Raw expired (the 10s and 60s tiers answer), then the 10s tier expired too.
    for (k, after) in [3 * HOUR, 27 * HOUR].into_iter().enumerate() {
        clock.set(T0 + secs * 1000 + after);
        store.maintain().unwrap();
        for step in [10_000, MIN, 2 * MIN, 7 * MIN, HOUR] {
            let (from, to) = (T0 - 13_000, T0 + secs * 1000 + 17_000);
            let r = store
                .query_step(&all(), from, to, Duration::from_millis(step as u64))
                .unwrap();
            let lo = from.div_euclid(step) * step;
            let hi = to.div_euclid(step) * step + step;
            for s in &r.series {
                let ctx = format!("+{} s step {} s", after / 1000, step / 1000);
                compared[k] += tier_folds_bit_for_bit(&ctx, &store, s, lo, hi, step);
            }
        }
    }
    // Every step bucket came from a tier, at both clocks.
    assert!(compared.iter().all(|&n| n > 1000), "{compared:?}");
}

const STEPS: [i64; 9] = [
    1_000, 7_000, 10_000, 60_000, 120_000, 300_000, 1_260_000, HOUR, 86_400_000,
];

/// Clocks after the last sample: just ingested, everything sealed and materialised, raw
/// expired, the 10s tier expired.
const CLOCKS: [i64; 4] = [1_000, 40 * MIN, 3 * HOUR, 27 * HOUR];

fn run_case(seed: u64, steps: &[i64], clocks: &[i64]) {
    let mut rng = SplitMix64(seed);
    let case = gen_case(&mut rng);
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    ingest(&store, &clock, &case);
    for &c in clocks {
        clock.set(case.last + c);
        let report = store.maintain().unwrap();
        assert!(report.rollups.warnings.is_empty(), "{:?}", report.rollups);
        let ctx = format!("seed {seed:#x} live {} clock +{} s", case.live, c / 1000);
        check_all(&ctx, &store, &case, &mut rng, steps);
    }
}

#[test]
fn every_query_path_matches_the_oracle() {
    let cases: u64 = std::env::var("TIERLOG_DIFF_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed = match std::env::var("TIERLOG_DIFF_SEED") {
        Ok(_) => SplitMix64::seed_from_env("TIERLOG_DIFF_SEED"),
        Err(_) => 0x5eed_0015,
    };
    println!("TIERLOG_DIFF_SEED={seed:#x} TIERLOG_DIFF_CASES={cases}");
    let mut seeds = SplitMix64(seed);
    for _ in 0..cases {
        run_case(seeds.next_u64(), &STEPS, &CLOCKS);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn any_step_at_any_clock(
        seed in any::<u64>(),
        step_s in prop_oneof![1i64..=120, 120i64..=86_400],
        clock in prop_oneof![1_000i64..=60 * MIN, 60 * MIN..=30 * HOUR],
    ) {
        run_case(seed, &[step_s * 1000], &[clock]);
    }
}
