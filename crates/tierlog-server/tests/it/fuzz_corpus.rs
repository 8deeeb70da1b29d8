//! Replays the committed corpora of the write and read decoders' fuzz targets
//! (`fuzz/corpus/<target>/*`) through the `tierlog_testkit::fuzzing` entry points the targets
//! call (the engine's `fuzz_corpus` test replays the others), plus the regressions the fuzzer
//! found, so an ordinary `cargo test` checks them.

use tierlog_testkit::fuzzing::{self, replay_corpus};

type Target = fn(&[u8]);

/// The targets replayed here; `crates/tierlog/tests/it/fuzz_corpus.rs` lists them too.
const TARGETS: &[(&str, Target)] = &[
    ("remote_write_decode", fuzzing::remote_write_decode),
    ("prom_import_decode", fuzzing::prom_import_decode),
    ("influx_write_decode", fuzzing::influx_write_decode),
    ("remote_read_decode", fuzzing::remote_read_decode),
];

#[test]
fn remote_write_decode() {
    replay_corpus(TARGETS[0].0, TARGETS[0].1);
}

#[test]
fn prom_import_decode() {
    replay_corpus(TARGETS[1].0, TARGETS[1].1);
}

#[test]
fn influx_write_decode() {
    replay_corpus(TARGETS[2].0, TARGETS[2].1);
}

#[test]
fn remote_read_decode() {
    replay_corpus(TARGETS[3].0, TARGETS[3].1);
}
