//! HTTPS (`ServerConfig::tls_cert_file`, `tls_key_file`): a self-signed certificate made here,
//! clients that trust it (ureq on rustls, and curl when installed), plain HTTP and untrusting
//! clients refused without stopping the server, credentials over TLS, stalled handshakes, and
//! the typed error for unusable files.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tierlog_server::{Error, Server, ServerConfig};
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::support::{serve_on_runtime, t0, write_store};

/// A certificate for `127.0.0.1` and `localhost` and its key, PEM, written to `dir`.
struct Cert {
    pem: String,
    cert_file: PathBuf,
    key_file: PathBuf,
}

fn make_cert(dir: &Path, name: &str) -> Cert {
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".into()])
        .expect("self-signed certificate");
    let cert_file = dir.join(format!("{name}.crt"));
    let key_file = dir.join(format!("{name}.key"));
    std::fs::write(&cert_file, c.cert.pem()).expect("write cert");
    std::fs::write(&key_file, c.signing_key.serialize_pem()).expect("write key");
    Cert {
        pem: c.cert.pem(),
        cert_file,
        key_file,
    }
}

/// A server with TLS over the test store.
struct TlsServer {
    rt: tokio::runtime::Runtime,
    server: Option<Server>,
    /// `https://127.0.0.1:PORT`.
    base: String,
    addr: std::net::SocketAddr,
    cert: Cert,
    _tmp: tempfile::TempDir,
}

impl TlsServer {
    fn start(f: impl FnOnce(&mut ServerConfig)) -> TlsServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("store");
        write_store(&dir, t0());
        let cert = make_cert(tmp.path(), "server");
        let mut config = ServerConfig::new(&dir);
        config.tls_cert_file = Some(cert.cert_file.clone());
        config.tls_key_file = Some(cert.key_file.clone());
        f(&mut config);
        let (rt, server, _) = serve_on_runtime(config);
        let addr = server.local_addr();
        TlsServer {
            rt,
            server: Some(server),
            base: format!("https://{addr}"),
            addr,
            cert,
            _tmp: tmp,
        }
    }

    /// `GET url` by a client that trusts the server's certificate: status and body.
    fn get(&self, url: &str, token: Option<&str>) -> Result<(u16, String), ureq::Error> {
        get(&trusting_agent(&self.cert.pem), url, token)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = self.rt.block_on(s.shutdown());
        }
    }
}

fn agent_with(tls: TlsConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .tls_config(tls)
        .build()
        .into()
}

/// A client that trusts `pem` (and nothing else).
fn trusting_agent(pem: &str) -> ureq::Agent {
    let cert = Certificate::from_pem(pem.as_bytes()).expect("certificate PEM");
    agent_with(
        TlsConfig::builder()
            .root_certs(RootCerts::Specific(Arc::new(vec![cert])))
            .build(),
    )
}

fn get(agent: &ureq::Agent, url: &str, token: Option<&str>) -> Result<(u16, String), ureq::Error> {
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut r = req.call()?;
    let status = r.status().as_u16();
    Ok((status, r.body_mut().read_to_string()?))
}

/// The number of series of an instant query's answer.
fn result_count(body: &str) -> usize {
    let v: Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(v["status"], "success", "{body}");
    v["data"]["result"].as_array().expect("result").len()
}

#[test]
fn https_answers_queries_and_health_for_a_client_trusting_the_certificate() {
    let s = TlsServer::start(|_| {});
    let (status, body) = s
        .get(&format!("{}/-/healthy", s.base), None)
        .expect("https");
    assert_eq!(status, 200, "{body}");
    let (status, body) = s
        .get(&format!("{}/api/v1/query?query=up", s.base), None)
        .expect("https");
    assert_eq!(status, 200, "{body}");
    assert_eq!(result_count(&body), 3, "{body}");
    // The name in the certificate works as well as its address.
    let url = format!(
        "https://localhost:{}/api/v1/query?query=no_meta",
        s.addr.port()
    );
    let (status, body) = s.get(&url, None).expect("https by name");
    assert_eq!(status, 200, "{body}");
    assert_eq!(result_count(&body), 1, "{body}");
    let (_, flags) = s
        .get(&format!("{}/api/v1/status/flags", s.base), None)
        .expect("https");
    let v: Value = serde_json::from_str(&flags).expect("JSON");
    assert_eq!(v["data"]["tls"], "true", "{flags}");
}

#[test]
fn plain_http_and_untrusting_clients_get_no_answer_and_the_server_goes_on() {
    let s = TlsServer::start(|_| {});
    let plain = agent_with(TlsConfig::default());
    let r = get(&plain, &format!("http://{}/-/healthy", s.addr), None);
    assert!(r.is_err(), "plain HTTP to the TLS port answered: {r:?}");
    // The default roots do not hold the self-signed certificate: the handshake fails.
    let r = get(&plain, &format!("{}/-/healthy", s.base), None);
    assert!(r.is_err(), "an untrusting client was answered: {r:?}");
    // A client presenting a certificate of another server's CA (trusting another one).
    let other = make_cert(s._tmp.path(), "other");
    let r = get(
        &trusting_agent(&other.pem),
        &format!("{}/-/healthy", s.base),
        None,
    );
    assert!(
        r.is_err(),
        "a client trusting another CA was answered: {r:?}"
    );
    // The failed handshakes did not stop the accept loop.
    let (status, body) = s
        .get(&format!("{}/-/healthy", s.base), None)
        .expect("https");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_stalled_handshake_is_dropped_and_does_not_hold_up_others() {
    let s = TlsServer::start(|c| c.tls_handshake_timeout = Duration::from_millis(200));
    // A client that connects and never says anything.
    let mut silent = TcpStream::connect(s.addr).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    // Others are served meanwhile.
    let (status, body) = s
        .get(&format!("{}/api/v1/query?query=up", s.base), None)
        .expect("https");
    assert_eq!(status, 200, "{body}");
    // The server closes the silent connection once its handshake time is up (a read timeout
    // of 60 s would fail this with `WouldBlock`/`TimedOut` instead).
    let mut buf = [0u8; 64];
    match silent.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{n} bytes sent to a client that sent nothing"),
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            ),
            "{e}"
        ),
    }
}

#[test]
fn credentials_still_apply_over_tls() {
    let s = TlsServer::start(|c| c.bearer_token = Some("s3cret".into()));
    let url = format!("{}/api/v1/query?query=up", s.base);
    assert_eq!(s.get(&url, None).expect("https").0, 401);
    assert_eq!(s.get(&url, Some("wrong")).expect("https").0, 401);
    let (status, body) = s.get(&url, Some("s3cret")).expect("https");
    assert_eq!(status, 200, "{body}");
    assert_eq!(result_count(&body), 3);
    let (status, _) = s
        .get(&format!("{}/-/healthy", s.base), None)
        .expect("https");
    assert_eq!(status, 200);
}

#[test]
fn curl_with_the_certificate_as_ca_gets_answers() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("SKIPPED: curl is not installed");
        return;
    }
    let s = TlsServer::start(|_| {});
    let curl = |ca: Option<&Path>, url: &str| {
        let mut c = std::process::Command::new("curl");
        c.args(["-sS", "--max-time", "60"]);
        if let Some(ca) = ca {
            c.arg("--cacert").arg(ca);
        }
        c.arg(url).output().expect("run curl")
    };
    let url = format!("{}/api/v1/query?query=up", s.base);
    let out = curl(Some(&s.cert.cert_file), &url);
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(result_count(&body), 3, "{body}");
    // Without the CA curl refuses the certificate (exit 60), the server goes on.
    let out = curl(None, &url);
    assert!(
        !out.status.success(),
        "curl trusted a self-signed certificate"
    );
    let out = curl(Some(&s.cert.cert_file), &format!("{}/-/healthy", s.base));
    assert!(out.status.success());
}

/// `serve` with `f`'s TLS settings over a fresh store: its error.
fn serve_error(dir: &Path, f: impl FnOnce(&mut ServerConfig)) -> Error {
    let store = dir.join("store");
    write_store(&store, t0());
    let mut config = ServerConfig::new(&store);
    config.listen = "127.0.0.1:0".parse().unwrap();
    f(&mut config);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match rt.block_on(tierlog_server::serve(config)) {
        Ok(server) => {
            let _ = rt.block_on(server.shutdown());
            panic!("served with bad TLS settings")
        }
        Err(e) => e,
    }
}

#[track_caller]
fn assert_tls_error(e: Error, path: &Path, problem: &str) {
    match &e {
        Error::Tls {
            path: p,
            problem: m,
        } => {
            assert_eq!(p, path, "{e}");
            assert!(m.contains(problem), "{e}");
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn unusable_tls_files_give_a_typed_error_naming_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let good = make_cert(d, "good");
    let other = make_cert(d, "other");
    let missing = d.join("missing.key");
    let garbage = d.join("garbage.pem");
    std::fs::write(&garbage, "not a PEM file\n").unwrap();
    let broken = d.join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let bad_der = d.join("bad-der.crt");
    std::fs::write(
        &bad_der,
        "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let with = |cert: &Path, key: &Path| {
        let (cert, key) = (cert.to_owned(), key.to_owned());
        move |c: &mut ServerConfig| {
            c.tls_cert_file = Some(cert);
            c.tls_key_file = Some(key);
        }
    };
    let case = |i: usize| d.join(format!("case{i}"));

    let e = serve_error(&case(0), with(&good.cert_file, &missing));
    assert_tls_error(e, &missing, "cannot read it");
    let e = serve_error(&case(1), with(&missing, &good.key_file));
    assert_tls_error(e, &missing, "cannot read it");
    // A certificate file with no certificate, or a broken one.
    let e = serve_error(&case(2), with(&garbage, &good.key_file));
    assert_tls_error(e, &garbage, "no certificate");
    let e = serve_error(&case(3), with(&broken, &good.key_file));
    assert_tls_error(e, &broken, "not a PEM certificate file");
    let e = serve_error(&case(4), with(&bad_der, &good.key_file));
    assert_tls_error(e, &bad_der, "cannot be used");
    // A key file with no key (a certificate), or the key of another certificate.
    let e = serve_error(&case(5), with(&good.cert_file, &good.cert_file));
    assert_tls_error(e, &good.cert_file, "no private key");
    let e = serve_error(&case(6), with(&good.cert_file, &other.key_file));
    assert_tls_error(e, &other.key_file, "does not match the certificate");
    // One without the other.
    let e = serve_error(&case(7), |c| c.tls_cert_file = Some(good.cert_file.clone()));
    assert!(
        matches!(&e, Error::Config(m) if m.contains("key file")),
        "{e:?}"
    );
    let e = serve_error(&case(8), |c| c.tls_key_file = Some(good.key_file.clone()));
    assert!(
        matches!(&e, Error::Config(m) if m.contains("certificate file")),
        "{e:?}"
    );
}

#[test]
fn a_writable_server_with_a_bad_tls_file_leaves_the_store_unlocked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let garbage = tmp.path().join("garbage.pem");
    std::fs::write(&garbage, "nothing\n").unwrap();
    let e = serve_error(tmp.path(), |c| {
        c.writable = true;
        c.tls_cert_file = Some(garbage.clone());
        c.tls_key_file = Some(garbage.clone());
    });
    assert_tls_error(e, &garbage, "no certificate");
    // The failed start took no writer lock.
    let store = tierlog::Store::open(tmp.path().join("store"), tierlog::Config::default())
        .expect("the store opens for writing");
    store.close().expect("close");
}

/// A writable server over TLS takes a push on a kept-alive connection, then shuts down
/// without error with that connection still open, releasing its store, which reopens with
/// the push in it.
#[test]
fn a_writable_tls_server_takes_writes_and_shuts_down_gracefully() {
    let mut s = TlsServer::start(|c| {
        c.writable = true;
        c.bearer_token = Some("w".into());
    });
    let agent = trusting_agent(&s.cert.pem);
    let ts = t0();
    let line = format!("tls_push,host=a value=7 {}", ts * 1_000_000);
    let r = agent
        .post(format!("{}/write", s.base))
        .header("Authorization", "Bearer w")
        .send(line.as_bytes())
        .expect("https push");
    assert_eq!(r.status().as_u16(), 204);
    let url = format!(
        "{}/api/v1/query?query=tls_push_value&time={}",
        s.base,
        ts / 1000
    );
    let (status, body) = get(&agent, &url, Some("w")).expect("https query");
    assert_eq!(status, 200, "{body}");
    assert_eq!(result_count(&body), 1, "{body}");
    // The agent still holds its connection open.
    let server = s.server.take().expect("server");
    s.rt.block_on(server.shutdown()).expect("graceful shutdown");
    let dir = s._tmp.path().join("store");
    let store = tierlog::Store::open(&dir, tierlog::Config::default()).expect("reopen");
    let got = store
        .query(&tierlog::Selector::metric("tls_push_value"), ts, ts + 1)
        .expect("query");
    assert_eq!(got.series.len(), 1);
    assert_eq!(got.series[0].points, [(ts, 7.0)]);
    store.close().expect("close");
}
