//! Text as Prometheus (Go) prints it in results and error messages, so that ours read the same.

use std::fmt::Write;

use crate::Labels;

/// Go's `strconv.Quote`: a double-quoted string with Go escapes.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let n = c as u32;
                if n <= 0xffff {
                    let _ = write!(out, "\\u{n:04x}");
                } else {
                    let _ = write!(out, "\\U{n:08x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Prometheus' `labels.Labels.String()`: `{__name__="up", job="x"}` (every label, the metric
/// name included, in name order).
pub(crate) fn labels(l: &Labels) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in l.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        out.push('=');
        out.push_str(&quote(v));
    }
    out.push('}');
    out
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest decimal that reads back as `v`,
/// never with an exponent; `NaN`, `+Inf`, `-Inf`.
pub(crate) fn float_f(v: f64) -> String {
    crate::format_value(v)
}

/// Go's `fmt` verb `%v` for a float64 (`%g` with the shortest precision): an exponent when
/// the decimal exponent is below -4 or at least 6 (`1e+06`, `123456`, `1.5e-05`).
pub(crate) fn float_v(v: f64) -> String {
    if let Some(s) = crate::value::special(v) {
        return s.to_owned();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // Shortest digits and decimal exponent from Rust's `{:e}` (e.g. "1.5e-5").
    let e = format!("{v:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((e.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.unsigned_abs())
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_does() {
        assert_eq!(float_f(1.0), "1");
        assert_eq!(float_f(0.5), "0.5");
        assert_eq!(float_f(1e21), "1000000000000000000000");
        assert_eq!(float_f(1e-7), "0.0000001");
        assert_eq!(float_f(-0.0), "-0");
        assert_eq!(float_f(f64::NAN), "NaN");
        assert_eq!(float_f(f64::INFINITY), "+Inf");
        assert_eq!(float_f(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float_v(1e19), "1e+19");
        assert_eq!(float_v(-9.3e18), "-9.3e+18");
        assert_eq!(float_v(1e6), "1e+06");
        assert_eq!(float_v(123456.0), "123456");
        assert_eq!(float_v(1.5e-5), "1.5e-05");
        assert_eq!(float_v(0.0001), "0.0001");
        assert_eq!(float_v(1e300), "1e+300");
        assert_eq!(float_v(f64::NAN), "NaN");
        assert_eq!(float_v(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn labels_print_as_prometheus_does() {
        let l = Labels::new([("job", "a\"b"), ("__name__", "up")]);
        assert_eq!(labels(&l), "{__name__=\"up\", job=\"a\\\"b\"}");
        assert_eq!(labels(&Labels::default()), "{}");
        assert_eq!(quote("\u{1}\n"), "\"\\x01\\n\"");
    }
}
