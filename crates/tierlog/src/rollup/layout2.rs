//! Layout 2 of the rollup chunk (rollup segments of version 4 and later): the aggregates
//! that follow from others are coded per bucket instead of per chunk. Normative layout:
//! `format-spec/rollup-chunk.md` §7.
//!
//! - `first` and `last` are, per bucket, "the min", "the max" or a stored value (a code per
//!   bucket, one byte for the chunk when every bucket has the same code);
//! - `p95` is the max wherever the nearest rank is the largest (`count <= 19`): only buckets
//!   of 20 points or more store one;
//! - `max` and `sum` may be stored as decimal offsets from the min (`max - min`,
//!   `sum - count × min` in units of `10^-d`, the sum with an ulp residual);
//! - a counter's `increase` follows from the neighbouring bucket's `last` and the bucket's
//!   own `first`/`last` (`step(last[i-1], first[i]) + (last[i] - first[i])`), with the buckets
//!   where it does not stored as exceptions.
//!
//! - a constant count is one number for the chunk, and a chunk of single-point buckets has
//!   a one-byte head, as in layout 1.
//!
//! Every choice is checked bit for bit by the encoder, which takes per chunk the smallest
//! form of each column. The decoder never panics and leaves `out` unchanged on error.

use std::borrow::Cow;

use crate::error::Corruption;
use crate::rollup::bucket::{Bucket, counter_step};
use crate::rollup::format::{bad, decode_bitmap, decode_scaled_sum, encode_scaled_sum, starts_bitmap};
use crate::segment::codec::values::{LIMIT, POW10, decimal_ints, scaled};
use crate::segment::codec::varint::{Reader, put_uvarint};
use crate::segment::codec::{self, CodecError, MAX_COLUMN_POINTS};

/// Flags: every count is 1 (no count column).
pub const COUNTS_ONE: u8 = 1 << 0;
/// Flags: every NaN count is 0 (no nan_count column).
pub const NO_NAN: u8 = 1 << 1;
/// Flags: the chunk has an increase section (a counter's chunk).
pub const INCREASE: u8 = 1 << 2;
/// Flags: the starts are a slot bitmap.
pub const STARTS_BITMAP: u8 = 1 << 3;
/// Flags: a column of sum codes precedes the sum section, which then holds only the
/// buckets of code 0 (see [`sum_candidate`]).
pub const SUM_CODES: u8 = 1 << 4;
/// Flags: every count is the same (not 1): a uvarint count replaces the count column.
pub const COUNTS_SAME: u8 = 1 << 5;
/// Flags: the forms and first/last bytes are absent: every column equals min (first/last
/// code 0), no p95 is stored, and a counter's increase is derived (a chunk of single-point
/// buckets).
pub const SHORT_HEAD: u8 = 1 << 6;
const FLAGS_KNOWN: u8 = 0x7F;

/// Forms byte, bits 0-1: the max column (0 = equals min, 1 = plain, 2 = offset from min).
pub const MAX_EQ_MIN: u8 = 0;
pub const MAX_PLAIN: u8 = 1;
pub const MAX_OFFSET: u8 = 2;
/// Forms byte, bits 2-3: the sum column (0 = equals min, 1 = plain, 2 = scaled, 3 = offset
/// from `count × min`).
pub const SUM_EQ_MIN: u8 = 0;
pub const SUM_PLAIN: u8 = 1;
pub const SUM_SCALED: u8 = 2;
pub const SUM_OFFSET: u8 = 3;
/// Forms byte, bits 4-5: the increase section (0 = plain, 1 = derived, 2 = derived with
/// exceptions); 0 without [`INCREASE`].
pub const INC_PLAIN: u8 = 0;
pub const INC_DERIVED: u8 = 1;
pub const INC_EXCEPTIONS: u8 = 2;
/// Forms byte, bit 6: every bucket stores its p95 (else only buckets of 20 points or more;
/// the others' p95 is their max).
pub const P95_ALL: u8 = 1 << 6;

/// First/last code of a bucket: `first` code + 3 × `last` code, each 0 = min, 1 = max,
/// 2 = stored. The first/last byte is a code (0..=8) shared by every bucket, or this.
pub const FL_COLUMN: u8 = 9;

/// Buckets with at least this many points store their p95 (below it the nearest rank is
/// the count: p95 is the max).
pub const P95_STORED_FROM: u32 = 20;

/// Names of the sections [`encode_sections`] measures, in stored order.
pub const SECTIONS: [&str; 10] = [
    "head", "starts", "count", "nan_count", "min", "max", "sum", "first/last", "p95", "increase",
];

fn enc(values: &[f64], out: &mut Vec<u8>) {
    codec::encode_values(values, out);
}

fn fl_code(b: &Bucket, v: f64) -> u8 {
    if v.to_bits() == b.min.to_bits() {
        0
    } else if v.to_bits() == b.max.to_bits() {
        1
    } else {
        2
    }
}

/// The increase bucket `i >= 1` gets without a stored value.
#[inline]
fn derived_increase(prev_last: f64, b: &Bucket) -> f64 {
    let s = counter_step(prev_last, b.first);
    if b.count >= 2 { s + (b.last - b.first) } else { s }
}

/// The sum a bucket of at most 4 points gets from its sum code (1 or 2), added in time
/// order as [`crate::rollup::bucket::aggregate`] adds it: the first point, the points
/// between (the min and the max, in the order the code says, for 3 and 4 points), the last.
/// `None` for a code that does not apply to the bucket's count.
#[inline]
pub fn sum_candidate(b: &Bucket, code: u8) -> Option<f64> {
    Some(match (b.count, code) {
        (1, 1) => b.first,
        (2, 1) => b.first + b.last,
        (3, 1) => (b.first + b.min) + b.last,
        (3, 2) => (b.first + b.max) + b.last,
        (4, 1) => ((b.first + b.min) + b.max) + b.last,
        (4, 2) => ((b.first + b.max) + b.min) + b.last,
        _ => return None,
    })
}

/// The sum section of `buckets`: its form and bytes, the smallest form that holds.
fn sum_section(buckets: &[Bucket]) -> (u8, Vec<u8>) {
    if buckets.iter().all(|b| b.sum.to_bits() == b.min.to_bits()) {
        return (SUM_EQ_MIN, Vec::new());
    }
    let sums: Vec<f64> = buckets.iter().map(|b| b.sum).collect();
    let mut body = Vec::new();
    enc(&sums, &mut body);
    let mut form = SUM_PLAIN;
    if let Some(alt) = encode_scaled_sum(buckets)
        && alt.len() < body.len()
    {
        body = alt;
        form = SUM_SCALED;
    }
    if let Some((d, ks, rs)) = sum_offset(buckets) {
        let mut alt = vec![d];
        enc(&ks, &mut alt);
        enc(&rs, &mut alt);
        if alt.len() < body.len() {
            body = alt;
            form = SUM_OFFSET;
        }
    }
    (form, body)
}

/// `n / 10^d` as the decimal codecs decode it.
#[inline]
fn dec(n: i64, d: usize) -> f64 {
    n as f64 / POW10[d]
}

/// The max column as offsets from the min in units of `10^-d`, if every min and max is a
/// `d`-decimal.
fn max_offset(buckets: &[Bucket]) -> Option<(u8, Vec<f64>)> {
    let mins: Vec<f64> = buckets.iter().map(|b| b.min).collect();
    let (d, nmin) = decimal_ints(&mins)?;
    let mut ks = Vec::with_capacity(buckets.len());
    for (b, &n) in buckets.iter().zip(&nmin) {
        let m = scaled(b.max, d)?;
        let k = m.checked_sub(n)?;
        if (k as f64).abs() >= LIMIT || dec(n + k, d).to_bits() != b.max.to_bits() {
            return None;
        }
        ks.push(k as f64);
    }
    Some((d as u8, ks))
}

/// The sum column as `count × min` plus offsets in units of `10^-d`, plus ulp residuals.
fn sum_offset(buckets: &[Bucket]) -> Option<(u8, Vec<f64>, Vec<f64>)> {
    let mins: Vec<f64> = buckets.iter().map(|b| b.min).collect();
    let (d, nmin) = decimal_ints(&mins)?;
    let mut ks = Vec::with_capacity(buckets.len());
    let mut rs = Vec::with_capacity(buckets.len());
    for (b, &n) in buckets.iter().zip(&nmin) {
        let r = (b.sum * POW10[d]).round();
        if r.is_nan() || r.abs() >= LIMIT {
            return None;
        }
        let total = r as i64;
        let k = i128::from(total) - i128::from(b.count) * i128::from(n);
        if k.unsigned_abs() >= 1 << 53 {
            return None;
        }
        let res = b.sum.to_bits().wrapping_sub(dec(total, d).to_bits()) as i64;
        if res.unsigned_abs() >= 1 << 53 {
            return None;
        }
        ks.push(k as f64);
        rs.push(res as f64);
    }
    Some((d as u8, ks, rs))
}

/// Appends the layout-2 chunk of `buckets` (as [`crate::rollup::format::encode_chunk`]
/// requires them) to `out`.
pub fn encode(buckets: &[Bucket], base: i64, out: &mut Vec<u8>) {
    encode_sections(buckets, base, out);
}

/// [`encode`], returning the bytes of each section ([`SECTIONS`]), for tools that show
/// where a chunk's bytes go.
pub fn encode_sections(buckets: &[Bucket], base: i64, out: &mut Vec<u8>) -> [usize; 10] {
    let n = buckets.len();
    debug_assert!(n <= MAX_COLUMN_POINTS, "too many buckets");
    debug_assert!(buckets.windows(2).all(|w| w[0].start < w[1].start));
    let has_inc = buckets.iter().any(|b| b.increase.is_some());
    let inc = |b: &Bucket| b.increase.unwrap_or(f64::NAN);
    let mut sizes = [0usize; 10];
    let at = out.len();
    let col = |f: &dyn Fn(&Bucket) -> f64| -> Vec<f64> { buckets.iter().map(f).collect() };

    let mut flags = 0u8;
    if buckets.iter().all(|b| b.count == 1) {
        flags |= COUNTS_ONE;
    } else if n >= 2 && buckets.iter().all(|b| b.count == buckets[0].count) {
        flags |= COUNTS_SAME;
    }
    if buckets.iter().all(|b| b.nan_count == 0) {
        flags |= NO_NAN;
    }
    if has_inc {
        flags |= INCREASE;
    }
    let rel: Vec<i64> = buckets.iter().map(|b| b.start.wrapping_sub(base)).collect();
    let mut starts = Vec::new();
    codec::encode_timestamps(&rel, &mut starts);
    if let Some(bitmap) = starts_bitmap(&rel, starts.len()) {
        flags |= STARTS_BITMAP;
        starts = bitmap;
    }

    // max: equals min, plain, or offsets from min.
    let mut max_body = Vec::new();
    let max_form = if buckets.iter().all(|b| b.max.to_bits() == b.min.to_bits()) {
        MAX_EQ_MIN
    } else {
        enc(&col(&|b| b.max), &mut max_body);
        if let Some((d, ks)) = max_offset(buckets) {
            let mut alt = vec![d];
            enc(&ks, &mut alt);
            if alt.len() < max_body.len() {
                max_body = alt;
                MAX_OFFSET
            } else {
                MAX_PLAIN
            }
        } else {
            MAX_PLAIN
        }
    };

    // sum: codes for the sums that follow from first, last, min and max, then the others
    // equal to min, plain, scaled, or as offsets from count × min.
    let sum_codes: Vec<u8> = buckets
        .iter()
        .map(|b| {
            (1..=2)
                .find(|&c| sum_candidate(b, c).is_some_and(|v| v.to_bits() == b.sum.to_bits()))
                .unwrap_or(0)
        })
        .collect();
    let (mut sum_form, mut sum_body) = sum_section(buckets);
    if sum_codes.iter().any(|&c| c != 0) {
        let rest: Vec<Bucket> = buckets
            .iter()
            .zip(&sum_codes)
            .filter(|(_, c)| **c == 0)
            .map(|(b, _)| *b)
            .collect();
        let (form, body) = sum_section(&rest);
        let mut alt = Vec::new();
        enc(&sum_codes.iter().map(|&c| f64::from(c)).collect::<Vec<_>>(), &mut alt);
        alt.extend_from_slice(&body);
        if alt.len() < sum_body.len() {
            flags |= SUM_CODES;
            sum_form = form;
            sum_body = alt;
        }
    }

    // first/last codes.
    let codes: Vec<u8> = buckets
        .iter()
        .map(|b| fl_code(b, b.first) + 3 * fl_code(b, b.last))
        .collect();
    let mut fl_body = Vec::new();
    let fl = match codes.first() {
        Some(&c) if codes.iter().all(|&x| x == c) => c,
        None => 0,
        _ => {
            let cs: Vec<f64> = codes.iter().map(|&c| f64::from(c)).collect();
            enc(&cs, &mut fl_body);
            FL_COLUMN
        }
    };
    let firsts: Vec<f64> = buckets
        .iter()
        .zip(&codes)
        .filter(|(_, c)| *c % 3 == 2)
        .map(|(b, _)| b.first)
        .collect();
    let lasts: Vec<f64> = buckets
        .iter()
        .zip(&codes)
        .filter(|(_, c)| *c / 3 == 2)
        .map(|(b, _)| b.last)
        .collect();
    if !firsts.is_empty() {
        enc(&firsts, &mut fl_body);
    }
    if !lasts.is_empty() {
        enc(&lasts, &mut fl_body);
    }

    // p95: stored only where the rank is below the count, unless some bucket disagrees.
    let p95_all = buckets
        .iter()
        .any(|b| b.count < P95_STORED_FROM && b.p95.to_bits() != b.max.to_bits());
    let p95s: Vec<f64> = buckets
        .iter()
        .filter(|b| p95_all || b.count >= P95_STORED_FROM)
        .map(|b| b.p95)
        .collect();

    // increase: plain, derived, or derived with exceptions.
    let mut inc_body = Vec::new();
    let mut inc_form = INC_PLAIN;
    if has_inc {
        enc(&col(&inc), &mut inc_body);
        if n >= 1 {
            let exc: Vec<bool> = (1..n)
                .map(|i| {
                    derived_increase(buckets[i - 1].last, &buckets[i]).to_bits()
                        != inc(&buckets[i]).to_bits()
                })
                .collect();
            let mut stored = vec![inc(&buckets[0])];
            stored.extend((1..n).filter(|&i| exc[i - 1]).map(|i| inc(&buckets[i])));
            let mut alt = Vec::new();
            if stored.len() == 1 {
                enc(&stored, &mut alt);
                inc_body = alt;
                inc_form = INC_DERIVED;
            } else {
                let flags_col: Vec<f64> = exc.iter().map(|&e| f64::from(u8::from(e))).collect();
                enc(&flags_col, &mut alt);
                enc(&stored, &mut alt);
                if alt.len() < inc_body.len() {
                    inc_body = alt;
                    inc_form = INC_EXCEPTIONS;
                }
            }
        }
    }

    let forms = max_form | (sum_form << 2) | (inc_form << 4) | if p95_all { P95_ALL } else { 0 };
    let short = if has_inc { INC_DERIVED << 4 } else { 0 };
    if forms == short && fl == 0 && flags & SUM_CODES == 0 {
        flags |= SHORT_HEAD;
        out.push(flags);
    } else {
        out.push(flags);
        out.push(forms);
        out.push(fl);
    }
    sizes[0] = out.len() - at;
    let mut mark = out.len();
    let mut section = |k: usize, out: &mut Vec<u8>| {
        sizes[k] = out.len() - mark;
        mark = out.len();
    };
    out.extend_from_slice(&starts);
    section(1, out);
    if flags & COUNTS_SAME != 0 {
        put_uvarint(out, u64::from(buckets[0].count));
    } else if flags & COUNTS_ONE == 0 {
        enc(&col(&|b| f64::from(b.count)), out);
    }
    section(2, out);
    if flags & NO_NAN == 0 {
        enc(&col(&|b| f64::from(b.nan_count)), out);
    }
    section(3, out);
    enc(&col(&|b| b.min), out);
    section(4, out);
    out.extend_from_slice(&max_body);
    section(5, out);
    out.extend_from_slice(&sum_body);
    section(6, out);
    out.extend_from_slice(&fl_body);
    section(7, out);
    if !p95s.is_empty() {
        enc(&p95s, out);
    }
    section(8, out);
    out.extend_from_slice(&inc_body);
    section(9, out);
    sizes
}

/// Reads one value column that must hold `want` values.
fn column(input: &[u8], r: &mut Reader<'_>, want: usize) -> Result<Vec<f64>, Corruption> {
    let mut v = Vec::new();
    let used = codec::decode_values(&input[r.pos()..], &mut v)?;
    r.bytes(used)?;
    if v.len() != want {
        return Err(bad("rollup chunk columns hold different bucket counts"));
    }
    Ok(v)
}

/// A stored small integer (count, code, flag) as the exact f64 of an integer in `0..=max`.
fn small_int(v: f64, max: u32) -> Option<u32> {
    let c = v as u32;
    (c <= max && f64::from(c).to_bits() == v.to_bits()).then_some(c)
}

/// An integer-valued f64 below 2^53 in magnitude, as the encoder writes them.
fn int53(v: f64) -> Option<i64> {
    (v.fract() == 0.0 && v.abs() < LIMIT).then_some(v as i64)
}

/// Decodes a layout-2 chunk into `cols` (replacing what it held).
pub fn decode_columns(
    input: &[u8],
    base: i64,
    cols: &mut crate::rollup::format::ChunkColumns,
) -> Result<(), Corruption> {
    let mut out = Vec::new();
    decode(input, base, &mut out)?;
    cols.fill_from_buckets(&out);
    Ok(())
}

/// Decodes a layout-2 chunk (after nothing: `input` starts at the flags byte), appending
/// its buckets to `out`; on error `out` is unchanged.
pub fn decode(input: &[u8], base: i64, out: &mut Vec<Bucket>) -> Result<(), Corruption> {
    let mut r = Reader::new(input);
    let flags = r.u8()?;
    if flags & !FLAGS_KNOWN != 0 {
        return Err(bad("unknown rollup chunk flags"));
    }
    if flags & COUNTS_SAME != 0 && flags & COUNTS_ONE != 0 {
        return Err(bad("counts both one and the same"));
    }
    let (forms, fl) = if flags & SHORT_HEAD != 0 {
        if flags & SUM_CODES != 0 {
            return Err(bad("sum codes in a chunk without forms"));
        }
        (if flags & INCREASE != 0 { INC_DERIVED << 4 } else { 0 }, 0)
    } else {
        (r.u8()?, r.u8()?)
    };
    if forms & 0x80 != 0 {
        return Err(bad("unknown rollup chunk flags"));
    }
    let max_form = forms & 3;
    let sum_form = (forms >> 2) & 3;
    let inc_form = (forms >> 4) & 3;
    let p95_all = forms & P95_ALL != 0;
    let has_inc = flags & INCREASE != 0;
    if max_form > MAX_OFFSET || inc_form > INC_EXCEPTIONS || (!has_inc && inc_form != INC_PLAIN) {
        return Err(bad("unknown rollup chunk column form"));
    }
    if fl > FL_COLUMN {
        return Err(bad("bad first/last code"));
    }

    let mut starts: Vec<i64> = Vec::new();
    if flags & STARTS_BITMAP != 0 {
        decode_bitmap(&mut r, &mut starts)?;
    } else {
        let used = codec::decode_timestamps(&input[r.pos()..], &mut starts)?;
        r.bytes(used)?;
    }
    let n = starts.len();
    for s in &mut starts {
        *s = s.wrapping_add(base);
    }
    if !starts.windows(2).all(|w| w[0] < w[1]) {
        return Err(bad("bucket starts not strictly increasing"));
    }

    let ints = |v: Vec<f64>, max: u32| -> Result<Vec<u32>, Corruption> {
        v.into_iter()
            .map(|x| small_int(x, max).ok_or(bad("bucket count is not an integer in 0..=u32::MAX")))
            .collect()
    };
    let counts = if flags & COUNTS_SAME != 0 {
        let c = u32::try_from(r.uvarint()?).map_err(|_| bad("bucket count out of range"))?;
        vec![c; n]
    } else if flags & COUNTS_ONE == 0 {
        ints(column(input, &mut r, n)?, u32::MAX)?
    } else {
        vec![1; n]
    };
    let nans = if flags & NO_NAN == 0 {
        ints(column(input, &mut r, n)?, u32::MAX)?
    } else {
        vec![0; n]
    };
    if counts.iter().zip(&nans).any(|(&c, &z)| c == 0 && z == 0) {
        return Err(bad("bucket without points"));
    }
    let min = column(input, &mut r, n)?;
    // The min column as `d`-decimal integers (offset forms).
    let ints_of = |vals: &[f64], d: u8| -> Result<(usize, Vec<i64>), Corruption> {
        let d = usize::from(d);
        if d >= POW10.len() {
            return Err(bad("decimals out of range"));
        }
        let v = vals
            .iter()
            .map(|&m| scaled(m, d).ok_or(bad("offset column over a non-decimal min")))
            .collect::<Result<Vec<i64>, _>>()?;
        Ok((d, v))
    };

    // The min column's integers at the last `d` asked, shared by the offset forms.
    let mut min_ints: Option<(usize, Vec<i64>)> = None;
    let max: Cow<'_, [f64]> = match max_form {
        MAX_EQ_MIN => Cow::Borrowed(&min),
        MAX_PLAIN => Cow::Owned(column(input, &mut r, n)?),
        _ => Cow::Owned({
            let (d, nmin) = min_ints.insert(ints_of(&min, r.u8()?)?);
            let d = *d;
            let ks = column(input, &mut r, n)?;
            nmin.iter()
                .zip(&ks)
                .map(|(&m, &k)| {
                    let t = int53(k).and_then(|k| m.checked_add(k)).filter(|t| (*t as f64).abs() < LIMIT);
                    t.map(|t| dec(t, d)).ok_or(bad("max offset out of range"))
                })
                .collect::<Result<Vec<f64>, _>>()?
        }),
    };
    // Sum codes, then the sums of the buckets of code 0.
    let sum_codes: Option<Vec<u8>> = if flags & SUM_CODES != 0 {
        Some(
            column(input, &mut r, n)?
                .into_iter()
                .map(|x| small_int(x, 2).map(|c| c as u8).ok_or(bad("bad sum code")))
                .collect::<Result<_, _>>()?,
        )
    } else {
        None
    };
    // The buckets of sum code 0: all of them without codes.
    let (rest_min, rest_counts): (Cow<'_, [f64]>, Cow<'_, [u32]>) = match &sum_codes {
        None => (Cow::Borrowed(&min), Cow::Borrowed(&counts)),
        Some(c) => {
            let rest = (0..n).filter(|&i| c[i] == 0);
            (
                Cow::Owned(rest.clone().map(|i| min[i]).collect()),
                Cow::Owned(rest.map(|i| counts[i]).collect()),
            )
        }
    };
    let m = rest_min.len();
    let sum: Cow<'_, [f64]> = match sum_form {
        SUM_EQ_MIN => Cow::Borrowed(&rest_min),
        SUM_PLAIN => Cow::Owned(column(input, &mut r, m)?),
        SUM_SCALED => {
            let d = r.u8()?;
            let ns = column(input, &mut r, m)?;
            let rs = column(input, &mut r, m)?;
            let mut v = Vec::new();
            decode_scaled_sum(d, &ns, &rs, &mut v)?;
            Cow::Owned(v)
        }
        _ => Cow::Owned({
            let d = r.u8()?;
            let cached;
            let (d, nmin) = match &min_ints {
                Some((e, v)) if sum_codes.is_none() && *e == usize::from(d) => (*e, v),
                _ => {
                    cached = ints_of(&rest_min, d)?;
                    (cached.0, &cached.1)
                }
            };
            let ks = column(input, &mut r, m)?;
            let rs = column(input, &mut r, m)?;
            let mut v = Vec::with_capacity(m);
            for i in 0..m {
                let (Some(k), Some(res)) = (int53(ks[i]), int53(rs[i])) else {
                    return Err(bad("sum offset column holds a non-integer"));
                };
                let t = i128::from(rest_counts[i]) * i128::from(nmin[i]) + i128::from(k);
                if t.unsigned_abs() >= 1 << 53 {
                    return Err(bad("sum offset out of range"));
                }
                v.push(f64::from_bits(dec(t as i64, d).to_bits().wrapping_add(res as u64)));
            }
            v
        }),
    };

    let codes: Vec<u8> = if fl == FL_COLUMN {
        column(input, &mut r, n)?
            .into_iter()
            .map(|x| small_int(x, 8).map(|c| c as u8).ok_or(bad("bad first/last code")))
            .collect::<Result<_, _>>()?
    } else {
        vec![fl; n]
    };
    let n_first = codes.iter().filter(|&&c| c % 3 == 2).count();
    let n_last = codes.iter().filter(|&&c| c / 3 == 2).count();
    let firsts = if n_first > 0 { column(input, &mut r, n_first)? } else { Vec::new() };
    let lasts = if n_last > 0 { column(input, &mut r, n_last)? } else { Vec::new() };
    let n_p95 = if p95_all {
        n
    } else {
        counts.iter().filter(|&&c| c >= P95_STORED_FROM).count()
    };
    let p95s = if n_p95 > 0 { column(input, &mut r, n_p95)? } else { Vec::new() };

    // Increase: values, and which buckets derive theirs.
    let (inc_vals, derive): (Vec<f64>, Vec<bool>) = if !has_inc {
        (Vec::new(), Vec::new())
    } else {
        match inc_form {
            INC_PLAIN => (column(input, &mut r, n)?, vec![false; n]),
            INC_DERIVED => {
                if n == 0 {
                    return Err(bad("derived increase needs a bucket"));
                }
                let mut d = vec![true; n];
                d[0] = false;
                (column(input, &mut r, 1)?, d)
            }
            _ => {
                if n < 2 {
                    return Err(bad("increase exceptions need two buckets"));
                }
                let fs = column(input, &mut r, n - 1)?;
                let mut d = vec![false; n];
                for (i, &f) in fs.iter().enumerate() {
                    d[i + 1] = small_int(f, 1).ok_or(bad("bad increase exception flag"))? == 0;
                }
                let stored = d.iter().filter(|&&x| !x).count();
                (column(input, &mut r, stored)?, d)
            }
        }
    };
    if r.remaining() != 0 {
        return Err(Corruption::Codec(CodecError::TrailingBytes {
            extra: r.remaining(),
        }));
    }

    let start_len = out.len();
    out.reserve(n);
    let (mut fi, mut li, mut pi, mut ii, mut si) = (0, 0, 0, 0, 0);
    let mut prev_last = f64::NAN;
    for i in 0..n {
        let pick = |code: u8, stored: &[f64], k: &mut usize| match code {
            0 => min[i],
            1 => max[i],
            _ => {
                *k += 1;
                stored[*k - 1]
            }
        };
        let first = pick(codes[i] % 3, &firsts, &mut fi);
        let last = pick(codes[i] / 3, &lasts, &mut li);
        let p95 = if p95_all || counts[i] >= P95_STORED_FROM {
            pi += 1;
            p95s[pi - 1]
        } else {
            max[i]
        };
        let mut b = Bucket {
            start: starts[i],
            count: counts[i],
            nan_count: nans[i],
            min: min[i],
            max: max[i],
            sum: 0.0,
            first,
            last,
            p95,
            increase: None,
        };
        let code = sum_codes.as_ref().map_or(0, |c| c[i]);
        b.sum = if code == 0 {
            si += 1;
            sum[si - 1]
        } else {
            match sum_candidate(&b, code) {
                Some(v) => v,
                None => {
                    out.truncate(start_len);
                    return Err(bad("sum code does not fit the bucket's count"));
                }
            }
        };
        if has_inc {
            b.increase = Some(if derive[i] {
                derived_increase(prev_last, &b)
            } else {
                ii += 1;
                inc_vals[ii - 1]
            });
        }
        prev_last = last;
        out.push(b);
    }
    debug_assert_eq!(out.len() - start_len, n);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::bucket::aggregate;
    use proptest::prelude::*;

    type Bits = (i64, u32, u32, [u64; 6], Option<u64>);

    fn bits(b: &Bucket) -> Bits {
        (
            b.start,
            b.count,
            b.nan_count,
            [b.min, b.max, b.sum, b.first, b.last, b.p95].map(f64::to_bits),
            b.increase.map(f64::to_bits),
        )
    }

    const SENTINEL: Bucket = Bucket {
        start: 0,
        count: 1,
        nan_count: 0,
        min: 0.0,
        max: 0.0,
        sum: 0.0,
        first: 0.0,
        last: 0.0,
        p95: 0.0,
        increase: None,
    };

    /// Encodes, decodes behind a sentinel, checks every bit; returns the chunk.
    fn round_trip(buckets: &[Bucket], base: i64) -> Vec<u8> {
        let mut enc = Vec::new();
        encode(buckets, base, &mut enc);
        let mut back = vec![SENTINEL];
        decode(&enc, base, &mut back).expect("decodes");
        assert_eq!(bits(&back[0]), bits(&SENTINEL));
        let got: Vec<Bits> = back[1..].iter().map(bits).collect();
        let want: Vec<Bits> = buckets.iter().map(bits).collect();
        assert_eq!(got, want);
        enc
    }

    /// Values that stress exactness: NaN payloads, ±0, ±Inf, subnormals, extremes, decimals.
    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            6 => (-100_000i64..100_000).prop_map(|n| n as f64 / 100.0),
            3 => (0i64..1 << 40).prop_map(|n| (n * 4096) as f64),
            1 => Just(f64::NAN),
            1 => any::<u64>().prop_map(|p| f64::from_bits(0x7FF0_0000_0000_0001 | p)), // NaN payloads
            1 => Just(-0.0),
            1 => Just(0.0),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(f64::MIN_POSITIVE / 4.0),
            1 => Just(-5e-324),
            1 => Just(f64::MAX),
            1 => Just(f64::MIN),
            2 => any::<u64>().prop_map(f64::from_bits),
        ]
    }

    /// Raw points of one series: gauges, counters with resets, gaps, NaN runs.
    fn points() -> impl Strategy<Value = Vec<(i64, f64)>> {
        (
            -10_000_000i64..10_000_000,
            prop::collection::vec((1i64..40_000, value(), 0u8..4), 0..400),
        )
            .prop_map(|(t0, steps)| {
                let mut t = t0;
                let mut c = 0.0f64;
                steps
                    .into_iter()
                    .map(|(d, v, mode)| {
                        t += d;
                        match mode {
                            // A counter that rises by the value's magnitude, sometimes resets.
                            0 | 1 if !v.is_nan() => {
                                if v.is_finite() && v < -900.0 {
                                    c = 0.0;
                                } else {
                                    c += v.abs().min(1e6);
                                }
                                (t, c)
                            }
                            _ => (t, v),
                        }
                    })
                    .collect()
            })
    }

    /// Buckets made directly, not by `aggregate`: aggregates that disagree with each other
    /// (p95 other than max under 20 points, any increase), which only the fallbacks carry.
    fn loose_buckets() -> impl Strategy<Value = Vec<Bucket>> {
        prop::collection::vec(
            (
                1i64..100_000,
                prop_oneof![Just(1u32), 0u32..30, any::<u32>()],
                prop_oneof![3 => Just(0u32), 1 => any::<u32>()],
                prop::array::uniform6(value()),
                prop::option::of(value()),
            ),
            0..80,
        )
        .prop_map(|v| {
            let mut t = -50_000i64;
            let counter = v.first().is_some_and(|x| x.4.is_some());
            v.into_iter()
                .map(|(d, count, nan, a, inc)| {
                    t += d;
                    let count = if count == 0 && nan == 0 { 1 } else { count };
                    Bucket {
                        start: t,
                        count,
                        nan_count: nan,
                        min: a[0],
                        max: a[1],
                        sum: a[2],
                        first: a[3],
                        last: a[4],
                        p95: a[5],
                        increase: counter.then(|| inc.unwrap_or(a[4])),
                    }
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn aggregated_buckets_round_trip_bit_exact(
            pts in points(),
            interval in prop::sample::select(vec![1i64, 1_000, 10_000, 15_000, 60_000, 300_000]),
            counter in any::<bool>(),
            prev in prop::option::of(value()),
            below in prop_oneof![Just(0i64), 0i64..2_000_000_000],
        ) {
            let mut b = Vec::new();
            aggregate(&pts, interval, counter, if counter { prev } else { None }, &mut b);
            let base = b.first().map_or(0, |b| b.start) - below;
            round_trip(&b, base);
        }

        #[test]
        fn loose_buckets_round_trip_bit_exact(b in loose_buckets(), below in 0i64..1_000_000) {
            let base = b.first().map_or(0, |b| b.start) - below;
            round_trip(&b, base);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), base in any::<i64>()) {
            let mut out = vec![SENTINEL];
            match decode(&bytes, base, &mut out) {
                Ok(()) => {
                    let got = out[1..].to_vec();
                    prop_assert!(got.windows(2).all(|w| w[0].start < w[1].start));
                    prop_assert!(got.iter().all(|b| b.count + b.nan_count > 0 || b.count > 0 || b.nan_count > 0));
                    if got.windows(2).all(|w| w[0].start.wrapping_sub(base) < w[1].start.wrapping_sub(base)) {
                        round_trip(&got, base);
                    }
                }
                Err(_) => prop_assert_eq!(out.len(), 1),
            }
        }

        #[test]
        fn arbitrary_bytes_behind_valid_heads(tail in prop::collection::vec(any::<u8>(), 0..120), flags in 0u8..16, forms in 0u8..128, fl in 0u8..10) {
            let mut bytes = vec![flags, forms, fl];
            bytes.extend_from_slice(&tail);
            let mut out = vec![SENTINEL];
            if decode(&bytes, 0, &mut out).is_err() {
                prop_assert_eq!(out.len(), 1);
            }
        }
    }

    /// The example of `format-spec/rollup-chunk.md` §7.5: layout 1's two buckets (§6), and a
    /// counter scraped every 15 s in 60 s buckets.
    #[test]
    fn golden_layout2() {
        let gauge = [
            Bucket {
                start: 1_700_000_000_000,
                count: 2,
                nan_count: 0,
                min: 1.0,
                max: 2.0,
                sum: 3.0,
                first: 1.0,
                last: 2.0,
                p95: 2.0,
                increase: None,
            },
            Bucket {
                start: 1_700_000_010_000,
                count: 1,
                nan_count: 1,
                min: 5.0,
                max: 5.0,
                sum: 5.0,
                first: 5.0,
                last: 5.0,
                p95: 5.0,
                increase: None,
            },
        ];
        let enc = round_trip(&gauge, 1_699_999_200_000);
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x00, 0x05, 0x09,                         // flags; forms: max plain, sum plain; first/last: codes column
            0x01, 0x02, 0x80, 0xD4, 0x61, 0xE8, 0x07, 0x14, 0x01, // starts (delta-runs)
            0x03, 0x02, 0x00, 0x04, 0x01,             // count [2, 1]
            0x03, 0x02, 0x00, 0x00, 0x02,             // nan_count [0, 1]
            0x03, 0x02, 0x00, 0x02, 0x08,             // min [1, 5]
            0x03, 0x02, 0x00, 0x04, 0x06,             // max [2, 5]
            0x03, 0x02, 0x00, 0x06, 0x04,             // sum [3, 5]
            0x03, 0x02, 0x00, 0x06, 0x05,             // first/last codes [3, 0]: (min, max), (min, min)
        ];
        assert_eq!(enc, want, "{enc:02X?}");

        // Points 100, 104, 110, 111 | 115, 120, 130, 131 | 131 (a step of 0 from 131).
        let pts = [
            (0, 100.0), (15_000, 104.0), (30_000, 110.0), (45_000, 111.0),
            (60_000, 115.0), (75_000, 120.0), (90_000, 130.0), (105_000, 131.0),
            (120_000, 131.0),
        ];
        let mut b = Vec::new();
        aggregate(&pts, 60_000, true, Some(99.0), &mut b);
        let enc = round_trip(&b, 0);
        assert_eq!(encode_sections(&b, 0, &mut Vec::new()), [3, 7, 7, 0, 9, 8, 11, 7, 0, 4]);
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x06, 0x15, 0x09,                         // flags: no-nan, increase; forms: max plain, sum plain, increase derived; first/last: codes column
            0x01, 0x03, 0x00, 0xE8, 0x07, 0x78, 0x02, // starts [0, 60_000, 120_000] (delta-runs)
            0x04, 0x03, 0x00, 0x01, 0x08, 0x03, 0x02, // count [4, 4, 1]
            0x02, 0x03, 0x00, 0xC8, 0x01, 0x01, 0x1E, 0x01, 0x02, // min [100, 115, 131]
            0x04, 0x03, 0x00, 0x01, 0xDE, 0x01, 0x14, 0x05, // max [111, 131, 131]
            0x02, 0x03, 0x00, 0xD2, 0x06, 0x01, 0xD9, 0x05, 0xB4, 0x03, 0x01, // sum [425, 496, 131]
            0x04, 0x03, 0x00, 0x01, 0x06, 0x03, 0x02, // first/last codes [3, 3, 0]
            0x02, 0x01, 0x00, 0x18,                   // increase of bucket 0: [12]
        ];
        assert_eq!(enc, want, "{enc:02X?}");
    }

    /// Single-point counter buckets (15 s scrapes in 10 s buckets): one flags byte, no
    /// forms; and constant counts (60 s buckets of 15 s scrapes): one count for the chunk.
    #[test]
    fn golden_layout2_short_forms() {
        let pts = [(20_000, 10.0), (30_000, 12.0), (50_000, 3.0)];
        let mut b = Vec::new();
        aggregate(&pts, 10_000, true, None, &mut b);
        let enc = round_trip(&b, 0);
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x4F,                                     // flags: counts-one, no-nan, increase, bitmap, short head
            0x03, 0xC0, 0xB8, 0x02, 0x90, 0x4E, 0x04, 0x03, 0x03, // starts bitmap [20_000, 30_000, 50_000]
            0x02, 0x03, 0x00, 0x14, 0x01, 0x11, 0x0B, 0x01, // min [10, 12, 3]
            0x02, 0x01, 0x00, 0x00,                   // increase of bucket 0: [0]; 2 and 3 derived
        ];
        assert_eq!(enc, want, "{enc:02X?}");
        let pts: Vec<(i64, f64)> = (0..8).map(|i| (i * 15_000, (i % 3) as f64)).collect();
        let mut b = Vec::new();
        aggregate(&pts, 60_000, false, None, &mut b);
        let enc = round_trip(&b, 0);
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x22, 0x05, 0x09,                         // flags: no-nan, counts-same; forms: max plain, sum plain; fl: codes column
            0x01, 0x02, 0x00, 0xE8, 0x07, 0x78, 0x01, // starts [0, 60_000]
            0x04,                                     // every count is 4
            0x03, 0x02, 0x00, 0x00, 0x00,             // min [0, 0]
            0x03, 0x02, 0x00, 0x04, 0x00,             // max [2, 2]
            0x03, 0x02, 0x00, 0x06, 0x02,             // sum [3, 4]
            0x03, 0x02, 0x00, 0x00, 0x10,             // first/last codes [0, 8]: (min, min), (stored, stored)
            0x02, 0x01, 0x00, 0x02,                   // first column [1]
            0x02, 0x01, 0x00, 0x02,                   // last column [1]
        ];
        assert_eq!(enc, want, "{enc:02X?}");
    }

    /// Every strict prefix of a chunk is refused as truncated, a longer one as trailing bytes.
    #[test]
    fn every_prefix_is_truncated() {
        let pts: Vec<(i64, f64)> = (0..300)
            .map(|i| {
                let v = if i % 13 == 0 {
                    f64::NAN
                } else if i % 7 == 0 {
                    (i % 17) as f64 * 0.5
                } else {
                    i as f64 * 1.25
                };
                (i * 1_000 + (i % 3) * 300, v)
            })
            .collect();
        for (interval, counter) in [(10_000, true), (60_000, false), (15_000, true), (1_000, false), (30_000, true)] {
            let mut b = Vec::new();
            aggregate(&pts, interval, counter, None, &mut b);
            let enc = round_trip(&b, -5_000);
            for cut in 0..enc.len() {
                let mut out = vec![SENTINEL];
                let r = decode(&enc[..cut], -5_000, &mut out);
                assert!(
                    matches!(r, Err(Corruption::Codec(CodecError::Truncated { .. }))),
                    "prefix {cut} of {}: {r:?}",
                    enc.len()
                );
                assert_eq!(out.len(), 1);
            }
            let mut long = enc.clone();
            long.push(0);
            assert!(matches!(
                decode(&long, -5_000, &mut Vec::new()),
                Err(Corruption::Codec(CodecError::TrailingBytes { extra: 1 }))
            ));
        }
    }
}
