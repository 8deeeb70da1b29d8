//! The differential run shared by the tests that compare a tierlog target with the real
//! Prometheus 2.42 (`tierlog-promql`'s in-process test and `tierlog-server`'s HTTP one): the
//! data set in both, every corpus expression as range and instant queries on both, and the
//! verdict against `deviations.txt`. The environment variables are described in
//! `tierlog-promql/tests/prometheus_diff.rs`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::compare::{Outcome, compare, is_empty};
use super::corpus::{Case, corpus, glob, parse_deviations};
use super::data::{Dataset, START_S, generate, openmetrics, write_store};
use super::target::{PROMETHEUS, PROMTOOL, Perturbed, Prometheus, Target};

/// The generator's seed: fixed, so that every run compares the same data.
pub const SEED: u64 = 0x7165_7279;
pub const DURATION_S: i64 = 3 * 3600;

/// One query: a range (start, end, step) or an instant (time), all ms.
#[derive(Debug, Clone, Copy)]
pub enum Params {
    Range(i64, i64, i64),
    Instant(i64),
}

impl std::fmt::Display for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rel = |t: i64| {
            let d = (t - START_S * 1000) / 1000;
            if d < 0 {
                format!("S-{}s", -d)
            } else {
                format!("S+{d}s")
            }
        };
        match *self {
            Params::Range(s, e, st) => {
                write!(f, "range {}..{} step {}s", rel(s), rel(e), st / 1000)
            }
            Params::Instant(t) => write!(f, "instant {}", rel(t)),
        }
    }
}

/// The queries each expression runs as: ranges that cross the data's start, its end, gaps
/// and resets, at steps of 15 s, 60 s and 37 s (not a divisor of the scrape interval), and
/// instants within the data and just after its end.
pub fn params(ds: &Dataset) -> Vec<Params> {
    let (s, e) = (ds.start_ms, ds.end_ms);
    let m = 60_000;
    vec![
        Params::Range(s - 10 * m, s + 50 * m, 15_000),
        Params::Range(s + 30 * m, e + 10 * m, 60_000),
        Params::Range(s + 83 * m + 7_000, s + 161 * m, 37_000),
        Params::Instant(s + 100 * m + 13_000),
        Params::Instant(e + 2 * m),
    ]
}

pub fn run(t: &dyn Target, expr: &str, p: Params) -> Result<serde_json::Value, String> {
    match p {
        Params::Range(s, e, st) => t.query_range(expr, s, e, st),
        Params::Instant(at) => t.query(expr, at),
    }
}

/// The tierlog side's settings: a raw keep that covers the whole data set, with the clock
/// just after its end (every query is answered from raw points). A read-only open of the
/// store (`tierlog serve`) must use them too.
pub fn tierlog_config(ds: &Dataset) -> tierlog::Config {
    use tierlog::{Config, ManualClock, Sync, Tier};
    let day = Duration::from_secs(86_400);
    let clock = Arc::new(ManualClock::new(ds.end_ms + 15 * 60_000));
    let config = Config {
        sync: Sync::Never,
        maintenance_interval: None,
        raw_keep: Some(7 * day),
        tiers: Some(vec![
            Tier::new("10s", Duration::from_secs(10), 8 * day),
            Tier::new("60s", Duration::from_secs(60), 90 * day),
        ]),
        ..Config::default()
    }
    .with_clock(clock);
    config.validate().expect("configuration");
    config
}

/// The tierlog side: the data set in a store opened with [`tierlog_config`], checked to hold
/// exactly the generated points.
pub fn tierlog_store(ds: &Dataset, dir: &Path) -> tierlog::Store {
    let store = tierlog::Store::open(dir, tierlog_config(ds)).expect("open store");
    write_store(ds, &store);
    // The store holds exactly the generated points.
    let all: tierlog::Selector = r#"{__name__=~".+"}"#.parse().unwrap();
    let mut held = BTreeMap::new();
    for s in store.query(&all, 0, i64::MAX).unwrap().series {
        let mut l = s.labels.to_pairs();
        l.sort();
        held.insert((s.metric.clone(), l), s.points.clone());
    }
    let mut want = BTreeMap::new();
    for s in &ds.series {
        let mut l = s.labels.clone();
        l.sort();
        want.insert((s.name.clone(), l), s.points.clone());
    }
    assert!(held == want, "the store holds another data set");
    store
}

/// Prometheus (`prometheus`) serving `ds`, backfilled with `promtool tsdb create-blocks-from
/// openmetrics` into `work`, which holds its files and log for as long as it runs.
pub fn backfilled_prometheus(
    ds: &Dataset,
    prometheus: &str,
    promtool: &str,
    work: &Path,
) -> Prometheus {
    let om = work.join("data.om");
    std::fs::write(&om, openmetrics(ds)).unwrap();
    let db = work.join("tsdb");
    let out = std::process::Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&db)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Prometheus::start(prometheus, &db, work).expect("start prometheus")
}

/// Which comparison runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Prometheus vs tierlog in process.
    Tierlog,
    /// Prometheus vs itself: everything must agree.
    SelfCheck,
    /// Prometheus vs itself with one value per answer changed: every answer with a value
    /// must be caught.
    Perturb,
}

/// When two failures agree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Errors {
    /// Whatever they say (the in-process engine has no `errorType`).
    Any,
    /// When their `errorType`s are the same (two HTTP APIs: the error is `<errorType>: <message>`).
    SameType,
}

/// The `errorType` of an [`HttpApi`](super::target::HttpApi) error (`HTTP` when the request
/// itself failed).
fn kind(e: &str) -> &str {
    e.split_once(": ").map_or(e, |(k, _)| k)
}

/// Runs the corpus on Prometheus and on the tierlog target `make` builds over the data set
/// (with a store directory that lives until the end of the run), and fails on any
/// difference not in `deviations.txt`; two failures agree as `errors` says. `make` is not
/// called in the self-check modes.
pub fn differential(errors: Errors, make: impl FnOnce(&Dataset, &Path) -> Box<dyn Target>) {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let prometheus = env("TIERLOG_PROMETHEUS").unwrap_or_else(|| PROMETHEUS.into());
    let promtool = env("TIERLOG_PROMTOOL").unwrap_or_else(|| PROMTOOL.into());
    for bin in [&prometheus, &promtool] {
        if !Path::new(bin).exists() {
            println!(
                "SKIPPED: {bin} is absent (install the Debian package `prometheus`, as .ci/run does)"
            );
            return;
        }
    }
    let mode = match env("TIERLOG_PROMDIFF_SELFCHECK").as_deref() {
        None | Some("0") => Mode::Tierlog,
        Some("perturb") => Mode::Perturb,
        Some(_) => Mode::SelfCheck,
    };
    let filter = env("TIERLOG_PROMDIFF_FILTER");
    let verbose = env("TIERLOG_PROMDIFF_VERBOSE").is_some();
    let began = Instant::now();

    let ds = generate(SEED, START_S, DURATION_S);
    let work = tierlog_testkit::helpers::fast_tempdir();
    let prom = backfilled_prometheus(&ds, &prometheus, &promtool, work.path());

    let store_dir = tempfile::tempdir().unwrap();
    let tierlog;
    let perturbed;
    let target: &dyn Target = match mode {
        Mode::Tierlog => {
            tierlog = make(&ds, store_dir.path());
            &*tierlog
        }
        Mode::SelfCheck => &prom,
        Mode::Perturb => {
            perturbed = Perturbed(&prom);
            &perturbed
        }
    };
    let setup = began.elapsed();

    // The data arrived whole in Prometheus: its raw points are the generated ones.
    let total: usize = ds.series.iter().map(|s| s.points.len()).sum();
    let raw = prom
        .query(r#"{__name__=~".+"}[4h]"#, ds.end_ms)
        .expect("raw points");
    let raw = raw["result"].as_array().unwrap();
    let stored: usize = raw
        .iter()
        .map(|s| s["values"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        (raw.len(), stored),
        (ds.series.len(), total),
        "Prometheus holds another data set"
    );

    let deviations = parse_deviations(include_str!("deviations.txt")).unwrap();
    let cases: Vec<Case> = corpus()
        .into_iter()
        .filter(|c| filter.as_ref().is_none_or(|f| c.expr.contains(f.as_str())))
        .collect();
    let params = params(&ds);

    let mut per_category: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let (mut queries, mut agreed, mut both_err, mut empty, mut with_value) = (0, 0, 0, 0, 0);
    let mut failing: Vec<String> = Vec::new();
    let mut unlisted = 0;
    let mut listed_used = vec![false; deviations.len()];
    let mut never_valued = Vec::new();
    for case in &cases {
        let mut first: Option<String> = None;
        let mut valued = false;
        for &p in &params {
            queries += 1;
            // Both at once: each mostly waits for the other process or its own evaluator.
            let (a, b) = std::thread::scope(|s| {
                let a = s.spawn(|| run(&prom, &case.expr, p));
                let b = run(target, &case.expr, p);
                (a.join().expect("the Prometheus query thread"), b)
            });
            assert!(
                !case.must_fail || a.is_err(),
                "corpus: Prometheus does not fail on `{}` ({p}): {:?}",
                case.expr,
                a
            );
            if let Ok(d) = &a {
                if is_empty(d) {
                    empty += 1;
                } else {
                    with_value += 1;
                    valued = true;
                }
            }
            let ordered = case.ordered() && matches!(p, Params::Instant(_));
            match compare(&a, &b, ordered) {
                Outcome::Agree => agreed += 1,
                Outcome::BothErr(ea, eb)
                    if errors == Errors::SameType && kind(&ea) != kind(&eb) =>
                {
                    if first.is_none() {
                        first = Some(format!("{p}: both fail, but as `{ea}` and as `{eb}`"));
                    }
                }
                Outcome::BothErr(ea, eb) => {
                    agreed += 1;
                    both_err += 1;
                    if verbose {
                        println!(
                            "both fail: {} ({p})\n  prometheus: {ea}\n  target:     {eb}",
                            case.expr
                        );
                    }
                }
                Outcome::Differ(d) => {
                    if first.is_none() {
                        first = Some(format!("{p}: {d}"));
                    }
                }
            }
        }
        if !valued && !case.must_fail {
            never_valued.push(case.expr.as_str());
        }
        let e = per_category.entry(case.category).or_default();
        e.0 += 1;
        if let Some(d) = first {
            e.1 += 1;
            let listed = deviations
                .iter()
                .position(|dv| glob(&dv.pattern, &case.expr));
            let mark = match listed {
                Some(i) => {
                    listed_used[i] = true;
                    "listed"
                }
                None => {
                    unlisted += 1;
                    "DIFFER"
                }
            };
            let line = format!("{mark} `{}` {d}", case.expr);
            println!("{line}");
            failing.push(line);
        }
    }

    println!(
        "\nprometheus_diff: {} expressions, {queries} queries against {}: {agreed} agree ({both_err} of them both failing), {} differ; {} expressions differ, {unlisted} of them not in deviations.txt; {with_value} reference answers hold values, {empty} are empty; setup {:.1} s, total {:.1} s",
        cases.len(),
        target.name(),
        queries - agreed,
        failing.len(),
        setup.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    if verbose {
        println!("never a value from Prometheus: {never_valued:#?}");
    }
    for (cat, (n, bad)) in &per_category {
        println!("  {cat:<18} {n:>4} expressions, {bad:>4} differ");
    }
    for (dv, used) in deviations.iter().zip(&listed_used) {
        if !used && filter.is_none() {
            println!(
                "note: deviation no longer met: {} # {}",
                dv.pattern, dv.reason
            );
        }
    }

    match mode {
        Mode::Tierlog => assert_eq!(
            unlisted, 0,
            "{unlisted} expressions differ from Prometheus and are not in tests/diff/deviations.txt (lines marked DIFFER above)"
        ),
        Mode::SelfCheck => assert!(
            failing.is_empty(),
            "Prometheus disagrees with itself: {failing:#?}"
        ),
        Mode::Perturb => {
            // Every answer with a value was changed; each must count as a difference.
            assert_eq!(
                queries - agreed,
                with_value,
                "the comparator missed a perturbed answer"
            );
            assert!(with_value > 0);
        }
    }
}
