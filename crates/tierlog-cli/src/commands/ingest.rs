//! `tierlog ingest`.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufReader, IsTerminal, Read};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use tierlog::{Config, ManualClock, Store, Sync};
use tierlog_tools::import::ingest::{IngestError, IngestOptions, IngestSummary, ingest};
use tierlog_tools::import::{
    Entry, EntrySource, InputFormat, NameCollisions, ParseError, Precision, Skipped,
};

use super::{Now, dir_bytes, print_json};
use crate::{Failure, Format, IngestArgs, PrecisionArg, SyncArg, status};

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
        max_line_bytes,
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
    let store_before = dir_bytes(dir);
    let store = Store::open(dir, config)?;
    for f in store.recovery_findings() {
        eprintln!("tierlog: recovery: {f}");
    }
    let spill = spill_dir(dir, replay)
        .map_err(|e| Failure::Error(format!("temporary directory under {}: {e}", dir.display())))?;
    let opts = IngestOptions {
        batch,
        replay: replay_clock,
        spill_dir: spill
            .as_ref()
            .map_or_else(|| dir.join(SPILL_DIR), |d| d.path().to_owned()),
        sort_memory: 256 << 20,
        default_ts: now.ms,
        latest: Some(now.ms.saturating_add(
            i64::try_from(store.config().future_limit.as_millis()).unwrap_or(i64::MAX),
        )),
        max_line_bytes,
    };
    let started = Instant::now();
    let replay = opts.replay.is_some();
    let read = Rc::new(Cell::new(0u64));
    let (input, bar): (Box<dyn std::io::BufRead>, ProgressBar) = if file == "-" {
        if std::io::stdin().is_terminal() {
            status::summary(format_args!(
                "tierlog: reading {} from standard input (Ctrl-D ends)",
                format_name(input_format)
            ));
        }
        let bar = status::counter("ingest", "samples");
        let stdin = Counted::new(std::io::stdin(), read.clone(), None);
        (Box::new(BufReader::with_capacity(1 << 20, stdin)), bar)
    } else {
        let f = File::open(file).map_err(|e| Failure::Error(format!("{file}: {e}")))?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let bar = status::bytes_bar("ingest", size);
        let f = Counted::new(f, read.clone(), Some(bar.clone()));
        (Box::new(BufReader::with_capacity(1 << 20, f)), bar)
    };
    let source = Watched {
        inner: input_format.parser(input, precision),
        bar: bar.clone(),
        samples: 0,
        by_samples: file == "-",
        replay,
    };
    let (summary, res) = ingest(&store, source, &opts);
    // The sorted runs are gone with the replay; an empty `DIR/tmp` goes too (a directory
    // still holding something is left for the next ingest to clean).
    drop(spill);
    let _ = std::fs::remove_dir(dir.join(SPILL_DIR));
    bar.finish_and_clear();
    let store_raw_keep = store.config().raw_keep();
    let close = store.close();
    let elapsed = started.elapsed();
    let sizes = Sizes {
        input: read.get(),
        store_before,
        store_after: dir_bytes(dir),
    };
    print_summary(&summary, elapsed, &sizes, format)?;
    warn_name_collisions(&summary);
    if let Some(line) = summary.first_too_far_ahead_line {
        eprintln!(
            "tierlog: warning: {} sample{} skipped: later than the clock plus the future limit, so the replay clock did not follow {} (first at {file}:{line}; a mistyped time?)",
            summary.written.rejected_too_far_ahead,
            if summary.written.rejected_too_far_ahead == 1 {
                ""
            } else {
                "s"
            },
            if summary.written.rejected_too_far_ahead == 1 {
                "it"
            } else {
                "them"
            },
        );
    }
    warn_conflicts(&summary.written, store_raw_keep);
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
                    ParseError::LineTooLong { line, max } => format!(
                        "{name}:{line}: line longer than {max} bytes (the longest line an import reads); {written}"
                    ),
                    other => format!("{name}: {other}; {written}"),
                })
            }
            IngestError::Sample { line, reason } => {
                let name = if file == "-" { "<stdin>" } else { file };
                Failure::Error(if replay {
                    format!(
                        "{name}:{line}: {reason}; nothing from that point in time on was written"
                    )
                } else {
                    format!("{name}:{line}: {reason}; nothing of that line's batch was written")
                })
            }
            IngestError::Store(s) => Failure::from(s),
            IngestError::Spill(io) => Failure::Error(format!("sorting for replay: {io}")),
        });
    }
    close?;
    if summary.samples > 0 && summary.written.accepted == 0 {
        return Err(Failure::Error(nothing_written(&summary.written, replay)));
    }
    Ok(())
}

/// Why no sample of an ingest could be written, and what to do (nothing was registered).
fn nothing_written(w: &tierlog::WriteSummary, replay: bool) -> String {
    let mut why = Vec::new();
    if w.rejected_too_old > 0 {
        why.push(format!(
            "{} too old: older than the clock less the raw keep and than every tier keeps (within the raw keep samples are written in any order, late ones too; older history goes to the tiers whose keep covers it); {}",
            w.rejected_too_old,
            if replay {
                "the store already holds data past them (a replay cannot go back before it)"
            } else {
                "to load older data into a new or empty store, pass --replay (the clock then                  follows the data)"
            }
        ));
    }
    if w.rejected_too_far_ahead > 0 {
        why.push(format!(
            "{} too far ahead of the clock (more than the allowed lead into the future):              check the timestamps' unit, or set the clock with --now",
            w.rejected_too_far_ahead
        ));
    }
    if w.rejected_conflict > 0 {
        why.push(format!(
            "{} older than the raw keep and refused by a tier that already holds their buckets (see the warning above)",
            w.rejected_conflict
        ));
    }
    if w.rejected_head_full > 0 {
        why.push(format!(
            "{} refused because the open windows are full (limits.max_head_bytes)",
            w.rejected_head_full
        ));
    }
    if w.rejected_conflict > 0 {
        why.push(format!(
            "{} refused because a rollup tier holds buckets of their series at their time whose raw points are gone or damaged (they could not be recomputed exactly)",
            w.rejected_conflict
        ));
    }
    format!(
        "no sample could be written, so nothing was registered (no series, no metadata): {}",
        why.join("; ")
    )
}

/// The directory under the store where a replay's sorted runs go.
const SPILL_DIR: &str = "tmp";

/// Removes what an ingest killed during a replay left in `DIR/tmp/` (this process holds the
/// writer lock, so no other ingest is using it) and, for a replay, makes this one's
/// directory there (removed when dropped). Under the store rather than the system's temporary
/// directory, so nothing is left behind for good.
fn spill_dir(dir: &Path, replay: bool) -> std::io::Result<Option<tempfile::TempDir>> {
    let base = dir.join(SPILL_DIR);
    match std::fs::read_dir(&base) {
        Ok(entries) => {
            for e in entries {
                let path = e?.path();
                if path.is_dir() {
                    std::fs::remove_dir_all(&path)?;
                } else {
                    std::fs::remove_file(&path)?;
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if !replay {
        return Ok(None);
    }
    std::fs::create_dir_all(&base)?;
    tempfile::Builder::new()
        .prefix("ingest-")
        .tempdir_in(&base)
        .map(Some)
}

/// Bytes read and the store's size around the ingest.
struct Sizes {
    input: u64,
    store_before: u64,
    store_after: u64,
}

impl Sizes {
    /// How much the store grew (negative when maintenance freed more than was written).
    fn growth(&self) -> i128 {
        i128::from(self.store_after) - i128::from(self.store_before)
    }
}

/// The summary: on stdout as a document with `--format json|csv`, and always (unless
/// `--quiet`) as one line on stderr.
fn print_summary(
    s: &IngestSummary,
    elapsed: Duration,
    sizes: &Sizes,
    format: Format,
) -> Result<(), Failure> {
    let rate = s.samples as f64 / elapsed.as_secs_f64().max(1e-9);
    match format {
        Format::Json => print_json(&serde_json::json!({
            "summary": s,
            "seconds": elapsed.as_secs_f64(),
            "samples_per_second": rate,
            "input_bytes": sizes.input,
            "store_bytes": sizes.store_after,
            "store_bytes_added": sizes.growth(),
        }))?,
        Format::Csv => {
            println!(
                "lines,samples,accepted,rejected_too_old,rejected_too_far_ahead,new_series,metadata,seconds,skipped_string_fields,skipped_created_samples,input_bytes,store_bytes,store_bytes_added,rejected_head_full,name_collisions,late_after_forward,rejected_conflict,late"
            );
            println!(
                "{},{},{},{},{},{},{},{:.3},{},{},{},{},{},{},{},{},{},{}",
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
                sizes.input,
                sizes.store_after,
                sizes.growth(),
                s.written.rejected_head_full,
                s.name_collisions,
                s.written.late_after_forward,
                s.written.rejected_conflict,
                s.written.late,
            );
        }
        Format::Table => {}
    }
    status::summary(format_args!(
        "ingested {} samples from {} lines ({} bytes) in {:.2} s ({:.0} samples/s): {} accepted, {} rejected (too old: {}, too far ahead: {}{}); {} new series, metadata for {} metrics{}; store {} bytes ({:+}){}",
        s.samples,
        s.lines,
        sizes.input,
        elapsed.as_secs_f64(),
        rate,
        s.written.accepted,
        s.written.rejected(),
        s.written.rejected_too_old,
        s.written.rejected_too_far_ahead,
        {
            let mut more = String::new();
            if s.written.rejected_head_full > 0 {
                more += &format!(
                    ", open windows full (limits.max_head_bytes): {}",
                    s.written.rejected_head_full
                );
            }
            if s.written.rejected_conflict > 0 {
                more += &format!(
                    ", conflicting with rollup buckets whose raw points are gone: {}",
                    s.written.rejected_conflict
                );
            }
            more
        },
        s.written.new_series,
        s.metadata,
        late_text(&s.written),
        sizes.store_after,
        sizes.growth(),
        skipped_text(s)
    ));
    Ok(())
}

/// Says why history was refused as conflicting (`rejected_conflict`), when some was.
fn warn_conflicts(w: &tierlog::WriteSummary, raw_keep: Duration) {
    if w.rejected_conflict == 0 {
        return;
    }
    eprintln!(
        "tierlog: warning: {} sample{} older than the raw keep ({}) not imported into every tier: a tier already holds buckets of {} series at {} time (or is still rolling that time up from raw data) and the raw points behind them are gone, so the buckets cannot be recomputed exactly with {} (a p95 of two sets cannot be rebuilt from their p95s); nothing was merged, and tiers without those buckets took them. Import history into a store before it holds that time, or delete that range first",
        w.rejected_conflict,
        if w.rejected_conflict == 1 { "" } else { "s" },
        humantime_secs(raw_keep),
        if w.rejected_conflict == 1 {
            "its"
        } else {
            "their"
        },
        if w.rejected_conflict == 1 {
            "its"
        } else {
            "their"
        },
        if w.rejected_conflict == 1 {
            "it"
        } else {
            "them"
        },
    );
}

/// A duration as `2h`, `90m` or `45s`.
fn humantime_secs(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// The accepted samples a forwarder of the store has moved past, when there are any: they
/// will not be sent (`late_after_forward`).
fn late_text(w: &tierlog::WriteSummary) -> String {
    let mut out = String::new();
    if w.late > 0 {
        out += &format!(
            "; of the accepted, {} into windows already sealed (late samples, merged by the next maintenance pass)",
            w.late
        );
    }
    if w.late_after_forward > 0 {
        out += &format!(
            "; of the accepted, {} behind a forwarder's watermark (not forwarded)",
            w.late_after_forward
        );
    }
    out
}

/// A warning (always printed) when different input names became one name.
fn warn_name_collisions(s: &IngestSummary) {
    if s.name_collisions == 0 {
        return;
    }
    let pairs: Vec<String> = s
        .name_collision_examples
        .iter()
        .map(|c| format!("{:?} and {:?} both became {:?}", c.first, c.second, c.name))
        .collect();
    let more = s.name_collisions - pairs.len() as u64;
    eprintln!(
        "tierlog: warning: {} input name{} became the same name as another once made valid, so their samples share series (averaged within a second): {}{}",
        s.name_collisions,
        if s.name_collisions == 1 { "" } else { "s" },
        pairs.join("; "),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        }
    );
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

/// A reader that counts the bytes it hands out and moves a byte bar along.
struct Counted<R> {
    inner: R,
    read: Rc<Cell<u64>>,
    bar: Option<ProgressBar>,
}

impl<R> Counted<R> {
    fn new(inner: R, read: Rc<Cell<u64>>, bar: Option<ProgressBar>) -> Self {
        Counted { inner, read, bar }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        if let Some(bar) = &self.bar {
            bar.set_position(self.read.get());
        }
        Ok(n)
    }
}

/// A parser whose samples are counted on the bar: as its position for input of unknown size
/// (`by_samples`), else in its message. In a replay, says when reading is over and the sorted
/// samples are being written.
struct Watched<S> {
    inner: S,
    bar: ProgressBar,
    samples: u64,
    by_samples: bool,
    replay: bool,
}

/// Samples between two updates of the bar.
const BAR_EVERY: u64 = 4096;

impl<S: EntrySource> Iterator for Watched<S> {
    type Item = S::Item;

    fn next(&mut self) -> Option<S::Item> {
        let item = self.inner.next();
        match &item {
            Some(Ok((_, Entry::Sample(_)))) => {
                self.samples += 1;
                if self.samples.is_multiple_of(BAR_EVERY) {
                    self.show();
                }
            }
            Some(_) => {}
            None => {
                self.show();
                if self.replay {
                    self.bar.set_message(format!(
                        "{} samples read; writing them in time order",
                        self.samples
                    ));
                }
            }
        }
        item
    }
}

impl<S> Watched<S> {
    fn show(&self) {
        if self.by_samples {
            self.bar.set_position(self.samples);
        } else {
            self.bar.set_message(format!("{} samples", self.samples));
        }
    }
}

impl<S: EntrySource> EntrySource for Watched<S> {
    fn lines_read(&self) -> u64 {
        self.inner.lines_read()
    }

    fn skipped(&self) -> Skipped {
        self.inner.skipped()
    }

    fn name_collisions(&self) -> NameCollisions {
        self.inner.name_collisions()
    }

    fn set_max_line_bytes(&mut self, max: usize) {
        self.inner.set_max_line_bytes(max)
    }
}
