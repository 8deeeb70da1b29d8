//! Error types. One `Error` enum for every fallible operation of the store, with structured
//! variants (which file, which offset, what was expected) so callers can match on what they
//! care about; [`Corruption`] says what exactly was wrong with damaged bytes.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What was wrong with bytes that failed to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Corruption {
    /// The bytes end before the structure does.
    Truncated {
        /// Bytes the structure needs.
        needed: u64,
        /// Bytes there were.
        available: u64,
    },
    /// A checksum did not match the bytes it covers.
    Checksum {
        /// The checksum stored in the file.
        expected: u32,
        /// The checksum of the bytes as read.
        actual: u32,
    },
    /// A length field is out of bounds.
    BadLength {
        /// Which length.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// A record or field has a value the format does not allow.
    BadField {
        /// Which field.
        what: &'static str,
    },
    /// A compressed column failed to decode.
    Codec(CodecError),
    /// A log frame is damaged and valid frames follow it: not a torn tail but damage.
    DamagedLog {
        /// Frames after the damage that still validate.
        valid_frames_after: u64,
    },
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corruption::Truncated { needed, available } => {
                write!(f, "truncated: needed {needed} bytes, {available} available")
            }
            Corruption::Checksum { expected, actual } => write!(
                f,
                "checksum mismatch: stored {expected:#010x}, computed {actual:#010x}"
            ),
            Corruption::BadLength { what, value } => write!(f, "bad length for {what}: {value}"),
            Corruption::BadField { what } => write!(f, "bad field: {what}"),
            Corruption::Codec(e) => write!(f, "bad compressed column: {e}"),
            Corruption::DamagedLog { valid_frames_after } => write!(
                f,
                "damaged frame followed by {valid_frames_after} valid frame(s) (not a torn tail)"
            ),
        }
    }
}

impl From<CodecError> for Corruption {
    fn from(e: CodecError) -> Self {
        Corruption::Codec(e)
    }
}

/// Why one sample of a batch was refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SampleError {
    /// The metric name does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidMetricName {
        /// The name given.
        name: String,
    },
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*` or starts with the reserved `__`.
    InvalidLabelName {
        /// The name given.
        name: String,
    },
    /// The same label name appears twice.
    DuplicateLabel {
        /// The repeated name.
        name: String,
    },
    /// More labels than [`crate::Limits::max_labels`].
    TooManyLabels {
        /// Labels given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A name longer than [`crate::Limits::max_name_bytes`].
    NameTooLong {
        /// The name given.
        name: String,
        /// The limit, bytes.
        max: usize,
    },
    /// A label value longer than [`crate::Limits::max_value_bytes`].
    ValueTooLong {
        /// The label whose value is too long.
        label: String,
        /// Bytes of the value.
        len: usize,
        /// The limit, bytes.
        max: usize,
    },
    /// A timestamp before 1970 or after the year 9999.
    TimestampOutOfRange {
        /// The timestamp given, ms.
        ts_ms: i64,
    },
    /// A series handle that this store never issued.
    UnknownSeries {
        /// The handle's number.
        id: u32,
    },
}

impl fmt::Display for SampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SampleError::InvalidMetricName { name } => write!(
                f,
                "invalid metric name {name:?}: must match [a-zA-Z_:][a-zA-Z0-9_:]*"
            ),
            SampleError::InvalidLabelName { name } => write!(
                f,
                "invalid label name {name:?}: must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __"
            ),
            SampleError::DuplicateLabel { name } => write!(f, "label {name:?} given twice"),
            SampleError::TooManyLabels { count, max } => {
                write!(f, "{count} labels, at most {max} allowed")
            }
            SampleError::NameTooLong { name, max } => write!(
                f,
                "name of {} bytes, at most {max} allowed: {:?}…",
                name.len(),
                name.chars().take(32).collect::<String>()
            ),
            SampleError::ValueTooLong { label, len, max } => {
                write!(
                    f,
                    "value of label {label:?} is {len} bytes, at most {max} allowed"
                )
            }
            SampleError::TimestampOutOfRange { ts_ms } => {
                write!(f, "timestamp {ts_ms} ms is outside 1970-01-01..9999-12-31")
            }
            SampleError::UnknownSeries { id } => write!(f, "unknown series handle {id}"),
        }
    }
}

/// Errors of the store.
///
/// Match on the variants you handle; the enum is `#[non_exhaustive]`, so keep a `_` arm.
/// [`Error::is_corruption`] groups the variants that mean damaged files.
///
/// ```
/// use tierlog::{Config, Error, SampleError, Sample, Store};
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(dir.path(), Config::default())?;
/// let labels = [("host", "a"), ("host", "b")];
/// match store.write(&[Sample::new("up", &labels, 1_700_000_000_000, 1.0)]) {
///     Err(Error::InvalidSample { index, reason: SampleError::DuplicateLabel { name } }) => {
///         assert_eq!((index, name.as_str()), (0, "host"));
///     }
///     Err(e) if e.is_corruption() => panic!("damaged store: {e}"),
///     other => panic!("unexpected: {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error on a file of the store. A full disk is this variant with
    /// a source of kind `StorageFull` (`ENOSPC`) or `QuotaExceeded` (`EDQUOT`); test it with
    /// [`Error::is_storage_full`]. Such a write is refused whole, the store stays consistent
    /// and readable, and writes succeed again once space is freed, without a restart.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done (`open`, `write`, `fsync`, ...).
        op: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// A file of the store is damaged.
    Corrupt {
        /// The file.
        file: PathBuf,
        /// Offset of the damaged structure in the file.
        offset: u64,
        /// What is wrong with it.
        what: Corruption,
    },
    /// A log or index file holds damage that is not a crash artifact; a read-write open refuses
    /// until `tierlog repair` (or [`crate::Config::salvage`]) keeps what can still be validated.
    NeedsRepair {
        /// The file.
        file: PathBuf,
        /// Offset of the first damage.
        offset: u64,
        /// What is wrong there.
        what: Corruption,
    },
    /// The file does not start with the magic of the file type expected here.
    WrongMagic {
        /// The file.
        file: PathBuf,
        /// The magic of the expected file type.
        expected: [u8; 8],
        /// The first bytes of the file (fewer than 8 when it is shorter).
        found: Vec<u8>,
    },
    /// The file was written by a newer format version than this build reads.
    UnsupportedVersion {
        /// The file.
        file: PathBuf,
        /// Its format version.
        found: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// Another `Store` holds the writer lock of this directory.
    Locked {
        /// The store's directory.
        dir: PathBuf,
        /// The process recorded as holding the lock, when known.
        pid: Option<u32>,
    },
    /// A read-only open of a directory that holds no store: no `state`, no `index.log` and no
    /// raw tier directory (a writer creates all three).
    NotAStore {
        /// The directory.
        dir: PathBuf,
    },
    /// The store was opened read-only.
    ReadOnly,
    /// A previous I/O failure left the write path in an unknown state; reopen the store.
    Poisoned,
    /// Sample `index` of the batch is invalid; nothing of the batch was written.
    InvalidSample {
        /// Position of the sample in the batch.
        index: usize,
        /// What is wrong with it.
        reason: SampleError,
    },
    /// A limit of the store was reached (e.g. the number of series).
    LimitReached {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: u64,
    },
    /// A write carried more samples than [`crate::Limits::max_batch_samples`]; nothing of it
    /// was written. Split it.
    BatchTooLarge {
        /// Samples in the batch.
        samples: usize,
        /// The limit.
        max: usize,
    },
    /// A configuration value is out of its range or inconsistent.
    Config {
        /// The setting, as named in [`crate::Config`] (e.g. `window_span`, `limits.max_labels`).
        setting: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A selector did not parse.
    Selector(crate::query::selector::SelectorError),
    /// Metadata given for a metric is invalid.
    InvalidMetadata {
        /// The metric.
        metric: String,
        /// What is wrong with the metadata.
        reason: SampleError,
    },
    /// A query asked for something the store cannot answer as asked (an unknown tier, a
    /// step that is not a positive whole number of seconds, ...).
    InvalidQuery {
        /// What is wrong with the query.
        message: String,
    },
}

impl Error {
    internal! {
        fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
            Error::Io {
                path: path.into(),
                op,
                source,
            }
        }
    }

    /// True when this is the disk (or a quota) being full: retry once space is freed.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, Error::Io { source, .. }
            if matches!(source.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded))
    }

    pub(crate) fn corrupt(file: impl Into<PathBuf>, offset: u64, what: Corruption) -> Self {
        Error::Corrupt {
            file: file.into(),
            offset,
            what,
        }
    }

    /// True for errors that mean damaged data (used by `verify` for its exit code).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            Error::Corrupt { .. } | Error::NeedsRepair { .. } | Error::WrongMagic { .. }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, op, source } => write!(f, "{op} {}: {source}", path.display()),
            Error::Corrupt { file, offset, what } => {
                write!(f, "{} at offset {offset}: {what}", file.display())
            }
            Error::NeedsRepair { file, offset, what } => write!(
                f,
                "{} at offset {offset}: {what}; run `tierlog repair` to keep what can still be validated",
                file.display()
            ),
            Error::WrongMagic {
                file,
                expected,
                found,
            } => write!(
                f,
                "{} is not a tierlog file of this kind: expected magic {:?}, found {:?}",
                file.display(),
                String::from_utf8_lossy(expected),
                String::from_utf8_lossy(found)
            ),
            Error::UnsupportedVersion {
                file,
                found,
                supported,
            } => write!(
                f,
                "{} has format version {found}, this build reads versions up to {supported}; upgrade tierlog",
                file.display()
            ),
            Error::NotAStore { dir } => write!(
                f,
                "{} is not a tierlog store (no state, index.log or raw directory)",
                dir.display()
            ),
            Error::Locked { dir, pid } => match pid {
                Some(pid) => write!(
                    f,
                    "{} is locked for writing by process {pid}",
                    dir.display()
                ),
                None => write!(
                    f,
                    "{} is locked for writing by another store",
                    dir.display()
                ),
            },
            Error::ReadOnly => write!(f, "the store is open read-only"),
            Error::Poisoned => write!(
                f,
                "an earlier I/O error left the write path in an unknown state; reopen the store"
            ),
            Error::InvalidSample { index, reason } => {
                write!(
                    f,
                    "sample {index} of the batch: {reason}; nothing was written"
                )
            }
            Error::LimitReached { what, limit } => {
                write!(f, "limit reached: {what} (at most {limit})")
            }
            Error::BatchTooLarge { samples, max } => write!(
                f,
                "a write of {samples} samples is larger than limits.max_batch_samples ({max}); nothing was written"
            ),
            Error::Config { setting, message } => write!(f, "configuration {setting}: {message}"),
            Error::Selector(e) => write!(f, "selector: {e}"),
            Error::InvalidMetadata { metric, reason } => {
                write!(f, "metadata of metric {metric:?}: {reason}")
            }
            Error::InvalidQuery { message } => write!(f, "query: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<crate::query::selector::SelectorError> for Error {
    fn from(e: crate::query::selector::SelectorError) -> Self {
        Error::Selector(e)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// What is wrong with an encoded column or chunk.
#[non_exhaustive]
pub enum CodecError {
    /// The input ended early: a read needed `needed` bytes where `available`
    /// remained (both counted from the position of the failing read).
    Truncated {
        /// Bytes the read needed.
        needed: usize,
        /// Bytes that remained.
        available: usize,
    },
    /// The codec id byte of `column` ("timestamps" or "values") is unknown.
    UnknownCodec {
        /// `"timestamps"` or `"values"`.
        column: &'static str,
        /// The id byte found.
        id: u8,
    },
    /// A field holds a value the format does not allow.
    BadValue {
        /// Which field.
        what: &'static str,
    },
    /// A column declares more points than the decoders accept (65 536).
    TooManyPoints {
        /// The declared count.
        count: u64,
    },
    /// A chunk was followed by `extra` unexpected bytes.
    TrailingBytes {
        /// How many bytes followed.
        extra: usize,
    },
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodecError::Truncated { needed, available } => write!(
                f,
                "truncated column: needed {needed} more bytes, {available} available"
            ),
            CodecError::UnknownCodec { column, id } => {
                write!(f, "unknown {column} codec id {id}")
            }
            CodecError::BadValue { what } => write!(f, "invalid encoded data: {what}"),
            CodecError::TooManyPoints { count } => write!(
                f,
                "column declares {count} points, limit is {}",
                crate::segment::codec::MAX_COLUMN_POINTS
            ),
            CodecError::TrailingBytes { extra } => {
                write!(f, "{extra} trailing bytes after chunk")
            }
        }
    }
}

impl std::error::Error for CodecError {}

/// What recovery found and did to one log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// A torn tail of `len` bytes at `offset` (file offset) was dropped (writer: truncated).
    TornTail {
        /// The log.
        file: PathBuf,
        /// Where the torn tail started.
        offset: u64,
        /// Its length in bytes.
        len: u64,
    },
    /// Damage at `offset`; `lost_bytes` could not be validated and were dropped (writer with
    /// salvage: the file was rewritten with every valid frame; reader: valid frames served).
    Damaged {
        /// The log.
        file: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// What was found there.
        what: Corruption,
        /// Bytes that could not be validated.
        lost_bytes: u64,
    },
    /// A log shorter than its header (a crash right after creating it) was removed.
    EmptyRemoved {
        /// The log.
        file: PathBuf,
    },
    /// The state file was damaged (`damage`: offset and what; `None`: missing although the
    /// store holds data) and was rebuilt by `Store::repair` from the other files: the window
    /// span from the raw headers, the `tiers` from the tier directories (intervals and keep
    /// times from the configuration). The damaged file was moved to `moved_to`. The retention
    /// settings it recorded were lost: the configuration's (or the defaults) apply.
    StateRebuilt {
        /// The state file.
        file: PathBuf,
        /// Where the damaged file was moved.
        moved_to: Option<PathBuf>,
        /// Offset and kind of the damage; `None` when the file was missing.
        damage: Option<(u64, Corruption)>,
        /// The window span read from the raw headers, in ms.
        window_span: i64,
        /// The tiers found on disk.
        tiers: Vec<String>,
    },
    /// A segment that failed its checks was moved out of the store by `Store::repair` (to
    /// `quarantine/<tier>/<file>`): queries no longer read or warn about it, and the data of
    /// `tier` in `[from, to)` (ms) that it held is lost to the store.
    Quarantined {
        /// Where the segment was.
        file: PathBuf,
        /// Where it is now.
        moved_to: PathBuf,
        /// `raw` or the rollup tier's name.
        tier: String,
        /// Start of the time range it covered, ms.
        from: i64,
        /// Exclusive end of that range, ms.
        to: i64,
        /// Why it failed its checks.
        error: String,
    },
    /// The clock was found behind the store's clock high-water mark by more than the grace
    /// (a clock that jumped back: a dead RTC battery, a VM restored from a snapshot, a write
    /// made with a clock in the future). The mark decides sealing only: samples are accepted
    /// relative to the clock as it is (from `accepted_from`, the clock less the raw keep);
    /// the windows written while the clock was ahead are sealed, and their data stays.
    ClockBehind {
        /// The store's high-water mark, ms.
        high_water: i64,
        /// The clock at open, ms.
        now: i64,
        /// The earliest time (ms) a sample may carry and still be accepted.
        accepted_from: i64,
    },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::TornTail { file, offset, len } => write!(
                f,
                "{}: torn tail of {len} bytes at offset {offset} dropped (crash during an append)",
                file.display()
            ),
            Finding::Damaged {
                file,
                offset,
                what,
                lost_bytes,
            } => write!(
                f,
                "{}: damage at offset {offset} ({what}); {lost_bytes} bytes could not be validated and were dropped",
                file.display()
            ),
            Finding::EmptyRemoved { file } => {
                write!(
                    f,
                    "{}: log without a complete header removed",
                    file.display()
                )
            }
            Finding::StateRebuilt {
                file,
                moved_to,
                damage,
                window_span,
                tiers,
            } => {
                match damage {
                    Some((offset, what)) => {
                        write!(f, "{}: damage at offset {offset} ({what})", file.display())?
                    }
                    None => write!(
                        f,
                        "{}: missing although the store holds data",
                        file.display()
                    )?,
                }
                if let Some(to) = moved_to {
                    write!(f, "; the damaged file was moved to {}", to.display())?;
                }
                write!(
                    f,
                    "; rebuilt from the other files (window span {window_span} ms, tiers [{}], marks from the newest segments); the retention settings it recorded were lost: the configuration's (or the defaults) apply now",
                    tiers.join(", ")
                )
            }
            Finding::Quarantined {
                file,
                moved_to,
                tier,
                from,
                to,
                error,
            } => write!(
                f,
                "{}: damaged ({error}); moved to {}: the {tier} data from {from} to {to} (ms) is lost",
                file.display(),
                moved_to.display()
            ),
            Finding::ClockBehind {
                high_water,
                now,
                accepted_from,
            } => write!(
                f,
                "the clock ({now} ms) is {} s behind the store's high-water mark ({high_water} ms), \
                 left by a write while the clock was ahead: samples are accepted relative to the \
                 clock (from {accepted_from} ms); the data written ahead stays",
                high_water.saturating_sub(*now) / 1000
            ),
        }
    }
}
