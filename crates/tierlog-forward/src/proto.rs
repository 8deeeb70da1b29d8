//! Prometheus remote write v1 messages, as `prost` structs written by hand (no code
//! generation), and the request body: the protobuf `WriteRequest`, snappy block-compressed.
//!
//! Field numbers follow the remote write 1.0 protocol: `WriteRequest { timeseries = 1,
//! metadata = 3 }`, `TimeSeries { labels = 1, samples = 2 }`, `Label { name = 1, value = 2 }`,
//! `Sample { value = 1 (double), timestamp = 2 (int64 ms) }`, `MetricMetadata { type = 1,
//! metric_family_name = 2, help = 4, unit = 5 }`.

use prost::Message;

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

impl MetricType {
    /// The protocol's type for a store metric kind.
    pub fn from_kind(kind: tierlog::model::MetricKind) -> MetricType {
        match kind {
            tierlog::model::MetricKind::Counter => MetricType::Counter,
            tierlog::model::MetricKind::Gauge => MetricType::Gauge,
            tierlog::model::MetricKind::Unknown => MetricType::Unknown,
            // A kind added to the store later is sent as unknown until the protocol maps it.
            _ => MetricType::Unknown,
        }
    }
}

/// The HTTP body of a request: the protobuf encoding, snappy block-compressed (not the
/// framed stream format).
pub fn encode_body(req: &WriteRequest) -> Vec<u8> {
    let raw = req.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compresses any input that fits in memory")
}

/// Why a body did not decode.
#[derive(Debug)]
pub enum DecodeError {
    /// Not a snappy block.
    Snappy(snap::Error),
    /// Not a `WriteRequest`.
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

impl std::error::Error for DecodeError {}

/// Decodes a body made by [`encode_body`] (or any remote write v1 sender).
pub fn decode_body(body: &[u8]) -> Result<WriteRequest, DecodeError> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(DecodeError::Snappy)?;
    WriteRequest::decode(raw.as_slice()).map_err(DecodeError::Protobuf)
}

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
}
