//! The `agent` and `reader` examples: the agent's sampling against a store on a manual clock
//! with synthetic `/proc` text (exact values known), then the reader's query and table; a
//! smoke run on this machine's real `/proc`; and the built example binaries end to end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use tierlog::{Clock, Config, ManualClock, MetricKind, Selector, Store, Sync};
use tierlog_testkit::examples::procfs::{ProcFile, ProcText};
use tierlog_testkit::examples::{agent, reader};
// 2023-11-14T22:00:00Z, a minute (and hour) boundary.
use tierlog_testkit::helpers::T0;

/// The first sample: half a minute in, so the first 60 s bucket is partial.
const START: i64 = T0 + 30_000;
/// Samples written, one a second.
const SECONDS: i64 = 150;
/// Series in [`synthetic`]: cpu, cpu0, cpu1 × 8 modes; 5 other /proc/stat lines; 4 meminfo
/// fields; 3 load averages; 2 interfaces × 16 columns; 1 disk × 11 columns.
const SERIES: usize = 24 + 5 + 4 + 3 + 32 + 11;

fn sel(s: &str) -> Selector {
    s.parse().expect("selector")
}

/// The CPU user time of all CPUs at second `i`: grows by 1 to 9 a second.
fn user_jiffies(i: i64) -> i64 {
    10_000 + 5 * i + (i * i) % 5 - 2
}

/// The 1-minute load average at second `i`: goes up and down between 0.25 and 1.45 (a
/// quotient of integers, so that the text's `0.35` parses back to the same f64).
fn load1(i: i64) -> f64 {
    (25 + 10 * ((i * 7) % 13)) as f64 / 100.0
}

/// `/proc` text as it could read at second `i`: counters grow, gauges move both ways.
fn synthetic(i: i64) -> ProcText {
    let u = user_jiffies(i);
    let stat = format!(
        "cpu  {u} 10 {s} {idle} {iow} 0 {si} 0 0 0\n\
         cpu0 {u0} 5 {s0} {idle0} 7 0 3 0 0 0\n\
         cpu1 {u1} 5 {s1} {idle1} 8 0 4 0 0 0\n\
         intr {intr} 17 0 3\nctxt {ctxt}\nbtime 1699990000\nprocesses {forks}\n\
         procs_running {run}\nprocs_blocked 0\nsoftirq 123 4 5 6\n",
        s = 2_000 + 2 * i,
        idle = 50_000 + 190 * i,
        iow = 30 + i / 7,
        si = 12 + i / 3,
        u0 = u / 2,
        u1 = u - u / 2,
        s0 = 1_000 + i,
        s1 = 1_000 + i,
        idle0 = 25_000 + 95 * i,
        idle1 = 25_000 + 95 * i,
        intr = 900_000 + 1_000 * i,
        ctxt = 5_000_000 + 2_500 * i + i % 3,
        forks = 4_000 + i / 10,
        run = 1 + i % 4,
    );
    let meminfo = format!(
        "MemTotal:       16000000 kB\nMemFree:        {} kB\nHugePages_Total:       4\nHugepagesize:       2048 kB\n",
        8_000_000 - 100 * (i % 17)
    );
    let loadavg = format!(
        "{} 0.80 {} 2/345 6789\n",
        load1(i),
        (500 + i) as f64 / 1000.0
    );
    let net_dev = format!(
        "Inter-|   Receive                                                |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
         lo: {lo} {lop} 0 0 0 0 0 0 {lo} {lop} 0 0 0 0 0 0\n  \
         eth0: {rx} {rxp} 0 {drop} 0 0 0 3 {tx} {txp} 0 0 0 0 0 0\n",
        lo = 1_000 + 100 * i,
        lop = 10 + i,
        rx = 5_000_000 + 1_500 * i + 300 * (i % 5),
        rxp = 4_000 + 2 * i + i % 2,
        drop = i / 60,
        tx = 2_000_000 + 700 * i,
        txp = 3_000 + 2 * i,
    );
    let diskstats = format!(
        "   8       0 sda {r} 10 {sr} 400 {w} 20 {sw} 900 {inprog} {io} {wio} 0 0 0 0 0 0\n   \
         7       0 loop0 0 0\n",
        r = 100 + i / 2,
        sr = 8_000 + 8 * (i / 2),
        w = 200 + i,
        sw = 16_000 + 16 * i,
        inprog = i % 3,
        io = 1_000 + 4 * i,
        wio = 1_500 + 6 * i,
    );
    ProcText {
        files: vec![
            (ProcFile::Stat, stat),
            (ProcFile::Meminfo, meminfo),
            (ProcFile::Loadavg, loadavg),
            (ProcFile::NetDev, net_dev),
            (ProcFile::Diskstats, diskstats),
        ],
    }
}

/// The agent's configuration on a manual clock, deterministic (no background maintenance)
/// and without fsyncs (nothing here crashes).
fn config(clock: &Arc<ManualClock>) -> Config {
    Config {
        sync: Sync::Never,
        maintenance_interval: None,
        ..agent::config()
    }
    .with_clock(clock.clone())
}

/// Runs the agent for [`SECONDS`] seconds of [`synthetic`] text into a store in `dir`,
/// sampling a quarter second into each second, and closes the store.
fn record(dir: &Path) {
    let clock = Arc::new(ManualClock::new(START));
    let store = Store::open(dir, config(&clock)).expect("open");
    let mut agent = agent::Agent::new(&store, &agent::FILES).expect("agent");
    let mut total = tierlog::WriteSummary::default();
    for i in 0..SECONDS {
        let ts = START + i * 1000 + 250;
        clock.set(ts);
        total.add(&agent.sample(&synthetic(i), ts).expect("sample"));
    }
    assert_eq!(agent.series(), SERIES, "one cached handle per series");
    assert_eq!(total.accepted, SECONDS as u64 * SERIES as u64);
    assert_eq!(total.rejected(), 0);
    assert_eq!(
        total.new_series, 0,
        "series come from series_handle, not write"
    );
    drop(agent);
    store.close().expect("close");
}

/// A read-only store standing at `now`.
fn open_reader(dir: &Path, now: i64) -> Store {
    let clock = Arc::new(ManualClock::new(now));
    Store::open_read_only(dir, Config::default().with_clock(clock)).expect("open read-only")
}

/// Every series' raw points, by `metric{labels}`, with its metric's kind.
fn raw(store: &Store) -> BTreeMap<String, (MetricKind, Vec<(i64, f64)>)> {
    let kinds: BTreeMap<String, MetricKind> = store
        .metrics()
        .into_iter()
        .map(|m| (m.name, m.meta.kind))
        .collect();
    let r = store
        .query(&sel(r#"{__name__=~".+"}"#), 0, i64::MAX)
        .expect("query");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    r.series
        .into_iter()
        .map(|s| {
            let key = format!("{}{:?}", s.metric, s.labels.iter());
            (key, (kinds[&s.metric], s.points))
        })
        .collect()
}

fn values(store: &Store, selector: &str) -> Vec<f64> {
    let r = store.query(&sel(selector), 0, i64::MAX).expect("query");
    assert_eq!(r.series.len(), 1, "{selector}");
    r.series[0].points.iter().map(|p| p.1).collect()
}

#[test]
fn agent_registers_metadata_and_writes_a_point_per_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    record(dir.path());
    let store = open_reader(dir.path(), START + SECONDS * 1000);

    // Every family of the sampled files, with its kind, unit and description; no vmstat.
    let metrics: BTreeMap<String, tierlog::MetricMeta> = store
        .metrics()
        .into_iter()
        .map(|m| (m.name, m.meta))
        .collect();
    let families: Vec<_> = agent::FILES.iter().flat_map(|f| f.families()).collect();
    assert_eq!(metrics.len(), families.len());
    for f in &families {
        let m = &metrics[f.name];
        assert_eq!(
            (m.kind, m.unit.as_str(), m.description.as_str()),
            (f.kind, f.unit, f.help),
            "{}",
            f.name
        );
    }
    for (name, kind, unit) in [
        ("proc_cpu_jiffies_total", MetricKind::Counter, "jiffies"),
        ("proc_stat_ctxt", MetricKind::Counter, ""),
        ("proc_stat_procs_running", MetricKind::Gauge, ""),
        ("proc_meminfo_bytes", MetricKind::Gauge, "bytes"),
        ("proc_meminfo_pages", MetricKind::Gauge, "pages"),
        ("proc_load1", MetricKind::Gauge, ""),
        ("proc_net_rx_bytes_total", MetricKind::Counter, "bytes"),
        ("proc_disk_sectors_written", MetricKind::Counter, "sectors"),
        ("proc_disk_io_in_progress", MetricKind::Gauge, ""),
    ] {
        assert_eq!(
            (metrics[name].kind, metrics[name].unit.as_str()),
            (kind, unit),
            "{name}"
        );
    }
    assert!(!metrics.contains_key("proc_vmstat"));

    // One point per series per second, at the second's start.
    let all = raw(&store);
    assert_eq!(all.len(), SERIES);
    let seconds: Vec<i64> = (0..SECONDS).map(|i| START + i * 1000).collect();
    for (key, (kind, points)) in &all {
        let ts: Vec<i64> = points.iter().map(|p| p.0).collect();
        assert_eq!(ts, seconds, "{key}");
        if *kind == MetricKind::Counter {
            assert!(
                points.windows(2).all(|w| w[0].1 <= w[1].1),
                "counter {key} goes down: {points:?}"
            );
        }
    }

    // The values are the ones in the text, converted where the file says so.
    let expect = |f: fn(i64) -> f64| (0..SECONDS).map(f).collect::<Vec<f64>>();
    assert_eq!(
        values(&store, r#"proc_cpu_jiffies_total{cpu="all",mode="user"}"#),
        expect(|i| user_jiffies(i) as f64)
    );
    assert_eq!(values(&store, "proc_load1"), expect(load1));
    assert_eq!(
        values(&store, r#"proc_meminfo_bytes{field="MemFree"}"#),
        expect(|i| ((8_000_000 - 100 * (i % 17)) * 1024) as f64)
    );
    assert_eq!(
        values(&store, r#"proc_meminfo_pages{field="HugePages_Total"}"#),
        expect(|_| 4.0)
    );
    assert_eq!(
        values(&store, r#"proc_disk_io_in_progress{device="sda"}"#),
        expect(|i| (i % 3) as f64)
    );
    assert!(
        store.series(&sel(r#"{device="loop0"}"#)).is_empty(),
        "short diskstats lines are skipped"
    );
}

/// Nearest-rank p95 of `v`, by its definition: the ⌈0.95·n⌉-th smallest.
fn p95(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = (s.len() * 95).div_ceil(100);
    s[rank - 1]
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn reader_buckets_agree_with_the_raw_points() {
    let dir = tempfile::tempdir().expect("tempdir");
    record(dir.path());
    let now = START + SECONDS * 1000;
    let store = open_reader(dir.path(), now);
    let raw = raw(&store);

    let result = reader::last_hour(&store, &sel(r#"{__name__=~".+"}"#), now).expect("query");
    assert!(result.warnings.is_empty(), "{:?}", result.warnings);
    assert_eq!(result.series.len(), SERIES);
    for s in &result.series {
        let key = format!("{}{:?}", s.metric, s.labels.iter());
        let (kind, points) = &raw[&key];
        let starts: Vec<i64> = s.points.iter().map(|b| b.t).collect();
        // 30 s in the first minute, then 60 and 60.
        assert_eq!(starts, [T0, T0 + 60_000, T0 + 120_000], "{key}");
        let mut increase_total = 0.0;
        for b in &s.points {
            assert_eq!(b.width_ms, 60_000);
            let inside: Vec<(i64, f64)> = points
                .iter()
                .copied()
                .filter(|p| p.0 >= b.t && p.0 < b.t + 60_000)
                .collect();
            let v: Vec<f64> = inside.iter().map(|p| p.1).collect();
            let ctx = format!("{key} @ {}", reader::rfc3339(b.t));
            assert_eq!(b.count as usize, v.len(), "{ctx}");
            assert_eq!(b.count, if b.t == T0 { 30 } else { 60 }, "{ctx}");
            assert_eq!(
                b.min,
                v.iter().copied().fold(f64::INFINITY, f64::min),
                "{ctx}"
            );
            assert_eq!(
                b.max,
                v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                "{ctx}"
            );
            let avg = v.iter().sum::<f64>() / v.len() as f64;
            assert!(close(b.avg, avg), "{ctx}: avg {} vs {avg}", b.avg);
            assert_eq!(b.p95, Some(p95(&v)), "{ctx}");
            if *kind == MetricKind::Counter {
                // Steps between consecutive points count in the bucket of the later point.
                let before = points
                    .iter()
                    .rev()
                    .find(|p| p.0 < b.t)
                    .map_or(v[0], |p| p.1);
                let inc = b.increase.expect("counters have an increase");
                assert!(close(inc, v[v.len() - 1] - before), "{ctx}: increase {inc}");
                increase_total += inc;
            } else {
                assert_eq!(b.increase, None, "{ctx}");
            }
        }
        if *kind == MetricKind::Counter {
            let total = points[points.len() - 1].1 - points[0].1;
            assert!(
                close(increase_total, total),
                "{key}: {increase_total} vs {total}"
            );
        }
    }

    // The default selector: the three load averages, as aligned tables.
    let loads = reader::last_hour(&store, &sel(reader::DEFAULT_SELECTOR), now).expect("query");
    let names: Vec<&str> = loads.series.iter().map(|s| s.metric.as_str()).collect();
    assert_eq!(names, ["proc_load1", "proc_load15", "proc_load5"]);
    let text = reader::render(&loads);
    let tables: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(tables.len(), 3, "{text}");
    for (table, name) in tables.iter().zip(&names) {
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], *name);
        assert!(lines[1].starts_with("time "), "{table}");
        assert!(
            lines[1].ends_with("p95"),
            "gauges have no increase column: {table}"
        );
        assert_eq!(lines.len(), 2 + 3, "{table}");
        assert!(
            lines[1..].iter().all(|l| l.len() == lines[1].len()),
            "columns aligned:\n{table}"
        );
        assert!(lines[2].starts_with("2023-11-14T22:00:00Z "), "{table}");
        assert!(lines[4].starts_with("2023-11-14T22:02:00Z "), "{table}");
    }
    // proc_load1's first bucket, checked by hand: 30 points (seconds 0..30).
    let first: Vec<f64> = (0..30).map(load1).collect();
    let row: Vec<&str> = tables[0]
        .lines()
        .nth(2)
        .unwrap()
        .split_whitespace()
        .collect();
    let fmt = |v: f64| format!("{v:.3}");
    assert_eq!(
        row,
        [
            "2023-11-14T22:00:00Z",
            "30",
            &fmt(0.25),
            &fmt(1.45),
            &fmt(first.iter().sum::<f64>() / 30.0),
            &fmt(1.45),
        ]
    );

    // Counters get an increase column.
    let cpu = reader::last_hour(
        &store,
        &sel(r#"proc_cpu_jiffies_total{cpu="all",mode="user"}"#),
        now,
    )
    .expect("query");
    let text = reader::render(&cpu);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], r#"proc_cpu_jiffies_total{cpu="all",mode="user"}"#);
    assert!(lines[1].ends_with("increase"), "{text}");
}

#[test]
fn reader_shows_only_the_last_hour() {
    let dir = tempfile::tempdir().expect("tempdir");
    record(dir.path());
    // An hour and a minute after T0 the window starts at T0 + 2 min: only the last of the
    // three minutes with data is shown.
    let now = T0 + 3_600_000 + 60_000 + 10_000;
    let store = open_reader(dir.path(), now);
    let r = reader::last_hour(&store, &sel("proc_load1"), now).expect("query");
    assert_eq!(r.series.len(), 1);
    let starts: Vec<i64> = r.series[0].points.iter().map(|b| b.t).collect();
    assert_eq!(starts, [T0 + 120_000]);
}

#[test]
fn rfc3339_formats_utc_times() {
    for (ms, text) in [
        (0, "1970-01-01T00:00:00Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (1_700_000_000_000, "2023-11-14T22:13:20Z"),
        (951_782_400_000, "2000-02-29T00:00:00Z"),
        (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
        (4_107_542_400_000, "2100-03-01T00:00:00Z"),
        (253_402_300_799_000, "9999-12-31T23:59:59Z"),
    ] {
        assert_eq!(reader::rfc3339(ms), text, "{ms}");
    }
}

#[test]
fn procfs_skips_what_it_cannot_read() {
    let text = ProcText {
        files: vec![
            (ProcFile::Stat, "cpu 1 2 x 4\nctxt\nintr 5\n".into()),
            (
                ProcFile::Meminfo,
                "MemTotal: lots kB\nBad line\nCached: 3 kB\n".into(),
            ),
            (ProcFile::Loadavg, String::new()),
            (ProcFile::NetDev, "h1\nh2\nnocolon 1 2\n".into()),
            (ProcFile::Diskstats, "8 0 sda 1 2 3\n".into()),
        ],
    };
    let got: Vec<(String, f64)> = text
        .readings()
        .iter()
        .map(|r| (format!("{}{:?}", r.family.name, r.labels), r.value))
        .collect();
    let want: Vec<(String, f64)> = [
        (
            r#"proc_cpu_jiffies_total[("cpu", "all"), ("mode", "user")]"#,
            1.0,
        ),
        (
            r#"proc_cpu_jiffies_total[("cpu", "all"), ("mode", "nice")]"#,
            2.0,
        ),
        (
            r#"proc_cpu_jiffies_total[("cpu", "all"), ("mode", "idle")]"#,
            4.0,
        ),
        ("proc_stat_intr[]", 5.0),
        (r#"proc_meminfo_bytes[("field", "Cached")]"#, 3072.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn agent_samples_this_machines_proc() {
    if !Path::new("/proc/stat").exists() {
        eprintln!("no /proc/stat: skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let start = tierlog::SystemClock.now_ms() / 1000 * 1000;
    let clock = Arc::new(ManualClock::new(start));
    let store = Store::open(dir.path(), config(&clock)).expect("open");
    let mut agent = agent::Agent::new(&store, &agent::FILES).expect("agent");
    for i in 0..3 {
        clock.set(start + i * 1000);
        let s = agent
            .sample(&ProcText::read(&agent::FILES), start + i * 1000)
            .expect("sample");
        assert_eq!(s.accepted as usize, agent.series(), "every reading written");
    }
    drop(agent);
    for selector in [
        r#"proc_cpu_jiffies_total{cpu="all",mode="user"}"#,
        r#"proc_meminfo_bytes{field="MemTotal"}"#,
        "proc_load1",
        "proc_stat_ctxt",
    ] {
        let v = values(&store, selector);
        assert_eq!(v.len(), 3, "{selector}");
        if selector.starts_with("proc_meminfo") {
            assert!(v[0] > 1e6, "{selector}: {v:?}");
        }
        if selector.starts_with("proc_stat_ctxt") || selector.starts_with("proc_cpu") {
            assert!(v.windows(2).all(|w| w[0] <= w[1]), "{selector}: {v:?}");
        }
    }
    store.close().expect("close");
}

/// A built example binary, next to the test binary's `deps/` directory; `None` when the
/// examples were not built (e.g. `cargo test --test examples` builds only this target).
fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

#[test]
fn example_binaries_run_end_to_end() {
    let (Some(agent_bin), Some(reader_bin)) = (example("agent"), example("reader")) else {
        eprintln!("example binaries not built: skipped (plain `cargo test` builds them)");
        return;
    };
    if !Path::new("/proc/stat").exists() {
        eprintln!("no /proc/stat: skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");

    let out = Command::new(&agent_bin)
        .arg(&store)
        .args(["--seconds", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("agent: 2 s, "), "{stdout}");
    assert!(stdout.ends_with("agent: store closed\n"), "{stdout}");

    let out = Command::new(&reader_bin).arg(&store).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "proc_load1", "{stdout}");
    assert!(lines[1].starts_with("time "), "{stdout}");
    // Two samples a second apart: one bucket, or two if a minute began between them.
    let points: u64 = stdout
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(points, 2, "{stdout}");

    // Usage errors exit 2, a missing store 1.
    let out = Command::new(&agent_bin).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = Command::new(&agent_bin)
        .args(["x", "--seconds", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = Command::new(&reader_bin)
        .arg(dir.path().join("none"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}
