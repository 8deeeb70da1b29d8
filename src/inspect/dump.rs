//! `tierlog dump FILE`: every structure of one file with its offset, length and checksum status.

use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};

use super::json_f64;
use crate::error::Result;
use crate::format::codec;
use crate::format::frame::{self, FrameRead};
use crate::format::header::{FileKind, HEADER_LEN, Header, HeaderError};
use crate::format::index::IndexRecord;
use crate::format::segment;
use crate::format::state::State;
use crate::format::wal;

/// One structure of a file.
#[derive(Debug, Clone, Serialize)]
pub struct DumpItem {
    /// What it is: "header", "frame", "chunk", "footer", "trailer", "state", "garbage".
    pub kind: &'static str,
    /// File offset of its first byte.
    pub offset: u64,
    /// Length in bytes (including its own header and checksum).
    pub len: u64,
    /// "ok", or what is wrong.
    pub status: String,
    /// Decoded content.
    pub content: Value,
}

/// The dump of one file.
#[derive(Debug, Clone, Serialize)]
pub struct Dump {
    /// The file kind by magic ("window-log", "segment", "index", "state"), or "unknown".
    pub file_kind: &'static str,
    /// File size.
    pub size: u64,
    /// Items in file order.
    pub items: Vec<DumpItem>,
    /// Number of items whose status is not "ok".
    pub problems: u64,
}

/// Reads and dumps `path`.
pub fn dump_file(path: &Path) -> Result<Dump> {
    Ok(dump_bytes(&crate::io::read(path)?))
}

fn kind_name(k: FileKind) -> &'static str {
    match k {
        FileKind::WindowLog => "window-log",
        FileKind::Segment => "segment",
        FileKind::Index => "index",
        FileKind::State => "state",
    }
}

/// Dumps the bytes of a tierlog file of any kind (found by its magic).
pub fn dump_bytes(bytes: &[u8]) -> Dump {
    let mut d = Dump {
        file_kind: "unknown",
        size: bytes.len() as u64,
        items: Vec::new(),
        problems: 0,
    };
    let Some(kind) = FileKind::from_magic(&bytes[..bytes.len().min(8)]) else {
        d.push(
            "garbage",
            0,
            bytes.len(),
            "not a tierlog file (unknown magic)".into(),
            Value::Null,
        );
        return d;
    };
    d.file_kind = kind_name(kind);
    let header = match Header::decode(bytes, kind) {
        Ok(h) => {
            d.push(
                "header",
                0,
                HEADER_LEN,
                "ok".into(),
                json!({"version": h.version, "tier": h.tier, "window_start_ms": h.window_start, "window_span_ms": h.window_span}),
            );
            h
        }
        Err(e) => {
            let status = match e {
                HeaderError::WrongMagic { .. } => "wrong magic".to_string(),
                HeaderError::NewerVersion { found, supported } => {
                    format!("format version {found} is newer than this build ({supported})")
                }
                HeaderError::Corrupt(c) => c.to_string(),
            };
            d.push(
                "header",
                0,
                HEADER_LEN.min(bytes.len()),
                status,
                Value::Null,
            );
            return d;
        }
    };
    match kind {
        FileKind::WindowLog | FileKind::Index => dump_log(&mut d, bytes, kind),
        FileKind::Segment => dump_segment(&mut d, bytes, &header),
        FileKind::State => match State::decode(bytes) {
            Ok(s) => d.push(
                "state",
                HEADER_LEN,
                bytes.len() - HEADER_LEN,
                "ok".into(),
                json!({"clock_high_water_ms": s.clock_high_water, "sealed_through_ms": s.sealed_through}),
            ),
            Err(_) => d.push("state", HEADER_LEN, bytes.len() - HEADER_LEN, "bad state body".into(), Value::Null),
        },
    }
    d
}

impl Dump {
    fn push(
        &mut self,
        kind: &'static str,
        offset: usize,
        len: usize,
        status: String,
        content: Value,
    ) {
        if status != "ok" {
            self.problems += 1;
        }
        self.items.push(DumpItem {
            kind,
            offset: offset as u64,
            len: len as u64,
            status,
            content,
        });
    }
}

fn dump_log(d: &mut Dump, bytes: &[u8], kind: FileKind) {
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        match frame::read_frame(&bytes[pos..]) {
            FrameRead::Frame { payload, len } => {
                let (status, content) = match kind {
                    FileKind::WindowLog => {
                        let mut samples = Vec::new();
                        match wal::decode_record(payload, |s| {
                            samples.push(json!([s.series, s.ts_ms, json_f64(s.value)]))
                        }) {
                            Ok(()) => (
                                "ok".to_string(),
                                json!({"record": "samples", "samples": samples}),
                            ),
                            Err(e) => (e.to_string(), Value::Null),
                        }
                    }
                    _ => match IndexRecord::decode(payload) {
                        Ok(IndexRecord::Metric {
                            id,
                            kind,
                            name,
                            unit,
                            description,
                        }) => (
                            "ok".into(),
                            json!({"record": "metric", "id": id, "kind": kind.as_str(), "name": name, "unit": unit, "description": description}),
                        ),
                        Ok(IndexRecord::Series {
                            id,
                            metric,
                            hash,
                            labels,
                        }) => (
                            "ok".into(),
                            json!({"record": "series", "id": id, "metric": metric, "hash": format!("{hash:016x}"), "labels": labels}),
                        ),
                        Err(e) => (e.to_string(), Value::Null),
                    },
                };
                d.push("frame", pos, len, status, content);
                pos += len;
            }
            FrameRead::Incomplete => {
                d.push(
                    "frame",
                    pos,
                    bytes.len() - pos,
                    "incomplete frame (torn tail)".into(),
                    Value::Null,
                );
                return;
            }
            FrameRead::Bad(c) => {
                // Report the damage, then resume at the next valid frame.
                let len =
                    frame::next_valid(bytes, pos + 1).map_or(bytes.len() - pos, |(at, _)| at - pos);
                d.push("garbage", pos, len, format!("bad frame: {c}"), Value::Null);
                pos += len;
            }
        }
    }
}

fn dump_segment(d: &mut Dump, bytes: &[u8], header: &Header) {
    let footer = match segment::decode_footer(bytes, header) {
        Ok(f) => f,
        Err((offset, c)) => {
            d.push(
                "footer",
                offset as usize,
                bytes.len() - offset as usize,
                c.to_string(),
                Value::Null,
            );
            return;
        }
    };
    for e in &footer.entries {
        let len = e.len as usize + 4;
        let (status, content) = match segment::chunk_bytes(bytes, e) {
            Ok(chunk) => {
                let mut ts = Vec::new();
                let mut vs = Vec::new();
                let ts_codec = codec::timestamp_codec_name(chunk).unwrap_or("?");
                let value_codec = codec::decode_timestamps(chunk, &mut Vec::new())
                    .ok()
                    .and_then(|n| codec::value_codec_name(&chunk[n..]))
                    .unwrap_or("?");
                // On error read_raw_chunk leaves `ts` and `vs` empty.
                let status = match segment::read_raw_chunk(bytes, e, &mut ts, &mut vs) {
                    Ok(()) => "ok".to_string(),
                    Err(c) => c.to_string(),
                };
                let points: Vec<Value> = ts
                    .iter()
                    .zip(&vs)
                    .map(|(t, v)| json!([t, json_f64(*v)]))
                    .collect();
                (
                    status,
                    json!({"series": e.series, "points": e.points, "min_ts_ms": e.min_ts, "max_ts_ms": e.max_ts,
                           "ts_codec": ts_codec, "value_codec": value_codec, "bytes": e.len, "data": points}),
                )
            }
            Err(c) => (
                c.to_string(),
                json!({"series": e.series, "points": e.points, "min_ts_ms": e.min_ts, "max_ts_ms": e.max_ts}),
            ),
        };
        d.push("chunk", e.offset as usize, len, status, content);
    }
    let trailer_off = bytes.len() - segment::TRAILER_LEN;
    d.push(
        "footer",
        footer.footer_offset as usize,
        trailer_off - footer.footer_offset as usize,
        "ok".into(),
        json!({"entries": footer.entries.len()}),
    );
    d.push(
        "trailer",
        trailer_off,
        segment::TRAILER_LEN,
        "ok".into(),
        json!({"points": footer.points}),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::frame::encode_frame;

    #[test]
    fn dumps_a_log_with_a_torn_tail() {
        let mut b = Header::new(FileKind::WindowLog, 0, 0, 600_000)
            .encode()
            .to_vec();
        let mut p = Vec::new();
        wal::encode_samples(
            &[wal::LoggedSample {
                series: 1,
                ts_ms: 5,
                value: f64::NAN,
            }],
            &mut p,
        );
        encode_frame(&p, &mut b);
        b.extend_from_slice(&[1, 2, 3]);
        let d = dump_bytes(&b);
        assert_eq!(d.file_kind, "window-log");
        assert_eq!(d.items.len(), 3);
        assert_eq!(d.items[1].offset, 32);
        assert_eq!(d.items[1].content["samples"][0][2], "NaN");
        assert_eq!(d.items[2].status, "incomplete frame (torn tail)");
        assert_eq!(d.problems, 1);
    }

    #[test]
    fn unknown_files_are_reported_not_misread() {
        let d = dump_bytes(b"hello world, this is not ours at all");
        assert_eq!(d.file_kind, "unknown");
        assert_eq!(d.problems, 1);
    }
}
