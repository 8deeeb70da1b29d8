//! The evaluator: parses, checks, loads the selected series and evaluates step by step.

use tierlog::Store;

use crate::{Error, Options, QueryOutput, Result};

pub(crate) fn instant(
    _store: &Store,
    _expr: &str,
    _time: i64,
    _opts: &Options,
) -> Result<QueryOutput> {
    Err(Error::Unsupported("the evaluator is not built yet".into()))
}

pub(crate) fn range(
    _store: &Store,
    _expr: &str,
    _start: i64,
    _end: i64,
    _step: i64,
    _opts: &Options,
) -> Result<QueryOutput> {
    Err(Error::Unsupported("the evaluator is not built yet".into()))
}
