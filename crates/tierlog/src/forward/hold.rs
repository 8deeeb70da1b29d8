//! The store's side of remote-write forwarding: reading every series' raw points of a time
//! range for a forwarder, and the forwarders' checkpoints as the writer sees them — raw data
//! not yet forwarded is held back from retention by age (up to the backlog limit, always
//! within the byte budget), and the mark below which accepted samples are late for every
//! forwarder (they go to the forward late log, `forward::late`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::store::{Shared, Store};
use crate::forward::format::Checkpoint;
use crate::model::{Labels, MetricMeta};

pub use crate::layout::{CHECKPOINT_EXT, FORWARD_DIR};

/// The writer's view of the forwarders, live counters.
#[derive(Debug)]
pub(crate) struct ForwardMarks {
    /// The lowest watermark of the checkpoints present (`i64::MIN` when there is none): the
    /// write path logs accepted samples below it in the forward late log and counts them.
    pub(crate) mark: AtomicI64,
    /// Accepted samples older than the mark.
    pub(crate) late: AtomicU64,
    /// Raw points dropped by retention before a forwarder sent them.
    pub(crate) never_forwarded: AtomicU64,
}

impl Default for ForwardMarks {
    fn default() -> Self {
        ForwardMarks {
            mark: AtomicI64::new(i64::MIN),
            late: AtomicU64::new(0),
            never_forwarded: AtomicU64::new(0),
        }
    }
}

/// Every series' raw points in a time range, for a forwarder.
#[derive(Debug, Default)]
pub struct RawSlice {
    /// `(series id, metric, labels)`, ascending by id; `points` has one list per entry.
    pub series: Vec<(u32, String, Labels)>,
    /// Points of each series in time order.
    pub points: Vec<Vec<(i64, f64)>>,
    /// What could not be read.
    pub warnings: Vec<String>,
}

impl Store {
    internal! {
        /// Every live series' raw points with `from <= ts < to`.
        fn raw_slice(&self, from: i64, to: i64) -> RawSlice {
            let sh = &*self.shared;
            let series: Vec<(u32, String, Labels)> = {
                let st = sh.state.read();
                st.registry
                    .live_series_ids()
                    .filter_map(|id| {
                        let (m, l) = st.registry.series(crate::model::SeriesId(id))?;
                        Some((id, m.to_owned(), l.clone()))
                    })
                    .collect()
            };
            let ids: Vec<crate::model::SeriesId> = series
                .iter()
                .map(|(id, _, _)| crate::model::SeriesId(*id))
                .collect();
            let mut warnings = Vec::new();
            let points = sh.raw_points(&ids, from, to, &mut warnings);
            RawSlice {
                series,
                points,
                warnings,
            }
        }
    }

    internal! {
        /// The earliest time at or after `at` that a raw window (sealed, being sealed or open)
        /// covers, or `None` when no window reaches past `at`: a forwarder skips empty time.
        fn next_raw_time(&self, at: i64) -> Option<i64> {
            let sh = &*self.shared;
            let span = sh.config.span_ms();
            let st = sh.state.read();
            st.sealed
                .keys()
                .chain(st.bad.keys())
                .chain(st.sealing.keys())
                .chain(st.open.keys())
                .filter(|&&s| s.saturating_add(span) > at)
                .min()
                .map(|&s| s.max(at))
        }
    }

    internal! {
        /// The raw points of series `id` with `from <= ts < to`, in time order (late samples
        /// folded in); what could not be read is logged.
        fn raw_series(&self, id: u32, from: i64, to: i64) -> Vec<(i64, f64)> {
            let mut warnings = Vec::new();
            let mut points = self.shared.raw_points(&[crate::model::SeriesId(id)], from, to, &mut warnings);
            for w in warnings {
                log::warn!("series {id}, {from}..{to}: {w}");
            }
            points.pop().unwrap_or_default()
        }
    }

    internal! {
        /// The metric and labels of series `id`, when it is registered.
        fn series_labels(&self, id: u32) -> Option<(String, Labels)> {
            let st = self.shared.state.read();
            st.registry
                .series(crate::model::SeriesId(id))
                .map(|(m, l)| (m.to_owned(), l.clone()))
        }
    }

    internal! {
        /// The metadata of metric `name`, when it is registered.
        fn metric_meta(&self, name: &str) -> Option<MetricMeta> {
            let st = self.shared.state.read();
            st.registry.metric_by_name(name).map(|m| m.meta.clone())
        }
    }

    internal! {
        /// Tells the write path (of this process) that every point below `watermark` was
        /// forwarded; samples accepted below it from now on count as late. Used by a forwarder
        /// running inside the writing process; a separate forwarder's checkpoint is read by
        /// maintenance passes instead.
        fn note_forwarded(&self, watermark: i64) {
            self.shared
                .forward
                .mark
                .fetch_max(watermark, Ordering::Relaxed);
        }
    }

    internal! {
        /// Samples accepted since the open whose second a forwarder had already sent (they are
        /// not re-sent).
        fn late_after_forward(&self) -> u64 {
            self.shared.forward.late.load(Ordering::Relaxed)
        }
    }
}

impl Shared {
    /// The lowest watermark of the forwarders' checkpoints in `DIR/forward/`, refreshing
    /// the write path's mark. `None` when there is no checkpoint. A checkpoint that does not
    /// decode is skipped with a warning: it holds nothing back (no unbounded growth for a
    /// damaged file), and the forwarder itself refuses to start from it.
    pub(crate) fn forward_watermark(&self) -> Option<i64> {
        let dir = self.dir.join(FORWARD_DIR);
        if !self.fs.is_dir(&dir) {
            self.forward.mark.store(i64::MIN, Ordering::Relaxed);
            return None;
        }
        let names = match self.fs.list_files(&dir) {
            Ok(n) => n,
            Err(e) => {
                log::warn!("cannot list forwarder checkpoints: {e}");
                return None;
            }
        };
        let mut low: Option<i64> = None;
        for name in names {
            if !name.ends_with(&format!(".{CHECKPOINT_EXT}")) {
                continue;
            }
            let path = dir.join(&name);
            let decoded = self
                .fs
                .read(&path)
                .ok()
                .and_then(|b| Checkpoint::decode(&b).ok());
            match decoded {
                Some(c) => low = Some(low.map_or(c.watermark, |l| l.min(c.watermark))),
                None => log::warn!(
                    "{}: unreadable forwarder checkpoint; it holds no raw data back",
                    path.display()
                ),
            }
        }
        self.forward
            .mark
            .store(low.unwrap_or(i64::MIN), Ordering::Relaxed);
        low
    }
}

/// Points of a raw segment at or after `watermark` (those a forwarder has not sent).
pub(crate) fn unsent_points(seg: &crate::segment::Segment, watermark: i64) -> u64 {
    let mut n = 0u64;
    let mut partial = std::collections::BTreeSet::new();
    for e in &seg.footer().entries {
        if e.min_ts >= watermark {
            n += u64::from(e.points);
        } else if e.max_ts >= watermark {
            partial.insert(e.series);
        }
    }
    for id in partial {
        let mut v = Vec::new();
        // A damaged chunk counts what it decoded before the damage.
        let _ = seg.read_series(id, watermark, i64::MAX, &mut v);
        n += v.len() as u64;
    }
    n
}
