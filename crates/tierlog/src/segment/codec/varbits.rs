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
use super::slots::{ValueSlot, divide_all};
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

/// Decodes the body of a decimal-varbits column of `dst.len() > 0` points (the reader stands
/// after the count) into `dst`. Returns bytes consumed from `input` (the whole column's
/// bytes, of which the reader has consumed `r.pos()`).
pub fn decode<S: ValueSlot>(
    input: &[u8],
    r: &mut Reader<'_>,
    dst: &mut [S],
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
    let mut cur = r.ivarint()?;
    dst[0].set_int(cur);
    let mut at = 1;
    let mut delta = 0i64;
    if order == 2 && dst.len() > 1 {
        delta = r.ivarint()?;
        cur = cur.wrapping_add(delta);
        dst[1].set_int(cur);
        at = 2;
    }
    let mult = r.uvarint()?;
    if mult == 0 || mult > i64::MAX as u64 {
        return Err(CodecError::BadValue {
            what: "varbits multiplier out of range",
        });
    }
    let mult = mult as i64;
    let start = r.pos();
    let stream = &input[start..];
    // The codes go straight into the slots, by a loop of its own (`decode_codes` is not
    // inlined, so the caller's state does not crowd its registers); one per order keeps the
    // per-point work free of the order test.
    let tail = &mut dst[at..];
    let bits = if order == 2 {
        decode_codes::<S, true>(stream, tail, mult, cur, delta)
    } else {
        decode_codes::<S, false>(stream, tail, mult, cur, delta)
    };
    // Past the end the cursor reads zero bits; a stream cut short shows here, and the caller
    // drops what was stored.
    bits.check()?;
    // For d == 0 the division by 1.0 is exact, so skipping it is bit-identical.
    if d != 0 {
        divide_all(dst, super::values::POW10[d]);
    }
    Ok(start + bits.bytes_consumed())
}

/// Decodes one code per slot of `dst`, integrating once (`ORDER2` false) or twice from
/// `cur` and `delta`, and stores `n as f64` (the caller divides by the scale). Returns the
/// cursor after the last code.
///
/// Each step looks the next 12 stream bits up in [`STEPS`], which gives the length and the
/// residual of the code there, and of a second one when both fit in the 12 bits: one table
/// load and one shift per one or two points is all that one step waits on from the last.
#[inline(never)]
fn decode_codes<'a, S: ValueSlot, const ORDER2: bool>(
    stream: &'a [u8],
    dst: &mut [S],
    mult: i64,
    mut cur: i64,
    mut delta: i64,
) -> BitCursor<'a> {
    let n = dst.len();
    let mut bits = BitCursor::new(stream);
    // The value last stored: what a run of zero codes repeats at order 1.
    let mut last = cur as f64;
    // `p` holds the next `avail` stream bits: a peek at the cursor, shifted as codes are
    // taken (bits above `avail` are zero); the cursor moves on at the next peek. At least 20
    // are there for each step: a whole fixed-size code, or an escape's prefix and length.
    let mut p = bits.peek();
    let mut avail = PEEK_BITS;
    let mut i = 0;
    while i + 1 < n {
        if avail < 20 {
            bits.skip(PEEK_BITS - avail);
            p = bits.peek();
            avail = PEEK_BITS;
        }
        if p & 0b111 == 0 {
            // A run of zero codes (an unchanged value, or an unchanged delta): all at once.
            // Bits above `avail` were shifted in as zeros, so the run stops there.
            let run = p.trailing_zeros().min(avail).min((n - i) as u32);
            p >>= run;
            avail -= run;
            let slots = &mut dst[i..i + run as usize];
            i += run as usize;
            if ORDER2 {
                for o in slots {
                    cur = cur.wrapping_add(delta);
                    o.set_int(cur);
                }
                last = cur as f64;
            } else {
                for o in slots {
                    o.set_value(last);
                }
            }
            continue;
        }
        let step = STEPS[(p & 0xFFF) as usize];
        // The first residual: a signed field of the entry, or a 16-bit code's.
        let mut r1 = i64::from(step as i32 >> STEP_R1_SHIFT);
        if step & STEP_WIDE != 0 {
            if step & STEP_LEN != 0 {
                // A 16-bit field, whole in the bits at hand.
                r1 = unzigzag(B3 + ((p >> 4) & 0xFFFF));
            } else {
                // An escape: read at the cursor.
                bits.skip(PEEK_BITS - avail);
                let z = read_code(&mut bits);
                integrate::<ORDER2>(z, mult, &mut cur, &mut delta);
                last = cur as f64;
                dst[i].set_int(cur);
                i += 1;
                p = bits.peek();
                avail = PEEK_BITS;
                continue;
            }
        }
        let len = step & STEP_LEN;
        p >>= len;
        avail -= len;
        add::<ORDER2>(r1.wrapping_mul(mult), &mut cur, &mut delta);
        last = cur as f64;
        dst[i].set_int(cur);
        i += 1;
        if step & STEP_TWO != 0 {
            // A second code in the same 12 bits (both are points: `i + 1 < n` held).
            let r2 = i64::from(((step << (20 - STEP_R2_SHIFT)) as i32) >> 20);
            add::<ORDER2>(r2.wrapping_mul(mult), &mut cur, &mut delta);
            last = cur as f64;
            dst[i].set_int(cur);
            i += 1;
        }
    }
    bits.skip(PEEK_BITS - avail);
    if i < n {
        let z = read_code(&mut bits);
        integrate::<ORDER2>(z, mult, &mut cur, &mut delta);
        dst[i].set_int(cur);
    }
    bits
}

/// Stream bits a [`BitCursor::peek`] is sure to hold.
const PEEK_BITS: u32 = 57;

/// Adds residual `unzigzag(z) * mult` once (`ORDER2` false) or twice.
#[inline(always)]
fn integrate<const ORDER2: bool>(z: u64, mult: i64, cur: &mut i64, delta: &mut i64) {
    add::<ORDER2>(unzigzag(z).wrapping_mul(mult), cur, delta);
}

/// Adds residual `res` once (`ORDER2` false) or twice.
#[inline(always)]
fn add<const ORDER2: bool>(res: i64, cur: &mut i64, delta: &mut i64) {
    if ORDER2 {
        *delta = delta.wrapping_add(res);
        *cur = cur.wrapping_add(*delta);
    } else {
        *cur = cur.wrapping_add(res);
    }
}

/// Reads one code at the cursor (any kind; module docs) and returns its `z`.
#[inline]
fn read_code(bits: &mut BitCursor<'_>) -> u64 {
    let p = bits.peek();
    let k = (p & 0xF).trailing_ones();
    if k < 4 {
        let len = ((CODE_BITS >> (8 * k)) & 0xFF) as u32;
        let width = (FIELD_BITS >> (8 * k)) & 0xFF;
        let base = (FIRST_Z >> (16 * k)) & 0xFFFF;
        bits.skip(len);
        base + ((p >> (k + 1)) & ((1u64 << width) - 1))
    } else {
        let len = ((p >> 4) & 0x3F) as u32 + 1;
        bits.skip(10);
        bits.read(len)
    }
}

/// Bits of the fixed-size codes (module docs) by their prefix's count of one bits `k`
/// (0..=3), one byte lane each.
const CODE_BITS: u64 = 1 | 6 << 8 | 11 << 16 | 20 << 24;
/// Widths of their fields, one byte lane per `k`.
const FIELD_BITS: u64 = 4 << 8 | 8 << 16 | 16 << 24;
/// The first `z` of each, one 16-bit lane per `k`.
const FIRST_Z: u64 = B1 << 16 | B2 << 32 | B3 << 48;

/// What the next 12 stream bits hold, for each of their 4096 values. When they start with
/// a code of at most 11 bits: its length, or the length of it and the next code when that
/// one fits too (`STEP_LEN`), `STEP_TWO` set when there are two, and the residuals
/// (`unzigzag(z)`, at most 136 in magnitude) of the first and the second code (0 when
/// there is none) as 12-bit signed fields at bits 20 and 8. When they start with a 20-bit
/// code: `STEP_WIDE` and its length 20 (the field is in the bits past these 12); with an
/// escape: `STEP_WIDE` alone.
static STEPS: [u32; 4096] = steps();

const STEP_LEN: u32 = 0x3F;
const STEP_TWO: u32 = 1 << 6;
const STEP_WIDE: u32 = 1 << 7;
const STEP_R2_SHIFT: u32 = 8;
const STEP_R1_SHIFT: u32 = 20;

/// Builds [`STEPS`].
const fn steps() -> [u32; 4096] {
    let mut t = [0u32; 4096];
    let mut b = 0;
    while b < 4096 {
        t[b] = step_of(b as u64);
        b += 1;
    }
    t
}

/// The [`STEPS`] entry for the 12 bits `b`.
const fn step_of(b: u64) -> u32 {
    match (b & 0xF).trailing_ones() {
        4 => return STEP_WIDE,
        3 => return STEP_WIDE | 20,
        _ => {}
    }
    let Some((len1, z1)) = short_code(b, 12) else {
        unreachable!()
    };
    let first = len1 | residual_field(z1) << STEP_R1_SHIFT;
    match short_code(b >> len1, 12 - len1) {
        Some((len2, z2)) => (first + len2) | STEP_TWO | residual_field(z2) << STEP_R2_SHIFT,
        None => first,
    }
}

/// `unzigzag(z)` as a 12-bit two's complement field.
const fn residual_field(z: u64) -> u32 {
    (unzigzag(z) as u32) & 0xFFF
}

/// The length and `z` of the code of at most 11 bits at the start of `b`, if there is one
/// and it takes at most `room` bits.
const fn short_code(b: u64, room: u32) -> Option<(u32, u64)> {
    let k = (b & 0xF).trailing_ones();
    if k >= 3 {
        return None;
    }
    let len = ((CODE_BITS >> (8 * k)) & 0xFF) as u32;
    if len > room {
        return None;
    }
    let width = (FIELD_BITS >> (8 * k)) & 0xFF;
    let base = (FIRST_Z >> (16 * k)) & 0xFFFF;
    Some((len, base + ((b >> (k + 1)) & ((1u64 << width) - 1))))
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

    /// Columns mixing every kind of code (runs of zero codes, each fixed size, escapes) at
    /// every length: each decoding step (one or two codes from the table, a 16-bit field,
    /// an escape, a run, the last code alone) meets each of the others, at both orders,
    /// with and without a scale and a common factor, into plain values and into pairs.
    #[test]
    fn mixed_codes_round_trip_through_every_step() {
        let mut rng = crate::rng::SplitMix64::new(77);
        for case in 0..600 {
            let n = 1 + (rng.next_u64() % 90) as usize;
            let mult = [1i64, 3, 4096][case % 3];
            let mut x = (rng.next_u64() % 1000) as i64;
            let mut ints = vec![x];
            while ints.len() < n {
                let r = rng.next_u64();
                let step = match r % 7 {
                    0 => 0,
                    1 => (r >> 8) as i64 % 9,
                    2 => (r >> 8) as i64 % 137,
                    3 => (r >> 8) as i64 % 32_905,
                    4 => (r >> 8) as i64 % (1 << 40),
                    _ => {
                        // A run of repeats.
                        for _ in 0..(r >> 8) % 70 {
                            ints.push(x);
                        }
                        continue;
                    }
                };
                let step = if r & 1 == 0 { step } else { -step };
                x = x.wrapping_add(step * mult);
                ints.push(x);
            }
            ints.truncate(n);
            for order in [1, 2] {
                for d in [0, 3] {
                    let b = round_trip(d, order, &ints);
                    // The same column as pairs, in a chunk.
                    let ts: Vec<i64> = (0..n as i64).collect();
                    let mut chunk = Vec::new();
                    super::super::encode_timestamps(&ts, &mut chunk);
                    chunk.extend_from_slice(&b);
                    let mut pairs = Vec::new();
                    super::super::decode_chunk_pairs(&chunk, 0, &mut pairs).unwrap();
                    let mut plain = Vec::new();
                    super::super::decode_values(&b, &mut plain).unwrap();
                    let want: Vec<u64> = plain.iter().map(|v| v.to_bits()).collect();
                    let got: Vec<u64> = pairs.iter().map(|p| p.1.to_bits()).collect();
                    assert_eq!(got, want, "case {case} order {order} d {d}");
                }
            }
        }
    }

    /// The table entries against the codes they stand for, all 4096 of them.
    #[test]
    fn step_table_matches_the_codes() {
        for b in 0..4096u64 {
            let e = STEPS[b as usize];
            let bytes = [b as u8, (b >> 8) as u8, 0, 0];
            let mut c = BitCursor::new(&bytes);
            let first = (b & 0xF).trailing_ones();
            if first == 4 {
                assert_eq!(e, STEP_WIDE, "{b:#x}");
                continue;
            }
            let z1 = read_code(&mut c);
            let len1 = [1, 6, 11, 20][first as usize];
            if first == 3 {
                assert_eq!(e, STEP_WIDE | 20, "{b:#x}");
                continue;
            }
            assert_eq!(i64::from(e as i32 >> STEP_R1_SHIFT), unzigzag(z1), "{b:#x}");
            let second = ((b >> len1) & 0xF).trailing_ones();
            let len2 = [1, 6, 11, 20, 64][second as usize];
            if len1 + len2 <= 12 {
                let z2 = read_code(&mut c);
                assert_eq!(e & STEP_LEN, len1 + len2, "{b:#x}");
                assert_ne!(e & STEP_TWO, 0, "{b:#x}");
                let r2 = i64::from(((e << (20 - STEP_R2_SHIFT)) as i32) >> 20);
                assert_eq!(r2, unzigzag(z2), "{b:#x}");
            } else {
                assert_eq!(e & !(0xFFF << STEP_R1_SHIFT), len1, "{b:#x}");
            }
        }
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
