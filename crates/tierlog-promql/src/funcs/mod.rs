//! PromQL functions: those over range vectors ([`range`]) and those over instant vectors
//! and scalars ([`instant`]).

pub mod instant;
pub mod range;
