//! One session as a tree (`reev show SESSION`): found as a session file, or by id (or a
//! unique prefix) through the store's ledger of loaded files; rendered as text.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::session::{self, SessionFile};
use crate::store::{self, Mode};

#[derive(Debug)]
pub struct ShowOptions {
    /// A session id (or a unique prefix of one), or the path of a session file.
    pub session: String,
    pub db: PathBuf,
    pub wait: Duration,
    /// Bytes of stdout and stderr shown (their tails).
    pub tail: usize,
}

/// The session file `opts.session` names: a path as given, else the file a session id (or
/// unique prefix) was loaded from.
pub fn session_path(opts: &ShowOptions) -> Result<PathBuf> {
    if Path::new(&opts.session).is_file() {
        Ok(PathBuf::from(&opts.session))
    } else {
        locate(opts)
    }
}

/// The session file at `path`, rendered as a tree with `opts.tail` bytes of its output,
/// control characters made visible (everything in a session may come from the agent).
pub fn show(opts: &ShowOptions, path: &Path) -> Result<String> {
    let s = session::read(path).map_err(|e| Error::input(format!("{}: {e}", path.display())))?;
    Ok(crate::term::visible(&render(&s, path, opts.tail)).into_owned())
}

/// Find the session file through the loaded-files ledger.
fn locate(opts: &ShowOptions) -> Result<PathBuf> {
    let id = &opts.session;
    if id.len() < 4 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::input(format!(
            "`{id}` is neither a session file nor a session id (hex, 4+ characters)"
        )));
    }
    let conn = store::open(&opts.db, Mode::ReadOnly, opts.wait)?;
    let mut st = conn
        .prepare("SELECT DISTINCT session_id, path FROM loaded_files WHERE session_id LIKE ? || '%' ORDER BY session_id, path")
        .map_err(|e| Error::env(format!("cannot look up session {id}: {e}")))?;
    let found: Vec<(String, String)> = st
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(|e| Error::env(format!("cannot look up session {id}: {e}")))?;
    let mut ids: Vec<&str> = found.iter().map(|(s, _)| s.as_str()).collect();
    ids.dedup();
    match ids.len() {
        0 => Err(Error::input(format!(
            "no session `{id}` in {}",
            opts.db.display()
        ))),
        1 => found
            .iter()
            .map(|(_, p)| PathBuf::from(p))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                Error::input(format!(
                    "session {} was loaded from {}, which is gone",
                    ids[0], found[0].1
                ))
            }),
        n => Err(Error::input(format!(
            "`{id}` matches {n} sessions; give more characters"
        ))),
    }
}

fn tail(text: &str, n: usize) -> &str {
    if text.len() <= n {
        return text;
    }
    let mut start = text.len() - n;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

fn oneline(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 100 {
        s.chars().take(99).chain(['…']).collect()
    } else {
        s
    }
}

/// An agent's string (event type, key, metric name) on one line: a newline in it would
/// print as a line of the tree, e.g. a forged `├── status: success`.
fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    crate::term::visible_one_line(s)
}

pub fn render(s: &SessionFile, path: &Path, tail_bytes: usize) -> String {
    let mut o = String::new();
    header(&mut o, s, path);
    for (label, f) in [("setup", &s.setup), ("teardown", &s.teardown)] {
        if let Some(f) = f {
            fixture(&mut o, label, f, tail_bytes);
        }
    }
    assertions(&mut o, s);
    events(&mut o, s);
    spans(&mut o, s);
    if !s.metrics.is_empty() {
        let m: Vec<String> = s
            .metrics
            .iter()
            .map(|(k, v)| format!("{}={v}", one_line(k)))
            .collect();
        let _ = writeln!(o, "├── metrics: {}", m.join(", "));
    }
    output(&mut o, s, tail_bytes);
    o
}

/// Which session, how it ended, what it used and cost.
fn header(o: &mut String, s: &SessionFile, path: &Path) {
    let _ = writeln!(o, "session {} (run {})", s.session_id, s.run_id);
    let _ = writeln!(o, "├── file: {}", path.display());
    let _ = writeln!(
        o,
        "├── benchmark: {} (sha256 {})",
        s.benchmark_id,
        &s.benchmark_sha256[..s.benchmark_sha256.len().min(12)]
    );
    let try_note = match s.try_number {
        1 => String::new(),
        k => format!(", try {k}"),
    };
    let _ = writeln!(o, "├── agent: {}, attempt {}{try_note}", s.agent, s.attempt);
    if let Some(port) = s.port {
        let _ = writeln!(o, "├── port: {port}");
    }
    let _ = writeln!(
        o,
        "├── status: {}, score {} (threshold {:.3})",
        s.status.as_str(),
        // An `error` session was not judged: it has no score, whatever its file credited.
        match s.status {
            crate::session::Status::Error => format!("{} (not judged)", crate::report::NONE),
            _ => format!("{:.3}", s.score),
        },
        s.pass_threshold
    );
    if let Some(e) = &s.error {
        let _ = writeln!(o, "├── error: {}", one_line(e));
    }
    let ended = match (s.exit_code, s.signal) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "did not run".into(),
    };
    let _ = writeln!(
        o,
        "├── {ended}; {} ms of {} ms allowed; cpu {} ms user + {} ms system; peak rss {:.1} MiB",
        s.duration_ms,
        s.timeout_ms,
        s.cpu_user_ms,
        s.cpu_system_ms,
        s.peak_rss_bytes as f64 / 1048576.0
    );
    if let (Some(input), Some(output)) = (s.input_tokens, s.output_tokens) {
        let cost = match s.cost_usd {
            Some(c) => format!("cost {}", crate::report::usd(Some(c))),
            None => "cost unknown (a model without a price)".to_string(),
        };
        let _ = writeln!(o, "├── tokens: {input} in + {output} out; {cost}");
    }
}

/// The assertions, with expected and actual values for each that failed.
fn assertions(o: &mut String, s: &SessionFile) {
    let passed = s.assertions.iter().filter(|a| a.passed).count();
    let _ = writeln!(o, "├── assertions ({passed}/{} passed)", s.assertions.len());
    for (i, a) in s.assertions.iter().enumerate() {
        let branch = if i + 1 == s.assertions.len() {
            "└──"
        } else {
            "├──"
        };
        let stem = if i + 1 == s.assertions.len() {
            "    "
        } else {
            "│   "
        };
        let name = a
            .name
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "│   {branch} {} {}{name} ×{}: {}",
            if a.passed { "✓" } else { "✗" },
            a.kind,
            a.weight,
            // A verifier's message is its own text: a newline would forge a line of the tree.
            one_line(&a.message)
        );
        if !a.passed {
            let _ = writeln!(o, "│   {stem}    expected: {}", oneline(&a.expected));
            let _ = writeln!(o, "│   {stem}    actual:   {}", oneline(&a.actual));
        }
    }
}

/// The trace's events, one line each.
fn events(o: &mut String, s: &SessionFile) {
    let _ = writeln!(
        o,
        "├── events ({}{})",
        s.events.len(),
        if s.events_dropped > 0 {
            format!(", {} dropped", s.events_dropped)
        } else {
            String::new()
        }
    );
    for (i, e) in s.events.iter().enumerate() {
        let branch = if i + 1 == s.events.len() {
            "└──"
        } else {
            "├──"
        };
        let detail = match (&e.data, &e.error) {
            (_, Some(err)) => format!("{err}: {}", e.raw.as_deref().unwrap_or("")),
            (Some(d), None) => {
                let mut parts = Vec::new();
                if let Some(obj) = d.as_object() {
                    for (k, v) in obj.iter().filter(|(k, _)| *k != "type" && *k != "ts") {
                        parts.push(format!("{}={}", one_line(k), oneline(v)));
                    }
                }
                parts.join(" ")
            }
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "│   {branch} {:>3} {} {detail}",
            e.seq,
            one_line(e.kind.as_str())
        );
    }
}

/// The tails of stdout and stderr.
fn output(o: &mut String, s: &SessionFile, tail_bytes: usize) {
    for (label, out, last) in [("stdout", &s.stdout, false), ("stderr", &s.stderr, true)] {
        let head = if last { "└──" } else { "├──" };
        let stem = if last { "    " } else { "│   " };
        let _ = writeln!(
            o,
            "{head} {label} ({} bytes{})",
            out.bytes_total,
            if out.truncated { ", truncated" } else { "" }
        );
        let t = tail(&out.text, tail_bytes);
        if t.len() < out.text.len() {
            let _ = writeln!(o, "{stem}…");
        }
        for line in t.lines() {
            let _ = writeln!(o, "{stem}{line}");
        }
    }
}

/// A `setup:` or `teardown:` run: how it ended, then the tail of its stderr.
fn fixture(o: &mut String, label: &str, f: &session::FixtureRun, tail_bytes: usize) {
    let how = if f.ok() {
        "ok".to_string()
    } else {
        f.failure()
    };
    let argv: Vec<std::borrow::Cow<str>> = f.command.iter().map(|a| one_line(a)).collect();
    let _ = writeln!(
        o,
        "├── {label}: {how}, {} ms: {}",
        f.duration_ms,
        argv.join(" ")
    );
    let t = tail(&f.stderr.text, tail_bytes);
    for line in t.lines() {
        let _ = writeln!(o, "│       {}", one_line(line));
    }
}

/// The spans the agent sent (OTLP), as a tree; nothing when it sent none.
fn spans(o: &mut String, s: &SessionFile) {
    if s.spans.is_empty() && s.otlp.is_empty() {
        return;
    }
    let mut notes = Vec::new();
    if s.otlp.spans_dropped > 0 {
        notes.push(format!("{} dropped over the caps", s.otlp.spans_dropped));
    }
    if s.otlp.rejected > 0 {
        notes.push(format!("{} requests refused", s.otlp.rejected));
    }
    if s.otlp.foreign > 0 {
        notes.push(format!("{} in a foreign trace", s.otlp.foreign));
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(", {}", notes.join(", "))
    };
    let _ = writeln!(o, "├── spans ({}{notes})", s.spans.len());
    for line in crate::otlp::tree::lines(&s.spans, "│   ") {
        let _ = writeln!(o, "{line}");
    }
}
