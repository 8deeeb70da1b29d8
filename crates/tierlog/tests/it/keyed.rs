//! Keyed writes (`Store::write_keyed`): a write sent again with its key is applied once per
//! window, after a power loss at any point of the first attempt too, and in late logs.

use tierlog_testkit::helpers as common;

use std::collections::BTreeMap;
use std::sync::Arc;

use tierlog::vfs::FaultFs;
use tierlog::{Config, Limits, ManualClock, Sample, Selector, Store, WriteKey};

use common::{fault_config as config, store_contents as contents};

/// A whole minute: the fault config's windows are 60 s, with 30 s of grace.
const T0: i64 = 1_700_000_040_000;
const KEY: WriteKey = WriteKey(*b"0123456789abcdef");

/// Samples of series `s` = a, b, c across two windows, several in some seconds (their
/// point is their mean, so a sample written twice would show).
fn batch() -> Vec<(&'static str, i64, f64)> {
    let mut v = Vec::new();
    for (i, s) in ["a", "b", "c"].into_iter().enumerate() {
        let base = i as f64 * 10.0;
        v.push((s, T0 + 58_100, base + 1.0));
        v.push((s, T0 + 58_600, base + 2.0));
        v.push((s, T0 + 59_300, base + 4.0));
        v.push((s, T0 + 60_200, base + 8.0));
        v.push((s, T0 + 60_700, base + 16.5));
    }
    v
}

fn samples<'a>(
    b: &'a [(&'static str, i64, f64)],
    labels: &'a [[(&'static str, &'static str); 1]],
) -> Vec<Sample<'a>> {
    b.iter()
        .zip(labels)
        .map(|(&(_, t, v), l)| Sample::new("m", l, t, v))
        .collect()
}

fn labels(b: &[(&'static str, i64, f64)]) -> Vec<[(&'static str, &'static str); 1]> {
    b.iter().map(|&(s, _, _)| [("s", s)]).collect()
}

/// The points the batch makes when each sample is written once: per series and second,
/// the sum of its samples in order over their count.
fn expected(b: &[(&'static str, i64, f64)]) -> BTreeMap<(String, i64), f64> {
    let mut acc: BTreeMap<(String, i64), (f64, u32)> = BTreeMap::new();
    for &(s, t, v) in b {
        let e = acc
            .entry((s.to_owned(), t / 1000 * 1000))
            .or_insert((0.0, 0));
        e.0 = if e.1 == 0 { v } else { e.0 + v };
        e.1 += 1;
    }
    acc.into_iter()
        .map(|(k, (sum, n))| (k, sum / f64::from(n)))
        .collect()
}

/// A store of one-minute windows on `clock`.
fn minute_windows(clock: &Arc<ManualClock>) -> Config {
    Config::default()
        .with_clock(clock.clone())
        .with_window_span(std::time::Duration::from_secs(60))
}

#[test]
fn a_keyed_write_sent_again_changes_nothing_and_the_key_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 61_000));
    let cfg = || minute_windows(&clock);
    let b = batch();
    let l = labels(&b);
    let s = samples(&b, &l);
    let store = Store::open(dir.path(), cfg()).unwrap();
    let first = store.write_keyed(KEY, &s).unwrap();
    assert_eq!((first.accepted, first.repeated), (15, 0));
    let again = store.write_keyed(KEY, &s).unwrap();
    assert_eq!((again.accepted, again.repeated), (0, 15));
    assert_eq!(store.stats().rejections.repeated, 15);
    store.close().unwrap();
    // The keys are replayed from the window logs.
    let store = Store::open(dir.path(), cfg()).unwrap();
    let third = store.write_keyed(KEY, &s).unwrap();
    assert_eq!((third.accepted, third.repeated), (0, 15));
    let want = expected(&b);
    assert_eq!(contents(&store), want);
    // Another key is another write: its samples join their seconds again.
    let other = store
        .write_keyed(WriteKey(*b"fedcba9876543210"), &s[..1])
        .unwrap();
    assert_eq!((other.accepted, other.repeated), (1, 0));
    let got = contents(&store);
    assert_eq!(got[&("a".to_owned(), T0 + 58_000)], (1.0 + 2.0 + 1.0) / 3.0);
    // So does an unkeyed write.
    store.write(&s[..1]).unwrap();
    assert_eq!(
        contents(&store)[&("a".to_owned(), T0 + 58_000)],
        (1.0 + 2.0 + 1.0 + 1.0) / 4.0
    );
}

#[test]
fn a_keyed_write_retried_after_power_loss_at_every_operation_is_written_once() {
    let b = batch();
    let l = labels(&b);
    let s = samples(&b, &l);
    let want = expected(&b);
    let attempt = |fs: &FaultFs, clock: &Arc<ManualClock>| -> bool {
        let Ok(store) = Store::open("/db", config(fs, clock)) else {
            return false;
        };
        // Something unkeyed first, so that the keyed write is not the store's first.
        if store
            .write(&[Sample::new("m", &[("s", "z")], T0 + 1_000, 1.0)])
            .is_err()
        {
            return false;
        }
        let ok = store.write_keyed(KEY, &s).is_ok();
        let _ = store.close();
        ok
    };
    let clock = Arc::new(ManualClock::new(T0 + 61_000));
    let fs = FaultFs::new();
    assert!(attempt(&fs, &clock));
    let total = fs.ops();
    let (mut whole, mut part, mut none) = (0, 0, 0);
    for (n, torn) in (1..=total + 1).flat_map(|n| [(n, false), (n, true)]) {
        let fs = FaultFs::new();
        fs.crash_at(n);
        fs.set_torn_power_loss(torn.then_some(n));
        let acked = attempt(&fs, &clock);
        let after = fs.survivor().unwrap_or_else(|| fs.power_loss());
        let store = Store::open("/db", config(&after, &clock))
            .unwrap_or_else(|e| panic!("crash before op {n} (torn {torn}): reopen: {e}"));
        // The sender did not hear back (or did): it sends the write again.
        let retry = store.write_keyed(KEY, &s).unwrap();
        assert_eq!(
            retry.accepted + retry.repeated,
            15,
            "crash before op {n} (torn {torn})"
        );
        if acked {
            assert_eq!(retry.repeated, 15, "crash before op {n}: acknowledged");
        }
        match retry.repeated {
            15 => whole += 1,
            0 => none += 1,
            _ => part += 1,
        }
        let mut got = contents(&store);
        got.remove(&("z".to_owned(), T0 + 1_000));
        assert_eq!(got, want, "crash before op {n} (torn {torn})");
        store.close().unwrap();
    }
    // The crash points cover a first attempt lost, kept whole, and kept in one window only.
    assert!(whole > 0 && none > 0, "{whole} whole, {none} lost");
    assert!(part > 0, "no crash kept one window's part alone");
    eprintln!("{total} crash points: retry found {whole} whole, {part} in part, {none} lost");
}

#[test]
fn late_logs_remember_keys_until_their_merge() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000));
    let cfg = || minute_windows(&clock).with_grace(std::time::Duration::from_secs(30));
    let store = Store::open(dir.path(), cfg()).unwrap();
    store
        .write(&[Sample::new("m", &[("s", "a")], T0 + 1_000, 1.0)])
        .unwrap();
    // Past the window and its grace: sealed.
    clock.set(T0 + 120_000);
    store.maintain().unwrap();
    let late = [Sample::new("m", &[("s", "a")], T0 + 1_500, 2.0)];
    let first = store.write_keyed(KEY, &late).unwrap();
    assert_eq!((first.accepted, first.late, first.repeated), (1, 1, 0));
    assert_eq!(store.write_keyed(KEY, &late).unwrap().repeated, 1);
    store.close().unwrap();
    let store = Store::open(dir.path(), cfg()).unwrap();
    assert_eq!(store.write_keyed(KEY, &late).unwrap().repeated, 1);
    let r = store
        .query(&Selector::metric("m"), T0, T0 + 60_000)
        .unwrap();
    assert_eq!(r.series[0].points, [(T0 + 1_000, 1.5)]);
    // Merged into the window's segment, the log and its keys are gone (documented): the
    // same key is a new write there.
    store.maintain().unwrap();
    assert_eq!(store.write_keyed(KEY, &late).unwrap().repeated, 0);
}

#[test]
fn a_keyed_write_refused_in_part_for_a_full_head_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000));
    // Room for two points.
    let limits = Limits {
        max_head_bytes: 40,
        ..Limits::default()
    };
    let store = Store::open(
        dir.path(),
        Config::default()
            .with_clock(clock.clone())
            .with_limits(limits),
    )
    .unwrap();
    let l = [[("s", "a")], [("s", "b")], [("s", "c")]];
    let s: Vec<Sample> = l
        .iter()
        .map(|l| Sample::new("m", l, T0 + 1_000, 1.0))
        .collect();
    // Were two written, the retry would skip the window and lose the third for good.
    let keyed = store.write_keyed(KEY, &s).unwrap();
    assert_eq!((keyed.accepted, keyed.rejected_head_full), (0, 3));
    assert!(contents(&store).is_empty());
    // An unkeyed write takes what fits.
    let plain = store.write(&s).unwrap();
    assert_eq!((plain.accepted, plain.rejected_head_full), (2, 1));
}

#[test]
fn window_logs_of_version_1_are_replayed_as_before() {
    use tierlog::format::header::{FileKind, HEADER_LEN, Header};
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 61_000));
    let cfg = || minute_windows(&clock);
    let b = batch();
    let l = labels(&b);
    let s = samples(&b, &l);
    let store = Store::open(dir.path(), cfg()).unwrap();
    store.write(&s).unwrap();
    store.close().unwrap();
    // The logs as a build before keyed records wrote them: the same frames under a
    // version 1 header.
    let mut logs = 0;
    for e in std::fs::read_dir(dir.path().join("raw")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "wal") {
            continue;
        }
        let mut bytes = std::fs::read(&p).unwrap();
        let mut h = Header::decode(&bytes, FileKind::WindowLog).unwrap();
        assert_eq!(h.version, 2);
        h.version = 1;
        bytes[..HEADER_LEN].copy_from_slice(&h.encode());
        std::fs::write(&p, bytes).unwrap();
        logs += 1;
    }
    assert_eq!(logs, 2);
    let store = Store::open(dir.path(), cfg()).unwrap();
    assert_eq!(contents(&store), expected(&b));
    // A keyed write goes on in such a log.
    assert_eq!(store.write_keyed(KEY, &s[..1]).unwrap().accepted, 1);
    assert_eq!(store.write_keyed(KEY, &s[..1]).unwrap().repeated, 1);
}

#[test]
fn a_window_being_sealed_still_knows_its_keys() {
    use tierlog::vfs::{Fault, OpKind};
    let fs = FaultFs::new();
    let clock = Arc::new(ManualClock::new(T0 + 1_000));
    let store = Store::open("/db", config(&fs, &clock)).unwrap();
    let l = [[("s", "a")], [("s", "a")]];
    let s = [
        Sample::new("m", &l[0], T0 + 1_000, 1.0),
        Sample::new("m", &l[1], T0 + 1_500, 2.0),
    ];
    assert_eq!(store.write_keyed(KEY, &s).unwrap().accepted, 2);
    // Past the window and its grace, the seal fails to put its segment in place: the window
    // stays frozen (being sealed), its log kept.
    clock.set(T0 + 95_000);
    fs.fail_always(Some(OpKind::Rename), Fault::Eio);
    assert!(store.maintain().is_err());
    fs.clear_faults();
    // Sent again meanwhile: its samples would go to the window's late log, but the frozen
    // window's log holds the key.
    let again = store.write_keyed(KEY, &s).unwrap();
    assert_eq!((again.accepted, again.repeated), (0, 2), "{again:?}");
    store.maintain().unwrap();
    assert_eq!(
        contents(&store),
        BTreeMap::from([(("a".to_owned(), T0 + 1_000), 1.5)])
    );
}
