//! The injectable clock. Nothing else in the crate reads the wall clock: every decision about
//! data (windows, sealing, rejections) follows this clock. Only the pacing of `Sync::Interval`
//! fsyncs uses the monotonic `Instant`, since a replay moves this clock at the data's pace.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of "now", in milliseconds since the Unix epoch.
///
/// The store reads it to place windows, seal them and apply retention;
/// [`Config::with_clock`](crate::Config::with_clock) sets it. Implement it to drive a store
/// from another time source:
///
/// ```
/// use std::sync::Arc;
/// use tierlog::{Clock, Config};
///
/// /// A clock that always says 2023-11-14T22:13:20Z.
/// #[derive(Debug)]
/// struct Frozen;
///
/// impl Clock for Frozen {
///     fn now_ms(&self) -> i64 {
///         1_700_000_000_000
///     }
/// }
///
/// let config = Config::default().with_clock(Arc::new(Frozen));
/// assert_eq!(config.clock.now_ms(), 1_700_000_000_000);
/// ```
pub trait Clock: Send + Sync + Debug {
    /// Current time in ms since 1970-01-01T00:00:00Z.
    fn now_ms(&self) -> i64;
}

/// The operating system's wall clock (the default).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_millis().min(i64::MAX as u128) as i64,
            Err(_) => 0,
        }
    }
}

/// A clock that moves only when told to: for tests, replays and `--now`.
///
/// Keep an `Arc` of it to move the store's time:
///
/// ```
/// use std::sync::Arc;
/// use tierlog::{Clock, Config, ManualClock};
///
/// let clock = Arc::new(ManualClock::new(1_700_000_000_000));
/// let config = Config::default().with_clock(clock.clone());
/// clock.advance(60_000);
/// assert_eq!(config.clock.now_ms(), 1_700_000_060_000);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// A clock standing at `now_ms`.
    pub fn new(now_ms: i64) -> Self {
        ManualClock {
            now: AtomicI64::new(now_ms),
        }
    }

    /// Sets the time (it may go backwards: the store copes).
    pub fn set(&self, now_ms: i64) {
        self.now.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }

    /// Moves the time to `now_ms` if that is later than the current time.
    pub fn advance_to(&self, now_ms: i64) {
        self.now.fetch_max(now_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(5_000);
        assert_eq!(c.now_ms(), 5_000);
        c.advance(1_000);
        assert_eq!(c.now_ms(), 6_000);
        c.advance_to(2_000);
        assert_eq!(c.now_ms(), 6_000);
        c.set(1_000);
        assert_eq!(c.now_ms(), 1_000);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
    }
}
