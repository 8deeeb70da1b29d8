//! Bounded-memory external sort of `(timestamp, payload)` records by time.
//!
//! Records are buffered in memory; when the buffered size exceeds the limit
//! the buffer is stably sorted and written as a *run* to an anonymous
//! temporary file (created with `tempfile`, so it vanishes when dropped).
//! To keep the number of open files bounded, whenever [`MAX_FAN_IN`] runs of
//! the same level have accumulated they are merged into one run of the next
//! level (runs are always merged in creation order, so stability holds).
//! [`TimeSorter::finish`] k-way merges the remaining runs and the in-memory
//! tail with a `BinaryHeap` keyed by `(ts, source index)`; sources are
//! ordered by insertion, so this equals ordering by `(ts, sequence number)`.
//!
//! Run file format, repeated per record, little-endian:
//! `ts: i64 | len: u32 | payload: [u8; len]`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes charged per buffered record on top of its payload.
const RECORD_OVERHEAD: usize = std::mem::size_of::<(i64, Vec<u8>)>();
const HEADER_LEN: usize = 12;
/// Maximum number of runs merged at once (and so, per level, kept open).
pub const MAX_FAN_IN: usize = 16;
const WRITE_BUF: usize = 64 * 1024;
const READ_BUF: usize = 32 * 1024;

struct Run {
    file: File,
    records: u64,
    level: u32,
}

/// Collects records and hands them back sorted by timestamp (stable).
pub struct TimeSorter {
    dir: PathBuf,
    max_bytes: usize,
    buf: Vec<(i64, Vec<u8>)>,
    buf_bytes: usize,
    runs: Vec<Run>,
    spilled: usize,
    broken: bool,
}

impl TimeSorter {
    /// `spill_dir`: where temporary run files go (anonymous temp files that
    /// vanish on drop); `max_bytes_in_memory`: spill a sorted run when the
    /// buffered records exceed this (payload bytes + a per-record overhead).
    pub fn new(spill_dir: &Path, max_bytes_in_memory: usize) -> Self {
        TimeSorter {
            dir: spill_dir.to_path_buf(),
            max_bytes: max_bytes_in_memory,
            buf: Vec::new(),
            buf_bytes: 0,
            runs: Vec::new(),
            spilled: 0,
            broken: false,
        }
    }

    /// Adds a record. Payloads larger than `u32::MAX` bytes are rejected.
    /// After an I/O error while merging runs the sorter refuses further use.
    pub fn push(&mut self, ts_ms: i64, payload: &[u8]) -> io::Result<()> {
        self.check_usable()?;
        if u32::try_from(payload.len()).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "payload larger than 4 GiB",
            ));
        }
        self.buf.push((ts_ms, payload.to_vec()));
        self.buf_bytes = self
            .buf_bytes
            .saturating_add(payload.len())
            .saturating_add(RECORD_OVERHEAD);
        if self.buf_bytes > self.max_bytes {
            self.spill()?;
        }
        Ok(())
    }

    /// Records in ascending ts; records with equal ts come out in insertion
    /// order (stable). Touches no file if nothing was spilled.
    pub fn finish(mut self) -> io::Result<SortedRecords> {
        self.check_usable()?;
        let mut buf = std::mem::take(&mut self.buf);
        buf.sort_by_key(|r| r.0);
        if self.runs.is_empty() {
            return Ok(SortedRecords {
                state: State::Memory(buf.into_iter()),
            });
        }
        let mut sources: Vec<Source> = std::mem::take(&mut self.runs)
            .into_iter()
            .map(|r| Source::Disk(RunReader::new(r)))
            .collect();
        sources.push(Source::Memory(buf.into_iter()));
        Ok(SortedRecords {
            state: State::Merge(Box::new(Merger::new(sources)?)),
        })
    }

    /// Number of sorted runs spilled from memory so far (runs produced by
    /// merging runs together are not counted).
    pub fn spilled_runs(&self) -> usize {
        self.spilled
    }

    fn check_usable(&self) -> io::Result<()> {
        if self.broken {
            return Err(io::Error::other(
                "time sorter unusable after an earlier I/O error",
            ));
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        // Stable sort in place: on a write error the buffer stays intact.
        self.buf.sort_by_key(|r| r.0);
        let mut w = RunWriter::create(&self.dir)?;
        for (ts, payload) in &self.buf {
            w.write(*ts, payload)?;
        }
        self.runs.push(w.finish(0)?);
        self.buf.clear();
        self.buf_bytes = 0;
        self.spilled += 1;
        if let Err(e) = self.compact() {
            self.broken = true;
            return Err(e);
        }
        Ok(())
    }

    /// Merges the newest `MAX_FAN_IN` runs while they share a level.
    fn compact(&mut self) -> io::Result<()> {
        loop {
            let Some(level) = self.runs.last().map(|r| r.level) else {
                return Ok(());
            };
            let same = self
                .runs
                .iter()
                .rev()
                .take_while(|r| r.level == level)
                .count();
            if same < MAX_FAN_IN {
                return Ok(());
            }
            let group = self.runs.split_off(self.runs.len() - MAX_FAN_IN);
            let sources = group
                .into_iter()
                .map(|r| Source::Disk(RunReader::new(r)))
                .collect();
            let mut merger = Merger::new(sources)?;
            let mut w = RunWriter::create(&self.dir)?;
            while let Some((ts, payload)) = merger.next_record()? {
                w.write(ts, &payload)?;
            }
            self.runs.push(w.finish(level.saturating_add(1))?);
        }
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("sort run file: {msg}"))
}

struct RunWriter {
    w: BufWriter<File>,
    records: u64,
}

impl RunWriter {
    fn create(dir: &Path) -> io::Result<Self> {
        let file = tempfile::tempfile_in(dir)?;
        Ok(RunWriter {
            w: BufWriter::with_capacity(WRITE_BUF, file),
            records: 0,
        })
    }

    fn write(&mut self, ts: i64, payload: &[u8]) -> io::Result<()> {
        let len = u32::try_from(payload.len()).map_err(|_| invalid("payload too large"))?;
        let mut hdr = [0u8; HEADER_LEN];
        hdr[..8].copy_from_slice(&ts.to_le_bytes());
        hdr[8..].copy_from_slice(&len.to_le_bytes());
        self.w.write_all(&hdr)?;
        self.w.write_all(payload)?;
        self.records += 1;
        Ok(())
    }

    fn finish(self, level: u32) -> io::Result<Run> {
        let mut file = self.w.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        Ok(Run {
            file,
            records: self.records,
            level,
        })
    }
}

struct RunReader {
    r: BufReader<File>,
    remaining: u64,
    last_ts: Option<i64>,
}

impl RunReader {
    fn new(run: Run) -> Self {
        RunReader {
            r: BufReader::with_capacity(READ_BUF, run.file),
            remaining: run.records,
            last_ts: None,
        }
    }

    fn next_record(&mut self) -> io::Result<Option<(i64, Vec<u8>)>> {
        let mut hdr = [0u8; HEADER_LEN];
        let n = read_full(&mut self.r, &mut hdr)?;
        if n == 0 {
            return if self.remaining == 0 {
                Ok(None)
            } else {
                Err(invalid("file ends before its last record"))
            };
        }
        if n < HEADER_LEN {
            return Err(invalid("truncated record header"));
        }
        if self.remaining == 0 {
            return Err(invalid("unexpected data after the last record"));
        }
        let mut ts_bytes = [0u8; 8];
        ts_bytes.copy_from_slice(&hdr[..8]);
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(&hdr[8..]);
        let ts = i64::from_le_bytes(ts_bytes);
        let len = u32::from_le_bytes(len_bytes);
        if self.last_ts.is_some_and(|last| ts < last) {
            return Err(invalid("records out of order"));
        }
        // `take` bounds the read by the length, and by the file size, so a
        // corrupt length cannot trigger a huge allocation up front.
        let mut payload = Vec::with_capacity((len as usize).min(READ_BUF));
        (&mut self.r)
            .take(u64::from(len))
            .read_to_end(&mut payload)?;
        if payload.len() != len as usize {
            return Err(invalid("truncated record payload"));
        }
        self.remaining -= 1;
        self.last_ts = Some(ts);
        Ok(Some((ts, payload)))
    }
}

/// Reads until `buf` is full or EOF; returns the number of bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

enum Source {
    Disk(RunReader),
    Memory(std::vec::IntoIter<(i64, Vec<u8>)>),
}

impl Source {
    fn next_record(&mut self) -> io::Result<Option<(i64, Vec<u8>)>> {
        match self {
            Source::Disk(r) => r.next_record(),
            Source::Memory(it) => Ok(it.next()),
        }
    }
}

/// K-way merge; ties on ts are broken by source index (= insertion order).
struct Merger {
    sources: Vec<Source>,
    heads: Vec<Vec<u8>>,
    heap: BinaryHeap<Reverse<(i64, usize)>>,
    /// Source whose head was handed out and must be refilled before the
    /// next pop (refilling lazily keeps errors in output order).
    pending: Option<usize>,
}

impl Merger {
    fn new(mut sources: Vec<Source>) -> io::Result<Self> {
        let mut heads = Vec::with_capacity(sources.len());
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (i, src) in sources.iter_mut().enumerate() {
            match src.next_record()? {
                Some((ts, payload)) => {
                    heads.push(payload);
                    heap.push(Reverse((ts, i)));
                }
                None => heads.push(Vec::new()),
            }
        }
        Ok(Merger {
            sources,
            heads,
            heap,
            pending: None,
        })
    }

    fn next_record(&mut self) -> io::Result<Option<(i64, Vec<u8>)>> {
        if let Some(i) = self.pending.take()
            && let (Some(src), Some(head)) = (self.sources.get_mut(i), self.heads.get_mut(i))
            && let Some((ts, payload)) = src.next_record()?
        {
            *head = payload;
            self.heap.push(Reverse((ts, i)));
        }
        let Some(Reverse((ts, i))) = self.heap.pop() else {
            return Ok(None);
        };
        let payload = self
            .heads
            .get_mut(i)
            .map(std::mem::take)
            .unwrap_or_default();
        self.pending = Some(i);
        Ok(Some((ts, payload)))
    }
}

/// Iterator over sorted records returned by [`TimeSorter::finish`]. After
/// an error it yields nothing more.
pub struct SortedRecords {
    state: State,
}

enum State {
    Memory(std::vec::IntoIter<(i64, Vec<u8>)>),
    Merge(Box<Merger>),
    Done,
}

impl Iterator for SortedRecords {
    type Item = io::Result<(i64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.state {
            State::Memory(it) => it.next().map(Ok),
            State::Merge(m) => match m.next_record() {
                Ok(Some(rec)) => Some(Ok(rec)),
                Ok(None) => {
                    self.state = State::Done;
                    None
                }
                Err(e) => {
                    self.state = State::Done;
                    Some(Err(e))
                }
            },
            State::Done => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(s: TimeSorter) -> Vec<(i64, Vec<u8>)> {
        s.finish().unwrap().map(|r| r.unwrap()).collect()
    }

    fn check(input: &[(i64, Vec<u8>)], max_bytes: usize) -> usize {
        let dir = tempfile::tempdir().unwrap();
        let mut s = TimeSorter::new(dir.path(), max_bytes);
        for (ts, p) in input {
            s.push(*ts, p).unwrap();
        }
        let spilled = s.spilled_runs();
        let mut want = input.to_vec();
        want.sort_by_key(|r| r.0);
        assert_eq!(collect(s), want);
        spilled
    }

    /// Input whose payload encodes its insertion index, for stability checks.
    fn indexed(ts: &[i64]) -> Vec<(i64, Vec<u8>)> {
        ts.iter()
            .enumerate()
            .map(|(i, &t)| (t, (i as u32).to_le_bytes().repeat(i % 3)))
            .collect()
    }

    #[test]
    fn empty_input() {
        let missing = Path::new("/nonexistent/tierlog-sort-test");
        let s = TimeSorter::new(missing, 0);
        assert_eq!(s.spilled_runs(), 0);
        assert_eq!(s.finish().unwrap().count(), 0);
    }

    #[test]
    fn in_memory_never_touches_disk() {
        let missing = Path::new("/nonexistent/tierlog-sort-test");
        let mut s = TimeSorter::new(missing, 1 << 20);
        for (ts, p) in [(3, b"c"), (1, b"a"), (2, b"b"), (1, b"d")] {
            s.push(ts, p).unwrap();
        }
        assert_eq!(s.spilled_runs(), 0);
        let got = collect(s);
        let want: Vec<(i64, Vec<u8>)> = vec![
            (1, b"a".to_vec()),
            (1, b"d".to_vec()),
            (2, b"b".to_vec()),
            (3, b"c".to_vec()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn spill_dir_missing_is_an_error() {
        let mut s = TimeSorter::new(Path::new("/nonexistent/tierlog-sort-test"), 0);
        assert!(s.push(1, b"x").is_err());
    }

    #[test]
    fn all_equal_ts_is_stable_across_many_runs() {
        let input = indexed(&[42; 3000]);
        assert!(check(&input, 200) > MAX_FAN_IN * MAX_FAN_IN);
    }

    #[test]
    fn one_record_per_run_bounds_open_runs() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = TimeSorter::new(dir.path(), 0);
        let ts: Vec<i64> = (0..5000).map(|i| (i * 7919) % 101 - 50).collect();
        let input = indexed(&ts);
        for (t, p) in &input {
            s.push(*t, p).unwrap();
            assert!(s.runs.len() < 4 * MAX_FAN_IN);
        }
        assert_eq!(s.spilled_runs(), 5000);
        let mut want = input.clone();
        want.sort_by_key(|r| r.0);
        assert_eq!(collect(s), want);
    }

    #[test]
    fn extreme_timestamps_and_empty_payloads() {
        let input = vec![
            (i64::MAX, vec![]),
            (i64::MIN, vec![1]),
            (0, vec![]),
            (i64::MIN, vec![]),
            (-1, vec![2; 100]),
        ];
        check(&input, 0);
        check(&input, 80);
    }

    fn corrupt_and_read(corrupt: impl Fn(&mut File)) -> io::Error {
        let dir = tempfile::tempdir().unwrap();
        let mut s = TimeSorter::new(dir.path(), 100);
        for i in 0..10 {
            s.push(10 - i, &[i as u8; 20]).unwrap();
        }
        assert!(!s.runs.is_empty());
        corrupt(&mut s.runs[0].file);
        let results: Vec<_> = match s.finish() {
            Ok(it) => it.collect(),
            Err(e) => vec![Err(e)],
        };
        let errors: Vec<_> = results.into_iter().filter_map(Result::err).collect();
        assert_eq!(errors.len(), 1);
        errors.into_iter().next().unwrap()
    }

    #[test]
    fn corrupt_runs_are_invalid_data() {
        for cut in [0u64, 5, 12, 20, 32, 40] {
            let e = corrupt_and_read(|f| f.set_len(cut).unwrap());
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "cut {cut}: {e}");
        }
        let e = corrupt_and_read(|f| {
            f.seek(SeekFrom::Start(8)).unwrap();
            f.write_all(&u32::MAX.to_le_bytes()).unwrap();
            f.seek(SeekFrom::Start(0)).unwrap();
        });
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let e = corrupt_and_read(|f| {
            f.write_all(&i64::MAX.to_le_bytes()).unwrap();
            f.seek(SeekFrom::Start(0)).unwrap();
        });
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let e = corrupt_and_read(|f| {
            f.seek(SeekFrom::End(0)).unwrap();
            f.write_all(&[0; 3]).unwrap();
            f.seek(SeekFrom::Start(0)).unwrap();
        });
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_input_matches_stable_sort(
            recs in proptest::collection::vec((-20i64..20, proptest::collection::vec(any::<u8>(), 0..24)), 0..400),
            max_bytes in 0usize..600,
        ) {
            check(&recs, max_bytes);
        }
    }
}
