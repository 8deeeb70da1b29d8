//! Opening a store, in phases, each a method of [`Opening`]:
//!
//! 1. `lock`: a writer creates the directories, takes `LOCK` and removes stray `*.tmp` files;
//!    a reader only checks that the directory exists.
//! 2. `settle_state`: read (or, repairing, rebuild) the state file, adopt or settle the
//!    recorded settings, the store's id, the archive check.
//! 3. `load`: raw segments and window logs (with the seal-recovery rules), rollup tiers, the
//!    index.
//! 4. `replay`: the window logs into the head ([`crate::wal::replay`] decodes them), series ids
//!    reserved.
//!
//! A writer then persists a fresh state. Every difference between a writer's open and a
//! reader's follows from one [`Access`] value, decided at the start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use parking_lot::{Mutex, RwLock};

use super::{
    BadSegment, INDEX_FILE, LOCK_FILE, OpenWindow, RAW_DIR, STATE_FILE, Shared, State,
    parse_window_file_name,
};
use crate::config::Config;
use crate::error::Corruption;
use crate::error::{Error, Result};
use crate::format::header::{FileKind, Header};
use crate::index::format::IndexRecord;
use crate::index::{METRIC_OUT_OF_SEQUENCE, Registry};
use crate::logfile::{self as logfile, Appender, Finding, Mode};
use crate::rollup::materialise::TierData;
use crate::segment::Segment;
use crate::state::format::{Identity, State as StateFile};
use crate::vfs;
use crate::wal;

/// Who opens the store. Every difference between a writer's open and a reader's follows from
/// this value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// The writer: takes the lock, recovers (torn tails truncated, stray files removed) and
    /// persists a fresh state. With `salvage` (a repair) it keeps every log frame that
    /// validates and rebuilds a damaged state, or a missing one beside data.
    Write { salvage: bool },
    /// A reader: takes no lock, changes nothing, adopts the store's recorded settings.
    Read,
}

impl Access {
    fn is_read(self) -> bool {
        self == Access::Read
    }

    /// How the logs (window logs and the index) are loaded.
    fn log_mode(self) -> Mode {
        match self {
            Access::Write { salvage } => Mode::Write { salvage },
            Access::Read => Mode::Read,
        }
    }

    /// Whether a damaged state file (or a missing one beside data) is rebuilt from the other
    /// files; every other open refuses a damaged state, naming the repair.
    fn repairs_state(self) -> bool {
        self == Access::Write { salvage: true }
    }
}

pub(crate) fn open(dir: &Path, config: Config, read_only: bool) -> Result<Shared> {
    config.validate()?;
    let access = if read_only {
        Access::Read
    } else {
        Access::Write {
            salvage: config.salvage,
        }
    };
    let mut o = Opening {
        fs: vfs::Fs::new(config.vfs.clone(), config.file_mode),
        dir,
        access,
        config,
        findings: Vec::new(),
    };
    let lock = o.lock()?;
    let settled = o.settle_state()?;
    let files = o.load(settled.saved.as_ref())?;
    let (state, sweep_below) = o.replay(&settled, files)?;
    let shared = o.into_shared(lock, settled.identity, state, sweep_below);
    // A delete a crash interrupted is finished before anyone sees the store.
    super::delete::resume_pending(&shared)?;
    if !access.is_read() {
        shared.persist_state()?;
        shared.state.write().fwd_late = crate::forward::late::LateLog::open(
            &shared.fs,
            &shared.dir,
            access == (Access::Write { salvage: true }),
        )?;
        shared.forward_watermark();
    }
    Ok(shared)
}

/// An open in progress: what every phase reads, the configuration the phases settle, and the
/// findings of recovery so far.
struct Opening<'a> {
    fs: vfs::Fs,
    dir: &'a Path,
    access: Access,
    config: Config,
    findings: Vec<Finding>,
}

/// What the state phase settled.
struct Settled {
    /// The recorded state (read, or rebuilt by a repair); `None` for a new store.
    saved: Option<StateFile>,
    /// The store's id (a writer always has one).
    identity: Option<Identity>,
    /// Whether the state was rebuilt (its finding is the first of the open).
    rebuilt: bool,
}

/// What the load phase read: raw segments and window logs, rollup tiers, the index.
struct Files {
    raw: Raw,
    tiers: Vec<TierData>,
    registry: Registry,
    index_log: Option<Appender>,
    index_records: u64,
}

impl Opening<'_> {
    /// Phase 1. A writer creates `DIR` and `raw/` if missing, takes the writer lock (`LOCK`,
    /// with its pid inside) and removes the `*.tmp` files an interrupted write left in both;
    /// a reader takes no lock and needs the directory to exist.
    fn lock(&self) -> Result<Option<Box<dyn vfs::VfsFile>>> {
        let (fs, dir) = (&self.fs, self.dir);
        match self.access {
            Access::Read => {
                if !fs.is_dir(dir) {
                    return Err(Error::io(
                        dir,
                        "open store",
                        std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
                    ));
                }
                Ok(None)
            }
            Access::Write { .. } => {
                fs.create_dir_all(dir)?;
                fs.create_dir_all(&dir.join(RAW_DIR))?;
                let lock = fs.lock_recording_pid(&dir.join(LOCK_FILE), dir)?;
                remove_temp_files(fs, dir)?;
                remove_temp_files(fs, &dir.join(RAW_DIR))?;
                Ok(Some(lock))
            }
        }
    }

    /// Phase 2: the state file (the window span the store was created with, the clock
    /// high-water mark, the retention settings, the id), and the configuration settled
    /// against it.
    fn settle_state(&mut self) -> Result<Settled> {
        let (saved, version, finding) = self.read_state()?;
        let rebuilt = finding.is_some();
        self.findings.extend(finding);
        self.adopt_recorded(saved.as_ref(), rebuilt)?;
        let recorded_archive = saved
            .as_ref()
            .and_then(|s| s.retention.as_ref())
            .and_then(|r| r.policy.as_ref())
            .and_then(|p| p.archive.clone());
        crate::state::policy::resolve_policy(
            &mut self.config,
            saved.as_ref(),
            version,
            self.access.is_read(),
        );
        self.config.settle_defaults();
        let identity = self.identity(saved.as_ref(), recorded_archive.as_deref())?;
        if let Some(s) = &saved
            && s.window_span != self.config.span_ms()
        {
            return Err(Error::Config {
                setting: "window_span",
                message: format!(
                    "the store was created with a window span of {} ms; open it with that span",
                    s.window_span
                ),
            });
        }
        Ok(Settled {
            saved,
            identity,
            rebuilt,
        })
    }

    /// The state file and its format version; a repair rebuilds a damaged one (moved aside)
    /// or a missing one beside data, and says so in the finding.
    fn read_state(&self) -> Result<(Option<StateFile>, u16, Option<Finding>)> {
        use crate::state::rebuild::{move_aside, rebuild, state_damage};
        let (fs, dir, config) = (&self.fs, self.dir, &self.config);
        let repairing = self.access.repairs_state();
        let rebuilt_version = FileKind::State.version();
        match crate::state::file::read_checked_state(fs, dir) {
            Ok(Some((s, version))) => Ok((Some(s), version, None)),
            Ok(None) if repairing => match rebuild(fs, dir, config, None)? {
                Some((s, finding)) => Ok((Some(s), rebuilt_version, Some(finding))),
                None => Ok((None, 0, None)),
            },
            Ok(None) => Ok((None, 0, None)),
            Err(e) => match state_damage(fs, dir, &e) {
                Some(damage) if repairing => {
                    let (s, mut finding) = rebuild(fs, dir, config, Some(damage))?
                        .expect("rebuilt for a damaged file");
                    let aside = move_aside(fs, dir)?;
                    log::warn!(
                        "{}: damaged; moved to {}",
                        dir.join(STATE_FILE).display(),
                        aside.display()
                    );
                    if let Finding::StateRebuilt { moved_to, .. } = &mut finding {
                        *moved_to = Some(aside);
                    }
                    Ok((Some(s), rebuilt_version, Some(finding)))
                }
                Some((offset, what)) if matches!(e, Error::Corrupt { .. }) => {
                    Err(Error::NeedsRepair {
                        file: dir.join(STATE_FILE),
                        offset,
                        what,
                    })
                }
                _ => Err(e),
            },
        }
    }

    /// The settings taken from the store rather than the configuration. A reader takes the
    /// span the store was created with (a writer asking for another span is refused later
    /// rather than silently given a different one); a repair that rebuilt the state takes
    /// the span the files were written with.
    fn adopt_recorded(&mut self, saved: Option<&StateFile>, rebuilt: bool) -> Result<()> {
        let config = &mut self.config;
        let span_of = |s: &StateFile| std::time::Duration::from_millis(s.window_span.max(0) as u64);
        match (self.access, saved) {
            (Access::Read, None) => {
                let (fs, dir) = (&self.fs, self.dir);
                if !fs.exists(&dir.join(INDEX_FILE)) && !fs.exists(&dir.join(RAW_DIR)) {
                    return Err(Error::NotAStore {
                        dir: dir.to_path_buf(),
                    });
                }
            }
            (Access::Read, Some(s)) => {
                config.window_span = span_of(s);
                // Readers neither seal nor expire anything: only the span itself must be sane.
                config.raw_keep = Some(config.raw_keep().max(config.window_span + config.grace));
                config.tiers = Some(Vec::new());
                // (The store's own tiers are adopted in `tier_list`, after this check of the
                // span.)
                config.validate().map_err(|_| {
                    Error::corrupt(
                        self.dir.join(STATE_FILE),
                        20,
                        Corruption::BadField {
                            what: "window span out of range",
                        },
                    )
                })?;
            }
            (Access::Write { .. }, Some(s)) if rebuilt => {
                config.window_span = span_of(s);
                // The settings the state recorded are lost: the configuration's (or the
                // defaults) apply, tiers included, rather than the rebuilt list of tiers with
                // directories.
                config.tiers = Some(config.tiers().to_vec());
                config.validate()?;
            }
            (Access::Write { .. }, _) => {}
        }
        Ok(())
    }

    /// The store's id: a reader has the recorded one, if any. A store gets its id when it is
    /// created, or (one an older build created) at its first writer open by this build; a
    /// writer then checks the archive before anything touches it: a path that is the store,
    /// inside it, or another store's (archive) must never be written to, nor cleaned.
    fn identity(
        &self,
        saved: Option<&StateFile>,
        recorded_archive: Option<&str>,
    ) -> Result<Option<Identity>> {
        use crate::retention::archive::{check_archive, clean_archive, new_store_id};
        let recorded = saved.and_then(|s| s.identity);
        match self.access {
            Access::Read => Ok(recorded),
            Access::Write { .. } => {
                let own = recorded.unwrap_or_else(|| Identity {
                    id: new_store_id(),
                    archive: false,
                });
                let (fs, dir, config) = (&self.fs, self.dir, &self.config);
                check_archive(fs, dir, config, &own, recorded_archive)?;
                clean_archive(fs, dir, config)?;
                Ok(Some(own))
            }
        }
    }

    /// Phase 3: raw segments and window logs, rollup tiers, the index. A reader loads windows
    /// and segments first, then the index: the index is always written (and synced) before
    /// any log frame that names a new series, so reading it last means a reader running
    /// beside a writer knows every series the logs it read refer to.
    fn load(&mut self, saved: Option<&StateFile>) -> Result<Files> {
        let span = self.config.span_ms();
        let read_only = self.access.is_read();
        let tiers = crate::rollup::materialise::tier_list(&mut self.config, saved, read_only)?;
        let (fs, dir, access) = (&self.fs, self.dir, self.access);
        let raw_dir = dir.join(RAW_DIR);
        let index_path = dir.join(INDEX_FILE);
        let (raw, tiers, (registry, index_log, index_records)) = match access {
            Access::Read => {
                let raw = load_raw(fs, &raw_dir, span, access, &mut self.findings)?;
                let tiers = crate::rollup::materialise::load_tiers(fs, dir, tiers, span, true)?;
                let index = load_index(fs, &index_path, access, &mut self.findings)?;
                (raw, tiers, index)
            }
            Access::Write { .. } => {
                // The writer holds the lock, so no file changes under it and the order of
                // reading does not matter: the segments (footers decoded, tiers included)
                // load on a second thread while this one replays the index, which is most of
                // the work with many series. Errors and findings come out in the order of the
                // reader's sequential load.
                let mut index_findings = Vec::new();
                let (files, index) = std::thread::scope(|s| {
                    let files = s.spawn(|| {
                        let mut f = Vec::new();
                        let raw = load_raw(fs, &raw_dir, span, access, &mut f);
                        let tiers = raw.is_ok().then(|| {
                            crate::rollup::materialise::load_tiers(fs, dir, tiers, span, false)
                        });
                        (raw, tiers, f)
                    });
                    let index = load_index(fs, &index_path, access, &mut index_findings);
                    (files.join(), index)
                });
                let (raw, tiers, raw_findings) = match files {
                    Ok(f) => f,
                    Err(panic) => std::panic::resume_unwind(panic),
                };
                self.findings.extend(raw_findings);
                let raw = raw?;
                let tiers = tiers.expect("loaded after the raw tier")?;
                let index = index?;
                self.findings.extend(index_findings);
                (raw, tiers, index)
            }
        };
        Ok(Files {
            raw,
            tiers,
            registry,
            index_log,
            index_records,
        })
    }

    /// Phase 4: the store's in-memory state from what was loaded, with each window log
    /// replayed into its window's points. Returns it with the first series id this session
    /// hands out (ids below it are checked by the next series clean-up).
    fn replay(&mut self, settled: &Settled, files: Files) -> Result<(State, u32)> {
        let span = self.config.span_ms();
        let saved = settled.saved.as_ref();
        let Files {
            raw,
            tiers,
            mut registry,
            index_log,
            index_records,
        } = files;
        let mut st = State {
            registry: Registry::default(),
            index_log,
            index_records,
            open: BTreeMap::new(),
            sealing: BTreeMap::new(),
            sealed: raw.sealed,
            late: BTreeMap::new(),
            fwd_late: None,
            bad: raw.bad,
            clock_high_water: saved.map_or(i64::MIN, |s| s.clock_high_water),
            sealed_through: saved.map_or(i64::MIN, |s| s.sealed_through),
            tiers,
        };
        if let Some((&start, _)) = st.sealed.iter().next_back() {
            st.sealed_through = st.sealed_through.max(start + span);
        }
        let mut stats = self.replay_logs(&mut st, &registry, raw.logs)?;
        super::late::replay_late_logs(
            &self.fs,
            &mut st,
            raw.lates,
            span,
            self.access.log_mode(),
            !self.access.is_read(),
            |s| registry.has_series(s),
            &mut self.findings,
            &mut stats.unknown,
        )?;
        if settled.rebuilt {
            // The high-water mark the lost state held was no earlier than this: a sample is
            // accepted only up to `future_limit` ahead of the clock (and a window is sealed
            // only once the clock passed its end). Never later, so no window is sealed early.
            st.clock_high_water = st
                .clock_high_water
                .max(st.sealed_through)
                .max(stats.newest.saturating_sub(self.config.future_ms()));
        }
        // A clock behind the high-water mark (it jumped back, or a write came with a clock
        // ahead of time): reported. Samples are still accepted relative to the clock
        // (store/write.rs, `accept_range`); windows ahead of it are sealed by the next pass.
        let now = self.config.clock.now_ms();
        let grace = self.config.grace_ms();
        if !self.access.is_read()
            && st.clock_high_water != i64::MIN
            && st.clock_high_water.saturating_sub(now) > grace
        {
            let keep = self.config.raw_keep().as_millis().min(i64::MAX as u128) as i64;
            let accepted_from = now.saturating_sub(keep);
            log::warn!(
                "the clock ({now} ms) is behind the store's high-water mark ({} ms)",
                st.clock_high_water
            );
            self.findings.push(Finding::ClockBehind {
                high_water: st.clock_high_water,
                now,
                accepted_from,
            });
        }
        if stats.unknown > 0 {
            let unknown = stats.unknown;
            log::warn!("{unknown} logged samples name series missing from the index; skipped");
            self.findings.push(Finding::Damaged {
                file: self.dir.join(INDEX_FILE),
                offset: 0,
                what: Corruption::BadField {
                    what: "logged samples of series missing from the index were skipped",
                },
                lost_bytes: unknown * wal::format::SAMPLE_LEN as u64,
            });
        }
        reserve_ids(&mut registry, stats.max_series, &st.sealed);
        let sweep_below = registry.next_series_id();
        st.registry = registry;
        Ok((st, sweep_below))
    }

    /// Replays each window log into its window's points, open (a writer's log reopened for
    /// appends) in `st`.
    fn replay_logs(
        &self,
        st: &mut State,
        registry: &Registry,
        logs: Vec<(i64, PathBuf, logfile::Loaded)>,
    ) -> Result<wal::replay::ReplayStats> {
        let span = self.config.span_ms();
        let mut stats = wal::replay::ReplayStats::default();
        for (start, path, log) in logs {
            let data = wal::replay::replay(
                &log,
                &path,
                start,
                span,
                |s| registry.has_series(s),
                &mut stats,
            )?;
            let (log, sync) = match self.access {
                Access::Read => (None, None),
                Access::Write { .. } => {
                    let app = wal::append::reopen(&self.fs, &path, &log)?;
                    let sync = Arc::new(app.sync_handle()?);
                    (Some(app), Some(sync))
                }
            };
            st.open.insert(
                start,
                OpenWindow {
                    data,
                    log,
                    sync,
                    path,
                },
            );
        }
        Ok(stats)
    }

    /// The opened store, not yet started.
    fn into_shared(
        self,
        lock: Option<Box<dyn vfs::VfsFile>>,
        identity: Option<Identity>,
        state: State,
        sweep_below: u32,
    ) -> Shared {
        let read_only = self.access.is_read();
        Shared {
            dir: self.dir.to_owned(),
            fs: self.fs,
            config: self.config,
            read_only,
            identity,
            state: RwLock::new(state),
            written: AtomicU64::new(0),
            synced: Mutex::new(0),
            opened: std::time::Instant::now(),
            last_sync_us: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            timings: Default::default(),
            maintain: Mutex::new(()),
            retention_totals: Mutex::new(Default::default()),
            sweep_below: Mutex::new((!read_only).then_some(sweep_below)),
            poisoned: AtomicBool::new(false),
            clock_behind_said: AtomicBool::new(false),
            rejections: Default::default(),
            forward: Default::default(),
            findings: self.findings,
            _lock: lock,
        }
    }
}

/// Reserves every series id a window log (`logged`, the highest it names) or a sealed
/// segment still mentions: the registry never hands one out again.
fn reserve_ids(registry: &mut Registry, logged: Option<u32>, sealed: &BTreeMap<i64, Arc<Segment>>) {
    let mut max_id_seen = logged;
    for seg in sealed.values() {
        if let Some(e) = seg.footer().entries.last() {
            max_id_seen = Some(max_id_seen.map_or(e.series, |m| m.max(e.series)));
        }
    }
    if let Some(m) = max_id_seen {
        registry.reserve_series_ids(m.saturating_add(1));
    }
}

pub(crate) fn remove_temp_files(fs: &vfs::Fs, dir: &Path) -> Result<()> {
    for name in fs.list_files(dir)? {
        if name.ends_with(".tmp") {
            log::warn!("removing {name}: left by an interrupted write");
            fs.remove_synced(&dir.join(&name))?;
        }
    }
    Ok(())
}

struct Raw {
    sealed: BTreeMap<i64, Arc<Segment>>,
    bad: BTreeMap<i64, BadSegment>,
    /// Window logs to replay: window start, path, the loaded log.
    logs: Vec<(i64, PathBuf, logfile::Loaded)>,
    /// Late logs: window start, path.
    lates: Vec<(i64, PathBuf)>,
}

/// The raw windows in `raw`: sealed segments, damaged ones, and the logs of open windows,
/// with the seal-recovery rules applied (a writer removes what a crash left behind).
fn load_raw(
    fs: &vfs::Fs,
    raw: &Path,
    span: i64,
    access: Access,
    findings: &mut Vec<Finding>,
) -> Result<Raw> {
    let names = fs.list_files(raw)?;
    let mut segs = BTreeMap::new();
    let mut wals = BTreeMap::new();
    let mut lates = Vec::new();
    for name in &names {
        match parse_window_file_name(name) {
            Some((start, crate::layout::SEGMENT_EXT)) => {
                segs.insert(start, raw.join(name));
            }
            Some((start, crate::layout::WINDOW_LOG_EXT)) => {
                wals.insert(start, raw.join(name));
            }
            Some((start, crate::layout::LATE_LOG_EXT)) => {
                lates.push((start, raw.join(name)));
            }
            _ => {}
        }
    }
    let writer = !access.is_read();
    let mut out = Raw {
        sealed: BTreeMap::new(),
        bad: BTreeMap::new(),
        logs: Vec::new(),
        lates,
    };
    for (start, path) in segs {
        let opened = Segment::open_in(fs, &path).and_then(|s| check_segment(s, start, span));
        // With its log still beside it, the segment wins only if every chunk checks too: the
        // log is removed next, and with it the only intact copy of a damaged chunk's points.
        let opened = match opened {
            Ok(seg) if wals.contains_key(&start) => match seg.verify().into_iter().next() {
                None => Ok(seg),
                Some((e, what)) => Err(Error::Corrupt {
                    file: path.clone(),
                    offset: e.offset,
                    what,
                }),
            },
            other => other,
        };
        match opened {
            Ok(seg) => {
                if let Some(wal) = wals.remove(&start)
                    && writer
                {
                    // Crash after sealing, before the log was removed: the segment wins.
                    log::warn!("{}: already sealed; removing its log", wal.display());
                    fs.remove_synced(&wal)?;
                }
                out.sealed.insert(start, Arc::new(seg));
            }
            Err(e) => {
                let e = match e {
                    // A reader may race a writer that is sealing or dropping this window.
                    Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                        continue;
                    }
                    e => e,
                };
                if wals.contains_key(&start) {
                    // The log it came from is still here and complete: it wins.
                    log::warn!(
                        "{}: unreadable ({e}); its log is kept instead",
                        path.display()
                    );
                    if writer {
                        fs.remove_synced(&path)?;
                    }
                    continue;
                }
                log::error!("{}: {e}", path.display());
                out.bad.insert(
                    start,
                    BadSegment {
                        path: path.clone(),
                        error: e.to_string(),
                        bytes: fs.file_len(&path),
                    },
                );
            }
        }
    }
    for (start, path) in wals {
        let loaded = match wal::replay::load(fs, &path, start, span, access.log_mode()) {
            Ok(Some(l)) => l,
            Ok(None) => {
                if writer {
                    findings.push(Finding::EmptyRemoved { file: path.clone() });
                }
                continue;
            }
            Err(Error::Io { source, .. })
                if access.is_read() && source.kind() == std::io::ErrorKind::NotFound =>
            {
                // Sealed between listing and opening: read its segment instead.
                let seg_path = raw.join(super::window_file_name(start, crate::layout::SEGMENT_EXT));
                if let Ok(seg) =
                    Segment::open_in(fs, &seg_path).and_then(|s| check_segment(s, start, span))
                {
                    out.sealed.insert(start, Arc::new(seg));
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Some(f) = &loaded.finding {
            findings.push(f.clone());
        }
        out.logs.push((start, path, loaded));
    }
    Ok(out)
}

fn check_segment(seg: Segment, start: i64, span: i64) -> Result<Segment> {
    let h = seg.header();
    if h.window_start != start || h.window_span != span || h.tier != 0 {
        return Err(Error::corrupt(
            seg.path(),
            0,
            crate::error::Corruption::BadField {
                what: "segment header does not match its name",
            },
        ));
    }
    Ok(seg)
}

/// Index records decoded per batch handed from the decoding thread to the replay.
const DECODE_BATCH: usize = 2048;

/// The index at `path` replayed into a registry, with its appender (a writer's) and its
/// number of records.
fn load_index(
    fs: &vfs::Fs,
    path: &Path,
    access: Access,
    findings: &mut Vec<Finding>,
) -> Result<(Registry, Option<Appender>, u64)> {
    let mode = access.log_mode();
    let mut reg = Registry::default();
    let mut records = 0u64;
    let loaded = if fs.exists(path) {
        let l = logfile::load(fs, path, FileKind::Index, mode)?;
        if l.is_none() && !access.is_read() {
            findings.push(Finding::EmptyRemoved {
                file: path.to_owned(),
            });
        }
        l
    } else {
        None
    };
    let end = match &loaded {
        Some(l) => {
            if let Some(f) = &l.finding {
                findings.push(f.clone());
            }
            // Nearly every record of a large index defines a series.
            reg.reserve_series(l.payloads.len());
            // After damage (repair, salvage, or a reader), definitions that depended on lost
            // ones cannot be applied: skip them and report it, never guess.
            let lenient = l
                .finding
                .as_ref()
                .is_some_and(|f| matches!(f, Finding::Damaged { .. }));
            let mut skipped = 0u64;
            let mut first_skipped = None;
            let mut apply = |offset: u64, rec: std::result::Result<IndexRecord, Corruption>| {
                records += 1;
                let rec = rec.map_err(|w| Error::corrupt(path, offset, w))?;
                // Only a lenient load may retry a record, so only it pays for a copy.
                let res = if !lenient {
                    reg.apply(rec)
                } else {
                    match reg.apply(rec.clone()) {
                        Err(Corruption::BadField { what }) if what == METRIC_OUT_OF_SEQUENCE => {
                            if let IndexRecord::Metric { id, .. } = &rec {
                                reg.pad_metrics(*id);
                            }
                            reg.apply(rec)
                        }
                        other => other,
                    }
                };
                match res {
                    Ok(()) => Ok(()),
                    Err(w) if lenient => {
                        skipped += 1;
                        first_skipped.get_or_insert((offset, w));
                        Ok(())
                    }
                    Err(w) => Err(Error::corrupt(path, offset, w)),
                }
            };
            // Decoding a record is pure and about a third of the replay: a second thread
            // decodes batches ahead while this one applies them, in file order.
            std::thread::scope(|s| {
                let (tx, rx) = std::sync::mpsc::sync_channel(4);
                s.spawn(move || {
                    for chunk in l.payloads.chunks(DECODE_BATCH) {
                        let batch: Vec<_> = chunk
                            .iter()
                            .map(|&(o, n)| (o as u64, IndexRecord::decode(&l.bytes[o..o + n])))
                            .collect();
                        if tx.send(batch).is_err() {
                            return; // the replay stopped at an error
                        }
                    }
                });
                for batch in rx {
                    for (offset, rec) in batch {
                        apply(offset, rec)?;
                    }
                }
                Ok::<(), Error>(())
            })?;
            if let Some((offset, what)) = first_skipped {
                log::warn!(
                    "{}: {skipped} definitions depend on damaged ones and were skipped",
                    path.display()
                );
                findings.push(Finding::Damaged {
                    file: path.to_owned(),
                    offset,
                    what,
                    lost_bytes: 0,
                });
            }
            Some(l.end)
        }
        None => None,
    };
    if access.is_read() {
        return Ok((reg, None, records));
    }
    let app = match end {
        Some(end) => Appender::open(fs, path, end)?,
        None => Appender::create(fs, path, &Header::new(FileKind::Index, 0, 0, 0))?,
    };
    Ok((reg, Some(app), records))
}
