//! Retention: whole segments dropped by age (each tier's keep, `max_age_days`, the shorter
//! wins) and by the byte budget (oldest data first), never raw data before its rollups exist,
//! never open windows; queries keep reading what they hold.

use tierlog_testkit::helpers as common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{T0, fast_tempdir, sel};
use tierlog::layout::RAW_DIR;
use tierlog::layout::STATE_FILE;
use tierlog::segment::Segment;
use tierlog::{Config, DropReason, Error, ManualClock, Sample, Store, Sync, Tier};

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// The tests' raw window span (common::config).
const SPAN: i64 = 10 * MIN;

fn config(clock: &Arc<ManualClock>, max_age_days: u32) -> Config {
    Config {
        max_age_days: Some(max_age_days),
        tiers: Some(vec![
            Tier::new("10s", Duration::from_secs(10), Duration::from_secs(86_400)),
            Tier::new(
                "60s",
                Duration::from_secs(60),
                Duration::from_secs(5 * 86_400),
            ),
        ]),
        ..common::config(clock)
    }
    .with_sync(Sync::Never)
}

/// Every segment file of the store: (tier dir, start, end), from the headers (files that
/// vanish while listed are left out).
fn segments(dir: &Path) -> Vec<(String, i64, i64)> {
    let mut out = Vec::new();
    for tier in [RAW_DIR, "10s", "60s"] {
        let Ok(rd) = std::fs::read_dir(dir.join(tier)) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if common::is_segment(&p) {
                // Retention running beside us may remove it between listing and opening.
                let Ok(s) = Segment::open(&p) else { continue };
                let h = s.header();
                out.push((
                    tier.to_string(),
                    h.window_start,
                    h.window_start + h.window_span,
                ));
            }
        }
    }
    out.sort();
    out
}

const SERIES: [&str; 4] = ["a", "b", "c", "d"];

/// Writes one sample per series at `t` (value = minutes since T0), clock at `t`.
fn write_at(store: &Store, clock: &ManualClock, t: i64) {
    clock.set(t);
    let labels: Vec<[(&str, &str); 1]> = SERIES.iter().map(|s| [("s", *s)]).collect();
    let samples: Vec<Sample<'_>> = labels
        .iter()
        .map(|l| Sample::new("m", l, t, ((t - T0) / MIN) as f64))
        .collect();
    let r = store.write(&samples).unwrap();
    assert_eq!(r.accepted, SERIES.len() as u64);
}

#[test]
fn each_tier_keeps_what_its_keep_and_max_age_allow_over_simulated_days() {
    // Raw kept 2 h, 10s 1 day (its own keep wins), 60s 5 days cut to 3 by max_age_days.
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock, 3)).unwrap();
    let limits: BTreeMap<&str, (i64, DropReason)> = [
        ("raw", (2 * HOUR, DropReason::TierKeep)),
        ("10s", (DAY, DropReason::TierKeep)),
        ("60s", (3 * DAY, DropReason::MaxAge)),
    ]
    .into();
    let mut seen_reasons: BTreeMap<String, DropReason> = BTreeMap::new();
    let mut t = T0;
    let end = T0 + 5 * DAY;
    while t < end {
        write_at(&store, &clock, t);
        t += 5 * MIN;
        if (t - T0) % (3 * HOUR) != 0 {
            continue;
        }
        let r = store.maintain().unwrap();
        for d in &r.retention.dropped {
            let (limit, reason) = limits[d.tier.as_str()];
            assert_eq!(d.reason, reason, "{d:?}");
            // Dropped only once all of it was past its limit.
            assert!(
                d.end_ms <= t - limit,
                "{d:?} dropped early at +{} min",
                (t - T0) / MIN
            );
            seen_reasons.insert(d.tier.clone(), d.reason);
        }
        let now = t - 5 * MIN; // the clock: the last write
        for (tier, start, seg_end) in segments(dir.path()) {
            let (limit, _) = limits[tier.as_str()];
            // Nothing past its limit remains, except raw a tier has not rolled up yet (the
            // last sealed window's piece may still be open).
            assert!(
                seg_end > now - limit,
                "{tier} {start}..{seg_end} kept past its limit at +{} min",
                (now - T0) / MIN
            );
        }
        // What is within each limit is still there: the data one segment inside it.
        let q = |tier: &str, from: i64, to: i64| -> usize {
            if tier == "raw" {
                store.query(&sel("m"), from, to).unwrap().series.len()
            } else {
                store
                    .query_tier(&sel("m"), from, to, tier)
                    .unwrap()
                    .series
                    .len()
            }
        };
        let raw_from = (now - 2 * HOUR).max(T0) + SPAN;
        assert_eq!(q("raw", raw_from, now), SERIES.len(), "raw within its keep");
        let ten_from = (now - DAY).max(T0) + 2 * HOUR;
        if ten_from < now - HOUR {
            assert_eq!(
                q("10s", ten_from, now - HOUR),
                SERIES.len(),
                "10s within its keep"
            );
        }
        let sixty_from = (now - 3 * DAY).max(T0) + DAY;
        if sixty_from < now - HOUR {
            assert_eq!(
                q("60s", sixty_from, now - HOUR),
                SERIES.len(),
                "60s within max age"
            );
        }
        // Rollups exist where raw is gone.
        if now - T0 > 4 * HOUR {
            let gone = now - 3 * HOUR;
            assert_eq!(q("raw", gone - SPAN, gone), 0, "raw past its keep is gone");
            assert_eq!(
                q("10s", gone - SPAN, gone),
                SERIES.len(),
                "its 10s buckets exist"
            );
        }
    }
    assert_eq!(seen_reasons.len(), 3, "{seen_reasons:?}");
    let st = store.stats();
    assert_eq!((st.max_age_days, st.max_bytes), (3, 0));
    let rt = st.retention;
    assert!(rt.dropped_tier_keep > 0 && rt.dropped_max_age > 0, "{rt:?}");
    assert!(rt.bytes_freed > 0 && rt.dropped_budget == 0 && rt.passes_held_back == 0);
    // Step queries over the whole range answer each part from what is left.
    let r = store
        .query_step(&sel("m"), T0, end, Duration::from_secs(60))
        .unwrap();
    let first = r.series[0].points.first().unwrap();
    assert!(
        first.t >= end - 3 * DAY - DAY && &*first.tier == "60s",
        "{first:?}"
    );
}

#[test]
fn the_byte_budget_drops_the_oldest_data_first_and_keeps_the_newest() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let cfg = || config(&clock, 90);
    let store = Store::open(dir.path(), cfg()).unwrap();
    // 20 hours at 1 minute: raw past 2 h is dropped by age, tiers keep everything.
    let mut t = T0;
    while t < T0 + 20 * HOUR {
        write_at(&store, &clock, t);
        t += MIN;
    }
    let last = t - MIN;
    store.maintain().unwrap();
    drop(store);
    let before = segments(dir.path());
    let size = tierlog::vfs::dir_size(dir.path()).unwrap();
    let budget = size * 6 / 10;
    let store = Store::open(
        dir.path(),
        Config {
            max_bytes: Some(budget),
            ..cfg()
        },
    )
    .unwrap();
    let r = store.maintain().unwrap().retention;
    assert!(!r.dropped.is_empty());
    assert!(r.dropped.iter().all(|d| d.reason == DropReason::Budget));
    assert_eq!(r.over_budget_bytes, 0, "{r:?}");
    assert!(r.total_bytes <= budget, "{} > {budget}", r.total_bytes);
    assert!(tierlog::vfs::dir_size(dir.path()).unwrap() <= budget);
    // Oldest first: nothing left ends before the newest end dropped.
    let after = segments(dir.path());
    let newest_dropped = r.dropped.iter().map(|d| d.end_ms).max().unwrap();
    assert!(
        after.iter().all(|(_, _, end)| *end >= newest_dropped),
        "dropped up to {newest_dropped}, left {after:?}"
    );
    assert_eq!(before.len(), after.len() + r.dropped.len());
    // The newest data is intact, raw and rolled up.
    let raw = store.query(&sel("m"), last - HOUR, last + 1).unwrap();
    assert_eq!(raw.series.len(), SERIES.len());
    assert!(raw.series.iter().all(|s| s.points.len() == 61));
    // A budget that cannot be met: the store says so, keeps working, keeps what it must.
    drop(store);
    let store = Store::open(
        dir.path(),
        Config {
            max_bytes: Some(1),
            ..cfg()
        },
    )
    .unwrap();
    let r = store.maintain().unwrap().retention;
    assert!(r.over_budget_bytes > 0, "{r:?}");
    write_at(&store, &clock, last + MIN);
    let open = store.query(&sel("m"), last, last + 2 * MIN).unwrap();
    assert!(open.series.iter().all(|s| s.points.len() == 2));
}

#[test]
fn raw_data_waits_for_its_rollups() {
    // 10 h of raw data written with no tiers (raw kept 2 days), then reopened with two tiers,
    // raw kept 2 h, and only the background thread, which materialises 8 pieces per tier a
    // pass: raw windows go only once both tiers have them.
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let first = Config {
        raw_keep: Some(Duration::from_secs(2 * 86_400)),
        tiers: Some(vec![]),
        ..common::config(&clock)
    }
    .with_sync(Sync::Never);
    let store = Store::open(dir.path(), first).unwrap();
    let end = T0 + 10 * HOUR;
    let mut t = T0;
    while t < end {
        write_at(&store, &clock, t);
        t += 5 * MIN;
    }
    clock.set(end + 10 * MIN);
    let r = store.maintain().unwrap();
    assert!(r.retention.dropped.is_empty());
    store.close().unwrap();
    let windows: Vec<i64> = (0..60).map(|w| T0 + w * SPAN).collect();

    let cfg = Config {
        maintenance_interval: Some(Duration::from_millis(20)),
        raw_keep: Some(Duration::from_secs(2 * 3600)),
        ..config(&clock, 90)
    };
    let store = Store::open(dir.path(), cfg).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut held = false;
    loop {
        // Files first, then the marks: a window missing from the listing was dropped before
        // the marks were read, so it must end before the least advanced mark (the window
        // ending there is the next piece's look-back for counters).
        let present: Vec<i64> = segments(dir.path())
            .into_iter()
            .filter(|s| s.0 == "raw")
            .map(|s| s.1)
            .collect();
        let marks: Vec<Option<i64>> = store.stats().tiers[1..]
            .iter()
            .map(|t| t.materialised_through_ms)
            .collect();
        let least = marks.iter().map(|m| m.unwrap_or(i64::MIN)).min().unwrap();
        for w in &windows {
            if !present.contains(w) {
                assert!(
                    w + SPAN < least,
                    "raw window {w} dropped before its rollups or look-back use ({marks:?})"
                );
            }
        }
        // Raw past its keep still there because a tier lags: the guard at work.
        held |= present
            .iter()
            .any(|w| w + SPAN <= end + 10 * MIN - 2 * HOUR);
        if least >= end && present.iter().all(|w| w + SPAN > end + 10 * MIN - 2 * HOUR) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not caught up: {marks:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        held,
        "the lagging tiers should have held raw windows back at first"
    );
    let b = store.query_tier(&sel("m"), T0, end, "60s").unwrap();
    assert_eq!(b.series.len(), SERIES.len());
    assert_eq!(b.series[0].points.len(), 120);
}

#[test]
fn out_of_range_settings_are_refused_with_their_names() {
    let clock = Arc::new(ManualClock::new(T0));
    for days in [0, 3651] {
        let dir = fast_tempdir();
        match Store::open(dir.path(), config(&clock, days)) {
            Err(Error::Config { setting, message }) => {
                assert_eq!(setting, "max_age_days");
                assert!(message.contains("1–3650"), "{message}");
            }
            other => panic!(
                "{days}: expected a config error, got {:?}",
                other.map(|_| ())
            ),
        }
    }
}

#[test]
fn out_of_range_clock_lead_and_keeps_are_refused_with_their_names() {
    let clock = Arc::new(ManualClock::new(T0));
    let cases: [(Config, &str); 3] = [
        (
            Config {
                max_clock_lead: Some(Duration::from_secs(1)),
                ..config(&clock, 90)
            },
            "max_clock_lead",
        ),
        (
            Config {
                raw_keep: Some(Duration::from_secs(3651 * 86_400)),
                tiers: Some(vec![]),
                ..config(&clock, 90)
            },
            "raw_keep",
        ),
        (
            Config {
                on_expiry: Some(tierlog::Expiry::Archive("".into())),
                ..config(&clock, 90)
            },
            "on_expiry",
        ),
    ];
    for (c, name) in cases {
        let dir = fast_tempdir();
        match Store::open(dir.path(), c) {
            Err(Error::Config { setting, .. }) => assert_eq!(setting, name),
            other => panic!(
                "{name}: expected a config error, got {:?}",
                other.map(|_| ())
            ),
        }
    }
}

/// Unset settings take what the store records; set ones replace it and are recorded.
#[test]
fn settings_live_with_the_store() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let first = Config {
        raw_keep: Some(3 * Duration::from_secs(3600)),
        max_bytes: Some(123_456_789),
        max_clock_lead: Some(Duration::from_secs(7200)),
        on_expiry: Some(tierlog::Expiry::Archive("cold".into())),
        ..config(&clock, 45)
    };
    Store::open(dir.path(), first).unwrap().close().unwrap();
    // A writer that sets nothing gets the store's policy, not the defaults.
    let bare = Config {
        maintenance_interval: None,
        window_span: Duration::from_millis(SPAN as u64),
        ..Config::default()
    }
    .with_clock(clock.clone());
    let store = Store::open(dir.path(), bare.clone()).unwrap();
    let c = store.config();
    assert_eq!(c.max_age_days, Some(45));
    assert_eq!(c.max_bytes, Some(123_456_789));
    assert_eq!(c.raw_keep, Some(Duration::from_secs(3 * 3600)));
    assert_eq!(c.max_clock_lead, Some(Duration::from_secs(7200)));
    assert_eq!(c.on_expiry, Some(tierlog::Expiry::Archive("cold".into())));
    assert_eq!(c.tiers()[1].keep, Duration::from_secs(5 * 86_400));
    store.close().unwrap();
    // One setting changed: the others stay.
    let mut change = bare.clone();
    change.max_bytes = Some(0);
    change.tiers = Some(config(&clock, 1).tiers().to_vec());
    change.tiers_mut()[1].keep = Duration::from_secs(9 * 86_400);
    Store::open(dir.path(), change).unwrap().close().unwrap();
    let stored = Store::stored_config(dir.path()).unwrap().unwrap();
    assert_eq!(stored.max_bytes, Some(0));
    assert_eq!(stored.max_age_days, Some(45));
    assert_eq!(stored.tiers()[1].keep, Duration::from_secs(9 * 86_400));
    assert_eq!(stored.raw_keep, Some(Duration::from_secs(3 * 3600)));
    // A reader reports the stored policy whatever it asks for.
    let reader = Store::open_read_only(dir.path(), config(&clock, 7)).unwrap();
    assert_eq!(reader.config().max_age_days, Some(45));
    assert_eq!(reader.stats().max_age_days, 45);
    // Intervals never change.
    let mut other = bare;
    other.tiers = Some(vec![Tier::new(
        "10s",
        Duration::from_secs(20),
        Duration::from_secs(86_400),
    )]);
    match Store::open(dir.path(), other) {
        Err(Error::Config { setting, .. }) => assert_eq!(setting, "tiers"),
        r => panic!("expected a tiers error, got {:?}", r.map(|_| ())),
    }
}

#[test]
fn a_dropped_segment_stays_readable_to_whoever_holds_it() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Arc::new(Store::open(dir.path(), config(&clock, 90)).unwrap());
    for m in 0..(5 * 60) {
        write_at(&store, &clock, T0 + m * MIN);
    }
    store.maintain().unwrap();
    // A mapping outlives its file.
    let (_, start, _) = segments(dir.path())
        .into_iter()
        .find(|s| s.0 == RAW_DIR)
        .unwrap();
    let path = common::seg_path(dir.path(), start);
    let seg = Segment::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let mut pts = Vec::new();
    seg.read_series(seg.footer().entries[0].series, i64::MIN, i64::MAX, &mut pts)
        .unwrap();
    assert_eq!(pts.len(), 10);
    // Queries running while retention drops segments get whole, consistent answers.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = store.query(&sel("m"), i64::MIN, i64::MAX).unwrap();
                assert!(r.warnings.is_empty(), "{:?}", r.warnings);
                for s in &r.series {
                    assert!(s.points.windows(2).all(|w| w[0].0 < w[1].0));
                    // Whole windows only: a point count of a multiple of 10 per window.
                    assert_eq!(s.points.len() % 10, 0, "{}", s.points.len());
                }
                n += 1;
            }
            n
        })
    };
    for h in 0..6 {
        clock.set(T0 + (5 + h) * HOUR);
        store.maintain().unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
}

#[test]
fn a_clock_a_year_ahead_deletes_nothing_by_age_until_accepted() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock, 90)).unwrap();
    for m in 0..(4 * 60) {
        write_at(&store, &clock, T0 + m * MIN);
    }
    store.maintain().unwrap();
    let count = |store: &Store| -> usize {
        let raw = store.query(&sel("m"), i64::MIN, i64::MAX).unwrap();
        let ten = store
            .query_tier(&sel("m"), i64::MIN, i64::MAX, "10s")
            .unwrap();
        raw.series
            .iter()
            .chain(&[])
            .map(|s| s.points.len())
            .sum::<usize>()
            + ten.series.iter().map(|s| s.points.len()).sum::<usize>()
    };
    let points_before = count(&store);
    drop(store);
    // A year later by the clock, with no new data: held back, and said so.
    clock.set(T0 + 365 * DAY);
    let store = Store::open(dir.path(), config(&clock, 90)).unwrap();
    let r = store.maintain().unwrap().retention;
    assert!(
        r.age_held_back.is_some_and(|lead| lead > 364 * DAY),
        "{r:?}"
    );
    assert!(r.dropped.is_empty());
    // Nothing lost (the last window was sealed and rolled up meanwhile: more, not fewer).
    assert!(count(&store) >= points_before);
    drop(store);
    // The byte budget still applies.
    let size = tierlog::vfs::dir_size(dir.path()).unwrap();
    let store = Store::open(
        dir.path(),
        Config {
            max_bytes: Some(size / 2),
            ..config(&clock, 90)
        },
    )
    .unwrap();
    let r = store.maintain().unwrap().retention;
    assert!(r.age_held_back.is_some());
    assert!(!r.dropped.is_empty() && r.dropped.iter().all(|d| d.reason == DropReason::Budget));
    let rt = store.stats().retention;
    assert_eq!(rt.passes_held_back, 1);
    assert_eq!(rt.dropped_budget, r.dropped.len() as u64);
    drop(store);
    // Accepted: everything past its keep goes.
    let store = Store::open(
        dir.path(),
        Config {
            accept_clock: true,
            ..config(&clock, 90)
        },
    )
    .unwrap();
    let r = store.maintain().unwrap().retention;
    assert_eq!(r.age_held_back, None);
    // (Every tier here keeps less than max_age_days: their own keep is the reason.)
    assert!(!r.dropped.is_empty() && r.dropped.iter().all(|d| d.reason == DropReason::TierKeep));
    // Left: only the newest raw window, the look-back of the next piece to come.
    let left = segments(dir.path());
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!((left[0].0.as_str(), left[0].2), ("raw", T0 + 4 * HOUR));
}

#[test]
fn series_with_nothing_left_leave_the_index_and_their_handles_go_stale() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock, 3)).unwrap();
    let old = store.series_handle("gone", &[("host", "a")]).unwrap();
    let mut t = T0;
    while t < T0 + 5 * DAY {
        clock.set(t);
        let mut batch = vec![Sample::new("m", &[("s", "a")], t, 1.0)];
        if t < T0 + HOUR {
            batch.push(Sample::new("gone", &[("host", "a")], t, 2.0));
        }
        store.write(&batch).unwrap();
        if (t - T0) % (6 * HOUR) == 0 {
            store.maintain().unwrap();
        }
        t += 10 * MIN;
    }
    let r = store.maintain().unwrap().retention;
    let removed = store.stats().retention.series_removed;
    assert_eq!(removed, 1, "{r:?}");
    assert!(store.series(&sel("gone")).is_empty());
    assert_eq!(store.stats().series, 1);
    // A handle from before never writes into another series.
    let e = store.write_series(&[(old, t, 3.0)]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidSample {
                reason: tierlog::SampleError::UnknownSeries { .. },
                ..
            }
        ),
        "{e}"
    );
    // The same labels again: a new series, which never sees the old data.
    clock.set(t);
    store
        .write(&[Sample::new("gone", &[("host", "a")], t, 4.0)])
        .unwrap();
    let now = store.series(&sel("gone"));
    assert_eq!(now.len(), 1);
    assert_ne!(now[0].id, old);
    let pts = store.query(&sel("gone"), i64::MIN, i64::MAX).unwrap();
    assert_eq!(pts.series[0].points, vec![(t, 4.0)]);
    // After a reopen the removal holds (it is in the index) and the new series is there.
    drop(store);
    let store = Store::open(dir.path(), config(&clock, 3)).unwrap();
    let now2 = store.series(&sel("gone"));
    assert_eq!(now2.len(), 1);
    assert_eq!(now2[0].id, now[0].id);
    assert!(store.write_series(&[(old, t + 1000, 5.0)]).is_err());
    let reader = Store::open_read_only(dir.path(), config(&clock, 3)).unwrap();
    assert_eq!(reader.series(&sel("{__name__=~\".+\"}")).len(), 2);
}

/// A crash after retention dropped every segment of a series but before its removal record
/// was written leaves it in the index with no samples anywhere: the first pass after the
/// reopen removes it, though that pass drops nothing.
#[test]
fn series_left_dangling_by_a_crash_are_removed_by_the_next_pass() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock, 90)).unwrap();
    let mut t = T0;
    while t < T0 + 3 * HOUR {
        clock.set(t);
        let mut batch = vec![Sample::new("kept", &[("s", "a")], t, 1.0)];
        if t < T0 + HOUR {
            batch.push(Sample::new("gone", &[("host", "a")], t, 2.0));
        }
        store.write(&batch).unwrap();
        t += MIN;
    }
    clock.set(t + HOUR);
    store.maintain().unwrap();
    let old = store.series(&sel("gone"))[0].id;
    store.close().unwrap();
    // The state a crash mid-pass leaves: every segment holding "gone" deleted, no removal
    // record. (Each of its segments holds "kept" too: keep the newest of "kept" only.)
    let mut deleted = 0;
    for (tier, start, end) in segments(dir.path()) {
        let _ = end;
        if (tier == RAW_DIR && start + SPAN <= T0 + 2 * HOUR)
            || (tier != RAW_DIR && start < T0 + HOUR)
        {
            let p = common::tier_seg_path(dir.path(), &tier, start);
            if p.exists() {
                std::fs::remove_file(&p).unwrap();
                deleted += 1;
            }
        }
    }
    assert!(deleted > 0);
    let store = Store::open(dir.path(), config(&clock, 90)).unwrap();
    assert_eq!(store.series(&sel("gone")).len(), 1, "still indexed");
    let q = store.query(&sel("gone"), i64::MIN, i64::MAX).unwrap();
    assert!(q.series.iter().all(|s| s.points.is_empty()), "{q:?}");
    let r = store.maintain().unwrap().retention;
    assert!(r.dropped.is_empty(), "nothing to drop: {r:?}");
    assert_eq!(r.series_removed, 1, "{r:?}");
    assert!(store.series(&sel("gone")).is_empty());
    assert_eq!(
        store.series(&sel("kept")).len(),
        1,
        "a series with data stays"
    );
    // Same labels again: a new id, above the old one.
    store
        .write(&[Sample::new("gone", &[("host", "a")], t + HOUR, 3.0)])
        .unwrap();
    assert!(store.series(&sel("gone"))[0].id > old);
}

/// With `on_expiry` = archive, the last tier's expired segments move to the archive, byte for
/// byte; finer tiers are still deleted; the archive reads and verifies as a store, keeps the
/// series the store forgot, and is not part of the byte budget.
#[test]
fn archive_mode_moves_the_last_tiers_expired_segments_to_a_queryable_archive() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let cfg = Config {
        on_expiry: Some(tierlog::Expiry::Archive("cold".into())),
        ..config(&clock, 2)
    };
    let store = Store::open(dir.path(), cfg.clone()).unwrap();
    let mut t = T0;
    let end = T0 + 5 * DAY;
    // Copies of each 60s segment file as it was, and the buckets of the first two days.
    let mut sixty: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut early = None;
    let mut archived = Vec::new();
    while t < end {
        clock.set(t);
        let mut batch = vec![Sample::new("m", &[("s", "a")], t, ((t - T0) / MIN) as f64)];
        if t < T0 + DAY {
            batch.push(Sample::new("gone", &[("host", "x")], t, 7.0));
        }
        store.write(&batch).unwrap();
        t += 5 * MIN;
        if (t - T0) % (3 * HOUR) != 0 {
            continue;
        }
        for e in std::fs::read_dir(dir.path().join("60s")).unwrap() {
            let p = e.unwrap().path();
            if common::is_segment(&p) {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                sixty.insert(name, std::fs::read(&p).unwrap());
            }
        }
        let r = store.maintain().unwrap().retention;
        // Two days in, before anything expires (the clock is 5 min behind `t`).
        if t == T0 + 2 * DAY {
            assert!(r.dropped.iter().all(|d| d.tier != "60s"));
            early = Some(
                store
                    .query_tier(&sel("{__name__=~\".+\"}"), T0, T0 + 2 * DAY - HOUR, "60s")
                    .unwrap(),
            );
        }
        for d in &r.dropped {
            assert_eq!(d.archived_to.is_some(), d.tier == "60s", "{d:?}");
            if let Some(to) = &d.archived_to {
                archived.push(to.clone());
            }
        }
    }
    assert!(archived.len() >= 2, "{archived:?}");
    for to in &archived {
        assert!(
            to.starts_with(dir.path().join("cold").join("60s")),
            "{to:?}"
        );
        let name = to.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            std::fs::read(to).unwrap(),
            sixty[&name],
            "{name} archived byte for byte"
        );
        assert!(!dir.path().join("60s").join(&name).exists());
    }
    // Nothing of the first days is in the store any more; "gone" left its index.
    let all = sel("{__name__=~\".+\"}");
    let live = store.query_tier(&all, T0, T0 + 2 * DAY, "60s").unwrap();
    assert!(live.series.is_empty(), "{live:?}");
    assert!(store.series(&sel("gone")).is_empty());
    assert!(store.stats().retention.series_removed >= 1);
    // The archive answers for them, with the same buckets, "gone" included.
    let archive = store.open_archive().unwrap().expect("an archive");
    let old = archive
        .query_tier(&all, T0, T0 + 2 * DAY - HOUR, "60s")
        .unwrap();
    let early = early.expect("queried before the drops");
    let shape = |r: &tierlog::BucketResult| -> Vec<(String, usize, i64, i64)> {
        r.series
            .iter()
            .map(|s| {
                let (a, b) = (s.points.first().unwrap().t, s.points.last().unwrap().t);
                (s.metric.clone(), s.points.len(), a, b)
            })
            .collect()
    };
    assert_eq!(shape(&old), shape(&early));
    assert_eq!(old.series.len(), 2);
    assert!(
        old == early,
        "the archive's buckets are the ones the store had"
    );
    let step = archive
        .query_step(&sel("gone"), T0, T0 + DAY, Duration::from_secs(3600))
        .unwrap();
    assert_eq!(step.series[0].points.len(), 24, "{step:?}");
    assert!(step.series[0].points.iter().all(|p| p.avg == 7.0));
    let v = tierlog_tools::inspect::verify_dir(&dir.path().join("cold"), |_| {}).unwrap();
    assert!(v.is_clean(), "{v:?}");
    assert!(v.notices.is_empty(), "{v:?}");
    drop(archive);
    store.close().unwrap();
    // The archive is not part of the budget: a budget the archive alone exceeds holds.
    let cold = tierlog::vfs::dir_size(&dir.path().join("cold")).unwrap();
    let whole = tierlog::vfs::dir_size(dir.path()).unwrap();
    let budget = whole - cold / 2;
    let store = Store::open(
        dir.path(),
        Config {
            max_bytes: Some(budget),
            ..cfg
        },
    )
    .unwrap();
    let r = store.maintain().unwrap().retention;
    assert_eq!(r.over_budget_bytes, 0, "{r:?}");
    assert!(
        r.total_bytes <= budget && r.total_bytes + cold > budget,
        "{r:?}"
    );
}

/// The clock-lead guard measures from the newest sample, not from the end of its window: a
/// clock a day and 5 minutes past the newest sample holds deletions by age back (the window
/// end is only 23 h 55 min behind it) and reports the lead from the sample.
#[test]
fn the_clock_lead_is_measured_from_the_newest_sample() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock, 90)).unwrap();
    let write = |t: i64, v: f64| {
        clock.set(t);
        let r = store.write(&[Sample::new("g", &[], t, v)]).unwrap();
        assert_eq!(r.accepted, 1);
    };
    write(T0, 1.0);
    // The newest sample, one second into its window.
    let newest = T0 + 20 * HOUR + 1_000;
    write(newest, 2.0);
    store.maintain().unwrap();
    let before = segments(dir.path());
    assert!(
        before.iter().any(|s| s.0 == "10s" && s.1 == T0),
        "the old 10s piece exists: {before:?}"
    );
    // Open window (the newest sample is still in the head).
    let now = newest + DAY + 5 * MIN;
    clock.set(now);
    let r = store.maintain().unwrap().retention;
    assert_eq!(r.age_held_back, Some(now - newest), "{r:?}");
    assert!(r.dropped.is_empty(), "{r:?}");
    drop(store);
    // Sealed (the reopen seals the due window): the same lead from the segment's points.
    let store = Store::open(dir.path(), config(&clock, 90)).unwrap();
    let r = store.maintain().unwrap().retention;
    assert_eq!(r.age_held_back, Some(now - newest), "{r:?}");
    assert!(r.dropped.is_empty(), "{r:?}");
    assert!(
        segments(dir.path())
            .iter()
            .any(|s| s.0 == "10s" && s.1 == T0)
    );
}

/// A store that archives its expired raw segments (no tiers, raw kept an hour) to `archive`.
fn archiving(clock: &Arc<ManualClock>, archive: &str) -> Config {
    Config {
        tiers: Some(vec![]),
        raw_keep: Some(Duration::from_secs(3600)),
        on_expiry: Some(tierlog::Expiry::Archive(archive.into())),
        ..config(clock, 90)
    }
}

/// Writes one sample at `t` and one three hours later, then runs a pass there: the first
/// window's raw segment expires (and is archived, when archiving).
fn write_and_expire(
    store: &Store,
    clock: &ManualClock,
    t: i64,
) -> Result<tierlog::RetentionReport, Error> {
    clock.set(t);
    store.write(&[Sample::new("m", &[], t, 1.0)]).unwrap();
    clock.set(t + 3 * HOUR);
    store
        .write(&[Sample::new("m", &[], t + 3 * HOUR, 2.0)])
        .unwrap();
    store.maintain().map(|r| r.retention)
}

fn is_archive_refusal<T>(r: Result<T, Error>, what: &str, needle: &str) {
    match r {
        Err(Error::Config { setting, message }) => {
            assert_eq!(setting, "on_expiry", "{what}: {message}");
            assert!(message.contains(needle), "{what}: {message}");
        }
        Err(e) => panic!("{what}: expected a config error, got {e}"),
        Ok(_) => panic!("{what}: accepted"),
    }
}

/// Archive paths that would destroy data are refused at open (`Error::Config` naming
/// `on_expiry`), with `.`, `..` and symbolic links resolved, also for a path that does not
/// exist yet: the store itself, its own files and tier directories, a directory nested in the
/// store, a directory holding the store, another store, another store's archive, a symbolic
/// link to the store. A directory of its own (inside or outside the store) is taken, and the
/// store's own archive stays its own (the store's id is recorded in it).
#[test]
fn archive_paths_that_would_lose_data_are_refused_at_open() {
    let top = fast_tempdir();
    let a = top.path().join("a");
    let b = top.path().join("b");
    let clock = Arc::new(ManualClock::new(T0));
    // Store b archives into b/cold: another store, and another store's archive.
    let store_b = Store::open(&b, archiving(&clock, "cold")).unwrap();
    let r = write_and_expire(&store_b, &clock, T0).unwrap();
    assert!(r.dropped.iter().any(|d| d.archived_to.is_some()), "{r:?}");
    store_b.close().unwrap();
    let b_state = std::fs::read(b.join(STATE_FILE)).unwrap();
    let b_archive_state = std::fs::read(b.join("cold").join(STATE_FILE)).unwrap();
    // Store a, with data.
    let store_a = Store::open(&a, config(&clock, 90)).unwrap();
    store_a.write(&[Sample::new("m", &[], T0, 5.0)]).unwrap();
    store_a.close().unwrap();
    let a_files = segments(&a);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&a, top.path().join("link")).unwrap();
    let link_abs = top.path().join("link").to_string_lossy().into_owned();
    let a_abs = a.to_string_lossy().into_owned();
    let cases: Vec<(&str, &str)> = vec![
        (".", "the store's own directory"),
        ("./", "the store's own directory"),
        (&a_abs, "the store's own directory"),
        ("raw/../.", "store's own"),
        ("./raw", "store's own"),
        ("./60s", "store's own"),
        ("sub/../10s", "store's own"),
        ("index.log", "store's own"),
        ("sub/deeper", "nested inside the store"),
        ("..", "holds the store"),
        ("../b", "another store"),
        ("../b/./cold", "archive of another store"),
        ("../link", "the store's own directory"),
        (&link_abs, "the store's own directory"),
        ("../link/raw", "store's own"),
        ("../link/new/x", "nested"),
    ];
    for (path, needle) in cases {
        is_archive_refusal(
            Store::open(
                &a,
                archiving(&clock, path).with_tiers(config(&clock, 90).tiers().to_vec()),
            ),
            path,
            needle,
        );
        // Nothing changed: not the store, not the other store or its archive.
        assert_eq!(segments(&a), a_files, "{path}");
        assert_eq!(
            Store::stored_config(&a).unwrap().unwrap().on_expiry(),
            &tierlog::Expiry::Delete,
            "{path}"
        );
        assert_eq!(
            std::fs::read(b.join(STATE_FILE)).unwrap(),
            b_state,
            "{path}"
        );
        assert_eq!(
            std::fs::read(b.join("cold").join(STATE_FILE)).unwrap(),
            b_archive_state,
            "{path}"
        );
    }
    // Directories of their own: one in the store, one beside it (neither exists yet).
    for path in ["cold", "./cold2/", "../a-archive"] {
        let s = Store::open(
            &a,
            archiving(&clock, path).with_tiers(config(&clock, 90).tiers().to_vec()),
        )
        .unwrap_or_else(|e| panic!("{path}: {e}"));
        s.close().unwrap();
    }
    // Store b still takes its own archive, across reopens.
    let store_b = Store::open(&b, archiving(&clock, "cold")).unwrap();
    let r = write_and_expire(&store_b, &clock, T0 + DAY).unwrap();
    assert!(r.dropped.iter().any(|d| d.archived_to.is_some()), "{r:?}");
    drop(store_b);
    // And through a path with `..` and a symbolic link to it.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&b, top.path().join("blink")).unwrap();
        let via = top.path().join("blink").join("..").join("b").join("cold");
        let store_b = Store::open(&b, archiving(&clock, &via.to_string_lossy())).unwrap();
        drop(store_b);
    }
}

/// The pass that archives checks the directory again: one that became another store or a
/// link to the store since the open is refused, nothing moves, and the pass after the
/// directory is put right archives.
#[test]
fn archive_paths_that_would_lose_data_are_refused_at_the_pass() {
    let top = fast_tempdir();
    let a = top.path().join("a");
    let target = top.path().join("a-archive");
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(&a, archiving(&clock, "../a-archive")).unwrap();
    // Another store appears where the archive is to go.
    let other = Store::open(&target, config(&clock, 90)).unwrap();
    other.close().unwrap();
    let other_state = std::fs::read(target.join(STATE_FILE)).unwrap();
    let before = segments(&a);
    is_archive_refusal(
        write_and_expire(&store, &clock, T0),
        "another store at the pass",
        "another store",
    );
    assert_eq!(std::fs::read(target.join(STATE_FILE)).unwrap(), other_state);
    let raw_before: Vec<_> = segments(&a).into_iter().filter(|s| s.1 == T0).collect();
    assert_eq!(raw_before.len(), 1, "the expired segment stays: {before:?}");
    // Then a symbolic link to the store.
    std::fs::remove_dir_all(&target).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&a, &target).unwrap();
        is_archive_refusal(store.maintain(), "a link to the store", "own directory");
        assert!(segments(&a).iter().any(|s| s.1 == T0));
        std::fs::remove_file(&target).unwrap();
    }
    // Put right: archived, and the archive records whose it is.
    let r = store.maintain().unwrap().retention;
    assert!(
        r.dropped
            .iter()
            .any(|d| d.start_ms == T0 && d.archived_to.is_some()),
        "{r:?}"
    );
    assert!(!segments(&a).iter().any(|s| s.1 == T0));
    drop(store);
    let store = Store::open(&a, archiving(&clock, "../a-archive")).unwrap();
    let archive = store.open_archive().unwrap().expect("archive");
    assert_eq!(
        archive.query(&sel("m"), T0, T0 + 1).unwrap().series.len(),
        1
    );
}

/// A series the store cleaned up and that came back later lives in the archive under two ids:
/// every answer of the archive (raw, raw streamed, step) gives it as one series.
#[test]
fn an_archived_series_that_came_back_is_one_series() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), archiving(&clock, "cold")).unwrap();
    let g = |t: i64, v: f64| Sample::new("g", &[("h", "a")], t, v);
    let mut old = None;
    for (i, t) in [T0, T0 + 4 * HOUR].into_iter().enumerate() {
        clock.set(t);
        store.write(&[g(t, i as f64 + 1.0)]).unwrap();
        let id = store.series(&sel("g"))[0].id;
        assert_ne!(Some(id), old, "a new id after the clean-up");
        old = Some(id);
        clock.set(t + 3 * HOUR);
        store
            .write(&[Sample::new("m", &[], t + 3 * HOUR, 0.0)])
            .unwrap();
        store.maintain().unwrap();
        store.maintain().unwrap();
        assert!(store.series(&sel("g")).is_empty(), "cleaned up after {t}");
    }
    let archive = store.open_archive().unwrap().expect("an archive");
    assert_eq!(archive.series(&sel("g")).len(), 2, "two ids in the archive");
    let want = vec![(T0, 1.0), (T0 + 4 * HOUR, 2.0)];
    let q = archive.query(&sel("g"), i64::MIN, i64::MAX).unwrap();
    assert_eq!(q.series.len(), 1, "{q:?}");
    assert_eq!(q.series[0].points, want);
    let it: Vec<_> = archive
        .query_iter(&sel("g"), i64::MIN, i64::MAX)
        .unwrap()
        .collect();
    assert_eq!(it, q.series);
    // Step buckets: one series; a bucket holding both lives is one bucket.
    let step = archive
        .query_step(&sel("g"), T0, T0 + 5 * HOUR, Duration::from_secs(3600))
        .unwrap();
    assert_eq!(step.series.len(), 1, "{step:?}");
    let ts: Vec<i64> = step.series[0].points.iter().map(|p| p.t).collect();
    assert_eq!(ts, [T0 - T0 % HOUR, T0 + 4 * HOUR - T0 % HOUR], "{step:?}");
    // Split in two for two threads: the series' two ids stay together, in one of them.
    let mut a = archive
        .query_step_iter(&sel("g"), T0, T0 + 5 * HOUR, Duration::from_secs(3600))
        .unwrap();
    let mut b = a.split();
    let (xa, xb): (Vec<_>, Vec<_>) = (a.by_ref().collect(), b.by_ref().collect());
    assert_eq!((xa.len(), xb.len()), (1, 0), "{xa:?} {xb:?}");
    assert_eq!(xa[0].points, step.series[0].points);
    let day = archive
        .query_step(
            &sel("g"),
            T0,
            T0 + 5 * HOUR,
            Duration::from_secs(7 * 86_400),
        )
        .unwrap();
    assert_eq!(day.series.len(), 1, "{day:?}");
    let b = &day.series[0].points;
    assert_eq!(b.len(), 1, "{day:?}");
    assert_eq!(
        (b[0].count, b[0].sum, b[0].min, b[0].max),
        (2, 3.0, 1.0, 2.0)
    );
    assert_eq!((b[0].first, b[0].last, b[0].avg), (1.0, 2.0, 1.5));
}
