//! Executable documentation: every `tierlog …` command line in the fenced code blocks of
//! README.md and docs/**/*.md, and every example in `tierlog help COMMAND`, runs against a
//! store built from examples/node.prom, and none may end in a usage error (exit 2) or a
//! panic. An example that no longer parses fails here instead of failing a reader.
//!
//! What counts as a command line, in a fenced block of any language:
//! - a line starting with `tierlog ` or `$ tierlog ` (a prompt), or `cargo run [--release] [-p tierlog-cli] --`
//!   followed by the arguments (a source checkout's `tierlog`); lines ending in `\` continue
//!   on the next; `&&` and `;` separate commands; of a pipeline (`|`) only the first
//!   command is tierlog's; redirections (`> FILE`, `2>&1`) are dropped. Output lines
//!   (without a prompt) in `text` blocks are not commands.
//! - in `tierlog help COMMAND`, each indented `tierlog …` line after `Example:`/`Examples:`.
//!
//! Substitutions (words are split as a POSIX shell would, quotes removed):
//! - a store directory — `DIR`, `store`, `./store`, `$d/store`, `/var/lib/agent/metrics`,
//!   `/tmp/metrics`, also as the start of a path (`store/state`) — becomes a copy of the
//!   store built from examples/node.prom, one copy per command (so that `maintain` or
//!   `repair` cannot change what the next command sees); for `ingest` it becomes a new,
//!   empty directory, as on a first run;
//! - `FILE` becomes the store's `state` file, `SEL`/`SELECTOR` `node_load1`, `N` `1`,
//!   `URL` or any http(s) URL an unreachable local one (`http://127.0.0.1:9/api/v1/write`);
//! - `examples/…` is the repository's file; another input file an `ingest` names (e.g.
//!   `metrics.lp`) is created in the working directory with one valid line of its format;
//! - a file given to `--bearer-token-file`, `--read-token-file`, `--write-token-file` or
//!   `--basic-password-file` is a token file written for the test (`--read-token-file`'s
//!   a different token), one given to `--basic-auth-file` a `user:s3cret` line;
//! - `forward` gets `--once` and `--max-attempts 1` when it has not got them (else it would
//!   run until stopped, retrying the unreachable receiver);
//! - `serve` listens on `127.0.0.1:0` whatever `--listen` says, and gets SIGTERM once it
//!   prints `listening on …` (it must then stop by itself, exit 0);
//! - each command runs in its own empty working directory (files it writes, like `load.svg`,
//!   land there) with standard input empty.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository's root: the nearest ancestor of this crate's directory with README.md and
/// examples/node.prom.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("README.md").is_file() && d.join("examples/node.prom").is_file())
        .expect("README.md and examples/node.prom above the crate")
        .to_path_buf()
}

/// One documented command: where it was found and its words (without `tierlog`).
#[derive(Debug, Clone)]
struct Example {
    source: String,
    words: Vec<String>,
}

/// Splits a command line into words as a POSIX shell would (single quotes, double quotes
/// with backslash escapes, backslashes outside quotes); control operators (`|`, `&&`, `;`,
/// `||`) and redirections become words of their own, marked by `Word::Op`.
fn shell_words(line: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = cur.get_or_insert_with(String::new);
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            '"' => {
                let w = cur.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            w.push(chars.next().unwrap());
                        }
                        c => w.push(c),
                    }
                }
            }
            '\\' => {
                if let Some(c) = chars.next() {
                    cur.get_or_insert_with(String::new).push(c);
                }
            }
            '|' | '&' | ';' | '>' | '<' => {
                // `2>&1`, `2>`: a redirection starting with a file descriptor number.
                let mut op = String::new();
                if matches!(c, '>' | '<')
                    && cur
                        .as_deref()
                        .is_some_and(|w| w.chars().all(|d| d.is_ascii_digit()))
                {
                    op = cur.take().unwrap_or_default();
                }
                if let Some(w) = cur.take() {
                    words.push(Word::Text(w));
                }
                op.push(c);
                while let Some(&n) = chars.peek() {
                    let redirect = op.contains(['>', '<']);
                    if matches!(n, '|' | '&' | '>' | '<')
                        || (redirect && op.ends_with('&') && n.is_ascii_digit())
                    {
                        op.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                words.push(Word::Op(op));
            }
            c if c.is_whitespace() => {
                if let Some(w) = cur.take() {
                    words.push(Word::Text(w));
                }
            }
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = cur.take() {
        words.push(Word::Text(w));
    }
    words
}

#[derive(Debug, Clone, PartialEq)]
enum Word {
    Text(String),
    Op(String),
}

/// The tierlog commands of one shell line.
fn commands_of_line(line: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut cmd: Vec<Word> = Vec::new();
    let mut in_pipe = false;
    let flush = |cmd: &mut Vec<Word>, out: &mut Vec<Vec<String>>| {
        let mut words: Vec<String> = Vec::new();
        let mut it = std::mem::take(cmd).into_iter();
        while let Some(w) = it.next() {
            match w {
                Word::Text(t) => words.push(t),
                // A redirection: drop it and, unless it names its target itself (`2>&1`),
                // the file after it.
                Word::Op(op) if !op.ends_with("&1") && !op.ends_with("&2") => {
                    it.next();
                }
                Word::Op(_) => {}
            }
        }
        let rest = if words.first().is_some_and(|w| w == "tierlog") {
            Some(words[1..].to_vec())
        } else if words.len() > 2 && words[0] == "cargo" && words[1] == "run" {
            // `cargo run [--release] [-p tierlog-cli] -- ARGS`, not `--example` or another
            // package.
            let dashes = words.iter().position(|w| w == "--");
            let flags_ok = dashes.is_some_and(|i| {
                let mut flags = words[2..i].iter();
                while let Some(f) = flags.next() {
                    match f.as_str() {
                        "--release" | "-q" => {}
                        "-p" | "--package" if flags.next().is_some_and(|p| p == "tierlog-cli") => {}
                        _ => return false,
                    }
                }
                true
            });
            dashes.filter(|_| flags_ok).map(|i| words[i + 1..].to_vec())
        } else {
            None
        };
        if let Some(rest) = rest {
            out.push(rest);
        }
    };
    for w in shell_words(line) {
        match &w {
            Word::Op(op) if op == "|" => {
                if !in_pipe {
                    flush(&mut cmd, &mut out);
                }
                cmd.clear();
                in_pipe = true;
            }
            Word::Op(op) if op == "&&" || op == "||" || op == ";" => {
                if !in_pipe {
                    flush(&mut cmd, &mut out);
                }
                cmd.clear();
                in_pipe = false;
            }
            _ => cmd.push(w),
        }
    }
    if !in_pipe {
        flush(&mut cmd, &mut out);
    }
    out
}

/// The command lines of the fenced code blocks of a markdown text.
fn markdown_examples(name: &str, text: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            pending.clear();
            continue;
        }
        if !in_block {
            continue;
        }
        let line = line.trim();
        let line = line.strip_prefix("$ ").unwrap_or(line);
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        let full = std::mem::take(&mut pending) + line;
        for words in commands_of_line(&full) {
            out.push(Example {
                source: format!("{name}:{}: {full}", i + 1),
                words,
            });
        }
    }
    out
}

fn tierlog() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tierlog"))
}

fn stdout_of(args: &[&str]) -> String {
    let o = tierlog().args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {o:?}");
    String::from_utf8(o.stdout).unwrap()
}

/// Every command of `tierlog --help` (but `help`) with the examples of its help text.
fn help_examples() -> Vec<(String, Vec<Example>)> {
    let top = stdout_of(&["--help"]);
    let names: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_owned)
        .collect();
    assert!(names.len() >= 10, "commands of --help: {names:?}");
    names
        .into_iter()
        .map(|name| {
            let text = stdout_of(&["help", &name]);
            let mut examples = Vec::new();
            let mut in_examples = false;
            for line in text.lines() {
                if line.starts_with("Example") {
                    in_examples = true;
                    continue;
                }
                if in_examples && !line.starts_with(' ') {
                    in_examples = false;
                }
                if in_examples {
                    for words in commands_of_line(line.trim()) {
                        examples.push(Example {
                            source: format!("tierlog help {name}: {}", line.trim()),
                            words,
                        });
                    }
                }
            }
            (name, examples)
        })
        .collect()
}

/// Copies the directory tree `from` to `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// The store directories examples are written with.
const STORE_WORDS: &[&str] = &[
    "DIR",
    "store",
    "./store",
    "$d/store",
    "/var/lib/agent/metrics",
    "/tmp/metrics",
];

/// A line of each input format, for input files an example names but the repository lacks.
fn input_line(file: &str) -> &'static str {
    match Path::new(file).extension().and_then(|e| e.to_str()) {
        Some("lp" | "influx" | "line") => "cpu,host=a usage_idle=97.5 1700000000\n",
        Some("csv") => "metric,ts,value,host\ncpu,1700000000000,1,a\n",
        Some("om" | "openmetrics") => "cpu 1 1700000000\n# EOF\n",
        _ => "cpu 1 1700000000000\n",
    }
}

/// Applies the substitution rules of the module comment; returns the arguments to run.
fn substitute(ex: &Example, root: &Path, base: &Path, work: &Path) -> Vec<String> {
    let cmd = ex.words.first().map(String::as_str).unwrap_or("");
    let store = work.join("store");
    if cmd == "ingest" {
        std::fs::create_dir_all(&store).unwrap();
    } else {
        copy_tree(base, &store);
    }
    let url = "http://127.0.0.1:9/api/v1/write";
    let mut out: Vec<String> = Vec::new();
    let mut prev = String::new();
    for (i, w) in ex.words.iter().enumerate() {
        let w = w.clone();
        let store_path = STORE_WORDS.iter().find_map(|s| {
            if w == *s {
                Some(store.clone())
            } else {
                w.strip_prefix(&format!("{s}/"))
                    .map(|rest| store.join(rest))
            }
        });
        let arg = if prev == "--basic-auth-file" {
            let file = work.join("users");
            std::fs::write(&file, "user:s3cret\n").unwrap();
            file.display().to_string()
        } else if prev == "--read-token-file" {
            // Distinct from the other tokens, as the server requires.
            let file = work.join("read-token");
            std::fs::write(&file, "r3ad\n").unwrap();
            file.display().to_string()
        } else if [
            "--bearer-token-file",
            "--basic-password-file",
            "--write-token-file",
        ]
        .contains(&prev.as_str())
        {
            let token = work.join("token");
            std::fs::write(&token, "s3cret\n").unwrap();
            token.display().to_string()
        } else if let Some(p) = store_path {
            p.display().to_string()
        } else if w == "FILE" {
            store
                .join(tierlog::layout::STATE_FILE)
                .display()
                .to_string()
        } else if w == "SEL" || w == "SELECTOR" {
            "node_load1".to_owned()
        } else if w == "N" {
            "1".to_owned()
        } else if w == "URL" || w.starts_with("http://") || w.starts_with("https://") {
            url.to_owned()
        } else if w.starts_with("examples/") {
            root.join(&w).display().to_string()
        } else if cmd == "ingest" && i == 2 && w != "-" && !w.starts_with('-') {
            let f = work.join(&w);
            std::fs::write(&f, input_line(&w)).unwrap();
            f.display().to_string()
        } else {
            w
        };
        prev = arg.clone();
        out.push(arg);
    }
    if cmd == "serve" {
        match out.iter().position(|w| w == "--listen") {
            Some(i) if i + 1 < out.len() => out[i + 1] = "127.0.0.1:0".to_owned(),
            _ => out.extend(["--listen".to_owned(), "127.0.0.1:0".to_owned()]),
        }
    }
    if cmd == "forward" {
        for (flag, value) in [("--once", None), ("--max-attempts", Some("1"))] {
            if !out.iter().any(|w| w == flag) {
                out.push(flag.to_owned());
                out.extend(value.map(str::to_owned));
            }
        }
    }
    out
}

/// Runs `ex` in a fresh working directory; returns a failure's description.
fn run(ex: &Example, root: &Path, base: &Path) -> Option<String> {
    let work = tempfile::tempdir().unwrap();
    let args = substitute(ex, root, base, work.path());
    // Output goes to files: a pipe nobody reads while waiting would fill up and stall it.
    let out_dir = tempfile::tempdir().unwrap();
    let err_file = out_dir.path().join("stderr");
    let out_file = out_dir.path().join("stdout");
    let mut child = tierlog()
        .args(&args)
        .current_dir(work.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(std::fs::File::create(&err_file).unwrap())
        .spawn()
        .unwrap();
    // A guard against a hang (an example that waits for input or a signal), not a time
    // limit on the work: far longer than any of these commands takes.
    let mut waited = 0;
    let mut serving = args.first().is_some_and(|a| a == "serve");
    while child.try_wait().unwrap().is_none() && waited < 30_000 {
        if serving && std::fs::read_to_string(&out_file).is_ok_and(|o| o.contains("listening on "))
        {
            // SAFETY: kill(2) on our own child's pid.
            #[allow(unsafe_code)]
            let r = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            assert_eq!(r, 0, "SIGTERM to tierlog serve");
            serving = false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
        let _ = child.wait();
        return Some(format!("{}\n  ran {args:?}: did not finish", ex.source));
    }
    let status = child.wait().unwrap();
    let err = std::fs::read_to_string(&err_file).unwrap_or_default();
    let code = status.code();
    (code == Some(2) || code.is_none() || err.contains("panicked")).then(|| {
        format!(
            "{}\n  ran {args:?}: exit {code:?}\n  {}",
            ex.source,
            err.trim()
        )
    })
}

#[test]
fn command_lines_are_extracted_as_a_shell_reads_them() {
    let ex = markdown_examples(
        "t.md",
        "text\n`tierlog inline DIR`\n```sh\n$ tierlog a 'x{k=\"v\"}' --from -1h | jq .t\n\
         some output\nd=$(mktemp -d) && cargo run --release -- b \"$d/store\" && cargo run --example c\n\
         tierlog d \\\n  --flag > out.txt 2>&1; tierlog e\n\
         cargo run --release -p tierlog-cli -- f && cargo run -p tierlog-compare -- g\n```\ntierlog outside\n",
    );
    let words: Vec<Vec<String>> = ex.into_iter().map(|e| e.words).collect();
    let want: Vec<Vec<&str>> = vec![
        vec!["a", "x{k=\"v\"}", "--from", "-1h"],
        vec!["b", "$d/store"],
        vec!["d", "--flag"],
        vec!["e"],
        vec!["f"],
    ];
    assert_eq!(words, want);
}

#[test]
fn readme_docs_and_help_examples_are_not_usage_errors() {
    let root = repo_root();
    let base_dir = tempfile::tempdir().unwrap();
    let base = base_dir.path().join("store");
    let node = root.join("examples/node.prom");
    let o = tierlog()
        .args([
            "ingest",
            base.to_str().unwrap(),
            node.to_str().unwrap(),
            "--replay",
            "-q",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");

    let mut examples = Vec::new();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let from_readme = markdown_examples("README.md", &readme);
    // The quick start's `cargo run -p tierlog-cli -- …` lines are among them.
    assert!(
        from_readme
            .iter()
            .any(|e| e.words.first().is_some_and(|w| w == "ingest")
                && e.words.iter().any(|w| w == "$d/store")),
        "the quick start is not among README's command lines: {from_readme:?}"
    );
    assert!(
        from_readme.len() >= 3,
        "only {} command lines found in README.md: {from_readme:?}",
        from_readme.len()
    );
    examples.extend(from_readme);
    let mut docs = Vec::new();
    let mut dirs = vec![root.join("docs")];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                docs.push(p);
            }
        }
    }
    docs.sort();
    for p in docs {
        let text = std::fs::read_to_string(&p).unwrap();
        let name = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
        examples.extend(markdown_examples(&name, &text));
    }
    // The manual lives in docs/: together the pages must show the commands in use.
    assert!(
        examples.len() >= 25,
        "only {} command lines found in README.md and docs/",
        examples.len()
    );
    for (name, ex) in help_examples() {
        assert!(!ex.is_empty(), "`tierlog help {name}` shows no example");
        examples.extend(ex);
    }
    let failures: Vec<String> = examples
        .iter()
        .filter_map(|ex| run(ex, &root, &base))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} documented commands fail:\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n")
    );
}
