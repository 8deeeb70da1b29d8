//! Functions over instant vectors, scalars and strings, at one evaluation step.

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

/// Calls function `name` on `args` at evaluation time `t` (ms).
pub fn call(name: &str, _args: Vec<Arg>, _t: i64) -> Result<Out> {
    Err(Error::Unsupported(format!("function {name}")))
}
