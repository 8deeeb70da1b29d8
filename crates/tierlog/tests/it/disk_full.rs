//! Disk full: a write that meets `ENOSPC` fails with an error for which
//! [`tierlog::Error::is_storage_full`] holds, the store stays consistent and readable, nothing
//! acknowledged is lost, and writes succeed again once space is freed — without a restart, and
//! after one without any repair. On the in-memory fault backend at every fill level of a
//! scenario, and for real on a 2 MiB tmpfs where the machine allows it.

use std::collections::BTreeMap;

use std::sync::Arc;
use std::time::Duration;

use tierlog::vfs::{Fault, FaultFs, OpKind};
use tierlog::{Config, ManualClock, Sample, Selector, Store};

const T0: i64 = 1_700_000_040_000;

type Model = BTreeMap<(String, i64), f64>;

fn config(fs: &FaultFs, clock: &Arc<ManualClock>) -> Config {
    Config {
        maintenance_interval: None,
        ..Config::default()
    }
    .with_vfs(Arc::new(fs.clone()))
    .with_clock(clock.clone())
    .with_window_span(Duration::from_secs(60))
}

/// Every raw point of metric `m`, keyed by its `s` label and timestamp.
fn contents(store: &Store) -> Model {
    let r = store
        .query(&Selector::metric("m"), 0, i64::MAX / 2)
        .expect("query");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let mut out = Model::new();
    for s in r.series {
        let name = s.labels.get("s").to_owned();
        for (t, v) in s.points {
            out.insert((name.clone(), t), v);
        }
    }
    out
}

/// Asserts `got == want`, reporting a summary of the difference rather than both maps.
#[track_caller]
fn same(got: &Model, want: &Model, ctx: &str) {
    if got == want {
        return;
    }
    let missing: Vec<_> = want
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(*v))
        .take(3)
        .collect();
    let extra: Vec<_> = got
        .iter()
        .filter(|(k, _)| !want.contains_key(*k))
        .take(3)
        .collect();
    let short = |v: &[(&(String, i64), &f64)]| {
        v.iter()
            .map(|((s, t), x)| format!("({:.20}, {t}) = {x}", s))
            .collect::<Vec<_>>()
    };
    panic!(
        "{ctx}: store has {} points, model {}; missing or changed (first 3) {:?}; extra {:?}",
        got.len(),
        want.len(),
        short(&missing),
        short(&extra)
    );
}

/// Writes one sample for each of `series` at `ts`; on success records them in `model`.
fn write(store: &Store, model: &mut Model, series: &[&str], ts: i64) -> tierlog::Result<()> {
    let labels: Vec<[(&str, &str); 1]> = series.iter().map(|s| [("s", *s)]).collect();
    let batch: Vec<Sample> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| Sample::new("m", l, ts, (ts / 1000 + i as i64) as f64))
        .collect();
    store.write(&batch)?;
    for (i, s) in series.iter().enumerate() {
        model.insert(((*s).to_owned(), ts), (ts / 1000 + i as i64) as f64);
    }
    Ok(())
}

/// The scenario: writes over several windows with new series along the way, sealing as the
/// clock moves. Every error must be a full disk; returns how many writes failed.
fn scenario(store: &Store, clock: &ManualClock, model: &mut Model, round: i64) -> usize {
    let mut failed = 0;
    for k in 0..12 {
        let ts = T0 + round * 600_000 + k * 20_000;
        clock.set(ts);
        let new = format!("r{round}k{k}");
        let series = ["a", "b", new.as_str()];
        if let Err(e) = write(store, model, &series, ts) {
            assert!(e.is_storage_full(), "unexpected error: {e}");
            failed += 1;
        }
        if k % 4 == 3
            && let Err(e) = store.maintain()
        {
            assert!(e.is_storage_full(), "unexpected maintenance error: {e}");
        }
        same(&contents(store), model, &format!("round {round} step {k}"));
    }
    failed
}

#[test]
fn full_disk_at_every_fill_level() {
    // A clean run tells how many bytes the scenario needs.
    let fs = FaultFs::new();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open("/db", config(&fs, &clock)).unwrap();
    let base = fs.used_bytes();
    let mut model = Model::new();
    assert_eq!(scenario(&store, &clock, &mut model, 0), 0);
    let full = fs.used_bytes();
    drop(store);
    assert!(full > base);

    let step = ((full - base) / 60).max(1);
    let mut levels = 0;
    let mut refused = 0;
    let mut cap = base;
    while cap < full + step {
        levels += 1;
        let fs = FaultFs::new();
        let clock = Arc::new(ManualClock::new(T0));
        let store = Store::open("/db", config(&fs, &clock)).unwrap();
        fs.set_capacity(Some(cap));
        let mut model = Model::new();
        refused += scenario(&store, &clock, &mut model, 0);
        // Space is freed: the same store takes writes again, no restart.
        fs.set_capacity(None);
        assert_eq!(scenario(&store, &clock, &mut model, 1), 0, "capacity {cap}");
        store.maintain().unwrap();
        same(&contents(&store), &model, "");
        store.close().unwrap();
        // A restart finds everything, with nothing to repair.
        let store = Store::open("/db", config(&fs, &clock)).unwrap();
        same(
            &contents(&store),
            &model,
            &format!("capacity {cap}: after reopen"),
        );
        drop(store);
        // And so does a power loss (every write was fsynced before it was acknowledged).
        let after = fs.power_loss();
        let store = Store::open("/db", config(&after, &clock)).unwrap();
        same(
            &contents(&store),
            &model,
            &format!("capacity {cap}: after power loss"),
        );
        write(&store, &mut model, &["a"], T0 + 1_300_000).unwrap();
        cap += step;
    }
    assert!(refused > 0, "no fill level refused a write");
    eprintln!("{levels} fill levels, {refused} writes refused");
}

#[test]
fn full_disk_while_the_store_holds_data_then_freed() {
    let fs = FaultFs::new();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open("/db", config(&fs, &clock)).unwrap();
    let mut model = Model::new();
    for k in 0..5 {
        write(&store, &mut model, &["a", "b"], T0 + k * 1000).unwrap();
    }
    fs.set_capacity(Some(fs.used_bytes()));
    // Existing series, a new series, a new window: all refused, typed.
    for (series, ts) in [
        (&["a"][..], T0 + 10_000),
        (&["new"][..], T0 + 11_000),
        (&["a"][..], T0 + 61_000),
    ] {
        clock.set(ts);
        let e = write(&store, &mut model, series, ts).unwrap_err();
        assert!(e.is_storage_full(), "{e}");
        assert!(matches!(e, tierlog::Error::Io { .. }));
    }
    // Sealing needs space too: it fails, and is retried later.
    clock.set(T0 + 10 * 60_000);
    let e = store.maintain().unwrap_err();
    assert!(e.is_storage_full(), "{e}");
    same(&contents(&store), &model, "");
    assert!(
        !fs.paths()
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".tmp"))
    );
    // Freed: everything works again in the same store.
    fs.clear_faults();
    store.maintain().unwrap();
    write(&store, &mut model, &["a", "new"], T0 + 10 * 60_000).unwrap();
    same(&contents(&store), &model, "");
    store.close().unwrap();
    let store = Store::open("/db", config(&fs.power_loss(), &clock)).unwrap();
    same(&contents(&store), &model, "");
}

#[test]
fn enospc_from_fsync_stops_the_writer_and_a_restart_recovers() {
    // Some filesystems report a full disk only at fsync (delayed allocation). The pages may be
    // gone then, so the store stops taking writes until it is reopened; a reopen needs no
    // repair and keeps everything acknowledged.
    let fs = FaultFs::new();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open("/db", config(&fs, &clock)).unwrap();
    let mut model = Model::new();
    write(&store, &mut model, &["a"], T0).unwrap();
    fs.fail_nth(OpKind::Sync, 1, Fault::NoSpace);
    let e = write(&store, &mut Model::new(), &["a"], T0 + 1000).unwrap_err();
    assert!(e.is_storage_full(), "{e}");
    assert!(matches!(
        write(&store, &mut Model::new(), &["a"], T0 + 2000),
        Err(tierlog::Error::Poisoned)
    ));
    drop(store);
    let after = fs.power_loss();
    let store = Store::open("/db", config(&after, &clock)).unwrap();
    let got = contents(&store);
    for (k, v) in &model {
        assert_eq!(got.get(k), Some(v));
    }
    write(&store, &mut model, &["a"], T0 + 3000).unwrap();
}

/// A tmpfs mounted for the test, unmounted when dropped (also on a panic).
struct Mount(tempfile::TempDir);

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = std::process::Command::new("umount")
            .arg(self.0.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.0.path())
                .status();
        }
    }
}

fn mount_small_tmpfs() -> Result<Mount, String> {
    #[cfg(unix)]
    if unsafe { libc::geteuid() } != 0 {
        return Err("not running as root".into());
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tierlog-test"])
        .arg(dir.path())
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "mount -t tmpfs failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(Mount(dir))
}

#[test]
fn full_tmpfs_for_real() {
    let mount = match mount_small_tmpfs() {
        Ok(m) => m,
        Err(why) => {
            eprintln!("SKIPPED full_tmpfs_for_real: {why} (needs root and tmpfs mounts)");
            return;
        }
    };
    let root = mount.0.path();
    let dir = root.join("db");
    let clock = Arc::new(ManualClock::new(T0));
    let cfg = || {
        Config {
            maintenance_interval: None,
            ..Config::default()
        }
        .with_clock(clock.clone())
        .with_window_span(Duration::from_secs(60))
    };
    // Ballast to free later.
    let ballast = root.join("ballast");
    std::fs::write(&ballast, vec![1u8; 256 << 10]).unwrap();
    let store = Store::open(&dir, cfg()).unwrap();
    let mut model = Model::new();
    let names: Vec<String> = (0..200)
        .map(|i| format!("series-{i:04}-{}", "x".repeat(200)))
        .collect();
    let mut full: Option<(Vec<String>, i64)> = None;
    'fill: for k in 0..100_000i64 {
        let ts = T0 + k * 1000;
        clock.set(ts);
        // New series each round too, so the index grows as well as the log.
        let extra = vec![format!("n{k}-{}", "y".repeat(500))];
        for batch in [&names, &extra] {
            let series: Vec<&str> = batch.iter().map(String::as_str).collect();
            if let Err(e) = write(&store, &mut model, &series, ts) {
                assert!(e.is_storage_full(), "unexpected error: {e}");
                full = Some((batch.clone(), ts));
                break 'fill;
            }
        }
    }
    let (batch, ts) = full.expect("2 MiB never filled up");
    same(&contents(&store), &model, "when full");
    // The same write is refused again the same way, and the store still reads.
    let series: Vec<&str> = batch.iter().map(String::as_str).collect();
    let e = write(&store, &mut model, &series, ts).unwrap_err();
    assert!(e.is_storage_full(), "{e}");
    same(&contents(&store), &model, "still full");
    // Free space: writes succeed again in the same store.
    std::fs::remove_file(&ballast).unwrap();
    write(&store, &mut model, &series, ts).unwrap();
    write(&store, &mut model, &["a", "b"], ts + 1000).unwrap();
    same(&contents(&store), &model, "");
    store.close().unwrap();
    let store = Store::open(&dir, cfg()).unwrap();
    same(&contents(&store), &model, "");
    assert!(
        store.recovery_findings().is_empty(),
        "{:?}",
        store.recovery_findings()
    );
    drop(store);
}
