//! The bulk path of a backfill: samples accumulate in memory and each tier file is written
//! once per flush instead of once per batch.

use std::collections::HashMap;

use super::{BackfillCounts, SeriesInput, second_points};
use crate::error::{Error, Result};
use crate::model::{check_label_set, check_metric_name, label_hash};
use crate::store::write::{check_ts, resolve_series};
use crate::store::{Store, WriteSummary};

/// The longest flush unit: the input may run this far past a unit before it is written.
const MAX_UNIT_MS: i64 = 7 * 86_400_000;

/// Samples a bulk import holds by default before it writes what it can
/// ([`BulkImport::set_max_held`]): 8 Mi samples, about 130 to 260 MiB.
pub const DEFAULT_MAX_HELD: u64 = 8 << 20;

/// A bulk import of history older than the raw keep, into the rollup tiers (the rules are
/// [`Store::backfill`]'s). Samples are pushed one at a time and held in memory; for input in
/// time order, everything older than the *flush unit* before the newest sample pushed (a
/// whole number of every tier's segment span: a day with the default tiers) is written out
/// as the input moves on, so memory holds about two units of samples, and each tier file is
/// written once. Samples pushed behind what was already written are written at the next
/// flush like a later import: a bucket already written for their series refuses them as a
/// conflict. [`BulkImport::finish`] writes the rest and returns the counts; dropping the
/// import without it discards what was not written yet.
///
/// **Memory is bounded** by [`BulkImport::set_max_held`] (default 8 Mi
/// samples) for input in any order of series: when that many samples are held (input that is
/// not in time order across series, such as an export that writes one series after another,
/// holds every series' history until its unit is complete), each series' samples before the
/// start of its newest *step* (the least common multiple of the tiers' intervals, a minute
/// with the default tiers) are written, since its later samples cannot fall in those
/// buckets if each series is in time order; the next such write comes when the samples held
/// have doubled, or reached the bound again. Tier files are then written more than once
/// (merged, their other chunks copied), and a sample of a series behind its own written
/// buckets is refused as a conflict, as above.
///
/// New series are registered when their samples are first written (the bulk import does
/// not know until then whether any will be), even if every one of their samples is then
/// refused.
///
/// ```
/// use std::sync::Arc;
/// use tierlog::{Config, ManualClock, Selector, Store};
///
/// let dir = tempfile::tempdir()?;
/// let now = 1_700_000_000_000;
/// let store = Store::open(dir.path(), Config::default().with_clock(Arc::new(ManualClock::new(now))))?;
/// let start = (now - 3 * 86_400_000) / 86_400_000 * 86_400_000;
/// let mut bulk = store.bulk_import();
/// for i in 0..2 * 5_760 {
///     bulk.push("load", &[("host", "a")], start + i * 15_000, (i % 60) as f64)?;
/// }
/// let s = bulk.finish()?;
/// assert_eq!((s.accepted, s.new_series), (11_520, 1));
/// let day = store.query_tier(&Selector::metric("load"), start, start + 86_400_000, "60s")?;
/// assert_eq!(day.series[0].points.len(), 1_440);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BulkImport<'s> {
    store: &'s Store,
    /// Series keys by label hash.
    keys: HashMap<u64, Vec<u32>>,
    slots: Vec<Slot>,
    /// Labels of the sample being pushed, sorted (scratch).
    canon: Vec<(usize, usize)>,
    /// The flush unit, ms.
    unit: i64,
    /// Samples before this have been written.
    flushed_to: i64,
    /// A sample at or after this starts a flush.
    next_flush: i64,
    pushed: u64,
    held: u64,
    counts: BackfillCounts,
    new_series: u64,
    /// Metrics to treat as counters ([`BulkImport::set_kind`]).
    counters: std::collections::HashSet<String>,
    /// Whole buckets of every tier: what a bounded flush writes per series.
    step: i64,
    /// Samples held before a bounded flush ([`BulkImport::set_max_held`]).
    max_held: u64,
    /// Held samples that start the next bounded flush.
    relieve_at: u64,
    /// The most samples held at once.
    peak_held: u64,
}

struct Slot {
    metric: String,
    labels: Vec<(String, String)>,
    /// Registered id.
    id: Option<u32>,
    /// Samples not written yet, `(ts, value)` in push order.
    buf: Vec<(i64, f64)>,
    /// The last non-NaN point written (a counter's first step).
    prev: Option<(i64, f64)>,
    /// The newest time pushed.
    newest: i64,
    /// Declared a counter by [`BulkImport::set_kind`].
    counter: bool,
}

impl<'s> BulkImport<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        let unit = {
            let st = store.shared.state.read();
            let lcm = st.tiers.iter().try_fold(1i64, |a, t| {
                let g = gcd(a, t.span.max(1));
                (a / g).checked_mul(t.span.max(1))
            });
            match lcm {
                Some(l) if l <= MAX_UNIT_MS => l.max(1),
                // Spans without a small common multiple: flush by the longest.
                _ => st.tiers.iter().map(|t| t.span).max().unwrap_or(1).max(1),
            }
        };
        let step = {
            let st = store.shared.state.read();
            let lcm = st.tiers.iter().try_fold(1000i64, |a, t| {
                let g = gcd(a, t.interval.max(1));
                (a / g).checked_mul(t.interval.max(1))
            });
            // Intervals without a small common multiple: whole units.
            lcm.filter(|&l| l <= unit).unwrap_or(unit)
        };
        BulkImport {
            store,
            keys: HashMap::new(),
            slots: Vec::new(),
            canon: Vec::new(),
            unit,
            flushed_to: i64::MIN,
            next_flush: i64::MIN,
            pushed: 0,
            held: 0,
            counts: BackfillCounts::default(),
            new_series: 0,
            counters: Default::default(),
            step,
            max_held: DEFAULT_MAX_HELD,
            relieve_at: DEFAULT_MAX_HELD,
            peak_held: 0,
        }
    }

    /// Sets how many samples the import holds before it writes every series' whole steps
    /// (see the type's documentation; at least 1). Default 8 Mi samples.
    pub fn set_max_held(&mut self, samples: u64) {
        self.max_held = samples.max(1);
        self.relieve_at = self.max_held;
    }

    /// The most samples the import has held at once so far.
    pub fn peak_held(&self) -> u64 {
        self.peak_held.max(self.held)
    }

    /// Adds one sample: metric name, labels (any order; empty values are ignored), time in ms
    /// since the epoch, value. An invalid name, label set or time is
    /// [`Error::InvalidSample`] with `index` the number of samples pushed before it; the
    /// sample is not added and the import goes on.
    pub fn push(&mut self, metric: &str, labels: &[(&str, &str)], ts_ms: i64, value: f64) -> Result<()> {
        let index = self.pushed as usize;
        check_ts(ts_ms).map_err(|reason| Error::InvalidSample { index, reason })?;
        let slot = self.slot(metric, labels, index)?;
        let sl = &mut self.slots[slot as usize];
        sl.buf.push((ts_ms, value));
        sl.newest = sl.newest.max(ts_ms);
        self.pushed += 1;
        self.held += 1;
        if ts_ms >= self.next_flush {
            self.passed(ts_ms)?;
        }
        if self.held >= self.relieve_at {
            self.relieve()?;
        }
        Ok(())
    }

    /// Too many samples held: writes each series' samples before its newest step.
    fn relieve(&mut self) -> Result<()> {
        let step = self.step;
        self.flush_by(|sl| sl.newest.div_euclid(step).saturating_mul(step))?;
        // What could not be written waits until the samples held have doubled.
        self.relieve_at = self.max_held.max(self.held.saturating_mul(2));
        // The series' buffers freed here grew one after the other to whole histories: glibc
        // keeps such freed blocks resident unless told (2.9 GiB for two weeks of 1000 series
        // imported series after series, 1.4 GiB with this bound alone).
        crate::store::seal::return_freed_memory();
        Ok(())
    }

    /// Declares a metric's kind for the buckets this import computes, before its samples are
    /// pushed: a counter's buckets get their increase even when the store does not know the
    /// metric as a counter yet (an import that records metadata at its end, as `tierlog
    /// ingest` does). The kind is not recorded in the store; [`Store::set_metric_meta`] does
    /// that.
    pub fn set_kind(&mut self, metric: &str, kind: crate::model::MetricKind) {
        let counter = kind == crate::model::MetricKind::Counter;
        if counter {
            self.counters.insert(metric.to_owned());
        } else {
            self.counters.remove(metric);
        }
        for sl in self.slots.iter_mut().filter(|s| s.metric == metric) {
            sl.counter = counter;
        }
    }

    /// The slot of a series key, created (and its key checked) when new.
    fn slot(&mut self, metric: &str, labels: &[(&str, &str)], index: usize) -> Result<u32> {
        self.canon.clear();
        self.canon.extend(
            labels
                .iter()
                .enumerate()
                .filter(|(_, (_, v))| !v.is_empty())
                .map(|(i, _)| (i, 0)),
        );
        self.canon.sort_unstable_by(|a, b| labels[a.0].cmp(&labels[b.0]));
        let hash = crate::model::label_hash_iter(
            metric,
            self.canon.iter().map(|&(i, _)| labels[i]),
        );
        let slots = &self.slots;
        let canon = &self.canon;
        if let Some(list) = self.keys.get(&hash)
            && let Some(&s) = list.iter().find(|&&s| {
                let sl = &slots[s as usize];
                sl.metric == metric
                    && sl.labels.len() == canon.len()
                    && sl
                        .labels
                        .iter()
                        .zip(canon.iter())
                        .all(|((k, v), &(i, _))| labels[i] == (k.as_str(), v.as_str()))
            })
        {
            return Ok(s);
        }
        let limits = &self.store.shared.config.limits;
        check_metric_name(metric, limits)
            .and_then(|_| check_label_set(labels, limits))
            .map_err(|reason| Error::InvalidSample { index, reason })?;
        debug_assert_eq!(
            hash,
            label_hash(
                metric,
                &canon.iter().map(|&(i, _)| labels[i]).collect::<Vec<_>>()
            )
        );
        let s = self.slots.len() as u32;
        self.slots.push(Slot {
            metric: metric.to_owned(),
            labels: canon
                .iter()
                .map(|&(i, _)| (labels[i].0.to_owned(), labels[i].1.to_owned()))
                .collect(),
            id: None,
            buf: Vec::new(),
            prev: None,
            newest: i64::MIN,
            counter: self.counters.contains(metric),
        });
        self.keys.entry(hash).or_default().push(s);
        Ok(s)
    }

    /// The input has reached `ts`: writes what lies a whole unit behind it.
    fn passed(&mut self, ts: i64) -> Result<()> {
        let unit = self.unit;
        let through = ts.div_euclid(unit).saturating_sub(1).saturating_mul(unit);
        if through > self.flushed_to {
            self.flush(through)?;
            self.flushed_to = through;
        }
        self.next_flush = ts
            .div_euclid(unit)
            .saturating_add(1)
            .saturating_mul(unit)
            .max(self.next_flush);
        Ok(())
    }

    /// Writes every held sample before `through` (`i64::MAX`: all).
    fn flush(&mut self, through: i64) -> Result<()> {
        self.flush_by(|_| through)
    }

    /// Writes every held sample of each series before `through(series)`.
    fn flush_by(&mut self, through: impl Fn(&Slot) -> i64) -> Result<()> {
        self.peak_held = self.peak_held.max(self.held);
        if self.held == 0 {
            return Ok(());
        }
        let sh = &*self.store.shared;
        sh.check_writable()?;
        // Register the series that have samples to write; a series none of whose samples any
        // tier keeps is not registered, and those samples are counted as too old.
        let range = sh.backfill_range(&sh.state.read());
        let mut todo: Vec<u32> = Vec::new();
        let mut dropped = 0u64;
        for (s, sl) in self.slots.iter_mut().enumerate() {
            let through = through(sl);
            if sl.id.is_some() || !sl.buf.iter().any(|p| p.0 < through) {
                continue;
            }
            if sl.buf.iter().any(|p| p.0 < through && range.contains(&p.0)) {
                todo.push(s as u32);
            } else {
                let before = sl.buf.len();
                sl.buf.retain(|p| p.0 >= through);
                dropped += (before - sl.buf.len()) as u64;
            }
        }
        if dropped > 0 {
            let c = BackfillCounts {
                too_old: dropped,
                ..BackfillCounts::default()
            };
            sh.rejections.note_summary(&c.summary());
            self.counts.add(&c);
            self.held -= dropped;
        }
        if !todo.is_empty() {
            let mut st = sh.state.write();
            let labels: Vec<Vec<(&str, &str)>> = todo
                .iter()
                .map(|&s| {
                    self.slots[s as usize]
                        .labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect()
                })
                .collect();
            let (ids, pending) = resolve_series(
                &st,
                todo.iter()
                    .zip(&labels)
                    .map(|(&s, l)| (self.slots[s as usize].metric.as_str(), l.as_slice())),
                sh.config.limits.max_series,
            )
            .map_err(|e| sh.rejections.note_error(e))?;
            self.new_series += pending.new_series;
            pending.commit(sh, &mut st)?;
            for (&s, id) in todo.iter().zip(ids) {
                self.slots[s as usize].id = Some(id);
            }
        }
        let mut order: Vec<(u32, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(s, sl)| sl.id.map(|id| (id, s as u32)))
            .collect();
        order.sort_unstable();
        let mut inputs: Vec<SeriesInput> = Vec::new();
        let mut owners: Vec<u32> = Vec::new();
        let mut taken = 0u64;
        for &(id, s) in &order {
            let sl = &mut self.slots[s as usize];
            let through = through(sl);
            if !sl.buf.iter().any(|p| p.0 < through) {
                continue;
            }
            let mut input = SeriesInput {
                id,
                prev: sl.prev,
                counter: sl.counter,
                ..SeriesInput::default()
            };
            // Stable: a second's samples keep their push order (`through` is a whole second).
            if !sl.buf.is_sorted_by_key(|p| p.0.div_euclid(1000)) {
                sl.buf.sort_by_key(|p| p.0.div_euclid(1000));
            }
            let k = sl.buf.partition_point(|p| p.0 < through);
            second_points(&mut sl.buf[..k], &mut input);
            taken += k as u64;
            sl.buf.drain(..k);
            // A series held whole before it was written keeps no room for it: memory stays
            // within the bound when many series each held their whole history once.
            if sl.buf.capacity() > 4 * sl.buf.len() + 64 {
                sl.buf.shrink_to(2 * sl.buf.len());
            }
            inputs.push(input);
            owners.push(s);
        }
        self.held -= taken;
        if inputs.is_empty() {
            return Ok(());
        }
        let res = sh.backfill_series(&mut inputs);
        match res {
            Ok(c) => {
                sh.rejections.note_summary(&c.summary());
                self.counts.add(&c);
            }
            Err(e) => return Err(e),
        }
        for (input, s) in inputs.into_iter().zip(owners) {
            self.slots[s as usize].prev = input.prev;
        }
        Ok(())
    }

    /// Writes what is still held and returns the counts of the whole import.
    pub fn finish(mut self) -> Result<WriteSummary> {
        self.flush(i64::MAX)?;
        let mut s = self.counts.summary();
        s.new_series = self.new_series;
        Ok(s)
    }

    /// Samples pushed so far.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs().max(1)
}
