//! Spans read back from the `spans` table, for the report's trace view (the report reads the
//! database, not session files).

use duckdb::Connection;
use serde_json::Value;

use super::span::{Code, Kind, SpanRecord};
use crate::error::{Error, Result};

/// The spans of one session, in arrival order.
pub fn session_spans(conn: &Connection, session_id: &str) -> Result<Vec<SpanRecord>> {
    let err = |e: duckdb::Error| {
        Error::env(format!(
            "cannot read the spans of session {session_id}: {e}"
        ))
    };
    let mut st = conn
        .prepare(
            "SELECT trace_id, span_id, parent_span_id, name, kind, epoch_ns(start_time),
                    epoch_ns(end_time), status, status_message, CAST(attributes AS VARCHAR),
                    service, foreign_trace
             FROM spans WHERE session_id = ? ORDER BY idx",
        )
        .map_err(err)?;
    let rows = st
        .query_map([session_id], |r| {
            let word =
                |i: usize| -> duckdb::Result<Value> { Ok(Value::String(r.get::<_, String>(i)?)) };
            let attributes: Option<String> = r.get(9)?;
            Ok(SpanRecord {
                trace_id: r.get(0)?,
                span_id: r.get(1)?,
                parent_span_id: r.get(2)?,
                name: r.get(3)?,
                kind: serde_json::from_value(word(4)?).unwrap_or(Kind::Unspecified),
                start_unix_nano: r.get::<_, Option<i64>>(5)?.unwrap_or(0).max(0) as u64,
                end_unix_nano: r.get::<_, Option<i64>>(6)?.unwrap_or(0).max(0) as u64,
                status: serde_json::from_value(word(7)?).unwrap_or(Code::Unset),
                status_message: r.get(8)?,
                attributes: attributes
                    .and_then(|a| serde_json::from_str(&a).ok())
                    .unwrap_or_default(),
                service: r.get(10)?,
                foreign: r.get(11)?,
            })
        })
        .map_err(err)?;
    rows.collect::<std::result::Result<Vec<_>, _>>()
        .map_err(err)
}
