//! Reads: selector queries merging sealed segments and open windows, listings and stats.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::{INDEX_FILE, STATE_FILE, Shared, Store};
use crate::error::Result;
use crate::model::{Labels, MetricInfo, SeriesId, SeriesInfo};
use crate::query::selector::Selector;
use crate::segment::Segment;

/// One series in a query result.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct SeriesPoints {
    /// Metric name.
    pub metric: String,
    /// Labels.
    pub labels: Labels,
    /// Tier the points come from ("raw").
    pub tier: &'static str,
    /// `(ts_ms, value)` in time order.
    pub points: Vec<(i64, f64)>,
}

/// The answer to a query. When `warnings` is not empty, some data could not be read and the
/// answer is partial.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct QueryResult {
    /// Matching series with at least one point in range, ordered by metric then labels.
    pub series: Vec<SeriesPoints>,
    /// What was skipped, and why.
    pub warnings: Vec<String>,
}

impl QueryResult {
    /// True when data was skipped.
    pub fn is_partial(&self) -> bool {
        !self.warnings.is_empty()
    }
}

impl Shared {
    /// The series `selector` matches, ascending by id, with their metric names and labels.
    pub(crate) fn select(&self, selector: &Selector) -> (Vec<SeriesId>, Vec<(String, Labels)>) {
        let st = self.state.read();
        let mut ids: Vec<SeriesId> = st.registry.select(selector);
        ids.sort_unstable();
        let meta = ids
            .iter()
            .map(|&id| {
                let (m, l) = st.registry.series(id).expect("selected series exist");
                (m.to_owned(), l.clone())
            })
            .collect();
        (ids, meta)
    }

    /// The raw points with `from <= ts < to` of each of `ids` (ascending), merging sealed
    /// segments and open windows; what could not be read is described in `warnings`.
    pub(crate) fn raw_points(
        &self,
        ids: &[SeriesId],
        from: i64,
        to: i64,
        warnings: &mut Vec<String>,
    ) -> Vec<Vec<(i64, f64)>> {
        let span = self.config.span_ms();
        let overlaps = |start: i64| start < to && start.saturating_add(span) > from;
        let mut sources: BTreeMap<i64, Source> = BTreeMap::new();
        {
            let st = self.state.read();
            for (&start, seg) in st.sealed.iter().filter(|(s, _)| overlaps(**s)) {
                sources.insert(start, Source::Segment(seg.clone()));
            }
            let open = st
                .open
                .iter()
                .map(|(k, w)| (*k, w))
                .chain(st.sealing.iter().map(|(k, w)| (*k, &**w)));
            for (start, w) in open.filter(|(s, _)| overlaps(*s)) {
                let pts = ids
                    .iter()
                    .map(|id| {
                        let mut v = Vec::new();
                        w.data.points_into(id.0, from, to, |t, x| v.push((t, x)));
                        v
                    })
                    .collect();
                sources.insert(start, Source::Memory(pts));
            }
            // Late samples fold into the points of their sealed (or sealing) window.
            for (&start, late) in st.late.iter().filter(|(s, l)| overlaps(**s) && !l.merged) {
                if !ids.iter().any(|id| late.has(id.0)) {
                    continue;
                }
                let mut base = Vec::new();
                let pts = ids
                    .iter()
                    .map(|id| {
                        base.clear();
                        if let Some(w) = st.sealing.get(&start) {
                            w.data.raw_points_into(id.0, from, to, |p| base.push(p));
                        } else if let Some(seg) = st.sealed.get(&start)
                            && let Err((offset, what)) =
                                seg.read_raw_points(id.0, from, to, &mut base)
                        {
                            warnings.push(format!(
                                "{} at offset {offset}: {what}; series {} skipped in this window",
                                seg.path().display(),
                                id.0
                            ));
                            return Vec::new();
                        }
                        late.fold(id.0, &base, from, to)
                            .iter()
                            .map(|p| (p.ts, p.value()))
                            .collect()
                    })
                    .collect();
                sources.insert(start, Source::Memory(pts));
            }
            for (_, bad) in st.bad.iter().filter(|(s, _)| overlaps(**s)) {
                warnings.push(format!(
                    "segment {} is corrupt and was skipped: {}",
                    bad.path.display(),
                    bad.error
                ));
            }
        }
        // Each series' room, from the chunk entries and the points in memory: the output
        // grows once instead of once per window (at most `MAX_ROOM` points reserved ahead,
        // whatever a footer claims).
        let mut points: Vec<Vec<(i64, f64)>> = ids
            .iter()
            .enumerate()
            .map(|(k, id)| {
                let room: usize = sources
                    .values()
                    .map(|src| match src {
                        Source::Memory(per) => per.get(k).map_or(0, Vec::len),
                        Source::Segment(seg) => seg
                            .footer()
                            .entries_of(id.0)
                            .iter()
                            .filter(|e| e.min_ts < to && e.max_ts >= from)
                            .map(|e| e.points as usize)
                            .sum(),
                    })
                    .sum();
                Vec::with_capacity(room.min(MAX_ROOM))
            })
            .collect();
        for (_, src) in sources {
            match src {
                Source::Memory(per) => {
                    for (p, v) in points.iter_mut().zip(per) {
                        p.extend(v);
                    }
                }
                Source::Segment(seg) => {
                    // `ids` ascend, so one forward walk over the footer finds them all.
                    let mut cursor = 0;
                    let cache = self.config.read_cache.as_ref();
                    for (p, id) in points.iter_mut().zip(ids) {
                        if let Err((offset, what)) =
                            seg.read_series_cached(&mut cursor, id.0, from, to, p, cache)
                        {
                            warnings.push(format!(
                                "{} at offset {offset}: {what}; series {} skipped in this window",
                                seg.path().display(),
                                id.0
                            ));
                        }
                    }
                }
            }
        }
        points
    }
}

/// The most points [`Shared::raw_points`] reserves for a series before reading it.
const MAX_ROOM: usize = 1 << 22;

enum Source {
    Segment(Arc<Segment>),
    Memory(Vec<Vec<(i64, f64)>>),
}

/// A series of a raw query, or nothing when it has no point in range.
fn raw_series(metric: String, labels: Labels, points: Vec<(i64, f64)>) -> Option<SeriesPoints> {
    (!points.is_empty()).then_some(SeriesPoints {
        metric,
        labels,
        tier: "raw",
        points,
    })
}

/// Adds the points of the same series under a later id, keeping time order.
fn merge_points(points: &mut Vec<(i64, f64)>, more: Vec<(i64, f64)>) {
    points.extend(more);
    points.sort_by_key(|p| p.0);
}

/// The series of a raw query, one at a time, in the order of [`QueryResult::series`]; made by
/// [`Store::query_iter`].
///
/// Each series' points are read when the iterator reaches it, from the data the store holds at
/// that moment, so memory stays bounded by one series (plus the names and labels of the
/// matched series). What could not be read accumulates in [`QueryIter::warnings`]; read them
/// once the iteration is done (iterate with `by_ref()` or `while let` to keep the iterator).
#[derive(Debug)]
pub struct QueryIter<'a> {
    shared: &'a Shared,
    /// The matched series still to read, in output order.
    series: std::vec::IntoIter<(SeriesId, String, Labels)>,
    from: i64,
    to: i64,
    warnings: Vec<String>,
    /// `warnings` as a set: every series' read reports the same damaged segments.
    seen: HashSet<String>,
}

impl QueryIter<'_> {
    /// What was skipped so far, and why (each message once). Not empty = partial answer.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The warnings, consuming the iterator.
    pub fn into_warnings(self) -> Vec<String> {
        self.warnings
    }
}

impl Iterator for QueryIter<'_> {
    type Item = SeriesPoints;

    fn next(&mut self) -> Option<SeriesPoints> {
        while let Some((id, metric, labels)) = self.series.next() {
            let mut warnings = Vec::new();
            let mut points = self
                .shared
                .raw_points(&[id], self.from, self.to, &mut warnings)
                .pop()
                .unwrap_or_default();
            // The same series under later ids (an archive's series that came back after a
            // clean-up): one series.
            while let Some((next, ..)) = self
                .series
                .as_slice()
                .first()
                .filter(|(_, m, l)| *m == metric && *l == labels)
            {
                let next = *next;
                self.series.next();
                let more = self
                    .shared
                    .raw_points(&[next], self.from, self.to, &mut warnings)
                    .pop()
                    .unwrap_or_default();
                merge_points(&mut points, more);
            }
            for w in warnings {
                if self.seen.insert(w.clone()) {
                    self.warnings.push(w);
                }
            }
            if let Some(s) = raw_series(metric, labels, points) {
                return Some(s);
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.series.len()))
    }
}

impl std::iter::FusedIterator for QueryIter<'_> {}

impl Store {
    /// Selects series by `selector` and returns their raw points with `from <= ts < to`
    /// (timestamps of points, i.e. second starts), merging sealed segments and open windows.
    ///
    /// Every matched series' points are read under one lock of the store's state. For
    /// results too large to hold at once, use [`Store::query_iter`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tierlog::{Config, ManualClock, Sample, Selector, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let now = 1_700_000_000_000;
    /// let clock = Arc::new(ManualClock::new(now));
    /// let store = Store::open(dir.path(), Config::default().with_clock(clock))?;
    /// store.write(&[
    ///     Sample::new("node_load1", &[("host", "a")], now - 2_000, 0.5),
    ///     Sample::new("node_load1", &[("host", "a")], now - 1_000, 0.75),
    ///     Sample::new("node_load1", &[("host", "b")], now - 1_000, 2.0),
    /// ])?;
    ///
    /// let sel: Selector = r#"node_load1{host="a"}"#.parse()?;
    /// let result = store.query(&sel, now - 60_000, now + 1)?;
    /// assert!(!result.is_partial());
    /// assert_eq!(result.series.len(), 1);
    /// assert_eq!(result.series[0].labels.get("host"), "a");
    /// assert_eq!(result.series[0].points, [(now - 2_000, 0.5), (now - 1_000, 0.75)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn query(&self, selector: &Selector, from: i64, to: i64) -> Result<QueryResult> {
        let mut result = QueryResult::default();
        let (ids, meta) = self.shared.select(selector);
        let points = self.shared.raw_points(&ids, from, to, &mut result.warnings);
        let mut out: Vec<SeriesPoints> = meta
            .into_iter()
            .zip(points)
            .filter_map(|((metric, labels), points)| raw_series(metric, labels, points))
            .collect();
        // Stable: series with equal labels stay in id order.
        out.sort_by(|a, b| (&a.metric, &a.labels).cmp(&(&b.metric, &b.labels)));
        let mut merged: Vec<SeriesPoints> = Vec::with_capacity(out.len());
        for s in out {
            match merged.last_mut() {
                Some(prev) if prev.metric == s.metric && prev.labels == s.labels => {
                    merge_points(&mut prev.points, s.points)
                }
                _ => merged.push(s),
            }
        }
        result.series = merged;
        Ok(result)
    }

    /// Like [`Store::query`], one series at a time: the series come in the same order with the
    /// same points, and [`QueryIter::warnings`] ends up with the same warnings, but only one
    /// series' points are in memory at once.
    ///
    /// The series are chosen when this is called; each one's points are read (through the
    /// same read path as [`Store::query`]) when the iterator reaches it, so a series read later
    /// may include samples written after the call. Retention dropping a segment meanwhile does
    /// not affect an iteration that already started reading it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tierlog::{Config, ManualClock, Sample, Selector, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let now = 1_700_000_000_000;
    /// let store = Store::open(dir.path(), Config::default().with_clock(Arc::new(ManualClock::new(now))))?;
    /// for cpu in ["0", "1", "2"] {
    ///     store.write(&[Sample::new("node_cpu_seconds_total", &[("cpu", cpu)], now, 1.0)])?;
    /// }
    ///
    /// let sel = Selector::metric("node_cpu_seconds_total");
    /// let mut series = store.query_iter(&sel, now - 60_000, now + 1)?;
    /// let mut cpus = Vec::new();
    /// for s in series.by_ref() {
    ///     cpus.push(s.labels.get("cpu").to_owned());
    /// }
    /// assert_eq!(cpus, ["0", "1", "2"]);
    /// assert!(series.warnings().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn query_iter(&self, selector: &Selector, from: i64, to: i64) -> Result<QueryIter<'_>> {
        let (ids, meta) = self.shared.select(selector);
        let mut series: Vec<(SeriesId, String, Labels)> = ids
            .into_iter()
            .zip(meta)
            .map(|(id, (metric, labels))| (id, metric, labels))
            .collect();
        series.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
        Ok(QueryIter {
            shared: &self.shared,
            series: series.into_iter(),
            from,
            to,
            warnings: Vec::new(),
            seen: HashSet::new(),
        })
    }

    /// Where the raw tier begins: the start of the oldest raw window the store holds (ms), or
    /// `None` when it holds none. Raw points at and after it are all there (what retention
    /// drops goes a whole window at a time, oldest first); before it only the rollup tiers
    /// answer (retention, or history written by [`Store::backfill`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tierlog::{Config, ManualClock, Sample, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let t = 1_700_000_400_000; // on a 20-minute window boundary
    /// let store = Store::open(dir.path(), Config::default().with_clock(Arc::new(ManualClock::new(t))))?;
    /// assert_eq!(store.raw_from(), None);
    /// store.write(&[Sample::new("up", &[], t + 5_000, 1.0)])?;
    /// assert_eq!(store.raw_from(), Some(t));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn raw_from(&self) -> Option<i64> {
        self.shared.state.read().oldest_raw_window()
    }

    /// The rollup tiers this store keeps, finest first: `(name, interval ms, materialised
    /// through ms)`, the last being the exclusive end of the contiguous range whose buckets are
    /// final (`None` before the first piece).
    ///
    /// ```
    /// use tierlog::{Config, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path(), Config::default())?;
    /// let tiers: Vec<(String, i64)> = store.tiers().into_iter().map(|(n, i, _)| (n, i)).collect();
    /// assert_eq!(tiers, [("10s".to_owned(), 10_000), ("60s".to_owned(), 60_000)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tiers(&self) -> Vec<(String, i64, Option<i64>)> {
        let st = self.shared.state.read();
        st.tiers
            .iter()
            .map(|t| {
                let done = (t.done_through != i64::MIN).then_some(t.done_through);
                (t.name.clone(), t.interval, done)
            })
            .collect()
    }

    /// All metrics with their metadata, by name.
    pub fn metrics(&self) -> Vec<MetricInfo> {
        let st = self.shared.state.read();
        let mut m: Vec<MetricInfo> = st.registry.live_metrics().cloned().collect();
        m.sort_by(|a, b| a.name.cmp(&b.name));
        m
    }

    /// Number of series of each metric, by metric name.
    pub fn series_counts(&self) -> BTreeMap<String, usize> {
        let st = self.shared.state.read();
        st.registry
            .live_metrics()
            .map(|m| (m.name.clone(), st.registry.series_of_metric(m.id)))
            .collect()
    }

    /// The series `selector` matches, ordered by metric then labels.
    ///
    /// ```
    /// use tierlog::{Config, Selector, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path(), Config::default())?;
    /// for dev in ["sda", "sdb", "nvme0n1"] {
    ///     store.series_handle("disk_read_bytes_total", &[("device", dev)])?;
    /// }
    /// let sel: Selector = r#"disk_read_bytes_total{device=~"sd.*"}"#.parse()?;
    /// let devices: Vec<String> = store.series(&sel).iter().map(|s| s.labels.get("device").to_owned()).collect();
    /// assert_eq!(devices, ["sda", "sdb"]);
    /// assert_eq!(store.series_counts()["disk_read_bytes_total"], 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn series(&self, selector: &Selector) -> Vec<SeriesInfo> {
        let st = self.shared.state.read();
        let mut v: Vec<SeriesInfo> = st
            .registry
            .select(selector)
            .into_iter()
            .filter_map(|id| {
                let (m, l) = st.registry.series(id)?;
                Some(SeriesInfo {
                    id,
                    metric: m.to_owned(),
                    labels: l.clone(),
                })
            })
            .collect();
        v.sort_by(|a, b| (&a.metric, &a.labels).cmp(&(&b.metric, &b.labels)));
        v
    }

    /// Sizes and counts per tier, sealed and open apart. `tiers[0]` is the raw tier, then the
    /// rollup tiers finest first.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tierlog::{Config, ManualClock, Sample, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let now = 1_700_000_000_000;
    /// let store = Store::open(dir.path(), Config::default().with_clock(Arc::new(ManualClock::new(now))))?;
    /// store.write(&[Sample::new("up", &[("job", "node")], now, 1.0)])?;
    /// let stats = store.stats();
    /// assert_eq!((stats.metrics, stats.series), (1, 1));
    /// let raw = &stats.tiers[0];
    /// assert_eq!((raw.tier.as_str(), raw.open.points, raw.newest_ms), ("raw", 1, Some(now)));
    /// assert!(stats.total_bytes >= raw.bytes + stats.index_bytes);
    /// assert!(stats.head_bytes > 0 && stats.head_bytes <= stats.max_head_bytes);
    /// assert_eq!(stats.rejections.too_old, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> StoreStats {
        let sh = &*self.shared;
        // From the files, before the state lock: a reader in another process sees them too.
        let (forward_late_logged, forwarders) = sh.forward_late_stats();
        let st = sh.state.read();
        let mut sealed = TierPart::default();
        let mut open = TierPart::default();
        let (mut oldest, mut newest): (Option<i64>, Option<i64>) = (None, None);
        let mut see = |lo: i64, hi: i64| {
            oldest = Some(oldest.map_or(lo, |o| o.min(lo)));
            newest = Some(newest.map_or(hi, |n| n.max(hi)));
        };
        let mut corrupt_segments = 0;
        for seg in st.sealed.values() {
            if seg.is_damaged() {
                corrupt_segments += 1;
            }
            sealed.segments += 1;
            sealed.bytes += seg.len();
            sealed.points += seg.points();
            let e = &seg.footer().entries;
            if let (Some(lo), Some(hi)) = (
                e.iter().map(|e| e.min_ts).min(),
                e.iter().map(|e| e.max_ts).max(),
            ) {
                see(lo, hi);
            }
        }
        for bad in st.bad.values() {
            sealed.segments += 1;
            sealed.bytes += bad.bytes;
            corrupt_segments += 1;
        }
        for w in st.open.values().chain(st.sealing.values().map(|w| &**w)) {
            open.segments += 1;
            open.bytes += sh.fs.file_len(&w.path);
            open.points += w.data.points();
            if let Some((lo, hi)) = w.data.time_range() {
                see(lo, hi);
            }
        }
        sealed.finish();
        open.finish();
        let mut raw = TierStats {
            tier: "raw".into(),
            materialised_through_ms: None,
            segments: sealed.segments + open.segments,
            bytes: sealed.bytes + open.bytes,
            points: sealed.points + open.points,
            bytes_per_point: 0.0,
            oldest_ms: oldest,
            newest_ms: newest,
            corrupt_segments,
            sealed,
            open,
        };
        raw.bytes_per_point = ratio(raw.bytes, raw.points);
        let mut tiers = vec![raw];
        for t in &st.tiers {
            let mut sealed = TierPart::default();
            let mut corrupt_segments = 0;
            let (mut oldest, mut newest): (Option<i64>, Option<i64>) = (None, None);
            for seg in t.segments.values() {
                corrupt_segments += u64::from(seg.is_damaged());
                sealed.segments += 1;
                sealed.bytes += seg.len();
                sealed.points += seg.points();
                for e in &seg.footer().entries {
                    oldest = Some(oldest.map_or(e.min_ts, |o| o.min(e.min_ts)));
                    newest = Some(newest.map_or(e.max_ts, |n| n.max(e.max_ts)));
                }
            }
            for bad in t.bad.values() {
                sealed.segments += 1;
                sealed.bytes += bad.bytes;
                corrupt_segments += 1;
            }
            sealed.finish();
            tiers.push(TierStats {
                tier: t.name.clone(),
                segments: sealed.segments,
                bytes: sealed.bytes,
                points: sealed.points,
                bytes_per_point: sealed.bytes_per_point,
                oldest_ms: oldest,
                newest_ms: newest,
                corrupt_segments,
                materialised_through_ms: (t.done_through != i64::MIN).then_some(t.done_through),
                sealed,
                open: TierPart::default(),
            });
        }
        let index_bytes = sh.fs.file_len(&sh.dir.join(INDEX_FILE));
        let state_bytes = sh.fs.file_len(&sh.dir.join(STATE_FILE));
        StoreStats {
            total_bytes: tiers.iter().map(|t| t.bytes).sum::<u64>() + index_bytes + state_bytes,
            tiers,
            series: st.registry.series_count() as u64,
            metrics: st.registry.live_metrics().count() as u64,
            index_bytes,
            max_bytes: sh.config.max_bytes(),
            max_age_days: sh.config.max_age_days(),
            retention: *sh.retention_totals.lock(),
            head_bytes: st.head_bytes(),
            max_head_bytes: sh.config.limits.max_head_bytes,
            max_series: sh.config.limits.max_series,
            rejections: sh.rejections.snapshot(),
            late_pending: st.late.values().map(|l| l.count).sum(),
            clock_behind_ms: {
                let behind = st.clock_high_water.saturating_sub(sh.config.clock.now_ms());
                if behind > sh.config.grace_ms() {
                    behind
                } else {
                    0
                }
            },
            late_windows: st.late.len() as u64,
            late_after_forward: sh.forward.late.load(std::sync::atomic::Ordering::Relaxed),
            forward_late_logged,
            forwarders,
            never_forwarded: sh
                .forward
                .never_forwarded
                .load(std::sync::atomic::Ordering::Relaxed),
            samples_written: sh.rejections.written().0,
            series_created: sh.rejections.written().1,
            fsync: sh.timings.fsync_snapshot(),
            maintenance: sh.timings.maintenance_snapshot(),
        }
    }
}

fn ratio(bytes: u64, points: u64) -> f64 {
    if points == 0 {
        0.0
    } else {
        bytes as f64 / points as f64
    }
}

/// Counts of one part (sealed or open) of a tier.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TierPart {
    /// Files.
    pub segments: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Points stored.
    pub points: u64,
    /// bytes / points (0 when empty).
    pub bytes_per_point: f64,
}

impl TierPart {
    fn finish(&mut self) {
        self.bytes_per_point = ratio(self.bytes, self.points);
    }
}

/// Stats of one tier.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TierStats {
    /// Tier name (`raw` or a rollup tier's).
    pub tier: String,
    /// Files (sealed segments and open logs).
    pub segments: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Points stored (buckets, for a rollup tier).
    pub points: u64,
    /// bytes / points.
    pub bytes_per_point: f64,
    /// Rollup tiers: end of the range materialised so far, ms (`None` for raw, and before the
    /// first piece).
    pub materialised_through_ms: Option<i64>,
    /// Earliest point, ms.
    pub oldest_ms: Option<i64>,
    /// Latest point, ms.
    pub newest_ms: Option<i64>,
    /// Segments known to be damaged: those that failed their checks at open (skipped whole by
    /// queries) and those in which a read found a damaged chunk (that chunk is skipped).
    /// `tierlog verify` checks every chunk.
    pub corrupt_segments: u64,
    /// Sealed segments.
    pub sealed: TierPart,
    /// Open windows' logs.
    pub open: TierPart,
}

/// Stats of a store.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct StoreStats {
    /// Per tier.
    pub tiers: Vec<TierStats>,
    /// Live series.
    pub series: u64,
    /// Metrics.
    pub metrics: u64,
    /// Every byte of the store's files.
    pub total_bytes: u64,
    /// Bytes of the index.
    pub index_bytes: u64,
    /// The byte budget in force (0 = none).
    pub max_bytes: u64,
    /// The age limit in force, days.
    pub max_age_days: u32,
    /// What retention has dropped since the store was opened.
    pub retention: super::RetentionTotals,
    /// Estimated memory held by the open windows and those being sealed (the head), bytes.
    pub head_bytes: u64,
    /// The head's cap, [`crate::Limits::max_head_bytes`] (0 = none).
    pub max_head_bytes: u64,
    /// The series cap, [`crate::Limits::max_series`].
    pub max_series: u64,
    /// What writes refused since the store was opened, by reason.
    pub rejections: super::Rejections,
    /// Samples accepted since the open whose second a remote-write forwarder had already
    /// sent (counted against the checkpoints' lowest watermark as of the last maintenance
    /// pass, or live for a forwarder in this process); they are not re-sent. Kept in memory
    /// only: another process opening the store (`tierlog stats`) starts from 0. Each write
    /// reports its own in [`super::WriteSummary::late_after_forward`].
    pub late_after_forward: u64,
    /// Raw points retention dropped since the open before a forwarder had sent them (the
    /// backlog limit or the byte budget was reached).
    pub never_forwarded: u64,
    /// Late samples (written into sealed windows) not yet merged into their segments; the
    /// raw tier's point counts do not include them until then.
    pub late_pending: u64,
    /// Windows holding such samples (each has a late log).
    pub late_windows: u64,
    /// How far the clock is behind the store's high-water mark (the latest clock it has
    /// seen), ms, when that is more than the grace; else 0. The mark decides sealing only:
    /// samples are accepted relative to the clock (`docs/time.md`, "Clocks that jump"). The
    /// open reports the same as `Finding::ClockBehind`.
    pub clock_behind_ms: i64,
    /// Samples in the forward late log (`forward/late.log`): accepted behind every
    /// forwarder's watermark, so no forwarder's in-order stream sends them (read from the
    /// file: any process sees them).
    pub forward_late_logged: u64,
    /// Per forwarder (checkpoint), the late log's samples it has not handled yet and those
    /// it skipped (never sent).
    pub forwarders: Vec<crate::forward::late::ForwarderLate>,
    /// Samples writes and bulk imports accepted since the open (late ones included).
    pub samples_written: u64,
    /// Series created by writes since the open.
    pub series_created: u64,
    /// Durations of the write path's group-commit fsync rounds since the open (one round
    /// fsyncs every open log; [`super::FSYNC_BUCKETS`]). Kept in memory: empty for a
    /// read-only open.
    pub fsync: super::DurationHistogram,
    /// Maintenance passes since the open: their durations and what they did. Kept in
    /// memory: empty for a read-only open.
    pub maintenance: super::MaintenanceStats,
}
