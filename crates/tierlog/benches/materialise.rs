//! Rollup materialisation in the store: how fast `Store::maintain` builds the tiers, what the
//! tier files cost on disk, and how fast a week-long step query is.
//!
//! ```text
//! cargo bench --bench materialise
//! ```
//!
//! Every store is written through handles (`write_series`) with `Sync::Never`, no maintenance
//! thread and a `ManualClock` that follows the data, so windows seal inline as they fall due
//! (rollups are only ever built by the explicit `maintain()` calls). Stores go in a temporary
//! directory under `TIERLOG_BENCH_DIR` (default: the system temporary directory).
//!
//! 1. **Throughput.** 1000 series of the default `tierlog_testkit::workload` mix at 1 Hz for 2 h
//!    (7.2 M points) are written into a store without tiers and sealed. Each run copies that
//!    store (untimed), opens the copy with the default tiers (10 s and 60 s; a new tier starts
//!    from the oldest raw data) and times the one `maintain()` call that materialises every
//!    piece: raw points read / wall time, and / the calling thread's CPU time (maintain runs
//!    on the calling thread). Median of 9 runs. A second table splits the same work into its
//!    steps, replayed here with the public building blocks the executor uses.
//! 2. **Bytes.** Per tier and metric kind, from the segment files' footers (chunk bytes plus
//!    their 4-byte CRC) and, for the "all" rows, whole files (headers, footers, trailers):
//!    bytes per bucket, and the tier's bytes against the raw tier's bytes for the same span
//!    and series. On the 1 Hz store of part 1 and on 1000 series × 24 h at 15 s scrapes. Two
//!    column tables then encode each column of the 10 s (1 Hz) and 60 s (15 s) buckets alone,
//!    to show where the bytes go.
//! 3. **Step query.** One series at 1 Hz for 7 days plus 300 others at 15 s scrapes,
//!    materialised with the clock at the end of the data (so the last window and its grace
//!    are still raw). Times `query_step(series, now - 7 d, now, 60 s)` and checks that every
//!    bucket comes from the `60s` tier except the unmaterialised tail, which comes from raw.
//!
//! `TIERLOG_MATERIALISE_PARTS=1,3` runs only some parts; `TIERLOG_MATERIALISE_QUICK=1` (and
//! any run without `--bench`, such as `cargo test --benches`) uses small sizes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tierlog::format::header::{FileKind, Header};
use tierlog::rollup::format as rchunk;
use tierlog::rollup::layout2;
use tierlog::rollup::{Bucket, aggregate};
use tierlog::segment::Segment;
use tierlog::segment::codec::{self, MAX_COLUMN_POINTS};
use tierlog::segment::format::{ROLLUP_TIER, SegmentBuilder};
use tierlog::{Config, ManualClock, MetricKind, MetricMeta, Selector, SeriesId, Store, Sync, Tier};
use tierlog_testkit::workload::{Kind, Mix, Workload};

const SEED: u64 = 0x0070_11e5;
/// 2023-11-14T22:00:00Z: a multiple of 2 h, so pieces and windows line up with the data.
const START: i64 = 1_699_999_200_000;
/// The default window span and grace.
const SPAN: i64 = 1_200_000;
const GRACE: i64 = 300_000;
const HOUR: i64 = 3_600_000;
/// Data time written per `write_series` call.
const BATCH_MS: i64 = 15_000;

/// Sizes of one run of the bench.
struct Sizes {
    series: usize,
    hours_1hz: i64,
    runs: usize,
    hours_15s: i64,
    days: i64,
    others: usize,
    query_runs: usize,
}

const FULL: Sizes = Sizes {
    series: 1_000,
    hours_1hz: 2,
    runs: 9,
    hours_15s: 24,
    days: 7,
    others: 300,
    query_runs: 200,
};

const QUICK: Sizes = Sizes {
    series: 100,
    hours_1hz: 1,
    runs: 2,
    hours_15s: 2,
    days: 1,
    others: 20,
    query_runs: 5,
};

fn bench_dir() -> PathBuf {
    std::env::var_os("TIERLOG_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

fn config(clock: Arc<ManualClock>, tiers: Vec<Tier>) -> Config {
    let mut c = Config::default().with_sync(Sync::Never).with_clock(clock);
    c.maintenance_interval = None;
    c.tiers = Some(tiers);
    c
}

fn default_tiers() -> Vec<Tier> {
    Config::default().tiers().to_vec()
}

fn is_counter(k: Kind) -> bool {
    matches!(k, Kind::Counter | Kind::BurstyCounter)
}

/// CPU time of the calling thread, s.
fn thread_cpu() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A workload written into a store, its series told apart from other sources' by one label.
struct Source {
    w: Workload,
    handles: Vec<SeriesId>,
}

impl Source {
    /// Creates the series (counter metrics marked as counters) and resolves their handles.
    fn new(store: &Store, w: Workload, tag: (&str, &str)) -> Source {
        let mut marked = HashSet::new();
        let mut handles = Vec::with_capacity(w.len());
        for ((metric, labels), kind) in w.series().iter().zip(w.kinds()) {
            if is_counter(*kind) && marked.insert(metric.clone()) {
                let meta = MetricMeta {
                    kind: MetricKind::Counter,
                    ..MetricMeta::default()
                };
                store.set_metric_meta(metric, meta).expect("meta");
            }
            let mut l: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            l.push(tag);
            handles.push(store.series_handle(metric, &l).expect("handle"));
        }
        Source { w, handles }
    }

    /// Kind of each series, by store id.
    fn kinds_by_id(&self, out: &mut HashMap<u32, Kind>) {
        out.extend(
            self.handles
                .iter()
                .map(|h| h.0)
                .zip(self.w.kinds().iter().copied()),
        );
    }
}

/// Writes every source's scrapes with a nominal time before `end`, `BATCH_MS` of data time
/// per call, the clock following the data; returns the points written.
fn fill(store: &Store, clock: &ManualClock, sources: &mut [Source], end: i64) -> u64 {
    let mut scrape = Vec::new();
    let mut batch = Vec::new();
    let mut total = 0u64;
    while let Some(next) = sources.iter().map(|s| s.w.next_scrape_ms()).min()
        && next < end
    {
        let batch_end = (next + BATCH_MS).min(end);
        batch.clear();
        for s in sources.iter_mut() {
            while s.w.next_scrape_ms() < batch_end {
                scrape.clear();
                s.w.next_scrape(&mut scrape);
                batch.extend(
                    scrape
                        .iter()
                        .map(|&(i, ts, v)| (s.handles[i as usize], ts, v)),
                );
            }
        }
        clock.advance_to(batch_end - 1);
        let r = store.write_series(&batch).expect("write");
        assert_eq!(r.rejected(), 0, "{r:?}");
        total += r.accepted;
    }
    total
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

/// Part 1's source store: `series` series at 1 Hz for `hours`, sealed, no tiers.
fn build_raw(dir: &Path, sz: &Sizes) -> (u64, HashMap<u32, Kind>, i64) {
    let t = Instant::now();
    let end = START + sz.hours_1hz * HOUR;
    let now = end + GRACE + 1_000;
    let clock = Arc::new(ManualClock::new(START));
    let store = Store::open(dir, config(clock.clone(), Vec::new())).expect("open");
    let w = Workload::new(SEED, sz.series, 1_000, START);
    let mut src = [Source::new(&store, w, ("job", "node"))];
    let points = fill(&store, &clock, &mut src, end);
    clock.advance_to(now);
    store.maintain().expect("seal");
    let stats = store.stats();
    assert_eq!(stats.tiers[0].open.points, 0, "all sealed");
    assert_eq!(stats.tiers[0].sealed.points, points);
    let mut kinds = HashMap::new();
    src[0].kinds_by_id(&mut kinds);
    store.close().expect("close");
    eprintln!(
        "part 1: built {points} points in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    (points, kinds, now)
}

struct Run {
    wall: f64,
    cpu: f64,
    raw_points: u64,
    pieces: u64,
    buckets: u64,
    bytes: u64,
}

/// Opens a copy of `src` with the default tiers and times the `maintain()` that builds them.
fn materialise_run(src: &Path, copy: &Path, now: i64) -> Run {
    copy_dir(src, copy);
    let clock = Arc::new(ManualClock::new(now));
    let store = Store::open(copy, config(clock, default_tiers())).expect("open with tiers");
    let (c0, t) = (thread_cpu(), Instant::now());
    let r = store.maintain().expect("maintain");
    let (wall, cpu) = (t.elapsed().as_secs_f64(), thread_cpu() - c0);
    assert!(r.sealed_windows.is_empty(), "everything was sealed before");
    let ro = &r.rollups;
    assert!(ro.lost.is_empty() && ro.warnings.is_empty(), "{ro:?}");
    store.close().expect("close");
    Run {
        wall,
        cpu,
        raw_points: ro.raw_points,
        pieces: ro.pieces,
        buckets: ro.buckets,
        bytes: ro.bytes,
    }
}

fn part1(base: &Path, sz: &Sizes) -> (PathBuf, HashMap<u32, Kind>) {
    let src = base.join("raw-1hz");
    let (points, kinds, now) = build_raw(&src, sz);
    let mut runs = Vec::new();
    let mut last = PathBuf::new();
    for i in 0..sz.runs {
        if i > 0 {
            std::fs::remove_dir_all(&last).expect("remove copy");
        }
        last = base.join(format!("run-{i}"));
        let r = materialise_run(&src, &last, now);
        // Every raw point is read at least once (a tier written as whole segment spans and
        // one written as pieces read the same points separately).
        assert!(r.raw_points >= points, "every raw point read");
        runs.push(r);
    }
    println!(
        "## 1. materialisation: {} series × {} h at 1 Hz ({points} raw points), default tiers 10s + 60s\n",
        sz.series, sz.hours_1hz
    );
    println!(
        "| run | pieces | buckets | bytes written | wall ms | thread CPU ms | raw points/s (wall) | raw points/s (CPU) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (i, r) in runs.iter().enumerate() {
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.1} M | {:.1} M |",
            i + 1,
            r.pieces,
            r.buckets,
            r.bytes,
            r.wall * 1e3,
            r.cpu * 1e3,
            points as f64 / r.wall / 1e6,
            points as f64 / r.cpu / 1e6
        );
    }
    let mut wall: Vec<f64> = runs.iter().map(|r| r.wall).collect();
    let mut cpu: Vec<f64> = runs.iter().map(|r| r.cpu).collect();
    let (w, c) = (median(&mut wall), median(&mut cpu));
    let pps = points as f64 / w;
    println!(
        "| **median** | | | | **{:.0}** | **{:.0}** | **{:.1} M** | **{:.1} M** |",
        w * 1e3,
        c * 1e3,
        pps / 1e6,
        points as f64 / c / 1e6
    );
    println!(
        "\nTarget ≥ 20 M raw points/s on one core (wall-time median): {}.\n",
        if pps >= 20e6 { "met" } else { "**not met**" }
    );
    breakdown(&src, &kinds);
    (last, kinds)
}

/// Replays the executor's work on part 1's raw segments with the public building blocks,
/// timing each step: reading the piece's raw points, reading a counter's last point before
/// the piece, aggregating, encoding the chunks, and writing the files.
fn breakdown(src: &Path, kinds: &HashMap<u32, Kind>) {
    let mut segs: Vec<(i64, Segment)> = Vec::new();
    for e in std::fs::read_dir(src.join("raw")).expect("raw dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "seg") {
            let seg = Segment::open(&p).expect("segment");
            segs.push((seg.header().window_start, seg));
        }
    }
    segs.sort_by_key(|s| s.0);
    let out = src.join("breakdown");
    std::fs::create_dir_all(&out).expect("mkdir");
    let (mut read, mut look, mut agg, mut enc, mut write) = (0f64, 0f64, 0f64, 0f64, 0f64);
    let (mut raw_points, mut look_points) = (0u64, 0u64);
    let mut points = Vec::new();
    let mut before = Vec::new();
    let mut buckets: Vec<Bucket> = Vec::new();
    let mut chunk = Vec::new();
    let total = Instant::now();
    for (i, (start, seg)) in segs.iter().enumerate() {
        let (start, end) = (*start, *start + SPAN);
        let prev = i.checked_sub(1).map(|j| &segs[j].1);
        let mut builders: Vec<(i64, SegmentBuilder)> = [10_000i64, 60_000]
            .into_iter()
            .map(|iv| {
                let h = Header::new(FileKind::Segment, ROLLUP_TIER, start, SPAN);
                (iv, SegmentBuilder::new(h))
            })
            .collect();
        let (mut cursor, mut look_cursor) = (0, 0);
        let mut ids: Vec<u32> = seg.footer().entries.iter().map(|e| e.series).collect();
        ids.dedup();
        for id in ids {
            let t = Instant::now();
            points.clear();
            seg.read_series_from(&mut cursor, id, start, end, &mut points)
                .expect("read");
            raw_points += points.len() as u64;
            let counter = kinds.get(&id).is_some_and(|k| is_counter(*k));
            let t1 = Instant::now();
            read += (t1 - t).as_secs_f64();
            let first = match (prev, counter) {
                (Some(p), true) => {
                    before.clear();
                    p.read_series_from(&mut look_cursor, id, i64::MIN, start, &mut before)
                        .expect("read before");
                    look_points += before.len() as u64;
                    before.iter().rev().map(|p| p.1).find(|v| !v.is_nan())
                }
                _ => None,
            };
            let t2 = Instant::now();
            look += (t2 - t1).as_secs_f64();
            for (iv, b) in &mut builders {
                let t3 = Instant::now();
                buckets.clear();
                aggregate(&points, *iv, counter, first, &mut buckets);
                let t4 = Instant::now();
                agg += (t4 - t3).as_secs_f64();
                for part in buckets.chunks(MAX_COLUMN_POINTS) {
                    chunk.clear();
                    rchunk::encode_chunk(part, start, &mut chunk);
                    let (lo, hi) = (part[0].start, part[part.len() - 1].start);
                    b.add_chunk(id, part.len() as u32, lo, hi, &chunk);
                }
                enc += t4.elapsed().as_secs_f64();
            }
        }
        let t = Instant::now();
        for (iv, b) in builders {
            let bytes = b.finish();
            let path = out.join(format!("{iv}-{start}.seg"));
            std::fs::write(&path, &bytes).expect("write");
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .expect("fsync");
        }
        write += t.elapsed().as_secs_f64();
    }
    let all = total.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&out).expect("remove");
    println!(
        "Where the time goes (one replay of the same {} pieces with the public building blocks; timers around each step):\n",
        segs.len()
    );
    println!("| step | ms | share | per raw point |");
    println!("|---|---:|---:|---:|");
    let steps = [
        (
            "read the piece's raw points (`Segment::read_series_from`)",
            read,
        ),
        (
            "counters: decode the previous window for the last point before the piece",
            look,
        ),
        ("`aggregate`, 10 s and 60 s", agg),
        ("`format::rollup::encode_chunk` + `add_chunk`", enc),
        ("finish, write and fsync the tier files", write),
    ];
    let timed: f64 = steps.iter().map(|s| s.1).sum();
    for (name, s) in steps
        .into_iter()
        .chain([("timers and loop overhead", all - timed)])
    {
        println!(
            "| {name} | {:.0} | {:.0} % | {:.1} ns |",
            s * 1e3,
            s / all * 100.0,
            s / raw_points as f64 * 1e9
        );
    }
    println!(
        "| **total** | **{:.0}** | 100 % | {:.1} ns ({:.1} M raw points/s) |",
        all * 1e3,
        all / raw_points as f64 * 1e9,
        raw_points as f64 / all / 1e6
    );
    println!(
        "\nThe counters' look-back decoded {look_points} points ({:.0} % on top of the {raw_points} raw points) to find {} last values.\n",
        look_points as f64 / raw_points as f64 * 100.0,
        kinds.values().filter(|k| is_counter(**k)).count() * segs.len().saturating_sub(1)
    );
}

/// Per tier: whole-file bytes, and per kind (chunk bytes with CRC, points or buckets).
type TierBytes = BTreeMap<String, (u64, u64, BTreeMap<Kind, (u64, u64)>)>;

fn tier_bytes(dir: &Path, kinds: &HashMap<u32, Kind>) -> TierBytes {
    let mut out = TierBytes::new();
    for tier in ["raw", "10s", "60s"] {
        let e = out.entry(tier.to_string()).or_default();
        for f in std::fs::read_dir(dir.join(tier)).expect("tier dir") {
            let p = f.expect("entry").path();
            if p.extension().is_none_or(|x| x != "seg") {
                continue;
            }
            let seg = Segment::open(&p).expect("segment");
            e.0 += seg.len();
            e.1 += seg.points();
            for c in &seg.footer().entries {
                let k = kinds.get(&c.series).expect("known series");
                let kk = e.2.entry(*k).or_default();
                kk.0 += u64::from(c.len) + 4;
                kk.1 += u64::from(c.points);
            }
        }
    }
    out
}

fn print_bytes(title: &str, b: &TierBytes) {
    println!("\n### {title}\n");
    println!(
        "| kind | raw B/point | 10s B/bucket | 10s bucket vs raw point | 10s tier vs raw tier | 60s B/bucket | 60s bucket vs raw point | 60s tier vs raw tier |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let (raw, t10, t60) = (&b["raw"], &b["10s"], &b["60s"]);
    let row = |name: &str, r: (u64, u64), a: (u64, u64), c: (u64, u64)| {
        let rp = r.0 as f64 / r.1 as f64;
        let (ab, cb) = (a.0 as f64 / a.1 as f64, c.0 as f64 / c.1 as f64);
        println!(
            "| {name} | {rp:.3} | {ab:.3} | {:.2}× | {:.3}× | {cb:.3} | {:.2}× | {:.3}× |",
            ab / rp,
            a.0 as f64 / r.0 as f64,
            cb / rp,
            c.0 as f64 / r.0 as f64
        );
    };
    let sum =
        |m: &BTreeMap<Kind, (u64, u64)>| m.values().fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    for (k, r) in &raw.2 {
        row(k.name(), *r, t10.2[k], t60.2[k]);
    }
    row("**all, chunks**", sum(&raw.2), sum(&t10.2), sum(&t60.2));
    row(
        "**all, files**",
        (raw.0, raw.1),
        (t10.0, t10.1),
        (t60.0, t60.1),
    );
    println!(
        "\nFiles: raw {} B for {} points; 10s {} B for {} buckets; 60s {} B for {} buckets.",
        raw.0, raw.1, t10.0, t10.1, t60.0, t60.1
    );
}

/// Why a tier costs what it does: each column of the `interval` buckets of the store's raw
/// segments encoded alone with `codec::encode_values` (the sum column as the chunk stores
/// it: plain, or scaled when the sums are not decimals themselves, rollup-chunk.md).
fn columns(title: &str, dir: &Path, kinds: &HashMap<u32, Kind>, interval: i64) {
    const NAMES: [&str; 8] = [
        "count", "min", "max", "sum", "first", "last", "p95", "increase",
    ];
    // Per kind: raw chunk bytes, chunk bytes, column bytes, buckets, buckets whose sum
    // column the chunk stores scaled.
    type Row = (u64, u64, [u64; 8], u64, u64);
    let mut m: BTreeMap<Kind, Row> = BTreeMap::new();
    let mut points = Vec::new();
    let (mut buckets, mut enc, mut col): (Vec<Bucket>, Vec<u8>, Vec<f64>) =
        (Vec::new(), Vec::new(), Vec::new());
    for e in std::fs::read_dir(dir.join("raw")).expect("raw dir") {
        let path = e.expect("entry").path();
        if path.extension().is_none_or(|x| x != "seg") {
            continue;
        }
        let seg = Segment::open(&path).expect("segment");
        let start = seg.header().window_start;
        let mut ids: Vec<u32> = seg.footer().entries.iter().map(|e| e.series).collect();
        ids.dedup();
        for id in ids {
            let kind = kinds[&id];
            let row = m.entry(kind).or_default();
            row.0 += seg
                .footer()
                .entries_of(id)
                .iter()
                .map(|e| u64::from(e.len) + 4)
                .sum::<u64>();
            points.clear();
            seg.read_series(id, i64::MIN, i64::MAX, &mut points)
                .expect("read");
            buckets.clear();
            aggregate(&points, interval, is_counter(kind), None, &mut buckets);
            enc.clear();
            rchunk::encode_chunk(&buckets, start, &mut enc);
            row.1 += enc.len() as u64 + 4;
            row.3 += buckets.len() as u64;
            // Layout 2: the forms byte (absent with a short head) says how the sum is stored.
            let scaled =
                enc[0] & layout2::SHORT_HEAD == 0 && (enc[1] >> 2) & 3 == layout2::SUM_SCALED;
            if scaled {
                row.4 += buckets.len() as u64;
            }
            let column = |j: usize, b: &Bucket| match j {
                0 => f64::from(b.count),
                1 => b.min,
                2 => b.max,
                3 => b.sum,
                4 => b.first,
                5 => b.last,
                6 => b.p95,
                _ => b.increase.unwrap_or(0.0),
            };
            for j in 0..if is_counter(kind) { 8 } else { 7 } {
                col.clear();
                col.extend(buckets.iter().map(|b| column(j, b)));
                enc.clear();
                if j == 3 {
                    rchunk::encode_sum_column(&buckets, &mut enc);
                } else {
                    codec::encode_values(&col, &mut enc);
                }
                row.2[j] += enc.len() as u64;
            }
        }
    }
    let t = format!("{}s", interval / 1000);
    println!(
        "\n#### {title}\n\nEach column of the {t} buckets encoded alone (`codec::encode_values`, B/bucket; the chunk drops columns equal to min or max, so the columns add up to more than the chunk). \"sum scaled\": share of buckets in chunks that store their sum column scaled (decimal integers plus ulp residuals, as here).\n"
    );
    print!("| kind | raw B per bucket span | {t} chunk B/bucket |");
    for n in NAMES {
        print!(" {n} |");
    }
    println!(" sum scaled | {t} tier vs raw |");
    println!("|---|---:|---:|{}---:|---:|", "---:|".repeat(NAMES.len()));
    let mut tot = (0u64, 0u64, 0u64);
    for (k, (raw, chunk, cols, n, scaled)) in &m {
        let per = |b: u64| b as f64 / *n as f64;
        print!("| {} | {:.2} | {:.2} |", k.name(), per(*raw), per(*chunk));
        for (j, c) in cols.iter().enumerate() {
            if j == 7 && !is_counter(*k) {
                print!(" — |");
            } else {
                print!(" {:.2} |", per(*c));
            }
        }
        println!(
            " {:.0} % | {:.3}× |",
            *scaled as f64 / *n as f64 * 100.0,
            *chunk as f64 / *raw as f64,
        );
        tot.0 += raw;
        tot.1 += chunk;
        tot.2 += n;
    }
    let mut cells = vec![
        "**all**".to_string(),
        format!("{:.2}", tot.0 as f64 / tot.2 as f64),
        format!("{:.2}", tot.1 as f64 / tot.2 as f64),
    ];
    cells.extend(std::iter::repeat_n(String::new(), NAMES.len() + 1));
    cells.push(format!("**{:.3}×**", tot.1 as f64 / tot.0 as f64));
    println!("| {} |", cells.join(" | "));
}

/// Part 2 at 15 s scrapes: builds and materialises its own store.
fn bytes_15s(base: &Path, sz: &Sizes) {
    let t = Instant::now();
    let dir = base.join("store-15s");
    let end = START + sz.hours_15s * HOUR;
    let clock = Arc::new(ManualClock::new(START));
    // Raw points are compared with the tiers over the whole day, so retention must not drop
    // them: raw kept 25 h, the 10s tier 26 h — whose segment span is still 2 h, as with the
    // defaults.
    let mut cfg = config(clock.clone(), default_tiers());
    cfg.raw_keep = Some(Duration::from_secs(25 * 3600));
    cfg.tiers_mut()[0].keep = Duration::from_secs(26 * 3600);
    let store = Store::open(&dir, cfg).expect("open");
    let w = Workload::new(SEED, sz.series, 15_000, START);
    let mut src = [Source::new(&store, w, ("job", "node"))];
    let points = fill(&store, &clock, &mut src, end);
    clock.advance_to(end + GRACE + 1_000);
    let r = store.maintain().expect("maintain");
    assert!(r.rollups.raw_points >= points);
    let mut kinds = HashMap::new();
    src[0].kinds_by_id(&mut kinds);
    store.close().expect("close");
    eprintln!(
        "part 2: built and materialised {points} points at 15 s in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    print_bytes(
        &format!(
            "bytes at 15 s scrapes: {} series × {} h ({points} raw points; a 10 s bucket holds one point)",
            sz.series, sz.hours_15s
        ),
        &tier_bytes(&dir, &kinds),
    );
    columns(
        "the 60 s buckets at 15 s scrapes, column by column",
        &dir,
        &kinds,
        60_000,
    );
    std::fs::remove_dir_all(&dir).expect("remove");
}

fn selector(metric: &str, labels: &[(&str, &str)]) -> Selector {
    let m: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{metric}{{{}}}", m.join(","))
        .parse()
        .expect("selector")
}

fn part3(base: &Path, sz: &Sizes) {
    let t = Instant::now();
    let dir = base.join("store-week");
    let end = START + sz.days * 24 * HOUR;
    let now = end;
    let clock = Arc::new(ManualClock::new(START));
    let store = Store::open(&dir, config(clock.clone(), default_tiers())).expect("open");
    // The queried series: one counter at 1 Hz; the others at 15 s.
    let fast = Workload::with_mix(SEED, 1, 1_000, START, &Mix::only(Kind::Counter));
    let (metric, labels) = fast.series()[0].clone();
    let slow = Workload::new(SEED + 1, sz.others, 15_000, START);
    let mut src = [
        Source::new(&store, fast, ("job", "fast")),
        Source::new(&store, slow, ("job", "slow")),
    ];
    let points = fill(&store, &clock, &mut src, end);
    let built = t.elapsed().as_secs_f64();
    clock.advance_to(now);
    let r = store.maintain().expect("maintain");
    let stats = store.stats();
    let done60 = stats
        .tiers
        .iter()
        .find(|t| t.tier == "60s")
        .and_then(|t| t.materialised_through_ms)
        .expect("60s materialised");
    // Everything but the last window (still open, or sealed with its grace not yet passed).
    assert!(
        now - done60 <= SPAN + GRACE,
        "raw tail longer than a window plus grace"
    );
    eprintln!(
        "part 3: wrote {points} points in {built:.1} s, materialised {} pieces ({} raw points) in {:.1} s",
        r.rollups.pieces,
        r.rollups.raw_points,
        t.elapsed().as_secs_f64() - built
    );
    let mut l: Vec<(&str, &str)> = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    l.push(("job", "fast"));
    let sel = selector(&metric, &l);
    let day = 24 * HOUR;
    let week = format!("now − {} d .. now", sz.days);
    let cases: [(String, i64, u64); 4] = [
        (format!("{week}, step 60 s"), sz.days * day, 60),
        ("now − 24 h .. now, step 60 s".into(), day, 60),
        (format!("{week}, step 1 h"), sz.days * day, 3_600),
        (format!("{week}, step 10 s"), sz.days * day, 10),
    ];
    println!(
        "\n## 3. step queries: one counter at 1 Hz for {} days ({} raw points) among {} series at 15 s ({points} points in all)\n",
        sz.days,
        sz.days * 86_400,
        sz.others
    );
    println!(
        "`{sel}`, clock at the end of the data: 60s tier materialised through now − {} min; the rest is answered from raw points.\n",
        (now - done60) / 60_000
    );
    println!(
        "| query | buckets | from 60s | from 10s | from raw | median | p90 | min | max | runs |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut verdict = None;
    for (name, back, step) in cases {
        let step = Duration::from_secs(step);
        let q = || {
            store
                .query_step(&sel, now - back, now, step)
                .expect("query")
        };
        let res = q();
        assert_eq!(res.series.len(), 1);
        // A step finer than the coarsest tier over time only that tier still holds is
        // answered by its buckets, with a warning saying so; any other warning is a failure.
        assert!(
            res.warnings
                .iter()
                .all(|w| step < Duration::from_secs(60) && w.contains("finer data has expired")),
            "{:?}",
            res.warnings
        );
        let pts = &res.series[0].points;
        let count = |t: &str| pts.iter().filter(|p| &*p.tier == t).count();
        let (n60, n10, nraw) = (count("60s"), count("10s"), count("raw"));
        // A step bucket that straddles the tier's materialised mark is answered by both
        // sources and labelled with both (`60s+raw`).
        let mixed = pts.iter().filter(|p| p.tier.contains('+')).count();
        assert!(mixed <= 1, "{mixed} step buckets of mixed sources");
        assert_eq!(n60 + n10 + nraw + mixed, pts.len());
        let s = step.as_millis() as i64;
        if s % 60_000 == 0 {
            // Tier buckets first, then the raw tail, from the last step boundary the 60s tier
            // covers.
            let boundary = done60.div_euclid(s) * s;
            // The 60s tier's buckets first, then raw ones (the first may mix both).
            let split = pts
                .iter()
                .position(|p| &*p.tier != "60s")
                .unwrap_or(pts.len());
            assert!(
                pts[..split]
                    .iter()
                    .all(|p| &*p.tier == "60s" && p.t < boundary)
            );
            assert!(
                pts[split..]
                    .iter()
                    .all(|p| (&*p.tier == "raw" || p.tier.contains('+'))
                        && p.t >= boundary.saturating_sub(s))
            );
        }
        let mut times = Vec::with_capacity(sz.query_runs);
        for _ in 0..sz.query_runs {
            let t = Instant::now();
            std::hint::black_box(q());
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let n = times.len();
        println!(
            "| {name} | {} | {n60} | {n10} | {nraw} | **{:.2} ms** | {:.2} ms | {:.2} ms | {:.2} ms | {n} |",
            pts.len(),
            times[n / 2],
            times[n * 9 / 10],
            times[0],
            times[n - 1],
        );
        if step.as_secs() == 60 && back == sz.days * day {
            verdict = Some(times[n / 2] < 5.0);
        }
    }
    if let Some(met) = verdict {
        println!(
            "\nTarget < 5 ms for the 7-day 60 s step query of one series: {}.",
            if met { "met" } else { "**not met**" }
        );
    }
    store.close().expect("close");
    std::fs::remove_dir_all(&dir).expect("remove");
}

fn main() {
    // `cargo test --benches` runs this binary without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench")
        || std::env::var_os("TIERLOG_MATERIALISE_QUICK").is_some_and(|v| v != "0");
    let sz = if quick { &QUICK } else { &FULL };
    let parts: Vec<u32> = std::env::var("TIERLOG_MATERIALISE_PARTS")
        .ok()
        .map(|s| s.split(',').filter_map(|p| p.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 3]);
    let tmp = tempfile::Builder::new()
        .prefix("tierlog-materialise-")
        .tempdir_in(bench_dir())
        .expect("tempdir");
    let base = tmp.path();
    println!(
        "`cargo bench --bench materialise`{}\n",
        if quick { " (quick sizes)" } else { "" }
    );
    let total = Instant::now();
    let one_hz = (parts.contains(&1) || parts.contains(&2)).then(|| part1(base, sz));
    if parts.contains(&2) {
        let (dir, kinds) = one_hz.as_ref().expect("part 1 ran");
        println!("## 2. bytes per stored bucket, per tier and kind");
        print_bytes(
            &format!(
                "bytes at 1 Hz: the store of part 1 ({} series × {} h)",
                sz.series, sz.hours_1hz
            ),
            &tier_bytes(dir, kinds),
        );
        columns(
            "the 10 s buckets at 1 Hz, column by column",
            dir,
            kinds,
            10_000,
        );
        bytes_15s(base, sz);
    }
    if parts.contains(&3) {
        part3(base, sz);
    }
    eprintln!("total {:.1} s", total.elapsed().as_secs_f64());
}
