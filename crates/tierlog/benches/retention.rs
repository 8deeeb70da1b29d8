//! Retention's effect on writers: write latency while a maintenance pass drops many segments,
//! against the same writes with no pass running.
//!
//! `cargo bench --bench retention` builds a store of 200 series × 2 days at 10 s (raw kept
//! 2 days, so nothing expires while it is built), then, twice on fresh copies:
//! 1. a writer thread writes batches of 200 samples (one per series) as fast as it can for
//!    the measured interval, alone;
//! 2. the same, while the main thread runs one `maintain()` whose byte budget (a tenth of the
//!    store) makes it drop hundreds of segments.
//!
//! Prints write latency percentiles (µs) for both, and what the pass dropped.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tierlog::{Config, ManualClock, SeriesId, Store, Sync, Tier};
use tierlog_testkit::workload::Workload;

const SERIES: usize = 200;
const START: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000;
const SPAN_MS: i64 = 2 * 86_400_000;

fn config(clock: Arc<ManualClock>, max_bytes: u64) -> Config {
    Config {
        raw_keep: Some(Duration::from_secs(2 * 86_400)),
        tiers: Some(vec![
            Tier::new(
                "10s",
                Duration::from_secs(10),
                Duration::from_secs(3 * 86_400),
            ),
            Tier::new(
                "60s",
                Duration::from_secs(60),
                Duration::from_secs(90 * 86_400),
            ),
        ]),
        max_bytes: Some(max_bytes),
        maintenance_interval: None,
        ..Config::default()
    }
    .with_clock(clock)
    .with_sync(Sync::Never)
}

/// Builds the store; returns the end of its data.
fn build(dir: &Path) -> i64 {
    let clock = Arc::new(ManualClock::new(START));
    let store = Store::open(dir, config(clock.clone(), 0)).expect("open");
    let mut w = Workload::new(7, SERIES, 10_000, START);
    let names = w.series().to_vec();
    let handles: Vec<SeriesId> = names
        .iter()
        .map(|(m, l)| {
            let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            store.series_handle(m, &l).expect("handle")
        })
        .collect();
    let (mut scrape, mut batch) = (Vec::new(), Vec::new());
    while w.next_scrape_ms() < START + SPAN_MS {
        scrape.clear();
        let t = w.next_scrape(&mut scrape);
        clock.set(t + 999);
        batch.clear();
        batch.extend(
            scrape
                .iter()
                .map(|&(i, ts, v)| (handles[i as usize], ts, v)),
        );
        store.write_series(&batch).expect("write");
    }
    let end = START + SPAN_MS;
    clock.set(end + 600_000);
    store.maintain().expect("maintain");
    store.close().expect("close");
    end
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

/// Write latencies (ns) of a writer thread running while `during` runs, and what it returned.
/// The writes stay inside one open window (timestamps cycle through 10 minutes right after the
/// data), so they measure the write path, not sealing.
fn measure<T>(
    store: &Arc<Store>,
    clock: &ManualClock,
    end: i64,
    during: impl FnOnce() -> T,
) -> (Vec<u64>, T) {
    let handles: Vec<SeriesId> = store
        .series(&"{__name__=~\".+\"}".parse().expect("selector"))
        .iter()
        .map(|s| s.id)
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    clock.set(end + 600_000);
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut lat = Vec::new();
            let mut i = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let t = end + 600_000 + (i % 600) * 1000;
                let batch: Vec<(SeriesId, i64, f64)> =
                    handles.iter().map(|&h| (h, t, 1.0)).collect();
                let s = Instant::now();
                let r = store.write_series(&batch).expect("write");
                lat.push(s.elapsed().as_nanos() as u64);
                assert_eq!(r.accepted, batch.len() as u64, "{r:?}");
                i += 1;
                if lat.len() >= 400_000 {
                    break;
                }
            }
            lat
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let r = during();
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    (writer.join().expect("writer"), r)
}

fn pct(v: &mut [u64], p: f64) -> u64 {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let base = root.path().join("base");
    let t = Instant::now();
    let end = build(&base);
    let size = tierlog::vfs::dir_size(&base).expect("size");
    eprintln!(
        "built {SERIES} series × 2 days at 10 s ({size} bytes) in {:.1?}",
        t.elapsed()
    );
    println!("`cargo bench --bench retention`\n");
    println!("| writes | samples per write | p50 µs | p99 µs | p99.9 µs | max µs | note |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (name, budget) in [("alone", 0u64), ("during a budget pass", size / 10)] {
        let dir = root.path().join(name.replace(' ', "-"));
        copy_dir(&base, &dir);
        let clock = Arc::new(ManualClock::new(end + 600_000));
        let store = Arc::new(Store::open(&dir, config(clock.clone(), budget)).expect("open"));
        let (mut lat, note) = measure(&store, &clock, end, || {
            if budget == 0 {
                std::thread::sleep(Duration::from_millis(300));
                String::new()
            } else {
                let s = Instant::now();
                let r = store.maintain().expect("maintain").retention;
                format!(
                    "pass: {} segments dropped, {} bytes freed in {:.0?}",
                    r.dropped.len(),
                    r.bytes_freed,
                    s.elapsed()
                )
            }
        });
        let n = lat.len();
        let us = |ns: u64| ns as f64 / 1000.0;
        println!(
            "| {name} ({n}) | {SERIES} | {:.1} | {:.1} | {:.1} | {:.0} | {note} |",
            us(pct(&mut lat, 0.5)),
            us(pct(&mut lat, 0.99)),
            us(pct(&mut lat, 0.999)),
            us(pct(&mut lat, 1.0))
        );
    }
}
