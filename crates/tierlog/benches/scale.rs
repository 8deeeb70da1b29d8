//! Scale: many series at a 15-s interval for an hour: ingest, seal and roll up, then reopen.
//!
//! ```text
//! cargo bench --bench scale                                   # 10 000 series (a smoke run)
//! TIERLOG_SCALE_SERIES=1000000 nice cargo bench --bench scale  # the 1 M-series target
//! ```
//!
//! `TIERLOG_SCALE_SERIES` (default 10 000) series, `TIERLOG_SCALE_MINUTES` (default 60) of
//! data at one sample per series every 15 s, through `write_series` in batches of 10 000
//! with `Sync::Interval(1 s)` and a `ManualClock` that follows the data. The series are created
//! first, by name, in batches of 10 000 (one index fsync each). Names and values are computed
//! from the series number on the fly, so the bench itself holds only the handles (4 bytes a
//! series) and its memory is the store's.
//!
//! The maintenance thread is off: the writer seals each window inline once the clock passes
//! its end plus the grace, as a store does at the real pace of time, and the rollups are all
//! materialised by one `maintain()` after the hour. (With the thread on and the data clock
//! running some 30 times faster than real time, a rollup pass of the thread holds off the
//! writer's seal for minutes of data time, so two whole windows would be resident, which a
//! store at the real pace never sees.)
//!
//! Memory is reported two ways: the resident set (`VmRSS`, and its peak `VmHWM`, from
//! `/proc/self/status`) and the live heap (bytes allocated and not freed, counted by this
//! binary's global allocator), which does not include memory the allocator keeps after a free.
//! The reopen runs in a child process (this binary again), so that its resident set is that of
//! a fresh process: open five times, report the median time and the memory after the last.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tierlog::{Config, Limits, ManualClock, Sample, SeriesId, Store, Sync};

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as i64 - l.size() as i64, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// 2023-11-14T22:00:00Z, on an hour boundary.
const START: i64 = 1_699_999_200_000;
const INTERVAL: i64 = 15_000;
const BATCH: usize = 10_000;
const METRICS: [&str; 8] = [
    "node_cpu_seconds_total",
    "node_memory_bytes",
    "node_network_receive_bytes_total",
    "node_disk_io_time_seconds_total",
    "node_filesystem_avail_bytes",
    "process_open_fds",
    "http_requests_total",
    "node_hwmon_temp_celsius",
];

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn bench_dir() -> PathBuf {
    std::env::var_os("TIERLOG_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// A `/proc/self/status` field in bytes.
fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn live() -> u64 {
    LIVE.load(Ordering::Relaxed).max(0) as u64
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
}

/// Series `i`: 100 hosts per metric group, a few labels each (about 4 labels, 60 bytes).
fn series_name(i: usize, labels: &mut Vec<(String, String)>) -> &'static str {
    labels.clear();
    labels.push(("host".into(), format!("host-{:05}", i / 100)));
    labels.push(("job".into(), ["node", "app", "db"][i % 3].into()));
    labels.push((
        "instance".into(),
        format!("10.0.{}.{}:9100", (i / 250) % 256, i % 250),
    ));
    labels.push(("slot".into(), format!("{}", i % 100)));
    METRICS[i % METRICS.len()]
}

/// Value of series `i` at scrape `k`: counters, gauges and constants.
fn value(i: usize, k: usize) -> f64 {
    match i % 4 {
        0 => (k * (i % 97 + 1)) as f64,
        1 => ((i * 7 + k * 13) % 1000) as f64 / 10.0,
        2 => 42.0,
        _ => (1_000_000 + (k * 4096) % 65_536) as f64,
    }
}

fn config(clock: Arc<ManualClock>) -> Config {
    Config {
        sync: Sync::Interval(Duration::from_secs(1)),
        limits: Limits {
            // The default head cap (256 MiB) is sized for fewer series; this bench measures
            // what the head holds, so it sets none.
            max_head_bytes: 0,
            ..Limits::default()
        },
        ..Config::default()
    }
    .with_clock(clock)
    .with_maintenance_interval(None)
}

fn create_series(store: &Store, clock: &ManualClock, n: usize) -> Vec<SeriesId> {
    clock.advance_to(START);
    let mut handles = Vec::with_capacity(n);
    let mut names: Vec<(&'static str, Vec<(String, String)>)> = Vec::with_capacity(BATCH);
    for lo in (0..n).step_by(BATCH) {
        let hi = (lo + BATCH).min(n);
        names.clear();
        for i in lo..hi {
            let mut l = Vec::new();
            let m = series_name(i, &mut l);
            names.push((m, l));
        }
        let refs: Vec<Vec<(&str, &str)>> = names
            .iter()
            .map(|(_, l)| l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .collect();
        let samples: Vec<Sample<'_>> = names
            .iter()
            .zip(&refs)
            .enumerate()
            .map(|(j, ((m, _), l))| Sample::new(m, l, START, value(lo + j, 0)))
            .collect();
        store.write(&samples).expect("create series");
        for ((m, _), l) in names.iter().zip(&refs) {
            handles.push(store.series_handle(m, l).expect("handle"));
        }
    }
    handles
}

fn main() {
    if let Some(dir) = std::env::var_os("TIERLOG_SCALE_REOPEN") {
        reopen(Path::new(&dir));
        return;
    }
    let n = env_num("TIERLOG_SCALE_SERIES", 10_000) as usize;
    let minutes = env_num("TIERLOG_SCALE_MINUTES", 60) as i64;
    let scrapes = (minutes * 60_000 / INTERVAL) as usize;
    let tmp = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    // `TIERLOG_SCALE_DIR` (an empty or new directory) keeps the store for later runs, e.g.
    // `TIERLOG_SCALE_REOPEN=DIR valgrind --tool=callgrind target/.../scale-*` to profile the open.
    let dir = std::env::var_os("TIERLOG_SCALE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_owned());
    println!(
        "## Scale: {n} series x 15 s x {minutes} min ({} samples), store in {}\n",
        n * scrapes,
        bench_dir().display()
    );
    let base_live = live();
    let base_rss = status_kib("VmRSS:");
    let base_anon = status_kib("RssAnon:");
    let clock = Arc::new(ManualClock::new(START));
    let store = Store::open(&dir, config(clock.clone())).expect("open");

    let t = Instant::now();
    let handles = create_series(&store, &clock, n);
    let create_secs = t.elapsed().as_secs_f64();
    let handles_bytes = (handles.capacity() * std::mem::size_of::<SeriesId>()) as u64;
    let index_live = live() - base_live - handles_bytes - store.stats().head_bytes.min(live());
    println!(
        "created {n} series in {create_secs:.1} s; live heap {} (head estimate {})",
        mib(live() - base_live - handles_bytes),
        mib(store.stats().head_bytes)
    );

    let t = Instant::now();
    let mut batch: Vec<(SeriesId, i64, f64)> = Vec::with_capacity(BATCH);
    let mut written = 0u64;
    let mut head_peak = 0u64;
    let mut live_peak = 0u64;
    for k in 1..scrapes {
        let nominal = START + k as i64 * INTERVAL;
        clock.advance_to(nominal + INTERVAL - 1);
        for lo in (0..n).step_by(BATCH) {
            let hi = (lo + BATCH).min(n);
            batch.clear();
            // Each series at its own offset within the interval, as scrapes spread out.
            batch.extend(
                (lo..hi).map(|i| (handles[i], nominal + (i as i64 * 7) % INTERVAL, value(i, k))),
            );
            let s = store.write_series(&batch).expect("write");
            assert_eq!(s.rejected(), 0, "samples rejected: {s:?}");
            written += s.accepted;
        }
        if k % 20 == 0 || k + 1 == scrapes {
            head_peak = head_peak.max(store.stats().head_bytes);
            live_peak = live_peak.max(live() - base_live);
        }
    }
    let ingest_secs = t.elapsed().as_secs_f64();
    let stats = store.stats();
    let end_live = live() - base_live;
    let end_rss = status_kib("VmRSS:") - base_rss;
    let end_anon = status_kib("RssAnon:") - base_anon;
    println!(
        "ingested {written} samples in {ingest_secs:.1} s: {:.2} M samples/s",
        written as f64 / ingest_secs / 1e6
    );
    println!(
        "at the end of ingest: VmRSS {} ({:.0} B/series; anonymous {}, {:.0} B/series), live heap {} ({:.0} B/series), head estimate {} ({:.0} B/series)",
        mib(end_rss),
        end_rss as f64 / n as f64,
        mib(end_anon),
        end_anon as f64 / n as f64,
        mib(end_live),
        end_live as f64 / n as f64,
        mib(stats.head_bytes),
        stats.head_bytes as f64 / n as f64,
    );
    println!(
        "during ingest: peak live heap {} ({:.0} B/series), peak head estimate {} ({:.0} B/series)",
        mib(live_peak),
        live_peak as f64 / n as f64,
        mib(head_peak),
        head_peak as f64 / n as f64
    );
    println!(
        "index (live heap after creating the series, less the head): {} ({:.0} B/series)",
        mib(index_live),
        index_live as f64 / n as f64
    );

    // Seal everything and materialise the rollups.
    let t = Instant::now();
    let end = START + scrapes as i64 * INTERVAL;
    clock.advance_to(end + 3_600_000);
    store.maintain().expect("maintain");
    let seal_secs = t.elapsed().as_secs_f64();
    let stats = store.stats();
    println!(
        "sealed and rolled up in {seal_secs:.1} s: {} raw segments, {} sealed points, {} on disk, head now {}",
        stats.tiers[0].sealed.segments,
        stats.tiers[0].sealed.points,
        mib(stats.total_bytes),
        mib(stats.head_bytes),
    );
    for t in &stats.tiers[1..] {
        println!(
            "  tier {}: {} buckets in {} segments, materialised through {:?} (data ends at {end})",
            t.tier, t.sealed.points, t.sealed.segments, t.materialised_through_ms
        );
    }
    drop(handles);
    drop(store);
    println!(
        "peak VmHWM of the ingesting process: {} ({:.0} B/series)\n",
        mib(status_kib("VmHWM:")),
        status_kib("VmHWM:") as f64 / n as f64
    );

    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env("TIERLOG_SCALE_REOPEN", &dir)
        .env("TIERLOG_SCALE_SERIES", n.to_string())
        .output()
        .expect("reopen child");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "reopen failed");
}

/// Child: opens the store five times; median open time, memory after the last open.
fn reopen(dir: &Path) {
    let n = env_num("TIERLOG_SCALE_SERIES", 10_000) as f64;
    let base_rss = status_kib("VmRSS:");
    let base_anon = status_kib("RssAnon:");
    let base_live = live();
    let clock = Arc::new(ManualClock::new(START + 86_400_000));
    let mut times = Vec::new();
    let mut store = None;
    let runs = env_num("TIERLOG_SCALE_OPENS", 5);
    for _ in 0..runs {
        drop(store.take());
        let t = Instant::now();
        let s = Store::open(dir, config(clock.clone())).expect("reopen");
        times.push(t.elapsed().as_secs_f64());
        store = Some(s);
    }
    let store = store.expect("opened");
    let rss = status_kib("VmRSS:") - base_rss;
    let anon = status_kib("RssAnon:") - base_anon;
    let heap = live() - base_live;
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let series = store.stats().series;
    println!(
        "reopen ({series} series): median {:.3} s (runs {}); after open VmRSS +{} ({:.0} B/series; anonymous +{}, {:.0} B/series), live heap {} ({:.0} B/series)",
        sorted[sorted.len() / 2],
        times
            .iter()
            .map(|t| format!("{t:.3}"))
            .collect::<Vec<_>>()
            .join(", "),
        mib(rss),
        rss as f64 / n,
        mib(anon),
        anon as f64 / n,
        mib(heap),
        heap as f64 / n,
    );
}
