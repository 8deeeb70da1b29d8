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
    for r in [&t, &s, &n] {
        assert!(r.q_series_exact && r.q_many_exact, "{r:?}");
    }
    let mut rows = vec![t, s, n];
    let d = tierlog_compare::table::disagreements(&rows);
    assert!(d.is_empty(), "{d:?}");
    let table = tierlog_compare::table::markdown(&rows);
    assert_eq!(table.lines().count(), 2 + 3, "{table}");

    // An engine that changed a value in its last bits agrees on sums to 1e-9 but is named.
    rows[2].q_many_exact = false;
    let d = tierlog_compare::table::disagreements(&rows);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].contains("tierlog-never did not return the workload's values bit for bit"));
}

#[test]
fn a_value_changed_in_its_last_bit_changes_the_digest() {
    use tierlog_compare::engine::Read;
    let (mut a, mut b) = (Read::default(), Read::default());
    for v in [1.0, 2.5, 84413.747147036] {
        a.add(v);
    }
    for v in [84413.747147, 1.0, 2.5] {
        b.add(v);
    }
    assert!((a.sum - b.sum).abs() <= 1e-9 * a.sum);
    assert_ne!(a.bits, b.bits);
    // Order does not matter.
    let mut c = Read::default();
    for v in [84413.747147036, 2.5, 1.0] {
        c.add(v);
    }
    assert_eq!(a, c);
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

/// VictoriaMetrics (when installed): every sample of the tiny workload comes back from
/// `/api/v1/export` exactly as written (series, timestamp and value), the registration sample of
/// the 1.79 workaround included once; the settled store has bytes; the harness's queries agree
/// with tierlog's.
#[test]
fn victoria_metrics_keeps_every_sample_of_a_tiny_workload() {
    use std::collections::BTreeMap;
    use tierlog_compare::engine::Adapter;
    use tierlog_compare::engines::victoria::{self, Victoria};

    if victoria::binary().is_none() {
        eprintln!("victoria-metrics is not installed (apt-get install victoria-metrics); skipping");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut src = Source::preset(TINY);
    let series = std::sync::Arc::new(src.series().to_vec());
    let (from, to) = src.range();
    let mut vm = Victoria::open(dir.path(), series.clone()).expect("start victoria-metrics");
    let mut want: BTreeMap<(u32, i64), f64> = BTreeMap::new();
    let mut block = Vec::new();
    while src.next_block(&mut block) {
        vm.write(&block).expect("import");
        want.extend(block.iter().map(|&(i, ts, v)| ((i, ts), v)));
    }
    assert_eq!(want.len(), 200 * 600);
    let bytes = vm
        .settle()
        .expect("settle")
        .expect("measured while running");
    assert!(bytes > 0);

    let by_name: BTreeMap<BTreeMap<String, String>, u32> = series
        .iter()
        .enumerate()
        .map(|(i, (m, l))| {
            let mut k: BTreeMap<String, String> = l.iter().cloned().collect();
            k.insert("__name__".into(), m.clone());
            (k, i as u32)
        })
        .collect();
    let mut got: BTreeMap<(u32, i64), f64> = BTreeMap::new();
    let mut n = 0;
    for (labels, pts) in vm.export("{__name__!=\"\"}", from, to + 1).expect("export") {
        let i = *by_name
            .get(&labels)
            .unwrap_or_else(|| panic!("unknown series {labels:?}"));
        for (ts, v) in pts {
            n += 1;
            got.insert((i, ts), v);
        }
    }
    assert_eq!(n, want.len(), "exported samples (duplicates included)");
    assert!(got == want, "exported samples differ from the input");
    Box::new(vm).close().expect("stop");

    let v = measure(Variant::VictoriaMetrics);
    assert_eq!(v.samples, 200 * 600);
    assert!(v.bytes > 0);
    assert!(v.q_series_exact && v.q_many_exact, "{v:?}");
    let t = measure(Variant::TierlogNever);
    let d = tierlog_compare::table::disagreements(&[t, v]);
    assert!(d.is_empty(), "{d:?}");
}
