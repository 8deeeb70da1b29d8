//! Side-by-side benchmark of tierlog, SQLite and tsink on the same seeded workload.
//!
//! Kept out of the library's build: this crate is a workspace member that the root's
//! `default-members` leaves out, so rusqlite and tsink never reach `tierlog`. See
//! `BENCHMARKS.md` (section "Comparison with SQLite and tsink") for how to run it.

pub mod engine;
pub mod engines;
pub mod run;
pub mod source;
pub mod table;
