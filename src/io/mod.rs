//! File I/O helpers: every filesystem call of the engine goes through here, with errors that
//! name the file and the operation. (The fault-injecting backend of the reliability suite
//! replaces these behind a trait at this same seam.)

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Creates `dir` (and parents) if missing.
pub fn create_dir_all(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create directory", e))
}

/// Reads a whole file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let mut f = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut b = Vec::new();
    f.read_to_end(&mut b)
        .map_err(|e| Error::io(path, "read", e))?;
    Ok(b)
}

/// Reads a whole file, or `None` when it does not exist.
pub fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>> {
    match File::open(path) {
        Ok(mut f) => {
            let mut b = Vec::new();
            f.read_to_end(&mut b)
                .map_err(|e| Error::io(path, "read", e))?;
            Ok(Some(b))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, "open", e)),
    }
}

/// Fsyncs a directory so that entries created, renamed or removed in it are durable.
/// A no-op on platforms that cannot open a directory as a file.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let f = File::open(dir).map_err(|e| Error::io(dir, "open directory", e))?;
        f.sync_all()
            .map_err(|e| Error::io(dir, "fsync directory", e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The temporary name used while writing `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Replaces `path` with `bytes` atomically: write a temporary file, fsync it, rename it over
/// `path`, fsync the directory. A crash leaves either the old file or the new one (and maybe
/// a stray `.tmp`, which the next writer open removes).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    {
        let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, "create", e))?;
        let res = f.write_all(bytes).and_then(|_| f.sync_all());
        if let Err(e) = res {
            drop(f);
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(&tmp, "write", e));
        }
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, "rename", e));
    }
    sync_dir(parent(path))
}

/// A file written in full under a temporary name and then put in place atomically, like
/// [`write_atomic`] but streamed: [`AtomicFile::commit`] flushes, fsyncs, renames over the
/// final path and fsyncs the directory. Dropped without a commit, the temporary file is
/// removed.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<std::io::BufWriter<File>>,
}

impl AtomicFile {
    /// Starts `path` (writing `path.tmp`).
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let tmp = temp_path(path);
        let f = File::create(&tmp).map_err(|e| Error::io(&tmp, "create", e))?;
        Ok(AtomicFile {
            path: path.to_owned(),
            tmp,
            file: Some(std::io::BufWriter::with_capacity(1 << 16, f)),
        })
    }

    /// The path of the temporary file (for error messages).
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// Flushes, fsyncs and renames the file into place, then fsyncs the directory.
    pub fn commit(self) -> Result<()> {
        let dir = parent(&self.path).to_owned();
        self.rename_into_place()?;
        sync_dir(&dir)
    }

    /// Flushes and fsyncs what was written so far (the file stays under its temporary name).
    pub fn sync(&mut self) -> Result<()> {
        let w = self.file.as_mut().expect("not committed");
        w.flush().map_err(|e| Error::io(&self.tmp, "write", e))?;
        w.get_ref()
            .sync_all()
            .map_err(|e| Error::io(&self.tmp, "fsync", e))
    }

    /// Like [`AtomicFile::commit`] without the directory fsync, for a caller that must act
    /// between the rename and that fsync: when this returns `Ok` the file is in place (and an
    /// error of the later `sync_dir` means only that the rename may not be durable yet); on an
    /// error the old file is untouched and the temporary file is removed.
    pub fn rename_into_place(mut self) -> Result<()> {
        let w = self.file.take().expect("committed once");
        let f = w
            .into_inner()
            .map_err(|e| Error::io(&self.tmp, "write", e.into_error()))?;
        f.sync_all().map_err(|e| Error::io(&self.tmp, "fsync", e))?;
        drop(f);
        fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, "rename", e))
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
        if self.file.take().is_some() || self.tmp.exists() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Bytes of every file under `dir`, recursively (files that vanish meanwhile count 0).
pub fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(dir, "list", e)),
    };
    for e in rd {
        let e = e.map_err(|e| Error::io(dir, "list", e))?;
        match e.file_type() {
            Ok(t) if t.is_dir() => total += dir_size(&e.path())?,
            Ok(_) => total += e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => {}
        }
    }
    Ok(total)
}

/// Creates a new file holding `initial` bytes, fsynced, with its directory entry fsynced.
pub fn create_synced(path: &Path, initial: &[u8]) -> Result<File> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io(path, "create", e))?;
    f.write_all(initial)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, "write", e))?;
    sync_dir(parent(path))?;
    Ok(f)
}

/// Opens an existing file for appending writes (and reads).
pub fn open_rw(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, "open", e))
}

/// Removes a file and fsyncs its directory. A file that is already gone is fine.
pub fn remove_synced(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(parent(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, "remove", e)),
    }
}

/// Lists the regular files of `dir` (names only). A missing directory is empty.
pub fn list_files(dir: &Path) -> Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, "list", e)),
    };
    let mut names = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Error::io(dir, "list", e))?;
        if let Some(name) = ent.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Reads `len` bytes of `path` from `offset` (an error if the file is shorter).
pub fn read_range(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>> {
    use std::io::{Seek, SeekFrom};
    let mut f = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut b = vec![0; len as usize];
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.read_exact(&mut b))
        .map_err(|e| Error::io(path, "read", e))?;
    Ok(b)
}

/// Size of a file in bytes (0 when it vanished meanwhile).
pub fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
