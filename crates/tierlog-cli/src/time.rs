//! Time arguments: RFC 3339 (UTC when no offset is given), ms since the epoch, relative
//! (`-2h`, `-30m`, `+5s`, `-1d`), or `now`.

/// The forms a time argument takes, for messages.
pub const TIME_FORMS: &str = "expected RFC 3339 (2024-01-02T03:04:05Z), ms since the epoch \
     (1700000000000, or with a unit: 1700000000000ms, 1700000000s), relative (-2h, +5m) or now";

/// Bare integers below this are refused: as milliseconds they are before March 1973, and
/// a ten-digit number is almost always seconds since the epoch.
const BARE_MS_MIN: i64 = 100_000_000_000;

/// Parses a time argument relative to `now_ms`.
pub fn parse_time(s: &str, now_ms: i64) -> Result<i64, String> {
    let s = s.trim();
    if s == "now" {
        return Ok(now_ms);
    }
    let range = || format!("{s:?}: out of range");
    if let Some(rest) = s.strip_prefix('-').or_else(|| s.strip_prefix('+'))
        && let Some(d) = parse_duration_ms(rest)
    {
        let t = if s.starts_with('-') {
            now_ms.checked_sub(d)
        } else {
            now_ms.checked_add(d)
        };
        return t.ok_or_else(range);
    }
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if let Some(n) = s.strip_suffix("ms").filter(|n| digits(n)) {
        return n.parse().map_err(|_| range());
    }
    if let Some(n) = s.strip_suffix('s').filter(|n| digits(n)) {
        return n
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(1000))
            .ok_or_else(range);
    }
    if digits(s) {
        let n: i64 = s.parse().map_err(|_| range())?;
        if n < BARE_MS_MIN {
            return Err(format!(
                "{s:?}: a bare number is milliseconds since the epoch, and this one is before 1973; \
                 write {s}s for seconds or {s}ms for milliseconds"
            ));
        }
        return Ok(n);
    }
    parse_rfc3339(s).ok_or_else(|| format!("{s:?}: {TIME_FORMS}"))
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

/// A span of time for people: its largest unit and the next one that is not zero, rounded
/// down — `13 days 20 hours`, `1 day 20 minutes`, `2 hours 5 minutes`, `45 seconds`,
/// `250 ms`.
pub fn human_span(ms: i64) -> String {
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{ms} ms");
    }
    let units = [
        ("day", 86_400_000u64),
        ("hour", 3_600_000),
        ("minute", 60_000),
        ("second", 1000),
    ];
    let count = |n: u64, name: &str| format!("{n} {name}{}", if n == 1 { "" } else { "s" });
    let i = units.iter().position(|&(_, size)| ms >= size).unwrap_or(3);
    let (name, size) = units[i];
    let mut s = count(ms / size, name);
    let rest = ms % size;
    if let Some(&(next, next_size)) = units[i + 1..].iter().find(|&&(_, n)| rest >= n) {
        s.push(' ');
        s.push_str(&count(rest / next_size, next));
    }
    s
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    tierlog_tools::import::rfc3339::parse(s)
}

/// RFC 3339 in UTC with milliseconds, e.g. `2024-01-02T03:04:05.000Z`.
pub fn format_rfc3339(ms: i64) -> String {
    tierlog_tools::import::rfc3339::format(ms)
}

/// The zone printed times are in: UTC (`Z`), or this machine's local time with its offset
/// (`--local`; the TZ environment variable, else the system's zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Utc,
    Local,
}

impl Zone {
    /// The offset from UTC at `ms`, in whole minutes (RFC 3339 offsets have no seconds; the
    /// rare historical offset with seconds is truncated, and the printed wall-clock time
    /// with it, so that time and offset still name the same instant up to those seconds).
    pub fn offset_minutes(self, ms: i64) -> i64 {
        match self {
            Zone::Utc => 0,
            Zone::Local => local_offset_s(ms) / 60,
        }
    }

    /// RFC 3339 with milliseconds: `2024-01-02T03:04:05.000Z` in UTC,
    /// `2024-01-02T08:34:05.000+05:30` in local time.
    pub fn format(self, ms: i64) -> String {
        match self {
            Zone::Utc => format_rfc3339(ms),
            Zone::Local => {
                let off = self.offset_minutes(ms);
                let mut s = format_rfc3339(ms + off * 60_000);
                s.pop(); // the `Z`
                let sign = if off < 0 { '-' } else { '+' };
                s.push_str(&format!(
                    "{sign}{:02}:{:02}",
                    off.abs() / 60,
                    off.abs() % 60
                ));
                s
            }
        }
    }

    /// The wall-clock fields of `ms` in this zone: `YYYY-MM-DDTHH:MM:SS.mmm` (no offset).
    pub fn wall_clock(self, ms: i64) -> String {
        let mut s = format_rfc3339(ms + self.offset_minutes(ms) * 60_000);
        s.pop();
        s
    }
}

/// The local offset from UTC at `ms`, in seconds, from the C library's `localtime_r` (which
/// follows TZ and the system's zone database, daylight saving time included); 0 when it
/// cannot tell.
#[cfg(unix)]
#[allow(unsafe_code)] // localtime_r: std has no local time zone
fn local_offset_s(ms: i64) -> i64 {
    unsafe extern "C" {
        // POSIX; not every libc binding declares it.
        fn tzset();
    }
    static TZSET: std::sync::Once = std::sync::Once::new();
    // SAFETY: tzset only reads TZ and sets the C library's zone state; it runs once, before
    // any localtime_r of this process.
    TZSET.call_once(|| unsafe { tzset() });
    // time_t is 64 bits on every platform this builds for but old 32-bit ones.
    let t = ms.div_euclid(1000) as libc::time_t;
    // SAFETY: `tm` is plain data that localtime_r fills in; both pointers are valid for the
    // call, and localtime_r is the reentrant form.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() { 0 } else { tm.tm_gmtoff as i64 }
}

#[cfg(not(unix))]
fn local_offset_s(_ms: i64) -> i64 {
    0
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
        assert_eq!(parse_time("1700000000123ms", now), Ok(1_700_000_000_123));
        assert_eq!(parse_time("1700000000s", now), Ok(now));
        assert_eq!(parse_time("0ms", now), Ok(0));
        assert_eq!(parse_time("100000000000", now), Ok(100_000_000_000));
        let e = parse_time("1795385000", now).unwrap_err();
        assert!(
            e.contains("1795385000s") && e.contains("1795385000ms"),
            "{e}"
        );
        assert!(parse_time("99999999999", now).is_err());
        assert!(parse_time("+9223372036854775807ms", now).is_err());
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
    fn spans_read_as_people_say_them() {
        assert_eq!(human_span(1_198_282_000), "13 days 20 hours");
        assert_eq!(human_span(87_600_000), "1 day 20 minutes");
        assert_eq!(human_span(86_400_000), "1 day");
        assert_eq!(human_span(7_500_000), "2 hours 5 minutes");
        assert_eq!(human_span(61_000), "1 minute 1 second");
        assert_eq!(human_span(45_500), "45 seconds");
        assert_eq!(human_span(250), "250 ms");
    }

    #[test]
    fn formats_round_trip() {
        for ms in [0, 1_700_000_000_123, 253_402_300_799_999] {
            assert_eq!(parse_time(&format_rfc3339(ms), 0), Ok(ms));
        }
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn utc_zone_is_the_plain_format() {
        assert_eq!(Zone::Utc.format(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(Zone::Utc.wall_clock(61_000), "1970-01-01T00:01:01.000");
        // Whatever the local zone, the printed time parses back to the same instant.
        let ms = 1_700_000_000_123;
        assert_eq!(parse_time(&Zone::Local.format(ms), 0), Ok(ms));
    }
}
