//! What was written comes back, across close/reopen, sealed segments and open windows, with
//! same-second mean semantics.

mod common;

use std::sync::Arc;

use common::{T0, open, points};
use tierlog::{ManualClock, Sample};

#[test]
fn round_trip_across_seal_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), &clock);
    // Window 1 (sealed later): two samples in one second average, one NaN stays bit-exact.
    let nan = f64::from_bits(0x7ff8_dead_beef_0001);
    store
        .write(&[
            Sample::new("cpu", &[("host", "a")], T0 + 10, 1.0),
            Sample::new("cpu", &[("host", "a")], T0 + 900, 2.0),
            Sample::new("cpu", &[("host", "a")], T0 + 1_000, nan),
            Sample::new("cpu", &[("host", "b"), ("empty", "")], T0 + 5_000, -0.0),
        ])
        .unwrap();
    // Move past window 1's end + grace: the next write seals it.
    clock.set(T0 + 600_000 + 300_000 + 1);
    let s = store
        .write(&[
            Sample::new("cpu", &[("host", "a")], T0 + 900_000, 7.25),
            Sample::new("cpu", &[("host", "a")], T0 + 1_000, 99.0), // window sealed: too old
        ])
        .unwrap();
    assert_eq!(s.accepted, 1);
    assert_eq!(s.rejected_too_old, 1);
    let st = store.stats();
    assert_eq!(st.tiers[0].sealed.segments, 1, "{st:?}");
    assert_eq!(st.tiers[0].sealed.points, 3);
    assert_eq!(st.tiers[0].open.points, 1);

    let expect = vec![
        (
            "cpu{host=a}".to_string(),
            vec![
                (T0, 1.5f64.to_bits()),
                (T0 + 1_000, nan.to_bits()),
                (T0 + 900_000, 7.25f64.to_bits()),
            ],
        ),
        (
            "cpu{host=b}".to_string(),
            vec![(T0 + 5_000, (-0.0f64).to_bits())],
        ),
    ];
    assert_eq!(points(&store, "cpu"), expect);
    store.close().unwrap();

    let store = open(dir.path(), &clock);
    assert_eq!(points(&store, "cpu"), expect);
    assert_eq!(points(&store, r#"cpu{host="b"}"#), expect[1..].to_vec());
    // Range filtering applies to point timestamps, [from, to).
    let r = store
        .query(&common::sel("cpu{host=\"a\"}"), T0 + 1_000, T0 + 900_000)
        .unwrap();
    assert_eq!(r.series[0].points.len(), 1);
    assert_eq!(r.series[0].points[0].0, T0 + 1_000);
}

#[test]
fn a_batch_larger_than_one_frame_is_split_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000));
    // 3.5 M samples in one window: more than one 64 MiB frame holds (and more than the
    // default batch cap, raised here).
    let n = tierlog::format::wal::MAX_SAMPLES_PER_RECORD + 150_000;
    let config = tierlog::Config {
        limits: tierlog::Limits {
            max_batch_samples: n,
            ..tierlog::Limits::default()
        },
        ..common::config(&clock)
    };
    let store = tierlog::Store::open(dir.path(), config).unwrap();
    let h = store.series_handle("big", &[]).unwrap();
    let batch: Vec<_> = (0..n)
        .map(|i| (h, T0 + (i % 600_000) as i64, i as f64))
        .collect();
    let s = store.write_series(&batch).unwrap();
    assert_eq!(s.accepted, n as u64);
    drop(store);
    let store = open(dir.path(), &clock);
    let r = store.query(&common::sel("big"), 0, i64::MAX).unwrap();
    assert_eq!(r.series[0].points.len(), 600);
    assert_eq!(store.stats().tiers[0].open.points, 600);
}

#[test]
fn the_maintenance_thread_seals_windows_that_fall_due_without_writes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000));
    let config = tierlog::Config {
        maintenance_interval: Some(std::time::Duration::from_millis(20)),
        ..common::config(&clock)
    };
    let store = tierlog::Store::open(dir.path(), config).unwrap();
    store
        .write(&[Sample::new("idle", &[], T0 + 1_000, 1.0)])
        .unwrap();
    assert_eq!(store.stats().tiers[0].sealed.segments, 0);
    // Time passes, nothing is written: the background pass seals the window.
    clock.set(T0 + 600_000 + 300_000);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.stats().tiers[0].sealed.segments == 0 {
        assert!(std::time::Instant::now() < deadline, "window never sealed");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(store.stats().tiers[0].open.segments, 0);
    assert_eq!(points(&store, "idle").len(), 1);
}

#[test]
fn a_reader_with_default_settings_opens_a_store_with_long_windows() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000));
    let config = tierlog::Config {
        window_span: std::time::Duration::from_secs(6 * 3600),
        raw_keep: Some(std::time::Duration::from_secs(12 * 3600)),
        tiers: Some(vec![]),
        ..common::config(&clock)
    };
    let store = tierlog::Store::open(dir.path(), config).unwrap();
    store
        .write(&[Sample::new("m", &[], T0 + 1_000, 1.0)])
        .unwrap();
    drop(store);
    // The default raw keep (2 h) is shorter than these windows; a reader does not care.
    let reader = tierlog::Store::open_read_only(dir.path(), tierlog::Config::default()).unwrap();
    assert_eq!(reader.config().window_span.as_secs(), 6 * 3600);
    assert_eq!(points(&reader, "m").len(), 1);
}
