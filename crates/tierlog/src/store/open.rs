//! Opening a store: lock, state, index, raw windows, and crash recovery.

use std::collections::BTreeMap;
use std::path::Path;
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
use crate::head::WindowData;
use crate::index::format::IndexRecord;
use crate::index::{METRIC_OUT_OF_SEQUENCE, Registry};
use crate::logfile::{self as logfile, Appender, Finding, Mode};
use crate::segment::Segment;
use crate::state::format::State as StateFile;
use crate::vfs;
use crate::wal::format as wal;

pub(crate) fn open(dir: &Path, mut config: Config, read_only: bool) -> Result<Shared> {
    config.validate()?;
    let fs = vfs::Fs::new(config.vfs.clone(), config.file_mode);
    let mode = if read_only {
        Mode::Read
    } else {
        Mode::Write {
            salvage: config.salvage,
        }
    };
    let lock = if read_only {
        if !fs.is_dir(dir) {
            return Err(Error::io(
                dir,
                "open store",
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
            ));
        }
        None
    } else {
        fs.create_dir_all(dir)?;
        fs.create_dir_all(&dir.join(RAW_DIR))?;
        Some(take_lock(&fs, dir)?)
    };
    if !read_only {
        remove_temp_files(&fs, dir)?;
        remove_temp_files(&fs, &dir.join(RAW_DIR))?;
    }

    // State: the window span the store was created with, and the clock high-water mark.
    let state_path = dir.join(STATE_FILE);
    // A repair (writer with salvage) rebuilds a damaged state, or a missing one beside data,
    // from the other files; every other open refuses a damaged state, naming the repair.
    let repairing = !read_only && config.salvage;
    let mut state_finding = None;
    let (saved, saved_version) = match super::read_checked_state(&fs, dir) {
        Ok(Some((s, version))) => (Some(s), version),
        Ok(None) if repairing => match crate::state::rebuild::rebuild(&fs, dir, &config, None)? {
            Some((s, finding)) => {
                state_finding = Some(finding);
                (Some(s), crate::format::header::FileKind::State.version())
            }
            None => (None, 0),
        },
        Ok(None) => (None, 0),
        Err(e) => match crate::state::rebuild::state_damage(&fs, dir, &e) {
            Some(damage) if repairing => {
                let (s, mut finding) =
                    crate::state::rebuild::rebuild(&fs, dir, &config, Some(damage))?
                        .expect("rebuilt for a damaged file");
                let aside = crate::state::rebuild::move_aside(&fs, dir)?;
                log::warn!(
                    "{}: damaged; moved to {}",
                    state_path.display(),
                    aside.display()
                );
                if let Finding::StateRebuilt { moved_to, .. } = &mut finding {
                    *moved_to = Some(aside);
                }
                state_finding = Some(finding);
                (Some(s), crate::format::header::FileKind::State.version())
            }
            Some((offset, what)) if matches!(e, Error::Corrupt { .. }) => {
                return Err(Error::NeedsRepair {
                    file: state_path,
                    offset,
                    what,
                });
            }
            _ => return Err(e),
        },
    };
    if read_only
        && saved.is_none()
        && !fs.exists(&dir.join(super::INDEX_FILE))
        && !fs.exists(&dir.join(RAW_DIR))
    {
        return Err(Error::NotAStore {
            dir: dir.to_path_buf(),
        });
    }
    if state_finding.is_some()
        && let Some(s) = &saved
    {
        // The span the files were written with, whatever the configuration says.
        config.window_span = std::time::Duration::from_millis(s.window_span.max(0) as u64);
        // The settings the state recorded are lost: the configuration's (or the defaults)
        // apply, tiers included, rather than the rebuilt list of tiers with directories.
        config.tiers = Some(config.tiers().to_vec());
        config.validate()?;
    }
    // Readers take the span the store was created with; a writer asking for another span is
    // told so rather than silently given a different one.
    if let Some(s) = &saved
        && read_only
    {
        config.window_span = std::time::Duration::from_millis(s.window_span.max(0) as u64);
        // Readers neither seal nor expire anything: only the span itself must be sane.
        config.raw_keep = Some(config.raw_keep().max(config.window_span + config.grace));
        config.tiers = Some(Vec::new());
        // (The store's own tiers are adopted below, after this check of the span.)
        config.validate().map_err(|_| {
            Error::corrupt(
                &state_path,
                20,
                Corruption::BadField {
                    what: "window span out of range",
                },
            )
        })?;
    }
    let recorded_archive = saved
        .as_ref()
        .and_then(|s| s.retention.as_ref())
        .and_then(|r| r.policy.as_ref())
        .and_then(|p| p.archive.clone());
    resolve_policy(&mut config, saved.as_ref(), saved_version, read_only);
    config.settle_defaults();
    // A store gets its id when it is created, or (one an older build created) at its first
    // writer open by this build.
    let identity = match saved.as_ref().and_then(|s| s.identity) {
        Some(i) => Some(i),
        None if read_only => None,
        None => Some(crate::state::format::Identity {
            id: crate::retention::archive::new_store_id(),
            archive: false,
        }),
    };
    if !read_only && let Some(own) = &identity {
        // Before anything touches the archive: a path that is the store, inside it, or
        // another store's (archive) must never be written to, nor cleaned.
        crate::retention::archive::check_archive(
            &fs,
            dir,
            &config,
            own,
            recorded_archive.as_deref(),
        )?;
        crate::retention::archive::clean_archive(&fs, dir, &config)?;
    }
    let span = config.span_ms();
    if let Some(s) = &saved
        && s.window_span != span
    {
        return Err(Error::Config {
            setting: "window_span",
            message: format!(
                "the store was created with a window span of {} ms; open it with that span",
                s.window_span
            ),
        });
    }

    let mut findings: Vec<Finding> = state_finding.into_iter().collect();
    let rebuilt = !findings.is_empty();
    // A reader loads windows and segments first, then the index: the index is always written
    // (and synced) before any log frame that names a new series, so reading it last means a
    // reader running beside a writer knows every series the logs it read refer to.
    let tiers = crate::rollup::materialise::tier_list(&mut config, saved.as_ref(), read_only)?;
    let (raw, tiers, (registry, index_log, index_records)) = if read_only {
        let raw = load_raw(&fs, &dir.join(RAW_DIR), span, mode, &mut findings)?;
        let tiers = crate::rollup::materialise::load_tiers(&fs, dir, tiers, span, read_only)?;
        let index = load_index(&fs, &dir.join(INDEX_FILE), mode, &mut findings)?;
        (raw, tiers, index)
    } else {
        // The writer holds the lock, so no file changes under it and the order of reading
        // does not matter: the segments (footers decoded, tiers included) load on a second
        // thread while this one replays the index, which is most of the work with many series.
        // Errors and findings come out in the order of the sequential load above.
        let mut index_findings = Vec::new();
        let (files, index) = std::thread::scope(|s| {
            let files = s.spawn(|| {
                let mut f = Vec::new();
                let raw = load_raw(&fs, &dir.join(RAW_DIR), span, mode, &mut f);
                let tiers = raw.is_ok().then(|| {
                    crate::rollup::materialise::load_tiers(&fs, dir, tiers, span, read_only)
                });
                (raw, tiers, f)
            });
            let index = load_index(&fs, &dir.join(INDEX_FILE), mode, &mut index_findings);
            (files.join(), index)
        });
        let (raw, tiers, raw_findings) = match files {
            Ok(f) => f,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        findings.extend(raw_findings);
        let raw = raw?;
        let tiers = tiers.expect("loaded after the raw tier")?;
        let index = index?;
        findings.extend(index_findings);
        (raw, tiers, index)
    };
    let mut registry = registry;

    let mut st = State {
        registry: Registry::default(),
        index_log,
        index_records,
        open: BTreeMap::new(),
        sealing: BTreeMap::new(),
        sealed: raw.sealed,
        bad: raw.bad,
        clock_high_water: saved.as_ref().map_or(i64::MIN, |s| s.clock_high_water),
        sealed_through: saved.as_ref().map_or(i64::MIN, |s| s.sealed_through),
        tiers,
    };
    if let Some((&start, _)) = st.sealed.iter().next_back() {
        st.sealed_through = st.sealed_through.max(start + span);
    }
    // Replay the logs.
    let mut unknown = 0u64;
    let mut newest_logged = i64::MIN;
    let mut max_id_seen: Option<u32> = None;
    for (start, loaded) in raw.logs {
        let mut data = WindowData::new(start, span);
        for (offset, payload) in loaded.payloads() {
            let mut outside = false;
            let mut res = wal::decode_record(payload, |s| {
                max_id_seen = Some(max_id_seen.map_or(s.series, |m| m.max(s.series)));
                if s.ts_ms >= start.saturating_add(span) {
                    outside = true;
                } else if registry.has_series(s.series) {
                    newest_logged = newest_logged.max(s.ts_ms);
                    outside |= !data.add(s.series, s.ts_ms, s.value);
                } else {
                    unknown += 1;
                }
            });
            if outside && res.is_ok() {
                res = Err(Corruption::BadField {
                    what: "logged sample outside its window",
                });
            }
            if let Err(what) = res {
                // A frame whose checksum holds but whose record does not decode was written
                // by a broken or newer writer: never guess.
                return Err(Error::corrupt(loaded_path(dir, start), offset, what));
            }
        }
        let path = loaded_path(dir, start);
        let (log, sync) = if read_only {
            (None, None)
        } else {
            let app = Appender::open(&fs, &path, loaded.end)?;
            let sync = Arc::new(app.sync_handle()?);
            (Some(app), Some(sync))
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
    if rebuilt {
        // The high-water mark the lost state held was no earlier than this: a sample is
        // accepted only up to `future_limit` ahead of the clock (and a window is sealed only
        // once the clock passed its end). Never later, so no window is sealed early.
        st.clock_high_water = st
            .clock_high_water
            .max(st.sealed_through)
            .max(newest_logged.saturating_sub(config.future_ms()));
    }
    if unknown > 0 {
        log::warn!("{unknown} logged samples name series missing from the index; skipped");
        findings.push(Finding::Damaged {
            file: dir.join(INDEX_FILE),
            offset: 0,
            what: crate::error::Corruption::BadField {
                what: "logged samples of series missing from the index were skipped",
            },
            lost_bytes: unknown * wal::SAMPLE_LEN as u64,
        });
    }
    // Never hand out again an id that a log or a segment still mentions.
    for seg in st.sealed.values() {
        if let Some(e) = seg.footer().entries.last() {
            max_id_seen = Some(max_id_seen.map_or(e.series, |m| m.max(e.series)));
        }
    }
    if let Some(m) = max_id_seen {
        registry.reserve_series_ids(m.saturating_add(1));
    }
    let sweep_below = registry.next_series_id();
    st.registry = registry;

    let shared = Shared {
        dir: dir.to_owned(),
        fs,
        config,
        read_only,
        identity,
        state: RwLock::new(st),
        written: AtomicU64::new(0),
        synced: Mutex::new(0),
        opened: std::time::Instant::now(),
        last_sync_us: AtomicU64::new(0),
        fsyncs: AtomicU64::new(0),
        maintain: Mutex::new(()),
        retention_totals: Mutex::new(Default::default()),
        sweep_below: Mutex::new((!read_only).then_some(sweep_below)),
        poisoned: AtomicBool::new(false),
        rejections: Default::default(),
        forward: Default::default(),
        findings,
        _lock: lock,
    };
    if !read_only {
        shared.persist_state()?;
        shared.forward_watermark();
    }
    Ok(shared)
}

fn loaded_path(dir: &Path, start: i64) -> std::path::PathBuf {
    dir.join(RAW_DIR).join(super::window_file_name(
        start,
        crate::layout::WINDOW_LOG_EXT,
    ))
}

/// Takes the writer lock (`LOCK`, with the holder's pid inside).
fn take_lock(fs: &vfs::Fs, dir: &Path) -> Result<Box<dyn vfs::VfsFile>> {
    fs.lock_recording_pid(&dir.join(LOCK_FILE), dir)
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
    logs: Vec<(i64, logfile::Loaded)>,
}

/// Settles the retention policy (raw keep, tiers, `max_age_days`, `max_bytes`,
/// `max_clock_lead`, expiry action) against what the store recorded: a reader takes the
/// recorded values; a writer keeps the values it sets (logging each change) and takes the
/// recorded ones (or the defaults, for a new store) for the rest. Afterwards every one of them
/// is set in `config`. Tier intervals are checked against the store's in `tier_list`.
pub(crate) fn resolve_policy(
    config: &mut Config,
    saved: Option<&StateFile>,
    version: u16,
    read_only: bool,
) {
    use crate::config::{Expiry, Tier};
    let d = |v: i64| std::time::Duration::from_millis(v.max(0) as u64);
    let recorded = saved.and_then(|s| s.retention.as_ref());
    let policy = recorded.and_then(|r| r.policy.as_ref());
    let stored_tiers: Option<Vec<Tier>> = saved.filter(|_| version >= 2).map(|s| {
        s.tiers
            .iter()
            .map(|t| Tier::new(&t.name, d(t.interval), d(t.keep)))
            .collect()
    });
    let stored_expiry = policy.map(|p| match &p.archive {
        None => Expiry::Delete,
        Some(dir) => Expiry::Archive(dir.into()),
    });
    fn settle<T: Clone + PartialEq + std::fmt::Debug>(
        name: &str,
        set: &mut Option<T>,
        stored: Option<T>,
        default: T,
        read_only: bool,
    ) {
        match (set.as_ref(), stored) {
            (_, Some(s)) if read_only => *set = Some(s),
            (_, None) if read_only => {}
            (Some(v), Some(s)) if *v != s => {
                log::info!("retention setting {name} changes: {s:?} -> {v:?}")
            }
            (Some(_), _) => {}
            (None, Some(s)) => *set = Some(s),
            (None, None) => *set = Some(default),
        }
    }
    settle(
        "max_age_days",
        &mut config.max_age_days,
        recorded.map(|r| r.max_age_days),
        crate::config::DEFAULT_MAX_AGE_DAYS,
        read_only,
    );
    settle(
        "max_bytes",
        &mut config.max_bytes,
        recorded.map(|r| r.max_bytes),
        0,
        read_only,
    );
    settle(
        "max_clock_lead",
        &mut config.max_clock_lead,
        recorded.map(|r| d(r.max_clock_lead)),
        crate::config::DEFAULT_MAX_CLOCK_LEAD,
        read_only,
    );
    let raw_default = config.raw_keep();
    settle(
        "raw_keep",
        &mut config.raw_keep,
        policy.map(|p| d(p.raw_keep)),
        raw_default,
        read_only,
    );
    settle(
        "on_expiry",
        &mut config.on_expiry,
        stored_expiry,
        Expiry::Delete,
        read_only,
    );
    // Tiers: readers adopt the store's (again in `tier_list`, with their marks); a writer's
    // keep-time changes are logged here (interval mismatches are refused there).
    match (&config.tiers, stored_tiers) {
        (_, Some(s)) if read_only => config.tiers = Some(s),
        _ if read_only => {}
        (None, Some(s)) => config.tiers = Some(s),
        (None, None) => {}
        (Some(set), Some(s)) => {
            for t in set {
                match s.iter().find(|o| o.name == t.name) {
                    Some(o) if o.keep != t.keep => log::info!(
                        "retention setting: tier {:?} keep changes: {:?} -> {:?}",
                        t.name,
                        o.keep,
                        t.keep
                    ),
                    None => log::info!(
                        "tier {:?} ({:?} buckets, kept {:?}) is added",
                        t.name,
                        t.interval,
                        t.keep
                    ),
                    _ => {}
                }
            }
        }
        (Some(_), None) => {}
    }
}

fn load_raw(
    fs: &vfs::Fs,
    raw: &Path,
    span: i64,
    mode: Mode,
    findings: &mut Vec<Finding>,
) -> Result<Raw> {
    let names = fs.list_files(raw)?;
    let mut segs = BTreeMap::new();
    let mut wals = BTreeMap::new();
    for name in &names {
        match parse_window_file_name(name) {
            Some((start, crate::layout::SEGMENT_EXT)) => {
                segs.insert(start, raw.join(name));
            }
            Some((start, crate::layout::WINDOW_LOG_EXT)) => {
                wals.insert(start, raw.join(name));
            }
            _ => {}
        }
    }
    let writer = matches!(mode, Mode::Write { .. });
    let mut out = Raw {
        sealed: BTreeMap::new(),
        bad: BTreeMap::new(),
        logs: Vec::new(),
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
        let loaded = match logfile::load(fs, &path, FileKind::WindowLog, mode) {
            Ok(Some(l)) => l,
            Ok(None) => {
                if writer {
                    findings.push(Finding::EmptyRemoved { file: path.clone() });
                }
                continue;
            }
            Err(Error::Io { source, .. })
                if mode == Mode::Read && source.kind() == std::io::ErrorKind::NotFound =>
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
        check_log_header(&loaded.header, &path, start, span)?;
        if let Some(f) = &loaded.finding {
            findings.push(f.clone());
        }
        out.logs.push((start, loaded));
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

fn check_log_header(h: &Header, path: &Path, start: i64, span: i64) -> Result<()> {
    if h.window_start != start || h.window_span != span || h.tier != 0 {
        return Err(Error::corrupt(
            path,
            0,
            crate::error::Corruption::BadField {
                what: "log header does not match its name",
            },
        ));
    }
    Ok(())
}

/// Index records decoded per batch handed from the decoding thread to the replay.
const DECODE_BATCH: usize = 2048;

fn load_index(
    fs: &vfs::Fs,
    path: &Path,
    mode: Mode,
    findings: &mut Vec<Finding>,
) -> Result<(Registry, Option<Appender>, u64)> {
    let mut reg = Registry::default();
    let mut records = 0u64;
    let loaded = if fs.exists(path) {
        let l = logfile::load(fs, path, FileKind::Index, mode)?;
        if l.is_none() && matches!(mode, Mode::Write { .. }) {
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
    if matches!(mode, Mode::Read) {
        return Ok((reg, None, records));
    }
    let app = match end {
        Some(end) => Appender::open(fs, path, end)?,
        None => Appender::create(fs, path, &Header::new(FileKind::Index, 0, 0, 0))?,
    };
    Ok((reg, Some(app), records))
}
