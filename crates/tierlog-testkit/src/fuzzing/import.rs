//! Fuzz entry points of the input formats other than Prometheus text: OpenMetrics, InfluxDB
//! line protocol, CSV. Each runs the parser over the bytes to the end and checks what it
//! promises: items come in line order, errors have 1-based positions and display, names are
//! valid, and every sample written back in the same format parses to the same sample.

use std::fmt::Write as _;

use tierlog::model::{valid_label_name, valid_metric_name};
use tierlog_tools::import::csv::{CsvParser, MAX_RECORD_BYTES};
use tierlog_tools::import::influx::{InfluxParser, Precision};
use tierlog_tools::import::openmetrics::OpenMetricsParser;
use tierlog_tools::import::{Entry, EntrySource, ParseError, ParsedSample};

use super::format_sample;

/// Checks an item's line against the previous one (`strict`: one item per line at most) and
/// an error's position; returns the sample, if the item is one.
fn check_item(
    item: Result<(u64, Entry), ParseError>,
    last_line: &mut u64,
    strict: bool,
) -> Option<ParsedSample> {
    match item {
        Ok((line, entry)) => {
            assert!(
                line > *last_line || (!strict && line == *last_line),
                "line numbers must increase"
            );
            *last_line = line;
            match entry {
                Entry::Sample(s) => {
                    assert!(valid_metric_name(&s.metric), "metric {:?}", s.metric);
                    for (i, (k, _)) in s.labels.iter().enumerate() {
                        assert!(valid_label_name(k), "label {k:?}");
                        assert!(
                            s.labels[..i].iter().all(|(k2, _)| k2 != k),
                            "duplicate label {k:?}"
                        );
                    }
                    Some(s)
                }
                Entry::Help { metric, .. }
                | Entry::Type { metric, .. }
                | Entry::Unit { metric, .. } => {
                    assert!(valid_metric_name(&metric), "metadata of {metric:?}");
                    None
                }
            }
        }
        Err(e) => {
            if let ParseError::Syntax { line, column, .. } = &e {
                assert!(*line > *last_line, "error line numbers must increase");
                assert!(*column >= 1);
                *last_line = *line;
            }
            let _ = e.to_string();
            None
        }
    }
}

fn assert_same(back: &ParsedSample, orig: &ParsedSample, text: &str) {
    assert_eq!(back.metric, orig.metric, "{text:?}");
    assert_eq!(back.labels, orig.labels, "{text:?}");
    assert_eq!(back.ts_ms, orig.ts_ms, "{text:?}");
    if orig.value.is_nan() {
        assert!(back.value.is_nan(), "{text:?}");
    } else {
        assert_eq!(back.value.to_bits(), orig.value.to_bits(), "{text:?}");
    }
}

/// The single sample `text` parses to with `parse`.
fn reparse(
    text: &str,
    parse: impl FnOnce(&[u8]) -> Vec<Result<(u64, Entry), ParseError>>,
) -> ParsedSample {
    let got = parse(text.as_bytes());
    match got.as_slice() {
        [Ok((_, Entry::Sample(s)))] => s.clone(),
        other => panic!("{text:?} re-parsed as {other:?}"),
    }
}

// ------------------------------------------------------------------------------ openmetrics

/// `OpenMetricsParser` over the bytes. Besides the common rules (module docs): nothing follows the
/// end-of-input or after-`# EOF` error; a sample written back as an OpenMetrics line (time
/// in seconds with three decimals) followed by `# EOF` parses to the same sample.
pub fn openmetrics_parse(data: &[u8]) {
    let mut last_line = 0u64;
    let mut ended = false;
    for item in OpenMetricsParser::new(data) {
        assert!(!ended, "an item after the final error");
        if let Err(ParseError::Syntax { message, .. }) = &item {
            ended = message.contains("# EOF\"");
        }
        let Some(s) = check_item(item, &mut last_line, true) else {
            continue;
        };
        let mut text = String::new();
        format_sample(
            &ParsedSample {
                ts_ms: None,
                ..s.clone()
            },
            &mut text,
        );
        if let Some(ms) = s.ts_ms {
            let sign = if ms < 0 { "-" } else { "" };
            let abs = ms.unsigned_abs();
            write!(text, " {sign}{}.{:03}", abs / 1000, abs % 1000).expect("fmt");
        }
        text.push_str("\n# EOF\n");
        let back = reparse(&text, |b| OpenMetricsParser::new(b).collect());
        assert_same(&back, &s, &text);
    }
}

// ----------------------------------------------------------------------------------- influx

/// `InfluxParser` over the bytes after the first, whose low two bits choose the precision.
/// Besides the common rules (module docs; several samples may share a line): values are finite, and a
/// sample written back as `metric,tags value=V TS` in milliseconds parses to the same sample
/// with `_value` appended to its name.
pub fn influx_parse(data: &[u8]) {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let precision =
        [Precision::Ns, Precision::Us, Precision::Ms, Precision::S][usize::from(first & 3)];
    let mut parser = InfluxParser::new(input, precision);
    let mut last_line = 0u64;
    for item in parser.by_ref() {
        let Some(s) = check_item(item, &mut last_line, false) else {
            continue;
        };
        assert!(s.value.is_finite(), "{s:?}");
        assert!(
            s.labels
                .iter()
                .all(|(k, v)| !k.starts_with("__") && !v.is_empty()),
            "{s:?}"
        );
        let mut text = s.metric.clone();
        for (k, v) in &s.labels {
            let mut esc = String::with_capacity(v.len());
            for c in v.chars() {
                if matches!(c, ',' | '=' | ' ' | '\\') {
                    esc.push('\\');
                }
                esc.push(c);
            }
            write!(text, ",{k}={esc}").expect("fmt");
        }
        write!(text, " value={:?}", s.value).expect("fmt");
        if let Some(ts) = s.ts_ms {
            write!(text, " {ts}").expect("fmt");
        }
        text.push('\n');
        let back = reparse(&text, |b| InfluxParser::new(b, Precision::Ms).collect());
        let want = ParsedSample {
            metric: format!("{}_value", s.metric),
            ..s
        };
        assert_same(&back, &want, &text);
    }
    assert!(parser.lines_read() >= last_line);
}

// -------------------------------------------------------------------------------------- csv

/// `CsvParser` over the bytes. Besides the common rules (module docs): no label is empty, and a
/// sample written back as a CSV file of its own (header `metric,<labels…>,ts,value`, label
/// cells quoted) parses to the same sample.
pub fn csv_parse(data: &[u8]) {
    let mut last_line = 0u64;
    for item in CsvParser::new(data) {
        let Some(s) = check_item(item, &mut last_line, false) else {
            continue;
        };
        let mut header = String::from("metric");
        let mut row = s.metric.clone();
        for (k, v) in &s.labels {
            assert!(!v.is_empty(), "empty label {k:?}");
            write!(header, ",{k}").expect("fmt");
            write!(row, ",\"{}\"", v.replace('"', "\"\"")).expect("fmt");
        }
        let value = if s.value.is_nan() {
            "NaN".to_owned()
        } else if s.value.is_infinite() {
            if s.value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
        } else {
            format!("{:?}", s.value)
        };
        let ts = s.ts_ms.map(|t| t.to_string()).unwrap_or_default();
        let text = format!("{header},ts,value\n{row},{ts},{value}\n");
        if text.len() >= MAX_RECORD_BYTES {
            continue;
        }
        let back = reparse(&text, |b| CsvParser::new(b).collect());
        assert_same(&back, &s, &text);
    }
}
