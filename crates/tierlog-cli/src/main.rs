//! `tierlog`: the command-line tool of the tierlog metrics store.
//!
//! Exit codes: 0 success, 1 error, 2 usage, 3 corruption found (`verify`, `dump`).

#![deny(unsafe_code)]

mod args;
mod chart;
mod commands;
mod output;
mod status;
mod time;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON document.
    Json,
    /// CSV with a header.
    Csv,
}

#[derive(Debug, Parser)]
#[command(
    name = "tierlog",
    version,
    about = "Embedded storage engine for system metrics: ingest, query, inspect"
)]
pub struct Cli {
    /// Fix the clock ("now") to this time: RFC 3339, ms since epoch, or relative like -2h.
    #[arg(long, global = true, value_name = "T", allow_hyphen_values = true, value_parser = args::time_arg)]
    pub now: Option<String>,
    /// No progress bars and no closing summary on stderr (errors and warnings still print).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest samples into a store (creating it if missing): Prometheus text, OpenMetrics,
    /// InfluxDB line protocol or CSV, told by --input-format or the file's extension.
    ///
    /// Examples: tierlog ingest ./store examples/node.prom --replay;
    /// tierlog ingest ./store metrics.lp --precision s
    Ingest(IngestArgs),
    /// Query series by selector, e.g. 'cpu_seconds_total{mode="idle"}': raw points, a rollup
    /// tier's buckets (--tier), or buckets of any step (--step).
    ///
    /// Examples: tierlog query ./store 'node_load1{host="a"}' --from -1h --format json;
    /// tierlog query ./store node_load1 --from -6h --step 5m --plot
    Query {
        /// Store directory.
        dir: PathBuf,
        /// PromQL-style selector.
        selector: String,
        /// Start (inclusive); default: the beginning. With --tier or --step, buckets whose
        /// start is in [from, to) (--tier) or that overlap it (--step).
        #[arg(long, value_name = "T", allow_hyphen_values = true, value_parser = args::time_arg)]
        from: Option<String>,
        /// End (exclusive); default: the end.
        #[arg(long, value_name = "T", allow_hyphen_values = true, value_parser = args::time_arg)]
        to: Option<String>,
        /// Read this tier: raw (the default: raw points) or a rollup tier's name (10s, 60s,
        /// ...: its stored buckets).
        #[arg(long, value_name = "NAME", conflicts_with = "step")]
        tier: Option<String>,
        /// Epoch-aligned buckets of this width (whole seconds: 10s, 5m, 1h), from the coarsest
        /// tier whose interval divides it, then finer tiers and raw points for the recent past.
        #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = args::duration_arg)]
        step: Option<std::time::Duration>,
        /// Read the store's archive (the last tier's expired segments, kept when the store's
        /// on_expiry is archive:DIR) instead of the store.
        #[arg(long)]
        archive: bool,
        #[command(flatten)]
        output: commands::query::OutputArgs,
    },
    /// List metrics with kind, unit, description and series count.
    ///
    /// Example: tierlog metrics ./store --format csv
    Metrics {
        /// Store directory.
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// List series matching a selector (all series when omitted).
    ///
    /// Example: tierlog series ./store '{host="a"}'
    Series {
        /// Store directory.
        dir: PathBuf,
        /// PromQL-style selector.
        selector: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Per-tier segments, bytes, points and bytes per point (raw and rollup tiers, with how far
    /// each rollup tier is materialised); series and metric counts.
    ///
    /// Example: tierlog stats ./store --format json
    Stats {
        /// Store directory.
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Print the store's settings, or change its retention settings
    /// (`max_age_days=N`, `max_bytes=N` with units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB,
    /// `max_clock_lead=DURATION`); changing needs the writer lock.
    ///
    /// Example: tierlog config ./store max_bytes=10GiB max_age_days=30
    Config {
        /// Store directory.
        dir: PathBuf,
        /// Settings to change, as NAME=VALUE.
        settings: Vec<String>,
        /// Set a max_bytes below the store's current size (the next maintenance pass then
        /// drops its oldest data; without --yes it is only listed).
        #[arg(long)]
        yes: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Run one maintenance pass: seal every window whose end plus grace has passed,
    /// materialise every rollup piece whose raw windows are all sealed, compact complete
    /// segment spans, then apply retention (age limits and the byte budget).
    ///
    /// Example: tierlog maintain ./store
    Maintain {
        /// Store directory.
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Apply deletions by age even though the clock is more than a day ahead of the
        /// newest data (by default they are held back: a wrong clock must not destroy data).
        #[arg(long)]
        accept_clock: bool,
        /// Set the store's byte budget (0 = none) before the pass; it is kept for later
        /// opens. Default: the store's own.
        #[arg(long, value_name = "BYTES", value_parser = args::size_arg)]
        max_bytes: Option<u64>,
        /// Set the store's age limit in days (1-3650) before the pass; it is kept for later
        /// opens. Default: the store's own (90 for a store that records none).
        #[arg(long)]
        max_age_days: Option<u32>,
    },
    /// Delete the points and buckets of the series a selector matches, from every tier (raw
    /// windows and segments, every rollup tier), in [--from, --to) or whole; series left with
    /// no data leave the index. Durable when it returns; a crash midway is finished by the
    /// next open. Writes and queries of a running writer are not possible meanwhile: the
    /// command takes the writer lock. The archive is not touched without --archive. Prints what it removed:
    /// series, points, buckets, bytes freed.
    ///
    /// Examples: tierlog delete ./store 'node_load1{host="a"}' --from 2023-11-14T22:00:00Z --to 2023-11-14T22:05:00Z --dry-run;
    /// tierlog delete ./store '{host="old"}'
    Delete {
        /// Store directory.
        dir: PathBuf,
        /// PromQL-style selector.
        selector: String,
        /// Start (inclusive) of the range to delete; default: the beginning.
        #[arg(long, value_name = "T", allow_hyphen_values = true, value_parser = args::time_arg)]
        from: Option<String>,
        /// End (exclusive); default: the end.
        #[arg(long, value_name = "T", allow_hyphen_values = true, value_parser = args::time_arg)]
        to: Option<String>,
        /// Print what would be removed; change nothing (opens the store read-only).
        #[arg(long)]
        dry_run: bool,
        /// Delete from the store's archive too (on_expiry=archive:DIR); by default the
        /// archive is not touched.
        #[arg(long)]
        archive: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Print a file's header, every frame or chunk with offset, length and checksum status,
    /// and the decoded content.
    ///
    /// Example: tierlog dump ./store/raw/001700000000000.seg --format json
    Dump {
        /// A segment, window log, index or state file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Check every checksum of every file; exit 3 naming file and offset on corruption.
    ///
    /// Example: tierlog verify ./store
    Verify {
        /// Store directory.
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Keep every log frame that still validates, drop damaged bytes, report what was lost.
    ///
    /// Example: tierlog repair ./store
    Repair {
        /// Store directory.
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Forward the store's raw points to a Prometheus remote-write receiver (protocol v1),
    /// beside the process that writes the store.
    ///
    /// Each second goes once it is closed (--delay), oldest first, in bounded batches; retried with backoff on 5xx, 429 and connection
    /// errors, dropped and counted on another 4xx; resumes from its checkpoint
    /// (DIR/forward/NAME.ckpt) after a restart. Runs until SIGINT/SIGTERM, or one pass with
    /// --once.
    ///
    /// Examples: tierlog forward ./store --url http://127.0.0.1:9090/api/v1/write;
    /// tierlog forward ./store --url https://metrics.example.net/api/v1/write --bearer-token-file /etc/tierlog/token --once
    Forward(Box<commands::forward::ForwardArgs>),
    /// Serve Prometheus' HTTP API v1 (query, query_range, series, labels, label values,
    /// metadata, status) over the store, for Grafana (a Prometheus data source) and promtool,
    /// beside the process that writes it, and Prometheus remote read (POST /api/v1/read) for
    /// a Prometheus with remote_read (docs/serving.md, "Remote read").
    ///
    /// The store is opened read-only, a snapshot reopened when older than --refresh; with
    /// --writable the server is its writer and takes Prometheus remote-write, text exposition
    /// and InfluxDB line protocol pushes (docs/serving.md, "Writing"). Listens
    /// on 127.0.0.1:9201; a non-loopback --listen needs --allow-non-loopback. Runs until
    /// SIGINT/SIGTERM, then finishes the requests in flight (at most 10 s). Prints
    /// `listening on http://ADDR` once it accepts connections.
    ///
    /// Examples: tierlog serve /var/lib/agent/metrics;
    /// tierlog serve ./store --listen 0.0.0.0:9201 --allow-non-loopback --bearer-token-file /etc/tierlog/token --refresh 30s;
    /// tierlog serve ./edge --writable --write.max-concurrency 4
    Serve(Box<commands::serve::ServeArgs>),
    /// Print a shell completion script.
    ///
    /// Example: tierlog completions bash > /etc/bash_completion.d/tierlog
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// Arguments of `tierlog ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Store directory.
    pub dir: PathBuf,
    /// Input file, or - for standard input.
    #[arg(default_value = "-")]
    pub file: String,
    /// Input format. Default: from the file's extension (.prom/.txt, .om/.openmetrics,
    /// .lp/.influx/.line, .csv); prom for standard input.
    #[arg(long, value_enum)]
    pub input_format: Option<InputFormat>,
    /// Unit of InfluxDB line protocol timestamps [default: ns].
    #[arg(long, value_enum)]
    pub precision: Option<PrecisionArg>,
    /// Replay: the store's clock follows the data (windows seal as they would have live);
    /// input is sorted by time first, in bounded memory.
    #[arg(long)]
    pub replay: bool,
    /// Samples per write batch.
    #[arg(long, default_value_t = 10_000)]
    pub batch: usize,
    /// The longest input line read, bytes; a longer one stops the ingest naming FILE:LINE,
    /// without reading the rest of it.
    #[arg(long, default_value_t = tierlog_tools::import::DEFAULT_MAX_LINE_BYTES, value_name = "BYTES", value_parser = args::size_arg_usize)]
    pub max_line_bytes: usize,
    /// Durability while ingesting: every (fsync per batch), interval (every second), never
    /// (fsync only when closing).
    #[arg(long, value_enum, default_value = "interval")]
    pub sync: SyncArg,
    /// Raw window span of a new store (e.g. 10m, 30m; a multiple of 1m). An existing
    /// store keeps the span it was created with.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = args::duration_arg)]
    pub window_span: Option<std::time::Duration>,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Input formats of `ingest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// Prometheus text exposition (timestamps in ms).
    Prom,
    /// OpenMetrics text (timestamps in seconds, ends with # EOF).
    #[value(name = "openmetrics")]
    OpenMetrics,
    /// InfluxDB line protocol (one metric per numeric field: measurement_field).
    Influx,
    /// CSV with a header: metric, ts, value and label columns.
    Csv,
}

/// `--precision` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    /// Nanoseconds.
    Ns,
    /// Microseconds.
    Us,
    /// Milliseconds.
    Ms,
    /// Seconds.
    S,
}

/// `--sync` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncArg {
    /// Fsync every batch.
    Every,
    /// Fsync at least every second.
    Interval,
    /// Fsync only at the end.
    Never,
}

/// A command's failure, with the exit code it maps to.
pub enum Failure {
    /// Exit 1.
    Error(String),
    /// Exit 3.
    Corruption(String),
    /// Exit 2 (a malformed argument clap could not check).
    Usage(String),
}

impl From<tierlog::Error> for Failure {
    fn from(e: tierlog::Error) -> Self {
        if e.is_corruption() {
            Failure::Corruption(e.to_string())
        } else {
            Failure::Error(e.to_string())
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Error(e.to_string())
    }
}

/// The command line with each subcommand's `Example:` paragraph moved from its long help to the
/// text after its flags, so that `-h`, `--help` and `tierlog help COMMAND` all show it.
pub fn command_line() -> clap::Command {
    Cli::command().mut_subcommands(|sub| {
        let Some(long) = sub.get_long_about().map(|s| s.to_string()) else {
            return sub;
        };
        let (text, examples): (Vec<&str>, Vec<&str>) =
            long.split("\n\n").partition(|p| !p.starts_with("Example"));
        if examples.is_empty() {
            return sub;
        }
        let examples: Vec<String> = examples.iter().map(|p| example_lines(p)).collect();
        sub.long_about(text.join("\n\n"))
            .after_help(examples.join("\n\n"))
    })
}

/// `Examples: tierlog a; tierlog b` as a heading and one indented command per line.
fn example_lines(paragraph: &str) -> String {
    let Some((head, rest)) = paragraph.split_once(": ") else {
        return paragraph.to_owned();
    };
    let mut out = format!("{head}:");
    for cmd in rest.split("; tierlog ") {
        let cmd = cmd.strip_prefix("tierlog ").unwrap_or(cmd);
        out.push_str(&format!("\n  tierlog {}", cmd.trim()));
    }
    out
}

/// mimalloc rather than the system's allocator: see the dependency's note in `Cargo.toml`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Output piped into `head` and the like: when the reader goes away, end quietly the way
    // Unix tools do (killed by SIGPIPE), instead of a "Broken pipe" error or a panic from a
    // print. Rust starts programs with SIGPIPE ignored; sockets are unaffected, as std sends
    // with MSG_NOSIGNAL.
    // SAFETY: called first thing in main, before any thread is started.
    #[allow(unsafe_code)] // the one libc call that has no safe wrapper in std
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::from_arg_matches(&command_line().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Err(m) = status::init(cli.quiet) {
        eprintln!("tierlog: {m}");
        return ExitCode::from(2);
    }
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Error(m)) => {
            eprintln!("tierlog: {m}");
            ExitCode::from(1)
        }
        Err(Failure::Corruption(m)) => {
            eprintln!("tierlog: {m}");
            ExitCode::from(3)
        }
        Err(Failure::Usage(m)) => {
            eprintln!("tierlog: {m}");
            ExitCode::from(2)
        }
    }
}
