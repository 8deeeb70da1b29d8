//! Bit-level helpers. Every bit stream in the codec is LSB-first: stream bit
//! `k` is bit `k % 8` (value `1 << (k % 8)`) of byte `k / 8`, and a multi-bit
//! field of width `w` written at stream position `p` puts its bit `j` at
//! stream bit `p + j`. A stream ends with zero padding up to a byte boundary.
//!
//! * `pack` / `unpack`: blocks of up to `BLOCK` unsigned values of one fixed
//!   width (0..=64), value `i` at stream bits `[i*w, (i+1)*w)`.
//! * `BitWriter` / `BitCursor`: variable-width fields for the XOR and varbits codecs.

use super::CodecError;

/// Values per packed block.
pub const BLOCK: usize = 128;

/// Scratch space for `unpack`: a full block at width 64 is 128 words, plus
/// one pad word so the branch-free extractor may always read `word + 1`.
pub type Words = [u64; BLOCK + 1];

/// Bytes taken by `len` values packed at `width` bits.
#[inline]
pub fn packed_len(len: usize, width: u32) -> usize {
    (len * width as usize).div_ceil(8)
}

/// Bits needed to represent `max` (0 for 0).
#[inline]
pub fn width_of(max: u64) -> u32 {
    64 - max.leading_zeros()
}

/// Appends `vals` packed at `width` bits each (every value must fit).
pub fn pack(vals: &[u64], width: u32, out: &mut Vec<u8>) {
    debug_assert!(width <= 64);
    if width == 0 {
        return;
    }
    out.reserve(packed_len(vals.len(), width));
    let mut acc: u128 = 0;
    let mut nbits: u32 = 0;
    for &v in vals {
        debug_assert!(width == 64 || v >> width == 0);
        acc |= u128::from(v) << nbits;
        nbits += width;
        if nbits >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            nbits -= 64;
        }
    }
    let tail = nbits.div_ceil(8) as usize;
    out.extend_from_slice(&(acc as u64).to_le_bytes()[..tail]);
}

/// Unpacks `len <= BLOCK` values of `width <= 64` bits from `src`, which must
/// be exactly `packed_len(len, width)` bytes (the caller has checked this).
/// Always writes all `BLOCK` slots of `out`; slots at `len..` hold garbage.
/// `words` is caller-owned scratch and must have been initialised once.
#[inline]
pub fn unpack(src: &[u8], width: u32, words: &mut Words, out: &mut [u64; BLOCK]) {
    debug_assert!(src.len() <= BLOCK * 8);
    let mut chunks = src.chunks_exact(8);
    let mut n = 0;
    for (w, c) in words.iter_mut().zip(&mut chunks) {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        *w = u64::from_le_bytes(b);
        n += 1;
    }
    let rem = chunks.remainder();
    if !rem.is_empty()
        && let Some(w) = words.get_mut(n)
    {
        let mut b = [0u8; 8];
        b[..rem.len()].copy_from_slice(rem);
        *w = u64::from_le_bytes(b);
    }
    macro_rules! dispatch {
        ($($w:literal)*) => {
            match width {
                $($w => unpack_w::<$w>(words, out),)*
                _ => out.fill(0),
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28
        29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55
        56 57 58 59 60 61 62 63 64);
}

/// Branch-free extraction of 128 values of `W` bits (1..=64). Value `i`
/// starts at bit `s = (i*W) % 64` of word `(i*W) / 64`; the high part comes
/// from the next word shifted left by `64 - s`, written as `(x << 1) << (63 - s)`
/// so that `s == 0` yields 0 instead of an out-of-range shift.
#[inline(always)]
fn unpack_w<const W: usize>(words: &Words, out: &mut [u64; BLOCK]) {
    let mask = u64::MAX >> (64 - W);
    for (i, o) in out.iter_mut().enumerate() {
        let bit = i * W;
        let wi = bit >> 6;
        let s = (bit & 63) as u32;
        let lo = words[wi] >> s;
        let hi = (words[wi + 1] << 1) << (63 - s);
        *o = (lo | hi) & mask;
    }
}

/// Writes variable-width fields into an LSB-first bit stream.
pub struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u128,
    nbits: u32,
}

/// Where bit fields go: a [`BitWriter`], or a [`BitCount`] that only adds up their widths
/// (so an encoder can learn its size without writing, from the same code).
pub trait BitSink {
    /// Takes the low `bits` (0..=64) bits of `v`.
    fn put(&mut self, v: u64, bits: u32);
}

impl BitSink for BitWriter<'_> {
    #[inline]
    fn put(&mut self, v: u64, bits: u32) {
        self.write(v, bits);
    }
}

/// Counts bits.
#[derive(Debug, Default)]
pub struct BitCount(pub u64);

impl BitSink for BitCount {
    #[inline]
    fn put(&mut self, _v: u64, bits: u32) {
        self.0 += u64::from(bits);
    }
}

impl BitCount {
    /// Bytes a [`BitWriter`] writes for these bits.
    pub fn bytes(&self) -> usize {
        self.0.div_ceil(8) as usize
    }
}

impl<'a> BitWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter {
            out,
            acc: 0,
            nbits: 0,
        }
    }

    /// Writes the low `bits` (0..=64) bits of `v`.
    #[inline]
    pub fn write(&mut self, v: u64, bits: u32) {
        debug_assert!(bits <= 64);
        let v = if bits == 0 {
            0
        } else {
            v & (u64::MAX >> (64 - bits))
        };
        self.acc |= u128::from(v) << self.nbits;
        self.nbits += bits;
        if self.nbits >= 64 {
            self.out.extend_from_slice(&(self.acc as u64).to_le_bytes());
            self.acc >>= 64;
            self.nbits -= 64;
        }
    }

    /// Flushes the partial last byte (zero padded).
    pub fn finish(self) {
        let tail = self.nbits.div_ceil(8) as usize;
        self.out
            .extend_from_slice(&(self.acc as u64).to_le_bytes()[..tail]);
    }
}

/// Reads an LSB-first bit stream by absolute bit position, for decoders whose codes fit
/// one 57-bit window: [`BitCursor::peek`] is one unaligned 8-byte load (a zero-padded copy
/// for the stream's last 7 bytes), with no per-field refill bookkeeping.
///
/// Bits past the end of the stream read as zero and are still counted, so a caller decodes
/// a whole column and then calls [`BitCursor::check`] once: a stream cut short has made the
/// position run past its end, whatever the missing bits would have held.
pub struct BitCursor<'a> {
    data: &'a [u8],
    bit: usize,
}

impl<'a> BitCursor<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        BitCursor { data, bit: 0 }
    }

    /// The next 57 (at least) stream bits in the low bits of the result; bits past the end
    /// of the stream are zero.
    #[inline(always)]
    pub fn peek(&self) -> u64 {
        let byte = self.bit >> 3;
        let word = match self.data.get(byte..byte + 8) {
            Some(c) => {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                u64::from_le_bytes(b)
            }
            None => self.tail_word(byte),
        };
        word >> (self.bit & 7)
    }

    #[cold]
    #[inline(never)]
    fn tail_word(&self, byte: usize) -> u64 {
        let mut b = [0u8; 8];
        let rest = self.data.get(byte..).unwrap_or(&[]);
        let n = rest.len().min(8);
        b[..n].copy_from_slice(&rest[..n]);
        u64::from_le_bytes(b)
    }

    /// Moves past `bits` bits.
    #[inline(always)]
    pub fn skip(&mut self, bits: u32) {
        self.bit += bits as usize;
    }

    /// Reads a field of `bits` (0..=64) bits.
    #[inline(always)]
    pub fn read(&mut self, bits: u32) -> u64 {
        if bits <= 56 {
            let v = self.peek() & ((1u64 << bits) - 1);
            self.skip(bits);
            v
        } else {
            let lo = self.peek() & 0xFFFF_FFFF;
            self.skip(32);
            let hi = self.peek() & ((1u64 << (bits - 32)) - 1);
            self.skip(bits - 32);
            lo | (hi << 32)
        }
    }

    /// `Truncated` if the fields read so far run past the end of the stream.
    pub fn check(&self) -> Result<(), CodecError> {
        let have = self.data.len() * 8;
        if self.bit > have {
            return Err(CodecError::Truncated {
                needed: (self.bit - have).div_ceil(8),
                available: 0,
            });
        }
        Ok(())
    }

    /// Bits read or skipped so far.
    pub fn position(&self) -> usize {
        self.bit
    }

    /// Bytes of the stream touched so far (rounding a partly read last byte up).
    pub fn bytes_consumed(&self) -> usize {
        self.bit.div_ceil(8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed ^ (*seed >> 29)
    }

    #[test]
    fn pack_golden_lsb_first() {
        let mut out = Vec::new();
        pack(&[1, 0, 1], 1, &mut out);
        assert_eq!(out, [0b101]);
        out.clear();
        // 3-bit values 5, 2, 7: bits 101 | 010<<3 | 111<<6 = 0b1_1101_0101, 0b1
        pack(&[5, 2, 7], 3, &mut out);
        assert_eq!(out, [0b1101_0101, 0b1]);
        out.clear();
        pack(&[u64::MAX, 1], 64, &mut out);
        assert_eq!(
            out,
            [
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 0, 0, 0
            ]
        );
    }

    #[test]
    fn pack_unpack_every_width_and_length() {
        let mut seed = 7;
        let mut words = [0u64; BLOCK + 1];
        for width in 0..=64u32 {
            for len in [0usize, 1, 2, 7, 8, 9, 63, 64, 65, 127, 128] {
                let mask = if width == 0 {
                    0
                } else {
                    u64::MAX >> (64 - width)
                };
                let vals: Vec<u64> = (0..len).map(|_| lcg(&mut seed) & mask).collect();
                let mut bytes = Vec::new();
                pack(&vals, width, &mut bytes);
                assert_eq!(bytes.len(), packed_len(len, width));
                // Garbage scratch from an earlier block must not leak in.
                words.iter_mut().for_each(|w| *w = lcg(&mut seed));
                let mut out = [0u64; BLOCK];
                unpack(&bytes, width, &mut words, &mut out);
                assert_eq!(&out[..len], &vals[..], "width {width} len {len}");
            }
        }
    }

    #[test]
    fn bit_cursor_matches_writer() {
        let mut seed = 99;
        let fields: Vec<(u64, u32)> = (0..2000)
            .map(|_| {
                let bits = (lcg(&mut seed) % 65) as u32;
                let v = lcg(&mut seed);
                let v = if bits == 0 {
                    0
                } else {
                    v & (u64::MAX >> (64 - bits))
                };
                (v, bits)
            })
            .collect();
        let mut out = vec![0xAA]; // unrelated prefix
        let mut w = BitWriter::new(&mut out);
        for &(v, b) in &fields {
            w.write(v, b);
        }
        w.finish();
        let total_bits: u32 = fields.iter().map(|f| f.1).sum();
        assert_eq!(out.len(), 1 + total_bits.div_ceil(8) as usize);
        let mut r = BitCursor::new(&out[1..]);
        for &(v, b) in &fields {
            assert_eq!(r.read(b), v);
        }
        assert_eq!(r.bytes_consumed(), out.len() - 1);
        assert_eq!(r.check(), Ok(()));
        r.read(8);
        assert!(r.check().is_err());
    }

    #[test]
    fn bit_cursor_truncation() {
        let mut r = BitCursor::new(&[0xff]);
        assert_eq!(r.read(3), 7);
        assert_eq!(r.check(), Ok(()));
        // Past the end, bits read as zero and the position keeps counting.
        assert_eq!(r.read(6), 0b11111);
        assert_eq!(
            r.check(),
            Err(CodecError::Truncated {
                needed: 1,
                available: 0
            })
        );
        assert_eq!(r.bytes_consumed(), 2);
        // Every peek position in and just past a short stream reads the right bits.
        let data = [0b1010_0110u8, 0x5A, 0xC3];
        for at in 0..30u32 {
            let mut c = BitCursor::new(&data);
            c.skip(at);
            let want = (u32::from_le_bytes([data[0], data[1], data[2], 0]) as u64) >> at.min(31);
            assert_eq!(c.peek(), want, "at {at}");
        }
    }
}
