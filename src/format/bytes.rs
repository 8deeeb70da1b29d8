//! Little-endian readers over a byte slice with bounds checks; every failure is a
//! [`Corruption`], never a panic.

use crate::error::Corruption;
use crate::format::codec::varint;

/// A cursor over bytes.
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
    pub(crate) fn varint(&mut self) -> Result<u64, Corruption> {
        let mut r = varint::Reader::new(&self.buf[self.pos..]);
        let v = r.uvarint()?;
        self.pos += r.pos();
        Ok(v)
    }

    /// A zigzag-encoded signed varint.
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

pub(crate) use crate::format::codec::varint::{
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
