//! HTTPS: the certificate and key files loaded into a rustls configuration (ring provider, TLS
//! 1.2 and 1.3, ALPN `http/1.1`), and a listener that hands axum connections whose handshake is
//! done.
//!
//! Handshakes run in their own tasks, at most [`MAX_HANDSHAKES`] at once, each within
//! [`crate::ServerConfig::tls_handshake_timeout`]: a client that fails its handshake (a plain
//! HTTP request, a certificate it refuses) or stalls in it is dropped and logged, and the
//! accept loop goes on; no worker waits for a slow client.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::Error;

/// Most TLS handshakes in progress at once; further connections wait in the kernel's backlog.
pub const MAX_HANDSHAKES: usize = 256;

fn bad(path: &Path, problem: impl Into<String>) -> Error {
    Error::Tls {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| bad(path, format!("cannot read it: {e}")))
}

/// The rustls configuration serving the chain of `cert_file` with the key of `key_file` (PEM
/// both), the key checked against the chain's first certificate.
pub(crate) fn server_config(
    cert_file: &Path,
    key_file: &Path,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let certs = CertificateDer::pem_slice_iter(&read(cert_file)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(cert_file, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(bad(
            cert_file,
            "no certificate in it (expected PEM `-----BEGIN CERTIFICATE-----` blocks)",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(key_file)?).map_err(|e| match e {
        pem::Error::NoItemsFound => bad(
            key_file,
            "no private key in it (expected a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block)",
        ),
        e => bad(key_file, format!("not a PEM private key file: {e}")),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| {
            bad(
                key_file,
                format!("not a usable private key (RSA, ECDSA P-256/P-384 or Ed25519): {e}"),
            )
        })?;
    match CertifiedKey::new(certs.clone(), signing).keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(bad(
                key_file,
                format!(
                    "the key does not match the certificate of {}",
                    cert_file.display()
                ),
            ));
        }
        Err(e) => {
            return Err(bad(
                cert_file,
                format!("its first certificate cannot be used: {e}"),
            ));
        }
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert_file, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(key_file, e.to_string()))?;
    // The server speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener whose connections have completed their TLS handshake.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
    /// Accepts TCP connections and runs their handshakes; aborted (with the handshakes in
    /// progress) when the listener is dropped, which closes the port.
    task: JoinHandle<()>,
}

impl TlsListener {
    pub(crate) fn new(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
        handshake_timeout: Duration,
    ) -> io::Result<TlsListener> {
        let addr = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(16);
        let task = tokio::spawn(accept_loop(
            tcp,
            TlsAcceptor::from(config),
            handshake_timeout,
            tx,
        ));
        Ok(TlsListener { ready, addr, task })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept loop ended (its task panicked): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

async fn accept_loop(
    mut tcp: TcpListener,
    acceptor: TlsAcceptor,
    timeout: Duration,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let places = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let mut handshakes = JoinSet::new();
    loop {
        while handshakes.try_join_next().is_some() {}
        let place = tokio::select! {
            p = places.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = ready.closed() => return,
        };
        // axum's accept: retries, and waits a second after errors such as too many open files.
        let (stream, peer) = tokio::select! {
            c = axum::serve::Listener::accept(&mut tcp) => c,
            _ = ready.closed() => return,
        };
        if let Err(e) = stream.set_nodelay(true) {
            log::warn!("TCP_NODELAY not set on a connection from {peer}: {e}");
        }
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        handshakes.spawn(async move {
            let _place = place;
            match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    // Fails only when the server is stopping: the connection is dropped.
                    let _ = ready.send((tls, peer)).await;
                }
                Ok(Err(e)) => log::info!("TLS handshake with {peer} failed: {e}"),
                Err(_) => log::info!(
                    "TLS handshake with {peer} not done within {} s: closed",
                    timeout.as_secs_f64()
                ),
            }
        });
    }
}
