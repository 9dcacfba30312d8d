//! JSON lines: one object per row, numbers as numbers, timestamps as ISO strings.

use std::io::Write;

use duckdb::types::Value;

use super::RowWriter;
use crate::cmd::query::json;

pub struct JsonLines<W: Write> {
    w: W,
    columns: Vec<String>,
}

impl<W: Write> JsonLines<W> {
    pub fn new(w: W, columns: Vec<String>) -> Self {
        JsonLines { w, columns }
    }
}

impl<W: Write> RowWriter for JsonLines<W> {
    fn header(&mut self, _columns: &[String]) -> std::io::Result<()> {
        Ok(())
    }

    fn row(&mut self, values: &[Value]) -> std::io::Result<()> {
        let obj: serde_json::Map<String, serde_json::Value> = self
            .columns
            .iter()
            .cloned()
            .zip(values.iter().map(json))
            .collect();
        serde_json::to_writer(&mut self.w, &obj)?;
        self.w.write_all(b"\n")
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}
