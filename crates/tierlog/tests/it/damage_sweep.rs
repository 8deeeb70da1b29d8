//! Damage sweep: every file type of a small real store (window log, raw segment, the `10s` and
//! `60s` rollup segments, `index.log`, `state`) is damaged in every way a disk can damage it,
//! one damage at a time:
//!
//! - **truncation** at every byte offset (the files are small, so "every offset of the last
//!   records" is every offset of the file): a writer open (recovery) must succeed or refuse
//!   with an error, never panic;
//! - **every single-bit flip**: `verify_dir` must report the damaged file (as corruption, or
//!   for the last frame of a log as a torn tail, which is what a crash leaves) with an offset
//!   inside the file — every byte of every file is covered by a checksum (format-spec README),
//!   so the expected detection rate is 100 % of all bits, with no uncovered range;
//! - **a zeroed 4 KiB page** at several positions of a larger store's files: same checks.
//!
//! After every damage, whatever opens must answer queries with a subset of the original data:
//! raw points and rollup buckets may be missing, never altered (bit-identical values), and no
//! series appears that was not written.
//!
//! Counts are printed (`cargo test --release --test damage_sweep -- --nocapture`).
//! `TIERLOG_DAMAGE_WIDE=1` widens the run (more series and points, so larger files and more
//! flips; every page position of the larger store) for a long run by hand.

use tierlog_testkit::helpers as common;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use common::{T0, copy_dir, restore, snapshot};
use tierlog::layout::{
    INDEX_FILE, LOCK_FILE, RAW_DIR, SEGMENT_EXT, STATE_FILE, WINDOW_LOG_EXT, window_file_name,
};
use tierlog::{Config, Error, ManualClock, Sample, Store};
use tierlog_tools::inspect::verify_dir;

const SPAN_MS: i64 = 600_000;
const TIERS: [&str; 2] = ["10s", "60s"];
const PAGE: usize = 4096;

fn wide() -> bool {
    std::env::var_os("TIERLOG_DAMAGE_WIDE").is_some_and(|v| v != "0")
}

/// The clock at and after which everything of window T0 is sealed and rolled up.
const LATER: i64 = T0 + SPAN_MS + 360_000;

fn config() -> Config {
    let clock = Arc::new(ManualClock::new(LATER));
    common::config(&clock)
}

/// A value of series `s` at second `i`: mostly two-decimal gauges, now and then a value
/// that no decimal codec can shorten, -0.0 or a NaN with a payload.
fn value(s: usize, i: i64) -> f64 {
    match (i + s as i64) % 17 {
        3 => -0.0,
        7 => f64::from_bits(0x7ff8_0000_dead_0000 | i as u64),
        11 => (i as f64).sqrt() * std::f64::consts::PI,
        _ => (i * 37 % 1000) as f64 / 100.0 + s as f64,
    }
}

/// Builds the store: `series` series with a point every `every_s` seconds through window T0
/// (sealed to a raw segment and rolled up into both tiers) and `open_points` points, one
/// batch each, in window T0+10m (left in its window log).
fn build(dir: &Path, series: usize, every_s: i64, open_points: i64) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir, common::config(&clock)).unwrap();
    let names: Vec<(String, String)> = (0..series)
        .map(|s| (format!("dmg_{}", s % 2), s.to_string()))
        .collect();
    let mut t = 0;
    while t < SPAN_MS / 1000 {
        let ts = T0 + t * 1000;
        clock.set(ts + 500);
        let labels: Vec<[(&str, &str); 1]> =
            names.iter().map(|(_, n)| [("n", n.as_str())]).collect();
        let batch: Vec<Sample<'_>> = (0..series)
            .map(|s| Sample::new(&names[s].0, &labels[s], ts + 250, value(s, t)))
            .collect();
        assert_eq!(store.write(&batch).unwrap().accepted, series as u64);
        t += every_s;
    }
    for i in 0..open_points {
        let ts = T0 + SPAN_MS + i * 7_000;
        clock.set(ts + 500);
        let s = i as usize % series;
        let labels = [("n", names[s].1.as_str())];
        let w = store
            .write(&[Sample::new(&names[s].0, &labels, ts, value(s, i))])
            .unwrap();
        assert_eq!(w.accepted, 1);
    }
    clock.set(LATER);
    store.maintain().unwrap();
    store.close().unwrap();
    let _ = std::fs::remove_file(dir.join(LOCK_FILE));
}

/// Builds the store as [`build`] does, then puts the log of window T0 back beside its
/// segment: what a crash between recording the window as sealed and removing its log
/// leaves.
fn build_with_log_beside_segment(dir: &Path) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir, common::config(&clock)).unwrap();
    for t in (0..SPAN_MS / 1000).step_by(30) {
        let ts = T0 + t * 1000;
        clock.set(ts + 500);
        let labels = [[("n", "0")], [("n", "1")]];
        let batch: Vec<Sample<'_>> = (0..2)
            .map(|s| Sample::new("dmg_0", &labels[s], ts, value(s, t)))
            .collect();
        store.write(&batch).unwrap();
    }
    store.close().unwrap();
    let wal = common::wal_path(dir, T0);
    let log = std::fs::read(&wal).unwrap();
    let clock = Arc::new(ManualClock::new(LATER));
    let store = Store::open(dir, common::config(&clock)).unwrap();
    store.maintain().unwrap();
    store.close().unwrap();
    assert!(!wal.exists() && common::seg_path(dir, T0).exists());
    std::fs::write(&wal, log).unwrap();
    let _ = std::fs::remove_file(dir.join(LOCK_FILE));
}

/// One bucket as bits: (t, count, nan_count, min, max, sum, first, last, p95, increase).
type Row = [u64; 10];

/// Everything a store answers: raw points and every tier's buckets, keyed by series.
#[derive(Debug, Default, Clone, PartialEq)]
struct Answer {
    raw: BTreeMap<String, Vec<(i64, u64)>>,
    tiers: BTreeMap<(String, String), Vec<Row>>,
    warnings: usize,
}

fn answer(store: &Store) -> tierlog::Result<Answer> {
    let sel = common::sel("{__name__=~\".+\"}");
    let mut a = Answer::default();
    let r = store.query(&sel, i64::MIN, i64::MAX)?;
    a.warnings += r.warnings.len();
    for s in r.series {
        let key = format!("{}{{{}}}", s.metric, s.labels.to_kv_string());
        let pts = s.points.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert!(a.raw.insert(key, pts).is_none());
    }
    for tier in TIERS {
        let r = store.query_tier(&sel, i64::MIN, i64::MAX, tier)?;
        a.warnings += r.warnings.len();
        for s in r.series {
            let key = format!("{}{{{}}}", s.metric, s.labels.to_kv_string());
            let rows = s.points.iter().map(common::bucket_bits).collect();
            a.tiers.insert((tier.to_string(), key), rows);
        }
    }
    Ok(a)
}

/// Panics unless `got` is a subset of `orig`, value for value; returns whether it is all of it.
fn assert_subset(got: &Answer, orig: &Answer, ctx: &str) -> bool {
    let mut complete = got.raw.len() == orig.raw.len() && got.tiers.len() == orig.tiers.len();
    for (k, pts) in &got.raw {
        let Some(want) = orig.raw.get(k) else {
            panic!("{ctx}: series {k} was never written");
        };
        for p in pts {
            assert!(
                want.binary_search(p).is_ok(),
                "{ctx}: {k}: point {p:?} (value {}) is not an original point",
                f64::from_bits(p.1)
            );
        }
        complete &= pts.len() == want.len();
    }
    for (k, rows) in &got.tiers {
        let Some(want) = orig.tiers.get(k) else {
            panic!("{ctx}: tier series {k:?} was never written");
        };
        for r in rows {
            assert!(
                want.contains(r),
                "{ctx}: {k:?}: bucket {r:?} is not an original bucket"
            );
        }
        complete &= rows.len() == want.len();
    }
    complete
}

/// What happened when a damaged store was opened and queried.
#[derive(Debug, Default, Clone)]
struct Tally {
    tried: u64,
    /// verify_dir reported the damaged file as corruption.
    corrupt: u64,
    /// verify_dir reported the damaged file as a torn log tail (a crash artifact).
    torn: u64,
    /// Damage that verify_dir did not report (each listed in `missed`).
    missed: Vec<String>,
    /// Opens that refused the store with an error, by variant.
    refused: BTreeMap<String, u64>,
    /// Opens whose queries returned less than the original (never anything different).
    partial: u64,
    /// Opens whose queries returned everything.
    complete: u64,
    /// Writer opens refused with `NeedsRepair` and then repaired.
    repaired: u64,
    /// Damage reported at an offset at or before its last damaged byte.
    located: u64,
    /// The others.
    unlocated: Vec<String>,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.tried += o.tried;
        self.corrupt += o.corrupt;
        self.torn += o.torn;
        self.missed.extend(o.missed.iter().cloned());
        for (k, v) in &o.refused {
            *self.refused.entry(k.clone()).or_default() += v;
        }
        self.partial += o.partial;
        self.complete += o.complete;
        self.repaired += o.repaired;
        self.located += o.located;
        self.unlocated.extend(o.unlocated.iter().cloned());
    }

    fn detected(&self) -> u64 {
        self.corrupt + self.torn
    }
}

fn variant(e: &Error) -> String {
    let d = format!("{e:?}");
    let end = d.find([' ', '(', '{']).unwrap_or(d.len());
    d[..end].to_string()
}

/// Opens the damaged store (as the writer when `writer`, else read-only), queries it and
/// checks the answer against `orig`. Panics inside the store are caught and reported with
/// `ctx`.
///
/// A writer open refused with `NeedsRepair` is followed by `Store::repair`, whose store is
/// checked the same way.
///
/// Points may go missing silently only where `silent_ok`: a log cut at a frame boundary or
/// shorter than its header looks exactly like a log a crash left, with nothing to report.
fn open_and_check(
    dir: &Path,
    mode: Mode,
    silent_ok: bool,
    orig: &Answer,
    ctx: &str,
    t: &mut Tally,
) {
    let run = || -> tierlog::Result<Answer> {
        let (store, findings) = match mode {
            Mode::Writer => (Store::open(dir, config())?, 0),
            Mode::ReadOnly => (Store::open_read_only(dir, config())?, 0),
            Mode::Repair => {
                let (s, f) = Store::repair(dir, config())?;
                (s, f.len())
            }
        };
        let mut a = answer(&store)?;
        a.warnings += store.recovery_findings().len() + findings;
        if mode != Mode::ReadOnly {
            // A series created after the damage gets an id of its own: it must not inherit
            // the points of a series whose definition the damage took away.
            let ts = LATER - 1000;
            store.write(&[Sample::new("dmg_new", &[], ts, 42.5)])?;
            let r = store.query(&common::sel("dmg_new"), i64::MIN, i64::MAX)?;
            let got: Vec<Vec<(i64, u64)>> = r
                .series
                .iter()
                .map(|s| s.points.iter().map(|&(t, v)| (t, v.to_bits())).collect())
                .collect();
            assert_eq!(
                got,
                vec![vec![(ts, 42.5f64.to_bits())]],
                "{ctx} ({mode:?}): a new series after the damage"
            );
            store.close()?;
        }
        Ok(a)
    };
    let result = std::panic::catch_unwind(AssertUnwindSafe(run));
    let _ = std::fs::remove_file(dir.join(LOCK_FILE));
    match result {
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{ctx} ({mode:?}): the store panicked: {msg}");
        }
        Ok(Err(e)) => {
            *t.refused.entry(variant(&e)).or_default() += 1;
            if mode == Mode::Writer && matches!(e, Error::NeedsRepair { .. }) {
                open_and_check(dir, Mode::Repair, silent_ok, orig, ctx, t);
                t.repaired += 1;
            }
        }
        Ok(Ok(a)) => {
            if assert_subset(&a, orig, &format!("{ctx} ({mode:?})")) {
                t.complete += 1;
            } else {
                assert!(
                    silent_ok || a.warnings > 0,
                    "{ctx} ({mode:?}): data missing without a warning or a recovery finding"
                );
                t.partial += 1;
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    ReadOnly,
    Writer,
    Repair,
}

/// Runs verify_dir and records whether it named `file`, with an offset inside it, and
/// whether that offset is at or before `at`, the last damaged byte (it names the start of
/// the damaged frame, chunk, footer or trailer, or the first damaged structure read).
fn check_verify(dir: &Path, file: &Path, len: usize, at: usize, ctx: &str, t: &mut Tally) {
    let r = verify_dir(dir, |_| {}).unwrap_or_else(|e| panic!("{ctx}: verify failed: {e}"));
    let hit =
        |p: &tierlog_tools::inspect::Problem| p.file == file && (p.offset as usize) <= len.max(1);
    if r.corruption
        .iter()
        .chain(&r.notices)
        .any(|p| hit(p) && p.offset as usize <= at)
    {
        t.located += 1;
    } else {
        t.unlocated.push(format!(
            "{ctx}: {:?}",
            r.corruption.iter().chain(&r.notices).collect::<Vec<_>>()
        ));
    }
    if r.corruption.iter().any(hit) {
        t.corrupt += 1;
    } else if r
        .notices
        .iter()
        .any(|p| hit(p) && (p.message.contains("torn tail") || p.message.contains("header")))
    {
        t.torn += 1;
    } else {
        t.missed.push(format!(
            "{ctx}: verify reported {:?} / {:?}",
            r.corruption, r.notices
        ));
    }
}

/// The damaged files: (label, path relative to the store).
fn files(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let seg = window_file_name(T0, SEGMENT_EXT);
    let wal = window_file_name(T0 + SPAN_MS, WINDOW_LOG_EXT);
    let out = vec![
        ("window log", PathBuf::from(RAW_DIR).join(wal)),
        ("raw segment", PathBuf::from(RAW_DIR).join(&seg)),
        ("rollup segment 10s", PathBuf::from("10s").join(&seg)),
        ("rollup segment 60s", PathBuf::from("60s").join(&seg)),
        ("index.log", PathBuf::from(INDEX_FILE)),
        ("state", PathBuf::from(STATE_FILE)),
    ];
    for (_, rel) in &out {
        assert!(dir.join(rel).is_file(), "{} missing", rel.display());
    }
    out
}

/// A pristine store and what it answers.
fn pristine(series: usize, every_s: i64, open_points: i64) -> (tempfile::TempDir, Answer) {
    let dir = common::fast_tempdir();
    build(dir.path(), series, every_s, open_points);
    let v = verify_dir(dir.path(), |_| {}).unwrap();
    assert!(v.is_clean() && v.notices.is_empty(), "{v:?}");
    let ro = Store::open_read_only(dir.path(), config()).unwrap();
    let orig = answer(&ro).unwrap();
    drop(ro);
    assert_eq!(orig.warnings, 0);
    assert_eq!(orig.raw.len(), series);
    assert_eq!(orig.tiers.len(), 2 * series, "both tiers materialised");
    (dir, orig)
}

/// Runs `each(dir, rel, label, tally)` for every file on its own copy of the store, one
/// thread per file, and prints the tallies.
fn per_file(
    what: &str,
    base: &Path,
    each: impl Fn(&Path, &Path, &str, &mut Tally) + Sync,
) -> Tally {
    let started = Instant::now();
    let list = files(base);
    let tallies: Vec<(String, usize, Tally)> = std::thread::scope(|s| {
        let hs: Vec<_> = list
            .iter()
            .map(|(label, rel)| {
                let each = &each;
                s.spawn(move || {
                    let copy = common::fast_tempdir();
                    copy_dir(base, copy.path());
                    let len = std::fs::metadata(copy.path().join(rel)).unwrap().len() as usize;
                    let mut t = Tally::default();
                    each(copy.path(), rel, label, &mut t);
                    (label.to_string(), len, t)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut total = Tally::default();
    println!("damage sweep, {what}:");
    println!(
        "| file | bytes | tried | detected (corrupt + torn) | opens refused | repaired | partial | complete |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (label, len, t) in &tallies {
        println!(
            "| {label} | {len} | {} | {} ({} + {}) | {} {:?} | {} | {} | {} |",
            t.tried,
            t.detected(),
            t.corrupt,
            t.torn,
            t.refused.values().sum::<u64>(),
            t.refused,
            t.repaired,
            t.partial,
            t.complete
        );
        total.add(t);
    }
    println!(
        "| all | | {} | {} ({} + {}) | {} | {} | {} | {} |  ({:.1?})",
        total.tried,
        total.detected(),
        total.corrupt,
        total.torn,
        total.refused.values().sum::<u64>(),
        total.repaired,
        total.partial,
        total.complete,
        started.elapsed()
    );
    total
}

#[test]
fn every_bit_flip_is_detected_and_no_value_changes() {
    let (series, every) = if wide() { (6, 20) } else { (2, 60) };
    let (base, orig) = pristine(series, every, 4);
    let total = per_file("single-bit flips", base.path(), |dir, rel, label, t| {
        let snap = snapshot(dir);
        let path = dir.join(rel);
        let good = snap[rel].clone();
        for bit in 0..good.len() * 8 {
            let ctx = format!("{label}: bit {bit} (byte {})", bit / 8);
            let mut b = good.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            std::fs::write(&path, &b).unwrap();
            t.tried += 1;
            check_verify(dir, &path, b.len(), bit / 8, &ctx, t);
            open_and_check(dir, Mode::ReadOnly, false, &orig, &ctx, t);
            // Recovery (and repair where refused) for one bit of each byte, in turn.
            if bit % 8 == (bit / 8) % 8 {
                open_and_check(dir, Mode::Writer, false, &orig, &ctx, t);
                restore(dir, &snap);
            }
        }
        restore(dir, &snap);
        if label == "state" {
            // The state holds nothing the other files cannot tell again (but the retention
            // settings, which the configuration gives): every flip a writer open refuses with
            // `NeedsRepair` is repaired (`state.damaged` kept) with every point and bucket.
            assert!(t.repaired > 0 && t.partial == 0, "state: {t:?}");
        }
    });
    assert!(
        total.missed.is_empty(),
        "{} of {} flips not detected:\n{}",
        total.missed.len(),
        total.tried,
        total.missed.join("\n")
    );
    assert_eq!(
        total.located, total.tried,
        "every flip is reported at or before the flipped byte"
    );
    println!(
        "bit flips: {} tried, {} detected by verify_dir (100 %), {} reported at or before the flipped byte; no byte range without a checksum",
        total.tried,
        total.detected(),
        total.located
    );
}

#[test]
fn truncation_at_every_offset_recovers_or_refuses() {
    let (series, every) = if wide() { (6, 20) } else { (2, 60) };
    let (base, orig) = pristine(series, every, 4);
    let total = per_file(
        "truncation at every offset",
        base.path(),
        |dir, rel, label, t| {
            let snap = snapshot(dir);
            let good = snap[rel].clone();
            let path = dir.join(rel);
            let is_log = label == "window log" || label == "index.log";
            let boundaries: Vec<usize> = common::frames(&good)
                .iter()
                .map(|&(o, l)| o + l)
                .chain([common::FILE_HEADER_LEN])
                .collect();
            for len in 0..good.len() {
                let ctx = format!("{label}: truncated to {len} of {} bytes", good.len());
                std::fs::write(&path, &good[..len]).unwrap();
                t.tried += 1;
                check_verify(dir, &path, good.len(), len, &ctx, t);
                let silent_ok =
                    is_log && (len < common::FILE_HEADER_LEN || boundaries.contains(&len));
                // Read-only first (changes nothing), then recovery by a writer.
                open_and_check(dir, Mode::ReadOnly, silent_ok, &orig, &ctx, t);
                open_and_check(dir, Mode::Writer, silent_ok, &orig, &ctx, t);
                restore(dir, &snap);
            }
        },
    );
    // A log cut at a frame boundary is a whole log (nothing to detect); a log cut shorter
    // than its header is what a crash right after creating it leaves. Every other cut is
    // reported.
    for m in &total.missed {
        assert!(
            m.starts_with("window log") || m.starts_with("index.log"),
            "missed: {m}"
        );
    }
    println!(
        "truncations: {} tried, {} detected by verify_dir ({} at or before the cut), {} at log frame boundaries (clean by design)",
        total.tried,
        total.detected(),
        total.located,
        total.missed.len()
    );
}

#[test]
fn a_zeroed_page_is_detected_and_no_value_changes() {
    // Larger files, so that a page is a part of the file, not all of it.
    let (series, every) = if wide() { (24, 1) } else { (8, 2) };
    let (base, orig) = pristine(series, every, 40);
    let total = per_file("zeroed 4 KiB pages", base.path(), |dir, rel, label, t| {
        let snap = snapshot(dir);
        let good = snap[rel].clone();
        let path = dir.join(rel);
        let mut starts: Vec<usize> = (0..good.len()).step_by(PAGE).collect();
        if !wide() {
            starts.truncate(3);
        }
        for extra in [32, good.len() / 2, good.len().saturating_sub(PAGE)] {
            starts.push(extra.min(good.len().saturating_sub(1)));
        }
        starts.sort_unstable();
        starts.dedup();
        for at in starts {
            let end = (at + PAGE).min(good.len());
            if good[at..end].iter().all(|&b| b == 0) {
                continue;
            }
            let ctx = format!("{label}: zeroed {at}..{end} of {} bytes", good.len());
            let mut b = good.clone();
            b[at..end].fill(0);
            std::fs::write(&path, &b).unwrap();
            t.tried += 1;
            check_verify(dir, &path, b.len(), end - 1, &ctx, t);
            open_and_check(dir, Mode::ReadOnly, false, &orig, &ctx, t);
            open_and_check(dir, Mode::Writer, false, &orig, &ctx, t);
            restore(dir, &snap);
        }
    });
    assert!(
        total.missed.is_empty(),
        "not detected:\n{}",
        total.missed.join("\n")
    );
    assert!(
        total.unlocated.is_empty(),
        "reported after the damage:\n{}",
        total.unlocated.join("\n")
    );
    println!(
        "zeroed pages: {} tried, {} detected by verify_dir ({} inside or before the page)",
        total.tried,
        total.detected(),
        total.located
    );
}

/// A segment with its window's log still beside it (a crash before the log's removal):
/// when a flip damages the segment, the log wins and recovery loses nothing; when it damages
/// the log, the segment wins. Either way a writer open answers everything, bit for bit.
#[test]
fn a_damaged_segment_or_log_beside_each_other_loses_nothing() {
    let dir = common::fast_tempdir();
    build_with_log_beside_segment(dir.path());
    let snap = snapshot(dir.path());
    let orig = {
        let ro = Store::open_read_only(dir.path(), config()).unwrap();
        answer(&ro).unwrap()
    };
    assert_eq!(orig.raw.len(), 2);
    let started = Instant::now();
    let mut tally = Tally::default();
    for (label, rel) in [
        ("raw segment", common::seg_path(Path::new(""), T0)),
        ("window log", common::wal_path(Path::new(""), T0)),
    ] {
        let good = snap[&rel].clone();
        let path = dir.path().join(&rel);
        for bit in 0..good.len() * 8 {
            // Every bit in a wide run; one bit of every 4 bytes, in turn, otherwise.
            if !wide() && bit % 32 != (bit / 32) % 32 {
                continue;
            }
            let ctx = format!("{label} beside its twin: bit {bit}");
            let mut b = good.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            std::fs::write(&path, &b).unwrap();
            tally.tried += 1;
            open_and_check(dir.path(), Mode::ReadOnly, false, &orig, &ctx, &mut tally);
            let before = tally.complete;
            open_and_check(dir.path(), Mode::Writer, false, &orig, &ctx, &mut tally);
            assert_eq!(
                tally.complete,
                before + 1,
                "{ctx}: a writer open must answer everything: {tally:?}"
            );
            restore(dir.path(), &snap);
        }
    }
    println!(
        "segment and log side by side: {} flips, every writer open complete ({} opens refused, {} partial read-only answers), {:.1?}",
        tally.tried,
        tally.refused.values().sum::<u64>(),
        tally.partial,
        started.elapsed()
    );
}
