//! Inputs the `promql_eval` fuzz target (fuzz/fuzz_targets/promql_eval.rs) found to panic,
//! hang or blow up, each evaluated here on a small store with its expected answer.

mod common;

use common::{Db, db_at};
use tierlog::Sample as In;
use tierlog_promql::{Options, Value, query, query_range};

/// A multiple of 100 s (and of a minute).
const T: i64 = 1_700_000_100_000;
const S: i64 = 1000;

/// `m` every 15 s for the 10 minutes before `T`, value = seconds before `T`.
fn db() -> Db {
    let samples: Vec<In<'_>> = (0..40)
        .map(|i| {
            In::new(
                "m",
                &[("a", "b")],
                T - 600 * S + i * 15 * S,
                (600 - i * 15) as f64,
            )
        })
        .collect();
    db_at(T, &samples)
}

/// `sum_over_time(x[2m:153s])`: a subquery whose range is shorter than its step has, at most
/// evaluation times, no step in its window; its first step then lies past the window's end,
/// and looking its rows up over `first..=end` panicked ("range start is greater than range
/// end in BTreeMap"). Such a window holds nothing, as in Prometheus.
#[test]
fn subquery_range_shorter_than_its_step_with_no_step_in_the_window() {
    let db = db();
    // [T - 30 s - 1 m, T - 30 s] = [T - 90 s, T - 30 s] holds no multiple of 100 s.
    let t = T - 30 * S;
    let out = query(
        &db.store,
        "sum_over_time(m[1m:100s])",
        t,
        &Options::default(),
    )
    .unwrap();
    assert_eq!(out.value, Value::Vector(Vec::new()));
    // At T the window [T - 60 s, T] holds the step T: m's value there is 15 (its last point).
    let out = query(
        &db.store,
        "sum_over_time(m[1m:100s])",
        T,
        &Options::default(),
    )
    .unwrap();
    match out.value {
        Value::Vector(v) => {
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].v, 15.0);
        }
        other => panic!("{other:?}"),
    }
    // Over a range query, steps with and without a subquery step in their windows.
    let out = query_range(
        &db.store,
        "sum_over_time(m[1m:100s])",
        T - 300 * S,
        T,
        10 * S,
        &Options::default(),
    )
    .unwrap();
    match out.value {
        Value::Matrix(m) => {
            assert_eq!(m.len(), 1);
            // Windows [t - 60 s, t] hold a multiple of 100 s for t in [k·100 s, k·100 s + 60 s]:
            // 7 of the 10 s steps in each 100 s, over T-300 s … T (31 steps): 3·7 + 1 = 22.
            assert_eq!(m[0].points.len(), 22, "{:?}", m[0].points);
        }
        other => panic!("{other:?}"),
    }
}

/// `rate(x[4m:4414…4])`: a plain number where a duration is expected reached the parser, which
/// turns it into a `Duration` and panicked ("cannot convert float seconds to Duration") when it
/// was too large, infinite, NaN or negative. Durations without a unit are not in 2.42: they are
/// refused before parsing, in ranges, subquery steps and offsets alike.
#[test]
fn plain_numbers_as_durations_are_refused_before_parsing() {
    let db = db();
    for q in [
        "rate(m[4m:44144444444444444444444444444444])",
        "rate(m[1e400])",
        "m[Inf]",
        "sum_over_time(m[NaN:1m])",
        "rate(m[5m:0x1fffffffffffffffff])",
        "m offset 1e400",
        "m offset -Inf",
        "m OFFSET 5",
        "m offset 1e+999",
    ] {
        match query(&db.store, q, T, &Options::default()) {
            Err(tierlog_promql::Error::Unsupported(m)) => {
                assert!(m.contains("without a unit"), "{q}: {m}")
            }
            other => panic!("{q}: {other:?}"),
        }
    }
    // Durations with units still parse.
    assert!(
        query(
            &db.store,
            "rate(m[5m:1m] offset 1m)",
            T,
            &Options::default()
        )
        .is_ok()
    );
    assert!(query(&db.store, "m offset 5m", T, &Options::default()).is_ok());
}
