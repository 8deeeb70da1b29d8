//! Backfill: history older than the raw keep written straight into the tiers
//! (`Store::backfill`, `Store::bulk_import`).
//!
//! - A backfilled bucket is bit for bit the bucket materialisation makes of the same samples
//!   (min, max, sum, first, last, p95, NaN count, counter increase), through both paths.
//! - A bucket a tier already holds is never merged: the samples behind it are refused and
//!   counted as conflicts by that tier; the tiers that lack the bucket still take them.
//! - Samples older than every keep are counted as too old and register nothing.
//! - A piece raw data may still reach, or that the materialiser has still to do, is refused.
//! - The buckets survive a reopen, later live data and maintenance; `query_tier` and
//!   `query_step` show them; `verify` is clean.
//! - Power loss before any I/O operation of a backfill leaves every tier file as it was or
//!   as the backfill wrote it, and `verify` clean; running the import again completes it.

use tierlog_testkit::helpers as common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tierlog::vfs::FaultFs;
use tierlog::{
    Config, ManualClock, MetricKind, MetricMeta, Sample, Selector, Store, Tier, WriteSummary,
};

const MIN: i64 = 60_000;
const H: i64 = 60 * MIN;
const DAY: i64 = 24 * H;
/// A day boundary.
const D0: i64 = 1_699_920_000_000;

fn tiers() -> Vec<Tier> {
    vec![
        Tier::new(
            "10s",
            Duration::from_secs(10),
            Duration::from_secs(30 * 86_400),
        ),
        Tier::new(
            "60s",
            Duration::from_secs(60),
            Duration::from_secs(90 * 86_400),
        ),
    ]
}

fn config(clock: &Arc<ManualClock>) -> Config {
    Config {
        maintenance_interval: None,
        ..Config::default()
    }
    .with_clock(clock.clone())
    .with_tiers(tiers())
}

/// One sample, owned.
#[derive(Debug, Clone)]
struct S {
    metric: &'static str,
    s: String,
    ts: i64,
    value: f64,
}

/// Three hours from `start` of: a gauge every 5 s with two samples in some seconds and a NaN
/// now and then, a counter that resets, and a sparse series with infinities.
fn history(start: i64) -> Vec<S> {
    let mut out = Vec::new();
    let mut c = 0.0;
    for k in 0..(3 * H / 5_000) {
        let ts = start + k * 5_000 + (k % 3) * 7;
        let v = ((k * 7919) % 1000) as f64 / 10.0 - 20.0;
        out.push(S {
            metric: "m",
            s: "a".into(),
            ts,
            value: v,
        });
        if k % 4 == 1 {
            // A second sample in the same second: the point is their mean.
            out.push(S {
                metric: "m",
                s: "a".into(),
                ts: ts + 300,
                value: v * 3.0 + 0.1,
            });
        }
        if k % 97 == 5 {
            out.push(S {
                metric: "m",
                s: "b".into(),
                ts,
                value: f64::NAN,
            });
        } else if k % 11 == 0 {
            let v = if k % 22 == 0 {
                f64::INFINITY
            } else {
                -1.5 * k as f64
            };
            out.push(S {
                metric: "m",
                s: "b".into(),
                ts,
                value: v,
            });
        }
        c = if k % 500 == 499 {
            3.0
        } else {
            c + (k % 5) as f64
        };
        out.push(S {
            metric: "c_total",
            s: "x".into(),
            ts,
            value: c,
        });
    }
    out
}

/// A sample as `(metric, labels, ts, value)`.
type Owned<'a> = (&'static str, [(&'static str, &'a str); 1], i64, f64);
/// Buckets by (metric, label `s`, start).
type Buckets = BTreeMap<(String, String, i64), String>;

fn samples(h: &[S]) -> Vec<Owned<'_>> {
    h.iter()
        .map(|s| (s.metric, [("s", s.s.as_str())], s.ts, s.value))
        .collect()
}

fn counter_meta(store: &Store) {
    store
        .set_metric_meta(
            "c_total",
            MetricMeta {
                kind: MetricKind::Counter,
                ..MetricMeta::default()
            },
        )
        .unwrap();
}

/// Every bucket of metrics `m` and `c_total` in `tier`, by (metric, s, start), as its debug
/// text (every aggregate, shortest round-trip form) and its bits.
fn buckets(store: &Store, tier: &str) -> Buckets {
    let mut out = BTreeMap::new();
    for metric in ["m", "c_total"] {
        let r = store
            .query_tier(&Selector::metric(metric), 0, i64::MAX / 2, tier)
            .unwrap();
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        for s in r.series {
            for b in s.points {
                let bits =
                    [b.min, b.max, b.sum, b.first, b.last, b.p95.unwrap_or(0.0)].map(f64::to_bits);
                let key = (metric.to_owned(), s.labels.get("s").to_owned(), b.t);
                out.insert(
                    key,
                    format!("{b:?} {bits:x?} {:x?}", b.increase.map(f64::to_bits)),
                );
            }
        }
    }
    out
}

/// The buckets materialisation makes of `h`: written live (the clock following the data),
/// then rolled up.
fn materialised(h: &[S]) -> (Buckets, Buckets) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(h[0].ts));
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    counter_meta(&store);
    let mut sorted = h.to_vec();
    sorted.sort_by_key(|s| s.ts);
    for chunk in sorted.chunk_by(|a, b| a.ts / 60_000 == b.ts / 60_000) {
        clock.set(chunk.iter().map(|s| s.ts).max().unwrap());
        let owned = samples(chunk);
        let batch: Vec<Sample<'_>> = owned
            .iter()
            .map(|(m, l, t, v)| Sample::new(m, l, *t, *v))
            .collect();
        let w = store.write(&batch).unwrap();
        assert_eq!(w.accepted, batch.len() as u64);
    }
    clock.set(sorted.last().unwrap().ts + H);
    store.maintain().unwrap();
    (buckets(&store, "10s"), buckets(&store, "60s"))
}

fn backfill_all(store: &Store, h: &[S]) -> WriteSummary {
    let owned = samples(h);
    let batch: Vec<Sample<'_>> = owned
        .iter()
        .map(|(m, l, t, v)| Sample::new(m, l, *t, *v))
        .collect();
    store.backfill(&batch).unwrap()
}

fn bulk_all(store: &Store, h: &[S]) -> WriteSummary {
    let mut bulk = store.bulk_import();
    for (m, l, t, v) in samples(h) {
        bulk.push(m, &l, t, v).unwrap();
    }
    bulk.finish().unwrap()
}

#[test]
fn backfilled_buckets_are_the_materialised_ones_bit_for_bit() {
    let h = history(D0 + 5 * H);
    let (m10, m60) = materialised(&h);
    assert!(
        m10.len() > 2000 && m60.len() > 400,
        "{} {}",
        m10.len(),
        m60.len()
    );
    for bulk in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(D0 + 3 * DAY));
        let store = Store::open(dir.path(), config(&clock)).unwrap();
        counter_meta(&store);
        // Shuffled: order between seconds does not matter, within a second it is kept.
        let mut shuffled = h.clone();
        let n = shuffled.len();
        for i in 0..n {
            let j = (i * 7_919 + 13) % n;
            if shuffled[i].ts / 1000 != shuffled[j].ts / 1000 {
                shuffled.swap(i, j);
            }
        }
        let w = if bulk {
            bulk_all(&store, &shuffled)
        } else {
            backfill_all(&store, &shuffled)
        };
        assert_eq!(w.accepted, h.len() as u64, "bulk {bulk}: {w:?}");
        assert_eq!(w.rejected(), 0, "{w:?}");
        assert_eq!(w.new_series, 3);
        assert_eq!(buckets(&store, "10s"), m10, "bulk {bulk}: 10s");
        assert_eq!(buckets(&store, "60s"), m60, "bulk {bulk}: 60s");
        // A step query over the range answers from the 60s tier.
        let from = D0 + 5 * H;
        let step = store
            .query_step(
                &Selector::metric("m"),
                from,
                from + 3 * H,
                Duration::from_secs(3600),
            )
            .unwrap();
        assert!(step.warnings.is_empty(), "{:?}", step.warnings);
        let a = step
            .series
            .iter()
            .find(|s| s.labels.get("s") == "a")
            .unwrap();
        assert_eq!(a.points.len(), 3);
        assert_eq!(&*a.points[0].tier, "60s");
        // Every raw point of the hour: one per 5 s (two samples of a second make one).
        assert_eq!(a.points[0].count, 720);
        // Survives a reopen; verify is clean.
        store.close().unwrap();
        let store = Store::open(dir.path(), config(&clock)).unwrap();
        assert_eq!(buckets(&store, "60s"), m60, "bulk {bulk}: after reopen");
        drop(store);
        let v = tierlog_tools::inspect::verify_dir(dir.path(), |_| {}).unwrap();
        assert!(v.is_clean(), "{:?}", v.corruption);
    }
}

#[test]
fn a_bulk_import_over_days_flushes_as_it_goes_and_matches_one_backfill() {
    // Four days of one counter and one gauge at 15 s: flushed day by day (the unit), a
    // counter's first step of each day from the last point of the day before.
    let mut h = Vec::new();
    for k in 0..(4 * DAY / 15_000) {
        let ts = D0 + k * 15_000;
        h.push(S {
            metric: "c_total",
            s: "x".into(),
            ts,
            value: (k * 3) as f64,
        });
        h.push(S {
            metric: "m",
            s: "a".into(),
            ts,
            value: (k % 17) as f64,
        });
    }
    let clock = Arc::new(ManualClock::new(D0 + 10 * DAY));
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = Store::open(d1.path(), config(&clock)).unwrap();
    let bulk = Store::open(d2.path(), config(&clock)).unwrap();
    counter_meta(&one);
    counter_meta(&bulk);
    assert_eq!(backfill_all(&one, &h).accepted, h.len() as u64);
    assert_eq!(bulk_all(&bulk, &h).accepted, h.len() as u64);
    let b = buckets(&bulk, "60s");
    assert_eq!(b.len(), 2 * 4 * 1440);
    assert_eq!(b, buckets(&one, "60s"));
    assert_eq!(buckets(&bulk, "10s"), buckets(&one, "10s"));
    // Every minute of the counter but the first increased by 12 (4 steps of 3).
    let r = bulk
        .query_tier(&Selector::metric("c_total"), D0, D0 + 4 * DAY, "60s")
        .unwrap();
    let inc: Vec<f64> = r.series[0]
        .points
        .iter()
        .map(|p| p.increase.unwrap())
        .collect();
    assert_eq!(inc[0], 9.0, "the first point has nothing to step from");
    assert!(inc[1..].iter().all(|&i| i == 12.0), "{:?}", &inc[..5]);
    // One file per day in the 60s tier (its segment span).
    let files = std::fs::read_dir(d2.path().join("60s")).unwrap().count();
    assert_eq!(files, 4);

    // Grouped by series instead of by time (one series' four days, then the other's): the
    // second series is behind what was written when it comes, and goes into the same files
    // at the end, with the same buckets.
    let d3 = tempfile::tempdir().unwrap();
    let grouped = Store::open(d3.path(), config(&clock)).unwrap();
    counter_meta(&grouped);
    let mut by_series = h.clone();
    by_series.sort_by_key(|s| s.metric);
    assert_eq!(bulk_all(&grouped, &by_series).accepted, h.len() as u64);
    assert_eq!(buckets(&grouped, "60s"), b);
    assert_eq!(buckets(&grouped, "10s"), buckets(&one, "10s"));
}

#[test]
fn a_bucket_already_held_is_never_merged() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(D0 + 2 * DAY));
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    let t = D0 + 6 * H;
    let first: Vec<Sample<'_>> = (0..3)
        .map(|i| Sample::new("m", &[("s", "a")], t + i * 10_000, i as f64))
        .collect();
    assert_eq!(store.backfill(&first).unwrap().accepted, 3);
    let before10 = buckets(&store, "10s");
    let before60 = buckets(&store, "60s");
    // The second half of the same minute: the 10s buckets are new and take them, the 60s
    // one is there already and refuses them (counted as conflicts). The next minute and
    // another series in the same minute are fine.
    let second = vec![
        Sample::new("m", &[("s", "a")], t + 30_000, 100.0),
        Sample::new("m", &[("s", "a")], t + 40_000, 100.0),
        Sample::new("m", &[("s", "a")], t + 60_000, 7.0),
        Sample::new("m", &[("s", "b")], t + 30_000, 5.0),
    ];
    let w = store.backfill(&second).unwrap();
    assert_eq!(
        (w.accepted, w.rejected_conflict, w.rejected()),
        (2, 2, 2),
        "{w:?}"
    );
    assert_eq!(store.stats().rejections.conflict, 2);
    let after10 = buckets(&store, "10s");
    let after60 = buckets(&store, "60s");
    for (k, v) in &before10 {
        assert_eq!(after10.get(k), Some(v), "{k:?} changed");
    }
    for (k, v) in &before60 {
        assert_eq!(after60.get(k), Some(v), "{k:?} changed");
    }
    let a = |t| ("m".to_owned(), "a".to_owned(), t);
    assert!(after10.contains_key(&a(t + 30_000)) && after10.contains_key(&a(t + 40_000)));
    assert!(after10.contains_key(&a(t + 60_000)) && after60.contains_key(&a(t + MIN)));
    assert!(after60.contains_key(&("m".to_owned(), "b".to_owned(), t)));
    let r = store
        .query_tier(&Selector::parse("m{s=\"a\"}").unwrap(), t, t + MIN, "60s")
        .unwrap();
    assert_eq!(
        (r.series[0].points[0].count, r.series[0].points[0].max),
        (3, 2.0)
    );
    // The bulk path counts the same way.
    let mut bulk = store.bulk_import();
    bulk.push("m", &[("s", "a")], t + 50_000, 1.0).unwrap();
    bulk.push("m", &[("s", "a")], t + 2 * MIN, 1.0).unwrap();
    let w = bulk.finish().unwrap();
    assert_eq!((w.accepted, w.rejected_conflict), (1, 1));
}

/// An export that writes one series after another (as Prometheus' and VictoriaMetrics' do)
/// holds every series' history in a bulk import until its unit is complete; a bound on the
/// samples held writes each series' whole minutes as it goes, with the same buckets, bit for
/// bit, as materialisation.
#[test]
fn a_series_ordered_bulk_import_stays_within_its_bound_and_is_exact() {
    let h = history(D0 + 5 * H);
    let (m10, m60) = materialised(&h);
    let mut by_series = h.clone();
    // Stable: each series' samples keep their order.
    by_series.sort_by(|a, b| (a.metric, &a.s).cmp(&(b.metric, &b.s)));
    let mut peaks = Vec::new();
    for bound in [None, Some(500u64)] {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(D0 + 3 * DAY));
        let store = Store::open(dir.path(), config(&clock)).unwrap();
        counter_meta(&store);
        let mut bulk = store.bulk_import();
        if let Some(b) = bound {
            bulk.set_max_held(b);
        }
        for (m, l, t, v) in samples(&by_series) {
            bulk.push(m, &l, t, v).unwrap();
        }
        peaks.push(bulk.peak_held());
        let w = bulk.finish().unwrap();
        assert_eq!(w.accepted, h.len() as u64, "bound {bound:?}: {w:?}");
        assert_eq!(w.rejected(), 0, "{w:?}");
        assert_eq!(buckets(&store, "10s"), m10, "bound {bound:?}: 10s");
        assert_eq!(buckets(&store, "60s"), m60, "bound {bound:?}: 60s");
        store.close().unwrap();
        let v = tierlog_tools::inspect::verify_dir(dir.path(), |_| {}).unwrap();
        assert!(v.is_clean(), "{:?}", v.corruption);
    }
    // Unbounded, all of it was held (it lies within one day); bounded, never more than 500.
    assert_eq!(peaks[0], h.len() as u64);
    assert!(peaks[1] <= 500, "{peaks:?}");
}

#[test]
fn samples_older_than_every_keep_are_too_old_and_register_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let now = D0 + 100 * DAY;
    let clock = Arc::new(ManualClock::new(now));
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    let w = store
        .backfill(&[
            Sample::new("m", &[("s", "a")], now - 95 * DAY, 1.0),
            Sample::new("m", &[("s", "a")], now - 91 * DAY, 1.0),
        ])
        .unwrap();
    assert_eq!((w.accepted, w.rejected_too_old, w.new_series), (0, 2, 0));
    assert_eq!(store.stats().series, 0);
    // Between the 10s tier's keep (30 days) and the 60s tier's (90): the 60s tier only.
    let w = store
        .backfill(&[
            Sample::new("m", &[("s", "a")], now - 40 * DAY, 1.0),
            // Not older than the raw keep: the raw path's, counted too old here.
            Sample::new("m", &[("s", "a")], now - MIN, 1.0),
        ])
        .unwrap();
    assert_eq!((w.accepted, w.rejected_too_old, w.new_series), (1, 1, 1));
    assert_eq!(buckets(&store, "10s").len(), 0);
    assert_eq!(buckets(&store, "60s").len(), 1);
}

#[test]
fn pieces_raw_data_may_still_reach_are_refused_and_live_data_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let now = D0 + 12 * H + 7 * MIN;
    let clock = Arc::new(ManualClock::new(now));
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    store
        .write(&[Sample::new("m", &[("s", "a")], now, 1.0)])
        .unwrap();
    let raw_bound = now - 2 * H;
    let w = store
        .backfill(&[
            // Its piece (20 min) ends after clock − raw keep: raw data may still come there.
            Sample::new("m", &[("s", "a")], raw_bound - MIN, 1.0),
            // Settled: no raw data before its piece's end.
            Sample::new("m", &[("s", "a")], raw_bound - H, 2.0),
        ])
        .unwrap();
    assert_eq!((w.accepted, w.rejected_conflict), (1, 1), "{w:?}");
    // Live data goes on; maintenance neither overwrites nor drops the backfilled bucket.
    let before = buckets(&store, "60s");
    assert_eq!(before.len(), 1);
    for k in 1..=3 * 60 {
        let ts = now + k * MIN;
        clock.set(ts);
        store
            .write(&[Sample::new("m", &[("s", "a")], ts, k as f64)])
            .unwrap();
        if k % 30 == 0 {
            store.maintain().unwrap();
        }
    }
    let after = buckets(&store, "60s");
    for (k, v) in &before {
        assert_eq!(after.get(k), Some(v), "{k:?}");
    }
    assert!(after.len() > 100, "live data rolled up: {}", after.len());
    store.close().unwrap();
    let v = tierlog_tools::inspect::verify_dir(dir.path(), |_| {}).unwrap();
    assert!(v.is_clean(), "{:?}", v.corruption);
}

/// The bytes of every tier file of the store in `fs`.
fn tier_files(fs: &FaultFs) -> BTreeMap<String, Vec<u8>> {
    fs.paths()
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            (s.starts_with("/db/10s/") || s.starts_with("/db/60s/")) && s.ends_with(".seg")
        })
        .map(|p| (p.to_string_lossy().into_owned(), fs.contents(&p).unwrap()))
        .collect()
}

#[test]
fn power_loss_at_every_operation_of_a_backfill() {
    let now = D0 + 3 * DAY;
    let clock = Arc::new(ManualClock::new(now));
    let cfg = |fs: &FaultFs| {
        common::fault_config(fs, &clock)
            .with_tiers(tiers())
            .with_window_span(Duration::from_secs(20 * 60))
    };
    let fs = FaultFs::new();
    let store = Store::open("/db", cfg(&fs)).unwrap();
    // Before: one series' first half hour of a day in both tiers.
    let t = D0 + DAY;
    let old: Vec<Sample<'_>> = (0..180)
        .map(|i| Sample::new("m", &[("s", "a")], t + i * 10_000, i as f64))
        .collect();
    assert_eq!(store.backfill(&old).unwrap().accepted, 180);
    store.close().unwrap();
    // A dead backend whose `survivor()` hands out fresh copies of the store.
    let base = fs.power_loss();
    base.power_loss();
    let before_files = tier_files(&base.survivor().unwrap());
    let before10 = {
        let s = Store::open("/db", cfg(&base.survivor().unwrap())).unwrap();
        (buckets(&s, "10s"), buckets(&s, "60s"))
    };
    // The backfill: a second series in the same files, more of the first series (new
    // pieces), and a day before (new files).
    let labels_b = [("s", "b")];
    let labels_a = [("s", "a")];
    let mut batch: Vec<Sample<'_>> = Vec::new();
    for i in 0..360 {
        batch.push(Sample::new("m", &labels_b, t + i * 10_000, -(i as f64)));
        batch.push(Sample::new(
            "m",
            &labels_a,
            t + 2 * H + i * 10_000,
            i as f64,
        ));
        batch.push(Sample::new("m", &labels_a, t - DAY + i * 10_000, 1.0));
    }
    let fs = base.survivor().unwrap();
    let store = Store::open("/db", cfg(&fs)).unwrap();
    let start = fs.ops();
    let w = store.backfill(&batch).unwrap();
    assert_eq!(w.accepted, batch.len() as u64);
    let total = fs.ops() - start;
    let after_files = tier_files(&fs);
    let after = (buckets(&store, "10s"), buckets(&store, "60s"));
    drop(store);
    assert!(after_files.len() > before_files.len());
    assert!(total > 10, "{total} operations");
    for n in 1..=total {
        let ctx = format!("crash before op {n} of {total}");
        let fs = base.survivor().unwrap();
        let store = Store::open("/db", cfg(&fs)).unwrap();
        fs.crash_at(n);
        fs.set_torn_power_loss((n % 2 == 1).then_some(n));
        let res = store.backfill(&batch);
        let survivor = fs
            .survivor()
            .unwrap_or_else(|| panic!("{ctx}: no crash ({res:?})"));
        drop(store);
        let store =
            Store::open("/db", cfg(&survivor)).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
        // Every tier file is as it was or as the backfill wrote it.
        for (path, bytes) in tier_files(&survivor) {
            let old = before_files.get(&path);
            let new = after_files.get(&path);
            assert!(
                old == Some(&bytes) || new == Some(&bytes),
                "{ctx}: {path} is neither the old nor the new file"
            );
        }
        // Every bucket is the one before or the one after; the ones before all remain.
        let got = (buckets(&store, "10s"), buckets(&store, "60s"));
        for (g, (b, a)) in [
            (&got.0, (&before10.0, &after.0)),
            (&got.1, (&before10.1, &after.1)),
        ] {
            for (k, v) in g {
                assert_eq!(a.get(k), Some(v), "{ctx}: {k:?}");
            }
            for k in b.keys() {
                assert!(g.contains_key(k), "{ctx}: {k:?} lost");
            }
        }
        let tmp: Vec<_> = survivor
            .paths()
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(tmp.is_empty(), "{ctx}: left behind {tmp:?}");
        // Running the import again completes it: every tier takes the buckets it lacks.
        store
            .backfill(&batch)
            .unwrap_or_else(|e| panic!("{ctx}: again: {e}"));
        let again = (buckets(&store, "10s"), buckets(&store, "60s"));
        assert_eq!(again, after, "{ctx}: after running the import again");
        drop(store);
        let v = tierlog_tools::inspect::verify_dir_on(Arc::new(survivor), Path::new("/db"), |_| {})
            .unwrap_or_else(|e| panic!("{ctx}: verify: {e}"));
        assert!(v.is_clean(), "{ctx}: {:?}", v.corruption);
    }
}
