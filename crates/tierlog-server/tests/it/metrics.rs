//! `GET /metrics`: the store's and the server's own metrics, in a form Prometheus accepts.

use std::time::Duration;

use crate::support::{TestServer, enc};
use tierlog_testkit::helpers::promtool_check_metrics;
use tierlog_testkit::prometheus::{RealPrometheus, prometheus_bin};

/// The value of the sample line `series` (name and labels as written) in `text`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.parse().ok()
    })
}

fn scrape(s: &TestServer) -> String {
    let (status, body) = s.get("/metrics");
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn metrics_count_requests_by_handler_and_code_and_time_queries() {
    let s = TestServer::start();
    let t = s.t0 / 1000;
    for _ in 0..2 {
        s.json(&format!("/api/v1/query?query=up&time={t}"), 200);
    }
    s.json(
        &format!(
            "/api/v1/query_range?query={}&start={}&end={t}&step=15",
            enc("sum(up)"),
            t - 60
        ),
        200,
    );
    // Refused before evaluation: counted as a request, not as a query.
    s.json("/api/v1/query?query=up&time=yesterday", 400);
    s.json("/api/v1/label/job/values", 200);
    assert_eq!(s.get("/nowhere").0, 404);

    let text = scrape(&s);
    let req = |handler: &str, code: u16| {
        value(
            &text,
            &format!("tierlog_server_http_requests_total{{handler=\"{handler}\",code=\"{code}\"}}"),
        )
    };
    assert_eq!(req("/api/v1/query", 200), Some(2.0), "{text}");
    assert_eq!(req("/api/v1/query", 400), Some(1.0), "{text}");
    assert_eq!(req("/api/v1/query_range", 200), Some(1.0), "{text}");
    assert_eq!(req("/api/v1/label/{name}/values", 200), Some(1.0), "{text}");
    assert_eq!(req("unmatched", 404), Some(1.0), "{text}");
    assert_eq!(req("/metrics", 200), None, "counted once answered");
    assert_eq!(
        value(&text, "tierlog_server_query_duration_seconds_count"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "tierlog_server_query_duration_seconds_bucket{le=\"+Inf\"}"
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &text,
            "tierlog_server_http_request_duration_seconds_count{handler=\"/api/v1/query\"}"
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(value(&text, "tierlog_server_queries_in_flight"), Some(0.0));
    assert_eq!(value(&text, "tierlog_server_queries_limit"), Some(20.0));
    assert!(
        text.lines()
            .any(|l| l.starts_with("tierlog_server_build_info{version=\"")
                && l.ends_with(",prometheus_api_version=\"2.42.0\"} 1")),
        "{text}"
    );
    // The store's own: six series of three metrics in the test store.
    assert_eq!(value(&text, "tierlog_series"), Some(6.0), "{text}");
    assert_eq!(value(&text, "tierlog_metrics"), Some(3.0));

    // The scrape itself shows up in the next one.
    let text = scrape(&s);
    assert_eq!(
        value(
            &text,
            "tierlog_server_http_requests_total{handler=\"/metrics\",code=\"200\"}"
        ),
        Some(1.0),
        "{text}"
    );
}

#[test]
fn metrics_have_the_text_format_content_type() {
    let s = TestServer::start();
    let mut r = ureq::get(format!("{}/metrics", s.base))
        .call()
        .expect("GET /metrics");
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let body = r.body_mut().read_to_string().unwrap();
    assert!(body.contains("# TYPE tierlog_series gauge\n"), "{body}");
}

#[test]
fn metrics_need_the_bearer_token_when_one_is_set() {
    let s = TestServer::start_with(|c| c.bearer_token = Some("s3cret".into()));
    assert_eq!(s.get("/metrics").0, 401);
    let s = s.with_token(Some("wrong"));
    assert_eq!(s.get("/metrics").0, 401);
    let s = s.with_token(Some("s3cret"));
    let text = scrape(&s);
    assert_eq!(
        value(
            &text,
            "tierlog_server_http_requests_total{handler=\"/metrics\",code=\"401\"}"
        ),
        Some(2.0),
        "refusals are counted: {text}"
    );
}

#[test]
fn metrics_count_snapshot_refreshes() {
    let s = TestServer::start_with(|c| c.refresh = Duration::from_millis(1));
    let before = value(&scrape(&s), "tierlog_server_snapshot_refreshes_total").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    s.json("/api/v1/labels", 200);
    let text = scrape(&s);
    let after = value(&text, "tierlog_server_snapshot_refreshes_total").unwrap();
    assert!(after > before, "{before} -> {after}");
    assert_eq!(
        value(&text, "tierlog_server_snapshot_refresh_failures_total"),
        Some(0.0)
    );
}

#[test]
fn promtool_check_metrics_accepts_the_server_metrics() {
    let s = TestServer::start();
    let t = s.t0 / 1000;
    s.json(&format!("/api/v1/query?query=up&time={t}"), 200);
    s.json("/api/v1/query?query=up&time=yesterday", 400);
    assert_eq!(s.get("/nowhere").0, 404);
    let text = scrape(&s);
    let Some((ok, msg)) = promtool_check_metrics(&text) else {
        return;
    };
    assert!(ok && msg.trim().is_empty(), "promtool: {msg}\n{text}");
}

/// A real Prometheus (Debian's 2.42) scraping `/metrics` every second with the bearer token:
/// the target is up and the store's and server's metrics arrive in its TSDB.
#[test]
fn prometheus_scrapes_the_metrics_endpoint() {
    let Some(bin) = prometheus_bin() else {
        return;
    };
    let s = TestServer::start_with(|c| c.bearer_token = Some("scrape-token".into()))
        .with_token(Some("scrape-token"));
    let target = s.base.trim_start_matches("http://").to_owned();
    let prometheus = RealPrometheus::start_bin(
        &bin,
        |dir, _| {
            std::fs::write(dir.join("token"), "scrape-token\n").unwrap();
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tierlog\n    authorization:\n      credentials_file: {}\n    static_configs:\n      - targets: [\"{target}\"]\n",
                dir.join("token").display()
            )
        },
        &[],
    );
    let base = &prometheus.base;
    let instant = |q: &str| -> Option<f64> {
        let mut r = ureq::get(format!("{base}/api/v1/query"))
            .query("query", q)
            .call()
            .ok()?;
        let body: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
        body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    };
    // Generous: Prometheus starts, then scrapes once a second.
    let end = std::time::Instant::now() + Duration::from_secs(90);
    let (up, series, scrapes) = loop {
        let got = (
            instant("up{job=\"tierlog\"}"),
            instant("tierlog_series{job=\"tierlog\"}"),
            instant(
                "tierlog_server_http_requests_total{job=\"tierlog\",handler=\"/metrics\",code=\"200\"}",
            ),
        );
        if got.0 == Some(1.0) && got.1.is_some() && got.2.is_some_and(|n| n >= 2.0) {
            break got;
        }
        assert!(
            std::time::Instant::now() < end,
            "no good scrape after 90 s: {got:?}\n{}",
            prometheus.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!((up, series), (Some(1.0), Some(6.0)));
    assert!(scrapes.unwrap() >= 2.0);
    // Every scrape carried the token.
    let text = scrape(&s);
    assert_eq!(
        value(
            &text,
            "tierlog_server_http_requests_total{handler=\"/metrics\",code=\"401\"}"
        ),
        None,
        "{text}"
    );
}

/// With `--writable` the server holds the writer: the store's write-side counters move with
/// the pushes it takes.
#[test]
fn a_writable_servers_metrics_count_what_it_writes() {
    let s = TestServer::start_with(|c| c.writable = true);
    let before = scrape(&s);
    assert_eq!(value(&before, "tierlog_samples_written_total"), Some(0.0));
    let push = |body: &str| {
        let mut r = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .post(format!("{}/api/v1/import/prometheus", s.base))
            .content_type("text/plain")
            .send(body)
            .expect("push");
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    let (status, body) = push("pushed_a 1\npushed_b{k=\"v\"} 2\n");
    assert!((200..300).contains(&status), "{status} {body}");
    // A sample from 1970 is refused as too old.
    let (status, body) = push("pushed_a 3 1000\n");
    assert!(status >= 400, "{status} {body}");
    let text = scrape(&s);
    assert_eq!(
        value(&text, "tierlog_samples_written_total"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(value(&text, "tierlog_series_created_total"), Some(2.0));
    assert_eq!(
        value(&text, "tierlog_samples_rejected_total{reason=\"too_old\"}"),
        Some(1.0),
        "{text}"
    );
    assert!(value(&text, "tierlog_fsync_duration_seconds_count").unwrap() >= 1.0);
    assert_eq!(value(&text, "tierlog_series"), Some(8.0));
    let pushes = value(
        &text,
        &format!(
            "tierlog_server_http_requests_total{{handler=\"/api/v1/import/prometheus\",code=\"{}\"}}",
            status
        ),
    );
    assert_eq!(pushes, Some(1.0), "{text}");
}

/// Writes `cached` (two series, a point every 10 s) over the hour that ended 30 minutes
/// before `t0` into the store in `dir` and seals it, as the writer beside the server would.
fn write_sealed_hour(dir: &std::path::Path, t0: i64) -> (i64, i64) {
    let store = tierlog::Store::open(dir, tierlog::Config::default()).expect("open writer");
    let (from, to) = (t0 - 90 * 60_000, t0 - 30 * 60_000);
    let mut t = from;
    while t < to {
        let v = (t - from) as f64 / 1000.0;
        store
            .write(&[
                tierlog::Sample::new("cached", &[("k", "a")], t, v),
                tierlog::Sample::new("cached", &[("k", "b")], t, v * 0.5 + 0.125),
            ])
            .expect("write");
        t += 10_000;
    }
    store.maintain().expect("maintain");
    store.close().expect("close");
    (from, to)
}

#[test]
fn repeated_queries_read_sealed_chunks_from_the_read_cache() {
    let s = TestServer::start_with(|c| c.refresh = Duration::from_millis(1));
    let (from, to) = write_sealed_hour(&s.dir, s.t0);
    std::thread::sleep(Duration::from_millis(20));
    // The first window starts 10 minutes into the hour: every rate window holds raw points
    // (one reaching before the store's oldest raw window would be asked of the tiers).
    let path = format!(
        "/api/v1/query_range?query={}&start={}&end={}&step=60",
        enc("sum by (k) (rate(cached[5m]))"),
        (from + 10 * 60_000) / 1000,
        to / 1000
    );
    let first = s.json(&path, 200);
    let miss = value(&scrape(&s), "tierlog_server_read_cache_misses_total").unwrap();
    assert!(miss > 0.0, "the first read decodes");
    // Later snapshots (one reopen per request here) keep the cache.
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(s.json(&path, 200), first);
    }
    let text = scrape(&s);
    let hits = value(&text, "tierlog_server_read_cache_hits_total").unwrap();
    assert!(hits >= 2.0 * miss, "{text}");
    assert_eq!(
        value(&text, "tierlog_server_read_cache_misses_total"),
        Some(miss),
        "nothing decoded again: {text}"
    );
    assert!(value(&text, "tierlog_server_read_cache_bytes").unwrap() > 0.0);
    let rows = first["data"]["result"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{first}");

    // The same answer without the cache, which then has no metrics.
    let plain = TestServer::start_with(|c| {
        c.read_cache_bytes = 0;
        c.refresh = Duration::from_millis(1);
    });
    write_sealed_hour(&plain.dir, s.t0);
    std::thread::sleep(Duration::from_millis(20));
    let answer = plain.json(&path, 200);
    assert_eq!(answer, first);
    assert_eq!(
        value(&scrape(&plain), "tierlog_server_read_cache_hits_total"),
        None
    );
}
