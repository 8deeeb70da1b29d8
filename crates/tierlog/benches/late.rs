//! Late writes: samples shuffled across the sealed windows of the raw keep, into a store whose
//! windows are sealed and rolled up, and the maintenance pass that merges them.
//!
//! ```text
//! cargo bench -p tierlog --bench late      # TIERLOG_LATE_RUNS=3
//! ```
//!
//! Workload: 1000 series of the default `tierlog_testkit::workload` mix, written in time
//! every 15 s for 2 h (480 000 samples), sealed and rolled up (default tiers). Then 240 000
//! samples at times drawn uniformly over the sealed windows (from 1 h 55 min to 25 min before
//! the clock: every window but the open ones), shuffled, written in batches of 1000 with
//! `Sync::Interval(1 s)`; then one maintenance pass merges them (segments written again, the
//! 10s and 60s buckets of the affected series recomputed). Each run is a fresh store; the
//! figures are the medians of the runs.

use std::time::{Duration, Instant};

use tierlog::{Config, ManualClock, Store, Sync};
use tierlog_testkit::workload::Workload;

/// 2023-11-14T22:00:00Z, a window boundary.
const START: i64 = 1_699_999_200_000;
const SERIES: usize = 1_000;
const STEP: i64 = 15_000;
const HOURS: i64 = 2;
const LATE: usize = 240_000;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("TIERLOG_LATE_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let names: Vec<(String, Vec<(String, String)>)> =
        Workload::new(0x1a7e, SERIES, STEP, START).series().to_vec();
    let (mut write_rates, mut merge_secs) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = std::sync::Arc::new(ManualClock::new(START));
        let config = Config::default()
            .with_clock(clock.clone())
            .with_sync(Sync::Interval(Duration::from_secs(1)))
            .with_maintenance_interval(None);
        let store = Store::open(dir.path(), config).expect("open");
        let handles: Vec<_> = names
            .iter()
            .map(|(m, l)| {
                let l: Vec<(&str, &str)> =
                    l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                store.series_handle(m, &l).expect("handle")
            })
            .collect();
        let end = START + HOURS * 3_600_000;
        let mut t = START;
        let mut batch = Vec::with_capacity(SERIES);
        while t < end {
            clock.set(t);
            batch.clear();
            batch.extend(
                handles
                    .iter()
                    .enumerate()
                    .map(|(i, h)| (*h, t, (i as f64) + (t / STEP % 100) as f64)),
            );
            store.write_series(&batch).expect("write");
            t += STEP;
        }
        clock.set(end);
        store.maintain().expect("maintain");
        // Late samples over the sealed windows, shuffled.
        let mut rng = Rng(run as u64 + 1);
        let (lo, hi) = (end - HOURS * 3_600_000 + 300_000, end - 25 * 60_000);
        let late: Vec<(tierlog::SeriesId, i64, f64)> = (0..LATE)
            .map(|k| {
                let s = (rng.next() % SERIES as u64) as usize;
                let ts = lo + (rng.next() % (hi - lo) as u64) as i64;
                (handles[s], ts, k as f64)
            })
            .collect();
        let started = Instant::now();
        let mut late_count = 0;
        for chunk in late.chunks(1_000) {
            let s = store.write_series(chunk).expect("late write");
            late_count += s.late;
        }
        store.sync().expect("sync");
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(late_count, LATE as u64, "every sample went to a late log");
        let rate = LATE as f64 / secs;
        let started = Instant::now();
        let report = store.maintain().expect("merge");
        let merge = started.elapsed().as_secs_f64();
        println!(
            "run {run}: {LATE} late samples in {secs:.2} s ({:.0} samples/s); merge of {} windows, {} buckets recomputed: {merge:.2} s",
            rate, report.late.windows, report.late.buckets_recomputed
        );
        write_rates.push(rate);
        merge_secs.push(merge);
    }
    println!(
        "median: late writes {:.0} samples/s, merge pass {:.2} s",
        median(write_rates),
        median(merge_secs)
    );
}
