//! In-memory postings: for each metric and each (label name, value), the ascending list of
//! series ids that have it.

use foldhash::{HashMap, HashMapExt};

use crate::model::Labels;

/// Postings lists.
#[derive(Debug, Default)]
pub struct Postings {
    by_metric: Vec<Vec<u32>>,
    by_label: HashMap<String, HashMap<String, Vec<u32>>>,
}

impl Postings {
    /// Makes room for one more metric id.
    pub fn add_metric(&mut self) {
        self.by_metric.push(Vec::new());
    }

    /// Adds series `id` (ids are added in ascending order, so lists stay sorted).
    pub fn add(&mut self, id: u32, metric: u32, labels: &Labels) {
        self.by_metric[metric as usize].push(id);
        for (k, v) in labels {
            // Look up before inserting: most names and values exist already, and cloning
            // them only to drop the clone was a third of an open's index replay.
            let by_value = match self.by_label.get_mut(k) {
                Some(m) => m,
                None => self.by_label.entry(k.to_owned()).or_default(),
            };
            match by_value.get_mut(v) {
                Some(list) => list.push(id),
                None => {
                    by_value.insert(v.to_owned(), vec![id]);
                }
            }
        }
    }

    /// Removes series `id` (its metric and labels as given to [`Postings::add`]).
    pub fn remove(&mut self, id: u32, metric: u32, labels: &Labels) {
        let drop_from = |v: &mut Vec<u32>| {
            if let Ok(i) = v.binary_search(&id) {
                v.remove(i);
            }
        };
        if let Some(v) = self.by_metric.get_mut(metric as usize) {
            drop_from(v);
        }
        for (k, val) in labels {
            if let Some(by_value) = self.by_label.get_mut(k) {
                if let Some(v) = by_value.get_mut(val) {
                    drop_from(v);
                    if v.is_empty() {
                        by_value.remove(val);
                    }
                }
                if by_value.is_empty() {
                    self.by_label.remove(k);
                }
            }
        }
    }

    /// Removes many series at once: one pass over each list they are in, where removing them
    /// one by one ([`Postings::remove`]) shifts a list once per series (quadratic when a churn
    /// of thousands of series of one metric expires together).
    pub fn remove_many<'a>(&mut self, removed: impl IntoIterator<Item = (u32, u32, &'a Labels)>) {
        let mut of_metric: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut of_label: HashMap<(&str, &str), Vec<u32>> = HashMap::new();
        for (id, metric, labels) in removed {
            of_metric.entry(metric).or_default().push(id);
            for (k, v) in labels {
                of_label.entry((k, v)).or_default().push(id);
            }
        }
        let drop_from = |v: &mut Vec<u32>, ids: &mut Vec<u32>| {
            if ids.len() == 1 {
                if let Ok(i) = v.binary_search(&ids[0]) {
                    v.remove(i);
                }
            } else {
                ids.sort_unstable();
                v.retain(|x| ids.binary_search(x).is_err());
            }
        };
        for (metric, mut ids) in of_metric {
            if let Some(v) = self.by_metric.get_mut(metric as usize) {
                drop_from(v, &mut ids);
            }
        }
        for ((k, val), mut ids) in of_label {
            if let Some(by_value) = self.by_label.get_mut(k) {
                if let Some(v) = by_value.get_mut(val) {
                    drop_from(v, &mut ids);
                    if v.is_empty() {
                        by_value.remove(val);
                    }
                }
                if by_value.is_empty() {
                    self.by_label.remove(k);
                }
            }
        }
    }

    /// Series of a metric.
    pub fn metric(&self, metric: u32) -> &[u32] {
        self.by_metric
            .get(metric as usize)
            .map_or(&[], |v| v.as_slice())
    }

    /// Each value of label `name` with its series.
    pub fn values(&self, name: &str) -> impl Iterator<Item = (&str, &[u32])> {
        self.by_label
            .get(name)
            .into_iter()
            .flatten()
            .map(|(v, ids)| (v.as_str(), ids.as_slice()))
    }

    /// How many values label `name` has.
    pub fn distinct_values(&self, name: &str) -> usize {
        self.by_label.get(name).map_or(0, HashMap::len)
    }

    /// Series having label `name` = `value`.
    pub fn label(&self, name: &str, value: &str) -> &[u32] {
        self.by_label
            .get(name)
            .and_then(|m| m.get(value))
            .map_or(&[], |v| v.as_slice())
    }
}
