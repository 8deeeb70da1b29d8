//! Workloads: seeded presets from `tierlog_testkit::workload`, or any Prometheus text file.
//!
//! A workload is a fixed list of series and a stream of samples, handed out in blocks of whole
//! scrapes (at most about [`BLOCK_SAMPLES`] samples and at most [`BLOCK_SPAN_MS`] of data each),
//! so that even 1 M series × 1 h never has to sit in memory at once.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use tierlog_testkit::workload::Workload;
use tierlog_tools::import::prom::PromParser;
use tierlog_tools::import::{Entry, ParseError};

/// Seed of every preset.
pub const SEED: u64 = 0x7_1e21;
/// 2023-11-14T22:00:00Z: on an hour boundary.
pub const START: i64 = 1_699_999_200_000;
/// Target samples per block.
pub const BLOCK_SAMPLES: usize = 1 << 20;
/// Largest span of data time in one block (tierlog's clock follows the blocks; this keeps a
/// block's newest sample within its future limit and its oldest within the grace).
pub const BLOCK_SPAN_MS: i64 = 240_000;

/// A named size of synthetic workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    pub series: usize,
    pub interval_ms: i64,
    pub duration_ms: i64,
}

const HOUR: i64 = 3_600_000;

/// Every preset; `--quick` shortens the duration (see [`Preset::quick`]).
pub const PRESETS: [Preset; 4] = [
    Preset {
        name: "small",
        series: 1_000,
        interval_ms: 1_000,
        duration_ms: 2 * HOUR,
    },
    Preset {
        name: "day",
        series: 1_000,
        interval_ms: 15_000,
        duration_ms: 24 * HOUR,
    },
    Preset {
        name: "100k",
        series: 100_000,
        interval_ms: 15_000,
        duration_ms: HOUR,
    },
    Preset {
        name: "1m",
        series: 1_000_000,
        interval_ms: 15_000,
        duration_ms: HOUR,
    },
];

impl Preset {
    pub fn by_name(name: &str) -> Option<Preset> {
        PRESETS.iter().copied().find(|p| p.name == name)
    }

    /// The same population over a tenth of the time (at least 10 scrapes), for smoke runs.
    pub fn quick(self) -> Preset {
        let d = (self.duration_ms / 10).max(10 * self.interval_ms);
        Preset {
            duration_ms: d.min(self.duration_ms),
            ..self
        }
    }

    pub fn scrapes(&self) -> usize {
        (self.duration_ms / self.interval_ms) as usize
    }

    pub fn describe(&self) -> String {
        format!(
            "{} series × {} s × {}",
            self.series,
            self.interval_ms / 1000,
            human_duration(self.duration_ms)
        )
    }
}

fn human_duration(ms: i64) -> String {
    if ms % HOUR == 0 {
        format!("{} h", ms / HOUR)
    } else {
        format!("{} min", ms / 60_000)
    }
}

/// `(metric, labels)` of one series.
pub type SeriesKey = (String, Vec<(String, String)>);

/// One sample: `(series index, ts_ms, value)`.
pub type Point = (u32, i64, f64);

/// Where the samples come from.
pub enum Source {
    Synthetic {
        workload: Workload,
        left: usize,
    },
    /// A whole file, sorted by time, handed out block by block.
    File {
        series: Vec<SeriesKey>,
        points: Vec<Point>,
        next: usize,
    },
}

impl Source {
    pub fn preset(p: Preset) -> Source {
        Source::Synthetic {
            workload: Workload::new(SEED, p.series, p.interval_ms, START),
            left: p.scrapes(),
        }
    }

    /// Reads every sample of a Prometheus text file (samples without a timestamp are
    /// refused: a workload needs times).
    pub fn prom_file(path: &Path) -> Result<Source, String> {
        let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut index: HashMap<SeriesKey, u32> = HashMap::new();
        let mut series = Vec::new();
        let mut points = Vec::new();
        for item in PromParser::new(BufReader::new(file)) {
            let (line, entry) = item.map_err(|e| match e {
                ParseError::Io(e) => format!("{}: {e}", path.display()),
                other => format!("{}: {other}", path.display()),
            })?;
            let Entry::Sample(s) = entry else { continue };
            let ts = s
                .ts_ms
                .ok_or_else(|| format!("{}:{line}: sample without a timestamp", path.display()))?;
            let mut labels = s.labels;
            labels.sort();
            let key = (s.metric, labels);
            let next = series.len() as u32;
            let id = *index.entry(key.clone()).or_insert_with(|| {
                series.push(key);
                next
            });
            points.push((id, ts, s.value));
        }
        if points.is_empty() {
            return Err(format!("{}: no samples", path.display()));
        }
        points.sort_by_key(|&(id, ts, _)| (ts, id));
        Ok(Source::File {
            series,
            points,
            next: 0,
        })
    }

    /// Oldest and newest timestamp the workload holds (up to the jitter).
    pub fn range(&self) -> (i64, i64) {
        match self {
            Source::Synthetic { workload, left } => {
                let start = workload.next_scrape_ms();
                let end = start + (*left as i64 - 1).max(0) * workload.interval_ms();
                (start, end + tierlog_testkit::workload::MAX_JITTER_MS)
            }
            Source::File { points, .. } => (
                points.first().map_or(0, |p| p.1),
                points.last().map_or(0, |p| p.1),
            ),
        }
    }

    pub fn series(&self) -> &[SeriesKey] {
        match self {
            Source::Synthetic { workload, .. } => workload.series(),
            Source::File { series, .. } => series,
        }
    }

    /// Appends the next block to `out` (cleared first); false when there is nothing left.
    pub fn next_block(&mut self, out: &mut Vec<Point>) -> bool {
        out.clear();
        match self {
            Source::Synthetic { workload, left } => {
                let per = workload.len().max(1);
                let by_size = (BLOCK_SAMPLES / per).max(1);
                let by_span = (BLOCK_SPAN_MS / workload.interval_ms()).max(1) as usize;
                let n = by_size.min(by_span).min(*left);
                for _ in 0..n {
                    workload.next_scrape(out);
                }
                *left -= n;
                n > 0
            }
            Source::File { points, next, .. } => {
                if *next >= points.len() {
                    return false;
                }
                let t0 = points[*next].1;
                let mut end = *next;
                while end < points.len()
                    && end - *next < BLOCK_SAMPLES
                    && points[end].1 - t0 < BLOCK_SPAN_MS
                {
                    end += 1;
                }
                out.extend_from_slice(&points[*next..end]);
                *next = end;
                true
            }
        }
    }
}
