//! Errors of parsing and evaluating PromQL.

use std::fmt;

/// Why a query could not be answered. The HTTP API maps `Parse`, `Unsupported` and `BadQuery`
/// to 400 `bad_data`, `Execution`, `TooManySamples` and `Store` to 422 `execution`,
/// `Timeout` and `Canceled` to 503.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The expression does not parse.
    Parse(String),
    /// The expression uses something this engine does not evaluate (named in the message),
    /// such as a PromQL feature newer than Prometheus 2.42 or native histograms.
    Unsupported(String),
    /// The query's parameters are invalid (e.g. a non-positive step, end before start, too
    /// many points per series).
    BadQuery(String),
    /// Evaluation failed (e.g. many-to-many matching, duplicate series after dropping the
    /// metric name, a tier-aware quantile that cannot be exact).
    Execution(String),
    /// The query would load more samples than allowed.
    TooManySamples {
        /// The configured limit.
        limit: usize,
    },
    /// The query ran past its deadline.
    Timeout,
    /// The query was canceled.
    Canceled,
    /// The store failed to answer.
    Store(tierlog::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Parse(m) => write!(f, "parse error: {m}"),
            Error::Unsupported(m) => write!(f, "not supported: {m}"),
            Error::BadQuery(m) | Error::Execution(m) => f.write_str(m),
            Error::TooManySamples { limit } => write!(
                f,
                "query processing would load too many samples into memory (more than {limit})"
            ),
            Error::Timeout => f.write_str("query timed out"),
            Error::Canceled => f.write_str("query was canceled"),
            Error::Store(e) => write!(f, "store: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<tierlog::Error> for Error {
    fn from(e: tierlog::Error) -> Self {
        Error::Store(e)
    }
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
