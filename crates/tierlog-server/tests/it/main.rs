//! Integration tests: a server on an ephemeral loopback port over a small store, one module
//! per behaviour, linked into one binary.

mod access;
mod api;
mod fuzz_corpus;
mod grafana;
mod metrics;
mod page;
mod promtool;
mod read;
mod support;
mod tls;
mod write;
