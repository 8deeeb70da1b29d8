//! The evaluator wired to aggregations, binary operators and functions; the expected answers
//! are those of Prometheus 2.42 (`promtool test rules` on the same data).

mod common;

use common::{Db, db_at};
use tierlog::Sample as In;
use tierlog_promql::{Labels, Options, Sample, Value, query, query_range};

const NOW: i64 = 1_700_000_040_000;
const MIN: i64 = 60_000;

/// `m{a="b"}` 0, 60, … 240 and `m{a="c"}` 0, 120, … 480 at NOW-4m … NOW every minute;
/// `n{a="b"}` 10 at the same times.
fn db() -> Db {
    let mut s = Vec::new();
    for k in 0..5i64 {
        let t = NOW - (4 - k) * MIN;
        s.push(In::new("m", &[("a", "b")], t, (60 * k) as f64));
        s.push(In::new("m", &[("a", "c")], t, (120 * k) as f64));
        s.push(In::new("n", &[("a", "b")], t, 10.0));
    }
    db_at(NOW, &s)
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied())
}

fn at_now(db: &Db, q: &str) -> Vec<(Labels, f64)> {
    match query(&db.store, q, NOW, &Options::default()).unwrap().value {
        Value::Vector(v) => v.iter().map(|s: &Sample| (s.labels.clone(), s.v)).collect(),
        other => panic!("{q}: {other:?}"),
    }
}

#[test]
fn aggregation_over_a_range_function() {
    let db = db();
    assert_eq!(at_now(&db, "sum(rate(m[2m]))"), [(Labels::default(), 3.0)]);
    assert_eq!(
        at_now(&db, "topk(1, m)"),
        [(l(&[("__name__", "m"), ("a", "c")]), 480.0)]
    );
    assert_eq!(
        at_now(&db, r#"count_values("v", n)"#),
        [(l(&[("v", "10")]), 1.0)]
    );
}

#[test]
fn binary_operator_with_group_left() {
    let db = db();
    assert_eq!(
        at_now(&db, "m * on(a) group_left n"),
        [(l(&[("a", "b")]), 2400.0)]
    );
}

#[test]
fn round_without_to_nearest_and_hour_without_argument() {
    let db = db();
    assert_eq!(
        at_now(&db, "round(m / 7)"),
        [(l(&[("a", "b")]), 34.0), (l(&[("a", "c")]), 69.0)]
    );
    // 1_700_000_040 s is 22:14 UTC.
    assert_eq!(at_now(&db, "hour()"), [(Labels::default(), 22.0)]);
}

#[test]
fn range_function_over_a_subquery() {
    let db = db();
    assert_eq!(
        at_now(&db, "max_over_time(rate(m[2m])[2m:1m])"),
        [(l(&[("a", "b")]), 1.0), (l(&[("a", "c")]), 2.0)]
    );
}

#[test]
fn range_query_of_an_aggregation() {
    let db = db();
    let out = query_range(
        &db.store,
        "sum(m)",
        NOW - 2 * MIN,
        NOW,
        MIN,
        &Options::default(),
    )
    .unwrap();
    let Value::Matrix(m) = out.value else {
        panic!()
    };
    assert_eq!(m.len(), 1);
    assert!(m[0].labels.is_empty());
    assert_eq!(
        m[0].points,
        [(NOW - 2 * MIN, 360.0), (NOW - MIN, 540.0), (NOW, 720.0)]
    );
}
