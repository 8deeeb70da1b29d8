//! A metrics agent: samples this machine's `/proc` every second into a tierlog store.
//!
//! ```text
//! cargo run --release --example agent -- DIR [--seconds N]
//! ```
//!
//! CPU time per CPU and mode, context switches, interrupts and forks (`/proc/stat`, counters),
//! memory (`/proc/meminfo`, byte gauges), load averages (`/proc/loadavg`), network interfaces
//! (`/proc/net/dev`) and block devices (`/proc/diskstats`). Each metric's kind, unit and
//! description is registered at start; series handles are resolved once and cached, so a
//! sample costs a hash lookup and the write path takes `(handle, time, value)` triples.
//!
//! Runs `N` seconds, or until Ctrl-C / SIGTERM; either way the store is closed cleanly (all
//! data synced). A line every 10 s says how much was written. Run `examples/reader.rs` on the
//! same directory, even while the agent is running, to see the last hour.
//!
//! The sampling itself ([`Agent`], the `/proc` parser) lives in `tierlog_testkit::examples`,
//! where the integration tests drive it on synthetic `/proc` text; this file is the program
//! around it: arguments, the once-a-second loop, a clean close on Ctrl-C.

use std::time::Duration;

use tierlog::{Store, WriteSummary};
use tierlog_testkit::examples::agent::{Agent, FILES, config};
use tierlog_testkit::examples::procfs::ProcText;

/// Set by SIGINT or SIGTERM.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn stop_requested() -> bool {
    STOP.load(std::sync::atomic::Ordering::SeqCst)
}

#[cfg(unix)]
fn install_stop_handler() {
    extern "C" fn on_signal(_: libc::c_int) {
        // Only an atomic store: async-signal-safe.
        STOP.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    // SA_RESETHAND: a second Ctrl-C kills the process at once, should closing hang.
    // SAFETY: the handler only stores to an atomic; the struct is fully initialised.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESETHAND;
        libc::sigemptyset(&mut sa.sa_mask);
        for sig in [libc::SIGINT, libc::SIGTERM] {
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

#[cfg(not(unix))]
fn install_stop_handler() {}

struct Args {
    dir: String,
    seconds: Option<u64>,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut dir = None;
    let mut seconds = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                let v = it.next().ok_or("--seconds needs a value")?;
                seconds = Some(
                    v.parse::<u64>()
                        .map_err(|_| format!("--seconds {v}: not a whole number"))?,
                );
            }
            s if s.starts_with('-') => return Err(format!("unknown flag {s}")),
            s if dir.is_none() => dir = Some(s.to_owned()),
            s => return Err(format!("unexpected argument {s}")),
        }
    }
    Ok(Args {
        dir: dir.ok_or("missing DIR")?,
        seconds,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("agent: {e}\nusage: agent DIR [--seconds N]");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("agent: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> tierlog::Result<()> {
    install_stop_handler();
    let store = Store::open(&args.dir, config())?;
    let clock = store.config().clock.clone();
    let mut agent = Agent::new(&store, &FILES)?;
    let mut total = WriteSummary::default();
    let mut ticks = 0u64;
    let summary = |ticks: u64, total: &WriteSummary, series: usize| {
        println!(
            "agent: {ticks} s, {} samples written ({} rejected), {series} series, store {} bytes",
            total.accepted,
            total.rejected(),
            store.stats().total_bytes
        );
    };
    while !stop_requested() && args.seconds.is_none_or(|n| ticks < n) {
        let now = clock.now_ms();
        total.add(&agent.sample(&ProcText::read(&FILES), now)?);
        ticks += 1;
        if ticks.is_multiple_of(10) {
            summary(ticks, &total, agent.series());
        }
        if args.seconds.is_some_and(|n| ticks >= n) {
            break;
        }
        // Sleep to the start of the next second (raw points are per second: two samples in
        // one second would be averaged), waking every 100 ms to notice a stop.
        let next = (clock.now_ms().div_euclid(1000) + 1) * 1000;
        loop {
            let left = next - clock.now_ms();
            if left <= 0 || stop_requested() {
                break;
            }
            std::thread::sleep(Duration::from_millis(left.min(100) as u64));
        }
    }
    if !ticks.is_multiple_of(10) {
        summary(ticks, &total, agent.series());
    }
    drop(agent);
    store.close()?;
    println!("agent: store closed");
    Ok(())
}
