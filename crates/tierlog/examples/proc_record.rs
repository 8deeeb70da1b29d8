//! Records a Linux machine's `/proc` counters and gauges as Prometheus text exposition lines
//! with millisecond timestamps, once per interval, for a given number of scrapes.
//!
//! ```text
//! cargo run --release --example proc_record -- OUT.prom [SCRAPES] [INTERVAL_MS]
//! ```
//!
//! The recording is a realistic workload for `tierlog ingest --replay` and for the
//! bytes-per-sample benchmark (`benches/compression.rs`). It reads `/proc/stat`,
//! `/proc/meminfo`, `/proc/vmstat`, `/proc/loadavg`, `/proc/net/dev` and `/proc/diskstats`
//! (parsed by `tierlog_testkit::examples::procfs`, which the `agent` example shares), and starts with `# HELP`,
//! `# TYPE` and `# UNIT` lines so that an ingest registers each metric's kind and unit.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tierlog::MetricKind;
use tierlog_testkit::examples::procfs::{Family, ProcFile, ProcText, Reading};

/// Every file this example records.
const FILES: [ProcFile; 6] = [
    ProcFile::Stat,
    ProcFile::Meminfo,
    ProcFile::Vmstat,
    ProcFile::Loadavg,
    ProcFile::NetDev,
    ProcFile::Diskstats,
];

/// Text exposition label values escape `\`, `"` and newlines.
fn escape(s: &str) -> String {
    s.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

fn header(out: &mut String, f: &Family) {
    let _ = writeln!(out, "# HELP {} {}", f.name, f.help.replace('\n', " "));
    match f.kind {
        MetricKind::Counter => {
            let _ = writeln!(out, "# TYPE {} counter", f.name);
        }
        MetricKind::Gauge => {
            let _ = writeln!(out, "# TYPE {} gauge", f.name);
        }
        _ => {}
    }
    if !f.unit.is_empty() {
        let _ = writeln!(out, "# UNIT {} {}", f.name, f.unit);
    }
}

fn line(out: &mut String, r: &Reading, ts: i64) {
    out.push_str(r.family.name);
    for (i, (k, v)) in r.labels.iter().enumerate() {
        out.push(if i == 0 { '{' } else { ',' });
        let _ = write!(out, "{k}=\"{}\"", escape(v));
    }
    if !r.labels.is_empty() {
        out.push('}');
    }
    let _ = writeln!(out, " {} {ts}", r.value);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: proc_record OUT.prom [SCRAPES] [INTERVAL_MS]");
        std::process::exit(2);
    };
    let scrapes: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(600);
    let interval_ms: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create output"));
    let mut out = String::new();
    for f in FILES.iter().flat_map(|f| f.families()) {
        header(&mut out, f);
    }
    file.write_all(out.as_bytes()).expect("write output");
    let start = SystemTime::now();
    for i in 0..scrapes {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970");
        let ts = now.as_millis() as i64;
        out.clear();
        for r in ProcText::read(&FILES).readings() {
            line(&mut out, &r, ts);
        }
        file.write_all(out.as_bytes()).expect("write output");
        file.flush().expect("flush output");
        let next = start + Duration::from_millis((i + 1) * interval_ms);
        if let Ok(wait) = next.duration_since(SystemTime::now()) {
            std::thread::sleep(wait);
        }
    }
}
