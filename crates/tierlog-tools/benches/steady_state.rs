//! The seeds' reference workload at steady state: 1000 series every 15 s, the default tiers
//! (raw 2 h, 10s 24 h, 60s 90 days). One day of data is replayed into a store that keeps all
//! of it raw, rolled up, and each tier's bytes are measured; the 90-day steady state is then
//!
//! ```text
//! raw (2 h of the day's raw bytes) + 10s (the day's 10s tier) + 60s (90 × the day's 60s tier)
//! + the index
//! ```
//!
//! and, given VictoriaMetrics' bytes per sample on the same file (`TIERLOG_VM_B_PER_SAMPLE`,
//! from `tierlog-compare`), its 90-day footprint for the same samples and the ratio.
//!
//! ```text
//! python3 ../shared/workloads/gen_workload.py --preset day -o /tmp/day.prom
//! TIERLOG_STEADY_FILE=/tmp/day.prom TIERLOG_VM_B_PER_SAMPLE=1.90 \
//!     cargo bench -p tierlog-tools --bench steady_state
//! ```
//!
//! Without `TIERLOG_STEADY_FILE` the file is generated with that command (python3 must be on
//! the path, and the generator at `../shared/workloads/gen_workload.py` from the workspace).

use std::io::BufReader;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tierlog::{Config, ManualClock, Store};
use tierlog_tools::import::ingest::{IngestOptions, ingest_prom};

const DAY_MS: i64 = 86_400_000;
const KEEP_DAYS_60S: f64 = 90.0;

fn input() -> PathBuf {
    if let Some(p) = std::env::var_os("TIERLOG_STEADY_FILE") {
        return PathBuf::from(p);
    }
    let out = std::env::temp_dir().join("tierlog-steady-day.prom");
    if !out.exists() {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/workloads/gen_workload.py");
        let status = std::process::Command::new("python3")
            .arg(&script)
            .args(["--preset", "day", "-o"])
            .arg(&out)
            .status()
            .expect("run gen_workload.py (set TIERLOG_STEADY_FILE instead)");
        assert!(status.success(), "gen_workload.py failed");
    }
    out
}

fn main() {
    let file = input();
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(0));
    // Raw points are kept 20 h (the tiers' keeps must be longer): the raw bytes per hour
    // are measured over them, the steady state takes 2 h.
    let config = Config::default()
        .with_clock(clock.clone())
        .with_raw_keep(Duration::from_secs(20 * 3600))
        .with_maintenance_interval(None);
    let store = Store::open(dir.path(), config).expect("open");
    let opts = IngestOptions {
        batch: 10_000,
        replay: Some(clock.clone()),
        spill_dir: dir.path().join("spill"),
        sort_memory: 512 << 20,
        default_ts: 0,
        latest: None,
        max_line_bytes: tierlog_tools::import::DEFAULT_MAX_LINE_BYTES,
    };
    std::fs::create_dir_all(&opts.spill_dir).expect("spill dir");
    let reader = BufReader::new(std::fs::File::open(&file).expect("open input"));
    let started = std::time::Instant::now();
    let (sum, res) = ingest_prom(&store, reader, &opts);
    res.expect("ingest");
    let secs = started.elapsed().as_secs_f64();
    // Past the last piece plus the grace: everything sealed and rolled up.
    clock.advance(3_600_000);
    store.maintain().expect("maintain");
    let st = store.stats();
    let samples = sum.written.accepted;
    let tier = |name: &str| {
        st.tiers
            .iter()
            .find(|t| t.tier == name)
            .unwrap_or_else(|| panic!("tier {name}"))
    };
    let (raw, t10, t60) = (tier("raw"), tier("10s"), tier("60s"));
    let span = |t: &tierlog::TierStats| match (t.oldest_ms, t.newest_ms) {
        (Some(a), Some(b)) => (b - a) as f64,
        _ => panic!("tier {} holds nothing", t.tier),
    };
    // The raw span kept (its last point's second included), and the day the tiers hold.
    let raw_span = span(raw) + 15_000.0;
    let days = (span(t60) + 60_000.0) / DAY_MS as f64;
    let raw_2h = raw.bytes as f64 * (2.0 * 3_600_000.0) / raw_span;
    let t10_day = t10.bytes as f64 / days;
    let t60_90 = t60.bytes as f64 / days * KEEP_DAYS_60S;
    let total = raw_2h + t10_day + t60_90 + st.index_bytes as f64;
    println!(
        "input {}: {samples} samples over {days:.3} days, replayed in {secs:.1} s",
        file.display()
    );
    println!(
        "raw: {} B, {:.3} B/sample; 10s: {} B in {} files, {} buckets, {:.3} B/bucket; 60s: {} B in {} files, {} buckets, {:.3} B/bucket; index {} B",
        raw.bytes,
        raw.bytes_per_point,
        t10.bytes,
        t10.segments,
        t10.points,
        t10.bytes_per_point,
        t60.bytes,
        t60.segments,
        t60.points,
        t60.bytes_per_point,
        st.index_bytes
    );
    println!(
        "steady state (raw 2 h, 10s 24 h, 60s 90 days): raw {:.1} MB + 10s {:.1} MB + 60s {:.1} MB + index {:.1} MB = {:.1} MB",
        raw_2h / 1e6,
        t10_day / 1e6,
        t60_90 / 1e6,
        st.index_bytes as f64 / 1e6,
        total / 1e6
    );
    if let Some(vm) = std::env::var("TIERLOG_VM_B_PER_SAMPLE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
    {
        let per_day = samples as f64 / days;
        let vm_90 = vm * per_day * KEEP_DAYS_60S;
        println!(
            "VictoriaMetrics keeping every sample 90 days at {vm} B/sample: {:.1} MB; tierlog / VictoriaMetrics = {:.3} (the issue's target: at most 1/3)",
            vm_90 / 1e6,
            total / vm_90
        );
    }
}
