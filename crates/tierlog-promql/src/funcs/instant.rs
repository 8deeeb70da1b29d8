//! Functions over instant vectors, scalars and strings, at one evaluation step.
//!
//! Semantics are Prometheus 2.42's: functions that compute new values drop the metric name;
//! `label_replace`, `label_join`, `sort` and `sort_desc` keep it. Every output sample carries
//! the evaluation time `t`, and a vector result whose labels repeat (e.g. `abs(a or b)` after
//! the names are dropped, or `label_replace` mapping two series to one) is
//! `Error::Execution("vector cannot contain metrics with the same labelset")`.

use super::date::{Civil, civil, go_int64};
use super::gosort::go_sort;
use super::{histogram, labels};
use crate::{Error, Result, Sample};

/// An evaluated argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A scalar.
    Scalar(f64),
    /// A string literal.
    String(String),
    /// An instant vector.
    Vector(Vec<Sample>),
}

/// What an instant function returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// A scalar.
    Scalar(f64),
    /// An instant vector.
    Vector(Vec<Sample>),
}

/// The names [`call`] answers (the instant functions of Prometheus 2.42, without `absent`,
/// which the evaluator answers from the expression).
pub const NAMES: &[&str] = &[
    "abs",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "ceil",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "exp",
    "floor",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_sum",
    "hour",
    "label_join",
    "label_replace",
    "ln",
    "log10",
    "log2",
    "minute",
    "month",
    "pi",
    "rad",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
];

/// Calls function `name` on `args` at evaluation time `t` (ms).
///
/// Arguments come in the order of the call. Optional ones may be left out: `round`'s
/// `to_nearest` (default 1) and the date functions' vector (default `vector(time())`).
/// `histogram_count`, `histogram_sum` and `histogram_fraction` only read native histograms,
/// which tierlog does not store: they give an empty vector, as 2.42 does for classic series.
pub fn call(name: &str, args: Vec<Arg>, t: i64) -> Result<Out> {
    let out = call_unchecked(name, args, t)?;
    if let Out::Vector(v) = &out {
        check_unique(v)?;
    }
    Ok(out)
}

/// [`call`] without the final check that the vector's label sets are unique: for a caller
/// that checks it itself (the evaluator does, skipping a step whose label sets are the
/// previous step's).
pub(crate) fn call_unchecked(name: &str, args: Vec<Arg>, t: i64) -> Result<Out> {
    let out = match name {
        "time" => return Ok(Out::Scalar(t as f64 / 1000.0)),
        "pi" => return Ok(Out::Scalar(std::f64::consts::PI)),
        "scalar" => {
            let [Arg::Vector(v)] = &args[..] else {
                return Err(bad_args(name));
            };
            return Ok(Out::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }));
        }
        "vector" => {
            let [Arg::Scalar(s)] = args[..] else {
                return Err(bad_args(name));
            };
            vec![Sample {
                labels: Default::default(),
                t,
                v: s,
            }]
        }
        "abs" => map(name, args, t, f64::abs)?,
        "ceil" => map(name, args, t, f64::ceil)?,
        "floor" => map(name, args, t, f64::floor)?,
        "exp" => map(name, args, t, f64::exp)?,
        "sqrt" => map(name, args, t, f64::sqrt)?,
        "ln" => map(name, args, t, f64::ln)?,
        "log2" => map(name, args, t, go_log2)?,
        "log10" => map(name, args, t, go_log10)?,
        "sin" => map(name, args, t, f64::sin)?,
        "cos" => map(name, args, t, f64::cos)?,
        "tan" => map(name, args, t, f64::tan)?,
        "asin" => map(name, args, t, f64::asin)?,
        "acos" => map(name, args, t, f64::acos)?,
        "atan" => map(name, args, t, f64::atan)?,
        "sinh" => map(name, args, t, f64::sinh)?,
        "cosh" => map(name, args, t, f64::cosh)?,
        "tanh" => map(name, args, t, f64::tanh)?,
        "asinh" => map(name, args, t, f64::asinh)?,
        "acosh" => map(name, args, t, f64::acosh)?,
        "atanh" => map(name, args, t, f64::atanh)?,
        "rad" => map(name, args, t, |v| v * std::f64::consts::PI / 180.0)?,
        "deg" => map(name, args, t, |v| v * 180.0 / std::f64::consts::PI)?,
        "sgn" => map(name, args, t, |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        })?,
        "round" => {
            let to_nearest = match args.get(1) {
                None => 1.0,
                Some(Arg::Scalar(s)) => *s,
                Some(_) => return Err(bad_args(name)),
            };
            // Rounding by the inverse is what Prometheus does (fewer representation errors).
            let inverse = 1.0 / to_nearest;
            let args = args.into_iter().take(1).collect();
            map(name, args, t, |v| (v * inverse + 0.5).floor() / inverse)?
        }
        "clamp" => {
            let [_, Arg::Scalar(min), Arg::Scalar(max)] = args[..] else {
                return Err(bad_args(name));
            };
            if max < min {
                Vec::new()
            } else {
                let args = args.into_iter().take(1).collect();
                map(name, args, t, |v| go_max(min, go_min(max, v)))?
            }
        }
        "clamp_max" => {
            let [_, Arg::Scalar(max)] = args[..] else {
                return Err(bad_args(name));
            };
            let args = args.into_iter().take(1).collect();
            map(name, args, t, |v| go_min(max, v))?
        }
        "clamp_min" => {
            let [_, Arg::Scalar(min)] = args[..] else {
                return Err(bad_args(name));
            };
            let args = args.into_iter().take(1).collect();
            map(name, args, t, |v| go_max(min, v))?
        }
        "timestamp" => {
            let mut v = one_vector(name, args)?;
            for s in &mut v {
                s.v = s.t as f64 / 1000.0;
                s.t = t;
                s.labels.remove(crate::METRIC_NAME);
            }
            v
        }
        "sort" | "sort_desc" => {
            let mut v = one_vector(name, args)?;
            sort_by_value(&mut v, name == "sort_desc");
            for s in &mut v {
                s.t = t;
            }
            v
        }
        "day_of_month" => date(name, args, t, |c| f64::from(c.day))?,
        "day_of_week" => date(name, args, t, |c| f64::from(c.day_of_week))?,
        "day_of_year" => date(name, args, t, |c| f64::from(c.day_of_year))?,
        "days_in_month" => date(name, args, t, |c| f64::from(c.days_in_month))?,
        "hour" => date(name, args, t, |c| f64::from(c.hour))?,
        "minute" => date(name, args, t, |c| f64::from(c.minute))?,
        "month" => date(name, args, t, |c| f64::from(c.month))?,
        "year" => date(name, args, t, |c| c.year as f64)?,
        "label_replace" => {
            let [
                Arg::Vector(_),
                Arg::String(dst),
                Arg::String(repl),
                Arg::String(src),
                Arg::String(re),
            ] = &args[..]
            else {
                return Err(bad_args(name));
            };
            let (dst, repl, src, re) = (dst.clone(), repl.clone(), src.clone(), re.clone());
            let v = one_vector(name, args.into_iter().take(1).collect())?;
            labels::label_replace(v, &dst, &repl, &src, &re, t)?
        }
        "label_join" => {
            if args.len() < 3 {
                return Err(bad_args(name));
            }
            let mut strings = Vec::with_capacity(args.len() - 1);
            for a in &args[1..] {
                match a {
                    Arg::String(s) => strings.push(s.clone()),
                    _ => return Err(bad_args(name)),
                }
            }
            let v = one_vector(name, args.into_iter().take(1).collect())?;
            let srcs: Vec<&str> = strings[2..].iter().map(String::as_str).collect();
            labels::label_join(v, &strings[0], &strings[1], &srcs, t)?
        }
        "histogram_quantile" => {
            let [Arg::Scalar(q), Arg::Vector(v)] = &args[..] else {
                return Err(bad_args(name));
            };
            histogram::histogram_quantile(*q, v, t)
        }
        "histogram_count" | "histogram_sum" => {
            one_vector(name, args)?;
            Vec::new()
        }
        "histogram_fraction" => {
            let [Arg::Scalar(_), Arg::Scalar(_), Arg::Vector(_)] = &args[..] else {
                return Err(bad_args(name));
            };
            Vec::new()
        }
        _ => return Err(Error::Unsupported(format!("function {name}"))),
    };
    Ok(Out::Vector(out))
}

fn bad_args(name: &str) -> Error {
    Error::BadQuery(format!("wrong arguments to function {name}()"))
}

fn one_vector(name: &str, args: Vec<Arg>) -> Result<Vec<Sample>> {
    match <[Arg; 1]>::try_from(args) {
        Ok([Arg::Vector(v)]) => Ok(v),
        _ => Err(bad_args(name)),
    }
}

/// `f` over each value of the single vector argument; the metric name is dropped.
fn map(name: &str, args: Vec<Arg>, t: i64, f: impl Fn(f64) -> f64) -> Result<Vec<Sample>> {
    let mut v = one_vector(name, args)?;
    for s in &mut v {
        s.v = f(s.v);
        s.t = t;
        s.labels.remove(crate::METRIC_NAME);
    }
    Ok(v)
}

/// A date function: its vector argument's values are Unix seconds (truncated as Go's
/// `int64()` does); without an argument, the evaluation time.
fn date(name: &str, args: Vec<Arg>, t: i64, f: impl Fn(&Civil) -> f64) -> Result<Vec<Sample>> {
    if args.is_empty() {
        return Ok(vec![Sample {
            labels: Default::default(),
            t,
            v: f(&civil(t / 1000)),
        }]);
    }
    map(name, args, t, |v| f(&civil(go_int64(v))))
}

/// Go's `math.Max`: NaN wins, then +Inf, and +0 over -0.
fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        f64::INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && a == b {
        if a.is_sign_negative() { b } else { a }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: NaN wins, then -Inf, and -0 over +0.
fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && a == b {
        if a.is_sign_negative() { a } else { b }
    } else if a < b {
        a
    } else {
        b
    }
}

/// Go's `math.Log2`: exact for powers of two.
fn go_log2(x: f64) -> f64 {
    let (frac, exp) = frexp(x);
    if frac == 0.5 {
        return f64::from(exp - 1);
    }
    frac.ln() * std::f64::consts::LOG2_E + f64::from(exp)
}

/// Go's `math.Log10`: `log2(x) * (Ln2/Ln10)`, the constant rounded once.
fn go_log10(x: f64) -> f64 {
    go_log2(x) * std::f64::consts::LOG10_2
}

/// `x = frac × 2^exp` with `|frac|` in [0.5, 1); zero, infinities and NaN come back as
/// they are with exponent 0.
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || x.is_infinite() || x.is_nan() {
        return (x, 0);
    }
    let (mut x, mut exp) = (x, 0i32);
    if x.abs() < f64::MIN_POSITIVE {
        x *= (1u64 << 52) as f64;
        exp = -52;
    }
    let bits = x.to_bits();
    exp += ((bits >> 52) & 0x7ff) as i32 - 1022;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp)
}

/// Prometheus 2.42's `sort` (ascending) and `sort_desc`: Go's `sort.Sort` with 2.42's
/// comparisons, which put NaN last in both directions; the order of equal values follows
/// Go's algorithm too (for up to 12 samples it keeps the input order).
fn sort_by_value(v: &mut [Sample], desc: bool) {
    if desc {
        go_sort(v, &|a: &Sample, b: &Sample| b.v.is_nan() || b.v < a.v);
    } else {
        go_sort(v, &|a: &Sample, b: &Sample| b.v.is_nan() || b.v > a.v);
    }
}

/// `Error::Execution` when two samples of `v` have the same labels.
pub fn check_unique(v: &[Sample]) -> Result<()> {
    if v.len() < 2 {
        return Ok(());
    }
    let mut refs: Vec<&crate::Labels> = v.iter().map(|s| &s.labels).collect();
    refs.sort_unstable();
    if refs.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::Execution(
            "vector cannot contain metrics with the same labelset".to_owned(),
        ));
    }
    Ok(())
}
