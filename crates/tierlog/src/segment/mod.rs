//! Sealed segments on disk: building one from a frozen window, and reading one mapped (through
//! the store's [`crate::vfs::Vfs`]: an mmap on the real filesystem).

pub mod cache;
pub mod codec;
pub mod format;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Corruption, Error, Result};
use crate::format::header::{FileKind, Header};
use self::format::{ChunkEntry, Footer, SegmentBuilder};
use crate::vfs::{Fs, Mapped};
use crate::logfile::header_error;
use crate::rollup::Bucket;
use crate::head::WindowData;

/// A sealed segment, mapped read-only. Segments are immutable once renamed into place, so the
/// mapping never sees a write; a dropped segment stays readable while a handle is alive.
#[derive(Debug)]
pub struct Segment {
    path: PathBuf,
    header: Header,
    map: Mapped,
    footer: Footer,
    /// Set once a read finds a damaged chunk.
    damaged: AtomicBool,
    /// Its identity in a [`cache::ReadCache`]: a hash of its path, length and trailer.
    ident: u64,
}

impl Segment {
    /// Maps `path` on the real filesystem (tools) and checks its header, trailer and footer
    /// (chunks are checked when read).
    pub fn open(path: &Path) -> Result<Segment> {
        Segment::open_in(&Fs::std(), path)
    }

    /// Maps `path` through the backend `fs` and checks it like [`Segment::open`].
    pub fn open_in(fs: &Fs, path: &Path) -> Result<Segment> {
        let map = fs.map(path)?;
        let header = Header::decode(&map, FileKind::Segment)
            .map_err(|e| header_error(path, e, FileKind::Segment))?;
        let footer = format::decode_footer(&map, &header)
            .map_err(|(offset, what)| Error::corrupt(path, offset, what))?;
        let ident = identity(path, &map);
        Ok(Segment {
            path: path.to_owned(),
            header,
            map,
            footer,
            damaged: AtomicBool::new(false),
            ident,
        })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Its footer.
    pub fn footer(&self) -> &Footer {
        &self.footer
    }

    /// The time ranges `[from, to)` of a rollup segment whose buckets were computed without
    /// damaged raw data (see [`Footer::partial`]).
    pub fn partial(&self) -> &[(i64, i64)] {
        &self.footer.partial
    }

    /// The mapped file bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Total points.
    pub fn points(&self) -> u64 {
        self.footer.points
    }

    /// File size.
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Always false: a segment has at least a header and a trailer.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Appends the points of `series` with `from <= ts < to`. A damaged chunk is an error
    /// naming its offset (points of earlier chunks stay appended).
    pub fn read_series(
        &self,
        series: u32,
        from: i64,
        to: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> std::result::Result<(), (u64, Corruption)> {
        self.read_entries(self.footer.entries_of(series), from, to, out)
    }

    /// Like [`Segment::read_series`] for callers walking series in ascending id order: the
    /// footer is searched forward from `*cursor` (start it at 0).
    pub fn read_series_from(
        &self,
        cursor: &mut usize,
        series: u32,
        from: i64,
        to: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> std::result::Result<(), (u64, Corruption)> {
        let entries = self.footer.entries_from(cursor, series);
        self.read_entries(entries, from, to, out)
    }

    /// [`Segment::read_series_from`] through `cache` when there is one: each chunk is decoded
    /// once and kept there (when it fits), and found there by later reads.
    pub fn read_series_cached(
        &self,
        cursor: &mut usize,
        series: u32,
        from: i64,
        to: i64,
        out: &mut Vec<(i64, f64)>,
        cache: Option<&cache::ReadCache>,
    ) -> std::result::Result<(), (u64, Corruption)> {
        let entries = self.footer.entries_from(cursor, series);
        let Some(cache) = cache else {
            return self.read_entries(entries, from, to, out);
        };
        for e in entries {
            if e.max_ts < from || e.min_ts >= to {
                continue;
            }
            let end = e.offset as usize + e.len as usize;
            let Some(crc) = self
                .map
                .get(end..end + 4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
            else {
                // Out of the file: the uncached read says so.
                return self.read_entries(std::slice::from_ref(e), from, to, out);
            };
            if !cache.keeps(e.points as usize) {
                self.read_entries(std::slice::from_ref(e), from, to, out)?;
                continue;
            }
            let key = (self.ident, e.offset);
            let points = match cache.get(key, crc) {
                Some(p) => p,
                None => {
                    let mut v = Vec::with_capacity(e.points as usize);
                    if let Err(c) = format::read_raw_chunk_pairs(&self.map, e, &mut v) {
                        self.damaged.store(true, Ordering::Relaxed);
                        return Err((e.offset, c));
                    }
                    let p: std::sync::Arc<[(i64, f64)]> = v.into();
                    cache.insert(key, crc, p.clone());
                    p
                }
            };
            if e.min_ts >= from && e.max_ts < to {
                out.extend_from_slice(&points);
            } else {
                out.extend(points.iter().filter(|p| p.0 >= from && p.0 < to));
            }
        }
        Ok(())
    }

    fn read_entries(
        &self,
        entries: &[ChunkEntry],
        from: i64,
        to: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> std::result::Result<(), (u64, Corruption)> {
        self.read_chunks(entries, from, to, out, format::read_raw_chunk_pairs, |p| p.0)
    }

    /// Appends what `read` decodes of each chunk of `entries` that overlaps `[from, to)`,
    /// keeping the items whose time (`at`) lies in it. A damaged chunk marks the segment and
    /// is an error naming its offset (items of earlier chunks stay appended).
    fn read_chunks<T: Copy>(
        &self,
        entries: &[ChunkEntry],
        from: i64,
        to: i64,
        out: &mut Vec<T>,
        read: impl Fn(&[u8], &ChunkEntry, &mut Vec<T>) -> std::result::Result<(), Corruption>,
        at: impl Fn(&T) -> i64,
    ) -> std::result::Result<(), (u64, Corruption)> {
        for e in entries {
            if e.max_ts < from || e.min_ts >= to {
                continue;
            }
            let first = out.len();
            if let Err(c) = read(&self.map, e, out) {
                self.damaged.store(true, Ordering::Relaxed);
                return Err((e.offset, c));
            }
            // A chunk inside the range needs no per-item test.
            if e.min_ts < from || e.max_ts >= to {
                let mut k = first;
                for i in first..out.len() {
                    let t = at(&out[i]);
                    if t >= from && t < to {
                        out[k] = out[i];
                        k += 1;
                    }
                }
                out.truncate(k);
            }
        }
        Ok(())
    }

    /// The number of the last late log merged into this raw segment (0 for none).
    pub fn generation(&self) -> u64 {
        self.footer.generation
    }

    /// Appends the raw points of `series` with `from <= ts < to`, with their sample counts
    /// and sums. A damaged chunk is an error naming its offset (points of earlier chunks stay
    /// appended).
    pub fn read_raw_points(
        &self,
        series: u32,
        from: i64,
        to: i64,
        out: &mut Vec<crate::head::RawPoint>,
    ) -> std::result::Result<(), (u64, Corruption)> {
        let entries = self.footer.entries_of(series);
        self.read_chunks(entries, from, to, out, format::read_raw_chunk_points, |p| p.ts)
    }

    /// True for a rollup segment (buckets), false for a raw one (points).
    pub fn is_rollup(&self) -> bool {
        self.header.tier != 0
    }

    /// Appends the buckets of `series` starting in `from <= start < to` (rollup segments),
    /// searching the footer forward from `*cursor` like [`Segment::read_series_from`].
    pub fn read_buckets_from(
        &self,
        cursor: &mut usize,
        series: u32,
        from: i64,
        to: i64,
        out: &mut Vec<Bucket>,
    ) -> std::result::Result<(), (u64, Corruption)> {
        let entries = self.footer.entries_from(cursor, series);
        self.read_chunks(entries, from, to, out, format::read_rollup_chunk, |b| b.start)
    }

    /// Like [`Segment::read_buckets_from`], without building a [`Bucket`] per bucket: each
    /// chunk of `series` with buckets starting in `[from, to)` is decoded into `cols` and
    /// handed to `each` with the index range of those buckets (never empty), in time order.
    /// A damaged chunk is an error naming its offset (earlier chunks were handed over).
    pub fn fold_buckets_from(
        &self,
        cursor: &mut usize,
        series: u32,
        from: i64,
        to: i64,
        cols: &mut crate::rollup::format::ChunkColumns,
        mut each: impl FnMut(&crate::rollup::format::ChunkColumns, std::ops::Range<usize>),
    ) -> std::result::Result<(), (u64, Corruption)> {
        for e in self.footer.entries_from(cursor, series) {
            if e.max_ts < from || e.min_ts >= to {
                continue;
            }
            if let Err(c) = format::read_rollup_columns(&self.map, e, cols) {
                self.damaged.store(true, Ordering::Relaxed);
                return Err((e.offset, c));
            }
            let (a, b) = if e.min_ts < from || e.max_ts >= to {
                let s = cols.starts();
                (s.partition_point(|&t| t < from), s.partition_point(|&t| t < to))
            } else {
                (0, cols.len())
            };
            if a < b {
                each(cols, a..b);
            }
        }
        Ok(())
    }

    /// True once a read has found a damaged chunk in this segment.
    pub fn is_damaged(&self) -> bool {
        self.damaged.load(Ordering::Relaxed)
    }

    /// Checks every chunk's checksum and decoding; returns the first damage found per chunk.
    pub fn verify(&self) -> Vec<(ChunkEntry, Corruption)> {
        let mut bad = Vec::new();
        let (mut ts, mut vs, mut bs) = (Vec::new(), Vec::new(), Vec::new());
        for e in &self.footer.entries {
            ts.clear();
            vs.clear();
            bs.clear();
            let res = if self.is_rollup() {
                format::read_rollup_chunk(&self.map, e, &mut bs)
            } else {
                format::read_raw_chunk(&self.map, e, &mut ts, &mut vs)
            };
            if let Err(c) = res {
                bad.push((*e, c));
            }
        }
        if !bad.is_empty() {
            self.damaged.store(true, Ordering::Relaxed);
        }
        bad
    }
}

/// Encodes the frozen window `data` as a segment file's bytes.
pub fn build(data: &WindowData, tier: u16, span: i64) -> Vec<u8> {
    let header = Header {
        version: format::RAW_VERSION,
        ..Header::new(FileKind::Segment, tier, data.start(), span)
    };
    let mut b = SegmentBuilder::new(header);
    let mut points = Vec::new();
    for id in data.series_ids() {
        points.clear();
        data.raw_points_into(id, i64::MIN, i64::MAX, |p| points.push(p));
        b.add_raw_points(id, &points);
    }
    b.finish()
}

/// Encodes a raw segment of window `start` (span `span`) holding `series` (ascending ids,
/// each with its points in time order) and the late generation `generation`.
pub fn build_points(
    start: i64,
    span: i64,
    generation: u64,
    series: &[(u32, Vec<crate::head::RawPoint>)],
) -> Vec<u8> {
    let header = Header {
        version: format::RAW_VERSION,
        ..Header::new(FileKind::Segment, 0, start, span)
    };
    let mut b = SegmentBuilder::new(header);
    b.set_generation(generation);
    for (id, points) in series {
        if !points.is_empty() {
            b.add_raw_points(*id, points);
        }
    }
    b.finish()
}

impl Segment {
    /// A segment held in memory (`bytes`, checked like [`Segment::open`]) standing for the
    /// file at `path`: a read-only open applies a pending delete this way, without writing.
    pub(crate) fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Segment> {
        let map = Mapped::from_vec(bytes);
        let header = Header::decode(&map, FileKind::Segment)
            .map_err(|e| header_error(path, e, FileKind::Segment))?;
        let footer = format::decode_footer(&map, &header)
            .map_err(|(offset, what)| Error::corrupt(path, offset, what))?;
        // Its bytes differ from the file's (and so do its length and trailer): another
        // identity than the file's.
        let ident = identity(path, &map);
        Ok(Segment {
            path: path.to_owned(),
            header,
            map,
            footer,
            damaged: AtomicBool::new(false),
            ident,
        })
    }
}

/// A segment's identity for [`cache::ReadCache`]: FNV-1a over its path, its length and its
/// trailer (which holds the footer's checksum), so a file rewritten at the same path is
/// another segment.
fn identity(path: &Path, map: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h = (h ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(path.as_os_str().as_encoded_bytes());
    eat(&(map.len() as u64).to_le_bytes());
    eat(&map[map.len().saturating_sub(format::TRAILER_LEN)..]);
    h
}
