//! Output helpers: aligned tables, CSV quoting, JSON values.

use std::io::Write;

/// Prints rows as aligned columns with a header.
pub fn table(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line =
        |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| -> std::io::Result<()> {
            let mut s = String::new();
            for (i, (c, w)) in cells.zip(&widths).enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                s.push_str(c);
                if i + 1 < widths.len() {
                    s.extend(std::iter::repeat_n(' ', w - c.chars().count()));
                }
            }
            writeln!(out, "{}", s.trim_end())
        };
    line(out, &mut header.iter().copied())?;
    for r in rows {
        line(out, &mut r.iter().map(String::as_str))?;
    }
    Ok(())
}

/// Prints rows as aligned columns with a header, in two passes over `rows` (one to measure
/// the columns, one to print) so that a large result is never held as text twice: each row
/// lives only while it is measured or printed.
pub fn table_streamed<I>(
    out: &mut impl Write,
    header: &[&str],
    rows: impl Fn() -> I,
) -> std::io::Result<()>
where
    I: Iterator<Item = Vec<String>>,
{
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows() {
        for (w, c) in widths.iter_mut().zip(&r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut line = String::new();
    let mut print = |out: &mut dyn Write, cells: &[&str]| -> std::io::Result<()> {
        line.clear();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(c);
            if i + 1 < widths.len() {
                line.extend(std::iter::repeat_n(' ', w - c.chars().count()));
            }
        }
        writeln!(out, "{}", line.trim_end())
    };
    print(out, header)?;
    for r in rows() {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        print(out, &cells)?;
    }
    Ok(())
}

/// Whether standard output is a terminal that should get colours: yes unless piped or
/// `NO_COLOR` is set to something (<https://no-color.org>).
pub fn stdout_colours() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The size of the terminal on standard output as (columns, lines), or `None` when it is not
/// a terminal.
pub fn terminal_size() -> Option<(u16, u16)> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    window_size()
}

#[cfg(unix)]
#[allow(unsafe_code)] // an ioctl: std has no terminal-size call
fn window_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills in the plain-data `winsize` it is given a valid pointer to.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0 && ws.ws_row > 0).then_some((ws.ws_col, ws.ws_row))
}

#[cfg(not(unix))]
fn window_size() -> Option<(u16, u16)> {
    None
}

/// A user's text quoted for a message, cut to its first 60 characters when it is long (a
/// 100 kB selector is not echoed whole).
pub fn quoted_cut(s: &str) -> String {
    const SHOWN: usize = 60;
    match s.char_indices().nth(SHOWN) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &s[..cut], s.len()),
    }
}

/// Quotes a CSV field when needed (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// A value as text: the shortest form that reads back to the same f64 — plain decimals, or
/// scientific notation (`1e308`, `5e-324`) for magnitudes of 1e16 and more or below 1e-6,
/// which would otherwise print as hundreds of digits — and NaN, +Inf, -Inf.
pub fn value_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v != 0.0 && !(1e-6..1e16).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// A value for a table, for people: rounded to at most 10 significant digits, shortest
/// first (`6.470000000000001` prints `6.47`). Whole numbers below 1e16 print exactly (a
/// counter's digits are not noise), and a rounded value of 1e10 or more prints in
/// scientific notation (`1.234567890e10` would otherwise print as `12345678900`, zeros that
/// look exact). JSON and CSV keep every bit ([`value_text`]).
pub fn table_value_text(v: f64) -> String {
    if !v.is_finite() || (v.fract() == 0.0 && v.abs() < 1e16) {
        return value_text(v);
    }
    // The nearest f64 to `v` rounded to 10 significant digits; its shortest round-trip
    // text has at most 10 of them.
    let rounded: f64 = format!("{v:.9e}").parse().unwrap_or(v);
    if rounded != v && rounded.abs() >= 1e10 {
        format!("{rounded:e}")
    } else {
        value_text(rounded)
    }
}

/// Labels as Prometheus prints a label set, `{name="value",…}` (empty text for no labels),
/// each value quoted and escaped as Go's `strconv.Quote` does (backslash, quote, newline
/// and other control characters), so that a value holding `",j="` or `;` is never read as
/// two labels, and one series is always one line of a table.
pub fn labels_text(labels: &tierlog::Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let l: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", prom_quote(v)))
        .collect();
    format!("{{{}}}", l.join(","))
}

/// `s` in double quotes, escaped as Go's `strconv.Quote` escapes it.
fn prom_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_exactly_and_extremes_are_short() {
        for v in [
            0.0,
            -0.0,
            1.5,
            0.1 + 0.2,
            123456789.25,
            1e15,
            9.999_999_999_999_998e15,
            1e16,
            1e308,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            1e-6,
            9.99e-7,
            -2.5e-300,
        ] {
            let t = value_text(v);
            assert!(t.len() <= 25, "{v}: {t}");
            assert_eq!(t.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{t}");
        }
        assert_eq!(value_text(1e308), "1e308");
        assert_eq!(value_text(5e-324), "5e-324");
        assert_eq!(value_text(0.000_001), "0.000001");
        assert_eq!(value_text(1e15), "1000000000000000");
        assert_eq!(value_text(-0.0), "-0");
    }

    #[test]
    fn labels_stay_on_one_line() {
        let l = tierlog::Labels::canonical(&[("a", "x\"y"), ("b", "h\nz")]);
        assert_eq!(labels_text(&l), r#"{a="x\"y",b="h\nz"}"#);
        let l = tierlog::Labels::canonical(&[("c", "t\tb\\\u{1b}\u{85}é")]);
        assert_eq!(labels_text(&l), r#"{c="t\tb\\\x1b\u0085é"}"#);
        assert_eq!(
            labels_text(&tierlog::Labels::canonical::<&str, &str>(&[])),
            ""
        );
    }

    #[test]
    fn labels_that_hold_separators_stay_one_label() {
        let two = tierlog::Labels::canonical(&[("k", "x"), ("j", "y")]);
        let one = tierlog::Labels::canonical(&[("k", "x;j=y")]);
        let tricky = tierlog::Labels::canonical(&[("k", "x\",j=\"y")]);
        let texts = [labels_text(&two), labels_text(&one), labels_text(&tricky)];
        assert_eq!(texts[0], r#"{j="y",k="x"}"#);
        assert_ne!(texts[0], texts[1]);
        assert_ne!(texts[0], texts[2]);
        assert_eq!(texts[2], r#"{k="x\",j=\"y"}"#);
    }

    #[test]
    fn tables_round_float_noise_but_not_digits_that_matter() {
        assert_eq!(table_value_text(6.470000000000001), "6.47");
        assert_eq!(table_value_text(0.1 + 0.2), "0.3");
        assert_eq!(table_value_text(1.0 / 3.0), "0.3333333333");
        assert_eq!(table_value_text(2.0 / 3.0), "0.6666666667");
        // Whole numbers print whole, however many digits.
        assert_eq!(table_value_text(1_234_567_890_123.0), "1234567890123");
        assert_eq!(table_value_text(-0.0), "-0");
        // Rounding that would invent zeros in the whole part goes scientific.
        assert_eq!(table_value_text(12_345_678_901.5), "1.23456789e10");
        assert_eq!(table_value_text(1234567890.4), "1234567890");
        assert_eq!(table_value_text(1.2345678901234e-9), "1.23456789e-9");
        assert_eq!(table_value_text(f64::NAN), "NaN");
        assert_eq!(table_value_text(f64::NEG_INFINITY), "-Inf");
        assert_eq!(table_value_text(1.5e300), "1.5e300");
        // Values that need no rounding are unchanged.
        for v in [1.5, 0.25, 123456.789, 1e-7, 5e-324] {
            assert_eq!(table_value_text(v), value_text(v), "{v}");
        }
    }
}
