//! Helpers shared by the integration tests of every crate.

use std::path::Path;
use std::sync::Arc;

use tierlog::{Config, ManualClock, Selector, Store, Sync};

/// 2023-11-14T22:00:00Z, a window boundary for spans up to an hour.
pub const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;

/// The tests' configuration: 10-minute windows (the tests' arithmetic assumes them, whatever
/// the default), 5-minute grace, fsync per write, a manual clock.
pub fn config(clock: &Arc<ManualClock>) -> Config {
    Config {
        window_span: std::time::Duration::from_secs(600),
        grace: std::time::Duration::from_secs(300),
        // Deterministic: only writes and explicit maintain() seal.
        maintenance_interval: None,
        ..Config::default()
    }
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

// ---------------------------------------------------------------------------------------------
// Helpers added for the reliability tests (kill, torn_tail, concurrency, bad_input, model).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// A temporary directory for tests whose subject is file contents rather than fsync: on
/// tmpfs (`/dev/shm`) when there is one, which makes the many fsyncs of writer opens cheap.
/// Work directories of a real Prometheus or promtool live here too: promtool preallocates
/// 512 MiB for every chunk file it writes, more than a nearly full CI disk has to spare.
/// Set `TIERLOG_TEST_ON_DISK=1` to use the normal temp dir instead.
pub fn fast_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if std::env::var_os("TIERLOG_TEST_ON_DISK").is_none()
        && shm.is_dir()
        && let Ok(d) = tempfile::Builder::new()
            .prefix("tierlog-test")
            .tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().expect("tempdir")
}

/// splitmix64: a tiny seeded generator so that failures reproduce from a printed seed.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (hi exclusive, hi > lo).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(hi > lo);
        lo + self.next_u64() % (hi - lo)
    }

    /// A seed from the environment variable `var` when set, else from the time.
    pub fn seed_from_env(var: &str) -> u64 {
        match std::env::var(var) {
            Ok(s) => {
                let s = s.trim();
                let parsed = match s.strip_prefix("0x") {
                    Some(h) => u64::from_str_radix(h, 16),
                    None => s.parse(),
                };
                parsed.unwrap_or_else(|_| panic!("{var}={s:?} is not a u64"))
            }
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64 ^ u64::from(std::process::id()) << 32)
                .unwrap_or(0x5eed),
        }
    }
}

/// Length of the header every tierlog file starts with.
pub const FILE_HEADER_LEN: usize = tierlog::format::header::HEADER_LEN;
/// Length of a log frame's header.
pub const FRAME_HEADER_LEN: usize = tierlog::logfile::frame::FRAME_HEADER_LEN;

/// `(offset, total length)` of each complete frame of a log file, walking the length fields
/// from the end of the file header (no checksum checks: the files given are intact).
pub fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = FILE_HEADER_LEN;
    while pos + FRAME_HEADER_LEN <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let total = FRAME_HEADER_LEN + len;
        if pos + total > bytes.len() {
            break;
        }
        out.push((pos, total));
        pos += total;
    }
    out
}

/// The path of the window log of the window starting at `start`.
pub fn wal_path(dir: &Path, start: i64) -> PathBuf {
    dir.join(tierlog::store::RAW_DIR)
        .join(tierlog::store::window_file_name(
            start,
            tierlog::layout::WINDOW_LOG_EXT,
        ))
}

/// The path of the sealed segment of the window starting at `start`.
pub fn seg_path(dir: &Path, start: i64) -> PathBuf {
    tier_seg_path(dir, tierlog::store::RAW_DIR, start)
}

/// The path of the segment of tier directory `tier` (`raw`, `10s`, ...) starting at `start`.
pub fn tier_seg_path(dir: &Path, tier: &str, start: i64) -> PathBuf {
    dir.join(tier).join(tierlog::store::window_file_name(
        start,
        tierlog::layout::SEGMENT_EXT,
    ))
}

/// Whether `path` names a sealed segment (raw or rollup), by its extension.
pub fn is_segment(path: impl AsRef<Path>) -> bool {
    path.as_ref()
        .extension()
        .is_some_and(|e| e == tierlog::layout::SEGMENT_EXT)
}

/// Every file under `dir` (recursively) with its bytes, keyed by path relative to `dir`.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(d).expect("read_dir") {
            let e = e.expect("dir entry");
            let p = e.path();
            if e.file_type().expect("file type").is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).expect("under root").to_owned();
                out.insert(rel, std::fs::read(&p).expect("read file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Replaces the contents of `dir` with `snap` (files not in `snap` are removed).
pub fn restore(dir: &Path, snap: &BTreeMap<PathBuf, Vec<u8>>) {
    for (rel, _) in snapshot(dir) {
        if !snap.contains_key(&rel) {
            std::fs::remove_file(dir.join(rel)).expect("remove");
        }
    }
    for (rel, bytes) in snap {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, bytes).expect("write");
    }
}

/// All points of every series whose metric matches the regex `metric_re`, keyed by
/// `metric{k=v;...}`, values as bits. Panics on warnings.
pub fn all_points(store: &Store, metric_re: &str) -> BTreeMap<String, Vec<(i64, u64)>> {
    points(store, &format!("{{__name__=~\"{metric_re}\"}}"))
        .into_iter()
        .collect()
}

/// `metric{k=v;...}` for a metric and labels as written (empty values dropped, sorted).
pub fn key(metric: &str, labels: &[(&str, &str)]) -> String {
    let mut l: Vec<(&str, &str)> = labels
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    l.sort();
    let kv: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{metric}{{{}}}", kv.join(";"))
}

/// The value of a raw point (format-spec/window-log.md): one sample unchanged (bit-exact); else
/// the first NaN (bit-exact), `+Inf` with `-Inf` the NaN `0x7ff8000000000000`, one infinity
/// that infinity, and finite samples summed in arrival order (with room in the exponent when
/// the sum overflows) divided by their count.
pub fn mean(v: &[f64]) -> f64 {
    if v.len() == 1 {
        return v[0];
    }
    // The first NaN, bit for bit.
    if let Some(nan) = v.iter().find(|x| x.is_nan()) {
        return *nan;
    }
    match (v.contains(&f64::INFINITY), v.contains(&f64::NEG_INFINITY)) {
        (true, true) => return f64::from_bits(0x7ff8_0000_0000_0000),
        (true, false) => return f64::INFINITY,
        (false, true) => return f64::NEG_INFINITY,
        (false, false) => {}
    }
    let n = v.len() as f64;
    let mut sum = v[0];
    for x in &v[1..] {
        sum += *x;
    }
    if sum.is_finite() {
        return sum / n;
    }
    // Finite samples whose sum overflowed: the same sum with room in the exponent.
    let k = 2f64.powi(64);
    let mut scaled = v[0] / k;
    for x in &v[1..] {
        scaled += *x / k;
    }
    scaled / n * k
}

/// Copies a store directory (recursively), leaving out its `LOCK` file.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else if e.file_name() != tierlog::layout::LOCK_FILE {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A command that re-runs this test binary as a child running only the test at `path`, as
/// `concat!(module_path!(), "::name")` gives it (the binary's crate name is dropped: libtest
/// names tests from inside the crate).
pub fn child_command(path: &str) -> std::process::Command {
    let name = path.split_once("::").map_or(path, |(_, rest)| rest);
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("current exe"));
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"]);
    cmd
}

/// Spawns this test binary as a child running only the test at `child_test` (a path as
/// [`child_command`] takes it), with `envs` set, stdin closed and stdout and stderr piped.
pub fn spawn_child(child_test: &str, envs: &[(&str, String)]) -> std::process::Child {
    use std::process::Stdio;
    let mut cmd = child_command(child_test);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child")
}

/// What a child spawned by [`spawn_child`] wrote to stderr (read to its end), for the message
/// of a test that fails because the child ended on its own.
pub fn child_stderr(child: &mut std::process::Child) -> String {
    use std::io::Read;
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    err
}

/// Re-runs this test binary as a child running only the test at `child_test` (a path as
/// [`child_command`] takes it), with `envs` set;
/// waits for the child to print `OPEN` (its store is open), lets it run for `delay`, then
/// SIGKILLs it. Panics (with `ctx`) when the child ends before opening its store.
pub fn kill_child_after_open(
    child_test: &str,
    envs: &[(&str, String)],
    delay: std::time::Duration,
    ctx: &str,
) {
    use std::io::{BufRead, BufReader};
    let mut child = spawn_child(child_test, envs);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            let err = child_stderr(&mut child);
            panic!("{ctx}: child ended before opening the store:\n{err}");
        }
        if line.contains("OPEN") {
            break;
        }
    }
    std::thread::sleep(delay);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A child writer's line to its parent (`OPEN`, `IDLE`, `ACK n`): printed on stdout and
/// flushed at once, so that the parent sees it before it kills the child.
pub fn tell_parent(line: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    writeln!(o, "{line}").expect("stdout");
    o.flush().expect("flush stdout");
}

/// The clock while batch `n` of a kill test is written, batches `step_ms` apart from [`T0`]:
/// 2.5 s into the batch.
pub fn batch_clock(n: u64, step_ms: i64) -> i64 {
    T0 + n as i64 * step_ms + 2_500
}

/// The series of batch `n` of a kill test, as (metric, labels): `{prefix}_a` with `s="0"` and
/// `s="1"`, `{prefix}_b`, and `{prefix}_c` with `gen` = `n / series_every` (a new series every
/// `series_every` batches, so that the index grows during the run).
pub fn batch_series(
    prefix: &str,
    n: u64,
    series_every: u64,
) -> Vec<(String, Vec<(&'static str, String)>)> {
    vec![
        (format!("{prefix}_a"), vec![("s", "0".to_string())]),
        (format!("{prefix}_a"), vec![("s", "1".to_string())]),
        (format!("{prefix}_b"), vec![]),
        (
            format!("{prefix}_c"),
            vec![("gen", (n / series_every).to_string())],
        ),
    ]
}

/// A child writer's step: writes batch `n` (`samples` as (index into `series`, ts, value),
/// `series` as (metric, labels)), checks that the store accepted every sample, and prints
/// `ACK n` once the write has returned.
pub fn write_batch_and_ack(
    store: &Store,
    n: u64,
    series: &[(String, Vec<(&str, String)>)],
    samples: &[(usize, i64, f64)],
) {
    let label_sets: Vec<Vec<(&str, &str)>> = series
        .iter()
        .map(|(_, l)| l.iter().map(|(k, v)| (*k, v.as_str())).collect())
        .collect();
    let samples: Vec<tierlog::Sample<'_>> = samples
        .iter()
        .map(|&(s, ts, v)| tierlog::Sample::new(&series[s].0, &label_sets[s], ts, v))
        .collect();
    let summary = store.write(&samples).expect("child write");
    assert_eq!(
        summary.accepted,
        samples.len() as u64,
        "batch {n}: {summary:?}"
    );
    tell_parent(&format!("ACK {n}"));
}

/// The batch number of a complete `ACK n` line (the test harness may print its own text in
/// front of the first one).
pub fn parse_ack(line: &str) -> Option<u64> {
    let at = line.find("ACK ")?;
    Some(line[at + 4..].trim_end().parse().expect("ACK number"))
}

/// Checks the acknowledgements one child printed: consecutive batch numbers, the first of
/// them `start` (the batch the child was told to start at).
pub fn assert_acks_from(acks: &[u64], start: u64, ctx: &str) {
    for w in acks.windows(2) {
        assert_eq!(w[1], w[0] + 1, "{ctx}: ACKs not consecutive: {acks:?}");
    }
    if let Some(&first) = acks.first() {
        assert_eq!(first, start, "{ctx}: child started at the wrong batch");
    }
}

/// Reopens the store in `dir` as the writer after a kill and checks that recovery found only
/// crash artifacts (torn tails, empty logs), never damage.
pub fn reopen_after_kill(dir: &Path, config: Config, ctx: &str) -> Store {
    let store = match Store::open(dir, config) {
        Ok(s) => s,
        Err(e) => panic!("{ctx}: writer reopen after kill failed: {e}"),
    };
    for f in store.recovery_findings() {
        assert!(
            matches!(
                f,
                tierlog::logfile::Finding::TornTail { .. }
                    | tierlog::logfile::Finding::EmptyRemoved { .. }
            ),
            "{ctx}: recovery after a kill found more than a crash artifact: {f}"
        );
    }
    store
}

/// Points of metric `m` by (label `s`, time): what the fault-injection tests compare.
pub type Contents = BTreeMap<(String, i64), f64>;

/// The fault-injection tests' configuration: `fs` as the backend, fsync per write, 1-minute
/// windows with a 30 s grace, no maintenance thread.
pub fn fault_config(fs: &tierlog::vfs::FaultFs, clock: &Arc<ManualClock>) -> Config {
    Config {
        maintenance_interval: None,
        ..Config::default()
    }
    .with_sync(Sync::EveryWrite)
    .with_vfs(Arc::new(fs.clone()))
    .with_clock(clock.clone())
    .with_window_span(std::time::Duration::from_secs(60))
    .with_grace(std::time::Duration::from_secs(30))
}

/// [`fault_config`] with a raw keep and tiers given as (name, interval ms, keep ms): the
/// short keeps the crash tests use so that retention runs within a few simulated minutes.
pub fn fault_config_keeps(
    fs: &tierlog::vfs::FaultFs,
    clock: &Arc<ManualClock>,
    raw_keep: i64,
    tiers: &[(&str, i64, i64)],
) -> Config {
    let ms = |v: i64| std::time::Duration::from_millis(v as u64);
    fault_config(fs, clock)
        .with_raw_keep(ms(raw_keep))
        .with_tiers(
            tiers
                .iter()
                .map(|&(n, i, k)| tierlog::Tier::new(n, ms(i), ms(k)))
                .collect(),
        )
}

/// Every point of metric `m`, by (label `s`, time); the query must be whole.
pub fn store_contents(store: &Store) -> Contents {
    let r = store
        .query(&Selector::metric("m"), 0, i64::MAX / 2)
        .expect("query");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let mut out = Contents::new();
    for s in r.series {
        let name = s.labels.get("s").to_owned();
        for (t, v) in s.points {
            out.insert((name.clone(), t), v);
        }
    }
    out
}

/// A stored bucket as the bits of its fields (start, count, NaN count, min, max, sum, first,
/// last, p95, increase; 1 for an absent p95 or increase): compared bit for bit by the tests
/// that check rollups survive crashes and damage.
pub fn bucket_bits(b: &tierlog::BucketPoint) -> [u64; 10] {
    [
        b.t as u64,
        b.count,
        b.nan_count,
        b.min.to_bits(),
        b.max.to_bits(),
        b.sum.to_bits(),
        b.first.to_bits(),
        b.last.to_bits(),
        b.p95.map_or(1, f64::to_bits),
        b.increase.map_or(1, f64::to_bits),
    ]
}

/// Debian's promtool (package `prometheus`).
pub const PROMTOOL: &str = "/usr/bin/promtool";

/// Runs `promtool check metrics` on `text`: `None` when promtool is missing.
pub fn promtool_check_metrics(text: &str) -> Option<(bool, String)> {
    if !Path::new(PROMTOOL).exists() {
        eprintln!("skipped: {PROMTOOL} is not installed (apt-get install prometheus)");
        return None;
    }
    let mut child = std::process::Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), msg))
}
