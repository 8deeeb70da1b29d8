//! Canonical label sets and the series hash.

use serde::{Serialize, Serializer};

/// A canonical label set: sorted by name, no empty values, no duplicate names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Builds the canonical form of `pairs`: labels with an empty value are dropped (as in
    /// PromQL, an empty value is the same as no label), the rest sorted by name. Duplicate
    /// names are kept (validation reports them).
    pub fn canonical<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Self {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .filter(|(_, val)| !val.as_ref().is_empty())
            .map(|(k, val)| (k.as_ref().to_owned(), val.as_ref().to_owned()))
            .collect();
        v.sort();
        Labels(v)
    }

    /// Wraps pairs that are already canonical (as read back from the index).
    pub(crate) fn from_sorted(pairs: Vec<(String, String)>) -> Self {
        Labels(pairs)
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The value of label `name`, or "" when the series has no such label.
    pub fn get(&self, name: &str) -> &str {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
            Ok(i) => &self.0[i].1,
            Err(_) => "",
        }
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `k=v;k=v` (the CSV form).
    pub fn to_kv_string(&self) -> String {
        let mut s = String::new();
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(';');
            }
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        s
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
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
    let mut h = fnv(FNV_OFFSET, metric.as_bytes());
    for (k, v) in pairs {
        h = fnv(h, &[0xFF]);
        h = fnv(h, k.as_ref().as_bytes());
        h = fnv(h, &[0xFF]);
        h = fnv(h, v.as_ref().as_bytes());
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
            l.pairs(),
            &[
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "2".to_string())
            ]
        );
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
}
