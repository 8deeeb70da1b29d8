//! Tests of the instant functions. Values marked "2.42" were read from /usr/bin/prometheus
//! 2.42.0 (`/api/v1/query` over data loaded with `promtool tsdb create-blocks-from
//! openmetrics`, or over `vector(…)` literals).

use super::instant::{Arg, Out, call};
use crate::{Error, Labels, Sample};

const T: i64 = 1_700_000_055_000;

fn s(pairs: &[(&str, &str)], t: i64, v: f64) -> Sample {
    Sample {
        labels: Labels::new(pairs.iter().copied()),
        t,
        v,
    }
}

fn vec1(v: f64) -> Arg {
    Arg::Vector(vec![s(&[], T, v)])
}

fn str_arg(x: &str) -> Arg {
    Arg::String(x.to_owned())
}

fn vector(out: Out) -> Vec<Sample> {
    match out {
        Out::Vector(v) => v,
        Out::Scalar(x) => panic!("scalar {x}"),
    }
}

fn one(name: &str, args: Vec<Arg>) -> f64 {
    let v = vector(call(name, args, T).unwrap());
    assert_eq!(v.len(), 1, "{name}");
    assert_eq!(v[0].t, T);
    v[0].v
}

fn err(name: &str, args: Vec<Arg>) -> String {
    match call(name, args, T) {
        Err(e @ Error::Execution(_)) => e.to_string(),
        other => panic!("{name}: {other:?}"),
    }
}

/// The series `{job="a"}` of the 2.42 test data at T (input order: by labels).
fn job_a() -> Vec<Sample> {
    let a = |name: &str, le: Option<&str>, v: f64| {
        let mut l = vec![("__name__", name), ("job", "a")];
        if let Some(le) = le {
            l.push(("le", le));
        }
        s(&l, T - 5_000, v)
    };
    vec![
        a("ctr", None, 5.0),
        a("g", None, f64::NAN),
        a("ginf", None, 3.0),
        a("h_bucket", Some("+Inf"), 10.0),
        a("h_bucket", Some("0.1"), 1.0),
        a("h_bucket", Some("0.5"), 4.0),
        a("h_bucket", Some("1"), 3.0),
        a("neg", None, 1.0),
    ]
}

#[test]
// The literals are what Prometheus printed, kept as printed.
#[allow(clippy::approx_constant)]
fn math_as_2_42() {
    // 2.42
    assert_eq!(one("log10", vec![vec1(1000.0)]), 3.0);
    assert_eq!(one("log2", vec![vec1(8.0)]), 3.0);
    assert_eq!(one("log2", vec![vec1(10.0)]), 3.321928094887362);
    assert_eq!(one("ln", vec![vec1(10.0)]), 2.302585092994046);
    // Go's own exp is one ulp off the correctly rounded 4.4816890703380645 here; the
    // differential tolerance (1e-9 relative) absorbs it.
    let x = one("exp", vec![vec1(1.5)]);
    assert!((x - 4.481689070338065).abs() <= 1e-15, "{x}");
    assert_eq!(one("deg", vec![vec1(1.0)]), 57.29577951308232);
    assert_eq!(one("rad", vec![vec1(90.0)]), 1.5707963267948966);
    assert_eq!(one("round", vec![vec1(2.5)]), 3.0);
    assert_eq!(one("round", vec![vec1(-2.5)]), -2.0);
    assert_eq!(one("round", vec![vec1(1.23456), Arg::Scalar(0.01)]), 1.23);
    assert_eq!(one("round", vec![vec1(17.0), Arg::Scalar(5.0)]), 15.0);
    assert!(one("round", vec![vec1(17.0), Arg::Scalar(0.0)]).is_nan());
    assert_eq!(one("sgn", vec![vec1(-0.5)]), -1.0);
    // by hand
    assert_eq!(one("sgn", vec![vec1(3.0)]), 1.0);
    assert!(one("sgn", vec![vec1(f64::NAN)]).is_nan());
    assert_eq!(one("abs", vec![vec1(-2.0)]), 2.0);
    assert_eq!(one("ceil", vec![vec1(1.2)]), 2.0);
    assert_eq!(one("floor", vec![vec1(-1.2)]), -2.0);
    assert_eq!(one("sqrt", vec![vec1(9.0)]), 3.0);
    assert!(one("sqrt", vec![vec1(-1.0)]).is_nan());
    assert_eq!(one("ln", vec![vec1(0.0)]), f64::NEG_INFINITY);
    assert_eq!(one("log10", vec![vec1(0.0)]), f64::NEG_INFINITY);
    assert_eq!(one("log2", vec![vec1(f64::INFINITY)]), f64::INFINITY);
    assert!(one("log2", vec![vec1(-1.0)]).is_nan());
    assert_eq!(one("log2", vec![vec1(f64::MIN_POSITIVE / 4.0)]), -1024.0);
    assert_eq!(one("cos", vec![vec1(0.0)]), 1.0);
    assert_eq!(one("atanh", vec![vec1(1.0)]), f64::INFINITY);
    assert!(one("acos", vec![vec1(2.0)]).is_nan());
    for f in ["sin", "tan", "asin", "atan", "sinh", "tanh", "asinh"] {
        assert_eq!(one(f, vec![vec1(0.0)]), 0.0, "{f}");
    }
    assert_eq!(one("cosh", vec![vec1(0.0)]), 1.0);
    assert_eq!(one("acosh", vec![vec1(1.0)]), 0.0);
}

#[test]
fn scalars_and_vector() {
    assert_eq!(
        call("time", vec![], T).unwrap(),
        Out::Scalar(1_700_000_055.0)
    );
    assert_eq!(
        call("pi", vec![], T).unwrap(),
        Out::Scalar(std::f64::consts::PI)
    );
    assert_eq!(
        call("scalar", vec![vec1(41.0)], T).unwrap(),
        Out::Scalar(41.0)
    );
    let two = Arg::Vector(vec![s(&[("a", "1")], T, 1.0), s(&[("a", "2")], T, 2.0)]);
    match call("scalar", vec![two], T).unwrap() {
        Out::Scalar(x) => assert!(x.is_nan()),
        o => panic!("{o:?}"),
    }
    match call("scalar", vec![Arg::Vector(vec![])], T).unwrap() {
        Out::Scalar(x) => assert!(x.is_nan()),
        o => panic!("{o:?}"),
    }
    let v = vector(call("vector", vec![Arg::Scalar(7.0)], T).unwrap());
    assert_eq!(v, vec![s(&[], T, 7.0)]);
}

#[test]
fn value_functions_drop_the_name_and_stamp_the_evaluation_time() {
    let input = vec![s(&[("__name__", "g"), ("job", "a")], T - 20_000, -4.0)];
    let v = vector(call("abs", vec![Arg::Vector(input.clone())], T).unwrap());
    assert_eq!(v, vec![s(&[("job", "a")], T, 4.0)]);
    // timestamp: the input sample's time, in seconds (2.42: `timestamp(ctr)` → the point's
    // own time).
    let v = vector(call("timestamp", vec![Arg::Vector(input)], T).unwrap());
    assert_eq!(v, vec![s(&[("job", "a")], T, 1_700_000_035.0)]);
}

#[test]
fn same_labels_after_dropping_the_name_is_an_error() {
    // 2.42: `abs({job="a"})` and `timestamp({job="a"})`.
    for f in ["abs", "timestamp", "ceil", "year"] {
        assert_eq!(
            err(f, vec![Arg::Vector(job_a())]),
            "vector cannot contain metrics with the same labelset"
        );
    }
    // 2.42: `label_replace({job="a"}, "job", "z", "job", ".*")` keeps the names: fine.
    let v = vector(
        call(
            "label_replace",
            vec![
                Arg::Vector(job_a()),
                str_arg("job"),
                str_arg("z"),
                str_arg("job"),
                str_arg(".*"),
            ],
            T,
        )
        .unwrap(),
    );
    assert_eq!(v.len(), 8);
    assert!(
        v.iter()
            .all(|s| s.labels.get("job") == Some("z") && s.t == T)
    );
    // ...but mapping two series onto one label set is an error.
    let two = vec![s(&[("a", "1")], T, 1.0), s(&[("a", "2")], T, 2.0)];
    let e = err(
        "label_replace",
        vec![
            Arg::Vector(two),
            str_arg("a"),
            str_arg("x"),
            str_arg("a"),
            str_arg(".*"),
        ],
    );
    assert_eq!(e, "vector cannot contain metrics with the same labelset");
}

fn names_and_values(v: &[Sample]) -> Vec<(String, String)> {
    v.iter()
        .map(|s| {
            let le = s
                .labels
                .get("le")
                .map(|l| format!("/{l}"))
                .unwrap_or_default();
            (format!("{}{le}", s.labels.name().unwrap()), s.v.to_string())
        })
        .collect()
}

#[test]
fn sort_as_2_42() {
    // 2.42: `sort({job="a"})` and `sort_desc({job="a"})`: equal values keep their input
    // order, NaN last in both directions, names kept.
    let v = vector(call("sort", vec![Arg::Vector(job_a())], T).unwrap());
    let want = [
        ("h_bucket/0.1", "1"),
        ("neg", "1"),
        ("ginf", "3"),
        ("h_bucket/1", "3"),
        ("h_bucket/0.5", "4"),
        ("ctr", "5"),
        ("h_bucket/+Inf", "10"),
        ("g", "NaN"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(names_and_values(&v), want);
    assert!(v.iter().all(|s| s.t == T));
    let v = vector(call("sort_desc", vec![Arg::Vector(job_a())], T).unwrap());
    let want = [
        ("h_bucket/+Inf", "10"),
        ("ctr", "5"),
        ("h_bucket/0.5", "4"),
        ("ginf", "3"),
        ("h_bucket/1", "3"),
        ("h_bucket/0.1", "1"),
        ("neg", "1"),
        ("g", "NaN"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(names_and_values(&v), want);
}

#[test]
fn clamp_as_2_42() {
    let g = || Arg::Vector(vec![s(&[("__name__", "g"), ("job", "a")], T, 4.0)]);
    // 2.42: clamp(g, 0, 3) = 3, clamp(g, 3, 0) = {}, clamp_max(g, 0) = 0, names dropped.
    let v = vector(call("clamp", vec![g(), Arg::Scalar(0.0), Arg::Scalar(3.0)], T).unwrap());
    assert_eq!(v, vec![s(&[("job", "a")], T, 3.0)]);
    let v = vector(call("clamp", vec![g(), Arg::Scalar(3.0), Arg::Scalar(0.0)], T).unwrap());
    assert!(v.is_empty());
    assert_eq!(one("clamp_max", vec![g(), Arg::Scalar(0.0)]), 0.0);
    assert_eq!(one("clamp_min", vec![g(), Arg::Scalar(30.0)]), 30.0);
    // NaN in either place gives NaN (Go's math.Max/Min).
    assert!(one("clamp_min", vec![vec1(f64::NAN), Arg::Scalar(1.0)]).is_nan());
    assert!(one("clamp_max", vec![vec1(1.0), Arg::Scalar(f64::NAN)]).is_nan());
    assert!(
        one(
            "clamp",
            vec![vec1(1.0), Arg::Scalar(f64::NAN), Arg::Scalar(2.0)]
        )
        .is_nan()
    );
    assert_eq!(
        one(
            "clamp_max",
            vec![vec1(f64::NAN), Arg::Scalar(f64::NEG_INFINITY)]
        ),
        f64::NEG_INFINITY
    );
}

fn replace(v: Vec<Sample>, dst: &str, repl: &str, src: &str, re: &str) -> Result<Out, Error> {
    call(
        "label_replace",
        vec![
            Arg::Vector(v),
            str_arg(dst),
            str_arg(repl),
            str_arg(src),
            str_arg(re),
        ],
        T,
    )
}

fn ctr() -> Vec<Sample> {
    vec![s(&[("__name__", "ctr"), ("job", "a")], T - 10_000, 41.0)]
}

fn labels_of(out: Result<Out, Error>) -> Vec<(String, String)> {
    let v = vector(out.unwrap());
    assert_eq!(v.len(), 1);
    v[0].labels
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn l(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn label_replace_as_2_42() {
    // Every expectation here is 2.42's answer to the same call.
    assert_eq!(
        labels_of(replace(ctr(), "dst", "x-$1-${2}y-$1x", "job", "(.)(.*)")),
        l(&[("__name__", "ctr"), ("dst", "x-a-y-"), ("job", "a")])
    );
    assert_eq!(
        labels_of(replace(ctr(), "job", "", "job", "a")),
        l(&[("__name__", "ctr")])
    );
    assert_eq!(
        labels_of(replace(ctr(), "job", "b", "job", "b")),
        l(&[("__name__", "ctr"), ("job", "a")])
    );
    assert_eq!(
        labels_of(replace(ctr(), "__name__", "new", "job", ".*")),
        l(&[("__name__", "new"), ("job", "a")])
    );
    assert_eq!(
        labels_of(replace(
            ctr(),
            "d",
            "$0|$00|$1a|${1}a|$$|$|${x",
            "job",
            "(?P<x>a)"
        )),
        l(&[("__name__", "ctr"), ("d", "a|||aa|$|$|${x"), ("job", "a")])
    );
    assert_eq!(
        labels_of(replace(ctr(), "d", "${x}-$x", "job", "(?P<x>a)")),
        l(&[("__name__", "ctr"), ("d", "a-a"), ("job", "a")])
    );
    assert_eq!(
        labels_of(replace(ctr(), "d", "1", "job", "\\w")),
        l(&[("__name__", "ctr"), ("d", "1"), ("job", "a")])
    );
    // A missing source label is the empty string, which the empty regex matches.
    assert_eq!(
        labels_of(replace(vec![s(&[], T, 1.0)], "d", "yes", "nope", "")),
        l(&[("d", "yes")])
    );
    let e = |r: Result<Out, Error>| match r {
        Err(e @ Error::Execution(_)) => e.to_string(),
        o => panic!("{o:?}"),
    };
    assert_eq!(
        e(replace(ctr(), "1bad", "b", "job", "b")),
        "invalid destination label name in label_replace(): 1bad"
    );
    assert_eq!(
        e(replace(ctr(), "dst", "b", "job", "(")),
        "invalid regular expression in label_replace(): ("
    );
    // The checks run even on an empty vector.
    assert_eq!(
        e(replace(vec![], "dst", "b", "job", "(")),
        "invalid regular expression in label_replace(): ("
    );
}

fn join(v: Vec<Sample>, dst: &str, sep: &str, srcs: &[&str]) -> Result<Out, Error> {
    let mut args = vec![Arg::Vector(v), str_arg(dst), str_arg(sep)];
    args.extend(srcs.iter().map(|x| str_arg(x)));
    call("label_join", args, T)
}

#[test]
fn label_join_as_2_42() {
    assert_eq!(
        labels_of(join(ctr(), "dst", "-", &["job", "__name__", "nope"])),
        l(&[("__name__", "ctr"), ("dst", "a-ctr-"), ("job", "a")])
    );
    assert_eq!(
        labels_of(join(ctr(), "dst", "-", &["nope"])),
        l(&[("__name__", "ctr"), ("job", "a")])
    );
    // No source label: the destination is removed.
    assert_eq!(
        labels_of(join(ctr(), "job", "-", &[])),
        l(&[("__name__", "ctr")])
    );
    let e = |r: Result<Out, Error>| r.unwrap_err().to_string();
    assert_eq!(
        e(join(ctr(), "dst", "-", &["1x"])),
        "invalid source label name in label_join(): 1x"
    );
    assert_eq!(
        e(join(ctr(), "1x", "-", &["job"])),
        "invalid destination label name in label_join(): 1x"
    );
}

#[test]
fn dates_as_2_42() {
    // 2.42
    assert_eq!(one("year", vec![vec1(1e10)]), 2286.0);
    assert_eq!(one("day_of_week", vec![vec1(-1.0)]), 3.0);
    assert_eq!(one("days_in_month", vec![vec1(951_782_400.0)]), 29.0);
    assert_eq!(one("day_of_year", vec![vec1(1_709_251_199.0)]), 60.0);
    assert_eq!(one("hour", vec![vec1(-0.5)]), 0.0);
    assert_eq!(one("minute", vec![vec1(1_709_251_199.9)]), 59.0);
    assert_eq!(one("month", vec![vec1(-1e11)]), 2.0);
    assert_eq!(one("year", vec![vec1(-1e11)]), -1199.0);
    // 2.42: `year()` at 1700000055 is 2023; with no argument the sample has no labels.
    let v = vector(call("year", vec![], T).unwrap());
    assert_eq!(v, vec![s(&[], T, 2023.0)]);
    // 2.42: NaN (and ±Inf, and out-of-range values) all read as Go's int64 minimum.
    for (f, want) in [
        ("year", 292_277_026_596.0),
        ("month", 12.0),
        ("day_of_month", 4.0),
        ("day_of_week", 0.0),
        ("day_of_year", 339.0),
        ("days_in_month", 31.0),
        ("hour", 15.0),
        ("minute", 30.0),
    ] {
        assert_eq!(one(f, vec![vec1(f64::NAN)]), want, "{f}");
        assert_eq!(one(f, vec![vec1(1e300)]), want, "{f}");
    }
    // Names are dropped.
    let v = vector(
        call(
            "hour",
            vec![Arg::Vector(vec![s(
                &[("__name__", "x"), ("a", "1")],
                0,
                3600.0,
            )])],
            T,
        )
        .unwrap(),
    );
    assert_eq!(v, vec![s(&[("a", "1")], T, 1.0)]);
}

fn buckets(job: &str, name: &str, bs: &[(&str, f64)]) -> Vec<Sample> {
    bs.iter()
        .map(|(le, v)| s(&[("__name__", name), ("job", job), ("le", le)], T, *v))
        .collect()
}

fn hq(q: f64, input: Vec<Sample>) -> Vec<(String, f64)> {
    let v = vector(
        call(
            "histogram_quantile",
            vec![Arg::Scalar(q), Arg::Vector(input)],
            T,
        )
        .unwrap(),
    );
    let mut out: Vec<(String, f64)> = v
        .iter()
        .map(|s| {
            assert_eq!(s.labels.name(), None);
            assert_eq!(s.labels.get("le"), None);
            assert_eq!(s.t, T);
            (s.labels.get("job").unwrap_or("").to_owned(), s.v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn h_data() -> Vec<Sample> {
    let mut v = buckets(
        "a",
        "h_bucket",
        &[("0.1", 1.0), ("0.5", 4.0), ("1", 3.0), ("+Inf", 10.0)],
    );
    v.extend(buckets("b", "h_bucket", &[("0.1", 1.0), ("0.5", 4.0)]));
    v.extend(buckets(
        "c",
        "h_bucket",
        &[("-1", 2.0), ("0", 2.0), ("1", 5.0), ("+Inf", 6.0)],
    ));
    // Not a bucket: skipped.
    v.push(s(&[("__name__", "ctr"), ("job", "d")], T, 5.0));
    v
}

fn same(a: &[(String, f64)], b: &[(&str, f64)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((j, x), (k, y))| j == k && (x == y || (x.is_nan() && y.is_nan())))
}

#[test]
fn histogram_quantile_as_2_42() {
    let nan = f64::NAN;
    let inf = f64::INFINITY;
    // 2.42 over the same buckets (a: non-monotonic, b: no +Inf bucket, c: negative bounds).
    for (q, want) in [
        (0.5, [("a", 1.0), ("b", nan), ("c", 0.3333333333333333)]),
        (0.05, [("a", 0.05), ("b", nan), ("c", -1.0)]),
        (0.95, [("a", 1.0), ("b", nan), ("c", 1.0)]),
        (1.0, [("a", 1.0), ("b", nan), ("c", 1.0)]),
        (0.0, [("a", 0.0), ("b", nan), ("c", -1.0)]),
        (nan, [("a", nan), ("b", nan), ("c", nan)]),
        (-1.0, [("a", -inf), ("b", -inf), ("c", -inf)]),
        (2.0, [("a", inf), ("b", inf), ("c", inf)]),
    ] {
        let got = hq(q, h_data());
        assert!(same(&got, &want), "q={q}: {got:?}");
    }
}

#[test]
fn histogram_quantile_edges() {
    // Only the +Inf bucket: fewer than two buckets.
    assert!(hq(0.5, buckets("a", "h", &[("+Inf", 3.0)]))[0].1.is_nan());
    // No observations.
    assert!(
        hq(0.5, buckets("a", "h", &[("1", 0.0), ("+Inf", 0.0)]))[0]
            .1
            .is_nan()
    );
    // Rank in the +Inf bucket: the largest finite bound.
    assert_eq!(
        hq(
            0.9,
            buckets("a", "h", &[("1", 1.0), ("2", 2.0), ("+Inf", 10.0)])
        )[0]
        .1,
        2.0
    );
    // Bounds that mean the same number are merged; unparsable and overflowing ones skipped.
    let v = buckets(
        "a",
        "h",
        &[
            ("1", 1.0),
            ("1.0", 1.0),
            ("x", 50.0),
            ("1e400", 7.0),
            ("+Inf", 4.0),
        ],
    );
    // Buckets 1 → 2, +Inf → 4: φ = 0.25 is rank 1 in (0, 1]: 0.5.
    assert_eq!(hq(0.25, v)[0].1, 0.5);
    // Series with different names are different histograms; with the name dropped they
    // collide, as in 2.42.
    let mut v = buckets("a", "h1", &[("1", 1.0), ("+Inf", 2.0)]);
    v.extend(buckets("a", "h2", &[("1", 1.0), ("+Inf", 2.0)]));
    assert_eq!(
        err("histogram_quantile", vec![Arg::Scalar(0.5), Arg::Vector(v)]),
        "vector cannot contain metrics with the same labelset"
    );
    // Native-histogram functions see nothing in classic series.
    let v = vector(call("histogram_count", vec![Arg::Vector(h_data())], T).unwrap());
    assert!(v.is_empty());
}

#[test]
fn bad_arguments_are_errors_not_panics() {
    assert!(matches!(call("abs", vec![], T), Err(Error::BadQuery(_))));
    assert!(matches!(
        call("abs", vec![Arg::Scalar(1.0)], T),
        Err(Error::BadQuery(_))
    ));
    assert!(matches!(
        call("clamp", vec![vec1(1.0)], T),
        Err(Error::BadQuery(_))
    ));
    assert!(matches!(
        call("label_join", vec![vec1(1.0)], T),
        Err(Error::BadQuery(_))
    ));
    assert!(matches!(
        call("vector", vec![vec1(1.0)], T),
        Err(Error::BadQuery(_))
    ));
    assert!(matches!(
        call("absent", vec![vec1(1.0)], T),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        call("nope", vec![], T),
        Err(Error::Unsupported(_))
    ));
}

fn order_after(name: &str, n: usize, val: impl Fn(usize) -> f64) -> String {
    let input: Vec<Sample> = (0..n)
        .map(|i| s(&[("__name__", "x"), ("i", &format!("{i:02}"))], T, val(i)))
        .collect();
    let v = vector(call(name, vec![Arg::Vector(input)], T).unwrap());
    v.iter()
        .map(|s| s.labels.get("i").unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn sort_of_many_ties_and_nans_in_go_order() {
    // 2.42 over 60 and 20 series (input in label order) with many equal values and NaNs:
    // the orders Go's pattern-defeating quicksort leaves them in.
    let srt = |i: usize| {
        if i % 11 == 3 {
            f64::NAN
        } else {
            ((i * 7) % 5) as f64
        }
    };
    let srtb = |i: usize| {
        if i == 4 || i == 9 {
            f64::NAN
        } else {
            ((20 - i) / 3) as f64
        }
    };
    assert_eq!(
        order_after("sort", 60, srt),
        "10 00 20 35 30 05 45 55 15 40 50 48 53 13 33 08 43 38 18 28 23 31 11 21 56 01 26 51 \
         46 06 41 16 09 29 34 59 24 54 49 39 04 19 44 07 52 57 27 17 22 12 42 37 32 02 58 14 \
         36 03 47 25"
    );
    assert_eq!(
        order_after("sort_desc", 60, srt),
        "42 27 02 57 17 32 52 07 37 12 22 44 09 39 49 34 54 04 29 19 59 24 46 41 21 01 26 56 \
         06 51 11 31 16 18 43 53 28 33 38 13 08 23 48 40 20 35 00 05 30 15 50 10 55 45 25 58 \
         03 14 36 47"
    );
    assert_eq!(
        order_after("sort", 20, srtb),
        "19 18 17 16 15 12 14 13 10 11 08 07 06 05 03 00 02 01 04 09"
    );
    assert_eq!(
        order_after("sort_desc", 20, srtb),
        "01 02 00 03 05 08 06 07 10 11 12 13 14 15 16 17 18 19 04 09"
    );
}
