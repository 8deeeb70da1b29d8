//! The page at `/`: served with its security headers behind the same access rules as the API,
//! and, in a headless Chromium driven through chromedriver's WebDriver API, it lists the
//! metrics, charts an expression (one path per series the API answers) with a table of the
//! answer, draws bands for the bucket view and shows the API's error for a bad expression.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{TestServer, enc};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The key WebDriver names a found element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// `GET url` with an optional `Authorization` value: status, headers, body.
fn get(url: &str, auth: Option<&str>) -> (u16, ureq::http::HeaderMap, String) {
    let mut req = agent().get(url);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let mut r = req.call().expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (
        status,
        headers,
        r.body_mut().read_to_string().expect("body"),
    )
}

#[test]
fn the_page_and_its_assets_carry_a_policy_that_forbids_remote_sources() {
    let srv = TestServer::start();
    for (path, kind) in [
        ("/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
        ("/ui/icon.svg", "image/svg+xml"),
    ] {
        let (status, headers, body) = get(&format!("{}{path}", srv.base), None);
        assert_eq!(status, 200, "{path}: {body}");
        let h = |name: &str| {
            headers
                .get(name)
                .unwrap_or_else(|| panic!("{path}: no {name}"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert!(h("content-type").starts_with(kind), "{path}");
        let csp = h("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("http"), "{path}: {csp}");
        assert_eq!(h("x-content-type-options"), "nosniff");
        // Nothing the page loads comes from elsewhere: the only absolute URL is the SVG
        // namespace, which names and fetches nothing.
        let rest = body.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !rest.contains("http://") && !rest.contains("https://") && !rest.contains("//cdn"),
            "{path} refers to another origin"
        );
    }
    let (_, _, html) = get(&format!("{}/", srv.base), None);
    assert!(html.contains("src=\"ui/app.js\"") && html.contains("href=\"ui/app.css\""));
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "inline code"
    );
}

#[test]
fn the_page_needs_the_read_token_when_the_server_has_one() {
    let srv = TestServer::start_with(|c| {
        c.read_token = Some("page-read".into());
        c.write_token = Some("page-write".into());
    });
    for path in ["/", "/ui/app.js", "/ui/app.css", "/ui/icon.svg"] {
        let url = format!("{}{path}", srv.base);
        assert_eq!(get(&url, None).0, 401, "{path}");
        assert_eq!(get(&url, Some("Bearer wrong")).0, 401, "{path}");
        assert_eq!(get(&url, Some("Bearer page-read")).0, 200, "{path}");
        assert_eq!(get(&url, Some("Bearer page-write")).0, 200, "{path}");
    }
}

/// chromedriver (in its own process group, with the Chromium it starts) and one session;
/// dropping it ends the session and kills the group, also when a test fails.
struct Browser {
    driver: Child,
    url: String,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = {
            use std::os::unix::process::CommandExt;
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("start chromedriver")
        };
        let profile = tempfile::tempdir().expect("profile dir");
        let mut b = Browser {
            driver,
            url: format!("http://127.0.0.1:{port}"),
            session: None,
            _profile: profile,
        };
        let status = format!("{}/status", b.url);
        wait_for("chromedriver to answer", Duration::from_secs(20), || {
            let r = agent().get(&status).call().ok()?;
            let v: Value = serde_json::from_str(&r.into_body().read_to_string().ok()?).ok()?;
            v["value"]["ready"].as_bool().filter(|&r| r)
        });
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", b._profile.path().display()),
                ],
            },
        }}});
        let v = b.call("POST", "/session", Some(caps));
        b.session = Some(
            v["sessionId"]
                .as_str()
                .unwrap_or_else(|| panic!("no session: {v}"))
                .to_owned(),
        );
        b
    }

    /// One WebDriver command (`path` after the session's, or absolute when it starts with
    /// `/session` and no session exists yet): its `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = match &self.session {
            Some(id) => format!("{}/session/{id}{path}", self.url),
            None => format!("{}{path}", self.url),
        };
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Content-Type", "application/json")
            .body(body.unwrap_or(json!({})).to_string())
            .unwrap();
        let mut r = agent().run(req).expect("webdriver request");
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().expect("webdriver body");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(status, 200, "{method} {path}: {text}");
        v["value"].clone()
    }

    fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body) in the page; what it returns.
    fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    fn element(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {v}"))
            .to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.call("POST", &format!("/element/{id}/click"), None);
    }

    /// The browser console's messages since the last call (script errors, refused loads,
    /// Content-Security-Policy violations) at level SEVERE.
    fn console_errors(&self) -> Vec<String> {
        let v = self.call("POST", "/se/log", Some(json!({ "type": "browser" })));
        v.as_array()
            .expect("log entries")
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Moves the mouse to `(x, y)` pixels from the centre of the element.
    fn hover(&self, css: &str, x: i64, y: i64) {
        let id = self.element(css);
        let origin = json!({ ELEMENT: id });
        self.call(
            "POST",
            "/actions",
            Some(json!({"actions": [{
                "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": [{"type": "pointerMove", "duration": 0, "origin": origin, "x": x, "y": y}],
            }]})),
        );
    }

    fn screenshot(&self, to: &Path) {
        use base64::Engine;
        let v = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 png"))
            .expect("decode png");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(to, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            let _ = agent().delete(format!("{}/session/{id}", self.url)).call();
        }
        // The group holds chromedriver and the browser it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Polls `f` until it gives a value; panics after `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A series as the page names it: `name{a="x", b="y"}`, labels in the API's order.
fn series_name(metric: &Value) -> String {
    let m = metric.as_object().expect("labels");
    let name = m.get("__name__").and_then(Value::as_str).unwrap_or("");
    let labels: Vec<String> = m
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    match (name, labels.is_empty()) {
        ("", true) => "{}".into(),
        (n, true) => n.into(),
        (n, false) => format!("{n}{{{}}}", labels.join(", ")),
    }
}

const METRICS_JS: &str = "return [...document.querySelectorAll('#metric-list li')].map(li => ({
    name: li.querySelector('.name').textContent,
    kind: li.querySelector('.kind').textContent,
    unit: (li.querySelector('.unit') || {}).textContent || '',
    series: li.querySelector('.series-count').textContent,
    help: (li.querySelector('.help') || {}).textContent || '' }));";

const CHART_JS: &str = "return {
    lines: [...document.querySelectorAll('#chart path.series-line')].map(p => p.getAttribute('d')),
    bands: [...document.querySelectorAll('#chart path.series-band')].map(p => p.getAttribute('d')),
    legend: [...document.querySelectorAll('#legend li')].map(li => li.textContent),
    rows: [...document.querySelectorAll('#result-table tbody tr')].map(tr =>
        [...tr.cells].map(c => c.textContent)),
    link: (document.getElementById('api-link') || {}).href || null,
    summary: document.getElementById('summary').textContent,
    error: document.getElementById('error').hidden ? null : document.getElementById('error').textContent };";

/// Waits until the chart shows the answer to `query` (whose API link names it); the chart's
/// state and the API's answer for the same parameters.
fn chart_for(b: &Browser, query: &str) -> (Value, Value) {
    let want = format!("query={}", enc(query));
    let chart = wait_for(
        &format!("the chart of {query}"),
        Duration::from_secs(15),
        || {
            let c = b.eval(CHART_JS);
            if let Some(e) = c["error"].as_str() {
                panic!("the page shows an error for {query}: {e}");
            }
            c["link"]
                .as_str()
                .is_some_and(|l| l.contains(&want))
                .then_some(c)
        },
    );
    let link = chart["link"].as_str().unwrap();
    let (status, _, body) = get(link, None);
    assert_eq!(status, 200, "{link}: {body}");
    let api: Value = serde_json::from_str(&body).expect("json");
    (chart, api)
}

/// The table's rows must be the API's series in its order: name, last value as the API
/// wrote it, point count.
fn assert_rows_match(chart: &Value, result: &[Value], name_of: impl Fn(&Value) -> String) {
    let rows = chart["rows"].as_array().unwrap();
    assert_eq!(rows.len(), result.len(), "{chart}");
    for (row, s) in rows.iter().zip(result) {
        let values = s["values"].as_array().unwrap();
        let last = values.last().unwrap()[1].as_str().unwrap();
        assert_eq!(row[0].as_str().unwrap(), name_of(&s["metric"]), "{row}");
        assert_eq!(row[1].as_str().unwrap(), last, "{row}");
        assert_eq!(row[5].as_str().unwrap(), values.len().to_string(), "{row}");
    }
}

#[test]
fn chromium_lists_metrics_charts_an_expression_and_shows_errors() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        println!(
            "SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
        );
        return;
    }
    let srv = TestServer::start();
    let b = Browser::start();
    b.open(&format!("{}/", srv.base));

    // The metric list: every metric with its kind, unit, description and series count.
    let metrics = wait_for("the metric list", Duration::from_secs(15), || {
        let v = b.eval(METRICS_JS);
        (v.as_array().map_or(0, Vec::len) == 3).then_some(v)
    });
    let expect = json!([
        {"name": "no_meta", "kind": "unknown", "unit": "", "series": "1 series", "help": ""},
        {"name": "node_cpu_seconds_total", "kind": "counter", "unit": "seconds",
         "series": "2 series", "help": "Seconds the CPUs spent in each mode."},
        {"name": "up", "kind": "gauge", "unit": "", "series": "3 series",
         "help": "1 when the target is up."},
    ]);
    assert_eq!(metrics, expect);
    // Before any expression the chart says what to do.
    let hint = b.eval("return document.querySelector('#chart text.nodata').textContent;");
    assert!(
        hint.as_str().unwrap().contains("PromQL expression"),
        "{hint}"
    );
    // The filter narrows it (by name or description), and clearing it brings all back.
    b.type_into("#metric-filter", "cpu");
    wait_for("the filter", Duration::from_secs(5), || {
        let v = b.eval(METRICS_JS);
        (v.as_array().unwrap().len() == 1).then_some(())
    });
    assert_eq!(b.eval(METRICS_JS)[0]["name"], "node_cpu_seconds_total");
    b.type_into("#metric-filter", "\u{E003}\u{E003}\u{E003}target");
    wait_for("the filter by description", Duration::from_secs(5), || {
        let v = b.eval(METRICS_JS);
        (v.as_array().unwrap().len() == 1 && v[0]["name"] == "up").then_some(())
    });

    // A range of 15 minutes, a step of 30 s.
    b.click("#range option[value='900']");
    b.type_into("#step", "30s");
    // An expression typed into the box: one line per series, the table of the API's answer.
    let expr = "node_cpu_seconds_total * 2 or up";
    b.type_into("#expr", &format!("{expr}\u{E007}"));
    let (chart, api) = chart_for(&b, expr);
    let result = api["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 5, "{api}");
    let lines = chart["lines"].as_array().unwrap();
    assert_eq!(lines.len(), result.len(), "{chart}");
    assert!(
        lines.iter().all(|d| d.as_str().unwrap().len() > 10),
        "{chart}"
    );
    assert!(chart["bands"].as_array().unwrap().is_empty(), "{chart}");
    assert_eq!(chart["legend"].as_array().unwrap().len(), result.len());
    assert_rows_match(&chart, result, series_name);
    assert!(
        chart["summary"].as_str().unwrap().contains("5 series"),
        "{chart}"
    );
    // The pointer near the chart's right end: a tooltip with each series' value there.
    b.hover("#chart", 380, 0);
    let tip = wait_for("the tooltip", Duration::from_secs(5), || {
        b.eval(
            "const t = document.getElementById('tooltip'); \
             return t.hidden ? null : [...t.querySelectorAll('.row')].map(r => r.textContent);",
        )
        .as_array()
        .cloned()
    });
    assert_eq!(tip.len(), 5, "{tip:?}");
    // A click on a legend entry hides its series, a second shows it again.
    let hidden = "return document.querySelectorAll('#chart g.series[display=none]').length;";
    b.click("#legend li");
    assert_eq!(b.eval(hidden), 1);
    b.click("#legend li");
    assert_eq!(b.eval(hidden), 0);
    b.hover("#chart", 380, 0);
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("page.png");
    b.screenshot(&shot);
    println!("screenshot: {}", shot.display());

    // The bucket view of a plain selector: a min–max band and an avg line per series.
    b.eval("document.getElementById('expr').value = ''; return null;");
    b.type_into("#expr", "up");
    b.click("#view option[value=band]");
    let (chart, api) = chart_for(&b, "avg_over_time(up[30s])");
    let result = api["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 3, "{api}");
    assert_eq!(chart["lines"].as_array().unwrap().len(), 3, "{chart}");
    assert_eq!(chart["bands"].as_array().unwrap().len(), 3, "{chart}");
    assert_eq!(
        b.eval("return document.querySelector('#result-table th.last').textContent;"),
        "Last avg"
    );
    // min_over_time and the others drop the name; the page names the series after the
    // selector.
    assert_rows_match(&chart, result, |m| {
        let mut m = m.clone();
        m["__name__"] = json!("up");
        series_name(&m)
    });
    let shot_band = Path::new(env!("CARGO_TARGET_TMPDIR")).join("page-band.png");
    b.screenshot(&shot_band);
    println!("screenshot: {}", shot_band.display());

    // The automatic view: a plain selector at a step of a minute or more is drawn as bands
    // (the automatic step of 6 hours is 2 minutes).
    b.eval("document.getElementById('step').value = ''; return null;");
    b.click("#view option[value=auto]");
    b.click("#range option[value='21600']");
    let (chart, api) = chart_for(&b, "avg_over_time(up[2m])");
    assert_eq!(api["data"]["result"].as_array().unwrap().len(), 3, "{api}");
    assert_eq!(chart["bands"].as_array().unwrap().len(), 3, "{chart}");
    assert!(
        chart["summary"].as_str().unwrap().contains("step 2m"),
        "{chart}"
    );

    // No script error, refused load or policy violation so far.
    let errors = b.console_errors();
    assert!(errors.is_empty(), "{errors:#?}");

    // A bad expression: the API's error text in the error box.
    b.eval("document.getElementById('expr').value = ''; return null;");
    b.type_into("#expr", "sum(\u{E007}");
    let shown = wait_for("the error", Duration::from_secs(15), || {
        b.eval(CHART_JS)["error"].as_str().map(str::to_owned)
    });
    let (status, _, body) = get(
        &format!(
            "{}/api/v1/query_range?query={}&start={}&end={}&step=30",
            srv.base,
            enc("sum("),
            srv.t0 / 1000 - 600,
            srv.t0 / 1000
        ),
        None,
    );
    assert_eq!(status, 400, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let message = v["error"].as_str().unwrap();
    assert!(!message.is_empty());
    assert_eq!(shown, format!("bad_data: {message}"));
}

#[test]
fn chromium_reads_a_server_with_basic_auth_and_refreshes() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        println!(
            "SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
        );
        return;
    }
    let srv = TestServer::start_with(|c| {
        c.basic_auth = vec![("viewer".into(), "s3cret".into())];
        c.writable = true;
    });
    let b = Browser::start();
    // The credentials in the address stand for the user typing them into the browser's
    // prompt: the page's own API requests then carry them too.
    let base = srv.base.replace("http://", "http://viewer:s3cret@");
    b.open(&format!("{base}/"));
    wait_for("the metric list", Duration::from_secs(15), || {
        let v = b.eval(METRICS_JS);
        (v.as_array().map_or(0, Vec::len) == 3).then_some(())
    });
    b.type_into("#expr", "up\u{E007}");
    let chart = wait_for("the chart", Duration::from_secs(15), || {
        let c = b.eval(CHART_JS);
        assert!(c["error"].is_null(), "{c}");
        (c["lines"].as_array().unwrap().len() == 3).then_some(c)
    });
    assert_eq!(chart["rows"].as_array().unwrap().len(), 3, "{chart}");

    // Auto-refresh: a series written after the first answer appears without a click.
    b.click("#refresh option[value='5']");
    let auth = {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("viewer:s3cret")
        )
    };
    let req = agent()
        .post(format!("{}/api/v1/import/prometheus", srv.base))
        .header("Authorization", &auth);
    let r = req
        .send(format!("up{{instance=\"d\",job=\"new\"}} 1 {}\n", srv.t0))
        .expect("import");
    assert_eq!(r.status().as_u16(), 204);
    wait_for("the refreshed chart", Duration::from_secs(15), || {
        let c = b.eval(CHART_JS);
        assert!(c["error"].is_null(), "{c}");
        (c["lines"].as_array().unwrap().len() == 4).then_some(())
    });
}
