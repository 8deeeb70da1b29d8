//! Model test: random sequences of writes (timestamps inside the accepted range and some
//! deliberately too old or too far ahead, several samples in one second, NaN payloads,
//! infinities, -0.0 and decimals), clock moves, maintenance passes, reopens and queries, run
//! against the store and against a plain in-memory model (`model_support`). Query answers must
//! match bit for bit, write summaries count for count, and the sealed/open split of `stats`
//! window for window.
//!
//! Deterministic: a fixed proptest seed (`TIERLOG_MODEL_SEED` to change it) and 32 cases
//! (`TIERLOG_MODEL_CASES` for more). A failure found here is kept as a plain test in
//! `tests/regression_model.rs`.

use crate::model_support;

use model_support::{Op, SELECTORS, SERIES, Ts, run};
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, RngSeed};

fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => (-1000i32..1000).prop_map(|x| (f64::from(x) / 10.0).to_bits()),
        2 => any::<f64>().prop_map(f64::to_bits),
        1 => any::<u64>(),
        1 => (0u64..1 << 51).prop_map(|p| 0x7ff8_0000_0000_0000 | p), // NaN payloads
        1 => (0u64..1 << 51).prop_map(|p| 0xfff0_0000_0000_0001 | p), // negative sNaN-ish
        1 => Just((-0.0f64).to_bits()),
        1 => Just(f64::INFINITY.to_bits()),
        1 => Just(f64::NEG_INFINITY.to_bits()),
        1 => Just(f64::MAX.to_bits()),
    ]
}

/// Second offsets from the clock: mostly a few seconds around it (many samples share a
/// second), some anywhere from far too old to too far ahead.
fn second_offset() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => -3i64..3,
        3 => -90i64..100,
        1 => -700i64..-60,
    ]
}

/// A timestamp: mostly relative to the clock's second, sometimes right at the future limit.
fn ts() -> impl Strategy<Value = Ts> {
    prop_oneof![
        12 => (second_offset(), 0i64..1000).prop_map(|(sec, ms)| Ts::Rel { sec, ms }),
        1 => (-1i64..=1).prop_map(Ts::FutureEdge),
    ]
}

fn sample() -> impl Strategy<Value = (usize, Ts, u64)> {
    (0..SERIES.len(), ts(), value())
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec(sample(), 1..8).prop_map(Op::Write),
        2 => (0i64..3_000).prop_map(Op::Advance),
        2 => (0i64..150_000).prop_map(Op::Advance),
        1 => (-1i64..=1).prop_map(Op::AdvanceToEdge),
        1 => Just(Op::Maintain),
        1 => any::<bool>().prop_map(|graceful| Op::Reopen { graceful }),
        3 => (
            0..SELECTORS.len(),
            prop::option::weighted(0.7, (-300i64..30, 0i64..240_000)),
        )
            .prop_map(|(sel, range)| Op::Query { sel, range }),
    ]
}

fn env_u64(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .map(|s| {
            s.parse()
                .unwrap_or_else(|_| panic!("{var} must be a number"))
        })
        .unwrap_or(default)
}

fn pt_config() -> PtConfig {
    PtConfig {
        cases: env_u64("TIERLOG_MODEL_CASES", 32) as u32,
        rng_seed: RngSeed::Fixed(env_u64("TIERLOG_MODEL_SEED", 0x7133_2024)),
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..PtConfig::default()
    }
}

proptest! {
    #![proptest_config(pt_config())]

    #[test]
    fn store_matches_the_model(ops in prop::collection::vec(op(), 1..60)) {
        run(&ops);
    }
}
