//! Latency of tierlog's PromQL (in process) against the real Prometheus 2.42 (over HTTP, on
//! loopback) on the same data: the differential test's corpus as range queries over a
//! generated 24 h data set, run alternately on both, `TIERLOG_BENCH_REPS` times (default 5).
//! Prints the median of the per-expression latency ratios (tierlog / Prometheus), the worst
//! ten, and two named dashboard queries over the whole 24 h at a 60 s step.
//!
//! `cargo bench -p tierlog-promql --bench promql_vs_prometheus`. Skipped, saying so, when
//! `/usr/bin/prometheus` or `/usr/bin/promtool` is absent. Prometheus' times include the HTTP
//! round trip on loopback, its JSON encoding and this client's JSON decoding; tierlog's plain
//! times are the evaluation alone (in process), and its "+JSON" times add what a server and
//! client would do with the answer: the API's JSON shape built, encoded to text and decoded
//! again (no HTTP). Both ratios are printed.
//!
//! For a profiler: `TIERLOG_BENCH_PROFILE='<expr>'` evaluates only that expression on tierlog
//! (24 h at a 60 s step, `TIERLOG_BENCH_REPS` times), without Prometheus, and prints its
//! median latency; e.g. run the bench binary under `valgrind --tool=callgrind`.

#[allow(dead_code, unused_imports)]
#[path = "../tests/diff/mod.rs"]
mod diff;

use std::time::Instant;

use diff::corpus::corpus;
use diff::data::{START_S, generate};
use diff::run::{backfilled_prometheus, tierlog_store};
use diff::target::{PROMETHEUS, PROMTOOL, Prometheus, Target, median};

const SEED: u64 = 0x7165_7279;
const DAY_S: i64 = 86_400;

/// Median latencies (ms) of `reps` runs of each, alternating: tierlog, tierlog with the
/// answer encoded to JSON text and decoded again, Prometheus; `None` for an engine that fails.
fn measure(
    prom: &Prometheus,
    store: &tierlog::Store,
    expr: &str,
    (start, end, step): (i64, i64, i64),
    reps: usize,
) -> (Option<f64>, Option<f64>, Option<f64>, Option<String>) {
    let opts = tierlog_promql::Options::default();
    let (mut t, mut tj, mut p) = (Vec::new(), Vec::new(), Vec::new());
    let (mut t_err, mut p_err) = (None, None);
    for _ in 0..reps {
        let began = Instant::now();
        let r = tierlog_promql::query_range(store, expr, start, end, step, &opts);
        t.push(began.elapsed().as_secs_f64() * 1e3);
        if let Err(e) = r {
            t_err = Some(e.to_string());
        }
        let began = Instant::now();
        if let Ok(out) = tierlog_promql::query_range(store, expr, start, end, step, &opts) {
            let text =
                serde_json::json!({"status": "success", "data": diff::target::to_json(&out.value)})
                    .to_string();
            let back: serde_json::Value = serde_json::from_str(&text).expect("own JSON");
            std::hint::black_box(back);
        }
        tj.push(began.elapsed().as_secs_f64() * 1e3);
        let began = Instant::now();
        let r = prom.query_range(expr, start, end, step);
        p.push(began.elapsed().as_secs_f64() * 1e3);
        if let Err(e) = r {
            p_err = Some(e);
        }
    }
    let err = t_err.clone().or(p_err.clone());
    (
        t_err.is_none().then(|| median(&mut t)),
        t_err.is_none().then(|| median(&mut tj)),
        p_err.is_none().then(|| median(&mut p)),
        err,
    )
}

fn main() {
    let Some(reps) = diff::target::bench_setup() else {
        return;
    };

    if let Ok(expr) = std::env::var("TIERLOG_BENCH_PROFILE") {
        let ds = generate(SEED, START_S, DAY_S);
        let dir = tempfile::tempdir().unwrap();
        let store = tierlog_store(&ds, dir.path());
        let opts = tierlog_promql::Options::default();
        let mut t = Vec::new();
        for _ in 0..reps {
            let began = Instant::now();
            let r =
                tierlog_promql::query_range(&store, &expr, ds.start_ms, ds.end_ms, 60_000, &opts);
            t.push(began.elapsed().as_secs_f64() * 1e3);
            r.expect("the profiled expression evaluates");
        }
        println!(
            "{expr}: tierlog median {:.3} ms over {reps}",
            median(&mut t)
        );
        return;
    }

    let began = Instant::now();
    let ds = generate(SEED, START_S, DAY_S);
    let points: usize = ds.series.iter().map(|s| s.points.len()).sum();
    let work = tierlog_testkit::helpers::fast_tempdir();
    let prom = backfilled_prometheus(&ds, PROMETHEUS, PROMTOOL, work.path());
    let dir = tempfile::tempdir().unwrap();
    let store = tierlog_store(&ds, dir.path());
    println!(
        "data: {} series, {points} points over 24 h; set up in {:.1} s; {reps} repetitions each",
        ds.series.len(),
        began.elapsed().as_secs_f64()
    );

    // The corpus' expressions over the data's last 3 hours at a 60 s step.
    let window = (ds.end_ms - 3 * 3_600_000, ds.end_ms, 60_000);
    // (tierlog / Prometheus, tierlog, tierlog+JSON, Prometheus, expression)
    let mut rows: Vec<(f64, f64, f64, f64, String)> = Vec::new();
    let (mut failed_t, mut failed_p) = (0, 0);
    let mut first_failure = None;
    for case in corpus().into_iter().filter(|c| !c.must_fail) {
        let (t, tj, p, err) = measure(&prom, &store, &case.expr, window, reps);
        match (t.zip(tj), p) {
            (Some((t, tj)), Some(p)) => rows.push((t / p, t, tj, p, case.expr)),
            (None, _) => {
                failed_t += 1;
                first_failure.get_or_insert(err.unwrap_or_default());
            }
            (_, None) => failed_p += 1,
        }
    }
    println!(
        "corpus range queries (last 3 h, 60 s step): {} measured; {failed_t} fail on tierlog{}, {failed_p} on Prometheus (not counted)",
        rows.len(),
        first_failure
            .map(|e| format!(" (e.g. {e})"))
            .unwrap_or_default()
    );
    if !rows.is_empty() {
        let mut ratios: Vec<f64> = rows.iter().map(|r| r.0).collect();
        let mut json_ratios: Vec<f64> = rows.iter().map(|r| r.2 / r.3).collect();
        let mut ts: Vec<f64> = rows.iter().map(|r| r.1).collect();
        let mut tjs: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let mut ps: Vec<f64> = rows.iter().map(|r| r.3).collect();
        println!(
            "median ratio tierlog/Prometheus {:.2} (median latency {:.3} ms vs {:.3} ms)",
            median(&mut ratios),
            median(&mut ts),
            median(&mut ps)
        );
        println!(
            "median ratio tierlog+JSON/Prometheus {:.2} (median latency {:.3} ms)",
            median(&mut json_ratios),
            median(&mut tjs)
        );
        rows.sort_by(|a, b| b.0.total_cmp(&a.0));
        println!("worst ten (ratio, tierlog, tierlog+JSON, Prometheus):");
        for (ratio, t, tj, p, expr) in rows.iter().take(10) {
            println!("  {ratio:>7.2}×  {t:>9.3} ms  {tj:>9.3} ms  {p:>9.3} ms  {expr}");
        }
    }

    // Two dashboard queries over the whole day.
    let day = (ds.start_ms, ds.end_ms, 60_000);
    for expr in [
        "sum by (mode) (rate(node_cpu_seconds_total[5m]))",
        "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    ] {
        let (t, tj, p, err) = measure(&prom, &store, expr, day, reps);
        let show = |x: Option<f64>| x.map_or("fails".to_owned(), |v| format!("{v:.3} ms"));
        println!(
            "24 h at 60 s: {expr}: tierlog {} (+JSON {}), Prometheus {}{}",
            show(t),
            show(tj),
            show(p),
            err.map(|e| format!(" ({e})")).unwrap_or_default()
        );
    }
}
