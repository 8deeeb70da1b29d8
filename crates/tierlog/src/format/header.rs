//! The 32-byte header every tierlog file starts with. See `format-spec/README.md`.
//!
//! ```text
//! offset size field
//!  0     8    magic (file type)
//!  8     2    format version, u16 LE
//! 10     2    tier, u16 LE (0 = raw, 1 = rollup segment; 0 for files that belong to no tier)
//! 12     8    window start, i64 LE ms (a rollup segment's piece start; 0 when not a window file)
//! 20     8    window span, i64 LE ms (a rollup segment's piece span; 0 when not a window file)
//! 28     4    CRC-32C of bytes 0..28, u32 LE
//! ```

use crate::error::Corruption;
use crate::format::crc;

/// Size of the header in bytes.
pub const HEADER_LEN: usize = 32;

/// The kinds of file, by magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// An open window's write-ahead log (`raw/<start>.wal`).
    WindowLog,
    /// A sealed segment (`raw/<start>.seg`), or a rollup tier's piece (`<tier>/<start>.seg`).
    Segment,
    /// The sidecar index (`index.log`).
    Index,
    /// The state file (`state`).
    State,
    /// A remote-write forwarder's checkpoint (`forward/<name>.ckpt`).
    ForwardCheckpoint,
    /// A delete in progress (`delete.pending`).
    DeleteIntent,
    /// The forward late log (`forward/late.log`): samples written behind every forwarder's
    /// watermark.
    ForwardLateLog,
}

impl FileKind {
    /// The 8 magic bytes.
    pub const fn magic(self) -> [u8; 8] {
        match self {
            FileKind::WindowLog => *b"TLOGWAL1",
            FileKind::Segment => *b"TLOGSEG1",
            FileKind::Index => *b"TLOGIDX1",
            FileKind::State => *b"TLOGSTA1",
            FileKind::ForwardCheckpoint => *b"TLOGFWD1",
            FileKind::DeleteIntent => *b"TLOGDEL1",
            FileKind::ForwardLateLog => *b"TLOGFLL1",
        }
    }

    /// The newest format version this build writes and reads.
    pub const fn version(self) -> u16 {
        match self {
            // Version 2 added the rollup tiers, version 3 the retention settings, version 4
            // the raw keep and the expiry action, version 5 the store's identity.
            FileKind::State => 5,
            // Version 2 added the end of the request in flight, version 3 the position in
            // the forward late log and the late samples skipped.
            FileKind::ForwardCheckpoint => 3,
            // Version 2 added a rollup segment's partial ranges, version 3 a raw segment's
            // sums columns and late generation (raw segments that need neither are still
            // written as version 1: `segment::format::RAW_VERSION`), version 4 layout 2 of
            // the rollup chunks (`rollup::format::LAYOUT2_SINCE`), version 5 their p95
            // offsets (`rollup::format::P95_OFFSET_SINCE`; rollup segments only), version 6
            // their count exceptions and min steps (`rollup::format::MIN_STEPS_SINCE`;
            // rollup segments only).
            FileKind::Segment => 6,
            // Version 2 added the keyed samples record (`wal::format::RECORD_KEYED_SAMPLES`);
            // logs of version 1 are read as before (they hold none).
            FileKind::WindowLog => 2,
            _ => 1,
        }
    }

    /// Which kind these magic bytes name.
    pub fn from_magic(m: &[u8]) -> Option<Self> {
        [
            FileKind::WindowLog,
            FileKind::Segment,
            FileKind::Index,
            FileKind::State,
            FileKind::ForwardCheckpoint,
            FileKind::DeleteIntent,
            FileKind::ForwardLateLog,
        ]
        .into_iter()
        .find(|k| k.magic() == m)
    }
}

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// File type.
    pub kind: FileKind,
    /// Format version.
    pub version: u16,
    /// Tier (0 = raw, 1 = rollup segment).
    pub tier: u16,
    /// Window start in ms.
    pub window_start: i64,
    /// Window span in ms.
    pub window_span: i64,
}

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Not a file of the expected kind (or not ours at all).
    WrongMagic { found: Vec<u8> },
    /// Written by a newer version.
    NewerVersion { found: u16, supported: u16 },
    /// Damaged.
    Corrupt(Corruption),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::WrongMagic { found } => {
                write!(f, "not a file of this kind: its first bytes are ")?;
                for b in found {
                    write!(f, "{b:02x}")?;
                }
                if found.is_empty() {
                    write!(f, "missing")?;
                }
                Ok(())
            }
            HeaderError::NewerVersion { found, supported } => write!(
                f,
                "written by a newer version of the format ({found}; this build reads up to {supported})"
            ),
            HeaderError::Corrupt(c) => write!(f, "damaged: {c}"),
        }
    }
}

impl Header {
    /// A current-version header.
    pub fn new(kind: FileKind, tier: u16, window_start: i64, window_span: i64) -> Self {
        Header {
            kind,
            version: match kind {
                // Rollup segments are written at version 5 (layout 2 of their chunks,
                // `rollup::format::ROLLUP_VERSION`); raw segments set their own version
                // (`segment::format::RAW_VERSION`, `SUMS_SINCE`).
                FileKind::Segment => kind.version(),
                _ => kind.version(),
            },
            tier,
            window_start,
            window_span,
        }
    }

    /// The 32 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&self.kind.magic());
        b[8..10].copy_from_slice(&self.version.to_le_bytes());
        b[10..12].copy_from_slice(&self.tier.to_le_bytes());
        b[12..20].copy_from_slice(&self.window_start.to_le_bytes());
        b[20..28].copy_from_slice(&self.window_span.to_le_bytes());
        let c = crc(&b[0..28]);
        b[28..32].copy_from_slice(&c.to_le_bytes());
        b
    }

    /// Decodes and checks a header of the `expected` kind: magic first (a file that is not
    /// ours), then the version (refuse newer ones, never misread), then the checksum.
    pub fn decode(bytes: &[u8], expected: FileKind) -> Result<Header, HeaderError> {
        let magic = &bytes[..bytes.len().min(8)];
        if magic != expected.magic() {
            return Err(HeaderError::WrongMagic {
                found: magic.to_vec(),
            });
        }
        if bytes.len() < HEADER_LEN {
            return Err(HeaderError::Corrupt(Corruption::Truncated {
                needed: HEADER_LEN as u64,
                available: bytes.len() as u64,
            }));
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version > expected.version() {
            return Err(HeaderError::NewerVersion {
                found: version,
                supported: expected.version(),
            });
        }
        let stored = u32::from_le_bytes(bytes[28..32].try_into().expect("4 bytes"));
        let actual = crc(&bytes[0..28]);
        if stored != actual {
            return Err(HeaderError::Corrupt(Corruption::Checksum {
                expected: stored,
                actual,
            }));
        }
        if version == 0 {
            return Err(HeaderError::Corrupt(Corruption::BadField {
                what: "version 0",
            }));
        }
        Ok(Header {
            kind: expected,
            version,
            tier: u16::from_le_bytes([bytes[10], bytes[11]]),
            window_start: i64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes")),
            window_span: i64::from_le_bytes(bytes[20..28].try_into().expect("8 bytes")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_header() {
        let h = Header::new(FileKind::WindowLog, 0, 1_700_000_400_000, 600_000);
        let b = h.encode();
        let mut expected = Vec::new();
        expected.extend_from_slice(b"TLOGWAL1");
        // Version 2 (keyed samples records), tier 0.
        expected.extend_from_slice(&[2, 0, 0, 0]);
        expected.extend_from_slice(&[0x80, 0x82, 0xeb, 0xcf, 0x8b, 0x01, 0, 0]);
        expected.extend_from_slice(&[0xc0, 0x27, 0x09, 0, 0, 0, 0, 0]);
        assert_eq!(&b[..28], &expected[..]);
        assert_eq!(&b[28..], &crc32c::crc32c(&expected).to_le_bytes());
        assert_eq!(Header::decode(&b, FileKind::WindowLog).unwrap(), h);
    }

    #[test]
    fn refuses_wrong_magic_newer_version_and_bad_crc() {
        let mut b = Header::new(FileKind::Index, 0, 0, 0).encode();
        assert!(matches!(
            Header::decode(&b, FileKind::Segment),
            Err(HeaderError::WrongMagic { .. })
        ));
        b[8] = 2;
        assert_eq!(
            Header::decode(&b, FileKind::Index),
            Err(HeaderError::NewerVersion {
                found: 2,
                supported: 1
            })
        );
        b[8] = 1;
        b[15] ^= 1;
        assert!(matches!(
            Header::decode(&b, FileKind::Index),
            Err(HeaderError::Corrupt(Corruption::Checksum { .. }))
        ));
        assert!(matches!(
            Header::decode(&b[..20], FileKind::Index),
            Err(HeaderError::Corrupt(Corruption::Truncated { .. }))
        ));
    }
}
