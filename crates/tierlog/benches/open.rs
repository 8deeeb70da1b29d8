//! Open time and resident memory of a store with 100 000 series and 2 h of sealed raw data.
//!
//! ```text
//! cargo bench --bench open
//! ```
//!
//! Builds (once per run, in a temporary directory under `TIERLOG_BENCH_DIR`, default the
//! system temporary directory) 100 000 series of the default `tierlog_testkit::workload` mix at a 15 s
//! interval for 2 h: 480 points per series, 48 M points, written through handles with
//! `Sync::Never` and then sealed (windows of the default span). Each measurement runs in a fresh child
//! process (this binary re-executed), so the resident set is the open store's alone: it reports
//! `Store::open` wall time and VmRSS / VmHWM from `/proc/self/status` before the open, after it,
//! and after two queries. Three children; the table gives medians. The page cache is warm
//! (the files were just written). With `TIERLOG_OPEN_DIR=path` the store is kept there and
//! reused by later runs (built when missing).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use tierlog::{Config, ManualClock, Sample, Selector, SeriesId, Store, Sync, WriteSummary};
use tierlog_testkit::workload::Workload;

const SEED: u64 = 0x0be7_100c;
/// 2023-11-14T22:00:00Z.
const START: i64 = 1_699_999_200_000;
const SERIES: usize = 100_000;
const INTERVAL_MS: i64 = 15_000;
const SCRAPES: usize = 480;
const BATCH: usize = 10_000;
const RUNS: usize = 3;
const CHILD_ENV: &str = "TIERLOG_OPEN_CHILD";

fn bench_dir() -> PathBuf {
    std::env::var_os("TIERLOG_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// After the data, with every window's grace passed.
const NOW: i64 = START + SCRAPES as i64 * INTERVAL_MS + 3_600_000;

fn config(clock: Arc<ManualClock>) -> Config {
    Config::default().with_sync(Sync::Never).with_clock(clock)
}

/// A field of `/proc/self/status`, in KiB.
fn status(name: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `(VmRSS, VmHWM)` in KiB.
fn rss() -> (u64, u64) {
    (status("VmRSS"), status("VmHWM"))
}

fn dir_bytes(dir: &Path, ext: &str) -> (u64, usize) {
    let mut total = (0, 0);
    for e in std::fs::read_dir(dir).expect("read dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == ext) {
            total.0 += std::fs::metadata(&p).expect("stat").len();
            total.1 += 1;
        }
    }
    total
}

fn build(dir: &Path) {
    let t = Instant::now();
    let clock = Arc::new(ManualClock::new(START));
    let store = Store::open(dir, config(clock.clone())).expect("open");
    let mut w = Workload::new(SEED, SERIES, INTERVAL_MS, START);
    let names = w.series().to_vec();
    let labels: Vec<Vec<(&str, &str)>> = names
        .iter()
        .map(|(_, l)| l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
        .collect();
    let mut scrape = Vec::with_capacity(SERIES);
    let mut total = WriteSummary::default();
    // Scrape 0 by name: creates the series, BATCH per index append.
    w.next_scrape(&mut scrape);
    clock.advance_to(START + 999);
    for part in scrape.chunks(BATCH) {
        let samples: Vec<Sample<'_>> = part
            .iter()
            .map(|&(i, ts, v)| Sample::new(&names[i as usize].0, &labels[i as usize], ts, v))
            .collect();
        total.add(&store.write(&samples).expect("write"));
    }
    let handles: Vec<SeriesId> = names
        .iter()
        .zip(&labels)
        .map(|((m, _), l)| store.series_handle(m, l).expect("handle"))
        .collect();
    let created = t.elapsed().as_secs_f64();
    let mut batch: Vec<(SeriesId, i64, f64)> = Vec::with_capacity(BATCH);
    for _ in 1..SCRAPES {
        scrape.clear();
        let nominal = w.next_scrape(&mut scrape);
        clock.advance_to(nominal + 999);
        for part in scrape.chunks(BATCH) {
            batch.clear();
            batch.extend(part.iter().map(|&(i, ts, v)| (handles[i as usize], ts, v)));
            total.add(&store.write_series(&batch).expect("write"));
        }
    }
    assert_eq!(total.rejected(), 0, "{total:?}");
    assert_eq!(total.accepted, (SERIES * SCRAPES) as u64);
    let written = t.elapsed().as_secs_f64();
    clock.advance_to(NOW);
    store.maintain().expect("maintain");
    let stats = store.stats();
    assert_eq!(stats.tiers[0].open.points, 0, "all sealed");
    let sealed = &stats.tiers[0].sealed;
    eprintln!(
        "built in {:.1} s (series created in {created:.1} s, written at {:.2} M samples/s, sealed in {:.1} s)",
        t.elapsed().as_secs_f64(),
        (SERIES * SCRAPES) as f64 / (written - created) / 1e6,
        t.elapsed().as_secs_f64() - written,
    );
    println!(
        "Store: {} series, {} points in {} segments, {:.1} MiB of segments ({:.3} B/pt), index {:.1} MiB.\n",
        stats.series,
        sealed.points,
        sealed.segments,
        sealed.bytes as f64 / (1 << 20) as f64,
        sealed.bytes_per_point,
        stats.index_bytes as f64 / (1 << 20) as f64,
    );
    store.close().expect("close");
}

/// One measurement, in the child: prints `key=value` lines.
fn child(dir: &Path) {
    let (rss0, _) = rss();
    let clock = Arc::new(ManualClock::new(NOW));
    let t = Instant::now();
    let store = Store::open(dir, config(clock)).expect("open");
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let (rss1, hwm1) = rss();
    let (anon1, file1) = (status("RssAnon"), status("RssFile"));
    // 1: the 100 series of one host over the whole 2 h.
    let sel: Selector = r#"{host="host-420"}"#.parse().expect("selector");
    let t = Instant::now();
    let r = store
        .query(&sel, START, START + SCRAPES as i64 * INTERVAL_MS)
        .expect("query");
    let q1_ms = t.elapsed().as_secs_f64() * 1e3;
    let q1_points: usize = r.series.iter().map(|s| s.points.len()).sum();
    assert_eq!(r.series.len(), 100);
    drop(r);
    let (rss2, hwm2) = rss();
    let (anon2, file2) = (status("RssAnon"), status("RssFile"));
    // 2: one metric on every host (a few thousand series) over the whole 2 h.
    let sel = Selector::metric("node_load1");
    let t = Instant::now();
    let r = store
        .query(&sel, START, START + SCRAPES as i64 * INTERVAL_MS)
        .expect("query");
    let q2_ms = t.elapsed().as_secs_f64() * 1e3;
    let q2_series = r.series.len();
    let q2_points: usize = r.series.iter().map(|s| s.points.len()).sum();
    drop(r);
    let (rss3, hwm3) = rss();
    // The same again: segment pages are mapped in now, so this is decode and assembly alone.
    let t = Instant::now();
    let r = store
        .query(&sel, START, START + SCRAPES as i64 * INTERVAL_MS)
        .expect("query");
    let q2_again_ms = t.elapsed().as_secs_f64() * 1e3;
    drop(r);
    let (anon3, file3) = (status("RssAnon"), status("RssFile"));
    for (k, v) in [
        ("open_ms", open_ms),
        ("rss_before_kib", rss0 as f64),
        ("rss_open_kib", rss1 as f64),
        ("hwm_open_kib", hwm1 as f64),
        ("anon_open_kib", anon1 as f64),
        ("file_open_kib", file1 as f64),
        ("q1_ms", q1_ms),
        ("q1_points", q1_points as f64),
        ("rss_q1_kib", rss2 as f64),
        ("hwm_q1_kib", hwm2 as f64),
        ("anon_q1_kib", anon2 as f64),
        ("file_q1_kib", file2 as f64),
        ("q2_ms", q2_ms),
        ("q2_series", q2_series as f64),
        ("q2_points", q2_points as f64),
        ("rss_q2_kib", rss3 as f64),
        ("hwm_q2_kib", hwm3 as f64),
        ("q2_again_ms", q2_again_ms),
        ("anon_q2_kib", anon3 as f64),
        ("file_q2_kib", file3 as f64),
    ] {
        println!("{k}={v}");
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let tmp = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    // TIERLOG_OPEN_DIR keeps the store between runs (for profiling): built when missing.
    let dir = std::env::var_os("TIERLOG_OPEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("store"));
    println!("## Open: 100 000 series × 480 points (15 s interval, 2 h), sealed\n");
    if dir.join("state").exists() {
        eprintln!("reusing the store in {}", dir.display());
    } else {
        build(&dir);
    }
    let (seg_bytes, segs) = dir_bytes(&dir.join("raw"), "seg");
    let mut entries = 0usize;
    for e in std::fs::read_dir(dir.join("raw")).expect("raw dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "seg") {
            entries += tierlog::segment::Segment::open(&p)
                .expect("segment")
                .footer()
                .entries
                .len();
        }
    }
    let (wal_bytes, wals) = dir_bytes(&dir.join("raw"), "wal");
    eprintln!("{segs} segments ({seg_bytes} B), {wals} logs ({wal_bytes} B)");
    let exe = std::env::current_exe().expect("current exe");
    let mut runs: Vec<Vec<(String, f64)>> = Vec::new();
    for _ in 0..RUNS {
        let out = Command::new(&exe)
            .env(CHILD_ENV, &dir)
            .output()
            .expect("run child");
        assert!(
            out.status.success(),
            "child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let kv: Vec<(String, f64)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.parse().expect("number")))
            .collect();
        eprintln!("child: {kv:?}");
        runs.push(kv);
    }
    let get = |key: &str| {
        let v: Vec<f64> = runs
            .iter()
            .map(|r| r.iter().find(|(k, _)| k == key).expect("key").1)
            .collect();
        (median(v.clone()), v)
    };
    let mib = |kib: f64| kib / 1024.0;
    let (open_ms, all) = get("open_ms");
    let all: Vec<String> = all.iter().map(|v| format!("{v:.0}")).collect();
    println!("| measure | median of {RUNS} |");
    println!("|---|---:|");
    println!(
        "| `Store::open` wall time | **{open_ms:.0} ms** (runs: {} ms) |",
        all.join(", ")
    );
    println!(
        "| VmRSS before open (process baseline) | {:.1} MiB |",
        mib(get("rss_before_kib").0)
    );
    println!(
        "| VmRSS after open | **{:.1} MiB** |",
        mib(get("rss_open_kib").0)
    );
    println!(
        "| VmHWM after open | {:.1} MiB |",
        mib(get("hwm_open_kib").0)
    );
    println!(
        "| of which RssAnon / RssFile after open | {:.1} / {:.1} MiB |",
        mib(get("anon_open_kib").0),
        mib(get("file_open_kib").0)
    );
    println!(
        "| query 1: `{{host=\"host-420\"}}`, 100 series × 2 h ({:.0} points) | {:.2} ms |",
        get("q1_points").0,
        get("q1_ms").0
    );
    println!(
        "| VmRSS / VmHWM after query 1 | {:.1} / {:.1} MiB |",
        mib(get("rss_q1_kib").0),
        mib(get("hwm_q1_kib").0)
    );
    println!(
        "| of which RssAnon / RssFile after query 1 | {:.1} / {:.1} MiB |",
        mib(get("anon_q1_kib").0),
        mib(get("file_q1_kib").0)
    );
    println!(
        "| query 2: `node_load1`, {:.0} series × 2 h ({:.0} points) | {:.1} ms |",
        get("q2_series").0,
        get("q2_points").0,
        get("q2_ms").0
    );
    println!(
        "| VmRSS / VmHWM after query 2 | {:.1} / {:.1} MiB |",
        mib(get("rss_q2_kib").0),
        mib(get("hwm_q2_kib").0)
    );
    println!(
        "| of which RssAnon / RssFile after query 2 | {:.1} / {:.1} MiB |",
        mib(get("anon_q2_kib").0),
        mib(get("file_q2_kib").0)
    );
    println!(
        "| query 2 again (segment pages already mapped in) | {:.1} ms |",
        get("q2_again_ms").0
    );
    let entry = std::mem::size_of::<tierlog::segment::format::ChunkEntry>();
    println!(
        "\nIn-memory footers alone: {entries} chunk entries in {segs} segments × {entry} B = {:.1} MiB.",
        (entries * entry) as f64 / (1 << 20) as f64
    );
}
