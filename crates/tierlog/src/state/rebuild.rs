//! Rebuilding a damaged (or missing) state file from the store's other files, for
//! `Store::repair` (see `format-spec/state.md`, "Repair").
//!
//! The state records nothing that the segments and logs cannot tell again, except the
//! retention settings: the window span is in every raw segment's and log's header, the tiers
//! are the directories holding rollup segments (their intervals come from the configuration),
//! the done-through marks are raised at open to the newest piece file anyway, sealed-through
//! is the end of the newest sealed window, and the clock high-water mark only has to be no
//! earlier than the newest data.

use std::path::{Path, PathBuf};

use crate::store::{RAW_DIR, STATE_FILE, parse_window_file_name};
use crate::config::Config;
use crate::error::{Corruption, Error, Result};
use crate::format::header::{FileKind, HEADER_LEN, Header};
use crate::segment::format::ROLLUP_TIER;
use crate::state::format::{MAX_TIER_NAME, State as StateFile, TierState};
use crate::vfs;
use crate::logfile::Finding;

/// What is wrong with the state file when a repair may rebuild it: the offset and what,
/// or `None` when `e` is not damage of the state (an I/O error, a truly newer version, a
/// file that is not a state file at all).
pub(crate) fn state_damage(fs: &vfs::Fs, dir: &Path, e: &Error) -> Option<(u64, Corruption)> {
    let path = dir.join(STATE_FILE);
    match e {
        Error::Corrupt { file, offset, what } if *file == path => Some((*offset, what.clone())),
        Error::WrongMagic {
            file,
            expected,
            found,
        } if *file == path => {
            // A magic one byte off, in a file long enough to hold a header: damage, not a
            // file of another kind.
            let off = expected
                .iter()
                .zip(found.iter().chain(std::iter::repeat(&0)))
                .filter(|(a, b)| a != b)
                .count();
            (off <= 1 && fs.file_len(&path) >= HEADER_LEN as u64).then_some((
                0,
                Corruption::BadField {
                    what: "state file magic",
                },
            ))
        }
        Error::UnsupportedVersion { file, .. } if *file == path => {
            // A newer version whose header checksum does not hold is a damaged version field.
            let b = fs.read_range(&path, 0, HEADER_LEN as u64).ok()?;
            let stored = u32::from_le_bytes(b[28..32].try_into().expect("4 bytes"));
            (stored != crc32c::crc32c(&b[..28])).then_some((
                8,
                Corruption::BadField {
                    what: "state file version",
                },
            ))
        }
        _ => None,
    }
}

/// Reads the header of `path` if it decodes as `kind`.
fn header(fs: &vfs::Fs, path: &Path, kind: FileKind) -> Option<Header> {
    let b = fs.read_range(path, 0, HEADER_LEN as u64).ok()?;
    Header::decode(&b, kind).ok()
}

/// Rebuilds the state from the files in `dir`. `damage` is what was wrong with the state
/// file (`None`: it is missing). Returns `None` when the directory holds no data file (a
/// missing state then means a new store). Nothing is changed on disk.
pub(crate) fn rebuild(
    fs: &vfs::Fs,
    dir: &Path,
    config: &Config,
    damage: Option<(u64, Corruption)>,
) -> Result<Option<(StateFile, Finding)>> {
    // The window span: every raw segment and log header that decodes must agree.
    let raw = dir.join(RAW_DIR);
    let mut spans: Vec<(i64, PathBuf)> = Vec::new();
    let mut sealed_through = i64::MIN;
    for name in fs.list_files(&raw)? {
        let kind = match parse_window_file_name(&name) {
            Some((_, crate::layout::SEGMENT_EXT)) => FileKind::Segment,
            Some((_, crate::layout::WINDOW_LOG_EXT)) => FileKind::WindowLog,
            _ => continue,
        };
        let (start, _) = parse_window_file_name(&name).expect("parsed above");
        let path = raw.join(&name);
        let Some(h) = header(fs, &path, kind) else {
            continue; // Damaged: the open reports it.
        };
        if h.tier != 0 || h.window_start != start || h.window_span <= 0 {
            continue;
        }
        if kind == FileKind::Segment {
            sealed_through = sealed_through.max(start.saturating_add(h.window_span));
        }
        if !spans.iter().any(|(s, _)| *s == h.window_span) {
            spans.push((h.window_span, path));
        }
    }
    let window_span = match spans.as_slice() {
        [] => config.span_ms(),
        [(s, _)] => *s,
        [(a, pa), (b, pb), ..] => {
            return Err(Error::Config {
                setting: "window_span",
                message: format!(
                    "the state file is damaged or missing, and the raw files disagree on the window span ({a} ms in {}, {b} ms in {}); cannot rebuild it",
                    pa.display(),
                    pb.display()
                ),
            });
        }
    };

    // The tiers: directories holding rollup segments (and empty ones of configured tiers);
    // intervals and keep times from the configuration, which must know every one of them.
    let ms = |d: std::time::Duration| d.as_millis().min(i64::MAX as u128) as i64;
    let mut found: Vec<String> = Vec::new();
    for name in fs.list_files(dir)? {
        let valid = !name.is_empty()
            && name.len() <= MAX_TIER_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid || name == RAW_DIR || !fs.is_dir(&dir.join(&name)) {
            continue;
        }
        let tdir = dir.join(&name);
        let mut any = false;
        for file in fs.list_files(&tdir)? {
            let Some((start, crate::layout::SEGMENT_EXT)) = parse_window_file_name(&file) else {
                continue;
            };
            let Some(h) = header(fs, &tdir.join(&file), FileKind::Segment) else {
                continue;
            };
            if h.tier == ROLLUP_TIER && h.window_start == start && h.window_span > 0 {
                any = true;
                // A piece is materialised only after every raw window in it was sealed.
                sealed_through = sealed_through.max(start.saturating_add(h.window_span));
            }
        }
        // An empty directory of a configured tier is that tier with nothing materialised yet
        // (a writer creates every tier's directory); one of no configured tier is refused
        // below only if it holds rollup segments.
        if any || config.tiers().iter().any(|t| t.name == name) {
            found.push(name);
        }
    }
    if spans.is_empty() && found.is_empty() && damage.is_none() {
        return Ok(None);
    }
    for name in &found {
        if !config.tiers().iter().any(|t| t.name == *name) {
            // (Only directories holding rollup segments are listed for unknown names.)
            return Err(Error::Config {
                setting: "tiers",
                message: format!(
                    "the state file is damaged or missing and the store has rollup segments in a tier directory {name:?} that the configuration lacks; configure that tier with its bucket interval and repair again"
                ),
            });
        }
    }
    let tiers: Vec<TierState> = config
        .tiers()
        .iter()
        .filter(|t| found.contains(&t.name))
        .map(|t| TierState {
            name: t.name.clone(),
            interval: ms(t.interval),
            keep: ms(t.keep),
            // Raised at open to the end of the newest piece file.
            done_through: i64::MIN,
        })
        .collect();
    let state = StateFile {
        window_span,
        // Raised at open to the newest logged sample.
        clock_high_water: sealed_through,
        sealed_through,
        tiers,
        retention: None,
        // Lost with the file: the open gives the store a new id.
        identity: None,
    };
    let finding = Finding::StateRebuilt {
        file: dir.join(STATE_FILE),
        moved_to: None,
        damage,
        window_span,
        tiers: state.tiers.iter().map(|t| t.name.clone()).collect(),
    };
    Ok(Some((state, finding)))
}

/// Moves the damaged state file aside (to `state.damaged`, or `state.damaged.N` when that is
/// taken) and returns where it went.
pub(crate) fn move_aside(fs: &vfs::Fs, dir: &Path) -> Result<PathBuf> {
    let from = dir.join(STATE_FILE);
    let mut to = dir.join(format!("{STATE_FILE}.damaged"));
    let mut n = 1;
    while fs.exists(&to) {
        to = dir.join(format!("{STATE_FILE}.damaged.{n}"));
        n += 1;
    }
    fs.rename(&from, &to)?;
    fs.sync_dir(dir)?;
    Ok(to)
}
