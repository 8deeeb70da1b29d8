//! The `agent` example's sampling: the files it reads, its store configuration, and [`Agent`],
//! which writes `/proc` readings through cached series handles.

use std::collections::HashMap;
use std::time::Duration;

use tierlog::{Config, Error, MetricMeta, SampleError, SeriesId, Store, Sync, WriteSummary};

use super::procfs::{LabelPairs, ProcFile, ProcText, Reading};

/// The files the agent samples.
pub const FILES: [ProcFile; 5] = [
    ProcFile::Stat,
    ProcFile::Meminfo,
    ProcFile::Loadavg,
    ProcFile::NetDev,
    ProcFile::Diskstats,
];

/// The agent's store configuration: the defaults, except that writes are fsynced every 5 s
/// rather than on every write (a crash loses at most the last 5 s; closing syncs everything).
pub fn config() -> Config {
    Config {
        sync: Sync::Interval(Duration::from_secs(5)),
        ..Config::default()
    }
}

/// Writes samples of `/proc` into a store through cached series handles.
pub struct Agent<'a> {
    store: &'a Store,
    /// Handles by metric name, then by labels as the readings carry them.
    handles: HashMap<&'static str, HashMap<LabelPairs, SeriesId>>,
    batch: Vec<(SeriesId, i64, f64)>,
}

impl<'a> Agent<'a> {
    /// An agent writing to `store`; registers the kind, unit and description of every metric
    /// of `files`.
    pub fn new(store: &'a Store, files: &[ProcFile]) -> tierlog::Result<Agent<'a>> {
        for family in files.iter().flat_map(|f| f.families()) {
            store.set_metric_meta(
                family.name,
                MetricMeta {
                    kind: family.kind,
                    unit: family.unit.to_owned(),
                    description: family.help.to_owned(),
                },
            )?;
        }
        Ok(Agent {
            store,
            handles: HashMap::new(),
            batch: Vec::new(),
        })
    }

    /// Series handles cached so far.
    pub fn series(&self) -> usize {
        self.handles.values().map(HashMap::len).sum()
    }

    /// Writes every reading in `text` at `ts_ms` as one batch.
    pub fn sample(&mut self, text: &ProcText, ts_ms: i64) -> tierlog::Result<WriteSummary> {
        let readings = text.readings();
        self.fill_batch(&readings, ts_ms)?;
        match self.store.write_series(&self.batch) {
            // Retention removes series that have had no sample for longer than the raw data is
            // kept (a network interface that went away), and their handles with them: resolve
            // everything again and retry once.
            Err(Error::InvalidSample {
                reason: SampleError::UnknownSeries { .. },
                ..
            }) => {
                self.handles.clear();
                self.fill_batch(&readings, ts_ms)?;
                self.store.write_series(&self.batch)
            }
            r => r,
        }
    }

    fn fill_batch(&mut self, readings: &[Reading], ts_ms: i64) -> tierlog::Result<()> {
        self.batch.clear();
        for r in readings {
            let by_labels = self.handles.entry(r.family.name).or_default();
            let id = match by_labels.get(&r.labels) {
                Some(&id) => id,
                None => {
                    let labels: Vec<(&str, &str)> =
                        r.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    let id = self.store.series_handle(r.family.name, &labels)?;
                    by_labels.insert(r.labels.clone(), id);
                    id
                }
            };
            self.batch.push((id, ts_ms, r.value));
        }
        Ok(())
    }
}
