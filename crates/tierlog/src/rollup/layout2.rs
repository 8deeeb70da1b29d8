//! Layout 2 of the rollup chunk (rollup segments of version 4 and later): the aggregates
//! that follow from others are coded per bucket instead of per chunk. Normative layout:
//! `format-spec/rollup-chunk.md` §7.
//!
//! - `first` and `last` are, per bucket, "the min", "the max" or a stored value (a code per
//!   bucket, one byte for the chunk when every bucket has the same code);
//! - `p95` is the max wherever the nearest rank is the largest (`count <= 19`): only buckets
//!   of 20 points or more store one, from rollup segment version 5 on as decimal distances
//!   below the max where that is shorter;
//! - `max` and `sum` may be stored as decimal offsets from the min (`max - min`,
//!   `sum - count × min` in units of `10^-d`, the sum with an ulp residual);
//! - a counter's `increase` follows from the neighbouring bucket's `last` and the bucket's
//!   own `first`/`last` (`step(last[i-1], first[i]) + (last[i] - first[i])`), with the buckets
//!   where it does not stored as exceptions.
//!
//! - a constant count is one number for the chunk, and a chunk of single-point buckets has
//!   a one-byte head, as in layout 1; from rollup segment version 6 on, counts that are
//!   mostly the same are that count and a list of exceptions;
//! - from rollup segment version 6 on, the min column may hold each min's step from the
//!   previous bucket's max (max form 3, with the maxes as offsets from the min): a counter's
//!   or slow gauge's mins cost the rise across one bucket boundary, not across a bucket.
//!
//! Every choice is checked bit for bit by the encoder, which takes per chunk the smallest
//! form of each column. The decoder never panics and leaves `out` unchanged on error.

use crate::error::Corruption;
use crate::rollup::bucket::{Bucket, counter_step};
use crate::rollup::format::{
    COUNT_EXCEPTIONS_SINCE, ChunkColumns, MIN_STEPS_SINCE, P95_OFFSET_SINCE, ROLLUP_VERSION, bad, decode_bitmap,
    decode_scaled_sum, encode_scaled_sum, starts_bitmap,
};
use crate::segment::codec::values::{self, LIMIT, POW10, decimal_ints, scaled};
use crate::segment::codec::varint::{Reader, put_ivarint, put_uvarint};
use crate::segment::codec::{self, CodecError, MAX_COLUMN_POINTS, ValueSlot, varbits};

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
/// Max form: offsets from the min, the min column holding each min's step from the previous
/// bucket's max (rollup segments of version 6 and later).
pub const MAX_STEPS: u8 = 3;
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
/// Forms byte, bit 7: the stored p95s are distances below the max in units of `10^-d`
/// (rollup segments of version 5 and later).
pub const P95_OFFSET: u8 = 1 << 7;

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
    sum_of(b.count, code, b.first, b.last, b.min, b.max)
}

/// Which sum a bucket of `count` points and sum code `code` (0..=2) gets, without a branch:
/// the index among `[stored, first, first + last, (first + min) + last, (first + max) + last,
/// ((first + min) + max) + last, ((first + max) + min) + last]`, or 7 where the code does not
/// apply to the count (see [`sum_of`]).
const SUM_PICK: [[u8; 3]; 6] = [
    [0, 7, 7], // count 0
    [0, 1, 7], // count 1
    [0, 2, 7], // count 2
    [0, 3, 4], // count 3
    [0, 5, 6], // count 4
    [0, 7, 7], // more
];

/// The sum of a bucket from its sum code: `stored` for code 0, else [`sum_of`]; and whether
/// the code applies to the count (else the value is meaningless).
#[inline(always)]
fn sum_pick(
    count: u32,
    code: u8,
    first: f64,
    last: f64,
    min: f64,
    max: f64,
    stored: f64,
) -> (f64, bool) {
    let fmin = first + min;
    let fmax = first + max;
    let all = [
        stored,
        first,
        first + last,
        fmin + last,
        fmax + last,
        (fmin + max) + last,
        (fmax + min) + last,
        0.0,
    ];
    let at = SUM_PICK[count.min(5) as usize][usize::from(code.min(2))];
    (all[usize::from(at)], at != 7)
}

/// [`sum_candidate`] of a bucket given by its fields.
#[inline]
fn sum_of(count: u32, code: u8, first: f64, last: f64, min: f64, max: f64) -> Option<f64> {
    Some(match (count, code) {
        (1, 1) => first,
        (2, 1) => first + last,
        (3, 1) => (first + min) + last,
        (3, 2) => (first + max) + last,
        (4, 1) => ((first + min) + max) + last,
        (4, 2) => ((first + max) + min) + last,
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
/// `d`-decimal. Also the first min's integer and the later mins as steps from the previous
/// bucket's max, where every step is below 2^53 in magnitude and the steps look cheaper than
/// the mins: their largest first difference needs fewer bits than the mins' (a check of a
/// few integer operations a bucket; encoding the steps for every chunk cost materialisation
/// a tenth of its speed).
#[allow(clippy::type_complexity)]
fn max_offset(buckets: &[Bucket]) -> Option<(u8, Vec<f64>, Option<(i64, Vec<f64>)>)> {
    let mins: Vec<f64> = buckets.iter().map(|b| b.min).collect();
    let (d, nmin) = decimal_ints(&mins)?;
    let mut ks = Vec::with_capacity(buckets.len());
    let mut maxes = Vec::with_capacity(buckets.len());
    for (b, &n) in buckets.iter().zip(&nmin) {
        let m = scaled(b.max, d)?;
        let k = m.checked_sub(n)?;
        if (k as f64).abs() >= LIMIT || dec(n + k, d).to_bits() != b.max.to_bits() {
            return None;
        }
        ks.push(k as f64);
        maxes.push(m);
    }
    // Both below 2^53 in magnitude: every difference below fits an i64.
    let steps: Vec<i64> = nmin.iter().skip(1).zip(&maxes).map(|(&n, &m)| n - m).collect();
    let spread = |v: &[i64]| v.windows(2).map(|w| (w[1] - w[0]).unsigned_abs()).max().unwrap_or(0);
    let bits = |x: u64| u64::BITS - x.leading_zeros();
    let cheaper = bits(spread(&nmin)) > bits(spread(&steps));
    let fits = steps.iter().all(|s| s.unsigned_abs() < 1 << 53);
    let steps = (cheaper && fits).then(|| (nmin[0], steps.iter().map(|&s| s as f64).collect()));
    Some((d as u8, ks, steps))
}

/// The counts as exceptions from the commonest (the smallest of the commonest on a tie):
/// `uvarint c, uvarint E`, then per exception `uvarint gap, uvarint count`
/// (`format-spec/rollup-chunk.md` §7.1). `None` when every count is the same.
fn count_exceptions(buckets: &[Bucket]) -> Option<Vec<u8>> {
    // A count held by more than half the buckets is the commonest (one pass to find the
    // only candidate, one to count it); else sort.
    let mut candidate = (buckets.first()?.count, 0usize);
    for b in buckets {
        candidate = match candidate {
            (_, 0) => (b.count, 1),
            (c, k) if c == b.count => (c, k + 1),
            (c, k) => (c, k - 1),
        };
    }
    let held = buckets.iter().filter(|b| b.count == candidate.0).count();
    let (common, best) = if 2 * held > buckets.len() {
        (candidate.0, held)
    } else {
        let mut sorted: Vec<u32> = buckets.iter().map(|b| b.count).collect();
        sorted.sort_unstable();
        let (mut common, mut best, mut run) = (sorted[0], 0usize, 0usize);
        for (i, &c) in sorted.iter().enumerate() {
            run = if i > 0 && sorted[i - 1] == c { run + 1 } else { 1 };
            if run > best {
                (common, best) = (c, run);
            }
        }
        (common, best)
    };
    if best == buckets.len() {
        return None;
    }
    let mut out = Vec::new();
    put_uvarint(&mut out, u64::from(common));
    put_uvarint(&mut out, (buckets.len() - best) as u64);
    let mut next = 0usize;
    for (i, b) in buckets.iter().enumerate().filter(|(_, b)| b.count != common) {
        put_uvarint(&mut out, (i - next) as u64);
        put_uvarint(&mut out, u64::from(b.count));
        next = i + 1;
    }
    Some(out)
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

/// The stored p95s as distances below their bucket's max in units of `10^-d`, if every
/// max and p95 is a `d`-decimal: at `prefer` (the max offsets' `d`, whose integers the
/// decoder then has) if they all are, else at the smallest `d` that holds.
fn p95_below_max(maxes: &[f64], p95s: &[f64], prefer: Option<u8>) -> Option<(u8, Vec<f64>)> {
    let both: Vec<f64> = maxes.iter().chain(p95s).copied().collect();
    let at = |d: u8| -> Option<(usize, Vec<i64>)> {
        let ints = both.iter().map(|&v| scaled(v, usize::from(d))).collect::<Option<Vec<i64>>>()?;
        Some((usize::from(d), ints))
    };
    let (d, ints) = prefer.and_then(at).or_else(|| decimal_ints(&both))?;
    let (m, p) = ints.split_at(maxes.len());
    // Both below 2^53 in magnitude: the difference fits an i64 and, below 2^53, a column.
    let js: Vec<f64> = m.iter().zip(p).map(|(&m, &p)| (m - p) as f64).collect();
    js.iter().all(|j| j.abs() < LIMIT).then_some((d as u8, js))
}

/// Appends the layout-2 chunk of `buckets` (as [`crate::rollup::format::encode_chunk`]
/// requires them) to `out`, with every form of the newest rollup segment version.
pub fn encode(buckets: &[Bucket], base: i64, out: &mut Vec<u8>) {
    encode_sections(buckets, base, out);
}

/// [`encode`] for a rollup segment of `version` (at least
/// [`crate::rollup::format::LAYOUT2_SINCE`]): the p95 offsets only from
/// [`crate::rollup::format::P95_OFFSET_SINCE`] on, count exceptions and min steps only from
/// [`crate::rollup::format::COUNT_EXCEPTIONS_SINCE`] and
/// [`crate::rollup::format::MIN_STEPS_SINCE`] on.
pub fn encode_version(version: u16, buckets: &[Bucket], base: i64, out: &mut Vec<u8>) {
    encode_forms(buckets, base, out, version);
}

/// [`encode`], returning the bytes of each section ([`SECTIONS`]), for tools that show
/// where a chunk's bytes go.
pub fn encode_sections(buckets: &[Bucket], base: i64, out: &mut Vec<u8>) -> [usize; 10] {
    encode_forms(buckets, base, out, ROLLUP_VERSION)
}

fn encode_forms(buckets: &[Bucket], base: i64, out: &mut Vec<u8>, version: u16) -> [usize; 10] {
    let p95_offset_ok = version >= P95_OFFSET_SINCE;
    let n = buckets.len();
    debug_assert!(n <= MAX_COLUMN_POINTS, "too many buckets");
    debug_assert!(buckets.windows(2).all(|w| w[0].start < w[1].start));
    let has_inc = buckets.iter().any(|b| b.increase.is_some());
    let inc = |b: &Bucket| b.increase.unwrap_or(f64::NAN);
    let mut sizes = [0usize; 10];
    let at = out.len();
    let col = |f: &dyn Fn(&Bucket) -> f64| -> Vec<f64> { buckets.iter().map(f).collect() };

    let mut flags = 0u8;
    // The counts: none (every one is 1), one for all, exceptions from the commonest, or a
    // column, whichever is shortest.
    let mut count_body = Vec::new();
    if buckets.iter().all(|b| b.count == 1) {
        flags |= COUNTS_ONE;
    } else if n >= 2 && buckets.iter().all(|b| b.count == buckets[0].count) {
        flags |= COUNTS_SAME;
        put_uvarint(&mut count_body, u64::from(buckets[0].count));
    } else {
        enc(&col(&|b| f64::from(b.count)), &mut count_body);
        if version >= COUNT_EXCEPTIONS_SINCE
            && let Some(alt) = count_exceptions(buckets)
            && alt.len() < count_body.len()
        {
            flags |= COUNTS_ONE | COUNTS_SAME;
            count_body = alt;
        }
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

    // min, then max: equals min, plain, or offsets from min (the min column as it is, or
    // as steps from the previous bucket's max).
    let mut min_body = Vec::new();
    enc(&col(&|b| b.min), &mut min_body);
    let mut max_body = Vec::new();
    // The `d` of the max offsets, if chosen.
    let mut max_d = None;
    let max_form = if buckets.iter().all(|b| b.max.to_bits() == b.min.to_bits()) {
        MAX_EQ_MIN
    } else {
        enc(&col(&|b| b.max), &mut max_body);
        let mut form = MAX_PLAIN;
        if let Some((d, ks, steps)) = max_offset(buckets) {
            let mut offsets = Vec::new();
            enc(&ks, &mut offsets);
            if 1 + offsets.len() < max_body.len() {
                max_body = [&[d][..], &offsets].concat();
                max_d = Some(d);
                form = MAX_OFFSET;
            }
            if let Some((first, steps)) = steps.filter(|_| version >= MIN_STEPS_SINCE && n >= 2) {
                let mut alt_min = Vec::new();
                enc(&steps, &mut alt_min);
                let mut alt = vec![d];
                put_ivarint(&mut alt, first);
                alt.extend_from_slice(&offsets);
                // Steps that only the varbits codec codes short, where the mins are in packed
                // blocks, would make the chunk slower to decode (0.84-0.91x on `raw2h.prom`
                // when taken): not taken.
                let slower = alt_min[0] == varbits::ID && min_body[0] != varbits::ID;
                if !slower && alt_min.len() + alt.len() < min_body.len() + max_body.len() {
                    (min_body, max_body) = (alt_min, alt);
                    max_d = Some(d);
                    form = MAX_STEPS;
                }
            }
        }
        form
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
    let mut p95_body = Vec::new();
    let mut p95_offset = false;
    if !p95s.is_empty() {
        enc(&p95s, &mut p95_body);
    }
    // The offsets are worked out only where the version has them.
    if !p95s.is_empty() && p95_offset_ok {
        let maxes: Vec<f64> = buckets
            .iter()
            .filter(|b| p95_all || b.count >= P95_STORED_FROM)
            .map(|b| b.max)
            .collect();
        if let Some((d, js)) = p95_below_max(&maxes, &p95s, max_d) {
            let mut alt = vec![d];
            enc(&js, &mut alt);
            if alt.len() < p95_body.len() {
                p95_body = alt;
                p95_offset = true;
            }
        }
    }

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

    let forms = max_form
        | (sum_form << 2)
        | (inc_form << 4)
        | if p95_all { P95_ALL } else { 0 }
        | if p95_offset { P95_OFFSET } else { 0 };
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
    out.extend_from_slice(&count_body);
    section(2, out);
    if flags & NO_NAN == 0 {
        enc(&col(&|b| f64::from(b.nan_count)), out);
    }
    section(3, out);
    out.extend_from_slice(&min_body);
    section(4, out);
    out.extend_from_slice(&max_body);
    section(5, out);
    out.extend_from_slice(&sum_body);
    section(6, out);
    out.extend_from_slice(&fl_body);
    section(7, out);
    out.extend_from_slice(&p95_body);
    section(8, out);
    out.extend_from_slice(&inc_body);
    section(9, out);
    sizes
}

/// A stored small integer (count, code, flag) as the exact f64 of an integer in `0..=max`.
fn small_int(v: f64, max: u32) -> Option<u32> {
    let c = v as u32;
    (c <= max && f64::from(c).to_bits() == v.to_bits()).then_some(c)
}

/// An integer-valued f64 below 2^53 in magnitude, as the encoder writes them (`-0.0`
/// included, as 0): the integer (meaningless when not valid) and whether it is valid, for
/// loops that check a whole column at once (a cast and a compare: no call to `trunc`).
#[inline(always)]
fn int53_ok(v: f64) -> (i64, bool) {
    let i = v as i64;
    (i, i as f64 == v && v.abs() < LIMIT)
}

/// Scratch columns of [`decode_columns`], kept in a [`ChunkColumns`] so that decoding chunk
/// after chunk allocates nothing once they have grown.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// A column as decoded, before it becomes counts, codes or flags.
    f: Vec<f64>,
    /// Offsets and residuals of the scaled form.
    ks: Vec<f64>,
    rs: Vec<f64>,
    /// Offsets and residuals of the offset forms.
    kn: Vec<Int53>,
    rn: Vec<Int53>,
    /// The min column (or the sum section's part of it) as `d`-decimal integers.
    ints: Vec<i64>,
    sum_codes: Vec<Code>,
    /// The sums, mins and counts of the buckets of sum code 0 (with sum codes).
    rest_sums: Vec<f64>,
    rest_min: Vec<f64>,
    rest_counts: Vec<u32>,
    codes: Vec<Code>,
    firsts: Vec<f64>,
    lasts: Vec<f64>,
    p95s: Vec<f64>,
    /// The maxes of the buckets that store a p95 (p95 offsets of a mixed chunk).
    rest_max: Vec<f64>,
    /// The maxes as `d`-decimal integers (max offsets, for the p95 offsets).
    max_ints: Vec<i64>,
    /// The min column of min steps (max form 3).
    steps: Vec<Int53>,
    /// Per bucket: its increase is derived (exceptions form).
    derive: Vec<bool>,
    incs: Vec<f64>,
}

/// Reads one value column that must hold `want` values into `v` (replacing it).
fn column_into(
    input: &[u8],
    r: &mut Reader<'_>,
    v: &mut Vec<f64>,
    want: usize,
) -> Result<(), Corruption> {
    let rest = &input[r.pos()..];
    let (id, n, mut cr) = values::header(rest)?;
    // `resize` zeroes only past the old length: the decoder writes every slot on success.
    v.resize(n, 0.0);
    let used = values::decode_body(id, rest, &mut cr, &mut v[..])?;
    r.bytes(used)?;
    if n != want {
        return Err(bad("rollup chunk columns hold different bucket counts"));
    }
    Ok(())
}

/// One value of a column of small integers (sum codes, first/last codes) as a byte: the value
/// when it is an integer in `0..=254` bit for bit (`-0.0` is not 0), else [`NOT_CODE`]. The
/// value decoders store into these slots directly, so the codes never pass through an `f64`
/// column and a second pass.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(transparent)]
pub(crate) struct Code(u8);

/// What a [`Code`] holds for a value that is not an integer in `0..=254` (no code is).
const NOT_CODE: u8 = 255;

impl ValueSlot for Code {
    #[inline(always)]
    fn set_value(&mut self, v: f64) {
        let c = v as i64;
        let exact = (c as f64).to_bits() == v.to_bits();
        self.0 = if exact { (c as u64).min(u64::from(NOT_CODE)) as u8 } else { NOT_CODE };
    }
    /// Only a decimal column of exponent above 0 reads its slots back (to divide them), and
    /// [`codes_into`] does not decode those into codes.
    #[inline(always)]
    fn value(&self) -> f64 {
        f64::from(self.0)
    }
    /// A decimal column's integer (of exponent 0: the value itself, `n as f64` exact for
    /// every `n` this keeps).
    #[inline(always)]
    fn set_int(&mut self, n: i64) {
        self.0 = (n as u64).min(u64::from(NOT_CODE)) as u8;
    }
}

/// One value of a column of offsets or residuals (7.2) as an integer: the value when
/// [`int53_ok`] takes it, else [`NOT_INT53`]. Decoded straight from a decimal column's
/// integers, as [`Code`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(transparent)]
pub(crate) struct Int53(i64);

/// What an [`Int53`] holds for a value that is not an integer below 2^53 in magnitude.
const NOT_INT53: i64 = i64::MIN;

impl ValueSlot for Int53 {
    #[inline(always)]
    fn set_value(&mut self, v: f64) {
        let (i, ok) = int53_ok(v);
        self.0 = if ok { i } else { NOT_INT53 };
    }
    /// As [`Code::value`]: not read for the columns [`codes_into`] decodes into these.
    #[inline(always)]
    fn value(&self) -> f64 {
        self.0 as f64
    }
    /// `n as f64` is an integer below 2^53 in magnitude exactly when `n` is one.
    #[inline(always)]
    fn set_int(&mut self, n: i64) {
        self.0 = if n.unsigned_abs() < 1 << 53 { n } else { NOT_INT53 };
    }
}

/// Reads one value column of integers (codes, offsets) that must hold `want` values into
/// `out` (replacing it), with the errors of [`column_into`]. Columns of the decimal codecs
/// with an exponent above 0 (which divide after integrating) go through `f` as `f64`.
fn codes_into<S: ValueSlot + Default>(
    input: &[u8],
    r: &mut Reader<'_>,
    f: &mut Vec<f64>,
    out: &mut Vec<S>,
    want: usize,
) -> Result<(), Corruption> {
    let rest = &input[r.pos()..];
    let (id, n, mut cr) = values::header(rest)?;
    // The decimal codecs' bodies start with their exponent (codec.md §4).
    let direct = id == values::ID_RAW || id == values::ID_XOR || rest.get(cr.pos()) == Some(&0);
    if direct {
        out.resize(n, S::default());
        let used = values::decode_body(id, rest, &mut cr, &mut out[..])?;
        r.bytes(used)?;
        if n != want {
            return Err(bad("rollup chunk columns hold different bucket counts"));
        }
    } else {
        column_into(input, r, f, want)?;
        out.clear();
        out.extend(f.iter().map(|&x| {
            let mut c = S::default();
            c.set_value(x);
            c
        }));
    }
    Ok(())
}

/// The largest of `codes` (0 without any), in one pass the compiler vectorises.
#[inline]
fn max_code(codes: &[Code]) -> u8 {
    codes.iter().fold(0, |m, c| m.max(c.0))
}

/// How many of `codes` `weight` gives 1 (it gives 0 or 1), in one pass the compiler
/// vectorises: byte counters over runs of 255 codes. `weight` should add comparisons, not
/// `||` them (which the compiler may turn into a table per code).
#[inline(always)]
fn count_codes(codes: &[Code], weight: impl Fn(u8) -> u8) -> usize {
    codes
        .chunks(255)
        .map(|run| usize::from(run.iter().fold(0u8, |k, c| k.wrapping_add(weight(c.0)))))
        .sum()
}

/// The values of `vals` at the buckets of sum code 0, in order, into `out` (replacing it):
/// written at every bucket, kept (the index moves on) at those of code 0, without a branch.
fn keep_code0<T: Copy + Default>(codes: &[Code], vals: &[T], out: &mut Vec<T>) {
    // Every slot up to the last kept one is written before it is read.
    out.resize(vals.len(), T::default());
    let o = &mut out[..];
    let mut j = 0;
    for (&Code(c), &v) in codes.iter().zip(vals) {
        o[j] = v;
        j += usize::from(c == 0);
    }
    out.truncate(j);
}

/// `vals` as counts (exact integers in `0..=u32::MAX`) into `out`.
fn counts_into(vals: &[f64], out: &mut Vec<u32>) -> Result<(), Corruption> {
    out.clear();
    let mut ok = true;
    out.extend(vals.iter().map(|&x| {
        let c = x as u32;
        ok &= f64::from(c).to_bits() == x.to_bits();
        c
    }));
    if ok {
        Ok(())
    } else {
        Err(bad("bucket count is not an integer in 0..=u32::MAX"))
    }
}

/// The counts of a chunk with count exceptions (`format-spec/rollup-chunk.md` §7.1) into
/// `counts`: `n` buckets, at least one exception and fewer than `n`, each at a bucket after
/// the previous one's and other than the commonest count.
fn read_count_exceptions(r: &mut Reader<'_>, n: usize, counts: &mut Vec<u32>) -> Result<(), Corruption> {
    let range = |v: u64| u32::try_from(v).map_err(|_| bad("bucket count out of range"));
    let common = range(r.uvarint()?)?;
    let e = r.uvarint()?;
    if e == 0 || e >= n as u64 {
        return Err(bad("bad count exceptions"));
    }
    counts.resize(n, common);
    let mut next = 0u64;
    for _ in 0..e {
        let at = next.checked_add(r.uvarint()?).filter(|&i| i < n as u64);
        let at = at.ok_or(bad("bad count exceptions"))?;
        let c = range(r.uvarint()?)?;
        if c == common {
            return Err(bad("bad count exceptions"));
        }
        counts[at as usize] = c;
        next = at + 1;
    }
    Ok(())
}

/// The `d`-decimal integers of `vals` into `out` (the offset forms' base). `dc` is the
/// exponent of the decimal codec that decoded `vals` (the min column), if one did: then the
/// integers come from [`values::decimal_ints_of_codec`] when it takes them, the same
/// integers without a division per value.
fn decimal_ints_into(
    vals: &[f64],
    dc: Option<u8>,
    d: u8,
    out: &mut Vec<i64>,
) -> Result<usize, Corruption> {
    let d = usize::from(d);
    if d >= POW10.len() {
        return Err(bad("decimals out of range"));
    }
    if let Some(dc) = dc
        && values::decimal_ints_of_codec(vals, usize::from(dc), d, out)
    {
        return Ok(d);
    }
    out.clear();
    let mut ok = true;
    out.extend(vals.iter().map(|&m| {
        let n = scaled(m, d);
        ok &= n.is_some();
        n.unwrap_or(0)
    }));
    if ok {
        Ok(d)
    } else {
        Err(bad("offset column over a non-decimal min"))
    }
}

/// The exponent of the value column at `r` when one of the decimal codecs wrote it (the
/// first byte of their bodies, codec.md §4), for [`decimal_ints_into`]; `None` for raw and
/// xor columns, empty ones and heads that do not read (the column's decode reports those).
fn decimal_exponent(input: &[u8], r: &Reader<'_>) -> Option<u8> {
    let rest = &input[r.pos()..];
    let (id, n, cr) = values::header(rest).ok()?;
    if values::is_decimal(id) && n > 0 { rest.get(cr.pos()).copied() } else { None }
}

/// Where a first or last value comes from, for every bucket of a chunk alike.
#[derive(Clone, Copy, PartialEq)]
enum Pick {
    Min,
    Max,
    Stored,
    /// Per bucket (a codes column that mixes them).
    Mixed,
}

/// The pick of a field whose codes (0 = min, 1 = max, 2 = stored) are `seen` (a bit per code).
fn pick_of(seen: u8) -> Pick {
    match seen {
        0b001 => Pick::Min,
        0b010 => Pick::Max,
        0b100 => Pick::Stored,
        // No bucket (any constant pick does).
        0 => Pick::Min,
        _ => Pick::Mixed,
    }
}

/// The first code (0 = min, 1 = max, 2 = stored) of each first/last code `0..=8`, indexed
/// by the code's low four bits (so that a checked code needs no bounds check).
const FIRST_CODE: [u8; 16] = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0];
/// The last code of each first/last code.
const LAST_CODE: [u8; 16] = [0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0];

/// The column of a first or last whose codes differ between buckets (`codes` checked `<=
/// 8`): per bucket the min, the max or the next stored value (`stored` holds exactly the
/// values of code 2, checked).
///
/// The loops that resolve codes pick from a small array by index, or through a mask,
/// instead of with `if` (the compiler turns a two-way pick into a branch, which codes that
/// change from bucket to bucket mispredict), and read the stored values with `get` (a
/// bounds check's panic would keep the running index in memory).
fn mix_into(
    codes: &[Code],
    table: &[u8; 16],
    min: &[f64],
    max: &[f64],
    stored: &[f64],
    out: &mut Vec<f64>,
) {
    out.clear();
    let mut k = 0;
    out.extend(codes.iter().zip(min).zip(max).map(move |((&Code(c), &mn), &mx)| {
        let a = usize::from(table[usize::from(c & 15)] & 3);
        let s = *stored.get(k).unwrap_or(&0.0);
        k += usize::from(a == 2);
        [mn, mx, s, s][a]
    }));
}

/// Writes `stored` in order over the values of `out` whose code `is_stored` says, through a
/// mask (no branch per code).
#[inline(always)]
fn put_stored(codes: &[Code], is_stored: impl Fn(u8) -> bool, stored: &[f64], out: &mut [f64]) {
    if stored.is_empty() {
        return;
    }
    let mut k = 0;
    for (o, &Code(c)) in out.iter_mut().zip(codes) {
        let r = *stored.get(k).unwrap_or(&0.0);
        let take = is_stored(c);
        let keep = u64::from(take).wrapping_neg();
        *o = f64::from_bits((r.to_bits() & keep) | (o.to_bits() & !keep));
        k += usize::from(take);
    }
}

/// The sums of a chunk with sum codes whose buckets all hold `COUNT` points (1 to 4; `codes`
/// checked `<= 2`, and `<= 1` for 1 or 2 points): [`sum_of`] per bucket, or the next of
/// `rest` for code 0.
fn sums_of_count<const COUNT: u32>(
    codes: &[Code],
    first: &[f64],
    last: &[f64],
    min: &[f64],
    max: &[f64],
    rest: &[f64],
    out: &mut Vec<f64>,
) {
    out.clear();
    // Every bucket's sum as code 1 or 2 gives it (code 0 as 2), in a pass without state
    // from bucket to bucket, which the compiler vectorises (the picks become masks).
    let ends = first.iter().zip(last);
    let mids = min.iter().zip(max);
    out.extend(codes.iter().zip(ends).zip(mids).map(|((&Code(c), (&f, &l)), (&mn, &mx))| {
        // Code 1 adds min then max, code 2 max then min.
        let one = c == 1;
        let (p, q) = (if one { mn } else { mx }, if one { mx } else { mn });
        match COUNT {
            1 => f,
            2 => f + l,
            3 => (f + p) + l,
            _ => ((f + p) + q) + l,
        }
    }));
    put_stored(codes, |c| c == 0, rest, out);
}

/// Decodes a layout-2 chunk (`input` starts at its flags byte) with the `base` its encoder
/// had into `cols`, replacing what it held. Columns that a chunk does not store (max equal
/// to min, a first that is every bucket's min, the p95 of buckets under 20 points, ...) are
/// not copied: `cols` reads them from the column they equal. On error `cols` holds no
/// meaningful columns.
pub fn decode_columns(input: &[u8], base: i64, cols: &mut ChunkColumns) -> Result<(), Corruption> {
    decode_columns_version(ROLLUP_VERSION, input, base, cols)
}

/// [`decode_columns`] of a chunk of a rollup segment of `version` (at least
/// [`crate::rollup::format::LAYOUT2_SINCE`]): p95 offsets are refused before
/// [`crate::rollup::format::P95_OFFSET_SINCE`], count exceptions and min steps before
/// [`crate::rollup::format::COUNT_EXCEPTIONS_SINCE`] and
/// [`crate::rollup::format::MIN_STEPS_SINCE`].
pub fn decode_columns_version(
    version: u16,
    input: &[u8],
    base: i64,
    cols: &mut ChunkColumns,
) -> Result<(), Corruption> {
    let p95_offset_ok = version >= P95_OFFSET_SINCE;
    // Every value column `at` points to is written below before it is read.
    cols.clear_but_values();
    let ChunkColumns {
        starts,
        counts,
        nans,
        vals,
        at,
        inc,
        has_inc: has_inc_out,
        l2,
        ..
    } = cols;
    const MAX: usize = 0;
    const SUM: usize = 1;
    const FIRST: usize = 2;
    const LAST: usize = 3;
    const P95: usize = 4;

    let mut r = Reader::new(input);
    let flags = r.u8()?;
    if flags & !FLAGS_KNOWN != 0 {
        return Err(bad("unknown rollup chunk flags"));
    }
    let count_exceptions = flags & COUNTS_SAME != 0 && flags & COUNTS_ONE != 0;
    if count_exceptions && version < COUNT_EXCEPTIONS_SINCE {
        return Err(bad("counts both one and the same"));
    }
    // Every bucket's count is the one uvarint.
    let counts_same = flags & COUNTS_SAME != 0 && !count_exceptions;
    let (forms, fl) = if flags & SHORT_HEAD != 0 {
        if flags & SUM_CODES != 0 {
            return Err(bad("sum codes in a chunk without forms"));
        }
        (if flags & INCREASE != 0 { INC_DERIVED << 4 } else { 0 }, 0)
    } else {
        (r.u8()?, r.u8()?)
    };
    if forms & P95_OFFSET != 0 && !p95_offset_ok {
        return Err(bad("unknown rollup chunk flags"));
    }
    let max_form = forms & 3;
    let sum_form = (forms >> 2) & 3;
    let inc_form = (forms >> 4) & 3;
    let p95_all = forms & P95_ALL != 0;
    let p95_offset = forms & P95_OFFSET != 0;
    let has_inc = flags & INCREASE != 0;
    let max_limit = if version >= MIN_STEPS_SINCE { MAX_STEPS } else { MAX_OFFSET };
    if max_form > max_limit || inc_form > INC_EXCEPTIONS || (!has_inc && inc_form != INC_PLAIN) {
        return Err(bad("unknown rollup chunk column form"));
    }
    if fl > FL_COLUMN {
        return Err(bad("bad first/last code"));
    }

    // Bucket starts.
    if flags & STARTS_BITMAP != 0 {
        decode_bitmap(&mut r, starts)?;
    } else {
        let used = codec::decode_timestamps(&input[r.pos()..], starts)?;
        r.bytes(used)?;
    }
    let n = starts.len();
    for s in starts.iter_mut() {
        *s = s.wrapping_add(base);
    }
    // Without early exit, so the loop stays branch-free (valid chunks pass it whole).
    let ascending = starts
        .iter()
        .zip(starts.iter().skip(1))
        .fold(true, |ok, (a, b)| ok & (a < b));
    if !ascending {
        return Err(bad("bucket starts not strictly increasing"));
    }

    // Counts (none kept when every one is 1) and NaN counts (none when every one is 0).
    if count_exceptions {
        read_count_exceptions(&mut r, n, counts)?;
    } else if counts_same {
        let c = u32::try_from(r.uvarint()?).map_err(|_| bad("bucket count out of range"))?;
        counts.resize(n, c);
    } else if flags & COUNTS_ONE == 0 {
        column_into(input, &mut r, &mut l2.f, n)?;
        counts_into(&l2.f, counts)?;
    }
    if flags & NO_NAN == 0 {
        column_into(input, &mut r, &mut l2.f, n)?;
        counts_into(&l2.f, nans)?;
    }
    let empty = match (counts.is_empty(), nans.is_empty()) {
        (true, _) => false,
        (false, true) => counts.iter().fold(false, |e, &c| e | (c == 0)),
        (false, false) => counts.iter().zip(nans.iter()).fold(false, |e, (&c, &z)| e | (c == 0 && z == 0)),
    };
    if empty {
        return Err(bad("bucket without points"));
    }
    let count_at = |counts: &[u32], i: usize| counts.get(i).copied().unwrap_or(1);

    // min, max.
    // The exponent of the min column's decimal codec (not for min steps: that column holds
    // the steps).
    let min_dc = decimal_exponent(input, &r).filter(|_| max_form != MAX_STEPS);
    if max_form == MAX_STEPS {
        if n < 2 {
            return Err(bad("min steps need two buckets"));
        }
        // Integers, straight from the decimal codecs where they wrote them.
        codes_into(input, &mut r, &mut l2.f, &mut l2.steps, n - 1)?;
    } else {
        column_into(input, &mut r, &mut vals[0], n)?;
    }
    // The `d` at which `l2.ints` holds the whole min column.
    let mut min_ints: Option<usize> = None;
    // The exponent of the max column's decimal codec, if one wrote it, and the `d` at which
    // `l2.max_ints` holds the maxes (offset form), for the p95 offsets.
    let mut max_dc = None;
    let mut max_ints: Option<usize> = None;
    match max_form {
        MAX_EQ_MIN => at[MAX] = 0,
        MAX_PLAIN => {
            max_dc = decimal_exponent(input, &r);
            column_into(input, &mut r, &mut vals[1], n)?;
            at[MAX] = 1;
        }
        MAX_STEPS => {
            // The min column holds steps `s`: each min's integer after the first is the
            // previous bucket's max integer plus its step, each max's is its min's plus its
            // offset.
            let dd = r.u8()?;
            if usize::from(dd) >= POW10.len() {
                return Err(bad("decimals out of range"));
            }
            let d = usize::from(dd);
            let first = r.ivarint()?;
            codes_into(input, &mut r, &mut l2.f, &mut l2.kn, n)?;
            l2.ints.resize(n, 0);
            l2.max_ints.resize(n, 0);
            // Bucket 0 as a step from 0 (`first` may be any i64: refused unless below 2^53).
            let k0 = l2.kn[0].0;
            let (hi0, k0_ok) = first.overflowing_add(k0);
            let mut ok = (k0 != NOT_INT53) & !k0_ok;
            ok &= (first.unsigned_abs() < 1 << 53) & (hi0.unsigned_abs() < 1 << 53);
            let mut small = (first.unsigned_abs() | hi0.unsigned_abs()) < 1 << 49;
            (l2.ints[0], l2.max_ints[0]) = (first, hi0);
            let mut prev = hi0;
            let outs = l2.ints[1..].iter_mut().zip(l2.max_ints[1..].iter_mut());
            for ((lo_out, hi_out), (&Int53(s), &Int53(k))) in outs.zip(l2.steps.iter().zip(&l2.kn[1..])) {
                // While `ok`, every operand is below 2^53 in magnitude: no overflow (and
                // wrapping, the values once not `ok` do not matter).
                let lo = prev.wrapping_add(s);
                let hi = lo.wrapping_add(k);
                ok &= (s != NOT_INT53) & (k != NOT_INT53) & (lo.unsigned_abs() < 1 << 53) & (hi.unsigned_abs() < 1 << 53);
                small &= (lo.unsigned_abs() | hi.unsigned_abs()) < 1 << 49;
                (*lo_out, *hi_out) = (lo, hi);
                prev = hi;
            }
            if !ok {
                return Err(bad("min step or max offset out of range"));
            }
            // `dec` of each, as the decimal codecs divide (none for d = 0: exact).
            let (lo, hi) = vals.split_at_mut(1);
            for (out, ints) in [(&mut lo[0], &l2.ints), (&mut hi[0], &l2.max_ints)] {
                out.clear();
                out.extend(ints.iter().map(|&v| v as f64));
                if d != 0 {
                    codec::divide_all(&mut out[..], POW10[d]);
                }
            }
            // Below 2^49 these are the integers nearest `value × 10^d` (7.2's rule, the
            // argument of `values::decimal_ints_of_codec`); above, the sections that need
            // them compute them.
            if small {
                min_ints = Some(d);
                max_ints = p95_offset.then_some(d);
            }
            at[MAX] = 1;
        }
        _ => {
            let d = decimal_ints_into(&vals[0], min_dc, r.u8()?, &mut l2.ints)?;
            min_ints = Some(d);
            codes_into(input, &mut r, &mut l2.f, &mut l2.kn, n)?;
            let out = &mut vals[1];
            out.clear();
            let mut ok = true;
            // |min| < 2^53 and |k| < 2^53 (else `k` is NOT_INT53 and the chunk refused):
            // the sum does not overflow.
            out.extend(l2.ints.iter().zip(&l2.kn).map(|(&m, &Int53(k))| {
                let t = m.wrapping_add(k);
                ok &= (k != NOT_INT53) & (t.unsigned_abs() < 1 << 53);
                dec(t, d)
            }));
            if !ok {
                return Err(bad("max offset out of range"));
            }
            if p95_offset {
                // The maxes' integers, for p95 offsets at the same `d`: `scaled` of each max
                // is its `n + k` while that is below 2^49 in magnitude (the argument of
                // `values::decimal_ints_of_codec`); above, the p95 section computes them.
                l2.max_ints.clear();
                let mut small = true;
                l2.max_ints.extend(l2.ints.iter().zip(&l2.kn).map(|(&m, &Int53(k))| {
                    let t = m + k;
                    small &= t.unsigned_abs() < 1 << 49;
                    t
                }));
                max_ints = small.then_some(d);
            }
            at[MAX] = 1;
        }
    }

    // Sum codes, then the sum section: the sums of the buckets of code 0 (every bucket
    // without codes, then straight into the sum column).
    let sum_codes = flags & SUM_CODES != 0;
    // With sum codes: how many buckets have code 0 (their sums are stored).
    let mut m = n;
    if sum_codes {
        codes_into(input, &mut r, &mut l2.f, &mut l2.sum_codes, n)?;
        if max_code(&l2.sum_codes) > 2 {
            return Err(bad("bad sum code"));
        }
        m = count_codes(&l2.sum_codes, |c| u8::from(c == 0));
        if sum_form == SUM_EQ_MIN || sum_form == SUM_OFFSET {
            // Written at every bucket, kept (the index moves on) at those of code 0.
            keep_code0(&l2.sum_codes, &vals[0], &mut l2.rest_min);
            // Counts the same for every bucket stay as they are (one, or a column of one
            // value that is as long as any part of it).
            if counts_same {
                l2.rest_counts.clear();
                l2.rest_counts.extend_from_slice(&counts[..m]);
            } else {
                keep_code0(&l2.sum_codes, counts, &mut l2.rest_counts);
            }
        }
    }
    {
        let (lo, hi) = vals.split_at_mut(2);
        let (rest_min, sums): (&[f64], &mut Vec<f64>) = if sum_codes {
            (&l2.rest_min, &mut l2.rest_sums)
        } else {
            (&lo[0], &mut hi[0])
        };
        at[SUM] = 2;
        match sum_form {
            SUM_EQ_MIN if !sum_codes => at[SUM] = 0,
            SUM_EQ_MIN => {
                sums.clear();
                sums.extend_from_slice(rest_min);
            }
            SUM_PLAIN => column_into(input, &mut r, sums, m)?,
            SUM_SCALED => {
                let d = r.u8()?;
                column_into(input, &mut r, &mut l2.ks, m)?;
                column_into(input, &mut r, &mut l2.rs, m)?;
                decode_scaled_sum(d, &l2.ks, &l2.rs, sums)?;
            }
            _ => {
                let dd = r.u8()?;
                let d = match min_ints {
                    Some(e) if e == usize::from(dd) => {
                        if sum_codes {
                            // The integers of the buckets of code 0, kept in place.
                            let (ints, codes) = (&mut l2.ints[..], &l2.sum_codes[..n]);
                            let mut j = 0;
                            for (i, &Code(c)) in codes.iter().enumerate() {
                                ints[j] = ints[i];
                                j += usize::from(c == 0);
                            }
                            l2.ints.truncate(j);
                        }
                        e
                    }
                    _ => decimal_ints_into(rest_min, min_dc, dd, &mut l2.ints)?,
                };
                codes_into(input, &mut r, &mut l2.f, &mut l2.kn, m)?;
                codes_into(input, &mut r, &mut l2.f, &mut l2.rn, m)?;
                sums.clear();
                let (ks, rs, ints) = (&l2.kn[..m], &l2.rn[..m], &l2.ints[..m]);
                let cs: &[u32] = if sum_codes { &l2.rest_counts } else { counts };
                let (mut ints_ok, mut range_ok) = (true, true);
                let mut one = |k: i64, res: i64, n: i64, c: u32| {
                    ints_ok &= (k != NOT_INT53) & (res != NOT_INT53);
                    let t = i128::from(c) * i128::from(n) + i128::from(k);
                    range_ok &= t.unsigned_abs() < 1 << 53;
                    f64::from_bits(dec(t as i64, d).to_bits().wrapping_add(res as u64))
                };
                let kri = ks.iter().zip(rs).zip(ints);
                if cs.is_empty() {
                    sums.extend(kri.map(|((k, r), &n)| one(k.0, r.0, n, 1)));
                } else {
                    let cs = &cs[..m];
                    sums.extend(kri.zip(cs).map(|(((k, r), &n), &c)| one(k.0, r.0, n, c)));
                }
                if !(ints_ok && range_ok) {
                    // The first bad bucket names the error.
                    for i in 0..m {
                        let (k, res) = (ks[i].0, rs[i].0);
                        if k == NOT_INT53 || res == NOT_INT53 {
                            return Err(bad("sum offset column holds a non-integer"));
                        }
                        let c = cs.get(i).copied().unwrap_or(1);
                        if (i128::from(c) * i128::from(ints[i]) + i128::from(k)).unsigned_abs()
                            >= 1 << 53
                        {
                            break;
                        }
                    }
                    return Err(bad("sum offset out of range"));
                }
            }
        }
    }

    // First/last codes and stored values.
    let (pf, pl, n_first, n_last) = if fl == FL_COLUMN {
        codes_into(input, &mut r, &mut l2.f, &mut l2.codes, n)?;
        let codes = &l2.codes[..];
        if max_code(codes) > 8 {
            return Err(bad("bad first/last code"));
        }
        // Buckets by first code (c mod 3) and by last code (c div 3), a vectorised count each.
        let f_min = count_codes(codes, |c| u8::from(c == 0) + u8::from(c == 3) + u8::from(c == 6));
        let f_stored = count_codes(codes, |c| u8::from(c == 2) + u8::from(c == 5) + u8::from(c == 8));
        let l_min = count_codes(codes, |c| u8::from(c < 3));
        let l_stored = count_codes(codes, |c| u8::from(c >= 6));
        let seen = |k: [usize; 3]| {
            u8::from(k[0] > 0) | u8::from(k[1] > 0) << 1 | u8::from(k[2] > 0) << 2
        };
        let sf = seen([f_min, n - f_min - f_stored, f_stored]);
        let sl = seen([l_min, n - l_min - l_stored, l_stored]);
        (pick_of(sf), pick_of(sl), f_stored, l_stored)
    } else {
        let (a, b) = (fl % 3, fl / 3);
        (pick_of(1 << a), pick_of(1 << b), if a == 2 { n } else { 0 }, if b == 2 { n } else { 0 })
    };
    if n_first > 0 {
        column_into(input, &mut r, &mut l2.firsts, n_first)?;
    }
    if n_last > 0 {
        column_into(input, &mut r, &mut l2.lasts, n_last)?;
    }

    // p95: stored for every bucket, or for the buckets of 20 points or more (the others'
    // is their max).
    let n_p95 = if p95_all {
        n
    } else {
        counts.iter().fold(0, |k, &c| k + usize::from(c >= P95_STORED_FROM))
    };
    at[P95] = at[MAX];
    if n_p95 > 0 {
        let (lo, hi) = vals.split_at_mut(2);
        let out = if n_p95 == n { &mut hi[3] } else { &mut l2.p95s };
        if p95_offset {
            // Distances below the max: the maxes of the buckets that store a p95, as
            // `d`-decimal integers, less the stored integers.
            let dd = r.u8()?;
            if usize::from(dd) >= POW10.len() {
                return Err(bad("decimals out of range"));
            }
            let d = usize::from(dd);
            let ints: &[i64] = match max_ints {
                // The max offsets' integers (`scaled` of each max at `d`, as 7.2 makes them).
                Some(e) if e == d && n_p95 == n => &l2.max_ints,
                Some(e) if e == d => {
                    l2.ints.clear();
                    l2.ints.extend(
                        counts
                            .iter()
                            .zip(&l2.max_ints)
                            .filter(|(c, _)| **c >= P95_STORED_FROM)
                            .map(|(_, &m)| m),
                    );
                    &l2.ints
                }
                _ => {
                    let max = &lo[at[MAX]];
                    let maxes: &[f64] = if n_p95 == n {
                        max
                    } else {
                        l2.rest_max.clear();
                        l2.rest_max.extend(
                            counts
                                .iter()
                                .zip(max)
                                .filter(|(c, _)| **c >= P95_STORED_FROM)
                                .map(|(_, &m)| m),
                        );
                        &l2.rest_max
                    };
                    let dc = if at[MAX] == 0 { min_dc } else { max_dc };
                    decimal_ints_into(maxes, dc, dd, &mut l2.ints)
                        .map_err(|_| bad("p95 offset below a max that is not a decimal"))?;
                    &l2.ints
                }
            };
            codes_into(input, &mut r, &mut l2.f, &mut l2.kn, n_p95)?;
            out.clear();
            let mut ok = true;
            // |max| < 2^53 and |j| < 2^53 (else `j` is NOT_INT53 and the chunk refused): the
            // difference does not overflow.
            out.extend(ints.iter().zip(&l2.kn).map(|(&m, &Int53(j))| {
                let t = m.wrapping_sub(j);
                ok &= (j != NOT_INT53) & (t.unsigned_abs() < 1 << 53);
                t as f64
            }));
            if !ok {
                return Err(bad("p95 offset out of range"));
            }
            // `dec` of each, as the decimal codecs divide (none for d = 0: exact).
            if d != 0 {
                codec::divide_all(&mut out[..], POW10[d]);
            }
        } else {
            column_into(input, &mut r, out, n_p95)?;
        }
        if n_p95 == n {
            at[P95] = 5;
        }
    }

    // Increases: the values stored, and (exceptions form) which buckets derive theirs.
    if has_inc {
        match inc_form {
            INC_PLAIN => column_into(input, &mut r, inc, n)?,
            INC_DERIVED => {
                if n == 0 {
                    return Err(bad("derived increase needs a bucket"));
                }
                column_into(input, &mut r, &mut l2.incs, 1)?;
            }
            _ => {
                if n < 2 {
                    return Err(bad("increase exceptions need two buckets"));
                }
                column_into(input, &mut r, &mut l2.f, n - 1)?;
                l2.derive.clear();
                l2.derive.push(false);
                for &f in &l2.f {
                    l2.derive
                        .push(small_int(f, 1).ok_or(bad("bad increase exception flag"))? == 0);
                }
                let stored = l2.derive.iter().filter(|&&x| !x).count();
                column_into(input, &mut r, &mut l2.incs, stored)?;
            }
        }
    }
    if r.remaining() != 0 {
        return Err(Corruption::Codec(CodecError::TrailingBytes {
            extra: r.remaining(),
        }));
    }

    // Resolve the columns: first and last (read from min or max where every bucket's code
    // says so), p95 of mixed chunks.
    for (k, pick, stored, table) in [
        (FIRST, pf, &mut l2.firsts, &FIRST_CODE),
        (LAST, pl, &mut l2.lasts, &LAST_CODE),
    ] {
        at[k] = match pick {
            Pick::Min => 0,
            Pick::Max => at[MAX],
            Pick::Stored => {
                std::mem::swap(&mut vals[k + 1], stored);
                k + 1
            }
            Pick::Mixed => {
                let mut out = std::mem::take(&mut vals[k + 1]);
                mix_into(&l2.codes, table, &vals[0], &vals[at[MAX]], stored, &mut out);
                vals[k + 1] = out;
                k + 1
            }
        };
    }
    if n_p95 > 0 && n_p95 < n {
        let mut out = std::mem::take(&mut vals[5]);
        out.clear();
        out.reserve(n);
        l2.p95s.push(0.0);
        let (max, p95s) = (&vals[at[MAX]], &l2.p95s);
        let mut k = 0;
        out.extend(counts.iter().zip(max).map(|(&c, &mx)| {
            let stored = c >= P95_STORED_FROM;
            let v = [mx, p95s[k]][usize::from(stored)];
            k += usize::from(stored);
            v
        }));
        vals[5] = out;
        at[P95] = 5;
    }

    // Sums of the buckets with a sum code, from their count, first, last, min and max.
    if sum_codes {
        let mut out = std::mem::take(&mut vals[2]);
        out.clear();
        let (min, max) = (&vals[0], &vals[at[MAX]]);
        let (first, last) = (&vals[at[FIRST]], &vals[at[LAST]]);
        // One more (unused) stored sum, so that every bucket can read one without a branch.
        l2.rest_sums.push(0.0);
        let rest = &l2.rest_sums;
        let stored = &rest[..rest.len() - 1];
        let codes = &l2.sum_codes[..];
        // Every bucket's count, when the chunk has one for all.
        let same = if counts.is_empty() {
            Some(1)
        } else if counts_same {
            Some(counts[0])
        } else {
            None
        };
        let ok = match same {
            Some(1..=2) if max_code(codes) > 1 => false,
            Some(1) => {
                sums_of_count::<1>(codes, first, last, min, max, stored, &mut out);
                true
            }
            Some(2) => {
                sums_of_count::<2>(codes, first, last, min, max, stored, &mut out);
                true
            }
            Some(3) => {
                sums_of_count::<3>(codes, first, last, min, max, stored, &mut out);
                true
            }
            Some(4) => {
                sums_of_count::<4>(codes, first, last, min, max, stored, &mut out);
                true
            }
            _ => {
                let mut k = 0;
                let mut ok = true;
                out.extend(codes.iter().enumerate().map(|(i, &Code(code))| {
                    let c = count_at(counts, i);
                    let (v, fits) = sum_pick(c, code, first[i], last[i], min[i], max[i], rest[k]);
                    k += usize::from(code == 0);
                    ok &= fits;
                    v
                }));
                ok
            }
        };
        if !ok {
            return Err(bad("sum code does not fit the bucket's count"));
        }
        vals[2] = out;
        at[SUM] = 2;
    }

    // Increases derived from the neighbouring bucket's last and the bucket's first/last.
    if has_inc && inc_form != INC_PLAIN {
        let (first, last) = (&vals[at[FIRST]], &vals[at[LAST]]);
        inc.reserve(n);
        inc.push(l2.incs[0]);
        let derive_at = |i: usize| -> f64 {
            let s = counter_step(last[i - 1], first[i]);
            if count_at(counts, i) >= 2 { s + (last[i] - first[i]) } else { s }
        };
        if inc_form == INC_DERIVED {
            if counts.is_empty() {
                // Single-point buckets: the step from the previous bucket's last.
                inc.extend(last.iter().zip(&first[1..]).map(|(&p, &f)| counter_step(p, f)));
            } else {
                let steps = last.iter().zip(&first[1..]).zip(&last[1..]).zip(&counts[1..]);
                inc.extend(steps.map(|(((&p, &f), &l), &c)| {
                    let s = counter_step(p, f);
                    if c >= 2 { s + (l - f) } else { s }
                }));
            }
        } else {
            let mut k = 1;
            for i in 1..n {
                if l2.derive[i] {
                    inc.push(derive_at(i));
                } else {
                    inc.push(l2.incs[k]);
                    k += 1;
                }
            }
        }
    }
    *has_inc_out = has_inc;
    Ok(())
}

/// Decodes a layout-2 chunk (`input` starts at its flags byte), appending its buckets to
/// `out`; on error `out` is unchanged.
pub fn decode(input: &[u8], base: i64, out: &mut Vec<Bucket>) -> Result<(), Corruption> {
    decode_version(ROLLUP_VERSION, input, base, out)
}

/// [`decode`] of a chunk of a rollup segment of `version` (see [`decode_columns_version`]).
pub fn decode_version(
    version: u16,
    input: &[u8],
    base: i64,
    out: &mut Vec<Bucket>,
) -> Result<(), Corruption> {
    let mut c = ChunkColumns::default();
    decode_columns_version(version, input, base, &mut c)?;
    out.reserve(c.len());
    out.extend((0..c.len()).map(|i| c.bucket(i)));
    Ok(())
}

/// The first decoder of layout 2, as the oracle of the column decoder.
#[cfg(test)]
mod reference {
    use std::borrow::Cow;

    use super::*;

    /// As the first decoder had it.
    fn int53(v: f64) -> Option<i64> {
        (v.fract() == 0.0 && v.abs() < LIMIT).then_some(v as i64)
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

/// The per-bucket decoder layout 2 first had (bucket by bucket, a `Vec` per column), kept
/// as the oracle of [`decode_columns`]: on any bytes both refuse, or both give the same
/// buckets bit for bit.
pub(super) fn reference_decode(input: &[u8], base: i64, out: &mut Vec<Bucket>) -> Result<(), Corruption> {
    reference_decode_version(ROLLUP_VERSION, input, base, out)
}

/// [`reference_decode`] of a chunk of a rollup segment of `version`.
pub(super) fn reference_decode_version(
    version: u16,
    input: &[u8],
    base: i64,
    out: &mut Vec<Bucket>,
) -> Result<(), Corruption> {
    let mut r = Reader::new(input);
    let flags = r.u8()?;
    if flags & !FLAGS_KNOWN != 0 {
        return Err(bad("unknown rollup chunk flags"));
    }
    let count_exceptions = flags & COUNTS_SAME != 0 && flags & COUNTS_ONE != 0;
    if count_exceptions && version < COUNT_EXCEPTIONS_SINCE {
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
    if forms & P95_OFFSET != 0 && version < P95_OFFSET_SINCE {
        return Err(bad("unknown rollup chunk flags"));
    }
    let max_form = forms & 3;
    let sum_form = (forms >> 2) & 3;
    let inc_form = (forms >> 4) & 3;
    let p95_all = forms & P95_ALL != 0;
    let p95_offset = forms & P95_OFFSET != 0;
    let has_inc = flags & INCREASE != 0;
    if (max_form == MAX_STEPS && version < MIN_STEPS_SINCE)
        || inc_form > INC_EXCEPTIONS
        || (!has_inc && inc_form != INC_PLAIN)
    {
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
    let counts = if count_exceptions {
        let common = u32::try_from(r.uvarint()?).map_err(|_| bad("bucket count out of range"))?;
        let e = r.uvarint()?;
        if e == 0 || e >= n as u64 {
            return Err(bad("bad count exceptions"));
        }
        let mut counts = vec![common; n];
        let mut next = 0u64;
        for _ in 0..e {
            let gap = r.uvarint()?;
            let at = next.checked_add(gap).filter(|&i| i < n as u64).ok_or(bad("bad count exceptions"))?;
            let c = u32::try_from(r.uvarint()?).map_err(|_| bad("bucket count out of range"))?;
            if c == common {
                return Err(bad("bad count exceptions"));
            }
            counts[at as usize] = c;
            next = at + 1;
        }
        counts
    } else if flags & COUNTS_SAME != 0 {
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
    if max_form == MAX_STEPS && n < 2 {
        return Err(bad("min steps need two buckets"));
    }
    // With min steps, the min column holds the steps of buckets 1 to N-1.
    let mut min = column(input, &mut r, if max_form == MAX_STEPS { n - 1 } else { n })?;
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
    let mut max_steps: Option<Vec<f64>> = None;
    if max_form == MAX_STEPS {
        // Steps from the previous max, offsets from the min: the mins and maxes, as integers,
        // bucket by bucket.
        let dd = r.u8()?;
        if usize::from(dd) >= POW10.len() {
            return Err(bad("decimals out of range"));
        }
        let d = usize::from(dd);
        let first = r.ivarint()?;
        let ks = column(input, &mut r, n)?;
        let steps = std::mem::take(&mut min);
        let mut maxes = Vec::with_capacity(n);
        let mut prev = 0i64;
        for i in 0..n {
            let fits = |t: i64| (t as f64).abs() < LIMIT;
            // Bucket 0's min is `first`, the others' the previous max plus their step.
            let s = if i == 0 { Some(first) } else { int53(steps[i - 1]) };
            let lo = s.and_then(|s| prev.checked_add(s)).filter(|&t| fits(t));
            let hi = lo.zip(int53(ks[i])).and_then(|(a, k)| a.checked_add(k)).filter(|&t| fits(t));
            let (lo, hi) = lo.zip(hi).ok_or(bad("min step or max offset out of range"))?;
            min.push(dec(lo, d));
            maxes.push(dec(hi, d));
            prev = hi;
        }
        max_steps = Some(maxes);
    }
    let max: Cow<'_, [f64]> = match max_form {
        MAX_EQ_MIN => Cow::Borrowed(&min),
        MAX_PLAIN => Cow::Owned(column(input, &mut r, n)?),
        MAX_STEPS => Cow::Owned(max_steps.take().unwrap_or_default()),
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
    let p95s = if n_p95 == 0 {
        Vec::new()
    } else if p95_offset {
        let d = usize::from(r.u8()?);
        if d >= POW10.len() {
            return Err(bad("decimals out of range"));
        }
        let maxes = (0..n)
            .filter(|&i| p95_all || counts[i] >= P95_STORED_FROM)
            .map(|i| scaled(max[i], d).ok_or(bad("p95 offset below a max that is not a decimal")))
            .collect::<Result<Vec<i64>, _>>()?;
        let js = column(input, &mut r, n_p95)?;
        maxes
            .iter()
            .zip(&js)
            .map(|(&m, &j)| {
                let t = int53(j).map(|j| m - j).filter(|t| t.unsigned_abs() < 1 << 53);
                t.map(|t| dec(t, d)).ok_or(bad("p95 offset out of range"))
            })
            .collect::<Result<Vec<f64>, _>>()?
    } else {
        column(input, &mut r, n_p95)?
    };

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

}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::bucket::aggregate;
    use proptest::prelude::*;

    use crate::rollup::bucket::BucketBits as Bits;

    fn bits(b: &Bucket) -> Bits {
        b.bits()
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
        round_trip_at(ROLLUP_VERSION, buckets, base)
    }

    /// [`round_trip`] for a rollup segment of `version`, whose chunk the newest reader
    /// also reads.
    fn round_trip_at(version: u16, buckets: &[Bucket], base: i64) -> Vec<u8> {
        let mut enc = Vec::new();
        encode_version(version, buckets, base, &mut enc);
        let want: Vec<Bits> = buckets.iter().map(bits).collect();
        for v in [version, ROLLUP_VERSION] {
            let mut back = vec![SENTINEL];
            decode_version(v, &enc, base, &mut back).expect("decodes");
            assert_eq!(bits(&back[0]), bits(&SENTINEL));
            let got: Vec<Bits> = back[1..].iter().map(bits).collect();
            assert_eq!(got, want);
        }
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
        fn arbitrary_bytes_behind_valid_heads(tail in prop::collection::vec(any::<u8>(), 0..120), flags in 0u8..16, exceptions in any::<bool>(), forms in 0u8..128, fl in 0u8..10) {
            // Count exceptions (bits 0 and 5) among the heads.
            let flags = if exceptions { flags | COUNTS_ONE | COUNTS_SAME } else { flags };
            let mut bytes = vec![flags, forms, fl];
            bytes.extend_from_slice(&tail);
            let mut out = vec![SENTINEL];
            if decode(&bytes, 0, &mut out).is_err() {
                prop_assert_eq!(out.len(), 1);
            }
            same_as_reference(&bytes, 0);
        }

        #[test]
        fn arbitrary_bytes_decode_as_the_reference_decoder_does(bytes in prop::collection::vec(any::<u8>(), 0..200), base in any::<i64>()) {
            same_as_reference(&bytes, base);
        }

        /// Valid chunks of every form, damaged in one byte (or cut): the column decoder and
        /// the per-bucket one agree, in columns reused from the undamaged chunk.
        #[test]
        fn damaged_chunks_decode_as_the_reference_decoder_does(
            b in prop_oneof![loose_buckets(), points().prop_map(|p| {
                let mut b = Vec::new();
                aggregate(&p, 15_000, p.len() % 2 == 0, None, &mut b);
                b
            })],
            at in any::<prop::sample::Index>(),
            xor in 1u8..=255,
            cut in any::<bool>(),
        ) {
            let mut enc = Vec::new();
            encode(&b, -1_000_000, &mut enc);
            let mut cols = ChunkColumns::default();
            decode_columns(&enc, -1_000_000, &mut cols).expect("valid chunk decodes");
            let mut bad = enc.clone();
            let i = at.index(bad.len());
            if cut {
                bad.truncate(i);
            } else {
                bad[i] ^= xor;
            }
            same_as_reference(&bad, -1_000_000);
            let fresh = decode_columns(&bad, -1_000_000, &mut ChunkColumns::default());
            let reused = decode_columns(&bad, -1_000_000, &mut cols);
            prop_assert_eq!(fresh.is_ok(), reused.is_ok());
            if reused.is_ok() {
                let mut want = Vec::new();
                reference::reference_decode(&bad, -1_000_000, &mut want).expect("reference decodes");
                let got: Vec<Bits> = (0..cols.len()).map(|k| bits(&cols.bucket(k))).collect();
                prop_assert_eq!(got, want.iter().map(bits).collect::<Vec<_>>());
            }
        }
    }

    /// The column decoder and the per-bucket reference refuse the same bytes, with the same
    /// error, or give the same buckets bit for bit.
    fn same_as_reference(bytes: &[u8], base: i64) {
        let mut want = vec![SENTINEL];
        let r_ref = reference::reference_decode(bytes, base, &mut want);
        let mut got = vec![SENTINEL];
        let r_new = decode(bytes, base, &mut got);
        assert_eq!(format!("{r_new:?}"), format!("{r_ref:?}"), "{bytes:02X?}");
        assert_eq!(
            got.iter().map(bits).collect::<Vec<_>>(),
            want.iter().map(bits).collect::<Vec<_>>()
        );
    }

    /// Columns a chunk does not store are read from the column they equal, not copied: one
    /// point per bucket gives max, sum, first, last and p95 as the min column itself (the
    /// step fold's one-pass path checks for that), and columns reused for another chunk
    /// read as freshly decoded ones.
    #[test]
    fn unstored_columns_are_the_columns_they_equal() {
        let pts: Vec<(i64, f64)> = (0..50).map(|i| (i * 15_000, (i * 7 % 11) as f64 * 0.5)).collect();
        let mut single = Vec::new();
        aggregate(&pts, 10_000, false, None, &mut single);
        let mut enc = Vec::new();
        encode(&single, 0, &mut enc);
        let mut cols = ChunkColumns::default();
        decode_columns(&enc, 0, &mut cols).unwrap();
        let min = cols.min().as_ptr();
        for c in [cols.max(), cols.sum(), cols.first(), cols.last(), cols.p95()] {
            assert_eq!(c.as_ptr(), min);
        }
        assert_eq!(cols.counts(), None);
        assert_eq!(cols.nan_counts(), None);
        // 60 s buckets of four points: first and last stored or min/max per bucket, p95 the
        // max (under 20 points), counts one number for the chunk.
        let mut four = Vec::new();
        aggregate(&pts, 60_000, true, Some(0.0), &mut four);
        let mut enc4 = Vec::new();
        encode(&four, 0, &mut enc4);
        decode_columns(&enc4, 0, &mut cols).unwrap();
        assert_eq!(cols.p95().as_ptr(), cols.max().as_ptr());
        let got: Vec<Bits> = (0..cols.len()).map(|k| bits(&cols.bucket(k))).collect();
        assert_eq!(got, four.iter().map(bits).collect::<Vec<_>>());
        // Back to the single-point chunk in the same columns.
        decode_columns(&enc, 0, &mut cols).unwrap();
        let got: Vec<Bits> = (0..cols.len()).map(|k| bits(&cols.bucket(k))).collect();
        assert_eq!(got, single.iter().map(bits).collect::<Vec<_>>());
    }

    /// `format-spec/rollup-chunk.md` §7.3's example: two 60 s buckets of 1 Hz points whose
    /// p95s are stored as distances below the max (rollup segments of version 5), and the
    /// same buckets as a version-4 segment stores them (the p95s as a plain column).
    #[test]
    fn golden_p95_offsets() {
        // 0.5, 1.0, ... 10.0 rising; 18 points of 3.0, one 4.0, one 3.5; 19 of 7.5, one 8.0.
        let mut pts: Vec<(i64, f64)> = (0..20).map(|i| (i * 1000, f64::from(i as u8 + 1) * 0.5)).collect();
        pts.extend((0..20).map(|i| (60_000 + i * 1000, [3.0, 4.0, 3.5][(i as usize).saturating_sub(17)])));
        pts.extend((0..20).map(|i| (120_000 + i * 1000, if i == 3 { 8.0 } else { 7.5 })));
        let mut b = Vec::new();
        aggregate(&pts, 60_000, false, None, &mut b);
        let maxes_p95s: Vec<(f64, f64)> = b.iter().map(|b| (b.max, b.p95)).collect();
        assert_eq!(maxes_p95s, [(10.0, 9.5), (4.0, 3.5), (8.0, 7.5)]);
        let enc = round_trip(&b, 0);
        #[rustfmt::skip]
        let common: &[u8] = &[
            0x01, 0x03, 0x00, 0xE8, 0x07, 0x78, 0x02, // starts [0, 60000, 120000]
            0x14,                                     // counts-same: 20
            0x02, 0x03, 0x01, 0x0A, 0x01, 0x32, 0x14, 0x02, // min [0.5, 3, 7.5]
            0x02, 0x03, 0x00, 0x14, 0x01, 0x0B, 0x0A, 0x02, // max [10, 4, 8]
            0x02, 0x03, 0x01, 0xB4, 0x10, 0x01, 0xE5, 0x06, 0xAD, 0x0A, 0x02, // sum [105, 61.5, 150.5]
            0x02, 0x03, 0x00, 0x06, 0x01, 0x0B, 0x09, 0x01, // first/last codes [3, 6, 0]
            0x02, 0x01, 0x01, 0x46,                   // the stored last: [3.5]
        ];
        let want = [&[0x22, 0x85, 0x09][..], common, &[0x01, 0x02, 0x03, 0x00, 0x0A, 0x00, 0x00, 0x01]].concat();
        assert_eq!(enc, want, "{enc:02X?}");
        // Version 4: forms bit 7 clear, the p95s [9.5, 3.5, 7.5] plain.
        let mut v4 = Vec::new();
        encode_version(4, &b, 0, &mut v4);
        let want4 = [&[0x22, 0x05, 0x09][..], common, &[0x02, 0x03, 0x01, 0xBE, 0x01, 0x01, 0x77, 0x64, 0x02]].concat();
        assert_eq!(v4, want4, "{v4:02X?}");
        // A version-4 segment's reader refuses the offsets; the newest reads both alike.
        let mut out = vec![SENTINEL];
        assert_eq!(decode_version(4, &enc, 0, &mut out), Err(bad("unknown rollup chunk flags")));
        assert_eq!(out.len(), 1);
        assert_eq!(
            reference::reference_decode_version(4, &enc, 0, &mut out),
            Err(bad("unknown rollup chunk flags"))
        );
        let mut a = Vec::new();
        decode_version(4, &v4, 0, &mut a).unwrap();
        let mut c = Vec::new();
        decode(&v4, 0, &mut c).unwrap();
        assert_eq!(a.iter().map(bits).collect::<Vec<_>>(), b.iter().map(bits).collect::<Vec<_>>());
        assert_eq!(c.iter().map(bits).collect::<Vec<_>>(), b.iter().map(bits).collect::<Vec<_>>());
    }

    /// p95 offsets over maxes of every magnitude and decimal exponent, over every max form
    /// and with buckets under 20 points between (which store no p95): the column decoder and
    /// the reference agree, the round trip is bit-exact, and damaged offsets are refused alike.
    #[test]
    fn p95_offsets_decode_as_the_reference() {
        let mut rng = crate::rng::SplitMix64::new(0x95);
        let mut offsets_seen = 0;
        for case in 0..400u64 {
            let d = (case % 5) as i32;
            let scale = 10f64.powi(d);
            let mag = [1i64, 1000, 1 << 40, (1 << 52) - 1][(case / 5 % 4) as usize];
            let mut pts = Vec::new();
            let mut t = 0i64;
            for b in 0..6 {
                let n = if b % 3 == 2 { 5 } else { 20 + (rng.next_u64() % 41) as i64 };
                let top = (rng.next_u64() % mag as u64) as i64;
                for k in 0..n {
                    let v = if case % 7 == 0 && k % 2 == 0 {
                        top as f64 / scale
                    } else {
                        (top - (rng.next_u64() % 5) as i64 * (k % 3)) as f64 / scale
                    };
                    pts.push((t + k * 1000, if case % 11 == 3 { -v } else { v }));
                }
                t += 60_000;
            }
            let mut b = Vec::new();
            aggregate(&pts, 60_000, case % 2 == 0, None, &mut b);
            let enc = round_trip(&b, 0);
            let forms = if enc[0] & SHORT_HEAD != 0 { 0 } else { enc[1] };
            if forms & P95_OFFSET != 0 {
                offsets_seen += 1;
                same_as_reference(&enc, 0);
                // Every byte of the p95 section changed, one at a time.
                for i in 3..enc.len() {
                    for x in [0x00, 0x01, 0x7F, 0xFF] {
                        let mut bad = enc.clone();
                        bad[i] = x;
                        same_as_reference(&bad, 0);
                    }
                }
            }
        }
        assert!(offsets_seen > 100, "{offsets_seen} chunks with p95 offsets");

        // Offsets that take a p95 to 2^53 or beyond, or are not integers, are refused alike.
        let top = (1i64 << 52) - 1;
        let pts: Vec<(i64, f64)> = (0..40).map(|k| (k * 1000, (top - k % 2) as f64)).collect();
        let mut b = Vec::new();
        aggregate(&pts, 60_000, false, None, &mut b);
        let mut enc = Vec::new();
        let sizes = encode_sections(&b, 0, &mut enc);
        assert_ne!(enc[1] & P95_OFFSET, 0);
        let head = &enc[..enc.len() - sizes[8]];
        for (j, what) in [
            (-((1i64 << 52) + 1) as f64, "p95 offset out of range"),
            (-(1i64 << 52) as f64, ""),
            ((1i64 << 54) as f64, "p95 offset out of range"),
            (0.5, "p95 offset out of range"),
            (0.0, ""),
        ] {
            let mut chunk = head.to_vec();
            chunk.push(0);
            codec::encode_values(&[j], &mut chunk);
            same_as_reference(&chunk, 0);
            let r = decode(&chunk, 0, &mut Vec::new());
            if what.is_empty() {
                assert!(r.is_ok(), "{r:?}");
            } else {
                assert_eq!(r, Err(bad(what)), "offset {j}");
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
        let enc = round_trip_at(5, &gauge, 1_699_999_200_000);
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
        let enc = round_trip_at(5, &b, 0);
        assert_eq!(encode_sections(&b, 0, &mut Vec::new()), [3, 7, 4, 0, 5, 11, 11, 7, 0, 4]);
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

        // Version 6 stores both chunks' counts as exceptions from the commonest (flags bits 0
        // and 5), and the counter's mins as steps from the previous max (max form 3): 41 and
        // 52 bytes.
        let enc = round_trip(&gauge, 1_699_999_200_000);
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x21, 0x05, 0x09,                         // flags: count exceptions; forms and fl as above
            0x01, 0x02, 0x80, 0xD4, 0x61, 0xE8, 0x07, 0x14, 0x01, // starts (delta-runs)
            0x01, 0x01, 0x00, 0x02,                   // counts: 1, one exception: bucket 0 (gap 0) has 2
            0x03, 0x02, 0x00, 0x00, 0x02,             // nan_count [0, 1]
            0x03, 0x02, 0x00, 0x02, 0x08,             // min [1, 5]
            0x03, 0x02, 0x00, 0x04, 0x06,             // max [2, 5]
            0x03, 0x02, 0x00, 0x06, 0x04,             // sum [3, 5]
            0x03, 0x02, 0x00, 0x06, 0x05,             // first/last codes [3, 0]
        ];
        assert_eq!(enc, want, "{enc:02X?}");
        let enc = round_trip(&b, 0);
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x27, 0x17, 0x09,                         // flags: count exceptions, no-nan, increase; forms: min steps, sum plain, increase derived; fl as above
            0x01, 0x03, 0x00, 0xE8, 0x07, 0x78, 0x02, // starts [0, 60_000, 120_000]
            0x04, 0x01, 0x02, 0x01,                   // counts: 4, one exception: bucket 2 (gap 2) has 1
            0x03, 0x02, 0x00, 0x08, 0x07,             // min steps [4, 0]: 115 - 111, 131 - 131
            0x00, 0xC8, 0x01,                         // d = 0; the first min, 100
            0x02, 0x03, 0x00, 0x16, 0x01, 0x1F, 0x15, 0x01, // max offsets [11, 16, 0]
            0x02, 0x03, 0x00, 0xD2, 0x06, 0x01, 0xD9, 0x05, 0xB4, 0x03, 0x01, // sum [425, 496, 131]
            0x04, 0x03, 0x00, 0x01, 0x06, 0x03, 0x02, // first/last codes [3, 3, 0]
            0x02, 0x01, 0x00, 0x18,                   // increase of bucket 0: [12]
        ];
        assert_eq!(enc, want, "{enc:02X?}");
        // A version-5 reader refuses count exceptions.
        for v in [4, 5] {
            assert_eq!(decode_version(v, &enc, 0, &mut Vec::new()), Err(bad("counts both one and the same")));
            assert_eq!(
                reference::reference_decode_version(v, &enc, 0, &mut Vec::new()),
                Err(bad("counts both one and the same"))
            );
        }
    }

    /// Min steps (max form 3, version 6): a gauge scraped every 15 s in 60 s buckets, 0, 11,
    /// 33, 66 | 110, 115, 131, 158. The min column holds 110 - 66 = 44, the max section the
    /// first min, 0, and the offsets 66 and 48: 30 bytes, where version 5 (a plain max
    /// column) takes 31.
    #[test]
    fn golden_min_steps() {
        let pts = [
            (0, 0.0), (15_000, 11.0), (30_000, 33.0), (45_000, 66.0),
            (60_000, 110.0), (75_000, 115.0), (90_000, 131.0), (105_000, 158.0),
        ];
        let mut b = Vec::new();
        aggregate(&pts, 60_000, false, None, &mut b);
        let enc = round_trip(&b, 0);
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x22, 0x07, 0x03,                         // flags: no-nan, counts-same; forms: min steps, sum plain; fl 3 (first = min, last = max)
            0x01, 0x02, 0x00, 0xE8, 0x07, 0x78, 0x01, // starts [0, 60_000]
            0x04,                                     // every count is 4
            0x02, 0x01, 0x00, 0x58,                   // min steps [44]: 110 - 66
            0x00, 0x00,                               // d = 0; the first min, 0
            0x03, 0x02, 0x00, 0x84, 0x01, 0x23,       // max offsets [66, 48]
            0x03, 0x02, 0x00, 0xDC, 0x01, 0xA8, 0x06, // sum [110, 514]
        ];
        assert_eq!(enc, want, "{enc:02X?}");
        let v5 = round_trip_at(5, &b, 0);
        assert_eq!(v5.len(), 31);
        assert_eq!(v5[1] & 3, MAX_PLAIN, "{v5:02X?}");
        for v in [4, 5] {
            let e = Err(bad("unknown rollup chunk column form"));
            assert_eq!(decode_version(v, &enc, 0, &mut Vec::new()), e);
            assert_eq!(reference::reference_decode_version(v, &enc, 0, &mut Vec::new()), e);
        }

        // First mins, steps and exponents the decoder must refuse, as the reference does;
        // the rest decode.
        let (head, tail) = (&enc[..11], &enc[17..]);
        assert_eq!(&enc[11..17], &[0x02, 0x01, 0x00, 0x58, 0x00, 0x00]);
        let top = (1i64 << 53) - 115;
        for (first, step, d, what) in [
            (0i64, 44.0, 0u8, ""),
            (0, -0.0, 0, ""),
            (-(1i64 << 52), 0.0, 0, ""),
            // The last max 2^53 - 1 (offsets 66 and 48), then one above.
            (top, 0.0, 0, ""),
            (top, 1.0, 0, "min step or max offset out of range"),
            (top + 49, -49.0, 0, "min step or max offset out of range"),
            (1 << 53, -200.0, 0, "min step or max offset out of range"),
            (i64::MAX, 0.0, 0, "min step or max offset out of range"),
            (i64::MIN, 0.0, 0, "min step or max offset out of range"),
            (0, 0.5, 0, "min step or max offset out of range"),
            (0, f64::NAN, 0, "min step or max offset out of range"),
            (0, f64::INFINITY, 0, "min step or max offset out of range"),
            (0, (1i64 << 53) as f64, 0, "min step or max offset out of range"),
            (0, 44.0, 9, ""),
            (0, 44.0, 10, "decimals out of range"),
        ] {
            let mut c = head.to_vec();
            codec::encode_values(&[step], &mut c);
            c.push(d);
            put_ivarint(&mut c, first);
            c.extend_from_slice(tail);
            same_as_reference(&c, 0);
            let r = decode(&c, 0, &mut Vec::new());
            if what.is_empty() {
                assert!(r.is_ok(), "{first} {step} {d}: {r:?}");
            } else {
                assert_eq!(r, Err(bad(what)), "{first} {step} {d}");
            }
        }
        // One bucket cannot have steps.
        let mut c = vec![0x02, 0x07, 0x03];
        codec::encode_timestamps(&[0], &mut c);
        codec::encode_values(&[4.0], &mut c);
        c.extend_from_slice(&[0x02, 0x00, 0x00, 0x00]);
        same_as_reference(&c, 0);
        assert_eq!(decode(&c, 0, &mut Vec::new()), Err(bad("min steps need two buckets")));
    }

    /// Count exceptions the decoder must refuse (none, as many as buckets, past the last
    /// bucket, equal to the common count, above u32, a bucket left without points), as the
    /// reference does; the rest decode.
    #[test]
    fn count_exceptions_decode_as_the_reference() {
        let gauge = [
            Bucket { start: 10_000, count: 2, nan_count: 0, min: 1.0, max: 2.0, sum: 3.0, first: 1.0, last: 2.0, p95: 2.0, increase: None },
            Bucket { start: 20_000, count: 1, nan_count: 1, min: 5.0, max: 5.0, sum: 5.0, first: 5.0, last: 5.0, p95: 5.0, increase: None },
        ];
        let enc = round_trip(&gauge, 0);
        assert_eq!(enc[0] & (COUNTS_ONE | COUNTS_SAME), COUNTS_ONE | COUNTS_SAME);
        let at = 3 + enc[3..].iter().position(|_| true).unwrap();
        let starts_len = {
            let mut v = Vec::new();
            codec::decode_timestamps(&enc[at..], &mut v).unwrap()
        };
        let (head, tail) = (&enc[..at + starts_len], &enc[at + starts_len + 4..]);
        assert_eq!(&enc[at + starts_len..at + starts_len + 4], &[1, 1, 0, 2]);
        for (counts, what) in [
            (&[1u8, 1, 0, 2][..], ""),
            (&[1, 1, 1, 2], ""),
            (&[1, 1, 0, 0], "bucket without points"),
            (&[1, 0], "bad count exceptions"),
            (&[1, 2, 0, 2, 0, 3], "bad count exceptions"),
            (&[1, 1, 2, 2], "bad count exceptions"),
            (&[1, 1, 0, 1], "bad count exceptions"),
            (&[1, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 2], "bad count exceptions"),
            (&[0x80, 0x80, 0x80, 0x80, 0x10, 1, 0, 2], "bucket count out of range"),
            (&[1, 1, 0, 0x80, 0x80, 0x80, 0x80, 0x10], "bucket count out of range"),
            (&[1, 1, 0, 19], ""),
            // The largest count: bucket 0 then stores a p95, which this chunk lacks.
            (&[1, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], "truncated"),
        ] {
            let mut c = head.to_vec();
            c.extend_from_slice(counts);
            c.extend_from_slice(tail);
            same_as_reference(&c, 0);
            let r = decode(&c, 0, &mut Vec::new());
            if what.is_empty() {
                assert!(r.is_ok(), "{counts:02X?}: {r:?}");
            } else if what == "truncated" {
                assert!(matches!(r, Err(Corruption::Codec(CodecError::Truncated { .. }))), "{r:?}");
            } else {
                assert_eq!(r, Err(bad(what)), "{counts:02X?}");
            }
        }
    }

    /// Min steps over mins of every magnitude, with p95 and sum offsets beside them: the
    /// decoder takes the mins' and maxes' integers from the steps below 2^49 and works them
    /// out above, as the reference always does; both give the buckets bit for bit.
    #[test]
    fn min_steps_over_every_magnitude_decode_as_the_reference() {
        let (mut p95, mut sum) = (0, 0);
        for n0 in [1i64 << 30, (1 << 47) - 3, (1 << 49) - 40_000, (1 << 49) + 4000, 1 << 50, (1 << 52) - 100_000] {
            let pts: Vec<(i64, f64)> =
                (0..300i64).map(|i| (i * 1000, (n0 + i * 37 % 101 + i) as f64 / 100.0)).collect();
            let mut b = Vec::new();
            aggregate(&pts, 60_000, false, None, &mut b);
            let want: Vec<Bits> = b.iter().map(bits).collect();
            let mut enc = Vec::new();
            let sizes = encode_forms(&b, 0, &mut enc, 5);
            if enc[0] & SHORT_HEAD != 0 || enc[1] & 3 != MAX_OFFSET {
                continue;
            }
            // The same chunk with its min column as steps (max form 3).
            let (min_at, min_end) = (sizes[..4].iter().sum::<usize>(), sizes[..5].iter().sum::<usize>());
            let d = usize::from(enc[min_end]);
            let ints: Vec<(i64, i64)> =
                b.iter().map(|x| (scaled(x.min, d).unwrap(), scaled(x.max, d).unwrap())).collect();
            let steps: Vec<i64> = (1..ints.len()).map(|i| ints[i].0 - ints[i - 1].1).collect();
            let mut c = enc[..min_at].to_vec();
            c[1] |= MAX_STEPS;
            c.extend_from_slice(&decimal_delta_by_hand(0, &steps));
            c.push(enc[min_end]);
            put_ivarint(&mut c, ints[0].0);
            c.extend_from_slice(&enc[min_end + 1..]);
            same_as_reference(&c, 0);
            let mut got = Vec::new();
            decode(&c, 0, &mut got).expect("decodes");
            assert_eq!(got.iter().map(bits).collect::<Vec<_>>(), want, "{n0}");
            p95 += usize::from(enc[1] & P95_OFFSET != 0);
            sum += usize::from((enc[1] >> 2) & 3 == SUM_OFFSET);
        }
        // p95 offsets on both sides of 2^49, a sum offset below it.
        assert!(p95 >= 4 && sum >= 1, "{p95} {sum}");
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
    /// The sum codes and first/last codes columns decode to the same buckets (and the same
    /// errors) in every value codec an encoder may choose, not only the one this encoder
    /// writes: raw, xor, and the decimal codecs at exponent 0 (decoded straight into codes)
    /// and above it (through `f64`, since the decoder divides); values that are not codes
    /// (`-0.0`, fractions, 9, 255, 256, 2^63, NaN) are refused as the reference refuses them.
    #[test]
    fn code_columns_decode_alike_in_every_value_codec() {
        // The gauge of `golden_layout2` with sum codes: both buckets' sums are code 1
        // (`first + last`, `first`), so the sum section holds no bucket.
        let gauge = [
            Bucket { start: 1_700_000_000_000, count: 2, nan_count: 0, min: 1.0, max: 2.0, sum: 3.0, first: 1.0, last: 2.0, p95: 2.0, increase: None },
            Bucket { start: 1_700_000_010_000, count: 1, nan_count: 1, min: 5.0, max: 5.0, sum: 5.0, first: 5.0, last: 5.0, p95: 5.0, increase: None },
        ];
        let chunk = |sum_codes: &[u8], fl: &[u8]| {
            let mut c = vec![SUM_CODES, 0x05, FL_COLUMN];
            c.extend_from_slice(&[0x01, 0x02, 0x80, 0xD4, 0x61, 0xE8, 0x07, 0x14, 0x01]);
            c.extend_from_slice(&[0x03, 0x02, 0x00, 0x04, 0x01]);
            c.extend_from_slice(&[0x03, 0x02, 0x00, 0x00, 0x02]);
            c.extend_from_slice(&[0x03, 0x02, 0x00, 0x02, 0x08]);
            c.extend_from_slice(&[0x03, 0x02, 0x00, 0x04, 0x06]);
            c.extend_from_slice(sum_codes);
            enc(&[], &mut c);
            c.extend_from_slice(fl);
            c
        };
        // A column of two integers `n / 10^d` as decimal-delta2 (no residual block).
        let dec2 = |d: u8, n: [i64; 2]| {
            let mut c = vec![values::ID_DECIMAL_DELTA2, 2, d];
            crate::segment::codec::varint::put_ivarint(&mut c, n[0]);
            crate::segment::codec::varint::put_ivarint(&mut c, n[1] - n[0]);
            c
        };
        let forms = |v: [f64; 2]| {
            let (mut raw, mut xor, mut chosen) = (Vec::new(), Vec::new(), Vec::new());
            values::encode_raw(&v, &mut raw);
            values::encode_xor(&v, &mut xor);
            enc(&v, &mut chosen);
            vec![raw, xor, chosen]
        };
        let (sum_ok, fl_ok) = (forms([1.0, 1.0]), forms([3.0, 0.0]));
        let mut fl_forms = fl_ok.clone();
        fl_forms.push(dec2(1, [30, 0]));
        fl_forms.push(dec2(9, [3_000_000_000, 0]));
        let mut sum_forms = sum_ok.clone();
        sum_forms.push(dec2(2, [100, 100]));
        let want: Vec<Bits> = gauge.iter().map(bits).collect();
        for s in &sum_forms {
            for f in &fl_forms {
                let c = chunk(s, f);
                same_as_reference(&c, 1_699_999_200_000);
                let mut got = Vec::new();
                decode(&c, 1_699_999_200_000, &mut got).expect("decodes");
                assert_eq!(got.iter().map(bits).collect::<Vec<_>>(), want, "{c:02X?}");
            }
        }
        let not_codes = [-0.0, 0.5, 3.5, 9.0, 255.0, 256.0, 2f64.powi(63), f64::NAN, -1.0, 2.0];
        for x in not_codes {
            for bad_fl in forms([3.0, x]) {
                let c = chunk(&sum_ok[0], &bad_fl);
                same_as_reference(&c, 1_699_999_200_000);
                assert!(decode(&c, 0, &mut Vec::new()).is_err(), "{x} as a first/last code");
            }
            for bad_sum in forms([x, 1.0]) {
                let c = chunk(&bad_sum, &fl_ok[0]);
                same_as_reference(&c, 1_699_999_200_000);
                assert!(decode(&c, 0, &mut Vec::new()).is_err(), "{x} as a sum code");
            }
        }
        for bad in [dec2(1, [35, 0]), dec2(1, [90, 0]), dec2(9, [2_999_999_999, 0])] {
            let c = chunk(&sum_ok[0], &bad);
            same_as_reference(&c, 1_699_999_200_000);
            assert!(decode(&c, 0, &mut Vec::new()).is_err(), "{c:02X?}");
        }
    }

    /// A decimal-delta column of `ints` at exponent `d`, in 64-bit residual blocks (codec.md
    /// §4.3), written by hand (the encoder takes the smallest exponent).
    fn decimal_delta_by_hand(d: u8, ints: &[i64]) -> Vec<u8> {
        let mut c = vec![values::ID_DECIMAL_DELTA];
        put_uvarint(&mut c, ints.len() as u64);
        c.push(d);
        crate::segment::codec::varint::put_ivarint(&mut c, ints[0]);
        for block in ints.windows(2).collect::<Vec<_>>().chunks(128) {
            c.extend_from_slice(&[64, 0, 1]);
            for w in block {
                c.extend_from_slice(&(w[1].wrapping_sub(w[0]) as u64).to_le_bytes());
            }
        }
        c
    }

    /// Offset forms over mins of every magnitude, on both sides of the bound below which the
    /// decoder takes the min column's integers from its decimal codec
    /// (`values::decimal_ints_of_codec`, 2^49) instead of checking every min, with the min
    /// column in every codec: as written, decimal at the chunk's exponent and above it, raw
    /// and xor. Each decodes as the reference decoder (which checks every min) and bit for
    /// bit as aggregated.
    #[test]
    fn offset_forms_over_mins_of_every_magnitude_decode_as_the_reference() {
        let mut seen = Vec::new();
        for n0 in [1i64 << 30, (1 << 47) - 3, (1 << 49) - 4000, (1 << 49) + 4000, 1 << 50, (1 << 52) - 100] {
            let pts: Vec<(i64, f64)> =
                (0..64i64).map(|i| (i * 15_000, (n0 + i * 7 % 13) as f64 / 100.0)).collect();
            let mut b = Vec::new();
            aggregate(&pts, 60_000, false, None, &mut b);
            let want: Vec<Bits> = b.iter().map(bits).collect();
            let mut enc = Vec::new();
            let sizes = encode_sections(&b, 0, &mut enc);
            if enc[0] & SHORT_HEAD != 0 || enc[1] & 3 != MAX_OFFSET {
                continue;
            }
            let (min_at, min_end) = (sizes[..4].iter().sum::<usize>(), sizes[..5].iter().sum::<usize>());
            let d = enc[min_end];
            let mins: Vec<f64> = b.iter().map(|x| x.min).collect();
            let ints: Vec<i64> = mins.iter().map(|&m| scaled(m, usize::from(d)).expect("decimal")).collect();
            let (id, _, cr) = values::header(&enc[min_at..]).expect("min column");
            seen.push((n0, values::is_decimal(id).then(|| enc[min_at + cr.pos()]), d));
            let (mut raw, mut xor) = (Vec::new(), Vec::new());
            values::encode_raw(&mins, &mut raw);
            values::encode_xor(&mins, &mut xor);
            // At a higher exponent: readable while the integers stay below 2^53 (the
            // reference decides the rest, refusing them).
            let up = |k: u32| {
                let ints: Vec<i64> = ints.iter().map(|n| n * 10i64.pow(k)).collect();
                (decimal_delta_by_hand(d + k as u8, &ints), ints.iter().all(|n| n.unsigned_abs() < 1 << 53))
            };
            let written = enc[min_at..min_end].to_vec();
            for (col, readable) in [(written, true), (decimal_delta_by_hand(d, &ints), true), up(1), up(2), (raw, true), (xor, true)] {
                let mut c = enc[..min_at].to_vec();
                c.extend_from_slice(&col);
                c.extend_from_slice(&enc[min_end..]);
                same_as_reference(&c, 0);
                let mut got = Vec::new();
                if readable {
                    decode(&c, 0, &mut got).expect("decodes");
                    assert_eq!(got.iter().map(bits).collect::<Vec<_>>(), want, "{n0}: {col:02X?}");
                }
            }
        }
        // Offsets over a decimal min column at the chunk's exponent, on both sides of 2^49.
        for n0 in [1 << 30, (1 << 49) - 4000, (1 << 49) + 4000] {
            assert!(seen.contains(&(n0, Some(2), 2)), "{n0}: {seen:?}");
        }
    }

    /// The offset forms' columns (max offsets; sum offsets and residuals) decode alike in
    /// every value codec: raw, xor, decimal at exponent 0 (straight to integers) and above it
    /// (through `f64`); a value that is not an integer below 2^53 is refused as the reference
    /// refuses it.
    #[test]
    fn offset_columns_decode_alike_in_every_value_codec() {
        // A gauge of decimal values, four points a bucket, whose chunk takes the max offset
        // and the sum offset forms.
        let (b, enc, sizes) = (1..200)
            .find_map(|base| {
                let pts: Vec<(i64, f64)> = (0..64)
                    .map(|i| (i * 15_000, ((i * 7 % 13) as f64 + f64::from(base)) / 100.0))
                    .collect();
                let mut b = Vec::new();
                aggregate(&pts, 60_000, false, None, &mut b);
                let mut enc = Vec::new();
                let sizes = encode_sections(&b, 0, &mut enc);
                (enc[1] & 0x0F == MAX_OFFSET | SUM_OFFSET << 2).then_some((b, enc, sizes))
            })
            .expect("a chunk of offset forms");
        let want: Vec<Bits> = b.iter().map(bits).collect();
        // Splits the chunk at the max section (`d`, offsets) and the sum section (`d`,
        // offsets, residuals): the columns as values, and the bytes around them.
        let max_at: usize = sizes[..5].iter().sum();
        let mut sum_at: usize = sizes[..6].iter().sum();
        let sum_end = sum_at + sizes[6];
        if enc[0] & SUM_CODES != 0 {
            sum_at += codec::decode_values(&enc[sum_at..], &mut Vec::new()).expect("sum codes");
        }
        let mut cols = Vec::new();
        for at in [max_at + 1, sum_at + 1, 0] {
            // 0: the residuals, right after the sum offsets.
            let at = if at == 0 { cols.last().map_or(0, |c: &(usize, usize, Vec<f64>)| c.1) } else { at };
            let mut v = Vec::new();
            let used = codec::decode_values(&enc[at..], &mut v).expect("column");
            cols.push((at, at + used, v));
        }
        assert_eq!(cols[2].1, sum_end);
        let rebuild = |k: usize, col: &[u8]| {
            let (from, to, _) = &cols[k];
            let mut c = enc[..*from].to_vec();
            c.extend_from_slice(col);
            c.extend_from_slice(&enc[*to..]);
            c
        };
        for (k, (_, _, v)) in cols.iter().enumerate() {
            let (mut raw, mut xor) = (Vec::new(), Vec::new());
            values::encode_raw(v, &mut raw);
            values::encode_xor(v, &mut xor);
            let ints: Vec<i64> = v.iter().map(|&x| x as i64).collect();
            let tenths = decimal_delta_by_hand(1, &ints.iter().map(|n| n * 10).collect::<Vec<_>>());
            for col in [raw, xor, tenths] {
                let c = rebuild(k, &col);
                same_as_reference(&c, 0);
                let mut got = Vec::new();
                decode(&c, 0, &mut got).expect("decodes");
                assert_eq!(got.iter().map(bits).collect::<Vec<_>>(), want, "column {k}");
            }
            // Integers of 2^53 and more in magnitude, at exponent 0 (straight to integers).
            for big in [1 << 53, -(1 << 53), i64::MAX, i64::MIN] {
                let mut bad = ints.clone();
                bad[0] = big;
                let c = rebuild(k, &decimal_delta_by_hand(0, &bad));
                same_as_reference(&c, 0);
                assert!(decode(&c, 0, &mut Vec::new()).is_err(), "{big} in column {k}");
            }
            for x in [0.5, -0.0, 2f64.powi(53), -(2f64.powi(53)), f64::NAN, f64::INFINITY] {
                let mut bad = v.clone();
                bad[0] = x;
                let mut raw = Vec::new();
                values::encode_raw(&bad, &mut raw);
                let c = rebuild(k, &raw);
                same_as_reference(&c, 0);
                // -0.0 is the integer 0 (`int53`): it decodes, to other buckets.
                if x.to_bits() != (-0.0f64).to_bits() {
                    assert!(decode(&c, 0, &mut Vec::new()).is_err(), "{x} in column {k}");
                }
            }
        }
    }

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
