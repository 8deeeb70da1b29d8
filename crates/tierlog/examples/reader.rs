//! Prints the last hour of some series of a tierlog store in 60 s buckets.
//!
//! ```text
//! cargo run --release --example reader -- DIR [SELECTOR]
//! ```
//!
//! `SELECTOR` is PromQL-style (`proc_cpu_jiffies_total{cpu="all",mode=~"user|system"}`); the
//! default is the load averages the `agent` example writes. The store is opened read-only, so
//! this works while the agent is writing. For each series it prints a table: bucket start
//! (RFC 3339, UTC), points, min, max, avg and p95 (and, for counters, the increase over the
//! bucket), from `Store::query_step`.
//!
//! The query and the tables live in `tierlog_testkit::examples::reader`, where the
//! integration tests check them against the raw points; this file is the program around them.

use tierlog::{Config, Selector, Store};
use tierlog_testkit::examples::reader::{DEFAULT_SELECTOR, last_hour, render};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, selector) = match args.as_slice() {
        [dir] => (dir, DEFAULT_SELECTOR),
        [dir, sel] => (dir, sel.as_str()),
        _ => {
            eprintln!("usage: reader DIR [SELECTOR]");
            std::process::exit(2);
        }
    };
    let selector: Selector = match selector.parse() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("reader: {e}");
            std::process::exit(2);
        }
    };
    let result = Store::open_read_only(dir, Config::default()).and_then(|store| {
        let now = store.config().clock.now_ms();
        last_hour(&store, &selector, now)
    });
    match result {
        Ok(r) => {
            for w in &r.warnings {
                eprintln!("reader: warning: {w}");
            }
            if r.series.is_empty() {
                eprintln!("reader: no series match {selector} in the last hour");
            }
            print!("{}", render(&r));
        }
        Err(e) => {
            eprintln!("reader: {e}");
            std::process::exit(1);
        }
    }
}
