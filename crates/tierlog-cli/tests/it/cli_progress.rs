//! The `tierlog` command's stderr and its consistency across commands: no progress bar when
//! stderr is piped, one summary line at the end, nothing with `--quiet`, a drawn bar with
//! `TIERLOG_PROGRESS=always`, `--format csv` with a header for every data command, an example
//! in every command's help, and each documented exit code.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tierlog::layout::RAW_DIR;

/// Runs tierlog with `env` set and `stdin` (none when `None`) as its standard input.
fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tierlog"));
    cmd.args(args)
        .env_remove("TIERLOG_PROGRESS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run tierlog");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn tierlog(args: &[&str]) -> Output {
    run(args, &[], None)
}

fn ok(args: &[&str]) -> Output {
    let o = tierlog(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/node.prom")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// After the example file's last sample (2023-11-14T23:00Z): its windows are due.
const LATER: &str = "2023-11-15T00:00:00Z";

/// A store holding the example file, replayed.
fn store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    ok(&["ingest", s(&d), s(&example()), "--replay", "-q"]);
    (dir, d)
}

/// A raw segment of the store.
fn segment(d: &Path) -> PathBuf {
    std::fs::read_dir(d.join(RAW_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| tierlog_testkit::helpers::is_segment(p))
        .expect("a sealed segment")
}

/// stderr carries no carriage return and no escape sequence: nothing a bar would draw.
fn assert_no_bar(what: &str, err: &str) {
    assert!(
        !err.contains('\r') && !err.contains('\x1b'),
        "{what}: control characters on stderr: {err:?}"
    );
}

/// The last line of stderr.
fn last_line(err: &str) -> &str {
    err.lines().last().unwrap_or("")
}

#[test]
fn piped_runs_draw_no_bar_and_end_with_the_summary_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    // A file, replayed.
    let o = ok(&["ingest", s(&d), s(&example()), "--replay"]);
    let err = text(&o.stderr);
    assert_no_bar("ingest FILE", &err);
    let size = std::fs::metadata(example()).unwrap().len();
    let line = last_line(&err);
    assert!(
        line.starts_with("ingested 2160 samples from ")
            && line.contains(&format!(" lines ({size} bytes) in "))
            && line
                .contains("samples/s): 2160 accepted, 0 rejected (too old: 0, too far ahead: 0)")
            && line.contains("; 9 new series, metadata for 4 metrics; store "),
        "{err}"
    );
    assert!(
        o.stdout.is_empty(),
        "a table ingest prints nothing on stdout"
    );

    // Standard input, live: the summary counts the bytes read too.
    let input = b"up{job=\"a\"} 1 1000\nup{job=\"a\"} 1 2000\nup{job=\"a\"} 1 1\n";
    let d2 = dir.path().join("stdin");
    let o = run(
        &["ingest", s(&d2), "-", "--now", "5000ms"],
        &[],
        Some(input),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert_no_bar("ingest -", &err);
    assert!(
        last_line(&err).starts_with(&format!(
            "ingested 3 samples from 3 lines ({} bytes) in ",
            input.len()
        )),
        "{err}"
    );

    // Every other command ends with its own line.
    let seg = segment(&d);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["verify", s(&d)], "verified "),
        (vec!["metrics", s(&d)], "4 metrics, 9 series"),
        (vec!["series", s(&d)], "9 series of 4 metrics"),
        (vec!["series", s(&d), "node_load1"], "1 series of 1 metrics"),
        (vec!["stats", s(&d)], "3 tiers: "),
        (vec!["config", s(&d)], "11 settings, 0 changed"),
        (vec!["dump", s(&seg)], "dumped "),
        (
            vec!["maintain", s(&d), "--now", LATER],
            "1 windows sealed: ",
        ),
        (vec!["repair", s(&d)], "nothing to repair"),
    ];
    for (args, want) in cases {
        let o = ok(&args);
        let err = text(&o.stderr);
        assert_no_bar(args[0], &err);
        assert!(
            last_line(&err).starts_with(want),
            "{args:?}: wanted a last line starting {want:?}, got {err:?}"
        );
    }
}

#[test]
fn verify_summary_counts_files_bytes_and_items() {
    let (_dir, d) = store();
    let o = ok(&["verify", s(&d)]);
    let line = text(&o.stderr);
    let line = last_line(&line);
    // `verified N files, N bytes: N checksummed items ok, 0 corrupt, 0 notices`
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "verified");
    assert!(words[1].parse::<u64>().unwrap() >= 4, "{line}");
    assert!(words[3].parse::<u64>().unwrap() > 0, "{line}");
    assert!(
        line.ends_with(" checksummed items ok, 0 corrupt, 0 notices"),
        "{line}"
    );
}

#[test]
fn quiet_prints_nothing_on_stderr_when_all_goes_well() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    for flag in ["--quiet", "-q"] {
        let d = dir.path().join(flag);
        let o = ok(&["ingest", s(&d), s(&example()), "--replay", flag]);
        assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
        assert!(o.stdout.is_empty());
    }
    ok(&["ingest", s(&d), s(&example()), "--replay", "-q"]);
    let o = run(
        &[
            "ingest",
            s(&dir.path().join("stdin")),
            "--now",
            "5000ms",
            "-q",
        ],
        &[],
        Some(b"m 1 1000\n"),
    );
    assert!(o.status.success());
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
    // Quiet keeps the data: a json summary still goes to stdout.
    let o = ok(&[
        "ingest",
        s(&dir.path().join("json")),
        s(&example()),
        "--replay",
        "-q",
        "--format",
        "json",
    ]);
    assert!(o.stderr.is_empty());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["accepted"], 2160);
    assert!(v["input_bytes"].as_u64().unwrap() > 0);
    assert!(v["store_bytes"].as_u64().unwrap() > 0);

    let seg = segment(&d);
    for args in [
        vec!["verify", s(&d)],
        vec!["metrics", s(&d)],
        vec!["series", s(&d)],
        vec!["stats", s(&d)],
        vec!["config", s(&d)],
        vec!["dump", s(&seg)],
        vec!["maintain", s(&d), "--now", LATER],
        vec!["repair", s(&d)],
        vec!["query", s(&d), "{__name__=~\".+\"}"],
        vec!["query", s(&d), "{__name__=~\".+\"}", "--format", "json"],
        vec!["query", s(&d), "{__name__=~\".+\"}", "--step", "1m"],
    ] {
        let mut args = args.clone();
        args.push("-q");
        let o = ok(&args);
        assert!(o.stderr.is_empty(), "{args:?}: {}", text(&o.stderr));
        // A clean verify and a repair with nothing to repair list nothing.
        if !matches!(args[0], "verify" | "repair") {
            assert!(!o.stdout.is_empty(), "{args:?}: the data is still printed");
        }
    }
}

#[test]
fn quiet_still_prints_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.prom");
    std::fs::write(&input, "ok 1 1000\nbad{x=} 4 4000\n").unwrap();
    let o = tierlog(&["ingest", s(&dir.path().join("s")), s(&input), "-q"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("tierlog: ") && err.contains("bad.prom:2:"),
        "{err}"
    );
}

#[test]
fn forced_progress_draws_a_bar_on_stderr_and_leaves_stdout_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    let o = run(
        &[
            "ingest",
            s(&d),
            s(&example()),
            "--replay",
            "--format",
            "csv",
        ],
        &[("TIERLOG_PROGRESS", "always")],
        None,
    );
    assert!(o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("ingest ["), "{err:?}");
    assert!(err.contains("\x1b[2K"), "the bar is cleared: {err:?}");
    // What follows the bar's last clearing is the summary line.
    let after = err.rsplit("\x1b[2K").next().unwrap();
    assert!(after.starts_with("ingested 2160 samples"), "{err:?}");
    assert_eq!(after.lines().count(), 1, "{err:?}");
    let out = text(&o.stdout);
    assert_no_bar("stdout", &out);
    assert_eq!(out.lines().count(), 2, "{out}");

    // Standard input has no size: a spinner counts samples and their rate.
    let o = run(
        &["ingest", s(&dir.path().join("stdin")), "--now", "5000ms"],
        &[("TIERLOG_PROGRESS", "always")],
        Some(b"m 1 1000\nm 2 2000\n"),
    );
    assert!(o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("ingest: ") && err.contains(" samples ("),
        "{err:?}"
    );
    assert!(err.contains("/s)"), "{err:?}");

    let o = run(&["verify", s(&d)], &[("TIERLOG_PROGRESS", "always")], None);
    assert!(o.status.success());
    assert!(text(&o.stderr).contains("verify ["));

    // --quiet and never win over always.
    let o = run(
        &["verify", s(&d), "-q"],
        &[("TIERLOG_PROGRESS", "always")],
        None,
    );
    assert!(o.status.success() && o.stderr.is_empty());
    let o = run(&["verify", s(&d)], &[("TIERLOG_PROGRESS", "never")], None);
    assert_no_bar("never", &text(&o.stderr));
}

#[test]
fn every_data_command_accepts_csv_and_prints_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("store");
    let o = ok(&[
        "ingest",
        s(&d),
        s(&example()),
        "--replay",
        "--format",
        "csv",
    ]);
    let out = text(&o.stdout);
    assert!(
        out.starts_with("lines,samples,accepted,rejected_too_old,"),
        "{out}"
    );
    let seg = segment(&d);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["query", s(&d), "node_load1"],
            "metric,labels,ts_ms,value",
        ),
        (vec!["metrics", s(&d)], "name,kind,unit,series,description"),
        (vec!["series", s(&d)], "id,metric,labels"),
        (
            vec!["stats", s(&d)],
            "tier,part,segments,bytes,points,bytes_per_point,materialised_through_ms",
        ),
        (vec!["config", s(&d)], "setting,value"),
        (vec!["dump", s(&seg)], "kind,offset,len,status,content"),
        (vec!["verify", s(&d)], "severity,file,offset,message"),
        (
            vec!["maintain", s(&d)],
            "event,tier,start_ms,end_ms,bytes,reason,archived_to",
        ),
        (vec!["repair", s(&d)], "kind,message"),
    ];
    for (args, header) in cases {
        // --now is global: every command takes it, before or after its arguments.
        let mut a = vec!["--now", LATER];
        a.extend(&args);
        a.extend(["--format", "csv"]);
        let o = ok(&a);
        let out = text(&o.stdout);
        assert_eq!(out.lines().next(), Some(header), "{a:?}: {out}");
        let cols = header.split(',').count();
        for l in out.lines().skip(1).filter(|l| !l.contains('"')) {
            assert_eq!(l.split(',').count(), cols, "{a:?}: {l}");
        }
    }
    // The maintain pass above sealed the last window and dropped the expired ones: rows.
    let o = ok(&["maintain", s(&d), "--format", "csv", "--now", LATER]);
    assert_eq!(text(&o.stdout).lines().count(), 1, "nothing left to do");
    let config = text(&ok(&["config", s(&d), "--format", "csv"]).stdout);
    assert!(config.contains("\nwindow_span_ms,1200000\n"), "{config}");
    assert!(config.contains("\ntier.10s.keep_ms,"), "{config}");
}

#[test]
fn maintain_csv_lists_what_the_pass_did() {
    let (_dir, d) = store();
    let o = ok(&["maintain", s(&d), "--format", "csv", "--now", LATER]);
    let out = text(&o.stdout);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    // The replay left the last 20-minute window open; it is sealed now.
    assert!(
        rows.iter().any(|r| r[0] == "sealed"
            && r[1] == "raw"
            && r[2] == "1700001600000"
            && r[3] == "1700002800000"),
        "{out}"
    );
}

#[test]
fn every_command_shows_an_example_in_its_help() {
    let commands = [
        "ingest",
        "query",
        "metrics",
        "series",
        "stats",
        "config",
        "maintain",
        "delete",
        "dump",
        "verify",
        "repair",
        "forward",
        "serve",
        "completions",
    ];
    // The list is complete: `tierlog --help` names no other command (but help).
    let top = text(&ok(&["--help"]).stdout);
    let listed: Vec<&str> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert_eq!(listed, commands, "{top}");
    for c in commands {
        for args in [vec![c, "-h"], vec![c, "--help"], vec!["help", c]] {
            let out = text(&ok(&args).stdout);
            let at = out
                .find("\nExample")
                .unwrap_or_else(|| panic!("{args:?}: no example:\n{out}"));
            assert!(
                out[at..].contains(&format!("\n  tierlog {c} ")),
                "{args:?}: the example runs another command:\n{out}"
            );
        }
    }
}

#[test]
fn each_exit_code_means_what_the_readme_says() {
    let (dir, d) = store();
    // 0: success.
    assert_eq!(tierlog(&["stats", s(&d)]).status.code(), Some(0));
    assert_eq!(tierlog(&["verify", s(&d)]).status.code(), Some(0));
    // 1: an error: no such store, a bad selector, malformed input.
    let missing = dir.path().join("missing");
    assert_eq!(tierlog(&["verify", s(&missing)]).status.code(), Some(1));
    assert_eq!(tierlog(&["series", s(&d), "cpu{"]).status.code(), Some(1));
    let bad = dir.path().join("bad.prom");
    std::fs::write(&bad, "x{ 1\n").unwrap();
    let o = tierlog(&["ingest", s(&dir.path().join("s2")), s(&bad)]);
    assert_eq!(o.status.code(), Some(1));
    // 2: usage: a missing argument, an unknown flag, a bad value, an unknown input format.
    for args in [
        vec!["verify"],
        vec!["stats", s(&d), "--bogus"],
        vec!["stats", s(&d), "--format", "xml"],
        vec!["ingest", s(&d), "in.unknown"],
        vec!["config", s(&d), "max_bytes=lots"],
    ] {
        let o = tierlog(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(!o.stderr.is_empty(), "{args:?}");
    }
    let o = run(
        &["stats", s(&d)],
        &[("TIERLOG_PROGRESS", "sometimes")],
        None,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    // 3: corruption, from verify and dump, naming the file.
    let seg = segment(&d);
    let mut b = std::fs::read(&seg).unwrap();
    b[40] ^= 0x10;
    std::fs::write(&seg, &b).unwrap();
    for args in [vec!["verify", s(&d)], vec!["dump", s(&seg)]] {
        let o = tierlog(&args);
        assert_eq!(o.status.code(), Some(3), "{args:?}");
        let err = text(&o.stderr);
        let name = seg.file_name().unwrap().to_str().unwrap();
        assert!(err.contains(name), "{args:?}: {err}");
    }
    // Quiet or not, corruption is reported.
    let o = tierlog(&["verify", s(&d), "-q"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o.stderr).contains("corruption found"));
}
