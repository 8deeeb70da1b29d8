//! Decode/encode throughput of the chunk codecs.
//!
//! `cargo bench --bench codec -- --measurement-time 3`
//! Throughput is reported in points (elements) per second.

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use tierlog::segment::codec::{
    decode_chunk, decode_timestamps, decode_values, encode_chunk, encode_values, value_codec_name,
};

use tierlog_testkit::workload::SplitMix64 as Rng;

const T0: i64 = 1_767_225_600_000;

fn walk(n: usize, seed: u64, start: i64, lo: i64, hi: i64, scale: f64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let mut x = start;
    (0..n)
        .map(|_| {
            let v = x as f64 / scale;
            x = (x + rng.range(lo, hi)).max(0);
            v
        })
        .collect()
}

/// `(name, values)` for each benchmarked series of `n` points.
fn series(n: usize) -> Vec<(&'static str, Vec<f64>)> {
    let gauge = walk(n, 2, 5_000, -50, 50, 100.0);
    // The same gauge with one -0.0 cannot be decimal: forces the xor codec.
    let mut xor_gauge = gauge.clone();
    xor_gauge[1] = -0.0;
    let mut rng = Rng::new(9);
    vec![
        ("gauge-2dp", gauge),
        ("counter", walk(n, 1, 1_000_000, 0, 20, 1.0)),
        (
            "bytes-4k",
            walk(n, 3, 2_000_000, -8, 8, 1.0)
                .iter()
                .map(|p| p * 4096.0)
                .collect(),
        ),
        ("xor-gauge", xor_gauge),
        (
            "random-bits",
            (0..n).map(|_| f64::from_bits(rng.next_u64())).collect(),
        ),
    ]
}

fn bench_decode(c: &mut Criterion) {
    for n in [600usize, 7200] {
        let ts: Vec<i64> = (0..n as i64).map(|i| T0 + i * 1000).collect();
        let mut chunk_group = c.benchmark_group(format!("decode_chunk/{n}"));
        chunk_group.throughput(Throughput::Elements(n as u64));
        for (name, values) in series(n) {
            let mut chunk = Vec::new();
            encode_chunk(&ts, &values, &mut chunk);
            let mut col = Vec::new();
            encode_values(&values, &mut col);
            eprintln!(
                "{name} n={n}: value codec {}, chunk {:.3} bytes/point",
                value_codec_name(&col).unwrap_or("?"),
                chunk.len() as f64 / n as f64
            );
            let (mut out_ts, mut out_v) = (Vec::with_capacity(n), Vec::with_capacity(n));
            chunk_group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    out_ts.clear();
                    out_v.clear();
                    decode_chunk(black_box(&chunk), &mut out_ts, &mut out_v).unwrap();
                    black_box((&out_ts, &out_v));
                })
            });
        }
        chunk_group.finish();

        let mut col_group = c.benchmark_group(format!("decode_column/{n}"));
        col_group.throughput(Throughput::Elements(n as u64));
        let mut ts_col = Vec::new();
        tierlog::segment::codec::encode_timestamps(&ts, &mut ts_col);
        let mut out_ts = Vec::with_capacity(n);
        col_group.bench_function("timestamps-1s", |b| {
            b.iter(|| {
                out_ts.clear();
                decode_timestamps(black_box(&ts_col), &mut out_ts).unwrap();
                black_box(&out_ts);
            })
        });
        for (name, values) in series(n) {
            let mut col = Vec::new();
            encode_values(&values, &mut col);
            let mut out = Vec::with_capacity(n);
            col_group.bench_function(format!("values-{name}"), |b| {
                b.iter(|| {
                    out.clear();
                    decode_values(black_box(&col), &mut out).unwrap();
                    black_box(&out);
                })
            });
        }
        col_group.finish();
    }
}

fn bench_encode(c: &mut Criterion) {
    let n = 7200;
    let ts: Vec<i64> = (0..n as i64).map(|i| T0 + i * 1000).collect();
    let mut g = c.benchmark_group("encode_chunk/7200");
    g.throughput(Throughput::Elements(n as u64));
    for (name, values) in series(n) {
        let mut out = Vec::new();
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                encode_chunk(black_box(&ts), black_box(&values), &mut out);
                black_box(&out);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_decode, bench_encode);
criterion_main!(benches);
