//! The model of the store used by `tests/model.rs` (random operation sequences) and
//! `tests/regression_model.rs` (shrunk failures kept as plain tests): an in-memory map of the
//! accepted samples of each (series, second) in arrival order, plus the model's own idea of
//! which windows accept samples, hold data and are sealed.
//!
//! Window rules as implemented (and documented in docs/design.md, "Time rules"): a sample is
//! too far ahead when `ts > now + future_limit`, too old when `ts < now - raw keep` (never
//! here: the raw keep is longer than the clock's reach); otherwise it is written — into its
//! open window, a new window, or (its window sealed, or below the newest sealed one) the
//! window's late log. A window is due once `window start + span + grace <= now`; a write or
//! `maintain` seals every due window that holds data; opening the store seals nothing.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tierlog::{Config, ManualClock, Sample, Selector, Store, Sync};

pub use tierlog_testkit::helpers::T0;
pub const SPAN: i64 = 60_000;
pub const GRACE: i64 = 10_000;
pub const FUTURE: i64 = 60_000;

/// The series the model writes: metric and labels as given to `write`. An empty label value
/// is no label, and label order does not matter: entry 4 is the same series as entry 3.
pub const SERIES: [(&str, &[(&str, &str)]); 5] = [
    ("m1", &[("h", "a")]),
    ("m1", &[("h", "b")]),
    ("m2", &[]),
    ("m2", &[("x", "1"), ("y", "")]),
    ("m2", &[("y", ""), ("x", "1")]),
];

/// The index of the first entry of `SERIES` naming the same series as entry `s`.
fn canonical(s: usize) -> usize {
    let key = |i: usize| {
        let mut l: Vec<(&str, &str)> = SERIES[i]
            .1
            .iter()
            .copied()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        l.sort();
        (SERIES[i].0, l)
    };
    (0..SERIES.len())
        .find(|&i| key(i) == key(s))
        .expect("itself")
}

/// Selectors and the series (indexes into `SERIES`) each one matches.
pub const SELECTORS: [(&str, &[usize]); 7] = [
    ("m1", &[0, 1]),
    (r#"m1{h="a"}"#, &[0]),
    (r#"m1{h!="a"}"#, &[1]),
    (r#"{__name__=~"m.*"}"#, &[0, 1, 2, 3]),
    (r#"m2{x="1"}"#, &[3]),
    (r#"m2{x=""}"#, &[2]),
    ("nosuch", &[]),
];

/// A sample's timestamp, relative to the clock.
#[derive(Debug, Clone, Copy)]
pub enum Ts {
    /// `sec` seconds from the start of the clock's second, plus `ms`.
    Rel { sec: i64, ms: i64 },
    /// `now + future_limit + delta`: the edge of "too far ahead".
    FutureEdge(i64),
}

/// One operation.
#[derive(Debug, Clone)]
pub enum Op {
    /// Writes samples `(series, timestamp, value bits)`.
    Write(Vec<(usize, Ts, u64)>),
    /// Moves the clock forward by this many ms.
    Advance(i64),
    /// Moves the clock to the next moment a window becomes due (`start + span + grace`),
    /// plus `delta` ms.
    AdvanceToEdge(i64),
    /// Runs a maintenance pass.
    Maintain,
    /// Closes (gracefully with `close`, or by dropping) and reopens the store.
    Reopen { graceful: bool },
    /// Queries selector `sel` over `[now + from_s s, now + from_s s + len_ms)`, or everything.
    Query {
        sel: usize,
        range: Option<(i64, i64)>,
    },
}

pub fn config(clock: Arc<ManualClock>) -> Config {
    Config {
        window_span: Duration::from_millis(SPAN as u64),
        grace: Duration::from_millis(GRACE as u64),
        future_limit: Duration::from_millis(FUTURE as u64),
        // The model predicts seals from writes and maintain() alone.
        maintenance_interval: None,
        // ... and knows no retention: keep everything far beyond the clock's reach.
        max_age_days: Some(3650),
        raw_keep: Some(Duration::from_secs(3000 * 86_400)),
        tiers: Some(vec![
            tierlog::Tier::new(
                "10s",
                Duration::from_secs(10),
                Duration::from_secs(3100 * 86_400),
            ),
            tierlog::Tier::new(
                "60s",
                Duration::from_secs(60),
                Duration::from_secs(3200 * 86_400),
            ),
        ]),
        ..Config::default()
    }
    .with_clock(clock)
    .with_sync(Sync::EveryWrite)
}

/// A query answer: per series (metric, labels, points as (ts, value bits)).
type Answer = Vec<(String, Vec<(String, String)>, Vec<(i64, u64)>)>;

#[derive(Debug, Default)]
struct Model {
    now: i64,
    /// Accepted samples per (series, second start), in arrival order.
    samples: BTreeMap<(usize, i64), Vec<f64>>,
    known_series: BTreeSet<usize>,
    /// Series created since the last open, and whether the first maintenance pass since then
    /// is still to come: it removes series of earlier sessions that have no samples (a write
    /// whose samples were all rejected still creates its series).
    session_series: BTreeSet<usize>,
    sweep_pending: bool,
    /// Windows that accepted samples.
    windows: BTreeSet<i64>,
    sealed: BTreeSet<i64>,
    /// Windows holding late samples not merged yet (a maintenance pass merges those due,
    /// which gives a window sealed without points its segment).
    late: BTreeSet<i64>,
}

impl Model {
    fn due(&self, start: i64) -> bool {
        start + SPAN + GRACE <= self.now
    }

    fn seal_due(&mut self) {
        let due: Vec<i64> = self
            .windows
            .iter()
            .copied()
            .filter(|&w| self.due(w))
            .collect();
        self.sealed.extend(due);
    }

    /// Expected query answer: (metric, labels, points as bits), ordered as the store orders.
    fn query(&self, sel: usize, from: i64, to: i64) -> Answer {
        let mut out = Vec::new();
        for &s in SELECTORS[sel].1 {
            let pts: Vec<(i64, u64)> = self
                .samples
                .range((s, i64::MIN)..=(s, i64::MAX))
                .filter(|((_, t), _)| *t >= from && *t < to)
                .map(|((_, t), v)| (*t, mean(v).to_bits()))
                .collect();
            if pts.is_empty() {
                continue;
            }
            let (m, l) = SERIES[s];
            let mut labels: Vec<(String, String)> = l
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            labels.sort();
            out.push((m.to_string(), labels, pts));
        }
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }
}

pub use tierlog_testkit::helpers::mean;

fn actual(store: &Store, sel: usize, from: i64, to: i64, ctx: &str) -> Answer {
    let selector: Selector = SELECTORS[sel].0.parse().expect("selector");
    let r = store.query(&selector, from, to).expect("query");
    assert!(r.warnings.is_empty(), "{ctx}: warnings {:?}", r.warnings);
    r.series
        .into_iter()
        .map(|s| {
            (
                s.metric,
                s.labels.to_pairs(),
                s.points
                    .into_iter()
                    .map(|(t, v)| (t, v.to_bits()))
                    .collect(),
            )
        })
        .collect()
}

/// Runs `ops` against a fresh store and the model, comparing after every step.
pub fn run(ops: &[Op]) {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0 + 30_000));
    let mut model = Model {
        now: T0 + 30_000,
        ..Model::default()
    };
    let mut store = Some(Store::open(dir.path(), config(clock.clone())).expect("open"));
    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step} ({op:?}), now T0+{}", model.now - T0);
        let s = store.as_ref().expect("store");
        match op {
            Op::Write(list) => {
                let now_sec = model.now.div_euclid(1_000);
                let resolved: Vec<(usize, i64, f64)> = list
                    .iter()
                    .map(|&(s, ts, bits)| {
                        let ts = match ts {
                            Ts::Rel { sec, ms } => (now_sec + sec) * 1_000 + ms,
                            Ts::FutureEdge(d) => model.now + FUTURE + d,
                        };
                        (s, ts, f64::from_bits(bits))
                    })
                    .collect();
                let samples: Vec<Sample<'_>> = resolved
                    .iter()
                    .map(|&(s, ts, v)| Sample::new(SERIES[s].0, SERIES[s].1, ts, v))
                    .collect();
                let got = s
                    .write(&samples)
                    .unwrap_or_else(|e| panic!("{ctx}: write: {e}"));
                let (mut acc, old, mut far, mut late) = (0, 0, 0, 0);
                let mut new_series = BTreeSet::new();
                for &(si, ts, v) in &resolved {
                    let si = canonical(si);
                    if !model.known_series.contains(&si) {
                        new_series.insert(si);
                    }
                    let start = ts.div_euclid(SPAN) * SPAN;
                    if ts > model.now + FUTURE {
                        far += 1;
                    } else {
                        acc += 1;
                        model
                            .samples
                            .entry((si, ts.div_euclid(1_000) * 1_000))
                            .or_default()
                            .push(v);
                        let sealed_through = model
                            .sealed
                            .iter()
                            .next_back()
                            .map_or(i64::MIN, |w| w + SPAN);
                        let open = model.windows.contains(&start) && !model.sealed.contains(&start);
                        if !open && start < sealed_through {
                            late += 1;
                            model.late.insert(start);
                        } else {
                            model.windows.insert(start);
                        }
                    }
                }
                // A batch that writes nothing registers nothing.
                if acc == 0 {
                    new_series.clear();
                }
                model.known_series.extend(new_series.iter().copied());
                model.session_series.extend(new_series.iter().copied());
                assert_eq!(
                    (
                        got.accepted,
                        got.rejected_too_old,
                        got.rejected_too_far_ahead,
                        got.new_series,
                        got.late
                    ),
                    (acc, old, far, new_series.len() as u64, late),
                    "{ctx}: write summary"
                );
                model.seal_due();
            }
            Op::Advance(ms) => {
                model.now += ms;
                clock.set(model.now);
            }
            Op::AdvanceToEdge(delta) => {
                let k = (model.now - GRACE).div_euclid(SPAN) + 1;
                model.now = (k * SPAN + GRACE + delta).max(model.now);
                clock.set(model.now);
            }
            Op::Maintain => {
                let report = s
                    .maintain()
                    .unwrap_or_else(|e| panic!("{ctx}: maintain: {e}"));
                let before = model.sealed.clone();
                model.seal_due();
                let newly: Vec<i64> = model.sealed.difference(&before).copied().collect();
                let mut got = report.sealed_windows.clone();
                got.sort();
                assert_eq!(got, newly, "{ctx}: windows sealed");
                let merged: Vec<i64> = model
                    .late
                    .iter()
                    .copied()
                    .filter(|&w| model.due(w))
                    .collect();
                for w in merged {
                    model.late.remove(&w);
                    model.sealed.insert(w);
                    model.windows.insert(w);
                }
                if std::mem::take(&mut model.sweep_pending) {
                    let with_samples: BTreeSet<usize> =
                        model.samples.keys().map(|&(si, _)| si).collect();
                    let before = model.known_series.len();
                    let (session, known) = (&model.session_series, &mut model.known_series);
                    known.retain(|si| session.contains(si) || with_samples.contains(si));
                    assert_eq!(
                        report.retention.series_removed,
                        (before - model.known_series.len()) as u64,
                        "{ctx}: series without samples removed"
                    );
                }
            }
            Op::Reopen { graceful } => {
                let old = store.take().expect("store");
                if *graceful {
                    old.close().unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
                } else {
                    drop(old);
                }
                let s = Store::open(dir.path(), config(clock.clone()))
                    .unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
                assert!(
                    s.recovery_findings().is_empty(),
                    "{ctx}: {:?}",
                    s.recovery_findings()
                );
                store = Some(s);
                model.session_series.clear();
                model.sweep_pending = true;
            }
            Op::Query { sel, range } => {
                let (from, to) = match range {
                    None => (i64::MIN, i64::MAX),
                    Some((from_s, len)) => {
                        let from = model.now + from_s * 1_000;
                        (from, from + len)
                    }
                };
                assert_eq!(
                    actual(s, *sel, from, to, &ctx),
                    model.query(*sel, from, to),
                    "{ctx}: query {} [{from}, {to})",
                    SELECTORS[*sel].0
                );
            }
        }
        let s = store.as_ref().expect("store");
        // Every step: all data, and where it lives.
        assert_eq!(
            actual(s, 3, i64::MIN, i64::MAX, &ctx),
            model.query(3, i64::MIN, i64::MAX),
            "{ctx}: all data"
        );
        let st = s.stats();
        let raw = &st.tiers[0];
        // Late samples count as points once merged.
        if st.late_pending == 0 {
            assert_eq!(
                raw.points,
                model.samples.len() as u64,
                "{ctx}: points {st:?}"
            );
        }
        assert_eq!(
            raw.sealed.segments,
            model.sealed.len() as u64,
            "{ctx}: sealed {st:?}"
        );
        assert_eq!(
            raw.open.segments,
            (model.windows.len() - model.sealed.len()) as u64,
            "{ctx}: open windows {st:?}"
        );
        assert_eq!(raw.corrupt_segments, 0, "{ctx}");
        assert_eq!(st.series, model.known_series.len() as u64, "{ctx}: series");
    }
}

/// A temporary directory on tmpfs when there is one (the model test fsyncs a lot).
fn fast_tempdir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if std::env::var_os("TIERLOG_TEST_ON_DISK").is_none()
        && shm.is_dir()
        && let Ok(d) = tempfile::Builder::new()
            .prefix("tierlog-model")
            .tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().expect("tempdir")
}
