//! tierlog: an embedded storage engine for system metrics.
//!
//! An agent writes samples (metric name + labels → time in ms, f64 value); tierlog keeps them
//! durably and compactly in append-only, checksummed files, rolls them up into coarser tiers
//! (10 s and 60 s buckets by default, each with count, min, max, sum, first, last and an exact
//! p95), drops what its retention policy says is too old or over budget, and answers queries by
//! metric, label and time.
//!
//! # A tour
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tierlog::{Config, ManualClock, MetricKind, MetricMeta, Sample, Selector, Store};
//!
//! // A store in a fresh directory, on a clock the example moves by hand (a real agent keeps
//! // the default system clock).
//! let dir = tempfile::tempdir()?;
//! let now = 1_700_000_040_000; // ms since 1970, on a minute boundary
//! let clock = Arc::new(ManualClock::new(now));
//! let store = Store::open(dir.path(), Config::default().with_clock(clock.clone()))?;
//!
//! // Metadata is optional; counters get an `increase` in bucketed queries.
//! store.set_metric_meta("node_cpu_seconds_total", MetricMeta {
//!     kind: MetricKind::Counter,
//!     unit: "seconds".into(),
//!     description: "CPU time spent in each mode".into(),
//! })?;
//!
//! // Write a batch: one sample per series and second for a minute.
//! for i in 0..60 {
//!     let t = now + i * 1_000;
//!     clock.set(t);
//!     let summary = store.write(&[
//!         Sample::new("node_cpu_seconds_total", &[("cpu", "0"), ("mode", "user")], t, i as f64),
//!         Sample::new("node_cpu_seconds_total", &[("cpu", "0"), ("mode", "idle")], t, 2.0 * i as f64),
//!     ])?;
//!     assert_eq!(summary.accepted, 2);
//! }
//!
//! // Raw points of the series a PromQL-style selector matches, over [from, to).
//! let sel: Selector = r#"node_cpu_seconds_total{mode="user"}"#.parse()?;
//! let raw = store.query(&sel, now, now + 60_000)?;
//! assert_eq!(raw.series[0].points.len(), 60);
//!
//! // The same minute as one 60 s bucket (buckets start at multiples of the step).
//! let buckets = store.query_step(&sel, now, now + 60_000, Duration::from_secs(60))?;
//! let b = &buckets.series[0].points[0];
//! assert_eq!((b.count, b.min, b.max), (60, 0.0, 59.0));
//!
//! store.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where to look
//!
//! - [`Store`]: open, write, query, maintain; share it between threads in an `Arc`.
//! - [`Config`]: durability ([`Sync`]), window span, limits, retention ([`Tier`], `max_bytes`,
//!   `max_age_days`, [`Expiry`]) and the [`Clock`].
//! - [`Selector`]: which series a query reads.
//! - [`QueryResult`], [`QueryIter`] and [`BucketResult`]: raw points, raw points one series at
//!   a time, and bucketed (rollup) answers. All three say when the answer is partial.
//! - [`Error`]: one error type with structured variants; [`SampleError`] says what is wrong
//!   with a sample, [`Corruption`] what is wrong with damaged bytes.
//!
//! The file formats are specified in `format-spec/` of the repository; the `tierlog` command
//! line tool ingests, queries, verifies and dumps stores.

#![warn(missing_docs)]
#![deny(unsafe_code)]
// Without `internals`, items that only the workspace's tools reach are unused here.
#![cfg_attr(not(feature = "internals"), allow(dead_code, unreachable_pub))]

/// Declares an internal module: public (and hidden from the docs) with the `internals`
/// feature, which the workspace's tools, tests and fuzz targets enable; private otherwise.
macro_rules! internal_mod {
    ($($(#[$meta:meta])* $name:ident;)*) => {$(
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        $(#[$meta])*
        pub mod $name;
        #[cfg(not(feature = "internals"))]
        $(#[$meta])*
        mod $name;
    )*};
}

/// Declares a function or method that the workspace's tools call: `pub` (and hidden from the
/// docs) with the `internals` feature, `pub(crate)` otherwise.
macro_rules! internal {
    ($(#[$meta:meta])* fn $($rest:tt)*) => {
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        $(#[$meta])*
        pub fn $($rest)*
        #[cfg(not(feature = "internals"))]
        $(#[$meta])*
        pub(crate) fn $($rest)*
    };
}

pub mod clock;
pub mod config;
pub mod error;
pub mod layout;
pub mod model;
pub mod query;
pub mod store;
pub mod vfs;

internal_mod! {
    /// Importing history older than the raw keep straight into the tiers.
    backfill;
    /// Shared pieces of every file format: the common header, CRC-32C, byte helpers.
    format;
    /// Forwarder checkpoints as the store sees them.
    forward;
    /// The open windows' points in memory.
    head;
    /// The registry of metrics and series, its log and its compaction.
    index;
    /// Framed append-only files (window logs and the index).
    logfile;
    /// Retention: dropping and archiving whole segments.
    retention;
    /// A seeded generator for tests, benches and synthetic data.
    rng;
    /// Rollup tiers: bucket math, chunk format, plans, materialisation, step queries.
    rollup;
    /// Sealed segments: format, codecs, reader.
    segment;
    /// The state file.
    state;
    /// The window log: its records, creating and appending, replay at open.
    wal;
}

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, Expiry, Limits, Sync, Tier};
pub use error::{CodecError, Finding};
pub use error::{Corruption, Error, Result, SampleError};
pub use forward::late::ForwarderLate;
pub use model::{Labels, MetricId, MetricInfo, MetricKind, MetricMeta, SeriesId, SeriesInfo};
pub use query::selector::{MatchOp, Matcher, Selector, SelectorError};
pub use segment::cache::{ReadCache, ReadCacheStats};
pub use store::{
    BucketPoint, BucketResult, DeleteOptions, DeleteReport, DropReason, DroppedSegment,
    DurationHistogram, EXPOSITION_CONTENT_TYPE, IndexCompaction, MaintainReport, MaintenanceStats,
    P95_MERGED, P95_RAW_MISMATCH, RetentionReport, RetentionTotals, RollupReport, SeriesBuckets,
    StepIter,
};
pub use store::{
    BulkImport, QueryIter, QueryResult, Rejections, Sample, SeriesPoints, Store, StoreStats,
    TierPart, TierStats, WriteKey, WriteSummary,
};
