//! The write path: validation, series resolution, window checks, logging, group commit.
//! The window log's frames are encoded by `wal::append`; appending them, and cutting
//! a failed batch back out, happens here under the state lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{OpenWindow, Shared, State, Store, window_file_name};
use crate::config::Sync;
use crate::error::{Error, Result, SampleError};
use crate::head::{POINT_BYTES, WindowData};
use crate::index::format::IndexRecord;
use crate::logfile::AppendError;
use crate::logfile::frame::encode_frame;
use crate::model::{
    Labels, MAX_TS_MS, MIN_TS_MS, MetricMeta, SeriesId, check_label_set, check_metric_name,
    label_hash,
};
use crate::wal;
use crate::wal::format::LoggedSample;

/// One sample to write: metric name, labels (any order; empty values are ignored), time in ms
/// since the epoch, value.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// Metric name.
    pub metric: &'a str,
    /// Labels.
    pub labels: &'a [(&'a str, &'a str)],
    /// Timestamp, ms since 1970.
    pub ts_ms: i64,
    /// Value.
    pub value: f64,
}

impl<'a> Sample<'a> {
    /// A sample of `metric` with `labels` (in any order; labels with an empty value are
    /// dropped, as in Prometheus) at `ts_ms` (ms since 1970).
    ///
    /// ```
    /// let now = 1_700_000_000_000;
    /// let s = tierlog::Sample::new("node_load1", &[("host", "web1")], now, 0.42);
    /// assert_eq!(s.labels, [("host", "web1")]);
    /// ```
    pub fn new(metric: &'a str, labels: &'a [(&'a str, &'a str)], ts_ms: i64, value: f64) -> Self {
        Sample {
            metric,
            labels,
            ts_ms,
            value,
        }
    }
}

/// The identity of a write that may be sent again, for [`Store::write_keyed`]: 16 bytes
/// the writer chooses, the same for every attempt of one write and different for different
/// writes (a digest of the request's bytes is the usual choice, and what `tierlog serve`
/// uses for remote-write requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WriteKey(pub [u8; 16]);

/// What a write did. Samples outside the accepted time range are counted here, never dropped
/// silently; the rest of the batch is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct WriteSummary {
    /// Samples written.
    pub accepted: u64,
    /// Samples older than the oldest open window (their window is sealed or due).
    pub rejected_too_old: u64,
    /// Samples further ahead of the clock than `Config::future_limit`.
    pub rejected_too_far_ahead: u64,
    /// Samples refused because the open windows already hold
    /// [`crate::Limits::max_head_bytes`]; writes succeed again once windows seal.
    pub rejected_head_full: u64,
    /// Samples refused because a rollup tier holds buckets of their series at their time
    /// whose raw points are gone (or damaged): those buckets cannot be recomputed exactly with
    /// them (a p95 of two sets cannot be rebuilt from their p95s), and a merged bucket would
    /// only pretend to be exact. Late samples into such a window, and history older than the
    /// raw keep (tiers without that bucket took it; see `docs/rollups.md`, "Backfill").
    pub rejected_conflict: u64,
    /// Accepted samples (counted in `accepted` too) whose window was already sealed: they
    /// wait in its late log until a maintenance pass merges them into its segment.
    pub late: u64,
    /// Series created by this write.
    pub new_series: u64,
    /// Accepted samples (counted in `accepted` too) older than the lowest watermark of the
    /// store's remote-write forwarders, as this process last read their checkpoints (at open
    /// and at each maintenance pass) or was told by a forwarder inside it: a forwarder has
    /// moved past their second and will not send them.
    pub late_after_forward: u64,
    /// Samples of a keyed write ([`Store::write_keyed`]) not written, because a write with
    /// the same key was already logged into their window: the store holds them already.
    /// Not counted in `accepted` nor as rejected.
    pub repeated: u64,
}

impl WriteSummary {
    /// Samples not written.
    pub fn rejected(&self) -> u64 {
        self.rejected_too_old
            + self.rejected_too_far_ahead
            + self.rejected_head_full
            + self.rejected_conflict
    }

    /// Adds another summary's counts to this one.
    pub fn add(&mut self, o: &WriteSummary) {
        self.accepted += o.accepted;
        self.rejected_too_old += o.rejected_too_old;
        self.rejected_too_far_ahead += o.rejected_too_far_ahead;
        self.rejected_head_full += o.rejected_head_full;
        self.rejected_conflict += o.rejected_conflict;
        self.late += o.late;
        self.new_series += o.new_series;
        self.late_after_forward += o.late_after_forward;
        self.repeated += o.repeated;
    }
}

/// What the write path refused since the store was opened, by reason (in
/// [`crate::StoreStats::rejections`]). Samples counted in a [`WriteSummary`] are counted here
/// too; refused batches count once each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Rejections {
    /// Samples older than the oldest open window.
    pub too_old: u64,
    /// Samples too far ahead of the clock.
    pub too_far_ahead: u64,
    /// Samples refused because the head held [`crate::Limits::max_head_bytes`].
    pub head_full: u64,
    /// Samples refused because a tier holds buckets of their series at their time whose raw
    /// points are gone ([`WriteSummary::rejected_conflict`]).
    pub conflict: u64,
    /// Samples accepted into windows already sealed (late samples).
    pub late: u64,
    /// Samples of keyed writes not written again: their write's key was already logged in
    /// their window ([`WriteSummary::repeated`]; not refusals).
    pub repeated: u64,
    /// Batches refused whole for an invalid sample ([`Error::InvalidSample`]).
    pub invalid_batches: u64,
    /// Batches refused whole for holding more than [`crate::Limits::max_batch_samples`].
    pub oversized_batches: u64,
    /// Batches (or series handles) refused whole because they would create more series than
    /// [`crate::Limits::max_series`] (or more metrics than that).
    pub series_limit_batches: u64,
}

/// The live counters behind [`Rejections`].
#[derive(Debug, Default)]
pub(crate) struct RejectionCounters {
    too_old: AtomicU64,
    too_far_ahead: AtomicU64,
    head_full: AtomicU64,
    conflict: AtomicU64,
    late: AtomicU64,
    repeated: AtomicU64,
    invalid_batches: AtomicU64,
    oversized_batches: AtomicU64,
    series_limit_batches: AtomicU64,
    /// Samples accepted and series created (not refusals; counted here, where every write's
    /// summary is noted).
    accepted: AtomicU64,
    new_series: AtomicU64,
}

impl RejectionCounters {
    pub(crate) fn snapshot(&self) -> Rejections {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Rejections {
            too_old: g(&self.too_old),
            too_far_ahead: g(&self.too_far_ahead),
            head_full: g(&self.head_full),
            conflict: g(&self.conflict),
            late: g(&self.late),
            repeated: g(&self.repeated),
            invalid_batches: g(&self.invalid_batches),
            oversized_batches: g(&self.oversized_batches),
            series_limit_batches: g(&self.series_limit_batches),
        }
    }

    pub(crate) fn note_summary(&self, s: &WriteSummary) {
        let add = |a: &AtomicU64, n: u64| {
            if n > 0 {
                a.fetch_add(n, Ordering::Relaxed);
            }
        };
        add(&self.too_old, s.rejected_too_old);
        add(&self.too_far_ahead, s.rejected_too_far_ahead);
        add(&self.head_full, s.rejected_head_full);
        add(&self.conflict, s.rejected_conflict);
        add(&self.late, s.late);
        add(&self.repeated, s.repeated);
        add(&self.accepted, s.accepted);
        add(&self.new_series, s.new_series);
    }

    /// Samples accepted and series created since the open.
    pub(crate) fn written(&self) -> (u64, u64) {
        (
            self.accepted.load(Ordering::Relaxed),
            self.new_series.load(Ordering::Relaxed),
        )
    }

    /// Counts a refused batch by its error, and hands the error back.
    pub(crate) fn note_error(&self, e: Error) -> Error {
        let c = match &e {
            Error::InvalidSample { .. } => Some(&self.invalid_batches),
            Error::BatchTooLarge { .. } => Some(&self.oversized_batches),
            Error::LimitReached { .. } => Some(&self.series_limit_batches),
            _ => None,
        };
        if let Some(c) = c {
            c.fetch_add(1, Ordering::Relaxed);
        }
        e
    }
}

pub(crate) fn check_batch(len: usize, limits: &crate::config::Limits) -> Result<()> {
    if len > limits.max_batch_samples {
        return Err(Error::BatchTooLarge {
            samples: len,
            max: limits.max_batch_samples,
        });
    }
    Ok(())
}

pub(crate) fn check_ts(ts: i64) -> Result<(), SampleError> {
    if !(MIN_TS_MS..=MAX_TS_MS).contains(&ts) {
        return Err(SampleError::TimestampOutOfRange { ts_ms: ts });
    }
    Ok(())
}

impl Store {
    /// Writes a batch of samples. Validation is atomic: an invalid name, label set or
    /// timestamp rejects the whole batch with an error naming the first offending sample.
    /// Samples within the raw keep are written in any order (into sealed windows too, as late
    /// samples); older ones go straight into the rollup tiers that keep their time
    /// ([`Store::backfill`]); what cannot be taken is counted in the summary and skipped
    /// (`docs/time.md`). Under `Sync::EveryWrite` the call returns once the data is fsynced.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tierlog::{Config, Error, ManualClock, SampleError, Sample, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let now = 1_700_000_000_000;
    /// let store = Store::open(dir.path(), Config::default().with_clock(Arc::new(ManualClock::new(now))))?;
    ///
    /// let summary = store.write(&[
    ///     Sample::new("temp_celsius", &[("sensor", "cpu")], now, 48.5),
    ///     // 200 days old: older than any tier keeps (90 days by default), so it is
    ///     // counted and skipped.
    ///     Sample::new("temp_celsius", &[("sensor", "cpu")], now - 200 * 86_400_000, 47.0),
    /// ])?;
    /// assert_eq!((summary.accepted, summary.rejected_too_old, summary.new_series), (1, 1, 1));
    ///
    /// // An invalid sample rejects the whole batch and says which one it was.
    /// let err = store
    ///     .write(&[
    ///         Sample::new("temp_celsius", &[("sensor", "gpu")], now, 60.0),
    ///         Sample::new("temp-celsius", &[], now, 60.0),
    ///     ])
    ///     .unwrap_err();
    /// assert!(matches!(
    ///     err,
    ///     Error::InvalidSample { index: 1, reason: SampleError::InvalidMetricName { .. } }
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write(&self, samples: &[Sample<'_>]) -> Result<WriteSummary> {
        self.write_with(samples, None)
    }

    /// [`Store::write`] for a write that may be sent again, identified by `key`: in each
    /// window the write's samples fall in, they are logged with the key, and a write with a
    /// key already logged there is not applied there again (its samples are counted in
    /// [`WriteSummary::repeated`]). A sender that does not know whether a write arrived —
    /// the connection broke, the store's process died before answering — sends it again with
    /// the same key, and every sample ends up in the store once, whatever part of the first
    /// attempt was logged: each window's part is logged whole or not at all.
    ///
    /// The key is remembered with the window: until it is sealed ([`crate::Config::grace`] after
    /// its end, so at least the grace after the samples' time) and, for samples of a sealed
    /// window, until its late samples are merged (the next maintenance pass). Samples old enough to go to the
    /// rollup tiers ([`Store::backfill`]) are written as [`Store::write`] writes them.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tierlog::{Config, ManualClock, Sample, Selector, Store, WriteKey};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let now = 1_700_000_000_000;
    /// let store = Store::open(dir.path(), Config::default().with_clock(Arc::new(ManualClock::new(now))))?;
    /// let batch = [
    ///     Sample::new("temp_celsius", &[], now, 40.0),
    ///     Sample::new("temp_celsius", &[], now + 500, 42.0),
    /// ];
    /// let key = WriteKey(*b"request-00000001");
    /// assert_eq!(store.write_keyed(key, &batch)?.accepted, 2);
    /// // Sent again: nothing changes.
    /// let again = store.write_keyed(key, &batch)?;
    /// assert_eq!((again.accepted, again.repeated), (0, 2));
    /// let r = store.query(&Selector::metric("temp_celsius"), now, now + 1_000)?;
    /// assert_eq!(r.series[0].points, [(now, 41.0)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_keyed(&self, key: WriteKey, samples: &[Sample<'_>]) -> Result<WriteSummary> {
        self.write_with(samples, Some(key))
    }

    fn write_with(&self, samples: &[Sample<'_>], key: Option<WriteKey>) -> Result<WriteSummary> {
        let sh = &*self.shared;
        sh.check_writable()?;
        // History older than the raw keep goes straight into the tiers that keep its time
        // (`Store::backfill`); the batch is validated whole first.
        let keep = sh.config.raw_keep().as_millis().min(i64::MAX as u128) as i64;
        let cutoff = sh.config.clock.now_ms().saturating_sub(keep);
        if samples.iter().any(|s| s.ts_ms < cutoff) {
            check_samples(samples, &sh.config.limits).map_err(|e| sh.rejections.note_error(e))?;
            let (old, recent): (Vec<Sample<'_>>, Vec<Sample<'_>>) =
                samples.iter().partition(|s| s.ts_ms < cutoff);
            let mut summary = self.backfill(&old)?;
            if !recent.is_empty() {
                let more = self
                    .write_inner(&recent, key)
                    .map_err(|e| sh.rejections.note_error(e))?;
                sh.rejections.note_summary(&more);
                summary.add(&more);
                self.after_write()?;
            }
            return Ok(summary);
        }
        let summary = self
            .write_inner(samples, key)
            .map_err(|e| sh.rejections.note_error(e))?;
        sh.rejections.note_summary(&summary);
        self.after_write()?;
        Ok(summary)
    }

    fn write_inner(&self, samples: &[Sample<'_>], key: Option<WriteKey>) -> Result<WriteSummary> {
        let sh = &*self.shared;
        let limits = &sh.config.limits;
        check_samples(samples, limits)?;
        let mut st = sh.state.write();
        // Resolve series; collect the definitions of new ones.
        let (ids, pending) = resolve_series(
            &st,
            samples.iter().map(|s| (s.metric, s.labels)),
            limits.max_series,
        )?;
        let mut new_series = pending.new_series;
        // A batch that writes nothing (every sample too old, too far ahead, or the head
        // full) registers nothing: its samples are counted as rejected only.
        if new_series > 0 && sh.accepts_any(&st, samples.iter().map(|s| s.ts_ms)) {
            pending.commit(sh, &mut st)?;
        } else {
            new_series = 0;
        }
        let resolved: Vec<LoggedSample> = samples
            .iter()
            .zip(ids)
            .map(|(s, series)| LoggedSample {
                series,
                ts_ms: s.ts_ms,
                value: s.value,
            })
            .collect();
        let mut summary = sh.append(&mut st, &resolved, key)?;
        summary.new_series = new_series;
        Ok(summary)
    }

    /// The fast path: writes `(series handle, ts_ms, value)` triples for series resolved
    /// earlier with [`Store::series_handle`]. Same rules as [`Store::write`]; an unknown
    /// handle is [`SampleError::UnknownSeries`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tierlog::{Config, ManualClock, Selector, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let now = 1_700_000_000_000;
    /// let store = Store::open(dir.path(), Config::default().with_clock(Arc::new(ManualClock::new(now))))?;
    /// // Resolve once, then write without hashing names and labels each time.
    /// let rx = store.series_handle("net_rx_bytes_total", &[("dev", "eth0")])?;
    /// let tx = store.series_handle("net_tx_bytes_total", &[("dev", "eth0")])?;
    /// store.write_series(&[(rx, now, 1_000.0), (tx, now, 250.0)])?;
    /// assert_eq!(store.query(&Selector::metric("net_rx_bytes_total"), now, now + 1)?.series[0].points, [(now, 1_000.0)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_series(&self, samples: &[(SeriesId, i64, f64)]) -> Result<WriteSummary> {
        let sh = &*self.shared;
        sh.check_writable()?;
        let summary = self
            .write_series_inner(samples)
            .map_err(|e| sh.rejections.note_error(e))?;
        sh.rejections.note_summary(&summary);
        self.after_write()?;
        Ok(summary)
    }

    fn write_series_inner(&self, samples: &[(SeriesId, i64, f64)]) -> Result<WriteSummary> {
        let sh = &*self.shared;
        check_batch(samples.len(), &sh.config.limits)?;
        let mut st = sh.state.write();
        for (index, &(id, ts, _)) in samples.iter().enumerate() {
            let reason = if !st.registry.has_series(id.0) {
                SampleError::UnknownSeries { id: id.0 }
            } else if let Err(r) = check_ts(ts) {
                r
            } else {
                continue;
            };
            return Err(Error::InvalidSample { index, reason });
        }
        let resolved: Vec<LoggedSample> = samples
            .iter()
            .map(|&(id, ts_ms, value)| LoggedSample {
                series: id.0,
                ts_ms,
                value,
            })
            .collect();
        sh.append(&mut st, &resolved, None)
    }

    /// Resolves (creating and persisting if new) the series of `metric` with `labels`, for
    /// use with [`Store::write_series`].
    pub fn series_handle(&self, metric: &str, labels: &[(&str, &str)]) -> Result<SeriesId> {
        let sh = &*self.shared;
        sh.check_writable()?;
        let limits = &sh.config.limits;
        check_metric_name(metric, limits)
            .and_then(|_| check_label_set(labels, limits))
            .map_err(|reason| Error::InvalidSample { index: 0, reason })?;
        let labels = Labels::canonical(labels);
        let pairs: Vec<(&str, &str)> = labels.iter().collect();
        let hash = label_hash(metric, &pairs);
        let mut st = sh.state.write();
        if let Some(id) = st.registry.find_series(metric, &pairs, hash) {
            return Ok(id);
        }
        let mut pending = Pending::new(&st, limits.max_series);
        let id = pending
            .series(&st, metric, &pairs, hash)
            .map_err(|e| sh.rejections.note_error(e))?;
        pending.commit(sh, &mut st)?;
        Ok(SeriesId(id))
    }

    /// Sets (creating the metric if needed) a metric's kind, unit and description.
    ///
    /// ```
    /// use tierlog::{Config, MetricKind, MetricMeta, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path(), Config::default())?;
    /// store.set_metric_meta("node_memory_free_bytes", MetricMeta {
    ///     kind: MetricKind::Gauge,
    ///     unit: "bytes".into(),
    ///     description: "Free memory".into(),
    /// })?;
    /// let metrics = store.metrics();
    /// assert_eq!(metrics[0].name, "node_memory_free_bytes");
    /// assert_eq!(metrics[0].meta.unit, "bytes");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_metric_meta(&self, metric: &str, meta: MetricMeta) -> Result<()> {
        let sh = &*self.shared;
        sh.check_writable()?;
        let limits = &sh.config.limits;
        let bad = |reason| Error::InvalidMetadata {
            metric: metric.to_owned(),
            reason,
        };
        check_metric_name(metric, limits).map_err(bad)?;
        if meta.unit.len() > limits.max_unit_bytes {
            return Err(bad(SampleError::NameTooLong {
                name: meta.unit.clone(),
                max: limits.max_unit_bytes,
            }));
        }
        if meta.description.len() > limits.max_description_bytes {
            return Err(bad(SampleError::NameTooLong {
                name: meta.description.clone(),
                max: limits.max_description_bytes,
            }));
        }
        let mut st = sh.state.write();
        let id = match st.registry.metric_by_name(metric) {
            Some(m) if m.meta == meta => return Ok(()),
            Some(m) => m.id.0,
            // Every metric normally has a series: the series cap bounds metrics too, so
            // metadata alone cannot grow the registry without end.
            None if st.registry.metrics().len() as u64 >= limits.max_series => {
                return Err(sh.rejections.note_error(Error::LimitReached {
                    what: "metrics per store (limits.max_series)",
                    limit: limits.max_series,
                }));
            }
            None => st.registry.metrics().len() as u32,
        };
        let rec = IndexRecord::Metric {
            id,
            kind: meta.kind,
            name: metric.to_owned(),
            unit: meta.unit,
            description: meta.description,
        };
        sh.append_index(&mut st, std::slice::from_ref(&rec))?;
        st.registry
            .apply(rec)
            .map_err(|what| Error::corrupt(sh.dir.join(super::INDEX_FILE), 0, what))?;
        Ok(())
    }

    fn after_write(&self) -> Result<()> {
        let sh = &*self.shared;
        let seq = sh.written.load(Ordering::SeqCst);
        match sh.config.sync {
            Sync::EveryWrite => sh.sync_through(seq)?,
            Sync::Interval(every) => {
                let now = sh.opened.elapsed().as_micros() as u64;
                let last = sh.last_sync_us.load(Ordering::SeqCst);
                if now.saturating_sub(last) >= every.as_micros() as u64 {
                    sh.sync_through(seq)?;
                }
            }
            Sync::Never => {}
        }
        if sh.config.auto_seal && self.has_due_window() {
            // The write itself is durable; a failed seal is retried by the next pass.
            if let Err(e) = self.try_maintain() {
                log::error!("sealing after a write failed (will retry): {e}");
            }
        }
        Ok(())
    }
}

/// Where the samples of a window go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Its open window (created if needed).
    Open,
    /// Its late log: the window is sealed or being sealed.
    Late,
    /// Its late log, unless a tier holds buckets of the sample's series there (the window
    /// has no raw points left to recompute them from).
    LateNoRaw,
    /// Refused: the window's raw points cannot be merged with exactly.
    Conflict,
}

/// Checks a batch's size and every sample's name, labels and timestamp, as [`Store::write`]
/// does: the first invalid sample refuses the whole batch.
pub(crate) fn check_samples(samples: &[Sample<'_>], limits: &crate::config::Limits) -> Result<()> {
    check_batch(samples.len(), limits)?;
    let mut prev: Option<&Sample<'_>> = None;
    for (index, s) in samples.iter().enumerate() {
        // A sample with its predecessor's very name and labels (the same memory, as a
        // sender's samples of one series are) passed the same checks a moment ago.
        let key_checked = prev.is_some_and(|p| same_key(p, s));
        if !key_checked {
            check_metric_name(s.metric, limits)
                .and_then(|_| check_label_set(s.labels, limits))
                .map_err(|reason| Error::InvalidSample { index, reason })?;
        }
        check_ts(s.ts_ms).map_err(|reason| Error::InvalidSample { index, reason })?;
        prev = Some(s);
    }
    Ok(())
}

/// True when `a` and `b` name their series with the same memory: the same metric `str` and
/// the same label slice (so the same key, without comparing it).
fn same_key(a: &Sample<'_>, b: &Sample<'_>) -> bool {
    same_key_parts((a.metric, a.labels), (b.metric, b.labels))
}

/// A series key as a write names it: the metric name and the labels.
type Key<'a> = (&'a str, &'a [(&'a str, &'a str)]);

fn same_key_parts(a: Key<'_>, b: Key<'_>) -> bool {
    std::ptr::eq(a.0, b.0) && std::ptr::eq(a.1, b.1)
}

/// Resolves the series of `(metric, labels)` keys (labels in any order, empty values
/// dropped): the id of each, and the definitions of the new ones, not yet persisted
/// ([`Pending::commit`] does that).
pub(crate) fn resolve_series<'a>(
    st: &State,
    keys: impl Iterator<Item = (&'a str, &'a [(&'a str, &'a str)])>,
    max_series: u64,
) -> Result<(Vec<u32>, Pending)> {
    let mut ids = Vec::with_capacity(keys.size_hint().0);
    let mut pending = Pending::new(st, max_series);
    let mut canon: Vec<(&str, &str)> = Vec::new();
    let mut prev: Option<(Key<'_>, u32)> = None;
    for (metric, labels) in keys {
        // The previous sample's very key (the same memory): the same series.
        if let Some((key, id)) = prev
            && same_key_parts(key, (metric, labels))
        {
            ids.push(id);
            continue;
        }
        canon.clear();
        canon.extend(labels.iter().copied().filter(|(_, v)| !v.is_empty()));
        canon.sort_unstable();
        let hash = label_hash(metric, &canon);
        let id = match st.registry.find_series(metric, &canon, hash) {
            Some(id) => id.0,
            None => pending.series(st, metric, &canon, hash)?,
        };
        ids.push(id);
        prev = Some(((metric, labels), id));
    }
    Ok((ids, pending))
}

/// New metrics and series of one batch, not yet persisted.
pub(crate) struct Pending {
    records: Vec<IndexRecord>,
    new_metrics: HashMap<String, u32>,
    new_keys: HashMap<(String, Labels), u32>,
    next_metric: u32,
    next_series: u32,
    pub(crate) new_series: u64,
    max_series: u64,
}

impl Pending {
    fn new(st: &State, max_series: u64) -> Self {
        Pending {
            records: Vec::new(),
            new_metrics: HashMap::new(),
            new_keys: HashMap::new(),
            next_metric: st.registry.metrics().len() as u32,
            next_series: st.registry.next_series_id(),
            new_series: 0,
            max_series,
        }
    }

    fn series(
        &mut self,
        st: &State,
        metric: &str,
        canon: &[(&str, &str)],
        hash: u64,
    ) -> Result<u32> {
        let key = (metric.to_owned(), Labels::from_sorted(canon));
        if let Some(&id) = self.new_keys.get(&key) {
            return Ok(id);
        }
        let max = self.max_series;
        if st.registry.series_count() as u64 + self.new_series >= max {
            return Err(Error::LimitReached {
                what: "series per store (limits.max_series)",
                limit: max,
            });
        }
        let metric_id = match st.registry.metric_by_name(metric) {
            Some(m) => m.id.0,
            None => match self.new_metrics.get(metric) {
                Some(&id) => id,
                None => {
                    let id = self.next_metric;
                    self.next_metric += 1;
                    self.new_metrics.insert(metric.to_owned(), id);
                    self.records.push(IndexRecord::Metric {
                        id,
                        kind: Default::default(),
                        name: metric.to_owned(),
                        unit: String::new(),
                        description: String::new(),
                    });
                    id
                }
            },
        };
        let id = self.next_series;
        if id == u32::MAX {
            return Err(Error::LimitReached {
                what: "series ids",
                limit: u64::from(u32::MAX),
            });
        }
        self.next_series += 1;
        self.new_series += 1;
        self.records.push(IndexRecord::Series {
            id,
            metric: metric_id,
            hash,
            labels: key.1.clone(),
        });
        self.new_keys.insert(key, id);
        Ok(id)
    }

    /// Persists (append + fsync) the new definitions, then applies them in memory.
    pub(crate) fn commit(self, sh: &Shared, st: &mut State) -> Result<()> {
        if self.records.is_empty() {
            return Ok(());
        }
        sh.append_index(st, &self.records)?;
        for rec in self.records {
            st.registry
                .apply(rec)
                .map_err(|what| Error::corrupt(sh.dir.join(super::INDEX_FILE), 0, what))?;
        }
        Ok(())
    }
}

impl Shared {
    /// Appends index records and fsyncs the index, whatever the sync policy: a log frame must
    /// never name a series whose definition could be lost.
    pub(crate) fn append_index(&self, st: &mut State, records: &[IndexRecord]) -> Result<()> {
        let mut buf = Vec::new();
        let mut payload = Vec::new();
        for r in records {
            payload.clear();
            r.encode(&mut payload);
            encode_frame(&payload, &mut buf);
        }
        let log = st.index_log.as_mut().ok_or(Error::ReadOnly)?;
        match log.append(&buf) {
            Ok(()) => {}
            Err(AppendError::RolledBack(e)) => return Err(e),
            Err(AppendError::Poisoned(e)) => {
                self.poisoned.store(true, Ordering::SeqCst);
                return Err(e);
            }
        }
        st.index_records += records.len() as u64;
        let handle = log.sync_handle()?;
        if let Err(e) = handle.sync() {
            self.poisoned.store(true, Ordering::SeqCst);
            return Err(e);
        }
        Ok(())
    }

    /// Where samples of the window starting at `w` go (the window alone decides; a sample's
    /// own time is checked against the accept range by the caller).
    fn place(&self, st: &State, w: i64) -> Place {
        if st.open.contains_key(&w) {
            Place::Open
        } else if st.bad.contains_key(&w) {
            // Its raw points cannot be read: a merge could not be exact.
            Place::Conflict
        } else if st.sealing.contains_key(&w) || st.sealed.contains_key(&w) {
            Place::Late
        } else if w < st.sealed_through
            || st.late.contains_key(&w)
            // A tier has rolled this time up already (as empty: raw data began after it):
            // an open window would never reach its buckets, a late log's merge does.
            || st.tiers.iter().any(|t| t.done_through > w)
        {
            // Sealed without points (or its segment is gone): late samples may still conflict
            // with buckets a tier holds, checked per series.
            Place::LateNoRaw
        } else {
            Place::Open
        }
    }

    /// True when a tier holds buckets of `series` in the window `[w, w + span)` whose raw
    /// points are gone: a late sample there cannot be merged exactly. (A damaged tier chunk
    /// counts as holding buckets.)
    fn tier_conflict(&self, st: &State, w: i64, series: u32) -> bool {
        let end = w.saturating_add(self.config.span_ms());
        let mut buckets = Vec::new();
        st.tiers.iter().any(|t| {
            let lo = w.saturating_sub(t.max_span).saturating_add(1);
            t.segments
                .range(lo..end)
                .filter(|(s, seg)| s.saturating_add(seg.header().window_span) > w)
                .any(|(_, seg)| {
                    let overlaps = seg
                        .footer()
                        .entries_of(series)
                        .iter()
                        .any(|e| e.min_ts < end && e.max_ts >= w);
                    // A compacted file's chunk may span the window without a bucket in it.
                    overlaps && {
                        buckets.clear();
                        seg.read_buckets_from(&mut 0, series, w, end, &mut buckets)
                            .is_err()
                            || !buckets.is_empty()
                    }
                })
        })
    }

    /// Where a sample of `series` goes in the window starting at `start`, whose place is
    /// `place`: a late sample whose series' raw points there are gone while a tier holds
    /// its buckets is a conflict.
    fn late_place(&self, st: &State, place: Place, start: i64, series: u32) -> Place {
        match place {
            Place::LateNoRaw if self.tier_conflict(st, start, series) => Place::Conflict,
            Place::LateNoRaw => Place::Late,
            // A segment without points of the series (one a merge made of late samples of
            // other series, where the raw window had expired): its raw points are gone if a
            // tier holds buckets of it there.
            Place::Late
                if st
                    .sealed
                    .get(&start)
                    .is_some_and(|seg| seg.footer().entries_of(series).is_empty())
                    && self.tier_conflict(st, start, series) =>
            {
                Place::Conflict
            }
            p => p,
        }
    }

    /// The accept range at clock `now`: `[now - raw keep, now + future limit]`.
    fn accept_range(&self, now: i64) -> (i64, i64) {
        let keep = self.config.raw_keep().as_millis().min(i64::MAX as u128) as i64;
        (
            now.saturating_sub(keep),
            now.saturating_add(self.config.future_ms()),
        )
    }

    /// Whether [`Shared::append`] would accept any sample at these times: by the same
    /// rules (in the accept range, room in the head), without changing anything.
    fn accepts_any(&self, st: &State, mut ts: impl Iterator<Item = i64>) -> bool {
        let c = &self.config;
        let cap = c.limits.max_head_bytes;
        if cap != 0 && cap.saturating_sub(st.head_bytes()) < POINT_BYTES {
            return false;
        }
        let (oldest, newest) = self.accept_range(c.clock.now_ms());
        let span = c.span_ms();
        ts.any(|t| {
            t >= oldest
                && t <= newest
                && self.place(st, t.div_euclid(span) * span) != Place::Conflict
        })
    }

    /// Checks each sample's time and window, logs the accepted ones (one frame per window,
    /// in the window's log or, for a sealed window, its late log), applies them in memory.
    /// On an I/O error every frame of the batch is cut back out.
    fn append(
        &self,
        st: &mut State,
        samples: &[LoggedSample],
        key: Option<WriteKey>,
    ) -> Result<WriteSummary> {
        let c = &self.config;
        let now = c.clock.now_ms();
        // The high-water mark decides sealing only: what is accepted is measured from the
        // clock as it is now.
        st.clock_high_water = now.max(st.clock_high_water);
        let span = c.span_ms();
        let (oldest, newest) = self.accept_range(now);
        let mut summary = WriteSummary::default();
        // Accepted samples by window, and whether the window takes them late. A batch usually
        // falls in one open window whole: then the input is logged and applied as it is,
        // without copying it into a group.
        let mut by_window: Vec<(i64, bool, Vec<LoggedSample>)> = Vec::new();
        // While true, every sample so far was accepted into open window `first`.
        let mut whole = true;
        let mut first = i64::MIN;
        // The head's budget: each sample that may add a point is charged one point's bytes.
        let cap = c.limits.max_head_bytes;
        let mut budget = if cap == 0 {
            u64::MAX
        } else {
            cap.saturating_sub(st.head_bytes())
        };
        // The window of the previous sample and its place: consecutive samples mostly share
        // a window, so its start and place are worked out once per run.
        let mut cur: Option<(i64, Place)> = None;
        for (i, s) in samples.iter().enumerate() {
            let (start, place) = match cur {
                Some((w, p)) if s.ts_ms >= w && s.ts_ms - w < span => (w, p),
                _ => {
                    let w = s.ts_ms.div_euclid(span) * span;
                    let p = self.place(st, w);
                    cur = Some((w, p));
                    (w, p)
                }
            };
            // The usual sample (its window open, in the accept range, room in the head) takes
            // the first branch; the rest are decided below it.
            let (accepted, late) = if matches!(place, Place::Open)
                && s.ts_ms <= newest
                && s.ts_ms >= oldest
                && budget >= POINT_BYTES
            {
                budget -= POINT_BYTES;
                if whole && (i == 0 || start == first) {
                    first = start;
                    continue;
                }
                (true, false)
            } else if s.ts_ms > newest {
                summary.rejected_too_far_ahead += 1;
                (false, false)
            } else if s.ts_ms < oldest {
                summary.rejected_too_old += 1;
                (false, false)
            } else {
                let place = self.late_place(st, place, start, s.series);
                if matches!(place, Place::Conflict) {
                    summary.rejected_conflict += 1;
                    (false, false)
                } else if budget < POINT_BYTES {
                    summary.rejected_head_full += 1;
                    (false, false)
                } else {
                    budget -= POINT_BYTES;
                    (true, matches!(place, Place::Late))
                }
            };
            if whole {
                if accepted && !late && (i == 0 || start == first) {
                    first = start;
                    continue;
                }
                // Not one open window after all: group what came before.
                whole = false;
                if i > 0 {
                    by_window.push((first, false, samples[..i].to_vec()));
                }
            }
            if accepted {
                match by_window
                    .iter_mut()
                    .find(|(w, l, _)| *w == start && *l == late)
                {
                    Some((_, _, v)) => v.push(*s),
                    None => by_window.push((start, late, vec![*s])),
                }
            }
        }
        if key.is_some() && summary.rejected_head_full > 0 {
            // A keyed write refused in part for a reason that passes is sent again whole: were
            // the rest logged, its key would keep the refused part out. Nothing is written.
            summary.rejected_head_full += by_window.iter().map(|g| g.2.len() as u64).sum::<u64>();
            return Ok(summary);
        }
        let mut groups: Vec<(i64, bool, &[LoggedSample])> = if whole && !samples.is_empty() {
            vec![(first, false, samples)]
        } else {
            by_window
                .iter()
                .map(|(w, l, v)| (*w, *l, v.as_slice()))
                .collect()
        };
        // A keyed write's part in a window that logged its key already is held already.
        if let Some(WriteKey(k)) = key {
            groups.retain(|&(start, late, list)| {
                let held = if late {
                    // A window being sealed still has its log's keys.
                    st.late.get(&start).is_some_and(|w| w.has_key(k))
                        || st.sealing.get(&start).is_some_and(|w| w.data.has_key(k))
                } else {
                    st.open.get(&start).is_some_and(|w| w.data.has_key(k))
                };
                if held {
                    summary.repeated += list.len() as u64;
                }
                !held
            });
        }
        // Log.
        let mut undo: Vec<(i64, bool, u64)> = Vec::new();
        let mut frame = Vec::new();
        for &(start, late, list) in &groups {
            frame.clear();
            wal::append::encode_frames_keyed(list, key.as_ref().map(|k| &k.0), &mut frame);
            let log = if late {
                self.late_window(st, start).map(|w| w.log.as_mut())
            } else {
                self.window(st, start).map(|w| w.log.as_mut())
            };
            let res = log.and_then(|log| {
                let log = log.ok_or(Error::ReadOnly)?;
                let before = log.len();
                match log.append(&frame) {
                    Ok(()) => Ok(before),
                    Err(AppendError::RolledBack(e)) => Err(e),
                    Err(AppendError::Poisoned(e)) => {
                        self.poisoned.store(true, Ordering::SeqCst);
                        Err(e)
                    }
                }
            });
            match res {
                Ok(before) => undo.push((start, late, before)),
                Err(e) => {
                    self.undo_appends(st, undo);
                    return Err(e);
                }
            }
        }
        // Samples behind the forwarders' watermark: logged for them too (`forward::late`).
        let behind_forward = match self.log_forward_late(st, &groups) {
            Ok(n) => n,
            Err(e) => {
                self.undo_appends(st, undo);
                return Err(e);
            }
        };
        summary.late_after_forward = behind_forward;
        // Apply.
        for (start, late, list) in groups {
            if late {
                let w = st.late.get_mut(&start).expect("late window created above");
                for s in list {
                    w.add(s);
                }
                if let Some(WriteKey(k)) = key {
                    w.note_key(k);
                }
                summary.late += list.len() as u64;
            } else {
                let w = st.open.get_mut(&start).expect("window created above");
                for s in list {
                    w.data.add(s.series, s.ts_ms, s.value);
                }
                if let Some(WriteKey(k)) = key {
                    w.data.note_key(k);
                }
            }
            summary.accepted += list.len() as u64;
        }
        if summary.accepted > 0 {
            self.written.fetch_add(1, Ordering::SeqCst);
        }
        Ok(summary)
    }

    /// Cuts the logs appended to by a failed write back to their lengths before it.
    fn undo_appends(&self, st: &mut State, undo: Vec<(i64, bool, u64)>) {
        for (w, late, len) in undo {
            let log = if late {
                st.late.get_mut(&w).and_then(|w| w.log.as_mut())
            } else {
                st.open.get_mut(&w).and_then(|w| w.log.as_mut())
            };
            if let Some(log) = log
                && log.truncate(len).is_err()
            {
                self.poisoned.store(true, Ordering::SeqCst);
            }
        }
    }

    /// The open window starting at `start`, creating its log if needed.
    fn window<'a>(&self, st: &'a mut State, start: i64) -> Result<&'a mut OpenWindow> {
        use std::collections::btree_map::Entry;
        match st.open.entry(start) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let path = self
                    .raw_dir()
                    .join(window_file_name(start, crate::layout::WINDOW_LOG_EXT));
                let log = wal::append::create(&self.fs, &path, start, self.config.span_ms())?;
                let sync = Arc::new(log.sync_handle()?);
                Ok(e.insert(OpenWindow {
                    data: WindowData::new(start, self.config.span_ms()),
                    log: Some(log),
                    sync: Some(sync),
                    path,
                }))
            }
        }
    }
}

impl State {
    /// Estimated heap bytes of the head: the points of open windows and of windows being
    /// sealed.
    pub(crate) fn head_bytes(&self) -> u64 {
        self.open
            .values()
            .map(|w| w.data.heap_bytes())
            .chain(self.sealing.values().map(|w| w.data.heap_bytes()))
            .chain(self.late.values().map(|l| l.heap_bytes()))
            .sum()
    }
}
