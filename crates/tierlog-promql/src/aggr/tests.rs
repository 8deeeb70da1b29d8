//! Expected values were worked out by hand and checked against Prometheus 2.42
//! (`promtool test rules` with the same series). Which of several equal values `topk`/`bottomk`
//! keep depends on the input order; those cases were traced by hand through 2.42's heap, since
//! Prometheus feeds series in storage order, not label order.

use super::*;
use crate::binop::gofmt;
use crate::test_vectors::{m, s};

const T: i64 = 42_000;

/// tie{i="1".."6"}: 1, 1, 1, 2, NaN, 1.
fn tie() -> Vec<Sample> {
    [1.0, 1.0, 1.0, 2.0, f64::NAN, 1.0]
        .iter()
        .enumerate()
        .map(|(i, v)| s(&[("__name__", "tie"), ("i", &(i + 1).to_string())], *v))
        .collect()
}

fn vals(v: &[f64]) -> Vec<Sample> {
    v.iter()
        .enumerate()
        .map(|(i, v)| s(&[("__name__", "x"), ("i", &i.to_string())], *v))
        .collect()
}

fn by(n: &[&str]) -> Grouping {
    Grouping::By(n.iter().map(|s| s.to_string()).collect())
}

fn without(n: &[&str]) -> Grouping {
    Grouping::Without(n.iter().map(|s| s.to_string()).collect())
}

fn none() -> Grouping {
    Grouping::By(vec![])
}

/// Each output sample as `{labels} value`, checking its timestamp.
fn show(out: Vec<Sample>) -> Vec<String> {
    out.into_iter()
        .map(|x| {
            assert_eq!(x.t, T, "output timestamp");
            format!("{} {}", gofmt::labels(&x.labels), gofmt::float_f(x.v))
        })
        .collect()
}

fn run(op: AggOp, g: Grouping, input: Vec<Sample>) -> Vec<String> {
    show(aggregate(op, &AggParam::None, &g, input, T).unwrap())
}

fn run_p(op: AggOp, p: f64, g: Grouping, input: Vec<Sample>) -> Vec<String> {
    show(aggregate(op, &AggParam::Number(p), &g, input, T).unwrap())
}

fn one(op: AggOp, input: &[f64]) -> f64 {
    let out = aggregate(op, &AggParam::None, &none(), vals(input), T).unwrap();
    assert_eq!(out.len(), 1);
    out[0].v
}

#[test]
fn sum_by_without_and_no_clause() {
    let exp = ["{job=\"a\"} 4", "{job=\"b\"} NaN"];
    assert_eq!(run(AggOp::Sum, by(&["job"]), m()), exp);
    assert_eq!(run(AggOp::Sum, without(&["inst"]), m()), exp);
    assert_eq!(run(AggOp::Sum, none(), m()), ["{} NaN"]);
    assert_eq!(
        run(AggOp::Sum, by(&["inst"]), m()),
        ["{inst=\"1\"} NaN", "{inst=\"2\"} 8"]
    );
    // `without` drops the metric name even with nothing listed; `by` may keep it.
    assert_eq!(
        run(AggOp::Sum, without(&[]), m()),
        [
            "{inst=\"1\", job=\"a\"} 1",
            "{inst=\"1\", job=\"b\"} NaN",
            "{inst=\"2\", job=\"a\"} 3",
            "{inst=\"2\", job=\"b\"} 5"
        ]
    );
    let mut mixed = m();
    mixed.push(s(&[("__name__", "n"), ("job", "a")], 10.0));
    assert_eq!(
        run(AggOp::Sum, by(&["__name__"]), mixed),
        ["{__name__=\"m\"} NaN", "{__name__=\"n\"} 10"]
    );
    // A label missing from some series groups them together under its absence.
    let v = vec![
        s(&[("a", "1")], 1.0),
        s(&[("b", "2")], 2.0),
        s(&[("a", "1"), ("b", "3")], 4.0),
    ];
    assert_eq!(run(AggOp::Sum, by(&["a"]), v), ["{a=\"1\"} 5", "{} 2"]);
    assert_eq!(one(AggOp::Sum, &[f64::INFINITY, 1.0]), f64::INFINITY);
    assert!(one(AggOp::Sum, &[f64::INFINITY, 1.0, f64::NEG_INFINITY]).is_nan());
}

#[test]
fn avg_is_the_incremental_mean_of_2_42() {
    assert_eq!(
        run(AggOp::Avg, without(&["job"]), m()),
        ["{inst=\"1\"} NaN", "{inst=\"2\"} 4"]
    );
    assert_eq!(one(AggOp::Avg, &[1.0, 2.0, 3.0, 4.0]), 2.5);
    // No overflow where a plain sum would overflow: Prometheus gives 3.333333333333333e307.
    let v = one(AggOp::Avg, &[1e308, 1e308, -1e308]);
    assert!(
        (v - 3.333333333333333e307).abs() <= 1e-9 * 3.333333333333333e307,
        "{v}"
    );
    // An infinite mean stays infinite with finite values and the same infinity …
    assert_eq!(
        one(AggOp::Avg, &[f64::INFINITY, 1.0, f64::INFINITY]),
        f64::INFINITY
    );
    assert_eq!(
        one(AggOp::Avg, &[f64::NEG_INFINITY, 5.0]),
        f64::NEG_INFINITY
    );
    // … and turns NaN with the other infinity (Prometheus: avg(Inf, 1, -Inf, Inf) = NaN).
    assert!(
        one(
            AggOp::Avg,
            &[f64::INFINITY, 1.0, f64::NEG_INFINITY, f64::INFINITY]
        )
        .is_nan()
    );
    assert!(one(AggOp::Avg, &[f64::INFINITY, f64::NAN]).is_nan());
    // A finite mean that meets an infinity becomes that infinity.
    assert_eq!(one(AggOp::Avg, &[1.0, f64::INFINITY, 2.0]), f64::INFINITY);
}

#[test]
fn min_and_max_replace_nan_by_any_number() {
    assert_eq!(
        run(AggOp::Min, by(&["job"]), m()),
        ["{job=\"a\"} 1", "{job=\"b\"} 5"]
    );
    assert_eq!(
        run(AggOp::Max, by(&["job"]), m()),
        ["{job=\"a\"} 3", "{job=\"b\"} 5"]
    );
    assert_eq!(one(AggOp::Max, &[2.0, f64::NAN, 1.0]), 2.0);
    assert_eq!(one(AggOp::Min, &[2.0, f64::NAN, 1.0]), 1.0);
    assert!(one(AggOp::Max, &[f64::NAN, f64::NAN]).is_nan());
    assert_eq!(
        one(AggOp::Max, &[f64::NEG_INFINITY, f64::INFINITY]),
        f64::INFINITY
    );
    assert_eq!(
        one(AggOp::Min, &[f64::NEG_INFINITY, f64::INFINITY]),
        f64::NEG_INFINITY
    );
}

#[test]
fn count_and_group() {
    assert_eq!(
        run(AggOp::Count, by(&["job"]), m()),
        ["{job=\"a\"} 2", "{job=\"b\"} 2"]
    );
    assert_eq!(run(AggOp::Count, none(), m()), ["{} 4"]);
    assert_eq!(
        run(AggOp::Group, without(&["inst"]), m()),
        ["{job=\"a\"} 1", "{job=\"b\"} 1"]
    );
}

#[test]
fn stddev_and_stdvar_are_welford_of_2_42() {
    assert_eq!(
        run(AggOp::Stddev, by(&["job"]), m()),
        ["{job=\"a\"} 1", "{job=\"b\"} NaN"]
    );
    assert_eq!(one(AggOp::Stdvar, &[10.0, 20.0]), 25.0);
    assert_eq!(one(AggOp::Stddev, &[10.0, 20.0]), 5.0);
    assert_eq!(one(AggOp::Stddev, &[7.0]), 0.0);
    assert_eq!(
        one(AggOp::Stdvar, &[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]),
        4.0
    );
    // Prometheus: stddev(1e308, 1e308, -1e308) is NaN (the running sums overflow).
    assert!(one(AggOp::Stddev, &[1e308, 1e308, -1e308]).is_nan());
    assert!(one(AggOp::Stdvar, &[1.0, f64::INFINITY]).is_nan());
}

#[test]
fn topk_and_bottomk_keep_full_labels_and_2_42_order() {
    assert_eq!(
        run_p(AggOp::Topk, 1.0, none(), m()),
        ["{__name__=\"m\", inst=\"2\", job=\"b\"} 5"]
    );
    let top2 = [
        "{__name__=\"m\", inst=\"2\", job=\"b\"} 5",
        "{__name__=\"m\", inst=\"2\", job=\"a\"} 3",
    ];
    assert_eq!(run_p(AggOp::Topk, 2.0, none(), m()), top2);
    // k is truncated.
    assert_eq!(run_p(AggOp::Topk, 2.7, none(), m()), top2);
    assert_eq!(
        run_p(AggOp::Bottomk, 1.0, none(), m()),
        ["{__name__=\"m\", inst=\"1\", job=\"a\"} 1"]
    );
    // Per group, in the order groups first appear, best first and NaN last.
    assert_eq!(
        run_p(AggOp::Bottomk, 2.0, by(&["job"]), m()),
        [
            "{__name__=\"m\", inst=\"1\", job=\"a\"} 1",
            "{__name__=\"m\", inst=\"2\", job=\"a\"} 3",
            "{__name__=\"m\", inst=\"2\", job=\"b\"} 5",
            "{__name__=\"m\", inst=\"1\", job=\"b\"} NaN",
        ]
    );
    // k larger than the input gives everything.
    assert_eq!(run_p(AggOp::Topk, 10.0, none(), m()).len(), 4);
}

#[test]
fn topk_and_bottomk_break_ties_as_2_42_heap_does() {
    // tie = 1, 1, 1, 2, NaN, 1 (i = 1..6), in this order, traced through 2.42's heap.
    assert_eq!(
        run_p(AggOp::Topk, 2.0, none(), tie()),
        [
            "{__name__=\"tie\", i=\"4\"} 2",
            "{__name__=\"tie\", i=\"2\"} 1"
        ]
    );
    assert_eq!(
        run_p(AggOp::Bottomk, 2.0, none(), tie()),
        [
            "{__name__=\"tie\", i=\"1\"} 1",
            "{__name__=\"tie\", i=\"2\"} 1"
        ]
    );
    let mut top3 = run_p(AggOp::Topk, 3.0, none(), tie());
    assert_eq!(top3[0], "{__name__=\"tie\", i=\"4\"} 2");
    top3.sort();
    assert_eq!(
        top3,
        [
            "{__name__=\"tie\", i=\"2\"} 1",
            "{__name__=\"tie\", i=\"3\"} 1",
            "{__name__=\"tie\", i=\"4\"} 2"
        ]
    );
    let mut bottom4 = run_p(AggOp::Bottomk, 4.0, none(), tie());
    bottom4.sort();
    assert_eq!(
        bottom4,
        [
            "{__name__=\"tie\", i=\"1\"} 1",
            "{__name__=\"tie\", i=\"2\"} 1",
            "{__name__=\"tie\", i=\"3\"} 1",
            "{__name__=\"tie\", i=\"6\"} 1"
        ]
    );
    // A NaN on top of the heap is always replaced.
    let v = vals(&[f64::NAN, 1.0]);
    assert_eq!(
        run_p(AggOp::Topk, 1.0, none(), v),
        ["{__name__=\"x\", i=\"1\"} 1"]
    );
    let v = vals(&[f64::NAN, 1.0]);
    assert_eq!(
        run_p(AggOp::Bottomk, 1.0, none(), v),
        ["{__name__=\"x\", i=\"1\"} 1"]
    );
    // More than 12 kept: still best first, NaN last.
    let many: Vec<f64> = (0..20)
        .map(|i| if i == 3 { f64::NAN } else { i as f64 })
        .collect();
    let out = aggregate(
        AggOp::Topk,
        &AggParam::Number(20.0),
        &none(),
        vals(&many),
        T,
    )
    .unwrap();
    let got: Vec<f64> = out.iter().map(|x| x.v).collect();
    let exp: Vec<f64> = (0..20).rev().filter(|&i| i != 3).map(f64::from).collect();
    assert_eq!(got[..19], exp[..]);
    assert!(got[19].is_nan());
    // A NaN taken in while the heap fills sits on top and is the first to go.
    let out = aggregate(
        AggOp::Topk,
        &AggParam::Number(15.0),
        &none(),
        vals(&many),
        T,
    )
    .unwrap();
    let got: Vec<f64> = out.iter().map(|x| x.v).collect();
    let exp: Vec<f64> = (5..20).rev().map(f64::from).collect();
    assert_eq!(got, exp);
}

#[test]
fn topk_k_edge_cases() {
    assert!(run_p(AggOp::Topk, 0.9, none(), m()).is_empty());
    assert!(run_p(AggOp::Topk, 0.0, none(), m()).is_empty());
    assert!(run_p(AggOp::Bottomk, -1.0, none(), m()).is_empty());
    let err = |k: f64, input: Vec<Sample>| match aggregate(
        AggOp::Topk,
        &AggParam::Number(k),
        &none(),
        input,
        T,
    ) {
        Err(Error::Execution(msg)) => msg,
        other => panic!("{other:?}"),
    };
    assert_eq!(err(1e19, m()), "Scalar value 1e+19 overflows int64");
    // Checked even when there is nothing to aggregate, as 2.42 does.
    assert_eq!(err(f64::NAN, vec![]), "Scalar value NaN overflows int64");
    assert_eq!(
        err(f64::NEG_INFINITY, vec![]),
        "Scalar value -Inf overflows int64"
    );
    // The largest k that fits.
    assert_eq!(run_p(AggOp::Topk, 9.2e18, none(), m()).len(), 4);
}

#[test]
fn quantile_interpolates_as_2_42() {
    assert_eq!(run_p(AggOp::Quantile, 0.5, none(), m()), ["{} 2"]);
    // NaN sorts first: [NaN, 1, 3, 5]; rank 0.9 mixes the NaN in.
    assert_eq!(run_p(AggOp::Quantile, 0.3, none(), m()), ["{} NaN"]);
    assert_eq!(
        run_p(AggOp::Quantile, 0.5, by(&["job"]), m()),
        ["{job=\"a\"} 2", "{job=\"b\"} NaN"]
    );
    assert_eq!(run_p(AggOp::Quantile, -1.0, none(), m()), ["{} -Inf"]);
    assert_eq!(run_p(AggOp::Quantile, 2.0, none(), m()), ["{} +Inf"]);
    assert_eq!(run_p(AggOp::Quantile, f64::NAN, none(), m()), ["{} NaN"]);
    assert_eq!(run_p(AggOp::Quantile, 0.75, none(), tie()), ["{} 1"]);
    let q = |p: f64, v: &[f64]| {
        let out = aggregate(AggOp::Quantile, &AggParam::Number(p), &none(), vals(v), T).unwrap();
        out[0].v
    };
    assert_eq!(q(0.25, &[5.0, 1.0, 4.0, 2.0, 3.0]), 2.0);
    assert_eq!(q(0.1, &[10.0, 0.0]), 1.0);
    assert_eq!(q(0.0, &[3.0, 1.0, 2.0]), 1.0);
    assert_eq!(q(1.0, &[3.0, 1.0, 2.0]), 3.0);
    assert_eq!(q(0.9, &[7.0]), 7.0);
    assert!(quantile(0.5, &mut []).is_nan());
}

#[test]
fn count_values_formats_values_as_go() {
    let cnt = vals(&[0.5, 0.5, 1e21, -0.0, 1e-7]);
    let out = aggregate(
        AggOp::CountValues,
        &AggParam::Label("v".into()),
        &none(),
        cnt,
        T,
    )
    .unwrap();
    assert_eq!(
        show(out),
        [
            "{v=\"0.5\"} 2",
            "{v=\"1000000000000000000000\"} 1",
            "{v=\"-0\"} 1",
            "{v=\"0.0000001\"} 1"
        ]
    );
    let cv = |name: &str, g: Grouping, input: Vec<Sample>| {
        show(
            aggregate(
                AggOp::CountValues,
                &AggParam::Label(name.into()),
                &g,
                input,
                T,
            )
            .unwrap(),
        )
    };
    let exp = [
        "{job=\"a\", v=\"1\"} 1",
        "{job=\"b\", v=\"NaN\"} 1",
        "{job=\"a\", v=\"3\"} 1",
        "{job=\"b\", v=\"5\"} 1",
    ];
    assert_eq!(cv("v", by(&["job"]), m()), exp);
    assert_eq!(cv("v", without(&["inst"]), m()), exp);
    // The value label replaces a label of the same name.
    assert_eq!(
        cv("job", none(), m()),
        [
            "{job=\"1\"} 1",
            "{job=\"NaN\"} 1",
            "{job=\"3\"} 1",
            "{job=\"5\"} 1"
        ]
    );
    // With `without`, listing the value label removes it again.
    assert_eq!(cv("i", without(&["i"]), vals(&[1.0, 2.0, 2.0])), ["{} 3"]);
    let inf = vals(&[f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY]);
    assert_eq!(cv("v", none(), inf), ["{v=\"+Inf\"} 2", "{v=\"-Inf\"} 1"]);
    assert!(cv("v", none(), vec![]).is_empty());
}

#[test]
fn count_values_refuses_invalid_label_names() {
    for bad in ["1x", "", "a-b", "é"] {
        match aggregate(
            AggOp::CountValues,
            &AggParam::Label(bad.into()),
            &none(),
            m(),
            T,
        ) {
            Err(Error::Execution(msg)) => {
                assert_eq!(msg, format!("invalid label name {}", gofmt::quote(bad)))
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    assert!(valid_label_name("_a9"));
    assert!(valid_label_name("__name__"));
}

#[test]
fn empty_input_gives_nothing() {
    for op in [
        AggOp::Sum,
        AggOp::Avg,
        AggOp::Min,
        AggOp::Max,
        AggOp::Count,
        AggOp::Group,
        AggOp::Stddev,
        AggOp::Stdvar,
    ] {
        assert!(run(op, none(), vec![]).is_empty(), "{op:?}");
        assert!(run(op, without(&["x"]), vec![]).is_empty(), "{op:?}");
    }
    for op in [AggOp::Topk, AggOp::Bottomk, AggOp::Quantile] {
        assert!(run_p(op, 1.0, none(), vec![]).is_empty(), "{op:?}");
    }
}

#[test]
fn missing_parameters_are_bad_queries() {
    for (op, p) in [
        (AggOp::Topk, AggParam::None),
        (AggOp::Bottomk, AggParam::Label("x".into())),
        (AggOp::Quantile, AggParam::None),
        (AggOp::CountValues, AggParam::Number(1.0)),
    ] {
        assert!(
            matches!(aggregate(op, &p, &none(), m(), T), Err(Error::BadQuery(_))),
            "{op:?}"
        );
    }
}

#[test]
fn many_groups_are_kept_apart() {
    let input: Vec<Sample> = (0..4000)
        .map(|i| {
            s(
                &[("g", &(i % 1000).to_string()), ("i", &i.to_string())],
                i as f64,
            )
        })
        .collect();
    let out = aggregate(AggOp::Count, &AggParam::None, &by(&["g"]), input.clone(), T).unwrap();
    assert_eq!(out.len(), 1000);
    assert!(out.iter().all(|x| x.v == 4.0));
    assert_eq!(out[7].labels, Labels::new([("g", "7")]));
    let out = aggregate(AggOp::Sum, &AggParam::None, &without(&["i"]), input, T).unwrap();
    // Group g=7 holds 7, 1007, 2007, 3007.
    assert_eq!(out[7].v, 6028.0);
}

#[test]
fn values_agree_with_prometheus_to_1e_12() {
    // Prometheus 2.42 on r = 0.1, 0.2, 0.3, 1e6, 5.5, -3.25, 7e-5.
    let r = [0.1, 0.2, 0.3, 1_000_000.0, 5.5, -3.25, 0.00007];
    let close = |got: f64, want: f64| {
        assert!((got - want).abs() <= 1e-12 * want.abs(), "{got} vs {want}");
    };
    close(one(AggOp::Stddev, &r), 3.4992693990050774e5);
    close(one(AggOp::Stdvar, &r), 1.2244886326813356e11);
    close(one(AggOp::Avg, &r), 1.4285755001e5);
    close(one(AggOp::Sum, &r), 1.00000285007e6);
    let q = aggregate(
        AggOp::Quantile,
        &AggParam::Number(0.37),
        &none(),
        vals(&r),
        T,
    )
    .unwrap();
    close(q[0].v, 1.2199999999999998e-1);
}

/// Groups kept over the steps of one node: every step answers as a fresh aggregation would
/// (groups in the order of that step's first samples, groups missing at a step left out, a
/// group back after a gap, the same input label sets again at other places), and a group's
/// labels are one shared set from step to step.
#[test]
fn groups_kept_over_steps_answer_as_each_step_alone() {
    let x = |job: &str, i: &str, v: f64| s(&[("__name__", "x"), ("job", job), ("i", i)], v);
    let steps = [
        vec![x("a", "1", 1.0), x("b", "1", 2.0), x("a", "2", 3.0)],
        vec![x("b", "1", 5.0), x("a", "1", 7.0)],
        vec![x("b", "2", 1.0)],
        vec![x("c", "1", 4.0), x("a", "2", 2.0), x("b", "1", f64::NAN)],
    ];
    for (op, g) in [
        (AggOp::Sum, by(&["job"])),
        (AggOp::Max, without(&["i"])),
        (AggOp::Avg, none()),
        (AggOp::Count, by(&["i"])),
        (AggOp::Quantile, by(&["job"])),
        (AggOp::Stddev, without(&["job"])),
    ] {
        let mut kept = Groups::default();
        let mut first_a: Option<Labels> = None;
        // The same label sets again, at the same places and elsewhere.
        let again = [&steps[0], &steps[0], &steps[1], &steps[3], &steps[0]];
        for input in steps.iter().chain(again) {
            let want = aggregate(op, &AggParam::Number(0.5), &g, input.clone(), T).unwrap();
            let mut again = input.clone();
            // An output buffer with room, as the evaluator passes its spare ones.
            let spare = Vec::with_capacity(4);
            let p = AggParam::Number(0.5);
            let got = aggregate_with(op, &p, &g, &mut again, T, &mut kept, spare).unwrap();
            assert_eq!(show(got.clone()), show(want), "{op:?} {g:?}");
            if op == AggOp::Sum {
                let a = got.iter().find(|s| s.labels.get("job") == Some("a"));
                if let (Some(prev), Some(a)) = (&first_a, a) {
                    assert!(prev.same(&a.labels), "one shared label set per group");
                }
                if first_a.is_none() {
                    first_a = a.map(|s| s.labels.clone());
                }
            }
        }
    }
}
