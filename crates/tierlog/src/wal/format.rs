//! Records of a window log (`raw/<start>.wal`). Each frame's payload is one record.
//! See `format-spec/window-log.md`.
//!
//! ```text
//! Samples record
//! offset size field
//!  0     1    record type = 1
//!  1     4    n, number of samples, u32 LE
//!  5     20n  n × { series id u32 LE, timestamp i64 LE ms, value f64 bits u64 LE }
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

/// Decodes one record payload, calling `f` for each sample in order.
pub fn decode_record(payload: &[u8], mut f: impl FnMut(LoggedSample)) -> Result<(), Corruption> {
    let mut r = Reader::new(payload);
    match r.u8()? {
        RECORD_SAMPLES => {
            let n = r.u32()? as usize;
            if r.remaining() != n.saturating_mul(SAMPLE_LEN) {
                return Err(Corruption::BadLength {
                    what: "samples record",
                    value: r.remaining() as u64,
                });
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
    fn bad_records_are_typed_errors() {
        assert!(decode_record(&[], |_| {}).is_err());
        assert!(decode_record(&[9], |_| {}).is_err());
        assert!(decode_record(&[1, 2, 0, 0, 0, 1, 2, 3], |_| {}).is_err());
        assert!(decode_record(&[1, 0xff, 0xff, 0xff, 0xff], |_| {}).is_err());
    }
}
