//! Kill during materialisation: a store holding hours of sealed raw data and no rollups yet
//! is opened with tiers by a child process that runs `maintain()`; the parent SIGKILLs it at
//! a random moment, reopens the store, maintains again, and checks that every tier holds
//! exactly the buckets an uninterrupted run produced: none missing, none doubled, none
//! changed, and no half-written file visible.
//!
//! The child is this test binary re-executed with `TIERLOG_ROLLUP_KILL_CHILD=<dir>`.
//!
//! Environment: `TIERLOG_ROLLUP_KILL_ITERATIONS` (default 8; e.g. 200 by hand with
//! `--release`), `TIERLOG_ROLLUP_KILL_SEED` (printed by every run).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{SplitMix64, T0};
use tierlog::workload::Workload;
use tierlog::{Config, ManualClock, SeriesId, Store, Sync, Tier};

const CHILD_ENV: &str = "TIERLOG_ROLLUP_KILL_CHILD";
const SERIES: usize = 120;
const SECS: i64 = 2 * 3600;
/// The clock once all data is written: every window sealed, every piece final.
const LATER: i64 = T0 + 4 * 3600 * 1000;

fn config(clock: Arc<ManualClock>, tiers: Vec<Tier>) -> Config {
    Config {
        tiers,
        ..common::config(&clock)
    }
    .with_sync(Sync::Never)
}

fn tiers() -> Vec<Tier> {
    Config::default().tiers
}

/// Writes 2 h of 1 Hz data for `SERIES` series with no tiers, sealing as it goes.
fn build_base(dir: &Path) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir, config(clock.clone(), vec![])).unwrap();
    let mut w = Workload::new(11, SERIES, 1000, T0);
    let handles: Vec<SeriesId> = w
        .series()
        .to_vec()
        .iter()
        .map(|(m, l)| {
            let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            store.series_handle(m, &l).unwrap()
        })
        .collect();
    let mut scrape = Vec::new();
    let mut batch = Vec::new();
    while w.next_scrape_ms() < T0 + SECS * 1000 {
        scrape.clear();
        let t = w.next_scrape(&mut scrape);
        clock.set(t + 999);
        batch.clear();
        batch.extend(
            scrape
                .iter()
                .map(|&(i, ts, v)| (handles[i as usize], ts, v)),
        );
        store.write_series(&batch).unwrap();
    }
    clock.set(LATER);
    store.maintain().unwrap();
    store.close().unwrap();
}

/// Every bucket of every tier, as bits, keyed by tier and series.
type Buckets = BTreeMap<(String, String), Vec<[u64; 10]>>;

fn all_buckets(store: &Store) -> Buckets {
    let mut out = Buckets::new();
    for t in tiers() {
        let r = store
            .query_tier(
                &common::sel("{__name__=~\".+\"}"),
                i64::MIN,
                i64::MAX,
                &t.name,
            )
            .unwrap();
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        for s in r.series {
            let key = format!("{}{{{}}}", s.metric, s.labels.to_kv_string());
            let rows = s
                .points
                .iter()
                .map(|b| {
                    [
                        b.t as u64,
                        b.count,
                        b.nan_count,
                        b.min.to_bits(),
                        b.max.to_bits(),
                        b.sum.to_bits(),
                        b.first.to_bits(),
                        b.last.to_bits(),
                        b.p95.map_or(1, f64::to_bits),
                        b.increase.map_or(1, f64::to_bits),
                    ]
                })
                .collect();
            out.insert((t.name.clone(), key), rows);
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else if e.file_name() != "LOCK" {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Every file of every tier directory: (tier, name) → bytes.
fn tier_files(dir: &Path) -> BTreeMap<(String, String), Vec<u8>> {
    let mut out = BTreeMap::new();
    for t in tiers() {
        let Ok(rd) = std::fs::read_dir(dir.join(&t.name)) else {
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            out.insert((t.name.clone(), name), std::fs::read(e.path()).unwrap());
        }
    }
    out
}

#[test]
fn child_materialiser() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return; // Not a child: nothing to do.
    };
    let clock = Arc::new(ManualClock::new(LATER));
    let store = Store::open(Path::new(&dir), config(clock, tiers())).expect("child open");
    println!("OPEN");
    store.maintain().expect("child maintain");
    println!("DONE");
}

#[test]
fn kill_during_materialisation_loses_and_doubles_nothing() {
    let iterations: u64 = std::env::var("TIERLOG_ROLLUP_KILL_ITERATIONS")
        .ok()
        .map(|s| s.parse().expect("TIERLOG_ROLLUP_KILL_ITERATIONS"))
        .unwrap_or(8);
    let seed = SplitMix64::seed_from_env("TIERLOG_ROLLUP_KILL_SEED");
    println!("rollup kill test: {iterations} iterations, TIERLOG_ROLLUP_KILL_SEED={seed:#x}");
    let mut rng = SplitMix64(seed);
    let root = tempfile::tempdir().unwrap();
    let base = root.path().join("base");
    build_base(&base);

    // The reference: an uninterrupted materialisation of a copy.
    let reference_dir = root.path().join("reference");
    copy_dir(&base, &reference_dir);
    let clock = Arc::new(ManualClock::new(LATER));
    let store = Store::open(&reference_dir, config(clock.clone(), tiers())).unwrap();
    let started = Instant::now();
    let report = store.maintain().unwrap();
    let took = started.elapsed();
    let reference = all_buckets(&store);
    drop(store);
    let reference_files = tier_files(&reference_dir);
    // 12 pieces of 10 min per tier: the 10s tier's are exactly its 2 h segment span, written
    // as one segment at once; the 60s tier's are pieces, then compacted into its day (the
    // data ends at midnight UTC).
    assert_eq!(
        (report.rollups.pieces, report.rollups.compacted),
        (2 * 12, 1),
        "{:?}",
        report.rollups
    );
    assert_eq!(reference_files.len(), 2);
    assert_eq!(reference.len(), 2 * SERIES);
    println!("uninterrupted materialisation and compaction: {took:?}");

    let exe = std::env::current_exe().unwrap();
    let mut mid_way = 0;
    for it in 0..iterations {
        let dir = root.path().join(format!("run{it}"));
        copy_dir(&base, &dir);
        let delay = Duration::from_micros(rng.range(0, took.as_micros() as u64 * 5 / 4 + 1));
        let ctx = format!("seed {seed:#x}, iteration {it}, kill {delay:?} after open");
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "child_materialiser",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                let mut err = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("{ctx}: child ended before opening the store:\n{err}");
            }
            if line.contains("OPEN") {
                break;
            }
        }
        std::thread::sleep(delay);
        child.kill().unwrap();
        child.wait().unwrap();

        let files = tier_files(&dir);
        if !files.is_empty() && files != reference_files {
            mid_way += 1;
        }
        // Reopen: what is there is complete (checked segments), the rest is done now.
        let store = Store::open(&dir, config(clock.clone(), tiers())).unwrap();
        let stats = store.stats();
        assert!(
            stats.tiers.iter().all(|t| t.corrupt_segments == 0),
            "{ctx}: {stats:?}"
        );
        store.maintain().unwrap();
        let got = all_buckets(&store);
        assert_eq!(got.len(), reference.len(), "{ctx}: series");
        for (k, want) in &reference {
            assert_eq!(got.get(k), Some(want), "{ctx}: {k:?}");
        }
        drop(store);
        // The same files, byte for byte: nothing left over, nothing half-written.
        assert!(
            tier_files(&dir) == reference_files,
            "{ctx}: tier files differ"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
    println!("rollup kill test: {mid_way} of {iterations} kills landed mid-materialisation");
}
