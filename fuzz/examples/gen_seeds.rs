//! Writes the seed corpora under `fuzz/corpus/<target>/seed-*`.
//!
//! Run from `fuzz/`: `cargo run --example gen_seeds`. Real files come from a small store
//! written through the public API with a manual clock (sealed segments, an open window log,
//! the index, the state file and the rollup segments of its `10s` and `60s` tiers); the rest
//! is built with the format encoders or by hand.
//! Seeds are deterministic, so re-running only rewrites the same files.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tierlog::segment::codec;
use tierlog::logfile::frame::encode_frame;
use tierlog::format::header::{FileKind, HEADER_LEN, Header};
use tierlog::index::format::IndexRecord;
use tierlog::segment::format::{self as segment, ROLLUP_TIER, SegmentBuilder};
use tierlog::state::format::{State, TierState};
use tierlog::wal::format::{self as wal, LoggedSample};
use tierlog::rollup::{Bucket, aggregate};
use tierlog::{Config, ManualClock, MetricKind, MetricMeta, Sample, Store};

const T0: i64 = 1_700_000_400_000;

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut out = Seeds { corpus };

    let files = store_files();
    for (name, bytes) in &files {
        let kind = FileKind::from_magic(&bytes[..8]).expect("tierlog file");
        out.put("header", name, &bytes[..HEADER_LEN.min(bytes.len())]);
        match kind {
            FileKind::WindowLog | FileKind::Index | FileKind::ForwardLateLog => {
                out.put("log_frames", name, &bytes[HEADER_LEN..]);
                out.put("segment", name, bytes);
            }
            FileKind::Segment => {
                out.put("segment", name, bytes);
                let h = Header::decode(bytes, FileKind::Segment).unwrap();
                let f = segment::decode_footer(bytes, &h).unwrap();
                // A rollup segment's chunks are rollup chunks, a raw one's codec chunks.
                let (target, n) = if h.tier == ROLLUP_TIER {
                    ("rollup_chunk", 2)
                } else {
                    ("codec_decode", 12)
                };
                for (i, e) in f.entries.iter().enumerate().take(n) {
                    let chunk = segment::chunk_bytes(bytes, e).unwrap();
                    out.put(target, &format!("{name}-chunk{i}"), chunk);
                }
            }
            FileKind::State => {
                out.put("state", name, bytes);
                out.put("segment", name, bytes);
            }
            FileKind::ForwardCheckpoint => {
                out.put("forward_checkpoint", name, bytes);
            }
            // No fuzz target of its own: its decoder is covered by unit tests; the generic
            // file targets still see it.
            FileKind::DeleteIntent => {
                out.put("segment", name, bytes);
            }
        }
    }

    synthetic_files(&mut out);
    codec_seeds(&mut out);
    roundtrip_seeds(&mut out);
    prom_seeds(&mut out);
    import_seeds(&mut out);
    selector_seeds(&mut out);
    store_ops_seeds(&mut out);
}

struct Seeds {
    corpus: PathBuf,
}

impl Seeds {
    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.corpus.join(target);
        fs::create_dir_all(&dir).unwrap();
        let name: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
}

/// Writes a small store and returns its files as (name, bytes).
fn store_files() -> Vec<(String, Vec<u8>)> {
    let dir = std::env::temp_dir().join(format!("tierlog-gen-seeds-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let clock = Arc::new(ManualClock::new(T0));
    let mut config = Config::default().with_clock(clock.clone());
    config.window_span = Duration::from_secs(600);
    let store = Store::open(&dir, config).unwrap();
    store
        .set_metric_meta(
            "cpu_seconds_total",
            MetricMeta {
                kind: MetricKind::Counter,
                unit: "seconds".into(),
                description: "CPU time by mode.\nSecond line.".into(),
            },
        )
        .unwrap();
    store
        .set_metric_meta(
            "temp_celsius",
            MetricMeta {
                kind: MetricKind::Gauge,
                unit: "celsius".into(),
                description: String::new(),
            },
        )
        .unwrap();
    // Three windows of 15 s samples; the last one stays open.
    let mut rng = 0x1234_5678_u64;
    for i in 0..150i64 {
        let ts = T0 + i * 15_000;
        clock.set(ts);
        let user = 100.0 + i as f64 * 0.25;
        let idle = 5000.5 + i as f64 * 1.75;
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let temp = 40.0 + (rng >> 40) as f64 / 1e6;
        let load = ((rng >> 50) % 400) as f64 / 100.0;
        let odd = if i % 17 == 0 { f64::NAN } else { -0.0 };
        let samples = [
            Sample::new("cpu_seconds_total", &[("mode", "user")], ts, user),
            Sample::new("cpu_seconds_total", &[("mode", "idle")], ts, idle),
            Sample::new(
                "temp_celsius",
                &[("sensor", "cpu"), ("zone", "é")],
                ts,
                temp,
            ),
            Sample::new("load1", &[], ts, load),
            Sample::new("up", &[("job", "node")], ts, 1.0),
            Sample::new("odd", &[], ts + 7, odd),
        ];
        store.write(&samples).unwrap();
    }
    store.maintain().unwrap();
    store.close().unwrap();

    let mut files = Vec::new();
    collect(&dir, &dir, &mut files);
    fs::remove_dir_all(&dir).unwrap();
    files.sort();
    assert!(
        files.iter().any(|(n, _)| n.ends_with(".seg")),
        "no segment written"
    );
    assert!(
        files.iter().any(|(n, _)| n.ends_with(".wal")),
        "no window log written"
    );
    files
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(root, &p, out);
            continue;
        }
        let bytes = fs::read(&p).unwrap();
        if bytes.len() >= HEADER_LEN && FileKind::from_magic(&bytes[..8]).is_some() {
            let name = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            out.push((name, bytes));
        }
    }
}

/// Small files built with the encoders, including damaged ones.
fn synthetic_files(out: &mut Seeds) {
    // Window log body: two records, then variants.
    let mut p1 = Vec::new();
    wal::encode_samples(
        &[
            LoggedSample {
                series: 1,
                ts_ms: T0,
                value: 1.5,
            },
            LoggedSample {
                series: 2,
                ts_ms: T0 + 999,
                value: f64::NAN,
            },
        ],
        &mut p1,
    );
    let mut p2 = Vec::new();
    IndexRecord::Series {
        id: 3,
        metric: 1,
        hash: 0x0102_0304_0506_0708,
        labels: tierlog::Labels::canonical(&[("a", "b"), ("zone", "é")]),
    }
    .encode(&mut p2);
    let mut p3 = Vec::new();
    IndexRecord::Metric {
        id: 1,
        kind: MetricKind::Gauge,
        name: "up".into(),
        unit: "s".into(),
        description: "hi".into(),
    }
    .encode(&mut p3);
    let mut body = Vec::new();
    encode_frame(&p1, &mut body);
    encode_frame(&p2, &mut body);
    encode_frame(&p3, &mut body);
    out.put("log_frames", "three-frames", &body);
    let mut torn = body.clone();
    torn.truncate(body.len() - 3);
    out.put("log_frames", "torn", &torn);
    let mut damaged = body.clone();
    damaged[FRAME + 2] ^= 0x40;
    out.put("log_frames", "damaged", &damaged);
    let mut zeros = body[..body.len() / 2].to_vec();
    zeros.extend_from_slice(&[0; 40]);
    out.put("log_frames", "zero-tail", &zeros);
    out.put("log_frames", "wal-payload", &p1);
    out.put("log_frames", "index-series-payload", &p2);
    out.put("log_frames", "index-metric-payload", &p3);

    // Segments.
    let h = Header::new(FileKind::Segment, 0, T0, 600_000);
    out.put("segment", "empty", &SegmentBuilder::new(h).finish());
    let mut b = SegmentBuilder::new(h);
    b.add_raw_series(1, &[T0, T0 + 1000], &[1.0, 2.0]);
    b.add_raw_series(5, &[T0 + 100_000], &[f64::NAN]);
    let small = b.finish();
    out.put("segment", "small", &small);
    let mut bad_chunk = small.clone();
    bad_chunk[HEADER_LEN + 1] ^= 1;
    out.put("segment", "small-bad-chunk", &bad_chunk);
    let mut b = SegmentBuilder::new(h);
    b.add_chunk(2, 2, T0, T0 + 1, &[0xAA, 0xBB]);
    out.put("segment", "undecodable-chunk", &b.finish());
    let mut wal_file = Header::new(FileKind::WindowLog, 0, T0, 600_000)
        .encode()
        .to_vec();
    wal_file.extend_from_slice(&damaged);
    out.put("segment", "damaged-wal-file", &wal_file);

    // Rollup segments (header tier 1): a gauge and a counter in a 10-minute piece.
    let rollup = rollup_segment();
    out.put("segment", "rollup-small", &rollup);
    out.put("segment", "rollup-truncated", &rollup[..rollup.len() - 9]);
    let mut bad_chunk = rollup.clone();
    bad_chunk[HEADER_LEN + 5] ^= 0x08;
    out.put("segment", "rollup-bad-chunk", &bad_chunk);
    // The same bytes read as a raw segment, and a raw segment read as a rollup one.
    let mut as_raw = rollup.clone();
    as_raw[10] = 0;
    let c = tierlog::format::crc(&as_raw[..28]);
    as_raw[28..32].copy_from_slice(&c.to_le_bytes());
    out.put("segment", "rollup-as-raw", &as_raw);
    let mut as_rollup = small.clone();
    as_rollup[10] = ROLLUP_TIER as u8;
    let c = tierlog::format::crc(&as_rollup[..28]);
    as_rollup[28..32].copy_from_slice(&c.to_le_bytes());
    out.put("segment", "raw-as-rollup", &as_rollup);

    // State and headers.
    let s = State {
        window_span: 600_000,
        clock_high_water: T0,
        sealed_through: T0 - 600_000,
        tiers: vec![
            TierState {
                name: "10s".into(),
                interval: 10_000,
                keep: 86_400_000,
                done_through: T0 - 600_000,
            },
            TierState {
                name: "1h".into(),
                interval: 3_600_000,
                keep: 90 * 86_400_000,
                done_through: i64::MIN,
            },
        ],
        retention: None,
        identity: None,
    };
    out.put("state", "synthetic", &s.encode());
    let s = State {
        window_span: i64::MIN,
        clock_high_water: -1,
        sealed_through: i64::MAX,
        tiers: vec![TierState {
            name: "a".repeat(32),
            interval: i64::MIN,
            keep: -1,
            done_through: i64::MAX,
        }],
        retention: None,
        identity: None,
    };
    out.put("state", "extremes", &s.encode());
    // Version 1: 52 bytes, no tiers.
    let mut v1 = Header {
        kind: FileKind::State,
        version: 1,
        tier: 0,
        window_start: 0,
        window_span: 600_000,
    }
    .encode()
    .to_vec();
    v1.extend_from_slice(&T0.to_le_bytes());
    v1.extend_from_slice(&(T0 - 600_000).to_le_bytes());
    let c = tierlog::format::crc(&v1[HEADER_LEN..]);
    v1.extend_from_slice(&c.to_le_bytes());
    out.put("state", "v1", &v1);
    let mut v2 = Header::new(FileKind::Index, 7, -5, i64::MAX).encode();
    v2[8] = 2;
    out.put("header", "newer-version", &v2);
    out.put(
        "header",
        "tier",
        &Header::new(FileKind::Segment, 3, i64::MIN, 1).encode(),
    );
}

const FRAME: usize = tierlog::logfile::frame::FRAME_HEADER_LEN;

/// A rollup segment of one piece (10 s buckets, 10 minutes): series 1 a gauge with NaNs and
/// several points per bucket, series 3 a counter of 15 s samples with a reset.
fn rollup_segment() -> Vec<u8> {
    let mut b = SegmentBuilder::new(Header::new(FileKind::Segment, ROLLUP_TIER, T0, 600_000));
    let gauge: Vec<(i64, f64)> = (0..120)
        .map(|i| {
            let v = if i % 11 == 0 {
                f64::NAN
            } else {
                (i % 9) as f64 * 0.5
            };
            (T0 + i * 5_000, v)
        })
        .collect();
    let counter: Vec<(i64, f64)> = (0..40)
        .map(|i| {
            (
                T0 + i * 15_000,
                if i < 25 {
                    i as f64 * 4.0
                } else {
                    (i - 25) as f64
                },
            )
        })
        .collect();
    for (id, points, is_counter) in [(1, gauge, false), (3, counter, true)] {
        let mut buckets: Vec<Bucket> = Vec::new();
        aggregate(&points, 10_000, is_counter, None, &mut buckets);
        let mut c = Vec::new();
        tierlog::rollup::format::encode_chunk(&buckets, T0, &mut c);
        let last = buckets[buckets.len() - 1].start;
        b.add_chunk(id, buckets.len() as u32, buckets[0].start, last, &c);
    }
    b.finish()
}

fn chunk(ts: &[i64], vs: &[f64]) -> Vec<u8> {
    let mut b = Vec::new();
    codec::encode_chunk(ts, vs, &mut b);
    b
}

fn codec_seeds(out: &mut Seeds) {
    let ts: Vec<i64> = (0..300).map(|i| T0 + i * 15_000).collect();
    let irregular: Vec<i64> = (0..40).map(|i| T0 + i * i * 7 + i).collect();
    let counter: Vec<f64> = (0..300).map(|i| 1000.0 + i as f64 * 2.5).collect();
    let cents: Vec<f64> = (0..300).map(|i| ((i * 37) % 1000) as f64 / 100.0).collect();
    let noise: Vec<f64> = (0..300)
        .map(|i| ((i as f64) * 0.7).sin() * 1e3 + 1.0 / 3.0)
        .collect();
    let special = [
        f64::NAN,
        f64::from_bits(0x7ff8_0000_dead_beef),
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MIN_POSITIVE,
        f64::MAX,
        5e-324,
        1e300,
    ];
    out.put("codec_decode", "empty", &chunk(&[], &[]));
    out.put("codec_decode", "one", &chunk(&[T0], &[42.0]));
    out.put("codec_decode", "constant", &chunk(&ts, &vec![1.0; 300]));
    out.put("codec_decode", "counter", &chunk(&ts, &counter));
    out.put("codec_decode", "cents", &chunk(&ts, &cents));
    out.put("codec_decode", "noise", &chunk(&ts, &noise));
    out.put("codec_decode", "special", &chunk(&ts[..10], &special));
    out.put(
        "codec_decode",
        "irregular",
        &chunk(&irregular, &counter[..40]),
    );
    out.put(
        "codec_decode",
        "extreme-ts",
        &chunk(&[i64::MIN, -1, 0, i64::MAX], &[1.0, 2.0, 3.0, 4.0]),
    );
    // Single value columns, one per codec.
    for (name, vals) in [
        ("values-counter", &counter[..]),
        ("values-cents", &cents[..]),
        ("values-noise", &noise[..]),
        ("values-special", &special[..]),
    ] {
        let mut b = Vec::new();
        codec::encode_values(vals, &mut b);
        out.put("codec_decode", name, &b);
    }
    // A raw column (every value NaN with a different payload is cheapest raw).
    let nans: Vec<f64> = (0..5u64)
        .map(|i| f64::from_bits(0x7ff0_0000_0000_0001 + i * 0x0001_2345_6789_abcd))
        .collect();
    let mut b = Vec::new();
    codec::encode_values(&nans, &mut b);
    out.put("codec_decode", "values-nans", &b);
}

fn roundtrip_seeds(out: &mut Seeds) {
    // Raw mode (bit 0 clear): mode, t0, then per point u16 delta + u64 value bits.
    for (name, mode, vals) in [
        ("raw-1s", 0u8, vec![1.5, 2.5, f64::NAN, -0.0, 1e300, 3.0]),
        ("raw-unit1", 2, vec![0.1, 0.2, 0.30000000000000004, 0.4]),
        ("raw-15s", 4, vec![f64::INFINITY, f64::NEG_INFINITY, 0.0]),
    ] {
        let mut b = vec![mode];
        b.extend_from_slice(&T0.to_le_bytes());
        for (i, v) in vals.iter().enumerate() {
            b.extend_from_slice(&(i as u16 * 3).to_le_bytes());
            b.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        out.put("codec_roundtrip", name, &b);
    }
    // Decimal mode (bit 0 set): mode, t0, k, then per point u16 delta + i32 n.
    for (name, mode, k, ns) in [
        (
            "dec-counter",
            1u8,
            2u8,
            (0..40).map(|i| 1000 + i * 25).collect::<Vec<i32>>(),
        ),
        (
            "dec-gauge",
            3,
            1,
            (0..40).map(|i| (i * 37) % 100 - 50).collect(),
        ),
        ("dec-k9", 5, 9, vec![1, 2, 3, 123_456_789, -7]),
        ("dec-k11", 7, 11, vec![1, 10, 100, 1000]),
    ] {
        let mut b = vec![mode];
        b.extend_from_slice(&T0.to_le_bytes());
        b.push(k);
        for n in ns {
            b.extend_from_slice(&0u16.to_le_bytes());
            b.extend_from_slice(&n.to_le_bytes());
        }
        out.put("codec_roundtrip", name, &b);
    }
    let mut b = vec![0u8];
    b.extend_from_slice(&(i64::MAX - 5000).to_le_bytes());
    b.extend_from_slice(&[0; 40]);
    out.put("codec_roundtrip", "overflow", &b);
}

fn prom_seeds(out: &mut Seeds) {
    let node = include_str!("../../examples/node.prom");
    let head: String = node.lines().take(40).map(|l| format!("{l}\n")).collect();
    out.put("prom_parse", "node-head", head.as_bytes());
    let cases: &[(&str, &str)] = &[
        (
            "metadata",
            "# HELP http_requests_total The total.\\nNumber \\\\ of \\x requests.\n\
             # TYPE http_requests_total counter\r\n\
             # UNIT http_requests_total requests\n\
             \n   \t\n# just a comment\n#\n# HELP\n",
        ),
        (
            "labels",
            "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
             http_requests_total{ method = \"post\" , code=\"400\", }\t3   1395066363000 \r\n\
             escaped{path=\"C:\\\\dir\\\\\",q=\"say \\\"hi\\\"\\n\"} -Inf\n\
             empty{} NaN\n\tspaced:name {a=\"é€\"} 1e-3\n",
        ),
        (
            "values",
            "a 1\nb +Inf\nc -inf\nd nan\ne 1.5E+10 0\nf 7 -5\ng -0 1\nh 5e-324\ni .5\n",
        ),
        (
            "errors",
            "m\nm{a=\"b\"}\nm{1a=\"b\"} 1\nm{a=b} 1\nm{a=\"b} 1\nm{a=\"x\\ty\"} 1\n\
             m 1.2.3\nm 1 123 x\nm 1 99999999999999999999\n# TYPE m countr\n# TYPE m\n\
             # UNIT m a-b\nm{a=\"1\",a=\"2\"} 1\nm-x 1\n1m 1\n",
        ),
    ];
    for (name, text) in cases {
        out.put("prom_parse", name, text.as_bytes());
    }
    out.put(
        "prom_parse",
        "bad-utf8",
        b"a 1\nb{x=\"\xe2\x82\xac\xff\"} 2\nc 3",
    );
}

/// OpenMetrics, line protocol (first byte: precision) and CSV: one valid file with escapes
/// and every value kind, and one with an error per line.
fn import_seeds(out: &mut Seeds) {
    let om: &[(&str, &str)] = &[
        (
            "families",
            "# HELP req The \\\"total\\\".\n# TYPE req counter\n# UNIT req requests\n\
             req_total{code=\"200\"} 1027 1700000000.5 # {trace_id=\"ab\"} 1 1700000000.25\n\
             req_created{code=\"200\"} 1699990000\n\
             # TYPE t gauge\nt -Inf 1.7e9\nt NaN -1.001\n\
             # TYPE b info\nb_info{v=\"é\"} 1\n# EOF\n",
        ),
        (
            "errors",
            "m 1 17e\nm 1 # {a=\"b\"}\nm 1 # {a=b} 1\n# TYPE m untyped\n# EOF x\n\
             m 1\n# EOF\nafter 1\n",
        ),
        ("no-eof", "m 1 1\n# TYPE c counter\n"),
    ];
    for (name, text) in om {
        out.put("openmetrics_parse", name, text.as_bytes());
    }
    let lp: &[(&str, u8, &str)] = &[
        (
            "fields",
            0,
            "# comment\n\
             cpu,host=a,region=eu usage_idle=98.5,usage_user=1.5 1700000000123456789\n\
             mem,host=a used=3i,free=7u,ok=true,bad=F,msg=\"hi, \\\"you\\\"\",x=-2e3\n\
             disk.io,dev-name=sda read-bytes=1e3,9z=T 1700000000000000000\r\n",
        ),
        (
            "escapes-seconds",
            3,
            "my\\ meas\\,ure=x,t\\ k\\=y=v\\,a\\ l\\=ue\\\\ f\\=i\\,eld\\ x=1,s=\"a\\\\b\\\"c\" 5\n\
             back\\slash,k=a\\b v=2 -1\n",
        ),
        (
            "errors",
            2,
            "m\n,t=1 v=1\nm,t v=1\nm,t=a=b v=1\nm,__x=1 v=1\nm,a-b=1,a_b=2 v=1\nm v=\n\
             m v=abc\nm v=1.5i\nm v=-1u\nm v=1e999\nm v=\"abc\nm v=1,v=2\nm v=1 1.5\n\
             m v=1 1 2\nm v=1 9223372036854775807\n",
        ),
    ];
    for (name, precision, text) in lp {
        let mut b = vec![*precision];
        b.extend_from_slice(text.as_bytes());
        out.put("influx_parse", name, &b);
    }
    let csv: &[(&str, &str)] = &[
        (
            "quoting",
            "\u{feff}metric,host,ts,value,dc\r\n\
             cpu,a,1700000000000,1.5,eu\r\n\
             cpu,\"b,\"\"q\"\"\",2023-11-14T22:13:20.5Z,2,\n\n\
             mem, a ,  1700000000001 , -Inf ,\"multi\r\nline\"\n\
             mem,,,NaN,\n",
        ),
        (
            "row-errors",
            "Value,TIME,__name__,zone\n3,5,x,z\nm,a\n,1,2,3\nm-x,1,2,3\n1,yesterday,m,z\n\
             x,1,m,z\n1,1,m,a\"b\n1,1,m,\"a\"b\n1,1,m,\"open\n",
        ),
        ("header-error", "metric,ts,time,value\nm,1,2,3\n"),
    ];
    for (name, text) in csv {
        out.put("csv_parse", name, text.as_bytes());
    }
}

fn selector_seeds(out: &mut Seeds) {
    let cases = [
        "up",
        "job:rate5m{}",
        " http_requests_total { job = \"api\" , path!~'/d\\'bg.*' ,code=~`5..`,x!=\"\\\\\\\"\\n\\t\\u00e9\\x41\\101\", } ",
        "{__name__=\"up\", job=\"x\"}",
        "{__name__=~\"node_.*\"}",
        "{__name__=\"a-b\"}",
        "{a=~`\\d+\\n`}",
        "{a=\"\\u0001\\U0001F600\"}",
        "m{a=\"\"}",
        "up{job=~\"(\"}",
        "up{job=\"\\ud800\"}",
        "{a!=\"\"}",
    ];
    for (i, c) in cases.iter().enumerate() {
        out.put("selector", &format!("{i:02}"), c.as_bytes());
    }
}

/// Programs for `store_ops` (see `tierlog_testkit::fuzzing::store_ops` for the op encoding).
fn store_ops_seeds(out: &mut Seeds) {
    fn write(p: &mut Vec<u8>, series: u8, offset_quarters: i16, value_tenths: i16) {
        p.extend_from_slice(&[0, series]);
        p.extend_from_slice(&offset_quarters.to_le_bytes());
        p.push(1);
        p.extend_from_slice(&value_tenths.to_le_bytes());
    }
    fn advance(p: &mut Vec<u8>, tenths_of_s: u16) {
        p.push(4);
        p.extend_from_slice(&tenths_of_s.to_le_bytes());
    }
    fn query(p: &mut Vec<u8>, from_quarters: i16, len_tenths: u16) {
        p.push(7);
        p.extend_from_slice(&from_quarters.to_le_bytes());
        p.extend_from_slice(&len_tenths.to_le_bytes());
    }
    // Steady 5 s samples over four windows, sealing and reopening.
    let mut p = Vec::new();
    for i in 0..48u8 {
        write(&mut p, i % 4, 0, i16::from(i) * 3);
        advance(&mut p, 50);
        if i % 16 == 15 {
            p.push(5);
        }
    }
    query(&mut p, -2000, 6000);
    p.push(6);
    out.put("store_ops", "steady", &p);

    // Several samples per second (means), special values, late and far-future samples.
    let mut p = Vec::new();
    write(&mut p, 0, 0, 10);
    write(&mut p, 0, 1, 20);
    write(&mut p, 0, 2, 35);
    p.extend_from_slice(&[1, 2, 0, 0, 3, 0]); // NaN
    p.extend_from_slice(&[2, 2, 4, 0, 3, 3]); // -0.0
    p.extend_from_slice(&[3, 3, 8, 0, 0]);
    p.extend_from_slice(&0x7ff8_0000_0000_0abcu64.to_le_bytes());
    advance(&mut p, 1200);
    write(&mut p, 1, -480, 7); // two minutes back: sealed or due
    write(&mut p, 1, 2000, 7); // 500 s ahead: beyond the future limit
    write(&mut p, 1, 0, 7);
    p.push(5);
    query(&mut p, -1000, 3000);
    p.push(6);
    write(&mut p, 1, 4, 8);
    out.put("store_ops", "edges", &p);

    // Reopen while windows are open, then keep writing into them.
    let mut p = Vec::new();
    for i in 0..12i16 {
        write(&mut p, (i % 3) as u8, i * 4, i);
        if i == 6 {
            p.push(6);
        }
    }
    advance(&mut p, 900);
    p.push(6);
    p.push(5);
    out.put("store_ops", "reopen-open-window", &p);
}
