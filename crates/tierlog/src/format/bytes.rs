//! Little-endian readers over a byte slice with bounds checks; every failure is a
//! [`Corruption`], never a panic.

use crate::error::Corruption;
use crate::segment::codec::varint;

/// A cursor over bytes.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Corruption> {
        if self.remaining() < n {
            return Err(Corruption::Truncated {
                needed: n as u64,
                available: self.remaining() as u64,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Corruption> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Corruption> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Corruption> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Corruption> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, Corruption> {
        Ok(self.u64()? as i64)
    }

    /// An unsigned LEB128 varint (the codec's definition, `format-spec/README.md`).
    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<u64, Corruption> {
        // Values of up to 9 bytes (63 bits) are read inline, which is every footer field in
        // practice (five per footer entry, for every series of every segment at each open);
        // the rest, a 10th byte, a truncated or an overlong encoding, goes to the codec's
        // reader, which gives the exact value or error.
        let rest = &self.buf[self.pos..];
        let mut v = 0u64;
        for (i, &b) in rest.iter().take(9).enumerate() {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.pos += i + 1;
                return Ok(v);
            }
        }
        self.varint_slow()
    }

    #[cold]
    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64, Corruption> {
        let mut r = varint::Reader::new(&self.buf[self.pos..]);
        let v = r.uvarint()?;
        self.pos += r.pos();
        Ok(v)
    }

    /// A zigzag-encoded signed varint.
    #[inline]
    pub(crate) fn svarint(&mut self) -> Result<i64, Corruption> {
        Ok(varint::unzigzag(self.varint()?))
    }

    /// A UTF-8 string with a u16 length prefix.
    pub(crate) fn str16(&mut self, what: &'static str) -> Result<&'a str, Corruption> {
        let n = self.u16()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| Corruption::BadField { what })
    }

    /// A UTF-8 string with a u32 length prefix.
    pub(crate) fn str32(&mut self, what: &'static str) -> Result<&'a str, Corruption> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| Corruption::BadField { what })
    }
}

pub(crate) use crate::segment::codec::varint::{
    put_ivarint as put_svarint, put_uvarint as put_varint,
};

/// Appends a u16-prefixed string; the caller guarantees `s.len() <= u16::MAX`.
pub(crate) fn put_str16(out: &mut Vec<u8>, s: &str) {
    debug_assert!(s.len() <= u16::MAX as usize);
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn put_str32(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inline path reads what the codec's reader reads, and fails where it fails.
    #[test]
    fn varint_agrees_with_the_codec() {
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for v in [
            0,
            1,
            127,
            128,
            300,
            1 << 62,
            (1 << 63) - 1,
            1 << 63,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            varint::put_uvarint(&mut b, v);
            for cut in 0..=b.len() {
                inputs.push(b[..cut].to_vec());
            }
            b.push(0x55);
            inputs.push(b);
        }
        // A 10th byte above 1, eleven bytes, and an overlong zero.
        inputs.push(vec![0xff; 9].into_iter().chain([0x02]).collect());
        inputs.push(vec![0x80; 10].into_iter().chain([0x00]).collect());
        inputs.push(vec![0x80, 0x80, 0x00]);
        for b in inputs {
            let mut ours = Reader::new(&b);
            let mut codec = varint::Reader::new(&b);
            let want = codec.uvarint().map_err(Corruption::from);
            assert_eq!(ours.varint(), want, "{b:x?}");
            if want.is_ok() {
                assert_eq!(ours.remaining(), b.len() - codec.pos(), "{b:x?}");
            }
        }
    }
}
