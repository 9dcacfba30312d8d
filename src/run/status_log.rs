//! The status log of a run: one line per session file written, `<agent>/<file stem> <status>`,
//! appended to `<run>/status.log` (`status.shard-K-of-N.log` for a shard, so that shard trees
//! copied together never collide), so that `reev status` counts statuses without reading
//! session files.
//!
//! It replaced an empty marker file beside each session file: on a disk, creating a file
//! costs an inode (on ext4 after many deletions, ~0.7 ms of CPU scanning for a free one), and
//! a session paid that twice. A log line is one `write` on a descriptor opened once with
//! `O_APPEND`, so the lines of concurrent writers (threads, or a resumed run beside another
//! shard on the same host) never interleave.
//!
//! The log is derived data and not flushed: after a crash a session file may have no line,
//! and counts as done with its status unknown, as a missing marker did. What runs next
//! (`--resume`, retries) is decided from the session files alone, never from the log.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::plan::Shard;
use crate::session::Status;

/// The log's file name for a run, or for one shard of it.
pub fn file_name(shard: Option<Shard>) -> String {
    match shard {
        None => "status.log".to_string(),
        Some(s) => format!("status.shard-{}-of-{}.log", s.index, s.count),
    }
}

/// Whether a name in a run directory is a status log (of the run or of a shard).
pub fn is_log_name(name: &str) -> bool {
    name == "status.log" || (name.starts_with("status.shard-") && name.ends_with(".log"))
}

/// The log one `reev run` process appends to.
#[derive(Debug)]
pub struct StatusLog {
    file: Option<File>,
}

impl StatusLog {
    /// Open (create) the log in `run_dir`. A log that cannot be opened is not an error: the
    /// run goes on and `reev status` shows those sessions' status as unknown.
    pub fn open(run_dir: &Path, shard: Option<Shard>) -> Self {
        let path = run_dir.join(file_name(shard));
        let file = File::options()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| tracing::warn!("cannot open the status log {}: {e}", path.display()))
            .ok();
        StatusLog { file }
    }

    /// Record that the session file `<agent>/<stem>.json` was written with `status`.
    pub fn append(&self, agent: &str, stem: &str, status: Status) {
        let Some(mut file) = self.file.as_ref() else {
            return;
        };
        // One write per line: O_APPEND makes each one land whole at the end.
        let line = format!("{agent}/{stem} {}\n", status.as_str());
        if let Err(e) = file.write_all(line.as_bytes()) {
            tracing::debug!("cannot append to the status log: {e}");
        }
    }
}

/// The statuses recorded in the status logs among `names` (a listing of `run_dir`), keyed
/// by `(agent, file stem)`. Unreadable logs and malformed lines (a crash in mid-write) are
/// skipped: those sessions' status is unknown.
pub fn read(run_dir: &Path, names: &[String]) -> HashMap<(String, String), Status> {
    let mut out = HashMap::new();
    for name in names.iter().filter(|n| is_log_name(n)) {
        let Ok(text) = std::fs::read_to_string(run_dir.join(name)) else {
            continue;
        };
        for line in text.lines() {
            let Some((key, status)) = line.rsplit_once(' ') else {
                continue;
            };
            let Some((agent, stem)) = key.split_once('/') else {
                continue;
            };
            let Some(status) = Status::parse(status) else {
                continue;
            };
            out.insert((agent.to_string(), stem.to_string()), status);
        }
    }
    out
}
