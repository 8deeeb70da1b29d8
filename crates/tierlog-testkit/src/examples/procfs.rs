//! A Linux machine's `/proc` as metric readings, shared by the examples `proc_record` (which
//! writes them as Prometheus text) and `agent` (which writes them into a store).
//!
//! The files are read in one place ([`ProcText::read`]); everything else is pure parsing of
//! their text into [`Reading`]s of the metric families declared here, so it can be tested on
//! fixed text. A file that cannot be read (not Linux, no permission) yields no readings.

use tierlog::MetricKind;

/// A metric family: the name, kind, unit and description every reading of it shares.
#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub kind: MetricKind,
    /// Empty when the values have no unit (counts of things).
    pub unit: &'static str,
    pub help: &'static str,
}

const fn counter(name: &'static str, unit: &'static str, help: &'static str) -> Family {
    Family {
        name,
        kind: MetricKind::Counter,
        unit,
        help,
    }
}

const fn gauge(name: &'static str, unit: &'static str, help: &'static str) -> Family {
    Family {
        name,
        kind: MetricKind::Gauge,
        unit,
        help,
    }
}

/// Label names and values, in the order they are rendered.
pub type LabelPairs = Vec<(&'static str, String)>;

/// One value of one series: its family, its labels (in the order they are rendered) and the
/// value.
#[derive(Debug, Clone)]
pub struct Reading {
    pub family: &'static Family,
    pub labels: LabelPairs,
    pub value: f64,
}

/// A `/proc` file this module understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcFile {
    Stat,
    Meminfo,
    Vmstat,
    Loadavg,
    NetDev,
    Diskstats,
}

impl ProcFile {
    pub fn path(self) -> &'static str {
        match self {
            ProcFile::Stat => "/proc/stat",
            ProcFile::Meminfo => "/proc/meminfo",
            ProcFile::Vmstat => "/proc/vmstat",
            ProcFile::Loadavg => "/proc/loadavg",
            ProcFile::NetDev => "/proc/net/dev",
            ProcFile::Diskstats => "/proc/diskstats",
        }
    }

    /// The families the file's readings belong to.
    pub fn families(self) -> Vec<&'static Family> {
        match self {
            ProcFile::Stat => std::iter::once(&CPU_JIFFIES)
                .chain(STAT.iter().map(|(_, f)| f))
                .collect(),
            ProcFile::Meminfo => vec![&MEM_BYTES, &MEM_PAGES],
            ProcFile::Vmstat => vec![&VMSTAT],
            ProcFile::Loadavg => LOAD.iter().collect(),
            ProcFile::NetDev => NET.iter().collect(),
            ProcFile::Diskstats => DISK.iter().collect(),
        }
    }

    /// Appends the readings in `text` (the file's contents) to `out`.
    pub fn parse(self, text: &str, out: &mut Vec<Reading>) {
        match self {
            ProcFile::Stat => parse_stat(text, out),
            ProcFile::Meminfo => parse_meminfo(text, out),
            ProcFile::Vmstat => parse_vmstat(text, out),
            ProcFile::Loadavg => parse_loadavg(text, out),
            ProcFile::NetDev => parse_net_dev(text, out),
            ProcFile::Diskstats => parse_diskstats(text, out),
        }
    }
}

/// The text of some `/proc` files, as read at one moment.
#[derive(Debug, Clone, Default)]
pub struct ProcText {
    pub files: Vec<(ProcFile, String)>,
}

impl ProcText {
    /// Reads `files` now; one that cannot be read is empty.
    pub fn read(files: &[ProcFile]) -> ProcText {
        ProcText {
            files: files
                .iter()
                .map(|&f| (f, std::fs::read_to_string(f.path()).unwrap_or_default()))
                .collect(),
        }
    }

    /// Every reading in the files, in file order.
    pub fn readings(&self) -> Vec<Reading> {
        let mut out = Vec::new();
        for (file, text) in &self.files {
            file.parse(text, &mut out);
        }
        out
    }
}

pub static CPU_JIFFIES: Family = counter(
    "proc_cpu_jiffies_total",
    "jiffies",
    "CPU time per CPU (cpu=\"all\": all of them) and mode, in USER_HZ ticks (1/100 s on most systems), from /proc/stat",
);

/// CPU modes, in the order of /proc/stat's columns.
const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// The other /proc/stat lines read, by key (the first value of the line).
pub static STAT: [(&str, Family); 5] = [
    (
        "ctxt",
        counter("proc_stat_ctxt", "", "Context switches since boot"),
    ),
    (
        "processes",
        counter("proc_stat_processes", "", "Processes created since boot"),
    ),
    (
        "procs_running",
        gauge("proc_stat_procs_running", "", "Processes runnable"),
    ),
    (
        "procs_blocked",
        gauge(
            "proc_stat_procs_blocked",
            "",
            "Processes blocked waiting for I/O",
        ),
    ),
    (
        "intr",
        counter("proc_stat_intr", "", "Interrupts serviced since boot"),
    ),
];

pub static MEM_BYTES: Family = gauge(
    "proc_meminfo_bytes",
    "bytes",
    "Memory by /proc/meminfo field (the fields given in kB, converted to bytes)",
);

pub static MEM_PAGES: Family = gauge(
    "proc_meminfo_pages",
    "pages",
    "Huge page counts by /proc/meminfo field (the fields given without a unit)",
);

pub static VMSTAT: Family = Family {
    name: "proc_vmstat",
    // Counters and gauges mixed under one name, told apart by the field label.
    kind: MetricKind::Unknown,
    unit: "",
    help: "Virtual memory statistics by /proc/vmstat field",
};

pub static LOAD: [Family; 3] = [
    gauge(
        "proc_load1",
        "",
        "Load average over 1 minute, from /proc/loadavg",
    ),
    gauge(
        "proc_load5",
        "",
        "Load average over 5 minutes, from /proc/loadavg",
    ),
    gauge(
        "proc_load15",
        "",
        "Load average over 15 minutes, from /proc/loadavg",
    ),
];

/// /proc/net/dev's columns, in order.
pub static NET: [Family; 16] = [
    counter("proc_net_rx_bytes_total", "bytes", "Bytes received"),
    counter("proc_net_rx_packets_total", "packets", "Packets received"),
    counter("proc_net_rx_errs_total", "packets", "Receive errors"),
    counter(
        "proc_net_rx_drop_total",
        "packets",
        "Received packets dropped",
    ),
    counter("proc_net_rx_fifo_total", "", "Receive FIFO buffer errors"),
    counter("proc_net_rx_frame_total", "", "Receive framing errors"),
    counter(
        "proc_net_rx_compressed_total",
        "packets",
        "Compressed packets received",
    ),
    counter(
        "proc_net_rx_multicast_total",
        "packets",
        "Multicast frames received",
    ),
    counter("proc_net_tx_bytes_total", "bytes", "Bytes sent"),
    counter("proc_net_tx_packets_total", "packets", "Packets sent"),
    counter("proc_net_tx_errs_total", "packets", "Transmit errors"),
    counter(
        "proc_net_tx_drop_total",
        "packets",
        "Transmitted packets dropped",
    ),
    counter("proc_net_tx_fifo_total", "", "Transmit FIFO buffer errors"),
    counter("proc_net_tx_colls_total", "", "Collisions detected"),
    counter("proc_net_tx_carrier_total", "", "Carrier losses"),
    counter(
        "proc_net_tx_compressed_total",
        "packets",
        "Compressed packets sent",
    ),
];

/// /proc/diskstats' columns after the device name, in order (the first 11; newer kernels add
/// discard and flush columns, not read).
pub static DISK: [Family; 11] = [
    counter("proc_disk_reads", "", "Reads completed"),
    counter("proc_disk_reads_merged", "", "Adjacent reads merged"),
    counter("proc_disk_sectors_read", "sectors", "512-byte sectors read"),
    counter("proc_disk_read_ms", "milliseconds", "Time spent reading"),
    counter("proc_disk_writes", "", "Writes completed"),
    counter("proc_disk_writes_merged", "", "Adjacent writes merged"),
    counter(
        "proc_disk_sectors_written",
        "sectors",
        "512-byte sectors written",
    ),
    counter("proc_disk_write_ms", "milliseconds", "Time spent writing"),
    gauge("proc_disk_io_in_progress", "", "I/Os in progress"),
    counter("proc_disk_io_ms", "milliseconds", "Time spent doing I/Os"),
    counter(
        "proc_disk_weighted_io_ms",
        "milliseconds",
        "Time spent doing I/Os, weighted by the number in progress",
    ),
];

fn num(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

/// A label value made of `[A-Za-z0-9_]` only.
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

fn parse_stat(text: &str, out: &mut Vec<Reading>) {
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some(key) = f.next() else { continue };
        if let Some(cpu) = key.strip_prefix("cpu") {
            let cpu = if cpu.is_empty() { "all" } else { cpu };
            for (mode, v) in CPU_MODES.iter().zip(f) {
                if let Some(value) = num(v) {
                    out.push(Reading {
                        family: &CPU_JIFFIES,
                        labels: vec![("cpu", cpu.to_owned()), ("mode", (*mode).to_owned())],
                        value,
                    });
                }
            }
        } else if let Some((_, family)) = STAT.iter().find(|(k, _)| *k == key)
            && let Some(value) = f.next().and_then(num)
        {
            out.push(Reading {
                family,
                labels: Vec::new(),
                value,
            });
        }
    }
}

fn parse_meminfo(text: &str, out: &mut Vec<Reading>) {
    for line in text.lines() {
        let Some((k, rest)) = line.split_once(':') else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let Some(v) = f.next().and_then(|v| v.parse::<u64>().ok()) else {
            continue;
        };
        let (family, value) = if f.next() == Some("kB") {
            (&MEM_BYTES, v.saturating_mul(1024))
        } else {
            (&MEM_PAGES, v)
        };
        out.push(Reading {
            family,
            labels: vec![("field", sanitize(k))],
            value: value as f64,
        });
    }
}

fn parse_vmstat(text: &str, out: &mut Vec<Reading>) {
    for line in text.lines() {
        let mut f = line.split_whitespace();
        if let (Some(k), Some(value)) = (f.next(), f.next().and_then(num)) {
            out.push(Reading {
                family: &VMSTAT,
                labels: vec![("field", sanitize(k))],
                value,
            });
        }
    }
}

fn parse_loadavg(text: &str, out: &mut Vec<Reading>) {
    for (family, v) in LOAD.iter().zip(text.split_whitespace()) {
        if let Some(value) = num(v) {
            out.push(Reading {
                family,
                labels: Vec::new(),
                value,
            });
        }
    }
}

fn parse_net_dev(text: &str, out: &mut Vec<Reading>) {
    // Two header lines, then `device: 16 columns`.
    for line in text.lines().skip(2) {
        let Some((dev, rest)) = line.split_once(':') else {
            continue;
        };
        for (family, v) in NET.iter().zip(rest.split_whitespace()) {
            if let Some(value) = num(v) {
                out.push(Reading {
                    family,
                    labels: vec![("device", dev.trim().to_owned())],
                    value,
                });
            }
        }
    }
}

fn parse_diskstats(text: &str, out: &mut Vec<Reading>) {
    // `major minor device` then the columns.
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 14 {
            continue;
        }
        for (family, v) in DISK.iter().zip(&f[3..]) {
            if let Some(value) = num(v) {
                out.push(Reading {
                    family,
                    labels: vec![("device", f[2].to_owned())],
                    value,
                });
            }
        }
    }
}
