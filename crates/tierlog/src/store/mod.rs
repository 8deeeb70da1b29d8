//! The store: opening (with recovery), the write path, sealing, queries and stats.

mod delete;
mod exposition;
pub(crate) mod late;
pub(crate) mod open;
mod quarantine;
mod read;
pub(crate) mod seal;
mod timings;
pub(crate) mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use parking_lot::{Mutex, RwLock};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::head::WindowData;
use crate::index::Registry;
use crate::logfile::{Appender, Finding, SyncHandle};
use crate::segment::Segment;

pub use crate::backfill::BulkImport;
pub use crate::forward::hold::{CHECKPOINT_EXT, FORWARD_DIR};
pub use crate::index::compact::{COMPACT_MIN_DEAD_RECORDS, IndexCompaction};
pub use crate::retention::{DropReason, DroppedSegment, RetentionReport, RetentionTotals};
pub use crate::rollup::materialise::RollupReport;
pub use crate::rollup::step::{
    BucketPoint, BucketResult, P95_MERGED, P95_RAW_MISMATCH, SeriesBuckets, StepIter,
};
pub use delete::format::DeleteIntent;
pub use delete::{DeleteOptions, DeleteReport};
pub use exposition::EXPOSITION_CONTENT_TYPE;
pub use late::LateReport;
pub use read::{QueryIter, QueryResult, SeriesPoints, StoreStats, TierPart, TierStats};
pub use seal::MaintainReport;
pub use timings::{DurationHistogram, FSYNC_BUCKETS, MAINTENANCE_BUCKETS, MaintenanceStats};
pub use write::{Rejections, Sample, WriteKey, WriteSummary};

pub use crate::layout::{
    DELETE_FILE, INDEX_FILE, LOCK_FILE, QUARANTINE_DIR, RAW_DIR, STATE_FILE,
    parse_window_file_name, window_file_name,
};

/// A window that is still open for writes.
#[derive(Debug)]
pub(crate) struct OpenWindow {
    pub(crate) data: WindowData,
    /// The log (None in a read-only store).
    pub(crate) log: Option<Appender>,
    pub(crate) sync: Option<Arc<SyncHandle>>,
    pub(crate) path: PathBuf,
}

/// A segment that failed its checks at open.
#[derive(Debug, Clone)]
pub(crate) struct BadSegment {
    pub(crate) path: PathBuf,
    pub(crate) error: String,
    pub(crate) bytes: u64,
}

/// Everything behind the store's lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) registry: Registry,
    pub(crate) index_log: Option<Appender>,
    /// Records in `index.log` (valid frames at open, plus every append since): with the
    /// registry's counts this tells how many are dead, which decides an index compaction.
    pub(crate) index_records: u64,
    pub(crate) open: BTreeMap<i64, OpenWindow>,
    /// Windows being sealed: immutable, still served by queries.
    pub(crate) sealing: BTreeMap<i64, Arc<OpenWindow>>,
    pub(crate) sealed: BTreeMap<i64, Arc<Segment>>,
    /// Late samples of sealed (or sealing) windows, not yet merged into their segments.
    pub(crate) late: BTreeMap<i64, late::LateWindow>,
    /// The forward late log (`forward/late.log`), once a writer has one.
    pub(crate) fwd_late: Option<crate::forward::late::LateLog>,
    pub(crate) bad: BTreeMap<i64, BadSegment>,
    pub(crate) clock_high_water: i64,
    pub(crate) sealed_through: i64,
    /// Rollup tiers, finest first.
    pub(crate) tiers: Vec<crate::rollup::materialise::TierData>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) config: Config,
    pub(crate) read_only: bool,
    /// The store's id (a writer always has one; a reader has the one recorded, if any).
    pub(crate) identity: Option<crate::state::format::Identity>,
    pub(crate) state: RwLock<State>,
    /// Sequence number of the last append (incremented under the state lock).
    pub(crate) written: AtomicU64,
    /// Sequence number known durable; held while fsyncing so concurrent writers share one.
    pub(crate) synced: Mutex<u64>,
    /// When the store was opened: the origin of `last_sync_us`. Fsync pacing uses this
    /// monotonic clock, not the store's clock, which a replay moves at the data's pace.
    pub(crate) opened: std::time::Instant,
    /// Microseconds after `opened` of the last completed group commit.
    pub(crate) last_sync_us: AtomicU64,
    /// Log fsyncs done by the write path (group commits count once).
    pub(crate) fsyncs: AtomicU64,
    /// Fsync and maintenance durations, and what the passes did, since the open.
    pub(crate) timings: timings::Timings,
    pub(crate) maintain: Mutex<()>,
    /// What retention has dropped since the open.
    pub(crate) retention_totals: Mutex<crate::retention::RetentionTotals>,
    /// Series ids below this (those of earlier sessions) are checked for data by the next
    /// series clean-up, whatever it dropped: a crash between dropping segments and removing
    /// their series, or a clean-up skipped for damage, leaves series without samples that no
    /// later drop would name. `None` once done (and for readers).
    pub(crate) sweep_below: Mutex<Option<u32>>,
    pub(crate) poisoned: AtomicBool,
    /// The clock was found behind the high-water mark while running (said once, in the log;
    /// `StoreStats::clock_behind_ms` says it at any time).
    pub(crate) clock_behind_said: AtomicBool,
    /// What the write path refused since the open, by reason.
    pub(crate) rejections: write::RejectionCounters,
    /// Forwarders' watermark as the write path and retention see it, and their counters.
    pub(crate) forward: crate::forward::hold::ForwardMarks,
    pub(crate) findings: Vec<Finding>,
    /// Every file operation goes through here.
    pub(crate) fs: crate::vfs::Fs,
    _lock: Option<Box<dyn crate::vfs::VfsFile>>,
}

/// An open tierlog store. `Store` is `Send + Sync`: share it (e.g. in an `Arc`) between
/// writer and reader threads.
///
/// One process at a time opens a directory for writing ([`Store::open`] takes a lock file;
/// a second writer gets [`Error::Locked`]); any number may open it with
/// [`Store::open_read_only`] meanwhile. Dropping the store syncs what was written, best
/// effort; [`Store::close`] does the same and reports errors.
///
/// ```
/// use std::sync::Arc;
/// use tierlog::{Config, ManualClock, Sample, Selector, Store};
///
/// let dir = tempfile::tempdir()?;
/// let now = 1_700_000_000_000;
/// let config = Config::default().with_clock(Arc::new(ManualClock::new(now)));
/// let store = Arc::new(Store::open(dir.path(), config)?);
///
/// let writers: Vec<_> = (0..4)
///     .map(|t| {
///         let store = Arc::clone(&store);
///         std::thread::spawn(move || {
///             let thread = t.to_string();
///             for i in 0..10 {
///                 let labels = [("thread", thread.as_str())];
///                 store.write(&[Sample::new("jobs_done", &labels, now - i * 1_000, 1.0)]).expect("write");
///             }
///         })
///     })
///     .collect();
/// for w in writers {
///     w.join().unwrap();
/// }
/// let result = store.query(&Selector::metric("jobs_done"), now - 60_000, now + 1)?;
/// assert_eq!(result.series.len(), 4);
/// assert!(result.series.iter().all(|s| s.points.len() == 10));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Store {
    pub(crate) shared: Arc<Shared>,
    /// Background threads (fsync flusher, maintenance); each stops when its sender drops.
    workers: Vec<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl Store {
    /// Opens (creating if missing) the store in `dir` for writing, recovering from any crash:
    /// a torn last record of a log is dropped (see [`Store::recovery_findings`]); damage that
    /// a crash cannot explain is refused with [`Error::NeedsRepair`]. The configuration is
    /// checked first ([`Config::validate`]).
    ///
    /// ```
    /// use tierlog::{Config, Error, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(dir.path().join("metrics"), Config::default())?;
    /// // One writer per directory.
    /// match Store::open(store.dir(), Config::default()) {
    ///     Err(Error::Locked { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
    ///     other => panic!("expected Locked, got {other:?}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(dir: impl AsRef<Path>, config: Config) -> Result<Store> {
        let shared = open::open(dir.as_ref(), config, false)?;
        shared.finish_merges()?;
        Ok(Store::start(shared))
    }

    /// Opens the store in `dir` read-only: no lock is taken and nothing is modified, so this
    /// works while another process writes. The store is a snapshot as of the open; logs are
    /// read up to their last complete frame.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tierlog::{Config, Error, ManualClock, Sample, Selector, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let now = 1_700_000_000_000;
    /// let config = Config::default().with_clock(Arc::new(ManualClock::new(now)));
    /// let writer = Store::open(dir.path(), config.clone())?;
    /// writer.write(&[Sample::new("up", &[], now, 1.0)])?;
    ///
    /// let reader = Store::open_read_only(dir.path(), config)?;
    /// assert_eq!(reader.query(&Selector::metric("up"), now, now + 1)?.series.len(), 1);
    /// assert!(matches!(reader.write(&[Sample::new("up", &[], now, 1.0)]), Err(Error::ReadOnly)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_read_only(dir: impl AsRef<Path>, config: Config) -> Result<Store> {
        let shared = open::open(dir.as_ref(), config, true)?;
        Ok(Store {
            shared: Arc::new(shared),
            workers: Vec::new(),
        })
    }

    /// Opens the store for writing with salvage on: every log frame that still validates is
    /// kept, the rest dropped; returns what was found. This is `tierlog repair`.
    ///
    /// A damaged state file (or a missing one beside data) is moved to `state.damaged` and
    /// rebuilt from the other files: the window span from the raw segment and log headers
    /// (else `config`'s), the tiers from the directories holding rollup segments (intervals
    /// and keep times from `config`, which must list every one of them, else
    /// [`Error::Config`]), the marks from the newest segments; the retention settings it
    /// recorded are lost and `config`'s apply ([`Finding::StateRebuilt`]).
    ///
    /// A segment (raw or rollup) that fails its checks cannot be salvaged frame by frame: it is
    /// moved to `quarantine/<tier>/<file>` ([`crate::layout::QUARANTINE_DIR`]), out of the
    /// store, so that queries stop warning about it; its [`Finding::Quarantined`] tells the
    /// time range lost.
    pub fn repair(dir: impl AsRef<Path>, mut config: Config) -> Result<(Store, Vec<Finding>)> {
        config.salvage = true;
        let store = Store::open(dir, config)?;
        let mut findings = store.shared.findings.clone();
        findings.extend(store.shared.quarantine_bad_segments()?);
        Ok((store, findings))
    }

    fn start(shared: Shared) -> Store {
        let shared = Arc::new(shared);
        let mut workers = Vec::new();
        if let crate::config::Sync::Interval(every) = shared.config.sync {
            workers.extend(spawn_worker(&shared, "tierlog-flush", every, |s| {
                let target = s.written.load(Ordering::SeqCst);
                if let Err(e) = s.sync_through(target) {
                    log::error!("background fsync failed: {e}");
                }
            }));
        }
        if let Some(every) = shared.config.maintenance_interval {
            workers.extend(spawn_worker(&shared, "tierlog-maintain", every, |s| {
                if let Err(e) = s.background_pass() {
                    log::error!("background maintenance failed (will retry): {e}");
                }
            }));
        }
        Store { shared, workers }
    }

    /// The raw window span the store in `dir` was created with, or `None` when there is no
    /// store there yet. Tools that open stores they did not create use it to build a matching
    /// [`Config`] (a writer open with another span is refused; read-only opens adopt it).
    /// A damaged state file (or one whose fields no store writes) is a corruption error.
    pub fn created_window_span(dir: impl AsRef<Path>) -> Result<Option<std::time::Duration>> {
        let Some((s, _)) =
            crate::state::file::read_checked_state(&crate::vfs::Fs::std(), dir.as_ref())?
        else {
            return Ok(None);
        };
        Ok(Some(std::time::Duration::from_millis(s.window_span as u64)))
    }

    /// What the store in `dir` records of its configuration, or `None` when there is no
    /// store there yet: the window span, and each retention setting it records (raw keep,
    /// tiers, `max_age_days`, `max_bytes`, `max_clock_lead`, expiry action) set; settings an
    /// older store does not record are left unset. Everything else is the default. Opening the
    /// store with it (or with those settings unset) applies the store's own policy.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tierlog::{Config, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// assert!(Store::stored_config(dir.path())?.is_none());
    /// let config = Config::default()
    ///     .with_window_span(Duration::from_secs(600))
    ///     .with_max_bytes(1 << 30);
    /// Store::open(dir.path(), config)?.close()?;
    ///
    /// let stored = Store::stored_config(dir.path())?.expect("a store");
    /// assert_eq!(stored.window_span, Duration::from_secs(600));
    /// assert_eq!(stored.max_bytes, Some(1 << 30));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A damaged state file — or one whose checksums hold but whose span or tiers no store
    /// could have written, which its open refuses too — is a corruption error
    /// ([`Error::is_corruption`]); `tierlog repair` rebuilds it.
    pub fn stored_config(dir: impl AsRef<Path>) -> Result<Option<Config>> {
        let Some((s, version)) =
            crate::state::file::read_checked_state(&crate::vfs::Fs::std(), dir.as_ref())?
        else {
            return Ok(None);
        };
        let mut c = Config {
            window_span: std::time::Duration::from_millis(s.window_span as u64),
            ..Config::default()
        };
        crate::state::policy::resolve_policy(&mut c, Some(&s), version, true);
        Ok(Some(c))
    }

    /// The archive of this store — the last tier's segments that expired while `on_expiry`
    /// was [`crate::Expiry::Archive`] — opened read-only, with this store's clock: query it
    /// like any store (`query_tier` with the last tier's name, `query_step`). `None` when
    /// the store does not archive or nothing was archived yet.
    pub fn open_archive(&self) -> Result<Option<Store>> {
        let Some(root) = self.shared.archive_dir() else {
            return Ok(None);
        };
        if !self.shared.fs.exists(&root.join(STATE_FILE)) {
            return Ok(None);
        }
        let config = Config {
            maintenance_interval: None,
            vfs: self.shared.config.vfs.clone(),
            file_mode: self.shared.config.file_mode,
            ..Config::default()
        }
        .with_clock(self.shared.config.clock.clone());
        Store::open_read_only(root, config).map(Some)
    }

    /// The directory of the store.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// True when opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.shared.read_only
    }

    /// What recovery found and did at open (torn tails truncated, damage salvaged, ...).
    pub fn recovery_findings(&self) -> &[Finding] {
        &self.shared.findings
    }

    /// Number of group commits (fsync rounds over the open logs) done so far; one round may
    /// cover the writes of many threads.
    pub fn fsync_count(&self) -> u64 {
        self.shared.fsyncs.load(Ordering::Relaxed)
    }

    /// Makes everything written so far durable (all logs fsynced).
    pub fn sync(&self) -> Result<()> {
        self.shared.check_writable()?;
        let target = self.shared.written.load(Ordering::SeqCst);
        self.shared.sync_through(target)
    }

    /// Syncs and closes the store, reporting any error (dropping it syncs best-effort).
    pub fn close(mut self) -> Result<()> {
        self.stop_workers();
        if self.shared.read_only {
            return Ok(());
        }
        self.sync()?;
        self.shared.persist_state()
    }

    fn stop_workers(&mut self) {
        for (tx, handle) in self.workers.drain(..) {
            drop(tx);
            let _ = handle.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop_workers();
        if !self.shared.read_only && !self.shared.poisoned.load(Ordering::SeqCst) {
            let target = self.shared.written.load(Ordering::SeqCst);
            if let Err(e) = self.shared.sync_through(target) {
                log::error!("fsync at close failed: {e}");
            }
        }
    }
}

/// Runs `f` every `every` on a thread that holds only a weak reference to the store; it stops
/// when the returned sender is dropped (or the store is gone).
fn spawn_worker(
    shared: &Arc<Shared>,
    name: &str,
    every: std::time::Duration,
    f: fn(&Shared),
) -> Option<(mpsc::Sender<()>, JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel::<()>();
    let weak = Arc::downgrade(shared);
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                let Some(s) = weak.upgrade() else { break };
                f(&s);
            }
        });
    match handle {
        Ok(h) => Some((tx, h)),
        Err(e) => {
            log::error!("cannot start the {name} thread: {e}");
            None
        }
    }
}

impl State {
    /// Start of the oldest raw window present (sealed, damaged, being sealed or open).
    pub(crate) fn oldest_raw_window(&self) -> Option<i64> {
        [
            self.sealed.keys().next(),
            self.bad.keys().next(),
            self.sealing.keys().next(),
            self.open.keys().next(),
        ]
        .into_iter()
        .flatten()
        .min()
        .copied()
    }
}

impl Shared {
    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(Error::Poisoned);
        }
        Ok(())
    }

    pub(crate) fn raw_dir(&self) -> PathBuf {
        self.dir.join(RAW_DIR)
    }

    /// Group commit: makes every append with sequence number `<= seq` durable. One thread
    /// fsyncs at a time; threads that arrive meanwhile find their appends already covered
    /// and return without an fsync of their own.
    pub(crate) fn sync_through(&self, seq: u64) -> Result<()> {
        let mut synced = self.synced.lock();
        if *synced >= seq {
            return Ok(());
        }
        let (target, handles) = {
            let st = self.state.read();
            // Windows being sealed too: a write acknowledged just before its window froze must
            // still reach the disk before its writer returns.
            let handles: Vec<Arc<SyncHandle>> = st
                .open
                .values()
                .chain(st.sealing.values().map(|w| &**w))
                .filter_map(|w| w.sync.clone())
                .chain(st.late.values().filter_map(|l| l.sync.clone()))
                .chain(st.fwd_late.as_ref().map(|l| l.sync.clone()))
                .collect();
            (self.written.load(Ordering::SeqCst), handles)
        };
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        let start = std::time::Instant::now();
        for h in handles {
            if let Err(e) = h.sync() {
                // After a failed fsync the kernel may have dropped the dirty pages: nothing
                // written since the last good fsync can be trusted, so stop writing.
                self.poisoned.store(true, Ordering::SeqCst);
                return Err(e);
            }
        }
        self.timings.fsync.observe(start.elapsed());
        *synced = target;
        self.last_sync_us
            .store(self.opened.elapsed().as_micros() as u64, Ordering::SeqCst);
        Ok(())
    }
}
