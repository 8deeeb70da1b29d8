//! tierlog: an embedded storage engine for system metrics.
//!
//! An agent writes samples (metric name + labels → time in ms, f64 value); tierlog keeps them
//! durably and compactly in append-only, checksummed files and answers queries by metric,
//! label and time.
//!
//! ```no_run
//! use tierlog::{Config, Sample, Selector, Store};
//!
//! let store = Store::open("/var/lib/agent/metrics", Config::default())?;
//! let now = 1_700_000_000_000;
//! store.write(&[Sample::new("cpu_seconds_total", &[("mode", "user")], now, 12.5)])?;
//! let sel: Selector = r#"cpu_seconds_total{mode="user"}"#.parse()?;
//! let result = store.query(&sel, now - 3_600_000, now + 1)?;
//! for s in &result.series {
//!     println!("{} {:?} {} points", s.metric, s.labels, s.points.len());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layout: `format` holds the pure encoders/decoders of every file type (spec in
//! `format-spec/`), `io` the file operations, `log` the framed append-only files, `wal` the
//! open window, `segment` sealed segments, `index` the registry of metrics and series, `query`
//! selectors, `store` the orchestration, `import` input formats.

#![warn(missing_docs)]

pub mod clock;
pub mod config;
pub mod error;
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
    QueryIter, QueryResult, Sample, SeriesPoints, Store, StoreStats, TierPart, TierStats,
    WriteSummary,
};
