//! `histogram_quantile` over classic histograms (one series per bucket, `le` labels).

use std::collections::HashMap;

use crate::{Labels, METRIC_NAME, Sample};

/// The `le` label of a bucket series.
pub(crate) const BUCKET_LABEL: &str = "le";

/// `histogram_quantile(q, input)` at time `t`, as Prometheus 2.42: buckets are grouped by
/// their labels without `le` (the metric name is part of the group), each group gives one
/// sample labelled without `le` and the metric name. Buckets whose `le` does not parse as
/// a float are skipped.
pub(crate) fn histogram_quantile(q: f64, input: &[Sample], t: i64) -> Vec<Sample> {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
    for s in input {
        let Some(upper) = s.labels.get(BUCKET_LABEL).and_then(parse_go_float) else {
            continue;
        };
        let mut key = s.labels.clone();
        key.remove(BUCKET_LABEL);
        let i = *index.entry(key).or_insert_with_key(|k| {
            groups.push((k.clone(), Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push((upper, s.v));
    }
    groups
        .into_iter()
        .map(|(mut labels, mut buckets)| {
            labels.remove(METRIC_NAME);
            Sample {
                labels,
                t,
                v: bucket_quantile(q, &mut buckets),
            }
        })
        .collect()
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms a bucket bound takes: decimal numbers
/// and `Inf`/`NaN` spellings; `None` for anything else, and for numbers out of range
/// (Go reports a range error for those, so Prometheus skips the bucket).
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    // Rust accepts the same decimal and inf/infinity/nan spellings (case-insensitive,
    // optional sign) as Go; it does not accept Go's hexadecimal floats or underscores.
    let v: f64 = s.parse().ok()?;
    if v.is_infinite() {
        let body = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
        if body != "inf" && body != "infinity" {
            return None; // overflow, e.g. 1e400
        }
    }
    Some(v)
}

/// The φ-quantile of cumulative `buckets` `(upper bound, count)` by linear interpolation
/// inside the bucket that holds the rank, as Prometheus 2.42's `bucketQuantile`.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    super::gosort::go_sort(buckets, &|a: &(f64, f64), b: &(f64, f64)| a.0 < b.0);
    match buckets.last() {
        Some(b) if b.0 == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // Merge buckets with one bound (e.g. `le="1"` and `le="1.0"`).
    let mut out = 0;
    for i in 1..buckets.len() {
        if buckets[i].0 == buckets[out].0 {
            buckets[out].1 += buckets[i].1;
        } else {
            out += 1;
            buckets[out] = buckets[i];
        }
    }
    buckets.truncate(out + 1);
    // Counts must not decrease with the bound (they can, with scrapes that are not atomic):
    // raise each to the largest count below it.
    let mut max = buckets[0].1;
    for b in buckets.iter_mut().skip(1) {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let n = buckets.len();
    let observations = buckets[n - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    // First bucket (among all but +Inf) whose count reaches the rank.
    // Go's sort.Search probe sequence, so that NaN counts land where they land there.
    let (mut lo, mut hi) = (0usize, n - 1);
    while lo < hi {
        let h = (lo + hi) / 2;
        if buckets[h].1 >= rank {
            hi = h;
        } else {
            lo = h + 1;
        }
    }
    let b = lo;
    if b == n - 1 {
        return buckets[n - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let mut start = 0.0;
    let end = buckets[b].0;
    let mut count = buckets[b].1;
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}
