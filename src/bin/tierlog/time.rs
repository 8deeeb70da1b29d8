//! Time arguments: RFC 3339 (UTC when no offset is given), ms since the epoch, relative
//! (`-2h`, `-30m`, `+5s`, `-1d`), or `now`.

/// Parses a time argument relative to `now_ms`.
pub fn parse_time(s: &str, now_ms: i64) -> Result<i64, String> {
    let s = s.trim();
    if s == "now" {
        return Ok(now_ms);
    }
    if let Some(rest) = s.strip_prefix('-').or_else(|| s.strip_prefix('+'))
        && let Some(d) = parse_duration_ms(rest)
    {
        return Ok(if s.starts_with('-') {
            now_ms - d
        } else {
            now_ms + d
        });
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| format!("{s:?}: number out of range"));
    }
    parse_rfc3339(s).ok_or_else(|| {
        format!(
            "{s:?}: expected RFC 3339 (2024-01-02T03:04:05Z), ms since epoch, relative (-2h) or now"
        )
    })
}

/// `90s`, `5m`, `2h`, `1d`, `1500ms`, or combinations like `1h30m`.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !c.is_ascii_digit())?;
        if n_end == 0 {
            return None;
        }
        let n: i64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let (unit, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            let c = rest.chars().next()?;
            let u = match c {
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                'w' => 7 * 86_400_000,
                _ => return None,
            };
            (u, 1)
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        rest = &rest[len..];
    }
    Some(total)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
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

fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, mo, d) * 86_400_000;
    let mut i = 10;
    if i < b.len() && (b[i] == b'T' || b[i] == b't' || b[i] == b' ') {
        if b.len() < i + 9 || b[i + 3] != b':' || b[i + 6] != b':' {
            return None;
        }
        let (h, mi, se) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?, num(i + 7..i + 9)?);
        if h > 23 || mi > 59 || se > 60 {
            return None;
        }
        ms += (h * 3600 + mi * 60 + se) * 1000;
        i += 9;
        if i < b.len() && b[i] == b'.' {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j == start {
                return None;
            }
            let frac = &s[start..j.min(start + 3)];
            let mut f: i64 = frac.parse().ok()?;
            for _ in frac.len()..3 {
                f *= 10;
            }
            ms += f;
            i = j;
        }
    }
    match &s[i..] {
        "" | "Z" | "z" => Some(ms),
        off if off.len() == 6
            && (off.starts_with('+') || off.starts_with('-'))
            && &off[3..4] == ":" =>
        {
            let oh: i64 = off[1..3].parse().ok()?;
            let om: i64 = off[4..6].parse().ok()?;
            let o = (oh * 60 + om) * 60_000;
            Some(if off.starts_with('+') { ms - o } else { ms + o })
        }
        _ => None,
    }
}

/// RFC 3339 in UTC with milliseconds, e.g. `2024-01-02T03:04:05.000Z`.
pub fn format_rfc3339(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, f) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{f:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let now = 1_700_000_000_000;
        assert_eq!(parse_time("now", now), Ok(now));
        assert_eq!(parse_time("-2h", now), Ok(now - 7_200_000));
        assert_eq!(parse_time("+1h30m", now), Ok(now + 5_400_000));
        assert_eq!(parse_time("1700000000123", now), Ok(1_700_000_000_123));
        assert_eq!(parse_time("2023-11-14T22:13:20Z", now), Ok(now));
        assert_eq!(parse_time("2023-11-14T22:13:20", now), Ok(now));
        assert_eq!(
            parse_time("2023-11-14T23:13:20.5+01:00", now),
            Ok(now + 500)
        );
        assert_eq!(parse_time("1970-01-01", now), Ok(0));
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_time("2023-13-01", now).is_err());
    }

    #[test]
    fn formats_round_trip() {
        for ms in [0, 1_700_000_000_123, 253_402_300_799_999] {
            assert_eq!(parse_time(&format_rfc3339(ms), 0), Ok(ms));
        }
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
