//! Rollup tiers: buckets of 10 s, 60 s, ... computed from raw points.
//!
//! This module holds the pure foundation: [`bucket`] aggregates raw points into epoch-aligned
//! buckets (min, max, sum, first, last, nearest-rank p95, counter increase, NaN count) and
//! merges buckets for step queries. Their on-disk encoding is [`crate::format::rollup`]
//! (`format-spec/rollup-chunk.md`). [`plan`] decides which pieces of time are final and due
//! for materialisation (pure; the executor that does the I/O is `store::rollup`).

pub mod bucket;
pub mod plan;

pub use bucket::{Bucket, Merged, aggregate, counter_increases, merge, step_counts};
