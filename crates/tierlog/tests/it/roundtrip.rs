//! What was written comes back, across close/reopen, sealed segments and open windows, with
//! same-second mean semantics.

use tierlog_testkit::helpers as common;

use std::sync::Arc;

use common::{T0, open, points};
use tierlog::{ManualClock, Sample};

#[test]
fn round_trip_across_seal_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), &clock);
    // Window 1 (sealed later): two samples in one second average, one NaN stays bit-exact.
    let nan = f64::from_bits(0x7ff8_dead_beef_0001);
    store
        .write(&[
            Sample::new("cpu", &[("host", "a")], T0 + 10, 1.0),
            Sample::new("cpu", &[("host", "a")], T0 + 900, 2.0),
            Sample::new("cpu", &[("host", "a")], T0 + 1_000, nan),
            Sample::new("cpu", &[("host", "b"), ("empty", "")], T0 + 5_000, -0.0),
        ])
        .unwrap();
    // Move past window 1's end + grace: the next write seals it.
    clock.set(T0 + 600_000 + 300_000 + 1);
    let s = store
        .write(&[
            Sample::new("cpu", &[("host", "a")], T0 + 900_000, 7.25),
            // Past its window's end + grace, joining the NaN point (the first NaN stays).
            Sample::new("cpu", &[("host", "a")], T0 + 1_000, 99.0),
        ])
        .unwrap();
    assert_eq!((s.accepted, s.rejected()), (2, 0));
    let st = store.stats();
    assert_eq!(st.tiers[0].sealed.segments, 1, "{st:?}");
    assert_eq!(st.tiers[0].sealed.points, 3);
    assert_eq!(st.tiers[0].open.points, 1);

    let expect = vec![
        (
            "cpu{host=a}".to_string(),
            vec![
                (T0, 1.5f64.to_bits()),
                (T0 + 1_000, nan.to_bits()),
                (T0 + 900_000, 7.25f64.to_bits()),
            ],
        ),
        (
            "cpu{host=b}".to_string(),
            vec![(T0 + 5_000, (-0.0f64).to_bits())],
        ),
    ];
    assert_eq!(points(&store, "cpu"), expect);
    store.close().unwrap();

    let store = open(dir.path(), &clock);
    assert_eq!(points(&store, "cpu"), expect);
    assert_eq!(points(&store, r#"cpu{host="b"}"#), expect[1..].to_vec());
    // Range filtering applies to point timestamps, [from, to).
    let r = store
        .query(&common::sel("cpu{host=\"a\"}"), T0 + 1_000, T0 + 900_000)
        .unwrap();
    assert_eq!(r.series[0].points.len(), 1);
    assert_eq!(r.series[0].points[0].0, T0 + 1_000);
}

#[test]
fn a_batch_larger_than_one_frame_is_split_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000));
    // 3.5 M samples in one window: more than one 64 MiB frame holds (and more than the
    // default batch cap, raised here).
    let n = tierlog::wal::format::MAX_SAMPLES_PER_RECORD + 150_000;
    let config = tierlog::Config {
        limits: tierlog::Limits {
            max_batch_samples: n,
            ..tierlog::Limits::default()
        },
        ..common::config(&clock)
    };
    let store = tierlog::Store::open(dir.path(), config).unwrap();
    let h = store.series_handle("big", &[]).unwrap();
    let batch: Vec<_> = (0..n)
        .map(|i| (h, T0 + (i % 600_000) as i64, i as f64))
        .collect();
    let s = store.write_series(&batch).unwrap();
    assert_eq!(s.accepted, n as u64);
    drop(store);
    let store = open(dir.path(), &clock);
    let r = store.query(&common::sel("big"), 0, i64::MAX).unwrap();
    assert_eq!(r.series[0].points.len(), 600);
    assert_eq!(store.stats().tiers[0].open.points, 600);
}

#[test]
fn the_maintenance_thread_seals_windows_that_fall_due_without_writes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000));
    let config = tierlog::Config {
        maintenance_interval: Some(std::time::Duration::from_millis(20)),
        ..common::config(&clock)
    };
    let store = tierlog::Store::open(dir.path(), config).unwrap();
    store
        .write(&[Sample::new("idle", &[], T0 + 1_000, 1.0)])
        .unwrap();
    assert_eq!(store.stats().tiers[0].sealed.segments, 0);
    // Time passes, nothing is written: the background pass seals the window.
    clock.set(T0 + 600_000 + 300_000);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.stats().tiers[0].sealed.segments == 0 {
        assert!(std::time::Instant::now() < deadline, "window never sealed");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(store.stats().tiers[0].open.segments, 0);
    assert_eq!(points(&store, "idle").len(), 1);
}

#[test]
fn a_reader_with_default_settings_opens_a_store_with_long_windows() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 1_000));
    let config = tierlog::Config {
        window_span: std::time::Duration::from_secs(6 * 3600),
        raw_keep: Some(std::time::Duration::from_secs(12 * 3600)),
        tiers: Some(vec![]),
        ..common::config(&clock)
    };
    let store = tierlog::Store::open(dir.path(), config).unwrap();
    store
        .write(&[Sample::new("m", &[], T0 + 1_000, 1.0)])
        .unwrap();
    drop(store);
    // The default raw keep (2 h) is shorter than these windows; a reader does not care.
    let reader = tierlog::Store::open_read_only(dir.path(), tierlog::Config::default()).unwrap();
    assert_eq!(reader.config().window_span.as_secs(), 6 * 3600);
    assert_eq!(points(&reader, "m").len(), 1);
}

/// NaN payloads, signed zeros, infinities, subnormals, extreme exponents and integers past
/// 2^53.
fn adversarial_values() -> Vec<f64> {
    [
        0x7ff8_0000_0000_0000u64,
        0x7ff8_dead_beef_0001,
        0x7ff0_0000_0000_0001,
        0xfff8_0000_0000_0000,
        0xfff0_0000_0000_0001,
        0xffff_ffff_ffff_ffff,
        0x0000_0000_0000_0001,
        0x000f_ffff_ffff_ffff,
        0x8000_0000_0000_0001,
        0x8000_0000_0000_0000,
    ]
    .into_iter()
    .map(f64::from_bits)
    .chain([
        0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        9_007_199_254_740_992.0,
        9_007_199_254_740_991.0,
        9.007199254740993e15,
        1_152_921_504_606_846_976.0,
        u64::MAX as f64,
        0.1 + 0.2,
        1.25,
    ])
    .collect()
}

/// The adversarial values come back bit for bit from an open window, from a sealed segment
/// and after reopen.
#[test]
fn adversarial_values_come_back_bit_exact_sealed_and_open() {
    let values = adversarial_values();
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), &clock);
    let write = |store: &tierlog::Store, metric: &str, base: i64| {
        let samples: Vec<Sample<'_>> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| Sample::new(metric, &[], base + i as i64 * 1_000, v))
            .collect();
        assert_eq!(store.write(&samples).unwrap().accepted, values.len() as u64);
    };
    let expect = |base: i64| -> Vec<(i64, u64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (base + i as i64 * 1_000, v.to_bits()))
            .collect()
    };
    let check = |store: &tierlog::Store| {
        assert_eq!(
            points(store, "sealed"),
            vec![("sealed{}".to_string(), expect(T0))]
        );
        assert_eq!(
            points(store, "open"),
            vec![("open{}".to_string(), expect(T0 + 900_000))]
        );
    };
    write(&store, "sealed", T0);
    // Past the first window's end + grace: the next write seals it.
    clock.set(T0 + 600_000 + 300_000 + 1);
    write(&store, "open", T0 + 900_000);
    assert_eq!(store.stats().tiers[0].sealed.points, values.len() as u64);
    check(&store);
    check(&store);
    store.close().unwrap();
    check(&open(dir.path(), &clock));
}

/// The adversarial values through the rollup tiers: a gauge every second (60 points to a
/// `60s` bucket, so its p95 is stored) and a counter every 15 s, with decimal stretches
/// between, sealed, materialised, compacted where due and reopened. Every rollup segment is
/// of the version that holds layout 2 and every chunk decodes as layout 2 (so this fails if
/// the writer falls back to layout 1), as the store reads it (buckets and columns), into
/// buckets equal bit for bit to the aggregates of the points written, before and after a
/// reopen, and the store's tier queries give the same bits.
#[test]
fn adversarial_values_come_back_bit_exact_through_the_rollup_tiers() {
    use std::collections::BTreeSet;
    use std::path::Path;
    use std::time::Duration;
    use tierlog::rollup::bucket::{Bucket, BucketBits as Bits, aggregate};
    use tierlog::rollup::format::{self as rchunk, ChunkColumns};
    use tierlog::rollup::layout2;
    use tierlog::segment::Segment;
    use tierlog::segment::format::{chunk_bytes, read_rollup_chunk, read_rollup_columns};
    use tierlog::{MetricKind, MetricMeta, Tier};

    let bits = Bucket::bits;
    let values = adversarial_values();
    let n = values.len();
    const SECS: i64 = 3_600;
    // Decimal minutes between adversarial ones, so that chunks mix stored and derived forms;
    // the first 20 minutes (one piece) decimals only, so that its p95s are stored as offsets
    // below the max, and rising at an uneven pace, so that its mins are stored as steps from
    // the previous max.
    let mut rise = 0.0;
    let gauge: Vec<(i64, f64)> = (0..SECS)
        .map(|i| {
            rise += (i * 7 % 5 + i / 60 % 4 * 3) as f64 * 0.25;
            let v = if i < 1200 {
                rise
            } else if (i / 60) % 3 == 0 {
                (i % 13) as f64 * 0.25 + ((i / 60) * 37 % 11) as f64 * 1.5
            } else {
                values[(i as usize * 7 + (i as usize / n)) % n]
            };
            (T0 + i * 1_000 + 7, v)
        })
        .collect();
    let mut c = 0.0;
    let counter: Vec<(i64, f64)> = (0..SECS / 15)
        .map(|k| {
            let v = if k % 7 == 3 {
                values[(k as usize * 5) % n]
            } else {
                c += (k % 5) as f64 * 1.5;
                c
            };
            (T0 + k * 15_000 + 11, v)
        })
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let day = Duration::from_secs(86_400);
    let config = || tierlog::Config {
        tiers: Some(vec![
            Tier::new("10s", Duration::from_secs(10), day * 2),
            Tier::new("60s", Duration::from_secs(60), day * 30),
        ]),
        raw_keep: Some(day),
        ..common::config(&clock)
    };
    let store = tierlog::Store::open(dir.path(), config()).unwrap();
    let meta = MetricMeta {
        kind: MetricKind::Counter,
        ..MetricMeta::default()
    };
    store.set_metric_meta("adv_total", meta).unwrap();
    let mut ci = 0;
    for chunk in gauge.chunks(60) {
        let mut samples: Vec<Sample<'_>> = chunk
            .iter()
            .map(|&(t, v)| Sample::new("adv_gauge", &[], t, v))
            .collect();
        while ci < counter.len() && counter[ci].0 <= chunk[chunk.len() - 1].0 {
            samples.push(Sample::new("adv_total", &[], counter[ci].0, counter[ci].1));
            ci += 1;
        }
        clock.set(chunk[chunk.len() - 1].0 + 1);
        let w = store.write(&samples).unwrap();
        assert_eq!(w.accepted, samples.len() as u64);
    }
    clock.set(T0 + 3 * 3_600_000);
    let report = store.maintain().unwrap();
    assert!(
        report.rollups.lost.is_empty() && report.rollups.warnings.is_empty(),
        "{:?}",
        report.rollups
    );

    let check = |dir: &Path, store: &tierlog::Store| {
        let mut heads = BTreeSet::new();
        for (tier, interval) in [("10s", 10_000i64), ("60s", 60_000)] {
            let mut got: [Vec<Bucket>; 2] = Default::default();
            let mut cols = ChunkColumns::default();
            let mut files = 0;
            for f in std::fs::read_dir(dir.join(tier)).unwrap() {
                let path = f.unwrap().path();
                if path.extension().is_none_or(|x| x != "seg") {
                    continue;
                }
                files += 1;
                let seg = Segment::open(&path).unwrap();
                assert_eq!(seg.header().version, rchunk::ROLLUP_VERSION, "{path:?}");
                assert_eq!(rchunk::ROLLUP_VERSION, rchunk::MIN_STEPS_SINCE);
                for e in &seg.footer().entries {
                    let bytes = chunk_bytes(seg.bytes(), e).unwrap();
                    heads.insert((bytes[0], *bytes.get(1).unwrap_or(&0)));
                    let mut as_l2 = Vec::new();
                    layout2::decode(bytes, seg.header().window_start, &mut as_l2)
                        .expect("every chunk is layout 2");
                    let mut read = Vec::new();
                    read_rollup_chunk(seg.bytes(), e, &mut read).unwrap();
                    read_rollup_columns(seg.bytes(), e, &mut cols).unwrap();
                    let from_cols: Vec<Bits> =
                        (0..cols.len()).map(|i| bits(&cols.bucket(i))).collect();
                    let read_bits: Vec<Bits> = read.iter().map(bits).collect();
                    assert_eq!(as_l2.iter().map(bits).collect::<Vec<_>>(), read_bits);
                    assert_eq!(from_cols, read_bits);
                    let is_counter = read.iter().any(|b| b.increase.is_some());
                    got[usize::from(is_counter)].extend(read);
                }
            }
            assert!(files > 0, "{tier}");
            for (k, (pts, counter)) in [(&gauge, false), (&counter, true)].into_iter().enumerate() {
                let mut want = Vec::new();
                aggregate(pts, interval, counter, None, &mut want);
                got[k].sort_by_key(|b| b.start);
                assert_eq!(
                    got[k].iter().map(bits).collect::<Vec<_>>(),
                    want.iter().map(bits).collect::<Vec<_>>(),
                    "{tier} counter={counter}"
                );
                // The tier query of the store: the same bits.
                let name = if counter { "adv_total" } else { "adv_gauge" };
                let r = store
                    .query_tier(&common::sel(name), i64::MIN, i64::MAX, tier)
                    .unwrap();
                assert!(r.warnings.is_empty(), "{:?}", r.warnings);
                let q: Vec<Bits> = r.series[0]
                    .points
                    .iter()
                    .map(|p| {
                        (
                            p.t,
                            p.count as u32,
                            p.nan_count as u32,
                            [
                                p.min,
                                p.max,
                                p.sum,
                                p.first,
                                p.last,
                                p.p95.expect("one bucket has its p95"),
                            ]
                            .map(f64::to_bits),
                            p.increase.map(f64::to_bits),
                        )
                    })
                    .collect();
                let w: Vec<Bits> = want
                    .iter()
                    .map(|b| {
                        let mut x = bits(b);
                        x.3[5] = b.p95.to_bits();
                        x
                    })
                    .collect();
                assert_eq!(q, w, "query_tier {tier} {name}");
            }
        }
        // The writer chose several forms: stored first/last codes, p95 stored for some, as
        // offsets below the max for some.
        assert!(
            heads
                .iter()
                .any(|&(_, forms)| forms & layout2::P95_ALL == 0 && forms != 0),
            "{heads:?}"
        );
        assert!(
            heads
                .iter()
                .any(|&(flags, forms)| flags & layout2::SHORT_HEAD == 0
                    && forms & layout2::P95_OFFSET != 0),
            "{heads:?}"
        );
        // Counts as exceptions (NaN seconds make some counts differ), min steps.
        let both = layout2::COUNTS_ONE | layout2::COUNTS_SAME;
        assert!(
            heads.iter().any(|&(flags, _)| flags & both == both),
            "{heads:?}"
        );
        assert!(
            heads
                .iter()
                .any(|&(flags, forms)| flags & layout2::SHORT_HEAD == 0
                    && forms & 3 == layout2::MAX_STEPS),
            "{heads:?}"
        );
        heads
    };
    let before = check(dir.path(), &store);
    store.close().unwrap();
    let store = tierlog::Store::open(dir.path(), config()).unwrap();
    assert_eq!(store.maintain().unwrap().rollups.pieces, 0);
    assert_eq!(check(dir.path(), &store), before);
}

/// Same-second means of extreme values (format-spec/window-log.md): finite samples give a
/// finite mean even when their sum overflows f64, `+Inf` with `-Inf` gives one pinned NaN,
/// the first NaN of a second wins bit for bit (a signalling one stays signalling), two `-0.0`
/// give `-0.0`, and one sample stays as written — in the open window, after the log is
/// replayed, once sealed and after reopen. Some seconds get a sample after a later second
/// (the out-of-order path).
#[test]
fn same_second_means_of_extreme_values_are_finite_pinned_and_exact() {
    let max = f64::MAX;
    let inf = f64::INFINITY;
    let snan = f64::from_bits(0x7ff0_0000_0000_0001);
    let qnan = f64::from_bits(0x7ff8_dead_beef_0001);
    let neg_nan = f64::from_bits(0xfff8_0000_0000_0002);
    // (samples of one second, expected value of its point)
    let cases: Vec<(Vec<f64>, f64)> = vec![
        (vec![max, max], max),
        (vec![-max, -max, -max, -max], -max),
        (vec![max, max, -max], max / 3.0),
        (vec![max, max, -max, -max, 1.0], 0.2),
        (vec![max, 1.0, max, max], max * 0.75),
        (vec![max, max, inf], inf),
        (vec![inf, -inf], f64::from_bits(0x7ff8_0000_0000_0000)),
        (vec![-inf, 1.0, inf], f64::from_bits(0x7ff8_0000_0000_0000)),
        (vec![inf, -inf, qnan], f64::from_bits(0x7ff8_0000_0000_0000)),
        (vec![-0.0, -0.0], -0.0),
        (vec![1.0, snan, qnan], snan),
        (vec![max, max, neg_nan, snan], neg_nan),
        (vec![max], max),
        (vec![snan], snan),
        (vec![1.0, 2.0], 1.5),
    ];
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), &clock);
    // Every second but the last of each case first, then the last samples: for i > 0 the
    // last sample of case i - 1 arrives after case i's second opened.
    let at = |i: usize| T0 + i as i64 * 1_000 + 7;
    for (i, (vals, _)) in cases.iter().enumerate() {
        let samples: Vec<Sample<'_>> = vals[..vals.len() - 1]
            .iter()
            .map(|&v| Sample::new("m", &[], at(i), v))
            .collect();
        store.write(&samples).unwrap();
        if i > 0 {
            let (prev, _) = &cases[i - 1];
            let v = prev[prev.len() - 1];
            assert_eq!(
                store
                    .write(&[Sample::new("m", &[], at(i - 1), v)])
                    .unwrap()
                    .accepted,
                1
            );
        }
    }
    let (last, _) = cases.last().unwrap();
    let v = last[last.len() - 1];
    store
        .write(&[Sample::new("m", &[], at(cases.len() - 1), v)])
        .unwrap();
    let expect = vec![(
        "m{}".to_string(),
        cases
            .iter()
            .enumerate()
            .map(|(i, (_, want))| (T0 + i as i64 * 1_000, want.to_bits()))
            .collect::<Vec<_>>(),
    )];
    assert_eq!(points(&store, "m"), expect, "open window");
    store.close().unwrap();
    let store = open(dir.path(), &clock);
    assert_eq!(points(&store, "m"), expect, "replayed from the log");
    clock.set(T0 + 600_000 + 300_000 + 1);
    store.maintain().unwrap();
    assert_eq!(store.stats().tiers[0].sealed.segments, 1);
    assert_eq!(points(&store, "m"), expect, "sealed");
    store.close().unwrap();
    let store = open(dir.path(), &clock);
    assert_eq!(points(&store, "m"), expect, "sealed, reopened");
}
