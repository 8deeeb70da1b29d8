//! Fuzz entry point of the PromQL engine: arbitrary expressions evaluated on one small store,
//! as an instant query and as a range query, under tight limits. An expression may be refused
//! with any typed error but the store's; it must not panic, and what it answers must respect
//! the limits it was given.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tierlog::{Config, ManualClock, Sample, Store, Sync};
use tierlog_promql::{Error, Options, QueryOutput, Value};

/// First point of the store's data, ms (a whole hour, so steps and offsets line up with it).
pub const PROMQL_T0: i64 = 1_699_999_200_000;
/// The data's scrape interval, ms.
const SCRAPE_MS: i64 = 15_000;
/// Scrapes per series: one hour.
const SCRAPES: i64 = 240;
/// Longest expression evaluated, in bytes (the rest of the input is ignored).
pub const PROMQL_MAX_EXPR: usize = 512;
/// Most steps of a range query: the step is raised to keep under it.
const MAX_STEPS: i64 = 1000;
/// The limits every evaluation runs under.
const MAX_SAMPLES: usize = 200_000;
const MAX_POINTS_PER_SERIES: usize = 500;

/// The store every input is evaluated on, built once per process, in memory.
fn promql_store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(build_promql_store)
}

/// A few counters (with a reset and a gap), gauges (with NaN, ±Inf, negative values and one
/// series that stops early) and a classic histogram with `le` buckets, every 15 s for an hour
/// from [`PROMQL_T0`], on an in-memory file system.
fn build_promql_store() -> Store {
    let clock = Arc::new(ManualClock::new(PROMQL_T0));
    let mut config = Config::default()
        .with_clock(clock.clone())
        .with_sync(Sync::Never)
        .with_vfs(Arc::new(tierlog::vfs::FaultFs::new()));
    config.maintenance_interval = None;
    let store = Store::open("/promql", config).expect("open the PromQL fuzz store");
    let buckets: [(&[(&str, &str)], f64); 4] = [
        (&[("job", "api"), ("le", "0.1")], 0.3),
        (&[("job", "api"), ("le", "0.5")], 0.6),
        (&[("job", "api"), ("le", "1")], 0.9),
        (&[("job", "api"), ("le", "+Inf")], 1.0),
    ];
    for i in 0..SCRAPES {
        let t = PROMQL_T0 + i * SCRAPE_MS;
        clock.set(t);
        let x = i as f64;
        let mut s: Vec<Sample<'_>> = Vec::new();
        // Counters: one resets half-way, one has a 20-minute gap, one counts slowly.
        let reset = if i < 120 { 3.0 * x } else { 2.0 * (x - 120.0) };
        s.push(Sample::new(
            "http_requests_total",
            &[("job", "api"), ("instance", "a"), ("code", "200")],
            t,
            reset,
        ));
        if !(60..140).contains(&i) {
            s.push(Sample::new(
                "http_requests_total",
                &[("job", "api"), ("instance", "b"), ("code", "500")],
                t,
                0.5 * x,
            ));
        }
        s.push(Sample::new(
            "http_requests_total",
            &[("job", "db"), ("instance", "a"), ("code", "200")],
            t,
            (x / 7.0).floor(),
        ));
        // Gauges: special values, negative values, one that stops after 10 minutes.
        let special = match i % 37 {
            5 => f64::NAN,
            11 => f64::INFINITY,
            23 => f64::NEG_INFINITY,
            29 => -0.0,
            _ => 20.0 + (x / 9.0).sin() * 5.0,
        };
        s.push(Sample::new(
            "node_temp_celsius",
            &[("instance", "a")],
            t,
            special,
        ));
        s.push(Sample::new(
            "node_temp_celsius",
            &[("instance", "b"), ("zone", "é")],
            t,
            -(x % 13.0) * 1.5e3,
        ));
        if i < 40 {
            s.push(Sample::new("up", &[("job", "batch")], t, 1.0));
        }
        s.push(Sample::new(
            "up",
            &[("job", "api")],
            t,
            (i % 50 != 0) as i32 as f64,
        ));
        s.push(Sample::new("up", &[("job", "db")], t, 1.0));
        // A classic histogram, cumulative, its count resetting with the first counter.
        let n = if i < 120 {
            10.0 * x
        } else {
            10.0 * (x - 120.0)
        };
        for (labels, share) in buckets {
            s.push(Sample::new(
                "req_duration_seconds_bucket",
                labels,
                t,
                (n * share).floor(),
            ));
        }
        s.push(Sample::new(
            "req_duration_seconds_count",
            &[("job", "api")],
            t,
            n,
        ));
        s.push(Sample::new(
            "req_duration_seconds_sum",
            &[("job", "api")],
            t,
            n * 0.27,
        ));
        let sum = store.write(&s).expect("write the PromQL fuzz store");
        assert_eq!(sum.accepted, s.len() as u64, "{sum:?}");
    }
    clock.set(PROMQL_T0 + SCRAPES * SCRAPE_MS + 60_000);
    store
}

/// The range query's `(eval time, start, end, step)` from the parameter bytes.
fn promql_params(p: &[u8]) -> (i64, i64, i64, i64) {
    let b = |i: usize| i64::from(p.get(i).copied().unwrap_or(0));
    // From 10 minutes before the data to about 75 minutes after its start.
    let time = PROMQL_T0 - 600_000 + b(0) * 20_000;
    let start = PROMQL_T0 - 600_000 + b(1) * 20_000;
    let end = start + b(2) * 37_000;
    let mut step = (1 + (b(3) << 8 | b(4)) * 100).max(1);
    if b(3) == 0 && b(4) < 8 {
        // Sub-second steps too, down to 1 ms.
        step = b(4).max(1);
    }
    let span = end - start;
    if span / step >= MAX_STEPS {
        step = span / (MAX_STEPS - 1) + 1;
    }
    (time, start, end, step)
}

/// Evaluates `data` as PromQL on a small store, as an instant and as a range query.
///
/// Input: the expression (UTF-8, lossily; at most [`PROMQL_MAX_EXPR`] bytes), then, after a
/// NUL byte if there is one, the query's parameters: eval time, start, span and step (5
/// bytes, missing ones read as 0). Without a NUL the parameters come from a hash of the input.
///
/// Every result must be Ok or a typed error other than a store failure, and must respect the
/// limits: no series longer than `max_points_per_series`, no more samples than
/// `max_samples`, points in time order, range-query points on the step grid, and no label
/// set twice.
pub fn promql_eval(data: &[u8]) {
    let (expr, params) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], data[i + 1..].to_vec()),
        None => {
            let h = fnv(data).to_le_bytes();
            (data, h[..5].to_vec())
        }
    };
    let expr = String::from_utf8_lossy(&expr[..expr.len().min(PROMQL_MAX_EXPR)]);
    let store = promql_store();
    let (time, start, end, step) = promql_params(&params);
    let lookback = match params.get(5).copied().unwrap_or(0) % 4 {
        0 | 1 => 300_000,
        2 => 60_000,
        _ => 1,
    };
    let opts = || Options {
        lookback_delta_ms: lookback,
        max_samples: MAX_SAMPLES,
        max_points_per_series: MAX_POINTS_PER_SERIES,
        deadline: Some(Instant::now() + Duration::from_secs(1)),
        cancel: None,
    };
    let r = tierlog_promql::query(store, &expr, time, &opts());
    check_output(&expr, r, None);
    let r = tierlog_promql::query_range(store, &expr, start, end, step, &opts());
    if let Ok(out) = &r {
        check_steps(&expr, out, (start, end, step), &opts);
    }
    check_output(&expr, r, Some((start, end, step)));
}

/// A range query's answer at a step is the instant query's at that time: checked at up to
/// six of its steps (the first, the last and four between) where the instant query answers.
/// The range evaluation keeps state from step to step (windows, matchings, groups, values of
/// step-invariant parts) that an instant query never has, so this compares the two paths.
/// Left out: `@ start()` and `@ end()` (the range's ends, not the instant's time), and
/// `predict_linear` over a window pinned with `@`, which 2.42 answers in a range query only
/// up to the pinned time.
fn check_steps(
    expr: &str,
    out: &QueryOutput,
    (start, end, step): (i64, i64, i64),
    opts: &dyn Fn() -> Options,
) {
    // Keywords are case-insensitive (`@ START()`).
    let lower = expr.to_ascii_lowercase();
    if lower.contains("start(") || lower.contains("end(") {
        return;
    }
    if lower.contains('@') && lower.contains("predict_linear") {
        return;
    }
    let Value::Matrix(m) = &out.value else {
        return;
    };
    let n = (end - start) / step + 1;
    let mut picks: Vec<i64> = (0..6).map(|k| k * (n - 1) / 5).collect();
    picks.dedup();
    let bits = |v: f64| if v.is_nan() { u64::MAX } else { v.to_bits() };
    for k in picks {
        let t = start + k * step;
        let Ok(inst) = tierlog_promql::query(promql_store(), expr, t, &opts()) else {
            continue;
        };
        let want: std::collections::BTreeMap<tierlog_promql::Labels, u64> = match inst.value {
            Value::Vector(v) => v.into_iter().map(|s| (s.labels, bits(s.v))).collect(),
            Value::Scalar { v, .. } => [(tierlog_promql::Labels::default(), bits(v))].into(),
            _ => continue,
        };
        let got: std::collections::BTreeMap<tierlog_promql::Labels, u64> = m
            .iter()
            .filter_map(|s| {
                let p = s.points.iter().find(|p| p.0 == t)?;
                Some((s.labels.clone(), bits(p.1)))
            })
            .collect();
        assert_eq!(
            got, want,
            "{expr:?}: the range query ({start}..{end} by {step}) at {t} against the instant query"
        );
    }
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Checks one answer against the limits; `range` is the range query's `(start, end, step)`.
fn check_output(
    expr: &str,
    r: tierlog_promql::Result<QueryOutput>,
    range: Option<(i64, i64, i64)>,
) {
    let out = match r {
        Ok(out) => out,
        Err(Error::Store(e)) => panic!("{expr:?}: the in-memory store failed: {e}"),
        Err(e) => {
            // Typed errors must display.
            let _ = e.to_string();
            return;
        }
    };
    match &out.value {
        Value::Scalar { .. } | Value::String { .. } => {
            assert!(
                range.is_none(),
                "{expr:?}: a range query must give a matrix"
            );
        }
        Value::Vector(v) => {
            assert!(
                range.is_none(),
                "{expr:?}: a range query must give a matrix"
            );
            assert!(v.len() <= MAX_SAMPLES, "{expr:?}: {} samples", v.len());
            let mut labels: Vec<_> = v.iter().map(|s| &s.labels).collect();
            labels.sort();
            let n = labels.len();
            labels.dedup();
            assert_eq!(labels.len(), n, "{expr:?}: a label set twice in a vector");
        }
        Value::Matrix(m) => {
            let mut total = 0usize;
            for s in m {
                total += s.points.len();
                assert!(
                    s.points.windows(2).all(|w| w[0].0 < w[1].0),
                    "{expr:?}: {} points out of time order",
                    s.labels
                );
                if let Some((start, end, step)) = range {
                    assert!(!s.points.is_empty(), "{expr:?}: empty series {}", s.labels);
                    assert!(
                        s.points.len() <= MAX_POINTS_PER_SERIES,
                        "{expr:?}: {} has {} points",
                        s.labels,
                        s.points.len()
                    );
                    for &(t, _) in &s.points {
                        assert!(
                            t >= start && t <= end && (t - start) % step == 0,
                            "{expr:?}: point at {t} off the grid {start}..={end} step {step}"
                        );
                    }
                }
            }
            assert!(total <= MAX_SAMPLES, "{expr:?}: {total} points");
            let mut labels: Vec<_> = m.iter().map(|s| &s.labels).collect();
            labels.sort();
            let n = labels.len();
            labels.dedup();
            assert_eq!(labels.len(), n, "{expr:?}: a label set twice in a matrix");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_keep_the_step_positive_and_the_steps_bounded() {
        for p in [
            [0u8; 5],
            [255; 5],
            [0, 0, 255, 0, 1],
            [7, 9, 200, 0, 0],
            [1, 2, 3, 255, 255],
        ] {
            let (_, start, end, step) = promql_params(&p);
            assert!(step >= 1 && end >= start, "{p:?}");
            assert!((end - start) / step < MAX_STEPS, "{p:?}");
        }
        assert_eq!(
            promql_params(&[0, 0, 0, 0, 1]).3,
            1,
            "1 ms steps are reachable"
        );
    }

    #[test]
    fn the_store_answers_the_seeded_series() {
        let out = tierlog_promql::query(
            promql_store(),
            "count(http_requests_total) + count(req_duration_seconds_bucket)",
            PROMQL_T0 + 30 * 60_000,
            &Options::default(),
        )
        .unwrap();
        match out.value {
            Value::Vector(v) => assert_eq!(v[0].v, 2.0 + 4.0, "instance b is in its gap"),
            other => panic!("{other:?}"),
        }
        promql_eval(b"sum by (le) (rate(req_duration_seconds_bucket[5m]))");
    }
}
