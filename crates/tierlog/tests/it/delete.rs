//! `Store::delete`: a series' points and buckets go from every tier and every query path at
//! once and after a reopen; samples written after a delete stay; series left empty leave the
//! index; a power loss before any I/O operation of a delete leaves, after the reopen, either
//! everything or none of the deleted range, and `verify` clean.

use tierlog_testkit::helpers as common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::fault_config_keeps;
use tierlog::vfs::FaultFs;
use tierlog::{Config, DeleteOptions, ManualClock, Sample, Selector, Store};

/// A minute boundary.
const T0: i64 = 1_700_000_040_000;
const MIN: i64 = 60_000;
/// (name, interval, keep), ms: keeps short enough that pieces are compacted into 2- and
/// 3-minute spans within the scenario.
const TIERS: [(&str, i64, i64); 2] = [("10s", 10_000, 24 * MIN), ("60s", MIN, 36 * MIN)];
/// Where the scenario's clock stands: windows up to T0 + 9 min are sealed, the last is open.
const NOW: i64 = T0 + 10 * MIN;

fn config(fs: &FaultFs, clock: &Arc<ManualClock>) -> Config {
    fault_config_keeps(fs, clock, 20 * MIN, &TIERS)
}

fn sel(s: &str) -> Selector {
    s.parse().expect("selector")
}

/// Three series `m{s=a|b|c}`, a sample every 5 s for 10 minutes (`a` twice per second now
/// and then, so that points are means), sealed and rolled up up to the open last window.
fn build(fs: &FaultFs, clock: &Arc<ManualClock>) -> Store {
    let store = Store::open("/db", config(fs, clock)).expect("open");
    for k in 0..120i64 {
        let ts = T0 + k * 5_000;
        clock.set(ts);
        let labels = [[("s", "a")], [("s", "b")], [("s", "c")]];
        let mut batch: Vec<Sample> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| Sample::new("m", l, ts, (k * 10 + i as i64) as f64))
            .collect();
        if k % 7 == 0 {
            batch.push(Sample::new("m", &[("s", "a")], ts + 300, 0.5));
        }
        store.write(&batch).expect("write");
        if k % 24 == 23 {
            store.maintain().expect("maintain");
        }
    }
    clock.set(NOW);
    store.maintain().expect("maintain");
    store
}

/// Everything every query path answers for metric `m`: raw points, both tiers' buckets,
/// 60 s and 30 s step buckets, each by (path, series, time) in their debug form.
fn view(store: &Store) -> BTreeMap<(String, String, i64), String> {
    let m = Selector::metric("m");
    let mut out = BTreeMap::new();
    let r = store.query(&m, 0, i64::MAX / 2).expect("query");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    for s in r.series {
        for (t, v) in s.points {
            out.insert(
                ("raw".into(), s.labels.get("s").to_owned(), t),
                format!("{:x}", v.to_bits()),
            );
        }
    }
    let mut add = |path: String, r: tierlog::BucketResult| {
        assert!(r.warnings.is_empty(), "{path}: {:?}", r.warnings);
        for s in r.series {
            for b in s.points {
                let key = (path.clone(), s.labels.get("s").to_owned(), b.t);
                out.insert(key, format!("{:?}", common::bucket_bits(&b)));
            }
        }
    };
    for (name, _, _) in TIERS {
        let r = store.query_tier(&m, 0, i64::MAX / 2, name).expect("tier");
        add(format!("tier {name}"), r);
    }
    for step in [30, 60] {
        let r = store
            .query_step(&m, T0 - MIN, NOW + MIN, Duration::from_secs(step))
            .expect("step");
        add(format!("step {step}s"), r);
    }
    out
}

/// `before` without what a delete of series `s` in `[from, to)` removes (bucket starts for
/// buckets). Step buckets are left out: the ones a range cuts through are recomputed.
fn without(
    before: &BTreeMap<(String, String, i64), String>,
    s: &str,
    from: i64,
    to: i64,
) -> BTreeMap<(String, String, i64), String> {
    before
        .iter()
        .filter(|((path, series, t), _)| {
            !(path.starts_with("step") || series == s && (from..to).contains(t))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn no_steps(
    v: &BTreeMap<(String, String, i64), String>,
) -> BTreeMap<(String, String, i64), String> {
    without(v, "", 0, 0)
}

/// The step buckets of series `s` starting in `[from, to)`.
fn steps_of(
    v: &BTreeMap<(String, String, i64), String>,
    s: &str,
    from: i64,
    to: i64,
) -> Vec<(String, i64)> {
    v.keys()
        .filter(|(p, series, t)| p.starts_with("step") && series == s && (from..to).contains(t))
        .map(|(p, _, t)| (p.clone(), *t))
        .collect()
}

#[test]
fn a_range_goes_from_every_tier_and_query_path_at_once_and_after_reopen() {
    let clock = Arc::new(ManualClock::new(T0));
    let fs = FaultFs::new();
    let store = build(&fs, &clock);
    let before = view(&store);
    // The scenario covers every kind of place: sealed raw segments, both tiers (pieces and
    // compacted spans), and the open window.
    let paths = fs.paths();
    let count = |dir: &str| {
        paths
            .iter()
            .filter(|p| p.starts_with(dir) && common::is_segment(p))
            .count()
    };
    assert!(count("/db/raw") >= 8 && count("/db/10s") > 0 && count("/db/60s") > 0);
    assert!(paths.iter().any(|p| p.to_string_lossy().ends_with(".wal")));
    let (from, to) = (T0 + 2 * MIN, NOW);
    let dry = store
        .delete(
            &sel(r#"m{s="a"}"#),
            Some((from, to)),
            DeleteOptions::default().with_dry_run(true),
        )
        .unwrap();
    assert_eq!(view(&store), before, "a dry run changes nothing");
    let report = store
        .delete(
            &sel(r#"m{s="a"}"#),
            Some((from, to)),
            DeleteOptions::default(),
        )
        .unwrap();
    assert!(dry.dry_run && !report.dry_run);
    assert_eq!(
        (dry.series, dry.points, dry.buckets, dry.bytes),
        (report.series, report.points, report.buckets, report.bytes),
        "the dry run reports what the delete does"
    );
    // 8 minutes of `a` at one point per 5 s; buckets: 48 of 10 s and 7 of 60 s (the
    // minute of the open window is not rolled up yet).
    assert_eq!((report.matched, report.series), (1, 1));
    assert_eq!(report.points, 8 * 12);
    assert_eq!(report.buckets, 7 * 6 + 7);
    assert!(report.bytes > 0 && report.files_rewritten > 0, "{report:?}");
    assert_eq!(report.series_removed, 0);

    let want = without(&before, "a", from, to);
    let after = view(&store);
    assert_eq!(no_steps(&after), want, "raw and tiers, at once");
    assert!(
        steps_of(&after, "a", from, to).is_empty(),
        "step buckets, at once"
    );
    assert_eq!(
        steps_of(&after, "b", 0, i64::MAX),
        steps_of(&before, "b", 0, i64::MAX)
    );
    drop(store);
    let fs = fs.power_loss();
    let store = Store::open("/db", config(&fs, &clock)).unwrap();
    assert_eq!(view(&store), after, "after a power loss and reopen");
    store.maintain().unwrap();
    assert_eq!(view(&store), after, "after maintenance");
    let v = tierlog_tools::inspect::verify_dir_on(Arc::new(fs.clone()), Path::new("/db"), |_| {})
        .unwrap();
    assert!(v.is_clean(), "{:?}", v.corruption);
}

#[test]
fn samples_written_after_a_delete_stay_through_replay() {
    let clock = Arc::new(ManualClock::new(T0));
    let fs = FaultFs::new();
    let store = build(&fs, &clock);
    let (from, to) = (NOW - MIN, NOW);
    let a = sel(r#"m{s="a"}"#);
    store
        .delete(&a, Some((from, to)), DeleteOptions::default())
        .unwrap();
    // Into the deleted range of the open window, and into a second that had a point.
    store
        .write(&[
            Sample::new("m", &[("s", "a")], NOW - 10_000, 7.0),
            Sample::new("m", &[("s", "a")], NOW - 10_000 + 500, 8.0),
        ])
        .unwrap();
    let got = |store: &Store| store.query(&a, from, to).unwrap().series[0].points.clone();
    assert_eq!(got(&store), [(NOW - 10_000, 7.5)]);
    let step = |store: &Store| {
        let r = store
            .query_step(&a, from, to, Duration::from_secs(60))
            .unwrap();
        r.series[0]
            .points
            .iter()
            .map(|b| (b.t, b.count, b.sum))
            .collect::<Vec<_>>()
    };
    assert_eq!(step(&store), [(from, 1, 7.5)]);
    drop(store);
    let store = Store::open("/db", config(&fs.power_loss(), &clock)).unwrap();
    assert_eq!(got(&store), [(NOW - 10_000, 7.5)], "replayed in log order");
    assert_eq!(step(&store), [(from, 1, 7.5)]);
    // A later sample of the same second joins the replayed point as it would have.
    store
        .write(&[Sample::new("m", &[("s", "a")], NOW - 10_000 + 900, 1.5)])
        .unwrap();
    assert_eq!(got(&store), [(NOW - 10_000, 5.5)]);
    // Sealed and rolled up: still only what came after the delete.
    clock.set(NOW + 2 * MIN);
    store.maintain().unwrap();
    assert_eq!(got(&store), [(NOW - 10_000, 5.5)]);
    let r = store.query_tier(&a, from, to, "60s").unwrap();
    let b = &r.series[0].points;
    assert_eq!((b.len(), b[0].t, b[0].count), (1, from, 1));
}

#[test]
fn a_whole_series_leaves_the_index() {
    let clock = Arc::new(ManualClock::new(T0));
    let fs = FaultFs::new();
    let store = build(&fs, &clock);
    let before = view(&store);
    let c = sel(r#"m{s="c"}"#);
    let old_id = store.series_handle("m", &[("s", "c")]).unwrap();
    let series_before = store.stats().series;
    let report = store.delete(&c, None, DeleteOptions::default()).unwrap();
    assert_eq!((report.series, report.series_removed), (1, 1));
    assert_eq!(report.points, 120);
    assert!(report.files_rewritten > 0);
    assert!(store.series(&c).is_empty(), "gone from the index");
    assert_eq!(store.stats().series, series_before - 1);
    let want: BTreeMap<_, _> = before
        .iter()
        .filter(|((_, s, _), _)| s != "c")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(view(&store), want);
    drop(store);
    let store = Store::open("/db", config(&fs.power_loss(), &clock)).unwrap();
    assert!(
        store.recovery_findings().is_empty(),
        "{:?}",
        store.recovery_findings()
    );
    assert_eq!(view(&store), want, "after reopen");
    assert!(store.series(&c).is_empty());
    // Written again, it is a new series.
    store
        .write(&[Sample::new("m", &[("s", "c")], NOW, 1.0)])
        .unwrap();
    let new_id = store.series_handle("m", &[("s", "c")]).unwrap();
    assert!(new_id.0 > old_id.0);
    assert_eq!(
        store.query(&c, 0, i64::MAX).unwrap().series[0].points,
        [(NOW, 1.0)]
    );
    // Deleting nothing matched is no error.
    let r = store
        .delete(&sel("nothing"), None, DeleteOptions::default())
        .unwrap();
    assert_eq!((r.matched, r.points, r.buckets), (0, 0, 0));
}

#[test]
fn a_read_only_open_applies_a_pending_delete_in_memory() {
    let b = sel(r#"m{s="b"}"#);
    // The first crash point after which the intent file is there.
    let (after, before) = (1..40)
        .find_map(|n| {
            let clock = Arc::new(ManualClock::new(T0));
            let fs = FaultFs::new();
            let store = build(&fs, &clock);
            let before = view(&store);
            let ops = fs.ops();
            store
                .delete(&b, None, DeleteOptions::default().with_dry_run(true))
                .unwrap();
            assert_eq!(fs.ops(), ops, "a dry run does no I/O");
            fs.crash_at(n);
            assert!(store.delete(&b, None, DeleteOptions::default()).is_err());
            drop(store);
            let after = fs.survivor().expect("crashed");
            after
                .contents(Path::new("/db/delete.pending"))
                .is_some()
                .then_some((after, before))
        })
        .expect("a crash point with the intent durable");
    let clock = Arc::new(ManualClock::new(NOW));
    let want: BTreeMap<_, _> = before
        .iter()
        .filter(|((_, s, _), _)| s != "b")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let reader = Store::open_read_only("/db", config(&after, &clock)).unwrap();
    assert_eq!(view(&reader), want, "a reader sees none of it");
    drop(reader);
    assert!(
        after.contents(Path::new("/db/delete.pending")).is_some(),
        "the reader wrote nothing"
    );
    let store = Store::open("/db", config(&after, &clock)).unwrap();
    assert_eq!(view(&store), want);
    assert!(after.contents(Path::new("/db/delete.pending")).is_none());
    assert!(store.series(&b).is_empty());
}

#[test]
fn power_loss_before_each_operation_of_a_delete() {
    let clock = Arc::new(ManualClock::new(T0));
    let fs = FaultFs::new();
    let store = build(&fs, &clock);
    let before = view(&store);
    let base = fs.ops();
    let (from, to) = (T0 + 2 * MIN, NOW);
    let a = sel(r#"m{s="a"}"#);
    store
        .delete(&a, Some((from, to)), DeleteOptions::default())
        .unwrap();
    let total = fs.ops() - base;
    let after_clean = view(&store);
    drop(store);
    assert!(total > 10, "{total} operations");
    let mut outcomes = [0u32; 2];
    for n in 1..=total + 1 {
        for torn in [false, true] {
            let ctx = format!("crash before op {n} of {total} (torn {torn})");
            let clock = Arc::new(ManualClock::new(T0));
            let fs = FaultFs::new();
            let store = build(&fs, &clock);
            view(&store);
            assert_eq!(fs.ops(), base, "the scenario is deterministic");
            fs.crash_at(n);
            fs.set_torn_power_loss(torn.then_some(n));
            let res = store.delete(&a, Some((from, to)), DeleteOptions::default());
            drop(store);
            let survivor = match fs.survivor() {
                Some(s) => s,
                None => {
                    assert!(res.is_ok(), "{ctx}: {res:?}");
                    fs.power_loss()
                }
            };
            let store = Store::open("/db", config(&survivor, &clock))
                .unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
            let got = view(&store);
            if got == before {
                outcomes[0] += 1;
            } else {
                assert_eq!(got, after_clean, "{ctx}: neither before nor after");
                outcomes[1] += 1;
            }
            let v = tierlog_tools::inspect::verify_dir_on(
                Arc::new(survivor.clone()),
                Path::new("/db"),
                |_| {},
            )
            .unwrap_or_else(|e| panic!("{ctx}: verify: {e}"));
            assert!(v.is_clean(), "{ctx}: {:?}", v.corruption);
            let tmp: Vec<_> = survivor
                .paths()
                .into_iter()
                .filter(|p| {
                    let s = p.to_string_lossy();
                    s.ends_with(".tmp") || s.ends_with("delete.pending")
                })
                .collect();
            assert!(tmp.is_empty(), "{ctx}: left behind {tmp:?}");
            // The store goes on: a delete again (of what is left), writes, maintenance.
            store
                .delete(&a, Some((from, to)), DeleteOptions::default())
                .unwrap_or_else(|e| panic!("{ctx}: delete again: {e}"));
            assert_eq!(view(&store), after_clean, "{ctx}: deleted again");
            store.maintain().unwrap();
            drop(store);
            let store = Store::open("/db", config(&survivor.power_loss(), &clock)).unwrap();
            assert_eq!(view(&store), after_clean, "{ctx}: reopened");
        }
    }
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
    eprintln!(
        "{total} operations of a delete, each a crash point with and without torn writes: {} kept the data, {} finished the delete",
        outcomes[0], outcomes[1]
    );
}

/// The archive's 60 s buckets by (series, start).
fn archive_buckets(store: &Store) -> BTreeMap<(String, i64), String> {
    let Some(a) = store.open_archive().expect("open archive") else {
        return BTreeMap::new();
    };
    let r = a
        .query_tier(&Selector::metric("m"), 0, i64::MAX / 2, "60s")
        .expect("archive tier");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    r.series
        .iter()
        .flat_map(|s| {
            s.points.iter().map(|b| {
                (
                    (s.labels.get("s").to_owned(), b.t),
                    format!("{:?}", common::bucket_bits(b)),
                )
            })
        })
        .collect()
}

#[test]
fn the_archive_is_touched_only_when_asked() {
    let clock = Arc::new(ManualClock::new(T0));
    let fs = FaultFs::new();
    let tiers = [("10s", 10_000, 16 * MIN), ("60s", MIN, 20 * MIN)];
    let config = |fs: &FaultFs| {
        fault_config_keeps(fs, &clock, 12 * MIN, &tiers)
            .with_on_expiry(tierlog::Expiry::Archive("cold".into()))
    };
    let store = Store::open("/db", config(&fs)).unwrap();
    for k in 0..60i64 {
        let ts = T0 + k * 10_000;
        clock.set(ts);
        let batch = [
            Sample::new("m", &[("s", "a")], ts, k as f64),
            Sample::new("m", &[("s", "b")], ts, -k as f64),
        ];
        store.write(&batch).unwrap();
    }
    // The first minutes' 60 s buckets expire into the archive.
    clock.set(T0 + 24 * MIN);
    store.maintain().unwrap();
    let archived = archive_buckets(&store);
    assert!(archived.keys().any(|k| k.0 == "a") && archived.keys().any(|k| k.0 == "b"));
    let a = sel(r#"m{s="a"}"#);
    let r = store.delete(&a, None, DeleteOptions::default()).unwrap();
    assert_eq!(
        archive_buckets(&store),
        archived,
        "without --archive: untouched"
    );
    let dry = store
        .delete(
            &a,
            None,
            DeleteOptions::default()
                .with_archive(true)
                .with_dry_run(true),
        )
        .unwrap();
    assert_eq!(dry.matched, 1, "{r:?}");
    let in_archive = archived.keys().filter(|k| k.0 == "a").count() as u64;
    assert_eq!(dry.buckets, in_archive);
    let r = store
        .delete(&a, None, DeleteOptions::default().with_archive(true))
        .unwrap();
    assert_eq!(r.buckets, in_archive);
    let want: BTreeMap<_, _> = archived
        .iter()
        .filter(|(k, _)| k.0 != "a")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(archive_buckets(&store), want, "with --archive");
    drop(store);
    let fs = fs.power_loss();
    let store = Store::open("/db", config(&fs)).unwrap();
    assert_eq!(archive_buckets(&store), want, "after a power loss");
}

#[test]
fn an_io_error_in_a_delete_is_finished_by_the_next_delete_or_open() {
    let clock = Arc::new(ManualClock::new(T0));
    let fs = FaultFs::new();
    let store = build(&fs, &clock);
    let before = view(&store);
    let base = fs.ops();
    let (from, to) = (T0 + 2 * MIN, NOW);
    let (a, c) = (sel(r#"m{s="a"}"#), sel(r#"m{s="c"}"#));
    store
        .delete(&a, Some((from, to)), DeleteOptions::default())
        .unwrap();
    let total = fs.ops() - base;
    let after_a = view(&store);
    drop(store);
    let without_c = |v: &BTreeMap<(String, String, i64), String>| -> BTreeMap<_, _> {
        v.iter()
            .filter(|((_, s, _), _)| s != "c")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let mut failed = 0;
    for n in 1..=total {
        let ctx = format!("EIO at op {n} of {total}");
        let clock = Arc::new(ManualClock::new(T0));
        let fs = FaultFs::new();
        let store = build(&fs, &clock);
        view(&store);
        fs.fail_op(n, tierlog::vfs::Fault::Eio);
        let first = store.delete(&a, Some((from, to)), DeleteOptions::default());
        failed += usize::from(first.is_err());
        // The next delete (of another series) finishes the failed one first.
        let second = store.delete(&c, None, DeleteOptions::default());
        let got = view(&store);
        if second.is_ok() {
            let finished = first.is_ok() || got == without_c(&after_a);
            assert!(finished || got == without_c(&before), "{ctx}: {first:?}");
        }
        drop(store);
        let store = Store::open("/db", config(&fs, &clock))
            .unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
        let got = view(&store);
        let c_gone = second.is_ok();
        let (old, new) = if c_gone {
            (without_c(&before), without_c(&after_a))
        } else {
            (before.clone(), after_a.clone())
        };
        assert!(
            got == old || got == new,
            "{ctx}: a mix ({first:?}, {second:?})"
        );
        assert!(
            fs.contents(Path::new("/db/delete.pending")).is_none(),
            "{ctx}"
        );
    }
    assert!(failed > 0);
}
