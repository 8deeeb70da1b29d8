//! The open window: its in-memory points (per-second accumulators) and its log.

use std::collections::HashMap;

/// One raw point being accumulated: all samples of a series within one second.
#[derive(Debug, Clone, Copy)]
struct Acc {
    /// Seconds from the window start (16 bytes per point instead of 24 with an i64 ms).
    sec: u32,
    /// Number of samples.
    count: u32,
    /// Sum of the samples, in arrival order (exactly the value when `count == 1`).
    sum: f64,
}

impl Acc {
    /// Adds a sample of the same second. When the sum is already NaN it stays as it is: which
    /// operand's payload `a + b` keeps when both are NaN is up to the compiler's operand order,
    /// so without this the bits of a point would depend on code generation. The first NaN of a
    /// second wins, as a left-to-right sum on x86-64 has it.
    fn join(&mut self, value: f64) {
        if !self.sum.is_nan() {
            self.sum += value;
        }
        self.count += 1;
    }

    fn value(&self) -> f64 {
        if self.count == 1 {
            self.sum
        } else {
            self.sum / f64::from(self.count)
        }
    }
}

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
    /// `(series id, points in time order)`, in order of first sample.
    series: Vec<(u32, Vec<Acc>)>,
    points: u64,
    samples: u64,
    /// Estimated heap bytes held (see [`WindowData::heap_bytes`]), kept as samples arrive.
    heap: u64,
}

/// Estimated heap bytes of one series entry of a window besides its points: the entry (id and
/// `Vec` header) with its growth slack, and the allocator's own header of the point vector.
pub const SERIES_ENTRY_BYTES: u64 = 48;
/// Ids the id table may always cover, whatever the number of series in the window.
const DENSE_SLOTS: usize = 1 << 16;
/// Estimated bytes of one entry of the map of ids beyond the table.
const SPARSE_ENTRY_BYTES: u64 = 16;
/// Bytes of one slot of the id table.
const SLOT_BYTES: u64 = std::mem::size_of::<u32>() as u64;
/// Bytes of one raw point held in memory.
pub const POINT_BYTES: u64 = std::mem::size_of::<Acc>() as u64;

/// The start of the second containing `ts_ms`.
pub fn second_start(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(1000) * 1000
}

/// How many more points to make room for when a series' vector is full. Scrapes are regular,
/// so the pace of the points so far tells how many the rest of the window will bring: when
/// that is less than doubling, the vector grows by that (plus one) only, instead of leaving up
/// to half of it unused for the life of the window. At least an eighth more each time (growth
/// stays geometric, so appends stay amortised O(1)), at most double; never beyond one point
/// per second of the window.
fn more_points(v: &[Acc], span_s: u32) -> usize {
    let n = v.len();
    let room = (span_s as usize).saturating_sub(n);
    let floor = (n / 8).max(4);
    if room == 0 {
        // Only reachable with points outside the span; keep growing geometrically.
        return floor;
    }
    let floor = floor.min(room);
    let (first, last) = match (v.first(), v.last()) {
        (Some(a), Some(b)) if b.sec > a.sec => (a.sec, b.sec),
        _ => return floor,
    };
    let left = u64::from(span_s.saturating_sub(last.saturating_add(1)));
    let pace = (left * (n as u64 - 1)).div_ceil(u64::from(last - first));
    // At most doubling, as before: the head's byte cap charges samples as they come, so a
    // vector must not reserve the whole window ahead in one step.
    let most = n.max(4).min(room).max(floor);
    (pace as usize).saturating_add(1).clamp(floor, most)
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

    /// The point vector of `series`, created empty if absent.
    fn points_mut(&mut self, series: u32) -> &mut Vec<Acc> {
        if let Some(k) = self.find(series) {
            return &mut self.series[k].1;
        }
        let i = series as usize;
        let k = self.series.len();
        self.series.push((series, Vec::new()));
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
        &mut self.series[k].1
    }

    fn points_of(&self, series: u32) -> Option<&[Acc]> {
        self.find(series).map(|k| self.series[k].1.as_slice())
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
        let ts = off as u32;
        self.samples += 1;
        let span_s = self.span_s;
        let v = self.points_mut(series);
        let cap_before = v.capacity();
        let acc = Acc {
            sec: ts,
            sum: value,
            count: 1,
        };
        let at = match v.last_mut() {
            Some(last) if last.sec == ts => {
                last.join(value);
                return true;
            }
            Some(last) if last.sec > ts => match v.binary_search_by_key(&ts, |a| a.sec) {
                Ok(i) => {
                    v[i].join(value);
                    return true;
                }
                Err(i) => i,
            },
            _ => v.len(),
        };
        if v.len() == v.capacity() {
            let more = more_points(v, span_s);
            v.reserve_exact(more);
        }
        v.insert(at, acc);
        let grown = (v.capacity() - cap_before) as u64 * POINT_BYTES;
        self.points += 1;
        self.heap += grown;
        true
    }

    /// Estimated heap bytes this window holds: the capacity of every series' point vector
    /// ([`POINT_BYTES`] a point), [`SERIES_ENTRY_BYTES`] per series and the id table. Kept up
    /// to date by [`WindowData::add`] (a vector grows by what the rest of the window is
    /// expected to bring, so this can jump by a series' size).
    pub fn heap_bytes(&self) -> u64 {
        self.heap
    }

    fn ms(&self, a: &Acc) -> i64 {
        self.start + i64::from(a.sec) * 1000
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
        if let Some(v) = self.points_of(series) {
            let lo = v.partition_point(|a| self.ms(a) < from);
            for a in &v[lo..] {
                let t = self.ms(a);
                if t >= to {
                    break;
                }
                f(t, a.value());
            }
        }
    }

    /// Earliest and latest point timestamps.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let mut r: Option<(i64, i64)> = None;
        for (_, v) in &self.series {
            if let (Some(a), Some(b)) = (v.first(), v.last()) {
                r = Some(match r {
                    None => (self.ms(a), self.ms(b)),
                    Some((lo, hi)) => (lo.min(self.ms(a)), hi.max(self.ms(b))),
                });
            }
        }
        r
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
                w.add(s, t * 1_000, 1.0);
            }
        }
        let want: u64 = w
            .series
            .iter()
            .map(|(_, v)| v.capacity() as u64 * POINT_BYTES + SERIES_ENTRY_BYTES)
            .sum::<u64>()
            + w.slot.capacity() as u64 * SLOT_BYTES
            + w.sparse.len() as u64 * SPARSE_ENTRY_BYTES;
        assert_eq!(w.heap_bytes(), want);
        assert!(w.heap_bytes() >= 10 * 100 * POINT_BYTES);
        // Same-second samples add nothing.
        let before = w.heap_bytes();
        w.add(0, 500, 2.0);
        assert_eq!(w.heap_bytes(), before);
    }

    #[test]
    fn regular_scrapes_get_vectors_of_about_their_size() {
        // 20-min window; series 0 scraped every 15 s, series 1 every second, series 2 every
        // 15 s from the window's middle, series 3 at irregular gaps.
        let mut w = WindowData::new(0, 1_200_000);
        for t in (0..1_200).step_by(15) {
            w.add(0, t * 1_000 + 3, 1.0);
        }
        for t in 0..1_200 {
            w.add(1, t * 1_000, 1.0);
        }
        for t in (600..1_200).step_by(15) {
            w.add(2, t * 1_000, 1.0);
        }
        let mut t = 0;
        for gap in [1, 7, 30, 2, 90, 1, 1, 45].iter().cycle().take(200) {
            t += gap;
            w.add(3, t * 1_000 % 1_200_000, 1.0);
        }
        let cap = |s: u32| w.series[w.find(s).unwrap()].1.capacity();
        let len = |s: u32| w.series[w.find(s).unwrap()].1.len();
        assert_eq!((len(0), len(1), len(2)), (80, 1_200, 40));
        for s in 0..3 {
            assert!(
                cap(s) <= len(s) + 2,
                "series {s}: {} for {}",
                cap(s),
                len(s)
            );
        }
        // Irregular or out-of-order points still fit, with bounded slack.
        assert!(cap(3) >= len(3) && cap(3) <= 2 * len(3) + 4);
        assert_eq!(pts(&w, 3).len(), len(3));
        assert!(pts(&w, 3).windows(2).all(|p| p[0].0 < p[1].0));
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
    fn growth_never_exceeds_one_point_per_second() {
        let mut w = WindowData::new(0, 10_000);
        for t in (0..10).rev() {
            w.add(0, t * 1_000, 1.0);
        }
        assert_eq!(pts(&w, 0).len(), 10);
        assert!(w.series[0].1.capacity() <= 10);
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
    fn negative_ms_round_down() {
        assert_eq!(second_start(-1), -1000);
        assert_eq!(second_start(1999), 1000);
    }
}
