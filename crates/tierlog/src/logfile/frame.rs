//! Log frames: the unit of append in window logs and the index. See `format-spec/frames.md`.
//!
//! ```text
//! offset size field
//!  0     4    payload length n, u32 LE (1 ..= MAX_PAYLOAD)
//!  4     4    CRC-32C of the payload, u32 LE
//!  8     4    CRC-32C of bytes 0..8 (the header check), u32 LE
//! 12     n    payload
//! ```
//!
//! The header check lets a scanner tell a frame boundary from arbitrary bytes cheaply, which
//! is how damage in the middle of a log is told apart from a torn tail.

use crate::error::Corruption;
use crate::format::crc;

/// Bytes before the payload.
pub const FRAME_HEADER_LEN: usize = 12;
/// Largest payload a frame may carry (64 MiB).
pub const MAX_PAYLOAD: usize = 64 << 20;

/// Appends one frame carrying `payload` to `out`.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    encode_frame_with(out, |o| o.extend_from_slice(payload));
}

/// Appends one frame to `out` whose payload is what `write` appends to the vector it is given,
/// encoding the payload in place (no copy from a separate buffer).
pub fn encode_frame_with(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    write(out);
    let payload = &out[at + FRAME_HEADER_LEN..];
    assert!(
        !payload.is_empty() && payload.len() <= MAX_PAYLOAD,
        "frame payload size"
    );
    let len = (payload.len() as u32).to_le_bytes();
    let pcrc = crc(payload).to_le_bytes();
    let h = &mut out[at..at + FRAME_HEADER_LEN];
    h[0..4].copy_from_slice(&len);
    h[4..8].copy_from_slice(&pcrc);
    let hc = crc(&h[0..8]);
    h[8..12].copy_from_slice(&hc.to_le_bytes());
}

/// The outcome of reading one frame at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameRead<'a> {
    /// A valid frame; `len` is its total size including the header.
    Frame { payload: &'a [u8], len: usize },
    /// The buffer ends inside the frame (or its header): possibly a torn tail.
    Incomplete,
    /// The bytes here are not a valid frame.
    Bad(Corruption),
}

/// Reads the frame at the start of `buf`.
pub fn read_frame(buf: &[u8]) -> FrameRead<'_> {
    if buf.len() < FRAME_HEADER_LEN {
        return FrameRead::Incomplete;
    }
    let len = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
    let pcrc = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    let hcrc = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
    let actual = crc(&buf[0..8]);
    if actual != hcrc {
        return FrameRead::Bad(Corruption::Checksum {
            expected: hcrc,
            actual,
        });
    }
    if len == 0 || len > MAX_PAYLOAD {
        return FrameRead::Bad(Corruption::BadLength {
            what: "frame payload",
            value: len as u64,
        });
    }
    if buf.len() - FRAME_HEADER_LEN < len {
        return FrameRead::Incomplete;
    }
    let payload = &buf[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len];
    let actual = crc(payload);
    if actual != pcrc {
        return FrameRead::Bad(Corruption::Checksum {
            expected: pcrc,
            actual,
        });
    }
    FrameRead::Frame {
        payload,
        len: FRAME_HEADER_LEN + len,
    }
}

/// Where the valid frames of a log end, and what follows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// The log ends exactly after its last valid frame.
    Clean,
    /// The bytes after the last valid frame hold no valid frame: the normal result of a crash
    /// during an append. They are dropped (truncated by a writer).
    Torn {
        offset: usize,
        len: usize,
        what: Corruption,
    },
    /// A bad frame is followed by valid frames: damage, not a crash artifact.
    Damaged {
        offset: usize,
        what: Corruption,
        /// Offsets (in the buffer) and lengths of the valid frames found after the damage.
        later_frames: Vec<(usize, usize)>,
    },
}

/// The result of scanning a log body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// `(offset, total length)` of each valid frame before any damage, in order.
    pub frames: Vec<(usize, usize)>,
    /// End of the last valid frame of that prefix.
    pub valid_end: usize,
    /// What follows.
    pub tail: Tail,
}

/// Scans `buf` (a log body, after the file header) frame by frame.
pub fn scan(buf: &[u8]) -> Scan {
    let mut frames = Vec::new();
    let mut pos = 0usize;
    loop {
        if pos == buf.len() {
            return Scan {
                frames,
                valid_end: pos,
                tail: Tail::Clean,
            };
        }
        match read_frame(&buf[pos..]) {
            FrameRead::Frame { len, .. } => {
                frames.push((pos, len));
                pos += len;
            }
            FrameRead::Incomplete => {
                let what = Corruption::Truncated {
                    needed: frame_len_hint(&buf[pos..]) as u64,
                    available: (buf.len() - pos) as u64,
                };
                return Scan {
                    frames,
                    valid_end: pos,
                    tail: Tail::Torn {
                        offset: pos,
                        len: buf.len() - pos,
                        what,
                    },
                };
            }
            FrameRead::Bad(what) => {
                let later = resync(buf, pos + 1);
                let tail = if later.is_empty() {
                    Tail::Torn {
                        offset: pos,
                        len: buf.len() - pos,
                        what,
                    }
                } else {
                    Tail::Damaged {
                        offset: pos,
                        what,
                        later_frames: later,
                    }
                };
                return Scan {
                    frames,
                    valid_end: pos,
                    tail,
                };
            }
        }
    }
}

fn frame_len_hint(buf: &[u8]) -> usize {
    if buf.len() < 4 {
        return FRAME_HEADER_LEN;
    }
    FRAME_HEADER_LEN + u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes")) as usize
}

/// Finds every valid frame at or after `from`: at each offset a frame whose header check and
/// payload checksum both hold; after one is found, scanning continues right after it.
fn resync(buf: &[u8], from: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = from;
    while let Some((at, len)) = next_valid(buf, pos) {
        out.push((at, len));
        pos = at + len;
    }
    out
}

/// The first valid frame at or after `from`, as `(offset, total length)`.
pub fn next_valid(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut pos = from;
    while pos + FRAME_HEADER_LEN <= buf.len() {
        if let FrameRead::Frame { len, .. } = read_frame(&buf[pos..]) {
            return Some((pos, len));
        }
        pos += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(payloads: &[&[u8]]) -> Vec<u8> {
        let mut b = Vec::new();
        for p in payloads {
            encode_frame(p, &mut b);
        }
        b
    }

    #[test]
    fn golden_frame() {
        let mut b = Vec::new();
        encode_frame(b"abc", &mut b);
        let pcrc = crc32c::crc32c(b"abc");
        let mut expected = vec![3, 0, 0, 0];
        expected.extend_from_slice(&pcrc.to_le_bytes());
        let hcrc = crc32c::crc32c(&expected);
        expected.extend_from_slice(&hcrc.to_le_bytes());
        expected.extend_from_slice(b"abc");
        assert_eq!(b, expected);
        // CRC-32C check value of "abc" pins the checksum algorithm itself.
        assert_eq!(pcrc, 0x364b_3fb7);
    }

    #[test]
    fn clean_log_scans_all_frames() {
        let b = log(&[b"one", b"two", b"three"]);
        let s = scan(&b);
        assert_eq!(s.frames.len(), 3);
        assert_eq!(s.valid_end, b.len());
        assert_eq!(s.tail, Tail::Clean);
    }

    #[test]
    fn every_truncation_of_the_last_frame_is_a_torn_tail() {
        let b = log(&[b"first", b"second frame"]);
        let first_len = FRAME_HEADER_LEN + 5;
        for cut in first_len + 1..b.len() {
            let s = scan(&b[..cut]);
            assert_eq!(s.frames.len(), 1, "cut at {cut}");
            assert_eq!(s.valid_end, first_len);
            assert!(matches!(s.tail, Tail::Torn { offset, .. } if offset == first_len));
        }
    }

    #[test]
    fn a_flipped_bit_in_the_middle_is_damage_and_at_the_end_is_torn() {
        let b = log(&[b"aaaa", b"bbbb", b"cccc"]);
        let flen = FRAME_HEADER_LEN + 4;
        for bit in 0..flen * 8 {
            let mut m = b.clone();
            m[flen + bit / 8] ^= 1 << (bit % 8);
            let s = scan(&m);
            assert_eq!(s.frames.len(), 1, "bit {bit}");
            match &s.tail {
                Tail::Damaged {
                    offset,
                    later_frames,
                    ..
                } => {
                    assert_eq!(*offset, flen);
                    assert_eq!(later_frames, &vec![(2 * flen, flen)]);
                }
                other => panic!("bit {bit}: expected damage, got {other:?}"),
            }
            let mut m = b.clone();
            m[2 * flen + bit / 8] ^= 1 << (bit % 8);
            let s = scan(&m);
            assert_eq!(s.frames.len(), 2);
            assert!(
                matches!(s.tail, Tail::Torn { .. }),
                "bit {bit}: {:?}",
                s.tail
            );
        }
    }

    #[test]
    fn zero_fill_after_the_last_frame_is_torn() {
        let mut b = log(&[b"x"]);
        b.extend_from_slice(&[0u8; 100]);
        let s = scan(&b);
        assert_eq!(s.frames.len(), 1);
        assert!(matches!(s.tail, Tail::Torn { .. }));
    }
}
