//! The forwarder's checkpoint on disk (`DIR/forward/<name>.ckpt`, layout in
//! `format-spec/forward.md`) and its lock (`DIR/forward/<name>.lock`): one forwarder per
//! name at a time; the store's writer lock is not involved.

use std::path::{Path, PathBuf};

use tierlog::error::Result;
use tierlog::format::header::FileKind;
use tierlog::forward::format::Checkpoint;
use tierlog::store::{CHECKPOINT_EXT, FORWARD_DIR};
use tierlog::vfs::{Fs, VfsFile};

/// A forwarder's checkpoint file, locked for this process.
#[derive(Debug)]
pub struct CheckpointFile {
    fs: Fs,
    path: PathBuf,
    current: Checkpoint,
    _lock: Box<dyn VfsFile>,
}

impl CheckpointFile {
    /// Locks and reads the checkpoint `name` of the store in `store_dir`, creating the
    /// directory and a checkpoint at `start` when there is none. A damaged file is a typed
    /// error ([`Error::Corrupt`](tierlog::Error::Corrupt), [`Error::WrongMagic`](tierlog::Error::WrongMagic), [`Error::UnsupportedVersion`](tierlog::Error::UnsupportedVersion)); with
    /// `reset_damaged` it is moved aside to `<name>.ckpt.damaged` instead (logged) and a new
    /// checkpoint starts at `start`.
    pub fn open(
        fs: &Fs,
        store_dir: &Path,
        name: &str,
        start: i64,
        reset_damaged: bool,
    ) -> Result<CheckpointFile> {
        let dir = store_dir.join(FORWARD_DIR);
        fs.create_dir_all(&dir)?;
        let lock_path = dir.join(format!("{name}.lock"));
        let lock = fs.lock_recording_pid(&lock_path, &lock_path)?;
        let path = checkpoint_path(store_dir, name);
        // Left by a save this forwarder's predecessor did not finish; the lock is ours now.
        let tmp = tierlog::vfs::temp_path(&path);
        if fs.exists(&tmp) {
            fs.remove_synced(&tmp)?;
        }
        let current = match fs.read_if_exists(&path)? {
            Some(b) => match Checkpoint::decode(&b) {
                Ok(c) => Some(c),
                Err(e) if reset_damaged => {
                    let aside = path.with_extension(format!("{CHECKPOINT_EXT}.damaged"));
                    log::warn!(
                        "{}: damaged forwarder checkpoint ({e:?}); moved to {}, forwarding starts anew",
                        path.display(),
                        aside.display()
                    );
                    fs.rename(&path, &aside)?;
                    None
                }
                Err(e) => {
                    return Err(tierlog::logfile::header_error(
                        &path,
                        e,
                        FileKind::ForwardCheckpoint,
                    ));
                }
            },
            None => None,
        };
        let mut file = CheckpointFile {
            fs: fs.clone(),
            path,
            current: current.unwrap_or_default(),
            _lock: lock,
        };
        if current.is_none() {
            // The late log's samples so far were behind the other forwarders' watermarks;
            // this one sends from `start` in order, so it starts at the log's end.
            // A damaged log is read from its start (the open does not fail on it).
            let (late_epoch, late_offset) = match tierlog::forward::late::read_log(fs, store_dir) {
                Ok(v) => v.end_position(),
                Err(e @ tierlog::Error::Io { .. }) => return Err(e),
                Err(_) => (0, 0),
            };
            file.save(Checkpoint {
                watermark: start,
                late_epoch,
                late_offset,
                ..Checkpoint::default()
            })?;
        }
        Ok(file)
    }

    /// What the file holds.
    pub fn get(&self) -> Checkpoint {
        self.current
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the checkpoint: temporary file, fsync, rename, fsync of the directory.
    pub fn save(&mut self, c: Checkpoint) -> Result<()> {
        self.fs.write_atomic(&self.path, &c.encode())?;
        self.current = c;
        Ok(())
    }
}

/// Where the checkpoint `name` of the store in `store_dir` lives.
pub fn checkpoint_path(store_dir: &Path, name: &str) -> PathBuf {
    store_dir
        .join(FORWARD_DIR)
        .join(format!("{name}.{CHECKPOINT_EXT}"))
}

/// Removes the checkpoint `name` of the store in `store_dir` — a forwarder no longer used,
/// whose watermark would otherwise hold raw data back for it — under its lock, so that a
/// running forwarder of that name is refused (naming its pid). A damaged checkpoint is
/// removed too. Returns whether there was one. The lock file stays: removing a lock another
/// process may be opening would let two forwarders of one name in.
pub fn remove_checkpoint(fs: &Fs, store_dir: &Path, name: &str) -> Result<bool> {
    if !super::config::valid_name(name) {
        return Err(tierlog::Error::Config {
            setting: "name",
            message: "1 to 64 characters of a-z, A-Z, 0-9, - and _".into(),
        });
    }
    let path = checkpoint_path(store_dir, name);
    if !fs.exists(&path) {
        return Ok(false);
    }
    let lock_path = store_dir.join(FORWARD_DIR).join(format!("{name}.lock"));
    let _lock = fs.lock_recording_pid(&lock_path, &lock_path)?;
    let tmp = tierlog::vfs::temp_path(&path);
    if fs.exists(&tmp) {
        fs.remove_synced(&tmp)?;
    }
    fs.remove_synced(&path)?;
    Ok(true)
}

/// Reads the checkpoint `name` without locking it (`None` when there is none).
pub fn read_checkpoint(fs: &Fs, store_dir: &Path, name: &str) -> Result<Option<Checkpoint>> {
    let path = checkpoint_path(store_dir, name);
    match fs.read_if_exists(&path)? {
        None => Ok(None),
        Some(b) => Checkpoint::decode(&b)
            .map(Some)
            .map_err(|e| tierlog::logfile::header_error(&path, e, FileKind::ForwardCheckpoint)),
    }
}
