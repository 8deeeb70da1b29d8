//! A damaged `state` file seen by the tools that read it without opening the store:
//! `Store::stored_config` and `Store::created_window_span` return a typed error (corruption)
//! for every bit flip and every truncation of a real state file, and for state files whose
//! checksums hold but whose fields are out of range — never a panic, never a configuration
//! the store's own open would refuse. `verify` names the `state.damaged` file repair leaves
//! behind for what it is.

use tierlog_testkit::helpers as common;

use std::path::Path;
use std::sync::Arc;

use tierlog::layout::STATE_FILE;
use tierlog::state::format::{Policy, RetentionSettings, State, TierState};
use tierlog::{Error, ManualClock, Sample, Store};

fn make_store(dir: &Path) -> Vec<u8> {
    let clock = Arc::new(ManualClock::new(common::T0));
    let store = common::open(dir, &clock);
    store
        .write(&[Sample::new("m", &[("s", "a")], common::T0, 1.0)])
        .unwrap();
    store.close().unwrap();
    std::fs::read(dir.join(STATE_FILE)).unwrap()
}

/// Both readers of the state file on `dir`: a typed corruption error, or (for a flip that
/// leaves a usable file, which the checksums make impossible) a configuration open accepts.
#[track_caller]
fn check_readers(dir: &Path, ctx: &str) {
    match Store::stored_config(dir) {
        // A flip in the version field reads as a file of a later version.
        Err(e) => assert!(
            e.is_corruption() || matches!(e, Error::UnsupportedVersion { .. }),
            "{ctx}: stored_config: {e:?}"
        ),
        Ok(c) => panic!("{ctx}: stored_config accepted a damaged state: {c:?}"),
    }
    match Store::created_window_span(dir) {
        Err(e) => assert!(
            e.is_corruption() || matches!(e, Error::UnsupportedVersion { .. }),
            "{ctx}: created_window_span: {e:?}"
        ),
        Ok(s) => panic!("{ctx}: created_window_span accepted a damaged state: {s:?}"),
    }
}

#[test]
fn every_bit_flip_and_truncation_is_a_typed_error() {
    let dir = common::fast_tempdir();
    let good = make_store(dir.path());
    let path = dir.path().join(STATE_FILE);
    assert!(Store::stored_config(dir.path()).unwrap().is_some());
    let mut tried = 0;
    for bit in 0..good.len() * 8 {
        let mut b = good.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        std::fs::write(&path, &b).unwrap();
        check_readers(dir.path(), &format!("bit {bit} flipped"));
        tried += 1;
    }
    for len in 0..good.len() {
        std::fs::write(&path, &good[..len]).unwrap();
        check_readers(dir.path(), &format!("cut to {len} bytes"));
        tried += 1;
    }
    eprintln!("{tried} damaged state files");
}

/// A state file with valid checksums written by something else: out-of-range fields.
fn forged(window_span: i64, tiers: Vec<(i64, i64)>, raw_keep: i64) -> Vec<u8> {
    State {
        window_span,
        clock_high_water: 0,
        sealed_through: 0,
        tiers: tiers
            .into_iter()
            .enumerate()
            .map(|(i, (interval, keep))| TierState {
                name: format!("t{i}"),
                interval,
                keep,
                done_through: i64::MIN,
            })
            .collect(),
        retention: Some(RetentionSettings {
            max_age_days: u32::MAX,
            max_bytes: u64::MAX,
            max_clock_lead: i64::MIN,
            policy: Some(Policy {
                raw_keep,
                archive: None,
            }),
        }),
        identity: None,
    }
    .encode()
}

#[test]
fn out_of_range_fields_are_a_typed_error() {
    let dir = common::fast_tempdir();
    make_store(dir.path());
    let path = dir.path().join(STATE_FILE);
    let cases = [
        ("zero span", forged(0, vec![(10_000, 1)], 1)),
        ("negative span", forged(-60_000, vec![], 1)),
        ("huge span", forged(i64::MAX, vec![(10_000, 1)], 1)),
        ("span not whole seconds", forged(1_500, vec![], 1)),
        ("zero interval", forged(60_000, vec![(0, 1)], 1)),
        ("negative interval", forged(60_000, vec![(-10_000, 1)], 1)),
        (
            "piece overflows",
            forged(600_000, vec![(i64::MAX - 24, i64::MAX)], 1),
        ),
        ("negative keep", forged(60_000, vec![(10_000, -1)], -1)),
    ];
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        match Store::stored_config(dir.path()) {
            Err(e) => assert!(e.is_corruption(), "{what}: {e:?}"),
            Ok(c) => panic!("{what}: stored_config accepted it: {c:?}"),
        }
        let span = Store::created_window_span(dir.path());
        assert!(
            span.as_ref().is_err_and(Error::is_corruption),
            "{what}: {span:?}"
        );
        // The store's own opens refuse it too, with a typed error, never a panic.
        let clock = Arc::new(ManualClock::new(common::T0));
        match Store::open_read_only(dir.path(), common::config(&clock)) {
            Err(e) => assert!(e.is_corruption(), "{what}: read-only open: {e:?}"),
            Ok(_) => panic!("{what}: a read-only open accepted it"),
        }
        match Store::open(dir.path(), common::config(&clock)) {
            Err(e) => assert!(e.is_corruption(), "{what}: open: {e:?}"),
            Ok(_) => panic!("{what}: an open accepted it"),
        }
    }
}

#[test]
fn verify_names_the_state_file_repair_moved_aside() {
    let dir = common::fast_tempdir();
    let good = make_store(dir.path());
    let mut b = good.clone();
    let last = b.len() - 1;
    b[last] ^= 0x40;
    std::fs::write(dir.path().join(STATE_FILE), &b).unwrap();
    let clock = Arc::new(ManualClock::new(common::T0));
    let (store, _) = Store::repair(dir.path(), common::config(&clock)).unwrap();
    store.close().unwrap();
    assert!(dir.path().join("state.damaged").exists());
    let report = tierlog_tools::inspect::verify_dir(dir.path(), |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.corruption);
    let notes: Vec<&str> = report
        .notices
        .iter()
        .filter(|n| n.file.ends_with("state.damaged"))
        .map(|n| n.message.as_str())
        .collect();
    assert_eq!(notes.len(), 1, "{:?}", report.notices);
    assert!(notes[0].contains("damaged state file"), "{notes:?}");
    assert!(
        report
            .notices
            .iter()
            .all(|n| !n.message.contains("not a tierlog file")),
        "{:?}",
        report.notices
    );
}
