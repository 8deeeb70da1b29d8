//! What every input format produces: entries (samples and metric metadata), each with the
//! 1-based line it came from, or a parse error naming line and column.

use std::fmt;

use serde::Serialize;

/// One sample.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    /// The metric name as the input wrote it (the ingest makes it valid).
    pub metric: String,
    /// Label names and values in input order, as the input wrote them.
    pub labels: Vec<(String, String)>,
    /// The sample's value (may be NaN or infinite when the format allows it).
    pub value: f64,
    /// Milliseconds since the epoch; `None` when the input gave no time (the ingest then uses
    /// its default time).
    pub ts_ms: Option<i64>,
}

/// One meaningful item of an input.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A sample.
    Sample(ParsedSample),
    /// A metric's help text (`# HELP`).
    Help {
        /// The metric (family) it describes.
        metric: String,
        /// The help text, unescaped.
        text: String,
    },
    /// A metric's declared type (`# TYPE`).
    Type {
        /// The metric (family) it describes.
        metric: String,
        /// The type as written, e.g. `counter`, `gauge`, `histogram`.
        kind: String,
    },
    /// A metric's unit (OpenMetrics `# UNIT`).
    Unit {
        /// The metric (family) it describes.
        metric: String,
        /// The unit as written, e.g. `seconds`.
        unit: String,
    },
}

/// Error yielded by the parsers.
#[derive(Debug)]
#[non_exhaustive]
pub enum ParseError {
    /// Reading the input failed; the parser yields nothing after this.
    Io(std::io::Error),
    /// The input is malformed at `line` (1-based), `column` (1-based, in characters).
    Syntax {
        /// The line (1-based).
        line: u64,
        /// The column (1-based, in characters).
        column: u32,
        /// What was wrong, for a person to read.
        message: String,
    },
    /// Line `line` (1-based) is longer than `max` bytes (the import's line limit); it was
    /// not read whole, and the parser yields nothing after this.
    LineTooLong {
        /// The line (1-based).
        line: u64,
        /// The line limit in bytes.
        max: usize,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Io(e) => write!(f, "I/O error: {e}"),
            ParseError::Syntax {
                line,
                column,
                message,
            } => write!(f, "line {line}, column {column}: {message}"),
            ParseError::LineTooLong { line, max } => write!(
                f,
                "line {line}: longer than {max} bytes, the longest line an import reads (max_line_bytes)"
            ),
        }
    }
}

impl std::error::Error for ParseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ParseError::Io(e) => Some(e),
            ParseError::Syntax { .. } | ParseError::LineTooLong { .. } => None,
        }
    }
}

impl From<std::io::Error> for ParseError {
    fn from(e: std::io::Error) -> Self {
        ParseError::Io(e)
    }
}

/// Input items a parser read correctly and dropped on purpose, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// InfluxDB line protocol string fields (a metric value must be a number).
    pub string_fields: u64,
    /// OpenMetrics `<name>_created` samples of counters, histograms and summaries: they hold
    /// the series' creation time, not a measurement.
    pub created_samples: u64,
}

impl Skipped {
    /// Everything skipped.
    pub fn total(&self) -> u64 {
        self.string_fields + self.created_samples
    }
}

/// Two input names that became the same stored name once made valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameCollision {
    /// The input name seen first.
    pub first: String,
    /// A different input name seen later.
    pub second: String,
    /// The name both became (their samples share series).
    pub name: String,
}

/// Input names that became the same name once made valid (InfluxDB line protocol
/// `usage-idle` and `usage_idle` both become `usage_idle`): their samples end up in one
/// series, averaged where they share a second.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NameCollisions {
    /// Distinct input names (metric names, label names) that became a name another input
    /// name had become first.
    pub count: u64,
    /// The first few of them.
    pub examples: Vec<NameCollision>,
}

/// A parser as the ingest sees it: entries in input order, plus what it read and skipped.
pub trait EntrySource: Iterator<Item = Result<(u64, Entry), ParseError>> {
    /// Lines read so far.
    fn lines_read(&self) -> u64;

    /// Items skipped so far.
    fn skipped(&self) -> Skipped {
        Skipped::default()
    }

    /// Input names that became the same name so far (formats that rewrite names).
    /// Wrappers must pass it on from the parser they wrap.
    fn name_collisions(&self) -> NameCollisions {
        NameCollisions::default()
    }

    /// Refuses input lines longer than `max` bytes from now on ([`ParseError::LineTooLong`];
    /// the default is [`crate::import::DEFAULT_MAX_LINE_BYTES`]). Wrappers must pass it
    /// on to the parser they wrap.
    fn set_max_line_bytes(&mut self, max: usize);
}

impl<S: EntrySource + ?Sized> EntrySource for Box<S> {
    fn lines_read(&self) -> u64 {
        (**self).lines_read()
    }

    fn skipped(&self) -> Skipped {
        (**self).skipped()
    }

    fn name_collisions(&self) -> NameCollisions {
        (**self).name_collisions()
    }

    fn set_max_line_bytes(&mut self, max: usize) {
        (**self).set_max_line_bytes(max)
    }
}

/// One parse result as a line of text, for the parsers' unit tests: `LINE: metric{k="v",...}
/// value ts`, other entries by `Debug`, syntax errors as `LINE:COLUMN: message`.
#[cfg(test)]
pub(crate) fn render_for_tests(r: &Result<(u64, Entry), ParseError>) -> String {
    match r {
        Ok((line, Entry::Sample(s))) => {
            let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            format!(
                "{line}: {}{{{}}} {:?} {:?}",
                s.metric,
                labels.join(","),
                s.value,
                s.ts_ms
            )
        }
        Ok((line, other)) => format!("{line}: {other:?}"),
        Err(ParseError::Syntax {
            line,
            column,
            message,
        }) => format!("{line}:{column}: {message}"),
        Err(e) => e.to_string(),
    }
}
