//! The state file (`state`): what the store must remember between opens that its other files
//! cannot tell. Rewritten whole (temp file, fsync, rename, fsync directory), never in place.
//! See `format-spec/state.md`.
//!
//! ```text
//! header  32 bytes (magic TLOGSTA1, version 5; window span = the store's raw window span)
//! 32  8   highest clock value the store has acted on, i64 LE ms
//! 40  8   sealed-through: end of the newest sealed raw window, i64 LE ms
//! 48  2   tier count N, u16 LE
//! 50      N tier records, finest first:
//!           1  name length L (1..=32)
//!           L  name (ASCII a-z 0-9)
//!           8  interval, i64 LE ms
//!           8  keep, i64 LE ms
//!           8  done-through, i64 LE ms (i64::MIN: nothing materialised yet)
//!         version 3 and 4, the retention settings:
//!           4  max_age_days, u32 LE
//!           8  max_bytes, u64 LE (0 = none)
//!           8  max_clock_lead, i64 LE ms
//!         version 4 only, the rest of the policy:
//!           8  raw keep, i64 LE ms
//!           1  expiry action: 0 delete, 1 archive
//!           2  archive directory length A, u16 LE (0 for delete, 1.. for archive)
//!           A  archive directory, UTF-8
//!         version 5 only, the identity:
//!          16  store id (random at creation; all zero: none)
//!           1  role: 0 the store itself, 1 an archive of the store with this id
//! end-4 4 CRC-32C of bytes 32..end-4
//! ```
//!
//! Version 4 files (no identity) are read as a store without an id, version 3 files (no raw keep or expiry action), version 2 files (no retention settings)
//! and version 1 files (52 bytes: no tier count, the CRC at 48) are still read, as a store
//! that records less (and, for version 1, no tiers).

use crate::error::Corruption;
use crate::format::crc;
use crate::format::header::{FileKind, HEADER_LEN, Header, HeaderError};

/// Size of a version 1 state file.
pub const STATE_V1_LEN: usize = HEADER_LEN + 20;
/// Longest tier name.
pub const MAX_TIER_NAME: usize = 32;
/// Most tiers a state file may list.
pub const MAX_TIERS: usize = 64;

/// A rollup tier as the state file records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierState {
    /// Name (also the tier's directory).
    pub name: String,
    /// Bucket width, ms.
    pub interval: i64,
    /// Keep time, ms.
    pub keep: i64,
    /// Exclusive end of the contiguous materialised range; `i64::MIN` before the first piece.
    pub done_through: i64,
}

/// Retention settings as the state file records them (version 3; `policy` since version 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Days.
    pub max_age_days: u32,
    /// Bytes, 0 = none.
    pub max_bytes: u64,
    /// ms.
    pub max_clock_lead: i64,
    /// Raw keep and expiry action (`None` read from a version 3 file; always written).
    pub policy: Option<Policy>,
}

/// The part of the retention settings version 4 added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Raw keep, ms.
    pub raw_keep: i64,
    /// `Some(dir)`: the last tier's expired segments move to this archive directory; `None`:
    /// they are deleted.
    pub archive: Option<String>,
}

/// Who a state file belongs to (version 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// The store's id: random, fixed when the store is created (or, for a store an older
    /// build created, at its first writer open by this one). Never all zero.
    pub id: [u8; 16],
    /// `false`: this is the store with that id; `true`: an archive of it.
    pub archive: bool,
}

/// Bytes of the version 5 identity record.
const IDENTITY_LEN: usize = 17;

/// Bytes of the version 3 retention settings record.
const RETENTION_LEN: usize = 20;

/// The decoded state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The raw window span the store was created with, ms.
    pub window_span: i64,
    /// Highest clock value acted on, ms.
    pub clock_high_water: i64,
    /// Samples before this are never accepted again (their windows are sealed).
    pub sealed_through: i64,
    /// Rollup tiers, finest first.
    pub tiers: Vec<TierState>,
    /// Retention settings (`None` read from a version 1 or 2 file; always written).
    pub retention: Option<RetentionSettings>,
    /// Whose file this is (`None` read from a version 1 to 4 file, or written without one:
    /// an all-zero id).
    pub identity: Option<Identity>,
}

fn bad(what: &'static str) -> HeaderError {
    HeaderError::Corrupt(Corruption::BadField { what })
}

impl State {
    /// The file bytes (always the current version). Tier names longer than
    /// [`MAX_TIER_NAME`] bytes or more than [`MAX_TIERS`] tiers are a caller bug (the
    /// configuration is validated first).
    pub fn encode(&self) -> Vec<u8> {
        assert!(self.tiers.len() <= MAX_TIERS, "too many tiers");
        let mut b = Vec::with_capacity(HEADER_LEN + 24 + self.tiers.len() * 40);
        b.extend_from_slice(&Header::new(FileKind::State, 0, 0, self.window_span).encode());
        b.extend_from_slice(&self.clock_high_water.to_le_bytes());
        b.extend_from_slice(&self.sealed_through.to_le_bytes());
        b.extend_from_slice(&(self.tiers.len() as u16).to_le_bytes());
        for t in &self.tiers {
            let name = t.name.as_bytes();
            assert!(
                !name.is_empty() && name.len() <= MAX_TIER_NAME,
                "bad tier name"
            );
            b.push(name.len() as u8);
            b.extend_from_slice(name);
            b.extend_from_slice(&t.interval.to_le_bytes());
            b.extend_from_slice(&t.keep.to_le_bytes());
            b.extend_from_slice(&t.done_through.to_le_bytes());
        }
        let defaults = RetentionSettings {
            max_age_days: 90,
            max_bytes: 0,
            max_clock_lead: 86_400_000,
            policy: None,
        };
        let r = self.retention.as_ref().unwrap_or(&defaults);
        b.extend_from_slice(&r.max_age_days.to_le_bytes());
        b.extend_from_slice(&r.max_bytes.to_le_bytes());
        b.extend_from_slice(&r.max_clock_lead.to_le_bytes());
        let p = r.policy.clone().unwrap_or(Policy {
            raw_keep: 2 * 3_600_000,
            archive: None,
        });
        b.extend_from_slice(&p.raw_keep.to_le_bytes());
        match &p.archive {
            None => b.extend_from_slice(&[0, 0, 0]),
            Some(dir) => {
                assert!(
                    !dir.is_empty() && dir.len() <= usize::from(u16::MAX),
                    "bad archive directory"
                );
                b.push(1);
                b.extend_from_slice(&(dir.len() as u16).to_le_bytes());
                b.extend_from_slice(dir.as_bytes());
            }
        }
        match &self.identity {
            Some(i) => {
                assert!(i.id != [0; 16], "an all-zero store id");
                b.extend_from_slice(&i.id);
                b.push(u8::from(i.archive));
            }
            None => b.extend_from_slice(&[0; IDENTITY_LEN]),
        }
        let c = crc(&b[HEADER_LEN..]);
        b.extend_from_slice(&c.to_le_bytes());
        b
    }

    /// Decodes a state file (version 1 to 5).
    pub fn decode(bytes: &[u8]) -> Result<State, HeaderError> {
        let h = Header::decode(bytes, FileKind::State)?;
        if bytes.len() < STATE_V1_LEN || (h.version == 1 && bytes.len() != STATE_V1_LEN) {
            return Err(HeaderError::Corrupt(Corruption::BadLength {
                what: "state file",
                value: bytes.len() as u64,
            }));
        }
        let end = bytes.len() - 4;
        let body = &bytes[HEADER_LEN..end];
        let stored = u32::from_le_bytes(bytes[end..].try_into().expect("4 bytes"));
        let actual = crc(body);
        if stored != actual {
            return Err(HeaderError::Corrupt(Corruption::Checksum {
                expected: stored,
                actual,
            }));
        }
        let i64_at = |at: usize| i64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
        let mut s = State {
            window_span: h.window_span,
            clock_high_water: i64_at(0),
            sealed_through: i64_at(8),
            tiers: Vec::new(),
            retention: None,
            identity: None,
        };
        if h.version == 1 {
            return Ok(s);
        }
        let rest = &body[16..];
        let Some(count) = rest.get(..2) else {
            return Err(bad("state file tier count missing"));
        };
        let count = usize::from(u16::from_le_bytes([count[0], count[1]]));
        if count > MAX_TIERS {
            return Err(bad("state file lists too many tiers"));
        }
        let mut at = 2;
        for _ in 0..count {
            let len = usize::from(*rest.get(at).ok_or(bad("state file tier truncated"))?);
            if len == 0 || len > MAX_TIER_NAME {
                return Err(bad("state file tier name length"));
            }
            let rec = rest
                .get(at + 1..at + 1 + len + 24)
                .ok_or(bad("state file tier truncated"))?;
            let name = &rec[..len];
            if !name
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            {
                return Err(bad("state file tier name"));
            }
            let num = |i: usize| {
                i64::from_le_bytes(rec[len + 8 * i..len + 8 * i + 8].try_into().expect("8"))
            };
            s.tiers.push(TierState {
                name: String::from_utf8(name.to_vec()).expect("ASCII checked"),
                interval: num(0),
                keep: num(1),
                done_through: num(2),
            });
            at += 1 + len + 24;
        }
        if h.version >= 3 {
            let r = rest
                .get(at..at + RETENTION_LEN)
                .ok_or(bad("state file retention settings truncated"))?;
            let mut settings = RetentionSettings {
                max_age_days: u32::from_le_bytes(r[0..4].try_into().expect("4")),
                max_bytes: u64::from_le_bytes(r[4..12].try_into().expect("8")),
                max_clock_lead: i64::from_le_bytes(r[12..20].try_into().expect("8")),
                policy: None,
            };
            at += RETENTION_LEN;
            if h.version >= 4 {
                let truncated = bad("state file expiry settings truncated");
                let p = rest.get(at..at + 11).ok_or(truncated)?;
                let raw_keep = i64::from_le_bytes(p[0..8].try_into().expect("8"));
                let len = usize::from(u16::from_le_bytes([p[9], p[10]]));
                at += 11;
                let archive = match (p[8], len) {
                    (0, 0) => None,
                    (1, 1..) => {
                        let dir = rest
                            .get(at..at + len)
                            .ok_or(bad("state file archive directory truncated"))?;
                        at += len;
                        Some(
                            std::str::from_utf8(dir)
                                .map_err(|_| bad("state file archive directory is not UTF-8"))?
                                .to_owned(),
                        )
                    }
                    _ => return Err(bad("state file expiry action")),
                };
                settings.policy = Some(Policy { raw_keep, archive });
            }
            s.retention = Some(settings);
        }
        if h.version >= 5 {
            let r = rest
                .get(at..at + IDENTITY_LEN)
                .ok_or(bad("state file identity truncated"))?;
            let id: [u8; 16] = r[..16].try_into().expect("16 bytes");
            s.identity = match (id == [0; 16], r[16]) {
                (true, 0) => None,
                (false, role @ (0 | 1)) => Some(Identity {
                    id,
                    archive: role == 1,
                }),
                _ => return Err(bad("state file identity role")),
            };
            at += IDENTITY_LEN;
        }
        if at != rest.len() {
            return Err(bad("state file has trailing bytes"));
        }
        Ok(s)
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
            tiers: vec![TierState {
                name: "10s".into(),
                interval: 10_000,
                keep: 86_400_000,
                done_through: i64::MIN,
            }],
            retention: Some(RetentionSettings {
                max_age_days: 90,
                max_bytes: 1 << 30,
                max_clock_lead: 86_400_000,
                policy: Some(Policy {
                    raw_keep: 7_200_000,
                    archive: Some("arc".into()),
                }),
            }),
            identity: Some(Identity {
                id: *b"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10",
                archive: false,
            }),
        };
        let b = s.encode();
        assert_eq!(b.len(), 32 + 16 + 2 + 1 + 3 + 24 + 20 + 8 + 3 + 3 + 17 + 4);
        assert_eq!(&b[0..8], b"TLOGSTA1");
        assert_eq!(&b[8..10], &[5, 0]);
        assert_eq!(&b[28..32], &HEADER_CRC);
        assert_eq!(&b[32..40], &[0xe8, 0x03, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&b[40..48], &[0xc0, 0x27, 0x09, 0, 0, 0, 0, 0]);
        assert_eq!(&b[48..50], &[1, 0]);
        assert_eq!(&b[50..54], b"\x0310s");
        assert_eq!(&b[54..62], &[0x10, 0x27, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&b[62..70], &[0, 0x5c, 0x26, 0x05, 0, 0, 0, 0]);
        assert_eq!(&b[70..78], &[0, 0, 0, 0, 0, 0, 0, 0x80]);
        assert_eq!(&b[78..82], &[90, 0, 0, 0]);
        assert_eq!(&b[82..90], &[0, 0, 0, 0x40, 0, 0, 0, 0]);
        assert_eq!(&b[90..98], &[0, 0x5c, 0x26, 0x05, 0, 0, 0, 0]);
        assert_eq!(&b[98..106], &[0, 0xdd, 0x6d, 0, 0, 0, 0, 0]);
        assert_eq!(&b[106..112], b"\x01\x03\x00arc");
        assert_eq!(
            &b[112..129],
            b"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x00"
        );
        assert_eq!(&b[129..133], &crc32c::crc32c(&b[32..129]).to_le_bytes());
        // The example of format-spec/state.md.
        assert_eq!(&b[129..133], &BODY_CRC);
        assert_eq!(State::decode(&b).unwrap(), s);
        for i in 32..b.len() {
            let mut m = b.clone();
            m[i] ^= 4;
            assert!(State::decode(&m).is_err(), "flip at {i}");
        }
        for n in 0..b.len() {
            assert!(State::decode(&b[..n]).is_err(), "cut at {n}");
        }
    }

    /// The checksums of the example of format-spec/state.md.
    const HEADER_CRC: [u8; 4] = [0xB5, 0xA3, 0x23, 0x73];
    const BODY_CRC: [u8; 4] = [0x13, 0x12, 0xFB, 0xFF];

    #[test]
    fn delete_and_bad_expiry_actions() {
        let mut s = State {
            window_span: 600_000,
            clock_high_water: 7,
            sealed_through: 600_000,
            tiers: vec![],
            retention: Some(RetentionSettings {
                max_age_days: 30,
                max_bytes: 0,
                max_clock_lead: 60_000,
                policy: Some(Policy {
                    raw_keep: 3_600_000,
                    archive: None,
                }),
            }),
            identity: None,
        };
        let b = s.encode();
        assert_eq!(&b[b.len() - 24..b.len() - 21], &[0, 0, 0]);
        assert_eq!(State::decode(&b).unwrap(), s);
        // Delete with a path, archive without one, an unknown action: refused.
        for (kind, len) in [(0u8, 1u8), (1, 0), (2, 0)] {
            let mut m = b.clone();
            let at = m.len() - 24;
            m[at] = kind;
            m[at + 1] = len;
            let n = m.len() - 21;
            m.truncate(n);
            if len == 1 {
                m.push(b'x');
            }
            m.extend_from_slice(&[0; IDENTITY_LEN]);
            let c = crc32c::crc32c(&m[32..]);
            m.extend_from_slice(&c.to_le_bytes());
            assert!(State::decode(&m).is_err(), "kind {kind} len {len}");
        }
        // A version 3 file: settings without the policy.
        s.retention.as_mut().unwrap().policy = None;
        let mut v3 = s.encode();
        v3.truncate(v3.len() - 4 - IDENTITY_LEN - 11);
        v3[8] = 3;
        let hc = crc32c::crc32c(&v3[0..28]);
        v3[28..32].copy_from_slice(&hc.to_le_bytes());
        let c = crc32c::crc32c(&v3[32..]);
        v3.extend_from_slice(&c.to_le_bytes());
        assert_eq!(State::decode(&v3).unwrap(), s);
    }

    #[test]
    fn version_2_is_read_without_retention_settings() {
        let s = State {
            window_span: 600_000,
            clock_high_water: 7,
            sealed_through: 600_000,
            tiers: vec![],
            retention: None,
            identity: None,
        };
        let mut b = s.encode();
        // Version 2: no settings record.
        b.truncate(b.len() - 4 - IDENTITY_LEN - RETENTION_LEN - 11);
        b[8] = 2;
        let hc = crc32c::crc32c(&b[0..28]);
        b[28..32].copy_from_slice(&hc.to_le_bytes());
        let c = crc32c::crc32c(&b[32..]);
        b.extend_from_slice(&c.to_le_bytes());
        assert_eq!(State::decode(&b).unwrap(), s);
    }

    /// A version 4 file (no identity record) is read as a store without an id; a zero id is
    /// none, an archive's role is kept, and an unknown role or a role beside a zero id is
    /// refused.
    #[test]
    fn identity_record_and_version_4() {
        let mut s = State {
            window_span: 600_000,
            clock_high_water: 7,
            sealed_through: 600_000,
            tiers: vec![],
            retention: Some(RetentionSettings {
                max_age_days: 30,
                max_bytes: 0,
                max_clock_lead: 60_000,
                policy: Some(Policy {
                    raw_keep: 3_600_000,
                    archive: None,
                }),
            }),
            identity: Some(Identity {
                id: [0xab; 16],
                archive: true,
            }),
        };
        let b = s.encode();
        assert_eq!(
            &b[b.len() - 21..b.len() - 4],
            &[[0xab; 16].as_slice(), &[1]].concat()
        );
        assert_eq!(State::decode(&b).unwrap(), s);
        for (id, role) in [(0xab, 2u8), (0, 1)] {
            let mut m = b.clone();
            let n = m.len();
            m[n - 21..n - 5].fill(id);
            m[n - 5] = role;
            let c = crc32c::crc32c(&m[32..n - 4]);
            m[n - 4..].copy_from_slice(&c.to_le_bytes());
            assert!(State::decode(&m).is_err(), "id {id:#x} role {role}");
        }
        let mut v4 = b.clone();
        v4.truncate(v4.len() - 4 - IDENTITY_LEN);
        v4[8] = 4;
        let hc = crc32c::crc32c(&v4[0..28]);
        v4[28..32].copy_from_slice(&hc.to_le_bytes());
        let c = crc32c::crc32c(&v4[32..]);
        v4.extend_from_slice(&c.to_le_bytes());
        s.identity = None;
        assert_eq!(State::decode(&v4).unwrap(), s);
        assert_eq!(&s.encode()[b.len() - 21..b.len() - 4], &[0; 17]);
    }

    #[test]
    fn version_1_is_read_as_a_store_without_tiers() {
        let mut b = Header {
            kind: FileKind::State,
            version: 1,
            tier: 0,
            window_start: 0,
            window_span: 600_000,
        }
        .encode()
        .to_vec();
        b.extend_from_slice(&5i64.to_le_bytes());
        b.extend_from_slice(&600_000i64.to_le_bytes());
        let c = crc32c::crc32c(&b[32..48]);
        b.extend_from_slice(&c.to_le_bytes());
        let s = State::decode(&b).unwrap();
        assert_eq!((s.clock_high_water, s.sealed_through), (5, 600_000));
        assert!(s.tiers.is_empty());
    }
}
