//! Bytes per point of sealed raw segments, for a synthetic mix and for real `/proc` data.
//!
//! ```text
//! TIERLOG_PROC_FILE=/work/data/proc-1h.prom cargo bench --bench compression
//! ```
//!
//! Synthetic: 1000 series of the default `tierlog_testkit::workload` mix, 1 s interval (and, for
//! comparison, 15 s), 2 h, written through handles (`Sync::Never`, a `ManualClock` following
//! the data), then every window sealed.
//! Real: a Prometheus text file recorded by `examples/proc_record.rs` (only complete lines are
//! read). Each is measured with window spans of 10, 20, 30 and 60 min (and the library's
//! default span, if another). Prints markdown tables.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tierlog::format::header::HEADER_LEN;
use tierlog::segment::Segment;
use tierlog::segment::codec;
use tierlog::segment::format::TRAILER_LEN;
use tierlog::{Config, ManualClock, Sample, SeriesId, Store, Sync, WriteSummary};
use tierlog_testkit::workload::Workload;
use tierlog_tools::import::prom::{Entry, PromParser};

const SEED: u64 = 0x7135_2024;
/// A second- (and hour-) aligned start: 2023-11-14T22:00:00Z.
const START: i64 = 1_699_999_200_000;
const SERIES: usize = 1_000;
const HOURS: i64 = 2;
/// Window spans compared (the default is among them, or added).
const SPANS_MIN: [u64; 4] = [10, 20, 30, 60];

/// The spans to run: `SPANS_MIN` plus the library's default span if it is not listed.
fn spans() -> Vec<u64> {
    let mut v = SPANS_MIN.to_vec();
    let d = default_span_min();
    if !v.contains(&d) {
        v.push(d);
        v.sort_unstable();
    }
    v
}

fn default_span_min() -> u64 {
    Config::default().window_span.as_secs() / 60
}

fn span_label(span: u64) -> String {
    if span == default_span_min() {
        format!("{span} min (default)")
    } else {
        format!("{span} min")
    }
}
const TARGET_SYNTH: f64 = 1.5;
const TARGET_REAL: f64 = 0.3;

/// Where the bytes of one group of series went.
#[derive(Debug, Default, Clone)]
struct Bytes {
    series: usize,
    points: u64,
    /// Timestamp columns.
    ts: u64,
    /// Value columns.
    values: u64,
    /// Chunk CRCs and footer entries.
    framing: u64,
    /// Value codec name → chunks.
    codecs: BTreeMap<&'static str, u64>,
}

impl Bytes {
    fn total(&self) -> u64 {
        self.ts + self.values + self.framing
    }
    fn per_point(&self, b: u64) -> f64 {
        b as f64 / self.points.max(1) as f64
    }
}

/// Result of one store.
struct Measured {
    points: u64,
    seg_bytes: u64,
    segments: u64,
    /// Header, trailer and entry count of every segment.
    fixed: u64,
    index_bytes: u64,
    groups: BTreeMap<String, Bytes>,
    /// A second grouping (real data: series that changed or not during the recording).
    groups2: BTreeMap<String, Bytes>,
    write_secs: f64,
    seal_secs: f64,
}

impl Measured {
    fn bpp(&self) -> f64 {
        self.seg_bytes as f64 / self.points.max(1) as f64
    }
}

fn uvarint_len(mut v: u64) -> u64 {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn svarint_len(v: i64) -> u64 {
    uvarint_len(((v << 1) ^ (v >> 63)) as u64)
}

fn bench_dir() -> PathBuf {
    std::env::var_os("TIERLOG_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

fn config(span_min: u64, clock: Arc<ManualClock>) -> Config {
    Config {
        sync: Sync::Never,
        window_span: Duration::from_secs(span_min * 60),
        ..Config::default()
    }
    .with_clock(clock)
}

/// Seals everything: moves the clock past the last window's end plus grace, then maintains.
fn seal_all(store: &Store, clock: &ManualClock, last_ts: i64) {
    let c = store.config();
    let span = c.window_span.as_millis() as i64;
    let grace = c.grace.as_millis() as i64;
    clock.advance_to(last_ts.div_euclid(span) * span + span + grace + 1);
    store.maintain().expect("maintain");
    let open = &store.stats().tiers[0].open;
    assert_eq!(open.points, 0, "every window sealed");
}

/// Sizes of the sealed segments of `store`, attributed to `group_of[series id]`.
fn measure(
    store: &Store,
    group_of: &HashMap<u32, String>,
) -> (u64, u64, u64, BTreeMap<String, Bytes>) {
    let raw = store.dir().join("raw");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&raw)
        .expect("raw dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    paths.sort();
    let (mut file_bytes, mut fixed, mut points) = (0u64, 0u64, 0u64);
    let mut groups: BTreeMap<String, Bytes> = BTreeMap::new();
    let mut seen: HashMap<u32, ()> = HashMap::new();
    let mut ts = Vec::new();
    for p in &paths {
        let seg = Segment::open(p).expect("open segment");
        file_bytes += std::fs::metadata(p).expect("stat").len();
        let footer = seg.footer();
        fixed += (HEADER_LEN + TRAILER_LEN) as u64 + uvarint_len(footer.entries.len() as u64);
        points += footer.points;
        let start = seg.header().window_start;
        let mut prev = 0u32;
        for e in &footer.entries {
            let g = groups
                .entry(
                    group_of
                        .get(&e.series)
                        .cloned()
                        .unwrap_or_else(|| "?".into()),
                )
                .or_default();
            if seen.insert(e.series, ()).is_none() {
                g.series += 1;
            }
            let chunk = &seg.bytes()[e.offset as usize..(e.offset + u64::from(e.len)) as usize];
            ts.clear();
            let ts_len = codec::decode_timestamps(chunk, &mut ts).expect("timestamps") as u64;
            let name = codec::value_codec_name(&chunk[ts_len as usize..]).unwrap_or("?");
            *g.codecs.entry(name).or_default() += 1;
            g.points += u64::from(e.points);
            g.ts += ts_len;
            g.values += u64::from(e.len) - ts_len;
            g.framing += 4
                + uvarint_len(u64::from(e.series - prev))
                + uvarint_len(u64::from(e.points))
                + uvarint_len(u64::from(e.len))
                + svarint_len(e.min_ts - start)
                + uvarint_len((e.max_ts - e.min_ts) as u64);
            prev = e.series;
        }
    }
    let attributed: u64 = groups.values().map(Bytes::total).sum::<u64>() + fixed;
    assert_eq!(attributed, file_bytes, "every byte attributed");
    (file_bytes, fixed, points, groups)
}

fn finish(
    store: Store,
    clock: &ManualClock,
    last_ts: i64,
    group_of: &HashMap<u32, String>,
    group2_of: Option<&HashMap<u32, String>>,
    write_secs: f64,
) -> Measured {
    let t = Instant::now();
    seal_all(&store, clock, last_ts);
    let seal_secs = t.elapsed().as_secs_f64();
    let stats = store.stats();
    let sealed = &stats.tiers[0].sealed;
    let (seg_bytes, fixed, points, groups) = measure(&store, group_of);
    assert_eq!(seg_bytes, sealed.bytes, "segment files = stats");
    assert_eq!(points, sealed.points, "segment points = stats");
    let groups2 = group2_of.map_or_else(BTreeMap::new, |g| measure(&store, g).3);
    Measured {
        points,
        seg_bytes,
        segments: sealed.segments,
        fixed,
        index_bytes: stats.index_bytes,
        groups,
        groups2,
        write_secs,
        seal_secs,
    }
}

fn synthetic(span_min: u64, interval_ms: i64) -> Measured {
    let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let clock = Arc::new(ManualClock::new(START));
    let store = Store::open(dir.path(), config(span_min, clock.clone())).expect("open");
    let mut w = Workload::new(SEED, SERIES, interval_ms, START);
    let scrapes = HOURS * 3_600_000 / interval_ms;
    let names: Vec<(String, Vec<(String, String)>)> = w.series().to_vec();
    let kinds = w.kinds().to_vec();
    let t = Instant::now();
    let mut scrape = Vec::with_capacity(SERIES);
    // The first scrape by name creates every series with one index append; then handles.
    w.next_scrape(&mut scrape);
    clock.advance_to(scrape.iter().map(|s| s.1).max().expect("non-empty"));
    let mut total = WriteSummary::default();
    {
        let labels: Vec<Vec<(&str, &str)>> = names
            .iter()
            .map(|(_, l)| l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .collect();
        let samples: Vec<Sample<'_>> = scrape
            .iter()
            .map(|&(i, ts, v)| Sample::new(&names[i as usize].0, &labels[i as usize], ts, v))
            .collect();
        total.add(&store.write(&samples).expect("write"));
    }
    let handles: Vec<SeriesId> = names
        .iter()
        .map(|(m, l)| {
            let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            store.series_handle(m, &l).expect("handle")
        })
        .collect();
    let group_of: HashMap<u32, String> = handles
        .iter()
        .zip(&kinds)
        .map(|(h, k)| (h.0, k.name().to_owned()))
        .collect();
    let mut batch: Vec<(SeriesId, i64, f64)> = Vec::with_capacity(SERIES);
    let mut last = 0;
    for _ in 1..scrapes {
        scrape.clear();
        w.next_scrape(&mut scrape);
        batch.clear();
        batch.extend(
            scrape
                .iter()
                .map(|&(i, ts, v)| (handles[i as usize], ts, v)),
        );
        last = scrape.iter().map(|s| s.1).max().expect("non-empty");
        clock.advance_to(last);
        total.add(&store.write_series(&batch).expect("write"));
    }
    let write_secs = t.elapsed().as_secs_f64();
    assert_eq!(total.rejected(), 0, "{total:?}");
    assert_eq!(total.accepted, (SERIES as i64 * scrapes) as u64);
    finish(store, &clock, last, &group_of, None, write_secs)
}

/// Complete lines of the recording (it may still be growing).
fn read_complete_lines(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut bytes)?;
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(end);
    Ok(bytes)
}

struct Real {
    m: Measured,
    samples: u64,
    scrapes: u64,
    series: usize,
    first_ts: i64,
    last_ts: i64,
}

/// One parsed sample: metric, labels, ts, value.
type Parsed = (String, Vec<(String, String)>, i64, f64);
/// Metric and canonical (sorted, no empty values) labels.
type SeriesKey = (String, Vec<(String, String)>);

fn real(bytes: &[u8], span_min: u64) -> Real {
    let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let clock = Arc::new(ManualClock::new(0));
    let store = Store::open(dir.path(), config(span_min, clock.clone())).expect("open");
    let t = Instant::now();
    let mut pending: Vec<Parsed> = Vec::new();
    let mut total = WriteSummary::default();
    let (mut scrapes, mut first_ts, mut last_ts) = (0u64, None, 0i64);
    // Per series (metric and canonical labels): first value, and whether it ever changed.
    let mut changed: HashMap<SeriesKey, (f64, bool)> = HashMap::new();
    let flush = |pending: &mut Vec<Parsed>, total: &mut WriteSummary| {
        if pending.is_empty() {
            return;
        }
        let labels: Vec<Vec<(&str, &str)>> = pending
            .iter()
            .map(|p| p.1.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .collect();
        let samples: Vec<Sample<'_>> = pending
            .iter()
            .zip(&labels)
            .map(|(p, l)| Sample::new(&p.0, l, p.2, p.3))
            .collect();
        clock.advance_to(pending.iter().map(|p| p.2).max().expect("non-empty"));
        total.add(&store.write(&samples).expect("write"));
        pending.clear();
    };
    for item in PromParser::new(bytes) {
        let (line, entry) = match item {
            Ok(x) => x,
            Err(e) => panic!("{e}"),
        };
        let Entry::Sample(s) = entry else { continue };
        let ts = s
            .ts_ms
            .unwrap_or_else(|| panic!("line {line} has no timestamp"));
        if pending.last().is_some_and(|p| p.2 != ts) {
            flush(&mut pending, &mut total);
            scrapes += 1;
        }
        first_ts.get_or_insert(ts);
        last_ts = last_ts.max(ts);
        let mut key_labels: Vec<(String, String)> = s
            .labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .cloned()
            .collect();
        key_labels.sort();
        let e = changed
            .entry((s.metric.clone(), key_labels))
            .or_insert((s.value, false));
        e.1 |= e.0.to_bits() != s.value.to_bits();
        pending.push((s.metric, s.labels, ts, s.value));
    }
    if !pending.is_empty() {
        flush(&mut pending, &mut total);
        scrapes += 1;
    }
    let write_secs = t.elapsed().as_secs_f64();
    assert_eq!(total.rejected(), 0, "{total:?}");
    let all = tierlog::Selector {
        metric: None,
        matchers: Vec::new(),
    };
    let infos = store.series(&all);
    let group_of: HashMap<u32, String> = infos.iter().map(|s| (s.id.0, s.metric.clone())).collect();
    let group2_of: HashMap<u32, String> = infos
        .iter()
        .map(|s| {
            let key = (s.metric.clone(), s.labels.to_pairs());
            let moved = changed.get(&key).expect("series seen").1;
            let name = if moved {
                "value changed during the recording"
            } else {
                "constant during the recording"
            };
            (s.id.0, name.to_owned())
        })
        .collect();
    let series = infos.len();
    Real {
        m: finish(
            store,
            &clock,
            last_ts,
            &group_of,
            Some(&group2_of),
            write_secs,
        ),
        samples: total.accepted,
        scrapes,
        series,
        first_ts: first_ts.unwrap_or(0),
        last_ts,
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

fn verdict(bpp: f64, target: f64) -> String {
    if bpp <= target {
        format!("met (≤ {target})")
    } else {
        format!(
            "MISSED by {:.2} B/pt ({:.0} %)",
            bpp - target,
            100.0 * (bpp / target - 1.0)
        )
    }
}

fn summary_row(label: &str, span: u64, m: &Measured, target: Option<f64>) {
    let chunk: u64 = m.groups.values().map(|g| g.ts + g.values).sum();
    let framing: u64 = m.groups.values().map(|g| g.framing).sum::<u64>() + m.fixed;
    println!(
        "| {label} | {} | {} | {} | {} | **{:.3}** | {:.3} | {:.3} | {:.1} KiB ({:.3} B/pt) | {} |",
        span_label(span),
        m.points,
        m.segments,
        m.seg_bytes,
        m.bpp(),
        chunk as f64 / m.points as f64,
        framing as f64 / m.points as f64,
        m.index_bytes as f64 / 1024.0,
        m.index_bytes as f64 / m.points as f64,
        target.map_or_else(|| "(comparison)".to_owned(), |t| verdict(m.bpp(), t)),
    );
}

fn groups_table(
    title: &str,
    runs: &[(u64, &Measured)],
    which: fn(&Measured) -> &BTreeMap<String, Bytes>,
    limit: usize,
) {
    let base_i = runs
        .iter()
        .position(|(s, _)| *s == default_span_min())
        .unwrap_or(0);
    let (base_span, base) = runs[base_i];
    println!("\n{title}\n");
    println!("Columns up to CRC+footer and the codec counts are for {base_span}-minute windows.\n");
    print!("| group | series | points | ts B/pt | values B/pt | CRC+footer B/pt |");
    for (span, _) in runs {
        print!(" total B/pt ({span} min) |");
    }
    println!(" value codecs (chunks) |");
    print!("|---|---:|---:|---:|---:|---:|");
    for _ in runs {
        print!("---:|");
    }
    println!("---|");
    let mut order: Vec<(&String, &Bytes)> = which(base).iter().collect();
    order.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then(a.0.cmp(b.0)));
    let shown = order.len().min(limit);
    for (name, g) in &order[..shown] {
        print!(
            "| {name} | {} | {} | {:.3} | {:.3} | {:.3} |",
            g.series,
            g.points,
            g.per_point(g.ts),
            g.per_point(g.values),
            g.per_point(g.framing),
        );
        for (_, m) in runs {
            let b = which(m).get(*name).map_or(0.0, |x| x.per_point(x.total()));
            print!(" {b:.3} |");
        }
        let codecs: Vec<String> = g.codecs.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(" {} |", codecs.join(", "));
    }
    if order.len() > shown {
        let rest: Vec<&Bytes> = order[shown..].iter().map(|x| x.1).collect();
        let sum = |f: fn(&Bytes) -> u64| rest.iter().map(|g| f(g)).sum::<u64>();
        let pts = sum(|g| g.points).max(1) as f64;
        print!(
            "| ({} other metrics) | {} | {} | {:.3} | {:.3} | {:.3} |",
            rest.len(),
            sum(|g| g.series as u64),
            sum(|g| g.points),
            sum(|g| g.ts) as f64 / pts,
            sum(|g| g.values) as f64 / pts,
            sum(|g| g.framing) as f64 / pts,
        );
        for _ in runs {
            print!(" |");
        }
        println!(" |");
    }
    let share: Vec<String> = order
        .iter()
        .take(5)
        .map(|(n, g)| format!("{n} {:.0} %", pct(g.total(), base.seg_bytes)))
        .collect();
    println!(
        "\nLargest shares of the segment bytes ({} min): {}.",
        base_span,
        share.join(", ")
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a name filter is not supported.
    println!("## Compression (bytes per point of sealed raw segments)\n");
    let mut synth: Vec<(u64, Measured)> = Vec::new();
    let mut synth15: Vec<(u64, Measured)> = Vec::new();
    for span in spans() {
        for (interval, out) in [(1_000, &mut synth), (15_000, &mut synth15)] {
            let m = synthetic(span, interval);
            eprintln!(
                "synthetic {} s, {span} min: {:.3} B/pt (write {:.1} s, seal {:.1} s)",
                interval / 1_000,
                m.bpp(),
                m.write_secs,
                m.seal_secs
            );
            out.push((span, m));
        }
    }
    let proc_file = std::env::var_os("TIERLOG_PROC_FILE").map(PathBuf::from);
    let mut reals: Vec<(u64, Real)> = Vec::new();
    let mut real_note = String::new();
    match &proc_file {
        None => {
            real_note =
                "real /proc data: skipped (set TIERLOG_PROC_FILE=path/to/recording.prom)".into()
        }
        Some(p) => match read_complete_lines(p) {
            Err(e) => real_note = format!("real /proc data: skipped ({}: {e})", p.display()),
            Ok(bytes) => {
                for span in spans() {
                    let r = real(&bytes, span);
                    eprintln!("real {span} min: {:.3} B/pt", r.m.bpp());
                    reals.push((span, r));
                }
            }
        },
    }
    println!(
        "| data | window | points | segments | segment bytes | B/pt | chunk B/pt | CRC+footer+header B/pt | index | target |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for (span, m) in &synth {
        summary_row(
            "synthetic 1000 series × 1 s × 2 h",
            *span,
            m,
            Some(TARGET_SYNTH),
        );
    }
    for (span, m) in &synth15 {
        summary_row("synthetic 1000 series × 15 s × 2 h", *span, m, None);
    }
    for (span, r) in &reals {
        let label = format!("real /proc, {} series × {} scrapes", r.series, r.scrapes);
        summary_row(&label, *span, &r.m, Some(TARGET_REAL));
    }
    if !real_note.is_empty() {
        println!("\n{real_note}");
    }
    let runs: Vec<(u64, &Measured)> = synth.iter().map(|(s, m)| (*s, m)).collect();
    groups_table(
        "### Synthetic mix, by kind",
        &runs,
        |m| &m.groups,
        usize::MAX,
    );
    if let Some((_, r)) = reals.first() {
        println!(
            "\nReal recording: {} ({} samples, {} series, {:.1} min from ts {} to {}).",
            proc_file.as_ref().expect("set").display(),
            r.samples,
            r.series,
            (r.last_ts - r.first_ts) as f64 / 60_000.0,
            r.first_ts,
            r.last_ts
        );
        let runs: Vec<(u64, &Measured)> = reals.iter().map(|(s, r)| (*s, &r.m)).collect();
        groups_table(
            "### Real /proc data, by metric (largest first)",
            &runs,
            |m| &m.groups,
            12,
        );
        groups_table(
            "### Real /proc data, constant vs changing series",
            &runs,
            |m| &m.groups2,
            usize::MAX,
        );
    }
}
