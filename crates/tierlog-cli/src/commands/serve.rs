//! `tierlog serve`: Prometheus' HTTP API v1 over a store, for Grafana and promtool.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{Now, log_warnings_to_stderr, read_secret};
use crate::Failure;

/// Arguments of `tierlog serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Store directory (read-only: the writing process keeps its lock).
    pub dir: PathBuf,
    /// Address to listen on, IP:PORT (port 0 picks a free port; the address is printed).
    #[arg(long, value_name = "ADDR", default_value = tierlog_server::DEFAULT_LISTEN, value_parser = listen_arg)]
    pub listen: SocketAddr,
    /// Allow a --listen address that is not a loopback one (0.0.0.0, a LAN address): other
    /// hosts can then read the whole store. There is no TLS; consider --bearer-token-file.
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// Require `Authorization: Bearer TOKEN` on every endpoint except /-/healthy and
    /// /-/ready, the token read from this file (401 otherwise).
    #[arg(long, value_name = "FILE")]
    pub bearer_token_file: Option<PathBuf>,
    /// The longest a query may run (a request's `timeout` parameter can shorten it).
    #[arg(long = "query.timeout", value_name = "DURATION", default_value = "2m", allow_hyphen_values = true, value_parser = crate::args::duration_arg)]
    pub query_timeout: Duration,
    /// Most samples one query may hold in memory.
    #[arg(
        long = "query.max-samples",
        value_name = "N",
        default_value_t = 50_000_000
    )]
    pub query_max_samples: usize,
    /// Most queries evaluated at once; others wait (their wait counts against the timeout).
    #[arg(long = "query.max-concurrency", value_name = "N", default_value_t = 20)]
    pub query_max_concurrency: usize,
    /// Reopen the store when the snapshot answering is older than this: answers show what
    /// the writer had written at most this long before the request.
    #[arg(long, value_name = "DURATION", default_value = "5s", allow_hyphen_values = true, value_parser = crate::args::duration_arg)]
    pub refresh: Duration,
}

/// `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT`.
fn listen_arg(s: &str) -> Result<SocketAddr, String> {
    if let Some(port) = s.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{s:?}: expected IP:PORT, e.g. 127.0.0.1:9201"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse()
        .map_err(|_| format!("{s:?}: expected IP:PORT, e.g. 127.0.0.1:9201"))
}

pub fn run(now: &Now, a: ServeArgs) -> Result<(), Failure> {
    log_warnings_to_stderr();
    if !a.dir.join("state").exists() && !a.dir.join("raw").is_dir() {
        return Err(Failure::Error(format!(
            "{}: no store there",
            a.dir.display()
        )));
    }
    let mut c = tierlog_server::ServerConfig::new(&a.dir);
    c.store_config = now.config();
    c.listen = a.listen;
    c.allow_non_loopback = a.allow_non_loopback;
    c.bearer_token = a
        .bearer_token_file
        .as_deref()
        .map(|f| read_secret(f, "bearer token file"))
        .transpose()?;
    c.query_timeout = a.query_timeout;
    c.max_samples = a.query_max_samples;
    c.max_concurrency = a.query_max_concurrency;
    c.refresh = a.refresh;
    tierlog_server::serve_until_signal(c, |addr| {
        // Printed even with --quiet: with --listen …:0 it is the only way to learn the port.
        println!("listening on http://{addr}");
    })
    .map_err(|e| match e {
        tierlog_server::Error::Store(e) => e.into(),
        tierlog_server::Error::NotLoopback(addr) => Failure::Usage(format!(
            "refusing to listen on {addr}, which is not a loopback address: other hosts could read the whole store; pass --allow-non-loopback to allow it (and consider --bearer-token-file)"
        )),
        tierlog_server::Error::Config(m) => Failure::Usage(m),
        e => Failure::Error(e.to_string()),
    })
}
