//! Canonical label sets and the series hash.

use std::cmp::Ordering;
use std::fmt;

/// A canonical label set: sorted by name, no empty values, no duplicate names.
///
/// Held in one allocation, since a store keeps one per series (a `Vec` of `String` pairs
/// cost nine allocations and about 270 bytes for four labels):
///
/// ```text
///  width u8 (1, 2 or 4: the bytes of each offset, the fewest that hold the text's length)
///  count: width bytes LE
///  ends: 2 × count offsets of width bytes LE, where each name and each value ends in the text
///  text: the names and values, concatenated in order
/// ```
/// An empty set allocates nothing. Every constructor makes sure that the text is UTF-8 and
/// that each end falls on a character boundary, so each name and value is a `str`.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Labels(Box<[u8]>);

/// The width of the offsets for a text of `len` bytes.
fn width_for(len: usize) -> usize {
    if len <= u8::MAX as usize {
        1
    } else if len <= u16::MAX as usize {
        2
    } else {
        4
    }
}

/// Offset number `j` of `width` bytes in `b`.
#[inline]
fn offset(b: &[u8], width: usize, j: usize) -> usize {
    match width {
        1 => b[j] as usize,
        2 => u16::from_le_bytes([b[2 * j], b[2 * j + 1]]) as usize,
        _ => u32::from_le_bytes([b[4 * j], b[4 * j + 1], b[4 * j + 2], b[4 * j + 3]]) as usize,
    }
}

/// The name or value held in `text[start..end]`.
#[inline]
// The one unchecked conversion of the label text; the check would cost a pass over every label
// read on the query path.
#[allow(unsafe_code)]
fn piece(text: &[u8], start: usize, end: usize) -> &str {
    let bytes = &text[start..end];
    // SAFETY: `text` is the text of a `Labels`, which its constructors make UTF-8 with every
    // end offset on a character boundary (see `Labels::pack` and its two callers), and it never
    // changes after; `start` and `end` are consecutive offsets (or 0 and the first), so the
    // bytes between them are whole characters.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

impl Labels {
    /// Builds the canonical form of `pairs`: labels with an empty value are dropped (as in
    /// PromQL, an empty value is the same as no label), the rest sorted by name. Duplicate
    /// names are kept (validation reports them).
    pub fn canonical<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Self {
        let mut v: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, val)| (k.as_ref(), val.as_ref()))
            .filter(|(_, val)| !val.is_empty())
            .collect();
        v.sort_unstable();
        Labels::from_sorted(&v)
    }

    /// Wraps pairs that are already canonical (or that the caller checks, as the index does
    /// when it reads them back), in their order.
    pub(crate) fn from_sorted<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Self {
        let text_len = pairs
            .iter()
            .map(|(k, v)| k.as_ref().len() + v.as_ref().len())
            .sum();
        // Made of `str`s: UTF-8, and every end on a boundary.
        Labels(Labels::pack(
            pairs.len(),
            text_len,
            pairs
                .iter()
                .map(|(k, v)| (k.as_ref().as_bytes(), v.as_ref().as_bytes())),
        ))
    }

    /// Builds from `count` pairs of byte strings, in their order, whose names and values total
    /// `text_len` bytes; `None` when one of them is not UTF-8. Checks the text in one go
    /// rather than string by string (as the index reads labels back, for every series).
    pub(crate) fn from_utf8_pairs<'a>(
        count: usize,
        text_len: usize,
        pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Option<Self> {
        let l = Labels(Labels::pack(count, text_len, pairs));
        let (width, count, ends, text) = l.parts();
        // The text is UTF-8 and no end cuts a character: then each piece is UTF-8 as well.
        let text = std::str::from_utf8(text).ok()?;
        (0..2 * count)
            .all(|j| text.is_char_boundary(offset(ends, width, j)))
            .then_some(l)
    }

    /// The packed bytes of `count` pairs totalling `text_len` bytes (see [`Labels`]). Panics
    /// when the pairs do not match the count and length given (a bug of the caller).
    fn pack<'a>(
        count: usize,
        text_len: usize,
        pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Box<[u8]> {
        if count == 0 {
            return Box::default();
        }
        let width = width_for(text_len.max(count));
        let text_at = 1 + width * (1 + 2 * count);
        let mut out = Vec::with_capacity(text_at + text_len);
        out.push(width as u8);
        out.extend_from_slice(&(count as u32).to_le_bytes()[..width]);
        out.resize(text_at, 0);
        let mut end = 0;
        let mut n = 0;
        for (i, (k, v)) in pairs.take(count).enumerate() {
            for (j, s) in [k, v].into_iter().enumerate() {
                out.extend_from_slice(s);
                end += s.len();
                let at = 1 + width * (1 + 2 * i + j);
                out[at..at + width].copy_from_slice(&(end as u32).to_le_bytes()[..width]);
            }
            n += 1;
        }
        assert!(
            n == count && end == text_len,
            "label pairs do not match the count and length given"
        );
        out.into_boxed_slice()
    }

    /// Offset width, count, end offsets and text.
    #[inline]
    fn parts(&self) -> (usize, usize, &[u8], &[u8]) {
        let b = &self.0[..];
        let Some(&width) = b.first() else {
            return (1, 0, &[], &[]);
        };
        let width = width as usize;
        let count = offset(&b[1..], width, 0);
        let (ends, text) = b[1 + width..].split_at(2 * count * width);
        (width, count, ends, text)
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.parts().1
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels as `(name, value)`, sorted by name.
    #[inline]
    pub fn iter(&self) -> LabelsIter<'_> {
        let (width, count, ends, text) = self.parts();
        LabelsIter {
            ends,
            text,
            width,
            front: 0,
            back: count,
            start: 0,
        }
    }

    /// The labels as owned `(name, value)` pairs, sorted by name.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// The value of label `name`, or "" when the series has no such label.
    pub fn get(&self, name: &str) -> &str {
        let (width, count, ends, text) = self.parts();
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let start = if mid == 0 {
                0
            } else {
                offset(ends, width, 2 * mid - 1)
            };
            let name_end = offset(ends, width, 2 * mid);
            match piece(text, start, name_end).cmp(name) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return piece(text, name_end, offset(ends, width, 2 * mid + 1)),
            }
        }
        ""
    }

    /// `k=v;k=v` (the CSV form).
    pub fn to_kv_string(&self) -> String {
        let mut s = String::new();
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                s.push(';');
            }
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        s
    }

    /// The series hash of these labels under metric `name` (see [`label_hash`]).
    pub fn hash_with(&self, metric: &str) -> u64 {
        label_hash_iter(metric, self.iter())
    }

    /// Heap bytes held (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.0.len()
    }
}

/// The labels of a [`Labels`], in order (see [`Labels::iter`]).
#[derive(Clone)]
pub struct LabelsIter<'a> {
    ends: &'a [u8],
    text: &'a [u8],
    width: usize,
    /// The next pair from the front, and where its name starts in the text.
    front: usize,
    start: usize,
    /// One past the next pair from the back.
    back: usize,
}

impl<'a> Iterator for LabelsIter<'a> {
    type Item = (&'a str, &'a str);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.front == self.back {
            return None;
        }
        let name_end = offset(self.ends, self.width, 2 * self.front);
        let value_end = offset(self.ends, self.width, 2 * self.front + 1);
        let pair = (
            piece(self.text, self.start, name_end),
            piece(self.text, name_end, value_end),
        );
        self.front += 1;
        self.start = value_end;
        Some(pair)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for LabelsIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        let i = self.back;
        let start = if i == 0 {
            0
        } else {
            offset(self.ends, self.width, 2 * i - 1)
        };
        let name_end = offset(self.ends, self.width, 2 * i);
        let value_end = offset(self.ends, self.width, 2 * i + 1);
        Some((
            piece(self.text, start, name_end),
            piece(self.text, name_end, value_end),
        ))
    }
}

impl ExactSizeIterator for LabelsIter<'_> {}

impl fmt::Debug for LabelsIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a str, &'a str);
    type IntoIter = LabelsIter<'a>;

    fn into_iter(self) -> LabelsIter<'a> {
        self.iter()
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Labels").field(&self.iter()).finish()
    }
}

/// In the order of the pairs, name first (as the `Vec` of pairs it replaces was ordered).
impl Ord for Labels {
    fn cmp(&self, other: &Self) -> Ordering {
        self.iter().cmp(other.iter())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Labels {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The series hash stored in the index: 64-bit FNV-1a over the metric name, then for each
/// label in canonical order a 0xFF byte, the name, a 0xFF byte and the value. `pairs` must be
/// canonical (sorted, no empty values). See `format-spec/index.md`.
pub fn label_hash<K: AsRef<str>, V: AsRef<str>>(metric: &str, pairs: &[(K, V)]) -> u64 {
    label_hash_iter(metric, pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
}

/// [`label_hash`] over pairs given one by one.
pub fn label_hash_iter<'a>(metric: &str, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    let mut h = fnv(FNV_OFFSET, metric.as_bytes());
    for (k, v) in pairs {
        h = fnv(h, &[0xFF]);
        h = fnv(h, k.as_bytes());
        h = fnv(h, &[0xFF]);
        h = fnv(h, v.as_bytes());
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_sorts_and_drops_empty_values() {
        let l = Labels::canonical(&[("b", "2"), ("a", "1"), ("c", "")]);
        assert_eq!(
            l.to_pairs(),
            [
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "2".to_string())
            ]
        );
        assert_eq!(l.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "2")]);
        assert_eq!(l.iter().rev().collect::<Vec<_>>(), [("b", "2"), ("a", "1")]);
        assert_eq!(l.get("a"), "1");
        assert_eq!(l.get("c"), "");
        assert_eq!(l.to_kv_string(), "a=1;b=2");
    }

    #[test]
    fn hash_is_fixed() {
        // Golden values: bind the hash to format-spec/index.md.
        assert_eq!(label_hash::<&str, &str>("up", &[]), 0x8c43a07b566d980);
        assert_eq!(
            label_hash("cpu", &[("host", "a"), ("mode", "idle")]),
            0x571984f2a3e2ef05
        );
        assert_ne!(
            label_hash("m", &[("a", "1"), ("b", "2")]),
            label_hash("m", &[("a", "12")])
        );
    }

    /// The packed form gives back what it was given, whatever the width of its offsets, and
    /// orders, compares and looks up like the sorted pairs themselves.
    #[test]
    fn packed_labels_behave_as_their_pairs() {
        let long = "x".repeat(300);
        let huge = "é".repeat(40_000);
        let sets: Vec<Vec<(&str, &str)>> = vec![
            vec![],
            vec![("a", "1")],
            vec![
                ("host", "h-1"),
                ("instance", "10.0.0.1:9100"),
                ("job", "node"),
            ],
            vec![("a", &long), ("b", "2"), ("c", "")],
            vec![("a", "1"), ("zone", &huge), ("é", &huge)],
            vec![("", "v"), ("k", "v")],
        ];
        let mut all = Vec::new();
        for set in &sets {
            let l = Labels::canonical(set);
            let mut want: Vec<(String, String)> = set
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            want.sort();
            assert_eq!(l.to_pairs(), want);
            assert_eq!(l.len(), want.len());
            assert_eq!(l.is_empty(), want.is_empty());
            assert_eq!(l.iter().len(), want.len());
            for (k, v) in &want {
                assert_eq!(l.get(k), v);
            }
            assert_eq!(l.get("nosuch"), "");
            assert_eq!(l, Labels::from_sorted(&want));
            assert_eq!(l.hash_with("m"), label_hash("m", &want));
            all.push((l, want));
        }
        assert_eq!(Labels::canonical::<&str, &str>(&[]).heap_bytes(), 0);
        for (a, pa) in &all {
            for (b, pb) in &all {
                assert_eq!(a.cmp(b), pa.cmp(pb));
                assert_eq!(a == b, pa == pb);
            }
        }
        assert_eq!(
            format!("{:?}", Labels::canonical(&[("b", "2"), ("a", "1")])),
            r#"Labels([("a", "1"), ("b", "2")])"#
        );
    }
}
