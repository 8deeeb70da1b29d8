//! Binary operators between scalars and instant vectors, with vector matching, as Prometheus
//! 2.42 evaluates them (`VectorBinop`, `VectorAnd/Or/Unless`, `VectorscalarBinop`,
//! `scalarBinop`, `resultMetric`).
//!
//! Samples are matched by a signature: the labels named by `on (…)`, or every label but those
//! of `ignoring (…)` and the metric name. Each sample's signature is hashed once, straight from
//! its labels, into a [`sig::SigIndex`]; hashes that collide are told apart by comparing the
//! labels, so no signature string is built per sample.

pub(crate) mod gofmt;
pub(crate) mod sig;

use crate::ops::{BinOp, Cardinality, VectorMatching};
use crate::value::METRIC_NAME;
use crate::{Error, Labels, Result, Sample};

use sig::{Select, SigIndex};

/// `lhs op rhs` between two instant vectors; output samples carry timestamp `t`.
///
/// Set operators (`and`, `or`, `unless`) keep their input samples as they are; arithmetic
/// drops the metric name; comparisons filter (keeping the left-hand value) or, with
/// `return_bool`, give 0/1 without the metric name. Matching errors are
/// [`Error::Execution`] with Prometheus' messages.
pub fn vector_vector(
    op: BinOp,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    matching: &VectorMatching,
    return_bool: bool,
    t: i64,
) -> Result<Vec<Sample>> {
    let sel = select(matching);
    let mut out = match op {
        BinOp::And => and(lhs, &rhs, sel),
        BinOp::Or => or(lhs, rhs, sel),
        BinOp::Unless => unless(lhs, &rhs, sel),
        _ => return arith_or_compare(op, lhs, rhs, matching, sel, return_bool, t),
    };
    for s in &mut out {
        s.t = t;
    }
    Ok(out)
}

/// `vector op scalar` (or `scalar op vector` when `scalar_left`); output samples carry
/// timestamp `t`.
///
/// Comparisons keep the vector's own value (whichever side it is on) and labels; with
/// `return_bool` they give 0/1 and drop the metric name, as arithmetic does. Set operators
/// are not defined between a vector and a scalar and give nothing.
pub fn vector_scalar(
    op: BinOp,
    v: Vec<Sample>,
    s: f64,
    scalar_left: bool,
    return_bool: bool,
    t: i64,
) -> Vec<Sample> {
    if op.is_set() {
        return Vec::new();
    }
    let drop_name = drops_metric_name(op) || return_bool;
    v.into_iter()
        .filter_map(|mut smp| {
            let (l, r) = if scalar_left { (s, smp.v) } else { (smp.v, s) };
            let (mut value, mut keep) = elem(op, l, r);
            if op.is_comparison() && scalar_left {
                // The vector's value is kept even when the vector is on the right.
                value = r;
            }
            if return_bool {
                value = if keep { 1.0 } else { 0.0 };
                keep = true;
            }
            if !keep {
                return None;
            }
            smp.v = value;
            smp.t = t;
            if drop_name {
                smp.labels.remove(METRIC_NAME);
            }
            Some(smp)
        })
        .collect()
}

/// `a op b` between two scalars (comparisons need `bool` and give 0 or 1).
pub fn scalar_scalar(op: BinOp, a: f64, b: f64, return_bool: bool) -> Result<f64> {
    if op.is_set() {
        return Err(Error::BadQuery(format!(
            "set operator \"{}\" not allowed in binary scalar expression",
            op_str(op)
        )));
    }
    if op.is_comparison() && !return_bool {
        return Err(Error::BadQuery(
            "comparisons between scalars must use BOOL modifier".into(),
        ));
    }
    let (v, keep) = elem(op, a, b);
    Ok(if op.is_comparison() {
        if keep { 1.0 } else { 0.0 }
    } else {
        v
    })
}

/// How Prometheus writes operator `op`.
pub fn op_str(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Mod => "%",
        BinOp::Pow => "^",
        BinOp::Atan2 => "atan2",
        BinOp::Eq => "==",
        BinOp::Ne => "!=",
        BinOp::Gt => ">",
        BinOp::Lt => "<",
        BinOp::Ge => ">=",
        BinOp::Le => "<=",
        BinOp::And => "and",
        BinOp::Or => "or",
        BinOp::Unless => "unless",
    }
}

/// True when the result of `op` loses the metric name: arithmetic except `atan2` (2.42's
/// `shouldDropMetricName`).
fn drops_metric_name(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Pow
    )
}

/// One element's operation: the value and whether the element is kept (comparisons keep the
/// left value when true). Go semantics: `%` is `math.Mod` (sign of the dividend, as Rust's
/// `%`), `^` is `math.Pow` (the C `pow` special cases, as Rust's `powf`).
#[inline]
fn elem(op: BinOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        BinOp::Mod => (l % r, true),
        BinOp::Pow => (l.powf(r), true),
        BinOp::Atan2 => (l.atan2(r), true),
        BinOp::Eq => (l, l == r),
        BinOp::Ne => (l, l != r),
        BinOp::Gt => (l, l > r),
        BinOp::Lt => (l, l < r),
        BinOp::Ge => (l, l >= r),
        BinOp::Le => (l, l <= r),
        BinOp::And | BinOp::Or | BinOp::Unless => (l, false),
    }
}

fn select(m: &VectorMatching) -> Select<'_> {
    if m.on {
        Select::Only(&m.labels)
    } else {
        Select::AllBut(&m.labels)
    }
}

/// An index of the distinct signatures of `v` (entry `e` is `v[firsts[e]]`).
struct SigSet {
    idx: SigIndex,
    firsts: Vec<usize>,
}

impl SigSet {
    fn of(v: &[Sample], sel: Select<'_>) -> SigSet {
        let mut set = SigSet {
            idx: SigIndex::with_capacity(v.len()),
            firsts: Vec::with_capacity(v.len()),
        };
        for (i, s) in v.iter().enumerate() {
            let h = sel.hash(s.labels.iter());
            if set.find_in(v, h, &s.labels, sel).is_none() {
                set.idx.push(h);
                set.firsts.push(i);
            }
        }
        set
    }

    fn find_in(&self, v: &[Sample], h: u64, l: &Labels, sel: Select<'_>) -> Option<usize> {
        self.idx
            .find(h, |e| sel.same(v[self.firsts[e]].labels.iter(), l.iter()))
    }

    fn contains(&self, v: &[Sample], l: &Labels, sel: Select<'_>) -> bool {
        let h = sel.hash(l.iter());
        self.find_in(v, h, l, sel).is_some()
    }
}

/// `lhs and rhs`: the left samples whose signature is on the right.
fn and(lhs: Vec<Sample>, rhs: &[Sample], sel: Select<'_>) -> Vec<Sample> {
    if lhs.is_empty() || rhs.is_empty() {
        return Vec::new();
    }
    let right = SigSet::of(rhs, sel);
    lhs.into_iter()
        .filter(|s| right.contains(rhs, &s.labels, sel))
        .collect()
}

/// `lhs or rhs`: every left sample, then the right samples whose signature is not on the left.
fn or(mut lhs: Vec<Sample>, rhs: Vec<Sample>, sel: Select<'_>) -> Vec<Sample> {
    if lhs.is_empty() {
        return rhs;
    }
    if rhs.is_empty() {
        return lhs;
    }
    let left = SigSet::of(&lhs, sel);
    let extra: Vec<Sample> = rhs
        .into_iter()
        .filter(|s| !left.contains(&lhs, &s.labels, sel))
        .collect();
    lhs.extend(extra);
    lhs
}

/// `lhs unless rhs`: the left samples whose signature is not on the right.
fn unless(lhs: Vec<Sample>, rhs: &[Sample], sel: Select<'_>) -> Vec<Sample> {
    if lhs.is_empty() || rhs.is_empty() {
        return lhs;
    }
    let right = SigSet::of(rhs, sel);
    lhs.into_iter()
        .filter(|s| !right.contains(rhs, &s.labels, sel))
        .collect()
}

/// Arithmetic and comparisons between vectors (2.42's `VectorBinop`).
fn arith_or_compare(
    op: BinOp,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    matching: &VectorMatching,
    sel: Select<'_>,
    return_bool: bool,
    t: i64,
) -> Result<Vec<Sample>> {
    let (include, swapped): (&[String], bool) = match &matching.card {
        Cardinality::OneToOne => (&[], false),
        Cardinality::ManyToOne(l) => (l, false),
        Cardinality::OneToMany(l) => (l, true),
        Cardinality::ManyToMany => {
            return Err(Error::Execution(
                "many-to-many only allowed for set operators".into(),
            ));
        }
    };
    let one_to_one = matching.card == Cardinality::OneToOne;
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    // The "one" side must have unique signatures; the "many" side is matched against it.
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };

    let mut one_idx = SigIndex::with_capacity(one.len());
    for (i, s) in one.iter().enumerate() {
        let h = sel.hash(s.labels.iter());
        if let Some(e) = one_idx.find(h, |e| sel.same(one[e].labels.iter(), s.labels.iter())) {
            let matched = Labels::new(sel.filter(s.labels.iter()));
            return Err(Error::Execution(format!(
                "found duplicate series for the match group {} on the {} hand-side of the \
                 operation: [{}, {}];many-to-many matching not allowed: matching labels must \
                 be unique on one side",
                gofmt::labels(&matched),
                if swapped { "left" } else { "right" },
                gofmt::labels(&s.labels),
                gofmt::labels(&one[e].labels),
            )));
        }
        // Entries are numbered as `one` is: entry i is one[i].
        let e = one_idx.push(h);
        debug_assert_eq!(e, i);
    }

    // One-to-one: which "one" samples already produced a result. Many-to-one: the result
    // label sets produced per "one" sample, to refuse duplicates.
    let mut used = if one_to_one {
        vec![false; one.len()]
    } else {
        Vec::new()
    };
    let mut results = SigIndex::default();
    let mut result_of: Vec<(usize, usize)> = Vec::new(); // (one sample, output index)

    let mut out: Vec<Sample> = Vec::new();
    for ls in many {
        let h = sel.hash(ls.labels.iter());
        let Some(j) = one_idx.find(h, |e| sel.same(one[e].labels.iter(), ls.labels.iter())) else {
            continue;
        };
        let rs = &one[j];
        let (vl, vr) = if swapped { (rs.v, ls.v) } else { (ls.v, rs.v) };
        let (mut value, keep) = elem(op, vl, vr);
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        let mut metric = result_metric(ls.labels, &rs.labels, op, matching, include);
        if return_bool {
            metric.remove(METRIC_NAME);
        }
        if one_to_one {
            if used[j] {
                return Err(Error::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit \
                     (group_left/group_right)"
                        .into(),
                ));
            }
            used[j] = true;
        } else {
            let rh =
                sig::hash_pairs(metric.iter()) ^ (j as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let dup = results.find(rh, |e| {
                let (oj, oi) = result_of[e];
                oj == j && out[oi].labels == metric
            });
            if dup.is_some() {
                return Err(Error::Execution(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                        .into(),
                ));
            }
            results.push(rh);
            result_of.push((j, out.len()));
        }
        out.push(Sample {
            labels: metric,
            t,
            v: value,
        });
    }
    Ok(out)
}

/// The labels of a result (2.42's `resultMetric`): the "many" (or left) side's labels, without
/// the metric name for arithmetic; in one-to-one matching only the `on` labels, or without the
/// `ignoring` labels; the `group_left/right` labels copied from the "one" side (removed when
/// it has none).
fn result_metric(
    mut l: Labels,
    one: &Labels,
    op: BinOp,
    matching: &VectorMatching,
    include: &[String],
) -> Labels {
    if drops_metric_name(op) {
        l.remove(METRIC_NAME);
    }
    if matching.card == Cardinality::OneToOne {
        if matching.on {
            l = l.keep_only(&matching.labels);
        } else {
            for n in &matching.labels {
                l.remove(n);
            }
        }
    }
    for n in include {
        match one.get(n) {
            Some(v) => l.set(n, v),
            None => l.remove(n),
        }
    }
    l
}

#[cfg(test)]
mod tests;
