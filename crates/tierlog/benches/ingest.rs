//! Write throughput: samples/s and fsyncs/s under each sync policy.
//!
//! ```text
//! cargo bench --bench ingest            # TIERLOG_INGEST_SECS=3 by default
//! ```
//!
//! Workload: per writer, 1000 series of the default `tierlog_testkit::workload` mix scraped every 1 s.
//! A batch of 1000 samples is one scrape round (one data-second), a batch of 10 000 is ten. A
//! shared `ManualClock` follows the data, so windows roll and seal (inline, in the writer) as in
//! production, just faster. Scrapes are generated before the timing (600 rounds, replayed with
//! advancing timestamps), so the figures are the store's cost alone. Each configuration runs
//! for a fixed wall time in a fresh store, three times; the tables give the median run.
//! The store lives in a temporary directory under `TIERLOG_BENCH_DIR` (default: the system
//! temporary directory; check that it is on a real disk, not tmpfs).
//!
//! `TIERLOG_INGEST_ROUNDS=N` instead writes exactly N rounds (one writer, handles,
//! `Sync::Interval(1 s)`, batches of 1000) and exits: a fixed amount of work, for profiling
//! with `valgrind --tool=callgrind`, whose instruction counts repeat from run to run.

use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use tierlog::{Config, ManualClock, Sample, SeriesId, Store, Sync, WriteSummary};
use tierlog_testkit::workload::Workload;

const SEED: u64 = 0x1_9e57;
/// 2023-11-14T22:00:00Z.
const START: i64 = 1_699_999_200_000;
const SERIES: usize = 1_000;
/// Distinct pre-generated rounds, replayed with advancing timestamps.
const ROUNDS: usize = 600;
const RUNS: usize = 3;

fn bench_dir() -> PathBuf {
    std::env::var_os("TIERLOG_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

fn run_secs() -> f64 {
    std::env::var("TIERLOG_INGEST_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0)
}

/// CPU time (user + system) of the calling thread, seconds.
fn thread_cpu() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// One writer's series and pre-generated scrapes.
struct Data {
    names: Vec<(String, Vec<(String, String)>)>,
    /// `ROUNDS` rounds of `(ts offset from the round's nominal time, value)` per series.
    rounds: Vec<Vec<(i64, f64)>>,
}

impl Data {
    fn new(writer: usize) -> Data {
        let mut w = Workload::new(SEED + writer as u64, SERIES, 1_000, START);
        // Writers get disjoint label sets.
        let names = w
            .series()
            .iter()
            .map(|(m, l)| {
                let mut l = l.clone();
                l.push(("writer".into(), format!("w{writer}")));
                (m.clone(), l)
            })
            .collect();
        let mut scrape = Vec::new();
        let rounds = (0..ROUNDS)
            .map(|_| {
                scrape.clear();
                let nominal = w.next_scrape(&mut scrape);
                scrape.iter().map(|&(_, ts, v)| (ts - nominal, v)).collect()
            })
            .collect();
        Data { names, rounds }
    }

    fn label_refs(&self) -> Vec<Vec<(&str, &str)>> {
        self.names
            .iter()
            .map(|(_, l)| l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .collect()
    }

    /// Creates the series (one batch, one index fsync) and returns their handles.
    fn register(&self, store: &Store, clock: &ManualClock) -> Vec<SeriesId> {
        let labels = self.label_refs();
        let samples: Vec<Sample<'_>> = self
            .names
            .iter()
            .zip(&labels)
            .map(|((m, _), l)| Sample::new(m, l, START - 1_000, 0.0))
            .collect();
        clock.advance_to(START - 1_000);
        store.write(&samples).expect("create series");
        self.names
            .iter()
            .zip(&labels)
            .map(|((m, _), l)| store.series_handle(m, l).expect("handle"))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Path {
    Handles,
    Names,
}

#[derive(Debug, Clone, Copy, Default)]
struct Run {
    samples: u64,
    secs: f64,
    fsyncs: u64,
    /// CPU seconds of the writer threads.
    cpu: f64,
    rejected: u64,
    sealed_windows: u64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.samples as f64 / self.secs
    }
    fn fsync_rate(&self) -> f64 {
        self.fsyncs as f64 / self.secs
    }
    fn cpu_rate(&self) -> f64 {
        self.samples as f64 / self.cpu
    }
}

/// When a writer stops: after a wall time, or after a number of rounds (fixed work).
#[derive(Debug, Clone, Copy)]
enum Until {
    Elapsed(Duration),
    Rounds(usize),
}

/// One writer's loop: writes batches of `rounds_per_batch` rounds until `until`.
fn write_loop(
    store: &Store,
    clock: &ManualClock,
    data: &Data,
    handles: &[SeriesId],
    path: Path,
    rounds_per_batch: usize,
    until: Until,
) -> (WriteSummary, f64) {
    let labels = data.label_refs();
    let mut batch_h: Vec<(SeriesId, i64, f64)> = Vec::with_capacity(SERIES * rounds_per_batch);
    let mut batch_n: Vec<Sample<'_>> = Vec::with_capacity(SERIES * rounds_per_batch);
    let mut total = WriteSummary::default();
    let mut round = 0usize;
    let cpu0 = thread_cpu();
    let t0 = Instant::now();
    while match until {
        Until::Elapsed(d) => t0.elapsed() < d,
        Until::Rounds(n) => round < n,
    } {
        batch_h.clear();
        batch_n.clear();
        let mut last = 0;
        for _ in 0..rounds_per_batch {
            let nominal = START + round as i64 * 1_000;
            let r = &data.rounds[round % ROUNDS];
            match path {
                Path::Handles => batch_h.extend(
                    r.iter()
                        .zip(handles)
                        .map(|(&(off, v), &h)| (h, nominal + off, v)),
                ),
                Path::Names => batch_n.extend(
                    r.iter()
                        .zip(&data.names)
                        .zip(&labels)
                        .map(|((&(off, v), (m, _)), l)| Sample::new(m, l, nominal + off, v)),
                ),
            }
            last = nominal + 999;
            round += 1;
        }
        clock.advance_to(last);
        let s = match path {
            Path::Handles => store.write_series(&batch_h),
            Path::Names => store.write(&batch_n),
        };
        total.add(&s.expect("write"));
    }
    (total, thread_cpu() - cpu0)
}

fn run(sync: Sync, path: Path, writers: usize, batch: usize, data: &[Data]) -> Run {
    run_for(sync, path, writers, batch, data, usize::MAX)
}

fn run_for(
    sync: Sync,
    path: Path,
    writers: usize,
    batch: usize,
    data: &[Data],
    max_rounds: usize,
) -> Run {
    let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let clock = Arc::new(ManualClock::new(START - 1_000));
    let config = Config {
        sync,
        // Concurrent writers drift apart in data time; a long grace keeps the slower ones'
        // samples acceptable (rejections are counted and reported anyway).
        grace: Duration::from_secs(if writers > 1 { 3_600 } else { 300 }),
        ..Config::default()
    }
    .with_clock(clock.clone());
    let store = Arc::new(Store::open(dir.path(), config).expect("open"));
    let handles: Vec<Vec<SeriesId>> = data[..writers]
        .iter()
        .map(|d| d.register(&store, &clock))
        .collect();
    let rounds_per_batch = batch / SERIES;
    let until = if max_rounds == usize::MAX {
        Until::Elapsed(Duration::from_secs_f64(run_secs()))
    } else {
        Until::Rounds(max_rounds)
    };
    let fsyncs0 = store.fsync_count();
    let barrier = Barrier::new(writers);
    let t0 = Instant::now();
    let results: Vec<(WriteSummary, f64)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..writers)
            .map(|w| {
                let (store, clock, data, handles, barrier) =
                    (&store, &clock, &data[w], &handles[w], &barrier);
                s.spawn(move || {
                    barrier.wait();
                    write_loop(store, clock, data, handles, path, rounds_per_batch, until)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("writer"))
            .collect()
    });
    let secs = t0.elapsed().as_secs_f64();
    let fsyncs = store.fsync_count() - fsyncs0;
    let mut total = WriteSummary::default();
    for (s, _) in &results {
        total.add(s);
    }
    let sealed_windows = store.stats().tiers[0].sealed.segments;
    drop(store);
    Run {
        samples: total.accepted,
        secs,
        fsyncs,
        cpu: results.iter().map(|r| r.1).sum(),
        rejected: total.rejected(),
        sealed_windows,
    }
}

fn median(mut runs: Vec<Run>) -> (Run, Vec<Run>) {
    let all = runs.clone();
    runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    (runs[runs.len() / 2], all)
}

fn measure(sync: Sync, path: Path, writers: usize, batch: usize, data: &[Data]) -> (Run, Vec<Run>) {
    let runs: Vec<Run> = (0..RUNS)
        .map(|_| run(sync, path, writers, batch, data))
        .collect();
    let (m, all) = median(runs);
    let rates: Vec<String> = all.iter().map(|r| format!("{:.0}", r.rate())).collect();
    eprintln!(
        "{sync:?} {path:?} writers={writers} batch={batch}: median {:.0} samples/s, {:.0} fsyncs/s (runs: {})",
        m.rate(),
        m.fsync_rate(),
        rates.join(", ")
    );
    (m, all)
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M", r / 1e6)
    } else {
        format!("{:.0} k", r / 1e3)
    }
}

fn spread(all: &[Run]) -> String {
    let lo = all.iter().map(Run::rate).fold(f64::INFINITY, f64::min);
    let hi = all.iter().map(Run::rate).fold(0.0, f64::max);
    format!("{}–{}", fmt_rate(lo), fmt_rate(hi))
}

/// Median latency of `fdatasync` after a 4 KiB append in the bench directory, ms: what one
/// group commit costs on this disk at this moment.
fn fsync_probe() -> f64 {
    use std::io::Write;
    let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let mut f = std::fs::File::create(dir.path().join("probe")).expect("create");
    let block = [0x5au8; 4096];
    let mut lat: Vec<f64> = (0..200)
        .map(|_| {
            f.write_all(&block).expect("write");
            let t = Instant::now();
            f.sync_data().expect("fdatasync");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    lat[lat.len() / 2]
}

fn main() {
    let interval = Sync::Interval(Duration::from_secs(1));
    if let Some(rounds) = std::env::var("TIERLOG_INGEST_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        let data = [Data::new(0)];
        let r = run_for(interval, Path::Handles, 1, 1_000, &data, rounds);
        println!(
            "{} samples in {:.3} s ({:.2} M/s), {} windows sealed",
            r.samples,
            r.secs,
            r.rate() / 1e6,
            r.sealed_windows
        );
        return;
    }
    let probe = fsync_probe();
    let t = Instant::now();
    let data: Vec<Data> = (0..4).map(Data::new).collect();
    eprintln!(
        "generated {} rounds × {} series × 4 writers in {:.1} s; store under {}",
        ROUNDS,
        SERIES,
        t.elapsed().as_secs_f64(),
        bench_dir().display()
    );
    println!(
        "## Ingest (one writer, 1000 series, 1 s data interval, {} s per run, median of {RUNS})\n",
        run_secs()
    );
    println!(
        "| path | sync | batch | samples/s | runs (min–max) | fsyncs/s | samples per writer CPU-s | windows sealed | rejected | target |"
    );
    println!("|---|---|---:|---:|---|---:|---:|---:|---:|---|");
    let single = [
        (Path::Handles, interval, "Interval(1 s)", Some(5e6)),
        (Path::Names, interval, "Interval(1 s)", None),
        (Path::Handles, Sync::Never, "Never", None),
        (Path::Names, Sync::Never, "Never", None),
    ];
    for (path, sync, sync_name, target) in single {
        let (m, all) = measure(sync, path, 1, 1_000, &data);
        let verdict = match target {
            Some(t) if m.rate() >= t => format!("≥ {} met", fmt_rate(t)),
            Some(t) => format!(
                "≥ {}: MISSED by {:.0} %",
                fmt_rate(t),
                100.0 * (1.0 - m.rate() / t)
            ),
            None => String::new(),
        };
        println!(
            "| {} | {sync_name} | 1 000 | **{}** | {} | {:.0} | {} | {} | {} | {verdict} |",
            match path {
                Path::Handles => "write_series (handles)",
                Path::Names => "write (names + labels)",
            },
            fmt_rate(m.rate()),
            spread(&all),
            m.fsync_rate(),
            fmt_rate(m.cpu_rate()),
            m.sealed_windows,
            m.rejected,
        );
    }
    println!(
        "\n## Ingest with Sync::EveryWrite (write_series, 1000 series per writer, median of {RUNS})\n"
    );
    println!(
        "fdatasync of a 4 KiB append in {} just before: median {probe:.2} ms.\n",
        bench_dir().display()
    );
    println!(
        "| writers | batch | samples/s | runs (min–max) | fsyncs/s | samples per fsync | rejected |"
    );
    println!("|---:|---:|---:|---|---:|---:|---:|");
    for writers in [1, 4] {
        for batch in [1_000, 10_000] {
            let (m, all) = measure(Sync::EveryWrite, Path::Handles, writers, batch, &data);
            println!(
                "| {writers} | {batch} | **{}** | {} | {:.0} | {:.0} | {} |",
                fmt_rate(m.rate()),
                spread(&all),
                m.fsync_rate(),
                m.samples as f64 / m.fsyncs.max(1) as f64,
                m.rejected,
            );
        }
    }
}
