//! The reading side of a window log, at open: loading a window's log (torn tail and damage
//! handled by [`crate::logfile::load`]) and decoding its records back into the window's
//! points. What to do with the logs and segments found side by side is the store's
//! (`store::open`).

use std::path::Path;

use super::format::decode_logged;
use crate::error::{Corruption, Error, Result};
use crate::format::header::FileKind;
use crate::head::WindowData;
use crate::logfile::{self, Loaded, Mode};
use crate::vfs;

/// What replaying window logs saw, summed over every log replayed.
#[derive(Debug)]
pub(crate) struct ReplayStats {
    /// Logged samples naming a series the index does not define: skipped.
    pub(crate) unknown: u64,
    /// The newest timestamp of a sample of a known series (`i64::MIN` when none).
    pub(crate) newest: i64,
    /// The highest series id any record names, known to the index or not.
    pub(crate) max_series: Option<u32>,
}

impl Default for ReplayStats {
    fn default() -> Self {
        ReplayStats {
            unknown: 0,
            newest: i64::MIN,
            max_series: None,
        }
    }
}

/// Loads the log at `path`, the log of the window `[start, start + span)`, with its header
/// checked against that window. `None`: a log whose header never became durable (removed by
/// a writer).
pub(crate) fn load(
    fs: &vfs::Fs,
    path: &Path,
    start: i64,
    span: i64,
    mode: Mode,
) -> Result<Option<Loaded>> {
    let Some(log) = logfile::load(fs, path, FileKind::WindowLog, mode)? else {
        return Ok(None);
    };
    let h = &log.header;
    if h.window_start != start || h.window_span != span || h.tier != 0 {
        return Err(Error::corrupt(
            path,
            0,
            Corruption::BadField {
                what: "log header does not match its name",
            },
        ));
    }
    Ok(Some(log))
}

/// Decodes the records of `log` (the log at `path` of the window `[start, start + span)`)
/// into the window's points. Samples of series `known` refuses are skipped and counted in
/// `stats`. A frame whose checksum holds but whose record does not decode, or holds a sample
/// outside the window, was written by a broken or newer writer: a corruption error, never a
/// guess.
pub(crate) fn replay(
    log: &Loaded,
    path: &Path,
    start: i64,
    span: i64,
    known: impl Fn(u32) -> bool,
    stats: &mut ReplayStats,
) -> Result<WindowData> {
    let mut data = WindowData::new(start, span);
    // Samples of series the index does not define, by series: a later delete record may
    // name them (a deleted series leaves the index), and then they were never lost.
    let mut unknown: std::collections::BTreeMap<u32, Vec<i64>> = Default::default();
    for (offset, payload) in log.payloads() {
        let mut outside = false;
        let mut deleted = None;
        let mut key = None;
        let mut res = decode_logged(
            payload,
            |k| key = Some(k),
            |s| {
                stats.max_series = Some(stats.max_series.map_or(s.series, |m| m.max(s.series)));
                if s.ts_ms >= start.saturating_add(span) {
                    outside = true;
                } else if known(s.series) {
                    stats.newest = stats.newest.max(s.ts_ms);
                    outside |= !data.add(s.series, s.ts_ms, s.value);
                } else {
                    unknown.entry(s.series).or_default().push(s.ts_ms);
                }
            },
            |d| deleted = Some(d),
        );
        if let Some(k) = key {
            data.note_key(k);
        }
        if let Some(d) = deleted {
            // In log order: what was logged before it is gone, what follows stays.
            data.delete_range(&d.series, d.from, d.to);
            for id in &d.series {
                if let Some(ts) = unknown.get_mut(id) {
                    ts.retain(|t| !(d.from..d.to).contains(&crate::head::second_start(*t)));
                }
            }
            if let Some(&m) = d.series.last() {
                stats.max_series = Some(stats.max_series.map_or(m, |x| x.max(m)));
            }
        }
        if outside && res.is_ok() {
            res = Err(Corruption::BadField {
                what: "logged sample outside its window",
            });
        }
        if let Err(what) = res {
            return Err(Error::corrupt(path, offset, what));
        }
    }
    stats.unknown += unknown.values().map(|v| v.len() as u64).sum::<u64>();
    Ok(data)
}
