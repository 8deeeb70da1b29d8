//! Request parameters as Prometheus reads them: the query string and, for a POST, an
//! `application/x-www-form-urlencoded` body; times as RFC 3339 or unix seconds; durations as
//! float seconds or a Prometheus duration (`15s`, `1m30s`).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};
use tierlog_tools::import::rfc3339::{civil_from_days, days_from_civil, days_in_month};

use crate::api::ApiError;

/// The smallest time Prometheus' API accepts (its `minTime`), in ms.
pub(crate) const MIN_TIME_MS: i64 = -9_223_309_901_257_974;
/// The largest time Prometheus' API accepts (its `maxTime`), in ms.
pub(crate) const MAX_TIME_MS: i64 = 9_223_309_901_257_974;

/// A request's parameters in order: a POST body's first, then the query string's (as Go's
/// `Request.FormValue` sees them).
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Parameters from `application/x-www-form-urlencoded` text.
    pub(crate) fn from_form(body: &[u8], query: &str) -> Self {
        let mut v: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        v.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
        Params(v)
    }

    /// The first value of `name`; an empty value counts as missing.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every value of `name` (e.g. `match[]`), in order.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The optional time parameter `name`, or `default` when it is missing or empty; as
    /// Prometheus' `parseTimeParam`, whose errors say which value was invalid twice.
    pub(crate) fn time_or(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(s) => parse_time(s).map_err(|e| {
                ApiError::bad_param(name, format!("Invalid time value for '{name}': {e}"))
            }),
        }
    }

    /// The required time parameter `name`.
    pub(crate) fn time(&self, name: &str) -> Result<i64, ApiError> {
        parse_time(self.get(name).unwrap_or("")).map_err(|e| ApiError::bad_param(name, e))
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let query = req.uri().query().unwrap_or("").to_owned();
        let form = req.method() == Method::POST
            && req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(is_form);
        let body = if form {
            Bytes::from_request(req, state)
                .await
                .map_err(|e| ApiError::bad_data(format!("error parsing form values: {e}")))?
        } else {
            Bytes::new()
        };
        Ok(Params::from_form(&body, &query))
    }
}

/// Whether a `Content-Type` is a form's: the media type compared without case and without
/// its parameters, as Go's `mime.ParseMediaType` (which Prometheus' `ParseForm` uses) does;
/// browsers send `application/x-www-form-urlencoded; charset=UTF-8`.
fn is_form(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|m| {
        m.trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

/// A time as Prometheus' API takes it: unix seconds (a float; made ms as Prometheus does) or
/// RFC 3339 (`2023-11-14T22:13:20Z`, `2023-11-14T23:13:20.5+01:00`), in ms.
pub(crate) fn parse_time(s: &str) -> Result<i64, String> {
    let err = || format!("cannot parse {s:?} to a valid timestamp");
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite()
            || secs < MIN_TIME_MS as f64 / 1000.0
            || secs > MAX_TIME_MS as f64 / 1000.0
        {
            return Err(err());
        }
        let ms = secs_to_ms(secs);
        return if (MIN_TIME_MS..=MAX_TIME_MS).contains(&ms) {
            Ok(ms)
        } else {
            Err(err())
        };
    }
    // Prometheus' own bounds, as its clients send them.
    match s {
        "-292273086-05-16T16:47:06Z" => return Ok(MIN_TIME_MS),
        "292277025-08-18T07:12:54.999999999Z" => return Ok(MAX_TIME_MS),
        _ => {}
    }
    parse_rfc3339(s).ok_or_else(err)
}

/// Float seconds in ms with Prometheus' arithmetic (not `(secs * 1000).round()`, which
/// differs below the millisecond): the fraction of `math.Modf` rounded to ms, made
/// nanoseconds by a truncating conversion, then `time.Unix` and `timestamp.FromTime`, which
/// floor to the ms. So `-4.5805` is -4580 ms, `1699999991.6885` is …991688 ms.
fn secs_to_ms(secs: f64) -> i64 {
    let whole = secs.trunc();
    // Exact, as Go's `Modf` is, for either sign.
    let frac = secs - whole;
    let frac = (frac * 1000.0).round() / 1000.0;
    let ns = (frac * 1e9) as i64;
    whole as i64 * 1000 + ns.div_euclid(1_000_000)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` in ms (the fraction truncated to ms).
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    let mut i = 19;
    let mut ms = 0;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        for (k, d) in b[start..i].iter().take(3).enumerate() {
            ms += i64::from(d - b'0') * [100, 10, 1][k];
        }
    }
    let offset_s = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [h1, h2, m1, m2];
            if !digits.iter().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let d = |c: &u8| i64::from(c - b'0');
            let (h, m) = (d(h1) * 10 + d(h2), d(m1) * 10 + d(m2));
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + hour * 3600 + min * 60 + sec) - offset_s) * 1000 + ms)
}

/// `ms` as RFC 3339 in UTC with milliseconds when they are not zero
/// (`2023-11-14T22:13:20.5Z` is written `2023-11-14T22:13:20.500Z`).
pub(crate) fn format_rfc3339(ms: i64) -> String {
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if milli == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{milli:03}Z")
    }
}

/// A duration as Prometheus' API takes it (`step`, `timeout`): float seconds or a Prometheus
/// duration (`1y2w3d4h5m6s7ms` with units in that order, each at most once), in ms.
pub(crate) fn parse_duration(s: &str) -> Result<i64, String> {
    let err = || format!("cannot parse {s:?} to a valid duration");
    if let Ok(secs) = s.parse::<f64>() {
        // As Prometheus: nanoseconds by a truncating conversion (NaN gives a duration that
        // is not positive), which its engine truncates to ms: `130.48` is 130479 ms.
        let ns = secs * 1e9;
        if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!("{}. It overflows int64", err()));
        }
        return Ok((ns as i64) / 1_000_000);
    }
    prometheus_duration_ms(s).ok_or_else(err)
}

/// `1y2w3d4h5m6s7ms` in ms; `None` when malformed, empty, out of order or overflowing.
pub(crate) fn prometheus_duration_ms(s: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    if s.is_empty() || s == "0" {
        return (s == "0").then_some(0);
    }
    let mut rest = s;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let k = UNITS[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
        next_unit = k + 1;
        total = total.checked_add(n.checked_mul(UNITS[k].1)?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_seconds_and_rfc3339() {
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("1700000000.123"), Ok(1_700_000_000_123));
        assert_eq!(parse_time("-1.5"), Ok(-1500));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20.25Z"), Ok(1_700_000_000_250));
        assert_eq!(
            parse_time("2023-11-14T23:13:20+01:00"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(parse_time("1969-12-31T23:59:59Z"), Ok(-1000));
        assert_eq!(parse_time("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000));
        assert_eq!(parse_time("-292273086-05-16T16:47:06Z"), Ok(MIN_TIME_MS));
        // Below the millisecond, as Prometheus 2.42 answered `time()` at these times.
        for (s, ms) in [
            ("1700000000.0005", 1_700_000_000_000),
            ("1700000000.0015", 1_700_000_000_001),
            ("1699999991.6885", 1_699_999_991_688),
            ("123459.3945", 123_459_394),
            ("1.0005", 1000),
            ("1.9995", 2000),
            ("0.9996", 1000),
            ("0.0005", 1),
            ("-0.0005", -1),
            ("-0.9996", -1000),
            ("-1.0005", -1000),
            ("-4.5805", -4580),
            ("-5.9635", -5963),
        ] {
            assert_eq!(parse_time(s), Ok(ms), "{s}");
        }
        for bad in [
            "",
            "x",
            "NaN",
            "inf",
            "2023-02-29T00:00:00Z",
            "2023-11-14 22:13:20Z",
            "2023-11-14T22:13:20",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc3339_round_trips() {
        for ms in [
            0,
            1_700_000_000_000,
            1_700_000_000_250,
            -1000,
            951_782_400_000,
        ] {
            assert_eq!(
                parse_time(&format_rfc3339(ms)),
                Ok(ms),
                "{}",
                format_rfc3339(ms)
            );
        }
        assert_eq!(format_rfc3339(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(
            format_rfc3339(1_700_000_000_250),
            "2023-11-14T22:13:20.250Z"
        );
    }

    #[test]
    fn durations_as_seconds_or_prometheus_units() {
        assert_eq!(parse_duration("15"), Ok(15_000));
        assert_eq!(parse_duration("0.5"), Ok(500));
        assert_eq!(parse_duration("15s"), Ok(15_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000));
        assert_eq!(parse_duration("1h0m5s100ms"), Ok(3_605_100));
        assert_eq!(parse_duration("2w1d"), Ok(15 * 86_400_000));
        // Float seconds truncated to ms, as Prometheus 2.42 stepped range queries with them.
        for (s, ms) in [
            ("130.48", 130_479),
            ("136.759", 136_758),
            ("271.953", 271_952),
            ("4.001", 4001),
            ("0.0155", 15),
            ("0.0285", 28),
            ("1e-3", 1),
            ("-2", -2000),
        ] {
            assert_eq!(parse_duration(s), Ok(ms), "{s}");
        }
        assert!(parse_duration("NaN").is_ok_and(|ms| ms <= 0));
        assert_eq!(
            parse_duration("1e20"),
            Err(r#"cannot parse "1e20" to a valid duration. It overflows int64"#.into())
        );
        for bad in ["", "s", "1x", "30s1m", "1s1s", "1.5m", "99999999999999999y"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn form_content_types_as_go_reads_them() {
        for ct in [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=UTF-8",
            "application/x-www-form-urlencoded;charset=utf-8",
            "Application/X-WWW-Form-Urlencoded",
            " application/x-www-form-urlencoded ",
        ] {
            assert!(is_form(ct), "{ct}");
        }
        for ct in [
            "",
            "application/json",
            "multipart/form-data; boundary=x",
            "text/plain",
        ] {
            assert!(!is_form(ct), "{ct}");
        }
    }

    #[test]
    fn optional_times_default_when_missing_or_empty() {
        let p = Params::from_form(b"", "start=&end=noon&time=1.5");
        assert_eq!(p.time_or("start", 7).ok(), Some(7));
        assert_eq!(p.time_or("absent", 8).ok(), Some(8));
        assert_eq!(p.time_or("time", 0).ok(), Some(1500));
        let e = p.time_or("end", 0).expect_err("noon");
        assert_eq!(
            e.message(),
            r#"invalid parameter "end": Invalid time value for 'end': cannot parse "noon" to a valid timestamp"#
        );
        // A required time has no default and no second mention of the name.
        let e = p.time("start").expect_err("empty");
        assert_eq!(
            e.message(),
            r#"invalid parameter "start": cannot parse "" to a valid timestamp"#
        );
    }

    #[test]
    fn form_body_comes_before_the_query_string() {
        let p = Params::from_form(b"query=up&match%5B%5D=a&match[]=b", "query=down&time=5");
        assert_eq!(p.get("query"), Some("up"));
        assert_eq!(p.get("time"), Some("5"));
        assert_eq!(p.all("match[]"), ["a", "b"]);
        assert_eq!(p.get("absent"), None);
    }
}
