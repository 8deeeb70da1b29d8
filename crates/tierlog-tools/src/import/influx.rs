//! Streaming parser for the InfluxDB line protocol.
//!
//! `measurement[,tag=value…] field=value[,field=value…] [timestamp]` becomes one sample per
//! numeric field:
//!
//! * metric name `<measurement>_<field>`, every character outside `[a-zA-Z0-9_:]` replaced
//!   by `_` and a leading digit prefixed with `_` (`disk.io` + `read-bytes` →
//!   `disk_io_read_bytes`);
//! * tags become labels, their keys made valid label names the same way (outside
//!   `[a-zA-Z0-9_]` → `_`); a key that then starts with `__` (reserved) or repeats another
//!   is an error;
//! * different input names that become the same name (`usage-idle` and `usage_idle`, or
//!   measurements `cpu.x` and `cpu_x`) share series; the parser counts them
//!   ([`EntrySource::name_collisions`]) and keeps the first few pairs;
//! * field values: finite floats (`1.5`, `-2e3`), signed integers (`3i`), unsigned integers (`3u`),
//!   booleans (`t`, `T`, `true`, `True`, `TRUE` → 1; `f`, `F`, `false`, `False`, `FALSE` → 0);
//!   string fields (`"…"`) are skipped and counted in [`Skipped::string_fields`];
//! * the timestamp is an integer in the parser's [`Precision`] (nanoseconds by default),
//!   turned into milliseconds (rounding down); without one, the ingest's default time.
//!
//! Escapes: in the measurement `\,` and `\ `; in tag keys, tag values and field keys `\,`,
//! `\=` and `\ `; in string field values `\"`; `\\` is a backslash everywhere. A backslash
//! before any other character is kept as written. Elements are separated by one or more
//! spaces. Empty lines and lines starting with `#` are skipped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::BufRead;

use super::entry::{
    Entry, EntrySource, NameCollision, NameCollisions, ParseError, ParsedSample, Skipped,
};
use super::text::{LineError, LineReader, RepeatCheck, at, err, parse_decimal, parse_int, sub};

/// Unit of line protocol timestamps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Precision {
    /// Nanoseconds (the protocol's default).
    #[default]
    Ns,
    /// Microseconds.
    Us,
    /// Milliseconds.
    Ms,
    /// Seconds.
    S,
}

impl Precision {
    /// `ts` in this unit as milliseconds; `None` when out of range.
    pub fn to_ms(self, ts: i64) -> Option<i64> {
        match self {
            Precision::Ns => Some(ts.div_euclid(1_000_000)),
            Precision::Us => Some(ts.div_euclid(1_000)),
            Precision::Ms => Some(ts),
            Precision::S => ts.checked_mul(1_000),
        }
    }
}

/// Streaming line protocol parser; see the module docs.
pub struct InfluxParser<R> {
    lines: LineReader<R>,
    precision: Precision,
    ready: VecDeque<(u64, Entry)>,
    skipped: Skipped,
    metric_names: NameMap,
    label_names: NameMap,
    collisions: NameCollisions,
}

/// Collisions kept as examples.
const COLLISION_EXAMPLES: usize = 5;

/// Which input name each valid name came from first, to find input names that became
/// another's. Holds at most [`NameMap::MAX`] names (later new names are not tracked).
#[derive(Default)]
struct NameMap {
    first: HashMap<String, String>,
    /// Input names already counted as collisions.
    counted: HashSet<String>,
}

impl NameMap {
    const MAX: usize = 1 << 16;

    fn note(&mut self, valid: &str, raw: &str, out: &mut NameCollisions) {
        match self.first.get(valid) {
            Some(first) if first == raw => {}
            Some(first)
                if self.counted.len() < Self::MAX && self.counted.insert(raw.to_owned()) =>
            {
                out.count += 1;
                if out.examples.len() < COLLISION_EXAMPLES {
                    out.examples.push(NameCollision {
                        first: first.clone(),
                        second: raw.to_owned(),
                        name: valid.to_owned(),
                    });
                }
            }
            Some(_) => {}
            None if self.first.len() < Self::MAX => {
                self.first.insert(valid.to_owned(), raw.to_owned());
            }
            None => {}
        }
    }
}

impl<R: BufRead> InfluxParser<R> {
    /// A parser over `r` whose timestamps are integers in `precision`.
    pub fn new(r: R, precision: Precision) -> Self {
        InfluxParser {
            lines: LineReader::new(r),
            precision,
            ready: VecDeque::new(),
            skipped: Skipped::default(),
            metric_names: NameMap::default(),
            label_names: NameMap::default(),
            collisions: NameCollisions::default(),
        }
    }
}

impl<R: BufRead> Iterator for InfluxParser<R> {
    type Item = Result<(u64, Entry), ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(Ok(item));
            }
            let (line, text) = match self.lines.next_line()? {
                Ok(l) => l,
                Err(e) => return Some(Err(e)),
            };
            match parse_line(text, self.precision) {
                Ok(None) => {}
                Ok(Some(point)) => {
                    self.skipped.string_fields += point.string_fields;
                    for ((valid, _), raw) in point.labels.iter().zip(&point.tag_keys) {
                        self.label_names.note(valid, raw, &mut self.collisions);
                    }
                    for (s, raw) in point.samples.iter().zip(&point.raw_metrics) {
                        self.metric_names.note(&s.metric, raw, &mut self.collisions);
                    }
                    for s in point.samples {
                        self.ready.push_back((line, Entry::Sample(s)));
                    }
                }
                Err(e) => return Some(Err(e.at_line(line, text))),
            }
        }
    }
}

impl<R: BufRead> EntrySource for InfluxParser<R> {
    fn set_max_line_bytes(&mut self, max: usize) {
        self.lines.set_max_line_bytes(max);
    }

    fn lines_read(&self) -> u64 {
        self.lines.line()
    }

    fn skipped(&self) -> Skipped {
        self.skipped
    }

    fn name_collisions(&self) -> NameCollisions {
        self.collisions.clone()
    }
}

/// What one line holds.
struct Point {
    samples: Vec<ParsedSample>,
    /// Each sample's metric name as written (`<measurement>_<field>`).
    raw_metrics: Vec<String>,
    /// The labels, and each one's tag key as written.
    labels: Vec<(String, String)>,
    tag_keys: Vec<String>,
    string_fields: u64,
}

/// Where an unescaped element stops.
#[derive(Clone, Copy)]
enum Element {
    Measurement,
    TagKey,
    TagValue,
    FieldKey,
}

impl Element {
    fn escapable(self, c: u8) -> bool {
        match self {
            Element::Measurement => matches!(c, b',' | b' ' | b'\\'),
            _ => matches!(c, b',' | b'=' | b' ' | b'\\'),
        }
    }

    fn ends_at(self, c: u8) -> bool {
        match self {
            Element::Measurement | Element::TagValue => matches!(c, b',' | b' '),
            Element::TagKey | Element::FieldKey => matches!(c, b',' | b'=' | b' '),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Element::Measurement => "measurement",
            Element::TagKey => "tag key",
            Element::TagValue => "tag value",
            Element::FieldKey => "field key",
        }
    }
}

/// Reads an element starting at `p` up to its first unescaped delimiter; returns the
/// unescaped text and the delimiter's offset. An empty element is an error.
fn scan(s: &str, p: usize, el: Element) -> Result<(String, usize), LineError> {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut seg = p;
    let mut i = p;
    while let Some(c) = at(b, i) {
        if c == b'\\' {
            match at(b, i + 1) {
                Some(n) if el.escapable(n) => {
                    out.push_str(sub(s, seg, i)?);
                    out.push(char::from(n));
                    i += 2;
                    seg = i;
                }
                _ => i += 1,
            }
            continue;
        }
        if el.ends_at(c) {
            break;
        }
        if matches!(el, Element::TagValue) && c == b'=' {
            return Err(err(i, "unescaped '=' in tag value"));
        }
        i += 1;
    }
    out.push_str(sub(s, seg, i)?);
    if out.is_empty() {
        return Err(err(p, format!("expected {}", el.what())));
    }
    Ok((out, i))
}

/// `name` with every character outside `[a-zA-Z0-9_]` (and `:` when `colon`) replaced by
/// `_`, and `_` put before a leading digit.
fn sanitize(name: &str, colon: bool) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':') {
            c
        } else {
            '_'
        }
    }));
    out
}

fn parse_line(s: &str, precision: Precision) -> Result<Option<Point>, LineError> {
    let b = s.as_bytes();
    let mut p = 0;
    while at(b, p) == Some(b' ') || at(b, p) == Some(b'\t') {
        p += 1;
    }
    match at(b, p) {
        None | Some(b'#') => return Ok(None),
        Some(_) => {}
    }
    let (measurement, mut p) = scan(s, p, Element::Measurement)?;
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut tag_keys: Vec<String> = Vec::new();
    let mut tag_repeat = RepeatCheck::default();
    while at(b, p) == Some(b',') {
        let key_start = p + 1;
        let (key, q) = scan(s, key_start, Element::TagKey)?;
        if at(b, q) != Some(b'=') {
            return Err(err(q, "expected '=' after tag key"));
        }
        let (value, q) = scan(s, q + 1, Element::TagValue)?;
        let name = sanitize(&key, false);
        if name.starts_with("__") {
            return Err(err(
                key_start,
                format!("tag key {key:?} gives the reserved label name {name:?}"),
            ));
        }
        if tag_repeat.repeats(&labels, |(n, _)| n.as_str(), &name) {
            return Err(err(
                key_start,
                format!("tag key {key:?} repeats label {name:?}"),
            ));
        }
        labels.push((name, value));
        tag_keys.push(key);
        p = q;
    }
    if at(b, p) != Some(b' ') {
        return Err(err(p, "expected a space before the fields"));
    }
    while at(b, p) == Some(b' ') {
        p += 1;
    }
    let mut fields: Vec<(String, Option<f64>)> = Vec::new();
    let mut field_repeat = RepeatCheck::default();
    loop {
        let key_start = p;
        let (key, q) = scan(s, p, Element::FieldKey)?;
        if at(b, q) != Some(b'=') {
            return Err(err(q, "expected '=' after field key"));
        }
        let (value, q) = parse_field_value(s, q + 1)?;
        if field_repeat.repeats(&fields, |(k, _)| k.as_str(), &key) {
            return Err(err(key_start, format!("duplicate field key {key:?}")));
        }
        fields.push((key, value));
        p = q;
        match at(b, p) {
            Some(b',') => p += 1,
            _ => break,
        }
    }
    let mut ts_ms = None;
    if at(b, p) == Some(b' ') {
        while at(b, p) == Some(b' ') {
            p += 1;
        }
        if p < b.len() {
            let start = p;
            while matches!(at(b, p), Some(c) if c != b' ') {
                p += 1;
            }
            let tok = sub(s, start, p)?;
            let raw =
                parse_int(tok).ok_or_else(|| err(start, format!("invalid timestamp {tok:?}")))?;
            let ms = precision
                .to_ms(raw)
                .ok_or_else(|| err(start, format!("timestamp {tok:?} out of range")))?;
            ts_ms = Some(ms);
            while at(b, p) == Some(b' ') {
                p += 1;
            }
            if p < b.len() {
                return Err(err(p, "unexpected text after timestamp"));
            }
        }
    } else if p < b.len() {
        return Err(err(
            p,
            "expected ',', a space or the end of the line after a field",
        ));
    }
    // Each numeric field becomes a sample carrying every tag: bound what one line can expand
    // to, or a 1 MiB line of tags and fields would make gigabytes of samples.
    let per_sample = labels
        .iter()
        .map(|(k, v)| k.len() + v.len() + 2 * std::mem::size_of::<String>())
        .sum::<usize>()
        + measurement.len()
        + std::mem::size_of::<ParsedSample>();
    let expands_to = per_sample.saturating_mul(fields.len());
    if expands_to > MAX_LINE_EXPANSION {
        return Err(err(
            0,
            format!(
                "{} fields with {} tags each expand to about {expands_to} bytes of samples, more than {MAX_LINE_EXPANSION}",
                fields.len(),
                labels.len()
            ),
        ));
    }
    let mut point = Point {
        samples: Vec::with_capacity(fields.len()),
        raw_metrics: Vec::with_capacity(fields.len()),
        labels: Vec::new(),
        tag_keys,
        string_fields: 0,
    };
    for (key, value) in fields {
        let Some(value) = value else {
            point.string_fields += 1;
            continue;
        };
        let raw = format!("{measurement}_{key}");
        point.samples.push(ParsedSample {
            metric: sanitize(&raw, true),
            labels: labels.clone(),
            value,
            ts_ms,
        });
        point.raw_metrics.push(raw);
    }
    point.labels = labels;
    Ok(Some(point))
}

/// The most bytes of samples one line may expand to (every numeric field is a sample with
/// all of the line's tags): 64 MiB.
const MAX_LINE_EXPANSION: usize = 64 << 20;

/// A field value starting at `p`: `Some(number)`, or `None` for a string; and the offset after
/// it.
fn parse_field_value(s: &str, p: usize) -> Result<(Option<f64>, usize), LineError> {
    let b = s.as_bytes();
    if at(b, p) == Some(b'"') {
        let mut i = p + 1;
        while let Some(c) = at(b, i) {
            match c {
                b'\\' => i += 2,
                b'"' => return Ok((None, i + 1)),
                _ => i += 1,
            }
        }
        return Err(err(p, "unterminated string field value"));
    }
    let mut end = p;
    while matches!(at(b, end), Some(c) if c != b',' && c != b' ') {
        end += 1;
    }
    let tok = sub(s, p, end)?;
    if tok.is_empty() {
        return Err(err(p, "expected field value"));
    }
    let invalid = || err(p, format!("invalid field value {tok:?}"));
    let value = match tok {
        "t" | "T" | "true" | "True" | "TRUE" => 1.0,
        "f" | "F" | "false" | "False" | "FALSE" => 0.0,
        _ => {
            if let Some(int) = tok.strip_suffix('i') {
                parse_int(int)
                    .or_else(|| int.strip_prefix('+').and_then(parse_int))
                    .ok_or_else(|| err(p, format!("invalid integer field value {tok:?}")))?
                    as f64
            } else if let Some(uint) = tok.strip_suffix('u') {
                if uint.is_empty() || !uint.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(invalid());
                }
                uint.parse::<u64>()
                    .map_err(|_| err(p, format!("invalid unsigned integer field value {tok:?}")))?
                    as f64
            } else {
                let v = parse_decimal(tok).ok_or_else(invalid)?;
                if !v.is_finite() {
                    return Err(err(p, format!("float field value {tok:?} out of range")));
                }
                v
            }
        }
    };
    Ok((Some(value), end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &str, precision: Precision) -> Vec<Result<(u64, Entry), ParseError>> {
        InfluxParser::new(input.as_bytes(), precision).collect()
    }

    use crate::import::entry::render_for_tests as render;

    fn rendered(input: &str) -> Vec<String> {
        parse_all(input, Precision::Ns).iter().map(render).collect()
    }

    #[test]
    fn fields_tags_types_and_timestamps() {
        let input = "# comment\n\
                     \n\
                     cpu,host=a,region=eu usage_idle=98.5,usage_user=1.5 1700000000123456789\n\
                     mem,host=a used=3i,free=7u,ok=true,bad=F,msg=\"hello, \\\"world\\\"\",x=-2e3\n\
                     disk.io,dev-name=sda read-bytes=1e3,9z=T 1700000000000000000\r\n\
                     t v=t,w=True,x=TRUE,y=f,z=False,zz=FALSE\n\
                     neg v=-5i,w=+5i -1\n";
        let mut p = InfluxParser::new(input.as_bytes(), Precision::Ns);
        let got: Vec<String> = p.by_ref().map(|r| render(&r)).collect();
        let want = [
            r#"3: cpu_usage_idle{host="a",region="eu"} 98.5 Some(1700000000123)"#,
            r#"3: cpu_usage_user{host="a",region="eu"} 1.5 Some(1700000000123)"#,
            r#"4: mem_used{host="a"} 3.0 None"#,
            r#"4: mem_free{host="a"} 7.0 None"#,
            r#"4: mem_ok{host="a"} 1.0 None"#,
            r#"4: mem_bad{host="a"} 0.0 None"#,
            r#"4: mem_x{host="a"} -2000.0 None"#,
            r#"5: disk_io_read_bytes{dev_name="sda"} 1000.0 Some(1700000000000)"#,
            r#"5: disk_io_9z{dev_name="sda"} 1.0 Some(1700000000000)"#,
            "6: t_v{} 1.0 None",
            "6: t_w{} 1.0 None",
            "6: t_x{} 1.0 None",
            "6: t_y{} 0.0 None",
            "6: t_z{} 0.0 None",
            "6: t_zz{} 0.0 None",
            "7: neg_v{} -5.0 Some(-1)",
            "7: neg_w{} 5.0 Some(-1)",
        ];
        assert_eq!(got, want);
        assert_eq!(p.skipped().string_fields, 1);
        assert_eq!(p.lines_read(), 7);
    }

    #[test]
    fn escapes() {
        let input = "my\\ meas\\,ure=x,t\\ k\\=y=v\\,a\\ l\\=ue\\\\ f\\=i\\,eld\\ x=1,s=\"a\\\\b\\\"c d,e=f\" 5\n\
                     back\\slash,k=a\\b v=2\n\
                     1st,k=v v=3\n";
        let got = rendered(input);
        assert_eq!(
            got,
            [
                r#"1: my_meas_ure_x_f_i_eld_x{t_k_y="v,a l=ue\\"} 1.0 Some(0)"#,
                r#"2: back_slash_v{k="a\\b"} 2.0 None"#,
                r#"3: _1st_v{k="v"} 3.0 None"#,
            ]
        );
    }

    #[test]
    fn precision() {
        let line = "m v=1 1700000000\n";
        let ts = |p| match &parse_all(line, p)[0] {
            Ok((_, Entry::Sample(s))) => s.ts_ms,
            other => panic!("{other:?}"),
        };
        assert_eq!(ts(Precision::Ns), Some(1700));
        assert_eq!(ts(Precision::Us), Some(1_700_000));
        assert_eq!(ts(Precision::Ms), Some(1_700_000_000));
        assert_eq!(ts(Precision::S), Some(1_700_000_000_000));
        assert_eq!(Precision::Ns.to_ms(-1), Some(-1));
        assert_eq!(Precision::S.to_ms(i64::MAX), None);
        let got: Vec<String> = parse_all("m v=1 9223372036854775807\n", Precision::S)
            .iter()
            .map(render)
            .collect();
        assert_eq!(got, ["1:7: timestamp \"9223372036854775807\" out of range"]);
    }

    #[test]
    fn malformed_lines_name_line_and_column() {
        let cases: &[(&str, &str)] = &[
            ("m", "2:2: expected a space before the fields"),
            ("m ", "2:3: expected field key"),
            (",t=1 v=1", "2:1: expected measurement"),
            ("m,t v=1", "2:4: expected '=' after tag key"),
            ("m,=v v=1", "2:3: expected tag key"),
            ("m,t= v=1", "2:5: expected tag value"),
            ("m,t=a=b v=1", "2:6: unescaped '=' in tag value"),
            (
                "m,__x=1 v=1",
                "2:3: tag key \"__x\" gives the reserved label name",
            ),
            ("m,a-b=1,a_b=2 v=1", "2:9: tag key \"a_b\" repeats label"),
            ("m v", "2:4: expected '=' after field key"),
            ("m v=", "2:5: expected field value"),
            ("m v=1,", "2:7: expected field key"),
            ("m v=abc", "2:5: invalid field value \"abc\""),
            ("m v=1.5i", "2:5: invalid integer field value"),
            (
                "m v=99999999999999999999i",
                "2:5: invalid integer field value",
            ),
            ("m v=-1u", "2:5: invalid field value \"-1u\""),
            (
                "m v=99999999999999999999u",
                "2:5: invalid unsigned integer field value",
            ),
            ("m v=inf", "2:5: invalid field value \"inf\""),
            ("m v=1e999", "2:5: float field value \"1e999\" out of range"),
            ("m v=\"abc", "2:5: unterminated string field value"),
            ("m v=\"a\"x", "2:8: expected ',', a space or the end"),
            ("m v=1,v=2", "2:7: duplicate field key \"v\""),
            ("m v=1 12x", "2:7: invalid timestamp \"12x\""),
            ("m v=1 1.5", "2:7: invalid timestamp \"1.5\""),
            ("m v=1 1 2", "2:9: unexpected text after timestamp"),
            ("é\\,x v=1 1 2", "2:12: unexpected text after timestamp"),
        ];
        for (line, want) in cases {
            let got = rendered(&format!("ok v=1\n{line}\nok v=2\n"));
            assert_eq!(got.len(), 3, "{line:?}: {got:?}");
            assert!(
                got[1].starts_with(want),
                "{line:?}: {:?} vs {want:?}",
                got[1]
            );
            assert!(got[2].starts_with("3: ok_v"), "{line:?}: parsing goes on");
        }
    }

    #[test]
    fn trailing_spaces_and_only_strings() {
        let mut p = InfluxParser::new(&b"m s=\"x\"  \nm v=1  5  \n"[..], Precision::Ms);
        let got: Vec<String> = p.by_ref().map(|r| render(&r)).collect();
        assert_eq!(got, ["2: m_v{} 1.0 Some(5)"]);
        assert_eq!(p.skipped().string_fields, 1);
    }
}
