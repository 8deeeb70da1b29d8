//! Prometheus' remote-write 1.0 and remote-read messages as `prost` structs written by hand
//! (no code generation, no build script), and the snappy block-compressed bodies both
//! protocols send.
//!
//! Field numbers follow Prometheus' `prompb/types.proto` and `prompb/remote.proto`:
//!
//! - Remote write: `WriteRequest { timeseries = 1, metadata = 3 }`, `TimeSeries { labels = 1,
//!   samples = 2 }`, `Label { name = 1, value = 2 }`, `Sample { value = 1 (double),
//!   timestamp = 2 (int64 ms) }`, `MetricMetadata { type = 1, metric_family_name = 2,
//!   help = 4, unit = 5 }`.
//! - Remote read: `ReadRequest { queries = 1, accepted_response_types = 2 (packed enum:
//!   SAMPLES = 0, STREAMED_XOR_CHUNKS = 1) }`, `Query { start_timestamp_ms = 1,
//!   end_timestamp_ms = 2, matchers = 3, hints = 4 }`, `LabelMatcher { type = 1 (EQ = 0,
//!   NEQ = 1, RE = 2, NRE = 3), name = 2, value = 3 }`, `ReadHints { step_ms = 1, func = 2,
//!   start_ms = 3, end_ms = 4, grouping = 5, by = 6, range_ms = 7 }`, `ReadResponse {
//!   results = 1 }`, `QueryResult { timeseries = 1 }`, `ChunkedReadResponse {
//!   chunked_series = 1, query_index = 2 }`, `ChunkedSeries { labels = 1, chunks = 2 }`,
//!   `Chunk { min_time_ms = 1, max_time_ms = 2, type = 3 (XOR = 1), data = 4 }`.
//!
//! Fields these messages do not declare (exemplars, native histograms) are skipped when
//! decoding, as protobuf does with unknown fields.
#![deny(unsafe_code)]
#![warn(missing_docs)]

use prost::Message;

// ---- Remote write -------------------------------------------------------------------------

/// The request: series with their samples, and metric metadata.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    /// Series, each with its labels and samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metadata of the metric families the series belong to.
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// One series: labels sorted by name (`__name__` among them), samples in time order.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    /// Labels, sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<ProtoSample>,
}

/// A label pair.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct Label {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// A sample.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoSample {
    /// Value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since 1970.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Metadata of a metric family.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct MetricMetadata {
    /// The kind (`MetricType`).
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    /// The family's name.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// Help text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// Unit.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// `MetricMetadata.MetricType` of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// Unknown.
    Unknown = 0,
    /// Counter.
    Counter = 1,
    /// Gauge.
    Gauge = 2,
    /// Histogram.
    Histogram = 3,
    /// Gauge histogram.
    Gaugehistogram = 4,
    /// Summary.
    Summary = 5,
    /// Info.
    Info = 6,
    /// State set.
    Stateset = 7,
}

// ---- Remote read --------------------------------------------------------------------------

/// A remote-read request: queries, and the response types the client takes, in order of
/// preference (none = [`ResponseType::Samples`]).
#[derive(Clone, PartialEq, Message)]
pub struct ReadRequest {
    /// The queries, answered in this order.
    #[prost(message, repeated, tag = "1")]
    pub queries: Vec<Query>,
    /// [`ResponseType`]s the client accepts, preferred first.
    #[prost(enumeration = "ResponseType", repeated, tag = "2")]
    pub accepted_response_types: Vec<i32>,
}

/// `ReadRequest.ResponseType` of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ResponseType {
    /// One [`ReadResponse`] with raw samples (`application/x-protobuf`, snappy).
    Samples = 0,
    /// A stream of [`ChunkedReadResponse`] frames with XOR chunks
    /// (`application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse`).
    StreamedXorChunks = 1,
}

/// One query: the series every matcher accepts, their samples with `start <= t <= end`.
#[derive(Clone, PartialEq, Message)]
pub struct Query {
    /// First millisecond, inclusive.
    #[prost(int64, tag = "1")]
    pub start_timestamp_ms: i64,
    /// Last millisecond, inclusive.
    #[prost(int64, tag = "2")]
    pub end_timestamp_ms: i64,
    /// Label matchers; a series must satisfy all of them.
    #[prost(message, repeated, tag = "3")]
    pub matchers: Vec<LabelMatcher>,
    /// What the query is for (advisory).
    #[prost(message, optional, tag = "4")]
    pub hints: Option<ReadHints>,
}

/// A label matcher.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct LabelMatcher {
    /// The operator ([`MatchType`]).
    #[prost(enumeration = "MatchType", tag = "1")]
    pub r#type: i32,
    /// Label name (`__name__` for the metric name).
    #[prost(string, tag = "2")]
    pub name: String,
    /// The value, or the regex (RE2 syntax, anchored at both ends).
    #[prost(string, tag = "3")]
    pub value: String,
}

/// `LabelMatcher.Type` of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MatchType {
    /// `=`.
    Eq = 0,
    /// `!=`.
    Neq = 1,
    /// `=~`.
    Re = 2,
    /// `!~`.
    Nre = 3,
}

/// What the client will do with the data; a server may ignore it.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct ReadHints {
    /// Query step, ms.
    #[prost(int64, tag = "1")]
    pub step_ms: i64,
    /// The function or aggregation around the selector.
    #[prost(string, tag = "2")]
    pub func: String,
    /// Start, ms.
    #[prost(int64, tag = "3")]
    pub start_ms: i64,
    /// End, ms.
    #[prost(int64, tag = "4")]
    pub end_ms: i64,
    /// Label names of the aggregation.
    #[prost(string, repeated, tag = "5")]
    pub grouping: Vec<String>,
    /// `by` (true) or `without`.
    #[prost(bool, tag = "6")]
    pub by: bool,
    /// Range of a range selector, ms.
    #[prost(int64, tag = "7")]
    pub range_ms: i64,
}

/// The samples response: one result per query, in the request's order.
#[derive(Clone, PartialEq, Message)]
pub struct ReadResponse {
    /// Results, one per query.
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<QueryResult>,
}

/// The series of one query, each with its samples in time order.
#[derive(Clone, PartialEq, Message)]
pub struct QueryResult {
    /// Series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// One frame of the streamed response: series (sorted by labels) of one query.
#[derive(Clone, PartialEq, Message)]
pub struct ChunkedReadResponse {
    /// Series with their chunks.
    #[prost(message, repeated, tag = "1")]
    pub chunked_series: Vec<ChunkedSeries>,
    /// Index of the query in [`ReadRequest::queries`].
    #[prost(int64, tag = "2")]
    pub query_index: i64,
}

/// A series and its chunks, oldest first.
#[derive(Clone, PartialEq, Message)]
pub struct ChunkedSeries {
    /// Labels, sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Chunks, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub chunks: Vec<Chunk>,
}

/// An encoded chunk of samples.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct Chunk {
    /// Time of its first sample, ms.
    #[prost(int64, tag = "1")]
    pub min_time_ms: i64,
    /// Time of its last sample, ms.
    #[prost(int64, tag = "2")]
    pub max_time_ms: i64,
    /// The encoding ([`ChunkEncoding`]).
    #[prost(enumeration = "ChunkEncoding", tag = "3")]
    pub r#type: i32,
    /// The chunk's bytes.
    #[prost(bytes = "vec", tag = "4")]
    pub data: Vec<u8>,
}

/// `Chunk.Encoding` of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ChunkEncoding {
    /// Unknown.
    Unknown = 0,
    /// Prometheus' XOR float chunk.
    Xor = 1,
}

// ---- Bodies -------------------------------------------------------------------------------

/// A message as an HTTP body: its protobuf encoding, snappy block-compressed (not the framed
/// stream format).
pub fn encode_snappy(m: &impl Message) -> Vec<u8> {
    let raw = m.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compresses any input that fits in memory")
}

/// Decodes a body made by [`encode_snappy`] (or by Prometheus).
pub fn decode_snappy<M: Message + Default>(body: &[u8]) -> Result<M, DecodeError> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(DecodeError::Snappy)?;
    M::decode(raw.as_slice()).map_err(DecodeError::Protobuf)
}

/// The HTTP body of a remote-write request (see [`encode_snappy`]).
pub fn encode_body(req: &WriteRequest) -> Vec<u8> {
    encode_snappy(req)
}

/// Decodes a remote-write body made by [`encode_body`] (or any remote write v1 sender).
pub fn decode_body(body: &[u8]) -> Result<WriteRequest, DecodeError> {
    decode_snappy(body)
}

/// Why a body did not decode.
#[derive(Debug)]
pub enum DecodeError {
    /// Not a snappy block.
    Snappy(snap::Error),
    /// Not the expected message.
    Protobuf(prost::DecodeError),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Snappy(e) => write!(f, "snappy: {e}"),
            DecodeError::Protobuf(e) => write!(f, "protobuf: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecodeError::Snappy(e) => Some(e),
            DecodeError::Protobuf(e) => Some(e),
        }
    }
}

// ---- Streamed frames -----------------------------------------------------------------------

/// Appends one frame of a streamed remote-read answer (`STREAMED_XOR_CHUNKS`):
/// `uvarint(len)`, the message's CRC-32C (Castagnoli) as a big-endian `u32`, the message.
pub fn push_frame(out: &mut Vec<u8>, msg: &[u8]) {
    let mut n = msg.len() as u64;
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(&crc32c::crc32c(msg).to_be_bytes());
    out.extend_from_slice(msg);
}

/// The first frame of `buf` (as [`push_frame`] writes them): its message, its checksum
/// checked, and the bytes after it.
pub fn next_frame(buf: &[u8]) -> Result<(&[u8], &[u8]), FrameError> {
    let mut len = 0u64;
    let mut at = 0;
    loop {
        let &b = buf.get(at).ok_or(FrameError::Truncated)?;
        if at == 9 && b > 1 {
            return Err(FrameError::BadLength);
        }
        len |= u64::from(b & 0x7f) << (7 * at);
        at += 1;
        if b < 0x80 {
            break;
        }
        if at == 10 {
            return Err(FrameError::BadLength);
        }
    }
    let rest = &buf[at..];
    let len = usize::try_from(len).map_err(|_| FrameError::BadLength)?;
    if rest.len() < 4 || rest.len() - 4 < len {
        return Err(FrameError::Truncated);
    }
    let crc = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let msg = &rest[4..4 + len];
    if crc32c::crc32c(msg) != crc {
        return Err(FrameError::Checksum);
    }
    Ok((msg, &rest[4 + len..]))
}

/// Why a frame did not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The bytes end inside the frame.
    Truncated,
    /// The length is not a uvarint of at most 64 bits that fits in memory.
    BadLength,
    /// The message does not match its CRC-32C.
    Checksum,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FrameError::Truncated => "frame cut short",
            FrameError::BadLength => "frame length is not a valid uvarint",
            FrameError::Checksum => "frame message does not match its CRC-32C",
        })
    }
}

impl std::error::Error for FrameError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// One request encoded by hand, field by field, from the protocol's field numbers and
    /// protobuf's wire rules (key = field << 3 | wire type; 2 = length-delimited, 1 = 64-bit,
    /// 0 = varint).
    #[test]
    fn golden_write_request() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "up".into(),
                    },
                    Label {
                        name: "job".into(),
                        value: "a".into(),
                    },
                ],
                samples: vec![ProtoSample {
                    value: 1.5,
                    timestamp: 1_700_000_000_000,
                }],
            }],
            metadata: vec![MetricMetadata {
                r#type: MetricType::Gauge as i32,
                metric_family_name: "up".into(),
                help: "h".into(),
                unit: "s".into(),
            }],
        };
        let mut label1 = vec![0x0a, 8];
        label1.extend_from_slice(b"__name__");
        label1.extend_from_slice(&[0x12, 2]);
        label1.extend_from_slice(b"up");
        let mut label2 = vec![0x0a, 3];
        label2.extend_from_slice(b"job");
        label2.extend_from_slice(&[0x12, 1, b'a']);
        // Sample: value (field 1, 64-bit) 1.5 = 0x3FF8000000000000 LE; timestamp (field 2,
        // varint) 1_700_000_000_000 = 0x18BCFE56800.
        let mut sample = vec![0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f];
        sample.extend_from_slice(&[0x10, 0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31]);
        let mut series = Vec::new();
        for (tag, m) in [(0x0a, &label1), (0x0a, &label2), (0x12, &sample)] {
            series.push(tag);
            series.push(m.len() as u8);
            series.extend_from_slice(m);
        }
        // Metadata: type (field 1, varint) 2, name (2) "up", help (4) "h", unit (5) "s".
        let mut meta = vec![0x08, 2, 0x12, 2, b'u', b'p', 0x22, 1, b'h', 0x2a, 1, b's'];
        let mut expected = vec![0x0a, series.len() as u8];
        expected.append(&mut series);
        expected.push(0x1a);
        expected.push(meta.len() as u8);
        expected.append(&mut meta);
        assert_eq!(req.encode_to_vec(), expected);
        let body = encode_body(&req);
        assert_eq!(
            snap::raw::Decoder::new().decompress_vec(&body).unwrap(),
            expected
        );
        assert_eq!(decode_body(&body).unwrap(), req);
    }

    #[test]
    fn bad_bodies_are_errors() {
        assert!(matches!(
            decode_body(&[0xff, 0xff, 0xff]),
            Err(DecodeError::Snappy(_))
        ));
        let body = snap::raw::Encoder::new()
            .compress_vec(&[0x0a, 9, 1])
            .unwrap();
        assert!(matches!(decode_body(&body), Err(DecodeError::Protobuf(_))));
    }

    /// A read request encoded by hand: one query (start 1000 = varint e8 07, end 2000 =
    /// d0 0f) with one matcher `job=~"a.*"` (type RE = 2; EQ = 0 would be left out, as
    /// proto3 omits zero values), and the response types [STREAMED_XOR_CHUNKS, SAMPLES]
    /// packed (key 0x12, length 2, then one varint each), as Prometheus' Go encoder writes
    /// repeated enums.
    #[test]
    fn golden_read_request() {
        let req = ReadRequest {
            queries: vec![Query {
                start_timestamp_ms: 1000,
                end_timestamp_ms: 2000,
                matchers: vec![LabelMatcher {
                    r#type: MatchType::Re as i32,
                    name: "job".into(),
                    value: "a.*".into(),
                }],
                hints: None,
            }],
            accepted_response_types: vec![
                ResponseType::StreamedXorChunks as i32,
                ResponseType::Samples as i32,
            ],
        };
        let matcher = [
            0x08, 0x02, 0x12, 3, b'j', b'o', b'b', 0x1a, 3, b'a', b'.', b'*',
        ];
        let mut query = vec![
            0x08,
            0xe8,
            0x07,
            0x10,
            0xd0,
            0x0f,
            0x1a,
            matcher.len() as u8,
        ];
        query.extend_from_slice(&matcher);
        let mut expected = vec![0x0a, query.len() as u8];
        expected.extend_from_slice(&query);
        expected.extend_from_slice(&[0x12, 2, 0x01, 0x00]);
        assert_eq!(req.encode_to_vec(), expected);
        assert_eq!(ReadRequest::decode(expected.as_slice()).unwrap(), req);
        // Unpacked (one key per value) decodes the same, as protobuf requires.
        let mut unpacked = vec![0x0a, query.len() as u8];
        unpacked.extend_from_slice(&query);
        unpacked.extend_from_slice(&[0x10, 0x01, 0x10, 0x00]);
        assert_eq!(ReadRequest::decode(unpacked.as_slice()).unwrap(), req);
        // Hints (field 4) with step_ms 15000 (field 1, varint 98 75) and func "rate" (2).
        let with_hints = Query {
            hints: Some(ReadHints {
                step_ms: 15_000,
                func: "rate".into(),
                ..ReadHints::default()
            }),
            ..Query::default()
        };
        assert_eq!(
            with_hints.encode_to_vec(),
            [0x22, 9, 0x08, 0x98, 0x75, 0x12, 4, b'r', b'a', b't', b'e']
        );
    }

    /// A samples response by hand: results[0].timeseries[0] with label `a="b"` and the
    /// sample 1.5 @ 1000 (value: field 1, 64-bit little endian; timestamp: field 2 varint).
    #[test]
    fn golden_read_response() {
        let resp = ReadResponse {
            results: vec![QueryResult {
                timeseries: vec![TimeSeries {
                    labels: vec![Label {
                        name: "a".into(),
                        value: "b".into(),
                    }],
                    samples: vec![ProtoSample {
                        value: 1.5,
                        timestamp: 1000,
                    }],
                }],
            }],
        };
        let label = [0x0a, 1, b'a', 0x12, 1, b'b'];
        let sample = [0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x10, 0xe8, 0x07];
        let mut series = vec![0x0a, label.len() as u8];
        series.extend_from_slice(&label);
        series.push(0x12);
        series.push(sample.len() as u8);
        series.extend_from_slice(&sample);
        let mut result = vec![0x0a, series.len() as u8];
        result.extend_from_slice(&series);
        let mut expected = vec![0x0a, result.len() as u8];
        expected.extend_from_slice(&result);
        assert_eq!(resp.encode_to_vec(), expected);
        let body = encode_snappy(&resp);
        assert_eq!(decode_snappy::<ReadResponse>(&body).unwrap(), resp);
    }

    /// A streamed frame's message by hand: one series `{__name__="up"}` with one XOR chunk
    /// (min 1000, max 2000, type 1, data 00 01) of query 1.
    #[test]
    fn golden_chunked_read_response() {
        let resp = ChunkedReadResponse {
            chunked_series: vec![ChunkedSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                chunks: vec![Chunk {
                    min_time_ms: 1000,
                    max_time_ms: 2000,
                    r#type: ChunkEncoding::Xor as i32,
                    data: vec![0x00, 0x01],
                }],
            }],
            query_index: 1,
        };
        let mut label = vec![0x0a, 8];
        label.extend_from_slice(b"__name__");
        label.extend_from_slice(&[0x12, 2, b'u', b'p']);
        let chunk = [
            0x08, 0xe8, 0x07, 0x10, 0xd0, 0x0f, 0x18, 0x01, 0x22, 2, 0x00, 0x01,
        ];
        let mut series = vec![0x0a, label.len() as u8];
        series.extend_from_slice(&label);
        series.push(0x12);
        series.push(chunk.len() as u8);
        series.extend_from_slice(&chunk);
        let mut expected = vec![0x0a, series.len() as u8];
        expected.extend_from_slice(&series);
        expected.extend_from_slice(&[0x10, 0x01]);
        assert_eq!(resp.encode_to_vec(), expected);
        assert_eq!(
            ChunkedReadResponse::decode(expected.as_slice()).unwrap(),
            resp
        );
    }

    /// Frames read back what was pushed, in order; a cut, a flipped message byte and an
    /// overlong length are refused. The check value of CRC-32C is 0xE3069283.
    #[test]
    fn frames_round_trip_and_refuse_damage() {
        let mut buf = Vec::new();
        push_frame(&mut buf, b"123456789");
        push_frame(&mut buf, &[7u8; 300]);
        push_frame(&mut buf, b"");
        assert_eq!(&buf[..5], &[9, 0xe3, 0x06, 0x92, 0x83]);
        let (a, rest) = next_frame(&buf).unwrap();
        let (b, rest) = next_frame(rest).unwrap();
        let (c, rest) = next_frame(rest).unwrap();
        assert_eq!(
            (a, b, c, rest),
            (&b"123456789"[..], &[7u8; 300][..], &b""[..], &b""[..])
        );
        for cut in 0..14 {
            assert_eq!(next_frame(&buf[..cut]), Err(FrameError::Truncated), "{cut}");
        }
        let mut bad = buf.clone();
        bad[7] ^= 1;
        assert_eq!(next_frame(&bad), Err(FrameError::Checksum));
        assert_eq!(next_frame(&[0xff; 11]), Err(FrameError::BadLength));
    }
}
