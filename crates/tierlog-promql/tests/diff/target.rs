//! What a query is sent to: the real Prometheus over HTTP, tierlog in process, or
//! `tierlog serve` over HTTP. Every target answers with the `data` object of Prometheus'
//! API, or the error message.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json, json};
use tierlog_promql::{Options, Value};

use super::compare::{format_value, perturb};

/// One engine under comparison. Times and steps are milliseconds.
pub trait Target {
    fn name(&self) -> String;
    fn query_range(&self, expr: &str, start: i64, end: i64, step: i64) -> Result<Json, String>;
    fn query(&self, expr: &str, time: i64) -> Result<Json, String>;
}

/// Seconds as the API takes them: `1700000000.5`.
pub fn secs(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    format!("{sign}{}.{:03}", a / 1000, a % 1000)
}

/// Whole seconds as an integer (`1700000000`, as Grafana sends them), others as [`secs`].
fn secs_short(ms: i64) -> String {
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        secs(ms)
    }
}

/// A step as a Prometheus duration: `15s`, `1500ms`.
fn duration(ms: i64) -> String {
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// How an [`HttpApi`] sends its queries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Requests {
    /// Every query as `POST` with a form body, times and steps as `1700000000.000` (what
    /// promtool and Grafana's default send).
    Post,
    /// Queries in turn as that `POST` and as `GET` with the parameters in the query string,
    /// whole seconds as integers and the step as a duration (`15s`), so that both forms of
    /// every endpoint are compared.
    Alternate,
}

/// A Prometheus-compatible HTTP API at `base` (`http://127.0.0.1:PORT`): the real
/// Prometheus, or `tierlog serve`.
pub struct HttpApi {
    pub base: String,
    agent: ureq::Agent,
    requests: Requests,
    sent: std::sync::atomic::AtomicUsize,
}

impl HttpApi {
    pub fn new(base: String) -> HttpApi {
        HttpApi::with_requests(base, Requests::Post)
    }

    pub fn with_requests(base: String, requests: Requests) -> HttpApi {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        HttpApi {
            base,
            agent,
            requests,
            sent: Default::default(),
        }
    }

    /// The same API asked by an agent whose time limits are per phase of a call (connect,
    /// send, receive) instead of one over the whole call. With a limit that covers resolving
    /// the host, ureq resolves it on a thread of its own at every call, keep-alive or not:
    /// a thread started and joined per query (about 80 µs on the 2-vCPU machine), which Go's
    /// clients (Grafana's, promtool's) do not pay.
    #[allow(dead_code)] // The HTTP bench's option; the tests keep the whole-call limit.
    pub fn without_resolver_thread(&mut self) {
        let limit = Some(Duration::from_secs(60));
        self.agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(limit)
            .timeout_send_request(limit)
            .timeout_send_body(limit)
            .timeout_recv_response(limit)
            .timeout_recv_body(limit)
            .build()
            .into();
    }

    /// Whether the next query goes as `GET`.
    fn next_is_get(&self) -> bool {
        let n = self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.requests == Requests::Alternate && n % 2 == 1
    }

    /// `path` with the parameters `form`, as `GET` or as a `POST` form: the answer's `data`,
    /// or `<errorType>: <error>`.
    pub fn call(&self, path: &str, form: &[(&str, &str)], get: bool) -> Result<Json, String> {
        let (_, text) = self.raw(path, form, get)?;
        let body: Json =
            serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))?;
        if body["status"] == "success" {
            Ok(body["data"].clone())
        } else {
            Err(format!(
                "{}: {}",
                body["errorType"].as_str().unwrap_or("?"),
                body["error"].as_str().unwrap_or(&text)
            ))
        }
    }
}

impl HttpApi {
    /// `path` with the parameters `form`, as `GET` or as a `POST` form: the status and the
    /// body as sent.
    pub fn raw(
        &self,
        path: &str,
        form: &[(&str, &str)],
        get: bool,
    ) -> Result<(u16, String), String> {
        let url = format!("{}{path}", self.base);
        let resp = if get {
            self.agent.get(url).query_pairs(form.iter().copied()).call()
        } else {
            self.agent.post(url).send_form(form.iter().copied())
        };
        let mut resp = resp.map_err(|e| format!("HTTP: {e}"))?;
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("HTTP body: {e}"))?;
        Ok((resp.status().as_u16(), text))
    }
}

impl Target for HttpApi {
    fn name(&self) -> String {
        format!("HTTP API at {}", self.base)
    }

    fn query_range(&self, expr: &str, start: i64, end: i64, step: i64) -> Result<Json, String> {
        let get = self.next_is_get();
        let (start, end, step) = if get {
            (secs_short(start), secs_short(end), duration(step))
        } else {
            (secs(start), secs(end), secs(step))
        };
        self.call(
            "/api/v1/query_range",
            &[
                ("query", expr),
                ("start", &start),
                ("end", &end),
                ("step", &step),
            ],
            get,
        )
    }

    fn query(&self, expr: &str, time: i64) -> Result<Json, String> {
        let get = self.next_is_get();
        let t = if get { secs_short(time) } else { secs(time) };
        self.call("/api/v1/query", &[("query", expr), ("time", &t)], get)
    }
}

/// The real Prometheus serving a TSDB directory; killed on drop.
pub struct Prometheus {
    child: Child,
    pub api: HttpApi,
    log: std::path::PathBuf,
}

pub const PROMETHEUS: &str = "/usr/bin/prometheus";
pub const PROMTOOL: &str = "/usr/bin/promtool";

/// For a bench's `main`: the repetitions (`TIERLOG_BENCH_REPS`, default 5), or `None` when the
/// bench should not run — `cargo test --benches` runs it without `--bench`, and without the
/// Debian package's binaries it says it skips.
#[allow(dead_code)] // The benches call it; the tests that share this module do not.
pub fn bench_setup() -> Option<usize> {
    if !std::env::args().any(|a| a == "--bench") {
        return None;
    }
    for bin in [PROMETHEUS, PROMTOOL] {
        if !std::path::Path::new(bin).exists() {
            println!("SKIPPED: {bin} is absent (install the Debian package `prometheus`)");
            return None;
        }
    }
    let reps = std::env::var("TIERLOG_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    Some(reps)
}

/// The median of `v` (sorted in place by `f64::total_cmp`; the mean of the middle two when
/// the length is even); NaN when `v` is empty.
#[allow(dead_code)] // The benches call it; the tests that share this module do not.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl Prometheus {
    /// Starts Prometheus on `db` (with no scrape jobs) on a free loopback port and waits
    /// until it is ready. `work` holds its configuration and log.
    pub fn start(bin: &str, db: &Path, work: &Path) -> Result<Prometheus, String> {
        let config = work.join("prometheus.yml");
        std::fs::write(&config, "global: {}\n").map_err(|e| e.to_string())?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let log = work.join("prometheus.log");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", db.display()))
            .arg("--storage.tsdb.retention.time=100y")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("starting {bin}: {e}"))?;
        let mut p = Prometheus {
            child,
            api: HttpApi::new(format!("http://127.0.0.1:{port}")),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = p
                .api
                .agent
                .get(format!("{}/-/ready", p.api.base))
                .call()
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return Ok(p);
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                return Err(format!("prometheus exited ({status}): {}", p.log_text()));
            }
            if Instant::now() > deadline {
                return Err(format!("prometheus not ready after 60 s: {}", p.log_text()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Target for Prometheus {
    fn name(&self) -> String {
        format!("Prometheus at {}", self.api.base)
    }
    fn query_range(&self, expr: &str, start: i64, end: i64, step: i64) -> Result<Json, String> {
        self.api.query_range(expr, start, end, step)
    }
    fn query(&self, expr: &str, time: i64) -> Result<Json, String> {
        self.api.query(expr, time)
    }
}

/// `tierlog_promql` in process over a store.
pub struct InProcess {
    pub store: tierlog::Store,
    pub opts: Options,
}

/// A [`Value`] as Prometheus' API shapes it.
pub fn to_json(v: &Value) -> Json {
    let labels = |l: &tierlog_promql::Labels| {
        let m: Map<String, Json> = l
            .iter()
            .map(|(k, v)| (k.to_owned(), Json::String(v.to_owned())))
            .collect();
        Json::Object(m)
    };
    let pt = |t: i64, v: f64| json!([t as f64 / 1000.0, format_value(v)]);
    match v {
        Value::Scalar { t, v } => json!({"resultType": "scalar", "result": pt(*t, *v)}),
        Value::String { t, s } => {
            json!({"resultType": "string", "result": [*t as f64 / 1000.0, s]})
        }
        Value::Vector(samples) => {
            let r: Vec<Json> = samples
                .iter()
                .map(|s| json!({"metric": labels(&s.labels), "value": pt(s.t, s.v)}))
                .collect();
            json!({"resultType": "vector", "result": r})
        }
        Value::Matrix(series) => {
            let r: Vec<Json> = series
                .iter()
                .map(|s| {
                    let vals: Vec<Json> = s.points.iter().map(|&(t, v)| pt(t, v)).collect();
                    json!({"metric": labels(&s.labels), "values": vals})
                })
                .collect();
            json!({"resultType": "matrix", "result": r})
        }
    }
}

impl Target for InProcess {
    fn name(&self) -> String {
        "tierlog_promql in process".into()
    }

    fn query_range(&self, expr: &str, start: i64, end: i64, step: i64) -> Result<Json, String> {
        tierlog_promql::query_range(&self.store, expr, start, end, step, &self.opts)
            .map(|o| to_json(&o.value))
            .map_err(|e| e.to_string())
    }

    fn query(&self, expr: &str, time: i64) -> Result<Json, String> {
        tierlog_promql::query(&self.store, expr, time, &self.opts)
            .map(|o| to_json(&o.value))
            .map_err(|e| e.to_string())
    }
}

/// Another target's answers with their first value changed (for the harness' self-check:
/// every such change must be caught).
pub struct Perturbed<'a>(pub &'a dyn Target);

impl Target for Perturbed<'_> {
    fn name(&self) -> String {
        format!("{} (first value perturbed)", self.0.name())
    }
    fn query_range(&self, expr: &str, start: i64, end: i64, step: i64) -> Result<Json, String> {
        self.0
            .query_range(expr, start, end, step)
            .map(|d| perturb(&d).unwrap_or(d))
    }
    fn query(&self, expr: &str, time: i64) -> Result<Json, String> {
        self.0.query(expr, time).map(|d| perturb(&d).unwrap_or(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierlog_promql::{Labels, Sample, Series};

    #[test]
    fn values_are_shaped_as_the_api_does() {
        let l = Labels::new([("__name__", "up"), ("job", "a")]);
        let v = Value::Vector(vec![Sample {
            labels: l.clone(),
            t: 1_700_000_000_500,
            v: f64::NEG_INFINITY,
        }]);
        assert_eq!(
            to_json(&v),
            json!({"resultType": "vector", "result": [
                {"metric": {"__name__": "up", "job": "a"}, "value": [1700000000.5, "-Inf"]}]})
        );
        let m = Value::Matrix(vec![Series {
            labels: l,
            points: vec![(1_700_000_000_000, 0.1)],
        }]);
        assert_eq!(
            to_json(&m)["result"][0]["values"],
            json!([[1700000000.0, "0.1"]])
        );
        assert_eq!(
            to_json(&Value::Scalar {
                t: 1000,
                v: f64::NAN
            }),
            json!({"resultType": "scalar", "result": [1.0, "NaN"]})
        );
        assert_eq!(secs(1_700_000_000_037), "1700000000.037");
        assert_eq!(secs_short(1_700_000_000_000), "1700000000");
        assert_eq!(secs_short(-1500), "-1.500");
        assert_eq!(secs(-20), "-0.020");
        assert_eq!(
            (duration(37_000), duration(1_500)),
            ("37s".into(), "1500ms".into())
        );
    }
}
