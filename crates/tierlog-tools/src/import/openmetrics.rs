//! Streaming parser for the OpenMetrics text format (1.0), on the line grammar of
//! [`super::prom`] in its OpenMetrics dialect.
//!
//! What this adds to the line grammar:
//!
//! * **Timestamps are seconds** (`1700000000.5`), turned into milliseconds; digits below a
//!   millisecond are dropped.
//! * **`# EOF` ends the exposition.** Input that ends without it is an error (a truncated
//!   file), reported on the line after the last one; any line after it, even an empty one,
//!   is an error.
//! * **Metric families.** Metadata names a family, samples carry suffixed names. A counter
//!   family `foo` has its samples in `foo_total`, an info family in `foo_info`, so the
//!   family's `HELP`, `TYPE` and `UNIT` are given to that metric (whatever order the three
//!   come in); other families keep their own name, as in the Prometheus format. A family
//!   already named `foo_total` (a common slip) is not suffixed again.
//! * **`_created` samples are skipped** for counter, histogram, gaugehistogram and summary
//!   families: they hold the time a series was created, not a measurement. They are
//!   counted in [`Skipped::created_samples`]. A `foo_created` metric of no such family is an
//!   ordinary sample.
//! * **Exemplars** (` # {trace_id="…"} 1.0 1700000000.1` after a sample) are checked and
//!   dropped.
//!
//! As in the Prometheus format, blank lines and other `#` comments are accepted and skipped
//! (strict OpenMetrics forbids both).

use std::collections::{HashMap, VecDeque};
use std::io::BufRead;

use super::entry::{Entry, EntrySource, ParseError, Skipped};
use super::prom::{Dialect, Line, parse_line};
use super::text::LineReader;

type Item = Result<(u64, Entry), ParseError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before `# EOF`.
    Body,
    /// `# EOF` was read; nothing may follow.
    AfterEof,
    /// Done: end of input, or an error that ends the parse.
    Done,
}

/// Streaming OpenMetrics parser; see the module docs.
pub struct OpenMetricsParser<R> {
    lines: LineReader<R>,
    state: State,
    /// Items ready to be yielded, in input order.
    ready: VecDeque<Item>,
    /// Metadata lines of the family being described, held until the family's type is known.
    pending: Vec<(u64, Entry)>,
    pending_family: Option<String>,
    /// Declared type of each family seen.
    types: HashMap<String, String>,
    skipped: Skipped,
}

impl<R: BufRead> OpenMetricsParser<R> {
    /// A parser over `r`, an OpenMetrics text exposition.
    pub fn new(r: R) -> Self {
        OpenMetricsParser {
            lines: LineReader::new(r),
            state: State::Body,
            ready: VecDeque::new(),
            pending: Vec::new(),
            pending_family: None,
            types: HashMap::new(),
            skipped: Skipped::default(),
        }
    }

    /// Moves the held metadata to `ready`, named after the metric its samples carry.
    fn flush_pending(&mut self) {
        let Some(family) = self.pending_family.take() else {
            return;
        };
        let suffix = match self.types.get(&family).map(String::as_str) {
            Some("counter") => "_total",
            Some("info") => "_info",
            _ => "",
        };
        let target = if suffix.is_empty() || family.ends_with(suffix) {
            family
        } else {
            format!("{family}{suffix}")
        };
        for (line, mut entry) in self.pending.drain(..) {
            match &mut entry {
                Entry::Help { metric, .. }
                | Entry::Type { metric, .. }
                | Entry::Unit { metric, .. } => metric.clone_from(&target),
                Entry::Sample(_) => {}
            }
            self.ready.push_back(Ok((line, entry)));
        }
    }

    /// Whether `metric` is the `_created` sample of a family that has one.
    fn is_created(&self, metric: &str) -> bool {
        let Some(family) = metric.strip_suffix("_created") else {
            return false;
        };
        matches!(
            self.types.get(family).map(String::as_str),
            Some("counter" | "histogram" | "gaugehistogram" | "summary")
        )
    }

    /// Reads one line and queues what it yields.
    fn step(&mut self) {
        let (line, text) = match self.lines.next_line() {
            None => {
                self.flush_pending();
                if self.state == State::Body {
                    self.ready.push_back(Err(ParseError::Syntax {
                        line: self.lines.line() + 1,
                        column: 1,
                        message: "input ends without \"# EOF\"".to_owned(),
                    }));
                }
                self.state = State::Done;
                return;
            }
            Some(Err(e)) => {
                self.flush_pending();
                if matches!(e, ParseError::Io(_)) {
                    self.state = State::Done;
                }
                self.ready.push_back(Err(e));
                return;
            }
            Some(Ok(l)) => l,
        };
        if self.state == State::AfterEof {
            self.ready.push_back(Err(ParseError::Syntax {
                line,
                column: 1,
                message: "unexpected content after \"# EOF\"".to_owned(),
            }));
            self.state = State::Done;
            self.lines.fuse();
            return;
        }
        let parsed = parse_line(text, Dialect::OpenMetrics).map_err(|e| e.at_line(line, text));
        match parsed {
            Ok(None) => {}
            Ok(Some(Line::Eof)) => {
                self.flush_pending();
                self.state = State::AfterEof;
            }
            Ok(Some(Line::Entry(Entry::Sample(s)))) => {
                self.flush_pending();
                if self.is_created(&s.metric) {
                    self.skipped.created_samples += 1;
                } else {
                    self.ready.push_back(Ok((line, Entry::Sample(s))));
                }
            }
            Ok(Some(Line::Entry(meta))) => {
                let family = match &meta {
                    Entry::Help { metric, .. }
                    | Entry::Type { metric, .. }
                    | Entry::Unit { metric, .. } => metric.clone(),
                    Entry::Sample(_) => return,
                };
                if self.pending_family.as_deref() != Some(family.as_str()) {
                    self.flush_pending();
                    self.pending_family = Some(family.clone());
                }
                if let Entry::Type { kind, .. } = &meta {
                    self.types.insert(family, kind.clone());
                }
                self.pending.push((line, meta));
            }
            Err(e) => {
                self.flush_pending();
                self.ready.push_back(Err(e));
            }
        }
    }
}

impl<R: BufRead> Iterator for OpenMetricsParser<R> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            if self.state == State::Done {
                return None;
            }
            self.step();
        }
    }
}

impl<R: BufRead> EntrySource for OpenMetricsParser<R> {
    fn set_max_line_bytes(&mut self, max: usize) {
        self.lines.set_max_line_bytes(max);
    }

    fn lines_read(&self) -> u64 {
        self.lines.line()
    }

    fn skipped(&self) -> Skipped {
        self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &str) -> Vec<Item> {
        OpenMetricsParser::new(input.as_bytes()).collect()
    }

    fn render(item: &Item) -> String {
        match item {
            Ok((line, Entry::Sample(s))) => {
                format!(
                    "{line}: {}{:?} {:?} {:?}",
                    s.metric, s.labels, s.value, s.ts_ms
                )
            }
            Ok((line, Entry::Help { metric, text })) => format!("{line}: HELP {metric} {text:?}"),
            Ok((line, Entry::Type { metric, kind })) => format!("{line}: TYPE {metric} {kind}"),
            Ok((line, Entry::Unit { metric, unit })) => format!("{line}: UNIT {metric} {unit}"),
            Err(ParseError::Syntax {
                line,
                column,
                message,
            }) => format!("{line}:{column}: {message}"),
            Err(e) => format!("{e}"),
        }
    }

    fn rendered(input: &str) -> Vec<String> {
        parse_all(input).iter().map(render).collect()
    }

    #[test]
    fn families_timestamps_exemplars_and_created() {
        let input = "# HELP http_requests The \\\"total\\\".\n\
                     # TYPE http_requests counter\n\
                     # UNIT http_requests requests\n\
                     http_requests_total{code=\"200\"} 1027 1700000000.5 # {trace_id=\"ab\"} 1 1700000000.25\n\
                     http_requests_created{code=\"200\"} 1699990000\n\
                     http_requests_total{code=\"400\"} 3 1700000001\n\
                     # TYPE temp gauge\n\
                     # UNIT temp celsius\n\
                     temp 21.5 1.7e9\n\
                     temp 21.75 .001\n\
                     # TYPE build info\n\
                     build_info{version=\"1\"} 1\n\
                     # TYPE lat histogram\n\
                     lat_bucket{le=\"+Inf\"} 4 # {id=\"x\"} 0.2\n\
                     lat_created 5\n\
                     other_created 7\n\
                     # TYPE done_total counter\n\
                     done_total 1\n\
                     # EOF\n";
        let mut p = OpenMetricsParser::new(input.as_bytes());
        let got: Vec<String> = p.by_ref().map(|i| render(&i)).collect();
        let want = [
            r#"1: HELP http_requests_total "The \"total\".""#,
            "2: TYPE http_requests_total counter",
            "3: UNIT http_requests_total requests",
            r#"4: http_requests_total[("code", "200")] 1027.0 Some(1700000000500)"#,
            r#"6: http_requests_total[("code", "400")] 3.0 Some(1700000001000)"#,
            "7: TYPE temp gauge",
            "8: UNIT temp celsius",
            "9: temp[] 21.5 Some(1700000000000)",
            "10: temp[] 21.75 Some(1)",
            "11: TYPE build_info info",
            r#"12: build_info[("version", "1")] 1.0 None"#,
            "13: TYPE lat histogram",
            r#"14: lat_bucket[("le", "+Inf")] 4.0 None"#,
            "16: other_created[] 7.0 None",
            "17: TYPE done_total counter",
            "18: done_total[] 1.0 None",
        ];
        assert_eq!(got, want);
        assert_eq!(p.skipped().created_samples, 2);
        assert_eq!(p.lines_read(), 19);
    }

    #[test]
    fn seconds_to_milliseconds() {
        for (t, ms) in [
            ("0", Some(0)),
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("1.2345", Some(1234)),
            ("-1.5", Some(-1500)),
            ("+2", Some(2000)),
            ("1e3", Some(1_000_000)),
            ("1.5E-3", Some(1)),
            ("9223372036854775", Some(9_223_372_036_854_775_000)),
            ("9223372036854776", None),
            ("-9223372036854775.808", Some(i64::MIN)),
            ("9223372036854775.808", None),
            ("1e300", None),
            (".", None),
            ("", None),
            ("1.2.3", None),
            ("0x10", None),
            ("NaN", None),
        ] {
            assert_eq!(super::super::prom::parse_seconds(t), ms, "{t:?}");
        }
    }

    #[test]
    fn eof_rules() {
        assert_eq!(
            rendered("a 1\n"),
            ["1: a[] 1.0 None", "2:1: input ends without \"# EOF\""]
        );
        assert_eq!(rendered(""), ["1:1: input ends without \"# EOF\""]);
        assert_eq!(rendered("# EOF"), Vec::<String>::new());
        assert_eq!(rendered("a 1\n# EOF\r\n"), ["1: a[] 1.0 None"]);
        assert_eq!(
            rendered("a 1\n# EOF\n\n"),
            ["1: a[] 1.0 None", "3:1: unexpected content after \"# EOF\""]
        );
        // Only one error after EOF, however much follows.
        assert_eq!(
            rendered("# EOF\nb 2\nc 3\n"),
            ["2:1: unexpected content after \"# EOF\""]
        );
        assert_eq!(
            rendered("# EOF x\n"),
            [
                "1:7: unexpected text after # EOF",
                "2:1: input ends without \"# EOF\""
            ]
        );
        // Metadata held for its family is yielded before the end-of-input error.
        assert_eq!(
            rendered("# TYPE c counter\n"),
            [
                "1: TYPE c_total counter",
                "2:1: input ends without \"# EOF\""
            ]
        );
    }

    #[test]
    fn malformed_lines_name_line_and_column() {
        let cases: &[(&str, &str)] = &[
            ("m 1 17e", "2:5: invalid timestamp \"17e\""),
            ("m 1 1 # {a=\"b\"}", "2:16: expected exemplar value"),
            ("m 1 # a=\"b\" 1", "2:7: expected '{'"),
            ("m 1 # {a=b} 1", "2:10: expected '\"'"),
            ("m 1 # {a=\"b\"} x", "2:15: invalid exemplar value \"x\""),
            (
                "m 1 # {a=\"b\"} 1 2 3",
                "2:19: unexpected text after exemplar timestamp",
            ),
            ("m 1 2 3", "2:7: unexpected text after timestamp"),
            ("# TYPE m untyped", "2:10: invalid metric type \"untyped\""),
            ("m{a=\"1\",a=\"2\"} 1", "2:9: duplicate label name"),
        ];
        for (line, want) in cases {
            let got = rendered(&format!("ok 1\n{line}\n# EOF\n"));
            assert_eq!(got.len(), 2, "{line:?}: {got:?}");
            assert!(
                got[1].starts_with(want),
                "{line:?}: {:?} vs {want:?}",
                got[1]
            );
        }
    }

    #[test]
    fn every_openmetrics_type_is_accepted() {
        for kind in OM_TYPES {
            let got = rendered(&format!("# TYPE m {kind}\n# EOF\n"));
            assert_eq!(got.len(), 1, "{kind}: {got:?}");
            assert!(got[0].contains(&format!(" {kind}")), "{kind}: {got:?}");
        }
    }

    const OM_TYPES: [&str; 8] = [
        "counter",
        "gauge",
        "histogram",
        "gaugehistogram",
        "stateset",
        "info",
        "summary",
        "unknown",
    ];

    #[test]
    fn io_error_ends_the_parse() {
        struct Failing;
        impl std::io::Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("boom"))
            }
        }
        let got: Vec<_> = OpenMetricsParser::new(std::io::BufReader::new(Failing)).collect();
        assert!(
            matches!(got.as_slice(), [Err(ParseError::Io(_))]),
            "{got:?}"
        );
    }
}
