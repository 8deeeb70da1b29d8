//! Streaming parser for samples in CSV (RFC 4180) with a header row.
//!
//! The header says what each column holds (role names are matched ignoring ASCII case and
//! surrounding blanks):
//!
//! | header | column | cell |
//! |---|---|---|
//! | `metric` or `__name__` | the metric name (required) | a valid metric name |
//! | `ts`, `timestamp` or `time` | the time (optional) | integer ms since the epoch, or RFC 3339 (UTC when it has no offset); empty: the ingest's default time |
//! | `value` | the value (required) | a number, `NaN`, `+Inf`, `-Inf` (the Prometheus spellings) |
//! | anything else | a label of that name | the label value as written; empty: no such label |
//!
//! so `metric,host,ts,value` is the usual layout, in any column order. Blanks around the
//! metric, time and value cells are ignored; label cells are taken as written.
//!
//! CSV rules: fields are separated by `,`, records by a line end (`\n` or `\r\n`); a field in
//! double quotes may hold commas, line ends and `""` (one quote); a quote inside an unquoted
//! field, or text after a closing quote, is an error. A UTF-8 byte order mark before the
//! header is ignored, blank lines are skipped, and a record may not exceed
//! [`MAX_RECORD_BYTES`].
//!
//! This is a small reader of its own rather than the `csv` crate: the errors must name the
//! line and column of the offending cell, also for quoted cells that span lines, which needs
//! the position of every field as it is read; that is a few dozen lines here and not what the
//! crate's record API reports.

use std::io::BufRead;

use super::entry::{Entry, EntrySource, ParseError, ParsedSample};
use super::rfc3339;
use super::text::{LineReader, RepeatCheck, parse_int, parse_value};
use tierlog::model::{valid_label_name, valid_metric_name};

/// Longest record accepted, in bytes (it also bounds what an unterminated quote can swallow).
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// One field as read, with where it starts.
#[derive(Debug)]
struct Field {
    text: String,
    line: u64,
    column: u32,
}

/// What the header says.
#[derive(Debug)]
struct Columns {
    count: usize,
    metric: usize,
    ts: Option<usize>,
    value: usize,
    labels: Vec<(usize, String)>,
}

/// Streaming CSV parser; see the module docs.
pub struct CsvParser<R> {
    lines: LineReader<R>,
    columns: Option<Columns>,
    /// A header error makes every row meaningless: nothing is yielded after it.
    done: bool,
}

fn syntax(line: u64, column: u32, message: impl Into<String>) -> ParseError {
    ParseError::Syntax {
        line,
        column,
        message: message.into(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first character of a field.
    FieldStart,
    Unquoted,
    Quoted,
    /// Right after a closing quote.
    AfterQuote,
}

impl<R: BufRead> CsvParser<R> {
    /// A parser over `r`, which starts with the header row.
    pub fn new(r: R) -> Self {
        CsvParser {
            lines: LineReader::new(r),
            columns: None,
            done: false,
        }
    }

    /// The next record; `None` at the end of the input.
    fn read_record(&mut self) -> Option<Result<Vec<Field>, ParseError>> {
        let mut fields: Vec<Field> = Vec::new();
        let mut state = State::FieldStart;
        let mut cur: Option<Field> = None;
        let mut bytes = 0usize;
        let mut first_line = 0;
        // The line end of the previous line, kept inside a quoted field as written.
        let mut prev_end = "";
        loop {
            let (line, text) = match self.lines.next_line() {
                None => {
                    return cur.map(|f| Err(syntax(f.line, f.column, "unterminated quoted field")));
                }
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(l)) => l,
            };
            if first_line == 0 {
                first_line = line;
            }
            bytes += text.len() + 1;
            if bytes > MAX_RECORD_BYTES {
                return Some(Err(syntax(
                    first_line,
                    1,
                    format!("record longer than {MAX_RECORD_BYTES} bytes (an unterminated quote?)"),
                )));
            }
            // The byte order mark counts as no column.
            let (text, mut column) = match text.strip_prefix('\u{feff}') {
                Some(rest) if line == 1 => (rest, 1u32),
                _ => (text, 1u32),
            };
            if state == State::Quoted
                && let Some(f) = cur.as_mut()
            {
                f.text.push_str(prev_end);
            }
            let mut chars = text.chars().peekable();
            while let Some(c) = chars.next() {
                let here = column;
                column = column.saturating_add(1);
                match state {
                    State::Quoted => {
                        let f = cur.get_or_insert_with(|| Field {
                            text: String::new(),
                            line,
                            column: here,
                        });
                        if c == '"' {
                            if chars.peek() == Some(&'"') {
                                chars.next();
                                column = column.saturating_add(1);
                                f.text.push('"');
                            } else {
                                state = State::AfterQuote;
                            }
                        } else {
                            f.text.push(c);
                        }
                    }
                    _ if c == ',' => {
                        fields.push(cur.take().unwrap_or(Field {
                            text: String::new(),
                            line,
                            column: here,
                        }));
                        state = State::FieldStart;
                    }
                    State::FieldStart => {
                        cur = Some(Field {
                            text: String::new(),
                            line,
                            column: here,
                        });
                        if c == '"' {
                            state = State::Quoted;
                        } else {
                            state = State::Unquoted;
                            if let Some(f) = cur.as_mut() {
                                f.text.push(c);
                            }
                        }
                    }
                    State::Unquoted => {
                        if c == '"' {
                            return Some(Err(syntax(line, here, "quote inside an unquoted field")));
                        }
                        if let Some(f) = cur.as_mut() {
                            f.text.push(c);
                        }
                    }
                    State::AfterQuote => {
                        return Some(Err(syntax(
                            line,
                            here,
                            "expected ',' or the end of the line after a closing quote",
                        )));
                    }
                }
            }
            if state == State::Quoted {
                prev_end = self.lines.last_line_end();
                continue;
            }
            fields.push(cur.take().unwrap_or(Field {
                text: String::new(),
                line,
                column,
            }));
            return Some(Ok(fields));
        }
    }

    fn read_header(&mut self, record: Vec<Field>) -> Result<(), ParseError> {
        let mut metric: Option<usize> = None;
        let mut ts: Option<usize> = None;
        let mut value: Option<usize> = None;
        let mut labels: Vec<(usize, String)> = Vec::new();
        let mut repeat = RepeatCheck::default();
        let line = record.first().map_or(0, |f| f.line);
        // A first line naming neither a metric nor a value column is data, not a header.
        let role_name = |f: &Field| {
            let n = f.text.trim_matches([' ', '\t']).to_ascii_lowercase();
            matches!(n.as_str(), "metric" | "__name__" | "value")
        };
        if !record.iter().any(role_name) {
            return Err(syntax(
                line,
                1,
                "the header is missing: the first line must name the columns, e.g. \
                 metric,ts,value,host (a metric or __name__ column, a value column, an \
                 optional ts column, and label columns)",
            ));
        }
        for (i, f) in record.iter().enumerate() {
            let name = f.text.trim_matches([' ', '\t']);
            let role = match name.to_ascii_lowercase().as_str() {
                "metric" | "__name__" => Some(("metric", &mut metric)),
                "ts" | "timestamp" | "time" => Some(("time", &mut ts)),
                "value" => Some(("value", &mut value)),
                _ => None,
            };
            match role {
                Some((what, slot)) => {
                    if let Some(prev) = slot {
                        return Err(syntax(
                            f.line,
                            f.column,
                            format!("a second {what} column (column {} is one)", *prev + 1),
                        ));
                    }
                    *slot = Some(i);
                }
                None => {
                    if !valid_label_name(name) || name.starts_with("__") {
                        return Err(syntax(
                            f.line,
                            f.column,
                            format!(
                                "column {name:?} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
                            ),
                        ));
                    }
                    if repeat.repeats(&labels, |(_, n)| n.as_str(), name) {
                        return Err(syntax(
                            f.line,
                            f.column,
                            format!("label column {name:?} appears twice"),
                        ));
                    }
                    labels.push((i, name.to_owned()));
                }
            }
        }
        let (Some(metric), Some(value)) = (metric, value) else {
            return Err(syntax(
                line,
                1,
                "the header needs a metric column (metric or __name__) and a value column (value)",
            ));
        };
        self.columns = Some(Columns {
            count: record.len(),
            metric,
            ts,
            value,
            labels,
        });
        Ok(())
    }
}

/// A row's sample under `cols`.
fn read_row(cols: &Columns, record: &[Field]) -> Result<ParsedSample, ParseError> {
    if record.len() != cols.count {
        let (line, column) = match record.get(cols.count) {
            Some(extra) => (extra.line, extra.column),
            None => (record.first().map_or(0, |f| f.line), 1),
        };
        return Err(syntax(
            line,
            column,
            format!(
                "{} fields where the header has {}",
                record.len(),
                cols.count
            ),
        ));
    }
    // Indices below come from the header, whose length was just checked.
    let cell = |i: usize| &record[i];
    let trimmed = |f: &Field| f.text.trim_matches([' ', '\t']).to_owned();
    let m = cell(cols.metric);
    let metric = trimmed(m);
    if metric.is_empty() {
        return Err(syntax(m.line, m.column, "empty metric name"));
    }
    if !valid_metric_name(&metric) {
        return Err(syntax(
            m.line,
            m.column,
            format!("invalid metric name {metric:?}"),
        ));
    }
    let ts_ms =
        match cols.ts.map(cell) {
            None => None,
            Some(f) => {
                let t = trimmed(f);
                if t.is_empty() {
                    None
                } else {
                    Some(parse_int(&t).or_else(|| rfc3339::parse(&t)).ok_or_else(|| {
                    syntax(
                        f.line,
                        f.column,
                        format!("invalid time {t:?} (expected ms since the epoch or RFC 3339)"),
                    )
                })?)
                }
            }
        };
    let v = cell(cols.value);
    let vt = trimmed(v);
    let value = parse_value(&vt)
        .ok_or_else(|| syntax(v.line, v.column, format!("invalid value {vt:?}")))?;
    let labels = cols
        .labels
        .iter()
        .filter(|(i, _)| !record[*i].text.is_empty())
        .map(|(i, name)| (name.clone(), record[*i].text.clone()))
        .collect();
    Ok(ParsedSample {
        metric,
        labels,
        value,
        ts_ms,
    })
}

impl<R: BufRead> Iterator for CsvParser<R> {
    type Item = Result<(u64, Entry), ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let record = match self.read_record()? {
                Ok(r) => r,
                Err(e) => {
                    if self.columns.is_none() || matches!(e, ParseError::Io(_)) {
                        self.done = true;
                    }
                    return Some(Err(e));
                }
            };
            if let [f] = record.as_slice()
                && f.text.is_empty()
            {
                continue;
            }
            let line = record.first().map_or(0, |f| f.line);
            match &self.columns {
                None => {
                    if let Err(e) = self.read_header(record) {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                Some(cols) => {
                    return Some(read_row(cols, &record).map(|s| (line, Entry::Sample(s))));
                }
            }
        }
        None
    }
}

impl<R: BufRead> EntrySource for CsvParser<R> {
    fn set_max_line_bytes(&mut self, max: usize) {
        self.lines.set_max_line_bytes(max);
    }

    fn lines_read(&self) -> u64 {
        self.lines.line()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(input: &str) -> Vec<String> {
        CsvParser::new(input.as_bytes())
            .map(|r| crate::import::entry::render_for_tests(&r))
            .collect()
    }

    #[test]
    fn columns_quoting_and_times() {
        let input = "\u{feff}metric,host,ts,value,dc\r\n\
                     cpu,a,1700000000000,1.5,eu\r\n\
                     cpu,\"b,\"\"quoted\"\"\",2023-11-14T22:13:20.5Z,2,\n\
                     \n\
                     mem, a ,  1700000000001 , -Inf ,\"multi\r\nline\"\n\
                     mem,,,NaN,\n\
                     \"up\",\"\",\"\",1e3,\"\"";
        let got = rendered(input);
        assert_eq!(
            got,
            [
                r#"2: cpu{host="a",dc="eu"} 1.5 Some(1700000000000)"#,
                r#"3: cpu{host="b,\"quoted\""} 2.0 Some(1700000000500)"#,
                r#"5: mem{host=" a ",dc="multi\r\nline"} -inf Some(1700000000001)"#,
                "7: mem{} NaN None",
                "8: up{} 1000.0 None",
            ]
        );
    }

    #[test]
    fn header_roles_in_any_order_and_case() {
        let got = rendered("Value,TIME,__name__,zone\n3,5,x,z\n");
        assert_eq!(got, [r#"2: x{zone="z"} 3.0 Some(5)"#]);
        let got = rendered("metric,value\nx,1\n");
        assert_eq!(got, ["2: x{} 1.0 None"]);
    }

    #[test]
    fn header_errors_stop_the_parse() {
        for (header, want) in [
            (
                "metric,ts,time,value",
                "1:11: a second time column (column 2 is one)",
            ),
            ("metric,ts", "1:1: the header needs a metric column"),
            ("ts,value", "1:1: the header needs a metric column"),
            (
                "metric,host-name,value",
                "1:8: column \"host-name\" is not a valid label",
            ),
            (
                "metric,__x,value",
                "1:8: column \"__x\" is not a valid label",
            ),
            ("metric,,value", "1:8: column \"\" is not a valid label"),
            ("metric,a,a,value", "1:10: label column \"a\" appears twice"),
            ("metric,\"a\"b,value", "1:11: expected ',' or the end"),
            // No header at all: the first line is data.
            ("cpu,1700000000000,1.5,a", "1:1: the header is missing"),
            ("node_load1,1,2,3", "1:1: the header is missing"),
        ] {
            let got = rendered(&format!("{header}\nm,1,2,3\n"));
            assert_eq!(got.len(), 1, "{header}: {got:?}");
            assert!(
                got[0].starts_with(want),
                "{header}: {:?} vs {want:?}",
                got[0]
            );
        }
    }

    #[test]
    fn row_errors_name_the_cell() {
        let cases: &[(&str, &str)] = &[
            ("m,a,1", "3:1: 3 fields where the header has 4"),
            ("m,a,1,2,3", "3:9: 5 fields where the header has 4"),
            (",a,1,2", "3:1: empty metric name"),
            ("m-x,a,1,2", "3:1: invalid metric name \"m-x\""),
            ("m,a,yesterday,2", "3:5: invalid time \"yesterday\""),
            ("m,a,1.5,2", "3:5: invalid time \"1.5\""),
            ("m,a,1,x", "3:7: invalid value \"x\""),
            ("m,a,1,", "3:7: invalid value \"\""),
            ("m,a\"b,1,2", "3:4: quote inside an unquoted field"),
            ("m,\"é\"x,1,2", "3:6: expected ',' or the end"),
            ("m,\"a\nb\"c,1,2", "4:3: expected ',' or the end"),
        ];
        for (row, want) in cases {
            let got = rendered(&format!(
                "metric,host,ts,value\nok,a,1,1\n{row}\nok,a,2,2\n"
            ));
            assert!(got.len() >= 3, "{row:?}: {got:?}");
            assert!(
                got[1].starts_with(want),
                "{row:?}: {:?} vs {want:?}",
                got[1]
            );
            assert!(
                got.last().unwrap().contains("ok{"),
                "{row:?}: parsing goes on"
            );
        }
    }

    #[test]
    fn unterminated_quote_and_long_records() {
        let got = rendered("metric,value\nm,\"1\n2\n");
        assert_eq!(got, ["2:3: unterminated quoted field"]);
        let long = format!(
            "metric,value\nm,\"{}",
            "x\n".repeat(MAX_RECORD_BYTES / 2 + 1)
        );
        let got = rendered(&long);
        assert!(got[0].starts_with("2:1: record longer than"), "{got:?}");
        assert_eq!(rendered(""), Vec::<String>::new());
        assert_eq!(rendered("metric,value\n"), Vec::<String>::new());
    }
}
