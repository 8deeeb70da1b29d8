//! Rollup foundation benchmark: `rollup::aggregate` throughput and rollup chunk sizes.
//!
//! `cargo bench --bench rollup` prints markdown tables:
//! 1. raw points/s of `aggregate` for 1000 series × 7200 points at 1 Hz (2 h) into 10 s and
//!    60 s buckets, one thread, median of 5 runs;
//! 2. bytes per bucket of `format::rollup::encode_chunk` per tier and metric kind, against
//!    bytes per raw point of `format::codec::encode_chunk` for the same series and span, at
//!    1 Hz and at 15 s scrapes (one point per 10 s bucket: target ≤ 1.5× a raw point).
//!
//! Raw points are per-second means, so the workload's jittered timestamps are floored to the
//! second, as the store does. Chunks hold one series' 2 h; starts are relative to the span
//! start.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use tierlog::rollup::format as rchunk;
use tierlog::rollup::{Bucket, aggregate};
use tierlog::segment::codec;
use tierlog_testkit::workload::{Kind, Workload};

const SERIES: usize = 1000;
const SPAN_MS: i64 = 2 * 3600 * 1000;
const START: i64 = 1_700_000_000_000 - 1_700_000_000_000 % SPAN_MS;

/// Per series, its points over one span, timestamps floored to the second.
fn generate(interval_ms: i64) -> (Vec<Kind>, Vec<Vec<(i64, f64)>>) {
    let mut w = Workload::new(42, SERIES, interval_ms, START);
    let kinds = w.kinds().to_vec();
    let mut per: Vec<Vec<(i64, f64)>> = vec![Vec::new(); SERIES];
    let mut scrape = Vec::new();
    while w.next_scrape_ms() < START + SPAN_MS {
        scrape.clear();
        w.next_scrape(&mut scrape);
        for &(i, ts, v) in &scrape {
            per[i as usize].push((ts.div_euclid(1000) * 1000, v));
        }
    }
    (kinds, per)
}

fn is_counter(k: Kind) -> bool {
    matches!(k, Kind::Counter | Kind::BurstyCounter)
}

fn throughput(kinds: &[Kind], series: &[Vec<(i64, f64)>], interval: i64) -> (f64, usize) {
    let points: usize = series.iter().map(Vec::len).sum();
    let mut out: Vec<Bucket> = Vec::with_capacity(SPAN_MS as usize / interval as usize + 1);
    let mut runs = Vec::new();
    let mut buckets = 0;
    for _ in 0..5 {
        let t = Instant::now();
        buckets = 0;
        for (k, s) in kinds.iter().zip(series) {
            out.clear();
            aggregate(black_box(s), interval, is_counter(*k), None, &mut out);
            buckets += black_box(&out).len();
        }
        runs.push(points as f64 / t.elapsed().as_secs_f64());
    }
    runs.sort_by(f64::total_cmp);
    (runs[2], buckets)
}

/// Per kind: (raw bytes, raw points, bytes per tier, buckets per tier).
type Sizes = BTreeMap<Kind, (usize, usize, [usize; 2], [usize; 2])>;

fn sizes(kinds: &[Kind], series: &[Vec<(i64, f64)>]) -> Sizes {
    let mut m: Sizes = BTreeMap::new();
    let mut enc = Vec::new();
    let mut buckets = Vec::new();
    for (k, s) in kinds.iter().zip(series) {
        let e = m.entry(*k).or_default();
        let ts: Vec<i64> = s.iter().map(|p| p.0 - START).collect();
        let vs: Vec<f64> = s.iter().map(|p| p.1).collect();
        enc.clear();
        codec::encode_chunk(&ts, &vs, &mut enc);
        e.0 += enc.len();
        e.1 += s.len();
        for (j, interval) in [10_000i64, 60_000].into_iter().enumerate() {
            buckets.clear();
            aggregate(s, interval, is_counter(*k), None, &mut buckets);
            enc.clear();
            rchunk::encode_chunk(&buckets, START, &mut enc);
            e.2[j] += enc.len();
            e.3[j] += buckets.len();
        }
    }
    m
}

fn print_sizes(title: &str, m: &Sizes) {
    println!("\n### {title}\n");
    println!(
        "| kind | raw B/point | 10s B/bucket | 10s vs raw point | 10s tier vs raw tier | 60s B/bucket | 60s tier vs raw tier |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut tot = (0, 0, [0; 2], [0; 2]);
    let rows = m.iter().map(|(k, v)| (k.name().to_string(), *v));
    for (name, (rb, rp, tb, tn)) in rows {
        tot.0 += rb;
        tot.1 += rp;
        for j in 0..2 {
            tot.2[j] += tb[j];
            tot.3[j] += tn[j];
        }
        row(&name, (rb, rp, tb, tn));
    }
    row("**all**", tot);
}

fn row(name: &str, (rb, rp, tb, tn): (usize, usize, [usize; 2], [usize; 2])) {
    let raw = rb as f64 / rp as f64;
    let b10 = tb[0] as f64 / tn[0] as f64;
    let b60 = tb[1] as f64 / tn[1] as f64;
    println!(
        "| {name} | {raw:.3} | {b10:.3} | {:.2}× | {:.2}× | {b60:.3} | {:.2}× |",
        b10 / raw,
        tb[0] as f64 / rb as f64,
        tb[1] as f64 / rb as f64
    );
}

fn main() {
    // `cargo test --benches` runs this binary with `--bench` absent: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (kinds, series) = generate(1_000);
    let points: usize = series.iter().map(Vec::len).sum();
    println!(
        "## rollup: {SERIES} series × {} points at 1 Hz ({points} raw points)\n",
        points / SERIES
    );
    if !quick {
        println!("| tier | buckets | aggregate, raw points/s (median of 5, 1 thread) |");
        println!("|---|---|---|");
        for interval in [10_000i64, 60_000] {
            let (pps, buckets) = throughput(&kinds, &series, interval);
            println!("| {}s | {buckets} | {:.1} M |", interval / 1000, pps / 1e6);
        }
    }
    print_sizes("bytes at 1 Hz (2 h chunks)", &sizes(&kinds, &series));
    let (kinds15, series15) = generate(15_000);
    print_sizes(
        "bytes at 15 s scrapes (2 h chunks; a 10 s bucket holds one point)",
        &sizes(&kinds15, &series15),
    );
}
