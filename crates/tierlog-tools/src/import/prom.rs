//! Streaming parser for the Prometheus text exposition format (0.0.4), plus the OpenMetrics
//! `# UNIT` descriptor; the line grammar here is also the one [`super::openmetrics`] reads,
//! in its OpenMetrics dialect.
//!
//! The parser is line-oriented over any [`BufRead`], reuses one line buffer
//! and scans bytes by hand (no regex in the hot path). Each yielded item
//! carries the 1-based line number it came from. A syntax error in one line
//! is reported as [`ParseError::Syntax`] and iteration may continue with the
//! next line; an I/O error ends the iteration.
//!
//! Accepted grammar (blanks are spaces and tabs):
//!
//! * blank lines and `#` comments are skipped, except
//!   `# HELP name text` (text unescapes `\\` and `\n`; other backslash
//!   sequences are kept verbatim, as Prometheus does),
//!   `# TYPE name counter|gauge|histogram|summary|untyped` and
//!   `# UNIT name unit`. A `HELP`/`TYPE`/`UNIT` comment without a metric
//!   name is an ordinary comment; `TYPE` with a name but no kind is an error.
//! * samples: `name[{label="value",...}] value [timestamp_ms]`; the label set
//!   may be empty or end with a comma; label values accept the escapes `\\`,
//!   `\"` and `\n` only; duplicate label names are an error.
//! * values: anything Rust's `f64` parser accepts that is made of digits,
//!   `.`, `e`, `E`, `+`, `-`, plus `NaN`, `nan`, `Inf`, `inf`, `+Inf`,
//!   `+inf`, `-Inf`, `-inf`.
//! * timestamps: optional signed 64-bit integer milliseconds.
//!
//! The OpenMetrics dialect differs only in: timestamps are seconds (maybe fractional, maybe
//! with an exponent), `# EOF` is a line of its own kind, a sample may end with an exemplar
//! (` # {labels} value [timestamp]`, checked and dropped), `HELP` also unescapes `\"`, and
//! the types are counter, gauge, histogram, gaugehistogram, stateset, info, summary, unknown.

use std::io::BufRead;

use super::entry::EntrySource;
pub use super::entry::{Entry, ParseError, ParsedSample};
use super::text::{
    LineError, LineReader, RepeatCheck, at, err, is_blank, parse_decimal, parse_value,
    scan_label_name, scan_metric_name, skip_blanks, sub, token_end,
};

/// Which exposition format a line is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Prometheus,
    OpenMetrics,
}

/// What one meaningful line holds.
#[derive(Debug)]
pub(crate) enum Line {
    Entry(Entry),
    /// OpenMetrics `# EOF`.
    Eof,
}

/// Streaming parser; see the module docs for the grammar.
pub struct PromParser<R> {
    lines: LineReader<R>,
}

impl<R: BufRead> PromParser<R> {
    /// A parser over `r`, a Prometheus text exposition.
    pub fn new(r: R) -> Self {
        PromParser {
            lines: LineReader::new(r),
        }
    }

    /// 1-based number of the line most recently read (0 before the first).
    pub fn line(&self) -> u64 {
        self.lines.line()
    }
}

impl<R: BufRead> Iterator for PromParser<R> {
    type Item = Result<(u64, Entry), ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (line, text) = match self.lines.next_line()? {
                Ok(l) => l,
                Err(e) => return Some(Err(e)),
            };
            match parse_line(text, Dialect::Prometheus) {
                Ok(None | Some(Line::Eof)) => continue,
                Ok(Some(Line::Entry(entry))) => return Some(Ok((line, entry))),
                Err(e) => return Some(Err(e.at_line(line, text))),
            }
        }
    }
}

impl<R: BufRead> EntrySource for PromParser<R> {
    fn set_max_line_bytes(&mut self, max: usize) {
        self.lines.set_max_line_bytes(max);
    }

    fn lines_read(&self) -> u64 {
        self.line()
    }
}

/// Parses one line (without its line end); `None` for blank lines and plain comments.
pub(crate) fn parse_line(s: &str, dialect: Dialect) -> Result<Option<Line>, LineError> {
    let b = s.as_bytes();
    let p = skip_blanks(b, 0);
    match at(b, p) {
        None => Ok(None),
        Some(b'#') => parse_comment(s, p + 1, dialect),
        Some(_) => parse_sample(s, p, dialect).map(|smp| Some(Line::Entry(Entry::Sample(smp)))),
    }
}

#[derive(Clone, Copy)]
enum Keyword {
    Help,
    Type,
    Unit,
}

const KINDS: [&str; 5] = ["counter", "gauge", "histogram", "summary", "untyped"];
const OM_KINDS: [&str; 8] = [
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "stateset",
    "info",
    "summary",
    "unknown",
];

fn parse_comment(s: &str, start: usize, dialect: Dialect) -> Result<Option<Line>, LineError> {
    let b = s.as_bytes();
    let kw_start = skip_blanks(b, start);
    let kw_end = token_end(b, kw_start);
    let keyword = match b.get(kw_start..kw_end) {
        Some(b"HELP") => Keyword::Help,
        Some(b"TYPE") => Keyword::Type,
        Some(b"UNIT") => Keyword::Unit,
        Some(b"EOF") if dialect == Dialect::OpenMetrics => {
            expect_end(b, kw_end, "unexpected text after # EOF")?;
            return Ok(Some(Line::Eof));
        }
        _ => return Ok(None),
    };
    let name_start = skip_blanks(b, kw_end);
    if name_start >= b.len() {
        return Ok(None);
    }
    let name_end = scan_metric_name(b, name_start);
    if name_end == name_start {
        return Err(err(name_start, "invalid metric name in comment"));
    }
    if matches!(at(b, name_end), Some(c) if !is_blank(c)) {
        return Err(err(name_end, "invalid character in metric name"));
    }
    let metric = sub(s, name_start, name_end)?.to_owned();
    let p = skip_blanks(b, name_end);
    let entry = match keyword {
        Keyword::Help => Entry::Help {
            metric,
            text: unescape_help(sub(s, p, b.len())?, dialect),
        },
        Keyword::Type => {
            let end = token_end(b, p);
            if end == p {
                return Err(err(p, "expected metric type after metric name"));
            }
            let kind = sub(s, p, end)?;
            let known = match dialect {
                Dialect::Prometheus => KINDS.contains(&kind),
                Dialect::OpenMetrics => OM_KINDS.contains(&kind),
            };
            if !known {
                let expected = match dialect {
                    Dialect::Prometheus => "counter, gauge, histogram, summary or untyped",
                    Dialect::OpenMetrics => {
                        "counter, gauge, histogram, gaugehistogram, stateset, info, summary or unknown"
                    }
                };
                return Err(err(
                    p,
                    format!("invalid metric type {kind:?} (expected {expected})"),
                ));
            }
            expect_end(b, end, "unexpected text after metric type")?;
            Entry::Type {
                metric,
                kind: kind.to_owned(),
            }
        }
        Keyword::Unit => {
            let end = token_end(b, p);
            let unit = sub(s, p, end)?;
            if let Some(i) = unit
                .bytes()
                .position(|c| !(c.is_ascii_alphanumeric() || c == b'_' || c == b':'))
            {
                return Err(err(p + i, "invalid character in unit"));
            }
            expect_end(b, end, "unexpected text after unit")?;
            Entry::Unit {
                metric,
                unit: unit.to_owned(),
            }
        }
    };
    Ok(Some(Line::Entry(entry)))
}

fn expect_end(b: &[u8], p: usize, message: &str) -> Result<(), LineError> {
    let q = skip_blanks(b, p);
    if q < b.len() {
        return Err(err(q, message));
    }
    Ok(())
}

/// HELP text: `\\` → `\`, `\n` → newline (and, in OpenMetrics, `\"` → `"`), anything else
/// verbatim.
fn unescape_help(t: &str, dialect: Dialect) -> String {
    if !t.contains('\\') {
        return t.to_owned();
    }
    let mut out = String::with_capacity(t.len());
    let mut chars = t.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if dialect == Dialect::OpenMetrics => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn parse_sample(s: &str, start: usize, dialect: Dialect) -> Result<ParsedSample, LineError> {
    let b = s.as_bytes();
    let name_end = scan_metric_name(b, start);
    if name_end == start {
        return Err(err(start, "expected metric name"));
    }
    let metric = sub(s, start, name_end)?.to_owned();
    let mut p = skip_blanks(b, name_end);
    let mut labels = Vec::new();
    if at(b, p) == Some(b'{') {
        p = parse_labels(s, p + 1, &mut labels)?;
        p = skip_blanks(b, p);
    } else if p == name_end && p < b.len() {
        return Err(err(p, "invalid character in metric name"));
    }
    if p >= b.len() {
        return Err(err(p, "expected value"));
    }
    let v_end = token_end(b, p);
    let tok = sub(s, p, v_end)?;
    let value = parse_value(tok).ok_or_else(|| err(p, format!("invalid value {tok:?}")))?;
    p = skip_blanks(b, v_end);
    let om = dialect == Dialect::OpenMetrics;
    let mut ts_ms = None;
    if p < b.len() && !(om && at(b, p) == Some(b'#')) {
        let t_end = token_end(b, p);
        ts_ms = Some(parse_timestamp(s, p, t_end, dialect)?);
        p = skip_blanks(b, t_end);
    }
    if om && at(b, p) == Some(b'#') {
        check_exemplar(s, p + 1)?;
    } else {
        expect_end(b, p, "unexpected text after timestamp")?;
    }
    Ok(ParsedSample {
        metric,
        labels,
        value,
        ts_ms,
    })
}

/// The timestamp token `s[p..end]` in milliseconds.
fn parse_timestamp(s: &str, p: usize, end: usize, dialect: Dialect) -> Result<i64, LineError> {
    let tok = sub(s, p, end)?;
    let ts = match dialect {
        Dialect::Prometheus => tok.parse::<i64>().ok(),
        Dialect::OpenMetrics => parse_seconds(tok),
    };
    ts.ok_or_else(|| err(p, format!("invalid timestamp {tok:?}")))
}

/// An OpenMetrics timestamp (seconds, maybe fractional or with an exponent) in milliseconds;
/// digits below a millisecond are dropped (truncation toward zero).
pub(crate) fn parse_seconds(t: &str) -> Option<i64> {
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if body.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
            return None;
        }
        let secs: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut sub_ms = 0i64;
        for (c, scale) in frac.bytes().zip([100, 10, 1]) {
            sub_ms += i64::from(c - b'0') * scale;
        }
        let whole = secs.checked_mul(1000)?;
        return if neg {
            whole.checked_neg()?.checked_sub(sub_ms)
        } else {
            whole.checked_add(sub_ms)
        };
    }
    // An exponent: exact decimal arithmetic is not worth it for such rare input.
    let ms = (parse_decimal(t)? * 1000.0).trunc();
    // i64::MAX as f64 rounds up to 2^63, which is out of range.
    if ms.is_finite() && ms >= i64::MIN as f64 && ms < i64::MAX as f64 {
        Some(ms as i64)
    } else {
        None
    }
}

/// Checks an OpenMetrics exemplar after its `#`: `{labels} value [timestamp]`.
fn check_exemplar(s: &str, start: usize) -> Result<(), LineError> {
    let b = s.as_bytes();
    let mut p = skip_blanks(b, start);
    if at(b, p) != Some(b'{') {
        return Err(err(p, "expected '{' to start the exemplar's labels"));
    }
    p = parse_labels(s, p + 1, &mut Vec::new())?;
    p = skip_blanks(b, p);
    if p >= b.len() {
        return Err(err(p, "expected exemplar value"));
    }
    let v_end = token_end(b, p);
    let tok = sub(s, p, v_end)?;
    if parse_value(tok).is_none() {
        return Err(err(p, format!("invalid exemplar value {tok:?}")));
    }
    p = skip_blanks(b, v_end);
    if p < b.len() {
        let t_end = token_end(b, p);
        parse_timestamp(s, p, t_end, Dialect::OpenMetrics)?;
        expect_end(b, t_end, "unexpected text after exemplar timestamp")?;
    }
    Ok(())
}

/// Parses labels after `{`; returns the offset just past `}`.
fn parse_labels(
    s: &str,
    mut p: usize,
    labels: &mut Vec<(String, String)>,
) -> Result<usize, LineError> {
    let b = s.as_bytes();
    let mut repeat = RepeatCheck::default();
    loop {
        p = skip_blanks(b, p);
        match at(b, p) {
            Some(b'}') => return Ok(p + 1),
            None => return Err(err(p, "expected label name or '}'")),
            Some(_) => {}
        }
        let name_start = p;
        let name_end = scan_label_name(b, p);
        if name_end == name_start {
            return Err(err(p, "invalid label name"));
        }
        let name = sub(s, name_start, name_end)?;
        p = skip_blanks(b, name_end);
        if at(b, p) != Some(b'=') {
            return Err(err(p, "expected '=' after label name"));
        }
        p = skip_blanks(b, p + 1);
        if at(b, p) != Some(b'"') {
            return Err(err(p, "expected '\"' to start label value"));
        }
        let (value, after) = parse_label_value(s, p)?;
        if repeat.repeats(labels, |(n, _)| n.as_str(), name) {
            return Err(err(name_start, format!("duplicate label name {name:?}")));
        }
        labels.push((name.to_owned(), value));
        p = skip_blanks(b, after);
        match at(b, p) {
            Some(b',') => p += 1,
            Some(b'}') => return Ok(p + 1),
            _ => return Err(err(p, "expected ',' or '}' after label value")),
        }
    }
}

/// Parses a quoted label value whose opening quote is at `q`; returns the
/// value and the offset just past the closing quote.
fn parse_label_value(s: &str, q: usize) -> Result<(String, usize), LineError> {
    let b = s.as_bytes();
    let mut out: Option<String> = None;
    let mut seg = q + 1;
    let mut i = seg;
    while let Some(c) = at(b, i) {
        match c {
            b'"' => {
                let tail = sub(s, seg, i)?;
                let value = match out {
                    None => tail.to_owned(),
                    Some(mut o) => {
                        o.push_str(tail);
                        o
                    }
                };
                return Ok((value, i + 1));
            }
            b'\\' => {
                let o = out.get_or_insert_with(String::new);
                o.push_str(sub(s, seg, i)?);
                match at(b, i + 1) {
                    Some(b'\\') => o.push('\\'),
                    Some(b'"') => o.push('"'),
                    Some(b'n') => o.push('\n'),
                    Some(_) => {
                        return Err(err(
                            i,
                            "invalid escape sequence in label value (expected \\\\, \\\" or \\n)",
                        ));
                    }
                    None => break,
                }
                i += 2;
                seg = i;
            }
            _ => i += 1,
        }
    }
    Err(err(q, "unterminated label value"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(input: &str) -> Vec<Result<(u64, Entry), ParseError>> {
        PromParser::new(input.as_bytes()).collect()
    }

    /// Parses a single line expected to fail; returns (line, column, message).
    fn syntax(input: &str) -> (u64, u32, String) {
        let errs: Vec<_> = parse_all(input)
            .into_iter()
            .filter_map(Result::err)
            .collect();
        match errs.as_slice() {
            [
                ParseError::Syntax {
                    line,
                    column,
                    message,
                },
            ] => (*line, *column, message.clone()),
            other => panic!("expected one syntax error for {input:?}, got {other:?}"),
        }
    }

    /// Compact rendering of an entry, for table-style assertions.
    fn render(e: &Entry) -> String {
        match e {
            Entry::Help { metric, text } => format!("HELP {metric} {text:?}"),
            Entry::Type { metric, kind } => format!("TYPE {metric} {kind}"),
            Entry::Unit { metric, unit } => format!("UNIT {metric} {unit}"),
            Entry::Sample(s) => format!("{}{:?} {:?} {:?}", s.metric, s.labels, s.value, s.ts_ms),
        }
    }

    #[test]
    fn good_file() {
        let input = "# HELP http_requests_total The total.\\nNumber \\\\ of \\x requests.\n\
                     # TYPE http_requests_total counter\r\n\
                     # UNIT http_requests_total requests\n\
                     \n   \t\n\
                     # just a comment\n#\n# HELP\n\
                     http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
                     http_requests_total{ method = \"post\" , code=\"400\", }\t3   1395066363000 \r\n\
                     metric_without_timestamp_and_labels 12.47\n\
                     something_weird{problem=\"division by zero\"} +Inf -3982045\n\
                     escaped{path=\"C:\\\\dir\\\\\",q=\"say \\\"hi\\\"\\n\"} -Inf\n\
                     empty{} NaN\n\
                     \tspaced:name {a=\"é€\"} 1e-3\n\
                     sci 1.5E+10 0\n\
                     last 7 -5";
        let got: Vec<String> = parse_all(input)
            .into_iter()
            .map(|r| {
                let (line, e) = r.unwrap();
                format!("{line}: {}", render(&e))
            })
            .collect();
        let want = [
            r#"1: HELP http_requests_total "The total.\nNumber \\ of \\x requests.""#,
            "2: TYPE http_requests_total counter",
            "3: UNIT http_requests_total requests",
            r#"9: http_requests_total[("method", "post"), ("code", "200")] 1027.0 Some(1395066363000)"#,
            r#"10: http_requests_total[("method", "post"), ("code", "400")] 3.0 Some(1395066363000)"#,
            "11: metric_without_timestamp_and_labels[] 12.47 None",
            r#"12: something_weird[("problem", "division by zero")] inf Some(-3982045)"#,
            r#"13: escaped[("path", "C:\\dir\\"), ("q", "say \"hi\"\n")] -inf None"#,
            "14: empty[] NaN None",
            r#"15: spaced:name[("a", "é€")] 0.001 None"#,
            "16: sci[] 15000000000.0 Some(0)",
            "17: last[] 7.0 Some(-5)",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn special_values() {
        for (t, v) in [
            ("nan", f64::NAN),
            ("Inf", f64::INFINITY),
            ("inf", f64::INFINITY),
            ("+inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
        ] {
            let e = parse_all(&format!("m {t}")).pop().unwrap().unwrap().1;
            let Entry::Sample(s) = e else { panic!() };
            assert!(
                s.value.is_nan() == v.is_nan() && (v.is_nan() || s.value == v),
                "{t}"
            );
        }
        for bad in [
            "infinity", "NAN", "INF", "Infinity", "0x10", "1_000", "1,5", ".", "e5",
        ] {
            assert!(
                syntax(&format!("m {bad}")).2.contains("invalid value"),
                "{bad}"
            );
        }
    }

    #[test]
    fn malformed_lines() {
        let ok = "ok 1\n";
        let cases: &[(&str, u32, &str)] = &[
            ("m", 2, "expected value"),
            ("m{a=\"b\"}", 9, "expected value"),
            ("m{a=\"b\"}   ", 12, "expected value"),
            ("m{1a=\"b\"} 1", 3, "invalid label name"),
            ("m{a-b=\"c\"} 1", 4, "expected '=' after label name"),
            ("m{a=b} 1", 5, "expected '\"'"),
            ("m{a=\"b} 1", 5, "unterminated label value"),
            ("m{a=\"b\\", 5, "unterminated label value"),
            ("m{a=\"x\\ty\"} 1", 7, "invalid escape"),
            ("m{a=\"é\\ty\"} 1", 7, "invalid escape"),
            ("m 1.2.3", 3, "invalid value"),
            ("m abc", 3, "invalid value"),
            ("m 1 123 x", 9, "unexpected text after timestamp"),
            ("m 1 12.5", 5, "invalid timestamp"),
            ("m 1 99999999999999999999", 5, "invalid timestamp"),
            ("# TYPE m countr", 10, "invalid metric type"),
            ("# TYPE m", 9, "expected metric type"),
            (
                "# TYPE m gauge extra",
                16,
                "unexpected text after metric type",
            ),
            ("# HELP 1m x", 8, "invalid metric name"),
            ("# UNIT m a-b", 11, "invalid character in unit"),
            ("m{a=\"1\",a=\"2\"} 1", 9, "duplicate label name"),
            ("m{a=\"1\" b=\"2\"} 1", 9, "expected ',' or '}'"),
            ("m{a=\"1\",,} 1", 9, "invalid label name"),
            ("m{a=\"1\"", 8, "expected ',' or '}'"),
            ("m{", 3, "expected label name"),
            ("m-x 1", 2, "invalid character in metric name"),
            ("1m 1", 1, "expected metric name"),
            ("{a=\"b\"} 1", 1, "expected metric name"),
        ];
        for (line, col, msg) in cases {
            let input = format!("{ok}{ok}{line}\n{ok}");
            let (l, c, m) = syntax(&input);
            assert_eq!((l, c), (3, *col), "{line:?}: {m}");
            assert!(m.contains(msg), "{line:?}: {m:?} lacks {msg:?}");
        }
    }

    #[test]
    fn continues_after_error_and_reports_invalid_utf8() {
        let input: &[u8] = b"a 1\nb{x=\"\xe2\x82\xac\xff\"} 2\nc 3\n";
        let got: Vec<_> = PromParser::new(input).collect();
        assert_eq!(got.len(), 3);
        match &got[1] {
            Err(ParseError::Syntax {
                line: 2,
                column,
                message,
            }) => {
                assert_eq!((*column, message.as_str()), (7, "invalid UTF-8"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&got[2], Ok((3, Entry::Sample(_)))));
    }

    #[test]
    fn display_and_line_counter() {
        let e = ParseError::Syntax {
            line: 12,
            column: 5,
            message: "expected '=' after label name".into(),
        };
        assert_eq!(
            e.to_string(),
            "line 12, column 5: expected '=' after label name"
        );
        let mut p = PromParser::new(&b"\n\na 1\n"[..]);
        assert_eq!(p.line(), 0);
        assert_eq!(p.next().unwrap().unwrap().0, 3);
        assert_eq!(p.line(), 3);
        assert!(p.next().is_none());
    }

    #[test]
    fn io_error_is_reported_once() {
        struct Failing;
        impl std::io::Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("boom"))
            }
        }
        let mut p = PromParser::new(std::io::BufReader::new(Failing));
        assert!(matches!(p.next(), Some(Err(ParseError::Io(_)))));
        assert!(p.next().is_none());
    }

    fn escape(v: &str) -> String {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    }

    fn format_sample(s: &ParsedSample) -> String {
        let mut out = s.metric.clone();
        if !s.labels.is_empty() {
            let parts: Vec<_> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            out.push_str(&format!("{{{}}}", parts.join(",")));
        }
        let v = s.value;
        let vs = if v.is_nan() {
            "NaN".to_owned()
        } else if v.is_infinite() {
            if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
        } else {
            format!("{v:?}")
        };
        out.push(' ');
        out.push_str(&vs);
        if let Some(ts) = s.ts_ms {
            out.push_str(&format!(" {ts}"));
        }
        out
    }

    fn arb_sample() -> impl Strategy<Value = ParsedSample> {
        let labels =
            proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,8}", any::<String>(), 0..5);
        (
            "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}",
            labels,
            any::<u64>().prop_map(f64::from_bits),
            proptest::option::of(any::<i64>()),
        )
            .prop_map(|(metric, labels, value, ts_ms)| ParsedSample {
                metric,
                labels: labels.into_iter().collect(),
                value,
                ts_ms,
            })
    }

    proptest! {
        #[test]
        fn never_panics(input in any::<Vec<u8>>()) {
            for item in PromParser::new(input.as_slice()) {
                let _ = item.map_err(|e| e.to_string());
            }
        }

        #[test]
        fn never_panics_on_near_valid(input in "[a-z{}=\",# \\\\\t\r\n0-9.eE+-]{0,60}") {
            for item in PromParser::new(input.as_bytes()) {
                let _ = item.map_err(|e| e.to_string());
            }
        }

        #[test]
        fn round_trip(s in arb_sample()) {
            let line = format!("{}\r\n", format_sample(&s));
            let got: Vec<_> = PromParser::new(line.as_bytes()).collect();
            prop_assert_eq!(got.len(), 1);
            let Ok((1, Entry::Sample(p))) = &got[0] else { panic!("{line:?}: {:?}", got[0]) };
            prop_assert_eq!(&p.metric, &s.metric);
            prop_assert_eq!(&p.labels, &s.labels);
            prop_assert_eq!(p.ts_ms, s.ts_ms);
            if s.value.is_nan() {
                prop_assert!(p.value.is_nan());
            } else {
                prop_assert_eq!(p.value.to_bits(), s.value.to_bits());
            }
        }
    }
}
