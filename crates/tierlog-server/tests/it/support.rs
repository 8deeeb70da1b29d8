//! A small store, a server over it on 127.0.0.1:0 in its own runtime, and an HTTP client.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tierlog::{Config, MetricKind, MetricMeta, Sample, Store};
use tierlog_server::{Server, ServerConfig};

/// The newest sample time of [`write_store`]: a whole minute not long ago, so that the
/// store's default limits take the points.
pub fn t0() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    now / 60_000 * 60_000 - 60_000
}

/// Writes `up` (three series, a gauge with help), `node_cpu_seconds_total` (two series, a
/// counter in seconds) and `no_meta` (one series, no metadata) into a new store in `dir`,
/// points every 15 s over the minute up to `t0`.
pub fn write_store(dir: &Path, t0: i64) {
    let store = Store::open(dir, Config::default()).expect("open writer");
    store
        .set_metric_meta(
            "up",
            MetricMeta {
                kind: MetricKind::Gauge,
                unit: String::new(),
                description: "1 when the target is up.".into(),
            },
        )
        .expect("meta");
    store
        .set_metric_meta(
            "node_cpu_seconds_total",
            MetricMeta {
                kind: MetricKind::Counter,
                unit: "seconds".into(),
                description: "Seconds the CPUs spent in each mode.".into(),
            },
        )
        .expect("meta");
    for k in (0..5).rev() {
        let t = t0 - k * 15_000;
        let c = (4 - k) as f64;
        store
            .write(&[
                Sample::new("up", &[("job", "node"), ("instance", "a")], t, 1.0),
                Sample::new("up", &[("job", "node"), ("instance", "b")], t, 0.0),
                Sample::new("up", &[("job", "prom"), ("instance", "c")], t, 1.0),
                Sample::new(
                    "node_cpu_seconds_total",
                    &[("cpu", "0"), ("mode", "idle")],
                    t,
                    10.0 * c,
                ),
                Sample::new(
                    "node_cpu_seconds_total",
                    &[("cpu", "0"), ("mode", "user")],
                    t,
                    2.5 * c,
                ),
                Sample::new("no_meta", &[], t, 0.25),
            ])
            .expect("write");
    }
    store.close().expect("close");
}

/// A server running over a store in a temporary directory.
pub struct TestServer {
    rt: tokio::runtime::Runtime,
    server: Option<Server>,
    pub base: String,
    pub dir: PathBuf,
    pub t0: i64,
    _tmp: tempfile::TempDir,
    token: Option<String>,
}

impl TestServer {
    /// The test store and a server with default settings.
    pub fn start() -> TestServer {
        TestServer::start_with(|_| {})
    }

    /// The test store and a server with settings changed by `f`.
    pub fn start_with(f: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("store");
        let t0 = t0();
        write_store(&dir, t0);
        let mut config = ServerConfig::new(&dir);
        f(&mut config);
        let (rt, server, base) = serve_on_runtime(config);
        TestServer {
            rt,
            server: Some(server),
            base,
            dir,
            t0,
            _tmp: tmp,
            token: None,
        }
    }

    /// Sends this token with the requests from now on.
    pub fn with_token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(str::to_owned);
        self
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into()
    }

    fn finish(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, String) {
        let mut r = r.expect("request");
        let status = r.status().as_u16();
        (status, r.body_mut().read_to_string().expect("body"))
    }

    /// `GET path` (with its query string): status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        let mut req = Self::agent().get(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        Self::finish(req.call())
    }

    /// A request of any method without a body: status.
    pub fn status_of(&self, method: &str, path: &str) -> u16 {
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .body(())
            .unwrap();
        let mut r = Self::agent().run(req).expect("request");
        let _ = r.body_mut().read_to_string();
        r.status().as_u16()
    }

    /// `POST path` with a form body: status and body.
    pub fn post_form(&self, path: &str, form: &str) -> (u16, String) {
        let mut req = Self::agent()
            .post(format!("{}{path}", self.base))
            .content_type("application/x-www-form-urlencoded");
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        Self::finish(req.send(form))
    }

    /// `GET path`, which must answer `status`; the body as JSON.
    pub fn json(&self, path: &str, status: u16) -> Value {
        let (s, body) = self.get(path);
        assert_eq!(s, status, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = self.rt.block_on(s.shutdown());
        }
    }
}

/// `s` percent-encoded for a query string.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A two-worker runtime and a server started on it with `config` (on a free loopback port),
/// with its base URL.
pub fn serve_on_runtime(mut config: ServerConfig) -> (tokio::runtime::Runtime, Server, String) {
    config.listen = "127.0.0.1:0".parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(tierlog_server::serve(config)).expect("serve");
    let base = format!("http://{}", server.local_addr());
    (rt, server, base)
}
