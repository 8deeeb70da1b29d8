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
