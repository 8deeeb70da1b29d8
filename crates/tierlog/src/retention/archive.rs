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
//!   at the time (everything archived is older).
//!
//! Order of a move, each step durable before the next: the archive's index and state, then
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
    /// one, whose series are unknown): directories, then an index holding the segment's
    /// series, then the state. Nothing of the store changes.
    pub(crate) fn prepare_archive(
        &self,
        root: &Path,
        tier: &str,
        seg: Option<&Segment>,
    ) -> Result<()> {
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
        let state = {
            let st = self.state.read();
            crate::state::format::State {
                window_span: self.config.span_ms(),
                clock_high_water: st.clock_high_water,
                sealed_through: st.sealed_through,
                tiers: st.tiers.iter().map(|t| t.state()).collect(),
                retention: None,
            }
        };
        self.fs
            .write_atomic(&root.join(STATE_FILE), &state.encode())
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
