//! Expected values worked out by hand and checked against Prometheus 2.42 (`promtool test
//! rules` with the same series).

use super::*;
use crate::test_vectors::{m, s};

const T: i64 = 42_000;

/// n{job}: 10, 20.
fn n() -> Vec<Sample> {
    vec![
        s(&[("__name__", "n"), ("job", "a")], 10.0),
        s(&[("__name__", "n"), ("job", "b")], 20.0),
    ]
}

/// w{job="a", i, x}: 1, 2.
fn w() -> Vec<Sample> {
    vec![
        s(
            &[("__name__", "w"), ("job", "a"), ("i", "1"), ("x", "p")],
            1.0,
        ),
        s(
            &[("__name__", "w"), ("job", "a"), ("i", "2"), ("x", "q")],
            2.0,
        ),
    ]
}

/// one{job="a", x="z", y="o"}: 7.
fn one() -> Vec<Sample> {
    vec![s(
        &[("__name__", "one"), ("job", "a"), ("x", "z"), ("y", "o")],
        7.0,
    )]
}

fn strs(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

fn on(n: &[&str]) -> VectorMatching {
    VectorMatching {
        card: Cardinality::OneToOne,
        on: true,
        labels: strs(n),
    }
}

fn ignoring(n: &[&str]) -> VectorMatching {
    VectorMatching {
        card: Cardinality::OneToOne,
        on: false,
        labels: strs(n),
    }
}

fn group_left(m: VectorMatching, extra: &[&str]) -> VectorMatching {
    VectorMatching {
        card: Cardinality::ManyToOne(strs(extra)),
        ..m
    }
}

fn group_right(m: VectorMatching, extra: &[&str]) -> VectorMatching {
    VectorMatching {
        card: Cardinality::OneToMany(strs(extra)),
        ..m
    }
}

fn set(m: VectorMatching) -> VectorMatching {
    VectorMatching {
        card: Cardinality::ManyToMany,
        ..m
    }
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

fn vv(op: BinOp, l: Vec<Sample>, r: Vec<Sample>, m: &VectorMatching, b: bool) -> Vec<String> {
    show(vector_vector(op, l, r, m, b, T).unwrap())
}

fn vv_err(op: BinOp, l: Vec<Sample>, r: Vec<Sample>, m: &VectorMatching) -> String {
    match vector_vector(op, l, r, m, false, T) {
        Err(Error::Execution(msg)) => msg,
        other => panic!("{other:?}"),
    }
}

fn vs(op: BinOp, v: Vec<Sample>, x: f64, scalar_left: bool, b: bool) -> Vec<String> {
    show(vector_scalar(op, v, x, scalar_left, b, T))
}

const MANY_TO_ONE_IMPLICIT: &str =
    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)";

#[test]
fn one_to_one_arithmetic_drops_the_name() {
    let d = VectorMatching::default();
    assert_eq!(
        vv(BinOp::Div, m(), m(), &d, false),
        [
            "{inst=\"1\", job=\"a\"} 1",
            "{inst=\"1\", job=\"b\"} NaN",
            "{inst=\"2\", job=\"a\"} 1",
            "{inst=\"2\", job=\"b\"} 1"
        ]
    );
    // Different label sets do not match without a clause.
    assert!(vv(BinOp::Add, m(), n(), &d, false).is_empty());
    // ignoring(i): the result loses i.
    assert_eq!(
        vv(BinOp::Add, w(), w(), &ignoring(&["i"]), false),
        ["{job=\"a\", x=\"p\"} 2", "{job=\"a\", x=\"q\"} 4"]
    );
    // on(…): the result keeps only the `on` labels (atan2 keeps the metric name, but `on`
    // drops it here).
    let out = vv(BinOp::Atan2, m(), m(), &on(&["inst", "job"]), false);
    assert_eq!(out[0], "{inst=\"1\", job=\"a\"} 0.7853981633974483");
    assert_eq!(out[1], "{inst=\"1\", job=\"b\"} NaN");
    assert_eq!(out.len(), 4);
}

#[test]
fn arithmetic_operators_follow_go() {
    let d = VectorMatching::default();
    let pair = |op: BinOp, a: f64, b: f64| {
        let out = vector_vector(
            op,
            vec![s(&[("k", "v")], a)],
            vec![s(&[("k", "v")], b)],
            &d,
            false,
            T,
        )
        .unwrap();
        assert_eq!(out.len(), 1);
        out[0].v
    };
    assert_eq!(pair(BinOp::Add, 1.5, 2.0), 3.5);
    assert_eq!(pair(BinOp::Sub, 1.5, 2.0), -0.5);
    assert_eq!(pair(BinOp::Mul, 1.5, 2.0), 3.0);
    assert_eq!(pair(BinOp::Div, 1.0, 0.0), f64::INFINITY);
    assert!(pair(BinOp::Div, 0.0, 0.0).is_nan());
    // math.Mod: the sign of the dividend.
    assert_eq!(pair(BinOp::Mod, -7.0, 3.0), -1.0);
    assert_eq!(pair(BinOp::Mod, 7.0, -3.0), 1.0);
    assert_eq!(pair(BinOp::Mod, 5.5, 2.0), 1.5);
    assert!(pair(BinOp::Mod, 1.0, 0.0).is_nan());
    assert_eq!(pair(BinOp::Mod, 1.0, f64::INFINITY), 1.0);
    assert!(pair(BinOp::Mod, f64::INFINITY, 2.0).is_nan());
    // math.Pow special cases.
    assert_eq!(pair(BinOp::Pow, 2.0, 10.0), 1024.0);
    assert_eq!(pair(BinOp::Pow, f64::NAN, 0.0), 1.0);
    assert_eq!(pair(BinOp::Pow, 1.0, f64::NAN), 1.0);
    assert!(pair(BinOp::Pow, -8.0, 1.0 / 3.0).is_nan());
    assert_eq!(pair(BinOp::Pow, 0.0, -1.0), f64::INFINITY);
    assert_eq!(pair(BinOp::Pow, -1.0, f64::INFINITY), 1.0);
    assert_eq!(pair(BinOp::Atan2, 1.0, 1.0), std::f64::consts::FRAC_PI_4);
    assert_eq!(pair(BinOp::Atan2, 0.0, -1.0), std::f64::consts::PI);
}

#[test]
fn comparisons_filter_or_give_bool() {
    let d = VectorMatching::default();
    let l = vec![
        s(&[("__name__", "a"), ("k", "1")], 1.0),
        s(&[("__name__", "a"), ("k", "2")], 2.0),
        s(&[("__name__", "a"), ("k", "3")], f64::NAN),
    ];
    let r = vec![
        s(&[("__name__", "b"), ("k", "1")], 1.0),
        s(&[("__name__", "b"), ("k", "2")], 5.0),
        s(&[("__name__", "b"), ("k", "3")], f64::NAN),
    ];
    // Without bool: the kept samples have the left value and labels, name included.
    let cases: [(BinOp, &[&str]); 6] = [
        (BinOp::Eq, &["{__name__=\"a\", k=\"1\"} 1"]),
        (
            BinOp::Ne,
            &[
                "{__name__=\"a\", k=\"2\"} 2",
                "{__name__=\"a\", k=\"3\"} NaN",
            ],
        ),
        (BinOp::Gt, &[]),
        (BinOp::Lt, &["{__name__=\"a\", k=\"2\"} 2"]),
        (BinOp::Ge, &["{__name__=\"a\", k=\"1\"} 1"]),
        (
            BinOp::Le,
            &["{__name__=\"a\", k=\"1\"} 1", "{__name__=\"a\", k=\"2\"} 2"],
        ),
    ];
    for (op, exp) in cases {
        assert_eq!(vv(op, l.clone(), r.clone(), &d, false), exp, "{op:?}");
    }
    // With bool: 0/1 for every match, without the name.
    assert_eq!(
        vv(BinOp::Le, l.clone(), r.clone(), &d, true),
        ["{k=\"1\"} 1", "{k=\"2\"} 1", "{k=\"3\"} 0"]
    );
    assert_eq!(
        vv(BinOp::Ne, l, r, &d, true),
        ["{k=\"1\"} 0", "{k=\"2\"} 1", "{k=\"3\"} 1"]
    );
    // ignoring keeps the name for comparisons but drops the ignored labels.
    assert_eq!(
        vv(BinOp::Eq, w(), w(), &ignoring(&["i"]), false),
        [
            "{__name__=\"w\", job=\"a\", x=\"p\"} 1",
            "{__name__=\"w\", job=\"a\", x=\"q\"} 2"
        ]
    );
}

#[test]
fn group_left_and_group_right() {
    let exp = [
        "{inst=\"1\", job=\"a\"} 11",
        "{inst=\"1\", job=\"b\"} NaN",
        "{inst=\"2\", job=\"a\"} 13",
        "{inst=\"2\", job=\"b\"} 25",
    ];
    assert_eq!(
        vv(BinOp::Add, m(), n(), &group_left(on(&["job"]), &[]), false),
        exp
    );
    assert_eq!(
        vv(
            BinOp::Add,
            m(),
            n(),
            &group_left(ignoring(&["inst"]), &[]),
            false
        ),
        exp
    );
    assert_eq!(
        vv(BinOp::Add, n(), m(), &group_right(on(&["job"]), &[]), false),
        exp
    );
    // The operands keep their sides: n - m.
    assert_eq!(
        vv(BinOp::Sub, n(), m(), &group_right(on(&["job"]), &[]), false),
        [
            "{inst=\"1\", job=\"a\"} 9",
            "{inst=\"1\", job=\"b\"} NaN",
            "{inst=\"2\", job=\"a\"} 7",
            "{inst=\"2\", job=\"b\"} 15"
        ]
    );
    // Comparisons keep the "many" side's labels (with its name) and the left value.
    assert_eq!(
        vv(BinOp::Lt, m(), n(), &group_left(on(&["job"]), &[]), false),
        [
            "{__name__=\"m\", inst=\"1\", job=\"a\"} 1",
            "{__name__=\"m\", inst=\"2\", job=\"a\"} 3",
            "{__name__=\"m\", inst=\"2\", job=\"b\"} 5"
        ]
    );
    assert_eq!(
        vv(BinOp::Gt, n(), m(), &group_right(on(&["job"]), &[]), false),
        [
            "{__name__=\"m\", inst=\"1\", job=\"a\"} 10",
            "{__name__=\"m\", inst=\"2\", job=\"a\"} 10",
            "{__name__=\"m\", inst=\"2\", job=\"b\"} 20"
        ]
    );
    assert_eq!(
        vv(BinOp::Gt, n(), m(), &group_right(on(&["job"]), &[]), true),
        [
            "{inst=\"1\", job=\"a\"} 1",
            "{inst=\"1\", job=\"b\"} 0",
            "{inst=\"2\", job=\"a\"} 1",
            "{inst=\"2\", job=\"b\"} 1"
        ]
    );
    // Extra labels come from the "one" side, replacing the "many" side's.
    assert_eq!(
        vv(
            BinOp::Add,
            w(),
            one(),
            &group_left(on(&["job"]), &["x", "y"]),
            false
        ),
        [
            "{i=\"1\", job=\"a\", x=\"z\", y=\"o\"} 8",
            "{i=\"2\", job=\"a\", x=\"z\", y=\"o\"} 9"
        ]
    );
    assert_eq!(
        vv(BinOp::Add, one(), w(), &group_right(on(&[]), &["y"]), false),
        [
            "{i=\"1\", job=\"a\", x=\"p\", y=\"o\"} 8",
            "{i=\"2\", job=\"a\", x=\"q\", y=\"o\"} 9"
        ]
    );
    // … and are removed when the "one" side lacks them.
    let nope = vec![s(&[("__name__", "nope"), ("job", "a"), ("nope", "k")], 4.0)];
    assert_eq!(
        vv(
            BinOp::Add,
            nope,
            one(),
            &group_left(on(&["job"]), &["nope", "y"]),
            false
        ),
        ["{job=\"a\", y=\"o\"} 11"]
    );
}

#[test]
fn matching_errors_read_as_in_2_42() {
    // Two left samples for one right sample without group_left.
    assert_eq!(
        vv_err(BinOp::Add, m(), n(), &on(&["job"])),
        MANY_TO_ONE_IMPLICIT
    );
    // … unless a comparison filters all but one of them out (the check follows the filter).
    assert!(vv(BinOp::Gt, m(), n(), &on(&["job"]), false).is_empty());
    assert_eq!(
        vv_err(BinOp::Lt, m(), n(), &on(&["job"])),
        MANY_TO_ONE_IMPLICIT
    );
    // Duplicates on the "one" side.
    assert_eq!(
        vv_err(BinOp::Div, m(), m(), &ignoring(&["inst"])),
        // The later sample first, then the earlier one (Prometheus, whose storage gave the
        // series in another order, names the job="b" pair the same way).
        "found duplicate series for the match group {job=\"a\"} on the right hand-side of the \
         operation: [{__name__=\"m\", inst=\"2\", job=\"a\"}, {__name__=\"m\", inst=\"1\", \
         job=\"a\"}];many-to-many matching not allowed: matching labels must be unique on one \
         side"
    );
    assert_eq!(
        vv_err(BinOp::Add, n(), m(), &group_right(on(&[]), &[])),
        "found duplicate series for the match group {} on the left hand-side of the operation: \
         [{__name__=\"n\", job=\"b\"}, {__name__=\"n\", job=\"a\"}];many-to-many matching not \
         allowed: matching labels must be unique on one side"
    );
    assert_eq!(
        vv_err(BinOp::Gt, w(), w(), &on(&["job"])),
        "found duplicate series for the match group {job=\"a\"} on the right hand-side of the \
         operation: [{__name__=\"w\", i=\"2\", job=\"a\", x=\"q\"}, {__name__=\"w\", i=\"1\", \
         job=\"a\", x=\"p\"}];many-to-many matching not allowed: matching labels must be unique \
         on one side"
    );
    // group_left whose results collide.
    let dup = vec![
        s(
            &[("__name__", "dup"), ("job", "a"), ("i", "1"), ("x", "p")],
            1.0,
        ),
        s(
            &[("__name__", "dup"), ("job", "a"), ("i", "1"), ("x", "q")],
            2.0,
        ),
    ];
    assert_eq!(
        vv_err(
            BinOp::Add,
            dup.clone(),
            one(),
            &group_left(on(&["job"]), &["x"])
        ),
        "multiple matches for labels: grouping labels must ensure unique matches"
    );
    let m2 = group_left(on(&["job"]), &["x"]);
    assert!(matches!(
        vector_vector(BinOp::Gt, dup, one(), &m2, true, T),
        Err(Error::Execution(_))
    ));
    // An empty side short-circuits before any check.
    assert!(vv(BinOp::Add, m(), vec![], &ignoring(&["inst"]), false).is_empty());
    assert!(vv(BinOp::Add, vec![], m(), &ignoring(&["inst"]), false).is_empty());
    // Arithmetic with many-to-many matching is refused.
    assert!(matches!(
        vector_vector(BinOp::Add, m(), m(), &set(ignoring(&[])), false, T),
        Err(Error::Execution(_))
    ));
}

#[test]
fn set_operators_match_signatures() {
    let all_m = [
        "{__name__=\"m\", inst=\"1\", job=\"a\"} 1",
        "{__name__=\"m\", inst=\"1\", job=\"b\"} NaN",
        "{__name__=\"m\", inst=\"2\", job=\"a\"} 3",
        "{__name__=\"m\", inst=\"2\", job=\"b\"} 5",
    ];
    let all_n = [
        "{__name__=\"n\", job=\"a\"} 10",
        "{__name__=\"n\", job=\"b\"} 20",
    ];
    let d = set(ignoring(&[]));
    // Default matching: all labels but the name; m and n share no signature.
    assert!(vv(BinOp::And, m(), n(), &d, false).is_empty());
    assert_eq!(
        vv(BinOp::Or, m(), n(), &d, false),
        [&all_m[..], &all_n[..]].concat()
    );
    assert_eq!(vv(BinOp::Unless, m(), n(), &d, false), all_m);
    assert_eq!(vv(BinOp::And, m(), n(), &set(on(&["job"])), false), all_m);
    assert_eq!(
        vv(BinOp::And, m(), n(), &set(ignoring(&["inst"])), false),
        all_m
    );
    assert!(vv(BinOp::Unless, m(), n(), &set(on(&["job"])), false).is_empty());
    // or: every left sample, then right samples with a new signature.
    assert_eq!(vv(BinOp::Or, m(), n(), &set(on(&["job"])), false), all_m);
    assert_eq!(vv(BinOp::Or, n(), m(), &set(on(&["job"])), false), all_n);
    let extra = vec![
        s(&[("__name__", "n"), ("job", "c")], 30.0),
        s(&[("__name__", "n"), ("job", "a")], 40.0),
    ];
    assert_eq!(
        vv(BinOp::Or, n(), extra.clone(), &set(on(&["job"])), false),
        [
            "{__name__=\"n\", job=\"a\"} 10",
            "{__name__=\"n\", job=\"b\"} 20",
            "{__name__=\"n\", job=\"c\"} 30"
        ]
    );
    // Partial matches.
    assert_eq!(
        vv(BinOp::And, n(), extra.clone(), &set(on(&["job"])), false),
        ["{__name__=\"n\", job=\"a\"} 10"]
    );
    assert_eq!(
        vv(BinOp::Unless, n(), extra, &set(on(&["job"])), false),
        ["{__name__=\"n\", job=\"b\"} 20"]
    );
    // Duplicate signatures are fine on either side.
    assert_eq!(vv(BinOp::And, m(), m(), &set(on(&[])), false), all_m);
    // Empty sides.
    assert!(vv(BinOp::And, m(), vec![], &d, false).is_empty());
    assert!(vv(BinOp::And, vec![], m(), &d, false).is_empty());
    assert_eq!(vv(BinOp::Or, vec![], m(), &d, false), all_m);
    assert_eq!(vv(BinOp::Or, m(), vec![], &d, false), all_m);
    assert_eq!(vv(BinOp::Unless, m(), vec![], &d, false), all_m);
    assert!(vv(BinOp::Unless, vec![], m(), &d, false).is_empty());
}

#[test]
fn vector_scalar_keeps_the_vector_value_in_comparisons() {
    assert_eq!(
        vs(BinOp::Gt, m(), 2.0, false, false),
        [
            "{__name__=\"m\", inst=\"2\", job=\"a\"} 3",
            "{__name__=\"m\", inst=\"2\", job=\"b\"} 5"
        ]
    );
    // 2 < m: the vector's value, not the scalar's.
    assert_eq!(
        vs(BinOp::Lt, m(), 2.0, true, false),
        [
            "{__name__=\"m\", inst=\"2\", job=\"a\"} 3",
            "{__name__=\"m\", inst=\"2\", job=\"b\"} 5"
        ]
    );
    assert_eq!(
        vs(BinOp::Gt, m(), 2.0, false, true),
        [
            "{inst=\"1\", job=\"a\"} 0",
            "{inst=\"1\", job=\"b\"} 0",
            "{inst=\"2\", job=\"a\"} 1",
            "{inst=\"2\", job=\"b\"} 1"
        ]
    );
    assert_eq!(
        vs(BinOp::Gt, m(), 2.0, true, true),
        [
            "{inst=\"1\", job=\"a\"} 1",
            "{inst=\"1\", job=\"b\"} 0",
            "{inst=\"2\", job=\"a\"} 0",
            "{inst=\"2\", job=\"b\"} 0"
        ]
    );
    assert_eq!(vs(BinOp::Eq, m(), 3.0, true, false).len(), 1);
    assert_eq!(vs(BinOp::Ne, m(), 3.0, false, false).len(), 3);
    assert_eq!(vs(BinOp::Ge, m(), 3.0, false, false).len(), 2);
    assert_eq!(vs(BinOp::Le, m(), 3.0, false, false).len(), 2);
}

#[test]
fn vector_scalar_arithmetic_in_both_orders() {
    assert_eq!(
        vs(BinOp::Mod, m(), 2.0, false, false),
        [
            "{inst=\"1\", job=\"a\"} 1",
            "{inst=\"1\", job=\"b\"} NaN",
            "{inst=\"2\", job=\"a\"} 1",
            "{inst=\"2\", job=\"b\"} 1"
        ]
    );
    assert_eq!(
        vs(BinOp::Mod, m(), -7.0, true, false),
        [
            "{inst=\"1\", job=\"a\"} -0",
            "{inst=\"1\", job=\"b\"} NaN",
            "{inst=\"2\", job=\"a\"} -1",
            "{inst=\"2\", job=\"b\"} -2"
        ]
    );
    let vals = |op, x, left| -> Vec<String> {
        vs(op, m(), x, left, false)
            .into_iter()
            .map(|l| l.rsplit(' ').next().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(vals(BinOp::Pow, 2.0, false), ["1", "NaN", "9", "25"]);
    // Prometheus 2.42: r ^ 1.7.
    for (x, want) in [
        (0.1, 1.9952623149688802e-2),
        (1_000_000.0, 1.5848931924611128e10),
        (5.5, 1.8139134962452616e1),
        (0.00007, 8.643042887765824e-8),
    ] {
        let got = vector_scalar(BinOp::Pow, vec![s(&[], x)], 1.7, false, false, T)[0].v;
        assert!((got - want).abs() <= 1e-12 * want, "{x}: {got} vs {want}");
    }
    assert!(
        vector_scalar(BinOp::Pow, vec![s(&[], -3.25)], 1.7, false, false, T)[0]
            .v
            .is_nan()
    );
    assert_eq!(vals(BinOp::Pow, 2.0, true), ["2", "NaN", "8", "32"]);
    assert_eq!(vals(BinOp::Sub, 1.0, false), ["0", "NaN", "2", "4"]);
    assert_eq!(vals(BinOp::Sub, 1.0, true), ["0", "NaN", "-2", "-4"]);
    assert_eq!(
        vals(BinOp::Div, 0.0, false),
        ["+Inf", "NaN", "+Inf", "+Inf"]
    );
    assert_eq!(vals(BinOp::Div, 6.0, true), ["6", "NaN", "2", "1.2"]);
    assert_eq!(vals(BinOp::Add, 0.5, true), ["1.5", "NaN", "3.5", "5.5"]);
    assert_eq!(vals(BinOp::Mul, 2.0, false), ["2", "NaN", "6", "10"]);
    // atan2 keeps the metric name (2.42 drops it only for + - * / % ^).
    assert_eq!(
        vs(BinOp::Atan2, m(), 2.0, false, false)[0],
        "{__name__=\"m\", inst=\"1\", job=\"a\"} 0.4636476090008061"
    );
    assert_eq!(
        vs(BinOp::Atan2, m(), 2.0, true, false)[0],
        "{__name__=\"m\", inst=\"1\", job=\"a\"} 1.1071487177940904"
    );
    assert!(vs(BinOp::And, m(), 1.0, false, false).is_empty());
    assert!(vs(BinOp::Add, vec![], 1.0, false, false).is_empty());
}

#[test]
fn scalar_scalar_operators() {
    let ok = |op, a, b, bl| scalar_scalar(op, a, b, bl).unwrap();
    assert_eq!(ok(BinOp::Add, 1.0, 2.0, false), 3.0);
    assert_eq!(ok(BinOp::Sub, 1.0, 2.0, false), -1.0);
    assert_eq!(ok(BinOp::Mul, 1.5, 2.0, false), 3.0);
    assert_eq!(ok(BinOp::Div, 1.0, 0.0, false), f64::INFINITY);
    assert_eq!(ok(BinOp::Mod, -7.0, 3.0, false), -1.0);
    assert_eq!(ok(BinOp::Pow, 2.0, -1.0, false), 0.5);
    assert_eq!(
        ok(BinOp::Atan2, 1.0, 0.0, false),
        std::f64::consts::FRAC_PI_2
    );
    assert_eq!(ok(BinOp::Eq, 1.0, 1.0, true), 1.0);
    assert_eq!(ok(BinOp::Eq, f64::NAN, f64::NAN, true), 0.0);
    assert_eq!(ok(BinOp::Ne, f64::NAN, f64::NAN, true), 1.0);
    assert_eq!(ok(BinOp::Gt, 2.0, 1.0, true), 1.0);
    assert_eq!(ok(BinOp::Lt, 2.0, 1.0, true), 0.0);
    assert_eq!(ok(BinOp::Ge, 1.0, 1.0, true), 1.0);
    assert_eq!(ok(BinOp::Le, 2.0, 1.0, true), 0.0);
    assert!(matches!(
        scalar_scalar(BinOp::Gt, 2.0, 1.0, false),
        Err(Error::BadQuery(_))
    ));
    match scalar_scalar(BinOp::And, 2.0, 1.0, false) {
        Err(Error::BadQuery(msg)) => assert_eq!(
            msg,
            "set operator \"and\" not allowed in binary scalar expression"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn many_series_match_through_the_hash_index() {
    // 3000 series against 1000 "one" samples: each of the 1000 matched three times.
    let many: Vec<Sample> = (0..3000)
        .map(|i| {
            s(
                &[
                    ("__name__", "a"),
                    ("g", &(i % 1000).to_string()),
                    ("i", &i.to_string()),
                ],
                i as f64,
            )
        })
        .collect();
    let ones: Vec<Sample> = (0..1000)
        .map(|g| {
            s(
                &[("__name__", "b"), ("g", &g.to_string())],
                1000.0 * g as f64,
            )
        })
        .collect();
    let out = vector_vector(
        BinOp::Add,
        many.clone(),
        ones.clone(),
        &group_left(on(&["g"]), &[]),
        false,
        T,
    )
    .unwrap();
    assert_eq!(out.len(), 3000);
    for x in &out {
        let i: f64 = x.labels.get("i").unwrap().parse().unwrap();
        let g: f64 = x.labels.get("g").unwrap().parse().unwrap();
        assert_eq!(x.v, i + 1000.0 * g);
        assert_eq!(x.labels.name(), None);
    }
    let out = vector_vector(
        BinOp::And,
        many,
        ones[..10].to_vec(),
        &set(on(&["g"])),
        false,
        T,
    )
    .unwrap();
    assert_eq!(out.len(), 30);
}

#[test]
fn duplicate_result_labels_are_found() {
    let two_names = vec![
        s(&[("__name__", "a"), ("k", "1")], 1.0),
        s(&[("__name__", "b"), ("k", "1")], 2.0),
    ];
    assert!(ensure_unique_labels(&two_names).is_ok());
    let out = vector_scalar(BinOp::Mul, two_names, 2.0, false, false, T);
    match ensure_unique_labels(&out) {
        Err(Error::Execution(msg)) => {
            assert_eq!(msg, "vector cannot contain metrics with the same labelset")
        }
        other => panic!("{other:?}"),
    }
    assert!(ensure_unique_labels(&[]).is_ok());
    assert!(ensure_unique_labels(&m()).is_ok());
}

/// Result labels kept by a binary node over steps: every step answers as a fresh evaluation
/// would, including when the same "many" label set meets another "one" set (its
/// `group_left` labels differ), and a pair met again gives the very same shared result set.
#[test]
fn result_labels_kept_over_steps_answer_as_each_step_alone() {
    let one_b = vec![s(
        &[
            ("__name__", "one"),
            ("job", "a"),
            ("x", "other"),
            ("y", "o"),
        ],
        9.0,
    )];
    let (w, o) = (w(), one());
    for (op, matching, rb) in [
        (BinOp::Mul, group_left(on(&["job"]), &["y"]), false),
        (
            BinOp::Sub,
            group_left(ignoring(&["i", "x", "y"]), &["x"]),
            false,
        ),
        (BinOp::Gt, group_left(on(&["job"]), &[]), true),
        (BinOp::Div, group_right(on(&["job"]), &["i"]), false),
    ] {
        let (l, r) = match matching.card {
            Cardinality::OneToMany(_) => ((o.clone(), w.clone()), (one_b.clone(), w.clone())),
            _ => ((w.clone(), o.clone()), (w.clone(), one_b.clone())),
        };
        let mut made = Results::default();
        let mut steps = Vec::new();
        for (lhs, rhs) in [l.clone(), l.clone(), r, l] {
            let want = vector_vector(op, lhs.clone(), rhs.clone(), &matching, rb, T);
            let got = vector_vector_with(op, lhs, rhs, &matching, rb, T, &mut made);
            let (want, got) = (want.unwrap(), got.unwrap());
            assert_eq!(got, want, "{op:?} {matching:?}");
            steps.push(got);
        }
        // Steps 1 and 3 have step 0's inputs (the same shared label sets).
        for i in [1, 3] {
            assert!(!steps[i].is_empty());
            let shared = steps[0].iter().zip(&steps[i]);
            assert!(shared.clone().all(|(a, b)| a.labels.same(&b.labels)));
        }
    }
}

/// A node's kept matching (the "one" side's table, the "many" side's matches) answers as a
/// fresh evaluation at every step while the "one" side keeps its label sets, loses one, gets
/// another set with the same labels, gains a duplicate, and comes back.
#[test]
fn kept_matching_follows_a_changing_one_side() {
    let (nn, ww) = (n(), w());
    let other_a = s(&[("__name__", "n"), ("job", "a")], 99.0);
    let dup = s(&[("__name__", "n2"), ("job", "a")], 5.0);
    for matching in [on(&["job"]), group_left(on(&["job"]), &[])] {
        let (lhs_base, rhs_base) = if matching.card == Cardinality::OneToOne {
            (nn.clone(), nn.clone())
        } else {
            (ww.clone(), nn.clone())
        };
        let steps: Vec<Vec<Sample>> = vec![
            rhs_base.clone(),
            rhs_base.clone(),
            // job a gone: its matches must go too.
            rhs_base[1..].to_vec(),
            // job a again, as another shared set with the same labels and another value.
            vec![other_a.clone(), rhs_base[1].clone()],
            // Two series for job a on the "one" side: refused.
            vec![rhs_base[0].clone(), dup.clone(), rhs_base[1].clone()],
            rhs_base.clone(),
        ];
        let mut made = Results::default();
        for (k, rhs) in steps.into_iter().enumerate() {
            let want = vector_vector(
                BinOp::Sub,
                lhs_base.clone(),
                rhs.clone(),
                &matching,
                false,
                T,
            );
            let got = vector_vector_with(
                BinOp::Sub,
                lhs_base.clone(),
                rhs,
                &matching,
                false,
                T,
                &mut made,
            );
            match (want, got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w, "step {k}, {matching:?}"),
                (Err(w), Err(g)) => {
                    assert_eq!(g.to_string(), w.to_string(), "step {k}");
                    assert_eq!(k, 4, "only the duplicate step fails");
                }
                (w, g) => panic!("step {k}: {w:?} against {g:?}"),
            }
        }
    }
}
