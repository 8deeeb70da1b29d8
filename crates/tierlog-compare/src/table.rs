//! The markdown table the harness prints.

use std::fmt::Write;

use crate::engine::Variant;
use crate::run::Measured;

fn rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M", r / 1e6)
    } else {
        format!("{:.0} k", r / 1e3)
    }
}

fn bytes(b: u64) -> String {
    let mib = b as f64 / (1 << 20) as f64;
    if mib >= 10.0 {
        format!("{mib:.0} MiB")
    } else {
        format!("{mib:.2} MiB")
    }
}

fn ms(s: f64) -> String {
    let ms = s * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 1.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.3}")
    }
}

/// The table, with a header row naming the query shapes.
pub fn markdown(rows: &[Measured]) -> String {
    let many = rows.first().map_or(0, |r| r.q_many_series);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| engine | setting | writers | ack durable | ingest samples/s | on disk | B/sample | raw tier B/sample | close s | open ms | 1 series, whole range, ms | {many} series, 1 h, ms | 60 s min/max/avg/p95, 1 day, ms | peak RSS |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let v = Variant::by_name(&r.variant).expect("known variant");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.2} | {} | {:.2} | {} | {} | {} | {} | {} |",
            v.engine(),
            v.setting(),
            r.writers,
            if v.durable() { "yes" } else { "no" },
            rate(r.rate()),
            bytes(r.bytes),
            r.bytes_per_sample(),
            r.raw_bytes.map_or("(all raw)".to_string(), |b| format!(
                "{:.2}",
                b as f64 / r.samples as f64
            )),
            r.close_secs,
            ms(r.open_secs),
            ms(r.q_series_secs),
            ms(r.q_many_secs),
            ms(r.q_buckets_secs),
            bytes(r.peak_rss_bytes),
        );
    }
    out
}

/// Lines naming any engine whose query results differ from the first row's.
pub fn disagreements(rows: &[Measured]) -> Vec<String> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
    rows[1..]
        .iter()
        .filter(|r| {
            r.samples != first.samples
                || r.q_series_points != first.q_series_points
                || r.q_many_points != first.q_many_points
                || r.q_buckets != first.q_buckets
                || !close(r.q_series_sum, first.q_series_sum)
                || !close(r.q_many_sum, first.q_many_sum)
                || !close(r.q_buckets_p95_sum, first.q_buckets_p95_sum)
        })
        .map(|r| {
            format!(
                "{} differs from {}: samples {} vs {}, one series {} pts (sum {}) vs {} ({}), many {} pts (sum {}) vs {} ({}), buckets {} (p95 sum {}) vs {} ({})",
                r.variant, first.variant, r.samples, first.samples,
                r.q_series_points, r.q_series_sum, first.q_series_points, first.q_series_sum,
                r.q_many_points, r.q_many_sum, first.q_many_points, first.q_many_sum,
                r.q_buckets, r.q_buckets_p95_sum, first.q_buckets, first.q_buckets_p95_sum,
            )
        })
        .collect()
}
