//! Sealed segment files (`<tier>/<start>.seg`): header, checksummed chunks, a footer index and
//! a fixed trailer. Pure bytes; see `format-spec/segment.md`.
//!
//! ```text
//! header   32 bytes (format::header, magic TLOGSEG1)
//! chunks   for each footer entry, in order: chunk bytes, then CRC-32C of them (u32 LE)
//! footer   varint entry count, then per entry (all varints, signed ones zigzag):
//!            series id delta (from the previous entry's id; the first from 0)
//!            point count
//!            chunk length in bytes (without its CRC)
//!            min ts - window start (signed)
//!            max ts - min ts
//!          version >= 2 only: varint partial-range count, then per range
//!            from - window start (signed), to - from
//!          version >= 3 only: varint late generation (raw segments)
//! trailer  32 bytes:
//!            0  u64 LE footer offset
//!            8  u32 LE footer length
//!           12  u32 LE CRC-32C of the footer
//!           16  u64 LE total points
//!           24  u32 LE CRC-32C of trailer bytes 0..24
//!           28  4 bytes "TLSE"
//! ```
//! Chunk offsets are implicit: the first chunk starts right after the header, each next one
//! after the previous chunk and its CRC.

use crate::error::Corruption;
use crate::format::bytes::{Reader, put_svarint, put_varint};
use crate::segment::codec::{self, MAX_COLUMN_POINTS};
use crate::format::crc;
use crate::format::header::{HEADER_LEN, Header};

/// The first segment version whose footer ends with the partial ranges (time a rollup
/// segment's buckets were computed without damaged raw data).
pub const PARTIAL_SINCE: u16 = 2;
/// The version raw segments are written at: they never have partial ranges, and version 1
/// keeps them readable by builds that predate the ranges.
pub const RAW_VERSION: u16 = 1;

/// The first segment version whose raw chunks may end with a sums column (the sample count
/// and exact sum of each point of more than one sample) and whose footer ends with the late
/// generation. Raw segments are written at this version only when they need either.
pub const SUMS_SINCE: u16 = 3;

/// Size of the trailer.
pub const TRAILER_LEN: usize = 32;
/// Last 4 bytes of every segment.
pub const TRAILER_MAGIC: [u8; 4] = *b"TLSE";

/// One footer entry: where a series' chunk is and what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkEntry {
    /// Series id.
    pub series: u32,
    /// Points in the chunk.
    pub points: u32,
    /// File offset of the chunk's first byte.
    pub offset: u64,
    /// Chunk length in bytes, without the CRC that follows it.
    pub len: u32,
    /// Earliest timestamp in the chunk, ms.
    pub min_ts: i64,
    /// Latest timestamp in the chunk, ms.
    pub max_ts: i64,
}

/// Builds a segment, in memory (`SegmentBuilder::new`, the bytes come from
/// [`SegmentBuilder::finish`]) or streamed to any writer (`SegmentBuilder::to_writer`, only the
/// footer entries stay in memory; [`SegmentBuilder::finish_writer`]).
#[derive(Debug)]
pub struct SegmentBuilder<W: std::io::Write = Vec<u8>> {
    header: Header,
    body: W,
    /// Bytes written to `body` so far.
    len: u64,
    entries: Vec<ChunkEntry>,
    points: u64,
    /// Chunk bytes and CRC, staged so a writer sees one call per chunk.
    staged: Vec<u8>,
    /// Partial ranges (version >= [`PARTIAL_SINCE`]).
    partial: Vec<(i64, i64)>,
    /// The late generation (version >= [`SUMS_SINCE`]).
    generation: u64,
    /// The header's version was raised after the header was written (in-memory builder
    /// only): [`SegmentBuilder::finish`] writes it again.
    header_raised: bool,
}

impl SegmentBuilder<Vec<u8>> {
    /// A builder for a segment with this header, in memory.
    pub fn new(header: Header) -> Self {
        let body = Vec::with_capacity(1 << 16);
        SegmentBuilder::to_writer(header, body).expect("writing to a Vec cannot fail")
    }

    /// Adds one already-encoded chunk.
    pub fn add_chunk(&mut self, series: u32, points: u32, min_ts: i64, max_ts: i64, chunk: &[u8]) {
        self.try_add_chunk(series, points, min_ts, max_ts, chunk)
            .expect("writing to a Vec cannot fail");
    }

    /// The complete file bytes.
    pub fn finish(self) -> Vec<u8> {
        let raised = self.header_raised.then(|| self.header.encode());
        let mut file = self.finish_writer().expect("writing to a Vec cannot fail");
        if let Some(h) = raised {
            file[..HEADER_LEN].copy_from_slice(&h);
        }
        file
    }

    /// Raises a raw segment to version [`SUMS_SINCE`] (the header is written again at
    /// [`SegmentBuilder::finish`]).
    fn raise_to_sums(&mut self) {
        if self.header.version < SUMS_SINCE {
            self.header.version = SUMS_SINCE;
            self.header_raised = true;
        }
    }

    /// Records the late generation: the number of the last late log whose samples this
    /// segment holds (`format-spec/segment.md`). A non-zero generation raises the segment
    /// to version [`SUMS_SINCE`].
    pub fn set_generation(&mut self, generation: u64) {
        if generation != 0 {
            self.raise_to_sums();
        }
        self.generation = generation;
    }
}

impl<W: std::io::Write> SegmentBuilder<W> {
    /// A builder streaming the segment to `body` (the header is written at once).
    pub fn to_writer(header: Header, mut body: W) -> std::io::Result<Self> {
        let h = header.encode();
        body.write_all(&h)?;
        Ok(SegmentBuilder {
            header,
            body,
            len: h.len() as u64,
            entries: Vec::new(),
            points: 0,
            staged: Vec::new(),
            partial: Vec::new(),
            generation: 0,
            header_raised: false,
        })
    }

    /// Adds one already-encoded chunk. Series must be added in ascending id order.
    pub fn try_add_chunk(
        &mut self,
        series: u32,
        points: u32,
        min_ts: i64,
        max_ts: i64,
        chunk: &[u8],
    ) -> std::io::Result<()> {
        debug_assert!(self.entries.last().is_none_or(|e| e.series <= series));
        self.staged.clear();
        self.staged.extend_from_slice(chunk);
        self.staged.extend_from_slice(&crc(chunk).to_le_bytes());
        self.body.write_all(&self.staged)?;
        self.entries.push(ChunkEntry {
            series,
            points,
            offset: self.len,
            len: chunk.len() as u32,
            min_ts,
            max_ts,
        });
        self.len += self.staged.len() as u64;
        self.points += u64::from(points);
        Ok(())
    }

    /// Number of points added so far.
    pub fn points(&self) -> u64 {
        self.points
    }

    /// Records the time ranges `[from, to)` whose buckets were computed without damaged raw
    /// data (a rollup segment of version >= [`PARTIAL_SINCE`]). Ranges are clipped to the
    /// segment's window, sorted and merged; empty ones are dropped.
    pub fn set_partial(&mut self, ranges: impl IntoIterator<Item = (i64, i64)>) {
        let (lo, hi) = (
            self.header.window_start,
            self.header.window_start.saturating_add(self.header.window_span),
        );
        self.partial = merge_ranges(ranges.into_iter().map(|(a, b)| (a.max(lo), b.min(hi))));
        debug_assert!(self.partial.is_empty() || self.header.version >= PARTIAL_SINCE);
    }

    /// Writes the footer and the trailer; returns the writer and the file's length.
    pub fn finish_writer(mut self) -> std::io::Result<W> {
        let footer_offset = self.len;
        let mut footer = Vec::with_capacity(self.entries.len() * 8 + 4);
        put_varint(&mut footer, self.entries.len() as u64);
        let mut prev_series = 0u32;
        for e in &self.entries {
            put_varint(&mut footer, u64::from(e.series - prev_series));
            put_varint(&mut footer, u64::from(e.points));
            put_varint(&mut footer, u64::from(e.len));
            put_svarint(&mut footer, e.min_ts.wrapping_sub(self.header.window_start));
            put_varint(&mut footer, e.max_ts.wrapping_sub(e.min_ts) as u64);
            prev_series = e.series;
        }
        if self.header.version >= PARTIAL_SINCE {
            put_varint(&mut footer, self.partial.len() as u64);
            for &(from, to) in &self.partial {
                put_svarint(&mut footer, from.wrapping_sub(self.header.window_start));
                put_varint(&mut footer, to.wrapping_sub(from) as u64);
            }
        }
        if self.header.version >= SUMS_SINCE {
            put_varint(&mut footer, self.generation);
        }
        let mut t = [0u8; TRAILER_LEN];
        t[0..8].copy_from_slice(&footer_offset.to_le_bytes());
        t[8..12].copy_from_slice(&(footer.len() as u32).to_le_bytes());
        t[12..16].copy_from_slice(&crc(&footer).to_le_bytes());
        t[16..24].copy_from_slice(&self.points.to_le_bytes());
        let tc = crc(&t[0..24]);
        t[24..28].copy_from_slice(&tc.to_le_bytes());
        t[28..32].copy_from_slice(&TRAILER_MAGIC);
        footer.extend_from_slice(&t);
        self.body.write_all(&footer)?;
        Ok(self.body)
    }
}

impl SegmentBuilder<Vec<u8>> {
    /// Adds the raw points of one series (timestamps strictly increasing) with their sample
    /// counts and sums: a chunk holding a point of more than one sample ends with a sums
    /// column, which raises the segment to version [`SUMS_SINCE`]. Series must be added in
    /// ascending id order; long series are split into several chunks.
    pub fn add_raw_points(&mut self, series: u32, points: &[crate::head::RawPoint]) {
        let mut chunk = Vec::new();
        let base = self.header.window_start;
        let (mut rel, mut vs) = (Vec::new(), Vec::new());
        for part in points.chunks(MAX_COLUMN_POINTS) {
            chunk.clear();
            rel.clear();
            vs.clear();
            rel.extend(part.iter().map(|p| p.ts.wrapping_sub(base)));
            vs.extend(part.iter().map(|p| p.value()));
            codec::encode_chunk(&rel, &vs, &mut chunk);
            if part.iter().any(|p| p.count != 1) {
                self.raise_to_sums();
                encode_sums(part, &mut chunk);
            }
            let (first, last) = (part[0].ts, part[part.len() - 1].ts);
            self.add_chunk(series, part.len() as u32, first, last, &chunk);
        }
    }

    /// Adds the raw points of one series (timestamps strictly increasing). Series must be added
    /// in ascending id order. Long series are split into several chunks.
    pub fn add_raw_series(&mut self, series: u32, ts: &[i64], values: &[f64]) {
        debug_assert_eq!(ts.len(), values.len());
        let mut chunk = Vec::new();
        let base = self.header.window_start;
        let mut rel = Vec::with_capacity(ts.len().min(MAX_COLUMN_POINTS));
        for (t, v) in ts
            .chunks(MAX_COLUMN_POINTS)
            .zip(values.chunks(MAX_COLUMN_POINTS))
        {
            if t.is_empty() {
                continue;
            }
            chunk.clear();
            rel.clear();
            rel.extend(t.iter().map(|x| x.wrapping_sub(base)));
            codec::encode_chunk(&rel, v, &mut chunk);
            self.add_chunk(series, t.len() as u32, t[0], t[t.len() - 1], &chunk);
        }
    }
}

/// The decoded footer of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    /// Entries sorted by series id (then time).
    pub entries: Vec<ChunkEntry>,
    /// Total points, from the trailer.
    pub points: u64,
    /// Offset of the footer.
    pub footer_offset: u64,
    /// Rollup segments: the time ranges `[from, to)` (sorted, disjoint, inside the segment's
    /// window) whose buckets were computed without damaged raw data. Empty for files older
    /// than version [`PARTIAL_SINCE`].
    pub partial: Vec<(i64, i64)>,
    /// Raw segments: the number of the last late log whose samples it holds (0 for none, and
    /// for files older than version [`SUMS_SINCE`]).
    pub generation: u64,
}

/// `ranges` without empty ones, sorted, overlapping and touching ones merged.
pub fn merge_ranges(ranges: impl IntoIterator<Item = (i64, i64)>) -> Vec<(i64, i64)> {
    let mut v: Vec<(i64, i64)> = ranges.into_iter().filter(|r| r.0 < r.1).collect();
    v.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

impl Footer {
    /// The entries of `series`.
    pub fn entries_of(&self, series: u32) -> &[ChunkEntry] {
        let lo = self.entries.partition_point(|e| e.series < series);
        let hi = self.entries.partition_point(|e| e.series <= series);
        &self.entries[lo..hi]
    }

    /// The entries of `series`, searching forward from `*cursor` (galloping, so a walk over
    /// ascending series ids touches the footer in order instead of binary-searching all of it
    /// each time); leaves `*cursor` after them.
    pub fn entries_from(&self, cursor: &mut usize, series: u32) -> &[ChunkEntry] {
        let start = (*cursor).min(self.entries.len());
        let rest = &self.entries[start..];
        let lo = if rest.first().is_none_or(|e| e.series >= series) {
            0
        } else {
            let mut bound = 1;
            while bound < rest.len() && rest[bound].series < series {
                bound *= 2;
            }
            let from = bound / 2;
            from + rest[from..bound.min(rest.len())].partition_point(|e| e.series < series)
        };
        let n = rest[lo..].iter().take_while(|e| e.series == series).count();
        *cursor = start + lo + n;
        &rest[lo..lo + n]
    }
}

/// Decodes and checks the trailer and footer of a whole segment file (whose header the caller
/// has decoded). Errors carry the file offset of the damaged structure.
pub fn decode_footer(file: &[u8], header: &Header) -> Result<Footer, (u64, Corruption)> {
    let n = file.len();
    if n < HEADER_LEN + TRAILER_LEN {
        return Err((
            0,
            Corruption::Truncated {
                needed: (HEADER_LEN + TRAILER_LEN) as u64,
                available: n as u64,
            },
        ));
    }
    let toff = (n - TRAILER_LEN) as u64;
    let t = &file[n - TRAILER_LEN..];
    if t[28..32] != TRAILER_MAGIC {
        return Err((
            toff,
            Corruption::BadField {
                what: "segment trailer magic",
            },
        ));
    }
    let stored = u32::from_le_bytes(t[24..28].try_into().expect("4 bytes"));
    let actual = crc(&t[0..24]);
    if stored != actual {
        return Err((
            toff,
            Corruption::Checksum {
                expected: stored,
                actual,
            },
        ));
    }
    let footer_offset = u64::from_le_bytes(t[0..8].try_into().expect("8 bytes"));
    let footer_len = u32::from_le_bytes(t[8..12].try_into().expect("4 bytes")) as u64;
    let footer_crc = u32::from_le_bytes(t[12..16].try_into().expect("4 bytes"));
    let points = u64::from_le_bytes(t[16..24].try_into().expect("8 bytes"));
    if footer_offset < HEADER_LEN as u64 || footer_offset.checked_add(footer_len) != Some(toff) {
        return Err((
            toff,
            Corruption::BadLength {
                what: "segment footer",
                value: footer_len,
            },
        ));
    }
    let fbytes = &file[footer_offset as usize..toff as usize];
    let actual = crc(fbytes);
    if actual != footer_crc {
        return Err((
            footer_offset,
            Corruption::Checksum {
                expected: footer_crc,
                actual,
            },
        ));
    }
    let at = |e: Corruption| (footer_offset, e);
    let mut r = Reader::new(fbytes);
    let count = r.varint().map_err(at)?;
    // Every entry takes at least 5 bytes: refuse counts the footer cannot hold.
    if count.saturating_mul(5) > r.remaining() as u64 {
        return Err(at(Corruption::BadLength {
            what: "footer entry count",
            value: count,
        }));
    }
    let mut entries = Vec::with_capacity(count as usize);
    let mut series: u64 = 0;
    let mut offset = HEADER_LEN as u64;
    let mut sum_points: u64 = 0;
    for _ in 0..count {
        series = series.saturating_add(r.varint().map_err(at)?);
        let pts = r.varint().map_err(at)?;
        let len = r.varint().map_err(at)?;
        let min_ts = header.window_start.wrapping_add(r.svarint().map_err(at)?);
        let max_ts = min_ts.wrapping_add(r.varint().map_err(at)? as i64);
        if series > u64::from(u32::MAX) || pts == 0 || pts > MAX_COLUMN_POINTS as u64 {
            return Err(at(Corruption::BadField {
                what: "footer entry",
            }));
        }
        if len > u64::from(u32::MAX) || offset + len + 4 > footer_offset || max_ts < min_ts {
            return Err(at(Corruption::BadLength {
                what: "chunk",
                value: len,
            }));
        }
        entries.push(ChunkEntry {
            series: series as u32,
            points: pts as u32,
            offset,
            len: len as u32,
            min_ts,
            max_ts,
        });
        offset += len + 4;
        sum_points += pts;
    }
    let mut partial = Vec::new();
    if header.version >= PARTIAL_SINCE {
        let count = r.varint().map_err(at)?;
        // Every range takes at least 2 bytes.
        if count.saturating_mul(2) > r.remaining() as u64 || (count > 0 && header.tier == 0) {
            return Err(at(Corruption::BadLength {
                what: "partial range count",
                value: count,
            }));
        }
        let window_end = header.window_start.saturating_add(header.window_span);
        let mut prev_end = header.window_start;
        for _ in 0..count {
            let from = header.window_start.checked_add(r.svarint().map_err(at)?);
            let len = r.varint().map_err(at)?;
            let to = from.and_then(|f| i64::try_from(len).ok().and_then(|l| f.checked_add(l)));
            match (from, to) {
                // Sorted, disjoint, not touching (the writer merges those), non-empty, and
                // inside the window.
                (Some(from), Some(to))
                    if len > 0
                        && from >= prev_end
                        && (partial.is_empty() || from > prev_end)
                        && to <= window_end =>
                {
                    partial.push((from, to));
                    prev_end = to;
                }
                _ => {
                    return Err(at(Corruption::BadField {
                        what: "partial range",
                    }));
                }
            }
        }
    }
    let generation = if header.version >= SUMS_SINCE {
        r.varint().map_err(at)?
    } else {
        0
    };
    if r.remaining() != 0 || offset != footer_offset || sum_points != points {
        return Err(at(Corruption::BadField {
            what: "footer does not match chunks or trailer",
        }));
    }
    Ok(Footer {
        entries,
        points,
        footer_offset,
        partial,
        generation,
    })
}

/// Appends the sums column of a raw chunk's points (`format-spec/segment.md`): the count
/// of entries, then for each point of more than one sample its index (as the gap from the
/// previous entry's), its count field and its sum's bits.
pub fn encode_sums(points: &[crate::head::RawPoint], out: &mut Vec<u8>) {
    let n = points.iter().filter(|p| p.count != 1).count();
    put_varint(out, n as u64);
    let mut next = 0usize;
    for (i, p) in points.iter().enumerate().filter(|(_, p)| p.count != 1) {
        put_varint(out, (i - next) as u64);
        put_varint(out, u64::from(p.count));
        out.extend_from_slice(&p.sum.to_bits().to_le_bytes());
        next = i + 1;
    }
}

/// Decodes a sums column over a chunk's decoded `points` (each holding one sample until
/// here), setting the count and sum of those it lists. The column must be consumed exactly,
/// name points in order and in range, give counts of at least 2 (with a scaled flag, at
/// least 1), and agree with the value column (the sum divided by the count is the value, bit
/// for bit).
pub fn decode_sums(bytes: &[u8], points: &mut [crate::head::RawPoint]) -> Result<(), Corruption> {
    let bad = |what| Corruption::BadField { what };
    let mut r = Reader::new(bytes);
    let n = r.varint()?;
    if n == 0 || n > points.len() as u64 {
        return Err(bad("sums column entry count"));
    }
    let mut next: u64 = 0;
    for _ in 0..n {
        let i = next.saturating_add(r.varint()?);
        let count = r.varint()?;
        let sum = f64::from_bits(r.u64()?);
        let low = count & u64::from(!crate::head::SCALED_SUM);
        let scaled = count & u64::from(crate::head::SCALED_SUM) != 0;
        if i >= points.len() as u64 || count > u64::from(u32::MAX) || low == 0 || (!scaled && low < 2) {
            return Err(bad("sums column entry"));
        }
        let p = &mut points[i as usize];
        let value = p.sum;
        p.count = count as u32;
        p.sum = sum;
        if p.value().to_bits() != value.to_bits() {
            return Err(bad("sums column disagrees with the value column"));
        }
        next = i + 1;
    }
    if r.remaining() != 0 {
        return Err(bad("sums column length"));
    }
    Ok(())
}

/// The checked bytes of one chunk.
pub fn chunk_bytes<'a>(file: &'a [u8], e: &ChunkEntry) -> Result<&'a [u8], Corruption> {
    let start = e.offset as usize;
    let end = start + e.len as usize;
    if end + 4 > file.len() {
        return Err(Corruption::Truncated {
            needed: (end + 4) as u64,
            available: file.len() as u64,
        });
    }
    let bytes = &file[start..end];
    let stored = u32::from_le_bytes(file[end..end + 4].try_into().expect("4 bytes"));
    let actual = crc(bytes);
    if stored != actual {
        return Err(Corruption::Checksum {
            expected: stored,
            actual,
        });
    }
    Ok(bytes)
}

/// The window start from a segment's header bytes (which the caller has checked).
fn window_start_of(file: &[u8]) -> Result<i64, Corruption> {
    match file.get(12..20) {
        Some(b) => Ok(i64::from_le_bytes(b.try_into().expect("8 bytes"))),
        None => Err(Corruption::Truncated {
            needed: 20,
            available: file.len() as u64,
        }),
    }
}

/// Checks and decodes one raw chunk, appending its points. Chunk timestamps are stored
/// relative to the window start (a few bytes instead of a full epoch time per chunk).
pub fn read_raw_chunk(
    file: &[u8],
    e: &ChunkEntry,
    ts: &mut Vec<i64>,
    values: &mut Vec<f64>,
) -> Result<(), Corruption> {
    let bytes = chunk_bytes(file, e)?;
    let base = window_start_of(file)?;
    let (t0, v0) = (ts.len(), values.len());
    let used = codec::decode_chunk_prefix(bytes, ts, values)?;
    for t in &mut ts[t0..] {
        *t = t.wrapping_add(base);
    }
    let res = if !matches_entry(&ts[t0..], e) {
        Err(mismatch())
    } else {
        check_rest(file, &bytes[used..], &ts[t0..], &values[v0..])
    };
    if res.is_err() {
        ts.truncate(t0);
        values.truncate(v0);
    }
    res
}

/// The segment version from a header's bytes (which the caller has checked).
fn version_of(file: &[u8]) -> u16 {
    file.get(8..10)
        .map_or(0, |b| u16::from_le_bytes(b.try_into().expect("2 bytes")))
}

/// Checks what follows a raw chunk's value column: nothing, or (version >= 3) a sums column
/// that agrees with the points decoded.
fn check_rest(file: &[u8], rest: &[u8], ts: &[i64], values: &[f64]) -> Result<(), Corruption> {
    if rest.is_empty() {
        return Ok(());
    }
    if version_of(file) < SUMS_SINCE {
        return Err(crate::error::CodecError::TrailingBytes { extra: rest.len() }.into());
    }
    let mut points: Vec<crate::head::RawPoint> = ts
        .iter()
        .zip(values)
        .map(|(&t, &v)| crate::head::RawPoint::one(t, v))
        .collect();
    decode_sums(rest, &mut points)
}

/// Checks and decodes one raw chunk into points with their sample counts and sums (from
/// the sums column of a version-3 segment; one sample each otherwise), appending to `out`;
/// on error `out` is unchanged.
pub fn read_raw_chunk_points(
    file: &[u8],
    e: &ChunkEntry,
    out: &mut Vec<crate::head::RawPoint>,
) -> Result<(), Corruption> {
    let bytes = chunk_bytes(file, e)?;
    let base = window_start_of(file)?;
    let mut pairs = Vec::with_capacity(e.points as usize);
    let used = codec::decode_chunk_pairs_prefix(bytes, base, &mut pairs)?;
    let (first, last) = (pairs.first().map(|p| p.0), pairs.last().map(|p| p.0));
    if pairs.len() != e.points as usize || first != Some(e.min_ts) || last != Some(e.max_ts) {
        return Err(mismatch());
    }
    let at = out.len();
    out.extend(pairs.iter().map(|&(t, v)| crate::head::RawPoint::one(t, v)));
    let rest = &bytes[used..];
    let res = if rest.is_empty() {
        Ok(())
    } else if version_of(file) < SUMS_SINCE {
        Err(crate::error::CodecError::TrailingBytes { extra: rest.len() }.into())
    } else {
        decode_sums(rest, &mut out[at..])
    };
    if res.is_err() {
        out.truncate(at);
    }
    res
}

/// [`read_raw_chunk`] into `(ts, value)` pairs, which the decoders fill directly; on error
/// `out` is unchanged.
pub fn read_raw_chunk_pairs(
    file: &[u8],
    e: &ChunkEntry,
    out: &mut Vec<(i64, f64)>,
) -> Result<(), Corruption> {
    let bytes = chunk_bytes(file, e)?;
    let base = window_start_of(file)?;
    let at = out.len();
    let used = codec::decode_chunk_pairs_prefix(bytes, base, out)?;
    let got = &out[at..];
    let (first, last) = (got.first().map(|p| p.0), got.last().map(|p| p.0));
    if got.len() != e.points as usize || first != Some(e.min_ts) || last != Some(e.max_ts) {
        out.truncate(at);
        return Err(mismatch());
    }
    // A version-3 chunk may end with its sums column, which a query for values skips (the
    // chunk's checksum covers it; `verify` decodes it).
    if used != bytes.len() && version_of(file) < SUMS_SINCE {
        out.truncate(at);
        return Err(crate::error::CodecError::TrailingBytes {
            extra: bytes.len() - used,
        }
        .into());
    }
    Ok(())
}

/// True when decoded (absolute) timestamps `ts` agree with the footer entry `e`.
fn matches_entry(ts: &[i64], e: &ChunkEntry) -> bool {
    ts.len() == e.points as usize && ts.first() == Some(&e.min_ts) && ts.last() == Some(&e.max_ts)
}

fn mismatch() -> Corruption {
    Corruption::BadField {
        what: "chunk does not match its footer entry",
    }
}

/// Header `tier` value of a rollup segment (raw segments have 0). The bucket interval is
/// the tier's, recorded in the state file.
pub const ROLLUP_TIER: u16 = 1;

/// Checks and decodes one rollup chunk (`format-spec/rollup-chunk.md`; bucket starts
/// relative to the segment start), appending its buckets; on error `out` is unchanged.
pub fn read_rollup_chunk(
    file: &[u8],
    e: &ChunkEntry,
    out: &mut Vec<crate::rollup::Bucket>,
) -> Result<(), Corruption> {
    let bytes = chunk_bytes(file, e)?;
    let base = window_start_of(file)?;
    let version = version_of(file);
    let b0 = out.len();
    crate::rollup::format::decode_chunk_at(version, bytes, base, out)?;
    let got = &out[b0..];
    if got.len() != e.points as usize
        || got.first().map(|b| b.start) != Some(e.min_ts)
        || got.last().map(|b| b.start) != Some(e.max_ts)
    {
        out.truncate(b0);
        return Err(mismatch());
    }
    Ok(())
}

/// Checks and decodes one rollup chunk like [`read_rollup_chunk`], into columns.
pub fn read_rollup_columns(
    file: &[u8],
    e: &ChunkEntry,
    cols: &mut crate::rollup::format::ChunkColumns,
) -> Result<(), Corruption> {
    let bytes = chunk_bytes(file, e)?;
    let base = window_start_of(file)?;
    crate::rollup::format::decode_chunk_columns_at(version_of(file), bytes, base, cols)?;
    let got = cols.starts();
    if got.len() != e.points as usize
        || got.first() != Some(&e.min_ts)
        || got.last() != Some(&e.max_ts)
    {
        return Err(mismatch());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::header::FileKind;

    /// A raw segment's header, as written.
    fn header() -> Header {
        Header {
            version: RAW_VERSION,
            ..Header::new(FileKind::Segment, 0, 600_000, 600_000)
        }
    }

    #[test]
    fn round_trip_and_footer_lookup() {
        let mut b = SegmentBuilder::new(header());
        b.add_raw_series(1, &[600_000, 601_000], &[1.0, 2.0]);
        b.add_raw_series(5, &[700_000], &[f64::NAN]);
        let file = b.finish();
        let f = decode_footer(&file, &header()).unwrap();
        assert_eq!(f.points, 3);
        assert_eq!(f.entries_of(5).len(), 1);
        assert!(f.entries_of(2).is_empty());
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        read_raw_chunk(&file, &f.entries_of(1)[0], &mut ts, &mut vs).unwrap();
        assert_eq!(ts, vec![600_000, 601_000]);
        assert_eq!(vs, vec![1.0, 2.0]);
    }

    #[test]
    fn galloping_lookup_agrees_with_binary_search() {
        let mut b = SegmentBuilder::new(header());
        for id in (0..200u32).map(|i| i * 3) {
            b.add_raw_series(id, &[600_000, 601_000], &[1.0, 2.0]);
        }
        let file = b.finish();
        let f = decode_footer(&file, &header()).unwrap();
        for stride in [1u32, 2, 7, 50] {
            let mut cursor = 0;
            for id in (0..650u32).step_by(stride as usize) {
                assert_eq!(f.entries_from(&mut cursor, id), f.entries_of(id), "id {id}");
            }
        }
    }

    #[test]
    fn golden_sums_column() {
        use crate::head::RawPoint;
        let mut two = RawPoint::one(601_000, 1.0);
        two.join(2.0);
        let points = [RawPoint::one(600_000, 5.0), two];
        let mut col = Vec::new();
        encode_sums(&points, &mut col);
        // One entry: index gap 1, count 2, sum 3.0.
        assert_eq!(col, [1, 1, 2, 0, 0, 0, 0, 0, 0, 0x08, 0x40]);
        let mut back = [RawPoint::one(600_000, 5.0), RawPoint::one(601_000, 1.5)];
        decode_sums(&col, &mut back).unwrap();
        assert_eq!(back, points);
        // A sum that disagrees with the value column, a count of one, an index out of
        // range, trailing bytes: all refused.
        let mut wrong = [RawPoint::one(600_000, 5.0), RawPoint::one(601_000, 1.25)];
        assert!(decode_sums(&col, &mut wrong).is_err());
        for bad in [
            vec![1, 1, 1, 0, 0, 0, 0, 0, 0, 0x08, 0x40],
            vec![1, 2, 2, 0, 0, 0, 0, 0, 0, 0x08, 0x40],
            vec![1, 1, 2, 0, 0, 0, 0, 0, 0, 0x08, 0x40, 0],
            vec![0],
        ] {
            let mut p = [RawPoint::one(600_000, 5.0), RawPoint::one(601_000, 1.5)];
            assert!(decode_sums(&bad, &mut p).is_err(), "{bad:?}");
        }
        // In a segment: version 3, the chunk ends with the column, the footer with the
        // generation; values read as means, points with their sums.
        let mut b = SegmentBuilder::new(header());
        b.add_raw_points(4, &points);
        b.set_generation(7);
        let file = b.finish();
        let h = Header::decode(&file, crate::format::header::FileKind::Segment).unwrap();
        assert_eq!(h.version, SUMS_SINCE);
        let f = decode_footer(&file, &h).unwrap();
        assert_eq!(f.generation, 7);
        let e = f.entries_of(4)[0];
        let chunk = chunk_bytes(&file, &e).unwrap();
        assert!(chunk.ends_with(&col));
        let mut pairs = Vec::new();
        read_raw_chunk_pairs(&file, &e, &mut pairs).unwrap();
        assert_eq!(pairs, [(600_000, 5.0), (601_000, 1.5)]);
        let mut pts = Vec::new();
        read_raw_chunk_points(&file, &e, &mut pts).unwrap();
        assert_eq!(pts, points);
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        read_raw_chunk(&file, &e, &mut ts, &mut vs).unwrap();
        // Points of one sample each: version 1, no column, as before.
        let mut b = SegmentBuilder::new(header());
        b.add_raw_points(4, &[RawPoint::one(600_000, 5.0)]);
        let file = b.finish();
        assert_eq!(Header::decode(&file, crate::format::header::FileKind::Segment).unwrap().version, 1);
        let mut b1 = SegmentBuilder::new(header());
        b1.add_raw_series(4, &[600_000], &[5.0]);
        assert_eq!(file, b1.finish());
    }

    #[test]
    fn golden_empty_segment_tail() {
        let file = SegmentBuilder::new(header()).finish();
        assert_eq!(file.len(), HEADER_LEN + 1 + TRAILER_LEN);
        // Footer: one varint, zero entries.
        assert_eq!(file[HEADER_LEN], 0);
        let t = &file[HEADER_LEN + 1..];
        assert_eq!(&t[0..8], &32u64.to_le_bytes());
        assert_eq!(&t[8..12], &1u32.to_le_bytes());
        assert_eq!(&t[12..16], &crc32c::crc32c(&[0]).to_le_bytes());
        assert_eq!(&t[16..24], &0u64.to_le_bytes());
        assert_eq!(&t[24..28], &crc32c::crc32c(&t[0..24]).to_le_bytes());
        assert_eq!(&t[28..32], b"TLSE");
    }

    #[test]
    fn golden_footer_entry() {
        let mut b = SegmentBuilder::new(header());
        b.add_chunk(3, 2, 601_000, 603_000, &[0xAA, 0xBB]);
        let file = b.finish();
        let chunk_end = HEADER_LEN + 2 + 4;
        assert_eq!(&file[HEADER_LEN..HEADER_LEN + 2], &[0xAA, 0xBB]);
        // count 1; series delta 3; points 2; len 2; min-start = +1000 zigzag 2000 = [0xd0,0x0f];
        // max-min 2000 = [0xd0, 0x0f]
        assert_eq!(
            &file[chunk_end..chunk_end + 8],
            &[1, 3, 2, 2, 0xd0, 0x0f, 0xd0, 0x0f]
        );
    }

    #[test]
    fn every_truncation_and_bit_flip_of_the_tail_is_detected() {
        let mut b = SegmentBuilder::new(header());
        b.add_raw_series(1, &[600_000, 601_000, 602_000], &[1.0, 2.0, 3.5]);
        let file = b.finish();
        for cut in 0..file.len() {
            assert!(decode_footer(&file[..cut], &header()).is_err(), "cut {cut}");
        }
        let f = decode_footer(&file, &header()).unwrap();
        let footer_start = f.footer_offset as usize;
        for bit in footer_start * 8..file.len() * 8 {
            let mut m = file.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_footer(&m, &header()).is_err(), "bit {bit}");
        }
        let e = f.entries[0];
        for bit in (e.offset as usize) * 8..(e.offset as usize + e.len as usize + 4) * 8 {
            let mut m = file.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            let (mut ts, mut vs) = (Vec::new(), Vec::new());
            assert!(
                read_raw_chunk(&m, &e, &mut ts, &mut vs).is_err(),
                "bit {bit}"
            );
        }
    }

    /// Buckets of the rollup segment example in `format-spec/rollup-segment.md`: a gauge
    /// (series 1, two buckets) and a counter (series 4, three buckets, increase derived).
    fn rollup_example() -> (Header, Vec<(u32, Vec<crate::rollup::Bucket>)>) {
        use crate::rollup::Bucket;
        const S: i64 = 1_699_999_200_000;
        let b =
            |start: i64, count: u32, nan_count: u32, v: [f64; 6], increase: Option<f64>| Bucket {
                start: S + start,
                count,
                nan_count,
                min: v[0],
                max: v[1],
                sum: v[2],
                first: v[3],
                last: v[4],
                p95: v[5],
                increase,
            };
        let gauge = vec![
            b(0, 2, 0, [1.0, 2.0, 3.0, 1.0, 2.0, 2.0], None),
            b(10_000, 1, 1, [5.0; 6], None),
        ];
        let counter = vec![
            b(20_000, 1, 0, [10.0; 6], Some(0.0)),
            b(30_000, 1, 0, [12.0; 6], Some(2.0)),
            b(50_000, 1, 0, [3.0; 6], Some(3.0)),
        ];
        (
            Header::new(FileKind::Segment, ROLLUP_TIER, S, 600_000),
            vec![(1, gauge), (4, counter)],
        )
    }

    /// The example as a version-1 file (before partial ranges), as older builds wrote it.
    fn rollup_example_file() -> Vec<u8> {
        let (h, series) = rollup_example();
        rollup_file(Header { version: 1, ..h }, &series, &[])
    }

    fn rollup_file(
        h: Header,
        series: &[(u32, Vec<crate::rollup::Bucket>)],
        partial: &[(i64, i64)],
    ) -> Vec<u8> {
        let mut b = SegmentBuilder::new(h);
        b.set_partial(partial.iter().copied());
        for (id, buckets) in series {
            let mut chunk = Vec::new();
            crate::rollup::format::encode_chunk_at(h.version, buckets, h.window_start, &mut chunk);
            let (lo, hi) = (buckets[0].start, buckets[buckets.len() - 1].start);
            b.add_chunk(*id, buckets.len() as u32, lo, hi, &chunk);
        }
        b.finish()
    }

    /// The example as a version-6 file (`format-spec/rollup-segment.md`): the header says 6,
    /// the chunks are layout 2 (`rollup-chunk.md` §7, their bytes bound by
    /// `rollup::layout2::tests::golden_layout2`; this example stores no p95, so versions 4
    /// and 5 have the same chunks, and version 6 differs in the gauge's counts), the footer
    /// ends with the (zero) late generation; versions 1, 2, 4, 5 and 6 of the same buckets
    /// read back identical, bit for bit.
    #[test]
    fn golden_rollup_segment() {
        let (h, series) = rollup_example();
        assert_eq!(h.version, 6);
        let file = rollup_file(h, &series, &[]);
        assert_eq!(&file[..12], b"TLOGSEG1\x06\x00\x01\x00");
        let hd = Header::decode(&file, FileKind::Segment).unwrap();
        let f = decode_footer(&file, &hd).unwrap();
        for (e, (id, buckets)) in f.entries.iter().zip(&series) {
            assert_eq!(e.series, *id);
            let mut chunk = Vec::new();
            crate::rollup::layout2::encode(buckets, h.window_start, &mut chunk);
            assert_eq!(chunk_bytes(&file, e).unwrap(), &chunk[..]);
        }
        // Footer: 2 entries ... 0 partial ranges, late generation 0.
        let footer_end = file.len() - TRAILER_LEN;
        assert_eq!(&file[footer_end - 2..footer_end], &[0x00, 0x00]);
        let bits = crate::rollup::Bucket::bits;
        let read_all = |file: &[u8]| {
            let hd = Header::decode(file, FileKind::Segment).unwrap();
            let f = decode_footer(file, &hd).unwrap();
            let mut out = Vec::new();
            for e in &f.entries {
                read_rollup_chunk(file, e, &mut out).unwrap();
            }
            out.iter().map(bits).collect::<Vec<_>>()
        };
        let want: Vec<_> = series.iter().flat_map(|(_, b)| b.iter().map(bits)).collect();
        for v in [1u16, 2, 4, 5, 6] {
            let f = rollup_file(Header { version: v, ..h }, &series, &[]);
            assert_eq!(read_all(&f), want, "version {v}");
        }
        let v4 = rollup_file(Header { version: 4, ..h }, &series, &[]);
        let v5 = rollup_file(Header { version: 5, ..h }, &series, &[]);
        assert_eq!(v4[32..], v5[32..], "no p95 stored: the same chunks and footer");
        // Version 6 stores the gauge's counts [2, 1] as exceptions: one byte shorter.
        assert_eq!(file.len() + 1, v5.len());
        // Buckets of 20 points store their p95s as offsets in version 5, which a version-4
        // header over the same chunk refuses.
        let pts: Vec<(i64, f64)> = (0..60)
            .map(|k| {
                let base = [7.5, 3.25, 12.0][k as usize / 20];
                (h.window_start + k * 1000, if k % 20 == 3 { base + 0.5 } else { base })
            })
            .collect();
        let mut wide = Vec::new();
        crate::rollup::bucket::aggregate(&pts, 20_000, false, None, &mut wide);
        assert!(wide.iter().all(|b| b.count == 20 && b.p95 == b.max - 0.5));
        let mut v5 = rollup_file(h, &[(1, wide.clone())], &[]);
        let e = decode_footer(&v5, &Header::decode(&v5, FileKind::Segment).unwrap())
            .unwrap()
            .entries[0];
        assert_ne!(chunk_bytes(&v5, &e).unwrap()[1] & crate::rollup::layout2::P95_OFFSET, 0);
        let mut out = Vec::new();
        read_rollup_chunk(&v5, &e, &mut out).unwrap();
        assert_eq!(out.iter().map(bits).collect::<Vec<_>>(), wide.iter().map(bits).collect::<Vec<_>>());
        v5[..HEADER_LEN].copy_from_slice(&Header { version: 4, ..h }.encode());
        let hd4 = Header::decode(&v5, FileKind::Segment).unwrap();
        assert_eq!(hd4.version, 4);
        assert!(read_rollup_chunk(&v5, &e, &mut out).is_err());
        // A layout-1 chunk read as layout 2 (a version-4 header over a version-2 file's
        // chunks) does not pass silently.
        let mut v2 = rollup_file(Header { version: 2, ..h }, &series, &[]);
        v2[8] = 4;
        let hd2 = Header { version: 4, ..hd };
        if let Ok(f) = decode_footer(&v2, &hd2) {
            let mut out = Vec::new();
            assert!(f.entries.iter().any(|e| read_rollup_chunk(&v2, e, &mut out).is_err()));
        }
    }

    /// The version-1 layout of the example of `format-spec/rollup-segment.md`, byte for
    /// byte: files written before partial ranges still open, with none.
    #[test]
    fn golden_rollup_segment_version_1() {
        let file = rollup_example_file();
        assert_eq!(file.len(), 145);
        #[rustfmt::skip]
        let header: [u8; 32] = [
            b'T', b'L', b'O', b'G', b'S', b'E', b'G', b'1', // magic
            0x01, 0x00,                                     // version 1
            0x01, 0x00,                                     // tier 1 = rollup
            0x00, 0x33, 0xD9, 0xCF, 0x8B, 0x01, 0x00, 0x00, // piece start 1_699_999_200_000
            0xC0, 0x27, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, // piece span 600_000
            0xB5, 0xB0, 0xD1, 0xA4,                         // CRC-32C of bytes 0..28
        ];
        assert_eq!(&file[..32], &header);
        // Chunks (format-spec/rollup-chunk.md): series 1 at 32 (34 bytes, CRC at 66),
        // series 4 at 70 (23 bytes, CRC at 93); bucket starts relative to the piece start.
        #[rustfmt::skip]
        let chunk1: [u8; 34] = [
            0x00, 0xC4,                                     // flags, same
            0x01, 0x02, 0x00, 0xE8, 0x07, 0x14, 0x01,       // starts [0, 10_000]
            0x03, 0x02, 0x00, 0x04, 0x01,                   // count [2, 1]
            0x03, 0x02, 0x00, 0x00, 0x02,                   // nan_count [0, 1]
            0x03, 0x02, 0x00, 0x02, 0x08,                   // min [1, 5]
            0x03, 0x02, 0x00, 0x04, 0x06,                   // max [2, 5]
            0x03, 0x02, 0x00, 0x06, 0x04,                   // sum [3, 5]
        ];
        assert_eq!(&file[32..66], &chunk1);
        #[rustfmt::skip]
        let chunk2: [u8; 23] = [
            0x1F, 0x1F,                                     // flags, same
            0x03, 0xC0, 0xB8, 0x02, 0x90, 0x4E, 0x04, 0x03, 0x03, // starts bitmap [20_000, 30_000, 50_000]
            0x02, 0x03, 0x00, 0x14, 0x01, 0x11, 0x0B, 0x01, // min [10, 12, 3]
            0x02, 0x01, 0x00, 0x00,                         // increase of bucket 0: [0]
        ];
        assert_eq!(&file[70..93], &chunk2);
        assert_eq!(&file[66..70], &[0xB0, 0x51, 0x41, 0xFB]);
        assert_eq!(&file[66..70], &crc32c::crc32c(&file[32..66]).to_le_bytes());
        assert_eq!(&file[93..97], &[0xBF, 0x8A, 0xDE, 0x1B]);
        assert_eq!(&file[93..97], &crc32c::crc32c(&file[70..93]).to_le_bytes());
        #[rustfmt::skip]
        let footer: [u8; 16] = [
            0x02,                   // 2 entries
            0x01,                   // series 1 (delta from 0)
            0x02,                   // 2 buckets
            0x22,                   // chunk length 34
            0x00,                   // first bucket start - piece start = 0
            0x90, 0x4E,             // last - first bucket start = 10_000
            0x03,                   // series 4 (delta 3)
            0x03,                   // 3 buckets
            0x17,                   // chunk length 23
            0xC0, 0xB8, 0x02,       // first bucket start - piece start = +20_000 (svarint)
            0xB0, 0xEA, 0x01,       // last - first bucket start = 30_000
        ];
        assert_eq!(&file[97..113], &footer);
        #[rustfmt::skip]
        let trailer: [u8; 32] = [
            0x61, 0, 0, 0, 0, 0, 0, 0,  // footer offset 97
            0x10, 0, 0, 0,              // footer length 16
            0xA8, 0xA1, 0x6E, 0x82,     // CRC-32C of the footer
            0x05, 0, 0, 0, 0, 0, 0, 0,  // total buckets 5
            0x09, 0xF8, 0x89, 0x73,     // CRC-32C of trailer bytes 0..24
            b'T', b'L', b'S', b'E',
        ];
        assert_eq!(&file[113..], &trailer);

        let h = Header::decode(&file, FileKind::Segment).unwrap();
        assert_eq!((h.tier, h.version), (ROLLUP_TIER, 1));
        let f = decode_footer(&file, &h).unwrap();
        assert_eq!(f.points, 5);
        assert!(f.partial.is_empty());
        let s = 1_699_999_200_000;
        assert_eq!(
            f.entries,
            vec![
                ChunkEntry {
                    series: 1,
                    points: 2,
                    offset: 32,
                    len: 34,
                    min_ts: s,
                    max_ts: s + 10_000
                },
                ChunkEntry {
                    series: 4,
                    points: 3,
                    offset: 70,
                    len: 23,
                    min_ts: s + 20_000,
                    max_ts: s + 50_000
                },
            ]
        );
        let (_, series) = rollup_example();
        let key = crate::rollup::Bucket::bits;
        for (e, (id, want)) in f.entries.iter().zip(&series) {
            assert_eq!(e.series, *id);
            let mut got = Vec::new();
            read_rollup_chunk(&file, e, &mut got).unwrap();
            assert_eq!(
                got.iter().map(key).collect::<Vec<_>>(),
                want.iter().map(key).collect::<Vec<_>>()
            );
            // Any flipped bit of the chunk or its CRC is an error, and leaves `out` as it was.
            for bit in (e.offset as usize) * 8..(e.offset as usize + e.len as usize + 4) * 8 {
                let mut m = file.clone();
                m[bit / 8] ^= 1 << (bit % 8);
                let mut out = vec![want[0]];
                assert!(read_rollup_chunk(&m, e, &mut out).is_err(), "bit {bit}");
                assert_eq!(out.len(), 1);
            }
        }
    }

    /// The example of `format-spec/rollup-segment.md` (version 2, the second half of the
    /// piece computed without damaged raw data), byte for byte.
    #[test]
    fn golden_rollup_segment_version_2() {
        let (h, series) = rollup_example();
        let h = Header { version: 2, ..h };
        let s = h.window_start;
        let file = rollup_file(h, &series, &[(s + 300_000, s + 600_000)]);
        let old = rollup_example_file();
        // Header: only the version (and so the CRC) differs; the chunks are the same.
        assert_eq!(file.len(), 152, "{file:02X?}");
        #[rustfmt::skip]
        let header: [u8; 12] = [
            b'T', b'L', b'O', b'G', b'S', b'E', b'G', b'1', // magic
            0x02, 0x00,                                     // version 2
            0x01, 0x00,                                     // tier 1 = rollup
        ];
        assert_eq!(&file[..12], &header);
        assert_eq!(&file[12..28], &old[12..28]);
        assert_eq!(&file[28..32], &[0x72, 0xA8, 0x15, 0xFD], "{:02X?}", &file[28..32]);
        assert_eq!(&file[28..32], &crc32c::crc32c(&file[..28]).to_le_bytes());
        assert_eq!(&file[32..113], &old[32..113]);
        #[rustfmt::skip]
        let partial: [u8; 7] = [
            0x01,                   // 1 partial range
            0xC0, 0xCF, 0x24,       // from - piece start = +300_000 (svarint)
            0xE0, 0xA7, 0x12,       // to - from = 300_000
        ];
        assert_eq!(&file[113..120], &partial);
        #[rustfmt::skip]
        let trailer: [u8; 32] = [
            0x61, 0, 0, 0, 0, 0, 0, 0,  // footer offset 97
            0x17, 0, 0, 0,              // footer length 23
            0x09, 0xBB, 0x78, 0x9F,     // CRC-32C of the footer
            0x05, 0, 0, 0, 0, 0, 0, 0,  // total buckets 5
            0x5A, 0x86, 0xA9, 0x6C,     // CRC-32C of trailer bytes 0..24
            b'T', b'L', b'S', b'E',
        ];
        assert_eq!(&file[120..], &trailer, "{:02X?}", &file[120..]);
        let h = Header::decode(&file, FileKind::Segment).unwrap();
        let f = decode_footer(&file, &h).unwrap();
        assert_eq!(f.partial, [(s + 300_000, s + 600_000)]);
        let old_h = Header::decode(&old, FileKind::Segment).unwrap();
        assert_eq!(f.entries, decode_footer(&old, &old_h).unwrap().entries);
    }

    /// Partial ranges are merged and clipped by the writer; a version-2 file without any
    /// has an empty list; a raw segment (tier 0) must not have any.
    #[test]
    fn partial_ranges_round_trip_and_are_checked() {
        let h4 = Header::new(FileKind::Segment, ROLLUP_TIER, 600_000, 600_000);
        assert_eq!(h4.version, crate::rollup::format::ROLLUP_VERSION);
        // Version 4 (layout 2 of the chunks) keeps version 3's footer: the (zero) late
        // generation follows the ranges.
        let empty4 = SegmentBuilder::new(h4).finish();
        assert_eq!(empty4.len(), HEADER_LEN + 3 + TRAILER_LEN);
        assert!(decode_footer(&empty4, &h4).unwrap().partial.is_empty());
        let h = Header { version: 2, ..h4 };
        let mut b = SegmentBuilder::new(h);
        b.set_partial([(700_000, 800_000), (0, 650_000), (750_000, 900_000), (5, 5)]);
        let file = b.finish();
        let f = decode_footer(&file, &h).unwrap();
        assert_eq!(f.partial, [(600_000, 650_000), (700_000, 900_000)]);
        assert!(f.entries.is_empty());
        let empty = SegmentBuilder::new(h).finish();
        assert_eq!(empty.len(), HEADER_LEN + 2 + TRAILER_LEN);
        assert!(decode_footer(&empty, &h).unwrap().partial.is_empty());
        // The same footer in a raw segment's header is refused.
        assert!(decode_footer(&file, &Header { tier: 0, ..h }).is_err());
        // A version-1 reading of a version-2 footer finds trailing bytes: refused.
        assert!(decode_footer(&file, &Header { version: 1, ..h }).is_err());
        // Ranges out of the window, empty, overlapping or out of order are refused.
        for bad in [
            [(0i64, 0i64), (20, 30)],
            [(0, 30), (20, 40)],
            [(20, 30), (0, 10)],
            [(0, 10), (10, 20)],
            [(0, 10), (500_000, 600_001)],
        ] {
            let mut footer = vec![0u8, 2];
            for (a, z) in bad {
                put_svarint(&mut footer, a);
                put_varint(&mut footer, (z - a) as u64);
            }
            let mut file = Header::encode(&h).to_vec();
            let foff = file.len() as u64;
            file.extend_from_slice(&footer);
            let mut t = [0u8; TRAILER_LEN];
            t[0..8].copy_from_slice(&foff.to_le_bytes());
            t[8..12].copy_from_slice(&(footer.len() as u32).to_le_bytes());
            t[12..16].copy_from_slice(&crc(&footer).to_le_bytes());
            let tc = crc(&t[0..24]);
            t[24..28].copy_from_slice(&tc.to_le_bytes());
            t[28..32].copy_from_slice(&TRAILER_MAGIC);
            file.extend_from_slice(&t);
            assert!(
                matches!(decode_footer(&file, &h), Err((_, Corruption::BadField { .. }))),
                "{bad:?}: {:?}",
                decode_footer(&file, &h)
            );
        }
    }
}
