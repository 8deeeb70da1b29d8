//! Power loss at every I/O operation of a small scenario, on the fault-injecting backend (with
//! only synced bytes surviving, and with torn writes keeping part of the unsynced ones):
//! with `Sync::EveryWrite`, every acknowledged sample is present after the reopen, and nothing
//! that was never written appears. The reopen must succeed without repair.

use tierlog_testkit::helpers as common;

use std::sync::Arc;

use tierlog::vfs::{Fault, FaultFs};
use tierlog::{ManualClock, Sample, Store};

const T0: i64 = 1_700_000_040_000;

use common::{Contents as Model, fault_config as config, store_contents as contents};

/// What the scenario got acknowledged, and everything it tried to write.
#[derive(Default)]
struct Outcome {
    acked: Model,
    attempted: Model,
}

/// Writes across windows (new series now and then), sealing and materialising rollups as the
/// clock moves. Stops at the first error: the process "died" there.
fn scenario(fs: &FaultFs, clock: &Arc<ManualClock>, out: &mut Outcome) {
    let Ok(store) = Store::open("/db", config(fs, clock)) else {
        return;
    };
    run(&store, clock, out, true);
    let _ = store.close();
}

/// The steps of [`scenario`] on an open store; with `stop`, returns at the first error,
/// otherwise carries on (an I/O error is not a crash).
fn run(store: &Store, clock: &Arc<ManualClock>, out: &mut Outcome, stop: bool) {
    for k in 0..16i64 {
        let ts = T0 + k * 30_000;
        clock.set(ts);
        let new = format!("s{}", k / 3);
        let names = ["a", new.as_str()];
        let labels: Vec<[(&str, &str); 1]> = names.iter().map(|n| [("s", *n)]).collect();
        let batch: Vec<Sample> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| Sample::new("m", l, ts, (k * 10 + i as i64) as f64))
            .collect();
        for s in &batch {
            out.attempted
                .insert((s.labels[0].1.to_owned(), ts), s.value);
        }
        match store.write(&batch) {
            Ok(_) => {
                for s in &batch {
                    out.acked.insert((s.labels[0].1.to_owned(), ts), s.value);
                }
            }
            Err(_) if stop => return,
            Err(_) => {}
        }
        if k % 4 == 3 && store.maintain().is_err() && stop {
            return;
        }
    }
}

/// Every acknowledged sample is in `got`, and everything in `got` was written.
#[track_caller]
fn check(got: &Model, out: &Outcome, ctx: &str) {
    for (k, v) in &out.acked {
        assert_eq!(got.get(k), Some(v), "{ctx}: acknowledged {k:?} lost");
    }
    for (k, v) in got {
        assert_eq!(
            out.attempted.get(k),
            Some(v),
            "{ctx}: {k:?} = {v} was never written"
        );
    }
}

#[test]
fn power_loss_at_every_operation() {
    let clock = Arc::new(ManualClock::new(T0));
    let fs = FaultFs::new();
    let mut clean = Outcome::default();
    scenario(&fs, &clock, &mut clean);
    let total = fs.ops();
    assert_eq!(clean.acked.len(), 32);
    // The scenario sealed windows and materialised rollups.
    let segs = |dir: &str| {
        fs.paths()
            .iter()
            .filter(|p| p.starts_with(dir) && common::is_segment(p))
            .count()
    };
    let (sealed, rollups) = (segs("/db/raw"), segs("/db/10s"));
    assert!(sealed >= 4, "{sealed} windows sealed");
    assert!(rollups > 0, "no rollup materialised");
    assert!(total > 50, "{total} operations");

    let mut crashes = 0;
    let mut torn_tails = 0;
    for (n, torn) in (1..=total + 1).flat_map(|n| [(n, false), (n, true)]) {
        let clock = Arc::new(ManualClock::new(T0));
        let fs = FaultFs::new();
        fs.crash_at(n);
        // Torn: some unsynced appended bytes reach the disk too.
        fs.set_torn_power_loss(torn.then_some(n));
        let mut out = Outcome::default();
        scenario(&fs, &clock, &mut out);
        let after = match fs.survivor() {
            Some(s) => {
                crashes += 1;
                s
            }
            None => fs.power_loss(),
        };
        let store = Store::open("/db", config(&after, &clock))
            .unwrap_or_else(|e| panic!("crash before op {n} (torn {torn}): reopen failed: {e}"));
        let got = contents(&store);
        check(&got, &out, &format!("crash before op {n} (torn {torn})"));
        torn_tails += store
            .recovery_findings()
            .iter()
            .filter(|f| matches!(f, tierlog::Finding::TornTail { .. }))
            .count();
        // The recovered store works: it takes writes, seals, and reopens cleanly.
        clock.set(T0 + 900_000);
        store
            .write(&[Sample::new("m", &[("s", "after")], T0 + 900_000, 1.0)])
            .unwrap_or_else(|e| {
                panic!("crash before op {n} (torn {torn}): write after reopen: {e}")
            });
        store.maintain().unwrap_or_else(|e| {
            panic!("crash before op {n} (torn {torn}): maintain after reopen: {e}")
        });
        store.close().unwrap();
        let store = Store::open("/db", config(&after.power_loss(), &clock)).unwrap();
        let again = contents(&store);
        assert_eq!(
            again.len(),
            got.len() + 1,
            "crash before op {n} (torn {torn})"
        );
    }
    assert_eq!(crashes, 2 * total, "every operation was a crash point");
    assert!(torn_tails > 0, "no torn tail was ever recovered");
    eprintln!(
        "{total} crash points tried, each with and without torn writes ({torn_tails} torn tails recovered; {sealed} raw segments, {rollups} 10s segments in a clean run)"
    );
}

#[test]
fn io_error_at_every_operation() {
    // An EIO (or ENOSPC) at any one operation: the call that met it fails, the store stays
    // readable and consistent (or stops writing, after a failed fsync), and a reopen —
    // normal, or after a power loss — needs no repair and keeps everything acknowledged.
    let clock = Arc::new(ManualClock::new(T0));
    let fs = FaultFs::new();
    let store = Store::open("/db", config(&fs, &clock)).unwrap();
    let start = fs.ops();
    run(&store, &clock, &mut Outcome::default(), true);
    let total = fs.ops() - start;
    drop(store);
    let mut failed_calls = 0;
    for n in 1..=total {
        for fault in [Fault::Eio, Fault::NoSpace] {
            let ctx = format!("{fault:?} at op {n}");
            let clock = Arc::new(ManualClock::new(T0));
            let fs = FaultFs::new();
            let store = Store::open("/db", config(&fs, &clock)).unwrap();
            fs.fail_op(n, fault);
            let mut out = Outcome::default();
            run(&store, &clock, &mut out, false);
            assert_eq!(fs.faults_fired(), 1, "{ctx}");
            if out.acked.len() < out.attempted.len() {
                failed_calls += 1;
            }
            check(&contents(&store), &out, &ctx);
            drop(store);
            let store = Store::open("/db", config(&fs, &clock))
                .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
            check(&contents(&store), &out, &format!("{ctx}, reopened"));
            drop(store);
            let store = Store::open("/db", config(&fs.power_loss(), &clock))
                .unwrap_or_else(|e| panic!("{ctx}: reopen after power loss failed: {e}"));
            check(&contents(&store), &out, &format!("{ctx}, after power loss"));
        }
    }
    assert!(failed_calls > 0);
    eprintln!("{total} operations x 2 faults tried; {failed_calls} runs lost a write to them");
}
