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

pub mod clock;
pub mod config;
pub mod error;
pub mod forward;
pub mod model;
pub mod query;
pub mod store;

// The modules below are public so that the `tierlog` binary, the integration tests, the
// benches and the fuzz targets can reach the engine's parts; they are not the library's API
// and may change in any release, so the rendered documentation leaves them out.
#[doc(hidden)] // Pure encoders and decoders of every file type (spec in format-spec/).
pub mod format;
#[doc(hidden)] // Decoder entry points for the fuzz targets and their corpus replay.
pub mod fuzzing;
#[doc(hidden)] // Input parsers behind `tierlog ingest`; not yet a stable library API.
pub mod import;
#[doc(hidden)] // The registry of metrics and series; reached through `Store`.
pub mod index;
#[doc(hidden)] // File walks behind `tierlog dump` and `tierlog verify`.
pub mod inspect;
#[doc(hidden)] // Every filesystem call of the engine, with errors naming file and operation.
pub mod io;
#[doc(hidden)] // Framed append-only files; `Finding` is re-exported below.
pub mod logfile;
#[doc(hidden)] // Bucket math and rollup plans; results reach users as `BucketPoint`.
pub mod rollup;
#[doc(hidden)] // Sealed segment reader and writer.
pub mod segment;
#[doc(hidden)] // The open window's in-memory data and log replay.
pub mod wal;
#[doc(hidden)] // Seeded workload generator shared by benches and tests.
pub mod workload;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, Expiry, Limits, Sync, Tier};
pub use error::{Corruption, Error, Result, SampleError};
pub use format::codec::CodecError;
pub use logfile::Finding;
pub use model::{Labels, MetricId, MetricInfo, MetricKind, MetricMeta, SeriesId, SeriesInfo};
pub use query::selector::{MatchOp, Matcher, Selector, SelectorError};
pub use store::{
    BucketPoint, BucketResult, DropReason, DroppedSegment, IndexCompaction, MaintainReport,
    P95_MERGED, P95_RAW_MISMATCH, RetentionReport, RetentionTotals, RollupReport, SeriesBuckets,
};
pub use store::{
    QueryIter, QueryResult, Rejections, Sample, SeriesPoints, Store, StoreStats, TierPart,
    TierStats, WriteSummary,
};
