//! Late samples: writes into sealed windows, checked against an oracle store that received
//! the same samples in time, through every query path, before the merge, after it and after
//! a reopen; clocks that jump.

use tierlog_testkit::helpers as common;

use std::sync::Arc;
use std::time::Duration;

use common::{T0, fast_tempdir, sel};
use tierlog::{Finding, ManualClock, MetricKind, MetricMeta, Sample, Store};

const SPAN: i64 = 600_000;
const MIN: i64 = 60_000;

/// Every answer of every query path over `[from, to)`, values as bits.
fn answers(store: &Store, from: i64, to: i64) -> Vec<String> {
    let mut out = Vec::new();
    for s in ["cpu", "req_total"] {
        let r = store.query(&sel(s), from, to).unwrap();
        assert!(!r.is_partial(), "{:?}", r.warnings);
        for series in &r.series {
            for (t, v) in &series.points {
                out.push(format!("raw {s} {t} {:x}", v.to_bits()));
            }
        }
        for tier in ["10s", "60s"] {
            let r = store.query_tier(&sel(s), from, to, tier).unwrap();
            for series in &r.series {
                for b in &series.points {
                    out.push(format!("{tier} {s} {b:?}"));
                }
            }
        }
        for step in [10, 60, 300] {
            let r = store
                .query_step(&sel(s), from, to, Duration::from_secs(step))
                .unwrap();
            for series in &r.series {
                for b in &series.points {
                    // The source label differs by design (raw while a merge is pending).
                    let mut b = b.clone();
                    b.tier = Arc::from("");
                    out.push(format!("step{step} {s} {b:?}"));
                }
            }
        }
    }
    out
}

fn counter_meta(store: &Store) {
    store
        .set_metric_meta(
            "req_total",
            MetricMeta {
                kind: MetricKind::Counter,
                ..MetricMeta::default()
            },
        )
        .unwrap();
}

/// In-time samples: every 5 s for 40 minutes; `late`: samples of seconds already sealed,
/// some joining a second that has a point, some new seconds, and a counter's.
fn in_time() -> Vec<(&'static str, i64, f64)> {
    let mut v = Vec::new();
    for i in 0..(40 * 12) {
        let t = T0 + i * 5_000;
        v.push(("cpu", t, (i % 17) as f64 * 1.25));
        v.push(("req_total", t, (i * 3) as f64));
    }
    v
}

fn late() -> Vec<(&'static str, i64, f64)> {
    vec![
        ("cpu", T0 + 3 * MIN + 400, 100.0),  // joins the point of T0+3min
        ("cpu", T0 + 3 * MIN + 900, -7.5),   // and again
        ("cpu", T0 + 3 * MIN + 2_000, 42.0), // a new second
        ("cpu", T0 + SPAN - 1, 0.125),       // the last second of the first window
        ("cpu", T0 + SPAN + 61_000, 3.0),    // the second window
        ("req_total", T0 + SPAN - 1_000, 1e6), // a counter jump at the end of window 1
    ]
}

fn write(store: &Store, samples: &[(&str, i64, f64)]) -> tierlog::WriteSummary {
    let s: Vec<Sample> = samples
        .iter()
        .map(|&(m, t, v)| Sample::new(m, &[], t, v))
        .collect();
    store.write(&s).unwrap()
}

#[test]
fn late_samples_into_sealed_windows_match_an_oracle_on_every_path() {
    let (da, db) = (fast_tempdir(), fast_tempdir());
    let clock = Arc::new(ManualClock::new(T0));
    let a = common::open(da.path(), &clock);
    let b = common::open(db.path(), &clock);
    counter_meta(&a);
    counter_meta(&b);
    // The oracle gets every sample in time order (a late sample after the in-time ones of
    // its second, as it arrives in `a`).
    let mut all = in_time();
    for l in late() {
        let at = all.iter().rposition(|x| x.1 <= l.1).map_or(0, |i| i + 1);
        all.insert(at, l);
    }
    for chunk in in_time().chunks(24) {
        clock.set(chunk.last().unwrap().1);
        write(&a, chunk);
    }
    for chunk in all.chunks(24) {
        clock.set(chunk.last().unwrap().1.max(T0));
        write(&b, chunk);
    }
    // Both windows sealed and rolled up; then the late samples arrive.
    clock.set(T0 + 45 * MIN);
    a.maintain().unwrap();
    b.maintain().unwrap();
    let s = write(&a, &late());
    assert_eq!((s.accepted, s.late, s.rejected()), (6, 6, 0));
    let (from, to) = (T0 - SPAN, T0 + 50 * MIN);
    let want = answers(&b, from, to);
    assert!(want.len() > 1000);
    assert_eq!(answers(&a, from, to), want, "before the merge");
    // Reopen before the merge: the late log is replayed.
    drop(a);
    let a = common::open(da.path(), &clock);
    assert_eq!(answers(&a, from, to), want, "reopened before the merge");
    let report = a.maintain().unwrap();
    assert_eq!(report.late.windows, 2);
    assert_eq!(report.late.samples, 6);
    assert!(report.late.buckets_recomputed > 0);
    assert_eq!(answers(&a, from, to), want, "after the merge");
    assert!(
        std::fs::read_dir(da.path().join("raw")).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".late"))
    );
    drop(a);
    let a = common::open(da.path(), &clock);
    assert_eq!(answers(&a, from, to), want, "reopened after the merge");
    // The tier files are what materialisation makes of the same points, byte for byte.
    for tier in ["10s", "60s"] {
        for start in [T0, T0 + SPAN] {
            let fa = std::fs::read(common::tier_seg_path(da.path(), tier, start)).unwrap();
            let fb = std::fs::read(common::tier_seg_path(db.path(), tier, start)).unwrap();
            assert!(fa == fb, "{tier} piece {start} differs from the oracle's");
        }
    }
}

#[test]
fn a_clock_jump_forward_and_back_never_locks_the_store() {
    let dir = fast_tempdir();
    let now = T0 + 5 * 3_600_000;
    let clock = Arc::new(ManualClock::new(now));
    let store = common::open(dir.path(), &clock);
    write(&store, &[("cpu", now, 1.0)]);
    // The clock jumps a year ahead for one write (a dead RTC battery, a typo in --now).
    let future = now + 365 * 86_400_000;
    clock.set(future);
    write(&store, &[("cpu", future, 2.0)]);
    store.maintain().unwrap();
    // NTP moves it back: samples at the real time are still accepted, and stats say how far
    // the clock is behind.
    clock.set(now + 1_000);
    assert_eq!(store.stats().clock_behind_ms, future - (now + 1_000));
    let s = write(&store, &[("cpu", now + 1_000, 3.0)]);
    assert_eq!((s.accepted, s.rejected()), (1, 0));
    drop(store);
    // Across a reopen: a finding says the clock is behind, and writes still go in.
    clock.set(now + 2_000);
    let store = common::open(dir.path(), &clock);
    assert!(
        store
            .recovery_findings()
            .iter()
            .any(|f| matches!(f, Finding::ClockBehind { .. })),
        "{:?}",
        store.recovery_findings()
    );
    let s = write(&store, &[("cpu", now + 2_000, 4.0)]);
    assert_eq!((s.accepted, s.rejected()), (1, 0));
    // An hour on: the present windows seal by the clock, and everything stays queryable,
    // the future sample too.
    clock.set(now + 3_600_000);
    store.maintain().unwrap();
    let pts: Vec<(i64, f64)> = store.query(&sel("cpu"), 0, i64::MAX).unwrap().series[0]
        .points
        .clone();
    assert_eq!(
        pts,
        [
            (now, 1.0),
            (now + 1_000, 3.0),
            (now + 2_000, 4.0),
            (future, 2.0)
        ]
    );
    drop(store);
    let store = common::open(dir.path(), &clock);
    let n = store.query(&sel("cpu"), 0, i64::MAX).unwrap().series[0]
        .points
        .len();
    assert_eq!(n, 4);
}

#[test]
fn samples_outside_the_accept_range_are_counted() {
    let dir = fast_tempdir();
    let now = T0 + 5 * 3_600_000;
    let clock = Arc::new(ManualClock::new(now));
    let store = common::open(dir.path(), &clock);
    let s = write(
        &store,
        &[
            ("cpu", now - 200 * 86_400_000, 1.0), // older than every tier keeps
            ("cpu", now - 2 * 3_600_000 + 1_000, 1.0), // inside the raw keep
            ("cpu", now + 10 * MIN, 1.0),         // at the future limit
            ("cpu", now + 10 * MIN + 1, 1.0),     // beyond it
        ],
    );
    assert_eq!(
        (s.accepted, s.rejected_too_old, s.rejected_too_far_ahead),
        (2, 1, 1)
    );
}

mod power_loss {
    use super::*;
    use common::{fault_config as config, store_contents as contents};
    use tierlog::vfs::FaultFs;

    /// On a minute boundary.
    const T: i64 = 1_700_000_040_000;

    /// In-time samples every 10 s for 4 minutes, sealed and rolled up; then late samples
    /// (new seconds, and one joining a second) with a merge between them. Stops at the first
    /// error. Returns what was acknowledged and what was attempted, by (series, second).
    fn scenario(
        fs: &FaultFs,
        clock: &Arc<ManualClock>,
        acked: &mut common::Contents,
        tried: &mut common::Contents,
    ) {
        let Ok(store) = Store::open("/db", config(fs, clock)) else {
            return;
        };
        let mut steps: Vec<Vec<(i64, f64)>> =
            (0..24).map(|k| vec![(T + k * 10_000, k as f64)]).collect();
        steps.push(vec![(T + 5_000, 0.5), (T + 65_000, 6.5)]);
        steps.push(vec![(T + 10_500, 100.0)]); // joins the point at T + 10 s
        steps.push(vec![(T + 125_000, 12.5)]);
        for (i, step) in steps.iter().enumerate() {
            if i < 24 {
                clock.set(step[0].0);
            } else if i == 24 {
                clock.set(T + 5 * 60_000);
                if store.maintain().is_err() {
                    return;
                }
            }
            let batch: Vec<Sample> = step
                .iter()
                .map(|&(t, v)| Sample::new("m", &[("s", "a")], t, v))
                .collect();
            // What the point of each second is once this batch is in.
            let mut after = acked.clone();
            for &(t, v) in step {
                let sec = t - t % 1000;
                let k = ("a".to_owned(), sec);
                let new = match after.get(&k) {
                    Some(&old) => (old + v) / 2.0,
                    None => v,
                };
                after.insert(k.clone(), new);
                tried.insert(k, new);
            }
            if store.write(&batch).is_err() {
                return;
            }
            *acked = after;
            if i == 25 && store.maintain().is_err() {
                return;
            }
        }
        let _ = store.close();
    }

    /// Every tier bucket agrees with the raw points under it.
    fn check_rollups(store: &Store, ctx: &str) {
        let r = store.query(&sel("m"), 0, i64::MAX / 2).unwrap();
        let Some(raw) = r.series.first().map(|s| &s.points) else {
            return;
        };
        for (tier, width) in [("10s", 10_000), ("60s", 60_000)] {
            let r = store.query_tier(&sel("m"), 0, i64::MAX / 2, tier).unwrap();
            for b in r.series.iter().flat_map(|s| &s.points) {
                let inside: Vec<f64> = raw
                    .iter()
                    .filter(|p| p.0 >= b.t && p.0 < b.t + width)
                    .map(|p| p.1)
                    .collect();
                assert_eq!(
                    b.count,
                    inside.len() as u64,
                    "{ctx}: {tier} bucket {} count",
                    b.t
                );
                let max = inside.iter().copied().fold(f64::MIN, f64::max);
                assert_eq!(b.max, max, "{ctx}: {tier} bucket {} max", b.t);
            }
        }
    }

    #[test]
    fn power_loss_before_each_operation_of_late_writes_and_merges() {
        let clock = Arc::new(ManualClock::new(T));
        let fs = FaultFs::new();
        let (mut acked, mut tried) = Default::default();
        scenario(&fs, &clock, &mut acked, &mut tried);
        let total = fs.ops();
        assert_eq!(acked.len(), 24 + 3);
        assert_eq!(acked[&("a".to_owned(), T + 10_000)], 50.5);
        let mut late_left = 0;
        for n in 1..=total {
            let clock = Arc::new(ManualClock::new(T));
            let fs = FaultFs::new();
            fs.crash_at(n);
            let (mut acked, mut tried) = (common::Contents::new(), common::Contents::new());
            scenario(&fs, &clock, &mut acked, &mut tried);
            let after = fs.survivor().unwrap_or_else(|| fs.power_loss());
            let ctx = format!("crash before op {n} of {total}");
            let store = Store::open("/db", config(&after, &clock))
                .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
            let got = contents(&store);
            for (k, v) in &acked {
                // The write in flight may have reached the disk and joined the second.
                assert!(
                    got.get(k) == Some(v) || got.get(k) == tried.get(k),
                    "{ctx}: acknowledged {k:?} = {v} lost or wrong: {:?}",
                    got.get(k)
                );
            }
            for (k, v) in &got {
                // A point is what was acknowledged, or what the write in flight made of it.
                assert!(
                    acked.get(k) == Some(v) || tried.get(k) == Some(v),
                    "{ctx}: {k:?} = {v} was never written"
                );
            }
            check_rollups(&store, &ctx);
            if after
                .paths()
                .iter()
                .any(|p| p.extension().is_some_and(|e| e == "late"))
            {
                late_left += 1;
            }
            // The store goes on: merges what is left, and agrees with itself after a reopen.
            clock.set(T + 10 * 60_000);
            store
                .maintain()
                .unwrap_or_else(|e| panic!("{ctx}: maintain: {e}"));
            check_rollups(&store, &ctx);
            store.close().unwrap();
            let store = Store::open("/db", config(&after.power_loss(), &clock)).unwrap();
            assert_eq!(
                contents(&store),
                got,
                "{ctx}: after a maintain and a reopen"
            );
            check_rollups(&store, &ctx);
        }
        assert!(total > 60, "{total} operations");
        assert!(late_left > 5, "{late_left} crashes left a late log");
        eprintln!("{total} crash points; {late_left} left a late log behind");
    }
}

/// A clock that steps back for one maintenance pass seals the open windows early (they lie
/// beyond the future limit of that clock); the writes that follow into them are late
/// samples. Every answer stays what a store that never saw the jump gives.
#[test]
fn windows_sealed_early_by_a_clock_step_back_keep_exact_answers() {
    let (da, db) = (fast_tempdir(), fast_tempdir());
    let clock = Arc::new(ManualClock::new(T0));
    let a = common::open(da.path(), &clock);
    let b = common::open(db.path(), &clock);
    counter_meta(&a);
    counter_meta(&b);
    let all = in_time();
    let mut stepped = 0;
    for (i, chunk) in all.chunks(24).enumerate() {
        clock.set(chunk.last().unwrap().1);
        write(&a, chunk);
        write(&b, chunk);
        let now = chunk.last().unwrap().1;
        // Once in every other window, so that the window before is still open.
        if i % 5 == 3 && (now - T0).rem_euclid(SPAN) < 5 * MIN && (now - T0) / SPAN % 2 == 1 {
            // The clock steps back 15 minutes for one pass of `a`'s maintenance: the window
            // just begun lies beyond its future limit and is sealed, while the one before,
            // still in its grace, stays open.
            clock.set(now - 15 * MIN);
            a.maintain().unwrap();
            clock.set(now);
            stepped += 1;
        }
    }
    assert!(stepped >= 2, "{stepped}");
    assert!(
        a.stats().rejections.late > 100,
        "{:?}",
        a.stats().rejections
    );
    clock.set(T0 + 45 * MIN);
    a.maintain().unwrap();
    b.maintain().unwrap();
    let (from, to) = (T0 - SPAN, T0 + 50 * MIN);
    let want = answers(&b, from, to);
    assert_eq!(answers(&a, from, to), want);
    clock.set(T0 + 90 * MIN);
    a.maintain().unwrap();
    b.maintain().unwrap();
    assert_eq!(answers(&a, from, to), answers(&b, from, to));
    assert_eq!(a.stats().late_pending, 0);
    drop(a);
    let a = common::open(da.path(), &clock);
    assert_eq!(answers(&a, from, to), answers(&b, from, to));
}

/// A store of `in_time()`, sealed and rolled up at T0 + 45 min, then given `late()` (every
/// one a late sample, in its late log).
fn sealed_with_late(dir: &std::path::Path) -> (Arc<ManualClock>, Store) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = common::open(dir, &clock);
    for chunk in in_time().chunks(24) {
        clock.set(chunk.last().unwrap().1);
        write(&store, chunk);
    }
    clock.set(T0 + 45 * MIN);
    store.maintain().unwrap();
    let s = write(&store, &late());
    assert_eq!(s.late, 6);
    (clock, store)
}

/// A delete removes late samples not merged yet too: they do not come back from their late
/// log after a reopen.
#[test]
fn a_delete_takes_late_samples_with_it() {
    let dir = fast_tempdir();
    let (clock, store) = sealed_with_late(dir.path());
    assert!(store.stats().late_pending > 0);
    let r = store
        .delete(&sel("cpu"), None, tierlog::DeleteOptions::default())
        .unwrap();
    assert!(r.points > 0, "{r:?}");
    assert!(
        store
            .query(&sel("cpu"), 0, i64::MAX)
            .unwrap()
            .series
            .is_empty()
    );
    assert_eq!(store.stats().late_pending, 0);
    drop(store);
    let store = common::open(dir.path(), &clock);
    assert!(
        store
            .query(&sel("cpu"), 0, i64::MAX)
            .unwrap()
            .series
            .is_empty()
    );
    for tier in ["10s", "60s"] {
        let b = store.query_tier(&sel("cpu"), 0, i64::MAX, tier).unwrap();
        assert!(b.series.is_empty(), "{tier}");
    }
    // The counter's late sample stays (another series).
    let req = store
        .query(&sel("req_total"), T0 + SPAN - 1_000, T0 + SPAN)
        .unwrap();
    assert_eq!(req.series[0].points, [(T0 + SPAN - 1_000, 1e6)]);
}

/// A segment damaged under its late samples: the merge leaves that window's late log as it
/// is (repair decides what the segment holds), and maintenance and reopens go on.
#[test]
fn damage_under_late_samples_does_not_stop_maintenance() {
    let dir = fast_tempdir();
    let (clock, store) = sealed_with_late(dir.path());
    drop(store);
    // Flip a byte in the middle of the first window's first chunk.
    let seg = common::seg_path(dir.path(), T0);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[40] ^= 0x55;
    std::fs::write(&seg, &bytes).unwrap();
    let store = common::open(dir.path(), &clock);
    let report = store
        .maintain()
        .expect("a damaged window does not fail the pass");
    // The second window merged; the damaged one kept its late log.
    assert_eq!(report.late.windows, 1);
    assert_eq!(store.stats().late_windows, 1);
    assert!(
        dir.path()
            .join("raw")
            .join(tierlog::layout::window_file_name(T0, "late"))
            .exists()
    );
    drop(store);
    let store = common::open(dir.path(), &clock);
    assert_eq!(store.stats().late_windows, 1);
}
