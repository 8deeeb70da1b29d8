//! `label_replace` and `label_join`, with Go's regular-expression flavour and `$`-expansion.

use std::cell::RefCell;

use regex::Regex;

use crate::{Error, Result, Sample};

/// True for a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn valid_label_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Rewrites the Perl classes whose meaning differs between Go's RE2 (ASCII only) and the
/// `regex` crate (Unicode): `\d`, `\w`, `\s`, their negations and `\b`/`\B`.
fn go_to_rust_regex(pat: &str) -> String {
    go_to_rust_regex_in(pat, false)
}

/// [`go_to_rust_regex`] starting inside a character class when `in_class`.
fn go_to_rust_regex_in(pat: &str, mut in_class: bool) -> String {
    let mut out = String::with_capacity(pat.len() + 16);
    let mut chars = pat.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                if n == 'Q' {
                    // `\Q…\E`: everything up to `\E` (or the end) is literal.
                    let lit: String = chars.by_ref().collect();
                    let (quoted, rest) = match lit.find("\\E") {
                        Some(i) => (&lit[..i], &lit[i + 2..]),
                        None => (&lit[..], ""),
                    };
                    out.push_str(&regex::escape(quoted));
                    out.push_str(&go_to_rust_regex_in(rest, in_class));
                    return out;
                }
                let rep = match (in_class, n) {
                    (false, 'd') => "[0-9]",
                    (false, 'D') => "[^0-9]",
                    (false, 'w') => "[0-9A-Za-z_]",
                    (false, 'W') => "[^0-9A-Za-z_]",
                    (false, 's') => "[\\t\\n\\f\\r ]",
                    (false, 'S') => "[^\\t\\n\\f\\r ]",
                    (false, 'b') => "(?-u:\\b)",
                    (false, 'B') => "(?-u:\\B)",
                    (true, 'd') => "0-9",
                    (true, 'w') => "0-9A-Za-z_",
                    (true, 's') => "\\t\\n\\f\\r ",
                    _ => {
                        out.push('\\');
                        out.push(n);
                        continue;
                    }
                };
                out.push_str(rep);
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                // A `]` right after `[` or `[^` is a literal.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '[' if in_class && chars.peek() == Some(&':') => {
                // A POSIX class such as `[:alpha:]` inside a class.
                out.push('[');
                for d in chars.by_ref() {
                    out.push(d);
                    if d == ']' {
                        break;
                    }
                }
            }
            '[' => out.push_str("\\["),
            // Set operations in the `regex` crate's classes, plain characters in Go's.
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

thread_local! {
    /// The last regular expression compiled by `label_replace`: a query evaluates the same
    /// one at every step.
    static LAST_REGEX: RefCell<Option<(String, Regex)>> = const { RefCell::new(None) };
}

/// `^(?:pat)$` compiled with Go's meaning of the Perl classes.
fn anchored_regex(pat: &str) -> Option<Regex> {
    let cached = LAST_REGEX.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(p, _)| p == pat)
            .map(|(_, r)| r.clone())
    });
    if cached.is_some() {
        return cached;
    }
    let re = Regex::new(&format!("^(?:{})$", go_to_rust_regex(pat))).ok()?;
    LAST_REGEX.with(|c| *c.borrow_mut() = Some((pat.to_owned(), re.clone())));
    Some(re)
}

/// Go's `regexp.Expand`: `$name`, `${name}` and `$1` are replaced by the submatch (a name
/// is the longest run of letters, digits and `_`; a number with a leading zero is a name);
/// `$$` is a `$`; a `$` followed by nothing usable stays as it is.
fn expand(template: &str, re: &Regex, caps: &regex::Captures<'_>, out: &mut String) {
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let (brace, body) = match rest.strip_prefix('{') {
            Some(b) => (true, b),
            None => (false, rest),
        };
        let name_len: usize = body
            .chars()
            .take_while(|c| c.is_alphabetic() || c.is_numeric() || *c == '_')
            .map(char::len_utf8)
            .sum();
        if name_len == 0 || (brace && !body[name_len..].starts_with('}')) {
            out.push('$');
            continue;
        }
        let name = &body[..name_len];
        rest = &body[name_len + usize::from(brace)..];
        let num = if name.len() > 1 && name.starts_with('0') {
            None
        } else {
            name.parse::<u32>().ok().filter(|n| *n < 100_000_000)
        };
        let m = match num {
            Some(n) => caps.get(n as usize),
            None => {
                if re.capture_names().any(|n| n == Some(name)) {
                    caps.name(name)
                } else {
                    None
                }
            }
        };
        if let Some(m) = m {
            out.push_str(m.as_str());
        }
    }
    out.push_str(rest);
}

/// `label_replace(v, dst, replacement, src, regex)`.
pub(crate) fn label_replace(
    input: Vec<Sample>,
    dst: &str,
    repl: &str,
    src: &str,
    regex: &str,
    t: i64,
) -> Result<Vec<Sample>> {
    let Some(re) = anchored_regex(regex) else {
        return Err(Error::Execution(format!(
            "invalid regular expression in label_replace(): {regex}"
        )));
    };
    if !valid_label_name(dst) {
        return Err(Error::Execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut buf = String::new();
    Ok(input
        .into_iter()
        .map(|mut s| {
            let src_val = s.labels.get(src).unwrap_or("");
            if let Some(caps) = re.captures(src_val) {
                buf.clear();
                expand(repl, &re, &caps, &mut buf);
                s.labels.set(dst, &buf);
            }
            s.t = t;
            s
        })
        .collect())
}

/// `label_join(v, dst, separator, src...)`.
pub(crate) fn label_join(
    input: Vec<Sample>,
    dst: &str,
    sep: &str,
    srcs: &[&str],
    t: i64,
) -> Result<Vec<Sample>> {
    for src in srcs {
        if !valid_label_name(src) {
            return Err(Error::Execution(format!(
                "invalid source label name in label_join(): {src}"
            )));
        }
    }
    if !valid_label_name(dst) {
        return Err(Error::Execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut buf = String::new();
    Ok(input
        .into_iter()
        .map(|mut s| {
            buf.clear();
            for (i, src) in srcs.iter().enumerate() {
                if i > 0 {
                    buf.push_str(sep);
                }
                buf.push_str(s.labels.get(src).unwrap_or(""));
            }
            s.labels.set(dst, &buf);
            s.t = t;
            s
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(pat: &str, text: &str, template: &str) -> String {
        let re = anchored_regex(pat).unwrap();
        let caps = re.captures(text).unwrap();
        let mut out = String::new();
        expand(template, &re, &caps, &mut out);
        out
    }

    #[test]
    fn expansion_follows_go() {
        assert_eq!(exp("(a)(b)", "ab", "$1-$2"), "a-b");
        // `$1x` names a group "1x", which does not exist: empty, as in Go.
        assert_eq!(exp("(a)(b)", "ab", "$1x|${1}x"), "|ax");
        assert_eq!(exp("(?P<first>a)b", "ab", "<$first>"), "<a>");
        assert_eq!(exp("(a)", "a", "$$1 $ ${ ${1"), "$1 $ ${ ${1");
        assert_eq!(exp("(a)", "a", "$01 $9 $0"), "  a");
    }

    #[test]
    fn perl_classes_are_ascii_as_in_go() {
        assert!(anchored_regex(r"\d+").unwrap().is_match("123"));
        assert!(!anchored_regex(r"\d+").unwrap().is_match("١٢٣"));
        assert!(!anchored_regex(r"\w").unwrap().is_match("é"));
        assert!(anchored_regex(r"\W").unwrap().is_match("é"));
        assert!(anchored_regex(r"[\d.]+").unwrap().is_match("1.5"));
        assert!(anchored_regex(r"[]a]+").unwrap().is_match("]a"));
        assert!(anchored_regex(r"[[:alpha:]\d]+").unwrap().is_match("a1"));
        assert!(anchored_regex(r"a\b.*").unwrap().is_match("a b"));
        // Anchored on both ends: a partial match is no match.
        assert!(!anchored_regex("a").unwrap().is_match("ab"));
        assert!(anchored_regex("a|ab").unwrap().is_match("ab"));
        assert!(anchored_regex("(").is_none());
        // Go's literal quoting and plain `&`/`~` in classes.
        assert!(anchored_regex(r"\Q.*\E\d").unwrap().is_match(".*1"));
        assert!(!anchored_regex(r"\Q.*\E").unwrap().is_match("ab"));
        assert!(anchored_regex(r"x\Q+").unwrap().is_match("x+"));
        assert!(anchored_regex("[a&&b]").unwrap().is_match("&"));
        assert!(anchored_regex("[a~~b]+").unwrap().is_match("~a"));
    }
}
