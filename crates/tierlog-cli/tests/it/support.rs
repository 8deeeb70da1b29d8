//! Running the `tierlog` binary from the tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `tierlog` with `args`.
pub fn tierlog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tierlog"))
        .args(args)
        .output()
        .expect("run tierlog")
}

/// Runs `tierlog` with `args`, `input` on its standard input.
pub fn tierlog_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tierlog"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run tierlog");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait for tierlog")
}

/// Runs `tierlog` with `args`, which must succeed; its standard output.
pub fn ok(args: &[&str]) -> String {
    let o = tierlog(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
