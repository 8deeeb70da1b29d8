//! `StoreStats::to_exposition`: the text of a small store, line for line where the values are
//! fixed, and Prometheus' own checker (`promtool check metrics`) accepting it.

use std::sync::Arc;

use tierlog::{Config, ManualClock, Sample, Store};
use tierlog_testkit::helpers::promtool_check_metrics;

const T0: i64 = 1_700_000_400_000;

/// A store with two series, one sample refused as too old and one as too far ahead.
fn small_store(dir: &std::path::Path) -> Store {
    let clock = Arc::new(ManualClock::new(T0 + 10_000));
    let config = Config::default()
        .with_clock(clock)
        .with_maintenance_interval(None);
    let store = Store::open(dir, config).expect("open");
    let s = store
        .write(&[
            Sample::new("up", &[("job", "a")], T0, 1.0),
            Sample::new("up", &[("job", "a")], T0 + 5_000, 1.0),
            Sample::new("up", &[("job", "b\"q")], T0, 0.0),
            Sample::new("up", &[("job", "a")], 0, 1.0),
            Sample::new("up", &[("job", "a")], T0 + 86_400_000, 1.0),
        ])
        .expect("write");
    assert_eq!(
        (s.accepted, s.rejected_too_old, s.rejected_too_far_ahead),
        (3, 1, 1)
    );
    store
}

#[test]
fn exposition_of_a_small_store_has_these_lines() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    let stats = store.stats();
    let text = stats.to_exposition();
    let lines: Vec<&str> = text.lines().collect();
    let has = |block: &str| {
        let want: Vec<&str> = block.lines().collect();
        assert!(
            lines.windows(want.len()).any(|w| w == want.as_slice()),
            "missing\n{block}\nin\n{text}"
        );
    };
    has("# HELP tierlog_series Live series in the store's index.
# TYPE tierlog_series gauge
tierlog_series 2");
    has("# TYPE tierlog_metrics gauge\ntierlog_metrics 1");
    has("# TYPE tierlog_samples_written_total counter\ntierlog_samples_written_total 3");
    has("# TYPE tierlog_series_created_total counter\ntierlog_series_created_total 2");
    has(
        r#"# HELP tierlog_samples_rejected_total Samples writes refused since the open, by reason.
# TYPE tierlog_samples_rejected_total counter
tierlog_samples_rejected_total{reason="too_old"} 1
tierlog_samples_rejected_total{reason="too_far_ahead"} 1
tierlog_samples_rejected_total{reason="head_full"} 0
tierlog_samples_rejected_total{reason="conflict"} 0"#,
    );
    has(r#"tierlog_tier_points{tier="raw",state="sealed"} 0
tierlog_tier_points{tier="raw",state="open"} 3"#);
    has(&format!(
        "tierlog_head_bytes {}\n# HELP tierlog_head_limit_bytes The head's cap, Limits::max_head_bytes (0 = none).",
        stats.head_bytes
    ));
    has(&format!("tierlog_store_bytes {}", stats.total_bytes));
    has(&format!(
        "tierlog_tier_newest_timestamp_seconds{{tier=\"raw\"}} {}",
        (T0 + 5_000) / 1000
    ));
    has("# TYPE tierlog_retention_dropped_segments_total counter
tierlog_retention_dropped_segments_total{reason=\"tier_keep\"} 0");
    // Every rollup tier has its sample lines, and each family has help and type once.
    for t in &stats.tiers {
        let line = format!(
            "tierlog_tier_segments{{tier=\"{}\",state=\"sealed\"}} ",
            t.tier
        );
        assert!(text.contains(&line), "{line} in\n{text}");
    }
    assert!(stats.tiers.len() > 1, "the default config has rollup tiers");
    let types = lines.iter().filter(|l| l.starts_with("# TYPE ")).count();
    let helps = lines.iter().filter(|l| l.starts_with("# HELP ")).count();
    assert_eq!(types, helps);
    let mut names: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let n = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), n, "a family twice");
    assert!(text.ends_with('\n'));
}

#[test]
fn exposition_counts_fsyncs_and_maintenance_passes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let config = Config::default()
        .with_clock(clock.clone())
        .with_tiers(vec![])
        .with_maintenance_interval(None);
    let store = Store::open(dir.path(), config).expect("open");
    let before = store.stats();
    assert_eq!(
        (before.fsync.count, before.maintenance.duration.count),
        (0, 0)
    );
    store
        .write(&[
            Sample::new("up", &[], T0, 1.0),
            Sample::new("up", &[], T0 + 1_000, 1.0),
        ])
        .unwrap();
    store.sync().unwrap();
    // Past the 20-minute window's end plus the 5-minute grace: the pass seals it.
    clock.set(T0 + 26 * 60_000);
    let report = store.maintain().unwrap();
    assert_eq!(report.sealed_windows, [T0]);
    let stats = store.stats();
    assert!(stats.fsync.count >= 1, "{:?}", stats.fsync);
    assert_eq!(stats.fsync.count, store.fsync_count());
    assert_eq!(stats.maintenance.duration.count, 1);
    assert_eq!(stats.maintenance.windows_sealed, 1);
    assert_eq!(stats.maintenance.points_sealed, 2);
    assert_eq!(stats.maintenance.bytes_sealed, report.sealed_bytes);
    let text = stats.to_exposition();
    let fsyncs = store.fsync_count();
    for line in [
        "tierlog_maintenance_duration_seconds_count 1".to_owned(),
        "tierlog_maintenance_duration_seconds_bucket{le=\"+Inf\"} 1".to_owned(),
        "tierlog_maintenance_sealed_windows_total 1".to_owned(),
        "tierlog_maintenance_sealed_points_total 2".to_owned(),
        format!(
            "tierlog_maintenance_sealed_bytes_total {}",
            report.sealed_bytes
        ),
        format!("tierlog_fsync_duration_seconds_count {fsyncs}"),
        format!("tierlog_fsync_duration_seconds_bucket{{le=\"+Inf\"}} {fsyncs}"),
        "# TYPE tierlog_fsync_duration_seconds histogram".to_owned(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    assert!(text.contains("tierlog_fsync_duration_seconds_bucket{le=\"0.0001\"} "));
    if let Some((ok, msg)) = promtool_check_metrics(&text) {
        assert!(ok && msg.trim().is_empty(), "promtool: {msg}\n{text}");
    }
}

#[test]
fn promtool_check_metrics_accepts_the_exposition() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    let text = store.stats().to_exposition();
    let Some((ok, msg)) = promtool_check_metrics(&text) else {
        return;
    };
    assert!(ok && msg.trim().is_empty(), "promtool: {msg}\n{text}");
}

#[test]
fn exposition_shows_each_forwarders_watermark_lag_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    store.close().unwrap();
    // A forwarder (another process) delivered every point before T0 + 2 s.
    let fs = tierlog::vfs::Fs::new(Arc::new(tierlog::vfs::StdFs), 0o644);
    fs.create_dir_all(&dir.path().join("forward")).unwrap();
    let c = tierlog::forward::format::Checkpoint {
        watermark: T0 + 2_000,
        sent: 7,
        dropped: 1,
        ..Default::default()
    };
    fs.write_atomic(&dir.path().join("forward/prom.ckpt"), &c.encode())
        .unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 10_000));
    let store = Store::open_read_only(dir.path(), Config::default().with_clock(clock)).unwrap();
    let text = store.stats().to_exposition();
    for line in [
        "tierlog_forwarder_sent_samples_total{forwarder=\"prom\"} 7",
        "tierlog_forwarder_dropped_samples_total{forwarder=\"prom\"} 1",
        "tierlog_forwarder_watermark_timestamp_seconds{forwarder=\"prom\"} 1700000402",
        // The newest raw point is at T0 + 5 s.
        "tierlog_forwarder_lag_seconds{forwarder=\"prom\"} 3",
        "tierlog_forwarder_checkpoint_readable{forwarder=\"prom\"} 1",
        "tierlog_forwarder_late_pending_samples{forwarder=\"prom\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    if let Some((ok, msg)) = promtool_check_metrics(&text) {
        assert!(ok && msg.trim().is_empty(), "promtool: {msg}\n{text}");
    }
}
