//! The values a PromQL expression evaluates to.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A label set as PromQL sees it: sorted by name, no empty values, the metric name under
/// `__name__`. Shared: a clone is a reference count (an evaluation hands a series' labels to
/// every step's sample), a change copies. A stored series' labels ([`Labels::from_series`])
/// carry the same set without the metric name, made with them, so that removing the name at
/// every step (what most functions and operators do) gives that one shared set each time,
/// with nothing copied.
#[derive(Clone, Default)]
pub struct Labels(Arc<Inner>);

#[derive(Default)]
struct Inner {
    pairs: Vec<(String, String)>,
    /// These labels without `__name__`, made in advance (only for a set that has one).
    unnamed: Option<Labels>,
}

impl Clone for Inner {
    /// A copy about to be changed: without the unnamed set made in advance.
    fn clone(&self) -> Self {
        Inner {
            pairs: self.pairs.clone(),
            unnamed: None,
        }
    }
}

/// `pairs` without pair `i`.
fn without(pairs: &[(String, String)], i: usize) -> Vec<(String, String)> {
    let mut v = Vec::with_capacity(pairs.len().saturating_sub(1));
    v.extend_from_slice(&pairs[..i]);
    v.extend_from_slice(&pairs[i + 1..]);
    v
}

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

impl Labels {
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Labels(Arc::new(Inner {
            pairs,
            unnamed: None,
        }))
    }

    /// The pairs, to be changed: copied first when shared; the kept unnamed set is dropped.
    fn pairs_mut(&mut self) -> &mut Vec<(String, String)> {
        let inner = Arc::make_mut(&mut self.0);
        inner.unnamed = None;
        &mut inner.pairs
    }

    fn find(&self, name: &str) -> std::result::Result<usize, usize> {
        self.0.pairs.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    /// A label set from pairs in any order; empty values are dropped, and of two pairs with
    /// one name the last wins.
    pub fn new<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut v: Vec<(String, String)> = Vec::new();
        for (k, val) in pairs {
            let (k, val) = (k.into(), val.into());
            v.retain(|(n, _)| *n != k);
            if !val.is_empty() {
                v.push((k, val));
            }
        }
        v.sort();
        Labels::from_pairs(v)
    }

    /// The labels of a stored series: its metric name as `__name__` plus its labels.
    pub fn from_series(metric: &str, labels: &tierlog::Labels) -> Self {
        let mut v: Vec<(String, String)> = labels
            .iter()
            .filter(|(_, val)| !val.is_empty())
            .map(|(k, val)| (k.to_owned(), val.to_owned()))
            .collect();
        if !metric.is_empty() {
            v.push((METRIC_NAME.to_owned(), metric.to_owned()));
        }
        v.sort();
        v.dedup_by(|a, b| a.0 == b.0);
        let unnamed = v
            .binary_search_by(|(k, _)| k.as_str().cmp(METRIC_NAME))
            .ok()
            .map(|i| Labels::from_pairs(without(&v, i)));
        Labels(Arc::new(Inner { pairs: v, unnamed }))
    }

    /// The value of label `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.find(name).ok().map(|i| self.0.pairs[i].1.as_str())
    }

    /// The metric name, if set.
    pub fn name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Sets label `name` to `value`; an empty value removes it.
    pub fn set(&mut self, name: &str, value: &str) {
        if value.is_empty()
            && name == METRIC_NAME
            && let Some(u) = &self.0.unnamed
        {
            *self = u.clone();
            return;
        }
        match self.find(name) {
            Ok(_) if value.is_empty() && name == METRIC_NAME => *self = self.unnamed(),
            Ok(i) if value.is_empty() => {
                self.pairs_mut().remove(i);
            }
            Ok(i) if self.0.pairs[i].1 == value => {}
            Ok(i) => self.pairs_mut()[i].1 = value.to_owned(),
            Err(_) if value.is_empty() => {}
            Err(i) => self
                .pairs_mut()
                .insert(i, (name.to_owned(), value.to_owned())),
        }
    }

    /// These labels without the metric name: the set made in advance, a new one, or these
    /// when they have none.
    fn unnamed(&self) -> Labels {
        if let Some(u) = &self.0.unnamed {
            return u.clone();
        }
        match self.find(METRIC_NAME) {
            Ok(i) => Labels::from_pairs(without(&self.0.pairs, i)),
            Err(_) => self.clone(),
        }
    }

    /// The address of the shared label set: equal for two [`Labels::same`] sets, and not
    /// reused by another set while this one lives.
    pub(crate) fn addr(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// True when both are the same shared label set (a cheap test before comparing).
    pub fn same(&self, other: &Labels) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Removes label `name`.
    pub fn remove(&mut self, name: &str) {
        self.set(name, "");
    }

    /// The same labels without the metric name.
    pub fn without_name(self) -> Self {
        self.unnamed()
    }

    /// Only the labels whose names are in `names`.
    pub fn keep_only(&self, names: &[String]) -> Self {
        Labels::from_pairs(
            self.0
                .pairs
                .iter()
                .filter(|(k, _)| names.iter().any(|n| n == k))
                .cloned()
                .collect(),
        )
    }

    /// Every label except those whose names are in `names`.
    pub fn drop_these(&self, names: &[String]) -> Self {
        Labels::from_pairs(
            self.0
                .pairs
                .iter()
                .filter(|(k, _)| !names.iter().any(|n| n == k))
                .cloned()
                .collect(),
        )
    }

    /// `(name, value)` pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.pairs.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.pairs.is_empty()
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Labels) -> bool {
        self.same(other) || self.0.pairs == other.0.pairs
    }
}

impl Eq for Labels {}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Labels) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Labels) -> std::cmp::Ordering {
        if self.same(other) {
            return std::cmp::Ordering::Equal;
        }
        self.0.pairs.cmp(&other.0.pairs)
    }
}

impl Hash for Labels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.pairs.hash(state);
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Labels").field(&self.0.pairs).finish()
    }
}

impl fmt::Display for Labels {
    /// `name{a="1", b="2"}`, as Prometheus prints a series.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.name() {
            f.write_str(n)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (k, v) in self.iter().filter(|(k, _)| *k != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// A sample value as Prometheus writes it in its API and labels (Go's
/// `strconv.FormatFloat(v, 'f', -1, 64)`): the shortest decimal that reads back as `v`, never
/// with an exponent; `NaN`, `+Inf`, `-Inf`.
///
/// ```
/// assert_eq!(tierlog_promql::format_value(0.1), "0.1");
/// assert_eq!(tierlog_promql::format_value(1e21), "1000000000000000000000");
/// assert_eq!(tierlog_promql::format_value(f64::NEG_INFINITY), "-Inf");
/// ```
pub fn format_value(v: f64) -> String {
    match special(v) {
        Some(s) => s.to_owned(),
        // Rust's Display of f64 is also the shortest round-trip form without an exponent.
        None => v.to_string(),
    }
}

/// How Go's float formats write NaN and the infinities; `None` for a finite value.
pub(crate) fn special(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("+Inf")
    } else if v == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// One element of an instant vector: a series' labels and its value at `t` (milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels.
    pub labels: Labels,
    /// Timestamp in milliseconds since the epoch.
    pub t: i64,
    /// The value.
    pub v: f64,
}

/// One element of a range vector or a row of a matrix: a series and its points in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    /// `(t_ms, value)` in time order.
    pub points: Vec<(i64, f64)>,
}

/// What an expression evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number at an evaluation time (ms).
    Scalar {
        /// Evaluation time, ms.
        t: i64,
        /// The number.
        v: f64,
    },
    /// A string at an evaluation time (ms).
    String {
        /// Evaluation time, ms.
        t: i64,
        /// The string.
        s: String,
    },
    /// An instant vector: one sample per series.
    Vector(Vec<Sample>),
    /// A range vector (instant query of a range selector) or the result of a range query:
    /// series ordered by labels.
    Matrix(Vec<Series>),
}

impl Value {
    /// The type name Prometheus' API gives this value: `scalar`, `string`, `vector`, `matrix`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// A value with the warnings met while computing it (which tier answered which range, data
/// that could not be read).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutput {
    /// The result.
    pub value: Value,
    /// Human-readable warnings; empty when the answer is complete and computed from raw points.
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_sorted_without_empty_values() {
        let l = Labels::new([("b", "2"), ("a", "1"), ("c", ""), ("a", "3")]);
        assert_eq!(l.iter().collect::<Vec<_>>(), [("a", "3"), ("b", "2")]);
        assert_eq!(l.get("a"), Some("3"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn set_and_remove_keep_order() {
        let mut l = Labels::new([("job", "x")]);
        l.set("__name__", "up");
        l.set("z", "1");
        assert_eq!(l.to_string(), "up{job=\"x\", z=\"1\"}");
        l.set("job", "");
        assert_eq!(
            l.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["__name__", "z"]
        );
        assert_eq!(l.clone().without_name().name(), None);
    }

    #[test]
    fn stored_series_labels_share_one_unnamed_set() {
        let stored = tierlog::Labels::canonical(&[("job", "api"), ("instance", "a:1")]);
        let l = Labels::from_series("up", &stored);
        let a = l.clone().without_name();
        let b = l.clone().without_name();
        assert!(a.same(&b), "one shared set, not a copy per call");
        assert_eq!(a, Labels::new([("job", "api"), ("instance", "a:1")]));
        let mut c = l.clone();
        c.remove(METRIC_NAME);
        assert!(c.same(&a));
        // Without a name: the same set back.
        assert!(a.clone().without_name().same(&a));
        assert_eq!(l.name(), Some("up"));
    }

    #[test]
    fn changed_labels_do_not_keep_the_old_unnamed_set() {
        let stored = tierlog::Labels::canonical(&[("job", "api")]);
        let mut l = Labels::from_series("up", &stored);
        l.set("job", "db");
        assert_eq!(l.clone().without_name(), Labels::new([("job", "db")]));
        l.set("zone", "x");
        assert_eq!(
            l.clone().without_name(),
            Labels::new([("job", "db"), ("zone", "x")])
        );
        // Labels made otherwise drop the name by copying.
        let n = Labels::new([("__name__", "m"), ("a", "1")]);
        assert_eq!(n.without_name(), Labels::new([("a", "1")]));
    }
}
