//! The requests Grafana 9/10's Prometheus data source sends, as it sends them: "Save & test"
//! (build info, then `1+1` as a `POST` form with the time in float seconds), the query
//! editor's label and metric lists (`start`/`end` in whole seconds), and a panel's range
//! query as a `POST` form with float-second bounds and the step as `15` or `15s`. Each answer
//! is checked whole: status, content type and the exact JSON (timestamps as numbers in
//! seconds, values as strings).

use serde_json::{Value, json};

use crate::support::{TestServer, enc};

/// The content type of Grafana's `POST`s; its browser side adds `; charset=UTF-8`.
const FORM: &str = "application/x-www-form-urlencoded";

/// `method path` with a form body when `form` is given, as Grafana sends it: status,
/// content type and body.
fn send(s: &TestServer, method: &str, path: &str, form: Option<&str>) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}{path}", s.base);
    let resp = match (method, form) {
        ("GET", None) => agent.get(url).header("Accept", "application/json").call(),
        ("POST", Some(f)) => agent
            .post(url)
            .header("Accept", "application/json")
            .content_type(FORM)
            .send(f),
        other => panic!("not a Grafana request: {other:?}"),
    };
    let mut r = resp.expect("request");
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = r.body_mut().read_to_string().expect("body");
    (r.status().as_u16(), ct, body)
}

/// The answer to a Grafana request, which must be a JSON success with status 200.
fn success(s: &TestServer, method: &str, path: &str, form: Option<&str>) -> (String, Value) {
    let (status, ct, body) = send(s, method, path, form);
    assert_eq!(status, 200, "{method} {path} {form:?}: {body}");
    assert_eq!(ct, "application/json", "{method} {path}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    assert_eq!(v["status"], "success", "{path}: {body}");
    (body, v)
}

/// `t` ms as Grafana's float seconds: `1700000000.5`.
fn float_secs(ms: i64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

#[test]
fn save_and_test_build_info_and_1_plus_1() {
    let s = TestServer::start();
    let (_, v) = success(&s, "GET", "/api/v1/status/buildinfo", None);
    // Grafana reads `version` to tell Prometheus from Mimir/Cortex; no `features`.
    let d = v["data"].as_object().expect("data is an object");
    assert_eq!(d["version"], tierlog_server::PROMETHEUS_API_VERSION);
    assert!(!d.contains_key("features"));

    // The time Grafana sends: now in float seconds, with milliseconds.
    let t = s.t0 + 1_234;
    let (body, _) = success(
        &s,
        "POST",
        "/api/v1/query",
        Some(&format!("query=1%2B1&time={}", float_secs(t))),
    );
    assert_eq!(
        body,
        format!(
            r#"{{"status":"success","data":{{"resultType":"scalar","result":[{},"2"]}}}}"#,
            // A scalar's time with as few decimals as needed, as Prometheus writes it.
            float_secs(t).trim_end_matches('0')
        )
    );
    // From the browser (Grafana's frontend, or a proxy) with a charset.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(format!("{}/api/v1/query", s.base))
        .content_type(format!("{FORM}; charset=UTF-8"))
        .send(format!("query=1%2B1&time={}", float_secs(t)))
        .expect("request");
    assert_eq!(r.body_mut().read_to_string().expect("body"), body);
    // In Grafana's GET mode the same query goes in the query string.
    let (got, _) = success(
        &s,
        "GET",
        &format!("/api/v1/query?query=1%2B1&time={}", float_secs(t)),
        None,
    );
    assert_eq!(got, body);
}

#[test]
fn query_editor_label_and_metric_lists() {
    let s = TestServer::start();
    let (start, end) = (s.t0 / 1000 - 3600, s.t0 / 1000);
    let range = format!("start={start}&end={end}");
    let (_, v) = success(&s, "GET", &format!("/api/v1/labels?{range}"), None);
    assert_eq!(
        v,
        json!({"status": "success", "data": ["__name__", "cpu", "instance", "job", "mode"]})
    );
    let (_, v) = success(
        &s,
        "GET",
        &format!("/api/v1/label/__name__/values?{range}"),
        None,
    );
    assert_eq!(
        v,
        json!({"status": "success", "data": ["no_meta", "node_cpu_seconds_total", "up"]})
    );
    // The metrics browser: values of a label among the series of a selector.
    let (_, v) = success(
        &s,
        "GET",
        &format!(
            "/api/v1/label/instance/values?match%5B%5D={}&{range}",
            enc(r#"up{job="node"}"#)
        ),
        None,
    );
    assert_eq!(v, json!({"status": "success", "data": ["a", "b"]}));
    let want = json!({"status": "success", "data": [
        {"__name__": "up", "instance": "a", "job": "node"},
        {"__name__": "up", "instance": "b", "job": "node"},
    ]});
    let sel = enc(r#"up{job="node"}"#);
    for path in [
        format!("/api/v1/series?match%5B%5D={sel}&{range}"),
        // Brackets unencoded, as browsers leave them.
        format!("/api/v1/series?match[]={sel}&{range}"),
    ] {
        assert_eq!(success(&s, "GET", &path, None).1, want, "{path}");
    }
    let (_, v) = success(&s, "GET", "/api/v1/metadata", None);
    assert_eq!(
        v,
        json!({"status": "success", "data": {
            "no_meta": [{"type": "unknown", "help": "", "unit": ""}],
            "node_cpu_seconds_total": [{"type": "counter", "help": "Seconds the CPUs spent in each mode.", "unit": "seconds"}],
            "up": [{"type": "gauge", "help": "1 when the target is up.", "unit": ""}],
        }})
    );
}

#[test]
fn panel_range_query_as_a_post_form() {
    let s = TestServer::start();
    // Points of `node_cpu_seconds_total{mode="idle"}` every 15 s up to t0: 0, 10, 20, 30, 40.
    // Bounds half a second off the samples: the steps and the answer's timestamps are
    // fractional, each step sees the sample before it.
    let start = s.t0 - 45_500;
    let end = s.t0 - 500;
    let expr = enc(r#"node_cpu_seconds_total{mode="idle"}"#);
    // A matrix's timestamps with three decimals, as Prometheus writes them (`.500`).
    let secs = float_secs;
    let want = format!(
        r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{"__name__":"node_cpu_seconds_total","cpu":"0","mode":"idle"}},"values":[[{},"0"],[{},"10"],[{},"20"],[{},"30"]]}}]}}}}"#,
        secs(start),
        secs(start + 15_000),
        secs(start + 30_000),
        secs(end),
    );
    for step in ["15", "15s", "15.0"] {
        let form = format!(
            "query={expr}&start={}&end={}&step={step}",
            float_secs(start),
            float_secs(end)
        );
        let (body, _) = success(&s, "POST", "/api/v1/query_range", Some(&form));
        assert_eq!(body, want, "step={step}");
    }
    // A rate over the counter, whole-second bounds as Grafana aligns them to the step.
    let (t1, t2) = (s.t0 / 1000 - 30, s.t0 / 1000);
    let form = format!(
        "query={}&start={t1}&end={t2}&step=15",
        enc(r#"sum by (mode) (rate(node_cpu_seconds_total{mode="user"}[1m]))"#)
    );
    let (_, v) = success(&s, "POST", "/api/v1/query_range", Some(&form));
    assert_eq!(v["data"]["resultType"], "matrix");
    let result = v["data"]["result"].as_array().expect("result");
    assert_eq!(result.len(), 1, "{v}");
    assert_eq!(result[0]["metric"], json!({"mode": "user"}));
    let values = result[0]["values"].as_array().expect("values");
    let times: Vec<i64> = values
        .iter()
        .map(|p| p[0].as_i64().expect("whole seconds"))
        .collect();
    assert_eq!(times, [t1, t1 + 15, t2]);
    // 2.5 per 15 s; the first steps' windows start before the counter (at 0), so
    // Prometheus does not extrapolate them to the window's start.
    let rates: Vec<&Value> = values.iter().map(|p| &p[1]).collect();
    assert_eq!(
        rates,
        [
            &json!("0.08333333333333333"),
            &json!("0.125"),
            &json!("0.16666666666666666")
        ],
        "{v}"
    );
}

#[test]
fn panel_errors_are_prometheus_envelopes() {
    let s = TestServer::start();
    let (status, ct, body) = send(
        &s,
        "POST",
        "/api/v1/query_range",
        Some("query=rate(up%5B1m%5D&start=1&end=2&step=15"),
    );
    assert_eq!((status, ct.as_str()), (400, "application/json"), "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["status"], "error");
    assert_eq!(v["errorType"], "bad_data");
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()));
}
