//! Refuses, by name, what the parser (Prometheus 3.x grammar) accepts but Prometheus 2.42 does
//! not have, so that no query gets an answer 2.42 would not give.

use promql_parser::label::Matchers;
use promql_parser::parser::{Expr, VectorSelector};

use crate::{Error, Result};

/// Functions the parser knows that Prometheus 2.42 does not (or that only work on native
/// histograms, which this engine does not store). Experimental functions are refused too.
const REFUSED_FUNCTIONS: &[&str] = &[
    "first_over_time",
    "mad_over_time",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "ts_of_max_over_time",
    "ts_of_min_over_time",
    "sort_by_label",
    "sort_by_label_desc",
    "info",
    "double_exponential_smoothing",
    "histogram_avg",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantiles",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
    "start_timestamp",
    "integral",
    "max_of",
    "min_of",
    "start",
    "end",
    "step",
    "range",
];

/// The name under which the evaluator registers 2.42's `holt_winters` with the parser.
pub(crate) const HOLT_WINTERS: &str = "holt_winters";

fn unsupported(what: impl Into<String>) -> Error {
    Error::Unsupported(format!("{} (not in Prometheus 2.42)", what.into()))
}

/// Checks the source text for what the AST no longer shows: quoted (UTF-8) metric or label
/// names inside braces, and durations written as plain numbers.
pub(crate) fn check_text(src: &str) -> Result<()> {
    let b = src.as_bytes();
    let mut i = 0;
    // Inside `{…}`: whether a label name (or a quoted metric name) may come next.
    let mut in_braces = false;
    let mut expect_name = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => {
                if in_braces && expect_name {
                    return Err(unsupported(
                        "a quoted metric or label name inside braces (UTF-8 names)",
                    ));
                }
                i = skip_string(b, i);
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'{' => {
                in_braces = true;
                expect_name = true;
            }
            b'}' => in_braces = false,
            b',' if in_braces => expect_name = true,
            b'[' if !in_braces => {
                let end = b[i..].iter().position(|&x| x == b']').map(|p| i + p);
                if let Some(end) = end {
                    let inner = &src[i + 1..end];
                    for part in inner.split(':') {
                        let p = part.trim();
                        if !p.is_empty() && unitless_number(p) {
                            return Err(unsupported(format!("a duration without a unit ({p:?})")));
                        }
                    }
                }
            }
            c if in_braces && !c.is_ascii_whitespace() => expect_name = false,
            c if c.is_ascii_alphabetic() || c == b'_' => {
                // A word: after a grouping keyword, a label list must not quote names.
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &src[start..i];
                if word.eq_ignore_ascii_case("offset") {
                    // `offset 5`: the number is a duration too.
                    let mut j = i;
                    while j < b.len()
                        && (b[j].is_ascii_whitespace() || b[j] == b'-' || b[j] == b'+')
                    {
                        j += 1;
                    }
                    let t = j;
                    while j < b.len()
                        && (b[j].is_ascii_alphanumeric()
                            || b[j] == b'.'
                            || b[j] == b'_'
                            || (matches!(b[j], b'+' | b'-') && matches!(b[j - 1], b'e' | b'E')))
                    {
                        j += 1;
                    }
                    let token = &src[t..j];
                    if !token.is_empty() && unitless_number(token) {
                        return Err(unsupported(format!(
                            "a duration without a unit ({token:?})"
                        )));
                    }
                }
                if GROUPING_WORDS.contains(&word) {
                    let mut j = i;
                    while j < b.len() && b[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    if j < b.len() && b[j] == b'(' {
                        let close = b[j..]
                            .iter()
                            .position(|&x| x == b')')
                            .map_or(b.len(), |p| j + p);
                        if b[j..close]
                            .iter()
                            .any(|&x| matches!(x, b'"' | b'\'' | b'`'))
                        {
                            return Err(unsupported(format!(
                                "a quoted label name in {word}(…) (UTF-8 names)"
                            )));
                        }
                    }
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// A plain number as PromQL's lexer reads one (decimal, exponent, hexadecimal, `Inf`, `NaN`),
/// where a duration is expected. Checked before parsing: the parser turns such a number into
/// a `Duration` and panics when it is negative, infinite, NaN or too large.
fn unitless_number(p: &str) -> bool {
    let hex = p
        .strip_prefix("0x")
        .or_else(|| p.strip_prefix("0X"))
        .is_some_and(|h| !h.is_empty() && h.bytes().all(|x| x.is_ascii_hexdigit()));
    hex || p.bytes().all(|x| x.is_ascii_digit() || x == b'.') || p.parse::<f64>().is_ok()
}

/// Keywords followed by a list of label names.
const GROUPING_WORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Index just past the string literal starting at `i`.
fn skip_string(b: &[u8], mut i: usize) -> usize {
    let q = b[i];
    i += 1;
    while i < b.len() {
        if b[i] == b'\\' && q != b'`' {
            i += 2;
            continue;
        }
        if b[i] == q {
            return i + 1;
        }
        i += 1;
    }
    i
}

fn is_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn is_metric_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

fn check_matchers(vs: &VectorSelector) -> Result<()> {
    let Matchers {
        matchers,
        or_matchers,
    } = &vs.matchers;
    if !or_matchers.is_empty() {
        return Err(unsupported("`or` between label matchers"));
    }
    for m in matchers {
        if !is_label_name(&m.name) {
            return Err(unsupported(format!("the label name {:?}", m.name)));
        }
    }
    if let Some(n) = &vs.name
        && !is_metric_name(n)
    {
        return Err(unsupported(format!("the metric name {n:?}")));
    }
    Ok(())
}

fn check_label_list(names: &[String]) -> Result<()> {
    match names.iter().find(|n| !is_label_name(n)) {
        Some(n) => Err(unsupported(format!("the label name {n:?}"))),
        None => Ok(()),
    }
}

/// Walks the AST and refuses what 2.42 does not evaluate.
pub(crate) fn check_expr(e: &Expr) -> Result<()> {
    match e {
        Expr::Aggregate(a) => {
            if let Some(m) = &a.modifier {
                check_label_list(&m.labels().labels)?;
            }
            let op = a.op.to_string();
            if op == "limitk" || op == "limit_ratio" {
                return Err(unsupported(format!("the aggregation {op}")));
            }
            if let Some(p) = &a.param {
                check_expr(p)?;
            }
            check_expr(&a.expr)
        }
        Expr::Unary(u) => check_expr(&u.expr),
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier {
                if let Some(l) = &m.matching {
                    check_label_list(&l.labels().labels)?;
                }
                if let Some(l) = m.card.labels() {
                    check_label_list(&l.labels)?;
                }
            }
            if let Some(m) = &b.modifier
                && (m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
            {
                return Err(unsupported("fill / fill_left / fill_right modifiers"));
            }
            check_expr(&b.lhs)?;
            check_expr(&b.rhs)
        }
        Expr::Paren(p) => check_expr(&p.expr),
        Expr::Subquery(s) => check_expr(&s.expr),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::VectorSelector(vs) => check_matchers(vs),
        Expr::MatrixSelector(ms) => check_matchers(&ms.vs),
        Expr::Call(c) => {
            let name = c.func.name;
            if name != HOLT_WINTERS
                && (c.func.experimental
                    || REFUSED_FUNCTIONS.contains(&name)
                    || (name.starts_with("histogram_") && name != "histogram_quantile"))
            {
                return Err(unsupported(format!("the function {name}")));
            }
            for a in &c.args.args {
                check_expr(a)?;
            }
            Ok(())
        }
        Expr::Extension(x) => Err(unsupported(format!("the extension {}", x.expr.name()))),
    }
}
