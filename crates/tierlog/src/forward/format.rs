//! The forwarder's checkpoint file (`forward/<name>.ckpt`): how far a remote-write forwarder
//! has delivered the store's raw points. Pure encode/decode; layout in
//! `format-spec/forward.md`.
//!
//! ```text
//! offset size field
//!  0    32    header: magic TLOGFWD1, version 3, tier 0, window start 0, window span 0
//! 32     8    watermark, i64 LE ms: every point with ts < watermark was delivered
//! 40     4    next series, u32 LE: of the points at ts == watermark, those of series with
//!             id < next series were delivered
//! 44     8    samples delivered since the checkpoint was created, u64 LE
//! 52     8    samples dropped (refused by the receiver) since then, u64 LE
//! 60     8    in-flight end watermark, i64 LE ms (i64::MIN: none)    } version 2
//! 68     4    in-flight end next series, u32 LE (0 when none)        }
//! 72     8    late log epoch, u64 LE (0: from the start of the log)  } version 3
//! 80     8    late log offset, u64 LE: samples records ending at or  }
//!             before it were handled                                  }
//! 88     8    late samples skipped since the checkpoint was created  }
//! 96     4    CRC-32C of bytes 32..96, u32 LE
//! ```
//!
//! Version 1 files (64 bytes: no in-flight end, the CRC at 60 over 32..60) are read as
//! having no request in flight; version 1 and 2 files (76 bytes, the CRC at 72 over 32..72)
//! as late log position `(0, 0)` (the forward late log from its start: every sample in it
//! was behind every checkpoint the writer knew, so none was sent) and 0 skipped.

use crate::error::Corruption;
use crate::format::crc;
use crate::format::header::{FileKind, HEADER_LEN, Header, HeaderError};

/// Length of a checkpoint file (version 3).
pub const CHECKPOINT_LEN: usize = 100;

/// Length of a version 2 checkpoint file (no late log position).
pub const CHECKPOINT_V2_LEN: usize = 76;

/// Length of a version 1 checkpoint file (no in-flight end).
pub const CHECKPOINT_V1_LEN: usize = 64;

/// The in-flight end field's value for "no request in flight".
const NO_IN_FLIGHT: i64 = i64::MIN;

/// What a checkpoint records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// Every point with `ts < watermark` was delivered (or dropped with a counted reason).
    pub watermark: i64,
    /// Of the points at `ts == watermark`, those of series with a smaller id were delivered.
    pub next_series: u32,
    /// Samples delivered since the checkpoint was created.
    pub sent: u64,
    /// Samples the receiver refused (batches dropped) since then.
    pub dropped: u64,
    /// Where the request in flight ends, as a position `(watermark, next series)`: the
    /// request holds every point from the position above up to (not including) this one.
    /// Written before the request is sent (or with the checkpoint of the request before it),
    /// so that after a crash the forwarder re-sends exactly that request, never one that
    /// mixes points the receiver already has with new ones. `None` when nothing is in flight.
    pub in_flight: Option<(i64, u32)>,
    /// The epoch of the forward late log (`forward/late.log`) that `late_offset` is in; 0:
    /// the log is handled from its start, whatever its epoch.
    pub late_epoch: u64,
    /// Samples records of the late log ending at or before this offset were handled (sent,
    /// dropped or skipped).
    pub late_offset: u64,
    /// Late samples skipped (not sent: the forwarder's late mode was off) since the
    /// checkpoint was created.
    pub late_skipped: u64,
}

impl Checkpoint {
    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(CHECKPOINT_LEN);
        b.extend_from_slice(&Header::new(FileKind::ForwardCheckpoint, 0, 0, 0).encode());
        b.extend_from_slice(&self.watermark.to_le_bytes());
        b.extend_from_slice(&self.next_series.to_le_bytes());
        b.extend_from_slice(&self.sent.to_le_bytes());
        b.extend_from_slice(&self.dropped.to_le_bytes());
        let (end, end_next) = self.in_flight.unwrap_or((NO_IN_FLIGHT, 0));
        b.extend_from_slice(&end.to_le_bytes());
        b.extend_from_slice(&end_next.to_le_bytes());
        b.extend_from_slice(&self.late_epoch.to_le_bytes());
        b.extend_from_slice(&self.late_offset.to_le_bytes());
        b.extend_from_slice(&self.late_skipped.to_le_bytes());
        let c = crc(&b[HEADER_LEN..]);
        b.extend_from_slice(&c.to_le_bytes());
        b
    }

    /// Decodes a checkpoint file (version 1, 2 or 3): the header checks, then the length,
    /// then the CRC.
    pub fn decode(bytes: &[u8]) -> Result<Checkpoint, HeaderError> {
        let header = Header::decode(bytes, FileKind::ForwardCheckpoint)?;
        let len = match header.version {
            1 => CHECKPOINT_V1_LEN,
            2 => CHECKPOINT_V2_LEN,
            _ => CHECKPOINT_LEN,
        };
        if bytes.len() != len {
            return Err(HeaderError::Corrupt(Corruption::BadLength {
                what: "forward checkpoint",
                value: bytes.len() as u64,
            }));
        }
        let body = &bytes[HEADER_LEN..len - 4];
        let stored = u32::from_le_bytes(bytes[len - 4..].try_into().expect("4 bytes"));
        let actual = crc(body);
        if stored != actual {
            return Err(HeaderError::Corrupt(Corruption::Checksum {
                expected: stored,
                actual,
            }));
        }
        let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
        let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().expect("4 bytes"));
        let in_flight = if header.version == 1 {
            None
        } else {
            let end = u64_at(28) as i64;
            match (end, u32_at(36)) {
                (NO_IN_FLIGHT, 0) => None,
                (NO_IN_FLIGHT, _) => {
                    return Err(HeaderError::Corrupt(Corruption::BadField {
                        what: "forward checkpoint: in-flight series without an end",
                    }));
                }
                pos => Some(pos),
            }
        };
        let (late_epoch, late_offset, late_skipped) = if header.version >= 3 {
            (u64_at(40), u64_at(48), u64_at(56))
        } else {
            (0, 0, 0)
        };
        if late_epoch == 0 && late_offset != 0 {
            return Err(HeaderError::Corrupt(Corruption::BadField {
                what: "forward checkpoint: late log offset without an epoch",
            }));
        }
        Ok(Checkpoint {
            watermark: u64_at(0) as i64,
            next_series: u32_at(8),
            sent: u64_at(12),
            dropped: u64_at(20),
            in_flight,
            late_epoch,
            late_offset,
            late_skipped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_checkpoint() {
        let c = Checkpoint {
            watermark: 1_700_000_001_000,
            next_series: 7,
            sent: 300,
            dropped: 2,
            in_flight: Some((1_700_000_002_000, 3)),
            late_epoch: 2,
            late_offset: 0x1234,
            late_skipped: 10,
        };
        let mut expected = golden_head(3);
        // 1_700_000_002_000 = 0x0000_018B_CFE5_6FD0
        expected.extend_from_slice(&[0xd0, 0x6f, 0xe5, 0xcf, 0x8b, 0x01, 0, 0]);
        expected.extend_from_slice(&[3, 0, 0, 0]);
        expected.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[0x34, 0x12, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[10, 0, 0, 0, 0, 0, 0, 0]);
        let bc = crc32c::crc32c(&expected[32..]);
        expected.extend_from_slice(&bc.to_le_bytes());
        assert_eq!(expected.len(), CHECKPOINT_LEN);
        assert_eq!(c.encode(), expected);
        assert_eq!(Checkpoint::decode(&expected).unwrap(), c);
        // Nothing in flight: i64::MIN and 0.
        let none = Checkpoint {
            in_flight: None,
            ..c
        }
        .encode();
        assert_eq!(&none[60..72], &[0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0]);
    }

    /// The golden files' common start: the header of `version`, then watermark
    /// 1_700_000_001_000 (0x0000_018B_CFE5_6BE8), next series 7, 300 sent and 2 dropped.
    fn golden_head(version: u8) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"TLOGFWD1");
        b.extend_from_slice(&[version, 0, 0, 0]);
        b.extend_from_slice(&[0; 16]);
        let hc = crc32c::crc32c(&b);
        b.extend_from_slice(&hc.to_le_bytes());
        b.extend_from_slice(&[0xe8, 0x6b, 0xe5, 0xcf, 0x8b, 0x01, 0, 0]);
        b.extend_from_slice(&[7, 0, 0, 0]);
        b.extend_from_slice(&[0x2c, 0x01, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]);
        b
    }

    #[test]
    fn golden_checkpoint_version_1_is_read_with_nothing_in_flight() {
        let c = Checkpoint {
            watermark: 1_700_000_001_000,
            next_series: 7,
            sent: 300,
            dropped: 2,
            in_flight: None,
            ..Checkpoint::default()
        };
        let mut expected = golden_head(1);
        let bc = crc32c::crc32c(&expected[32..]);
        expected.extend_from_slice(&bc.to_le_bytes());
        assert_eq!(expected.len(), CHECKPOINT_V1_LEN);
        assert_eq!(Checkpoint::decode(&expected).unwrap(), c);
        // A version 1 header on a version 3 body is refused.
        let mut v2 = c.encode();
        v2[8] = 1;
        let hc = crc32c::crc32c(&v2[..28]);
        v2[28..32].copy_from_slice(&hc.to_le_bytes());
        assert!(Checkpoint::decode(&v2).is_err());
    }

    #[test]
    fn golden_checkpoint_version_2_is_read_at_the_late_log_start() {
        let c = Checkpoint {
            watermark: 1_700_000_001_000,
            next_series: 7,
            sent: 300,
            dropped: 2,
            in_flight: Some((1_700_000_002_000, 3)),
            ..Checkpoint::default()
        };
        let mut expected = golden_head(2);
        expected.extend_from_slice(&[0xd0, 0x6f, 0xe5, 0xcf, 0x8b, 0x01, 0, 0]);
        expected.extend_from_slice(&[3, 0, 0, 0]);
        let bc = crc32c::crc32c(&expected[32..]);
        expected.extend_from_slice(&bc.to_le_bytes());
        assert_eq!(expected.len(), CHECKPOINT_V2_LEN);
        let d = Checkpoint::decode(&expected).unwrap();
        assert_eq!(d, c);
        assert_eq!((d.late_epoch, d.late_offset, d.late_skipped), (0, 0, 0));
        // An offset without an epoch is refused.
        let mut bad = Checkpoint {
            late_offset: 40,
            ..c
        }
        .encode();
        let bc = crc32c::crc32c(&bad[32..96]);
        bad[96..].copy_from_slice(&bc.to_le_bytes());
        assert!(Checkpoint::decode(&bad).is_err());
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        let good = Checkpoint::default().encode();
        for cut in 0..good.len() {
            assert!(Checkpoint::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut b = good.clone();
                b[i] ^= 1 << bit;
                assert!(Checkpoint::decode(&b).is_err(), "flip {i}.{bit}");
            }
        }
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(
            Checkpoint::decode(&long),
            Err(HeaderError::Corrupt(Corruption::BadLength { .. }))
        ));
    }
}
