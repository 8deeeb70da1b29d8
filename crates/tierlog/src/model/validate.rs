//! Name rules (Prometheus'), limits and timestamp range.

use crate::config::Limits;
use crate::error::SampleError;

/// Earliest accepted timestamp: 1970-01-01T00:00:00Z.
pub const MIN_TS_MS: i64 = 0;
/// Latest accepted timestamp: 9999-12-31T23:59:59.999Z.
pub const MAX_TS_MS: i64 = 253_402_300_799_999;

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn valid_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn valid_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Checks a metric name against the syntax and the length limit.
pub fn check_metric_name(name: &str, limits: &Limits) -> Result<(), SampleError> {
    if !valid_metric_name(name) {
        return Err(SampleError::InvalidMetricName {
            name: name.to_owned(),
        });
    }
    if name.len() > limits.max_name_bytes {
        return Err(SampleError::NameTooLong {
            name: name.to_owned(),
            max: limits.max_name_bytes,
        });
    }
    Ok(())
}

/// Checks a label set as given by a caller (any order, empty values allowed and ignored).
/// Names starting with `__` are reserved.
pub fn check_label_set<K: AsRef<str>, V: AsRef<str>>(
    pairs: &[(K, V)],
    limits: &Limits,
) -> Result<(), SampleError> {
    let mut count = 0usize;
    let mut seen: Option<std::collections::HashSet<&str>> =
        (pairs.len() > 32).then(|| std::collections::HashSet::with_capacity(pairs.len()));
    for (i, (k, v)) in pairs.iter().enumerate() {
        let (k, v) = (k.as_ref(), v.as_ref());
        if !valid_label_name(k) || k.starts_with("__") {
            return Err(SampleError::InvalidLabelName { name: k.to_owned() });
        }
        if k.len() > limits.max_name_bytes {
            return Err(SampleError::NameTooLong {
                name: k.to_owned(),
                max: limits.max_name_bytes,
            });
        }
        if v.len() > limits.max_value_bytes {
            return Err(SampleError::ValueTooLong {
                label: k.to_owned(),
                len: v.len(),
                max: limits.max_value_bytes,
            });
        }
        // Pairwise below a few dozen labels; a set above, so a hostile caller passing
        // thousands of labels costs linear time, not quadratic.
        let dup = match &seen {
            Some(set) => set.contains(k),
            None => pairs[..i].iter().any(|(k2, _)| k2.as_ref() == k),
        };
        if dup {
            return Err(SampleError::DuplicateLabel { name: k.to_owned() });
        }
        if let Some(set) = &mut seen {
            set.insert(k);
        }
        if !v.is_empty() {
            count += 1;
        }
    }
    if count > limits.max_labels {
        return Err(SampleError::TooManyLabels {
            count,
            max: limits.max_labels,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        for ok in ["up", "a:b_c", "_x", ":y", "node_cpu_seconds_total"] {
            assert!(valid_metric_name(ok), "{ok}");
        }
        for bad in ["", "1x", "a-b", "a b", "é", "a.b"] {
            assert!(!valid_metric_name(bad), "{bad}");
        }
    }

    #[test]
    fn label_names() {
        assert!(valid_label_name("host_1"));
        assert!(!valid_label_name("a:b"));
        assert!(!valid_label_name("9"));
        let l = Limits::default();
        assert!(matches!(
            check_label_set(&[("__name__", "x")], &l),
            Err(SampleError::InvalidLabelName { .. })
        ));
        assert!(matches!(
            check_label_set(&[("a", "x"), ("a", "y")], &l),
            Err(SampleError::DuplicateLabel { .. })
        ));
    }

    #[test]
    fn limits_are_enforced() {
        let l = Limits {
            max_labels: 2,
            max_value_bytes: 4,
            ..Limits::default()
        };
        assert!(check_label_set(&[("a", "1"), ("b", "2"), ("c", "")], &l).is_ok());
        assert!(matches!(
            check_label_set(&[("a", "1"), ("b", "2"), ("c", "3")], &l),
            Err(SampleError::TooManyLabels { count: 3, max: 2 })
        ));
        assert!(matches!(
            check_label_set(&[("a", "12345")], &l),
            Err(SampleError::ValueTooLong { len: 5, .. })
        ));
        // Many labels: linear time, duplicates still found.
        let names: Vec<String> = (0..100_000).map(|i| format!("l{i}")).collect();
        let mut many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "")).collect();
        assert!(
            check_label_set(&many, &l).is_ok(),
            "empty values do not count"
        );
        many.push(("l5", ""));
        assert!(matches!(
            check_label_set(&many, &l),
            Err(SampleError::DuplicateLabel { .. })
        ));
        let long = "m".repeat(256);
        assert!(matches!(
            check_metric_name(&long, &Limits::default()),
            Err(SampleError::NameTooLong { .. })
        ));
    }
}
