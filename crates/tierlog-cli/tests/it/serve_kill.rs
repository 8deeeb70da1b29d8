//! `tierlog serve --writable` as a real Prometheus 2.42's remote-write target, SIGKILLed
//! while batches flow and restarted on the same port and directory: every sample Prometheus
//! holds is in the store exactly as Prometheus has it, once, and `verify` is clean. Also that
//! a retried batch that was already durable is not written again.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tierlog_forward::proto::{Label, ProtoSample, TimeSeries, WriteRequest, encode_body};
use tierlog_testkit::prometheus::{RealPrometheus, prometheus_bin};

use crate::support::{s, tierlog};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// A `tierlog serve DIR --writable` process, killed if a test fails before it stops it.
struct Served {
    child: Child,
    base: String,
    // Kept open so the server never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Served {
    /// Starts it on `listen`; when it cannot bind (the port of a killed predecessor not free
    /// yet), tries again for up to 60 s.
    fn start(dir: &Path, listen: &str) -> Served {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let mut child = Command::new(env!("CARGO_BIN_EXE_tierlog"))
                .args(["serve", s(dir), "--writable", "--listen", listen])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start tierlog serve");
            let mut out = BufReader::new(child.stdout.take().expect("stdout"));
            let mut line = String::new();
            out.read_line(&mut line).expect("read the address");
            if let Some(base) = line.trim_end().strip_prefix("listening on ") {
                return Served {
                    base: base.to_owned(),
                    child,
                    _stdout: out,
                };
            }
            let status = child.wait().expect("wait");
            assert!(
                Instant::now() < end,
                "tierlog serve did not start within 60 s: {status:?}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        #[allow(unsafe_code)]
        let r = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(r, 0);
    }

    /// SIGKILL, and reaps it.
    fn kill(mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// SIGTERM; waits (up to 60 s) for it to exit, which must be a success.
    fn stop(mut self) {
        self.signal(libc::SIGTERM);
        let end = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                break st;
            }
            assert!(Instant::now() < end, "still running 60 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status:?}");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (nobody listens on it once this returns).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real Prometheus scraping itself and `tierlog_port` every second and remote-writing to
/// it, with one shard (so that its highest sent timestamp says everything older was sent).
struct Prometheus(RealPrometheus);

impl Prometheus {
    fn start(bin: &str, tierlog_port: u16) -> Prometheus {
        Prometheus(RealPrometheus::start_bin(
            bin,
            |_, port| {
                format!(
                    "global:
  scrape_interval: 1s
  evaluation_interval: 1h
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:{port}']
  - job_name: tierlog
    static_configs:
      - targets: ['127.0.0.1:{tierlog_port}']
remote_write:
  - url: http://127.0.0.1:{tierlog_port}/api/v1/write
    remote_timeout: 20s
    queue_config:
      min_shards: 1
      max_shards: 1
      batch_send_deadline: 500ms
      min_backoff: 100ms
      max_backoff: 1s
    metadata_config:
      send_interval: 2s
"
                )
            },
            &[],
        ))
    }

    fn log(&self) -> String {
        self.0.log_text()
    }

    /// The `data` of a successful API answer.
    fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let mut req = agent().get(format!("{}{path}", self.0.base));
        for (k, v) in params {
            req = req.query(k, v);
        }
        let text = req
            .call()
            .expect("prometheus api")
            .body_mut()
            .read_to_string()
            .unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["status"], "success", "{body}");
        body["data"].clone()
    }

    /// The sum over the series of metric `name` in Prometheus' own `/metrics` (0 when absent).
    fn own(&self, name: &str) -> f64 {
        let text = agent()
            .get(format!("{}/metrics", self.0.base))
            .call()
            .expect("prometheus /metrics")
            .body_mut()
            .read_to_string()
            .unwrap();
        text.lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Polls until `f` holds, up to `secs` seconds.
    fn wait_for(&self, what: &str, secs: u64, mut f: impl FnMut(&Prometheus) -> bool) {
        let end = Instant::now() + Duration::from_secs(secs);
        while !f(self) {
            assert!(
                Instant::now() < end,
                "prometheus: {what} not within {secs} s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A value of Prometheus' API as a float (`NaN`, `±Inf` included).
fn prom_value(v: &Value) -> f64 {
    match v.as_str().unwrap() {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        x => x.parse().unwrap(),
    }
}

/// A series as `name{k="v",…}` over its labels sorted by name, `__name__` left out.
fn key(name: &str, mut labels: Vec<(String, String)>) -> String {
    labels.sort();
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// The total size of the store's window logs.
fn wal_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("raw"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Every sample of the store's window logs as `(series id, ts ms) -> value bits of each
/// occurrence`, and how many window logs there were.
fn logged_samples(dir: &Path) -> (BTreeMap<(u32, i64), Vec<u64>>, usize) {
    use tierlog::format::header::FileKind;
    use tierlog::logfile::{self, Mode};
    let fs = tierlog::vfs::Fs::std();
    let mut out: BTreeMap<(u32, i64), Vec<u64>> = BTreeMap::new();
    let mut logs = 0;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join("raw"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    paths.sort();
    for p in paths {
        let Some(log) = logfile::load(&fs, &p, FileKind::WindowLog, Mode::Read).unwrap() else {
            continue;
        };
        logs += 1;
        for (_, payload) in log.payloads() {
            tierlog::wal::format::decode_record(payload, |x| {
                out.entry((x.series, x.ts_ms))
                    .or_default()
                    .push(x.value.to_bits())
            })
            .unwrap();
        }
    }
    (out, logs)
}

/// Prometheus 2.42 scrapes itself and the server every second and remote-writes to it; the
/// server is SIGKILLed while batches flow, stays down until Prometheus has retried, and
/// comes back on the same port and directory. Every sample Prometheus holds up to a cut is
/// then in the store exactly (per second: the mean of Prometheus' samples of that second, bit
/// for bit), no sample was logged twice (the batch the kill cut off, retried, is recognised
/// by its key), the store holds nothing else before the cut, Prometheus dropped nothing, and
/// `tierlog verify` is clean.
#[test]
fn prometheus_remote_write_survives_a_sigkill_of_the_server() {
    let Some(bin) = prometheus_bin() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let srv = Served::start(&dir, &listen);
    let prom = Prometheus::start(&bin, port);

    // Batches flow: some have been acknowledged, then a few more seconds of them.
    prom.wait_for("a first acknowledged batch", 120, |p| {
        p.own("prometheus_remote_storage_samples_total") > 0.0
    });
    std::thread::sleep(Duration::from_secs(10));
    let sent_before_kill = prom.own("prometheus_remote_storage_samples_total");
    let retried_before_kill = prom.own("prometheus_remote_storage_samples_retried_total");
    // The kill lands the moment a window log grows: a batch appended, being made durable or
    // answered (or, when none comes within 30 s, wherever).
    let grown = wal_bytes(&dir);
    let end = Instant::now() + Duration::from_secs(30);
    while wal_bytes(&dir) == grown && Instant::now() < end {
        std::thread::sleep(Duration::from_micros(200));
    }
    srv.kill();
    // Down until Prometheus has met the closed port and retried (at least 2 s).
    let down = Instant::now();
    prom.wait_for("a retry while the server is down", 120, |p| {
        p.own("prometheus_remote_storage_samples_retried_total") > retried_before_kill
    });
    if let Some(rest) = Duration::from_secs(2).checked_sub(down.elapsed()) {
        std::thread::sleep(rest);
    }
    let down_for = down.elapsed();
    let srv = Served::start(&dir, &listen);
    std::thread::sleep(Duration::from_secs(10));

    // Whole seconds before `cut` are compared, once the single shard has sent past it (its
    // samples go in the order of Prometheus' WAL, which is scrape order within a scrape's
    // duration).
    let cut = (now_ms() - 1000) / 1000 * 1000;
    prom.wait_for("the queue to send past the cut", 180, |p| {
        p.own("prometheus_remote_storage_queue_highest_sent_timestamp_seconds")
            >= (cut / 1000 + 3) as f64
    });
    let data = prom.api(
        "/api/v1/query",
        &[
            ("query", r#"{__name__=~".+"}[1h]"#),
            ("time", &format!("{:.3}", (cut - 1) as f64 / 1000.0)),
        ],
    );
    let sent = prom.own("prometheus_remote_storage_samples_total");
    let retried = prom.own("prometheus_remote_storage_samples_retried_total");
    let failed = prom.own("prometheus_remote_storage_samples_failed_total");
    let dropped = prom.own("prometheus_remote_storage_samples_dropped_total");
    let log = prom.log();
    drop(prom);
    // What the restarted server recognised as sent again (the batch the kill cut off, when
    // it had been made durable before the kill).
    let metrics = agent()
        .get(format!("{}/metrics", srv.base))
        .call()
        .expect("metrics")
        .body_mut()
        .read_to_string()
        .unwrap();
    let repeated: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tierlog_samples_repeated_total "))
        .expect("tierlog_samples_repeated_total in /metrics")
        .parse()
        .unwrap();
    srv.stop();

    assert!(
        !log.contains("non-recoverable error"),
        "prometheus dropped samples:\n{log}"
    );
    assert_eq!(failed, 0.0, "samples failed for good:\n{log}");
    assert_eq!(dropped, 0.0, "samples dropped:\n{log}");
    assert!(retried > retried_before_kill);

    let o = tierlog(&["verify", s(&dir)]);
    assert!(
        o.status.success(),
        "verify: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    // What the window logs hold. A batch the server made durable but whose answer the kill
    // cut off is retried with the same body, whose key the window's log holds: it is not
    // logged again (docs/serving.md, "A kill mid-stream, and retries").
    let (logged, logs) = logged_samples(&dir);
    let twice = logged.values().filter(|v| v.len() > 1).count();
    assert_eq!(
        twice, 0,
        "samples logged more than once (a retried batch written again)"
    );

    // Prometheus' raw samples before the cut, grouped per second: the store's point of a
    // second is their mean.
    let mut want: BTreeMap<String, Vec<(i64, f64, u32)>> = BTreeMap::new();
    let mut prom_samples = 0usize;
    for series in data["result"].as_array().unwrap() {
        let m = series["metric"].as_object().unwrap();
        let name = m["__name__"].as_str().unwrap();
        let labels = m
            .iter()
            .filter(|(k, _)| *k != "__name__")
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let mut points: Vec<(i64, f64, u32)> = Vec::new();
        for v in series["values"].as_array().unwrap() {
            let t = (v[0].as_f64().unwrap() * 1000.0).round() as i64;
            if t >= cut {
                continue;
            }
            prom_samples += 1;
            let x = prom_value(&v[1]);
            let sec = t.div_euclid(1000) * 1000;
            match points.last_mut() {
                Some(p) if p.0 == sec => {
                    p.1 += x;
                    p.2 += 1;
                }
                _ => points.push((sec, x, 1)),
            }
        }
        for p in &mut points {
            if p.2 > 1 {
                p.1 /= f64::from(p.2);
            }
        }
        want.insert(key(name, labels), points);
    }
    let store = tierlog::Store::open_read_only(&dir, tierlog::Config::default()).unwrap();
    let all: tierlog::Selector = r#"{__name__=~".+"}"#.parse().unwrap();
    let mut got: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for series in store.query(&all, 0, cut - 1).unwrap().series {
        let points: Vec<(i64, f64)> = series.points.into_iter().filter(|p| p.0 < cut).collect();
        if !points.is_empty() {
            got.insert(key(&series.metric, series.labels.to_pairs()), points);
        }
    }
    let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    let mut points = 0usize;
    let mut tierlog_points = 0usize;
    let mut multi = 0usize;
    for (k, w) in &want {
        let g = got.get(k).map_or(&[][..], |g| &g[..]);
        // A lost sample leaves a second out; a sample that is not Prometheus' adds one.
        let secs = |p: &[(i64, f64)]| p.iter().map(|p| p.0).collect::<Vec<_>>();
        let wsecs: Vec<i64> = w.iter().map(|p| p.0).collect();
        assert_eq!(secs(g), wsecs, "{k}: store {g:?}\nprometheus {w:?}");
        for (a, b) in g.iter().zip(w) {
            if b.2 > 1 {
                multi += 1;
            }
            assert!(
                same(a.1, b.1),
                "{k} at {}: store {}, prometheus {} ({} samples)",
                a.0,
                a.1,
                b.1,
                b.2
            );
        }
        points += w.len();
        if k.contains(r#"job="tierlog""#) {
            tierlog_points += w.len();
        }
    }
    for k in got.keys() {
        assert!(
            want.contains_key(k),
            "{k} is in the store, not in prometheus"
        );
    }
    assert!(want.len() > 100, "only {} series", want.len());
    assert!(points > 2000, "only {points} points compared");
    assert!(tierlog_points > 0, "none of the server's own series");
    let kill_errors = log
        .lines()
        .filter(|l| l.contains("retrying") && !l.contains("connection refused"))
        .count();
    let refused = log
        .lines()
        .filter(|l| l.contains("retrying") && l.contains("connection refused"))
        .count();
    println!(
        "compared {} series, {prom_samples} samples before the cut, {points} points \
         ({tierlog_points} of the server's own, {multi} of several samples); server down \
         {:.1} s; prometheus sent {sent} samples ({sent_before_kill} before the kill), \
         retried {retried}, failed {failed}, dropped {dropped}; its log: {kill_errors} \
         batches cut off by the kill, {refused} refused connections; window logs: {logs}, \
         {} (series, ms) samples, none logged twice; {repeated} samples recognised as sent \
         again by the restarted server",
        want.len(),
        down_for.as_secs_f64(),
        logged.len()
    );
}

fn remote_write(base: &str, req: &WriteRequest) -> u16 {
    let mut r = agent()
        .post(format!("{base}/api/v1/write"))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .send(&encode_body(req)[..])
        .expect("post");
    let _ = r.body_mut().read_to_string();
    r.status().as_u16()
}

fn series(name: &str, samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: vec![Label {
            name: "__name__".into(),
            value: name.into(),
        }],
        samples: samples
            .iter()
            .map(|&(timestamp, value)| ProtoSample { value, timestamp })
            .collect(),
    }
}

/// What a remote-write retry of a batch the store already made durable (its answer lost in
/// a kill) does: the request's body is its key, and each window's part of it is written
/// once. A second that held two samples, one of them in the retried batch, keeps their
/// mean; a *different* request carrying a sample the store holds is a new write.
#[test]
fn a_retried_remote_write_batch_is_written_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let srv = Served::start(&dir, "127.0.0.1:0");
    let t = (now_ms() - 60_000) / 1000 * 1000;
    let batch = WriteRequest {
        timeseries: vec![
            series("once", &[(t + 100, 0.1)]),
            series("two_samples", &[(t + 100, 1.0)]),
        ],
        metadata: vec![],
    };
    let later = WriteRequest {
        timeseries: vec![series("two_samples", &[(t + 600, 2.0)])],
        metadata: vec![],
    };
    let other = WriteRequest {
        timeseries: vec![
            series("once", &[(t + 100, 0.1)]),
            series("other", &[(t, 5.0)]),
        ],
        metadata: vec![],
    };
    let repeated = |req: &WriteRequest| {
        let r = agent()
            .post(format!("{}/api/v1/write", srv.base))
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .send(&encode_body(req)[..])
            .expect("post");
        assert_eq!(r.status().as_u16(), 204);
        let h = |n: &str| r.headers()[n].to_str().unwrap().parse::<u64>().unwrap();
        (
            h("x-tierlog-samples-written"),
            h("x-tierlog-samples-repeated"),
        )
    };
    assert_eq!(repeated(&batch), (2, 0));
    assert_eq!(repeated(&later), (1, 0));
    // The retry of `batch`, twice.
    assert_eq!(repeated(&batch), (0, 2));
    assert_eq!(repeated(&batch), (0, 2));
    srv.stop();
    // Keys outlive the process: they are in the window's log.
    let srv = Served::start(&dir, "127.0.0.1:0");
    assert_eq!(remote_write(&srv.base, &batch), 204);
    // Another request with a sample of `batch` in it is another write.
    assert_eq!(remote_write(&srv.base, &other), 204);
    srv.stop();
    let store = tierlog::Store::open_read_only(&dir, tierlog::Config::default()).unwrap();
    let point = |name: &str| {
        let r = store
            .query(&tierlog::Selector::metric(name), t, t + 1000)
            .unwrap();
        assert_eq!(r.series.len(), 1, "{name}");
        assert_eq!(r.series[0].points.len(), 1, "{name}");
        r.series[0].points[0]
    };
    assert_eq!(point("two_samples"), (t, 1.5));
    assert_eq!(point("once"), (t, 0.1));
    assert_eq!(point("other"), (t, 5.0));
    assert_eq!(
        store.stats().rejections.repeated,
        0,
        "a read-only open counts nothing"
    );
}
