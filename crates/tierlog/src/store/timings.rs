//! In-memory figures of the store's own work since the open: how long group-commit fsyncs
//! and maintenance passes took, and what the passes did. Atomics only, no I/O; reported by
//! [`super::Store::stats`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::MaintainReport;

/// Bucket upper bounds (seconds) of [`super::StoreStats::fsync`].
pub const FSYNC_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Bucket upper bounds (seconds) of [`MaintenanceStats::duration`].
pub const MAINTENANCE_BUCKETS: [f64; 13] = [
    0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// A histogram of durations, as [`super::StoreStats`] reports it.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DurationHistogram {
    /// Upper bounds of the buckets, seconds, ascending (the last bucket, `+Inf`, is
    /// [`DurationHistogram::count`]).
    pub bounds: Vec<f64>,
    /// Observations at most each bound (cumulative, as Prometheus' `le` buckets).
    pub cumulative: Vec<u64>,
    /// Observations.
    pub count: u64,
    /// Sum of the observations, seconds.
    pub sum_seconds: f64,
}

/// What the maintenance passes did since the open (those that ran: a pass that found
/// another one running, or that failed, is not counted).
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct MaintenanceStats {
    /// Durations of the passes: [`super::Store::maintain`], the maintenance thread's, and
    /// the sealing a write starts when a window is due.
    pub duration: DurationHistogram,
    /// Windows sealed.
    pub windows_sealed: u64,
    /// Points written into new raw segments.
    pub points_sealed: u64,
    /// Bytes of the new raw segments.
    pub bytes_sealed: u64,
    /// Late samples merged into their windows' segments.
    pub late_samples_merged: u64,
    /// Rollup pieces materialised.
    pub rollup_pieces: u64,
    /// Rollup buckets written.
    pub rollup_buckets: u64,
    /// Segment spans compacted into one file.
    pub spans_compacted: u64,
}

/// A histogram kept in atomics.
#[derive(Debug)]
pub(crate) struct AtomicHistogram {
    bounds: &'static [f64],
    /// Per bucket, not cumulative; one more than `bounds` (above every bound).
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl AtomicHistogram {
    fn new(bounds: &'static [f64]) -> Self {
        AtomicHistogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }

    pub(crate) fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = self
            .bounds
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> DurationHistogram {
        let mut cum = 0;
        let mut cumulative = Vec::with_capacity(self.bounds.len());
        for b in &self.buckets[..self.bounds.len()] {
            cum += b.load(Ordering::Relaxed);
            cumulative.push(cum);
        }
        cum += self.buckets[self.bounds.len()].load(Ordering::Relaxed);
        DurationHistogram {
            bounds: self.bounds.to_vec(),
            cumulative,
            // Never below the buckets' total (an observation may land between the loads).
            count: self.count.load(Ordering::Relaxed).max(cum),
            sum_seconds: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

/// The live figures behind [`super::StoreStats::fsync`] and
/// [`super::StoreStats::maintenance`].
#[derive(Debug)]
pub(crate) struct Timings {
    pub(crate) fsync: AtomicHistogram,
    maintain: AtomicHistogram,
    windows_sealed: AtomicU64,
    points_sealed: AtomicU64,
    bytes_sealed: AtomicU64,
    late_merged: AtomicU64,
    rollup_pieces: AtomicU64,
    rollup_buckets: AtomicU64,
    compacted: AtomicU64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            fsync: AtomicHistogram::new(&FSYNC_BUCKETS),
            maintain: AtomicHistogram::new(&MAINTENANCE_BUCKETS),
            windows_sealed: AtomicU64::new(0),
            points_sealed: AtomicU64::new(0),
            bytes_sealed: AtomicU64::new(0),
            late_merged: AtomicU64::new(0),
            rollup_pieces: AtomicU64::new(0),
            rollup_buckets: AtomicU64::new(0),
            compacted: AtomicU64::new(0),
        }
    }
}

impl Timings {
    /// Records a pass that started at `start` and did what `r` says.
    pub(crate) fn pass(&self, start: Instant, r: &MaintainReport) {
        self.maintain.observe(start.elapsed());
        let add = |a: &AtomicU64, n: u64| {
            a.fetch_add(n, Ordering::Relaxed);
        };
        add(&self.windows_sealed, r.sealed_windows.len() as u64);
        add(&self.points_sealed, r.sealed_points);
        add(&self.bytes_sealed, r.sealed_bytes);
        add(&self.late_merged, r.late.samples);
        add(&self.rollup_pieces, r.rollups.pieces);
        add(&self.rollup_buckets, r.rollups.buckets);
        add(&self.compacted, r.rollups.compacted);
    }

    pub(crate) fn fsync_snapshot(&self) -> DurationHistogram {
        self.fsync.snapshot()
    }

    pub(crate) fn maintenance_snapshot(&self) -> MaintenanceStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MaintenanceStats {
            duration: self.maintain.snapshot(),
            windows_sealed: g(&self.windows_sealed),
            points_sealed: g(&self.points_sealed),
            bytes_sealed: g(&self.bytes_sealed),
            late_samples_merged: g(&self.late_merged),
            rollup_pieces: g(&self.rollup_pieces),
            rollup_buckets: g(&self.rollup_buckets),
            spans_compacted: g(&self.compacted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_inclusive() {
        let h = AtomicHistogram::new(&FSYNC_BUCKETS);
        h.observe(Duration::from_micros(100)); // on the first bound: in it
        h.observe(Duration::from_micros(101));
        h.observe(Duration::from_secs(3)); // above every bound
        let s = h.snapshot();
        assert_eq!(s.cumulative[..3], [1, 2, 2]);
        assert_eq!(*s.cumulative.last().unwrap(), 2);
        assert_eq!(s.count, 3);
        assert!((s.sum_seconds - 3.000201).abs() < 1e-9, "{}", s.sum_seconds);
        assert_eq!(s.bounds.len(), s.cumulative.len());
    }
}
