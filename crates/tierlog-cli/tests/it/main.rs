//! Integration tests, one module per behaviour, linked into one binary.

mod cli;
mod cli_docs;
mod cli_output;
mod cli_progress;
mod forward;
mod forward_late;
mod forward_prometheus;
mod forward_support;
mod hostile;
mod import;
mod late;
mod promql;
mod serve;
mod serve_kill;
mod step_sources;
mod support;
