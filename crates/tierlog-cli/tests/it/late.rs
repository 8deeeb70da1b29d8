//! Late samples and clock jumps through the command line: the clock-jump reproduction of
//! issue 17 (a store written once with `--now` in the future still takes samples at the real
//! clock), and late samples into sealed windows answered like in-time ones by every query
//! format.

use crate::support::{ok, s};
use std::path::Path;

/// Runs `tierlog ingest DIR - ARGS...` with `input` on stdin; its output.
fn ingest_stdin(dir: &Path, input: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["ingest", s(dir), "-"];
    all.extend_from_slice(args);
    crate::support::tierlog_stdin(&all, input.as_bytes())
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_write_with_the_clock_in_the_future_does_not_lock_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("db");
    let out = ingest_stdin(
        &d,
        "f 1\n",
        &["--now", "2027-01-01T00:00:00Z", "--format", "json"],
    );
    assert_eq!(json(&out)["summary"]["accepted"], 1);
    // Each command opens the store again: the reopen sees the clock behind the mark.
    let out = ingest_stdin(&d, "f 2\n", &["--format", "json"]);
    let j = json(&out);
    assert_eq!(j["summary"]["accepted"], 1, "{j}");
    assert_eq!(j["summary"]["rejected_too_old"], 0, "{j}");
    let q = ok(&["query", s(&d), "f", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&q).unwrap();
    let points = v["series"][0]["points"].as_array().unwrap().len();
    assert_eq!(points, 2, "{q}");
}

/// 40 minutes of `g` every 5 s from T (a 20-minute window boundary), as Prometheus text.
const T: i64 = 1_700_000_400_000;

fn lines(samples: &[(i64, f64)]) -> String {
    samples
        .iter()
        .map(|(t, v)| format!("g {v} {t}\n"))
        .collect()
}

#[test]
fn late_samples_answer_like_in_time_ones_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let (late_db, oracle) = (dir.path().join("late"), dir.path().join("oracle"));
    let in_time: Vec<(i64, f64)> = (0..480).map(|i| (T + i * 5_000, (i % 13) as f64)).collect();
    let late = [
        (T + 60_000 + 300, 50.0), // joins the point of T + 60 s
        (T + 61_000, 7.0),        // a new second
        (T + 1_199_000, -1.0),    // the last second of the first window
    ];
    let mut all = in_time.clone();
    all.extend(late);
    all.sort_by_key(|p| p.0);
    let end = T + 40 * 60_000;
    let later = (end + 5 * 60_000 + 1_000).to_string();
    let now = end.to_string();
    let input = dir.path().join("in.prom");
    std::fs::write(&input, lines(&in_time)).unwrap();
    ok(&["ingest", s(&late_db), s(&input), "--now", &now]);
    std::fs::write(&input, lines(&all)).unwrap();
    ok(&["ingest", s(&oracle), s(&input), "--now", &now]);
    // Both sealed and rolled up; then the late samples come.
    for d in [&late_db, &oracle] {
        ok(&["maintain", s(d), "--now", &later]);
    }
    let out = ingest_stdin(
        &late_db,
        &lines(&late),
        &["--now", &later, "--format", "json"],
    );
    let j = json(&out);
    assert_eq!(
        (
            j["summary"]["accepted"].as_u64(),
            j["summary"]["late"].as_u64()
        ),
        (Some(3), Some(3)),
        "{j}"
    );
    let stats = ok(&["stats", s(&late_db), "--now", &later]);
    assert!(
        stats.contains("late samples waiting to be merged: 3"),
        "{stats}"
    );
    let answers = |d: &Path| -> Vec<String> {
        let mut out = Vec::new();
        for how in [
            vec![],
            vec!["--tier", "10s"],
            vec!["--tier", "60s"],
            vec!["--step", "10s"],
            vec!["--step", "1m"],
            vec!["--step", "5m"],
        ] {
            for format in ["json", "csv"] {
                let mut args = vec!["query", s(d), "g", "--now", &later, "--format", format];
                args.extend(&how);
                // The source of a step bucket is named: raw until the merge, the tier after.
                let text = ok(&args)
                    .replace("\"raw\"", "\"SRC\"")
                    .replace("\"10s\"", "\"SRC\"")
                    .replace("\"60s\"", "\"SRC\"")
                    .lines()
                    .map(|l| {
                        let src = ["raw", "10s", "60s"]
                            .into_iter()
                            .find(|x| format == "csv" && l.ends_with(&format!(",{x}")));
                        match src {
                            Some(x) => format!("{},SRC\n", &l[..l.len() - x.len() - 1]),
                            None => format!("{l}\n"),
                        }
                    })
                    .collect::<String>();
                out.push(format!("{how:?} {format}\n{text}"));
            }
        }
        out
    };
    let want = answers(&oracle);
    same(&answers(&late_db), &want, "before the merge");
    ok(&["maintain", s(&late_db), "--now", &later]);
    same(&answers(&late_db), &want, "after the merge");
    let stats = ok(&["stats", s(&late_db), "--now", &later]);
    assert!(!stats.contains("late samples waiting"), "{stats}");
}

/// The first line where two sets of answers differ, if any.
#[track_caller]
fn same(got: &[String], want: &[String], ctx: &str) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        for (lg, lw) in g.split(['\n', '{']).zip(w.split(['\n', '{'])) {
            assert_eq!(lg, lw, "{ctx}: in {}", w.lines().next().unwrap_or(""));
        }
    }
}
