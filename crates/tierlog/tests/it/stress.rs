//! Concurrency stress: many reader threads, one writer and maintenance (the background thread
//! and a thread calling `maintain()` in a loop) on one store, bounded in time and operations.
//! Every query result is checked against a model: the writer writes one sample per series and
//! second, in time order, with values that are a function of (series, second), and publishes
//! how many batches were acknowledged. A reader's raw answer must hold every sample
//! acknowledged before the query started, nothing the writer had not started to write when the
//! query ended, no holes, values bit-exact; tier and step buckets must equal the aggregates of
//! the raw points they cover.
//!
//! CI runs a short version. For a long run:
//! `TIERLOG_STRESS_SECS=300 TIERLOG_STRESS_READERS=16 TIERLOG_STRESS_BATCHES=2000000 cargo test --release --test stress -- --nocapture`

use tierlog_testkit::helpers as common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{SplitMix64, T0, sel};
use tierlog::{Config, ManualClock, Sample, Selector, Store, Sync, Tier};

/// Series written each batch (one sample each, all at the batch's second).
const SERIES: u64 = 12;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The timestamp of batch `b`: one second each, at a quarter past the second start (points
/// are second starts).
fn ts_of(b: u64) -> i64 {
    T0 + b as i64 * 1_000 + 250
}

/// The value of series `s` at batch `b`: a multiple of 0.25 below 2^20 in magnitude, so sums of
/// a few thousand are exact in any order; sometimes -0.0.
fn value(s: u64, b: u64) -> f64 {
    let h = SplitMix64(s.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b).next_u64();
    if h.is_multiple_of(97) {
        return -0.0;
    }
    ((h >> 8) % 8_000_001) as f64 * 0.25 - 1_000_000.0
}

/// The batch index of a point timestamp (a second start).
fn batch_of(t: i64) -> u64 {
    assert!(t >= T0 && (t - T0).rem_euclid(1_000) == 0, "point time {t}");
    ((t - T0) / 1_000) as u64
}

/// First batch whose point is at or after `from`.
fn first_batch_at(from: i64) -> u64 {
    if from <= T0 {
        0
    } else {
        ((from - T0) as u64).div_ceil(1_000)
    }
}

fn config(clock: Arc<ManualClock>) -> Config {
    Config {
        window_span: Duration::from_secs(60),
        grace: Duration::from_secs(5),
        maintenance_interval: Some(Duration::from_millis(3)),
        ..Config::default()
    }
    .with_clock(clock)
    .with_sync(Sync::Interval(Duration::from_millis(20)))
    // Nothing expires during a run: the model keeps everything.
    .with_raw_keep(Duration::from_secs(30 * 86_400))
    .with_tiers(vec![
        Tier::new(
            "1m",
            Duration::from_secs(60),
            Duration::from_secs(60 * 86_400),
        ),
        Tier::new(
            "5m",
            Duration::from_secs(300),
            Duration::from_secs(90 * 86_400),
        ),
    ])
}

/// Batches the writer has started (written or being written) and acknowledged.
struct Progress {
    started: AtomicU64,
    acked: AtomicU64,
    done: AtomicBool,
}

#[derive(Default, Debug)]
struct Checked {
    raw: u64,
    iter: u64,
    tier: u64,
    step: u64,
    points: u64,
    buckets: u64,
}

/// Checks the points of series `s` over `[from, to)`: consecutive batches from the first in
/// range, values bit-exact; at least up to `acked` and at most up to `started` (batches).
fn check_series(s: u64, points: &[(i64, f64)], from: i64, to: i64, acked: u64, started: u64) {
    let first = first_batch_at(from);
    let end = if to <= T0 { 0 } else { first_batch_at(to) };
    for (k, &(t, v)) in points.iter().enumerate() {
        let b = first + k as u64;
        assert_eq!(
            t,
            T0 + b as i64 * 1_000,
            "series {s}: hole or extra point at {k}"
        );
        assert!(
            b < started,
            "series {s}: batch {b} seen, only {started} started"
        );
        assert_eq!(
            v.to_bits(),
            value(s, b).to_bits(),
            "series {s} batch {b}: value"
        );
    }
    let want_at_least = acked.min(end).saturating_sub(first);
    assert!(
        points.len() as u64 >= want_at_least,
        "series {s} over [{from}, {to}): {} points, {want_at_least} acknowledged before the query",
        points.len()
    );
    assert!(
        points.last().is_none_or(|&(t, _)| t < to)
            && points.first().is_none_or(|&(t, _)| t >= from)
    );
}

/// The exact aggregates of series `s` over batches `[lo, hi)`: count, sum, min, max, first, last.
fn aggregate(s: u64, lo: u64, hi: u64) -> (u64, f64, f64, f64, f64, f64) {
    let vals: Vec<f64> = (lo..hi).map(|b| value(s, b)).collect();
    let sum = vals.iter().sum::<f64>();
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (hi - lo, sum, min, max, vals[0], vals[vals.len() - 1])
}

fn series_of(labels: &tierlog::Labels) -> u64 {
    labels.get("s").parse().expect("series label")
}

/// Checks buckets against the model. A bucket covers whole seconds `[bl, bh)` (in batches);
/// its points are the batches visible to the query, a prefix `[bl, bl + count)` holding at least
/// what was acknowledged before the query and nothing not yet started; its aggregates are
/// exactly those of that prefix.
fn check_buckets(r: &tierlog::BucketResult, acked: u64, started: u64, ctx: &str) -> u64 {
    assert!(r.warnings.is_empty(), "{ctx}: {:?}", r.warnings);
    let mut n = 0;
    for sb in &r.series {
        let s = series_of(&sb.labels);
        for p in &sb.points {
            n += 1;
            let (bl, bh) = (batch_of(p.t), batch_of(p.t + p.width_ms));
            let seen = bl + p.count;
            assert!(p.count > 0, "{ctx}: series {s}: empty bucket {p:?}");
            assert!(
                seen <= bh,
                "{ctx}: series {s}: bucket {p:?} holds too many points"
            );
            assert!(
                seen <= started,
                "{ctx}: series {s}: bucket {p:?}: only {started} started"
            );
            assert!(
                seen >= acked.min(bh),
                "{ctx}: series {s}: bucket {p:?} misses acknowledged points ({acked})"
            );
            let (count, sum, min, max, first, last) = aggregate(s, bl, seen);
            let what = format!("{ctx}: series {s} bucket at {}", p.t);
            assert_eq!(p.count, count, "{what}: count");
            assert_eq!(p.nan_count, 0, "{what}: nan_count");
            assert_eq!(p.sum, sum, "{what}: sum");
            assert_eq!(p.min, min, "{what}: min");
            assert_eq!(p.max, max, "{what}: max");
            assert_eq!(p.first.to_bits(), first.to_bits(), "{what}: first");
            assert_eq!(p.last.to_bits(), last.to_bits(), "{what}: last");
        }
    }
    n
}

fn reader(store: &Store, progress: &Progress, seed: u64) -> Checked {
    let mut rng = SplitMix64(seed);
    let mut c = Checked::default();
    let all = Selector::metric("stress");
    while !progress.done.load(Ordering::SeqCst) {
        let acked = progress.acked.load(Ordering::SeqCst);
        let span = acked.max(1) as i64 * 1_000;
        let from = T0 - 5_000 + rng.range(0, span as u64 + 10_000) as i64;
        let to = from + rng.range(1, span as u64 + 20_000) as i64;
        let one = rng.range(0, 3) == 0;
        let s_pick = rng.range(0, SERIES);
        let selector = if one {
            sel(&format!("stress{{s=\"{s_pick}\"}}"))
        } else {
            all.clone()
        };
        match rng.range(0, 5) {
            0 | 1 => {
                let r = store.query(&selector, from, to).expect("query");
                let started = progress.started.load(Ordering::SeqCst);
                assert!(r.warnings.is_empty(), "{:?}", r.warnings);
                check_all(&r.series, one, s_pick, from, to, acked, started, &mut c);
                c.raw += 1;
            }
            2 => {
                let mut it = store.query_iter(&selector, from, to).expect("query_iter");
                let series: Vec<_> = it.by_ref().collect();
                let started = progress.started.load(Ordering::SeqCst);
                assert!(it.warnings().is_empty(), "{:?}", it.warnings());
                check_all(&series, one, s_pick, from, to, acked, started, &mut c);
                c.iter += 1;
            }
            3 => {
                let tier = if rng.range(0, 2) == 0 { "1m" } else { "5m" };
                let r = store
                    .query_tier(&selector, from, to, tier)
                    .expect("query_tier");
                let started = progress.started.load(Ordering::SeqCst);
                // Rollup buckets hold sealed windows only: always complete.
                for sb in &r.series {
                    for p in &sb.points {
                        let w = p.width_ms as u64 / 1_000;
                        assert_eq!(p.count, w, "tier {tier} bucket {} incomplete: {p:?}", p.t);
                    }
                }
                c.buckets += check_buckets(&r, acked, started, tier);
                c.tier += 1;
            }
            _ => {
                let step = [1u64, 10, 60, 300][rng.range(0, 4) as usize];
                let r = store
                    .query_step(&selector, from, to, Duration::from_secs(step))
                    .expect("query_step");
                let started = progress.started.load(Ordering::SeqCst);
                c.buckets += check_buckets(&r, acked, started, "step");
                c.step += 1;
            }
        }
    }
    c
}

#[allow(clippy::too_many_arguments)]
fn check_all(
    series: &[tierlog::SeriesPoints],
    one: bool,
    s_pick: u64,
    from: i64,
    to: i64,
    acked: u64,
    started: u64,
    c: &mut Checked,
) {
    let want: Vec<u64> = if one {
        vec![s_pick]
    } else {
        (0..SERIES).collect()
    };
    let first = first_batch_at(from);
    let end = if to <= T0 { 0 } else { first_batch_at(to) };
    let must_have = acked.min(end) > first;
    // Results are ordered by labels, i.e. by the label text ("10" before "2").
    let mut got: Vec<u64> = series.iter().map(|s| series_of(&s.labels)).collect();
    got.sort_unstable();
    if must_have {
        assert_eq!(
            got, want,
            "series present over [{from}, {to}) with {acked} acked"
        );
    } else {
        assert!(got.iter().all(|s| want.contains(s)), "{got:?}");
    }
    for s in series {
        assert_eq!(s.tier, "raw");
        check_series(series_of(&s.labels), &s.points, from, to, acked, started);
        c.points += s.points.len() as u64;
    }
}

#[test]
fn readers_writer_and_maintenance_agree_with_the_model() {
    let secs = env_u64("TIERLOG_STRESS_SECS", 8);
    let readers = env_u64("TIERLOG_STRESS_READERS", 6);
    // A batch is a second of data; raw points are kept 30 days, so at most 2.5 M batches
    // (beyond, retention would drop what the model still holds).
    let max_batches = env_u64("TIERLOG_STRESS_BATCHES", 15_000).min(2_500_000);
    let seed = SplitMix64::seed_from_env("TIERLOG_STRESS_SEED");
    let dir = common::fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Arc::new(Store::open(dir.path(), config(clock.clone())).expect("open"));
    let progress = Arc::new(Progress {
        started: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        done: AtomicBool::new(false),
    });
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started_at = Instant::now();

    let maint = {
        let (store, progress) = (store.clone(), progress.clone());
        std::thread::spawn(move || {
            let mut passes = 0u64;
            while !progress.done.load(Ordering::SeqCst) {
                store.maintain().expect("maintain");
                passes += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            passes
        })
    };
    let reader_threads: Vec<_> = (0..readers)
        .map(|i| {
            let (store, progress) = (store.clone(), progress.clone());
            std::thread::spawn(move || reader(&store, &progress, seed ^ (i + 1)))
        })
        .collect();

    // The writer: one batch per second of data, the clock half a second past it, so windows
    // seal and rollups materialise as it goes. Every other batch goes through series handles.
    let names: Vec<String> = (0..SERIES).map(|s| s.to_string()).collect();
    let labels: Vec<[(&str, &str); 1]> = names.iter().map(|n| [("s", n.as_str())]).collect();
    let handles: Vec<_> = labels
        .iter()
        .map(|l| store.series_handle("stress", l).expect("handle"))
        .collect();
    let mut batches = 0;
    while batches < max_batches && Instant::now() < deadline {
        let b = batches;
        let ts = ts_of(b);
        progress.started.store(b + 1, Ordering::SeqCst);
        clock.set(ts + 500);
        let sum = if b % 2 == 0 {
            let samples: Vec<Sample<'_>> = (0..SERIES)
                .map(|s| Sample::new("stress", &labels[s as usize], ts, value(s, b)))
                .collect();
            store.write(&samples).expect("write")
        } else {
            let triples: Vec<_> = (0..SERIES)
                .map(|s| (handles[s as usize], ts, value(s, b)))
                .collect();
            store.write_series(&triples).expect("write_series")
        };
        assert_eq!(sum.accepted, SERIES, "batch {b}: {sum:?}");
        progress.acked.store(b + 1, Ordering::SeqCst);
        batches += 1;
    }
    // Let the readers see the end state a little, then stop everyone.
    std::thread::sleep(Duration::from_millis(50));
    progress.done.store(true, Ordering::SeqCst);
    let mut total = Checked::default();
    for t in reader_threads {
        let c = t.join().expect("reader");
        total.raw += c.raw;
        total.iter += c.iter;
        total.tier += c.tier;
        total.step += c.step;
        total.points += c.points;
        total.buckets += c.buckets;
    }
    let passes = maint.join().expect("maintenance");
    let elapsed = started_at.elapsed();
    let stats = store.stats();
    eprintln!(
        "stress: seed {seed}, {readers} readers + 1 writer + maintenance ({passes} maintain() passes) for {elapsed:.1?}: \
         {batches} write batches ({} samples), queries checked: {} raw, {} iter, {} tier, {} step \
         ({} points, {} buckets); {} raw segments sealed, tiers {:?}",
        batches * SERIES,
        total.raw,
        total.iter,
        total.tier,
        total.step,
        total.points,
        total.buckets,
        stats.tiers[0].sealed.segments,
        stats.tiers[1..]
            .iter()
            .map(|t| (t.tier.clone(), t.points))
            .collect::<Vec<_>>()
    );
    assert!(batches > 100, "the writer made progress");
    assert!(total.raw + total.iter > 0 && total.tier > 0 && total.step > 0);
    assert_eq!(stats.rejections.too_old + stats.rejections.head_full, 0);
    // The end state, read once more in full, and after a reopen.
    let check_end = |store: &Store| {
        let r = store
            .query(&Selector::metric("stress"), i64::MIN, i64::MAX)
            .unwrap();
        assert_eq!(r.series.len() as u64, SERIES);
        for s in &r.series {
            check_series(
                series_of(&s.labels),
                &s.points,
                i64::MIN,
                i64::MAX,
                batches,
                batches,
            );
            assert_eq!(s.points.len() as u64, batches);
        }
    };
    check_end(&store);
    drop(store);
    let store = Store::open(dir.path(), config(clock)).unwrap();
    check_end(&store);
}
