//! Value column: ids 0 "raw", 1 "xor", 2 "decimal-delta", 3 "decimal-delta2".
//! The encoder builds every applicable candidate and keeps the shortest;
//! ties go to the faster decoder (raw, decimal-delta, decimal-delta2, xor).
//! Every layout starts `u8 id, uvarint count`; a count of 0 ends the column.
//! The byte/bit layouts are specified in codec.md.

use super::CodecError;
use super::bitpack::{self, BLOCK, BitCount, BitCursor, BitSink, BitWriter, Words};
use super::slots::{ValueSlot, divide_all};
use super::varint::{Reader, gcd, put_ivarint, put_uvarint, uvarint_len, zigzag};

pub const ID_RAW: u8 = 0;
pub const ID_XOR: u8 = 1;
pub const ID_DECIMAL_DELTA: u8 = 2;
pub const ID_DECIMAL_DELTA2: u8 = 3;

/// Largest decimal exponent `d` the decimal codecs use.
pub const MAX_DECIMALS: usize = 9;
/// `10^d` for `d` in `0..=MAX_DECIMALS`; all exactly representable.
pub const POW10: [f64; MAX_DECIMALS + 1] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
/// Scaled integers must satisfy `|r| < 2^53`.
pub(crate) const LIMIT: f64 = 9_007_199_254_740_992.0;

pub fn name(id: u8) -> Option<&'static str> {
    match id {
        ID_RAW => Some("raw"),
        ID_XOR => Some("xor"),
        ID_DECIMAL_DELTA => Some("decimal-delta"),
        ID_DECIMAL_DELTA2 => Some("decimal-delta2"),
        super::varbits::ID => Some("decimal-varbits"),
        _ => None,
    }
}

/// Whether codec `id` is one of the decimal codecs (decimal-delta, decimal-delta2,
/// decimal-varbits), whose bodies start with their exponent and whose values are their
/// integers divided by `10^exponent`.
pub(crate) fn is_decimal(id: u8) -> bool {
    id == ID_DECIMAL_DELTA || id == ID_DECIMAL_DELTA2 || id == super::varbits::ID
}

// ---------------------------------------------------------------- encoding

thread_local! {
    /// The best candidate so far and the one being built, reused across calls (a column
    /// encode allocates nothing once warm).
    static CANDIDATES: std::cell::RefCell<(Vec<u8>, Vec<u8>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

pub fn encode(values: &[f64], out: &mut Vec<u8>) {
    debug_assert!(values.len() <= super::MAX_COLUMN_POINTS);
    CANDIDATES.with(|c| {
        let (best, cand) = &mut *c.borrow_mut();
        // Candidates in tie-break order; a later one must be strictly shorter. `best` empty
        // means raw.
        let raw_len = 1 + uvarint_len(values.len() as u64) + 8 * values.len();
        let limit = |best: &Vec<u8>| if best.is_empty() { raw_len } else { best.len() };
        let consider = |best: &mut Vec<u8>, cand: &mut Vec<u8>| {
            if cand.len() < limit(best) {
                std::mem::swap(best, cand);
            }
            cand.clear();
        };
        best.clear();
        cand.clear();
        if let Some((d, ints)) = decimal_ints(values) {
            // Size the four decimal candidates in one pass; write only the smallest (ties
            // to the earlier one) if it beats raw.
            let sizes = decimal_family_sizes(&ints);
            let (k, &size) = sizes
                .iter()
                .enumerate()
                .min_by_key(|&(k, &s)| (s, k))
                .expect("four candidates");
            if size < limit(best) {
                let written = match k {
                    0 | 1 => encode_decimal(k == 1, d, &ints, cand, usize::MAX),
                    _ => super::varbits::encode(d, k as u8 - 1, &ints, cand, usize::MAX),
                };
                debug_assert!(written && cand.len() == size, "candidate {k} sized wrongly");
                consider(best, cand);
            }
        }
        if encode_xor_within(values, cand, limit(best)) {
            consider(best, cand);
        }
        if !best.is_empty() {
            out.extend_from_slice(best);
        } else {
            encode_raw(values, out);
        }
    })
}

pub fn encode_raw(values: &[f64], out: &mut Vec<u8>) {
    out.push(ID_RAW);
    put_uvarint(out, values.len() as u64);
    out.reserve(values.len() * 8);
    for v in values {
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

/// The integer nearest `x` (ties either way). Below 2^51 in magnitude, adding and removing
/// 1.5 × 2^52 rounds in two instructions (`f64::round` is a library call on baseline x86-64);
/// larger values, infinities and NaN take `f64::round`. Which of two tied integers is taken
/// never matters to [`scaled`]: a value half-way between two integers is not `n / 10^d` for
/// either of them, so both fail its check.
#[inline]
fn round_near(x: f64) -> f64 {
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 × 2^52
    if x.abs() < 2_251_799_813_685_248.0 {
        // 2^51
        (x + MAGIC) - MAGIC
    } else {
        x.round()
    }
}

/// `Some(n)` if `v` is exactly `n / 10^d` under the decoder's expression.
#[inline]
pub(crate) fn scaled(v: f64, d: usize) -> Option<i64> {
    let r = round_near(v * POW10[d]);
    // NaN fails the comparison; ±Inf fails the bound.
    if r.abs() < LIMIT {
        let n = r as i64;
        ((n as f64 / POW10[d]).to_bits() == v.to_bits()).then_some(n)
    } else {
        None
    }
}

/// [`scaled`]`(v, d)` of every value of a column that a decimal codec of exponent `dc ≤ d`
/// decoded, into `out` (replacing it), without `scaled`'s division and comparison; false
/// (and `out` meaningless) when some value is too large for the shortcut, in which case the
/// caller runs `scaled` itself.
///
/// Why it is exact: such a codec decodes its integer `n` to `v = n / 10^dc` (one correctly
/// rounded division of exact operands while `|n| < 2^53`). When `|v × 10^dc| < 2^49` (the
/// check here, made on the computed product), `|n| < 2^49 + 1` and the computed product
/// lies within `|n| × 2^-52 × (1 + 2^-54) < 1/4` of `n` (two roundings), so rounding it gives
/// `n` itself. With `N = n × 10^(d − dc)` and `|N| < 2^50` (the bound divided by `10^(d −
/// dc)` ensures it), the same
/// argument gives `round(v × 10^d) = N` in `scaled`, and `scaled`'s comparison holds: `N /
/// 10^d` and `n / 10^dc` are one rational number, correctly rounded from exact operands both
/// times, so the bits are equal. Hence `scaled(v, d) = Some(N)` for every value this takes.
/// (A value the codec did not make, or a `dc` that is not its exponent, breaks the premise:
/// the caller must know the column's codec.)
pub(crate) fn decimal_ints_of_codec(vals: &[f64], dc: usize, d: usize, out: &mut Vec<i64>) -> bool {
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 × 2^52
    const BOUND: f64 = 562_949_953_421_312.0; // 2^49
    if dc > d || d >= POW10.len() {
        return false;
    }
    let scale = POW10[dc];
    let up = 10_i64.pow((d - dc) as u32);
    let bound = BOUND / POW10[d - dc];
    let magic_bits = MAGIC.to_bits() as i64;
    out.clear();
    let mut ok = true;
    // Branch-free so that it vectorises: for `|x| < 2^51`, `x + 1.5 × 2^52` lies in
    // `[2^52, 2^53)`, where the spacing is 1, so it is rounded to `MAGIC + round(x)` and its
    // bits are `MAGIC`'s plus `round(x)`. Values failing the bound yield garbage, discarded.
    out.extend(vals.iter().map(|&v| {
        let x = v * scale;
        ok &= x.abs() < bound;
        ((x + MAGIC).to_bits() as i64).wrapping_sub(magic_bits).wrapping_mul(up)
    }));
    ok
}

/// A lower bound of [`decimal_ints`]'s exponent, from one pass (`None` when some value is
/// not a decimal of at most `MAX_DECIMALS` places): usually the exponent itself.
pub fn decimal_exponent_hint(values: &[f64]) -> Option<usize> {
    let mut d = 0;
    for &v in values {
        if scaled(v, d).is_none() {
            d = (d + 1..=MAX_DECIMALS).find(|&e| scaled(v, e).is_some())?;
        }
    }
    Some(d)
}

/// The smallest `d` for which every value passes `scaled`, with the integers.
pub fn decimal_ints(values: &[f64]) -> Option<(usize, Vec<i64>)> {
    // Pass 1 raises a lower bound that never exceeds the answer: whenever a
    // value fails at `d`, the answer is above `d`, and it is at least the
    // next exponent at which that value passes. The values from the last
    // raise on (`from`) have passed at the final `d`: their integers are kept.
    let mut d = 0;
    let mut from = 0;
    let mut tail = Vec::with_capacity(values.len());
    for (i, &v) in values.iter().enumerate() {
        if let Some(n) = scaled(v, d) {
            tail.push(n);
            continue;
        }
        let (e, n) = (d + 1..=MAX_DECIMALS).find_map(|e| scaled(v, e).map(|n| (e, n)))?;
        d = e;
        from = i;
        tail.clear();
        tail.push(n);
    }
    // Pass 2: pass/fail need not be monotone in `d`, so verify upward; at `d`
    // itself only the values before `from` are still unchecked.
    let mut ints = Vec::with_capacity(values.len());
    'exp: for e in d..=MAX_DECIMALS {
        ints.clear();
        let unchecked = if e == d { &values[..from] } else { values };
        for &v in unchecked {
            match scaled(v, e) {
                Some(n) => ints.push(n),
                None => continue 'exp,
            }
        }
        if e == d {
            ints.extend_from_slice(&tail);
        }
        return Some((e, ints));
    }
    None
}

/// Encodes the decimal-delta (`delta2` false) or decimal-delta2 column of `ints` when it
/// takes fewer than `limit` bytes; otherwise writes nothing and returns false (the size is
/// computed before anything is packed).
pub(super) fn encode_decimal(
    delta2: bool,
    d: usize,
    ints: &[i64],
    out: &mut Vec<u8>,
    limit: usize,
) -> bool {
    let at = out.len();
    out.push(if delta2 {
        ID_DECIMAL_DELTA2
    } else {
        ID_DECIMAL_DELTA
    });
    put_uvarint(out, ints.len() as u64);
    let mut residuals: Vec<i64> = Vec::new();
    if let Some(&first) = ints.first() {
        out.push(d as u8);
        put_ivarint(out, first);
        let deltas = ints.windows(2).map(|w| w[1].wrapping_sub(w[0]));
        if delta2 {
            if let Some(d1) = deltas.clone().next() {
                put_ivarint(out, d1);
                residuals.extend(
                    deltas
                        .clone()
                        .zip(deltas.skip(1))
                        .map(|(a, b)| b.wrapping_sub(a)),
                );
            }
        } else {
            residuals.extend(deltas);
        }
    }
    let mut plans = Vec::with_capacity(residuals.len().div_ceil(BLOCK));
    let size = out.len() - at + plan_blocks(&residuals, &mut plans);
    if size >= limit {
        out.truncate(at);
        return false;
    }
    put_blocks(&residuals, &plans, out);
    true
}

/// Byte sizes of the decimal-delta, decimal-delta2, varbits order 1 and varbits order 2
/// columns of `ints`, from one pass over their residuals (what the encoders would write).
fn decimal_family_sizes(ints: &[i64]) -> [usize; 4] {
    /// Block statistics of one residual stream of the block codecs.
    #[derive(Default)]
    struct Blocks {
        bytes: usize,
        len: usize,
        first: i64,
        min: i64,
        max: i64,
        g: u64,
    }
    impl Blocks {
        #[inline]
        fn push(&mut self, x: i64) {
            if self.len == 0 {
                (self.first, self.min, self.max, self.g) = (x, x, x, 0);
            } else {
                self.min = self.min.min(x);
                self.max = self.max.max(x);
                // gcd(x - first) over a block equals gcd(x - min): the differences span the
                // same multiples.
                if self.g != 1 {
                    self.g = gcd(self.g, x.wrapping_sub(self.first).unsigned_abs());
                }
            }
            self.len += 1;
            if self.len == BLOCK {
                self.close();
            }
        }
        #[inline]
        fn close(&mut self) {
            if self.len == 0 {
                return;
            }
            let mult = self.g.max(1);
            let width = bitpack::width_of(self.max.wrapping_sub(self.min) as u64 / mult);
            self.bytes += 1
                + uvarint_len(zigzag(self.min))
                + uvarint_len(mult)
                + bitpack::packed_len(self.len, width);
            self.len = 0;
        }
    }
    let n = ints.len();
    let (mut b1, mut b2) = (Blocks::default(), Blocks::default());
    // Varbits: gcd of the residuals, and code bits assuming a common factor of 1.
    let (mut g1, mut g2, mut bits1, mut bits2) = (0u64, 0u64, 0u64, 0u64);
    let mut prev_r1 = 0i64;
    for i in 1..n {
        let r1 = ints[i].wrapping_sub(ints[i - 1]);
        b1.push(r1);
        if g1 != 1 {
            g1 = gcd(g1, r1.unsigned_abs());
        }
        bits1 += super::varbits::code_bits(zigzag(r1));
        if i >= 2 {
            let r2 = r1.wrapping_sub(prev_r1);
            b2.push(r2);
            if g2 != 1 {
                g2 = gcd(g2, r2.unsigned_abs());
            }
            bits2 += super::varbits::code_bits(zigzag(r2));
        }
        prev_r1 = r1;
    }
    b1.close();
    b2.close();
    let header = |delta2: bool| {
        let mut len = 1 + uvarint_len(n as u64);
        if let Some(&first) = ints.first() {
            len += 1 + uvarint_len(zigzag(first));
            if delta2 && n >= 2 {
                len += uvarint_len(zigzag(ints[1].wrapping_sub(ints[0])));
            }
        }
        len
    };
    // Codes under a common factor other than 1 are counted again with it.
    let varbits = |order: u8, g: u64, bits: u64| {
        let mult = super::varbits::settle_mult(g);
        let bits = if mult == 1 {
            bits
        } else {
            let shift = mult.is_power_of_two().then(|| mult.trailing_zeros());
            super::varbits::residuals(ints, order)
                .map(|r| {
                    let q = match shift {
                        Some(s) => r >> s,
                        None => r / mult as i64,
                    };
                    super::varbits::code_bits(zigzag(q))
                })
                .sum()
        };
        super::varbits::column_len(order, ints, mult, bits)
    };
    [
        header(false) + b1.bytes,
        header(true) + b2.bytes,
        varbits(1, g1, bits1),
        varbits(2, g2, bits2),
    ]
}

/// How one block of residuals is packed.
struct BlockPlan {
    min: i64,
    mult: u64,
    width: u32,
}

/// Plans every block of `residuals`; returns the bytes they take.
fn plan_blocks(residuals: &[i64], plans: &mut Vec<BlockPlan>) -> usize {
    let mut bytes = 0;
    for block in residuals.chunks(BLOCK) {
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        for &x in block {
            min = min.min(x);
            max = max.max(x);
        }
        let mut mult = 0u64;
        for &x in block {
            mult = gcd(mult, x.wrapping_sub(min) as u64);
            if mult == 1 {
                break; // It stays 1.
            }
        }
        let mult = mult.max(1);
        let width = bitpack::width_of(max.wrapping_sub(min) as u64 / mult);
        bytes += 1
            + uvarint_len(zigzag(min))
            + uvarint_len(mult)
            + bitpack::packed_len(block.len(), width);
        plans.push(BlockPlan { min, mult, width });
    }
    bytes
}

/// Residual blocks: `u8 width, ivarint min, uvarint mult, packed (x-min)/mult`.
fn put_blocks(residuals: &[i64], plans: &[BlockPlan], out: &mut Vec<u8>) {
    let mut q = [0u64; BLOCK];
    for (block, p) in residuals.chunks(BLOCK).zip(plans) {
        // Offsets are multiples of `mult`: a power of two divides as a shift.
        let shift = p.mult.is_power_of_two().then(|| p.mult.trailing_zeros());
        for (slot, &x) in q.iter_mut().zip(block) {
            let off = x.wrapping_sub(p.min) as u64;
            *slot = match shift {
                Some(s) => off >> s,
                None => off / p.mult,
            };
        }
        out.push(p.width as u8);
        put_ivarint(out, p.min);
        put_uvarint(out, p.mult);
        bitpack::pack(&q[..block.len()], p.width, out);
    }
}

/// XOR stream record per value after the first (LSB-first bits, codec.md):
/// `0` same value; `1,0` + `len` bits: reuse window; `1,1` + 5 bits lead +
/// 6 bits (len-1) + `len` bits: new window. Initial window: lead 0, len 64.
#[cfg(test)]
pub fn encode_xor(values: &[f64], out: &mut Vec<u8>) {
    encode_xor_within(values, out, usize::MAX);
}

/// [`encode_xor`] when the column takes fewer than `limit` bytes; otherwise writes nothing
/// and returns false (the size is counted before any bit is written).
fn encode_xor_within(values: &[f64], out: &mut Vec<u8>, limit: usize) -> bool {
    let at = out.len();
    out.push(ID_XOR);
    put_uvarint(out, values.len() as u64);
    let mut count = BitCount::default();
    if let Some((first, rest)) = values.split_first() {
        out.extend_from_slice(&first.to_bits().to_le_bytes());
        put_xor(first.to_bits(), rest, &mut count);
    }
    if out.len() - at + count.bytes() >= limit {
        out.truncate(at);
        return false;
    }
    if let Some((first, rest)) = values.split_first() {
        let mut w = BitWriter::new(out);
        put_xor(first.to_bits(), rest, &mut w);
        w.finish();
    }
    true
}

#[inline]
fn put_xor(mut prev: u64, rest: &[f64], w: &mut impl BitSink) {
    let (mut wlead, mut wlen) = (0u32, 64u32);
    for v in rest {
        let bits = v.to_bits();
        put_xor_step(bits ^ prev, &mut wlead, &mut wlen, w);
        prev = bits;
    }
}

/// Writes the code of one value whose bits XOR the previous value's to `x`, given the XOR
/// window (leading zeros `wlead`, length `wlen`) the previous code left (0 and 64 before the
/// second value); updates the window when the code opens a new one.
#[inline]
pub(crate) fn put_xor_step(x: u64, wlead: &mut u32, wlen: &mut u32, w: &mut impl BitSink) {
    if x == 0 {
        w.put(0, 1);
        return;
    }
    let lead = x.leading_zeros().min(31);
    let trail = x.trailing_zeros();
    let len = 64 - lead - trail;
    let wtrail = 64 - *wlead - *wlen;
    // Reuse costs 2 + wlen bits, a new window 13 + len.
    if lead >= *wlead && trail >= wtrail && *wlen <= len + 11 {
        w.put(0b01, 2);
        w.put(x >> wtrail, *wlen);
    } else {
        w.put(0b11, 2);
        w.put(u64::from(lead), 5);
        w.put(u64::from(len - 1), 6);
        w.put(x >> trail, len);
        (*wlead, *wlen) = (lead, len);
    }
}

// ---------------------------------------------------------------- decoding

/// Decodes one column from the start of `input`, appending to `out`.
/// On error `out` may hold a partial column; the public wrapper truncates it.
pub fn decode(input: &[u8], out: &mut Vec<f64>) -> Result<usize, CodecError> {
    let (id, n, mut r) = header(input)?;
    let at = out.len();
    out.resize(at + n, 0.0);
    decode_body(id, input, &mut r, &mut out[at..])
}

/// Reads a column's codec id and point count; the reader stands after the count.
#[inline]
pub fn header(input: &[u8]) -> Result<(u8, usize, Reader<'_>), CodecError> {
    let mut r = Reader::new(input);
    let id = r.u8()?;
    if name(id).is_none() {
        return Err(CodecError::UnknownCodec {
            column: "values",
            id,
        });
    }
    let n = r.count()?;
    Ok((id, n, r))
}

/// Decodes the rest of column `input` of codec `id` and `dst.len()` points (what [`header`]
/// read) into `dst`. Returns the bytes the whole column took. On error the slots hold
/// garbage.
#[inline]
pub fn decode_body<S: ValueSlot>(
    id: u8,
    input: &[u8],
    r: &mut Reader<'_>,
    dst: &mut [S],
) -> Result<usize, CodecError> {
    if dst.is_empty() {
        return Ok(r.pos());
    }
    match id {
        ID_RAW => {
            let bytes = r.bytes(dst.len() * 8)?;
            for (s, c) in dst.iter_mut().zip(bytes.chunks_exact(8)) {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                s.set_value(f64::from_bits(u64::from_le_bytes(b)));
            }
            Ok(r.pos())
        }
        ID_XOR => {
            let first = r.bytes(8)?;
            let pos = r.pos();
            let used = decode_xor(first, &input[pos..], dst)?;
            Ok(pos + used)
        }
        super::varbits::ID => super::varbits::decode(input, r, dst),
        _ => {
            decode_decimal(r, id == ID_DECIMAL_DELTA2, dst)?;
            Ok(r.pos())
        }
    }
}

/// Not inlined into [`decode`], so that its loop state stays in registers.
#[inline(never)]
fn decode_xor<S: ValueSlot>(
    first: &[u8],
    stream: &[u8],
    dst: &mut [S],
) -> Result<usize, CodecError> {
    let n = dst.len();
    let mut b = [0u8; 8];
    b.copy_from_slice(first);
    let mut prev = u64::from_le_bytes(b);
    dst[0].set_value(f64::from_bits(prev));
    let mut bits = BitCursor::new(stream);
    let (mut lead, mut len) = (0u32, 64u32);
    let mut i = 1;
    while i < n {
        // One peek covers the control bits and a new window's lead and length.
        let p = bits.peek();
        if p & 1 == 0 {
            // A run of repeated values, all at once.
            let run = (p.trailing_zeros().min(56) as usize).min(n - i);
            bits.skip(run as u32);
            for s in &mut dst[i..i + run] {
                s.set_value(f64::from_bits(prev));
            }
            i += run;
            continue;
        }
        let head = if p & 2 != 0 {
            lead = ((p >> 2) & 0x1F) as u32;
            len = ((p >> 7) & 0x3F) as u32 + 1;
            if lead + len > 64 {
                return Err(CodecError::BadValue {
                    what: "xor window exceeds 64 bits",
                });
            }
            13
        } else {
            2
        };
        // The peek holds 57 bits: a field that fits after the head needs no second load.
        let x = if head + len <= 57 {
            bits.skip(head + len);
            (p >> head) & (u64::MAX >> (64 - len))
        } else {
            bits.skip(head);
            bits.read(len)
        };
        prev ^= x << (64 - lead - len);
        dst[i].set_value(f64::from_bits(prev));
        i += 1;
    }
    // Past the end the cursor reads zero bits; a stream cut short shows here.
    bits.check()?;
    Ok(bits.bytes_consumed())
}

/// Decimal-delta and decimal-delta2 bodies: the reader stands after the count.
fn decode_decimal<S: ValueSlot>(
    r: &mut Reader<'_>,
    delta2: bool,
    dst: &mut [S],
) -> Result<(), CodecError> {
    let d = usize::from(r.u8()?);
    if d > MAX_DECIMALS {
        return Err(CodecError::BadValue {
            what: "decimal exponent above 9",
        });
    }
    let mut cur = r.ivarint()?;
    dst[0].set_int(cur);
    let mut delta = 0i64;
    let mut at = 1;
    if delta2 && dst.len() > 1 {
        delta = r.ivarint()?;
        cur = cur.wrapping_add(delta);
        dst[1].set_int(cur);
        at = 2;
    }
    let mut words: Words = [0; BLOCK + 1];
    let mut q = [0u64; BLOCK];
    // Blocks are integrated straight into the slots.
    while at < dst.len() {
        let len = (dst.len() - at).min(BLOCK);
        let (min, mult) = read_block(r, len, &mut words, &mut q)?;
        let blk = Block {
            q: &q[..len],
            min,
            mult,
        };
        let vals = &mut dst[at..at + len];
        // Monomorphic loops keep the hot path free of per-point branches.
        if delta2 {
            blk.emit::<S, true>(&mut cur, &mut delta, vals);
        } else {
            blk.emit::<S, false>(&mut cur, &mut delta, vals);
        }
        at += len;
    }
    // For d == 0 the division by 1.0 is exact, so skipping it is bit-identical.
    if d != 0 {
        divide_all(dst, POW10[d]);
    }
    Ok(())
}

/// One unpacked residual block: residual `i` is `min + q[i] * mult` (wrapping).
struct Block<'a> {
    q: &'a [u64],
    min: i64,
    mult: u64,
}

impl Block<'_> {
    /// Integrates the residuals once (`DELTA2 = false`: they are deltas) or twice
    /// (delta-of-deltas) and stores `n as f64` (the caller divides by the scale afterwards).
    /// State lives in locals so it stays in registers.
    #[inline(always)]
    fn emit<S: ValueSlot, const DELTA2: bool>(
        &self,
        cur: &mut i64,
        delta: &mut i64,
        vals: &mut [S],
    ) {
        let (min, mult) = (self.min, self.mult);
        let (mut c, mut dl) = (*cur, *delta);
        for (o, &v) in vals.iter_mut().zip(self.q) {
            let x = min.wrapping_add(v.wrapping_mul(mult) as i64);
            if DELTA2 {
                dl = dl.wrapping_add(x);
                c = c.wrapping_add(dl);
            } else {
                c = c.wrapping_add(x);
            }
            o.set_int(c);
        }
        (*cur, *delta) = (c, dl);
    }
}

/// Reads one residual block header and its packed values into `q`.
/// Returns `(min, mult)`.
#[inline]
fn read_block(
    r: &mut Reader<'_>,
    len: usize,
    words: &mut Words,
    q: &mut [u64; BLOCK],
) -> Result<(i64, u64), CodecError> {
    let width = u32::from(r.u8()?);
    if width > 64 {
        return Err(CodecError::BadValue {
            what: "bit width above 64",
        });
    }
    let min = r.ivarint()?;
    let mult = r.uvarint()?;
    if mult == 0 {
        return Err(CodecError::BadValue {
            what: "block multiplier is zero",
        });
    }
    let packed = r.bytes(bitpack::packed_len(len, width))?;
    bitpack::unpack(packed, width, words, q);
    Ok((min, mult))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`decimal_ints_of_codec`] gives `scaled`'s integers for every column a decimal codec
    /// decoded, wherever it takes the column: integers of every magnitude up to the 2^53 limit
    /// (most near its bound, where a looser bound gives wrong integers), every exponent pair,
    /// written by each decimal codec and decoded back. And it takes every column whose scaled
    /// integers are below 2^48, so the shortcut is used where it is meant to be.
    #[test]
    fn decimal_ints_of_codec_are_scaled_ints() {
        let mut rng = crate::rng::SplitMix64::new(0x5ca1ed);
        let mut buf = Vec::new();
        let (mut vals, mut fast) = (Vec::new(), Vec::new());
        let (mut taken, mut refused) = (0u32, 0u32);
        for case in 0..6000u64 {
            let dc = (case % 10) as usize;
            let d = dc + (rng.next_u64() % (10 - dc as u64)) as usize;
            let up = 10_i64.pow((d - dc) as u32);
            // Magnitudes around the bound on the scaled integer (2^49), or anywhere below the
            // codec's limit; 16 integers of one magnitude per column.
            let bits = match case % 3 {
                0 => 46 + rng.next_u64() % 5,
                1 => 1 + rng.next_u64() % 53,
                _ => 49,
            };
            let ints: Vec<i64> = (0..16)
                .map(|_| {
                    let m = (rng.next_u64() >> (64 - bits)) as i64 / up.min(1 << 40);
                    if rng.next_u64() & 1 == 0 { -m } else { m }
                })
                .collect();
            buf.clear();
            match case % 4 {
                0 | 1 => assert!(encode_decimal(case % 4 == 1, dc, &ints, &mut buf, usize::MAX)),
                k => assert!(super::super::varbits::encode(
                    dc,
                    (k - 1) as u8,
                    &ints,
                    &mut buf,
                    usize::MAX
                )),
            }
            vals.clear();
            decode(&buf, &mut vals).expect("decodes");
            let (id, _, _) = header(&buf).expect("head");
            assert!(is_decimal(id));
            let small = ints.iter().all(|&n| (n * up).unsigned_abs() < 1 << 48);
            if decimal_ints_of_codec(&vals, dc, d, &mut fast) {
                taken += 1;
                for (&v, &f) in vals.iter().zip(&fast) {
                    assert_eq!(scaled(v, d), Some(f), "value {v:e} at d {d} (codec exponent {dc})");
                }
            } else {
                refused += 1;
                assert!(!small, "a column of small integers refused: {ints:?} at {dc}/{d}");
            }
        }
        assert!(taken > 1000 && refused > 300, "taken {taken}, refused {refused}");
        // An exponent above the column's own is never claimed.
        assert!(!decimal_ints_of_codec(&[0.5], 2, 1, &mut fast));
    }

    /// The encoder writes the shortest candidate: sizes counted before writing agree with
    /// the bytes each candidate writes when given no limit.
    #[test]
    fn the_shortest_candidate_is_chosen() {
        let mut rng = crate::rng::SplitMix64::new(9);
        for case in 0..400 {
            let n = (rng.next_u64() % 300) as usize;
            let scale = [1.0, 10.0, 100.0, 4096.0][case % 4];
            let mut v = 0.0f64;
            let col: Vec<f64> = (0..n)
                .map(|_| {
                    match rng.next_u64() % 6 {
                        0 => {}
                        1 => v += (rng.next_u64() % 7) as f64,
                        2 => v -= (rng.next_u64() % 3) as f64,
                        3 => v = (rng.next_u64() % 1_000_000) as f64,
                        _ => v += 1.0,
                    }
                    if case % 7 == 6 {
                        f64::from_bits(rng.next_u64())
                    } else {
                        v / scale
                    }
                })
                .collect();
            let mut sizes = vec![1 + uvarint_len(n as u64) + 8 * n];
            let mut buf = Vec::new();
            if let Some((d, ints)) = decimal_ints(&col) {
                for delta2 in [false, true] {
                    buf.clear();
                    assert!(encode_decimal(delta2, d, &ints, &mut buf, usize::MAX));
                    let len = buf.len();
                    sizes.push(len);
                    buf.clear();
                    assert!(!encode_decimal(delta2, d, &ints, &mut buf, len));
                    assert!(buf.is_empty());
                    assert!(encode_decimal(delta2, d, &ints, &mut buf, len + 1));
                }
                for order in [1, 2] {
                    buf.clear();
                    assert!(super::super::varbits::encode(
                        d,
                        order,
                        &ints,
                        &mut buf,
                        usize::MAX
                    ));
                    let len = buf.len();
                    sizes.push(len);
                    buf.clear();
                    assert!(!super::super::varbits::encode(
                        d, order, &ints, &mut buf, len
                    ));
                    assert!(super::super::varbits::encode(
                        d,
                        order,
                        &ints,
                        &mut buf,
                        len + 1
                    ));
                }
            }
            buf.clear();
            assert!(encode_xor_within(&col, &mut buf, usize::MAX));
            let len = buf.len();
            sizes.push(len);
            buf.clear();
            assert!(!encode_xor_within(&col, &mut buf, len));
            let mut out = Vec::new();
            encode(&col, &mut out);
            assert_eq!(out.len(), *sizes.iter().min().unwrap(), "case {case}");
            let mut back = Vec::new();
            decode(&out, &mut back).unwrap();
            assert!(
                back.iter()
                    .zip(&col)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
            );
        }
    }

    #[test]
    fn decimal_check_is_exact() {
        let not_decimal = [
            0.1 + 0.2,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1e300,
            2f64.powi(53),
            0.0123456789, // needs 10 decimals
        ];
        for v in not_decimal {
            let col = [1.0, v, 2.0];
            assert_eq!(decimal_ints(&col), None, "{v} judged decimal");
            let mut enc = Vec::new();
            encode(&col, &mut enc);
            assert!(enc[0] < ID_DECIMAL_DELTA, "{v} encoded as decimal");
            let mut out = Vec::new();
            assert_eq!(decode(&enc, &mut out), Ok(enc.len()));
            assert_eq!(out[1].to_bits(), v.to_bits());
        }
        assert_eq!(decimal_ints(&[]), Some((0, vec![])));
        let expect = Some((1, vec![10, 25, 25, 40]));
        assert_eq!(decimal_ints(&[1.0, 2.5, 2.5, 4.0]), expect);
        assert_eq!(decimal_ints(&[0.07, -3.0]), Some((2, vec![7, -300])));
        // 9 decimals is the maximum.
        let expect = Some((9, vec![123456789, 500000000]));
        assert_eq!(decimal_ints(&[0.123456789, 0.5]), expect);
        // 2^53 - 1 is the largest integer magnitude.
        let big = 2f64.powi(53) - 1.0;
        let expect = Some((0, vec![(1 << 53) - 1, 1 - (1 << 53)]));
        assert_eq!(decimal_ints(&[big, -big]), expect);
    }
}
