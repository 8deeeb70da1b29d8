//! Keeps the harness buildable and honest: a tiny workload through the tierlog adapter (and
//! SQLite, which is cheap), checking that every sample arrives and the queries agree.

use tierlog_compare::engine::Variant;
use tierlog_compare::run::{self, Measured};
use tierlog_compare::source::{Preset, Source};

const TINY: Preset = Preset {
    name: "tiny",
    series: 200,
    interval_ms: 1_000,
    duration_ms: 600_000,
};

fn measure(v: Variant) -> Measured {
    let dir = tempfile::tempdir().expect("temp dir");
    run::run(v, Source::preset(TINY), dir.path(), 1).expect("run")
}

#[test]
fn tierlog_and_sqlite_agree_on_a_tiny_workload() {
    let t = measure(Variant::TierlogEveryWrite);
    assert_eq!(t.samples, 200 * 600);
    assert!(t.bytes > 0 && t.peak_rss_bytes > 0);
    // The whole range of one series: every scrape.
    assert_eq!(t.q_series_points, 600);
    // 10 buckets of 60 s.
    assert_eq!(t.q_buckets, 10);
    assert!(t.q_many_series > 0 && t.q_many_points == t.q_many_series as u64 * 600);

    let s = measure(Variant::SqliteNormal);
    let n = measure(Variant::TierlogNever);
    let rows = [t, s, n];
    let d = tierlog_compare::table::disagreements(&rows);
    assert!(d.is_empty(), "{d:?}");
    let table = tierlog_compare::table::markdown(&rows);
    assert_eq!(table.lines().count(), 2 + 3, "{table}");
}

#[test]
fn prom_file_is_a_workload() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/node.prom");
    let src = Source::prom_file(path.as_ref()).expect("parse node.prom");
    assert!(!src.series().is_empty());
    let (a, b) = src.range();
    assert!(a <= b);
}

#[test]
fn presets_have_the_sizes_the_issue_names() {
    let p = |n| Preset::by_name(n).expect("preset");
    assert_eq!(p("small").series * p("small").scrapes(), 1_000 * 7_200);
    assert_eq!(p("day").scrapes(), 5_760);
    assert_eq!(p("100k").series, 100_000);
    assert_eq!(p("1m").series * p("1m").scrapes(), 1_000_000 * 240);
    assert_eq!(p("1m").quick().scrapes(), 24);
}
