//! Row mapping: what a manifest, a session file or a load becomes in the tables, the checks
//! a file must pass before it becomes rows (ids are untrusted input), and the appenders
//! the rows go through.
//!
//! Adding a column means changing `schema.rs` and the one function here that fills it:
//! [`insert_run`] for `runs`, [`append_session`] for `sessions` and its child tables.

use std::path::Path;

use duckdb::types::{TimeUnit, Value};
use duckdb::{params, Appender, Connection};

use super::ctx::{sql, Conflict};
use super::error::StoreError;
use super::scan::Found;
use super::schema::TEXT_PART;
use crate::error::Result;
use crate::manifest::RunManifest;
use crate::session::SessionFile;
use crate::spec::check_name;

/// Ids in a session file become directory names (`reports/<run_id>/`) and SQL values: they
/// must follow the rule `reev run` applies to the ids it creates.
pub fn check_session(s: &SessionFile) -> Result<(), StoreError> {
    name("run_id", &s.run_id)?;
    name("benchmark_id", &s.benchmark_id)?;
    name("agent", &s.agent)?;
    name("session_id", &s.session_id)?;
    parse_ts("started_at", &s.started_at)?;
    parse_ts("finished_at", &s.finished_at)?;
    Ok(())
}

/// An id by the rule of [`check_name`].
fn name(what: &str, id: &str) -> Result<(), StoreError> {
    check_name(what, id).map_err(StoreError::Name)
}

/// The ids of a run manifest, by the same rule (see [`check_session`]).
pub fn check_manifest(m: &RunManifest) -> Result<(), StoreError> {
    name("run_id", &m.run_id)?;
    for t in &m.plan {
        name("plan session_id", &t.session_id)?;
        name("plan benchmark_id", &t.benchmark_id)?;
        name("plan agent", &t.agent)?;
    }
    for agent in m.agents.keys() {
        name("agent", agent)?;
    }
    for id in m.benchmarks.keys() {
        name("benchmark_id", id)?;
    }
    for agent in m.run_planned.keys() {
        name("run_planned agent", agent)?;
    }
    Ok(())
}

/// The RFC 3339 time `text` of a file's `field` as a TIMESTAMP.
pub fn parse_ts(field: &'static str, text: &str) -> Result<Value, StoreError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| Value::Timestamp(TimeUnit::Microsecond, t.timestamp_micros()))
        .map_err(|source| StoreError::Time {
            field,
            text: text.to_string(),
            source,
        })
}

pub fn ts(t: chrono::DateTime<chrono::Utc>) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, t.timestamp_micros())
}

/// The `runs` row of a manifest (`name` is its file name, `sha` the SHA-256 of its bytes).
pub fn insert_run(
    conn: &Connection,
    db: &Path,
    m: &RunManifest,
    name: &str,
    sha: &str,
) -> Result<()> {
    let created = parse_ts("created_at", &m.created_at).ok();
    conn.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            m.run_id,
            name,
            m.selection.shard.map(|s| s.to_string()),
            created,
            m.reev_version,
            m.host,
            m.git_commit,
            serde_json::to_string(&m.command_line).unwrap_or_default(),
            serde_json::to_string(&m.selection).unwrap_or_default(),
            m.timeout_ms.map(|t| t as i64),
            m.jobs as i64,
            m.plan.len() as i64,
            sha,
            (!m.run_planned.is_empty())
                .then(|| serde_json::to_string(&m.run_planned).unwrap_or_default()),
            m.machine
                .as_ref()
                .and_then(|x| serde_json::to_string(x).ok()),
        ],
    )
    .map_err(sql(db, format!("inserting run {}", m.run_id)))?;
    Ok(())
}

/// Cut `text` into pieces of at most [`TEXT_PART`] bytes at character boundaries.
pub fn text_parts(text: &str) -> Vec<&str> {
    let mut parts = Vec::with_capacity(text.len() / TEXT_PART + 1);
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(TEXT_PART);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (head, tail) = rest.split_at(end);
        parts.push(head);
        rest = tail;
    }
    parts
}

/// What `sessions.stdout`/`stderr` hold: the whole text when it fits one part, else its
/// last [`TEXT_PART`] bytes (where an agent's error usually is; the report shows the tail).
pub fn inline_text(text: &str) -> &str {
    if text.len() <= TEXT_PART {
        return text;
    }
    let mut start = text.len() - TEXT_PART;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// One appender per table, open for the whole transaction.
pub struct Writers<'c> {
    sessions: Appender<'c>,
    parts: Appender<'c>,
    assertions: Appender<'c>,
    events: Appender<'c>,
    spans: Appender<'c>,
    metrics: Appender<'c>,
    matrix: Appender<'c>,
    model_calls: Appender<'c>,
    files: Appender<'c>,
    quarantine: Appender<'c>,
    conflicts: Appender<'c>,
    load_id: i64,
    /// Known files whose size or mtime changed but whose bytes did not: (path, size, mtime).
    pub touched: Vec<(String, i64, i64)>,
}

impl<'c> Writers<'c> {
    pub fn new(conn: &'c Connection, db: &Path, load_id: i64) -> Result<Self> {
        let a = |t: &str| {
            conn.appender(t)
                .map_err(sql(db, format!("opening an appender on {t}")))
        };
        Ok(Writers {
            sessions: a("sessions")?,
            parts: a("output_parts")?,
            assertions: a("assertions")?,
            events: a("events")?,
            spans: a("spans")?,
            metrics: a("metrics")?,
            matrix: a("session_matrix")?,
            model_calls: a("model_calls")?,
            files: a("loaded_files")?,
            quarantine: a("quarantine")?,
            conflicts: a("conflicts")?,
            load_id,
            touched: Vec::new(),
        })
    }

    /// The `loaded_files` row of `f` (its kind is the walk's: manifest, benchmark, session).
    pub fn ledger(
        &mut self,
        db: &Path,
        f: &Found,
        sha: &str,
        session_id: Option<&str>,
    ) -> Result<(), StoreError> {
        self.files
            .append_row(params![
                f.path.display().to_string(),
                f.size as i64,
                f.mtime_ns,
                sha,
                f.kind.as_str(),
                session_id,
                self.load_id
            ])
            .map_err(sql(db, "recording a loaded file"))
    }

    pub fn quarantine(&mut self, db: &Path, path: &str, error: &str) -> Result<(), StoreError> {
        self.quarantine
            .append_row(params![self.load_id, path, error])
            .map_err(sql(db, "recording quarantine"))
    }

    pub fn conflict(&mut self, db: &Path, c: &Conflict) -> Result<(), StoreError> {
        self.conflicts
            .append_row(params![
                self.load_id,
                c.path,
                c.session_id,
                c.kind.as_str(),
                c.loaded_sha256,
                c.found_sha256,
                c.loaded_path
            ])
            .map_err(sql(db, "recording conflicts"))
    }

    pub fn flush(&mut self, db: &Path) -> Result<()> {
        for a in [
            &mut self.sessions,
            &mut self.parts,
            &mut self.assertions,
            &mut self.events,
            &mut self.spans,
            &mut self.metrics,
            &mut self.matrix,
            &mut self.model_calls,
            &mut self.files,
            &mut self.quarantine,
            &mut self.conflicts,
        ] {
            a.flush().map_err(sql(db, "flushing appended rows"))?;
        }
        Ok(())
    }
}

/// The integer keys of a session's rows, given by the loader.
#[derive(Debug, Clone, Copy)]
pub struct Keys {
    /// Its run's number (`run_numbers.rs`), in every row.
    pub run_no: i64,
    /// Its own number (`tries::session_no`), in its `sessions` row.
    pub session_no: i64,
}

/// A session's rows: its `sessions` row, then those of its child tables, each with the
/// number of its run. A failure names the session and the row; nothing is formatted unless
/// one fails (this runs per session).
pub fn append_session(
    w: &mut Writers,
    db: &Path,
    s: &SessionFile,
    sha: &str,
    keys: Keys,
) -> Result<()> {
    let run_no = keys.run_no;
    let started = parse_ts("started_at", &s.started_at)?;
    let finished = parse_ts("finished_at", &s.finished_at)?;
    let times = (started, finished);
    session_row(&mut w.sessions, s, sha, times, keys).map_err(failed(db, "the session row", s))?;
    for (stream, text) in [("stdout", &s.stdout.text), ("stderr", &s.stderr.text)] {
        if text.len() <= TEXT_PART {
            continue;
        }
        for (i, part) in text_parts(text).into_iter().enumerate() {
            w.parts
                .append_row(params![s.session_id, stream, i as i32, part])
                .map_err(failed(db, "a part of the captured output", s))?;
        }
    }
    assertion_rows(&mut w.assertions, s, run_no).map_err(failed(db, "an assertion", s))?;
    event_rows(&mut w.events, s, run_no).map_err(failed(db, "an event", s))?;
    super::spans::append(&mut w.spans, s, run_no).map_err(failed(db, "a span", s))?;
    for (name, value) in &s.metrics {
        w.metrics
            .append_row(params![s.session_id, name, value])
            .map_err(failed(db, "a metric", s))?;
    }
    for (key, value) in &s.matrix {
        w.matrix
            .append_row(params![s.session_id, key, value, run_no])
            .map_err(failed(db, "a matrix value", s))?;
    }
    model_call_rows(&mut w.model_calls, s).map_err(failed(db, "a model call", s))?;
    Ok(())
}

/// A failure to append `what` of session `s`, built only when it happens.
fn failed<'a>(
    db: &'a Path,
    what: &'static str,
    s: &'a SessionFile,
) -> impl Fn(duckdb::Error) -> StoreError + 'a {
    move |e| StoreError::Append {
        db: db.to_path_buf(),
        what,
        session: s.session_id.clone(),
        source: e.into(),
    }
}

/// The `sessions` row (`times` are its checked start and end). It is the latest try of its
/// planned session until the end of the load finds a later one (`tries.rs`).
fn session_row(
    app: &mut Appender,
    s: &SessionFile,
    sha: &str,
    (started, finished): (Value, Value),
    keys: Keys,
) -> duckdb::Result<()> {
    let passed = s.assertions.iter().filter(|a| a.passed).count() as i32;
    app.append_row(params![
        s.session_id,
        s.run_id,
        s.benchmark_id,
        s.benchmark_sha256,
        s.agent,
        serde_json::to_string(&s.agent_command).unwrap_or_default(),
        s.attempt as i32,
        s.status.as_str(),
        // An `error` session was not judged: it has no score (its file keeps what the
        // assertions credited before judging stopped, which is not one).
        (s.status != crate::session::Status::Error).then_some(s.score),
        s.pass_threshold,
        passed,
        s.assertions.len() as i32,
        s.exit_code,
        s.signal,
        s.error,
        started,
        finished,
        s.duration_ms as i64,
        s.timeout_ms as i64,
        s.cpu_user_ms as i64,
        s.cpu_system_ms as i64,
        s.peak_rss_bytes as i64,
        inline_text(&s.stdout.text),
        s.stdout.bytes_total as i64,
        s.stdout.truncated,
        inline_text(&s.stderr.text),
        s.stderr.bytes_total as i64,
        s.stderr.truncated,
        s.events.len() as i32,
        s.events_dropped as i64,
        s.host,
        s.reev_version,
        sha,
        s.pressure.map(|p| p.cpu_some_ms as i64),
        s.pressure.map(|p| p.memory_some_ms as i64),
        s.pressure.map(|p| p.memory_full_ms as i64),
        // Saturated, never wrapped: a count past BIGINT (a hand-made file) must not load
        // as a negative number; reev itself never records more (`prices::MAX_TOKENS`).
        s.input_tokens.map(|t| i64::try_from(t).unwrap_or(i64::MAX)),
        s.output_tokens
            .map(|t| i64::try_from(t).unwrap_or(i64::MAX)),
        s.cost_usd,
        s.try_number as i32,
        s.port.map(i32::from),
        keys.session_no,
        true,
        keys.run_no,
    ])
}

fn assertion_rows(app: &mut Appender, s: &SessionFile, run_no: i64) -> duckdb::Result<()> {
    for (i, a) in s.assertions.iter().enumerate() {
        app.append_row(params![
            s.session_id,
            i as i32,
            a.kind,
            a.name,
            a.weight,
            a.passed,
            a.expected.to_string(),
            a.actual.to_string(),
            a.message,
            a.verifier
                .as_ref()
                .and_then(|v| serde_json::to_string(v).ok()),
            run_no,
        ])?;
    }
    Ok(())
}

fn event_rows(app: &mut Appender, s: &SessionFile, run_no: i64) -> duckdb::Result<()> {
    for ev in &s.events {
        let name = ev
            .data
            .as_ref()
            .and_then(|d| d.get("name"))
            .and_then(|n| n.as_str());
        app.append_row(params![
            s.session_id,
            ev.seq as i64,
            ev.kind,
            name,
            ev.data.as_ref().map(|d| d.to_string()),
            ev.error,
            ev.raw,
            run_no,
        ])?;
    }
    Ok(())
}

fn model_call_rows(app: &mut Appender, s: &SessionFile) -> duckdb::Result<()> {
    for (g, c) in s
        .gateway
        .iter()
        .flat_map(|g| g.calls.iter().map(move |c| (g, c)))
    {
        app.append_row(params![
            s.session_id,
            s.run_id,
            c.seq as i32,
            c.path,
            c.model,
            c.status.map(i32::from),
            c.request_sha256,
            c.input_tokens.map(|t| t as i64),
            c.output_tokens.map(|t| t as i64),
            c.duration_ms,
            g.replayed_from.is_some(),
            g.replayed_from,
            c.error,
        ])?;
    }
    Ok(())
}
