//! Logs and progress on stderr: tracing lines, and a progress bar only on a terminal.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;

/// `--log-format`: how stderr lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

static BAR: OnceLock<ProgressBar> = OnceLock::new();

/// `--log-format json`: every line reev writes to stderr is a JSON object, including the
/// lines written outside tracing (the final error, regressions, quarantined files).
static JSON: AtomicBool = AtomicBool::new(false);

/// Set the stderr format. Called as soon as it is known (before the config file is read, so
/// that an error reading it is JSON too), and again by `init`.
pub fn set_json(json: bool) {
    JSON.store(json, Ordering::Relaxed);
}

/// Does argv or the environment ask for JSON logs? For errors found while parsing argv,
/// before the parsed `--log-format` exists.
pub fn json_requested(args: &[std::ffi::OsString]) -> bool {
    let mut json = std::env::var("REEV_LOG_FORMAT").is_ok_and(|v| v == "json");
    let mut it = args.iter().map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if let Some(v) = a.strip_prefix("--log-format=") {
            json = v == "json";
        } else if a == "--log-format" {
            json = it.next().is_some_and(|v| v == "json");
        }
    }
    json
}

/// Lines below ERROR that [`line`] keeps instead of writing (`reev batch -q`: warnings such
/// as regressions are written only when the batch fails); `None`: write at once.
static HELD: Mutex<Option<Vec<u8>>> = Mutex::new(None);

/// Keep [`line`]'s warnings from now on, until [`release_held`].
pub fn hold_warnings() {
    if let Ok(mut h) = HELD.lock() {
        h.get_or_insert_with(Vec::new);
    }
}

/// Stop holding; write what was held when `write`, else drop it.
pub fn release_held(write: bool) {
    let held = HELD.lock().ok().and_then(|mut h| h.take());
    if let (Some(bytes), true) = (held, write) {
        let _ = std::io::stderr().lock().write_all(&bytes);
    }
}

/// One message on stderr outside tracing: `reev: <line>` per line as text, or one JSON object
/// shaped like tracing's JSON lines (timestamp, level, fields.message).
pub fn line(level: tracing::Level, message: &str) {
    let mut text = Vec::new();
    if JSON.load(Ordering::Relaxed) {
        let _ = writeln!(text, "{}", json_line(level, message));
    } else {
        for l in message.lines() {
            let _ = writeln!(text, "reev: {l}");
        }
    }
    if level != tracing::Level::ERROR {
        if let Ok(Some(held)) = HELD.lock().as_deref_mut() {
            held.extend_from_slice(&text);
            return;
        }
    }
    let _ = std::io::stderr().lock().write_all(&text);
}

/// One JSON object shaped like tracing's JSON lines (timestamp, level, fields.message).
pub fn json_line(level: tracing::Level, message: &str) -> String {
    serde_json::json!({
        "timestamp": crate::timestamp::rfc3339(chrono::Utc::now()),
        "level": level.as_str(),
        "fields": {"message": message},
    })
    .to_string()
}

/// Is stderr JSON (`--log-format json`)?
pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

#[derive(Debug, Clone, Copy)]
pub struct Verbosity {
    pub verbose: u8,
    pub quiet: bool,
    /// JSON lines instead of text.
    pub json: bool,
    /// The level when neither -v, -q nor RUST_LOG says otherwise.
    pub default_level: &'static str,
}

/// Install the tracing subscriber. `RUST_LOG` wins over -v / -q.
pub fn init(v: Verbosity) {
    set_json(v.json);
    let default = match (v.quiet, v.verbose) {
        (true, _) => "error",
        (false, 0) => v.default_level,
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| StderrAroundBar)
        .with_target(false);
    let _ = if v.json {
        builder.json().with_ansi(false).try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .try_init()
    };
}

/// Writes a log line to stderr, hiding the progress bar while it does.
struct StderrAroundBar;

impl Write for StderrAroundBar {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match BAR.get() {
            Some(bar) if !bar.is_hidden() => bar.suspend(|| std::io::stderr().write_all(buf))?,
            _ => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Progress of a run: a bar on a terminal, otherwise a log line every `every`.
pub struct Progress {
    bar: Option<ProgressBar>,
    state: Mutex<(Instant, u64, u64)>,
    total: u64,
    every: Duration,
}

impl Progress {
    pub fn new(total: u64, quiet: bool) -> Self {
        let bar =
            (!quiet && std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
                .then(|| {
                    let bar = BAR.get_or_init(|| ProgressBar::new(total)).clone();
                    bar.set_length(total);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{elapsed_precise} [{bar:30}] {pos}/{len} sessions, {msg} (eta {eta})",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar
                });
        Progress {
            bar,
            state: Mutex::new((Instant::now(), 0, 0)),
            total,
            every: Duration::from_secs(10),
        }
    }

    /// One more session done; `failed` when it did not succeed.
    pub fn tick(&self, failed: bool) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        st.1 += 1;
        st.2 += u64::from(failed);
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{} not succeeded", st.2));
            bar.inc(1);
        } else if st.0.elapsed() >= self.every {
            st.0 = Instant::now();
            tracing::info!(
                "progress: {}/{} sessions done, {} not succeeded",
                st.1,
                self.total,
                st.2
            );
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
