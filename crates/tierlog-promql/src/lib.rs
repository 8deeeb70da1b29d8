//! PromQL over a tierlog [`Store`], evaluated as Prometheus 2.42 does, from raw points and,
//! where those have expired, from the exact rollup tiers.
//!
//! ```no_run
//! use tierlog::{Config, Store};
//! use tierlog_promql::{Options, Value};
//!
//! let store = Store::open_read_only("metrics", Config::default())?;
//! let now = 1_700_000_000_000;
//! let out = tierlog_promql::query_range(
//!     &store,
//!     "sum by (mode) (rate(node_cpu_seconds_total[5m]))",
//!     now - 3_600_000,
//!     now,
//!     60_000,
//!     &Options::default(),
//! )?;
//! if let Value::Matrix(series) = out.value {
//!     for s in series {
//!         println!("{} {} points", s.labels, s.points.len());
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The parser knows the Prometheus 3.x grammar; what 2.42 does not have is refused by name
//! with [`Error::Unsupported`] rather than answered: quoted (UTF-8) metric and label names,
//! `or` between label matchers, `fill` modifiers, durations without a unit, `limitk` and
//! `limit_ratio`, experimental and 3.x functions (`first_over_time`, `mad_over_time`,
//! `ts_of_*`, `sort_by_label*`, `info`, `histogram_*` but `histogram_quantile`, …). 2.42's
//! `holt_winters` keeps its name.
//!
//! Where a window reaches before the raw points the store keeps, `sum_over_time`,
//! `count_over_time`, `min_over_time`, `max_over_time`, `avg_over_time` and `last_over_time`
//! of a range selector are answered from a rollup tier whose interval divides the range and
//! the step and on whose bucket boundaries the windows start; a warning in
//! [`QueryOutput::warnings`] names the tier.
#![warn(missing_docs)]

pub mod aggr;
pub mod binop;
mod check;
mod error;
mod eval;
pub mod funcs;
pub mod ops;
#[cfg(test)]
mod test_vectors;
mod value;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

pub use error::{Error, Result};
pub use value::{Labels, METRIC_NAME, QueryOutput, Sample, Series, Value, format_value};

use tierlog::Store;

/// Limits and settings of one query, with Prometheus' defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// How far back an instant selector looks for a point (default 5 minutes).
    pub lookback_delta_ms: i64,
    /// Most samples a query may hold in memory at once (default 50 million).
    pub max_samples: usize,
    /// Most points per series a range query may return (default 11,000).
    pub max_points_per_series: usize,
    /// When set, evaluation stops with [`Error::Timeout`] once this instant has passed.
    pub deadline: Option<Instant>,
    /// When set and true, evaluation stops with [`Error::Canceled`].
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            lookback_delta_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            max_points_per_series: 11_000,
            deadline: None,
            cancel: None,
        }
    }
}

/// Evaluates `expr` at one instant `time` (ms since the epoch), as `/api/v1/query` does.
pub fn query(store: &Store, expr: &str, time: i64, opts: &Options) -> Result<QueryOutput> {
    eval::instant(store, expr, time, opts)
}

/// Evaluates `expr` at `start`, `start + step`, … up to `end` (ms), as `/api/v1/query_range`
/// does; the value is always a [`Value::Matrix`].
pub fn query_range(
    store: &Store,
    expr: &str,
    start: i64,
    end: i64,
    step: i64,
    opts: &Options,
) -> Result<QueryOutput> {
    eval::range(store, expr, start, end, step, opts)
}
