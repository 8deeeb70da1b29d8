//! The forwarder against a real Prometheus (the Debian package's `/usr/bin/prometheus`,
//! started with `--web.enable-remote-write-receiver`): what it stores must be exactly the
//! store's raw points — series, labels, timestamps, values. Skipped, with a message, only
//! when the binary is absent (`.ci/run` installs it). `TIERLOG_PROMETHEUS=PATH` names
//! another binary.

use crate::forward_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use forward_support::{Prometheus, sorted_key, store_points};
use tierlog::{Config, ManualClock, MetricKind, MetricMeta, Sample, Store};
use tierlog_forward::{ForwardConfig, Forwarder};

fn real_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Writes the data set: a dense gauge (fractions), a sparse one written in reverse order
/// with two samples in some seconds (their mean is the point), a counter with metadata and
/// an upper-case label name (sorts before `__name__`).
fn write_data(store: &Store, base: i64) {
    let mut batch = Vec::new();
    for i in 0..300 {
        batch.push(Sample::new(
            "tl_fwd_gauge",
            &[("host", "a"), ("mode", "user")],
            base + i * 1000,
            i as f64 * 0.25 + 0.1,
        ));
    }
    store.write(&batch).unwrap();
    for i in (0..43).rev() {
        let t = base + i * 7000 + 123;
        store
            .write(&[
                Sample::new("tl_fwd_gauge", &[("host", "b")], t, -(i as f64) / 3.0),
                Sample::new("tl_fwd_gauge", &[("host", "b")], t + 500, i as f64 * 1e6),
            ])
            .unwrap();
    }
    store
        .set_metric_meta(
            "tl_fwd_counter_total",
            MetricMeta {
                kind: MetricKind::Counter,
                unit: "bytes".into(),
                description: "bytes moved".into(),
            },
        )
        .unwrap();
    for i in 0..20 {
        store
            .write(&[Sample::new(
                "tl_fwd_counter_total",
                &[("Zone", "z1"), ("host", "a")],
                base + i * 15_000,
                (i * i * 1000) as f64,
            )])
            .unwrap();
    }
}

/// `(labels as name=value,... sorted, ts ms) -> value bits` of a Prometheus matrix.
fn matrix(data: &serde_json::Value) -> BTreeMap<(String, i64), u64> {
    assert_eq!(data["resultType"], "matrix", "{data}");
    let mut out = BTreeMap::new();
    for s in data["result"].as_array().unwrap() {
        let key = sorted_key(
            s["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect(),
        );
        for p in s["values"].as_array().unwrap() {
            let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
            let v: f64 = p[1].as_str().unwrap().parse().unwrap();
            assert!(out.insert((key.clone(), t), v.to_bits()).is_none());
        }
    }
    out
}

#[test]
fn prometheus_stores_exactly_the_forwarded_points() {
    let Some(prom) = Prometheus::start() else {
        return;
    };
    let now = real_now_ms();
    // 20 minutes ago, on a minute: within what Prometheus' head accepts.
    let base = (now - 20 * 60_000).div_euclid(60_000) * 60_000;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(base + 301_000));
    let config = Config {
        window_span: Duration::from_secs(600),
        maintenance_interval: None,
        ..Config::default()
    }
    .with_clock(clock);
    let store = Store::open(dir.path(), config).unwrap();
    write_data(&store, base);
    let expected = store_points(&store);
    assert_eq!(expected.len(), 300 + 43 + 20);

    // As `tierlog forward` does: a separate reader beside the writer, which keeps its lock.
    let mut f = Forwarder::open(dir.path(), ForwardConfig::new(prom.write_url())).unwrap();
    f.run_dir(dir.path(), &AtomicBool::new(false), true)
        .unwrap();
    let stats = f.stats().clone();
    assert_eq!(stats.samples_sent, expected.len() as u64, "{stats:?}");
    assert!(stats.failures.is_empty(), "{stats:?}");
    // A second pass has nothing more to send.
    f.run_dir(dir.path(), &AtomicBool::new(false), true)
        .unwrap();
    assert_eq!(f.stats().samples_sent, stats.samples_sent);

    // Raw samples: an instant query of a range vector returns them unchanged.
    let at = format!("{:.3}", real_now_ms() as f64 / 1000.0);
    let mut got = BTreeMap::new();
    for m in ["tl_fwd_gauge", "tl_fwd_counter_total"] {
        let data = prom.api(
            "/api/v1/query",
            &[("query", &format!("{m}[1h]")), ("time", &at)],
        );
        got.extend(matrix(&data));
    }
    assert_eq!(
        got, expected,
        "Prometheus' raw samples differ from the store's"
    );

    // query_range at 1 s steps: each step's value is the newest point at or before it.
    let (start, end) = (base / 1000, base / 1000 + 299);
    let mut ranged = BTreeMap::new();
    for m in ["tl_fwd_gauge", "tl_fwd_counter_total"] {
        let data = prom.api(
            "/api/v1/query_range",
            &[
                ("query", m),
                ("start", &start.to_string()),
                ("end", &end.to_string()),
                ("step", "1"),
            ],
        );
        ranged.extend(matrix(&data));
    }
    let mut by_series: BTreeMap<&str, Vec<(i64, u64)>> = BTreeMap::new();
    for ((k, t), v) in &expected {
        by_series.entry(k).or_default().push((*t, *v));
    }
    let mut want = BTreeMap::new();
    for (k, pts) in &by_series {
        for step in start..=end {
            let t = step * 1000;
            if let Some(&(_, v)) = pts.iter().rev().find(|(pt, _)| *pt <= t) {
                want.insert((k.to_string(), t), v);
            }
        }
    }
    assert_eq!(ranged.len(), want.len());
    assert_eq!(
        ranged, want,
        "query_range answers differ from the store's points"
    );
}
