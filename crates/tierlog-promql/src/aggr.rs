//! Aggregation operators over one step's instant vector.

use crate::ops::{AggOp, AggParam, Grouping};
use crate::{Error, Result, Sample};

/// Aggregates `input` (one step's samples) with `op`, grouped by `grouping`; output samples
/// carry timestamp `t`.
pub fn aggregate(
    op: AggOp,
    _param: &AggParam,
    _grouping: &Grouping,
    _input: Vec<Sample>,
    _t: i64,
) -> Result<Vec<Sample>> {
    Err(Error::Unsupported(format!("aggregation {op:?}")))
}
