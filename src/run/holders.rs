//! Who is at work on a run, from its lock files (`.lock`, `.lock.shard-K-of-N`): the
//! holder's pid, host and start (`lock::acquire` writes them), how many sessions it set out
//! to run (`run::announce` notes them), and its ETA from the rate so far.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::plan::Shard;

/// A reev at work on the run, from its lock file.
#[derive(Debug, Clone, Serialize)]
pub struct Holder {
    /// K/N, or null for an unsharded run.
    pub shard: Option<String>,
    pub pid: Option<u32>,
    pub host: Option<String>,
    pub since: Option<String>,
    /// Estimated end (RFC 3339), from the rate since `since`; null until a session finished.
    pub eta: Option<String>,
    /// Sessions it set out to run (the lock file's second line).
    #[serde(skip)]
    to_run: Option<u64>,
}

/// The held locks among the run directory's `.lock` and `.lock.shard-K-of-N` files.
pub fn holders(dir: &Path, names: &[String]) -> Vec<Holder> {
    let mut out = Vec::new();
    for name in names {
        let shard = if name == ".lock" {
            None
        } else if let Some(rest) = name.strip_prefix(".lock.shard-") {
            match rest
                .split_once("-of-")
                .and_then(|(k, n)| format!("{k}/{n}").parse::<Shard>().ok())
            {
                Some(s) => Some(s.to_string()),
                None => continue,
            }
        } else {
            continue;
        };
        let path = dir.join(name);
        if crate::lock::is_held(&path) != Some(true) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut h = parse_holder(&text);
        h.shard = shard;
        out.push(h);
    }
    out
}

/// "held by pid P on HOST since T" (see `lock::acquire`), then "sessions: P planned, T to
/// run" (see `run::announce`).
fn parse_holder(text: &str) -> Holder {
    let first = text.lines().next().unwrap_or_default();
    let to_run = text
        .lines()
        .find_map(|l| l.strip_prefix("sessions: "))
        .and_then(|l| l.split_once(" planned, "))
        .and_then(|(_, rest)| rest.strip_suffix(" to run"))
        .and_then(|n| n.trim().parse().ok());
    let word_after = |key: &str| {
        first
            .split_once(key)
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .map(str::to_string)
    };
    Holder {
        shard: None,
        pid: word_after("pid ").and_then(|p| p.parse().ok()),
        host: word_after(" on "),
        since: word_after(" since "),
        eta: None,
        to_run,
    }
}

/// ETA from the holder's rate: the sessions it finished since it started (its lock file
/// says how many it set out to run) over the time since, applied to what is left.
pub fn with_eta(mut h: Holder, progress: &BTreeMap<Option<String>, (u64, u64)>) -> Holder {
    let (Some(&(planned, done)), Some(to_run)) = (progress.get(&h.shard), h.to_run) else {
        return h;
    };
    let Some(since) = h
        .since
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    else {
        return h;
    };
    let remaining = planned.saturating_sub(done);
    let finished = to_run.saturating_sub(remaining);
    let now = chrono::Utc::now();
    let elapsed = (now - since.with_timezone(&chrono::Utc)).num_milliseconds();
    if finished == 0 || elapsed <= 0 {
        return h;
    }
    let ms = elapsed as f64 / finished as f64 * remaining as f64;
    h.eta = Some(crate::timestamp::rfc3339(
        now + chrono::Duration::milliseconds(ms as i64),
    ));
    h
}
