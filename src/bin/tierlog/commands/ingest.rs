//! `tierlog ingest`.

use std::fs::File;
use std::io::{BufReader, IsTerminal};
use std::path::Path;
use std::time::{Duration, Instant};

use tierlog::import::ingest::{IngestError, IngestOptions, IngestSummary, ingest};
use tierlog::import::{InputFormat, ParseError, Precision};
use tierlog::{Config, ManualClock, Store, Sync};

use super::{Now, print_json};
use crate::{Failure, Format, IngestArgs, PrecisionArg, SyncArg};

/// The input format: as given, else from the file's extension (standard input: Prometheus).
fn input_format(given: Option<crate::InputFormat>, file: &str) -> Result<InputFormat, Failure> {
    Ok(match given {
        Some(crate::InputFormat::Prom) => InputFormat::Prom,
        Some(crate::InputFormat::OpenMetrics) => InputFormat::OpenMetrics,
        Some(crate::InputFormat::Influx) => InputFormat::Influx,
        Some(crate::InputFormat::Csv) => InputFormat::Csv,
        None if file == "-" => InputFormat::Prom,
        None => InputFormat::from_path(Path::new(file)).ok_or_else(|| {
            Failure::Usage(format!(
                "{file}: cannot tell the input format from the file name (.prom, .txt, .om, \
                 .openmetrics, .lp, .influx, .line, .csv); pass --input-format \
                 prom|openmetrics|influx|csv"
            ))
        })?,
    })
}

fn format_name(f: InputFormat) -> &'static str {
    match f {
        InputFormat::Prom => "Prometheus text exposition",
        InputFormat::OpenMetrics => "OpenMetrics text",
        InputFormat::Influx => "InfluxDB line protocol",
        InputFormat::Csv => "CSV",
    }
}

pub fn run(now: &Now, args: IngestArgs) -> Result<(), Failure> {
    let IngestArgs {
        dir,
        file,
        input_format: given_format,
        precision,
        replay,
        batch,
        sync,
        window_span,
        format,
    } = args;
    let dir = dir.as_path();
    let file = file.as_str();
    let input_format = input_format(given_format, file)?;
    let precision = match precision {
        None => Precision::Ns,
        Some(_) if input_format != InputFormat::Influx => {
            return Err(Failure::Usage(
                "--precision applies to InfluxDB line protocol input only".into(),
            ));
        }
        Some(PrecisionArg::Ns) => Precision::Ns,
        Some(PrecisionArg::Us) => Precision::Us,
        Some(PrecisionArg::Ms) => Precision::Ms,
        Some(PrecisionArg::S) => Precision::S,
    };
    let window_span = window_span
        .map(|s| {
            crate::time::parse_duration_ms(&s)
                .map(|ms| Duration::from_millis(ms as u64))
                .ok_or_else(|| {
                    Failure::Error(format!("--window-span {s:?}: expected a duration like 10m"))
                })
        })
        .transpose()?;
    if batch == 0 {
        return Err(Failure::Error("--batch must be at least 1".into()));
    }
    // In a replay the clock starts at the beginning of time and follows the data.
    let replay_clock = replay.then(|| std::sync::Arc::new(ManualClock::new(0)));
    let mut config: Config = now.writer_config(dir, window_span)?;
    if let Some(c) = &replay_clock {
        config.clock = c.clone();
    }
    config.sync = match sync {
        SyncArg::Every => Sync::EveryWrite,
        SyncArg::Interval => Sync::Interval(Duration::from_secs(1)),
        SyncArg::Never => Sync::Never,
    };
    let store = Store::open(dir, config)?;
    for f in store.recovery_findings() {
        eprintln!("tierlog: recovery: {f}");
    }
    let spill =
        tempfile::tempdir().map_err(|e| Failure::Error(format!("temporary directory: {e}")))?;
    let opts = IngestOptions {
        batch,
        replay: replay_clock,
        spill_dir: spill.path().to_owned(),
        sort_memory: 256 << 20,
        default_ts: now.ms,
    };
    let started = Instant::now();
    let replay = opts.replay.is_some();
    let input: Box<dyn std::io::BufRead> = if file == "-" {
        if std::io::stdin().is_terminal() {
            eprintln!(
                "tierlog: reading {} from standard input (Ctrl-D ends)",
                format_name(input_format)
            );
        }
        Box::new(std::io::stdin().lock())
    } else {
        let f = File::open(file).map_err(|e| Failure::Error(format!("{file}: {e}")))?;
        Box::new(BufReader::with_capacity(1 << 20, f))
    };
    let (summary, res) = ingest(&store, input_format.parser(input, precision), &opts);
    let close = store.close();
    let elapsed = started.elapsed();
    print_summary(&summary, elapsed, format)?;
    if let Err(e) = res {
        return Err(match e {
            IngestError::Parse(p) => {
                let name = if file == "-" { "<stdin>" } else { file };
                let written = if replay {
                    "nothing was written (a replay reads all input first)"
                } else {
                    "nothing of that line's batch was written"
                };
                Failure::Error(match p {
                    ParseError::Syntax {
                        line,
                        column,
                        message,
                    } => format!("{name}:{line}:{column}: {message}; {written}"),
                    other => format!("{name}: {other}; {written}"),
                })
            }
            IngestError::Store(s) => Failure::from(s),
            IngestError::Spill(io) => Failure::Error(format!("sorting for replay: {io}")),
        });
    }
    close?;
    if summary.samples > 0 && summary.written.accepted == 0 {
        return Err(Failure::Error(
            "no sample could be written (all were rejected)".into(),
        ));
    }
    Ok(())
}

fn print_summary(s: &IngestSummary, elapsed: Duration, format: Format) -> Result<(), Failure> {
    let rate = s.samples as f64 / elapsed.as_secs_f64().max(1e-9);
    match format {
        Format::Json => print_json(&serde_json::json!({
            "summary": s,
            "seconds": elapsed.as_secs_f64(),
            "samples_per_second": rate,
        })),
        Format::Csv => {
            println!(
                "lines,samples,accepted,rejected_too_old,rejected_too_far_ahead,new_series,metadata,seconds,skipped_string_fields,skipped_created_samples"
            );
            println!(
                "{},{},{},{},{},{},{},{:.3},{},{}",
                s.lines,
                s.samples,
                s.written.accepted,
                s.written.rejected_too_old,
                s.written.rejected_too_far_ahead,
                s.written.new_series,
                s.metadata,
                elapsed.as_secs_f64(),
                s.skipped.string_fields,
                s.skipped.created_samples,
            );
            Ok(())
        }
        Format::Table => {
            eprintln!(
                "ingested {} samples from {} lines in {:.2} s ({:.0} samples/s): {} accepted, {} rejected (too old: {}, too far ahead: {}); {} new series, metadata for {} metrics{}",
                s.samples,
                s.lines,
                elapsed.as_secs_f64(),
                rate,
                s.written.accepted,
                s.written.rejected(),
                s.written.rejected_too_old,
                s.written.rejected_too_far_ahead,
                s.written.new_series,
                s.metadata,
                skipped_text(s)
            );
            Ok(())
        }
    }
}

/// `; skipped …` when the parser dropped items on purpose, else nothing.
fn skipped_text(s: &IngestSummary) -> String {
    let count = |n: u64, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut parts = Vec::new();
    if s.skipped.string_fields > 0 {
        parts.push(count(s.skipped.string_fields, "string field"));
    }
    if s.skipped.created_samples > 0 {
        parts.push(count(s.skipped.created_samples, "_created sample"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("; skipped {}", parts.join(", "))
    }
}
