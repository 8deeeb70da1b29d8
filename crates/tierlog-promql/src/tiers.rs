//! Tier-aware evaluation: range functions over windows whose raw points have expired,
//! answered exactly from the rollup tiers.
//!
//! A window `[t − offset − range, t − offset)` is tiled by epoch-aligned step buckets of width
//! `w`, the greatest common divisor of the range and of every window end, which the store
//! stitches from the coarsest tier whose interval divides `w` (and from raw points where they
//! remain): see `Store::query_step_iter`. Every aggregate below is exact over the tiles: sums
//! and counts add, minima and maxima compare, the last tile holding points gives the last
//! value, counter increases add. Buckets hold the points at `start <= ts < end`, so a window
//! answered from tiers leaves out a point exactly at its end, which Prometheus' closed window
//! `[t − range, t]` takes in; `docs/promql.md` lists this with the other deviations.

use std::time::Duration;

use tierlog::{BucketPoint, Selector, Store};

use crate::{Error, Labels, Result};

/// A range function the tiers can answer exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TierFn {
    Sum,
    Count,
    Min,
    Max,
    Avg,
    Last,
    Present,
    /// Counter increase between the last point before the window and the last point in it
    /// (not extrapolated: buckets keep no point times).
    Increase,
    /// `Increase` divided by the range in seconds.
    Rate,
    /// The stored nearest-rank p95, where one bucket is the window.
    P95,
}

impl TierFn {
    /// The tier form of range function `name` with scalar parameters `params`; `None` when the
    /// tiers cannot answer it exactly.
    pub(crate) fn of(name: &str, params: &[f64]) -> Option<TierFn> {
        Some(match name {
            "sum_over_time" => TierFn::Sum,
            "count_over_time" => TierFn::Count,
            "min_over_time" => TierFn::Min,
            "max_over_time" => TierFn::Max,
            "avg_over_time" => TierFn::Avg,
            "last_over_time" => TierFn::Last,
            "present_over_time" => TierFn::Present,
            "increase" => TierFn::Increase,
            "rate" => TierFn::Rate,
            "quantile_over_time" if params.first() == Some(&0.95) => TierFn::P95,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            TierFn::Sum => "sum_over_time",
            TierFn::Count => "count_over_time",
            TierFn::Min => "min_over_time",
            TierFn::Max => "max_over_time",
            TierFn::Avg => "avg_over_time",
            TierFn::Last => "last_over_time",
            TierFn::Present => "present_over_time",
            TierFn::Increase => "increase",
            TierFn::Rate => "rate",
            TierFn::P95 => "quantile_over_time(0.95, …)",
        }
    }
}

/// One series' answers: its labels (metric name included) and a value per requested time.
pub(crate) struct TierSeries {
    pub labels: Labels,
    pub values: Vec<Option<f64>>,
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The tile width for windows of `range` ending at `ends` (ascending): the greatest common
/// divisor of the range and every end, so that tiles start on multiples of it.
fn tile_width(range: i64, ends: &[i64]) -> i64 {
    let mut w = range;
    let mut prev = None;
    for &e in ends {
        w = gcd(w, e);
        if let Some(p) = prev {
            w = gcd(w, e - p);
        }
        prev = Some(e);
        if w <= 1 {
            break;
        }
    }
    w
}

/// Answers `f` over the windows `[end − range, end)` for each of `ends` (ascending, ms) from
/// step buckets. `warnings` gets one line per source tier naming the range it answered.
/// `check` is called per series (deadline and cancel).
pub(crate) fn answer(
    store: &Store,
    sel: &Selector,
    f: TierFn,
    range: i64,
    ends: &[i64],
    warnings: &mut Vec<String>,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<Vec<TierSeries>> {
    if ends.is_empty() || range <= 0 {
        return Ok(Vec::new());
    }
    let w = tile_width(range, ends);
    if w < 1000 || w % 1000 != 0 {
        return Err(Error::Execution(format!(
            "{} over [{}] cannot be answered from the rollup tiers: the raw points have expired, \
             and the range and evaluation times (minus offset) are not whole multiples of a \
             common number of seconds that a tier's interval divides",
            f.name(),
            crate::tiers::duration_text(range)
        )));
    }
    if f == TierFn::P95 && w != range {
        return Err(Error::Execution(format!(
            "quantile_over_time(0.95, …[{}]) cannot be answered exactly from the rollup tiers: \
             the raw points have expired and a stored p95 is exact only when one bucket is the \
             window (range and evaluation times on multiples of the range); a p95 of p95s would \
             not be a p95",
            duration_text(range)
        )));
    }
    let from = ends[0] - range;
    let to = ends[ends.len() - 1];
    let mut it = store.query_step_iter(sel, from, to, Duration::from_millis(w as u64))?;
    let mut out = Vec::new();
    // (tier, first bucket start, last bucket end) of every run of buckets from one source.
    let mut sources: Vec<(String, i64, i64)> = Vec::new();
    for s in it.by_ref() {
        check()?;
        let labels = Labels::from_series(&s.metric, &s.labels);
        for b in &s.points {
            if b.width_ms != w {
                return Err(Error::Execution(format!(
                    "{} over [{}] cannot be answered exactly from the rollup tiers: between {} \
                     and {} only the {} tier's {} buckets are left, wider than the {} tiles the \
                     windows need",
                    f.name(),
                    duration_text(range),
                    b.t,
                    b.t + b.width_ms,
                    b.tier,
                    duration_text(b.width_ms),
                    duration_text(w)
                )));
            }
            note_source(&mut sources, &b.tier, b.t, b.t + w);
        }
        let values = fold(f, &s.points, range, ends, &labels)?;
        if values.iter().any(Option::is_some) {
            out.push(TierSeries { labels, values });
        }
    }
    warnings.extend(it.into_warnings());
    for (tier, a, b) in sources {
        if tier != "raw" {
            warnings.push(format!(
                "{} over [{}] answered from the {tier} tier for [{a}, {b}) ms: exact \
                 aggregates of the stored buckets (docs/promql.md, tier-aware evaluation)",
                f.name(),
                duration_text(range)
            ));
        }
    }
    Ok(out)
}

fn note_source(sources: &mut Vec<(String, i64, i64)>, tier: &str, a: i64, b: i64) {
    if let Some(x) = sources.iter_mut().find(|x| x.0 == tier) {
        x.1 = x.1.min(a);
        x.2 = x.2.max(b);
    } else {
        sources.push((tier.to_owned(), a, b));
    }
}

/// Folds one series' tiles (ascending by start, width dividing `range`) into the value of
/// each window `[end − range, end)`.
fn fold(
    f: TierFn,
    tiles: &[BucketPoint],
    range: i64,
    ends: &[i64],
    labels: &Labels,
) -> Result<Vec<Option<f64>>> {
    let mut values = Vec::with_capacity(ends.len());
    let (mut lo, mut hi) = (0usize, 0usize);
    for &end in ends {
        let start = end - range;
        while lo < tiles.len() && tiles[lo].t < start {
            lo += 1;
        }
        hi = hi.max(lo);
        while hi < tiles.len() && tiles[hi].t < end {
            hi += 1;
        }
        values.push(window(f, &tiles[lo..hi], range, labels)?);
    }
    Ok(values)
}

/// `f` over the tiles of one window; `None` when the window holds no point.
fn window(f: TierFn, tiles: &[BucketPoint], range: i64, labels: &Labels) -> Result<Option<f64>> {
    let points: u64 = tiles.iter().map(|b| b.count + b.nan_count).sum();
    if points == 0 {
        return Ok(None);
    }
    let nan = tiles.iter().any(|b| b.nan_count > 0);
    let with_values = || tiles.iter().filter(|b| b.count > 0);
    Ok(Some(match f {
        TierFn::Count => points as f64,
        TierFn::Present => 1.0,
        TierFn::Sum | TierFn::Avg if nan => f64::NAN,
        TierFn::Sum => with_values().map(|b| b.sum).sum(),
        TierFn::Avg => {
            let n: u64 = with_values().map(|b| b.count).sum();
            with_values().map(|b| b.sum).sum::<f64>() / n as f64
        }
        // NaN points lose to any number, as in Prometheus; a window of only NaN is NaN.
        TierFn::Min => with_values().map(|b| b.min).fold(f64::NAN, f64::min),
        TierFn::Max => with_values().map(|b| b.max).fold(f64::NAN, f64::max),
        TierFn::Last => {
            let b = tiles.iter().rev().find(|b| b.count + b.nan_count > 0);
            match b {
                Some(b) if b.nan_count == 0 => b.last,
                Some(b) if b.count == 0 => f64::NAN,
                _ => {
                    return Err(Error::Execution(format!(
                        "last_over_time of {labels} cannot be answered exactly from the rollup \
                         tiers: its last bucket holds NaN and numbers, and buckets do not keep \
                         their order"
                    )));
                }
            }
        }
        TierFn::Increase | TierFn::Rate => {
            let mut inc = 0.0;
            for b in tiles {
                match b.increase {
                    Some(x) => inc += x,
                    None => {
                        return Err(Error::Execution(format!(
                            "{} of {labels} cannot be answered from the rollup tiers: the \
                             metric is not declared a counter, so its buckets keep no increase",
                            f.name()
                        )));
                    }
                }
            }
            if f == TierFn::Rate {
                inc / (range as f64 / 1000.0)
            } else {
                inc
            }
        }
        TierFn::P95 => match tiles {
            [b] if b.count > 0 && b.nan_count == 0 => match b.p95 {
                Some(p) => p,
                None => {
                    return Err(Error::Execution(format!(
                        "quantile_over_time(0.95, …) of {labels} cannot be answered exactly \
                         from the rollup tiers: {}",
                        b.p95_note.unwrap_or("the bucket has no exact p95")
                    )));
                }
            },
            _ => {
                return Err(Error::Execution(format!(
                    "quantile_over_time(0.95, …) of {labels} cannot be answered exactly from \
                     the rollup tiers: the window's bucket holds NaN points"
                )));
            }
        },
    }))
}

/// `90s`, `5m`, `1h`, `1h30m`: a duration as PromQL writes it.
pub(crate) fn duration_text(ms: i64) -> String {
    if ms <= 0 || ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let mut s = ms / 1000;
    let mut out = String::new();
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if s >= len {
            out.push_str(&format!("{}{unit}", s / len));
            s %= len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_width_is_the_common_divisor_of_range_and_ends() {
        assert_eq!(tile_width(3_600_000, &[7_200_000, 10_800_000]), 3_600_000);
        assert_eq!(tile_width(3_600_000, &[7_260_000, 7_320_000]), 60_000);
        assert_eq!(tile_width(300_000, &[7_215_000]), 15_000);
        assert_eq!(tile_width(300_000, &[7_215_001]), 1);
    }

    #[test]
    fn durations_read_as_promql_writes_them() {
        assert_eq!(duration_text(5_400_000), "1h30m");
        assert_eq!(duration_text(86_400_000 + 1000), "1d1s");
        assert_eq!(duration_text(1500), "1500ms");
    }
}

#[cfg(test)]
mod oracle {
    //! Answers from the tiers against the same windows computed from every point written,
    //! after the raw points of the older hours have expired.
    use std::sync::Arc;

    use tierlog::{Config, ManualClock, MetricKind, MetricMeta, Sample, Selector, Store};

    use super::*;

    const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;
    const MIN: i64 = 60_000;
    const HOUR: i64 = 3_600_000;

    /// Five hours at a 15 s scrape with gaps; a counter with resets, a gauge.
    type Points = Vec<(i64, f64)>;

    fn data() -> (Points, Points) {
        let (mut c, mut g) = (Vec::new(), Vec::new());
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut total = 100.0;
        for i in 0..(5 * HOUR / 15_000) {
            let t = T0 + i * 15_000;
            let r = next() % 100;
            if r < 4 {
                continue; // a missed scrape
            }
            if r < 6 {
                total = (next() % 10) as f64; // a reset
            } else {
                total += (next() % 50) as f64;
            }
            c.push((t, total));
            g.push((t, (next() % 2001) as f64 / 4.0 - 250.0));
        }
        (c, g)
    }

    fn store(dir: &std::path::Path) -> (Store, Points, Points) {
        let (c, g) = data();
        let clock = Arc::new(ManualClock::new(T0));
        let store = Store::open(dir, Config::default().with_clock(clock.clone())).unwrap();
        let meta = MetricMeta {
            kind: MetricKind::Counter,
            ..MetricMeta::default()
        };
        store.set_metric_meta("c_total", meta).unwrap();
        let mut next_maintain = T0 + 20 * MIN;
        for (&(t, cv), &(_, gv)) in c.iter().zip(&g) {
            clock.set(t + 1);
            let s = [
                Sample::new("c_total", &[], t, cv),
                Sample::new("g", &[], t, gv),
            ];
            assert_eq!(store.write(&s).unwrap().accepted, 2);
            if t >= next_maintain {
                store.maintain().unwrap();
                next_maintain = t + 20 * MIN;
            }
        }
        clock.set(T0 + 5 * HOUR + 30 * MIN);
        store.maintain().unwrap();
        (store, c, g)
    }

    /// The counter's increase over `[a, b)`: steps whose later point is in it, from the point
    /// before (a reset counts the new value).
    fn increase(pts: &[(i64, f64)], a: i64, b: i64) -> Option<f64> {
        let mut inc = None;
        for w in pts.windows(2) {
            let ((_, p), (t, v)) = (w[0], w[1]);
            if t >= a && t < b {
                let step = if v >= p { v - p } else { v };
                inc = Some(inc.unwrap_or(0.0) + step);
            }
        }
        inc
    }

    fn close(a: f64, b: f64) -> bool {
        a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
    }

    #[test]
    fn tiers_answer_expired_windows_as_the_points_would() {
        let dir = tempfile::tempdir().unwrap();
        let (store, c, g) = store(dir.path());
        let raw_from = store.raw_from().unwrap();
        assert!(
            raw_from > T0 + 2 * HOUR,
            "raw data of the first hours expired"
        );
        let mut ok = 0;
        for (range, ends) in [
            (HOUR, vec![T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]),
            (
                5 * MIN,
                (1..40).map(|i| T0 + i * 5 * MIN).collect::<Vec<_>>(),
            ),
            (10 * MIN, (10..30).map(|i| T0 + i * MIN).collect()),
        ] {
            for f in [
                TierFn::Sum,
                TierFn::Count,
                TierFn::Min,
                TierFn::Max,
                TierFn::Avg,
                TierFn::Last,
                TierFn::Present,
            ] {
                let mut warnings = Vec::new();
                let got = answer(
                    &store,
                    &Selector::metric("g"),
                    f,
                    range,
                    &ends,
                    &mut warnings,
                    &mut || Ok(()),
                )
                .unwrap();
                assert_eq!(got.len(), 1);
                assert_eq!(got[0].labels.name(), Some("g"));
                assert!(warnings.iter().any(|w| w.contains("tier")), "{warnings:?}");
                for (k, &end) in ends.iter().enumerate() {
                    let vs: Vec<f64> = g
                        .iter()
                        .filter(|p| p.0 >= end - range && p.0 < end)
                        .map(|p| p.1)
                        .collect();
                    let want = (!vs.is_empty()).then(|| match f {
                        TierFn::Sum => vs.iter().sum(),
                        TierFn::Count => vs.len() as f64,
                        TierFn::Min => vs.iter().copied().fold(f64::INFINITY, f64::min),
                        TierFn::Max => vs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                        TierFn::Avg => vs.iter().sum::<f64>() / vs.len() as f64,
                        TierFn::Last => vs[vs.len() - 1],
                        _ => 1.0,
                    });
                    let have = got[0].values[k];
                    match (want, have) {
                        (Some(w), Some(h)) => {
                            assert!(close(w, h), "{f:?} {range} {end}: {w} vs {h}")
                        }
                        (None, None) => {}
                        other => panic!("{f:?} {range} {end}: {other:?}"),
                    }
                    ok += 1;
                }
            }
            for f in [TierFn::Increase, TierFn::Rate] {
                let mut warnings = Vec::new();
                let got = answer(
                    &store,
                    &Selector::metric("c_total"),
                    f,
                    range,
                    &ends,
                    &mut warnings,
                    &mut || Ok(()),
                )
                .unwrap();
                for (k, &end) in ends.iter().enumerate() {
                    let want = increase(&c, end - range, end).map(|x| {
                        if f == TierFn::Rate {
                            x / (range as f64 / 1000.0)
                        } else {
                            x
                        }
                    });
                    let have = got[0].values[k];
                    match (want, have) {
                        (Some(w), Some(h)) => {
                            assert!(close(w, h), "{f:?} {range} {end}: {w} vs {h}")
                        }
                        other => panic!("{f:?} {range} {end}: {other:?}"),
                    }
                    ok += 1;
                }
            }
        }
        assert!(ok > 400);
    }

    #[test]
    fn tiers_refuse_what_they_cannot_answer_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, _) = store(dir.path());
        let g = Selector::metric("g");
        let mut w = Vec::new();
        // Windows ending off any whole second.
        let e = answer(
            &store,
            &g,
            TierFn::Sum,
            HOUR,
            &[T0 + HOUR + 500],
            &mut w,
            &mut || Ok(()),
        );
        assert!(matches!(e, Err(Error::Execution(m)) if m.contains("whole multiples")));
        // A p95 over two buckets.
        let e = answer(
            &store,
            &g,
            TierFn::P95,
            HOUR,
            &[T0 + HOUR, T0 + HOUR + MIN],
            &mut w,
            &mut || Ok(()),
        );
        assert!(matches!(e, Err(Error::Execution(m)) if m.contains("p95 of p95s")));
        // A gauge has no increase.
        let e = answer(
            &store,
            &g,
            TierFn::Rate,
            HOUR,
            &[T0 + HOUR],
            &mut w,
            &mut || Ok(()),
        );
        assert!(matches!(e, Err(Error::Execution(m)) if m.contains("not declared a counter")));
        // One bucket per window: the stored p95 answers.
        let got = answer(
            &store,
            &g,
            TierFn::P95,
            MIN,
            &[T0 + 10 * MIN],
            &mut w,
            &mut || Ok(()),
        )
        .unwrap();
        assert!(got[0].values[0].is_some());
    }
}
