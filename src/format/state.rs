//! The state file (`state`): what the store must remember between opens that its other files
//! cannot tell. Rewritten whole (temp file, fsync, rename, fsync directory), never in place.
//! See `format-spec/state.md`.
//!
//! ```text
//! header  32 bytes (magic TLOGSTA1; window span = the store's raw window span)
//! 32  8   highest clock value the store has acted on, i64 LE ms
//! 40  8   sealed-through: end of the newest sealed raw window, i64 LE ms
//! 48  4   CRC-32C of bytes 32..48
//! ```

use crate::error::Corruption;
use crate::format::crc;
use crate::format::header::{FileKind, HEADER_LEN, Header, HeaderError};

/// Size of a state file.
pub const STATE_LEN: usize = HEADER_LEN + 20;

/// The decoded state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// The raw window span the store was created with, ms.
    pub window_span: i64,
    /// Highest clock value acted on, ms.
    pub clock_high_water: i64,
    /// Samples before this are never accepted again (their windows are sealed).
    pub sealed_through: i64,
}

impl State {
    /// The file bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(STATE_LEN);
        b.extend_from_slice(&Header::new(FileKind::State, 0, 0, self.window_span).encode());
        b.extend_from_slice(&self.clock_high_water.to_le_bytes());
        b.extend_from_slice(&self.sealed_through.to_le_bytes());
        let c = crc(&b[HEADER_LEN..]);
        b.extend_from_slice(&c.to_le_bytes());
        b
    }

    /// Decodes a state file.
    pub fn decode(bytes: &[u8]) -> Result<State, HeaderError> {
        let h = Header::decode(bytes, FileKind::State)?;
        if bytes.len() != STATE_LEN {
            return Err(HeaderError::Corrupt(Corruption::BadLength {
                what: "state file",
                value: bytes.len() as u64,
            }));
        }
        let body = &bytes[HEADER_LEN..STATE_LEN - 4];
        let stored = u32::from_le_bytes(bytes[STATE_LEN - 4..].try_into().expect("4 bytes"));
        let actual = crc(body);
        if stored != actual {
            return Err(HeaderError::Corrupt(Corruption::Checksum {
                expected: stored,
                actual,
            }));
        }
        Ok(State {
            window_span: h.window_span,
            clock_high_water: i64::from_le_bytes(body[0..8].try_into().expect("8 bytes")),
            sealed_through: i64::from_le_bytes(body[8..16].try_into().expect("8 bytes")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_state() {
        let s = State {
            window_span: 600_000,
            clock_high_water: 1_000,
            sealed_through: 600_000,
        };
        let b = s.encode();
        assert_eq!(b.len(), 52);
        assert_eq!(&b[0..8], b"TLOGSTA1");
        assert_eq!(&b[32..40], &[0xe8, 0x03, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&b[40..48], &[0xc0, 0x27, 0x09, 0, 0, 0, 0, 0]);
        assert_eq!(&b[48..52], &crc32c::crc32c(&b[32..48]).to_le_bytes());
        assert_eq!(State::decode(&b).unwrap(), s);
        let mut m = b.clone();
        m[45] ^= 4;
        assert!(State::decode(&m).is_err());
        assert!(State::decode(&b[..40]).is_err());
    }
}
