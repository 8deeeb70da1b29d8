//! `Store::query_iter` yields exactly what `Store::query` returns — the same series in the same
//! order with the same points, and the same warnings — over sealed segments, open windows and
//! damaged segments.

use tierlog_testkit::helpers as common;

use std::sync::Arc;

use proptest::prelude::*;
use tierlog::{ManualClock, QueryResult, Sample, Selector, Store};

use common::{T0, config, fast_tempdir, sel};

const WINDOW: i64 = 600_000;

/// What `query_iter` yields, as a `QueryResult` (warnings sorted, as are the query's below).
fn iterated(store: &Store, s: &Selector, from: i64, to: i64) -> QueryResult {
    let mut it = store.query_iter(s, from, to).expect("query_iter");
    let series: Vec<_> = it.by_ref().collect();
    let mut warnings = it.into_warnings();
    warnings.sort();
    let mut r = QueryResult::default();
    r.series = series;
    r.warnings = warnings;
    r
}

fn queried(store: &Store, s: &Selector, from: i64, to: i64) -> QueryResult {
    let mut r = store.query(s, from, to).expect("query");
    r.warnings.sort();
    r
}

fn assert_same(store: &Store, s: &Selector, from: i64, to: i64) -> QueryResult {
    let q = queried(store, s, from, to);
    assert_eq!(iterated(store, s, from, to), q, "{s} over [{from}, {to})");
    q
}

/// Writes `(series, window, offset_ms, value)` samples window by window, the clock inside each
/// window while it is written, then moves the clock on and seals the first three windows; the
/// fourth stays open.
fn fill(store: &Store, clock: &ManualClock, samples: &[(usize, i64, i64, f64)]) {
    const HOSTS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
    for w in 0..4 {
        clock.set(T0 + w * WINDOW + WINDOW - 1);
        for &(series, _, offset, value) in samples.iter().filter(|s| s.1 == w) {
            let metric = if series % 2 == 0 { "load" } else { "mem" };
            let labels = [("host", HOSTS[series])];
            store
                .write(&[Sample::new(
                    metric,
                    &labels,
                    T0 + w * WINDOW + offset,
                    value,
                )])
                .expect("write");
        }
    }
    clock.set(T0 + 4 * WINDOW + 60_000);
    store.maintain().expect("maintain");
}

#[test]
fn sealed_and_open_windows_many_series() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    let mut samples = Vec::new();
    for series in 0..6 {
        for w in 0..4 {
            // Series 5 has nothing in window 1; series 4 only in the open window.
            if (series == 5 && w == 1) || (series == 4 && w < 3) {
                continue;
            }
            for k in 0..20 {
                samples.push((
                    series,
                    w,
                    k * 29_000 + series as i64,
                    (series * 100 + k as usize) as f64,
                ));
            }
        }
    }
    fill(&store, &clock, &samples);
    let stats = store.stats();
    assert_eq!(
        (stats.tiers[0].sealed.segments, stats.tiers[0].open.segments),
        (3, 1)
    );

    let all = assert_same(&store, &sel(r#"{host=~".+"}"#), 0, i64::MAX);
    assert_eq!(all.series.len(), 6);
    assert_eq!(
        all.series.iter().map(|s| s.points.len()).sum::<usize>(),
        20 * (6 * 4 - 1 - 3)
    );
    // A range cutting through a sealed and the open window, a subset of series, nothing.
    assert_same(
        &store,
        &sel("load"),
        T0 + WINDOW + 100_000,
        T0 + 3 * WINDOW + 300_000,
    );
    assert_same(&store, &sel(r#"mem{host!="b"}"#), T0, T0 + 2 * WINDOW);
    let none = assert_same(&store, &sel("load"), T0 - WINDOW, T0);
    assert!(none.series.is_empty());
    assert_eq!(
        store
            .query_iter(&sel("nothing"), 0, i64::MAX)
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn a_damaged_segment_gives_the_same_warnings() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    let samples: Vec<_> = (0..6)
        .flat_map(|s| (0..4).flat_map(move |w| (0..10).map(move |k| (s, w, k * 50_000, k as f64))))
        .collect();
    fill(&store, &clock, &samples);
    store.close().unwrap();

    // Flip a byte in the middle of the first window's segment (a damaged chunk: one series
    // skipped in that window) and the last byte of the second's (its trailer: the whole
    // segment fails its checks at open, and every series' read reports it).
    let damage = |window: i64, at: fn(usize) -> usize| {
        let start = T0 + window * WINDOW;
        let seg = common::seg_path(dir.path(), start);
        let mut bytes = std::fs::read(&seg).unwrap();
        let i = at(bytes.len());
        bytes[i] ^= 0xff;
        std::fs::write(&seg, bytes).unwrap();
    };
    damage(0, |len| len / 2);
    damage(1, |len| len - 1);

    let store = Store::open_read_only(dir.path(), config(&clock)).unwrap();
    let q = assert_same(&store, &sel(r#"{host=~".+"}"#), 0, i64::MAX);
    assert!(
        q.warnings.len() >= 2,
        "both damages reported: {:?}",
        q.warnings
    );
    assert_same(&store, &sel("mem"), T0, T0 + 2 * WINDOW);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn query_iter_matches_query(
        samples in prop::collection::vec((0usize..6, 0i64..4, 0i64..WINDOW, -1e6f64..1e6), 0..120),
        from in (T0 - WINDOW)..(T0 + 4 * WINDOW),
        len in 0i64..(5 * WINDOW),
        selector in prop::sample::select(vec!["load", "mem", r#"{host=~"a|b|c"}"#, r#"load{host!="c"}"#]),
    ) {
        let dir = fast_tempdir();
        let clock = Arc::new(ManualClock::new(T0));
        let store = Store::open(dir.path(), config(&clock)).unwrap();
        fill(&store, &clock, &samples);
        let s = sel(selector);
        assert_same(&store, &s, from, from + len);
        assert_same(&store, &s, 0, i64::MAX);
    }
}
