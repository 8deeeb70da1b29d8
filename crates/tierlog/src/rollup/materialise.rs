//! Rollup tiers in the store: loading their segments at open, and the executor that
//! materialises the pieces [`crate::rollup::plan`] decides on.
//!
//! A piece is materialised from sealed raw segments only (it is final once the raw windows
//! it spans are sealed), into one immutable segment file per tier,
//! `<tier>/<piece start>.seg`, written temp → fsync → rename → fsync dir. Each tier's
//! `done_through` mark (persisted in the state file) is raised after the file is in place;
//! at open it is also raised to the end of the newest piece file present, so a crash between
//! the two neither loses nor repeats a piece. Pieces without any raw point get no file, unless
//! raw data of theirs was damaged: the file then records the damaged time (its partial ranges)
//! so that answers over it say they are partial long after the raw segment is gone.
//!
//! Pieces are small (20 min by default) so buckets appear soon after their raw data is final.
//! Once every piece of a tier's **segment span** ([`segment_span`]: 2 h for `10s`, a day for
//! `60s` with the default keep times) is materialised, the pieces are **compacted** into one
//! segment of that span: one chunk per series instead of one per piece (less per-chunk
//! overhead), a few files per tier instead of thousands, and the unit retention drops. The
//! compacted file is written under the name of the span's first piece (temp → fsync → rename
//! replaces it atomically), then the other pieces are removed; a file covered by an earlier
//! file of a longer span is redundant (a crash came between the two steps) and is removed at
//! open.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;


use crate::store::{BadSegment, Shared, parse_window_file_name, window_file_name};
use crate::config::{Config, Tier};
use crate::error::{Corruption, Error, Result};
use crate::segment::codec::MAX_COLUMN_POINTS;
use crate::format::header::{FileKind, Header};
use crate::segment::format::{ROLLUP_TIER, SegmentBuilder};
use crate::state::format::{State as StateFile, TierState};
use crate::vfs;
use crate::rollup::plan::{self, Piece, TierProgress};
use crate::rollup::Bucket;
use crate::segment::Segment;

/// Pieces per tier one background maintenance pass materialises at most (an explicit
/// [`crate::Store::maintain`] catches up completely).
pub(crate) const BACKGROUND_PIECES: usize = 8;

/// A rollup tier of an open store.
#[derive(Debug)]
pub(crate) struct TierData {
    pub(crate) name: String,
    /// Bucket width, ms.
    pub(crate) interval: i64,
    /// Keep time, ms.
    pub(crate) keep: i64,
    /// Piece width, ms.
    pub(crate) piece: i64,
    /// Span pieces are compacted into, ms (a multiple of the piece).
    pub(crate) span: i64,
    /// Longest span of any segment held (for range lookups by start).
    pub(crate) max_span: i64,
    /// Exclusive end of the materialised range; `i64::MIN` before the first piece.
    pub(crate) done_through: i64,
    pub(crate) segments: BTreeMap<i64, Arc<Segment>>,
    pub(crate) bad: BTreeMap<i64, BadSegment>,
    /// Spans whose compaction found damage: left as pieces until the next open.
    pub(crate) no_compact: std::collections::BTreeSet<i64>,
}

impl TierData {
    /// True when a segment (readable or damaged) of the tier overlaps `[from, to)`: one that
    /// starts inside, or an earlier, longer one reaching into it (spans from another keep time).
    pub(crate) fn holds_any(&self, from: i64, to: i64) -> bool {
        let reaches = |start: i64, span: i64| start < to && start.saturating_add(span) > from;
        let lo = from.saturating_sub(self.max_span).saturating_add(1);
        self.segments
            .range(lo..to)
            .any(|(&s, seg)| reaches(s, seg.header().window_span))
            || self.bad.range(lo..to).any(|(&s, _)| reaches(s, self.piece))
    }

    pub(crate) fn state(&self) -> TierState {
        TierState {
            name: self.name.clone(),
            interval: self.interval,
            keep: self.keep,
            done_through: self.done_through,
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// The span a tier's pieces are compacted into: about a twelfth of its keep time — dropping
/// one segment then removes at most ~8 % of the tier's history — capped at a day (so a
/// store with a small byte budget never loses more than a day of a tier at once), and a
/// multiple of the piece, at least one.
pub fn segment_span(piece_ms: i64, keep_ms: i64) -> i64 {
    let target = (keep_ms / 12).clamp(piece_ms, DAY_MS.max(piece_ms));
    piece_ms * (target / piece_ms).max(1)
}

/// What materialisation did in one maintenance pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RollupReport {
    /// Pieces materialised (one per tier and piece, with or without data).
    pub pieces: u64,
    /// Raw points read (once per piece, however many tiers share it).
    pub raw_points: u64,
    /// Buckets written.
    pub buckets: u64,
    /// Bytes of the new rollup segments.
    pub bytes: u64,
    /// Ranges `(tier, from ms, to ms)` that could not be materialised because their raw
    /// points were already gone.
    pub lost: Vec<(String, i64, i64)>,
    /// Raw data that could not be read (damaged); the buckets were computed without it.
    pub warnings: Vec<String>,
    /// Segment spans whose pieces were compacted into one file.
    pub compacted: u64,
    /// Bytes of the compacted files.
    pub compacted_bytes: u64,
}

/// The tier list of the store being opened: a writer's configured tiers checked against
/// the ones the store has (`saved`), or a reader's adopted from it.
pub(crate) fn tier_list(
    config: &mut Config,
    saved: Option<&StateFile>,
    read_only: bool,
) -> Result<Vec<(Tier, i64)>> {
    let saved_tiers: &[TierState] = saved.map_or(&[], |s| &s.tiers);
    let ms = |d: std::time::Duration| d.as_millis().min(i64::MAX as u128) as i64;
    if read_only {
        config.tiers = Some(
            saved_tiers
                .iter()
                .map(|t| {
                    let d = |v: i64| std::time::Duration::from_millis(v.max(0) as u64);
                    Tier::new(&t.name, d(t.interval), d(t.keep))
                })
                .collect(),
        );
        return Ok(config
            .tiers()
            .iter()
            .zip(saved_tiers)
            .map(|(t, s)| (t.clone(), s.done_through))
            .collect());
    }
    for s in saved_tiers {
        match config.tiers().iter().find(|t| t.name == s.name) {
            None => {
                return Err(Error::Config {
                    setting: "tiers",
                    message: format!(
                        "the store has a tier {:?} ({} ms buckets) that the configuration lacks; configure it",
                        s.name, s.interval
                    ),
                });
            }
            Some(t) if ms(t.interval) != s.interval => {
                return Err(Error::Config {
                    setting: "tiers",
                    message: format!(
                        "the store's tier {:?} has {} ms buckets, the configuration {:?}",
                        s.name, s.interval, t.interval
                    ),
                });
            }
            Some(_) => {}
        }
    }
    Ok(config
        .tiers()
        .iter()
        .map(|t| {
            let done = saved_tiers
                .iter()
                .find(|s| s.name == t.name)
                .map_or(i64::MIN, |s| s.done_through);
            (t.clone(), done)
        })
        .collect())
}

/// Loads every tier's segments; a writer creates missing tier directories and removes
/// temporary files an interrupted materialisation left.
pub(crate) fn load_tiers(
    fs: &vfs::Fs,
    dir: &Path,
    tiers: Vec<(Tier, i64)>,
    span: i64,
    read_only: bool,
) -> Result<Vec<TierData>> {
    let mut out = Vec::with_capacity(tiers.len());
    for (t, done) in tiers {
        let interval = t.interval.as_millis() as i64;
        let Some(piece) = plan::checked_piece_span(span, interval).filter(|_| interval % 1000 == 0)
        else {
            // Only a damaged or hostile state file lists such a tier (writers validate theirs).
            log::error!(
                "tier {:?}: interval {interval} ms is not usable; ignored",
                t.name
            );
            continue;
        };
        let keep = t.keep.as_millis().min(i64::MAX as u128) as i64;
        let tdir = dir.join(&t.name);
        if !read_only {
            fs.create_dir_all(&tdir)?;
            crate::store::open::remove_temp_files(fs, &tdir)?;
        }
        let mut data = TierData {
            name: t.name,
            interval,
            keep,
            piece,
            span: segment_span(piece, keep),
            max_span: segment_span(piece, keep),
            done_through: done,
            segments: BTreeMap::new(),
            bad: BTreeMap::new(),
            no_compact: Default::default(),
        };
        let names = if fs.is_dir(&tdir) {
            fs.list_files(&tdir)?
        } else {
            Vec::new()
        };
        for name in names {
            let Some((start, crate::layout::SEGMENT_EXT)) = parse_window_file_name(&name) else {
                continue;
            };
            let path = tdir.join(&name);
            match Segment::open_in(fs, &path).and_then(|s| check_piece(s, start, piece)) {
                Ok(seg) => {
                    let end = start.saturating_add(seg.header().window_span);
                    data.max_span = data.max_span.max(seg.header().window_span);
                    // A piece file present is materialised, whatever the mark says yet.
                    data.done_through = data.done_through.max(end);
                    data.segments.insert(start, Arc::new(seg));
                }
                Err(Error::Io { source, .. })
                    if read_only && source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    log::error!("{}: {e}", path.display());
                    data.bad.insert(
                        start,
                        BadSegment {
                            bytes: fs.file_len(&path),
                            path,
                            error: e.to_string(),
                        },
                    );
                }
            }
        }
        // Files inside the span of an earlier, longer file were compacted into it: the crash
        // came before they were removed.
        let mut covered_until = i64::MIN;
        let mut redundant = Vec::new();
        let mut overlapping = Vec::new();
        for (&start, seg) in &data.segments {
            let end = start.saturating_add(seg.header().window_span);
            if start < covered_until {
                if end > covered_until {
                    // Should not happen; keep both files, serve the earlier, report this one.
                    overlapping.push(start);
                } else {
                    redundant.push(start);
                }
            } else {
                covered_until = end;
            }
        }
        for start in overlapping {
            let seg = data.segments.remove(&start).expect("listed above");
            let path = seg.path().to_owned();
            log::error!(
                "{}: overlaps an earlier segment of its tier",
                path.display()
            );
            data.bad.insert(
                start,
                BadSegment {
                    bytes: fs.file_len(&path),
                    path,
                    error: "rollup segment overlaps an earlier one partly".into(),
                },
            );
        }
        for start in redundant {
            let seg = data.segments.remove(&start).expect("listed above");
            if !read_only {
                log::warn!("{}: already compacted; removing it", seg.path().display());
                fs.remove_synced(seg.path())?;
            }
        }
        out.push(data);
    }
    Ok(out)
}

/// Checks a rollup segment's header against its name: a piece, or a compacted span of whole
/// pieces aligned to its own span.
pub(crate) fn check_piece(seg: Segment, start: i64, piece: i64) -> Result<Segment> {
    let h = seg.header();
    if h.window_start != start
        || !plan::rollup_span_ok(start, h.window_span, piece)
        || h.tier != ROLLUP_TIER
    {
        return Err(Error::corrupt(
            seg.path(),
            0,
            Corruption::BadField {
                what: "rollup segment header does not match its name or tier",
            },
        ));
    }
    Ok(seg)
}

impl Shared {
    pub(crate) fn tier_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Materialises due pieces: at most `max_pieces` per tier, or everything due (`None`).
    /// The caller holds the maintenance mutex. No store lock is held across I/O.
    pub(crate) fn materialise(&self, max_pieces: Option<usize>) -> Result<RollupReport> {
        let mut report = RollupReport::default();
        loop {
            let (progress, raw_oldest, through) = {
                let st = self.state.read();
                let progress: Vec<TierProgress> = st
                    .tiers
                    .iter()
                    .map(|t| TierProgress {
                        interval_ms: t.interval,
                        piece_ms: t.piece,
                        done_through: (t.done_through != i64::MIN).then_some(t.done_through),
                    })
                    .collect();
                // Final = every raw window before `through` sealed: below the sealed mark, and
                // not below a window still open or being sealed (after a clock step back,
                // windows beyond the future limit seal before older ones that are not due).
                let through = [st.open.keys().next(), st.sealing.keys().next()]
                    .into_iter()
                    .flatten()
                    .fold(st.sealed_through, |t, &w| t.min(w));
                (progress, st.oldest_raw_window(), through)
            };
            if progress.is_empty() {
                return Ok(report);
            }
            // Final = every raw window of the piece sealed (windows seal at end + grace).
            let p = plan::plan(&progress, raw_oldest, through, 0, max_pieces.unwrap_or(64));
            if !p.lost.is_empty() {
                let mut st = self.state.write();
                for &(tier, from, to) in &p.lost {
                    let t = &mut st.tiers[tier];
                    log::warn!(
                        "tier {}: raw data for {from}..{to} is gone; those buckets cannot be computed",
                        t.name
                    );
                    report.lost.push((t.name.clone(), from, to));
                    t.done_through = t.done_through.max(to);
                }
            }
            if p.pieces.is_empty() {
                if !p.lost.is_empty() {
                    self.persist_state()?;
                }
                return Ok(report);
            }
            // A run of pieces that makes up a whole segment span of a tier with no file in it
            // yet (catching up) is materialised as one compacted segment straight away,
            // rather than as pieces compacted later. Tiers sharing a piece or span read its
            // raw points once.
            report.pieces += p.pieces.len() as u64;
            let mut pieces = self.merge_whole_spans(p.pieces);
            // Overlapping outputs form a group whose raw points are read once.
            pieces.sort_by_key(|p| (p.start, p.end, p.tier));
            let mut i = 0;
            while i < pieces.len() {
                let (start, mut end) = (pieces[i].start, pieces[i].end);
                let mut j = i + 1;
                while j < pieces.len() && pieces[j].start < end {
                    end = end.max(pieces[j].end);
                    j += 1;
                }
                self.materialise_group(start, end, &pieces[i..j], &mut report)?;
                i = j;
            }
            self.persist_state()?;
            if max_pieces.is_some() {
                return Ok(report);
            }
        }
    }

    /// Replaces each run of planned pieces of a tier that reaches the end of one of its
    /// segment spans, in which it has no segment yet, by that span. The span's pieces before
    /// the run are already materialised without data, or precede the oldest raw data: the
    /// span's file holds the same buckets either way.
    fn merge_whole_spans(&self, pieces: Vec<Piece>) -> Vec<Piece> {
        let st = self.state.read();
        let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
        let mut i = 0;
        while i < pieces.len() {
            let p = pieces[i];
            let t = &st.tiers[p.tier];
            let span_start = p.start.div_euclid(t.span) * t.span;
            let span_end = span_start.saturating_add(t.span);
            let run = pieces[i..]
                .iter()
                .take_while(|q| q.tier == p.tier && q.end <= span_end)
                .count();
            let last = pieces[i + run - 1];
            if t.span > t.piece && last.end == span_end && !t.holds_any(span_start, span_end) {
                out.push(Piece {
                    tier: p.tier,
                    start: span_start,
                    end: span_end,
                });
            } else {
                out.extend_from_slice(&pieces[i..i + run]);
            }
            i += run;
        }
        out
    }

    /// Computes and writes the buckets of `outputs` (each a tier's piece or whole segment
    /// span, all within `[start, end)`), reading the raw points of `[start, end)` once.
    /// Files are put in place after all are computed, each tier's in time order; the marks
    /// are raised as they are.
    fn materialise_group(
        &self,
        start: i64,
        end: i64,
        outputs: &[Piece],
        report: &mut RollupReport,
    ) -> Result<()> {
        let span = self.config.span_ms();
        // Time whose raw points could not all be read: recorded in the files written (a
        // piece with nothing but damage still gets one), so later answers over it say they
        // are partial after the raw segment is gone.
        let mut damaged: Vec<(i64, i64)> = Vec::new();
        let (segs, lookback, counter, specs) = {
            let st = self.state.read();
            let segs: Vec<Arc<Segment>> = st
                .sealed
                .range(start..end)
                .map(|(_, s)| s.clone())
                .collect();
            for (&s, bad) in st.bad.range(start..end) {
                damaged.push((s, s.saturating_add(span)));
                report.warnings.push(format!(
                    "raw segment {} is damaged ({}); its points are missing from the rollups of {start}..{end}",
                    bad.path.display(),
                    bad.error
                ));
            }
            let lookback = st.sealed.get(&start.saturating_sub(span)).cloned();
            let counter = st.registry.counter_flags();
            // (name, interval, piece) per output.
            let specs: Vec<(String, i64, i64)> = outputs
                .iter()
                .map(|o| {
                    let t = &st.tiers[o.tier];
                    (t.name.clone(), t.interval, t.piece)
                })
                .collect();
            (segs, lookback, counter, specs)
        };
        let mut ids: Vec<u32> = segs
            .iter()
            .flat_map(|s| s.footer().entries.iter().map(|e| e.series))
            .collect();
        ids.sort_unstable();
        ids.dedup();

        let mut files: Vec<Option<SegmentBuilder<vfs::AtomicFile>>> =
            outputs.iter().map(|_| None).collect();
        let mut cursors = vec![0usize; segs.len()];
        let mut look_cursor = 0usize;
        let mut points: Vec<(i64, f64)> = Vec::new();
        let mut before: Vec<(i64, f64)> = Vec::new();
        let mut buckets: Vec<Bucket> = Vec::new();
        let mut chunk: Vec<u8> = Vec::new();
        let write_err = |path: &Path, e: std::io::Error| Error::io(path, "write", e);
        for &id in &ids {
            points.clear();
            for (seg, cursor) in segs.iter().zip(&mut cursors) {
                if let Err((offset, what)) =
                    seg.read_series_from(cursor, id, start, end, &mut points)
                {
                    // The damaged chunk's time (the whole window if it cannot be found).
                    let h = seg.header();
                    damaged.push(
                        seg.footer()
                            .entries
                            .iter()
                            .find(|e| e.offset == offset)
                            .map_or(
                                (h.window_start, h.window_start.saturating_add(h.window_span)),
                                |e| (e.min_ts, e.max_ts.saturating_add(1)),
                            ),
                    );
                    report.warnings.push(format!(
                        "{} at offset {offset}: {what}; series {id} is missing from the rollups of {start}..{end}",
                        seg.path().display()
                    ));
                }
            }
            if points.is_empty() {
                continue;
            }
            report.raw_points += points.len() as u64;
            let is_counter = counter.get(id as usize).copied().unwrap_or(false);
            // The raw window before the group, for a counter's first step.
            before.clear();
            if is_counter && let Some(seg) = &lookback {
                let _ = seg.read_series_from(&mut look_cursor, id, i64::MIN, start, &mut before);
            }
            for ((o, (name, interval, piece)), file) in outputs.iter().zip(&specs).zip(&mut files) {
                buckets.clear();
                // Piece by piece; a counter's steps follow the window rule (`step_counts`),
                // which needs at most the raw window before the piece.
                crate::rollup::bucket::piece_buckets(
                    &points, &before, o.start, o.end, *piece, *interval, span, is_counter,
                    &mut buckets,
                );
                if buckets.is_empty() {
                    continue;
                }
                let b = match file {
                    Some(b) => b,
                    None => file.insert(self.rollup_file(name, o)?),
                };
                for part in buckets.chunks(MAX_COLUMN_POINTS) {
                    chunk.clear();
                    crate::rollup::format::encode_chunk(part, o.start, &mut chunk);
                    let (lo, hi) = (part[0].start, part[part.len() - 1].start);
                    b.try_add_chunk(id, part.len() as u32, lo, hi, &chunk)
                        .map_err(|e| write_err(&self.tier_dir(name), e))?;
                }
            }
        }
        let damaged = crate::segment::format::merge_ranges(damaged);
        for ((o, (name, _, piece)), mut file) in outputs.iter().zip(&specs).zip(files) {
            let partial: Vec<(i64, i64)> = damaged
                .iter()
                .filter(|r| r.0 < o.end && r.1 > o.start)
                .copied()
                .collect();
            if !partial.is_empty() {
                let b = match &mut file {
                    Some(b) => b,
                    None => file.insert(self.rollup_file(name, o)?),
                };
                b.set_partial(partial);
            }
            let seg = match file {
                Some(b) => {
                    let n = b.points();
                    let path = self.tier_dir(name).join(window_file_name(o.start, crate::layout::SEGMENT_EXT));
                    let f = b.finish_writer().map_err(|e| write_err(&path, e))?;
                    f.commit()?;
                    report.buckets += n;
                    report.bytes += self.fs.file_len(&path);
                    Some(Arc::new(check_piece(
                        Segment::open_in(&self.fs, &path)?,
                        o.start,
                        *piece,
                    )?))
                }
                None => None,
            };
            let mut st = self.state.write();
            let t = &mut st.tiers[o.tier];
            if let Some(seg) = seg {
                t.max_span = t.max_span.max(o.end - o.start);
                t.segments.insert(o.start, seg);
            }
            t.done_through = t.done_through.max(o.end);
        }
        Ok(())
    }
}

/// Rollup segments by start.
type Pieces = Vec<(i64, Arc<Segment>)>;

impl Shared {
    /// A new rollup segment file for output `o` of tier `name`, streamed to its temporary
    /// file.
    fn rollup_file(&self, name: &str, o: &Piece) -> Result<SegmentBuilder<vfs::AtomicFile>> {
        let path = self
            .tier_dir(name)
            .join(window_file_name(o.start, crate::layout::SEGMENT_EXT));
        let f = self.fs.atomic_file(&path)?;
        let h = Header::new(FileKind::Segment, ROLLUP_TIER, o.start, o.end - o.start);
        SegmentBuilder::to_writer(h, f).map_err(|e| Error::io(&path, "write", e))
    }
}

impl Shared {
    /// Compacts the pieces of every tier span that is fully materialised into one segment of
    /// the span: at most `max_spans` per tier, or all (`None`). The caller holds the
    /// maintenance mutex; no store lock is held across I/O.
    pub(crate) fn compact(
        &self,
        max_spans: Option<usize>,
        report: &mut RollupReport,
    ) -> Result<()> {
        let tiers = self.state.read().tiers.len();
        for idx in 0..tiers {
            let (name, todo) = {
                let st = self.state.read();
                let t = &st.tiers[idx];
                let mut groups: BTreeMap<i64, Pieces> = BTreeMap::new();
                for (&start, seg) in &t.segments {
                    groups
                        .entry(start.div_euclid(t.span) * t.span)
                        .or_default()
                        .push((start, seg.clone()));
                }
                let todo: Vec<(i64, i64, Pieces)> = groups
                    .into_iter()
                    .filter(|(d, segs)| {
                        let end = d.saturating_add(t.span);
                        // Nothing from outside the group may reach into the span (a longer
                        // segment from an earlier keep time), and nothing in it is damaged
                        // or known not to compact.
                        let earlier =
                            t.segments.range(..*d).next_back().is_some_and(|(&s, g)| {
                                s.saturating_add(g.header().window_span) > *d
                            });
                        segs.len() >= 2
                            && end <= t.done_through
                            && segs
                                .iter()
                                .all(|(s, g)| s.saturating_add(g.header().window_span) <= end)
                            && !earlier
                            && !t.bad.range(*d..end).any(|_| true)
                            && !t.no_compact.contains(d)
                    })
                    .map(|(d, segs)| (d, t.span, segs))
                    .take(max_spans.unwrap_or(usize::MAX))
                    .collect();
                (t.name.clone(), todo)
            };
            for (start, span, segs) in todo {
                self.compact_span(idx, &name, start, span, &segs, report)?;
            }
        }
        Ok(())
    }

    fn compact_span(
        &self,
        idx: usize,
        name: &str,
        start: i64,
        span: i64,
        segs: &[(i64, Arc<Segment>)],
        report: &mut RollupReport,
    ) -> Result<()> {
        let mut ids: Vec<u32> = segs
            .iter()
            .flat_map(|(_, s)| s.footer().entries.iter().map(|e| e.series))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let dir = self.tier_dir(name);
        let path = dir.join(window_file_name(start, crate::layout::SEGMENT_EXT));
        let write_err = |e: std::io::Error| Error::io(&path, "write", e);
        let f = self.fs.atomic_file(&path)?;
        let h = Header::new(FileKind::Segment, ROLLUP_TIER, start, span);
        let mut b = SegmentBuilder::to_writer(h, f).map_err(write_err)?;
        // The pieces' partial ranges carry over: compaction never hides damage.
        b.set_partial(segs.iter().flat_map(|(_, s)| s.partial().iter().copied()));
        let mut cursors = vec![0usize; segs.len()];
        let mut buckets: Vec<Bucket> = Vec::new();
        let mut chunk = Vec::new();
        for &id in &ids {
            buckets.clear();
            for ((_, seg), cursor) in segs.iter().zip(&mut cursors) {
                if let Err((offset, what)) =
                    seg.read_buckets_from(cursor, id, i64::MIN, i64::MAX, &mut buckets)
                {
                    // Never compact damage away: leave the pieces as they are, and do not
                    // try this span again (later spans still compact).
                    report.warnings.push(format!(
                        "{} at offset {offset}: {what}; tier {name} span {start} not compacted",
                        seg.path().display()
                    ));
                    self.state.write().tiers[idx].no_compact.insert(start);
                    return Ok(());
                }
            }
            // A chunk's buckets all have an increase or none has: a metric that became a
            // counter mid-span gets one chunk per run.
            let runs = buckets.chunk_by(|a, b| a.increase.is_some() == b.increase.is_some());
            for part in runs.flat_map(|r| r.chunks(MAX_COLUMN_POINTS)) {
                chunk.clear();
                crate::rollup::format::encode_chunk(part, start, &mut chunk);
                let (lo, hi) = (part[0].start, part[part.len() - 1].start);
                b.try_add_chunk(id, part.len() as u32, lo, hi, &chunk)
                    .map_err(write_err)?;
            }
        }
        // Replaces the span's first piece (if it has one) atomically; the others are
        // redundant from here on and removed below (or at the next open after a crash).
        b.finish_writer().map_err(write_err)?.commit()?;
        let bytes = self.fs.file_len(&path);
        let seg = Arc::new(Segment::open_in(&self.fs, &path)?);
        {
            let mut st = self.state.write();
            let t = &mut st.tiers[idx];
            for (s, _) in segs {
                t.segments.remove(s);
            }
            t.segments.insert(start, seg);
            t.max_span = t.max_span.max(span);
        }
        for (s, seg) in segs {
            if *s != start {
                self.fs.remove_synced(seg.path())?;
            }
        }
        report.compacted += 1;
        report.compacted_bytes += bytes;
        Ok(())
    }
}
