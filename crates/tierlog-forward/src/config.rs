//! A forwarder's settings, its error type and its statistics.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::Auth;
use tierlog::clock::{Clock, SystemClock};
use tierlog::error::Error;

/// Default [`ForwardConfig::delay`].
pub const DEFAULT_DELAY: Duration = Duration::from_secs(2);

/// How a forwarder runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ForwardConfig {
    /// The receiver, `http://…` or `https://…` (TLS by rustls, system-independent roots).
    pub url: String,
    /// The checkpoint's name (`DIR/forward/<name>.ckpt`): one per receiver. Default
    /// `default`.
    pub name: String,
    /// A second is sent once the clock is past its end by this much (late samples within it
    /// still make it). Default 2 s.
    pub delay: Duration,
    /// Pause between passes once everything closed is sent. Default 1 s.
    pub poll_interval: Duration,
    /// Most samples in one request. Default 2000.
    pub max_batch_samples: usize,
    /// Most bytes of one request's protobuf (before compression), about. Default 1 MiB.
    pub max_batch_bytes: usize,
    /// Time range read from the store at once (bounds memory while catching up). Default
    /// 5 min.
    pub read_span: Duration,
    /// Connect timeout. Default 5 s.
    pub connect_timeout: Duration,
    /// Timeout of one whole request. Default 30 s.
    pub timeout: Duration,
    /// First retry delay (doubled after each failure, with jitter). Default 250 ms.
    pub backoff_min: Duration,
    /// Longest retry delay. Default 30 s.
    pub backoff_max: Duration,
    /// Give up a pass after this many failed attempts of one batch (`None`: keep trying
    /// until stopped, the default). The checkpoint stays where it was.
    pub max_attempts: Option<u32>,
    /// Credentials.
    pub auth: Auth,
    /// Where a new checkpoint starts, ms (`None`: the oldest raw data). An existing
    /// checkpoint is never moved by this.
    pub start_ms: Option<i64>,
    /// A damaged checkpoint is moved aside and forwarding starts anew at `start_ms`
    /// (re-sending what the receiver may have); without it, opening fails with the typed
    /// corruption error. Default false.
    pub reset_damaged_checkpoint: bool,
    /// The clock. Default the system clock.
    pub clock: Arc<dyn Clock>,
    /// The filesystem for the checkpoint (and the store, when opened from a directory).
    pub vfs: Arc<dyn tierlog::vfs::Vfs>,
    /// What to do with late samples (written behind the watermark, `DIR/forward/late.log`).
    /// Default [`LateMode::Skip`].
    pub late: LateMode,
}

/// What a forwarder does with the samples of the forward late log: samples written behind
/// its watermark, which its in-order stream never sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LateMode {
    /// Count them (`late_skipped`, also in the checkpoint) and send nothing: a receiver
    /// without an out-of-order window refuses samples older than the ones it has.
    #[default]
    Skip,
    /// Send them, after the in-order stream, in requests of their own (one series per
    /// request): for a receiver that accepts older samples (Prometheus with
    /// `out_of_order_time_window`, VictoriaMetrics, Mimir). A refusal is counted as dropped
    /// with its reason and does not hold the in-order stream back.
    Send,
}

/// Whether `name` is a forwarder's name: 1 to 64 characters of a-z, A-Z, 0-9, `-` and `_`
/// (it names files in `DIR/forward/`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl ForwardConfig {
    /// The defaults, sending to `url`.
    pub fn new(url: impl Into<String>) -> ForwardConfig {
        ForwardConfig {
            url: url.into(),
            name: "default".into(),
            delay: DEFAULT_DELAY,
            poll_interval: Duration::from_secs(1),
            max_batch_samples: 2000,
            max_batch_bytes: 1 << 20,
            read_span: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            max_attempts: None,
            auth: Auth::None,
            start_ms: None,
            reset_damaged_checkpoint: false,
            clock: Arc::new(SystemClock),
            vfs: Arc::new(tierlog::vfs::StdFs),
            late: LateMode::Skip,
        }
    }

    pub(super) fn check(&self) -> Result<(), ForwardError> {
        let bad = |setting: &'static str, message: &str| {
            Err(ForwardError::Config {
                setting,
                message: message.to_owned(),
            })
        };
        let lower = self.url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return bad("url", "must start with http:// or https://");
        }
        if !valid_name(&self.name) {
            return bad("name", "1 to 64 characters of a-z, A-Z, 0-9, - and _");
        }
        if self.max_batch_samples == 0 || self.max_batch_bytes == 0 {
            return bad("max_batch", "batches need room for at least one sample");
        }
        if self.read_span < Duration::from_secs(1) {
            return bad("read_span", "at least 1 s");
        }
        if self.max_attempts == Some(0) {
            return bad("max_attempts", "at least 1");
        }
        Ok(())
    }
}

/// Why forwarding stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum ForwardError {
    /// The store or the checkpoint could not be opened, read or written (a damaged
    /// checkpoint is [`Error::Corrupt`] and the like, naming the file).
    Store(Error),
    /// A setting is out of range.
    Config {
        /// Which one.
        setting: &'static str,
        /// What is allowed.
        message: String,
    },
    /// A batch failed [`ForwardConfig::max_attempts`] times in a row; the checkpoint was
    /// left before it.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure's name (`http_503`, `connection`, …).
        reason: String,
        /// The last failure's text.
        detail: String,
    },
}

impl std::fmt::Display for ForwardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForwardError::Store(e) => write!(f, "{e}"),
            ForwardError::Config { setting, message } => {
                write!(f, "forward setting {setting}: {message}")
            }
            ForwardError::GaveUp {
                attempts,
                reason,
                detail,
            } => write!(
                f,
                "gave up after {attempts} attempts ({reason}): {detail}; the checkpoint stays before this batch"
            ),
        }
    }
}

impl std::error::Error for ForwardError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ForwardError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Error> for ForwardError {
    fn from(e: Error) -> Self {
        ForwardError::Store(e)
    }
}

/// What a forwarder did since it was opened (the checkpoint's totals survive restarts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ForwardStats {
    /// Samples the receiver accepted.
    pub samples_sent: u64,
    /// Requests the receiver accepted.
    pub batches_sent: u64,
    /// Attempts repeated after a retryable failure.
    pub retries: u64,
    /// Failed attempts by reason: `http_<status>` or `connection`.
    pub failures: BTreeMap<String, u64>,
    /// Samples of batches the receiver refused for good (4xx other than 429), dropped.
    pub samples_dropped: u64,
    /// Batches refused for good, dropped.
    pub batches_dropped: u64,
    /// Every point below this time (ms) is delivered or dropped.
    pub watermark_ms: i64,
    /// The clock minus the watermark at the end of the last pass: the age of the oldest
    /// second not forwarded yet (at least the delay while caught up).
    pub lag_ms: i64,
    /// Samples the writing process accepted behind the watermark since it opened the store
    /// ([`tierlog::StoreStats::late_after_forward`]): known only to a forwarder inside the
    /// writing process ([`super::spawn`]); a forwarder in another process counts them from
    /// the forward late log instead (`late_sent`, `late_dropped`, `late_skipped`).
    pub late_samples: u64,
    /// Delivered samples recorded in the checkpoint, over every run.
    pub total_sent: u64,
    /// Dropped samples recorded in the checkpoint, over every run.
    pub total_dropped: u64,
    /// Messages about store data that could not be read (damaged segments).
    pub read_warnings: u64,
    /// Late samples (from the forward late log) the receiver accepted, in this run.
    pub late_sent: u64,
    /// Late samples the receiver refused for good, in this run, by reason (`http_<status>`
    /// and the first words of its answer).
    pub late_dropped: BTreeMap<String, u64>,
    /// Late samples skipped (the late mode is `skip`), in this run.
    pub late_skipped: u64,
    /// Late samples skipped since the checkpoint was created (never sent).
    pub total_late_skipped: u64,
    /// Samples of the late log this forwarder has not handled yet (after the pass).
    pub late_pending: u64,
}
