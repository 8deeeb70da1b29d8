//! Value parsers of the flags that take times, durations and sizes: one parser per kind, so
//! that a value written one way works in every flag of that kind (`--max-bytes 10GiB` as in
//! `config max_bytes=10GiB`). Each flag of these kinds is declared with
//! `allow_hyphen_values`, so that `--from -1h` reads `-1h` as the flag's value; a value
//! that looks like a flag (`--from --to`) is refused here, as a usage error.

use std::time::Duration;

use crate::time;

/// A value that is another flag, taken as this flag's value by `allow_hyphen_values`.
fn looks_like_a_flag(s: &str) -> bool {
    s.starts_with("--") || (s.starts_with('-') && s[1..].starts_with(|c: char| c.is_alphabetic()))
}

/// A time flag (`--from`, `--to`, `--now`, `--since`): checked here, resolved against the
/// clock when the command runs (relative times need `--now`).
pub fn time_arg(s: &str) -> Result<String, String> {
    if looks_like_a_flag(s) {
        return Err(format!("{s:?} is a flag, not a time: {}", time::TIME_FORMS));
    }
    time::parse_time(s, 0).map(|_| s.to_owned())
}

/// A duration flag (`--step`, `--delay`, `--window-span`, ...): `90s`, `5m`, `2h`, `1d`,
/// `1500ms`, `1h30m`; never negative.
pub fn duration_arg(s: &str) -> Result<Duration, String> {
    if looks_like_a_flag(s) {
        return Err(format!(
            "{s:?} is a flag, not a duration (e.g. 500ms, 10s, 5m, 1h)"
        ));
    }
    if let Some(rest) = s.strip_prefix('-')
        && time::parse_duration_ms(rest).is_some()
    {
        return Err(format!("{s:?}: a duration is not negative (e.g. {rest})"));
    }
    time::parse_duration_ms(s)
        .map(|ms| Duration::from_millis(ms as u64))
        .ok_or_else(|| format!("{s:?}: expected a duration like 500ms, 10s, 5m, 1h or 1h30m"))
}

/// A size flag (`--max-bytes`, `--max-line-bytes`): see [`parse_bytes`].
pub fn size_arg(s: &str) -> Result<u64, String> {
    parse_bytes(s)
        .ok_or_else(|| format!("{s:?}: expected a byte count like 1048576, 500MB or 10GiB"))
}

/// A size flag held in a `usize`.
pub fn size_arg_usize(s: &str) -> Result<usize, String> {
    size_arg(s)
        .and_then(|n| usize::try_from(n).map_err(|_| format!("{s:?}: too large for this machine")))
}

/// A byte count with an optional unit: B, KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB
/// (powers of 1024).
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_every_unit() {
        assert_eq!(size_arg("10GiB"), Ok(10 << 30));
        assert_eq!(size_arg("500MB"), Ok(500_000_000));
        assert_eq!(size_arg("42"), Ok(42));
        assert_eq!(size_arg_usize("1MiB"), Ok(1 << 20));
        assert!(size_arg("10 parsecs").is_err());
        assert!(size_arg("99999999999TiB").is_err());
    }

    #[test]
    fn durations_refuse_signs_and_flags_with_a_reason() {
        assert_eq!(duration_arg("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(duration_arg("-5m").unwrap_err().contains("not negative"));
        assert!(duration_arg("--format").unwrap_err().contains("is a flag"));
    }

    #[test]
    fn times_take_a_leading_minus_but_not_a_flag() {
        assert_eq!(time_arg("-1h"), Ok("-1h".to_owned()));
        assert!(time_arg("--to").unwrap_err().contains("is a flag"));
        assert!(time_arg("-x").is_err());
    }
}
