//! Calendar fields of a Unix time in UTC, as Go's `time` package computes them for
//! Prometheus 2.42's date functions (`year`, `month`, `day_of_month`, …).

/// The calendar fields the date functions read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    /// 1..=366
    pub day_of_year: u32,
    /// 0 = Sunday
    pub day_of_week: u32,
    pub hour: u32,
    pub minute: u32,
    pub days_in_month: u32,
}

/// Go's `int64(v)` on amd64: truncation toward zero; NaN and values outside the `i64`
/// range give `i64::MIN`.
pub(crate) fn go_int64(v: f64) -> i64 {
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The UTC calendar fields of Unix second `sec` (proleptic Gregorian calendar).
pub(crate) fn civil(sec: i64) -> Civil {
    if sec == i64::MIN {
        // Go's time arithmetic wraps around for this one value (what `int64(NaN)`, ±Inf and
        // out-of-range floats become): Prometheus 2.42 answers 292277026596-12-04 15:30,
        // a Sunday (values read from /usr/bin/prometheus 2.42.0, e.g. `year(vector(NaN))`).
        return Civil {
            year: 292_277_026_596,
            month: 12,
            day: 4,
            day_of_year: 339,
            day_of_week: 0,
            hour: 15,
            minute: 30,
            days_in_month: 31,
        };
    }
    let days = sec.div_euclid(86_400);
    let secs_of_day = sec.rem_euclid(86_400);
    // Days since 0000-03-01, split into 400-year eras (146097 days each).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy_mar = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy_mar + 2) / 153; // [0, 11], March = 0
    let day = (doy_mar - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let before: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let day_of_year = before[month as usize - 1] + day + u32::from(month > 2 && is_leap(year));
    // 1970-01-01 was a Thursday.
    let day_of_week = (days + 4).rem_euclid(7) as u32;
    Civil {
        year,
        month,
        day,
        day_of_year,
        day_of_week,
        hour: (secs_of_day / 3600) as u32,
        minute: (secs_of_day % 3600 / 60) as u32,
        days_in_month: days_in(year, month),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_leap_days() {
        let c = civil(0);
        assert_eq!((c.year, c.month, c.day, c.day_of_week), (1970, 1, 1, 4));
        assert_eq!(
            (c.day_of_year, c.days_in_month, c.hour, c.minute),
            (1, 31, 0, 0)
        );
        // 2024-02-29T23:59:59Z
        let c = civil(1_709_251_199);
        assert_eq!((c.year, c.month, c.day, c.day_of_year), (2024, 2, 29, 60));
        assert_eq!(
            (c.days_in_month, c.hour, c.minute, c.day_of_week),
            (29, 23, 59, 4)
        );
        // 2023-12-31T12:34:00Z: day 365 of a common year, a Sunday.
        let c = civil(1_704_026_040);
        assert_eq!((c.year, c.month, c.day, c.day_of_year), (2023, 12, 31, 365));
        assert_eq!((c.hour, c.minute, c.day_of_week), (12, 34, 0));
        // 2000 is a leap year, 1900 is not.
        assert_eq!(civil(951_782_400).days_in_month, 29); // 2000-02-29
        assert_eq!(civil(-2_206_310_400).days_in_month, 28); // 1900-02-01
    }

    #[test]
    fn before_the_epoch() {
        // 1969-12-31T23:59:59Z, a Wednesday.
        let c = civil(-1);
        assert_eq!((c.year, c.month, c.day, c.day_of_year), (1969, 12, 31, 365));
        assert_eq!((c.hour, c.minute, c.day_of_week), (23, 59, 3));
    }

    #[test]
    fn go_conversion_of_odd_floats() {
        assert_eq!(go_int64(1.9), 1);
        assert_eq!(go_int64(-1.9), -1);
        assert_eq!(go_int64(f64::NAN), i64::MIN);
        assert_eq!(go_int64(f64::INFINITY), i64::MIN);
        assert_eq!(go_int64(-1e300), i64::MIN);
        assert_eq!(civil(go_int64(f64::NAN)).year, 292_277_026_596);
    }
}
