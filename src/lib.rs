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

pub mod clock;
pub mod config;
pub mod error;
pub mod format;
pub mod fuzzing;
pub mod import;
pub mod index;
pub mod inspect;
pub mod io;
pub mod logfile;
pub mod model;
pub mod query;
pub mod rollup;
pub mod segment;
pub mod store;
pub mod wal;
pub mod workload;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, Expiry, Limits, Sync, Tier};
pub use error::{Corruption, Error, Result, SampleError};
pub use model::{Labels, MetricInfo, MetricKind, MetricMeta, SeriesId, SeriesInfo};
pub use query::selector::{MatchOp, Matcher, Selector};
pub use store::{
    BucketPoint, BucketResult, DropReason, DroppedSegment, IndexCompaction, MaintainReport,
    P95_MERGED, P95_RAW_MISMATCH, RetentionReport, RetentionTotals, RollupReport, SeriesBuckets,
};
pub use store::{QueryResult, Sample, SeriesPoints, Store, StoreStats, WriteSummary};
