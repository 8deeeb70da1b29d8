//! What a rollup tier's chunks cost, column by column, on a store built elsewhere.
//!
//! ```text
//! TIERLOG_ROLLUP_STORE=DIR cargo bench -p tierlog --bench rollup_bytes
//! ```
//!
//! Walks `DIR/10s` and `DIR/60s` (any tier directory given in `TIERLOG_ROLLUP_TIERS`,
//! default `10s,60s`), decodes every rollup chunk and encodes its buckets again in each
//! column form, printing bytes per bucket: the chunks as stored, and each column alone.
//! `TIERLOG_ROLLUP_PIECE_MS=1200000` cuts every chunk into 20-minute pieces first (the
//! chunks of a store whose tier pieces are not compacted yet, as right after one
//! `maintain()`). `TIERLOG_ROLLUP_MERGE_MS=86400000` instead merges each series' buckets of
//! every day into one chunk, as compaction does once a day is materialised (what a store
//! that runs for days holds, measured on a short recording). Every chunk must round-trip
//! bit for bit through the newest layout. Each chunk is also encoded as a version-4
//! segment holds it (no p95 offsets) and as a version-5 one (no count exceptions, no min
//! steps), and decode speed is timed for layout 1, version 4, version 5 and the newest
//! alternately (`TIERLOG_ROLLUP_ONLY=1`, `4`, `5` or `6` decodes one of them only, for a
//! profiler).
//! Without the variable it prints nothing (so `cargo test --benches` passes).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use tierlog::rollup::Bucket;
use tierlog::rollup::format as rchunk;
use tierlog::segment::Segment;
use tierlog::segment::codec;
use tierlog::segment::format::read_rollup_chunk;

#[derive(Default)]
struct Acc {
    buckets: u64,
    chunks: u64,
    stored: u64,
    parts: BTreeMap<&'static str, u64>,
    /// Every chunk in both layouts, with its base, for the decode timing.
    v1: Vec<(Vec<u8>, i64)>,
    v2: Vec<(Vec<u8>, i64)>,
    /// The same chunks as version-4 segments hold them (no p95 offsets).
    v4: Vec<(Vec<u8>, i64)>,
    /// The same chunks as version-5 segments hold them (no count exceptions, no min steps).
    v5: Vec<(Vec<u8>, i64)>,
}

/// Decodes every chunk of a rollup segment version once; buckets per second.
fn decode_all(chunks: &[(Vec<u8>, i64)], buckets: u64, version: u16) -> f64 {
    let mut out = Vec::with_capacity(4096);
    let t = Instant::now();
    for (c, base) in chunks {
        out.clear();
        rchunk::decode_chunk_at(version, c, *base, &mut out).expect("decodes");
        std::hint::black_box(&out);
    }
    buckets as f64 / t.elapsed().as_secs_f64()
}

/// Decodes every chunk of one layout once into reused columns (as step queries read them);
/// buckets per second.
fn decode_cols(chunks: &[(Vec<u8>, i64)], buckets: u64, version: u16) -> f64 {
    let mut cols = rchunk::ChunkColumns::default();
    let t = Instant::now();
    for (c, base) in chunks {
        rchunk::decode_chunk_columns_at(version, c, *base, &mut cols).expect("decodes");
        std::hint::black_box(&cols);
    }
    buckets as f64 / t.elapsed().as_secs_f64()
}

fn col(buckets: &[Bucket], f: impl Fn(&Bucket) -> f64) -> usize {
    let v: Vec<f64> = buckets.iter().map(f).collect();
    let mut out = Vec::new();
    codec::encode_values(&v, &mut out);
    out.len()
}

/// Bytes and chunks of one tier directory, re-encoded as stored, cut into pieces of `piece`
/// ms, or merged (`merge` ms) into one chunk per series per span of that length, as
/// compaction writes a span's pieces once the span is materialised.
fn tier(dir: &Path, piece: Option<i64>, merge: Option<i64>) -> Acc {
    let mut acc = Acc::default();
    let mut bs = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("tier dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    paths.sort();
    // What is encoded: (base, buckets) units.
    let mut units: Vec<(i64, Vec<Bucket>)> = Vec::new();
    let mut merged: BTreeMap<(u32, i64), Vec<Bucket>> = BTreeMap::new();
    for p in paths {
        let seg = Segment::open(&p).expect("segment");
        let base = seg.header().window_start;
        for e in &seg.footer().entries {
            bs.clear();
            read_rollup_chunk(seg.bytes(), e, &mut bs).expect("chunk");
            acc.buckets += bs.len() as u64;
            acc.stored += u64::from(e.len) + 4;
            if let Some(m) = merge {
                for b in &bs {
                    merged
                        .entry((e.series, b.start.div_euclid(m) * m))
                        .or_default()
                        .push(*b);
                }
                continue;
            }
            // As stored, or cut into pieces of `piece` ms (as a store that has not compacted
            // its pieces yet holds them).
            match piece {
                Some(p) => units.extend(
                    bs.chunk_by(|a, b| a.start.div_euclid(p) == b.start.div_euclid(p))
                        .map(|g| (g[0].start.div_euclid(p) * p, g.to_vec())),
                ),
                None => units.push((base, bs.clone())),
            }
        }
    }
    units.extend(merged.into_iter().map(|((id, span), mut v)| {
        v.sort_by_key(|b| b.start);
        assert!(
            v.windows(2).all(|w| w[0].start < w[1].start),
            "series {id}: two segments hold a bucket of the same start; merge only a store whose tier pieces do not overlap"
        );
        (span, v)
    }));
    let mut enc = Vec::new();
    for (gbase, g) in &units {
        let (g, gbase) = (&g[..], *gbase);
        acc.chunks += 1;
        enc.clear();
        let sizes = rchunk::encode_chunk_sections(g, gbase, &mut enc);
        let mut back = Vec::new();
        rchunk::decode_chunk(&enc, gbase, &mut back).expect("new chunk decodes");
        assert_eq!(back.len(), g.len());
        for (a, b) in back.iter().zip(g) {
            assert_eq!(a.bits(), b.bits(), "bit-exact round trip");
        }
        *acc.parts.entry("new chunk+crc").or_default() += enc.len() as u64 + 4;
        // The same buckets as version-4 segments code them (layout 2 without p95 offsets).
        let mut v4 = Vec::new();
        rchunk::encode_chunk_at(rchunk::LAYOUT2_SINCE, g, gbase, &mut v4);
        *acc.parts.entry("version-4 chunk+crc").or_default() += v4.len() as u64 + 4;
        acc.v4.push((v4, gbase));
        let mut v5 = Vec::new();
        rchunk::encode_chunk_at(rchunk::P95_OFFSET_SINCE, g, gbase, &mut v5);
        *acc.parts.entry("version-5 chunk+crc").or_default() += v5.len() as u64 + 4;
        acc.v5.push((v5, gbase));
        let mut old = Vec::new();
        rchunk::encode_chunk_v1(g, gbase, &mut old);
        *acc.parts.entry("layout-1 chunk+crc").or_default() += old.len() as u64 + 4;
        acc.v1.push((old, gbase));
        acc.v2.push((enc.clone(), gbase));
        for (name, n) in sizes {
            *acc.parts.entry(name).or_default() += n as u64;
        }
        // Each column alone, as a plain value column (what the old layout pays when a
        // column is stored), per chunk as encoded here: a piece or a merged chunk when cut
        // or merged. (Before `TIERLOG_ROLLUP_MERGE_MS`, cut chunks counted their columns
        // alone per stored chunk, so those figures of BENCHMARKS.md were taken that way.)
        for (name, f) in [
            (
                "alone count",
                (|b: &Bucket| f64::from(b.count)) as fn(&Bucket) -> f64,
            ),
            ("alone min", |b| b.min),
            ("alone max", |b| b.max),
            ("alone sum", |b| b.sum),
            ("alone first", |b| b.first),
            ("alone last", |b| b.last),
            ("alone p95", |b| b.p95),
            ("alone increase", |b| b.increase.unwrap_or(0.0)),
        ] {
            *acc.parts.entry(name).or_default() += col(g, f) as u64;
        }
    }
    acc
}

fn main() {
    let Some(store) = std::env::var_os("TIERLOG_ROLLUP_STORE") else {
        return;
    };
    let piece: Option<i64> = std::env::var("TIERLOG_ROLLUP_PIECE_MS")
        .ok()
        .map(|v| v.parse().expect("piece ms"));
    let merge: Option<i64> = std::env::var("TIERLOG_ROLLUP_MERGE_MS")
        .ok()
        .map(|v| v.parse().expect("merge ms"));
    assert!(
        merge.is_none_or(|m| m > 0) && piece.is_none_or(|p| p > 0),
        "TIERLOG_ROLLUP_MERGE_MS and TIERLOG_ROLLUP_PIECE_MS are positive"
    );
    assert!(
        merge.is_none() || piece.is_none(),
        "TIERLOG_ROLLUP_MERGE_MS and TIERLOG_ROLLUP_PIECE_MS do not go together"
    );
    let tiers = std::env::var("TIERLOG_ROLLUP_TIERS").unwrap_or_else(|_| "10s,60s".into());
    for t in tiers.split(',') {
        let mut a = tier(&Path::new(&store).join(t), piece, merge);
        let per = |n: u64| n as f64 / a.buckets as f64;
        println!(
            "\n{t}: {} buckets in {} chunks; stored {:.3} B/bucket (chunks + CRC)",
            a.buckets,
            a.chunks,
            per(a.stored)
        );
        for (k, v) in &a.parts {
            println!("  {k:<24} {:.3} B/bucket", per(*v));
        }
        // `TIERLOG_ROLLUP_FLAGS=0x32` keeps only the chunks whose layout-2 flags byte is that
        // (both layouts), for profiling one kind of chunk.
        if let Ok(f) = std::env::var("TIERLOG_ROLLUP_FLAGS") {
            let f = u8::from_str_radix(f.trim_start_matches("0x"), 16).expect("flags byte in hex");
            let keep: Vec<bool> = a.v2.iter().map(|c| c.0[0] == f).collect();
            let mut k = keep.iter();
            a.v1.retain(|_| *k.next().expect("same count"));
            let mut k = keep.iter();
            a.v4.retain(|_| *k.next().expect("same count"));
            let mut k = keep.iter();
            a.v5.retain(|_| *k.next().expect("same count"));
            let mut k = keep.iter();
            a.v2.retain(|_| *k.next().expect("same count"));
        }
        if std::env::var_os("TIERLOG_ROLLUP_HEADS").is_some() {
            // Per head (flags, forms, first/last byte): chunks, bytes, and the decode speed
            // into columns of its chunks in layout 2 over layout 1 (median of 9).
            type Chunks = Vec<(Vec<u8>, i64)>;
            let mut heads: BTreeMap<(u8, u8, u8), (Chunks, Chunks)> = BTreeMap::new();
            for (c1, c2) in a.v1.iter().zip(&a.v2) {
                let c = &c2.0;
                let short = c[0] & tierlog::rollup::layout2::SHORT_HEAD != 0;
                let key = if short {
                    (c[0], 0, 0)
                } else {
                    (c[0], c[1], c[2])
                };
                let e = heads.entry(key).or_default();
                e.0.push(c1.clone());
                e.1.push(c2.clone());
            }
            for ((f, m, l), (v1, v2)) in heads {
                let bytes: usize = v2.iter().map(|c| c.0.len()).sum();
                let (mut t1, mut t2) = (Vec::new(), Vec::new());
                for _ in 0..9 {
                    t1.push(decode_cols(&v1, 1_000_000, 2));
                    t2.push(decode_cols(&v2, 1_000_000, rchunk::ROLLUP_VERSION));
                }
                t1.sort_by(f64::total_cmp);
                t2.sort_by(f64::total_cmp);
                println!(
                    "  head flags {f:#04x} forms {m:#04x} fl {l}: {} chunks, {bytes} bytes, layout 2 / layout 1 speed {:.2}",
                    v2.len(),
                    t2[4] / t1[4]
                );
            }
        }
        // Decode throughput, layouts alternating (the machine's speed drifts): medians.
        // `TIERLOG_ROLLUP_DECODE=buckets` or `columns` times one path only.
        let which = std::env::var("TIERLOG_ROLLUP_DECODE").unwrap_or_default();
        let reps: usize = std::env::var("TIERLOG_ROLLUP_REPS")
            .ok()
            .map_or(9, |v| v.parse().expect("reps"));
        let med = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2] / 1e6
        };
        type Timer = fn(&[(Vec<u8>, i64)], u64, u16) -> f64;
        for (name, f) in [("buckets", decode_all as Timer), ("columns", decode_cols)] {
            if !which.is_empty() && which != name {
                continue;
            }
            let (mut r1, mut r4, mut r5, mut r2) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let only = std::env::var("TIERLOG_ROLLUP_ONLY").unwrap_or_default();
            for _ in 0..reps {
                if only.is_empty() || only == "1" {
                    r1.push(f(&a.v1, a.buckets, 2));
                }
                if only.is_empty() || only == "4" {
                    r4.push(f(&a.v4, a.buckets, rchunk::LAYOUT2_SINCE));
                }
                if only.is_empty() || only == "5" {
                    r5.push(f(&a.v5, a.buckets, rchunk::P95_OFFSET_SINCE));
                }
                if only.is_empty() || only == "6" {
                    r2.push(f(&a.v2, a.buckets, rchunk::ROLLUP_VERSION));
                }
            }
            for r in [&mut r1, &mut r4, &mut r5, &mut r2] {
                if r.is_empty() {
                    r.push(f64::NAN);
                }
            }
            let (m1, m4, m5, m2) = (med(&mut r1), med(&mut r4), med(&mut r5), med(&mut r2));
            println!(
                "  decode into {name}: layout 1 {m1:.1}, version 4 {m4:.1}, version 5 {m5:.1}, version 6 {m2:.1} M buckets/s; version 6 / layout 1 {:.3}, version 6 / version 4 {:.3}, version 6 / version 5 {:.3} (median of {reps}, alternating)",
                m2 / m1,
                m2 / m4,
                m2 / m5
            );
        }
    }
}
