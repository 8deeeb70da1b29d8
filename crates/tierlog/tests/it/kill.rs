//! Kill test: a child process writes deterministic batches under `Sync::EveryWrite`, printing
//! `ACK n` after each write returns; the parent SIGKILLs it at a random moment, reopens the
//! store as the writer and checks that every acknowledged batch is there with exact values,
//! that nothing was invented, and that recovery found only crash artifacts (torn tails), never
//! damage. The child seals windows as it goes (60 s windows, a clock that jumps 11 s a batch),
//! so kills also land in sealing.
//!
//! The child is this same test binary, re-executed with `TIERLOG_KILL_CHILD=<dir>`: the
//! `child_writer` test does the writing when that variable is set and nothing otherwise.
//!
//! Environment:
//! - `TIERLOG_KILL_ITERATIONS`: kills to do (default 20, the CI run; `500` is the by-hand run:
//!   `TIERLOG_KILL_ITERATIONS=500 cargo test --release --test kill -- --nocapture`).
//! - `TIERLOG_KILL_SEED`: the seed of the random kill points (printed by every run).

use tierlog_testkit::helpers as common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{SplitMix64, T0, key, mean, parse_ack};
use tierlog::{Config, ManualClock, Store, Sync};

const CHILD_ENV: &str = "TIERLOG_KILL_CHILD";
const START_ENV: &str = "TIERLOG_KILL_START";
/// Clock step per batch: a bit more than a 60 s window every 5-6 batches.
const STEP_MS: i64 = 11_000;
/// A new series appears every this many batches, so index appends happen during the run.
const SERIES_EVERY: u64 = 40;
/// Kills per store directory before starting afresh (bounds the cost of long runs).
const ITERATIONS_PER_DIR: u64 = 25;

fn config(clock: Arc<ManualClock>) -> Config {
    Config {
        window_span: Duration::from_secs(60),
        grace: Duration::from_secs(3),
        ..Config::default()
    }
    .with_clock(clock)
    .with_sync(Sync::EveryWrite)
}

fn nan_with_payload(p: u64) -> f64 {
    f64::from_bits(0x7ff8_0000_0000_0000 | (p & 0xffff_ffff))
}

/// The samples of batch `n`: (series index, ts, value). Per series: two samples in the first
/// second (they average), then one in each of the next two seconds (bit-exact; sometimes NaN
/// with a payload, -0.0 or infinity).
fn batch_samples(n: u64) -> Vec<(usize, i64, f64)> {
    let base = T0 + n as i64 * STEP_MS;
    let nf = n as f64;
    let mut out = Vec::new();
    for s in 0..4usize {
        let sf = s as f64;
        out.push((s, base, nf * 0.1 + sf));
        out.push((s, base + 400, nf * 0.3 - sf * 7.7));
        out.push((s, base + 1_000, nf * 1.25 + sf * 0.001));
        let third = match (n + s as u64) % 9 {
            0 => nan_with_payload(n * 4 + s as u64),
            3 => -0.0,
            6 => f64::INFINITY,
            _ => -nf / 3.0 + sf,
        };
        out.push((s, base + 2_000, third));
    }
    out
}

/// Expected points of batch `n`: series key → [(second, bits)].
fn batch_points(n: u64) -> BTreeMap<String, Vec<(i64, u64)>> {
    let series = common::batch_series("kill", n, SERIES_EVERY);
    let mut by: BTreeMap<(usize, i64), Vec<f64>> = BTreeMap::new();
    for (s, ts, v) in batch_samples(n) {
        by.entry((s, ts - ts.rem_euclid(1000))).or_default().push(v);
    }
    let mut out: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
    for ((s, sec), vals) in by {
        let (m, l) = &series[s];
        let labels: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
        out.entry(key(m, &labels))
            .or_default()
            .push((sec, mean(&vals).to_bits()));
    }
    out
}

/// The child: writes batches from `TIERLOG_KILL_START` on until killed.
#[test]
fn child_writer() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return; // Not a child: nothing to do.
    };
    let start: u64 = std::env::var(START_ENV)
        .expect("start batch")
        .parse()
        .expect("start batch number");
    let clock = Arc::new(ManualClock::new(common::batch_clock(start, STEP_MS)));
    let store = Store::open(Path::new(&dir), config(clock.clone())).expect("child open");
    for n in start.. {
        clock.set(common::batch_clock(n, STEP_MS));
        common::write_batch_and_ack(
            &store,
            n,
            &common::batch_series("kill", n, SERIES_EVERY),
            &batch_samples(n),
        );
    }
}

/// What the parent knows across kills of one store directory.
struct History {
    /// Batches some child acknowledged.
    acked: BTreeSet<u64>,
    /// Highest batch any child may have started writing.
    max_started: Option<u64>,
}

/// Reopens the store as the writer and checks it against the history; returns the next batch
/// to write (one past the newest batch with any point in the store).
fn verify(dir: &Path, h: &History, ctx: &str) -> u64 {
    let clock = Arc::new(ManualClock::new(common::batch_clock(
        h.max_started.unwrap_or(0),
        STEP_MS,
    )));
    let store = common::reopen_after_kill(dir, config(clock), ctx);
    let got = common::all_points(&store, "kill_.*");
    // Where each stored point may come from: (series, second) → (batch, bits).
    let mut expected: BTreeMap<(String, i64), (u64, u64)> = BTreeMap::new();
    let upto = h.max_started.map_or(0, |m| m + 1);
    for n in 0..upto {
        for (k, pts) in batch_points(n) {
            for (t, bits) in pts {
                assert!(expected.insert((k.clone(), t), (n, bits)).is_none());
            }
        }
    }
    let mut present: BTreeMap<u64, usize> = BTreeMap::new();
    for (k, pts) in &got {
        for w in pts.windows(2) {
            assert!(w[0].0 < w[1].0, "{ctx}: {k}: points out of order: {w:?}");
        }
        for &(t, bits) in pts {
            match expected.get(&(k.clone(), t)) {
                None => panic!("{ctx}: {k} has a point at {t} that was never written"),
                Some(&(n, want)) => {
                    assert_eq!(
                        bits,
                        want,
                        "{ctx}: {k} at {t} (batch {n}): got {} want {}",
                        f64::from_bits(bits),
                        f64::from_bits(want)
                    );
                    *present.entry(n).or_default() += 1;
                }
            }
        }
    }
    for &n in &h.acked {
        let want: usize = batch_points(n).values().map(Vec::len).sum();
        let have = present.get(&n).copied().unwrap_or(0);
        assert_eq!(
            have, want,
            "{ctx}: acknowledged batch {n} has {have} of its {want} points"
        );
    }
    // A batch that was not acknowledged is there per window entirely or not at all (one frame
    // per window and batch).
    for (&n, &have) in &present {
        if h.acked.contains(&n) {
            continue;
        }
        let mut per_window: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
        for (k, pts) in batch_points(n) {
            for (t, bits) in pts {
                let e = per_window.entry(t.div_euclid(60_000)).or_default();
                e.0 += 1;
                if got
                    .get(&k)
                    .is_some_and(|p| p.binary_search(&(t, bits)).is_ok())
                {
                    e.1 += 1;
                }
            }
        }
        for (w, (want, have_w)) in per_window {
            assert!(
                have_w == 0 || have_w == want,
                "{ctx}: unacknowledged batch {n} is half there in window {w}: {have_w} of {want} points ({have} in all)"
            );
        }
    }
    let next = present.keys().next_back().map_or(0, |m| m + 1);
    store.close().expect("close after verify");
    next
}

#[test]
fn kill_during_writes_loses_nothing_acknowledged() {
    let iterations: u64 = std::env::var("TIERLOG_KILL_ITERATIONS")
        .ok()
        .map(|s| s.parse().expect("TIERLOG_KILL_ITERATIONS"))
        .unwrap_or(20);
    let seed = SplitMix64::seed_from_env("TIERLOG_KILL_SEED");
    println!("kill test: {iterations} iterations, TIERLOG_KILL_SEED={seed:#x}");
    let mut rng = SplitMix64(seed);
    let started = Instant::now();

    let mut dir = tempfile::tempdir().expect("tempdir");
    let mut h = History {
        acked: BTreeSet::new(),
        max_started: None,
    };
    let mut next = 0u64;
    let mut total_acks = 0u64;
    let mut sealed_seen = 0u64;
    for it in 0..iterations {
        if it > 0 && it % ITERATIONS_PER_DIR == 0 {
            sealed_seen += sealed_segments(dir.path());
            dir = tempfile::tempdir().expect("tempdir");
            h = History {
                acked: BTreeSet::new(),
                max_started: None,
            };
            next = 0;
        }
        let ctx = format!("seed {seed:#x}, iteration {it}, start batch {next}");
        let kill_after = rng.range(0, 30);
        let extra_us = if rng.range(0, 2) == 0 {
            0
        } else {
            rng.range(0, 3_000)
        };
        let mut child = common::spawn_child(
            concat!(module_path!(), "::child_writer"),
            &[
                (CHILD_ENV, dir.path().display().to_string()),
                (START_ENV, next.to_string()),
            ],
        );
        let mut stdout = BufReader::new(child.stdout.take().expect("child stdout"));
        let mut acks: Vec<u64> = Vec::new();
        let mut line = String::new();
        let mut eof = false;
        while (acks.len() as u64) < kill_after {
            line.clear();
            if stdout.read_line(&mut line).expect("read child stdout") == 0 {
                eof = true;
                break;
            }
            if let Some(n) = parse_ack(&line) {
                acks.push(n);
            }
        }
        if !eof {
            if extra_us > 0 {
                std::thread::sleep(Duration::from_micros(extra_us));
            }
            child.kill().expect("SIGKILL child");
        }
        let status = child.wait().expect("wait child");
        // Acknowledgements printed before the kill but not read yet count too.
        let mut rest = String::new();
        stdout
            .read_to_string(&mut rest)
            .expect("drain child stdout");
        for l in rest.split_inclusive('\n') {
            if let Some(n) = l.strip_suffix('\n').and_then(parse_ack) {
                acks.push(n);
            }
        }
        if eof {
            let err = common::child_stderr(&mut child);
            panic!("{ctx}: child ended on its own ({status}) after {acks:?}; stderr:\n{err}");
        }
        common::assert_acks_from(&acks, next, &ctx);
        total_acks += acks.len() as u64;
        h.acked.extend(acks.iter().copied());
        // The child may have been inside the write after its last acknowledgement.
        let maybe = acks.last().map_or(next, |l| l + 1);
        h.max_started = Some(h.max_started.map_or(maybe, |m| m.max(maybe)));
        next = verify(dir.path(), &h, &ctx);
        assert!(
            h.acked.iter().all(|&a| a < next),
            "{ctx}: next batch {next} below an acknowledged one"
        );
    }
    sealed_seen += sealed_segments(dir.path());
    println!(
        "kill test: {iterations} kills, {total_acks} acknowledged batches, {sealed_seen} sealed segments, {:.1?}",
        started.elapsed()
    );
    if total_acks > 3 * 60_000 / STEP_MS as u64 {
        assert!(
            sealed_seen > 0,
            "seed {seed:#x}: windows should have been sealed during the run"
        );
    }
}

fn sealed_segments(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join(tierlog::layout::RAW_DIR))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| common::is_segment(e.path()))
                .count() as u64
        })
        .unwrap_or(0)
}
