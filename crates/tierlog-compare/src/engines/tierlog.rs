//! tierlog through its public API: `Store::open`, `write` (by name, the first time a series
//! is seen) then `series_handle` + `write_series`, `query`, `query_step`, `close`.
//!
//! A `ManualClock` follows the data (set to each block's oldest sample before the block is
//! written), so windows roll and seal inline exactly as they would in production, only faster.
//! Raw points are kept for the whole workload (so every engine holds the same raw data); the
//! default rollup tiers (`10s`, `60s`) are built by `maintain()` at close, as the maintenance
//! thread would, and their bytes count in the store's size.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tierlog::{
    Config, ManualClock, MatchOp, Matcher, Sample, Selector, SeriesId, Store, Sync, Tier,
};

use crate::engine::{Adapter, BATCH, Bucket, ManyQuery, Read, Result, TierBytes, Variant, split};
use crate::source::{Point, SeriesKey};

pub struct Tierlog {
    store: Store,
    clock: Arc<ManualClock>,
    series: Arc<Vec<SeriesKey>>,
    writers: usize,
    /// Per writer, the handles of its series (`i % writers == w`, at `i / writers`).
    handles: Vec<Vec<Option<SeriesId>>>,
    end: i64,
    span: Duration,
    grace: Duration,
}

fn err(e: tierlog::Error) -> String {
    format!("tierlog: {e}")
}

/// Escapes regex metacharacters.
fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

impl Tierlog {
    pub fn open(
        variant: Variant,
        dir: &Path,
        series: Arc<Vec<SeriesKey>>,
        start: i64,
        end: i64,
        reopen: bool,
    ) -> Result<Tierlog> {
        let sync = match variant {
            Variant::TierlogEveryWrite => Sync::EveryWrite,
            Variant::TierlogNever => Sync::Never,
            _ => Sync::Interval(Duration::from_secs(1)),
        };
        // Keep every raw point of the workload, whole hours, at least the default 2 h.
        let hours = ((end - start).max(0) as u64 / 3_600_000) + 2;
        let keep = Duration::from_secs(hours * 3600);
        // The default tiers (`10s` kept 24 h, `60s` kept 90 days); a tier must outlive the
        // raw points, so a long workload stretches the `10s` tier's keep past them.
        let tiers = vec![
            Tier::new(
                "10s",
                Duration::from_secs(10),
                keep.max(Duration::from_secs(86_400)) + Duration::from_secs(3600),
            ),
            Tier::new(
                "60s",
                Duration::from_secs(60),
                Duration::from_secs(90 * 86_400),
            ),
        ];
        let config = Config::default();
        let (span, grace) = (config.window_span, config.grace);
        // A reopened store sees the clock where close() left it.
        let now = if reopen {
            past(end, span, grace)
        } else {
            start
        };
        let clock = Arc::new(ManualClock::new(now));
        let config = config
            .with_clock(clock.clone())
            .with_sync(sync)
            .with_raw_keep(keep)
            .with_tiers(tiers)
            .with_maintenance_interval(None);
        let store = Store::open(dir, config).map_err(err)?;
        let writers = variant.writers();
        let handles = (0..writers)
            .map(|w| vec![None; series.len().saturating_sub(w).div_ceil(writers)])
            .collect();
        Ok(Tierlog {
            store,
            clock,
            series,
            writers,
            handles,
            end,
            span,
            grace,
        })
    }

    fn series_selector(&self, i: u32) -> Result<Selector> {
        let (metric, labels) = &self.series[i as usize];
        let mut sel = Selector::metric(metric);
        for (k, v) in labels {
            sel = sel.with(Matcher::new(k, MatchOp::Eq, v).map_err(|e| e.to_string())?);
        }
        Ok(sel)
    }
}

/// A time past the last window's end and grace (plus a minute).
fn past(end: i64, span: Duration, grace: Duration) -> i64 {
    end + (span + grace).as_millis() as i64 + 60_000
}

/// One writer's share of a block.
fn write_part(
    store: &Store,
    series: &[SeriesKey],
    writers: usize,
    handles: &mut [Option<SeriesId>],
    part: &[Point],
) -> Result<()> {
    let mut known = Vec::with_capacity(BATCH);
    let mut named: Vec<Point> = Vec::new();
    for batch in part.chunks(BATCH) {
        known.clear();
        named.clear();
        for &(i, ts, v) in batch {
            match handles[i as usize / writers] {
                Some(id) => known.push((id, ts, v)),
                None => named.push((i, ts, v)),
            }
        }
        if !named.is_empty() {
            let labels: Vec<Vec<(&str, &str)>> = named
                .iter()
                .map(|&(i, _, _)| {
                    series[i as usize]
                        .1
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect()
                })
                .collect();
            let samples: Vec<Sample<'_>> = named
                .iter()
                .zip(&labels)
                .map(|(&(i, ts, v), l)| Sample::new(&series[i as usize].0, l, ts, v))
                .collect();
            check(store.write(&samples).map_err(err)?.rejected())?;
            for (&(i, _, _), l) in named.iter().zip(&labels) {
                let slot = &mut handles[i as usize / writers];
                if slot.is_none() {
                    *slot = Some(store.series_handle(&series[i as usize].0, l).map_err(err)?);
                }
            }
        }
        if !known.is_empty() {
            check(store.write_series(&known).map_err(err)?.rejected())?;
        }
    }
    Ok(())
}

fn check(rejected: u64) -> Result<()> {
    if rejected > 0 {
        return Err(format!("tierlog rejected {rejected} samples"));
    }
    Ok(())
}

impl Adapter for Tierlog {
    fn write(&mut self, block: &[Point]) -> Result<()> {
        let Some(oldest) = block.iter().map(|p| p.1).min() else {
            return Ok(());
        };
        self.clock.advance_to(oldest);
        let parts = split(block, self.writers);
        let (store, series, writers) = (&self.store, &self.series[..], self.writers);
        std::thread::scope(|s| {
            let hs: Vec<_> = parts
                .iter()
                .zip(self.handles.iter_mut())
                .map(|(part, h)| s.spawn(move || write_part(store, series, writers, h, part)))
                .collect();
            hs.into_iter()
                .try_for_each(|h| h.join().expect("writer panicked"))
        })
    }

    fn query_series(&mut self, series: u32, from: i64, to: i64) -> Result<Read> {
        let sel = self.series_selector(series)?;
        let mut r = Read::default();
        for s in self.store.query(&sel, from, to).map_err(err)?.series {
            s.points.iter().for_each(|p| r.add(p.1));
        }
        Ok(r)
    }

    fn query_many(&mut self, q: &ManyQuery, from: i64, to: i64) -> Result<Read> {
        let alt: Vec<String> = q.values.iter().map(|v| escape(v)).collect();
        let m = Matcher::new(&q.label, MatchOp::Re, &alt.join("|")).map_err(|e| e.to_string())?;
        let sel = Selector::metric(&q.metric).with(m);
        let mut r = Read::default();
        for s in self.store.query(&sel, from, to).map_err(err)?.series {
            s.points.iter().for_each(|p| r.add(p.1));
        }
        Ok(r)
    }

    fn query_buckets(&mut self, series: u32, from: i64, to: i64, step: i64) -> Result<Vec<Bucket>> {
        let sel = self.series_selector(series)?;
        let step = Duration::from_millis(step as u64);
        let res = self.store.query_step(&sel, from, to, step).map_err(err)?;
        Ok(res
            .series
            .iter()
            .flat_map(|s| &s.points)
            .map(|b| Bucket {
                start: b.t,
                count: b.count,
                min: b.min,
                max: b.max,
                avg: b.avg,
                p95: b.p95.unwrap_or(f64::NAN),
            })
            .collect())
    }

    fn raw_bytes(&self) -> Option<u64> {
        let st = self.store.stats();
        st.tiers.iter().find(|t| t.tier == "raw").map(|t| t.bytes)
    }

    fn tiers(&self) -> Vec<TierBytes> {
        let mut tiers: Vec<TierBytes> = self
            .store
            .stats()
            .tiers
            .iter()
            .map(|t| TierBytes {
                tier: t.tier.clone(),
                bytes: t.bytes,
                points: t.points,
            })
            .collect();
        tiers.sort_by_key(|t| t.tier != "raw");
        tiers
    }

    fn close(self: Box<Self>) -> Result<()> {
        // Move the clock past the last window's end and grace: maintain() seals every window
        // and builds the rollup tiers, as the maintenance thread would have.
        self.clock.advance_to(past(self.end, self.span, self.grace));
        self.store.maintain().map_err(err)?;
        self.store.close().map_err(err)
    }
}
