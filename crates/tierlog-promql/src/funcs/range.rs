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
    match crate::value::special(v) {
        Some(s) => s.to_owned(),
        None => format!("{v:.6}"),
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

/// The φ-quantile of `values` (sorted in place) with linear interpolation between the
/// closest ranks, as Prometheus 2.42's `quantile` (also what the `quantile` aggregation
/// computes): NaN for no values or a NaN φ, -Inf for φ < 0, +Inf for φ > 1. The values are
/// sorted by Go's algorithm with 2.42's comparison (NaN below everything, even NaN), so
/// that NaNs land where they land in Prometheus.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    super::gosort::go_sort(values, &|a: &f64, b: &f64| a.is_nan() || a < b);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    /// The series loaded into Prometheus 2.42 for the confirmed values below (offsets in
    /// seconds from T0).
    fn series(name: &str) -> Vec<(i64, f64)> {
        let pts: &[(i64, f64)] = match name {
            "ctr" => &[
                (0, 100.0),
                (15, 110.0),
                (30, 125.0),
                (45, 5.0),
                (60, 20.0),
                (75, 40.0),
                (90, 41.0),
            ],
            "gz" => &[(100, 1.0), (110, 3.0), (120, 5.0), (130, 7.0)],
            "g" => &[
                (0, 1.5),
                (10, -2.0),
                (20, 3.25),
                (30, 3.25),
                (40, 10.0),
                (50, f64::NAN),
                (60, 4.0),
            ],
            "ginf" => &[
                (0, 1.0),
                (10, f64::INFINITY),
                (20, 2.0),
                (30, f64::INFINITY),
                (40, f64::NEG_INFINITY),
                (50, 3.0),
            ],
            "neg" => &[(0, -5.0), (10, -3.0), (20, -1.0), (30, 1.0)],
            _ => unreachable!(),
        };
        pts.iter().map(|&(s, v)| (T0 + s * 1000, v)).collect()
    }

    /// `f(name[range_s])` evaluated at T0 + `at_s`, selecting the closed window as the
    /// evaluator does.
    fn run(f: &str, name: &str, range_s: i64, at_s: i64, params: &[f64]) -> Option<f64> {
        let f = RangeFn::from_name(f).unwrap();
        let eval_t = T0 + at_s * 1000;
        let w = Window {
            start: eval_t - range_s * 1000,
            end: eval_t,
            eval_t,
        };
        let pts: Vec<(i64, f64)> = series(name)
            .into_iter()
            .filter(|p| p.0 >= w.start && p.0 <= w.end)
            .collect();
        if pts.is_empty() {
            return None;
        }
        eval_range(f, &pts, &w, params)
    }

    fn same(got: Option<f64>, want: f64) -> bool {
        match got {
            Some(g) if want.is_nan() => g.is_nan(),
            Some(g) => g == want,
            None => false,
        }
    }

    /// Function, series, range (s), evaluation time (s after T0), parameters, value.
    type Case = (&'static str, &'static str, i64, i64, &'static [f64], f64);

    /// Each value was read from /usr/bin/prometheus 2.42.0 over the series above
    /// (`promtool tsdb create-blocks-from openmetrics`, then `/api/v1/query`); they agree
    /// bit for bit.
    #[test]
    fn values_confirmed_against_prometheus_2_42() {
        let nan = f64::NAN;
        let inf = f64::INFINITY;
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("rate", "ctr", 60, 60, &[], 0.75),
            // window edges 10 s from the first and last point: extrapolated to both
            ("rate", "ctr", 50, 70, &[], 0.6666666666666666),
            // last point 60 s before the end: half an interval only
            ("increase", "ctr", 120, 150, &[], 46.125),
            ("delta", "ctr", 60, 60, &[], -80.0),
            ("increase", "ctr", 100, 90, &[], 73.33333333333334),
            // a counter is not extrapolated below zero
            ("rate", "gz", 60, 150, &[], 0.1333333333333333),
            ("increase", "gz", 40, 130, &[], 7.0),
            ("delta", "neg", 30, 30, &[], 6.0),
            ("increase", "neg", 30, 30, &[], 6.0),
            ("rate", "neg", 40, 35, &[], 0.2),
            ("irate", "ctr", 60, 50, &[], 0.3333333333333333),
            ("irate", "ctr", 60, 90, &[], 0.06666666666666667),
            ("idelta", "ctr", 60, 50, &[], -120.0),
            ("resets", "ctr", 120, 100, &[], 1.0),
            ("changes", "g", 120, 100, &[], 5.0),
            ("changes", "ginf", 120, 100, &[], 5.0),
            ("deriv", "ctr", 120, 100, &[], -1.0047619047619047),
            ("deriv", "g", 35, 35, &[], 0.105),
            ("predict_linear", "ctr", 120, 100, &[100.0], -92.73809523809524),
            ("predict_linear", "g", 35, 40, &[-20.0], 1.8249999999999993),
            ("avg_over_time", "g", 35, 35, &[], 1.5),
            ("avg_over_time", "g", 120, 100, &[], nan),
            ("avg_over_time", "ginf", 120, 100, &[], nan),
            ("avg_over_time", "ginf", 25, 25, &[], inf),
            ("sum_over_time", "ctr", 120, 100, &[], 441.0),
            ("sum_over_time", "ginf", 120, 100, &[], nan),
            ("min_over_time", "g", 120, 100, &[], -2.0),
            ("max_over_time", "g", 120, 100, &[], 10.0),
            ("min_over_time", "g", 15, 55, &[], 10.0),
            ("stddev_over_time", "ctr", 120, 100, &[], 44.155569135889145),
            ("stdvar_over_time", "g", 35, 35, &[], 4.59375),
            ("stddev_over_time", "g", 120, 100, &[], nan),
            ("quantile_over_time", "ctr", 120, 100, &[0.3], 36.0),
            ("quantile_over_time", "g", 120, 100, &[0.3], 0.7999999999999994),
            ("quantile_over_time", "ctr", 120, 100, &[-1.0], -inf),
            ("quantile_over_time", "ctr", 120, 100, &[2.0], inf),
            ("holt_winters", "ctr", 120, 100, &[0.5, 0.3], 30.712171875),
            ("holt_winters", "g", 35, 35, &[0.2, 0.7], -4.17),
            ("last_over_time", "ctr", 60, 100, &[], 41.0),
            ("count_over_time", "ctr", 60, 100, &[], 4.0),
            ("present_over_time", "ctr", 60, 100, &[], 1.0),
        ];
        for &(f, name, range, at, params, want) in cases {
            let got = run(f, name, range, at, params);
            assert!(
                same(got, want),
                "{f}({name}[{range}s]) @{at}: {got:?}, want {want}"
            );
        }
    }

    #[test]
    fn quantile_with_nans_as_2_42() {
        // 30 points 1 s apart, NaN at every 7th from the 3rd, read by 2.42's
        // `quantile_over_time(φ, qn[1m])`: NaNs sort first.
        let pts: Vec<(i64, f64)> = (0..30)
            .map(|i| {
                let v = if i % 7 == 2 {
                    f64::NAN
                } else {
                    ((i * 13) % 10) as f64
                };
                (T0 + (200 + i) * 1000, v)
            })
            .collect();
        let win = Window {
            start: T0 + 180_000,
            end: T0 + 240_000,
            eval_t: T0 + 240_000,
        };
        for (q, want) in [
            (0.0, f64::NAN),
            (0.1, f64::NAN),
            (0.2, 0.0),
            (0.25, 1.0),
            (0.3, 1.0),
            (0.5, 3.0),
            (0.7, 5.0),
            (0.9, 8.0),
            (1.0, 9.0),
        ] {
            let got = eval_range(RangeFn::QuantileOverTime, &pts, &win, &[q]);
            assert!(same(got, want), "φ={q}: {got:?}");
        }
    }

    #[test]
    fn offset_window_with_eval_time_as_2_42() {
        // 2.42 at T0 + 100 s: `predict_linear(ctr[1m] offset 30s, 100)` = -357.5 (the line
        // is taken at the evaluation time, not at the window's end) and
        // `rate(ctr[1m] offset 30s)` = 0.7777777777777777.
        let eval_t = T0 + 100_000;
        let w = Window {
            start: eval_t - 90_000,
            end: eval_t - 30_000,
            eval_t,
        };
        let pts: Vec<(i64, f64)> = series("ctr")
            .into_iter()
            .filter(|p| p.0 >= w.start && p.0 <= w.end)
            .collect();
        assert_eq!(
            eval_range(RangeFn::PredictLinear, &pts, &w, &[100.0]),
            Some(-357.5)
        );
        assert_eq!(
            eval_range(RangeFn::Rate, &pts, &w, &[]),
            Some(0.7777777777777777)
        );
    }

    #[test]
    fn prometheus_2_42_holt_winters_factor_errors() {
        // Wording and `%f` formatting as /usr/bin/prometheus 2.42.0 reports them.
        let e = check_params(RangeFn::HoltWinters, &[1.0, 0.7]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"
        );
        let e = check_params(RangeFn::HoltWinters, &[0.5, 0.0]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid trend factor. Expected: 0 < tf < 1, got: 0.000000"
        );
        let e = check_params(RangeFn::HoltWinters, &[f64::INFINITY, 0.5]).unwrap_err();
        assert!(e.to_string().ends_with("got: +Inf"), "{e}");
        // NaN is not rejected (every comparison with it is false).
        check_params(RangeFn::HoltWinters, &[f64::NAN, 0.5]).unwrap();
        check_params(RangeFn::HoltWinters, &[0.5, 0.5]).unwrap();
        check_params(RangeFn::Rate, &[]).unwrap();
    }

    fn w(start: i64, end: i64) -> Window {
        Window {
            start,
            end,
            eval_t: end,
        }
    }

    #[test]
    fn rate_needs_two_points_and_handles_resets() {
        let one = [(10_000, 5.0)];
        for f in [
            RangeFn::Rate,
            RangeFn::Increase,
            RangeFn::Delta,
            RangeFn::Irate,
            RangeFn::Idelta,
            RangeFn::Deriv,
            RangeFn::HoltWinters,
        ] {
            assert_eq!(
                eval_range(f, &one, &w(0, 60_000), &[0.5, 0.5]),
                None,
                "{f:?}"
            );
            assert_eq!(
                eval_range(f, &[], &w(0, 60_000), &[0.5, 0.5]),
                None,
                "{f:?}"
            );
        }
        assert_eq!(
            eval_range(RangeFn::PredictLinear, &one, &w(0, 60_000), &[1.0]),
            None
        );
        // Points exactly on both edges: no extrapolation. Two resets: 10 → 2 → 1 → 4
        // counts 10 + 2 + 4 - 10 + … = (4 - 10) + 10 + 2 = 6.
        let pts = [(0, 10.0), (20_000, 2.0), (40_000, 1.0), (60_000, 4.0)];
        assert_eq!(
            eval_range(RangeFn::Increase, &pts, &w(0, 60_000), &[]),
            Some(6.0)
        );
        assert_eq!(
            eval_range(RangeFn::Rate, &pts, &w(0, 60_000), &[]),
            Some(0.1)
        );
        assert_eq!(
            eval_range(RangeFn::Delta, &pts, &w(0, 60_000), &[]),
            Some(-6.0)
        );
        assert_eq!(
            eval_range(RangeFn::Resets, &pts, &w(0, 60_000), &[]),
            Some(2.0)
        );
        // irate after a reset takes the last value as the increase.
        assert_eq!(
            eval_range(RangeFn::Irate, &pts[..3], &w(0, 60_000), &[]),
            Some(1.0 / 20.0)
        );
        assert_eq!(
            eval_range(RangeFn::Idelta, &pts[..3], &w(0, 60_000), &[]),
            Some(-1.0)
        );
    }

    #[test]
    fn extrapolation_thresholds() {
        // Points every 10 s from 30 s to 50 s in a [0, 100 s] window: both gaps (30 s,
        // 50 s) exceed 1.1 × 10 s, so half an interval is added on each side:
        // increase = 20 × (20 + 5 + 5) / 20 = 30.
        let pts = [(30_000, 100.0), (40_000, 110.0), (50_000, 120.0)];
        assert_eq!(
            eval_range(RangeFn::Increase, &pts, &w(0, 100_000), &[]),
            Some(30.0)
        );
        // Gaps of exactly 11 s are not below the threshold (1.1 × 10 s = 11 s)...
        let w2 = w(19_000, 61_000);
        let got = eval_range(RangeFn::Delta, &pts, &w2, &[]).unwrap();
        assert!((got - 30.0).abs() < 1e-12, "{got}");
        // ...gaps of 10.9 s are: 20 × (20 + 10.9 + 10.9) / 20.
        let w3 = w(19_100, 60_900);
        let got = eval_range(RangeFn::Delta, &pts, &w3, &[]).unwrap();
        assert!((got - 41.8).abs() < 1e-12, "{got}");
        // A counter starting at 5 with slope 1/s reaches zero 5 s before its first point:
        // the start is extrapolated by 5 s, not by the 8 s gap.
        let pts = [(8_000, 5.0), (18_000, 15.0), (28_000, 25.0)];
        assert_eq!(
            eval_range(RangeFn::Increase, &pts, &w(0, 28_000), &[]),
            Some(25.0)
        );
        // delta is not a counter: it extrapolates the full 8 s.
        assert_eq!(
            eval_range(RangeFn::Delta, &pts, &w(0, 28_000), &[]),
            Some(28.0)
        );
        // A negative first value turns the zero limit off.
        let pts = [(8_000, -5.0), (18_000, 5.0), (28_000, 15.0)];
        assert_eq!(
            eval_range(RangeFn::Increase, &pts, &w(0, 28_000), &[]),
            Some(28.0)
        );
    }

    #[test]
    fn irate_of_points_at_one_instant_is_nothing() {
        let pts = [(1_000, 1.0), (1_000, 2.0)];
        assert_eq!(eval_range(RangeFn::Irate, &pts, &w(0, 2_000), &[]), None);
        assert_eq!(eval_range(RangeFn::Idelta, &pts, &w(0, 2_000), &[]), None);
    }

    #[test]
    fn regression_uses_first_point_for_deriv_and_eval_time_for_predict_linear() {
        // y = 2x + 1 with x in seconds.
        let pts = [(10_000, 21.0), (20_000, 41.0), (30_000, 61.0)];
        let win = Window {
            start: 0,
            end: 30_000,
            eval_t: 40_000,
        };
        assert_eq!(eval_range(RangeFn::Deriv, &pts, &win, &[]), Some(2.0));
        // At eval_t (40 s) the line is at 81; 5 s later at 91.
        assert_eq!(
            eval_range(RangeFn::PredictLinear, &pts, &win, &[5.0]),
            Some(91.0)
        );
        // Constant values: slope 0, or NaN when the constant is infinite.
        let flat = [(0, 3.0), (10_000, 3.0)];
        assert_eq!(eval_range(RangeFn::Deriv, &flat, &win, &[]), Some(0.0));
        assert_eq!(
            eval_range(RangeFn::PredictLinear, &flat, &win, &[100.0]),
            Some(3.0)
        );
        let inf = [(0, f64::INFINITY), (10_000, f64::INFINITY)];
        assert!(
            eval_range(RangeFn::Deriv, &inf, &win, &[])
                .unwrap()
                .is_nan()
        );
    }

    #[test]
    fn over_time_functions() {
        let win = w(0, 100_000);
        let pts = [(0, 1.0), (1, 2.0), (2, 4.0), (3, 9.0)];
        let e = |f: RangeFn, p: &[f64]| eval_range(f, &pts, &win, p).unwrap();
        assert_eq!(e(RangeFn::AvgOverTime, &[]), 4.0);
        assert_eq!(e(RangeFn::SumOverTime, &[]), 16.0);
        assert_eq!(e(RangeFn::CountOverTime, &[]), 4.0);
        assert_eq!(e(RangeFn::LastOverTime, &[]), 9.0);
        assert_eq!(e(RangeFn::PresentOverTime, &[]), 1.0);
        assert_eq!(e(RangeFn::MinOverTime, &[]), 1.0);
        assert_eq!(e(RangeFn::MaxOverTime, &[]), 9.0);
        // 38 / 4, up to the rounding of Welford's steps.
        assert!((e(RangeFn::StdvarOverTime, &[]) - 9.5).abs() < 1e-12);
        assert!((e(RangeFn::StddevOverTime, &[]) - 9.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(e(RangeFn::Changes, &[]), 3.0);
        assert_eq!(e(RangeFn::Resets, &[]), 0.0);
        // φ = 0.5 of 1, 2, 4, 9: halfway between 2 and 4.
        assert_eq!(e(RangeFn::QuantileOverTime, &[0.5]), 3.0);
        assert_eq!(e(RangeFn::QuantileOverTime, &[0.0]), 1.0);
        assert_eq!(e(RangeFn::QuantileOverTime, &[1.0]), 9.0);
        assert!(e(RangeFn::QuantileOverTime, &[f64::NAN]).is_nan());
        // One point is enough for these.
        let one = [(5, 7.0)];
        for f in [
            RangeFn::AvgOverTime,
            RangeFn::SumOverTime,
            RangeFn::MinOverTime,
            RangeFn::MaxOverTime,
            RangeFn::LastOverTime,
            RangeFn::QuantileOverTime,
        ] {
            assert_eq!(eval_range(f, &one, &win, &[0.5]), Some(7.0), "{f:?}");
        }
        assert_eq!(
            eval_range(RangeFn::StddevOverTime, &one, &win, &[]),
            Some(0.0)
        );
        assert_eq!(eval_range(RangeFn::Changes, &one, &win, &[]), Some(0.0));
        assert_eq!(eval_range(RangeFn::Resets, &one, &win, &[]), Some(0.0));
        // A missing parameter gives nothing rather than a panic.
        assert_eq!(eval_range(RangeFn::QuantileOverTime, &one, &win, &[]), None);
    }

    #[test]
    fn nan_and_infinities_over_time() {
        let win = w(0, 100_000);
        // min/max skip a leading NaN, but a NaN after a number is not taken.
        let pts = [(0, f64::NAN), (1, 3.0), (2, f64::NAN), (3, 1.0)];
        assert_eq!(eval_range(RangeFn::MinOverTime, &pts, &win, &[]), Some(1.0));
        assert_eq!(eval_range(RangeFn::MaxOverTime, &pts, &win, &[]), Some(3.0));
        // NaN → NaN is no change; NaN → 3 and 3 → NaN are.
        assert_eq!(eval_range(RangeFn::Changes, &pts, &win, &[]), Some(3.0));
        let nn = [(0, f64::NAN), (1, f64::NAN)];
        assert_eq!(eval_range(RangeFn::Changes, &nn, &win, &[]), Some(0.0));
        // Quantile sorts NaN first.
        assert!(
            eval_range(RangeFn::QuantileOverTime, &pts, &win, &[0.0])
                .unwrap()
                .is_nan()
        );
        assert_eq!(
            eval_range(RangeFn::QuantileOverTime, &pts, &win, &[1.0]),
            Some(3.0)
        );
        // The mean of large finite values does not overflow.
        let big = [(0, f64::MAX), (1, f64::MAX)];
        assert_eq!(
            eval_range(RangeFn::AvgOverTime, &big, &win, &[]),
            Some(f64::MAX)
        );
        let infs = [(0, f64::INFINITY), (1, 5.0), (2, f64::INFINITY)];
        assert_eq!(
            eval_range(RangeFn::AvgOverTime, &infs, &win, &[]),
            Some(f64::INFINITY)
        );
        let mixed = [(0, f64::INFINITY), (1, f64::NEG_INFINITY)];
        assert!(
            eval_range(RangeFn::AvgOverTime, &mixed, &win, &[])
                .unwrap()
                .is_nan()
        );
    }

    #[test]
    fn names_params_and_keeping_the_name() {
        for (name, params, idx) in [
            ("rate", 0, 0),
            ("quantile_over_time", 1, 1),
            ("predict_linear", 1, 0),
            ("holt_winters", 2, 0),
        ] {
            let f = RangeFn::from_name(name).unwrap();
            assert_eq!(
                (f.name(), f.params(), f.range_arg_index()),
                (name, params, idx)
            );
        }
        assert_eq!(RangeFn::from_name("absent_over_time"), None);
        assert_eq!(RangeFn::from_name("mad_over_time"), None);
        assert_eq!(RangeFn::from_name("abs"), None);
        assert!(RangeFn::LastOverTime.keeps_name());
        assert!(!RangeFn::MaxOverTime.keeps_name());
        assert!(!RangeFn::Rate.keeps_name());
    }
}
