//! Pieces shared by the line-oriented input formats: a line reader that counts lines and
//! checks UTF-8, errors at a byte offset turned into 1-based character columns, and the
//! lexical rules of names and numbers (one grammar for every format).

use std::io::BufRead;

use super::entry::ParseError;

/// Default of the longest line an import reads, [`crate::import::ingest::IngestOptions::max_line_bytes`]:
/// 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// Reads lines into one reused buffer; strips `\n` and a `\r` before it. A line longer than
/// the limit is refused ([`ParseError::LineTooLong`]) after reading at most the limit plus
/// one buffer of the underlying reader: a hostile input cannot make it hold a huge line.
pub(crate) struct LineReader<R> {
    reader: R,
    buf: Vec<u8>,
    line: u64,
    fused: bool,
    max: usize,
    /// The line end the last line had: `"\r\n"`, `"\n"` or `""` (the end of the input).
    end: &'static str,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(reader: R) -> Self {
        LineReader {
            reader,
            buf: Vec::with_capacity(256),
            line: 0,
            fused: false,
            max: DEFAULT_MAX_LINE_BYTES,
            end: "",
        }
    }

    /// The line end of the line most recently read, as it was in the input: `"\r\n"`,
    /// `"\n"`, or `""` for a last line without one (a quoted CSV cell keeps it as written).
    pub(crate) fn last_line_end(&self) -> &'static str {
        self.end
    }

    /// Refuses lines longer than `max` bytes (without their line end) from now on.
    pub(crate) fn set_max_line_bytes(&mut self, max: usize) {
        self.max = max;
    }

    /// 1-based number of the line most recently read (0 before the first).
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// The next line and its number; `None` at the end of the input and after an I/O error.
    pub(crate) fn next_line(&mut self) -> Option<Result<(u64, &str), ParseError>> {
        if self.fused {
            return None;
        }
        self.buf.clear();
        // Like `read_until(b'\n')`, but never holding more than the limit (plus `\r\n`).
        let room = self.max.saturating_add(2);
        loop {
            let avail = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.fused = true;
                    return Some(Err(ParseError::Io(e)));
                }
            };
            if avail.is_empty() {
                break;
            }
            let (take, done) = match avail.iter().position(|&c| c == b'\n') {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            if self.buf.len() + take > room {
                self.line += 1;
                self.fused = true;
                return Some(Err(ParseError::LineTooLong {
                    line: self.line,
                    max: self.max,
                }));
            }
            self.buf.extend_from_slice(&avail[..take]);
            self.reader.consume(take);
            if done {
                break;
            }
        }
        if self.buf.is_empty() {
            self.fused = true;
            return None;
        }
        self.line += 1;
        let mut bytes = self.buf.as_slice();
        self.end = "";
        if let [rest @ .., b'\n'] = bytes {
            bytes = rest;
            self.end = "\n";
            if let [rest @ .., b'\r'] = bytes {
                bytes = rest;
                self.end = "\r\n";
            }
        } else if let [rest @ .., b'\r'] = bytes {
            // A last line ending in a lone CR: the CR is a line end too.
            bytes = rest;
        }
        if bytes.len() > self.max {
            self.fused = true;
            return Some(Err(ParseError::LineTooLong {
                line: self.line,
                max: self.max,
            }));
        }
        Some(match std::str::from_utf8(bytes) {
            Ok(t) => Ok((self.line, t)),
            Err(e) => Err(ParseError::Syntax {
                line: self.line,
                column: column_of(bytes, e.valid_up_to()),
                message: "invalid UTF-8".to_owned(),
            }),
        })
    }

    /// Stops reading: `next_line` returns `None` from now on.
    pub(crate) fn fuse(&mut self) {
        self.fused = true;
    }
}

/// Tells whether a name repeats one given earlier in the same line (label names, tag keys,
/// field keys, CSV columns) in constant time each: a scan while there are few names, a hash
/// set beyond, so a hostile line of a hundred thousand names costs linear time, not quadratic.
#[derive(Default)]
pub(crate) struct RepeatCheck {
    /// The first `set.len()` earlier names, once there are more than [`RepeatCheck::SCAN`].
    set: std::collections::HashSet<String>,
}

impl RepeatCheck {
    const SCAN: usize = 16;

    /// Whether `name` is among `earlier` (by `key`): the items accepted so far, in order, none
    /// repeated (each went through this check).
    pub(crate) fn repeats<T>(
        &mut self,
        earlier: &[T],
        key: impl Fn(&T) -> &str,
        name: &str,
    ) -> bool {
        if earlier.len() <= Self::SCAN {
            return earlier.iter().any(|e| key(e) == name);
        }
        if let Some(new) = earlier.get(self.set.len()..) {
            self.set.extend(new.iter().map(|e| key(e).to_owned()));
        }
        self.set.contains(name)
    }
}

/// Error inside one line, at a byte offset.
#[derive(Debug)]
pub(crate) struct LineError {
    pub(crate) pos: usize,
    pub(crate) message: String,
}

pub(crate) fn err(pos: usize, message: impl Into<String>) -> LineError {
    LineError {
        pos,
        message: message.into(),
    }
}

impl LineError {
    /// The error as a [`ParseError`] of line `line` whose text is `text`.
    pub(crate) fn at_line(self, line: u64, text: &str) -> ParseError {
        ParseError::Syntax {
            line,
            column: column_of(text.as_bytes(), self.pos),
            message: self.message,
        }
    }
}

/// 1-based character column of byte offset `pos` (counts UTF-8 lead bytes).
pub(crate) fn column_of(b: &[u8], pos: usize) -> u32 {
    let prefix = b.get(..pos).unwrap_or(b);
    let chars = prefix.iter().filter(|&&c| (c & 0xC0) != 0x80).count();
    u32::try_from(chars.saturating_add(1)).unwrap_or(u32::MAX)
}

#[inline]
pub(crate) fn at(b: &[u8], p: usize) -> Option<u8> {
    b.get(p).copied()
}

#[inline]
pub(crate) fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

#[inline]
pub(crate) fn skip_blanks(b: &[u8], mut p: usize) -> usize {
    while matches!(at(b, p), Some(c) if is_blank(c)) {
        p += 1;
    }
    p
}

/// End of the token starting at `p` (first blank or end of line).
#[inline]
pub(crate) fn token_end(b: &[u8], mut p: usize) -> usize {
    while matches!(at(b, p), Some(c) if !is_blank(c)) {
        p += 1;
    }
    p
}

/// End of the metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) starting at `p`; `p` if there is none.
#[inline]
pub(crate) fn scan_metric_name(b: &[u8], p: usize) -> usize {
    match at(b, p) {
        Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {}
        _ => return p,
    }
    let mut q = p + 1;
    while matches!(at(b, q), Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c == b':') {
        q += 1;
    }
    q
}

/// End of the label name (`[a-zA-Z_][a-zA-Z0-9_]*`) starting at `p`; `p` if there is none.
#[inline]
pub(crate) fn scan_label_name(b: &[u8], p: usize) -> usize {
    match at(b, p) {
        Some(c) if c.is_ascii_alphabetic() || c == b'_' => {}
        _ => return p,
    }
    let mut q = p + 1;
    while matches!(at(b, q), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
        q += 1;
    }
    q
}

/// `s[a..e]` without any chance of panicking.
#[inline]
pub(crate) fn sub(s: &str, a: usize, e: usize) -> Result<&str, LineError> {
    s.get(a..e)
        .ok_or_else(|| err(a, "internal error: split inside a UTF-8 character"))
}

/// A decimal number: what Rust's `f64` parser accepts among strings made of digits, `.`, `e`,
/// `E`, `+` and `-` (no `inf`, `nan`, hex or digit separators).
pub(crate) fn parse_decimal(t: &str) -> Option<f64> {
    if !t
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    t.parse().ok()
}

/// A sample value: a decimal number or `NaN`, `nan`, `Inf`, `inf`, `+Inf`, `+inf`, `-Inf`,
/// `-inf` (the Prometheus and OpenMetrics spellings; CSV uses the same).
pub(crate) fn parse_value(t: &str) -> Option<f64> {
    match t {
        "NaN" | "nan" => Some(f64::NAN),
        "Inf" | "inf" | "+Inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => parse_decimal(t),
    }
}

/// A signed integer of digits only (an optional leading `-`).
pub(crate) fn parse_int(t: &str) -> Option<i64> {
    let digits = t.strip_prefix('-').unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters() {
        assert_eq!(column_of(b"abc", 0), 1);
        assert_eq!(column_of("é€x".as_bytes(), 5), 3);
        assert_eq!(column_of(b"ab", 99), 3);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_decimal("1.5e3"), Some(1500.0));
        assert_eq!(parse_decimal("inf"), None);
        assert_eq!(parse_decimal(""), None);
        assert!(parse_value("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_int("-12"), Some(-12));
        for bad in ["+1", "1.0", "", "-", "1e3", "99999999999999999999"] {
            assert_eq!(parse_int(bad), None, "{bad}");
        }
    }

    #[test]
    fn reader_strips_line_ends_and_counts() {
        let mut r = LineReader::new(&b"a\r\n\nb"[..]);
        assert_eq!(r.next_line().unwrap().unwrap(), (1, "a"));
        assert_eq!(r.next_line().unwrap().unwrap(), (2, ""));
        assert_eq!(r.next_line().unwrap().unwrap(), (3, "b"));
        assert!(r.next_line().is_none());
        assert_eq!(r.line(), 3);
    }

    #[test]
    fn repeats_are_found_below_and_above_the_scan_limit() {
        let mut names: Vec<String> = Vec::new();
        let mut check = RepeatCheck::default();
        for i in 0..100 {
            let n = format!("n{i}");
            assert!(!check.repeats(&names, String::as_str, &n));
            names.push(n);
            let old = format!("n{}", i / 2);
            assert!(check.repeats(&names, String::as_str, &old));
        }
    }

    #[test]
    fn long_lines_are_refused_at_the_limit() {
        for (input, ok_lines) in [
            (&b"abcd\nabcde\nx"[..], 1),
            (&b"abcd\r\nabcd\nabcdef"[..], 2),
            (&b"abcd\r\nabcd\r\nabcd\rx\n"[..], 2),
        ] {
            // A tiny buffer, so lines span many fills.
            let mut r = LineReader::new(std::io::BufReader::with_capacity(2, input));
            r.set_max_line_bytes(4);
            for n in 1..=ok_lines {
                assert_eq!(r.next_line().unwrap().unwrap(), (n, "abcd"));
            }
            match r.next_line() {
                Some(Err(ParseError::LineTooLong { line, max: 4 })) => {
                    assert_eq!(line, ok_lines + 1)
                }
                other => panic!("{input:?}: expected LineTooLong, got {other:?}"),
            }
            assert!(r.next_line().is_none(), "fused after the error");
        }
    }
}
