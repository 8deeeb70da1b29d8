//! The forwarder against a fake receiver (a std `TcpListener` in the test that decodes
//! every request, checks its field numbers and headers, and answers as scripted): retry,
//! backoff and drop; receiver down then up; time order with out-of-order and same-second
//! writes; the in-process thread; a damaged checkpoint; SIGKILL mid-batch and restart.

use crate::forward_support;
use tierlog_testkit::helpers as common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use forward_support::{FakeReceiver, delivered, store_points};
use tierlog::{Clock, Config, Error, ManualClock, MetricKind, MetricMeta, Sample, Store};
use tierlog_forward::{ForwardConfig, ForwardError, Forwarder, checkpoint};

const T0: i64 = common::T0;

fn store_config(clock: &Arc<ManualClock>) -> Config {
    Config {
        window_span: Duration::from_secs(600),
        maintenance_interval: None,
        ..Config::default()
    }
    .with_clock(clock.clone())
}

/// A forwarder configuration for tests: short backoff, the test's clock.
fn fwd_config(url: &str, clock: &Arc<ManualClock>) -> ForwardConfig {
    let mut c = ForwardConfig::new(url);
    c.backoff_min = Duration::from_millis(5);
    c.backoff_max = Duration::from_millis(40);
    c.poll_interval = Duration::from_millis(10);
    c.clock = clock.clone();
    c
}

/// `n` seconds of two series from T0, and metadata for the first metric.
fn write_seconds(store: &Store, n: i64) {
    store
        .set_metric_meta(
            "disk_io_bytes_total",
            MetricMeta {
                kind: MetricKind::Counter,
                unit: "bytes".into(),
                description: "bytes read and written".into(),
            },
        )
        .unwrap();
    for i in 0..n {
        store
            .write(&[
                Sample::new(
                    "disk_io_bytes_total",
                    &[("dev", "sda")],
                    T0 + i * 1000,
                    (i * 512) as f64,
                ),
                Sample::new("load1", &[], T0 + i * 1000 + 250, 0.5 + i as f64 / 8.0),
            ])
            .unwrap();
    }
}

#[test]
fn retries_500_and_429_with_backoff_then_drops_a_400_batch() {
    let rx = FakeReceiver::start(&[500, 429, 400], 200);
    let dir = common::fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0 + 60_000));
    let store = Store::open(dir.path(), store_config(&clock)).unwrap();
    write_seconds(&store, 15); // 30 points: 3 batches of 10
    let mut c = fwd_config(&rx.url, &clock);
    c.max_batch_samples = 10;
    let mut f = Forwarder::open(dir.path(), c).unwrap();
    f.forward_once(&store, &AtomicBool::new(false)).unwrap();
    let got = rx.received();
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 429, 400, 200, 200]);
    // The first batch was tried three times, unchanged; then dropped.
    assert_eq!(got[0].request, got[1].request);
    assert_eq!(got[1].request, got[2].request);
    for r in &got {
        assert_eq!(r.headers["content-encoding"], "snappy");
        assert_eq!(r.headers["content-type"], "application/x-protobuf");
        assert_eq!(r.headers["x-prometheus-remote-write-version"], "0.1.0");
        let n: usize = r.request.timeseries.iter().map(|t| t.samples.len()).sum();
        assert_eq!(n, 10);
    }
    let s = f.stats();
    assert_eq!(s.retries, 2, "{s:?}");
    assert_eq!(
        s.failures,
        BTreeMap::from([
            ("http_400".to_string(), 1),
            ("http_429".to_string(), 1),
            ("http_500".to_string(), 1)
        ])
    );
    assert_eq!((s.samples_dropped, s.batches_dropped), (10, 1));
    assert_eq!((s.samples_sent, s.batches_sent), (20, 2));
    let cp = f.checkpoint();
    assert_eq!((cp.sent, cp.dropped), (20, 10));
    // What was delivered: the store's points but the dropped batch (the 10 oldest).
    let all = store_points(&store);
    let want: BTreeMap<_, _> = {
        let mut by_time: Vec<_> = all.iter().collect();
        by_time.sort_by_key(|((k, t), _)| (*t, k.clone()));
        by_time[10..]
            .iter()
            .map(|(k, v)| ((*k).clone(), **v))
            .collect()
    };
    assert_eq!(delivered(&got, false), want);
    // Metadata of the counter, by the protocol's numbers (type 1 = counter).
    let meta = &got[3].request.metadata;
    assert!(
        meta.iter()
            .any(|m| m.metric_family_name == "disk_io_bytes_total"
                && m.r#type == 1
                && m.unit == "bytes"
                && m.help == "bytes read and written"),
        "{meta:?}"
    );
    assert!(!meta.iter().any(|m| m.metric_family_name == "load1"));
}

#[test]
fn gives_up_after_max_attempts_leaving_the_checkpoint() {
    let rx = FakeReceiver::start(&[], 503);
    let dir = common::fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0 + 60_000));
    let store = Store::open(dir.path(), store_config(&clock)).unwrap();
    write_seconds(&store, 5);
    let mut c = fwd_config(&rx.url, &clock);
    c.max_attempts = Some(3);
    c.start_ms = Some(T0);
    let mut f = Forwarder::open(dir.path(), c).unwrap();
    let before = f.checkpoint();
    let e = f.forward_once(&store, &AtomicBool::new(false)).unwrap_err();
    assert!(
        matches!(&e, ForwardError::GaveUp { attempts: 3, reason, .. } if reason == "http_503"),
        "{e}"
    );
    assert_eq!(rx.received().len(), 3);
    let after = checkpoint::read_checkpoint(&tierlog::vfs::Fs::std(), dir.path(), "default")
        .unwrap()
        .unwrap();
    // The position stays; the request that failed is recorded as the one in flight.
    let mut position = after;
    position.in_flight = None;
    assert_eq!(position, before);
    assert!(after.in_flight.is_some_and(|e| e > (before.watermark, 0)));
    assert_eq!(f.stats().retries, 2);
}

#[test]
fn receiver_down_then_up_loses_nothing_and_sends_nothing_twice() {
    // A port with nothing listening: connections are refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let dir = common::fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0 + 120_000));
    let store = Arc::new(Store::open(dir.path(), store_config(&clock)).unwrap());
    write_seconds(&store, 100);
    let mut c = fwd_config(&url, &clock);
    c.max_batch_samples = 16;
    let mut f = Forwarder::open(dir.path(), c).unwrap();
    let start = f.checkpoint();
    let worker = {
        let store = store.clone();
        std::thread::spawn(move || {
            f.forward_once(&store, &AtomicBool::new(false)).unwrap();
            f
        })
    };
    // While the receiver is down the checkpoint does not move past a point (it may move
    // over the empty time before the first one, with the request in flight).
    std::thread::sleep(Duration::from_millis(300));
    let fs = tierlog::vfs::Fs::std();
    let held = checkpoint::read_checkpoint(&fs, dir.path(), "default")
        .unwrap()
        .unwrap();
    assert!(held.watermark <= T0, "{held:?}");
    assert_eq!((held.sent, held.dropped), (start.sent, start.dropped));
    let rx = FakeReceiver::start_on(
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free again"),
        &[],
        200,
    );
    let f = worker.join().unwrap();
    let s = f.stats();
    assert!(s.failures["connection"] >= 1, "{s:?}");
    assert!(s.retries >= 1);
    assert_eq!(delivered(&rx.received(), false), store_points(&store));
    assert_eq!(s.samples_sent, 200);
    assert_eq!(s.lag_ms, clock.now_ms() - f.checkpoint().watermark);
}

#[test]
fn out_of_order_and_same_second_writes_never_break_time_order_in_process() {
    let rx = FakeReceiver::start(&[], 200);
    rx.script.lock().unwrap().strict = true;
    let dir = common::fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Arc::new(Store::open(dir.path(), store_config(&clock)).unwrap());
    let mut c = fwd_config(&rx.url, &clock);
    c.max_batch_samples = 7;
    let handle = tierlog_forward::spawn(store.clone(), c).unwrap();
    let fs = tierlog::vfs::Fs::std();
    let wait_for = |mark: i64| {
        for _ in 0..6000 {
            if let Some(c) = checkpoint::read_checkpoint(&fs, dir.path(), "default").unwrap()
                && c.watermark >= mark
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the forwarder did not reach {mark}");
    };
    let mut late = 0;
    let mut rng = common::SplitMix64(7);
    for step in 0..40i64 {
        // This second and the next two, in a scrambled order, several samples per second
        // (their mean is the point), three series.
        let mut batch = Vec::new();
        for ahead in 0..3 {
            for s in ["a", "b", "c"] {
                for k in 0..2 {
                    let t = T0 + (step + ahead) * 1000 + (rng.next_u64() % 1000) as i64;
                    batch.push((s, t, (step * 10 + ahead + k) as f64));
                }
            }
        }
        for i in (1..batch.len()).rev() {
            batch.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        for (s, t, v) in batch {
            let labels = [("s", s)];
            store.write(&[Sample::new("jobs", &labels, t, v)]).unwrap();
        }
        if step >= 10 && step % 5 == 0 {
            // A late sample into a second already forwarded.
            store
                .write(&[Sample::new(
                    "jobs",
                    &[("s", "a")],
                    T0 + (step - 8) * 1000,
                    -1.0,
                )])
                .unwrap();
            late += 1;
        }
        clock.advance(1000);
        // Seconds before now - 2 s are closed; wait until they went out (the checkpoint
        // moves with each batch once there are points to send).
        let closed = (clock.now_ms() - 2000).div_euclid(1000) * 1000;
        if closed > T0 {
            wait_for(closed);
        }
    }
    let stats = handle.stop().unwrap();
    let got = rx.received();
    assert!(got.iter().all(|r| r.status == 200), "a request was refused");
    let sent = delivered(&got, false);
    let now_in_store = store_points(&store);
    // Every point of a closed second went out, once; late samples changed some values
    // afterwards and were not re-sent.
    let closed = (clock.now_ms() - 2000).div_euclid(1000) * 1000;
    let closed_points: BTreeMap<_, _> = now_in_store
        .iter()
        .filter(|((_, t), _)| *t < closed)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(
        sent.keys().collect::<Vec<_>>(),
        closed_points.keys().collect::<Vec<_>>()
    );
    let changed = sent
        .iter()
        .filter(|(k, v)| closed_points[*k] != **v)
        .count();
    assert_eq!(changed, late);
    assert_eq!(stats.late_samples, late as u64, "{stats:?}");
    assert_eq!(store.stats().late_after_forward, late as u64);
}

#[test]
fn a_damaged_checkpoint_is_a_typed_error_or_reset_on_request() {
    let dir = common::fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0 + 60_000));
    let store = Store::open(dir.path(), store_config(&clock)).unwrap();
    write_seconds(&store, 3);
    let c = fwd_config("http://127.0.0.1:9/api/v1/write", &clock);
    let path = {
        let f = Forwarder::open(dir.path(), c.clone()).unwrap();
        f.checkpoint_path().to_owned()
    };
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[40] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    match Forwarder::open(dir.path(), c.clone()) {
        Err(ForwardError::Store(Error::Corrupt { file, .. })) => assert_eq!(file, path),
        other => panic!("expected a corruption error, got {other:?}"),
    }
    std::fs::write(&path, &bytes[..20]).unwrap();
    assert!(matches!(
        Forwarder::open(dir.path(), c.clone()),
        Err(ForwardError::Store(Error::Corrupt { .. }))
    ));
    std::fs::write(&path, b"not a checkpoint").unwrap();
    assert!(matches!(
        Forwarder::open(dir.path(), c.clone()),
        Err(ForwardError::Store(Error::WrongMagic { .. }))
    ));
    // The writer holds nothing back for it, and says so rather than failing.
    store.maintain().unwrap();
    let mut reset = c;
    reset.reset_damaged_checkpoint = true;
    let f = Forwarder::open(dir.path(), reset).unwrap();
    assert_eq!(f.checkpoint().watermark, 0);
    assert!(path.with_extension("ckpt.damaged").exists());
    // One forwarder per checkpoint at a time.
    let c2 = fwd_config("http://127.0.0.1:9/api/v1/write", &clock);
    assert!(matches!(
        Forwarder::open(dir.path(), c2),
        Err(ForwardError::Store(Error::Locked { .. }))
    ));
}

/// The child of the kill test: forwards the store in `TIERLOG_FWD_DIR` to
/// `TIERLOG_FWD_URL` as `tierlog forward` does, until killed.
#[test]
fn child_forwarder() {
    let (Ok(dir), Ok(url)) = (
        std::env::var("TIERLOG_FWD_DIR"),
        std::env::var("TIERLOG_FWD_URL"),
    ) else {
        return;
    };
    let mut c = ForwardConfig::new(url);
    c.max_batch_samples = 5;
    c.backoff_min = Duration::from_millis(5);
    let mut f = Forwarder::open(&dir, c).unwrap();
    println!("OPEN");
    f.run_dir(&dir, &AtomicBool::new(false), false).unwrap();
}

#[test]
fn sigkill_mid_batch_then_restart_loses_nothing() {
    let rx = FakeReceiver::start(&[], 200);
    rx.script.lock().unwrap().delay = Duration::from_millis(15);
    let dir = common::fast_tempdir();
    // Real time: the child uses the system clock; data from 30 minutes ago is all closed.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let base = (now - 30 * 60_000).div_euclid(60_000) * 60_000;
    let clock = Arc::new(ManualClock::new(base + 200_000));
    let store = Store::open(dir.path(), store_config(&clock)).unwrap();
    for i in 0..200 {
        let (x, y) = ([("h", "x")], [("h", "y")]);
        store
            .write(&[
                Sample::new("kill_gauge", &x, base + i * 1000, i as f64 * 1.5),
                Sample::new("kill_gauge", &y, base + i * 1000, i as f64 * 2.5),
            ])
            .unwrap();
    }
    let envs = [
        ("TIERLOG_FWD_DIR", dir.path().display().to_string()),
        ("TIERLOG_FWD_URL", rx.url.clone()),
    ];
    let mut rng = common::SplitMix64(11);
    let kills = 4;
    for k in 0..kills {
        let delay = Duration::from_millis(30 + rng.next_u64() % 200);
        common::kill_child_after_open(
            concat!(module_path!(), "::child_forwarder"),
            &envs,
            delay,
            &format!("kill {k}"),
        );
    }
    // Restart in this process and finish.
    let mut c = ForwardConfig::new(rx.url.clone());
    c.max_batch_samples = 5;
    let mut f = Forwarder::open(dir.path(), c).unwrap();
    f.run_dir(dir.path(), &AtomicBool::new(false), true)
        .unwrap();
    let got = rx.received();
    let want = store_points(&store);
    assert_eq!(delivered(&got, true), want, "a point was lost or changed");
    // At-least-once: only the batch in flight at each kill can come twice.
    let total: usize = got
        .iter()
        .flat_map(|r| &r.request.timeseries)
        .map(|t| t.samples.len())
        .sum();
    let dupes = total - want.len();
    assert!(dupes <= kills * 5, "{dupes} duplicates after {kills} kills");
    let cp = f.checkpoint();
    assert!(cp.sent as usize >= want.len());
    println!(
        "{} requests, {dupes} duplicate samples after {kills} kills",
        got.len()
    );
}

#[test]
fn retention_holds_unsent_raw_data_up_to_the_backlog_limit() {
    let scenario = |checkpoint: bool, backlog_h: u64, max_bytes: u64| {
        let dir = common::fast_tempdir();
        let clock = Arc::new(ManualClock::new(T0));
        let mut config = store_config(&clock)
            .with_tiers(Vec::new())
            .with_raw_keep(Duration::from_secs(1200))
            .with_max_bytes(max_bytes);
        config.forward_backlog = Duration::from_secs(backlog_h * 3600);
        let store = Store::open(dir.path(), config).unwrap();
        if checkpoint {
            // A forwarder that has sent nothing yet.
            let mut c = fwd_config("http://127.0.0.1:9/api/v1/write", &clock);
            c.start_ms = Some(T0);
            drop(Forwarder::open(dir.path(), c).unwrap());
        }
        for i in 0..1800 {
            clock.advance_to(T0 + i * 1000);
            store
                .write(&[Sample::new("held", &[], T0 + i * 1000, i as f64)])
                .unwrap();
        }
        // Two hours on: past the raw keep (20 min), within a 3 h backlog.
        clock.advance_to(T0 + 2 * 3_600_000);
        let report = store.maintain().unwrap();
        let left = store_points(&store).len();
        (report.retention, left, store.stats().never_forwarded)
    };
    let (r, left, lost) = scenario(false, 3, 0);
    assert_eq!((r.held_for_forward, left, lost), (0, 0, 0), "{r:?}");
    let (r, left, lost) = scenario(true, 3, 0);
    assert_eq!((r.held_for_forward, left, lost), (3, 1800, 0), "{r:?}");
    // Past the backlog limit (1 h): dropped, and every unsent point counted.
    let (r, left, lost) = scenario(true, 1, 0);
    assert_eq!((r.held_for_forward, left), (0, 0), "{r:?}");
    assert_eq!((r.never_forwarded, lost), (1800, 1800));
    // The byte budget always wins.
    let (r, left, lost) = scenario(true, 3, 300);
    assert!(left < 1800, "{r:?}");
    assert_eq!(lost as usize, 1800 - left);
}

#[test]
fn cli_forwards_beside_a_running_writer_and_resumes() {
    let rx = FakeReceiver::start(&[], 200);
    let dir = common::fast_tempdir();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let base = (now - 10 * 60_000).div_euclid(60_000) * 60_000;
    let clock = Arc::new(ManualClock::new(base + 60_000));
    // The writer stays open (and holds its lock) while the command runs.
    let store = Store::open(dir.path(), store_config(&clock)).unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    // The command's clock (--now): seconds before now - 2 s are closed.
    let run = |now: i64, extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tierlog"))
            .args(["--now", &now.to_string(), "forward"])
            .arg(dir.path())
            .args([
                "--url",
                &rx.url,
                "--once",
                "--format",
                "json",
                "--bearer-token-file",
            ])
            .arg(&token)
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        (out.status.code(), stdout, stderr)
    };
    let write_seconds = |seconds: std::ops::Range<i64>| {
        for i in seconds {
            store
                .write(&[Sample::new(
                    "cli_gauge",
                    &[("k", "v")],
                    base + i * 1000,
                    i as f64,
                )])
                .unwrap();
        }
    };
    write_seconds(0..30);
    let (code, stdout, stderr) = run(base + 32_000, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let stats: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(stats["samples_sent"], 30, "{stdout}");
    assert!(
        stderr.starts_with("forwarded 30 samples in 1 requests"),
        "{stderr}"
    );
    let got = rx.received();
    assert_eq!(got[0].headers["authorization"], "Bearer s3cret");
    // More data, a second run: only the new points go.
    write_seconds(30..40);
    let (code, stdout, _) = run(base + 42_000, &[]);
    assert_eq!(code, Some(0));
    let stats: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (stats["samples_sent"].as_u64(), stats["total_sent"].as_u64()),
        (Some(10), Some(40))
    );
    assert_eq!(delivered(&rx.received(), false), store_points(&store));
    // A damaged checkpoint: exit 3 naming it; --reset-checkpoint starts anew.
    let ckpt = dir.path().join("forward/default.ckpt");
    let mut b = std::fs::read(&ckpt).unwrap();
    b[50] ^= 1;
    std::fs::write(&ckpt, &b).unwrap();
    let (code, _, stderr) = run(base + 42_000, &[]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("default.ckpt"), "{stderr}");
    let (code, stdout, stderr) = run(base + 42_000, &["--reset-checkpoint", "-q"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("damaged forwarder checkpoint"), "{stderr}");
    let stats: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(stats["samples_sent"], 40);
}

#[test]
fn the_writer_counts_late_samples_against_another_process_checkpoint() {
    let rx = FakeReceiver::start(&[], 200);
    let dir = common::fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0 + 30_000));
    let store = Store::open(dir.path(), store_config(&clock)).unwrap();
    write_seconds(&store, 20);
    // A forwarder over a read-only snapshot, as `tierlog forward` runs.
    let mut f = Forwarder::open(dir.path(), fwd_config(&rx.url, &clock)).unwrap();
    f.run_dir(dir.path(), &AtomicBool::new(false), true)
        .unwrap();
    assert_eq!(f.checkpoint().watermark, T0 + 28_000);
    // Before a maintenance pass the writer has not read the checkpoint: not counted.
    store
        .write(&[Sample::new("load1", &[], T0 + 5_000, 9.0)])
        .unwrap();
    assert_eq!(store.stats().late_after_forward, 0);
    store.maintain().unwrap();
    let w = store
        .write(&[
            Sample::new("load1", &[], T0 + 6_000, 9.0),
            Sample::new("load1", &[], T0 + 27_999, 9.0),
            Sample::new("load1", &[], T0 + 28_000, 9.0),
        ])
        .unwrap();
    assert_eq!((w.accepted, w.late_after_forward), (3, 2));
    assert_eq!(store.stats().late_after_forward, 2);
}

/// The forwarding of 3 series × 300 s (`--max-samples 100`, 2-minute reads, so requests end
/// early at read boundaries and at the closed time) on the fault-injecting backend: one pass
/// at an early clock, then a pass that loses power before its `k`th I/O operation, for every
/// `k`, then a pass at a later clock on what survived. The receiver refuses a request holding
/// a sample not newer than one it has, as Prometheus does; whatever the crash point, every
/// sample reaches it, and at most one request (the one in flight, re-sent) is refused.
#[test]
fn a_crash_at_any_io_operation_of_a_pass_loses_no_sample() {
    const DIR: &str = "/fwd-store";
    let build = || {
        let fs = tierlog::vfs::FaultFs::new();
        let clock = Arc::new(ManualClock::new(T0));
        let store = Store::open(DIR, common::fault_config(&fs, &clock)).unwrap();
        let labels = [[("s", "a")], [("s", "b")], [("s", "c")]];
        for i in 0..300 {
            clock.advance_to(T0 + i * 1000);
            let batch: Vec<Sample> = labels
                .iter()
                .enumerate()
                .map(|(k, l)| {
                    Sample::new(
                        "fwd_crash",
                        l,
                        T0 + i * 1000 + 100,
                        (i * 3) as f64 + k as f64,
                    )
                })
                .collect();
            store.write(&batch).unwrap();
        }
        store.close().unwrap();
        fs
    };
    let forward = |fs: &tierlog::vfs::FaultFs, url: &str, now: i64| {
        let mut c = ForwardConfig::new(url);
        c.max_batch_samples = 100;
        c.read_span = Duration::from_secs(120);
        c.backoff_min = Duration::from_millis(5);
        c.clock = Arc::new(ManualClock::new(now));
        c.vfs = Arc::new(fs.clone());
        let mut f = Forwarder::open(DIR, c)?;
        f.run_dir(DIR, &AtomicBool::new(false), true)
    };
    let (early, middle, late) = (T0 + 70_000, T0 + 230_000, T0 + 400_000);
    // The operations of the pass at `middle`, uninterrupted.
    let ops = {
        let fs = build();
        let rx = FakeReceiver::start(&[], 200);
        forward(&fs, &rx.url, early).unwrap();
        let before = fs.ops();
        forward(&fs, &rx.url, middle).unwrap();
        fs.ops() - before
    };
    assert!(ops > 10, "{ops} operations");
    let mut resent = 0;
    for k in 1..=ops {
        let fs = build();
        let rx = FakeReceiver::start(&[], 200);
        rx.script.lock().unwrap().strict = true;
        forward(&fs, &rx.url, early).unwrap();
        fs.crash_at(k);
        assert!(forward(&fs, &rx.url, middle).is_err(), "crash point {k}");
        let fs = fs.survivor().expect("crashed");
        forward(&fs, &rx.url, late).unwrap();
        let got = rx.received();
        let refused = got.iter().filter(|r| r.status != 200).count();
        assert!(refused <= 1, "crash point {k}: {refused} requests refused");
        resent += refused;
        let store = Store::open_read_only(DIR, Config::default().with_vfs(Arc::new(fs))).unwrap();
        let want = store_points(&store);
        assert_eq!(want.len(), 900);
        let have = delivered(&got, false);
        let lost: Vec<_> = want.keys().filter(|k| !have.contains_key(*k)).collect();
        assert!(
            lost.is_empty(),
            "crash point {k} of {ops}: {} samples lost, the first {:?}",
            lost.len(),
            lost.first()
        );
        assert_eq!(have, want, "crash point {k}");
    }
    println!("{ops} crash points, {resent} re-sent requests refused as duplicates");
}

/// Issue 17's sequence through the command line: 10 samples ingested, `forward --once`, 10
/// more ingested with `--replay` into seconds behind the forwarder's watermark, `forward
/// --once`. The receiver has the first 10 only; the second ingest's summary (JSON, CSV and
/// the closing line) counts the 10 it accepted behind the watermark.
#[test]
fn cli_ingest_counts_samples_written_behind_a_forwarder_watermark() {
    use crate::support::s;
    let rx = FakeReceiver::start(&[], 200);
    let dir = common::fast_tempdir();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let base = (now - 10 * 60_000).div_euclid(60_000) * 60_000;
    let at = (base + 60_000).to_string();
    let run = |args: &[&str], input: &str| {
        let mut all = vec!["--now", at.as_str()];
        all.extend_from_slice(args);
        let out = crate::support::tierlog_stdin(&all, input.as_bytes());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(out.status.success(), "{args:?}: {stderr}");
        (String::from_utf8(out.stdout).unwrap(), stderr)
    };
    let lines = |seconds: std::ops::Range<i64>| {
        seconds
            .map(|i| format!("late_gauge {i} {}\n", base + i * 1000))
            .collect::<String>()
    };
    let d = s(dir.path());
    let forward = || {
        let (stdout, stderr) = run(
            &["forward", d, "--url", &rx.url, "--once", "--format", "json"],
            "",
        );
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        (v, stderr)
    };
    let (stdout, _) = run(&["ingest", d, "-", "--format", "json"], &lines(0..10));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["summary"]["accepted"], 10, "{stdout}");
    assert_eq!(v["summary"]["late_after_forward"], 0, "{stdout}");
    let (v, _) = forward();
    assert_eq!(v["samples_sent"], 10);
    assert_eq!(v["watermark_ms"], base + 58_000);
    // Seconds 10..20 lie behind the watermark: accepted, counted, never sent.
    let (stdout, stderr) = run(
        &["ingest", d, "-", "--replay", "--format", "json"],
        &lines(10..20),
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["summary"]["accepted"], 10, "{stdout}");
    assert_eq!(v["summary"]["late_after_forward"], 10, "{stdout}");
    assert!(
        stderr.contains("10 behind a forwarder's watermark (not forwarded)"),
        "{stderr}"
    );
    let (v, _) = forward();
    assert_eq!(v["samples_sent"], 0);
    assert_eq!(delivered(&rx.received(), false).len(), 10);
    // CSV names the count too.
    let (stdout, _) = run(&["ingest", d, "-", "--format", "csv"], &lines(20..25));
    let mut rows = stdout.lines().map(|l| l.split(',').collect::<Vec<_>>());
    let (head, row) = (rows.next().unwrap(), rows.next().unwrap());
    let col = head
        .iter()
        .position(|&h| h == "late_after_forward")
        .unwrap();
    assert_eq!(row[col], "5", "{stdout}");
}

/// `LateMode::Send` against the fake receiver: the late samples of two series go out after
/// the in-order stream, one series per request, as the store's points of their seconds; a
/// 503 is retried and the late log position moves only once the request was answered; a
/// pass that gives up leaves the position, so the next one sends them; a 400 is counted as
/// dropped with the receiver's answer and the position moves on.
#[test]
fn late_send_sends_each_series_in_its_own_requests_and_moves_only_after_an_answer() {
    use tierlog::forward::late::read_log;
    let rx = FakeReceiver::start(&[], 200);
    let dir = common::fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0 + 30_000));
    let store = Store::open(dir.path(), store_config(&clock)).unwrap();
    write_seconds(&store, 20);
    let config = |max_attempts: Option<u32>| {
        let mut c = fwd_config(&rx.url, &clock);
        c.late = tierlog_forward::LateMode::Send;
        c.max_attempts = max_attempts;
        c
    };
    let mut f = Forwarder::open(dir.path(), config(None)).unwrap();
    f.run_dir(dir.path(), &AtomicBool::new(false), true)
        .unwrap();
    assert_eq!(f.stats().samples_sent, 40);
    store.maintain().unwrap(); // the writer reads the checkpoint
    let w = store
        .write(&[
            Sample::new("load1", &[], T0 + 5_100, 100.0),
            Sample::new("disk_io_bytes_total", &[("dev", "sda")], T0 + 3_000, 7.0),
            Sample::new("load1", &[], T0 + 2_900, 50.0),
        ])
        .unwrap();
    assert_eq!(w.late_after_forward, 3);
    let before = rx.received().len();
    // The first late request meets a 503, then goes through.
    rx.script.lock().unwrap().queue.push_back(503);
    f.run_dir(dir.path(), &AtomicBool::new(false), true)
        .unwrap();
    let s = f.stats().clone();
    assert_eq!((s.late_sent, s.retries, s.late_pending), (3, 1, 0), "{s:?}");
    let got = rx.received()[before..].to_vec();
    assert_eq!(
        got.iter().map(|r| r.status).collect::<Vec<_>>(),
        [503, 200, 200]
    );
    let series: Vec<Vec<(i64, f64)>> = got[1..]
        .iter()
        .map(|r| {
            assert_eq!(r.request.timeseries.len(), 1, "one series per request");
            r.request.timeseries[0]
                .samples
                .iter()
                .map(|p| (p.timestamp, p.value))
                .collect()
        })
        .collect();
    // By series id (disk_io first), time-ordered, the points as the store has them now.
    let points = store
        .query(&tierlog::Selector::parse("load1").unwrap(), T0, T0 + 6_000)
        .unwrap();
    let load: Vec<(i64, f64)> = points.series[0]
        .points
        .iter()
        .filter(|p| p.0 == T0 + 2_000 || p.0 == T0 + 5_000)
        .copied()
        .collect();
    assert_eq!(
        load,
        [
            (T0 + 2_000, (0.5 + 2.0 / 8.0 + 50.0) / 2.0),
            (T0 + 5_000, (0.5 + 5.0 / 8.0 + 100.0) / 2.0)
        ]
    );
    assert_eq!(
        series,
        [vec![(T0 + 3_000, (3.0 * 512.0 + 7.0) / 2.0)], load]
    );
    let fs = tierlog::vfs::Fs::std();
    let view = read_log(&fs, dir.path()).unwrap();
    let c = f.checkpoint();
    assert_eq!((c.late_epoch, c.late_offset), (1, view.end));
    // A pass that gives up leaves the position; the next one sends.
    store
        .write(&[Sample::new("load1", &[], T0 + 7_000, 1.0)])
        .unwrap();
    rx.script.lock().unwrap().queue.push_back(503);
    drop(f);
    let mut g = Forwarder::open(dir.path(), config(Some(1))).unwrap();
    assert!(
        g.run_dir(dir.path(), &AtomicBool::new(false), true)
            .is_err()
    );
    assert_eq!(g.checkpoint().late_offset, view.end);
    assert_eq!(g.stats().late_pending, 1);
    g.run_dir(dir.path(), &AtomicBool::new(false), true)
        .unwrap();
    assert_eq!(g.stats().late_sent, 1);
    // A refusal for good: dropped with the answer, the position moves on.
    store
        .write(&[Sample::new("load1", &[], T0 + 8_000, 1.0)])
        .unwrap();
    rx.script.lock().unwrap().queue.push_back(400);
    g.run_dir(dir.path(), &AtomicBool::new(false), true)
        .unwrap();
    let s = g.stats().clone();
    assert_eq!(
        s.late_dropped,
        BTreeMap::from([("http_400: refused by the test receiver (400)".to_owned(), 1)]),
        "{s:?}"
    );
    let view = read_log(&fs, dir.path()).unwrap();
    assert_eq!(g.checkpoint().late_offset, view.end);
    assert_eq!(store.stats().forwarders[0].pending, 0);
    // Every checkpoint has handled the log: the next maintenance pass starts it anew.
    store.maintain().unwrap();
    let fresh = read_log(&fs, dir.path()).unwrap();
    assert_eq!((fresh.epoch, fresh.records.len()), (2, 0));
    g.run_dir(dir.path(), &AtomicBool::new(false), true)
        .unwrap();
    assert_eq!(g.checkpoint().late_epoch, 2);
}
