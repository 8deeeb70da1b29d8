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

fn parse_rfc3339(s: &str) -> Option<i64> {
    tierlog::import::rfc3339::parse(s)
}

/// RFC 3339 in UTC with milliseconds, e.g. `2024-01-02T03:04:05.000Z`.
pub fn format_rfc3339(ms: i64) -> String {
    tierlog::import::rfc3339::format(ms)
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
