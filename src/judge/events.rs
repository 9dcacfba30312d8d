//! The agent's events file (JSON lines) turned into the session's trace and metrics.

use std::collections::BTreeMap;
use std::ffi::OsStr;

use serde_json::Value;

pub use super::caps::{add_usage, MAX_BYTES, MAX_EVENTS};
use crate::sandbox::beneath::{self, Dir, ReadError};
use crate::session::{Event, EventKind};
use crate::spec::prices::Tokens;

#[derive(Default)]
pub struct Trace {
    pub events: Vec<Event>,
    pub dropped: u64,
    pub metrics: BTreeMap<String, f64>,
    /// Tokens per model from `model_request` events — every one read, also those past the
    /// event cap, so a long trace does not make a session look cheaper than it was.
    pub usage: BTreeMap<String, Tokens>,
    /// The file went on past the bytes read: the lines there are not even counted.
    pub cut: bool,
}

impl Trace {
    /// What of the agent's events file was not read, if anything: trace checks that need the
    /// whole trace cannot pass then.
    pub fn unread(&self) -> Option<String> {
        let bytes = format!("the events file past its first {} MiB", MAX_BYTES >> 20);
        match (self.dropped, self.cut) {
            (0, false) => None,
            (0, true) => Some(bytes),
            (n, false) => Some(format!("{n} events over the cap of {MAX_EVENTS}")),
            (n, true) => Some(format!(
                "{n} events over the cap of {MAX_EVENTS} and {bytes}"
            )),
        }
    }
}

/// Read the events file `name` in `dir` if the agent wrote one. A malformed line becomes an
/// `error` event; `{"type": "metric", "name": N, "value": X}` lines also set metric N (the last
/// value wins). Only a regular file is read (opened non-blocking, never through a symlink): a
/// FIFO there would otherwise block reev forever.
pub fn read(dir: &Dir, name: &str) -> Trace {
    let mut trace = Trace::default();
    let bytes = match read_file(dir, name) {
        Ok(Some(b)) => b,
        Ok(None) => return trace,
        Err(why) => {
            trace.events.push(error_event(0, why, None));
            return trace;
        }
    };
    // (A file of exactly the cap counts as cut: reev cannot tell, and must not claim more.)
    trace.cut = bytes.len() as u64 >= MAX_BYTES;
    let mut seq = 0u64;
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        seq += 1;
        let parsed = serde_json::from_slice::<Value>(line);
        if let Ok(Value::Object(obj)) = &parsed {
            add_usage(&mut trace.usage, obj);
        }
        if trace.events.len() >= MAX_EVENTS {
            trace.dropped += 1;
            continue;
        }
        let event = match parsed {
            Ok(Value::Object(obj)) => {
                let kind = obj
                    .get("type")
                    .and_then(Value::as_str)
                    .map_or(EventKind::Custom, EventKind::from);
                if kind == EventKind::Metric {
                    if let (Some(name), Some(value)) = (
                        obj.get("name").and_then(Value::as_str),
                        obj.get("value").and_then(Value::as_f64),
                    ) {
                        trace.metrics.insert(name.to_string(), value);
                    }
                }
                Event {
                    seq,
                    kind,
                    data: Some(Value::Object(obj)),
                    error: None,
                    raw: None,
                }
            }
            Ok(_) => error_event(seq, "event is not a JSON object".into(), Some(line)),
            Err(e) => error_event(seq, format!("malformed event: {e}"), Some(line)),
        };
        trace.events.push(event);
    }
    trace
}

/// The first [`MAX_BYTES`] of the events file `name` in `dir`; `None` when there is none;
/// why, for the `error` event to record, when it cannot be read (not a regular file, I/O).
pub fn read_file(dir: &Dir, name: &str) -> Result<Option<Vec<u8>>, String> {
    let bytes = match beneath::open_entry(dir, OsStr::new(name)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => Err(ReadError::Io(e)),
        Ok(fd) => beneath::read_regular_prefix(fd, MAX_BYTES),
    };
    bytes
        .map(Some)
        .map_err(|e| format!("events file {name} {}; not read", e.describe(MAX_BYTES)))
}

pub fn error_event(seq: u64, error: String, raw: Option<&[u8]>) -> Event {
    Event {
        seq,
        kind: EventKind::Error,
        data: None,
        error: Some(error),
        raw: raw.map(|r| String::from_utf8_lossy(&r[..r.len().min(4096)]).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn malformed_lines_are_kept_as_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("e.jsonl");
        std::fs::write(
            &p,
            "{\"type\":\"tool_call\",\"name\":\"read\"}\nnot json\n\n[1]\n{\"type\":\"metric\",\"name\":\"tokens\",\"value\":42}\n",
        )
        .expect("write");
        let t = super::read(&super::Dir::open(dir.path()).expect("dir"), "e.jsonl");
        let kinds: Vec<&str> = t.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["tool_call", "error", "error", "metric"]);
        assert_eq!(t.metrics.get("tokens"), Some(&42.0));
        assert_eq!(t.events[1].raw.as_deref(), Some("not json"));
    }

    #[test]
    fn tokens_past_the_event_cap_still_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let line =
            "{\"type\":\"model_request\",\"model\":\"m\",\"input_tokens\":3,\"output_tokens\":2}\n";
        let n = super::MAX_EVENTS + 5;
        std::fs::write(dir.path().join("e.jsonl"), line.repeat(n)).expect("write");
        let t = super::read(&super::Dir::open(dir.path()).expect("dir"), "e.jsonl");
        assert_eq!(t.dropped, 5);
        let m = t.usage.get("m").expect("usage of m");
        assert_eq!((m.input, m.output), (3 * n as u64, 2 * n as u64));
    }
}
