//! A real Prometheus (Debian's `/usr/bin/prometheus`, or the binary `TIERLOG_PROMETHEUS`
//! names) for the tests that talk to one: started on a free loopback port in a work
//! directory of its own, waited for until `/-/ready` answers, killed on drop.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's Prometheus (package `prometheus`).
pub const PROMETHEUS: &str = "/usr/bin/prometheus";

/// How long a started Prometheus may take to answer `/-/ready`.
const READY_WITHIN: Duration = Duration::from_secs(120);

/// The Prometheus binary to run (`TIERLOG_PROMETHEUS`, else [`PROMETHEUS`]); `None`, after
/// printing a `SKIPPED:` line, when it is absent.
pub fn prometheus_bin() -> Option<String> {
    let bin = std::env::var("TIERLOG_PROMETHEUS").unwrap_or_else(|_| PROMETHEUS.into());
    if !Path::new(&bin).exists() {
        println!(
            "SKIPPED: {bin} is absent (install the Debian package `prometheus`, as .ci/run does)"
        );
        return None;
    }
    Some(bin)
}

/// A running Prometheus on `127.0.0.1:port`; killed (and waited for) on drop.
pub struct RealPrometheus {
    child: Child,
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    /// The port it listens on.
    pub port: u16,
    /// Its work directory: `prometheus.yml`, the TSDB under `data`, its stderr in `log`.
    pub dir: tempfile::TempDir,
}

impl RealPrometheus {
    /// Starts the binary [`prometheus_bin`] names; `None` (after printing why) when it is
    /// absent. See [`RealPrometheus::start_bin`].
    pub fn start(
        config_yaml: impl FnOnce(&Path, u16) -> String,
        extra_args: &[&str],
    ) -> Option<RealPrometheus> {
        let bin = prometheus_bin()?;
        Some(Self::start_bin(&bin, config_yaml, extra_args))
    }

    /// Starts `bin` with the configuration `config_yaml(work_dir, port)` returns, its TSDB in
    /// the work directory, listening on a free loopback port, with `extra_args` after the
    /// usual flags; returns once `/-/ready` answers 200 (panics, with its log, when it does
    /// not within two minutes).
    pub fn start_bin(
        bin: &str,
        config_yaml: impl FnOnce(&Path, u16) -> String,
        extra_args: &[&str],
    ) -> RealPrometheus {
        let dir = crate::helpers::fast_tempdir();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_yaml(dir.path(), port)).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
            .spawn()
            .expect("start prometheus");
        let p = RealPrometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            port,
            dir,
        };
        let end = Instant::now() + READY_WITHIN;
        while !p.ready() {
            assert!(
                Instant::now() < end,
                "prometheus not ready after {} s:\n{}",
                READY_WITHIN.as_secs(),
                p.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    /// Whether `GET /-/ready` answers 200 (a bare HTTP/1.0 request: no client needed).
    fn ready(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let req = format!(
            "GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n",
            self.port
        );
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        let status = answer.split(|&b| b == b'\n').next().unwrap_or_default();
        String::from_utf8_lossy(status)
            .split_whitespace()
            .nth(1)
            .is_some_and(|code| code == "200")
    }

    /// What it wrote to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Kills it and waits for it to exit (also done on drop).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RealPrometheus {
    fn drop(&mut self) {
        self.kill();
    }
}
