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

/// The rollup tiers any row has (tierlog's), in the order the first row having them lists them.
fn rollup_tiers(rows: &[Measured]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for t in rows.iter().flat_map(|r| &r.tiers) {
        if t.tier != "raw" && !names.contains(&t.tier) {
            names.push(t.tier.clone());
        }
    }
    names
}

/// A rollup tier's two cells: bytes per workload sample, and bytes per bucket.
fn tier_cells(r: &Measured, tier: &str) -> String {
    match r.tiers.iter().find(|t| t.tier == tier) {
        Some(t) => format!(
            "{:.2} | {:.2}",
            t.bytes as f64 / r.samples as f64,
            t.bytes as f64 / t.points.max(1) as f64
        ),
        None => "– | –".to_string(),
    }
}

/// The table, with a header row naming the query shapes. Rollup tiers get two columns each:
/// their bytes over the workload's samples, and over their own buckets.
pub fn markdown(rows: &[Measured]) -> String {
    let many = rows.first().map_or(0, |r| r.q_many_series);
    let tiers = rollup_tiers(rows);
    let mut out = String::new();
    let tier_head: String = tiers
        .iter()
        .map(|t| format!(" {t} tier B/sample | {t} tier B/bucket |"))
        .collect();
    let _ = writeln!(
        out,
        "| engine | setting | writers | ack durable | ingest samples/s | on disk | B/sample | raw tier B/sample |{tier_head} close s | open ms | 1 series, whole range, ms | {many} series, 1 h, ms | 60 s min/max/avg/p95, 1 day, ms | peak RSS |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---|---:|---:|---:|---:|{}---:|---:|---:|---:|---:|---:|",
        "---:|---:|".repeat(tiers.len())
    );
    for r in rows {
        let v = Variant::by_name(&r.variant).expect("known variant");
        let tier_cells: String = tiers
            .iter()
            .map(|t| format!(" {} |", tier_cells(r, t)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.2} | {} |{tier_cells} {:.2} | {} | {} | {} | {} | {} |",
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

/// The headline: one row per engine setting, its ingest rate and bytes per sample, and each
/// tierlog tier's bytes per point.
pub fn summary(rows: &[Measured]) -> String {
    let tiers = rollup_tiers(rows);
    let mut out = String::new();
    let tier_head: String = tiers
        .iter()
        .map(|t| format!(" {t} tier B/sample | {t} tier B/bucket |"))
        .collect();
    let _ = writeln!(
        out,
        "| engine | setting | ingest samples/s | whole store B/sample | raw tier B/sample |{tier_head}"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---:|---:|{}",
        "---:|---:|".repeat(tiers.len())
    );
    for r in rows {
        let v = Variant::by_name(&r.variant).expect("known variant");
        let tier_cells: String = tiers
            .iter()
            .map(|t| format!(" {} |", tier_cells(r, t)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.3} | {} |{tier_cells}",
            v.engine(),
            v.setting(),
            rate(r.rate()),
            r.bytes_per_sample(),
            r.raw_bytes.map_or("(all raw)".to_string(), |b| format!(
                "{:.3}",
                b as f64 / r.samples as f64
            )),
        );
    }
    out
}

/// Lines naming any engine whose query results differ from the first row's, and any engine
/// that did not return the workload's values bit for bit.
pub fn disagreements(rows: &[Measured]) -> Vec<String> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    let inexact = rows
        .iter()
        .filter(|r| !(r.q_series_exact && r.q_many_exact))
        .map(|r| {
            format!(
                "{} did not return the workload's values bit for bit (one series, whole range: {}; many series, 1 h: {})",
                r.variant,
                if r.q_series_exact { "exact" } else { "differs" },
                if r.q_many_exact { "exact" } else { "differs" },
            )
        });
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
        .chain(inexact)
        .collect()
}
