//! Kill during materialisation and compaction: a child process opens a store with the default
//! tiers and runs `maintain()` — on hours of sealed raw data with no rollups yet (it writes
//! each tier's segment span at once), or on the same data already materialised as pieces
//! under shorter keep times (it compacts them into the longer spans). The parent SIGKILLs it
//! at a random moment, reopens the store, maintains again, and checks that every tier holds
//! exactly the buckets an uninterrupted run produced, in the same files byte for byte: none
//! missing, none doubled, none changed, and no half-written or left-over file.
//!
//! The child is this test binary re-executed with `TIERLOG_ROLLUP_KILL_CHILD=<dir>`.
//!
//! Environment: `TIERLOG_ROLLUP_KILL_ITERATIONS` (default 8; e.g. 200 by hand with
//! `--release`), `TIERLOG_ROLLUP_KILL_SEED` (printed by every run).

use tierlog_testkit::helpers as common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{SplitMix64, T0, copy_dir};
use tierlog::{Config, ManualClock, SeriesId, Store, Sync, Tier};
use tierlog_testkit::workload::Workload;

const CHILD_ENV: &str = "TIERLOG_ROLLUP_KILL_CHILD";
const SERIES: usize = 120;
const SECS: i64 = 2 * 3600;
/// The clock once all data is written: every window sealed, every piece final, and no raw
/// window past the raw keep (3 h) yet.
const LATER: i64 = T0 + (2 * 3600 + 600) * 1000;

fn config(clock: Arc<ManualClock>, tiers: Vec<Tier>) -> Config {
    Config {
        tiers: Some(tiers),
        raw_keep: Some(Duration::from_secs(3 * 3600)),
        ..common::config(&clock)
    }
    .with_sync(Sync::Never)
}

fn tiers() -> Vec<Tier> {
    Config::default().tiers().to_vec()
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
            let rows = s.points.iter().map(common::bucket_bits).collect();
            out.insert((t.name.clone(), key), rows);
        }
    }
    out
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

/// Tiers whose keep times make their segment span one piece: materialised pieces are never
/// compacted while the store is opened with these.
fn short_keep_tiers() -> Vec<Tier> {
    vec![
        Tier::new(
            "10s",
            Duration::from_secs(10),
            Duration::from_secs(3 * 3600 + 600),
        ),
        Tier::new(
            "60s",
            Duration::from_secs(60),
            Duration::from_secs(3 * 3600 + 1200),
        ),
    ]
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
    // Scenario 1: raw data only; the child materialises both tiers from scratch. Each tier's
    // run of pieces reaches the end of its segment span (2 h; the day, as the data ends at
    // midnight UTC), so each is written as one segment at once.
    let fresh = root.path().join("fresh");
    build_base(&fresh);
    // Scenario 2: the same data materialised as pieces under short keep times; the child opens
    // with the default keep times, whose spans are longer, and compacts the pieces.
    let pieces = root.path().join("pieces");
    copy_dir(&fresh, &pieces);
    let clock = Arc::new(ManualClock::new(LATER));
    let store = Store::open(&pieces, config(clock.clone(), short_keep_tiers())).unwrap();
    let r = store.maintain().unwrap();
    assert_eq!(
        (r.rollups.pieces, r.rollups.compacted),
        (24, 0),
        "{:?}",
        r.rollups
    );
    store.close().unwrap();
    assert_eq!(tier_files(&pieces).len(), 24);

    let mut reference_files = None;
    let mut reference_buckets = None;
    for (name, base, want) in [
        ("materialise", &fresh, (24, 0)),
        ("compact", &pieces, (0, 2)),
    ] {
        // The reference: an uninterrupted pass on a copy.
        let reference_dir = root.path().join(format!("reference-{name}"));
        copy_dir(base, &reference_dir);
        let store = Store::open(&reference_dir, config(clock.clone(), tiers())).unwrap();
        let started = Instant::now();
        let report = store.maintain().unwrap();
        let took = started.elapsed();
        assert_eq!(
            (report.rollups.pieces, report.rollups.compacted),
            want,
            "{name}: {:?}",
            report.rollups
        );
        let buckets = all_buckets(&store);
        drop(store);
        let files = tier_files(&reference_dir);
        assert_eq!(files.len(), 2, "{name}: one segment per tier");
        assert_eq!(buckets.len(), 2 * SERIES);
        // Both ways end with the same bytes on disk.
        assert!(
            reference_files.get_or_insert_with(|| files.clone()) == &files,
            "{name}: files"
        );
        assert!(reference_buckets.get_or_insert_with(|| buckets.clone()) == &buckets);
        println!("{name}: uninterrupted pass {took:?}");
        let mid_way = kill_rounds(
            root.path(),
            name,
            base,
            iterations / 2,
            took,
            &mut rng,
            seed,
            &buckets,
            &files,
        );
        println!(
            "{name}: {mid_way} of {} kills landed mid-way",
            iterations / 2
        );
    }
}

/// Copies `base`, runs the child on it, kills it after a random delay (up to 1.25× the
/// uninterrupted pass), reopens, maintains, and checks the result against the reference;
/// returns how many kills left a state other than the start or the end.
#[allow(clippy::too_many_arguments)]
fn kill_rounds(
    root: &Path,
    name: &str,
    base: &Path,
    iterations: u64,
    took: Duration,
    rng: &mut SplitMix64,
    seed: u64,
    reference: &Buckets,
    reference_files: &BTreeMap<(String, String), Vec<u8>>,
) -> u64 {
    let clock = Arc::new(ManualClock::new(LATER));
    let start_files = tier_files(base);
    let mut mid_way = 0;
    for it in 0..iterations {
        let dir = root.join(format!("run-{name}-{it}"));
        copy_dir(base, &dir);
        let delay = Duration::from_micros(rng.range(0, took.as_micros() as u64 * 5 / 4 + 1));
        let ctx = format!("seed {seed:#x}, {name} iteration {it}, kill {delay:?} after open");
        common::kill_child_after_open(
            concat!(module_path!(), "::child_materialiser"),
            &[(CHILD_ENV, dir.display().to_string())],
            delay,
            &ctx,
        );

        let files = tier_files(&dir);
        if files != start_files && files != *reference_files {
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
        for (k, want) in reference {
            assert_eq!(got.get(k), Some(want), "{ctx}: {k:?}");
        }
        drop(store);
        // The same files, byte for byte: nothing left over, nothing half-written.
        assert!(
            tier_files(&dir) == *reference_files,
            "{ctx}: tier files differ"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
    mid_way
}
