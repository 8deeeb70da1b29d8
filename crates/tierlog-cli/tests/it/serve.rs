//! `tierlog serve`: starts on an ephemeral port, prints it, answers, stops on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{ok, s, tierlog};

/// A `tierlog serve` process, killed if a test fails before it stops it.
struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tierlog"))
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start tierlog serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the address");
    let base = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_owned();
    Served { child, base }
}

fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut r = req.call().expect("request");
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

fn store(dir: &Path) -> std::path::PathBuf {
    let d = dir.join("store");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/node.prom");
    ok(&["ingest", s(&d), s(&example), "--replay"]);
    d
}

#[test]
fn serve_prints_its_port_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let d = store(dir.path());
    let token = dir.path().join("token");
    std::fs::write(&token, "t0k3n\n").unwrap();
    let mut srv = serve(&[
        s(&d),
        "--listen",
        "127.0.0.1:0",
        "--bearer-token-file",
        s(&token),
        "--refresh",
        "1s",
        "--query.timeout",
        "30s",
    ]);
    assert!(srv.base.starts_with("http://127.0.0.1:"), "{}", srv.base);
    assert!(!srv.base.ends_with(":0"), "{}", srv.base);
    assert_eq!(get(&format!("{}/-/ready", srv.base), None).0, 200);
    assert_eq!(get(&format!("{}/api/v1/labels", srv.base), None).0, 401);
    let (status, body) = get(
        &format!("{}/api/v1/label/__name__/values", srv.base),
        Some("t0k3n"),
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success");
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    assert!(names.contains(&"node_cpu_seconds_total"), "{names:?}");
    let flags = get(&format!("{}/api/v1/status/flags", srv.base), Some("t0k3n")).1;
    let flags: serde_json::Value = serde_json::from_str(&flags).unwrap();
    assert_eq!(flags["data"]["refresh"], "1000ms");
    assert_eq!(flags["data"]["query.timeout"], "30000ms");

    // SAFETY: kill(2) on our own child's pid.
    #[allow(unsafe_code)]
    let r = unsafe { libc::kill(srv.child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(r, 0);
    let end = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = srv.child.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < end, "still running 60 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn serve_refuses_non_loopback_without_the_flag_and_missing_stores() {
    let dir = tempfile::tempdir().unwrap();
    let d = store(dir.path());
    let o = tierlog(&["serve", s(&d), "--listen", "0.0.0.0:0"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--allow-non-loopback"), "{err}");
    let o = tierlog(&["serve", s(&dir.path().join("absent"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no store there"));
    let o = tierlog(&["serve", s(&d), "--listen", "nowhere"]);
    assert_eq!(o.status.code(), Some(2));
}

/// `--tls-cert-file` and `--tls-key-file` go together (a usage error otherwise); an unusable
/// file stops the start with its name and what is wrong.
#[test]
fn serve_tls_flags_go_together_and_a_bad_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = store(dir.path());
    let pem = dir.path().join("garbage.pem");
    std::fs::write(&pem, "not PEM\n").unwrap();
    for flag in ["--tls-cert-file", "--tls-key-file"] {
        let o = tierlog(&["serve", s(&d), "--listen", "127.0.0.1:0", flag, s(&pem)]);
        assert_eq!(o.status.code(), Some(2), "{flag}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("--tls-"), "{err}");
    }
    let o = tierlog(&[
        "serve",
        s(&d),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert-file",
        s(&pem),
        "--tls-key-file",
        s(&pem),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("TLS") && err.contains(s(&pem)) && err.contains("no certificate"),
        "{err}"
    );
}

/// `serve --writable` on a new directory creates the store, takes a line protocol push,
/// answers it at once, refuses a second writer, and leaves the data durable after SIGTERM.
#[test]
fn serve_writable_takes_pushes_and_holds_the_writer_lock() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("edge");
    let mut srv = serve(&[s(&d), "--writable", "--listen", "127.0.0.1:0"]);
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 5;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(format!("{}/write?db=x&precision=s", srv.base))
        .send(format!("room,id=k temp=21.5 {now_s}\n").as_bytes())
        .expect("post");
    assert_eq!(
        r.status().as_u16(),
        204,
        "{:?}",
        r.body_mut().read_to_string()
    );
    let (status, body) = get(
        &format!("{}/api/v1/query?query=room_temp&time={now_s}", srv.base),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""value":["#) && body.contains(r#""21.5"]"#),
        "{body}"
    );
    let o = tierlog(&["serve", s(&d), "--writable", "--listen", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("locked for writing"), "{err}");

    // SAFETY: kill(2) on our own child's pid.
    #[allow(unsafe_code)]
    let r = unsafe { libc::kill(srv.child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(r, 0);
    let end = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = srv.child.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < end, "still running 60 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let store = tierlog::Store::open_read_only(&d, tierlog::Config::default()).unwrap();
    let r = store
        .query(&tierlog::Selector::metric("room_temp"), 0, i64::MAX / 2)
        .unwrap();
    assert_eq!(r.series.len(), 1);
    assert_eq!(r.series[0].points, [(now_s * 1000, 21.5)]);
}

/// `--read-token-file`, `--write-token-file` and `--basic-auth-file` parse and take effect;
/// a missing or empty file, or a basic auth line without a password, is refused at startup.
#[test]
fn serve_reads_separate_credentials_and_refuses_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = store(dir.path());
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let read = file("read", "r3ad\n");
    let write = file("write", "wr1te\n");
    let users = file("users", "user:pw\n\nother:x:y\n");
    let srv = serve(&[
        s(&d),
        "--listen",
        "127.0.0.1:0",
        "--read-token-file",
        s(&read),
        "--write-token-file",
        s(&write),
        "--basic-auth-file",
        s(&users),
    ]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let call = |method: &str, path: &str, auth: Option<&str>| {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", srv.base));
        if let Some(a) = auth {
            b = b.header("Authorization", a);
        }
        let mut r = agent.run(b.body(Vec::<u8>::new()).unwrap()).unwrap();
        let _ = r.body_mut().read_to_string();
        r.status().as_u16()
    };
    let labels = "/api/v1/labels";
    assert_eq!(call("GET", labels, None), 401);
    assert_eq!(call("GET", labels, Some("Bearer r3ad")), 200);
    assert_eq!(call("GET", labels, Some("Bearer wr1te")), 200);
    // base64("user:pw") and base64("other:x:y").
    assert_eq!(call("GET", labels, Some("Basic dXNlcjpwdw==")), 200);
    assert_eq!(call("GET", labels, Some("Basic b3RoZXI6eDp5")), 200);
    assert_eq!(call("GET", labels, Some("Basic dXNlcjpwdg==")), 401);
    assert_eq!(call("POST", "/write", Some("Bearer r3ad")), 403);
    // Not --writable: the write endpoints are absent for those who may write.
    assert_eq!(call("POST", "/write", Some("Bearer wr1te")), 404);
    drop(srv);

    let missing = dir.path().join("absent");
    let empty = file("empty", "\n");
    let no_password = file("nopw", "user:\n");
    let no_colon = file("nocolon", "user\n");
    for (flag, f) in [
        ("--read-token-file", &missing),
        ("--read-token-file", &empty),
        ("--write-token-file", &missing),
        ("--write-token-file", &empty),
        ("--basic-auth-file", &missing),
        ("--basic-auth-file", &empty),
        ("--basic-auth-file", &no_password),
        ("--basic-auth-file", &no_colon),
    ] {
        let o = tierlog(&["serve", s(&d), "--listen", "127.0.0.1:0", flag, s(f)]);
        assert_eq!(o.status.code(), Some(1), "{flag} {}", f.display());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&*f.display().to_string()), "{flag}: {err}");
    }
    let o = tierlog(&["serve", s(&d), "--read-token-file"]);
    assert_eq!(o.status.code(), Some(2));
}
