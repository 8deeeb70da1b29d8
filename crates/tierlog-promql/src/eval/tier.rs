//! Tier-aware answers: where a window reaches before the raw points kept, range functions
//! that exact bucket aggregates determine are answered from the rollup tiers.
//!
//! The windows are cut into epoch-aligned tiles of width `w`, the greatest common divisor of
//! the range, the step and the first window's end, so that every window is a whole number of
//! tiles. The store answers each tile exactly (`Store::query_step_iter`: the coarsest tier
//! whose interval divides `w`, raw points where they remain). Then:
//!
//! - `sum/count/min/max/avg/last/present_over_time`: the tiles before the first tile boundary
//!   at or after the start of the raw points (`split`), and the raw points from `split` to the
//!   window's end (both ends included, as Prometheus selects);
//! - `increase`, `rate` and `quantile_over_time(0.95, …)`: the window's tiles alone,
//!   `[start, end)` — a counter's increase from buckets is the sum of their increases (not
//!   extrapolated), a p95 only where one bucket is the window.

use std::collections::HashMap;

use promql_parser::parser::Expr;

use super::{node_key, unparen};
use crate::{Error, Labels, Result};

/// The functions the tiers answer, and the index of their range argument.
pub(super) fn tier_arg(name: &str) -> Option<usize> {
    match name {
        "sum_over_time" | "count_over_time" | "min_over_time" | "max_over_time"
        | "avg_over_time" | "last_over_time" | "present_over_time" | "increase" | "rate" => Some(0),
        "quantile_over_time" => Some(1),
        _ => None,
    }
}

/// True for the functions answered from the window's tiles alone.
pub(super) fn tiles_only(name: &str) -> bool {
    matches!(name, "increase" | "rate" | "quantile_over_time")
}

/// One tile: `[t, t + width)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct TierBucket {
    pub t: i64,
    /// Non-NaN points.
    pub count: u64,
    /// NaN points.
    pub nan: u64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub last: f64,
    /// Counter increase (counters only).
    pub increase: Option<f64>,
    /// The exact nearest-rank p95, when the tile has one.
    pub p95: Option<f64>,
}

/// The selectors (by node, true for an instant one) the tiers may answer, outside subqueries:
/// the range argument of a
/// tier-answerable function, and instant selectors (the latest point of the lookback is the
/// window's `last_over_time`) except the argument of `timestamp`, which needs the point's
/// own time, unknown in a bucket.
pub(super) fn candidates(e: &Expr, out: &mut HashMap<usize, bool>) {
    match e {
        Expr::VectorSelector(vs) => {
            out.insert(node_key(vs), true);
        }
        Expr::Call(c) => {
            if let Some(i) = tier_arg(c.func.name)
                && let Some(a) = c.args.args.get(i)
                && let Expr::MatrixSelector(ms) = unparen(a)
            {
                out.insert(node_key(&ms.vs), false);
            }
            for a in &c.args.args {
                if c.func.name == "timestamp" && matches!(unparen(a), Expr::VectorSelector(_)) {
                    continue;
                }
                candidates(a, out);
            }
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                candidates(p, out);
            }
            candidates(&a.expr, out);
        }
        Expr::Unary(u) => candidates(&u.expr, out),
        Expr::Binary(b) => {
            candidates(&b.lhs, out);
            candidates(&b.rhs, out);
        }
        Expr::Paren(p) => candidates(&p.expr, out),
        _ => {}
    }
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    a = a.checked_abs().unwrap_or(0);
    b = b.checked_abs().unwrap_or(0);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The tile width of windows of `range` ending at `first_end`, `first_end + step`, … (`step`
/// 0 for one window): the greatest common divisor of the three.
pub(super) fn tile_width(range: i64, step: i64, first_end: i64) -> i64 {
    gcd(gcd(range, step), first_end)
}

/// `name` over tiles (those of the window before `split`) and raw points (the rest of the
/// window, both ends included); `None` when the window holds nothing.
pub(super) fn combine(
    name: &str,
    buckets: &[TierBucket],
    raw: &[(i64, f64)],
    labels: &Labels,
) -> Result<Option<f64>> {
    let count = buckets.iter().map(|b| b.count + b.nan).sum::<u64>() + raw.len() as u64;
    if count == 0 {
        return Ok(None);
    }
    let any_nan = buckets.iter().any(|b| b.nan > 0) || raw.iter().any(|p| p.1.is_nan());
    let sum = || {
        buckets
            .iter()
            .filter(|b| b.count > 0)
            .map(|b| b.sum)
            .chain(raw.iter().map(|p| p.1))
            .sum::<f64>()
    };
    // Min or max over the non-NaN values; NaN when every value is NaN.
    let extreme = |pick: fn(f64, f64) -> f64, of: fn(&TierBucket) -> f64| {
        buckets
            .iter()
            .filter(|b| b.count > 0)
            .map(of)
            .chain(raw.iter().map(|p| p.1).filter(|v| !v.is_nan()))
            .reduce(pick)
            .unwrap_or(f64::NAN)
    };
    Ok(Some(match name {
        "count_over_time" => count as f64,
        "present_over_time" => 1.0,
        "sum_over_time" if any_nan => f64::NAN,
        "sum_over_time" => sum(),
        "avg_over_time" if any_nan => f64::NAN,
        "avg_over_time" => sum() / count as f64,
        "min_over_time" => extreme(f64::min, |b| b.min),
        "max_over_time" => extreme(f64::max, |b| b.max),
        "last_over_time" => match raw.last() {
            Some(p) => p.1,
            None => match buckets.iter().rev().find(|b| b.count + b.nan > 0) {
                Some(b) if b.nan == 0 => b.last,
                Some(b) if b.count == 0 => f64::NAN,
                // NaN and numbers in the last bucket: which came last is not kept.
                _ => {
                    return Err(Error::Execution(format!(
                        "last_over_time of {labels} cannot be answered exactly where its raw \
                         points have expired: its last bucket holds NaN and numbers, and \
                         buckets do not keep their order"
                    )));
                }
            },
        },
        _ => return Ok(None),
    }))
}

/// `increase`, `rate` (`range_ms` for its divisor) or `quantile_over_time(0.95, …)` over the
/// window's tiles; `Ok(None)` when the window holds no point.
pub(super) fn from_tiles(
    name: &str,
    phi: f64,
    tiles: &[TierBucket],
    range_ms: i64,
    labels: &Labels,
) -> Result<Option<f64>> {
    let points: u64 = tiles.iter().map(|b| b.count + b.nan).sum();
    if points == 0 {
        return Ok(None);
    }
    match name {
        "increase" | "rate" => {
            let mut inc = 0.0;
            for b in tiles {
                match b.increase {
                    Some(x) => inc += x,
                    None if b.count + b.nan == 0 => {}
                    None => {
                        return Err(Error::Execution(format!(
                            "{name} of {labels} cannot be answered where its raw points have \
                             expired: the metric is not declared a counter, so its rollup \
                             buckets keep no increase"
                        )));
                    }
                }
            }
            Ok(Some(if name == "rate" {
                inc / (range_ms as f64 / 1000.0)
            } else {
                inc
            }))
        }
        _ if phi != 0.95 => Err(Error::Execution(format!(
            "quantile_over_time({phi}, …) of {labels} cannot be answered where its raw points \
             have expired: the rollup tiers keep only an exact p95"
        ))),
        _ => match tiles {
            [b] if b.nan == 0 => b.p95.map(Some).ok_or_else(|| {
                Error::Execution(format!(
                    "quantile_over_time(0.95, …) of {labels} cannot be answered exactly where \
                     its raw points have expired: the bucket's p95 is not known exactly"
                ))
            }),
            [_] => Err(Error::Execution(format!(
                "quantile_over_time(0.95, …) of {labels} cannot be answered exactly where its \
                 raw points have expired: the window's bucket holds NaN points"
            ))),
            _ => Err(Error::Execution(format!(
                "quantile_over_time(0.95, …) of {labels} cannot be answered exactly where its \
                 raw points have expired: the window spans several stored buckets, and a p95 \
                 of p95s would not be a p95 (use a range equal to the step, on a tier's \
                 interval)"
            ))),
        },
    }
}

/// `90s`, `5m`, `1h`, `1h30m`: a duration as PromQL writes it.
pub(super) fn duration_text(ms: i64) -> String {
    if ms <= 0 || ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let mut s = ms / 1000;
    let mut out = String::new();
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if s >= len {
            out.push_str(&format!("{}{unit}", s / len));
            s %= len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(t: i64, vals: &[f64]) -> TierBucket {
        let ok: Vec<f64> = vals.iter().copied().filter(|v| !v.is_nan()).collect();
        TierBucket {
            t,
            count: ok.len() as u64,
            nan: (vals.len() - ok.len()) as u64,
            min: ok.iter().copied().fold(f64::NAN, f64::min),
            max: ok.iter().copied().fold(f64::NAN, f64::max),
            sum: ok.iter().sum(),
            last: ok.last().copied().unwrap_or(f64::NAN),
            increase: None,
            p95: ok.iter().copied().reduce(f64::max),
        }
    }

    fn combine(name: &str, buckets: &[TierBucket], raw: &[(i64, f64)]) -> Option<f64> {
        super::combine(name, buckets, raw, &Labels::default()).unwrap()
    }

    #[test]
    fn combines_buckets_and_raw_points() {
        let bs = [b(0, &[1.0, 5.0]), b(60_000, &[]), b(120_000, &[3.0])];
        let raw = [(180_000, 2.0), (190_000, 4.0)];
        assert_eq!(combine("count_over_time", &bs, &raw), Some(5.0));
        assert_eq!(combine("sum_over_time", &bs, &raw), Some(15.0));
        assert_eq!(combine("avg_over_time", &bs, &raw), Some(3.0));
        assert_eq!(combine("min_over_time", &bs, &raw), Some(1.0));
        assert_eq!(combine("max_over_time", &bs, &raw), Some(5.0));
        assert_eq!(combine("last_over_time", &bs, &raw), Some(4.0));
        assert_eq!(combine("last_over_time", &bs, &[]), Some(3.0));
        assert_eq!(combine("present_over_time", &bs, &[]), Some(1.0));
        assert_eq!(combine("sum_over_time", &[], &[]), None);
        assert_eq!(combine("rate", &bs, &raw), None);
    }

    #[test]
    fn nan_points_as_prometheus_counts_them() {
        let bs = [b(0, &[1.0, f64::NAN])];
        assert_eq!(combine("count_over_time", &bs, &[]), Some(2.0));
        assert!(combine("sum_over_time", &bs, &[]).unwrap().is_nan());
        assert_eq!(combine("max_over_time", &bs, &[]), Some(1.0));
        assert!(
            combine("min_over_time", &[b(0, &[f64::NAN])], &[])
                .unwrap()
                .is_nan()
        );
        // Which of NaN and 1 came last is not kept.
        let e = super::combine("last_over_time", &bs, &[], &Labels::default()).unwrap_err();
        assert!(e.to_string().contains("NaN and numbers"), "{e}");
    }

    #[test]
    fn counters_and_p95_from_tiles() {
        let l = Labels::default();
        let mut c = [b(0, &[1.0, 2.0]), b(60_000, &[]), b(120_000, &[7.0])];
        c[0].increase = Some(3.0);
        c[2].increase = Some(5.0);
        assert_eq!(
            from_tiles("increase", 0.0, &c, 180_000, &l).unwrap(),
            Some(8.0)
        );
        let rate = from_tiles("rate", 0.0, &c, 180_000, &l).unwrap().unwrap();
        assert!((rate - 8.0 / 180.0).abs() < 1e-15);
        assert_eq!(
            from_tiles("increase", 0.0, &c[1..2], 60_000, &l).unwrap(),
            None
        );
        // A gauge keeps no increase.
        let g = [b(0, &[1.0])];
        let e = from_tiles("rate", 0.0, &g, 60_000, &l).unwrap_err();
        assert!(e.to_string().contains("not declared a counter"), "{e}");
        // One bucket: its p95; two: refused; another quantile: refused.
        assert_eq!(
            from_tiles("quantile_over_time", 0.95, &g, 60_000, &l).unwrap(),
            Some(1.0)
        );
        let e = from_tiles("quantile_over_time", 0.95, &c, 180_000, &l).unwrap_err();
        assert!(e.to_string().contains("p95 of p95s"), "{e}");
        let e = from_tiles("quantile_over_time", 0.5, &g, 60_000, &l).unwrap_err();
        assert!(e.to_string().contains("only an exact p95"), "{e}");
    }

    #[test]
    fn tile_width_is_the_common_divisor() {
        assert_eq!(tile_width(3_600_000, 3_600_000, 7_200_000), 3_600_000);
        assert_eq!(tile_width(3_600_000, 60_000, 7_260_000), 60_000);
        assert_eq!(tile_width(300_000, 0, 7_215_000), 15_000);
        assert_eq!(tile_width(300_000, 15_000, 7_215_001), 1);
    }

    #[test]
    fn durations_read_as_promql_writes_them() {
        assert_eq!(duration_text(5_400_000), "1h30m");
        assert_eq!(duration_text(86_400_000 + 1000), "1d1s");
        assert_eq!(duration_text(1500), "1500ms");
    }
}
