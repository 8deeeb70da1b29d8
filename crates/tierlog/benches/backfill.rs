//! Backfill throughput: history older than the raw keep imported through the bulk path
//! ([`Store::bulk_import`]) straight into the tiers.
//!
//! ```text
//! cargo bench -p tierlog --bench backfill     # TIERLOG_BACKFILL_DAYS=7, RUNS=3 by default
//! ```
//!
//! Workload: 1000 series of the default `tierlog_testkit::workload` mix (names and labels),
//! one sample every 15 s for `TIERLOG_BACKFILL_DAYS` days (7: 40 320 000 samples), pushed by
//! name and labels in time order, as `tierlog ingest` does, into a new store with the
//! default tiers (`10s` kept a day, `60s` 90 days) whose clock is a day past the history.
//! Values are generated on the fly (a cheap function of the series and the time), so the
//! figure is the store's cost. Each run uses a fresh store; the table gives every run and
//! the median. The store lives under `TIERLOG_BENCH_DIR` (default: the system temporary
//! directory).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tierlog::{Config, ManualClock, Store};
use tierlog_testkit::workload::Workload;

const SERIES: usize = 1_000;
const STEP: i64 = 15_000;
const DAY: i64 = 86_400_000;
/// A day boundary.
const START: i64 = 1_699_920_000_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let days = env("TIERLOG_BACKFILL_DAYS", 7) as i64;
    let runs = env("TIERLOG_BACKFILL_RUNS", 3).max(1);
    let base = std::env::var_os("TIERLOG_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let w = Workload::new(0x6ac4_f111, SERIES, STEP, START);
    let names: Vec<(String, Vec<(String, String)>)> = w.series().to_vec();
    let labels: Vec<Vec<(&str, &str)>> = names
        .iter()
        .map(|(_, l)| l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
        .collect();
    let steps = days * DAY / STEP;
    let total = steps as u64 * SERIES as u64;
    println!(
        "backfill: {SERIES} series x {days} days at 15 s = {total} samples through Store::bulk_import"
    );
    let mut rates = Vec::new();
    for run in 0..runs {
        let dir = tempfile::tempdir_in(&base).expect("temporary directory");
        let clock = Arc::new(ManualClock::new(START + (days + 1) * DAY));
        let config = Config {
            maintenance_interval: None,
            ..Config::default()
        }
        .with_clock(clock);
        let store = Store::open(dir.path(), config).expect("open");
        let started = Instant::now();
        let mut bulk = store.bulk_import();
        for k in 0..steps {
            let ts = START + k * STEP;
            for (i, ((metric, _), l)) in names.iter().zip(&labels).enumerate() {
                let v = ((k as u64).wrapping_mul(2_654_435_761) ^ i as u64) % 10_007;
                bulk.push(metric, l, ts, v as f64 * 0.25).expect("push");
            }
        }
        let summary = bulk.finish().expect("finish");
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(summary.accepted + summary.rejected(), total);
        let rate = total as f64 / secs;
        println!(
            "run {}: {secs:.2} s, {:.0} samples/s (accepted {}, too old {}, conflict {})",
            run + 1,
            rate,
            summary.accepted,
            summary.rejected_too_old,
            summary.rejected_conflict
        );
        rates.push(rate);
        drop(store);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "median: {:.0} samples/s over {} runs",
        rates[rates.len() / 2],
        rates.len()
    );
}
