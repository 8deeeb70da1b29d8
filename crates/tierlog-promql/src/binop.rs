//! Binary operators between scalars and instant vectors, with vector matching.

use crate::ops::{BinOp, VectorMatching};
use crate::{Error, Result, Sample};

/// `lhs op rhs` between two instant vectors; output samples carry timestamp `t`.
pub fn vector_vector(
    op: BinOp,
    _lhs: Vec<Sample>,
    _rhs: Vec<Sample>,
    _matching: &VectorMatching,
    _return_bool: bool,
    _t: i64,
) -> Result<Vec<Sample>> {
    Err(Error::Unsupported(format!("operator {op:?}")))
}

/// `vector op scalar` (or `scalar op vector` when `scalar_left`); output samples carry
/// timestamp `t`.
pub fn vector_scalar(
    _op: BinOp,
    _v: Vec<Sample>,
    _s: f64,
    _scalar_left: bool,
    _return_bool: bool,
    _t: i64,
) -> Vec<Sample> {
    Vec::new()
}

/// `a op b` between two scalars (comparisons need `bool`).
pub fn scalar_scalar(op: BinOp, _a: f64, _b: f64, _return_bool: bool) -> Result<f64> {
    Err(Error::Unsupported(format!("operator {op:?}")))
}
