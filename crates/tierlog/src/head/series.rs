//! One series' points in an open window, held encoded.
//!
//! A point is closed once a sample of a later second arrives: it is then appended to a bit
//! stream (delta-of-delta seconds, a one-bit sample count for the usual single sample, and
//! the Gorilla XOR of the sum's bits against the previous point's, the value layout of the
//! sealed `xor` codec), a few bits for regular scrapes instead of the 16 bytes of a plain
//! `(second, count, sum)`. The newest point stays decoded, because samples of its second
//! still join it. Samples that arrive after a later second (rare: a late scrape, an import
//! out of order) go to a small sorted side list, whose points replace the stream's point of
//! the same second; a series that keeps receiving them turns into a plain sorted vector, so
//! out-of-order work never costs more than decoding the stream a few times.
//!
//! Points keep their exact sum and sample count, so the mean of a second is the same,
//! bit for bit, whatever the order the samples came in relative to other seconds.

use crate::segment::codec::bitpack::{BitCursor, BitSink};
use crate::segment::codec::values::put_xor_step;

/// One raw point being accumulated: all samples of a series within one second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Acc {
    /// Seconds from the window start.
    pub(super) sec: u32,
    /// Number of samples (the low 31 bits, saturating), and [`SCALED`]: `sum` holds the sum
    /// times [`SCALE_DOWN`], because the plain sum of finite samples overflowed.
    pub(super) count: u32,
    /// Sum of the samples, in arrival order (exactly the value when `count == 1`).
    pub(super) sum: f64,
}

/// Flag in [`Acc::count`]: the sum is kept scaled down by [`SCALE_DOWN`].
pub(super) const SCALED: u32 = 1 << 31;
/// 2^-64: a sum of up to 2^31 finite samples scaled by it stays finite. Scaling by a power
/// of two is exact (but for values below 2^-958, far under the sum's last bit), so the scaled
/// sum rounds as the plain sum would with an unbounded exponent.
const SCALE_DOWN: f64 = 1.0 / 18_446_744_073_709_551_616.0;
/// 2^64, undoing [`SCALE_DOWN`].
const SCALE_UP: f64 = 18_446_744_073_709_551_616.0;
/// The NaN a sum of `+Inf` and `-Inf` gives (the hardware's own differs between platforms:
/// x86-64 sets the sign bit, AArch64 does not).
pub(super) const INF_MINUS_INF: u64 = 0x7ff8_0000_0000_0000;

impl Acc {
    pub(crate) fn new(sec: u32, value: f64) -> Acc {
        Acc {
            sec,
            count: 1,
            sum: value,
        }
    }

    /// Adds a sample of the same second. The first NaN of a second wins, bit for bit: once
    /// the sum is NaN it stays as it is, and a NaN sample replaces a sum that is not (`a + b`
    /// would leave the choice between two payloads, and whether a signalling NaN is quieted,
    /// to the platform and the compiler's operand order). `+Inf` and `-Inf` give the NaN
    /// [`INF_MINUS_INF`]. When the sum of finite samples would overflow, it goes on scaled
    /// down by [`SCALE_DOWN`] (see [`SCALED`]), so that their mean stays finite.
    pub(crate) fn join(&mut self, value: f64) {
        let n = (self.count & !SCALED).saturating_add(1).min(!SCALED);
        let mut scaled = self.count & SCALED;
        if self.sum.is_nan() {
            // The first NaN stays.
        } else if value.is_nan() {
            self.sum = value;
        } else {
            let mut s = if scaled != 0 {
                self.sum + value * SCALE_DOWN
            } else {
                self.sum + value
            };
            if s.is_infinite() && scaled == 0 && self.sum.is_finite() && value.is_finite() {
                s = self.sum * SCALE_DOWN + value * SCALE_DOWN;
                scaled = SCALED;
            }
            // Only `+Inf + -Inf` makes a NaN of operands that are not.
            self.sum = if s.is_nan() {
                f64::from_bits(INF_MINUS_INF)
            } else {
                s
            };
        }
        self.count = n | scaled;
    }

    pub(crate) fn value(&self) -> f64 {
        if self.count == 1 || self.sum.is_nan() {
            self.sum
        } else if self.count & SCALED != 0 {
            self.sum / f64::from(self.count & !SCALED) * SCALE_UP
        } else {
            self.sum / f64::from(self.count)
        }
    }
}

/// The most bytes one closed point adds to the stream: a 35-bit timestamp code, a 33-bit
/// count code and a 77-bit value code (145 bits), plus the partial byte before it.
pub(super) const MAX_POINT_BYTES: usize = 20;

/// Room kept free before appending a point: a point's bytes plus the 8-byte word the last
/// field is written through.
const RESERVE_BYTES: usize = MAX_POINT_BYTES + 8;

/// Out-of-order points a series may collect beside its stream before it turns plain.
const PLAIN_AFTER: usize = 16;

/// Bytes of one plain point.
const ACC_BYTES: u64 = std::mem::size_of::<Acc>() as u64;

/// Heap bytes a boxed side list costs besides its points: the box (a `Vec` header) and the
/// allocator's header of each of the two allocations.
const SIDE_LIST_BYTES: u64 = 24 + 2 * 16;

/// What [`SeriesHead::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Added {
    /// The sample made a new point (a second the series had no point for).
    pub(super) new_point: bool,
    /// Change in the heap bytes held (capacity reserved, less any freed) by this call.
    pub(super) grown: i64,
}

/// The points of one series in one open window.
#[derive(Debug, Clone)]
pub(super) struct SeriesHead {
    /// Closed points before the side list's and `last`'s, LSB-first bits (see the module
    /// documentation). Empty in plain mode.
    bits: Vec<u8>,
    /// Points out of order, sorted by second, each replacing the stream's point of its second;
    /// in plain mode every point but `last`.
    ///
    /// Boxed on purpose: most series never have one, and a box costs the entry 8 bytes where
    /// a `Vec` would cost 24, for every series of every open window.
    #[allow(clippy::box_collection)]
    side: Option<Box<Vec<Acc>>>,
    /// The newest point, still taking samples of its second.
    last: Acc,
    /// Bits of the sum of the stream's last point.
    prev_value: u64,
    /// Second of the stream's last point.
    prev_sec: u32,
    /// Seconds between the stream's last two points.
    prev_delta: u32,
    /// Bits used in `bits`.
    nbits: u32,
    /// The XOR window (leading zeros, length) the next value code may reuse.
    wlead: u8,
    wlen: u8,
    plain: bool,
}

/// Writes LSB-first bit fields into a series' stream. The stream's vector is zero-filled to
/// its whole length, at least [`RESERVE_BYTES`] beyond the bits used (see
/// [`SeriesHead::close`]), so a field is one unaligned 8-byte read-modify-write at the bit
/// position, with no length bookkeeping.
struct Appender<'a> {
    bits: &'a mut [u8],
    nbits: usize,
}

impl Appender<'_> {
    #[inline(always)]
    fn put_short(&mut self, v: u64, k: u32) {
        debug_assert!(k <= 56 && v >> k == 0);
        let byte = self.nbits >> 3;
        if let Some(slot) = self.bits.get_mut(byte..byte + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(slot);
            let w = u64::from_le_bytes(w) | (v << (self.nbits & 7));
            slot.copy_from_slice(&w.to_le_bytes());
        }
        self.nbits += k as usize;
    }
}

impl BitSink for Appender<'_> {
    #[inline(always)]
    fn put(&mut self, v: u64, k: u32) {
        if k <= 56 {
            let v = if k == 0 {
                0
            } else {
                v & (u64::MAX >> (64 - k))
            };
            self.put_short(v, k);
        } else {
            self.put_short(v & 0xFFFF_FFFF, 32);
            self.put_short((v >> 32) & (u64::MAX >> (96 - k)), k - 32);
        }
    }
}

/// Gathers the fields of one point's code in a register, noting whether they fit in 56 bits
/// (the usual case: a one-bit timestamp and count, and a value code of a few bits to ~50).
struct Gather {
    code: u64,
    n: u32,
}

impl BitSink for Gather {
    #[inline(always)]
    fn put(&mut self, v: u64, k: u32) {
        if self.n + k <= 56 {
            let v = if k == 0 {
                0
            } else {
                v & (u64::MAX >> (64 - k))
            };
            self.code |= v << self.n;
        }
        self.n += k;
    }
}

/// Reads a series' stream back, point by point.
struct StreamReader<'a> {
    cur: BitCursor<'a>,
    end: usize,
    /// The first point, read when the reader is made.
    first: Option<Acc>,
    sec: u32,
    delta: u32,
    value: u64,
    lead: u32,
    len: u32,
}

impl<'a> StreamReader<'a> {
    fn new(h: &'a SeriesHead) -> Self {
        let mut cur = BitCursor::new(&h.bits);
        let end = h.nbits as usize;
        let (mut sec, mut value, mut first) = (0, 0, None);
        if end > 0 {
            sec = cur.read(32) as u32;
            let count = read_count(&mut cur);
            value = cur.read(64);
            first = Some(Acc {
                sec,
                count,
                sum: f64::from_bits(value),
            });
        }
        StreamReader {
            cur,
            end,
            first,
            sec,
            delta: 0,
            value,
            lead: 0,
            len: 64,
        }
    }
}

impl Iterator for StreamReader<'_> {
    type Item = Acc;

    #[inline]
    fn next(&mut self) -> Option<Acc> {
        if let Some(p) = self.first.take() {
            return Some(p);
        }
        if self.cur.position() >= self.end {
            return None;
        }
        let c = &mut self.cur;
        // One peek usually covers the timestamp code, the count bit and the value code.
        let mut p = c.peek();
        let mut used: u32;
        if p & 1 == 0 {
            used = 1;
        } else if p & 2 == 0 {
            self.delta = self.delta.wrapping_add(unzigzag((p >> 2) & 0x7F));
            used = 9;
        } else if p & 4 == 0 {
            self.delta = self.delta.wrapping_add(unzigzag((p >> 3) & 0xFFF));
            used = 15;
        } else {
            c.skip(3);
            self.delta = c.read(32) as u32;
            p = c.peek();
            used = 0;
        }
        self.sec = self.sec.wrapping_add(self.delta);
        let count = if (p >> used) & 1 == 0 {
            used += 1;
            1
        } else {
            c.skip(used);
            let n = read_count(c);
            p = c.peek();
            used = 0;
            n
        };
        let q = p >> used;
        if q & 1 == 0 {
            c.skip(used + 1);
        } else {
            let head = if q & 2 != 0 {
                self.lead = ((q >> 2) & 0x1F) as u32;
                self.len = ((q >> 7) & 0x3F) as u32 + 1;
                13
            } else {
                2
            };
            let x = if used + head + self.len <= 57 {
                c.skip(used + head + self.len);
                (q >> head) & (u64::MAX >> (64 - self.len))
            } else {
                c.skip(used + head);
                c.read(self.len)
            };
            // The writer never makes a window beyond 64 bits; the shift is kept in range
            // all the same.
            self.value ^= x << (64u32.wrapping_sub(self.lead + self.len) & 63);
        }
        Some(Acc {
            sec: self.sec,
            count,
            sum: f64::from_bits(self.value),
        })
    }
}

fn read_count(c: &mut BitCursor<'_>) -> u32 {
    if c.peek() & 1 == 0 {
        c.skip(1);
        1
    } else {
        c.skip(1);
        c.read(32) as u32
    }
}

fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

fn unzigzag(z: u64) -> u32 {
    ((z >> 1) as i64 ^ -((z & 1) as i64)) as u32
}

impl SeriesHead {
    /// A series whose first sample is `value` at second `sec` of the window.
    pub(super) fn new(sec: u32, value: f64) -> Self {
        SeriesHead {
            bits: Vec::new(),
            side: None,
            last: Acc::new(sec, value),
            prev_value: 0,
            prev_sec: 0,
            prev_delta: 0,
            nbits: 0,
            wlead: 0,
            wlen: 64,
            plain: false,
        }
    }

    /// Heap bytes this series holds besides the entry itself (capacities).
    pub(super) fn heap_bytes(&self) -> u64 {
        self.bits.capacity() as u64 + self.side.as_ref().map_or(0, |s| side_bytes(s))
    }

    /// Adds a sample at second `sec`. `span_s` is the window's span in seconds, which sizes
    /// the stream's growth to what the rest of the window will bring.
    #[inline]
    pub(super) fn add(&mut self, sec: u32, value: f64, span_s: u32) -> Added {
        if sec == self.last.sec {
            self.last.join(value);
            return Added {
                new_point: false,
                grown: 0,
            };
        }
        if sec > self.last.sec {
            let closed = std::mem::replace(&mut self.last, Acc::new(sec, value));
            let grown = if self.plain {
                let before = self.heap_bytes() as i64;
                let side = self.side.get_or_insert_with(Box::default);
                if side.len() == side.capacity() {
                    let more = more_points(side, span_s);
                    side.reserve_exact(more);
                }
                side.push(closed);
                self.heap_bytes() as i64 - before
            } else {
                self.close(closed, span_s)
            };
            return Added {
                new_point: true,
                grown,
            };
        }
        self.add_out_of_order(sec, value, span_s)
    }

    /// Appends `p`, the former newest point, to the stream.
    #[inline]
    fn close(&mut self, p: Acc, span_s: u32) -> i64 {
        let before = self.bits.capacity();
        let used = (self.nbits as usize).div_ceil(8);
        if self.bits.len() < used + RESERVE_BYTES {
            let more = self.more_bytes(used, p.sec, span_s);
            self.bits.reserve_exact(more);
            let len = self.bits.len();
            self.bits.resize(len + more, 0);
        }
        let value = p.sum.to_bits();
        let mut w = Appender {
            bits: &mut self.bits,
            nbits: self.nbits as usize,
        };
        if self.nbits == 0 {
            w.put(u64::from(p.sec), 32);
            put_count(&mut w, p.count);
            w.put(value, 64);
            self.prev_delta = 0;
        } else {
            let delta = p.sec.wrapping_sub(self.prev_sec);
            let x = value ^ self.prev_value;
            let window = (u32::from(self.wlead), u32::from(self.wlen));
            // The usual point (a short timestamp code, one sample, a value code of a few bits
            // to ~40) is gathered in a register and written at once; a longer one field by
            // field.
            let mut g = Gather { code: 0, n: 0 };
            let (mut wlead, mut wlen) = window;
            put_point(
                &mut g,
                delta,
                self.prev_delta,
                p.count,
                x,
                &mut wlead,
                &mut wlen,
            );
            if g.n <= 56 {
                w.put_short(g.code, g.n);
            } else {
                (wlead, wlen) = window;
                put_point(
                    &mut w,
                    delta,
                    self.prev_delta,
                    p.count,
                    x,
                    &mut wlead,
                    &mut wlen,
                );
            }
            (self.wlead, self.wlen) = (wlead as u8, wlen as u8);
            self.prev_delta = delta;
        }
        self.nbits = w.nbits as u32;
        self.prev_sec = p.sec;
        self.prev_value = value;
        (self.bits.capacity() - before) as i64
    }

    /// Bytes to add when the stream has less than [`RESERVE_BYTES`] left, `used` bytes being
    /// used: what the pace of the points so far says the rest of the window brings (so a
    /// regular series' stream ends about as large as it needs), at least an eighth more
    /// (amortised O(1) appends), at most double.
    fn more_bytes(&self, used: usize, next_sec: u32, span_s: u32) -> usize {
        let len = self.bits.len();
        let floor = (len / 8).max(RESERVE_BYTES);
        if used == 0 {
            // The first point takes 13 to 17 bytes; leave room for the next few.
            return 2 * RESERVE_BYTES;
        }
        let first = self.first_sec();
        let covered = u64::from(next_sec.saturating_sub(first));
        let left = u64::from(span_s.saturating_sub(next_sec.saturating_add(1)));
        if covered == 0 {
            return floor;
        }
        let pace = (used as u64 * left).div_ceil(covered) as usize;
        // Enough for that and the padding, less what is already spare.
        (used + pace + RESERVE_BYTES)
            .saturating_sub(len)
            .clamp(floor, len.max(floor))
    }

    /// Second of the stream's first point (the stream must not be empty).
    fn first_sec(&self) -> u32 {
        BitCursor::new(&self.bits).read(32) as u32
    }

    #[cold]
    fn add_out_of_order(&mut self, sec: u32, value: f64, span_s: u32) -> Added {
        let before = self.heap_bytes() as i64;
        let at = self
            .side
            .as_ref()
            .map_or(Err(0), |s| s.binary_search_by_key(&sec, |a| a.sec));
        let from_stream = match at {
            Err(_) if !self.plain => self.find_in_stream(sec),
            _ => None,
        };
        let side = self.side.get_or_insert_with(Box::default);
        let new_point = match at {
            Ok(i) => {
                side[i].join(value);
                false
            }
            Err(i) => {
                let (p, new_point) = match from_stream {
                    Some(mut p) => {
                        p.join(value);
                        (p, false)
                    }
                    None => (Acc::new(sec, value), true),
                };
                if side.len() == side.capacity() {
                    let more = more_points(side, span_s);
                    side.reserve_exact(more);
                }
                side.insert(i, p);
                new_point
            }
        };
        if !self.plain && side.len() > PLAIN_AFTER {
            self.make_plain();
        }
        Added {
            new_point,
            grown: self.heap_bytes() as i64 - before,
        }
    }

    /// The stream's point of second `sec`, if any.
    fn find_in_stream(&self, sec: u32) -> Option<Acc> {
        StreamReader::new(self)
            .take_while(|p| p.sec <= sec)
            .find(|p| p.sec == sec)
    }

    /// Moves every point but `last` into the side list, for good.
    fn make_plain(&mut self) {
        let mut all = Vec::new();
        self.merged(|p| all.push(p), false);
        all.shrink_to_fit();
        self.side = Some(Box::new(all));
        self.bits = Vec::new();
        self.nbits = 0;
        self.plain = true;
    }

    /// Calls `f` for every point in time order (the side list's point replacing the stream's
    /// of the same second), ending with `last` when `with_last`.
    fn merged(&self, mut f: impl FnMut(Acc), with_last: bool) {
        let side: &[Acc] = self.side.as_deref().map_or(&[], |v| v.as_slice());
        let mut k = 0;
        if !self.plain {
            for p in StreamReader::new(self) {
                while k < side.len() && side[k].sec < p.sec {
                    f(side[k]);
                    k += 1;
                }
                if k < side.len() && side[k].sec == p.sec {
                    continue;
                }
                f(p);
            }
        }
        for p in &side[k..] {
            f(*p);
        }
        if with_last {
            f(self.last);
        }
    }

    /// Calls `f` for each point (second, sample count and sum) in time order.
    pub(super) fn for_each_acc(&self, f: impl FnMut(Acc)) {
        self.merged(f, true);
    }

    /// Calls `f(second, value)` for each point in time order.
    pub(super) fn for_each(&self, mut f: impl FnMut(u32, f64)) {
        self.merged(|p| f(p.sec, p.value()), true);
    }

    /// This series without its points of seconds `from_sec <= sec < to_sec` (each kept point
    /// keeps its exact sum and sample count, so later samples of its second join it as
    /// before): `None` when nothing is left. Returns the points and samples removed.
    pub(super) fn without(&self, from_sec: u64, to_sec: u64) -> (Option<SeriesHead>, u64, u64) {
        let mut kept = Vec::new();
        let (mut points, mut samples) = (0u64, 0u64);
        self.merged(
            |p| {
                if (from_sec..to_sec).contains(&u64::from(p.sec)) {
                    points += 1;
                    samples += u64::from(p.count & !SCALED);
                } else {
                    kept.push(p);
                }
            },
            true,
        );
        let Some(last) = kept.pop() else {
            return (None, points, samples);
        };
        // Plain mode: the kept points sorted beside the newest, which takes its second's
        // samples as before.
        kept.shrink_to_fit();
        let head = SeriesHead {
            bits: Vec::new(),
            side: (!kept.is_empty()).then(|| Box::new(kept)),
            last,
            prev_value: 0,
            prev_sec: 0,
            prev_delta: 0,
            nbits: 0,
            wlead: 0,
            wlen: 64,
            plain: true,
        };
        (Some(head), points, samples)
    }

    /// Earliest and latest second.
    pub(super) fn sec_range(&self) -> (u32, u32) {
        let mut lo = self.last.sec;
        if self.nbits > 0 {
            lo = lo.min(self.first_sec());
        }
        if let Some(p) = self.side.as_ref().and_then(|s| s.first()) {
            lo = lo.min(p.sec);
        }
        (lo, self.last.sec)
    }
}

/// Writes the code of a point after the stream's first: its timestamp (`delta` seconds after
/// the previous point, `prev_delta` the delta before), sample count and value (`x`, the XOR
/// of its sum's bits with the previous point's, in the XOR window `wlead`/`wlen`).
#[inline(always)]
fn put_point(
    w: &mut impl BitSink,
    delta: u32,
    prev_delta: u32,
    count: u32,
    x: u64,
    wlead: &mut u32,
    wlen: &mut u32,
) {
    let dod = i64::from(delta) - i64::from(prev_delta);
    let z = zigzag(dod);
    if dod == 0 {
        w.put(0, 1);
    } else if z < 1 << 7 {
        w.put(0b01 | z << 2, 9);
    } else if z < 1 << 12 {
        w.put(0b011 | z << 3, 15);
    } else {
        w.put(0b111, 3);
        w.put(u64::from(delta), 32);
    }
    put_count(w, count);
    put_xor_step(x, wlead, wlen, w);
}

fn put_count(w: &mut impl BitSink, count: u32) {
    if count == 1 {
        w.put(0, 1);
    } else {
        w.put(1, 1);
        w.put(u64::from(count), 32);
    }
}

fn side_bytes(side: &Vec<Acc>) -> u64 {
    SIDE_LIST_BYTES + side.capacity() as u64 * ACC_BYTES
}

/// How many more points to make room for when a plain vector is full. Scrapes are regular,
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
    let most = n.max(4).min(room).max(floor);
    (pace as usize).saturating_add(1).clamp(floor, most)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(h: &SeriesHead) -> Vec<Acc> {
        let mut out = Vec::new();
        h.merged(|p| out.push(p), true);
        out
    }

    /// A plain model: a sorted vector of accumulators.
    fn model_add(m: &mut Vec<Acc>, sec: u32, value: f64) {
        match m.binary_search_by_key(&sec, |a| a.sec) {
            Ok(i) => m[i].join(value),
            Err(i) => m.insert(i, Acc::new(sec, value)),
        }
    }

    fn same(a: &[Acc], b: &[Acc]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.sec == y.sec && x.count == y.count && x.sum.to_bits() == y.sum.to_bits()
            })
    }

    #[test]
    fn stream_round_trips_every_code() {
        // Deltas exercising each timestamp code (same, 7-bit, 12-bit, raw), counts above 1,
        // and values exercising zero, reused and new XOR windows, NaN payloads, -0.0, ±inf,
        // subnormals and extremes.
        let values = [
            1.0,
            1.0,
            2.0,
            3.5,
            f64::from_bits(0x7ff8_0000_0000_1234),
            -0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE / 3.0,
            f64::MAX,
            f64::MIN,
            1e-300,
            9_007_199_254_740_993.0,
            0.1 + 0.2,
        ];
        let gaps = [
            1u32, 1, 1, 15, 15, 60, 1, 3_000, 3_001, 1, 4_000_000, 2, 2, 70, 1,
        ];
        let mut h = SeriesHead::new(5, values[0]);
        let mut m = vec![Acc::new(5, values[0])];
        let mut sec = 5u32;
        for (i, (&v, &g)) in values.iter().zip(&gaps).enumerate() {
            sec += g;
            let a = h.add(sec, v, u32::MAX);
            assert!(a.new_point);
            model_add(&mut m, sec, v);
            if i % 3 == 0 {
                h.add(sec, v * 2.0, u32::MAX);
                model_add(&mut m, sec, v * 2.0);
            }
        }
        assert!(!h.plain);
        assert!(same(&points(&h), &m), "{:?}\n{:?}", points(&h), m);
        assert_eq!(h.sec_range(), (5, sec));
    }

    #[test]
    fn regular_scrapes_cost_a_few_bytes_a_point() {
        let mut h = SeriesHead::new(0, 0.0);
        for k in 1..80u32 {
            h.add(k * 15, f64::from(k * 7), 1_200);
        }
        assert_eq!(points(&h).len(), 80);
        // 79 closed points of an integer counter: a bit of timestamp, a bit of count, a few
        // value bits.
        let used = (h.nbits as usize).div_ceil(8);
        assert!(used < 79 * 4, "{used} bytes");
        assert!(h.bits.capacity() <= used + 2 * RESERVE_BYTES);
        // A constant series: three bits a point after the first (97 bits) and the second
        // (whose delta-of-delta takes 9 bits); the newest point is not in the stream.
        let mut c = SeriesHead::new(0, 42.0);
        for k in 1..80u32 {
            c.add(k * 15, 42.0, 1_200);
        }
        assert_eq!(c.nbits, 97 + (9 + 2) + 77 * 3);
    }

    #[test]
    fn late_samples_join_their_second_exactly() {
        let mut h = SeriesHead::new(0, 0.1);
        for s in 1..10 {
            h.add(s, 0.1 * f64::from(s), 60);
        }
        let mut m: Vec<Acc> = points(&h);
        // A late sample for an encoded second, then another for the same second: the sum
        // continues in arrival order.
        for (s, v) in [(3, 0.7), (3, 0.9), (11, 1.0), (10, 2.0), (2, 0.3)] {
            let a = h.add(s, v, 60);
            let had = m.iter().any(|p| p.sec == s);
            assert_eq!(a.new_point, !had, "second {s}");
            model_add(&mut m, s, v);
        }
        assert!(same(&points(&h), &m));
    }

    #[test]
    fn many_late_samples_turn_the_series_plain() {
        let mut h = SeriesHead::new(1_000, 1.0);
        let mut m = vec![Acc::new(1_000, 1.0)];
        // Reverse order: every sample is out of order.
        for s in (0..1_000).rev() {
            h.add(s, f64::from(s), 1_200);
            model_add(&mut m, s, f64::from(s));
        }
        assert!(h.plain);
        for s in (1_001..1_100).chain([500, 1_050]) {
            h.add(s, 2.0, 1_200);
            model_add(&mut m, s, 2.0);
        }
        assert!(same(&points(&h), &m));
    }

    #[test]
    fn heap_bytes_follow_capacities() {
        let mut h = SeriesHead::new(0, 1.0);
        let mut total = 0i64;
        for s in 1..200 {
            total += h.add(s * 3 % 500, f64::from(s), 600).grown;
        }
        assert_eq!(total, h.heap_bytes() as i64);
    }

    #[test]
    fn random_orders_match_the_model() {
        // A small deterministic generator: mixes in-order, same-second and late samples.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..200 {
            let mut h: Option<SeriesHead> = None;
            let mut m = Vec::new();
            let mut grown = 0i64;
            let mut sec = 0u32;
            for _ in 0..(round % 50 + 1) * 4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let s = match x % 10 {
                    0..=5 => {
                        sec += (x >> 8) as u32 % 20;
                        sec
                    }
                    6 | 7 => sec,
                    _ => (x >> 16) as u32 % (sec + 1),
                };
                let v = match (x >> 24) % 4 {
                    0 => ((x >> 32) % 100) as f64,
                    1 => f64::from_bits(x),
                    2 => ((x >> 32) % 1000) as f64 / 100.0,
                    _ => 5.0,
                };
                match h.as_mut() {
                    None => {
                        h = Some(SeriesHead::new(s, v));
                        grown += h.as_ref().unwrap().heap_bytes() as i64;
                    }
                    Some(h) => grown += h.add(s, v, 1_200).grown,
                }
                model_add(&mut m, s, v);
            }
            let h = h.unwrap();
            assert!(same(&points(&h), &m), "round {round}");
            assert_eq!(grown, h.heap_bytes() as i64, "round {round}");
        }
    }
}
