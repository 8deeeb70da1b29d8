//! The I/O seam: every file operation of the engine is a call on a [`Vfs`]. [`StdFs`] is the
//! real filesystem (the default); [`super::fault::FaultFs`] is an in-memory backend for tests
//! that injects failures, short writes, a full disk and power loss.
//!
//! The trait is deliberately small and positional (`read_at`/`write_at` on a shared handle)
//! so a backend needs no cursor state, and a file handle can be shared between the writer and
//! the thread that fsyncs it.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// How [`Vfs::create`] treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Fail with `AlreadyExists` if the file exists.
    New,
    /// Truncate an existing file.
    Truncate,
    /// Open an existing file as it is, or create it.
    OpenOrCreate,
}

/// The kind of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// Anything else (a symlink, a socket, …).
    Other,
}

/// One entry of [`Vfs::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The file name (entries whose names are not UTF-8 are left out).
    pub name: String,
    /// What it is.
    pub kind: EntryKind,
}

/// What [`Vfs::metadata`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    /// Length in bytes.
    pub len: u64,
    /// What it is.
    pub kind: EntryKind,
}

/// The filesystem as the engine sees it. Paths are the engine's own (under the store's
/// directory); errors are plain `std::io::Error`s, which the callers wrap with the file and
/// the operation.
pub trait Vfs: Send + Sync + fmt::Debug {
    /// Creates `dir` and any missing parents (no fsync).
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates (or truncates, or opens, per `how`) a file for reading and writing; a new file
    /// gets permission bits `mode` (Unix).
    fn create(&self, path: &Path, how: Create, mode: u32) -> io::Result<Box<dyn VfsFile>>;
    /// Opens an existing file, read-only or for reading and writing.
    fn open(&self, path: &Path, write: bool) -> io::Result<Box<dyn VfsFile>>;
    /// The whole file as bytes that never change while the [`Mapped`] lives (the file must
    /// not be modified meanwhile: the engine maps only immutable segments).
    fn map(&self, path: &Path) -> io::Result<Mapped>;
    /// Renames `from` to `to`, replacing `to` (no fsync of either directory).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file (no fsync of its directory).
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the entries of `dir` (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// The entries of `dir`, in no particular order.
    fn list(&self, dir: &Path) -> io::Result<Vec<DirEntry>>;
    /// Length and kind of `path`.
    fn metadata(&self, path: &Path) -> io::Result<Metadata>;
    /// Creates `path` if needed (with `mode`) and takes an exclusive advisory lock on it,
    /// held while the returned handle lives. A lock held elsewhere is `WouldBlock`.
    fn lock(&self, path: &Path, mode: u32) -> io::Result<Box<dyn VfsFile>>;
}

/// An open file. Reads and writes are positional, so one handle can be shared.
pub trait VfsFile: Send + Sync + fmt::Debug {
    /// Reads up to `buf.len()` bytes at `offset`; 0 at the end of the file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes up to `buf.len()` bytes at `offset`, returning how many were written (a short
    /// write is allowed; the caller loops).
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize>;
    /// Truncates or extends the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes the file's contents and length durable (fsync).
    fn sync(&self) -> io::Result<()>;
    /// Makes the file's contents durable (fdatasync; the length too when it changed).
    fn sync_data(&self) -> io::Result<()> {
        self.sync()
    }
    /// Current length.
    fn len(&self) -> io::Result<u64>;
    /// True when the file holds no bytes.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Bytes of a whole file handed out by [`Vfs::map`]: a memory map for [`StdFs`], a private
/// copy for in-memory backends (so a file truncated behind the store's back can never turn
/// into a SIGBUS there).
pub struct Mapped(MappedInner);

enum MappedInner {
    Map(memmap2::Mmap),
    Bytes(Vec<u8>),
}

impl Mapped {
    /// Bytes owned by the mapping itself.
    pub fn from_vec(bytes: Vec<u8>) -> Mapped {
        Mapped(MappedInner::Bytes(bytes))
    }
}

impl std::ops::Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            MappedInner::Map(m) => m,
            MappedInner::Bytes(b) => b,
        }
    }
}

impl fmt::Debug for Mapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0 {
            MappedInner::Map(_) => "mmap",
            MappedInner::Bytes(_) => "bytes",
        };
        write!(f, "Mapped({kind}, {} bytes)", self.len())
    }
}

/// The real filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

#[derive(Debug)]
struct StdFile {
    file: File,
    /// For a lock file: its directory, locked too (see [`Vfs::lock`] on [`StdFs`]).
    _dir: Option<File>,
}

impl Vfs for StdFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn create(&self, path: &Path, how: Create, mode: u32) -> io::Result<Box<dyn VfsFile>> {
        let mut o = OpenOptions::new();
        o.read(true).write(true);
        match how {
            Create::New => o.create_new(true),
            Create::Truncate => o.create(true).truncate(true),
            Create::OpenOrCreate => o.create(true).truncate(false),
        };
        set_mode(&mut o, mode);
        Ok(Box::new(StdFile {
            file: o.open(path)?,
            _dir: None,
        }))
    }

    fn open(&self, path: &Path, write: bool) -> io::Result<Box<dyn VfsFile>> {
        let file = OpenOptions::new().read(true).write(write).open(path)?;
        Ok(Box::new(StdFile { file, _dir: None }))
    }

    // Mapping a file is unsafe in Rust's terms (another process could change it); see SAFETY.
    #[allow(unsafe_code)]
    fn map(&self, path: &Path) -> io::Result<Mapped> {
        let file = File::open(path)?;
        // SAFETY: the engine maps only segment files, which are never modified after they are
        // renamed into place (only ever removed whole), so the mapped bytes cannot change.
        let map = unsafe { memmap2::Mmap::map(&file) }?;
        Ok(Mapped(MappedInner::Map(map)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        #[cfg(unix)]
        File::open(dir)?.sync_all()?;
        #[cfg(not(unix))]
        let _ = dir;
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for ent in fs::read_dir(dir)? {
            let ent = ent?;
            let Some(name) = ent.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let kind = match ent.file_type() {
                Ok(t) if t.is_dir() => EntryKind::Dir,
                Ok(t) if t.is_file() => EntryKind::File,
                Ok(_) => EntryKind::Other,
                // Vanished meanwhile.
                Err(_) => continue,
            };
            out.push(DirEntry { name, kind });
        }
        Ok(out)
    }

    fn metadata(&self, path: &Path) -> io::Result<Metadata> {
        let m = fs::metadata(path)?;
        let kind = if m.is_dir() {
            EntryKind::Dir
        } else if m.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        };
        Ok(Metadata { len: m.len(), kind })
    }

    /// Locks the directory holding `path` and then the file itself, each with an exclusive
    /// `flock`-style lock. The directory lock is what keeps a second writer out even when
    /// the lock file was deleted (a new file would be a new lock); the file holds the
    /// holder's pid for error messages. On systems where a directory cannot be opened as a
    /// file, only the file is locked.
    fn lock(&self, path: &Path, mode: u32) -> io::Result<Box<dyn VfsFile>> {
        let try_lock = |f: &File| match f.try_lock() {
            Ok(()) => Ok(()),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::from(io::ErrorKind::WouldBlock)),
            Err(fs::TryLockError::Error(e)) => Err(e),
        };
        let dir = match File::open(parent(path)) {
            Ok(d) => {
                try_lock(&d)?;
                Some(d)
            }
            Err(_) if cfg!(not(unix)) => None,
            Err(e) => return Err(e),
        };
        let mut o = OpenOptions::new();
        o.read(true).write(true).create(true).truncate(false);
        set_mode(&mut o, mode);
        let file = o.open(path)?;
        try_lock(&file)?;
        Ok(Box::new(StdFile { file, _dir: dir }))
    }
}

#[cfg(unix)]
fn set_mode(o: &mut OpenOptions, mode: u32) {
    use std::os::unix::fs::OpenOptionsExt;
    o.mode(mode);
}

#[cfg(not(unix))]
fn set_mode(_: &mut OpenOptions, _: u32) {}

impl VfsFile for StdFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_at(&self.file, buf, offset)
        }
        #[cfg(windows)]
        {
            std::os::windows::fs::FileExt::seek_read(&self.file, buf, offset)
        }
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::write_at(&self.file, buf, offset)
        }
        #[cfg(windows)]
        {
            std::os::windows::fs::FileExt::seek_write(&self.file, buf, offset)
        }
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
}

/// The parent directory of `path` (`.` for a bare name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `path` with `.tmp` appended: the name a file is written under before it is renamed.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}
