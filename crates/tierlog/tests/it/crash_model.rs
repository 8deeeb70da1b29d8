//! Crash-point model test: proptest drives random sequences of writes (in time, and late:
//! into sealed windows up to the raw keep back), deletes of whole series, clock moves
//! (forward, and steps back),
//! maintenance passes (sealing, rollups, retention), reopens, queries and crashes — power lost
//! at a random later I/O operation, with or without torn writes — against the store on the
//! fault-injecting backend and against a plain model of what was acknowledged. With
//! `Sync::EveryWrite`: after every crash and reopen, every acknowledged sample is present,
//! nothing that was never written appears, and what survived stays; without a crash the store
//! answers exactly the model.
//!
//! After every reopen (and every maintenance pass) the rollup tiers are checked against
//! buckets the model computes from the raw points it knows were stored: every bucket the
//! store returns equals the model's bit for bit (count, min, max, sum and avg in time order,
//! nearest-rank p95, first, last), and every model bucket of the materialised range that is
//! not past its tier's keep is there. Raw points may be missing only once their window is past
//! the raw keep. `verify` (on the in-memory backend) finds no corruption and no leftover temporary
//! file, and `stats` agrees: no corrupt segment, the raw point count, the series count
//! between what holds data and what was ever written, materialised marks that never go
//! back below what a completed pass reported.
//!
//! Deterministic: a fixed proptest seed (`TIERLOG_CRASH_MODEL_SEED` to change it) and 24 cases
//! (`TIERLOG_CRASH_MODEL_CASES` for more).

use tierlog_testkit::helpers as common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, RngSeed};
use tierlog::vfs::FaultFs;
use tierlog::{Clock, Config, ManualClock, Sample, Selector, Store};

const T0: i64 = 1_700_000_040_000;
const SERIES: [&str; 4] = ["a", "b", "c", "d"];
/// Raw keep, and each rollup tier (name, interval, keep), ms: short enough that random
/// sequences reach retention. The 10s tier's segments are single pieces; the 60s tier's
/// keep makes its segment span two pieces, so compaction runs too.
const RAW_KEEP: i64 = 180_000;
const TIERS: [(&str, i64, i64); 2] = [("10s", 10_000, 300_000), ("60s", 60_000, 1_440_000)];
const WINDOW: i64 = 60_000;

use common::{Contents as Model, fault_config_keeps, store_contents as contents};

fn config(fs: &FaultFs, clock: &Arc<ManualClock>) -> Config {
    fault_config_keeps(fs, clock, RAW_KEEP, &TIERS)
}

#[derive(Debug, Clone)]
enum Op {
    /// Samples `(series, seconds before the clock's second)`; always inside an open window.
    Write(Vec<(usize, i64)>),
    /// Samples `(series, seconds before the clock's second)` up to the raw keep back: mostly
    /// into sealed windows (late samples), whose rollups may be materialised already.
    LateWrite(Vec<(usize, i64)>),
    /// The clock steps back by this many ms (it was ahead: a dead RTC battery, NTP).
    StepBack(i64),
    /// Deletes a series whole (`Store::delete`), from every tier.
    Delete(usize),
    /// Moves the clock forward by this many ms.
    Advance(i64),
    /// Seal, materialise rollups, compact, retention.
    Maintain,
    /// Power will be lost before the `at`th I/O operation from now.
    CrashAt {
        at: u64,
        torn: bool,
    },
    /// Closes (or drops) and reopens the store.
    Reopen {
        graceful: bool,
    },
    Query,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec((0..SERIES.len(), 0i64..25), 1..6).prop_map(Op::Write),
        3 => prop::collection::vec((0..SERIES.len(), 25i64..170), 1..6).prop_map(Op::LateWrite),
        1 => (10_000i64..1_200_000).prop_map(Op::StepBack),
        1 => (0..SERIES.len()).prop_map(Op::Delete),
        3 => (0i64..40_000).prop_map(Op::Advance),
        1 => (0i64..400_000).prop_map(Op::Advance),
        3 => Just(Op::Maintain),
        2 => (1u64..120, any::<bool>()).prop_map(|(at, torn)| Op::CrashAt { at, torn }),
        1 => any::<bool>().prop_map(|graceful| Op::Reopen { graceful }),
        2 => Just(Op::Query),
    ]
}

/// A bucket's aggregates as the README defines them, from raw values in time order.
#[derive(Debug, Clone, PartialEq)]
struct Agg {
    count: u64,
    min: f64,
    max: f64,
    sum: f64,
    avg: f64,
    p95: f64,
    first: f64,
    last: f64,
}

impl Agg {
    fn of(values: &[f64]) -> Agg {
        let mut sum = 0.0;
        for v in values {
            sum += v;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = values.len();
        // Nearest rank: ceil(0.95 n), 1-based.
        let rank = (95 * n).div_ceil(100);
        Agg {
            count: n as u64,
            min: sorted[0],
            max: sorted[n - 1],
            sum,
            avg: sum / n as f64,
            p95: sorted[rank - 1],
            first: values[0],
            last: values[n - 1],
        }
    }
}

/// Buckets of width `interval` by (series, start), from raw points.
fn buckets(points: &Model, interval: i64) -> BTreeMap<(String, i64), Agg> {
    let mut vals: BTreeMap<(String, i64), Vec<f64>> = BTreeMap::new();
    for ((s, t), v) in points {
        vals.entry((s.clone(), t.div_euclid(interval) * interval))
            .or_default()
            .push(*v);
    }
    vals.into_iter().map(|(k, v)| (k, Agg::of(&v))).collect()
}

struct World {
    clock: Arc<ManualClock>,
    fs: FaultFs,
    store: Option<Store>,
    /// Acknowledged (or found durable after a crash), and not dropped by retention.
    acked: Model,
    /// Every raw point known to have been stored, even if expired since: what the rollups
    /// are computed from.
    history: Model,
    /// Everything ever handed to `write`; keys are never reused, so a value names its write.
    attempted: Model,
    /// Per tier, the materialised mark a completed maintenance pass reported.
    materialised: Vec<i64>,
    /// A crash point is set and not reached yet (verify's reads would count towards it).
    armed: bool,
    crashes: u64,
    /// The latest clock seen.
    max_now: i64,
    /// A delete in flight (its series), while it runs.
    pending_delete: Option<String>,
    /// Samples refused as conflicts.
    conflicts: u64,
    checks: u64,
    buckets_compared: u64,
    raw_expired: u64,
}

impl World {
    /// After a crash: the machine reboots with what survived; checks it and adopts it.
    fn reboot(&mut self, ctx: &str) {
        drop(self.store.take());
        let fs = self.fs.survivor().unwrap_or_else(|| self.fs.power_loss());
        self.fs = fs;
        self.crashes += 1;
        self.armed = false;
        let store = Store::open("/db", config(&self.fs, &self.clock))
            .unwrap_or_else(|e| panic!("{ctx}: reopen after a crash failed: {e}"));
        // A delete cut short: done (finished by the open) or not begun; never half.
        if let Some(name) = self.pending_delete.take() {
            let sel: Selector = format!("m{{s=\"{name}\"}}").parse().expect("selector");
            let raw = store.query(&sel, 0, i64::MAX / 2).expect("query");
            let tiers: usize = TIERS
                .iter()
                .map(|t| {
                    store
                        .query_tier(&sel, 0, i64::MAX / 2, t.0)
                        .expect("query_tier")
                        .series
                        .len()
                })
                .sum();
            if raw.series.is_empty() && tiers == 0 {
                self.apply_delete(&name);
            }
        }
        self.store = Some(store);
        self.check(ctx, true);
    }

    /// The model of a delete of series `name`, whole.
    fn apply_delete(&mut self, name: &str) {
        self.acked.retain(|(s, _), _| s != name);
        self.history.retain(|(s, _), _| s != name);
    }

    /// An operation failed: fine only if power was lost meanwhile.
    fn failed(&mut self, e: tierlog::Error, ctx: &str) {
        assert!(
            self.fs.crashed(),
            "{ctx}: unexpected error without a crash: {e}"
        );
        self.reboot(ctx);
    }

    /// Compares the open store with the model: raw points (acknowledged ones present unless
    /// expired, nothing unwritten), rollup tiers, stats and verify. After a crash, what
    /// survived becomes the model's.
    fn check(&mut self, ctx: &str, after_crash: bool) {
        self.checks += 1;
        let store = self.store.as_ref().expect("open");
        // Retention may have run while the clock was ahead (before a step back): what it
        // dropped then was expired by the latest clock seen.
        self.max_now = self.max_now.max(self.clock.now_ms());
        let now = self.max_now;
        let got = contents(store);
        let expirable =
            |t: i64, keep: i64, width: i64| t.div_euclid(width) * width + width <= now - keep;
        for (k, v) in &self.acked {
            match got.get(k) {
                Some(g) => assert_eq!(g, v, "{ctx}: acknowledged {k:?} changed"),
                None => {
                    assert!(
                        expirable(k.1, RAW_KEEP, WINDOW),
                        "{ctx}: acknowledged {k:?} lost (now {now})"
                    );
                    self.raw_expired += 1;
                }
            }
        }
        for (k, v) in &got {
            assert_eq!(
                self.attempted.get(k),
                Some(v),
                "{ctx}: {k:?} = {v} was never written"
            );
            assert!(
                after_crash || self.acked.contains_key(k),
                "{ctx}: {k:?} appeared without a write"
            );
        }
        self.history
            .extend(got.iter().map(|(k, v)| (k.clone(), *v)));
        self.acked = got;

        let stats = store.stats();
        for t in &stats.tiers {
            assert_eq!(t.corrupt_segments, 0, "{ctx}: tier {}", t.tier);
        }
        // Late samples count as points once merged (the model writes each second once, so
        // each late sample is a point of its own).
        assert_eq!(
            stats.tiers[0].points + stats.late_pending,
            self.acked.len() as u64,
            "{ctx}: raw points"
        );
        let holding: BTreeSet<&str> = self.acked.keys().map(|(s, _)| s.as_str()).collect();
        let written: BTreeSet<&str> = self.attempted.keys().map(|(s, _)| s.as_str()).collect();
        assert!(
            (holding.len()..=written.len()).contains(&(stats.series as usize)),
            "{ctx}: {} series, {} hold raw data, {} written",
            stats.series,
            holding.len(),
            written.len()
        );

        for (i, &(name, interval, keep)) in TIERS.iter().enumerate() {
            let ts = &stats.tiers[i + 1];
            assert_eq!(ts.tier, name);
            let mark = ts.materialised_through_ms.unwrap_or(i64::MIN);
            assert!(
                mark >= self.materialised[i],
                "{ctx}: tier {name} materialised through {mark}, a completed pass reached {}",
                self.materialised[i]
            );
            let r = store
                .query_tier(&Selector::metric("m"), 0, i64::MAX / 2, name)
                .expect("query_tier");
            assert!(r.warnings.is_empty(), "{ctx}: {:?}", r.warnings);
            let want = buckets(&self.history, interval);
            let mut seen = BTreeSet::new();
            for s in &r.series {
                let series = s.labels.get("s").to_owned();
                for b in &s.points {
                    let key = (series.clone(), b.t);
                    let w = want
                        .get(&key)
                        .unwrap_or_else(|| panic!("{ctx}: tier {name}: bucket {key:?} invented"));
                    assert!(b.t < mark, "{ctx}: tier {name}: bucket {key:?} past {mark}");
                    let got = Agg {
                        count: b.count,
                        min: b.min,
                        max: b.max,
                        sum: b.sum,
                        avg: b.avg,
                        p95: b.p95.unwrap_or(f64::NAN),
                        first: b.first,
                        last: b.last,
                    };
                    // Bit-exact: the values are small integers, sums in time order.
                    assert!(
                        format!("{got:?}") == format!("{w:?}") && b.nan_count == 0,
                        "{ctx}: tier {name}: bucket {key:?} is {got:?}, the model says {w:?}"
                    );
                    assert_eq!(b.width_ms, interval);
                    seen.insert(key);
                    self.buckets_compared += 1;
                }
            }
            for (key, _) in want.range(..) {
                if key.1 < mark && !expirable(key.1, keep, interval) {
                    assert!(
                        seen.contains(key),
                        "{ctx}: tier {name}: bucket {key:?} missing (materialised through {mark}, now {now})"
                    );
                }
            }
        }

        if !self.armed {
            let report = tierlog_tools::inspect::verify_dir_on(
                Arc::new(self.fs.clone()),
                std::path::Path::new("/db"),
                |_| {},
            )
            .unwrap_or_else(|e| panic!("{ctx}: verify failed: {e}"));
            assert!(report.is_clean(), "{ctx}: verify: {:?}", report.corruption);
            for n in &report.notices {
                assert!(
                    n.message.starts_with("torn tail"),
                    "{ctx}: verify notice {n:?}"
                );
            }
        }
    }
}

fn run(ops: &[Op]) {
    let clock = Arc::new(ManualClock::new(T0));
    let fs = FaultFs::new();
    let store = Store::open("/db", config(&fs, &clock)).expect("open");
    let mut w = World {
        clock,
        fs,
        store: Some(store),
        acked: Model::new(),
        history: Model::new(),
        attempted: Model::new(),
        materialised: vec![i64::MIN; TIERS.len()],
        armed: false,
        crashes: 0,
        max_now: T0,
        pending_delete: None,
        conflicts: 0,
        checks: 0,
        buckets_compared: 0,
        raw_expired: 0,
    };
    let mut value = 0.0;
    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step} ({op:?})");
        match op {
            Op::Write(list) | Op::LateWrite(list) => {
                let now_sec = w.clock.now_ms().div_euclid(1000);
                let mut batch = Vec::new();
                for &(s, back) in list {
                    let key = (SERIES[s].to_owned(), (now_sec - back) * 1000);
                    if w.attempted.contains_key(&key) || batch.iter().any(|(k, _)| *k == key) {
                        continue;
                    }
                    value += 1.0;
                    batch.push((key, value));
                }
                if batch.is_empty() {
                    continue;
                }
                let labels: Vec<[(&str, &str); 1]> = batch
                    .iter()
                    .map(|((s, _), _)| [("s", s.as_str())])
                    .collect();
                let samples: Vec<Sample> = batch
                    .iter()
                    .zip(&labels)
                    .map(|(((_, t), v), l)| Sample::new("m", l, *t, *v))
                    .collect();
                w.attempted.extend(batch.iter().cloned());
                match w.store.as_ref().expect("open").write(&samples) {
                    Ok(sum) => {
                        let mut batch = batch;
                        if sum.rejected_conflict > 0 {
                            // Refused only where the raw window is gone (expired by the
                            // latest clock seen, before a step back) and a tier holds a
                            // bucket of the series there: which ones, the store's answer says.
                            let got = contents(w.store.as_ref().expect("open"));
                            let max_now = w.max_now.max(w.clock.now_ms());
                            let refused: Vec<_> = batch
                                .iter()
                                .filter(|(k, _)| !got.contains_key(k))
                                .cloned()
                                .collect();
                            for ((s, t), _) in &refused {
                                let win = t.div_euclid(WINDOW) * WINDOW;
                                assert!(
                                    win + WINDOW <= max_now - RAW_KEEP,
                                    "{ctx}: {s}@{t} refused as a conflict, its raw window is kept"
                                );
                                assert!(
                                    w.history
                                        .keys()
                                        .any(|(hs, ht)| hs == s
                                            && ht.div_euclid(WINDOW) * WINDOW == win),
                                    "{ctx}: {s}@{t} refused as a conflict, no bucket of it there"
                                );
                            }
                            assert_eq!(refused.len() as u64, sum.rejected_conflict, "{ctx}");
                            batch.retain(|b| !refused.contains(b));
                            w.conflicts += refused.len() as u64;
                        }
                        assert_eq!(sum.accepted, batch.len() as u64, "{ctx}");
                        w.history.extend(batch.iter().cloned());
                        w.acked.extend(batch);
                    }
                    Err(e) => w.failed(e, &ctx),
                }
            }
            Op::Advance(ms) => {
                w.max_now = w.max_now.max(w.clock.now_ms());
                w.clock.advance(*ms);
            }
            Op::StepBack(ms) => {
                w.max_now = w.max_now.max(w.clock.now_ms());
                w.clock.set(w.clock.now_ms() - ms);
            }
            Op::Maintain => match w.store.as_ref().expect("open").maintain() {
                Ok(_) => {
                    let stats = w.store.as_ref().expect("open").stats();
                    for (i, m) in w.materialised.iter_mut().enumerate() {
                        *m = stats.tiers[i + 1]
                            .materialised_through_ms
                            .unwrap_or(i64::MIN);
                    }
                    if !w.fs.crashed() {
                        w.check(&ctx, false);
                    }
                }
                Err(e) => w.failed(e, &ctx),
            },
            Op::CrashAt { at, torn } => {
                if !w.fs.crashed() {
                    w.fs.set_torn_power_loss(torn.then_some(*at));
                    w.fs.crash_at(*at);
                    w.armed = true;
                }
            }
            Op::Reopen { graceful } => {
                let store = w.store.take().expect("open");
                let closed = if *graceful {
                    store.close()
                } else {
                    drop(store);
                    Ok(())
                };
                if let Err(e) = closed {
                    assert!(w.fs.crashed(), "{ctx}: close failed without a crash: {e}");
                }
                if w.fs.crashed() {
                    w.reboot(&ctx);
                    continue;
                }
                match Store::open("/db", config(&w.fs, &w.clock)) {
                    Ok(s) => {
                        w.store = Some(s);
                        if !w.fs.crashed() {
                            w.check(&ctx, false);
                        }
                    }
                    Err(e) => w.failed(e, &ctx),
                }
            }
            Op::Delete(si) => {
                let name = SERIES[*si];
                let sel: Selector = format!("m{{s=\"{name}\"}}").parse().expect("selector");
                w.pending_delete = Some(name.to_owned());
                let res = w.store.as_ref().expect("open").delete(
                    &sel,
                    None,
                    tierlog::DeleteOptions::default(),
                );
                match res {
                    Ok(_) => {
                        w.pending_delete = None;
                        w.apply_delete(name);
                        if !w.fs.crashed() {
                            w.check(&ctx, false);
                        }
                    }
                    Err(e) => w.failed(e, &ctx),
                }
            }
            Op::Query => {
                if !w.fs.crashed() {
                    w.check(&ctx, false);
                }
            }
        }
    }
    // The end: power is lost once more.
    w.reboot("end");
    let segs =
        w.fs.paths()
            .iter()
            .filter(|p| common::is_segment(p))
            .count();
    if std::env::var_os("TIERLOG_CRASH_MODEL_VERBOSE").is_some() {
        eprintln!(
            "{} ops, {} reboots, {} checks, {} buckets compared, {} raw points expired, {} samples kept, {segs} segments",
            ops.len(),
            w.crashes,
            w.checks,
            w.buckets_compared,
            w.raw_expired,
            w.acked.len()
        );
    }
}

fn env_u64(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(PtConfig {
        cases: env_u64("TIERLOG_CRASH_MODEL_CASES", 24) as u32,
        rng_seed: RngSeed::Fixed(env_u64("TIERLOG_CRASH_MODEL_SEED", 0x0c7a_54ed)),
        failure_persistence: None,
        max_shrink_iters: 1_000,
        ..PtConfig::default()
    })]

    #[test]
    fn crashes_lose_nothing_acknowledged(ops in prop::collection::vec(op(), 1..50)) {
        run(&ops);
    }
}

/// Shrunk from a failure: a late sample written while the clock is behind the high-water
/// mark, then a reopen and a pass at that clock.
#[test]
fn a_late_sample_behind_the_high_water_mark_survives_a_reopen_and_a_pass() {
    run(&[
        Op::LateWrite(vec![(0, 61)]),
        Op::StepBack(39_001),
        Op::Write(vec![(1, 21)]),
        Op::Reopen { graceful: false },
        Op::Maintain,
    ]);
}

/// Shrunk from a failure: a late sample into an empty window, after a clock step back past
/// windows whose raw segments retention already dropped.
#[test]
fn a_late_sample_after_a_step_back_past_expired_raw_windows() {
    run(&[
        Op::LateWrite(vec![(0, 25), (0, 121)]),
        Op::Advance(32_857),
        Op::Advance(35_020),
        Op::Maintain,
        Op::StepBack(168_878),
        Op::Write(vec![(1, 19)]),
    ]);
}

/// Shrunk from a failure: after a step back, a late sample of one series into a window whose
/// raw points expired, and a conflict of another series there.
#[test]
fn a_late_sample_beside_a_conflict_in_an_expired_window() {
    run(&[
        Op::LateWrite(vec![(1, 121), (0, 25)]),
        Op::Advance(29_208),
        Op::Advance(35_020),
        Op::Maintain,
        Op::StepBack(250_878),
        Op::Advance(6_884),
        Op::Advance(35_766),
        Op::Write(vec![(0, 0)]),
        Op::Write(vec![(1, 0)]),
    ]);
}

/// Shrunk from a failure: steps back and forth, then a late sample into a window whose
/// 60s buckets lie in a compacted span.
#[test]
fn late_samples_after_steps_back_and_forth() {
    run(&[
        Op::LateWrite(vec![(0, 25), (0, 121)]),
        Op::Advance(47_987),
        Op::Advance(30_614),
        Op::Advance(16_990),
        Op::Advance(131_508),
        Op::Maintain,
        Op::Advance(9_725),
        Op::Advance(260_534),
        Op::StepBack(488_443),
        Op::Advance(187_045),
        Op::StepBack(311_380),
        Op::Advance(0),
        Op::Write(vec![(1, 5)]),
        Op::Advance(25_420),
        Op::Maintain,
        Op::LateWrite(vec![(0, 91)]),
    ]);
}
