//! `tierlog serve`: Prometheus' HTTP API v1 over a store, for Grafana and promtool.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{Now, log_warnings_to_stderr, read_secret};
use crate::Failure;

/// Arguments of `tierlog serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Store directory (read-only: the writing process keeps its lock; with --writable the
    /// server is the writer).
    pub dir: PathBuf,
    /// Address to listen on, IP:PORT (port 0 picks a free port; the address is printed).
    #[arg(long, value_name = "ADDR", default_value = tierlog_server::DEFAULT_LISTEN, value_parser = listen_arg)]
    pub listen: SocketAddr,
    /// Allow a --listen address that is not a loopback one (0.0.0.0, a LAN address): other
    /// hosts can then read the whole store. Consider --tls-cert-file and --bearer-token-file.
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// Require `Authorization: Bearer TOKEN` on every endpoint except /-/healthy and
    /// /-/ready, the token read from this file (401 otherwise); it may read and write.
    #[arg(long, value_name = "FILE")]
    pub bearer_token_file: Option<PathBuf>,
    /// A token that may read but not write (403 on the write endpoints), read from this file.
    #[arg(long, value_name = "FILE")]
    pub read_token_file: Option<PathBuf>,
    /// A token that may write (and read), read from this file.
    #[arg(long, value_name = "FILE")]
    pub write_token_file: Option<PathBuf>,
    /// Accept `Authorization: Basic` on every protected endpoint (reads and writes) for the
    /// `user:password` lines of this file.
    #[arg(long, value_name = "FILE")]
    pub basic_auth_file: Option<PathBuf>,
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
    /// Memory for decoded raw chunks that queries read again (a dashboard's refresh, a rule's
    /// next evaluation): they are copied instead of decoded. Shared by every snapshot; 0 turns
    /// it off.
    #[arg(long = "read-cache", value_name = "BYTES", default_value = "64MiB", value_parser = crate::args::size_arg_usize)]
    pub read_cache: usize,
    /// Be the store's writer (take its lock; a store another process writes is refused) and
    /// take samples on POST /api/v1/write (Prometheus remote-write 1.0),
    /// /api/v1/import/prometheus (text exposition) and /write (InfluxDB line protocol).
    /// Reads then see every acknowledged write at once (--refresh does not apply).
    #[arg(long)]
    pub writable: bool,
    /// Serve HTTPS only, with the certificate chain of this PEM file (the server's certificate
    /// first); needs --tls-key-file. Read once at start.
    #[arg(long, value_name = "FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM private key of --tls-cert-file's certificate (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// Largest write request body as sent (compressed for remote-write), bytes.
    #[arg(long = "write.max-body-bytes", value_name = "BYTES", default_value = "32MiB", value_parser = crate::args::size_arg_usize)]
    pub write_max_body_bytes: usize,
    /// Largest body once decompressed, bytes: remote-write's is read from the snappy header
    /// (a larger one is refused before it is expanded); a gzip text body is decompressed no
    /// further.
    #[arg(long = "write.max-decoded-bytes", value_name = "BYTES", default_value = "128MiB", value_parser = crate::args::size_arg_usize)]
    pub write_max_decoded_bytes: usize,
    /// Most samples in one write request (the store's limits.max_batch_samples applies too).
    #[arg(
        long = "write.max-samples",
        value_name = "N",
        default_value_t = 1_000_000
    )]
    pub write_max_samples: usize,
    /// Most write requests handled at once; others wait within --write.timeout.
    #[arg(long = "write.max-concurrency", value_name = "N", default_value_t = 8)]
    pub write_max_concurrency: usize,
    /// The longest a write request may wait for a place plus take to send its body.
    #[arg(long = "write.timeout", value_name = "DURATION", default_value = "1m", allow_hyphen_values = true, value_parser = crate::args::duration_arg)]
    pub write_timeout: Duration,
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

/// The `user:password` lines of a basic auth file (blank lines skipped).
fn basic_auth(f: &std::path::Path) -> Result<Vec<(String, String)>, Failure> {
    let text = read_secret(f, "basic auth file")?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let bad = |m: &str| Failure::Error(format!("{}:{}: {m}", f.display(), i + 1));
        let (user, password) = line
            .split_once(':')
            .ok_or_else(|| bad("expected user:password"))?;
        if password.is_empty() {
            return Err(bad("empty password"));
        }
        out.push((user.to_owned(), password.to_owned()));
    }
    if out.is_empty() {
        return Err(Failure::Error(format!(
            "basic auth file {}: no user:password line",
            f.display()
        )));
    }
    Ok(out)
}

pub fn run(now: &Now, a: ServeArgs) -> Result<(), Failure> {
    log_warnings_to_stderr();
    // A writable server creates a new store; a read-only one needs an existing one.
    if !a.writable && !a.dir.join("state").exists() && !a.dir.join("raw").is_dir() {
        return Err(Failure::Error(format!(
            "{}: no store there",
            a.dir.display()
        )));
    }
    let mut c = tierlog_server::ServerConfig::new(&a.dir);
    c.store_config = if a.writable {
        now.writer_config(&a.dir, None)?
    } else {
        now.config()
    };
    c.writable = a.writable;
    c.write_limits = tierlog_server::WriteLimits {
        max_body_bytes: a.write_max_body_bytes,
        max_decoded_bytes: a.write_max_decoded_bytes,
        max_samples: a.write_max_samples,
        max_concurrency: a.write_max_concurrency,
        timeout: a.write_timeout,
    };
    c.listen = a.listen;
    c.allow_non_loopback = a.allow_non_loopback;
    c.bearer_token = a
        .bearer_token_file
        .as_deref()
        .map(|f| read_secret(f, "bearer token file"))
        .transpose()?;
    c.read_token = a
        .read_token_file
        .as_deref()
        .map(|f| read_secret(f, "read token file"))
        .transpose()?;
    c.write_token = a
        .write_token_file
        .as_deref()
        .map(|f| read_secret(f, "write token file"))
        .transpose()?;
    if let Some(f) = a.basic_auth_file.as_deref() {
        c.basic_auth = basic_auth(f)?;
    }
    c.query_timeout = a.query_timeout;
    c.max_samples = a.query_max_samples;
    c.max_concurrency = a.query_max_concurrency;
    c.refresh = a.refresh;
    c.read_cache_bytes = a.read_cache;
    c.tls_cert_file = a.tls_cert_file;
    c.tls_key_file = a.tls_key_file;
    let scheme = if c.tls_cert_file.is_some() {
        "https"
    } else {
        "http"
    };
    tierlog_server::serve_until_signal(c, |addr| {
        // Printed even with --quiet: with --listen …:0 it is the only way to learn the port.
        println!("listening on {scheme}://{addr}");
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
