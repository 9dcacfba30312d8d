//! The event traces of a run's failures: what the agent did (tool calls, model requests,
//! metrics, errors), shown under each failure so a reader sees why without `reev show`.

use std::collections::BTreeMap;

use duckdb::Connection;

use super::model::{Failure, TraceEvent};
use crate::error::{Error, Result};

/// Events shown per failure; a longer trace ends with a note pointing at `reev show`.
pub const MAX_EVENTS: i64 = 40;
/// Characters of an event's details shown.
const MAX_DETAIL: usize = 240;

/// Attach to every failure of `run` the first `MAX_EVENTS` events of its trace.
pub fn attach(conn: &Connection, run: &str, failures: &mut [Failure]) -> Result<()> {
    if failures.is_empty() {
        return Ok(());
    }
    let err = |e: duckdb::Error| Error::env(format!("report query `traces` failed: {e}"));
    let mut st = conn
        .prepare(
            "SELECT e.session_id, e.seq, e.type, e.name, CAST(e.data AS VARCHAR), e.error
             FROM events e JOIN sessions s USING (session_id)
             WHERE s.run_id = ? AND s.status <> 'succeeded'
             QUALIFY row_number() OVER (PARTITION BY e.session_id ORDER BY e.seq) <= ?
             ORDER BY e.session_id, e.seq",
        )
        .map_err(err)?;
    let rows = st
        .query_map(duckdb::params![run, MAX_EVENTS], |r| {
            Ok((
                r.get::<_, String>(0)?,
                TraceEvent {
                    seq: r.get::<_, i64>(1)?.max(0) as u64,
                    kind: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    name: r.get(3)?,
                    detail: detail(r.get::<_, Option<String>>(4)?.as_deref()),
                    error: r.get(5)?,
                },
            ))
        })
        .map_err(err)?;
    let mut by_session: BTreeMap<String, Vec<TraceEvent>> = BTreeMap::new();
    for row in rows {
        let (session, event) = row.map_err(err)?;
        by_session.entry(session).or_default().push(event);
    }
    for f in failures.iter_mut() {
        if let Some(events) = by_session.remove(&f.session_id) {
            f.trace = events;
        }
    }
    Ok(())
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
