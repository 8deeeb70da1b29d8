//! Operators and grouping, in this crate's own terms (the evaluator translates the parser's).

/// An aggregation operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `count`
    Count,
    /// `group`
    Group,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk(k, …)`
    Topk,
    /// `bottomk(k, …)`
    Bottomk,
    /// `quantile(φ, …)`
    Quantile,
    /// `count_values("label", …)`
    CountValues,
}

/// The parameter of `topk`, `bottomk`, `quantile` (a number) or `count_values` (a label name).
#[derive(Debug, Clone, PartialEq)]
pub enum AggParam {
    /// No parameter.
    None,
    /// A number (k or φ), evaluated at this step.
    Number(f64),
    /// A label name.
    Label(String),
}

/// `by (…)` or `without (…)`; `By(vec![])` is no clause (everything in one group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    /// Group by these labels only.
    By(Vec<String>),
    /// Group by every label except these (and the metric name).
    Without(Vec<String>),
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `atan2`
    Atan2,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinOp {
    /// True for `==`, `!=`, `>`, `<`, `>=`, `<=`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le
        )
    }

    /// True for `and`, `or`, `unless`.
    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }
}

/// How two vectors' samples are paired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cardinality {
    /// One to one (the default).
    OneToOne,
    /// `group_left(extra labels)`: many on the left to one on the right.
    ManyToOne(Vec<String>),
    /// `group_right(extra labels)`: one on the left to many on the right.
    OneToMany(Vec<String>),
    /// Set operators.
    ManyToMany,
}

/// `on (…)` / `ignoring (…)` with the cardinality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorMatching {
    /// The cardinality.
    pub card: Cardinality,
    /// True for `on (labels)`, false for `ignoring (labels)` (and for no clause, with no labels).
    pub on: bool,
    /// The labels of `on`/`ignoring`.
    pub labels: Vec<String>,
}

impl Default for VectorMatching {
    fn default() -> Self {
        VectorMatching {
            card: Cardinality::OneToOne,
            on: false,
            labels: Vec::new(),
        }
    }
}
