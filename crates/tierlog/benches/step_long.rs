//! A long step query: 90 days of `--step 1h` over 100 series at 60 s, answered from the
//! `60s` tier, through the library and the CLI binary.
//!
//! ```text
//! cargo build --release -p tierlog-cli      # optional: also measures target/release/tierlog
//! cargo bench -p tierlog --bench step_long  # TIERLOG_STEP_RUNS=5; TIERLOG_STEP_DIR=path keeps the store
//! ```
//!
//! Workload: 100 series (`node_*` metrics, ten of them, on ten hosts; two are counters), one
//! sample every 60 s for 90 days (12 960 000 samples), imported once through
//! [`Store::bulk_import`] into a store with the default tiers whose clock is an hour past the
//! history. Each run is a fresh process (the bench re-runs itself) that opens the store and
//! asks for `{__name__=~"node_.*"}` over the 90 days at a 1 h step, so its peak resident
//! memory is the query's (plus the open store's, printed apart). Modes:
//!
//! - `collect`: [`Store::query_step`], the whole answer held at once;
//! - `iter`: [`Store::query_step_iter`], one series at a time;
//! - `cli`: `tierlog query DIR '{__name__=~"node_.*"}' --from … --to … --step 1h --format
//!   json > /dev/null` under `/usr/bin/time` (when the binary is built).
//!
//! The table gives every run's query time (wall and CPU: on a shared machine the CPU time is
//! the steadier figure; the CLI's includes opening the store and writing the JSON) and peak
//! RSS, and the medians.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tierlog::{Config, ManualClock, MetricKind, Selector, Store};

const SERIES_PER_METRIC: usize = 10;
const METRICS: [&str; 10] = [
    "node_load1",
    "node_cpu_percent",
    "node_memory_free_bytes",
    "node_temp_celsius",
    "node_network_receive_bytes_total",
    "node_disk_read_bytes_total",
    "node_filesystem_free_bytes",
    "node_procs_running",
    "node_entropy_bits",
    "node_up",
];
const INTERVAL: i64 = 60_000;
const DAY: i64 = 86_400_000;
const DAYS: i64 = 90;
/// A day boundary.
const START: i64 = 1_699_920_000_000;
const END: i64 = START + DAYS * DAY;
/// The store's clock: an hour past the history.
const NOW: i64 = END + 3_600_000;
const SELECTOR: &str = r#"{__name__=~"node_.*"}"#;
const STEP: Duration = Duration::from_secs(3600);

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn config() -> Config {
    Config {
        maintenance_interval: None,
        ..Config::default()
    }
    .with_clock(Arc::new(ManualClock::new(NOW)))
}

fn build(dir: &Path) {
    let store = Store::open(dir, config()).expect("open");
    let started = Instant::now();
    let mut bulk = store.bulk_import();
    for m in &METRICS {
        if m.ends_with("_total") {
            bulk.set_kind(m, MetricKind::Counter);
        }
    }
    let hosts: Vec<String> = (0..SERIES_PER_METRIC)
        .map(|h| format!("host-{h:03}"))
        .collect();
    let mut counters = vec![0.0f64; METRICS.len() * SERIES_PER_METRIC];
    let mut k = 0i64;
    let mut ts = START;
    while ts < END {
        for (mi, m) in METRICS.iter().enumerate() {
            for (hi, h) in hosts.iter().enumerate() {
                let i = mi * SERIES_PER_METRIC + hi;
                let r = ((k as u64).wrapping_mul(2_654_435_761) ^ (i as u64 * 40_503)) % 10_007;
                let v = match mi {
                    4 | 5 => {
                        counters[i] += (r % 5_000) as f64;
                        counters[i]
                    }
                    0 => (r % 400) as f64 / 100.0,
                    1 => (r % 10_000) as f64 / 100.0,
                    2 | 6 => (1_000_000 + r) as f64 * 4096.0,
                    3 => 40.0 + (r % 300) as f64 / 10.0,
                    7 => (r % 12) as f64,
                    8 => 3_000.0 + (r % 1_000) as f64,
                    _ => 1.0,
                };
                bulk.push(m, &[("host", h)], ts, v).expect("push");
            }
        }
        k += 1;
        ts += INTERVAL;
    }
    let s = bulk.finish().expect("finish");
    println!(
        "built in {:.1} s: accepted {}, too old {}, conflict {}",
        started.elapsed().as_secs_f64(),
        s.accepted,
        s.rejected_too_old,
        s.rejected_conflict
    );
}

/// CPU time (user + system) of this process so far, s.
fn cpu_s() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Peak resident memory of this process, KiB.
fn max_rss_kib() -> u64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    assert_eq!(rc, 0, "getrusage");
    u.ru_maxrss as u64
}

/// The child: opens the store, runs one query, prints `time_s rss_kib open_rss_kib
/// series buckets cpu_s`.
fn child(dir: &Path, mode: &str) {
    let store = Store::open_read_only(dir, config()).expect("open");
    let sel: Selector = SELECTOR.parse().expect("selector");
    let open_rss = max_rss_kib();
    let cpu = cpu_s();
    let started = Instant::now();
    let (series, buckets) = match mode {
        "collect" => {
            let r = store.query_step(&sel, START, END, STEP).expect("query");
            assert!(r.warnings.is_empty(), "{:?}", r.warnings);
            let n: usize = r.series.iter().map(|s| s.points.len()).sum();
            (r.series.len(), n)
        }
        "iter" => {
            let mut it = store
                .query_step_iter(&sel, START, END, STEP)
                .expect("query");
            let (mut s, mut n) = (0, 0);
            for x in it.by_ref() {
                s += 1;
                n += x.points.len();
            }
            assert!(it.warnings().is_empty(), "{:?}", it.warnings());
            (s, n)
        }
        _ => panic!("unknown mode {mode}"),
    };
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_s() - cpu;
    println!(
        "{secs} {} {open_rss} {series} {buckets} {cpu}",
        max_rss_kib()
    );
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if let Ok(spec) = std::env::var("TIERLOG_STEP_CHILD") {
        let (mode, dir) = spec.split_once(':').expect("mode:dir");
        child(Path::new(dir), mode);
        return;
    }
    let runs = env("TIERLOG_STEP_RUNS", 5).max(1);
    let tmp;
    let dir: PathBuf = match std::env::var_os("TIERLOG_STEP_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let base = std::env::var_os("TIERLOG_BENCH_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            tmp = tempfile::tempdir_in(base).expect("temporary directory");
            tmp.path().to_owned()
        }
    };
    if std::fs::read_dir(&dir)
        .ok()
        .is_none_or(|mut d| d.next().is_none())
    {
        std::fs::create_dir_all(&dir).expect("store directory");
        build(&dir);
    }
    println!(
        "step_long: {} series x {DAYS} days at 60 s, {SELECTOR} at --step 1h, store {}",
        METRICS.len() * SERIES_PER_METRIC,
        dir.display()
    );
    let exe = std::env::current_exe().expect("bench binary");
    let cli = std::env::var_os("TIERLOG_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            let p = exe.parent()?.parent()?.join("tierlog");
            p.exists().then_some(p)
        });
    let mut modes = vec!["collect", "iter"];
    if cli.is_some() && Path::new("/usr/bin/time").exists() {
        modes.push("cli");
    }
    println!("| mode | run | query s | CPU s | peak RSS MiB | open RSS MiB | series | buckets |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut summary = Vec::new();
    for mode in modes {
        let (mut times, mut cpus, mut rss) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..runs {
            let (secs, kib, open, series, buckets, cpu) = if mode == "cli" {
                let out = Command::new("/usr/bin/time")
                    .args(["-f", "%e %M %U %S"])
                    .arg(cli.as_ref().expect("cli"))
                    .args(["--now", &NOW.to_string(), "query"])
                    .arg(&dir)
                    .args([
                        SELECTOR,
                        "--from",
                        &START.to_string(),
                        "--to",
                        &END.to_string(),
                        "--step",
                        "1h",
                        "--format",
                        "json",
                    ])
                    .stdout(std::process::Stdio::null())
                    .output()
                    .expect("run tierlog");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let err = String::from_utf8_lossy(&out.stderr);
                let last = err.lines().last().unwrap_or_default().to_owned();
                let mut f = last.split_whitespace();
                let secs: f64 = f.next().and_then(|x| x.parse().ok()).expect("time");
                let kib: u64 = f.next().and_then(|x| x.parse().ok()).expect("rss");
                let cpu: f64 = f.map(|x| x.parse::<f64>().expect("cpu")).sum();
                (secs, kib, 0, 0, 0, cpu)
            } else {
                let out = Command::new(&exe)
                    .env("TIERLOG_STEP_CHILD", format!("{mode}:{}", dir.display()))
                    .output()
                    .expect("run child");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let text = String::from_utf8_lossy(&out.stdout);
                let f: Vec<&str> = text.split_whitespace().collect();
                (
                    f[0].parse().expect("time"),
                    f[1].parse().expect("rss"),
                    f[2].parse().expect("open rss"),
                    f[3].parse().expect("series"),
                    f[4].parse().expect("buckets"),
                    f[5].parse().expect("cpu"),
                )
            };
            println!(
                "| {mode} | {} | {secs:.3} | {cpu:.3} | {:.1} | {:.1} | {series} | {buckets} |",
                run + 1,
                kib as f64 / 1024.0,
                open as f64 / 1024.0
            );
            times.push(secs);
            cpus.push(cpu);
            rss.push(kib as f64 / 1024.0);
        }
        summary.push((
            mode,
            median(&mut times),
            median(&mut cpus),
            median(&mut rss),
        ));
    }
    for (mode, t, c, r) in summary {
        println!(
            "median {mode}: {:.1} ms wall, {:.1} ms CPU, peak RSS {r:.1} MiB",
            t * 1e3,
            c * 1e3
        );
    }
}
