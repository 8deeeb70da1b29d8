//! Values in JSON as Prometheus' API writes them: timestamps as unix seconds (an integer, or
//! a number with three decimals in vectors and matrices, as few as needed in scalars and
//! strings), values as strings in Go's `strconv.FormatFloat(v, 'f', -1, 64)`
//! form (`NaN`, `+Inf`, `-Inf`).

use serde::ser::{Serialize, SerializeMap, SerializeSeq, SerializeStruct, Serializer};
use tierlog_promql::{Labels, Sample, Series, Value};

/// serde_json's compact output with every float written with three decimals
/// (`1700000000.500`, `-0.030`): how Prometheus writes the timestamps of vectors and matrices
/// that are not whole seconds (its `marshalTimestamp`; whole seconds are integers, as
/// [`Timestamp`] writes them). Scalars and strings it writes through Go's `encoding/json`
/// (`1700000000.03`), which is serde_json's own form.
struct PaddedTimestamps;

impl serde_json::ser::Formatter for PaddedTimestamps {
    fn write_f64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f64) -> std::io::Result<()> {
        write!(w, "{v:.3}")
    }
}

/// A query answer (`{"status":…,"data":{"resultType":…,…}}` around `value`) in JSON, written
/// as Prometheus writes it: with [`PaddedTimestamps`] for a vector or a matrix, whose only
/// floats are timestamps.
pub(crate) fn answer_to_vec<T: Serialize>(body: &T, value: &Value) -> serde_json::Result<Vec<u8>> {
    match value {
        Value::Vector(_) | Value::Matrix(_) => {
            let mut out = Vec::new();
            body.serialize(&mut serde_json::Serializer::with_formatter(
                &mut out,
                PaddedTimestamps,
            ))?;
            Ok(out)
        }
        Value::Scalar { .. } | Value::String { .. } => serde_json::to_vec(body),
    }
}

/// `v` as Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest decimal that reads back as
/// `v`, never in exponent form; `NaN`, `+Inf`, `-Inf`.
pub(crate) fn format_value(v: f64) -> String {
    tierlog_promql::format_value(v)
}

/// A timestamp in ms, written as unix seconds: `1700000000`, `1700000000.5`, `-1.25`.
pub(crate) struct Timestamp(pub i64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 {
            s.serialize_i64(self.0 / 1000)
        } else {
            // The shortest decimal of the nearest double is the ms value over 1000.
            s.serialize_f64(self.0 as f64 / 1000.0)
        }
    }
}

/// `[<seconds>, "<value>"]`.
pub(crate) struct Point(pub i64, pub f64);

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(2))?;
        seq.serialize_element(&Timestamp(self.0))?;
        seq.serialize_element(&format_value(self.1))?;
        seq.end()
    }
}

/// A label set as a JSON object.
pub(crate) struct LabelsJson<'a>(pub &'a Labels);

impl Serialize for LabelsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

struct VectorJson<'a>(&'a [Sample]);

impl Serialize for VectorJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for x in self.0 {
            seq.serialize_element(&SampleJson(x))?;
        }
        seq.end()
    }
}

struct SampleJson<'a>(&'a Sample);

impl Serialize for SampleJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Sample", 2)?;
        st.serialize_field("metric", &LabelsJson(&self.0.labels))?;
        st.serialize_field("value", &Point(self.0.t, self.0.v))?;
        st.end()
    }
}

struct MatrixJson<'a>(&'a [Series]);

impl Serialize for MatrixJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for x in self.0 {
            seq.serialize_element(&SeriesJson(x))?;
        }
        seq.end()
    }
}

struct SeriesJson<'a>(&'a Series);

impl Serialize for SeriesJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Series", 2)?;
        st.serialize_field("metric", &LabelsJson(&self.0.labels))?;
        st.serialize_field("values", &PointsJson(&self.0.points))?;
        st.end()
    }
}

struct PointsJson<'a>(&'a [(i64, f64)]);

impl Serialize for PointsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for &(t, v) in self.0 {
            seq.serialize_element(&Point(t, v))?;
        }
        seq.end()
    }
}

/// The `data` of a query answer: `{"resultType": …, "result": …}`.
pub(crate) struct QueryData<'a>(pub &'a Value);

impl Serialize for QueryData<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("QueryData", 2)?;
        st.serialize_field("resultType", self.0.type_name())?;
        match self.0 {
            Value::Scalar { t, v } => st.serialize_field("result", &Point(*t, *v))?,
            Value::String { t, s } => st.serialize_field("result", &(Timestamp(*t), s))?,
            Value::Vector(v) => st.serialize_field("result", &VectorJson(v))?,
            Value::Matrix(m) => st.serialize_field("result", &MatrixJson(m))?,
        }
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_as_go_formats_them() {
        let cases = [
            (2.0, "2"),
            (-0.0, "-0"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (1e21, "1000000000000000000000"),
            (1e-7, "0.0000001"),
            (123456789.125, "123456789.125"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::MAX, &format!("17976931348623157{}", "0".repeat(292))),
        ];
        for (v, want) in cases {
            assert_eq!(format_value(v), want, "{v:e}");
        }
    }

    #[test]
    fn timestamps_as_seconds() {
        let j = |t| serde_json::to_string(&Timestamp(t)).unwrap();
        assert_eq!(j(1_700_000_000_000), "1700000000");
        assert_eq!(j(1_700_000_000_500), "1700000000.5");
        assert_eq!(j(1_700_000_000_123), "1700000000.123");
        assert_eq!(j(1_700_000_000_001), "1700000000.001");
        assert_eq!(j(-1250), "-1.25");
        assert_eq!(j(0), "0");
    }

    #[test]
    fn vector_and_matrix_timestamps_are_padded_as_prometheus_writes_them() {
        let l = Labels::new([("__name__", "up")]);
        let j = |v: &Value| String::from_utf8(answer_to_vec(&QueryData(v), v).unwrap()).unwrap();
        // As Prometheus 2.42 answered `vector(time())`, `up[1m]`, `time()` and `"a"`.
        assert_eq!(
            j(&Value::Vector(vec![Sample {
                labels: l.clone(),
                t: 1_700_000_000_500,
                v: 0.5
            }])),
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up"},"value":[1700000000.500,"0.5"]}]}"#
        );
        assert_eq!(
            j(&Value::Matrix(vec![Series {
                labels: l,
                points: vec![(-30, 1.0), (0, 2.0), (30, 3.0), (1_700_000_001_000, 4.0)]
            }])),
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"up"},"values":[[-0.030,"1"],[0,"2"],[0.030,"3"],[1700000001,"4"]]}]}"#
        );
        assert_eq!(
            j(&Value::Scalar {
                t: 1_700_000_000_030,
                v: 1.0
            }),
            r#"{"resultType":"scalar","result":[1700000000.03,"1"]}"#
        );
        assert_eq!(
            j(&Value::String {
                t: -30,
                s: "a".into()
            }),
            r#"{"resultType":"string","result":[-0.03,"a"]}"#
        );
    }

    #[test]
    fn query_data_of_each_type() {
        let l = Labels::new([("__name__", "up"), ("job", "a")]);
        let j = |v: &Value| serde_json::to_string(&QueryData(v)).unwrap();
        assert_eq!(
            j(&Value::Scalar { t: 1500, v: 2.0 }),
            r#"{"resultType":"scalar","result":[1.5,"2"]}"#
        );
        assert_eq!(
            j(&Value::String {
                t: 1000,
                s: "hi".into()
            }),
            r#"{"resultType":"string","result":[1,"hi"]}"#
        );
        assert_eq!(
            j(&Value::Vector(vec![Sample {
                labels: l.clone(),
                t: 2000,
                v: f64::NAN
            }])),
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[2,"NaN"]}]}"#
        );
        assert_eq!(
            j(&Value::Matrix(vec![Series {
                labels: l,
                points: vec![(1000, 1.0), (2000, 0.5)]
            }])),
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"up","job":"a"},"values":[[1,"1"],[2,"0.5"]]}]}"#
        );
        assert_eq!(
            j(&Value::Matrix(vec![])),
            r#"{"resultType":"matrix","result":[]}"#
        );
    }
}
