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

/// A vector's or a matrix's answer (`{"status":"success","data":{"resultType":…,"result":…}}`,
/// then `"warnings"` when there are any) written straight into one buffer, as Prometheus writes
/// it: timestamps as unix seconds with three decimals when they are not whole seconds
/// (exactly, from the integer milliseconds, as its `marshalTimestamp` does), values as
/// [`write_value`]. `None` for a scalar or a string, which go through serde.
pub(crate) fn write_answer(value: &Value, warnings: &[String]) -> Option<Vec<u8>> {
    let mut out;
    match value {
        Value::Vector(v) => {
            let labels: usize = v.iter().map(|s| labels_size(&s.labels)).sum();
            out = Vec::with_capacity(96 + labels + v.len() * 64);
            out.extend_from_slice(
                br#"{"status":"success","data":{"resultType":"vector","result":["#,
            );
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"metric":"#);
                write_labels(&mut out, &x.labels);
                out.extend_from_slice(br#","value":"#);
                write_point(&mut out, x.t, x.v);
                out.push(b'}');
            }
        }
        Value::Matrix(m) => {
            let size: usize = m
                .iter()
                .map(|s| labels_size(&s.labels) + 32 + s.points.len() * 40)
                .sum();
            out = Vec::with_capacity(96 + size);
            out.extend_from_slice(
                br#"{"status":"success","data":{"resultType":"matrix","result":["#,
            );
            for (i, x) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"metric":"#);
                write_labels(&mut out, &x.labels);
                out.extend_from_slice(br#","values":["#);
                for (j, &(t, v)) in x.points.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    write_point(&mut out, t, v);
                }
                out.extend_from_slice(b"]}");
            }
        }
        Value::Scalar { .. } | Value::String { .. } => return None,
    }
    out.extend_from_slice(b"]}");
    if !warnings.is_empty() {
        out.extend_from_slice(br#","warnings":["#);
        for (i, w) in warnings.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(&mut out, w);
        }
        out.push(b']');
    }
    out.push(b'}');
    Some(out)
}

/// About the bytes `l` takes in JSON.
fn labels_size(l: &Labels) -> usize {
    2 + l.iter().map(|(k, v)| k.len() + v.len() + 6).sum::<usize>()
}

/// A label set as a JSON object.
fn write_labels(out: &mut Vec<u8>, l: &Labels) {
    out.push(b'{');
    for (i, (k, v)) in l.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        write_str(out, v);
    }
    out.push(b'}');
}

/// `[<seconds>,"<value>"]`.
fn write_point(out: &mut Vec<u8>, t: i64, v: f64) {
    out.push(b'[');
    write_timestamp(out, t);
    out.extend_from_slice(b",\"");
    write_value(out, v);
    out.extend_from_slice(b"\"]");
}

/// Milliseconds as unix seconds: `1700000000`, `1700000000.500`, `-0.030`.
fn write_timestamp(out: &mut Vec<u8>, t: i64) {
    if t < 0 {
        out.push(b'-');
    }
    let a = t.unsigned_abs();
    out.extend_from_slice(itoa::Buffer::new().format(a / 1000).as_bytes());
    let ms = a % 1000;
    if ms != 0 {
        out.extend_from_slice(&[
            b'.',
            b'0' + (ms / 100) as u8,
            b'0' + (ms / 10 % 10) as u8,
            b'0' + (ms % 10) as u8,
        ]);
    }
}

/// A JSON string as serde_json writes it: `"` and `\` escaped, control characters as `\n`,
/// `\t`, … or `\u00XX`; everything else as is.
fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut from = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                out.extend_from_slice(&b[from..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(c >> 4)],
                    HEX[usize::from(c & 15)],
                ]);
                from = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&b[from..i]);
        out.extend_from_slice(esc);
        from = i + 1;
    }
    out.extend_from_slice(&b[from..]);
    out.push(b'"');
}

/// [`format_value`] appended to `out`, without the allocation and the formatting machinery:
/// an integral value below 2^53 as an integer, any other through `zmij`'s shortest
/// round-trip digits, rewritten without an exponent.
pub(crate) fn write_value(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        return out.extend_from_slice(b"NaN");
    }
    if v.is_infinite() {
        return out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    }
    if v == 0.0 {
        return out.extend_from_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
    }
    // Below 2^53 an integral value is its own shortest round-trip decimal.
    if v.trunc() == v && v.abs() < 9_007_199_254_740_992.0 {
        out.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
        return;
    }
    let mut buf = zmij::Buffer::new();
    let s = buf.format_finite(v).as_bytes();
    if !s.contains(&b'e') {
        // Positional already, with the shortest digits; an integral value (2^53 or more)
        // ends in `.0`, which Go leaves out.
        out.extend_from_slice(s.strip_suffix(b".0").unwrap_or(s));
        return;
    }
    let (neg, s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    // `<int>[.<frac>][e(+|-)<exp>]`.
    let (mant, exp) = match s.iter().position(|&c| c == b'e') {
        Some(i) => {
            let (sign, digits) = match s.get(i + 1) {
                Some(b'-') => (-1, &s[i + 2..]),
                Some(b'+') => (1, &s[i + 2..]),
                _ => (1, &s[i + 1..]),
            };
            let e = digits
                .iter()
                .fold(0i32, |a, &d| a * 10 + i32::from(d - b'0'));
            (&s[..i], sign * e)
        }
        None => (s, 0),
    };
    let (int, frac) = match mant.iter().position(|&c| c == b'.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, &mant[mant.len()..]),
    };
    // The significant digits and where the point goes among them.
    let mut digits = [0u8; 40];
    let mut n = 0;
    for &d in int.iter().chain(frac) {
        if n < digits.len() {
            digits[n] = d;
            n += 1;
        }
    }
    let mut point = int.len() as i32 + exp;
    let mut first = 0;
    while first + 1 < n && digits[first] == b'0' {
        first += 1;
        point -= 1;
    }
    while n > first + 1 && digits[n - 1] == b'0' {
        n -= 1;
    }
    let digits = &digits[first..n];
    if neg {
        out.push(b'-');
    }
    if point <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', point.unsigned_abs() as usize));
        out.extend_from_slice(digits);
    } else if point as usize >= digits.len() {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat_n(b'0', point as usize - digits.len()));
    } else {
        let (a, b) = digits.split_at(point as usize);
        out.extend_from_slice(a);
        out.push(b'.');
        out.extend_from_slice(b);
    }
}

/// `v` as Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest decimal that reads back as
/// `v` (an exact tie rounded to even), never in exponent form; `NaN`, `+Inf`, `-Inf`. As
/// [`write_value`] writes it, so that scalars agree with vectors and matrices.
pub(crate) fn format_value(v: f64) -> String {
    let mut out = Vec::with_capacity(24);
    write_value(&mut out, v);
    // Only ASCII digits, signs, points and the special names are written.
    String::from_utf8(out).unwrap_or_default()
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

    fn value_text(v: f64) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    /// The direct writer agrees with `tierlog_promql::format_value` (Rust's shortest round-trip
    /// Display) on
    /// special values, edges of the integer path and a million doubles of every magnitude,
    /// but for exact ties between two shortest decimals, which it rounds to even as Go does.
    #[test]
    fn written_values_match_format_value() {
        let mut cases = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            -0.1,
            1.0 / 3.0,
            1e21,
            1e-7,
            1e15,
            1e16,
            1e17,
            123456789.125,
            9_007_199_254_740_991.0,
            9_007_199_254_740_992.0,
            9_007_199_254_740_994.0,
            -9_007_199_254_740_994.0,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::EPSILON,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.000001,
            0.0000001,
            1234.5e-10,
            1.5e300,
            2.5e-300,
        ];
        // xorshift64*, fixed seed: random bit patterns (every exponent) and values near
        // the sizes of metrics.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        for _ in 0..500_000 {
            cases.push(f64::from_bits(next()));
            let scale = 10f64.powi((next() % 40) as i32 - 20);
            cases.push((next() >> 11) as f64 / (1u64 << 53) as f64 * scale);
        }
        let mut ties = 0;
        for v in cases {
            let (got, display) = (value_text(v), tierlog_promql::format_value(v));
            if got == display {
                continue;
            }
            // Only a tie between two shortest decimals may differ: Rust's Display rounds it
            // up, Go (and so Prometheus) to the even digit.
            ties += 1;
            let hex = format!("{:#x}", v.to_bits());
            assert_eq!(got.len(), display.len(), "{hex}: {got} vs {display}");
            assert_eq!(got.parse::<f64>().unwrap(), v, "{hex}");
            assert_eq!(display.parse::<f64>().unwrap(), v, "{hex}");
            let last = got.bytes().last().unwrap();
            assert!(
                last.is_ascii_digit() && (last - b'0').is_multiple_of(2),
                "{hex}: {got}"
            );
        }
        // (About 0.2 % of these: checked exact ties against the exact decimal expansions.)
        assert!(ties < 10_000, "{ties} ties");
        // Exactly 153041474162321.625: Prometheus 2.42 answers that scalar with `…62`.
        let tie = f64::from_bits(0x42e1_6617_d681_d234);
        assert_eq!(value_text(tie), "153041474162321.62");
        assert_eq!(format_value(tie), "153041474162321.62");
        assert_eq!(tierlog_promql::format_value(tie), "153041474162321.63");
    }

    /// The direct writer escapes strings as serde_json does.
    #[test]
    fn written_strings_match_serde_json() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é€😀\u{2028}\"x\\");
        for s in [all.as_str(), "", "plain", "a\"b", "\n\t\r\u{1}\u{1f}\u{7f}"] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }

    /// The direct writer's answers are the serde path's, warnings included, with
    /// timestamps exact to the millisecond.
    #[test]
    fn written_answers_match_the_serde_encoding() {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            status: &'static str,
            data: QueryData<'a>,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            warnings: Vec<String>,
        }
        let l = Labels::new([("__name__", "up"), ("job", "a\"b\n"), ("é", "x")]);
        let m = Labels::new([("job", "b")]);
        let values = [
            Value::Matrix(vec![]),
            Value::Vector(vec![]),
            Value::Matrix(vec![
                Series {
                    labels: l.clone(),
                    points: vec![
                        (-1_500, 1.0),
                        (-30, -0.5),
                        (0, f64::NAN),
                        (30, f64::INFINITY),
                        (1_700_000_000_000, 1e21),
                        (1_700_000_000_001, 1e-7),
                        (1_700_000_000_123, 0.1),
                    ],
                },
                Series {
                    labels: m.clone(),
                    points: vec![(2000, 3.25)],
                },
            ]),
            Value::Vector(vec![
                Sample {
                    labels: l,
                    t: 1_700_000_000_500,
                    v: -0.0,
                },
                Sample {
                    labels: m,
                    t: -5,
                    v: 123456.789,
                },
            ]),
        ];
        for warnings in [vec![], vec!["w1".to_owned(), "a \"quoted\" one".to_owned()]] {
            for v in &values {
                let body = Body {
                    status: "success",
                    data: QueryData(v),
                    warnings: warnings.clone(),
                };
                let want = String::from_utf8(answer_to_vec(&body, v).unwrap()).unwrap();
                let got = String::from_utf8(write_answer(v, &warnings).unwrap()).unwrap();
                assert_eq!(got, want);
            }
        }
        assert!(write_answer(&Value::Scalar { t: 0, v: 1.0 }, &[]).is_none());
        // Exact where a double divided by 1000 is not: 2^53 + 1 ms.
        let mut out = Vec::new();
        write_timestamp(&mut out, 9_007_199_254_740_993);
        assert_eq!(out, b"9007199254740.993");
        out.clear();
        write_timestamp(&mut out, i64::MIN);
        assert_eq!(out, b"-9223372036854775.808");
    }

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
