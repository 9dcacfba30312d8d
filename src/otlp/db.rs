//! Spans read back from the `spans` table, for the report's trace view (the report reads the
//! database, not session files).

use std::collections::BTreeMap;

use duckdb::Connection;
use serde_json::Value;

use super::span::{Code, Kind, SpanRecord};
use crate::error::{Error, Result};
use crate::store::schema::{IN_IDS, RUN_NO};

const COLUMNS: &str = "session_id, trace_id, span_id, parent_span_id, name, kind, epoch_ns(start_time),
     epoch_ns(end_time), status, status_message, CAST(attributes AS VARCHAR), service, foreign_trace";

/// The spans of one session, in arrival order.
pub fn session_spans(conn: &Connection, session_id: &str) -> Result<Vec<SpanRecord>> {
    let err = |e: duckdb::Error| {
        Error::env(format!(
            "cannot read the spans of session {session_id}: {e}"
        ))
    };
    let mut st = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM spans WHERE session_id = ? ORDER BY idx"
        ))
        .map_err(err)?;
    let rows = st.query_map([session_id], row).map_err(err)?;
    rows.map(|r| r.map(|(_, span)| span))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(err)
}

/// The first `per_session` spans (in arrival order) of each session of `ids` (session ids
/// of run `run`, separated by spaces: see [`IN_IDS`]): the report's trace views. Capped,
/// since a session may keep 10,000.
pub fn sessions_spans(
    conn: &Connection,
    run: &str,
    ids: &str,
    per_session: usize,
) -> Result<BTreeMap<String, Vec<SpanRecord>>> {
    let err = |e: duckdb::Error| Error::env(format!("cannot read the sessions' spans: {e}"));
    let mut st = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM spans WHERE run_no = {RUN_NO} AND session_id IN {IN_IDS}
             QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY idx) <= {per_session}
             ORDER BY session_id, idx"
        ))
        .map_err(err)?;
    let mut out: BTreeMap<String, Vec<SpanRecord>> = BTreeMap::new();
    for r in st.query_map([run, ids], row).map_err(err)? {
        let (session, span) = r.map_err(err)?;
        out.entry(session).or_default().push(span);
    }
    Ok(out)
}

/// One row of [`COLUMNS`]: its session and the span.
fn row(r: &duckdb::Row) -> duckdb::Result<(String, SpanRecord)> {
    let word = |i: usize| -> duckdb::Result<Value> { Ok(Value::String(r.get::<_, String>(i)?)) };
    let attributes: Option<String> = r.get(10)?;
    let span = SpanRecord {
        trace_id: r.get(1)?,
        span_id: r.get(2)?,
        parent_span_id: r.get(3)?,
        name: r.get(4)?,
        kind: serde_json::from_value(word(5)?).unwrap_or(Kind::Unspecified),
        start_unix_nano: r.get::<_, Option<i64>>(6)?.unwrap_or(0).max(0) as u64,
        end_unix_nano: r.get::<_, Option<i64>>(7)?.unwrap_or(0).max(0) as u64,
        status: serde_json::from_value(word(8)?).unwrap_or(Code::Unset),
        status_message: r.get(9)?,
        attributes: attributes
            .and_then(|a| serde_json::from_str(&a).ok())
            .unwrap_or_default(),
        service: r.get(11)?,
        foreign: r.get(12)?,
    };
    Ok((r.get(0)?, span))
}
