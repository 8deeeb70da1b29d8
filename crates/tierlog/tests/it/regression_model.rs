//! Fixed operation sequences for the model of `tests/model.rs`. Failures proptest finds there
//! are kept here as plain tests (paste the shrunk `ops`); so far it has found none, so these are
//! hand-written sequences around the edges the model cares about.

use crate::model_support;

use model_support::{FUTURE, GRACE, Op, SPAN, Ts, run};

fn w(samples: &[(usize, i64, i64, f64)]) -> Op {
    Op::Write(
        samples
            .iter()
            .map(|&(s, sec, ms, v)| (s, Ts::Rel { sec, ms }, v.to_bits()))
            .collect(),
    )
}

fn all() -> Op {
    Op::Query {
        sel: 3,
        range: None,
    }
}

#[test]
fn same_second_means_keep_arrival_order_and_single_samples_stay_exact() {
    let nan = f64::from_bits(0x7ff8_0000_dead_beef);
    run(&[
        // -0.0 first: the sum starts from it, so -0.0 + -0.0 stays -0.0.
        w(&[(0, 0, 10, -0.0), (0, 0, 20, -0.0), (1, 0, 0, nan)]),
        w(&[(2, 1, 0, 0.1), (2, 1, 500, 0.2), (2, 1, 999, 0.3)]),
        w(&[(2, 2, 0, 1e308), (2, 2, 1, 1e308), (2, 2, 2, -1e308)]),
        w(&[(1, 3, 0, f64::INFINITY), (1, 3, 1, f64::NEG_INFINITY)]),
        all(),
        Op::Reopen { graceful: false },
        all(),
        // More samples join a point logged before the reopen.
        w(&[(2, -2, 700, 0.4)]),
        all(),
    ]);
}

#[test]
fn an_alias_of_a_series_is_the_same_series() {
    run(&[
        w(&[(3, 0, 0, 1.0), (4, 0, 1, 2.0), (4, 1, 0, 5.0)]),
        Op::Query {
            sel: 4,
            range: None,
        },
        Op::Reopen { graceful: true },
        w(&[(4, -1, 5, 3.0)]),
        Op::Query {
            sel: 4,
            range: None,
        },
    ]);
}

#[test]
fn window_edges_and_future_limit_edges() {
    run(&[
        w(&[(0, 0, 0, 1.0)]),
        // Exactly at the moment the window becomes due, and one ms either side.
        Op::AdvanceToEdge(-1),
        w(&[(0, -(SPAN + GRACE) / 1_000, 0, 2.0), (1, -1, 0, 3.0)]),
        Op::AdvanceToEdge(0),
        w(&[(0, -(SPAN + GRACE) / 1_000, 0, 4.0), (1, 0, 0, 5.0)]),
        Op::AdvanceToEdge(1),
        Op::Write(vec![
            (2, Ts::FutureEdge(-1), 6.0f64.to_bits()),
            (2, Ts::FutureEdge(0), 7.0f64.to_bits()),
            (2, Ts::FutureEdge(1), 8.0f64.to_bits()),
        ]),
        all(),
        Op::Advance(FUTURE + SPAN + GRACE),
        Op::Maintain,
        all(),
    ]);
}

#[test]
fn due_windows_reloaded_after_a_reopen_refuse_samples_until_sealed() {
    run(&[
        w(&[(0, 0, 0, 1.0), (1, 5, 0, 2.0)]),
        Op::Reopen { graceful: false },
        Op::Advance(SPAN + GRACE + 1_000),
        Op::Reopen { graceful: true },
        // Loaded as open windows, but due: too old, and this write seals them.
        w(&[(0, -(SPAN + GRACE) / 1_000 - 1, 0, 9.0), (0, 0, 0, 3.0)]),
        Op::Maintain,
        Op::Reopen { graceful: false },
        all(),
    ]);
}
