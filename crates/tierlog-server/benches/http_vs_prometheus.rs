//! Latency of `tierlog serve` against the real Prometheus 2.42, both over HTTP on loopback, on
//! the same data: the PromQL differential test's corpus as range queries over a generated
//! 24 h data set (the last 3 h at a 60 s step), alternately on both, `TIERLOG_BENCH_REPS` times
//! (default 5), with the same client (one keep-alive `ureq` agent per server, `POST` forms as
//! promtool and Grafana send them). Each request is timed twice: until its reply is read (the
//! server's request parsing, evaluation and JSON, and the round trip: the query's latency),
//! and until the reply is also decoded into a `serde_json::Value` as the differential test
//! does (the client's work, the same for both servers, added to both). Each server is a
//! process of its own: the bench starts itself again as `tierlog serve`'s stand-in
//! (`tierlog_server::serve` on a default tokio runtime, with the `tierlog` binary's
//! allocator). Prints, for both timings, the median of the per-expression latency ratios
//! (tierlog / Prometheus), then the worst ten until the reply is read, and two dashboard
//! queries over the whole 24 h at a 60 s step.
//!
//! `cargo bench -p tierlog-server --bench http_vs_prometheus`. Skipped, saying so, when
//! `/usr/bin/prometheus` or `/usr/bin/promtool` is absent.
//!
//! - `TIERLOG_BENCH_OLD_SERVER=<path>`: an older build of this bench binary, started as a second
//!   `tierlog serve` on the same store and asked in turn with the others (old, new, Prometheus):
//!   before and after a change in one run, on the same data and client.
//! - `TIERLOG_BENCH_LOOP=<expr>`: only that expression, `TIERLOG_BENCH_REPS` times on each
//!   server in turn (over the last 3 h at a 60 s step); for profiling the server.
//! - `TIERLOG_BENCH_LEAN_CLIENT=1`: the client (of every server) without ureq's thread per
//!   call for resolving the host, which its whole-call time limit otherwise starts.
//! - `TIERLOG_BENCH_SERVER_WRAP='<command> <args>'`: starts the (new) server through that
//!   command, e.g. `valgrind --tool=callgrind --instr-atstart=no` or `perf stat -o FILE`.
//! - `TIERLOG_BENCH_ROWS=<file>`: also writes every measured expression's medians there, one
//!   line each (the servers' medians in ms until the reply is read, then decoded,
//!   tab-separated, then the expression).
//! - `TIERLOG_BENCH_READ_CACHE=<bytes>`: the (new) server's `--read-cache` (default 64 MiB;
//!   `0` turns it off, so every request decodes what it reads).
//! - `TIERLOG_BENCH_MAINTAINED=0`: no maintenance pass on the store before it is served (by
//!   default one runs, as a writer's maintenance thread would, and merges the late logs the
//!   series-after-series writing leaves; see where the store is built).

#[allow(dead_code, unused_imports)]
#[path = "../../tierlog-promql/tests/diff/mod.rs"]
mod diff;

use std::time::{Duration, Instant};

/// The `tierlog` binary's allocator (its `main.rs`), so the server measured here allocates as
/// `tierlog serve` does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use diff::corpus::corpus;
use diff::data::{START_S, generate};
use diff::run::{backfilled_prometheus, tierlog_config, tierlog_store};
use diff::target::{HttpApi, PROMETHEUS, PROMTOOL, Requests, median, secs};

const SEED: u64 = 0x7165_7279;
const DAY_S: i64 = 86_400;

/// Median latencies (ms) of `reps` runs of each target, taking turns, each measured twice:
/// until the reply is read (`[0]`: the server's parse, evaluation and JSON, and the round
/// trip), and until it is decoded as the differential test decodes it (`[1]`: into a
/// `serde_json::Value`, its `data` copied out); `None` for a target that fails.
fn measure(
    targets: &[&HttpApi],
    expr: &str,
    (start, end, step): (i64, i64, i64),
    reps: usize,
) -> Vec<Option<[f64; 2]>> {
    let (start, end, step) = (secs(start), secs(end), secs(step));
    let form = [
        ("query", expr),
        ("start", start.as_str()),
        ("end", end.as_str()),
        ("step", step.as_str()),
    ];
    let mut times = vec![(Vec::new(), Vec::new()); targets.len()];
    let mut ok = vec![true; targets.len()];
    for _ in 0..reps {
        for (i, t) in targets.iter().enumerate() {
            let began = Instant::now();
            let reply = t.raw("/api/v1/query_range", &form, false);
            let read = began.elapsed();
            ok[i] &= reply.is_ok_and(|(status, text)| {
                let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                let data = body["data"].clone();
                status == 200 && body["status"] == "success" && !data.is_null()
            });
            let decoded = began.elapsed();
            times[i].0.push(read.as_secs_f64() * 1e3);
            times[i].1.push(decoded.as_secs_f64() * 1e3);
        }
    }
    times
        .iter_mut()
        .zip(ok)
        .map(|((r, d), ok)| ok.then(|| [median(r), median(d)]))
        .collect()
}

/// The child: serves the store in `dir` until its standard input closes.
fn serve_child(dir: &str) {
    let ds = generate(SEED, START_S, DAY_S);
    let mut config = tierlog_server::ServerConfig::new(dir);
    config.store_config = tierlog_config(&ds);
    config.listen = "127.0.0.1:0".parse().expect("address");
    config.refresh = Duration::from_secs(3600);
    if let Some(b) = std::env::var("TIERLOG_BENCH_READ_CACHE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.read_cache_bytes = b;
    }
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
    /// `exe` (this bench, or an older build of it) serving `dir`, started through `wrap` (a
    /// command and its arguments, e.g. `valgrind --tool=callgrind`) when not empty.
    fn start(exe: &std::path::Path, wrap: &[String], dir: &std::path::Path) -> Child {
        use std::io::BufRead;
        let mut cmd = match wrap.split_first() {
            Some((first, rest)) => {
                let mut c = std::process::Command::new(first);
                c.args(rest).arg(exe);
                c
            }
            None => std::process::Command::new(exe),
        };
        let mut child = cmd
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
        let mut api = HttpApi::with_requests(base, Requests::Post);
        client(&mut api);
        Child { child, api }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// `api` as the bench asks it: with `TIERLOG_BENCH_LEAN_CLIENT=1`, through an agent that
/// does not start a thread per call to resolve the host (see
/// [`HttpApi::without_resolver_thread`]); both servers alike.
fn client(api: &mut HttpApi) {
    if std::env::var("TIERLOG_BENCH_LEAN_CLIENT").is_ok_and(|v| v == "1") {
        api.without_resolver_thread();
    }
}

/// `v` in ms with three decimals, or `fails`.
fn show(v: Option<f64>) -> String {
    v.map_or("fails".to_owned(), |v| format!("{v:.3} ms"))
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
    let mut prom = backfilled_prometheus(&ds, PROMETHEUS, PROMTOOL, work.path());
    client(&mut prom.api);

    // The server opens the store read-only: the writer closes it first. The data set is
    // written series after series with the clock at its end, so every window but the last
    // few is sealed by the first series, and the other series' samples wait in late logs
    // (folded into every read) until a maintenance pass merges them. A writer's maintenance
    // thread runs that pass every 10 s, so the store is served after one, as it would be;
    // `TIERLOG_BENCH_MAINTAINED=0` serves it with its late logs instead.
    let dir = tempfile::tempdir().unwrap();
    let store = tierlog_store(&ds, dir.path());
    if std::env::var_os("TIERLOG_BENCH_MAINTAINED").is_none_or(|v| v != "0") {
        let r = store.maintain().expect("maintain");
        println!("maintained: {r:?}");
    }
    store.close().expect("close the writer");
    let wrap: Vec<String> = std::env::var("TIERLOG_BENCH_SERVER_WRAP")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let own = std::env::current_exe().expect("own path");
    let served = Child::start(&own, &wrap, dir.path());
    // An older build of this bench, as a second `tierlog serve` to compare with.
    let old = std::env::var_os("TIERLOG_BENCH_OLD_SERVER")
        .map(|exe| Child::start(std::path::Path::new(&exe), &[], dir.path()));
    let mut targets: Vec<(&str, &HttpApi)> = Vec::new();
    if let Some(old) = &old {
        targets.push(("tierlog serve (old)", &old.api));
    }
    targets.push(("tierlog serve", &served.api));
    targets.push(("Prometheus", &prom.api));
    let names: Vec<&str> = targets.iter().map(|t| t.0).collect();
    let targets: Vec<&HttpApi> = targets.iter().map(|t| t.1).collect();
    let prom_at = targets.len() - 1;
    println!(
        "data: {} series, {points} points over 24 h; set up in {:.1} s; {reps} repetitions each; servers taking turns: {}",
        ds.series.len(),
        began.elapsed().as_secs_f64(),
        names.join(", ")
    );
    let window = (ds.end_ms - 3 * 3_600_000, ds.end_ms, 60_000);

    // One expression asked `reps` times of each, in turn (for a profile of the server).
    if let Ok(expr) = std::env::var("TIERLOG_BENCH_LOOP") {
        let medians = measure(&targets, &expr, window, reps);
        for (name, m) in names.iter().zip(&medians) {
            println!(
                "{expr}, last 3 h at 60 s, {name}: median {} (reply read), {} (decoded)",
                show(m.map(|m| m[0])),
                show(m.map(|m| m[1]))
            );
        }
        return;
    }

    // Per expression: the medians of each target; the first target's vs Prometheus' below.
    let mut rows: Vec<(Vec<[f64; 2]>, String)> = Vec::new();
    let mut failed = vec![0usize; targets.len()];
    for case in corpus().into_iter().filter(|c| !c.must_fail) {
        let medians = measure(&targets, &case.expr, window, reps);
        for (f, m) in failed.iter_mut().zip(&medians) {
            *f += usize::from(m.is_none());
        }
        if medians.iter().all(Option::is_some) {
            rows.push((medians.into_iter().flatten().collect(), case.expr));
        }
    }
    println!(
        "corpus range queries over HTTP (last 3 h, 60 s step): {} measured; failing (those not counted): {}",
        rows.len(),
        names
            .iter()
            .zip(&failed)
            .map(|(n, f)| format!("{f} on {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if rows.is_empty() {
        return;
    }
    if let Ok(path) = std::env::var("TIERLOG_BENCH_ROWS") {
        let text: String = rows
            .iter()
            .map(|(ms, expr)| {
                let shown: Vec<String> = (0..2)
                    .flat_map(|k| ms.iter().map(move |m| format!("{:.3}", m[k])))
                    .collect();
                format!("{}\t{expr}\n", shown.join("\t"))
            })
            .collect();
        std::fs::write(&path, text).expect("write the rows");
    }
    for (k, how) in [
        (0, "until the reply is read"),
        (1, "with the client's JSON decode"),
    ] {
        let mut prom_ms: Vec<f64> = rows.iter().map(|r| r.0[prom_at][k]).collect();
        let prom_median = median(&mut prom_ms);
        for (i, name) in names.iter().enumerate().take(prom_at) {
            let mut ratios: Vec<f64> = rows.iter().map(|r| r.0[i][k] / r.0[prom_at][k]).collect();
            let mut ts: Vec<f64> = rows.iter().map(|r| r.0[i][k]).collect();
            let faster = rows.iter().filter(|r| r.0[i][k] < r.0[prom_at][k]).count();
            println!(
                "{how}: median ratio {name}/Prometheus {:.2} (median latency {:.3} ms vs {prom_median:.3} ms); faster on {faster} of {}",
                median(&mut ratios),
                median(&mut ts),
                rows.len()
            );
        }
        if prom_at == 2 {
            let mut ratios: Vec<f64> = rows.iter().map(|r| r.0[1][k] / r.0[0][k]).collect();
            println!(
                "{how}: median ratio {}/{}: {:.2}",
                names[1],
                names[0],
                median(&mut ratios)
            );
        }
    }
    let new_at = prom_at - 1;
    let ratio = |ms: &[[f64; 2]]| ms[new_at][0] / ms[prom_at][0];
    rows.sort_by(|a, b| ratio(&b.0).total_cmp(&ratio(&a.0)));
    println!(
        "worst ten of {} until the reply is read (ratio, {}):",
        names[new_at],
        names.join(", ")
    );
    for (ms, expr) in rows.iter().take(10) {
        let shown: Vec<String> = ms.iter().map(|m| format!("{:>9.3} ms", m[0])).collect();
        println!("  {:>7.2}×  {}  {expr}", ratio(ms), shown.join(" "));
    }

    let day = (ds.start_ms, ds.end_ms, 60_000);
    for expr in [
        "sum by (mode) (rate(node_cpu_seconds_total[5m]))",
        "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    ] {
        let medians = measure(&targets, expr, day, reps);
        let shown: Vec<String> = names
            .iter()
            .zip(&medians)
            .map(|(n, m)| {
                format!(
                    "{n} {} ({} decoded)",
                    show(m.map(|m| m[0])),
                    show(m.map(|m| m[1]))
                )
            })
            .collect();
        println!("24 h at 60 s over HTTP: {expr}: {}", shown.join(", "));
    }
}
