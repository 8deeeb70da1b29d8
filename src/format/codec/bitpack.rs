//! Bit-level helpers. Every bit stream in the codec is LSB-first: stream bit
//! `k` is bit `k % 8` (value `1 << (k % 8)`) of byte `k / 8`, and a multi-bit
//! field of width `w` written at stream position `p` puts its bit `j` at
//! stream bit `p + j`. A stream ends with zero padding up to a byte boundary.
//!
//! * `pack` / `unpack`: blocks of up to `BLOCK` unsigned values of one fixed
//!   width (0..=64), value `i` at stream bits `[i*w, (i+1)*w)`.
//! * `BitWriter` / `BitReader`: variable-width fields for the XOR codec.

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

/// Reads variable-width fields from an LSB-first bit stream.
///
/// Invariant: bits `[0, nbits)` of `buf` are the next unread stream bits;
/// bits above `nbits` are either zero or equal to the stream bits that
/// follow (left over from an 8-byte over-read), so OR-ing refills is safe.
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    nbits: u32,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            buf: 0,
            nbits: 0,
        }
    }

    /// Bytes of `data` touched so far (whole bytes, rounding the final
    /// partially consumed byte up).
    pub fn bytes_consumed(&self) -> usize {
        (self.pos * 8 - self.nbits as usize).div_ceil(8)
    }

    #[cold]
    fn refill_slow(&mut self) {
        while self.nbits <= 56 {
            let Some(&b) = self.data.get(self.pos) else {
                break;
            };
            self.buf |= u64::from(b) << self.nbits;
            self.pos += 1;
            self.nbits += 8;
        }
    }

    #[inline]
    fn refill(&mut self) {
        if let Some(c) = self.data.get(self.pos..self.pos + 8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.buf |= u64::from_le_bytes(b) << self.nbits;
            let take = (63 - self.nbits) >> 3;
            self.pos += take as usize;
            self.nbits += take * 8;
        } else {
            self.refill_slow();
        }
    }

    /// Reads a field of `bits` (0..=56) bits.
    #[inline]
    pub fn read(&mut self, bits: u32) -> Result<u64, CodecError> {
        debug_assert!(bits <= 56);
        if self.nbits < bits {
            self.refill();
            if self.nbits < bits {
                return Err(CodecError::Truncated {
                    needed: (bits - self.nbits).div_ceil(8) as usize,
                    available: 0,
                });
            }
        }
        let v = self.buf & ((1u64 << bits) - 1);
        self.buf >>= bits;
        self.nbits -= bits;
        Ok(v)
    }

    /// The next `bits` (0..=56) bits without consuming them; past the end of the stream the
    /// missing bits read as zero (a following `consume` then fails).
    #[inline]
    pub fn peek(&mut self, bits: u32) -> u64 {
        debug_assert!(bits <= 56);
        if self.nbits < bits {
            self.refill();
        }
        let valid = self.nbits.min(bits);
        if valid == 0 {
            0
        } else {
            self.buf & (u64::MAX >> (64 - valid))
        }
    }

    /// Consumes `bits` bits that `peek` returned.
    #[inline]
    pub fn consume(&mut self, bits: u32) -> Result<(), CodecError> {
        if self.nbits < bits {
            return Err(CodecError::Truncated {
                needed: (bits - self.nbits).div_ceil(8) as usize,
                available: 0,
            });
        }
        self.buf >>= bits;
        self.nbits -= bits;
        Ok(())
    }

    /// Reads a field of `bits` (0..=64) bits.
    #[inline]
    pub fn read_wide(&mut self, bits: u32) -> Result<u64, CodecError> {
        if bits <= 56 {
            self.read(bits)
        } else {
            let lo = self.read(32)?;
            let hi = self.read(bits - 32)?;
            Ok(lo | (hi << 32))
        }
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
    fn bit_reader_matches_writer() {
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
        let mut r = BitReader::new(&out[1..]);
        for &(v, b) in &fields {
            assert_eq!(r.read_wide(b), Ok(v));
        }
        assert_eq!(r.bytes_consumed(), out.len() - 1);
        assert!(r.read(8).is_err());
    }

    #[test]
    fn bit_reader_truncation() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read(3), Ok(7));
        assert_eq!(
            r.read(6),
            Err(CodecError::Truncated {
                needed: 1,
                available: 0
            })
        );
        assert_eq!(r.read(5), Ok(31));
        assert_eq!(r.bytes_consumed(), 1);
    }
}
