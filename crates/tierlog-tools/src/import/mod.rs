//! Input formats and the helpers that feed them to the store.
//!
//! Every format is a streaming parser yielding [`Entry`] items (samples and metric metadata)
//! with the line each came from; [`ingest::ingest`] writes any of them to a store. The text
//! grammar of names and values is shared (module `text`), and OpenMetrics reads its lines with the
//! Prometheus parser in its OpenMetrics dialect.

pub mod csv;
pub mod entry;
pub mod influx;
pub mod ingest;
pub mod openmetrics;
pub mod prom;
pub mod rfc3339;
pub mod sort;
pub(crate) mod text;

use std::io::BufRead;
use std::path::Path;

pub use entry::{
    Entry, EntrySource, NameCollision, NameCollisions, ParseError, ParsedSample, Skipped,
};
pub use influx::Precision;
pub use text::DEFAULT_MAX_LINE_BYTES;

/// The input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Prometheus text exposition 0.0.4 (timestamps in ms).
    Prom,
    /// OpenMetrics text 1.0 (timestamps in seconds, `# EOF` at the end).
    OpenMetrics,
    /// InfluxDB line protocol.
    Influx,
    /// CSV with a header row.
    Csv,
}

impl InputFormat {
    /// The format a file name's extension stands for: `.prom`, `.txt` → Prometheus; `.om`,
    /// `.openmetrics` → OpenMetrics; `.lp`, `.influx`, `.line` → line protocol; `.csv` → CSV
    /// (ASCII case ignored).
    pub fn from_path(path: &Path) -> Option<InputFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "prom" | "txt" => InputFormat::Prom,
            "om" | "openmetrics" => InputFormat::OpenMetrics,
            "lp" | "influx" | "line" => InputFormat::Influx,
            "csv" => InputFormat::Csv,
            _ => return None,
        })
    }

    /// A parser of this format over `input`; `precision` is the unit of line protocol
    /// timestamps (the other formats fix their own).
    pub fn parser<'a, R: BufRead + 'a>(
        self,
        input: R,
        precision: Precision,
    ) -> Box<dyn EntrySource + 'a> {
        match self {
            InputFormat::Prom => Box::new(prom::PromParser::new(input)),
            InputFormat::OpenMetrics => Box::new(openmetrics::OpenMetricsParser::new(input)),
            InputFormat::Influx => Box::new(influx::InfluxParser::new(input, precision)),
            InputFormat::Csv => Box::new(csv::CsvParser::new(input)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_extensions() {
        for (name, want) in [
            ("a.prom", Some(InputFormat::Prom)),
            ("dir.v2/metrics.TXT", Some(InputFormat::Prom)),
            ("x.om", Some(InputFormat::OpenMetrics)),
            ("x.openmetrics", Some(InputFormat::OpenMetrics)),
            ("x.lp", Some(InputFormat::Influx)),
            ("x.influx", Some(InputFormat::Influx)),
            ("x.line", Some(InputFormat::Influx)),
            ("x.Csv", Some(InputFormat::Csv)),
            ("x.json", None),
            ("prom", None),
            ("-", None),
        ] {
            assert_eq!(InputFormat::from_path(Path::new(name)), want, "{name}");
        }
    }
}
