//! `Store::repair`'s last step: segments that failed their checks at open are moved out of
//! the store, to `quarantine/<tier>/<file>`, so that queries stop reading and warning about
//! them; each move is reported with the time range it loses.

use std::path::{Path, PathBuf};

use super::{BadSegment, RAW_DIR, Shared};
use crate::error::Result;
use crate::format::header::{FileKind, HEADER_LEN, Header};
use crate::layout::QUARANTINE_DIR;
use crate::logfile::Finding;

impl Shared {
    /// Moves every damaged segment (raw and rollup) to the quarantine directory and forgets
    /// it; returns one [`Finding::Quarantined`] per file moved.
    pub(crate) fn quarantine_bad_segments(&self) -> Result<Vec<Finding>> {
        let mut st = self.state.write();
        let span = self.config.window_span.as_millis().min(i64::MAX as u128) as i64;
        let mut found = Vec::new();
        let raw: Vec<(i64, BadSegment)> = std::mem::take(&mut st.bad).into_iter().collect();
        for (start, bad) in raw {
            found.push(self.quarantine(RAW_DIR, start, span, bad)?);
        }
        for tier in &mut st.tiers {
            let bad: Vec<(i64, BadSegment)> = std::mem::take(&mut tier.bad).into_iter().collect();
            for (start, b) in bad {
                found.push(self.quarantine(&tier.name, start, tier.piece, b)?);
            }
        }
        Ok(found)
    }

    /// Moves one file; `span` is the range it covers when its header cannot tell.
    fn quarantine(&self, tier: &str, start: i64, span: i64, bad: BadSegment) -> Result<Finding> {
        let fs = &self.fs;
        // A header that still decodes knows the span (a compacted rollup segment is longer
        // than one piece).
        let span = fs
            .read_range(&bad.path, 0, HEADER_LEN as u64)
            .ok()
            .and_then(|b| Header::decode(&b, FileKind::Segment).ok())
            .filter(|h| h.window_start == start && h.window_span > 0)
            .map_or(span, |h| h.window_span);
        let qdir = self.dir.join(QUARANTINE_DIR).join(tier);
        fs.create_dir_all(&qdir)?;
        let name = bad
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let moved_to = free_name(fs, &qdir, &name);
        fs.rename(&bad.path, &moved_to)?;
        fs.sync_dir(&qdir)?;
        if let Some(parent) = bad.path.parent() {
            fs.sync_dir(parent)?;
        }
        log::warn!(
            "{}: damaged; moved to {}",
            bad.path.display(),
            moved_to.display()
        );
        Ok(Finding::Quarantined {
            file: bad.path,
            moved_to,
            tier: tier.to_owned(),
            from: start,
            to: start.saturating_add(span),
            error: bad.error,
        })
    }
}

/// `dir/name`, or `dir/name.N` with the first N not taken (an earlier repair moved a file of
/// the same name).
fn free_name(fs: &crate::vfs::Fs, dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !fs.exists(&first) {
        return first;
    }
    (1u32..)
        .map(|n| dir.join(format!("{name}.{n}")))
        .find(|p| !fs.exists(p))
        .expect("some free name")
}
