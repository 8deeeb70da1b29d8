//! Late samples and the forwarder, through the CLI, against a real Prometheus (issue 17
//! item 6): ingest 10 samples, `forward --once`, ingest 10 more behind the watermark with
//! `--replay` (seconds between the first ones: older than Prometheus' newest sample of the
//! series), `forward --once`. With `--late send` a Prometheus with an out-of-order window
//! ends with all 20; one without refuses them (counted as dropped, with the reason); with
//! `--late skip` (the default) it has 10, and `forward` and `stats` say 10 were not sent.
//! Skipped, with a message, when the Prometheus binary is absent.

use crate::forward_support::Prometheus;
use crate::support::s;

const OOO: &str = "storage:\n  tsdb:\n    out_of_order_time_window: 2h\n";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Runs `tierlog --now AT ARGS` with `input` on stdin; (stdout, stderr).
fn run(at: i64, args: &[&str], input: &str) -> (String, String) {
    let now = at.to_string();
    let mut all = vec!["--now", now.as_str()];
    all.extend_from_slice(args);
    let out = crate::support::tierlog_stdin(&all, input.as_bytes());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{args:?}: {stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

/// What one run of the scenario ends with.
struct Outcome {
    /// `forward --once --format json` of the second pass.
    forward: serde_json::Value,
    forward_stderr: String,
    /// `stats --format json` at the end.
    stats: serde_json::Value,
    /// The points Prometheus holds: (ts ms, value).
    in_prometheus: Vec<(i64, f64)>,
}

fn scenario(prom: &Prometheus, metric: &str, late: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let d = s(dir.path());
    let base = (now_ms() - 10 * 60_000).div_euclid(60_000) * 60_000;
    let at = base + 60_000;
    let lines = |seconds: &mut dyn Iterator<Item = i64>| {
        seconds
            .map(|i| format!("{metric} {i} {}\n", base + i * 1000))
            .collect::<String>()
    };
    let url = prom.write_url();
    let forward = || {
        let (stdout, stderr) = run(
            at,
            &[
                "forward", d, "--url", &url, "--once", "--late", late, "--format", "json",
            ],
            "",
        );
        (
            serde_json::from_str::<serde_json::Value>(&stdout).unwrap(),
            stderr,
        )
    };
    // Even seconds 0..18, forwarded: the watermark passes second 19.
    let (stdout, _) = run(
        at,
        &["ingest", d, "-", "--format", "json"],
        &lines(&mut (0..10).map(|i| 2 * i)),
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["summary"]["accepted"], 10, "{stdout}");
    let (v, _) = forward();
    assert_eq!(v["samples_sent"], 10, "{v}");
    assert_eq!(v["watermark_ms"], base + 58_000, "{v}");
    // Odd seconds 1..19, behind the watermark: accepted, counted, logged.
    let (stdout, stderr) = run(
        at,
        &["ingest", d, "-", "--replay", "--format", "json"],
        &lines(&mut (0..10).map(|i| 2 * i + 1)),
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["summary"]["accepted"], 10, "{stdout}");
    assert_eq!(v["summary"]["late_after_forward"], 10, "{stdout}");
    assert!(
        stderr.contains("10 behind a forwarder's watermark"),
        "{stderr}"
    );
    let (forward, forward_stderr) = forward();
    let (stdout, _) = run(at, &["stats", d, "--format", "json"], "");
    let stats: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let data = prom.api(
        "/api/v1/query",
        &[
            ("query", &format!("{metric}[1h]")),
            ("time", &format!("{:.3}", now_ms() as f64 / 1000.0)),
        ],
    );
    let in_prometheus = data["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["values"].as_array().unwrap().clone())
        .map(|p| {
            (
                (p[0].as_f64().unwrap() * 1000.0).round() as i64 - base,
                p[1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    Outcome {
        forward,
        forward_stderr,
        stats,
        in_prometheus,
    }
}

fn seconds(o: &Outcome) -> Vec<i64> {
    o.in_prometheus.iter().map(|&(t, _)| t / 1000).collect()
}

#[test]
fn late_samples_reach_a_prometheus_with_an_out_of_order_window_with_late_send() {
    let Some(prom) = Prometheus::start_with(OOO) else {
        return;
    };
    let o = scenario(&prom, "tl_late_send", "send");
    assert_eq!(
        seconds(&o),
        (0..20).collect::<Vec<_>>(),
        "{:?}",
        o.in_prometheus
    );
    for &(t, v) in &o.in_prometheus {
        assert_eq!(v, (t / 1000) as f64);
    }
    let f = &o.forward;
    assert_eq!(
        (
            &f["samples_sent"],
            &f["late_sent"],
            &f["late_skipped"],
            &f["late_pending"]
        ),
        (&0.into(), &10.into(), &0.into(), &0.into()),
        "{f}"
    );
    assert_eq!(f["late_dropped"], serde_json::json!({}), "{f}");
    // Handled: nothing pending, nothing skipped.
    assert_eq!(o.stats["forward_late_logged"], 10, "{}", o.stats);
    assert_eq!(o.stats["forwarders"][0]["name"], "default");
    assert_eq!(o.stats["forwarders"][0]["pending"], 0);
    assert_eq!(o.stats["forwarders"][0]["skipped"], 0);
}

#[test]
fn late_samples_refused_by_a_prometheus_without_one_are_dropped_with_the_reason() {
    let Some(prom) = Prometheus::start() else {
        return;
    };
    let o = scenario(&prom, "tl_late_refused", "send");
    assert_eq!(seconds(&o), (0..10).map(|i| 2 * i).collect::<Vec<_>>());
    let f = &o.forward;
    assert_eq!(f["late_sent"], 0, "{f}");
    let dropped = f["late_dropped"].as_object().unwrap();
    assert_eq!(
        dropped.values().map(|v| v.as_u64().unwrap()).sum::<u64>(),
        10,
        "{f}"
    );
    assert!(
        dropped
            .keys()
            .all(|k| k.starts_with("http_400: out of order sample")),
        "{f}"
    );
    assert!(
        o.forward_stderr.contains("refused 10 late samples"),
        "{}",
        o.forward_stderr
    );
    // Handled (dropped): nothing pending.
    assert_eq!(o.stats["forwarders"][0]["pending"], 0, "{}", o.stats);
}

#[test]
fn late_samples_are_counted_not_sent_with_late_skip() {
    let Some(prom) = Prometheus::start_with(OOO) else {
        return;
    };
    let o = scenario(&prom, "tl_late_skip", "skip");
    assert_eq!(seconds(&o), (0..10).map(|i| 2 * i).collect::<Vec<_>>());
    let f = &o.forward;
    assert_eq!(
        (&f["late_sent"], &f["late_skipped"]),
        (&0.into(), &10.into()),
        "{f}"
    );
    assert_eq!(f["total_late_skipped"], 10, "{f}");
    assert!(
        o.forward_stderr
            .contains("10 late samples were not sent (--late skip)"),
        "{}",
        o.forward_stderr
    );
    assert_eq!(o.stats["forward_late_logged"], 10, "{}", o.stats);
    assert_eq!(o.stats["forwarders"][0]["pending"], 0);
    assert_eq!(o.stats["forwarders"][0]["skipped"], 10);
}
