//! Rollup chunk: the buckets of one series in one tier segment, as bytes. Pure encode/decode;
//! the normative layout is `format-spec/rollup-chunk.md`.
//!
//! A chunk is a flags byte, a "same as" byte, the bucket starts (relative to a `base` given by
//! the caller, e.g. the segment start) and value columns of the existing codecs
//! ([`crate::segment::codec`]). Columns identical bit for bit to the min (or max) column are not
//! stored, nor are all-one counts, all-zero NaN counts, or counter increases that follow from
//! `first`/`last` of neighbouring buckets.
//!
//! The decoder never panics on arbitrary bytes, refuses more than
//! [`codec::MAX_COLUMN_POINTS`] buckets before allocating, requires every column to hold the
//! same number of buckets and no trailing bytes, and leaves `out` unchanged on error.

use crate::error::Corruption;
use crate::segment::codec::values::{LIMIT, POW10, decimal_exponent_hint, decimal_ints};
use crate::segment::codec::varint::{Reader, gcd, put_ivarint, put_uvarint, uvarint_len, zigzag};
use crate::segment::codec::{self, CodecError, MAX_COLUMN_POINTS};
use crate::rollup::bucket::{Bucket, counter_step};

/// Flags byte: every count is 1, the count column is omitted.
pub const F_COUNTS_ONE: u8 = 1 << 0;
/// Flags byte: every NaN count is 0, the nan_count column is omitted.
pub const F_NO_NAN: u8 = 1 << 1;
/// Flags byte: the increase column is present (counters).
pub const F_INCREASE: u8 = 1 << 2;
/// Flags byte: the increase column holds only the first bucket's increase; the others are
/// `counter_step(last[i-1], first[i])`.
pub const F_INCREASE_DERIVED: u8 = 1 << 3;
/// Flags byte: bucket starts are a slot bitmap instead of a delta-runs column.
pub const F_STARTS_BITMAP: u8 = 1 << 4;
/// Flags byte: the sum column is stored scaled: a decimals byte `d`, a column of integers
/// `n` and a column of residuals `r`; each sum is the f64 whose bits are those of
/// `n / 10^d` plus `r` (wrapping). Sums of few-decimal values are such decimals up to an
/// ulp or two of rounding, so this costs little where the plain column would not.
pub const F_SUM_SCALED: u8 = 1 << 5;
const F_KNOWN: u8 = 0x3F;

/// "Same" byte, bits 0..=4: max, sum, first, last, p95 identical to min. Bits 5..=7: first,
/// last, p95 identical to max.
pub const SAME_AS_MIN_SHIFT: u8 = 0;
pub const SAME_AS_MAX_SHIFT: u8 = 5;

/// Columns after `min`, in stored order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Col {
    Max = 0,
    Sum = 1,
    First = 2,
    Last = 3,
    P95 = 4,
}
const AFTER_MIN: [Col; 5] = [Col::Max, Col::Sum, Col::First, Col::Last, Col::P95];

fn get(b: &Bucket, c: Col) -> f64 {
    match c {
        Col::Max => b.max,
        Col::Sum => b.sum,
        Col::First => b.first,
        Col::Last => b.last,
        Col::P95 => b.p95,
    }
}

/// Bit of "same" saying column `c` is identical to max (only first, last, p95 have one).
fn max_bit(c: Col) -> Option<u8> {
    match c {
        Col::First => Some(1 << SAME_AS_MAX_SHIFT),
        Col::Last => Some(1 << (SAME_AS_MAX_SHIFT + 1)),
        Col::P95 => Some(1 << (SAME_AS_MAX_SHIFT + 2)),
        _ => None,
    }
}

fn min_bit(c: Col) -> u8 {
    1 << (SAME_AS_MIN_SHIFT + c as u8)
}

fn all_bits_eq(buckets: &[Bucket], a: impl Fn(&Bucket) -> f64, b: impl Fn(&Bucket) -> f64) -> bool {
    buckets.iter().all(|x| a(x).to_bits() == b(x).to_bits())
}


/// The first rollup segment version whose chunks are in layout 2
/// ([`crate::rollup::layout2`], `format-spec/rollup-chunk.md` §7); older versions hold
/// layout 1 (this module's [`encode_chunk_v1`]).
pub const LAYOUT2_SINCE: u16 = 4;

/// The first rollup segment version whose layout-2 chunks may store p95s as distances below
/// the max (`format-spec/rollup-chunk.md` §7.3).
pub const P95_OFFSET_SINCE: u16 = 5;

/// The first rollup segment version whose layout-2 chunks may store their counts as
/// exceptions from the commonest count (`format-spec/rollup-chunk.md` §7.1).
pub const COUNT_EXCEPTIONS_SINCE: u16 = 6;

/// The first rollup segment version whose layout-2 chunks may store the min column as steps
/// from the previous bucket's max (max form 3, `format-spec/rollup-chunk.md` §7.2).
pub const MIN_STEPS_SINCE: u16 = 6;

/// The version new rollup segments are written at.
pub const ROLLUP_VERSION: u16 = MIN_STEPS_SINCE;

/// Appends the chunk of `buckets` in the newest layout (the one of [`ROLLUP_VERSION`]): see
/// [`encode_chunk_v1`] for what `buckets` and `base` must be.
pub fn encode_chunk(buckets: &[Bucket], base: i64, out: &mut Vec<u8>) {
    crate::rollup::layout2::encode(buckets, base, out);
}

/// Appends the chunk of `buckets` in the layout of a rollup segment of `version` (a file
/// rewritten in part keeps its version, so its chunks keep their layout).
pub fn encode_chunk_at(version: u16, buckets: &[Bucket], base: i64, out: &mut Vec<u8>) {
    if version >= LAYOUT2_SINCE {
        crate::rollup::layout2::encode_version(version, buckets, base, out);
    } else {
        encode_chunk_v1(buckets, base, out);
    }
}

/// [`encode_chunk`], returning the bytes of each section of the chunk
/// ([`crate::rollup::layout2::SECTIONS`]), for tools that show where the bytes go.
pub fn encode_chunk_sections(
    buckets: &[Bucket],
    base: i64,
    out: &mut Vec<u8>,
) -> Vec<(&'static str, usize)> {
    let sizes = crate::rollup::layout2::encode_sections(buckets, base, out);
    crate::rollup::layout2::SECTIONS.into_iter().zip(sizes).collect()
}

/// Decodes a chunk in the newest layout (see [`decode_chunk_at`]).
pub fn decode_chunk(input: &[u8], base: i64, out: &mut Vec<Bucket>) -> Result<(), Corruption> {
    crate::rollup::layout2::decode(input, base, out)
}

/// Decodes a chunk in the newest layout into `cols` (see [`decode_chunk_columns_at`]).
pub fn decode_chunk_columns(
    input: &[u8],
    base: i64,
    cols: &mut ChunkColumns,
) -> Result<(), Corruption> {
    crate::rollup::layout2::decode_columns(input, base, cols)
}

/// Decodes a chunk of a rollup segment of `version` into `cols` (replacing what it held),
/// refusing whatever [`decode_chunk_at`] refuses.
pub fn decode_chunk_columns_at(
    version: u16,
    input: &[u8],
    base: i64,
    cols: &mut ChunkColumns,
) -> Result<(), Corruption> {
    if version >= LAYOUT2_SINCE {
        crate::rollup::layout2::decode_columns_version(version, input, base, cols)
    } else {
        decode_chunk_columns_v1(input, base, cols)
    }
}

/// Decodes a chunk of a rollup segment of `version` with the same `base` its encoder had,
/// appending its buckets to `out`. On error `out` is left as it was.
pub fn decode_chunk_at(
    version: u16,
    input: &[u8],
    base: i64,
    out: &mut Vec<Bucket>,
) -> Result<(), Corruption> {
    if version >= LAYOUT2_SINCE {
        crate::rollup::layout2::decode_version(version, input, base, out)
    } else {
        decode_chunk_v1(input, base, out)
    }
}

/// Appends the layout-1 chunk of `buckets` (one series, strictly increasing starts, at most
/// [`MAX_COLUMN_POINTS`]) to `out`; starts are stored relative to `base`, which must not
/// exceed the first start (the segment start, say), with `start - base` fitting an i64. Either every bucket
/// has an `increase` or none has (in release builds a missing one is stored as NaN).
pub fn encode_chunk_v1(buckets: &[Bucket], base: i64, out: &mut Vec<u8>) {
    let n = buckets.len();
    debug_assert!(n <= MAX_COLUMN_POINTS, "too many buckets");
    debug_assert!(buckets.windows(2).all(|w| w[0].start < w[1].start));
    let has_inc = buckets.iter().any(|b| b.increase.is_some());
    debug_assert!(!has_inc || buckets.iter().all(|b| b.increase.is_some()));

    let mut flags = 0u8;
    if buckets.iter().all(|b| b.count == 1) {
        flags |= F_COUNTS_ONE;
    }
    if buckets.iter().all(|b| b.nan_count == 0) {
        flags |= F_NO_NAN;
    }
    let inc = |b: &Bucket| b.increase.unwrap_or(f64::NAN);
    if has_inc {
        flags |= F_INCREASE;
        if n >= 2
            && buckets
                .windows(2)
                .all(|w| counter_step(w[0].last, w[1].first).to_bits() == inc(&w[1]).to_bits())
        {
            flags |= F_INCREASE_DERIVED;
        }
    }
    let mut same = 0u8;
    for c in AFTER_MIN {
        if all_bits_eq(buckets, |b| get(b, c), |b| b.min) {
            same |= min_bit(c);
        } else if let Some(bit) = max_bit(c)
            && all_bits_eq(buckets, |b| get(b, c), |b| b.max)
        {
            same |= bit;
        }
    }

    let scaled_sum = if same & min_bit(Col::Sum) == 0 {
        encode_scaled_sum(buckets)
    } else {
        None
    };
    if scaled_sum.is_some() {
        flags |= F_SUM_SCALED;
    }

    let rel: Vec<i64> = buckets.iter().map(|b| b.start.wrapping_sub(base)).collect();
    let mut starts = Vec::new();
    codec::encode_timestamps(&rel, &mut starts);
    if let Some(bitmap) = starts_bitmap(&rel, starts.len()) {
        flags |= F_STARTS_BITMAP;
        starts = bitmap;
    }

    out.push(flags);
    out.push(same);
    out.extend_from_slice(&starts);
    let mut col = Vec::with_capacity(n);
    let mut put = |f: &dyn Fn(&Bucket) -> f64, out: &mut Vec<u8>| {
        col.clear();
        col.extend(buckets.iter().map(f));
        codec::encode_values(&col, out);
    };
    if flags & F_COUNTS_ONE == 0 {
        put(&|b| f64::from(b.count), out);
    }
    if flags & F_NO_NAN == 0 {
        put(&|b| f64::from(b.nan_count), out);
    }
    put(&|b| b.min, out);
    for c in AFTER_MIN {
        let mask = min_bit(c) | max_bit(c).unwrap_or(0);
        if same & mask != 0 {
            continue;
        }
        match (&scaled_sum, c) {
            (Some(bytes), Col::Sum) => out.extend_from_slice(bytes),
            _ => put(&|b| get(b, c), out),
        }
    }
    if flags & F_INCREASE_DERIVED != 0 {
        codec::encode_values(&[inc(&buckets[0])], out);
    } else if flags & F_INCREASE != 0 {
        put(&inc, out);
    }
}

/// The base of a scaled sum: `n / 10^d`, the decimal codec's expression.
fn scaled_base(n: i64, d: usize) -> f64 {
    n as f64 / POW10[d]
}

/// Appends the sum column of `buckets` as a chunk stores it:
/// scaled when [`F_SUM_SCALED`] applies (returns true), else as a plain value column. For
/// tools that show what each column costs.
pub fn encode_sum_column(buckets: &[Bucket], out: &mut Vec<u8>) -> bool {
    match encode_scaled_sum(buckets) {
        Some(bytes) => {
            out.extend_from_slice(&bytes);
            true
        }
        None => {
            let sums: Vec<f64> = buckets.iter().map(|b| b.sum).collect();
            codec::encode_values(&sums, out);
            false
        }
    }
}

/// The scaled form of the sum column (see [`F_SUM_SCALED`]), when the sums are not decimals
/// themselves (then the plain column's decimal codecs do well) but the min column is, and
/// every sum is finite. The decimals are the min column's: sums of `d`-decimal values are
/// `d`-decimal values, up to rounding.
pub(crate) fn encode_scaled_sum(buckets: &[Bucket]) -> Option<Vec<u8>> {
    let sums: Vec<f64> = buckets.iter().map(|b| b.sum).collect();
    if decimal_ints(&sums).is_some() {
        return None;
    }
    // Any exponent round-trips (the residuals absorb the difference); the min column's
    // makes the residuals small.
    let mins: Vec<f64> = buckets.iter().map(|b| b.min).collect();
    let d = decimal_exponent_hint(&mins)?;
    let mut ns = Vec::with_capacity(buckets.len());
    let mut rs = Vec::with_capacity(buckets.len());
    for b in buckets {
        // NaN and infinite sums keep the plain column (NaN payloads stay bit-exact there).
        let r = (b.sum * POW10[d]).round();
        if r.is_nan() || r.abs() >= LIMIT {
            return None;
        }
        let n = r as i64;
        let res = b.sum.to_bits().wrapping_sub(scaled_base(n, d).to_bits()) as i64;
        if res.unsigned_abs() >= 1 << 53 {
            return None;
        }
        ns.push(n as f64);
        rs.push(res as f64);
    }
    let mut out = vec![d as u8];
    codec::encode_values(&ns, &mut out);
    codec::encode_values(&rs, &mut out);
    Some(out)
}

/// The sums of a scaled sum column (after the decimals byte `d`), into `out`.
pub(crate) fn decode_scaled_sum(
    d: u8,
    ns: &[f64],
    rs: &[f64],
    out: &mut Vec<f64>,
) -> Result<(), Corruption> {
    let d = usize::from(d);
    if d >= POW10.len() {
        return Err(bad("scaled sum decimals out of range"));
    }
    out.clear();
    for (&n, &r) in ns.iter().zip(rs) {
        // Integers below 2^53 in magnitude, as the encoder writes them.
        let int = |v: f64| (v.fract() == 0.0 && v.abs() < LIMIT).then_some(v as i64);
        match (int(n), int(r)) {
            (Some(n), Some(r)) => out.push(f64::from_bits(
                scaled_base(n, d).to_bits().wrapping_add(r as u64),
            )),
            _ => return Err(bad("scaled sum column holds a non-integer")),
        }
    }
    Ok(())
}

/// Longest repeating pattern the encoder looks for, in slots.
const MAX_PERIOD: u64 = 64;

/// The slot-bitmap encoding of strictly increasing `rel`, if shorter than `limit` bytes.
pub(crate) fn starts_bitmap(rel: &[i64], limit: usize) -> Option<Vec<u8>> {
    let (&s0, &last) = (rel.first()?, rel.last()?);
    if !rel.windows(2).all(|w| w[0] < w[1]) {
        return None;
    }
    let unit = rel
        .windows(2)
        .fold(0u64, |g, w| gcd(g, w[1].wrapping_sub(w[0]) as u64))
        .max(1);
    let slots = (last.wrapping_sub(s0) as u64) / unit + 1;
    let slot = |t: i64| t.wrapping_sub(s0) as u64 / unit;
    // The shortest period P (bit k set iff bit k mod P set, for every k < slots), if any.
    let period = (1..=MAX_PERIOD.min(slots)).find(|&p| {
        let mut pattern = 0u64;
        for &t in rel {
            pattern |= 1 << (slot(t) % p);
        }
        // Slots below `slots` whose residue is in the pattern, versus buckets present.
        let (reps, rem) = (slots / p, slots % p);
        let ones = u64::from(pattern.count_ones());
        let partial = u64::from((pattern & ((1u64 << rem) - 1)).count_ones());
        reps * ones + partial == rel.len() as u64
    });
    let bits = period.unwrap_or(slots);
    let size = uvarint_len(rel.len() as u64)
        + uvarint_len(zigzag(s0))
        + uvarint_len(unit)
        + uvarint_len(slots)
        + uvarint_len(period.unwrap_or(0))
        + bits.div_ceil(8) as usize;
    if bits > 8 * limit as u64 || size >= limit {
        return None;
    }
    let mut out = Vec::with_capacity(size);
    put_uvarint(&mut out, rel.len() as u64);
    put_ivarint(&mut out, s0);
    put_uvarint(&mut out, unit);
    put_uvarint(&mut out, slots);
    put_uvarint(&mut out, period.unwrap_or(0));
    let at = out.len();
    out.resize(size, 0);
    for &t in rel {
        let k = (slot(t) % bits) as usize;
        out[at + k / 8] |= 1 << (k % 8);
    }
    Some(out)
}

/// Decodes the slot-bitmap form of the bucket starts (after the flags and same bytes).
pub(crate) fn decode_bitmap(r: &mut Reader<'_>, starts: &mut Vec<i64>) -> Result<(), Corruption> {
    let n = r.count()?;
    let s0 = r.ivarint()?;
    let unit = r.uvarint()?;
    let slots = r.uvarint()?;
    let period = r.uvarint()?;
    if n == 0 || unit == 0 || slots < n as u64 || period > slots {
        return Err(bad("bad bucket-start bitmap header"));
    }
    let bits = if period == 0 { slots } else { period };
    let bytes = r.bytes(bits.div_ceil(8) as usize)?;
    let tail = bits % 8;
    if tail != 0 && bytes[bytes.len() - 1] >> tail != 0 {
        return Err(bad("bucket-start bitmap padding is not zero"));
    }
    let set = |k: u64| bytes[(k / 8) as usize] & (1 << (k % 8)) != 0;
    let last = slots - 1;
    if !set(0) || !set(last % bits) {
        return Err(bad("bucket-start bitmap must start and end with a bucket"));
    }
    // Set bits of the (pattern) bitmap; at most n of them, else the count cannot match.
    let mut ones: Vec<u64> = Vec::new();
    for (i, &byte) in bytes.iter().enumerate() {
        let mut m = byte;
        while m != 0 {
            if ones.len() >= n {
                return Err(bad("bucket-start bitmap count mismatch"));
            }
            ones.push(i as u64 * 8 + u64::from(m.trailing_zeros()));
            m &= m - 1;
        }
    }
    let (reps, rem) = (slots / bits, slots % bits);
    let total =
        (reps as u128) * (ones.len() as u128) + ones.iter().filter(|&&k| k < rem).count() as u128;
    if total != n as u128 {
        return Err(bad("bucket-start bitmap count mismatch"));
    }
    // The last start is s0 + (slots-1)*unit; checking it bounds every other one.
    let fits = i64::try_from(last)
        .ok()
        .zip(i64::try_from(unit).ok())
        .and_then(|(a, b)| a.checked_mul(b))
        .and_then(|d| s0.checked_add(d))
        .is_some();
    if !fits {
        return Err(bad("bucket-start bitmap overflows"));
    }
    starts.reserve(n);
    let mut rep = 0u64;
    while starts.len() < n {
        for &j in &ones {
            let k = rep * bits + j;
            if k >= slots {
                break;
            }
            starts.push(s0 + (k * unit) as i64);
        }
        rep += 1;
    }
    Ok(())
}

pub(crate) fn bad(what: &'static str) -> Corruption {
    Corruption::BadField { what }
}

/// The columns of one chunk, decoded by [`decode_chunk_columns`]: each column as a slice
/// (a column stored as "same as min/max" reads as that column), without building a
/// [`Bucket`] per bucket. Reused across chunks, so its buffers are allocated once.
#[derive(Debug, Default)]
pub struct ChunkColumns {
    pub(crate) starts: Vec<i64>,
    /// Empty when every count is 1.
    pub(crate) counts: Vec<u32>,
    /// Empty when every NaN count is 0.
    pub(crate) nans: Vec<u32>,
    /// min, then the stored columns of `AFTER_MIN` (by `Col` index + 1).
    pub(crate) vals: [Vec<f64>; 6],
    /// Where column `c` of `AFTER_MIN` is read: an index of `vals`.
    pub(crate) at: [usize; 5],
    /// The increase of every bucket (derived ones computed); empty without increases.
    pub(crate) inc: Vec<f64>,
    pub(crate) has_inc: bool,
    /// Scratch of the layout-2 decoder.
    pub(crate) l2: crate::rollup::layout2::Scratch,

    /// Scratch: scaled sums' integers and residuals, counts and NaN counts as decoded.
    ns: Vec<f64>,
    rs: Vec<f64>,
    cf: Vec<f64>,
    nf: Vec<f64>,
}

impl ChunkColumns {
    /// Number of buckets.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// True without buckets.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Bucket starts (strictly increasing).
    pub fn starts(&self) -> &[i64] {
        &self.starts
    }

    /// Non-NaN point counts, or `None` when every count is 1.
    pub fn counts(&self) -> Option<&[u32]> {
        (!self.counts.is_empty() || self.starts.is_empty()).then_some(&self.counts[..])
    }

    /// NaN point counts, or `None` when every one is 0.
    pub fn nan_counts(&self) -> Option<&[u32]> {
        (!self.nans.is_empty() || self.starts.is_empty()).then_some(&self.nans[..])
    }

    /// The min column.
    pub fn min(&self) -> &[f64] {
        &self.vals[0]
    }

    fn col(&self, c: Col) -> &[f64] {
        &self.vals[self.at[c as usize]]
    }

    /// The max column.
    pub fn max(&self) -> &[f64] {
        self.col(Col::Max)
    }

    /// The sum column.
    pub fn sum(&self) -> &[f64] {
        self.col(Col::Sum)
    }

    /// The first column.
    pub fn first(&self) -> &[f64] {
        self.col(Col::First)
    }

    /// The last column.
    pub fn last(&self) -> &[f64] {
        self.col(Col::Last)
    }

    /// The p95 column.
    pub fn p95(&self) -> &[f64] {
        self.col(Col::P95)
    }

    /// The increase column (counters), or `None`.
    pub fn increase(&self) -> Option<&[f64]> {
        self.has_inc.then_some(&self.inc[..])
    }

    /// Bucket `i` (`i < len()`).
    pub fn bucket(&self, i: usize) -> Bucket {
        Bucket {
            start: self.starts[i],
            count: self.counts.get(i).copied().unwrap_or(1),
            nan_count: self.nans.get(i).copied().unwrap_or(0),
            min: self.min()[i],
            max: self.max()[i],
            sum: self.sum()[i],
            first: self.first()[i],
            last: self.last()[i],
            p95: self.p95()[i],
            increase: self.has_inc.then(|| self.inc[i]),
        }
    }

    pub(crate) fn clear(&mut self) {
        for v in &mut self.vals {
            v.clear();
        }
        self.clear_but_values();
    }

    /// [`Self::clear`] but for the value columns, for a decoder that replaces every value
    /// column it makes readable (layout 2's): their buffers keep their lengths, so that a
    /// column decoded into one is not zeroed first.
    pub(crate) fn clear_but_values(&mut self) {
        self.starts.clear();
        self.counts.clear();
        self.nans.clear();
        self.at = [0; 5];
        self.inc.clear();
        self.has_inc = false;
    }
}

/// Decodes a chunk made by [`encode_chunk_v1`] (layout 1) with the same `base`, appending
/// its buckets to `out`. On error `out` is left as it was.
pub fn decode_chunk_v1(input: &[u8], base: i64, out: &mut Vec<Bucket>) -> Result<(), Corruption> {
    let mut c = ChunkColumns::default();
    decode_chunk_columns_v1(input, base, &mut c)?;
    out.reserve(c.len());
    out.extend((0..c.len()).map(|i| c.bucket(i)));
    Ok(())
}

/// Decodes a layout-1 chunk made by [`encode_chunk_v1`] with the same `base` into `cols`
/// (replacing what it held), with the checks of [`decode_chunk_v1`]: whatever
/// [`decode_chunk_v1`] refuses, this refuses with the same error (then `cols` holds no
/// meaningful columns).
pub fn decode_chunk_columns_v1(
    input: &[u8],
    base: i64,
    cols: &mut ChunkColumns,
) -> Result<(), Corruption> {
    cols.clear();
    let mut r = Reader::new(input);
    let flags = r.u8()?;
    let same = r.u8()?;
    if flags & !F_KNOWN != 0 {
        return Err(bad("unknown rollup chunk flags"));
    }
    let derived = flags & F_INCREASE_DERIVED != 0;
    if derived && flags & F_INCREASE == 0 {
        return Err(bad("derived increase without an increase column"));
    }
    for c in AFTER_MIN {
        if let Some(bit) = max_bit(c)
            && same & bit != 0
            && same & min_bit(c) != 0
        {
            return Err(bad("column marked identical to both min and max"));
        }
    }

    // Bucket starts.
    let starts = &mut cols.starts;
    if flags & F_STARTS_BITMAP != 0 {
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

    let column = |r: &mut Reader<'_>, v: &mut Vec<f64>, want: usize| -> Result<(), Corruption> {
        v.clear();
        let rest = &input[r.pos()..];
        let used = codec::decode_values(rest, v)?;
        r.bytes(used)?;
        if v.len() != want {
            return Err(bad("rollup chunk columns hold different bucket counts"));
        }
        Ok(())
    };
    // Counts and NaN counts go through f64 scratch columns, checked after the other columns
    // (as the errors' order has it).
    let ChunkColumns {
        vals,
        ns,
        rs,
        cf,
        nf,
        inc,
        ..
    } = cols;
    let has_counts = flags & F_COUNTS_ONE == 0;
    let has_nans = flags & F_NO_NAN == 0;
    if has_counts {
        column(&mut r, cf, n)?;
    }
    if has_nans {
        column(&mut r, nf, n)?;
    }
    column(&mut r, &mut vals[0], n)?;
    let scaled = flags & F_SUM_SCALED != 0;
    if scaled && same & min_bit(Col::Sum) != 0 {
        return Err(bad("scaled sum without a sum column"));
    }
    let mut at = [0usize; 5];
    for c in AFTER_MIN {
        let k = c as usize;
        if same & min_bit(c) != 0 {
            continue;
        }
        if same & max_bit(c).unwrap_or(0) != 0 {
            // Max (set before: it comes first) is stored or itself identical to min.
            at[k] = at[Col::Max as usize];
            continue;
        }
        at[k] = k + 1;
        if scaled && c == Col::Sum {
            let d = r.u8()?;
            column(&mut r, ns, n)?;
            column(&mut r, rs, n)?;
            decode_scaled_sum(d, ns, rs, &mut vals[k + 1])?;
        } else {
            column(&mut r, &mut vals[k + 1], n)?;
        }
    }
    if flags & F_INCREASE != 0 {
        if derived && n < 2 {
            return Err(bad("derived increase needs two buckets"));
        }
        column(&mut r, inc, if derived { 1 } else { n })?;
    }
    if r.remaining() != 0 {
        return Err(Corruption::Codec(CodecError::TrailingBytes {
            extra: r.remaining(),
        }));
    }
    let to_u32 = |v: f64| -> Option<u32> {
        let c = v as u32;
        (f64::from(c).to_bits() == v.to_bits()).then_some(c)
    };
    if has_counts || has_nans {
        for i in 0..n {
            let count = if has_counts { to_u32(cf[i]) } else { Some(1) };
            let nan_count = if has_nans { to_u32(nf[i]) } else { Some(0) };
            let (Some(count), Some(nan_count)) = (count, nan_count) else {
                return Err(bad("bucket count is not an integer in 0..=u32::MAX"));
            };
            if count == 0 && nan_count == 0 {
                return Err(bad("bucket without points"));
            }
            if has_counts {
                cols.counts.push(count);
            }
            if has_nans {
                cols.nans.push(nan_count);
            }
        }
    }
    cols.at = at;
    cols.has_inc = flags & F_INCREASE != 0;
    if derived {
        let (first, last) = (&cols.vals[at[Col::First as usize]], &cols.vals[at[Col::Last as usize]]);
        for i in 1..n {
            let x = counter_step(last[i - 1], first[i]);
            cols.inc.push(x);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::bucket::aggregate;
    use proptest::prelude::*;

    fn assert_bits_eq(a: &[Bucket], b: &[Bucket]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.bits(), y.bits(), "{x:?} vs {y:?}");
        }
    }

    fn round_trip(buckets: &[Bucket], base: i64) -> Vec<u8> {
        let mut enc = Vec::new();
        encode_chunk_v1(buckets, base, &mut enc);
        let mut back = vec![buckets.first().copied().unwrap_or(GOLDEN[0])];
        decode_chunk_v1(&enc, base, &mut back).expect("decodes");
        assert_bits_eq(&back[1..], buckets);
        enc
    }

    const GOLDEN: [Bucket; 2] = [
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

    /// The example of `format-spec/rollup-chunk.md`.
    #[test]
    fn golden_chunk() {
        let enc = round_trip(&GOLDEN, 1_699_999_200_000);
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x00,                                     // flags
            0xC4,                                     // same: first=min, last=max, p95=max
            0x01, 0x02, 0x80, 0xD4, 0x61, 0xE8, 0x07, 0x14, 0x01, // starts (delta-runs)
            0x03, 0x02, 0x00, 0x04, 0x01,             // count [2, 1]: decimal-delta2, d=0, n0=2, D1=-1
            0x03, 0x02, 0x00, 0x00, 0x02,             // nan_count [0, 1]
            0x03, 0x02, 0x00, 0x02, 0x08,             // min [1, 5]
            0x03, 0x02, 0x00, 0x04, 0x06,             // max [2, 5]
            0x03, 0x02, 0x00, 0x06, 0x04,             // sum [3, 5]
        ];
        assert_eq!(enc, want, "{enc:02X?}");
    }

    /// One point per bucket: only starts and min are stored; a counter's increase is derived.
    #[test]
    fn single_point_buckets_collapse_to_one_column() {
        let pts: Vec<(i64, f64)> = (0..480).map(|i| (i * 15_000, (i * 7) as f64)).collect();
        let mut b = Vec::new();
        aggregate(&pts, 10_000, true, Some(0.0), &mut b);
        let enc = round_trip(&b, 0);
        assert_eq!(
            enc[0],
            F_COUNTS_ONE | F_NO_NAN | F_INCREASE | F_INCREASE_DERIVED | F_STARTS_BITMAP
        );
        assert_eq!(enc[1], 0x1F);
        let mut raw = Vec::new();
        let ts: Vec<i64> = pts.iter().map(|p| p.0).collect();
        let vs: Vec<f64> = pts.iter().map(|p| p.1).collect();
        codec::encode_chunk(&ts, &vs, &mut raw);
        assert!(
            enc.len() * 2 <= raw.len() * 3,
            "{} vs raw {}",
            enc.len(),
            raw.len()
        );
    }

    /// Sums of decimals that float addition left an ulp off are stored as decimal integers
    /// plus an ulp residual (`format-spec/rollup-chunk.md` §2, scaled sum).
    #[test]
    fn golden_scaled_sum() {
        let pts = [(0, 0.1), (1_000, 0.2), (10_000, 0.3), (11_000, 0.4)];
        let mut b = Vec::new();
        aggregate(&pts, 10_000, false, None, &mut b);
        assert_eq!(b[0].sum.to_bits(), 0.3f64.to_bits() + 1);
        let enc = round_trip(&b, 0);
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x22,                                     // flags: no-nan, scaled sum
            0xC4,                                     // same: first=min, last=max, p95=max
            0x01, 0x02, 0x00, 0xE8, 0x07, 0x14, 0x01, // starts [0, 10000] (delta-runs)
            0x03, 0x02, 0x00, 0x04, 0x00,             // count [2, 2]
            0x03, 0x02, 0x01, 0x02, 0x04,             // min [0.1, 0.3]: d=1, n0=1, D1=2
            0x03, 0x02, 0x01, 0x04, 0x04,             // max [0.2, 0.4]
            0x01,                                     // sum: d=1
            0x03, 0x02, 0x00, 0x06, 0x08,             //   n [3, 7]
            0x03, 0x02, 0x00, 0x02, 0x01,             //   r [1, 0]: 0.1+0.2 is one ulp above 0.3
        ];
        assert_eq!(enc, want, "{enc:02X?}");
    }

    #[test]
    fn sums_of_few_decimal_values_cost_little() {
        // 1 Hz, one decimal, a slow walk: 10 s buckets of 10 points.
        let mut v = 40.0f64;
        let mut rng = crate::rng::SplitMix64::new(3);
        let pts: Vec<(i64, f64)> = (0..7200)
            .map(|i| {
                v = ((v * 10.0).round() + (rng.next_u64() % 5) as f64 - 2.0) / 10.0;
                (i * 1000, v)
            })
            .collect();
        let mut b = Vec::new();
        aggregate(&pts, 10_000, false, None, &mut b);
        let enc = round_trip(&b, 0);
        assert!(enc[0] & F_SUM_SCALED != 0);
        let sums: Vec<f64> = b.iter().map(|b| b.sum).collect();
        let mut plain = Vec::new();
        codec::encode_values(&sums, &mut plain);
        let scaled = encode_scaled_sum(&b).unwrap();
        assert!(
            scaled.len() * 2 < plain.len(),
            "{} vs {}",
            scaled.len(),
            plain.len()
        );
    }

    #[test]
    fn empty_chunk() {
        let enc = round_trip(&[], 0);
        assert_eq!(enc, [0x03, 0x1F, 0x01, 0x00, 0x00, 0x00]);
    }

    #[test]
    fn every_prefix_is_truncated() {
        let pts2: Vec<(i64, f64)> = (0..300)
            .map(|i| {
                let v = if i % 13 == 0 {
                    f64::NAN
                } else {
                    (i % 17) as f64 * 0.5
                };
                (i * 1_000 + (i % 3) * 300, v)
            })
            .collect();
        for (interval, counter) in [
            (10_000, true),
            (60_000, false),
            (15_000, true),
            (1_000, false),
        ] {
            let mut b = Vec::new();
            aggregate(&pts2, interval, counter, None, &mut b);
            let enc = round_trip(&b, -5_000);
            for cut in 0..enc.len() {
                let mut out = vec![GOLDEN[0]];
                let r = decode_chunk_v1(&enc[..cut], -5_000, &mut out);
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
                decode_chunk_v1(&long, -5_000, &mut Vec::new()),
                Err(Corruption::Codec(CodecError::TrailingBytes { extra: 1 }))
            ));
        }
    }

    #[test]
    fn refuses_bad_flags_and_counts() {
        let mut enc = Vec::new();
        encode_chunk_v1(&GOLDEN, 0, &mut enc);
        let mut e = enc.clone();
        e[0] |= 0x80;
        assert!(matches!(
            decode_chunk_v1(&e, 0, &mut Vec::new()),
            Err(Corruption::BadField { .. })
        ));
        let mut e = enc.clone();
        e[1] |= 0x01; // max = min would drop the max column: counts no longer line up
        assert!(decode_chunk_v1(&e, 0, &mut Vec::new()).is_err());
        let mut e = enc.clone();
        e[1] |= 0x04 << 3; // first = min and first = max
        assert!(matches!(
            decode_chunk_v1(&e, 0, &mut Vec::new()),
            Err(Corruption::BadField { .. })
        ));
        // A bucket without any point.
        let mut b = GOLDEN;
        b[0].count = 0;
        b[0].nan_count = 0;
        let mut e = Vec::new();
        encode_chunk_v1(&b, 0, &mut e);
        assert!(matches!(
            decode_chunk_v1(&e, 0, &mut Vec::new()),
            Err(Corruption::BadField { .. })
        ));
        // Too many buckets.
        let mut e = vec![0u8, 0, 0x01];
        put_uvarint(&mut e, MAX_COLUMN_POINTS as u64 + 1);
        assert!(matches!(
            decode_chunk_v1(&e, 0, &mut Vec::new()),
            Err(Corruption::Codec(CodecError::TooManyPoints { .. }))
        ));
        let mut e = vec![F_STARTS_BITMAP, 0];
        put_uvarint(&mut e, MAX_COLUMN_POINTS as u64 + 1);
        assert!(matches!(
            decode_chunk_v1(&e, 0, &mut Vec::new()),
            Err(Corruption::Codec(CodecError::TooManyPoints { .. }))
        ));
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            6 => (-1000i32..1000).prop_map(|n| f64::from(n) / 100.0),
            2 => Just(f64::NAN),
            1 => Just(-0.0),
            1 => Just(f64::INFINITY),
            2 => any::<f64>(),
            2 => any::<u64>().prop_map(f64::from_bits),
        ]
    }

    fn points() -> impl Strategy<Value = Vec<(i64, f64)>> {
        (
            -10_000_000i64..10_000_000,
            prop::collection::vec((1i64..40_000, value(), any::<bool>()), 0..400),
        )
            .prop_map(|(t0, steps)| {
                let mut t = t0;
                let mut c = 0.0;
                steps
                    .into_iter()
                    .map(|(d, v, rise)| {
                        t += d;
                        // Half of the points rise like a counter so derived increases happen.
                        if rise && !v.is_nan() {
                            c += v.abs().min(1e6);
                            (t, c)
                        } else {
                            (t, v)
                        }
                    })
                    .collect()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn round_trips_bit_exact(
            pts in points(),
            interval in prop::sample::select(vec![1i64, 1_000, 10_000, 15_000, 60_000]),
            counter in any::<bool>(),
            below in prop_oneof![Just(0i64), 0i64..2_000_000_000],
        ) {
            let mut b = Vec::new();
            aggregate(&pts, interval, counter, None, &mut b);
            let base = b.first().map_or(0, |b| b.start) - below;
            round_trip(&b, base);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), base in any::<i64>()) {
            let mut out = vec![GOLDEN[0]];
            match decode_chunk_v1(&bytes, base, &mut out) {
                Ok(()) => {
                    let got = out[1..].to_vec();
                    prop_assert!(got.windows(2).all(|w| w[0].start < w[1].start));
                    // What decodes re-encodes to the same buckets.
                    let rel_ok = got.windows(2).all(|w| w[0].start.wrapping_sub(base) < w[1].start.wrapping_sub(base));
                    if rel_ok {
                        round_trip(&got, base);
                    }
                }
                Err(_) => prop_assert_eq!(out.len(), 1),
            }
        }

        #[test]
        fn arbitrary_bytes_behind_valid_flags(tail in prop::collection::vec(any::<u8>(), 0..120), flags in 0u8..64, same in any::<u8>()) {
            let mut bytes = vec![flags, same];
            bytes.extend_from_slice(&tail);
            let _ = decode_chunk_v1(&bytes, 0, &mut Vec::new());
        }
    }
}
