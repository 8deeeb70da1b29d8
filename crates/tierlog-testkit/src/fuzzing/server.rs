//! Fuzz entry points of the server's write endpoints' decoders
//! (`tierlog_server::write_decode`): the body of `POST /api/v1/write` (snappy, protobuf
//! `WriteRequest`), of `POST /api/v1/import/prometheus` (text exposition) and of `POST /write`
//! (InfluxDB line protocol, each precision), plain or gzip, under small limits picked by the
//! input's first two bytes.
//!
//! A body may be refused with 400, 413 or 415 (and a message), never by a panic; what decodes
//! stays within the limits: its decompressed size within `max_decoded_bytes`, its samples
//! (stale markers included) within `max_samples`, and every sample's name and labels within
//! the store's rules and limits (what the store's write would refuse never reaches it).

use std::io::Write as _;

use tierlog::Limits;
use tierlog::model::{check_label_set, check_metric_name};
use tierlog_server::WriteLimits;
use tierlog_server::write_decode::{self, Decoded, Refused};

/// The write limits and the store's limits chosen by `a` and `b`: decompressed bodies of
/// 64 B to 8 KiB, 1 to 29 samples, 1 to 4 labels, names of 8 or 255 bytes, label values of
/// 8 or 4096 bytes.
fn limits(a: u8, b: u8) -> (WriteLimits, Limits) {
    let w = WriteLimits {
        max_decoded_bytes: 64 << (a & 7),
        max_samples: 1 + usize::from((a >> 3) & 7) * 4,
        ..WriteLimits::default()
    };
    let s = Limits {
        max_labels: 1 + usize::from((b >> 5) & 3),
        max_name_bytes: if b & 0x80 != 0 { 8 } else { 255 },
        max_value_bytes: if a & 0x40 != 0 { 8 } else { 4096 },
        ..Limits::default()
    };
    (w, s)
}

/// The rules every answer follows (module docs); `compressed`: the body was decompressed
/// (a plain body is bounded by `max_body_bytes` when it is read, not here).
fn check(r: &Result<Decoded, Refused>, w: &WriteLimits, s: &Limits, compressed: bool) {
    match r {
        Ok(d) => {
            assert!(
                !compressed || d.decoded_bytes <= w.max_decoded_bytes,
                "{} decoded bytes",
                d.decoded_bytes
            );
            assert!(
                d.samples.len() as u64 + d.stale_markers <= w.max_samples as u64,
                "{} samples, {} stale markers",
                d.samples.len(),
                d.stale_markers
            );
            for x in &d.samples {
                check_metric_name(&x.metric, s).unwrap_or_else(|e| panic!("{x:?}: {e}"));
                check_label_set(&x.labels, s).unwrap_or_else(|e| panic!("{x:?}: {e}"));
                assert_ne!(x.value.to_bits(), tierlog_server::STALE_NAN_BITS, "{x:?}");
            }
        }
        Err(e) => {
            assert!(
                matches!(e.status, 400 | 413 | 415),
                "status {}: {}",
                e.status,
                e.message
            );
            assert!(!e.message.is_empty());
        }
    }
}

/// Two answers are the same: the same samples (NaN values compared by bits), or the same
/// status.
fn assert_same(a: &Result<Decoded, Refused>, b: &Result<Decoded, Refused>) {
    match (a, b) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.samples.len(), b.samples.len());
            for (x, y) in a.samples.iter().zip(&b.samples) {
                assert_eq!(
                    (&x.metric, &x.labels, x.ts_ms, x.value.to_bits()),
                    (&y.metric, &y.labels, y.ts_ms, y.value.to_bits())
                );
            }
        }
        (Err(a), Err(b)) => assert_eq!(a.status, b.status, "{} / {}", a.message, b.message),
        (a, b) => panic!("{a:?} / {b:?}"),
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip to memory");
    e.finish().expect("gzip to memory")
}

/// A text endpoint's decoder over the bytes after the first two: byte 0 picks the limits
/// (`limits`), byte 1's low two bits the body: as is, as is with `Content-Encoding:
/// identity`, taken as gzip (the gzip decoder fuzzed), or gzipped here (then its answer must be
/// the plain body's, or a refusal when the plain body is larger than `max_decoded_bytes`: 413
/// when the plain body is taken).
fn text(
    data: &[u8],
    decode: impl Fn(Option<&str>, &[u8], &WriteLimits, &Limits) -> Result<Decoded, Refused>,
) {
    let [a, b, body @ ..] = data else {
        return;
    };
    let (w, s) = limits(*a, *b);
    match b & 3 {
        0 => check(&decode(None, body, &w, &s), &w, &s, false),
        1 => check(&decode(Some("identity"), body, &w, &s), &w, &s, false),
        2 => check(&decode(Some("gzip"), body, &w, &s), &w, &s, true),
        _ => {
            let zipped = decode(Some("GZip "), &gzip(body), &w, &s);
            check(&zipped, &w, &s, true);
            let plain = decode(None, body, &w, &s);
            check(&plain, &w, &s, false);
            if body.len() <= w.max_decoded_bytes {
                assert_same(&zipped, &plain);
            } else if plain.is_ok() {
                assert!(
                    matches!(&zipped, Err(e) if e.status == 413),
                    "{} bytes: {zipped:?}",
                    body.len()
                );
            } else {
                assert!(zipped.is_err(), "{} bytes: {zipped:?}", body.len());
            }
        }
    }
}

/// `POST /api/v1/import/prometheus`'s decoder (see `text` for the first two bytes).
pub fn prom_import_decode(data: &[u8]) {
    text(data, write_decode::prometheus_text);
}

/// The `precision` query strings byte 1's bits 2 to 4 pick.
const INFLUX_QUERIES: [Option<&str>; 8] = [
    None,
    Some("precision=ns"),
    Some("db=x&precision=u"),
    Some("precision=ms"),
    Some("precision=s&rp=autogen"),
    Some("precision=%C2%B5"),
    Some("precision="),
    Some("precision=h"),
];

/// `POST /write`'s decoder, with the precision byte 1's bits 2 to 4 pick from
/// `INFLUX_QUERIES` (`precision=h` is refused with 400 whatever the body); see `text` for
/// the rest. Values that decode are finite.
pub fn influx_write_decode(data: &[u8]) {
    let Some(&b) = data.get(1) else {
        return;
    };
    let query = INFLUX_QUERIES[usize::from((b >> 2) & 7)];
    text(data, |enc, body, w, s| {
        let r = write_decode::influx(query, enc, body, w, s);
        if query == Some("precision=h") {
            assert!(matches!(&r, Err(e) if e.status == 400), "{r:?}");
        }
        if let Ok(d) = &r {
            assert!(d.samples.iter().all(|x| x.value.is_finite()), "{d:?}");
        }
        r
    });
}

/// `POST /api/v1/write`'s decoder over the bytes after the first two: byte 0 picks the limits
/// (`limits`); byte 1's low bit whether the rest is the body as sent (the snappy decoder
/// fuzzed) or a protobuf `WriteRequest` snappy-compressed here (the protobuf decoder and the
/// series checks fuzzed), bit 1 whether `Content-Encoding: snappy` is sent, and bit 2 makes
/// it `gzip` instead, which must be refused with 415.
pub fn remote_write_decode(data: &[u8]) {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let (w, s) = limits(*a, *b);
    let compressed;
    let body = if b & 1 == 0 {
        rest
    } else {
        compressed = snap::raw::Encoder::new()
            .compress_vec(rest)
            .expect("snappy to memory");
        &compressed[..]
    };
    let encoding = match (b >> 1) & 3 {
        0 | 2 => None,
        1 => Some("snappy"),
        _ => Some("gzip"),
    };
    let r = write_decode::remote_write(encoding, body, &w, &s);
    check(&r, &w, &s, true);
    if encoding == Some("gzip") {
        assert!(matches!(&r, Err(e) if e.status == 415), "{r:?}");
    }
    if b & 1 == 1 && rest.len() > w.max_decoded_bytes {
        assert!(
            matches!(&r, Err(e) if e.status == 413 || e.status == 415),
            "{r:?}"
        );
    }
}

/// The store remote reads are fuzzed against, built once: a counter, gauges with NaN and
/// ±Inf, several label sets (one non-ASCII), over ten minutes at 15 s.
fn read_store() -> &'static tierlog::Store {
    use std::sync::{Arc, OnceLock};
    static STORE: OnceLock<(tempfile::TempDir, tierlog::Store)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let clock = Arc::new(tierlog::ManualClock::new(crate::helpers::T0 + 3_600_000));
            let store = crate::helpers::open(dir.path(), &clock);
            let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0];
            for i in 0..40i64 {
                let t = crate::helpers::T0 + i * 15_000;
                let gauge = if i % 9 == 4 {
                    specials[(i / 9) as usize % 4]
                } else {
                    (i * 37 % 101) as f64 / 4.0
                };
                let samples = [
                    tierlog::Sample::new("up", &[("job", "a"), ("instance", "x:1")], t, 1.0),
                    tierlog::Sample::new("up", &[("job", "b"), ("instance", "é:2")], t, 0.0),
                    tierlog::Sample::new("c_total", &[("job", "a")], t, (i * i) as f64),
                    tierlog::Sample::new("g", &[("sensor", "s")], t, gauge),
                ];
                store.write(&samples).expect("write");
            }
            (dir, store)
        })
        .1
}

/// `POST /api/v1/read`'s work (`tierlog_server::read_decode::remote_read`) on a small store.
/// The first byte picks the sample limit (1 to 4^7) and whether the rest of the input is the
/// body as sent (bit 3 clear: the snappy decoder sees it) or a `ReadRequest` the harness
/// compresses (bit 3 set: the protobuf decoder and the queries see it).
///
/// A request may be refused with 400 or 413, never by a panic; an answer decodes, holds one
/// result per query (or frames naming a query of the request) with samples or chunks inside
/// each query's `[start, end]`, labels sorted by name with `__name__` among them, and no more
/// samples than the limit.
pub fn remote_read_decode(data: &[u8]) {
    use prost::Message as _;
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let max_samples = 1usize << (2 * u32::from(first & 7));
    let body = if first & 8 != 0 {
        snap::raw::Encoder::new()
            .compress_vec(rest)
            .expect("snappy compresses anything")
    } else {
        rest.to_vec()
    };
    let store = read_store();
    let answer = match tierlog_server::read_decode::remote_read(store, &body, max_samples) {
        Ok(a) => a,
        Err(e) => {
            assert!(
                matches!(e.status, 400 | 413),
                "status {}: {}",
                e.status,
                e.message
            );
            assert!(!e.message.is_empty());
            return;
        }
    };
    let req: tierlog_prompb::ReadRequest =
        tierlog_prompb::decode_snappy(&body).expect("an answered request decodes");
    let span = |i: usize| {
        let q = &req.queries[i];
        (q.start_timestamp_ms, q.end_timestamp_ms)
    };
    let sorted_with_name = |labels: &[tierlog_prompb::Label]| {
        labels.windows(2).all(|w| w[0].name < w[1].name)
            && labels.iter().any(|l| l.name == "__name__")
    };
    if !answer.streamed {
        let resp: tierlog_prompb::ReadResponse =
            tierlog_prompb::decode_snappy(&answer.body).expect("the answer decodes");
        assert_eq!(resp.results.len(), req.queries.len());
        let mut total = 0;
        for (i, r) in resp.results.iter().enumerate() {
            let (start, end) = span(i);
            for ts in &r.timeseries {
                assert!(sorted_with_name(&ts.labels), "{:?}", ts.labels);
                assert!(!ts.samples.is_empty());
                assert!(
                    ts.samples
                        .windows(2)
                        .all(|w| w[0].timestamp < w[1].timestamp)
                );
                assert!(
                    ts.samples
                        .iter()
                        .all(|s| s.timestamp >= start && s.timestamp <= end),
                    "query {i} [{start}, {end}]"
                );
                total += ts.samples.len();
            }
        }
        assert!(total <= max_samples, "{total} samples, limit {max_samples}");
        return;
    }
    // Frames: uvarint length, CRC-32C (big-endian) of the message, a ChunkedReadResponse.
    let mut rest = &answer.body[..];
    while !rest.is_empty() {
        let (msg, after) = tierlog_prompb::next_frame(rest).expect("a frame, its CRC-32C right");
        rest = after;
        let m = tierlog_prompb::ChunkedReadResponse::decode(msg).expect("a frame decodes");
        let q = usize::try_from(m.query_index).expect("query index");
        assert!(q < req.queries.len(), "query index {q}");
        let (start, end) = span(q);
        for s in &m.chunked_series {
            assert!(sorted_with_name(&s.labels), "{:?}", s.labels);
            for c in &s.chunks {
                assert!(
                    c.min_time_ms >= start
                        && c.min_time_ms <= c.max_time_ms
                        && c.max_time_ms <= end,
                    "chunk [{}, {}] of query {q} [{start}, {end}]",
                    c.min_time_ms,
                    c.max_time_ms
                );
            }
        }
    }
}
