//! PromQL-style series selectors: `metric`, `metric{...}` and `{...}`.
//!
//! Matchers are `name op value` with `op` one of `=`, `!=`, `=~`, `!~`,
//! separated by commas (a trailing comma is allowed). Values are strings in
//! double quotes, single quotes (Go escapes: `\a \b \f \n \r \t \v \\ \' \"`,
//! `\xHH` and `\ooo` up to 0x7F, `\uHHHH`, `\UHHHHHHHH`) or backticks (raw,
//! no escapes). A `__name__="x"` matcher becomes the selector's metric;
//! other `__name__` matchers stay matchers. Regex matchers are fully
//! anchored. As in PromQL, a missing label has the value `""`, and a
//! selector without a metric needs a matcher that rejects `""`.
//!
//! Error positions are 0-based byte offsets into the parsed text.

use std::fmt;
use std::str::FromStr;

/// Label name that holds the metric name.
pub const METRIC_NAME_LABEL: &str = "__name__";

/// How a [`Matcher`] compares a label value. The four PromQL operators; a closed set, so the
/// enum is exhaustive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`: the value equals the string.
    Eq,
    /// `!=`: the value differs from the string.
    Ne,
    /// `=~`: the value matches the regex, anchored at both ends.
    Re,
    /// `!~`: the value does not match the regex, anchored at both ends.
    Nre,
}

impl MatchOp {
    /// The operator as written in a selector (`=`, `!=`, `=~`, `!~`).
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::Nre => "!~",
        }
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One label matcher, `name op "value"`. Equality compares `name`, `op` and `value`.
///
/// Build one with [`Matcher::new`], which compiles the regex once; changing `op` or `value`
/// of a built matcher afterwards does not recompile it, so build a new one instead.
///
/// ```
/// use tierlog::{MatchOp, Matcher};
///
/// let m = Matcher::new("mode", MatchOp::Re, "user|system")?;
/// assert!(m.matches("user"));
/// assert!(!m.matches("user2")); // regexes are anchored
/// assert!(!m.matches_empty()); // a series without `mode` does not match
/// # Ok::<(), tierlog::SelectorError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub op: MatchOp,
    /// The string or regex compared with.
    pub value: String,
    /// `^(?:value)$`, present for `Re` and `Nre`.
    re: Option<regex::Regex>,
    /// What the regex means when it is one of a few simple shapes, which are answered
    /// without running it.
    fast: Option<FastRegex>,
}

/// Regexes that need no regex engine. Only shapes whose meaning is plain are recognised:
/// literals made of characters that are not regex syntax, joined by `|` at the top level, or
/// one such literal followed by `.*` or `.+` (`.` matches any character but `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum FastRegex {
    /// `a|b|c`: the value is one of these (a single literal is a one-element list).
    Literals(Vec<String>),
    /// `prefix.*` (`nonempty` false) or `prefix.+` (true).
    Prefix { prefix: String, nonempty: bool },
}

impl FastRegex {
    fn parse(pattern: &str) -> Option<FastRegex> {
        // Characters with a meaning in regex syntax outside a class (`#` and whitespace
        // only matter in `x` mode, which needs `(?x)`).
        let plain = |s: &str| {
            !s.chars().any(|c| {
                matches!(
                    c,
                    '\\' | '.'
                        | '+'
                        | '*'
                        | '?'
                        | '('
                        | ')'
                        | '|'
                        | '['
                        | ']'
                        | '{'
                        | '}'
                        | '^'
                        | '$'
                )
            })
        };
        if pattern.split('|').all(plain) {
            return Some(FastRegex::Literals(
                pattern.split('|').map(str::to_owned).collect(),
            ));
        }
        for (suffix, nonempty) in [(".*", false), (".+", true)] {
            if let Some(prefix) = pattern.strip_suffix(suffix)
                && plain(prefix)
            {
                return Some(FastRegex::Prefix {
                    prefix: prefix.to_owned(),
                    nonempty,
                });
            }
        }
        None
    }

    fn is_match(&self, value: &str) -> bool {
        match self {
            FastRegex::Literals(l) => l.iter().any(|x| x == value),
            FastRegex::Prefix { prefix, nonempty } => value
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| (!*nonempty || !rest.is_empty()) && !rest.contains('\n')),
        }
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

/// A regex error in a few lines. The regex crate's message quotes the whole pattern and
/// marks the bad span with one `^` per character: for a long pattern that is a wall of
/// text (100 k `^` for a 100 kB pattern), so a long message keeps only what is wrong and
/// where.
fn regex_error(e: &regex::Error) -> String {
    const LONGEST: usize = 300;
    let text = e.to_string();
    if text.len() <= LONGEST {
        return format!("invalid regex: {text}");
    }
    let mut what = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or("not a valid regular expression")
        .to_owned();
    if what.len() > LONGEST {
        let cut = (0..=LONGEST)
            .rev()
            .find(|&i| what.is_char_boundary(i))
            .unwrap_or(0);
        what.truncate(cut);
        what.push('…');
    }
    // The marker line: the pattern's indentation (4), then spaces up to the span.
    let lines: Vec<&str> = text.lines().collect();
    let at = (lines.len() == 4)
        .then(|| lines[2])
        .filter(|l| l.trim_start().starts_with('^'))
        .map(|l| (l.len() - l.trim_start().len()).saturating_sub(4));
    match at {
        Some(at) => format!("invalid regex: {what} (at character {})", at + 1),
        None => format!("invalid regex: {what}"),
    }
}

impl Matcher {
    /// Checks the label name syntax and compiles the regex for `Re`/`Nre`.
    /// Errors carry position 0 (the parser re-bases them).
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, SelectorError> {
        if !is_label_name(name) {
            return Err(SelectorError::new(
                0,
                format!("invalid label name {name:?}"),
            ));
        }
        let re = match op {
            MatchOp::Eq | MatchOp::Ne => None,
            MatchOp::Re | MatchOp::Nre => {
                let bad = |e: regex::Error| SelectorError::new(0, regex_error(&e));
                // Compile alone first so that e.g. `a)|(b` cannot escape the anchors.
                regex::Regex::new(value).map_err(bad)?;
                Some(regex::Regex::new(&format!("^(?:{value})$")).map_err(bad)?)
            }
        };
        let fast = re.as_ref().and_then(|_| FastRegex::parse(value));
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            re,
            fast,
        })
    }

    /// Whether a label value matches; `""` stands for an absent label.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Eq => value == self.value,
            MatchOp::Ne => value != self.value,
            MatchOp::Re => self.regex_matches(value),
            MatchOp::Nre => !self.regex_matches(value),
        }
    }

    fn regex_matches(&self, value: &str) -> bool {
        match &self.fast {
            Some(f) => f.is_match(value),
            None => self.re.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// The values a `=` matcher, or a `=~` matcher whose regex is a plain alternation of
    /// literals, accepts: no others match. `None` for every other matcher.
    pub(crate) fn literal_values(&self) -> Option<&[String]> {
        match (self.op, &self.fast) {
            (MatchOp::Eq, _) => Some(std::slice::from_ref(&self.value)),
            (MatchOp::Re, Some(FastRegex::Literals(l))) => Some(l),
            _ => None,
        }
    }

    /// Whether `matches` answers without the regex engine (for tests).
    #[cfg(test)]
    fn has_fast_path(&self) -> bool {
        self.fast.is_some()
    }

    /// Whether series lacking this label match.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.name, self.op)?;
        write_quoted(f, &self.value)
    }
}

/// A PromQL-style series selector: a metric name and label matchers, all of which a series
/// must satisfy. Parse one from text (see the [module documentation](self) for the grammar)
/// or build it with [`Selector::metric`] and [`Selector::with`]; `Display` writes it back as
/// text that parses to the same selector.
///
/// ```
/// use tierlog::{MatchOp, Matcher, Selector};
///
/// let parsed: Selector = r#"node_cpu_seconds_total{cpu="0", mode!~"idle|iowait"}"#.parse()?;
/// let built = Selector::metric("node_cpu_seconds_total")
///     .with(Matcher::new("cpu", MatchOp::Eq, "0")?)
///     .with(Matcher::new("mode", MatchOp::Nre, "idle|iowait")?);
/// assert_eq!(parsed, built);
/// assert_eq!(built.to_string().parse::<Selector>()?, built);
///
/// // Errors give the byte position of the problem.
/// let err = "cpu{mode=}".parse::<Selector>().unwrap_err();
/// assert_eq!(err.position, 9);
/// # Ok::<(), tierlog::SelectorError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// The metric name, when the selector names one (`metric{...}` or `__name__="metric"`).
    pub metric: Option<String>,
    /// Label matchers; a series must satisfy every one.
    pub matchers: Vec<Matcher>,
}

impl Selector {
    /// Parses a selector (the same as `str::parse`).
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        Parser { s, pos: 0 }.selector()
    }

    /// Selector for one metric name, no label matchers.
    pub fn metric(name: &str) -> Self {
        Selector {
            metric: Some(name.to_owned()),
            matchers: Vec::new(),
        }
    }

    /// Adds a matcher. A `__name__="x"` matcher sets the metric when none is
    /// set yet; otherwise it is kept as a plain matcher.
    pub fn with(mut self, m: Matcher) -> Self {
        if m.name == METRIC_NAME_LABEL && m.op == MatchOp::Eq && self.metric.is_none() {
            self.metric = Some(m.value);
        } else {
            self.matchers.push(m);
        }
        self
    }
}

impl FromStr for Selector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A metric that is not a valid bare name is written as a matcher.
        let inner_metric = match &self.metric {
            Some(m) if is_metric_name(m) => {
                f.write_str(m)?;
                None
            }
            other => other.as_deref(),
        };
        if self.matchers.is_empty() && inner_metric.is_none() && self.metric.is_some() {
            return Ok(());
        }
        f.write_str("{")?;
        let mut first = true;
        if let Some(m) = inner_metric {
            write!(f, "{METRIC_NAME_LABEL}=")?;
            write_quoted(f, m)?;
            first = false;
        }
        for m in &self.matchers {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

/// Writes `v` double-quoted with Go-style escapes the parser accepts.
fn write_quoted(f: &mut fmt::Formatter<'_>, v: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in v.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '"' => f.write_str("\\\"")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() && (c as u32) <= 0xFFFF => write!(f, "\\u{:04x}", c as u32)?,
            c if c.is_control() => write!(f, "\\U{:08x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// A selector that did not parse, or a matcher that could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    /// 0-based byte offset into the parsed text.
    pub position: usize,
    /// What is wrong there.
    pub message: String,
}

impl SelectorError {
    fn new(position: usize, message: impl Into<String>) -> Self {
        SelectorError {
            position,
            message: message.into(),
        }
    }
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid selector at position {}: {}",
            self.position, self.message
        )
    }
}

impl std::error::Error for SelectorError {}

fn is_metric_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

fn is_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos..).and_then(|r| r.chars().next())
    }

    fn err<T>(&self, pos: usize, message: impl Into<String>) -> Result<T, SelectorError> {
        Err(SelectorError::new(pos, message))
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// Reads `[a-zA-Z_(:)?][a-zA-Z0-9_(:)?]*`; empty if none.
    fn ident(&mut self, colon: bool) -> &str {
        let start = self.pos;
        let ok = |c: char, first: bool| {
            c.is_ascii_alphabetic()
                || c == '_'
                || (colon && c == ':')
                || (!first && c.is_ascii_digit())
        };
        while let Some(c) = self.peek().filter(|&c| ok(c, self.pos == start)) {
            self.pos += c.len_utf8();
        }
        self.s.get(start..self.pos).unwrap_or("")
    }

    fn selector(mut self) -> Result<Selector, SelectorError> {
        self.skip_ws();
        let metric_pos = self.pos;
        let mut metric = Some(self.ident(true).to_owned()).filter(|m| !m.is_empty());
        self.skip_ws();
        let mut matchers = Vec::new();
        let brace = self.pos;
        if self.eat('{') {
            self.matchers(&mut metric, metric_pos, &mut matchers)?;
        } else if metric.is_none() {
            return match self.peek() {
                None => self.err(self.pos, "expected metric name or '{'"),
                Some(c) => self.err(
                    self.pos,
                    format!("unexpected {c:?}, expected metric name or '{{'"),
                ),
            };
        }
        self.skip_ws();
        if let Some(c) = self.peek() {
            return self.err(self.pos, format!("unexpected {c:?} after selector"));
        }
        if metric.is_none() && matchers.iter().all(Matcher::matches_empty) {
            return self.err(brace, "selector without a metric name needs at least one matcher that does not match the empty string");
        }
        Ok(Selector { metric, matchers })
    }

    fn matchers(
        &mut self,
        metric: &mut Option<String>,
        metric_pos: usize,
        out: &mut Vec<Matcher>,
    ) -> Result<(), SelectorError> {
        loop {
            self.skip_ws();
            if self.eat('}') {
                return Ok(());
            }
            let name_pos = self.pos;
            let name = self.ident(false).to_owned();
            if name.is_empty() {
                return match self.peek() {
                    None => self.err(self.pos, "expected label name or '}'"),
                    Some(c) => self.err(
                        self.pos,
                        format!("unexpected {c:?}, expected label name or '}}'"),
                    ),
                };
            }
            self.skip_ws();
            let op_pos = self.pos;
            let op = if self.eat('=') {
                if self.eat('~') {
                    MatchOp::Re
                } else {
                    MatchOp::Eq
                }
            } else if self.eat('!') {
                if self.eat('=') {
                    MatchOp::Ne
                } else if self.eat('~') {
                    MatchOp::Nre
                } else {
                    return self.err(op_pos, "expected '!=' or '!~'");
                }
            } else {
                return self.err(
                    op_pos,
                    "expected one of '=', '!=', '=~', '!~' after label name",
                );
            };
            self.skip_ws();
            let value_pos = self.pos;
            let value = self.string()?;
            if name == METRIC_NAME_LABEL && op == MatchOp::Eq {
                if value.is_empty() {
                    return self.err(value_pos, "metric name must not be empty");
                }
                match metric {
                    Some(m) if *m != value => {
                        return self.err(name_pos, format!("metric name {value:?} conflicts with {m:?} given at position {metric_pos}"));
                    }
                    _ => *metric = Some(value),
                }
            } else {
                let m = Matcher::new(&name, op, &value)
                    .map_err(|e| SelectorError::new(value_pos, e.message))?;
                out.push(m);
            }
            self.skip_ws();
            if self.eat(',') {
                continue;
            }
            if self.eat('}') {
                return Ok(());
            }
            return match self.peek() {
                None => self.err(self.pos, "expected ',' or '}'"),
                Some(c) => self.err(self.pos, format!("unexpected {c:?}, expected ',' or '}}'")),
            };
        }
    }

    /// Parses a quoted or raw string at the current position.
    fn string(&mut self) -> Result<String, SelectorError> {
        let open_pos = self.pos;
        let quote = match self.peek() {
            Some(q @ ('"' | '\'' | '`')) => q,
            _ => return self.err(open_pos, "expected a quoted string"),
        };
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return self.err(open_pos, "unterminated string");
            };
            let c_pos = self.pos;
            self.pos += c.len_utf8();
            match c {
                c if c == quote => return Ok(out),
                '\\' if quote != '`' => out.push(self.escape(c_pos)?),
                '\n' if quote != '`' => {
                    return self.err(open_pos, "unterminated string (newline inside quotes)");
                }
                c => out.push(c),
            }
        }
    }

    /// Decodes the escape after a backslash found at `bs`.
    fn escape(&mut self, bs: usize) -> Result<char, SelectorError> {
        let Some(c) = self.peek() else {
            return self.err(bs, "unterminated escape sequence");
        };
        self.pos += c.len_utf8();
        let simple = match c {
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'f' => Some('\x0c'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\x0b'),
            '\\' | '\'' | '"' => Some(c),
            _ => None,
        };
        if let Some(ch) = simple {
            return Ok(ch);
        }
        let (digits, radix) = match c {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => {
                self.pos -= 1;
                (3, 8)
            }
            _ => return self.err(bs, format!("invalid escape sequence '\\{c}'")),
        };
        let start = self.pos;
        let end = start + digits;
        let code = self
            .s
            .get(start..end)
            .filter(|d| d.chars().all(|ch| ch.is_digit(radix)))
            .and_then(|d| u32::from_str_radix(d, radix).ok())
            .ok_or_else(|| {
                SelectorError::new(
                    bs,
                    format!("invalid escape sequence: expected {digits} digits"),
                )
            })?;
        self.pos = end;
        if matches!(c, 'x' | '0'..='7') && code > 0x7F {
            return self.err(bs, "byte escapes above 0x7f are not supported; use \\u");
        }
        char::from_u32(code).ok_or_else(|| {
            SelectorError::new(
                bs,
                format!("escape sequence is not a valid code point: {code:#x}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
        Matcher::new(name, op, value).unwrap()
    }

    fn err_at(s: &str) -> (usize, String) {
        let e = Selector::parse(s).expect_err(s);
        (e.position, e.message)
    }

    #[test]
    fn ops() {
        let eq = m("a", MatchOp::Eq, "x");
        assert!(eq.matches("x") && !eq.matches("y") && !eq.matches_empty());
        let ne = m("a", MatchOp::Ne, "x");
        assert!(!ne.matches("x") && ne.matches("y") && ne.matches_empty());
        let re = m("a", MatchOp::Re, "x|y+");
        assert!(re.matches("x") && re.matches("yyy") && !re.matches("xy") && !re.matches_empty());
        let nre = m("a", MatchOp::Nre, "x|y+");
        assert!(!nre.matches("x") && nre.matches("xy") && nre.matches_empty());
    }

    #[test]
    fn anchoring() {
        let re = m("a", MatchOp::Re, "a");
        assert!(re.matches("a") && !re.matches("ab") && !re.matches("ba"));
        assert!(m("a", MatchOp::Re, "a|b").matches("b"));
        assert!(!m("a", MatchOp::Re, "a|b").matches("ab"));
        assert!(!m("a", MatchOp::Nre, "a").matches("a"));
        assert!(m("a", MatchOp::Nre, "a").matches("ab"));
        assert!(Matcher::new("a", MatchOp::Re, "a)|(b").is_err());
        assert!(m("a", MatchOp::Re, "(?m)a").matches("a"));
        assert!(!m("a", MatchOp::Re, "(?m)a").matches("a\nb"));
    }

    #[test]
    fn empty_value_semantics() {
        assert!(m("a", MatchOp::Eq, "").matches_empty());
        assert!(m("a", MatchOp::Re, ".*").matches_empty());
        assert!(!m("a", MatchOp::Re, ".+").matches_empty());
        assert!(m("a", MatchOp::Nre, ".+").matches_empty());
        assert!(!m("a", MatchOp::Ne, "").matches_empty());
        for bad in [
            "{}",
            "{a=\"\"}",
            "{a=~\".*\"}",
            "{a!=\"x\", b!~\"y\"}",
            "{a=\"\",}",
        ] {
            assert!(err_at(bad).1.contains("at least one matcher"), "{bad}");
        }
        for good in [
            "{a!=\"\"}",
            "{a=~\".+\"}",
            "{a=\"\", b=\"x\"}",
            "{__name__=~\"up|down\"}",
            "m{}",
            "m{a=\"\"}",
        ] {
            assert!(Selector::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn parsing_and_quoting() {
        let s: Selector = " http_requests_total { job = \"api\" , path!~'/d\\'bg.*' ,code=~`5..`,x!=\"\\\\\\\"\\n\\t\\u00e9\\x41\\101\", } "
            .parse()
            .unwrap();
        assert_eq!(s.metric.as_deref(), Some("http_requests_total"));
        let want = vec![
            m("job", MatchOp::Eq, "api"),
            m("path", MatchOp::Nre, "/d'bg.*"),
            m("code", MatchOp::Re, "5.."),
            m("x", MatchOp::Ne, "\\\"\n\té\u{41}A"),
        ];
        assert_eq!(s.matchers, want);
        let raw = Selector::parse("{a=~`\\d+\\n`}").unwrap();
        assert_eq!(raw.matchers[0].value, "\\d+\\n");
        assert!(raw.matchers[0].matches("12\n"));
        assert_eq!(Selector::parse("up").unwrap(), Selector::metric("up"));
        assert_eq!(
            Selector::parse("job:rate5m{}").unwrap(),
            Selector::metric("job:rate5m")
        );
        assert_eq!(Selector::parse("{a='\"'}").unwrap().matchers[0].value, "\"");
        assert_eq!(Selector::parse("{a=\"€\"}").unwrap().matchers[0].value, "€");
    }

    #[test]
    fn name_label() {
        let s = Selector::parse("{__name__=\"up\", job=\"x\"}").unwrap();
        assert_eq!(s, Selector::metric("up").with(m("job", MatchOp::Eq, "x")));
        assert!(
            Selector::parse("up{__name__=\"up\"}")
                .unwrap()
                .matchers
                .is_empty()
        );
        let s = Selector::parse("{__name__=~\"node_.*\"}").unwrap();
        assert_eq!(s.metric, None);
        assert_eq!(s.matchers, vec![m("__name__", MatchOp::Re, "node_.*")]);
        assert_eq!(err_at("up{job=\"x\", __name__=\"down\"}").0, 12);
        assert_eq!(err_at("{__name__=\"\"}").0, 10);
        let odd = Selector::parse("{__name__=\"a-b\"}").unwrap();
        assert_eq!(odd.metric.as_deref(), Some("a-b"));
        assert_eq!(odd.to_string(), "{__name__=\"a-b\"}");
        let built = Selector {
            metric: None,
            matchers: vec![],
        }
        .with(m("__name__", MatchOp::Eq, "x"));
        assert_eq!(built, Selector::metric("x"));
    }

    #[test]
    fn errors_with_positions() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "expected metric name"),
            ("   ", 3, "expected metric name"),
            ("1up", 0, "expected metric name"),
            ("up{", 3, "expected label name"),
            ("up{job}", 6, "expected one of"),
            ("up{job=}", 7, "expected a quoted string"),
            ("up{job=x}", 7, "expected a quoted string"),
            ("up{job!x\"\"}", 6, "expected '!=' or '!~'"),
            ("up{job=\"x}", 7, "unterminated string"),
            ("up{job='x\"}", 7, "unterminated string"),
            ("up{job=`x}", 7, "unterminated string"),
            ("up{job=\"a\nb\"}", 7, "newline"),
            ("up{job=\"\\q\"}", 8, "invalid escape"),
            ("up{job=\"\\x4\"}", 8, "expected 2 digits"),
            ("up{job=\"\\xff\"}", 8, "above 0x7f"),
            ("up{job=\"\\ud800\"}", 8, "not a valid code point"),
            ("up{job=\"x\" env=\"y\"}", 11, "expected ',' or '}'"),
            ("up{job=\"x\"", 10, "expected ',' or '}'"),
            ("up{job=\"x\",,}", 11, "expected label name"),
            ("up{job=~\"(\"}", 8, "invalid regex"),
            ("up{1a=\"x\"}", 3, "expected label name"),
            ("up{a:b=\"x\"}", 4, "expected one of"),
            ("up}", 2, "after selector"),
            ("up{} x", 5, "after selector"),
            ("up x", 3, "after selector"),
            ("  {}", 2, "at least one matcher"),
        ];
        for (input, pos, msg) in cases {
            let (p, m) = err_at(input);
            assert_eq!(p, *pos, "{input:?}: {m}");
            assert!(m.contains(msg), "{input:?}: {m:?} lacks {msg:?}");
        }
        let e = Selector::parse("up{").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid selector at position 3: ")
        );
        assert!(Matcher::new("a-b", MatchOp::Eq, "x").is_err());
    }

    #[test]
    fn a_long_regex_error_is_cut_to_what_and_where() {
        // An unclosed group around 100 k characters: regex's own message repeats the
        // pattern and marks it with 100 k `^`.
        let value = format!("x({}", "a".repeat(100_000));
        let e = Matcher::new("job", MatchOp::Re, &value).unwrap_err();
        assert!(e.message.len() < 400, "{} bytes", e.message.len());
        assert!(e.message.contains("unclosed group"), "{}", e.message);
        assert!(e.message.contains("at character 2"), "{}", e.message);
        // A short one keeps regex's full message.
        let e = Matcher::new("job", MatchOp::Re, "(").unwrap_err();
        assert!(e.message.contains("unclosed group") && e.message.contains('^'));
    }

    #[test]
    fn display_canonical() {
        let s = Selector::parse("up { b != 'x' , a=~`\\d\"`, }").unwrap();
        assert_eq!(s.to_string(), "up{b!=\"x\", a=~\"\\\\d\\\"\"}");
        assert_eq!(Selector::metric("up").to_string(), "up");
        assert_eq!(
            Selector::parse("{a=\"\\u0001\"}").unwrap().to_string(),
            "{a=\"\\u0001\"}"
        );
    }

    fn arb_matcher() -> impl Strategy<Value = Matcher> {
        let name = prop_oneof![Just("__name__".to_owned()), "[a-zA-Z_][a-zA-Z0-9_]{0,6}"];
        let plain = (
            name.clone(),
            prop_oneof![Just(MatchOp::Eq), Just(MatchOp::Ne)],
            any::<String>(),
        )
            .prop_filter("__name__= becomes the metric", |(n, op, _)| {
                !(n == "__name__" && *op == MatchOp::Eq)
            });
        let regex_value = prop_oneof![
            any::<String>().prop_map(|s| regex::escape(&s)),
            Just(".*".to_owned()),
            Just(".+".to_owned()),
            Just("a|b\\d{2,3}".to_owned()),
            Just("[^\"'`\\\\]+".to_owned()),
        ];
        let re = (
            name,
            prop_oneof![Just(MatchOp::Re), Just(MatchOp::Nre)],
            regex_value,
        );
        prop_oneof![plain, re].prop_map(|(n, op, v)| Matcher::new(&n, op, &v).unwrap())
    }

    fn arb_selector() -> impl Strategy<Value = Selector> {
        let metric = proptest::option::of(prop_oneof![
            "[a-zA-Z_:][a-zA-Z0-9_:]{0,10}",
            any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
        ]);
        (metric, proptest::collection::vec(arb_matcher(), 0..5))
            .prop_map(|(metric, matchers)| Selector { metric, matchers })
            .prop_filter("needs a non-empty matcher", |s| {
                s.metric.is_some() || s.matchers.iter().any(|m| !m.matches_empty())
            })
    }

    proptest! {
        #[test]
        fn display_round_trip(s in arb_selector()) {
            let text = s.to_string();
            let back = Selector::parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
            prop_assert_eq!(&back, &s, "{}", text);
            prop_assert_eq!(back.to_string(), text);
        }

        #[test]
        fn parse_never_panics(input in any::<String>()) {
            let _ = Selector::parse(&input);
        }

        #[test]
        fn parse_never_panics_near_valid(input in "[a-z_{}=!~,\"'` \\\\xuU0-9.*|()]{0,40}") {
            if let Ok(s) = Selector::parse(&input) {
                let again = Selector::parse(&s.to_string()).unwrap();
                prop_assert_eq!(again, s);
            }
        }
    }

    /// The regex engine's answer, for comparison with the fast paths.
    fn engine(pattern: &str, value: &str) -> Option<bool> {
        let re = regex::Regex::new(&format!("^(?:{pattern})$")).ok()?;
        Some(re.is_match(value))
    }

    #[test]
    fn fast_paths_cover_the_usual_shapes() {
        for (pattern, fast) in [
            ("user|system", true),
            ("user", true),
            ("", true),
            ("a|", true),
            ("host-1.*", true),
            ("host-1.+", true),
            (".*", true),
            ("node_(a|b)", false),
            ("host-4[0-9]:9100", false),
            ("a.*b", false),
            ("(?i)user", false),
            ("a\\.b", false),
        ] {
            let m = Matcher::new("l", MatchOp::Re, pattern).unwrap();
            assert_eq!(m.has_fast_path(), fast, "{pattern:?}");
        }
        let m = Matcher::new("l", MatchOp::Re, "host-1.*").unwrap();
        assert!(m.matches("host-1") && m.matches("host-123:9100"));
        assert!(!m.matches("host-2") && !m.matches("xhost-1") && !m.matches("host-1\n"));
        let m = Matcher::new("l", MatchOp::Nre, "a|b").unwrap();
        assert!(!m.matches("a") && m.matches("ab") && m.matches(""));
    }

    proptest! {
        /// Whatever `Matcher::new` accepts, fast path or not, matches exactly what the regex
        /// engine matches, on patterns and values built from regex syntax, newlines and
        /// non-ASCII characters.
        #[test]
        fn fast_paths_agree_with_the_regex_engine(
            pattern in "[ab\\-.*+|?()\\[\\]\n\\\\#é ]{0,8}",
            values in proptest::collection::vec("[ab\\-.*|\n#é ]{0,6}", 1..8),
        ) {
            let Ok(m) = Matcher::new("l", MatchOp::Re, &pattern) else {
                return Ok(());
            };
            let not = Matcher::new("l", MatchOp::Nre, &pattern).unwrap();
            for v in values.iter().map(String::as_str).chain(["", "a", "ab", "a\n", "é"]) {
                let want = engine(&pattern, v).unwrap();
                prop_assert_eq!(m.matches(v), want, "{:?} on {:?}", pattern, v);
                prop_assert_eq!(not.matches(v), !want, "{:?} on {:?}", pattern, v);
                if let Some(lits) = m.literal_values() {
                    prop_assert_eq!(lits.iter().any(|l| l == v), want, "{:?} on {:?}", pattern, v);
                }
            }
        }

        /// Patterns of the fast shapes, with values built to hit them.
        #[test]
        fn prefix_and_alternation_shapes_agree(
            lits in proptest::collection::vec("[ab\\-é#: ]{0,4}", 1..4),
            suffix in prop::sample::select(vec!["", ".*", ".+"]),
            tails in proptest::collection::vec("[ab\\n-]{0,3}", 1..6),
        ) {
            let pattern = if suffix.is_empty() { lits.join("|") } else { format!("{}{suffix}", lits[0]) };
            let m = Matcher::new("l", MatchOp::Re, &pattern).unwrap();
            prop_assert!(m.has_fast_path(), "{:?}", pattern);
            for l in &lits {
                for t in &tails {
                    for v in [l.clone(), format!("{l}{t}"), t.clone()] {
                        prop_assert_eq!(m.matches(&v), engine(&pattern, &v).unwrap(), "{:?} on {:?}", pattern, v);
                    }
                }
            }
        }
    }
}
