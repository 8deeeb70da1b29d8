//! Records a Linux machine's `/proc` counters and gauges as Prometheus text exposition lines
//! with millisecond timestamps, once per interval, for a given number of scrapes.
//!
//! ```text
//! cargo run --release --example proc_record -- OUT.prom [SCRAPES] [INTERVAL_MS]
//! ```
//!
//! The recording is a realistic workload for `tierlog ingest --replay` and for the
//! bytes-per-sample benchmark (`benches/compression.rs`). It reads `/proc/stat`,
//! `/proc/meminfo`, `/proc/vmstat`, `/proc/loadavg`, `/proc/net/dev` and `/proc/diskstats`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn scrape(out: &mut String, ts: i64) {
    // CPU time per mode, in jiffies (counters).
    let modes = [
        "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
    ];
    for line in read("/proc/stat").lines() {
        let mut f = line.split_whitespace();
        let Some(key) = f.next() else { continue };
        if let Some(cpu) = key.strip_prefix("cpu") {
            let cpu = if cpu.is_empty() { "all" } else { cpu };
            for (mode, v) in modes.iter().zip(f) {
                let _ = writeln!(
                    out,
                    "proc_cpu_jiffies_total{{cpu=\"{cpu}\",mode=\"{mode}\"}} {v} {ts}"
                );
            }
        } else if matches!(
            key,
            "ctxt" | "processes" | "procs_running" | "procs_blocked" | "intr"
        ) && let Some(v) = f.next()
        {
            let _ = writeln!(out, "proc_stat_{key} {v} {ts}");
        }
    }
    for line in read("/proc/meminfo").lines() {
        let Some((k, rest)) = line.split_once(':') else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let Some(v) = f.next().and_then(|v| v.parse::<u64>().ok()) else {
            continue;
        };
        let bytes = if f.next() == Some("kB") { v * 1024 } else { v };
        let _ = writeln!(
            out,
            "proc_meminfo_bytes{{field=\"{}\"}} {bytes} {ts}",
            sanitize(k)
        );
    }
    for line in read("/proc/vmstat").lines() {
        let mut f = line.split_whitespace();
        if let (Some(k), Some(v)) = (f.next(), f.next()) {
            let _ = writeln!(out, "proc_vmstat{{field=\"{}\"}} {v} {ts}", sanitize(k));
        }
    }
    let load = read("/proc/loadavg");
    for (name, v) in ["load1", "load5", "load15"]
        .iter()
        .zip(load.split_whitespace())
    {
        let _ = writeln!(out, "proc_{name} {v} {ts}");
    }
    let cols = [
        "rx_bytes",
        "rx_packets",
        "rx_errs",
        "rx_drop",
        "rx_fifo",
        "rx_frame",
        "rx_compressed",
        "rx_multicast",
        "tx_bytes",
        "tx_packets",
        "tx_errs",
        "tx_drop",
        "tx_fifo",
        "tx_colls",
        "tx_carrier",
        "tx_compressed",
    ];
    for line in read("/proc/net/dev").lines().skip(2) {
        let Some((dev, rest)) = line.split_once(':') else {
            continue;
        };
        for (c, v) in cols.iter().zip(rest.split_whitespace()) {
            let _ = writeln!(
                out,
                "proc_net_{c}_total{{device=\"{}\"}} {v} {ts}",
                dev.trim()
            );
        }
    }
    let dcols = [
        "reads",
        "reads_merged",
        "sectors_read",
        "read_ms",
        "writes",
        "writes_merged",
        "sectors_written",
        "write_ms",
        "io_in_progress",
        "io_ms",
        "weighted_io_ms",
    ];
    for line in read("/proc/diskstats").lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 14 {
            continue;
        }
        for (c, v) in dcols.iter().zip(&f[3..]) {
            let _ = writeln!(out, "proc_disk_{c}{{device=\"{}\"}} {v} {ts}", f[2]);
        }
    }
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
    let _ = writeln!(file, "# TYPE proc_cpu_jiffies_total counter");
    let _ = writeln!(file, "# TYPE proc_meminfo_bytes gauge");
    let _ = writeln!(file, "# UNIT proc_meminfo_bytes bytes");
    let start = SystemTime::now();
    for i in 0..scrapes {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970");
        let mut out = String::new();
        scrape(&mut out, now.as_millis() as i64);
        file.write_all(out.as_bytes()).expect("write output");
        file.flush().expect("flush output");
        let next = start + Duration::from_millis((i + 1) * interval_ms);
        if let Ok(wait) = next.duration_since(SystemTime::now()) {
            std::thread::sleep(wait);
        }
    }
}
