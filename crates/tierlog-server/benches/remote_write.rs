//! Remote-write ingest rate of a writable tierlog server against VictoriaMetrics 1.79's
//! receiver, on the same machine under the same load.
//!
//! `cargo bench -p tierlog-server --bench remote_write`. Skipped, saying so, when
//! `victoria-metrics` (the Debian package, or `$TIERLOG_VICTORIA_METRICS`) is absent; without
//! `--bench` (e.g. `cargo test --benches`) it does nothing.
//!
//! Load: `TIERLOG_BENCH_SENDERS` threads (default 8), each with its own HTTP/1.1 keep-alive
//! connection, send `TIERLOG_BENCH_REQUESTS` requests each (default 1250) one after the other:
//! remote-write 1.0 `WriteRequest`s, protobuf and snappy, each one host's 200
//! node_exporter-like series (CPU, network, filesystem, disk, memory) ×
//! `TIERLOG_BENCH_SAMPLES_PER_SERIES` samples (default 10) one second apart: 2000 samples.
//! Each sender has its own `TIERLOG_BENCH_HOSTS` hosts (default 50, so 10 000 series a sender,
//! 80 000 in all, and 20 M samples a run: 10–15 s on a loaded 2-vCPU machine), cycled through: as Prometheus' queue shards, a series is always sent by the same
//! sender, and its timestamps advance in time order from request to request. The bodies are
//! encoded before a run starts, so the client spends its CPU on HTTP only while measured.
//! Timestamps start 4 minutes before the run (within tierlog's open windows and its grace).
//!
//! Targets, alternately (`TIERLOG_BENCH_REPS` rounds, default 3), each on a fresh data
//! directory under `TIERLOG_BENCH_DIR` (default the system's temporary directory, which must
//! be a real disk for fsync to mean anything):
//! - tierlog: a separate process serving with the same code and configuration as
//!   `tierlog serve DIR --writable` (this bench binary run again in a server mode; or the CLI
//!   binary `$TIERLOG_BENCH_TIERLOG` itself): the store's default `Sync::EveryWrite`, so a 204
//!   means the samples are fsynced (concurrent requests share fsyncs);
//! - VictoriaMetrics: `victoria-metrics -retentionPeriod=100y` with `/api/v1/write`. It answers
//!   once the samples are in its in-memory buffers and flushes them to disk about every
//!   second: an acknowledged sample can be lost in a crash.
//!
//! Per run: samples/s (all samples / wall time from the first request to the last answer),
//! request latency p50/p99 (over all requests of the run), and the server process' CPU time
//! (utime + stime of `/proc/PID/stat` before and after) per million samples. After each run
//! the samples are counted in the store: tierlog's raw points and series (the server stopped,
//! the store opened read-only), VictoriaMetrics' raw samples (`count_over_time` over all
//! series after `/internal/force_flush`) and series (`/api/v1/series/count`); a run that lost
//! or refused any fails the bench. The summary gives the medians over the rounds and the
//! ratios tierlog / VictoriaMetrics.
//!
//! Before/after a change to the server: `TIERLOG_BENCH_BASELINE=<a copy of this bench's binary
//! built before it>` adds a third target, `baseline`, that binary serving, in the same rounds.
//!
//! For a profiler: `TIERLOG_BENCH_ONLY=tierlog` (or `victoria`) runs one target only and
//! `TIERLOG_BENCH_HOLD=1` prints the server's pid and waits for Enter before sending.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use tierlog_prompb::{Label, ProtoSample, TimeSeries, WriteRequest, encode_body};

/// The environment variable that makes this binary a server (its value: the store directory).
const SERVE_ENV: &str = "TIERLOG_RW_BENCH_SERVE";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .max(1)
}

#[derive(Debug, Clone)]
struct Params {
    senders: usize,
    requests: usize,
    samples_per_series: usize,
    series_per_host: usize,
    hosts: usize,
    reps: usize,
}

// ---- The data --------------------------------------------------------------------------------

/// A counter or a gauge, and its scale.
#[derive(Clone, Copy)]
enum Kind {
    Counter(f64),
    Gauge(f64),
}

/// A series of a host: name, labels without `instance` and `job`, kind.
type SeriesTemplate = (String, Vec<(&'static str, String)>, Kind);

/// One host's series, as node_exporter names them.
fn host_template() -> Vec<SeriesTemplate> {
    let mut out = Vec::new();
    for cpu in 0..8 {
        for mode in [
            "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
        ] {
            out.push((
                "node_cpu_seconds_total".to_owned(),
                vec![("cpu", cpu.to_string()), ("mode", mode.to_owned())],
                Kind::Counter(1.0),
            ));
        }
    }
    for dev in ["eth0", "eth1", "lo", "docker0"] {
        for dir in ["receive", "transmit"] {
            for (what, scale) in [
                ("bytes", 1e6),
                ("packets", 1e3),
                ("errs", 0.01),
                ("drop", 0.1),
            ] {
                out.push((
                    format!("node_network_{dir}_{what}_total"),
                    vec![("device", dev.to_owned())],
                    Kind::Counter(scale),
                ));
            }
        }
    }
    for (dev, fs, mnt) in [
        ("/dev/sda1", "ext4", "/"),
        ("/dev/sda2", "ext4", "/var"),
        ("/dev/sdb1", "xfs", "/data"),
        ("tmpfs", "tmpfs", "/run"),
        ("/dev/nvme0n1p1", "vfat", "/boot/efi"),
    ] {
        for (name, scale) in [
            ("avail_bytes", 1e10),
            ("free_bytes", 1e10),
            ("size_bytes", 1e11),
            ("files", 1e7),
            ("files_free", 1e7),
            ("readonly", 0.0),
        ] {
            out.push((
                format!("node_filesystem_{name}"),
                vec![
                    ("device", dev.to_owned()),
                    ("fstype", fs.to_owned()),
                    ("mountpoint", mnt.to_owned()),
                ],
                Kind::Gauge(scale),
            ));
        }
    }
    for dev in ["sda", "sdb", "nvme0n1", "nvme1n1"] {
        for (name, scale) in [
            ("reads_completed_total", 50.0),
            ("writes_completed_total", 80.0),
            ("read_bytes_total", 4e5),
            ("written_bytes_total", 8e5),
            ("io_time_seconds_total", 0.1),
            ("read_time_seconds_total", 0.05),
            ("write_time_seconds_total", 0.2),
            ("discards_completed_total", 1.0),
            ("flush_requests_total", 2.0),
        ] {
            out.push((
                format!("node_disk_{name}"),
                vec![("device", dev.to_owned())],
                Kind::Counter(scale),
            ));
        }
        out.push((
            "node_disk_io_now".to_owned(),
            vec![("device", dev.to_owned())],
            Kind::Gauge(4.0),
        ));
    }
    for name in [
        "Active",
        "Active_anon",
        "Active_file",
        "AnonHugePages",
        "AnonPages",
        "Bounce",
        "Buffers",
        "Cached",
        "CommitLimit",
        "Committed_AS",
        "DirectMap1G",
        "DirectMap2M",
        "DirectMap4k",
        "Dirty",
        "HugePages_Free",
        "HugePages_Rsvd",
        "HugePages_Surp",
        "HugePages_Total",
        "Hugepagesize",
        "Inactive",
        "Inactive_anon",
        "Inactive_file",
        "KernelStack",
        "Mapped",
        "MemAvailable",
        "MemFree",
        "MemTotal",
        "Mlocked",
        "PageTables",
        "SReclaimable",
        "SUnreclaim",
        "Shmem",
        "Slab",
        "SwapCached",
    ] {
        out.push((
            format!("node_memory_{name}_bytes"),
            Vec::new(),
            Kind::Gauge(1e9),
        ));
    }
    out
}

/// splitmix64: a deterministic stream of values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One series a sender owns: its labels (sorted, with `__name__`), kind and current value.
struct Series {
    labels: Vec<Label>,
    kind: Kind,
    value: f64,
}

/// The request bodies of each sender, and the number of distinct series.
fn encode_bodies(p: &Params, base_ms: i64) -> (Vec<Vec<Vec<u8>>>, usize) {
    let template = host_template();
    let mut all = Vec::with_capacity(p.senders);
    for sender in 0..p.senders {
        let mut rng = Rng(0x7277_6265 ^ sender as u64);
        let mut hosts: Vec<Vec<Series>> = (0..p.hosts)
            .map(|h| {
                let instance = format!("host-{sender:02}-{h:03}.example.net:9100");
                template
                    .iter()
                    .map(|(name, labels, kind)| {
                        let mut l: Vec<Label> = labels
                            .iter()
                            .map(|(k, v)| Label {
                                name: (*k).to_owned(),
                                value: v.clone(),
                            })
                            .collect();
                        l.push(Label {
                            name: "__name__".into(),
                            value: name.clone(),
                        });
                        l.push(Label {
                            name: "instance".into(),
                            value: instance.clone(),
                        });
                        l.push(Label {
                            name: "job".into(),
                            value: "node".into(),
                        });
                        l.sort_by(|a, b| a.name.cmp(&b.name));
                        let value = match *kind {
                            Kind::Counter(s) => (rng.unit() * 1e6 * s).round(),
                            Kind::Gauge(s) => (rng.unit() * s).round(),
                        };
                        Series {
                            labels: l,
                            kind: *kind,
                            value,
                        }
                    })
                    .collect()
            })
            .collect();
        let mut bodies = Vec::with_capacity(p.requests);
        for k in 0..p.requests {
            let (g, round) = (k % p.hosts, k / p.hosts);
            let mut req = WriteRequest::default();
            for s in &mut hosts[g] {
                let mut samples = Vec::with_capacity(p.samples_per_series);
                for j in 0..p.samples_per_series {
                    let ts = base_ms + ((round * p.samples_per_series + j) as i64) * 1000;
                    s.value = match s.kind {
                        Kind::Counter(scale) => s.value + (rng.unit() * 2.0 * scale).round(),
                        Kind::Gauge(0.0) => 0.0,
                        Kind::Gauge(scale) => {
                            (s.value + (rng.unit() - 0.5) * scale * 0.01).abs().round()
                        }
                    };
                    samples.push(ProtoSample {
                        value: s.value,
                        timestamp: ts,
                    });
                }
                req.timeseries.push(TimeSeries {
                    labels: s.labels.clone(),
                    samples,
                });
            }
            bodies.push(encode_body(&req));
        }
        all.push(bodies);
    }
    let series = p.senders * p.hosts.min(p.requests) * p.series_per_host;
    (all, series)
}

// ---- The servers -----------------------------------------------------------------------------

/// This process as a writable tierlog server on `dir`, as `tierlog serve DIR --writable`
/// (a new store: the default configuration, the system clock, the default write limits).
fn serve_child(dir: &str) {
    let mut c = tierlog_server::ServerConfig::new(dir);
    c.store_config = tierlog::Config::default();
    c.writable = true;
    c.listen = "127.0.0.1:0".parse().expect("address");
    tierlog_server::serve_until_signal(c, |addr| {
        use std::io::Write;
        println!("listening on http://{addr}");
        let _ = std::io::stdout().flush();
    })
    .expect("serve");
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Tierlog,
    /// `$TIERLOG_BENCH_BASELINE`: another build of this bench as the tierlog server.
    Baseline,
    Victoria,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Tierlog => "tierlog",
            Target::Baseline => "baseline",
            Target::Victoria => "victoria",
        }
    }
}

struct Running {
    child: Child,
    base: String,
    dir: PathBuf,
    log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into()
}

fn get_text(agent: &ureq::Agent, url: &str) -> Result<(u16, String), String> {
    let mut r = agent.get(url).call().map_err(|e| format!("{url}: {e}"))?;
    let status = r.status().as_u16();
    let body = r
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .map_err(|e| format!("{url}: {e}"))?;
    Ok((status, body))
}

fn start(target: Target, vm: &Path, work: &Path) -> Running {
    let dir = work.join(target.name());
    let log = work.join(format!("{}.log", target.name()));
    let stderr = std::fs::File::create(&log).expect("log file");
    match target {
        Target::Tierlog | Target::Baseline => {
            let bin = if target == Target::Baseline {
                std::env::var_os("TIERLOG_BENCH_BASELINE").map(|b| (false, b))
            } else {
                std::env::var_os("TIERLOG_BENCH_TIERLOG").map(|b| (true, b))
            };
            let mut cmd = match bin {
                Some((false, bin)) => {
                    let mut c = Command::new(bin);
                    c.env(SERVE_ENV, &dir);
                    c
                }
                Some((true, bin)) => {
                    let mut c = Command::new(bin);
                    c.arg("serve")
                        .arg(&dir)
                        .args(["--writable", "--listen", "127.0.0.1:0"]);
                    c
                }
                None => {
                    let mut c = Command::new(std::env::current_exe().expect("own path"));
                    c.env(SERVE_ENV, &dir);
                    c
                }
            };
            let mut child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(stderr)
                .spawn()
                .expect("start the tierlog server");
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("stdout"))
                .read_line(&mut line)
                .expect("server's first line");
            let Some(base) = line.trim().strip_prefix("listening on ") else {
                let _ = child.kill();
                panic!(
                    "tierlog server: {line:?}; log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            };
            Running {
                base: base.to_owned(),
                child,
                dir,
                log,
            }
        }
        Target::Victoria => {
            let port = free_port();
            let child = Command::new(vm)
                .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                .arg(format!("-storageDataPath={}", dir.display()))
                .arg("-retentionPeriod=100y")
                .arg("-search.disableCache")
                // Counting right after the run: samples up to now are visible at once.
                .arg("-search.latencyOffset=0s")
                .arg("-loggerLevel=ERROR")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("start victoria-metrics");
            let r = Running {
                child,
                base: format!("http://127.0.0.1:{port}"),
                dir,
                log,
            };
            let a = agent();
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if get_text(&a, &format!("{}/health", r.base))
                    .is_ok_and(|(s, b)| s == 200 && b.trim() == "OK")
                {
                    break r;
                }
                assert!(
                    Instant::now() < deadline,
                    "victoria-metrics not healthy after 60 s: {}",
                    std::fs::read_to_string(&r.log).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// utime + stime of a process, seconds.
fn cpu_seconds(pid: u32, tick: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the whole line: 12 and 13 after the name and state.
    let utime: f64 = f[11].parse().expect("utime");
    let stime: f64 = f[12].parse().expect("stime");
    (utime + stime) / tick
}

fn clock_tick() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// What one run measured.
struct RunResult {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_per_m: f64,
    client_cpu_per_m: f64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Sends every sender's bodies, all senders at once; returns the latencies (ms) and the wall
/// time from the start to the last answer.
fn send_all(base: &str, bodies: &Arc<Vec<Vec<Vec<u8>>>>) -> (Vec<f64>, Duration) {
    let n = bodies.len();
    let barrier = Arc::new(Barrier::new(n + 1));
    let url = format!("{base}/api/v1/write");
    let handles: Vec<_> = (0..n)
        .map(|s| {
            let (barrier, bodies, url) = (barrier.clone(), bodies.clone(), url.clone());
            std::thread::spawn(move || {
                let a = agent();
                let mut lat = Vec::with_capacity(bodies[s].len());
                barrier.wait();
                for body in &bodies[s] {
                    let began = Instant::now();
                    let mut r = a
                        .post(&url)
                        .header("Content-Encoding", "snappy")
                        .header("Content-Type", "application/x-protobuf")
                        .header("User-Agent", "tierlog-rw-bench")
                        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                        .send(&body[..])
                        .unwrap_or_else(|e| panic!("{url}: {e}"));
                    let status = r.status().as_u16();
                    let text = r.body_mut().read_to_string().unwrap_or_default();
                    lat.push(began.elapsed().as_secs_f64() * 1e3);
                    assert!(
                        (200..300).contains(&status),
                        "{url}: status {status}: {text}"
                    );
                }
                lat
            })
        })
        .collect();
    barrier.wait();
    let began = Instant::now();
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.join().expect("sender"));
    }
    (lat, began.elapsed())
}

/// Stops the server and counts the samples and series it holds.
fn stop_and_count(target: Target, mut r: Running, last_ts: i64) -> (u64, u64) {
    let counts = match target {
        Target::Tierlog | Target::Baseline => {
            let pid = r.child.id().to_string();
            let ok = Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "kill -TERM {pid}");
            let st = r.child.wait().expect("wait for the server");
            assert!(
                st.success(),
                "tierlog server exited {st}: {}",
                std::fs::read_to_string(&r.log).unwrap_or_default()
            );
            let store = tierlog::Store::open_read_only(&r.dir, tierlog::Config::default())
                .expect("open the store");
            let stats = store.stats();
            let raw = stats.tiers.iter().find(|t| t.tier == "raw").expect("raw");
            return (raw.points, stats.series);
        }
        Target::Victoria => {
            // VictoriaMetrics takes the query's time as now at most: wait until the newest
            // sample is in the past.
            let now_ms = || {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("clock")
                    .as_millis() as i64
            };
            let wait = last_ts + 1000 - now_ms();
            if wait > 0 {
                std::thread::sleep(Duration::from_millis(wait as u64));
            }
            let a = agent();
            let (s, b) = get_text(&a, &format!("{}/internal/force_flush", r.base)).expect("flush");
            assert_eq!(s, 200, "force_flush: {b}");
            let q = form_urlencoded::Serializer::new(String::new())
                .append_pair(
                    "query",
                    r#"sum(count_over_time({__name__=~"node_.+"}[1d]))"#,
                )
                .append_pair(
                    "time",
                    &format!("{}.{:03}", (last_ts + 1) / 1000, (last_ts + 1) % 1000),
                )
                .finish();
            let (s, b) =
                get_text(&a, &format!("{}/api/v1/query?{q}", r.base)).expect("count query");
            assert_eq!(s, 200, "count query: {b}");
            let v: serde_json::Value = serde_json::from_str(&b).expect("JSON");
            let samples = v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(0.0) as u64;
            let (s, b) =
                get_text(&a, &format!("{}/api/v1/series/count", r.base)).expect("series count");
            assert_eq!(s, 200, "series count: {b}");
            let v: serde_json::Value = serde_json::from_str(&b).expect("JSON");
            let series = v["data"][0].as_u64().unwrap_or(0);
            (samples, series)
        }
    };
    let _ = r.child.kill();
    let _ = r.child.wait();
    counts
}

fn run_once(target: Target, p: &Params, vm: &Path, root: &Path, tick: f64) -> RunResult {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let base_ms = now_ms / 1000 * 1000 - 240_000;
    let (bodies, series) = encode_bodies(p, base_ms);
    let rounds = p.requests.div_ceil(p.hosts);
    let last_ts = base_ms + ((rounds * p.samples_per_series) as i64 - 1) * 1000;
    let bodies = Arc::new(bodies);
    let work = tempfile::tempdir_in(root).expect("work directory");
    let r = start(target, vm, work.path());
    let pid = r.child.id();
    if std::env::var_os("TIERLOG_BENCH_HOLD").is_some() {
        eprintln!("{} server pid {pid}: press Enter to send", target.name());
        let mut l = String::new();
        let _ = std::io::stdin().read_line(&mut l);
    }
    let cpu0 = cpu_seconds(pid, tick);
    let own0 = cpu_seconds(std::process::id(), tick);
    let (mut lat, wall) = send_all(&r.base, &bodies);
    let cpu = cpu_seconds(pid, tick) - cpu0;
    let own = cpu_seconds(std::process::id(), tick) - own0;
    let samples = (p.senders * p.requests * p.series_per_host * p.samples_per_series) as u64;
    let (stored, stored_series) = stop_and_count(target, r, last_ts);
    assert_eq!(
        (stored, stored_series as usize),
        (samples, series),
        "{}: samples and series stored, against those sent",
        target.name()
    );
    lat.sort_by(f64::total_cmp);
    let m = samples as f64 / 1e6;
    let res = RunResult {
        rate: samples as f64 / wall.as_secs_f64(),
        p50_ms: percentile(&lat, 0.5),
        p99_ms: percentile(&lat, 0.99),
        cpu_per_m: cpu / m,
        client_cpu_per_m: own / m,
    };
    println!(
        "{:>8}: {samples} samples in {:.2} s = {:>9.0} samples/s; latency p50 {:.1} ms, p99 {:.1} ms; \
         server CPU {cpu:.2} s = {:.2} s per M samples (client {:.2}); stored {stored} samples, {stored_series} series",
        target.name(),
        wall.as_secs_f64(),
        res.rate,
        res.p50_ms,
        res.p99_ms,
        res.cpu_per_m,
        res.client_cpu_per_m,
    );
    res
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    if let Ok(dir) = std::env::var(SERVE_ENV) {
        serve_child(&dir);
        return;
    }
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let vm = match std::env::var_os("TIERLOG_VICTORIA_METRICS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from("/usr/bin/victoria-metrics"),
    };
    if !vm.exists() {
        println!(
            "SKIPPED: {} is absent (install the Debian package `victoria-metrics`)",
            vm.display()
        );
        return;
    }
    let p = Params {
        senders: env_usize("TIERLOG_BENCH_SENDERS", 8),
        requests: env_usize("TIERLOG_BENCH_REQUESTS", 1250),
        samples_per_series: env_usize("TIERLOG_BENCH_SAMPLES_PER_SERIES", 10),
        series_per_host: host_template().len(),
        hosts: env_usize("TIERLOG_BENCH_HOSTS", 50),
        reps: env_usize("TIERLOG_BENCH_REPS", 3),
    };
    // Every timestamp within tierlog's open windows: from 4 minutes before the run to 9
    // minutes past it at most (the store refuses samples 10 minutes ahead of its clock).
    let span_s = p.requests.div_ceil(p.hosts) * p.samples_per_series;
    if span_s > 13 * 60 {
        println!(
            "the requests span {span_s} s of data per series, more than 780 s: raise TIERLOG_BENCH_HOSTS or lower TIERLOG_BENCH_REQUESTS"
        );
        std::process::exit(2);
    }
    let root = std::env::var_os("TIERLOG_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let only = std::env::var("TIERLOG_BENCH_ONLY").ok();
    let baseline = std::env::var_os("TIERLOG_BENCH_BASELINE").is_some();
    let targets: Vec<Target> = [Target::Tierlog, Target::Baseline, Target::Victoria]
        .into_iter()
        .filter(|t| *t != Target::Baseline || baseline)
        .filter(|t| only.as_deref().is_none_or(|o| o == t.name()))
        .collect();
    let batch = p.series_per_host * p.samples_per_series;
    println!(
        "remote write: {} senders × {} requests × {batch} samples ({} series × {}), {} series in all; {} rounds; data under {}; load {}",
        p.senders,
        p.requests,
        p.series_per_host,
        p.samples_per_series,
        p.senders * p.hosts.min(p.requests) * p.series_per_host,
        p.reps,
        root.display(),
        load()
    );
    let tick = clock_tick();
    let mut results: Vec<Vec<RunResult>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 0..p.reps {
        println!("round {} (load {})", round + 1, load());
        for (i, &t) in targets.iter().enumerate() {
            results[i].push(run_once(t, &p, &vm, &root, tick));
        }
    }
    println!("medians over {} rounds (load {}):", p.reps, load());
    let mut med = Vec::new();
    for (t, rs) in targets.iter().zip(&mut results) {
        let m = |f: fn(&RunResult) -> f64| median(&mut rs.iter().map(f).collect::<Vec<_>>());
        let row = (
            m(|r| r.rate),
            m(|r| r.p50_ms),
            m(|r| r.p99_ms),
            m(|r| r.cpu_per_m),
            m(|r| r.client_cpu_per_m),
        );
        println!(
            "{:>8}: {:>9.0} samples/s; p50 {:.1} ms, p99 {:.1} ms; server CPU {:.2} s per M samples (client {:.2})",
            t.name(),
            row.0,
            row.1,
            row.2,
            row.3,
            row.4
        );
        med.push(row);
    }
    let find = |t: Target| targets.iter().position(|&x| x == t).map(|i| med[i]);
    for (a, b) in [
        (Target::Tierlog, Target::Victoria),
        (Target::Baseline, Target::Victoria),
        (Target::Tierlog, Target::Baseline),
    ] {
        if let (Some(x), Some(y)) = (find(a), find(b)) {
            println!(
                "{} / {}: rate {:.2}, p50 {:.2}, p99 {:.2}, CPU per sample {:.2}",
                a.name(),
                b.name(),
                x.0 / y.0,
                x.1 / y.1,
                x.2 / y.2,
                x.3 / y.3
            );
        }
    }
}
