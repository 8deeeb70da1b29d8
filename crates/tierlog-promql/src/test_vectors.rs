//! Instant vectors the aggregation and operator tests share.

use crate::{Labels, Sample};

/// A sample of `pairs` with value `v`.
pub(crate) fn s(pairs: &[(&str, &str)], v: f64) -> Sample {
    Sample {
        labels: Labels::new(pairs.iter().copied()),
        t: 1,
        v,
    }
}

/// m{inst, job}: 1, NaN, 3, 5 (in label order).
pub(crate) fn m() -> Vec<Sample> {
    vec![
        s(&[("__name__", "m"), ("job", "a"), ("inst", "1")], 1.0),
        s(&[("__name__", "m"), ("job", "b"), ("inst", "1")], f64::NAN),
        s(&[("__name__", "m"), ("job", "a"), ("inst", "2")], 3.0),
        s(&[("__name__", "m"), ("job", "b"), ("inst", "2")], 5.0),
    ]
}
