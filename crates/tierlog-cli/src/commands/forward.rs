//! `tierlog forward`: send the store's raw points to a Prometheus remote-write receiver,
//! beside the process that writes the store.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tierlog_forward::{Auth, ForwardConfig, ForwardError, ForwardStats, Forwarder, LateMode};

use super::{Now, log_warnings_to_stderr, print_json, read_secret};
use crate::time::format_rfc3339;
use crate::{Failure, Format, status};

/// Arguments of `tierlog forward`.
#[derive(Debug, clap::Args)]
pub struct ForwardArgs {
    /// Store directory (read-only: the writing process keeps its lock).
    pub dir: PathBuf,
    /// The receiver's remote-write URL (http:// or https://).
    #[arg(long, required_unless_present = "remove")]
    pub url: Option<String>,
    /// Name of the checkpoint (DIR/forward/NAME.ckpt): one per receiver.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Remove the checkpoint NAME of a forwarder no longer used (refused while one runs),
    /// so that raw data is no longer held back for it; sends nothing.
    #[arg(long, conflicts_with_all = ["url", "since", "once", "reset_checkpoint"])]
    pub remove: bool,
    /// A second is sent once the clock is past it by this much.
    #[arg(long, value_name = "DURATION", default_value = "2s", allow_hyphen_values = true, value_parser = crate::args::duration_arg)]
    pub delay: Duration,
    /// Pause between passes once caught up.
    #[arg(long, value_name = "DURATION", default_value = "1s", allow_hyphen_values = true, value_parser = crate::args::duration_arg)]
    pub poll: Duration,
    /// Most samples per request.
    #[arg(long, default_value_t = 2000)]
    pub max_samples: usize,
    /// Most bytes per request (protobuf, before compression).
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES", value_parser = crate::args::size_arg_usize)]
    pub max_bytes: usize,
    /// Timeout of one request.
    #[arg(long, value_name = "DURATION", default_value = "30s", allow_hyphen_values = true, value_parser = crate::args::duration_arg)]
    pub timeout: Duration,
    /// Connect timeout.
    #[arg(long, value_name = "DURATION", default_value = "5s", allow_hyphen_values = true, value_parser = crate::args::duration_arg)]
    pub connect_timeout: Duration,
    /// Give up after this many failed attempts of one batch (exit 1; the checkpoint stays
    /// before it). Default: retry until stopped.
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// Send `Authorization: Bearer TOKEN`, the token read from this file.
    #[arg(long, value_name = "FILE", conflicts_with = "basic_user")]
    pub bearer_token_file: Option<PathBuf>,
    /// Basic authentication user (with --basic-password-file).
    #[arg(long, value_name = "USER", requires = "basic_password_file")]
    pub basic_user: Option<String>,
    /// File holding the basic authentication password.
    #[arg(long, value_name = "FILE", requires = "basic_user")]
    pub basic_password_file: Option<PathBuf>,
    /// Where a new checkpoint starts (RFC 3339, ms, or relative like -1h). Default: the
    /// oldest raw data. An existing checkpoint is not moved.
    #[arg(long, value_name = "T", allow_hyphen_values = true, value_parser = crate::args::time_arg)]
    pub since: Option<String>,
    /// Move a damaged checkpoint aside (NAME.ckpt.damaged) and start anew, re-sending from
    /// --since (else the oldest raw data). Without it a damaged checkpoint exits 3.
    #[arg(long)]
    pub reset_checkpoint: bool,
    /// One pass: send every closed second not sent yet, then exit.
    #[arg(long)]
    pub once: bool,
    /// Samples written behind the watermark (DIR/forward/late.log): `skip` counts them and
    /// sends nothing (a receiver without an out-of-order window refuses them); `send` sends
    /// them in requests of their own after the in-order stream, for a receiver that accepts
    /// older samples (Prometheus with out_of_order_time_window, VictoriaMetrics, Mimir).
    #[arg(long, value_enum, default_value = "skip")]
    pub late: LateArg,
    /// Output format of the final stats.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// `--late`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LateArg {
    /// Count late samples, send none.
    Skip,
    /// Send late samples in requests of their own.
    Send,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

pub fn run(now: &Now, a: ForwardArgs) -> Result<(), Failure> {
    log_warnings_to_stderr();
    if a.remove {
        return remove(&a.dir, &a.name);
    }
    let url = a.url.clone().unwrap_or_default();
    let mut c = ForwardConfig::new(url.clone());
    c.name = a.name.clone();
    c.delay = a.delay;
    c.poll_interval = a.poll;
    c.max_batch_samples = a.max_samples;
    c.max_batch_bytes = a.max_bytes;
    c.timeout = a.timeout;
    c.connect_timeout = a.connect_timeout;
    c.max_attempts = a.max_attempts;
    c.reset_damaged_checkpoint = a.reset_checkpoint;
    c.late = match a.late {
        LateArg::Skip => LateMode::Skip,
        LateArg::Send => LateMode::Send,
    };
    c.clock = now.clock.clone();
    c.start_ms = a
        .since
        .as_deref()
        .map(|s| now.time("--since", s))
        .transpose()?;
    c.auth = match (&a.bearer_token_file, &a.basic_user, &a.basic_password_file) {
        (Some(f), _, _) => Auth::Bearer(read_secret(f, "bearer token file")?),
        (None, Some(user), Some(f)) => Auth::Basic {
            user: user.clone(),
            password: read_secret(f, "password file")?,
        },
        _ => Auth::None,
    };
    if !a.dir.join("state").exists() && !a.dir.join("raw").is_dir() {
        return Err(Failure::Error(format!(
            "{}: no store there",
            a.dir.display()
        )));
    }
    let mut f = Forwarder::open(&a.dir, c).map_err(failure)?;
    if !a.once {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        #[allow(unsafe_code)] // signal handlers: std has no safe way to install one
        unsafe {
            libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
            libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        }
    }
    let started = std::time::Instant::now();
    let r = f.run_dir(&a.dir, &STOP, a.once);
    let stats = f.stats().clone();
    print_stats(&stats, a.format)?;
    status::summary(format_args!(
        "forwarded {} samples in {} requests to {}: {} retries, {} samples dropped ({} batches); checkpoint {} at {}, lag {:.1} s; in {:.2} s",
        stats.samples_sent,
        stats.batches_sent,
        url,
        stats.retries,
        stats.samples_dropped,
        stats.batches_dropped,
        f.checkpoint_path().display(),
        format_rfc3339(stats.watermark_ms),
        stats.lag_ms as f64 / 1000.0,
        started.elapsed().as_secs_f64()
    ));
    let late_dropped: u64 = stats.late_dropped.values().sum();
    if stats.late_sent + late_dropped + stats.late_skipped + stats.late_pending > 0 {
        status::summary(format_args!(
            "late samples (written behind the watermark): {} sent, {} dropped, {} skipped, {} pending",
            stats.late_sent, late_dropped, stats.late_skipped, stats.late_pending
        ));
    }
    if stats.late_skipped > 0 {
        eprintln!(
            "tierlog: warning: {} late samples were not sent (--late skip); a receiver with an out-of-order window takes them with --late send",
            stats.late_skipped
        );
    }
    if late_dropped > 0 {
        eprintln!(
            "tierlog: warning: the receiver refused {late_dropped} late samples ({}); they were dropped",
            failures_text(&stats.late_dropped)
        );
    }
    if stats.samples_dropped > 0 {
        eprintln!(
            "tierlog: warning: the receiver refused {} samples for good ({}); they were dropped",
            stats.samples_dropped,
            failures_text(&stats.failures)
        );
    }
    r.map_err(failure)
}

/// `tierlog forward DIR --remove [--name N]`.
fn remove(dir: &Path, name: &str) -> Result<(), Failure> {
    let fs = tierlog::vfs::Fs::std();
    let sent = tierlog_forward::checkpoint::read_checkpoint(&fs, dir, name)
        .ok()
        .flatten();
    let removed = tierlog_forward::checkpoint::remove_checkpoint(&fs, dir, name)?;
    if !removed {
        let names = checkpoint_names(dir);
        return Err(Failure::Error(format!(
            "{}: no forwarder checkpoint {name:?} (there {})",
            dir.display(),
            match names.len() {
                0 => "are none".to_owned(),
                _ => format!("are: {}", names.join(", ")),
            }
        )));
    }
    status::summary(format_args!(
        "removed forwarder checkpoint {name}{}: raw data is no longer held back for it",
        sent.map_or(String::new(), |c| format!(
            " (it had sent up to {})",
            format_rfc3339(c.watermark)
        ))
    ));
    Ok(())
}

/// The names of the forwarder checkpoints of the store in `dir`, sorted.
pub fn checkpoint_names(dir: &Path) -> Vec<String> {
    let suffix = format!(".{}", tierlog::store::CHECKPOINT_EXT);
    let mut names: Vec<String> = std::fs::read_dir(dir.join(tierlog::store::FORWARD_DIR))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(&suffix))
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn failure(e: ForwardError) -> Failure {
    match e {
        ForwardError::Store(e) => e.into(),
        ForwardError::Config { .. } => Failure::Usage(e.to_string()),
        e => Failure::Error(e.to_string()),
    }
}

/// Failures by kind as `KIND=N KIND=N`.
fn failures_text(failures: &std::collections::BTreeMap<String, u64>) -> String {
    failures
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_stats(s: &ForwardStats, format: Format) -> Result<(), Failure> {
    let failures = failures_text(&s.failures);
    let rows = [
        ("samples_sent", s.samples_sent.to_string()),
        ("batches_sent", s.batches_sent.to_string()),
        ("retries", s.retries.to_string()),
        ("failures", failures),
        ("samples_dropped", s.samples_dropped.to_string()),
        ("batches_dropped", s.batches_dropped.to_string()),
        ("watermark_ms", s.watermark_ms.to_string()),
        ("lag_ms", s.lag_ms.to_string()),
        ("total_sent", s.total_sent.to_string()),
        ("total_dropped", s.total_dropped.to_string()),
        ("read_warnings", s.read_warnings.to_string()),
        ("late_sent", s.late_sent.to_string()),
        (
            "late_dropped",
            s.late_dropped.values().sum::<u64>().to_string(),
        ),
        ("late_dropped_by", failures_text(&s.late_dropped)),
        ("late_skipped", s.late_skipped.to_string()),
        ("late_pending", s.late_pending.to_string()),
        ("total_late_skipped", s.total_late_skipped.to_string()),
    ];
    match format {
        Format::Json => print_json(s)?,
        Format::Csv => {
            println!("name,value");
            for (k, v) in rows {
                println!("{k},{}", crate::output::csv_field(&v));
            }
        }
        Format::Table => {
            for (k, v) in rows {
                println!("{k:<18} {v}");
            }
        }
    }
    Ok(())
}
