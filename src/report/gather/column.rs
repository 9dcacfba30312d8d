//! Closed sets the database holds as text (a session's status, an assertion's type), parsed
//! once where a row is read: a value reev does not know fails the query, naming it.

use crate::session::{AssertionKind, Status};

/// A text column held a value outside its closed set.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} `{value}` in the database")]
pub struct Unknown {
    pub what: &'static str,
    pub value: String,
}

/// Column `idx` of `row`, parsed by `parse` (`what` names the set in the error).
pub fn parsed<T>(
    row: &duckdb::Row,
    idx: usize,
    what: &'static str,
    parse: impl Fn(&str) -> Option<T>,
) -> duckdb::Result<T> {
    let text: String = row.get(idx)?;
    parse(&text).ok_or_else(|| {
        duckdb::Error::FromSqlConversionFailure(
            idx,
            duckdb::types::Type::Text,
            Box::new(Unknown { what, value: text }),
        )
    })
}

/// A session's status, as the `status` columns hold it.
pub fn status(row: &duckdb::Row, idx: usize) -> duckdb::Result<Status> {
    parsed(row, idx, "session status", Status::parse)
}

/// An assertion's type from a LEFT JOIN: `None` when the row has no assertion.
pub fn assertion_type(row: &duckdb::Row, idx: usize) -> duckdb::Result<Option<AssertionKind>> {
    if row.get::<_, Option<String>>(idx)?.is_none() {
        return Ok(None);
    }
    parsed(row, idx, "assertion type", AssertionKind::parse).map(Some)
}
