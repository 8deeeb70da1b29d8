//! Feeding parsed input (any format's [`EntrySource`]) to a store, live or as a replay.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::entry::{Entry, EntrySource, NameCollision, ParseError, ParsedSample, Skipped};
use super::prom::PromParser;
use super::sort::TimeSorter;
use tierlog::clock::{Clock, ManualClock};
use tierlog::error::{Error, SampleError};
use tierlog::model::{MetricKind, MetricMeta};
use tierlog::store::{Sample, Store, WriteSummary};

/// How to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Samples per write batch.
    pub batch: usize,
    /// Replay: the store's clock (which must be this `ManualClock`) follows the data. Input is
    /// first sorted by time in bounded memory, so files grouped by metric replay too, and a
    /// lone far-future timestamp cannot drag the clock ahead of the rest.
    pub replay: Option<Arc<ManualClock>>,
    /// Where sorted runs are spilled during a replay.
    pub spill_dir: PathBuf,
    /// Memory for sorting before spilling, bytes.
    pub sort_memory: usize,
    /// Timestamp for samples that carry none in a replay. A live ingest stamps such a
    /// sample with the store clock's time when it was read, so a live feed piped in keeps
    /// its timing.
    pub default_ts: i64,
    /// In a replay, the latest time a sample may carry: a later one (a mistyped time in the
    /// future) is skipped and counted as too far ahead, so it cannot carry the replay clock,
    /// and the store's, into the future. `None`: no limit. The CLI sets it to the wall clock
    /// (or `--now`) plus the store's future limit.
    pub latest: Option<i64>,
    /// The longest input line read, bytes (without its line end): a longer one stops the
    /// ingest with [`ParseError::LineTooLong`] naming the line, after reading at most this
    /// much of it. Usually [`crate::import::DEFAULT_MAX_LINE_BYTES`] (1 MiB).
    pub max_line_bytes: usize,
}

/// What an ingest did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    /// Lines read.
    pub lines: u64,
    /// Sample lines parsed.
    pub samples: u64,
    /// Write results.
    #[serde(flatten)]
    pub written: WriteSummary,
    /// Metrics whose metadata was set from HELP/TYPE/UNIT lines.
    pub metadata: u64,
    /// Sorted runs spilled to disk (replay).
    pub spilled_runs: u64,
    /// Input items read correctly and dropped on purpose, by reason.
    pub skipped: Skipped,
    /// Distinct input names that became a name another input name had become first
    /// (line protocol `usage-idle` and `usage_idle`): their samples share series.
    pub name_collisions: u64,
    /// The first few such collisions.
    pub name_collision_examples: Vec<NameCollision>,
    /// The input line (1-based) of the first sample a replay skipped as later than
    /// [`IngestOptions::latest`] (a mistyped time), if any.
    pub first_too_far_ahead_line: Option<u64>,
}

/// Why an ingest stopped.
#[derive(Debug)]
pub enum IngestError {
    /// A malformed line (nothing of its batch was written) or a read error.
    Parse(ParseError),
    /// The store refused a sample (a name or label over the limits, an invalid name): the
    /// input line it came from (1-based) and why; nothing of its batch was written.
    Sample {
        /// The input line (1-based) the sample came from.
        line: u64,
        /// Why the store refused it.
        reason: SampleError,
    },
    /// The store refused a batch.
    Store(Error),
    /// Spilling sorted runs failed.
    Spill(std::io::Error),
}

impl std::fmt::Display for IngestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IngestError::Parse(e) => write!(f, "{e}"),
            IngestError::Sample { line, reason } => {
                write!(f, "line {line}: {reason}; nothing of its batch was written")
            }
            IngestError::Store(e) => write!(f, "{e}"),
            IngestError::Spill(e) => write!(f, "sorting for replay: {e}"),
        }
    }
}

impl std::error::Error for IngestError {}

/// Ingests a Prometheus text exposition; the same as [`ingest`] over a [`PromParser`].
pub fn ingest_prom<R: BufRead>(
    store: &Store,
    input: R,
    opts: &IngestOptions,
) -> (IngestSummary, Result<(), IngestError>) {
    ingest(store, PromParser::new(input), opts)
}

/// Ingests what `source` yields into `store`. Returns what was done and, when the ingest
/// stopped early, why (the summary then says what was written before the error).
pub fn ingest<S: EntrySource>(
    store: &Store,
    mut source: S,
    opts: &IngestOptions,
) -> (IngestSummary, Result<(), IngestError>) {
    let mut sum = IngestSummary::default();
    let mut meta = Metadata::default();
    source.set_max_line_bytes(opts.max_line_bytes);
    let res = match &opts.replay {
        None => ingest_live(store, &mut source, opts, &mut sum, &mut meta),
        Some(clock) => ingest_replay(store, &mut source, opts, clock, &mut sum, &mut meta),
    };
    sum.lines = source.lines_read();
    sum.skipped = source.skipped();
    let collisions = source.name_collisions();
    sum.name_collisions = collisions.count;
    sum.name_collision_examples = collisions.examples;
    // Metadata lines seen are valid whatever happened after them; but an import whose
    // samples were all refused registers no metric.
    if sum.samples > 0 && sum.written.accepted == 0 {
        meta.read.clear();
    }
    // Every metric's metadata once more (the store ignores what it already holds), for
    // the metrics no batch wrote after their metadata.
    for (name, m) in meta.read {
        match store.set_metric_meta(&name, m) {
            Ok(()) => sum.metadata += 1,
            Err(e) => log::warn!("metadata of {name}: {e}"),
        }
    }
    (sum, res)
}

/// The metadata of an ingest's HELP, TYPE and UNIT lines.
#[derive(Default)]
struct Metadata {
    /// Every metric's metadata as read so far.
    read: BTreeMap<String, MetricMeta>,
    /// Metrics whose metadata changed since the store was last given it.
    unsent: BTreeSet<String>,
}

impl Metadata {
    /// Gives the store the metadata of `batch`'s metrics that it does not hold yet, once the
    /// batch was accepted. A metric's kind decides what its rollups store (a counter's
    /// increase): rollup pieces are materialised while a long ingest runs, so a kind held
    /// back until the end would leave the pieces rolled up before it without increases.
    fn send(&mut self, store: &Store, batch: &[ParsedSample]) {
        let mut last: Option<&str> = None;
        for s in batch {
            if self.unsent.is_empty() {
                return;
            }
            if last == Some(s.metric.as_str()) {
                continue;
            }
            last = Some(&s.metric);
            if self.unsent.remove(&s.metric)
                && let Some(m) = self.read.get(&s.metric)
                && let Err(e) = store.set_metric_meta(&s.metric, m.clone())
            {
                log::warn!("metadata of {}: {e}", s.metric);
            }
        }
    }
}

/// Notes a metadata entry in `meta`, or hands a sample back. Metadata is held until the end
/// of the ingest, so it is bounded like the store: at most `limits.max_series` metrics (every
/// metric needs a series) and descriptions no longer than `limits.max_description_bytes`
/// (longer ones would be refused by the store anyway; they are dropped here with a warning).
fn note_meta(
    store: &Store,
    meta: &mut Metadata,
    e: Entry,
) -> Result<Option<ParsedSample>, IngestError> {
    let limits = &store.config().limits;
    let metric = match &e {
        Entry::Sample(_) => None,
        Entry::Help { metric, .. } | Entry::Type { metric, .. } | Entry::Unit { metric, .. } => {
            Some(metric)
        }
    };
    if let Some(m) = metric
        && m.len() > limits.max_name_bytes
    {
        // The store would refuse it; do not hold it until the end.
        log::warn!(
            "metadata of a metric name of {} bytes, longer than limits.max_name_bytes ({}); dropped",
            m.len(),
            limits.max_name_bytes
        );
        return Ok(None);
    }
    if let Some(m) = metric
        && meta.read.len() as u64 >= limits.max_series
        && !meta.read.contains_key(m)
    {
        return Err(IngestError::Store(Error::LimitReached {
            what: "metrics with metadata in one import (limits.max_series)",
            limit: limits.max_series,
        }));
    }
    Ok(match e {
        Entry::Help { metric, text } if text.len() > limits.max_description_bytes => {
            log::warn!(
                "HELP of {metric}: {} bytes, longer than limits.max_description_bytes ({}); dropped",
                text.len(),
                limits.max_description_bytes
            );
            None
        }
        e => note_entry(meta, e),
    })
}

fn note_entry(meta: &mut Metadata, e: Entry) -> Option<ParsedSample> {
    let metric = match e {
        Entry::Sample(s) => return Some(s),
        Entry::Help { metric, text } => {
            meta.read.entry(metric.clone()).or_default().description = text;
            metric
        }
        Entry::Type { metric, kind } => {
            meta.read.entry(metric.clone()).or_default().kind = MetricKind::from_type_word(&kind);
            metric
        }
        Entry::Unit { metric, unit } => {
            meta.read.entry(metric.clone()).or_default().unit = unit;
            metric
        }
    };
    meta.unsent.insert(metric);
    None
}

/// Writes `batch` (whose samples came from input lines `lines`).
fn write_batch(
    store: &Store,
    batch: &[ParsedSample],
    lines: &[u64],
    default_ts: i64,
    meta: &mut Metadata,
) -> Result<WriteSummary, IngestError> {
    let labels: Vec<Vec<(&str, &str)>> = batch
        .iter()
        .map(|s| {
            s.labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        })
        .collect();
    let samples: Vec<Sample<'_>> = batch
        .iter()
        .zip(&labels)
        .map(|(s, l)| Sample::new(&s.metric, l, s.ts_ms.unwrap_or(default_ts), s.value))
        .collect();
    let written = store.write(&samples).map_err(|e| match e {
        Error::InvalidSample { index, reason } => IngestError::Sample {
            line: lines.get(index).copied().unwrap_or(0),
            reason,
        },
        e => IngestError::Store(e),
    })?;
    if written.accepted > 0 {
        meta.send(store, batch);
    }
    Ok(written)
}

/// A live ingest: samples of the last raw keep go to [`Store::write`] in batches; older
/// ones (history) to a [`tierlog::store::BulkImport`], straight into the rollup tiers, in
/// input order (so a time-ordered file is written as it is read).
fn ingest_live<S: EntrySource>(
    store: &Store,
    source: &mut S,
    opts: &IngestOptions,
    sum: &mut IngestSummary,
    meta: &mut Metadata,
) -> Result<(), IngestError> {
    let max_batch = opts.batch.clamp(1, store.config().limits.max_batch_samples);
    let mut batch = Vec::with_capacity(max_batch);
    let mut lines = Vec::with_capacity(max_batch);
    let clock = store.config().clock.clone();
    let raw_keep = i64::try_from(store.config().raw_keep().as_millis()).unwrap_or(i64::MAX);
    let mut bulk = store.bulk_import();
    for item in source.by_ref() {
        let (line, entry) = item.map_err(IngestError::Parse)?;
        if let Entry::Type { metric, kind } = &entry {
            bulk.set_kind(metric, MetricKind::from_type_word(kind));
        }
        if let Some(mut s) = note_meta(store, meta, entry)? {
            sum.samples += 1;
            // The time it was read (the parser yields a line's samples once it has read it).
            let now = clock.now_ms();
            let ts = *s.ts_ms.get_or_insert(now);
            if ts < now.saturating_sub(raw_keep) {
                // History: its raw points are not kept; it goes to the tiers.
                let labels: Vec<(&str, &str)> = s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                bulk.push(&s.metric, &labels, ts, s.value)
                    .map_err(|e| store_error(e, &[line]))?;
                continue;
            }
            batch.push(s);
            lines.push(line);
            if batch.len() >= max_batch {
                sum.written
                    .add(&write_batch(store, &batch, &lines, opts.default_ts, meta)?);
                batch.clear();
                lines.clear();
            }
        }
    }
    if !batch.is_empty() {
        sum.written
            .add(&write_batch(store, &batch, &lines, opts.default_ts, meta)?);
    }
    sum.written.add(&bulk.finish().map_err(IngestError::Store)?);
    Ok(())
}

/// A store error for a batch whose samples came from input lines `lines`.
fn store_error(e: Error, lines: &[u64]) -> IngestError {
    match e {
        Error::InvalidSample { index, reason } => IngestError::Sample {
            line: lines
                .get(index.min(lines.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0),
            reason,
        },
        e => IngestError::Store(e),
    }
}

fn ingest_replay<S: EntrySource>(
    store: &Store,
    source: &mut S,
    opts: &IngestOptions,
    clock: &ManualClock,
    sum: &mut IngestSummary,
    meta: &mut Metadata,
) -> Result<(), IngestError> {
    let mut sorter = TimeSorter::new(&opts.spill_dir, opts.sort_memory);
    let mut buf = Vec::new();
    // A replay's clock follows the input's times, so one mistyped time in the future would
    // carry it (and the store's) there: samples past `opts.latest` are counted as too far
    // ahead and skipped.
    let latest = opts.latest.unwrap_or(i64::MAX);
    // Parse everything first: a malformed line stops the ingest before anything is written.
    for item in source.by_ref() {
        let (line, entry) = item.map_err(IngestError::Parse)?;
        if let Some(s) = note_meta(store, meta, entry)? {
            sum.samples += 1;
            let ts = s.ts_ms.unwrap_or(opts.default_ts);
            if ts > latest {
                sum.written.rejected_too_far_ahead += 1;
                sum.first_too_far_ahead_line.get_or_insert(line);
                continue;
            }
            buf.clear();
            encode_sample(&s, line, &mut buf);
            sorter.push(ts, &buf).map_err(IngestError::Spill)?;
        }
    }
    sum.spilled_runs = sorter.spilled_runs() as u64;
    let span = store.config().window_span.as_millis() as i64;
    let max_batch = opts.batch.clamp(1, store.config().limits.max_batch_samples);
    let mut batch: Vec<ParsedSample> = Vec::with_capacity(max_batch);
    let mut lines: Vec<u64> = Vec::with_capacity(max_batch);
    let mut batch_window = i64::MIN;
    let mut flush = |batch: &mut Vec<ParsedSample>,
                     lines: &mut Vec<u64>,
                     sum: &mut IngestSummary|
     -> Result<(), IngestError> {
        if let Some(max) = batch.iter().filter_map(|s| s.ts_ms).max() {
            clock.advance_to(max);
        }
        sum.written
            .add(&write_batch(store, batch, lines, clock.now_ms(), meta)?);
        batch.clear();
        lines.clear();
        Ok(())
    };
    for rec in sorter.finish().map_err(IngestError::Spill)? {
        let (ts, payload) = rec.map_err(IngestError::Spill)?;
        let (s, line) = decode_sample(&payload, ts).map_err(IngestError::Spill)?;
        // A batch stays within one window, so moving the clock to its newest sample never
        // makes its oldest one too old.
        let w = ts.div_euclid(span);
        if !batch.is_empty() && (batch.len() >= max_batch || w != batch_window) {
            flush(&mut batch, &mut lines, sum)?;
        }
        batch_window = w;
        batch.push(s);
        lines.push(line);
    }
    if !batch.is_empty() {
        flush(&mut batch, &mut lines, sum)?;
    }
    Ok(())
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Sort-run payload: metric, label count, labels, value bits (all length-prefixed), the
/// input line.
fn encode_sample(s: &ParsedSample, line: u64, out: &mut Vec<u8>) {
    put_str(out, &s.metric);
    out.extend_from_slice(&(s.labels.len() as u32).to_le_bytes());
    for (k, v) in &s.labels {
        put_str(out, k);
        put_str(out, v);
    }
    out.extend_from_slice(&s.value.to_bits().to_le_bytes());
    out.extend_from_slice(&line.to_le_bytes());
}

fn decode_sample(b: &[u8], ts: i64) -> std::io::Result<(ParsedSample, u64)> {
    struct Cur<'a>(&'a [u8]);
    impl<'a> Cur<'a> {
        fn take(&mut self, n: usize) -> std::io::Result<&'a [u8]> {
            if self.0.len() < n {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "bad sort record",
                ));
            }
            let (h, t) = self.0.split_at(n);
            self.0 = t;
            Ok(h)
        }
        fn u32(&mut self) -> std::io::Result<u32> {
            Ok(u32::from_le_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            ))
        }
        fn string(&mut self) -> std::io::Result<String> {
            let n = self.u32()? as usize;
            String::from_utf8(self.take(n)?.to_vec()).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "bad sort record")
            })
        }
    }
    let mut c = Cur(b);
    let metric = c.string()?;
    let n = c.u32()? as usize;
    let mut labels = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let k = c.string()?;
        let v = c.string()?;
        labels.push((k, v));
    }
    let value = f64::from_bits(u64::from_le_bytes(c.take(8)?.try_into().expect("8 bytes")));
    let line = u64::from_le_bytes(c.take(8)?.try_into().expect("8 bytes"));
    let sample = ParsedSample {
        metric,
        labels,
        value,
        ts_ms: Some(ts),
    };
    Ok((sample, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_records_round_trip() {
        let s = ParsedSample {
            metric: "m".into(),
            labels: vec![("a".into(), "b".into())],
            value: f64::NAN,
            ts_ms: Some(5),
        };
        let mut b = Vec::new();
        encode_sample(&s, 9, &mut b);
        let (d, line) = decode_sample(&b, 5).unwrap();
        assert_eq!(line, 9);
        assert_eq!(d.metric, "m");
        assert_eq!(d.labels, s.labels);
        assert!(d.value.is_nan());
        assert!(decode_sample(&b[..b.len() - 1], 5).is_err());
    }
}
