//! Kill during an index compaction: a child process opens a store whose oldest window holds
//! the only samples of 40 000 series, and runs `maintain()`, which drops that window, appends
//! their removal records and compacts `index.log`; the parent SIGKILLs it at a random moment.
//! After reopening, `index.log` is either the old file (maybe with whole removal records after
//! it) or exactly the file an uninterrupted pass writes; no temporary file is left; the live
//! series keep their ids, labels and data; a new series gets an id above every old one.
//!
//! The child is this test binary re-executed with `TIERLOG_INDEX_KILL_CHILD=<dir>`.
//! Environment: `TIERLOG_INDEX_KILL_ITERATIONS` (default 8), `TIERLOG_INDEX_KILL_SEED`
//! (printed by every run).

use tierlog_testkit::helpers as common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{SplitMix64, T0, copy_dir, fast_tempdir, sel};
use tierlog::layout::{INDEX_FILE, RAW_DIR};
use tierlog::{Config, ManualClock, Sample, Store, Sync};

const CHILD_ENV: &str = "TIERLOG_INDEX_KILL_CHILD";
const HOUR: i64 = 3_600_000;
const LATER: i64 = T0 + 3 * HOUR;
const LIVE: usize = 10_000;
const CHURN: usize = 40_000;

/// Raw kept `keep_h` hours, no tiers.
fn config(clock: Arc<ManualClock>, keep_h: u64) -> Config {
    Config {
        raw_keep: Some(Duration::from_secs(keep_h * 3600)),
        tiers: Some(Vec::new()),
        ..common::config(&clock)
    }
    .with_sync(Sync::Never)
}

/// `LIVE` series with samples at T0 and LATER, then `CHURN` series with one sample at T0;
/// the T0 window sealed, nothing dropped (raw kept a day). Returns the highest id.
fn build_base(dir: &Path) -> u32 {
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir, config(clock.clone(), 24)).unwrap();
    let names: Vec<String> = (0..CHURN).map(|i| format!("{i:06}")).collect();
    let keep: Vec<[(&str, &str); 1]> = names[..LIVE].iter().map(|n| [("id", n.as_str())]).collect();
    let churn: Vec<[(&str, &str); 1]> = names.iter().map(|n| [("pod", n.as_str())]).collect();
    let write = |metric: &str, labels: &[[(&str, &str); 1]], t: i64| {
        for part in labels.chunks(5000) {
            let batch: Vec<Sample> = part
                .iter()
                .map(|l| Sample::new(metric, l, t, 1.0))
                .collect();
            store.write(&batch).unwrap();
        }
    };
    write("keep", &keep, T0);
    write("churn", &churn, T0);
    clock.set(LATER);
    write("keep", &keep, LATER);
    let r = store.maintain().unwrap();
    assert!(r.retention.dropped.is_empty());
    let highest = store
        .series(&sel("churn"))
        .iter()
        .map(|s| s.id.0)
        .max()
        .unwrap();
    store.close().unwrap();
    highest
}

fn keep_ids(store: &Store) -> BTreeMap<String, u32> {
    store
        .series(&sel("keep"))
        .into_iter()
        .map(|s| (s.labels.get("id").to_owned(), s.id.0))
        .collect()
}

fn temp_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["", RAW_DIR] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                out.push(format!("{sub}/{name}"));
            }
        }
    }
    out
}

#[test]
fn child_index_compaction() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return; // Not a child: nothing to do.
    };
    let clock = Arc::new(ManualClock::new(LATER));
    let store = Store::open(Path::new(&dir), config(clock, 1)).expect("child open");
    println!("OPEN");
    store.maintain().expect("child maintain");
    println!("DONE");
}

#[test]
fn kill_during_index_compaction_leaves_a_complete_index() {
    let iterations: u64 = std::env::var("TIERLOG_INDEX_KILL_ITERATIONS")
        .ok()
        .map(|s| s.parse().expect("TIERLOG_INDEX_KILL_ITERATIONS"))
        .unwrap_or(8);
    let seed = SplitMix64::seed_from_env("TIERLOG_INDEX_KILL_SEED");
    println!("index kill test: {iterations} iterations, TIERLOG_INDEX_KILL_SEED={seed:#x}");
    let mut rng = SplitMix64(seed);
    let root = fast_tempdir();
    let base = root.path().join("base");
    let highest = build_base(&base);
    let clock = Arc::new(ManualClock::new(LATER));
    let (base_index, base_ids) = {
        let store = Store::open_read_only(&base, config(clock.clone(), 24)).unwrap();
        (
            std::fs::read(base.join(INDEX_FILE)).unwrap(),
            keep_ids(&store),
        )
    };
    assert_eq!(base_ids.len(), LIVE);

    // The reference: an uninterrupted pass on a copy.
    let reference_dir = root.path().join("reference");
    copy_dir(&base, &reference_dir);
    let store = Store::open(&reference_dir, config(clock.clone(), 1)).unwrap();
    let started = Instant::now();
    let r = store.maintain().unwrap().retention;
    let took = started.elapsed();
    drop(store);
    assert_eq!(r.series_removed, CHURN as u64);
    assert!(r.index_compacted.is_some(), "{r:?}");
    let reference = std::fs::read(reference_dir.join(INDEX_FILE)).unwrap();
    println!("uninterrupted pass: {took:?}, {:?}", r.index_compacted);

    let (mut old, mut removals_only, mut new, mut tmp_left) = (0, 0, 0, 0);
    for it in 0..iterations {
        let dir = root.path().join(format!("run{it}"));
        copy_dir(&base, &dir);
        let delay = Duration::from_micros(rng.range(0, took.as_micros() as u64 * 3 / 2 + 1));
        let ctx = format!("seed {seed:#x}, iteration {it}, kill {delay:?} after open");
        common::kill_child_after_open(
            concat!(module_path!(), "::child_index_compaction"),
            &[(CHILD_ENV, dir.display().to_string())],
            delay,
            &ctx,
        );

        // What the kill left: the old index, maybe with whole removal records after it (a torn
        // append is cut at the open below), or the compacted one.
        let left = std::fs::read(dir.join(INDEX_FILE)).unwrap();
        tmp_left += u32::from(dir.join("index.log.tmp").exists());
        if left == reference {
            new += 1;
        } else {
            assert!(left.starts_with(&base_index), "{ctx}: index is neither");
            if left.len() == base_index.len() {
                old += 1;
            } else {
                removals_only += 1;
            }
        }

        let store = Store::open(&dir, config(clock.clone(), 1)).unwrap();
        assert!(temp_files(&dir).is_empty(), "{ctx}: {:?}", temp_files(&dir));
        let index = std::fs::read(dir.join(INDEX_FILE)).unwrap();
        assert!(
            index == reference || index.starts_with(&base_index),
            "{ctx}: index after the open is neither"
        );
        assert_eq!(keep_ids(&store), base_ids, "{ctx}");
        let q = store.query(&sel("keep"), LATER, i64::MAX).unwrap();
        assert_eq!(q.series.len(), LIVE, "{ctx}");
        assert!(q.series.iter().all(|s| s.points == vec![(LATER, 1.0)]));
        // Removal records are frames of one series each, appended in one write; a kill can
        // cut that write between pages, leaving some of them (a prefix, whole records once
        // the torn one is cut). Those series are removed, the others still listed: the next
        // pass removes them.
        let churn = store.series(&sel("churn")).len();
        assert!(churn <= CHURN, "{ctx}: {churn} churn series");
        // A new series never takes an old id.
        let s = store.series_handle("new", &[]).unwrap();
        assert!(s.0 > highest, "{ctx}: new id {} <= {highest}", s.0);
        // The next pass finishes (or finds nothing left) and the store stays consistent.
        store.maintain().unwrap();
        drop(store);
        let store = Store::open(&dir, config(clock.clone(), 1)).unwrap();
        assert_eq!(keep_ids(&store), base_ids, "{ctx}");
        assert_eq!(store.series(&sel("new")).len(), 1, "{ctx}");
        assert_eq!(
            store.series(&sel("churn")).len(),
            0,
            "{ctx}: churn after the next pass"
        );
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    println!(
        "index kill test: {old} kills left the old index, {removals_only} the old one with removal records, {new} the compacted one; {tmp_left} left a temporary index"
    );
}
