//! Sealing: turning windows whose end plus grace has passed into immutable segments.

use std::sync::Arc;

use super::{Shared, Store, window_file_name};
use crate::error::Result;
use crate::segment::{self, Segment};

/// What one maintenance pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct MaintainReport {
    /// Start (ms) of each window sealed.
    pub sealed_windows: Vec<i64>,
    /// Points written into new segments.
    pub sealed_points: u64,
    /// Bytes of the new segments.
    pub sealed_bytes: u64,
    /// Late samples merged into their windows' segments.
    pub late: super::LateReport,
    /// Rollup materialisation.
    pub rollups: super::RollupReport,
    /// Retention.
    pub retention: super::RetentionReport,
}

impl Store {
    /// True when some open window's end plus grace has passed.
    pub fn has_due_window(&self) -> bool {
        self.shared.has_due_window()
    }

    /// Runs one maintenance pass: seals every window whose end plus grace has passed,
    /// materialises every rollup piece that is final (all of it, however far behind), compacts
    /// complete segment spans, then applies retention (each tier's keep, `max_age_days`,
    /// `max_bytes`). Writes and queries continue meanwhile; only one pass runs at a time.
    ///
    /// The maintenance thread ([`Config::maintenance_interval`](crate::Config::maintenance_interval))
    /// runs this every 10 s by default; call it yourself when the thread is off.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use tierlog::{Config, DropReason, ManualClock, Sample, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let t0 = 1_700_000_400_000; // on a 20-minute window boundary
    /// let clock = Arc::new(ManualClock::new(t0));
    /// let config = Config::default()
    ///     .with_clock(clock.clone())
    ///     .with_tiers(vec![]) // raw data only, kept 2 h (the default raw keep)
    ///     .with_maintenance_interval(None);
    /// let store = Store::open(dir.path(), config)?;
    /// store.write(&[Sample::new("up", &[], t0, 1.0)])?;
    ///
    /// // Past the window's end plus the 5-minute grace, the window is sealed.
    /// clock.set(t0 + Duration::from_secs(26 * 60).as_millis() as i64);
    /// let report = store.maintain()?;
    /// assert_eq!(report.sealed_windows, [t0]);
    ///
    /// // Past the raw keep, retention drops the segment.
    /// clock.set(t0 + Duration::from_secs(3 * 3600).as_millis() as i64);
    /// let report = store.maintain()?;
    /// let dropped = &report.retention.dropped;
    /// assert_eq!(dropped.len(), 1);
    /// assert_eq!((dropped[0].tier.as_str(), dropped[0].reason), ("raw", DropReason::TierKeep));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn maintain(&self) -> Result<MaintainReport> {
        self.shared.check_writable()?;
        let guard = self.shared.maintain.lock();
        let start = std::time::Instant::now();
        let mut report = self.shared.seal_due(&guard)?;
        report.late = self.shared.merge_late(false)?;
        report.rollups = self.shared.materialise(None)?;
        self.shared.compact(None, &mut report.rollups)?;
        report.retention = self.shared.retain()?;
        self.shared.trim_forward_late()?;
        self.shared.timings.pass(start, &report);
        Ok(report)
    }

    /// A maintenance pass unless one is already running (then it covers this caller too).
    pub(crate) fn try_maintain(&self) -> Result<MaintainReport> {
        self.shared.try_maintain()
    }
}

impl Shared {
    pub(crate) fn has_due_window(&self) -> bool {
        let sh = self;
        let now = sh.config.clock.now_ms();
        let st = sh.state.read();
        let eff = now.max(st.clock_high_water);
        let limit = sh.config.span_ms().saturating_add(sh.config.grace_ms());
        let newest = now.saturating_add(sh.config.future_ms());
        !st.sealing.is_empty()
            || st
                .open
                .keys()
                .next()
                .is_some_and(|s| s.saturating_add(limit) <= eff)
            || st.open.keys().next_back().is_some_and(|s| *s > newest)
    }

    /// Seals due windows unless a maintenance pass is already running (then it covers this
    /// caller too). The write path calls it; rollups are left to the maintenance thread and
    /// [`Store::maintain`].
    pub(crate) fn try_maintain(&self) -> Result<MaintainReport> {
        self.check_writable()?;
        match self.maintain.try_lock() {
            Some(guard) => {
                let start = std::time::Instant::now();
                let report = self.seal_due(&guard)?;
                self.timings.pass(start, &report);
                Ok(report)
            }
            None => Ok(MaintainReport::default()),
        }
    }

    /// The background maintenance thread's pass: seal what is due, then materialise a
    /// bounded number of rollup pieces (the next pass continues).
    pub(crate) fn background_pass(&self) -> Result<MaintainReport> {
        self.check_writable()?;
        let Some(guard) = self.maintain.try_lock() else {
            return Ok(MaintainReport::default());
        };
        let start = std::time::Instant::now();
        let mut report = self.seal_due(&guard)?;
        report.late = self.merge_late(false)?;
        report.rollups = self.materialise(Some(crate::rollup::materialise::BACKGROUND_PIECES))?;
        self.compact(Some(1), &mut report.rollups)?;
        report.retention = self.retain()?;
        self.trim_forward_late()?;
        self.timings.pass(start, &report);
        Ok(report)
    }

    pub(crate) fn seal_due(
        &self,
        _one_at_a_time: &parking_lot::MutexGuard<'_, ()>,
    ) -> Result<MaintainReport> {
        let sh = self;
        let span = sh.config.span_ms();
        let limit = span.saturating_add(sh.config.grace_ms());
        // Freeze the due windows: writes to them are refused from here on, queries still see
        // them. Encoding and I/O then happen without the lock.
        {
            // The clock is read under the lock: a reading taken before it could be older than
            // the samples that writes add meanwhile, and make their windows look as if they
            // lay beyond the future limit.
            let mut st = sh.state.write();
            let now = sh.config.clock.now_ms();
            if st.clock_high_water.saturating_sub(now) > sh.config.grace_ms()
                && !sh
                    .clock_behind_said
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
            {
                log::warn!(
                    "the clock ({now} ms) is behind the store's high-water mark ({} ms): samples are accepted relative to the clock; windows beyond its future limit are sealed",
                    st.clock_high_water
                );
            }
            let eff = now.max(st.clock_high_water);
            st.clock_high_water = eff;
            // Windows that lie wholly beyond the future limit (written while the clock was
            // ahead, which it is no longer) take no sample until the clock reaches them:
            // sealed now rather than held in memory until then.
            let newest = now.saturating_add(sh.config.future_ms());
            let due: Vec<i64> = st
                .open
                .keys()
                .copied()
                .filter(|s| s.saturating_add(limit) <= eff || *s > newest)
                .collect();
            for start in due {
                let w = st.open.remove(&start).expect("listed above");
                st.sealing.insert(start, Arc::new(w));
            }
        }
        let todo: Vec<(i64, Arc<super::OpenWindow>)> = {
            let st = sh.state.read();
            st.sealing.iter().map(|(k, v)| (*k, v.clone())).collect()
        };
        let mut report = MaintainReport::default();
        for (start, w) in todo {
            let raw = sh.raw_dir();
            let seg_path = raw.join(window_file_name(start, crate::layout::SEGMENT_EXT));
            let points = w.data.points();
            let seg = if points > 0 {
                let bytes = segment::build(&w.data, 0, span);
                self.fs.write_atomic(&seg_path, &bytes)?;
                report.sealed_bytes += bytes.len() as u64;
                Some(Arc::new(Segment::open_in(&self.fs, &seg_path)?))
            } else {
                None
            };
            {
                let mut st = sh.state.write();
                if let Some(seg) = seg {
                    st.sealed.insert(start, seg);
                }
                st.sealing.remove(&start);
                st.sealed_through = st.sealed_through.max(start + span);
            }
            // The segment is durable: record that the window is sealed, then drop its log.
            sh.persist_state()?;
            self.fs.remove_synced(&w.path)?;
            report.sealed_windows.push(start);
            report.sealed_points += points;
        }
        if !report.sealed_windows.is_empty() {
            return_freed_memory();
        }
        Ok(report)
    }
}

/// Hands the pages of freed heap memory back to the system (glibc's `malloc_trim`), after a
/// window's points and its encoding buffers were dropped: glibc by itself gives back only the
/// top of its heap, so freed pages in the middle stay resident (at 100 000 series this took
/// the anonymous resident set at the end of ingest from 1373 to 1232 B/series). A no-op
/// elsewhere.
// The glibc call below is the one foreign function the engine uses.
#[allow(unsafe_code)]
pub(crate) fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: libc::size_t) -> libc::c_int;
        }
        // SAFETY: malloc_trim takes no pointers and only releases free pages of glibc's own
        // heaps; it is safe to call at any time from any thread.
        unsafe {
            malloc_trim(0);
        }
    }
}
