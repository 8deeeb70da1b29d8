//! A 30-day PromQL range query answered by tierlog from its `60s` tier, beside the real
//! Prometheus 2.42 reading the raw samples of the same data (over HTTP, on loopback).
//!
//! `cargo bench -p tierlog-promql --bench promql_long_vs_prometheus`; `TIERLOG_BENCH_REPS`
//! (default 5) repetitions of each query, run alternately on both. Skipped, saying so, when
//! `/usr/bin/prometheus` or `/usr/bin/promtool` is absent.
//!
//! Data: 100 series scraped every 60 s (whole seconds) for 30 days (4 320 000 samples):
//! `node_load1{host}` gauges on 50 hosts and `node_cpu_seconds_total{host,mode="user"}`
//! counters on the same hosts. Written once as OpenMetrics and backfilled into Prometheus
//! with `promtool tsdb create-blocks-from --max-block-duration=744h openmetrics` (timed), and
//! imported into a tierlog store with `Store::bulk_import` (default tiers: raw 2 h, `10s`
//! 24 h, `60s` 90 d; clock 2 h, the raw keep, past the data), so that tierlog answers from the `60s`
//! tier while Prometheus reads raw.
//!
//! Queries over the 30 days at a 1 h step: `avg_over_time(node_load1[1h])`,
//! `max_over_time(node_load1[1h])`, `sum by (host) (rate(node_cpu_seconds_total[1h]))`.
//! Times as in `promql_vs_prometheus`: tierlog in process (evaluation alone), tierlog+JSON
//! (the API's JSON built, encoded and decoded again, no HTTP) and Prometheus (HTTP POST on
//! loopback, its evaluation and JSON, the reply decoded).
//!
//! Agreement: tierlog's windows are `[t-1h, t)` and Prometheus' `(t-1h, t]`; the two hold
//! the same samples when Prometheus is evaluated at `t - 1 ms`, so the answers are compared
//! against a Prometheus query shifted by −1 ms. `avg`/`max` must agree to 1e-9 (relative);
//! for `rate` (from tiles, not extrapolated on tierlog) the relative difference is printed.

#[allow(dead_code, unused_imports)]
#[path = "../tests/diff/mod.rs"]
mod diff;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use diff::target::{PROMETHEUS, PROMTOOL, Prometheus, Target, median, to_json};
use serde_json::Value as Json;
use tierlog::{Config, ManualClock, MetricKind, MetricMeta, Store};

const HOSTS: usize = 50;
const INTERVAL: i64 = 60_000;
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// A day boundary.
const START: i64 = 1_699_920_000_000;
const END: i64 = START + 30 * DAY;
/// The store's clock: the raw keep (2 h) past the data, as `Store::bulk_import` takes only
/// samples older than the raw keep (the rest are for `Store::write`).
const NOW: i64 = END + 2 * HOUR;

/// Every sample in time order: (series index, time ms, value); series `0..HOSTS` are the
/// gauges, `HOSTS..2*HOSTS` the counters.
fn samples(mut f: impl FnMut(usize, i64, f64)) {
    let mut counters = vec![0.0f64; HOSTS];
    let mut k = 0u64;
    let mut ts = START;
    while ts < END {
        for (h, counter) in counters.iter_mut().enumerate() {
            let r = (k.wrapping_mul(2_654_435_761) ^ (h as u64 * 40_503)) % 10_007;
            f(h, ts, (r % 400) as f64 / 100.0);
            // Whole quarters of a second: exact in binary, printed and parsed back exactly.
            *counter += (r % 240) as f64 * 0.25;
            f(HOSTS + h, ts, *counter);
        }
        k += 1;
        ts += INTERVAL;
    }
}

fn host(i: usize) -> String {
    format!("host-{:03}", i % HOSTS)
}

fn write_openmetrics(path: &Path) {
    // Grouped by series (promtool wants a family's samples together, each series in order).
    let mut by_series: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 2 * HOSTS];
    samples(|s, t, v| by_series[s].push((t, v)));
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for (s, points) in by_series.iter().enumerate() {
        let head = if s < HOSTS {
            if s == 0 {
                writeln!(out, "# TYPE node_load1 gauge").unwrap();
            }
            format!("node_load1{{host=\"{}\"}}", host(s))
        } else {
            if s == HOSTS {
                writeln!(out, "# TYPE node_cpu_seconds counter").unwrap();
            }
            format!(
                "node_cpu_seconds_total{{host=\"{}\",mode=\"user\"}}",
                host(s)
            )
        };
        for (t, v) in points {
            writeln!(out, "{head} {v} {}", t / 1000).unwrap();
        }
    }
    writeln!(out, "# EOF").unwrap();
    out.flush().unwrap();
}

fn config() -> Config {
    Config {
        maintenance_interval: None,
        ..Config::default()
    }
    .with_clock(Arc::new(ManualClock::new(NOW)))
}

fn build_store(dir: &Path) -> f64 {
    let store = Store::open(dir, config()).expect("open");
    store
        .set_metric_meta(
            "node_cpu_seconds_total",
            MetricMeta {
                kind: MetricKind::Counter,
                ..MetricMeta::default()
            },
        )
        .expect("meta");
    let began = Instant::now();
    let hosts: Vec<String> = (0..HOSTS).map(host).collect();
    let mut bulk = store.bulk_import();
    samples(|s, t, v| {
        let h = hosts[s % HOSTS].as_str();
        if s < HOSTS {
            bulk.push("node_load1", &[("host", h)], t, v)
        } else {
            bulk.push(
                "node_cpu_seconds_total",
                &[("host", h), ("mode", "user")],
                t,
                v,
            )
        }
        .expect("push");
    });
    let sum = bulk.finish().expect("finish");
    assert_eq!(
        sum.accepted,
        (2 * HOSTS) as u64 * ((END - START) / INTERVAL) as u64
    );
    began.elapsed().as_secs_f64()
}

/// A matrix answer as label set (JSON text) -> time ms -> value.
type Answer = BTreeMap<String, BTreeMap<i64, f64>>;

fn answer(data: &Json, shift_ms: i64) -> Answer {
    let mut out = Answer::new();
    for s in data["result"].as_array().expect("a matrix") {
        let pts = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64 + shift_ms;
                let v = diff::compare::parse_value(p[1].as_str().unwrap()).unwrap();
                (t, v)
            })
            .collect();
        out.insert(s["metric"].to_string(), pts);
    }
    out
}

/// (points compared, points missing on either side, largest and median relative difference).
fn differences(a: &Answer, b: &Answer) -> (usize, usize, f64, f64) {
    let (mut missing, mut rel) = (0, Vec::new());
    for (labels, pa) in a {
        let Some(pb) = b.get(labels) else {
            missing += pa.len();
            continue;
        };
        for (t, va) in pa {
            match pb.get(t) {
                Some(vb) => {
                    rel.push((va - vb).abs() / va.abs().max(vb.abs()).max(f64::MIN_POSITIVE))
                }
                None => missing += 1,
            }
        }
        missing += pb.keys().filter(|t| !pa.contains_key(t)).count();
    }
    missing += b
        .keys()
        .filter(|l| !a.contains_key(*l))
        .map(|l| b[l].len())
        .sum::<usize>();
    let n = rel.len();
    let max = rel.iter().copied().fold(0.0, f64::max);
    (
        n,
        missing,
        max,
        if n == 0 { f64::NAN } else { median(&mut rel) },
    )
}

fn main() {
    let Some(reps) = diff::target::bench_setup() else {
        return;
    };

    let work = tempfile::tempdir().unwrap();
    let began = Instant::now();
    let om = work.path().join("data.om");
    write_openmetrics(&om);
    let om_bytes = std::fs::metadata(&om).map(|m| m.len()).unwrap_or(0);
    let wrote = began.elapsed().as_secs_f64();
    let db = work.path().join("tsdb");
    let began = Instant::now();
    let out = std::process::Command::new(PROMTOOL)
        .args([
            "tsdb",
            "create-blocks-from",
            "--max-block-duration=744h",
            "--quiet",
        ])
        .arg("openmetrics")
        .arg(&om)
        .arg(&db)
        .output()
        .expect("run promtool");
    assert!(out.status.success(), "promtool: {out:?}");
    let backfill = began.elapsed().as_secs_f64();
    let blocks = std::fs::read_dir(&db)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().join("meta.json").exists())
            })
            .count()
        })
        .unwrap_or(0);
    std::fs::remove_file(&om).ok();
    let prom = Prometheus::start(PROMETHEUS, &db, work.path()).expect("start prometheus");
    let dir = work.path().join("store");
    let import = build_store(&dir);
    let store = Store::open_read_only(&dir, config()).expect("open read-only");
    println!(
        "data: {} series, {} samples over 30 days at 60 s; OpenMetrics {:.0} MB written in {wrote:.1} s; \
         promtool backfill {backfill:.1} s ({blocks} blocks); tierlog bulk_import {import:.1} s; {reps} repetitions each",
        2 * HOSTS,
        2 * HOSTS as i64 * ((END - START) / INTERVAL),
        om_bytes as f64 / 1e6
    );

    let opts = tierlog_promql::Options::default();
    let (start, end) = (START + HOUR, END);
    for (expr, exact) in [
        ("avg_over_time(node_load1[1h])", true),
        ("max_over_time(node_load1[1h])", true),
        ("sum by (host) (rate(node_cpu_seconds_total[1h]))", false),
    ] {
        // Warm both once, and keep the answers for the comparison.
        let ours = tierlog_promql::query_range(&store, expr, start, end, HOUR, &opts)
            .expect("tierlog evaluates");
        let tiers = ours.warnings.join("; ");
        let ours = answer(&to_json(&ours.value), 0);
        let theirs = answer(
            &prom
                .query_range(expr, start - 1, end - 1, HOUR)
                .expect("Prometheus evaluates"),
            1,
        );
        let (n, missing, max_rel, med_rel) = differences(&ours, &theirs);

        let (mut t, mut tj, mut p) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            let began = Instant::now();
            let r = tierlog_promql::query_range(&store, expr, start, end, HOUR, &opts);
            t.push(began.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(r.expect("tierlog evaluates"));
            let began = Instant::now();
            let out = tierlog_promql::query_range(&store, expr, start, end, HOUR, &opts)
                .expect("tierlog evaluates");
            let text =
                serde_json::json!({"status": "success", "data": to_json(&out.value)}).to_string();
            let back: Json = serde_json::from_str(&text).expect("own JSON");
            std::hint::black_box(back);
            tj.push(began.elapsed().as_secs_f64() * 1e3);
            let began = Instant::now();
            let r = prom.query_range(expr, start, end, HOUR);
            p.push(began.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(r.expect("Prometheus evaluates"));
        }
        let (t, tj, p) = (median(&mut t), median(&mut tj), median(&mut p));
        println!(
            "30 d at 1 h: {expr}: tierlog {t:.2} ms (+JSON {tj:.2} ms), Prometheus {p:.2} ms; \
             ratio {:.3} (+JSON {:.3}); tierlog's notes: {tiers}",
            t / p,
            tj / p
        );
        let verdict = if !exact {
            "reported only"
        } else if missing == 0 && max_rel <= 1e-9 {
            "agree to 1e-9"
        } else {
            "DISAGREE"
        };
        println!(
            "  against Prometheus at t - 1 ms: {n} points compared, {missing} missing on one side, \
             relative difference max {max_rel:.3e}, median {med_rel:.3e}: {verdict}"
        );
    }
}
