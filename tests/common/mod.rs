//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use tierlog::{Config, ManualClock, Selector, Store, Sync};

/// 2023-11-14T22:00:00Z, a window boundary for spans up to an hour.
pub const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;

pub fn config(clock: &Arc<ManualClock>) -> Config {
    Config::default()
        .with_clock(clock.clone())
        .with_sync(Sync::EveryWrite)
}

pub fn open(dir: &Path, clock: &Arc<ManualClock>) -> Store {
    Store::open(dir, config(clock)).expect("open store")
}

pub fn sel(s: &str) -> Selector {
    s.parse().expect("selector")
}

/// All points of the series matched by `s`, as (labels as k=v;..., points).
pub fn points(store: &Store, s: &str) -> Vec<(String, Vec<(i64, u64)>)> {
    let r = store.query(&sel(s), 0, i64::MAX).expect("query");
    assert!(
        r.warnings.is_empty(),
        "unexpected warnings: {:?}",
        r.warnings
    );
    r.series
        .into_iter()
        .map(|s| {
            (
                format!("{}{{{}}}", s.metric, s.labels.to_kv_string()),
                s.points
                    .into_iter()
                    .map(|(t, v)| (t, v.to_bits()))
                    .collect(),
            )
        })
        .collect()
}
