//! Closed sets the database holds as text (a session's status, an assertion's type), parsed
//! once where a row is read: a value reev does not know fails the query, naming it.

use crate::session::Status;

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
    parsed(row, idx, "session status", |s| {
        [
            Status::Succeeded,
            Status::Failed,
            Status::TimedOut,
            Status::Error,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    })
}

/// An assertion's `type`, as benchmarks write it and session files record it (the names of
/// `spec::benchmark::Check::type_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssertionType {
    ExitCode,
    StdoutEquals,
    StdoutContains,
    StdoutMatches,
    FileExists,
    FileContains,
    JsonValue,
    DurationAtMost,
    Verify,
    Event,
    Metric,
    ToolSequence,
}

impl AssertionType {
    const ALL: [AssertionType; 12] = [
        AssertionType::ExitCode,
        AssertionType::StdoutEquals,
        AssertionType::StdoutContains,
        AssertionType::StdoutMatches,
        AssertionType::FileExists,
        AssertionType::FileContains,
        AssertionType::JsonValue,
        AssertionType::DurationAtMost,
        AssertionType::Verify,
        AssertionType::Event,
        AssertionType::Metric,
        AssertionType::ToolSequence,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AssertionType::ExitCode => "exit_code",
            AssertionType::StdoutEquals => "stdout_equals",
            AssertionType::StdoutContains => "stdout_contains",
            AssertionType::StdoutMatches => "stdout_matches",
            AssertionType::FileExists => "file_exists",
            AssertionType::FileContains => "file_contains",
            AssertionType::JsonValue => "json_value",
            AssertionType::DurationAtMost => "duration_at_most",
            AssertionType::Verify => "verify",
            AssertionType::Event => "event",
            AssertionType::Metric => "metric",
            AssertionType::ToolSequence => "tool_sequence",
        }
    }
}

impl std::fmt::Display for AssertionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An assertion's type from a LEFT JOIN: `None` when the row has no assertion.
pub fn assertion_type(row: &duckdb::Row, idx: usize) -> duckdb::Result<Option<AssertionType>> {
    if row.get::<_, Option<String>>(idx)?.is_none() {
        return Ok(None);
    }
    parsed(row, idx, "assertion type", |s| {
        AssertionType::ALL.into_iter().find(|t| t.as_str() == s)
    })
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::AssertionType;

    #[test]
    fn assertion_types_are_the_benchmark_checks_names() {
        for t in AssertionType::ALL {
            let json = serde_json::to_value(t).unwrap();
            assert_eq!(json, t.as_str());
        }
    }
}
