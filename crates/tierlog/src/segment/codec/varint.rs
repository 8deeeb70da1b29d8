//! LEB128 unsigned varints, zigzag mapping of signed integers, and a
//! bounds-checked byte cursor used by every column decoder.
//!
//! Varint: 7 data bits per byte, least significant group first; the high bit
//! (0x80) of a byte is set when another byte follows. A u64 needs at most 10
//! bytes and the 10th byte may only be 0x00 or 0x01.
//!
//! Zigzag: `0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3, ...`, i.e. `(v << 1) ^ (v >> 63)`.

use super::{CodecError, MAX_COLUMN_POINTS};

/// Longest possible encoding of a u64.
pub const MAX_VARINT_LEN: usize = 10;

/// Appends the LEB128 encoding of `v`.
#[inline]
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends the zigzag + LEB128 encoding of `v`.
#[inline]
pub fn put_ivarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

/// Number of bytes `put_uvarint(v)` appends.
#[inline]
pub fn uvarint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub const fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// A read cursor over a byte slice. Every read checks bounds first and
/// reports `Truncated { needed, available }`, where both numbers are counted
/// from the cursor position at the time of the failing read.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    pub fn u8(&mut self) -> Result<u8, CodecError> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(CodecError::Truncated {
                needed: 1,
                available: 0,
            }),
        }
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let available = self.remaining();
        if n > available {
            return Err(CodecError::Truncated {
                needed: n,
                available,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    pub fn uvarint(&mut self) -> Result<u64, CodecError> {
        // Fast path: single-byte varint.
        if let Some(&b) = self.buf.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        let rest = &self.buf[self.pos..];
        let mut v = 0u64;
        for i in 0..MAX_VARINT_LEN {
            let Some(&b) = rest.get(i) else {
                return Err(CodecError::Truncated {
                    needed: i + 1,
                    available: rest.len(),
                });
            };
            if i == MAX_VARINT_LEN - 1 && b > 1 {
                return Err(CodecError::BadValue {
                    what: "varint overflows u64",
                });
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.pos += i + 1;
                return Ok(v);
            }
        }
        Err(CodecError::BadValue {
            what: "varint overflows u64",
        })
    }

    #[inline]
    pub fn ivarint(&mut self) -> Result<i64, CodecError> {
        self.uvarint().map(unzigzag)
    }

    /// Reads a point count and refuses anything above `MAX_COLUMN_POINTS`.
    #[inline]
    pub fn count(&mut self) -> Result<usize, CodecError> {
        let count = self.uvarint()?;
        if count > MAX_COLUMN_POINTS as u64 {
            return Err(CodecError::TooManyPoints { count });
        }
        Ok(count as usize)
    }
}

/// Greatest common divisor (Euclid); `gcd(0, x) == x`.
#[inline]
pub fn gcd(mut a: u64, mut b: u64) -> u64 {
    // Euclid: with the encoders' usual arguments (a small running gcd, a large value) one
    // division does most of the work; a binary gcd measured slower there.
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_known_bytes() {
        let cases: &[(u64, &[u8])] = &[
            (0, &[0x00]),
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ];
        for &(v, bytes) in cases {
            let mut out = Vec::new();
            put_uvarint(&mut out, v);
            assert_eq!(out, bytes, "encoding {v}");
            assert_eq!(uvarint_len(v), bytes.len());
            let mut r = Reader::new(bytes);
            assert_eq!(r.uvarint(), Ok(v));
            assert_eq!(r.pos(), bytes.len());
        }
    }

    #[test]
    fn zigzag_known_values() {
        let cases = [
            (0i64, 0u64),
            (-1, 1),
            (1, 2),
            (-2, 3),
            (i64::MAX, u64::MAX - 1),
            (i64::MIN, u64::MAX),
        ];
        for (s, u) in cases {
            assert_eq!(zigzag(s), u);
            assert_eq!(unzigzag(u), s);
        }
    }

    #[test]
    fn varint_errors() {
        let mut r = Reader::new(&[0x80, 0x80]);
        assert_eq!(
            r.uvarint(),
            Err(CodecError::Truncated {
                needed: 3,
                available: 2
            })
        );
        // 10th byte carrying more than one bit overflows.
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(matches!(
            Reader::new(&over).uvarint(),
            Err(CodecError::BadValue { .. })
        ));
        let long = [0x80u8; 11];
        assert!(matches!(
            Reader::new(&long).uvarint(),
            Err(CodecError::BadValue { .. })
        ));
        let mut big = Vec::new();
        put_uvarint(&mut big, MAX_COLUMN_POINTS as u64 + 1);
        assert_eq!(
            Reader::new(&big).count(),
            Err(CodecError::TooManyPoints {
                count: MAX_COLUMN_POINTS as u64 + 1
            })
        );
    }

    #[test]
    fn gcd_basics() {
        assert_eq!(gcd(0, 0), 0);
        assert_eq!(gcd(0, 12), 12);
        assert_eq!(gcd(1000, 15000), 1000);
        assert_eq!(gcd(1000, 1 << 63), 8);
        assert_eq!(gcd(4096, 12288), 4096);
        assert_eq!(gcd(u64::MAX, u64::MAX), u64::MAX);
        assert_eq!(gcd(u64::MAX, 1 << 63), 1);
        // Against Euclid's algorithm.
        let euclid = |mut a: u64, mut b: u64| {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        };
        let mut rng = crate::rng::SplitMix64::new(5);
        for _ in 0..20_000 {
            let shift = rng.next_u64() % 40;
            let (a, b) = (
                rng.next_u64() >> shift,
                rng.next_u64() >> (rng.next_u64() % 64),
            );
            let k = 1 + rng.next_u64() % 1000;
            for (x, y) in [
                (a, b),
                (a.wrapping_mul(k), b.wrapping_mul(k)),
                (a % 97, b % 97),
            ] {
                assert_eq!(gcd(x, y), euclid(x, y), "{x} {y}");
            }
        }
    }
}
