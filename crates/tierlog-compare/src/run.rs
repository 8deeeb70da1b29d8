//! One engine variant's run, in its own process: ingest, close, size, reopen, queries, RSS.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::engine::{self, ManyQuery, Read, Result, TierBytes, Variant};
use crate::source::{Point, SeriesKey, Source};

/// What one variant measured; the child prints it as one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measured {
    pub variant: String,
    pub writers: usize,
    pub samples: u64,
    pub ingest_secs: f64,
    pub close_secs: f64,
    pub bytes: u64,
    /// Bytes of the raw tier alone (tierlog; rollup tiers and index excluded).
    pub raw_bytes: Option<u64>,
    /// Each tier's bytes and points (tierlog), `raw` first.
    #[serde(default)]
    pub tiers: Vec<TierBytes>,
    pub open_secs: f64,
    /// Medians, seconds.
    pub q_series_secs: f64,
    pub q_many_secs: f64,
    pub q_buckets_secs: f64,
    /// What the queries returned (to check the engines agree).
    pub q_series_points: u64,
    pub q_series_sum: f64,
    pub q_many_points: u64,
    pub q_many_series: usize,
    pub q_many_sum: f64,
    pub q_buckets: usize,
    pub q_buckets_p95_sum: f64,
    /// Whether the one-series and the many-series queries returned, bit for bit, the values
    /// the workload gave for those series and ranges (same count, same digest of the bits).
    #[serde(default)]
    pub q_series_exact: bool,
    #[serde(default)]
    pub q_many_exact: bool,
    pub peak_rss_bytes: u64,
}

impl Measured {
    pub fn rate(&self) -> f64 {
        self.samples as f64 / self.ingest_secs
    }
    pub fn bytes_per_sample(&self) -> f64 {
        self.bytes as f64 / self.samples as f64
    }
}

/// The queries every engine answers.
#[derive(Debug, Clone)]
pub struct Queries {
    pub series: u32,
    pub whole: (i64, i64),
    pub many: ManyQuery,
    pub hour: (i64, i64),
    pub day: (i64, i64),
}

const HOUR: i64 = 3_600_000;
const STEP: i64 = 60_000;

/// Picks the queries for a workload whose samples lie in `[start, end]`: the metric with the
/// most series; its first series for the whole-range and bucket queries; for the "100 series"
/// query, the label of that metric whose values, taken in order until at least 100 series are
/// covered, come closest to 100.
pub fn plan(series: &[SeriesKey], (start, end): (i64, i64)) -> Queries {
    let mut by_metric: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for (i, (m, _)) in series.iter().enumerate() {
        by_metric.entry(m).or_default().push(i as u32);
    }
    let (metric, members) = by_metric
        .iter()
        .max_by_key(|(m, v)| (v.len(), std::cmp::Reverse(**m)))
        .map(|(m, v)| (m.to_string(), v.clone()))
        .expect("a workload has series");
    let keys: BTreeSet<&str> = members
        .iter()
        .flat_map(|&i| series[i as usize].1.iter().map(|(k, _)| k.as_str()))
        .collect();
    let mut best: Option<(String, Vec<String>, Vec<u32>)> = None;
    for key in keys {
        let mut groups: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for &i in &members {
            if let Some((_, v)) = series[i as usize].1.iter().find(|(k, _)| k == key) {
                groups.entry(v).or_default().push(i);
            }
        }
        let (mut values, mut picked) = (Vec::new(), Vec::new());
        for (v, ids) in groups {
            if picked.len() >= 100 {
                break;
            }
            values.push(v.to_string());
            picked.extend(ids);
        }
        let score = |n: usize| n.abs_diff(100);
        if best
            .as_ref()
            .is_none_or(|b| score(picked.len()) < score(b.2.len()))
        {
            best = Some((key.to_string(), values, picked));
        }
    }
    let (label, values, mut picked) = best.expect("the metric has labels");
    picked.sort_unstable();
    let to = end + 1;
    let minute = |t: i64| t.div_euclid(STEP) * STEP;
    // tierlog keeps one point per second, at the second's start: a range starting at the
    // first sample's millisecond (a recording that starts at 23:06:17.493) would leave out
    // that first point. Start at the whole second, which holds every engine's first sample.
    let start = start.div_euclid(1000) * 1000;
    Queries {
        series: members[0],
        whole: (start, to),
        many: ManyQuery {
            metric,
            label,
            values,
            series: picked,
        },
        hour: ((to - HOUR).max(start), to),
        day: (minute((to - 24 * HOUR).max(start)), to),
    }
}

/// Sum of the apparent sizes of every file under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        match e.metadata() {
            Ok(m) if m.is_dir() => total += dir_bytes(&e.path()),
            Ok(m) => total += m.len(),
            Err(_) => {}
        }
    }
    total
}

/// VmHWM of this process, bytes.
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `f` `runs` times; the median time and the last result.
fn timed<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        last = Some(f()?);
        times.push(t.elapsed().as_secs_f64());
    }
    Ok((median(times), last.expect("ran")))
}

/// Writes the whole workload with `variant` into `dir` (empty), closes, reopens and queries.
pub fn run(variant: Variant, mut source: Source, dir: &Path, runs: usize) -> Result<Measured> {
    let series: Arc<Vec<SeriesKey>> = Arc::new(source.series().to_vec());
    let range = source.range();
    let q = plan(&series, range);
    let many: BTreeSet<u32> = q.many.series.iter().copied().collect();
    // What the two point queries should return: the workload's own values.
    let (mut want_one, mut want_many) = (Read::default(), Read::default());
    let mut store = engine::open(variant, dir, series.clone(), range, false)?;
    let mut block: Vec<Point> = Vec::new();
    let (mut samples, mut ingest_secs) = (0u64, 0.0);
    while source.next_block(&mut block) {
        let t = Instant::now();
        store.write(&block)?;
        ingest_secs += t.elapsed().as_secs_f64();
        samples += block.len() as u64;
        for &(s, ts, v) in &block {
            if s == q.series && (q.whole.0..q.whole.1).contains(&ts) {
                want_one.add(v);
            }
            if many.contains(&s) && (q.hour.0..q.hour.1).contains(&ts) {
                want_many.add(v);
            }
        }
    }
    drop(block);
    let t = Instant::now();
    let settled = store.settle()?;
    store.close()?;
    let close_secs = t.elapsed().as_secs_f64();
    let bytes = settled.unwrap_or_else(|| dir_bytes(dir));

    let t = Instant::now();
    let mut store = engine::open(variant, dir, series.clone(), range, true)?;
    let open_secs = t.elapsed().as_secs_f64();
    let (q_series_secs, one): (f64, Read) =
        timed(runs, || store.query_series(q.series, q.whole.0, q.whole.1))?;
    let (q_many_secs, many) = timed(runs, || store.query_many(&q.many, q.hour.0, q.hour.1))?;
    let (q_buckets_secs, buckets) = timed(runs, || {
        store.query_buckets(q.series, q.day.0, q.day.1, STEP)
    })?;
    let raw_bytes = store.raw_bytes();
    let tiers = store.tiers();
    store.close()?;
    Ok(Measured {
        variant: variant.name().to_string(),
        writers: variant.writers(),
        samples,
        ingest_secs,
        close_secs,
        bytes,
        raw_bytes,
        tiers,
        open_secs,
        q_series_secs,
        q_many_secs,
        q_buckets_secs,
        q_series_points: one.points,
        q_series_sum: one.sum,
        q_many_points: many.points,
        q_many_series: q.many.series.len(),
        q_many_sum: many.sum,
        q_buckets: buckets.len(),
        q_buckets_p95_sum: buckets.iter().map(|b| b.p95).sum(),
        q_series_exact: one.points == want_one.points && one.bits == want_one.bits,
        q_many_exact: many.points == want_many.points && many.bits == want_many.bits,
        peak_rss_bytes: peak_rss(),
    })
}
