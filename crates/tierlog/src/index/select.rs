//! Selector matching over the postings: which series ids a [`Selector`] picks.
//!
//! Every matcher on a label `L` is exact over the postings of `L`'s distinct values, since a
//! series has one value of `L` (or none, which matchers see as `""`):
//!
//! * a matcher that rejects `""` keeps the union of the lists of the values it accepts;
//! * a matcher that accepts `""` drops the union of the lists of the values it rejects.
//!
//! So a matcher costs one evaluation per distinct value of its label (a regex runs once per
//! value, not once per series), or one lookup per literal for `=` and literal alternations.
//! The kept sets are intersected smallest first (galloping when the sizes differ a lot); a
//! list that holds every live series is skipped. A matcher whose label has more distinct
//! values than the candidates left, or whose lists hold over 16 times as many ids, is
//! checked per candidate instead.

use std::borrow::Cow;

use super::Registry;
use crate::model::SeriesId;
use crate::query::selector::{METRIC_NAME_LABEL, Matcher, Selector};

/// The postings lists a matcher picks: their union is the set.
struct Union<'a> {
    lists: Vec<&'a [u32]>,
    len: usize,
}

impl<'a> Union<'a> {
    fn new() -> Self {
        Union {
            lists: Vec::new(),
            len: 0,
        }
    }

    fn push(&mut self, list: &'a [u32]) {
        if !list.is_empty() {
            self.len += list.len();
            self.lists.push(list);
        }
    }

    /// The ascending ids of the union (the lists are disjoint: one value per series).
    fn collect(self, id_bound: usize) -> Cow<'a, [u32]> {
        match self.lists.as_slice() {
            [] => Cow::Borrowed(&[]),
            [one] => Cow::Borrowed(one),
            lists if self.len * 16 >= id_bound => {
                // Dense: a bitmap over the id space, read back in order.
                let mut bits = vec![0u64; id_bound.div_ceil(64)];
                for l in lists {
                    for &id in *l {
                        bits[id as usize / 64] |= 1 << (id % 64);
                    }
                }
                let mut out = Vec::with_capacity(self.len);
                for (w, &word) in bits.iter().enumerate() {
                    let mut x = word;
                    while x != 0 {
                        out.push((w * 64) as u32 + x.trailing_zeros());
                        x &= x - 1;
                    }
                }
                Cow::Owned(out)
            }
            lists => {
                let mut out = Vec::with_capacity(self.len);
                for l in lists {
                    out.extend_from_slice(l);
                }
                out.sort_unstable();
                out.dedup();
                Cow::Owned(out)
            }
        }
    }
}

/// What one matcher contributes.
enum Part<'a> {
    /// Keep only these ids.
    Keep(Union<'a>),
    /// Drop these ids.
    Drop(Union<'a>),
    /// Check each candidate.
    Check(&'a Matcher),
}

impl Registry {
    /// The ids of the series `sel` matches, ascending.
    pub(super) fn select_ids(&self, sel: &Selector) -> Vec<u32> {
        let id_bound = self.series.len();
        let mut keep: Vec<Cow<'_, [u32]>> = Vec::new();
        if let Some(name) = &sel.metric {
            match self.metric_by_name.get(name) {
                Some(&mid) => keep.push(Cow::Borrowed(self.postings.metric(mid))),
                None => return Vec::new(),
            }
        }
        // Exact lists first: they bound the candidates, which decides how the rest run.
        let mut rest: Vec<&Matcher> = Vec::new();
        for m in &sel.matchers {
            match m.literal_values() {
                Some(values) if !m.matches_empty() => {
                    let mut u = Union::new();
                    for v in values {
                        u.push(self.values_list(&m.name, v));
                    }
                    if u.len == 0 {
                        return Vec::new();
                    }
                    keep.push(u.collect(id_bound));
                }
                _ => rest.push(m),
            }
        }
        let mut bound = keep.iter().map(|l| l.len()).min();
        let mut drop: Vec<Union<'_>> = Vec::new();
        let mut check: Vec<&Matcher> = Vec::new();
        for m in rest {
            match self.part(m, bound) {
                Part::Keep(u) => {
                    if u.len == 0 {
                        return Vec::new();
                    }
                    bound = Some(bound.map_or(u.len, |b| b.min(u.len)));
                    keep.push(u.collect(id_bound));
                }
                Part::Drop(u) => drop.push(u),
                Part::Check(m) => check.push(m),
            }
        }
        // Intersect, smallest first; a list of every live series filters nothing.
        keep.sort_by_key(|l| l.len());
        let live = self.series_count;
        let mut lists = keep.into_iter();
        let mut ids: Vec<u32> = match lists.next() {
            Some(first) => first.into_owned(),
            None => self.live_series_ids().collect(),
        };
        for l in lists {
            if ids.is_empty() {
                break;
            }
            if l.len() < live {
                intersect(&mut ids, &l);
            }
        }
        for u in drop {
            for l in u.lists {
                if ids.is_empty() {
                    break;
                }
                subtract(&mut ids, l);
            }
        }
        if !check.is_empty() {
            ids.retain(|&id| {
                let Some((metric, labels)) = self.series(SeriesId(id)) else {
                    return false;
                };
                check.iter().all(|m| {
                    if m.name == METRIC_NAME_LABEL {
                        m.matches(metric)
                    } else {
                        m.matches(labels.get(&m.name))
                    }
                })
            });
        }
        ids
    }

    /// The postings of label `name` = `value` (`__name__` names a metric).
    fn values_list(&self, name: &str, value: &str) -> &[u32] {
        if name == METRIC_NAME_LABEL {
            self.metric_by_name
                .get(value)
                .map_or(&[], |&mid| self.postings.metric(mid))
        } else {
            self.postings.label(name, value)
        }
    }

    /// How matcher `m` runs when at most `bound` candidates (`None`: every series) remain.
    fn part<'a>(&'a self, m: &'a Matcher, bound: Option<usize>) -> Part<'a> {
        let keeps = !m.matches_empty();
        let distinct = if m.name == METRIC_NAME_LABEL {
            self.metric_by_name.len()
        } else {
            self.postings.distinct_values(&m.name)
        };
        if bound.is_some_and(|b| b < distinct) {
            return Part::Check(m);
        }
        let mut u = Union::new();
        if m.name == METRIC_NAME_LABEL {
            for (name, &mid) in &self.metric_by_name {
                if m.matches(name) == keeps {
                    u.push(self.postings.metric(mid));
                }
            }
        } else {
            for (value, list) in self.postings.values(&m.name) {
                if m.matches(value) == keeps {
                    u.push(list);
                }
            }
        }
        // A few candidates are cheaper to check one by one than a large union is to build
        // (or to subtract list by list); a check costs about 16 ids of union (measured on
        // the select bench).
        if bound.is_some_and(|b| b.saturating_mul(16) < u.len) {
            return Part::Check(m);
        }
        if keeps { Part::Keep(u) } else { Part::Drop(u) }
    }
}

/// Keeps the ids of `ids` that are in `list` (both ascending).
fn intersect(ids: &mut Vec<u32>, list: &[u32]) {
    let mut rest = list;
    ids.retain(|&id| {
        rest = seek(rest, id);
        rest.first() == Some(&id)
    });
}

/// Drops the ids of `ids` that are in `list` (both ascending).
fn subtract(ids: &mut Vec<u32>, list: &[u32]) {
    let mut rest = list;
    ids.retain(|&id| {
        rest = seek(rest, id);
        rest.first() != Some(&id)
    });
}

/// The suffix of ascending `list` from the first element `>= id`: a galloping search, so a
/// walk over many ids costs little more than a merge when they are dense and a binary search
/// each when they are sparse.
#[inline]
fn seek(list: &[u32], id: u32) -> &[u32] {
    if list.first().is_none_or(|&x| x >= id) {
        return list;
    }
    // list[0] < id: find a step with list[step] >= id (or the end), then search below it.
    let mut step = 1;
    while step < list.len() && list[step] < id {
        step *= 2;
    }
    let lo = step / 2 + 1;
    let hi = step.min(list.len());
    let at = lo + list[lo..hi].partition_point(|&x| x < id);
    &list[at..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Labels, MetricMeta, label_hash};
    use crate::query::selector::MatchOp;
    use proptest::prelude::*;

    /// The plain reading of a selector: every live series checked against every matcher.
    fn brute_force(r: &Registry, sel: &Selector) -> Vec<u32> {
        (0..r.series.len() as u32)
            .filter(|&id| {
                let Some((metric, labels)) = r.series(SeriesId(id)) else {
                    return false;
                };
                sel.metric.as_ref().is_none_or(|m| m == metric)
                    && sel.matchers.iter().all(|m| {
                        if m.name == METRIC_NAME_LABEL {
                            m.matches(metric)
                        } else {
                            m.matches(labels.get(&m.name))
                        }
                    })
            })
            .collect()
    }

    fn value() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["", "x", "y", "xy", "x\n", "m0"]).prop_map(str::to_owned)
    }

    fn matcher() -> impl Strategy<Value = Matcher> {
        let name = prop::sample::select(vec!["a", "b", "c", "d", METRIC_NAME_LABEL]);
        let op = prop::sample::select(vec![MatchOp::Eq, MatchOp::Ne, MatchOp::Re, MatchOp::Nre]);
        let pattern = prop::sample::select(vec![
            "", "x", "y", "x.*", "x.+", "x|y", "x|", "[xy]+", "m0|m1", "m.*", ".*", ".+", "v1.*",
            "v(1|2)",
        ]);
        (name, op, pattern)
            .prop_filter("__name__= becomes the metric", |(n, op, _)| {
                !(*n == METRIC_NAME_LABEL && *op == MatchOp::Eq)
            })
            .prop_map(|(n, op, v)| Matcher::new(n, op, v).unwrap())
    }

    proptest! {
        /// Selection over the postings (unions, differences, galloping intersections,
        /// per-candidate checks) picks exactly the series the plain reading picks, also
        /// after removals.
        #[test]
        fn select_agrees_with_checking_every_series(
            series in proptest::collection::vec((0usize..3, value(), value()), 0..80),
            removed in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
            metric in proptest::option::of(prop::sample::select(vec!["m0", "m1", "m2", "zz"])),
            matchers in proptest::collection::vec(matcher(), 0..4),
        ) {
            let mut r = Registry::default();
            let mids: Vec<_> = ["m0", "m1", "m2"]
                .iter()
                .map(|m| r.new_metric(m, MetricMeta::default()).0)
                .collect();
            for (i, (m, a, b)) in series.iter().enumerate() {
                // `c` has a value per series (many distinct values), `d` is on every series.
                let c = format!("v{}", i % 23);
                let pairs = [("a", a.as_str()), ("b", b.as_str()), ("c", &c), ("d", "x")];
                let name = ["m0", "m1", "m2"][*m];
                r.new_series(mids[*m], Labels::canonical(&pairs), label_hash(name, &pairs));
            }
            for i in removed {
                if !series.is_empty() {
                    r.remove_series(i.index(series.len()) as u32);
                }
            }
            let sel = Selector { metric: metric.map(str::to_owned), matchers };
            prop_assert_eq!(r.select_ids(&sel), brute_force(&r, &sel), "{}", sel);
        }
    }

    #[test]
    fn seek_finds_the_first_id_not_below() {
        let list: Vec<u32> = (0..200).map(|i| i * 3).collect();
        for id in 0..620 {
            let want = list.iter().position(|&x| x >= id).unwrap_or(list.len());
            assert_eq!(seek(&list, id).len(), list.len() - want, "id {id}");
        }
        assert!(seek(&[], 5).is_empty());
    }
}
