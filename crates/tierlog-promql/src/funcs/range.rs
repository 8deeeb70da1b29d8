//! Functions over one series' points in a range window.

/// A function over a range vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RangeFn {
    /// `rate`
    Rate,
}

impl RangeFn {
    /// The function called `name`, if it takes a range vector.
    pub fn from_name(_name: &str) -> Option<RangeFn> {
        None
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

/// `f` over `points` (the series' points in the window, in time order), with the function's
/// scalar parameters in `params`; `None` when the function gives no sample.
pub fn eval_range(
    _f: RangeFn,
    _points: &[(i64, f64)],
    _w: &Window,
    _params: &[f64],
) -> Option<f64> {
    None
}
