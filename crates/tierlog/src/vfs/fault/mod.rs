//! An in-memory [`Vfs`] for tests that injects faults: fail the Nth operation (or the Nth of
//! a kind), short writes, a full disk (`ENOSPC`), I/O errors (`EIO`), and power loss.
//!
//! It keeps two views of the namespace and of every file: the *live* one that reads see, and
//! the *durable* one that survives a power loss. A file's contents become durable at its
//! `sync`/`sync_data`; a directory entry (create, rename, remove) becomes durable at a
//! `sync_dir` of its parent directory. [`FaultFs::power_loss`] (or a crash point set with
//! [`FaultFs::crash_at`]) keeps only the durable view: the returned backend holds what a
//! machine would find on its disk after rebooting, and the old one fails every call with
//! `EIO`, as a dead process would never issue them.
//!
//! Directories are modelled like files: `create_dir_all` adds entries that become durable
//! when their parent is synced. Unlinked files that are still open keep their data for their
//! handles but count against no capacity.

mod file;
mod state;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::backend::{Create, DirEntry, EntryKind, Mapped, Metadata, Vfs, VfsFile};
use file::FaultFile;
use state::{Entry, Inner, Rule, not_found};

/// The kinds of operations, for counting and for targeting a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpKind {
    /// `create_dir_all`.
    CreateDir,
    /// `create` (and the creation half of `lock`).
    Create,
    /// `open`.
    Open,
    /// `map`.
    Map,
    /// `rename`.
    Rename,
    /// `remove`.
    Remove,
    /// `sync_dir`.
    SyncDir,
    /// `list`.
    List,
    /// `metadata` and a file's `len`.
    Metadata,
    /// `lock`.
    Lock,
    /// A file's `read_at`.
    Read,
    /// A file's `write_at`.
    Write,
    /// A file's `set_len`.
    SetLen,
    /// A file's `sync` or `sync_data`.
    Sync,
}

/// The error an injected fault returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// `ENOSPC`: `ErrorKind::StorageFull`.
    NoSpace,
    /// `EIO`: an I/O error.
    Eio,
}

impl Fault {
    pub(super) fn error(self) -> io::Error {
        match self {
            Fault::NoSpace => io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device (injected)",
            ),
            Fault::Eio => io::Error::other("input/output error (injected)"),
        }
    }
}

/// The fault-injecting in-memory backend. Clones share the same state.
#[derive(Clone, Default)]
pub struct FaultFs {
    inner: Arc<Mutex<Inner>>,
}

impl fmt::Debug for FaultFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.lock_inner();
        write!(
            f,
            "FaultFs {{ files: {}, ops: {}, dead: {} }}",
            g.live.len(),
            g.ops,
            g.dead
        )
    }
}

impl FaultFs {
    /// An empty filesystem.
    pub fn new() -> FaultFs {
        FaultFs::default()
    }

    fn lock_inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Operations counted so far (every call, failed ones included).
    pub fn ops(&self) -> u64 {
        self.lock_inner().ops
    }

    /// Operations of `kind` counted so far.
    pub fn ops_of(&self, kind: OpKind) -> u64 {
        *self.lock_inner().by_kind.get(&kind).unwrap_or(&0)
    }

    /// Injected faults that fired so far.
    pub fn faults_fired(&self) -> u64 {
        self.lock_inner().faults_fired
    }

    /// The `n`th operation from now (1 = the next one) fails with `fault`, once.
    pub fn fail_op(&self, n: u64, fault: Fault) {
        let mut g = self.lock_inner();
        let at = g.ops + n;
        g.rules.push(Rule {
            kind: None,
            at: Some(at),
            fault,
        });
    }

    /// The `n`th operation of `kind` from now (1 = the next one) fails with `fault`, once.
    pub fn fail_nth(&self, kind: OpKind, n: u64, fault: Fault) {
        let mut g = self.lock_inner();
        let at = g.by_kind.get(&kind).copied().unwrap_or(0) + n;
        g.rules.push(Rule {
            kind: Some(kind),
            at: Some(at),
            fault,
        });
    }

    /// Every operation of `kind` (every operation, with `None`) fails with `fault` until
    /// [`FaultFs::clear_faults`].
    pub fn fail_always(&self, kind: Option<OpKind>, fault: Fault) {
        self.lock_inner().rules.push(Rule {
            kind,
            at: None,
            fault,
        });
    }

    /// Removes every pending fault rule and the capacity limit; short writes stop.
    pub fn clear_faults(&self) {
        let mut g = self.lock_inner();
        g.rules.clear();
        g.capacity = None;
        g.short_writes = false;
    }

    /// With `true`, every write writes at most half its buffer (at least one byte).
    pub fn set_short_writes(&self, on: bool) {
        self.lock_inner().short_writes = on;
    }

    /// Limits the bytes of all live files together: a write that would pass it writes what
    /// fits, and then fails with `ENOSPC`. `None` = unlimited.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.lock_inner().capacity = bytes;
    }

    /// Bytes of all live files together.
    pub fn used_bytes(&self) -> u64 {
        self.lock_inner().used()
    }

    /// Power is lost just before operation `n` from now (1 = the next one) would run: that
    /// operation and every later one fail with `EIO`, and [`FaultFs::survivor`] returns the
    /// durable state as of that moment.
    pub fn crash_at(&self, n: u64) {
        let mut g = self.lock_inner();
        g.crash_at = Some(g.ops + n);
    }

    /// With `Some(seed)`, a power loss keeps, for every file that was only appended to since
    /// its last sync, a pseudo-random prefix of the appended bytes (chosen from `seed`) rather
    /// than none of them: torn writes, as when the OS had written some pages back. `None` (the
    /// default) keeps only what was synced.
    pub fn set_torn_power_loss(&self, seed: Option<u64>) {
        self.lock_inner().torn_seed = seed;
    }

    /// True once a crash point set with [`FaultFs::crash_at`] was reached (or after
    /// [`FaultFs::power_loss`]).
    pub fn crashed(&self) -> bool {
        self.lock_inner().dead
    }

    /// The state that survived the crash point, as a new backend; `None` when no crash
    /// happened yet.
    pub fn survivor(&self) -> Option<FaultFs> {
        let g = self.lock_inner();
        g.survivor.as_ref().map(|s| FaultFs {
            inner: Arc::new(Mutex::new(s.revive())),
        })
    }

    /// Loses power now: returns a backend holding only what was durable; this one (and
    /// every handle opened through it) fails every later call with `EIO`.
    pub fn power_loss(&self) -> FaultFs {
        let mut g = self.lock_inner();
        if !g.dead {
            g.die();
        }
        FaultFs {
            inner: Arc::new(Mutex::new(
                g.survivor.as_ref().expect("set by die").revive(),
            )),
        }
    }

    /// The live contents of `path` (test inspection; not counted as an operation).
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let g = self.lock_inner();
        match g.live.get(path) {
            Some(Entry::File(ino)) => Some(g.nodes[ino].data.clone()),
            _ => None,
        }
    }

    /// The permission bits `path` was created with (test inspection).
    pub fn mode(&self, path: &Path) -> Option<u32> {
        let g = self.lock_inner();
        match g.live.get(path) {
            Some(Entry::File(ino)) => Some(g.nodes[ino].mode),
            _ => None,
        }
    }

    /// Every live path, files and directories (test inspection).
    pub fn paths(&self) -> Vec<PathBuf> {
        self.lock_inner().live.keys().cloned().collect()
    }
}

impl FaultFs {
    fn handle(&self, ino: u64, path: &Path, write: bool, lock: bool) -> Box<dyn VfsFile> {
        Box::new(FaultFile {
            fs: self.inner.clone(),
            ino,
            path: path.to_owned(),
            write,
            lock,
        })
    }
}

impl Vfs for FaultFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut g = self.lock_inner();
        g.op(OpKind::CreateDir)?;
        let mut todo = Vec::new();
        let mut d = Some(dir);
        while let Some(p) = d {
            if p.as_os_str().is_empty() {
                break;
            }
            match g.live.get(p) {
                Some(Entry::Dir) => break,
                Some(Entry::File(_)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{}: a file", p.display()),
                    ));
                }
                None => todo.push(p.to_owned()),
            }
            d = p.parent();
        }
        for p in todo {
            // A root has no parent to sync: it exists durably from the start.
            if p.parent().is_none() {
                g.durable.insert(p.clone(), Entry::Dir);
            }
            g.live.insert(p, Entry::Dir);
        }
        Ok(())
    }

    fn create(&self, path: &Path, how: Create, mode: u32) -> io::Result<Box<dyn VfsFile>> {
        let mut g = self.lock_inner();
        g.op(OpKind::Create)?;
        g.check_parent(path)?;
        let ino = match (g.live.get(path).copied(), how) {
            (Some(Entry::Dir), _) => {
                return Err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    format!("{}: is a directory", path.display()),
                ));
            }
            (Some(Entry::File(_)), Create::New) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{}: exists", path.display()),
                ));
            }
            (Some(Entry::File(ino)), Create::Truncate) => {
                let n = g.nodes.get_mut(&ino).expect("linked inode");
                n.data.clear();
                n.clean = 0;
                ino
            }
            (Some(Entry::File(ino)), Create::OpenOrCreate) => ino,
            (None, _) => g.new_file(path, mode),
        };
        Ok(self.handle(ino, path, true, false))
    }

    fn open(&self, path: &Path, write: bool) -> io::Result<Box<dyn VfsFile>> {
        let mut g = self.lock_inner();
        g.op(OpKind::Open)?;
        let ino = g.file(path)?;
        Ok(self.handle(ino, path, write, false))
    }

    fn map(&self, path: &Path) -> io::Result<Mapped> {
        let mut g = self.lock_inner();
        g.op(OpKind::Map)?;
        let ino = g.file(path)?;
        Ok(Mapped::from_vec(g.nodes[&ino].data.clone()))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut g = self.lock_inner();
        g.op(OpKind::Rename)?;
        let ino = g.file(from)?;
        g.check_parent(to)?;
        if let Some(Entry::Dir) = g.live.get(to) {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("{}: is a directory", to.display()),
            ));
        }
        g.live.remove(from);
        g.live.insert(to.to_owned(), Entry::File(ino));
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut g = self.lock_inner();
        g.op(OpKind::Remove)?;
        g.file(path)?;
        g.live.remove(path);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut g = self.lock_inner();
        g.op(OpKind::SyncDir)?;
        // `.` is the directory relative names live in.
        let dir = if dir == Path::new(".") {
            Path::new("")
        } else {
            dir
        };
        if !dir.as_os_str().is_empty() && !matches!(g.live.get(dir), Some(Entry::Dir)) {
            return Err(not_found(dir));
        }
        let gone: Vec<PathBuf> = children(&g.durable, dir)
            .filter(|(p, _)| !g.live.contains_key(*p))
            .map(|(p, _)| p.clone())
            .collect();
        for p in gone {
            g.durable.remove(&p);
        }
        let now: Vec<(PathBuf, Entry)> = children(&g.live, dir)
            .map(|(p, e)| (p.clone(), *e))
            .collect();
        g.durable.extend(now);
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        let mut g = self.lock_inner();
        g.op(OpKind::List)?;
        if !matches!(g.live.get(dir), Some(Entry::Dir)) {
            return Err(not_found(dir));
        }
        Ok(children(&g.live, dir)
            .filter_map(|(p, e)| {
                Some(DirEntry {
                    name: p.file_name()?.to_str()?.to_owned(),
                    kind: match e {
                        Entry::Dir => EntryKind::Dir,
                        Entry::File(_) => EntryKind::File,
                    },
                })
            })
            .collect())
    }

    fn metadata(&self, path: &Path) -> io::Result<Metadata> {
        let mut g = self.lock_inner();
        g.op(OpKind::Metadata)?;
        match g.live.get(path) {
            Some(Entry::Dir) => Ok(Metadata {
                len: 0,
                kind: EntryKind::Dir,
            }),
            Some(Entry::File(ino)) => Ok(Metadata {
                len: g.nodes[ino].data.len() as u64,
                kind: EntryKind::File,
            }),
            None => Err(not_found(path)),
        }
    }

    fn lock(&self, path: &Path, mode: u32) -> io::Result<Box<dyn VfsFile>> {
        let mut g = self.lock_inner();
        g.op(OpKind::Lock)?;
        g.check_parent(path)?;
        let ino = match g.live.get(path).copied() {
            Some(Entry::File(ino)) => ino,
            Some(Entry::Dir) => return Err(io::ErrorKind::IsADirectory.into()),
            None => g.new_file(path, mode),
        };
        if !g.locks.insert(path.to_owned()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(self.handle(ino, path, true, true))
    }
}

/// The entries of `map` directly in `dir`. Paths order by components, so everything under
/// `dir` follows it in one run: a range scan rather than a pass over the whole namespace
/// (the fuzz and crash tests sync and list directories of stores with many files).
fn children<'a, V>(
    map: &'a std::collections::BTreeMap<PathBuf, V>,
    dir: &'a Path,
) -> impl Iterator<Item = (&'a PathBuf, &'a V)> + 'a {
    use std::ops::Bound;
    let under: Box<dyn Iterator<Item = (&'a PathBuf, &'a V)> + 'a> = if dir.as_os_str().is_empty() {
        Box::new(map.iter())
    } else {
        Box::new(
            map.range::<Path, _>((Bound::Excluded(dir), Bound::Unbounded))
                .take_while(move |(p, _)| p.starts_with(dir)),
        )
    };
    under.filter(move |(p, _)| p.parent() == Some(dir))
}
