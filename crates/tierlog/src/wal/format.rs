//! Records of a window log (`raw/<start>.wal`). Each frame's payload is one record.
//! See `format-spec/window-log.md`.
//!
//! ```text
//! Samples record
//! offset size field
//!  0     1    record type = 1
//!  1     4    n, number of samples, u32 LE
//!  5     20n  n × { series id u32 LE, timestamp i64 LE ms, value f64 bits u64 LE }
//!
//! Keyed samples record (version 2)
//! offset size field
//!  0     1    record type = 4
//!  1     16   write key
//! 17     4    n, number of samples, u32 LE
//! 21     20n  n × sample, as above
//!
//! Delete record
//! offset size field
//!  0     1    record type = 2
//!  1     8    from, i64 LE ms (inclusive)
//!  9     8    to, i64 LE ms (exclusive)
//! 17     4    n, number of series, u32 LE
//! 21     4n   n × series id u32 LE, strictly ascending
//! ```

use crate::error::Corruption;
use crate::format::bytes::Reader;

/// Record type byte of a samples record.
pub const RECORD_SAMPLES: u8 = 1;
/// Record type byte of a late log's first record, its generation
/// (`format-spec/window-log.md`, "Late logs"). Invalid anywhere else.
pub const RECORD_LATE_GENERATION: u8 = 3;
/// Bytes of a generation record.
pub const LATE_GENERATION_LEN: usize = 9;

/// Appends a late log's generation record's payload to `out`.
pub fn encode_late_generation(generation: u64, out: &mut Vec<u8>) {
    out.push(RECORD_LATE_GENERATION);
    out.extend_from_slice(&generation.to_le_bytes());
}

/// Decodes a late log's first record, its generation (at least 1).
pub fn decode_late_generation(payload: &[u8]) -> Result<u64, Corruption> {
    let mut r = Reader::new(payload);
    if r.u8()? != RECORD_LATE_GENERATION || payload.len() != LATE_GENERATION_LEN {
        return Err(Corruption::BadField {
            what: "late log generation record",
        });
    }
    match r.u64()? {
        0 => Err(Corruption::BadField {
            what: "late log generation 0",
        }),
        g => Ok(g),
    }
}
/// Bytes per sample in a samples record.
pub const SAMPLE_LEN: usize = 20;
/// Most samples one record may hold so that it fits a frame (`frame::MAX_PAYLOAD`).
pub const MAX_SAMPLES_PER_RECORD: usize = (crate::logfile::frame::MAX_PAYLOAD - 5) / SAMPLE_LEN;

/// Record type byte of a keyed samples record: a samples record with the key of the write
/// that logged it (logs of version 2; `format-spec/window-log.md`, "Keyed samples record").
pub const RECORD_KEYED_SAMPLES: u8 = 4;
/// Bytes of a write key.
pub const WRITE_KEY_LEN: usize = 16;
/// Bytes of a keyed samples record before its samples.
pub const KEYED_FIXED_LEN: usize = 1 + WRITE_KEY_LEN + 4;
/// Most samples one keyed record may hold so that it fits a frame.
pub const MAX_SAMPLES_PER_KEYED_RECORD: usize =
    (crate::logfile::frame::MAX_PAYLOAD - KEYED_FIXED_LEN) / SAMPLE_LEN;
const _: () = assert!(
    KEYED_FIXED_LEN + MAX_SAMPLES_PER_KEYED_RECORD * SAMPLE_LEN
        <= crate::logfile::frame::MAX_PAYLOAD
);

/// Record type byte of a delete record (type 3 is reserved).
pub const RECORD_DELETE: u8 = 2;
/// Bytes before the series ids of a delete record.
pub const DELETE_FIXED_LEN: usize = 21;

/// A logged delete: the points of `series` with `from <= ts < to` logged before it are gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedDelete {
    /// Series ids, strictly ascending.
    pub series: Vec<u32>,
    /// Inclusive start, ms.
    pub from: i64,
    /// Exclusive end, ms.
    pub to: i64,
}

/// Appends a delete record's payload to `out` (`series` strictly ascending).
pub fn encode_delete(d: &LoggedDelete, out: &mut Vec<u8>) {
    out.push(RECORD_DELETE);
    out.extend_from_slice(&d.from.to_le_bytes());
    out.extend_from_slice(&d.to.to_le_bytes());
    out.extend_from_slice(&(d.series.len() as u32).to_le_bytes());
    for id in &d.series {
        out.extend_from_slice(&id.to_le_bytes());
    }
}

/// Decodes one record payload of any type a window log holds after its header: `on_sample`
/// for each sample of a samples record (keyed or not), in order, `on_delete` for a delete
/// record. Write keys are not reported (see [`decode_logged`]).
pub fn decode_any(
    payload: &[u8],
    on_sample: impl FnMut(LoggedSample),
    on_delete: impl FnOnce(LoggedDelete),
) -> Result<(), Corruption> {
    decode_logged(payload, |_| {}, on_sample, on_delete)
}

/// [`decode_any`], with `on_key` called with the write key of a keyed samples record (before
/// its samples).
pub fn decode_logged(
    payload: &[u8],
    on_key: impl FnOnce([u8; WRITE_KEY_LEN]),
    on_sample: impl FnMut(LoggedSample),
    on_delete: impl FnOnce(LoggedDelete),
) -> Result<(), Corruption> {
    if payload.first() != Some(&RECORD_DELETE) {
        return decode_samples(payload, on_key, on_sample);
    }
    let mut r = Reader::new(&payload[1..]);
    let from = r.i64()?;
    let to = r.i64()?;
    let n = r.u32()? as usize;
    if r.remaining() != n.saturating_mul(4) {
        return Err(Corruption::BadLength {
            what: "delete record",
            value: r.remaining() as u64,
        });
    }
    let mut series = Vec::with_capacity(n);
    for _ in 0..n {
        let id = r.u32()?;
        if series.last().is_some_and(|&p| p >= id) {
            return Err(Corruption::BadField {
                what: "delete record series not ascending",
            });
        }
        series.push(id);
    }
    if from >= to {
        return Err(Corruption::BadField {
            what: "delete record range empty",
        });
    }
    on_delete(LoggedDelete { series, from, to });
    Ok(())
}

/// One logged sample (before the per-second mean).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoggedSample {
    /// Series id.
    pub series: u32,
    /// Timestamp in ms, as written.
    pub ts_ms: i64,
    /// Value, bit-exact.
    pub value: f64,
}

/// Appends a samples record's payload for `samples` to `out`.
pub fn encode_samples(samples: &[LoggedSample], out: &mut Vec<u8>) {
    out.push(RECORD_SAMPLES);
    out.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    let at = out.len();
    out.resize(at + samples.len() * SAMPLE_LEN, 0);
    for (b, s) in out[at..].chunks_exact_mut(SAMPLE_LEN).zip(samples) {
        b[0..4].copy_from_slice(&s.series.to_le_bytes());
        b[4..12].copy_from_slice(&s.ts_ms.to_le_bytes());
        b[12..20].copy_from_slice(&s.value.to_bits().to_le_bytes());
    }
}

/// Appends a keyed samples record's payload for `samples`, logged by the write whose key is
/// `key`, to `out`.
pub fn encode_keyed_samples(key: &[u8; WRITE_KEY_LEN], samples: &[LoggedSample], out: &mut Vec<u8>) {
    let at = out.len();
    encode_samples(samples, out);
    out[at] = RECORD_KEYED_SAMPLES;
    out.splice(at + 1..at + 1, key.iter().copied());
}

/// Decodes one samples record payload (keyed or not), calling `f` for each sample in order;
/// a delete record is an error here (readers that must honour deletes use [`decode_any`]).
pub fn decode_record(payload: &[u8], f: impl FnMut(LoggedSample)) -> Result<(), Corruption> {
    decode_samples(payload, |_| {}, f)
}

/// [`decode_record`], with `on_key` called with the key of a keyed samples record before its
/// samples.
pub fn decode_samples(
    payload: &[u8],
    on_key: impl FnOnce([u8; WRITE_KEY_LEN]),
    mut f: impl FnMut(LoggedSample),
) -> Result<(), Corruption> {
    let mut r = Reader::new(payload);
    let kind = r.u8()?;
    match kind {
        RECORD_SAMPLES | RECORD_KEYED_SAMPLES => {
            let key = if kind == RECORD_KEYED_SAMPLES {
                let mut key = [0u8; WRITE_KEY_LEN];
                key.copy_from_slice(r.take(WRITE_KEY_LEN)?);
                Some(key)
            } else {
                None
            };
            let n = r.u32()? as usize;
            if r.remaining() != n.saturating_mul(SAMPLE_LEN) {
                return Err(Corruption::BadLength {
                    what: if kind == RECORD_KEYED_SAMPLES {
                        "keyed samples record"
                    } else {
                        "samples record"
                    },
                    value: r.remaining() as u64,
                });
            }
            if let Some(key) = key {
                on_key(key);
            }
            for _ in 0..n {
                let series = r.u32()?;
                let ts_ms = r.i64()?;
                let value = f64::from_bits(r.u64()?);
                f(LoggedSample {
                    series,
                    ts_ms,
                    value,
                });
            }
            Ok(())
        }
        _ => Err(Corruption::BadField {
            what: "window log record type",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_samples_record() {
        let mut b = Vec::new();
        encode_samples(
            &[LoggedSample {
                series: 7,
                ts_ms: 1_000,
                value: 1.5,
            }],
            &mut b,
        );
        assert_eq!(
            b,
            [
                1, 1, 0, 0, 0, // type, n
                7, 0, 0, 0, // series
                0xe8, 0x03, 0, 0, 0, 0, 0, 0, // ts 1000
                0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // 1.5
            ]
        );
        let mut got = Vec::new();
        decode_record(&b, |s| got.push(s)).unwrap();
        assert_eq!(
            got,
            vec![LoggedSample {
                series: 7,
                ts_ms: 1_000,
                value: 1.5
            }]
        );
    }

    #[test]
    fn golden_keyed_samples_record() {
        let key: [u8; 16] = std::array::from_fn(|i| 0xa0 + i as u8);
        let sample = LoggedSample {
            series: 7,
            ts_ms: 1_000,
            value: 1.5,
        };
        let mut b = Vec::new();
        encode_keyed_samples(&key, &[sample], &mut b);
        assert_eq!(
            b,
            [
                4, // type
                0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, // key
                0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, //
                1, 0, 0, 0, // n
                7, 0, 0, 0, // series
                0xe8, 0x03, 0, 0, 0, 0, 0, 0, // ts 1000
                0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // 1.5
            ]
        );
        assert_eq!(b.len(), KEYED_FIXED_LEN + SAMPLE_LEN);
        let (mut got, mut keys) = (Vec::new(), Vec::new());
        decode_logged(&b, |k| keys.push(k), |s| got.push(s), |_| panic!("no delete")).unwrap();
        assert_eq!((keys, got), (vec![key], vec![sample]));
        // Readers that do not need the key read its samples as any samples record's.
        let mut plain = Vec::new();
        decode_record(&b, |s| plain.push(s)).unwrap();
        assert_eq!(plain, [sample]);
        // An unkeyed record reports no key.
        let mut unkeyed = Vec::new();
        encode_samples(&[sample], &mut unkeyed);
        decode_samples(&unkeyed, |_| panic!("no key"), |_| {}).unwrap();
        // A damaged length is refused before the key is reported.
        decode_samples(&b[..b.len() - 1], |_| panic!("no key"), |_| {}).unwrap_err();
        decode_samples(&b[..10], |_| panic!("no key"), |_| {}).unwrap_err();
    }

    #[test]
    fn golden_late_generation_record() {
        let mut b = Vec::new();
        encode_late_generation(2, &mut b);
        assert_eq!(b, [3, 2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(decode_late_generation(&b), Ok(2));
        // Not a samples record, and not valid where samples are expected.
        assert!(decode_record(&b, |_| {}).is_err());
        assert!(decode_late_generation(&[3, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(decode_late_generation(&[3, 1, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(decode_late_generation(&[1, 1, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn golden_delete_record() {
        let d = LoggedDelete {
            series: vec![3, 258],
            from: 1_000,
            to: 2_000,
        };
        let mut b = Vec::new();
        encode_delete(&d, &mut b);
        assert_eq!(
            b,
            [
                2, // type
                0xe8, 0x03, 0, 0, 0, 0, 0, 0, // from 1000
                0xd0, 0x07, 0, 0, 0, 0, 0, 0, // to 2000
                2, 0, 0, 0, // n
                3, 0, 0, 0, // series 3
                2, 1, 0, 0, // series 258
            ]
        );
        let mut got = None;
        decode_any(&b, |_| panic!("no samples"), |d| got = Some(d)).unwrap();
        assert_eq!(got, Some(d));
        // Samples records still decode through it.
        let mut s = Vec::new();
        encode_samples(
            &[LoggedSample {
                series: 1,
                ts_ms: 5,
                value: 2.0,
            }],
            &mut s,
        );
        let mut n = 0;
        decode_any(&s, |_| n += 1, |_| panic!("no delete")).unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn bad_delete_records_are_typed_errors() {
        let mut b = Vec::new();
        encode_delete(
            &LoggedDelete {
                series: vec![1],
                from: 0,
                to: 10,
            },
            &mut b,
        );
        assert!(decode_any(&b[..b.len() - 1], |_| {}, |_| {}).is_err());
        let mut empty = b.clone();
        empty[9..17].copy_from_slice(&0i64.to_le_bytes());
        assert!(decode_any(&empty, |_| {}, |_| {}).is_err(), "empty range");
        let mut twice = Vec::new();
        encode_delete(
            &LoggedDelete {
                series: vec![4, 4],
                from: 0,
                to: 10,
            },
            &mut twice,
        );
        assert!(decode_any(&twice, |_| {}, |_| {}).is_err(), "not ascending");
        // The samples-only decoder refuses a delete record.
        assert!(decode_record(&b, |_| {}).is_err());
    }

    #[test]
    fn bad_records_are_typed_errors() {
        assert!(decode_record(&[], |_| {}).is_err());
        assert!(decode_record(&[9], |_| {}).is_err());
        assert!(decode_record(&[1, 2, 0, 0, 0, 1, 2, 3], |_| {}).is_err());
        assert!(decode_record(&[1, 0xff, 0xff, 0xff, 0xff], |_| {}).is_err());
    }
}
