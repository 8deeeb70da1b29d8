//! PromQL functions: those over range vectors ([`range`]) and those over instant vectors
//! and scalars ([`instant`]).

mod date;
mod gosort;
pub(crate) mod histogram;
pub mod instant;
mod labels;
pub mod range;

#[cfg(test)]
mod instant_tests;
