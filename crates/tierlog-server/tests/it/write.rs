//! The write endpoints of `serve --writable`: remote-write, text exposition, line protocol,
//! their limits and refusals, and tierlog's own forwarder sending to them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tierlog::{Config, ManualClock, MetricKind, MetricMeta, Sample, Selector, Store};
use tierlog_forward::proto::{
    Label, MetricMetadata, MetricType, ProtoSample, TimeSeries, WriteRequest, encode_body,
};
use tierlog_forward::{ForwardConfig, Forwarder};
use tierlog_server::{Server, ServerConfig};
use tierlog_testkit::prometheus::{RealPrometheus, prometheus_bin};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// A writable server over a store in a temporary directory.
struct Writable {
    rt: tokio::runtime::Runtime,
    server: Option<Server>,
    base: String,
    dir: PathBuf,
    token: Option<String>,
    tmp: Option<tempfile::TempDir>,
}

impl Writable {
    fn start(f: impl FnOnce(&mut ServerConfig)) -> Writable {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("store");
        let mut config = ServerConfig::new(&dir);
        config.writable = true;
        f(&mut config);
        let (rt, server, base) = crate::support::serve_on_runtime(config);
        Writable {
            rt,
            server: Some(server),
            base,
            dir,
            token: None,
            tmp: Some(tmp),
        }
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into()
    }

    /// `POST path` with `body` and headers: status, headers, body.
    fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let mut req = Self::agent().post(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut r = req.send(body).expect("request");
        let header = |n: &str| {
            r.headers()
                .get(n)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let written = header("x-tierlog-samples-written");
        let refused = header("x-tierlog-samples-refused");
        let stale = header("x-tierlog-stale-markers-skipped");
        Answer {
            status: r.status().as_u16(),
            written,
            refused,
            stale,
            body: r.body_mut().read_to_string().expect("body"),
        }
    }

    fn remote_write(&self, req: &WriteRequest) -> Answer {
        self.post("/api/v1/write", RW_HEADERS, &encode_body(req))
    }

    fn get_json(&self, path: &str) -> Value {
        let mut req = Self::agent().get(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut r = req.call().expect("request");
        let body = r.body_mut().read_to_string().expect("body");
        assert_eq!(r.status().as_u16(), 200, "GET {path}: {body}");
        serde_json::from_str(&body).expect("json")
    }

    /// Stops the server, which closes the store; the store's directory.
    fn stop(mut self) -> (PathBuf, tempfile::TempDir) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown()).expect("shutdown");
        }
        // The router (and its store) is dropped with the serving task.
        (self.dir.clone(), self.tmp.take().expect("tmp"))
    }
}

impl Drop for Writable {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = self.rt.block_on(s.shutdown());
        }
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    written: String,
    refused: String,
    stale: String,
    body: String,
}

const RW_HEADERS: &[(&str, &str)] = &[
    ("Content-Encoding", "snappy"),
    ("Content-Type", "application/x-protobuf"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
    pairs
        .iter()
        .map(|(n, v)| Label {
            name: (*n).into(),
            value: (*v).into(),
        })
        .collect()
}

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels(pairs),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| ProtoSample { value, timestamp })
            .collect(),
    }
}

/// Every series of `store` with its raw points (values as bits, so NaN compares).
type Dump = Vec<(String, Vec<(String, String)>, Vec<(i64, u64)>)>;

fn dump(store: &Store, from: i64, to: i64) -> Dump {
    let r = store
        .query(&Selector::parse("{__name__=~\".+\"}").unwrap(), from, to)
        .expect("query the store");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    r.series
        .into_iter()
        .map(|s| {
            (
                s.metric,
                s.labels
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                s.points.iter().map(|&(t, v)| (t, v.to_bits())).collect(),
            )
        })
        .collect()
}

fn reopen(dir: &Path) -> Store {
    Store::open_read_only(dir, Config::default()).expect("reopen")
}

#[test]
fn remote_write_is_stored_readable_and_durable_with_its_metadata() {
    let srv = Writable::start(|_| {});
    let t = now_ms() / 1000 * 1000 - 30_000;
    let req = WriteRequest {
        timeseries: vec![
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("code", "200"),
                    ("job", "api"),
                ],
                &[(t, 10.0), (t + 1000, 12.0), (t + 2000, 15.5)],
            ),
            series(
                &[("__name__", "temp_celsius"), ("room", "a")],
                &[(t + 500, -3.25)],
            ),
        ],
        metadata: vec![
            MetricMetadata {
                r#type: MetricType::Counter as i32,
                metric_family_name: "http_requests_total".into(),
                help: "Requests served.".into(),
                unit: String::new(),
            },
            MetricMetadata {
                r#type: MetricType::Gauge as i32,
                metric_family_name: "temp_celsius".into(),
                help: "Temperature.".into(),
                unit: "celsius".into(),
            },
        ],
    };
    let a = srv.remote_write(&req);
    assert_eq!(a.status, 204, "{a:?}");
    assert_eq!((a.written.as_str(), a.refused.as_str()), ("4", "0"));

    // Readable at once through the API (no refresh).
    let v = srv.get_json(&format!(
        "/api/v1/query?query=http_requests_total&time={}",
        (t + 2000) as f64 / 1000.0
    ));
    let result = &v["data"]["result"];
    assert_eq!(result.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(result[0]["metric"]["code"], "200");
    assert_eq!(result[0]["metric"]["job"], "api");
    assert_eq!(result[0]["value"][1], "15.5");
    let meta = srv.get_json("/api/v1/metadata");
    assert_eq!(meta["data"]["http_requests_total"][0]["type"], "counter");
    assert_eq!(
        meta["data"]["http_requests_total"][0]["help"],
        "Requests served."
    );
    assert_eq!(meta["data"]["temp_celsius"][0]["type"], "gauge");
    assert_eq!(meta["data"]["temp_celsius"][0]["unit"], "celsius");

    // Durable: the store reopened after the server stopped holds exactly the samples.
    let (dir, _tmp) = srv.stop();
    let store = reopen(&dir);
    let want: Dump = vec![
        (
            "http_requests_total".into(),
            vec![("code".into(), "200".into()), ("job".into(), "api".into())],
            vec![
                (t, 10f64.to_bits()),
                (t + 1000, 12f64.to_bits()),
                (t + 2000, 15.5f64.to_bits()),
            ],
        ),
        (
            "temp_celsius".into(),
            vec![("room".into(), "a".into())],
            // Raw points are per second: a sample's time is its second's.
            vec![(t, (-3.25f64).to_bits())],
        ),
    ];
    assert_eq!(dump(&store, t - 1000, t + 10_000), want);
    let m = store.metrics();
    let temp = m.iter().find(|m| m.name == "temp_celsius").unwrap();
    assert_eq!(temp.meta.kind, MetricKind::Gauge);
    assert_eq!(temp.meta.description, "Temperature.");
}

#[test]
fn stale_markers_are_skipped_and_counted() {
    let srv = Writable::start(|_| {});
    let t = now_ms() / 1000 * 1000 - 10_000;
    let stale = f64::from_bits(tierlog_server::STALE_NAN_BITS);
    let a = srv.remote_write(&WriteRequest {
        timeseries: vec![series(
            &[("__name__", "up"), ("job", "x")],
            &[(t, 1.0), (t + 1000, stale), (t + 2000, f64::NAN)],
        )],
        metadata: vec![],
    });
    assert_eq!(a.status, 204, "{a:?}");
    assert_eq!((a.written.as_str(), a.stale.as_str()), ("2", "1"));
    let (dir, _tmp) = srv.stop();
    let d = dump(&reopen(&dir), t - 1000, t + 5000);
    // The ordinary NaN is a value and is kept; the stale marker is not.
    assert_eq!(d[0].2.len(), 2, "{d:?}");
    assert_eq!(d[0].2[0], (t, 1f64.to_bits()));
    assert_eq!(d[0].2[1].0, t + 2000);
    assert!(f64::from_bits(d[0].2[1].1).is_nan());
}

#[test]
fn malformed_bodies_and_wrong_types_are_refused_with_the_reason() {
    let srv = Writable::start(|_| {});
    let a = srv.post("/api/v1/write", RW_HEADERS, b"\xff\xff\xff\xff\xff\xff");
    assert_eq!(a.status, 400, "{a:?}");
    assert!(a.body.starts_with("snappy:"), "{}", a.body);
    // Valid snappy, not a WriteRequest (a length running past the end).
    let body = snap::raw::Encoder::new()
        .compress_vec(&[0x0a, 0x7f, 0x01])
        .unwrap();
    let a = srv.post("/api/v1/write", RW_HEADERS, &body);
    assert_eq!(a.status, 400, "{a:?}");
    assert!(a.body.starts_with("protobuf:"), "{}", a.body);
    // A series without a name.
    let a = srv.remote_write(&WriteRequest {
        timeseries: vec![series(&[("job", "x")], &[(now_ms(), 1.0)])],
        metadata: vec![],
    });
    assert_eq!(a.status, 400, "{a:?}");
    assert!(a.body.contains("no __name__ label"), "{}", a.body);
    // An invalid label name: the store's validation, naming the series.
    let a = srv.remote_write(&WriteRequest {
        timeseries: vec![series(
            &[("__name__", "m"), ("bad-name", "x")],
            &[(now_ms(), 1.0)],
        )],
        metadata: vec![],
    });
    assert_eq!(a.status, 400, "{a:?}");
    assert!(a.body.contains("series 0 of the request"), "{}", a.body);
    let a = srv.post(
        "/api/v1/write",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(a.status, 415, "{a:?}");
    let a = srv.post("/api/v1/write", &[("Content-Encoding", "gzip")], b"x");
    assert_eq!(a.status, 415, "{a:?}");
    let (dir, _tmp) = srv.stop();
    assert!(dump(&reopen(&dir), 0, i64::MAX / 2).is_empty());
}

#[test]
fn a_snappy_bomb_is_refused_from_its_header() {
    let srv = Writable::start(|_| {});
    // The snappy block header (a varint) claims 1 GiB; the rest is a few literal bytes.
    let mut body = Vec::new();
    let mut n: u64 = 1 << 30;
    while n >= 0x80 {
        body.push((n as u8) | 0x80);
        n >>= 7;
    }
    body.push(n as u8);
    body.extend_from_slice(&[0x00, b'x']);
    let a = srv.post("/api/v1/write", RW_HEADERS, &body);
    assert_eq!(a.status, 413, "{a:?}");
    assert!(a.body.contains("1073741824"), "{}", a.body);
}

#[test]
fn size_and_sample_limits_are_enforced() {
    let srv = Writable::start(|c| {
        c.write_limits.max_body_bytes = 1024;
        c.write_limits.max_samples = 3;
    });
    let a = srv.post("/api/v1/write", RW_HEADERS, &vec![0u8; 4096]);
    assert_eq!(a.status, 413, "{a:?}");
    let t = now_ms() - 10_000;
    let a = srv.remote_write(&WriteRequest {
        timeseries: vec![series(
            &[("__name__", "m")],
            &[(t, 1.0), (t + 1, 2.0), (t + 2, 3.0), (t + 3, 4.0)],
        )],
        metadata: vec![],
    });
    assert_eq!(a.status, 413, "{a:?}");
    let a = srv.post("/api/v1/import/prometheus", &[], b"a 1\nb 2\nc 3\nd 4\n");
    assert_eq!(a.status, 413, "{a:?}");
    assert!(a.body.contains("line 4"), "{}", a.body);
}

#[test]
fn samples_refused_by_the_time_rules_are_counted_and_answered_400() {
    let srv = Writable::start(|_| {});
    // Raw points are per second: whole seconds compare exactly.
    let now = now_ms() / 1000 * 1000;
    let a = srv.remote_write(&WriteRequest {
        timeseries: vec![series(
            &[("__name__", "m")],
            // 200 days old (older than any tier keeps), now, and a day ahead.
            &[
                (now - 200 * 86_400_000, 1.0),
                (now - 5000, 2.0),
                (now + 86_400_000, 3.0),
            ],
        )],
        metadata: vec![],
    });
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!((a.written.as_str(), a.refused.as_str()), ("1", "2"));
    assert!(
        a.body.contains("too old: 1, too far ahead: 1"),
        "{}",
        a.body
    );
    // The good sample was written.
    let (dir, _tmp) = srv.stop();
    let d = dump(&reopen(&dir), 0, now + 2 * 86_400_000);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].2, vec![(now - 5000, 2f64.to_bits())]);
}

#[test]
fn text_exposition_is_imported_exactly() {
    let srv = Writable::start(|_| {});
    let t = now_ms() / 1000 * 1000 - 20_000;
    let body = format!(
        "# HELP jobs_total Jobs done.\n\
         # TYPE jobs_total counter\n\
         jobs_total{{queue=\"a\",prio=\"1\"}} 7 {t}\n\
         jobs_total{{queue=\"b\"}} 1.5e3 {}\n\
         # TYPE queue_depth gauge\n\
         queue_depth 4\n",
        t + 1000
    );
    let before = now_ms();
    let a = srv.post(
        "/api/v1/import/prometheus",
        &[("Content-Type", "text/plain; version=0.0.4")],
        body.as_bytes(),
    );
    let after = now_ms();
    assert_eq!(a.status, 204, "{a:?}");
    assert_eq!(a.written, "3");
    // A bad line: 400 naming it, nothing of the body written.
    let a = srv.post(
        "/api/v1/import/prometheus",
        &[],
        b"ok_metric 1\nok_metric{a=\"b\" 2\n",
    );
    assert_eq!(a.status, 400, "{a:?}");
    assert!(a.body.starts_with("line 2, column"), "{}", a.body);
    let (dir, _tmp) = srv.stop();
    let store = reopen(&dir);
    let d = dump(&store, t - 60_000, after + 60_000);
    let names: Vec<&str> = d.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["jobs_total", "jobs_total", "queue_depth"], "{d:?}");
    assert_eq!(
        d[0].1,
        [("prio".into(), "1".into()), ("queue".into(), "a".into())]
    );
    assert_eq!(d[0].2, [(t, 7f64.to_bits())]);
    assert_eq!(d[1].1, [("queue".into(), "b".into())]);
    assert_eq!(d[1].2, [(t + 1000, 1500f64.to_bits())]);
    // No timestamp: the server's clock when it read the line (a point per second).
    let (ts, v) = d[2].2[0];
    assert_eq!(d[2].2.len(), 1);
    assert!(
        ts >= before / 1000 * 1000 && ts <= after,
        "{ts} not in {before}..{after}"
    );
    assert_eq!(v, 4f64.to_bits());
    let m = store.metrics();
    let jobs = m.iter().find(|m| m.name == "jobs_total").unwrap();
    assert_eq!(jobs.meta.kind, MetricKind::Counter);
    assert_eq!(jobs.meta.description, "Jobs done.");
    assert!(!m.iter().any(|m| m.name == "ok_metric"));
}

#[test]
fn line_protocol_is_imported_exactly_with_its_precision() {
    let srv = Writable::start(|_| {});
    let t_s = now_ms() / 1000 - 20;
    // As Telegraf's influxdb output sends a batch: several lines, nanoseconds, db ignored.
    let body = format!(
        "cpu,host=web1,cpu=cpu0 usage_idle=97.5,usage_user=2.5 {ns}\n\
         mem,host=web1 used=1024i {ns2}\n",
        ns = t_s * 1_000_000_000,
        ns2 = (t_s + 1) * 1_000_000_000
    );
    let a = srv.post("/write?db=telegraf", &[], body.as_bytes());
    assert_eq!(a.status, 204, "{a:?}");
    assert_eq!(a.written, "3");
    // Seconds precision.
    let a = srv.post(
        "/write?db=x&precision=s",
        &[],
        format!("disk,dev=sda free=5 {}\n", t_s + 2).as_bytes(),
    );
    assert_eq!(a.status, 204, "{a:?}");
    // A bad line: 400 naming it, InfluxDB's error body.
    let a = srv.post("/write", &[], b"cpu value=1\ncpu,host value=2\n");
    assert_eq!(a.status, 400, "{a:?}");
    let err: Value = serde_json::from_str(&a.body).unwrap();
    assert!(
        err["error"].as_str().unwrap().starts_with("line 2, column"),
        "{err}"
    );
    let a = srv.post("/write?precision=h", &[], b"cpu value=1\n");
    assert_eq!(a.status, 400, "{a:?}");
    let (dir, _tmp) = srv.stop();
    let d = dump(&reopen(&dir), (t_s - 60) * 1000, (t_s + 60) * 1000);
    let got: Dump = d;
    let l = |p: &[(&str, &str)]| -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let t = t_s * 1000;
    let want: Dump = vec![
        (
            "cpu_usage_idle".into(),
            l(&[("cpu", "cpu0"), ("host", "web1")]),
            vec![(t, 97.5f64.to_bits())],
        ),
        (
            "cpu_usage_user".into(),
            l(&[("cpu", "cpu0"), ("host", "web1")]),
            vec![(t, 2.5f64.to_bits())],
        ),
        (
            "disk_free".into(),
            l(&[("dev", "sda")]),
            vec![(t + 2000, 5f64.to_bits())],
        ),
        (
            "mem_used".into(),
            l(&[("host", "web1")]),
            vec![(t + 1000, 1024f64.to_bits())],
        ),
    ];
    assert_eq!(got, want);
}

#[test]
fn a_read_only_server_refuses_writes() {
    let tmp = tempfile::tempdir().unwrap();
    Store::open(tmp.path(), Config::default())
        .unwrap()
        .close()
        .unwrap();
    let mut config = ServerConfig::new(tmp.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(tierlog_server::serve(config)).unwrap();
    let base = format!("http://{}", server.local_addr());
    for path in ["/api/v1/write", "/api/v1/import/prometheus", "/write"] {
        let mut r = Writable::agent()
            .post(format!("{base}{path}"))
            .send(&b"x 1\n"[..])
            .unwrap();
        let body = r.body_mut().read_to_string().unwrap();
        assert_eq!(r.status().as_u16(), 404, "{path}: {body}");
        assert!(body.contains("--writable"), "{path}: {body}");
    }
    rt.block_on(server.shutdown()).unwrap();
}

#[test]
fn a_second_writer_is_refused() {
    let srv = Writable::start(|_| {});
    let mut config = ServerConfig::new(&srv.dir);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.writable = true;
    let e = srv
        .rt
        .block_on(tierlog_server::serve(config))
        .expect_err("a second writer");
    assert!(
        matches!(
            e,
            tierlog_server::Error::Store(tierlog::Error::Locked { .. })
        ),
        "{e}"
    );
}

#[test]
fn writes_need_the_bearer_token_when_one_is_set() {
    let mut srv = Writable::start(|c| c.bearer_token = Some("s3cret".into()));
    let t = now_ms() - 5000;
    let req = WriteRequest {
        timeseries: vec![series(&[("__name__", "m")], &[(t, 1.0)])],
        metadata: vec![],
    };
    assert_eq!(srv.remote_write(&req).status, 401);
    assert_eq!(srv.post("/write", &[], b"m value=1\n").status, 401);
    assert_eq!(
        srv.post("/api/v1/import/prometheus", &[], b"m 1\n").status,
        401
    );
    srv.token = Some("wrong".into());
    assert_eq!(srv.remote_write(&req).status, 401);
    srv.token = Some("s3cret".into());
    assert_eq!(srv.remote_write(&req).status, 204);
    let (dir, _tmp) = srv.stop();
    assert_eq!(dump(&reopen(&dir), t - 1000, t + 1000).len(), 1);
}

/// tierlog's forwarder sending one store to another store's `serve --writable`: what
/// arrives equals what was sent, point for point, with the metadata.
#[test]
fn the_forwarder_loops_back_exactly() {
    let srv = Writable::start(|_| {});
    let src = tempfile::tempdir().unwrap();
    // The source's clock: a minute after its data, so every second is closed.
    let t0 = now_ms() / 1000 * 1000 - 600_000;
    let clock = Arc::new(ManualClock::new(t0 + 300_000));
    let config = Config {
        maintenance_interval: None,
        ..Config::default()
    }
    .with_clock(clock.clone());
    let store = Store::open(src.path(), config).unwrap();
    store
        .set_metric_meta(
            "disk_io_bytes_total",
            MetricMeta {
                kind: MetricKind::Counter,
                unit: "bytes".into(),
                description: "Bytes read and written.".into(),
            },
        )
        .unwrap();
    for i in 0..240i64 {
        let t = t0 + i * 1000;
        store
            .write(&[
                Sample::new(
                    "disk_io_bytes_total",
                    &[("dev", "sda"), ("dir", "read")],
                    t,
                    (i * 512) as f64,
                ),
                Sample::new("load1", &[("host", "a")], t + 250, 0.5 + i as f64 / 8.0),
                Sample::new("load1", &[("host", "b")], t + 750, -(i as f64) * 1e-3),
            ])
            .unwrap();
    }
    let mut fc = ForwardConfig::new(format!("{}/api/v1/write", srv.base));
    fc.clock = clock.clone();
    fc.max_batch_samples = 100;
    fc.max_attempts = Some(3);
    let mut f = Forwarder::open(src.path(), fc).unwrap();
    f.forward_once(&store, &AtomicBool::new(false)).unwrap();
    let stats = f.stats().clone();
    assert_eq!(stats.samples_sent, 720, "{stats:?}");
    assert_eq!(stats.samples_dropped, 0, "{stats:?}");
    let sent = dump(&store, t0 - 1000, t0 + 300_000);
    let (dir, _tmp) = srv.stop();
    let dst = reopen(&dir);
    let got = dump(&dst, t0 - 1000, t0 + 300_000);
    assert_eq!(got.len(), 3);
    for (g, s) in got.iter().zip(&sent) {
        assert_eq!((&g.0, &g.1, g.2.len()), (&s.0, &s.1, s.2.len()));
        for (a, &(t, v)) in g.2.iter().zip(&s.2) {
            // Protobuf (proto3) leaves a double equal to 0 out of the message, so -0.0 is
            // sent as nothing and decoded as +0.0, by Prometheus' own encoder too.
            let v = if v == (-0.0f64).to_bits() { 0 } else { v };
            assert_eq!(*a, (t, v), "{} {:?}", g.0, g.1);
        }
    }
    let m = dst.metrics();
    let io = m.iter().find(|m| m.name == "disk_io_bytes_total").unwrap();
    assert_eq!(io.meta.kind, MetricKind::Counter);
    assert_eq!(io.meta.unit, "bytes");
    assert_eq!(io.meta.description, "Bytes read and written.");
}

/// Prometheus (the Debian package's `/usr/bin/prometheus`, 2.42; `TIERLOG_PROMETHEUS=PATH`
/// names another) scrapes itself every second and remote-writes to `serve --writable` for
/// about 20 s: every sample Prometheus holds for its series up to a cut a few seconds before
/// the end (so that every queue has sent it) is in the store, exactly, per second; and its
/// metadata arrived. Skipped, with a message, when the binary is absent.
#[test]
fn prometheus_remote_writes_its_own_scrapes_exactly() {
    let Some(bin) = prometheus_bin() else {
        return;
    };
    let srv = Writable::start(|_| {});
    let mut prometheus = RealPrometheus::start_bin(
        &bin,
        |_, port| {
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1h\n\
                 scrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n\
                 remote_write:\n  - url: {}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n    metadata_config:\n      send_interval: 2s\n",
                srv.base
            )
        },
        &[],
    );
    let base = prometheus.base.clone();
    let api = |path: &str| -> Value {
        let mut r = Writable::agent()
            .get(format!("{base}{path}"))
            .call()
            .expect("prometheus api");
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(v["status"], "success", "{v}");
        v["data"].clone()
    };
    // Runs ~20 s of scrapes, then a few more seconds so every queue sends up to the cut.
    std::thread::sleep(Duration::from_secs(20));
    // Whole seconds before `cut` are compared.
    let cut = (now_ms() - 2000) / 1000 * 1000;
    std::thread::sleep(Duration::from_secs(6));
    let data = api(&format!(
        "/api/v1/query?query={}&time={}",
        enc("{job=\"self\"}[10m]"),
        (cut - 1) as f64 / 1000.0
    ));
    prometheus.kill();
    let log = prometheus.log_text();
    assert!(
        !log.contains("non-recoverable error"),
        "prometheus dropped samples:\n{log}"
    );
    // Prometheus' raw samples, grouped per second (the store's point is their mean).
    let mut want: std::collections::BTreeMap<String, Vec<(i64, f64)>> = Default::default();
    for s in data["result"].as_array().unwrap() {
        let m = s["metric"].as_object().unwrap();
        let name = m["__name__"].as_str().unwrap().to_owned();
        let mut labels: Vec<(String, String)> = m
            .iter()
            .filter(|(k, _)| *k != "__name__")
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        labels.sort();
        let mut points: Vec<(i64, f64, u32)> = Vec::new();
        for v in s["values"].as_array().unwrap() {
            let t = (v[0].as_f64().unwrap() * 1000.0).round() as i64;
            let x: f64 = match v[1].as_str().unwrap() {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                x => x.parse().unwrap(),
            };
            let sec = t.div_euclid(1000) * 1000;
            match points.last_mut() {
                Some(p) if p.0 == sec => {
                    p.1 += x;
                    p.2 += 1;
                }
                _ => points.push((sec, x, 1)),
            }
        }
        want.insert(
            format!("{name}{labels:?}"),
            points
                .into_iter()
                .map(|(t, s, n)| (t, s / n as f64))
                .collect(),
        );
    }
    assert!(
        want.len() > 50,
        "too few series from prometheus: {}",
        want.len()
    );
    let (dir, _tmp) = srv.stop();
    let store = reopen(&dir);
    let mut got: std::collections::BTreeMap<String, Vec<(i64, f64)>> = Default::default();
    for (name, labels, points) in dump(&store, 0, cut + 1) {
        got.insert(
            format!("{name}{labels:?}"),
            points
                .into_iter()
                .map(|(t, v)| (t, f64::from_bits(v)))
                .collect(),
        );
    }
    let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    let mut samples = 0;
    for (key, w) in &want {
        // The store's points of this series at or before the cut.
        let g: Vec<(i64, f64)> = got.get(key).cloned().unwrap_or_default();
        let g: Vec<(i64, f64)> = g.into_iter().filter(|p| p.0 < cut).collect();
        let w: Vec<(i64, f64)> = w.iter().copied().filter(|p| p.0 < cut).collect();
        assert_eq!(g.len(), w.len(), "{key}: store {g:?}\nprometheus {w:?}");
        for (a, b) in g.iter().zip(&w) {
            assert!(
                a.0 == b.0 && same(a.1, b.1),
                "{key}: store {a:?}, prometheus {b:?}"
            );
        }
        samples += w.len();
    }
    assert!(samples > 1000, "only {samples} samples compared");
    println!("compared {} series, {samples} points", want.len());
    // Metadata arrived (a counter of Prometheus' own).
    let m = store.metrics();
    let c = m
        .iter()
        .find(|m| m.name == "prometheus_http_requests_total")
        .expect("metric");
    assert_eq!(c.meta.kind, MetricKind::Counter);
    assert!(!c.meta.description.is_empty());
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Telegraf's `influxdb` output gzips its batches by default: they are read, within the
/// decompressed-size cap (a gzip bomb is stopped at the cap), and bad gzip is a 400.
#[test]
fn gzip_bodies_are_read_within_the_decompressed_cap() {
    let srv = Writable::start(|c| c.write_limits.max_decoded_bytes = 1 << 20);
    let t_s = now_ms() / 1000 - 10;
    let mut lp = String::new();
    for i in 0..50 {
        lp.push_str(&format!("net,iface=eth{i} rx=1{i}i {}\n", t_s));
    }
    let a = srv.post(
        "/write?precision=s",
        &[("Content-Encoding", "gzip")],
        &gzip(lp.as_bytes()),
    );
    assert_eq!(a.status, 204, "{a:?}");
    assert_eq!(a.written, "50");
    let a = srv.post(
        "/api/v1/import/prometheus",
        &[("Content-Encoding", "gzip")],
        &gzip(format!("gz_metric{{a=\"1\"}} 2.5 {}\n", t_s * 1000).as_bytes()),
    );
    assert_eq!(a.status, 204, "{a:?}");
    // 64 MiB of newlines, about 64 KiB compressed.
    let bomb = gzip(&vec![b'\n'; 64 << 20]);
    assert!(bomb.len() < 1 << 20);
    let a = srv.post("/write", &[("Content-Encoding", "gzip")], &bomb);
    assert_eq!(a.status, 413, "{a:?}");
    assert!(
        a.body.contains("decompresses to more than 1048576"),
        "{}",
        a.body
    );
    let a = srv.post("/write", &[("Content-Encoding", "gzip")], b"not gzip");
    assert_eq!(a.status, 400, "{a:?}");
    let (dir, _tmp) = srv.stop();
    let d = dump(&reopen(&dir), (t_s - 5) * 1000, (t_s + 5) * 1000);
    assert_eq!(d.len(), 51);
    let eth7 = d
        .iter()
        .find(|s| s.0 == "net_rx" && s.1 == [("iface".to_owned(), "eth7".to_owned())])
        .unwrap();
    assert_eq!(eth7.2, [(t_s * 1000, 17f64.to_bits())]);
    let gz = d.iter().find(|s| s.0 == "gz_metric").unwrap();
    assert_eq!(gz.2, [(t_s * 1000, 2.5f64.to_bits())]);
}

/// A client that sends its headers and then stalls gets 408 once the write timeout has
/// passed, which gives its place back: another write waiting for the only place is then
/// served (or, had it waited longer than its own timeout, answered 503), never left hanging.
#[test]
fn slow_clients_get_408_and_cannot_hold_a_place_for_ever() {
    use std::io::{Read, Write};
    let srv = Writable::start(|c| {
        c.write_limits.timeout = Duration::from_millis(800);
        c.write_limits.max_concurrency = 1;
    });
    let addr = srv.base.trim_start_matches("http://").to_owned();
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.write_all(b"POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nm value=1")
        .unwrap();
    // While the slow one holds the place (it is read until its timeout), another waits
    // for a place and gives up at its own timeout.
    std::thread::sleep(Duration::from_millis(200));
    let a = srv.post("/write", &[], b"m value=2\n");
    let mut answer = Vec::new();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 512];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = slow.read(&mut buf).unwrap();
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // The other request either waited out the slow one's place (503) or, if it came after
    // the slow one gave up, went through.
    assert!(a.status == 503 || a.status == 204, "{a:?}");
    if a.status == 503 {
        assert!(a.body.contains("too many write requests"), "{}", a.body);
    }
}
