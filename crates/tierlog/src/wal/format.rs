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
    fn bad_records_are_typed_errors() {
        assert!(decode_record(&[], |_| {}).is_err());
        assert!(decode_record(&[9], |_| {}).is_err());
        assert!(decode_record(&[1, 2, 0, 0, 0, 1, 2, 3], |_| {}).is_err());
        assert!(decode_record(&[1, 0xff, 0xff, 0xff, 0xff], |_| {}).is_err());
    }
}
