//! The archive: where the last tier's expired segments go when `on_expiry` is
//! [`Expiry::Archive`], instead of being deleted.
//!
//! An archive directory is laid out as a read-only store of its own — `state`, `index.log`,
//! `raw/` and one directory per tier — so that [`crate::Store::open_archive`] (or
//! `tierlog query ARCHIVE`, `tierlog verify ARCHIVE`) reads it with the ordinary code:
//!
//! - `<tier>/`: the archived segment files, unchanged (byte for byte what the store had).
//! - `index.log`: the metric records of the store and the series records of every series an
//!   archived segment holds, with the store's ids (ids are never reused, so an id means the
//!   same labels in the store and in the archive — even after the store's series clean-up
//!   forgot the series). Rewritten whole (temp, fsync, rename, fsync directory) when a
//!   segment brings series it lacks.
//! - `state`: the store's window span and tiers, each tier's materialised mark the store's
//!   at the time (everything archived is older), and the store's id with the archive role
//!   (format-spec/state.md): whose archive this is.
//!
//! Order of a move, each step durable before the next: the archive's state, index, then
//! the segment file (a rename, or a copy + fsync + rename across filesystems, then the
//! store's file is removed). A crash leaves the segment in the store (moved again by the next
//! pass), or in the archive (already indexed), never in neither — or, when the rename reached
//! the disk for the archive's directory but not for the store's, in both: the next writer open
//! then removes the store's copy (after checking it is byte for byte the archived one). Nothing in an archive is
//! ever deleted by the store, and it is not part of the store's byte budget.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::store::{INDEX_FILE, RAW_DIR, STATE_FILE, Shared};
use crate::config::Expiry;
use crate::error::{Corruption, Error, Result};
use crate::logfile::frame::encode_frame;
use crate::format::header::{FileKind, Header};
use crate::index::format::IndexRecord;
use crate::logfile::{self, Mode};
use crate::segment::Segment;

/// The archive directory of the store in `dir`, when its expired segments are archived.
pub(crate) fn archive_root(dir: &Path, config: &crate::config::Config) -> Option<PathBuf> {
    match config.on_expiry() {
        Expiry::Delete => None,
        Expiry::Archive(p) => Some(dir.join(p)), // An absolute `p` replaces `dir`.
    }
}

/// A new store id: 16 random bytes from the system (`/dev/urandom`), or where there is none,
/// the process's randomly keyed hashers over the time, the process id and an address. Never
/// all zero.
pub(crate) fn new_store_id() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    use std::io::Read;
    let mut id = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut id));
    if random.is_err() || id == [0; 16] {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let local = 0u8;
        for (k, half) in id.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(nanos);
            h.write_u32(std::process::id());
            h.write_usize(std::ptr::addr_of!(local) as usize);
            h.write_usize(k);
            half.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    if id == [0; 16] {
        id[0] = 1;
    }
    id
}

/// `p` made absolute with `.`, `..` and symbolic links resolved: its longest existing
/// ancestor canonicalised, the rest (which does not exist yet) applied to that lexically.
fn resolve(p: &Path) -> PathBuf {
    use std::path::Component;
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| p.to_path_buf(), |c| c.join(p))
    };
    let lexical = |base: PathBuf, rest: &Path| {
        let mut out = base;
        for c in rest.components() {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::CurDir => {}
                other => out.push(other.as_os_str()),
            }
        }
        out
    };
    for anc in abs.ancestors() {
        if let Ok(c) = anc.canonicalize() {
            let rest = abs.strip_prefix(anc).unwrap_or(Path::new(""));
            return lexical(c, rest);
        }
    }
    lexical(PathBuf::new(), &abs)
}

/// Checks that the archive directory the configuration names (if any) can safely be this
/// store's archive, with the paths resolved (`.`, `..`, symbolic links, also for a directory
/// that does not exist yet): not the store's directory, not inside it but as one directory of
/// its own directly in it (not one of the store's files or tier directories), not a directory
/// holding the store, and not a directory holding a store or an archive that is not this
/// store's own (its `state` must name this store's id as its archive's; an empty or new
/// directory is fine). An archive an older build made (a `state` without an id) is taken
/// only at the path the store recorded (`recorded`, relative to the store as configured), and
/// then stamped with this store's id. Refusals are `Error::Config` naming `on_expiry`.
pub(crate) fn check_archive(
    fs: &crate::vfs::Fs,
    dir: &Path,
    config: &crate::config::Config,
    own: &crate::state::format::Identity,
    recorded: Option<&str>,
) -> Result<()> {
    let Some(root) = archive_root(dir, config) else {
        return Ok(());
    };
    let Expiry::Archive(given) = config.on_expiry() else {
        return Ok(());
    };
    let refuse = |why: String| {
        Err(Error::Config {
            setting: "on_expiry",
            message: format!("archive directory {}: {why}", given.display()),
        })
    };
    let store = resolve(dir);
    let archive = resolve(&root);
    if archive == store {
        return refuse(format!(
            "is the store's own directory ({}); choose a directory of its own, e.g. archive:archive or archive:/path/to/archive",
            store.display()
        ));
    }
    if store.starts_with(&archive) {
        return refuse(format!(
            "{} holds the store ({}); choose a directory of its own",
            archive.display(),
            store.display()
        ));
    }
    if let Ok(rel) = archive.strip_prefix(&store) {
        let names: Vec<_> = rel.components().collect();
        let first = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let reserved = [
            RAW_DIR,
            INDEX_FILE,
            STATE_FILE,
            crate::store::LOCK_FILE,
            crate::forward::hold::FORWARD_DIR,
            crate::store::QUARANTINE_DIR,
        ];
        let taken = reserved.contains(&first.as_str())
            || config.tiers().iter().any(|t| t.name == first)
            || first.starts_with("state.");
        if taken {
            return refuse(format!(
                "{} is inside the store, and {first:?} is one of the store's own files or directories; only a directory of its own directly in the store (e.g. archive:archive) may hold the archive",
                archive.display()
            ));
        }
        if names.len() > 1 {
            return refuse(format!(
                "{} is nested inside the store's directory {first:?}; an archive inside the store must be one directory directly in it (e.g. archive:{first})",
                archive.display()
            ));
        }
    }
    // What the directory holds.
    // (Read through the store's file system, at the path as configured.)
    if !fs.is_dir(&root) {
        return Ok(());
    }
    let state_path = root.join(STATE_FILE);
    if fs.exists(&state_path) {
        let decoded = fs
            .read(&state_path)
            .ok()
            .and_then(|b| crate::state::format::State::decode(&b).ok());
        let Some(mut theirs) = decoded else {
            return refuse(format!(
                "{} holds a store or an archive whose state file does not read; it is not this store's archive",
                archive.display()
            ));
        };
        return match theirs.identity {
            Some(i) if i.archive && i.id == own.id => Ok(()),
            Some(i) if i.archive => refuse(format!(
                "{} holds the archive of another store (id {}); this store's id is {}",
                archive.display(),
                hex(&i.id),
                hex(&own.id)
            )),
            Some(i) => refuse(format!(
                "{} holds another store (id {}); archiving into it would overwrite its files",
                archive.display(),
                hex(&i.id)
            )),
            None => {
                let ours = recorded.is_some_and(|r| resolve(&dir.join(r)) == archive);
                if !ours {
                    return refuse(format!(
                        "{} holds a store or an archive that records no owner and is not the archive this store used before",
                        archive.display()
                    ));
                }
                // This store's archive from before stores had ids: it is ours from now on.
                theirs.identity = Some(crate::state::format::Identity {
                    id: own.id,
                    archive: true,
                });
                log::info!(
                    "{}: the store's archive from an older build; recording its owner",
                    archive.display()
                );
                fs.write_atomic(&state_path, &theirs.encode())
            }
        };
    }
    let store_like = [INDEX_FILE, RAW_DIR, crate::store::LOCK_FILE]
        .iter()
        .any(|n| fs.exists(&root.join(n)));
    // (An older build wrote the archive's state last: a move it was interrupted in may have
    // left the store's own archive without one.)
    let ours = recorded.is_some_and(|r| resolve(&dir.join(r)) == archive);
    if store_like && !ours {
        return refuse(format!(
            "{} holds a store or an archive (it has no state file to say whose); choose another directory",
            archive.display()
        ));
    }
    Ok(())
}

/// A store id as 32 hex digits.
pub(crate) fn hex(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// At a writer's open: removes the temporary files an interrupted move or index write left in
/// the archive (only the store's writer writes there), and the store's copy of a segment an
/// interrupted move left in both places.
pub(crate) fn clean_archive(
    fs: &crate::vfs::Fs,
    dir: &Path,
    config: &crate::config::Config,
) -> Result<()> {
    let Some(root) = archive_root(dir, config).filter(|r| fs.is_dir(r)) else {
        return Ok(());
    };
    crate::store::open::remove_temp_files(fs, &root)?;
    for name in fs.list_files(&root)? {
        let sub = root.join(&name);
        if fs.is_dir(&sub) {
            crate::store::open::remove_temp_files(fs, &sub)?;
            if name != RAW_DIR {
                remove_archived_copies(fs, &sub, &dir.join(&name))?;
            }
        }
    }
    Ok(())
}

/// Removes from the store's tier directory `store_tier` every segment file that the archive's
/// tier directory `archived` holds with the same name and the same bytes.
fn remove_archived_copies(fs: &crate::vfs::Fs, archived: &Path, store_tier: &Path) -> Result<()> {
    if !fs.is_dir(store_tier) {
        return Ok(());
    }
    for file in fs.list_files(archived)? {
        let ours = store_tier.join(&file);
        if !file.ends_with(".seg") || !fs.exists(&ours) {
            continue;
        }
        if fs.read(&ours)? == fs.read(&archived.join(&file))? {
            log::info!(
                "{}: already archived (an interrupted move); removing the store's copy",
                ours.display()
            );
            fs.remove_synced(&ours)?;
        }
    }
    Ok(())
}

impl Shared {
    /// The archive directory, when expired segments of the last tier are archived.
    pub(crate) fn archive_dir(&self) -> Option<PathBuf> {
        archive_root(&self.dir, &self.config)
    }

    /// The store's bytes on disk: everything under its directory but an archive kept there.
    pub(crate) fn store_bytes(&self) -> Result<u64> {
        let total = self.fs.dir_size(&self.dir)?;
        let inside = |a: &Path| {
            if a.starts_with(&self.dir) {
                return true;
            }
            let (Ok(a), Ok(d)) = (a.canonicalize(), self.dir.canonicalize()) else {
                return false; // No archive yet.
            };
            a.starts_with(d)
        };
        match self.archive_dir() {
            Some(a) if inside(&a) => Ok(total.saturating_sub(self.fs.dir_size(&a)?)),
            _ => Ok(total),
        }
    }

    /// Makes the archive ready to take `seg` (a segment of tier `tier`; `None` for a damaged
    /// one, whose series are unknown): the state (with the store's id), directories, then an
    /// index holding the segment's series. Nothing of the store changes.
    pub(crate) fn prepare_archive(
        &self,
        root: &Path,
        tier: &str,
        seg: Option<&Segment>,
    ) -> Result<()> {
        // The state first: it says whose archive this is (a directory with an index or tier
        // directories but no state is refused as someone else's).
        let state = self.state_record(
            None,
            self.identity.map(|i| crate::state::format::Identity {
                id: i.id,
                archive: true,
            }),
        );
        self.fs.create_dir_all(root)?;
        self.fs
            .write_atomic(&root.join(STATE_FILE), &state.encode())?;
        // Every directory a store of these tiers has, so that it reads and verifies as one.
        let tiers: Vec<String> = self
            .state
            .read()
            .tiers
            .iter()
            .map(|t| t.name.clone())
            .collect();
        for d in tiers.iter().map(String::as_str).chain([RAW_DIR, tier]) {
            self.fs.create_dir_all(&root.join(d))?;
        }
        // Only this store's writer (holding the maintenance mutex) writes its archive: a
        // temporary file there is what an interrupted move or index write left (also removed
        // at open, for an archive that was reconfigured since).
        crate::store::open::remove_temp_files(&self.fs, root)?;
        crate::store::open::remove_temp_files(&self.fs, &root.join(tier))?;
        let index_path = root.join(INDEX_FILE);
        let mut series = read_series_records(&self.fs, &index_path)?;
        let had_index = self.fs.exists(&index_path);
        let wanted: Vec<u32> = seg.map_or_else(Vec::new, |s| {
            s.footer().entries.iter().map(|e| e.series).collect()
        });
        let mut metrics = Vec::new();
        let mut added = 0usize;
        {
            let st = self.state.read();
            let reg = &st.registry;
            for id in wanted {
                if series.contains_key(&id) {
                    continue;
                }
                // Series the store has forgotten (or never knew after damage) cannot be
                // named: their points stay in the file, unreachable by labels.
                let Some((name, labels)) = reg.series(crate::model::SeriesId(id)) else {
                    continue;
                };
                let Some(m) = reg.metric_by_name(name) else {
                    continue;
                };
                series.insert(
                    id,
                    IndexRecord::Series {
                        id,
                        metric: m.id.0,
                        hash: labels.hash_with(name),
                        labels: labels.clone(),
                    },
                );
                added += 1;
            }
            if added > 0 || !had_index {
                for m in reg.metrics() {
                    if m.name.is_empty() {
                        return Err(Error::corrupt(
                            self.dir.join(INDEX_FILE),
                            0,
                            Corruption::BadField {
                                what: "the index lost metric definitions: nothing can be archived until it is repaired",
                            },
                        ));
                    }
                    metrics.push(IndexRecord::Metric {
                        id: m.id.0,
                        kind: m.meta.kind,
                        name: m.name.clone(),
                        unit: m.meta.unit.clone(),
                        description: m.meta.description.clone(),
                    });
                }
            }
        }
        if added > 0 || !had_index {
            let mut bytes = Header::new(FileKind::Index, 0, 0, 0).encode().to_vec();
            let mut payload = Vec::new();
            for r in metrics.iter().chain(series.values()) {
                payload.clear();
                r.encode(&mut payload);
                encode_frame(&payload, &mut bytes);
            }
            self.fs.write_atomic(&index_path, &bytes)?;
        }
        Ok(())
    }

    /// Moves the segment file at `path` into the archive's `tier` directory (same file
    /// name): a rename, or across filesystems a copy (fsynced, renamed into place) and then
    /// the removal of the original. Returns the new path.
    pub(crate) fn move_to_archive(&self, root: &Path, tier: &str, path: &Path) -> Result<PathBuf> {
        let name = path
            .file_name()
            .ok_or_else(|| Error::io(path, "archive", std::io::ErrorKind::InvalidInput.into()))?;
        let target_dir = root.join(tier);
        let target = target_dir.join(name);
        match self.fs.try_rename(path, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
                use std::io::Write;
                let mut out = self.fs.atomic_file(&target)?;
                let bytes = self.fs.read(path)?;
                out.write_all(&bytes)
                    .map_err(|e| Error::io(out.temp_path(), "copy", e))?;
                out.commit()?;
                let doomed = crate::vfs::temp_path(path);
                self.fs.rename(path, &doomed)?;
                self.fs.remove_synced(&doomed)?;
                return Ok(target);
            }
            Err(e) => return Err(Error::io(path, "rename into the archive", e)),
        }
        self.fs.sync_dir(&target_dir)?;
        if let Some(parent) = path.parent() {
            self.fs.sync_dir(parent)?;
        }
        Ok(target)
    }
}

/// The series records of an archive's index (none when it has no index yet).
fn read_series_records(fs: &crate::vfs::Fs, path: &Path) -> Result<BTreeMap<u32, IndexRecord>> {
    let mut out = BTreeMap::new();
    if !fs.exists(path) {
        return Ok(out);
    }
    let Some(loaded) = logfile::load(fs, path, FileKind::Index, Mode::Read)? else {
        return Ok(out);
    };
    if let Some(f) = &loaded.finding {
        log::warn!("archive index: {f}");
    }
    for (offset, payload) in loaded.payloads() {
        let rec = IndexRecord::decode(payload).map_err(|w| Error::corrupt(path, offset, w))?;
        if let IndexRecord::Series { id, .. } = &rec {
            out.insert(*id, rec);
        }
    }
    Ok(out)
}
