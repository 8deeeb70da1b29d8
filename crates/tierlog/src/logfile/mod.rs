//! Append-only framed files (window logs and the index): loading with crash recovery, and the
//! append handle. The frame layout is `format::frame`; what the frames carry is up to the
//! caller.

pub mod frame;

pub use crate::error::Finding;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Corruption, Error, Result};
use self::frame::Tail;
use crate::format::header::{FileKind, HEADER_LEN, Header, HeaderError};
use crate::vfs::{self, VfsFile};

/// How a log is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The writer: truncates torn tails; refuses damage unless `salvage`.
    Write { salvage: bool },
    /// A reader: changes nothing; stops at the last complete frame; reports damage.
    Read,
}


/// A loaded log: its header and the payloads of its valid frames.
#[derive(Debug)]
pub struct Loaded {
    /// The header.
    pub header: Header,
    /// File bytes.
    pub bytes: Vec<u8>,
    /// `(offset, len)` of each valid payload within `bytes`.
    pub payloads: Vec<(usize, usize)>,
    /// File length after recovery (where the next append goes).
    pub end: u64,
    /// What recovery found, if anything.
    pub finding: Option<Finding>,
}

impl Loaded {
    /// Iterates the valid payloads in order.
    pub fn payloads(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.payloads
            .iter()
            .map(|&(o, l)| (o as u64, &self.bytes[o..o + l]))
    }
}

/// Maps a header error to the store error for `path`.
pub fn header_error(path: &Path, e: HeaderError, kind: FileKind) -> Error {
    match e {
        HeaderError::WrongMagic { found } => Error::WrongMagic {
            file: path.to_owned(),
            expected: kind.magic(),
            found,
        },
        HeaderError::NewerVersion { found, supported } => Error::UnsupportedVersion {
            file: path.to_owned(),
            found,
            supported,
        },
        HeaderError::Corrupt(what) => Error::corrupt(path, 0, what),
    }
}

/// Loads the log at `path`, applying the recovery rules of `mode`. Returns `None` when the
/// writer removed a log that never got its header (nothing in it was ever acknowledged).
pub fn load(fs: &vfs::Fs, path: &Path, kind: FileKind, mode: Mode) -> Result<Option<Loaded>> {
    let bytes = fs.read(path)?;
    if bytes.len() < HEADER_LEN && kind.magic().starts_with(&bytes[..bytes.len().min(8)]) {
        // Created but the header never became durable: a crash artifact holding no data.
        return match mode {
            Mode::Write { .. } => {
                fs.remove_synced(path)?;
                log::warn!("{}: log without a complete header removed", path.display());
                Ok(None)
            }
            Mode::Read => Ok(None),
        };
    }
    let header = Header::decode(&bytes, kind).map_err(|e| header_error(path, e, kind))?;
    let body = &bytes[HEADER_LEN..];
    let scan = frame::scan(body);
    let mut payloads: Vec<(usize, usize)> = scan
        .frames
        .iter()
        .map(|&(o, l)| {
            (
                HEADER_LEN + o + frame::FRAME_HEADER_LEN,
                l - frame::FRAME_HEADER_LEN,
            )
        })
        .collect();
    let valid_end = (HEADER_LEN + scan.valid_end) as u64;
    let mut end = bytes.len() as u64;
    let finding = match scan.tail {
        Tail::Clean => None,
        Tail::Torn { offset, len, .. } => {
            let offset = (HEADER_LEN + offset) as u64;
            if let Mode::Write { .. } = mode {
                let f = fs.open_rw(path)?;
                f.set_len(valid_end)
                    .map_err(|e| Error::io(path, "truncate", e))?;
                f.sync().map_err(|e| Error::io(path, "fsync", e))?;
                log::warn!(
                    "{}: torn tail of {len} bytes at offset {offset} truncated",
                    path.display()
                );
            }
            end = valid_end;
            Some(Finding::TornTail {
                file: path.to_owned(),
                offset,
                len: len as u64,
            })
        }
        Tail::Damaged {
            offset,
            what,
            later_frames,
        } => {
            let offset_abs = (HEADER_LEN + offset) as u64;
            if mode == (Mode::Write { salvage: false }) {
                return Err(Error::NeedsRepair {
                    file: path.to_owned(),
                    offset: offset_abs,
                    what: Corruption::DamagedLog {
                        valid_frames_after: later_frames.len() as u64,
                    },
                });
            }
            let kept: usize = later_frames.iter().map(|&(_, l)| l).sum();
            let lost = (body.len() - scan.valid_end - kept) as u64;
            payloads.extend(later_frames.iter().map(|&(o, l)| {
                (
                    HEADER_LEN + o + frame::FRAME_HEADER_LEN,
                    l - frame::FRAME_HEADER_LEN,
                )
            }));
            if let Mode::Write { .. } = mode {
                // Rewrite the log with every frame that validates.
                let mut out = Vec::with_capacity(bytes.len());
                out.extend_from_slice(&bytes[..HEADER_LEN]);
                for &(o, l) in scan.frames.iter().chain(later_frames.iter()) {
                    out.extend_from_slice(&body[o..o + l]);
                }
                fs.write_atomic(path, &out)?;
                end = out.len() as u64;
                // Re-derive payload offsets for the rewritten bytes.
                let reloaded = frame::scan(&out[HEADER_LEN..]);
                payloads = reloaded
                    .frames
                    .iter()
                    .map(|&(o, l)| {
                        (
                            HEADER_LEN + o + frame::FRAME_HEADER_LEN,
                            l - frame::FRAME_HEADER_LEN,
                        )
                    })
                    .collect();
                log::warn!(
                    "{}: damage at offset {offset_abs} salvaged; {lost} bytes dropped",
                    path.display()
                );
                return Ok(Some(Loaded {
                    header,
                    bytes: out,
                    payloads,
                    end,
                    finding: Some(Finding::Damaged {
                        file: path.to_owned(),
                        offset: offset_abs,
                        what,
                        lost_bytes: lost,
                    }),
                }));
            }
            Some(Finding::Damaged {
                file: path.to_owned(),
                offset: offset_abs,
                what,
                lost_bytes: lost,
            })
        }
    };
    Ok(Some(Loaded {
        header,
        bytes,
        payloads,
        end,
        finding,
    }))
}

/// An append handle on a log.
#[derive(Debug)]
pub struct Appender {
    path: PathBuf,
    file: Arc<dyn VfsFile>,
    len: u64,
}

impl Appender {
    /// Creates a new log holding just its header (fsynced, directory entry fsynced).
    pub fn create(fs: &vfs::Fs, path: &Path, header: &Header) -> Result<Appender> {
        let h = header.encode();
        let file = fs.create_synced(path, &h)?;
        Ok(Appender {
            path: path.to_owned(),
            file: Arc::from(file),
            len: h.len() as u64,
        })
    }

    /// Opens an existing log whose valid bytes end at `end`.
    pub fn open(fs: &vfs::Fs, path: &Path, end: u64) -> Result<Appender> {
        let file = fs.open_rw(path)?;
        Ok(Appender {
            path: path.to_owned(),
            file: Arc::from(file),
            len: end,
        })
    }

    /// Appends already-framed bytes at the end. On failure the file is cut back to its previous
    /// length so no partial frame stays behind; if even that fails the error says so and the
    /// caller must stop writing (`Error::Poisoned`).
    pub fn append(&mut self, framed: &[u8]) -> Result<(), AppendError> {
        let res = vfs::write_all_at(&*self.file, framed, self.len);
        match res {
            Ok(()) => {
                self.len += framed.len() as u64;
                Ok(())
            }
            Err(e) => {
                let err = Error::io(&self.path, "append", e);
                match self.file.set_len(self.len) {
                    Ok(()) => Err(AppendError::RolledBack(err)),
                    Err(_) => Err(AppendError::Poisoned(err)),
                }
            }
        }
    }

    /// Cuts the log back to `len` bytes (used to undo an append of a batch that failed later).
    pub fn truncate(&mut self, len: u64) -> Result<()> {
        self.file
            .set_len(len)
            .map_err(|e| Error::io(&self.path, "truncate", e))?;
        self.len = len;
        Ok(())
    }

    /// Current length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the log holds no frame yet.
    pub fn is_empty(&self) -> bool {
        self.len <= HEADER_LEN as u64
    }

    /// A handle to fsync through without holding the appender.
    pub fn sync_handle(&self) -> Result<SyncHandle> {
        Ok(SyncHandle {
            path: self.path.clone(),
            file: self.file.clone(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why an append failed.
#[derive(Debug)]
pub enum AppendError {
    /// The append failed and the file was cut back: the log is as it was.
    RolledBack(Error),
    /// The append failed and the file could not be cut back.
    Poisoned(Error),
}

/// A duplicate file handle used to fsync a log outside the writer's lock.
#[derive(Debug)]
pub struct SyncHandle {
    path: PathBuf,
    file: Arc<dyn VfsFile>,
}

impl SyncHandle {
    /// fdatasync.
    pub fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io(&self.path, "fsync", e))
    }
}
