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
    pub stdout: Output,
    pub stderr: Output,
    pub events: Vec<Event>,
    /// Events past the cap that were not kept.
    pub events_dropped: u64,
    pub metrics: BTreeMap<String, f64>,
    pub host: String,
    pub reev_version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AssertionResult {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    pub weight: f64,
    pub passed: bool,
    pub expected: serde_json::Value,
    pub actual: serde_json::Value,
    pub message: String,
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
    pub kind: String,
    pub data: Option<serde_json::Value>,
    pub error: Option<String>,
    pub raw: Option<String>,
}

/// Where a session's file lives inside a run directory.
pub fn relative_path(agent: &str, benchmark_id: &str, attempt: u32) -> PathBuf {
    Path::new("sessions")
        .join(agent)
        .join(format!("{benchmark_id}@{attempt}.json"))
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Prefix of temporary files; a file with this prefix left in a runs tree is debris of a crash.
pub const TMP_PREFIX: &str = ".tmp-";

/// Create `path` with `bytes`, durably and atomically, never replacing an existing file:
/// write a temp file in the same directory, fsync it, then rename it into place with
/// RENAME_NOREPLACE (or link + unlink where the filesystem lacks it). The directory entry
/// becomes durable with [`sync_dir`], which callers batch.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
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
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains NUL"))
    };
    let (f, t) = (c(from)?, c(to)?);
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

/// Read and check one session file.
pub fn read(path: &Path) -> Result<SessionFile, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    parse(&bytes)
}

pub fn parse(bytes: &[u8]) -> Result<SessionFile, String> {
    #[derive(Deserialize)]
    struct Version {
        schema_version: Option<serde_json::Value>,
    }
    let v: Version =
        serde_json::from_slice(bytes).map_err(|e| format!("not a session file: {e}"))?;
    match v.schema_version {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(SCHEMA_VERSION as u64) => {}
        Some(other) => {
            return Err(format!(
                "unsupported schema_version {other} (this reev reads {SCHEMA_VERSION})"
            ))
        }
        None => return Err("missing field `schema_version`".into()),
    }
    serde_json::from_slice(bytes).map_err(|e| format!("invalid session file: {e}"))
}
