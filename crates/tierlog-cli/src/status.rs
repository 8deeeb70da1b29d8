//! What the CLI tells a person on stderr while and after it works: progress bars during long
//! commands and the one-line summary at the end.
//!
//! Bars are drawn only when stderr is a terminal (or `TIERLOG_PROGRESS=always`), never with
//! `--quiet` or `TIERLOG_PROGRESS=never`; when they are not drawn they cost an atomic or two.
//! `--quiet` also drops the summary line. Errors and warnings are not this module's: they always
//! print.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, TermLike};

/// Whether summaries and bars are shown, decided once at start-up.
#[derive(Debug, Clone, Copy)]
struct Mode {
    summaries: bool,
    bars: Bars,
}

/// Where bars go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bars {
    /// Not drawn.
    Off,
    /// Drawn on the stderr terminal.
    Terminal,
    /// Drawn on stderr with ANSI sequences even though it is not a terminal
    /// (`TIERLOG_PROGRESS=always`: for a pseudo-terminal the tool cannot detect, and tests).
    Forced,
}

static MODE: OnceLock<Mode> = OnceLock::new();

/// The environment variable that overrides terminal detection: `auto` (the default), `always`
/// or `never`.
pub const PROGRESS_ENV: &str = "TIERLOG_PROGRESS";

/// Decides, once, what is shown: `quiet` is `--quiet`.
pub fn init(quiet: bool) -> Result<(), String> {
    let env = std::env::var(PROGRESS_ENV).unwrap_or_default();
    let bars = match (quiet, env.as_str()) {
        (true, _) => Bars::Off,
        (false, "" | "auto") if std::io::stderr().is_terminal() => Bars::Terminal,
        (false, "" | "auto" | "never") => Bars::Off,
        (false, "always") => Bars::Forced,
        (false, other) => {
            return Err(format!(
                "{PROGRESS_ENV}={other:?}: expected auto, always or never"
            ));
        }
    };
    let _ = MODE.set(Mode {
        summaries: !quiet,
        bars,
    });
    Ok(())
}

fn mode() -> Mode {
    *MODE.get_or_init(|| Mode {
        summaries: true,
        bars: Bars::Off,
    })
}

/// Prints a command's closing line on stderr, unless `--quiet`.
pub fn summary(line: std::fmt::Arguments<'_>) {
    if mode().summaries {
        eprintln!("{line}");
    }
}

fn target() -> Option<ProgressDrawTarget> {
    match mode().bars {
        Bars::Off => None,
        Bars::Terminal => Some(ProgressDrawTarget::stderr_with_hz(10)),
        Bars::Forced => Some(ProgressDrawTarget::term_like_with_hz(
            Box::new(AnsiStderr),
            10,
        )),
    }
}

fn styled(len: Option<u64>, template: &str) -> ProgressBar {
    let Some(target) = target() else {
        return ProgressBar::hidden();
    };
    let style = ProgressStyle::with_template(template)
        .expect("bar templates are fixed")
        .progress_chars("=> ")
        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0}/s", s.per_sec());
        });
    let bar = ProgressBar::with_draw_target(len, target).with_style(style);
    // Drawn once at once, so even work that ends before the first steady tick shows its bar
    // (and a forced bar is always seen by the tests).
    bar.tick();
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// A bar over `total` bytes: how many were done, the rate, the time left; the message after it.
pub fn bytes_bar(what: &str, total: u64) -> ProgressBar {
    styled(
        Some(total),
        &format!(
            "{{spinner}} {what} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}}, {{eta}} left {{wide_msg}}"
        ),
    )
}

/// A spinner counting `unit`s with their rate (for input of unknown size); the message after it.
pub fn counter(what: &str, unit: &str) -> ProgressBar {
    styled(
        None,
        &format!("{{spinner}} {what}: {{human_pos}} {unit} ({{rate}}) {{elapsed}} {{wide_msg}}"),
    )
}

/// A spinner with a message and the time spent (for work of unknown length).
pub fn spinner(what: &str) -> ProgressBar {
    let bar = styled(None, "{spinner} {elapsed} {wide_msg}");
    bar.set_message(what.to_owned());
    bar
}

/// stderr as a terminal that is not one: ANSI cursor sequences, a fixed width.
#[derive(Debug)]
struct AnsiStderr;

impl AnsiStderr {
    fn put(&self, s: &str) -> std::io::Result<()> {
        std::io::stderr().lock().write_all(s.as_bytes())
    }
}

impl TermLike for AnsiStderr {
    fn width(&self) -> u16 {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(100)
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}A"))?;
        }
        Ok(())
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}B"))?;
        }
        Ok(())
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}C"))?;
        }
        Ok(())
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}D"))?;
        }
        Ok(())
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.put(&format!("{s}\n"))
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.put(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.put("\r\x1b[2K")
    }

    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
