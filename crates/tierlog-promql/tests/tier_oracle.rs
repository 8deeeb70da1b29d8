//! Range functions checked against an oracle computed from every point written, across the
//! data's life: just written (raw points only), sealed and rolled up, raw points expired
//! (windows answered from the 10s and 60s tiers, and across the start of the raw points),
//! and the 10s tier expired (the 60s tier alone). The oracle applies the documented rule: a
//! window reaching before the raw points is the tiles before the first tile boundary at or
//! after their start plus the raw points from there to its end (both ends included);
//! `increase` and `rate` there are the window's tiles alone, `[start, end)`, not
//! extrapolated; windows of raw points are Prometheus' closed windows.

use std::sync::Arc;

use tierlog::{Config, ManualClock, MetricKind, MetricMeta, Sample as In, Store};
use tierlog_promql::{Options, Value, query_range};

const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;

type Points = Vec<(i64, f64)>;

/// Five hours at a 15 s scrape with missed scrapes; a counter with resets, a gauge.
fn data() -> (Points, Points) {
    let (mut c, mut g) = (Vec::new(), Vec::new());
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut total = 100.0;
    for i in 0..(5 * HOUR / 15_000) {
        let t = T0 + i * 15_000;
        let r = next() % 100;
        if r < 4 {
            continue;
        }
        if r < 6 {
            total = (next() % 10) as f64;
        } else {
            total += (next() % 50) as f64;
        }
        c.push((t, total));
        g.push((t, (next() % 2001) as f64 / 4.0 - 250.0));
    }
    (c, g)
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// The counter's increase over `[a, b)`: steps whose later point is in it (a reset counts the
/// new value).
fn increase(pts: &[(i64, f64)], a: i64, b: i64) -> Option<f64> {
    let mut inc = None;
    for w in pts.windows(2) {
        let ((_, p), (t, v)) = (w[0], w[1]);
        if t >= a && t < b {
            inc = Some(inc.unwrap_or(0.0) + if v >= p { v - p } else { v });
        }
    }
    if pts.first().is_some_and(|p| p.0 >= a && p.0 < b) {
        inc = Some(inc.unwrap_or(0.0));
    }
    inc
}

/// The gauge function `f` over the window ending at `end`, by the documented rule.
fn gauge_oracle(
    f: &str,
    g: &[(i64, f64)],
    start: i64,
    end: i64,
    split: Option<i64>,
) -> Option<f64> {
    let vs: Vec<f64> = g
        .iter()
        .filter(|p| match split {
            // Raw points: Prometheus' closed window.
            None => p.0 >= start && p.0 <= end,
            // Tiles before the split, raw points from it on.
            Some(split) => p.0 >= start && (p.0 < end || (p.0 == end && end >= split)),
        })
        .map(|p| p.1)
        .collect();
    if vs.is_empty() {
        return None;
    }
    Some(match f {
        "sum_over_time" => vs.iter().sum(),
        "count_over_time" => vs.len() as f64,
        "min_over_time" => vs.iter().copied().fold(f64::INFINITY, f64::min),
        "max_over_time" => vs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        "avg_over_time" => vs.iter().sum::<f64>() / vs.len() as f64,
        "last_over_time" => vs[vs.len() - 1],
        "present_over_time" => 1.0,
        _ => unreachable!(),
    })
}

fn matrix(v: Value) -> Vec<tierlog_promql::Series> {
    match v {
        Value::Matrix(m) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn tier_answers_follow_the_points_through_the_data_life() {
    let dir = tempfile::tempdir().unwrap();
    let (c, g) = data();
    let clock = Arc::new(ManualClock::new(T0));
    let cfg = Config::default()
        .with_clock(clock.clone())
        .with_sync(tierlog::Sync::Never);
    let store = Store::open(dir.path(), cfg).unwrap();
    let meta = MetricMeta {
        kind: MetricKind::Counter,
        ..MetricMeta::default()
    };
    store.set_metric_meta("c_total", meta).unwrap();
    let mut next_maintain = T0 + 20 * MIN;
    for (&(t, cv), &(_, gv)) in c.iter().zip(&g) {
        clock.set(t + 1);
        let s = [In::new("c_total", &[], t, cv), In::new("g", &[], t, gv)];
        assert_eq!(store.write(&s).unwrap().accepted, 2);
        if t >= next_maintain {
            store.maintain().unwrap();
            next_maintain = t + 20 * MIN;
        }
    }
    let end = T0 + 5 * HOUR;
    let opts = Options::default();
    let mut checked = 0;
    let mut from_tiers = 0;
    // Just written, sealed and rolled up, raw expired, the 10s tier expired.
    for (clock_at, phase) in [
        (end + MIN, "fresh"),
        (end + 30 * MIN, "sealed"),
        (end + 4 * HOUR, "raw expired"),
        (end + 26 * HOUR, "10s expired"),
    ] {
        clock.set(clock_at);
        store.maintain().unwrap();
        let raw_from = store.raw_from();
        for (range, step, first, last) in [
            (HOUR, HOUR, T0 + HOUR, T0 + 5 * HOUR),
            (5 * MIN, 5 * MIN, T0 + 5 * MIN, T0 + 5 * HOUR),
            (10 * MIN, MIN, T0 + 150 * MIN, T0 + 190 * MIN),
            (2 * MIN, 2 * MIN, T0 + 2 * MIN, T0 + 5 * HOUR),
        ] {
            let w = gcd(gcd(range, step), first);
            let split = raw_from.map(|r| r.div_euclid(w) * w + if r % w == 0 { 0 } else { w });
            let ends: Vec<i64> = (0..)
                .map(|k| first + k * step)
                .take_while(|&e| e <= last)
                .collect();
            let uses_tiles = |e: i64| raw_from.is_none_or(|r| e - range < r);
            for f in [
                "sum_over_time",
                "count_over_time",
                "min_over_time",
                "max_over_time",
                "avg_over_time",
                "last_over_time",
                "present_over_time",
            ] {
                let expr = format!("{f}(g[{}s])", range / 1000);
                let out = query_range(&store, &expr, first, last, step, &opts)
                    .unwrap_or_else(|e| panic!("{phase}: {expr}: {e}"));
                assert!(
                    out.warnings.iter().all(|w| !w.contains("  ")),
                    "{:?}",
                    out.warnings
                );
                let m = matrix(out.value);
                let have: Vec<(i64, f64)> = m.first().map(|s| s.points.clone()).unwrap_or_default();
                let mut want = Vec::new();
                for &e in &ends {
                    let s = if uses_tiles(e) { split } else { None };
                    if s.is_some() {
                        from_tiers += 1;
                    }
                    if let Some(v) = gauge_oracle(f, &g, e - range, e, s) {
                        want.push((e, v));
                    }
                }
                assert_eq!(
                    have.len(),
                    want.len(),
                    "{phase}: {expr}: {have:?} vs {want:?}"
                );
                for (h, w) in have.iter().zip(&want) {
                    assert_eq!(h.0, w.0, "{phase}: {expr}");
                    assert!(
                        close(h.1, w.1),
                        "{phase}: {expr} at {}: {} vs {}",
                        h.0,
                        h.1,
                        w.1
                    );
                    checked += 1;
                }
            }
            // A plain selector: the latest point of its 5-minute lookback, by the same rule
            // with the lookback's tiles; it keeps the metric name.
            {
                let lookback = 5 * MIN;
                let w = gcd(gcd(lookback, step), first);
                let split = raw_from.map(|r| r.div_euclid(w) * w + if r % w == 0 { 0 } else { w });
                let out = query_range(&store, "g", first, last, step, &opts)
                    .unwrap_or_else(|e| panic!("{phase}: g: {e}"));
                let m = matrix(out.value);
                assert!(m.len() <= 1, "{phase}: {m:?}");
                if let Some(s) = m.first() {
                    assert_eq!(s.labels.name(), Some("g"), "{phase}");
                }
                let have: Vec<(i64, f64)> = m.first().map(|s| s.points.clone()).unwrap_or_default();
                let mut want = Vec::new();
                for &e in &ends {
                    let tiled = raw_from.is_none_or(|r| e - lookback < r);
                    if tiled {
                        from_tiers += 1;
                    }
                    let s = if tiled { split } else { None };
                    if let Some(v) = gauge_oracle("last_over_time", &g, e - lookback, e, s) {
                        want.push((e, v));
                    }
                }
                assert_eq!(have, want, "{phase}: g at a {step} ms step");
                checked += want.len();
                // `timestamp` needs the points' own times: raw points only.
                let out = query_range(&store, "timestamp(g)", first, last, step, &opts).unwrap();
                let m = matrix(out.value);
                let n = m.first().map_or(0, |s| s.points.len());
                let raw_ends = ends
                    .iter()
                    .filter(|&&e| {
                        g.iter().any(|p| {
                            p.0 >= e - lookback && p.0 <= e && raw_from.is_some_and(|r| p.0 >= r)
                        })
                    })
                    .count();
                assert_eq!(n, raw_ends, "{phase}: timestamp(g)");
            }
            // Counters: where the windows reach before the raw points.
            for f in ["increase", "rate"] {
                let expr = format!("{f}(c_total[{}s])", range / 1000);
                let out = query_range(&store, &expr, first, last, step, &opts)
                    .unwrap_or_else(|e| panic!("{phase}: {expr}: {e}"));
                let m = matrix(out.value);
                let Some(s) = m.first() else { continue };
                for &(t, v) in &s.points {
                    if !uses_tiles(t) {
                        continue; // Prometheus' extrapolated rate: the differential test's
                    }
                    let inc = increase(&c, t - range, t).unwrap();
                    let want = if f == "rate" {
                        inc / (range as f64 / 1000.0)
                    } else {
                        inc
                    };
                    assert!(close(v, want), "{phase}: {expr} at {t}: {v} vs {want}");
                    checked += 1;
                    from_tiers += 1;
                }
            }
        }
        if phase == "raw expired" || phase == "10s expired" {
            // Only the last window is left, the look-back of the tiers' next piece.
            assert_eq!(raw_from, Some(end - 20 * MIN), "{phase}");
        }
    }
    assert!(checked > 3000, "{checked}");
    assert!(from_tiers > 1000, "{from_tiers}");
}

#[test]
fn a_90_day_step_over_the_60s_tier_answers_every_window() {
    // Three days of one point a minute, backfilled into the tiers (no raw points).
    let dir = tempfile::tempdir().unwrap();
    let now = T0 + 10 * 24 * HOUR;
    let clock = Arc::new(ManualClock::new(now));
    let store = Store::open(dir.path(), Config::default().with_clock(clock)).unwrap();
    let start = now - 5 * 24 * HOUR;
    let pts: Vec<(i64, f64)> = (0..3 * 24 * 60)
        .map(|i| (start + i * MIN, (i % 97) as f64))
        .collect();
    let samples: Vec<In<'_>> = pts
        .iter()
        .map(|&(t, v)| In::new("load", &[], t, v))
        .collect();
    let r = store.backfill(&samples).unwrap();
    assert_eq!(r.accepted, samples.len() as u64);
    let out = query_range(
        &store,
        "avg_over_time(load[1h])",
        start + HOUR,
        start + 3 * 24 * HOUR,
        HOUR,
        &Options::default(),
    )
    .unwrap();
    assert!(
        out.warnings.iter().any(|w| w.contains("60s tier")),
        "{:?}",
        out.warnings
    );
    // No raw points at all: the warning says so rather than naming a time.
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("have all expired") && !w.contains("  ")),
        "{:?}",
        out.warnings
    );
    let m = matrix(out.value);
    assert_eq!(m[0].points.len(), 72);
    for &(t, v) in &m[0].points {
        let vs: Vec<f64> = pts
            .iter()
            .filter(|p| p.0 >= t - HOUR && p.0 < t)
            .map(|p| p.1)
            .collect();
        let want = vs.iter().sum::<f64>() / vs.len() as f64;
        assert!(close(v, want), "{t}: {v} vs {want}");
    }
}
