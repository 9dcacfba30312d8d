//! JSON lines: one object per row, numbers as numbers, JSON columns as JSON values,
//! timestamps as RFC 3339 strings in UTC (`2026-11-21T23:16:25.123Z`).

use std::io::Write;

use duckdb::types::Value;

use super::json_cell;
use super::RowWriter;

pub struct JsonLines<W: Write> {
    w: W,
    columns: Vec<String>,
    /// Per column: does it hold JSON documents (DuckDB's JSON type)?
    json_cols: Vec<bool>,
}

impl<W: Write> JsonLines<W> {
    pub fn new(w: W, columns: Vec<String>, json_cols: Vec<bool>) -> Self {
        JsonLines {
            w,
            columns,
            json_cols,
        }
    }
}

impl<W: Write> RowWriter for JsonLines<W> {
    fn header(&mut self, _columns: &[String]) -> std::io::Result<()> {
        Ok(())
    }

    fn row(&mut self, values: &[Value]) -> std::io::Result<()> {
        let obj: serde_json::Map<String, serde_json::Value> =
            self.columns
                .iter()
                .cloned()
                .zip(
                    values.iter().enumerate().map(|(i, v)| {
                        json_cell(v, self.json_cols.get(i).copied().unwrap_or(false))
                    }),
                )
                .collect();
        serde_json::to_writer(&mut self.w, &obj)?;
        self.w.write_all(b"\n")
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}
