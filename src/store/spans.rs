//! The `spans` table's rows: one per span a session file keeps (`spans`).

use duckdb::types::{TimeUnit, Value};
use duckdb::{params, Appender};

use crate::session::SessionFile;

/// A span time (Unix nanoseconds) as a TIMESTAMP; none for 0 (unset) or past DuckDB's range.
fn time(nanos: u64) -> Option<Value> {
    let micros = i64::try_from(nanos / 1000).ok()?;
    (nanos > 0).then_some(Value::Timestamp(TimeUnit::Microsecond, micros))
}

pub(super) fn append(w: &mut Appender, s: &SessionFile, run_no: i64) -> duckdb::Result<()> {
    for (i, sp) in s.spans.iter().enumerate() {
        w.append_row(params![
            s.session_id,
            i as i32,
            sp.trace_id,
            sp.span_id,
            sp.parent_span_id,
            sp.name,
            sp.kind.as_str(),
            time(sp.start_unix_nano),
            time(sp.end_unix_nano),
            sp.duration_ms(),
            sp.status.as_str(),
            sp.status_message,
            serde_json::to_string(&sp.attributes).unwrap_or_default(),
            sp.service,
            sp.foreign,
            run_no,
        ])?;
    }
    Ok(())
}
