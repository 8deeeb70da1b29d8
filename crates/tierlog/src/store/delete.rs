//! Deleting on demand: [`Store::delete`] removes the points and buckets of the series a
//! selector matches, in a time range or whole, from every tier.
//!
//! Order of operations (the maintenance mutex and the state write lock are held throughout,
//! so no seal, rollup, compaction or retention runs, and writes and queries wait):
//!
//! 1. the selector is resolved to series ids;
//! 2. the intent, `delete.pending` ([`format`], `format-spec/delete.md`), is written
//!    atomically (temporary file, fsync, rename, directory fsync);
//! 3. every open window the range touches that holds such points gets a delete record
//!    (window-log record type 2) appended and fsynced, then loses the points in memory;
//! 4. every raw and rollup segment holding such points or buckets is rewritten without them
//!    (temporary file, fsync, rename; a file left with nothing is removed) and its handle
//!    swapped; then each directory touched is fsynced once;
//! 5. series left with no data anywhere leave the index (as retention's clean-up does);
//! 6. the intent is removed (directory fsynced).
//!
//! A writer's open that finds the intent applies steps 3 to 6 again before it hands the store
//! out (each is idempotent); a read-only open applies it in memory only.

pub mod format;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use self::format::DeleteIntent;
use super::{DELETE_FILE, Shared, State, Store};
use crate::error::{Corruption, Error, Result};
use crate::logfile::AppendError;
use crate::logfile::frame::encode_frame_with;
use crate::query::selector::Selector;
use crate::rollup::Bucket;
use crate::segment::Segment;
use crate::segment::format::{ChunkEntry, SegmentBuilder, chunk_bytes};
use crate::wal::format::{LoggedDelete, encode_delete};

/// How [`Store::delete`] runs.
///
/// ```
/// use tierlog::DeleteOptions;
///
/// let opts = DeleteOptions::default().with_dry_run(true);
/// assert!(opts.dry_run && !opts.archive);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeleteOptions {
    /// Only report what would be removed; change nothing.
    pub dry_run: bool,
    /// Also delete from the archive (`Expiry::Archive`): its segments are rewritten the same
    /// way (the report counts them with the store's). Without it the archive is untouched.
    pub archive: bool,
}

impl DeleteOptions {
    /// Sets [`DeleteOptions::dry_run`].
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Sets [`DeleteOptions::archive`].
    pub fn with_archive(mut self, archive: bool) -> Self {
        self.archive = archive;
        self
    }
}

/// What a delete removed (or, for a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DeleteReport {
    /// Series the selector matched (in the store's index, and with
    /// [`DeleteOptions::archive`] in the archive's).
    pub matched: u64,
    /// Series that had points or buckets in the range.
    pub series: u64,
    /// Raw points removed (open windows and sealed segments).
    pub points: u64,
    /// Rollup buckets removed, all tiers together.
    pub buckets: u64,
    /// Bytes freed: per rewritten segment file its size before less its size after (the
    /// window logs only grow by a small record). Points, buckets, bytes and files include the
    /// archive's when it was asked for ([`DeleteOptions::archive`]).
    pub bytes: u64,
    /// Segment files rewritten without the deleted data.
    pub files_rewritten: u64,
    /// Segment files removed (nothing left in them).
    pub files_removed: u64,
    /// Series that left the index, having no data left.
    pub series_removed: u64,
    /// True for a dry run: nothing was changed.
    pub dry_run: bool,
    /// Damaged segments the range touches: they could not be rewritten and still hold
    /// whatever they held.
    pub warnings: Vec<String>,
}

/// How far a delete goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Count only.
    DryRun,
    /// Durably.
    Apply,
    /// In this process's memory only (a read-only open finding a pending delete).
    InMemory,
}

impl Store {
    /// Removes the raw points and the rollup buckets of every series `selector` matches with
    /// `from <= t < to` (`range`, ms), or all of them when `range` is `None`, from every tier:
    /// open windows, sealed segments and rollup segments. Series left with no data leave the
    /// index. The archive is not touched unless [`DeleteOptions::archive`] says so.
    ///
    /// Durable when it returns, and crash-safe: an intent file makes a crash at any point
    /// finish the delete at the next open (before the store is handed out), so queries never
    /// see part of it. The call holds the store's maintenance mutex and its state lock
    /// throughout: writes, queries and maintenance wait for it (a whole series over 90 days
    /// of 60 s buckets takes a few milliseconds; see BENCHMARKS.md). Samples written after it
    /// returns are kept, in the deleted range too.
    ///
    /// With [`DeleteOptions::dry_run`] nothing changes (works on a read-only store too).
    ///
    /// A delete that fails (a full disk, an I/O error) returns the error with part of it
    /// possibly done; its intent stays, and the next delete, or the next open, finishes it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tierlog::{Config, DeleteOptions, ManualClock, Sample, Selector, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let now = 1_700_000_000_000;
    /// let config = Config::default().with_clock(Arc::new(ManualClock::new(now)));
    /// let store = Store::open(dir.path(), config)?;
    /// store.write(&[
    ///     Sample::new("up", &[("host", "a")], now - 2_000, 1.0),
    ///     Sample::new("up", &[("host", "a")], now, 1.0),
    ///     Sample::new("up", &[("host", "b")], now, 1.0),
    /// ])?;
    /// let sel: Selector = r#"up{host="a"}"#.parse()?;
    /// let report = store.delete(&sel, Some((now - 5_000, now - 1_000)), DeleteOptions::default())?;
    /// assert_eq!(report.points, 1);
    /// assert_eq!(store.query(&sel, 0, now + 1)?.series[0].points, [(now, 1.0)]);
    ///
    /// // The whole series: it leaves the index too.
    /// let report = store.delete(&sel, None, DeleteOptions::default())?;
    /// assert_eq!((report.points, report.series_removed), (1, 1));
    /// assert!(store.query(&sel, 0, now + 1)?.series.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete(
        &self,
        selector: &Selector,
        range: Option<(i64, i64)>,
        opts: DeleteOptions,
    ) -> Result<DeleteReport> {
        let (from, to) = range.unwrap_or((i64::MIN, i64::MAX));
        if from >= to {
            return Err(Error::InvalidQuery {
                message: format!("empty delete range: from {from} is not before to {to}"),
            });
        }
        let sh = &self.shared;
        if !opts.dry_run {
            sh.check_writable()?;
        }
        // The archive has its own index (with the store's ids): a series may be there only,
        // having left the store's index.
        let mut archived: Vec<u32> = Vec::new();
        if opts.archive
            && let Some(a) = self.open_archive()?
        {
            let st = a.shared.state.read();
            archived.extend(st.registry.select(selector).iter().map(|s| s.0));
        }
        let guard = sh.maintain.lock();
        if !opts.dry_run && !sh.state.read().sealing.is_empty() {
            // A failed pass left windows being sealed: finish that first (their logs would
            // otherwise need a delete record while frozen).
            sh.seal_due(&guard)?;
        }
        if !opts.dry_run {
            // Late samples are merged into their segments first, so that the rewrite below
            // removes them too (a late log replayed later would bring them back).
            sh.merge_late(true)?;
        }
        let mut st = sh.state.write();
        let mut ids: Vec<u32> = st.registry.select(selector).iter().map(|s| s.0).collect();
        ids.extend(archived);
        ids.sort_unstable();
        ids.dedup();
        let intent = DeleteIntent {
            series: ids,
            from,
            to,
            archive: opts.archive,
        };
        if opts.dry_run {
            return sh.apply_delete(&mut st, &intent, Mode::DryRun);
        }
        if !st.sealing.is_empty() {
            return Err(Error::Config {
                setting: "delete",
                message: "windows are still being sealed; run maintenance and retry".into(),
            });
        }
        // Late samples of these series that arrived since the merge above: refused rather than
        // left behind in a late log.
        let late_here = st.late.values().any(|l| {
            intent.series.iter().any(|id| {
                l.samples
                    .get(id)
                    .is_some_and(|v| v.iter().any(|&(t, _)| t >= from && t < to))
            })
        });
        if late_here {
            return Err(Error::Config {
                setting: "delete",
                message: "late samples of these series arrived while the delete began; retry"
                    .into(),
            });
        }
        // One that failed earlier in this session first: its intent is about to be replaced.
        sh.finish_pending(&mut st)?;
        if intent.series.is_empty() {
            return sh.apply_delete(&mut st, &intent, Mode::Apply);
        }
        let path = sh.dir.join(DELETE_FILE);
        sh.fs.write_atomic(&path, &intent.encode())?;
        let report = sh.apply_delete(&mut st, &intent, Mode::Apply)?;
        sh.fs.remove_synced(&path)?;
        drop(st);
        drop(guard);
        log::info!(
            "deleted {} points and {} buckets of {} series ({} bytes freed)",
            report.points,
            report.buckets,
            report.series,
            report.bytes
        );
        Ok(report)
    }
}

/// At open, before the store is handed out: a delete interrupted by a crash is finished (a
/// writer) or applied in memory (a reader: queries must not show what it removes).
pub(crate) fn resume_pending(sh: &Shared) -> Result<()> {
    let mut st = sh.state.write();
    sh.finish_pending(&mut st)
}

impl Shared {
    /// A pending delete (a crash, or an error, interrupted it) applied again and its intent
    /// removed; a read-only store applies it in memory only. The caller holds the state write
    /// lock (and, when running, the maintenance mutex).
    fn finish_pending(&self, st: &mut State) -> Result<()> {
        let path = self.dir.join(DELETE_FILE);
        let Some(bytes) = self.fs.read_if_exists(&path)? else {
            return Ok(());
        };
        let intent = match DeleteIntent::decode(&bytes) {
            Ok(i) => i,
            Err(e) if self.config.salvage && !self.read_only => {
                // Only damage explains this (the file is replaced atomically): a repair drops
                // it, and the delete may be partly done.
                log::error!(
                    "{}: damaged ({e}); removed: the interrupted delete may be partly done, run it again",
                    path.display()
                );
                return self.fs.remove_synced(&path);
            }
            Err(e) => {
                return Err(crate::logfile::header_error(
                    &path,
                    e,
                    crate::format::header::FileKind::DeleteIntent,
                ));
            }
        };
        if self.read_only {
            self.apply_delete(st, &intent, Mode::InMemory)?;
            return Ok(());
        }
        log::warn!("{}: a delete was interrupted; finishing it", path.display());
        self.apply_delete(st, &intent, Mode::Apply)?;
        self.fs.remove_synced(&path)
    }
}

impl Shared {
    /// Steps 3 to 5 of a delete (see the module documentation), or their count only.
    fn apply_delete(&self, st: &mut State, d: &DeleteIntent, mode: Mode) -> Result<DeleteReport> {
        let mut report = DeleteReport {
            matched: d.series.len() as u64,
            dry_run: mode == Mode::DryRun,
            ..Default::default()
        };
        if d.series.is_empty() {
            return Ok(report);
        }
        let (from, to) = (d.from, d.to);
        let span = self.config.span_ms();
        let overlaps = |start: i64, len: i64| start < to && start.saturating_add(len) > from;
        let mut touched: BTreeSet<u32> = BTreeSet::new();

        // Open windows: a delete record in the log, then the points in memory.
        let starts: Vec<i64> = st
            .open
            .keys()
            .copied()
            .filter(|&s| overlaps(s, span))
            .collect();
        for start in starts {
            let w = st.open.get_mut(&start).expect("listed above");
            let mut hit = Vec::new();
            let mut points = 0u64;
            for &id in &d.series {
                let mut n = 0u64;
                w.data.points_into(id, from, to, |_, _| n += 1);
                if n > 0 {
                    hit.push(id);
                    points += n;
                }
            }
            if hit.is_empty() {
                continue;
            }
            touched.extend(&hit);
            report.points += points;
            match mode {
                Mode::DryRun => continue,
                Mode::Apply => {
                    let mut framed = Vec::new();
                    let rec = LoggedDelete {
                        series: hit.clone(),
                        from,
                        to,
                    };
                    encode_frame_with(&mut framed, |o| encode_delete(&rec, o));
                    let log = w.log.as_mut().ok_or(Error::ReadOnly)?;
                    match log.append(&framed) {
                        Ok(()) => {}
                        Err(AppendError::RolledBack(e)) => return Err(e),
                        Err(AppendError::Poisoned(e)) => {
                            self.poisoned.store(true, Ordering::SeqCst);
                            return Err(e);
                        }
                    }
                    if let Err(e) = log.sync_handle().and_then(|h| h.sync()) {
                        self.poisoned.store(true, Ordering::SeqCst);
                        return Err(e);
                    }
                }
                Mode::InMemory => {}
            }
            w.data.delete_range(&hit, from, to);
        }

        // Sealed raw segments, then every tier's segments. Each new file is fsynced and
        // renamed into place; the directories are fsynced once, after all of them (the intent
        // stays until then, so a crash in between only repeats the rewrites).
        let mut dirs: BTreeSet<std::path::PathBuf> = BTreeSet::new();
        let raw: Vec<(i64, Arc<Segment>)> = st
            .sealed
            .iter()
            .filter(|(s, _)| overlaps(**s, span))
            .map(|(s, seg)| (*s, seg.clone()))
            .collect();
        for (start, seg) in raw {
            let Some(new) = self.rewrite(&seg, d, mode, &mut report, &mut touched, &mut dirs)?
            else {
                continue;
            };
            report.points += new.removed;
            match new.segment {
                Some(seg) => st.sealed.insert(start, seg),
                None => st.sealed.remove(&start),
            };
        }
        for (name, bad) in st
            .bad
            .iter()
            .filter(|(s, _)| overlaps(**s, span))
            .map(|(_, b)| ("raw", b))
            .chain(st.tiers.iter().flat_map(|t| {
                t.bad
                    .iter()
                    .filter(|(s, _)| overlaps(**s, t.piece))
                    .map(|(_, b)| (t.name.as_str(), b))
            }))
        {
            report.warnings.push(format!(
                "{name} segment {} is damaged and was not rewritten: {}",
                bad.path.display(),
                bad.error
            ));
        }
        for i in 0..st.tiers.len() {
            let segs: Vec<(i64, Arc<Segment>)> = st.tiers[i]
                .segments
                .iter()
                .filter(|(s, seg)| overlaps(**s, seg.header().window_span))
                .map(|(s, seg)| (*s, seg.clone()))
                .collect();
            for (start, seg) in segs {
                let Some(new) =
                    self.rewrite(&seg, d, mode, &mut report, &mut touched, &mut dirs)?
                else {
                    continue;
                };
                report.buckets += new.removed;
                let t = &mut st.tiers[i];
                match new.segment {
                    Some(seg) => t.segments.insert(start, seg),
                    None => t.segments.remove(&start),
                };
            }
        }
        if d.archive && mode != Mode::InMemory {
            self.delete_in_archive(st, d, mode, &mut report, &mut touched, &mut dirs)?;
        }
        for dir in &dirs {
            self.fs.sync_dir(dir)?;
        }
        report.series = touched.len() as u64;

        // Series left with no data leave the index.
        if mode == Mode::Apply {
            let candidates: BTreeSet<u32> = d.series.iter().copied().collect();
            report.series_removed = self
                .remove_series_without_data(st, candidates)?
                .unwrap_or(0);
        }
        Ok(report)
    }

    /// The archive's part of a delete: every segment file of the archive's raw and tier
    /// directories holding such points or buckets is rewritten (or removed) like the store's.
    /// The archive's index keeps its series records (they name no data then).
    fn delete_in_archive(
        &self,
        st: &State,
        d: &DeleteIntent,
        mode: Mode,
        report: &mut DeleteReport,
        touched: &mut BTreeSet<u32>,
        dirs: &mut BTreeSet<std::path::PathBuf>,
    ) -> Result<()> {
        let root = match self.archive_dir() {
            Some(r) if self.fs.is_dir(&r) => r,
            _ => {
                report
                    .warnings
                    .push("the store has no archive: nothing deleted there".into());
                return Ok(());
            }
        };
        let names = std::iter::once(super::RAW_DIR.to_string())
            .chain(st.tiers.iter().map(|t| t.name.clone()));
        for name in names {
            let dir = root.join(&name);
            if !self.fs.is_dir(&dir) {
                continue;
            }
            for file in self.fs.list_files(&dir)? {
                let Some((_, crate::layout::SEGMENT_EXT)) = super::parse_window_file_name(&file)
                else {
                    continue;
                };
                let path = dir.join(&file);
                let seg = match Segment::open_in(&self.fs, &path) {
                    Ok(s) => Arc::new(s),
                    Err(e) => {
                        report.warnings.push(format!(
                            "archive segment {} is damaged and was not rewritten: {e}",
                            path.display()
                        ));
                        continue;
                    }
                };
                let h = seg.header();
                if h.window_start >= d.to || h.window_start.saturating_add(h.window_span) <= d.from
                {
                    continue;
                }
                if let Some(new) = self.rewrite(&seg, d, mode, report, touched, dirs)? {
                    if seg.is_rollup() {
                        report.buckets += new.removed;
                    } else {
                        report.points += new.removed;
                    }
                }
            }
        }
        Ok(())
    }

    /// `seg` without the deleted points or buckets: `None` when it holds none of them.
    /// Applying, the file is replaced atomically (or removed, when nothing is left in it);
    /// in memory, the new bytes stand for it.
    fn rewrite(
        &self,
        seg: &Arc<Segment>,
        d: &DeleteIntent,
        mode: Mode,
        report: &mut DeleteReport,
        touched: &mut BTreeSet<u32>,
        dirs: &mut BTreeSet<std::path::PathBuf>,
    ) -> Result<Option<Rewritten>> {
        let Some(out) = without(seg, &d.series, d.from, d.to, touched)
            .map_err(|(offset, what)| Error::corrupt(seg.path(), offset, what))?
        else {
            return Ok(None);
        };
        let before = seg.len();
        let after = out.bytes.as_ref().map_or(0, |b| b.len() as u64);
        report.bytes += before.saturating_sub(after);
        match &out.bytes {
            Some(_) => report.files_rewritten += 1,
            None => report.files_removed += 1,
        }
        let path = seg.path();
        let segment = match (mode, out.bytes) {
            (Mode::DryRun, _) => Some(seg.clone()),
            (Mode::Apply, Some(bytes)) => {
                let mut f = self.fs.atomic_file(path)?;
                std::io::Write::write_all(&mut f, &bytes)
                    .map_err(|e| Error::io(f.temp_path(), "write", e))?;
                f.rename_into_place()?;
                dirs.extend(path.parent().map(Path::to_owned));
                Some(Arc::new(Segment::open_in(&self.fs, path)?))
            }
            (Mode::Apply, None) => {
                match self.fs.vfs().remove(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(path, "remove", e)),
                }
                dirs.extend(path.parent().map(Path::to_owned));
                None
            }
            (Mode::InMemory, Some(bytes)) => Some(Arc::new(Segment::from_bytes(path, bytes)?)),
            (Mode::InMemory, None) => None,
        };
        Ok(Some(Rewritten {
            segment,
            removed: out.removed,
        }))
    }
}

/// A segment after a delete.
struct Rewritten {
    /// Its new handle; `None` once removed.
    segment: Option<Arc<Segment>>,
    /// Points (raw) or buckets (rollup) removed.
    removed: u64,
}

/// The bytes of a segment without some of its points or buckets.
#[derive(Debug)]
pub(crate) struct Without {
    /// The new file; `None` when nothing is left in it (no chunk, no partial range).
    pub(crate) bytes: Option<Vec<u8>>,
    /// Points (raw) or buckets (rollup) removed.
    pub(crate) removed: u64,
}

/// `seg` without the points (raw) or buckets (rollup, by bucket start) of `series`
/// (ascending) with `from <= t < to`, or `None` when it holds none. Every other chunk is
/// copied byte for byte; a chunk partly in the range is decoded, filtered and encoded again;
/// the header (version included) and a rollup segment's partial ranges stay as they are.
/// The series that lose something are added to `touched`.
pub(crate) fn without(
    seg: &Segment,
    series: &[u32],
    from: i64,
    to: i64,
    touched: &mut BTreeSet<u32>,
) -> std::result::Result<Option<Without>, (u64, Corruption)> {
    let hit = |e: &ChunkEntry| {
        e.max_ts >= from && e.min_ts < to && series.binary_search(&e.series).is_ok()
    };
    if !seg.footer().entries.iter().any(hit) {
        return Ok(None);
    }
    let file = seg.bytes();
    let header = *seg.header();
    let base = header.window_start;
    let mut b = SegmentBuilder::new(header);
    if !seg.partial().is_empty() {
        b.set_partial(seg.partial().iter().copied());
    }
    // A raw segment keeps its late generation (its late log, if any, applies on top of it).
    b.set_generation(seg.generation());
    let mut chunks = 0usize;
    let mut removed = 0u64;
    let (mut points, mut bs) = (Vec::new(), Vec::<Bucket>::new());
    let mut chunk = Vec::new();
    for e in &seg.footer().entries {
        if !hit(e) {
            let bytes = chunk_bytes(file, e).map_err(|c| (e.offset, c))?;
            b.add_chunk(e.series, e.points, e.min_ts, e.max_ts, bytes);
            chunks += 1;
            continue;
        }
        if e.min_ts >= from && e.max_ts < to {
            removed += u64::from(e.points);
            touched.insert(e.series);
            continue;
        }
        if seg.is_rollup() {
            bs.clear();
            crate::segment::format::read_rollup_chunk(file, e, &mut bs)
                .map_err(|c| (e.offset, c))?;
            let before = bs.len();
            bs.retain(|x| !(from..to).contains(&x.start));
            removed += (before - bs.len()) as u64;
            if before != bs.len() {
                touched.insert(e.series);
            }
            if let (Some(lo), Some(hi)) = (bs.first(), bs.last()) {
                chunk.clear();
                crate::rollup::format::encode_chunk_at(header.version, &bs, base, &mut chunk);
                b.add_chunk(e.series, bs.len() as u32, lo.start, hi.start, &chunk);
                chunks += 1;
            }
        } else {
            // With their sample counts and sums (a version-3 chunk's sums column), so that
            // a late sample later joins a kept point exactly.
            points.clear();
            crate::segment::format::read_raw_chunk_points(file, e, &mut points)
                .map_err(|c| (e.offset, c))?;
            let before = points.len();
            points.retain(|p| !(from..to).contains(&p.ts));
            removed += (before - points.len()) as u64;
            if before != points.len() {
                touched.insert(e.series);
            }
            if !points.is_empty() {
                b.add_raw_points(e.series, &points);
                chunks += 1;
            }
        }
    }
    let bytes = (chunks > 0 || !seg.partial().is_empty()).then(|| b.finish());
    Ok(Some(Without { bytes, removed }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::header::{FileKind, Header};
    use crate::segment::format::{RAW_VERSION, decode_footer};
    use std::path::Path;

    fn raw_segment(series: &[u32]) -> Segment {
        let header = Header {
            version: RAW_VERSION,
            ..Header::new(FileKind::Segment, 0, 600_000, 600_000)
        };
        let mut b = SegmentBuilder::new(header);
        for &id in series {
            let ts: Vec<i64> = (0..100).map(|k| 600_000 + k * 1_000).collect();
            let vs: Vec<f64> = (0..100)
                .map(|k| f64::from(id) * 1_000.0 + k as f64)
                .collect();
            b.add_raw_series(id, &ts, &vs);
        }
        Segment::from_bytes(Path::new("/x/raw/seg"), b.finish()).unwrap()
    }

    #[test]
    fn other_series_keep_their_chunks_bit_for_bit() {
        let seg = raw_segment(&[1, 2, 3]);
        let mut touched = BTreeSet::new();
        let out = without(&seg, &[2], 610_000, 620_000, &mut touched)
            .unwrap()
            .unwrap();
        assert_eq!(out.removed, 10);
        assert_eq!(touched, BTreeSet::from([2]));
        let new = Segment::from_bytes(Path::new("/x/raw/seg"), out.bytes.unwrap()).unwrap();
        assert_eq!(new.header(), seg.header());
        for id in [1, 3] {
            let (a, b) = (
                &seg.footer().entries_of(id)[0],
                &new.footer().entries_of(id)[0],
            );
            assert_eq!(
                chunk_bytes(seg.bytes(), a).unwrap(),
                chunk_bytes(new.bytes(), b).unwrap()
            );
            assert_eq!(
                (a.points, a.min_ts, a.max_ts),
                (b.points, b.min_ts, b.max_ts)
            );
        }
        let mut p = Vec::new();
        new.read_series(2, i64::MIN, i64::MAX, &mut p).unwrap();
        assert_eq!(p.len(), 90);
        assert!(p.iter().all(|x| !(610_000..620_000).contains(&x.0)));
        assert_eq!(p[10], (620_000, 2_020.0));
        assert_eq!(new.points(), 290);
        assert!(new.verify().is_empty());
        // Nothing of it in the range: nothing to do.
        assert!(
            without(&seg, &[4], 0, i64::MAX, &mut touched)
                .unwrap()
                .is_none()
        );
        assert!(
            without(&seg, &[2], 0, 600_000, &mut touched)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_segment_left_empty_goes_unless_it_records_damage() {
        let seg = raw_segment(&[1, 2]);
        let out = without(&seg, &[1, 2], i64::MIN, i64::MAX, &mut BTreeSet::new())
            .unwrap()
            .unwrap();
        assert!(out.bytes.is_none());
        assert_eq!(out.removed, 200);
        // A rollup segment with a partial range keeps the range, with no chunk.
        let header = Header::new(FileKind::Segment, 1, 0, 600_000);
        let mut b = SegmentBuilder::new(header);
        let bucket = Bucket {
            start: 60_000,
            count: 1,
            nan_count: 0,
            min: 1.0,
            max: 1.0,
            sum: 1.0,
            first: 1.0,
            last: 1.0,
            p95: 1.0,
            increase: None,
        };
        let mut chunk = Vec::new();
        crate::rollup::format::encode_chunk(&[bucket], 0, &mut chunk);
        b.add_chunk(7, 1, 60_000, 60_000, &chunk);
        b.set_partial([(120_000, 180_000)]);
        let seg = Segment::from_bytes(Path::new("/x/10s/seg"), b.finish()).unwrap();
        let out = without(&seg, &[7], 0, 100_000, &mut BTreeSet::new())
            .unwrap()
            .unwrap();
        assert_eq!(out.removed, 1);
        let bytes = out.bytes.expect("kept for its partial range");
        let f = decode_footer(&bytes, &header).unwrap();
        assert!(f.entries.is_empty());
        assert_eq!(f.partial, [(120_000, 180_000)]);
    }
}
