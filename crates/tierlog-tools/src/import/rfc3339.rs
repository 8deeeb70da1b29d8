//! RFC 3339 times as milliseconds since the epoch: the one calendar of the library and the CLI
//! (CSV timestamps, `--from`/`--to`/`--now`, printed times).

const MS_PER_DAY: i64 = 86_400_000;

/// Parses `YYYY-MM-DD[(T|t| )hh:mm:ss[.fraction]][Z|z|±hh:mm]` into ms since the epoch.
/// Without an offset the time is UTC; fraction digits below a millisecond are dropped; a
/// date without a time is its midnight. Day and month are checked against the calendar.
pub fn parse(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (y, mo, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let mut ms = days_from_civil(y, mo, d) * MS_PER_DAY;
    let mut i = 10;
    if matches!(b.get(i), Some(b'T' | b't' | b' ')) {
        if b.get(i + 3) != Some(&b':') || b.get(i + 6) != Some(&b':') {
            return None;
        }
        let (h, mi, se) = (
            digits(b, i + 1, 2)?,
            digits(b, i + 4, 2)?,
            digits(b, i + 7, 2)?,
        );
        if h > 23 || mi > 59 || se > 60 {
            return None;
        }
        ms += (h * 3600 + mi * 60 + se) * 1000;
        i += 9;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            let mut j = start;
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            if j == start {
                return None;
            }
            for (k, scale) in (start..j).zip([100, 10, 1]) {
                ms += i64::from(b[k] - b'0') * scale;
            }
            i = j;
        }
    }
    match b.get(i..)? {
        [] | [b'Z' | b'z'] => Some(ms),
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (digits(b, i + 1, 2)?, digits(b, i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let off = (oh * 60 + om) * 60_000;
            Some(if *sign == b'+' { ms - off } else { ms + off })
        }
        _ => None,
    }
}

/// `ms` in UTC with milliseconds, e.g. `2024-01-02T03:04:05.000Z`.
pub fn format(ms: i64) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let rem = ms.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, f) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{f:03}Z")
}

/// The `n` ASCII digits at `b[at..]` as a number.
fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let t = b.get(at..at + n)?;
    t.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// Days in month `m` (1–12) of year `y`, proleptic Gregorian.
pub fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `(year, month, day)` of a day number from [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_form() {
        let t = 1_700_000_000_000;
        for (s, want) in [
            ("2023-11-14T22:13:20Z", Some(t)),
            ("2023-11-14t22:13:20z", Some(t)),
            ("2023-11-14 22:13:20", Some(t)),
            ("2023-11-14T23:13:20.5+01:00", Some(t + 500)),
            ("2023-11-14T21:13:20.123456-01:00", Some(t + 123)),
            ("1970-01-01", Some(0)),
            ("1970-01-01Z", Some(0)),
            ("2024-02-29T00:00:00Z", Some(1_709_164_800_000)),
            ("2023-02-29T00:00:00Z", None),
            ("2023-04-31", None),
            ("2023-13-01", None),
            ("2023-11-14T24:00:00Z", None),
            ("2023-11-14T22:13:20.Z", None),
            ("2023-11-14T22:13:20+0100", None),
            ("2023-11-14T22:13:20+01:60", None),
            ("2023-11-14T22:13", None),
            ("2023-11-14T22:13:20Zx", None),
            ("2023-1-14", None),
            ("+023-11-14", None),
            ("2023-11-14T22:13:20+0é00", None),
            ("", None),
        ] {
            assert_eq!(parse(s), want, "{s:?}");
        }
    }

    #[test]
    fn formats() {
        assert_eq!(format(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    proptest! {
        #[test]
        fn round_trip(ms in 0i64..253_402_300_800_000) {
            prop_assert_eq!(parse(&format(ms)), Some(ms));
        }

        #[test]
        fn never_panics(s in "[0-9T:.Z+ -é]{0,40}") {
            let _ = parse(&s);
        }
    }
}
