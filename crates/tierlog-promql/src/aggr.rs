//! Aggregation operators over one step's instant vector, as Prometheus 2.42 evaluates them
//! (`aggregation()` in its promql/engine.go, `quantile()` in quantile.go).
//!
//! Groups are found by encoding each sample's grouping labels into a reused buffer and looking
//! them up in a `SigTable` (hash, then exact byte comparison); nothing is allocated per
//! sample but the groups themselves. Groups come out in the order of
//! their first sample, as in Prometheus; `topk`/`bottomk` give each group's samples best first.

use crate::binop::gofmt;
use crate::binop::sig::{Select, SigTable};
use crate::ops::{AggOp, AggParam, Grouping};
use crate::{Error, Labels, Result, Sample};

/// Aggregates `input` (one step's samples) with `op`, grouped by `grouping`; output samples
/// carry timestamp `t`.
///
/// Output labels: with `by` only the listed labels, with `without` every label but the listed
/// ones and the metric name, with no clause none; `topk`/`bottomk` keep their samples' full
/// labels; `count_values` adds its label. Errors: a `topk`/`bottomk` k that does not fit an
/// int64 and an invalid `count_values` label name are [`Error::Execution`], a missing or
/// mistyped parameter is [`Error::BadQuery`].
pub fn aggregate(
    op: AggOp,
    param: &AggParam,
    grouping: &Grouping,
    input: Vec<Sample>,
    t: i64,
) -> Result<Vec<Sample>> {
    let mut input = input;
    let mut groups = Groups::default();
    aggregate_with(op, param, grouping, &mut input, t, &mut groups, Vec::new())
}

/// The groups one aggregation node has met over the steps of a query: each group's
/// signature and output labels, made once (at the group's first step) and shared by every
/// later step's sample, instead of being built again at every step.
#[derive(Default)]
pub(crate) struct Groups {
    sigs: SigTable,
    labels: Vec<Labels>,
    /// Per group: its place among this step's groups, or `NONE`; reset after each step.
    slot: Vec<usize>,
    /// Scratch of one step, kept for the next: its groups, their numbers, a signature.
    step: Vec<Group>,
    ids: Vec<usize>,
    buf: Vec<u8>,
    /// The previous step's input label sets and their groups, in input order: a sample with
    /// the very label set (shared) of the previous step's sample at its place is in the same
    /// group, found without encoding its signature. `next` is this step's, swapped in.
    prev: Vec<(Labels, usize)>,
    next: Vec<(Labels, usize)>,
}

const NONE: usize = usize::MAX;

/// [`aggregate`], with what earlier steps of the same node left in `groups` (the same `op`
/// and `grouping` at every call); `input`'s buffer stays the caller's (its samples may be
/// left without labels). The one-value-per-group operators fill `out` (empty) and return it.
pub(crate) fn aggregate_with(
    op: AggOp,
    param: &AggParam,
    grouping: &Grouping,
    input: &mut [Sample],
    t: i64,
    groups: &mut Groups,
    out: Vec<Sample>,
) -> Result<Vec<Sample>> {
    let names: &[String] = match grouping {
        Grouping::By(n) | Grouping::Without(n) => n,
    };
    let without = matches!(grouping, Grouping::Without(_));
    let sel = if without {
        Select::AllBut(names)
    } else {
        Select::Only(names)
    };
    match op {
        AggOp::Topk | AggOp::Bottomk => {
            let k = k_param(op, param)?;
            if k < 1 {
                return Ok(Vec::new());
            }
            Ok(top_bottom(op == AggOp::Topk, k, sel, input, t))
        }
        AggOp::CountValues => {
            let AggParam::Label(name) = param else {
                return Err(Error::BadQuery(
                    "count_values expects a label name as its first argument".into(),
                ));
            };
            if !valid_label_name(name) {
                return Err(Error::Execution(format!(
                    "invalid label name {}",
                    gofmt::quote(name)
                )));
            }
            Ok(count_values(name, names, without, input, t))
        }
        AggOp::Quantile => {
            let AggParam::Number(q) = param else {
                return Err(Error::BadQuery(
                    "quantile expects a number as its first argument".into(),
                ));
            };
            Ok(simple(op, *q, sel, input, t, groups, out))
        }
        _ => Ok(simple(op, 0.0, sel, input, t, groups, out)),
    }
}

/// A label name as Prometheus 2.42 accepts it: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(name: &str) -> bool {
    let mut b = name.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The k of `topk`/`bottomk`: truncated toward zero; values outside int64 (and NaN) fail as
/// in 2.42.
fn k_param(op: AggOp, param: &AggParam) -> Result<i64> {
    let AggParam::Number(f) = *param else {
        return Err(Error::BadQuery(format!(
            "{} expects a number as its first argument",
            if op == AggOp::Topk { "topk" } else { "bottomk" }
        )));
    };
    // 2.42 bounds: the largest float64 below 2^63, and -2^63.
    if !(-9_223_372_036_854_775_808.0..=9_223_372_036_854_774_784.0).contains(&f) {
        return Err(Error::Execution(format!(
            "Scalar value {} overflows int64",
            gofmt::float_v(f)
        )));
    }
    Ok(f as i64)
}

/// One group of the aggregations that give one value per group.
struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    count: u64,
    /// Every value, for `quantile`.
    values: Vec<f64>,
}

/// The aggregations that give one value per group: every op but `topk`, `bottomk` and
/// `count_values` (`q` is the φ of `quantile`). A group's output labels are a function of its
/// signature (the selected pairs, in order), so those `known` from earlier steps are reused.
fn simple(
    op: AggOp,
    q: f64,
    sel: Select<'_>,
    input: &[Sample],
    t: i64,
    known: &mut Groups,
    mut out: Vec<Sample>,
) -> Vec<Sample> {
    let Groups {
        sigs,
        labels,
        slot,
        step: groups,
        ids,
        buf,
        prev,
        next,
    } = known;
    next.clear();
    for (j, s) in input.iter().enumerate() {
        let id = match prev.get(j) {
            Some((l, id)) if l.same(&s.labels) => *id,
            _ => {
                sel.encode(s.labels.iter(), buf);
                let (id, added) = sigs.find_or_push(buf);
                if added {
                    labels.push(Labels::new(sel.filter(s.labels.iter())));
                    slot.push(NONE);
                }
                id
            }
        };
        next.push((s.labels.clone(), id));
        let v = s.v;
        let e = slot[id];
        if e == NONE {
            slot[id] = groups.len();
            ids.push(id);
            groups.push(Group {
                labels: labels[id].clone(),
                value: match op {
                    AggOp::Stddev | AggOp::Stdvar => 0.0,
                    AggOp::Group => 1.0,
                    _ => v,
                },
                mean: v,
                count: 1,
                values: if op == AggOp::Quantile {
                    vec![v]
                } else {
                    Vec::new()
                },
            });
            continue;
        }
        let g = &mut groups[e];
        match op {
            AggOp::Sum => g.value += v,
            AggOp::Avg => {
                g.count += 1;
                if g.mean.is_infinite() {
                    // An infinite mean stays as it is when the new value is the same infinity
                    // or finite (subtracting it would give NaN).
                    if v.is_infinite() && (g.mean > 0.0) == (v > 0.0) {
                        continue;
                    }
                    if v.is_finite() {
                        continue;
                    }
                }
                // Each term divided by the count first, so that large values do not overflow.
                let n = g.count as f64;
                g.mean += v / n - g.mean / n;
            }
            AggOp::Max => {
                if g.value < v || g.value.is_nan() {
                    g.value = v;
                }
            }
            AggOp::Min => {
                if g.value > v || g.value.is_nan() {
                    g.value = v;
                }
            }
            AggOp::Count => g.count += 1,
            AggOp::Stddev | AggOp::Stdvar => {
                g.count += 1;
                let delta = v - g.mean;
                g.mean += delta / g.count as f64;
                g.value += delta * (v - g.mean);
            }
            AggOp::Quantile => g.values.push(v),
            AggOp::Group | AggOp::Topk | AggOp::Bottomk | AggOp::CountValues => {}
        }
    }
    for id in ids.drain(..) {
        slot[id] = NONE;
    }
    std::mem::swap(prev, next);
    out.extend(groups.drain(..).map(|mut g| {
        let v = match op {
            AggOp::Avg => g.mean,
            AggOp::Count => g.count as f64,
            AggOp::Stdvar => g.value / g.count as f64,
            AggOp::Stddev => (g.value / g.count as f64).sqrt(),
            AggOp::Quantile => quantile(q, &mut g.values),
            _ => g.value,
        };
        Sample {
            labels: g.labels,
            t,
            v,
        }
    }));
    out
}

/// The φ-quantile of `values` (2.42's `quantile`, shared with `quantile_over_time`).
pub use crate::funcs::range::quantile;

/// `count_values(name, …)`: counts the samples of each value per group; the value, printed as
/// Prometheus prints floats, becomes label `name` (part of the grouping for `by`).
fn count_values(
    name: &str,
    names: &[String],
    without: bool,
    input: &[Sample],
    t: i64,
) -> Vec<Sample> {
    let by_names: Vec<String>;
    let sel = if without {
        Select::AllBut(names)
    } else {
        by_names = names.iter().cloned().chain([name.to_owned()]).collect();
        Select::Only(&by_names)
    };
    let mut groups: Vec<(Labels, u64)> = Vec::new();
    let mut sigs = SigTable::default();
    let mut buf = Vec::new();
    for s in input {
        let text = gofmt::float_f(s.v);
        sel.encode(with_label(&s.labels, name, &text), &mut buf);
        match sigs.find_or_push(&buf) {
            (e, false) => groups[e].1 += 1,
            (_, true) => {
                let labels = Labels::new(sel.filter(with_label(&s.labels, name, &text)));
                groups.push((labels, 1));
            }
        }
    }
    groups
        .into_iter()
        .map(|(labels, n)| Sample {
            labels,
            t,
            v: n as f64,
        })
        .collect()
}

/// The pairs of `l` with label `name` set to `value` (replacing it if present), in name order.
fn with_label<'a>(
    l: &'a Labels,
    name: &'a str,
    value: &'a str,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    l.iter()
        .filter(move |(k, _)| *k < name)
        .chain(std::iter::once((name, value)))
        .chain(l.iter().filter(move |(k, _)| *k > name))
}

/// `topk`/`bottomk` with `k >= 1`: 2.42 keeps a binary heap per group (worst of the kept on
/// top, a NaN counting as worst) and replaces its top with a better sample; which of equal
/// values are kept depends on that heap, so it is reproduced step for step.
fn top_bottom(top: bool, k: i64, sel: Select<'_>, input: &mut [Sample], t: i64) -> Vec<Sample> {
    // Each group's heap of (value, sample index).
    let mut groups: Vec<Vec<(f64, usize)>> = Vec::new();
    let mut sigs = SigTable::default();
    let mut buf = Vec::new();
    let less = |a: f64, b: f64| {
        if a.is_nan() {
            true
        } else if top {
            a < b
        } else {
            a > b
        }
    };
    let k_len = usize::try_from(k).unwrap_or(usize::MAX);
    for (i, s) in input.iter().enumerate() {
        sel.encode(s.labels.iter(), &mut buf);
        let (e, new) = sigs.find_or_push(&buf);
        if new {
            groups.push(vec![(s.v, i)]);
            continue;
        }
        let heap = &mut groups[e];
        let worst = heap[0].0;
        let better = if top { worst < s.v } else { worst > s.v };
        if heap.len() < k_len || better || worst.is_nan() {
            if heap.len() == k_len {
                if k == 1 {
                    heap[0] = (s.v, i);
                    continue;
                }
                heap_pop(heap, &less);
            }
            heap_push(heap, (s.v, i), &less);
        }
    }
    let mut out = Vec::new();
    for mut heap in groups {
        if heap.len() > 1 {
            // Go's sort.Sort(sort.Reverse(heap)): insertion sort up to 12 elements; beyond,
            // best first with NaNs last (ties may then come out in another order).
            if heap.len() <= 12 {
                for i in 1..heap.len() {
                    let mut j = i;
                    while j > 0 && less(heap[j - 1].0, heap[j].0) {
                        heap.swap(j, j - 1);
                        j -= 1;
                    }
                }
            } else {
                heap.sort_by(|a, b| {
                    use std::cmp::Ordering;
                    match (a.0.is_nan(), b.0.is_nan()) {
                        (true, true) => Ordering::Equal,
                        (true, false) => Ordering::Greater,
                        (false, true) => Ordering::Less,
                        (false, false) => {
                            let o = a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal);
                            if top { o.reverse() } else { o }
                        }
                    }
                });
            }
        }
        for (v, i) in heap {
            out.push(Sample {
                labels: std::mem::take(&mut input[i].labels),
                t,
                v,
            });
        }
    }
    out
}

/// Go's `container/heap` Push.
fn heap_push(h: &mut Vec<(f64, usize)>, x: (f64, usize), less: &impl Fn(f64, f64) -> bool) {
    h.push(x);
    let mut j = h.len() - 1;
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(h[j].0, h[i].0) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

/// Go's `container/heap` Pop (the popped element is dropped).
fn heap_pop(h: &mut Vec<(f64, usize)>, less: &impl Fn(f64, f64) -> bool) {
    let n = h.len() - 1;
    h.swap(0, n);
    let mut i = 0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && less(h[j2].0, h[j1].0) {
            j = j2;
        }
        if !less(h[j].0, h[i].0) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    h.pop();
}

#[cfg(test)]
mod tests;
