//! Prometheus' own client, `promtool query …` (Debian's prometheus package), against the
//! server. Skipped, with a message, where /usr/bin/promtool is missing.

use std::process::Command;

use crate::support::TestServer;

const PROMTOOL: &str = "/usr/bin/promtool";

/// Runs `promtool query ARGS…` against `s`: its standard output, or `None` when promtool is
/// not installed.
fn promtool(s: &TestServer, args: &[&str]) -> Option<String> {
    if !std::path::Path::new(PROMTOOL).exists() {
        eprintln!("skipped: {PROMTOOL} is not installed (apt-get install prometheus)");
        return None;
    }
    let (sub, rest) = args.split_first().expect("a subcommand");
    let out = Command::new(PROMTOOL)
        .args(["query", sub, &s.base])
        .args(rest)
        .output()
        .expect("run promtool");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "promtool query {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(stdout)
}

#[test]
fn promtool_query_series() {
    let s = TestServer::start();
    let Some(out) = promtool(&s, &["series", "--match=up"]) else {
        return;
    };
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{__name__="up", instance="a", job="node"}"#,
            r#"{__name__="up", instance="b", job="node"}"#,
            r#"{__name__="up", instance="c", job="prom"}"#,
        ]
    );
}

#[test]
fn promtool_query_labels() {
    let s = TestServer::start();
    let Some(out) = promtool(&s, &["labels", "job"]) else {
        return;
    };
    assert_eq!(out.lines().collect::<Vec<_>>(), ["node", "prom"]);
    let Some(out) = promtool(&s, &["labels", "__name__"]) else {
        return;
    };
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["no_meta", "node_cpu_seconds_total", "up"]
    );
}

/// Needs the evaluator (fails while `tierlog_promql::query` is a stub).
#[test]
fn promtool_query_instant() {
    let s = TestServer::start();
    let t = (s.t0 / 1000).to_string();
    let Some(out) = promtool(&s, &["instant", "up", &format!("--time={t}")]) else {
        return;
    };
    // Prometheus does not promise an order for an instant vector.
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            format!(r#"up{{instance="a", job="node"}} => 1 @[{t}]"#),
            format!(r#"up{{instance="b", job="node"}} => 0 @[{t}]"#),
            format!(r#"up{{instance="c", job="prom"}} => 1 @[{t}]"#),
        ]
    );
}

/// Needs the evaluator (fails while `tierlog_promql::query_range` is a stub).
#[test]
fn promtool_query_range() {
    let s = TestServer::start();
    let end = s.t0 / 1000;
    let Some(out) = promtool(
        &s,
        &[
            "range",
            r#"node_cpu_seconds_total{mode="idle"}"#,
            &format!("--start={}", end - 30),
            &format!("--end={end}"),
            "--step=15s",
        ],
    ) else {
        return;
    };
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            r#"node_cpu_seconds_total{cpu="0", mode="idle"} =>"#.to_owned(),
            format!("20 @[{}]", end - 30),
            format!("30 @[{}]", end - 15),
            format!("40 @[{end}]"),
        ]
    );
}

/// Values and times that are not whole numbers, as promtool prints them (Go's shortest
/// decimal for both): the server's answer survives promtool's parsing exactly.
#[test]
fn promtool_query_fractional_values_and_times() {
    let s = TestServer::start();
    let end = s.t0 / 1000;
    // `node_cpu_seconds_total{mode="user"}` is 0, 2.5, 5, 7.5, 10 every 15 s up to t0.
    let Some(out) = promtool(
        &s,
        &[
            "instant",
            r#"node_cpu_seconds_total{mode="user"} / 3"#,
            &format!("--time={}.5", end - 8),
        ],
    ) else {
        return;
    };
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [format!(
            r#"{{cpu="0", mode="user"}} => 2.5 @[{}.5]"#,
            end - 8
        )]
    );
    let Some(out) = promtool(
        &s,
        &[
            "range",
            r#"node_cpu_seconds_total{mode="user"} / 4"#,
            &format!("--start={}", end - 30),
            &format!("--end={end}"),
            "--step=7.5s",
        ],
    ) else {
        return;
    };
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            r#"{cpu="0", mode="user"} =>"#.to_owned(),
            format!("1.25 @[{}]", end - 30),
            format!("1.25 @[{}.5]", end - 23),
            format!("1.875 @[{}]", end - 15),
            format!("1.875 @[{}.5]", end - 8),
            format!("2.5 @[{end}]"),
        ]
    );
}
