//! Timestamp column, codec id 1 "delta-runs".
//!
//! Layout (see codec.md):
//! ```text
//! u8       id = 1
//! uvarint  count N
//! if N >= 1: ivarint first timestamp t0
//! if N >= 2: uvarint unit U (>= 1)
//!            then (ivarint q, uvarint run) pairs, run >= 1, whose runs sum
//!            to exactly N - 1; each pair appends `run` timestamps, each
//!            `q * U` after the previous one.
//! ```
//! Unit choice (encoder): `U = gcd(1000, |d_1|, ..., |d_{N-1}|)` where
//! `d_i = t_i - t_{i-1}` (wrapping). Including 1000 keeps `U` a divisor of
//! 1000, so second-aligned data gets `U = 1000` and a 15 s interval costs a
//! one-byte delta of 15. All arithmetic wraps, so any i64 sequence (even
//! unsorted or spanning i64::MIN..i64::MAX) round-trips exactly.

use super::CodecError;
use super::slots::TsSlot;
use super::varint::{Reader, gcd, put_ivarint, put_uvarint};

pub const ID_DELTA_RUNS: u8 = 1;
/// The gcd seed for the unit (see module docs).
const UNIT_BASE: u64 = 1000;

pub fn name(id: u8) -> Option<&'static str> {
    match id {
        ID_DELTA_RUNS => Some("delta-runs"),
        _ => None,
    }
}

pub fn encode(ts: &[i64], out: &mut Vec<u8>) {
    out.push(ID_DELTA_RUNS);
    put_uvarint(out, ts.len() as u64);
    let Some((&first, rest)) = ts.split_first() else {
        return;
    };
    put_ivarint(out, first);
    if rest.is_empty() {
        return;
    }
    let mut unit = UNIT_BASE;
    let mut prev = first;
    for &t in rest {
        unit = gcd(unit, t.wrapping_sub(prev).unsigned_abs());
        prev = t;
        if unit == 1 {
            break;
        }
    }
    put_uvarint(out, unit);
    // `unit` divides every |delta| and is <= 1000, so the division is exact
    // (also for delta == i64::MIN, where unit is a power of two <= 8).
    let unit = unit as i64;
    let mut prev = first;
    let mut run_q = 0i64;
    let mut run_len = 0u64;
    for &t in rest {
        let q = t.wrapping_sub(prev) / unit;
        prev = t;
        if run_len > 0 && q == run_q {
            run_len += 1;
        } else {
            if run_len > 0 {
                put_ivarint(out, run_q);
                put_uvarint(out, run_len);
            }
            run_q = q;
            run_len = 1;
        }
    }
    put_ivarint(out, run_q);
    put_uvarint(out, run_len);
}

/// Decodes one column from the start of `input`, appending to `out`.
/// On error `out` may hold a partial column; the public wrapper truncates it.
pub fn decode(input: &[u8], out: &mut Vec<i64>) -> Result<usize, CodecError> {
    decode_into(input, 0, out)
}

/// Decodes one column from the start of `input`, appending one slot per timestamp, made
/// from the timestamp plus `base` (wrapping). Returns the bytes the column took. On error
/// `out` may hold a partial column.
#[inline]
pub fn decode_into<S: TsSlot>(
    input: &[u8],
    base: i64,
    out: &mut Vec<S>,
) -> Result<usize, CodecError> {
    let mut r = Reader::new(input);
    let id = r.u8()?;
    if id != ID_DELTA_RUNS {
        return Err(CodecError::UnknownCodec {
            column: "timestamps",
            id,
        });
    }
    let n = r.count()?;
    if n == 0 {
        return Ok(r.pos());
    }
    let mut t = r.ivarint()?.wrapping_add(base);
    out.reserve(n);
    out.push(S::from_ts(t));
    if n == 1 {
        return Ok(r.pos());
    }
    let unit = r.uvarint()?;
    if unit == 0 {
        return Err(CodecError::BadValue {
            what: "timestamp unit is zero",
        });
    }
    let unit = unit as i64; // wrapping reinterpretation is fine: all math wraps
    let mut left = n - 1;
    while left > 0 {
        let q = r.ivarint()?;
        let run = r.uvarint()?;
        if run == 0 || run > left as u64 {
            return Err(CodecError::BadValue {
                what: "timestamp run length",
            });
        }
        let run = run as usize;
        let step = q.wrapping_mul(unit);
        // A counted loop with a plain induction, which the compiler unrolls and vectorises.
        out.extend((0..run).map(|_| {
            t = t.wrapping_add(step);
            S::from_ts(t)
        }));
        left -= run;
    }
    Ok(r.pos())
}

#[cfg(test)]
mod tests {
    use super::super::varint::{uvarint_len, zigzag};
    use super::*;

    const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z in ms

    fn roundtrip(ts: &[i64]) -> Vec<u8> {
        let mut enc = Vec::new();
        encode(ts, &mut enc);
        let mut out = Vec::new();
        assert_eq!(decode(&enc, &mut out), Ok(enc.len()));
        assert_eq!(out, ts);
        enc
    }

    #[test]
    fn regular_columns_are_tiny() {
        // From t=0 the whole column is 9 bytes: 01 D804 00 E807 02 D704.
        let from_zero: Vec<i64> = (0..600).map(|i| i * 1000).collect();
        let enc = roundtrip(&from_zero);
        assert_eq!(enc, [0x01, 0xD8, 0x04, 0x00, 0xE8, 0x07, 0x02, 0xD7, 0x04]);
        // Real epoch-ms timestamps add only the 6-byte absolute start.
        for step in [1000, 15000] {
            let ts: Vec<i64> = (0..600).map(|i| T0 + i * step).collect();
            let enc = roundtrip(&ts);
            assert_eq!(enc.len(), 14);
            assert!(enc.len() - 3 - uvarint_len(zigzag(T0)) < 10);
        }
        // Each gap costs one extra (delta, run) pair.
        let gap: Vec<i64> = (0..600)
            .map(|i| T0 + i * 1000 + if i >= 300 { 5000 } else { 0 })
            .collect();
        assert_eq!(roundtrip(&gap).len(), 14 + 5);
    }

    #[test]
    fn unit_choice() {
        // unit byte follows id, count and first (all 1 byte here)
        assert_eq!(roundtrip(&[0, 15_000, 30_000])[3..5], [0xE8, 0x07]); // 1000
        assert_eq!(roundtrip(&[0, 500, 1500])[3], 0xF4); // 500 = F4 03
        assert_eq!(roundtrip(&[0, 1, 1001])[3], 0x01); // 1
        // Wrapping deltas across the whole i64 range still round-trip.
        roundtrip(&[i64::MIN, 0, i64::MAX]);
        roundtrip(&[i64::MAX, i64::MIN, i64::MIN + 8]);
    }
}
