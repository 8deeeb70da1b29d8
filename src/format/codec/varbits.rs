//! Value codec id 4, "decimal-varbits": the scaled integers of the decimal codecs, as first
//! or second differences divided by their common factor, each written with a short prefix
//! code. It wins on the many system series that stay flat for a while and then jump (counters
//! of rare events, memory figures): an unchanged value costs one bit, where the block packing
//! of ids 2 and 3 pays the width of the block's largest jump for every point.
//!
//! Layout (codec.md §4.4), after `u8 id = 4, uvarint count` (count > 0):
//! `u8 d, u8 order (1 or 2), ivarint first, [order 2: ivarint first delta], uvarint mult`,
//! then an LSB-first bit stream of one code per remaining point for `z = zigzag(residual /
//! mult)`:
//!
//! | code | meaning |
//! |---|---|
//! | `0` | z = 0 |
//! | `1 0` + 4 bits | z = 1 + field (1..=16) |
//! | `1 1 0` + 8 bits | z = 17 + field (17..=272) |
//! | `1 1 1 0` + 16 bits | z = 273 + field (273..=65808) |
//! | `1 1 1 1` + 6 bits (L − 1) + L bits | z = field (any value; L = 1..=64) |

use super::CodecError;
use super::bitpack::{BitCount, BitCursor, BitSink, BitWriter};
use super::varint::{Reader, gcd, put_ivarint, put_uvarint, unzigzag, uvarint_len, zigzag};

pub const ID: u8 = 4;

const B1: u64 = 1; // first value of the 4-bit bucket
const B2: u64 = 17; // first value of the 8-bit bucket
const B3: u64 = 273; // first value of the 16-bit bucket
const B4: u64 = 65_809; // first value past the 16-bit bucket

/// Encodes `ints` (the scaled integers, with decimal exponent `d`) with `order` 1 or 2 when
/// the column takes fewer than `limit` bytes; otherwise writes nothing and returns false
/// (the size is counted before any bit is written).
pub fn encode(d: usize, order: u8, ints: &[i64], out: &mut Vec<u8>, limit: usize) -> bool {
    debug_assert!(order == 1 || order == 2);
    let at = out.len();
    out.push(ID);
    put_uvarint(out, ints.len() as u64);
    let Some(&first) = ints.first() else {
        return finish_within(out, at, limit);
    };
    out.push(d as u8);
    out.push(order);
    put_ivarint(out, first);
    if order == 2
        && let [a, b, ..] = ints
    {
        put_ivarint(out, b.wrapping_sub(*a));
    }
    let residuals = || Residuals::new(ints, order);
    let mut mult = 0u64;
    for r in residuals() {
        mult = gcd(mult, r.unsigned_abs());
        if mult == 1 {
            break; // It stays 1.
        }
    }
    mult = settle_mult(mult);
    put_uvarint(out, mult);
    let mut count = BitCount::default();
    put_codes(residuals(), mult, &mut count);
    if out.len() - at + count.bytes() >= limit {
        out.truncate(at);
        return false;
    }
    let mut w = BitWriter::new(out);
    put_codes(residuals(), mult, &mut w);
    w.finish();
    true
}

/// The residuals of `ints` of order 1 (first differences, from the second value on) or 2
/// (second differences, from the third), without allocating.
struct Residuals<'a> {
    ints: &'a [i64],
    order: u8,
    i: usize,
}

impl<'a> Residuals<'a> {
    fn new(ints: &'a [i64], order: u8) -> Self {
        Residuals {
            ints,
            order,
            i: usize::from(order),
        }
    }
}

impl Iterator for Residuals<'_> {
    type Item = i64;

    #[inline]
    fn next(&mut self) -> Option<i64> {
        let x = self.ints;
        let i = self.i;
        let v = *x.get(i)?;
        self.i += 1;
        let d1 = v.wrapping_sub(x[i - 1]);
        Some(if self.order == 2 {
            d1.wrapping_sub(x[i - 1].wrapping_sub(x[i - 2]))
        } else {
            d1
        })
    }
}

/// Keeps what `out` holds from `at` on if shorter than `limit`.
fn finish_within(out: &mut Vec<u8>, at: usize, limit: usize) -> bool {
    if out.len() - at >= limit {
        out.truncate(at);
        return false;
    }
    true
}

/// Bits of the prefix code of `z` (module docs): what [`put_codes`] writes for it.
#[inline]
pub(crate) fn code_bits(z: u64) -> u64 {
    if z == 0 {
        1
    } else if z < B2 {
        6
    } else if z < B3 {
        11
    } else if z < B4 {
        20
    } else {
        10 + u64::from(64 - z.leading_zeros())
    }
}

/// Bytes of the column [`encode`] writes for `ints` of `order` whose residuals have common
/// factor `mult` (as `encode` settles it: 0 and overlarge become 1) and codes of `bits` bits.
pub(crate) fn column_len(order: u8, ints: &[i64], mult: u64, bits: u64) -> usize {
    let mut len = 1 + uvarint_len(ints.len() as u64);
    if let Some(&first) = ints.first() {
        len += 2 + uvarint_len(zigzag(first));
        if order == 2
            && let [a, b, ..] = ints
        {
            len += uvarint_len(zigzag(b.wrapping_sub(*a)));
        }
        len += uvarint_len(mult) + bits.div_ceil(8) as usize;
    }
    len
}

/// The common factor [`encode`] uses for residuals whose gcd is `g`.
pub(crate) fn settle_mult(g: u64) -> u64 {
    if g == 0 || g > i64::MAX as u64 { 1 } else { g }
}

/// Residuals of `ints` of `order`, for callers sizing the column.
pub(crate) fn residuals(ints: &[i64], order: u8) -> impl Iterator<Item = i64> + '_ {
    Residuals::new(ints, order)
}

/// One prefix code per residual (module docs).
#[inline]
fn put_codes(residuals: impl Iterator<Item = i64>, mult: u64, w: &mut impl BitSink) {
    // Every residual is a multiple of `mult`: a power of two divides as a shift (exact, also
    // for negative residuals), and 1 — the usual case — not at all.
    let shift = mult.is_power_of_two().then(|| mult.trailing_zeros());
    for r in residuals {
        let z = zigzag(match shift {
            Some(s) => r >> s,
            None => r / mult as i64,
        });
        if z == 0 {
            w.put(0, 1);
        } else if z < B2 {
            w.put(0b01, 2);
            w.put(z - B1, 4);
        } else if z < B3 {
            w.put(0b011, 3);
            w.put(z - B2, 8);
        } else if z < B4 {
            w.put(0b0111, 4);
            w.put(z - B3, 16);
        } else {
            let len = 64 - z.leading_zeros();
            w.put(0b1111, 4);
            w.put(u64::from(len - 1), 6);
            if len > 32 {
                w.put(z, 32);
                w.put(z >> 32, len - 32);
            } else {
                w.put(z, len);
            }
        }
    }
}

/// Decodes the body of a decimal-varbits column of `n > 0` points (the reader stands after
/// the count), calling `conv` on each integer. Returns bytes consumed from `input` (the whole
/// column's bytes, of which the reader has consumed `r.pos()`).
pub fn decode(
    input: &[u8],
    r: &mut Reader<'_>,
    n: usize,
    out: &mut Vec<f64>,
) -> Result<usize, CodecError> {
    let d = usize::from(r.u8()?);
    if d > super::values::MAX_DECIMALS {
        return Err(CodecError::BadValue {
            what: "decimal exponent above 9",
        });
    }
    let order = r.u8()?;
    if order != 1 && order != 2 {
        return Err(CodecError::BadValue {
            what: "varbits order must be 1 or 2",
        });
    }
    let scale = super::values::POW10[d];
    let conv = |x: i64| if d == 0 { x as f64 } else { x as f64 / scale };
    let mut cur = r.ivarint()?;
    out.reserve(n);
    out.push(conv(cur));
    let mut left = n - 1;
    let mut delta = 0i64;
    if order == 2 && left > 0 {
        delta = r.ivarint()?;
        cur = cur.wrapping_add(delta);
        out.push(conv(cur));
        left -= 1;
    }
    let mult = r.uvarint()?;
    if mult == 0 || mult > i64::MAX as u64 {
        return Err(CodecError::BadValue {
            what: "varbits multiplier out of range",
        });
    }
    let mult = mult as i64;
    let start = r.pos();
    // The codes go straight into the output's new tail, kept in registers by a loop of its
    // own (`decode_codes` is not inlined, so the caller's state does not crowd it).
    let at = out.len();
    out.resize(at + left, 0.0);
    let dst = &mut out[at..];
    let stream = &input[start..];
    // Monomorphic loops keep the per-point work free of the order and scale tests.
    let bits = match (order == 2, d == 0) {
        (false, true) => decode_codes::<false, false>(stream, dst, mult, cur, delta, scale),
        (false, false) => decode_codes::<false, true>(stream, dst, mult, cur, delta, scale),
        (true, true) => decode_codes::<true, false>(stream, dst, mult, cur, delta, scale),
        (true, false) => decode_codes::<true, true>(stream, dst, mult, cur, delta, scale),
    };
    // Past the end the cursor reads zero bits; a stream cut short shows here, and the caller
    // drops what was appended.
    bits.check()?;
    Ok(start + bits.bytes_consumed())
}

/// Decodes one code per slot of `dst`, integrating once (`ORDER2` false) or twice from
/// `cur` and `delta` and storing `n as f64 / scale` (`SCALED` false skips dividing by 1.0,
/// which is bit-identical). Returns the cursor after the last code.
#[inline(never)]
fn decode_codes<'a, const ORDER2: bool, const SCALED: bool>(
    stream: &'a [u8],
    dst: &mut [f64],
    mult: i64,
    mut cur: i64,
    mut delta: i64,
    scale: f64,
) -> BitCursor<'a> {
    let mut bits = BitCursor::new(stream);
    // The value last stored: what a run of zero codes repeats at order 1.
    let mut last = conv::<SCALED>(cur, scale);
    // `p` holds the next `avail` stream bits (a peek at the cursor, shifted as codes are
    // taken): several codes come out of one load, and the step from one code to the next
    // is a shift by a length computed in registers.
    let mut p = bits.peek();
    let mut avail = 57u32;
    let mut i = 0;
    while i < dst.len() {
        if avail < 20 {
            p = bits.peek();
            avail = 57;
        }
        if p & 1 == 0 {
            // A run of zero codes (an unchanged value, or an unchanged delta): all at once.
            // Bits above `avail` were shifted in as zeros, so the run stops there.
            let run = p.trailing_zeros().min(avail).min((dst.len() - i) as u32);
            bits.skip(run);
            p >>= run;
            avail -= run;
            let slots = &mut dst[i..i + run as usize];
            i += run as usize;
            if ORDER2 {
                for o in slots {
                    cur = cur.wrapping_add(delta);
                    *o = conv::<SCALED>(cur, scale);
                }
            } else {
                slots.fill(last);
            }
            continue;
        }
        // The prefix `10`, `110`, `1110` or `1111`: `k` = its count of one bits.
        let k = (p & 0xF).trailing_ones();
        let z = if k < 4 {
            // Lengths, field widths and first values of the fixed-size codes, by `k`, as
            // lanes of constants (a shift instead of a table load on the critical path).
            let len = ((CODE_BITS >> (8 * k)) & 0xFF) as u32;
            let width = (FIELD_BITS >> (8 * k)) & 0xFF;
            let base = (FIRST_Z >> (16 * k)) & 0xFFFF;
            let z = base + ((p >> (k + 1)) & ((1u64 << width) - 1));
            bits.skip(len);
            p >>= len;
            avail -= len;
            z
        } else {
            let len = ((p >> 4) & 0x3F) as u32 + 1;
            bits.skip(10);
            let z = bits.read(len);
            avail = 0; // refill at the cursor
            z
        };
        let res = unzigzag(z).wrapping_mul(mult);
        if ORDER2 {
            delta = delta.wrapping_add(res);
            cur = cur.wrapping_add(delta);
        } else {
            cur = cur.wrapping_add(res);
        }
        last = conv::<SCALED>(cur, scale);
        dst[i] = last;
        i += 1;
    }
    bits
}

/// Bits of the fixed-size codes (module docs) by their prefix's count of one bits `k`
/// (1..=3; lane 0 is unused: a zero code takes the run path), one byte lane each.
const CODE_BITS: u64 = 1 | 6 << 8 | 11 << 16 | 20 << 24;
/// Widths of their fields, one byte lane per `k`.
const FIELD_BITS: u64 = 4 << 8 | 8 << 16 | 16 << 24;
/// The first `z` of each, one 16-bit lane per `k`.
const FIRST_Z: u64 = B1 << 16 | B2 << 32 | B3 << 48;

/// The value of scaled integer `n` (`SCALED` false: the exponent is 0, and dividing by 1.0
/// would change nothing).
#[inline(always)]
fn conv<const SCALED: bool>(n: i64, scale: f64) -> f64 {
    if SCALED { n as f64 / scale } else { n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(d: usize, order: u8, ints: &[i64]) -> Vec<u8> {
        let mut b = Vec::new();
        assert!(encode(d, order, ints, &mut b, usize::MAX));
        let mut out = Vec::new();
        let used = super::super::decode_values(&b, &mut out).unwrap();
        assert_eq!(used, b.len());
        let scale = super::super::values::POW10[d];
        let want: Vec<u64> = ints
            .iter()
            .map(|&x| if d == 0 { x as f64 } else { x as f64 / scale }.to_bits())
            .collect();
        let got: Vec<u64> = out.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, want);
        b
    }

    #[test]
    fn golden_varbits() {
        // 5, 5, 6, 6, 26: deltas 0, 1, 0, 20; mult 1.
        // bits (LSB first): 0 | 1 0 + (z=2)-1=1 in 4 bits | 0 | 1 1 0 + (z=40)-17=23 in 8 bits
        let b = round_trip(0, 1, &[5, 5, 6, 6, 26]);
        let mut want = vec![4, 5, 0, 1, 10, 1];
        // bit stream: 0, 1,0, 1,0,0,0, 0, 1,1,0, 1,1,1,0,1,0,0,0 (23 = 0b00010111 LSB first)
        let bits = [0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0];
        let mut bytes = vec![0u8; bits.len().div_ceil(8)];
        for (i, bit) in bits.iter().enumerate() {
            bytes[i / 8] |= bit << (i % 8);
        }
        want.extend_from_slice(&bytes);
        assert_eq!(b, want);
    }

    #[test]
    fn every_bucket_and_both_orders_round_trip() {
        let mut ints = vec![0i64];
        for step in [
            0,
            1,
            -1,
            16,
            17,
            200,
            272,
            273,
            40_000,
            65_808,
            65_809,
            1 << 40,
            -(1 << 52),
        ] {
            let last = *ints.last().unwrap();
            ints.push(last.wrapping_add(step));
        }
        for order in [1, 2] {
            round_trip(0, order, &ints);
            round_trip(3, order, &ints);
        }
        round_trip(0, 1, &[i64::MIN + 1, i64::MAX, 0]);
        // 4 KiB steps collapse through the multiplier.
        let b = round_trip(0, 1, &[4096 * 1000, 4096 * 1001, 4096 * 999, 4096 * 999]);
        assert!(b.len() <= 12, "{b:?}");
    }

    #[test]
    fn flat_series_cost_a_bit_per_point() {
        let mut ints = vec![1_000_000i64; 600];
        ints[300] = 1_000_020;
        let b = round_trip(0, 1, &ints);
        assert!(b.len() < 90, "{} bytes", b.len());
    }

    #[test]
    fn hostile_inputs_are_errors() {
        let mut out = Vec::new();
        for bad in [
            &[4u8, 3, 10, 1, 0][..],       // d above 9
            &[4, 3, 0, 3, 0, 1][..],       // order 3
            &[4, 3, 0, 1, 0, 0][..],       // mult 0
            &[4, 3, 0, 1, 0, 1][..],       // bit stream missing
            &[4, 2, 0, 1, 0, 1, 0xff][..], // 1111 + length, then nothing
        ] {
            assert!(
                super::super::decode_values(bad, &mut out).is_err(),
                "{bad:?}"
            );
        }
    }
}
