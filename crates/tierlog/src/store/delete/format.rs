//! The intent file of a delete in progress (`delete.pending`). Pure encode/decode; layout in
//! `format-spec/delete.md`.
//!
//! ```text
//! offset size field
//!  0    32    header: magic TLOGDEL1, version 1, tier 0, window start 0, window span 0
//! 32     4    flags, u32 LE: bit 0 = the archive too; other bits must be 0
//! 36     8    from, i64 LE ms (inclusive)
//! 44     8    to, i64 LE ms (exclusive; from < to)
//! 52     4    n, number of series, u32 LE
//! 56    4n    n × series id, u32 LE, strictly ascending
//! 56+4n  4    CRC-32C of bytes 32..56+4n, u32 LE
//! ```

use crate::error::Corruption;
use crate::format::crc;
use crate::format::header::{FileKind, HEADER_LEN, Header, HeaderError};

/// Flag: the delete covers the archive too.
pub const F_ARCHIVE: u32 = 1;
/// Bytes of the body before the series ids.
const FIXED: usize = 24;

/// What a delete removes: the points and buckets of `series` with `from <= t < to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteIntent {
    /// Series ids, strictly ascending.
    pub series: Vec<u32>,
    /// Inclusive start, ms (`i64::MIN` for a whole series).
    pub from: i64,
    /// Exclusive end, ms (`i64::MAX` for a whole series).
    pub to: i64,
    /// The archive's segments too.
    pub archive: bool,
}

impl DeleteIntent {
    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER_LEN + FIXED + 4 * self.series.len() + 4);
        b.extend_from_slice(&Header::new(FileKind::DeleteIntent, 0, 0, 0).encode());
        let flags = if self.archive { F_ARCHIVE } else { 0 };
        b.extend_from_slice(&flags.to_le_bytes());
        b.extend_from_slice(&self.from.to_le_bytes());
        b.extend_from_slice(&self.to.to_le_bytes());
        b.extend_from_slice(&(self.series.len() as u32).to_le_bytes());
        for id in &self.series {
            b.extend_from_slice(&id.to_le_bytes());
        }
        let c = crc(&b[HEADER_LEN..]);
        b.extend_from_slice(&c.to_le_bytes());
        b
    }

    /// Decodes an intent file: the header checks, then the length, the CRC and the fields.
    pub fn decode(bytes: &[u8]) -> Result<DeleteIntent, HeaderError> {
        Header::decode(bytes, FileKind::DeleteIntent)?;
        let body = &bytes[HEADER_LEN..];
        let bad = |what| HeaderError::Corrupt(Corruption::BadField { what });
        if body.len() < FIXED + 4 {
            return Err(HeaderError::Corrupt(Corruption::Truncated {
                needed: (HEADER_LEN + FIXED + 4) as u64,
                available: bytes.len() as u64,
            }));
        }
        let u32_at = |o: usize| u32::from_le_bytes(body[o..o + 4].try_into().expect("4 bytes"));
        let i64_at = |o: usize| i64::from_le_bytes(body[o..o + 8].try_into().expect("8 bytes"));
        let n = u32_at(20) as usize;
        if body.len() != FIXED + 4 * n + 4 {
            return Err(HeaderError::Corrupt(Corruption::BadLength {
                what: "delete intent",
                value: bytes.len() as u64,
            }));
        }
        let stored = u32_at(FIXED + 4 * n);
        let actual = crc(&body[..FIXED + 4 * n]);
        if stored != actual {
            return Err(HeaderError::Corrupt(Corruption::Checksum {
                expected: stored,
                actual,
            }));
        }
        let flags = u32_at(0);
        if flags & !F_ARCHIVE != 0 {
            return Err(bad("delete intent flags"));
        }
        let (from, to) = (i64_at(4), i64_at(12));
        if from >= to {
            return Err(bad("delete intent range empty"));
        }
        let series: Vec<u32> = (0..n).map(|k| u32_at(FIXED + 4 * k)).collect();
        if series.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("delete intent series not ascending"));
        }
        Ok(DeleteIntent {
            series,
            from,
            to,
            archive: flags & F_ARCHIVE != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_delete_intent() {
        let d = DeleteIntent {
            series: vec![5, 300],
            from: 1_000,
            to: 2_000,
            archive: true,
        };
        let b = d.encode();
        let header = Header::new(FileKind::DeleteIntent, 0, 0, 0).encode();
        assert_eq!(&b[..8], b"TLOGDEL1");
        assert_eq!(&b[..HEADER_LEN], &header[..]);
        let body = [
            1, 0, 0, 0, // flags: archive
            0xe8, 0x03, 0, 0, 0, 0, 0, 0, // from 1000
            0xd0, 0x07, 0, 0, 0, 0, 0, 0, // to 2000
            2, 0, 0, 0, // n
            5, 0, 0, 0, // series 5
            0x2c, 1, 0, 0, // series 300
        ];
        assert_eq!(&b[HEADER_LEN..b.len() - 4], &body[..]);
        assert_eq!(&b[b.len() - 4..], &crc(&body).to_le_bytes());
        assert_eq!(b.len(), 32 + 32 + 4);
        assert_eq!(DeleteIntent::decode(&b).unwrap(), d);
    }

    #[test]
    fn damage_is_refused() {
        let d = DeleteIntent {
            series: vec![1, 2],
            from: i64::MIN,
            to: i64::MAX,
            archive: false,
        };
        let b = d.encode();
        assert_eq!(DeleteIntent::decode(&b).unwrap(), d);
        for cut in [0, 20, 40, b.len() - 1] {
            assert!(DeleteIntent::decode(&b[..cut]).is_err(), "cut at {cut}");
        }
        for i in HEADER_LEN..b.len() {
            let mut x = b.clone();
            x[i] ^= 0x10;
            assert!(DeleteIntent::decode(&x).is_err(), "flip at {i}");
        }
        let mut longer = b.clone();
        longer.push(0);
        assert!(DeleteIntent::decode(&longer).is_err());
    }
}
