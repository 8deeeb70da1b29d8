//! Windows reaching before the raw points kept are answered from a rollup tier's buckets,
//! with a warning naming the tier.

use std::sync::Arc;
use std::time::Duration;

use tierlog::{Config, ManualClock, Sample as In, Store, Tier};
use tierlog_promql::{Labels, Options, Value, query, query_range};

/// A whole minute.
const NOW: i64 = 1_700_000_040_000;
const MIN: i64 = 60_000;

struct Db {
    _dir: tempfile::TempDir,
    store: Store,
}

/// Raw points kept 1 h, a 60 s tier kept 2 days; `m{a="b"}` = 1 every 10 s for the last 3 h,
/// written as time passes, with maintenance rolling the tier up and dropping old raw points.
fn db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOW - 180 * MIN));
    let mut cfg = Config::default()
        .with_clock(clock.clone())
        .with_sync(tierlog::Sync::Never)
        .with_tiers(vec![Tier::new(
            "60s",
            Duration::from_secs(60),
            Duration::from_secs(48 * 3600),
        )]);
    cfg.raw_keep = Some(Duration::from_secs(3600));
    cfg.maintenance_interval = None;
    let store = Store::open(dir.path(), cfg).unwrap();
    let labels = [("a", "b")];
    let mut t = NOW - 180 * MIN;
    while t <= NOW {
        clock.set(t);
        store.write(&[In::new("m", &labels, t, 1.0)]).unwrap();
        if (t - NOW) % (10 * MIN) == 0 {
            store.maintain().unwrap();
        }
        t += 10_000;
    }
    Db { _dir: dir, store }
}

fn one(out: &tierlog_promql::QueryOutput) -> (Labels, f64) {
    match &out.value {
        Value::Vector(v) => {
            assert_eq!(v.len(), 1, "{v:?}");
            (v[0].labels.clone(), v[0].v)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn expired_windows_come_from_the_tier_with_a_warning() {
    let db = db();
    let o = Options::default();
    // Two hours ago the raw points are gone: 10 one-minute buckets of 6 points each. The
    // point exactly at the window's end (in the next bucket) is not counted.
    let out = query(&db.store, "count_over_time(m[10m])", NOW - 120 * MIN, &o).unwrap();
    assert_eq!(one(&out), (Labels::new([("a", "b")]), 60.0));
    assert!(
        out.warnings.iter().any(|w| w.contains("60s tier")),
        "{:?}",
        out.warnings
    );
    let out = query(&db.store, "sum_over_time(m[10m])", NOW - 120 * MIN, &o).unwrap();
    assert_eq!(one(&out).1, 60.0);
    let out = query(&db.store, "max_over_time(m[10m])", NOW - 120 * MIN, &o).unwrap();
    assert_eq!(one(&out).1, 1.0);
    // last_over_time keeps the metric name.
    let out = query(&db.store, "last_over_time(m[10m])", NOW - 120 * MIN, &o).unwrap();
    assert_eq!(one(&out).0, Labels::new([("__name__", "m"), ("a", "b")]));

    // A window across the start of the raw points (a 20-minute window boundary, as retention
    // drops whole windows): 5 buckets before it, 31 raw points from it on (both ends
    // included) — the exact answer.
    let raw_from = db.store.raw_from().unwrap();
    assert_eq!(raw_from % (20 * MIN), 0);
    let out = query(&db.store, "count_over_time(m[10m])", raw_from + 5 * MIN, &o).unwrap();
    assert_eq!(one(&out).1, 30.0 + 31.0);
}

#[test]
fn range_query_over_expired_windows() {
    let db = db();
    let raw_from = db.store.raw_from().unwrap();
    let out = query_range(
        &db.store,
        "count_over_time(m[2m])",
        raw_from - 10 * MIN,
        raw_from,
        5 * MIN,
        &Options::default(),
    )
    .unwrap();
    let Value::Matrix(m) = out.value else {
        panic!()
    };
    assert_eq!(m.len(), 1);
    assert_eq!(
        m[0].points,
        [
            (raw_from - 10 * MIN, 12.0),
            (raw_from - 5 * MIN, 12.0),
            // Ends where the raw points start: that point is counted.
            (raw_from, 13.0)
        ]
    );
    assert!(!out.warnings.is_empty());
}

#[test]
fn misaligned_windows_do_not_use_the_tier() {
    let db = db();
    // 90 s is not a multiple of the tier's 60 s: the raw path answers (nothing is left), and
    // a warning says why the tier could not.
    let o = query(
        &db.store,
        "count_over_time(m[90s])",
        NOW - 120 * MIN,
        &Options::default(),
    )
    .unwrap();
    assert_eq!(o.value, Value::Vector(vec![]));
    assert!(
        o.warnings
            .iter()
            .any(|w| w.contains("not all multiples of a tier's interval (1m)")),
        "{:?}",
        o.warnings
    );
}

/// Data written just after the start of a raw window, nothing expired: an instant selector
/// whose lookback reaches before the raw points, at a step no tier interval divides, answers
/// from the raw points with no warning (there is nothing before them to answer from).
#[test]
fn a_misaligned_instant_selector_over_unexpired_data_keeps_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_700_006_400_000; // a whole hour
    let clock = Arc::new(ManualClock::new(t0 + 50_000));
    let store = Store::open(dir.path(), Config::default().with_clock(clock)).unwrap();
    for k in 0..4 {
        let t = t0 + k * 15_000;
        store.write(&[In::new("x", &[], t, k as f64)]).unwrap();
    }
    let raw_from = store.raw_from().expect("raw points");
    let (start, end) = (t0 + 500, t0 + 45_500);
    assert!(
        start - 5 * MIN < raw_from,
        "the lookback reaches before the raw points"
    );
    let out = query_range(&store, "x", start, end, 15_000, &Options::default()).unwrap();
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let Value::Matrix(m) = out.value else {
        panic!("{:?}", out.value)
    };
    assert_eq!(m.len(), 1);
    let vals: Vec<f64> = m[0].points.iter().map(|p| p.1).collect();
    assert_eq!(vals, [0.0, 1.0, 2.0, 3.0]);
}

/// A young store: a gauge written for 30 minutes from a window's start + 2 min, nothing
/// expired, nothing rolled up before its raw points. Windows reaching before the store's
/// oldest raw window hold only what exists, as in Prometheus: functions that need raw points
/// (`rate` of a gauge, `deriv`, `changes`) answer from them instead of refusing, at every step
/// as the instant query at that time does, and with the value worked out from the points.
#[test]
fn windows_before_a_young_store_answer_from_its_raw_points() {
    let dir = tempfile::tempdir().unwrap();
    // The default 20-minute windows: data from 2 minutes into one.
    let first = NOW - NOW % (20 * MIN) - 40 * MIN + 2 * MIN;
    let clock = Arc::new(ManualClock::new(first));
    let mut cfg = Config::default()
        .with_clock(clock.clone())
        .with_sync(tierlog::Sync::Never);
    cfg.maintenance_interval = None;
    let store = Store::open(dir.path(), cfg).unwrap();
    let mut t = first;
    let mut v = 0.0;
    while t < first + 30 * MIN {
        clock.set(t);
        store.write(&[In::new("g", &[("a", "b")], t, v)]).unwrap();
        v += 2.0;
        t += 15_000;
    }
    clock.set(t + 6 * MIN);
    store.maintain().unwrap();
    let raw_from = store.raw_from().unwrap();
    assert!(
        raw_from < first && first - raw_from < 5 * MIN,
        "{raw_from} {first}"
    );
    let opts = Options::default();
    // The window at `first + 1 min` reaches back 5 minutes: before the oldest raw window.
    let at = first + MIN;
    let out = query(&store, "deriv(g[5m])", at, &opts).unwrap();
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    // 2 per 15 s, exactly linear: a slope of 2/15 per second.
    assert!((one(&out).1 - 2.0 / 15.0).abs() < 1e-12, "{:?}", one(&out));
    let out = query(&store, "changes(g[5m])", at, &opts).unwrap();
    assert_eq!(one(&out).1, 4.0);
    for e in [
        "rate(g[5m])",
        "deriv(g[5m])",
        "changes(g[5m])",
        "delta(g[5m])",
    ] {
        let (start, end, step) = (first - 2 * MIN, first + 10 * MIN, MIN);
        let out = query_range(&store, e, start, end, step, &opts)
            .unwrap_or_else(|err| panic!("{e}: {err}"));
        let Value::Matrix(m) = out.value else {
            panic!()
        };
        assert_eq!(m.len(), 1, "{e}");
        let mut t = start;
        let mut steps = 0;
        while t <= end {
            let inst = query(&store, e, t, &opts).unwrap();
            let got = m[0].points.iter().find(|p| p.0 == t).map(|p| p.1.to_bits());
            let want = match &inst.value {
                Value::Vector(v) => v.first().map(|s| s.v.to_bits()),
                other => panic!("{other:?}"),
            };
            assert_eq!(got, want, "{e} at {t}");
            steps += usize::from(got.is_some());
            t += step;
        }
        assert!(steps >= 10, "{e}: {steps} steps answered");
    }
}
