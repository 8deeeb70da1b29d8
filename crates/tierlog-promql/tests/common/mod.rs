//! The small stores the evaluator's tests query.

use std::sync::Arc;

use tierlog::{Config, ManualClock, Sample, Store};

/// A store in a temporary directory (removed with it).
pub struct Db {
    _dir: tempfile::TempDir,
    pub store: Store,
}

/// A store whose clock stands at `now`, holding `samples` (one write).
pub fn db_at(now: i64, samples: &[Sample<'_>]) -> Db {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let store = Store::open(dir.path(), Config::default().with_clock(clock)).unwrap();
    store.write(samples).unwrap();
    Db { _dir: dir, store }
}
