//! The forward late log (`forward/late.log`): samples accepted behind every forwarder's
//! watermark are logged in the write that accepts them, survive a reopen and a power loss
//! once acknowledged, are counted by `stats` (also in a read-only open), and the log starts
//! anew once every checkpoint has handled it.

use tierlog_testkit::helpers as common;

use std::path::Path;
use std::sync::Arc;

use tierlog::forward::format::Checkpoint;
use tierlog::forward::late::{LateView, late_log_path, read_log};
use tierlog::vfs::{FaultFs, Fs};
use tierlog::{ManualClock, Sample, Store};

/// A minute boundary.
const T: i64 = 1_700_000_040_000;

fn put_checkpoint(fs: &Fs, dir: &Path, name: &str, c: Checkpoint) {
    fs.create_dir_all(&dir.join("forward")).unwrap();
    fs.write_atomic(
        &dir.join("forward").join(format!("{name}.ckpt")),
        &c.encode(),
    )
    .unwrap();
}

fn samples_of(view: &LateView) -> Vec<(u32, i64, f64)> {
    view.records
        .iter()
        .flat_map(|r| r.samples.iter().map(|s| (s.series, s.ts_ms, s.value)))
        .collect()
}

fn second(t: i64, v: f64) -> Sample<'static> {
    Sample::new("m", &[("s", "a")], t, v)
}

#[test]
fn samples_behind_the_forward_mark_are_logged_in_the_write_and_survive_a_reopen() {
    let fault = FaultFs::new();
    let fs = Fs::new(Arc::new(fault.clone()), 0o644);
    let dir = Path::new("/db");
    let clock = Arc::new(ManualClock::new(T + 30_000));
    let config = || common::fault_config(&fault, &clock);
    let store = Store::open(dir, config()).unwrap();
    let w = store
        .write(
            &(0..20)
                .map(|i| second(T + i * 1000, i as f64))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    assert_eq!(w.late_after_forward, 0);
    assert!(!fs.exists(&late_log_path(dir)), "no forwarder, no late log");
    store.close().unwrap();
    // A forwarder (another process) has sent every point below T + 10 s.
    put_checkpoint(
        &fs,
        dir,
        "prom",
        Checkpoint {
            watermark: T + 10_000,
            ..Checkpoint::default()
        },
    );
    let store = Store::open(dir, config()).unwrap();
    let w = store
        .write(&[
            second(T + 2_500, 100.0),
            second(T + 9_999, 101.0),
            second(T + 10_000, 102.0),
            second(T + 25_000, 103.0),
        ])
        .unwrap();
    assert_eq!((w.accepted, w.late_after_forward), (4, 2));
    // In the log as soon as the write returned, exactly those behind the watermark.
    let view = read_log(&fs, dir).unwrap();
    assert_eq!(view.epoch, 1);
    assert_eq!(
        samples_of(&view),
        [(0, T + 2_500, 100.0), (0, T + 9_999, 101.0)]
    );
    let stats = store.stats();
    assert_eq!(stats.forward_late_logged, 2);
    assert_eq!(stats.forwarders.len(), 1);
    assert_eq!(stats.forwarders[0].name, "prom");
    assert_eq!(stats.forwarders[0].pending, 2);
    // A write whose samples are all in time appends nothing.
    store.write(&[second(T + 26_000, 1.0)]).unwrap();
    assert_eq!(read_log(&fs, dir).unwrap(), view);
    store.close().unwrap();
    // A read-only open counts them too.
    let ro = Store::open_read_only(dir, config()).unwrap();
    assert_eq!(ro.stats().forward_late_logged, 2);
    assert_eq!(ro.stats().forwarders[0].pending, 2);
    drop(ro);
    // A torn tail (a crash mid-append) is cut by the writer's open; appends go on after it.
    let path = late_log_path(dir);
    let mut bytes = fs.read(&path).unwrap();
    bytes.extend_from_slice(&[7, 0, 0, 0, 1, 2]);
    fs.write_atomic(&path, &bytes).unwrap();
    let store = Store::open(dir, config()).unwrap();
    let w = store.write(&[second(T + 3_000, 104.0)]).unwrap();
    assert_eq!(w.late_after_forward, 1);
    let view = read_log(&fs, dir).unwrap();
    assert_eq!(
        samples_of(&view),
        [
            (0, T + 2_500, 100.0),
            (0, T + 9_999, 101.0),
            (0, T + 3_000, 104.0)
        ]
    );
    // The forwarder handled the first record only: 1 pending; the log stays.
    put_checkpoint(
        &fs,
        dir,
        "prom",
        Checkpoint {
            watermark: T + 10_000,
            late_epoch: 1,
            late_offset: view.records[0].end,
            late_skipped: 2,
            ..Checkpoint::default()
        },
    );
    let stats = store.stats();
    assert_eq!(
        (stats.forwarders[0].pending, stats.forwarders[0].skipped),
        (1, 2)
    );
    store.maintain().unwrap();
    assert_eq!(read_log(&fs, dir).unwrap(), view);
    // Handled whole: the next maintenance pass starts the log anew, one epoch on.
    put_checkpoint(
        &fs,
        dir,
        "prom",
        Checkpoint {
            watermark: T + 10_000,
            late_epoch: 1,
            late_offset: view.end,
            ..Checkpoint::default()
        },
    );
    store.maintain().unwrap();
    let fresh = read_log(&fs, dir).unwrap();
    assert_eq!((fresh.epoch, fresh.records.len()), (2, 0));
    assert_eq!(store.stats().forwarders[0].pending, 0);
    // The old checkpoint position is of another epoch: new samples are pending for it.
    let w = store.write(&[second(T + 4_000, 105.0)]).unwrap();
    assert_eq!(w.late_after_forward, 1);
    assert_eq!(store.stats().forwarders[0].pending, 1);
    store.close().unwrap();
    let store = Store::open(dir, config()).unwrap();
    let view = read_log(&fs, dir).unwrap();
    assert_eq!(
        (view.epoch, samples_of(&view)),
        (2, vec![(0, T + 4_000, 105.0)])
    );
    assert_eq!(store.stats().forward_late_logged, 1);
}

/// Writes behind a forwarder's watermark, with a loss of power before each I/O operation:
/// after the reopen, every acknowledged sample behind the watermark is in the late log, and
/// the log holds nothing that was not written.
#[test]
fn power_loss_before_each_operation_keeps_every_acknowledged_late_sample() {
    fn scenario(fault: &FaultFs, clock: &Arc<ManualClock>, acked: &mut Vec<(i64, f64)>) {
        let fs = Fs::new(Arc::new(fault.clone()), 0o644);
        let dir = Path::new("/db");
        let Ok(store) = Store::open(dir, common::fault_config(fault, clock)) else {
            return;
        };
        if store
            .write(
                &(0..20)
                    .map(|i| second(T + i * 1000, 0.0))
                    .collect::<Vec<_>>(),
            )
            .is_err()
        {
            return;
        }
        let _ = store.close();
        if fs.create_dir_all(&dir.join("forward")).is_err()
            || fs
                .write_atomic(
                    &dir.join("forward/prom.ckpt"),
                    &Checkpoint {
                        watermark: T + 15_000,
                        ..Checkpoint::default()
                    }
                    .encode(),
                )
                .is_err()
        {
            return;
        }
        let Ok(store) = Store::open(dir, common::fault_config(fault, clock)) else {
            return;
        };
        for k in 0..4i64 {
            let batch = [
                second(T + k * 1000 + 500, 10.0 + k as f64),
                second(T + 16_000 + k * 1000, 0.0),
            ];
            match store.write(&batch) {
                Ok(w) => {
                    assert_eq!(w.late_after_forward, 1);
                    acked.push((T + k * 1000 + 500, 10.0 + k as f64));
                }
                Err(_) => return,
            }
        }
        let _ = store.close();
    }
    let clock = Arc::new(ManualClock::new(T + 30_000));
    let fault = FaultFs::new();
    let mut acked = Vec::new();
    scenario(&fault, &clock, &mut acked);
    assert_eq!(acked.len(), 4);
    let total = fault.ops();
    let mut logged_some = 0;
    for n in 1..=total {
        let fault = FaultFs::new();
        fault.crash_at(n);
        let mut acked = Vec::new();
        scenario(&fault, &clock, &mut acked);
        let after = fault.survivor().unwrap_or_else(|| fault.power_loss());
        let ctx = format!("crash before op {n} of {total}");
        let store = Store::open("/db", common::fault_config(&after, &clock))
            .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
        let fs = Fs::new(Arc::new(after.clone()), 0o644);
        let got: Vec<(i64, f64)> = samples_of(&read_log(&fs, Path::new("/db")).unwrap())
            .into_iter()
            .map(|(_, t, v)| (t, v))
            .collect();
        // Everything acknowledged, in order; at most the write in flight besides.
        assert!(
            got.len() == acked.len() || got.len() == acked.len() + 1,
            "{ctx}: acked {acked:?}, logged {got:?}"
        );
        assert_eq!(&got[..acked.len()], &acked[..], "{ctx}");
        for (i, &(t, v)) in got.iter().enumerate() {
            assert_eq!(
                (t, v),
                (T + i as i64 * 1000 + 500, 10.0 + i as f64),
                "{ctx}"
            );
        }
        assert_eq!(store.stats().forward_late_logged, got.len() as u64, "{ctx}");
        // The store goes on writing to the log after the recovery.
        if fs.exists(Path::new("/db/forward/prom.ckpt")) {
            let w = store.write(&[second(T + 14_000, 1.0)]).unwrap();
            assert_eq!(w.late_after_forward, 1, "{ctx}");
            let view = read_log(&fs, Path::new("/db")).unwrap();
            assert_eq!(view.samples(), got.len() as u64 + 1, "{ctx}");
        }
        logged_some += u64::from(!got.is_empty());
    }
    assert!(total > 20, "{total} operations");
    assert!(logged_some > 3, "{logged_some}");
}
