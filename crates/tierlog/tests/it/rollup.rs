//! Rollup tiers against an oracle: raw data with gaps, several samples in one second, NaNs,
//! negative values, signed zeros, infinities, constant runs and a counter with resets is
//! written with a driven clock (some samples late), materialised step by step, and every
//! bucket of every tier is compared with aggregates computed here, independently, from the
//! samples written: exact for count, nan_count, min, max, first, last and p95; 1e-12
//! relative for sum, avg and increase. Step queries are checked against the same oracle, and
//! the stitching of tiers and raw data with a clock part-way through.

use tierlog_testkit::helpers as common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tierlog::layout::RAW_DIR;

use common::{SplitMix64, T0, fast_tempdir, mean, sel};
use tierlog::{
    BucketPoint, Config, Error, ManualClock, MetricKind, MetricMeta, P95_MERGED, Sample, Store,
    Sync, Tier,
};

/// The tests' raw window span (common::config).
const SPAN: i64 = 600_000;
const HOUR: i64 = 3_600_000;
const DAY: Duration = Duration::from_secs(86_400);

fn tier(name: &str, secs: u64, keep_days: u64) -> Tier {
    Tier::new(name, Duration::from_secs(secs), DAY * keep_days as u32)
}

/// Four tiers, two of them beyond the defaults: configuration alone makes them work.
fn four_tiers() -> Vec<Tier> {
    vec![
        tier("10s", 10, 2),
        tier("60s", 60, 30),
        tier("5m", 300, 60),
        tier("20m", 1200, 90),
    ]
}

/// Raw points are kept a day (longer than any test here looks back), so retention only
/// drops what a test expects it to.
fn config(clock: &Arc<ManualClock>, tiers: Vec<Tier>) -> Config {
    Config {
        tiers: Some(tiers),
        raw_keep: Some(Duration::from_secs(86_400)),
        ..common::config(clock)
    }
    .with_sync(Sync::Never)
}

/// Series of the data set: (metric, label value, counter).
const SERIES: [(&str, &str, bool); 6] = [
    ("temp", "a", false),
    ("temp", "b", false),
    ("flat", "", false),
    ("dup", "", false),
    ("requests_total", "", true),
    ("sparse", "", false),
];

fn key(s: usize) -> String {
    let (m, l, _) = SERIES[s];
    if l.is_empty() {
        format!("{m}{{}}")
    } else {
        format!("{m}{{zone={l}}}")
    }
}

/// The samples (series, ts, value) of second `sec` of the data set.
fn second_samples(
    rng: &mut SplitMix64,
    st: &mut [f64; 6],
    gap: &mut [i64; 6],
    sec: i64,
) -> Vec<(usize, i64, f64)> {
    let mut out = Vec::new();
    let ts = |ms: u64| T0 + sec * 1000 + ms as i64;
    for s in 0..SERIES.len() {
        if gap[s] > 0 {
            gap[s] -= 1;
            continue;
        }
        if rng.range(0, 400) == 0 {
            gap[s] = rng.range(30, 900) as i64;
        }
        let r = rng.range(0, 1000);
        match s {
            // Gauges with one decimal, a random walk; NaNs now and then.
            0 | 1 => {
                st[s] = ((st[s] * 10.0).round() + rng.range(0, 7) as f64 - 3.0) / 10.0;
                let v = match r {
                    0..=19 => f64::NAN,
                    20..=24 if s == 1 => -0.0,
                    25..=29 if s == 1 => 0.0,
                    _ => st[s],
                };
                out.push((s, ts(rng.range(0, 1000)), v));
            }
            // Constant runs.
            2 => {
                if r < 3 {
                    st[s] = rng.range(0, 40) as f64 * 0.25;
                }
                out.push((s, ts(rng.range(0, 1000)), st[s]));
            }
            // Two or three samples in one second: the point is their mean.
            3 => {
                for _ in 0..rng.range(1, 4) {
                    let v = (rng.range(0, 20_000) as f64 - 10_000.0) / 100.0;
                    out.push((s, ts(rng.range(0, 1000)), v));
                }
            }
            // A counter with resets and the odd NaN.
            4 => {
                if r < 2 {
                    st[s] = rng.range(0, 5) as f64;
                } else {
                    st[s] += rng.range(0, 20) as f64;
                }
                let v = if r > 995 { f64::NAN } else { st[s] };
                out.push((s, ts(rng.range(0, 1000)), v));
            }
            // Sparse, large, the odd infinity.
            _ => {
                if sec % 37 == 0 {
                    let v = match r {
                        0..=9 => f64::INFINITY,
                        10..=14 => f64::NEG_INFINITY,
                        _ => rng.next_u64() as f64 / 1e13,
                    };
                    out.push((s, ts(rng.range(0, 1000)), v));
                }
            }
        }
    }
    out
}

/// The raw points the store must hold: per series, second start → samples in arrival order.
type Arrived = Vec<BTreeMap<i64, Vec<f64>>>;

fn raw_points(arrived: &Arrived, s: usize) -> Vec<(i64, f64)> {
    arrived[s].iter().map(|(&t, v)| (t, mean(v))).collect()
}

/// Writes `secs` seconds of data from `from_sec` on, one batch per second with the clock at
/// the end of that second; one sample in 20 arrives 1-90 s late. Calls `maintain` every 20
/// minutes of data when `maintain_every` is set.
fn ingest(
    store: &Store,
    clock: &ManualClock,
    seed: u64,
    secs: i64,
    maintain_every: bool,
) -> Arrived {
    let mut rng = SplitMix64(seed);
    let mut st = [40.0, -5.0, 1.0, 0.0, 1000.0, 0.0];
    let mut gap = [0i64; 6];
    let mut arrived: Arrived = vec![BTreeMap::new(); SERIES.len()];
    let mut late: BTreeMap<i64, Vec<(usize, i64, f64)>> = BTreeMap::new();
    let label_sets: Vec<Vec<(&str, &str)>> = SERIES
        .iter()
        .map(|(_, l, _)| {
            if l.is_empty() {
                vec![]
            } else {
                vec![("zone", *l)]
            }
        })
        .collect();
    for sec in 0..secs + 91 {
        let mut batch = if sec < secs {
            second_samples(&mut rng, &mut st, &mut gap, sec)
        } else {
            Vec::new()
        };
        let mut now = Vec::new();
        for x in batch.drain(..) {
            if rng.range(0, 20) == 0 {
                late.entry(sec + rng.range(1, 91) as i64)
                    .or_default()
                    .push(x);
            } else {
                now.push(x);
            }
        }
        now.extend(late.remove(&sec).unwrap_or_default());
        clock.set(T0 + sec * 1000 + 999);
        if !now.is_empty() {
            let samples: Vec<Sample<'_>> = now
                .iter()
                .map(|&(s, t, v)| Sample::new(SERIES[s].0, &label_sets[s], t, v))
                .collect();
            let sum = store.write(&samples).expect("write");
            assert_eq!(sum.accepted, samples.len() as u64, "second {sec}: {sum:?}");
            for &(s, t, v) in &now {
                arrived[s]
                    .entry(t.div_euclid(1000) * 1000)
                    .or_default()
                    .push(v);
            }
        }
        if sec == 0 {
            let meta = MetricMeta {
                kind: MetricKind::Counter,
                ..MetricMeta::default()
            };
            store.set_metric_meta("requests_total", meta).expect("meta");
        }
        if maintain_every && sec % 1200 == 1199 {
            store.maintain().expect("maintain");
        }
    }
    arrived
}

/// One expected bucket.
#[derive(Debug, Clone, Copy)]
struct Expected {
    start: i64,
    count: u64,
    nan_count: u64,
    min: f64,
    max: f64,
    sum: f64,
    first: f64,
    last: f64,
    p95: f64,
    increase: Option<f64>,
    /// Sum of the absolute values and of the absolute counter steps: the scale of the
    /// rounding error of a sum taken in another order (a merge of several buckets).
    abs_sum: f64,
    abs_inc: f64,
}

/// Buckets of `interval` over `points`, computed the plain way: sort, pick, add in time order.
/// A counter step from the previous non-NaN point `p` to `v` counts when `step_counts(p.ts,
/// v.ts)` says so (the store takes a piece's first step from the raw window before it only).
fn oracle(
    points: &[(i64, f64)],
    interval: i64,
    counter: bool,
    step_counts: impl Fn(i64, i64) -> bool,
) -> Vec<Expected> {
    let mut by_bucket: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
    for &(t, v) in points {
        by_bucket
            .entry(t.div_euclid(interval) * interval)
            .or_default()
            .push((t, v));
    }
    let mut out = Vec::new();
    for (start, pts) in by_bucket {
        let vals: Vec<f64> = pts.iter().map(|p| p.1).filter(|v| !v.is_nan()).collect();
        let nan_count = (pts.len() - vals.len()) as u64;
        let mut sorted = vals.clone();
        sorted.sort_by(f64::total_cmp);
        let n = vals.len();
        let rank = (95 * n).div_ceil(100);
        let nan = f64::NAN;
        let mut sum = nan;
        for (i, v) in vals.iter().enumerate() {
            sum = if i == 0 { *v } else { sum + v };
        }
        let mut abs_inc = 0.0;
        let increase = counter.then(|| {
            let mut inc: Option<f64> = None;
            for &(t, v) in pts.iter().filter(|p| !p.1.is_nan()) {
                let prev = points
                    .iter()
                    .rev()
                    .find(|p| p.0 < t && !p.1.is_nan())
                    .filter(|p| step_counts(p.0, t));
                if let Some(&(_, p)) = prev {
                    let step = if v >= p { v - p } else { v };
                    abs_inc += step.abs();
                    inc = Some(inc.map_or(step, |a| a + step));
                }
            }
            inc.unwrap_or(0.0)
        });
        out.push(Expected {
            start,
            count: n as u64,
            nan_count,
            min: sorted.first().copied().unwrap_or(nan),
            max: sorted.last().copied().unwrap_or(nan),
            sum,
            first: vals.first().copied().unwrap_or(nan),
            last: vals.last().copied().unwrap_or(nan),
            p95: if n == 0 { nan } else { sorted[rank - 1] },
            increase,
            abs_sum: vals.iter().map(|v| v.abs()).sum(),
            abs_inc,
        });
    }
    out
}

/// The store's rule for counters, whatever the source (raw points or any tier): a point
/// steps from the previous non-NaN point when that one lies no earlier than the start of the
/// raw window before the point's own window.
fn window_rule(_interval: i64) -> impl Fn(i64, i64) -> bool {
    move |p, t| p >= t.div_euclid(SPAN) * SPAN - SPAN
}

/// The interval of a tier of these tests, by name (`None` for raw).
fn interval_of(tier: &str) -> Option<i64> {
    let (n, unit) = tier.split_at(tier.len() - 1);
    let n: i64 = n.parse().ok()?;
    match unit {
        "s" => Some(n * 1000),
        "m" => Some(n * 60_000),
        _ => None,
    }
}

fn same_bits(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn close(a: f64, b: f64) -> bool {
    same_bits(a, b) || a == b || ((a - b).abs() <= 1e-12 * a.abs().max(b.abs()))
}

/// Compares a query's buckets with the oracle's, field by field; `p95` may be required to be
/// present (Some) or merely equal when present.
fn compare(ctx: &str, got: &[BucketPoint], want: &[Expected], p95_required: bool) {
    assert_eq!(
        got.iter().map(|b| b.t).collect::<Vec<_>>(),
        want.iter().map(|e| e.start).collect::<Vec<_>>(),
        "{ctx}: bucket starts"
    );
    for (g, w) in got.iter().zip(want) {
        let c = format!("{ctx} bucket {} (+{} s)", g.t, (g.t - T0) / 1000);
        assert_eq!(
            (g.count, g.nan_count),
            (w.count, w.nan_count),
            "{c}: counts"
        );
        for (what, a, b) in [
            ("min", g.min, w.min),
            ("max", g.max, w.max),
            ("first", g.first, w.first),
            ("last", g.last, w.last),
        ] {
            assert!(same_bits(a, b), "{c}: {what} {a:?} != {b:?}");
        }
        // A step bucket merged from several tier buckets adds partial sums: exact up to the
        // rounding of another order of additions, bounded by the sum of absolute values (with
        // cancellation the relative error of the sum itself can be large).
        let merged = interval_of(&g.tier).is_some_and(|i| i != g.width_ms);
        let near =
            |a: f64, b: f64, scale: f64| close(a, b) || (merged && (a - b).abs() <= 1e-12 * scale);
        assert!(
            near(g.sum, w.sum, w.abs_sum),
            "{c}: sum {} != {}",
            g.sum,
            w.sum
        );
        let avg = w.sum / w.count as f64;
        assert!(
            near(g.avg, avg, w.abs_sum / w.count as f64),
            "{c}: avg {} != {avg}",
            g.avg
        );
        match g.p95 {
            Some(p) => assert!(same_bits(p, w.p95), "{c}: p95 {p:?} != {:?}", w.p95),
            None => assert!(!p95_required, "{c}: p95 missing ({:?})", g.p95_note),
        }
        match (g.increase, w.increase) {
            (Some(a), Some(b)) => assert!(near(a, b, w.abs_inc), "{c}: increase {a} != {b}"),
            (a, b) => assert_eq!(a.is_some(), b.is_some(), "{c}: increase presence"),
        }
    }
}

fn by_key(r: &tierlog::BucketResult) -> BTreeMap<String, Vec<BucketPoint>> {
    assert!(r.warnings.is_empty(), "warnings: {:?}", r.warnings);
    r.series
        .iter()
        .map(|s| {
            (
                format!("{}{{{}}}", s.metric, s.labels.to_kv_string()),
                s.points.clone(),
            )
        })
        .collect()
}

fn all() -> tierlog::Selector {
    sel("{__name__=~\".+\"}")
}

#[test]
fn every_bucket_of_every_tier_equals_the_oracle() {
    let seed = SplitMix64::seed_from_env("TIERLOG_ROLLUP_SEED");
    println!("TIERLOG_ROLLUP_SEED={seed:#x}");
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock, four_tiers())).unwrap();
    let secs = 3 * 3600;
    let arrived = ingest(&store, &clock, seed, secs, true);
    // Everything final (the last window sealed), raw points still kept.
    clock.set(T0 + 4 * HOUR);
    let report = store.maintain().unwrap();
    assert!(report.rollups.lost.is_empty() && report.rollups.warnings.is_empty());
    // Pieces were compacted: the 10s tier's 4 h span ending at midnight (T0 + 2 h) and the
    // day of the 60s, 5m and 20m tiers are one file each.
    let files = |t: &str| std::fs::read_dir(dir.path().join(t)).unwrap().count();
    // Each: that file and the third hour's pieces (10 min: 6; the 20m tier's 20 min: 3).
    assert_eq!(
        [files("10s"), files("60s"), files("5m"), files("20m")],
        [7, 7, 7, 4]
    );
    let v = tierlog_tools::inspect::verify_dir(dir.path(), |_| {}).unwrap();
    assert!(v.is_clean() && v.notices.is_empty(), "{v:?}");
    // Materialised again after a reopen: nothing more to do, same answers.
    drop(store);
    let store = Store::open(dir.path(), config(&clock, four_tiers())).unwrap();
    assert_eq!(store.maintain().unwrap().rollups.pieces, 0);

    for t in four_tiers() {
        let interval = t.interval.as_millis() as i64;
        let got = by_key(
            &store
                .query_tier(&all(), i64::MIN, i64::MAX, &t.name)
                .unwrap(),
        );
        assert_eq!(got.len(), SERIES.len(), "tier {}: series", t.name);
        for (s, &(_, _, counter)) in SERIES.iter().enumerate() {
            let pts = raw_points(&arrived, s);
            let want = oracle(&pts, interval, counter, window_rule(interval));
            let ctx = format!("seed {seed:#x} tier {} {}", t.name, key(s));
            let g = &got[&key(s)];
            assert!(
                g.iter()
                    .all(|b| *b.tier == t.name && b.width_ms == interval)
            );
            compare(&ctx, g, &want, true);
        }
    }

    // Step queries: 60 s from the 60s tier; 120 s merged from it with p95 from raw points
    // (still kept); 7 s (no tier divides it) from raw points.
    let end = T0 + secs * 1000;
    for (step, tier_name) in [(60, "60s"), (120, "60s"), (600, "5m"), (7, "raw")] {
        let step_ms = step * 1000;
        let r = store
            .query_step(&all(), T0, end, Duration::from_secs(step as u64))
            .unwrap();
        let got = by_key(&r);
        for (s, &(_, _, counter)) in SERIES.iter().enumerate() {
            let pts = raw_points(&arrived, s);
            // Tier- and raw-sourced increases follow the one window rule.
            let want = oracle(&pts, step_ms, counter, window_rule(step_ms));
            let ctx = format!("seed {seed:#x} step {step}s {}", key(s));
            let g = &got[&key(s)];
            assert!(
                g.iter()
                    .all(|b| &*b.tier == tier_name && b.width_ms == step_ms),
                "{ctx}: sources {:?}",
                g.iter().map(|b| b.tier.to_string()).collect::<Vec<_>>()
            );
            compare(&ctx, g, &want, true);
        }
    }
}

/// 1 h of data with the clock at +60 min: windows up to +50 min are sealed (end + 5 min
/// grace), so the tiers hold +0..50 min and raw the rest.
fn stitched_store(dir: &Path, clock: &Arc<ManualClock>, tiers: Vec<Tier>) -> (Store, Arrived) {
    let store = Store::open(dir, config(clock, tiers)).unwrap();
    let arrived = ingest(&store, clock, 7, 3600, false);
    clock.set(T0 + HOUR);
    store.maintain().unwrap();
    (store, arrived)
}

#[test]
fn step_queries_stitch_tiers_and_raw_and_never_invent_a_p95() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let two = vec![tier("10s", 10, 2), tier("60s", 60, 30)];
    let (store, arrived) = stitched_store(dir.path(), &clock, two.clone());
    let done = T0 + 50 * 60_000;
    let stats = store.stats();
    assert_eq!(stats.tiers[2].materialised_through_ms, Some(done));
    let expect = |step_s: i64, s: usize, src_interval: i64| {
        oracle(
            &raw_points(&arrived, s),
            step_s * 1000,
            SERIES[s].2,
            window_rule(src_interval),
        )
    };
    // Step 60 s: the 60s tier up to +50 min, raw after; every value exact.
    let got = by_key(
        &store
            .query_step(&all(), T0, T0 + HOUR, Duration::from_secs(60))
            .unwrap(),
    );
    for s in 0..SERIES.len() {
        let g = &got[&key(s)];
        for b in g {
            let want = if b.t < done { "60s" } else { "raw" };
            assert_eq!(&*b.tier, want, "{} at +{} s", key(s), (b.t - T0) / 1000);
        }
        // One rule for counters on both sides of the seam.
        compare(
            &format!("60 s tier and raw {}", key(s)),
            g,
            &expect(60, s, 60_000),
            true,
        );
    }

    // A tier added to an existing store starts from the oldest raw data; until it has caught
    // up, step queries fall back to the finer tier (merged, p95 from the raw points).
    drop(store);
    let mut three = two.clone();
    three.push(tier("5m", 300, 60));
    let store = Store::open(dir.path(), config(&clock, three.clone())).unwrap();
    let step5 = |store: &Store| {
        by_key(
            &store
                .query_step(&all(), T0, done, Duration::from_secs(300))
                .unwrap(),
        )
    };
    for (k, g) in step5(&store) {
        assert!(
            g.iter().all(|b| &*b.tier == "60s" && b.p95.is_some()),
            "{k}"
        );
    }
    let r = store.maintain().unwrap();
    assert_eq!(r.rollups.pieces, 5, "{:?}", r.rollups);
    let got = step5(&store);
    for s in 0..SERIES.len() {
        let g = &got[&key(s)];
        assert!(g.iter().all(|b| &*b.tier == "5m"));
        let want: Vec<Expected> = expect(300, s, 300_000)
            .into_iter()
            .filter(|e| e.start < done)
            .collect();
        compare(&format!("5m {}", key(s)), g, &want, true);
    }

    // Raw data gone (as retention will drop it): a step that merges several tier buckets
    // has no exact p95 any more and says so; a step equal to the interval still has one.
    drop(store);
    for w in 0..2 {
        std::fs::remove_file(common::seg_path(dir.path(), T0 + w * SPAN)).unwrap();
    }
    let store = Store::open(dir.path(), config(&clock, three)).unwrap();
    let gone = T0 + 2 * SPAN;
    let got = by_key(
        &store
            .query_step(&all(), T0, gone, Duration::from_secs(120))
            .unwrap(),
    );
    for s in 0..SERIES.len() {
        let g = &got[&key(s)];
        assert!(!g.is_empty());
        assert!(g.iter().all(|b| &*b.tier == "60s"));
        // Every 120 s bucket built from two 60 s buckets has no p95; from one, it keeps it.
        let want: Vec<Expected> = expect(120, s, 60_000)
            .into_iter()
            .filter(|e| e.start < gone)
            .collect();
        compare(&format!("120 s without raw {}", key(s)), g, &want, false);
        let tier60 = by_key(&store.query_tier(&all(), T0, gone, "60s").unwrap());
        for b in g {
            let parts = tier60[&key(s)]
                .iter()
                .filter(|x| x.t >= b.t && x.t < b.t + 120_000)
                .count();
            if parts > 1 {
                assert_eq!((b.p95, b.p95_note), (None, Some(P95_MERGED)), "{}", key(s));
            } else {
                assert!(b.p95.is_some());
            }
        }
    }
    let r = store
        .query_step(&all(), T0, gone, Duration::from_secs(60))
        .unwrap();
    assert!(
        r.series
            .iter()
            .all(|s| s.points.iter().all(|b| b.p95.is_some()))
    );
}

#[test]
fn queries_refuse_unknown_tiers_and_bad_steps() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock, four_tiers())).unwrap();
    let e = store.query_tier(&all(), 0, 1, "1h").unwrap_err();
    assert!(
        matches!(&e, Error::InvalidQuery { message } if message.contains("10s, 60s, 5m, 20m")),
        "{e}"
    );
    for step in [Duration::ZERO, Duration::from_millis(1500)] {
        assert!(matches!(
            store.query_step(&all(), 0, 1, step),
            Err(Error::InvalidQuery { .. })
        ));
    }
}

#[test]
fn the_store_remembers_its_tiers() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let (store, _) = stitched_store(dir.path(), &clock, four_tiers());
    drop(store);
    assert_eq!(
        Store::stored_config(dir.path())
            .unwrap()
            .unwrap()
            .tiers()
            .to_vec(),
        four_tiers()
    );
    // A writer without one of the store's tiers, or with another interval under its name,
    // is refused with an error naming the setting.
    for tiers in [
        vec![tier("10s", 10, 2), tier("60s", 60, 30), tier("5m", 300, 60)],
        vec![
            tier("10s", 10, 2),
            tier("60s", 120, 30),
            tier("5m", 300, 60),
            tier("20m", 1200, 90),
        ],
    ] {
        match Store::open(dir.path(), config(&clock, tiers)) {
            Err(Error::Config {
                setting: "tiers",
                message,
            }) => {
                assert!(
                    message.contains("20m") || message.contains("60s"),
                    "{message}"
                )
            }
            other => panic!("expected a tiers error, got {other:?}"),
        }
    }
    // Keep times may change; a reader configured with no tiers at all adopts the store's.
    let mut longer = four_tiers();
    longer[3].keep = DAY * 365;
    drop(Store::open(dir.path(), config(&clock, longer)).unwrap());
    let reader = Store::open_read_only(dir.path(), config(&clock, vec![])).unwrap();
    let r = reader
        .query_tier(&all(), i64::MIN, i64::MAX, "20m")
        .unwrap();
    assert_eq!(r.series.len(), SERIES.len());
    assert_eq!(reader.config().tiers()[3].keep, DAY * 365);

    // Configurations whose buckets could not be computed from raw points are refused.
    let bad = Config {
        raw_keep: Some(Duration::from_secs(3600)),
        tiers: Some(vec![tier("10s", 10, 1), tier("1h", 3600, 30)]),
        ..common::config(&clock)
    };
    let other = fast_tempdir();
    match Store::open(other.path(), bad) {
        Err(Error::Config {
            setting: "tiers",
            message,
        }) => {
            assert!(message.contains("raw keep"), "{message}")
        }
        r => panic!("expected a tiers error, got {:?}", r.map(|_| ())),
    }
}

#[test]
fn step_queries_work_when_no_raw_data_is_left() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let (store, _) = stitched_store(dir.path(), &clock, four_tiers());
    drop(store);
    for e in std::fs::read_dir(dir.path().join(RAW_DIR)).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let store = Store::open(dir.path(), config(&clock, four_tiers())).unwrap();
    let r = store
        .query_step(&all(), T0, T0 + HOUR, Duration::from_secs(120))
        .unwrap();
    assert_eq!(r.series.len(), SERIES.len());
    for s in &r.series {
        // Up to +50 min from the 60s tier, two buckets per step: no exact p95 left.
        assert!(
            s.points
                .iter()
                .all(|b| *b.tier == *"60s" && b.t < T0 + 50 * 60_000)
        );
        assert!(s.points.iter().any(|b| b.p95_note == Some(P95_MERGED)));
    }
}

#[test]
fn a_coarser_tier_answers_where_finer_data_is_gone() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let two = vec![tier("10s", 10, 2), tier("60s", 60, 30)];
    let (store, arrived) = stitched_store(dir.path(), &clock, two.clone());
    drop(store);
    // As retention will: raw and the 10s tier gone for the first 20 minutes.
    for w in 0..2 {
        std::fs::remove_file(common::seg_path(dir.path(), T0 + w * SPAN)).unwrap();
        std::fs::remove_file(common::tier_seg_path(dir.path(), "10s", T0 + w * SPAN)).unwrap();
    }
    let store = Store::open(dir.path(), config(&clock, two)).unwrap();
    let mut r = store
        .query_step(&all(), T0, T0 + 30 * 60_000, Duration::from_secs(10))
        .unwrap();
    // Buckets wider than the step are not what was asked for: the answer says so.
    assert!(
        r.warnings.len() == 1 && r.warnings[0].contains("60s tier"),
        "{:?}",
        r.warnings
    );
    r.warnings.clear();
    let got = by_key(&r);
    let cut = T0 + 2 * SPAN;
    for s in 0..SERIES.len() {
        let g = &got[&key(s)];
        let (old, new): (Vec<BucketPoint>, Vec<BucketPoint>) =
            g.iter().cloned().partition(|b| b.t < cut);
        // The old part at the 60s tier's own resolution, each point saying so.
        assert!(
            old.iter()
                .all(|b| *b.tier == *"60s" && b.width_ms == 60_000)
        );
        let want: Vec<Expected> = oracle(
            &raw_points(&arrived, s),
            60_000,
            SERIES[s].2,
            window_rule(60_000),
        )
        .into_iter()
        .filter(|e| e.start < cut)
        .collect();
        compare(&format!("60 s fallback {}", key(s)), &old, &want, true);
        // The rest from the 10s tier.
        assert!(
            !new.is_empty()
                && new
                    .iter()
                    .all(|b| *b.tier == *"10s" && b.width_ms == 10_000)
        );
    }
}

#[test]
fn the_maintenance_thread_materialises_and_compacts_on_its_own() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let cfg = Config {
        maintenance_interval: Some(Duration::from_millis(20)),
        ..config(&clock, four_tiers())
    };
    let store = Store::open(dir.path(), cfg).unwrap();
    let arrived = ingest(&store, &clock, 5, 3 * 3600, false);
    clock.set(T0 + 27 * HOUR);
    // No maintain() call: the thread seals the last windows, then materialises (a bounded
    // number of pieces per pass) and compacts.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let want_done = Some(T0 + 3 * HOUR);
    loop {
        let st = store.stats();
        let done: Vec<_> = st.tiers[1..]
            .iter()
            .map(|t| t.materialised_through_ms)
            .collect();
        if done.iter().all(|d| *d == want_done)
            && std::fs::read_dir(dir.path().join("20m")).unwrap().count() == 4
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not caught up: {done:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = by_key(&store.query_tier(&all(), i64::MIN, i64::MAX, "60s").unwrap());
    for (s, &(_, _, counter)) in SERIES.iter().enumerate() {
        let want = oracle(
            &raw_points(&arrived, s),
            60_000,
            counter,
            window_rule(60_000),
        );
        compare(
            &format!("background {}", key(s)),
            &got[&key(s)],
            &want,
            true,
        );
    }
}

/// Writes `m{s="a"}` (a counter once `counter_from` is passed) at 1 per 10 s over `[from, to)`.
fn write_span(store: &Store, clock: &ManualClock, from: i64, to: i64) {
    let mut t = from;
    while t < to {
        clock.set(t);
        store
            .write(&[Sample::new("m", &[("s", "a")], t, ((t - T0) / 1000) as f64)])
            .unwrap();
        t += 10_000;
    }
}

#[test]
fn keep_times_whose_spans_do_not_nest_never_double_a_bucket() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    // 10s kept 2 days: 4 h segment spans; then 3 days: 6 h spans, which cut across them.
    let with_keep = |days: u64| vec![tier("10s", 10, days), tier("60s", 60, 30)];
    let store = Store::open(dir.path(), config(&clock, with_keep(2))).unwrap();
    write_span(&store, &clock, T0, T0 + 10 * HOUR);
    // Everything up to T0 + 10 h (08:00 UTC) materialised: the 4 h span 04:00-08:00 is one
    // segment, which the 6 h span 06:00-12:00 cuts.
    clock.set(T0 + 10 * HOUR + 600_000);
    store.maintain().unwrap();
    drop(store);
    let store = Store::open(dir.path(), config(&clock, with_keep(3))).unwrap();
    write_span(&store, &clock, T0 + 10 * HOUR, T0 + 20 * HOUR);
    clock.set(T0 + 21 * HOUR);
    store.maintain().unwrap();
    let check = |store: &Store| {
        let r = store.query_tier(&all(), i64::MIN, i64::MAX, "10s").unwrap();
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let ts: Vec<i64> = r.series[0].points.iter().map(|b| b.t).collect();
        assert!(ts.windows(2).all(|w| w[0] < w[1]), "a bucket twice");
        assert_eq!(ts.len(), 20 * 360, "every 10 s bucket of 20 h once");
    };
    check(&store);
    drop(store);
    // And the store still opens, with nothing damaged.
    let store = Store::open(dir.path(), config(&clock, with_keep(3))).unwrap();
    assert!(store.stats().tiers.iter().all(|t| t.corrupt_segments == 0));
    check(&store);
    // A tier query with its range backwards is empty, not a panic.
    let r = store.query_tier(&all(), T0 + 10 * HOUR, T0, "10s").unwrap();
    assert!(r.series.is_empty());
}

#[test]
fn a_metric_that_becomes_a_counter_mid_span_compacts() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock, four_tiers())).unwrap();
    write_span(&store, &clock, T0, T0 + HOUR);
    store.maintain().unwrap();
    let meta = MetricMeta {
        kind: MetricKind::Counter,
        ..MetricMeta::default()
    };
    store.set_metric_meta("m", meta).unwrap();
    write_span(&store, &clock, T0 + HOUR, T0 + 6 * HOUR);
    clock.set(T0 + 7 * HOUR);
    let r = store.maintain().unwrap();
    assert!(r.rollups.compacted > 0, "{:?}", r.rollups);
    let b = by_key(&store.query_tier(&all(), i64::MIN, i64::MAX, "10s").unwrap());
    let pts = &b["m{s=a}"];
    assert_eq!(pts.len(), 6 * 360);
    // Buckets from before the change have no increase, those after have one.
    assert!(
        pts.iter()
            .filter(|p| p.t < T0 + HOUR - SPAN)
            .all(|p| p.increase.is_none())
    );
    assert!(
        pts.iter()
            .filter(|p| p.t >= T0 + 2 * HOUR)
            .all(|p| p.increase == Some(10.0))
    );
}

/// Stores written before rollup chunk layout 2 hold version-2 rollup segments (layout 1
/// chunks). A store whose tier files are all rewritten as version 2 opens, verifies clean
/// and answers its tier queries as a store written in the newest version throughout (the
/// same writes); then it materialises new pieces beside the old files (at the newest
/// version), compacts old and new pieces together, and deletes from version-2 files, which
/// keep their version; every answer stays the same as the other store's.
#[test]
fn version_2_rollup_segments_are_read_and_kept_beside_newer_ones() {
    old_rollup_segments_are_read_and_kept(2, 15_000);
}

/// As above for version-4 files (layout 2 without p95 offsets), scraped at 1 Hz so that the
/// `60s` buckets store p95s: the newest writer stores some as offsets below the max, the
/// version-4 files keep none, also where a delete rewrites them.
#[test]
fn version_4_rollup_segments_are_read_and_kept_beside_newer_ones() {
    old_rollup_segments_are_read_and_kept(4, 1_000);
}

/// As above for version-5 files (layout 2 without count exceptions and min steps): the
/// newest writer stores some chunks with them, the version-5 files keep none, also where a
/// delete rewrites them.
#[test]
fn version_5_rollup_segments_are_read_and_kept_beside_version_6_ones() {
    old_rollup_segments_are_read_and_kept(5, 1_000);
}

fn old_rollup_segments_are_read_and_kept(old_version: u16, step: i64) {
    use tierlog::DeleteOptions;
    use tierlog::format::header::Header;
    use tierlog::rollup::format as rchunk;
    use tierlog::segment::Segment;
    use tierlog::segment::format::{SegmentBuilder, read_rollup_chunk};

    let tiers = || vec![tier("10s", 10, 2), tier("60s", 60, 30)];
    let write = |store: &Store, clock: &ManualClock, from: i64, to: i64| {
        let mut t = from;
        while t < to {
            clock.set(t + 3);
            let s = (t - T0) / 1000;
            // At 1 Hz a missed scrape now and then: some buckets hold fewer points.
            if step == 1_000 && s % 97 == 5 {
                t += step;
                continue;
            }
            let c = if t < T0 + 40 * 60_000 {
                s as f64 * 2.5
            } else {
                (s % 600) as f64 * 0.25
            };
            store
                .write(&[
                    Sample::new(
                        "m",
                        &[("s", "a")],
                        t,
                        (s % 17) as f64 * 0.5 - 3.0 + (s / 60 % 7) as f64,
                    ),
                    Sample::new("req_total", &[], t + 3, c),
                ])
                .unwrap();
            t += step;
        }
    };
    let counter = MetricMeta {
        kind: MetricKind::Counter,
        ..MetricMeta::default()
    };
    // Version of every rollup segment of `dir`, by tier.
    let versions = |dir: &Path| -> BTreeMap<String, Vec<u16>> {
        ["10s", "60s"]
            .iter()
            .map(|t| {
                let mut v: Vec<u16> = std::fs::read_dir(dir.join(t))
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|x| x == "seg"))
                    .map(|p| Segment::open(&p).unwrap().header().version)
                    .collect();
                v.sort_unstable();
                (t.to_string(), v)
            })
            .collect()
    };
    let answers = |store: &Store| -> String {
        ["10s", "60s"]
            .iter()
            .map(|t| {
                format!(
                    "{:?}",
                    by_key(&store.query_tier(&all(), i64::MIN, i64::MAX, t).unwrap())
                )
            })
            .collect()
    };

    let (dir_old, dir_new) = (fast_tempdir(), fast_tempdir());
    let (clock_old, clock_new) = (
        Arc::new(ManualClock::new(T0)),
        Arc::new(ManualClock::new(T0)),
    );
    let old = Store::open(dir_old.path(), config(&clock_old, tiers())).unwrap();
    let new = Store::open(dir_new.path(), config(&clock_new, tiers())).unwrap();
    // Three hours, materialised; the spans ending at T0 + 2 h compacted.
    for (s, c) in [(&old, &clock_old), (&new, &clock_new)] {
        s.set_metric_meta("req_total", counter.clone()).unwrap();
        write(s, c, T0, T0 + 3 * HOUR);
        c.set(T0 + 4 * HOUR);
        s.maintain().unwrap();
    }
    old.close().unwrap();
    // Every tier file of `old` rewritten as a file of the old version.
    let mut rewritten = 0;
    for t in ["10s", "60s"] {
        for e in std::fs::read_dir(dir_old.path().join(t)).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_none_or(|x| x != "seg") {
                continue;
            }
            let seg = Segment::open(&path).unwrap();
            assert_eq!(seg.header().version, rchunk::ROLLUP_VERSION);
            let h = Header {
                version: old_version,
                ..*seg.header()
            };
            let mut b = SegmentBuilder::new(h);
            b.set_partial(seg.partial().iter().copied());
            for e in &seg.footer().entries {
                let mut buckets = Vec::new();
                read_rollup_chunk(seg.bytes(), e, &mut buckets).unwrap();
                let mut chunk = Vec::new();
                rchunk::encode_chunk_at(old_version, &buckets, h.window_start, &mut chunk);
                b.add_chunk(e.series, e.points, e.min_ts, e.max_ts, &chunk);
            }
            let bytes = b.finish();
            drop(seg);
            std::fs::write(&path, bytes).unwrap();
            rewritten += 1;
        }
    }
    assert!(rewritten >= 2);
    assert!(
        versions(dir_old.path())
            .values()
            .flatten()
            .all(|&v| v == old_version)
    );
    // Layout-2 chunks with a form newer than `old_version` (p95 offsets, forms bit 7, from
    // version 5; count exceptions and min steps from version 6), per version, in `dir`'s
    // tier files.
    let offsets = |dir: &Path| -> BTreeMap<u16, usize> {
        use tierlog::rollup::layout2::{
            COUNTS_ONE, COUNTS_SAME, MAX_STEPS, P95_OFFSET, SHORT_HEAD,
        };
        let mut n = BTreeMap::new();
        for t in ["10s", "60s"] {
            for e in std::fs::read_dir(dir.join(t)).unwrap() {
                let path = e.unwrap().path();
                if path.extension().is_none_or(|x| x != "seg") {
                    continue;
                }
                let seg = Segment::open(&path).unwrap();
                let v = seg.header().version;
                for e in &seg.footer().entries {
                    let c = tierlog::segment::format::chunk_bytes(seg.bytes(), e).unwrap();
                    let long = c[0] & SHORT_HEAD == 0;
                    let both = COUNTS_ONE | COUNTS_SAME;
                    let p95 = long && c[1] & P95_OFFSET != 0;
                    let v6 = c[0] & both == both || (long && c[1] & 3 == MAX_STEPS);
                    let with = v >= rchunk::LAYOUT2_SINCE
                        && ((old_version < rchunk::P95_OFFSET_SINCE && p95)
                            || (old_version < rchunk::MIN_STEPS_SINCE && v6));
                    *n.entry(v).or_default() += usize::from(with);
                }
            }
        }
        n
    };
    if step == 1_000 {
        assert!(offsets(dir_new.path())[&rchunk::ROLLUP_VERSION] > 0);
    }
    let old = Store::open(dir_old.path(), config(&clock_old, tiers())).unwrap();
    let v = tierlog_tools::inspect::verify_dir(dir_old.path(), |_| {}).unwrap();
    assert!(v.is_clean(), "{v:?}");
    assert_eq!(answers(&old), answers(&new));

    // Two more hours: new pieces (the newest version) beside the old files.
    for (s, c) in [(&old, &clock_old), (&new, &clock_new)] {
        write(s, c, T0 + 4 * HOUR, T0 + 6 * HOUR);
        c.set(T0 + 7 * HOUR);
        let r = s.maintain().unwrap();
        assert!(r.rollups.warnings.is_empty(), "{:?}", r.rollups);
    }
    let mixed = versions(dir_old.path());
    let all_versions: Vec<u16> = mixed.values().flatten().copied().collect();
    assert!(
        all_versions.contains(&old_version) && all_versions.contains(&rchunk::ROLLUP_VERSION),
        "{mixed:?}"
    );
    assert_eq!(answers(&old), answers(&new));

    // A delete rewrites the old files it touches at their version.
    let before = answers(&old);
    for s in [&old, &new] {
        s.delete(
            &sel("m"),
            Some((T0, T0 + 30 * 60_000)),
            DeleteOptions::default(),
        )
        .unwrap();
    }
    assert_eq!(versions(dir_old.path()), mixed);
    assert_eq!(
        offsets(dir_old.path())
            .get(&old_version)
            .copied()
            .unwrap_or(0),
        0
    );
    assert_ne!(answers(&old), before, "the delete removed buckets");
    assert_eq!(answers(&old), answers(&new));
    let v = tierlog_tools::inspect::verify_dir(dir_old.path(), |_| {}).unwrap();
    assert!(v.is_clean(), "{v:?}");
}
