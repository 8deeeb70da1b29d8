//! Recomputing materialised rollup buckets from raw points, after late samples changed the
//! raw points under them. Buckets are never patched: every bucket of the affected pieces is
//! computed again from the raw points, exactly as materialisation computes it, and the tier
//! file holding them (a piece or a compacted span) is replaced atomically with its other
//! buckets unchanged.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::header::{FileKind, Header};
use crate::rollup::Bucket;
use crate::segment::Segment;
use crate::segment::codec::MAX_COLUMN_POINTS;
use crate::segment::format::{ROLLUP_TIER, SegmentBuilder};
use crate::store::{Shared, State, window_file_name};

/// Buckets per series id, each list in time order.
type PerSeries = std::collections::BTreeMap<u32, Vec<Bucket>>;

impl Shared {
    /// Recomputes the materialised buckets of `series` in every tier after late samples
    /// changed the raw window starting at `w`: those starting in that window, and in the
    /// next one when its raw segment is kept (a counter's first step there looks back into
    /// `w`). The other series' buckets stay as they are. Returns the buckets written. The
    /// caller holds the state lock (`st`) and the maintenance mutex.
    pub(crate) fn recompute_rollups(
        &self,
        st: &mut State,
        w: i64,
        series: &std::collections::BTreeSet<u32>,
    ) -> Result<u64> {
        let span = self.config.span_ms();
        let next = w.saturating_add(span);
        let mut written = self.recompute_range(st, w, next, series)?;
        // In the next window, only the series its raw segment holds: the others' raw points
        // there are gone (or never were), and their buckets stay as they are.
        let held = st.held_in(next, series);
        if !held.is_empty() {
            written += self.recompute_range(st, next, next.saturating_add(span), &held)?;
        }
        Ok(written)
    }

    /// [`Shared::recompute_rollups`] over `[from, to)` (widened to whole pieces).
    fn recompute_range(
        &self,
        st: &mut State,
        from: i64,
        to: i64,
        series: &std::collections::BTreeSet<u32>,
    ) -> Result<u64> {
        let span = self.config.span_ms();
        let mut written = 0;
        for idx in 0..st.tiers.len() {
            let (interval, piece, done) = {
                let t = &st.tiers[idx];
                (t.interval, t.piece, t.done_through)
            };
            let a = from.div_euclid(piece).saturating_mul(piece);
            // Only whole pieces below the mark are materialised.
            let b = to.min(done);
            let b = if b.rem_euclid(piece) == 0 {
                b
            } else {
                b.div_euclid(piece)
                    .saturating_mul(piece)
                    .saturating_add(piece)
            };
            let b = b.min(done);
            if a >= b {
                continue;
            }
            let fresh = self.buckets_from_raw(st, a, b, interval, piece, span, series)?;
            written += self.replace_buckets(st, idx, a, b, fresh, series)?;
        }
        Ok(written)
    }

    /// The buckets of `interval` starting in `[a, b)` (whole pieces of `piece`) of `series`
    /// computed from the sealed raw segments, as materialisation computes them.
    #[allow(clippy::too_many_arguments)]
    fn buckets_from_raw(
        &self,
        st: &State,
        a: i64,
        b: i64,
        interval: i64,
        piece: i64,
        span: i64,
        series: &std::collections::BTreeSet<u32>,
    ) -> Result<PerSeries> {
        let segs: Vec<&Arc<Segment>> = st.sealed.range(a..b).map(|(_, s)| s).collect();
        let lookback = st.sealed.get(&a.saturating_sub(span));
        let ids: Vec<u32> = series.iter().copied().collect();
        let mut out = PerSeries::new();
        let mut points = Vec::new();
        let mut before = Vec::new();
        for id in ids {
            points.clear();
            for seg in &segs {
                seg.read_series(id, a, b, &mut points)
                    .map_err(|(offset, what)| Error::corrupt(seg.path(), offset, what))?;
            }
            if points.is_empty() {
                continue;
            }
            let counter = st.registry.is_counter(id);
            before.clear();
            if counter && let Some(seg) = lookback {
                let _ = seg.read_series(id, i64::MIN, a, &mut before);
            }
            let mut buckets = Vec::new();
            crate::rollup::bucket::piece_buckets(
                &points, &before, a, b, piece, interval, span, counter, &mut buckets,
            );
            if !buckets.is_empty() {
                out.insert(id, buckets);
            }
        }
        Ok(out)
    }

    /// Replaces tier `idx`'s buckets of `series` starting in `[a, b)` with `fresh`: every
    /// file overlapping the range is written again with its other buckets unchanged; pieces
    /// of the range no file covers get a piece file of their own (when they have buckets).
    fn replace_buckets(
        &self,
        st: &mut State,
        idx: usize,
        a: i64,
        b: i64,
        mut fresh: PerSeries,
        series: &std::collections::BTreeSet<u32>,
    ) -> Result<u64> {
        let t = &st.tiers[idx];
        let (name, piece) = (t.name.clone(), t.piece);
        let lo = a.saturating_sub(t.max_span).saturating_add(1);
        let files: Vec<(i64, Arc<Segment>)> = t
            .segments
            .range(lo..b)
            .filter(|(s, seg)| s.saturating_add(seg.header().window_span) > a)
            .map(|(s, seg)| (*s, seg.clone()))
            .collect();
        if t.bad.range(lo..b).next().is_some() {
            log::warn!("tier {name}: a damaged file overlaps {a}..{b}; its buckets were not recomputed");
        }
        let mut written = 0;
        let mut jobs: Vec<(i64, i64, Option<Arc<Segment>>)> =
            files.iter().map(|(s, seg)| (*s, s + seg.header().window_span, Some(seg.clone()))).collect();
        // Pieces no file covers.
        let mut p = a;
        while p < b {
            let covered = files
                .iter()
                .any(|(s, seg)| *s <= p && s + seg.header().window_span > p);
            if !covered && fresh.values().any(|v| v.iter().any(|x| x.start >= p && x.start < p + piece)) {
                jobs.push((p, p + piece, None));
            }
            p += piece;
        }
        for (fs_, fe, old) in jobs {
            let mut per: PerSeries = PerSeries::new();
            let mut partial = Vec::new();
            if let Some(seg) = &old {
                partial.extend_from_slice(seg.partial());
                let mut ids: Vec<u32> = seg.footer().entries.iter().map(|e| e.series).collect();
                ids.dedup();
                let mut cursor = 0;
                for id in ids {
                    let v = per.entry(id).or_default();
                    seg.read_buckets_from(&mut cursor, id, i64::MIN, i64::MAX, v)
                        .map_err(|(offset, what)| Error::corrupt(seg.path(), offset, what))?;
                }
                for (id, v) in per.iter_mut() {
                    if series.contains(id) {
                        v.retain(|x| x.start < a || x.start >= b);
                    }
                }
            }
            for (id, v) in fresh.iter_mut() {
                let inside: Vec<Bucket> = v
                    .iter()
                    .filter(|x| x.start >= fs_ && x.start < fe)
                    .copied()
                    .collect();
                if !inside.is_empty() {
                    let dst = per.entry(*id).or_default();
                    dst.extend(inside);
                    dst.sort_by_key(|x| x.start);
                }
            }
            per.retain(|_, v| !v.is_empty());
            let path = self
                .tier_dir(&name)
                .join(window_file_name(fs_, crate::layout::SEGMENT_EXT));
            if per.is_empty() && partial.is_empty() {
                if old.is_some() {
                    self.fs.remove_synced(&path)?;
                    st.tiers[idx].segments.remove(&fs_);
                }
                continue;
            }
            let mut builder =
                SegmentBuilder::new(Header::new(FileKind::Segment, ROLLUP_TIER, fs_, fe - fs_));
            builder.set_partial(partial);
            let mut chunk = Vec::new();
            for (id, buckets) in &per {
                let runs = buckets.chunk_by(|x, y| x.increase.is_some() == y.increase.is_some());
                for part in runs.flat_map(|r| r.chunks(MAX_COLUMN_POINTS)) {
                    chunk.clear();
                    crate::rollup::format::encode_chunk(part, fs_, &mut chunk);
                    let (first, last) = (part[0].start, part[part.len() - 1].start);
                    builder.add_chunk(*id, part.len() as u32, first, last, &chunk);
                    written += part.iter().filter(|x| x.start >= a && x.start < b).count() as u64;
                }
            }
            self.fs.write_atomic(&path, &builder.finish())?;
            let seg = Arc::new(Segment::open_in(&self.fs, &path)?);
            let t = &mut st.tiers[idx];
            t.max_span = t.max_span.max(fe - fs_);
            t.segments.insert(fs_, seg);
        }
        Ok(written)
    }
}
