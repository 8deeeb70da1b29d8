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
    fn value(&self) -> f64 {
        if self.count == 1 {
            self.sum
        } else {
            self.sum / f64::from(self.count)
        }
    }
}

/// The points of one window that is still open (or being sealed).
#[derive(Debug, Clone, Default)]
pub struct WindowData {
    start: i64,
    series: HashMap<u32, Vec<Acc>>,
    points: u64,
    samples: u64,
    /// Estimated heap bytes held (see [`WindowData::heap_bytes`]), kept as samples arrive.
    heap: u64,
}

/// Estimated heap bytes of one series entry of a window besides its points: the hash table
/// slot (key, `Vec` header, control byte, load-factor slack).
pub const SERIES_ENTRY_BYTES: u64 = 48;
/// Bytes of one raw point held in memory.
pub const POINT_BYTES: u64 = std::mem::size_of::<Acc>() as u64;

/// The start of the second containing `ts_ms`.
pub fn second_start(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(1000) * 1000
}

impl WindowData {
    /// An empty window starting at `start` ms.
    pub fn new(start: i64) -> Self {
        WindowData {
            start,
            ..Default::default()
        }
    }

    /// Window start, ms.
    pub fn start(&self) -> i64 {
        self.start
    }

    /// Adds one sample: it joins the point of its second (the point's value is the mean of the
    /// samples of that second, in arrival order). Returns false, adding nothing, for a
    /// timestamp before the window start or beyond what a window can span.
    pub fn add(&mut self, series: u32, ts_ms: i64, value: f64) -> bool {
        let off = (second_start(ts_ms) - self.start).div_euclid(1000);
        if !(0..=i64::from(u32::MAX)).contains(&off) {
            return false;
        }
        let ts = off as u32;
        self.samples += 1;
        let v = match self.series.entry(series) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                self.heap += SERIES_ENTRY_BYTES;
                e.insert(Vec::new())
            }
        };
        let cap_before = v.capacity();
        let acc = Acc {
            sec: ts,
            sum: value,
            count: 1,
        };
        match v.last_mut() {
            Some(last) if last.sec == ts => {
                last.sum += value;
                last.count += 1;
                return true;
            }
            Some(last) if last.sec > ts => {}
            _ => {
                v.push(acc);
                self.points += 1;
                self.heap += (v.capacity() - cap_before) as u64 * POINT_BYTES;
                return true;
            }
        }
        match v.binary_search_by_key(&ts, |a| a.sec) {
            Ok(i) => {
                v[i].sum += value;
                v[i].count += 1;
            }
            Err(i) => {
                v.insert(i, acc);
                self.points += 1;
                self.heap += (v.capacity() - cap_before) as u64 * POINT_BYTES;
            }
        }
        true
    }

    /// Estimated heap bytes this window holds: the capacity of every series' point vector
    /// ([`POINT_BYTES`] a point) plus [`SERIES_ENTRY_BYTES`] per series. Kept up to date by
    /// [`WindowData::add`] (vectors grow by doubling, so this can jump by a series' size).
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
        let mut ids: Vec<u32> = self.series.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Calls `f(ts, value)` for each point of `series` with `from <= ts < to`, in time order.
    pub fn points_into(&self, series: u32, from: i64, to: i64, mut f: impl FnMut(i64, f64)) {
        if let Some(v) = self.series.get(&series) {
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
        for v in self.series.values() {
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
        let mut w = WindowData::new(0);
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
        let mut w = WindowData::new(0);
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
        let mut w = WindowData::new(0);
        assert_eq!(w.heap_bytes(), 0);
        for s in 0..10 {
            for t in 0..100 {
                w.add(s, t * 1_000, 1.0);
            }
        }
        let want: u64 = w
            .series
            .values()
            .map(|v| v.capacity() as u64 * POINT_BYTES + SERIES_ENTRY_BYTES)
            .sum();
        assert_eq!(w.heap_bytes(), want);
        assert!(w.heap_bytes() >= 10 * 100 * POINT_BYTES);
        // Same-second samples add nothing.
        let before = w.heap_bytes();
        w.add(0, 500, 2.0);
        assert_eq!(w.heap_bytes(), before);
    }

    #[test]
    fn negative_ms_round_down() {
        assert_eq!(second_start(-1), -1000);
        assert_eq!(second_start(1999), 1000);
    }
}
