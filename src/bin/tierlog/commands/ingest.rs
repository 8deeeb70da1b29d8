//! `tierlog ingest`.

use std::fs::File;
use std::io::{BufReader, IsTerminal};
use std::time::{Duration, Instant};

use tierlog::import::ingest::{IngestError, IngestOptions, IngestSummary, ingest_prom};
use tierlog::{Config, ManualClock, Store, Sync};

use super::{Now, print_json};
use crate::{Failure, Format, IngestArgs, SyncArg};

pub fn run(now: &Now, args: IngestArgs) -> Result<(), Failure> {
    let IngestArgs {
        dir,
        file,
        input_format: _,
        replay,
        batch,
        sync,
        window_span,
        format,
    } = args;
    let dir = dir.as_path();
    let file = file.as_str();
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
    let input: Box<dyn std::io::BufRead> = if file == "-" {
        if std::io::stdin().is_terminal() {
            eprintln!("tierlog: reading exposition lines from standard input (Ctrl-D ends)");
        }
        Box::new(std::io::stdin().lock())
    } else {
        let f = File::open(file).map_err(|e| Failure::Error(format!("{file}: {e}")))?;
        Box::new(BufReader::with_capacity(1 << 20, f))
    };
    let (summary, res) = ingest_prom(&store, input, &opts);
    let close = store.close();
    let elapsed = started.elapsed();
    print_summary(&summary, elapsed, format)?;
    if let Err(e) = res {
        return Err(match e {
            IngestError::Parse(p) => Failure::Error(format!(
                "{file}: {p}; nothing of that line's batch was written"
            )),
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
                "lines,samples,accepted,rejected_too_old,rejected_too_far_ahead,new_series,metadata,seconds"
            );
            println!(
                "{},{},{},{},{},{},{},{:.3}",
                s.lines,
                s.samples,
                s.written.accepted,
                s.written.rejected_too_old,
                s.written.rejected_too_far_ahead,
                s.written.new_series,
                s.metadata,
                elapsed.as_secs_f64()
            );
            Ok(())
        }
        Format::Table => {
            eprintln!(
                "ingested {} samples from {} lines in {:.2} s ({:.0} samples/s): {} accepted, {} rejected (too old: {}, too far ahead: {}); {} new series, metadata for {} metrics",
                s.samples,
                s.lines,
                elapsed.as_secs_f64(),
                rate,
                s.written.accepted,
                s.written.rejected(),
                s.written.rejected_too_old,
                s.written.rejected_too_far_ahead,
                s.written.new_series,
                s.metadata
            );
            Ok(())
        }
    }
}
