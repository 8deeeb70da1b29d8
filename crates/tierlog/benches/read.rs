//! Read-path micro benchmarks (criterion).
//!
//! ```text
//! cargo bench --bench read
//! ```
//!
//! * `decode_chunk/<kind>`: `codec::decode_chunk` of one 600-point chunk (10 min at 1 s) of one
//!   series of each kind of the `tierlog_testkit::workload` mix; throughput in points.
//! * `segment_read_series/*`: `Segment::read_series` (footer lookup, CRC check, decode, copy
//!   into `(ts, value)` pairs) on a mapped 10-minute segment of the 1000-series default mix:
//!   every series in turn (`all_1000_series`) and one series of each kind.
//! * `select/*`: picking 100 series out of 100 000 by label or by metric name with
//!   `Store::series`, and `Store::query` over an empty time range (selection plus result
//!   assembly, no data).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tempfile::TempDir;
use tierlog::format::header::{FileKind, Header};
use tierlog::segment::Segment;
use tierlog::segment::codec;
use tierlog::segment::format::SegmentBuilder;
use tierlog::{Config, ManualClock, Sample, Selector, Store, Sync};
use tierlog_testkit::workload::{Kind, Workload};

const SEED: u64 = 0x5eed_0042;
/// 2023-11-14T22:00:00Z.
const START: i64 = 1_699_999_200_000;
const SPAN: i64 = 600_000;
const POINTS: usize = 600;

/// Timestamps and values of one series.
type Columns = (Vec<i64>, Vec<f64>);

/// 600 scrapes of `series` series of the default mix, as per-series columns.
fn columns(series: usize) -> (Vec<Kind>, Vec<Columns>) {
    let mut w = Workload::new(SEED, series, 1_000, START);
    let kinds = w.kinds().to_vec();
    let mut cols = vec![(Vec::with_capacity(POINTS), Vec::with_capacity(POINTS)); series];
    let mut scrape = Vec::new();
    for _ in 0..POINTS {
        scrape.clear();
        w.next_scrape(&mut scrape);
        for &(i, ts, v) in &scrape {
            // The store keeps second starts.
            cols[i as usize].0.push(ts.div_euclid(1_000) * 1_000);
            cols[i as usize].1.push(v);
        }
    }
    (kinds, cols)
}

fn decode(c: &mut Criterion) {
    let (kinds, cols) = columns(1_000);
    let mut g = c.benchmark_group("decode_chunk");
    g.throughput(Throughput::Elements(POINTS as u64));
    for kind in Kind::ALL {
        let i = kinds.iter().position(|k| *k == kind).expect("every kind");
        let mut chunk = Vec::new();
        codec::encode_chunk(&cols[i].0, &cols[i].1, &mut chunk);
        let (mut ts, mut vs) = (Vec::with_capacity(POINTS), Vec::with_capacity(POINTS));
        let name = format!(
            "{} ({}, {} B)",
            kind.name(),
            codec::value_codec_name(&chunk[codec_ts_len(&chunk)..]).unwrap_or("?"),
            chunk.len()
        );
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                ts.clear();
                vs.clear();
                codec::decode_chunk(black_box(&chunk), &mut ts, &mut vs).expect("decode");
                black_box((&ts, &vs));
            })
        });
    }
    g.finish();
}

fn codec_ts_len(chunk: &[u8]) -> usize {
    codec::decode_timestamps(chunk, &mut Vec::new()).expect("timestamps")
}

fn segment_read(c: &mut Criterion) {
    let (kinds, cols) = columns(1_000);
    let mut b = SegmentBuilder::new(Header::new(FileKind::Segment, 0, START, SPAN));
    for (i, (ts, vs)) in cols.iter().enumerate() {
        b.add_raw_series(i as u32, ts, vs);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("segment.seg");
    std::fs::write(&path, b.finish()).expect("write segment");
    let seg = Segment::open(&path).expect("open segment");
    let mut g = c.benchmark_group("segment_read_series");
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(POINTS * 1_000);
    g.throughput(Throughput::Elements(seg.points()));
    g.bench_function("all_1000_series", |b| {
        b.iter(|| {
            out.clear();
            for id in 0..1_000u32 {
                seg.read_series(id, i64::MIN, i64::MAX, &mut out)
                    .expect("read");
            }
            black_box(&out);
        })
    });
    g.throughput(Throughput::Elements(POINTS as u64));
    for kind in Kind::ALL {
        let id = kinds.iter().position(|k| *k == kind).expect("every kind") as u32;
        g.bench_function(BenchmarkId::new("one_series", kind.name()), |b| {
            b.iter(|| {
                out.clear();
                seg.read_series(black_box(id), i64::MIN, i64::MAX, &mut out)
                    .expect("read");
                black_box(&out);
            })
        });
    }
    g.finish();
}

/// A store holding `series` as given (one sample each, in the open window).
fn registry(series: &[(String, Vec<(String, String)>)]) -> (TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(START));
    let config = Config::default().with_sync(Sync::Never).with_clock(clock);
    let store = Store::open(dir.path(), config).expect("open");
    for part in series.chunks(10_000) {
        let labels: Vec<Vec<(&str, &str)>> = part
            .iter()
            .map(|(_, l)| l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .collect();
        let samples: Vec<Sample<'_>> = part
            .iter()
            .zip(&labels)
            .map(|((m, _), l)| Sample::new(m, l, START, 1.0))
            .collect();
        store.write(&samples).expect("write");
    }
    (dir, store)
}

fn select(c: &mut Criterion) {
    // One metric, host=h0000..h0999 × cpu=0..99.
    let by_label: Vec<(String, Vec<(String, String)>)> = (0..1_000)
        .flat_map(|h| {
            (0..100).map(move |cpu| {
                (
                    "node_cpu_seconds_total".to_owned(),
                    vec![
                        ("host".to_owned(), format!("h{h:04}")),
                        ("cpu".to_owned(), cpu.to_string()),
                    ],
                )
            })
        })
        .collect();
    // 1000 metrics × 100 series each.
    let by_metric: Vec<(String, Vec<(String, String)>)> = (0..1_000)
        .flat_map(|m| {
            (0..100).map(move |d| {
                (
                    format!("node_metric_{m:04}"),
                    vec![("device".to_owned(), format!("dev{d}"))],
                )
            })
        })
        .collect();
    let (_d1, one_metric) = registry(&by_label);
    let (_d2, many_metrics) = registry(&by_metric);
    let cases: [(&str, &Store, &str, usize); 4] = [
        (
            "label_eq (1 metric × 100k series)",
            &one_metric,
            r#"node_cpu_seconds_total{host="h0420"}"#,
            100,
        ),
        (
            "label_eq_and_regex (1 metric × 100k series)",
            &one_metric,
            r#"node_cpu_seconds_total{host="h0420",cpu=~"1.*"}"#,
            11,
        ),
        (
            "metric_name (1000 metrics × 100 series)",
            &many_metrics,
            "node_metric_0420",
            100,
        ),
        (
            "label_eq_no_metric (1000 metrics × 100 series)",
            &many_metrics,
            r#"{device="dev42"}"#,
            1_000,
        ),
    ];
    let mut g = c.benchmark_group("select");
    for (name, store, sel, want) in cases {
        let sel: Selector = sel.parse().expect("selector");
        assert_eq!(store.series(&sel).len(), want, "{name}");
        g.bench_function(BenchmarkId::new("series", name), |b| {
            b.iter(|| black_box(store.series(black_box(&sel))))
        });
        g.bench_function(BenchmarkId::new("query_empty_range", name), |b| {
            b.iter(|| black_box(store.query(black_box(&sel), 0, 0).expect("query")))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    targets = decode, segment_read, select
}
criterion_main!(benches);
