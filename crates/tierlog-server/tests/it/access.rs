//! Access control: every endpoint refuses without credentials when any are set, read tokens
//! cannot write, write tokens and basic auth can, the single bearer token does both.

use std::time::Duration;

use tierlog_forward::proto::{Label, ProtoSample, TimeSeries, WriteRequest, encode_body};
use tierlog_server::{Server, ServerConfig};

/// A writable server over the test store, with credentials set by `f`.
struct Guarded {
    rt: tokio::runtime::Runtime,
    server: Option<Server>,
    base: String,
    t0: i64,
    _tmp: tempfile::TempDir,
}

impl Guarded {
    fn start(f: impl FnOnce(&mut ServerConfig)) -> Guarded {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("store");
        let t0 = crate::support::t0();
        crate::support::write_store(&dir, t0);
        let mut config = ServerConfig::new(&dir);
        config.writable = true;
        f(&mut config);
        let (rt, server, base) = crate::support::serve_on_runtime(config);
        Guarded {
            rt,
            server: Some(server),
            base,
            t0,
            _tmp: tmp,
        }
    }

    /// Sends `e` with the `Authorization` header `auth`: status, `WWW-Authenticate` values,
    /// body.
    fn send(&self, e: &Endpoint, auth: Option<&str>) -> (u16, Vec<String>, String) {
        let mut b = ureq::http::Request::builder().method(e.method).uri(format!(
            "{}{}",
            self.base,
            e.path(self.t0)
        ));
        for (k, v) in e.headers {
            b = b.header(*k, *v);
        }
        if let Some(a) = auth {
            b = b.header("Authorization", a);
        }
        let req = b.body(e.body(self.t0)).unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut r = agent.run(req).expect("request");
        let www = r
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let status = r.status().as_u16();
        // The remote-read answer is binary (snappy protobuf).
        let body = r.body_mut().read_to_vec().expect("body");
        (status, www, String::from_utf8_lossy(&body).into_owned())
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = self.rt.block_on(s.shutdown());
        }
    }
}

/// One request to one route, and what it answers with valid credentials.
struct Endpoint {
    method: &'static str,
    route: &'static str,
    query: &'static str,
    headers: &'static [(&'static str, &'static str)],
    form: &'static str,
    write: bool,
    ok: u16,
}

impl Endpoint {
    fn path(&self, t0: i64) -> String {
        let route = self.route.replace("{name}", "job");
        let q = self.query.replace("T0", &(t0 / 1000).to_string());
        if q.is_empty() {
            route
        } else {
            format!("{route}?{q}")
        }
    }

    fn body(&self, t0: i64) -> Vec<u8> {
        if self.route == "/api/v1/write" {
            let labels = [("__name__", "access_rw"), ("k", "v")]
                .into_iter()
                .map(|(n, v)| Label {
                    name: n.into(),
                    value: v.into(),
                })
                .collect();
            return encode_body(&WriteRequest {
                timeseries: vec![TimeSeries {
                    labels,
                    samples: vec![ProtoSample {
                        value: 1.0,
                        timestamp: t0,
                    }],
                }],
                metadata: vec![],
            });
        }
        if self.route == "/api/v1/read" {
            return tierlog_prompb::encode_snappy(&tierlog_prompb::ReadRequest {
                queries: vec![tierlog_prompb::Query {
                    start_timestamp_ms: t0 - 60_000,
                    end_timestamp_ms: t0,
                    matchers: vec![tierlog_prompb::LabelMatcher {
                        r#type: tierlog_prompb::MatchType::Eq as i32,
                        name: "__name__".into(),
                        value: "up".into(),
                    }],
                    hints: None,
                }],
                accepted_response_types: vec![],
            });
        }
        self.form.replace("T0", &t0.to_string()).into_bytes()
    }
}

const FORM: &[(&str, &str)] = &[("Content-Type", "application/x-www-form-urlencoded")];
const RW: &[(&str, &str)] = &[
    ("Content-Encoding", "snappy"),
    ("Content-Type", "application/x-protobuf"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

fn read(method: &'static str, route: &'static str, query: &'static str) -> Endpoint {
    Endpoint {
        method,
        route,
        query,
        headers: if method == "POST" { FORM } else { &[] },
        form: "",
        write: false,
        ok: 200,
    }
}

/// Every route of the router with each method it takes.
fn endpoints() -> Vec<Endpoint> {
    let q = "query=up&time=T0";
    let r = "query=up&start=T0&end=T0&step=15";
    vec![
        read("GET", "/api/v1/query", q),
        read("POST", "/api/v1/query", q),
        read("GET", "/api/v1/query_range", r),
        read("POST", "/api/v1/query_range", r),
        read("GET", "/api/v1/series", "match%5B%5D=up"),
        read("POST", "/api/v1/series", "match%5B%5D=up"),
        read("GET", "/api/v1/labels", ""),
        read("POST", "/api/v1/labels", ""),
        read("GET", "/api/v1/label/{name}/values", ""),
        read("GET", "/api/v1/metadata", ""),
        read("GET", "/api/v1/query_exemplars", "query=up"),
        read("POST", "/api/v1/query_exemplars", "query=up"),
        read("GET", "/api/v1/status/buildinfo", ""),
        read("GET", "/api/v1/status/runtimeinfo", ""),
        read("GET", "/api/v1/status/flags", ""),
        read("GET", "/api/v1/rules", ""),
        read("GET", "/api/v1/alerts", ""),
        read("GET", "/metrics", ""),
        read("GET", "/", ""),
        read("GET", "/ui/app.js", ""),
        read("GET", "/ui/app.css", ""),
        read("GET", "/ui/icon.svg", ""),
        Endpoint {
            method: "POST",
            route: "/api/v1/read",
            query: "",
            headers: RW,
            form: "",
            write: false,
            ok: 200,
        },
        Endpoint {
            method: "POST",
            route: "/api/v1/write",
            query: "",
            headers: RW,
            form: "",
            write: true,
            ok: 204,
        },
        Endpoint {
            method: "POST",
            route: "/api/v1/import/prometheus",
            query: "",
            headers: &[],
            form: "access_text 1 T0\n",
            write: true,
            ok: 204,
        },
        Endpoint {
            method: "POST",
            route: "/write",
            query: "precision=ms",
            headers: &[],
            form: "access_lp value=1 T0\n",
            write: true,
            ok: 204,
        },
    ]
}

/// The routes the router declares (from its source), beside the open health checks.
fn declared_routes() -> Vec<String> {
    let src = include_str!("../../src/lib.rs");
    src.split(".route(")
        .skip(1)
        .map(|rest| {
            let rest = rest.trim_start();
            let rest = rest.strip_prefix('"').expect("a route path literal");
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

#[test]
fn the_endpoint_list_covers_every_route() {
    let routes = declared_routes();
    assert!(routes.len() >= 18, "{routes:?}");
    let listed: Vec<&str> = endpoints().iter().map(|e| e.route).collect();
    for r in &routes {
        if r == "/-/healthy" || r == "/-/ready" {
            continue;
        }
        assert!(listed.contains(&r.as_str()), "route {r} has no access test");
    }
}

fn basic(user: &str, password: &str) -> String {
    let plain = format!("{user}:{password}");
    // Standard base64, written out here so that the test does not share the server's code.
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = plain.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let v = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let idx = [
            v[0] >> 2,
            ((v[0] & 3) << 4) | (v[1] >> 4),
            ((v[1] & 15) << 2) | (v[2] >> 6),
            v[2] & 63,
        ];
        for (i, x) in idx.iter().enumerate() {
            out.push(if i <= c.len() {
                A[*x as usize] as char
            } else {
                '='
            });
        }
    }
    format!("Basic {out}")
}

/// Sets a server's credentials.
type Setup = fn(&mut ServerConfig);

fn all_credentials(c: &mut ServerConfig) {
    c.read_token = Some("reader".into());
    c.write_token = Some("writer".into());
    c.basic_auth = vec![("ann".into(), "pw1".into()), ("bob".into(), "pw:2".into())];
}

#[test]
fn every_endpoint_refuses_without_credentials() {
    let s = Guarded::start(all_credentials);
    let wrong = [
        None,
        Some("Bearer wrong".to_owned()),
        Some("Bearer reade".to_owned()),
        Some("Bearer".to_owned()),
        Some("reader".to_owned()),
        Some(basic("ann", "pw2")),
        Some(basic("bob", "pw1")),
        Some(basic("nobody", "pw1")),
        Some("Basic !!!".to_owned()),
    ];
    let mut es = endpoints();
    // An unknown path is refused before it is found missing.
    es.push(read("GET", "/api/v1/nope", ""));
    for e in &es {
        for auth in &wrong {
            let (st, www, body) = s.send(e, auth.as_deref());
            assert_eq!(
                (st, body.as_str()),
                (401, "Unauthorized\n"),
                "{} {} with {auth:?}",
                e.method,
                e.route
            );
            assert_eq!(www, ["Bearer", "Basic realm=\"tierlog\""], "{}", e.route);
        }
    }
    // The health checks stay open.
    for path in ["/-/healthy", "/-/ready"] {
        assert_eq!(s.send(&read("GET", path, ""), None).0, 200, "{path}");
    }
}

#[test]
fn a_read_token_reads_but_cannot_write() {
    let s = Guarded::start(all_credentials);
    for e in &endpoints() {
        let (st, _, body) = s.send(e, Some("Bearer reader"));
        if e.write {
            assert_eq!(
                (st, body.as_str()),
                (403, "Forbidden: these credentials may read but not write\n"),
                "{}",
                e.route
            );
        } else {
            assert_eq!(st, e.ok, "{} {}: {body}", e.method, e.route);
        }
    }
    // Nothing was written.
    let q = read("GET", "/api/v1/label/{name}/values", "");
    let q = Endpoint {
        route: "/api/v1/label/__name__/values",
        ..q
    };
    let (_, _, body) = s.send(&q, Some("Bearer reader"));
    assert!(!body.contains("access_"), "{body}");
}

#[test]
fn write_token_basic_auth_and_the_bearer_token_read_and_write() {
    let names = Endpoint {
        route: "/api/v1/label/__name__/values",
        ..read("GET", "", "")
    };
    let cases: [(&str, Setup, String); 4] = [
        ("write token", all_credentials, "Bearer writer".into()),
        ("basic ann", all_credentials, basic("ann", "pw1")),
        ("basic bob", all_credentials, basic("bob", "pw:2")),
        (
            "bearer token alone",
            |c| c.bearer_token = Some("both".into()),
            "bearer both".into(),
        ),
    ];
    for (what, setup, auth) in cases {
        let s = Guarded::start(setup);
        for e in &endpoints() {
            let (st, _, body) = s.send(e, Some(&auth));
            assert_eq!(st, e.ok, "{what}: {} {}: {body}", e.method, e.route);
        }
        let (st, _, body) = s.send(&names, Some(&auth));
        assert_eq!(st, 200, "{what}");
        for m in ["access_lp", "access_rw", "access_text"] {
            assert!(body.contains(m), "{what}: {m} missing from {body}");
        }
    }
}

#[test]
fn a_bearer_token_alone_asks_for_bearer_only() {
    let s = Guarded::start(|c| c.bearer_token = Some("both".into()));
    let (st, www, _) = s.send(
        &read("GET", "/api/v1/labels", ""),
        Some(&basic("a", "both")),
    );
    assert_eq!((st, www), (401, vec!["Bearer".to_owned()]));
}

#[test]
fn bad_credentials_settings_are_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    crate::support::write_store(tmp.path(), crate::support::t0());
    let bad: [fn(&mut ServerConfig); 5] = [
        |c| c.read_token = Some(String::new()),
        |c| c.write_token = Some(String::new()),
        |c| {
            c.read_token = Some("same".into());
            c.write_token = Some("same".into());
        },
        |c| c.basic_auth = vec![("u".into(), String::new())],
        |c| c.basic_auth = vec![("u:v".into(), "p".into())],
    ];
    for (i, f) in bad.into_iter().enumerate() {
        let mut c = ServerConfig::new(tmp.path());
        c.listen = "127.0.0.1:0".parse().unwrap();
        f(&mut c);
        let e = rt.block_on(tierlog_server::serve(c)).unwrap_err();
        assert!(matches!(e, tierlog_server::Error::Config(_)), "{i}: {e}");
    }
}
