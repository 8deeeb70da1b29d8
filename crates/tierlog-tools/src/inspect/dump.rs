//! `tierlog dump FILE`: every structure of one file with its offset, length and checksum status.
//! Segments are told apart by their header tier: a raw segment's chunks are shown as points,
//! a rollup segment's (`format-spec/rollup-segment.md`) as buckets.

use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};

use super::json_f64;
use tierlog::error::Result;
use tierlog::format::header::{FileKind, HEADER_LEN, Header, HeaderError};
use tierlog::index::format::IndexRecord;
use tierlog::logfile::frame::{self, FrameRead};
use tierlog::segment::codec;
use tierlog::segment::format::{self as segment, ChunkEntry, ROLLUP_TIER};
use tierlog::state::format::State;
use tierlog::wal::format as wal;

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
    Ok(dump_bytes(&tierlog::vfs::Fs::std().read(path)?))
}

fn kind_name(k: FileKind) -> &'static str {
    match k {
        FileKind::WindowLog => "window-log",
        FileKind::Segment => "segment",
        FileKind::Index => "index",
        FileKind::State => "state",
        FileKind::ForwardCheckpoint => "forward-checkpoint",
        FileKind::DeleteIntent => "delete-intent",
        FileKind::ForwardLateLog => "forward-late-log",
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
            let mut content = json!({"version": h.version, "tier": h.tier, "window_start_ms": h.window_start, "window_span_ms": h.window_span});
            let mut status = "ok".to_string();
            if kind == FileKind::Segment {
                content["segment"] = match h.tier {
                    0 => "raw",
                    ROLLUP_TIER => "rollup",
                    _ => {
                        // Readers decode any tier but 0 as buckets; this version writes only 1.
                        status = format!("unknown segment tier {} (0 raw, 1 rollup)", h.tier);
                        "rollup"
                    }
                }
                .into();
            }
            d.push("header", 0, HEADER_LEN, status, content);
            h
        }
        Err(e) => {
            d.push(
                "header",
                0,
                HEADER_LEN.min(bytes.len()),
                header_error_text(e),
                Value::Null,
            );
            return d;
        }
    };
    match kind {
        FileKind::WindowLog | FileKind::Index | FileKind::ForwardLateLog => {
            dump_log(&mut d, bytes, kind)
        }
        FileKind::ForwardCheckpoint => {
            let (status, content) = match tierlog::forward::format::Checkpoint::decode(bytes) {
                Ok(c) => (
                    "ok".to_string(),
                    json!({"watermark_ms": c.watermark, "next_series": c.next_series,
                           "sent": c.sent, "dropped": c.dropped,
                           "in_flight_end": c.in_flight.map(|(t, n)| json!({"watermark_ms": t, "next_series": n})),
                           "late_epoch": c.late_epoch, "late_offset": c.late_offset, "late_skipped": c.late_skipped}),
                ),
                Err(e) => (
                    format!("bad checkpoint body: {}", header_error_text(e)),
                    Value::Null,
                ),
            };
            d.push(
                "checkpoint",
                HEADER_LEN,
                bytes.len() - HEADER_LEN,
                status,
                content,
            );
        }
        FileKind::Segment => dump_segment(&mut d, bytes, &header),
        FileKind::DeleteIntent => {
            let (status, content) = match tierlog::store::DeleteIntent::decode(bytes) {
                Ok(i) => (
                    "ok".to_string(),
                    json!({"from_ms": i.from, "to_ms": i.to, "archive": i.archive,
                           "series": i.series}),
                ),
                Err(e) => (
                    format!("bad delete intent body: {}", header_error_text(e)),
                    Value::Null,
                ),
            };
            d.push(
                "delete-intent",
                HEADER_LEN,
                bytes.len() - HEADER_LEN,
                status,
                content,
            );
        }
        FileKind::State => {
            let (status, content) = match State::decode(bytes) {
                Ok(s) => {
                    let tiers: Vec<Value> = s
                        .tiers
                        .iter()
                        .map(|t| {
                            json!({"name": t.name, "interval_ms": t.interval, "keep_ms": t.keep,
                                   "done_through_ms": t.done_through})
                        })
                        .collect();
                    (
                        "ok".to_string(),
                        json!({"clock_high_water_ms": s.clock_high_water, "sealed_through_ms": s.sealed_through,
                               "tiers": tiers}),
                    )
                }
                Err(e) => (
                    format!("bad state body: {}", header_error_text(e)),
                    Value::Null,
                ),
            };
            d.push(
                "state",
                HEADER_LEN,
                bytes.len() - HEADER_LEN,
                status,
                content,
            );
        }
    }
    d
}

fn header_error_text(e: HeaderError) -> String {
    match e {
        HeaderError::WrongMagic { .. } => "wrong magic".to_string(),
        HeaderError::NewerVersion { found, supported } => {
            format!("format version {found} is newer than this build ({supported})")
        }
        HeaderError::Corrupt(c) => c.to_string(),
    }
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
                    FileKind::WindowLog | FileKind::ForwardLateLog
                        if payload.first() == Some(&3) =>
                    {
                        match tierlog::wal::format::decode_late_generation(payload) {
                            Ok(g) => (
                                "ok".to_string(),
                                json!({"record": "generation", "generation": g}),
                            ),
                            Err(e) => (e.to_string(), Value::Null),
                        }
                    }
                    FileKind::WindowLog | FileKind::ForwardLateLog => {
                        let mut samples = Vec::new();
                        let mut deleted = None;
                        let mut key = None;
                        match wal::decode_logged(
                            payload,
                            |k| key = Some(k),
                            |s| samples.push(json!([s.series, s.ts_ms, json_f64(s.value)])),
                            |d| deleted = Some(d),
                        ) {
                            Ok(()) => match deleted {
                                Some(d) => (
                                    "ok".to_string(),
                                    json!({"record": "delete", "from_ms": d.from, "to_ms": d.to, "series": d.series}),
                                ),
                                None => match key {
                                    Some(k) => (
                                        "ok".to_string(),
                                        json!({"record": "keyed samples", "key": k.iter().map(|b| format!("{b:02x}")).collect::<String>(), "samples": samples}),
                                    ),
                                    None => (
                                        "ok".to_string(),
                                        json!({"record": "samples", "samples": samples}),
                                    ),
                                },
                            },
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
                            json!({"record": "series", "id": id, "metric": metric, "hash": format!("{hash:016x}"), "labels": labels.to_pairs()}),
                        ),
                        Ok(IndexRecord::SeriesRemoved { id }) => {
                            ("ok".into(), json!({"record": "series_removed", "id": id}))
                        }
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
    let rollup = header.tier != 0;
    for e in &footer.entries {
        let len = e.len as usize + 4;
        let (status, content) = match segment::chunk_bytes(bytes, e) {
            Ok(_) if rollup => rollup_chunk(bytes, e),
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
            Err(c) if rollup => (
                c.to_string(),
                json!({"series": e.series, "buckets": e.points, "min_start_ms": e.min_ts, "max_start_ms": e.max_ts}),
            ),
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
        if rollup {
            // Time whose buckets were computed without damaged raw data (version 2).
            let partial: Vec<Value> = footer
                .partial
                .iter()
                .map(|&(from, to)| json!({"from_ms": from, "to_ms": to}))
                .collect();
            json!({"entries": footer.entries.len(), "partial": partial})
        } else {
            json!({"entries": footer.entries.len()})
        },
    );
    d.push(
        "trailer",
        trailer_off,
        segment::TRAILER_LEN,
        "ok".into(),
        if rollup {
            json!({"buckets": footer.points})
        } else {
            json!({"points": footer.points})
        },
    );
}

/// Names of the values of each bucket in a rollup chunk's `data`.
const BUCKET_COLUMNS: [&str; 10] = [
    "t",
    "count",
    "nan_count",
    "min",
    "max",
    "sum",
    "p95",
    "first",
    "last",
    "increase",
];

/// Status and content of a rollup chunk whose checksum is good: its buckets, one array per
/// bucket in the order of [`BUCKET_COLUMNS`] (`increase` is null for a gauge).
fn rollup_chunk(bytes: &[u8], e: &ChunkEntry) -> (String, Value) {
    let chunk = &bytes[e.offset as usize..e.offset as usize + e.len as usize];
    let mut buckets = Vec::new();
    // On error read_rollup_chunk leaves `buckets` empty.
    let status = match segment::read_rollup_chunk(bytes, e, &mut buckets) {
        Ok(()) => "ok".to_string(),
        Err(c) => c.to_string(),
    };
    let data: Vec<Value> = buckets
        .iter()
        .map(|b| {
            json!([
                b.start,
                b.count,
                b.nan_count,
                json_f64(b.min),
                json_f64(b.max),
                json_f64(b.sum),
                json_f64(b.p95),
                json_f64(b.first),
                json_f64(b.last),
                b.increase.map(json_f64)
            ])
        })
        .collect();
    (
        status,
        json!({"series": e.series, "buckets": e.points, "min_start_ms": e.min_ts, "max_start_ms": e.max_ts,
               "flags": chunk.first(), "same": chunk.get(1), "bytes": e.len,
               "columns": BUCKET_COLUMNS, "data": data}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierlog::logfile::frame::encode_frame;

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
    fn dumps_a_keyed_samples_record_with_its_key() {
        let mut b = Header::new(FileKind::WindowLog, 0, 0, 600_000)
            .encode()
            .to_vec();
        let mut p = Vec::new();
        let key: [u8; 16] = std::array::from_fn(|i| i as u8 * 17);
        wal::encode_keyed_samples(
            &key,
            &[wal::LoggedSample {
                series: 3,
                ts_ms: 7,
                value: 2.5,
            }],
            &mut p,
        );
        encode_frame(&p, &mut b);
        let d = dump_bytes(&b);
        assert_eq!(d.problems, 0);
        assert_eq!(d.items[1].content["record"], "keyed samples");
        assert_eq!(
            d.items[1].content["key"],
            "00112233445566778899aabbccddeeff"
        );
        assert_eq!(d.items[1].content["samples"][0][0], 3);
    }

    fn bucket(start: i64, v: f64, increase: Option<f64>) -> tierlog::rollup::Bucket {
        tierlog::rollup::Bucket {
            start,
            count: 1,
            nan_count: 0,
            min: v,
            max: v,
            sum: v,
            first: v,
            last: v,
            p95: v,
            increase,
        }
    }

    /// A rollup segment (tier 1) of two series; the second chunk's buckets have increases.
    fn rollup_segment(tier: u16) -> Vec<u8> {
        let start = 1_699_999_200_000;
        let mut b =
            segment::SegmentBuilder::new(Header::new(FileKind::Segment, tier, start, 600_000));
        for (id, buckets) in [
            (
                2,
                vec![
                    bucket(start, 1.5, None),
                    bucket(start + 10_000, f64::NAN, None),
                ],
            ),
            (7, vec![bucket(start + 590_000, 4.0, Some(4.0))]),
        ] {
            let mut chunk = Vec::new();
            tierlog::rollup::format::encode_chunk(&buckets, start, &mut chunk);
            let last = buckets[buckets.len() - 1].start;
            b.add_chunk(id, buckets.len() as u32, buckets[0].start, last, &chunk);
        }
        b.finish()
    }

    #[test]
    fn dumps_the_buckets_of_a_rollup_segment() {
        let file = rollup_segment(ROLLUP_TIER);
        let d = dump_bytes(&file);
        assert_eq!(d.file_kind, "segment");
        assert_eq!(d.problems, 0, "{:?}", d.items);
        let kinds: Vec<&str> = d.items.iter().map(|i| i.kind).collect();
        assert_eq!(kinds, ["header", "chunk", "chunk", "footer", "trailer"]);
        assert_eq!(d.items[0].content["segment"], "rollup");
        let c = &d.items[1].content;
        assert_eq!(c["series"], 2);
        assert_eq!(c["buckets"], 2);
        assert_eq!(c["columns"][6], "p95");
        assert_eq!(
            c["data"][0],
            json!([
                1_699_999_200_000i64,
                1,
                0,
                1.5,
                1.5,
                1.5,
                1.5,
                1.5,
                1.5,
                null
            ])
        );
        assert_eq!(c["data"][1][3], "NaN");
        let c = &d.items[2].content;
        assert_eq!(c["min_start_ms"], 1_699_999_790_000i64);
        assert_eq!(c["data"][0][9], 4.0);
        assert_eq!(d.items[4].content, json!({"buckets": 3}));

        // A damaged chunk is a problem, the other chunk still dumps.
        let mut m = file.clone();
        m[HEADER_LEN + 2] ^= 0x20;
        let d = dump_bytes(&m);
        assert_eq!(d.problems, 1);
        assert_ne!(d.items[1].status, "ok");
        assert_eq!(d.items[2].status, "ok");
    }

    #[test]
    fn a_segment_of_an_unknown_tier_is_a_problem() {
        let d = dump_bytes(&rollup_segment(2));
        assert_eq!(d.problems, 1);
        assert!(
            d.items[0].status.contains("unknown segment tier 2"),
            "{}",
            d.items[0].status
        );
        assert_eq!(d.items[1].status, "ok");
    }

    #[test]
    fn dumps_the_tiers_of_a_state_file() {
        let s = State {
            window_span: 600_000,
            clock_high_water: 5,
            sealed_through: 600_000,
            tiers: vec![tierlog::state::format::TierState {
                name: "1h".into(),
                interval: 3_600_000,
                keep: 86_400_000,
                done_through: 3_600_000,
            }],
            retention: None,
            identity: None,
        };
        let d = dump_bytes(&s.encode());
        assert_eq!(d.problems, 0);
        assert_eq!(
            d.items[1].content["tiers"],
            json!([{"name": "1h", "interval_ms": 3_600_000, "keep_ms": 86_400_000, "done_through_ms": 3_600_000}])
        );
        let mut b = s.encode();
        b[50] = 0; // empty tier name
        let d = dump_bytes(&b);
        assert_eq!(d.problems, 1);
        assert!(
            d.items[1].status.starts_with("bad state body"),
            "{}",
            d.items[1].status
        );
    }

    #[test]
    fn unknown_files_are_reported_not_misread() {
        let d = dump_bytes(b"hello world, this is not ours at all");
        assert_eq!(d.file_kind, "unknown");
        assert_eq!(d.problems, 1);
    }
}
