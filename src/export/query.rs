//! `reev query`'s work: read-only SQL against the database, its rows written as a table, CSV
//! (the writer `reev export` uses) or JSON.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use duckdb::types::Value;

use super::{json_cell, CsvOut, RowWriter, TableOut};
use crate::error::{Error, Result};
use crate::store::{self, Mode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Debug)]
pub struct QueryOptions {
    pub sql: String,
    pub db: PathBuf,
    pub format: Format,
    pub wait: Duration,
}

/// Run `opts.sql` read-only and write its rows to `out` in `opts.format`.
pub fn query(opts: &QueryOptions, out: impl Write) -> Result<()> {
    let conn = store::open(&opts.db, Mode::ReadOnly, opts.wait)?;
    let qerr = |e: duckdb::Error| Error::input(format!("query failed: {e}\nquery: {}", opts.sql));
    let mut stmt = conn.prepare(&opts.sql).map_err(qerr)?;
    let mut rows = stmt.query([]).map_err(qerr)?;
    let names: Vec<String> = rows.as_ref().map(|s| s.column_names()).unwrap_or_default();
    let json_cols = super::json_columns(rows.as_ref());
    let mut data: Vec<Vec<Value>> = Vec::new();
    while let Some(row) = rows.next().map_err(qerr)? {
        let mut values = Vec::with_capacity(names.len());
        for i in 0..names.len() {
            values.push(row.get::<_, Value>(i).map_err(qerr)?);
        }
        data.push(values);
    }
    let written = match opts.format {
        Format::Table => write_rows(TableOut::new(out), &names, &data),
        // The same writer as `reev export`, formulas neutralised: one CSV for both.
        Format::Csv => write_rows(CsvOut::new(out, true), &names, &data),
        Format::Json => write_json(out, &unique_names(&names), &json_cols, &data),
    };
    written.map_err(Error::stdout)
}

fn write_rows(mut w: impl RowWriter, names: &[String], data: &[Vec<Value>]) -> std::io::Result<()> {
    w.header(names)?;
    for row in data {
        w.row(row)?;
    }
    w.finish()
}

/// Column names as JSON keys: a repeated name (`SELECT a.score, b.score ...`) gets `_1`, `_2`, ...
/// appended, since a JSON object keeps one value per key and the others would be lost silently.
fn unique_names(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for n in names {
        let mut key = n.clone();
        let mut i = 0;
        while out.contains(&key) {
            i += 1;
            key = format!("{n}_{i}");
        }
        out.push(key);
    }
    out
}

fn write_json(
    mut out: impl Write,
    names: &[String],
    json_cols: &[bool],
    data: &[Vec<Value>],
) -> std::io::Result<()> {
    let rows: Vec<serde_json::Value> = data
        .iter()
        .map(|r| {
            serde_json::Value::Object(
                names
                    .iter()
                    .cloned()
                    .zip(
                        r.iter()
                            .enumerate()
                            .map(|(i, v)| json_cell(v, json_cols.get(i).copied().unwrap_or(false))),
                    )
                    .collect(),
            )
        })
        .collect();
    serde_json::to_writer_pretty(&mut out, &rows)?;
    writeln!(out)
}
