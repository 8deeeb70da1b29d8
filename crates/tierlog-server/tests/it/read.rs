//! Prometheus remote read (`POST /api/v1/read`): the samples response over HTTP, in read-only
//! and writable servers, its refusals, and a real Prometheus that reads the store through it
//! and answers PromQL as the store's own engine does.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use prost::Message;
use serde_json::Value;
use tierlog::{Config, Sample, Store};
use tierlog_prompb::{
    ChunkedReadResponse, LabelMatcher, MatchType, ProtoSample, Query, ReadRequest, ReadResponse,
    decode_snappy, encode_snappy,
};
use tierlog_server::ServerConfig;
use tierlog_testkit::prometheus::{RealPrometheus, prometheus_bin};

use crate::support::{TestServer, enc, serve_on_runtime};

const RR: &[(&str, &str)] = &[
    ("Content-Encoding", "snappy"),
    ("Content-Type", "application/x-protobuf"),
    ("X-Prometheus-Remote-Read-Version", "0.1.0"),
];

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// What a `POST` answered.
struct Answer {
    status: u16,
    content_type: String,
    content_encoding: String,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn response(&self) -> ReadResponse {
        assert_eq!(self.status, 200, "{}", self.text());
        assert_eq!(self.content_type, "application/x-protobuf");
        assert_eq!(self.content_encoding, "snappy");
        decode_snappy(&self.body).expect("a snappy-compressed ReadResponse")
    }
}

fn post(base: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut req = agent().post(format!("{base}/api/v1/read"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.send(body).expect("request");
    let header = |n: &str| {
        r.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let content_type = header("content-type");
    let content_encoding = header("content-encoding");
    Answer {
        status: r.status().as_u16(),
        content_type,
        content_encoding,
        body: r.body_mut().read_to_vec().expect("body"),
    }
}

fn matcher(t: MatchType, name: &str, value: &str) -> LabelMatcher {
    LabelMatcher {
        r#type: t as i32,
        name: name.into(),
        value: value.into(),
    }
}

fn request(queries: Vec<Query>) -> Vec<u8> {
    encode_snappy(&ReadRequest {
        queries,
        accepted_response_types: vec![],
    })
}

fn query(start: i64, end: i64, matchers: Vec<LabelMatcher>) -> Query {
    Query {
        start_timestamp_ms: start,
        end_timestamp_ms: end,
        matchers,
        hints: None,
    }
}

/// The answers of the test store (`support::write_store`: `up` every 15 s over the minute up
/// to t0) to a few queries.
fn check_samples_answers(base: &str, t0: i64) {
    let up_node = vec![
        matcher(MatchType::Eq, "__name__", "up"),
        matcher(MatchType::Eq, "job", "node"),
    ];
    let r = post(
        base,
        RR,
        &request(vec![
            // Exactly the minute: both ends inclusive.
            query(t0 - 60_000, t0, up_node.clone()),
            query(t0 - 59_999, t0 - 1, up_node.clone()),
            // Nothing there.
            query(t0 + 1, t0 + 3_600_000, up_node),
            query(
                t0 - 60_000,
                t0,
                vec![matcher(MatchType::Re, "__name__", "node_cpu_.*|no_meta")],
            ),
        ]),
    )
    .response();
    assert_eq!(r.results.len(), 4);
    let series = &r.results[0].timeseries;
    assert_eq!(series.len(), 2);
    let labels: Vec<Vec<(String, String)>> = series
        .iter()
        .map(|s| {
            s.labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect()
        })
        .collect();
    let l = |i: &str| {
        vec![
            ("__name__".to_owned(), "up".to_owned()),
            ("instance".to_owned(), i.to_owned()),
            ("job".to_owned(), "node".to_owned()),
        ]
    };
    assert_eq!(labels, [l("a"), l("b")]);
    let want: Vec<ProtoSample> = (0..5)
        .map(|k| ProtoSample {
            value: 1.0,
            timestamp: t0 - 60_000 + k * 15_000,
        })
        .collect();
    assert_eq!(series[0].samples, want);
    assert_eq!(series[1].samples.len(), 5);
    assert!(series[1].samples.iter().all(|s| s.value == 0.0));
    // The open range holds the three samples strictly inside.
    assert_eq!(r.results[1].timeseries[0].samples, want[1..4]);
    assert!(r.results[2].timeseries.is_empty());
    let names: Vec<&str> = r.results[3]
        .timeseries
        .iter()
        .map(|s| s.labels[0].value.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "no_meta",
            "node_cpu_seconds_total",
            "node_cpu_seconds_total"
        ]
    );
    let cpu = &r.results[3].timeseries[1];
    assert_eq!(
        cpu.samples.iter().map(|s| s.value).collect::<Vec<_>>(),
        [0.0, 10.0, 20.0, 30.0, 40.0]
    );
}

#[test]
fn remote_read_answers_raw_samples_read_only_and_writable() {
    let s = TestServer::start();
    check_samples_answers(&s.base, s.t0);
    let w = TestServer::start_with(|c| c.writable = true);
    check_samples_answers(&w.base, w.t0);
}

#[test]
fn remote_read_refuses_bad_requests_with_the_reason() {
    let s = TestServer::start();
    let garbage = post(&s.base, RR, b"not snappy at all");
    assert_eq!(garbage.status, 400, "{}", garbage.text());
    assert!(garbage.text().starts_with("snappy:"), "{}", garbage.text());
    let not_a_request = post(
        &s.base,
        RR,
        &snap::raw::Encoder::new()
            .compress_vec(&[0x0a, 0x05, 0x01])
            .unwrap(),
    );
    assert_eq!(not_a_request.status, 400);
    assert!(not_a_request.text().starts_with("protobuf:"));
    let bad_regex = post(
        &s.base,
        RR,
        &request(vec![query(
            0,
            s.t0,
            vec![matcher(MatchType::Re, "job", "(")],
        )]),
    );
    assert_eq!(bad_regex.status, 400);
    assert!(
        bad_regex.text().contains("invalid regex"),
        "{}",
        bad_regex.text()
    );
    let json = post(
        &s.base,
        &[("Content-Type", "application/json")],
        &request(vec![]),
    );
    assert_eq!(json.status, 415, "{}", json.text());
    let gzip = post(&s.base, &[("Content-Encoding", "gzip")], &request(vec![]));
    assert_eq!(gzip.status, 415, "{}", gzip.text());
    // A snappy header announcing 1 GiB once decompressed, and nothing else: refused from
    // the header.
    let bomb = post(&s.base, RR, &[0x80, 0x80, 0x80, 0x80, 0x04]);
    assert_eq!(bomb.status, 413, "{}", bomb.text());
    assert!(bomb.text().contains("1073741824"), "{}", bomb.text());
    // No queries: no results, still a valid answer.
    assert!(
        post(&s.base, RR, &request(vec![]))
            .response()
            .results
            .is_empty()
    );
    assert_eq!(s.status_of("GET", "/api/v1/read"), 405);
}

#[test]
fn remote_read_refuses_more_samples_than_the_limit() {
    // 6 series of 5 samples in the test store.
    let s = TestServer::start_with(|c| c.max_samples = 29);
    let all = vec![matcher(MatchType::Re, "__name__", ".+")];
    let r = post(&s.base, RR, &request(vec![query(0, s.t0, all.clone())]));
    assert_eq!(r.status, 400);
    assert!(
        r.text().starts_with("exceeded sample limit (29)"),
        "{}",
        r.text()
    );
    let ok = TestServer::start_with(|c| c.max_samples = 30);
    let r = post(&ok.base, RR, &request(vec![query(0, ok.t0, all)])).response();
    assert_eq!(r.results[0].timeseries.len(), 6);
}

#[test]
fn remote_read_needs_read_credentials() {
    let s = TestServer::start_with(|c| {
        c.read_token = Some("reader".into());
        c.write_token = Some("writer".into());
    });
    let body = request(vec![query(
        0,
        s.t0,
        vec![matcher(MatchType::Eq, "__name__", "up")],
    )]);
    assert_eq!(post(&s.base, RR, &body).status, 401);
    for token in ["reader", "writer"] {
        let auth = format!("Bearer {token}");
        let mut h = RR.to_vec();
        h.push(("Authorization", &auth));
        let r = post(&s.base, &h, &body).response();
        assert_eq!(r.results[0].timeseries.len(), 3, "{token}");
    }
}

// ---- A real Prometheus reading the store ---------------------------------------------------

/// Five series over four hours, every 15 s, up to `end`: three counters (one of them reset
/// half-way) and two gauges, values that are not round numbers.
fn write_history(dir: &Path, end: i64) -> i64 {
    let config = Config::default().with_raw_keep(Duration::from_secs(6 * 3600));
    let store = Store::open(dir, config).expect("open writer");
    let steps = 4 * 240;
    let start = end - (steps - 1) * 15_000;
    let mut counters = [0.0f64; 3];
    let mut batch = Vec::new();
    for k in 0..steps {
        let t = start + k * 15_000;
        for (i, c) in counters.iter_mut().enumerate() {
            *c += 0.25 * ((k as usize * (i + 3)) % 7) as f64 + 1.0 / (i + 3) as f64;
            if i == 1 && k == steps / 2 {
                *c = 0.5;
            }
        }
        const SERIES: [[(&str, &str); 3]; 3] = [
            [("job", "api"), ("instance", "a"), ("code", "200")],
            [("job", "api"), ("instance", "b"), ("code", "500")],
            [("job", "web"), ("instance", "c"), ("code", "200")],
        ];
        for (labels, c) in SERIES.iter().zip(counters) {
            batch.push(Sample::new("http_requests_total", labels, t, c));
        }
        let x = k as f64 / 17.0;
        batch.push(Sample::new(
            "temperature_celsius",
            &[("room", "x")],
            t,
            20.0 + x.sin() * 3.3,
        ));
        batch.push(Sample::new(
            "temperature_celsius",
            &[("room", "y")],
            t,
            18.5 + (x * 0.7).cos() * 1.1,
        ));
    }
    let sum = store.write(&batch).expect("write");
    assert_eq!(sum.accepted as usize, batch.len(), "{sum:?}");
    store.close().expect("close");
    start
}

/// A range or instant query's result as `labels -> [(t ms, value)]`.
fn result_map(data: &Value) -> BTreeMap<String, Vec<(i64, f64)>> {
    let mut out = BTreeMap::new();
    for s in data["result"].as_array().expect("a vector or matrix") {
        let labels: BTreeMap<String, String> = s["metric"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let values: Vec<&Value> = match s.get("values") {
            Some(v) => v.as_array().unwrap().iter().collect(),
            None => vec![&s["value"]],
        };
        let points = values
            .iter()
            .map(|v| {
                let t = (v[0].as_f64().unwrap() * 1000.0).round() as i64;
                let x: f64 = match v[1].as_str().unwrap() {
                    "NaN" => f64::NAN,
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    x => x.parse().unwrap(),
                };
                (t, x)
            })
            .collect();
        out.insert(format!("{labels:?}"), points);
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// A second Prometheus with an empty TSDB and `remote_read` (`read_recent: true`) to the
/// server answers PromQL over data only the store holds (four hours, twice Prometheus' own
/// retention here) exactly as the server's own engine does: the same series, timestamps and
/// values (within 1e-9 relative). Skipped, with a message, when the binary is absent.
#[test]
fn prometheus_remote_reads_the_store_and_answers_as_its_promql() {
    let Some(bin) = prometheus_bin() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let end = crate::support::t0();
    let start = write_history(&dir, end);
    let (rt, server, base) = serve_on_runtime(ServerConfig::new(&dir));

    let mut prometheus = RealPrometheus::start_bin(
        &bin,
        |_, _| {
            format!(
                "global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\n\
                 remote_read:\n  - url: {base}/api/v1/read\n    read_recent: true\n"
            )
        },
        &["--storage.tsdb.retention.time=2h"],
    );
    let prom = prometheus.base.clone();
    let get = |url: String| -> Value {
        let mut r = agent().get(&url).call().expect("request");
        let body = r.body_mut().read_to_string().unwrap();
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"));
        assert_eq!(v["status"], "success", "{url}: {v}");
        v["data"].clone()
    };
    let exprs = [
        "http_requests_total",
        r#"temperature_celsius{room=~"x|z"}"#,
        "rate(http_requests_total[5m])",
        "sum by (job) (rate(http_requests_total[5m]))",
        "avg_over_time(temperature_celsius[10m])",
        "increase(http_requests_total{code!=\"500\"}[15m])",
    ];
    let (from, to, step) = (start + 20 * 60_000, end, 60);
    let mut compared = 0usize;
    for e in exprs {
        let range = format!(
            "/api/v1/query_range?query={}&start={}&end={}&step={step}",
            enc(e),
            from / 1000,
            to / 1000
        );
        let instants: Vec<String> = [end, start + 30 * 60_000, end - 7_000]
            .iter()
            .map(|t| format!("/api/v1/query?query={}&time={}", enc(e), *t as f64 / 1000.0))
            .collect();
        for path in std::iter::once(&range).chain(&instants) {
            let theirs = result_map(&get(format!("{prom}{path}")));
            let ours = result_map(&get(format!("{base}{path}")));
            assert!(!ours.is_empty(), "{path}: the store answers nothing");
            assert_eq!(
                theirs.keys().collect::<Vec<_>>(),
                ours.keys().collect::<Vec<_>>(),
                "{path}: series differ"
            );
            for (k, o) in &ours {
                let p = &theirs[k];
                assert_eq!(
                    p.iter().map(|x| x.0).collect::<Vec<_>>(),
                    o.iter().map(|x| x.0).collect::<Vec<_>>(),
                    "{path} {k}: timestamps differ"
                );
                for (a, b) in p.iter().zip(o) {
                    assert!(
                        close(a.1, b.1),
                        "{path} {k} at {}: prometheus {} store {}",
                        a.0,
                        a.1,
                        b.1
                    );
                }
                compared += o.len();
            }
        }
    }
    prometheus.kill();
    // Prometheus' answers came through remote read (its own TSDB is empty).
    let mut m = agent().get(format!("{base}/metrics")).call().unwrap();
    let metrics = m.body_mut().read_to_string().unwrap();
    let reads = metrics
        .lines()
        .find(|l| {
            l.starts_with("tierlog_server_http_requests_total{")
                && l.contains("handler=\"/api/v1/read\"")
                && l.contains("code=\"200\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        reads >= exprs.len() as f64,
        "{reads} remote reads:\n{metrics}"
    );
    println!("compared {compared} points, {reads} remote reads");
    // Sizes of the two response types for the whole history.
    let all = vec![query(
        start,
        end,
        vec![matcher(MatchType::Re, "__name__", ".+")],
    )];
    let samples = post(&base, RR, &request(all.clone()));
    let n: usize = samples
        .response()
        .results
        .iter()
        .flat_map(|r| &r.timeseries)
        .map(|t| t.samples.len())
        .sum();
    assert_eq!(n, 5 * 960);
    let streamed = post(
        &base,
        RR,
        &encode_snappy(&ReadRequest {
            queries: all,
            accepted_response_types: vec![1],
        }),
    );
    assert_eq!(streamed.status, 200);
    println!(
        "{n} samples: SAMPLES answer {} bytes (snappy), STREAMED_XOR_CHUNKS answer {} bytes",
        samples.body.len(),
        streamed.body.len()
    );
    assert!(compared > 2500, "only {compared} points compared");
    let _ = rt.block_on(server.shutdown());
}

/// Prometheus 2.42 sends no response types; a client that lists SAMPLES gets them too.
#[test]
fn a_request_with_or_without_response_types_gets_samples() {
    let s = TestServer::start();
    for types in [vec![], vec![0]] {
        let req = ReadRequest {
            queries: vec![query(
                0,
                s.t0,
                vec![matcher(MatchType::Eq, "__name__", "up")],
            )],
            accepted_response_types: types,
        };
        let r = post(&s.base, RR, &encode_snappy(&req)).response();
        assert_eq!(r.results[0].timeseries.len(), 3);
    }
}

/// A client that prefers STREAMED_XOR_CHUNKS (as Prometheus 2.43 and later) gets frames of
/// `uvarint length, CRC-32C big endian, ChunkedReadResponse`, one series a frame, sorted by
/// labels, each chunk an XOR chunk whose header counts its samples.
#[test]
fn a_client_preferring_streamed_chunks_gets_frames() {
    let s = TestServer::start();
    let req = ReadRequest {
        queries: vec![
            query(
                s.t0 - 60_000,
                s.t0,
                vec![matcher(MatchType::Eq, "__name__", "up")],
            ),
            query(
                s.t0 - 60_000,
                s.t0 - 30_000,
                vec![matcher(MatchType::Eq, "__name__", "no_meta")],
            ),
        ],
        accepted_response_types: vec![1, 0],
    };
    let r = post(&s.base, RR, &encode_snappy(&req));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.content_type,
        "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"
    );
    assert_eq!(r.content_encoding, "");
    let mut body = r.body.as_slice();
    let mut seen = Vec::new();
    while !body.is_empty() {
        let (msg, rest) = tierlog_prompb::next_frame(body).expect("a frame, its CRC-32C right");
        let m = ChunkedReadResponse::decode(msg).expect("a ChunkedReadResponse");
        for cs in m.chunked_series {
            let labels: Vec<String> = cs
                .labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            assert_eq!(cs.chunks.len(), 1);
            let c = &cs.chunks[0];
            assert_eq!(c.r#type, 1, "XOR");
            let n = u16::from_be_bytes([c.data[0], c.data[1]]);
            seen.push((
                m.query_index,
                labels.join(","),
                n,
                c.min_time_ms,
                c.max_time_ms,
            ));
        }
        body = rest;
    }
    let (a, b) = (s.t0 - 60_000, s.t0);
    assert_eq!(
        seen,
        [
            (0, "__name__=up,instance=a,job=node".to_owned(), 5, a, b),
            (0, "__name__=up,instance=b,job=node".to_owned(), 5, a, b),
            (0, "__name__=up,instance=c,job=prom".to_owned(), 5, a, b),
            (1, "__name__=no_meta".to_owned(), 3, a, s.t0 - 30_000),
        ]
    );
}
