//! Index compaction: once retention has removed enough series, `index.log` is rewritten
//! without them. Live series keep their ids, labels, data and metric metadata; removed ones
//! stay gone; no id is ever handed out twice (also after a reopen); writers running during the
//! compaction lose nothing; a crash at any point leaves a complete index.

use tierlog_testkit::helpers as common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{T0, fast_tempdir, sel};
use tierlog::layout::INDEX_FILE;
use tierlog::{Config, ManualClock, MetricKind, MetricMeta, Sample, Store, Sync};

const HOUR: i64 = 3_600_000;
/// The fewest dead index records that make a compaction due.
const FLOOR: u64 = tierlog::store::COMPACT_MIN_DEAD_RECORDS;
/// When the churned series' window (T0) has expired: raw is kept an hour.
const LATER: i64 = T0 + 3 * HOUR;

/// Raw kept an hour, no tiers: a window drops (and its series with it) an hour after it ends.
fn config(clock: &Arc<ManualClock>) -> Config {
    Config {
        raw_keep: Some(Duration::from_secs(3600)),
        tiers: Some(Vec::new()),
        ..common::config(clock)
    }
    .with_sync(Sync::Never)
}

fn index_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(INDEX_FILE)).unwrap().len()
}

fn meta(unit: &str) -> MetricMeta {
    MetricMeta {
        kind: MetricKind::Gauge,
        unit: unit.into(),
        description: format!("described in {unit}"),
    }
}

/// Defines `live` series of `keep` (samples at T0 and at LATER), then `churn` series of
/// `churn` (one sample at T0 each; created last, so the highest id is a removed one), with
/// metadata on both metrics. Returns the highest series id handed out.
fn build(store: &Store, clock: &ManualClock, live: usize, churn: usize) -> u32 {
    clock.set(T0);
    store.set_metric_meta("keep", meta("bytes")).unwrap();
    store.set_metric_meta("churn", meta("seconds")).unwrap();
    let names: Vec<String> = (0..live.max(churn)).map(|i| format!("{i:06}")).collect();
    let keep: Vec<(&str, &str)> = names[..live].iter().map(|n| ("id", n.as_str())).collect();
    let chn: Vec<(&str, &str)> = names[..churn]
        .iter()
        .map(|n| ("container", n.as_str()))
        .collect();
    let batch: Vec<Sample> = keep
        .iter()
        .map(|l| Sample::new("keep", std::slice::from_ref(l), T0, 1.0))
        .collect();
    store.write(&batch).unwrap();
    for part in chn.chunks(5000) {
        let batch: Vec<Sample> = part
            .iter()
            .map(|l| Sample::new("churn", std::slice::from_ref(l), T0, 2.0))
            .collect();
        store.write(&batch).unwrap();
    }
    clock.set(LATER);
    let batch: Vec<Sample> = keep
        .iter()
        .map(|l| Sample::new("keep", std::slice::from_ref(l), LATER, 3.0))
        .collect();
    store.write(&batch).unwrap();
    let all = store.series(&sel("{__name__=~\".+\"}"));
    assert_eq!(all.len(), live + churn);
    all.iter().map(|s| s.id.0).max().unwrap()
}

/// The ids of the `keep` series by their `id` label.
fn keep_ids(store: &Store) -> BTreeMap<String, u32> {
    store
        .series(&sel("keep"))
        .into_iter()
        .map(|s| (s.labels.get("id").to_owned(), s.id.0))
        .collect()
}

fn check_metadata(store: &Store) {
    let m: BTreeMap<String, MetricMeta> = store
        .metrics()
        .into_iter()
        .map(|m| (m.name, m.meta))
        .collect();
    assert_eq!(m.get("keep"), Some(&meta("bytes")));
    assert_eq!(m.get("churn"), Some(&meta("seconds")));
}

#[test]
fn expired_series_leave_a_smaller_index_and_ids_are_never_reused() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    let highest = build(&store, &clock, 100, 3000);
    let ids_before = keep_ids(&store);
    let before = index_len(dir.path());

    let r = store.maintain().unwrap().retention;
    assert_eq!(r.series_removed, 3000, "{r:?}");
    let c = r.index_compacted.expect("index compacted");
    assert_eq!(c.bytes_after, index_len(dir.path()));
    assert!(
        c.bytes_after * 10 < before,
        "{c:?}, {before} bytes before (removal records included: {})",
        c.bytes_before
    );
    // 2 metrics + 100 live series + 1 removal record keeping the highest id taken.
    assert_eq!(c.records_after, 103, "{c:?}");
    assert_eq!(c.records_before, 2 + 3100 + 3000, "{c:?}");
    assert_eq!(store.stats().retention.index_compactions, 1);

    let check = |store: &Store| {
        assert_eq!(keep_ids(store), ids_before);
        assert!(store.series(&sel("churn")).is_empty());
        assert!(
            store
                .series(&sel(r#"churn{container="000007"}"#))
                .is_empty()
        );
        let q = store.query(&sel("keep"), 0, i64::MAX).unwrap();
        assert_eq!(q.series.len(), 100);
        assert!(q.series.iter().all(|s| s.points == vec![(LATER, 3.0)]));
        check_metadata(store);
    };
    check(&store);
    // Nothing more to do on the next pass.
    assert_eq!(store.maintain().unwrap().retention.index_compacted, None);

    // A new series (also with the labels of a removed one) gets an id above every old one.
    let fresh = store
        .series_handle("churn", &[("container", "000007")])
        .unwrap();
    assert_eq!(fresh.0, highest + 1);
    drop(store);

    let store = Store::open(dir.path(), config(&clock)).unwrap();
    assert!(store.recovery_findings().is_empty());
    assert_eq!(keep_ids(&store), ids_before);
    assert_eq!(store.series(&sel("churn")).len(), 1);
    let again = store.series_handle("new", &[]).unwrap();
    assert_eq!(again.0, highest + 2);
    store.close().unwrap();

    let store = Store::open_read_only(dir.path(), config(&clock)).unwrap();
    assert_eq!(keep_ids(&store), ids_before);
    check_metadata(&store);
}

#[test]
fn the_highest_id_stays_taken_when_no_series_was_created_after_compaction() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    let highest = build(&store, &clock, 10, 1100);
    let c = store.maintain().unwrap().retention.index_compacted;
    assert!(c.is_some());
    drop(store);
    // Nothing but the compacted index (no log, no segment) names the highest id any more.
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    let s = store.series_handle("x", &[]).unwrap();
    assert_eq!(s.0, highest + 1);
}

#[test]
fn below_the_floor_or_the_live_count_nothing_is_compacted() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    // 2 × 400 dead records: under the floor.
    const { assert!(800 < FLOOR) };
    build(&store, &clock, 10, 400);
    let before = index_len(dir.path());
    let r = store.maintain().unwrap().retention;
    assert_eq!(r.series_removed, 400);
    assert_eq!(r.index_compacted, None);
    assert!(index_len(dir.path()) > before, "removal records appended");
    drop(store);

    let dir = fast_tempdir();
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    // 2 × 600 dead records, but 1500 live series.
    build(&store, &clock, 1500, 600);
    let r = store.maintain().unwrap().retention;
    assert_eq!(r.series_removed, 600);
    assert_eq!(r.index_compacted, None);
}

#[test]
fn dead_records_found_at_open_count_towards_the_next_compaction() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    // Two rounds of 450 churned series: neither pass alone reaches the floor (2 × 450 dead
    // records), together they do.
    const {
        assert!(
            900 < tierlog::store::COMPACT_MIN_DEAD_RECORDS
                && tierlog::store::COMPACT_MIN_DEAD_RECORDS <= 1818
        )
    };
    build(&store, &clock, 10, 450);
    assert_eq!(store.maintain().unwrap().retention.index_compacted, None);
    drop(store);
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    let pods: Vec<String> = (0..450).map(|i| format!("b{i}")).collect();
    let names: Vec<[(&str, &str); 1]> = pods.iter().map(|p| [("pod", p.as_str())]).collect();
    let batch: Vec<Sample> = names
        .iter()
        .map(|l| Sample::new("churn2", l, LATER, 1.0))
        .collect();
    store.write(&batch).unwrap();
    let later = LATER + 3 * HOUR;
    clock.set(later);
    store
        .write(&[Sample::new("keep", &[("id", "000000")], later, 1.0)])
        .unwrap();
    let r = store.maintain().unwrap().retention;
    assert_eq!(r.series_removed, 450 + 9, "{r:?}");
    let c = r.index_compacted.expect("compacted");
    // 3 metrics, 1 live series, the removal record of the highest id.
    assert_eq!(c.records_after, 5, "{c:?}");
}

/// The real filesystem, except that the first fsync of the compacted `index.log.tmp` (done
/// without the write lock) waits until the writer thread has acknowledged a few more writes: the
/// compaction then always overlaps writes it must carry over, however the threads are
/// scheduled on a loaded machine.
#[derive(Debug)]
struct OverlapFs {
    acked: Arc<AtomicU64>,
}

#[derive(Debug)]
struct OverlapFile {
    inner: Box<dyn tierlog::vfs::VfsFile>,
    acked: Arc<AtomicU64>,
    synced: AtomicBool,
}

impl tierlog::vfs::Vfs for OverlapFs {
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        tierlog::vfs::StdFs.create_dir_all(dir)
    }
    fn create(
        &self,
        path: &Path,
        how: tierlog::vfs::Create,
        mode: u32,
    ) -> std::io::Result<Box<dyn tierlog::vfs::VfsFile>> {
        let inner = tierlog::vfs::StdFs.create(path, how, mode)?;
        if path.file_name().is_some_and(|n| n == "index.log.tmp") {
            return Ok(Box::new(OverlapFile {
                inner,
                acked: self.acked.clone(),
                synced: AtomicBool::new(false),
            }));
        }
        Ok(inner)
    }
    fn open(&self, path: &Path, write: bool) -> std::io::Result<Box<dyn tierlog::vfs::VfsFile>> {
        tierlog::vfs::StdFs.open(path, write)
    }
    fn map(&self, path: &Path) -> std::io::Result<tierlog::vfs::Mapped> {
        tierlog::vfs::StdFs.map(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        tierlog::vfs::StdFs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        tierlog::vfs::StdFs.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        tierlog::vfs::StdFs.sync_dir(dir)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<tierlog::vfs::DirEntry>> {
        tierlog::vfs::StdFs.list(dir)
    }
    fn metadata(&self, path: &Path) -> std::io::Result<tierlog::vfs::Metadata> {
        tierlog::vfs::StdFs.metadata(path)
    }
    fn lock(&self, path: &Path, mode: u32) -> std::io::Result<Box<dyn tierlog::vfs::VfsFile>> {
        tierlog::vfs::StdFs.lock(path, mode)
    }
}

impl tierlog::vfs::VfsFile for OverlapFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<usize> {
        self.inner.write_at(buf, offset)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync(&self) -> std::io::Result<()> {
        // Only the first fsync: the second one comes under the write lock, after the tail
        // copy, when no writer can make progress.
        if self.synced.swap(true, Ordering::SeqCst) {
            return self.inner.sync();
        }
        let start = self.acked.load(Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.acked.load(Ordering::SeqCst) < start + 5 {
            assert!(Instant::now() < deadline, "the writer made no progress");
            std::thread::sleep(Duration::from_millis(1));
        }
        self.inner.sync()
    }
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }
}

#[test]
fn writers_during_a_compaction_lose_nothing() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let mut carried = 0;
    let mut rounds = 0;
    let acked_count = Arc::new(AtomicU64::new(0));
    let vfs = Arc::new(OverlapFs {
        acked: acked_count.clone(),
    });
    // Until a compaction has carried over records appended while it ran (the race under
    // test; the file system above makes the first round overlap); each round adds its own
    // churn.
    while carried == 0 {
        rounds += 1;
        assert!(
            rounds <= 3,
            "no compaction carried over a write in 3 rounds"
        );
        let round_dir = dir.path().join(format!("r{rounds}"));
        let store =
            Arc::new(Store::open(&round_dir, config(&clock).with_vfs(vfs.clone())).unwrap());
        let highest = build(&store, &clock, 2000, 20_000);
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let acked_count = acked_count.clone();
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) || i < 10 {
                    let name = format!("w{i:06}");
                    let v = f64::from(i);
                    let ts = LATER + i64::from(i % 600) * 1000;
                    let r = store
                        .write(&[Sample::new("written", &[("n", &name)], ts, v)])
                        .unwrap();
                    assert_eq!((r.accepted, r.new_series), (1, 1));
                    acked.push((name, v));
                    acked_count.fetch_add(1, Ordering::SeqCst);
                    i += 1;
                }
                acked
            })
        };
        let r = store.maintain().unwrap().retention;
        stop.store(true, Ordering::Relaxed);
        let acked: Vec<(String, f64)> = writer.join().unwrap();
        assert_eq!(r.series_removed, 20_000);
        let c = r.index_compacted.expect("compacted");
        carried = c.records_carried;
        drop(store);
        if carried == 0 {
            std::fs::remove_dir_all(&round_dir).unwrap();
            continue;
        }
        println!("round {rounds}: {c:?}, {} writes", acked.len());
        // Every acknowledged series and sample is there after a reopen.
        let store = Store::open(&round_dir, config(&clock)).unwrap();
        let got: BTreeMap<String, Vec<(i64, f64)>> = store
            .query(&sel("written"), 0, i64::MAX)
            .unwrap()
            .series
            .into_iter()
            .map(|s| (s.labels.get("n").to_owned(), s.points))
            .collect();
        assert_eq!(got.len(), acked.len());
        for (i, (name, v)) in acked.iter().enumerate() {
            let ts = LATER + (i as i64 % 600) * 1000;
            assert_eq!(got.get(name), Some(&vec![(ts, *v)]), "{name}");
        }
        let written = store.series(&sel("written"));
        assert!(written.iter().all(|s| s.id.0 > highest));
        let mut ids: Vec<u32> = written.iter().map(|s| s.id.0).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), acked.len());
        assert_eq!(keep_ids(&store).len(), 2000);
        assert!(store.series(&sel("churn")).is_empty());
        check_metadata(&store);
    }
}

#[test]
fn a_compacted_index_left_under_its_temporary_name_is_removed_at_open() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    build(&store, &clock, 100, 2000);
    let r = store.maintain().unwrap().retention;
    assert!(r.index_compacted.is_some());
    drop(store);
    // A crash before the rename of a later compaction leaves the old index and part of the
    // new one.
    let index = std::fs::read(dir.path().join(INDEX_FILE)).unwrap();
    std::fs::write(dir.path().join("index.log.tmp"), &index[..index.len() / 2]).unwrap();
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    assert!(!dir.path().join("index.log.tmp").exists());
    assert_eq!(std::fs::read(dir.path().join(INDEX_FILE)).unwrap(), index);
    assert_eq!(keep_ids(&store).len(), 100);
    assert!(store.series(&sel("churn")).is_empty());
    check_metadata(&store);
}

#[test]
fn an_index_with_lost_metric_definitions_is_not_compacted() {
    let dir = fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(dir.path(), config(&clock)).unwrap();
    store.set_metric_meta("lost", meta("lost")).unwrap();
    build(&store, &clock, 10, 1200);
    drop(store);
    // Damage the first record (the definition of metric 0): a salvage keeps the rest, with a
    // nameless placeholder holding id 0.
    let path = dir.path().join(INDEX_FILE);
    let mut b = std::fs::read(&path).unwrap();
    b[common::FILE_HEADER_LEN + common::FRAME_HEADER_LEN + 6] ^= 0xff;
    std::fs::write(&path, &b).unwrap();
    let salvage = Config {
        salvage: true,
        ..config(&clock)
    };
    let store = Store::open(dir.path(), salvage).unwrap();
    assert!(!store.recovery_findings().is_empty());
    let before = index_len(dir.path());
    let r = store.maintain().unwrap().retention;
    assert_eq!(r.series_removed, 1200, "{r:?}");
    assert_eq!(r.index_compacted, None);
    assert!(index_len(dir.path()) > before);
    assert_eq!(keep_ids(&store).len(), 10);
}
