//! Matching signatures: a u64 hash of the labels a sample is matched or grouped by, and an
//! index from those hashes to entries that settles collisions by comparing the labels.
//!
//! Nothing here allocates per sample: a signature is hashed straight from the sample's labels
//! and compared pair by pair.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::value::METRIC_NAME;

/// Which labels of a series take part in a signature.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Select<'a> {
    /// Only these labels (`on (…)`, `by (…)`).
    Only(&'a [String]),
    /// Every label except these and the metric name (`ignoring (…)`, `without (…)`).
    AllBut(&'a [String]),
}

impl Select<'_> {
    /// True when label `name` is part of the signature.
    #[inline]
    pub(crate) fn selects(self, name: &str) -> bool {
        match self {
            Select::Only(names) => names.iter().any(|n| n == name),
            Select::AllBut(names) => name != METRIC_NAME && !names.iter().any(|n| n == name),
        }
    }

    /// The selected pairs of `pairs` (in their order).
    #[inline]
    pub(crate) fn filter<'p, I>(self, pairs: I) -> impl Iterator<Item = (&'p str, &'p str)>
    where
        I: Iterator<Item = (&'p str, &'p str)>,
    {
        pairs.filter(move |(k, _)| self.selects(k))
    }

    /// The hash of the selected pairs of `pairs`.
    #[inline]
    pub(crate) fn hash<'p, I>(self, pairs: I) -> u64
    where
        I: Iterator<Item = (&'p str, &'p str)>,
    {
        hash_pairs(self.filter(pairs))
    }

    /// True when the selected pairs of `a` and `b` are equal.
    #[inline]
    pub(crate) fn same<'p, A, B>(self, a: A, b: B) -> bool
    where
        A: Iterator<Item = (&'p str, &'p str)>,
        B: Iterator<Item = (&'p str, &'p str)>,
    {
        self.filter(a).eq(self.filter(b))
    }
}

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// A fast, non-cryptographic hasher of label bytes (signatures are compared exactly on a
/// collision, so quality only affects speed).
#[derive(Default, Clone, Copy)]
pub(crate) struct SigHasher(u64);

impl SigHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
    }

    /// Feeds a string with its length, so that `("ab","c")` and `("a","bc")` differ.
    #[inline]
    pub(crate) fn str(&mut self, s: &str) {
        self.add(s.len() as u64);
        self.write(s.as_bytes());
    }
}

impl Hasher for SigHasher {
    #[inline]
    fn finish(&self) -> u64 {
        // A final avalanche so that low bits (the ones hash tables use) depend on all input.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
}

/// The hash of a sequence of label pairs.
#[inline]
pub(crate) fn hash_pairs<'p>(pairs: impl Iterator<Item = (&'p str, &'p str)>) -> u64 {
    let mut h = SigHasher::default();
    let mut n = 0u64;
    for (k, v) in pairs {
        h.str(k);
        h.str(v);
        n += 1;
    }
    h.write_u64(n);
    h.finish()
}

/// Passes a u64 key through unchanged (keys are already hashes).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
}

const NONE: usize = usize::MAX;

/// Maps signature hashes to entry numbers (0, 1, 2, … in the caller's own vector); entries
/// whose hashes collide are chained and told apart by the caller's exact comparison.
#[derive(Default)]
pub(crate) struct SigIndex {
    heads: HashMap<u64, usize, BuildHasherDefault<IdentityHasher>>,
    next: Vec<usize>,
}

impl SigIndex {
    /// An index sized for about `n` entries.
    pub(crate) fn with_capacity(n: usize) -> Self {
        SigIndex {
            heads: HashMap::with_capacity_and_hasher(n, Default::default()),
            next: Vec::with_capacity(n),
        }
    }

    /// The entry with hash `h` for which `is` says true.
    #[inline]
    pub(crate) fn find(&self, h: u64, mut is: impl FnMut(usize) -> bool) -> Option<usize> {
        let mut e = *self.heads.get(&h)?;
        while e != NONE {
            if is(e) {
                return Some(e);
            }
            e = self.next[e];
        }
        None
    }

    /// Adds the next entry (number `self.len()`) under hash `h`, and returns its number.
    #[inline]
    pub(crate) fn push(&mut self, h: u64) -> usize {
        let e = self.next.len();
        let prev = self.heads.insert(h, e).unwrap_or(NONE);
        self.next.push(prev);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Labels;

    #[test]
    fn signatures_select_on_and_ignoring_labels() {
        let a = Labels::new([("__name__", "m"), ("job", "x"), ("i", "1")]);
        let b = Labels::new([("__name__", "n"), ("job", "x"), ("i", "2")]);
        let on_job = ["job".to_string()];
        let ign_i = ["i".to_string()];
        let s = Select::Only(&on_job);
        assert_eq!(s.hash(a.iter()), s.hash(b.iter()));
        assert!(s.same(a.iter(), b.iter()));
        // ignoring drops the metric name too.
        let s = Select::AllBut(&ign_i);
        assert_eq!(s.hash(a.iter()), s.hash(b.iter()));
        assert!(s.same(a.iter(), b.iter()));
        let s = Select::AllBut(&[]);
        assert!(!s.same(a.iter(), b.iter()));
        assert_ne!(s.hash(a.iter()), s.hash(b.iter()));
        // Pair boundaries count.
        let c = Labels::new([("ab", "c")]);
        let d = Labels::new([("a", "bc")]);
        assert_ne!(hash_pairs(c.iter()), hash_pairs(d.iter()));
    }

    #[test]
    fn index_chains_colliding_hashes() {
        let mut idx = SigIndex::default();
        let vals = ["a", "b", "c"];
        for _ in &vals {
            idx.push(7); // every entry collides
        }
        for (i, v) in vals.iter().enumerate() {
            assert_eq!(idx.find(7, |e| vals[e] == *v), Some(i));
        }
        assert_eq!(idx.find(7, |_| false), None);
        assert_eq!(idx.find(8, |_| true), None);
    }
}
