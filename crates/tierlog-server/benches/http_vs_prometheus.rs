//! Latency of `tierlog serve` against the real Prometheus 2.42, both over HTTP on loopback, on
//! the same data: the PromQL differential test's corpus as range queries over a generated
//! 24 h data set (the last 3 h at a 60 s step), alternately on both, `TIERLOG_BENCH_REPS` times
//! (default 5), with the same client (one keep-alive `ureq` agent per server, `POST` forms as
//! promtool and Grafana send them, the answer decoded into a `serde_json::Value`). So both
//! sides pay the same: request parsing, evaluation, the API's JSON, the round trip and the
//! client's decoding. Each server is a process of its own: the bench starts itself again as
//! `tierlog serve`'s stand-in (`tierlog_server::serve` on a default tokio runtime). Prints the median of the per-expression latency ratios (tierlog /
//! Prometheus), the worst ten, and two dashboard queries over the whole 24 h at a 60 s step.
//!
//! `cargo bench -p tierlog-server --bench http_vs_prometheus`. Skipped, saying so, when
//! `/usr/bin/prometheus` or `/usr/bin/promtool` is absent.

#[allow(dead_code, unused_imports)]
#[path = "../../tierlog-promql/tests/diff/mod.rs"]
mod diff;

use std::time::{Duration, Instant};

use diff::corpus::corpus;
use diff::data::{START_S, generate};
use diff::run::{backfilled_prometheus, tierlog_config, tierlog_store};
use diff::target::{HttpApi, PROMETHEUS, PROMTOOL, Requests, Target, median};

const SEED: u64 = 0x7165_7279;
const DAY_S: i64 = 86_400;

/// Median latencies (ms) of `reps` runs of each, alternating; `None` for a side that fails.
fn measure(
    a: &dyn Target,
    b: &dyn Target,
    expr: &str,
    (start, end, step): (i64, i64, i64),
    reps: usize,
) -> (Option<f64>, Option<f64>) {
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    let (mut ok_a, mut ok_b) = (true, true);
    for _ in 0..reps {
        let began = Instant::now();
        ok_a &= a.query_range(expr, start, end, step).is_ok();
        ta.push(began.elapsed().as_secs_f64() * 1e3);
        let began = Instant::now();
        ok_b &= b.query_range(expr, start, end, step).is_ok();
        tb.push(began.elapsed().as_secs_f64() * 1e3);
    }
    (ok_a.then(|| median(&mut ta)), ok_b.then(|| median(&mut tb)))
}

/// The child: serves the store in `dir` until its standard input closes.
fn serve_child(dir: &str) {
    let ds = generate(SEED, START_S, DAY_S);
    let mut config = tierlog_server::ServerConfig::new(dir);
    config.store_config = tierlog_config(&ds);
    config.listen = "127.0.0.1:0".parse().expect("address");
    config.refresh = Duration::from_secs(3600);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(tierlog_server::serve(config)).expect("serve");
    println!("listening on http://{}", server.local_addr());
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
}

/// The bench started again as a server of the store in `dir`; stopped when dropped.
struct Child {
    child: std::process::Child,
    api: HttpApi,
}

impl Child {
    fn start(dir: &std::path::Path) -> Child {
        use std::io::BufRead;
        let mut child = std::process::Command::new(std::env::current_exe().expect("own path"))
            .env("TIERLOG_BENCH_SERVE_DIR", dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the server process");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the server's address");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("server said {line:?}"))
            .to_owned();
        Child {
            child,
            api: HttpApi::with_requests(base, Requests::Post),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn main() {
    if let Ok(dir) = std::env::var("TIERLOG_BENCH_SERVE_DIR") {
        return serve_child(&dir);
    }
    let Some(reps) = diff::target::bench_setup() else {
        return;
    };
    let began = Instant::now();
    let ds = generate(SEED, START_S, DAY_S);
    let points: usize = ds.series.iter().map(|s| s.points.len()).sum();

    let work = tierlog_testkit::helpers::fast_tempdir();
    let prom = backfilled_prometheus(&ds, PROMETHEUS, PROMTOOL, work.path());

    // The server opens the store read-only: the writer closes it first.
    let dir = tempfile::tempdir().unwrap();
    tierlog_store(&ds, dir.path())
        .close()
        .expect("close the writer");
    let served = Child::start(dir.path());
    let tierlog = &served.api;
    println!(
        "data: {} series, {points} points over 24 h; set up in {:.1} s; {reps} repetitions each",
        ds.series.len(),
        began.elapsed().as_secs_f64()
    );

    let window = (ds.end_ms - 3 * 3_600_000, ds.end_ms, 60_000);
    // (tierlog / Prometheus, tierlog, Prometheus, expression)
    let mut rows: Vec<(f64, f64, f64, String)> = Vec::new();
    let (mut failed_t, mut failed_p) = (0, 0);
    for case in corpus().into_iter().filter(|c| !c.must_fail) {
        match measure(tierlog, &prom, &case.expr, window, reps) {
            (Some(t), Some(p)) => rows.push((t / p, t, p, case.expr)),
            (None, _) => failed_t += 1,
            (_, None) => failed_p += 1,
        }
    }
    println!(
        "corpus range queries over HTTP (last 3 h, 60 s step): {} measured; {failed_t} fail on tierlog, {failed_p} on Prometheus (not counted)",
        rows.len()
    );
    if !rows.is_empty() {
        let mut ratios: Vec<f64> = rows.iter().map(|r| r.0).collect();
        let mut ts: Vec<f64> = rows.iter().map(|r| r.1).collect();
        let mut ps: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let faster = rows.iter().filter(|r| r.0 < 1.0).count();
        println!(
            "median ratio tierlog serve/Prometheus {:.2} (median latency {:.3} ms vs {:.3} ms); tierlog faster on {faster} of {}",
            median(&mut ratios),
            median(&mut ts),
            median(&mut ps),
            rows.len()
        );
        rows.sort_by(|a, b| b.0.total_cmp(&a.0));
        println!("worst ten (ratio, tierlog serve, Prometheus):");
        for (ratio, t, p, expr) in rows.iter().take(10) {
            println!("  {ratio:>7.2}×  {t:>9.3} ms  {p:>9.3} ms  {expr}");
        }
    }

    let day = (ds.start_ms, ds.end_ms, 60_000);
    for expr in [
        "sum by (mode) (rate(node_cpu_seconds_total[5m]))",
        "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    ] {
        let (t, p) = measure(tierlog, &prom, expr, day, reps);
        let show = |x: Option<f64>| x.map_or("fails".to_owned(), |v| format!("{v:.3} ms"));
        println!(
            "24 h at 60 s over HTTP: {expr}: tierlog serve {}, Prometheus {}",
            show(t),
            show(p)
        );
    }
}
