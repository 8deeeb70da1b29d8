//! Crash recovery of the framed logs (a window log and `index.log`): a torn tail (the last
//! frame cut short or failing its checksums, nothing valid after it) is truncated by a writer
//! open and reported; a bad frame followed by valid ones is damage, refused until repaired;
//! repair keeps every frame that validates; a read-only open changes no byte.

use tierlog_testkit::helpers as common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{FILE_HEADER_LEN, T0, frames, restore, sel, snapshot, wal_path};
use tierlog::layout::{INDEX_FILE, STATE_FILE};
use tierlog::logfile::Finding;
use tierlog::{Config, Corruption, Error, ManualClock, Sample, Store};

const BATCHES: usize = 5;

/// Batch `i`: one sample of `tt{s=i%2}` (one frame in the window log).
fn batch(i: usize) -> (String, i64, f64) {
    (
        (i % 2).to_string(),
        T0 + i as i64 * 1_000 + 7,
        i as f64 * 1.5 + 0.1,
    )
}

/// The points of the `tt` series after the batches `kept`.
fn expected(kept: impl IntoIterator<Item = usize>) -> BTreeMap<String, Vec<(i64, u64)>> {
    let mut out: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
    for i in kept {
        let (s, ts, v) = batch(i);
        out.entry(format!("tt{{s={s}}}"))
            .or_default()
            .push((ts - 7, v.to_bits()));
    }
    out
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(T0 + 10_000))
}

fn config() -> Config {
    common::config(&clock())
}

/// A store with `BATCHES` frames in the window log of window T0 and, in `index.log`:
/// Metric(tt), Series(tt s=0), Series(tt s=1), Metric(tt_extra), Series(tt_extra n=0),
/// Series(tt_extra n=1); the two `tt_extra` series have no samples.
fn setup(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let store = Store::open(dir, config()).unwrap();
    for i in 0..BATCHES {
        let (s, ts, v) = batch(i);
        let s = store
            .write(&[Sample::new("tt", &[("s", s.as_str())], ts, v)])
            .unwrap();
        assert_eq!(s.accepted, 1);
    }
    store.series_handle("tt_extra", &[("n", "0")]).unwrap();
    store.series_handle("tt_extra", &[("n", "1")]).unwrap();
    store.close().unwrap();
    let snap = snapshot(dir);
    assert_eq!(
        frames(&snap[&rel_wal()]).len(),
        BATCHES,
        "one frame per batch"
    );
    assert_eq!(frames(&snap[Path::new(INDEX_FILE)]).len(), 6);
    snap
}

fn rel_wal() -> PathBuf {
    wal_path(Path::new(""), T0)
}

fn data(store: &Store) -> BTreeMap<String, Vec<(i64, u64)>> {
    common::all_points(store, "tt")
}

fn extra_series(store: &Store) -> Vec<String> {
    store
        .series(&sel("tt_extra"))
        .into_iter()
        .map(|s| s.labels.to_kv_string())
        .collect()
}

fn torn_tails(store: &Store) -> Vec<(PathBuf, u64, u64)> {
    store
        .recovery_findings()
        .iter()
        .map(|f| match f {
            Finding::TornTail { file, offset, len } => (file.clone(), *offset, *len),
            other => panic!("unexpected finding {other}"),
        })
        .collect()
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

/// Opens read-only and checks that nothing in the directory changed.
fn read_only_changes_nothing(dir: &Path, ctx: &str) -> Store {
    let before = snapshot(dir);
    let ro = Store::open_read_only(dir, config())
        .unwrap_or_else(|e| panic!("{ctx}: read-only open failed: {e}"));
    // Queries and stats must not write either.
    let _ = data(&ro);
    let _ = ro.stats();
    assert!(
        snapshot(dir) == before,
        "{ctx}: a read-only open modified the store's files"
    );
    ro
}

#[test]
fn truncating_the_window_log_in_its_last_two_frames_is_a_torn_tail() {
    let dir = common::fast_tempdir();
    let pristine = setup(dir.path());
    let wal = wal_path(dir.path(), T0);
    let fr = frames(&pristine[&rel_wal()]);
    let total = pristine[&rel_wal()].len();
    let first = fr[BATCHES - 2].0;
    for cut in first..total {
        let ctx = format!("cut at {cut}");
        restore(dir.path(), &pristine);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&wal)
            .unwrap()
            .set_len(cut as u64)
            .unwrap();
        let complete = fr.iter().filter(|(o, l)| o + l <= cut).count();
        let boundary = fr[..complete]
            .last()
            .map_or(FILE_HEADER_LEN, |(o, l)| o + l);
        if cut % 7 == 0 {
            let ro = read_only_changes_nothing(dir.path(), &ctx);
            assert_eq!(data(&ro), expected(0..complete), "{ctx}: read-only");
        }
        let store =
            Store::open(dir.path(), config()).unwrap_or_else(|e| panic!("{ctx}: open: {e}"));
        assert_eq!(data(&store), expected(0..complete), "{ctx}");
        if cut == boundary {
            assert_eq!(
                torn_tails(&store),
                vec![],
                "{ctx}: a clean end is no finding"
            );
        } else {
            assert_eq!(
                torn_tails(&store),
                vec![(wal.clone(), boundary as u64, (cut - boundary) as u64)],
                "{ctx}"
            );
        }
        assert_eq!(file_len(&wal), boundary as u64, "{ctx}: not truncated");
        // The recovered log takes appends again, and they survive a reopen.
        store
            .write(&[Sample::new("tt", &[("s", "0")], T0 + 9_000, 42.0)])
            .unwrap();
        drop(store);
        let store = Store::open(dir.path(), config()).unwrap();
        assert_eq!(torn_tails(&store), vec![], "{ctx}: second open");
        let mut want = expected(0..complete);
        want.entry("tt{s=0}".into())
            .or_default()
            .push((T0 + 9_000, 42f64.to_bits()));
        assert_eq!(data(&store), want, "{ctx}: after a new append");
    }
}

#[test]
fn truncating_the_index_in_its_last_two_frames_is_a_torn_tail() {
    let dir = common::fast_tempdir();
    let pristine = setup(dir.path());
    let index = dir.path().join(INDEX_FILE);
    let bytes = &pristine[Path::new(INDEX_FILE)];
    let fr = frames(bytes);
    let first = fr[fr.len() - 2].0;
    for cut in first..bytes.len() {
        let ctx = format!("index cut at {cut}");
        restore(dir.path(), &pristine);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&index)
            .unwrap()
            .set_len(cut as u64)
            .unwrap();
        let complete = fr.iter().filter(|(o, l)| o + l <= cut).count();
        let boundary = fr[..complete]
            .last()
            .map_or(FILE_HEADER_LEN, |(o, l)| o + l);
        if cut % 5 == 0 {
            let ro = read_only_changes_nothing(dir.path(), &ctx);
            assert_eq!(data(&ro), expected(0..BATCHES), "{ctx}: read-only");
        }
        let store =
            Store::open(dir.path(), config()).unwrap_or_else(|e| panic!("{ctx}: open: {e}"));
        assert_eq!(data(&store), expected(0..BATCHES), "{ctx}");
        // Frames 4 and 5 define tt_extra{n=0} and {n=1}.
        let want: Vec<String> = ["n=0", "n=1"][..complete - 4]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(extra_series(&store), want, "{ctx}");
        if cut == boundary {
            assert_eq!(torn_tails(&store), vec![], "{ctx}");
        } else {
            assert_eq!(
                torn_tails(&store),
                vec![(index.clone(), boundary as u64, (cut - boundary) as u64)],
                "{ctx}"
            );
        }
        assert_eq!(file_len(&index), boundary as u64, "{ctx}: not truncated");
        // A series defined after recovery is found again after a reopen.
        store.series_handle("tt_extra", &[("n", "9")]).unwrap();
        drop(store);
        let store = Store::open(dir.path(), config()).unwrap();
        assert_eq!(torn_tails(&store), vec![], "{ctx}: second open");
        assert_eq!(extra_series(&store).last().unwrap(), "n=9", "{ctx}");
    }
}

/// Flips every bit of the last frame of `file` (relative path) in turn; each time a writer
/// open must drop exactly that frame as a torn tail.
fn flip_every_bit_of_last_frame(rel: &Path, check: impl Fn(&Store, &str)) {
    let dir = common::fast_tempdir();
    let pristine = setup(dir.path());
    let path = dir.path().join(rel);
    let fr = frames(&pristine[rel]);
    let (off, len) = *fr.last().unwrap();
    for bit in 0..len * 8 {
        let ctx = format!("{}: bit {bit} of the last frame", rel.display());
        restore(dir.path(), &pristine);
        let mut b = pristine[rel].clone();
        b[off + bit / 8] ^= 1 << (bit % 8);
        std::fs::write(&path, &b).unwrap();
        if bit % 13 == 0 {
            read_only_changes_nothing(dir.path(), &ctx);
        }
        let store =
            Store::open(dir.path(), config()).unwrap_or_else(|e| panic!("{ctx}: open: {e}"));
        assert_eq!(
            torn_tails(&store),
            vec![(path.clone(), off as u64, len as u64)],
            "{ctx}"
        );
        assert_eq!(file_len(&path), off as u64, "{ctx}: not truncated");
        check(&store, &ctx);
    }
}

#[test]
fn a_flipped_bit_in_the_last_frame_of_the_window_log_is_a_torn_tail() {
    flip_every_bit_of_last_frame(&rel_wal(), |store, ctx| {
        assert_eq!(data(store), expected(0..BATCHES - 1), "{ctx}");
    });
}

#[test]
fn a_flipped_bit_in_the_last_frame_of_the_index_is_a_torn_tail() {
    flip_every_bit_of_last_frame(Path::new(INDEX_FILE), |store, ctx| {
        assert_eq!(data(store), expected(0..BATCHES), "{ctx}");
        assert_eq!(extra_series(store), vec!["n=0".to_string()], "{ctx}");
    });
}

fn damaged(findings: &[Finding]) -> Vec<(PathBuf, u64, u64)> {
    findings
        .iter()
        .filter_map(|f| match f {
            Finding::Damaged {
                file,
                offset,
                lost_bytes,
                ..
            } => Some((file.clone(), *offset, *lost_bytes)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_flipped_bit_in_a_middle_frame_of_the_window_log_needs_repair() {
    let dir = common::fast_tempdir();
    let pristine = setup(dir.path());
    let wal = wal_path(dir.path(), T0);
    let fr = frames(&pristine[&rel_wal()]);
    let bad = 2;
    let (off, len) = fr[bad];
    let survivors = || (0..BATCHES).filter(|&i| i != bad);
    for bit in 0..len * 8 {
        let ctx = format!("bit {bit} of frame {bad}");
        restore(dir.path(), &pristine);
        let mut b = pristine[&rel_wal()].clone();
        b[off + bit / 8] ^= 1 << (bit % 8);
        std::fs::write(&wal, &b).unwrap();
        let damaged_bytes = snapshot(dir.path());

        match Store::open(dir.path(), config()) {
            Err(Error::NeedsRepair { file, offset, what }) => {
                assert_eq!(file, wal, "{ctx}");
                assert_eq!(offset, off as u64, "{ctx}");
                assert_eq!(
                    what,
                    Corruption::DamagedLog {
                        valid_frames_after: (BATCHES - bad - 1) as u64
                    },
                    "{ctx}"
                );
            }
            Err(e) => panic!("{ctx}: expected NeedsRepair, got {e}"),
            Ok(_) => panic!("{ctx}: a damaged log was opened for writing"),
        }
        assert!(
            snapshot(dir.path()) == damaged_bytes,
            "{ctx}: a refused open modified files"
        );

        // A reader serves every valid frame and changes nothing.
        let ro = read_only_changes_nothing(dir.path(), &ctx);
        assert_eq!(data(&ro), expected(survivors()), "{ctx}: read-only");
        assert_eq!(
            damaged(ro.recovery_findings()),
            vec![(wal.clone(), off as u64, len as u64)],
            "{ctx}: read-only findings"
        );
        drop(ro);

        let (store, findings) = if bit % 2 == 0 {
            Store::repair(dir.path(), config()).unwrap_or_else(|e| panic!("{ctx}: repair: {e}"))
        } else {
            let s = Store::open(
                dir.path(),
                Config {
                    salvage: true,
                    ..config()
                },
            )
            .unwrap_or_else(|e| panic!("{ctx}: salvage open: {e}"));
            let f = s.recovery_findings().to_vec();
            (s, f)
        };
        assert_eq!(
            damaged(&findings),
            vec![(wal.clone(), off as u64, len as u64)],
            "{ctx}: repair findings {findings:?}"
        );
        assert_eq!(data(&store), expected(survivors()), "{ctx}: after repair");
        assert_eq!(
            file_len(&wal),
            (pristine[&rel_wal()].len() - len) as u64,
            "{ctx}: repaired log should hold every valid frame"
        );
        drop(store);
        // Repaired for good: a plain open finds nothing and sees the same.
        let store = Store::open(dir.path(), config()).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert!(
            store.recovery_findings().is_empty(),
            "{ctx}: second open: {:?}",
            store.recovery_findings()
        );
        assert_eq!(data(&store), expected(survivors()), "{ctx}: second open");
    }
}

#[test]
fn a_damaged_series_record_in_the_middle_of_the_index_needs_repair() {
    let dir = common::fast_tempdir();
    let pristine = setup(dir.path());
    let index = dir.path().join(INDEX_FILE);
    let rel = Path::new(INDEX_FILE);
    let fr = frames(&pristine[rel]);
    // Frame 2 defines tt{s=1}, which has samples in the log.
    let (off, len) = fr[2];
    for bit in [0, 37, 8 * 12 + 3, len * 8 - 1] {
        let ctx = format!("bit {bit} of index frame 2");
        restore(dir.path(), &pristine);
        let mut b = pristine[rel].clone();
        b[off + bit / 8] ^= 1 << (bit % 8);
        std::fs::write(&index, &b).unwrap();
        match Store::open(dir.path(), config()) {
            Err(Error::NeedsRepair { file, offset, .. }) => {
                assert_eq!((file, offset), (index.clone(), off as u64), "{ctx}");
            }
            Err(e) => panic!("{ctx}: expected NeedsRepair, got {e}"),
            Ok(_) => panic!("{ctx}: a damaged index was opened for writing"),
        }
        let ro = read_only_changes_nothing(dir.path(), &ctx);
        assert_eq!(
            data(&ro),
            expected((0..BATCHES).filter(|i| i % 2 == 0)),
            "{ctx}: read-only"
        );
        drop(ro);
        let (store, findings) =
            Store::repair(dir.path(), config()).unwrap_or_else(|e| panic!("{ctx}: repair: {e}"));
        assert!(
            damaged(&findings).contains(&(index.clone(), off as u64, len as u64)),
            "{ctx}: {findings:?}"
        );
        // tt{s=1} is gone with its definition; everything else is kept.
        assert_eq!(
            data(&store),
            expected((0..BATCHES).filter(|i| i % 2 == 0)),
            "{ctx}"
        );
        assert_eq!(extra_series(&store), vec!["n=0", "n=1"], "{ctx}");
        // A series created now must not inherit the lost series' logged samples.
        store
            .write(&[Sample::new("tt", &[("s", "new")], T0 + 8_000, 1.0)])
            .unwrap();
        drop(store);
        let store = Store::open(dir.path(), config()).unwrap();
        assert_eq!(
            common::points(&store, r#"tt{s="new"}"#),
            vec![("tt{s=new}".to_string(), vec![(T0 + 8_000, 1f64.to_bits())])],
            "{ctx}"
        );
    }
}

#[test]
fn a_damaged_metric_record_in_the_middle_of_the_index_is_repairable() {
    // Frame 3 is Metric(tt_extra); the two series records after it name that metric. Repair
    // must still succeed and keep every frame that validates and can be applied: the `tt`
    // series (defined before the damage) with all their data.
    let dir = common::fast_tempdir();
    let pristine = setup(dir.path());
    let rel = Path::new(INDEX_FILE);
    let index = dir.path().join(rel);
    let fr = frames(&pristine[rel]);
    let (off, _) = fr[3];
    let mut b = pristine[rel].clone();
    b[off + 20] ^= 0x10;
    std::fs::write(&index, &b).unwrap();
    assert!(matches!(
        Store::open(dir.path(), config()),
        Err(Error::NeedsRepair { .. })
    ));
    let (store, findings) = Store::repair(dir.path(), config())
        .unwrap_or_else(|e| panic!("repair of a damaged metric record failed: {e}"));
    assert!(
        damaged(&findings)
            .iter()
            .any(|(f, o, _)| *f == index && *o == off as u64),
        "{findings:?}"
    );
    assert_eq!(data(&store), expected(0..BATCHES));
}

#[test]
fn a_series_id_lost_with_a_torn_index_tail_is_never_reused() {
    // Unrealistic after a crash (definitions are fsynced before samples naming them), but the
    // store must still never hand out the id of a series whose samples a log holds.
    let dir = common::fast_tempdir();
    let store = Store::open(dir.path(), config()).unwrap();
    store
        .write(&[
            Sample::new("lost", &[("s", "a")], T0, 1.0),
            Sample::new("lost", &[("s", "b")], T0, 2.0),
        ])
        .unwrap();
    store.close().unwrap();
    let index = dir.path().join(INDEX_FILE);
    let b = std::fs::read(&index).unwrap();
    let (last_off, _) = *frames(&b).last().unwrap();
    std::fs::write(&index, &b[..last_off + 5]).unwrap();

    let store = Store::open(dir.path(), config()).unwrap();
    let f = store.recovery_findings();
    assert!(
        f.iter()
            .any(|f| matches!(f, Finding::TornTail { file, .. } if *file == index)),
        "{f:?}"
    );
    assert!(
        f.iter().any(|f| matches!(f, Finding::Damaged { .. })),
        "samples of a lost series must be reported: {f:?}"
    );
    assert_eq!(
        common::points(&store, "lost"),
        vec![("lost{s=a}".to_string(), vec![(T0, 1f64.to_bits())])]
    );
    let c = store.series_handle("lost", &[("s", "c")]).unwrap();
    assert_ne!(c.0, 1, "the lost series' id was handed out again");
    store
        .write(&[Sample::new("lost", &[("s", "c")], T0 + 1_000, 3.0)])
        .unwrap();
    drop(store);
    let store = Store::open(dir.path(), config()).unwrap();
    assert_eq!(
        common::points(&store, r#"lost{s="c"}"#),
        vec![("lost{s=c}".to_string(), vec![(T0 + 1_000, 3f64.to_bits())])]
    );
}

#[test]
fn a_zero_filled_or_garbage_tail_is_torn() {
    let dir = common::fast_tempdir();
    let pristine = setup(dir.path());
    let wal = wal_path(dir.path(), T0);
    let clean_len = pristine[&rel_wal()].len() as u64;
    let mut rng = common::SplitMix64(0x70_7a11);
    let garbage: Vec<u8> = (0..3000).map(|_| rng.next_u64() as u8).collect();
    for (what, tail) in [
        ("zeros", vec![0u8; 4096]),
        ("garbage", garbage),
        ("a lone frame header", vec![0xff; 12]),
    ] {
        restore(dir.path(), &pristine);
        let mut b = pristine[&rel_wal()].clone();
        b.extend_from_slice(&tail);
        std::fs::write(&wal, &b).unwrap();
        let store = Store::open(dir.path(), config()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            torn_tails(&store),
            vec![(wal.clone(), clean_len, tail.len() as u64)],
            "{what}"
        );
        assert_eq!(file_len(&wal), clean_len, "{what}");
        assert_eq!(data(&store), expected(0..BATCHES), "{what}");
    }
}

#[test]
fn damage_to_the_first_frame_or_across_frames_is_repaired() {
    let dir = common::fast_tempdir();
    let pristine = setup(dir.path());
    let wal = wal_path(dir.path(), T0);
    let fr = frames(&pristine[&rel_wal()]);
    // (what, byte range zeroed, batches that survive)
    let cases: Vec<(&str, std::ops::Range<usize>, Vec<usize>)> = vec![
        (
            "first frame's length",
            fr[0].0..fr[0].0 + 1,
            vec![1, 2, 3, 4],
        ),
        (
            "first frame's payload",
            fr[0].0 + 20..fr[0].0 + 21,
            vec![1, 2, 3, 4],
        ),
        (
            "end of frame 1 and start of frame 2",
            fr[2].0 - 3..fr[2].0 + 3,
            vec![0, 3, 4],
        ),
        ("frames 1 to 3", fr[1].0..fr[3].0 + fr[3].1, vec![0, 4]),
    ];
    for (what, range, kept) in cases {
        restore(dir.path(), &pristine);
        let mut b = pristine[&rel_wal()].clone();
        for x in &mut b[range.clone()] {
            *x ^= 0xa5;
        }
        std::fs::write(&wal, &b).unwrap();
        assert!(
            matches!(
                Store::open(dir.path(), config()),
                Err(Error::NeedsRepair { .. })
            ),
            "{what}"
        );
        let ro = read_only_changes_nothing(dir.path(), what);
        assert_eq!(
            data(&ro),
            expected(kept.iter().copied()),
            "{what}: read-only"
        );
        drop(ro);
        let (store, findings) =
            Store::repair(dir.path(), config()).unwrap_or_else(|e| panic!("{what}: {e}"));
        let d = damaged(&findings);
        assert_eq!(d.len(), 1, "{what}: {findings:?}");
        let lost: usize = (0..BATCHES)
            .filter(|i| !kept.contains(i))
            .map(|i| fr[i].1)
            .sum();
        assert_eq!(
            d[0],
            (wal.clone(), fr[kept_first_gap(&kept)].0 as u64, lost as u64),
            "{what}"
        );
        assert_eq!(data(&store), expected(kept.iter().copied()), "{what}");
    }
}

/// The first batch missing from `kept` (where the damage starts).
fn kept_first_gap(kept: &[usize]) -> usize {
    (0..BATCHES).find(|i| !kept.contains(i)).unwrap()
}

#[test]
fn crash_artifacts_are_cleaned_by_a_writer_and_left_alone_by_a_reader() {
    let dir = common::fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0 + 10_000));
    let store = common::open(dir.path(), &clock);
    store
        .write(&[
            Sample::new("art", &[], T0 + 1_000, 1.0),
            Sample::new("art", &[], T0 + 1_500, 2.0),
        ])
        .unwrap();
    store.close().unwrap();
    let wal = wal_path(dir.path(), T0);
    let wal_bytes = std::fs::read(&wal).unwrap();
    // Seal window T0, then put its log back: a crash between the segment's rename and the
    // log's removal.
    clock.set(T0 + 900_001);
    let store = common::open(dir.path(), &clock);
    assert_eq!(store.maintain().unwrap().sealed_windows, vec![T0]);
    store.close().unwrap();
    assert!(!wal.exists());
    std::fs::write(&wal, &wal_bytes).unwrap();
    // Interrupted atomic writes.
    let mut seg_tmp = common::seg_path(dir.path(), T0 + 600_000).into_os_string();
    seg_tmp.push(".tmp");
    let seg_tmp = PathBuf::from(seg_tmp);
    std::fs::write(&seg_tmp, b"TLOGSEG1 half a segment").unwrap();
    let state_tmp = dir.path().join(format!("{STATE_FILE}.tmp"));
    std::fs::write(&state_tmp, b"TLOGSTA1").unwrap();

    let want = vec![(T0 + 1_000, 1.5f64.to_bits())];
    let before = snapshot(dir.path());
    let ro = Store::open_read_only(dir.path(), config()).unwrap();
    assert_eq!(
        data_of(&ro, "art"),
        want,
        "read-only: segment and stale log counted twice?"
    );
    assert_eq!(
        ro.stats().tiers[0].open.segments,
        0,
        "the stale log is not an open window"
    );
    drop(ro);
    assert!(
        snapshot(dir.path()) == before,
        "a read-only open changed files"
    );

    let store = common::open(dir.path(), &clock);
    assert_eq!(data_of(&store, "art"), want);
    assert!(
        !wal.exists(),
        "the stale log of a sealed window should be removed"
    );
    assert!(
        !seg_tmp.exists() && !state_tmp.exists(),
        "temporary files should be removed"
    );
    // Older than every tier keeps: refused.
    let s = store
        .write(&[Sample::new(
            "art",
            &[],
            tierlog::Clock::now_ms(&*clock) - 200 * 86_400_000,
            3.0,
        )])
        .unwrap();
    assert_eq!(s.rejected_too_old, 1);
    drop(store);
    let store = common::open(dir.path(), &clock);
    assert_eq!(data_of(&store, "art"), want);
}

fn data_of(store: &Store, metric: &str) -> Vec<(i64, u64)> {
    common::all_points(store, metric)
        .into_values()
        .next()
        .unwrap_or_default()
}

#[test]
fn a_log_without_a_complete_header_is_removed_and_reported() {
    for (what, bytes) in [
        ("empty", &b""[..]),
        ("half a header", &b"TLOGWAL1\x01\x00"[..]),
    ] {
        let dir = common::fast_tempdir();
        setup(dir.path());
        let stub = wal_path(dir.path(), T0 + 600_000);
        std::fs::write(&stub, bytes).unwrap();
        let ro = read_only_changes_nothing(dir.path(), what);
        assert_eq!(data(&ro), expected(0..BATCHES), "{what}: read-only");
        drop(ro);
        let store = Store::open(dir.path(), config()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(data(&store), expected(0..BATCHES), "{what}");
        assert!(!stub.exists(), "{what}: the stub log should be removed");
        assert!(
            store
                .recovery_findings()
                .iter()
                .any(|f| matches!(f, Finding::EmptyRemoved { file } if *file == stub)),
            "{what}: the removal should be reported in recovery_findings, got {:?}",
            store.recovery_findings()
        );
    }
}
