//! Index compaction's effect on writers: write latency while a maintenance pass removes many
//! expired series and compacts `index.log`, against the same writes with no pass running.
//!
//! `cargo bench --bench index_compaction` builds a store with `LIVE` series (samples in the
//! first window and in the current one) and `CHURN` series (samples only in the first window),
//! the first window sealed and kept. Then, `RUNS` times each, on fresh copies:
//! 1. a writer thread writes batches of 200 samples (to live series) as fast as it can, alone;
//! 2. the same while the main thread runs one `maintain()` with raw kept an hour: it drops the
//!    first window, removes the `CHURN` series (2 × `CHURN` dead index records) and compacts
//!    the index down to the live series.
//!
//! Prints the medians over the runs of the write latency percentiles (µs), of the pass time,
//! of the compaction time and of the time the compaction held the state lock.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tierlog::{Config, ManualClock, Sample, SeriesId, Store, Sync};

const LIVE: usize = 10_000;
const CHURN: usize = 100_000;
const RUNS: usize = 5;
const BATCH: usize = 200;
const HOUR: i64 = 3_600_000;
const START: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000;
const LATER: i64 = START + 3 * HOUR;

fn config(clock: Arc<ManualClock>, keep_h: u64) -> Config {
    Config {
        raw_keep: Some(Duration::from_secs(keep_h * 3600)),
        tiers: Some(Vec::new()),
        maintenance_interval: None,
        ..Config::default()
    }
    .with_clock(clock)
    .with_sync(Sync::Never)
}

fn build(dir: &Path) {
    let clock = Arc::new(ManualClock::new(START));
    let store = Store::open(dir, config(clock.clone(), 24)).expect("open");
    let names: Vec<String> = (0..CHURN.max(LIVE)).map(|i| format!("{i:06}")).collect();
    let keep: Vec<[(&str, &str); 2]> = names[..LIVE]
        .iter()
        .map(|n| [("host", "h1"), ("id", n.as_str())])
        .collect();
    let churn: Vec<[(&str, &str); 2]> = names[..CHURN]
        .iter()
        .map(|n| [("container", n.as_str()), ("host", "h1")])
        .collect();
    let write = |metric: &str, labels: &[[(&str, &str); 2]], t: i64| {
        for part in labels.chunks(5000) {
            let batch: Vec<Sample> = part
                .iter()
                .map(|l| Sample::new(metric, l, t, 1.0))
                .collect();
            store.write(&batch).expect("write");
        }
    };
    write("keep", &keep, START);
    write("container_cpu", &churn, START);
    clock.set(LATER);
    write("keep", &keep, LATER);
    store.maintain().expect("maintain");
    store.close().expect("close");
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
/// The writes stay inside the current window.
fn measure<T>(store: &Arc<Store>, during: impl FnOnce() -> T) -> (Vec<u64>, T) {
    let handles: Vec<SeriesId> = store
        .series(&"keep".parse().expect("selector"))
        .iter()
        .take(BATCH)
        .map(|s| s.id)
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut lat = Vec::new();
            let mut i = 0i64;
            while !stop.load(Ordering::Relaxed) && lat.len() < 2_000_000 {
                let t = LATER + (i % 600) * 1000;
                let batch: Vec<(SeriesId, i64, f64)> =
                    handles.iter().map(|&h| (h, t, 1.0)).collect();
                let s = Instant::now();
                let r = store.write_series(&batch).expect("write");
                lat.push(s.elapsed().as_nanos() as u64);
                assert_eq!(r.accepted, batch.len() as u64, "{r:?}");
                i += 1;
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[derive(Default)]
struct Row {
    writes: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    p999: Vec<f64>,
    max: Vec<f64>,
    pass_ms: Vec<f64>,
    compaction_ms: Vec<f64>,
    locked_ms: Vec<f64>,
    bytes: (u64, u64),
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let base = root.path().join("base");
    let t = Instant::now();
    build(&base);
    eprintln!(
        "built {LIVE} live + {CHURN} expiring series ({} index bytes) in {:.1?}",
        std::fs::metadata(base.join("index.log"))
            .expect("index")
            .len(),
        t.elapsed()
    );
    let mut rows: Vec<(&str, Row)> = vec![("alone", Row::default()), ("during", Row::default())];
    for run in 0..RUNS {
        for (name, row) in rows.iter_mut() {
            let dir = root.path().join(format!("{name}-{run}"));
            copy_dir(&base, &dir);
            let clock = Arc::new(ManualClock::new(LATER));
            let alone = *name == "alone";
            let keep_h = if alone { 24 } else { 1 };
            let store = Arc::new(Store::open(&dir, config(clock, keep_h)).expect("open"));
            let (mut lat, pass) = measure(&store, || {
                if alone {
                    std::thread::sleep(Duration::from_millis(300));
                    None
                } else {
                    let s = Instant::now();
                    let r = store.maintain().expect("maintain").retention;
                    assert_eq!(r.series_removed, CHURN as u64);
                    Some((s.elapsed(), r.index_compacted.expect("compacted")))
                }
            });
            let us = |ns: u64| ns as f64 / 1000.0;
            row.writes.push(lat.len() as f64);
            row.p50.push(us(pct(&mut lat, 0.5)));
            row.p99.push(us(pct(&mut lat, 0.99)));
            row.p999.push(us(pct(&mut lat, 0.999)));
            row.max.push(us(pct(&mut lat, 1.0)));
            if let Some((took, c)) = pass {
                row.pass_ms.push(took.as_secs_f64() * 1000.0);
                row.compaction_ms.push(c.took_us as f64 / 1000.0);
                row.locked_ms.push(c.locked_us as f64 / 1000.0);
                row.bytes = (c.bytes_before, c.bytes_after);
            }
            drop(store);
            std::fs::remove_dir_all(&dir).expect("cleanup");
        }
    }
    println!(
        "`cargo bench --bench index_compaction` ({LIVE} live series, {CHURN} removed, medians of {RUNS} runs)\n"
    );
    println!(
        "| writes | samples per write | p50 µs | p99 µs | p99.9 µs | max µs | pass ms | compaction ms | of it locked ms | index bytes |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (name, r) in rows {
        let opt = |v: Vec<f64>| {
            if v.is_empty() {
                "".to_string()
            } else {
                format!("{:.1}", median(v))
            }
        };
        let bytes = if r.bytes.0 == 0 {
            String::new()
        } else {
            format!("{} → {}", r.bytes.0, r.bytes.1)
        };
        println!(
            "| {name} ({:.0}) | {BATCH} | {:.1} | {:.1} | {:.1} | {:.0} | {} | {} | {} | {bytes} |",
            median(r.writes),
            median(r.p50),
            median(r.p99),
            median(r.p999),
            median(r.max),
            opt(r.pass_ms),
            opt(r.compaction_ms),
            opt(r.locked_ms),
        );
    }
}
