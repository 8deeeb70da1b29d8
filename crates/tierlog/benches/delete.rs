//! The cost of `Store::delete`: one whole series out of 100, each with 90 days of 60 s
//! buckets (and 10 s buckets for the last day, raw points for the last 2 h).
//!
//! `cargo bench -p tierlog --bench delete` builds the store through the ordinary path (writes
//! at 60 s, maintenance every 6 h of data, so rollups materialise, spans compact and raw data
//! expires as it would live), then deletes 9 different series one after the other and prints
//! the median and the slowest. The store goes under `TIERLOG_BENCH_DIR` (default: the system
//! temporary directory). The state lock is held for the whole call, so the time is also
//! the longest a write or query waits behind a delete.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tierlog::{Config, DeleteOptions, ManualClock, SeriesId, Store, Sync, Tier};
use tierlog_testkit::workload::Workload;

const SERIES: usize = 100;
const DAY: i64 = 86_400_000;
const START: i64 = 1_700_000_000_000 - 1_700_000_000_000 % DAY;
const DAYS: i64 = 90;

fn config(clock: Arc<ManualClock>) -> Config {
    Config {
        tiers: Some(vec![
            Tier::new("10s", Duration::from_secs(10), Duration::from_secs(86_400)),
            Tier::new(
                "60s",
                Duration::from_secs(60),
                Duration::from_secs(100 * 86_400),
            ),
        ]),
        max_age_days: Some(100),
        maintenance_interval: None,
        ..Config::default()
    }
    .with_clock(clock)
    .with_sync(Sync::Never)
}

fn build(dir: &Path, clock: &Arc<ManualClock>) -> Store {
    let store = Store::open(dir, config(clock.clone())).expect("open");
    let mut w = Workload::new(11, SERIES, 60_000, START);
    let handles: Vec<SeriesId> = w
        .series()
        .to_vec()
        .iter()
        .map(|(m, l)| {
            let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            store.series_handle(m, &l).expect("handle")
        })
        .collect();
    let (mut scrape, mut batch) = (Vec::new(), Vec::new());
    let mut next_pass = START + DAY / 4;
    let end = START + DAYS * DAY;
    while w.next_scrape_ms() < end {
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
        if t >= next_pass {
            store.maintain().expect("maintain");
            next_pass += DAY / 4;
        }
    }
    clock.set(end + 3_600_000);
    store.maintain().expect("maintain");
    store
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let base = std::env::var_os("TIERLOG_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let root = tempfile::tempdir_in(base).expect("tempdir");
    let clock = Arc::new(ManualClock::new(START));
    let t = Instant::now();
    let store = build(root.path(), &clock);
    let stats = store.stats();
    let size = tierlog::vfs::dir_size(root.path()).expect("size");
    eprintln!(
        "built {SERIES} series × {DAYS} days at 60 s ({size} bytes, {} series) in {:.1?}",
        stats.series,
        t.elapsed()
    );
    let all = store.series(&"{__name__=~\".+\"}".parse().expect("selector"));
    let mut times = Vec::new();
    let mut last = None;
    for s in all.iter().step_by(all.len() / 9).take(9) {
        let labels: Vec<String> = s
            .labels
            .to_pairs()
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        let sel = format!("{}{{{}}}", s.metric, labels.join(","))
            .parse()
            .expect("selector");
        let t = Instant::now();
        let r = store
            .delete(&sel, None, DeleteOptions::default())
            .expect("delete");
        times.push(t.elapsed());
        assert_eq!(r.series, 1, "{r:?}");
        last = Some(r);
    }
    times.sort();
    let r = last.expect("deleted");
    println!("`cargo bench -p tierlog --bench delete`\n");
    println!("| delete | median | slowest | one delete removed |");
    println!("|---|---:|---:|---|");
    println!(
        "| one whole series of {SERIES}, {DAYS} days of 60 s buckets | {:.1?} | {:.1?} | {} points, {} buckets, {} files rewritten, {} removed, {} bytes freed |",
        times[times.len() / 2],
        times[times.len() - 1],
        r.points,
        r.buckets,
        r.files_rewritten,
        r.files_removed,
        r.bytes
    );
}
