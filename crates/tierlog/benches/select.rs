//! Selector matching over 1 M series (criterion).
//!
//! ```text
//! cargo bench --bench select
//! ```
//!
//! The registry holds a node-exporter-like population: 1000 hosts (`job="node"`,
//! `instance="host-<h>:9100"`, h = 0..999 unpadded) × 1000 series each: `node_cpu_seconds_total`
//! (32 cpus × 8 modes), 8 network metrics × 8 devices, 5 filesystem metrics × 8 mountpoints,
//! 10 disk metrics × 8 devices, and 560 single-series metrics. `Registry::select` is measured
//! directly (the matcher and the postings, without cloning names and labels into results).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tierlog::Selector;
use tierlog::index::Registry;
use tierlog::model::{Labels, MetricMeta, label_hash};

const HOSTS: usize = 1_000;
const MODES: [&str; 8] = [
    "user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice",
];

/// `(metric, labels)` of one host's 1000 series, without `job` and `instance`.
fn host_series() -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let kv = |k: &str, v: String| (k.to_owned(), v);
    for cpu in 0..32 {
        for mode in MODES {
            out.push((
                "node_cpu_seconds_total".to_owned(),
                vec![kv("cpu", cpu.to_string()), kv("mode", mode.to_owned())],
            ));
        }
    }
    for dir in ["receive", "transmit"] {
        for what in ["bytes", "packets", "errs", "drop"] {
            for dev in 0..8 {
                out.push((
                    format!("node_network_{dir}_{what}_total"),
                    vec![kv("device", format!("eth{dev}"))],
                ));
            }
        }
    }
    for what in ["avail", "size", "free", "files", "files_free"] {
        for m in 0..8 {
            out.push((
                format!("node_filesystem_{what}_bytes"),
                vec![
                    kv("device", format!("/dev/sda{m}")),
                    kv("fstype", "ext4".to_owned()),
                    kv("mountpoint", format!("/mnt/{m}")),
                ],
            ));
        }
    }
    for k in 0..10 {
        for dev in 0..8 {
            out.push((
                format!("node_disk_metric_{k}_total"),
                vec![kv("device", format!("sd{}", (b'a' + dev) as char))],
            ));
        }
    }
    for k in 0..560 {
        out.push((format!("node_misc_{k:03}"), Vec::new()));
    }
    assert_eq!(out.len(), 1_000);
    out
}

/// 1000 hosts × [`host_series`], registered host by host (ids follow the host).
fn registry() -> Registry {
    let mut reg = Registry::default();
    let mut metrics = std::collections::HashMap::new();
    let per_host = host_series();
    for h in 0..HOSTS {
        let instance = format!("host-{h}:9100");
        for (name, labels) in &per_host {
            let mid = *metrics
                .entry(name.clone())
                .or_insert_with(|| reg.new_metric(name, MetricMeta::default()).0);
            let mut pairs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            pairs.push(("job", "node"));
            pairs.push(("instance", &instance));
            let hash = label_hash(name, &pairs);
            reg.new_series(mid, Labels::canonical(&pairs), hash);
        }
    }
    reg
}

fn select(c: &mut Criterion) {
    let reg = registry();
    assert_eq!(reg.series_count(), 1_000_000);
    let cases: [(&str, &str, usize); 8] = [
        (
            "metric_two_labels",
            r#"node_cpu_seconds_total{cpu="3",mode="user"}"#,
            1_000,
        ),
        (
            "metric_one_instance",
            r#"node_cpu_seconds_total{instance="host-42:9100"}"#,
            256,
        ),
        ("metric_alone_small", "node_misc_042", 1_000),
        ("metric_alone_large", "node_cpu_seconds_total", 256_000),
        (
            "job_instance_prefix",
            r#"{job="node",instance=~"host-1.*"}"#,
            111_000,
        ),
        (
            "instance_prefix_metric",
            r#"node_network_receive_bytes_total{instance=~"host-1.*"}"#,
            888,
        ),
        (
            "regex_alternation_and_class",
            r#"node_network_receive_bytes_total{device=~"eth0|eth1",instance=~"host-4[0-9]:9100"}"#,
            20,
        ),
        (
            "negative_matcher",
            r#"node_cpu_seconds_total{cpu="0",mode!~"idle|iowait"}"#,
            6_000,
        ),
    ];
    let mut g = c.benchmark_group("select_1m");
    for (name, sel, want) in cases {
        let sel: Selector = sel.parse().expect("selector");
        assert_eq!(reg.select(&sel).len(), want, "{name}");
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| black_box(reg.select(black_box(&sel))))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    targets = select
}
criterion_main!(benches);
