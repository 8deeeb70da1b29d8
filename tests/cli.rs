//! The `tierlog` command: quick start flow, output contracts, exit codes, errors that name
//! lines, files and lock holders.

use std::path::Path;
use std::process::{Command, Output};

fn tierlog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tierlog"))
        .args(args)
        .output()
        .expect("run tierlog")
}

fn ok(args: &[&str]) -> String {
    let o = tierlog(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/node.prom")
        .display()
        .to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn quick_start_then_json_csv_and_stats_contracts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    ok(&["ingest", s(&d), &example(), "--replay"]);
    let out = ok(&[
        "query",
        s(&d),
        r#"node_cpu_seconds_total{cpu="0",mode="user"}"#,
        "--from",
        "2023-11-14T22:00:00Z",
        "--to",
        "2023-11-14T22:01:00Z",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0]["metric"], "node_cpu_seconds_total");
    assert_eq!(series[0]["labels"]["mode"], "user");
    assert_eq!(series[0]["tier"], "raw");
    let points = series[0]["points"].as_array().unwrap();
    assert_eq!(points.len(), 4, "15 s scrapes in one minute");
    assert_eq!(points[0][0], 1_699_999_200_000i64);
    assert!(points[0][1].is_number());
    assert_eq!(v["warnings"].as_array().unwrap().len(), 0);

    let csv = ok(&[
        "query",
        s(&d),
        "node_load1",
        "--format",
        "csv",
        "--to",
        "1699999230000",
    ]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "metric,labels,ts_ms,value");
    assert_eq!(lines.len(), 3);
    assert!(lines[1].starts_with("node_load1,,1699999200000,"));

    let st: serde_json::Value =
        serde_json::from_str(&ok(&["stats", s(&d), "--format", "json"])).unwrap();
    let raw = &st["tiers"][0];
    assert_eq!(raw["tier"], "raw");
    assert_eq!(raw["points"], 9 * 240);
    for k in [
        "segments",
        "bytes",
        "bytes_per_point",
        "oldest_ms",
        "newest_ms",
    ] {
        assert!(!raw[k].is_null(), "{k}");
    }
    assert_eq!(
        raw["sealed"]["points"].as_u64().unwrap() + raw["open"]["points"].as_u64().unwrap(),
        2160
    );
    assert_eq!(st["series"], 9);
    assert_eq!(st["metrics"], 4);
    assert!(st["total_bytes"].as_u64().unwrap() > raw["bytes"].as_u64().unwrap());

    let metrics = ok(&["metrics", s(&d), "--format", "csv"]);
    assert!(
        metrics.contains("node_cpu_seconds_total,counter,seconds,6,"),
        "{metrics}"
    );
    ok(&["verify", s(&d)]);
}

#[test]
fn special_values_are_strings_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    let input = dir.path().join("in.prom");
    std::fs::write(&input, "a NaN 1000\na +Inf 2000\na -Inf 3000\na 1.5 4000\n").unwrap();
    ok(&["ingest", s(&d), s(&input), "--now", "5000"]);
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "query",
        s(&d),
        "a",
        "--format",
        "json",
        "--now",
        "5000",
    ]))
    .unwrap();
    let p = &v["series"][0]["points"];
    assert_eq!(p[0][1], "NaN");
    assert_eq!(p[1][1], "+Inf");
    assert_eq!(p[2][1], "-Inf");
    assert_eq!(p[3][1], 1.5);
}

#[test]
fn a_malformed_line_names_its_number_and_its_batch_is_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    let input = dir.path().join("bad.prom");
    std::fs::write(
        &input,
        "ok 1 1000\nok 2 2000\nok 3 3000\nbad{x=} 4 4000\nok 5 5000\n",
    )
    .unwrap();
    let o = tierlog(&["ingest", s(&d), s(&input), "--now", "10000", "--batch", "2"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 4"), "{err}");
    // The first batch (lines 1-2) was written; the batch holding line 4 (lines 3-4) was not.
    let csv = ok(&["query", s(&d), "ok", "--format", "csv", "--now", "10000"]);
    assert_eq!(csv.lines().count(), 3, "{csv}");
}

#[test]
fn nothing_written_is_an_error_and_rejections_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    let input = dir.path().join("old.prom");
    std::fs::write(&input, "m 1 1000\n").unwrap();
    let o = tierlog(&[
        "ingest",
        s(&d),
        s(&input),
        "--now",
        "2023-01-01T00:00:00Z",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["rejected_too_old"], 1);
    assert_eq!(v["summary"]["accepted"], 0);
}

#[test]
fn verify_exits_3_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    ok(&["ingest", s(&d), &example(), "--replay"]);
    let seg = std::fs::read_dir(d.join("raw"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut b = std::fs::read(&seg).unwrap();
    b[40] ^= 0x10; // inside the first chunk
    std::fs::write(&seg, &b).unwrap();
    let o = tierlog(&["verify", s(&d)]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    let name = seg.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(name) && err.contains("offset 32"), "{err}");
    // Queries still answer, flagged partial.
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "query",
        s(&d),
        "node_cpu_seconds_total",
        "--format",
        "json",
    ]))
    .unwrap();
    assert!(!v["warnings"].as_array().unwrap().is_empty());
    // dump shows the damaged chunk and exits 3 too.
    let o = tierlog(&["dump", s(&seg), "--format", "json"]);
    assert_eq!(o.status.code(), Some(3));
    let dump: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(dump["file_kind"], "segment");
    assert_ne!(dump["items"][1]["status"], "ok");
}

#[test]
fn writers_are_refused_with_the_holders_pid_and_readers_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    ok(&["ingest", s(&d), &example(), "--replay"]);
    let holder = tierlog::Store::open(&d, tierlog::Config::default()).unwrap();
    let o = tierlog(&["maintain", s(&d)]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "locked for writing by process {}",
            std::process::id()
        )),
        "{err}"
    );
    ok(&["query", s(&d), "node_load1"]);
    ok(&["stats", s(&d)]);
    ok(&["verify", s(&d)]);
    drop(holder);
}

#[test]
fn usage_errors_exit_2_and_bad_selectors_exit_1() {
    assert_eq!(tierlog(&["query"]).status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let o = tierlog(&["query", s(dir.path()), "cpu{"]);
    assert_eq!(o.status.code(), Some(1));
    let o = tierlog(&["dump", s(&dir.path().join("missing"))]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn replay_sorts_grouped_input_and_a_lone_future_timestamp_does_not_drag_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    let input = dir.path().join("grouped.prom");
    // Two hours of two metrics, grouped by metric (as OpenMetrics requires), plus one sample a
    // day ahead of the rest placed first.
    let t0: i64 = 1_699_999_200_000;
    let mut text = format!("b 42 {}\n", t0 + 86_400_000);
    for m in ["a", "b"] {
        for i in 0..720 {
            text.push_str(&format!("{m} {i} {}\n", t0 + i * 10_000));
        }
    }
    std::fs::write(&input, text).unwrap();
    let o = tierlog(&[
        "ingest",
        s(&d),
        s(&input),
        "--replay",
        "--batch",
        "100",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["accepted"], 1441, "{v}");
    assert_eq!(v["summary"]["rejected_too_old"], 0);
    let st: serde_json::Value =
        serde_json::from_str(&ok(&["stats", s(&d), "--format", "json"])).unwrap();
    // The two hours were sealed as the clock followed the data: 6 twenty-minute windows.
    assert_eq!(st["tiers"][0]["sealed"]["segments"], 6, "{st}");
    let csv = ok(&["query", s(&d), "a", "--format", "csv"]);
    assert_eq!(csv.lines().count(), 721);
}
