//! Crash-point model test: proptest drives random sequences of writes, clock moves,
//! maintenance passes (sealing, rollups, retention), reopens, queries and crashes — power lost
//! at a random later I/O operation, with or without torn writes — against the store on the
//! fault-injecting backend and against a plain model of what was acknowledged. With
//! `Sync::EveryWrite`: after every crash and reopen, every acknowledged sample is present,
//! nothing that was never written appears, and what survived stays; without a crash the store
//! answers exactly the model.
//!
//! Deterministic: a fixed proptest seed (`TIERLOG_CRASH_MODEL_SEED` to change it) and 24 cases
//! (`TIERLOG_CRASH_MODEL_CASES` for more).

mod common;

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, RngSeed};
use tierlog::io::FaultFs;
use tierlog::{Clock, ManualClock, Sample, Store};

const T0: i64 = 1_700_000_040_000;
const SERIES: [&str; 4] = ["a", "b", "c", "d"];

use common::{Contents as Model, fault_config as config, store_contents as contents};

#[derive(Debug, Clone)]
enum Op {
    /// Samples `(series, seconds before the clock's second)`; always inside an open window.
    Write(Vec<(usize, i64)>),
    /// Moves the clock forward by this many ms.
    Advance(i64),
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
        3 => (0i64..40_000).prop_map(Op::Advance),
        1 => (0i64..400_000).prop_map(Op::Advance),
        2 => Just(Op::Maintain),
        2 => (1u64..80, any::<bool>()).prop_map(|(at, torn)| Op::CrashAt { at, torn }),
        1 => any::<bool>().prop_map(|graceful| Op::Reopen { graceful }),
        2 => Just(Op::Query),
    ]
}

struct World {
    clock: Arc<ManualClock>,
    fs: FaultFs,
    store: Option<Store>,
    /// Acknowledged (or found durable after a crash).
    acked: Model,
    /// Everything ever handed to `write`; keys are never reused, so a value names its write.
    attempted: Model,
    crashes: u64,
}

impl World {
    /// After a crash: the machine reboots with what survived; checks it and adopts it.
    fn reboot(&mut self, ctx: &str) {
        drop(self.store.take());
        let fs = self.fs.survivor().unwrap_or_else(|| self.fs.power_loss());
        self.fs = fs;
        self.crashes += 1;
        let store = Store::open("/db", config(&self.fs, &self.clock))
            .unwrap_or_else(|e| panic!("{ctx}: reopen after a crash failed: {e}"));
        let got = contents(&store);
        for (k, v) in &self.acked {
            assert_eq!(got.get(k), Some(v), "{ctx}: acknowledged {k:?} lost");
        }
        for (k, v) in &got {
            assert_eq!(
                self.attempted.get(k),
                Some(v),
                "{ctx}: {k:?} = {v} was never written"
            );
        }
        // What survived is durable from here on.
        self.acked = got;
        self.store = Some(store);
    }

    /// An operation failed: fine only if power was lost meanwhile.
    fn failed(&mut self, e: tierlog::Error, ctx: &str) {
        assert!(
            self.fs.crashed(),
            "{ctx}: unexpected error without a crash: {e}"
        );
        self.reboot(ctx);
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
        attempted: Model::new(),
        crashes: 0,
    };
    let mut value = 0.0;
    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step} ({op:?})");
        match op {
            Op::Write(list) => {
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
                        assert_eq!(sum.accepted, batch.len() as u64, "{ctx}");
                        w.acked.extend(batch);
                    }
                    Err(e) => w.failed(e, &ctx),
                }
            }
            Op::Advance(ms) => w.clock.advance(*ms),
            Op::Maintain => {
                if let Err(e) = w.store.as_ref().expect("open").maintain() {
                    w.failed(e, &ctx);
                }
            }
            Op::CrashAt { at, torn } => {
                if !w.fs.crashed() {
                    w.fs.set_torn_power_loss(torn.then_some(*at));
                    w.fs.crash_at(*at);
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
                    Ok(s) => w.store = Some(s),
                    Err(e) => w.failed(e, &ctx),
                }
            }
            Op::Query => {
                let got = contents(w.store.as_ref().expect("open"));
                if !w.fs.crashed() {
                    assert_eq!(got, w.acked, "{ctx}");
                }
            }
        }
    }
    // The end: power is lost once more.
    w.reboot("end");
    let segs =
        w.fs.paths()
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(".seg"))
            .count();
    if std::env::var_os("TIERLOG_CRASH_MODEL_VERBOSE").is_some() {
        eprintln!(
            "{} ops, {} reboots, {} samples kept, {segs} segments",
            ops.len(),
            w.crashes,
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
