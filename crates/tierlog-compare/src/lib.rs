//! Side-by-side benchmark of tierlog, SQLite, tsink and VictoriaMetrics on the same workload.
//!
//! A crate of its own so that rusqlite, tsink and the HTTP client never reach the engine's
//! build. See
//! `BENCHMARKS.md` (section "Comparison with SQLite and tsink") for how to run it.

#![deny(unsafe_code)]

pub mod engine;
pub mod engines;
pub mod run;
pub mod source;
pub mod table;
