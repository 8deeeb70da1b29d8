//! `tierlog query --step` where its sources meet — tiers, raw points, finer and coarser tiers,
//! raw data expired beneath a tier — reproduced through the CLI as users met them, and
//! `--step`/`--tier` answers over damaged raw data, in every output format and through the
//! library: every retained point counted once, in the bucket it belongs to, with the same
//! counter rule and an exact p95 wherever the raw points allow, and skipped data reported.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use tierlog::{Config, ManualClock, Selector, Store};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tierlog"))
        .args(args)
        .output()
        .expect("run tierlog")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A store made by `ingest --replay` of `text`, then `maintain --now NOW`.
fn replayed(dir: &Path, name: &str, text: &str, now: i64) -> String {
    let input = dir.join(format!("{name}.prom"));
    std::fs::write(&input, text).unwrap();
    let d = dir.join(name);
    ok(&["ingest", s(&d), s(&input), "--replay"]);
    ok(&["maintain", s(&d), "--now", &now.to_string()]);
    s(&d).to_owned()
}

/// The CSV rows of a step query, as (ts_ms, width_ms, count, p95, increase, tier).
type Row = (i64, i64, u64, String, String, String);

fn step_csv(store: &str, sel: &str, step: &str, from: i64, to: i64, now: i64) -> Vec<Row> {
    let out = ok(&[
        "query",
        store,
        sel,
        "--step",
        step,
        "--from",
        &from.to_string(),
        "--to",
        &to.to_string(),
        "--format",
        "csv",
        "--now",
        &now.to_string(),
    ]);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (t, w, c, p, i, tier) = (
        col("ts_ms"),
        col("width_ms"),
        col("count"),
        col("p95"),
        col("increase"),
        col("tier"),
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[t].parse().unwrap(),
                f[w].parse().unwrap(),
                f[c].parse().unwrap(),
                f[p].to_owned(),
                f[i].to_owned(),
                f[tier].to_owned(),
            )
        })
        .collect()
}

fn total(rows: &[Row]) -> u64 {
    rows.iter().map(|r| r.2).sum()
}

/// 45 minutes of `node_load1` at one point a second from 20:36:41, raw data expired (the
/// clock 3 h after the last point): every step, whatever its buckets' alignment with the
/// recording, counts all 2700 points, each hour bucket the points of its hour.
#[test]
fn steps_count_every_point_when_raw_data_has_expired() {
    let dir = tempfile::tempdir().unwrap();
    let start = 1_699_994_201_000; // 2023-11-14T20:36:41Z
    let text: String = (0..2700)
        .map(|i| format!("node_load1 {} {}\n", i % 17, start + i * 1000))
        .collect();
    let last = start + 2699 * 1000;
    let now = last + 3 * 3_600_000;
    let d = replayed(dir.path(), "rec", &text, now);
    for step in ["1h", "30m", "10m", "60s", "7s"] {
        let rows = step_csv(&d, "node_load1", step, start - 3_600_000, last + 1, now);
        assert_eq!(total(&rows), 2700, "--step {step}: {rows:?}");
    }
    let rows = step_csv(&d, "node_load1", "1h", start - 3_600_000, last + 1, now);
    let hour = 1_699_992_000_000; // 20:00
    assert_eq!(
        rows.iter().map(|r| (r.0, r.2)).collect::<Vec<_>>(),
        [
            (hour, (hour + 3_600_000 - start) as u64 / 1000),
            (
                hour + 3_600_000,
                2700 - (hour + 3_600_000 - start) as u64 / 1000
            )
        ]
    );
    assert!(rows.iter().all(|r| r.5 == "60s"), "{rows:?}");
}

/// A step bucket that starts before a series' first point, raw data gone: the 60s tier has
/// materialised its whole piece, so it answers.
#[test]
fn a_bucket_starting_before_the_first_point_comes_from_the_tier() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_700_014_800_000;
    let d = replayed(
        dir.path(),
        "g",
        "g 1 1700000650000\ng 2 1700000690000\ng 4 1700004000000\n",
        now,
    );
    let rows = step_csv(&d, "g", "5m", 1_700_000_000_000, 1_700_001_000_000, now);
    assert_eq!(
        rows.iter().map(|r| (r.0, r.2)).collect::<Vec<_>>(),
        [(1_700_000_400_000, 2)]
    );
    // Step 10 s: two buckets of one point each from the 10s tier, no 60 s bucket besides.
    let rows = step_csv(&d, "g", "10s", 1_700_000_000_000, 1_700_001_000_000, now);
    assert_eq!(
        rows.iter()
            .map(|r| (r.0, r.1, r.2, r.5.as_str()))
            .collect::<Vec<_>>(),
        [
            (1_700_000_650_000, 10_000, 1, "10s"),
            (1_700_000_690_000, 10_000, 1, "10s")
        ]
    );
    // Step 7 s (no tier divides it): each point once, and no bucket outside [from, to).
    for (from, to) in [
        (1_700_000_000_000, 1_700_001_000_000),
        (1_700_000_000_000, 1_700_000_655_000),
    ] {
        let rows = step_csv(&d, "g", "7s", from, to, now);
        let want = if to > 1_700_000_690_000 { 2 } else { 1 };
        assert_eq!(total(&rows), want, "{rows:?}");
        assert!(
            rows.iter().all(|r| r.0 < to && r.0 + r.1 > from),
            "{rows:?}"
        );
    }
}

/// Raw points still kept for part of a step bucket, the tier for the rest: both answer
/// their part, and a bucket the raw points hold whole gets its exact p95 from them.
#[test]
fn raw_points_and_the_tier_each_answer_their_part() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_700_003_400_000;
    let d = replayed(
        dir.path(),
        "p",
        "g 1 1699988400000\ng 10 1700001900000\ng 30 1700001960000\ng 20 1700002020000\n",
        now,
    );
    let rows = step_csv(&d, "g", "1h", 1_699_999_200_000, 1_700_002_800_000, now);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].2, rows[0].3.as_str()), (3, "30"), "{rows:?}");
}

/// A counter whose previous point is in a raw window that has expired (the tiers hold it):
/// every step finds it, so the increase does not depend on the step.
#[test]
fn a_counters_first_step_is_the_same_whatever_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_700_009_400_000;
    let d = replayed(
        dir.path(),
        "c",
        "# TYPE c counter\nc 5 1700000410000\nc 8 1700001605000\nc 9 1700001615000\nc 10 1700011200000\n",
        now,
    );
    let inc = |step: &str| -> Vec<f64> {
        step_csv(&d, "c", step, 1_700_001_600_000, 1_700_001_620_000, now)
            .iter()
            .map(|r| r.4.parse().unwrap())
            .collect()
    };
    assert_eq!(inc("1s"), [3.0, 1.0]);
    assert_eq!(inc("10s"), [3.0, 1.0]);
    assert_eq!(inc("60s"), [4.0]);
}

/// Three hours at one point every 10 s, replayed, then one raw segment truncated.
fn damaged_store(dir: &Path, maintain_first: bool) -> (String, i64) {
    let t0 = 1_700_000_400_000;
    let text: String = (0..1080)
        .map(|i| format!("g {i} {}\n", t0 + i * 10_000))
        .collect();
    let input = dir.join("d.prom");
    std::fs::write(&input, text).unwrap();
    let d = dir.join("d");
    ok(&["ingest", s(&d), s(&input), "--replay"]);
    let now = t0 + 3 * 3_600_000 + 600_000;
    if maintain_first {
        ok(&["maintain", s(&d), "--now", &now.to_string()]);
    }
    // The window 2 h in: retention keeps it (raw keep 2 h) while the tiers cover it.
    let seg = tierlog_testkit::helpers::seg_path(&d, t0 + 6 * 1_200_000);
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(50).unwrap();
    if !maintain_first {
        // The tiers are computed over the damaged raw data.
        let o = run(&["maintain", s(&d), "--now", &now.to_string()]);
        assert!(String::from_utf8_lossy(&o.stderr).contains("damaged"));
    }
    (s(&d).to_owned(), now)
}

#[test]
fn step_and_tier_queries_report_damage_in_every_format() {
    for maintain_first in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (d, now) = damaged_store(dir.path(), maintain_first);
        let now = now.to_string();
        let from = "1700000000000";
        for how in [
            ["--step", "60s"],
            ["--step", "20m"],
            ["--tier", "60s"],
            ["--tier", "10s"],
        ] {
            let ctx = format!("{how:?} maintained before the damage: {maintain_first}");
            let args = |format: &str| {
                let mut a = vec![
                    "query", &d, "g", how[0], how[1], "--from", from, "--now", &now,
                ];
                if format == "jsonl" {
                    a.push("--jsonl");
                } else {
                    a.extend(["--format", format]);
                }
                a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
            };
            for format in ["json", "jsonl", "csv", "table"] {
                let a = args(format);
                let o = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
                assert!(o.status.success(), "{ctx} {format}");
                let (out, err) = (
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr),
                );
                assert!(
                    err.contains("warning") && err.contains("partial"),
                    "{ctx} {format}: {err}"
                );
                match format {
                    "json" => {
                        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
                        assert!(
                            !v["warnings"].as_array().unwrap().is_empty(),
                            "{ctx}: {out}"
                        );
                    }
                    "jsonl" => assert!(out.contains("{\"warning\":"), "{ctx}: {out}"),
                    _ => {}
                }
            }
        }
    }
}

#[test]
fn the_library_says_a_step_or_tier_answer_over_damage_is_partial() {
    let dir = tempfile::tempdir().unwrap();
    let (d, now) = damaged_store(dir.path(), false);
    let config = Config::default().with_clock(Arc::new(ManualClock::new(now)));
    let store = Store::open_read_only(&d, config).unwrap();
    let sel = Selector::metric("g");
    let from = 1_700_000_000_000;
    assert!(store.query(&sel, from, now).unwrap().is_partial());
    for step in [60, 600, 3600] {
        let r = store
            .query_step(&sel, from, now, Duration::from_secs(step))
            .unwrap();
        assert!(r.is_partial() && r.warnings[0].contains("raw"), "{r:?}");
    }
    for tier in ["10s", "60s"] {
        let r = store.query_tier(&sel, from, now, tier).unwrap();
        assert!(r.is_partial(), "{tier}: {r:?}");
    }
    // Outside the damaged window nothing is reported.
    let r = store
        .query_step(&sel, from, 1_700_007_600_000, Duration::from_secs(60))
        .unwrap();
    assert!(!r.is_partial(), "{:?}", r.warnings);
}

/// The reproduction: one raw segment truncated, then one pass three hours after
/// the last sample materialises the tiers from the damaged window and retention deletes it.
/// The tiers remember the damage: every later step or tier answer over it is partial.
fn damaged_then_expired(dir: &Path) -> (String, i64) {
    let t0 = 1_700_000_400_000;
    let text: String = (0..1080)
        .map(|i| format!("g {i} {}\n", t0 + i * 10_000))
        .collect();
    let input = dir.join("d.prom");
    std::fs::write(&input, text).unwrap();
    let d = dir.join("d");
    ok(&["ingest", s(&d), s(&input), "--replay"]);
    let seg = d
        .join("raw")
        .join(format!("{:015}.seg", t0 + 6 * 1_200_000));
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(50).unwrap();
    let now = t0 + 1079 * 10_000 + 3 * 3_600_000;
    ok(&["maintain", s(&d), "--now", &now.to_string()]);
    assert!(!seg.exists(), "retention deletes the damaged raw segment");
    (s(&d).to_owned(), now)
}

#[test]
fn step_answers_over_damage_stay_partial_after_the_raw_segment_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (d, now) = damaged_then_expired(dir.path());
    let now = now.to_string();
    let from = "1700000000000";
    for how in [["--step", "60s"], ["--step", "1h"], ["--tier", "10s"]] {
        for format in ["json", "csv", "table"] {
            let o = run(&[
                "query", &d, "g", how[0], how[1], "--from", from, "--now", &now, "--format", format,
            ]);
            assert!(o.status.success(), "{how:?} {format}");
            let (out, err) = (
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr),
            );
            assert!(
                err.contains("warning") && err.contains("partial") && err.contains("damaged"),
                "{how:?} {format}: {err}"
            );
            if format == "json" {
                let v: serde_json::Value = serde_json::from_str(&out).unwrap();
                let w = v["warnings"].as_array().unwrap();
                assert!(
                    w.iter().any(|w| w.as_str().unwrap().contains("damaged")),
                    "{how:?}: {out}"
                );
            }
        }
    }
    // The first hour has no damage under it: no warning.
    let o = run(&[
        "query",
        &d,
        "g",
        "--step",
        "60s",
        "--from",
        from,
        "--to",
        "1700003600000",
        "--now",
        &now,
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["warnings"], serde_json::json!([]), "{v}");
    // `verify` notes the record without calling it corruption; `dump` shows it.
    let o = run(&["verify", &d, "--format", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["corruption"], serde_json::json!([]), "{v}");
    let noted = v["notices"].as_array().unwrap();
    assert!(
        noted
            .iter()
            .any(|n| n["message"].as_str().unwrap().contains("damaged")),
        "{v}"
    );
    let piece = Path::new(&d)
        .join("60s")
        .join(format!("{:015}.seg", 1_700_007_600_000i64));
    let o = run(&["dump", s(&piece), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let footer = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "footer")
        .unwrap();
    assert_eq!(
        footer["content"]["partial"],
        serde_json::json!([{"from_ms": 1_700_007_600_000i64, "to_ms": 1_700_008_800_000i64}]),
        "{footer}"
    );
}

#[test]
fn the_library_remembers_damage_under_the_tiers_across_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let (d, now) = damaged_then_expired(dir.path());
    let sel = Selector::metric("g");
    let from = 1_700_000_000_000;
    let damaged = (1_700_007_600_000, 1_700_008_800_000);
    let config = || Config::default().with_clock(Arc::new(ManualClock::new(now)));
    for read_only in [false, true, false] {
        let store = if read_only {
            Store::open_read_only(&d, config()).unwrap()
        } else {
            Store::open(&d, config()).unwrap()
        };
        for step in [60, 600, 3600] {
            let r = store
                .query_step(&sel, from, now, Duration::from_secs(step))
                .unwrap();
            assert!(
                r.is_partial() && r.warnings.iter().any(|w| w.contains("damaged")),
                "{step}: {:?}",
                r.warnings
            );
            // The hole is there: the damaged window's buckets are missing.
            let ts: Vec<i64> = r.series[0].points.iter().map(|p| p.t).collect();
            if step == 60 {
                assert!(!ts.iter().any(|t| (damaged.0..damaged.1).contains(t)));
            }
        }
        for tier in ["10s", "60s"] {
            let r = store.query_tier(&sel, from, now, tier).unwrap();
            assert!(r.is_partial(), "{tier}: {:?}", r.warnings);
            // Only over the damaged range.
            let r = store.query_tier(&sel, from, damaged.0, tier).unwrap();
            assert!(!r.is_partial(), "{tier}: {:?}", r.warnings);
        }
        if !read_only {
            // Another pass (compaction, retention) keeps the record.
            store.maintain().unwrap();
        }
    }
}
