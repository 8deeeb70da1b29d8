//! Kill during retention: a child process opens a store with a byte budget well below its size
//! and runs `maintain()`, which drops the oldest segments; the parent SIGKILLs it at a random
//! moment. After reopening, every segment file left is whole (byte-identical to the one it
//! was, none half-deleted, no temporary file left), and the next pass brings the store to
//! exactly the files an uninterrupted pass leaves, within the budget.
//!
//! The same with `on_expiry` = archive: the last tier's dropped segments move to the archive
//! instead, and after a kill each is in exactly one place, whole.
//!
//! The child is this test binary re-executed with `TIERLOG_RETENTION_KILL_CHILD=<dir>`,
//! `TIERLOG_RETENTION_KILL_BUDGET=<bytes>` and `TIERLOG_RETENTION_KILL_ARCHIVE=0|1`. Environment: `TIERLOG_RETENTION_KILL_ITERATIONS`
//! (default 8), `TIERLOG_RETENTION_KILL_SEED` (printed by every run).

use tierlog_testkit::helpers as common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{SplitMix64, T0, copy_dir};
use tierlog::layout::{LOCK_FILE, RAW_DIR};
use tierlog::{Config, ManualClock, SeriesId, Store, Sync, Tier};
use tierlog_testkit::workload::Workload;

const CHILD_ENV: &str = "TIERLOG_RETENTION_KILL_CHILD";
const BUDGET_ENV: &str = "TIERLOG_RETENTION_KILL_BUDGET";
const ARCHIVE_ENV: &str = "TIERLOG_RETENTION_KILL_ARCHIVE";
/// The archive directory, inside the store.
const ARCHIVE: &str = "cold";
const HOURS: i64 = 8;
/// The clock once the data is written: every window sealed and rolled up.
const LATER: i64 = T0 + (HOURS * 3600 + 600) * 1000;

fn config(clock: Arc<ManualClock>, max_bytes: u64, archive: bool) -> Config {
    Config {
        on_expiry: Some(if archive {
            tierlog::Expiry::Archive(ARCHIVE.into())
        } else {
            tierlog::Expiry::Delete
        }),
        // Raw kept a day, so only the budget drops anything here.
        raw_keep: Some(Duration::from_secs(86_400)),
        tiers: Some(vec![
            Tier::new(
                "10s",
                Duration::from_secs(10),
                Duration::from_secs(2 * 86_400),
            ),
            Tier::new(
                "60s",
                Duration::from_secs(60),
                Duration::from_secs(90 * 86_400),
            ),
        ]),
        max_bytes: Some(max_bytes),
        ..common::config(&clock)
    }
    .with_sync(Sync::Never)
}

/// Every file of the store except the lock: relative path → bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let tiers = [RAW_DIR, "10s", "60s"];
    let cold = tiers.map(|t| format!("cold/{t}"));
    let subs = ["", "cold"]
        .into_iter()
        .chain(tiers)
        .chain(cold.iter().map(String::as_str));
    for sub in subs {
        let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() && e.file_name() != LOCK_FILE {
                let name = format!("{sub}/{}", e.file_name().to_string_lossy());
                out.insert(name, std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

/// 8 h of 60 series at 5 s, sealed and rolled up, nothing dropped.
fn build_base(dir: &Path) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir, config(clock.clone(), 0, false)).unwrap();
    let mut w = Workload::new(3, 60, 5000, T0);
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
    while w.next_scrape_ms() < T0 + HOURS * 3_600_000 {
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
    let r = store.maintain().unwrap();
    assert!(r.retention.dropped.is_empty());
    store.close().unwrap();
}

#[test]
fn child_retention() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return; // Not a child: nothing to do.
    };
    let budget: u64 = std::env::var(BUDGET_ENV).unwrap().parse().unwrap();
    let archive = std::env::var(ARCHIVE_ENV).unwrap() == "1";
    let clock = Arc::new(ManualClock::new(LATER));
    let store = Store::open(Path::new(&dir), config(clock, budget, archive)).expect("child open");
    println!("OPEN");
    store.maintain().expect("child maintain");
    println!("DONE");
}

#[test]
fn kill_during_retention_leaves_whole_segments_and_the_budget_holds() {
    kill_during_retention(false);
}

#[test]
fn kill_during_archiving_leaves_each_segment_whole_in_one_place() {
    kill_during_retention(true);
}

/// The store's bytes, without an archive kept inside it.
fn store_bytes(dir: &Path) -> u64 {
    tierlog::vfs::dir_size(dir).unwrap() - tierlog::vfs::dir_size(&dir.join(ARCHIVE)).unwrap()
}

fn kill_during_retention(archive: bool) {
    let iterations: u64 = std::env::var("TIERLOG_RETENTION_KILL_ITERATIONS")
        .ok()
        .map(|s| s.parse().expect("TIERLOG_RETENTION_KILL_ITERATIONS"))
        .unwrap_or(8);
    let seed = SplitMix64::seed_from_env("TIERLOG_RETENTION_KILL_SEED");
    println!("retention kill test: {iterations} iterations, TIERLOG_RETENTION_KILL_SEED={seed:#x}");
    let mut rng = SplitMix64(seed);
    let root = tempfile::tempdir().unwrap();
    let base = root.path().join("base");
    build_base(&base);
    let base_files = files(&base);
    let budget = tierlog::vfs::dir_size(&base).unwrap() * 4 / 10;

    // The reference: an uninterrupted pass on a copy.
    let reference_dir = root.path().join("reference");
    copy_dir(&base, &reference_dir);
    let clock = Arc::new(ManualClock::new(LATER));
    let store = Store::open(&reference_dir, config(clock.clone(), budget, archive)).unwrap();
    let started = Instant::now();
    let r = store.maintain().unwrap().retention;
    let took = started.elapsed();
    let archived_buckets = |s: &Store| {
        let all: tierlog::Selector = "{__name__=~\".+\"}".parse().unwrap();
        s.open_archive()
            .unwrap()
            .map(|a| a.query_tier(&all, i64::MIN, i64::MAX, "60s").unwrap())
    };
    let reference_archive = archived_buckets(&store);
    drop(store);
    assert!(r.dropped.len() > 10, "{r:?}");
    let archived = r.dropped.iter().filter(|d| d.archived_to.is_some()).count();
    assert_eq!(archived > 0, archive, "{r:?}");
    assert_eq!(reference_archive.is_some(), archive);
    assert_eq!(r.over_budget_bytes, 0);
    let reference = files(&reference_dir);
    println!(
        "uninterrupted pass: {took:?}, {} segments dropped",
        r.dropped.len()
    );

    let mut mid_way = 0;
    for it in 0..iterations {
        let dir = root.path().join(format!("run{it}"));
        copy_dir(&base, &dir);
        let delay = Duration::from_micros(rng.range(0, took.as_micros() as u64 * 3 / 2 + 1));
        let ctx = format!("seed {seed:#x}, iteration {it}, kill {delay:?} after open");
        common::kill_child_after_open(
            concat!(module_path!(), "::child_retention"),
            &[
                (CHILD_ENV, dir.display().to_string()),
                (BUDGET_ENV, budget.to_string()),
                (ARCHIVE_ENV, if archive { "1" } else { "0" }.to_string()),
            ],
            delay,
            &ctx,
        );

        // Reopen (recovery removes what a crash left mid-deletion), without a budget.
        let store = Store::open(&dir, config(clock.clone(), 0, archive)).unwrap();
        let stats = store.stats();
        assert!(
            stats.tiers.iter().all(|t| t.corrupt_segments == 0),
            "{ctx}: {stats:?}"
        );
        drop(store);
        let now = files(&dir);
        assert!(
            now.keys().all(|k| !k.ends_with(".tmp")),
            "{ctx}: temporary files left: {:?}",
            now.keys()
                .filter(|k| k.ends_with(".tmp"))
                .collect::<Vec<_>>()
        );
        for (name, bytes) in now.iter().filter(|(k, _)| common::is_segment(k)) {
            let was = name.strip_prefix("cold/").unwrap_or(name);
            assert!(
                base_files.get(was) == Some(bytes),
                "{ctx}: {name} is not the segment it was"
            );
        }
        // Each segment of the last tier is in the store or in the archive, never in both.
        for name in base_files.keys().filter(|k| k.starts_with("60s/")) {
            let places = [name.clone(), format!("cold/{name}")]
                .iter()
                .filter(|n| now.contains_key(*n))
                .count();
            assert!(places <= 1, "{ctx}: {name} in {places} places");
            if archive {
                assert_eq!(places, 1, "{ctx}: {name} lost");
            }
        }
        let segs =
            |m: &BTreeMap<String, Vec<u8>>| m.keys().filter(|k| common::is_segment(k)).count();
        if segs(&now) != segs(&base_files) && segs(&now) != segs(&reference) {
            mid_way += 1;
        }
        // The next pass finishes the job: the same segments as the uninterrupted pass.
        let store = Store::open(&dir, config(clock.clone(), budget, archive)).unwrap();
        let r = store.maintain().unwrap().retention;
        assert_eq!(r.over_budget_bytes, 0, "{ctx}: {r:?}");
        // No dangling series: every series the index still lists has data somewhere.
        let all: tierlog::Selector = "{__name__=~\".+\"}".parse().unwrap();
        let listed = store.series(&all).len();
        let with_data = store
            .query_step(
                &all,
                i64::MIN / 4,
                i64::MAX / 4,
                Duration::from_secs(86_400),
            )
            .unwrap()
            .series
            .len();
        assert!(
            listed > 0 && with_data == listed,
            "{ctx}: {with_data} of {listed}"
        );
        assert!(
            archived_buckets(&store) == reference_archive,
            "{ctx}: the archive answers as after an uninterrupted pass"
        );
        drop(store);
        let after = files(&dir);
        let seg_names = |m: &BTreeMap<String, Vec<u8>>| -> Vec<String> {
            m.keys()
                .filter(|k| common::is_segment(k))
                .cloned()
                .collect()
        };
        assert_eq!(seg_names(&after), seg_names(&reference), "{ctx}");
        assert!(store_bytes(&dir) <= budget, "{ctx}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
    println!("retention kill test: {mid_way} of {iterations} kills landed mid-pass");
}
