//! Reading and writing the state file: decoding it with its checksums and fields checked, and
//! rewriting it atomically (temp file, fsync, rename, fsync the directory) from the store's
//! current state.

use std::path::Path;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::layout::STATE_FILE;
use crate::store::Shared;

/// The state file of the store in `dir` and its format version (`None` when there is none),
/// with its window span and tiers checked: a span the configuration rules allow, tiers with
/// positive intervals and keep times whose piece (`lcm(span, interval)`) is representable.
/// A file whose checksums hold but whose fields no store writes is a corruption.
pub(crate) fn read_checked_state(
    fs: &crate::vfs::Fs,
    dir: &Path,
) -> Result<Option<(crate::state::format::State, u16)>> {
    let Some((s, version)) = read_state(fs, dir)? else {
        return Ok(None);
    };
    let path = dir.join(STATE_FILE);
    let bad =
        |what: &'static str| Error::corrupt(&path, 20, crate::error::Corruption::BadField { what });
    let span_ok = s.window_span > 0 && {
        let span = std::time::Duration::from_millis(s.window_span as u64);
        let c = Config {
            window_span: span,
            tiers: Some(Vec::new()),
            ..Config::default()
        };
        let c = Config {
            raw_keep: Some(c.raw_keep().max(span + c.grace)),
            ..c
        };
        c.validate().is_ok()
    };
    if !span_ok {
        return Err(bad("window span out of range"));
    }
    for t in &s.tiers {
        if t.interval <= 0
            || t.keep < 0
            || crate::rollup::plan::checked_piece_span(s.window_span, t.interval).is_none()
        {
            return Err(bad("tier interval or keep out of range"));
        }
    }
    Ok(Some((s, version)))
}

pub(crate) fn read_state(
    fs: &crate::vfs::Fs,
    dir: &Path,
) -> Result<Option<(crate::state::format::State, u16)>> {
    let path = dir.join(STATE_FILE);
    let Some(b) = fs.read_if_exists(&path)? else {
        return Ok(None);
    };
    let s = crate::state::format::State::decode(&b).map_err(|e| {
        let e = crate::logfile::header_error(&path, e, crate::format::header::FileKind::State);
        match e {
            // The header checks out: the damage is in the body (bytes 32 on, one checksum).
            Error::Corrupt { file, what, .. }
                if crate::format::header::Header::decode(
                    &b,
                    crate::format::header::FileKind::State,
                )
                .is_ok() =>
            {
                Error::Corrupt {
                    file,
                    offset: 32,
                    what,
                }
            }
            e => e,
        }
    })?;
    Ok(Some((s, u16::from_le_bytes([b[8], b[9]]))))
}

impl Shared {
    /// Rewrites the state file from the store's current state and settings.
    pub(crate) fn persist_state(&self) -> Result<()> {
        let s = self.state_record(Some(self.config.retention_record()), self.identity);
        self.fs
            .write_atomic(&self.dir.join(STATE_FILE), &s.encode())
    }

    /// The store's current state as a state-file record, with the given retention settings
    /// and identity (the store's own file and its archive's differ only in those).
    pub(crate) fn state_record(
        &self,
        retention: Option<crate::state::format::RetentionSettings>,
        identity: Option<crate::state::format::Identity>,
    ) -> crate::state::format::State {
        let st = self.state.read();
        crate::state::format::State {
            window_span: self.config.span_ms(),
            clock_high_water: st.clock_high_water,
            sealed_through: st.sealed_through,
            tiers: st.tiers.iter().map(|t| t.state()).collect(),
            retention,
            identity,
        }
    }
}
