//! The data set both engines hold: generated from a seed by a small PRNG of its own, written
//! as an OpenMetrics file (for `promtool tsdb create-blocks-from openmetrics`) and into a
//! tierlog store.
//!
//! Every timestamp is a whole second (tierlog's raw resolution is 1 s). No NaN or ±Inf is
//! stored: Prometheus treats one particular NaN bit pattern as a stale marker (ending a
//! series in lookback) while tierlog stores values as given, so stored NaNs would test the
//! storage's staleness conventions rather than PromQL; NaN and ±Inf still arise in results
//! (`ln(0)`, `0/0`, `histogram_quantile` outside [0, 1]) and are compared as such.

use std::fmt::Write as _;

/// What a family is, as its `# TYPE` line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One series: its family (the `# TYPE` name), sample name, labels and points (ms, value).
#[derive(Debug, Clone)]
pub struct SeriesData {
    pub family: &'static str,
    pub kind: Kind,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub points: Vec<(i64, f64)>,
}

/// The whole data set: series over `[start_ms, end_ms]`.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub start_ms: i64,
    pub end_ms: i64,
    pub series: Vec<SeriesData>,
}

/// xorshift64*: small, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so that small seeds give well-mixed states (never zero).
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }
}

/// Rounds to `digits` decimals, so that the value prints as a short decimal.
fn round(v: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (v * m).round() / m
}

/// The data set's start: 1_700_000_000 s rounded down to an hour.
pub const START_S: i64 = 1_700_000_000 / 3600 * 3600;

/// The scrape interval, s.
pub const SCRAPE_S: i64 = 15;

/// Scrape times of one target: every 15 s from `start_s + offset` through `end_s`, some a
/// second early or late, some missing; `from`/`until` (s after the start) bound the series,
/// `gap` (s after the start) is a long outage (longer than the 5 m lookback).
struct Schedule {
    offset: i64,
    from: i64,
    until: i64,
    gap: Option<(i64, i64)>,
    miss: f64,
}

impl Schedule {
    fn times(&self, rng: &mut Rng, start_s: i64, duration_s: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let mut k = 0;
        loop {
            let nominal = self.offset + k * SCRAPE_S;
            k += 1;
            if nominal > duration_s {
                break;
            }
            if nominal < self.from || nominal > self.until {
                continue;
            }
            if self.gap.is_some_and(|(a, b)| (a..b).contains(&nominal)) {
                continue;
            }
            if rng.chance(self.miss) {
                continue;
            }
            let jitter = match rng.below(20) {
                0 => -1,
                1 => 1,
                _ => 0,
            };
            let t = start_s + (nominal + jitter).clamp(0, duration_s);
            if out.last().is_none_or(|&last| t > last) {
                out.push(t);
            }
        }
        out
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Generates the data set: `duration_s` seconds from `start_s`, from `seed`.
pub fn generate(seed: u64, start_s: i64, duration_s: i64) -> Dataset {
    let mut rng = Rng::new(seed);
    let mut series = Vec::new();
    let full = |offset| Schedule {
        offset,
        from: 0,
        until: duration_s,
        gap: None,
        miss: 0.02,
    };
    // Where resets and outages fall, as fractions of the duration (so a longer data set for
    // the bench has the same shape).
    let at = |frac: f64| ((duration_s as f64 * frac) as i64 / SCRAPE_S) * SCRAPE_S;
    // True at the first scrape at or after `rel` seconds from the start.
    let crossed = |times: &[i64], i: usize, rel: i64| {
        i > 0 && times[i - 1] - start_s < rel && times[i] - start_s >= rel
    };

    // http_requests_total{job, instance, method, code}: integer counters.
    let targets = [
        ("api", "a:9090", 3),
        ("api", "b:9090", 7),
        ("web", "c:9090", 11),
    ];
    for (job, instance, offset) in targets {
        for method in ["get", "post"] {
            for code in ["200", "500"] {
                let mut sched = full(offset);
                // A series that starts late and one that stops early.
                if job == "web" && method == "post" && code == "500" {
                    sched.from = at(0.26);
                }
                if instance == "b:9090" && method == "get" && code == "500" {
                    sched.until = at(0.74);
                }
                // A long outage (12 min) on one series.
                if instance == "a:9090" && method == "post" && code == "200" {
                    sched.gap = Some((at(0.39), at(0.39) + 720));
                }
                let times = sched.times(&mut rng, start_s, duration_s);
                let base_rate = match (method, code) {
                    ("get", "200") => 20.0,
                    ("post", "200") => 6.0,
                    ("get", _) => 0.4,
                    _ => 0.1,
                };
                let mut v = rng.below(1000) as f64;
                let mut points = Vec::new();
                for (i, t) in times.iter().enumerate() {
                    // Counter resets: instance b restarts twice, c once.
                    let reset = (instance == "b:9090"
                        && (crossed(&times, i, at(0.31)) || crossed(&times, i, at(0.62))))
                        || (instance == "c:9090" && crossed(&times, i, at(0.55)));
                    if reset {
                        v = rng.below(5) as f64;
                    } else if i > 0 {
                        let dt = (t - times[i - 1]) as f64;
                        v += (base_rate * dt * (0.5 + rng.f64())).round();
                    }
                    points.push((t * 1000, v));
                }
                series.push(SeriesData {
                    family: "http_requests",
                    kind: Kind::Counter,
                    name: "http_requests_total".into(),
                    labels: labels(&[
                        ("job", job),
                        ("instance", instance),
                        ("method", method),
                        ("code", code),
                    ]),
                    points,
                });
            }
        }
    }

    // errors_total: zero for the first third, then slowly increasing.
    {
        let times = full(5).times(&mut rng, start_s, duration_s);
        let mut v = 0.0;
        let points = times
            .iter()
            .map(|&t| {
                if t - start_s > duration_s / 3 && rng.chance(0.3) {
                    v += 1.0;
                }
                (t * 1000, v)
            })
            .collect();
        series.push(SeriesData {
            family: "errors",
            kind: Kind::Counter,
            name: "errors_total".into(),
            labels: labels(&[("job", "api"), ("instance", "a:9090")]),
            points,
        });
    }

    // node_cpu_seconds_total{cpu, mode}: 2 instances × 2 cpus × 4 modes; instance b reboots
    // (every mode resets) at a bit past the middle.
    for (instance, offset) in [("a:9100", 1), ("b:9100", 9)] {
        // One schedule per instance: all its series are scraped together.
        let times = full(offset).times(&mut rng, start_s, duration_s);
        for cpu in ["0", "1"] {
            let mut vals = [0.0f64; 4];
            let mut pts: [Vec<(i64, f64)>; 4] = Default::default();
            for (j, v) in vals.iter_mut().enumerate() {
                *v = round(rng.f64() * 1e5 / (j + 1) as f64, 2);
            }
            for (i, t) in times.iter().enumerate() {
                let reboot = instance == "b:9100" && crossed(&times, i, at(0.57));
                if reboot {
                    vals = [1.5, 0.25, 0.125, 0.0];
                } else if i > 0 {
                    let dt = (t - times[i - 1]) as f64;
                    let user = dt * (0.1 + 0.3 * rng.f64());
                    let system = dt * (0.05 + 0.1 * rng.f64());
                    let iowait = if rng.chance(0.3) {
                        dt * 0.05 * rng.f64()
                    } else {
                        0.0
                    };
                    let idle = dt - user - system - iowait;
                    for (v, d) in vals.iter_mut().zip([idle, user, system, iowait]) {
                        *v = round(*v + d, 2);
                    }
                }
                for (p, v) in pts.iter_mut().zip(vals) {
                    p.push((t * 1000, v));
                }
            }
            for (mode, points) in ["idle", "user", "system", "iowait"].into_iter().zip(pts) {
                series.push(SeriesData {
                    family: "node_cpu_seconds",
                    kind: Kind::Counter,
                    name: "node_cpu_seconds_total".into(),
                    labels: labels(&[
                        ("job", "node"),
                        ("instance", instance),
                        ("cpu", cpu),
                        ("mode", mode),
                    ]),
                    points,
                });
            }
        }
    }

    // A classic histogram per API instance; instance b's resets with its counters.
    const LE: [(&str, f64); 7] = [
        ("0.05", 0.05),
        ("0.1", 0.1),
        ("0.25", 0.25),
        ("0.5", 0.5),
        ("1", 1.0),
        ("2.5", 2.5),
        ("+Inf", f64::INFINITY),
    ];
    for (instance, offset) in [("a:9090", 3), ("b:9090", 7)] {
        let times = full(offset).times(&mut rng, start_s, duration_s);
        let mut buckets = [0.0f64; 7];
        let mut sum = 0.0;
        let mut count = 0.0;
        let mut pts: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 9];
        for (i, t) in times.iter().enumerate() {
            let reset = instance == "b:9090" && crossed(&times, i, at(0.31));
            if reset {
                buckets = [0.0; 7];
                sum = 0.0;
                count = 0.0;
            }
            if i > 0 && !reset {
                let n = rng.below(40);
                for _ in 0..n {
                    // Roughly exponential latencies, mean 0.3 s (slower on instance b).
                    let scale = if instance == "b:9090" { 0.45 } else { 0.3 };
                    let d = round(-(1.0 - rng.f64()).ln() * scale, 3);
                    for (b, (_, le)) in buckets.iter_mut().zip(LE) {
                        if d <= le {
                            *b += 1.0;
                        }
                    }
                    sum = round(sum + d, 3);
                    count += 1.0;
                }
            }
            for (j, b) in buckets.iter().enumerate() {
                pts[j].push((t * 1000, *b));
            }
            pts[7].push((t * 1000, sum));
            pts[8].push((t * 1000, count));
        }
        for (j, points) in pts.into_iter().enumerate() {
            let mut l = vec![("job", "api"), ("instance", instance)];
            let name = match j {
                0..=6 => {
                    l.push(("le", LE[j].0));
                    "http_request_duration_seconds_bucket"
                }
                7 => "http_request_duration_seconds_sum",
                _ => "http_request_duration_seconds_count",
            };
            series.push(SeriesData {
                family: "http_request_duration_seconds",
                kind: Kind::Histogram,
                name: name.into(),
                labels: labels(&l),
                points,
            });
        }
    }

    // temperature_celsius{job, instance, sensor}: decimals around zero, negative values,
    // one series with an outage.
    for (job, instance, sensor, offset, phase) in [
        ("api", "a:9090", "cpu", 3, 0.0),
        ("api", "b:9090", "cpu", 7, 1.3),
        ("api", "b:9090", "board", 7, 2.1),
        ("node", "a:9100", "board", 1, 4.0),
    ] {
        let mut sched = full(offset);
        if sensor == "board" && job == "node" {
            sched.gap = Some((at(0.45), at(0.45) + 900));
        }
        let times = sched.times(&mut rng, start_s, duration_s);
        let points = times
            .iter()
            .map(|&t| {
                let x = (t - start_s) as f64 / 1800.0 + phase;
                let v = 2.0 + 8.0 * x.sin() + (rng.f64() - 0.5) * 1.5;
                (t * 1000, round(v, 2))
            })
            .collect();
        series.push(SeriesData {
            family: "temperature_celsius",
            kind: Kind::Gauge,
            name: "temperature_celsius".into(),
            labels: labels(&[("job", job), ("instance", instance), ("sensor", sensor)]),
            points,
        });
    }

    // queue_depth{job, instance}: an integer random walk that sits at zero a lot.
    for (instance, offset) in [("a:9090", 3), ("b:9090", 7)] {
        let times = full(offset).times(&mut rng, start_s, duration_s);
        let mut v: f64 = 0.0;
        let points = times
            .iter()
            .map(|&t| {
                v = (v + rng.below(7) as f64 - 3.0).max(0.0);
                (t * 1000, v)
            })
            .collect();
        series.push(SeriesData {
            family: "queue_depth",
            kind: Kind::Gauge,
            name: "queue_depth".into(),
            labels: labels(&[("job", "api"), ("instance", instance)]),
            points,
        });
    }

    // memory_usage_bytes{job, instance}: large values.
    for (job, instance, offset) in [
        ("api", "a:9090", 3),
        ("api", "b:9090", 7),
        ("node", "a:9100", 1),
    ] {
        let times = full(offset).times(&mut rng, start_s, duration_s);
        let mut v = 1.5e9 + rng.f64() * 1e8;
        let points = times
            .iter()
            .map(|&t| {
                v = (v + (rng.f64() - 0.48) * 4e6).round();
                (t * 1000, v)
            })
            .collect();
        series.push(SeriesData {
            family: "memory_usage_bytes",
            kind: Kind::Gauge,
            name: "memory_usage_bytes".into(),
            labels: labels(&[("job", job), ("instance", instance)]),
            points,
        });
    }

    Dataset {
        start_ms: start_s * 1000,
        end_ms: (start_s + duration_s) * 1000,
        series,
    }
}

/// The data set as an OpenMetrics text file: one `# TYPE` per family, then each series'
/// points in time order, then `# EOF`.
pub fn openmetrics(ds: &Dataset) -> String {
    let mut out = String::new();
    let mut last_family = "";
    for s in &ds.series {
        if s.family != last_family {
            let kind = match s.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            writeln!(out, "# TYPE {} {kind}", s.family).unwrap();
            last_family = s.family;
        }
        let l: Vec<String> = s
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        let head = format!("{}{{{}}}", s.name, l.join(","));
        for (t, v) in &s.points {
            // Rust prints the shortest decimal that reads back as the same f64, as Go parses.
            writeln!(out, "{head} {v} {}", t / 1000).unwrap();
        }
    }
    out.push_str("# EOF\n");
    out
}

/// Writes the data set into `store`, declaring the counters' (and the histogram's) kind.
pub fn write_store(ds: &Dataset, store: &tierlog::Store) {
    use tierlog::{MetricKind, MetricMeta, Sample};
    let mut declared = std::collections::BTreeSet::new();
    for s in &ds.series {
        if s.kind != Kind::Gauge && declared.insert(s.name.clone()) {
            store
                .set_metric_meta(
                    &s.name,
                    MetricMeta {
                        kind: MetricKind::Counter,
                        ..MetricMeta::default()
                    },
                )
                .unwrap();
        }
        let l: Vec<(&str, &str)> = s
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for chunk in s.points.chunks(1000) {
            let batch: Vec<Sample<'_>> = chunk
                .iter()
                .map(|&(t, v)| Sample::new(&s.name, &l, t, v))
                .collect();
            let summary = store.write(&batch).unwrap();
            assert_eq!(
                summary.accepted,
                batch.len() as u64,
                "{} {l:?}: {summary:?}",
                s.name
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_deterministic_and_has_the_promised_shape() {
        let a = generate(7, START_S, 3 * 3600);
        let b = generate(7, START_S, 3 * 3600);
        assert_eq!(openmetrics(&a), openmetrics(&b));
        assert_ne!(
            openmetrics(&a),
            openmetrics(&generate(8, START_S, 3 * 3600))
        );
        assert_eq!(START_S % 3600, 0);
        for s in &a.series {
            assert!(s.points.windows(2).all(|w| w[0].0 < w[1].0), "{s:?}");
            assert!(s.points.iter().all(|(t, v)| t % 1000 == 0 && v.is_finite()));
            assert!(
                s.points
                    .iter()
                    .all(|(t, _)| (a.start_ms..=a.end_ms).contains(t))
            );
        }
        let by_name = |n: &'static str| a.series.iter().filter(move |s| s.name == n);
        // Counter resets, negative gauges, zeros, a late start and an early stop.
        let resets = by_name("http_requests_total")
            .filter(|s| s.points.windows(2).any(|w| w[1].1 < w[0].1))
            .count();
        assert!(resets >= 3, "{resets}");
        assert!(by_name("temperature_celsius").any(|s| s.points.iter().any(|p| p.1 < 0.0)));
        assert!(by_name("queue_depth").any(|s| s.points.iter().any(|p| p.1 == 0.0)));
        let starts: Vec<i64> = by_name("http_requests_total")
            .map(|s| s.points[0].0 - a.start_ms)
            .collect();
        assert!(starts.iter().any(|&d| d > 40 * 60_000), "{starts:?}");
        let ends: Vec<i64> = by_name("http_requests_total")
            .map(|s| a.end_ms - s.points.last().unwrap().0)
            .collect();
        assert!(ends.iter().any(|&d| d > 40 * 60_000), "{ends:?}");
        assert_eq!(by_name("node_cpu_seconds_total").count(), 16);
        // 15 s scrapes, a few missing.
        let n = a.series[0].points.len();
        assert!((690..=721).contains(&n), "{n}");
    }
}
