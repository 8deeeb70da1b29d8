//! `GET /metrics`: the store's and the server's own metrics, in a form Prometheus accepts.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{TestServer, enc};

const PROMTOOL: &str = "/usr/bin/promtool";

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
    if !std::path::Path::new(PROMTOOL).exists() {
        eprintln!("skipped: {PROMTOOL} is not installed (apt-get install prometheus)");
        return;
    }
    let s = TestServer::start();
    let t = s.t0 / 1000;
    s.json(&format!("/api/v1/query?query=up&time={t}"), 200);
    s.json("/api/v1/query?query=up&time=yesterday", 400);
    assert_eq!(s.get("/nowhere").0, 404);
    let text = scrape(&s);
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && msg.trim().is_empty(),
        "promtool: {msg}\n{text}"
    );
}
