//! tsink (crates.io) through its public embedded API: `StorageBuilder`, `insert_rows`,
//! `select` / `select_many`. Timestamps in milliseconds, retention long enough for the
//! workload's fixed dates. Aggregates are computed in Rust from `select`'s points (tsink's
//! downsampling has min/max/avg but no p95).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tsink::{
    DataPoint, Label, MetricSeries, Row, Storage, StorageBuilder, TimestampPrecision, WalSyncMode,
};

use crate::engine::{Adapter, BATCH, Bucket, ManyQuery, Read, Result, Variant, buckets, split};
use crate::source::{Point, SeriesKey};

pub struct Tsink {
    storage: Arc<dyn Storage>,
    series: Arc<Vec<SeriesKey>>,
    /// Labels of every series, built once (a row still needs its own copy).
    labels: Vec<Vec<Label>>,
    writers: usize,
}

fn err(e: tsink::TsinkError) -> String {
    format!("tsink: {e}")
}

impl Tsink {
    pub fn open(variant: Variant, dir: &Path, series: Arc<Vec<SeriesKey>>) -> Result<Tsink> {
        let mode = if variant == Variant::TsinkPerAppend {
            WalSyncMode::PerAppend
        } else {
            WalSyncMode::Periodic(Duration::from_secs(1))
        };
        let storage = StorageBuilder::new()
            .with_data_path(dir)
            .with_timestamp_precision(TimestampPrecision::Milliseconds)
            .with_retention(Duration::from_secs(3650 * 86_400))
            .with_retention_enforced(false)
            .with_wal_sync_mode(mode)
            .build()
            .map_err(err)?;
        let labels = series
            .iter()
            .map(|(_, l)| {
                l.iter()
                    .map(|(k, v)| Label::new(k.as_str(), v.as_str()))
                    .collect()
            })
            .collect();
        Ok(Tsink {
            storage,
            series,
            labels,
            writers: variant.writers(),
        })
    }

    fn select(&self, i: u32, from: i64, to: i64) -> Result<Vec<DataPoint>> {
        let (metric, _) = &self.series[i as usize];
        self.storage
            .select(metric, &self.labels[i as usize], from, to)
            .map_err(err)
    }
}

fn value(p: &DataPoint) -> f64 {
    p.value_as_f64().unwrap_or(f64::NAN)
}

impl Adapter for Tsink {
    fn write(&mut self, block: &[Point]) -> Result<()> {
        let parts = split(block, self.writers);
        let this = &*self;
        std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .iter()
                .map(|part| {
                    s.spawn(move || -> Result<()> {
                        for batch in part.chunks(BATCH) {
                            let rows: Vec<Row> = batch
                                .iter()
                                .map(|&(i, ts, v)| {
                                    Row::with_labels(
                                        this.series[i as usize].0.as_str(),
                                        this.labels[i as usize].clone(),
                                        DataPoint::new(ts, v),
                                    )
                                })
                                .collect();
                            this.storage.insert_rows(&rows).map_err(err)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().expect("writer panicked"))
        })
    }

    fn query_series(&mut self, series: u32, from: i64, to: i64) -> Result<Read> {
        let mut r = Read::default();
        for p in self.select(series, from, to)? {
            r.add(value(&p));
        }
        Ok(r)
    }

    fn query_many(&mut self, q: &ManyQuery, from: i64, to: i64) -> Result<Read> {
        let want: Vec<MetricSeries> = q
            .series
            .iter()
            .map(|&i| MetricSeries {
                name: self.series[i as usize].0.clone(),
                labels: self.labels[i as usize].clone(),
            })
            .collect();
        let mut r = Read::default();
        for s in self.storage.select_many(&want, from, to).map_err(err)? {
            for p in &s.points {
                r.add(value(p));
            }
        }
        Ok(r)
    }

    fn query_buckets(&mut self, series: u32, from: i64, to: i64, step: i64) -> Result<Vec<Bucket>> {
        let pts: Vec<(i64, f64)> = self
            .select(series, from, to)?
            .iter()
            .map(|p| (p.timestamp, value(p)))
            .collect();
        Ok(buckets(&pts, step))
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.storage.close().map_err(err)
    }
}
