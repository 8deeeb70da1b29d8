//! Each endpoint's answer and envelope, errors, authentication and refresh.

use std::time::Duration;

use serde_json::{Value, json};
use tierlog::{Config, Sample, Store};

use crate::support::{TestServer, enc};

fn up_series() -> Value {
    json!([
        {"__name__": "up", "instance": "a", "job": "node"},
        {"__name__": "up", "instance": "b", "job": "node"},
        {"__name__": "up", "instance": "c", "job": "prom"},
    ])
}

#[test]
fn series_lists_the_label_sets_of_every_match() {
    let s = TestServer::start();
    assert_eq!(
        s.json("/api/v1/series?match%5B%5D=up", 200),
        json!({"status": "success", "data": up_series()})
    );
    let two = format!(
        "/api/v1/series?match%5B%5D={}&match%5B%5D={}&start=0&end={}",
        enc(r#"{job="prom"}"#),
        enc(r#"node_cpu_seconds_total{mode=~"us.*"}"#),
        s.t0 / 1000
    );
    assert_eq!(
        s.json(&two, 200),
        json!({"status": "success", "data": [
            {"__name__": "node_cpu_seconds_total", "cpu": "0", "mode": "user"},
            {"__name__": "up", "instance": "c", "job": "prom"},
        ]})
    );
    // Overlapping selectors list a series once.
    let overlap = format!(
        "/api/v1/series?match%5B%5D=up&match%5B%5D={}",
        enc(r#"{__name__=~"u.*"}"#)
    );
    assert_eq!(s.json(&overlap, 200)["data"], up_series());
    assert_eq!(
        s.json("/api/v1/series?match%5B%5D=absent", 200),
        json!({"status": "success", "data": []})
    );
}

#[test]
fn series_errors_are_bad_data() {
    let s = TestServer::start();
    assert_eq!(
        s.json("/api/v1/series", 400),
        json!({"status": "error", "errorType": "bad_data", "error": "no match[] parameter provided"})
    );
    for bad in [
        format!("match%5B%5D={}", enc("up{")),
        format!("match%5B%5D={}", enc(r#"{job=""}"#)),
        "match%5B%5D=up&start=yesterday".to_owned(),
    ] {
        let v = s.json(&format!("/api/v1/series?{bad}"), 400);
        assert_eq!(v["status"], "error", "{bad}");
        assert_eq!(v["errorType"], "bad_data", "{bad}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{bad}");
    }
    assert_eq!(
        s.json("/api/v1/series?match%5B%5D=up&start=yesterday", 400)["error"],
        r#"invalid parameter "start": Invalid time value for 'start': cannot parse "yesterday" to a valid timestamp"#
    );
}

/// An `end` before `start` is no error on the listing endpoints (as in Prometheus 2.42, which
/// finds nothing in such a range), and an empty bound is a missing one.
#[test]
fn listings_over_a_reversed_range_are_empty() {
    let s = TestServer::start();
    for path in [
        "/api/v1/series?match%5B%5D=up&start=10&end=5",
        "/api/v1/labels?start=10&end=5",
        "/api/v1/label/job/values?start=10&end=5",
    ] {
        assert_eq!(
            s.json(path, 200),
            json!({"status": "success", "data": []}),
            "{path}"
        );
    }
    assert_eq!(
        s.json("/api/v1/label/job/values?start=&end=", 200),
        json!({"status": "success", "data": ["node", "prom"]})
    );
}

#[test]
fn labels_lists_names_of_all_or_matching_series() {
    let s = TestServer::start();
    assert_eq!(
        s.json("/api/v1/labels", 200),
        json!({"status": "success", "data": ["__name__", "cpu", "instance", "job", "mode"]})
    );
    assert_eq!(
        s.json("/api/v1/labels?match%5B%5D=up", 200),
        json!({"status": "success", "data": ["__name__", "instance", "job"]})
    );
    assert_eq!(
        s.json("/api/v1/labels?match%5B%5D=absent", 200),
        json!({"status": "success", "data": []})
    );
}

#[test]
fn label_values_of_names_and_labels() {
    let s = TestServer::start();
    assert_eq!(
        s.json("/api/v1/label/__name__/values", 200),
        json!({"status": "success", "data": ["no_meta", "node_cpu_seconds_total", "up"]})
    );
    assert_eq!(
        s.json("/api/v1/label/job/values", 200),
        json!({"status": "success", "data": ["node", "prom"]})
    );
    let m = format!(
        "/api/v1/label/instance/values?match%5B%5D={}",
        enc(r#"up{job="node"}"#)
    );
    assert_eq!(
        s.json(&m, 200),
        json!({"status": "success", "data": ["a", "b"]})
    );
    let m = format!(
        "/api/v1/label/__name__/values?match%5B%5D={}",
        enc(r#"{cpu="0"}"#)
    );
    assert_eq!(
        s.json(&m, 200),
        json!({"status": "success", "data": ["node_cpu_seconds_total"]})
    );
    assert_eq!(
        s.json("/api/v1/label/nothing/values", 200),
        json!({"status": "success", "data": []})
    );
    assert_eq!(
        s.json("/api/v1/label/1x/values", 400),
        json!({"status": "error", "errorType": "bad_data", "error": "invalid label name: \"1x\""})
    );
}

#[test]
fn metadata_gives_kind_help_and_unit() {
    let s = TestServer::start();
    let all = json!({
        "no_meta": [{"type": "unknown", "help": "", "unit": ""}],
        "node_cpu_seconds_total": [{"type": "counter", "help": "Seconds the CPUs spent in each mode.", "unit": "seconds"}],
        "up": [{"type": "gauge", "help": "1 when the target is up.", "unit": ""}],
    });
    assert_eq!(
        s.json("/api/v1/metadata", 200),
        json!({"status": "success", "data": all})
    );
    assert_eq!(
        s.json("/api/v1/metadata?metric=up", 200),
        json!({"status": "success", "data": {"up": all["up"]}})
    );
    assert_eq!(
        s.json("/api/v1/metadata?limit=1", 200),
        json!({"status": "success", "data": {"no_meta": all["no_meta"]}})
    );
    assert_eq!(
        s.json("/api/v1/metadata?metric=absent", 200),
        json!({"status": "success", "data": {}})
    );
    assert_eq!(
        s.json("/api/v1/metadata?limit=x", 400)["errorType"],
        "bad_data"
    );
}

#[test]
fn buildinfo_has_prometheus_fields_and_no_features() {
    let s = TestServer::start();
    let v = s.json("/api/v1/status/buildinfo", 200);
    assert_eq!(v["status"], "success");
    let data = v["data"].as_object().expect("object");
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "branch",
            "buildDate",
            "buildUser",
            "goVersion",
            "revision",
            "version"
        ]
    );
    assert!(
        !data.contains_key("features"),
        "Grafana would take it for Mimir"
    );
    assert!(data.values().all(Value::is_string));
    assert_eq!(data["version"], tierlog_server::PROMETHEUS_API_VERSION);
    assert_eq!(v.as_object().unwrap().len(), 2, "no warnings: {v}");
}

#[test]
fn runtimeinfo_and_flags() {
    let s = TestServer::start_with(|c| c.max_concurrency = 3);
    let v = s.json("/api/v1/status/runtimeinfo", 200);
    assert_eq!(v["status"], "success");
    let d = &v["data"];
    for k in ["startTime", "CWD", "lastConfigTime", "GOGC", "GODEBUG"] {
        assert!(d[k].is_string(), "{k}: {d}");
    }
    assert!(d["startTime"].as_str().unwrap().ends_with('Z'));
    assert_eq!(d["reloadConfigSuccess"], true);
    assert_eq!(d["corruptionCount"], 0);
    assert!(d["GOMAXPROCS"].as_u64().is_some_and(|n| n >= 1));
    assert_eq!(d["storageRetention"], "90d");
    let f = s.json("/api/v1/status/flags", 200);
    assert_eq!(f["status"], "success");
    assert_eq!(f["data"]["query.max-concurrency"], "3");
    assert_eq!(f["data"]["query.timeout"], "120000ms");
    assert_eq!(f["data"]["listen"], "127.0.0.1:0");
}

#[test]
fn health_ready_and_unknown_paths() {
    let s = TestServer::start();
    assert_eq!(
        s.get("/-/healthy"),
        (200, "tierlog server is Healthy.\n".to_owned())
    );
    assert_eq!(
        s.get("/-/ready"),
        (200, "tierlog server is Ready.\n".to_owned())
    );
    assert_eq!(
        s.get("/api/v1/nope"),
        (404, "404 page not found\n".to_owned())
    );
    assert_eq!(s.get("/nope"), (404, "404 page not found\n".to_owned()));
    // `/` is the page for people (tests/it/page.rs); it takes GET only.
    assert_eq!(s.status_of("POST", "/"), 405);
    assert_eq!(s.status_of("DELETE", "/api/v1/query"), 405);
    assert_eq!(s.status_of("POST", "/api/v1/metadata"), 405);
    assert_eq!(
        s.post_form("/api/v1/label/job/values", ""),
        (405, "Method Not Allowed\n".to_owned())
    );
    assert_eq!(s.status_of("HEAD", "/-/ready"), 200);
}

#[test]
fn exemplars_rules_and_alerts_are_empty() {
    let s = TestServer::start();
    assert_eq!(
        s.json("/api/v1/query_exemplars?query=up&start=0&end=10", 200),
        json!({"status": "success", "data": []})
    );
    let (st, body) = s.post_form("/api/v1/query_exemplars", "query=up");
    assert_eq!(
        (st, body.as_str()),
        (200, r#"{"status":"success","data":[]}"#)
    );
    assert_eq!(
        s.json("/api/v1/rules", 200),
        json!({"status": "success", "data": {"groups": []}})
    );
    assert_eq!(
        s.json("/api/v1/alerts", 200),
        json!({"status": "success", "data": {"alerts": []}})
    );
}

/// A query that does not parse is `bad_data`, with or without the evaluator.
#[test]
fn query_parse_error_is_400_bad_data() {
    let s = TestServer::start();
    for path in [
        format!("/api/v1/query?query={}", enc("sum(up")),
        format!(
            "/api/v1/query_range?query={}&start=0&end=60&step=15s",
            enc("up{")
        ),
    ] {
        let v = s.json(&path, 400);
        assert_eq!(v["status"], "error", "{path}");
        assert_eq!(v["errorType"], "bad_data", "{path}");
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {v}"
        );
        assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
    }
}

/// `1+1` answers in Prometheus' envelope: before the evaluator, a 400 `bad_data` (not
/// supported); with it, a success. Only the envelope's shape is checked.
#[test]
fn query_1_plus_1_answers_in_the_envelope() {
    let s = TestServer::start();
    let (status, body) = s.get("/api/v1/query?query=1%2B1&time=1700000000");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    let o = v.as_object().expect("object");
    match v["status"].as_str() {
        Some("success") => {
            assert_eq!(status, 200);
            assert!(v["data"]["resultType"].is_string(), "{v}");
            assert!(v["data"]["result"].is_array(), "{v}");
            assert!(
                o.keys()
                    .all(|k| ["status", "data", "warnings"].contains(&k.as_str()))
            );
        }
        Some("error") => {
            assert_eq!(status, 400, "{v}");
            assert_eq!(v["errorType"], "bad_data");
            assert!(v["error"].is_string());
            assert_eq!(o.len(), 3, "{v}");
        }
        other => panic!("status {other:?}: {v}"),
    }
}

/// Needs the evaluator (fails while `tierlog_promql::query` is a stub).
#[test]
fn query_1_plus_1_is_scalar_2() {
    let s = TestServer::start();
    assert_eq!(
        s.json("/api/v1/query?query=1%2B1&time=1700000000", 200),
        json!({"status": "success", "data": {"resultType": "scalar", "result": [1700000000, "2"]}})
    );
}

#[test]
fn query_parameters_are_checked_as_prometheus_does() {
    let s = TestServer::start();
    let cases = [
        (
            "/api/v1/query?query=up&time=noon",
            r#"invalid parameter "time": Invalid time value for 'time': cannot parse "noon" to a valid timestamp"#,
        ),
        (
            "/api/v1/query?query=up&timeout=soon",
            r#"invalid parameter "timeout": cannot parse "soon" to a valid duration"#,
        ),
        (
            "/api/v1/query_range?query=up&end=60&step=15",
            r#"invalid parameter "start": cannot parse "" to a valid timestamp"#,
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=60",
            r#"invalid parameter "step": cannot parse "" to a valid duration"#,
        ),
        (
            "/api/v1/query_range?query=up&start=60&end=0&step=15",
            r#"invalid parameter "end": end timestamp must not be before start time"#,
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=60&step=0",
            r#"invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer"#,
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=11001&step=1",
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ),
    ];
    for (path, msg) in cases {
        assert_eq!(
            s.json(path, 400),
            json!({"status": "error", "errorType": "bad_data", "error": msg}),
            "{path}"
        );
    }
}

#[test]
fn post_form_and_get_agree() {
    let s = TestServer::start();
    let t = s.t0 / 1000;
    for (path, params) in [
        (
            "/api/v1/series",
            format!("match%5B%5D=up&match%5B%5D={}", enc("no_meta")),
        ),
        (
            "/api/v1/labels",
            format!("match%5B%5D={}", enc(r#"{job="node"}"#)),
        ),
        (
            "/api/v1/query",
            format!("query={}&time={t}", enc("sum(up)")),
        ),
        ("/api/v1/query", format!("query={}", enc("up{"))),
        (
            "/api/v1/query_range",
            format!("query=up&start={}&end={t}&step=15s", t - 60),
        ),
        (
            "/api/v1/query_range",
            "query=up&start=0&end=1&step=0".to_owned(),
        ),
    ] {
        let got = s.get(&format!("{path}?{params}"));
        let posted = s.post_form(path, &params);
        assert_eq!(got, posted, "{path}?{params}");
    }
    // A form value wins over the same one in the query string, as in Prometheus.
    let (st, body) = s.post_form("/api/v1/series?match%5B%5D=absent", "match%5B%5D=up");
    assert_eq!(st, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"], up_series());
}

#[test]
fn bearer_token_is_required_except_for_health() {
    let s = TestServer::start_with(|c| c.bearer_token = Some("s3cret".into()));
    for path in ["/api/v1/labels", "/api/v1/status/buildinfo", "/api/v1/nope"] {
        let (st, body) = s.get(path);
        assert_eq!((st, body.as_str()), (401, "Unauthorized\n"), "{path}");
    }
    assert_eq!(s.get("/-/healthy").0, 200);
    assert_eq!(s.get("/-/ready").0, 200);
    let wrong = s.with_token(Some("s3cre"));
    assert_eq!(wrong.get("/api/v1/labels").0, 401);
    assert_eq!(wrong.post_form("/api/v1/labels", "").0, 401);
    let right = wrong.with_token(Some("s3cret"));
    assert_eq!(right.json("/api/v1/labels", 200)["status"], "success");
    assert_eq!(right.post_form("/api/v1/labels", "").0, 200);
    assert_eq!(right.get("/api/v1/nope").0, 404);
}

/// A server with `refresh` over a store that a writer extends: the new series appears once
/// the snapshot is older than `refresh`, and not before.
fn write_new_series(s: &TestServer) {
    let w = Store::open(&s.dir, Config::default()).expect("writer beside the server");
    w.write(&[Sample::new("fresh_metric", &[("k", "v")], s.t0, 7.0)])
        .expect("write");
    w.close().expect("close");
}

#[test]
fn refresh_shows_data_written_after_the_open() {
    let s = TestServer::start_with(|c| c.refresh = Duration::from_millis(200));
    let names = || s.json("/api/v1/label/__name__/values", 200)["data"].clone();
    assert_eq!(names(), json!(["no_meta", "node_cpu_seconds_total", "up"]));
    write_new_series(&s);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        names(),
        json!(["fresh_metric", "no_meta", "node_cpu_seconds_total", "up"])
    );
    assert_eq!(
        s.json("/api/v1/series?match%5B%5D=fresh_metric", 200)["data"],
        json!([{"__name__": "fresh_metric", "k": "v"}])
    );
}

#[test]
fn snapshot_is_kept_within_the_refresh_interval() {
    let s = TestServer::start_with(|c| c.refresh = Duration::from_secs(3600));
    write_new_series(&s);
    assert_eq!(
        s.json("/api/v1/label/__name__/values", 200)["data"],
        json!(["no_meta", "node_cpu_seconds_total", "up"])
    );
}

#[test]
fn failed_reopen_keeps_the_old_snapshot() {
    let s = TestServer::start_with(|c| c.refresh = Duration::ZERO);
    let moved = s.dir.with_file_name("moved");
    std::fs::rename(&s.dir, &moved).expect("move the store away");
    assert_eq!(
        s.json("/api/v1/series?match%5B%5D=up", 200)["data"],
        up_series()
    );
    std::fs::rename(&moved, &s.dir).expect("move it back");
    write_new_series(&s);
    assert_eq!(
        s.json("/api/v1/series?match%5B%5D=fresh_metric", 200)["data"],
        json!([{"__name__": "fresh_metric", "k": "v"}])
    );
}

#[test]
fn non_loopback_addresses_and_bad_settings_are_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    crate::support::write_store(tmp.path(), crate::support::t0());
    let mut c = tierlog_server::ServerConfig::new(tmp.path());
    c.listen = "0.0.0.0:0".parse().unwrap();
    let e = rt.block_on(tierlog_server::serve(c.clone())).unwrap_err();
    assert!(matches!(e, tierlog_server::Error::NotLoopback(_)), "{e}");
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.bearer_token = Some(String::new());
    let e = rt.block_on(tierlog_server::serve(c.clone())).unwrap_err();
    assert!(matches!(e, tierlog_server::Error::Config(_)), "{e}");
    c.bearer_token = None;
    c.dir = tmp.path().join("absent");
    let e = rt.block_on(tierlog_server::serve(c)).unwrap_err();
    assert!(matches!(e, tierlog_server::Error::Store(_)), "{e}");
}
