//! Matching signatures: the labels a sample is matched or grouped by, encoded into a reused
//! buffer (`name 0xff value 0xff …`; 0xff never occurs in UTF-8), hashed to a u64, and looked
//! up in a [`SigTable`] that keeps the signatures it holds in one contiguous arena and settles
//! hash collisions by comparing bytes.
//!
//! Nothing here allocates per sample, and a lookup touches the probing sample's labels once
//! (to encode them) and the table's arena once, not the scattered labels of the sample it
//! matches.

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

    /// Writes the selected pairs of `pairs` into `buf` (cleared first).
    #[inline]
    pub(crate) fn encode<'p, I>(self, pairs: I, buf: &mut Vec<u8>)
    where
        I: Iterator<Item = (&'p str, &'p str)>,
    {
        encode(self.filter(pairs), buf);
    }
}

/// Writes `pairs` into `buf` (cleared first) as `name 0xff value 0xff …`.
#[inline]
pub(crate) fn encode<'p>(pairs: impl Iterator<Item = (&'p str, &'p str)>, buf: &mut Vec<u8>) {
    buf.clear();
    for (k, v) in pairs {
        buf.extend_from_slice(k.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(v.as_bytes());
        buf.push(0xff);
    }
}

/// The hash of an encoded signature.
#[inline]
pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = SigHasher::default();
    h.write(b);
    h.write_u64(b.len() as u64);
    h.finish()
}

/// A set of encoded signatures, numbered 0, 1, 2, … in the order they were added.
#[derive(Default)]
pub(crate) struct SigTable {
    idx: SigIndex,
    bytes: Vec<u8>,
    /// Entry `e` is `bytes[ends[e - 1]..ends[e]]` (from 0 for the first).
    ends: Vec<usize>,
}

impl SigTable {
    /// A table sized for about `n` entries.
    pub(crate) fn with_capacity(n: usize) -> Self {
        SigTable {
            idx: SigIndex::with_capacity(n),
            bytes: Vec::with_capacity(n * 32),
            ends: Vec::with_capacity(n),
        }
    }

    fn entry(&self, e: usize) -> &[u8] {
        let start = if e == 0 { 0 } else { self.ends[e - 1] };
        &self.bytes[start..self.ends[e]]
    }

    /// The entry equal to `sig` (whose hash is `h`).
    #[inline]
    pub(crate) fn find(&self, sig: &[u8], h: u64) -> Option<usize> {
        self.idx.find(h, |e| self.entry(e) == sig)
    }

    /// Adds `sig` (whose hash is `h`) as the next entry and returns its number.
    #[inline]
    pub(crate) fn push(&mut self, sig: &[u8], h: u64) -> usize {
        self.bytes.extend_from_slice(sig);
        self.ends.push(self.bytes.len());
        self.idx.push(h)
    }

    /// The entry equal to `sig`, added if missing; true when it was added.
    #[inline]
    pub(crate) fn find_or_push(&mut self, sig: &[u8]) -> (usize, bool) {
        let h = hash_bytes(sig);
        match self.find(sig, h) {
            Some(e) => (e, false),
            None => (self.push(sig, h), true),
        }
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
        let sig = |s: Select<'_>, l: &Labels| {
            let mut buf = Vec::new();
            s.encode(l.iter(), &mut buf);
            buf
        };
        assert_eq!(
            sig(Select::Only(&on_job), &a),
            sig(Select::Only(&on_job), &b)
        );
        // ignoring drops the metric name too.
        assert_eq!(sig(Select::AllBut(&ign_i), &a), b"job\xffx\xff");
        assert_eq!(sig(Select::AllBut(&ign_i), &b), b"job\xffx\xff");
        assert_ne!(sig(Select::AllBut(&[]), &a), sig(Select::AllBut(&[]), &b));
        // Pair boundaries count.
        let c = Labels::new([("ab", "c")]);
        let d = Labels::new([("a", "bc")]);
        let (c, d) = (sig(Select::AllBut(&[]), &c), sig(Select::AllBut(&[]), &d));
        assert_ne!(c, d);
        assert_ne!(hash_bytes(&c), hash_bytes(&d));
    }

    #[test]
    fn table_holds_encoded_signatures() {
        let mut t = SigTable::default();
        let mut buf = Vec::new();
        let a = Labels::new([("__name__", "m"), ("job", "x"), ("i", "1")]);
        let b = Labels::new([("__name__", "n"), ("job", "x"), ("i", "2")]);
        let c = Labels::new([("job", "y")]);
        let on_job = ["job".to_string()];
        let s = Select::Only(&on_job);
        s.encode(a.iter(), &mut buf);
        assert_eq!(buf, b"job\xffx\xff");
        assert_eq!(t.find_or_push(&buf), (0, true));
        s.encode(b.iter(), &mut buf);
        assert_eq!(t.find_or_push(&buf), (0, false));
        s.encode(c.iter(), &mut buf);
        assert_eq!(t.find_or_push(&buf), (1, true));
        assert_eq!(t.find(&buf, hash_bytes(&buf)), Some(1));
        // An entry found only under its own hash and bytes.
        assert_eq!(t.find(&buf, hash_bytes(b"other")), None);
        let empty: [String; 0] = [];
        Select::Only(&empty).encode(a.iter(), &mut buf);
        assert!(buf.is_empty());
        assert_eq!(t.find_or_push(&buf), (2, true));
        assert_eq!(t.entry(2), b"");
        assert_eq!(t.entry(1), b"job\xffy\xff");
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
