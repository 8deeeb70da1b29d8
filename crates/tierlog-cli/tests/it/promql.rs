//! `tierlog query` with PromQL expressions: evaluated at one instant, or over a range with
//! `--step`, in every output format; plain selectors keep their raw answers; expressions
//! that parse neither way name both problems.

use crate::support::{ok, s, tierlog, tierlog_stdin};

/// On an hour boundary.
const T: i64 = 1_700_002_800_000;

/// Ten minutes of `cpu_seconds_total` for two CPUs in two modes, one point a second:
/// mode `a` grows by 2 a second, mode `b` by 3.
fn store() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut text = String::from("# TYPE cpu_seconds_total counter\n");
    for i in 0..600i64 {
        for cpu in ["0", "1"] {
            for (mode, rate) in [("a", 2), ("b", 3)] {
                let t = T + i * 1000;
                text.push_str(&format!(
                    "cpu_seconds_total{{cpu=\"{cpu}\",mode=\"{mode}\"}} {} {t}\n",
                    i * rate
                ));
            }
        }
    }
    let now = (T + 600_000).to_string();
    let out = tierlog_stdin(&["ingest", s(&db), "-", "--now", &now], text.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, db)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn a_range_expression_sums_rates_by_mode() {
    let (_d, db) = store();
    let (from, to) = ((T + 120_000).to_string(), (T + 300_000).to_string());
    let q = "sum by (mode) (rate(cpu_seconds_total[1m]))";
    let v = json(&ok(&[
        "query",
        s(&db),
        q,
        "--from",
        &from,
        "--to",
        &to,
        "--step",
        "1m",
        "--format",
        "json",
        "--now",
        &to,
    ]));
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{v}");
    for (s, want) in series.iter().zip([4.0, 6.0]) {
        assert_eq!(s["metric"], "");
        let points = s["points"].as_array().unwrap();
        // 2 min, 3 min, 4 min and 5 min after T: the end is included.
        let ts: Vec<i64> = points.iter().map(|p| p[0].as_i64().unwrap()).collect();
        assert_eq!(ts, [T + 120_000, T + 180_000, T + 240_000, T + 300_000]);
        for p in points {
            assert!((p[1].as_f64().unwrap() - want).abs() < 1e-9, "{v}");
        }
    }
    assert_eq!(series[0]["labels"]["mode"], "a");
    assert_eq!(series[1]["labels"]["mode"], "b");
}

#[test]
fn an_instant_expression_is_evaluated_at_to() {
    let (_d, db) = store();
    let to = (T + 300_000).to_string();
    let csv = ok(&[
        "query",
        s(&db),
        "count(cpu_seconds_total) * 10",
        "--to",
        &to,
        "--format",
        "csv",
        "--now",
        &to,
    ]);
    assert_eq!(
        csv,
        format!("metric,labels,ts_ms,value\n,,{},40\n", T + 300_000)
    );
    let jsonl = ok(&[
        "query",
        s(&db),
        "max(cpu_seconds_total{mode=\"b\"})",
        "--to",
        &to,
        "--jsonl",
        "--now",
        &to,
    ]);
    let line = json(jsonl.lines().next().unwrap());
    assert_eq!(line["value"], 900.0, "{jsonl}");
    let table = ok(&[
        "query",
        s(&db),
        "scalar(vector(2))",
        "--to",
        &to,
        "--now",
        &to,
    ]);
    assert!(table.contains("{}") && table.contains(" 2"), "{table}");
}

#[test]
fn a_plain_selector_keeps_its_raw_answer() {
    let (_d, db) = store();
    let to = (T + 600_000).to_string();
    let v = json(&ok(&[
        "query",
        s(&db),
        "cpu_seconds_total{cpu=\"0\",mode=\"a\"}",
        "--format",
        "json",
        "--now",
        &to,
    ]));
    assert_eq!(v["series"][0]["tier"], "raw");
    assert_eq!(v["series"][0]["points"].as_array().unwrap().len(), 600);
}

#[test]
fn expressions_refuse_what_does_not_fit_them() {
    let (_d, db) = store();
    let to = (T + 600_000).to_string();
    let out = tierlog(&["query", s(&db), "sum(rate(x[1m]", "--now", &to]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a selector") && err.contains("nor a PromQL expression"),
        "{err}"
    );
    let out = tierlog(&[
        "query",
        s(&db),
        "rate(x[1m])",
        "--tier",
        "10s",
        "--now",
        &to,
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tierlog(&["query", s(&db), "rate(x[1m])", "--step", "1m", "--now", &to]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --from"));
    let out = tierlog(&[
        "query",
        s(&db),
        "rate(x[1m])",
        "--from",
        "-5m",
        "--now",
        &to,
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_expression_draws_as_svg() {
    let (d, db) = store();
    let svg = d.path().join("rate.svg");
    let (from, to) = ((T + 120_000).to_string(), (T + 600_000).to_string());
    ok(&[
        "query",
        s(&db),
        "rate(cpu_seconds_total[1m])",
        "--from",
        &from,
        "--to",
        &to,
        "--step",
        "30s",
        "--svg",
        s(&svg),
        "--now",
        &to,
    ]);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg") || text.starts_with("<?xml"),
        "{}",
        &text[..60.min(text.len())]
    );
    assert!(
        text.contains("mode=\"b\"") || text.contains("mode=&quot;b&quot;"),
        "legend names the series"
    );
}
