//! `tierlog verify DIR`: checks every checksum of every file of a store without changing
//! anything: the state file, the index, `raw/` (window logs and segments) and the directory
//! of every rollup tier the state file lists (`format-spec/rollup-segment.md`). A segment's
//! header must also match its file name: tier 0, the window start and the store's span for
//! raw segments; tier 1, the piece start and `lcm(span, tier interval)` for rollup segments.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tierlog::rollup::plan::{checked_piece_span, rollup_span_ok};

use serde::Serialize;

use tierlog::error::{Error, Result};
use tierlog::format::header::{FileKind, HEADER_LEN, Header};
use tierlog::index::format::IndexRecord;
use tierlog::logfile::frame::{self, Tail};
use tierlog::segment::Segment;
use tierlog::segment::format::ROLLUP_TIER;
use tierlog::state::format::State;
use tierlog::store::{INDEX_FILE, LOCK_FILE, RAW_DIR, STATE_FILE, parse_window_file_name};
use tierlog::vfs;
use tierlog::wal::format as wal;

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
pub fn verify_dir(dir: &Path, progress: impl FnMut(&Path)) -> Result<VerifyReport> {
    verify_dir_on(Arc::new(vfs::StdFs), dir, progress)
}

/// [`verify_dir`] on the backend `vfs` (e.g. the fault-injecting one of the crash tests).
pub fn verify_dir_on(
    vfs: Arc<dyn vfs::Vfs>,
    dir: &Path,
    mut progress: impl FnMut(&Path),
) -> Result<VerifyReport> {
    let fs = vfs::Fs::new(vfs, vfs::DEFAULT_FILE_MODE);
    verify_store(&fs, dir, &mut progress)
}

fn verify_store(fs: &vfs::Fs, dir: &Path, progress: &mut dyn FnMut(&Path)) -> Result<VerifyReport> {
    if !fs.is_dir(dir) {
        return Err(Error::io(
            dir,
            "verify",
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
        ));
    }
    let mut r = VerifyReport::default();
    let mut state: Option<State> = None;
    let mut subdirs = Vec::new();
    for name in fs.list_files(dir)? {
        let path = dir.join(&name);
        if fs.is_dir(&path) {
            if name == tierlog::layout::QUARANTINE_DIR {
                r.notice(
                    &path,
                    0,
                    "damaged segments moved out of the store by repair; not checked (kept for inspection, may be deleted)",
                );
            } else if name != RAW_DIR {
                subdirs.push(name);
            }
            continue;
        }
        progress(&path);
        match name.as_str() {
            INDEX_FILE => verify_log(fs, &mut r, &path, FileKind::Index)?,
            STATE_FILE => {
                let b = fs.read(&path)?;
                r.files += 1;
                r.bytes += b.len() as u64;
                match State::decode(&b) {
                    Ok(s) => {
                        r.items_ok += 1;
                        state = Some(s);
                    }
                    Err(e) => r.bad(&path, 0, format!("state: {e}")),
                }
            }
            LOCK_FILE => {}
            tierlog::layout::DELETE_FILE => {
                let b = fs.read(&path)?;
                r.files += 1;
                r.bytes += b.len() as u64;
                match tierlog::store::DeleteIntent::decode(&b) {
                    Ok(_) => r.notice(
                        &path,
                        0,
                        "a delete was interrupted; the next writer open finishes it",
                    ),
                    Err(e) => r.bad(&path, 0, format!("delete intent: {e}")),
                }
            }
            n if is_damaged_state_name(n) => r.notice(
                &path,
                0,
                "damaged state file moved aside by repair; not checked (kept for inspection, may be deleted)",
            ),
            n if n.ends_with(".tmp") => {
                r.notice(&path, 0, "temporary file of an interrupted write")
            }
            _ => r.notice(&path, 0, "not a tierlog file name"),
        }
    }
    // Without a readable state file the span and the tiers are unknown: headers are checked
    // against the file names only, and every directory is checked as a tier.
    let span = state.as_ref().map(|s| s.window_span);
    let raw = dir.join(RAW_DIR);
    for name in fs.list_files(&raw)? {
        let path = raw.join(&name);
        progress(&path);
        match parse_window_file_name(&name) {
            Some((_, tierlog::layout::WINDOW_LOG_EXT)) => {
                verify_log(fs, &mut r, &path, FileKind::WindowLog)?
            }
            Some((_, tierlog::layout::LATE_LOG_EXT)) => {
                verify_log(fs, &mut r, &path, FileKind::WindowLog)?
            }
            Some((start, tierlog::layout::SEGMENT_EXT)) => {
                verify_segment(fs, &mut r, &path, 0, start, span)
            }
            _ if name.ends_with(".tmp") => {
                r.notice(&path, 0, "temporary file of an interrupted write")
            }
            _ => r.notice(&path, 0, "not a tierlog file name"),
        }
    }
    let tiers: Vec<(String, Option<i64>)> = match &state {
        Some(s) => s
            .tiers
            .iter()
            .map(|t| {
                let piece = span.and_then(|span| checked_piece_span(span, t.interval));
                if piece.is_none() {
                    r.bad(
                        &dir.join(STATE_FILE),
                        0,
                        format!(
                            "tier {:?}: no piece span for interval {} ms and window span {} ms",
                            t.name, t.interval, s.window_span
                        ),
                    );
                }
                (t.name.clone(), piece)
            })
            .collect(),
        None => subdirs.iter().map(|n| (n.clone(), None)).collect(),
    };
    // An archive kept inside the store (on_expiry = archive to a relative directory) is a
    // store of its own: verified as one.
    let archive = state
        .as_ref()
        .and_then(|s| s.retention.as_ref())
        .and_then(|r| r.policy.as_ref())
        .and_then(|p| p.archive.as_deref())
        .map(Path::new)
        .filter(|p| p.is_relative() && p.components().count() == 1);
    for name in subdirs.iter().filter(|n| !tiers.iter().any(|t| &t.0 == *n)) {
        if archive.is_some_and(|a| a == Path::new(name)) {
            let a = verify_store(fs, &dir.join(name), progress)?;
            r.files += a.files;
            r.bytes += a.bytes;
            r.items_ok += a.items_ok;
            r.corruption.extend(a.corruption);
            r.notices.extend(a.notices);
            continue;
        }
        if name == tierlog::store::FORWARD_DIR {
            verify_forward(&mut r, &dir.join(name), progress)?;
            continue;
        }
        r.notice(
            &dir.join(name),
            0,
            "directory of no tier the state file lists; not checked",
        );
    }
    for (name, piece) in &tiers {
        let tdir = dir.join(name);
        if !fs.is_dir(&tdir) {
            r.notice(
                &tdir,
                0,
                "directory of a tier the state file lists is missing (a writer open creates it)",
            );
            continue;
        }
        for file in fs.list_files(&tdir)? {
            let path = tdir.join(&file);
            progress(&path);
            match parse_window_file_name(&file) {
                Some((start, tierlog::layout::SEGMENT_EXT)) => {
                    verify_segment(fs, &mut r, &path, ROLLUP_TIER, start, *piece)
                }
                _ if file.ends_with(".tmp") => {
                    r.notice(&path, 0, "temporary file of an interrupted write")
                }
                _ => r.notice(&path, 0, "not a tierlog file name"),
            }
        }
    }
    Ok(r)
}

/// `state.damaged` or `state.damaged.N`: where repair moves a damaged state file.
fn is_damaged_state_name(name: &str) -> bool {
    name.strip_prefix(STATE_FILE)
        .and_then(|r| r.strip_prefix(".damaged"))
        .is_some_and(|r| {
            r.is_empty()
                || r.strip_prefix('.')
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

fn verify_log(fs: &vfs::Fs, r: &mut VerifyReport, path: &Path, kind: FileKind) -> Result<()> {
    let b = match fs.read_if_exists(path)? {
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
        r.bad(path, 0, format!("header: {e}"));
        return Ok(());
    }
    r.items_ok += 1;
    let scan = frame::scan(&b[HEADER_LEN..]);
    // A late log (window-log.md, "Late logs") starts with its generation record.
    let late = path
        .extension()
        .is_some_and(|e| e == tierlog::layout::LATE_LOG_EXT);
    for (i, &(o, l)) in scan.frames.iter().enumerate() {
        let payload = &b[HEADER_LEN + o + frame::FRAME_HEADER_LEN..HEADER_LEN + o + l];
        let ok = match kind {
            FileKind::WindowLog if late && i == 0 => wal::decode_late_generation(payload)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            FileKind::WindowLog => {
                wal::decode_any(payload, |_| {}, |_| {}).map_err(|e| e.to_string())
            }
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

/// Checks a segment: header, footer, every chunk (as points or buckets, by the header tier),
/// and the header against what the file name and the state file say: `tier`, `start` and,
/// when known, `span`.
fn verify_segment(
    fs: &vfs::Fs,
    r: &mut VerifyReport,
    path: &Path,
    tier: u16,
    start: i64,
    span: Option<i64>,
) {
    r.files += 1;
    r.bytes += fs.file_len(path);
    match Segment::open_in(fs, path) {
        Ok(seg) => {
            let h = seg.header();
            // Raw segments span a window; rollup segments a piece or a compacted span of them.
            let span_ok = |want: i64| match tier {
                0 => h.window_span == want,
                _ => rollup_span_ok(start, h.window_span, want),
            };
            if h.tier != tier || h.window_start != start || span.is_some_and(|s| !span_ok(s)) {
                let want_span = span.map_or("?".to_string(), |s| s.to_string());
                r.bad(
                    path,
                    0,
                    format!(
                        "header does not match the file: tier {}, start {}, span {} where tier {tier}, start {start}, span {want_span} are expected",
                        h.tier, h.window_start, h.window_span
                    ),
                );
                r.items_ok += 1;
            } else {
                r.items_ok += 2;
            }
            // Recorded damage of the raw data the buckets came from: the file is sound, and
            // queries over the range say they are partial.
            for &(from, to) in seg.partial() {
                r.notice(
                    path,
                    seg.footer().footer_offset,
                    format!(
                        "its buckets of {from}..{to} were computed while raw data there was damaged (recorded, not corruption; queries over it warn)"
                    ),
                );
            }
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

/// Checks the forwarders' checkpoints (`forward/<name>.ckpt`) and the forward late log
/// (`forward/late.log`); their locks are skipped and a checkpoint moved aside as damaged is a
/// notice.
fn verify_forward(r: &mut VerifyReport, dir: &Path, progress: &mut dyn FnMut(&Path)) -> Result<()> {
    for name in vfs::Fs::std().list_files(dir)? {
        let path = dir.join(&name);
        progress(&path);
        if name.ends_with(&format!(".{}", tierlog::store::CHECKPOINT_EXT)) {
            let b = vfs::Fs::std().read(&path)?;
            r.files += 1;
            r.bytes += b.len() as u64;
            match tierlog::forward::format::Checkpoint::decode(&b) {
                Ok(_) => r.items_ok += 1,
                Err(e) => r.bad(&path, 0, format!("forwarder checkpoint: {e}")),
            }
        } else if name == tierlog::forward::late::LATE_LOG_FILE {
            r.files += 1;
            r.bytes += vfs::Fs::std().file_len(&path);
            let store_dir = dir.parent().unwrap_or(dir);
            match tierlog::forward::late::read_log(&vfs::Fs::std(), store_dir) {
                Ok(v) => r.items_ok += v.records.len() as u64,
                Err(Error::Corrupt { offset, what, .. }) => {
                    r.bad(&path, offset, format!("forward late log: {what}"))
                }
                Err(e) => r.bad(&path, 0, format!("forward late log: {e}")),
            }
        } else if name.ends_with(".lock") {
        } else if name.ends_with(".damaged") {
            r.notice(&path, 0, "a damaged forwarder checkpoint moved aside");
        } else if name.ends_with(".tmp") {
            r.notice(&path, 0, "temporary file of an interrupted write");
        } else {
            r.notice(&path, 0, "not a tierlog file name");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;
    use tierlog::{Config, ManualClock, Sample, Store};

    const T0: i64 = 1_699_999_200_000;

    /// A store with 10-minute windows and the default `10s` and `60s` tiers, 30 minutes of
    /// one series, sealed and rolled up (3 pieces per tier).
    fn store(dir: &Path) {
        let clock = Arc::new(ManualClock::new(T0));
        let config = Config {
            window_span: Duration::from_secs(600),
            maintenance_interval: None,
            ..Config::default()
        }
        .with_clock(clock.clone());
        let store = Store::open(dir, config).unwrap();
        for i in 0..60 {
            let ts = T0 + i * 30_000;
            clock.set(ts);
            store.write(&[Sample::new("m", &[], ts, i as f64)]).unwrap();
        }
        clock.set(T0 + 50 * 60_000);
        store.maintain().unwrap();
        store.close().unwrap();
    }

    fn piece(dir: &Path, tier: &str, start: i64) -> PathBuf {
        dir.join(tier).join(tierlog::store::window_file_name(
            start,
            tierlog::layout::SEGMENT_EXT,
        ))
    }

    fn messages(p: &[Problem]) -> Vec<String> {
        p.iter()
            .map(|p| format!("{}: {}", p.file.display(), p.message))
            .collect()
    }

    #[test]
    fn a_rolled_up_store_is_clean_and_every_piece_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        store(dir.path());
        let mut seen = Vec::new();
        let r = verify_dir(dir.path(), |p| seen.push(p.to_owned())).unwrap();
        assert!(r.is_clean(), "{:?}", messages(&r.corruption));
        assert!(r.notices.is_empty(), "{:?}", messages(&r.notices));
        for tier in ["10s", "60s"] {
            for k in 0..3 {
                let p = piece(dir.path(), tier, T0 + k * 600_000);
                assert!(seen.contains(&p), "{} not checked", p.display());
            }
        }
    }

    #[test]
    fn the_forward_late_log_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        store(dir.path());
        let fs = vfs::Fs::std();
        let fwd = dir.path().join(tierlog::store::FORWARD_DIR);
        fs.create_dir_all(&fwd).unwrap();
        let mut log = tierlog::forward::late::empty_log(1);
        for k in 0..3 {
            tierlog::logfile::frame::encode_frame_with(&mut log, |o| {
                tierlog::wal::format::encode_samples(
                    &[tierlog::wal::format::LoggedSample {
                        series: 0,
                        ts_ms: T0 + k * 1000,
                        value: 1.0,
                    }],
                    o,
                )
            });
        }
        let path = fwd.join(tierlog::forward::late::LATE_LOG_FILE);
        std::fs::write(&path, &log).unwrap();
        let r = verify_dir(dir.path(), |_| {}).unwrap();
        assert!(r.is_clean(), "{:?}", messages(&r.corruption));
        assert!(r.notices.is_empty(), "{:?}", messages(&r.notices));
        // A flipped byte in the first samples record, with two good records after it.
        let at = tierlog::forward::late::empty_log(1).len() + 14;
        log[at] ^= 0x10;
        std::fs::write(&path, &log).unwrap();
        let r = verify_dir(dir.path(), |_| {}).unwrap();
        assert_eq!(r.corruption.len(), 1, "{:?}", messages(&r.corruption));
        assert_eq!(r.corruption[0].file, path);
        assert!(r.corruption[0].message.starts_with("forward late log"));
    }

    #[test]
    fn unlisted_and_missing_tier_directories_are_notices() {
        let dir = tempfile::tempdir().unwrap();
        store(dir.path());
        std::fs::remove_dir_all(dir.path().join("60s")).unwrap();
        std::fs::create_dir(dir.path().join("junk")).unwrap();
        std::fs::write(dir.path().join("10s").join("x.seg.tmp"), b"partial").unwrap();
        let r = verify_dir(dir.path(), |_| {}).unwrap();
        assert!(r.is_clean(), "{:?}", messages(&r.corruption));
        let n = messages(&r.notices);
        assert_eq!(n.len(), 3, "{n:?}");
        assert!(
            n.iter()
                .any(|m| m.contains("junk") && m.contains("not checked"))
        );
        assert!(n.iter().any(|m| m.contains("60s") && m.contains("missing")));
        assert!(n.iter().any(|m| m.contains("x.seg.tmp")));
    }

    #[test]
    fn without_a_state_file_every_directory_is_checked_as_a_tier() {
        let dir = tempfile::tempdir().unwrap();
        store(dir.path());
        std::fs::remove_file(dir.path().join(STATE_FILE)).unwrap();
        let p = piece(dir.path(), "60s", T0 + 600_000);
        let mut b = std::fs::read(&p).unwrap();
        b[HEADER_LEN + 3] ^= 0x01;
        std::fs::write(&p, &b).unwrap();
        let r = verify_dir(dir.path(), |_| {}).unwrap();
        assert_eq!(r.corruption.len(), 1, "{:?}", messages(&r.corruption));
        assert_eq!(r.corruption[0].file, p);
        assert_eq!(r.corruption[0].offset, HEADER_LEN as u64);
        assert!(r.corruption[0].message.starts_with("chunk of series"));
    }

    #[test]
    fn headers_must_match_their_file_names() {
        let dir = tempfile::tempdir().unwrap();
        store(dir.path());
        // A rollup piece in the raw directory, and a raw segment in a tier directory.
        let raw = dir.path().join(RAW_DIR);
        let raw_seg = raw.join(tierlog::store::window_file_name(
            T0,
            tierlog::layout::SEGMENT_EXT,
        ));
        let rollup = piece(dir.path(), "10s", T0 + 1_200_000);
        let (a, b) = (
            std::fs::read(&raw_seg).unwrap(),
            std::fs::read(&rollup).unwrap(),
        );
        std::fs::write(&raw_seg, &b).unwrap();
        std::fs::write(&rollup, &a).unwrap();
        let r = verify_dir(dir.path(), |_| {}).unwrap();
        let c = messages(&r.corruption);
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(
            c.iter().all(|m| m.contains("header does not match")),
            "{c:?}"
        );
        assert!(
            c[0].contains("raw/")
                && c[0].contains(": header does not match the file: tier 1, start 1700000400000"),
            "{c:?}"
        );
        assert!(
            c[1].contains("10s/")
                && c[1].contains(": header does not match the file: tier 0, start 1699999200000"),
            "{c:?}"
        );
    }

    #[test]
    fn piece_spans() {
        assert_eq!(checked_piece_span(600_000, 10_000), Some(600_000));
        assert_eq!(checked_piece_span(1_200_000, 3_600_000), Some(3_600_000));
        assert_eq!(
            checked_piece_span(1_200_000, 7 * 60_000),
            Some(140 * 60_000)
        );
        assert_eq!(checked_piece_span(600_000, 0), None);
        assert_eq!(checked_piece_span(-5, 10), None);
        assert_eq!(checked_piece_span(600_000, i64::MAX), None);
    }
}
