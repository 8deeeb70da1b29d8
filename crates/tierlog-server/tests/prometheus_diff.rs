//! The differential test of `tierlog-promql` (`crates/tierlog-promql/tests/prometheus_diff.rs`)
//! run against `tierlog serve` over HTTP instead of the engine in process: the same data set,
//! corpus, comparator and `deviations.txt`, so that whatever the server adds (parameter
//! parsing, JSON encoding of timestamps and values, error envelopes) is checked against the
//! real Prometheus 2.42 on all 2740 queries. The queries go in turn as `POST` forms with
//! times as `1700000000.000` (promtool, Grafana's default) and as `GET` with whole seconds
//! and the step as a duration (`15s`). Where both fail, the `errorType`s must agree too.
//!
//! Skipped, saying so, when `/usr/bin/prometheus` or `/usr/bin/promtool` is absent; the
//! same environment variables as the in-process test apply.

#[allow(dead_code)]
#[path = "../../tierlog-promql/tests/diff/mod.rs"]
mod diff;

use diff::run::{Errors, differential, tierlog_config, tierlog_store};
use diff::target::{HttpApi, PROMETHEUS, Prometheus, Requests, Target};
use tierlog_server::{Server, ServerConfig};

/// `tierlog serve` in its own runtime over a store the writer has closed.
struct Served {
    rt: tokio::runtime::Runtime,
    server: Option<Server>,
    api: HttpApi,
}

impl Target for Served {
    fn name(&self) -> String {
        format!("tierlog serve at {}", self.api.base)
    }
    fn query_range(
        &self,
        expr: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<serde_json::Value, String> {
        self.api.query_range(expr, start, end, step)
    }
    fn query(&self, expr: &str, time: i64) -> Result<serde_json::Value, String> {
        self.api.query(expr, time)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = self.rt.block_on(s.shutdown());
        }
    }
}

/// `tierlog serve` over the store in `dir` (which no writer holds open).
fn serve(dir: &std::path::Path, store_config: tierlog::Config) -> Served {
    let mut config = ServerConfig::new(dir);
    config.store_config = store_config;
    config.listen = "127.0.0.1:0".parse().expect("address");
    // The store does not change: one snapshot for the whole run.
    config.refresh = std::time::Duration::from_secs(3600);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(tierlog_server::serve(config)).expect("serve");
    let api = HttpApi::with_requests(
        format!("http://{}", server.local_addr()),
        Requests::Alternate,
    );
    Served {
        rt,
        server: Some(server),
        api,
    }
}

#[test]
fn tierlog_serve_answers_as_prometheus_does() {
    // Both are HTTP APIs: a query both refuse must be refused with the same `errorType`
    // (which sets the HTTP status), as Grafana shows it.
    differential(Errors::SameType, |ds, dir| {
        // The server opens the store read-only: what the writer wrote must be in its files.
        tierlog_store(ds, dir).close().expect("close the writer");
        Box::new(serve(dir, tierlog_config(ds)))
    });
}

/// The query parameters as clients write them, Prometheus' way: times in float seconds
/// (below the millisecond too), negative, RFC 3339; steps in float seconds and as
/// durations; and the bad ones. `time()` makes the time each step was evaluated at the
/// answer's values; statuses and bodies must be the same, byte for byte.
#[test]
fn query_parameters_are_read_as_prometheus_reads_them() {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let prometheus = env("TIERLOG_PROMETHEUS").unwrap_or_else(|| PROMETHEUS.into());
    if !std::path::Path::new(&prometheus).exists() {
        println!("SKIPPED: {prometheus} is absent (install the Debian package `prometheus`)");
        return;
    }
    let work = tierlog_testkit::helpers::fast_tempdir();
    let db = work.path().join("tsdb");
    std::fs::create_dir(&db).expect("tsdb dir");
    let prom = Prometheus::start(&prometheus, &db, work.path()).expect("start prometheus");
    let store = work.path().join("store");
    tierlog::Store::open(&store, tierlog::Config::default())
        .and_then(tierlog::Store::close)
        .expect("an empty store");
    let served = serve(&store, tierlog::Config::default());

    let times = [
        "1700000000",
        "1700000000.5",
        "1700000000.030",
        "1700000000.123",
        "1700000000.0005",
        "1700000000.0015",
        "1699999991.6885",
        "-4.5805",
        "-0.0005",
        "0.0005",
        "1e9",
        "2023-11-14T22:13:20Z",
        "2023-11-14T22:13:20.123456789Z",
        "2023-11-14T22:13:20.5+01:00",
        "2023-11-14T22:13:20-00:30",
        "noon",
        "2023-02-29T00:00:00Z",
        "2023-11-14 22:13:20Z",
    ];
    let ranges = [
        ("0", "8.002", "4.001"),
        ("0", "300", "130.48"),
        ("0", "0.1", "0.0155"),
        ("1700000000", "1700000060", "15s"),
        ("1700000000", "1700000060", "1m"),
        ("1700000000.5", "1700000060.5", "15"),
        ("1700000000.25", "1700000001", "0.25"),
        ("2023-11-14T22:13:20Z", "2023-11-14T22:15:20Z", "30s"),
        ("0", "600", "1m30s"),
        ("0", "60", "0"),
        ("0", "60", "-15"),
        ("60", "0", "15"),
        ("0", "11001", "1"),
        ("0", "11000", "1"),
        ("0", "60", "1e20"),
        ("0", "60", "15x"),
        ("0", "60", "1.5m"),
        ("0", "60", ""),
        ("x", "60", "15"),
    ];
    let mut differ = Vec::new();
    let mut n = 0;
    for get in [true, false] {
        let mut check = |path: &str, form: &[(&str, &str)]| {
            n += 1;
            let a = prom.api.raw(path, form, get);
            let b = served.api.raw(path, form, get);
            if a != b {
                differ.push(format!(
                    "{} {path} {form:?}:\n  prometheus: {a:?}\n  tierlog:    {b:?}",
                    if get { "GET" } else { "POST" }
                ));
            }
        };
        for t in times {
            check("/api/v1/query", &[("query", "time()"), ("time", t)]);
        }
        // The listing endpoints take optional bounds (an empty store: empty lists).
        for (start, end) in [
            ("noon", "60"),
            ("0", "noon"),
            ("0.0005", "1e9"),
            ("60", "0"),
            ("", ""),
        ] {
            for path in ["/api/v1/labels", "/api/v1/label/job/values"] {
                check(path, &[("start", start), ("end", end)]);
            }
            check(
                "/api/v1/series",
                &[("match[]", "up"), ("start", start), ("end", end)],
            );
        }
        for (start, end, step) in ranges {
            check(
                "/api/v1/query_range",
                &[
                    ("query", "time()"),
                    ("start", start),
                    ("end", end),
                    ("step", step),
                ],
            );
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {n} requests answered otherwise than Prometheus:\n{}",
        differ.len(),
        differ.join("\n")
    );
}
