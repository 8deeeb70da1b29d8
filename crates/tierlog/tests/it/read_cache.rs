//! `Config::read_cache`: answers through the cache of decoded chunks equal the answers without
//! it at every point of the data's life (fresh, sealed, late samples waiting and merged,
//! deleted, expired), for the writer and for read-only opens that share one cache across
//! reopens as `tierlog serve` does, and a rewritten segment is never answered from what was
//! cached of its former bytes.

use tierlog_testkit::helpers as common;

use std::sync::Arc;

use tierlog::{Config, DeleteOptions, ManualClock, ReadCache, Sample, Selector, Store};

use common::T0;

const MIN: i64 = 60_000;

fn sel(s: &str) -> Selector {
    s.parse().unwrap()
}

/// Every point of every series, as bits, with the query's warnings (none expected).
fn answer(store: &Store, from: i64, to: i64) -> Vec<(String, Vec<(i64, u64)>)> {
    let r = store.query(&sel(r#"{__name__=~".+"}"#), from, to).unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    r.series
        .into_iter()
        .map(|s| {
            (
                format!("{}{{{}}}", s.metric, s.labels.to_kv_string()),
                s.points.iter().map(|&(t, v)| (t, v.to_bits())).collect(),
            )
        })
        .collect()
}

/// Three series, one point every 10 s over `[from, to)`, values from `seed`, the clock
/// following the samples (windows seal as it passes them).
fn write_span(store: &Store, clock: &ManualClock, from: i64, to: i64, seed: f64) {
    let hosts = [[("host", "a")], [("host", "b")], [("host", "c")]];
    let mut t = from;
    while t < to {
        let samples: Vec<Sample<'_>> = hosts
            .iter()
            .enumerate()
            .map(|(i, l)| Sample::new("m", l, t, seed + (t - T0) as f64 / 1000.0 + i as f64 * 0.25))
            .collect();
        clock.advance_to(t);
        store.write(&samples).unwrap();
        t += 10_000;
    }
}

/// The ranges every check asks: everything, the middle of a window, and across window edges.
fn ranges() -> Vec<(i64, i64)> {
    vec![
        (0, i64::MAX),
        (T0 + 3 * MIN, T0 + 7 * MIN),
        (T0 + 9 * MIN + 30_000, T0 + 21 * MIN),
        (T0 + 10 * MIN, T0 + 20 * MIN),
    ]
}

/// The uncached answer of a fresh read-only open of `dir`.
fn truth(
    dir: &std::path::Path,
    config: &Config,
    from: i64,
    to: i64,
) -> Vec<(String, Vec<(i64, u64)>)> {
    let plain = Config {
        read_cache: None,
        ..config.clone()
    };
    answer(&Store::open_read_only(dir, plain).unwrap(), from, to)
}

/// Checks the writer (its own cache) and a read-only open through `shared` against the truth,
/// each range twice (the second from the cache), and returns the writer's full answer.
fn check(
    stage: &str,
    dir: &std::path::Path,
    writer: &Store,
    config: &Config,
    shared: &ReadCache,
) -> Vec<(String, Vec<(i64, u64)>)> {
    let reader = Store::open_read_only(
        dir,
        Config {
            read_cache: Some(shared.clone()),
            ..config.clone()
        },
    )
    .unwrap();
    for (from, to) in ranges() {
        let want = truth(dir, config, from, to);
        for _ in 0..2 {
            assert_eq!(
                answer(writer, from, to),
                want,
                "{stage}: writer, {from}..{to}"
            );
            assert_eq!(
                answer(&reader, from, to),
                want,
                "{stage}: reader, {from}..{to}"
            );
        }
    }
    answer(writer, 0, i64::MAX)
}

#[test]
fn cached_answers_equal_uncached_ones_through_the_data_life() {
    let dir = common::fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let own = ReadCache::new(8 << 20);
    let shared = ReadCache::new(8 << 20);
    let config = Config {
        read_cache: Some(own.clone()),
        ..common::config(&clock)
    };
    let store = Store::open(dir.path(), config.clone()).unwrap();

    // Fresh: one 10-minute window written, not sealed.
    write_span(&store, &clock, T0, T0 + 10 * MIN, 0.0);
    check("fresh", dir.path(), &store, &config, &shared);
    assert_eq!(own.stats().entries, 0, "nothing sealed, nothing cached");

    // Sealed: two more windows; the first two are segments now (sealed as the clock passed
    // their end and grace); reads decode them once, then hit.
    write_span(&store, &clock, T0 + 10 * MIN, T0 + 30 * MIN, 0.0);
    store.maintain().unwrap();
    let before = own.stats();
    check("sealed", dir.path(), &store, &config, &shared);
    let after = own.stats();
    assert!(after.entries > 0, "{after:?}");
    assert!(after.hits > before.hits, "the second reads hit: {after:?}");
    assert!(shared.stats().hits > 0, "{:?}", shared.stats());

    // Late samples for the first window: they wait in a late log, folded into reads.
    let late: Vec<[(&str, &str); 1]> = vec![[("host", "a")], [("host", "late")]];
    let samples: Vec<Sample<'_>> = late
        .iter()
        .map(|l| Sample::new("m", l, T0 + 5 * MIN + 500, 1e6))
        .collect();
    store.write(&samples).unwrap();
    let waiting = check("late, waiting", dir.path(), &store, &config, &shared);

    // Merged: the first window's segment is rewritten at the same path. What was cached of
    // its former bytes must not answer: the late points show, for the writer and for readers
    // opened again with the cache that held the old chunks.
    store.maintain().unwrap();
    let merged = check("late, merged", dir.path(), &store, &config, &shared);
    assert_eq!(merged, waiting, "the merge changes no answer");
    let a = &merged.iter().find(|(k, _)| k == "m{host=a}").unwrap().1;
    let at = a.iter().find(|p| p.0 == T0 + 5 * MIN).unwrap();
    // host a had 300.0 at T0 + 5 min; the late sample joins that second's mean.
    assert_eq!(f64::from_bits(at.1), (300.0 + 1e6) / 2.0);
    assert!(merged.iter().any(|(k, _)| k == "m{host=late}"));

    // Deleted: a range of one series, then the rewrite by maintenance.
    store
        .delete(
            &sel(r#"m{host="b"}"#),
            Some((T0 + 2 * MIN, T0 + 12 * MIN)),
            DeleteOptions::default(),
        )
        .unwrap();
    let deleted = check("deleted", dir.path(), &store, &config, &shared);
    let b = &deleted.iter().find(|(k, _)| k == "m{host=b}").unwrap().1;
    assert!(b.iter().all(|p| p.0 < T0 + 2 * MIN || p.0 >= T0 + 12 * MIN));
    store.maintain().unwrap();
    assert_eq!(
        check("deleted, rewritten", dir.path(), &store, &config, &shared),
        deleted
    );

    // Expired: past the raw keep (2 h) raw segments go (the last one is held until its
    // rollup piece can be made).
    clock.advance_to(T0 + 6 * 3_600_000);
    let report = store.maintain().unwrap();
    assert!(!report.retention.dropped.is_empty(), "{report:?}");
    let count = |a: &[(String, Vec<(i64, u64)>)]| a.iter().map(|(_, p)| p.len()).sum::<usize>();
    let expired = check("expired", dir.path(), &store, &config, &shared);
    assert!(
        count(&expired) < count(&deleted),
        "{} points left",
        count(&expired)
    );
    let s = own.stats();
    assert!(s.bytes <= s.max_bytes && s.misses > 0, "{s:?}");
}

/// A cache too small for the data still answers right (every chunk misses or is evicted).
#[test]
fn a_small_cache_evicts_and_answers_the_same() {
    let dir = common::fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let tiny = ReadCache::new(8 * (96 + 16 * 60));
    let config = Config {
        read_cache: Some(tiny.clone()),
        ..common::config(&clock)
    };
    let store = Store::open(dir.path(), config.clone()).unwrap();
    write_span(&store, &clock, T0, T0 + 60 * MIN, 7.5);
    store.maintain().unwrap();
    let other = ReadCache::new(0);
    for _ in 0..3 {
        check("tiny", dir.path(), &store, &config, &other);
    }
    let s = tiny.stats();
    assert!(s.evictions > 0 && s.bytes <= s.max_bytes, "{s:?}");
    assert_eq!(other.stats().entries, 0);
}
