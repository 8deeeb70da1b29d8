//! Store configuration: durability, windows, limits and the clock.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};

/// When a write is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sync {
    /// A write returns only after its data (and any series it created) is fsynced. Concurrent
    /// writers share fsyncs (group commit). The default.
    EveryWrite,
    /// Written data is fsynced at least this often, by the writing thread or a background
    /// flusher; a crash may lose up to this much acknowledged data.
    Interval(Duration),
    /// Never fsynced explicitly (the OS writes back when it likes); a crash may lose any
    /// acknowledged data that the OS had not written yet. Sealed segments are still fsynced.
    Never,
}

/// Documented limits; writes beyond them fail with a typed error.
///
/// ```
/// use tierlog::{Config, Error, Limits, Sample, SampleError, Store};
///
/// let dir = tempfile::tempdir()?;
/// let limits = Limits { max_labels: 2, ..Limits::default() };
/// let store = Store::open(dir.path(), Config::default().with_limits(limits))?;
/// let labels = [("a", "1"), ("b", "2"), ("c", "3")];
/// let err = store.write(&[Sample::new("m", &labels, 1_700_000_000_000, 0.0)]).unwrap_err();
/// assert!(matches!(
///     err,
///     Error::InvalidSample { reason: SampleError::TooManyLabels { count: 3, max: 2 }, .. }
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Labels per series (not counting the metric name). Default 64.
    pub max_labels: usize,
    /// Bytes of a metric or label name. Default 255.
    pub max_name_bytes: usize,
    /// Bytes of a label value. Default 4096.
    pub max_value_bytes: usize,
    /// Series in the store. Default 10 000 000 (series ids are 32-bit).
    pub max_series: u64,
    /// Bytes of a metric's unit. Default 255.
    pub max_unit_bytes: usize,
    /// Bytes of a metric's description. Default 16 384.
    pub max_description_bytes: usize,
    /// Samples in one [`crate::Store::write`] or [`crate::Store::write_series`] call. A larger
    /// batch is refused whole with [`Error::BatchTooLarge`] before anything is done: the write
    /// path copies a batch a few times over (about 100 bytes a sample), so this bounds the
    /// memory one call can take. Default 1 000 000.
    pub max_batch_samples: usize,
    /// Bytes of memory the open windows (the head: windows still accepting samples and those
    /// being sealed) may hold, as estimated by the store. A window holds each series' points
    /// encoded (a few bits to 20 bytes a point: regular timestamps cost a bit, values their
    /// XOR with the previous one; 1 to 6 bytes for typical system metrics; 16 bytes for a
    /// point that arrived out of order) plus about 100 bytes a series. Once the head holds
    /// this much, samples that would add to it are refused and counted in
    /// [`crate::WriteSummary::rejected_head_full`] (the rest of the batch is written, as with
    /// samples that are too old); the head shrinks when windows seal. Within one write call
    /// each sample is charged the most a point can take (20 bytes), so the cap is never
    /// passed by more than the growth of a few streams. Default 256 MiB: at 1 Hz a series of
    /// typical system metrics takes about 4 KiB per 20-minute window (measured on the
    /// benchmarks' workload mix) and two windows are open around a window boundary, so some
    /// 30 000 series at 1 Hz (or about 200 000 at one sample every 10 s) fit. 0 = no cap.
    pub max_head_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_labels: 64,
            max_name_bytes: 255,
            max_value_bytes: 4096,
            max_series: 10_000_000,
            max_unit_bytes: 255,
            max_description_bytes: 16_384,
            max_batch_samples: 1_000_000,
            max_head_bytes: 256 << 20,
        }
    }
}

/// A rollup tier: buckets of `interval` computed from raw points, kept for `keep`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tier {
    /// Name, also the tier's directory: lower-case letters and digits (e.g. `10s`, `1h`).
    pub name: String,
    /// Bucket width: a whole number of seconds, a multiple of the previous tier's interval.
    pub interval: Duration,
    /// How long the tier's buckets are kept.
    pub keep: Duration,
}

impl Tier {
    /// A tier named `name` with buckets of `interval`, kept for `keep`. The rules a list of
    /// tiers must follow are checked when the store opens (see [`Config::tiers`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tierlog::{Config, Tier};
    ///
    /// let day = Duration::from_secs(86_400);
    /// let config = Config::default().with_tiers(vec![
    ///     Tier::new("10s", Duration::from_secs(10), 2 * day),
    ///     Tier::new("5m", Duration::from_secs(300), 365 * day),
    /// ]);
    /// config.validate()?;
    /// # Ok::<(), tierlog::Error>(())
    /// ```
    pub fn new(name: &str, interval: Duration, keep: Duration) -> Self {
        Tier {
            name: name.to_owned(),
            interval,
            keep,
        }
    }
}

/// What retention does with the last tier's expired segments (the coarsest tier, or raw
/// segments when there are no tiers). Finer tiers' expired segments are always deleted: the
/// last tier holds their buckets.
///
/// ```
/// use tierlog::{Config, Expiry, Store};
///
/// let dir = tempfile::tempdir()?;
/// let config = Config::default().with_on_expiry(Expiry::Archive("archive".into()));
/// let store = Store::open(dir.path(), config)?;
/// assert_eq!(store.config().on_expiry(), &Expiry::Archive("archive".into()));
/// assert!(store.open_archive()?.is_none()); // nothing expired yet
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Expiry {
    /// Unlink them. The default.
    #[default]
    Delete,
    /// Move them into this directory (relative paths are taken from the store's directory),
    /// which is laid out as a read-only store of its own (see `Store::open_archive`). Nothing
    /// in an archive is ever deleted by the store, and it does not count against `max_bytes`.
    Archive(PathBuf),
}

/// The tiers of a new store when [`Config::tiers`] is unset.
static DEFAULT_TIERS: LazyLock<Vec<Tier>> = LazyLock::new(|| {
    vec![
        Tier::new(
            "10s",
            Duration::from_secs(10),
            Duration::from_secs(24 * 3600),
        ),
        Tier::new(
            "60s",
            Duration::from_secs(60),
            Duration::from_secs(90 * 86_400),
        ),
    ]
});

/// Default of [`Config::raw_keep`]: 2 h.
pub const DEFAULT_RAW_KEEP: Duration = Duration::from_secs(2 * 3600);
/// Default of [`Config::max_age_days`].
pub const DEFAULT_MAX_AGE_DAYS: u32 = 90;
/// Default of [`Config::max_clock_lead`]: 1 day.
pub const DEFAULT_MAX_CLOCK_LEAD: Duration = Duration::from_secs(86_400);
/// Default [`Config::forward_backlog`]: a day of raw data a forwarder has not sent is kept.
pub const DEFAULT_FORWARD_BACKLOG: Duration = Duration::from_secs(86_400);

/// Configuration of a [`crate::Store`].
///
/// The retention policy — [`raw_keep`](Config::raw_keep), [`tiers`](Config::tiers),
/// [`max_age_days`](Config::max_age_days), [`max_bytes`](Config::max_bytes),
/// [`max_clock_lead`](Config::max_clock_lead), [`on_expiry`](Config::on_expiry) — lives with
/// the store: each is an `Option`; unset (`None`, the default) takes the value the store
/// recorded (or the default for a new store), set overrides it and is recorded, and the change
/// is logged. Once open, [`crate::Store::config`] has every one of them set to the value in
/// effect; the methods of the same name give the value in effect (the default when unset).
///
/// Start from [`Config::default`] and change what you need with the `with_*` methods (or
/// struct update syntax, `Config { grace: ..., ..Config::default() }`);
/// [`Store::open`](crate::Store::open) checks the result with [`Config::validate`].
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tierlog::{Config, ManualClock, Store, Sync, Tier};
///
/// let dir = tempfile::tempdir()?;
/// let clock = Arc::new(ManualClock::new(1_700_000_000_000));
/// let config = Config::default()
///     .with_clock(clock.clone())
///     .with_sync(Sync::Interval(Duration::from_secs(1)))
///     .with_window_span(Duration::from_secs(600))
///     .with_tiers(vec![Tier::new("1m", Duration::from_secs(60), Duration::from_secs(30 * 86_400))])
///     .with_max_age_days(30)
///     .with_max_bytes(64 << 20)
///     .with_maintenance_interval(None);
/// let store = Store::open(dir.path(), config)?;
/// assert_eq!(store.config().max_bytes(), 64 << 20);
/// store.close()?;
///
/// // The retention policy is recorded with the store: opening it again without those
/// // settings keeps them (the window span must match; it is fixed at creation).
/// let store = Store::open(dir.path(), Config::default()
///     .with_clock(clock)
///     .with_window_span(Duration::from_secs(600)))?;
/// assert_eq!(store.config().max_age_days(), 30);
/// assert_eq!(store.config().tiers()[0].name, "1m");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// Durability of writes. Default [`Sync::EveryWrite`].
    pub sync: Sync,
    /// Span of one raw window (one log, then one sealed segment). A multiple of 60 s, between
    /// 1 min and 24 h. Default 20 min: long enough that per-chunk overhead is small (at 1 Hz a
    /// chunk holds 1200 points; real `/proc` data costs 0.28 B/point against 0.30 at 10 min),
    /// short enough that open windows stay small in memory (points are held encoded, 1–6 B
    /// each for typical metrics: 1000 series at 1 Hz need a few MB for a window plus its
    /// grace) and that dropping one segment removes
    /// a sixth of the default two hours of raw data. Fixed when the store is created:
    /// reopening for writing with another span is refused; readers adopt the stored span.
    pub window_span: Duration,
    /// How long after a window's end late samples are still accepted; the window is sealed when
    /// the clock passes end + grace. Default 5 min.
    pub grace: Duration,
    /// Samples further ahead of the clock than this are rejected. Default 10 min.
    pub future_limit: Duration,
    /// Limits on names, labels and series.
    pub limits: Limits,
    /// The clock. Default: the system clock.
    pub clock: Arc<dyn Clock>,
    /// Open a store whose logs hold damage anyway, keeping every frame that still validates
    /// (what `tierlog repair` does). Default false: such a store is refused.
    pub salvage: bool,
    /// Seal due windows from inside `write` when the clock passes them. Default true. With
    /// false, only [`crate::Store::maintain`] and the maintenance thread seal.
    pub auto_seal: bool,
    /// How long raw points are kept. Default 2 h. Every tier's buckets are computed from raw
    /// points a piece at a time, so this must cover each tier's piece (the least common
    /// multiple of the window span and its interval) plus the grace. Stored with the store.
    pub raw_keep: Option<Duration>,
    /// Rollup tiers, finest first. Default `10s` kept 24 h and `60s` kept 90 days. Stored with
    /// the store: when set, it must list all of the store's tiers with the same intervals
    /// (intervals never change once a tier exists); keep times may change and tiers may be
    /// added.
    pub tiers: Option<Vec<Tier>>,
    /// How often a background thread runs a maintenance pass (sealing windows that fell due
    /// while nothing was written, materialising and compacting rollup pieces, retention).
    /// Default every 10 s; `None` turns the thread off.
    pub maintenance_interval: Option<Duration>,
    /// `max_age_days` (MetricRetentionDays): data older than this by the store's clock is
    /// dropped from every tier, whatever the tier's keep. 1–3650, default 90. Stored with the
    /// store.
    pub max_age_days: Option<u32>,
    /// `max_bytes` (MetricRetentionMaxBytes): the most bytes the store may take on disk; the
    /// oldest segments are dropped first to stay within it. 0 (the default) = no limit.
    /// Stored with the store.
    pub max_bytes: Option<u64>,
    /// Clock sanity: when the clock is more than this ahead of the newest data the store
    /// holds, deletions by age are held back (and reported) — a wrong clock must not destroy
    /// data — until data at the new time arrives or [`Config::accept_clock`] is set. The
    /// byte budget still applies. Default 1 day. Stored with the store.
    pub max_clock_lead: Option<Duration>,
    /// What happens to the last tier's expired segments: deleted (the default) or moved to an
    /// archive. Stored with the store.
    pub on_expiry: Option<Expiry>,
    /// Apply deletions by age even when the clock is far ahead of the data (`tierlog maintain
    /// --accept-clock`). Default false.
    pub accept_clock: bool,
    /// The filesystem every file operation of the store goes through. Default the real one
    /// ([`crate::vfs::StdFs`]); tests put a fault-injecting backend here.
    pub vfs: Arc<dyn crate::vfs::Vfs>,
    /// How long raw data that a remote-write forwarder (checkpoints in `DIR/forward/`) has
    /// not sent yet is kept past its keep time: up to this age retention by age holds such
    /// raw segments back; beyond it they are dropped and their unsent points counted
    /// ([`crate::StoreStats::never_forwarded`]) and logged. The byte budget always applies.
    /// Default 24 h. Not stored with the store.
    pub forward_backlog: Duration,
    /// Permission bits of the files the store creates (Unix; before the umask). Default
    /// `0o600`: metrics can be sensitive, and only the owner needs them.
    pub file_mode: u32,
    /// Decoded raw chunks of sealed segments kept for reads that come back to them
    /// ([`crate::ReadCache`]: a bound in bytes, shareable by clones and by stores opened with
    /// the same one). Default `None`: every read decodes what it reads. Not stored with the
    /// store.
    pub read_cache: Option<crate::ReadCache>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sync: Sync::EveryWrite,
            window_span: Duration::from_secs(1200),
            grace: Duration::from_secs(300),
            future_limit: Duration::from_secs(600),
            limits: Limits::default(),
            clock: Arc::new(SystemClock),
            salvage: false,
            auto_seal: true,
            maintenance_interval: Some(Duration::from_secs(10)),
            raw_keep: None,
            max_age_days: None,
            max_bytes: None,
            max_clock_lead: None,
            on_expiry: None,
            accept_clock: false,
            tiers: None,
            vfs: Arc::new(crate::vfs::StdFs),
            file_mode: crate::vfs::DEFAULT_FILE_MODE,
            forward_backlog: DEFAULT_FORWARD_BACKLOG,
            read_cache: None,
        }
    }
}

impl Config {
    /// This configuration with another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// This configuration with another filesystem backend ([`Config::vfs`]).
    pub fn with_vfs(mut self, vfs: Arc<dyn crate::vfs::Vfs>) -> Self {
        self.vfs = vfs;
        self
    }

    /// This configuration with another sync policy ([`Config::sync`]).
    pub fn with_sync(mut self, sync: Sync) -> Self {
        self.sync = sync;
        self
    }

    /// This configuration with another raw window span ([`Config::window_span`]).
    pub fn with_window_span(mut self, span: Duration) -> Self {
        self.window_span = span;
        self
    }

    /// This configuration with another grace for late samples ([`Config::grace`]).
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// This configuration with other limits ([`Config::limits`]).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// This configuration with a byte budget ([`Config::max_bytes`]; 0 = no limit). Recorded
    /// with the store.
    pub fn with_max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// This configuration with an age limit in days ([`Config::max_age_days`], 1–3650).
    /// Recorded with the store.
    pub fn with_max_age_days(mut self, days: u32) -> Self {
        self.max_age_days = Some(days);
        self
    }

    /// This configuration with these rollup tiers, finest first ([`Config::tiers`]; empty =
    /// raw data only). Recorded with the store.
    pub fn with_tiers(mut self, tiers: Vec<Tier>) -> Self {
        self.tiers = Some(tiers);
        self
    }

    /// This configuration with another raw keep time ([`Config::raw_keep`]). Recorded with
    /// the store.
    pub fn with_raw_keep(mut self, keep: Duration) -> Self {
        self.raw_keep = Some(keep);
        self
    }

    /// This configuration with another action for expired segments ([`Config::on_expiry`]).
    /// Recorded with the store.
    pub fn with_on_expiry(mut self, expiry: Expiry) -> Self {
        self.on_expiry = Some(expiry);
        self
    }

    /// This configuration with another background maintenance interval
    /// ([`Config::maintenance_interval`]; `None` = no maintenance thread, call
    /// [`Store::maintain`](crate::Store::maintain) yourself).
    pub fn with_maintenance_interval(mut self, every: Option<Duration>) -> Self {
        self.maintenance_interval = every;
        self
    }

    /// The raw keep in effect: [`Config::raw_keep`] or its default, 2 h.
    pub fn raw_keep(&self) -> Duration {
        self.raw_keep.unwrap_or(DEFAULT_RAW_KEEP)
    }

    /// The tiers in effect: [`Config::tiers`] or the default `10s` and `60s` tiers.
    pub fn tiers(&self) -> &[Tier] {
        self.tiers.as_deref().unwrap_or(&DEFAULT_TIERS)
    }

    /// The tiers in effect, to change (a copy of the defaults when unset).
    pub fn tiers_mut(&mut self) -> &mut Vec<Tier> {
        self.tiers.get_or_insert_with(|| DEFAULT_TIERS.clone())
    }

    /// `max_age_days` in effect (default 90).
    pub fn max_age_days(&self) -> u32 {
        self.max_age_days.unwrap_or(DEFAULT_MAX_AGE_DAYS)
    }

    /// `max_bytes` in effect (default 0: no budget).
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes.unwrap_or(0)
    }

    /// `max_clock_lead` in effect (default 1 day).
    pub fn max_clock_lead(&self) -> Duration {
        self.max_clock_lead.unwrap_or(DEFAULT_MAX_CLOCK_LEAD)
    }

    /// The expiry action in effect (default [`Expiry::Delete`]).
    pub fn on_expiry(&self) -> &Expiry {
        static DELETE: Expiry = Expiry::Delete;
        self.on_expiry.as_ref().unwrap_or(&DELETE)
    }

    /// Sets every unset retention setting to its default.
    pub(crate) fn settle_defaults(&mut self) {
        self.raw_keep = Some(self.raw_keep());
        self.tiers = Some(self.tiers().to_vec());
        self.max_age_days = Some(self.max_age_days());
        self.max_bytes = Some(self.max_bytes());
        self.max_clock_lead = Some(self.max_clock_lead());
        self.on_expiry = Some(self.on_expiry().clone());
    }

    /// The retention policy in effect as the state file records it.
    pub(crate) fn retention_record(&self) -> crate::state::format::RetentionSettings {
        let ms = |d: Duration| d.as_millis().min(i64::MAX as u128) as i64;
        crate::state::format::RetentionSettings {
            max_age_days: self.max_age_days(),
            max_bytes: self.max_bytes(),
            max_clock_lead: ms(self.max_clock_lead()),
            policy: Some(crate::state::format::Policy {
                raw_keep: ms(self.raw_keep()),
                archive: match self.on_expiry() {
                    Expiry::Delete => None,
                    Expiry::Archive(p) => Some(p.to_string_lossy().into_owned()),
                },
            }),
        }
    }

    /// `max_age_days` in ms.
    pub(crate) fn max_age_ms(&self) -> i64 {
        i64::from(self.max_age_days()) * 86_400_000
    }

    pub(crate) fn span_ms(&self) -> i64 {
        self.window_span.as_millis() as i64
    }

    pub(crate) fn grace_ms(&self) -> i64 {
        self.grace.as_millis().min(i64::MAX as u128 / 4) as i64
    }

    pub(crate) fn future_ms(&self) -> i64 {
        self.future_limit.as_millis().min(i64::MAX as u128 / 4) as i64
    }

    /// Checks every setting against its range.
    pub fn validate(&self) -> Result<()> {
        let span = self.window_span.as_millis();
        if span == 0 || !span.is_multiple_of(60_000) || span > 86_400_000 {
            return Err(Error::Config {
                setting: "window_span",
                message: format!(
                    "{} ms: must be a multiple of 60 s between 1 min and 24 h",
                    span
                ),
            });
        }
        if self.grace > Duration::from_secs(86_400) {
            return Err(Error::Config {
                setting: "grace",
                message: "must be at most 24 h".into(),
            });
        }
        if self.future_limit > Duration::from_secs(366 * 86_400) {
            return Err(Error::Config {
                setting: "future_limit",
                message: "must be at most 366 days".into(),
            });
        }
        if let Sync::Interval(d) = self.sync
            && d.is_zero()
        {
            return Err(Error::Config {
                setting: "sync",
                message: "Sync::Interval needs a non-zero duration".into(),
            });
        }
        if self.maintenance_interval.is_some_and(|d| d.is_zero()) {
            return Err(Error::Config {
                setting: "maintenance_interval",
                message: "must be non-zero (None turns the maintenance thread off)".into(),
            });
        }
        if !(1..=3650).contains(&self.max_age_days()) {
            return Err(Error::Config {
                setting: "max_age_days",
                message: format!("{} is outside 1–3650 (days)", self.max_age_days()),
            });
        }
        if self.max_clock_lead() < Duration::from_secs(60)
            || self.max_clock_lead() > Duration::from_secs(3650 * 86_400)
        {
            return Err(Error::Config {
                setting: "max_clock_lead",
                message: format!("{:?} is outside 1 min–3650 days", self.max_clock_lead()),
            });
        }
        if let Expiry::Archive(p) = self.on_expiry() {
            let text = p.to_string_lossy();
            if text.is_empty() || text.len() > u16::MAX as usize || p.to_str().is_none() {
                return Err(Error::Config {
                    setting: "on_expiry",
                    message: format!(
                        "archive directory {p:?}: must be a non-empty UTF-8 path of at most 65535 bytes"
                    ),
                });
            }
            // Inside the store, it must not take the name of the store's own files.
            let first = p
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy());
            if let Some(first) = first.filter(|_| p.is_relative()) {
                let taken = ["raw", "index.log", "state", "LOCK"].contains(&&*first)
                    || self.tiers().iter().any(|t| t.name == first);
                if taken {
                    return Err(Error::Config {
                        setting: "on_expiry",
                        message: format!(
                            "archive directory {p:?}: {first:?} is one of the store's own files or tier directories"
                        ),
                    });
                }
            }
        }
        self.validate_tiers()?;
        let l = &self.limits;
        if l.max_name_bytes == 0 || l.max_name_bytes > u16::MAX as usize {
            return Err(Error::Config {
                setting: "limits.max_name_bytes",
                message: "must be 1..=65535".into(),
            });
        }
        if l.max_value_bytes > u16::MAX as usize || l.max_unit_bytes > u16::MAX as usize {
            return Err(Error::Config {
                setting: "limits.max_value_bytes",
                message: "label values and units must be at most 65535 bytes".into(),
            });
        }
        if l.max_labels > u16::MAX as usize {
            return Err(Error::Config {
                setting: "limits.max_labels",
                message: "must be at most 65535".into(),
            });
        }
        if l.max_series == 0 || l.max_series > u32::MAX as u64 {
            return Err(Error::Config {
                setting: "limits.max_series",
                message: format!("must be 1..={}", u32::MAX),
            });
        }
        if l.max_batch_samples == 0 {
            return Err(Error::Config {
                setting: "limits.max_batch_samples",
                message: "must be at least 1".into(),
            });
        }
        if l.max_description_bytes > u32::MAX as usize {
            return Err(Error::Config {
                setting: "limits.max_description_bytes",
                message: "must fit in 32 bits".into(),
            });
        }
        Ok(())
    }
}

impl Config {
    /// The tier rules: raw kept at least a window plus grace; names `[a-z0-9]+`, unique, not
    /// `raw`; intervals whole seconds, each a multiple (more than 1×) of the one below; each
    /// interval plus the grace within the raw keep (buckets are computed from raw points before
    /// they expire); keep times strictly increasing from raw upwards, each at least its interval.
    fn validate_tiers(&self) -> Result<()> {
        let err = |message: String| {
            Err(Error::Config {
                setting: "tiers",
                message,
            })
        };
        if self.raw_keep() < self.window_span + self.grace {
            return Err(Error::Config {
                setting: "raw_keep",
                message: format!(
                    "{:?} is shorter than a window plus the grace ({:?}): raw data would expire before it is sealed",
                    self.raw_keep(),
                    self.window_span + self.grace
                ),
            });
        }
        if self.raw_keep() > Duration::from_secs(3650 * 86_400) {
            return Err(Error::Config {
                setting: "raw_keep",
                message: format!("{:?} is longer than 3650 days", self.raw_keep()),
            });
        }
        let tiers = self.tiers();
        if tiers.len() > crate::state::format::MAX_TIERS {
            return err(format!("at most {} tiers", crate::state::format::MAX_TIERS));
        }
        let mut prev_interval = Duration::from_secs(1);
        let mut prev_keep = self.raw_keep();
        let mut prev_name = "raw".to_string();
        for (i, t) in tiers.iter().enumerate() {
            let what = format!("tier {i} ({:?})", t.name);
            if t.name.is_empty()
                || t.name.len() > crate::state::format::MAX_TIER_NAME
                || !t
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            {
                return err(format!(
                    "{what}: a name is 1 to 32 lower-case letters and digits"
                ));
            }
            if t.name == "raw" || tiers[..i].iter().any(|o| o.name == t.name) {
                return err(format!("{what}: the name is taken"));
            }
            let (iv, piv) = (t.interval.as_millis(), prev_interval.as_millis());
            if iv == 0 || iv % 1000 != 0 {
                return err(format!(
                    "{what}: the interval must be a whole number of seconds"
                ));
            }
            if iv % piv != 0 || (i > 0 && iv == piv) {
                return err(format!(
                    "{what}: the interval {:?} must be a multiple of {prev_name}'s {:?} (and larger)",
                    t.interval, prev_interval
                ));
            }
            // Buckets are materialised a piece at a time (the least common multiple of the
            // raw window and the interval), once the piece's end plus the grace has passed:
            // raw points must live that long.
            let piece = Duration::from_millis(crate::rollup::plan::piece_span(
                self.span_ms().max(1),
                iv as i64,
            ) as u64);
            if piece + self.grace > self.raw_keep() {
                return err(format!(
                    "{what}: its buckets are computed from raw points a piece of {piece:?} (the least common multiple of the window span {:?} and the interval {:?}) at a time, once the piece plus the grace {:?} has passed; that exceeds the raw keep {:?}",
                    self.window_span,
                    t.interval,
                    self.grace,
                    self.raw_keep()
                ));
            }
            if t.keep > Duration::from_secs(3650 * 86_400) {
                return err(format!(
                    "{what}: keep {:?} is longer than 3650 days",
                    t.keep
                ));
            }
            if t.keep <= prev_keep || t.keep < t.interval {
                return err(format!(
                    "{what}: keep {:?} must be longer than {prev_name}'s {:?} and at least the interval",
                    t.keep, prev_keep
                ));
            }
            prev_interval = t.interval;
            prev_keep = t.keep;
            prev_name = t.name.clone();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn bad_span_is_named() {
        let c = Config {
            window_span: Duration::from_secs(90),
            ..Config::default()
        };
        match c.validate() {
            Err(Error::Config { setting, .. }) => assert_eq!(setting, "window_span"),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    fn tiers(raw_keep: u64, list: &[(&str, u64, u64)]) -> Result<()> {
        Config {
            raw_keep: Some(Duration::from_secs(raw_keep)),
            tiers: Some(
                list.iter()
                    .map(|(n, i, k)| Tier::new(n, Duration::from_secs(*i), Duration::from_secs(*k)))
                    .collect(),
            ),
            ..Config::default()
        }
        .validate()
    }

    #[test]
    fn tier_rules() {
        // Defaults, more tiers, and no tiers at all are fine.
        tiers(7200, &[("10s", 10, 86_400), ("60s", 60, 7_776_000)]).unwrap();
        tiers(
            7200,
            &[
                ("10s", 10, 86_400),
                ("5m", 300, 604_800),
                ("1h", 3600, 7_776_000),
            ],
        )
        .unwrap();
        tiers(7200, &[]).unwrap();
        let bad = |r: Result<()>, needle: &str| match r {
            Err(Error::Config { message, .. }) => assert!(message.contains(needle), "{message}"),
            other => panic!("expected a config error about {needle:?}, got {other:?}"),
        };
        bad(
            tiers(7200, &[("10s", 10, 86_400), ("15s", 15, 90_000)]),
            "multiple",
        );
        bad(
            tiers(7200, &[("10s", 10, 86_400), ("10b", 10, 90_000)]),
            "multiple",
        );
        bad(tiers(7200, &[("h", 1, 86_400), ("x", 2, 80_000)]), "keep");
        bad(tiers(7200, &[("10s", 10, 3600)]), "keep");
        bad(tiers(7200, &[("2h", 7200, 86_400)]), "raw keep");
        bad(tiers(7200, &[("raw", 10, 86_400)]), "taken");
        bad(
            tiers(7200, &[("a", 10, 86_400), ("a", 60, 90_000)]),
            "taken",
        );
        bad(tiers(7200, &[("Ten", 10, 86_400)]), "lower-case");
        bad(tiers(7200, &[("half", 0, 86_400)]), "whole number");
        assert!(matches!(
            tiers(600, &[]),
            Err(Error::Config {
                setting: "raw_keep",
                ..
            })
        ));
    }

    #[test]
    fn zero_interval_is_refused() {
        let c = Config::default().with_sync(Sync::Interval(Duration::ZERO));
        assert!(matches!(
            c.validate(),
            Err(Error::Config {
                setting: "sync",
                ..
            })
        ));
    }
}
