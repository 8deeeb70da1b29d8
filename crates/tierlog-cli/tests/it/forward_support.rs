//! Helpers of the forwarder tests: a fake remote-write receiver on a std `TcpListener`
//! (decodes every request and checks it against the protocol), and a real Prometheus.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tierlog_forward::proto::{WriteRequest, decode_body};
use tierlog_testkit::prometheus::RealPrometheus;

/// One request as the fake receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: BTreeMap<String, String>,
    pub request: WriteRequest,
    /// The status answered.
    pub status: u16,
}

/// What the receiver answers: a scripted queue of statuses, then `default`.
#[derive(Debug)]
pub struct Script {
    pub queue: VecDeque<u16>,
    pub default: u16,
    /// Like Prometheus: a sample not newer than the series' last accepted one makes the
    /// whole request fail with 400 (and nothing of it is kept).
    pub strict: bool,
    /// The newest accepted timestamp per series (labels as text), for `strict`.
    pub newest: BTreeMap<String, i64>,
    /// Wait this long before answering.
    pub delay: Duration,
}

/// A fake receiver: answers each POST with the next scripted status and records it.
pub struct FakeReceiver {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub script: Arc<Mutex<Script>>,
    stop: Arc<AtomicBool>,
    port: u16,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeReceiver {
    pub fn start(script: &[u16], default: u16) -> FakeReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        Self::start_on(listener, script, default)
    }

    /// Starts on an existing listener (to come back up on the same port).
    pub fn start_on(listener: TcpListener, script: &[u16], default: u16) -> FakeReceiver {
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(Script {
            queue: script.iter().copied().collect(),
            default,
            strict: false,
            newest: BTreeMap::new(),
            delay: Duration::ZERO,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s, st) = (received.clone(), script.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // Bounded: stops when told, or after 10 minutes whatever happens.
            let end = std::time::Instant::now() + Duration::from_secs(600);
            while !st.load(Ordering::Relaxed) && std::time::Instant::now() < end {
                match listener.accept() {
                    Ok((conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        serve(conn, &r, &s);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeReceiver {
            url: format!("http://127.0.0.1:{port}/api/v1/write"),
            received,
            script,
            stop,
            port,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops listening (the port is closed: connections are refused).
    pub fn shutdown(mut self) -> Vec<Received> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.received.lock().unwrap().clone()
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for FakeReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves the requests of one connection (keep-alive).
fn serve(conn: TcpStream, received: &Mutex<Vec<Received>>, script: &Mutex<Script>) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let request_line = line.trim().to_owned();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').expect("header line");
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
        let len: usize = headers
            .get("content-length")
            .map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        assert!(request_line.starts_with("POST "), "{request_line}");
        check_wire(&snap::raw::Decoder::new().decompress_vec(&body).unwrap());
        let request = decode_body(&body).expect("a snappy-compressed WriteRequest");
        let (status, delay) = {
            let mut s = script.lock().unwrap();
            let mut status = s.queue.pop_front().unwrap_or(s.default);
            if s.strict && (200..300).contains(&status) {
                let mut newest = s.newest.clone();
                for ts in &request.timeseries {
                    let key = series_key(&ts.labels);
                    for sample in &ts.samples {
                        let last = newest.entry(key.clone()).or_insert(i64::MIN);
                        if sample.timestamp <= *last {
                            status = 400;
                        }
                        *last = sample.timestamp;
                    }
                }
                if status != 400 {
                    s.newest = newest;
                }
            }
            (status, s.delay)
        };
        std::thread::sleep(delay);
        received.lock().unwrap().push(Received {
            headers,
            request,
            status,
        });
        let reason = match status {
            200..=299 => "OK",
            400 => "Bad Request",
            429 => "Too Many Requests",
            _ => "Error",
        };
        let answer = format!("refused by the test receiver ({status})");
        let resp = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{answer}",
            answer.len()
        );
        if conn.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// A series' labels as `name=value,...`.
pub fn series_key(labels: &[tierlog_forward::proto::Label]) -> String {
    labels
        .iter()
        .map(|l| format!("{}={}", l.name, l.value))
        .collect::<Vec<_>>()
        .join(",")
}

/// Walks the protobuf wire format of a request body by its field numbers (independently
/// of the message structs): WriteRequest holds only fields 1 (TimeSeries) and 3
/// (MetricMetadata), TimeSeries 1 (Label) and 2 (Sample), Label 1 and 2 (strings), Sample
/// 1 (64-bit double) and 2 (varint), MetricMetadata 1 (varint), 2, 4 and 5 (strings).
pub fn check_wire(body: &[u8]) {
    for (field, wire, value) in fields(body) {
        match (field, wire) {
            (1, 2) => {
                for (f, w, v) in fields(value) {
                    match (f, w) {
                        (1, 2) => {
                            for (lf, lw, lv) in fields(v) {
                                assert!(
                                    matches!((lf, lw), (1, 2) | (2, 2)),
                                    "label field {lf}/{lw}"
                                );
                                std::str::from_utf8(lv).expect("label text");
                            }
                        }
                        (2, 2) => {
                            for (sf, sw, _) in fields(v) {
                                assert!(
                                    matches!((sf, sw), (1, 1) | (2, 0)),
                                    "sample field {sf}/{sw}"
                                );
                            }
                        }
                        other => panic!("TimeSeries field {other:?}"),
                    }
                }
            }
            (3, 2) => {
                for (f, w, _) in fields(value) {
                    assert!(
                        matches!((f, w), (1, 0) | (2, 2) | (4, 2) | (5, 2)),
                        "MetricMetadata field {f}/{w}"
                    );
                }
            }
            other => panic!("WriteRequest field {other:?}"),
        }
    }
}

/// (field number, wire type, payload) of each field of a message.
fn fields(mut b: &[u8]) -> Vec<(u64, u8, &[u8])> {
    fn varint(b: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = b[0];
            *b = &b[1..];
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return v;
            }
        }
        panic!("varint too long")
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        let (field, wire) = (key >> 3, (key & 7) as u8);
        let start = b;
        let len = match wire {
            0 => {
                varint(&mut b);
                start.len() - b.len()
            }
            1 => 8,
            2 => {
                let n = varint(&mut b) as usize;
                let v = &b[..n];
                b = &b[n..];
                out.push((field, wire, v));
                continue;
            }
            5 => 4,
            w => panic!("wire type {w}"),
        };
        let (v, rest) = start.split_at(len);
        out.push((field, wire, v));
        b = rest;
    }
    out
}

/// (labels as `name=value,...` sorted, timestamp ms) -> value bits, from what was received
/// with a 2xx; also checks each series' labels are sorted with `__name__` present and its
/// samples ascending, and that no (series, ts) came twice unless `allow_dupes`.
pub fn delivered(received: &[Received], allow_dupes: bool) -> BTreeMap<(String, i64), u64> {
    let mut out = BTreeMap::new();
    for r in received.iter().filter(|r| (200..300).contains(&r.status)) {
        for ts in &r.request.timeseries {
            let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted, "labels sorted by name");
            assert!(names.contains(&"__name__"));
            let key = series_key(&ts.labels);
            for w in ts.samples.windows(2) {
                assert!(w[0].timestamp < w[1].timestamp, "samples in time order");
            }
            for s in &ts.samples {
                let prev = out.insert((key.clone(), s.timestamp), s.value.to_bits());
                assert!(
                    allow_dupes || prev.is_none(),
                    "{key} at {} delivered twice",
                    s.timestamp
                );
            }
        }
    }
    out
}

/// A series as `name=value,…` over its labels sorted by name, `__name__` included (as
/// [`series_key`] keys a request's already sorted labels).
pub fn sorted_key(mut labels: Vec<(String, String)>) -> String {
    labels.sort();
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The store's raw points as `delivered` keys them.
pub fn store_points(store: &tierlog::Store) -> BTreeMap<(String, i64), u64> {
    let all: tierlog::Selector = r#"{__name__=~".+"}"#.parse().unwrap();
    let mut out = BTreeMap::new();
    for s in store.query(&all, 0, i64::MAX).unwrap().series {
        let mut labels: Vec<(String, String)> = s.labels.to_pairs();
        labels.push(("__name__".into(), s.metric.clone()));
        let key = sorted_key(labels);
        for (t, v) in s.points {
            out.insert((key.clone(), t), v.to_bits());
        }
    }
    out
}

/// A real Prometheus with the remote-write receiver on, on a free loopback port.
pub struct Prometheus(RealPrometheus);

impl Prometheus {
    /// `None` (after printing why) when the binary is absent.
    pub fn start() -> Option<Prometheus> {
        Self::start_with("")
    }

    /// [`Prometheus::start`] with `extra` appended to its configuration file (YAML), e.g. an
    /// out-of-order window: `storage:\n  tsdb:\n    out_of_order_time_window: 2h\n`.
    pub fn start_with(extra: &str) -> Option<Prometheus> {
        RealPrometheus::start(
            |_, _| format!("global:\n  scrape_interval: 1h\nscrape_configs: []\n{extra}"),
            &["--web.enable-remote-write-receiver"],
        )
        .map(Prometheus)
    }

    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.0.base)
    }

    /// GETs an API path with query parameters; the `data` of a successful answer.
    pub fn api(&self, path: &str, params: &[(&str, &str)]) -> serde_json::Value {
        let mut req = ureq::get(format!("{}{path}", self.0.base));
        for (k, v) in params {
            req = req.query(k, v);
        }
        let text = req
            .call()
            .expect("api call")
            .body_mut()
            .read_to_string()
            .unwrap();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["status"], "success", "{body}");
        body["data"].clone()
    }
}
