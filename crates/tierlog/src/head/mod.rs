//! The open windows' points in memory: per series, the closed seconds encoded and the newest
//! second's running sum and count. The window log that makes them durable is [`crate::head`].

use std::collections::HashMap;

pub(crate) mod series;

use series::SeriesHead;

/// The points of one window that is still open (or being sealed).
///
/// Series ids are dense (handed out from 0 up), so a window finds a series' points through a
/// table indexed by id rather than a hash map: the per-sample lookup is one load, with no
/// hashing.
#[derive(Debug, Clone, Default)]
pub struct WindowData {
    start: i64,
    /// Window span, whole seconds (at least 1): the most points one series can have.
    span_s: u32,
    /// `slot[id]` is 1 + the index in `series` of series `id`'s entry, or 0 for none.
    slot: Vec<u32>,
    /// Index in `series` of the series whose ids lie beyond `slot`.
    sparse: HashMap<u32, u32>,
    /// `(series id, its points)`, in order of first sample.
    series: Vec<(u32, SeriesHead)>,
    points: u64,
    samples: u64,
    /// Estimated heap bytes held (see [`WindowData::heap_bytes`]), kept as samples arrive.
    heap: u64,
    /// Keys of the keyed writes logged into this window (`Store::write_keyed`).
    keys: WriteKeys,
}

/// Estimated heap bytes of one series entry of a window besides its encoded points: the entry
/// (id and `SeriesHead`) with its growth slack, and the allocator's header of the point
/// stream.
pub const SERIES_ENTRY_BYTES: u64 = std::mem::size_of::<(u32, SeriesHead)>() as u64 + 16;
/// Ids the id table may always cover, whatever the number of series in the window.
const DENSE_SLOTS: usize = 1 << 16;
/// Estimated bytes of one entry of the map of ids beyond the table.
const SPARSE_ENTRY_BYTES: u64 = 16;
/// Bytes of one slot of the id table.
const SLOT_BYTES: u64 = std::mem::size_of::<u32>() as u64;
/// Estimated heap bytes of one slot of the set of write keys (the key and the table's
/// control byte, rounded up).
pub const KEY_BYTES: u64 = 24;

/// The keys of the keyed writes a window's log (or late log) holds (`Store::write_keyed`).
#[derive(Debug, Clone, Default)]
pub struct WriteKeys(std::collections::HashSet<u128>);

impl WriteKeys {
    /// Notes `key`; returns the change in [`WriteKeys::heap_bytes`].
    pub fn note(&mut self, key: [u8; 16]) -> u64 {
        let before = self.heap_bytes();
        self.0.insert(u128::from_le_bytes(key));
        self.heap_bytes() - before
    }

    /// True when `key` was noted.
    pub fn has(&self, key: [u8; 16]) -> bool {
        !self.0.is_empty() && self.0.contains(&u128::from_le_bytes(key))
    }

    /// Estimated heap bytes held ([`KEY_BYTES`] a slot).
    pub fn heap_bytes(&self) -> u64 {
        self.0.capacity() as u64 * KEY_BYTES
    }
}
/// The most heap bytes one new point may add to the head, as the write path charges it
/// against [`crate::Limits::max_head_bytes`] (a point encoded takes a few bits to 20 bytes,
/// one out of order 16).
pub const POINT_BYTES: u64 = series::MAX_POINT_BYTES as u64;

/// One raw point with what keeps its mean exact when more samples of its second arrive: the
/// number of samples and their sum (in arrival order), as the head holds it and a segment of
/// version 3 stores it for seconds of more than one sample (`format-spec/segment.md`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawPoint {
    /// The second's start, ms.
    pub ts: i64,
    /// Samples joined (low 31 bits, saturating); bit 31 set when `sum` is kept scaled down
    /// by 2^-64 because the plain sum of finite samples overflowed.
    pub count: u32,
    /// The samples' sum (the value itself for one sample; the first NaN for a NaN point).
    pub sum: f64,
}

/// Bit 31 of [`RawPoint::count`]: the sum is kept scaled down by 2^-64.
pub const SCALED_SUM: u32 = series::SCALED;

impl RawPoint {
    /// The point of one sample.
    pub fn one(ts: i64, value: f64) -> RawPoint {
        RawPoint {
            ts,
            count: 1,
            sum: value,
        }
    }

    fn acc(&self) -> series::Acc {
        series::Acc {
            sec: 0,
            count: self.count,
            sum: self.sum,
        }
    }

    /// Joins one more sample of the same second, by the rules of the head
    /// (`format-spec/window-log.md`): the result is bit for bit what the head gives when the
    /// sample arrives after the ones already joined.
    pub fn join(&mut self, value: f64) {
        let mut a = self.acc();
        a.join(value);
        (self.count, self.sum) = (a.count, a.sum);
    }

    /// The point's value: the mean of its samples.
    pub fn value(&self) -> f64 {
        self.acc().value()
    }

    /// Number of samples joined (saturating at 2^31 - 1).
    pub fn samples(&self) -> u32 {
        self.count & !SCALED_SUM
    }
}

/// The start of the second containing `ts_ms`.
pub fn second_start(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(1000) * 1000
}

impl WindowData {
    /// An empty window starting at `start` ms and spanning `span_ms`.
    pub fn new(start: i64, span_ms: i64) -> Self {
        WindowData {
            start,
            span_s: (span_ms / 1000).clamp(1, i64::from(u32::MAX)) as u32,
            ..Default::default()
        }
    }

    /// Window start, ms.
    pub fn start(&self) -> i64 {
        self.start
    }

    /// The index in `series` of `series`' entry.
    fn find(&self, series: u32) -> Option<usize> {
        match self.slot.get(series as usize) {
            Some(&k) if k > 0 => Some(k as usize - 1),
            _ if self.sparse.is_empty() => None,
            _ => self.sparse.get(&series).map(|&k| k as usize),
        }
    }

    /// Adds the entry of a series new to the window.
    fn insert(&mut self, series: u32, head: SeriesHead) {
        let i = series as usize;
        let k = self.series.len();
        self.series.push((series, head));
        self.heap += SERIES_ENTRY_BYTES;
        // The table grows to cover an id only while it stays within a few slots per series
        // of the window: ids far above the rest (a store whose old series were removed keeps
        // handing out higher ones) go to the map instead of a table mostly empty.
        if i >= self.slot.len() && i < DENSE_SLOTS.max(8 * (k + 1)) {
            let before = self.slot.capacity();
            self.slot.resize(i + 1, 0);
            self.heap += (self.slot.capacity() - before) as u64 * SLOT_BYTES;
        }
        if i < self.slot.len() {
            self.slot[i] = k as u32 + 1;
        } else {
            self.sparse.insert(series, k as u32);
            self.heap += SPARSE_ENTRY_BYTES;
        }
    }

    /// Adds one sample: it joins the point of its second (the point's value is the mean of the
    /// samples of that second, in arrival order). Returns false, adding nothing, for a
    /// timestamp before the window start or beyond what a window can span.
    pub fn add(&mut self, series: u32, ts_ms: i64, value: f64) -> bool {
        let since = ts_ms.wrapping_sub(self.start);
        let off = if since >= 0 && self.start % 1000 == 0 {
            // Window starts are whole seconds: an unsigned division by a constant.
            (since as u64 / 1000) as i64
        } else {
            (second_start(ts_ms) - self.start).div_euclid(1000)
        };
        if !(0..=i64::from(u32::MAX)).contains(&off) {
            return false;
        }
        let sec = off as u32;
        self.samples += 1;
        match self.find(series) {
            Some(k) => {
                let added = self.series[k].1.add(sec, value, self.span_s);
                self.points += u64::from(added.new_point);
                self.heap = self.heap.saturating_add_signed(added.grown);
            }
            None => {
                self.insert(series, SeriesHead::new(sec, value));
                self.points += 1;
            }
        }
        true
    }

    /// Estimated heap bytes this window holds: the capacity of every series' point vector
    /// ([`POINT_BYTES`] a point), [`SERIES_ENTRY_BYTES`] per series and the id table. Kept up
    /// to date by [`WindowData::add`] (a vector grows by what the rest of the window is
    /// expected to bring, so this can jump by a series' size).
    pub fn heap_bytes(&self) -> u64 {
        self.heap
    }

    /// Notes that the keyed write `key` logged samples into this window: a write with the
    /// same key is then not applied again here ([`WindowData::has_key`]).
    pub fn note_key(&mut self, key: [u8; 16]) {
        let grown = self.keys.note(key);
        self.heap = self.heap.saturating_add(grown);
    }

    /// True when a keyed write with `key` logged samples into this window.
    pub fn has_key(&self, key: [u8; 16]) -> bool {
        self.keys.has(key)
    }

    /// Number of raw points (distinct series-seconds).
    pub fn points(&self) -> u64 {
        self.points
    }

    /// Number of samples logged.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Series with points, ascending.
    pub fn series_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.series.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids
    }

    /// Calls `f(ts, value)` for each point of `series` with `from <= ts < to`, in time order.
    pub fn points_into(&self, series: u32, from: i64, to: i64, mut f: impl FnMut(i64, f64)) {
        if let Some(k) = self.find(series) {
            let start = self.start;
            self.series[k].1.for_each(|sec, v| {
                let t = start + i64::from(sec) * 1000;
                if t >= from && t < to {
                    f(t, v);
                }
            });
        }
    }

    /// Calls `f` for each point of `series` with `from <= ts < to`, in time order, with its
    /// sample count and sum.
    pub fn raw_points_into(&self, series: u32, from: i64, to: i64, mut f: impl FnMut(RawPoint)) {
        if let Some(k) = self.find(series) {
            let start = self.start;
            self.series[k].1.for_each_acc(|a| {
                let ts = start + i64::from(a.sec) * 1000;
                if ts >= from && ts < to {
                    f(RawPoint {
                        ts,
                        count: a.count,
                        sum: a.sum,
                    });
                }
            });
        }
    }

    /// Removes the points of the series in `series` with `from <= ts < to`; a series left
    /// without points leaves the window. Returns the points removed.
    pub fn delete_range(&mut self, series: &[u32], from: i64, to: i64) -> u64 {
        // Seconds of the window in the range: a point at second `s` has ts `start + s*1000`.
        let sec_of = |t: i64| -> u64 {
            let d = t.saturating_sub(self.start);
            if d <= 0 {
                0
            } else {
                (d as u64).div_ceil(1000)
            }
        };
        let (from_sec, to_sec) = (sec_of(from), sec_of(to));
        if from_sec >= to_sec {
            return 0;
        }
        let mut removed = 0;
        for &id in series {
            let Some(k) = self.find(id) else { continue };
            let (kept, points, samples) = self.series[k].1.without(from_sec, to_sec);
            if points == 0 {
                continue;
            }
            removed += points;
            self.points -= points;
            self.samples = self.samples.saturating_sub(samples);
            let before = self.series[k].1.heap_bytes();
            match kept {
                Some(h) => {
                    self.heap = (self.heap + h.heap_bytes()).saturating_sub(before);
                    self.series[k].1 = h;
                }
                None => {
                    self.heap = self.heap.saturating_sub(before + SERIES_ENTRY_BYTES);
                    self.remove_entry(k);
                }
            }
        }
        removed
    }

    /// Takes the entry at index `k` of `series` out, keeping the lookups of the others.
    fn remove_entry(&mut self, k: usize) {
        let (id, _) = self.series.swap_remove(k);
        match self.slot.get_mut(id as usize) {
            Some(s) if *s as usize == k + 1 => *s = 0,
            _ => {
                if self.sparse.remove(&id).is_some() {
                    self.heap = self.heap.saturating_sub(SPARSE_ENTRY_BYTES);
                }
            }
        }
        if let Some(&(moved, _)) = self.series.get(k) {
            match self.slot.get_mut(moved as usize) {
                Some(s) if *s != 0 => *s = k as u32 + 1,
                _ => {
                    self.sparse.insert(moved, k as u32);
                }
            }
        }
    }

    /// Earliest and latest point timestamps.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let (lo, hi) = self
            .series
            .iter()
            .map(|(_, h)| h.sec_range())
            .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))?;
        let ms = |s: u32| self.start + i64::from(s) * 1000;
        Some((ms(lo), ms(hi)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(w: &WindowData, s: u32) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        w.points_into(s, i64::MIN, i64::MAX, |t, v| out.push((t, v)));
        out
    }

    #[test]
    fn same_second_samples_become_their_mean() {
        let mut w = WindowData::new(0, 1_200_000);
        w.add(1, 1_000, 1.0);
        w.add(1, 1_999, 2.0);
        w.add(1, 3_500, 7.0);
        w.add(1, 2_000, 4.0); // out of order, new second
        w.add(1, 1_500, 6.0); // out of order, joins second 1
        assert_eq!(pts(&w, 1), vec![(1_000, 3.0), (2_000, 4.0), (3_000, 7.0)]);
        assert_eq!(w.points(), 3);
        assert_eq!(w.samples(), 5);
    }

    #[test]
    fn single_samples_stay_bit_exact() {
        let mut w = WindowData::new(0, 1_200_000);
        assert!(!w.add(1, -1, 1.0), "before the window");
        let nan = f64::from_bits(0x7ff8_0000_0000_1234);
        w.add(1, 0, nan);
        w.add(1, 1_000, -0.0);
        w.add(1, 2_000, f64::INFINITY);
        let p = pts(&w, 1);
        assert_eq!(p[0].1.to_bits(), nan.to_bits());
        assert_eq!(p[1].1.to_bits(), (-0.0f64).to_bits());
        assert_eq!(p[2].1, f64::INFINITY);
    }

    #[test]
    fn heap_bytes_follow_capacity() {
        let mut w = WindowData::new(0, 1_200_000);
        assert_eq!(w.heap_bytes(), 0);
        for s in 0..10 {
            for t in 0..100 {
                // Series 9 gets its samples in reverse, so it ends up plain.
                let t = if s == 9 { 99 - t } else { t };
                w.add(s, t * 1_000, f64::from(s) * 0.5);
            }
        }
        let want = |w: &WindowData| {
            w.series
                .iter()
                .map(|(_, h)| h.heap_bytes() + SERIES_ENTRY_BYTES)
                .sum::<u64>()
                + w.slot.capacity() as u64 * SLOT_BYTES
                + w.sparse.len() as u64 * SPARSE_ENTRY_BYTES
                + w.keys.heap_bytes()
        };
        assert_eq!(w.heap_bytes(), want(&w));
        // A sample of a series' newest second adds nothing.
        let before = w.heap_bytes();
        w.add(0, 99_500, 2.0);
        assert_eq!(w.heap_bytes(), before);
        // One of an older second goes beside the encoded points, and is counted.
        w.add(0, 500, 2.0);
        assert!(w.heap_bytes() > before);
        assert_eq!(w.heap_bytes(), want(&w));
        assert_eq!(w.points(), 1_000);
        // Write keys are counted too.
        let before = w.heap_bytes();
        for k in 0..100u8 {
            w.note_key([k; 16]);
        }
        assert!(w.heap_bytes() > before);
        assert_eq!(w.heap_bytes(), want(&w));
    }

    #[test]
    fn write_keys_are_remembered_per_window() {
        let mut w = WindowData::new(0, 1_200_000);
        assert!(!w.has_key([1; 16]));
        w.note_key([1; 16]);
        w.note_key([1; 16]);
        assert!(w.has_key([1; 16]));
        assert!(!w.has_key([2; 16]));
        // A key says nothing about points.
        assert_eq!((w.points(), w.samples()), (0, 0));
    }

    #[test]
    fn regular_scrapes_take_a_few_bytes_a_point() {
        // 20-min window; series 0 scraped every 15 s, series 1 every second, series 2 every
        // 15 s from the window's middle, series 3 at irregular gaps.
        let mut w = WindowData::new(0, 1_200_000);
        for t in (0..1_200).step_by(15) {
            w.add(0, t * 1_000 + 3, (t * 3) as f64);
        }
        for t in 0..1_200 {
            w.add(1, t * 1_000, 1.0);
        }
        for t in (600..1_200).step_by(15) {
            w.add(2, t * 1_000, (t % 7) as f64);
        }
        let mut t = 0;
        for gap in [1, 7, 30, 2, 90, 1, 1, 45].iter().cycle().take(200) {
            t += gap;
            w.add(3, t * 1_000 % 1_200_000, 1.0);
        }
        assert_eq!(
            (pts(&w, 0).len(), pts(&w, 1).len(), pts(&w, 2).len()),
            (80, 1_200, 40)
        );
        let heap = |s: u32| w.series[w.find(s).unwrap()].1.heap_bytes();
        // An integer counter: a few bytes a point, about as many reserved as used.
        assert!(heap(0) <= 80 * 4, "{}", heap(0));
        // A constant at 1 Hz: about three bits a point.
        assert!(heap(1) <= 1_200 * 3 / 8 + 64, "{}", heap(1));
        assert!(heap(2) <= 40 * 5, "{}", heap(2));
        // Irregular or out-of-order points are all there, in order.
        let p3 = pts(&w, 3);
        assert!(p3.windows(2).all(|p| p[0].0 < p[1].0));
        assert!(heap(3) <= 2 * 16 * p3.len() as u64 + 128, "{}", heap(3));
    }

    #[test]
    fn ids_far_above_the_rest_take_no_table() {
        let mut w = WindowData::new(0, 1_200_000);
        let ids = [3, 4_000_000_000, 70_000, 2, 100_000_000, 5];
        for (n, &id) in ids.iter().enumerate() {
            w.add(id, n as i64 * 1_000, id as f64);
            w.add(id, 100_000, 1.0);
        }
        assert!(w.slot.len() <= 1 << 16, "table of {} slots", w.slot.len());
        for (n, &id) in ids.iter().enumerate() {
            assert_eq!(
                pts(&w, id),
                vec![(n as i64 * 1_000, id as f64), (100_000, 1.0)]
            );
        }
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        assert_eq!(w.series_ids(), sorted);
        assert_eq!(pts(&w, 6), vec![]);
        assert_eq!(pts(&w, 99_999_999), vec![]);
    }

    #[test]
    fn the_first_nan_of_a_second_wins() {
        let a = f64::from_bits(0x7ff8_0000_0000_0000);
        let b = f64::from_bits(0x7ff8_0000_0000_0001);
        let mut w = WindowData::new(0, 1_200_000);
        w.add(1, 1_000, 2.0);
        w.add(1, 1_100, a);
        w.add(1, 1_200, b);
        w.add(1, 5_000, 1.0);
        w.add(1, 3_000, b);
        w.add(1, 3_500, a); // out of order: the binary-search path
        let p = pts(&w, 1);
        assert_eq!(p[0].1.to_bits(), a.to_bits());
        assert_eq!(p[1].1.to_bits(), b.to_bits());
    }

    #[test]
    fn delete_range_keeps_sums_and_counts() {
        let mut w = WindowData::new(0, 1_200_000);
        for t in 0..10 {
            w.add(1, t * 1_000, t as f64);
            w.add(2, t * 1_000, 1.0);
        }
        w.add(1, 8_500, 3.0); // second 8 has two samples: mean (8 + 3) / 2
        w.add(7_000_000, 0, 9.0); // an id beyond the table
        assert_eq!(w.delete_range(&[1, 7_000_000], 2_000, 5_000), 3);
        assert_eq!(
            pts(&w, 1).iter().map(|p| p.0).collect::<Vec<_>>(),
            [0, 1_000, 5_000, 6_000, 7_000, 8_000, 9_000]
        );
        assert_eq!(pts(&w, 2).len(), 10, "other series untouched");
        assert_eq!(pts(&w, 7_000_000), [(0, 9.0)], "outside the range");
        // A later sample of a kept second joins it with the right count.
        w.add(1, 8_700, 4.0);
        assert_eq!(pts(&w, 1)[5], (8_000, 5.0));
        // Samples after a delete make new points.
        w.add(1, 3_000, 7.0);
        assert_eq!(pts(&w, 1)[2], (3_000, 7.0));
        // A partial second at the edges: `from` rounds up, `to` too (a point at 9000 lies in
        // [8500, 9001)).
        assert_eq!(w.delete_range(&[1], 8_500, 9_001), 1);
        assert_eq!(pts(&w, 1).last().unwrap().0, 8_000);
        // Whole series: they leave the window, the others stay found.
        assert_eq!(w.delete_range(&[1, 7_000_000], i64::MIN, i64::MAX), 8);
        assert_eq!(w.series_ids(), [2]);
        assert_eq!(pts(&w, 2).len(), 10);
        assert_eq!(w.points(), 10);
        w.add(1, 0, 1.0);
        w.add(7_000_000, 0, 2.0);
        assert_eq!(w.series_ids(), [1, 2, 7_000_000]);
        assert_eq!(pts(&w, 7_000_000), [(0, 2.0)]);
    }

    #[test]
    fn negative_ms_round_down() {
        assert_eq!(second_start(-1), -1000);
        assert_eq!(second_start(1999), 1000);
    }
}
