//! What the viewer shows of each session beyond its numbers: the event trace (tool calls,
//! model requests, metrics, errors), every assertion with the verifier's run, and the output
//! tails, so a reader sees why without `reev show`.
//!
//! Bounded so a big run's report stays a page a browser opens: at most [`MAX_DETAILED`]
//! sessions are detailed (every failure first, then the slowest, then the rest in order),
//! each with at most [`MAX_EVENTS`] events of [`MAX_DETAIL`] characters and output tails of
//! [`TAIL`] characters. Every session keeps its anchor; past the cap it shows its numbers
//! and the `reev show` command.

use std::collections::{BTreeMap, BTreeSet};

use duckdb::Connection;

use super::column::assertion_type;
use super::model::{AssertionView, SessionBrief, SessionDetail, TraceEvent};
use super::timed;
use crate::error::{Error, Result};
use crate::session::Status;
use crate::store::schema::{IN_IDS, RUN_NO};

/// Events shown per session; a longer trace ends with a note pointing at `reev show`.
pub const MAX_EVENTS: i64 = 40;
/// Characters of an event's details shown.
const MAX_DETAIL: usize = 240;
/// Sessions with a detailed page in report.html.
pub const MAX_DETAILED: usize = 500;
/// Characters of the stderr tail (stdout's comes with the brief, also 2,000).
const TAIL: i64 = 2000;

/// The sessions to detail: failures first, then the slowest, then the rest, at most
/// [`MAX_DETAILED`].
pub fn chosen(sessions: &[SessionBrief]) -> BTreeSet<String> {
    let mut order: Vec<&SessionBrief> = sessions.iter().collect();
    order.sort_by(|a, b| {
        (
            a.status == Status::Succeeded,
            std::cmp::Reverse(a.duration_ms),
        )
            .cmp(&(
                b.status == Status::Succeeded,
                std::cmp::Reverse(b.duration_ms),
            ))
    });
    order
        .into_iter()
        .take(MAX_DETAILED)
        .map(|s| s.session_id.clone())
        .collect()
}

fn err(what: &'static str) -> impl Fn(duckdb::Error) -> Error {
    move |e| Error::env(format!("report query `{what}` failed: {e}"))
}

/// Attach to every chosen session of `run` its first `MAX_EVENTS` events, its assertions
/// and its stderr tail.
pub fn attach(
    conn: &Connection,
    run: &str,
    ids: &BTreeSet<String>,
    sessions: &mut [SessionBrief],
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    // Bound as one parameter, split in SQL (`IN_IDS`): a literal list of 500 ids costs
    // DuckDB's parser ~15 ms per query.
    let list = ids.iter().map(String::as_str).collect::<Vec<_>>().join(" ");
    let mut events = timed("events", || events(conn, run, &list))?;
    let mut details = timed("assertions", || details(conn, run, &list))?;
    let mut spans = timed("spans", || {
        crate::otlp::db::sessions_spans(conn, run, &list, crate::otlp::tree::MAX_SHOWN)
    })?;
    for s in sessions.iter_mut().filter(|s| ids.contains(&s.session_id)) {
        s.trace = events.remove(&s.session_id).unwrap_or_default();
        let mut detail = details.remove(&s.session_id).unwrap_or_default();
        detail.spans = spans.remove(&s.session_id).unwrap_or_default();
        s.detail = Some(detail);
    }
    Ok(())
}

fn events(conn: &Connection, run: &str, list: &str) -> Result<BTreeMap<String, Vec<TraceEvent>>> {
    let mut st = conn
        .prepare(&format!(
            "SELECT session_id, seq, type, name, CAST(data AS VARCHAR), error
             FROM events WHERE run_no = {RUN_NO} AND session_id IN {IN_IDS}
             QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY seq) <= ?
             ORDER BY session_id, seq"
        ))
        .map_err(err("traces"))?;
    let rows = st
        .query_map(duckdb::params![run, list, MAX_EVENTS], |r| {
            Ok((
                r.get::<_, String>(0)?,
                TraceEvent {
                    seq: r.get::<_, i64>(1)?.max(0) as u64,
                    kind: r
                        .get::<_, Option<String>>(2)?
                        .as_deref()
                        .unwrap_or_default()
                        .into(),
                    name: r.get(3)?,
                    detail: detail(r.get::<_, Option<String>>(4)?.as_deref()),
                    error: r.get(5)?,
                },
            ))
        })
        .map_err(err("traces"))?;
    let mut by_session: BTreeMap<String, Vec<TraceEvent>> = BTreeMap::new();
    for row in rows {
        let (session, event) = row.map_err(err("traces"))?;
        by_session.entry(session).or_default().push(event);
    }
    Ok(by_session)
}

/// Every assertion (passing ones too) and the stderr tail of the listed sessions.
fn details(conn: &Connection, run: &str, list: &str) -> Result<BTreeMap<String, SessionDetail>> {
    let mut st = conn
        .prepare(&format!(
            "SELECT s.session_id, right(coalesce(s.stderr, ''), {TAIL}),
                    a.type, a.name, CAST(a.expected AS VARCHAR), CAST(a.actual AS VARCHAR),
                    a.message, a.passed, CAST(a.verifier AS VARCHAR)
             FROM sessions s LEFT JOIN assertions a ON a.run_no = s.run_no AND a.session_id = s.session_id
             WHERE s.run_no = {RUN_NO} AND s.session_id IN {IN_IDS}
             ORDER BY s.session_id, a.idx"
        ))
        .map_err(err("session details"))?;
    let rows = st
        .query_map([run, list], |r| {
            let assertion = match assertion_type(r, 2)? {
                Some(kind) => Some(AssertionView {
                    kind,
                    name: r.get(3)?,
                    expected: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                    actual: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                    message: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                    passed: r.get::<_, Option<bool>>(7)?.unwrap_or(false),
                    // A verifier record reev cannot read (another version) is left out.
                    verifier: r
                        .get::<_, Option<String>>(8)?
                        .and_then(|v| serde_json::from_str(&v).ok()),
                }),
                None => None,
            };
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, assertion))
        })
        .map_err(err("session details"))?;
    let mut out: BTreeMap<String, SessionDetail> = BTreeMap::new();
    for row in rows {
        let (session, stderr, assertion) = row.map_err(err("session details"))?;
        let d = out.entry(session).or_insert_with(|| SessionDetail {
            stderr_tail: stderr,
            ..SessionDetail::default()
        });
        d.assertions.extend(assertion);
    }
    Ok(out)
}

/// An event's own fields, without the ones shown elsewhere (type, name) or noise (ts),
/// as compact JSON cut to `MAX_DETAIL` characters.
fn detail(data: Option<&str>) -> String {
    let Some(data) = data else {
        return String::new();
    };
    let text = match serde_json::from_str::<serde_json::Value>(data) {
        Ok(serde_json::Value::Object(mut m)) => {
            for k in ["type", "name", "ts"] {
                m.remove(k);
            }
            if m.is_empty() {
                String::new()
            } else {
                serde_json::Value::Object(m).to_string()
            }
        }
        Ok(other) => other.to_string(),
        Err(_) => data.to_string(),
    };
    if text.chars().count() > MAX_DETAIL {
        text.chars().take(MAX_DETAIL - 1).chain(['…']).collect()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn detail_drops_known_fields_and_is_bounded() {
        assert_eq!(
            super::detail(Some(
                r#"{"type":"tool_call","name":"read_file","ts":1.5,"input":{"path":"a"}}"#
            )),
            r#"{"input":{"path":"a"}}"#
        );
        assert_eq!(super::detail(Some(r#"{"type":"x"}"#)), "");
        let long = format!(r#"{{"output":"{}"}}"#, "x".repeat(1000));
        assert_eq!(
            super::detail(Some(&long)).chars().count(),
            super::MAX_DETAIL
        );
        assert_eq!(super::detail(None), "");
    }
}
