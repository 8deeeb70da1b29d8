//! The adapter trait every engine implements, and the variants the harness runs.

use std::path::Path;
use std::sync::Arc;

use crate::source::{Point, SeriesKey};

/// Samples per write call, for every engine.
pub const BATCH: usize = 10_000;

pub type Result<T> = std::result::Result<T, String>;

/// One engine under one durability setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// WAL mode, `synchronous=NORMAL`: commits reach the WAL file, fsync only at checkpoints.
    SqliteNormal,
    /// WAL mode, `synchronous=FULL`: every commit fsyncs the WAL.
    SqliteFull,
    /// `WalSyncMode::Periodic(1 s)`.
    TsinkPeriodic,
    /// `WalSyncMode::PerAppend`: fsync before every insert returns.
    TsinkPerAppend,
    /// VictoriaMetrics' HTTP import (`/api/v1/import/prometheus`; it answers before any fsync).
    VictoriaMetrics,
    /// `Sync::Interval(1 s)`.
    TierlogInterval,
    /// `Sync::EveryWrite`, group commit across writers.
    TierlogEveryWrite,
    /// `Sync::Never`.
    TierlogNever,
}

impl Variant {
    pub const ALL: [Variant; 8] = [
        Variant::SqliteNormal,
        Variant::SqliteFull,
        Variant::TsinkPeriodic,
        Variant::TsinkPerAppend,
        Variant::VictoriaMetrics,
        Variant::TierlogInterval,
        Variant::TierlogEveryWrite,
        Variant::TierlogNever,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::SqliteNormal => "sqlite-normal",
            Variant::SqliteFull => "sqlite-full",
            Variant::TsinkPeriodic => "tsink-periodic",
            Variant::TsinkPerAppend => "tsink-per-append",
            Variant::VictoriaMetrics => "victoriametrics",
            Variant::TierlogInterval => "tierlog-interval",
            Variant::TierlogEveryWrite => "tierlog-every-write",
            Variant::TierlogNever => "tierlog-never",
        }
    }

    pub fn by_name(s: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == s)
    }

    /// The engine's name, as `--engines` spells it.
    pub fn engine(self) -> &'static str {
        match self {
            Variant::SqliteNormal | Variant::SqliteFull => "sqlite",
            Variant::TsinkPeriodic | Variant::TsinkPerAppend => "tsink",
            Variant::VictoriaMetrics => "victoriametrics",
            _ => "tierlog",
        }
    }

    /// The setting as the table shows it.
    pub fn setting(self) -> &'static str {
        match self {
            Variant::SqliteNormal => "WAL, synchronous=NORMAL",
            Variant::SqliteFull => "WAL, synchronous=FULL",
            Variant::TsinkPeriodic => "WalSyncMode::Periodic(1 s)",
            Variant::TsinkPerAppend => "WalSyncMode::PerAppend",
            Variant::VictoriaMetrics => "1.79, HTTP import",
            Variant::TierlogInterval => "Sync::Interval(1 s)",
            Variant::TierlogEveryWrite => "Sync::EveryWrite",
            Variant::TierlogNever => "Sync::Never",
        }
    }

    /// Is a write durable when it returns?
    pub fn durable(self) -> bool {
        matches!(
            self,
            Variant::SqliteFull | Variant::TsinkPerAppend | Variant::TierlogEveryWrite
        )
    }

    /// Concurrent writer threads: 4 where acknowledgement waits for fsync and the engine
    /// accepts concurrent writers (so fsyncs can be shared); SQLite serialises writers, so 1.
    pub fn writers(self) -> usize {
        match self {
            Variant::TsinkPerAppend | Variant::TierlogEveryWrite => 4,
            _ => 1,
        }
    }
}

/// One 60 s bucket as the aggregate query returns it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub start: i64,
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub p95: f64,
}

/// The series of one metric the "many series" query reads, and how to select them by label.
#[derive(Debug, Clone)]
pub struct ManyQuery {
    pub metric: String,
    /// The label whose values pick the series ...
    pub label: String,
    /// ... these values (every series of `metric` with one of them).
    pub values: Vec<String>,
    /// The series that rule selects (indices into the workload's series).
    pub series: Vec<u32>,
}

/// What a query read: points, the sum of their values (to check engines agree) and a digest
/// of the values' bits (to check an engine returns exactly what it was given).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Read {
    pub points: u64,
    pub sum: f64,
    /// Wrapping sum of [`mix`] of each value's bits: independent of order, changed by any
    /// value that comes back different in any bit.
    pub bits: u64,
}

impl Read {
    pub fn add(&mut self, v: f64) {
        self.points += 1;
        self.sum += v;
        self.bits = self.bits.wrapping_add(mix(v.to_bits()));
    }
}

/// A 64-bit finaliser (splitmix64's): nearby inputs give unrelated outputs.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One tier's size: bytes on disk and points (buckets, for a rollup tier).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TierBytes {
    pub tier: String,
    pub bytes: u64,
    pub points: u64,
}

/// One engine's store in one directory.
pub trait Adapter {
    /// Writes one block of samples (time-ordered scrapes) in batches of [`BATCH`], with
    /// [`Variant::writers`] threads. The harness times this call.
    fn write(&mut self, block: &[Point]) -> Result<()>;
    /// Every point of one series in `[from, to)`.
    fn query_series(&mut self, series: u32, from: i64, to: i64) -> Result<Read>;
    /// Every point of the selected series in `[from, to)`.
    fn query_many(&mut self, q: &ManyQuery, from: i64, to: i64) -> Result<Read>;
    /// `step_ms` buckets of one series over `[from, to)`: count, min, max, avg and p95.
    fn query_buckets(
        &mut self,
        series: u32,
        from: i64,
        to: i64,
        step_ms: i64,
    ) -> Result<Vec<Bucket>>;
    /// Bytes of the raw samples alone, where the engine keeps more than them (tierlog's
    /// rollup tiers and index); `None` when everything on disk is the raw data.
    fn raw_bytes(&self) -> Option<u64> {
        None
    }
    /// After the last write, before [`Adapter::close`]: a server engine brings its files to
    /// their final state and measures them while it runs (VictoriaMetrics: flush, force-merge,
    /// wait until the directory stops changing). `None`: the harness measures the directory
    /// after close.
    fn settle(&mut self) -> Result<Option<u64>> {
        Ok(None)
    }
    /// Bytes and points of each tier (`raw` first), where the engine has tiers.
    fn tiers(&self) -> Vec<TierBytes> {
        Vec::new()
    }
    /// Makes everything durable and closes (tierlog: seals the open windows and builds the
    /// rollup tiers first, as its maintenance would).
    fn close(self: Box<Self>) -> Result<()>;
}

/// Opens (creating if needed) `variant`'s store in `dir` for the workload's `series`, whose
/// samples lie in `[start, end]` (tierlog's clock and raw keep follow them); `reopen` says the
/// data is already written.
pub fn open(
    variant: Variant,
    dir: &Path,
    series: Arc<Vec<SeriesKey>>,
    (start, end): (i64, i64),
    reopen: bool,
) -> Result<Box<dyn Adapter>> {
    Ok(match variant.engine() {
        "sqlite" => Box::new(crate::engines::sqlite::Sqlite::open(variant, dir, series)?),
        "tsink" => Box::new(crate::engines::tsink::Tsink::open(variant, dir, series)?),
        "victoriametrics" => Box::new(crate::engines::victoria::Victoria::open(dir, series)?),
        _ => Box::new(crate::engines::tierlog::Tierlog::open(
            variant, dir, series, start, end, reopen,
        )?),
    })
}

/// Splits a block by writer: series `i` belongs to writer `i % writers`, so each writer
/// owns its series and writes them in time order.
pub fn split(block: &[Point], writers: usize) -> Vec<Vec<Point>> {
    let mut out = vec![Vec::with_capacity(block.len() / writers + 1); writers];
    for &p in block {
        out[p.0 as usize % writers].push(p);
    }
    out
}

/// Buckets of `step_ms` over time-ordered `(ts, value)` points; p95 is nearest-rank
/// (the ceil(0.95·n)-th smallest value), computed in Rust from the fetched points.
pub fn buckets(points: &[(i64, f64)], step_ms: i64) -> Vec<Bucket> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut vals = Vec::new();
    while i < points.len() {
        let start = points[i].0.div_euclid(step_ms) * step_ms;
        vals.clear();
        while i < points.len() && points[i].0 < start + step_ms {
            vals.push(points[i].1);
            i += 1;
        }
        let n = vals.len();
        let sum: f64 = vals.iter().sum();
        let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let rank = ((n as f64 * 0.95).ceil() as usize).clamp(1, n) - 1;
        let (_, p95, _) = vals.select_nth_unstable_by(rank, |a, b| a.total_cmp(b));
        out.push(Bucket {
            start,
            count: n as u64,
            min,
            max,
            avg: sum / n as f64,
            p95: *p95,
        });
    }
    out
}
