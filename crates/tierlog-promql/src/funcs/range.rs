//! Functions over one series' points in a range window.
//!
//! Every function follows Prometheus 2.42's arithmetic step by step (compensated sums,
//! the order of multiplications and divisions), so results agree with it to the last bits
//! in all but pathological inputs.

use std::cell::RefCell;

use crate::{Error, Result};

/// A function over a range vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RangeFn {
    /// `rate`: per-second increase of a counter, extrapolated to the window.
    Rate,
    /// `irate`: per-second increase between the last two points.
    Irate,
    /// `increase`: increase of a counter, extrapolated to the window.
    Increase,
    /// `delta`: difference of a gauge, extrapolated to the window.
    Delta,
    /// `idelta`: difference between the last two points.
    Idelta,
    /// `deriv`: slope of the least-squares line, per second.
    Deriv,
    /// `predict_linear(v, t)`: value of the least-squares line `t` seconds after the
    /// evaluation time.
    PredictLinear,
    /// `resets`: number of decreases.
    Resets,
    /// `changes`: number of value changes.
    Changes,
    /// `avg_over_time`
    AvgOverTime,
    /// `min_over_time`
    MinOverTime,
    /// `max_over_time`
    MaxOverTime,
    /// `sum_over_time`
    SumOverTime,
    /// `count_over_time`
    CountOverTime,
    /// `last_over_time`
    LastOverTime,
    /// `present_over_time`
    PresentOverTime,
    /// `quantile_over_time(φ, v)`
    QuantileOverTime,
    /// `stddev_over_time` (population standard deviation)
    StddevOverTime,
    /// `stdvar_over_time` (population variance)
    StdvarOverTime,
    /// `holt_winters(v, sf, tf)`: double exponential smoothing.
    HoltWinters,
}

impl RangeFn {
    /// The function called `name`, if it takes a range vector (the names of Prometheus 2.42;
    /// `absent_over_time` is not among them: the evaluator answers it like `absent`).
    pub fn from_name(name: &str) -> Option<RangeFn> {
        Some(match name {
            "rate" => RangeFn::Rate,
            "irate" => RangeFn::Irate,
            "increase" => RangeFn::Increase,
            "delta" => RangeFn::Delta,
            "idelta" => RangeFn::Idelta,
            "deriv" => RangeFn::Deriv,
            "predict_linear" => RangeFn::PredictLinear,
            "resets" => RangeFn::Resets,
            "changes" => RangeFn::Changes,
            "avg_over_time" => RangeFn::AvgOverTime,
            "min_over_time" => RangeFn::MinOverTime,
            "max_over_time" => RangeFn::MaxOverTime,
            "sum_over_time" => RangeFn::SumOverTime,
            "count_over_time" => RangeFn::CountOverTime,
            "last_over_time" => RangeFn::LastOverTime,
            "present_over_time" => RangeFn::PresentOverTime,
            "quantile_over_time" => RangeFn::QuantileOverTime,
            "stddev_over_time" => RangeFn::StddevOverTime,
            "stdvar_over_time" => RangeFn::StdvarOverTime,
            "holt_winters" => RangeFn::HoltWinters,
            _ => return None,
        })
    }

    /// The function's PromQL name.
    pub fn name(self) -> &'static str {
        match self {
            RangeFn::Rate => "rate",
            RangeFn::Irate => "irate",
            RangeFn::Increase => "increase",
            RangeFn::Delta => "delta",
            RangeFn::Idelta => "idelta",
            RangeFn::Deriv => "deriv",
            RangeFn::PredictLinear => "predict_linear",
            RangeFn::Resets => "resets",
            RangeFn::Changes => "changes",
            RangeFn::AvgOverTime => "avg_over_time",
            RangeFn::MinOverTime => "min_over_time",
            RangeFn::MaxOverTime => "max_over_time",
            RangeFn::SumOverTime => "sum_over_time",
            RangeFn::CountOverTime => "count_over_time",
            RangeFn::LastOverTime => "last_over_time",
            RangeFn::PresentOverTime => "present_over_time",
            RangeFn::QuantileOverTime => "quantile_over_time",
            RangeFn::StddevOverTime => "stddev_over_time",
            RangeFn::StdvarOverTime => "stdvar_over_time",
            RangeFn::HoltWinters => "holt_winters",
        }
    }

    /// True when the output keeps the series' metric name. In Prometheus 2.42 only
    /// `last_over_time` does (it acts like an offset); every other range function drops it.
    pub fn keeps_name(self) -> bool {
        self == RangeFn::LastOverTime
    }

    /// Number of scalar parameters besides the range vector. They are passed to
    /// [`eval_range`] and [`check_params`] in the order they appear in the call, the range
    /// vector left out: `quantile_over_time(φ, v)` → `[φ]`, `predict_linear(v, t)` → `[t]`,
    /// `holt_winters(v, sf, tf)` → `[sf, tf]`.
    pub fn params(self) -> usize {
        match self {
            RangeFn::QuantileOverTime | RangeFn::PredictLinear => 1,
            RangeFn::HoltWinters => 2,
            _ => 0,
        }
    }

    /// Position of the range-vector argument among the call's arguments: 1 for
    /// `quantile_over_time` (its φ comes first), 0 for every other function.
    pub fn range_arg_index(self) -> usize {
        match self {
            RangeFn::QuantileOverTime => 1,
            _ => 0,
        }
    }

    /// Fewest points in the window for which the function gives a sample (the evaluator
    /// never calls with an empty window; Prometheus 2.42 skips those).
    pub fn min_points(self) -> usize {
        match self {
            RangeFn::Rate
            | RangeFn::Irate
            | RangeFn::Increase
            | RangeFn::Delta
            | RangeFn::Idelta
            | RangeFn::Deriv
            | RangeFn::PredictLinear
            | RangeFn::HoltWinters => 2,
            _ => 1,
        }
    }
}

/// Checks `f`'s scalar parameters at one step (in the order of [`RangeFn::params`]).
///
/// Only `holt_winters` can fail: its smoothing and trend factors must lie in (0, 1); NaN
/// passes, as in Prometheus 2.42. Prometheus raises the error only when it evaluates the
/// function, i.e. at a step where a series has at least one point in its window (with no
/// point in any window, `holt_winters(x[1m], 2, 0.5)` is an empty result, not an error), so
/// the evaluator should call this only at such steps.
pub fn check_params(f: RangeFn, params: &[f64]) -> Result<()> {
    if f == RangeFn::HoltWinters {
        let sf = params.first().copied().unwrap_or(f64::NAN);
        let tf = params.get(1).copied().unwrap_or(f64::NAN);
        if sf <= 0.0 || sf >= 1.0 {
            return Err(Error::Execution(format!(
                "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
                go_fmt_f(sf)
            )));
        }
        if tf <= 0.0 || tf >= 1.0 {
            return Err(Error::Execution(format!(
                "invalid trend factor. Expected: 0 < tf < 1, got: {}",
                go_fmt_f(tf)
            )));
        }
    }
    Ok(())
}

/// `v` as Go's `%f` prints it: six decimals, `NaN`, `+Inf`, `-Inf`.
pub(crate) fn go_fmt_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v:.6}")
    }
}

/// Where a range function is evaluated: the window `[start, end]` (both ends included, as
/// Prometheus 2.42 selects) and the evaluation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First instant of the window (ms), `eval_t - offset - range`.
    pub start: i64,
    /// Last instant of the window (ms), `eval_t - offset`.
    pub end: i64,
    /// The evaluation time (ms).
    pub eval_t: i64,
}

thread_local! {
    static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// `f` over `points` (the series' points in the window, in time order), with the function's
/// scalar parameters in `params` (see [`RangeFn::params`] for their order); `None` when the
/// function gives no sample: fewer points than [`RangeFn::min_points`], two points at one
/// instant for `irate`/`idelta`, or a parameter missing. Parameters are not checked here:
/// call [`check_params`] first.
///
/// Allocates nothing, except that `quantile_over_time` sorts a copy of the values in a
/// per-thread buffer that is reused from call to call (see [`eval_range_with`] to pass one).
pub fn eval_range(f: RangeFn, points: &[(i64, f64)], w: &Window, params: &[f64]) -> Option<f64> {
    if f == RangeFn::QuantileOverTime {
        return SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut buf) => eval_range_with(f, points, w, params, &mut buf),
            Err(_) => eval_range_with(f, points, w, params, &mut Vec::new()),
        });
    }
    eval_range_with(f, points, w, params, &mut Vec::new())
}

/// [`eval_range`] with the caller's buffer for `quantile_over_time`'s sorted values.
pub fn eval_range_with(
    f: RangeFn,
    points: &[(i64, f64)],
    w: &Window,
    params: &[f64],
    scratch: &mut Vec<f64>,
) -> Option<f64> {
    if points.len() < f.min_points() || params.len() < f.params() {
        return None;
    }
    let last = points[points.len() - 1];
    Some(match f {
        RangeFn::Rate => extrapolated_rate(points, w, true, true),
        RangeFn::Increase => extrapolated_rate(points, w, true, false),
        RangeFn::Delta => extrapolated_rate(points, w, false, false),
        RangeFn::Irate => instant_value(points, true)?,
        RangeFn::Idelta => instant_value(points, false)?,
        RangeFn::Deriv => linear_regression(points, points[0].0).0,
        RangeFn::PredictLinear => {
            let (slope, intercept) = linear_regression(points, w.eval_t);
            slope * params[0] + intercept
        }
        RangeFn::Resets => {
            let mut n = 0u64;
            for p in points.windows(2) {
                if p[1].1 < p[0].1 {
                    n += 1;
                }
            }
            n as f64
        }
        RangeFn::Changes => {
            let mut n = 0u64;
            for p in points.windows(2) {
                let (prev, cur) = (p[0].1, p[1].1);
                if cur != prev && !(cur.is_nan() && prev.is_nan()) {
                    n += 1;
                }
            }
            n as f64
        }
        RangeFn::AvgOverTime => avg(points),
        RangeFn::MinOverTime => {
            let mut m = points[0].1;
            for &(_, v) in points {
                if v < m || m.is_nan() {
                    m = v;
                }
            }
            m
        }
        RangeFn::MaxOverTime => {
            let mut m = points[0].1;
            for &(_, v) in points {
                if v > m || m.is_nan() {
                    m = v;
                }
            }
            m
        }
        RangeFn::SumOverTime => {
            let (mut sum, mut c) = (0.0, 0.0);
            for &(_, v) in points {
                (sum, c) = kahan_inc(v, sum, c);
            }
            if sum.is_infinite() { sum } else { sum + c }
        }
        RangeFn::CountOverTime => points.len() as f64,
        RangeFn::LastOverTime => last.1,
        RangeFn::PresentOverTime => 1.0,
        RangeFn::QuantileOverTime => {
            scratch.clear();
            scratch.extend(points.iter().map(|p| p.1));
            quantile(params[0], scratch)
        }
        RangeFn::StddevOverTime => variance(points).sqrt(),
        RangeFn::StdvarOverTime => variance(points),
        RangeFn::HoltWinters => holt_winters(points, params[0], params[1]),
    })
}

/// Neumaier's compensated summation step, as Prometheus 2.42's `kahanSumInc`: returns the
/// new sum and the new compensation.
#[inline]
pub(crate) fn kahan_inc(inc: f64, sum: f64, mut c: f64) -> (f64, f64) {
    let t = sum + inc;
    if sum.abs() >= inc.abs() {
        c += (sum - t) + inc;
    } else {
        c += (inc - t) + sum;
    }
    (t, c)
}

/// rate / increase / delta: the difference over the window (corrected for counter resets),
/// extrapolated towards the window's edges.
fn extrapolated_rate(points: &[(i64, f64)], w: &Window, is_counter: bool, is_rate: bool) -> f64 {
    let (first_t, first_v) = points[0];
    let (last_t, last_v) = points[points.len() - 1];
    let mut result = last_v - first_v;
    if is_counter {
        let mut prev = first_v;
        for &(_, v) in &points[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }

    let mut duration_to_start = (first_t - w.start) as f64 / 1000.0;
    let duration_to_end = (w.end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let avg_between = sampled_interval / (points.len() - 1) as f64;

    if is_counter && result > 0.0 && first_v >= 0.0 {
        // A counter cannot go below zero: extrapolate no further back than where the
        // line through the points reaches zero.
        let duration_to_zero = sampled_interval * (first_v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }

    let threshold = avg_between * 1.1;
    let mut interval = sampled_interval;
    if duration_to_start < threshold {
        interval += duration_to_start;
    } else {
        interval += avg_between / 2.0;
    }
    if duration_to_end < threshold {
        interval += duration_to_end;
    } else {
        interval += avg_between / 2.0;
    }
    let mut factor = interval / sampled_interval;
    if is_rate {
        factor /= (w.end - w.start) as f64 / 1000.0;
    }
    result * factor
}

/// irate / idelta from the last two points; `None` when they share an instant.
fn instant_value(points: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    let (last_t, last_v) = points[points.len() - 1];
    let (prev_t, prev_v) = points[points.len() - 2];
    let mut result = if is_rate && last_v < prev_v {
        last_v
    } else {
        last_v - prev_v
    };
    let gap = last_t - prev_t;
    if gap == 0 {
        return None;
    }
    if is_rate {
        result /= gap as f64 / 1000.0;
    }
    Some(result)
}

/// Least-squares line through `points` with x in seconds relative to `intercept_t` (ms):
/// `(slope, value at intercept_t)`.
fn linear_regression(points: &[(i64, f64)], intercept_t: i64) -> (f64, f64) {
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    let init_y = points[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in points.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_t) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let sum_x = sum_x + c_x;
    let sum_y = sum_y + c_y;
    let sum_xy = sum_xy + c_xy;
    let sum_x2 = sum_x2 + c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// Incremental mean with compensation; an infinite mean stays as it is unless a NaN or an
/// infinity of the other sign comes.
fn avg(points: &[(i64, f64)]) -> f64 {
    let (mut mean, mut count, mut c) = (0.0f64, 0.0f64, 0.0f64);
    for &(_, v) in points {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() { mean } else { mean + c }
}

/// Population variance by Welford's method with compensated sums.
fn variance(points: &[(i64, f64)]) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for &(_, v) in points {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Double exponential smoothing over at least two points.
fn holt_winters(points: &[(i64, f64)], sf: f64, tf: f64) -> f64 {
    let mut s0 = 0.0;
    let mut s1 = points[0].1;
    let mut b = points[1].1 - points[0].1;
    for (i, &(_, v)) in points.iter().enumerate().skip(1) {
        let x = sf * v;
        // The trend: the first step keeps the initial difference.
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    s1
}

/// The φ-quantile of `values` (sorted in place, NaN first) with linear interpolation
/// between the closest ranks, as Prometheus 2.42's `quantile`: NaN for no values or a NaN φ,
/// -Inf for φ < 0, +Inf for φ > 1.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_unstable_by(|a, b| nan_first_cmp(*a, *b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Ascending order with NaN before every number.
pub(crate) fn nan_first_cmp(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}
