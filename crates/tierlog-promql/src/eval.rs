//! The evaluator: parses, checks, loads the selected series and evaluates step by step.
//!
//! Evaluation has two phases. First every selector node of the expression is given the span
//! of time it needs over the whole query (its evaluation times, shifted by `offset`/`@`,
//! widened by the lookback or its range, and through subqueries by their range), and its
//! series are read from the store once, for that span. Then the expression is evaluated at
//! each step, every selector slicing its loaded points by binary search; a subquery keeps the
//! values of its inner expression by time, so consecutive outer steps reuse them.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant, SystemTime};

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{
    self, AggregateExpr, AtModifier, BinaryExpr, Call, Expr, Function, LabelModifier,
    MatrixSelector, Offset, SubqueryExpr, VectorMatchCardinality, VectorSelector,
};
use tierlog::{MatchOp, Matcher, Selector, Store};

use crate::check::{self, HOLT_WINTERS};

mod tier;
use crate::funcs::instant::{self, Arg, Out};
use crate::funcs::range::{self, RangeFn, Window};
use crate::ops::{AggOp, AggParam, BinOp, Cardinality, Grouping, VectorMatching};
use crate::{Error, Labels, Options, QueryOutput, Result, Sample, Series, Value};
use tier::TierBucket;

/// Step of a subquery written without one (`x[1h:]`): Prometheus' default global evaluation
/// interval.
pub(crate) const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;

/// Functions whose argument defaults to `vector(time())`.
const DATE_FUNCS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
];

/// Lets the parser know 2.42's `holt_winters` (3.x renamed it).
fn register_holt_winters() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = parser::register_extra_functions(vec![Function::new(
            HOLT_WINTERS,
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        )]);
    });
}

/// Parses `src` and refuses what Prometheus 2.42 does not evaluate.
pub(crate) fn parse(src: &str) -> Result<Expr> {
    register_holt_winters();
    // Before parsing: the parser panics on some plain numbers used as durations.
    check::check_text(src)?;
    let e = parser::parse(src).map_err(Error::Parse)?;
    check::check_expr(&e)?;
    Ok(e)
}

/// A parsed expression and its selectors as the store takes them (by selector node), shared
/// by the queries that ask the same text: dashboards ask the same expressions over and over,
/// and parsing and compiling a selector's regular expressions (twice: the parser's and the
/// store's) can cost more than evaluating a small query.
struct Parsed {
    expr: Expr,
    selectors: Mutex<NodeMap<Selector>>,
}

/// Most expressions kept by [`parse_shared`] (all are dropped when it is full), and the
/// longest text kept.
const PARSED_KEPT: usize = 256;
const PARSED_KEPT_LEN: usize = 4096;

/// [`parse`], through a cache of the expressions parsed before (errors are not kept).
fn parse_shared(src: &str) -> Result<Arc<Parsed>> {
    static KEPT: LazyLock<Mutex<HashMap<String, Arc<Parsed>>>> = LazyLock::new(Default::default);
    let keep = src.len() <= PARSED_KEPT_LEN;
    if keep && let Some(p) = lock(&KEPT).get(src) {
        return Ok(p.clone());
    }
    let p = Arc::new(Parsed {
        expr: parse(src)?,
        selectors: Mutex::default(),
    });
    if keep {
        let mut kept = lock(&KEPT);
        if kept.len() >= PARSED_KEPT {
            kept.clear();
        }
        kept.insert(src.to_owned(), p.clone());
    }
    Ok(p)
}

/// The mutex's value, also after a panic while it was held (what it guards stays whole: an
/// insert or a clear).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn instant(store: &Store, expr: &str, time: i64, opts: &Options) -> Result<QueryOutput> {
    let parsed = parse_shared(expr)?;
    let e = &parsed.expr;
    let mut ev = Ev::new(opts, time, time, 0);
    ev.load(store, &parsed, time, time)?;
    ev.tick()?;
    let value = match ev.eval(e, time)? {
        Val::Scalar(v) => Value::Scalar { t: time, v },
        Val::Str(s) => Value::String { t: time, s },
        Val::Vector(mut v) => {
            for s in &mut v {
                s.t = time;
            }
            if !keeps_order(e) {
                v.sort_by(|a, b| a.labels.cmp(&b.labels));
            }
            Value::Vector(v)
        }
        Val::Matrix(mut m) => {
            m.sort_by(|a, b| a.labels.cmp(&b.labels));
            Value::Matrix(m)
        }
    };
    Ok(QueryOutput {
        value,
        warnings: ev.warnings,
    })
}

pub(crate) fn range(
    store: &Store,
    expr: &str,
    start: i64,
    end: i64,
    step: i64,
    opts: &Options,
) -> Result<QueryOutput> {
    if step <= 0 {
        return Err(Error::BadQuery(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
                .into(),
        ));
    }
    if end < start {
        return Err(Error::BadQuery(
            "end timestamp must not be before start time".into(),
        ));
    }
    // Prometheus refuses when (end - start) / step exceeds the limit (integer division).
    let intervals = (end as i128 - start as i128) / step as i128;
    if intervals > opts.max_points_per_series as i128 {
        return Err(Error::BadQuery(format!(
            "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
            thousands(opts.max_points_per_series)
        )));
    }
    let parsed = parse_shared(expr)?;
    let e = &parsed.expr;
    match e.value_type() {
        ValueType::Scalar | ValueType::Vector => {}
        other => {
            let name = match other {
                ValueType::Matrix => "range vector",
                ValueType::String => "string",
                _ => "unknown",
            };
            return Err(Error::BadQuery(format!(
                "invalid expression type \"{name}\" for range query, must be Scalar or instant Vector"
            )));
        }
    }
    let mut ev = Ev::new(opts, start, end, step);
    if end > start {
        collect_invariant(e, false, &mut ev.invariant);
    }
    ev.load(store, &parsed, start, end)?;
    let mut rows = Rows::default();
    let mut t = start;
    loop {
        ev.tick()?;
        match ev.eval(e, t)? {
            Val::Scalar(v) => {
                ev.note_samples(1)?;
                rows.push(0, Labels::default(), t, v)
            }
            Val::Vector(mut v) => {
                ev.note_samples(v.len())?;
                for (j, s) in v.drain(..).enumerate() {
                    rows.push(j, s.labels, t, s.v);
                }
                ev.give_back(v);
            }
            other => {
                return Err(Error::Execution(format!(
                    "range query expression evaluated to a {}",
                    other.kind()
                )));
            }
        }
        match t.checked_add(step) {
            Some(n) if n <= end => t = n,
            _ => break,
        }
    }
    let mut m = rows.series;
    m.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(QueryOutput {
        value: Value::Matrix(m),
        warnings: ev.warnings,
    })
}

/// The rows of a range query's result. Series tend to come in the same order at every
/// step, so the row of the sample at position `j` is first looked for where the previous
/// step's sample `j` went, before hashing its labels.
#[derive(Default)]
struct Rows {
    series: Vec<Series>,
    index: LabelMap<usize>,
    hint: Vec<usize>,
}

impl Rows {
    fn push(&mut self, j: usize, labels: Labels, t: i64, v: f64) {
        let row = match self.hint.get(j) {
            Some(&r) if self.series[r].labels == labels => r,
            _ => match self.index.get(&labels) {
                Some(&r) => r,
                None => {
                    let r = self.series.len();
                    self.index.insert(labels.clone(), r);
                    self.series.push(Series {
                        labels,
                        points: Vec::new(),
                    });
                    r
                }
            },
        };
        self.series[row].points.push((t, v));
        if j < self.hint.len() {
            self.hint[j] = row;
        } else {
            self.hint.push(row);
        }
    }
}

/// `11000` as `11,000`.
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whether an instant query's vector keeps the order evaluation gave it (`sort`,
/// `sort_desc`, `topk`, `bottomk` at the top).
fn keeps_order(e: &Expr) -> bool {
    match unparen(e) {
        Expr::Call(c) => matches!(c.func.name, "sort" | "sort_desc"),
        Expr::Aggregate(a) => matches!(a.op.to_string().as_str(), "topk" | "bottomk"),
        _ => false,
    }
}

fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

/// The value of a sub-expression at one step.
#[derive(Debug, Clone)]
enum Val {
    Scalar(f64),
    Str(String),
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
}

impl Val {
    /// This value as a step at `t` gives it: an instant vector's samples carry `t`.
    fn at(&self, t: i64) -> Val {
        match self {
            Val::Vector(v) => Val::Vector(v.iter().map(|s| Sample { t, ..s.clone() }).collect()),
            other => other.clone(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::Str(_) => "string",
            Val::Vector(_) => "instant vector",
            Val::Matrix(_) => "range vector",
        }
    }
}

/// One loaded series: its labels (with and without the metric name) and its points over the
/// whole span its selector needs.
struct Loaded {
    labels: Labels,
    unnamed: Labels,
    points: Vec<(i64, f64)>,
    /// Exact tiles from the rollup tiers, for a tier-answered selector whose windows reach
    /// before the raw points kept.
    buckets: Vec<TierBucket>,
}

impl Loaded {
    /// The points with `from <= t <= to`.
    fn window(&self, from: i64, to: i64) -> &[(i64, f64)] {
        self.window_from(from, to, &mut [0; 2])
    }

    /// [`Loaded::window`], searched from where the previous window's bounds were (`at`,
    /// updated): a range function's windows move forward step by step.
    fn window_from(&self, from: i64, to: i64, at: &mut [usize; 2]) -> &[(i64, f64)] {
        at[0] = partition_from(&self.points, at[0], |p| p.0 < from);
        at[1] = partition_from(&self.points, at[1], |p| p.0 <= to);
        let [lo, hi] = *at;
        if lo >= hi { &[] } else { &self.points[lo..hi] }
    }

    /// The tiles with `from <= t < to`, searched from `at` (updated) as in
    /// [`Loaded::window_from`].
    fn tiles_from(&self, from: i64, to: i64, at: &mut [usize; 2]) -> &[TierBucket] {
        at[0] = partition_from(&self.buckets, at[0], |b| b.t < from);
        at[1] = partition_from(&self.buckets, at[1], |b| b.t < to);
        let [lo, hi] = *at;
        if lo >= hi { &[] } else { &self.buckets[lo..hi] }
    }
}

/// `v.partition_point(pred)` (`pred` true on a prefix of `v`), looked for from `hint`: a few
/// steps forward from it, then a binary search of the side the answer is on. Windows of
/// consecutive steps move forward, so the answer is mostly at or just past the previous one;
/// any hint gives the right answer.
fn partition_from<T>(v: &[T], hint: usize, pred: impl Fn(&T) -> bool) -> usize {
    let h = hint.min(v.len());
    if h > 0 && !pred(&v[h - 1]) {
        return v[..h].partition_point(pred);
    }
    let mut i = h;
    for _ in 0..8 {
        match v.get(i) {
            Some(x) if pred(x) => i += 1,
            _ => return i,
        }
    }
    i + v[i..].partition_point(pred)
}

/// What a range-function node keeps for each loaded series between steps.
#[derive(Debug, Clone, Copy, Default)]
struct SeriesState {
    /// `note_origin` has seen the series' output labels (it would find the same again).
    noted: bool,
    /// Where the previous step's window bounds were, in the points and in the tiles.
    points_at: [usize; 2],
    tiles_at: [usize; 2],
}

/// What a subquery node keeps between steps: its inner expression's value by time, the
/// series named by number.
#[derive(Default)]
struct SubCache {
    ids: LabelMap<usize>,
    /// Series numbers by the address of their label set as the inner expression gave it
    /// (kept in `labels`, so the address stays its own): most steps give the same shared
    /// sets, found without hashing their labels.
    by_addr: HashMap<usize, usize, std::hash::BuildHasherDefault<crate::binop::sig::SigHasher>>,
    /// The points of each series in the window, kept from step to step: each step appends
    /// the rows after `appended` and moves `start` past the points before its window.
    win: Vec<Vec<(i64, f64)>>,
    start: Vec<usize>,
    /// The newest row appended to `win`.
    appended: Option<i64>,
    /// The newest step evaluated: every step from the window's first to it has its row.
    evaluated: Option<i64>,
    /// The first step of the previous call's window.
    first: Option<i64>,
    /// Labels of series number `i`, with and without the metric name.
    labels: Vec<(Labels, Labels)>,
    rows: BTreeMap<i64, Vec<(usize, f64)>>,
}

impl SubCache {
    fn id(&mut self, l: Labels) -> usize {
        if let Some(&i) = self.by_addr.get(&l.addr()) {
            return i;
        }
        if let Some(&i) = self.ids.get(&l) {
            return i;
        }
        let i = self.labels.len();
        let unnamed = l.clone().without_name();
        self.ids.insert(l.clone(), i);
        self.by_addr.insert(l.addr(), i);
        self.labels.push((l, unnamed));
        i
    }
}

/// Where a tier-answered selector's raw points start, and its tiles' width.
#[derive(Debug, Clone, Copy)]
struct TierSplit {
    /// The start of the raw points kept (windows starting before it use the tiles).
    raw_from: i64,
    /// The first tile boundary at or after `raw_from`: tiles before it, raw points after.
    split: i64,
}

/// What a `label_replace` or `label_join` node made: by the address of a shared input label
/// set, that set (kept, so that the address stays its own) and its new labels; for the
/// string arguments `args`.
#[derive(Default)]
struct Relabeled {
    args: Vec<String>,
    made: HashMap<
        usize,
        (Labels, Labels),
        std::hash::BuildHasherDefault<crate::binop::sig::SigHasher>,
    >,
}

/// What a `histogram_quantile` node keeps between steps: by the address of an input label set
/// (kept, so that the address stays its own), its group and its bucket's upper bound (`None`
/// for a series without a valid `le`); each group's output labels; each group's buckets of
/// the step being evaluated. A step with the label sets of earlier steps neither parses `le`
/// nor copies or hashes labels.
#[derive(Default)]
struct Histograms {
    by_addr: NodeMap<(Labels, Option<(usize, f64)>)>,
    ids: LabelMap<usize>,
    out_labels: Vec<Labels>,
    buckets: Vec<Vec<(f64, f64)>>,
}

/// Most input label sets a [`Histograms`] keeps (all is dropped, before a step, when it holds
/// more).
const HISTOGRAMS_KEPT: usize = 8192;

/// Most label sets a [`Relabeled`] keeps (all are dropped when a step would make it hold
/// more; one step's are always kept).
const RELABELED_KEPT: usize = 8192;

/// The vector of an instant function's answer.
fn expect_vector(out: Out) -> Result<Vec<Sample>> {
    match out {
        Out::Vector(v) => Ok(v),
        Out::Scalar(_) => Err(Error::Execution("expected an instant vector".into())),
    }
}

/// An aggregation node's name, operator and grouping.
struct AggSpec {
    name: String,
    op: AggOp,
    grouping: Grouping,
}

/// A binary node's operator and vector matching.
struct BinSpec {
    op: BinOp,
    matching: VectorMatching,
}

struct Ev<'a> {
    opts: &'a Options,
    /// The query's start and end (for `@ start()` / `@ end()`).
    start: i64,
    end: i64,
    /// The range query's step (0 for an instant query).
    step: i64,
    /// For a selector answered partly from the tiers: where its raw points start.
    tier_split: NodeMap<TierSplit>,
    /// Loaded series by selector node (its address in the parsed expression).
    data: NodeMap<Vec<Loaded>>,
    subqueries: RefCell<NodeMap<SubCache>>,
    warnings: Vec<String>,
    ticks: Cell<u32>,
    /// By unary-minus or range-function node: which input series each output label set
    /// came from (see [`Ev::note_origin`]).
    origins: RefCell<NodeMap<OriginMap>>,
    /// Per range-function node, what it keeps for each loaded series between steps.
    per_series: RefCell<NodeMap<Vec<SeriesState>>>,
    /// Per aggregation node, the groups (and their output labels) of earlier steps.
    groups: RefCell<NodeMap<crate::aggr::Groups>>,
    /// Per aggregation and binary node, what its first step made of it.
    agg_specs: RefCell<NodeMap<Rc<AggSpec>>>,
    bin_specs: RefCell<NodeMap<Rc<BinSpec>>>,
    /// Per `label_replace`/`label_join` node, the label sets it made.
    relabeled: RefCell<NodeMap<Relabeled>>,
    /// Per binary node between vectors, the result label sets it made.
    results: RefCell<NodeMap<crate::binop::Results>>,
    /// Per `histogram_quantile` node, its series' groups and bounds.
    histograms: RefCell<NodeMap<Histograms>>,
    /// Per instant selector node and loaded series, where the previous step's point was.
    instant_at: RefCell<NodeMap<Vec<usize>>>,
    /// Per node checked by [`Ev::check_unique_at`], the label sets of its last vector checked.
    unique: RefCell<NodeMap<Vec<Labels>>>,
    /// Emptied step vectors, to be filled again (see [`Ev::spare_vector`]).
    spare: RefCell<Vec<Vec<Sample>>>,
    /// Samples held: loaded points, values kept by subqueries and a range query's result.
    held: Cell<usize>,
    /// The largest step-invariant sub-expressions of a range query (see [`step_invariant`]),
    /// by the address of their `Expr`, and the value each gave at its first evaluation.
    invariant: HashSet<usize, std::hash::BuildHasherDefault<crate::binop::sig::SigHasher>>,
    invariant_vals: RefCell<NodeMap<Val>>,
}

/// Functions besides the date functions ([`DATE_FUNCS`]) whose value depends on the
/// evaluation time itself, not only on their arguments; with those, 2.42's
/// `AtModifierUnsafeFunctions`: never step-invariant. (`timestamp` of anything but a selector
/// is the evaluation time.)
const TIME_DEPENDENT: [&str; 3] = ["predict_linear", "time", "timestamp"];

/// Whether `e` has the same value at every step of a range query (sample times aside): its
/// selectors and subqueries are all pinned with `@`, and it calls no function of
/// [`TIME_DEPENDENT`] (2.42's `preprocessExpr` rules, which evaluate such an expression once
/// and repeat its value at every step; as there, an aggregation's parameter is not looked at).
fn step_invariant(e: &Expr) -> bool {
    match e {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => true,
        Expr::Paren(p) => step_invariant(&p.expr),
        Expr::Unary(u) => step_invariant(&u.expr),
        Expr::VectorSelector(vs) => vs.at.is_some(),
        Expr::MatrixSelector(ms) => ms.vs.at.is_some(),
        Expr::Subquery(sq) => sq.at.is_some(),
        Expr::Aggregate(a) => step_invariant(&a.expr),
        Expr::Binary(b) => step_invariant(&b.lhs) && step_invariant(&b.rhs),
        Expr::Call(c) => {
            !TIME_DEPENDENT.contains(&c.func.name)
                && !DATE_FUNCS.contains(&c.func.name)
                && c.args.args.iter().all(|a| step_invariant(a))
        }
        Expr::Extension(_) => false,
    }
}

/// Adds to `out` the largest step-invariant sub-expressions of `e` worth keeping (not bare
/// literals), `e` itself when it is one.
fn collect_invariant<S: std::hash::BuildHasher>(
    e: &Expr,
    parent_invariant: bool,
    out: &mut HashSet<usize, S>,
) {
    let inv = step_invariant(e);
    if inv && !parent_invariant && !matches!(e, Expr::NumberLiteral(_) | Expr::StringLiteral(_)) {
        out.insert(e as *const Expr as usize);
    }
    let mut walk = |c: &Expr| collect_invariant(c, inv || parent_invariant, out);
    match e {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::VectorSelector(_) => {}
        Expr::Extension(_) => {}
        Expr::Paren(p) => walk(&p.expr),
        Expr::Unary(u) => walk(&u.expr),
        Expr::MatrixSelector(_) => {}
        Expr::Subquery(sq) => walk(&sq.expr),
        Expr::Aggregate(a) => {
            walk(&a.expr);
            if let Some(p) = &a.param {
                walk(p);
            }
        }
        Expr::Binary(b) => {
            walk(&b.lhs);
            walk(&b.rhs);
        }
        Expr::Call(c) => {
            for a in &c.args.args {
                // `timestamp` of a selector reads its points' times, which a kept vector's
                // samples do not carry (2.42 unwraps a step-invariant selector there too).
                if c.func.name == "timestamp" && matches!(unparen(a), Expr::VectorSelector(_)) {
                    continue;
                }
                walk(a);
            }
        }
    }
}

fn node_key<T>(n: &T) -> usize {
    n as *const T as usize
}

fn dur_ms(d: &std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => dur_ms(d),
        Some(Offset::Neg(d)) => dur_ms(d).saturating_neg(),
    }
}

/// The first multiple of `step` at or after `x`.
fn align_up(x: i64, step: i64) -> i64 {
    let a = x.div_euclid(step).saturating_mul(step);
    if a < x { a.saturating_add(step) } else { a }
}

/// Whether range function `f` keeps the metric name (2.42: only `last_over_time`, which acts
/// like an offset).
fn keeps_name(_name: &str, f: RangeFn) -> bool {
    f.keeps_name()
}

fn translate_selector(vs: &VectorSelector) -> Result<Selector> {
    let mut sel = match &vs.name {
        Some(n) => Selector::metric(n),
        None => Selector {
            metric: None,
            matchers: Vec::new(),
        },
    };
    for m in &vs.matchers.matchers {
        let op = match m.op {
            PMatchOp::Equal => MatchOp::Eq,
            PMatchOp::NotEqual => MatchOp::Ne,
            PMatchOp::Re(_) => MatchOp::Re,
            PMatchOp::NotRe(_) => MatchOp::Nre,
        };
        let tm = Matcher::new(&m.name, op, &m.value).map_err(|e| Error::Parse(e.message))?;
        sel = sel.with(tm);
    }
    Ok(sel)
}

/// Labels of `absent(…)`/`absent_over_time(…)`: the equality matchers of the selector, a
/// label matched more than once (or otherwise) left out, as 2.42 does.
fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::default(),
    };
    let mut out = Labels::default();
    let mut has = HashSet::new();
    for m in &vs.matchers.matchers {
        if m.name == crate::METRIC_NAME {
            continue;
        }
        if matches!(m.op, PMatchOp::Equal) && !has.contains(m.name.as_str()) {
            out.set(&m.name, &m.value);
            has.insert(m.name.as_str());
        } else {
            out.remove(&m.name);
        }
    }
    out
}

/// Output label set → the hash of the input series it came from; hashed with the crate's fast
/// label hasher, as this is looked up for every series at every step.
type OriginMap = LabelMap<u64>;

/// A map keyed by label set, hashed with the crate's fast label hasher (looked up per series
/// per step).
type LabelMap<V> = HashMap<Labels, V, std::hash::BuildHasherDefault<crate::binop::sig::SigHasher>>;

/// A map keyed by a node of the parsed expression ([`node_key`]), looked up at every step:
/// hashed with the crate's fast hasher, not SipHash (the keys are addresses, not input).
type NodeMap<V> = HashMap<usize, V, std::hash::BuildHasherDefault<crate::binop::sig::SigHasher>>;

fn label_hash(l: &Labels) -> u64 {
    let mut h = crate::binop::sig::SigHasher::default();
    l.hash(&mut h);
    h.finish()
}

/// Fails when two samples have the same labels.
fn check_unique(v: &[Sample]) -> Result<()> {
    if v.len() < 2 {
        return Ok(());
    }
    let mut refs: Vec<&Labels> = v.iter().map(|s| &s.labels).collect();
    refs.sort_unstable();
    if refs.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::Execution(
            "vector cannot contain metrics with the same labelset".into(),
        ));
    }
    Ok(())
}

fn agg_op(name: &str) -> Result<AggOp> {
    Ok(match name {
        "sum" => AggOp::Sum,
        "avg" => AggOp::Avg,
        "min" => AggOp::Min,
        "max" => AggOp::Max,
        "count" => AggOp::Count,
        "group" => AggOp::Group,
        "stddev" => AggOp::Stddev,
        "stdvar" => AggOp::Stdvar,
        "topk" => AggOp::Topk,
        "bottomk" => AggOp::Bottomk,
        "quantile" => AggOp::Quantile,
        "count_values" => AggOp::CountValues,
        other => return Err(Error::Unsupported(format!("the aggregation {other}"))),
    })
}

fn bin_op(name: &str) -> Result<BinOp> {
    Ok(match name {
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "%" => BinOp::Mod,
        "^" => BinOp::Pow,
        "atan2" => BinOp::Atan2,
        "==" => BinOp::Eq,
        "!=" => BinOp::Ne,
        ">" => BinOp::Gt,
        "<" => BinOp::Lt,
        ">=" => BinOp::Ge,
        "<=" => BinOp::Le,
        "and" => BinOp::And,
        "or" => BinOp::Or,
        "unless" => BinOp::Unless,
        other => return Err(Error::Unsupported(format!("the operator {other}"))),
    })
}

fn matching(b: &BinaryExpr, op: BinOp) -> VectorMatching {
    let m = b.modifier.as_ref();
    let card = if op.is_set() {
        Cardinality::ManyToMany
    } else {
        match m.map(|m| &m.card) {
            Some(VectorMatchCardinality::ManyToOne(l)) => Cardinality::ManyToOne(l.labels.clone()),
            Some(VectorMatchCardinality::OneToMany(l)) => Cardinality::OneToMany(l.labels.clone()),
            Some(VectorMatchCardinality::ManyToMany) => Cardinality::ManyToMany,
            _ => Cardinality::OneToOne,
        }
    };
    let (on, labels) = match m.and_then(|m| m.matching.as_ref()) {
        Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
        None => (false, Vec::new()),
    };
    VectorMatching { card, on, labels }
}

impl<'a> Ev<'a> {
    fn new(opts: &'a Options, start: i64, end: i64, step: i64) -> Self {
        Ev {
            opts,
            start,
            end,
            step,
            tier_split: NodeMap::default(),
            data: NodeMap::default(),
            subqueries: RefCell::new(NodeMap::default()),
            warnings: Vec::new(),
            ticks: Cell::new(0),
            origins: RefCell::new(NodeMap::default()),
            per_series: RefCell::new(NodeMap::default()),
            groups: RefCell::new(NodeMap::default()),
            agg_specs: RefCell::new(NodeMap::default()),
            bin_specs: RefCell::new(NodeMap::default()),
            spare: RefCell::new(Vec::new()),
            unique: RefCell::new(NodeMap::default()),
            instant_at: RefCell::new(NodeMap::default()),
            results: RefCell::new(NodeMap::default()),
            relabeled: RefCell::new(NodeMap::default()),
            histograms: RefCell::new(NodeMap::default()),
            held: Cell::new(0),
            invariant: HashSet::default(),
            invariant_vals: RefCell::new(NodeMap::default()),
        }
    }

    /// 2.42 checks the whole result of unary minus and of a range function (over every
    /// step) for two series with one label set: notes that `out` came from the series whose
    /// labels hash to `origin`, and fails if it came from another one at an earlier step.
    fn note_origin(&self, node: usize, out: &Labels, origin: u64) -> Result<()> {
        if self.start == self.end {
            // One step: the check of each step's vector is the same.
            return Ok(());
        }
        let mut all = self.origins.borrow_mut();
        let seen = all.entry(node).or_default();
        match seen.get(out) {
            Some(&o) if o != origin => Err(Error::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            )),
            Some(_) => Ok(()),
            None => {
                seen.insert(out.clone(), origin);
                Ok(())
            }
        }
    }

    /// [`check_unique`] of node `node`'s vector at one step; skipped when the vector holds
    /// the very label sets (shared, in the same order) the node's previous step had, which
    /// were found unique then. Series tend to come with the same labels at every step.
    fn check_unique_at(&self, node: usize, v: &[Sample]) -> Result<()> {
        if v.len() < 2 {
            return Ok(());
        }
        let mut all = self.unique.borrow_mut();
        let prev = all.entry(node).or_default();
        if prev.len() == v.len() && prev.iter().zip(v).all(|(p, s)| p.same(&s.labels)) {
            return Ok(());
        }
        prev.clear();
        check_unique(v)?;
        prev.extend(v.iter().map(|s| s.labels.clone()));
        Ok(())
    }

    /// `histogram_quantile(q, input)` at node `node`, as `funcs::histogram::histogram_quantile`
    /// answers it (groups in the order their first bucket comes), with what the node kept of
    /// the input's label sets at earlier steps.
    fn histogram_quantile(&self, node: usize, q: f64, input: &[Sample], t: i64) -> Vec<Sample> {
        use crate::funcs::histogram::{BUCKET_LABEL, bucket_quantile, parse_go_float};
        let mut all = self.histograms.borrow_mut();
        let h = all.entry(node).or_default();
        if h.by_addr.len() >= HISTOGRAMS_KEPT {
            *h = Histograms::default();
        }
        let mut order = Vec::new();
        for s in input {
            let place = match h.by_addr.get(&s.labels.addr()) {
                Some(&(_, place)) => place,
                None => {
                    let place = s
                        .labels
                        .get(BUCKET_LABEL)
                        .and_then(parse_go_float)
                        .map(|upper| {
                            let mut key = s.labels.clone();
                            key.remove(BUCKET_LABEL);
                            let id = match h.ids.get(&key) {
                                Some(&id) => id,
                                None => {
                                    let id = h.out_labels.len();
                                    h.out_labels.push(key.clone().without_name());
                                    h.buckets.push(Vec::new());
                                    h.ids.insert(key, id);
                                    id
                                }
                            };
                            (id, upper)
                        });
                    h.by_addr.insert(s.labels.addr(), (s.labels.clone(), place));
                    place
                }
            };
            if let Some((id, upper)) = place {
                if h.buckets[id].is_empty() {
                    order.push(id);
                }
                h.buckets[id].push((upper, s.v));
            }
        }
        order
            .into_iter()
            .map(|id| {
                let v = bucket_quantile(q, &mut h.buckets[id]);
                h.buckets[id].clear();
                Sample {
                    labels: h.out_labels[id].clone(),
                    t,
                    v,
                }
            })
            .collect()
    }

    /// `label_replace` or `label_join` (node `node`, its arguments evaluated): a sample's
    /// new labels depend only on its labels and the string arguments, so those the node made
    /// for a shared label set at an earlier step are taken again, without matching the
    /// regular expression and copying the labels at every step. Only the samples whose labels
    /// are new go through the function (which also checks the arguments, at every step).
    fn relabel(&self, node: usize, name: &str, mut args: Vec<Arg>, t: i64) -> Result<Vec<Sample>> {
        let strings = || {
            args.iter().filter_map(|a| match a {
                Arg::String(s) => Some(s.as_str()),
                _ => None,
            })
        };
        let mut all = self.relabeled.borrow_mut();
        let memo = all.entry(node).or_default();
        if !memo.args.iter().map(String::as_str).eq(strings()) {
            memo.made.clear();
            memo.args = strings().map(str::to_owned).collect();
        }
        let input = match args.first_mut() {
            Some(Arg::Vector(v)) => std::mem::take(v),
            _ => return expect_vector(instant::call(name, args, t)?),
        };
        // Room for this step's label sets, so that none of them is dropped below.
        if memo.made.len() + input.len() > RELABELED_KEPT {
            memo.made.clear();
        }
        let missing: Vec<Sample> = input
            .iter()
            .filter(|s| !memo.made.contains_key(&s.labels.addr()))
            .cloned()
            .collect();
        if !missing.is_empty() || input.is_empty() {
            let keys: Vec<Labels> = missing.iter().map(|s| s.labels.clone()).collect();
            args[0] = Arg::Vector(missing);
            let out = expect_vector(instant::call(name, args, t)?)?;
            if out.len() != keys.len() {
                return Err(Error::Execution(format!(
                    "{name} gave {} samples for {}",
                    out.len(),
                    keys.len()
                )));
            }
            for (k, o) in keys.into_iter().zip(out) {
                memo.made.insert(k.addr(), (k, o.labels));
            }
        }
        input
            .into_iter()
            .map(|s| match memo.made.get(&s.labels.addr()) {
                Some((_, labels)) => Ok(Sample {
                    labels: labels.clone(),
                    t,
                    v: s.v,
                }),
                None => Err(Error::Execution(format!("{name} lost a label set"))),
            })
            .collect()
    }

    /// Counts `n` more samples held against [`Options::max_samples`].
    fn note_samples(&self, n: usize) -> Result<()> {
        let total = self.held.get().saturating_add(n);
        self.held.set(total);
        if total > self.opts.max_samples {
            return Err(Error::TooManySamples {
                limit: self.opts.max_samples,
            });
        }
        Ok(())
    }

    /// An empty vector for a step's samples: one a finished step gave back, if any.
    fn spare_vector(&self) -> Vec<Sample> {
        self.spare.borrow_mut().pop().unwrap_or_default()
    }

    /// Gives back a step's vector, emptied, for [`Ev::spare_vector`].
    fn give_back(&self, mut v: Vec<Sample>) {
        v.clear();
        let mut spare = self.spare.borrow_mut();
        if spare.len() < 8 {
            spare.push(v);
        }
    }

    /// Stops on cancel (every call) or past the deadline (every 64th call).
    fn tick(&self) -> Result<()> {
        if let Some(c) = &self.opts.cancel
            && c.load(Ordering::Relaxed)
        {
            return Err(Error::Canceled);
        }
        let n = self.ticks.get().wrapping_add(1);
        self.ticks.set(n);
        if n % 64 == 1
            && let Some(d) = self.opts.deadline
            && Instant::now() >= d
        {
            return Err(Error::Timeout);
        }
        Ok(())
    }

    fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.start),
            Some(AtModifier::End) => Some(self.end),
            Some(AtModifier::At(st)) => Some(match st.duration_since(SystemTime::UNIX_EPOCH) {
                Ok(d) => dur_ms(&d),
                Err(e) => dur_ms(&e.duration()).saturating_neg(),
            }),
        }
    }

    /// The reference time of a selector or subquery evaluated at `t`: `@` or `t`, minus the
    /// offset.
    fn ref_time(&self, at: &Option<AtModifier>, off: &Option<Offset>, t: i64) -> i64 {
        self.at_ms(at).unwrap_or(t).saturating_sub(offset_ms(off))
    }

    /// The span of reference times over evaluation times `[lo, hi]`.
    fn ref_span(
        &self,
        at: &Option<AtModifier>,
        off: &Option<Offset>,
        lo: i64,
        hi: i64,
    ) -> (i64, i64) {
        (self.ref_time(at, off, lo), self.ref_time(at, off, hi))
    }

    /// Finds every selector's span over evaluation times `[lo, hi]`.
    fn plan<'e>(
        &self,
        e: &'e Expr,
        lo: i64,
        hi: i64,
        out: &mut Vec<(&'e VectorSelector, i64, i64)>,
    ) {
        match e {
            Expr::VectorSelector(vs) => {
                let (a, b) = self.ref_span(&vs.at, &vs.offset, lo, hi);
                out.push((vs, a.saturating_sub(self.opts.lookback_delta_ms), b));
            }
            Expr::MatrixSelector(ms) => {
                let (a, b) = self.ref_span(&ms.vs.at, &ms.vs.offset, lo, hi);
                out.push((&ms.vs, a.saturating_sub(dur_ms(&ms.range)), b));
            }
            Expr::Subquery(sq) => {
                let step = subquery_step(sq);
                let (a, b) = self.ref_span(&sq.at, &sq.offset, lo, hi);
                let first = align_up(a.saturating_sub(dur_ms(&sq.range)), step);
                if first <= b {
                    self.plan(&sq.expr, first, b, out);
                }
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.plan(p, lo, hi, out);
                }
                self.plan(&a.expr, lo, hi, out);
            }
            Expr::Unary(u) => self.plan(&u.expr, lo, hi, out),
            Expr::Binary(b) => {
                self.plan(&b.lhs, lo, hi, out);
                self.plan(&b.rhs, lo, hi, out);
            }
            Expr::Paren(p) => self.plan(&p.expr, lo, hi, out),
            Expr::Call(c) => {
                for a in &c.args.args {
                    self.plan(a, lo, hi, out);
                }
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }

    /// Reads every selector's series once, for the span it needs.
    fn load(&mut self, store: &Store, parsed: &Parsed, lo: i64, hi: i64) -> Result<()> {
        let e = &parsed.expr;
        let mut spans = Vec::new();
        self.plan(e, lo, hi, &mut spans);
        let mut tiered = HashMap::new();
        tier::candidates(e, &mut tiered);
        let mut seen_warnings: HashSet<String> = HashSet::new();
        for (vs, from, to) in spans {
            let known = lock(&parsed.selectors).get(&node_key(vs)).cloned();
            let sel = match known {
                Some(sel) => sel,
                None => {
                    let sel = translate_selector(vs)?;
                    lock(&parsed.selectors).insert(node_key(vs), sel.clone());
                    sel
                }
            };
            let mut series = Vec::new();
            if from <= to {
                let mut it = store.query_iter(&sel, from, to.saturating_add(1))?;
                for sp in it.by_ref() {
                    self.tick()?;
                    self.note_samples(sp.points.len())?;
                    let labels = Labels::from_series(&sp.metric, &sp.labels);
                    let unnamed = labels.clone().without_name();
                    series.push(Loaded {
                        labels,
                        unnamed,
                        points: sp.points,
                        buckets: Vec::new(),
                    });
                }
                for w in it.into_warnings() {
                    if seen_warnings.insert(w.clone()) {
                        self.warnings.push(w);
                    }
                }
            }
            if from <= to
                && let Some(&instant) = tiered.get(&node_key(vs))
            {
                self.load_tier(store, vs, &sel, (from, to), instant, &mut series)?;
            }
            self.data.insert(node_key(vs), series);
        }
        Ok(())
    }

    /// Where `vs`'s windows reach before the raw points kept, loads exact tiles of the windows
    /// from the rollup tiers (see `tier`): of width the greatest common divisor of the range,
    /// the step and the first window's end, so that every window is whole tiles.
    fn load_tier(
        &mut self,
        store: &Store,
        vs: &VectorSelector,
        sel: &Selector,
        (from, to): (i64, i64),
        instant: bool,
        series: &mut Vec<Loaded>,
    ) -> Result<()> {
        // No raw window at all: every window is before the raw points.
        let raw_from = store.raw_from().unwrap_or(i64::MAX);
        let tiers = store.tiers();
        if from >= raw_from || tiers.is_empty() {
            return Ok(());
        }
        let first_ref = self.ref_time(&vs.at, &vs.offset, self.start);
        let range = first_ref.saturating_sub(from);
        let fixed = vs.at.is_some() || self.step == 0;
        let w = tier::tile_width(range, if fixed { 0 } else { self.step }, first_ref);
        let finest = tiers[0].1;
        if range <= 0 || w < finest || w % finest != 0 {
            // An instant selector's lookback is no window the query chose: misaligned, it
            // keeps to the raw points as it did before tier answers, without a warning (which
            // would also come where nothing before the raw points ever existed).
            if instant {
                return Ok(());
            }
            self.warnings.push(format!(
                "raw points of {vs} {}, and windows reaching before then cannot be answered \
                 from the rollup tiers: the range, step and evaluation times are not all \
                 multiples of a tier's interval ({}); those windows hold only the raw points kept",
                expired_text(raw_from),
                tiers
                    .iter()
                    .map(|t| tier::duration_text(t.1))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return Ok(());
        }
        let split = if raw_from == i64::MAX {
            raw_from
        } else {
            align_up(raw_from, w)
        };
        // Only windows starting before the raw points use tiles, and they end before
        // `split + range`: later tiles would repeat what the raw points answer.
        let tiles_to = to.min(split.saturating_add(range));
        let mut it = store.query_step_iter(
            sel,
            from,
            tiles_to.max(from.saturating_add(1)),
            Duration::from_millis(w as u64),
        )?;
        let mut index: HashMap<Labels, usize> = series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.labels.clone(), i))
            .collect();
        // Per source tier: the span its tiles cover.
        let mut sources: Vec<(String, i64, i64)> = Vec::new();
        for sb in it.by_ref() {
            self.tick()?;
            let labels = Labels::from_series(&sb.metric, &sb.labels);
            self.note_samples(sb.points.len())?;
            let mut tiles = Vec::with_capacity(sb.points.len());
            for b in &sb.points {
                if b.width_ms != w {
                    if b.t < raw_from {
                        return Err(Error::Execution(format!(
                            "{vs}[{}] cannot be answered exactly from the rollup tiers: between \
                             {} and {} ms only the {} tier's {} buckets are left, wider than the \
                             {} tiles its windows need (choose a range and step on a multiple of \
                             {})",
                            tier::duration_text(range),
                            b.t,
                            b.t + b.width_ms,
                            b.tier,
                            tier::duration_text(b.width_ms),
                            tier::duration_text(w),
                            tier::duration_text(b.width_ms)
                        )));
                    }
                    continue;
                }
                if &*b.tier != "raw" {
                    match sources.iter_mut().find(|x| x.0 == *b.tier) {
                        Some(x) => (x.1, x.2) = (x.1.min(b.t), x.2.max(b.t + w)),
                        None => sources.push((b.tier.to_string(), b.t, b.t + w)),
                    }
                }
                tiles.push(TierBucket {
                    t: b.t,
                    count: b.count,
                    nan: b.nan_count,
                    min: b.min,
                    max: b.max,
                    sum: b.sum,
                    last: b.last,
                    increase: b.increase,
                    p95: b.p95,
                });
            }
            let i = match index.get(&labels) {
                Some(&i) => i,
                None => {
                    let unnamed = labels.clone().without_name();
                    index.insert(labels.clone(), series.len());
                    series.push(Loaded {
                        labels,
                        unnamed,
                        points: Vec::new(),
                        buckets: Vec::new(),
                    });
                    series.len() - 1
                }
            };
            series[i].buckets = tiles;
        }
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        self.warnings.extend(it.into_warnings());
        if !sources.is_empty() {
            let from_tiers: Vec<String> = sources
                .iter()
                .map(|(t, a, b)| format!("the {t} tier for [{a}, {b}) ms"))
                .collect();
            self.warnings.push(format!(
                "raw points of {vs} {}: windows reaching before then are answered from exact {} \
                 tiles of {} (docs/promql.md, tier-aware evaluation: a point exactly at the end \
                 of a window answered from tiles is not counted, and increase and rate there are \
                 not extrapolated)",
                expired_text(raw_from),
                tier::duration_text(w),
                from_tiers.join(", ")
            ));
        }
        self.tier_split
            .insert(node_key(vs), TierSplit { raw_from, split });
        Ok(())
    }

    fn loaded(&self, vs: &VectorSelector) -> &[Loaded] {
        self.data
            .get(&node_key(vs))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// An instant selector at `t`: each series' latest point in `[ref - lookback, ref]`,
    /// carrying the point's own timestamp. Where the lookback reaches before the raw points
    /// kept and the tiers answer the selector, it is the window's `last_over_time` from the
    /// tiles before the split and the raw points after it, stamped with the reference time
    /// (a bucket keeps no point times; `timestamp`'s argument is never answered so).
    fn instant_selector(&self, vs: &VectorSelector, t: i64) -> Result<Vec<Sample>> {
        let r = self.ref_time(&vs.at, &vs.offset, t);
        let oldest = r.saturating_sub(self.opts.lookback_delta_ms);
        let series = self.loaded(vs);
        let mut out = self.spare_vector();
        out.reserve(series.len());
        if let Some(ts) = self.tier_split.get(&node_key(vs))
            && oldest < ts.raw_from
        {
            for (i, s) in series.iter().enumerate() {
                if i % 64 == 63 {
                    self.tick()?;
                }
                let lo = s.buckets.partition_point(|b| b.t < oldest);
                let hi = s.buckets.partition_point(|b| b.t < ts.split.min(r));
                let bs = if lo < hi { &s.buckets[lo..hi] } else { &[] };
                let raw = s.window(ts.split.max(oldest), r);
                if let Some(v) = tier::combine("last_over_time", bs, raw, &s.labels)? {
                    out.push(Sample {
                        labels: s.labels.clone(),
                        t: r,
                        v,
                    });
                }
            }
            return Ok(out);
        }
        let mut all = self.instant_at.borrow_mut();
        let at = all.entry(node_key(vs)).or_default();
        at.resize(series.len(), 0);
        for (i, (s, at)) in series.iter().zip(at.iter_mut()).enumerate() {
            if i % 64 == 63 {
                self.tick()?;
            }
            let idx = partition_from(&s.points, *at, |p| p.0 <= r);
            *at = idx;
            if idx > 0 {
                let (pt, v) = s.points[idx - 1];
                if pt >= oldest {
                    out.push(Sample {
                        labels: s.labels.clone(),
                        t: pt,
                        v,
                    });
                }
            }
        }
        Ok(out)
    }

    /// A range selector at `t`: each series' points in `[ref - range, ref]`.
    fn matrix_selector(&self, ms: &MatrixSelector, t: i64) -> Result<Vec<Series>> {
        let r = self.ref_time(&ms.vs.at, &ms.vs.offset, t);
        let from = r.saturating_sub(dur_ms(&ms.range));
        let mut out = Vec::new();
        for s in self.loaded(&ms.vs) {
            self.tick()?;
            let w = s.window(from, r);
            if !w.is_empty() {
                out.push(Series {
                    labels: s.labels.clone(),
                    points: w.to_vec(),
                });
            }
        }
        Ok(out)
    }

    /// A subquery at `t`: its inner expression at every multiple of its step in
    /// `[ref - range, ref]`; `each` gets every series with points there (its number in the
    /// node's cache, the same at every step, its labels with and without the metric name,
    /// points), in no particular order.
    fn subquery(
        &self,
        sq: &SubqueryExpr,
        t: i64,
        mut each: impl FnMut(usize, &Labels, &Labels, &[(i64, f64)]) -> Result<()>,
    ) -> Result<()> {
        let step = subquery_step(sq);
        let r = self.ref_time(&sq.at, &sq.offset, t);
        let first = align_up(r.saturating_sub(dur_ms(&sq.range)), step);
        let key = node_key(sq);
        let taken = self.subqueries.borrow_mut().remove(&key);
        let mut cache: SubCache = taken.unwrap_or_default();
        // Steps only move forward: what lies before this window is not needed again.
        let kept = cache.rows.split_off(&first);
        let dropped: usize = cache.rows.values().map(|r| r.len().max(1)).sum();
        self.held.set(self.held.get().saturating_sub(dropped));
        cache.rows = kept;
        // A window that starts before the previous one would need rows already dropped, and
        // one that ends before the rows appended would hold too many: start again (steps move
        // forward, so neither happens).
        if cache.first.is_some_and(|f| first < f) || cache.appended.is_some_and(|a| a > r) {
            cache.evaluated = None;
            cache.appended = None;
            cache.win.iter_mut().for_each(Vec::clear);
            cache.start.iter_mut().for_each(|s| *s = 0);
        }
        cache.first = Some(first);
        // The steps up to the newest one evaluated have their rows: start after it.
        let mut ti = match cache.evaluated {
            Some(e) if e >= first && e <= r => match e.checked_add(step) {
                Some(n) => n,
                None => r.saturating_add(1),
            },
            _ => first,
        };
        while ti <= r {
            cache.evaluated = Some(ti);
            if !cache.rows.contains_key(&ti) {
                self.tick()?;
                let row = match self.eval(&sq.expr, ti)? {
                    Val::Scalar(v) => vec![(cache.id(Labels::default()), v)],
                    Val::Vector(v) => v.into_iter().map(|s| (cache.id(s.labels), s.v)).collect(),
                    other => {
                        return Err(Error::Execution(format!(
                            "subquery is only allowed on instant vector, got {}",
                            other.kind()
                        )));
                    }
                };
                // An empty step counts as one, so that a subquery of millions of empty steps
                // stops at the limit too.
                self.note_samples(row.len().max(1))?;
                cache.rows.insert(ti, row);
            }
            match ti.checked_add(step) {
                Some(n) => ti = n,
                None => break,
            }
        }
        // Each series' points in the window: the rows not appended yet go to the end of its
        // buffer, the points before the window are passed over (and dropped once they are
        // half the buffer).
        cache.win.resize(cache.labels.len(), Vec::new());
        cache.start.resize(cache.labels.len(), 0);
        let lower = cache
            .appended
            .map_or(first, |a| a.saturating_add(1).max(first));
        // A range shorter than the step may hold no step at all: then `first` is past `r`.
        if lower <= r {
            for (&ts, row) in cache.rows.range(lower..=r) {
                for &(i, v) in row {
                    cache.win[i].push((ts, v));
                }
                cache.appended = Some(ts);
            }
        }
        for (w, s) in cache.win.iter_mut().zip(&mut cache.start) {
            *s += w[*s..].partition_point(|p| p.0 < first);
            if *s > 0 && *s * 2 >= w.len() {
                w.drain(..*s);
                *s = 0;
            }
        }
        let mut res = Ok(());
        for (i, (w, &s)) in cache.win.iter().zip(&cache.start).enumerate() {
            let pts = &w[s..];
            if !pts.is_empty() {
                let (named, unnamed) = &cache.labels[i];
                res = each(i, named, unnamed, pts);
                if res.is_err() {
                    break;
                }
            }
        }
        self.subqueries.borrow_mut().insert(key, cache);
        res
    }

    /// A subquery at `t` as a range vector ordered by labels.
    fn subquery_matrix(&self, sq: &SubqueryExpr, t: i64) -> Result<Vec<Series>> {
        let mut out = Vec::new();
        self.subquery(sq, t, |_, labels, _, pts| {
            out.push(Series {
                labels: labels.clone(),
                points: pts.to_vec(),
            });
            Ok(())
        })?;
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    fn eval(&self, e: &Expr, t: i64) -> Result<Val> {
        if !self.invariant.is_empty() {
            let key = e as *const Expr as usize;
            if self.invariant.contains(&key) {
                if let Some(v) = self.invariant_vals.borrow().get(&key) {
                    return Ok(v.at(t));
                }
                let v = self.eval_node(e, t)?;
                self.invariant_vals.borrow_mut().insert(key, v.clone());
                return Ok(v);
            }
        }
        self.eval_node(e, t)
    }

    /// [`Ev::eval`] of `e` itself (not from what a step-invariant node kept).
    fn eval_node(&self, e: &Expr, t: i64) -> Result<Val> {
        match e {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Val::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Val::Scalar(v) => Ok(Val::Scalar(-v)),
                Val::Vector(v) => {
                    let mut out = Vec::with_capacity(v.len());
                    for s in v {
                        let origin = label_hash(&s.labels);
                        let labels = s.labels.without_name();
                        self.note_origin(node_key(u), &labels, origin)?;
                        out.push(Sample { labels, t, v: -s.v });
                    }
                    self.check_unique_at(node_key(u), &out)?;
                    Ok(Val::Vector(out))
                }
                other => Err(Error::Execution(format!(
                    "unary minus is not defined on a {}",
                    other.kind()
                ))),
            },
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.instant_selector(vs, t)?)),
            Expr::MatrixSelector(ms) => Ok(Val::Matrix(self.matrix_selector(ms, t)?)),
            Expr::Subquery(sq) => Ok(Val::Matrix(self.subquery_matrix(sq, t)?)),
            Expr::Aggregate(a) => self.aggregate(a, t),
            Expr::Binary(b) => self.binary(b, t),
            Expr::Call(c) => self.call(c, t),
            Expr::Extension(x) => Err(Error::Unsupported(format!(
                "the extension {}",
                x.expr.name()
            ))),
        }
    }

    fn vector(&self, e: &Expr, t: i64, what: &str) -> Result<Vec<Sample>> {
        match self.eval(e, t)? {
            Val::Vector(v) => Ok(v),
            other => Err(Error::Execution(format!(
                "{what} expects an instant vector, got a {}",
                other.kind()
            ))),
        }
    }

    fn scalar(&self, e: &Expr, t: i64, what: &str) -> Result<f64> {
        match self.eval(e, t)? {
            Val::Scalar(v) => Ok(v),
            other => Err(Error::Execution(format!(
                "{what} expects a scalar, got a {}",
                other.kind()
            ))),
        }
    }

    /// An aggregation node's operator and grouping, made at its first step.
    fn agg_spec(&self, a: &AggregateExpr) -> Result<Rc<AggSpec>> {
        let key = node_key(a);
        if let Some(s) = self.agg_specs.borrow().get(&key) {
            return Ok(s.clone());
        }
        let name = a.op.to_string();
        let op = agg_op(&name)?;
        let grouping = match &a.modifier {
            None => Grouping::By(Vec::new()),
            Some(LabelModifier::Include(l)) => Grouping::By(l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => Grouping::Without(l.labels.clone()),
        };
        let s = Rc::new(AggSpec { name, op, grouping });
        self.agg_specs.borrow_mut().insert(key, s.clone());
        Ok(s)
    }

    /// A binary node's operator and matching, made at its first step.
    fn bin_spec(&self, b: &BinaryExpr) -> Result<Rc<BinSpec>> {
        let key = node_key(b);
        if let Some(s) = self.bin_specs.borrow().get(&key) {
            return Ok(s.clone());
        }
        let op = bin_op(&b.op.to_string())?;
        let s = Rc::new(BinSpec {
            op,
            matching: matching(b, op),
        });
        self.bin_specs.borrow_mut().insert(key, s.clone());
        Ok(s)
    }

    fn aggregate(&self, a: &AggregateExpr, t: i64) -> Result<Val> {
        let spec = self.agg_spec(a)?;
        let (name, op, grouping) = (&spec.name, spec.op, &spec.grouping);
        let param = match &a.param {
            None => AggParam::None,
            Some(p) => match self.eval(p, t)? {
                Val::Scalar(v) => AggParam::Number(v),
                Val::Str(s) => AggParam::Label(s),
                other => {
                    return Err(Error::Execution(format!(
                        "the parameter of {name} must be a scalar or a string, got a {}",
                        other.kind()
                    )));
                }
            },
        };
        let mut input = self.vector(&a.expr, t, name)?;
        // Nothing below evaluates an expression: the borrow is not taken again meanwhile.
        let out = {
            let mut groups = self.groups.borrow_mut();
            let known = groups.entry(node_key(a)).or_default();
            let out = self.spare_vector();
            crate::aggr::aggregate_with(op, &param, grouping, &mut input, t, known, out)?
        };
        self.give_back(input);
        Ok(Val::Vector(out))
    }

    fn binary(&self, b: &BinaryExpr, t: i64) -> Result<Val> {
        let spec = self.bin_spec(b)?;
        let op = spec.op;
        let rb = b.return_bool();
        let lhs = self.eval(&b.lhs, t)?;
        let rhs = self.eval(&b.rhs, t)?;
        let out = match (lhs, rhs) {
            (Val::Scalar(x), Val::Scalar(y)) => {
                return Ok(Val::Scalar(crate::binop::scalar_scalar(op, x, y, rb)?));
            }
            (Val::Vector(v), Val::Scalar(s)) => crate::binop::vector_scalar(op, v, s, false, rb, t),
            (Val::Scalar(s), Val::Vector(v)) => crate::binop::vector_scalar(op, v, s, true, rb, t),
            (Val::Vector(l), Val::Vector(r)) => {
                // Nothing below evaluates an expression: the borrow is not taken again.
                let mut all = self.results.borrow_mut();
                let made = all.entry(node_key(b)).or_default();
                crate::binop::vector_vector_with(op, l, r, &spec.matching, rb, t, made)?
            }
            (l, r) => {
                return Err(Error::Execution(format!(
                    "binary operator between a {} and a {}",
                    l.kind(),
                    r.kind()
                )));
            }
        };
        self.check_unique_at(node_key(b), &out)?;
        Ok(Val::Vector(out))
    }

    fn call(&self, c: &Call, t: i64) -> Result<Val> {
        let name = c.func.name;
        let args = &c.args.args;
        match name {
            "time" => return Ok(Val::Scalar(t as f64 / 1000.0)),
            "timestamp" => {
                let arg = args
                    .first()
                    .map(|a| unparen(a))
                    .ok_or_else(|| Error::Execution("timestamp expects one argument".into()))?;
                // Straight from a selector, a sample's time is its point's; otherwise the
                // evaluation time.
                let from_selector = matches!(arg, Expr::VectorSelector(_));
                let v = self.vector(arg, t, name)?;
                let out: Vec<Sample> = v
                    .into_iter()
                    .map(|s| Sample {
                        v: if from_selector { s.t } else { t } as f64 / 1000.0,
                        labels: s.labels.without_name(),
                        t,
                    })
                    .collect();
                self.check_unique_at(node_key(c), &out)?;
                return Ok(Val::Vector(out));
            }
            "absent" => {
                let arg = args
                    .first()
                    .ok_or_else(|| Error::Execution("absent expects one argument".into()))?;
                let v = self.vector(arg, t, name)?;
                return Ok(Val::Vector(if v.is_empty() {
                    vec![Sample {
                        labels: absent_labels(arg),
                        t,
                        v: 1.0,
                    }]
                } else {
                    Vec::new()
                }));
            }
            _ => {}
        }
        if let Some(idx) = args
            .iter()
            .position(|a| a.value_type() == ValueType::Matrix)
        {
            return self.range_call(c, idx, t);
        }
        let mut ev_args = Vec::with_capacity(args.len() + 1);
        for a in args {
            ev_args.push(match self.eval(a, t)? {
                Val::Scalar(v) => Arg::Scalar(v),
                Val::Str(s) => Arg::String(s),
                Val::Vector(v) => Arg::Vector(v),
                Val::Matrix(_) => {
                    return Err(Error::Execution(format!(
                        "{name} does not take a range vector"
                    )));
                }
            });
        }
        if ev_args.is_empty() && DATE_FUNCS.contains(&name) {
            ev_args.push(Arg::Vector(vec![Sample {
                labels: Labels::default(),
                t,
                v: t as f64 / 1000.0,
            }]));
        }
        if name == "round" && ev_args.len() == 1 {
            ev_args.push(Arg::Scalar(1.0));
        }
        if matches!(name, "label_replace" | "label_join") {
            let v = self.relabel(node_key(c), name, ev_args, t)?;
            self.check_unique_at(node_key(c), &v)?;
            return Ok(Val::Vector(v));
        }
        if name == "histogram_quantile"
            && let [Arg::Scalar(q), Arg::Vector(v)] = &ev_args[..]
        {
            let out = self.histogram_quantile(node_key(c), *q, v, t);
            self.check_unique_at(node_key(c), &out)?;
            return Ok(Val::Vector(out));
        }
        match instant::call_unchecked(name, ev_args, t)? {
            Out::Scalar(v) => Ok(Val::Scalar(v)),
            Out::Vector(v) => {
                self.check_unique_at(node_key(c), &v)?;
                Ok(Val::Vector(v))
            }
        }
    }

    /// A function over a range vector (argument `idx`), one sample per series with points
    /// in the window.
    fn range_call(&self, c: &Call, idx: usize, t: i64) -> Result<Val> {
        let name = c.func.name;
        let args = &c.args.args;
        // The scalar arguments (at most two for the functions there are): on the stack.
        let mut inline = [0.0; 4];
        let mut spilled = Vec::new();
        let n = args.len().saturating_sub(1);
        for (j, a) in args
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != idx)
            .map(|(_, a)| a)
            .enumerate()
        {
            let v = self.scalar(a, t, name)?;
            if n <= inline.len() {
                inline[j] = v;
            } else {
                spilled.push(v);
            }
        }
        let params: &[f64] = if n <= inline.len() {
            &inline[..n]
        } else {
            &spilled
        };
        let absent = name == "absent_over_time";
        let f = if absent {
            None
        } else {
            RangeFn::from_name(name)
        };
        let not_implemented =
            || Error::Unsupported(format!("the function {name} is not implemented"));
        let arg = unparen(&args[idx]);
        let split = match arg {
            Expr::MatrixSelector(ms) => self.tier_split.get(&node_key(&ms.vs)).copied(),
            _ => None,
        };
        // A tier-answered selector needs the range function only for windows of raw points.
        if !absent && f.is_none() && split.is_none() {
            return Err(not_implemented());
        }
        let (r, range_ms) = match arg {
            // 2.42 turns `@` into an offset from the query's start, and evaluates a call that
            // depends on the evaluation time (predict_linear) at every step: its window slides
            // with the step from where `@` puts it at the start, over the points the selector
            // loaded for the `@` window only (Prometheus reads that span from storage).
            Expr::MatrixSelector(ms) if ms.vs.at.is_some() && name == "predict_linear" => (
                self.ref_time(&ms.vs.at, &ms.vs.offset, t)
                    .saturating_add(t.saturating_sub(self.start)),
                dur_ms(&ms.range),
            ),
            Expr::MatrixSelector(ms) => (
                self.ref_time(&ms.vs.at, &ms.vs.offset, t),
                dur_ms(&ms.range),
            ),
            Expr::Subquery(sq) => (self.ref_time(&sq.at, &sq.offset, t), dur_ms(&sq.range)),
            _ => {
                return Err(Error::Unsupported(format!(
                    "{name} over a range vector that is neither a selector nor a subquery"
                )));
            }
        };
        let w = Window {
            start: r.saturating_sub(range_ms),
            end: r,
            eval_t: t,
        };
        let mut out = self.spare_vector();
        let mut from_tier = Vec::new();
        let mut any = false;
        let hw = name == HOLT_WINTERS;
        let key = node_key(c);
        let mut states = self
            .per_series
            .borrow_mut()
            .remove(&key)
            .unwrap_or_default();
        // Notes the output labels of loaded series `series` (a subquery's: `None`) once per
        // query: a later step's check would find the same.
        let note = |states: &mut Vec<SeriesState>,
                    series: Option<usize>,
                    labels: &Labels,
                    unnamed: &Labels|
         -> Result<()> {
            if series.is_some_and(|i| states.get(i).is_some_and(|st| st.noted)) {
                return Ok(());
            }
            self.note_origin(key, unnamed, label_hash(labels))?;
            if let Some(i) = series {
                if states.len() <= i {
                    states.resize(i + 1, SeriesState::default());
                }
                states[i].noted = true;
            }
            Ok(())
        };
        let mut apply = |states: &mut Vec<SeriesState>,
                         labels: &Labels,
                         unnamed: &Labels,
                         pts: &[(i64, f64)],
                         series: Option<usize>|
         -> Result<()> {
            if pts.is_empty() {
                return Ok(());
            }
            any = true;
            // 2.42 checks the factors only where a series has two points.
            if hw && pts.len() >= 2 {
                check_holt_winters(params)?;
            }
            if absent {
                return Ok(());
            }
            let f = f.ok_or_else(not_implemented)?;
            if let Some(v) = range::eval_range(f, pts, &w, params) {
                let labels = if keeps_name(name, f) {
                    labels.clone()
                } else {
                    note(states, series, labels, unnamed)?;
                    unnamed.clone()
                };
                out.push(Sample { labels, t, v });
            }
            Ok(())
        };
        match arg {
            Expr::MatrixSelector(ms) => {
                let loaded = self.loaded(&ms.vs);
                if states.len() < loaded.len() {
                    states.resize(loaded.len(), SeriesState::default());
                }
                for (i, s) in loaded.iter().enumerate() {
                    if i % 64 == 63 {
                        self.tick()?;
                    }
                    // A window reaching before the raw points kept goes to the tiles, unless
                    // the series has no tile there: then nothing of it expired (it began
                    // later, or the tiers let go of it too) and its raw points are all of it.
                    let tiled = split.filter(|ts| {
                        w.start < ts.raw_from
                            && !s
                                .tiles_from(w.start, ts.split.min(w.end), &mut [0; 2])
                                .is_empty()
                    });
                    match tiled {
                        Some(ts) => {
                            let st = &mut states[i];
                            let v = if tier::tiles_only(name) {
                                // The window's tiles alone: `[start, end)`.
                                let bs = s.tiles_from(w.start, w.end, &mut st.tiles_at);
                                let phi = params.first().copied().unwrap_or(f64::NAN);
                                tier::from_tiles(name, phi, bs, range_ms, &s.labels)?
                            } else {
                                // Tiles before the split, raw points from it on.
                                let bs =
                                    s.tiles_from(w.start, ts.split.min(w.end), &mut st.tiles_at);
                                let raw =
                                    s.window_from(ts.split.max(w.start), w.end, &mut st.points_at);
                                tier::combine(name, bs, raw, &s.labels)?
                            };
                            if let Some(v) = v {
                                let labels = if name == "last_over_time" {
                                    s.labels.clone()
                                } else {
                                    note(&mut states, Some(i), &s.labels, &s.unnamed)?;
                                    s.unnamed.clone()
                                };
                                from_tier.push(Sample { labels, t, v });
                            }
                        }
                        _ => {
                            let pts = s.window_from(w.start, w.end, &mut states[i].points_at);
                            apply(&mut states, &s.labels, &s.unnamed, pts, Some(i))?
                        }
                    }
                }
            }
            Expr::Subquery(sq) => {
                // A subquery's series keep their numbers over the steps: noted once each too.
                self.subquery(sq, t, |i, named, unnamed, pts| {
                    self.tick()?;
                    apply(&mut states, named, unnamed, pts, Some(i))
                })?;
            }
            _ => {}
        }
        self.per_series.borrow_mut().insert(key, states);
        if absent {
            return Ok(Val::Vector(if any {
                Vec::new()
            } else {
                vec![Sample {
                    labels: absent_labels(&args[idx]),
                    t,
                    v: 1.0,
                }]
            }));
        }
        out.append(&mut from_tier);
        // Over several steps every output label set went through `note_origin`, which
        // refuses two series with one label set whichever steps they are in, so in one step
        // too. Names kept: the loaded series' (or a subquery's) labels, distinct.
        if self.start == self.end {
            check_unique(&out)?;
        }
        Ok(Val::Vector(out))
    }
}

/// "before T ms have expired", or, for a store that keeps no raw points at all, "have all
/// expired".
fn expired_text(raw_from: i64) -> String {
    if raw_from == i64::MAX {
        "have all expired (the store holds none)".to_owned()
    } else {
        format!("before {raw_from} ms have expired")
    }
}

fn subquery_step(sq: &SubqueryExpr) -> i64 {
    sq.step
        .as_ref()
        .map(dur_ms)
        .filter(|&s| s > 0)
        .unwrap_or(DEFAULT_SUBQUERY_STEP_MS)
}

/// 2.42's checks of `holt_winters`' factors.
fn check_holt_winters(params: &[f64]) -> Result<()> {
    if let Some(&sf) = params.first()
        && !(sf > 0.0 && sf < 1.0)
    {
        return Err(Error::Execution(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
        )));
    }
    if let Some(&tf) = params.get(1)
        && !(tf > 0.0 && tf < 1.0)
    {
        return Err(Error::Execution(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `histogram_quantile` node's kept groups answer as the function does on its own, step
    /// after step: the same shared label sets again, buckets gone and back, a new series, a
    /// missing or unparsable `le`, two metrics in one group's labels.
    #[test]
    fn histogram_quantile_with_kept_groups_answers_as_the_function() {
        use crate::test_vectors::s;
        let b = |job: &str, le: &str, v: f64| {
            s(&[("__name__", "h_bucket"), ("job", job), ("le", le)], v)
        };
        let (a1, a2, ainf) = (b("a", "1", 2.0), b("a", "2.5", 5.0), b("a", "+Inf", 8.0));
        let (b1, binf) = (b("b", "0.5", 1.0), b("b", "Inf", 3.0));
        let bad = b("a", "x", 9.0);
        let none = s(&[("__name__", "h_bucket"), ("job", "c")], 4.0);
        let other = s(
            &[("__name__", "g_bucket"), ("job", "d"), ("le", "+Inf")],
            7.0,
        );
        let with_value = |x: &Sample, v: f64| Sample { v, ..x.clone() };
        let all = vec![
            a1.clone(),
            a2.clone(),
            ainf.clone(),
            b1.clone(),
            binf.clone(),
        ];
        // The first two steps have the very same (shared) label sets.
        let steps: Vec<Vec<Sample>> = vec![
            all.clone(),
            all,
            vec![with_value(&a1, 3.0), ainf.clone(), binf.clone()],
            vec![
                binf.clone(),
                b1.clone(),
                bad.clone(),
                none.clone(),
                a2.clone(),
                ainf.clone(),
            ],
            vec![other.clone(), b("d", "1", 1.0), a1.clone(), ainf.clone()],
            vec![],
            vec![a1, a2, ainf, b1, binf, bad, none, other],
        ];
        let opts = Options::default();
        let ev = Ev::new(&opts, 0, 0, 0);
        for q in [0.5, 0.9, 1.0, -1.0, f64::NAN] {
            for (k, input) in steps.iter().enumerate() {
                let got = ev.histogram_quantile(7, q, input, 42);
                let want = crate::funcs::histogram::histogram_quantile(q, input, 42);
                let show = |v: &[Sample]| -> Vec<(Labels, u64)> {
                    v.iter()
                        .map(|x| (x.labels.clone(), x.v.to_bits()))
                        .collect()
                };
                assert_eq!(show(&got), show(&want), "q {q}, step {k}");
            }
        }
    }

    /// Whatever the hint (before, at, past the answer, past the end), the answer is
    /// `partition_point`'s: on sorted values with repeats, for every bound.
    #[test]
    fn partition_from_any_hint_is_partition_point() {
        let v: Vec<i64> = [
            0, 1, 1, 2, 5, 5, 5, 9, 10, 20, 21, 22, 23, 24, 25, 26, 27, 28, 40,
        ]
        .into_iter()
        .chain((41..90).map(|x| x * 2))
        .collect();
        for bound in -1..200 {
            let want = v.partition_point(|&x| x < bound);
            for hint in 0..=v.len() + 3 {
                assert_eq!(
                    partition_from(&v, hint, |&x| x < bound),
                    want,
                    "bound {bound}, hint {hint}"
                );
            }
        }
        assert_eq!(partition_from(&[] as &[i64], 5, |&x| x < 3), 0);
    }

    #[test]
    fn align_up_is_the_first_multiple_at_or_after() {
        assert_eq!(align_up(120_000, 60_000), 120_000);
        assert_eq!(align_up(120_001, 60_000), 180_000);
        assert_eq!(align_up(-90_000, 60_000), -60_000);
        assert_eq!(align_up(-120_000, 60_000), -120_000);
        assert_eq!(align_up(0, 1), 0);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(11_000), "11,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn holt_winters_factors() {
        assert!(check_holt_winters(&[0.5, 0.5]).is_ok());
        let e = check_holt_winters(&[0.5, 0.0]).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid trend factor. Expected: 0 < tf < 1, got: 0.000000"
        );
        assert!(check_holt_winters(&[f64::NAN, 0.5]).is_err());
    }

    #[test]
    fn absent_labels_follow_2_42() {
        let e = parse(r#"x{a="1", b=~"2", c="3", c="4", d=""}"#).unwrap();
        assert_eq!(absent_labels(&e), Labels::new([("a", "1")]));
        let e = parse(r#"x{a="1"}[5m]"#).unwrap();
        assert_eq!(absent_labels(&e), Labels::new([("a", "1")]));
        let e = parse(r#"sum(x{a="1"})"#).unwrap();
        assert!(absent_labels(&e).is_empty());
    }

    #[test]
    fn text_checks_skip_strings_and_comments() {
        assert!(check::check_text(r#"m{a="{\"b\""} # {"x"}"#).is_ok());
        assert!(check::check_text("m[5m:1m] offset 1m").is_ok());
        assert!(check::check_text(r#"m{a='x', "b"="c"}"#).is_err());
        assert!(check::check_text("m[5:]").is_err());
        assert!(check::check_text("m[1.5]").is_err());
    }

    #[test]
    fn unique_labels() {
        let s = |a: &str| Sample {
            labels: Labels::new([("a", a)]),
            t: 0,
            v: 0.0,
        };
        assert!(check_unique(&[s("1"), s("2")]).is_ok());
        assert!(check_unique(&[s("1"), s("2"), s("1")]).is_err());
    }

    /// The same text is parsed once and shared; another text, a failing one (each time,
    /// with the same error) and one too long to keep are not.
    #[test]
    fn parsed_expressions_are_shared_by_text() {
        let a = parse_shared("rate(parsed_shared_test[5m])").unwrap();
        let b = parse_shared("rate(parsed_shared_test[5m])").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = parse_shared("rate(parsed_shared_test[1m])").unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        let e1 = parse_shared("rate(parsed_shared_test[5m]")
            .err()
            .unwrap()
            .to_string();
        let e2 = parse_shared("rate(parsed_shared_test[5m]")
            .err()
            .unwrap()
            .to_string();
        assert_eq!(e1, e2);
        let long = format!(
            "parsed_shared_test{{a=\"{}\"}}",
            "x".repeat(PARSED_KEPT_LEN)
        );
        let l1 = parse_shared(&long).unwrap();
        let l2 = parse_shared(&long).unwrap();
        assert!(!Arc::ptr_eq(&l1, &l2));
        assert_eq!(l1.expr.to_string(), l2.expr.to_string());
    }

    /// A step with the previous step's very label sets is not checked again; any other
    /// vector is, and two equal sets made apart fail whenever they come.
    #[test]
    fn unique_check_skips_only_the_same_label_sets_again() {
        let opts = Options::default();
        let ev = Ev::new(&opts, 0, 60_000, 60_000);
        let s = |l: &Labels| Sample {
            labels: l.clone(),
            t: 0,
            v: 0.0,
        };
        let (a, b) = (Labels::new([("a", "1")]), Labels::new([("a", "2")]));
        let step = vec![s(&a), s(&b)];
        assert!(ev.check_unique_at(1, &step).is_ok());
        assert!(ev.check_unique_at(1, &step).is_ok());
        let a_again = Labels::new([("a", "1")]);
        assert!(ev.check_unique_at(1, &[s(&a), s(&a_again)]).is_err());
        assert!(ev.check_unique_at(1, &[s(&a), s(&a_again)]).is_err());
        assert!(ev.check_unique_at(2, &[s(&b), s(&a), s(&b)]).is_err());
        assert!(ev.check_unique_at(1, &step).is_ok());
    }

    /// `label_replace` through the node's kept label sets answers as the function alone, at
    /// every step; a shared input set met again gives the very same output set; new
    /// arguments are not answered from what the old ones made; bad arguments fail also with
    /// every label set known.
    #[test]
    fn relabel_keeps_label_sets_and_answers_as_the_function() {
        let opts = Options::default();
        let ev = Ev::new(&opts, 0, 60_000, 60_000);
        let x = Labels::new([("__name__", "x"), ("instance", "a:1")]);
        let y = Labels::new([("__name__", "x"), ("instance", "b:2")]);
        let smp = |l: &Labels, v: f64| Sample {
            labels: l.clone(),
            t: 0,
            v,
        };
        let args = |v: Vec<Sample>, re: &str| {
            let mut a = vec![Arg::Vector(v)];
            for s in ["host", "$1", "instance", re] {
                a.push(Arg::String(s.to_owned()));
            }
            a
        };
        let direct = |v: Vec<Sample>, re: &str, t: i64| {
            expect_vector(instant::call("label_replace", args(v, re), t).unwrap()).unwrap()
        };
        let mut first: Option<Vec<Sample>> = None;
        for (t, input) in [
            (1, vec![smp(&x, 1.0)]),
            (2, vec![smp(&y, 2.0), smp(&x, 3.0)]),
            (3, vec![smp(&x, 4.0), smp(&y, 5.0)]),
            (4, vec![]),
        ] {
            let got = ev
                .relabel(1, "label_replace", args(input.clone(), "(.*):.*"), t)
                .unwrap();
            assert_eq!(got, direct(input, "(.*):.*", t));
            if let Some(f) = &first
                && let Some(g) = got.iter().find(|s| s.v == 4.0)
            {
                assert!(g.labels.same(&f[0].labels));
            }
            first.get_or_insert(got);
        }
        let other = ev
            .relabel(1, "label_replace", args(vec![smp(&x, 1.0)], "(.*)"), 5)
            .unwrap();
        assert_eq!(other, direct(vec![smp(&x, 1.0)], "(.*)", 5));
        assert!(
            ev.relabel(1, "label_replace", args(vec![smp(&x, 1.0)], "(.*"), 6)
                .is_err()
        );
    }

    /// Past the most label sets kept, a step still answers as the function alone.
    #[test]
    fn relabel_past_its_limit_answers_as_the_function() {
        let opts = Options::default();
        let ev = Ev::new(&opts, 0, 60_000, 60_000);
        let series: Vec<Sample> = (0..RELABELED_KEPT + 500)
            .map(|i| Sample {
                labels: Labels::new([("__name__", "x".to_owned()), ("i", i.to_string())]),
                t: 0,
                v: i as f64,
            })
            .collect();
        let args = |v: Vec<Sample>| {
            let mut a = vec![Arg::Vector(v)];
            for s in ["j", "$1", "i", "(.*)"] {
                a.push(Arg::String(s.to_owned()));
            }
            a
        };
        for (t, input) in [
            (1, series[..RELABELED_KEPT - 10].to_vec()),
            (2, series[RELABELED_KEPT - 20..].to_vec()),
            (3, series[..600].to_vec()),
        ] {
            let got = ev
                .relabel(1, "label_replace", args(input.clone()), t)
                .unwrap();
            let want = instant::call("label_replace", args(input), t).unwrap();
            assert_eq!(Out::Vector(got), want);
        }
    }
}
