//! A damaged (or missing) `state` file: every normal open refuses the store naming the repair;
//! `Store::repair` moves the file aside to `state.damaged`, rebuilds what it held from the
//! other files (window span from the raw headers, tiers from the tier directories, marks from
//! the newest segments) and loses no raw point and no rollup bucket.

use tierlog_testkit::helpers as common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::T0;
use tierlog::layout::{LOCK_FILE, STATE_FILE};
use tierlog::{Config, Error, Finding, ManualClock, Sample, Store, Tier};

const SPAN_MS: i64 = 600_000;
const TIERS: [&str; 2] = ["10s", "60s"];
/// Window T0 is sealed and rolled up; window T0 + 10 min is still open (in its log).
const LATER: i64 = T0 + SPAN_MS + 360_000;

/// Raw points and every tier's buckets (as bits), keyed by series.
type Answer = (
    BTreeMap<String, Vec<(i64, u64)>>,
    BTreeMap<(String, String), Vec<[u64; 10]>>,
);

fn answer(store: &Store) -> Answer {
    let sel = common::sel("{__name__=~\".+\"}");
    let mut raw = BTreeMap::new();
    let r = store.query(&sel, i64::MIN, i64::MAX).unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    for s in r.series {
        let key = format!("{}{{{}}}", s.metric, s.labels.to_kv_string());
        raw.insert(
            key,
            s.points.iter().map(|&(t, v)| (t, v.to_bits())).collect(),
        );
    }
    let mut tiers = BTreeMap::new();
    for tier in TIERS {
        let r = store.query_tier(&sel, i64::MIN, i64::MAX, tier).unwrap();
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        for s in r.series {
            let key = format!("{}{{{}}}", s.metric, s.labels.to_kv_string());
            let rows = s.points.iter().map(common::bucket_bits).collect();
            tiers.insert((tier.to_string(), key), rows);
        }
    }
    (raw, tiers)
}

/// Two series, a point every 10 s through window T0 (sealed, rolled up into both tiers) and
/// a few in window T0 + 10 min (left in its log). Returns the clock.
fn build(dir: &Path) -> Arc<ManualClock> {
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir, common::config(&clock)).unwrap();
    for t in (0..SPAN_MS / 1000).step_by(10) {
        let ts = T0 + t * 1000;
        clock.set(ts + 500);
        let batch = [
            Sample::new("cpu", &[("host", "a")], ts, t as f64 / 4.0),
            Sample::new("mem", &[("host", "b")], ts + 1, 1e6 - t as f64),
        ];
        assert_eq!(store.write(&batch).unwrap().accepted, 2);
    }
    for i in 0..5 {
        let ts = T0 + SPAN_MS + i * 7_000;
        clock.set(ts + 500);
        store
            .write(&[Sample::new("cpu", &[("host", "a")], ts, i as f64)])
            .unwrap();
    }
    clock.set(LATER);
    store.maintain().unwrap();
    store.close().unwrap();
    assert!(common::seg_path(dir, T0).is_file());
    assert!(common::wal_path(dir, T0 + SPAN_MS).is_file());
    for t in TIERS {
        assert!(
            std::fs::read_dir(dir.join(t)).unwrap().next().is_some(),
            "{t} rolled up"
        );
    }
    clock
}

fn flip_state_bit(dir: &Path, byte: usize) -> Vec<u8> {
    let path = dir.join(STATE_FILE);
    let mut b = std::fs::read(&path).unwrap();
    b[byte] ^= 0x10;
    std::fs::write(&path, &b).unwrap();
    b
}

fn rebuilt(findings: &[Finding]) -> &Finding {
    let f: Vec<&Finding> = findings
        .iter()
        .filter(|f| matches!(f, Finding::StateRebuilt { .. }))
        .collect();
    assert_eq!(f.len(), 1, "{findings:?}");
    f[0]
}

#[test]
fn a_damaged_state_is_refused_and_then_rebuilt_by_repair_without_losing_data() {
    let dir = common::fast_tempdir();
    let clock = build(dir.path());
    let before = answer(&Store::open_read_only(dir.path(), common::config(&clock)).unwrap());
    assert_eq!(before.0.len(), 2);
    assert_eq!(before.1.len(), 4, "both series in both tiers");

    // High-water byte: only the body checksum can tell.
    let damaged = flip_state_bit(dir.path(), 33);
    let state = dir.path().join(STATE_FILE);
    for read_only in [false, true] {
        let r = if read_only {
            Store::open_read_only(dir.path(), common::config(&clock))
        } else {
            Store::open(dir.path(), common::config(&clock))
        };
        match r {
            Err(e @ Error::NeedsRepair { .. }) => {
                let Error::NeedsRepair { file, .. } = &e else {
                    unreachable!()
                };
                assert_eq!(*file, state);
                let msg = e.to_string();
                assert!(
                    msg.contains("tierlog repair") && msg.contains("state at offset 32"),
                    "{msg}"
                );
            }
            other => panic!("read-only {read_only}: expected NeedsRepair, got {other:?}"),
        }
        let _ = std::fs::remove_file(dir.path().join(LOCK_FILE));
    }
    assert_eq!(
        std::fs::read(&state).unwrap(),
        damaged,
        "a refused open changes nothing"
    );

    let (store, findings) = Store::repair(dir.path(), common::config(&clock)).unwrap();
    match rebuilt(&findings) {
        Finding::StateRebuilt {
            file,
            moved_to,
            damage,
            window_span,
            tiers,
        } => {
            assert_eq!(*file, state);
            assert_eq!(
                moved_to.as_deref(),
                Some(dir.path().join("state.damaged").as_path())
            );
            assert!(damage.is_some());
            assert_eq!(*window_span, SPAN_MS);
            assert_eq!(tiers, &["10s", "60s"]);
        }
        _ => unreachable!(),
    }
    let text = rebuilt(&findings).to_string();
    assert!(
        text.contains("retention settings") && text.contains("lost"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("state.damaged")).unwrap(),
        damaged
    );
    assert_eq!(
        answer(&store),
        before,
        "every point and bucket, bit for bit"
    );
    // Writes continue in the open window; nothing before sealed-through is accepted again.
    let ts = T0 + SPAN_MS + 100_000;
    let w = store
        .write(&[Sample::new("cpu", &[("host", "a")], ts, 99.0)])
        .unwrap();
    assert_eq!(w.accepted, 1);
    let too_old = tierlog::Clock::now_ms(&*clock) - 200 * 86_400_000;
    let w = store
        .write(&[Sample::new("cpu", &[("host", "a")], too_old, 1.0)])
        .unwrap();
    assert_eq!(w.rejected_too_old, 1, "older than every tier keeps");
    store.close().unwrap();
    assert!(
        dir.path().join(STATE_FILE).is_file(),
        "a fresh state is written"
    );

    // A normal writer open works again, and sealing and rolling up carry on.
    let store = Store::open(dir.path(), common::config(&clock)).unwrap();
    assert!(store.recovery_findings().is_empty());
    let mut want = before.clone();
    let cpu_key = before
        .0
        .keys()
        .find(|k| k.starts_with("cpu"))
        .unwrap()
        .clone();
    let cpu = want.0.get_mut(&cpu_key).unwrap();
    cpu.push((ts, 99f64.to_bits()));
    cpu.sort();
    let after = answer(&store);
    assert_eq!(after.0, want.0);
    assert_eq!(after.1, before.1);
    clock.set(T0 + 2 * SPAN_MS + 360_000);
    store.maintain().unwrap();
    let sealed = answer(&store);
    assert_eq!(sealed.0, want.0);
    for (k, rows) in &before.1 {
        let now = &sealed.1[k];
        assert!(now.starts_with(rows), "{k:?}: old buckets kept");
    }
    let k = ("10s".to_string(), cpu_key);
    assert!(
        sealed.1[&k].len() > before.1[&k].len(),
        "the open window was rolled up after the repair"
    );
    store.close().unwrap();
}

#[test]
fn a_rebuilt_state_takes_the_window_span_from_the_files() {
    let dir = common::fast_tempdir();
    let clock = build(dir.path());
    let before = answer(&Store::open_read_only(dir.path(), common::config(&clock)).unwrap());
    flip_state_bit(dir.path(), 20); // The window span itself (header checksum).
    // A default configuration: 20-minute windows, while the files have 10-minute ones.
    let config = Config {
        maintenance_interval: None,
        ..Config::default()
    }
    .with_clock(clock.clone());
    assert_ne!(config.window_span, Duration::from_millis(SPAN_MS as u64));
    let (store, findings) = Store::repair(dir.path(), config).unwrap();
    assert!(matches!(
        rebuilt(&findings),
        Finding::StateRebuilt {
            window_span: SPAN_MS,
            ..
        }
    ));
    assert_eq!(
        store.config().window_span,
        Duration::from_millis(SPAN_MS as u64)
    );
    assert_eq!(answer(&store), before);
    store.close().unwrap();
    let stored = Store::stored_config(dir.path()).unwrap().unwrap();
    assert_eq!(stored.window_span, Duration::from_millis(SPAN_MS as u64));
}

#[test]
fn a_missing_state_beside_data_is_rebuilt_by_repair() {
    let dir = common::fast_tempdir();
    let clock = build(dir.path());
    let before = answer(&Store::open_read_only(dir.path(), common::config(&clock)).unwrap());
    std::fs::remove_file(dir.path().join(STATE_FILE)).unwrap();
    let (store, findings) = Store::repair(dir.path(), common::config(&clock)).unwrap();
    assert!(matches!(
        rebuilt(&findings),
        Finding::StateRebuilt {
            damage: None,
            moved_to: None,
            ..
        }
    ));
    assert_eq!(answer(&store), before);
    store.close().unwrap();
}

#[test]
fn a_tier_the_configuration_lacks_is_refused_not_guessed() {
    let dir = common::fast_tempdir();
    let clock = build(dir.path());
    let damaged = flip_state_bit(dir.path(), 60);
    let mut config = common::config(&clock);
    config.tiers = Some(vec![Tier::new(
        "10s",
        Duration::from_secs(10),
        Duration::from_secs(86_400),
    )]);
    match Store::repair(dir.path(), config) {
        Err(Error::Config { setting, message }) => {
            assert_eq!(setting, "tiers");
            assert!(message.contains("\"60s\""), "{message}");
        }
        other => panic!("expected a config error, got {:?}", other.map(|_| ())),
    }
    let _ = std::fs::remove_file(dir.path().join(LOCK_FILE));
    assert_eq!(std::fs::read(dir.path().join(STATE_FILE)).unwrap(), damaged);
    assert!(!dir.path().join("state.damaged").exists());
    // With the tier configured, the repair goes through.
    let (store, findings) = Store::repair(dir.path(), common::config(&clock)).unwrap();
    rebuilt(&findings);
    store.close().unwrap();
}
