//! `tierlog-compare`: the same workload through SQLite, tsink, VictoriaMetrics and tierlog, one child process
//! per engine setting (so each one's peak RSS is its own), then a markdown table.
//!
//! ```text
//! cargo run --release -p tierlog-compare -- --preset small [--engines sqlite,tsink,tierlog] [--quick]
//! cargo run --release -p tierlog-compare -- --prom examples/node.prom
//! ```

#![deny(unsafe_code)]

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use tierlog_compare::engine::Variant;
use tierlog_compare::run::{self, Measured};
use tierlog_compare::source::{PRESETS, Preset, Source};
use tierlog_compare::table;

const USAGE: &str = "usage: tierlog-compare (--preset small|day|100k|1m | --prom FILE) \
[--engines sqlite,tsink,victoriametrics,tierlog | --variants NAME,...] [--quick] [--runs N] [--dir DIR]

  --preset   small = 1000 series x 1 s x 2 h; day = 1000 x 15 s x 24 h;
             100k = 100 000 x 15 s x 1 h; 1m = 1 000 000 x 15 s x 1 h
  --prom     any Prometheus text file with timestamps (e.g. examples/node.prom)
  --quick    a tenth of the preset's duration (at least 10 scrapes), 3 query runs
  --runs     query repetitions (median reported); default 10
  --dir      where the stores go (default $TIERLOG_BENCH_DIR or the temp dir)
  variants:  sqlite-normal sqlite-full tsink-periodic tsink-per-append victoriametrics
             tierlog-interval tierlog-every-write tierlog-never
  VictoriaMetrics runs when its binary is installed (victoria-metrics on PATH, or
  $TIERLOG_VICTORIA_METRICS); by default it is left out, saying so, when it is not.";

struct Args {
    preset: Option<Preset>,
    prom: Option<PathBuf>,
    variants: Vec<Variant>,
    quick: bool,
    runs: usize,
    dir: Option<PathBuf>,
    child: Option<Variant>,
}

/// Every variant, without VictoriaMetrics when its binary is missing.
fn default_variants() -> Vec<Variant> {
    let have_vm = tierlog_compare::engines::victoria::binary().is_some();
    if !have_vm {
        eprintln!("note: victoria-metrics is not installed; leaving it out");
    }
    Variant::ALL
        .into_iter()
        .filter(|v| have_vm || *v != Variant::VictoriaMetrics)
        .collect()
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        preset: None,
        prom: None,
        variants: default_variants(),
        quick: false,
        runs: 0,
        dir: None,
        child: None,
    };
    let val = |it: &mut dyn Iterator<Item = String>, flag: &str| {
        it.next().ok_or_else(|| format!("{flag} needs a value"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--preset" => {
                let n = val(&mut it, "--preset")?;
                let names: Vec<_> = PRESETS.iter().map(|p| p.name).collect();
                a.preset = Some(
                    Preset::by_name(&n)
                        .ok_or_else(|| format!("unknown preset {n:?} (one of {names:?})"))?,
                );
            }
            "--prom" => a.prom = Some(val(&mut it, "--prom")?.into()),
            "--engines" => {
                let list = val(&mut it, "--engines")?;
                let want: Vec<&str> = list.split(',').map(str::trim).collect();
                for w in &want {
                    if !["sqlite", "tsink", "victoriametrics", "tierlog"].contains(w) {
                        return Err(format!(
                            "unknown engine {w:?} (sqlite, tsink, victoriametrics, tierlog)"
                        ));
                    }
                }
                a.variants = Variant::ALL
                    .into_iter()
                    .filter(|v| want.contains(&v.engine()))
                    .collect();
            }
            "--variants" => {
                a.variants = val(&mut it, "--variants")?
                    .split(',')
                    .map(|s| Variant::by_name(s.trim()).ok_or(format!("unknown variant {s:?}")))
                    .collect::<Result<_, _>>()?;
            }
            "--quick" => a.quick = true,
            "--runs" => {
                a.runs = val(&mut it, "--runs")?
                    .parse()
                    .map_err(|e| format!("--runs: {e}"))?
            }
            "--dir" => a.dir = Some(val(&mut it, "--dir")?.into()),
            "--child" => {
                let n = val(&mut it, "--child")?;
                a.child = Some(Variant::by_name(&n).ok_or(format!("unknown variant {n:?}"))?);
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if a.preset.is_some() == a.prom.is_some() {
        return Err(format!("give exactly one of --preset and --prom\n{USAGE}"));
    }
    if a.runs == 0 {
        a.runs = if a.quick { 3 } else { 10 };
    }
    if a.quick {
        a.preset = a.preset.map(Preset::quick);
    }
    Ok(a)
}

fn source(a: &Args) -> Result<Source, String> {
    match (&a.preset, &a.prom) {
        (Some(p), _) => Ok(Source::preset(*p)),
        (None, Some(f)) => Source::prom_file(f),
        (None, None) => unreachable!("checked in parse"),
    }
}

fn bench_dir(a: &Args) -> PathBuf {
    a.dir.clone().unwrap_or_else(|| {
        std::env::var_os("TIERLOG_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
    })
}

/// In the child: one variant in a fresh directory; prints its result as a JSON line.
fn child(a: &Args, v: Variant) -> Result<(), String> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("compare-{}-", v.name()))
        .tempdir_in(bench_dir(a))
        .map_err(|e| e.to_string())?;
    let m = run::run(v, source(a)?, dir.path(), a.runs)?;
    println!("{}", serde_json::to_string(&m).map_err(|e| e.to_string())?);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a = match parse(args.clone().into_iter()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(v) = a.child {
        return match child(&a, v) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{}: {e}", v.name());
                ExitCode::FAILURE
            }
        };
    }
    let what = match (&a.preset, &a.prom) {
        (Some(p), _) => format!("preset {} ({})", p.name, p.describe()),
        (_, Some(f)) => format!("file {}", f.display()),
        _ => unreachable!(),
    };
    eprintln!("workload: {what}; stores under {}", bench_dir(&a).display());
    let exe = std::env::current_exe().expect("own path");
    let mut rows: Vec<Measured> = Vec::new();
    let mut failed = false;
    for v in &a.variants {
        eprintln!("running {} ...", v.name());
        let out = Command::new(&exe)
            .args(&args)
            .args(["--child", v.name()])
            .stderr(std::process::Stdio::inherit())
            .output();
        let parsed = out.ok().filter(|o| o.status.success()).and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .last()
                .and_then(|l| serde_json::from_str::<Measured>(l).ok())
        });
        match parsed {
            Some(m) => {
                eprintln!(
                    "  {} samples in {:.2} s, {} bytes",
                    m.samples, m.ingest_secs, m.bytes
                );
                rows.push(m);
            }
            None => {
                eprintln!("  {} failed", v.name());
                failed = true;
            }
        }
    }
    println!("Workload: {what}.\n");
    print!("{}", table::markdown(&rows));
    println!();
    print!("{}", table::summary(&rows));
    for d in table::disagreements(&rows) {
        println!("\nWARNING: {d}");
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
