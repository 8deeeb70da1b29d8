//! Concurrency: readers querying (or opening read-only) while a writer appends and windows
//! seal always see a consistent prefix of what was written; concurrent writers under
//! `Sync::EveryWrite` lose nothing and share fsyncs.

use tierlog_testkit::helpers as common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{SplitMix64, T0, sel};
use tierlog::{Config, ManualClock, Sample, Store, Sync};

/// Series written by the sealing writer.
const SERIES: usize = 3;
/// Seconds per batch and series (one sample each).
const PER_BATCH: i64 = 5;
/// Batches written: 3000 s of data, 50 windows of 60 s.
const BATCHES: i64 = 600;

/// The known value of series `s` at second-start `t`.
fn value(s: usize, t: i64) -> f64 {
    let sec = (t - T0) / 1_000;
    sec as f64 * 0.5 + s as f64 * 1_000.0 + 0.1
}

fn series_label(s: usize) -> String {
    format!("{s}")
}

fn sealing_config(clock: Arc<ManualClock>, sync: Sync) -> Config {
    Config {
        window_span: Duration::from_secs(60),
        grace: Duration::from_secs(5),
        ..Config::default()
    }
    .with_clock(clock)
    .with_sync(sync)
}

/// Writes `BATCHES` batches in time order, moving the clock so that windows seal as it goes.
fn write_batches(store: &Store, clock: &ManualClock, progress: &AtomicU64) {
    let labels: Vec<String> = (0..SERIES).map(series_label).collect();
    let label_sets: Vec<[(&str, &str); 1]> = labels.iter().map(|l| [("s", l.as_str())]).collect();
    for b in 0..BATCHES {
        let first = T0 + b * PER_BATCH * 1_000;
        clock.set(first + PER_BATCH * 1_000 + 500);
        let mut samples = Vec::new();
        for j in 0..PER_BATCH {
            let t = first + j * 1_000;
            for (s, l) in label_sets.iter().enumerate() {
                samples.push(Sample::new("conc", l, t + 250, value(s, t)));
            }
        }
        let sum = store.write(&samples).expect("write");
        assert_eq!(sum.accepted, samples.len() as u64, "batch {b}: {sum:?}");
        progress.store(b as u64 + 1, Ordering::SeqCst);
    }
}

/// Checks one query answer over `[from, to)`: per series strictly increasing, exact values,
/// no holes (the points are exactly consecutive seconds from the start of the range); returns
/// the number of points per series label.
fn check_answer(
    r: &tierlog::QueryResult,
    from: i64,
    to: i64,
    ctx: &str,
) -> BTreeMap<String, usize> {
    assert!(r.warnings.is_empty(), "{ctx}: warnings {:?}", r.warnings);
    let first = from.max(T0).div_euclid(1_000) * 1_000;
    let first = if first < from { first + 1_000 } else { first };
    let mut counts = BTreeMap::new();
    for s in &r.series {
        assert_eq!(s.metric, "conc", "{ctx}");
        let label = s.labels.get("s").to_string();
        let idx: usize = label.parse().expect("series label");
        for (k, &(t, v)) in s.points.iter().enumerate() {
            let want_t = first + k as i64 * 1_000;
            assert_eq!(
                t, want_t,
                "{ctx}: series {label}: point {k} at {t}, expected {want_t} (hole or disorder)"
            );
            assert!(t < to, "{ctx}: point {t} outside [{from}, {to})");
            assert_eq!(
                v.to_bits(),
                value(idx, t).to_bits(),
                "{ctx}: series {label} at {t}: {v}"
            );
        }
        counts.insert(label, s.points.len());
    }
    counts
}

#[test]
fn readers_see_consistent_prefixes_while_windows_seal() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store =
        Arc::new(Store::open(dir.path(), sealing_config(clock.clone(), Sync::Never)).unwrap());
    let progress = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let seed = SplitMix64::seed_from_env("TIERLOG_CONCURRENCY_SEED");
    println!("TIERLOG_CONCURRENCY_SEED={seed:#x}");
    let end = T0 + BATCHES * PER_BATCH * 1_000;

    let readers: Vec<_> = (0..3u64)
        .map(|r| {
            let store = store.clone();
            let progress = progress.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut rng = SplitMix64(seed ^ (r + 1).wrapping_mul(0x9e37_79b9));
                let mut queries = 0u64;
                let mut last_full: BTreeMap<String, usize> = BTreeMap::new();
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    // Written before the query started: must all be visible.
                    let floor = progress.load(Ordering::SeqCst) as i64 * PER_BATCH;
                    let full = rng.range(0, 3) == 0;
                    let (from, to) = if full {
                        (0, i64::MAX)
                    } else {
                        let a = T0 - 5_000 + rng.range(0, (end - T0 + 10_000) as u64) as i64;
                        let len = rng.range(1, 400_000) as i64;
                        (a, a + len)
                    };
                    let one = rng.range(0, 2) == 0;
                    let selector = if one {
                        sel(&format!("conc{{s=\"{}\"}}", rng.range(0, SERIES as u64)))
                    } else {
                        sel("conc")
                    };
                    let ctx = format!("reader {r}, query {queries}, [{from}, {to}), {selector}");
                    let res = store.query(&selector, from, to).expect("query");
                    let counts = check_answer(&res, from, to, &ctx);
                    if full {
                        // Everything acknowledged before the query is there.
                        for n in counts.values() {
                            assert!(*n as i64 >= floor, "{ctx}: {n} points, {floor} written");
                        }
                        if !one && floor > 0 {
                            assert_eq!(counts.len(), SERIES, "{ctx}: {counts:?}");
                        }
                        // A batch is seen whole: every series has the same points.
                        let distinct: Vec<_> = counts.values().collect();
                        assert!(
                            distinct.windows(2).all(|w| w[0] == w[1]),
                            "{ctx}: a batch was seen half-written: {counts:?}"
                        );
                        // Never fewer points than an earlier answer (no flicker while sealing).
                        for (l, n) in &counts {
                            let before = last_full.get(l).copied().unwrap_or(0);
                            assert!(*n >= before, "{ctx}: series {l}: {n} points after {before}");
                            last_full.insert(l.clone(), *n);
                        }
                    }
                    queries += 1;
                    if finished {
                        break;
                    }
                }
                queries
            })
        })
        .collect();

    let started = Instant::now();
    write_batches(&store, &clock, &progress);
    done.store(true, Ordering::SeqCst);
    let queries: Vec<u64> = readers.into_iter().map(|h| h.join().unwrap()).collect();
    let st = store.stats();
    println!(
        "{BATCHES} batches, {} sealed segments, reader queries {queries:?}, {:.1?}",
        st.tiers[0].sealed.segments,
        started.elapsed()
    );
    assert!(
        st.tiers[0].sealed.segments >= 45,
        "windows should have sealed during the run: {st:?}"
    );
    let r = store.query(&sel("conc"), 0, i64::MAX).unwrap();
    let counts = check_answer(&r, 0, i64::MAX, "final");
    assert_eq!(counts.len(), SERIES);
    assert!(
        counts.values().all(|&n| n as i64 == BATCHES * PER_BATCH),
        "{counts:?}"
    );
}

#[test]
fn read_only_opens_race_a_sealing_writer() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store =
        Arc::new(Store::open(dir.path(), sealing_config(clock.clone(), Sync::Never)).unwrap());
    let progress = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let path = dir.path().to_owned();
    let opener = {
        let progress = progress.clone();
        let done = done.clone();
        let clock = clock.clone();
        std::thread::spawn(move || {
            let mut opens = 0u64;
            let mut last = 0usize;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let floor = progress.load(Ordering::SeqCst) as usize * PER_BATCH as usize;
                let ctx = format!("read-only open {opens}");
                let ro = Store::open_read_only(&path, sealing_config(clock.clone(), Sync::Never))
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                let res = ro.query(&sel("conc"), 0, i64::MAX).expect("query");
                let counts = check_answer(&res, 0, i64::MAX, &ctx);
                // Each series is a prefix; the snapshot holds at least what was acknowledged
                // when the open began and never less than an earlier snapshot.
                let min = counts.values().copied().min().unwrap_or(0);
                assert!(
                    floor == 0 || counts.len() == SERIES,
                    "{ctx}: {counts:?} after {floor} points"
                );
                assert!(min >= floor, "{ctx}: {counts:?}, {floor} acknowledged");
                assert!(
                    min >= last,
                    "{ctx}: {counts:?}, an earlier snapshot had {last}"
                );
                last = min;
                opens += 1;
                if finished {
                    break;
                }
            }
            opens
        })
    };
    write_batches(&store, &clock, &progress);
    done.store(true, Ordering::SeqCst);
    let opens = opener.join().unwrap();
    println!("{opens} read-only opens during the run");
    assert!(opens >= 2);
}

#[test]
fn concurrent_writers_lose_nothing_and_share_fsyncs() {
    const THREADS: usize = 4;
    const WRITES: i64 = 150;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 200_000));
    let store = Arc::new(Store::open(dir.path(), common::config(&clock)).unwrap());
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let label = t.to_string();
                let labels = [("t", label.as_str())];
                barrier.wait();
                for k in 0..WRITES {
                    let s = store
                        .write(&[Sample::new(
                            "gc",
                            &labels,
                            T0 + k * 1_000 + t as i64,
                            k as f64 * (t as f64 + 0.5),
                        )])
                        .expect("write");
                    assert_eq!(s.accepted, 1);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let writes = (THREADS as i64 * WRITES) as u64;
    let fsyncs = store.fsync_count();
    println!(
        "{writes} writes, {fsyncs} fsync rounds: {:.2} writes per fsync",
        writes as f64 / fsyncs.max(1) as f64
    );
    assert!(fsyncs >= 1, "EveryWrite must fsync");
    assert!(fsyncs <= writes, "{fsyncs} fsyncs for {writes} writes");

    let check = |store: &Store, ctx: &str| {
        let got = common::all_points(store, "gc");
        assert_eq!(got.len(), THREADS, "{ctx}");
        for t in 0..THREADS {
            let want: Vec<(i64, u64)> = (0..WRITES)
                .map(|k| (T0 + k * 1_000, (k as f64 * (t as f64 + 0.5)).to_bits()))
                .collect();
            assert_eq!(got[&format!("gc{{t={t}}}")], want, "{ctx}: thread {t}");
        }
    };
    check(&store, "before reopen");
    Arc::try_unwrap(store).unwrap().close().unwrap();
    let store = Store::open(dir.path(), common::config(&clock)).unwrap();
    check(&store, "after reopen");
}
