//! Kill loop at scale: one store lives through many SIGKILLs. In each cycle a child process
//! opens the store and writes numbered batches under `Sync::EveryWrite`, printing `ACK n`
//! after each write returns (a third of every batch's points late: 90 s back, into windows
//! already sealed, so late logs are written, merged and their rollups recomputed while the
//! child may die), while maintenance runs concurrently (the store's maintenance
//! thread every millisecond, and a second thread calling `maintain()` in a loop). The clock is
//! a manual clock that the writer moves 5 s a batch, so 60 s windows seal, 10 s and 60 s
//! rollup pieces are materialised and compacted, and raw segments older than the raw keep
//! (5 min) are dropped, all while the child may be killed. The parent SIGKILLs it at a random
//! moment (after a random number of acknowledgements or a random time, during open
//! included), reopens the store as the writer (recovery) and checks:
//!
//! - every acknowledged sample is there with its exact value: in the raw tier while it is
//!   younger than the raw keep, else counted in a 60 s bucket (and a 10 s one while that tier
//!   keeps it);
//! - nothing that was never written appears, raw or rolled up;
//! - every rollup bucket (10 s and 60 s) agrees with the points written in it (count, NaN
//!   count, min, max, first and last exactly; sum to rounding);
//! - recovery found only crash artifacts (torn tails, empty logs) and `verify_dir` finds no
//!   corruption;
//!
//! then starts the next child on the same store, which keeps growing across cycles.
//!
//! The child is this test binary re-executed with `TIERLOG_KILL_LOOP_CHILD=<dir>`.
//!
//! Environment: `TIERLOG_KILL_LOOP_CYCLES` (default 10, the CI run; the long run by hand:
//! `TIERLOG_KILL_LOOP_CYCLES=1000 cargo test --release --test kill_loop -- --nocapture`),
//! `TIERLOG_KILL_LOOP_SEED` (printed by every run).

use tierlog_testkit::helpers as common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{SplitMix64, T0, key, parse_ack};
use tierlog::{Config, ManualClock, Store, Sync, Tier};
use tierlog_tools::inspect::verify_dir;

const CHILD_ENV: &str = "TIERLOG_KILL_LOOP_CHILD";
const START_ENV: &str = "TIERLOG_KILL_LOOP_START";
/// Clock step per batch; a 60 s window holds 12 batches, and a batch never crosses a window.
const STEP_MS: i64 = 5_000;
const RAW_KEEP_MS: i64 = 300_000;
const KEEP_10S_MS: i64 = 4 * 3600 * 1000;
/// A new series every this many batches, so the index grows during the run.
const SERIES_EVERY: u64 = 50;
/// Batches a child writes at most; then it only maintains until it is killed.
const MAX_PER_CHILD: u64 = 100;
const POINTS_PER_SERIES: i64 = 3;

fn config(clock: Arc<ManualClock>) -> Config {
    Config {
        window_span: Duration::from_secs(60),
        grace: Duration::from_secs(3),
        raw_keep: Some(Duration::from_millis(RAW_KEEP_MS as u64)),
        tiers: Some(vec![
            Tier::new(
                "10s",
                Duration::from_secs(10),
                Duration::from_millis(KEEP_10S_MS as u64),
            ),
            Tier::new(
                "60s",
                Duration::from_secs(60),
                Duration::from_secs(30 * 86_400),
            ),
        ]),
        maintenance_interval: None,
        ..Config::default()
    }
    .with_clock(clock)
    .with_sync(Sync::EveryWrite)
}

/// How many batches back a batch's late points lie: 90 s, past their window's end plus the
/// grace, so they go into sealed windows (late logs) while the maintenance threads seal,
/// merge and roll up beside the writes.
const LATE_BATCHES: u64 = 18;

/// The samples of batch `n`: (series index, ts, value); one per series and second, so every
/// sample is a raw point with its exact value. The third point of each series is late (from
/// batch `LATE_BATCHES` on): it takes the fourth second of batch `n - LATE_BATCHES`, which
/// no other batch writes.
fn batch_samples(n: u64) -> Vec<(usize, i64, f64)> {
    let base = T0 + n as i64 * STEP_MS;
    let mut out = Vec::new();
    for s in 0..4usize {
        for k in 0..POINTS_PER_SERIES {
            let v = match (n + s as u64 * 3 + k as u64) % 13 {
                4 => f64::from_bits(0x7ff8_0000_0000_0000 | (n << 8) | s as u64),
                9 => -0.0,
                _ => ((n * 37 + s as u64 * 11 + k as u64) % 5000) as f64 / 100.0 - 7.0,
            };
            let ts = if k == POINTS_PER_SERIES - 1 && n >= LATE_BATCHES {
                T0 + (n - LATE_BATCHES) as i64 * STEP_MS + 3_000
            } else {
                base + k * 1000
            };
            out.push((s, ts, v));
        }
    }
    out
}

/// Points of batch `n`: (series key, ts, bits).
fn batch_points(n: u64) -> Vec<(String, i64, u64)> {
    let series = common::batch_series("loop", n, SERIES_EVERY);
    batch_samples(n)
        .into_iter()
        .map(|(s, ts, v)| {
            let (m, l) = &series[s];
            let labels: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
            (key(m, &labels), ts, v.to_bits())
        })
        .collect()
}

/// The child: writes batches from `TIERLOG_KILL_LOOP_START` on, with maintenance running
/// beside it, until killed.
#[test]
fn child_writer() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return; // Not a child: nothing to do.
    };
    let start: u64 = std::env::var(START_ENV)
        .expect("start batch")
        .parse()
        .expect("start batch number");
    let clock = Arc::new(ManualClock::new(common::batch_clock(start, STEP_MS)));
    let cfg = config(clock.clone()).with_maintenance_interval(Some(Duration::from_millis(1)));
    let store = Store::open(Path::new(&dir), cfg).expect("child open");
    common::tell_parent("OPEN");
    let stop = AtomicBool::new(false);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                store.maintain().expect("child maintain");
                std::thread::sleep(Duration::from_micros(300));
            }
        });
        for n in start..start + MAX_PER_CHILD {
            clock.set(common::batch_clock(n, STEP_MS));
            common::write_batch_and_ack(
                &store,
                n,
                &common::batch_series("loop", n, SERIES_EVERY),
                &batch_samples(n),
            );
            // A pace that lets maintenance passes interleave with the writes.
            std::thread::sleep(Duration::from_micros(200));
        }
        // Only maintenance from here on, until the parent kills us.
        common::tell_parent("IDLE");
        std::thread::sleep(Duration::from_secs(60));
        stop.store(true, Ordering::Relaxed);
    });
}

/// What the parent knows about the store across all cycles.
#[derive(Default)]
struct Model {
    /// Points that are in the store for good: of acknowledged batches, and of unacknowledged
    /// batches a reopen found there. series → ts → bits.
    written: BTreeMap<String, BTreeMap<i64, u64>>,
    /// Batches in `written`.
    batches: BTreeSet<u64>,
    /// Acknowledged batches.
    acked: BTreeSet<u64>,
}

impl Model {
    fn add_batch(&mut self, n: u64) {
        if self.batches.insert(n) {
            for (k, ts, bits) in batch_points(n) {
                self.written.entry(k).or_default().insert(ts, bits);
            }
        }
    }
}

/// One bucket's aggregates as the test checks them.
#[derive(Debug, PartialEq)]
struct Agg {
    count: u64,
    nan_count: u64,
    min: f64,
    max: f64,
    first: u64,
    last: u64,
    sum: f64,
}

fn agg(points: impl Iterator<Item = u64>) -> Option<Agg> {
    let mut a: Option<Agg> = None;
    for bits in points {
        let v = f64::from_bits(bits);
        let a = a.get_or_insert(Agg {
            count: 0,
            nan_count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            first: f64::NAN.to_bits(),
            last: f64::NAN.to_bits(),
            sum: 0.0,
        });
        if v.is_nan() {
            a.nan_count += 1;
            continue;
        }
        if a.count == 0 {
            a.first = bits;
        }
        a.count += 1;
        a.last = bits;
        a.min = a.min.min(v);
        a.max = a.max.max(v);
        a.sum += v;
    }
    a
}

/// Tallies of one verification.
#[derive(Default, Debug)]
struct Checked {
    raw_points: u64,
    buckets: u64,
    /// Acknowledged points no longer raw (dropped by retention) but counted in a bucket.
    rolled_only: u64,
    lost: u64,
}

/// Reopens the store as the writer after a kill and checks it against the model; the
/// unacknowledged batch `maybe` (the child may have been writing it) joins the model when a
/// reopen finds it. Returns the next batch to write.
fn verify(dir: &Path, m: &mut Model, maybe: Option<u64>, now: i64, ctx: &str) -> (u64, Checked) {
    let clock = Arc::new(ManualClock::new(now));
    let store = common::reopen_after_kill(dir, config(clock), ctx);
    let sel = common::sel("{__name__=~\"loop_.*\"}");
    let r = store.query(&sel, i64::MIN, i64::MAX).expect("query");
    assert!(r.warnings.is_empty(), "{ctx}: warnings {:?}", r.warnings);
    let mut raw: BTreeMap<String, BTreeMap<i64, u64>> = BTreeMap::new();
    for s in r.series {
        let k = format!("{}{{{}}}", s.metric, s.labels.to_kv_string());
        let pts = raw.entry(k).or_default();
        for (t, v) in s.points {
            assert!(pts.insert(t, v.to_bits()).is_none(), "{ctx}: doubled point");
        }
    }
    // The batch in flight at the kill: all there or not at all in each log it went to (its
    // in-time points are one frame of their window's log, its late points one frame of a
    // late log): the points found join the model.
    if let Some(n) = maybe.filter(|n| !m.batches.contains(n)) {
        let pts = batch_points(n);
        let late_ts = |t: i64| t < T0 + n as i64 * STEP_MS;
        let found: Vec<&(String, i64, u64)> = pts
            .iter()
            .filter(|(k, t, b)| raw.get(k).and_then(|p| p.get(t)) == Some(b))
            .collect();
        for part in [true, false] {
            let all = pts.iter().filter(|p| late_ts(p.1) == part).count();
            let got = found.iter().filter(|p| late_ts(p.1) == part).count();
            assert!(
                got == 0 || got == all,
                "{ctx}: unacknowledged batch {n} is half there ({} part): {got} of {all} points",
                if part { "late" } else { "in-time" }
            );
        }
        if found.len() == pts.len() {
            m.add_batch(n);
        } else {
            for (k, t, b) in found {
                m.written.entry(k.clone()).or_default().insert(*t, *b);
            }
        }
    }
    let mut c = Checked::default();
    // Nothing never-written, every value exact.
    for (k, pts) in &raw {
        let want = m.written.get(k);
        for (t, bits) in pts {
            let w = want.and_then(|w| w.get(t));
            assert_eq!(
                w,
                Some(bits),
                "{ctx}: {k} at {t}: got {} want {:?}",
                f64::from_bits(*bits),
                w.map(|b| f64::from_bits(*b))
            );
            c.raw_points += 1;
        }
    }
    // Buckets: each one agrees with the points written in it.
    let mut tiers: BTreeMap<(&str, String), BTreeMap<i64, Agg>> = BTreeMap::new();
    for (tier, width) in [("10s", 10_000i64), ("60s", 60_000)] {
        let r = store
            .query_tier(&sel, i64::MIN, i64::MAX, tier)
            .expect("query tier");
        assert!(r.warnings.is_empty(), "{ctx}: warnings {:?}", r.warnings);
        for s in r.series {
            let k = format!("{}{{{}}}", s.metric, s.labels.to_kv_string());
            let want = m.written.get(&k);
            let mut got = BTreeMap::new();
            for b in &s.points {
                assert_eq!(b.width_ms, width);
                let g = Agg {
                    count: b.count,
                    nan_count: b.nan_count,
                    min: b.min,
                    max: b.max,
                    first: b.first.to_bits(),
                    last: b.last.to_bits(),
                    sum: b.sum,
                };
                let w = want
                    .and_then(|w| agg(w.range(b.t..b.t + width).map(|(_, &v)| v)))
                    .unwrap_or_else(|| {
                        panic!("{ctx}: {tier} {k}: bucket at {} of nothing written", b.t)
                    });
                // A bucket of NaN points only (a late point alone in its bucket can be one)
                // has no sum.
                let sum_ok = if w.count == 0 {
                    g.sum.is_nan()
                } else {
                    (g.sum - w.sum).abs() <= 1e-9 * w.sum.abs().max(1.0)
                };
                let exact = (g.count, g.nan_count, g.first, g.last)
                    == (w.count, w.nan_count, w.first, w.last);
                let minmax_ok = g.count == 0 || (g.min == w.min && g.max == w.max);
                assert!(
                    sum_ok && exact && minmax_ok,
                    "{ctx}: {tier} {k} bucket at {}: got {g:?} want {w:?}",
                    b.t
                );
                got.insert(b.t, g);
                c.buckets += 1;
            }
            tiers.insert((tier, k), got);
        }
    }
    // Every written point: raw while younger than the raw keep (its window cannot have been
    // dropped); else raw or rolled up.
    let raw_horizon = now - RAW_KEEP_MS;
    let keep10_horizon = now - KEEP_10S_MS / 2;
    for (k, pts) in &m.written {
        let raw_k = raw.get(k);
        for (&t, bits) in pts {
            if raw_k.and_then(|r| r.get(&t)) == Some(bits) {
                continue;
            }
            let in_tier = |tier: &str, width: i64| {
                tiers
                    .get(&(tier, k.clone()))
                    .is_some_and(|b| b.contains_key(&(t - t.rem_euclid(width))))
            };
            let ok = t < raw_horizon
                && in_tier("60s", 60_000)
                && (t < keep10_horizon || in_tier("10s", 10_000));
            if ok {
                c.rolled_only += 1;
            } else {
                c.lost += 1;
                eprintln!(
                    "{ctx}: {k} at {t} (now {now}) is missing (raw {}, 60s {}, 10s {})",
                    raw_k.is_some_and(|r| r.contains_key(&t)),
                    in_tier("60s", 60_000),
                    in_tier("10s", 10_000)
                );
            }
        }
    }
    assert_eq!(c.lost, 0, "{ctx}: {} written points lost", c.lost);
    let next = m.batches.last().map_or(0, |l| l + 1);
    store.close().expect("close after verify");
    let v = verify_dir(dir, |_| {}).expect("verify_dir");
    assert!(
        v.is_clean(),
        "{ctx}: verify found corruption: {:?}",
        v.corruption
    );
    (next, c)
}

#[test]
fn kill_loop_loses_nothing_acknowledged() {
    let cycles: u64 = std::env::var("TIERLOG_KILL_LOOP_CYCLES")
        .ok()
        .map(|s| s.parse().expect("TIERLOG_KILL_LOOP_CYCLES"))
        .unwrap_or(10);
    let seed = SplitMix64::seed_from_env("TIERLOG_KILL_LOOP_SEED");
    println!("kill loop: {cycles} cycles, TIERLOG_KILL_LOOP_SEED={seed:#x}");
    let mut rng = SplitMix64(seed);
    let started = Instant::now();
    let dir = common::fast_tempdir();
    let mut m = Model::default();
    let mut next = 0u64;
    let mut last = Checked::default();
    let (mut killed_before_open, mut killed_idle) = (0u64, 0u64);
    for cycle in 0..cycles {
        let ctx = format!("seed {seed:#x}, cycle {cycle}, start batch {next}");
        // Kill after a number of acknowledgements, or after a time (open included).
        let by_acks = rng.range(0, 2) == 0;
        let kill_after_acks = rng.range(0, MAX_PER_CHILD + 10);
        let kill_after = Duration::from_micros(rng.range(0, 60_000));
        let mut child = common::spawn_child(
            concat!(module_path!(), "::child_writer"),
            &[
                (CHILD_ENV, dir.path().display().to_string()),
                (START_ENV, next.to_string()),
            ],
        );
        let spawned = Instant::now();
        let stdout = child.stdout.take().expect("child stdout");
        // A reader thread collects lines, so the parent can kill at a time of its choosing.
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                if line.ends_with('\n') && tx.send(line.clone()).is_err() {
                    break;
                }
                line.clear();
            }
        });
        let mut acks: Vec<u64> = Vec::new();
        let (mut opened, mut idle) = (false, false);
        let take = |l: &str, acks: &mut Vec<u64>, opened: &mut bool, idle: &mut bool| {
            if l.contains("OPEN") {
                *opened = true;
            }
            if l.contains("IDLE") {
                *idle = true;
            }
            if let Some(n) = parse_ack(l) {
                acks.push(n);
            }
        };
        loop {
            let deadline_hit = !by_acks && spawned.elapsed() >= kill_after;
            let acks_hit = by_acks && acks.len() as u64 >= kill_after_acks;
            if deadline_hit || acks_hit || idle {
                break;
            }
            match rx.recv_timeout(Duration::from_millis(1)) {
                Ok(l) => take(&l, &mut acks, &mut opened, &mut idle),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().expect("wait child");
                    let err = common::child_stderr(&mut child);
                    panic!("{ctx}: child ended on its own ({status}) after {acks:?}:\n{err}");
                }
            }
        }
        if idle {
            // Let maintenance run a little on its own before the kill.
            std::thread::sleep(Duration::from_micros(rng.range(0, 5_000)));
            killed_idle += 1;
        }
        child.kill().expect("SIGKILL child");
        let status = child.wait().expect("wait child");
        reader.join().expect("reader");
        // Acknowledgements printed before the kill but not read yet count too.
        while let Ok(l) = rx.try_recv() {
            take(&l, &mut acks, &mut opened, &mut idle);
        }
        if !opened {
            killed_before_open += 1;
        }
        let _ = status;
        common::assert_acks_from(&acks, next, &ctx);
        for &n in &acks {
            m.acked.insert(n);
            m.add_batch(n);
        }
        // The child may have been inside the write after its last acknowledgement.
        let maybe = acks.last().map_or(next, |l| l + 1);
        let in_flight = (maybe < next + MAX_PER_CHILD).then_some(maybe);
        let now = common::batch_clock(maybe, STEP_MS);
        let (n, c) = verify(dir.path(), &mut m, in_flight, now, &ctx);
        next = n;
        last = c;
        if (cycle + 1) % 100 == 0 {
            println!(
                "kill loop: {} cycles, {} batches acknowledged, {:.1?}",
                cycle + 1,
                m.acked.len(),
                started.elapsed()
            );
        }
        assert!(
            m.acked.iter().next_back().is_none_or(|&a| a < next),
            "{ctx}: next batch {next} below an acknowledged one"
        );
    }
    let acked_samples = m.acked.len() as u64 * 4 * POINTS_PER_SERIES as u64;
    let bytes: u64 = common::snapshot(dir.path())
        .values()
        .map(|b| b.len() as u64)
        .sum();
    println!(
        "kill loop: {cycles} cycles ({killed_before_open} killed before open finished, {killed_idle} while only maintaining), {} batches / {acked_samples} samples acknowledged, {} unacknowledged batches found and kept, samples lost 0; store at the end: {} raw points, {} buckets, {} acknowledged points only in rollups, {bytes} bytes; {:.1?}",
        m.acked.len(),
        m.batches.len() - m.acked.len(),
        last.raw_points,
        last.buckets,
        last.rolled_only,
        started.elapsed()
    );
}
