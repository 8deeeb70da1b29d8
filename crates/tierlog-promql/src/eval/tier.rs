//! Tier-aware answers: where a window's raw points have expired, `sum_over_time`,
//! `count_over_time`, `min_over_time`, `max_over_time`, `avg_over_time` and `last_over_time`
//! over a range selector are answered from a rollup tier's buckets, when the tier's interval
//! divides the range and the step and the windows start on bucket boundaries.

use std::collections::HashSet;

use promql_parser::parser::Expr;

use super::{node_key, unparen};

/// The functions a tier's buckets answer.
pub(super) const TIER_FUNCS: &[&str] = &[
    "sum_over_time",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "last_over_time",
];

/// One bucket of a tier: `[t, t + interval)`.
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
}

/// The range selectors (by node) that are the argument of a tier-answerable function, outside
/// subqueries.
pub(super) fn candidates(e: &Expr, out: &mut HashSet<usize>) {
    match e {
        Expr::Call(c) => {
            if TIER_FUNCS.contains(&c.func.name)
                && c.args.args.len() == 1
                && let Expr::MatrixSelector(ms) = unparen(&c.args.args[0])
            {
                out.insert(node_key(&ms.vs));
            }
            for a in &c.args.args {
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

/// `name` over buckets (those of the window before the raw points start) and raw points
/// (the rest of the window); `None` when the window holds nothing.
pub(super) fn combine(name: &str, buckets: &[TierBucket], raw: &[(i64, f64)]) -> Option<f64> {
    let count = buckets.iter().map(|b| b.count + b.nan).sum::<u64>() + raw.len() as u64;
    if count == 0 {
        return None;
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
    Some(match name {
        "count_over_time" => count as f64,
        "sum_over_time" if any_nan => f64::NAN,
        "sum_over_time" => sum(),
        "avg_over_time" if any_nan => f64::NAN,
        "avg_over_time" => sum() / count as f64,
        "min_over_time" => extreme(f64::min, |b| b.min),
        "max_over_time" => extreme(f64::max, |b| b.max),
        "last_over_time" => match raw.last() {
            Some(p) => p.1,
            None => buckets
                .iter()
                .rev()
                .find(|b| b.count > 0)
                .map_or(f64::NAN, |b| b.last),
        },
        _ => return None,
    })
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
        }
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
    }
}
