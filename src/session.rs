//! The session file: its schema (version 1), where it lives, and its write-once creation.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Succeeded,
    Failed,
    TimedOut,
    Error,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Succeeded,
        Status::Failed,
        Status::TimedOut,
        Status::Error,
    ];

    /// The status named `s` as session files, the status log and the database write it.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
            Status::Error => "error",
        }
    }
}

/// One session, exactly as written to `runs/<run_id>/sessions/<agent>/<benchmark_id>@<attempt>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionFile {
    pub schema_version: u32,
    pub session_id: String,
    pub run_id: String,
    pub benchmark_id: String,
    pub benchmark_sha256: String,
    pub agent: String,
    /// The agent's argv template from the config (placeholders unexpanded).
    pub agent_command: Vec<String>,
    /// The agent's `matrix:` values (key -> value) when it is a cell of a sweep; absent
    /// otherwise and in files from older reev versions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub matrix: BTreeMap<String, String>,
    pub attempt: u32,
    pub status: Status,
    pub score: f64,
    pub pass_threshold: f64,
    pub assertions: Vec<AssertionResult>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Why the session is `error` (for example the OS error when the agent could not start).
    pub error: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub timeout_ms: u64,
    pub cpu_user_ms: u64,
    pub cpu_system_ms: u64,
    pub peak_rss_bytes: u64,
    /// What the machine's CPU and memory pressure did while the session ran (Linux PSI);
    /// absent where the kernel has no PSI, and in files from older reev versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure: Option<crate::machine::SessionPressure>,
    pub stdout: Output,
    pub stderr: Output,
    pub events: Vec<Event>,
    /// Events past the cap that were not kept.
    pub events_dropped: u64,
    pub metrics: BTreeMap<String, f64>,
    /// Tokens summed over the `model_request` events (also those past the event cap); absent
    /// when the agent reported no model request, and in files from older reev versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// What those requests cost in USD by the config's `prices:` when the session ran (so a
    /// later price change does not rewrite history); absent when any request's model has
    /// no price, or there was no request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    pub host: String,
    pub reev_version: String,
    /// Which try of this (benchmark, agent, attempt) this is: 1, or 2.. when `--retry-errors`
    /// ran it again after an `error`. Absent (1) in first tries and older files.
    #[serde(
        rename = "try",
        default = "first_try",
        skip_serializing_if = "is_first_try"
    )]
    pub try_number: u32,
    /// The TCP port reserved for the session (`{port}`, `REEV_PORT`); absent in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The benchmark's `setup:` and `teardown:` commands as they ran, where it has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<FixtureRun>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teardown: Option<FixtureRun>,
    /// The spans the agent sent over OTLP, or left in an `otlp-json` events file, under the
    /// events caps; absent when there were none (and in older files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<crate::otlp::SpanRecord>,
    /// Its OTLP requests: accepted, refused, spans dropped; absent when there were none.
    #[serde(default, skip_serializing_if = "crate::otlp::Stats::is_empty")]
    pub otlp: crate::otlp::Stats,
    /// The model calls the session made through reev's gateway (agents with `gateway:`):
    /// in brief, with the cassette that holds them whole and its digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<crate::gateway::GatewayRecord>,
}

fn first_try() -> u32 {
    1
}

fn is_first_try(n: &u32) -> bool {
    *n == 1
}

/// One `setup:` or `teardown:` command of a session: what ran and how it ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FixtureRun {
    /// The argv after placeholder expansion.
    pub command: Vec<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub duration_ms: u64,
    /// Why it could not start, when it could not.
    pub error: Option<String>,
    pub stdout: Output,
    pub stderr: Output,
}

impl FixtureRun {
    /// Exit 0, within its time.
    pub fn ok(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && self.error.is_none()
    }

    /// How it failed, for the session's `error`.
    pub fn failure(&self) -> String {
        if let Some(e) = &self.error {
            return format!("cannot start: {e}");
        }
        if self.timed_out {
            return format!("timed out after {} ms", self.duration_ms);
        }
        match (self.exit_code, self.signal) {
            (Some(c), _) => format!("exited {c}"),
            (_, Some(s)) => format!("killed by signal {s}"),
            _ => "ended without a status".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AssertionResult {
    #[serde(rename = "type")]
    pub kind: AssertionKind,
    pub name: Option<String>,
    pub weight: f64,
    pub passed: bool,
    pub expected: serde_json::Value,
    pub actual: serde_json::Value,
    pub message: String,
    /// Partial credit in [0, 1] (a verifier's `score`): the assertion contributes
    /// `weight x score`. Absent: 1 when passed, else 0 (every other check, older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// How a `verify:` program ran; absent for every other check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier: Option<VerifierRun>,
}

/// One run of a verifier program, kept in its assertion's record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VerifierRun {
    /// The argv as run (placeholders expanded).
    pub command: Vec<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub duration_ms: u64,
    /// The first 4 KiB of each stream (lossy UTF-8), with the total byte count.
    pub stdout: Output,
    pub stderr: Output,
}

/// Captured output: the first bytes (lossy UTF-8), how many there were in all, and whether cut.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Output {
    pub text: String,
    pub bytes_total: u64,
    pub truncated: bool,
}

/// One line of the agent's events file. `kind` is the event's own `type` field, or `error`
/// for a line that is not a JSON object (then `error` and `raw` say why and what).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub data: Option<serde_json::Value>,
    pub error: Option<String>,
    pub raw: Option<String>,
}

/// An assertion's type, as written in a benchmark's YAML and recorded in session files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssertionKind {
    ExitCode,
    StdoutEquals,
    StdoutContains,
    StdoutMatches,
    FileExists,
    FileContains,
    JsonValue,
    DurationAtMost,
    Verify,
    Event,
    Metric,
    ToolSequence,
}

impl AssertionKind {
    pub const ALL: [AssertionKind; 12] = [
        AssertionKind::ExitCode,
        AssertionKind::StdoutEquals,
        AssertionKind::StdoutContains,
        AssertionKind::StdoutMatches,
        AssertionKind::FileExists,
        AssertionKind::FileContains,
        AssertionKind::JsonValue,
        AssertionKind::DurationAtMost,
        AssertionKind::Verify,
        AssertionKind::Event,
        AssertionKind::Metric,
        AssertionKind::ToolSequence,
    ];

    /// The kind named `s` as session files write it.
    pub fn parse(s: &str) -> Option<AssertionKind> {
        AssertionKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AssertionKind::ExitCode => "exit_code",
            AssertionKind::StdoutEquals => "stdout_equals",
            AssertionKind::StdoutContains => "stdout_contains",
            AssertionKind::StdoutMatches => "stdout_matches",
            AssertionKind::FileExists => "file_exists",
            AssertionKind::FileContains => "file_contains",
            AssertionKind::JsonValue => "json_value",
            AssertionKind::DurationAtMost => "duration_at_most",
            AssertionKind::Verify => "verify",
            AssertionKind::Event => "event",
            AssertionKind::Metric => "metric",
            AssertionKind::ToolSequence => "tool_sequence",
        }
    }
}

impl std::fmt::Display for AssertionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The store writes an assertion's type as its string, the same as the session file.
impl duckdb::ToSql for AssertionKind {
    fn to_sql(&self) -> duckdb::Result<duckdb::types::ToSqlOutput<'_>> {
        self.as_str().to_sql()
    }
}

/// An event's `type`. reev reads and writes a few kinds itself; an agent may write any other
/// (kept as written, in `Other`), so the set is open at its end. It is written as the plain
/// string it was read as, and a kind reev knows is never held as `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A call to a model, with its tokens (`model_request`).
    ModelRequest,
    /// A call to a tool, with its `name` (`tool_call`).
    ToolCall,
    /// A value the agent reports (`metric`, with `name` and `value`).
    Metric,
    /// A line reev could not read, or an error the agent reported (`error`).
    Error,
    /// An object without a `type` (`custom`).
    Custom,
    /// Any other `type` an agent wrote.
    Other(String),
}

impl EventKind {
    pub fn as_str(&self) -> &str {
        match self {
            EventKind::ModelRequest => "model_request",
            EventKind::ToolCall => "tool_call",
            EventKind::Metric => "metric",
            EventKind::Error => "error",
            EventKind::Custom => "custom",
            EventKind::Other(s) => s,
        }
    }
}

impl From<&str> for EventKind {
    fn from(s: &str) -> Self {
        match s {
            "model_request" => EventKind::ModelRequest,
            "tool_call" => EventKind::ToolCall,
            "metric" => EventKind::Metric,
            "error" => EventKind::Error,
            "custom" => EventKind::Custom,
            other => EventKind::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The store writes an event's type as its string, the same as the session file.
impl duckdb::ToSql for EventKind {
    fn to_sql(&self) -> duckdb::Result<duckdb::types::ToSqlOutput<'_>> {
        self.as_str().to_sql()
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(EventKind::from(s.as_str()))
    }
}

/// Where a session's file lives inside a run directory: `<benchmark>@<attempt>.json` for the
/// first try (as before retries existed), `<benchmark>@<attempt>.try<k>.json` for try k ≥ 2.
pub fn relative_path(agent: &str, benchmark_id: &str, attempt: u32, try_number: u32) -> PathBuf {
    Path::new("sessions").join(agent).join(try_file_name(
        &format!("{benchmark_id}@{attempt}"),
        try_number,
    ))
}

/// A session file's stem (`<benchmark>@<attempt>` or `<benchmark>@<attempt>.try<k>`) split
/// into the session's stem and its try number (1 when the name has no `.try<k>`).
pub fn split_try(stem: &str) -> (&str, u32) {
    if let Some((base, k)) = stem.rsplit_once(".try") {
        let attempt_ok = base
            .rsplit_once('@')
            .is_some_and(|(_, a)| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()));
        if let (true, Ok(k @ 2..)) = (attempt_ok, k.parse::<u32>()) {
            return (base, k);
        }
    }
    (stem, 1)
}

/// The file name of try `k` of the session whose first-try stem is `base`.
pub fn try_file_name(base: &str, k: u32) -> String {
    match k {
        0 | 1 => format!("{base}.json"),
        k => format!("{base}.try{k}.json"),
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Prefix of temporary files; a file with this prefix left in a runs tree is debris of a crash.
pub const TMP_PREFIX: &str = ".tmp-";

/// Create `path` with `bytes`, durably and atomically, never replacing an existing file.
///
/// The bytes go into an unnamed inode (`O_TMPFILE`) in the target directory, are fsynced,
/// and the inode is then linked under its name with `linkat`, which fails if the name exists.
/// A crash at any point leaves either nothing or the complete file — and no temporary name.
/// Where the filesystem has no `O_TMPFILE`, a named temporary file (`.tmp-*`) is written,
/// fsynced and renamed with `RENAME_NOREPLACE` instead. The directory entry becomes durable
/// with [`sync_dir`], which callers batch.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    match write_unnamed(dir, path, bytes) {
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL | libc::ENOENT)
            ) && !path.exists() =>
        {
            write_named_tmp(dir, path, bytes)
        }
        other => other,
    }
}

fn cstring(p: &Path) -> std::io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains NUL"))
}

fn write_unnamed(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = create_unnamed(dir)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    link_unnamed(&f, path)
}

/// An unnamed regular file (`O_TMPFILE`) in `dir`, to be linked under its name with
/// [`link_unnamed`] once its bytes are durable; it vanishes if the process dies first.
/// Fails with `EOPNOTSUPP` (or `EISDIR`, `EINVAL`) where the filesystem has no `O_TMPFILE`.
pub fn create_unnamed(dir: &Path) -> std::io::Result<File> {
    use std::os::fd::FromRawFd;
    let cdir = cstring(dir)?;
    // SAFETY: a valid NUL-terminated path; we check the result and own the descriptor.
    let fd = unsafe {
        libc::open(
            cdir.as_ptr(),
            libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC,
            0o644,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor owned by this File.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Give the unnamed file `f` the name `path`; never replaces an existing file (`EEXIST`).
pub fn link_unnamed(f: &File, path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let proc_path = std::ffi::CString::new(format!("/proc/self/fd/{}", f.as_raw_fd()))
        .map_err(|_| std::io::Error::other("bad descriptor path"))?;
    let target = cstring(path)?;
    // SAFETY: valid NUL-terminated paths; linkat never replaces an existing name.
    let r = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            proc_path.as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn write_named_tmp(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{}-{}-{name}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = File::options().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        rename_noreplace(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    let (f, t) = (cstring(from)?, cstring(to)?);
    // SAFETY: valid NUL-terminated paths; renameat2 has no other preconditions.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            std::fs::hard_link(from, to)?;
            std::fs::remove_file(from)
        }
        _ => Err(err),
    }
}

/// fsync a directory so the names created in it survive a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Why a file is not a session file this reev reads.
#[derive(Debug, thiserror::Error)]
pub enum SessionFileError {
    #[error("cannot read: {0}")]
    Read(#[source] std::io::Error),
    /// `found` as the file wrote it (a number, or whatever JSON value it holds).
    #[error("unsupported schema_version {found} (this reev reads {SCHEMA_VERSION})")]
    Version { found: String },
    #[error("missing field `schema_version`")]
    NoVersion,
    #[error("not a session file: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("invalid session file: {0}")]
    Invalid(#[source] serde_json::Error),
}

impl crate::error::Classify for SessionFileError {
    fn kind(&self) -> crate::error::Kind {
        match self {
            SessionFileError::Read(_) => crate::error::Kind::Env,
            _ => crate::error::Kind::Input,
        }
    }
}

/// Read and check one session file.
pub fn read(path: &Path) -> Result<SessionFile, SessionFileError> {
    let bytes = std::fs::read(path).map_err(SessionFileError::Read)?;
    parse(&bytes)
}

pub fn parse(bytes: &[u8]) -> Result<SessionFile, SessionFileError> {
    // One pass in the common case: the whole file, then its version. Only a file that does
    // not parse is read again for its version, so that a file of another schema version is
    // named as such rather than by the first field it does not know.
    match serde_json::from_slice::<SessionFile>(bytes) {
        Ok(mut file) if file.schema_version == SCHEMA_VERSION => {
            // Files from reev before 0.0 was normalised say -0.0 where nothing passed.
            file.score += 0.0;
            Ok(file)
        }
        Ok(file) => Err(SessionFileError::Version {
            found: file.schema_version.to_string(),
        }),
        Err(e) => Err(version_error(bytes).unwrap_or(SessionFileError::Invalid(e))),
    }
}

/// Why a file that is not a valid session file is not one when its version is the reason:
/// not JSON, no `schema_version`, or another version.
fn version_error(bytes: &[u8]) -> Option<SessionFileError> {
    #[derive(Deserialize)]
    struct Version {
        schema_version: Option<serde_json::Value>,
    }
    let v: Version = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return Some(SessionFileError::NotJson(e)),
    };
    match v.schema_version {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(SCHEMA_VERSION as u64) => None,
        Some(other) => Some(SessionFileError::Version {
            found: other.to_string(),
        }),
        None => Some(SessionFileError::NoVersion),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assertion_kinds_read_back_as_written() {
        for k in AssertionKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert_eq!(AssertionKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(AssertionKind::parse("exitcode"), None);
    }

    #[test]
    fn try_names() {
        assert_eq!(split_try("b@1"), ("b@1", 1));
        assert_eq!(split_try("b@1.try2"), ("b@1", 2));
        assert_eq!(split_try("b.try3@2.try12"), ("b.try3@2", 12));
        assert_eq!(split_try("b.try3@2"), ("b.try3@2", 1));
        assert_eq!(split_try("b@1.try1"), ("b@1.try1", 1));
        assert_eq!(try_file_name("b@1", 1), "b@1.json");
        assert_eq!(try_file_name("b@1", 3), "b@1.try3.json");
    }

    #[test]
    fn kinds_are_written_as_read() {
        for kind in [
            "tool_call",
            "model_request",
            "metric",
            "error",
            "custom",
            "step",
            "Tool_Call",
            "",
        ] {
            let json = format!("\"{kind}\"");
            let k: EventKind = serde_json::from_str(&json).expect("kind");
            assert_eq!(serde_json::to_string(&k).expect("json"), json);
            assert_eq!(k, EventKind::from(kind));
        }
        assert_eq!(EventKind::from("tool_call"), EventKind::ToolCall);
        assert_eq!(EventKind::from("step"), EventKind::Other("step".into()));
        let a: AssertionKind = serde_json::from_str("\"duration_at_most\"").expect("kind");
        assert_eq!(a, AssertionKind::DurationAtMost);
        assert_eq!(
            serde_json::to_string(&a).expect("json"),
            "\"duration_at_most\""
        );
        assert!(serde_json::from_str::<AssertionKind>("\"no_such_check\"").is_err());
    }
}
