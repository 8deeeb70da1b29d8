//! VictoriaMetrics (the Debian package `victoria-metrics`, 1.79) as a server on loopback,
//! driven through its HTTP API: samples go in through `POST /api/v1/import/prometheus`
//! (Prometheus text, timestamps in ms), come back through `GET /api/v1/export` (raw samples;
//! the bucket aggregates are computed in Rust from them, as for tsink and SQLite).
//!
//! The server runs with a fresh `-storageDataPath` (the store directory the harness gives) and
//! `-retentionPeriod=100y`, so the workloads' fixed dates are kept. After the import the adapter
//! calls `/internal/force_flush` and `/internal/force_merge`, waits until the data directory
//! stops changing (and merges again while that still shrinks it), and measures every file
//! under `-storageDataPath` while the server still runs (a graceful shutdown writes its
//! in-memory caches under `cache/`, which are not data).
//!
//! **Workaround for a 1.79 bug:** a new series whose first samples reach several ingestion
//! workers at once can be given several internal ids (fixed upstream), which inflates the store
//! by up to 2×. Before a block's bulk import, the adapter registers every series it has not
//! seen yet with one sample (that series' first sample, which the bulk request then leaves out),
//! in a request of its own: each series then reaches one worker alone. The registration
//! requests count in the ingest time.
//!
//! The binary is `$TIERLOG_VICTORIA_METRICS` or `victoria-metrics` on `PATH`.

use std::fmt::Write as _;
use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::engine::{Adapter, BATCH, Bucket, ManyQuery, Read, Result, buckets};
use crate::source::{Point, SeriesKey};

/// How long the server may take to answer `/health`.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the data directory may keep changing after the forced merge.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(600);
/// Polls of an unchanged data directory that count as settled, and their spacing.
const SETTLE_POLLS: usize = 5;
const SETTLE_EVERY: Duration = Duration::from_millis(500);
/// At most this many forced merges (see [`Victoria::settle`]).
const MERGE_ROUNDS: usize = 5;

/// The server's binary, when one is installed.
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TIERLOG_VICTORIA_METRICS") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("victoria-metrics"))
        .find(|p| p.is_file())
}

/// One running server on one data directory.
pub struct Victoria {
    child: Child,
    /// The server's stderr (kept outside the data directory so it is not measured).
    log: tempfile::NamedTempFile,
    base: String,
    agent: ureq::Agent,
    dir: PathBuf,
    /// Each series as the text format names it: `metric{k="v",...}`.
    names: Vec<String>,
    /// Series that have received their registration sample.
    registered: Vec<bool>,
}

/// Escapes a label value for the text format.
fn escape_value(s: &str) -> String {
    s.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// Escapes regex metacharacters (for a `=~` matcher).
fn escape_regex(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

fn name_of((metric, labels): &SeriesKey) -> String {
    let mut s = metric.clone();
    if !labels.is_empty() {
        s.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{k}=\"{}\"", escape_value(v));
        }
        s.push('}');
    }
    s
}

fn push_sample(out: &mut String, name: &str, ts: i64, v: f64) {
    out.push_str(name);
    out.push(' ');
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
    let _ = writeln!(out, " {ts}");
}

/// `ms` as the seconds (with milliseconds) the HTTP API takes.
fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// A port nobody listens on right now.
fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("free port: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Sum of the sizes of every file under `dir`, and how many there are.
fn dir_state(dir: &Path) -> (u64, u64) {
    let mut st = (0, 0);
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        match e.metadata() {
            Ok(m) if m.is_dir() => {
                let (b, n) = dir_state(&e.path());
                st = (st.0 + b, st.1 + n);
            }
            Ok(m) => st = (st.0 + m.len(), st.1 + 1),
            Err(_) => {}
        }
    }
    st
}

/// One line of `/api/v1/export`.
#[derive(Deserialize)]
struct ExportLine {
    #[serde(default)]
    metric: std::collections::BTreeMap<String, String>,
    values: Vec<serde_json::Value>,
    timestamps: Vec<i64>,
}

/// One exported series: its labels (with `__name__`) and `(ts, value)` points.
pub type Exported = (std::collections::BTreeMap<String, String>, Vec<(i64, f64)>);

impl Victoria {
    /// Starts a server on `dir` (created if missing) and waits until `/health` answers.
    pub fn open(dir: &Path, series: Arc<Vec<SeriesKey>>) -> Result<Victoria> {
        let bin = binary().ok_or(
            "victoria-metrics is not installed (apt-get install victoria-metrics, \
             or set TIERLOG_VICTORIA_METRICS)",
        )?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        // The port may be taken between the probe and the server's bind: try a few.
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let log = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
            let stderr = log.reopen().map_err(|e| e.to_string())?;
            let child = Command::new(&bin)
                .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                .arg(format!("-storageDataPath={}", dir.display()))
                .arg("-retentionPeriod=100y")
                // Queries read the data every time, not a cached answer.
                .arg("-search.disableCache")
                .arg("-loggerLevel=ERROR")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .map_err(|e| format!("{}: {e}", bin.display()))?;
            let mut vm = Victoria {
                child,
                log,
                base: format!("http://127.0.0.1:{port}"),
                agent: agent.clone(),
                dir: dir.to_path_buf(),
                names: series.iter().map(name_of).collect(),
                registered: vec![false; series.len()],
            };
            match vm.wait_healthy() {
                Ok(()) => return Ok(vm),
                Err(e) => {
                    last = e;
                    let _ = vm.child.kill();
                    let _ = vm.child.wait();
                }
            }
        }
        Err(last)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    fn wait_healthy(&mut self) -> Result<()> {
        let t = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!(
                    "victoria-metrics exited ({st}): {}",
                    self.log_tail()
                ));
            }
            if let Ok(mut r) = self.agent.get(format!("{}/health", self.base)).call()
                && r.status().is_success()
                && r.body_mut()
                    .read_to_string()
                    .is_ok_and(|b| b.trim() == "OK")
            {
                return Ok(());
            }
            if t.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "victoria-metrics did not answer /health in {START_TIMEOUT:?}: {}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn post_import(&self, body: String) -> Result<()> {
        if body.is_empty() {
            return Ok(());
        }
        let url = format!("{}/api/v1/import/prometheus", self.base);
        let mut r = self
            .agent
            .post(&url)
            .header("Content-Type", "text/plain")
            .send(body)
            .map_err(|e| format!("import: {e}"))?;
        if !r.status().is_success() {
            let text = r.body_mut().read_to_string().unwrap_or_default();
            return Err(format!("import: HTTP {}: {}", r.status(), text.trim()));
        }
        Ok(())
    }

    fn get(&self, path: &str) -> Result<String> {
        let url = format!("{}{path}", self.base);
        let mut r = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| format!("{path}: {e}"))?;
        let mut text = String::new();
        r.body_mut()
            .as_reader()
            .read_to_string(&mut text)
            .map_err(|e| format!("{path}: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("{path}: HTTP {}: {}", r.status(), text.trim()));
        }
        Ok(text)
    }

    /// Every sample of the series `selector` matches in `[from, to)` (ms), through
    /// `/api/v1/export` (whose range is inclusive at both ends).
    pub fn export(&self, selector: &str, from: i64, to: i64) -> Result<Vec<Exported>> {
        let url = format!("{}/api/v1/export", self.base);
        let mut r = self
            .agent
            .get(&url)
            .query("match[]", selector)
            .query("start", secs(from))
            .query("end", secs(to - 1))
            .call()
            .map_err(|e| format!("export: {e}"))?;
        let mut text = String::new();
        r.body_mut()
            .as_reader()
            .read_to_string(&mut text)
            .map_err(|e| format!("export: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("export: HTTP {}: {}", r.status(), text.trim()));
        }
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let l: ExportLine =
                serde_json::from_str(line).map_err(|e| format!("export line: {e}"))?;
            if l.values.len() != l.timestamps.len() {
                return Err("export: values and timestamps differ in length".into());
            }
            let pts = l
                .timestamps
                .iter()
                .zip(&l.values)
                .map(|(&t, v)| (t, v.as_f64().unwrap_or(f64::NAN)))
                .collect();
            out.push((l.metric, pts));
        }
        Ok(out)
    }

    fn selector(&self, i: u32) -> String {
        self.names[i as usize].clone()
    }

    fn read(&self, selector: &str, from: i64, to: i64) -> Result<Read> {
        let mut r = Read::default();
        for (_, pts) in self.export(selector, from, to)? {
            pts.iter().for_each(|p| r.add(p.1));
        }
        Ok(r)
    }

    /// Waits until the data directory's size and file count stay the same over
    /// [`SETTLE_POLLS`] polls; its size then.
    fn wait_unchanged(&self, since: Instant) -> Result<u64> {
        let mut last = dir_state(&self.dir);
        let mut same = 0;
        while same < SETTLE_POLLS {
            std::thread::sleep(SETTLE_EVERY);
            let now = dir_state(&self.dir);
            if now == last {
                same += 1;
            } else {
                (last, same) = (now, 0);
            }
            if since.elapsed() > SETTLE_TIMEOUT {
                return Err(format!(
                    "the data directory kept changing for {SETTLE_TIMEOUT:?}"
                ));
            }
        }
        Ok(last.0)
    }

    /// Stops the server (SIGTERM; SIGKILL after 60 s).
    fn stop(&mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(60) {
            if self.child.try_wait().map_err(|e| e.to_string())?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().map_err(|e| e.to_string())?;
        Ok(())
    }
}

impl Drop for Victoria {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Adapter for Victoria {
    fn write(&mut self, block: &[Point]) -> Result<()> {
        // The 1.79 workaround (see the module's documentation): one request registering every
        // new series with its first sample, which the bulk import then skips.
        let mut first = String::new();
        let mut skip = vec![false; block.len()];
        for (k, &(i, ts, v)) in block.iter().enumerate() {
            if !self.registered[i as usize] {
                self.registered[i as usize] = true;
                skip[k] = true;
                push_sample(&mut first, &self.names[i as usize], ts, v);
            }
        }
        self.post_import(first)?;
        let mut body = String::new();
        for (chunk, skips) in block.chunks(BATCH).zip(skip.chunks(BATCH)) {
            body.clear();
            for (&(i, ts, v), &s) in chunk.iter().zip(skips) {
                if !s {
                    push_sample(&mut body, &self.names[i as usize], ts, v);
                }
            }
            self.post_import(std::mem::take(&mut body))?;
        }
        Ok(())
    }

    fn query_series(&mut self, series: u32, from: i64, to: i64) -> Result<Read> {
        self.read(&self.selector(series), from, to)
    }

    fn query_many(&mut self, q: &ManyQuery, from: i64, to: i64) -> Result<Read> {
        let alt: Vec<String> = q.values.iter().map(|v| escape_regex(v)).collect();
        let sel = format!(
            "{}{{{}=~\"{}\"}}",
            q.metric,
            q.label,
            escape_value(&alt.join("|"))
        );
        self.read(&sel, from, to)
    }

    fn query_buckets(&mut self, series: u32, from: i64, to: i64, step: i64) -> Result<Vec<Bucket>> {
        let mut pts: Vec<(i64, f64)> = self
            .export(&self.selector(series), from, to)?
            .into_iter()
            .flat_map(|(_, p)| p)
            .collect();
        pts.sort_by_key(|p| p.0);
        Ok(buckets(&pts, step))
    }

    /// Flushes, force-merges, waits until the data directory stops changing, and measures it.
    /// One forced merge in 1.79 can leave parts unmerged (the store shrank by another 6 % on
    /// a second one), so it merges again until a merge no longer shrinks the store.
    fn settle(&mut self) -> Result<Option<u64>> {
        self.get("/internal/force_flush")?;
        let t = Instant::now();
        let mut prev = u64::MAX;
        let mut bytes = 0;
        for round in 0..MERGE_ROUNDS {
            self.get("/internal/force_merge")?;
            bytes = self.wait_unchanged(t)?;
            let part = |p: &str| dir_state(&self.dir.join(p)).0;
            eprintln!(
                "  victoriametrics merge {round} settled at {:.1} s: {bytes} bytes (data/ {}, indexdb/ {})",
                t.elapsed().as_secs_f64(),
                part("data"),
                part("indexdb"),
            );
            // 1.79's forced merge can leave parts unmerged: merge again while it still
            // shrinks the store by more than 0.5 %.
            if bytes as f64 > prev as f64 * 0.995 {
                break;
            }
            prev = bytes;
        }
        Ok(Some(bytes))
    }

    fn close(mut self: Box<Self>) -> Result<()> {
        self.stop()
    }
}
