//! CSV (RFC 4180, via the csv crate), with text cells neutralised against formula injection
//! and timestamps in RFC 3339 with their zone (`2026-11-21T23:16:25.123Z`), as in the JSON
//! export: a spreadsheet or script in another zone must not take UTC for local time.

use std::io::Write;

use duckdb::types::Value;

use super::cell::text;
use super::RowWriter;

pub struct CsvOut<W: Write> {
    w: csv::Writer<W>,
    neutralise: bool,
}

impl<W: Write> CsvOut<W> {
    pub fn new(w: W, neutralise: bool) -> Self {
        CsvOut {
            w: csv::Writer::from_writer(w),
            neutralise,
        }
    }
}

/// A text cell a spreadsheet would run as a formula gets a leading apostrophe (OWASP's advice).
/// Leading whitespace does not make it safe: spreadsheets that trim cells on import (LibreOffice's
/// "trim spaces", most import scripts) would see `=` first again.
pub fn neutralise(s: &str) -> std::borrow::Cow<'_, str> {
    let risky = |c: Option<char>| matches!(c, Some('=' | '+' | '-' | '@' | '\t' | '\r'));
    if risky(s.chars().next()) || risky(s.trim_start().chars().next()) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// Values written as numbers, booleans or times: never a formula, and a leading `-` is a sign.
fn literal(v: &Value) -> bool {
    super::is_number(v)
        || matches!(
            v,
            Value::Boolean(_) | Value::Timestamp(..) | Value::Date32(_)
        )
}

impl<W: Write> RowWriter for CsvOut<W> {
    fn header(&mut self, columns: &[String]) -> std::io::Result<()> {
        self.w.write_record(columns).map_err(std::io::Error::other)
    }

    fn row(&mut self, values: &[Value]) -> std::io::Result<()> {
        let cells = values.iter().map(|v| match v {
            Value::Null => String::new(),
            Value::Timestamp(unit, n) => super::cell::rfc3339(*unit, *n),
            // Not only Text: an ENUM or a UNION holding agent text is written as that text.
            other if self.neutralise && !literal(other) => neutralise(&text(other)).into_owned(),
            other => text(other),
        });
        self.w.write_record(cells).map_err(std::io::Error::other)
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formulas_are_neutralised() {
        for s in [
            "=1+1",
            "+x",
            "-cmd",
            "@SUM(A1)",
            "\tx",
            "\rx",
            " =1+1",
            "\n=HYPERLINK(\"http://x\")",
            "  @SUM(A1)",
        ] {
            assert!(super::neutralise(s).starts_with('\''), "{s}");
        }
        assert_eq!(super::neutralise("plain"), "plain");
        assert_eq!(super::neutralise(" plain = fine"), " plain = fine");
        assert_eq!(super::neutralise(""), "");
    }
}
