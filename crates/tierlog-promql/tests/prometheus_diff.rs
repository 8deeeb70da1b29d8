//! Differential test against the real Prometheus 2.42 (the Debian package's
//! `/usr/bin/prometheus` and `/usr/bin/promtool`; `.ci/run` installs them).
//!
//! A generated data set (3 hours of counters with resets and gaps, gauges, a CPU family and a
//! classic histogram, every 15 s) is backfilled into a Prometheus TSDB with `promtool tsdb
//! create-blocks-from openmetrics` and written into a tierlog store. Every expression of the
//! corpus (`diff/corpus.rs`) runs on both as range queries (three start/end/step
//! combinations) and as instant queries (two times); the answers must agree series by
//! series (`diff/compare.rs`), or the expression must be listed in `diff/deviations.txt`
//! with the reason for the deviation.
//!
//! Skipped, saying so, when either binary is absent (`TIERLOG_PROMETHEUS` and
//! `TIERLOG_PROMTOOL` name others). `TIERLOG_PROMDIFF_SELFCHECK=1` compares Prometheus with
//! itself (must agree everywhere); `=perturb` compares it with a copy of itself whose first
//! value of every answer is changed (every such answer must be caught). `TIERLOG_PROMDIFF_FILTER=TEXT`
//! runs only the expressions containing TEXT; `TIERLOG_PROMDIFF_VERBOSE=1` prints the errors
//! both report.

mod diff;

use diff::run::{Errors, differential, tierlog_store};
use diff::target::InProcess;

#[test]
fn tierlog_answers_as_prometheus_does() {
    differential(Errors::Any, |ds, dir| {
        Box::new(InProcess {
            store: tierlog_store(ds, dir),
            opts: tierlog_promql::Options::default(),
        })
    });
}
