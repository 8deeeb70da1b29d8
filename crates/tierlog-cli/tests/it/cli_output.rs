//! `tierlog query`'s output options: the terminal chart (`--plot`), the SVG chart (`--svg`),
//! local times (`--local`) and JSON Lines (`--jsonl`), checked for structure and for where
//! known values land.

use std::path::Path;
use std::process::{Command, Output};

/// 2023-11-14T22:00:00Z.
const T0: i64 = 1_699_999_200_000;
const NOW: &str = "1700000000000";

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tierlog"));
    c.args(args).args(["--now", NOW]);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run tierlog")
}

fn ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let o = run(args, env);
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

/// A store with `up` = 0, 1, …, 9 once a minute from T0, `down{k="b"}` = 9, 8, …, 0 at the
/// same times, and `gappy` = 1, NaN, 3, +Inf.
fn store(dir: &Path) -> String {
    let mut text = String::new();
    for i in 0..10i64 {
        let t = T0 + i * 60_000;
        text.push_str(&format!("up {i} {t}\ndown{{k=\"b\"}} {} {t}\n", 9 - i));
    }
    for (i, v) in ["1", "NaN", "3", "+Inf"].iter().enumerate() {
        text.push_str(&format!("gappy {v} {}\n", T0 + i as i64 * 60_000));
    }
    let input = dir.join("in.prom");
    std::fs::write(&input, text).unwrap();
    let d = dir.join("store");
    ok(&["ingest", s(&d), s(&input)], &[]);
    s(&d).to_owned()
}

/// The plot rows of a terminal chart, as the text right of the value axis, with the value
/// label of each.
fn plot_rows(text: &str) -> Vec<(String, Vec<char>)> {
    text.lines()
        .skip(1)
        .take_while(|l| !l.contains('└'))
        .map(|l| {
            let (label, rest) = l.split_once(['│', '┤']).expect("a value axis");
            (label.trim().to_owned(), rest.chars().collect())
        })
        .collect()
}

#[test]
fn plot_draws_a_rising_line_corner_to_corner_with_axes_and_legend() {
    let dir = tempfile::tempdir().unwrap();
    let d = store(dir.path());
    let text = ok(
        &[
            "query", &d, "up", "--plot", "--width", "60", "--height", "20",
        ],
        &[],
    );
    assert!(!text.contains('\x1b'), "no colours when piped: {text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 20, "{text}");
    assert!(
        lines.iter().all(|l| l.chars().count() <= 60),
        "at most 60 columns: {text}"
    );
    assert_eq!(
        lines[0],
        "2023-11-14T22:00:00.000Z to 2023-11-14T22:09:00.000Z (UTC)"
    );
    let rows = plot_rows(&text);
    assert_eq!(rows.len(), 20 - 4, "header, axis, time labels, legend");
    let width = 60 - 3; // a one-character value label, a space and the axis
    // 0 at the bottom left, 9 at the top right, one glyph per minute in between.
    let (bottom_label, bottom) = rows.last().unwrap();
    assert_eq!(bottom_label, "0");
    assert_eq!(bottom[0], '*', "{text}");
    let (_, top) = &rows[0];
    assert_eq!(top.len(), width, "{text}");
    assert_eq!(top[width - 1], '*', "{text}");
    // Nothing on the top row before the segment from minute 8 (value 8) to minute 9.
    let minute8 = (8.0 * (width - 1) as f64 / 9.0).round() as usize;
    assert!(top[..minute8].iter().all(|c| *c == ' '), "{text}");
    // The value 4 at minute 4: column 4/9 of the way, row 4/9 up from the bottom.
    let (col, row) = (
        (4.0 * (width - 1) as f64 / 9.0).round() as usize,
        ((1.0 - 4.0 / 9.0) * 15.0f64).round() as usize,
    );
    assert_eq!(rows[row].1[col], '*', "{text}");
    assert_eq!(rows[row].0, "4", "the value label of that row: {text}");
    let labels: Vec<&str> = rows
        .iter()
        .map(|r| r.0.as_str())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(labels, ["8", "6", "4", "2", "0"]);
    let axis = lines[17];
    assert!(axis.trim_start().starts_with('└'), "{axis}");
    assert_eq!(
        axis.matches('┬').count(),
        5,
        "a tick every 2 minutes: {axis}"
    );
    let times: Vec<&str> = lines[18].split_whitespace().collect();
    assert_eq!(times, ["22:00", "22:02", "22:04", "22:06", "22:08"]);
    assert_eq!(lines[19], "  * up");
}

#[test]
fn plot_tells_series_apart_and_notes_gaps_and_infinities() {
    let dir = tempfile::tempdir().unwrap();
    let d = store(dir.path());
    let text = ok(
        &[
            "query",
            &d,
            "{__name__=~\"up|down\"}",
            "--plot",
            "--width",
            "50",
            "--height",
            "16",
        ],
        &[],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 16, "{text}");
    // Ordered by metric: down first.
    assert_eq!(lines[14], "  * down{k=\"b\"}");
    assert_eq!(lines[15], "  + up");
    let rows = plot_rows(&text);
    let (_, top) = &rows[0];
    let (_, bottom) = rows.last().unwrap();
    // down falls from the top left, up rises to the top right.
    assert_eq!(top.first(), Some(&'*'), "{text}");
    assert_eq!(top.last(), Some(&'+'), "{text}");
    assert_eq!(bottom.first(), Some(&'+'), "{text}");
    assert_eq!(bottom.last(), Some(&'*'), "{text}");

    let text = ok(
        &[
            "query", &d, "gappy", "--plot", "--width", "40", "--height", "12",
        ],
        &[],
    );
    assert!(
        text.contains("note: 1 +Inf value(s) drawn at the top edge"),
        "{text}"
    );
    let rows = plot_rows(&text);
    // 1 at minute 0 (bottom left) stands alone: the NaN at minute 1 is a gap.
    let (_, bottom) = rows.last().unwrap();
    assert_eq!(bottom[0], '*');
    assert!(bottom[1..].iter().all(|c| *c != '*'), "{text}");
    // +Inf at minute 3 is on the top row, at the right edge.
    assert_eq!(rows[0].1.last(), Some(&'*'), "{text}");
}

/// Checks that `xml` is well formed as far as a chart needs: every tag closes in order,
/// attribute quotes pair up, text holds no raw `<` or `&` but entities. Returns the element
/// names in document order.
fn elements(xml: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut open: Vec<String> = Vec::new();
    let mut rest = xml.trim();
    assert!(rest.starts_with("<?xml "), "an XML declaration");
    rest = &rest[rest.find("?>").unwrap() + 2..];
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity),
                "bad entity {entity:?}"
            );
        }
        let gt = lt + rest[lt..].find('>').expect("a tag ends");
        let tag = &rest[lt + 1..gt];
        assert_eq!(tag.matches('"').count() % 2, 0, "quotes in <{tag}>");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop().as_deref(), Some(name), "closing </{name}>");
        } else {
            let name = tag.split_whitespace().next().unwrap().trim_end_matches('/');
            names.push(name.to_owned());
            if !tag.ends_with('/') {
                open.push(name.to_owned());
            }
        }
        rest = &rest[gt + 1..];
        if open.is_empty() {
            break;
        }
    }
    assert!(open.is_empty(), "unclosed {open:?}");
    assert!(rest.trim().is_empty(), "nothing after the root: {rest:?}");
    names
}

/// The `(x, y)` points of a path's `d`.
fn path_points(d: &str) -> Vec<(f64, f64)> {
    d.split_whitespace()
        .filter(|p| p.starts_with(['M', 'L']))
        .map(|p| {
            let (x, y) = p[1..].split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let start = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
    &tag[start..start + tag[start..].find('"').unwrap()]
}

#[test]
fn svg_is_well_formed_with_a_path_per_series_legend_and_bands() {
    let dir = tempfile::tempdir().unwrap();
    let d = store(dir.path());
    let file = dir.path().join("chart.svg");
    let out = ok(
        &["query", &d, "{__name__=~\"up|down\"}", "--svg", s(&file)],
        &[],
    );
    assert_eq!(out, "", "--svg alone prints nothing");
    let svg = std::fs::read_to_string(&file).unwrap();
    let names = elements(&svg);
    assert_eq!(names[0], "svg");
    assert_eq!(names.iter().filter(|n| *n == "path").count(), 2);
    assert_eq!(names.iter().filter(|n| *n == "polygon").count(), 0);
    assert!(svg.contains(">down{k=&quot;b&quot;}</text>"), "legend");
    assert!(svg.contains(">up</text>"), "legend");
    for label in ["22:00", "22:08", ">0<", ">8<"] {
        assert!(svg.contains(label), "label {label}");
    }
    // up (the second path) rises from the bottom left corner of the plot to its top right.
    let paths: Vec<&str> = svg.lines().filter(|l| l.starts_with("<path")).collect();
    let up = path_points(attr(paths[1], "d"));
    assert_eq!(up.len(), 10);
    let (x0, y0) = up[0];
    let (x9, y9) = up[9];
    assert!(x0 < x9 && y0 > y9, "{up:?}");
    let dx = (x9 - x0) / 9.0;
    let dy = (y0 - y9) / 9.0;
    for (i, (x, y)) in up.iter().enumerate() {
        assert!((x - (x0 + dx * i as f64)).abs() < 0.11, "x of point {i}");
        assert!((y - (y0 - dy * i as f64)).abs() < 0.11, "y of point {i}");
    }
    // down mirrors it.
    let down = path_points(attr(paths[0], "d"));
    assert_eq!((down[0].1, down[9].1), (y9, y0));

    // Buckets: a band polygon per series, then the avg path.
    let file = dir.path().join("step.svg");
    ok(&["query", &d, "up", "--step", "2m", "--svg", s(&file)], &[]);
    let svg = std::fs::read_to_string(&file).unwrap();
    let names = elements(&svg);
    assert_eq!(names.iter().filter(|n| *n == "path").count(), 1);
    assert_eq!(names.iter().filter(|n| *n == "polygon").count(), 1);
    assert!(svg.contains(">up (avg; band: min to max)</text>"));
    let band = svg.lines().find(|l| l.starts_with("<polygon")).unwrap();
    // 5 buckets: their maxima left to right, then their minima right to left.
    assert_eq!(attr(band, "points").split_whitespace().count(), 10);
}

#[test]
fn step_plot_draws_a_band() {
    let dir = tempfile::tempdir().unwrap();
    let d = store(dir.path());
    let text = ok(
        &[
            "query", &d, "up", "--step", "2m", "--plot", "--width", "40", "--height", "14",
        ],
        &[],
    );
    assert!(text.contains('░'), "{text}");
    assert!(text.contains("* up (avg; band: min to max)"), "{text}");
}

#[test]
fn local_prints_times_with_the_offset_of_tz() {
    let dir = tempfile::tempdir().unwrap();
    let d = store(dir.path());
    let utc = ok(
        &["query", &d, "up", "--to", "1699999260000"],
        &[("TZ", "Asia/Kolkata")],
    );
    assert!(utc.contains("2023-11-14T22:00:00.000Z"), "{utc}");
    let local = ok(
        &["query", &d, "up", "--to", "1699999260000", "--local"],
        &[("TZ", "Asia/Kolkata")],
    );
    assert!(
        local.contains("up      2023-11-15T03:30:00.000+05:30  0"),
        "{local}"
    );
    let step = ok(
        &["query", &d, "up", "--step", "5m", "--local"],
        &[("TZ", "Asia/Kolkata")],
    );
    assert!(step.contains("2023-11-15T03:35:00.000+05:30"), "{step}");
    let chart = ok(
        &[
            "query", &d, "up", "--local", "--plot", "--width", "60", "--height", "20",
        ],
        &[("TZ", "Asia/Kolkata")],
    );
    assert!(
        chart.starts_with("2023-11-15T03:30:00.000+05:30 to "),
        "{chart}"
    );
    assert!(
        chart.contains("03:30") && chart.contains("03:38"),
        "{chart}"
    );
}

#[test]
fn jsonl_lines_match_the_json_document() {
    let dir = tempfile::tempdir().unwrap();
    let d = store(dir.path());
    let sel = "{__name__=~\"up|down|gappy\"}";
    let doc: serde_json::Value =
        serde_json::from_str(&ok(&["query", &d, sel, "--format", "json"], &[])).unwrap();
    let mut expected = Vec::new();
    for s in doc["series"].as_array().unwrap() {
        for p in s["points"].as_array().unwrap() {
            expected.push(serde_json::json!({
                "metric": s["metric"], "labels": s["labels"], "tier": s["tier"],
                "t": p[0], "value": p[1],
            }));
        }
    }
    let lines = ok(&["query", &d, sel, "--jsonl"], &[]);
    let got: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 24);
    assert_eq!(got, expected);
    assert!(lines.contains("\"value\":\"NaN\"") && lines.contains("\"value\":\"+Inf\""));
    assert_eq!(
        ok(&["query", &d, sel, "--jsonl", "--format", "json"], &[]),
        lines
    );

    let doc: serde_json::Value = serde_json::from_str(&ok(
        &["query", &d, sel, "--step", "5m", "--format", "json"],
        &[],
    ))
    .unwrap();
    let mut expected = Vec::new();
    for s in doc["series"].as_array().unwrap() {
        for p in s["points"].as_array().unwrap() {
            let mut o = serde_json::json!({
                "metric": s["metric"], "labels": s["labels"],
                "step": s["step"], "step_ms": s["step_ms"],
            });
            o.as_object_mut()
                .unwrap()
                .extend(p.as_object().unwrap().clone());
            expected.push(o);
        }
    }
    let got: Vec<serde_json::Value> = ok(&["query", &d, sel, "--step", "5m", "--jsonl"], &[])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 5);
    assert_eq!(got, expected);
}

#[test]
fn output_flags_that_do_not_go_together_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = store(dir.path());
    for args in [
        &["--jsonl", "--format", "csv"][..],
        &["--jsonl", "--plot"],
        &["--width", "80"],
    ] {
        let o = run(&[&["query", &d, "up"][..], args].concat(), &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
    }
    let o = run(
        &[
            "query",
            &d,
            "up",
            "--svg",
            s(&dir.path().join("no/such/dir.svg")),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no/such/dir.svg"));
}

#[test]
fn tables_round_for_people_and_labels_print_as_prometheus_quotes_them() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.prom");
    // Two series whose labels a `k=v;k=v` text could not tell apart.
    std::fs::write(
        &input,
        format!("m{{k=\"x;j=y\"}} 6.470000000000001 {T0}\nm{{k=\"x\",j=\"y\"}} 0.30000000000000004 {T0}\n"),
    )
    .unwrap();
    let d = dir.path().join("store");
    let d = s(&d);
    ok(&["ingest", d, s(&input), "-q"], &[]);
    let table = ok(&["query", d, "m"], &[]);
    assert!(table.contains(r#"m{k="x;j=y"}"#), "{table}");
    assert!(table.contains(r#"m{j="y",k="x"}"#), "{table}");
    assert!(
        table.contains(" 6.47\n") && table.contains(" 0.3\n"),
        "{table}"
    );
    assert!(!table.contains("000000"), "{table}");
    let step = ok(&["query", d, "m", "--step", "1m"], &[]);
    assert!(step.contains("6.47") && !step.contains("000000"), "{step}");
    // CSV keeps every bit, and the labels column is one quoted label set.
    let csv = ok(&["query", d, "m", "--format", "csv"], &[]);
    assert!(
        csv.contains(&format!(
            "m,\"{{j=\"\"y\"\",k=\"\"x\"\"}}\",{T0},0.30000000000000004"
        )),
        "{csv}"
    );
    assert!(
        csv.contains(&format!("m,\"{{k=\"\"x;j=y\"\"}}\",{T0},6.470000000000001")),
        "{csv}"
    );
    let csv = ok(&["query", d, "m", "--step", "1m", "--format", "csv"], &[]);
    assert!(
        csv.contains("{k=\"\"x;j=y\"\"}") && csv.contains("6.470000000000001"),
        "{csv}"
    );
    let series = ok(&["series", d, "--format", "csv"], &[]);
    assert!(series.contains(",m,\"{k=\"\"x;j=y\"\"}\""), "{series}");
    let series = ok(&["series", d], &[]);
    assert!(series.contains(r#"{k="x;j=y"}"#), "{series}");
    // JSON keeps every bit too.
    let json = ok(&["query", d, "m{k=\"x;j=y\"}", "--format", "json"], &[]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["series"][0]["points"][0][1].as_f64(),
        Some(6.470000000000001)
    );
}
