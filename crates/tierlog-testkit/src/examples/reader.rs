//! The `reader` example's query and tables: the last hour of some series in 60 s buckets,
//! rendered as one aligned table per series.

use std::fmt::Write as _;
use std::time::Duration;

use tierlog::{BucketPoint, BucketResult, Selector, SeriesBuckets, Store};

/// The load averages.
pub const DEFAULT_SELECTOR: &str = r#"{__name__=~"proc_load1|proc_load5|proc_load15"}"#;

/// Bucket width.
pub const STEP: Duration = Duration::from_secs(60);

/// Buckets shown: the hour up to now, the current (partial) minute included.
pub const BUCKETS: i64 = 60;

/// The last hour of the series `selector` matches at `now_ms`, in [`STEP`] buckets: the
/// bucket holding `now_ms` and the [`BUCKETS`]` - 1` before it.
pub fn last_hour(store: &Store, selector: &Selector, now_ms: i64) -> tierlog::Result<BucketResult> {
    let step = STEP.as_millis() as i64;
    let current = now_ms.div_euclid(step) * step;
    store.query_step(selector, current - (BUCKETS - 1) * step, now_ms + 1, STEP)
}

/// `ms` since the epoch as RFC 3339 in UTC: `2023-11-14T22:13:20Z`, with `.mmm` when the
/// milliseconds are not zero.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm, proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut s = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    let milli = ms.rem_euclid(1000);
    if milli != 0 {
        let _ = write!(s, ".{milli:03}");
    }
    s.push('Z');
    s
}

/// A value for the table: integers without decimals, others with 3 significant decimals
/// (1 from 100 up).
fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// The series' name as a selector would write it: `metric{a="x",b="y"}`.
fn series_name(s: &SeriesBuckets) -> String {
    let mut out = s.metric.clone();
    if !s.labels.is_empty() {
        let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        let _ = write!(out, "{{{}}}", labels.join(","));
    }
    out
}

/// One table per series: a title line, a header and a row per bucket, columns aligned (times
/// left, numbers right). Counters get an `increase` column.
pub fn render(result: &BucketResult) -> String {
    let mut out = String::new();
    for (i, s) in result.series.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let counter = s.points.iter().any(|p| p.increase.is_some());
        let mut rows =
            vec![["time", "points", "min", "max", "avg", "p95", "increase"].map(String::from)];
        rows.extend(s.points.iter().map(|p: &BucketPoint| {
            [
                rfc3339(p.t),
                p.count.to_string(),
                value(p.min),
                value(p.max),
                value(p.avg),
                p.p95.map_or_else(|| "-".into(), value),
                p.increase.map_or_else(|| "-".into(), value),
            ]
        }));
        let columns = if counter { 7 } else { 6 };
        let widths: Vec<usize> = (0..columns)
            .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
            .collect();
        let _ = writeln!(out, "{}", series_name(s));
        for row in &rows {
            let mut line = String::new();
            for (c, w) in widths.iter().enumerate() {
                if c == 0 {
                    let _ = write!(line, "{:<w$}", row[c]);
                } else {
                    let _ = write!(line, "  {:>w$}", row[c]);
                }
            }
            let _ = writeln!(out, "{line}");
        }
    }
    out
}
