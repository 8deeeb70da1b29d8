//! The values a PromQL expression evaluates to.

use std::fmt;
use std::sync::Arc;

/// A label set as PromQL sees it: sorted by name, no empty values, the metric name under
/// `__name__`. Shared: a clone is a reference count (an evaluation hands a series' labels to
/// every step's sample), a change copies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Arc<Vec<(String, String)>>);

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

impl Labels {
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
        Labels(Arc::new(v))
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
        Labels(Arc::new(v))
    }

    /// The value of label `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// The metric name, if set.
    pub fn name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Sets label `name` to `value`; an empty value removes it.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                Arc::make_mut(&mut self.0).remove(i);
            }
            Ok(i) if self.0[i].1 == value => {}
            Ok(i) => Arc::make_mut(&mut self.0)[i].1 = value.to_owned(),
            Err(_) if value.is_empty() => {}
            Err(i) => Arc::make_mut(&mut self.0).insert(i, (name.to_owned(), value.to_owned())),
        }
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
    pub fn without_name(mut self) -> Self {
        self.remove(METRIC_NAME);
        self
    }

    /// Only the labels whose names are in `names`.
    pub fn keep_only(&self, names: &[String]) -> Self {
        Labels(Arc::new(
            self.0
                .iter()
                .filter(|(k, _)| names.iter().any(|n| n == k))
                .cloned()
                .collect(),
        ))
    }

    /// Every label except those whose names are in `names`.
    pub fn drop_these(&self, names: &[String]) -> Self {
        Labels(Arc::new(
            self.0
                .iter()
                .filter(|(k, _)| !names.iter().any(|n| n == k))
                .cloned()
                .collect(),
        ))
    }

    /// `(name, value)` pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
}
