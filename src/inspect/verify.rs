//! `tierlog verify DIR`: checks every checksum of every file of a store without changing
//! anything.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::frame::{self, Tail};
use crate::format::header::{FileKind, HEADER_LEN, Header};
use crate::format::index::IndexRecord;
use crate::format::state::State;
use crate::format::wal;
use crate::io;
use crate::segment::Segment;
use crate::store::{INDEX_FILE, LOCK_FILE, RAW_DIR, STATE_FILE, parse_window_file_name};

/// Something found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// Byte offset of the problem.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

/// The result of verifying a store.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Files checked.
    pub files: u64,
    /// Bytes checked.
    pub bytes: u64,
    /// Checksummed items (frames, chunks, headers, footers) that passed.
    pub items_ok: u64,
    /// Corruption: damaged bytes that are not the normal result of a crash.
    pub corruption: Vec<Problem>,
    /// Findings that are not corruption: torn log tails (a crash artifact the next writer
    /// open truncates), temporary files of an interrupted write, unknown files.
    pub notices: Vec<Problem>,
}

impl VerifyReport {
    /// True when no corruption was found.
    pub fn is_clean(&self) -> bool {
        self.corruption.is_empty()
    }

    fn bad(&mut self, file: &Path, offset: u64, message: impl Into<String>) {
        self.corruption.push(Problem {
            file: file.to_owned(),
            offset,
            message: message.into(),
        });
    }

    fn notice(&mut self, file: &Path, offset: u64, message: impl Into<String>) {
        self.notices.push(Problem {
            file: file.to_owned(),
            offset,
            message: message.into(),
        });
    }
}

/// Verifies every file of the store in `dir`. Calls `progress(file)` before each file.
pub fn verify_dir(dir: &Path, mut progress: impl FnMut(&Path)) -> Result<VerifyReport> {
    if !dir.is_dir() {
        return Err(Error::io(
            dir,
            "verify",
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
        ));
    }
    let mut r = VerifyReport::default();
    for name in io::list_files(dir)? {
        let path = dir.join(&name);
        if path.is_dir() {
            continue;
        }
        progress(&path);
        match name.as_str() {
            INDEX_FILE => verify_log(&mut r, &path, FileKind::Index)?,
            STATE_FILE => {
                let b = io::read(&path)?;
                r.files += 1;
                r.bytes += b.len() as u64;
                match State::decode(&b) {
                    Ok(_) => r.items_ok += 1,
                    Err(e) => r.bad(&path, 0, format!("{e:?}")),
                }
            }
            LOCK_FILE => {}
            n if n.ends_with(".tmp") => {
                r.notice(&path, 0, "temporary file of an interrupted write")
            }
            _ => r.notice(&path, 0, "not a tierlog file name"),
        }
    }
    let raw = dir.join(RAW_DIR);
    for name in io::list_files(&raw)? {
        let path = raw.join(&name);
        progress(&path);
        match parse_window_file_name(&name) {
            Some((_, "wal")) => verify_log(&mut r, &path, FileKind::WindowLog)?,
            Some((_, "seg")) => verify_segment(&mut r, &path),
            _ if name.ends_with(".tmp") => {
                r.notice(&path, 0, "temporary file of an interrupted write")
            }
            _ => r.notice(&path, 0, "not a tierlog file name"),
        }
    }
    Ok(r)
}

fn verify_log(r: &mut VerifyReport, path: &Path, kind: FileKind) -> Result<()> {
    let b = match io::read_if_exists(path)? {
        Some(b) => b,
        None => return Ok(()), // removed meanwhile (sealed by a running writer)
    };
    r.files += 1;
    r.bytes += b.len() as u64;
    if b.len() < HEADER_LEN && kind.magic().starts_with(&b[..b.len().min(8)]) {
        r.notice(
            path,
            0,
            "log without a complete header (crash right after creating it)",
        );
        return Ok(());
    }
    if let Err(e) = Header::decode(&b, kind) {
        r.bad(path, 0, format!("header: {e:?}"));
        return Ok(());
    }
    r.items_ok += 1;
    let scan = frame::scan(&b[HEADER_LEN..]);
    for &(o, l) in &scan.frames {
        let payload = &b[HEADER_LEN + o + frame::FRAME_HEADER_LEN..HEADER_LEN + o + l];
        let ok = match kind {
            FileKind::WindowLog => wal::decode_record(payload, |_| {}).map_err(|e| e.to_string()),
            _ => IndexRecord::decode(payload)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        match ok {
            Ok(()) => r.items_ok += 1,
            Err(e) => r.bad(
                path,
                (HEADER_LEN + o) as u64,
                format!("frame checksum ok but record invalid: {e}"),
            ),
        }
    }
    match scan.tail {
        Tail::Clean => {}
        Tail::Torn { offset, len, what } => r.notice(
            path,
            (HEADER_LEN + offset) as u64,
            format!("torn tail of {len} bytes ({what}); a writer open truncates it"),
        ),
        Tail::Damaged {
            offset,
            what,
            later_frames,
        } => r.bad(
            path,
            (HEADER_LEN + offset) as u64,
            format!(
                "{what}; {} valid frame(s) follow: damage, run `tierlog repair`",
                later_frames.len()
            ),
        ),
    }
    Ok(())
}

fn verify_segment(r: &mut VerifyReport, path: &Path) {
    r.files += 1;
    r.bytes += io::file_len(path);
    match Segment::open(path) {
        Ok(seg) => {
            r.items_ok += 2;
            let bad = seg.verify();
            r.items_ok += seg.footer().entries.len() as u64 - bad.len() as u64;
            for (e, c) in bad {
                r.bad(path, e.offset, format!("chunk of series {}: {c}", e.series));
            }
        }
        Err(Error::Corrupt { offset, what, .. }) => r.bad(path, offset, what.to_string()),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => r.bad(path, 0, e.to_string()),
    }
}
