//! Bad input and misuse: invalid samples reject the whole batch with the index of the first
//! bad one; out-of-range times are counted, not errors; the writer lock; read-only stores;
//! files that are not ours or too new; a changed window span; corrupt sealed segments.

use tierlog_testkit::helpers as common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{T0, seg_path, sel, snapshot, wal_path};
use tierlog::layout::{INDEX_FILE, LOCK_FILE, STATE_FILE};
use tierlog::{Config, Error, Limits, ManualClock, Sample, SampleError, SeriesId, Store};

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(T0 + 10_000))
}

fn config_with(limits: Limits) -> Config {
    Config {
        limits,
        ..common::config(&clock())
    }
}

/// Asserts `r` is `InvalidSample { index, reason }`.
fn assert_invalid<T: std::fmt::Debug>(
    r: tierlog::Result<T>,
    index: usize,
    reason: SampleError,
    ctx: &str,
) {
    match r {
        Err(Error::InvalidSample {
            index: i,
            reason: got,
        }) => assert_eq!((i, got), (index, reason), "{ctx}"),
        other => panic!("{ctx}: expected InvalidSample at {index}, got {other:?}"),
    }
}

/// The bytes of the store's files, for "nothing was written" checks (the LOCK file and the
/// state file do not hold data).
fn data_files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    snapshot(dir)
        .into_iter()
        .filter(|(p, _)| p != Path::new(LOCK_FILE) && p != Path::new(STATE_FILE))
        .collect()
}

#[test]
fn an_invalid_sample_rejects_the_whole_batch_naming_the_first() {
    let dir = common::fast_tempdir();
    let limits = Limits {
        max_labels: 3,
        ..Limits::default()
    };
    let store = Store::open(dir.path(), config_with(limits)).unwrap();
    store
        .write(&[Sample::new("existing", &[("a", "1")], T0, 1.0)])
        .unwrap();
    let long_name = "m".repeat(256);
    let name_255 = "m".repeat(255);
    let long_value = "v".repeat(4097);
    let value_4096 = "v".repeat(4096);
    let ok_labels: &[(&str, &str)] = &[("a", "1")];
    let too_many: &[(&str, &str)] = &[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")];
    let long_label: &[(&str, &str)] = &[(long_name.as_str(), "x")];
    let long_val: &[(&str, &str)] = &[("big", long_value.as_str())];
    let cases: Vec<(&str, Sample<'_>, SampleError)> = vec![
        (
            "empty metric name",
            Sample::new("", ok_labels, T0, 1.0),
            SampleError::InvalidMetricName { name: "".into() },
        ),
        (
            "metric name starting with a digit",
            Sample::new("1x", ok_labels, T0, 1.0),
            SampleError::InvalidMetricName { name: "1x".into() },
        ),
        (
            "metric name with a dash",
            Sample::new("a-b", ok_labels, T0, 1.0),
            SampleError::InvalidMetricName { name: "a-b".into() },
        ),
        (
            "non-ASCII metric name",
            Sample::new("é", ok_labels, T0, 1.0),
            SampleError::InvalidMetricName { name: "é".into() },
        ),
        (
            "metric name too long",
            Sample::new(&long_name, ok_labels, T0, 1.0),
            SampleError::NameTooLong {
                name: long_name.clone(),
                max: 255,
            },
        ),
        (
            "label name starting with a digit",
            Sample::new("m", &[("1a", "x")], T0, 1.0),
            SampleError::InvalidLabelName { name: "1a".into() },
        ),
        (
            "label name with a colon",
            Sample::new("m", &[("a:b", "x")], T0, 1.0),
            SampleError::InvalidLabelName { name: "a:b".into() },
        ),
        (
            "reserved label name",
            Sample::new("m", &[("__x", "x")], T0, 1.0),
            SampleError::InvalidLabelName { name: "__x".into() },
        ),
        (
            "reserved __name__",
            Sample::new("m", &[("__name__", "x")], T0, 1.0),
            SampleError::InvalidLabelName {
                name: "__name__".into(),
            },
        ),
        (
            "duplicate label",
            Sample::new("m", &[("a", "1"), ("b", "2"), ("a", "3")], T0, 1.0),
            SampleError::DuplicateLabel { name: "a".into() },
        ),
        (
            "duplicate label, one empty",
            Sample::new("m", &[("a", ""), ("a", "3")], T0, 1.0),
            SampleError::DuplicateLabel { name: "a".into() },
        ),
        (
            "too many labels",
            Sample::new("m", too_many, T0, 1.0),
            SampleError::TooManyLabels { count: 4, max: 3 },
        ),
        (
            "label name too long",
            Sample::new("m", long_label, T0, 1.0),
            SampleError::NameTooLong {
                name: long_name.clone(),
                max: 255,
            },
        ),
        (
            "label value too long",
            Sample::new("m", long_val, T0, 1.0),
            SampleError::ValueTooLong {
                label: "big".into(),
                len: 4097,
                max: 4096,
            },
        ),
        (
            "timestamp before 1970",
            Sample::new("m", ok_labels, -1, 1.0),
            SampleError::TimestampOutOfRange { ts_ms: -1 },
        ),
        (
            "timestamp i64::MIN",
            Sample::new("m", ok_labels, i64::MIN, 1.0),
            SampleError::TimestampOutOfRange { ts_ms: i64::MIN },
        ),
        (
            "timestamp after 9999",
            Sample::new("m", ok_labels, 253_402_300_800_000, 1.0),
            SampleError::TimestampOutOfRange {
                ts_ms: 253_402_300_800_000,
            },
        ),
        (
            "timestamp i64::MAX",
            Sample::new("m", ok_labels, i64::MAX, 1.0),
            SampleError::TimestampOutOfRange { ts_ms: i64::MAX },
        ),
    ];
    let before = data_files(dir.path());
    let series_before = store.series_counts();
    for (i, (what, bad, reason)) in cases.iter().enumerate() {
        // Good samples (one of a new series) first, then the bad one, then another bad one.
        let new_label = format!("n{i}");
        let new_labels = [("a", new_label.as_str())];
        let batch = [
            Sample::new("existing", &[("a", "1")], T0 + 1_000, 2.0),
            Sample::new("fresh", &new_labels, T0 + 1_000, 3.0),
            *bad,
            Sample::new("0bad", &[], -5, 4.0),
        ];
        assert_invalid(store.write(&batch), 2, reason.clone(), what);
        // The bad sample alone, at index 0.
        assert_invalid(store.write(&[*bad]), 0, reason.clone(), what);
        assert_eq!(
            store.series_counts(),
            series_before,
            "{what}: series created"
        );
        assert!(
            data_files(dir.path()) == before,
            "{what}: a rejected batch wrote to the store's files"
        );
        assert_eq!(
            common::all_points(&store, ".+"),
            [("existing{a=1}".to_string(), vec![(T0, 1f64.to_bits())])].into(),
            "{what}"
        );
    }
    // The limits are inclusive; an empty value does not count as a label.
    let at_limit: &[(&str, &str)] = &[("a", "1"), ("b", "2"), ("c", "3"), ("d", "")];
    let s = store
        .write(&[
            Sample::new(&name_255, at_limit, T0 + 2_000, 1.0),
            Sample::new("m", &[("big", value_4096.as_str())], T0 + 2_000, 1.0),
            Sample::new("m", &[(name_255.as_str(), "x")], T0 + 2_000, 1.0),
        ])
        .unwrap();
    assert_eq!((s.accepted, s.new_series), (3, 3));
    // The first bad sample is named even when a later one is bad in another way.
    assert_invalid(
        store.write(&[
            Sample::new("m", ok_labels, T0, 1.0),
            Sample::new("m", ok_labels, -1, 1.0),
            Sample::new("m", ok_labels, T0, 1.0),
            Sample::new("bad name", ok_labels, T0, 1.0),
        ]),
        1,
        SampleError::TimestampOutOfRange { ts_ms: -1 },
        "first of two bad samples",
    );
}

#[test]
fn write_series_checks_handles_and_times() {
    let dir = common::fast_tempdir();
    let store = Store::open(dir.path(), common::config(&clock())).unwrap();
    let a = store.series_handle("h", &[("x", "a")]).unwrap();
    let b = store.series_handle("h", &[("x", "b")]).unwrap();
    assert_eq!(store.series_handle("h", &[("x", "a")]).unwrap(), a);
    assert_invalid(
        store.series_handle("h", &[("__x", "a")]),
        0,
        SampleError::InvalidLabelName { name: "__x".into() },
        "series_handle",
    );
    assert_invalid(
        store.series_handle("h-1", &[]),
        0,
        SampleError::InvalidMetricName { name: "h-1".into() },
        "series_handle",
    );
    let before = data_files(dir.path());
    assert_invalid(
        store.write_series(&[(a, T0, 1.0), (SeriesId(999), T0, 2.0), (b, T0, 3.0)]),
        1,
        SampleError::UnknownSeries { id: 999 },
        "unknown handle",
    );
    assert_invalid(
        store.write_series(&[
            (a, T0, 1.0),
            (b, T0, 3.0),
            (a, -1, 1.0),
            (SeriesId(7), T0, 0.0),
        ]),
        2,
        SampleError::TimestampOutOfRange { ts_ms: -1 },
        "bad time",
    );
    assert!(
        data_files(dir.path()) == before,
        "a rejected batch was written"
    );
    assert!(common::all_points(&store, "h").is_empty());
    let s = store
        .write_series(&[(a, T0, 1.0), (b, T0 + 1_000, 3.0), (a, T0 + 500, 2.0)])
        .unwrap();
    assert_eq!(s.accepted, 3);
    assert_eq!(
        common::all_points(&store, "h"),
        [
            ("h{x=a}".to_string(), vec![(T0, 1.5f64.to_bits())]),
            ("h{x=b}".to_string(), vec![(T0 + 1_000, 3f64.to_bits())]),
        ]
        .into()
    );
}

#[test]
fn too_old_and_too_far_ahead_are_counted_and_the_rest_written() {
    let dir = common::fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0 + 10_000));
    let store = common::open(dir.path(), &clock);
    // Window T0 (10 min) is open until its end + 5 min grace.
    let now = T0 + 900_000 - 1;
    clock.set(now);
    let l: &[(&str, &str)] = &[("k", "v")];
    let s = store
        .write(&[
            Sample::new("w", l, T0 + 5, 1.0),           // late but within grace
            Sample::new("w", l, now + 600_000, 2.0),    // exactly the future limit
            Sample::new("w", l, now + 600_001, 3.0),    // too far ahead
            Sample::new("w", l, 0, 4.0),                // 1970: too old
            Sample::new("w", l, T0 - 600_000 + 1, 5.0), // previous window, past grace: taken
            Sample::new("w", l, 253_402_300_799_999, 6.0), // year 9999: too far ahead
        ])
        .unwrap();
    assert_eq!(
        (
            s.accepted,
            s.rejected_too_old,
            s.rejected_too_far_ahead,
            s.new_series
        ),
        (3, 1, 2, 1),
        "{s:?}"
    );
    assert_eq!(s.rejected(), 3);
    // Past window T0's end + grace: its samples are still taken, joining their second's
    // point (the window is still open: this write seals it once written).
    clock.set(T0 + 900_001);
    let s = store
        .write(&[
            Sample::new("w", l, T0 + 6, 7.0),
            Sample::new("w", l, T0 + 600_000, 8.0),
        ])
        .unwrap();
    assert_eq!((s.accepted, s.late, s.rejected()), (2, 0, 0), "{s:?}");
    let mut want = vec![
        (T0 - 600_000, 5f64.to_bits()),
        (T0, 4f64.to_bits()),
        (T0 + 600_000, 8f64.to_bits()),
        (T0 + 1_499_999 - 999, 2f64.to_bits()),
    ];
    assert_eq!(common::all_points(&store, "w")["w{k=v}"], want);
    store.close().unwrap();
    // The same verdicts after a reopen.
    let store = common::open(dir.path(), &clock);
    let s = store.write(&[Sample::new("w", l, T0 + 7, 9.0)]).unwrap();
    assert_eq!((s.accepted, s.late, s.rejected()), (1, 1, 0));
    want[1].1 = ((1f64 + 7.0 + 9.0) / 3.0).to_bits();
    assert_eq!(common::all_points(&store, "w")["w{k=v}"], want);
}

#[test]
fn a_second_writer_is_refused_and_readers_are_not() {
    let dir = common::fast_tempdir();
    let clock = clock();
    let store = common::open(dir.path(), &clock);
    store
        .write(&[
            Sample::new("lk", &[], T0, 1.0),
            Sample::new("lk", &[], T0 + 1_000, 2.0),
        ])
        .unwrap();
    match Store::open(dir.path(), common::config(&clock)) {
        Err(Error::Locked { dir: d, pid }) => {
            assert_eq!(d, dir.path());
            assert_eq!(pid, Some(std::process::id()));
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    // So is a repair.
    assert!(matches!(
        Store::repair(dir.path(), common::config(&clock)),
        Err(Error::Locked { .. })
    ));

    let before = snapshot(dir.path());
    let ro = Store::open_read_only(dir.path(), common::config(&clock)).unwrap();
    assert!(ro.is_read_only());
    assert!(
        snapshot(dir.path()) == before,
        "read-only open changed files"
    );
    let want = vec![(T0, 1f64.to_bits()), (T0 + 1_000, 2f64.to_bits())];
    assert_eq!(common::all_points(&ro, "lk")["lk{}"], want);
    // The reader is a snapshot as of its open.
    store
        .write(&[Sample::new("lk", &[], T0 + 2_000, 3.0)])
        .unwrap();
    assert_eq!(common::all_points(&ro, "lk")["lk{}"], want);
    // Nothing writes through a read-only store.
    assert!(matches!(
        ro.write(&[Sample::new("lk", &[], T0 + 3_000, 1.0)]),
        Err(Error::ReadOnly)
    ));
    assert!(matches!(
        ro.write_series(&[(SeriesId(0), T0 + 3_000, 1.0)]),
        Err(Error::ReadOnly)
    ));
    assert!(matches!(ro.series_handle("lk2", &[]), Err(Error::ReadOnly)));
    assert!(matches!(ro.maintain(), Err(Error::ReadOnly)));
    assert!(matches!(ro.sync(), Err(Error::ReadOnly)));
    assert!(matches!(
        ro.set_metric_meta("lk", Default::default()),
        Err(Error::ReadOnly)
    ));
    drop(ro);
    // A second reader sees the later write too, and a third once the writer is gone.
    let ro = Store::open_read_only(dir.path(), common::config(&clock)).unwrap();
    assert_eq!(common::all_points(&ro, "lk")["lk{}"].len(), 3);
    store.close().unwrap();
    let ro2 = Store::open_read_only(dir.path(), common::config(&clock)).unwrap();
    assert_eq!(common::all_points(&ro2, "lk")["lk{}"].len(), 3);
    // With the writer gone, the lock is free again.
    drop(Store::open(dir.path(), common::config(&clock)).unwrap());
}

#[test]
fn a_read_only_open_of_a_missing_directory_fails_and_creates_nothing() {
    let dir = common::fast_tempdir();
    let missing = dir.path().join("nope");
    assert!(Store::open_read_only(&missing, common::config(&clock())).is_err());
    assert!(!missing.exists());
}

/// A store with data in a sealed window (T0) and an open one (T0 + 10 min), closed.
fn populated(dir: &Path) -> Arc<ManualClock> {
    let clock = Arc::new(ManualClock::new(T0 + 10_000));
    let store = common::open(dir, &clock);
    store
        .write(&[Sample::new("p", &[("s", "a")], T0, 1.0)])
        .unwrap();
    clock.set(T0 + 900_001);
    store
        .write(&[Sample::new("p", &[("s", "a")], T0 + 600_000, 2.0)])
        .unwrap();
    assert_eq!(store.stats().tiers[0].sealed.segments, 1);
    store.close().unwrap();
    clock
}

fn expect_open_error(
    dir: &Path,
    clock: &Arc<ManualClock>,
    ctx: &str,
    check: impl Fn(&Error) -> bool,
) {
    let before = snapshot(dir);
    for read_only in [false, true] {
        let r = if read_only {
            Store::open_read_only(dir, common::config(clock))
        } else {
            Store::open(dir, common::config(clock))
        };
        match r {
            Err(e) => assert!(
                check(&e),
                "{ctx} (read-only {read_only}): unexpected error {e:?}"
            ),
            Ok(_) => panic!("{ctx} (read-only {read_only}): the store opened"),
        }
        let mut after = snapshot(dir);
        after.remove(Path::new(LOCK_FILE));
        let mut b = before.clone();
        b.remove(Path::new(LOCK_FILE));
        assert!(after == b, "{ctx}: a refused open changed files");
    }
}

#[test]
fn files_that_are_not_ours_are_refused_by_magic() {
    let garbage = b"#!/bin/sh\necho this is not a tierlog file at all, nope\n".to_vec();
    for (rel, magic) in [
        (Path::new(INDEX_FILE).to_owned(), *b"TLOGIDX1"),
        (Path::new(STATE_FILE).to_owned(), *b"TLOGSTA1"),
        (wal_path(Path::new(""), T0 + 600_000), *b"TLOGWAL1"),
    ] {
        for bytes in [garbage.clone(), garbage[..5].to_vec()] {
            let dir = common::fast_tempdir();
            let clock = populated(dir.path());
            let path = dir.path().join(&rel);
            std::fs::write(&path, &bytes).unwrap();
            let ctx = format!("{} holding {} bytes of garbage", rel.display(), bytes.len());
            expect_open_error(dir.path(), &clock, &ctx, |e| match e {
                Error::WrongMagic {
                    file,
                    expected,
                    found,
                } => {
                    *file == path && *expected == magic && found[..] == bytes[..bytes.len().min(8)]
                }
                _ => false,
            });
        }
    }
    // A tierlog file of another kind in the wrong place.
    let dir = common::fast_tempdir();
    let clock = populated(dir.path());
    std::fs::copy(dir.path().join(INDEX_FILE), dir.path().join(STATE_FILE)).unwrap();
    expect_open_error(
        dir.path(),
        &clock,
        "index in place of state",
        |e| matches!(e, Error::WrongMagic { expected, found, .. } if *expected == *b"TLOGSTA1" && found[..] == b"TLOGIDX1"[..]),
    );
}

#[test]
fn a_newer_format_version_is_refused() {
    for rel in [
        Path::new(INDEX_FILE).to_owned(),
        Path::new(STATE_FILE).to_owned(),
        wal_path(Path::new(""), T0 + 600_000),
    ] {
        let dir = common::fast_tempdir();
        let clock = populated(dir.path());
        let path = dir.path().join(&rel);
        let mut b = std::fs::read(&path).unwrap();
        // The state file is at version 5 (rollup tiers, retention settings, raw keep and
        // expiry action, the store's id), window logs at 2 (keyed samples records), the
        // index at 1.
        let current = if rel == Path::new(STATE_FILE) {
            5
        } else if rel == Path::new(INDEX_FILE) {
            1
        } else {
            2
        };
        assert_eq!(
            &b[8..10],
            &[current, 0],
            "{}: version {current} expected",
            rel.display()
        );
        let newer = current + 1;
        b[8] = newer; // The checksum is left stale: the version check comes first.
        std::fs::write(&path, &b).unwrap();
        let ctx = format!("{} with version {newer}", rel.display());
        expect_open_error(dir.path(), &clock, &ctx, |e| {
            matches!(e, Error::UnsupportedVersion { file, found, supported }
                if *file == path && *found == u16::from(newer) && *supported == u16::from(current))
        });
    }
}

#[test]
fn a_newer_format_version_of_a_segment_is_never_read() {
    // A segment's header is checked at open like any file's; the store may refuse to open
    // (UnsupportedVersion) or skip the segment, but then it must say so in every query that
    // touches it, serve none of its data, and never remove or rewrite the file.
    let dir = common::fast_tempdir();
    let clock = populated(dir.path());
    let path = seg_path(dir.path(), T0);
    let mut b = std::fs::read(&path).unwrap();
    // One past the newest version this build knows: the header decoder checks the version
    // before the checksum, so a newer file is refused as newer, not as damaged.
    let newer = tierlog::layout::FileKind::Segment.version() + 1;
    b[8..10].copy_from_slice(&newer.to_le_bytes());
    std::fs::write(&path, &b).unwrap();
    for read_only in [true, false] {
        let r = if read_only {
            Store::open_read_only(dir.path(), common::config(&clock))
        } else {
            Store::open(dir.path(), common::config(&clock))
        };
        match r {
            Err(Error::UnsupportedVersion { file, found, .. }) if found == newer => {
                assert_eq!(file, path)
            }
            Err(e) => panic!("read-only {read_only}: unexpected error {e:?}"),
            Ok(store) => {
                let r = store.query(&sel("p"), 0, i64::MAX).unwrap();
                assert!(
                    r.warnings.iter().any(|w| w.contains("version")),
                    "read-only {read_only}: a newer segment was skipped without saying why: {:?}",
                    r.warnings
                );
                let pts: Vec<i64> = r
                    .series
                    .iter()
                    .flat_map(|s| s.points.iter().map(|p| p.0))
                    .collect();
                assert_eq!(pts, vec![T0 + 600_000], "read-only {read_only}");
            }
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b,
            "read-only {read_only}: segment touched"
        );
    }
}

#[test]
fn reopening_with_another_window_span_is_refused() {
    let dir = common::fast_tempdir();
    let clock = populated(dir.path());
    let before = snapshot(dir.path());
    let c = Config {
        window_span: Duration::from_secs(300),
        ..common::config(&clock)
    };
    match Store::open(dir.path(), c.clone()) {
        Err(Error::Config { setting, .. }) => assert_eq!(setting, "window_span"),
        other => panic!("expected a config error, got {other:?}"),
    }
    // A reader adopts the span the store was created with, whatever it asked for.
    let reader = Store::open_read_only(dir.path(), c).unwrap();
    assert_eq!(
        reader.config().window_span,
        common::config(&clock).window_span
    );
    assert_eq!(common::all_points(&reader, "p")["p{s=a}"].len(), 2);
    drop(reader);
    let mut after = snapshot(dir.path());
    after.remove(Path::new(LOCK_FILE));
    let mut b = before;
    b.remove(Path::new(LOCK_FILE));
    assert!(after == b, "a refused open changed files");
    // The right span still opens it, with the data intact.
    let store = common::open(dir.path(), &clock);
    assert_eq!(common::all_points(&store, "p")["p{s=a}"].len(), 2);
    // An invalid configuration is refused before anything is created.
    let fresh = dir.path().join("fresh");
    let c = Config {
        window_span: Duration::from_secs(90),
        ..common::config(&clock)
    };
    assert!(matches!(
        Store::open(&fresh, c),
        Err(Error::Config {
            setting: "window_span",
            ..
        })
    ));
    assert!(!fresh.exists());
}

/// Expected points of one series: (second, value bits).
type Points = Vec<(i64, u64)>;

/// Two series with 40 points each in sealed window T0 and 5 each in sealed window
/// T0 + 10 min, and 3 each in the open window T0 + 20 min. Returns the expected points.
fn segment_store(dir: &Path) -> (Arc<ManualClock>, Points, Points) {
    let clock = Arc::new(ManualClock::new(T0 + 10_000));
    let store = common::open(dir, &clock);
    let mut a = Vec::new();
    let mut b = Vec::new();
    let write = |a: &mut Points, b: &mut Points, ts: i64| {
        let va = (ts - T0) as f64 / 1_000.0 + 0.25;
        let vb = -((ts - T0) as f64) / 3_000.0;
        store
            .write(&[
                Sample::new("seg", &[("s", "a")], ts, va),
                Sample::new("seg", &[("s", "b")], ts, vb),
            ])
            .unwrap();
        a.push((ts, va.to_bits()));
        b.push((ts, vb.to_bits()));
    };
    for i in 0..40 {
        write(&mut a, &mut b, T0 + i * 7_000);
    }
    clock.set(T0 + 600_000 + 10_000);
    for i in 0..5 {
        write(&mut a, &mut b, T0 + 600_000 + i * 60_000);
    }
    clock.set(T0 + 1_200_000 + 300_001);
    for i in 0..3 {
        write(&mut a, &mut b, T0 + 1_200_000 + i * 1_000);
    }
    assert_eq!(store.stats().tiers[0].sealed.segments, 2);
    store.close().unwrap();
    (clock, a, b)
}

fn query_all(store: &Store) -> tierlog::QueryResult {
    store.query(&sel("seg"), 0, i64::MAX).unwrap()
}

fn series_points(r: &tierlog::QueryResult, s: &str) -> Vec<(i64, u64)> {
    r.series
        .iter()
        .find(|x| x.labels.get("s") == s)
        .map(|x| x.points.iter().map(|&(t, v)| (t, v.to_bits())).collect())
        .unwrap_or_default()
}

#[test]
fn a_flipped_bit_in_a_sealed_chunk_skips_that_chunk_with_a_warning() {
    let dir = common::fast_tempdir();
    let (clock, a, b) = segment_store(dir.path());
    // The first chunk after the 32-byte header is series a's (the lowest id) in window T0.
    let path = seg_path(dir.path(), T0);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[32 + 3] ^= 0x04;
    std::fs::write(&path, &bytes).unwrap();
    let store = common::open(dir.path(), &clock);
    let r = query_all(&store);
    assert!(!r.warnings.is_empty(), "no warning for a corrupt chunk");
    // Once a read has found the damage, stats count the segment as corrupt.
    let st = store.stats();
    assert_eq!(st.tiers[0].corrupt_segments, 1, "{st:?}");
    assert_eq!(st.tiers[0].sealed.segments, 2, "{st:?}");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains(&*path.to_string_lossy())),
        "the warning should name the segment: {:?}",
        r.warnings
    );
    // Series a lost exactly its points of window T0; everything else is exact.
    let a_rest: Vec<_> = a
        .iter()
        .copied()
        .filter(|(t, _)| *t >= T0 + 600_000)
        .collect();
    assert_eq!(series_points(&r, "a"), a_rest);
    assert_eq!(series_points(&r, "b"), b);
    // Queries that do not touch the damaged chunk have no warning.
    let r = store.query(&sel("seg"), T0 + 600_000, i64::MAX).unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let r = store.query(&sel(r#"seg{s="b"}"#), 0, i64::MAX).unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(series_points(&r, "b"), b);
    // The store keeps working.
    store
        .write(&[Sample::new("seg", &[("s", "a")], T0 + 1_210_000, 5.0)])
        .unwrap();
}

#[test]
fn a_segment_with_a_damaged_footer_is_skipped_and_counted() {
    let dir = common::fast_tempdir();
    let (clock, a, b) = segment_store(dir.path());
    let path = seg_path(dir.path(), T0);
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 40] ^= 0x01; // the end of the footer
    std::fs::write(&path, &bytes).unwrap();
    let store = common::open(dir.path(), &clock);
    let st = store.stats();
    assert_eq!(st.tiers[0].corrupt_segments, 1, "{st:?}");
    let r = query_all(&store);
    assert!(!r.warnings.is_empty());
    let later = |v: &[(i64, u64)]| -> Vec<(i64, u64)> {
        v.iter()
            .copied()
            .filter(|(t, _)| *t >= T0 + 600_000)
            .collect()
    };
    assert_eq!(series_points(&r, "a"), later(&a));
    assert_eq!(series_points(&r, "b"), later(&b));
    // A query not overlapping the bad window has no warning.
    let r = store.query(&sel("seg"), T0 + 600_000, i64::MAX).unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // The bad segment's window stays closed to writes: a late sample could not be merged
    // with its points exactly.
    let s = store
        .write(&[Sample::new("seg", &[("s", "a")], T0 + 1, 5.0)])
        .unwrap();
    assert_eq!((s.rejected_too_old, s.rejected_conflict), (0, 1));
}

#[test]
fn no_bit_flip_in_a_segment_yields_a_wrong_value_or_a_panic() {
    let dir = common::fast_tempdir();
    let (clock, a, b) = segment_store(dir.path());
    let path = seg_path(dir.path(), T0);
    let pristine = std::fs::read(&path).unwrap();
    let all: std::collections::BTreeMap<&str, Vec<(i64, u64)>> =
        [("a", a.clone()), ("b", b.clone())].into();
    let mut partial = 0;
    for bit in 0..pristine.len() * 8 {
        let mut bytes = pristine.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        std::fs::write(&path, &bytes).unwrap();
        let ctx = format!("bit {bit} of {} bytes", pristine.len());
        let ro = match Store::open_read_only(dir.path(), common::config(&clock)) {
            Ok(ro) => ro,
            // A flipped version bit reads as a newer version, which may refuse the store.
            Err(Error::UnsupportedVersion { .. }) if (8..10).contains(&(bit / 8)) => continue,
            Err(e) => panic!("{ctx}: a damaged segment must not fail the open: {e}"),
        };
        let st = ro.stats();
        let r = query_all(&ro);
        let mut complete = true;
        for (s, want) in &all {
            let got = series_points(&r, s);
            // Every point returned is one that was written, with its exact value.
            for p in &got {
                assert!(
                    want.binary_search(p).is_ok(),
                    "{ctx}: series {s}: wrong point {p:?}"
                );
            }
            complete &= got.len() == want.len();
            // Only window T0 can lose points.
            let later: Vec<_> = want
                .iter()
                .copied()
                .filter(|(t, _)| *t >= T0 + 600_000)
                .collect();
            let got_later: Vec<_> = got
                .iter()
                .copied()
                .filter(|(t, _)| *t >= T0 + 600_000)
                .collect();
            assert_eq!(got_later, later, "{ctx}: series {s}, undamaged windows");
        }
        if !complete {
            partial += 1;
            assert!(
                !r.warnings.is_empty(),
                "{ctx}: data missing without a warning"
            );
        }
        if st.tiers[0].corrupt_segments > 0 {
            assert!(
                !r.warnings.is_empty(),
                "{ctx}: corrupt segment without a warning"
            );
        }
    }
    println!(
        "{partial} of {} flips made a query partial",
        pristine.len() * 8
    );
    assert!(partial > 0);
}

/// A write made with the clock a day ahead leaves the store's high-water mark there: when the
/// store is opened again with the clock back where it belongs, the open says so (a finding
/// naming the mark, the clock and the earliest time still accepted), and samples before that
/// time are refused as too old, as the finding says. A reader is not told (it refuses
/// nothing); a clock within the grace of the mark is no finding.
#[test]
fn a_clock_behind_the_high_water_mark_is_a_finding_at_open() {
    let dir = common::fast_tempdir();
    let day = 86_400_000;
    let clock = clock();
    clock.set(T0 + day);
    let store = Store::open(dir.path(), common::config(&clock)).unwrap();
    let s = store
        .write(&[Sample::new("f", &[], T0 + day, 1.0)])
        .unwrap();
    assert_eq!(s.accepted, 1);
    store.close().unwrap();

    clock.set(T0 + day - 60_000); // within the 5-minute grace
    let store = Store::open(dir.path(), common::config(&clock)).unwrap();
    assert!(
        store.recovery_findings().is_empty(),
        "{:?}",
        store.recovery_findings()
    );
    store.close().unwrap();

    clock.set(T0);
    let store = Store::open(dir.path(), common::config(&clock)).unwrap();
    let found: Vec<_> = store
        .recovery_findings()
        .iter()
        .filter_map(|f| match f {
            tierlog::Finding::ClockBehind {
                high_water,
                now,
                accepted_from,
            } => Some((*high_water, *now, *accepted_from)),
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1, "{:?}", store.recovery_findings());
    let (high_water, now, accepted_from) = found[0];
    assert_eq!((high_water, now), (T0 + day, T0));
    let text = store.recovery_findings()[0].to_string();
    assert!(
        text.contains("behind the store's high-water mark"),
        "{text}"
    );
    // What the finding says is what the write path does: a sample at the clock is accepted,
    // and the boundary of the accept range is exact.
    assert!(text.contains("accepted relative to the clock"), "{text}");
    let taken = store.write(&[Sample::new("f", &[], T0, 2.0)]).unwrap();
    assert_eq!((taken.accepted, taken.rejected_too_old), (1, 0));
    assert_eq!(accepted_from, T0 - 7_200_000);
    // Before it, raw points are not kept: the sample goes to the tiers (a backfill), not
    // to a raw window.
    let history = store
        .write(&[Sample::new("f", &[], accepted_from - 1, 2.0)])
        .unwrap();
    assert_eq!(history.rejected_too_old, 0, "{history:?}");
    let taken = store
        .write(&[Sample::new("f", &[], accepted_from, 3.0)])
        .unwrap();
    assert_eq!(taken.accepted, 1, "{taken:?}");
    let raw = store.query(&sel("f"), 0, i64::MAX).unwrap();
    assert!(
        raw.series[0].points.iter().all(|p| p.0 >= accepted_from),
        "{:?}",
        raw.series
    );
    store.close().unwrap();

    let reader = Store::open_read_only(dir.path(), common::config(&clock)).unwrap();
    assert!(reader.recovery_findings().is_empty());
}

/// Samples of one series usually share their name and label slice (a sender builds them once
/// per series): the checks of a shared key run once, and what they find is the same — the
/// first bad sample's index, a bad timestamp of any of them — and the samples land in one
/// series, as samples with equal keys in separate memory do.
#[test]
fn samples_sharing_their_key_are_checked_and_resolved_as_separate_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), common::config(&clock())).unwrap();
    let bad: &[(&str, &str)] = &[("1a", "x")];
    let good: &[(&str, &str)] = &[("job", "a"), ("host", "h")];
    // The shared bad key first appears at index 2.
    let batch = [
        Sample::new("m", good, T0, 1.0),
        Sample::new("m", good, T0 + 1000, 2.0),
        Sample::new("m", bad, T0 + 2000, 3.0),
        Sample::new("m", bad, T0 + 3000, 4.0),
    ];
    assert_invalid(
        store.write(&batch),
        2,
        SampleError::InvalidLabelName { name: "1a".into() },
        "shared bad key",
    );
    // A shared good key with a bad time at index 2.
    let batch = [
        Sample::new("m", good, T0, 1.0),
        Sample::new("m", good, T0 + 1000, 2.0),
        Sample::new("m", good, i64::MAX, 3.0),
    ];
    assert_invalid(
        store.write(&batch),
        2,
        SampleError::TimestampOutOfRange { ts_ms: i64::MAX },
        "shared key, bad time",
    );
    // Shared slices, equal copies in other memory, and the labels in another order: one
    // series of four points.
    let copy = vec![("host", "h"), ("job", "a")];
    let batch = [
        Sample::new("m", good, T0, 1.0),
        Sample::new("m", good, T0 + 1000, 2.0),
        Sample::new("m", &copy, T0 + 2000, 3.0),
        Sample::new("m", good, T0 + 3000, 4.0),
        Sample::new("n", good, T0 + 3000, 5.0),
    ];
    assert_eq!(store.write(&batch).unwrap().accepted, 5);
    let r = store.query(&sel("m"), T0, T0 + 10_000).unwrap();
    assert_eq!(r.series.len(), 1, "{r:?}");
    let pts: Vec<(i64, f64)> = r.series[0].points.clone();
    assert_eq!(
        pts,
        [
            (T0, 1.0),
            (T0 + 1000, 2.0),
            (T0 + 2000, 3.0),
            (T0 + 3000, 4.0)
        ]
    );
    assert_eq!(
        store
            .query(&sel("n"), T0, T0 + 10_000)
            .unwrap()
            .series
            .len(),
        1
    );
}
