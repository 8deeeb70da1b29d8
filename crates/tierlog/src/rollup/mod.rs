//! Rollup tiers: buckets of 10 s, 60 s, ... computed from raw points.
//!
//! This module holds the pure foundation: [`bucket`](crate::rollup::bucket) aggregates raw points into epoch-aligned
//! buckets (min, max, sum, first, last, nearest-rank p95, counter increase, NaN count) and
//! merges buckets for step queries. Their on-disk encoding is [`crate::rollup::format`]
//! (`format-spec/rollup-chunk.md`). [`plan`](crate::rollup::plan) decides which pieces of time are final and due
//! for materialisation (pure; the executor that does the I/O is [`materialise`](crate::rollup::materialise); step queries are [`step`](crate::rollup::step)).

pub mod bucket;
pub mod format;
pub mod layout2;
pub mod materialise;
pub mod plan;
pub(crate) mod recompute;
pub mod step;

pub use bucket::{Bucket, Merged, aggregate, counter_increases, merge};
