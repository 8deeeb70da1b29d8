//! Entry points shared by the fuzz targets (`fuzz/fuzz_targets/*.rs`) and the corpus replay
//! test (`tests/fuzz_corpus.rs`).
//!
//! Each function takes arbitrary bytes, feeds them to one family of decoders and checks the
//! invariants those decoders promise. They panic only when an invariant is broken: a decoder
//! must return `Ok` or a typed error, never panic and never allocate unboundedly, and what
//! decodes must re-encode to the same bytes (or, for the compressed columns, to the same
//! values).
//!
//! Checksums stop almost every random mutation at the first check, so the file-level entry
//! points (`log_frames`, `segment`) also run a second pass over a copy of the input whose
//! checksums (and a few framing fields) have been recomputed, which lets the fuzzer reach the
//! decoders behind them.
//!
//! Only the library's public API is used here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tierlog::format::crc;
use tierlog::format::header::{FileKind, HEADER_LEN, Header, HeaderError};
use tierlog::index::format::IndexRecord;
use tierlog::logfile::frame::{self, FRAME_HEADER_LEN, FrameRead, MAX_PAYLOAD, Tail};
use tierlog::model::Labels;
use tierlog::query::selector::Selector;
use tierlog::segment::codec::{self, CodecError, MAX_COLUMN_POINTS};
use tierlog::segment::format::{self as segment, TRAILER_LEN, TRAILER_MAGIC};
use tierlog::state::format::{STATE_V1_LEN, State};
use tierlog::wal::format::{self as wal, LoggedSample};
use tierlog::{Clock, Config, ManualClock, Sample, Store, Sync};
use tierlog_tools::import::prom::{Entry, ParsedSample, PromParser};

mod import;
mod promql;
#[cfg(feature = "server")]
mod server;
pub use import::{csv_parse, influx_parse, openmetrics_parse};
pub use promql::{PROMQL_MAX_EXPR, PROMQL_T0, promql_eval};
#[cfg(feature = "server")]
pub use server::{
    influx_write_decode, prom_import_decode, remote_read_decode, remote_write_decode,
};

const KINDS: [FileKind; 7] = [
    FileKind::WindowLog,
    FileKind::Segment,
    FileKind::Index,
    FileKind::State,
    FileKind::ForwardCheckpoint,
    FileKind::DeleteIntent,
    FileKind::ForwardLateLog,
];

// ------------------------------------------------------------------------------------ header

/// `Header::decode` for every [`FileKind`]; a header that decodes re-encodes to the first
/// [`HEADER_LEN`] bytes of the input, and a refusal names the right reason.
pub fn header(data: &[u8]) {
    let magic = &data[..data.len().min(8)];
    for kind in KINDS {
        match Header::decode(data, kind) {
            Ok(h) => {
                assert_eq!(h.kind, kind);
                assert!(h.version >= 1 && h.version <= kind.version());
                assert_eq!(FileKind::from_magic(magic), Some(kind));
                assert_eq!(&h.encode()[..], &data[..HEADER_LEN], "header re-encoding");
            }
            Err(HeaderError::WrongMagic { found }) => {
                assert_ne!(magic, kind.magic(), "right magic refused as wrong");
                assert_eq!(found, magic);
            }
            Err(HeaderError::NewerVersion { found, supported }) => {
                assert_eq!(magic, kind.magic());
                assert!(found > supported);
            }
            Err(HeaderError::Corrupt(_)) => assert_eq!(magic, kind.magic()),
        }
    }
}

// ---------------------------------------------------------------------------- log frames

/// `frame::scan` over `data` taken as a log body (the bytes after the file header): the frames
/// it reports are in bounds, contiguous from offset 0 and valid, `valid_end` is where they end,
/// and the tail accounts for every remaining byte. Each payload (and `data` itself) is decoded
/// as a window-log record and as an index record; whatever decodes re-encodes to the payload.
pub fn log_frames(data: &[u8]) {
    check_log(data);
    // The payload decoders behind the CRCs, without making the fuzzer forge checksums.
    check_payload(data);
    let fixed = repair_frames(data);
    if fixed != data {
        check_log(&fixed);
    }
}

fn check_log(data: &[u8]) {
    let s = frame::scan(data);
    let mut end = 0usize;
    for &(off, len) in &s.frames {
        assert_eq!(off, end, "frames must be contiguous from 0");
        end = check_frame_at(data, off, len);
    }
    assert_eq!(s.valid_end, end, "valid_end");
    match &s.tail {
        Tail::Clean => assert_eq!(s.valid_end, data.len(), "clean tail before the end"),
        Tail::Torn { offset, len, .. } => {
            assert_eq!(*offset, s.valid_end);
            assert!(*len > 0);
            assert_eq!(offset + len, data.len(), "torn tail must reach the end");
            assert!(!matches!(
                frame::read_frame(&data[*offset..]),
                FrameRead::Frame { .. }
            ));
        }
        Tail::Damaged {
            offset,
            later_frames,
            ..
        } => {
            assert_eq!(*offset, s.valid_end);
            assert!(*offset < data.len());
            assert!(
                matches!(frame::read_frame(&data[*offset..]), FrameRead::Bad(_)),
                "damage must start at a bad frame"
            );
            assert!(!later_frames.is_empty(), "damage without later frames");
            let mut min_next = offset + 1;
            for &(off, len) in later_frames {
                assert!(off >= min_next, "later frames ascending, non-overlapping");
                min_next = check_frame_at(data, off, len);
            }
        }
    }
}

/// Checks that a valid frame of total length `len` sits at `off`, decodes its payload, and
/// returns its end.
fn check_frame_at(data: &[u8], off: usize, len: usize) -> usize {
    assert!(len > FRAME_HEADER_LEN && len - FRAME_HEADER_LEN <= MAX_PAYLOAD);
    let end = off.checked_add(len).expect("frame end overflows");
    assert!(end <= data.len(), "frame out of bounds");
    match frame::read_frame(&data[off..]) {
        FrameRead::Frame { payload, len: l } => {
            assert_eq!(l, len);
            assert_eq!(payload, &data[off + FRAME_HEADER_LEN..end]);
            let mut again = Vec::new();
            frame::encode_frame(payload, &mut again);
            assert_eq!(&again[..], &data[off..end], "frame re-encoding");
            check_payload(payload);
        }
        other => panic!("reported frame at {off} does not read back: {other:?}"),
    }
    end
}

fn check_payload(p: &[u8]) {
    let mut samples: Vec<LoggedSample> = Vec::new();
    let mut key = None;
    if wal::decode_samples(p, |k| key = Some(k), |s| samples.push(s)).is_ok() {
        let mut out = Vec::new();
        match key {
            Some(k) => {
                assert_eq!(
                    p.len(),
                    wal::KEYED_FIXED_LEN + samples.len() * wal::SAMPLE_LEN
                );
                wal::encode_keyed_samples(&k, &samples, &mut out);
            }
            None => {
                assert_eq!(p.len(), 5 + samples.len() * wal::SAMPLE_LEN);
                wal::encode_samples(&samples, &mut out);
            }
        }
        assert_eq!(out, p, "window-log record re-encoding");
    } else {
        assert!(
            key.is_none(),
            "a key reported from a record that does not decode"
        );
    }
    if let Ok(rec) = IndexRecord::decode(p) {
        let mut out = Vec::new();
        rec.encode(&mut out);
        assert_eq!(out, p, "index record re-encoding");
    }
}

/// A copy of `data` in which every frame that fits has correct checksums.
fn repair_frames(data: &[u8]) -> Vec<u8> {
    let mut b = data.to_vec();
    let mut pos = 0usize;
    while b.len() - pos >= FRAME_HEADER_LEN {
        let len = u32_at(&b, pos) as usize;
        if len == 0 || len > MAX_PAYLOAD || len > b.len() - pos - FRAME_HEADER_LEN {
            break;
        }
        let body = pos + FRAME_HEADER_LEN;
        let pcrc = crc(&b[body..body + len]);
        b[pos + 4..pos + 8].copy_from_slice(&pcrc.to_le_bytes());
        let hcrc = crc(&b[pos..pos + 8]);
        b[pos + 8..pos + 12].copy_from_slice(&hcrc.to_le_bytes());
        pos = body + len;
    }
    b
}

// ------------------------------------------------------------------------------- segment

/// `data` as a whole segment file: `Header::decode`, `segment::decode_footer`, then for every
/// entry `segment::read_raw_chunk` (header tier 0) or `segment::read_rollup_chunk` (any other
/// tier, as the store's readers do: a rollup segment, `format-spec/rollup-segment.md`); a
/// footer that decodes describes chunks that tile the file between header and footer, and a
/// chunk that decodes matches its entry (point or bucket count, first and last timestamp or
/// bucket start). Also `inspect::dump_bytes` (any file kind) must not panic and its items must
/// stay in the file.
pub fn segment(data: &[u8]) {
    check_segment(data);
    if let Some(fixed) = repair_segment(data)
        && fixed != data
    {
        check_segment(&fixed);
    }
}

fn check_segment(data: &[u8]) {
    check_dump(data);
    let Ok(h) = Header::decode(data, FileKind::Segment) else {
        return;
    };
    let Ok(f) = segment::decode_footer(data, &h) else {
        return;
    };
    assert!(f.footer_offset >= HEADER_LEN as u64);
    assert!(f.footer_offset + TRAILER_LEN as u64 <= data.len() as u64);
    let mut offset = HEADER_LEN as u64;
    let mut points = 0u64;
    let mut prev_series = 0u32;
    for e in &f.entries {
        assert_eq!(e.offset, offset, "chunks must be contiguous");
        assert!(e.series >= prev_series, "entries sorted by series");
        assert!(e.points >= 1 && e.points as usize <= MAX_COLUMN_POINTS);
        assert!(e.min_ts <= e.max_ts);
        assert!(f.entries_of(e.series).contains(e));
        prev_series = e.series;
        offset += u64::from(e.len) + 4;
        points += u64::from(e.points);
        if h.tier != 0 {
            check_rollup_chunk(data, e);
            continue;
        }
        let mut ts = vec![i64::MIN];
        let mut vs = vec![f64::NAN];
        match segment::read_raw_chunk(data, e, &mut ts, &mut vs) {
            Ok(()) => {
                assert_eq!(ts.len(), 1 + e.points as usize);
                assert_eq!(vs.len(), ts.len());
                assert_eq!(ts[1], e.min_ts);
                assert_eq!(ts.last(), Some(&e.max_ts));
            }
            Err(_) => {
                assert_eq!((ts.len(), vs.len()), (1, 1), "output not restored on error");
            }
        }
    }
    assert_eq!(offset, f.footer_offset);
    assert_eq!(points, f.points);
    // Partial ranges: sorted, disjoint, non-empty, inside the window, none in a raw segment.
    assert!(h.tier != 0 || f.partial.is_empty());
    assert!(f.partial.iter().all(|r| r.0 < r.1
        && r.0 >= h.window_start
        && r.1 <= h.window_start.saturating_add(h.window_span)));
    assert!(f.partial.windows(2).all(|w| w[0].1 < w[1].0));
}

/// A bucket put before a decoder's output, to check that the decoder appends after it and
/// leaves it alone.
fn sentinel_bucket(start: i64) -> tierlog::rollup::Bucket {
    tierlog::rollup::Bucket {
        start,
        count: 1,
        nan_count: 0,
        min: 0.0,
        max: 0.0,
        sum: 0.0,
        first: 0.0,
        last: 0.0,
        p95: 0.0,
        increase: None,
    }
}

/// One entry of a rollup segment: decoded buckets match the entry and are well formed; on
/// error the output is as it was.
fn check_rollup_chunk(data: &[u8], e: &segment::ChunkEntry) {
    let sentinel = sentinel_bucket(i64::MIN);
    let mut out = vec![sentinel];
    match segment::read_rollup_chunk(data, e, &mut out) {
        Ok(()) => {
            let got = &out[1..];
            assert_eq!(got.len(), e.points as usize, "bucket count vs footer entry");
            assert_eq!(got[0].start, e.min_ts);
            assert_eq!(got[got.len() - 1].start, e.max_ts);
            assert!(got.windows(2).all(|w| w[0].start < w[1].start));
            assert!(got.iter().all(|b| b.count > 0 || b.nan_count > 0));
            assert!(
                got.iter().all(|b| b.increase.is_some())
                    || got.iter().all(|b| b.increase.is_none()),
                "increase in some buckets only"
            );
        }
        Err(_) => assert_eq!(out.len(), 1, "output not restored on error"),
    }
}

fn check_dump(data: &[u8]) {
    let d = tierlog_tools::inspect::dump_bytes(data);
    assert_eq!(d.size, data.len() as u64);
    let mut problems = 0;
    for item in &d.items {
        assert!(
            item.offset
                .checked_add(item.len)
                .is_some_and(|e| e <= d.size),
            "dump item {} at {} + {} beyond the file",
            item.kind,
            item.offset,
            item.len
        );
        if item.status != "ok" {
            problems += 1;
        }
    }
    assert_eq!(problems, d.problems);
    serde_json::to_string(&d).expect("dump serializes");
}

/// A copy of `data` with the segment magic and version, and with every checksum recomputed
/// that can be located: header, footer (the footer is taken to run from the offset the trailer
/// names up to the trailer), trailer, then each chunk the footer lists.
fn repair_segment(data: &[u8]) -> Option<Vec<u8>> {
    let n = data.len();
    if n < HEADER_LEN + TRAILER_LEN {
        return None;
    }
    let mut b = data.to_vec();
    b[0..8].copy_from_slice(&FileKind::Segment.magic());
    // A known version stays (each reads its footer differently); others become the newest.
    let v = u16::from_le_bytes([b[8], b[9]]);
    if v == 0 || v > FileKind::Segment.version() {
        b[8..10].copy_from_slice(&FileKind::Segment.version().to_le_bytes());
    }
    let c = crc(&b[0..28]);
    b[28..32].copy_from_slice(&c.to_le_bytes());
    let t = n - TRAILER_LEN;
    b[t + 28..t + 32].copy_from_slice(&TRAILER_MAGIC);
    let foff = u64::from_le_bytes(b[t..t + 8].try_into().expect("8 bytes"));
    if foff >= HEADER_LEN as u64 && foff <= t as u64 {
        let foff = foff as usize;
        b[t + 8..t + 12].copy_from_slice(&((t - foff) as u32).to_le_bytes());
        let fc = crc(&b[foff..t]);
        b[t + 12..t + 16].copy_from_slice(&fc.to_le_bytes());
    }
    let tc = crc(&b[t..t + 24]);
    b[t + 24..t + 28].copy_from_slice(&tc.to_le_bytes());
    let h = Header::decode(&b, FileKind::Segment).ok()?;
    if let Ok(f) = segment::decode_footer(&b, &h) {
        for e in &f.entries {
            let start = e.offset as usize;
            let end = start + e.len as usize;
            if end + 4 <= t {
                let cc = crc(&b[start..end]);
                b[end..end + 4].copy_from_slice(&cc.to_le_bytes());
            }
        }
    }
    Some(b)
}

// --------------------------------------------------------------------------------- state

/// `State::decode`; a state that decodes re-encodes to the input.
pub fn state(data: &[u8]) {
    if let Ok(s) = State::decode(data) {
        // Older versions are re-encoded as the current one; a current file round-trips
        // exactly.
        match data[8] {
            4 => assert_eq!(s.encode(), data, "state re-encoding"),
            3 => assert!(s.retention.is_some_and(|r| r.policy.is_none())),
            2 => assert!(s.retention.is_none()),
            _ => assert_eq!(data.len(), STATE_V1_LEN),
        }
    }
}

/// `Checkpoint::decode` (a forwarder's checkpoint file) on arbitrary bytes: a current
/// (version 2) file that decodes re-encodes to exactly its bytes; a version 1 file decodes to
/// a checkpoint with nothing in flight, which re-encodes to its bytes as version 1 (the
/// same fields, the in-flight end left out).
pub fn forward_checkpoint(data: &[u8]) {
    use tierlog::forward::format::{CHECKPOINT_V1_LEN, Checkpoint};
    if let Ok(c) = Checkpoint::decode(data) {
        if data[8] == 2 {
            assert_eq!(c.encode(), data, "checkpoint re-encoding");
        } else {
            assert_eq!(data.len(), CHECKPOINT_V1_LEN);
            assert_eq!(c.in_flight, None);
            let v2 = c.encode();
            assert_eq!(v2[32..60], data[32..60], "version 1 fields");
        }
    }
}

// --------------------------------------------------------------------------------- codec

/// `codec::decode_chunk`, `decode_chunk_pairs`, `decode_timestamps` and `decode_values` on
/// arbitrary bytes. The two chunk decoders agree (same points or both an error). Errors
/// leave the output vectors as they were; a column that decodes reports a consumed length
/// within the input, decodes the same from exactly those bytes, fails with `Truncated` on the
/// bytes minus the last, and its values re-encode and decode back bit-exactly (timestamps
/// too, when strictly increasing, which is what the encoder accepts).
pub fn codec_decode(data: &[u8]) {
    // Chunk.
    let mut ts = vec![7i64];
    let mut vs = vec![-1.5f64];
    match codec::decode_chunk(data, &mut ts, &mut vs) {
        Ok(()) => {
            assert_eq!(ts.len(), vs.len());
            assert!(ts.len() - 1 <= MAX_COLUMN_POINTS);
            assert_truncated(codec::decode_chunk(
                &data[..data.len() - 1],
                &mut Vec::new(),
                &mut Vec::new(),
            ));
            if strictly_increasing(&ts[1..]) {
                let mut enc = Vec::new();
                codec::encode_chunk(&ts[1..], &vs[1..], &mut enc);
                let (mut t2, mut v2) = (Vec::new(), Vec::new());
                codec::decode_chunk(&enc, &mut t2, &mut v2).expect("re-encoded chunk decodes");
                assert_eq!(t2, &ts[1..]);
                assert_bits_eq(&v2, &vs[1..]);
            }
        }
        Err(_) => assert_eq!((ts.len(), vs.len()), (1, 1), "output not restored on error"),
    }
    // The same chunk into `(ts, value)` pairs: the same points, or an error for both.
    let base = i64::from_le_bytes(std::array::from_fn(|i| data.get(i).copied().unwrap_or(0)));
    let mut pairs = vec![(7i64, -1.5f64)];
    match codec::decode_chunk_pairs(data, base, &mut pairs) {
        Ok(()) => {
            assert_eq!(pairs.len(), ts.len(), "pairs and columns differ in count");
            for (p, (t, v)) in pairs[1..].iter().zip(ts[1..].iter().zip(&vs[1..])) {
                assert_eq!(p.0, t.wrapping_add(base));
                assert_eq!(p.1.to_bits(), v.to_bits());
            }
        }
        Err(_) => {
            assert_eq!(ts.len(), 1, "pairs failed where columns decoded");
            assert_eq!(pairs.len(), 1, "output not restored on error");
        }
    }

    // Timestamp column.
    let mut ts = vec![7i64];
    match codec::decode_timestamps(data, &mut ts) {
        Ok(used) => {
            assert!(used >= 2 && used <= data.len());
            assert!(ts.len() - 1 <= MAX_COLUMN_POINTS);
            let mut again = Vec::new();
            assert_eq!(
                codec::decode_timestamps(&data[..used], &mut again),
                Ok(used)
            );
            assert_eq!(again, &ts[1..]);
            assert_truncated(codec::decode_timestamps(&data[..used - 1], &mut Vec::new()));
            if strictly_increasing(&ts[1..]) {
                let mut enc = Vec::new();
                codec::encode_timestamps(&ts[1..], &mut enc);
                let mut back = Vec::new();
                assert_eq!(codec::decode_timestamps(&enc, &mut back), Ok(enc.len()));
                assert_eq!(back, &ts[1..]);
            }
        }
        Err(_) => assert_eq!(ts.len(), 1, "output not restored on error"),
    }

    // Value column.
    let mut vs = vec![-1.5f64];
    match codec::decode_values(data, &mut vs) {
        Ok(used) => {
            assert!(used >= 2 && used <= data.len());
            assert!(vs.len() - 1 <= MAX_COLUMN_POINTS);
            let mut again = Vec::new();
            assert_eq!(codec::decode_values(&data[..used], &mut again), Ok(used));
            assert_bits_eq(&again, &vs[1..]);
            assert_truncated(codec::decode_values(&data[..used - 1], &mut Vec::new()));
            let mut enc = Vec::new();
            codec::encode_values(&vs[1..], &mut enc);
            let mut back = Vec::new();
            assert_eq!(codec::decode_values(&enc, &mut back), Ok(enc.len()));
            assert_bits_eq(&back, &vs[1..]);
        }
        Err(_) => assert_eq!(vs.len(), 1, "output not restored on error"),
    }
}

/// Builds a chunk from the bytes and checks `encode_chunk` → `decode_chunk` is lossless.
///
/// Layout (missing bytes read as zero): a mode byte, then an i64 LE first timestamp, then
/// points until the input ends. Timestamps are cumulative sums of `(u16 LE + 1) × unit`
/// (`unit` picked by the mode from 1000, 1, 15 000, 7, 250, 60 000, 3, 10; the series stops
/// before it would overflow). Mode bit 0 clear: each point also carries a u64 LE of f64 bits
/// (any value, NaN payloads included). Set: "decimal-ish" values — a byte `k` after the first
/// timestamp, and per point an i32 LE `n`; the value is `n / 10^(k % 12)` (exponents above 9
/// exercise the fallback codecs), `n` often reused to make runs.
pub fn codec_roundtrip(data: &[u8]) {
    let mut r = Bytes(data);
    let mode = r.u8();
    let units = [1000i64, 1, 15_000, 7, 250, 60_000, 3, 10];
    let unit = units[usize::from(mode >> 1) % units.len()];
    let decimal = mode & 1 == 1;
    let mut t = r.u64() as i64;
    let k = if decimal { r.u8() % 12 } else { 0 };
    let scale = 10f64.powi(i32::from(k));
    let mut ts = Vec::new();
    let mut vs = Vec::new();
    while !r.0.is_empty() && ts.len() < MAX_COLUMN_POINTS {
        let step = (i64::from(r.u16()) + 1) * unit;
        if !ts.is_empty() {
            match t.checked_add(step) {
                Some(next) => t = next,
                None => break,
            }
        }
        let v = if decimal {
            f64::from(r.u32() as i32) / scale
        } else {
            f64::from_bits(r.u64())
        };
        ts.push(t);
        vs.push(v);
    }

    let mut enc = Vec::new();
    codec::encode_chunk(&ts, &vs, &mut enc);
    let (mut t2, mut v2) = (vec![1i64], vec![2.0f64]);
    codec::decode_chunk(&enc, &mut t2, &mut v2).expect("encoded chunk decodes");
    assert_eq!(&t2[1..], &ts[..], "timestamps round trip");
    assert_bits_eq(&v2[1..], &vs);
    // Columns are self-delimiting; every strict prefix is truncated.
    let mut tcol = Vec::new();
    codec::encode_timestamps(&ts, &mut tcol);
    assert_eq!(&enc[..tcol.len()], &tcol[..]);
    assert_eq!(
        codec::decode_timestamps(&enc, &mut Vec::new()),
        Ok(tcol.len())
    );
    assert_eq!(
        codec::decode_values(&enc[tcol.len()..], &mut Vec::new()),
        Ok(enc.len() - tcol.len())
    );
    let step = (enc.len() / 16).max(1);
    for cut in (0..enc.len()).rev().step_by(step) {
        assert_truncated(codec::decode_chunk(
            &enc[..cut],
            &mut Vec::new(),
            &mut Vec::new(),
        ));
    }
}

/// Reads little-endian fields, yielding zeros once the input is exhausted.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        let n = self.0.len().min(N);
        b[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        b
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
}

fn strictly_increasing(ts: &[i64]) -> bool {
    ts.windows(2).all(|w| w[0] < w[1])
}

fn assert_bits_eq(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "value count");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(
            x.to_bits(),
            y.to_bits(),
            "value {i}: {x:?} ({:#018x}) != {y:?} ({:#018x})",
            x.to_bits(),
            y.to_bits()
        );
    }
}

fn assert_truncated<T: std::fmt::Debug>(r: Result<T, CodecError>) {
    assert!(
        matches!(r, Err(CodecError::Truncated { .. })),
        "a strict prefix of a decodable column must be truncated, got {r:?}"
    );
}

// ---------------------------------------------------------------------------------- prom

/// Runs `PromParser` over the bytes to the end. Line numbers increase; errors display. Each
/// sample formatted back as an exposition line re-parses to the same metric, labels and
/// timestamp and a bit-identical value (or NaN for NaN); `# TYPE`, `# UNIT` and (when
/// representable) `# HELP` lines round-trip too.
pub fn prom_parse(data: &[u8]) {
    let mut last_line = 0u64;
    for item in PromParser::new(data) {
        match item {
            Ok((line, entry)) => {
                assert!(line > last_line, "line numbers must increase");
                last_line = line;
                if let Some(text) = format_entry(&entry) {
                    let got: Vec<_> = PromParser::new(text.as_bytes()).collect();
                    match got.as_slice() {
                        [Ok((1, back))] => assert_entry_eq(back, &entry, &text),
                        other => panic!("{text:?} from {entry:?} re-parsed as {other:?}"),
                    }
                }
            }
            Err(e) => {
                if let tierlog_tools::import::prom::ParseError::Syntax { line, column, .. } = &e {
                    assert!(*line > last_line, "line numbers must increase");
                    assert!(*column >= 1);
                    last_line = *line;
                }
                let _ = e.to_string();
            }
        }
    }
}

fn format_entry(e: &Entry) -> Option<String> {
    let mut out = String::new();
    match e {
        Entry::Sample(s) => format_sample(s, &mut out),
        Entry::Type { metric, kind } => write!(out, "# TYPE {metric} {kind}").expect("fmt"),
        Entry::Unit { metric, unit } => write!(out, "# UNIT {metric} {unit}").expect("fmt"),
        Entry::Help { metric, text } => {
            // A trailing CR is taken for a line ending; there is no escape for it.
            if text.ends_with('\r') {
                return None;
            }
            let esc = text.replace('\\', "\\\\").replace('\n', "\\n");
            write!(out, "# HELP {metric} {esc}").expect("fmt");
        }
    }
    out.push('\n');
    Some(out)
}

fn format_sample(s: &ParsedSample, out: &mut String) {
    out.push_str(&s.metric);
    if !s.labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in s.labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            write!(out, "{k}=\"{v}\"").expect("fmt");
        }
        out.push('}');
    }
    let v = s.value;
    if v.is_nan() {
        out.push_str(" NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { " +Inf" } else { " -Inf" });
    } else {
        write!(out, " {v:?}").expect("fmt");
    }
    if let Some(ts) = s.ts_ms {
        write!(out, " {ts}").expect("fmt");
    }
}

fn assert_entry_eq(back: &Entry, orig: &Entry, text: &str) {
    match (back, orig) {
        (Entry::Sample(b), Entry::Sample(o)) => {
            assert_eq!(b.metric, o.metric, "{text:?}");
            assert_eq!(b.labels, o.labels, "{text:?}");
            assert_eq!(b.ts_ms, o.ts_ms, "{text:?}");
            if o.value.is_nan() {
                assert!(b.value.is_nan(), "{text:?}");
            } else {
                assert_eq!(b.value.to_bits(), o.value.to_bits(), "{text:?}");
            }
        }
        _ => assert_eq!(back, orig, "{text:?}"),
    }
}

// ------------------------------------------------------------------------------ selector

/// If the bytes are UTF-8, `Selector::parse`; a selector that parses displays as text that
/// parses back to an equal selector (and displays the same); an error's position lies within
/// the text.
pub fn selector(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match Selector::parse(s) {
        Ok(sel) => {
            let text = sel.to_string();
            let back = Selector::parse(&text)
                .unwrap_or_else(|e| panic!("{s:?} displays as {text:?}, which fails: {e}"));
            assert_eq!(back, sel, "{s:?} displays as {text:?}");
            assert_eq!(back.to_string(), text, "display is not canonical");
        }
        Err(e) => {
            assert!(e.position <= s.len(), "error position beyond the text");
            let _ = e.to_string();
        }
    }
}

// ----------------------------------------------------------------------------- store_ops

/// The series `store_ops` writes to: (metric, labels).
const OPS_SERIES: [(&str, &[(&str, &str)]); 4] = [
    ("cpu_seconds_total", &[("mode", "user")]),
    ("cpu_seconds_total", &[("mode", "idle")]),
    ("temp_celsius", &[]),
    ("up", &[("job", "a"), ("zone", "é")]),
];
/// Clock start of `store_ops`, ms.
const OPS_T0: i64 = 1_700_000_000_000;
/// Operations per input, to bound the file work of one run.
const MAX_OPS: usize = 256;

/// Per series: second start → the accepted samples in arrival order.
type Model = Vec<BTreeMap<i64, Vec<f64>>>;

/// Adds `value` to a model point.
fn add_sample(e: &mut Vec<f64>, value: f64) {
    e.push(value);
}

/// The value a query returns for a model point (format-spec/window-log.md).
fn point_value(v: &[f64]) -> f64 {
    crate::helpers::mean(v)
}

fn same_value(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// The store of a `store_ops` run: on the in-memory fault-injecting backend, with a manual
/// clock, 1-minute windows, `Sync::EveryWrite` (an acknowledged sample is durable) and
/// retention far beyond what the ops' clock advances reach.
struct OpsWorld {
    clock: Arc<ManualClock>,
    fs: tierlog::vfs::FaultFs,
    model: Model,
}

impl OpsWorld {
    fn config(&self) -> Config {
        let mut c = Config::default()
            .with_clock(self.clock.clone())
            .with_sync(Sync::EveryWrite)
            .with_vfs(Arc::new(self.fs.clone()));
        c.window_span = Duration::from_secs(60);
        c.grace = Duration::from_secs(30);
        c.future_limit = Duration::from_secs(300);
        c.maintenance_interval = None;
        // The model knows no retention: keep everything far beyond what the ops' clock
        // advances can reach (rollups are still materialised and compacted).
        let day = Duration::from_secs(86_400);
        c.max_age_days = Some(3650);
        c.raw_keep = Some(day * 3000);
        c.tiers_mut()[0].keep = day * 3100;
        c.tiers_mut()[1].keep = day * 3200;
        c
    }

    /// After the power loss: reopens what survived and checks it against the model: every
    /// acknowledged sample is there, and nothing else but possibly the one sample whose write
    /// was under way (`pending`: series, ms, value). Adopts what survived. `verify` (on the
    /// same backend) must find no corruption.
    fn reboot(&mut self, pending: Option<(usize, i64, f64)>) -> Store {
        self.fs = self.fs.survivor().unwrap_or_else(|| self.fs.power_loss());
        let store = Store::open("/db", self.config()).expect("reopen after a power loss");
        let mut alt = None;
        if let Some((idx, ts, value)) = pending {
            let sec = ts.div_euclid(1000) * 1000;
            let mut e = self.model[idx].get(&sec).cloned().unwrap_or_default();
            add_sample(&mut e, value);
            alt = Some((idx, sec, e));
        }
        let res = query_all(&store, i64::MIN, i64::MAX).expect("query after a power loss");
        assert!(res.warnings.is_empty(), "warnings: {:?}", res.warnings);
        let mut seen = 0;
        let mut took_pending = false;
        for s in &res.series {
            let idx = OPS_SERIES
                .iter()
                .position(|(m, l)| *m == s.metric && Labels::canonical(l) == s.labels)
                .unwrap_or_else(|| panic!("series {} {:?} was never written", s.metric, s.labels));
            for &(t, v) in &s.points {
                let acked = self.model[idx].get(&t);
                let ok_acked = acked.is_some_and(|e| same_value(point_value(e), v));
                let ok_pending = alt.as_ref().is_some_and(|(i, sec, e)| {
                    *i == idx && *sec == t && same_value(point_value(e), v)
                });
                assert!(
                    ok_acked || ok_pending,
                    "{} {:?} at {t}: {v} after a power loss; acknowledged {acked:?}, under way {pending:?}",
                    s.metric,
                    s.labels
                );
                if acked.is_some() {
                    seen += 1;
                }
                took_pending |= ok_pending && !ok_acked;
            }
        }
        let acked: usize = self.model.iter().map(BTreeMap::len).sum();
        assert_eq!(seen, acked, "acknowledged points lost to a power loss");
        if let (true, Some((idx, sec, e))) = (took_pending, alt) {
            self.model[idx].insert(sec, e);
        }
        let v = tierlog_tools::inspect::verify_dir_on(
            Arc::new(self.fs.clone()),
            std::path::Path::new("/db"),
            |_| {},
        )
        .expect("verify");
        assert!(
            v.is_clean(),
            "verify after a power loss: {:?}",
            v.corruption
        );
        store
    }
}

/// End to end, with a power loss: the bytes are a crash point and a program of store
/// operations, run on a fresh store on the in-memory fault-injecting backend (see
/// `OpsWorld`). The first byte's low bit asks for torn writes (part of the unsynced appended
/// bytes survive), the next two bytes (u16 LE) are the I/O operation before which power is
/// lost (0: none until the end). Then each op is a byte (mod 8) and its operands: 0-3 write
/// one sample (series, ms offset from the clock, value), 4 advance the clock, 5 `maintain`,
/// 6 close and reopen, 7 a range query.
///
/// Until the power loss, every write must succeed and account for its sample as accepted or
/// rejected, and every query must return exactly the accepted samples: one point per
/// series-second holding their mean, values bit-exact. An error is allowed only once power is
/// lost; the store then reopens on what survived, which must hold every acknowledged sample
/// and nothing else (but the one whose write was under way), and `verify` must be clean; the
/// program goes on with the reopened store. At the end power is lost again and the same holds,
/// also after a read-only reopen.
pub fn store_ops(data: &[u8]) {
    let mut r = Bytes(data);
    let torn = r.u8() & 1 == 1;
    let crash_at = u64::from(r.u16());
    let mut w = OpsWorld {
        clock: Arc::new(ManualClock::new(OPS_T0)),
        fs: tierlog::vfs::FaultFs::new(),
        model: vec![BTreeMap::new(); OPS_SERIES.len()],
    };
    let mut store = Store::open("/db", w.config()).expect("open a new store");
    if crash_at > 0 {
        w.fs.crash_at(crash_at);
        w.fs.set_torn_power_loss(torn.then_some(crash_at));
    }
    let mut ops = 0;
    while !r.0.is_empty() && ops < MAX_OPS {
        ops += 1;
        // Ok(()) or the sample under way when power was lost.
        let outcome: Result<(), Option<(usize, i64, f64)>> = match r.u8() % 8 {
            0..=3 => {
                let idx = usize::from(r.u8()) % OPS_SERIES.len();
                let ts = w.clock.now_ms() + i64::from(r.u16() as i16) * 250;
                let value = match r.u8() % 4 {
                    0 => f64::from_bits(r.u64()),
                    1 => f64::from(r.u16() as i16) / 10.0,
                    2 => f64::from(r.u8()),
                    _ => [
                        f64::NAN,
                        f64::INFINITY,
                        f64::NEG_INFINITY,
                        -0.0,
                        0.0,
                        f64::MAX,
                        f64::MIN_POSITIVE,
                        5e-324,
                    ][usize::from(r.u8() % 8)],
                };
                let (metric, labels) = OPS_SERIES[idx];
                match store.write(&[Sample::new(metric, labels, ts, value)]) {
                    Ok(sum) => {
                        assert_eq!(sum.accepted + sum.rejected(), 1, "{sum:?}");
                        if sum.accepted == 1 {
                            let e = w.model[idx].entry(ts.div_euclid(1000) * 1000).or_default();
                            add_sample(e, value);
                        }
                        Ok(())
                    }
                    Err(e) => {
                        assert!(w.fs.crashed(), "write failed without a power loss: {e}");
                        Err(Some((idx, ts, value)))
                    }
                }
            }
            4 => {
                w.clock.advance(i64::from(r.u16()) * 100);
                Ok(())
            }
            5 => store.maintain().map(|_| ()).map_err(|e| {
                assert!(w.fs.crashed(), "maintain failed without a power loss: {e}");
                None
            }),
            6 => {
                let closed = store.close();
                let reopened = closed.and_then(|()| Store::open("/db", w.config()));
                match reopened {
                    Ok(s) => {
                        store = s;
                        assert!(
                            store.recovery_findings().is_empty(),
                            "clean close, yet recovery found {:?}",
                            store.recovery_findings()
                        );
                        check_store(&store, &w.model, i64::MIN, i64::MAX).map_err(|e| {
                            assert!(w.fs.crashed(), "query failed without a power loss: {e}");
                            None
                        })
                    }
                    Err(e) => {
                        assert!(
                            w.fs.crashed(),
                            "close or reopen failed without a power loss: {e}"
                        );
                        // The old store is gone; a placeholder until the reboot below.
                        store = w.reboot(None);
                        continue;
                    }
                }
            }
            _ => {
                let from = w.clock.now_ms() + i64::from(r.u16() as i16) * 250;
                let to = from + i64::from(r.u16()) * 100;
                if w.fs.crashed() {
                    Err(None)
                } else {
                    check_store(&store, &w.model, from, to).map_err(|e| {
                        assert!(w.fs.crashed(), "query failed without a power loss: {e}");
                        None
                    })
                }
            }
        };
        if let Err(pending) = outcome {
            drop(store);
            store = w.reboot(pending);
        }
    }
    if !w.fs.crashed() {
        check_store(&store, &w.model, i64::MIN, i64::MAX).expect("query");
    }
    drop(store);
    let store = w.reboot(None);
    check_store(&store, &w.model, i64::MIN, i64::MAX).expect("query");
    store.close().expect("close");
    let ro = Store::open_read_only("/db", w.config()).expect("read-only open");
    check_store(&ro, &w.model, i64::MIN, i64::MAX).expect("query");
}

/// Every series over `[from, to)`.
fn query_all(store: &Store, from: i64, to: i64) -> tierlog::Result<tierlog::store::QueryResult> {
    // Compiling the regex dominates a run; do it once.
    static ALL: OnceLock<Selector> = OnceLock::new();
    let all = ALL.get_or_init(|| Selector::parse(r#"{__name__=~".+"}"#).expect("selector"));
    store.query(all, from, to)
}

/// (metric, labels, points) a query should return for one series.
type ExpectedSeries<'a> = (&'a str, Labels, Vec<(i64, f64)>);

/// Queries every series over `[from, to)` and compares with the model; the query's error
/// (allowed only after a power loss) is returned.
fn check_store(store: &Store, model: &Model, from: i64, to: i64) -> tierlog::Result<()> {
    let res = query_all(store, from, to)?;
    assert!(res.warnings.is_empty(), "warnings: {:?}", res.warnings);
    let mut want: Vec<ExpectedSeries<'_>> = OPS_SERIES
        .iter()
        .zip(model)
        .map(|((metric, labels), points)| {
            let pts: Vec<(i64, f64)> = points
                .range(from..to)
                .map(|(&t, e)| (t, point_value(e)))
                .collect();
            (*metric, Labels::canonical(labels), pts)
        })
        .filter(|(_, _, p)| !p.is_empty())
        .collect();
    want.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let got: Vec<(&str, &Labels, usize)> = res
        .series
        .iter()
        .map(|s| (s.metric.as_str(), &s.labels, s.points.len()))
        .collect();
    let exp: Vec<(&str, &Labels, usize)> = want.iter().map(|w| (w.0, &w.1, w.2.len())).collect();
    assert_eq!(got, exp, "series over [{from}, {to})");
    for (s, w) in res.series.iter().zip(&want) {
        for (i, (p, q)) in s.points.iter().zip(&w.2).enumerate() {
            assert!(
                p.0 == q.0 && (p.1.to_bits() == q.1.to_bits() || (p.1.is_nan() && q.1.is_nan())),
                "{} {:?} point {i}: got {p:?}, want {q:?}",
                s.metric,
                s.labels
            );
        }
    }
    Ok(())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

// ---------------------------------------------------------------------------- rollup chunk

/// Two checks per input, each for both chunk layouts (`decode_chunk_v1`/`encode_chunk_v1`
/// and the newest, `decode_chunk`/`encode_chunk`). (1) The bytes as a rollup chunk (base
/// from nothing): `Ok` or a typed error, output untouched on error; what decodes has strictly
/// increasing starts, every strict prefix fails as truncated, and re-encoding gives the same
/// buckets bit for bit; decoded into columns that held another chunk (as a segment of
/// version 2, 4, 5 or 6 is read for step queries), the same verdict and buckets; what a
/// version-4 or version-5 reader takes, the newest reads alike. (2) The bytes as raw points (per point: u16 LE step + 1 in ms × a unit
/// picked by the first byte, then a value from a small decimal/NaN/any-bits menu), aggregated
/// into buckets of an interval picked by the second byte (counter or not), must encode and
/// decode bit-exactly, and the counts must add up to the points.
pub fn rollup_chunk(data: &[u8]) {
    use tierlog::rollup::bucket::{Bucket, aggregate};
    use tierlog::rollup::format as rollup;

    let bits = Bucket::bits;
    let base = 1_700_000_000_000i64;

    // (1) Decoder, of each layout and version (layout 1: rollup segments before version 4;
    // layout 2 without p95 offsets: version 4; without count exceptions and min steps:
    // version 5; the newest).
    type Dec = fn(&[u8], i64, &mut Vec<Bucket>) -> Result<(), tierlog::Corruption>;
    type Enc = fn(&[Bucket], i64, &mut Vec<u8>);
    let layouts: [(Dec, Enc); 4] = [
        (rollup::decode_chunk_v1, rollup::encode_chunk_v1),
        (
            |i, b, o| rollup::decode_chunk_at(rollup::LAYOUT2_SINCE, i, b, o),
            |x, b, o| rollup::encode_chunk_at(rollup::LAYOUT2_SINCE, x, b, o),
        ),
        (
            |i, b, o| rollup::decode_chunk_at(rollup::P95_OFFSET_SINCE, i, b, o),
            |x, b, o| rollup::encode_chunk_at(rollup::P95_OFFSET_SINCE, x, b, o),
        ),
        (rollup::decode_chunk, rollup::encode_chunk),
    ];
    // What a version-4 or version-5 segment's reader takes, the newest reads alike.
    for older in &layouts[1..3] {
        let mut old = Vec::new();
        if older.0(data, base, &mut old).is_ok() {
            let mut newest = Vec::new();
            rollup::decode_chunk(data, base, &mut newest)
                .expect("an older layout-2 chunk is read by the newest");
            assert_eq!(
                newest.iter().map(bits).collect::<Vec<_>>(),
                old.iter().map(bits).collect::<Vec<_>>()
            );
        }
    }
    for (decode_chunk, encode_chunk) in layouts {
        let sentinel = sentinel_bucket(0);
        let mut out = vec![sentinel];
        match decode_chunk(data, base, &mut out) {
            Ok(()) => {
                let got = &out[1..];
                assert!(got.len() <= MAX_COLUMN_POINTS);
                assert!(got.windows(2).all(|w| w[0].start < w[1].start));
                assert!(got.iter().all(|b| b.count > 0 || b.nan_count > 0));
                for cut in [0, data.len() / 2, data.len() - 1] {
                    let r = decode_chunk(&data[..cut], base, &mut Vec::new());
                    assert!(
                        matches!(
                            r,
                            Err(tierlog::Corruption::Codec(CodecError::Truncated { .. }))
                        ),
                        "prefix {cut}: {r:?}"
                    );
                }
                let uniform = got.iter().all(|b| b.increase.is_some())
                    || got.iter().all(|b| b.increase.is_none());
                let rel_ok = got
                    .windows(2)
                    .all(|w| w[0].start.wrapping_sub(base) < w[1].start.wrapping_sub(base));
                if uniform && rel_ok {
                    let mut enc = Vec::new();
                    encode_chunk(got, base, &mut enc);
                    let mut back = Vec::new();
                    decode_chunk(&enc, base, &mut back).expect("re-encoded chunk decodes");
                    assert_eq!(
                        back.iter().map(bits).collect::<Vec<_>>(),
                        got.iter().map(bits).collect::<Vec<_>>()
                    );
                }
            }
            Err(_) => assert_eq!(out.len(), 1, "output not restored on error"),
        }
    }

    // (1b) The same bytes decoded into columns (what step queries read), each layout by
    // its segment version, into columns that held another chunk (scratch reused): the
    // same verdict and the same buckets as the bucket decoders above.
    let mut cols = rollup::ChunkColumns::default();
    let pre: Vec<Bucket> = (0..3)
        .map(|i| Bucket {
            start: base + i * 60_000,
            count: 25 + i as u32,
            nan_count: 1,
            min: -1.5,
            max: 7.25 + i as f64,
            sum: 12.0,
            first: 0.5,
            last: 7.0,
            p95: 6.0,
            increase: Some(2.0),
        })
        .collect();
    for (version, (decode_chunk, _)) in [
        (2u16, layouts[0]),
        (rollup::LAYOUT2_SINCE, layouts[1]),
        (rollup::P95_OFFSET_SINCE, layouts[2]),
        (rollup::ROLLUP_VERSION, layouts[3]),
    ] {
        let mut enc = Vec::new();
        rollup::encode_chunk_at(version, &pre, base, &mut enc);
        rollup::decode_chunk_columns_at(version, &enc, base, &mut cols).expect("valid chunk");
        let r = rollup::decode_chunk_columns_at(version, data, base, &mut cols);
        let mut out = Vec::new();
        let want = decode_chunk(data, base, &mut out);
        assert_eq!(format!("{r:?}"), format!("{want:?}"), "version {version}");
        if r.is_ok() {
            assert_eq!(
                (0..cols.len())
                    .map(|i| bits(&cols.bucket(i)))
                    .collect::<Vec<_>>(),
                out.iter().map(bits).collect::<Vec<_>>()
            );
        }
    }

    // (2) Aggregate, encode, decode.
    let mut r = Bytes(data);
    let mode = r.u8();
    let unit = [1000i64, 1, 15_000, 250, 7][usize::from(mode % 5)];
    let sel = r.u8();
    let interval = [10_000i64, 60_000, 1_000, 7, 300_000][usize::from(sel % 5)];
    let counter = sel & 0x80 != 0;
    let mut t = base + i64::from(r.u16() as i16) * 1000;
    let mut points = Vec::new();
    while !r.0.is_empty() && points.len() < 4 * MAX_COLUMN_POINTS {
        t += (i64::from(r.u16()) + 1) * unit;
        let v = match r.u8() % 8 {
            0 => f64::from_bits(r.u64()),
            1 => f64::NAN,
            2 => -0.0,
            3 => f64::INFINITY,
            4 => f64::from(r.u16()) * 4096.0,
            _ => f64::from(r.u16() as i16) / 10.0,
        };
        // A counter's points mostly rise (a fall is a reset), so its increases derive.
        let v = match points.last() {
            Some(&(_, p))
                if counter && v.is_finite() && r.0.first().is_some_and(|b| b & 3 != 0) =>
            {
                p + v.abs()
            }
            _ => v,
        };
        points.push((t, v));
    }
    let mut buckets = Vec::new();
    aggregate(&points, interval, counter, None, &mut buckets);
    let total: u64 = buckets
        .iter()
        .map(|b| u64::from(b.count) + u64::from(b.nan_count))
        .sum();
    assert_eq!(total, points.len() as u64, "every point in one bucket");
    for chunk in buckets.chunks(MAX_COLUMN_POINTS) {
        let mut enc = Vec::new();
        let chunk_base = chunk.first().map_or(base, |b| b.start.min(base));
        for (decode_chunk, encode_chunk) in layouts {
            enc.clear();
            encode_chunk(chunk, chunk_base, &mut enc);
            let mut back = Vec::new();
            decode_chunk(&enc, chunk_base, &mut back).expect("encoded chunk decodes");
            assert_eq!(
                back.iter().map(bits).collect::<Vec<_>>(),
                chunk.iter().map(bits).collect::<Vec<_>>()
            );
        }
    }
}

/// The committed fuzz corpora: `fuzz/corpus` at the workspace root, one directory a target.
pub fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

/// Runs every file of `fuzz/corpus/<name>` through `f` (a fuzz target's entry point), for
/// the tests that replay the corpora; fails when the corpus holds fewer than 3 files and
/// reports all failing files at once.
pub fn replay_corpus(name: &str, f: fn(&[u8])) {
    let dir = corpus_root().join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{}: fewer than 3 seeds", dir.display());
    let mut failed = Vec::new();
    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if panic::catch_unwind(AssertUnwindSafe(|| f(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{name}: {} of {} corpus inputs fail (reproduce with `cargo fuzz run {name} FILE`):\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}
