//! Prometheus' HTTP API v1 over a tierlog store, for Grafana, `promtool` and anything else
//! that reads Prometheus: `tierlog serve DIR`.
//!
//! Endpoints: `/api/v1/query` and `/api/v1/query_range` (GET, or POST with a form body;
//! PromQL evaluated by [`tierlog_promql`]), `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/<name>/values`, `/api/v1/metadata`, `/api/v1/status/buildinfo`,
//! `/api/v1/status/runtimeinfo`, `/api/v1/status/flags`, `/metrics` (the store's and the
//! server's own metrics in Prometheus text, `docs/serving.md` lists them),
//! `/api/v1/query_exemplars` (always
//! empty), `/api/v1/rules` and `/api/v1/alerts` (no rules, no alerts), `/-/healthy` and
//! `/-/ready`; `POST /api/v1/read` (Prometheus remote read of the raw points, for a
//! Prometheus with `remote_read`; `docs/serving.md`, "Remote read"); and `/` (with
//! `/ui/app.js`, `/ui/app.css`, `/ui/icon.svg`), a page for people: the metric list, an
//! expression box, a chart and a table of the answer (`docs/serving.md`, "The page").
//! Answers use Prometheus' envelope (`{"status":"success","data":…}` or
//! `{"status":"error","errorType":…,"error":…}`) and encoding (`[<unix seconds>, "<value>"]`).
//! Errors: 400 `bad_data` (a query that does not parse or that the engine does not
//! support, bad parameters), 422 `execution`, 503 `timeout`/`canceled`, 404 for an unknown
//! path, 405 for a method a path does not take.
//!
//! # Freshness
//!
//! The store is opened read-only ([`tierlog::Store::open_read_only`]), beside the process that
//! writes it: an open is a snapshot of what the writer had written to its files at that
//! moment. The first request that arrives once the snapshot is older than
//! [`ServerConfig::refresh`] (default 5 s) reopens the store and is answered from the new
//! snapshot; requests meanwhile are answered from the old one. So an answer reflects the
//! store as of at most `refresh` before the request (longer only after the server sat idle,
//! when the first request reopens it anyway; or when a reopen failed: the old snapshot is
//! kept, the failure logged, and the next reopen is tried one interval later). The series,
//! labels and label values endpoints answer from the store's index, which has no time
//! ranges: they list every series the store holds, whatever `start` and `end` say (nothing
//! when `end` is before `start`, as Prometheus 2.42 answers).
//!
//! # Writes
//!
//! With [`ServerConfig::writable`] the store is opened for writing (the writer lock: a
//! second writer is refused with [`tierlog::Error::Locked`]) and answers reads itself, with
//! no refresh; `POST /api/v1/write` (Prometheus remote-write 1.0),
//! `POST /api/v1/import/prometheus` (text exposition) and `POST /write` (InfluxDB 1.x line
//! protocol) take samples within [`WriteLimits`]. Statuses, refused samples and stale
//! markers: `docs/serving.md`, "Writing". Without it the write endpoints answer 404.
//!
//! # Queries
//!
//! Each query is evaluated first on the async worker that read its request, for at most 1 ms
//! and 50,000 samples (most end within both; no hand-off to another thread), else again on
//! tokio's blocking pool;
//! at most [`ServerConfig::max_concurrency`] at once (waiting for a place counts against its
//! timeout), with [`tierlog_promql::Options`]:
//! a deadline of [`ServerConfig::query_timeout`] (or the request's shorter `timeout`),
//! [`ServerConfig::max_samples`], at most 11,000 points per series, and a cancel flag set
//! when the client goes away before the answer.
//!
//! # Security
//!
//! The server listens on `127.0.0.1:9201` by default and refuses an address that is not a
//! loopback one unless [`ServerConfig::allow_non_loopback`] is set. With
//! credentials ([`ServerConfig::bearer_token`], [`ServerConfig::read_token`],
//! [`ServerConfig::write_token`], [`ServerConfig::basic_auth`]), every path except
//! `/-/healthy` and `/-/ready` needs `Authorization: Bearer <token>` or `Basic …` (401
//! otherwise; compared in constant time); the read token gets 403 on the write endpoints.
//! With [`ServerConfig::tls_cert_file`] and [`ServerConfig::tls_key_file`] it serves HTTPS
//! only (rustls; TLS 1.2 and 1.3), each handshake within
//! [`ServerConfig::tls_handshake_timeout`]; the loopback rule is the same with TLS.
//!
//! ```no_run
//! # async fn run() -> Result<(), tierlog_server::Error> {
//! let mut config = tierlog_server::ServerConfig::new("/var/lib/agent/metrics");
//! config.listen = "127.0.0.1:0".parse().expect("address");
//! let server = tierlog_server::serve(config).await?;
//! println!("listening on http://{}", server.local_addr());
//! server.shutdown().await?;
//! # Ok(())
//! # }
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod api;
mod encode;
mod metrics;
mod params;
mod read;
mod snapshot;
mod tls;
mod ui;
mod write;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::{get, post};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

pub use api::{MAX_POINTS_PER_SERIES, PROMETHEUS_API_VERSION};
#[doc(hidden)]
pub use read::decode as read_decode;
pub use tls::MAX_HANDSHAKES as MAX_TLS_HANDSHAKES;
pub use write::decode as write_decode;
pub use write::{STALE_NAN_BITS, WriteLimits};

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9201";

/// [`ServerConfig::read_cache_bytes`]'s default: 64 MiB, about 4 million decoded points.
pub const DEFAULT_READ_CACHE_BYTES: usize = 64 << 20;

/// How long [`Server::shutdown`] waits for requests in flight before it stops anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The settings of a server.
#[derive(Clone)]
pub struct ServerConfig {
    /// The store's directory.
    pub dir: PathBuf,
    /// The engine's settings for the read-only opens (its clock, mainly).
    pub store_config: tierlog::Config,
    /// Where to listen (default `127.0.0.1:9201`; port 0 picks a free port, see
    /// [`Server::local_addr`]).
    pub listen: SocketAddr,
    /// Allow a `listen` address that is not a loopback one (`0.0.0.0`, a LAN address).
    pub allow_non_loopback: bool,
    /// When set, every endpoint except `/-/healthy` and `/-/ready` requires credentials;
    /// this token (`Authorization: Bearer <token>`) may read and write.
    pub bearer_token: Option<String>,
    /// A token that may read but not write (403 on the write endpoints).
    pub read_token: Option<String>,
    /// A token that may write, and read too.
    pub write_token: Option<String>,
    /// `(user, password)` pairs accepted as `Authorization: Basic …` on every protected
    /// endpoint, reads and writes alike.
    pub basic_auth: Vec<(String, String)>,
    /// The longest a query may run (default 2 minutes); a request's `timeout` can shorten it.
    pub query_timeout: Duration,
    /// Most samples a query may hold in memory (default 50 million).
    pub max_samples: usize,
    /// Most queries evaluated at once (default 20); others wait for a place.
    pub max_concurrency: usize,
    /// Reopen the store when its snapshot is older than this (default 5 s).
    pub refresh: Duration,
    /// Bytes of decoded raw chunks kept for queries that read them again (a dashboard's
    /// refresh, a rule's next evaluation), shared by every snapshot (default 64 MiB; 0 turns
    /// it off). Used when [`ServerConfig::store_config`] brings no [`tierlog::ReadCache`] of
    /// its own.
    pub read_cache_bytes: usize,
    /// Open the store for writing ([`tierlog::Store::open`], which takes the writer lock) and
    /// take writes on `/api/v1/write`, `/api/v1/import/prometheus` and `/write`; reads are
    /// answered from the same store, so they see every acknowledged write at once. Without it
    /// (the default) the store is opened read-only and the write endpoints answer 404.
    pub writable: bool,
    /// The limits of the write endpoints.
    pub write_limits: WriteLimits,
    /// Serve HTTPS (only) with the certificate chain of this PEM file, the server's own
    /// certificate first; needs [`ServerConfig::tls_key_file`]. Read once at start.
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM file of the private key of [`ServerConfig::tls_cert_file`]'s certificate
    /// (PKCS#8, PKCS#1 or SEC1; RSA, ECDSA or Ed25519).
    pub tls_key_file: Option<PathBuf>,
    /// The longest a client may take over its TLS handshake before it is dropped (default
    /// 10 s); at most [`MAX_TLS_HANDSHAKES`] are in progress at once.
    pub tls_handshake_timeout: Duration,
}

impl ServerConfig {
    /// The defaults for the store in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ServerConfig {
            dir: dir.into(),
            store_config: tierlog::Config::default(),
            listen: DEFAULT_LISTEN.parse().expect("the default address parses"),
            allow_non_loopback: false,
            bearer_token: None,
            read_token: None,
            write_token: None,
            basic_auth: Vec::new(),
            query_timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
            max_concurrency: 20,
            refresh: Duration::from_secs(5),
            read_cache_bytes: DEFAULT_READ_CACHE_BYTES,
            writable: false,
            write_limits: WriteLimits::default(),
            tls_cert_file: None,
            tls_key_file: None,
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }

    fn check(&self) -> Result<(), Error> {
        if !self.listen.ip().is_loopback() && !self.allow_non_loopback {
            return Err(Error::NotLoopback(self.listen));
        }
        let bad = |m: &str| Err(Error::Config(m.to_owned()));
        if self.bearer_token.as_deref().is_some_and(str::is_empty) {
            return bad("the bearer token is empty");
        }
        if self.read_token.as_deref().is_some_and(str::is_empty) {
            return bad("the read token is empty");
        }
        if self.write_token.as_deref().is_some_and(str::is_empty) {
            return bad("the write token is empty");
        }
        if self.read_token.is_some()
            && (self.read_token == self.write_token || self.read_token == self.bearer_token)
        {
            return bad("the read token must differ from the write and bearer tokens");
        }
        for (user, password) in &self.basic_auth {
            if password.is_empty() {
                return Err(Error::Config(format!(
                    "basic auth user {user:?} has an empty password"
                )));
            }
            if user.contains(':') {
                return Err(Error::Config(format!(
                    "basic auth user {user:?} contains ':'"
                )));
            }
        }
        if self.max_concurrency == 0 {
            return bad("the query concurrency must be at least 1");
        }
        if self.max_samples == 0 {
            return bad("the sample limit must be at least 1");
        }
        if self.query_timeout.is_zero() {
            return bad("the query timeout must be positive");
        }
        if self.writable {
            self.write_limits.check().map_err(Error::Config)?;
        }
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => return bad("a TLS certificate file needs a TLS key file"),
            (None, Some(_)) => return bad("a TLS key file needs a TLS certificate file"),
            _ => {}
        }
        if self.tls_handshake_timeout.is_zero() {
            return bad("the TLS handshake timeout must be positive");
        }
        Ok(())
    }

    /// The TLS certificate and key files, when TLS is on.
    fn tls_files(&self) -> Option<(&Path, &Path)> {
        Some((
            self.tls_cert_file.as_deref()?,
            self.tls_key_file.as_deref()?,
        ))
    }

    /// The settings by flag name, as `/api/v1/status/flags` shows them.
    fn flags(&self) -> std::collections::BTreeMap<&'static str, String> {
        [
            ("storage.path", self.dir.display().to_string()),
            ("listen", self.listen.to_string()),
            ("allow-non-loopback", self.allow_non_loopback.to_string()),
            ("bearer-token", self.bearer_token.is_some().to_string()),
            ("read-token", self.read_token.is_some().to_string()),
            ("write-token", self.write_token.is_some().to_string()),
            ("basic-auth", (!self.basic_auth.is_empty()).to_string()),
            (
                "query.timeout",
                format!("{}ms", self.query_timeout.as_millis()),
            ),
            ("query.max-samples", self.max_samples.to_string()),
            ("query.max-concurrency", self.max_concurrency.to_string()),
            ("refresh", format!("{}ms", self.refresh.as_millis())),
            ("read-cache", self.read_cache_bytes.to_string()),
            ("writable", self.writable.to_string()),
            ("tls", self.tls_files().is_some().to_string()),
        ]
        .into_iter()
        .collect()
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("dir", &self.dir)
            .field("listen", &self.listen)
            .field("allow_non_loopback", &self.allow_non_loopback)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<hidden>"),
            )
            .field("read_token", &self.read_token.as_ref().map(|_| "<hidden>"))
            .field(
                "write_token",
                &self.write_token.as_ref().map(|_| "<hidden>"),
            )
            .field(
                "basic_auth_users",
                &self.basic_auth.iter().map(|(u, _)| u).collect::<Vec<_>>(),
            )
            .field("query_timeout", &self.query_timeout)
            .field("max_samples", &self.max_samples)
            .field("max_concurrency", &self.max_concurrency)
            .field("refresh", &self.refresh)
            .field("writable", &self.writable)
            .field("write_limits", &self.write_limits)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("tls_key_file", &self.tls_key_file)
            .field("tls_handshake_timeout", &self.tls_handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The store could not be opened.
    Store(tierlog::Error),
    /// The listen address is not a loopback one and
    /// [`ServerConfig::allow_non_loopback`] is not set.
    NotLoopback(SocketAddr),
    /// A setting is out of range.
    Config(String),
    /// Listening on the address failed.
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed (or the runtime could not be started).
    Io(std::io::Error),
    /// A TLS certificate or key file cannot be used.
    Tls {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Store(e) => write!(f, "{e}"),
            Error::NotLoopback(a) => write!(
                f,
                "refusing to listen on {a}, which is not a loopback address: other hosts could read the store (allow it explicitly, and consider a bearer token)"
            ),
            Error::Config(m) => f.write_str(m),
            Error::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Error::Io(e) => write!(f, "{e}"),
            Error::Tls { path, problem } => write!(f, "TLS: {}: {problem}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Store(e) => Some(e),
            Error::Bind { source, .. } | Error::Io(source) => Some(source),
            _ => None,
        }
    }
}

impl From<tierlog::Error> for Error {
    fn from(e: tierlog::Error) -> Self {
        Error::Store(e)
    }
}

/// What every request shares: the store's snapshots, the query pool's places, the settings.
/// Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    snapshots: snapshot::Snapshots,
    queries: Arc<Semaphore>,
    /// The kinds of queries that go straight to the blocking pool.
    slow: api::SlowQueries,
    max_concurrency: usize,
    metrics: metrics::ServerMetrics,
    access: api::Access,
    query_timeout: Duration,
    max_samples: usize,
    started: SystemTime,
    flags: std::collections::BTreeMap<&'static str, String>,
    /// Set when the server is writable.
    writer: Option<write::Writer>,
}

impl AppState {
    /// Closes a writable server's store once no request holds it (else leaves it to be
    /// dropped); a read-only snapshot is just dropped.
    fn close(self) -> Result<(), Error> {
        let Ok(inner) = Arc::try_unwrap(self.0) else {
            log::warn!("requests still hold the store at shutdown: it is dropped, not closed");
            return Ok(());
        };
        if inner.writer.is_none() {
            return Ok(());
        }
        match inner.snapshots.into_store() {
            Some(store) => store.close().map_err(Error::Store),
            None => {
                log::warn!("requests still hold the store at shutdown: it is dropped, not closed");
                Ok(())
            }
        }
    }
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// Checks `config` and opens the store read-only (for writing with
    /// [`ServerConfig::writable`]). Blocking (it reads the store's index and logs).
    pub fn new(config: &ServerConfig) -> Result<AppState, Error> {
        config.check()?;
        let mut store_config = config.store_config.clone();
        if store_config.read_cache.is_none() && config.read_cache_bytes > 0 {
            store_config.read_cache = Some(tierlog::ReadCache::new(config.read_cache_bytes));
        }
        let snapshots = if config.writable {
            snapshot::Snapshots::writer(config.dir.clone(), store_config)?
        } else {
            snapshot::Snapshots::open(config.dir.clone(), store_config, config.refresh)?
        };
        Ok(AppState(Arc::new(Inner {
            snapshots,
            queries: Arc::new(Semaphore::new(config.max_concurrency)),
            slow: api::SlowQueries::default(),
            max_concurrency: config.max_concurrency,
            metrics: metrics::ServerMetrics::default(),
            access: api::Access::new(config),
            query_timeout: config.query_timeout,
            max_samples: config.max_samples,
            started: SystemTime::now(),
            flags: config.flags(),
            writer: config
                .writable
                .then(|| write::Writer::new(config.write_limits.clone())),
        })))
    }
}

/// The API's routes over `state`, to serve or to nest in another router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/query", get(api::query).post(api::query))
        .route(
            "/api/v1/query_range",
            get(api::query_range).post(api::query_range),
        )
        .route("/api/v1/series", get(api::series).post(api::series))
        .route("/api/v1/labels", get(api::labels).post(api::labels))
        .route("/api/v1/label/{name}/values", get(api::label_values))
        .route("/api/v1/metadata", get(api::metadata))
        .route(
            "/api/v1/query_exemplars",
            get(api::query_exemplars).post(api::query_exemplars),
        )
        .route("/api/v1/status/buildinfo", get(api::buildinfo))
        .route("/api/v1/status/runtimeinfo", get(api::runtimeinfo))
        .route("/api/v1/status/flags", get(api::flags))
        .route("/api/v1/rules", get(api::rules))
        .route("/api/v1/alerts", get(api::alerts))
        .route("/-/healthy", get(api::healthy))
        .route("/-/ready", get(api::ready))
        .route("/api/v1/read", post(read::remote_read))
        .route("/api/v1/write", post(write::remote_write))
        .route("/api/v1/import/prometheus", post(write::import_prometheus))
        .route("/write", post(write::influx_write))
        .route("/metrics", get(metrics::metrics))
        .route("/", get(ui::page))
        .route("/ui/app.js", get(ui::script))
        .route("/ui/app.css", get(ui::style))
        .route("/ui/icon.svg", get(ui::icon))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::authorize,
        ))
        // Outermost, so that refusals by the layers inside are counted too.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    state: AppState,
}

impl Server {
    /// The address it listens on (with the port picked when [`ServerConfig::listen`] had
    /// port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits for the requests in flight, at most
    /// [`SHUTDOWN_GRACE`].
    ///
    /// A writable server then closes its store (state persisted, as `Store::close` does);
    /// should a request still hold it past the grace, the store is dropped instead, which
    /// syncs its logs (the next open recovers from them).
    pub async fn shutdown(self) -> Result<(), Error> {
        let _ = self.stop.send(());
        let served = match tokio::time::timeout(SHUTDOWN_GRACE, self.task).await {
            Ok(Ok(r)) => r.map_err(Error::Io),
            Ok(Err(e)) => Err(Error::Io(std::io::Error::other(e))),
            Err(_) => Ok(()),
        };
        let state = self.state;
        let closed = tokio::task::spawn_blocking(move || state.close())
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?;
        served.and(closed)
    }

    /// Serves until `signal` completes, then shuts down as [`Server::shutdown`] does.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> Result<(), Error> {
        signal.await;
        self.shutdown().await
    }
}

/// Opens the store, listens on [`ServerConfig::listen`] and serves in a task of the current
/// tokio runtime (which must be a multi-threaded one with I/O and timers enabled) until
/// [`Server::shutdown`].
pub async fn serve(config: ServerConfig) -> Result<Server, Error> {
    config.check()?;
    let c = config.clone();
    // The TLS files first: a bad one leaves the store alone.
    let (state, tls) = tokio::task::spawn_blocking(move || {
        let tls = c
            .tls_files()
            .map(|(cert, key)| tls::server_config(cert, key))
            .transpose()?;
        Ok::<_, Error>((AppState::new(&c)?, tls))
    })
    .await
    .map_err(|e| Error::Io(std::io::Error::other(e)))??;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(Error::Io)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = router(state.clone());
    let stopped = async move {
        let _ = stopped.await;
    };
    let task = match tls {
        None => {
            // TCP_NODELAY, as Go's servers (Prometheus among them) set it: a reply written in
            // two pieces (head, then body) goes out at once instead of the second waiting for
            // an ACK. (The TLS listener sets it on the connections it accepts.)
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    log::warn!("TCP_NODELAY not set on a connection: {e}");
                }
            });
            tokio::spawn(
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .into_future(),
            )
        }
        Some(tls) => {
            let listener = tls::TlsListener::new(listener, tls, config.tls_handshake_timeout)
                .map_err(Error::Io)?;
            tokio::spawn(
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .into_future(),
            )
        }
    };
    Ok(Server {
        addr,
        stop,
        task,
        state,
    })
}

/// For a program's `main`: starts a tokio runtime, serves, calls `on_listening` with the bound
/// address, and returns after SIGINT or SIGTERM (Ctrl-C elsewhere) and a graceful shutdown.
pub fn serve_until_signal(
    config: ServerConfig,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tierlog-server")
        .build()
        .map_err(Error::Io)?;
    let r = rt.block_on(async move {
        // Signal handlers first: a SIGTERM sent as soon as the address is announced must
        // find them installed, not the default action (which ends the process at once).
        let stop = stop_signal()?;
        let server = serve(config).await?;
        on_listening(server.local_addr());
        server.run_until(stop).await
    });
    // Requests still running after the grace period are dropped, which sets their queries'
    // cancel flags; a query that does not stop is not waited for.
    rt.shutdown_timeout(Duration::from_secs(1));
    r
}

/// Installs the SIGINT and SIGTERM handlers now; the future completes on either.
fn stop_signal() -> Result<impl Future<Output = ()>, Error> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt()).map_err(Error::Io)?;
        let mut term = signal(SignalKind::terminate()).map_err(Error::Io)?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
