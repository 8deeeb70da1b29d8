//! Forwarding the store's raw points to a Prometheus remote-write receiver (protocol v1).
//!
//! A [`Forwarder`] sends every series' per-second raw points once their second is closed
//! (the clock is past it by [`ForwardConfig::delay`]), oldest first, in bounded batches. Its
//! checkpoint (`DIR/forward/<name>.ckpt`, `format-spec/forward.md`) says what was delivered:
//! every point below a time watermark, plus — when a batch ended inside a second — the
//! points of that second of series with a smaller id. It advances (fsynced) only after the
//! receiver answered 2xx, or after it refused a batch for good (a 4xx other than 429: the
//! batch is dropped and counted). It also records where the batch in flight ends, so a crash
//! re-sends exactly that batch (at-least-once), never one mixing points the receiver already
//! has with new ones (which Prometheus would refuse whole as out of order). 5xx, 429 and connection failures are retried with exponential backoff
//! and jitter.
//!
//! Points go out in time order per series and each (series, second) at most once per
//! checkpoint position, so the receiver never sees a sample older than one it already has.
//! A sample written later, behind the watermark, is a late sample: the writer logs it in the
//! forward late log (`DIR/forward/late.log`) and counts it
//! ([`tierlog::WriteSummary::late_after_forward`]); after each in-order pass the forwarder
//! skips and counts the late samples, or sends them in requests of their own
//! ([`ForwardConfig::late`], [`LateMode`]) to a receiver with an out-of-order window.
//!
//! Run it as its own process beside the writer (`tierlog forward DIR --url URL`,
//! [`Forwarder::run_dir`]: each pass opens the store read-only, which sees the open window's
//! logged points), or inside the writing process ([`spawn`], a thread over the same
//! [`Store`]). Retention keeps raw data the checkpoints have not reached, up to
//! [`tierlog::Config::forward_backlog`] and within the byte budget.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod checkpoint;
pub mod client;
mod config;
pub mod proto;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use checkpoint::CheckpointFile;
pub use client::{Auth, Outcome};
pub use config::{DEFAULT_DELAY, ForwardConfig, ForwardError, ForwardStats, LateMode};
use tierlog::error::Error;
use tierlog::forward::format::Checkpoint;
use tierlog::store::Store;

/// What a pass ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    CaughtUp,
    Stopped,
}

/// Refused requests logged one by one in a pass; the rest are summed up at its end.
const LOGGED_REFUSALS: u64 = 5;

/// A remote-write forwarder over one store and one checkpoint.
#[derive(Debug)]
pub struct Forwarder {
    config: ForwardConfig,
    client: client::Client,
    ckpt: CheckpointFile,
    /// Position reached; ahead of the file when only empty time was passed over.
    mark: (i64, u32),
    stats: ForwardStats,
    rng: u64,
    /// Requests refused for good in the current pass (the first few are logged each).
    refused_in_pass: u64,
}

impl Forwarder {
    /// Locks and reads (or creates) the checkpoint of the store in `store_dir`. A new
    /// checkpoint starts at [`ForwardConfig::start_ms`], else at the oldest raw data.
    pub fn open(store_dir: impl AsRef<Path>, config: ForwardConfig) -> Result<Self, ForwardError> {
        config.check()?;
        let fs = tierlog::vfs::Fs::new(config.vfs.clone(), tierlog::vfs::DEFAULT_FILE_MODE);
        if !fs.is_dir(store_dir.as_ref()) {
            return Err(Error::io(
                store_dir.as_ref(),
                "open store",
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
            )
            .into());
        }
        let ckpt = CheckpointFile::open(
            &fs,
            store_dir.as_ref(),
            &config.name,
            config.start_ms.unwrap_or(0),
            config.reset_damaged_checkpoint,
        )?;
        let c = ckpt.get();
        let client = client::Client::new(
            &config.url,
            &config.auth,
            config.connect_timeout,
            config.timeout,
        );
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id());
        Ok(Forwarder {
            client,
            mark: (c.watermark, c.next_series),
            stats: ForwardStats {
                watermark_ms: c.watermark,
                total_sent: c.sent,
                total_dropped: c.dropped,
                total_late_skipped: c.late_skipped,
                ..ForwardStats::default()
            },
            ckpt,
            config,
            rng: seed | 1,
            refused_in_pass: 0,
        })
    }

    /// What it did so far.
    pub fn stats(&self) -> &ForwardStats {
        &self.stats
    }

    /// The checkpoint as last written.
    pub fn checkpoint(&self) -> Checkpoint {
        self.ckpt.get()
    }

    /// The checkpoint file.
    pub fn checkpoint_path(&self) -> &Path {
        self.ckpt.path()
    }

    /// One pass over `store`: sends every closed second not sent yet, then returns. Stops
    /// early (checkpoint consistent) when `stop` is set.
    pub fn forward_once(&mut self, store: &Store, stop: &AtomicBool) -> Result<(), ForwardError> {
        let r = match self.pass(store, stop) {
            // Late samples after the in-order stream, which they never hold back.
            Ok(Pass::CaughtUp) => self.late_pass(store, stop),
            Ok(Pass::Stopped) => Ok(()),
            Err(e) => Err(e),
        };
        self.finish_pass(store)?;
        r
    }

    /// Forwards from the store in `store_dir`, opened read-only for each pass (so a writer
    /// in another process keeps its lock), until `stop` is set; with `once`, one pass.
    pub fn run_dir(
        &mut self,
        store_dir: impl AsRef<Path>,
        stop: &AtomicBool,
        once: bool,
    ) -> Result<(), ForwardError> {
        let dir: PathBuf = store_dir.as_ref().to_owned();
        let config = tierlog::Config::default().with_vfs(self.config.vfs.clone());
        let mut first = true;
        loop {
            match Store::open_read_only(&dir, config.clone()) {
                Ok(store) => {
                    let r = self.forward_once(&store, stop);
                    if once {
                        return r;
                    }
                    if let Err(e) = r {
                        // A pass that gave up is tried again after the pause.
                        log::warn!("forwarding pass failed: {e}");
                    }
                }
                Err(e) if first || once => return Err(e.into()),
                Err(e) => log::warn!("cannot open {} for a pass: {e}", dir.display()),
            }
            first = false;
            if !self.pause(self.config.poll_interval, stop) {
                return Ok(());
            }
        }
    }

    /// Forwards from an open `store` until `stop` is set (what [`spawn`] runs).
    pub fn run_store(&mut self, store: &Store, stop: &AtomicBool) -> Result<(), ForwardError> {
        loop {
            if let Err(e) = self.forward_once(store, stop) {
                match e {
                    ForwardError::GaveUp { .. } => log::warn!("forwarding pass failed: {e}"),
                    e => return Err(e),
                }
            }
            if !self.pause(self.config.poll_interval, stop) {
                return Ok(());
            }
        }
    }

    fn pass(&mut self, store: &Store, stop: &AtomicBool) -> Result<Pass, ForwardError> {
        let now = self.config.clock.now_ms();
        let delay = self.config.delay.as_millis().min(i64::MAX as u128) as i64;
        // Seconds before `closed` are closed.
        let closed = now.saturating_sub(delay).div_euclid(1000) * 1000;
        let span = self.config.read_span.as_millis().min(i64::MAX as u128) as i64;
        while self.mark.0 < closed {
            if stop.load(Ordering::Relaxed) {
                return Ok(Pass::Stopped);
            }
            let (w, next) = self.mark;
            let from = match store.next_raw_time(w) {
                Some(t) if t < closed => t,
                // Nothing to send before `closed`.
                _ => {
                    self.mark = (closed, 0);
                    break;
                }
            };
            let next = if from > w {
                // Nothing between: the position moves there (recorded with the next batch).
                self.mark = (from, 0);
                0
            } else {
                next
            };
            // A request a predecessor had in flight from here is re-sent exactly as it was,
            // so the receiver never gets points it already has mixed with new ones.
            let in_flight = self.ckpt.get().in_flight.filter(|&e| e > self.mark);
            let mut to = closed.min(from.saturating_add(span));
            if let Some((t, n)) = in_flight {
                to = to.max(if n > 0 { t.saturating_add(1) } else { t });
            }
            let slice = store.raw_slice(from, to);
            for warning in &slice.warnings {
                log::warn!("forwarding {from}..{to}: {warning}");
            }
            self.stats.read_warnings += slice.warnings.len() as u64;
            // Every point of the slice not sent yet, by (time, series id).
            let mut order: Vec<(i64, u32, usize, f64)> = Vec::new();
            for (i, ((id, _, _), pts)) in slice.series.iter().zip(&slice.points).enumerate() {
                for &(t, v) in pts {
                    if !(t == from && *id < next) {
                        order.push((t, *id, i, v));
                    }
                }
            }
            order.sort_unstable_by_key(|&(t, id, _, _)| (t, id));
            let mut rest = &order[..];
            // Where the next request ends, when known.
            let mut cut = in_flight
                .map(|e| (rest.partition_point(|&(t, id, _, _)| (t, id) < e), e))
                .filter(|&(n, _)| n > 0);
            while !rest.is_empty() {
                let (n, after) = cut.unwrap_or_else(|| self.cut(&slice, rest, to));
                let (batch, tail) = rest.split_at(n);
                cut = (!tail.is_empty()).then(|| self.cut(&slice, tail, to));
                if self.ckpt.get().in_flight != Some(after) {
                    // Recorded before sending: a crash after the receiver took it re-sends
                    // exactly this request.
                    self.save(self.mark, 0, 0, Some(after))?;
                }
                let in_flight_next = cut.map(|(_, e)| e);
                match self.deliver(store, &slice, batch, stop)? {
                    Delivery::Stopped => return Ok(Pass::Stopped),
                    Delivery::Sent => {
                        self.stats.samples_sent += n as u64;
                        self.stats.batches_sent += 1;
                        self.save(after, n as u64, 0, in_flight_next)?;
                    }
                    Delivery::Dropped(_) => {
                        self.stats.samples_dropped += n as u64;
                        self.stats.batches_dropped += 1;
                        self.save(after, 0, n as u64, in_flight_next)?;
                    }
                }
                store.note_forwarded(self.mark.0);
                rest = tail;
            }
            self.mark = (to, 0);
        }
        Ok(Pass::CaughtUp)
    }

    /// The forward late log's samples this forwarder has not handled: skipped (counted) or
    /// sent, per [`ForwardConfig::late`]. In send mode the log is read a group of records at
    /// a time (up to `max_batch_samples` samples, whole records); each series' seconds they
    /// touch go out as the store's points of those seconds now (the late samples folded in),
    /// one request per series (split at `max_batch_samples`), time-ordered. The position
    /// moves past the group once every request of it was answered (accepted, or refused for
    /// good and counted as dropped with the reason).
    fn late_pass(&mut self, store: &Store, stop: &AtomicBool) -> Result<(), ForwardError> {
        let fs = tierlog::vfs::Fs::new(self.config.vfs.clone(), tierlog::vfs::DEFAULT_FILE_MODE);
        let view = tierlog::forward::late::read_log(&fs, store.dir())?;
        let c = self.ckpt.get();
        let records = view.after(c.late_epoch, c.late_offset);
        self.stats.late_pending = records.iter().map(|r| r.samples.len() as u64).sum();
        if records.is_empty() {
            if view.epoch != 0 && c.late_epoch != view.epoch {
                // The log was started anew (every checkpoint had handled it): follow it.
                self.save_late((view.epoch, view.end), 0)?;
            }
            return Ok(());
        }
        if self.config.late == LateMode::Skip {
            let n: u64 = records.iter().map(|r| r.samples.len() as u64).sum();
            log::info!(
                "{n} late samples (written behind the watermark) not sent: the late mode is skip"
            );
            self.stats.late_skipped += n;
            self.save_late((view.epoch, view.end), n)?;
            self.stats.late_pending = 0;
            return Ok(());
        }
        let mut rest = records;
        while !rest.is_empty() {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            // Whole records, up to max_batch_samples samples (at least one record).
            let mut take = 0;
            let mut samples = 0;
            while take < rest.len()
                && (take == 0
                    || samples + rest[take].samples.len() <= self.config.max_batch_samples)
            {
                samples += rest[take].samples.len();
                take += 1;
            }
            let (group, tail) = rest.split_at(take);
            // The seconds touched, per series; those at or past the watermark are the
            // in-order stream's.
            let mut seconds: BTreeMap<u32, std::collections::BTreeSet<i64>> = BTreeMap::new();
            for s in group.iter().flat_map(|r| &r.samples) {
                let sec = s.ts_ms.div_euclid(1000) * 1000;
                if sec < self.mark.0 {
                    seconds.entry(s.series).or_default().insert(sec);
                }
            }
            for (id, secs) in seconds {
                let (first, last) = (
                    *secs.first().expect("not empty"),
                    *secs.last().expect("not empty"),
                );
                let Some((metric, labels)) = store.series_labels(id) else {
                    // Removed since (retention or a delete): nothing left to send.
                    *self
                        .stats
                        .late_dropped
                        .entry("series_removed".into())
                        .or_default() += secs.len() as u64;
                    continue;
                };
                let points: Vec<(i64, f64)> = store
                    .raw_series(id, first, last.saturating_add(1000))
                    .into_iter()
                    .filter(|(t, _)| secs.contains(&(t.div_euclid(1000) * 1000)))
                    .collect();
                let gone = secs.len().saturating_sub(points.len()) as u64;
                if gone > 0 {
                    // Dropped by retention before they could be sent.
                    *self.stats.late_dropped.entry("expired".into()).or_default() += gone;
                }
                for part in points.chunks(self.config.max_batch_samples) {
                    let slice = tierlog::forward::hold::RawSlice {
                        series: vec![(id, metric.clone(), labels.clone())],
                        points: vec![part.to_vec()],
                        warnings: Vec::new(),
                    };
                    let batch: Vec<(i64, u32, usize, f64)> =
                        part.iter().map(|&(t, v)| (t, id, 0, v)).collect();
                    let body = proto::encode_body(&request(store, &slice, &batch));
                    let what = format!(
                        "{} late samples of {metric} ({}..={} ms)",
                        part.len(),
                        part[0].0,
                        part[part.len() - 1].0
                    );
                    match self.send_body(&body, &what, stop)? {
                        Delivery::Stopped => return Ok(()),
                        Delivery::Sent => self.stats.late_sent += part.len() as u64,
                        Delivery::Dropped(reason) => {
                            *self.stats.late_dropped.entry(reason).or_default() += part.len() as u64
                        }
                    }
                }
            }
            self.save_late((view.epoch, group[take - 1].end), 0)?;
            self.stats.late_pending = tail.iter().map(|r| r.samples.len() as u64).sum();
            rest = tail;
        }
        Ok(())
    }

    /// Records the late log position `pos` handled, with `skipped` more samples skipped.
    fn save_late(&mut self, pos: (u64, u64), skipped: u64) -> Result<(), ForwardError> {
        let c = self.ckpt.get();
        let next = Checkpoint {
            late_epoch: pos.0,
            late_offset: pos.1,
            late_skipped: c.late_skipped.saturating_add(skipped),
            ..c
        };
        self.ckpt.save(next)?;
        self.stats.total_late_skipped = next.late_skipped;
        Ok(())
    }

    /// Ends a pass: records a watermark that only moved over empty time (at most once a
    /// minute of such time, to spare fsyncs), and the lag.
    fn finish_pass(&mut self, store: &Store) -> Result<(), ForwardError> {
        if self.refused_in_pass > LOGGED_REFUSALS {
            log::warn!(
                "{} more batches were refused and dropped in this pass (failures so far: {:?})",
                self.refused_in_pass - LOGGED_REFUSALS,
                self.stats.failures
            );
        }
        self.refused_in_pass = 0;
        let c = self.ckpt.get();
        if self.mark.0 >= c.watermark.saturating_add(60_000) {
            let in_flight = c.in_flight.filter(|&e| e > self.mark);
            self.save(self.mark, 0, 0, in_flight)?;
        }
        store.note_forwarded(self.mark.0);
        self.stats.watermark_ms = self.mark.0;
        self.stats.lag_ms = self
            .config
            .clock
            .now_ms()
            .saturating_sub(self.mark.0)
            .max(0);
        self.stats.late_samples = store.late_after_forward();
        Ok(())
    }

    /// Records the position `mark` (with `sent` and `dropped` more samples) and the end of
    /// the request to be sent from there, when known.
    fn save(
        &mut self,
        mark: (i64, u32),
        sent: u64,
        dropped: u64,
        in_flight: Option<(i64, u32)>,
    ) -> Result<(), ForwardError> {
        let c = self.ckpt.get();
        let next = Checkpoint {
            watermark: mark.0,
            next_series: mark.1,
            sent: c.sent.saturating_add(sent),
            dropped: c.dropped.saturating_add(dropped),
            in_flight,
            ..c
        };
        self.ckpt.save(next)?;
        self.mark = mark;
        self.stats.total_sent = next.sent;
        self.stats.total_dropped = next.dropped;
        self.stats.watermark_ms = mark.0;
        Ok(())
    }

    /// The next request from the start of `rest` (points of a slice read up to `to`): how
    /// many points, and the position just after it (`(to, 0)` when it takes the rest).
    fn cut(
        &self,
        slice: &tierlog::forward::hold::RawSlice,
        rest: &[(i64, u32, usize, f64)],
        to: i64,
    ) -> (usize, (i64, u32)) {
        let n = self.batch_len(slice, rest);
        if n == rest.len() {
            (n, (to, 0))
        } else {
            let last = rest[n - 1];
            (n, (last.0, last.1.saturating_add(1)))
        }
    }

    /// How many of `rest` (at least one) fit in one request.
    fn batch_len(
        &self,
        slice: &tierlog::forward::hold::RawSlice,
        rest: &[(i64, u32, usize, f64)],
    ) -> usize {
        let mut seen = std::collections::HashSet::new();
        let mut bytes = 0usize;
        for (n, &(_, _, i, _)) in rest.iter().enumerate() {
            if n == self.config.max_batch_samples {
                return n;
            }
            // A sample: about 2 + 9 + 7 bytes; a new series: its labels and framing.
            let mut add = 20;
            if seen.insert(i) {
                let (_, metric, labels) = &slice.series[i];
                add += 16 + metric.len() + 6;
                add += labels
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 6)
                    .sum::<usize>();
            }
            if n > 0 && bytes + add > self.config.max_batch_bytes {
                return n;
            }
            bytes += add;
        }
        rest.len()
    }

    fn deliver(
        &mut self,
        store: &Store,
        slice: &tierlog::forward::hold::RawSlice,
        batch: &[(i64, u32, usize, f64)],
        stop: &AtomicBool,
    ) -> Result<Delivery, ForwardError> {
        let body = proto::encode_body(&request(store, slice, batch));
        let what = format!(
            "a batch of {} samples ({}..={} ms)",
            batch.len(),
            batch[0].0,
            batch[batch.len() - 1].0
        );
        self.send_body(&body, &what, stop)
    }

    /// Sends one request body, retrying what may succeed later; `what` names it in logs.
    fn send_body(
        &mut self,
        body: &[u8],
        what: &str,
        stop: &AtomicBool,
    ) -> Result<Delivery, ForwardError> {
        let mut backoff = self.config.backoff_min;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match self.client.send(body) {
                Outcome::Delivered => return Ok(Delivery::Sent),
                Outcome::Refused { status, detail } => {
                    *self
                        .stats
                        .failures
                        .entry(format!("http_{status}"))
                        .or_default() += 1;
                    self.refused_in_pass += 1;
                    if self.refused_in_pass <= LOGGED_REFUSALS {
                        log::warn!(
                            "the receiver refused {what} with HTTP {status}; dropped: {detail}"
                        );
                    }
                    return Ok(Delivery::Dropped(refusal_reason(status, &detail)));
                }
                Outcome::Retry { reason, detail } => {
                    *self.stats.failures.entry(reason.clone()).or_default() += 1;
                    if self.config.max_attempts.is_some_and(|m| attempts >= m) {
                        return Err(ForwardError::GaveUp {
                            attempts,
                            reason,
                            detail,
                        });
                    }
                    log::warn!("sending a batch failed ({detail}); retrying in about {backoff:?}");
                    self.stats.retries += 1;
                    let wait = self.jitter(backoff);
                    if !self.pause(wait, stop) {
                        return Ok(Delivery::Stopped);
                    }
                    backoff = (backoff * 2).min(self.config.backoff_max);
                }
            }
        }
    }

    /// A delay between half of `d` and `d` (splitmix64 over a time seed).
    fn jitter(&mut self, d: Duration) -> Duration {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let half = d / 2;
        half + Duration::from_nanos(z % (half.as_nanos().max(1) as u64))
    }

    /// Sleeps `d` in short steps; false when `stop` was set.
    fn pause(&self, d: Duration, stop: &AtomicBool) -> bool {
        let end = std::time::Instant::now() + d;
        loop {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let now = std::time::Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(50)));
        }
    }
}

enum Delivery {
    Sent,
    /// Refused for good, with the reason (`http_<status>: <first words of the answer>`).
    Dropped(String),
    Stopped,
}

/// A refusal's reason as counted: the status and the start of the receiver's answer (e.g.
/// Prometheus' `out of order sample`, `out of bounds`).
fn refusal_reason(status: u16, detail: &str) -> String {
    let first = detail.lines().next().unwrap_or("").trim();
    let mut short: String = first.chars().take(60).collect();
    if short.len() < first.len() {
        short.push('…');
    }
    if short.is_empty() {
        format!("http_{status}")
    } else {
        format!("http_{status}: {short}")
    }
}

/// The `WriteRequest` of a batch: one time series per store series (labels sorted by name,
/// `__name__` included), samples in time order, and the metadata of their metrics.
fn request(
    store: &Store,
    slice: &tierlog::forward::hold::RawSlice,
    batch: &[(i64, u32, usize, f64)],
) -> proto::WriteRequest {
    let mut by_series: BTreeMap<usize, Vec<proto::ProtoSample>> = BTreeMap::new();
    for &(t, _, i, v) in batch {
        by_series.entry(i).or_default().push(proto::ProtoSample {
            value: v,
            timestamp: t,
        });
    }
    let mut metrics = std::collections::BTreeSet::new();
    let timeseries = by_series
        .into_iter()
        .map(|(i, samples)| {
            let (_, metric, labels) = &slice.series[i];
            metrics.insert(metric.as_str());
            let mut l: Vec<proto::Label> = labels
                .iter()
                .map(|(k, v)| proto::Label {
                    name: k.to_owned(),
                    value: v.to_owned(),
                })
                .collect();
            l.push(proto::Label {
                name: "__name__".into(),
                value: metric.clone(),
            });
            l.sort_by(|a, b| a.name.cmp(&b.name));
            proto::TimeSeries { labels: l, samples }
        })
        .collect();
    let metadata = metrics
        .into_iter()
        .filter_map(|m| {
            let meta = store.metric_meta(m)?;
            let kind = proto::metric_type(meta.kind);
            (kind != proto::MetricType::Unknown
                || !meta.unit.is_empty()
                || !meta.description.is_empty())
            .then(|| proto::MetricMetadata {
                r#type: kind as i32,
                metric_family_name: m.to_owned(),
                help: meta.description,
                unit: meta.unit,
            })
        })
        .collect();
    proto::WriteRequest {
        timeseries,
        metadata,
    }
}

/// A forwarder running on a thread of the writing process; made by [`spawn`].
#[derive(Debug)]
pub struct ForwardHandle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(Forwarder, Result<(), ForwardError>)>>,
}

impl ForwardHandle {
    /// Stops the thread (after the request in flight) and returns its final stats.
    pub fn stop(mut self) -> Result<ForwardStats, ForwardError> {
        self.stop.store(true, Ordering::Relaxed);
        let (f, r) = self
            .thread
            .take()
            .expect("joined once")
            .join()
            .map_err(|_| ForwardError::Config {
                setting: "thread",
                message: "the forwarder thread panicked".into(),
            })?;
        r.map(|_| f.stats)
    }
}

impl Drop for ForwardHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts a forwarder on its own thread over `store` (opened for writing in this process),
/// checkpointing in `store`'s directory. The in-process forwarder sees every write at once
/// and counts late samples in its stats.
///
/// ```no_run
/// use std::sync::Arc;
/// use tierlog::{Config, Store};
/// use tierlog_forward::{spawn, ForwardConfig};
///
/// let store = Arc::new(Store::open("/var/lib/agent/metrics", Config::default())?);
/// let forwarder = spawn(store.clone(), ForwardConfig::new("http://127.0.0.1:9090/api/v1/write"))?;
/// // ... write to `store` ...
/// let stats = forwarder.stop()?;
/// println!("{} samples sent", stats.samples_sent);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn spawn(store: Arc<Store>, config: ForwardConfig) -> Result<ForwardHandle, ForwardError> {
    let mut f = Forwarder::open(store.dir(), config)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("tierlog-forward".into())
        .spawn(move || {
            let r = f.run_store(&store, &flag);
            (f, r)
        })
        .map_err(|e| Error::io(PathBuf::from("<thread>"), "spawn forwarder", e))?;
    Ok(ForwardHandle {
        stop,
        thread: Some(thread),
    })
}
