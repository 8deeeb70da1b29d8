//! Power loss at every I/O operation of a retention pass, on the fault-injecting backend (only
//! synced bytes surviving, and torn writes): a pass that drops raw and rollup segments,
//! removes 1,100 series whose data expired and compacts `index.log` (their records are dead),
//! once deleting the last tier's expired segments and once moving them to an archive
//! (`Expiry::Archive`).
//!
//! After each crash the store reopens without repair and:
//! - every raw point and rollup bucket not yet past its keep is there, bit for bit as before,
//!   and nothing else appears;
//! - with the archive, every bucket of the last tier is in exactly one place (store or archive);
//! - the next pass brings the store (and archive) to exactly what an uninterrupted pass leaves,
//!   with no temporary file left, and `verify` clean;
//! - series ids are never reused: live series keep theirs, and a new or re-registered series
//!   gets an id above every id handed out before.
//!
//! In CI each operation is tried once, odd ones with torn writes; `TIERLOG_CRASH_RETENTION_FULL=1`
//! tries every operation both ways.

use tierlog_testkit::helpers as common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use common::fault_config_keeps;
use tierlog::vfs::FaultFs;
use tierlog::{Config, Expiry, ManualClock, Sample, Selector, Store};

/// A minute boundary.
const T0: i64 = 1_700_000_040_000;
const MIN: i64 = 60_000;
const RAW_KEEP: i64 = 12 * MIN;
/// (name, interval, keep), ms. Segments of both tiers are single one-minute pieces.
const TIERS: [(&str, i64, i64); 2] = [("10s", 10_000, 16 * MIN), ("60s", MIN, 20 * MIN)];
/// Series written in the first window only: they expire with it.
const CHURN: usize = 1_100;
/// When the crashing pass runs: 9 raw windows, 5 10s segments and 1 60s segment have expired.
const LATER: i64 = T0 + 21 * MIN + MIN / 2;
const ARCHIVE: &str = "cold";

fn config(fs: &FaultFs, clock: &Arc<ManualClock>, archive: bool) -> Config {
    fault_config_keeps(fs, clock, RAW_KEEP, &TIERS).with_on_expiry(if archive {
        Expiry::Archive(ARCHIVE.into())
    } else {
        Expiry::Delete
    })
}

/// Raw points by (series, t), and rollup buckets by (tier, series, t) in their debug form.
#[derive(Debug, Default, Clone, PartialEq)]
struct View {
    raw: BTreeMap<(String, i64), f64>,
    buckets: BTreeMap<(String, String, i64), String>,
}

fn view(store: &Store) -> View {
    let raw = common::store_contents(store);
    let mut buckets = BTreeMap::new();
    for &(name, _, _) in &TIERS {
        let r = store
            .query_tier(&Selector::metric("m"), 0, i64::MAX / 2, name)
            .expect("query_tier");
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        for s in r.series {
            for b in s.points {
                let key = (name.to_owned(), s.labels.get("s").to_owned(), b.t);
                buckets.insert(key, format!("{b:?}"));
            }
        }
    }
    View { raw, buckets }
}

/// The archive's view (empty when there is none yet).
fn archive_view(store: &Store) -> View {
    match store.open_archive().expect("open archive") {
        Some(a) => view(&a),
        None => View::default(),
    }
}

/// The store before the pass, as a dead backend whose `survivor()` hands out fresh copies;
/// its view, and the highest series id handed out.
struct Base {
    dead: FaultFs,
    view: View,
    ids: BTreeMap<String, u32>,
}

fn base(archive: bool) -> Base {
    let clock = Arc::new(ManualClock::new(T0));
    let fs = FaultFs::new();
    let store = Store::open("/db", config(&fs, &clock, archive)).unwrap();
    let churn: Vec<String> = (0..CHURN).map(|j| format!("c{j}")).collect();
    let churn_labels: Vec<[(&str, &str); 1]> = churn.iter().map(|c| [("s", c.as_str())]).collect();
    for k in 0..24i64 {
        let ts = T0 + k * 30_000;
        clock.set(ts);
        let mut batch = vec![
            Sample::new("m", &[("s", "a")], ts, k as f64),
            Sample::new("m", &[("s", "b")], ts, k as f64 + 0.5),
        ];
        if k == 0 {
            batch.extend(
                churn_labels
                    .iter()
                    .enumerate()
                    .map(|(j, l)| Sample::new("m", l, ts, j as f64)),
            );
        }
        store.write(&batch).unwrap();
        if k % 4 == 3 {
            store.maintain().unwrap();
        }
    }
    // Everything sealed and rolled up; nothing expired yet.
    clock.set(T0 + 12 * MIN + MIN / 2);
    let report = store.maintain().unwrap();
    assert!(report.retention.dropped.is_empty());
    let view = view(&store);
    assert_eq!(view.raw.len(), 48 + CHURN);
    let mut ids = BTreeMap::new();
    for s in ["a", "b", "c7"] {
        ids.insert(
            s.to_owned(),
            store.series_handle("m", &[("s", s)]).unwrap().0,
        );
    }
    assert_eq!(store.stats().series, CHURN as u64 + 2);
    store.close().unwrap();
    let dead = fs.power_loss();
    dead.power_loss();
    Base { dead, view, ids }
}

/// May the point or bucket at `t` of width `width` be gone at `LATER` with keep `keep`?
fn expirable(t: i64, width: i64, keep: i64) -> bool {
    t.div_euclid(width) * width + width <= LATER - keep
}

/// Checks a store right after the reopen against the base.
#[track_caller]
fn check_after_crash(base: &Base, got: &View, archived: &View, archive: bool, ctx: &str) {
    for (k, v) in &got.raw {
        assert_eq!(base.view.raw.get(k), Some(v), "{ctx}: raw {k:?} invented");
    }
    for (k, v) in &base.view.raw {
        if !expirable(k.1, MIN, RAW_KEEP) {
            assert_eq!(got.raw.get(k), Some(v), "{ctx}: raw {k:?} lost");
        }
    }
    for (k, v) in &got.buckets {
        assert_eq!(
            base.view.buckets.get(k),
            Some(v),
            "{ctx}: bucket {k:?} changed"
        );
    }
    for (k, v) in &archived.buckets {
        assert_eq!(
            base.view.buckets.get(k),
            Some(v),
            "{ctx}: archived {k:?} changed"
        );
    }
    let last = TIERS[TIERS.len() - 1].0;
    for k in base.view.buckets.keys() {
        let &(_, interval, keep) = TIERS.iter().find(|t| t.0 == k.0).unwrap();
        let (here, there) = (
            got.buckets.contains_key(k),
            archived.buckets.contains_key(k),
        );
        if archive && k.0 == last {
            assert!(
                here != there,
                "{ctx}: {k:?} in store {here}, in archive {there}"
            );
        } else if !expirable(k.2, interval, keep) {
            assert!(here, "{ctx}: bucket {k:?} lost");
        }
    }
}

fn crash_during_pass(archive: bool) {
    let base = base(archive);
    let max_id = *base.ids.values().max().unwrap();

    // The uninterrupted pass: what every crashed one must converge to.
    let clock = Arc::new(ManualClock::new(LATER));
    let fs = base.dead.survivor().unwrap();
    let store = Store::open("/db", config(&fs, &clock, archive)).unwrap();
    let start = fs.ops();
    let report = store.maintain().unwrap();
    let total = fs.ops() - start;
    let r = &report.retention;
    let dropped = |tier: &str| r.dropped.iter().filter(|d| d.tier == tier).count();
    assert_eq!((dropped("raw"), dropped("10s"), dropped("60s")), (9, 5, 1));
    assert!(r.dropped[0].archived_to.is_none());
    assert_eq!(
        r.dropped.iter().any(|d| d.archived_to.is_some()),
        archive,
        "{r:?}"
    );
    assert_eq!(r.series_removed, CHURN as u64);
    assert!(r.index_compacted.is_some(), "index not compacted: {r:?}");
    let clean = view(&store);
    let clean_archive = archive_view(&store);
    check_after_crash(&base, &clean, &clean_archive, archive, "no crash");
    assert_eq!(store.stats().series, 2);
    drop(store);

    let full = std::env::var_os("TIERLOG_CRASH_RETENTION_FULL").is_some();
    let points: Vec<(u64, bool)> = if full {
        (1..=total).flat_map(|n| [(n, false), (n, true)]).collect()
    } else {
        (1..=total).map(|n| (n, n % 2 == 1)).collect()
    };
    let mut crashes = 0;
    for &(n, torn) in &points {
        let ctx = format!("archive {archive}, crash before op {n} of {total} (torn {torn})");
        let clock = Arc::new(ManualClock::new(LATER));
        let fs = base.dead.survivor().unwrap();
        let store = Store::open("/db", config(&fs, &clock, archive)).unwrap();
        fs.crash_at(n);
        fs.set_torn_power_loss(torn.then_some(n));
        let res = store.maintain();
        let after = match fs.survivor() {
            Some(s) => {
                crashes += 1;
                s
            }
            None => panic!("{ctx}: no crash ({res:?})"),
        };
        drop(store);
        let store = Store::open("/db", config(&after, &clock, archive))
            .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
        check_after_crash(&base, &view(&store), &archive_view(&store), archive, &ctx);

        // The next pass finishes the job.
        store
            .maintain()
            .unwrap_or_else(|e| panic!("{ctx}: next pass: {e}"));
        assert_eq!(view(&store), clean, "{ctx}: after the next pass");
        assert_eq!(
            archive_view(&store),
            clean_archive,
            "{ctx}: archive after the next pass"
        );
        let tmp: Vec<_> = after
            .paths()
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(tmp.is_empty(), "{ctx}: left behind {tmp:?}");
        let v = tierlog_tools::inspect::verify_dir_on(
            Arc::new(after.clone()),
            Path::new("/db"),
            |_| {},
        )
        .unwrap_or_else(|e| panic!("{ctx}: verify: {e}"));
        assert!(v.is_clean(), "{ctx}: {:?}", v.corruption);
        assert!(v.notices.is_empty(), "{ctx}: {:?}", v.notices);

        // Ids: the live ones unchanged, none handed out twice.
        assert_eq!(store.stats().series, 2, "{ctx}");
        for s in ["a", "b"] {
            let id = store.series_handle("m", &[("s", s)]).unwrap().0;
            assert_eq!(id, base.ids[s], "{ctx}: series {s}");
        }
        let mut new_ids = BTreeSet::new();
        for s in ["c7", "fresh"] {
            let id = store.series_handle("m", &[("s", s)]).unwrap().0;
            assert!(
                id > max_id,
                "{ctx}: {s} got id {id}, ids up to {max_id} were used"
            );
            new_ids.insert(id);
        }
        assert_eq!(new_ids.len(), 2, "{ctx}");
        drop(store);
        // And they stay so across a reopen.
        let store = Store::open("/db", config(&after.power_loss(), &clock, archive)).unwrap();
        let id = store.series_handle("m", &[("s", "fresh")]).unwrap().0;
        assert!(
            new_ids.contains(&id),
            "{ctx}: fresh got {id} after a reopen"
        );
    }
    assert_eq!(crashes, points.len());
    eprintln!(
        "archive {archive}: {total} operations, {} crash points tried (torn writes: {}); {} segments dropped, {} series removed, index compacted",
        points.len(),
        if full { "all both ways" } else { "odd ones" },
        r.dropped.len(),
        r.series_removed
    );
}

#[test]
fn power_loss_at_every_operation_of_a_retention_pass() {
    crash_during_pass(false);
}

#[test]
fn power_loss_at_every_operation_of_an_archiving_retention_pass() {
    crash_during_pass(true);
}

/// The clean-up at a writer open removes the store's copy of an archived segment only when it
/// is byte for byte the archived file: a copy that differs stays (and so do its buckets).
#[test]
fn only_an_identical_copy_of_an_archived_segment_is_removed() {
    use tierlog::vfs::{Create, Vfs};
    let base = base(true);
    let clock = Arc::new(ManualClock::new(LATER));
    let fs = base.dead.survivor().unwrap();
    let store = Store::open("/db", config(&fs, &clock, true)).unwrap();
    let report = store.maintain().unwrap();
    let archived = report
        .retention
        .dropped
        .iter()
        .find_map(|d| d.archived_to.clone())
        .expect("a segment was archived");
    store.close().unwrap();
    let name = archived.file_name().unwrap();
    let ours = Path::new("/db/60s").join(name);
    let bytes = fs.contents(&archived).unwrap();
    let put = |b: &[u8]| {
        let f = fs.create(&ours, Create::Truncate, 0o600).unwrap();
        f.write_at(b, 0).unwrap();
        f.sync().unwrap();
        fs.sync_dir(Path::new("/db/60s")).unwrap();
    };
    // Different bytes: kept.
    let mut other = bytes.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    put(&other);
    drop(Store::open("/db", config(&fs, &clock, true)).unwrap());
    assert_eq!(fs.contents(&ours).as_deref(), Some(&other[..]));
    // The same bytes: removed, durably.
    put(&bytes);
    drop(Store::open("/db", config(&fs, &clock, true)).unwrap());
    assert!(fs.contents(&ours).is_none());
    assert!(fs.power_loss().contents(&ours).is_none());
}
