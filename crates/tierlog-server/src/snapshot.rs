//! The store the server reads: a read-only open, which is a snapshot as of that open,
//! replaced by a new open once it is older than the refresh interval.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tierlog::{Config, Store};

/// One read-only open of the store.
struct Current {
    store: Arc<Store>,
    /// When the open (or the last failed attempt to replace it) started.
    checked: Instant,
    /// Wall-clock time of the open.
    opened: SystemTime,
}

/// The store's current snapshot, reopened on demand.
pub(crate) struct Snapshots {
    dir: PathBuf,
    config: Config,
    refresh: Duration,
    current: RwLock<Current>,
    /// Held by the one request that reopens; the others keep using the old snapshot.
    reopening: Mutex<()>,
    /// Reopens that replaced the snapshot.
    pub(crate) refreshes: AtomicU64,
    /// Reopens that failed.
    pub(crate) refresh_failures: AtomicU64,
}

impl Snapshots {
    /// Opens the store in `dir` read-only.
    pub(crate) fn open(dir: PathBuf, config: Config, refresh: Duration) -> tierlog::Result<Self> {
        let checked = Instant::now();
        let store = Store::open_read_only(&dir, config.clone())?;
        Ok(Snapshots {
            dir,
            config,
            refresh,
            current: RwLock::new(Current {
                store: Arc::new(store),
                checked,
                opened: SystemTime::now(),
            }),
            reopening: Mutex::new(()),
            refreshes: AtomicU64::new(0),
            refresh_failures: AtomicU64::new(0),
        })
    }

    /// Opens the store in `dir` for writing: the one store answers every request and is
    /// never reopened.
    pub(crate) fn writer(dir: PathBuf, config: Config) -> tierlog::Result<Self> {
        let store = Store::open(&dir, config.clone())?;
        Ok(Snapshots {
            dir,
            config,
            refresh: Duration::MAX,
            current: RwLock::new(Current {
                store: Arc::new(store),
                checked: Instant::now(),
                opened: SystemTime::now(),
            }),
            reopening: Mutex::new(()),
            refreshes: AtomicU64::new(0),
            refresh_failures: AtomicU64::new(0),
        })
    }

    /// The current store, for closing it at shutdown: `None` while a request still holds it.
    pub(crate) fn into_store(self) -> Option<Store> {
        let current = self.current.into_inner().unwrap_or_else(|e| e.into_inner());
        Arc::try_unwrap(current.store).ok()
    }

    /// The snapshot to answer with. Blocking: when the current one is older than the refresh
    /// interval, the first caller reopens the store (others meanwhile get the old one); a
    /// failed reopen is logged and the old snapshot kept until the next interval.
    pub(crate) fn get(&self) -> Arc<Store> {
        if let Some(s) = self.fresh() {
            return s;
        }
        let Ok(_reopening) = self.reopening.try_lock() else {
            return self.read().store.clone();
        };
        if let Some(s) = self.fresh() {
            return s;
        }
        let checked = Instant::now();
        match Store::open_read_only(&self.dir, self.config.clone()) {
            Ok(store) => {
                self.refreshes.fetch_add(1, Ordering::Relaxed);
                let store = Arc::new(store);
                let mut c = self.current.write().unwrap_or_else(|e| e.into_inner());
                *c = Current {
                    store: store.clone(),
                    checked,
                    opened: SystemTime::now(),
                };
                store
            }
            Err(e) => {
                self.refresh_failures.fetch_add(1, Ordering::Relaxed);
                log::warn!(
                    "reopening {} failed, answering from the snapshot of {:.0} s ago: {e}",
                    self.dir.display(),
                    self.read().checked.elapsed().as_secs_f64()
                );
                let mut c = self.current.write().unwrap_or_else(|e| e.into_inner());
                c.checked = checked;
                c.store.clone()
            }
        }
    }

    /// The read cache every snapshot shares, if any.
    pub(crate) fn read_cache(&self) -> Option<&tierlog::ReadCache> {
        self.config.read_cache.as_ref()
    }

    /// Wall-clock time of the current snapshot's open.
    pub(crate) fn opened(&self) -> SystemTime {
        self.read().opened
    }

    /// The current snapshot when it is not due for a reopen; never blocks on one.
    pub(crate) fn fresh(&self) -> Option<Arc<Store>> {
        let c = self.read();
        (c.checked.elapsed() < self.refresh).then(|| c.store.clone())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }
}
