//! The sidecar index: the registry of metrics and series (persisted in `index.log`) and the
//! in-memory label postings used to match selectors.

pub mod compact;
pub mod format;
mod postings;
mod select;

// foldhash rather than std's SipHash: hashing was a tenth of an open's instructions. Its
// seeds are random, so crafted label sets cannot aim collisions at a known function.
use foldhash::HashMap;

use crate::error::Corruption;
use crate::index::format::IndexRecord;
use crate::model::{Labels, MetricId, MetricInfo, MetricMeta, SeriesId};
use crate::query::selector::Selector;

pub use postings::Postings;

/// The corruption reported for a metric record whose id skips ids (earlier definitions lost).
pub const METRIC_OUT_OF_SEQUENCE: &str = "metric id out of sequence";

#[derive(Debug, Clone)]
struct SeriesEntry {
    metric: u32,
    labels: Labels,
}

/// Series ids by label hash. Nearly every hash names one series, so its id is kept in the
/// table itself; only the other series of a colliding hash go to a list. (A `Vec` per hash
/// cost an allocation and its header, about 50 bytes, per series.)
#[derive(Debug, Default)]
struct ByHash {
    first: HashMap<u64, u32>,
    more: HashMap<u64, Vec<u32>>,
}

impl ByHash {
    fn insert(&mut self, hash: u64, id: u32) {
        use std::collections::hash_map::Entry;
        match self.first.entry(hash) {
            Entry::Vacant(e) => {
                e.insert(id);
            }
            Entry::Occupied(_) => self.more.entry(hash).or_default().push(id),
        }
    }

    fn remove(&mut self, hash: u64, id: u32) {
        if self.first.get(&hash) == Some(&id) {
            match self.more.get_mut(&hash) {
                Some(rest) => {
                    let next = rest.remove(0);
                    if rest.is_empty() {
                        self.more.remove(&hash);
                    }
                    self.first.insert(hash, next);
                }
                None => {
                    self.first.remove(&hash);
                }
            }
        } else if let Some(rest) = self.more.get_mut(&hash) {
            rest.retain(|&x| x != id);
            if rest.is_empty() {
                self.more.remove(&hash);
            }
        }
    }

    fn ids(&self, hash: u64) -> impl Iterator<Item = u32> + '_ {
        let rest = self.more.get(&hash).map_or(&[][..], Vec::as_slice);
        self.first
            .get(&hash)
            .copied()
            .into_iter()
            .chain(rest.iter().copied())
    }
}

/// Metrics, series and postings.
#[derive(Debug, Default)]
pub struct Registry {
    metrics: Vec<MetricInfo>,
    metric_by_name: HashMap<String, u32>,
    series: Vec<Option<SeriesEntry>>,
    series_count: usize,
    /// The id the next new series gets: above every id defined, removed or reserved (which
    /// may lie past the end of `series`, so reserving a high id allocates nothing).
    next_series: u32,
    by_hash: ByHash,
    postings: Postings,
}

impl Registry {
    /// Applies one record read back from `index.log`.
    pub fn apply(&mut self, rec: IndexRecord) -> Result<(), Corruption> {
        match rec {
            IndexRecord::Metric {
                id,
                kind,
                name,
                unit,
                description,
            } => {
                let meta = MetricMeta {
                    kind,
                    unit,
                    description,
                };
                if (id as usize) < self.metrics.len() {
                    if self.metrics[id as usize].name != name {
                        return Err(Corruption::BadField {
                            what: "metric id reused for another name",
                        });
                    }
                    self.metrics[id as usize].meta = meta;
                } else if id as usize == self.metrics.len() {
                    if self.metric_by_name.contains_key(&name) {
                        return Err(Corruption::BadField {
                            what: "metric name defined twice",
                        });
                    }
                    self.insert_metric(name, meta);
                } else {
                    return Err(Corruption::BadField {
                        what: METRIC_OUT_OF_SEQUENCE,
                    });
                }
            }
            IndexRecord::Series {
                id,
                metric,
                hash,
                labels,
            } => {
                if metric as usize >= self.metrics.len()
                    || self.metrics[metric as usize].name.is_empty()
                {
                    return Err(Corruption::BadField {
                        what: "series of an unknown metric",
                    });
                }
                if id < self.next_series {
                    return Err(Corruption::BadField {
                        what: "series id defined twice",
                    });
                }
                if id == u32::MAX {
                    // Never handed out (`Error::LimitReached`); the next id would not exist.
                    return Err(Corruption::BadField {
                        what: "series id out of range",
                    });
                }
                let name = &self.metrics[metric as usize].name;
                if labels.hash_with(name) != hash {
                    return Err(Corruption::BadField {
                        what: "series hash does not match its labels",
                    });
                }
                let mut prev: Option<&str> = None;
                let canonical = labels.iter().all(|(k, v)| {
                    let ok = !v.is_empty() && prev.is_none_or(|p| p < k);
                    prev = Some(k);
                    ok
                });
                if !canonical {
                    return Err(Corruption::BadField {
                        what: "series labels not canonical",
                    });
                }
                self.next_series = id;
                self.insert_series(MetricId(metric), labels, hash);
            }
            IndexRecord::SeriesRemoved { id } => {
                // Removing what is not (or no longer) there changes nothing, but the id stays
                // taken: a compacted index keeps the highest id ever handed out only this way.
                self.remove_series(id);
                self.reserve_series_ids(id.saturating_add(1));
            }
        }
        Ok(())
    }

    /// Makes room for `n` more series, as an index about to be replayed holds.
    pub fn reserve_series(&mut self, n: usize) {
        self.series.reserve(n);
        self.by_hash.first.reserve(n);
    }

    /// Removes series `id` (when live): it is no longer selected, resolved or written to;
    /// its id stays taken. Returns whether it was live.
    pub fn remove_series(&mut self, id: u32) -> bool {
        let Some(slot) = self.series.get_mut(id as usize) else {
            return false;
        };
        let Some(e) = slot.take() else {
            return false;
        };
        self.postings.remove(id, e.metric, &e.labels);
        let name = &self.metrics[e.metric as usize].name;
        let hash = e.labels.hash_with(name);
        self.by_hash.remove(hash, id);
        self.series_count -= 1;
        true
    }

    /// Removes the live series among `ids` like [`Registry::remove_series`], in one pass over
    /// the postings. Returns how many were live.
    pub fn remove_series_many(&mut self, ids: impl IntoIterator<Item = u32>) -> u64 {
        let mut gone = Vec::new();
        for id in ids {
            let Some(e) = self.series.get_mut(id as usize).and_then(Option::take) else {
                continue;
            };
            let name = &self.metrics[e.metric as usize].name;
            let hash = e.labels.hash_with(name);
            self.by_hash.remove(hash, id);
            self.series_count -= 1;
            gone.push((id, e));
        }
        self.postings
            .remove_many(gone.iter().map(|(id, e)| (*id, e.metric, &e.labels)));
        gone.len() as u64
    }

    fn insert_metric(&mut self, name: String, meta: MetricMeta) -> MetricId {
        let id = self.metrics.len() as u32;
        self.metric_by_name.insert(name.clone(), id);
        self.metrics.push(MetricInfo {
            id: MetricId(id),
            name,
            meta,
        });
        self.postings.add_metric();
        MetricId(id)
    }

    fn insert_series(&mut self, metric: MetricId, labels: Labels, hash: u64) -> SeriesId {
        let id = self.next_series;
        self.series.resize(id as usize, None);
        self.postings.add(id, metric.0, &labels);
        self.by_hash.insert(hash, id);
        self.series.push(Some(SeriesEntry {
            metric: metric.0,
            labels,
        }));
        self.series_count += 1;
        self.next_series = id.saturating_add(1);
        SeriesId(id)
    }

    /// The metric called `name`.
    pub fn metric_by_name(&self, name: &str) -> Option<&MetricInfo> {
        self.metric_by_name
            .get(name)
            .map(|&i| &self.metrics[i as usize])
    }

    /// All metrics, by id (including nameless placeholders of definitions lost to damage,
    /// which [`Registry::live_metrics`] leaves out).
    pub fn metrics(&self) -> &[MetricInfo] {
        &self.metrics
    }

    /// The metrics that have a definition.
    pub fn live_metrics(&self) -> impl Iterator<Item = &MetricInfo> {
        self.metrics.iter().filter(|m| !m.name.is_empty())
    }

    /// Number of live series.
    pub fn series_count(&self) -> usize {
        self.series_count
    }

    /// Ids of the live series, ascending.
    pub fn live_series_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.series
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_some())
            .map(|(id, _)| id as u32)
    }

    /// The id the next new series will get.
    pub fn next_series_id(&self) -> u32 {
        self.next_series
    }

    /// Finds the series of `metric` with canonical label `pairs` (sorted, no empty values).
    pub fn find_series<K: AsRef<str>, V: AsRef<str>>(
        &self,
        metric: &str,
        pairs: &[(K, V)],
        hash: u64,
    ) -> Option<SeriesId> {
        let mid = *self.metric_by_name.get(metric)?;
        self.by_hash.ids(hash).find_map(|id| {
            let e = self.series[id as usize].as_ref()?;
            let same = e.metric == mid
                && e.labels.len() == pairs.len()
                && e.labels
                    .iter()
                    .zip(pairs)
                    .all(|((k, v), (k2, v2))| k == k2.as_ref() && v == v2.as_ref());
            same.then_some(SeriesId(id))
        })
    }

    /// After damage lost metric definitions: keeps ids `..upto` taken by nameless placeholders,
    /// so later definitions keep their ids. Placeholders match no name and are not listed.
    pub fn pad_metrics(&mut self, upto: u32) {
        while self.metrics.len() < upto as usize {
            let id = self.metrics.len() as u32;
            self.metrics.push(MetricInfo {
                id: MetricId(id),
                name: String::new(),
                meta: MetricMeta::default(),
            });
            self.postings.add_metric();
        }
    }

    /// True when some metric id is held by a nameless placeholder (definitions lost to
    /// damage): the index cannot be rewritten from the registry without guessing.
    pub fn has_placeholders(&self) -> bool {
        self.metrics.iter().any(|m| m.name.is_empty())
    }

    /// The records of a compacted index that rebuilds this registry: every metric in id order
    /// (current kind, unit and description), the live series in id order, and, when the
    /// highest id ever handed out is not live, one series-removed record naming it so that no
    /// id is handed out again. Replayed into an empty registry they give the same metrics,
    /// the same live series under the same ids, and the same next series id. Meaningless with
    /// placeholders ([`Registry::has_placeholders`]).
    pub fn compacted_records(&self) -> Vec<IndexRecord> {
        let mut out = Vec::with_capacity(self.metrics.len() + self.series_count + 1);
        out.extend(self.metrics.iter().map(|m| IndexRecord::Metric {
            id: m.id.0,
            kind: m.meta.kind,
            name: m.name.clone(),
            unit: m.meta.unit.clone(),
            description: m.meta.description.clone(),
        }));
        for (id, e) in self.series.iter().enumerate() {
            if let Some(e) = e {
                let name = &self.metrics[e.metric as usize].name;
                out.push(IndexRecord::Series {
                    id: id as u32,
                    metric: e.metric,
                    hash: e.labels.hash_with(name),
                    labels: e.labels.clone(),
                });
            }
        }
        if let Some(last) = self.next_series.checked_sub(1)
            && !self.has_series(last)
        {
            out.push(IndexRecord::SeriesRemoved { id: last });
        }
        out
    }

    /// Makes sure no id below `upto` is ever handed out to a new series (ids a log still names).
    pub fn reserve_series_ids(&mut self, upto: u32) {
        self.next_series = self.next_series.max(upto);
    }

    /// Registers a new metric and returns the record to persist.
    pub fn new_metric(&mut self, name: &str, meta: MetricMeta) -> (MetricId, IndexRecord) {
        let rec = IndexRecord::Metric {
            id: self.metrics.len() as u32,
            kind: meta.kind,
            name: name.to_owned(),
            unit: meta.unit.clone(),
            description: meta.description.clone(),
        };
        (self.insert_metric(name.to_owned(), meta), rec)
    }

    /// Registers a new series (labels canonical) and returns the record to persist.
    pub fn new_series(
        &mut self,
        metric: MetricId,
        labels: Labels,
        hash: u64,
    ) -> (SeriesId, IndexRecord) {
        let rec = IndexRecord::Series {
            id: self.next_series,
            metric: metric.0,
            hash,
            labels: labels.clone(),
        };
        (self.insert_series(metric, labels, hash), rec)
    }

    /// For each series id, whether its metric is a counter (ids past the end: not).
    pub fn counter_flags(&self) -> Vec<bool> {
        self.series
            .iter()
            .map(|e| {
                e.as_ref().is_some_and(|e| {
                    self.metrics[e.metric as usize].meta.kind == crate::model::MetricKind::Counter
                })
            })
            .collect()
    }

    /// True when `id` is a live series of a counter metric.
    pub fn is_counter(&self, id: u32) -> bool {
        matches!(self.series.get(id as usize), Some(Some(e))
            if self.metrics[e.metric as usize].meta.kind == crate::model::MetricKind::Counter)
    }

    /// True when `id` names a live series.
    pub fn has_series(&self, id: u32) -> bool {
        matches!(self.series.get(id as usize), Some(Some(_)))
    }

    /// The metric name and labels of a series.
    pub fn series(&self, id: SeriesId) -> Option<(&str, &Labels)> {
        let e = self.series.get(id.0 as usize)?.as_ref()?;
        Some((&self.metrics[e.metric as usize].name, &e.labels))
    }

    /// Number of series of metric `id`.
    pub fn series_of_metric(&self, id: MetricId) -> usize {
        self.postings.metric(id.0).len()
    }

    /// The ids of the series `sel` matches, ascending (see `select.rs`).
    pub fn select(&self, sel: &Selector) -> Vec<SeriesId> {
        self.select_ids(sel).into_iter().map(SeriesId).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::label_hash;

    fn reg() -> Registry {
        let mut r = Registry::default();
        let (cpu, _) = r.new_metric("cpu", MetricMeta::default());
        let (mem, _) = r.new_metric("mem", MetricMeta::default());
        for (m, labels) in [
            (cpu, vec![("host", "a"), ("mode", "idle")]),
            (cpu, vec![("host", "b"), ("mode", "idle")]),
            (cpu, vec![("host", "a"), ("mode", "user")]),
            (mem, vec![("host", "a")]),
        ] {
            let l = Labels::canonical(&labels);
            let h = l.hash_with(&r.metrics[m.0 as usize].name);
            r.new_series(m, l, h);
        }
        r
    }

    fn ids(r: &Registry, s: &str) -> Vec<u32> {
        r.select(&Selector::parse(s).unwrap())
            .into_iter()
            .map(|s| s.0)
            .collect()
    }

    #[test]
    fn select_by_matchers() {
        let r = reg();
        assert_eq!(ids(&r, "cpu"), vec![0, 1, 2]);
        assert_eq!(ids(&r, r#"cpu{host="a"}"#), vec![0, 2]);
        assert_eq!(ids(&r, r#"cpu{host!="a"}"#), vec![1]);
        assert_eq!(ids(&r, r#"cpu{mode=~"id.*"}"#), vec![0, 1]);
        assert_eq!(ids(&r, r#"cpu{mode!~"id.*"}"#), vec![2]);
        assert_eq!(ids(&r, r#"{host="a"}"#), vec![0, 2, 3]);
        assert_eq!(ids(&r, r#"{__name__=~"m.*"}"#), vec![3]);
        assert_eq!(ids(&r, r#"mem{mode=""}"#), vec![3]);
        assert_eq!(ids(&r, r#"cpu{mode=""}"#), Vec::<u32>::new());
        assert_eq!(ids(&r, "nosuch"), Vec::<u32>::new());
    }

    #[test]
    fn series_sharing_a_hash_are_found_and_removed_each() {
        let mut b = ByHash::default();
        for id in [5, 9, 2] {
            b.insert(7, id);
        }
        b.insert(8, 1);
        assert_eq!(b.ids(7).collect::<Vec<_>>(), [5, 9, 2]);
        b.remove(7, 5);
        assert_eq!(b.ids(7).collect::<Vec<_>>(), [9, 2]);
        b.remove(7, 2);
        b.remove(7, 4); // not there: nothing changes
        assert_eq!(b.ids(7).collect::<Vec<_>>(), [9]);
        b.remove(7, 9);
        assert_eq!(b.ids(7).count(), 0);
        assert!(b.first.len() == 1 && b.more.is_empty());
        assert_eq!(b.ids(8).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn find_series_by_key() {
        let r = reg();
        let l = Labels::canonical(&[("mode", "user"), ("host", "a")]);
        let h = l.hash_with("cpu");
        assert_eq!(r.find_series("cpu", &l.to_pairs(), h), Some(SeriesId(2)));
        let h2 = l.hash_with("mem");
        assert_eq!(r.find_series("mem", &l.to_pairs(), h2), None);
    }

    #[test]
    fn replaying_records_rebuilds_the_registry_and_checks_them() {
        let mut src = Registry::default();
        let (m, r1) = src.new_metric("up", MetricMeta::default());
        let l = Labels::canonical(&[("job", "x")]);
        let h = l.hash_with("up");
        let (_, r2) = src.new_series(m, l.clone(), h);
        let mut dst = Registry::default();
        dst.apply(r1.clone()).unwrap();
        dst.apply(r2.clone()).unwrap();
        assert_eq!(dst.find_series("up", &l.to_pairs(), h), Some(SeriesId(0)));
        assert!(dst.apply(r2).is_err(), "duplicate series id");
        let bad = IndexRecord::Series {
            id: 5,
            metric: 0,
            hash: 1,
            labels: Labels::default(),
        };
        assert!(dst.apply(bad).is_err(), "hash mismatch");
        let orphan = IndexRecord::Series {
            id: 5,
            metric: 9,
            hash: 1,
            labels: Labels::default(),
        };
        assert!(dst.apply(orphan).is_err(), "unknown metric");
    }

    #[test]
    fn a_removal_record_reserves_its_id_even_when_not_live() {
        let mut r = Registry::default();
        r.apply(IndexRecord::Metric {
            id: 0,
            kind: Default::default(),
            name: "up".into(),
            unit: String::new(),
            description: String::new(),
        })
        .unwrap();
        // A compacted index: series 3 is live, 9 was the highest id ever handed out.
        r.apply(IndexRecord::Series {
            id: 3,
            metric: 0,
            hash: label_hash::<&str, &str>("up", &[]),
            labels: Labels::default(),
        })
        .unwrap();
        r.apply(IndexRecord::SeriesRemoved { id: 9 }).unwrap();
        assert_eq!(r.next_series_id(), 10);
        assert_eq!(r.series_count(), 1);
        assert!(r.has_series(3) && !r.has_series(9));
        // A series record may not reuse it, nor any id below it.
        let again = |id| IndexRecord::Series {
            id,
            metric: 0,
            hash: label_hash("up", &[("a", "b")]),
            labels: Labels::canonical(&[("a", "b")]),
        };
        assert!(r.apply(again(9)).is_err());
        assert!(r.apply(again(5)).is_err());
        r.apply(again(10)).unwrap();
        let (id, _) = r.new_series(
            MetricId(0),
            Labels::canonical(&[("a", "c")]),
            label_hash("up", &[("a", "c")]),
        );
        assert_eq!(id, SeriesId(11));
        // The maximum id does not overflow.
        r.apply(IndexRecord::SeriesRemoved { id: u32::MAX })
            .unwrap();
    }

    #[test]
    fn compacted_records_rebuild_the_same_registry() {
        let mut src = reg();
        src.apply(IndexRecord::Metric {
            id: 1,
            kind: crate::model::MetricKind::Gauge,
            name: "mem".into(),
            unit: "bytes".into(),
            description: "resident".into(),
        })
        .unwrap();
        // Remove the last series (id 3) and one in the middle (id 1).
        src.apply(IndexRecord::SeriesRemoved { id: 3 }).unwrap();
        src.apply(IndexRecord::SeriesRemoved { id: 1 }).unwrap();
        let recs = src.compacted_records();
        // 2 metrics + 2 live series + the removal record keeping id 3 taken.
        assert_eq!(recs.len(), 5);
        assert_eq!(recs.last(), Some(&IndexRecord::SeriesRemoved { id: 3 }));
        let mut dst = Registry::default();
        for r in recs {
            dst.apply(r).unwrap();
        }
        assert_eq!(dst.next_series_id(), 4);
        assert_eq!(dst.series_count(), 2);
        assert_eq!(dst.metrics(), src.metrics());
        for s in ["cpu", r#"{host="a"}"#, r#"cpu{mode="idle"}"#, "mem"] {
            assert_eq!(ids(&dst, s), ids(&src, s), "{s}");
        }
        assert_eq!(ids(&dst, "cpu"), vec![0, 2]);
        let l = Labels::canonical(&[("host", "b"), ("mode", "idle")]);
        assert_eq!(
            dst.find_series("cpu", &l.to_pairs(), l.hash_with("cpu")),
            None
        );
        // With the last series live, no removal record is needed.
        let mut live = reg();
        live.apply(IndexRecord::SeriesRemoved { id: 0 }).unwrap();
        let recs = live.compacted_records();
        assert_eq!(recs.len(), 2 + 3);
        assert!(
            !recs
                .iter()
                .any(|r| matches!(r, IndexRecord::SeriesRemoved { .. }))
        );
        // Ids reserved past the last series (named by a log) are kept as well.
        live.reserve_series_ids(7);
        let recs = live.compacted_records();
        assert_eq!(recs.last(), Some(&IndexRecord::SeriesRemoved { id: 6 }));
        assert!(!live.has_placeholders());
        live.pad_metrics(4);
        assert!(live.has_placeholders());
    }

    #[test]
    fn removing_many_series_at_once_is_removing_them_one_by_one() {
        let mut one = reg();
        let mut many = reg();
        for id in [2, 0, 7, 2] {
            one.remove_series(id);
        }
        assert_eq!(many.remove_series_many([2, 0, 7, 2]), 2);
        for r in [&one, &many] {
            assert_eq!(r.series_count(), 2);
            assert_eq!(ids(r, "cpu"), vec![1]);
            assert_eq!(ids(r, r#"{host="a"}"#), vec![3]);
            assert_eq!(ids(r, r#"{mode="idle"}"#), vec![1]);
            assert_eq!(ids(r, r#"{mode="user"}"#), Vec::<u32>::new());
            assert_eq!(r.series_of_metric(MetricId(0)), 1);
        }
        for r in [&one, &many] {
            assert_eq!(r.postings.label("mode", "user"), &[] as &[u32]);
            assert_eq!(r.postings.label("host", "a"), &[3]);
            assert_eq!(r.postings.label("host", "b"), &[1]);
            assert_eq!(r.postings.metric(1), &[3]);
        }
    }
}
