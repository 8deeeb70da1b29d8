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

/// Labels as `name="value",…`, values quoted and escaped (quotes, backslashes, newlines and
/// other control characters), so one series is always one line of a table.
pub fn labels_text(labels: &tierlog::Labels) -> String {
    let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    l.join(",")
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
        assert_eq!(labels_text(&l), r#"a="x\"y",b="h\nz""#);
    }
}
