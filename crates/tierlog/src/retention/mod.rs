//! Retention: dropping whole segments by age (each tier's keep and `max_age_days`) and by the
//! store's byte budget (`max_bytes`), oldest data first.
//!
//! A raw segment is never dropped before every tier has materialised its window (its buckets
//! exist) and the piece after it (which reads its last points for a counter's first step), and
//! open windows, the index and the state file are never dropped. A segment is
//! taken out of the store's maps under the lock (queries that already hold it keep reading
//! their mapping), then renamed to a `.tmp` name — from here a crash leaves a temporary file
//! that the next writer open removes — and unlinked, with the directory fsynced. No lock is
//! held across that I/O. With `on_expiry` set to archive, the last tier's segments are moved
//! to the archive instead (see `archive.rs`).
//!
//! Deciding and doing are apart: `plan.rs` decides which segments go and why, a pure function
//! of a description of the store, its settings and the clock; `apply.rs` describes the store
//! under the lock, asks the plan, and does the I/O.

mod apply;
pub mod archive;
pub mod plan;

use std::path::PathBuf;

/// Why a segment was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum DropReason {
    /// Older than its tier's keep time (the shorter limit).
    TierKeep,
    /// Older than `max_age_days` (the shorter limit).
    MaxAge,
    /// Dropped, oldest first, to bring the store within `max_bytes`.
    Budget,
}

impl DropReason {
    /// The reason as it prints everywhere (tables, CSV, JSON): `tier_keep`, `max_age`,
    /// `budget`.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::TierKeep => "tier_keep",
            DropReason::MaxAge => "max_age",
            DropReason::Budget => "budget",
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One dropped segment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DroppedSegment {
    /// `raw` or a tier's name.
    pub tier: String,
    /// Start of the time it covered, ms.
    pub start_ms: i64,
    /// End (exclusive) of the time it covered, ms.
    pub end_ms: i64,
    /// Bytes freed.
    pub bytes: u64,
    /// Which limit dropped it.
    pub reason: DropReason,
    /// Where the segment was archived, when it was moved to the archive instead of deleted.
    pub archived_to: Option<PathBuf>,
}

/// What retention did in one maintenance pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RetentionReport {
    /// Segments dropped, in the order they were.
    pub dropped: Vec<DroppedSegment>,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// Raw segments past their keep time kept because a tier has not materialised them yet.
    pub held_for_rollups: u64,
    /// Raw segments past their keep time kept because a forwarder has not sent all of their
    /// points yet (within [`crate::Config::forward_backlog`]).
    pub held_for_forward: u64,
    /// Raw points dropped before a forwarder sent them (the backlog limit or the byte budget
    /// was reached); also logged as a warning.
    pub never_forwarded: u64,
    /// The store's bytes on disk after the pass (counted only when there is a budget; 0
    /// otherwise).
    pub total_bytes: u64,
    /// By how much the store is still over `max_bytes` (0 when within it or no budget): what
    /// remains cannot be dropped (open windows, the index, raw data not rolled up yet).
    pub over_budget_bytes: u64,
    /// Deletions by age were held back: the clock is more than `max_clock_lead` ahead of the
    /// newest data (`Some(lead in ms)`), and `accept_clock` is not set.
    pub age_held_back: Option<i64>,
    /// Series removed from the index: their samples were all in dropped segments.
    pub series_removed: u64,
    /// The index was rewritten without removed series (`store::compact_index`).
    pub index_compacted: Option<crate::store::IndexCompaction>,
}

/// Retention's counters since the store was opened (in [`crate::StoreStats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RetentionTotals {
    /// Segments dropped for their tier's keep.
    pub dropped_tier_keep: u64,
    /// Segments dropped for `max_age_days`.
    pub dropped_max_age: u64,
    /// Segments dropped for the byte budget.
    pub dropped_budget: u64,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// Passes whose deletions by age were held back by clock sanity.
    pub passes_held_back: u64,
    /// Passes that ended over the byte budget.
    pub passes_over_budget: u64,
    /// Series removed from the index once none of their samples was left.
    pub series_removed: u64,
    /// Index compactions (`index.log` rewritten without removed series).
    pub index_compactions: u64,
}

#[cfg(test)]
mod tests {
    use crate::store::DropReason;

    #[test]
    fn drop_reasons_print_as_they_serialise() {
        for r in [DropReason::TierKeep, DropReason::MaxAge, DropReason::Budget] {
            let json = serde_json::to_value(r).unwrap();
            assert_eq!(json.as_str(), Some(r.as_str()));
            assert_eq!(r.to_string(), r.as_str());
        }
        assert_eq!(DropReason::TierKeep.to_string(), "tier_keep");
    }
}
