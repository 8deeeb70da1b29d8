//! Records of the sidecar index (`index.log`): metric and series definitions, one per frame.
//! See `format-spec/index.md`.
//!
//! ```text
//! Metric record                              Series record
//!  type u8 = 1                                type u8 = 2
//!  metric id u32 LE                           series id u32 LE
//!  kind u8 (0 unknown, 1 counter, 2 gauge)    metric id u32 LE
//!  name: len u16 LE + UTF-8                   label hash u64 LE (FNV-1a, see model::label_hash)
//!  unit: len u16 LE + UTF-8                   label count u16 LE
//!  description: len u32 LE + UTF-8            count × { name: len u16 + UTF-8, value: len u16 + UTF-8 }
//! ```
//! A later metric record with the same id replaces the metadata of the earlier one.
//!
//! Series-removed record (type 3): `type u8 = 3, series id u32 LE` — retention removed the
//! series (no samples left anywhere); its id, live or not, is reserved: never used again.

use crate::error::Corruption;
use crate::format::bytes::{Reader, put_str16, put_str32};
use crate::model::{Labels, MetricKind};

/// Record type byte of a metric record.
pub const RECORD_METRIC: u8 = 1;
/// Record type byte of a series record.
pub const RECORD_SERIES: u8 = 2;
/// Record type byte of a series-removed record.
pub const RECORD_SERIES_REMOVED: u8 = 3;

/// A decoded index record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexRecord {
    /// Defines (or updates the metadata of) a metric.
    Metric {
        id: u32,
        kind: MetricKind,
        name: String,
        unit: String,
        description: String,
    },
    /// Defines a series.
    Series {
        id: u32,
        metric: u32,
        hash: u64,
        labels: Labels,
    },
    /// Removes a series whose samples have all expired; reserves its id (live or not), which
    /// is never reused.
    SeriesRemoved { id: u32 },
}

impl IndexRecord {
    /// Appends the record's payload to `out`. Strings must fit their length prefixes (the
    /// store's limits guarantee it).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            IndexRecord::SeriesRemoved { id } => {
                out.push(RECORD_SERIES_REMOVED);
                out.extend_from_slice(&id.to_le_bytes());
            }
            IndexRecord::Metric {
                id,
                kind,
                name,
                unit,
                description,
            } => {
                out.push(RECORD_METRIC);
                out.extend_from_slice(&id.to_le_bytes());
                out.push(kind.code());
                put_str16(out, name);
                put_str16(out, unit);
                put_str32(out, description);
            }
            IndexRecord::Series {
                id,
                metric,
                hash,
                labels,
            } => {
                out.push(RECORD_SERIES);
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(&metric.to_le_bytes());
                out.extend_from_slice(&hash.to_le_bytes());
                out.extend_from_slice(&(labels.len() as u16).to_le_bytes());
                for (k, v) in labels.iter() {
                    put_str16(out, k);
                    put_str16(out, v);
                }
            }
        }
    }

    /// Decodes one record payload. The whole payload must be consumed.
    pub fn decode(payload: &[u8]) -> Result<IndexRecord, Corruption> {
        let mut r = Reader::new(payload);
        let rec = match r.u8()? {
            RECORD_METRIC => {
                let id = r.u32()?;
                let kind = MetricKind::from_code(r.u8()?).ok_or(Corruption::BadField {
                    what: "metric kind",
                })?;
                let name = r.str16("metric name")?.to_owned();
                let unit = r.str16("metric unit")?.to_owned();
                let description = r.str32("metric description")?.to_owned();
                IndexRecord::Metric {
                    id,
                    kind,
                    name,
                    unit,
                    description,
                }
            }
            RECORD_SERIES => {
                let id = r.u32()?;
                let metric = r.u32()?;
                let hash = r.u64()?;
                let n = r.u16()? as usize;
                // Each label takes at least 4 bytes: refuse counts the payload cannot hold
                // before allocating for them.
                if n.saturating_mul(4) > r.remaining() {
                    return Err(Corruption::BadLength {
                        what: "label count",
                        value: n as u64,
                    });
                }
                let labels = decode_labels(&mut r, n)?;
                IndexRecord::Series {
                    id,
                    metric,
                    hash,
                    labels,
                }
            }
            RECORD_SERIES_REMOVED => IndexRecord::SeriesRemoved { id: r.u32()? },
            _ => {
                return Err(Corruption::BadField {
                    what: "index record type",
                });
            }
        };
        if r.remaining() != 0 {
            return Err(Corruption::BadLength {
                what: "index record trailing bytes",
                value: r.remaining() as u64,
            });
        }
        Ok(rec)
    }
}

/// Reads `n` labels (each a name and a value, u16-prefixed UTF-8) into one allocation: a first
/// pass takes the byte strings and sums their lengths, a second copies them and checks the
/// UTF-8 of all at once. When either fails, the labels are read again one string at a time,
/// so the error is the one for the first bad string, as a plain reading would report it.
fn decode_labels(r: &mut Reader<'_>, n: usize) -> Result<Labels, Corruption> {
    fn bytes<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], Corruption> {
        let len = r.u16()? as usize;
        r.take(len)
    }
    let start = r.clone();
    let mut check = r.clone();
    let mut text_len = 0;
    let mut whole = true;
    for _ in 0..2 * n {
        match bytes(&mut check) {
            Ok(s) => text_len += s.len(),
            Err(_) => {
                whole = false;
                break;
            }
        }
    }
    if whole {
        let pieces = (0..n).map(|_| {
            let k = bytes(r).unwrap_or_default();
            let v = bytes(r).unwrap_or_default();
            (k, v)
        });
        if let Some(labels) = Labels::from_utf8_pairs(n, text_len, pieces) {
            return Ok(labels);
        }
    }
    // The slow path, only for a damaged record: find the first bad string.
    *r = start;
    for _ in 0..n {
        r.str16("label name")?;
        r.str16("label value")?;
    }
    Err(Corruption::BadField { what: "label text" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_metric_record() {
        let r = IndexRecord::Metric {
            id: 1,
            kind: MetricKind::Counter,
            name: "up".into(),
            unit: "s".into(),
            description: "hi".into(),
        };
        let mut b = Vec::new();
        r.encode(&mut b);
        assert_eq!(
            b,
            [
                1, 1, 0, 0, 0, 1, 2, 0, b'u', b'p', 1, 0, b's', 2, 0, 0, 0, b'h', b'i'
            ]
        );
        assert_eq!(IndexRecord::decode(&b).unwrap(), r);
    }

    #[test]
    fn golden_series_removed_record() {
        let r = IndexRecord::SeriesRemoved { id: 7 };
        let mut b = Vec::new();
        r.encode(&mut b);
        assert_eq!(b, [3, 7, 0, 0, 0]);
        assert_eq!(IndexRecord::decode(&b).unwrap(), r);
        assert!(IndexRecord::decode(&b[..4]).is_err());
        assert!(IndexRecord::decode(&[3, 7, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn golden_series_record() {
        let r = IndexRecord::Series {
            id: 2,
            metric: 1,
            hash: 0x0102_0304_0506_0708,
            labels: Labels::canonical(&[("a", "b")]),
        };
        let mut b = Vec::new();
        r.encode(&mut b);
        assert_eq!(
            b,
            [
                2, 2, 0, 0, 0, 1, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1, 1, 0, 1, 0, b'a', 1, 0, b'b'
            ]
        );
        assert_eq!(IndexRecord::decode(&b).unwrap(), r);
    }

    #[test]
    fn hostile_payloads_are_errors() {
        assert!(IndexRecord::decode(&[]).is_err());
        assert!(IndexRecord::decode(&[3]).is_err());
        assert!(
            IndexRecord::decode(&[
                2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
            ])
            .is_err()
        );
        // Kind byte out of range.
        assert!(IndexRecord::decode(&[1, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        // Invalid UTF-8 in a name.
        assert!(IndexRecord::decode(&[1, 1, 0, 0, 0, 0, 1, 0, 0xff, 0, 0, 0, 0, 0, 0]).is_err());
    }

    /// Label strings are checked in one go on the fast path; the errors are still those of
    /// checking them one by one, and a character split between a name and its value (whose
    /// concatenation is valid UTF-8) is refused.
    #[test]
    fn bad_label_text_is_an_error_naming_the_string() {
        let record = |labels: &[(&[u8], &[u8])], cut: usize| {
            let mut b = vec![2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            b.extend_from_slice(&(labels.len() as u16).to_le_bytes());
            for (k, v) in labels {
                for s in [k, v] {
                    b.extend_from_slice(&(s.len() as u16).to_le_bytes());
                    b.extend_from_slice(s);
                }
            }
            b.truncate(b.len() - cut);
            IndexRecord::decode(&b)
        };
        let ok = record(&[(b"a", "é".as_bytes()), (b"b", b"2")], 0).unwrap();
        let IndexRecord::Series { labels, .. } = ok else {
            panic!("a series record");
        };
        assert_eq!(labels, Labels::canonical(&[("a", "é"), ("b", "2")]));
        let bad = |what| Err(Corruption::BadField { what });
        assert_eq!(record(&[(b"a", b"\xff")], 0), bad("label value"));
        assert_eq!(record(&[(b"\xc3", b"\xa9")], 0), bad("label name"));
        assert_eq!(
            record(&[(b"a", b"\xc3"), (b"\xa9", b"b")], 0),
            bad("label value")
        );
        // The first bad string wins over a truncation after it.
        assert_eq!(
            record(&[(b"a", b"\xff"), (b"b", b"22")], 1),
            bad("label value")
        );
        assert!(matches!(
            record(&[(b"a", b"1"), (b"b", b"22")], 1),
            Err(Corruption::Truncated { .. })
        ));
    }
}
