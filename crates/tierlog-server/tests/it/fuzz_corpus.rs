//! Replays the committed corpora of the write and read decoders' fuzz targets
//! (`fuzz/corpus/<target>/*`) through the `tierlog_testkit::fuzzing` entry points the targets
//! call (the engine's `fuzz_corpus` test replays the others), plus the regressions the fuzzer
//! found, so an ordinary `cargo test` checks them.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use tierlog_testkit::fuzzing;

type Target = fn(&[u8]);

/// The targets replayed here; `crates/tierlog/tests/it/fuzz_corpus.rs` lists them too.
const TARGETS: &[(&str, Target)] = &[
    ("remote_write_decode", fuzzing::remote_write_decode),
    ("prom_import_decode", fuzzing::prom_import_decode),
    ("influx_write_decode", fuzzing::influx_write_decode),
    ("remote_read_decode", fuzzing::remote_read_decode),
];

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(name)
}

/// Runs every file of `fuzz/corpus/<name>` through `f`; reports all failing files at once.
fn replay(name: &str, f: Target) {
    let dir = corpus(name);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{}: fewer than 3 seeds", dir.display());
    let mut failed = Vec::new();
    for path in &files {
        let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if panic::catch_unwind(AssertUnwindSafe(|| f(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{name}: {} of {} corpus inputs fail (reproduce with `cargo fuzz run {name} FILE`):\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}

#[test]
fn remote_write_decode() {
    replay(TARGETS[0].0, TARGETS[0].1);
}

#[test]
fn prom_import_decode() {
    replay(TARGETS[1].0, TARGETS[1].1);
}

#[test]
fn influx_write_decode() {
    replay(TARGETS[2].0, TARGETS[2].1);
}

#[test]
fn remote_read_decode() {
    replay(TARGETS[3].0, TARGETS[3].1);
}
