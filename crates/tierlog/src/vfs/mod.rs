//! File I/O: every filesystem call of the engine goes through [`Fs`], which wraps the
//! [`Vfs`] backend chosen in [`crate::Config::vfs`] and turns its errors into ones that name
//! the file and the operation. The helpers here (atomic rewrite, synced create and remove, …)
//! are built only from the trait's calls, so the fault-injecting backend sees every one.

mod backend;
#[cfg(feature = "fault-injection")]
mod fault;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use backend::{
    Create, DirEntry, EntryKind, Mapped, Metadata, StdFs, Vfs, VfsFile, parent, temp_path,
};
#[cfg(feature = "fault-injection")]
pub use fault::{Fault, FaultFs, OpKind};

use crate::error::{Error, Result};

/// The default permission bits of files the store creates.
pub const DEFAULT_FILE_MODE: u32 = 0o600;

/// A [`Vfs`] backend plus the mode new files get: the handle the engine does its I/O through.
#[derive(Clone, Debug)]
pub struct Fs {
    vfs: Arc<dyn Vfs>,
    mode: u32,
}

impl Fs {
    /// I/O through `vfs`, creating files with permission bits `mode`.
    pub fn new(vfs: Arc<dyn Vfs>, mode: u32) -> Fs {
        Fs { vfs, mode }
    }

    /// The real filesystem with the default file mode (the CLI and inspection tools).
    pub fn std() -> Fs {
        Fs::new(Arc::new(StdFs), DEFAULT_FILE_MODE)
    }

    /// The backend.
    pub fn vfs(&self) -> &dyn Vfs {
        &*self.vfs
    }

    /// Creates `dir` (and parents) if missing, and fsyncs the parent of each directory it
    /// created so the new entries survive a crash.
    pub fn create_dir_all(&self, dir: &Path) -> Result<()> {
        let mut missing = Vec::new();
        let mut d = dir;
        while !self.exists(d) {
            missing.push(d.to_owned());
            match d.parent() {
                Some(p) if !p.as_os_str().is_empty() => d = p,
                _ => break,
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        self.vfs
            .create_dir_all(dir)
            .map_err(|e| Error::io(dir, "create directory", e))?;
        for d in missing.iter().rev() {
            // (A root has no parent to sync.)
            if d.parent().is_some() {
                self.sync_dir(parent(d))?;
            }
        }
        Ok(())
    }

    /// True when `path` exists (errors count as absent).
    pub fn exists(&self, path: &Path) -> bool {
        self.vfs.metadata(path).is_ok()
    }

    /// True when `path` is a directory.
    pub fn is_dir(&self, path: &Path) -> bool {
        matches!(self.vfs.metadata(path), Ok(m) if m.kind == EntryKind::Dir)
    }

    /// Reads a whole file.
    pub fn read(&self, path: &Path) -> Result<Vec<u8>> {
        let f = self
            .vfs
            .open(path, false)
            .map_err(|e| Error::io(path, "open", e))?;
        read_to_end(&*f).map_err(|e| Error::io(path, "read", e))
    }

    /// Reads a whole file, or `None` when it does not exist.
    pub fn read_if_exists(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        match self.vfs.open(path, false) {
            Ok(f) => Ok(Some(
                read_to_end(&*f).map_err(|e| Error::io(path, "read", e))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, "open", e)),
        }
    }

    /// Reads `len` bytes of `path` from `offset` (an error if the file is shorter).
    pub fn read_range(&self, path: &Path, offset: u64, len: u64) -> Result<Vec<u8>> {
        let f = self
            .vfs
            .open(path, false)
            .map_err(|e| Error::io(path, "open", e))?;
        let mut b = vec![0; len as usize];
        read_exact_at(&*f, &mut b, offset).map_err(|e| Error::io(path, "read", e))?;
        Ok(b)
    }

    /// The whole file as bytes that stay valid while the [`Mapped`] lives.
    pub fn map(&self, path: &Path) -> Result<Mapped> {
        self.vfs.map(path).map_err(|e| Error::io(path, "mmap", e))
    }

    /// Fsyncs a directory so that entries created, renamed or removed in it are durable.
    pub fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.vfs
            .sync_dir(dir)
            .map_err(|e| Error::io(dir, "fsync directory", e))
    }

    /// Renames a file (no directory fsync).
    pub fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.vfs
            .rename(from, to)
            .map_err(|e| Error::io(from, "rename", e))
    }

    /// Renames a file, keeping the raw error (for callers that handle particular kinds).
    pub fn try_rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.vfs.rename(from, to)
    }

    /// Replaces `path` with `bytes` atomically: write a temporary file, fsync it, rename it
    /// over `path`, fsync the directory. A crash leaves either the old file or the new one
    /// (and maybe a stray `.tmp`, which the next writer open removes).
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let mut f = self.atomic_file(path)?;
        f.write_all(bytes)
            .map_err(|e| Error::io(&f.tmp, "write", e))?;
        f.commit()
    }

    /// Starts an [`AtomicFile`] at `path`.
    pub fn atomic_file(&self, path: &Path) -> Result<AtomicFile> {
        AtomicFile::create(self, path)
    }

    /// Bytes of every file under `dir`, recursively (files that vanish meanwhile count 0).
    pub fn dir_size(&self, dir: &Path) -> Result<u64> {
        let entries = match self.vfs.list(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io(dir, "list", e)),
        };
        let mut total = 0;
        for e in entries {
            let p = dir.join(&e.name);
            match e.kind {
                EntryKind::Dir => total += self.dir_size(&p)?,
                _ => total += self.file_len(&p),
            }
        }
        Ok(total)
    }

    /// Creates a new file holding `initial` bytes, fsynced, with its directory entry fsynced.
    /// On failure the file is removed again, so a retry can create it.
    pub fn create_synced(&self, path: &Path, initial: &[u8]) -> Result<Box<dyn VfsFile>> {
        let f = self
            .vfs
            .create(path, Create::New, self.mode)
            .map_err(|e| Error::io(path, "create", e))?;
        let res = write_all_at(&*f, initial, 0)
            .and_then(|_| f.sync())
            .map_err(|e| Error::io(path, "write", e))
            .and_then(|_| self.sync_dir(parent(path)));
        if let Err(e) = res {
            drop(f);
            let _ = self.vfs.remove(path);
            return Err(e);
        }
        Ok(f)
    }

    /// Opens an existing file for writing (and reading).
    pub fn open_rw(&self, path: &Path) -> Result<Box<dyn VfsFile>> {
        self.vfs
            .open(path, true)
            .map_err(|e| Error::io(path, "open", e))
    }

    /// Removes a file and fsyncs its directory. A file that is already gone is fine.
    pub fn remove_synced(&self, path: &Path) -> Result<()> {
        match self.vfs.remove(path) {
            Ok(()) => self.sync_dir(parent(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(path, "remove", e)),
        }
    }

    /// Removes a file without an fsync (cleanup after a failure); errors are ignored.
    pub fn remove_quietly(&self, path: &Path) {
        let _ = self.vfs.remove(path);
    }

    /// Lists the entries of `dir` (names only, sorted). A missing directory is empty.
    pub fn list_files(&self, dir: &Path) -> Result<Vec<String>> {
        let mut names: Vec<String> = match self.vfs.list(dir) {
            Ok(e) => e.into_iter().map(|e| e.name).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(dir, "list", e)),
        };
        names.sort();
        Ok(names)
    }

    /// Size of a file in bytes (0 when it vanished meanwhile).
    pub fn file_len(&self, path: &Path) -> u64 {
        self.vfs.metadata(path).map(|m| m.len).unwrap_or(0)
    }

    /// Creates (if needed) and exclusively locks `path`; `WouldBlock` when held elsewhere.
    pub fn lock(&self, path: &Path) -> std::io::Result<Box<dyn VfsFile>> {
        self.vfs.lock(path, self.mode)
    }

    /// Takes the lock file `path` and writes this process's id into it. A lock held
    /// elsewhere is [`Error::Locked`] naming `what` and the process recorded in the file.
    ///
    /// A lock this process released can stay held for a moment after: a child forked by
    /// another thread meanwhile shares the descriptor until its exec closes it. So when the
    /// holder recorded is this process, it retries for up to a second before giving up (a
    /// lock really taken twice in one process is still refused, just not at once).
    pub fn lock_recording_pid(&self, path: &Path, what: &Path) -> Result<Box<dyn VfsFile>> {
        let mut tries = 0;
        let f = loop {
            match self.lock(path) {
                Ok(f) => break f,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let s = self.read(path).unwrap_or_default();
                    let pid: Option<u32> = String::from_utf8_lossy(&s).trim().parse().ok();
                    if pid == Some(std::process::id()) && tries < 50 {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        continue;
                    }
                    return Err(Error::Locked {
                        dir: what.to_owned(),
                        pid,
                    });
                }
                Err(e) => return Err(Error::io(path, "lock", e)),
            }
        };
        let pid = std::process::id().to_string();
        f.set_len(0)
            .and_then(|_| write_all_at(&*f, pid.as_bytes(), 0))
            .map_err(|e| Error::io(path, "write", e))?;
        Ok(f)
    }
}

/// Writes all of `buf` at `offset`, looping over short writes.
pub fn write_all_at(f: &dyn VfsFile, mut buf: &[u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match f.write_at(buf, offset) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads exactly `buf.len()` bytes at `offset`.
pub fn read_exact_at(f: &dyn VfsFile, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match f.read_at(buf, offset) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn read_to_end(f: &dyn VfsFile) -> std::io::Result<Vec<u8>> {
    let len = f.len()?;
    let mut b = vec![0; len as usize];
    let mut n = 0;
    while n < b.len() {
        match f.read_at(&mut b[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    b.truncate(n);
    Ok(b)
}

/// A `std::io::Write` over a [`VfsFile`], appending from a position.
#[derive(Debug)]
struct Cursor {
    file: Box<dyn VfsFile>,
    pos: u64,
}

impl Write for Cursor {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A file written in full under a temporary name and then put in place atomically, like
/// [`Fs::write_atomic`] but streamed: [`AtomicFile::commit`] flushes, fsyncs, renames over the
/// final path and fsyncs the directory. Dropped without a commit, the temporary file is
/// removed.
#[derive(Debug)]
pub struct AtomicFile {
    fs: Fs,
    path: PathBuf,
    tmp: PathBuf,
    file: Option<std::io::BufWriter<Cursor>>,
}

impl AtomicFile {
    /// Starts `path` (writing `path.tmp`).
    pub fn create(fs: &Fs, path: &Path) -> Result<AtomicFile> {
        let tmp = temp_path(path);
        let f = fs
            .vfs
            .create(&tmp, Create::Truncate, fs.mode)
            .map_err(|e| Error::io(&tmp, "create", e))?;
        Ok(AtomicFile {
            fs: fs.clone(),
            path: path.to_owned(),
            tmp,
            file: Some(std::io::BufWriter::with_capacity(
                1 << 16,
                Cursor { file: f, pos: 0 },
            )),
        })
    }

    /// The path of the temporary file (for error messages).
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// Flushes, fsyncs and renames the file into place, then fsyncs the directory.
    pub fn commit(self) -> Result<()> {
        let dir = parent(&self.path).to_owned();
        let fs = self.fs.clone();
        self.rename_into_place()?;
        fs.sync_dir(&dir)
    }

    /// Flushes and fsyncs what was written so far (the file stays under its temporary name).
    pub fn sync(&mut self) -> Result<()> {
        let w = self.file.as_mut().expect("not committed");
        w.flush().map_err(|e| Error::io(&self.tmp, "write", e))?;
        w.get_ref()
            .file
            .sync()
            .map_err(|e| Error::io(&self.tmp, "fsync", e))
    }

    /// Like [`AtomicFile::commit`] without the directory fsync, for a caller that must act
    /// between the rename and that fsync: when this returns `Ok` the file is in place (and an
    /// error of the later `sync_dir` means only that the rename may not be durable yet); on an
    /// error the old file is untouched and the temporary file is removed.
    pub fn rename_into_place(mut self) -> Result<()> {
        let w = self.file.take().expect("committed once");
        let c = w
            .into_inner()
            .map_err(|e| Error::io(&self.tmp, "write", e.into_error()))?;
        c.file
            .sync()
            .map_err(|e| Error::io(&self.tmp, "fsync", e))?;
        drop(c);
        self.fs
            .vfs
            .rename(&self.tmp, &self.path)
            .map_err(|e| Error::io(&self.path, "rename", e))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.as_mut().expect("not committed").write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().expect("not committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // A failed commit or an abandoned file: remove the temporary (after a successful
        // rename it no longer exists and the remove fails harmlessly).
        if let Some(w) = self.file.take() {
            // Discard buffered bytes rather than writing them out.
            let _ = w.into_parts();
        }
        if self.fs.exists(&self.tmp) {
            let _ = self.fs.vfs.remove(&self.tmp);
        }
    }
}

/// Bytes of every file under `dir` on the real filesystem (for tools and tests; the store
/// uses [`Fs::dir_size`] on its own backend).
pub fn dir_size(dir: &Path) -> Result<u64> {
    Fs::std().dir_size(dir)
}
