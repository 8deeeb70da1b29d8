//! Prometheus' XOR chunk encoding (`tsdb/chunkenc`'s `XORChunk`), written for the streamed
//! remote-read response, and the response's frames.
//!
//! A chunk is a big-endian `u16` sample count, then a bit stream (most significant bit of
//! each byte first, the last byte padded with zeros):
//!
//! - sample 0: its time as a signed varint (zig-zag LEB128, each byte 8 bits of the stream,
//!   not necessarily byte-aligned), its value's 64 bits;
//! - sample 1: the time delta `t1 - t0` as an unsigned varint, then the value as below;
//! - each later sample: the delta of deltas `dod = (t - t_prev) - (t_prev - t_prev2)` as `0`
//!   (dod 0), `10` + 14 bits, `110` + 17 bits, `1110` + 20 bits (two's complement, for dod in
//!   `-(2^(n-1) - 1) ..= 2^(n-1)`), or `1111` + 64 bits; then the value;
//! - a value: `x = bits(v) ^ bits(v_prev)`; `0` when `x` is 0; else `1` then either `0` + the
//!   `64 - L - T` meaningful bits of `x >> T` with the previous window's leading zeros `L` and
//!   trailing zeros `T` (when `x` has at least as many of each, and a window exists), or `1`,
//!   5 bits of `x`'s leading zeros (at most 31), 6 bits of the meaningful bit count (64
//!   written as 0) and those bits, which become the window.
//!
//! A frame of the stream is the message's length as an unsigned varint, the CRC-32C
//! (Castagnoli) of the message as a big-endian `u32`, then the message.

/// Most samples in one chunk, as Prometheus' head cuts them.
pub(crate) const MAX_SAMPLES_PER_CHUNK: usize = 120;

/// Bits written most significant first.
struct Bits {
    bytes: Vec<u8>,
    /// Bits free in the last byte (0 = a new byte is needed for the next bit).
    free: u32,
}

impl Bits {
    fn with_header(count: u16) -> Bits {
        Bits {
            bytes: count.to_be_bytes().to_vec(),
            free: 0,
        }
    }

    /// The `n` low bits of `v`, most significant first (`n <= 64`).
    fn push(&mut self, v: u64, n: u32) {
        let mut left = n;
        while left > 0 {
            if self.free == 0 {
                self.bytes.push(0);
                self.free = 8;
            }
            let take = left.min(self.free);
            let shifted = if left >= 64 {
                v
            } else {
                v & ((1u64 << left) - 1)
            };
            let part = (shifted >> (left - take)) & ((1u64 << take) - 1);
            let last = self.bytes.len() - 1;
            self.bytes[last] |= (part as u8) << (self.free - take);
            self.free -= take;
            left -= take;
        }
    }

    fn push_uvarint(&mut self, mut x: u64) {
        while x >= 0x80 {
            self.push((x as u8 | 0x80) as u64, 8);
            x >>= 7;
        }
        self.push(x, 8);
    }
}

/// Whether `x` fits the `n`-bit bucket of the delta of deltas.
fn fits(x: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    -(half - 1) <= x && x <= half
}

/// Encodes `points` (time order, at most `u16::MAX`) as one XOR chunk.
pub(crate) fn encode_chunk(points: &[(i64, f64)]) -> Vec<u8> {
    let count = u16::try_from(points.len()).expect("a chunk holds at most 65535 samples");
    let mut b = Bits::with_header(count);
    let (mut t_prev, mut delta_prev, mut v_prev) = (0i64, 0u64, 0u64);
    // The leading/trailing zeros window of the value XORs; none yet.
    let mut window: Option<(u32, u32)> = None;
    for (i, &(t, v)) in points.iter().enumerate() {
        let bits = v.to_bits();
        match i {
            0 => {
                b.push_uvarint(((t << 1) ^ (t >> 63)) as u64);
                b.push(bits, 64);
            }
            _ => {
                let delta = t.wrapping_sub(t_prev) as u64;
                if i == 1 {
                    b.push_uvarint(delta);
                } else {
                    let dod = delta.wrapping_sub(delta_prev) as i64;
                    if dod == 0 {
                        b.push(0, 1);
                    } else if fits(dod, 14) {
                        b.push(0b10, 2);
                        b.push(dod as u64, 14);
                    } else if fits(dod, 17) {
                        b.push(0b110, 3);
                        b.push(dod as u64, 17);
                    } else if fits(dod, 20) {
                        b.push(0b1110, 4);
                        b.push(dod as u64, 20);
                    } else {
                        b.push(0b1111, 4);
                        b.push(dod as u64, 64);
                    }
                }
                delta_prev = delta;
                let x = bits ^ v_prev;
                if x == 0 {
                    b.push(0, 1);
                } else {
                    b.push(1, 1);
                    let lead = x.leading_zeros().min(31);
                    let trail = x.trailing_zeros();
                    match window {
                        Some((l, tr)) if lead >= l && trail >= tr => {
                            b.push(0, 1);
                            b.push(x >> tr, 64 - l - tr);
                        }
                        _ => {
                            let sig = 64 - lead - trail;
                            b.push(1, 1);
                            b.push(lead as u64, 5);
                            b.push((sig % 64) as u64, 6);
                            b.push(x >> trail, sig);
                            window = Some((lead, trail));
                        }
                    }
                }
            }
        }
        t_prev = t;
        v_prev = bits;
    }
    b.bytes
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A decoder written from the layout in the module docs, independent of the encoder.
    pub(crate) fn decode(chunk: &[u8]) -> Vec<(i64, f64)> {
        struct R<'a> {
            b: &'a [u8],
            pos: usize,
        }
        impl R<'_> {
            fn bit(&mut self) -> u64 {
                let byte = self.b[self.pos / 8];
                let bit = (byte >> (7 - self.pos % 8)) & 1;
                self.pos += 1;
                bit as u64
            }
            fn bits(&mut self, n: u32) -> u64 {
                (0..n).fold(0, |acc, _| (acc << 1) | self.bit())
            }
            fn uvarint(&mut self) -> u64 {
                let mut x = 0u64;
                for shift in (0..).step_by(7) {
                    let byte = self.bits(8);
                    x |= (byte & 0x7f) << shift;
                    if byte < 0x80 {
                        break;
                    }
                }
                x
            }
        }
        let n = u16::from_be_bytes([chunk[0], chunk[1]]) as usize;
        let mut r = R {
            b: &chunk[2..],
            pos: 0,
        };
        let mut out: Vec<(i64, f64)> = Vec::new();
        let (mut t, mut delta, mut v) = (0i64, 0i64, 0u64);
        let (mut lead, mut trail) = (0u32, 0u32);
        for i in 0..n {
            if i == 0 {
                let z = r.uvarint();
                t = ((z >> 1) as i64) ^ -((z & 1) as i64);
                v = r.bits(64);
                out.push((t, f64::from_bits(v)));
                continue;
            }
            if i == 1 {
                delta = r.uvarint() as i64;
            } else {
                let mut prefix = 0;
                while prefix < 4 && r.bit() == 1 {
                    prefix += 1;
                }
                let dod = match prefix {
                    0 => 0,
                    4 => r.bits(64) as i64,
                    p => {
                        let n = [14, 17, 20][p - 1];
                        let raw = r.bits(n) as i64;
                        if raw > 1 << (n - 1) {
                            raw - (1 << n)
                        } else {
                            raw
                        }
                    }
                };
                delta += dod;
            }
            t += delta;
            if r.bit() == 1 {
                if r.bit() == 1 {
                    lead = r.bits(5) as u32;
                    let mut sig = r.bits(6) as u32;
                    if sig == 0 {
                        sig = 64;
                    }
                    trail = 64 - lead - sig;
                }
                let x = r.bits(64 - lead - trail) << trail;
                v ^= x;
            }
            out.push((t, f64::from_bits(v)));
        }
        // Only padding is left.
        assert!(
            chunk.len() - 2 == r.pos.div_ceil(8),
            "{} bytes, {} bits read",
            chunk.len(),
            r.pos
        );
        out
    }

    /// Three samples by hand: count 00 03; t0 = 1000 as zig-zag varint (2000 = d0 0f); 1.0 =
    /// 3ff0000000000000; delta 1000 as uvarint (e8 07); v1 = v0: bit 0; dod 0: bit 0; v2 =
    /// 2.0: x = 7ff0000000000000 (1 leading, 52 trailing zeros), no window yet: bits 1 1,
    /// 00001, 001011 (11 meaningful bits), 11111111111. So 0011 0000, 1001 0111, 1111 1111,
    /// 11 + padding: 30 97 ff c0.
    #[test]
    fn golden_tiny_chunk() {
        let points = [(1000, 1.0), (2000, 1.0), (3000, 2.0)];
        let want = [
            0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xe8, 0x07, 0x30, 0x97, 0xff,
            0xc0,
        ];
        assert_eq!(encode_chunk(&points), want);
        assert_eq!(decode(&want), points);
    }

    #[test]
    fn chunks_round_trip_through_the_independent_decoder() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let specials = [
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            f64::MAX,
            1e-300,
        ];
        for case in 0..300 {
            let n = 1 + (next() % MAX_SAMPLES_PER_CHUNK as u64) as usize;
            let mut t = (next() % 4_000_000_000_000) as i64 - 1_000_000_000_000;
            let mut v = 0.0f64;
            let mut points = Vec::with_capacity(n);
            for _ in 0..n {
                points.push((t, v));
                // Regular steps, jitter, and jumps over every dod bucket.
                t += match next() % 6 {
                    0 | 1 => 1000,
                    2 => 1 + (next() % 10) as i64,
                    3 => (next() % 100_000) as i64,
                    4 => (next() % 1_000_000) as i64,
                    _ => (next() % 10_000_000_000) as i64,
                };
                v = match next() % 5 {
                    0 => v,
                    1 => v + 1.0,
                    2 => specials[(next() % specials.len() as u64) as usize],
                    3 => f64::from_bits(next()),
                    _ => (next() % 1000) as f64 / 8.0,
                };
            }
            let got = decode(&encode_chunk(&points));
            assert_eq!(got.len(), points.len(), "case {case}");
            for (g, p) in got.iter().zip(&points) {
                assert!(
                    g.0 == p.0 && g.1.to_bits() == p.1.to_bits(),
                    "case {case}: {g:?} != {p:?}"
                );
            }
        }
    }

    /// CRC-32C bit by bit (reflected polynomial 0x82f63b78), for the frame check.
    pub(crate) fn crc32c_slow(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0x82f6_3b78
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// The chunks of a TSDB block's chunk files: `magic 85bd40dd, version 1, 3 bytes padding`,
    /// then per chunk `uvarint(len) ++ encoding byte ++ data ++ crc32c(encoding ++ data)`.
    fn block_chunks(file: &[u8]) -> Vec<Vec<u8>> {
        assert_eq!(file[..5], [0x85, 0xbd, 0x40, 0xdd, 1]);
        let mut out = Vec::new();
        let mut at = 8;
        while at < file.len() {
            let (mut len, mut shift) = (0usize, 0);
            loop {
                let b = file[at];
                at += 1;
                len |= ((b & 0x7f) as usize) << shift;
                if b < 0x80 {
                    break;
                }
                shift += 7;
            }
            assert_eq!(file[at], 1, "an XOR chunk");
            let data = &file[at + 1..at + 1 + len];
            let crc = u32::from_be_bytes(file[at + 1 + len..at + 5 + len].try_into().unwrap());
            assert_eq!(crc, crc32c_slow(&file[at..at + 1 + len]));
            out.push(data.to_vec());
            at += 5 + len;
        }
        out
    }

    /// Prometheus' own encoder as the reference: promtool turns samples into a TSDB block;
    /// each of its XOR chunks decodes (with the decoder above) to the samples given, and this
    /// encoder makes the same bytes from them (Prometheus' bit stream may end with one more,
    /// empty byte). Skipped, with a message, when promtool is absent.
    #[test]
    fn chunks_are_the_bytes_prometheus_writes() {
        let bin = std::env::var("TIERLOG_PROMTOOL").unwrap_or_else(|_| "/usr/bin/promtool".into());
        if !std::path::Path::new(&bin).exists() {
            println!("SKIPPED: {bin} is absent (install the Debian package `prometheus`)");
            return;
        }
        let dir = tierlog_testkit::helpers::fast_tempdir();
        // Inside one 2-hour block; steps of 15 s with jitter, gaps over every dod bucket,
        // values repeating, stepping, and arbitrary.
        let mut t: i64 = 1_700_006_400_000 + 60_000;
        let mut points = Vec::new();
        let mut text = String::from("# TYPE m gauge\n");
        for k in 0..250i64 {
            let v = match k % 9 {
                0 | 1 => 1.0,
                2 => k as f64 * 0.1,
                3 => -(k as f64) / 7.0,
                4 => 1e300 / (k + 1) as f64,
                5 => 0.0,
                _ => (k * k) as f64,
            };
            points.push((t, v));
            text.push_str(&format!(
                "m{{a=\"b\"}} {v:e} {}.{:03}\n",
                t / 1000,
                t % 1000
            ));
            t += match k % 11 {
                _ if k == 100 => 600_000,
                3 => 15_000 + 7,
                5 => 15_000 - 3_000,
                7 => 100_000,
                9 => 2,
                _ => 15_000,
            };
        }
        assert!(t < 1_700_006_400_000 + 7_200_000, "one block");
        text.push_str("# EOF\n");
        let input = dir.path().join("in.om");
        std::fs::write(&input, text).unwrap();
        let out = dir.path().join("blocks");
        let st = std::process::Command::new(&bin)
            .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
            .arg(&input)
            .arg(&out)
            .output()
            .expect("run promtool");
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let mut chunks = Vec::new();
        for block in std::fs::read_dir(&out).unwrap() {
            let cdir = block.unwrap().path().join("chunks");
            if !cdir.is_dir() {
                continue;
            }
            let mut files: Vec<_> = std::fs::read_dir(&cdir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            for f in files {
                chunks.extend(block_chunks(&std::fs::read(f).unwrap()));
            }
        }
        assert!(chunks.len() >= 3, "{} chunks", chunks.len());
        let mut decoded = Vec::new();
        for c in &chunks {
            let samples = decode(c);
            let mine = encode_chunk(&samples);
            let theirs: &[u8] = if c.len() == mine.len() + 1 && c[c.len() - 1] == 0 {
                &c[..mine.len()]
            } else {
                c
            };
            assert_eq!(mine, theirs, "{} samples", samples.len());
            decoded.extend(samples);
        }
        assert_eq!(decoded.len(), points.len());
        for (d, p) in decoded.iter().zip(&points) {
            assert!(
                d.0 == p.0 && d.1.to_bits() == p.1.to_bits(),
                "{d:?} != {p:?}"
            );
        }
    }

    #[test]
    fn frames_are_length_checksum_message() {
        assert_eq!(crc32c_slow(b"123456789"), 0xe306_9283);
        let msg: Vec<u8> = (0..200u8).collect();
        let mut out = vec![0xaa];
        tierlog_prompb::push_frame(&mut out, &msg);
        // 200 = uvarint c8 01.
        assert_eq!(&out[..3], [0xaa, 0xc8, 0x01]);
        assert_eq!(out[3..7], crc32c_slow(&msg).to_be_bytes());
        assert_eq!(&out[7..], &msg[..]);
    }
}
