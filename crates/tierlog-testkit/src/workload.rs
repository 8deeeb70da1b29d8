//! A seeded generator of realistic system metrics, for benchmarks and tests.
//!
//! [`Workload`] describes a population of series, as a node exporter on a fleet of hosts would
//! expose them, and produces their samples scrape by scrape. The same seed, size, interval and
//! start always give the same series and the same samples, on every platform (the generator is
//! a private splitmix64; no floating point enters the random state).
//!
//! # The series mix
//!
//! Each series has a [`Kind`]. The default [`Mix`] (shares of the population, interleaved so that
//! every prefix of the population has about the same mix):
//!
//! | kind | share | metric names | values |
//! |---|---|---|---|
//! | [`Kind::Counter`] | 30 % | `node_disk_reads_completed_total`, `node_context_switches_total`, ... | integer counter, each series with its own rate of 0..=20 per second; a tenth of them idle (rate 0) |
//! | [`Kind::BurstyCounter`] | 10 % | `node_network_receive_packets_total`, ... | integer counter, 0..=5 per second, with bursts (2 % of scrapes start one) of 100..5000 per second lasting 1..10 scrapes |
//! | [`Kind::CpuPercent`] | 15 % | `node_cpu_usage_percent{cpu}` | 2-decimal random walk in 0..=100 (steps of up to ±3.00 per scrape) |
//! | [`Kind::Temperature`] | 10 % | `node_hwmon_temp_celsius{chip,sensor}` | 1-decimal walk around 35..75 °C, steps of up to ±0.3, pulled back to its base |
//! | [`Kind::MemoryBytes`] | 15 % | `node_memory_used_bytes`, `node_memory_cached_bytes`, ... | bytes in 4 KiB pages, ±0..64 pages per scrape, sometimes a jump of ±0..16 MiB; between 10 % and 90 % of 16 GiB |
//! | [`Kind::LoadAverage`] | 10 % | `node_load1`, `node_load5`, `node_load15` | 2 decimals, smooth: an exponential average following a slow random walk |
//! | [`Kind::Constant`] | 10 % | `node_memory_total_bytes`, `node_cpu_count`, ... | never changes |
//!
//! Every series has a `host` label (`host-000`, `host-001`, ...; [`SERIES_PER_HOST`] series per
//! host) and one kind-specific label (`device`, `cpu`, `sensor`, ...), which together make the
//! label sets unique.
//!
//! # Timestamps
//!
//! Scrape `k` happens at `start_ms + k * interval_ms` plus a jitter of 0..=5 ms, drawn per host
//! and per scrape (all series of one host share the scrape's timestamp, as in a real scrape).
//! With `start_ms` on a second boundary and an interval that is a multiple of 1000 ms, jitter
//! never moves a timestamp into another second.
//!
//! ```
//! use tierlog_testkit::workload::Workload;
//!
//! let mut w = Workload::new(42, 100, 1_000, 1_700_000_000_000);
//! let mut scrape = Vec::new();
//! w.next_scrape(&mut scrape);
//! assert_eq!(scrape.len(), 100);
//! let (index, ts_ms, value) = scrape[0];
//! let (metric, labels) = &w.series()[index as usize];
//! println!("{metric} {labels:?} {ts_ms} {value}");
//! ```

/// Series per `host` label value.
pub const SERIES_PER_HOST: usize = 100;

/// Largest scrape jitter, ms.
pub const MAX_JITTER_MS: i64 = 5;

/// The shape of a series' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Monotonic integer counter with small increments.
    Counter,
    /// Monotonic integer counter, mostly quiet, with bursts.
    BurstyCounter,
    /// CPU percent: 2 decimals, random walk in 0..=100.
    CpuPercent,
    /// Temperature: 1 decimal, mean-reverting walk.
    Temperature,
    /// Bytes that move in 4 KiB pages (memory used, cached, ...).
    MemoryBytes,
    /// Load average: 2 decimals, smooth.
    LoadAverage,
    /// A value that never changes (total memory, CPU count).
    Constant,
}

impl Kind {
    /// Every kind, in the order of the mix.
    pub const ALL: [Kind; 7] = [
        Kind::Counter,
        Kind::BurstyCounter,
        Kind::CpuPercent,
        Kind::Temperature,
        Kind::MemoryBytes,
        Kind::LoadAverage,
        Kind::Constant,
    ];

    /// A short lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::BurstyCounter => "bursty counter",
            Kind::CpuPercent => "cpu percent",
            Kind::Temperature => "temperature",
            Kind::MemoryBytes => "memory bytes",
            Kind::LoadAverage => "load average",
            Kind::Constant => "constant",
        }
    }

    fn index(self) -> usize {
        Kind::ALL.iter().position(|k| *k == self).expect("listed")
    }

    /// Metric names of this kind, and the name of the label that tells series apart.
    fn names(self) -> (&'static [&'static str], &'static str) {
        match self {
            Kind::Counter => (
                &[
                    "node_disk_reads_completed_total",
                    "node_disk_writes_completed_total",
                    "node_context_switches_total",
                    "node_intr_total",
                    "node_forks_total",
                    "node_vmstat_pgfault_total",
                ],
                "device",
            ),
            Kind::BurstyCounter => (
                &[
                    "node_network_receive_packets_total",
                    "node_network_transmit_packets_total",
                    "node_disk_io_merged_total",
                ],
                "device",
            ),
            Kind::CpuPercent => (&["node_cpu_usage_percent"], "cpu"),
            Kind::Temperature => (&["node_hwmon_temp_celsius"], "sensor"),
            Kind::MemoryBytes => (
                &[
                    "node_memory_used_bytes",
                    "node_memory_cached_bytes",
                    "node_memory_buffers_bytes",
                    "node_memory_anon_bytes",
                ],
                "zone",
            ),
            Kind::LoadAverage => (&["node_load1", "node_load5", "node_load15"], "scope"),
            Kind::Constant => (
                &[
                    "node_memory_total_bytes",
                    "node_cpu_count",
                    "node_filesystem_size_bytes",
                ],
                "device",
            ),
        }
    }
}

/// Relative weights of the kinds in a population (need not sum to anything in particular).
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    /// `(kind, weight)`; kinds with weight 0 do not appear.
    pub weights: Vec<(Kind, u32)>,
}

impl Default for Mix {
    /// The mix documented in the module docs.
    fn default() -> Self {
        Mix {
            weights: vec![
                (Kind::Counter, 30),
                (Kind::BurstyCounter, 10),
                (Kind::CpuPercent, 15),
                (Kind::Temperature, 10),
                (Kind::MemoryBytes, 15),
                (Kind::LoadAverage, 10),
                (Kind::Constant, 10),
            ],
        }
    }
}

impl Mix {
    /// A population of one kind only.
    pub fn only(kind: Kind) -> Self {
        Mix {
            weights: vec![(kind, 1)],
        }
    }

    /// Kinds for a population of `n`: every prefix holds each kind in proportion to its weight
    /// (to within one series), interleaved rather than in blocks.
    fn assign(&self, n: usize) -> Vec<Kind> {
        let ws: Vec<(Kind, u64)> = self
            .weights
            .iter()
            .filter(|(_, w)| *w > 0)
            .map(|&(k, w)| (k, u64::from(w)))
            .collect();
        assert!(
            !ws.is_empty(),
            "a mix needs at least one kind with weight > 0"
        );
        let total: u64 = ws.iter().map(|(_, w)| w).sum();
        let mut given = vec![0u64; ws.len()];
        (1..=n as u64)
            .map(|i| {
                // The kind furthest behind its share of the first i series (first on ties).
                let deficit =
                    |j: usize| i128::from(i * ws[j].1) - i128::from(given[j]) * i128::from(total);
                let best =
                    (1..ws.len()).fold(0, |b, j| if deficit(j) > deficit(b) { j } else { b });
                given[best] += 1;
                ws[best].0
            })
            .collect()
    }
}

pub use tierlog::rng::SplitMix64;

/// The generator's name inside this module.
type Rng = SplitMix64;

/// Integer state of one series; values are derived from it exactly (`units / 10^decimals`).
#[derive(Debug, Clone)]
enum State {
    Counter {
        value: i64,
        max_rate: i64,
    },
    Bursty {
        value: i64,
        max_rate: i64,
        burst_left: u32,
        burst_rate: i64,
    },
    /// Hundredths of a percent.
    Cpu {
        hundredths: i64,
    },
    /// Tenths of a degree.
    Temp {
        tenths: i64,
        base: i64,
    },
    Memory {
        pages: i64,
    },
    /// Hundredths; `target` walks, `value` follows it smoothly.
    Load {
        value: i64,
        target: i64,
        smoothing: i64,
    },
    Constant {
        value: f64,
    },
}

/// Total memory of every simulated host: 16 GiB.
const TOTAL_MEMORY: i64 = 16 << 30;
const PAGE: i64 = 4096;

impl State {
    fn new(kind: Kind, ordinal: usize, rng: &mut Rng) -> State {
        match kind {
            Kind::Counter => State::Counter {
                value: rng.range(0, 10_000_000),
                max_rate: if rng.chance(100) { 0 } else { rng.range(1, 20) },
            },
            Kind::BurstyCounter => State::Bursty {
                value: rng.range(0, 10_000_000),
                max_rate: rng.range(0, 5),
                burst_left: 0,
                burst_rate: 0,
            },
            Kind::CpuPercent => State::Cpu {
                hundredths: rng.range(0, 10_000),
            },
            Kind::Temperature => {
                let base = rng.range(350, 750);
                State::Temp { tenths: base, base }
            }
            Kind::MemoryBytes => State::Memory {
                pages: rng.range(TOTAL_MEMORY / PAGE / 10, TOTAL_MEMORY / PAGE * 9 / 10),
            },
            Kind::LoadAverage => {
                let v = rng.range(0, 400);
                State::Load {
                    value: v,
                    target: v,
                    // load1, load5, load15 follow their target ever more slowly.
                    smoothing: [4, 12, 30][ordinal % 3],
                }
            }
            Kind::Constant => State::Constant {
                value: match ordinal % 3 {
                    0 => TOTAL_MEMORY as f64,
                    1 => [2.0, 4.0, 8.0, 16.0, 32.0][rng.below(5) as usize],
                    _ => (rng.range(16, 2048) << 30) as f64,
                },
            },
        }
    }

    /// Advances by one scrape of `secs` seconds and returns the new value.
    fn step(&mut self, secs: i64, rng: &mut Rng) -> f64 {
        match self {
            State::Counter { value, max_rate } => {
                *value += (0..secs).map(|_| rng.range(0, *max_rate)).sum::<i64>();
                *value as f64
            }
            State::Bursty {
                value,
                max_rate,
                burst_left,
                burst_rate,
            } => {
                if *burst_left == 0 && rng.chance(20) {
                    *burst_left = rng.range(1, 10) as u32;
                    *burst_rate = rng.range(100, 5000);
                }
                let rate = if *burst_left > 0 {
                    *burst_left -= 1;
                    *burst_rate
                } else {
                    *max_rate
                };
                *value += (0..secs).map(|_| rng.range(0, rate)).sum::<i64>();
                *value as f64
            }
            State::Cpu { hundredths } => {
                *hundredths = (*hundredths + rng.range(-300, 300)).clamp(0, 10_000);
                *hundredths as f64 / 100.0
            }
            State::Temp { tenths, base } => {
                let pull = (*base - *tenths).signum();
                *tenths += rng.range(-3, 3) + if rng.chance(300) { pull } else { 0 };
                *tenths as f64 / 10.0
            }
            State::Memory { pages } => {
                let delta = if rng.chance(10) {
                    rng.range(-4096, 4096)
                } else {
                    rng.range(-64, 64)
                };
                *pages =
                    (*pages + delta).clamp(TOTAL_MEMORY / PAGE / 10, TOTAL_MEMORY / PAGE * 9 / 10);
                (*pages * PAGE) as f64
            }
            State::Load {
                value,
                target,
                smoothing,
            } => {
                if rng.chance(100) {
                    *target = (*target + rng.range(-100, 100)).clamp(0, 1600);
                }
                let diff = *target - *value;
                // Move a fraction of the way, at least one hundredth while not there yet.
                let step = diff / *smoothing;
                *value += if step == 0 { diff.signum() } else { step };
                *value as f64 / 100.0
            }
            State::Constant { value } => *value,
        }
    }
}

/// A seeded population of series and the stream of their scrapes; see the module docs.
#[derive(Debug, Clone)]
pub struct Workload {
    rng: Rng,
    series: Vec<(String, Vec<(String, String)>)>,
    kinds: Vec<Kind>,
    states: Vec<State>,
    interval_ms: i64,
    start_ms: i64,
    scrape: i64,
}

impl Workload {
    /// `series` series of the default [`Mix`], scraped every `interval_ms` from `start_ms`.
    pub fn new(seed: u64, series: usize, interval_ms: i64, start_ms: i64) -> Self {
        Workload::with_mix(seed, series, interval_ms, start_ms, &Mix::default())
    }

    /// Like [`Workload::new`] with another mix.
    pub fn with_mix(seed: u64, series: usize, interval_ms: i64, start_ms: i64, mix: &Mix) -> Self {
        assert!(interval_ms > 0, "interval must be positive");
        let mut rng = Rng::new(seed);
        let kinds = mix.assign(series);
        let mut per_host = [0usize; Kind::ALL.len()];
        let mut names = Vec::with_capacity(series);
        let mut states = Vec::with_capacity(series);
        for (i, &kind) in kinds.iter().enumerate() {
            if i % SERIES_PER_HOST == 0 {
                per_host = [0; Kind::ALL.len()];
            }
            let ordinal = per_host[kind.index()];
            per_host[kind.index()] += 1;
            let (metrics, label) = kind.names();
            let metric = metrics[ordinal % metrics.len()];
            let which = ordinal / metrics.len();
            let value = match kind {
                Kind::CpuPercent => which.to_string(),
                Kind::Temperature => format!("temp{}", which + 1),
                Kind::LoadAverage => format!("s{which}"),
                _ => format!("dev{which}"),
            };
            let labels = vec![
                (
                    "host".to_owned(),
                    format!("host-{:03}", i / SERIES_PER_HOST),
                ),
                (label.to_owned(), value),
            ];
            names.push((metric.to_owned(), labels));
            states.push(State::new(kind, ordinal, &mut rng));
        }
        Workload {
            rng,
            series: names,
            kinds,
            states,
            interval_ms,
            start_ms,
            scrape: 0,
        }
    }

    /// `(metric, labels)` of every series; a sample's series index points into this.
    pub fn series(&self) -> &[(String, Vec<(String, String)>)] {
        &self.series
    }

    /// The kind of every series, by index.
    pub fn kinds(&self) -> &[Kind] {
        &self.kinds
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when the population is empty.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The scrape interval, ms.
    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// Nominal time (without jitter) of the next scrape.
    pub fn next_scrape_ms(&self) -> i64 {
        self.start_ms + self.scrape * self.interval_ms
    }

    /// Produces the next scrape: appends one `(series index, ts_ms, value)` per series, in
    /// index order, to `out`. Returns the scrape's nominal time.
    pub fn next_scrape(&mut self, out: &mut Vec<(u32, i64, f64)>) -> i64 {
        let nominal = self.next_scrape_ms();
        let secs = (self.interval_ms / 1000).max(1);
        out.reserve(self.states.len());
        let mut ts = nominal;
        for (i, state) in self.states.iter_mut().enumerate() {
            if i % SERIES_PER_HOST == 0 {
                ts = nominal + self.rng.range(0, MAX_JITTER_MS);
            }
            let v = state.step(secs, &mut self.rng);
            out.push((i as u32, ts, v));
        }
        self.scrape += 1;
        nominal
    }
}

impl Iterator for Workload {
    /// One scrape: `(series index, ts_ms, value)` per series.
    type Item = Vec<(u32, i64, f64)>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut v = Vec::with_capacity(self.states.len());
        self.next_scrape(&mut v);
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const START: i64 = 1_700_000_000_000;

    fn decimals_ok(v: f64, d: i32) -> bool {
        let scale = 10f64.powi(d);
        let n = (v * scale).round();
        n / scale == v
    }

    #[test]
    fn same_seed_same_output() {
        let a: Vec<_> = Workload::new(7, 500, 1_000, START).take(50).collect();
        let b: Vec<_> = Workload::new(7, 500, 1_000, START).take(50).collect();
        assert_eq!(a, b);
        assert_eq!(
            Workload::new(7, 500, 1_000, START).series(),
            Workload::new(7, 500, 1_000, START).series()
        );
        let c: Vec<_> = Workload::new(8, 500, 1_000, START).take(50).collect();
        assert_ne!(a, c);
    }

    #[test]
    fn label_sets_are_unique_and_valid() {
        let w = Workload::new(1, 5_000, 15_000, START);
        let set: HashSet<_> = w.series().iter().collect();
        assert_eq!(set.len(), 5_000);
        for (m, labels) in w.series() {
            assert!(tierlog::model::valid_metric_name(m), "{m}");
            for (k, v) in labels {
                assert!(tierlog::model::valid_label_name(k) && !v.is_empty());
            }
        }
    }

    #[test]
    fn mix_is_respected_in_every_prefix() {
        let w = Workload::new(1, 1_000, 1_000, START);
        let mix = Mix::default();
        let total: u32 = mix.weights.iter().map(|(_, w)| w).sum();
        for n in [10usize, 100, 1_000] {
            for &(k, wgt) in &mix.weights {
                let got = w.kinds()[..n].iter().filter(|x| **x == k).count() as f64;
                let want = n as f64 * f64::from(wgt) / f64::from(total);
                assert!((got - want).abs() <= 1.0, "{k:?} in {n}: {got} vs {want}");
            }
        }
        let only = Workload::with_mix(1, 50, 1_000, START, &Mix::only(Kind::LoadAverage));
        assert!(only.kinds().iter().all(|k| *k == Kind::LoadAverage));
    }

    #[test]
    fn timestamps_have_small_jitter_within_the_second() {
        for interval in [1_000, 15_000] {
            let mut w = Workload::new(3, 350, interval, START);
            let mut out = Vec::new();
            for k in 0..200 {
                out.clear();
                let nominal = w.next_scrape(&mut out);
                assert_eq!(nominal, START + k * interval);
                for (i, &(idx, ts, _)) in out.iter().enumerate() {
                    assert_eq!(idx as usize, i);
                    assert!((nominal..=nominal + MAX_JITTER_MS).contains(&ts));
                    assert_eq!(ts / 1000, nominal / 1000);
                    // One timestamp per host and scrape.
                    assert_eq!(ts, out[i / SERIES_PER_HOST * SERIES_PER_HOST].1);
                }
            }
        }
    }

    #[test]
    fn values_have_the_properties_of_their_kind() {
        for interval in [1_000i64, 15_000] {
            let mut w = Workload::new(11, 1_000, interval, START);
            let kinds = w.kinds().to_vec();
            let mut prev: Vec<Option<f64>> = vec![None; kinds.len()];
            let mut changed = vec![false; kinds.len()];
            let mut out = Vec::new();
            for _ in 0..1_000 {
                out.clear();
                w.next_scrape(&mut out);
                for &(i, _, v) in &out {
                    let i = i as usize;
                    let p = prev[i];
                    assert!(v.is_finite());
                    match kinds[i] {
                        Kind::Counter | Kind::BurstyCounter => {
                            assert_eq!(v.fract(), 0.0);
                            if let Some(p) = p {
                                assert!(v >= p, "counter went back");
                                let max = if kinds[i] == Kind::Counter { 20 } else { 5000 };
                                assert!(v - p <= (max * interval / 1000) as f64);
                            }
                        }
                        Kind::CpuPercent => {
                            assert!((0.0..=100.0).contains(&v));
                            assert!(decimals_ok(v, 2), "{v}");
                        }
                        Kind::Temperature => {
                            assert!(decimals_ok(v, 1), "{v}");
                            assert!((20.0..=90.0).contains(&v), "{v}");
                        }
                        Kind::MemoryBytes => {
                            assert_eq!(v % 4096.0, 0.0);
                            assert!(v > 0.0 && v < TOTAL_MEMORY as f64);
                        }
                        Kind::LoadAverage => {
                            assert!(decimals_ok(v, 2), "{v}");
                            assert!(v >= 0.0);
                            if let Some(p) = p {
                                // Smooth: never more than a quarter of the range per scrape.
                                assert!((v - p).abs() <= 4.0, "{p} -> {v}");
                            }
                        }
                        Kind::Constant => {
                            if let Some(p) = p {
                                assert_eq!(v, p);
                            }
                        }
                    }
                    if p.is_some_and(|p| p != v) {
                        changed[i] = true;
                    }
                    prev[i] = Some(v);
                }
            }
            // Everything but constants (and idle counters) moves.
            for kind in [Kind::CpuPercent, Kind::MemoryBytes, Kind::LoadAverage] {
                assert!(
                    kinds
                        .iter()
                        .zip(&changed)
                        .filter(|(k, _)| **k == kind)
                        .all(|(_, c)| *c),
                    "{kind:?}"
                );
            }
        }
    }
}
