//! Prometheus remote write v1 messages and bodies, from [`tierlog_prompb`] (re-exported here
//! so that `tierlog_forward::proto` keeps naming them), and the mapping of the store's metric
//! kinds to the protocol's types.

pub use tierlog_prompb::{
    DecodeError, Label, MetricMetadata, MetricType, ProtoSample, TimeSeries, WriteRequest,
    decode_body, encode_body,
};

/// The protocol's type for a store metric kind.
pub fn metric_type(kind: tierlog::model::MetricKind) -> MetricType {
    match kind {
        tierlog::model::MetricKind::Counter => MetricType::Counter,
        tierlog::model::MetricKind::Gauge => MetricType::Gauge,
        tierlog::model::MetricKind::Unknown => MetricType::Unknown,
        // A kind added to the store later is sent as unknown until the protocol maps it.
        _ => MetricType::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_protocol_types() {
        use tierlog::model::MetricKind;
        assert_eq!(metric_type(MetricKind::Counter), MetricType::Counter);
        assert_eq!(metric_type(MetricKind::Gauge), MetricType::Gauge);
        assert_eq!(metric_type(MetricKind::Unknown), MetricType::Unknown);
    }
}
