//! Hostile input and limits: memory stays bounded whatever the input (a 1 GiB line, a million
//! distinct series, a huge batch, the head filling up, thousands of labels); every refusal is
//! a typed error or a counted rejection; the store stays usable afterwards; no metric or label
//! text ever reaches a file path; the writer lock holds against another process.

use tierlog_testkit::helpers as common;

use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{T0, sel};
use tierlog::layout::{INDEX_FILE, LOCK_FILE, RAW_DIR, STATE_FILE};
use tierlog::{Config, Error, Limits, ManualClock, MetricMeta, Sample, SampleError, Store};
use tierlog_tools::import::ingest::{IngestError, IngestOptions, ingest};
use tierlog_tools::import::{InputFormat, ParseError, Precision};

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(T0 + 10_000))
}

fn config_with(clock: &Arc<ManualClock>, limits: Limits) -> Config {
    Config {
        limits,
        ..common::config(clock)
    }
}

fn opts(batch: usize) -> IngestOptions {
    IngestOptions {
        batch,
        replay: None,
        spill_dir: std::env::temp_dir(),
        sort_memory: 1 << 20,
        default_ts: T0 + 10_000,
        latest: None,
        max_line_bytes: tierlog_tools::import::DEFAULT_MAX_LINE_BYTES,
    }
}

/// Peak resident memory of this process so far (Linux `VmHWM`), KiB.
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `prefix`, then `len` bytes of `fill` and no line end, made as it is read: the input is
/// never in memory. Counts the bytes handed out.
struct HugeLine {
    prefix: Vec<u8>,
    fill: u8,
    left: u64,
    read: Arc<AtomicU64>,
}

impl Read for HugeLine {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        if !self.prefix.is_empty() {
            n = self.prefix.len().min(buf.len());
            buf[..n].copy_from_slice(&self.prefix[..n]);
            self.prefix.drain(..n);
        }
        let m = ((buf.len() - n) as u64).min(self.left) as usize;
        buf[n..n + m].fill(self.fill);
        self.left -= m as u64;
        self.read.fetch_add((n + m) as u64, Ordering::Relaxed);
        Ok(n + m)
    }
}

#[test]
fn a_one_gib_line_is_refused_quickly_after_reading_only_the_limit() {
    const GIB: u64 = 1 << 30;
    let dir = common::fast_tempdir();
    let store = Store::open(dir.path(), common::config(&clock())).unwrap();
    let formats: [(InputFormat, &[u8]); 4] = [
        (InputFormat::Prom, b"ok_metric 1\nhuge{l=\""),
        (InputFormat::OpenMetrics, b"ok_metric 1\nhuge{l=\""),
        (InputFormat::Influx, b"ok_metric v=1\nhuge,l="),
        (
            InputFormat::Csv,
            b"metric,timestamp,value\nok_metric,1700000000000,1\nhuge",
        ),
    ];
    let rss_before = peak_rss_kib();
    for (format, prefix) in formats {
        let read = Arc::new(AtomicU64::new(0));
        let input = HugeLine {
            prefix: prefix.to_vec(),
            fill: b'a',
            left: GIB,
            read: read.clone(),
        };
        let ok_lines = prefix.iter().filter(|&&c| c == b'\n').count() as u64;
        let started = Instant::now();
        let parser = format.parser(BufReader::with_capacity(64 << 10, input), Precision::Ms);
        let (sum, res) = ingest(&store, parser, &opts(1000));
        let took = started.elapsed();
        match res {
            Err(IngestError::Parse(ParseError::LineTooLong { line, max })) => {
                assert_eq!(line, ok_lines + 1, "{format:?}");
                assert_eq!(max, 1 << 20, "{format:?}");
            }
            other => panic!("{format:?}: expected LineTooLong, got {other:?}"),
        }
        let read = read.load(Ordering::Relaxed);
        // The limit, the lines before, and at most one buffer of the reader beyond.
        assert!(
            read <= (1 << 20) + (64 << 10) + prefix.len() as u64,
            "{format:?}: read {read} bytes of the 1 GiB line"
        );
        assert!(took < Duration::from_secs(10), "{format:?}: took {took:?}");
        // The lines before, and the long one, which counts as read.
        assert_eq!(sum.lines, ok_lines + 1, "{format:?}");
        eprintln!("{format:?}: refused after reading {read} bytes in {took:?}");
    }
    if let (Some(a), Some(b)) = (rss_before, peak_rss_kib()) {
        eprintln!("peak RSS {a} KiB before, {b} KiB after the four 1 GiB lines");
        // Other tests run in this process at the same time: allow for them, but a line held
        // whole would add a gigabyte.
        let grew = b.saturating_sub(a);
        assert!(grew < 256 << 10, "peak RSS grew by {grew} KiB");
    }
    // Nothing of the refused lines' batches was written, and the store is still usable.
    assert_eq!(store.stats().series, 0);
    store
        .write(&[Sample::new("ok_metric", &[], T0 + 10_000, 1.0)])
        .unwrap();
    let r = store.query(&sel("ok_metric"), 0, i64::MAX).unwrap();
    assert_eq!(r.series[0].points, [(T0 + 10_000, 1.0)]);
}

#[test]
fn a_long_line_is_named_file_and_line_by_the_cli() {
    let dir = common::fast_tempdir();
    let input = dir.path().join("big.prom");
    let mut text = b"a_metric 1\nb_metric{l=\"".to_vec();
    text.resize(text.len() + (3 << 20), b'x');
    text.extend_from_slice(b"\"} 2\n");
    std::fs::write(&input, &text).unwrap();
    let store = dir.path().join("store");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tierlog"))
        .args(["ingest", store.to_str().unwrap(), input.to_str().unwrap()])
        .args(["--now", "2023-11-14T22:00:10Z"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let want = format!("{}:2: line longer than 1048576 bytes", input.display());
    assert!(stderr.contains(&want), "{stderr}");
    // With a higher limit the line is read whole, and its sample is then refused by the
    // store's limit on label values.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tierlog"))
        .args(["ingest", store.to_str().unwrap(), input.to_str().unwrap()])
        .args([
            "--now",
            "2023-11-14T22:00:10Z",
            "--max-line-bytes",
            "4000000",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("longer than"), "{stderr}");
    assert!(stderr.contains("at most 4096 allowed"), "{stderr}");
}

/// `m{i="0"} 1\nm{i="1"} 1\n...` for `n` series, generated as it is read.
struct ManySeries {
    next: u64,
    n: u64,
    pending: Vec<u8>,
}

impl Read for ManySeries {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pending.len() < buf.len() && self.next < self.n {
            let line = format!("hostile_series{{i=\"{}\"}} 1\n", self.next);
            self.pending.extend_from_slice(line.as_bytes());
            self.next += 1;
        }
        let n = self.pending.len().min(buf.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

#[test]
fn a_million_distinct_series_hit_the_series_cap_and_the_store_stays_usable() {
    let dir = common::fast_tempdir();
    let limits = Limits {
        max_series: 10_000,
        ..Limits::default()
    };
    let config = config_with(&clock(), limits).with_sync(tierlog::Sync::Never);
    let store = Store::open(dir.path(), config).unwrap();
    let input = ManySeries {
        next: 0,
        n: 1_000_000,
        pending: Vec::new(),
    };
    let started = Instant::now();
    let parser = InputFormat::Prom.parser(BufReader::new(input), Precision::Ms);
    let (sum, res) = ingest(&store, parser, &opts(5_000));
    match res {
        Err(IngestError::Store(Error::LimitReached { what, limit })) => {
            assert!(what.contains("max_series"), "{what}");
            assert_eq!(limit, 10_000);
        }
        other => panic!("expected the series cap, got {other:?}"),
    }
    // It stopped at the cap, not after reading the million lines.
    assert!(sum.lines < 20_000, "{} lines read", sum.lines);
    assert_eq!(sum.written.new_series, 10_000);
    eprintln!(
        "series cap hit after {} lines in {:?}",
        sum.lines,
        started.elapsed()
    );
    let stats = store.stats();
    assert_eq!((stats.series, stats.max_series), (10_000, 10_000));
    assert_eq!(stats.rejections.series_limit_batches, 1);
    // Existing series still take samples; a new one is refused with the named error.
    let s = store
        .write(&[Sample::new(
            "hostile_series",
            &[("i", "42")],
            T0 + 11_000,
            2.0,
        )])
        .unwrap();
    assert_eq!((s.accepted, s.new_series), (1, 0));
    match store.write(&[Sample::new(
        "hostile_series",
        &[("i", "x")],
        T0 + 11_000,
        2.0,
    )]) {
        Err(Error::LimitReached { what, .. }) => assert!(what.contains("max_series")),
        other => panic!("expected the series cap, got {other:?}"),
    }
    let r = store
        .query(&sel(r#"hostile_series{i="42"}"#), 0, i64::MAX)
        .unwrap();
    assert_eq!(r.series[0].points, [(T0 + 10_000, 1.0), (T0 + 11_000, 2.0)]);
    // And after a reopen.
    drop(store);
    let store = Store::open(dir.path(), config_with(&clock(), limits)).unwrap();
    assert_eq!(store.stats().series, 10_000);
}

#[test]
fn the_head_cap_rejects_samples_and_recovers_after_a_seal() {
    let dir = common::fast_tempdir();
    let clock = Arc::new(ManualClock::new(T0 + 599_000));
    let cap = 64 << 10;
    let limits = Limits {
        max_head_bytes: cap,
        ..Limits::default()
    };
    let store = Store::open(dir.path(), config_with(&clock, limits)).unwrap();
    let names: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let (mut accepted, mut refused) = (0u64, 0u64);
    for sec in 0..600 {
        let labels: Vec<[(&str, &str); 1]> = names.iter().map(|n| [("s", n.as_str())]).collect();
        let batch: Vec<Sample<'_>> = labels
            .iter()
            .map(|l| Sample::new("head", l, T0 + sec * 1_000, sec as f64))
            .collect();
        let sum = store.write(&batch).unwrap();
        assert_eq!(sum.accepted + sum.rejected_head_full, 100, "{sum:?}");
        assert_eq!(sum.rejected(), sum.rejected_head_full);
        accepted += sum.accepted;
        refused += sum.rejected_head_full;
    }
    assert!(refused > 0 && accepted > 0, "{accepted} {refused}");
    let stats = store.stats();
    assert_eq!(stats.max_head_bytes, cap);
    assert_eq!(stats.rejections.head_full, refused);
    // Within the cap, give or take the growth of the point vectors of one batch.
    assert!(
        stats.head_bytes <= cap + 100 * 16 * 64,
        "head {} over cap {cap}",
        stats.head_bytes
    );
    assert!(stats.head_bytes >= cap / 2, "head {}", stats.head_bytes);
    // What was accepted is all there, bit-exact.
    let r = store.query(&sel("head"), 0, i64::MAX).unwrap();
    assert_eq!(
        r.series.iter().map(|s| s.points.len() as u64).sum::<u64>(),
        accepted
    );
    // The fast path is held to the same cap.
    let h = store.series_handle("head", &[("s", "0")]).unwrap();
    let sum = store.write_series(&[(h, T0 + 599_000, 1.0)]).unwrap();
    assert_eq!(sum.rejected_head_full, 1, "{sum:?}");
    refused += 1;
    // A reopen rebuilds the head from the logs: still full.
    drop(store);
    let store = Store::open(dir.path(), config_with(&clock, limits)).unwrap();
    let head = store.stats().head_bytes;
    assert!(head >= cap / 2, "head {head} after reopen");
    let sum = store.write_series(&[(h, T0 + 599_000, 1.0)]).unwrap();
    assert_eq!(sum.rejected_head_full, 1, "{sum:?}");
    // Seal the window: the head empties and new samples are taken again.
    clock.set(T0 + 900_001);
    store.maintain().unwrap();
    assert_eq!(store.stats().head_bytes, 0);
    let sum = store
        .write(&[Sample::new("head", &[("s", "0")], T0 + 900_000, 7.0)])
        .unwrap();
    assert_eq!((sum.accepted, sum.rejected_head_full), (1, 0));
    let r = store.query(&sel(r#"head{s="0"}"#), 0, i64::MAX).unwrap();
    assert_eq!(r.series[0].points.last(), Some(&(T0 + 900_000, 7.0)));
    // Counters are since the open.
    assert_eq!(store.stats().rejections.head_full, 1);
    assert!(refused > 1);
}

#[test]
fn a_batch_over_the_cap_is_refused_whole() {
    let dir = common::fast_tempdir();
    let limits = Limits {
        max_batch_samples: 100,
        ..Limits::default()
    };
    let store = Store::open(dir.path(), config_with(&clock(), limits)).unwrap();
    let names: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    let labels: Vec<[(&str, &str); 1]> = names.iter().map(|n| [("s", n.as_str())]).collect();
    let batch: Vec<Sample<'_>> = labels
        .iter()
        .map(|l| Sample::new("batch", l, T0, 1.0))
        .collect();
    match store.write(&batch) {
        Err(
            e @ Error::BatchTooLarge {
                samples: 101,
                max: 100,
            },
        ) => {
            assert!(e.to_string().contains("max_batch_samples"), "{e}");
        }
        other => panic!("expected BatchTooLarge, got {other:?}"),
    }
    assert_eq!(store.stats().series, 0, "nothing of the batch was done");
    assert_eq!(store.write(&batch[..100]).unwrap().accepted, 100);
    let h = store.series_handle("batch", &[("s", "0")]).unwrap();
    let triples = vec![(h, T0, 2.0); 101];
    assert!(matches!(
        store.write_series(&triples),
        Err(Error::BatchTooLarge { samples: 101, .. })
    ));
    assert_eq!(store.write_series(&triples[..100]).unwrap().accepted, 100);
    assert_eq!(store.stats().rejections.oversized_batches, 2);
    // An ingest with larger batches splits them to the cap.
    let input = "batch{s=\"1\"} 3\n".repeat(250);
    let parser = InputFormat::Prom.parser(input.as_bytes(), Precision::Ms);
    let (sum, res) = ingest(&store, parser, &opts(10_000));
    res.unwrap();
    assert_eq!(sum.written.accepted, 250);
    // A batch limit of 0 is a configuration error.
    let bad = Limits {
        max_batch_samples: 0,
        ..Limits::default()
    };
    let dir2 = common::fast_tempdir();
    assert!(matches!(
        Store::open(dir2.path(), config_with(&clock(), bad)),
        Err(Error::Config {
            setting: "limits.max_batch_samples",
            ..
        })
    ));
}

#[test]
fn label_count_and_size_caps_hold_for_writes_handles_and_imports() {
    let dir = common::fast_tempdir();
    let limits = Limits {
        max_labels: 4,
        max_name_bytes: 16,
        max_value_bytes: 32,
        ..Limits::default()
    };
    let store = Store::open(dir.path(), config_with(&clock(), limits)).unwrap();
    let five = [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4"), ("e", "5")];
    let long_name = "n".repeat(17);
    let long_value = "v".repeat(33);
    let long_label = [(long_name.as_str(), "1")];
    let long_val = [("a", long_value.as_str())];
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], SampleError);
    let cases: [Case<'_>; 4] = [
        ("m", &five, SampleError::TooManyLabels { count: 5, max: 4 }),
        (
            "m",
            &long_label,
            SampleError::NameTooLong {
                name: long_name.clone(),
                max: 16,
            },
        ),
        (
            "m",
            &long_val,
            SampleError::ValueTooLong {
                label: "a".into(),
                len: 33,
                max: 32,
            },
        ),
        (
            &long_name,
            &[],
            SampleError::NameTooLong {
                name: long_name.clone(),
                max: 16,
            },
        ),
    ];
    for (metric, labels, want) in cases {
        match store.write(&[Sample::new(metric, labels, T0, 1.0)]) {
            Err(Error::InvalidSample { index: 0, reason }) => assert_eq!(reason, want),
            other => panic!("write {metric} {labels:?}: got {other:?}"),
        }
        match store.series_handle(metric, labels) {
            Err(Error::InvalidSample { reason, .. }) => assert_eq!(reason, want),
            other => panic!("handle {metric} {labels:?}: got {other:?}"),
        }
    }
    // The same through each import format.
    // The same through each import format, live and replayed: the error names the input
    // line of the sample, not its place in a batch.
    let inputs = [
        (
            InputFormat::Prom,
            "m 0\nm{a=\"1\",b=\"2\",c=\"3\",d=\"4\",e=\"5\"} 1\n",
            2,
        ),
        (InputFormat::Influx, "m v=0\nm,a=1,b=2,c=3,d=4,e=5 v=1\n", 2),
        (
            InputFormat::Csv,
            "metric,value,a,b,c,d,e\nm,0,,,,,\nm,1,1,2,3,4,5\n",
            3,
        ),
    ];
    for replay in [false, true] {
        for (format, text, want_line) in inputs {
            let parser = format.parser(text.as_bytes(), Precision::Ms);
            let mut o = opts(100);
            if replay {
                o.replay = Some(Arc::new(ManualClock::new(0)));
            }
            let (_, res) = ingest(&store, parser, &o);
            match res {
                Err(IngestError::Sample {
                    line,
                    reason: SampleError::TooManyLabels { max: 4, .. },
                }) => assert_eq!(line, want_line, "{format:?}"),
                other => panic!("{format:?}: expected TooManyLabels, got {other:?}"),
            }
        }
    }
    let long_import = format!("m{{a=\"{long_value}\"}} 1\n");
    let parser = InputFormat::Prom.parser(long_import.as_bytes(), Precision::Ms);
    assert!(matches!(
        ingest(&store, parser, &opts(100)).1,
        Err(IngestError::Sample {
            line: 1,
            reason: SampleError::ValueTooLong { .. },
        })
    ));
    // 200 000 labels in one sample are refused in linear time, not quadratic.
    let names: Vec<String> = (0..200_000).map(|i| format!("l{i}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "")).collect();
    let started = Instant::now();
    assert!(store.write(&[Sample::new("m", &many, T0, 1.0)]).is_ok());
    let mut many = many;
    many[199_999].1 = "x";
    many.extend([("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]);
    assert!(matches!(
        store.write(&[Sample::new("m", &many, T0, 1.0)]),
        Err(Error::InvalidSample {
            reason: SampleError::TooManyLabels { count: 5, .. },
            ..
        })
    ));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Four writes, seven imports (three formats live and replayed, the long value), the
    // last write.
    assert_eq!(store.stats().rejections.invalid_batches, 4 + 7 + 1);
}

/// Every file under `dir`, relative.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
            out.push(rel);
        }
    }
    out.sort();
    out
}

#[test]
fn no_metric_or_label_text_reaches_a_file_path() {
    let root = common::fast_tempdir();
    let dir = root.path().join("store");
    let clock = clock();
    let store = Store::open(&dir, common::config(&clock)).unwrap();
    let long = "z".repeat(4096);
    let hostile_values = [
        "../../etc/passwd",
        "/",
        "/tmp/x",
        "..",
        "a\0b",
        "\0",
        "raw/000000000000000.seg",
        "index.log",
        "LOCK",
        "C:\\Windows",
        long.as_str(),
    ];
    for (i, v) in hostile_values.iter().enumerate() {
        let labels = [("path", *v), ("job", *v)];
        store
            .write(&[Sample::new(
                "paths",
                &labels,
                T0 + i as i64 * 1_000,
                i as f64,
            )])
            .unwrap();
    }
    // Names are checked: none of these can be a metric or label name.
    for bad in ["../../etc/passwd", "/", "a\0b", "", "raw/x"] {
        assert!(
            store.write(&[Sample::new(bad, &[], T0, 1.0)]).is_err(),
            "{bad:?}"
        );
        assert!(
            store
                .write(&[Sample::new("m", &[(bad, "1")], T0, 1.0)])
                .is_err(),
            "{bad:?}"
        );
        assert!(store.set_metric_meta(bad, MetricMeta::default()).is_err());
    }
    // Metadata text is free-form and must not reach a path either.
    store
        .set_metric_meta(
            "paths",
            MetricMeta {
                unit: "../../etc/passwd".into(),
                description: "/\0/..".into(),
                ..MetricMeta::default()
            },
        )
        .unwrap();
    // Seal, materialise, compact: every code path that creates files.
    for step in 1..=8 {
        clock.set(T0 + step * 3_600_000);
        store.maintain().unwrap();
    }
    store
        .write(&[Sample::new(
            "paths",
            &[("path", "/")],
            T0 + 8 * 3_600_000,
            1.0,
        )])
        .unwrap();
    let r = store.query(&sel("paths"), T0, T0 + 3_600_000).unwrap();
    let values: Vec<String> = r
        .series
        .iter()
        .map(|s| s.labels.get("path").to_owned())
        .collect();
    for v in hostile_values {
        assert!(values.iter().any(|x| x == v), "{v:?} round-trips");
    }
    drop(store);
    // Only the store's own names: the top level, and window-numbered files below.
    assert_eq!(tree(root.path()).first().map(String::as_str), Some("store"));
    assert!(
        tree(root.path()).iter().all(|p| p.starts_with("store")),
        "{:?}",
        tree(root.path())
    );
    let own_top = [LOCK_FILE, STATE_FILE, INDEX_FILE, RAW_DIR, "10s", "60s"];
    for p in tree(&dir) {
        let mut parts = p.split('/');
        let top = parts.next().unwrap();
        assert!(own_top.contains(&top), "unexpected file {p:?}");
        for part in parts {
            assert!(
                part.bytes().all(|c| c.is_ascii_digit()
                    || c.is_ascii_lowercase()
                    || c == b'.'
                    || c == b'-'
                    || c == b'_'),
                "unexpected name {p:?}"
            );
            assert!(part.len() <= 40, "{p:?}");
        }
    }
}

const LOCK_CHILD_ENV: &str = "TIERLOG_HOSTILE_LOCK_CHILD";

/// The child of `the_lock_holds_against_another_process`: opens the store for writing and
/// prints what happened.
#[test]
fn lock_child() {
    let Some(dir) = std::env::var_os(LOCK_CHILD_ENV) else {
        return; // Not a child.
    };
    match Store::open(Path::new(&dir), common::config(&clock())) {
        Ok(store) => {
            store
                .write(&[Sample::new("child", &[], T0 + 10_000, 1.0)])
                .unwrap();
            println!("CHILD OPENED");
        }
        Err(Error::Locked { pid, .. }) => println!("CHILD LOCKED {pid:?}"),
        Err(e) => println!("CHILD ERROR {e}"),
    }
}

#[test]
fn the_lock_holds_against_another_process() {
    let dir = common::fast_tempdir();
    let store = Store::open(dir.path(), common::config(&clock())).unwrap();
    let run_child = || {
        let out = common::child_command(concat!(module_path!(), "::lock_child"))
            .env(LOCK_CHILD_ENV, dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        stdout
            .lines()
            .find_map(|l| l.find("CHILD ").map(|i| l[i..].to_owned()))
            .unwrap_or_else(|| panic!("no answer from the child: {stdout}"))
    };
    let me = std::process::id();
    assert_eq!(run_child(), format!("CHILD LOCKED Some({me})"));
    // Rewriting the LOCK file's pid does not release the lock: it is the kernel's lock.
    std::fs::write(dir.path().join(LOCK_FILE), b"1").unwrap();
    let answer = run_child();
    assert!(answer.starts_with("CHILD LOCKED"), "{answer}");
    drop(store);
    assert_eq!(run_child(), "CHILD OPENED");
    let store = Store::open(dir.path(), common::config(&clock())).unwrap();
    let r = store.query(&sel("child"), 0, i64::MAX).unwrap();
    assert_eq!(r.series.len(), 1);
}

#[test]
fn metadata_cannot_create_metrics_past_the_series_cap() {
    let dir = common::fast_tempdir();
    let limits = Limits {
        max_series: 2,
        ..Limits::default()
    };
    let store = Store::open(dir.path(), config_with(&clock(), limits)).unwrap();
    store.set_metric_meta("a", MetricMeta::default()).unwrap();
    store.set_metric_meta("b", MetricMeta::default()).unwrap();
    match store.set_metric_meta("c", MetricMeta::default()) {
        Err(Error::LimitReached { what, limit: 2 }) => assert!(what.contains("max_series")),
        other => panic!("expected the cap, got {other:?}"),
    }
    // Changing an existing metric's metadata is fine.
    let meta = MetricMeta {
        unit: "bytes".into(),
        ..MetricMeta::default()
    };
    store.set_metric_meta("a", meta).unwrap();
    // An import holding metadata of more metrics than that stops with the same error.
    let text = "# TYPE a gauge\n# TYPE b gauge\n# TYPE c gauge\n";
    let parser = InputFormat::Prom.parser(text.as_bytes(), Precision::Ms);
    assert!(matches!(
        ingest(&store, parser, &opts(10)).1,
        Err(IngestError::Store(Error::LimitReached { .. }))
    ));
}

/// One line of about `bytes` bytes: `n` distinct labels (tags, or CSV columns) then a value.
fn many_labels_line(format: InputFormat, bytes: usize) -> String {
    let mut s = String::new();
    let mut i = 0;
    match format {
        InputFormat::Prom | InputFormat::OpenMetrics => {
            s.push_str("m{");
            while s.len() < bytes {
                s.push_str(&format!("l{i}=\"v\","));
                i += 1;
            }
            s.push_str("} 1\n");
        }
        InputFormat::Influx => {
            s.push('m');
            while s.len() < bytes / 2 {
                s.push_str(&format!(",t{i}=v"));
                i += 1;
            }
            s.push(' ');
            let mut j = 0;
            while s.len() < bytes {
                s.push_str(&format!("f{j}=1,"));
                j += 1;
            }
            s.pop();
            s.push('\n');
        }
        InputFormat::Csv => {
            s.push_str("metric,value");
            while s.len() < bytes {
                s.push_str(&format!(",c{i}"));
                i += 1;
            }
            s.push_str("\nm,1");
            s.push_str(&",".repeat(i));
            s.push('\n');
        }
    }
    s
}

#[test]
fn a_line_of_a_hundred_thousand_labels_parses_in_linear_time() {
    for format in [
        InputFormat::Prom,
        InputFormat::OpenMetrics,
        InputFormat::Influx,
        InputFormat::Csv,
    ] {
        let line = many_labels_line(format, 1_000_000);
        let started = Instant::now();
        let items: Vec<_> = format.parser(line.as_bytes(), Precision::Ms).collect();
        let took = started.elapsed();
        eprintln!("{format:?}: {} items in {took:?}", items.len());
        assert!(took < Duration::from_secs(5), "{format:?}: {took:?}");
        match format {
            // Some 45 000 fields, each a sample carrying some 45 000 tags: refused.
            InputFormat::Influx => match &items[..] {
                [
                    Err(ParseError::Syntax {
                        line: 1, message, ..
                    }),
                ] => {
                    assert!(message.contains("expand"), "{message}")
                }
                other => panic!("expected an expansion error, got {} items", other.len()),
            },
            // One sample (OpenMetrics: and the end-of-input error).
            _ => assert!(matches!(
                items[0],
                Ok((_, tierlog_tools::import::Entry::Sample(_)))
            )),
        }
    }
}

/// Deleting `LOCK` while a writer has the store open does not let a second writer in: the
/// directory itself is locked too.
#[test]
fn deleting_the_lock_file_does_not_let_a_second_writer_in() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(tierlog::ManualClock::new(1_700_000_000_000));
    let cfg = tierlog::Config::default()
        .with_clock(clock)
        .with_maintenance_interval(None);
    let first = tierlog::Store::open(dir.path(), cfg.clone()).unwrap();
    std::fs::remove_file(dir.path().join(LOCK_FILE)).unwrap();
    match tierlog::Store::open(dir.path(), cfg.clone()) {
        Err(tierlog::Error::Locked { .. }) => {}
        other => panic!("a second writer got in: {:?}", other.map(|_| ())),
    }
    drop(first);
    // Once the first is closed, the store opens again (and writes a new LOCK).
    tierlog::Store::open(dir.path(), cfg)
        .unwrap()
        .close()
        .unwrap();
    assert!(dir.path().join(LOCK_FILE).exists());
}
