//! `tierlog ingest` in every input format: the same data set written as Prometheus text,
//! OpenMetrics, InfluxDB line protocol and CSV gives the same series and points; malformed
//! input is reported as FILE:LINE:COLUMN; the format comes from the flag or the extension.

use crate::support::{ok, s, tierlog};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The clock of every command here: a minute after the data set's last sample.
const NOW: &str = "1700000090000";

// The data set, in each format: cpu_usage for three series (one with a host value holding a
// space, a comma and quotes), mem_used_bytes, and the counter net_bytes_total, at three
// times 15 s apart, the second with a half second.

const PROM: &str = r#"# HELP cpu_usage CPU busy share.
# TYPE cpu_usage gauge
cpu_usage{host="a",mode="user"} 1.5 1700000000000
cpu_usage{host="a",mode="system"} 0.25 1700000000000
cpu_usage{host="b \"x\",y z",mode="user"} -3 1700000000000
mem_used_bytes{host="a"} 1048576 1700000000000
net_bytes_total{host="a"} 10 1700000000000
cpu_usage{host="a",mode="user"} 2.5 1700000015500
cpu_usage{host="a",mode="system"} 0.5 1700000015500
cpu_usage{host="b \"x\",y z",mode="user"} 4e-3 1700000015500
mem_used_bytes{host="a"} 2097152 1700000015500
net_bytes_total{host="a"} 25 1700000015500
cpu_usage{host="a",mode="user"} 1 1700000030000
cpu_usage{host="a",mode="system"} 0 1700000030000
cpu_usage{host="b \"x\",y z",mode="user"} 1 1700000030000
mem_used_bytes{host="a"} 0 1700000030000
net_bytes_total{host="a"} 26 1700000030000
"#;

const OPENMETRICS: &str = r#"# TYPE cpu_usage gauge
# HELP cpu_usage CPU busy share.
cpu_usage{host="a",mode="user"} 1.5 1700000000
cpu_usage{host="a",mode="system"} 0.25 1700000000.000
cpu_usage{host="b \"x\",y z",mode="user"} -3 1700000000
cpu_usage{host="a",mode="user"} 2.5 1700000015.5
cpu_usage{host="a",mode="system"} 0.5 1700000015.5 # {trace_id="abc"} 0.5 1700000015.4
cpu_usage{host="b \"x\",y z",mode="user"} 4e-3 1700000015.5
cpu_usage{host="a",mode="user"} 1 1.70000003e9
cpu_usage{host="a",mode="system"} 0 1700000030
cpu_usage{host="b \"x\",y z",mode="user"} 1 1700000030
mem_used_bytes{host="a"} 1048576 1700000000
mem_used_bytes{host="a"} 2097152 1700000015.5
mem_used_bytes{host="a"} 0 1700000030
# TYPE net_bytes counter
# UNIT net_bytes bytes
net_bytes_total{host="a"} 10 1700000000
net_bytes_created{host="a"} 1699990000 1700000000
net_bytes_total{host="a"} 25 1700000015.5
net_bytes_total{host="a"} 26 1700000030
# EOF
"#;

const INFLUX: &str = r#"# cpu, mem and net, nanoseconds
cpu,host=a,mode=user usage=1.5 1700000000000000000
cpu,host=a,mode=system usage=0.25 1700000000000000000
cpu,host=b\ "x"\,y\ z,mode=user usage=-3 1700000000000000000
mem,host=a used_bytes=1048576i,note="first" 1700000000000000000
net,host=a bytes_total=10u 1700000000000000000
cpu,host=a,mode=user usage=2.5 1700000015500000000
cpu,host=a,mode=system usage=0.5 1700000015500000000
cpu,mode=user,host=b\ "x"\,y\ z usage=4e-3 1700000015500000000
mem,host=a used_bytes=2097152i 1700000015500000000
net,host=a bytes_total=25u 1700000015500000000
cpu,host=a,mode=user usage=t 1700000030000000000
cpu,host=a,mode=system usage=false 1700000030000000000
cpu,host=b\ "x"\,y\ z,mode=user usage=TRUE 1700000030000000000
mem,host=a used_bytes=0i 1700000030000000000
net,host=a bytes_total=26u 1700000030000000000
"#;

const CSV: &str = r#"metric,host,mode,ts,value
cpu_usage,a,user,1700000000000,1.5
cpu_usage,a,system,2023-11-14T22:13:20Z,0.25
cpu_usage,"b ""x"",y z",user,1700000000000,-3
mem_used_bytes,a,,1700000000000,1048576
net_bytes_total,a,,1700000000000,10
cpu_usage,a,user,2023-11-14T22:13:35.500Z,2.5
cpu_usage,a,system,1700000015500,0.5
cpu_usage,"b ""x"",y z",user,2023-11-14T23:13:35.5+01:00,4e-3
mem_used_bytes,a,,1700000015500,2097152
net_bytes_total,a,,1700000015500,25
cpu_usage,a,user,1700000030000,1
cpu_usage,a,system,1700000030000,0
cpu_usage,"b ""x"",y z",user,1700000030000,1
mem_used_bytes,a,,1700000030000,0
net_bytes_total,a,,1700000030000,26
"#;

const SELECTORS: [&str; 3] = ["cpu_usage", "mem_used_bytes", "net_bytes_total"];

fn query(d: &Path, selector: &str) -> serde_json::Value {
    serde_json::from_str(&ok(&[
        "query",
        s(d),
        selector,
        "--format",
        "json",
        "--now",
        NOW,
    ]))
    .unwrap()
}

/// Ingests `text` as file `name` into a new store; returns the store and the JSON summary.
fn ingest(
    root: &Path,
    name: &str,
    text: &str,
    extra: &[&str],
) -> (std::path::PathBuf, serde_json::Value) {
    let input = root.join(name);
    std::fs::write(&input, text).unwrap();
    let d = root.join(format!("store-{name}"));
    let mut args = vec!["ingest", s(&d), s(&input), "--now", NOW, "--format", "json"];
    args.extend_from_slice(extra);
    let summary = serde_json::from_str(&ok(&args)).unwrap();
    (d, summary)
}

#[test]
fn the_same_data_in_four_formats_gives_the_same_series() {
    let dir = tempfile::tempdir().unwrap();
    let (prom, prom_sum) = ingest(dir.path(), "data.prom", PROM, &[]);
    let (om, om_sum) = ingest(dir.path(), "data.om", OPENMETRICS, &[]);
    let (lp, lp_sum) = ingest(dir.path(), "data.lp", INFLUX, &[]);
    let (csv, csv_sum) = ingest(dir.path(), "data.csv", CSV, &[]);
    for (name, sum) in [
        ("prom", &prom_sum),
        ("openmetrics", &om_sum),
        ("influx", &lp_sum),
        ("csv", &csv_sum),
    ] {
        assert_eq!(sum["summary"]["samples"], 15, "{name}: {sum}");
        assert_eq!(sum["summary"]["accepted"], 15, "{name}: {sum}");
        assert_eq!(sum["summary"]["new_series"], 5, "{name}: {sum}");
    }
    assert_eq!(om_sum["summary"]["skipped"]["created_samples"], 1);
    assert_eq!(lp_sum["summary"]["skipped"]["string_fields"], 1);
    assert_eq!(prom_sum["summary"]["skipped"]["string_fields"], 0);
    assert_eq!(om_sum["summary"]["lines"], 21);

    // The Prometheus store holds what the file says …
    let cpu = query(&prom, "cpu_usage");
    let series = cpu["series"].as_array().unwrap();
    assert_eq!(series.len(), 3, "{cpu}");
    let odd = series
        .iter()
        .find(|s| s["labels"]["host"] == "b \"x\",y z")
        .expect("the host with quotes, comma and space");
    assert_eq!(odd["labels"]["mode"], "user");
    assert_eq!(
        odd["points"],
        serde_json::json!([
            [1_700_000_000_000i64, -3.0],
            [1_700_000_015_000i64, 0.004],
            [1_700_000_030_000i64, 1.0]
        ])
    );
    let net = query(&prom, "net_bytes_total");
    assert_eq!(
        net["series"][0]["points"],
        serde_json::json!([
            [1_700_000_000_000i64, 10.0],
            [1_700_000_015_000i64, 25.0],
            [1_700_000_030_000i64, 26.0]
        ])
    );
    // … (raw resolution is 1 s: the half second is in the parsers' unit tests) and every
    // other store holds exactly the same.
    for sel in SELECTORS {
        let want = query(&prom, sel);
        for (name, d) in [("openmetrics", &om), ("influx", &lp), ("csv", &csv)] {
            assert_eq!(query(d, sel), want, "{name}: {sel}");
        }
    }
    let series = ok(&["series", s(&prom), "--format", "json", "--now", NOW]);
    for d in [&om, &lp, &csv] {
        assert_eq!(
            ok(&["series", s(d), "--format", "json", "--now", NOW]),
            series
        );
    }
    // OpenMetrics metadata of the counter family lands on the metric its samples carry.
    let metrics = ok(&["metrics", s(&om), "--format", "csv", "--now", NOW]);
    assert!(
        metrics.contains("net_bytes_total,counter,bytes,1,"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cpu_usage,gauge,,3,CPU busy share."),
        "{metrics}"
    );
}

#[test]
fn precision_and_an_explicit_format_override_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    // Line protocol in seconds, in a file whose name says nothing.
    let (d, sum) = ingest(
        dir.path(),
        "data.dat",
        "m,host=a v=1 1700000000\nm,host=a v=2 1700000030\n",
        &["--input-format", "influx", "--precision", "s"],
    );
    assert_eq!(sum["summary"]["accepted"], 2, "{sum}");
    assert_eq!(
        query(&d, "m_v")["series"][0]["points"],
        serde_json::json!([[1_700_000_000_000i64, 1.0], [1_700_000_030_000i64, 2.0]])
    );
    // An explicit format wins over the extension.
    let (d, _) = ingest(
        dir.path(),
        "really-csv.prom",
        "metric,value,ts\nx,7,1700000000000\n",
        &["--input-format", "csv"],
    );
    assert_eq!(
        query(&d, "x")["series"][0]["points"],
        serde_json::json!([[1_700_000_000_000i64, 7.0]])
    );
    for p in ["ns", "us", "ms"] {
        let (d, _) = ingest(
            dir.path(),
            &format!("p-{p}.lp"),
            &format!(
                "m v=1 {}\n",
                match p {
                    "ns" => "1700000000000000000",
                    "us" => "1700000000000000",
                    _ => "1700000000000",
                }
            ),
            &["--precision", p],
        );
        assert_eq!(
            query(&d, "m_v")["series"][0]["points"][0][0],
            1_700_000_000_000i64,
            "{p}"
        );
    }
}

#[test]
fn standard_input_is_prometheus_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let run = |store: &str, extra: &[&str], text: &str| {
        let d = dir.path().join(store);
        let mut args = vec!["ingest", s(&d), "-", "--now", NOW];
        args.extend_from_slice(extra);
        let out = crate::support::tierlog_stdin(&args, text.as_bytes());
        (d, out)
    };
    let (d, o) = run("a", &[], "up 1 1700000000000\n");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(query(&d, "up")["series"][0]["points"][0][1], 1.0);
    let (d, o) = run(
        "b",
        &["--input-format", "openmetrics"],
        "up 2 1700000000\n# EOF\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(query(&d, "up")["series"][0]["points"][0][1], 2.0);
    let (_, o) = run("c", &["--input-format", "csv"], "metric,value\nup,x\n");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("<stdin>:2:4: invalid value \"x\""), "{err}");
}

#[test]
fn malformed_input_is_reported_as_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        (
            "bad.prom",
            "up 1 1700000000000\nup{a=\"b} 1\n",
            "bad.prom:2:6: unterminated label value",
        ),
        (
            "bad.om",
            "up 1 1700000000\nup 2 17e\n# EOF\n",
            "bad.om:2:6: invalid timestamp \"17e\"",
        ),
        (
            "noeof.om",
            "up 1 1700000000\n",
            "noeof.om:2:1: input ends without \"# EOF\"",
        ),
        (
            "after.om",
            "up 1 1700000000\n# EOF\nup 2 1700000001\n",
            "after.om:3:1: unexpected content after \"# EOF\"",
        ),
        (
            "bad.lp",
            "m v=1 1700000000000000000\nm,host=a v=oops 1700000000000000000\n",
            "bad.lp:2:12: invalid field value \"oops\"",
        ),
        (
            "bad.csv",
            "metric,host,ts,value\nup,a,1700000000000,1\nup,\"a\"b,1700000000000,1\n",
            "bad.csv:3:7: expected ',' or the end of the line after a closing quote",
        ),
        (
            "header.csv",
            "metric,host name,value\nup,a,1\n",
            "header.csv:1:8: column \"host name\" is not a valid label name",
        ),
    ];
    for (name, text, want) in cases {
        let input = dir.path().join(name);
        std::fs::write(&input, text).unwrap();
        let d = dir.path().join(format!("store-{name}"));
        let o = tierlog(&["ingest", s(&d), s(&input), "--now", NOW]);
        assert_eq!(o.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&o.stderr);
        let at = err.find(*name).unwrap_or(0);
        assert!(err[at..].starts_with(want), "{name}: {err}");
    }
    // In a replay nothing is written when a line is malformed.
    let input = dir.path().join("late.lp");
    std::fs::write(&input, "m v=1 1700000000000000000\nm v=\n").unwrap();
    let d = dir.path().join("store-late");
    let o = tierlog(&["ingest", s(&d), s(&input), "--replay"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("late.lp:2:5: expected field value; nothing was written"),
        "{err}"
    );
}

#[test]
fn unknown_extensions_and_misplaced_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data.json");
    std::fs::write(&input, "up 1\n").unwrap();
    let d = dir.path().join("store");
    let o = tierlog(&["ingest", s(&d), s(&input)]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("data.json: cannot tell the input format"),
        "{err}"
    );
    assert!(err.contains("--input-format"), "{err}");
    assert!(!d.exists(), "no store is created for a usage error");

    let prom = dir.path().join("data.prom");
    std::fs::write(&prom, "up 1\n").unwrap();
    let o = tierlog(&["ingest", s(&d), s(&prom), "--precision", "s"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--precision applies to"));

    let o = tierlog(&["ingest", s(&d), s(&prom), "--input-format", "yaml"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn summaries_count_what_was_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("s.lp");
    std::fs::write(&input, "m v=1,s=\"x\",t=\"y\" 1700000000000000000\n").unwrap();
    let d = dir.path().join("store");
    let o = tierlog(&["ingest", s(&d), s(&input), "--now", NOW]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("; skipped 2 string fields"), "{err}");
    let d2 = dir.path().join("store2");
    let csv = ok(&["ingest", s(&d2), s(&input), "--now", NOW, "--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let row: Vec<&str> = lines[1].split(',').collect();
    let cell = |name: &str| {
        let i = header.iter().position(|h| *h == name).expect(name);
        row[i]
    };
    assert_eq!(cell("skipped_string_fields"), "2", "{csv}");
    assert_eq!(cell("skipped_created_samples"), "0", "{csv}");
}

/// A live feed on standard input: hands out one line per read, and moves the clock on by
/// 1.5 s before each one (as if the lines came 1.5 s apart); records the clock at each line.
struct Trickle {
    lines: std::collections::VecDeque<Vec<u8>>,
    clock: std::sync::Arc<tierlog::ManualClock>,
    handed_out_at: std::rc::Rc<std::cell::RefCell<Vec<i64>>>,
}

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use tierlog::Clock;
        let Some(line) = self.lines.pop_front() else {
            return Ok(0);
        };
        self.clock.advance(1500);
        self.handed_out_at.borrow_mut().push(self.clock.now_ms());
        buf[..line.len()].copy_from_slice(&line);
        Ok(line.len())
    }
}

#[test]
fn samples_without_a_time_get_the_time_they_were_read() {
    use tierlog_tools::import::ingest::{IngestOptions, ingest};
    use tierlog_tools::import::{InputFormat, Precision};
    const START: i64 = 1_700_000_000_000;
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(tierlog::ManualClock::new(START));
    let store = tierlog::Store::open(
        dir.path(),
        tierlog::Config::default().with_clock(clock.clone()),
    )
    .unwrap();
    for format in [InputFormat::Prom, InputFormat::Influx] {
        let (metric, lines) = match format {
            InputFormat::Prom => (
                "live_prom",
                ["live_prom 1\n", "live_prom 2\n", "live_prom 3\n"],
            ),
            _ => (
                "live_value",
                ["live value=1\n", "live value=2\n", "live value=3\n"],
            ),
        };
        let handed_out_at = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let input = Trickle {
            lines: lines.iter().map(|l| l.as_bytes().to_vec()).collect(),
            clock: clock.clone(),
            handed_out_at: handed_out_at.clone(),
        };
        let opts = IngestOptions {
            batch: 1000,
            replay: None,
            spill_dir: dir.path().to_owned(),
            sort_memory: 1 << 20,
            default_ts: START,
            latest: None,
            max_line_bytes: tierlog_tools::import::DEFAULT_MAX_LINE_BYTES,
        };
        let source = format.parser(std::io::BufReader::new(input), Precision::Ns);
        let (summary, res) = ingest(&store, source, &opts);
        res.unwrap();
        assert_eq!(summary.written.accepted, 3, "{summary:?}");
        let r = store
            .query(&tierlog::Selector::metric(metric), 0, i64::MAX / 2)
            .unwrap();
        let points: Vec<(i64, f64)> = r.series[0].points.clone();
        let read_at = handed_out_at.borrow().clone();
        assert_eq!(read_at.len(), 3);
        // One point per line, each in the second its line was read in.
        assert_eq!(points.len(), 3, "{format:?}: {points:?}");
        for ((t, v), (at, want)) in points.iter().zip(read_at.iter().zip([1.0, 2.0, 3.0])) {
            assert_eq!(
                t.div_euclid(1000),
                at.div_euclid(1000),
                "{format:?}: {points:?}"
            );
            assert_eq!(*v, want);
        }
    }
}

#[test]
fn line_protocol_names_that_become_one_are_counted_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.lp");
    std::fs::write(
        &input,
        "cpu usage-idle=1,usage_idle=3 1700000000000000000\n\
         cpu usage-idle=2 1700000001000000000\n\
         cpu.x,host-name=a v=1 1700000000000000000\n\
         cpu_x,host_name=a v=5 1700000000000000000\n\
         mem free=1 1700000000000000000\n",
    )
    .unwrap();
    let d = dir.path().join("store");
    let o = tierlog(&["ingest", s(&d), s(&input), "--now", NOW, "--format", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // `cpu_usage_idle` (after `cpu_usage-idle`), `cpu_x_v` (after `cpu.x_v`) and the label
    // name `host_name` (after `host-name`); each counted once however often it comes.
    assert_eq!(summary["summary"]["name_collisions"], 3, "{summary}");
    let examples = summary["summary"]["name_collision_examples"]
        .as_array()
        .unwrap();
    assert_eq!(examples[0]["first"], "cpu_usage-idle");
    assert_eq!(examples[0]["second"], "cpu_usage_idle");
    assert_eq!(examples[0]["name"], "cpu_usage_idle");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: 3 input names became the same name")
            && err.contains(r#""cpu.x_v" and "cpu_x_v" both became "cpu_x_v""#)
            && err.contains(r#""host-name" and "host_name" both became "host_name""#),
        "{err}"
    );
    // Clean names: nothing to say.
    std::fs::write(&input, "mem free=1,used=2 1700000000000000000\n").unwrap();
    let d2 = dir.path().join("store2");
    let o = tierlog(&[
        "ingest",
        s(&d2),
        s(&input),
        "--now",
        NOW,
        "--format",
        "json",
    ]);
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["summary"]["name_collisions"], 0);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("warning"));
}

#[test]
fn a_replay_killed_midway_leaves_its_spill_directory_in_the_store_for_the_next_ingest_to_remove() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    let system_tmp = dir.path().join("system-tmp");
    std::fs::create_dir(&system_tmp).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tierlog"))
        .args(["ingest", s(&d), "-", "--replay", "-q"])
        .env("TMPDIR", &system_tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"m 1 1700000000000\nm 2 1700000001000\n")
        .unwrap();
    // The replay is reading (standard input stays open): its spill directory exists.
    let spill_base = d.join("tmp");
    let spills = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&spill_base)
            .map(|r| r.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    };
    let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while spills().is_empty() {
        assert!(
            std::time::Instant::now() < end,
            "no spill directory appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(stdin);
    assert_eq!(spills().len(), 1, "{:?}", spills());
    assert!(
        std::fs::read_dir(&system_tmp).unwrap().next().is_none(),
        "the system's temporary directory was used"
    );
    // The next ingest (which holds the writer lock) removes it.
    let input = dir.path().join("more.prom");
    std::fs::write(&input, "m 3 1700000002000\n").unwrap();
    ok(&["ingest", s(&d), s(&input), "--replay", "-q"]);
    assert!(spills().is_empty(), "{:?}", spills());
}

#[test]
fn a_sample_over_the_label_limit_is_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("many.prom");
    let labels: Vec<String> = (0..65).map(|i| format!("l{i}=\"v\"")).collect();
    std::fs::write(
        &input,
        format!(
            "ok 1 1700000000000\nok 2 1700000001000\nm{{{}}} 1 1700000002000\n",
            labels.join(",")
        ),
    )
    .unwrap();
    for replay in [false, true] {
        let d = dir.path().join(format!("store-{replay}"));
        let mut args = vec!["ingest", s(&d), s(&input), "--now", NOW];
        if replay {
            args.push("--replay");
        }
        let o = tierlog(&args);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        let want = format!("{}:3: ", input.display());
        assert!(err.contains(&want) && err.contains("labels"), "{err}");
        assert!(!err.contains("of the batch"), "{err}");
    }
}

#[test]
fn an_import_the_store_refuses_whole_registers_nothing_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    let fresh = dir.path().join("fresh.prom");
    std::fs::write(&fresh, "fresh 1 1700000080000\n").unwrap();
    ok(&["ingest", s(&d), s(&fresh), "--now", NOW, "-q"]);
    // 100 days older than the clock (older than every tier keeps), 200 series and their
    // metadata, without --replay.
    let old = dir.path().join("old.prom");
    let mut text = String::from("# HELP old_metric Old.\n# TYPE old_metric gauge\n");
    for i in 0..200 {
        text.push_str(&format!("old_metric{{k=\"{i}\"}} {i} 1691360090000\n"));
    }
    std::fs::write(&old, text).unwrap();
    let o = tierlog(&["ingest", s(&d), s(&old), "--now", NOW]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("nothing was registered")
            && err.contains("200 too old")
            && err.contains("--replay"),
        "{err}"
    );
    let store = tierlog::Store::open_read_only(&d, tierlog::Config::default()).unwrap();
    let metrics: Vec<String> = store.metrics().into_iter().map(|m| m.name).collect();
    assert_eq!(metrics, ["fresh"]);
    assert_eq!(store.series_counts().keys().collect::<Vec<_>>(), ["fresh"]);
}

/// One mistyped time in a replayed file (a year in the future) is skipped and counted as too
/// far ahead, with its line: it neither carries the replay clock (and the store's) into the
/// future nor makes a later live ingest too old. Samples after a long gap are not typos.
#[test]
fn a_replay_skips_a_typo_far_ahead_of_the_rest_of_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let t0: i64 = 1_700_000_000_000;
    let year = 365 * 86_400_000i64;
    let lines = [
        format!("m 1 {t0}"),
        format!("m 2 {}", t0 + 1_000),
        format!("m 3 {}", t0 + 2_000),
        format!("m 99 {}", t0 + year),
        format!("m 4 {}", t0 + 3_000),
        format!("m 5 {}", t0 + 4_000),
        // After a 55-minute gap: real data, not a typo.
        format!("m 6 {}", t0 + 3_300_000),
    ];
    let now = format!("{}ms", t0 + 3_311_000);
    let input = dir.path().join("typo.prom");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let d = dir.path().join("store");
    let o = tierlog(&[
        "ingest",
        s(&d),
        s(&input),
        "--replay",
        "--now",
        &now,
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{o:?}");
    let sum: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(sum["summary"]["accepted"], 6, "{sum}");
    assert_eq!(sum["summary"]["rejected_too_far_ahead"], 1, "{sum}");
    assert_eq!(sum["summary"]["first_too_far_ahead_line"], 4, "{sum}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("typo.prom:4"), "{err}");

    // The store's clock stayed with the data: a live sample ten seconds later is taken.
    let live = dir.path().join("live.prom");
    std::fs::write(&live, format!("m 7 {}\n", t0 + 3_310_000)).unwrap();
    let o = tierlog(&["ingest", s(&d), s(&live), "--now", &now, "--format", "json"]);
    assert!(o.status.success(), "{o:?}");
    let sum: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(sum["summary"]["accepted"], 1, "{sum}");

    let v = serde_json::from_str::<serde_json::Value>(&ok(&[
        "query",
        s(&d),
        "m",
        "--from",
        &format!("{t0}ms"),
        "--to",
        &format!("{}ms", t0 + 3_320_000),
        "--format",
        "json",
        "--now",
        &now,
    ]))
    .unwrap();
    let values: Vec<f64> = v["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .collect();
    assert_eq!(values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
}

/// Three days of history (older than the raw keep) land in the 60s tier through a plain
/// ingest; importing the same file again refuses every sample as a conflict and says why,
/// without changing a bucket.
#[test]
fn history_older_than_the_raw_keep_lands_in_the_tiers_and_a_second_import_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    let now: i64 = NOW.parse().unwrap();
    // One counter and one gauge every 60 s for three days, ending three hours ago, on
    // minute boundaries.
    let end = (now - 3 * 3_600_000) / 60_000 * 60_000;
    let start = end - 3 * 86_400_000;
    let mut text = String::from("# TYPE req_total counter\n");
    let mut n = 0;
    let mut t = start;
    while t < end {
        let k = (t - start) / 60_000;
        text.push_str(&format!("req_total{{h=\"a\"}} {} {t}\n", k * 2));
        text.push_str(&format!("temp{{h=\"a\"}} {} {t}\n", k % 7));
        n += 2;
        t += 60_000;
    }
    let file = dir.path().join("history.prom");
    std::fs::write(&file, text).unwrap();
    let args = ["ingest", s(&d), s(&file), "--now", NOW, "--format", "json"];
    let v: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    let sum = &v["summary"];
    assert_eq!(sum["accepted"], n, "{v}");
    assert_eq!(sum["rejected_conflict"], 0, "{v}");
    assert_eq!(sum["new_series"], 2, "{v}");
    let tier = |metric: &str| -> serde_json::Value {
        let to = now.to_string();
        let from = start.to_string();
        serde_json::from_str(&ok(&[
            "query",
            s(&d),
            metric,
            "--tier",
            "60s",
            "--from",
            &from,
            "--to",
            &to,
            "--now",
            NOW,
            "--format",
            "json",
        ]))
        .unwrap()
    };
    let before = tier("req_total");
    let p = before["series"][0]["points"].as_array().unwrap();
    assert_eq!(p.len(), 3 * 1440);
    // A counter (its TYPE line) gets increases: 2 a minute from the second minute on.
    assert_eq!(p[0]["increase"], 0.0);
    assert_eq!(p[1]["increase"], 2.0);
    assert_eq!(tier("temp")["series"][0]["points"][3]["max"], 3.0);

    // Again: every bucket is there already and cannot be merged exactly.
    let o = tierlog(&args);
    assert_eq!(o.status.code(), Some(1), "nothing was written");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["rejected_conflict"], n, "{v}");
    assert_eq!(v["summary"]["accepted"], 0, "{v}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "{n} samples older than the raw keep (2h) not imported into every tier"
        )) && err.contains("cannot be recomputed exactly"),
        "{err}"
    );
    assert_eq!(tier("req_total"), before);
}

/// A replay long enough that rollup pieces are materialised while it runs (a maintenance
/// worker every millisecond) gives a counter's buckets their increase in every piece: the
/// counter's TYPE reaches the store with its first accepted batch, not at the end of the
/// ingest, after the early pieces were rolled up as a gauge's.
#[test]
fn a_counter_replayed_while_its_pieces_roll_up_has_increases_in_every_piece() {
    use std::sync::Arc;
    use std::time::Duration;
    use tierlog::{Config, ManualClock, Selector, Store};
    use tierlog_tools::import::ingest::{IngestOptions, ingest};
    use tierlog_tools::import::{InputFormat, Precision};
    const START: i64 = 1_700_000_400_000;
    const POINTS: i64 = 2160; // six hours at 10 s
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let config = Config::default()
        .with_clock(clock.clone())
        .with_maintenance_interval(Some(Duration::from_millis(1)));
    let store = Store::open(dir.path().join("store"), config).unwrap();
    let mut text = String::from("# HELP c_total A counter.\n# TYPE c_total counter\n");
    for i in 0..POINTS {
        text += &format!("c_total {} {}\n", i * 3, START + i * 10_000);
        text += &format!("g {} {}\n", i % 7, START + i * 10_000);
    }
    let opts = IngestOptions {
        batch: 20,
        replay: Some(clock.clone()),
        spill_dir: dir.path().to_owned(),
        sort_memory: 1 << 20,
        default_ts: START,
        latest: None,
        max_line_bytes: tierlog_tools::import::DEFAULT_MAX_LINE_BYTES,
    };
    let source = InputFormat::Prom.parser(std::io::BufReader::new(text.as_bytes()), Precision::Ms);
    let (summary, res) = ingest(&store, source, &opts);
    res.unwrap();
    assert_eq!(summary.written.accepted as i64, 2 * POINTS, "{summary:?}");
    assert_eq!(summary.metadata, 1, "{summary:?}");
    let end = START + POINTS * 10_000;
    clock.advance_to(end + 3 * 3_600_000);
    store.maintain().unwrap();
    for tier in ["10s", "60s"] {
        let r = store
            .query_tier(&Selector::metric("c_total"), START, end, tier)
            .unwrap();
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let b = &r.series[0].points;
        let step = if tier == "10s" { 1 } else { 6 };
        assert_eq!(b.len() as i64, POINTS / step, "{tier}");
        // 3 a sample: every bucket but the first has its samples' steps (the first has
        // no sample before it).
        let missing: Vec<i64> = b
            .iter()
            .filter(|b| b.increase.is_none())
            .map(|b| b.t)
            .collect();
        assert!(
            missing.is_empty(),
            "{tier}: {} buckets without an increase, from {:?}",
            missing.len(),
            missing.first()
        );
        for x in &b[1..] {
            assert_eq!(x.increase, Some(3.0 * step as f64), "{tier} at {}", x.t);
        }
    }
    let metrics = store.metrics();
    let c = metrics.iter().find(|m| m.name == "c_total").unwrap();
    assert_eq!(c.meta.kind, tierlog::model::MetricKind::Counter);
    assert_eq!(c.meta.description, "A counter.");
}
