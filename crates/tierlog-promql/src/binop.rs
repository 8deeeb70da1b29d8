//! Binary operators between scalars and instant vectors, with vector matching, as Prometheus
//! 2.42 evaluates them (`VectorBinop`, `VectorAnd/Or/Unless`, `VectorscalarBinop`,
//! `scalarBinop`, `resultMetric`).
//!
//! Samples are matched by a signature: the labels named by `on (…)`, or every label but those
//! of `ignoring (…)` and the metric name. Each sample's signature is encoded once into a reused
//! buffer and hashed; the side that is looked up keeps its signatures in a `sig::SigTable`
//! (one arena, exact byte comparison on a hash match), so nothing is allocated per sample.

pub(crate) mod gofmt;
pub(crate) mod sig;

use crate::ops::{BinOp, Cardinality, VectorMatching};
use crate::value::METRIC_NAME;
use crate::{Error, Labels, Result, Sample};

use sig::{Select, SigTable};

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
    let mut results = Results::default();
    vector_vector_with(op, lhs, rhs, matching, return_bool, t, &mut results)
}

/// The result label sets one binary node has made, by the pair of shared label sets
/// (the "many" and the "one" side's) they were made from; the pairs are kept with them, so
/// that their addresses stay theirs. Series mostly come with the same shared label sets at
/// every step, so a step's result labels are the previous step's, neither copied nor made
/// again.
///
/// It also keeps the previous step's matching: the "one" side's label sets (in order) with
/// their signature table, and which "one" entry each "many" label set matched. When a step's
/// "one" side is the very same sequence of shared label sets, the table is reused and a "many"
/// label set seen before is matched without encoding its signature again. Every kept label
/// set is held (a clone), so its address cannot be reused by another while it is a key, and
/// its contents cannot change (a shared set is copied before it is changed).
#[derive(Default)]
pub(crate) struct Results {
    made: std::collections::HashMap<
        (usize, usize),
        (Labels, Labels, Labels),
        std::hash::BuildHasherDefault<sig::SigHasher>,
    >,
    /// The "one" side of the previous step, in order, and its signature table.
    one_side: Vec<Labels>,
    one_sigs: SigTable,
    /// A "many" label set's address: the set, and the entry of `one_side` it matched.
    many_match: std::collections::HashMap<
        usize,
        (Labels, Option<usize>),
        std::hash::BuildHasherDefault<sig::SigHasher>,
    >,
}

/// Most result label sets a [`Results`] keeps (all are dropped when it is full).
const RESULTS_KEPT: usize = 8192;

impl Results {
    /// The result labels of `many` matched with `one`: kept, or made by `make` and kept.
    fn get(&mut self, many: Labels, one: &Labels, make: impl FnOnce(Labels) -> Labels) -> Labels {
        let key = (many.addr(), one.addr());
        if let Some((_, _, r)) = self.made.get(&key) {
            return r.clone();
        }
        let r = make(many.clone());
        if self.made.len() >= RESULTS_KEPT {
            self.made.clear();
        }
        self.made.insert(key, (many, one.clone(), r.clone()));
        r
    }
}

/// [`vector_vector`], with the result labels the same node made at earlier steps.
pub(crate) fn vector_vector_with(
    op: BinOp,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    matching: &VectorMatching,
    return_bool: bool,
    t: i64,
    results: &mut Results,
) -> Result<Vec<Sample>> {
    let sel = select(matching);
    let mut out = match op {
        BinOp::And => and(lhs, &rhs, sel),
        BinOp::Or => or(lhs, rhs, sel),
        BinOp::Unless => unless(lhs, &rhs, sel),
        _ => return arith_or_compare(op, lhs, rhs, matching, return_bool, t, results),
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

/// Fails when two samples of `v` have the same labels, as 2.42 checks every step's result of
/// an operator, aggregation or function ("vector cannot contain metrics with the same
/// labelset"), e.g. for `m * 2` over series that differ only in their metric name.
pub fn ensure_unique_labels(v: &[Sample]) -> Result<()> {
    let mut seen = SigTable::with_capacity(v.len());
    let mut buf = Vec::new();
    for s in v {
        sig::encode(s.labels.iter(), &mut buf);
        if !seen.find_or_push(&buf).1 {
            return Err(Error::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
    }
    Ok(())
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

/// The distinct signatures of `v`.
fn sig_set(v: &[Sample], sel: Select<'_>, buf: &mut Vec<u8>) -> SigTable {
    let mut t = SigTable::with_capacity(v.len());
    for s in v {
        sel.encode(s.labels.iter(), buf);
        t.find_or_push(buf);
    }
    t
}

/// True when the signature of `l` is in `t`.
fn has_sig(t: &SigTable, l: &Labels, sel: Select<'_>, buf: &mut Vec<u8>) -> bool {
    sel.encode(l.iter(), buf);
    t.find(buf, sig::hash_bytes(buf)).is_some()
}

/// `lhs and rhs`: the left samples whose signature is on the right.
fn and(lhs: Vec<Sample>, rhs: &[Sample], sel: Select<'_>) -> Vec<Sample> {
    if lhs.is_empty() || rhs.is_empty() {
        return Vec::new();
    }
    let mut buf = Vec::new();
    let right = sig_set(rhs, sel, &mut buf);
    lhs.into_iter()
        .filter(|s| has_sig(&right, &s.labels, sel, &mut buf))
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
    let mut buf = Vec::new();
    let left = sig_set(&lhs, sel, &mut buf);
    lhs.extend(
        rhs.into_iter()
            .filter(|s| !has_sig(&left, &s.labels, sel, &mut buf)),
    );
    lhs
}

/// `lhs unless rhs`: the left samples whose signature is not on the right.
fn unless(lhs: Vec<Sample>, rhs: &[Sample], sel: Select<'_>) -> Vec<Sample> {
    if lhs.is_empty() || rhs.is_empty() {
        return lhs;
    }
    let mut buf = Vec::new();
    let right = sig_set(rhs, sel, &mut buf);
    lhs.into_iter()
        .filter(|s| !has_sig(&right, &s.labels, sel, &mut buf))
        .collect()
}

/// Arithmetic and comparisons between vectors (2.42's `VectorBinop`).
fn arith_or_compare(
    op: BinOp,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    matching: &VectorMatching,
    return_bool: bool,
    t: i64,
    made: &mut Results,
) -> Result<Vec<Sample>> {
    let sel = select(matching);
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

    let mut buf = Vec::new();
    let same_one = made.one_side.len() == one.len()
        && made
            .one_side
            .iter()
            .zip(&one)
            .all(|(a, b)| a.same(&b.labels));
    if !same_one {
        made.one_side.clear();
        made.many_match.clear();
        let mut one_sigs = SigTable::with_capacity(one.len());
        for (i, s) in one.iter().enumerate() {
            sel.encode(s.labels.iter(), &mut buf);
            let h = sig::hash_bytes(&buf);
            if let Some(e) = one_sigs.find(&buf, h) {
                let matched = Labels::new(sel.filter(s.labels.iter()));
                return Err(Error::Execution(format!(
                    "found duplicate series for the match group {} on the {} hand-side of the \
                     operation: [{}, {}];many-to-many matching not allowed: matching labels \
                     must be unique on one side",
                    gofmt::labels(&matched),
                    if swapped { "left" } else { "right" },
                    gofmt::labels(&s.labels),
                    gofmt::labels(&one[e].labels),
                )));
            }
            // Entries are numbered as `one` is: entry i is one[i].
            let e = one_sigs.push(&buf, h);
            debug_assert_eq!(e, i);
        }
        made.one_side.extend(one.iter().map(|s| s.labels.clone()));
        made.one_sigs = one_sigs;
    }
    if made.many_match.len() >= RESULTS_KEPT {
        made.many_match.clear();
    }

    // One-to-one: which "one" samples already produced a result. Many-to-one: the result
    // label sets produced per "one" sample, to refuse duplicates.
    let mut used = if one_to_one {
        vec![false; one.len()]
    } else {
        Vec::new()
    };
    let mut results = SigTable::default();
    let mut result_buf = Vec::new();

    let mut out: Vec<Sample> = Vec::new();
    for ls in many {
        let found = match made.many_match.get(&ls.labels.addr()) {
            Some(&(_, j)) => j,
            None => {
                sel.encode(ls.labels.iter(), &mut buf);
                let j = made.one_sigs.find(&buf, sig::hash_bytes(&buf));
                made.many_match
                    .insert(ls.labels.addr(), (ls.labels.clone(), j));
                j
            }
        };
        let Some(j) = found else {
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
        let metric = made.get(ls.labels, &rs.labels, |l| {
            let mut metric = result_metric(l, &rs.labels, op, matching, include);
            if return_bool {
                metric.remove(METRIC_NAME);
            }
            metric
        });
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
            sig::encode(metric.iter(), &mut result_buf);
            result_buf.extend_from_slice(&(j as u64).to_le_bytes());
            if !results.find_or_push(&result_buf).1 {
                return Err(Error::Execution(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                        .into(),
                ));
            }
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
