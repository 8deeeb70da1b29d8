//! A bounded cache of decoded raw chunks of sealed segments ([`ReadCache`]).
//!
//! Sealed segments never change, so a chunk decoded once can answer every later read of it.
//! The cache is keyed by the segment's identity (its path, length and trailer, which holds the
//! footer's checksum: a segment rewritten in place, as a late-sample merge does, is another
//! segment) and the chunk's offset, and each entry also remembers the chunk's stored checksum,
//! which a lookup compares with the file's: a false hit would need both to collide.
//!
//! Eviction is CLOCK (second chance): an entry read since the hand last passed it is kept for
//! one more turn. Lookups and inserts are O(1) amortised under one short lock.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

/// The bytes an entry is charged beyond its points (the slot, the map's entry, the shared
/// slice's counts).
const ENTRY_OVERHEAD: usize = 96;

/// Decoded raw chunks of sealed segments, shared by every read of a store (and by every store
/// opened with a clone of it: a server that reopens a store to see new data keeps what it
/// decoded). Bounded by bytes; `Config::read_cache` turns it on for a store.
///
/// What it buys: a query that reads the same sealed data again (a dashboard's refresh, an
/// alert rule's next evaluation, a range that moved by a step) copies points instead of
/// decoding them. What it costs: up to its bound in memory (16 bytes a point plus 96 a chunk),
/// and a chunk found in it is not checksummed again (it was when it was decoded).
///
/// ```
/// let cache = tierlog::ReadCache::new(64 << 20);
/// let config = tierlog::Config { read_cache: Some(cache.clone()), ..tierlog::Config::default() };
/// # let _ = config;
/// assert_eq!(cache.stats().entries, 0);
/// ```
#[derive(Clone)]
pub struct ReadCache {
    inner: Arc<Mutex<Inner>>,
    max_bytes: usize,
}

/// Counters of a [`ReadCache`] since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadCacheStats {
    /// Chunks found in the cache.
    pub hits: u64,
    /// Chunks looked for and not found (then decoded and kept). Chunks too large to keep
    /// are not looked for, and not counted.
    pub misses: u64,
    /// Chunks dropped to make room.
    pub evictions: u64,
    /// Chunks held now.
    pub entries: usize,
    /// Bytes charged for them now (at most the bound).
    pub bytes: usize,
    /// The bound.
    pub max_bytes: usize,
}

type Key = (u64, u64);

struct Slot {
    key: Key,
    crc: u32,
    points: Arc<[(i64, f64)]>,
    referenced: bool,
}

#[derive(Default)]
struct Inner {
    index: HashMap<Key, usize, foldhash::fast::RandomState>,
    slots: Vec<Slot>,
    hand: usize,
    bytes: usize,
    hits: u64,
    misses: u64,
    evictions: u64,
}

fn charge(points: usize) -> usize {
    points * std::mem::size_of::<(i64, f64)>() + ENTRY_OVERHEAD
}

impl ReadCache {
    /// A cache holding at most `max_bytes` of decoded chunks (0 holds nothing). A chunk larger
    /// than an eighth of the bound is decoded for each read and not kept, so one long series
    /// cannot flush everything else.
    pub fn new(max_bytes: usize) -> ReadCache {
        ReadCache {
            inner: Arc::new(Mutex::new(Inner::default())),
            max_bytes,
        }
    }

    /// Its counters.
    pub fn stats(&self) -> ReadCacheStats {
        let g = self.inner.lock();
        ReadCacheStats {
            hits: g.hits,
            misses: g.misses,
            evictions: g.evictions,
            entries: g.slots.len(),
            bytes: g.bytes,
            max_bytes: self.max_bytes,
        }
    }

    /// Whether a chunk of `points` points would be kept.
    pub(crate) fn keeps(&self, points: usize) -> bool {
        charge(points) <= self.max_bytes / 8
    }

    /// The decoded chunk at `key` whose stored checksum is `crc`, if held.
    pub(crate) fn get(&self, key: Key, crc: u32) -> Option<Arc<[(i64, f64)]>> {
        let mut g = self.inner.lock();
        let found = match g.index.get(&key) {
            Some(&i) if g.slots[i].crc == crc => {
                let s = &mut g.slots[i];
                s.referenced = true;
                Some(s.points.clone())
            }
            _ => None,
        };
        if found.is_some() {
            g.hits += 1;
        } else {
            g.misses += 1;
        }
        found
    }

    /// Keeps `points`, the decoded chunk at `key` with stored checksum `crc`, evicting others
    /// as needed. Does nothing for a chunk [`ReadCache::keeps`] refuses.
    pub(crate) fn insert(&self, key: Key, crc: u32, points: Arc<[(i64, f64)]>) {
        let size = charge(points.len());
        if !self.keeps(points.len()) {
            return;
        }
        let mut g = self.inner.lock();
        if let Some(&i) = g.index.get(&key) {
            // Another reader decoded it meanwhile, or the checksum changed: the newer goes in
            // as a new entry, the old one out.
            g.remove_at(i);
        }
        while g.bytes + size > self.max_bytes && !g.slots.is_empty() {
            g.evict_one();
        }
        let i = g.slots.len();
        g.slots.push(Slot {
            key,
            crc,
            points,
            referenced: false,
        });
        g.index.insert(key, i);
        g.bytes += size;
    }
}

impl Inner {
    /// Drops the first unreferenced slot from the hand on, clearing the marks it passes.
    fn evict_one(&mut self) {
        loop {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let s = &mut self.slots[self.hand];
            if s.referenced {
                s.referenced = false;
                self.hand += 1;
                continue;
            }
            self.remove_at(self.hand);
            self.evictions += 1;
            return;
        }
    }

    /// Drops slot `i`: the last slot takes its place (and its index entry follows).
    fn remove_at(&mut self, i: usize) {
        let gone = self.slots.swap_remove(i);
        self.index.remove(&gone.key);
        if let Some(moved) = self.slots.get(i) {
            self.index.insert(moved.key, i);
        }
        self.bytes -= charge(gone.points.len());
    }
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.stats();
        f.debug_struct("ReadCache")
            .field("max_bytes", &s.max_bytes)
            .field("entries", &s.entries)
            .field("bytes", &s.bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(n: usize, v: f64) -> Arc<[(i64, f64)]> {
        (0..n as i64).map(|t| (t, v)).collect::<Vec<_>>().into()
    }

    #[test]
    fn a_held_chunk_is_found_only_with_its_checksum() {
        let c = ReadCache::new(1 << 20);
        assert!(c.get((1, 16), 7).is_none());
        c.insert((1, 16), 7, chunk(10, 1.5));
        assert_eq!(c.get((1, 16), 7).unwrap()[3], (3, 1.5));
        // Same place, other bytes: not this entry.
        assert!(c.get((1, 16), 8).is_none());
        // Same offset in another segment.
        assert!(c.get((2, 16), 7).is_none());
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.entries), (1, 3, 1));
        assert_eq!(s.bytes, charge(10));
        // A newer decoding of the same place replaces the entry.
        c.insert((1, 16), 8, chunk(4, 2.0));
        assert_eq!(c.get((1, 16), 8).unwrap().len(), 4);
        assert_eq!(c.stats().bytes, charge(4));
    }

    #[test]
    fn the_bound_holds_and_read_entries_get_a_second_chance() {
        // Room for exactly eight chunks of 100 points (each an eighth of the bound).
        let c = ReadCache::new(8 * charge(100));
        assert!(c.keeps(100) && !c.keeps(101));
        for k in 0..8 {
            c.insert((0, k), 0, chunk(100, k as f64));
        }
        assert_eq!(c.stats().entries, 8);
        // Chunk 0 is read again; the next insert evicts another one.
        assert!(c.get((0, 0), 0).is_some());
        c.insert((0, 8), 0, chunk(100, 8.0));
        let s = c.stats();
        assert_eq!((s.entries, s.evictions), (8, 1));
        assert!(s.bytes <= s.max_bytes);
        assert!(c.get((0, 0), 0).is_some(), "a referenced chunk survives the hand");
        assert!(c.get((0, 1), 0).is_none(), "the first unreferenced one went");
        // Many more: the bound keeps holding, and every held entry is still indexed right.
        for k in 9..500 {
            c.insert((0, k), 0, chunk(100, k as f64));
            if k % 3 == 0 {
                let _ = c.get((0, k - 2), 0);
            }
            assert!(c.stats().bytes <= c.stats().max_bytes);
        }
        // A held chunk decoded again with other bytes replaces its entry within the bound.
        let held = c.inner.lock().slots[3].key;
        c.insert(held, 9, chunk(100, held.1 as f64));
        assert!(c.get(held, 9).is_some() && c.get(held, 0).is_none());
        assert!(c.stats().bytes <= c.stats().max_bytes);
        let g = c.inner.lock();
        assert_eq!(g.index.len(), g.slots.len());
        for (i, s) in g.slots.iter().enumerate() {
            assert_eq!(g.index[&s.key], i);
            assert_eq!(s.points[0].1, s.key.1 as f64);
        }
    }

    #[test]
    fn a_chunk_over_an_eighth_of_the_bound_is_not_kept() {
        let c = ReadCache::new(8 * charge(100));
        c.insert((0, 0), 0, chunk(101, 0.0));
        assert_eq!(c.stats().entries, 0);
        let none = ReadCache::new(0);
        none.insert((0, 0), 0, chunk(1, 0.0));
        assert_eq!(none.stats().entries, 0);
    }
}
