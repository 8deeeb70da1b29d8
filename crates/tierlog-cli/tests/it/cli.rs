//! The `tierlog` command: quick start flow, output contracts, exit codes, errors that name
//! lines, files and lock holders.

use crate::support::{ok, s, tierlog};
use std::path::Path;
use std::process::Command;
use tierlog::layout::{QUARANTINE_DIR, RAW_DIR, SEGMENT_EXT, STATE_FILE, window_file_name};

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/node.prom")
        .display()
        .to_string()
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
    ok(&["ingest", s(&d), s(&input), "--now", "5000ms"]);
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "query",
        s(&d),
        "a",
        "--format",
        "json",
        "--now",
        "5000ms",
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
    let o = tierlog(&[
        "ingest",
        s(&d),
        s(&input),
        "--now",
        "10000ms",
        "--batch",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.prom:4:7: expected '\"' to start label value"),
        "{err}"
    );
    // The first batch (lines 1-2) was written; the batch holding line 4 (lines 3-4) was not.
    let csv = ok(&["query", s(&d), "ok", "--format", "csv", "--now", "10000ms"]);
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
    let seg = std::fs::read_dir(d.join(RAW_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| common::is_segment(p))
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

/// Start of the rollup data set: a multiple of the 20-minute window (and so of 10 s and 60 s).
const T0: i64 = 1_700_000_400_000;

/// A store holding, in the window starting at `T0`:
/// - gauge `g`: 1..=10 at T0 + 0..9 s (one 10 s bucket);
/// - `h{k="v"}`: 1..=40 every 3 s from T0 (two minutes; p95 of the 40 is 38, of each minute
///   19 and 39);
/// - counter `c`: 5, 7, 10, 2, 4, 9 every 20 s from T0 (a reset at T0 + 60 s);
/// - `n`: NaN and 4 in the first 10 s bucket, only NaN in the second;
///
/// and `b` one point in the next window (still open). With `maintain`, the first window is
/// sealed and its piece materialised into both default tiers.
fn rollup_store(maintain: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    let mut text = String::from("# TYPE g gauge\n");
    for i in 0..10 {
        text.push_str(&format!("g {} {}\n", i + 1, T0 + i * 1000));
    }
    for i in 0..40 {
        text.push_str(&format!("h{{k=\"v\"}} {} {}\n", i + 1, T0 + i * 3000));
    }
    text.push_str("# TYPE c counter\n");
    for (i, v) in [5, 7, 10, 2, 4, 9].iter().enumerate() {
        text.push_str(&format!("c {v} {}\n", T0 + i as i64 * 20_000));
    }
    text.push_str(&format!(
        "n NaN {T0}\nn 4 {}\nn NaN {}\n",
        T0 + 1000,
        T0 + 10_000
    ));
    text.push_str(&format!("b 1 {}\n", T0 + 1_201_000));
    let input = dir.path().join("in.prom");
    std::fs::write(&input, text).unwrap();
    let now = (T0 + 1_210_000).to_string();
    ok(&["ingest", s(&d), s(&input), "--now", &now]);
    if maintain {
        // The first window's end plus the 5 min grace has passed; the second is still open.
        let now = (T0 + 1_560_000).to_string();
        ok(&["maintain", s(&d), "--now", &now]);
    }
    (dir, d)
}

fn query_json(d: &Path, selector: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["query", s(d), selector, "--format", "json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(&args)).unwrap()
}

#[test]
fn maintain_reports_the_rollup_pieces_it_materialised() {
    let (dir, d) = rollup_store(false);
    let now = (T0 + 1_560_000).to_string();
    let o = tierlog(&["maintain", s(&d), "--now", &now, "--format", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["sealed_windows"], serde_json::json!([T0]));
    let r = &v["rollups"];
    // One piece (20 min) per tier.
    assert_eq!(r["pieces"], 2, "{v}");
    assert_eq!(r["raw_points"], 59);
    // 10 s: g 1, h 12, c 6, n 2; 60 s: g 1, h 2, c 2, n 1.
    assert_eq!(r["buckets"], 27);
    assert!(r["bytes"].as_u64().unwrap() > 0);
    assert_eq!(r["lost"], serde_json::json!([]));
    assert_eq!(r["warnings"], serde_json::json!([]));
    // Nothing is left to do; the table summary says so on stderr.
    let o = tierlog(&["maintain", s(&d), "--now", &now]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("rollups: 0 pieces"), "{err}");
    drop(dir);

    let (_dir, d) = rollup_store(false);
    let o = tierlog(&["maintain", s(&d), "--now", &now]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("rollups: 2 pieces materialised from 59 raw points: 27 buckets"),
        "{err}"
    );

    // stats lists the tiers and how far they are materialised.
    let st: serde_json::Value =
        serde_json::from_str(&ok(&["stats", s(&d), "--format", "json"])).unwrap();
    let tiers: Vec<&str> = st["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tier"].as_str().unwrap())
        .collect();
    assert_eq!(tiers, ["raw", "10s", "60s"]);
    assert_eq!(st["tiers"][1]["points"], 21);
    assert_eq!(st["tiers"][2]["points"], 6);
    assert_eq!(st["tiers"][1]["materialised_through_ms"], T0 + 1_200_000);
    assert_eq!(st["tiers"][2]["materialised_through_ms"], T0 + 1_200_000);
    let table = ok(&["stats", s(&d)]);
    assert!(table.contains("MATERIALISED THROUGH"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("60s ") && l.ends_with("2023-11-14T22:40:00.000Z")),
        "{table}"
    );
    let csv = ok(&["stats", s(&d), "--format", "csv"]);
    assert!(csv.contains("\n10s,sealed,1,"), "{csv}");
    assert!(csv.contains(&format!(",{}\n", T0 + 1_200_000)), "{csv}");
}

#[test]
fn query_tier_prints_the_stored_buckets_by_the_json_contract() {
    let (_dir, d) = rollup_store(true);
    let v = query_json(&d, "g", &["--tier", "10s"]);
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    let sr = &series[0];
    assert_eq!(sr["metric"], "g");
    assert_eq!(sr["labels"], serde_json::json!({}));
    assert_eq!(sr["tier"], "10s");
    assert!(sr.get("step").is_none());
    assert_eq!(
        sr["points"],
        serde_json::json!([{"t": T0, "count": 10, "min": 1.0, "max": 10.0, "sum": 55.0,
            "avg": 5.5, "p95": 10.0, "first": 1.0, "last": 10.0, "tier": "10s"}])
    );
    assert_eq!(v["warnings"], serde_json::json!([]));

    // Counters carry their increase: 5→7→10 is 5, then a reset to 2, →4, →9 is 9.
    let v = query_json(&d, "c", &["--tier", "60s"]);
    let p = &v["series"][0]["points"];
    assert_eq!(p[0]["increase"], 5.0);
    assert_eq!(p[1]["increase"], 9.0);
    assert_eq!(
        (p[1]["first"].clone(), p[1]["last"].clone()),
        (2.0.into(), 9.0.into())
    );

    // NaN points are only counted; a bucket of NaN only has NaN aggregates.
    let v = query_json(&d, "n", &["--tier", "10s"]);
    let p = &v["series"][0]["points"];
    assert_eq!(p[0]["count"], 1);
    assert_eq!(p[0]["nan_count"], 1);
    assert_eq!(p[0]["sum"], 4.0);
    assert_eq!(p[1]["t"], T0 + 10_000);
    assert_eq!(p[1]["count"], 0);
    assert_eq!(p[1]["nan_count"], 1);
    for k in ["min", "max", "sum", "avg", "p95", "first", "last"] {
        assert_eq!(p[1][k], "NaN", "{k}: {p}");
    }
    // Gauges have no increase; nan_count appears only when non-zero.
    let v = query_json(
        &d,
        "h",
        &["--tier", "10s", "--from", &(T0 + 30_000).to_string()],
    );
    let p = v["series"][0]["points"].as_array().unwrap();
    assert_eq!(p.len(), 9);
    assert_eq!(p[0]["t"], T0 + 30_000);
    assert!(p[0].get("increase").is_none() && p[0].get("nan_count").is_none());

    // CSV and table.
    let csv = ok(&["query", s(&d), "g", "--tier", "10s", "--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        [
            "metric,labels,ts_ms,width_ms,count,nan_count,min,max,sum,avg,p95,first,last,increase,tier",
            &format!("g,,{T0},10000,10,0,1,10,55,5.5,10,1,10,,10s"),
        ]
    );
    let table = ok(&["query", s(&d), "g", "--tier", "10s"]);
    assert!(table.starts_with("SERIES  TIME"), "{table}");
    assert!(table.contains("2023-11-14T22:20:00.000Z  10"), "{table}");

    // --tier raw is the raw query.
    let v = query_json(&d, "g", &["--tier", "raw"]);
    assert_eq!(v["series"][0]["tier"], "raw");
    assert_eq!(
        v["series"][0]["points"][9],
        serde_json::json!([T0 + 9000, 10.0])
    );
}

#[test]
fn query_step_stitches_tiers_and_raw_and_recomputes_p95_from_raw() {
    // Before maintenance every bucket comes from raw points.
    let (_dir, d) = rollup_store(false);
    let now = (T0 + 1_210_000).to_string();
    let v = query_json(&d, "g", &["--step", "60s", "--now", &now]);
    let sr = &v["series"][0];
    assert_eq!(sr["step"], "60s");
    assert_eq!(sr["step_ms"], 60_000);
    assert!(sr.get("tier").is_none());
    assert_eq!(
        sr["points"],
        serde_json::json!([{"t": T0, "count": 10, "min": 1.0, "max": 10.0, "sum": 55.0,
            "avg": 5.5, "p95": 10.0, "first": 1.0, "last": 10.0, "tier": "raw"}])
    );

    let (_dir, d) = rollup_store(true);
    // A step equal to a tier's interval: that tier's buckets, stored p95 included.
    let v = query_json(&d, r#"h{k="v"}"#, &["--step", "1m"]);
    let p = &v["series"][0]["points"];
    assert_eq!(v["series"][0]["step"], "60s");
    assert_eq!(
        (p[0]["p95"].clone(), p[0]["tier"].clone()),
        (19.0.into(), "60s".into())
    );
    assert_eq!(p[1]["p95"], 39.0);
    // 120 s merges two 60 s buckets exactly; p95 (38, not max 40) comes from the raw points,
    // which are still kept.
    let v = query_json(&d, "h", &["--step", "120s"]);
    let sr = &v["series"][0];
    assert_eq!(sr["step_ms"], 120_000);
    assert_eq!(
        sr["points"],
        serde_json::json!([{"t": T0, "count": 40, "min": 1.0, "max": 40.0, "sum": 820.0,
            "avg": 20.5, "p95": 38.0, "first": 1.0, "last": 40.0, "tier": "60s"}])
    );
    // Step buckets overlapping [from, to) are all returned, whole.
    let v = query_json(
        &d,
        "c",
        &[
            "--step",
            "120s",
            "--from",
            &(T0 + 90_000).to_string(),
            "--to",
            &(T0 + 100_000).to_string(),
        ],
    );
    let p = &v["series"][0]["points"];
    assert_eq!(p.as_array().unwrap().len(), 1);
    assert_eq!(
        (p[0]["t"].clone(), p[0]["increase"].clone()),
        (T0.into(), 14.0.into())
    );
    // The open window is answered from raw points.
    let v = query_json(&d, "b", &["--step", "60s"]);
    assert_eq!(v["series"][0]["points"][0]["tier"], "raw");

    // Once the raw points are gone (as retention will drop them), a merged p95 is null, with
    // the reason, rather than a p95 of p95s.
    let seg = common::seg_path(&d, T0);
    std::fs::remove_file(&seg).unwrap();
    let v = query_json(&d, "h", &["--step", "120s"]);
    let p = &v["series"][0]["points"][0];
    assert_eq!(p["count"], 40);
    assert!(p["p95"].is_null(), "{p}");
    assert_eq!(p["p95_note"], tierlog::P95_MERGED);
    let csv = ok(&["query", s(&d), "h", "--step", "120s", "--format", "csv"]);
    assert!(
        csv.lines().nth(1).unwrap().ends_with(",20.5,,1,40,,60s"),
        "{csv}"
    );
    let o = tierlog(&["query", s(&d), "h", "--step", "120s"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("p95 \"-\": the step spans several buckets"),
        "{err}"
    );
}

#[test]
fn query_rejects_unknown_tiers_bad_steps_and_tier_with_step() {
    let (_dir, d) = rollup_store(true);
    let o = tierlog(&["query", s(&d), "g", "--tier", "5m"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(r#"no tier "5m"; this store has raw, 10s, 60s"#),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    // Not a whole number of seconds: the store refuses it.
    let o = tierlog(&["query", s(&d), "g", "--step", "1500ms"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("whole number of seconds"));
    // Not a duration, or both flags: usage errors.
    let o = tierlog(&["query", s(&d), "g", "--step", "often"]);
    assert_eq!(o.status.code(), Some(2));
    let o = tierlog(&["query", s(&d), "g", "--tier", "10s", "--step", "60s"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot be used with"), "{err}");
    // A step too large to compute with says so, not that it is not whole.
    let o = tierlog(&["query", s(&d), "g", "--step", "99999999999d"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("too large"), "{err}");
    // An empty or reversed range is a usage error naming both ends, not an empty answer.
    for (from, to) in [("2000ms", "1000ms"), ("1000ms", "1000ms")] {
        let o = tierlog(&["query", s(&d), "g", "--from", from, "--to", to]);
        assert_eq!(o.status.code(), Some(2), "{from}..{to}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("--from {from} is not before --to {to}")),
            "{err}"
        );
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn cli_writers_adopt_the_tiers_a_store_was_created_with() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    let config = tierlog::Config {
        tiers: Some(vec![tierlog::Tier::new(
            "30s",
            Duration::from_secs(30),
            Duration::from_secs(7 * 86_400),
        )]),
        ..tierlog::Config::default()
    };
    tierlog::Store::open(&d, config).unwrap().close().unwrap();
    assert_eq!(
        tierlog::Store::stored_config(&d).unwrap().unwrap().tiers()[0].name,
        "30s"
    );
    let input = dir.path().join("in.prom");
    std::fs::write(&input, format!("x 1 {T0}\nx 3 {}\n", T0 + 40_000)).unwrap();
    ok(&[
        "ingest",
        s(&d),
        s(&input),
        "--now",
        &(T0 + 60_000).to_string(),
    ]);
    let now = (T0 + 1_560_000).to_string();
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["maintain", s(&d), "--now", &now, "--format", "json"])).unwrap();
    assert_eq!(v["rollups"]["pieces"], 1, "{v}");
    let v = query_json(&d, "x", &["--tier", "30s"]);
    let p = &v["series"][0]["points"];
    assert_eq!(p[0]["t"], T0);
    assert_eq!(p[1]["t"], T0 + 30_000);
    assert_eq!(p[1]["sum"], 3.0);
    let o = tierlog(&["query", s(&d), "x", "--tier", "10s"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("this store has raw, 30s"));
}

use tierlog_testkit::helpers as common;

/// A store with two series (a counter and a gauge) over 30 minutes of 15 s samples, sealed
/// and rolled up into the default `10s` and `60s` tiers (10-minute windows: 3 pieces each).
fn rolled_up_store(d: &Path) {
    use std::sync::Arc;
    use tierlog::{ManualClock, MetricKind, MetricMeta, Sample};
    let clock = Arc::new(ManualClock::new(common::T0));
    let store = common::open(d, &clock);
    store
        .set_metric_meta(
            "requests_total",
            MetricMeta {
                kind: MetricKind::Counter,
                unit: String::new(),
                description: String::new(),
            },
        )
        .unwrap();
    for i in 0..120i64 {
        let ts = common::T0 + i * 15_000;
        clock.set(ts);
        let temp = if i % 7 == 0 {
            f64::NAN
        } else {
            20.0 + (i % 5) as f64
        };
        store
            .write(&[
                Sample::new("requests_total", &[("job", "a")], ts, (i * 3) as f64),
                Sample::new("temp_celsius", &[], ts, temp),
            ])
            .unwrap();
    }
    clock.set(common::T0 + 50 * 60_000);
    store.maintain().unwrap();
    store.close().unwrap();
}

#[test]
fn dump_and_verify_rollup_segments_and_report_their_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    rolled_up_store(&d);
    let piece = common::tier_seg_path(&d, "10s", common::T0);
    assert!(piece.is_file(), "no rollup segment written");
    for tier in ["10s", "60s"] {
        let n = std::fs::read_dir(d.join(tier)).unwrap().count();
        assert_eq!(n, 3, "{tier}: one file per piece");
    }

    // dump shows buckets, not points.
    let dump: serde_json::Value =
        serde_json::from_str(&ok(&["dump", s(&piece), "--format", "json"])).unwrap();
    assert_eq!(dump["file_kind"], "segment");
    assert_eq!(dump["problems"], 0, "{dump}");
    let items = dump["items"].as_array().unwrap();
    assert_eq!(items[0]["content"]["tier"], 1);
    assert_eq!(items[0]["content"]["segment"], "rollup");
    assert_eq!(items[0]["content"]["window_start_ms"], common::T0);
    assert_eq!(items[0]["content"]["window_span_ms"], 600_000);
    let chunks: Vec<&serde_json::Value> = items.iter().filter(|i| i["kind"] == "chunk").collect();
    assert_eq!(chunks.len(), 2, "one chunk per series");
    let columns = &chunks[0]["content"]["columns"];
    assert_eq!(columns[0], "t");
    assert_eq!(columns[9], "increase");
    let mut total = 0;
    for c in &chunks {
        let data = c["content"]["data"].as_array().unwrap();
        // 15 s samples in 10 s buckets: 40 points in 40 of the 60 buckets of 10 minutes.
        assert_eq!(data.len(), 40, "{c}");
        assert_eq!(c["content"]["buckets"], 40);
        assert_eq!(data[0][0], common::T0);
        for b in data {
            assert_eq!(b.as_array().unwrap().len(), 10);
            assert_eq!(b[1].as_u64().unwrap() + b[2].as_u64().unwrap(), 1, "{b}");
        }
        total += data.len();
    }
    let counter = chunks
        .iter()
        .find(|c| !c["content"]["data"][0][9].is_null())
        .expect("the counter's chunk has increases");
    // Values 0, 3, 6, ...: each bucket after the first rises by 3.
    assert_eq!(counter["content"]["data"][1][9], 3.0);
    let trailer = items.last().unwrap();
    assert_eq!(trailer["kind"], "trailer");
    assert_eq!(trailer["content"]["buckets"], total);

    // The state file lists the tiers, materialised through the third piece.
    let state: serde_json::Value =
        serde_json::from_str(&ok(&["dump", s(&d.join(STATE_FILE)), "--format", "json"])).unwrap();
    let tiers = &state["items"][1]["content"]["tiers"];
    assert_eq!(tiers[0]["name"], "10s");
    assert_eq!(tiers[0]["interval_ms"], 10_000);
    assert_eq!(tiers[1]["name"], "60s");
    assert_eq!(tiers[1]["done_through_ms"], common::T0 + 30 * 60_000);

    // verify walks the tier directories and finds them clean.
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["verify", s(&d), "--format", "json"])).unwrap();
    assert_eq!(v["corruption"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(v["notices"].as_array().unwrap().len(), 0, "{v}");
    let files = v["files"].as_u64().unwrap();
    assert!(
        files >= 2 + 3 + 6,
        "state, index, 3 raw and 6 rollup segments: {v}"
    );

    // One flipped byte inside the first chunk: verify exits 3 naming the file and the chunk.
    let mut b = std::fs::read(&piece).unwrap();
    b[40] ^= 0x10;
    std::fs::write(&piece, &b).unwrap();
    let o = tierlog(&["verify", s(&d)]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("10s") && err.contains(piece.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
    assert!(err.contains("offset 32"), "{err}");
    let o = tierlog(&["dump", s(&piece), "--format", "json"]);
    assert_eq!(o.status.code(), Some(3));
    let dump: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_ne!(dump["items"][1]["status"], "ok");
    assert_eq!(dump["items"][2]["status"], "ok");
}

#[test]
fn verify_refuses_a_rollup_segment_whose_header_does_not_match_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    rolled_up_store(&d);
    let from = common::tier_seg_path(&d, "60s", common::T0);
    // Renamed to the start of a piece that was never written.
    let to = common::tier_seg_path(&d, "60s", common::T0 - 600_000);
    std::fs::rename(&from, &to).unwrap();
    let o = tierlog(&["verify", s(&d), "--format", "json"]);
    assert_eq!(o.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let bad = v["corruption"].as_array().unwrap();
    assert_eq!(bad.len(), 1, "{v}");
    assert_eq!(bad[0]["file"], s(&to));
    let msg = bad[0]["message"].as_str().unwrap();
    assert!(msg.contains("header does not match"), "{msg}");
}

#[test]
fn maintain_holds_back_deletions_by_age_for_a_clock_far_ahead_until_accepted() {
    let (_dir, d) = rollup_store(true);
    let later = (T0 + 400 * 86_400_000).to_string();
    let o = tierlog(&["maintain", s(&d), "--now", &later]);
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("nothing was deleted by age"), "{err}");
    assert!(err.contains("0 segments dropped"), "{err}");
    let o = tierlog(&["maintain", s(&d), "--now", &later, "--accept-clock"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("dropped 60s") && out.contains("): max_age"),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "query",
        s(&d),
        "h",
        "--tier",
        "60s",
        "--format",
        "json",
        "--now",
        &later,
    ]))
    .unwrap();
    assert_eq!(v["series"].as_array().unwrap().len(), 0, "{v}");
}

#[test]
fn maintain_applies_the_retention_settings_the_store_keeps() {
    let (_dir, d) = rollup_store(true);
    let day = 86_400_000i64;
    // Set 30 days once: nothing is that old yet.
    let now = (T0 + 10 * day).to_string();
    let o = tierlog(&[
        "maintain",
        s(&d),
        "--now",
        &now,
        "--accept-clock",
        "--max-age-days",
        "30",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("dropped 60s"));
    // Later, with no flag: the store's 30 days apply (this tool's default, 90, would keep it).
    let now = (T0 + 40 * day).to_string();
    let o = tierlog(&["maintain", s(&d), "--now", &now, "--accept-clock"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("dropped 60s") && out.contains("): max_age"),
        "{out}"
    );
    let st: serde_json::Value =
        serde_json::from_str(&ok(&["stats", s(&d), "--format", "json", "--now", &now])).unwrap();
    assert_eq!(st["max_age_days"], 30, "{st}");
}

#[test]
fn config_prints_and_changes_the_retention_settings() {
    let (_dir, d) = rollup_store(false);
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["config", s(&d), "--format", "json"])).unwrap();
    assert_eq!(
        (v["max_age_days"].as_u64(), v["max_bytes"].as_u64()),
        (Some(90), Some(0))
    );
    assert_eq!(v["tiers"][1]["name"], "60s");
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "config",
        s(&d),
        "max_bytes=10GiB",
        "max_age_days=30",
        "max_clock_lead=12h",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(v["max_bytes"].as_u64(), Some(10 << 30));
    // Kept: a later reader sees them.
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["config", s(&d), "--format", "json"])).unwrap();
    assert_eq!(
        (
            v["max_age_days"].as_u64(),
            v["max_bytes"].as_u64(),
            v["max_clock_lead_ms"].as_u64()
        ),
        (Some(30), Some(10 << 30), Some(12 * 3_600_000))
    );
    // Keep times of raw and of each tier, and the expiry action.
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "config",
        s(&d),
        "keep.raw=3h",
        "keep.10s=2d",
        "on_expiry=archive:cold",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(v["raw_keep_ms"].as_u64(), Some(3 * 3_600_000), "{v}");
    assert_eq!(
        v["tiers"][0]["keep_ms"].as_u64(),
        Some(2 * 86_400_000),
        "{v}"
    );
    assert_eq!(
        (v["on_expiry"].as_str(), v["archive_dir"].as_str()),
        (Some("archive"), Some("cold"))
    );
    let text = ok(&["config", s(&d)]);
    assert!(text.contains("keep.10s") && text.contains("2d"), "{text}");
    assert!(text.contains("archive:cold"), "{text}");
    assert_eq!(
        v["max_bytes"].as_u64(),
        Some(10 << 30),
        "earlier settings stay: {v}"
    );
    // Malformed or out of range: usage error, or the setting and its range named.
    for (kv, code) in [
        ("max_bytes=ten", 2),
        ("colour=red", 2),
        ("keep.5m=1d", 2),
        ("keep.10s=soon", 2),
        ("on_expiry=shred", 2),
        ("keep.10s=1h", 1),
        ("max_age_days=4000", 1),
    ] {
        let o = tierlog(&["config", s(&d), kv]);
        assert_eq!(o.status.code(), Some(code), "{kv}");
    }
    let o = tierlog(&["config", s(&d), "max_age_days=4000"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("max_age_days"));
    // While another process writes the store, changing it names that process.
    let store = tierlog::Store::open(&d, tierlog::Config::default()).unwrap();
    let o = tierlog(&["config", s(&d), "max_age_days=10"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&std::process::id().to_string()), "{err}");
    drop(store);
}

#[test]
fn expired_rollups_go_to_the_archive_and_query_archive_reads_them() {
    let (_dir, d) = rollup_store(true);
    let day = 86_400_000i64;
    // Without an archive, --archive is an error.
    let o = tierlog(&["query", s(&d), "h", "--tier", "60s", "--archive"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("on_expiry=delete"));
    ok(&["config", s(&d), "on_expiry=archive:cold", "max_age_days=30"]);
    let now = (T0 + 40 * day).to_string();
    let o = tierlog(&["maintain", s(&d), "--now", &now, "--accept-clock"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("archived 60s") && out.contains("cold"),
        "{out}"
    );
    let q = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["query", s(&d), "h", "--tier", "60s", "--format", "json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&ok(&args)).unwrap()
    };
    assert_eq!(q(&[]).to_string().matches("\"metric\"").count(), 0);
    let archived = q(&["--archive"]);
    let series = archived["series"].as_array().unwrap();
    assert!(!series.is_empty(), "{archived}");
    assert!(!series[0]["points"].as_array().unwrap().is_empty());
    let cold = format!("{}/cold", s(&d));
    let a: serde_json::Value =
        serde_json::from_str(&ok(&["verify", &cold, "--format", "json"])).unwrap();
    assert!(a["files"].as_u64().unwrap() >= 3, "{a}");
    // Verifying the store verifies its archive too, without notices about it.
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["verify", s(&d), "--format", "json"])).unwrap();
    assert_eq!(v["notices"].as_array().unwrap().len(), 0, "{v}");
    assert!(v["files"].as_u64() > a["files"].as_u64(), "{v} {a}");
    // Damage in the archive is corruption of the store.
    let seg = std::fs::read_dir(format!("{cold}/60s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| common::is_segment(p))
        .unwrap();
    let mut b = std::fs::read(&seg).unwrap();
    b[40] ^= 1;
    std::fs::write(&seg, b).unwrap();
    assert_eq!(tierlog(&["verify", s(&d)]).status.code(), Some(3));
}

#[test]
fn completions_are_printed_for_each_shell() {
    for (shell, needle) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef tierlog"),
        ("fish", "complete -c tierlog"),
    ] {
        let out = ok(&["completions", shell]);
        assert!(out.contains(needle), "{shell}: {out}");
        for sub in ["ingest", "query", "maintain", "verify"] {
            assert!(out.contains(sub), "{shell} lacks {sub}");
        }
    }
    assert_eq!(tierlog(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn repair_rebuilds_a_damaged_state_file() {
    let (_dir, d) = rollup_store(true);
    let now = (T0 + 1_560_000).to_string();
    let query = |tier: &str| {
        let mut args = vec!["query", s(&d), "{__name__=~\".+\"}", "--format", "csv"];
        args.extend(["--now", &now]);
        if tier != "raw" {
            args.extend(["--tier", tier]);
        }
        ok(&args)
    };
    let before: Vec<String> = ["raw", "10s", "60s"].iter().map(|t| query(t)).collect();
    assert!(before.iter().all(|q| q.lines().count() > 2), "{before:?}");
    let state = d.join(STATE_FILE);
    let mut b = std::fs::read(&state).unwrap();
    b[40] ^= 1;
    std::fs::write(&state, &b).unwrap();
    let o = tierlog(&["query", s(&d), "g", "--now", &now]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("state at offset 32") && err.contains("tierlog repair"),
        "{err}"
    );
    let out = ok(&["repair", s(&d), "--now", &now]);
    assert!(
        out.contains("state.damaged") && out.contains("retention settings"),
        "{out}"
    );
    assert_eq!(std::fs::read(d.join("state.damaged")).unwrap(), b);
    let after: Vec<String> = ["raw", "10s", "60s"].iter().map(|t| query(t)).collect();
    assert_eq!(after, before);
}

#[test]
fn output_into_a_closed_pipe_ends_quietly_by_sigpipe() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    ok(&["ingest", s(&d), &example(), "--replay"]);
    for args in [
        vec!["series", s(&d)],
        vec!["metrics", s(&d)],
        vec!["config", s(&d)],
        vec!["query", s(&d), "node_load1"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tierlog"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reading end is closed before the command prints anything.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.signal(), Some(libc::SIGPIPE), "{args:?}: {o:?}");
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{err}"
        );
    }
}

#[test]
fn reading_a_directory_that_holds_no_store_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    for cmd in ["stats", "series", "metrics"] {
        let o = tierlog(&[cmd, s(dir.path())]);
        assert_eq!(o.status.code(), Some(1), "{cmd}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("is not a tierlog store"), "{cmd}: {err}");
    }
    let o = tierlog(&["query", s(dir.path()), "up"]);
    assert_eq!(o.status.code(), Some(1));
    // `dump` of a directory points to `verify`.
    let o = tierlog(&["dump", s(dir.path())]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("tierlog verify DIR"));
    // Nothing was created in it.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
}

/// `tierlog config s on_expiry=archive:…` refuses archive paths that would lose data (the
/// store itself, its own directories, the directory above it, another store, a symbolic link
/// to the store), names `on_expiry` and leaves the setting as it was; a directory of its own
/// is taken.
#[test]
fn config_refuses_archive_paths_that_would_lose_data() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    let other = dir.path().join("other");
    ok(&["ingest", s(&d), &example(), "--replay"]);
    ok(&["ingest", s(&other), &example(), "--replay"]);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&d, dir.path().join("link")).unwrap();
    let other_arg = format!("on_expiry=archive:{}", other.display());
    for kv in [
        "on_expiry=archive:.",
        "on_expiry=archive:./raw",
        "on_expiry=archive:./60s",
        "on_expiry=archive:..",
        "on_expiry=archive:../other",
        "on_expiry=archive:../link",
        &other_arg,
    ] {
        let o = tierlog(&["config", s(&d), kv]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{kv}: {err}");
        assert!(
            err.contains("on_expiry") && err.contains("archive directory"),
            "{kv}: {err}"
        );
        let text = ok(&["config", s(&d)]);
        assert!(text.contains("on_expiry       delete"), "{kv}: {text}");
    }
    ok(&["config", s(&d), "on_expiry=archive:cold"]);
    assert!(ok(&["config", s(&d)]).contains("archive:cold"));
}

/// The number of points of the raw JSON answer `v`.
fn json_points(v: &serde_json::Value) -> usize {
    v["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["points"].as_array().unwrap().len())
        .sum()
}

#[test]
fn time_flags_take_a_leading_minus() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    ok(&["ingest", s(&d), &example(), "--replay", "-q"]);
    // node_load1 is scraped every 15 s: four points in a minute.
    let now = "2023-11-14T23:00:00Z";
    let v = query_json(
        &d,
        "node_load1",
        &["--now", now, "--from", "-10m", "--to", "-9m"],
    );
    assert_eq!(json_points(&v), 4, "{v}");
    // The global --now, before the command, takes a relative time too.
    let o = tierlog(&[
        "--now",
        "+0s",
        "query",
        s(&d),
        "node_load1",
        "--from",
        "-1h",
        "--to",
        "+1h",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let o = tierlog(&["query", s(&d), "node_load1", "--now", "-5m", "--step", "5m"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    // A negative duration is refused with a reason, a flag is not taken for a time.
    let o = tierlog(&["query", s(&d), "node_load1", "--step", "-5m"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not negative"));
    let o = tierlog(&[
        "query",
        s(&d),
        "node_load1",
        "--format",
        "json",
        "--from",
        "--to",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is a flag"),
        "{o:?}"
    );
    // forward's --since too (nothing after it to send: the receiver is never asked).
    let o = tierlog(&[
        "forward",
        s(&d),
        "--url",
        "http://127.0.0.1:9/api/v1/write",
        "--since",
        "-1h",
        "--once",
        "--max-attempts",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
}

#[test]
fn bare_epoch_seconds_are_refused_and_units_say_which() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    ok(&["ingest", s(&d), &example(), "--replay", "-q"]);
    // 2023-11-14T22:00:00Z in seconds: ten digits, read as ms it would be January 1970.
    let o = tierlog(&["query", s(&d), "node_load1", "--from", "1699999200"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("1699999200s") && err.contains("1699999200ms"),
        "{err}"
    );
    let v = query_json(
        &d,
        "node_load1",
        &["--from", "1699999200s", "--to", "1699999260s"],
    );
    assert_eq!(json_points(&v), 4, "{v}");
    let v = query_json(
        &d,
        "node_load1",
        &["--from", "1699999200000ms", "--to", "1699999260000"],
    );
    assert_eq!(json_points(&v), 4, "{v}");
}

#[test]
fn sizes_take_units_in_every_flag() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    ok(&[
        "ingest",
        s(&d),
        &example(),
        "--replay",
        "-q",
        "--max-line-bytes",
        "1KiB",
    ]);
    ok(&["maintain", s(&d), "--max-bytes", "10GiB", "-q"]);
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["config", s(&d), "--format", "json"])).unwrap();
    assert_eq!(v["max_bytes"], 10u64 << 30);
    // The same parser as `config max_bytes=`.
    ok(&["config", s(&d), "max_bytes=20GB", "-q"]);
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["config", s(&d), "--format", "json"])).unwrap();
    assert_eq!(v["max_bytes"], 20_000_000_000u64);
    let o = tierlog(&["maintain", s(&d), "--max-bytes", "10 parsecs"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn messages_read_as_sentences() {
    let (_dir, d) = rollup_store(true);
    // The clock warning gives the lead in days and hours, not in seconds.
    let later = (T0 + 400 * 86_400_000 + 5 * 3_600_000).to_string();
    let o = tierlog(&["maintain", s(&d), "--now", &later, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let lead = v["retention"]["age_held_back"].as_i64().unwrap();
    let (days, hours) = (lead / 86_400_000, lead % 86_400_000 / 3_600_000);
    let err = String::from_utf8_lossy(&o.stderr);
    let want = format!("the clock is {days} days {hours} hours ahead of the newest data");
    assert!(err.contains(&want), "{err} lacks {want:?}");

    // Drop reasons print as the JSON and the README spell them.
    let o = tierlog(&["maintain", s(&d), "--now", &later, "--accept-clock"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("): max_age"), "{out}");
    assert!(
        !out.contains("MaxAge") && !out.contains("TierKeep"),
        "{out}"
    );

    // verify names what is wrong with a damaged header in words.
    let state = d.join(STATE_FILE);
    let mut b = std::fs::read(&state).unwrap();
    b[12] ^= 0x01;
    std::fs::write(&state, &b).unwrap();
    let o = tierlog(&["verify", s(&d)]);
    assert_eq!(o.status.code(), Some(3));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("checksum mismatch"), "{out}");
    assert!(!out.contains("Corrupt(") && !out.contains('{'), "{out}");
}

#[test]
fn a_csv_without_a_header_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "cpu,1700000000000,1.5,a\ncpu,1700000001000,2.5,a\n").unwrap();
    let o = tierlog(&["ingest", s(&dir.path().join("store")), s(&input)]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("in.csv:1:1: the header is missing"), "{err}");
    assert!(!err.contains("not a valid label name"), "{err}");
}

#[test]
fn a_huge_bad_regex_is_not_echoed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    ok(&["ingest", s(&d), &example(), "--replay", "-q"]);
    let selector = format!("node_load1{{job=~\"({}\"}}", "a".repeat(100_000));
    for cmd in ["query", "series"] {
        let o = tierlog(&[cmd, s(&d), &selector]);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.len() < 1000, "{cmd}: {} bytes of error", err.len());
        assert!(err.contains("unclosed group"), "{cmd}: {err}");
    }
}

#[test]
fn a_budget_below_the_store_size_lists_what_would_go_and_needs_yes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    ok(&["ingest", s(&d), &example(), "--replay", "-q"]);
    let now = "2023-11-15T00:00:00Z";
    ok(&["maintain", s(&d), "--now", now, "-q"]);
    let o = tierlog(&["config", s(&d), "max_bytes=5000"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pass --yes"), "{err}");
    // "  TIER START .. END (N bytes)" per segment.
    let listed: Vec<String> = err
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| l.ends_with(" bytes)"))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            format!("{} {}", w[0], w[1])
        })
        .collect();
    assert!(!listed.is_empty(), "{err}");
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["config", s(&d), "--format", "json"])).unwrap();
    assert_eq!(v["max_bytes"], 0, "not changed without --yes");
    // With --yes it is set, and the next pass drops what was listed.
    ok(&["config", s(&d), "max_bytes=5000", "--yes", "-q"]);
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "maintain",
        s(&d),
        "--now",
        now,
        "--format",
        "json",
        "-q",
    ]))
    .unwrap();
    let dropped: Vec<String> = v["retention"]["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let start = d["start_ms"].as_i64().unwrap();
            let t = tierlog_tools::import::rfc3339::format(start);
            format!("{} {t}", d["tier"].as_str().unwrap())
        })
        .collect();
    assert_eq!(listed, dropped);
    // A budget the store fits in needs no confirmation.
    ok(&["config", s(&d), "max_bytes=10GiB", "-q"]);
}

#[test]
fn forward_remove_drops_a_checkpoint_maintain_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    ok(&["ingest", s(&d), &example(), "--replay", "-q"]);
    // A forward that fails (nothing listens) leaves its checkpoint at the oldest data.
    let o = tierlog(&[
        "forward",
        s(&d),
        "--url",
        "http://127.0.0.1:9/api/v1/write",
        "--name",
        "gone",
        "--once",
        "--max-attempts",
        "1",
        "--now",
        "2023-11-14T23:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let ckpt = d.join("forward/gone.ckpt");
    assert!(ckpt.exists());
    // maintain keeps raw data for it, and says which checkpoint and how to remove it.
    let later = "2023-11-15T03:00:00Z";
    let o = tierlog(&["maintain", s(&d), "--now", later]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("kept until a forwarder sends them"), "{err}");
    assert!(
        err.contains(&format!("tierlog forward {} --remove --name gone", s(&d))),
        "{err}"
    );
    // Refused while a forwarder of that name holds its lock.
    {
        let fs = tierlog::vfs::Fs::std();
        let _held = tierlog_forward::CheckpointFile::open(&fs, &d, "gone", 0, false).unwrap();
        let o = tierlog(&["forward", s(&d), "--remove", "--name", "gone"]);
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        assert!(ckpt.exists());
    }
    let o = tierlog(&["forward", s(&d), "--remove", "--name", "other"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("there are: gone"));
    ok(&["forward", s(&d), "--remove", "--name", "gone"]);
    assert!(!ckpt.exists());
    // Nothing is held back any more: the raw segments past their keep time go.
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "maintain",
        s(&d),
        "--now",
        later,
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(v["retention"]["held_for_forward"], 0, "{v}");
    assert!(
        !v["retention"]["dropped"].as_array().unwrap().is_empty(),
        "{v}"
    );
    // --remove sends nothing: it does not go with --url.
    let o = tierlog(&["forward", s(&d), "--remove", "--url", "http://127.0.0.1:9/"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn repair_moves_a_damaged_segment_to_quarantine_and_reports_the_lost_range() {
    let (_dir, d) = rollup_store(true);
    let now = (T0 + 1_560_000).to_string();
    let name = window_file_name(T0, SEGMENT_EXT);
    let seg = d.join(RAW_DIR).join(&name);
    let len = std::fs::metadata(&seg).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 20).unwrap();
    drop(f);
    assert_eq!(tierlog(&["verify", s(&d)]).status.code(), Some(3));
    let query = |d: &Path| {
        let o = tierlog(&[
            "query",
            s(d),
            "g",
            "--from",
            &T0.to_string(),
            "--to",
            &now,
            "--now",
            &now,
            "--format",
            "json",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let v = query(&d);
    assert!(
        v["warnings"]
            .to_string()
            .contains("is corrupt and was skipped"),
        "{v}"
    );

    let o = tierlog(&["repair", s(&d), "--now", &now, "--format", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let moved = d.join(QUARANTINE_DIR).join(RAW_DIR).join(&name);
    assert!(moved.is_file() && !seg.exists(), "{v}");
    let findings = v["findings"].to_string();
    assert!(findings.contains(s(&moved)), "{v}");
    // The lost range is the window the segment covered (T0 is on a window boundary).
    let span = 1_200_000;
    let lost = v["lost"].as_array().unwrap();
    assert_eq!(lost.len(), 1, "{v}");
    let from = tierlog_tools::import::rfc3339::format(T0);
    let to = tierlog_tools::import::rfc3339::format(T0 + span);
    assert_eq!(lost[0], format!("raw data from {from} to {to} lost"), "{v}");
    assert_eq!(v["unrepaired"].as_array().unwrap().len(), 0, "{v}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("quarantine") && err.contains(&from), "{err}");

    // verify is clean (the quarantine is a notice), queries no longer warn.
    let o = tierlog(&["verify", s(&d), "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // (The only warning left says the raw points are gone and which tier still has them.)
    let v = query(&d);
    let w = v["warnings"].as_array().unwrap();
    assert!(
        w.iter()
            .all(|w| w.as_str().unwrap().contains("no longer kept")
                && !w.as_str().unwrap().contains("corrupt")),
        "{v}"
    );
    // A second repair has nothing left to do.
    let o = tierlog(&["repair", s(&d), "--now", &now]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing to repair"));
}

#[test]
fn an_empty_tier_query_says_the_tier_is_not_materialised_yet() {
    let (_dir, d) = rollup_store(false);
    let now = (T0 + 1_210_000).to_string();
    let args = [
        "query",
        s(&d),
        "g",
        "--tier",
        "60s",
        "--from",
        &T0.to_string(),
        "--to",
        &now,
        "--now",
        &now,
        "--format",
        "json",
    ];
    let o = tierlog(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["series"].as_array().unwrap().len(), 0, "{v}");
    let w = v["warnings"].to_string();
    assert!(
        w.contains("60s tier is not materialised yet") && w.contains("tierlog maintain"),
        "{v}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: the 60s tier is not materialised"),
        "{err}"
    );

    // Once maintained, the tier answers and the hint is gone.
    ok(&["maintain", s(&d), "--now", &(T0 + 1_560_000).to_string()]);
    let o = tierlog(&args);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["series"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["warnings"].as_array().unwrap().len(), 0, "{v}");
}

#[test]
fn an_empty_raw_query_over_expired_raw_points_names_the_step_that_reads_a_tier() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    let input = dir.path().join("in.prom");
    std::fs::write(
        &input,
        "g 1 1700000650000\ng 2 1700000690000\ng 4 1700004000000\n",
    )
    .unwrap();
    ok(&["ingest", s(&d), s(&input), "--replay", "-q"]);
    let now = "1700014800000";
    ok(&["maintain", s(&d), "--now", now]);
    let query = |extra: &[&str]| {
        let mut a = vec![
            "query",
            s(&d),
            "g",
            "--from",
            "1700000000000",
            "--to",
            "1700001000000",
            "--now",
            now,
            "--format",
            "json",
        ];
        a.extend(extra);
        let o = tierlog(&a);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (
            serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (v, err) = query(&[]);
    assert_eq!(v["series"].as_array().unwrap().len(), 0, "{v}");
    let w = v["warnings"][0].as_str().unwrap_or_default().to_owned();
    assert!(w.starts_with("raw points before "), "{v}");
    assert!(w.contains(" are no longer kept (expired"), "{v}");
    assert!(w.contains("; `--step "), "{v}");
    assert!(err.contains(&w), "{err}");
    // The tier it names holds both points of the range.
    let tier = w
        .split("reads the ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let (v, _) = query(&["--tier", tier]);
    let buckets: u64 = v["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_u64().unwrap())
        .sum();
    assert_eq!(buckets, 2, "{v}");
    // The JSON Lines answer carries the same warning.
    let o = tierlog(&[
        "query",
        s(&d),
        "g",
        "--from",
        "1700000000000",
        "--to",
        "1700001000000",
        "--now",
        now,
        "--jsonl",
    ]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("are no longer kept"));
}

#[test]
fn delete_prints_what_it_removes_and_a_dry_run_removes_nothing() {
    let (_dir, d) = rollup_store(true);
    let now = (T0 + 1_560_000).to_string();
    let query = |args: &[&str]| {
        let mut a = vec!["query", s(&d), "h", "--format", "json", "--now", &now];
        a.extend_from_slice(args);
        let v: serde_json::Value = serde_json::from_str(&ok(&a)).unwrap();
        v["series"][0]["points"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(query(&[]), 40);
    assert_eq!(query(&["--tier", "10s"]), 12);
    let (from, to) = ((T0 + 30_000).to_string(), (T0 + 60_000).to_string());
    let run = |extra: &[&str]| {
        let mut a = vec![
            "delete",
            s(&d),
            "h",
            "--from",
            &from,
            "--to",
            &to,
            "--now",
            &now,
        ];
        a.extend_from_slice(extra);
        ok(&a)
    };
    let dry = run(&["--dry-run"]);
    assert!(
        dry.starts_with("would delete: 1 series (1 matched), 10 points, 3 buckets"),
        "{dry}"
    );
    assert_eq!(query(&[]), 40, "a dry run removes nothing");
    let v: serde_json::Value = serde_json::from_str(&run(&["--format", "json"])).unwrap();
    assert_eq!(
        (&v["series"], &v["points"], &v["buckets"], &v["dry_run"]),
        (&1.into(), &10.into(), &3.into(), &false.into()),
        "{v}"
    );
    // 10 s buckets at 30, 40 and 50 s; the 60 s bucket at 0 s starts before the range.
    // (Bytes freed may be 0 here: a chunk with a gap can encode larger than without it.)
    assert_eq!(v["files_rewritten"], 3, "{v}");
    assert_eq!(query(&[]), 30);
    assert_eq!(query(&["--tier", "10s"]), 9);
    assert_eq!(query(&["--from", &from, "--to", &to]), 0);
    // The whole series: it leaves the index.
    let csv = ok(&["delete", s(&d), "h", "--format", "csv", "--now", &now]);
    assert!(
        csv.starts_with("dry_run,matched,series,points,buckets,bytes,"),
        "{csv}"
    );
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    assert_eq!((row[2], row[3], row[8]), ("1", "30", "1"), "{csv}");
    assert!(!ok(&["series", s(&d), "h", "--format", "csv"]).contains("h,"));
    ok(&["verify", s(&d)]);
}
