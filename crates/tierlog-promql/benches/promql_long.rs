//! A 90-day PromQL query answered from the `60s` tier: `avg_over_time(node_load1[1h])` at a
//! 1 h step over 100 series at 60 s, beside the store's own step query over the same series
//! (the floor: the tiles the evaluator asks for), alternately.
//!
//! ```text
//! cargo bench -p tierlog-promql --bench promql_long   # TIERLOG_PROMQL_RUNS=7; TIERLOG_PROMQL_DIR=path keeps the store
//! ```
//!
//! Workload: `node_load1{host}` on 100 hosts, one sample every 60 s for 90 days (12 960 000
//! samples), imported once through `Store::bulk_import` into a store with the default tiers
//! whose clock is an hour past the history; queries run on a read-only open, as
//! `tierlog serve` and `tierlog query` do.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tierlog::{Config, ManualClock, Selector, Store};
use tierlog_promql::{Options, Value};

const HOSTS: usize = 100;
const INTERVAL: i64 = 60_000;
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// A day boundary.
const START: i64 = 1_699_920_000_000;
const END: i64 = START + 90 * DAY;
const NOW: i64 = END + HOUR;
const EXPR: &str = "avg_over_time(node_load1[1h])";

fn config() -> Config {
    Config {
        maintenance_interval: None,
        ..Config::default()
    }
    .with_clock(Arc::new(ManualClock::new(NOW)))
}

fn build(dir: &Path) {
    let store = Store::open(dir, config()).expect("open");
    let started = Instant::now();
    let mut bulk = store.bulk_import();
    let hosts: Vec<String> = (0..HOSTS).map(|h| format!("host-{h:03}")).collect();
    let mut k = 0u64;
    let mut ts = START;
    while ts < END {
        for (i, h) in hosts.iter().enumerate() {
            let r = (k.wrapping_mul(2_654_435_761) ^ (i as u64 * 40_503)) % 10_007;
            bulk.push("node_load1", &[("host", h)], ts, (r % 400) as f64 / 100.0)
                .expect("push");
        }
        k += 1;
        ts += INTERVAL;
    }
    let s = bulk.finish().expect("finish");
    println!(
        "built in {:.1} s: accepted {}, too old {}",
        started.elapsed().as_secs_f64(),
        s.accepted,
        s.rejected_too_old
    );
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("promql_long: bench");
        return;
    }
    let runs = std::env::var("TIERLOG_PROMQL_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7usize);
    let tmp;
    let dir = match std::env::var_os("TIERLOG_PROMQL_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir().expect("tempdir");
            tmp.path().join("store")
        }
    };
    if !dir.join("state").exists() {
        build(&dir);
    }
    let store = Store::open_read_only(&dir, config()).expect("open");
    let sel = Selector::metric("node_load1");
    let (from, to) = (START + HOUR, END);
    let (mut promql, mut floor) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let t = Instant::now();
        let out = tierlog_promql::query_range(&store, EXPR, from, to, HOUR, &Options::default())
            .expect("query");
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let Value::Matrix(m) = &out.value else {
            panic!("not a matrix")
        };
        let points: usize = m.iter().map(|s| s.points.len()).sum();
        assert_eq!(m.len(), HOSTS);
        assert!(
            out.warnings.iter().any(|w| w.contains("60s tier")),
            "{:?}",
            out.warnings
        );
        promql.push(ms);

        let t = Instant::now();
        let mut it = store
            .query_step_iter(&sel, from - HOUR, to, Duration::from_secs(3600))
            .expect("step");
        let tiles: usize = it.by_ref().map(|s| s.points.len()).sum();
        floor.push(t.elapsed().as_secs_f64() * 1e3);
        if run == 0 {
            println!(
                "{EXPR} over 90 days at 1 h: {} series, {points} points; step floor: {tiles} tiles",
                m.len()
            );
        }
    }
    println!(
        "runs {runs}: PromQL median {:.1} ms (min {:.1}), store step query median {:.1} ms (min {:.1})",
        median(&mut promql.clone()),
        promql.iter().copied().fold(f64::INFINITY, f64::min),
        median(&mut floor.clone()),
        floor.iter().copied().fold(f64::INFINITY, f64::min)
    );
}
