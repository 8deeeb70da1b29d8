//! One module per command family; `run` dispatches.

mod admin;
mod expr;
pub mod forward;
mod ingest;
mod inspect;
pub mod query;
pub mod serve;

use std::sync::Arc;

use tierlog::{Clock, Config, ManualClock, SystemClock};

use crate::time::parse_time;
use crate::{Cli, Command, Failure};

/// The clock: fixed at `--now` when given, else the system clock.
pub struct Now {
    pub ms: i64,
    pub clock: Arc<dyn Clock>,
}

impl Now {
    fn from_arg(arg: Option<&str>) -> Result<Now, Failure> {
        let system = SystemClock.now_ms();
        match arg {
            None => Ok(Now {
                ms: system,
                clock: Arc::new(SystemClock),
            }),
            Some(s) => {
                let ms =
                    parse_time(s, system).map_err(|e| Failure::Error(format!("--now: {e}")))?;
                let m = Arc::new(ManualClock::new(ms));
                Ok(Now { ms, clock: m })
            }
        }
    }

    pub fn config(&self) -> Config {
        Config::default().with_clock(self.clock.clone())
    }

    /// A writer's configuration for the store in `dir`: its existing window span, and its
    /// retention policy (tiers, keep times, limits, expiry action) left unset so that the
    /// store applies what it records — a `maintain` must not delete what the agent keeps.
    /// For a new store: `new_span` (or the default) with the default policy.
    pub fn writer_config(
        &self,
        dir: &std::path::Path,
        new_span: Option<std::time::Duration>,
    ) -> Result<Config, Failure> {
        let mut c = self.config();
        let stored = tierlog::Store::stored_config(dir)?;
        match (stored.as_ref().map(|s| s.window_span), new_span) {
            (Some(existing), Some(asked)) if existing != asked => {
                return Err(Failure::Error(format!(
                    "{}: the store was created with a window span of {} s, not {} s",
                    dir.display(),
                    existing.as_secs(),
                    asked.as_secs()
                )));
            }
            (Some(existing), _) => c.window_span = existing,
            (None, Some(asked)) => c.window_span = asked,
            (None, None) => {}
        }
        // A store that records its raw keep applies it. Otherwise (a new store, or one from
        // before raw keeps were recorded) raw data must outlive a window and its grace,
        // whatever the span, and each tier's piece plus the grace (tiers are computed from
        // raw points): keep the default unless that is too short, and never reach the first
        // tier's keep.
        if stored.as_ref().is_none_or(|s| s.raw_keep.is_none()) {
            let tiers = stored
                .as_ref()
                .and_then(|s| s.tiers.clone())
                .unwrap_or_else(|| c.tiers().to_vec());
            let span_ms = c.window_span.as_millis().max(1) as i64;
            let needed = tiers
                .iter()
                .map(|t| {
                    let iv = (t.interval.as_millis() as i64).max(1);
                    std::time::Duration::from_millis(
                        tierlog::rollup::plan::piece_span(span_ms, iv) as u64
                    )
                })
                .fold(c.window_span, std::cmp::Ord::max)
                + c.grace;
            let mut keep = c.raw_keep().max(needed);
            if let Some(first) = tiers.first()
                && keep >= first.keep
            {
                keep = needed;
            }
            c.raw_keep = Some(keep);
        }
        Ok(c)
    }

    pub fn time(&self, what: &str, s: &str) -> Result<i64, Failure> {
        parse_time(s, self.ms).map_err(|e| Failure::Error(format!("{what}: {e}")))
    }
}

/// The archive directory of the store in `dir`.
fn archive_dir(dir: &std::path::Path) -> Result<std::path::PathBuf, Failure> {
    let stored = tierlog::Store::stored_config(dir)?
        .ok_or_else(|| Failure::Error(format!("{}: no store there", dir.display())))?;
    match stored.on_expiry() {
        tierlog::Expiry::Archive(p) => {
            let p = dir.join(p);
            if p.join("state").exists() {
                Ok(p)
            } else {
                Err(Failure::Error(format!(
                    "{}: nothing archived yet",
                    p.display()
                )))
            }
        }
        tierlog::Expiry::Delete => Err(Failure::Error(format!(
            "{}: the store deletes expired data (on_expiry=delete); it has no archive",
            dir.display()
        ))),
    }
}

pub fn run(cli: Cli) -> Result<(), Failure> {
    let now = Now::from_arg(cli.now.as_deref())?;
    match cli.command {
        Command::Ingest(args) => ingest::run(&now, args),
        Command::Query {
            dir,
            selector,
            from,
            to,
            tier,
            step,
            archive,
            output,
        } => {
            let dir = if archive { archive_dir(&dir)? } else { dir };
            let source = match (tier.as_deref(), step) {
                (Some(t), _) if t != "raw" => query::Source::Tier(t),
                (_, Some(step)) => query::Source::Step(step),
                _ => query::Source::Raw,
            };
            query::run(
                &now,
                &dir,
                &selector,
                from.as_deref(),
                to.as_deref(),
                source,
                &output,
            )
        }
        Command::Metrics { dir, format } => admin::metrics(&now, &dir, format),
        Command::Series {
            dir,
            selector,
            format,
        } => admin::series(&now, &dir, selector.as_deref(), format),
        Command::Stats { dir, format } => admin::stats(&now, &dir, format),
        Command::Config {
            dir,
            settings,
            yes,
            format,
        } => admin::config(&now, &dir, &settings, yes, format),
        Command::Maintain {
            dir,
            format,
            accept_clock,
            max_bytes,
            max_age_days,
        } => admin::maintain(&now, &dir, format, accept_clock, max_bytes, max_age_days),
        Command::Repair { dir, format } => admin::repair(&now, &dir, format),
        Command::Delete {
            dir,
            selector,
            from,
            to,
            dry_run,
            archive,
            format,
        } => admin::delete(
            &now,
            &dir,
            &selector,
            (from.as_deref(), to.as_deref()),
            (dry_run, archive),
            format,
        ),
        Command::Forward(args) => forward::run(&now, *args),
        Command::Serve(args) => serve::run(&now, *args),
        Command::Dump { file, format } => inspect::dump(&file, format),
        Command::Verify { dir, format } => inspect::verify(&dir, format),
        Command::Completions { shell } => {
            let mut cmd = crate::command_line();
            clap_complete::generate(shell, &mut cmd, "tierlog", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// The bytes of every file under `dir` (0 when it does not exist; unreadable entries count 0).
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// Warnings and errors of the libraries (`log`: the forwarder's retries and dropped batches,
/// the server's failed reopens) go to stderr.
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let level = if r.level() == log::Level::Error {
                "error"
            } else {
                "warning"
            };
            eprintln!("tierlog: {level}: {}", r.args());
        }
    }
    fn flush(&self) {}
}

/// Installs [`StderrLog`] (once).
pub fn log_warnings_to_stderr() {
    if log::set_logger(&StderrLog).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}

/// A secret (token, password) from a file, without its trailing newline; refused when empty.
pub fn read_secret(path: &std::path::Path, what: &str) -> Result<String, Failure> {
    let s = std::fs::read_to_string(path)
        .map_err(|e| Failure::Error(format!("{what} {}: {e}", path.display())))?;
    let s = s.trim_end_matches(['\n', '\r']).to_owned();
    if s.is_empty() {
        return Err(Failure::Error(format!("{what} {}: empty", path.display())));
    }
    Ok(s)
}

/// Writes JSON to stdout followed by a newline.
pub fn print_json(v: &impl serde::Serialize) -> Result<(), Failure> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Failure::Error(e.to_string()))?;
    println!("{s}");
    Ok(())
}
