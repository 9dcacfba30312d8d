//! `reev query`: read-only SQL against the database, printed as a table, CSV or JSON.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use duckdb::types::{TimeUnit, Value};

use crate::error::{Error, Result};
use crate::store::{self, Mode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

pub fn query(opts: QueryOptions) -> Result<()> {
    let conn = store::open(&opts.db, Mode::ReadOnly, opts.wait)?;
    let qerr = |e: duckdb::Error| Error::input(format!("query failed: {e}\nquery: {}", opts.sql));
    let mut stmt = conn.prepare(&opts.sql).map_err(qerr)?;
    let mut rows = stmt.query([]).map_err(qerr)?;
    let names: Vec<String> = rows.as_ref().map(|s| s.column_names()).unwrap_or_default();
    let mut data: Vec<Vec<Value>> = Vec::new();
    while let Some(row) = rows.next().map_err(qerr)? {
        let mut values = Vec::with_capacity(names.len());
        for i in 0..names.len() {
            values.push(row.get::<_, Value>(i).map_err(qerr)?);
        }
        data.push(values);
    }
    let out = std::io::stdout().lock();
    let written = match opts.format {
        Format::Table => write_table(out, &names, &data),
        Format::Csv => write_csv(out, &names, &data),
        Format::Json => write_json(out, &names, &data),
    };
    written.map_err(|e| Error::env(format!("cannot write to stdout: {e}")))
}

fn write_table(mut out: impl Write, names: &[String], data: &[Vec<Value>]) -> std::io::Result<()> {
    let cells: Vec<Vec<String>> = data.iter().map(|r| r.iter().map(text).collect()).collect();
    let mut widths: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count().min(60));
        }
    }
    let line = |out: &mut dyn Write, row: &[String]| -> std::io::Result<()> {
        let parts: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let c: String = if c.chars().count() > 60 {
                    c.chars().take(59).chain(['…']).collect()
                } else {
                    c.clone()
                };
                format!("{c:<w$}")
            })
            .collect();
        writeln!(out, "{}", parts.join("  ").trim_end())
    };
    line(&mut out, names)?;
    writeln!(
        out,
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  ")
    )?;
    for row in &cells {
        line(&mut out, row)?;
    }
    writeln!(out, "({} rows)", cells.len())
}

fn write_csv(out: impl Write, names: &[String], data: &[Vec<Value>]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(names)?;
    for row in data {
        w.write_record(row.iter().map(|v| {
            if matches!(v, Value::Null) {
                String::new()
            } else {
                text(v)
            }
        }))?;
    }
    w.flush()
}

fn write_json(mut out: impl Write, names: &[String], data: &[Vec<Value>]) -> std::io::Result<()> {
    let rows: Vec<serde_json::Value> = data
        .iter()
        .map(|r| serde_json::Value::Object(names.iter().cloned().zip(r.iter().map(json)).collect()))
        .collect();
    serde_json::to_writer_pretty(&mut out, &rows)?;
    writeln!(out)
}

/// A value as text: what a person reads in a table or a CSV cell.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Text(s) | Value::Enum(s) => s.clone(),
        Value::Timestamp(unit, n) => timestamp(*unit, *n),
        Value::Date32(days) => chrono::DateTime::from_timestamp(i64::from(*days) * 86_400, 0)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| days.to_string()),
        other => match json(other) {
            serde_json::Value::String(s) => s,
            j => j.to_string(),
        },
    }
}

fn timestamp(unit: TimeUnit, n: i64) -> String {
    let micros = match unit {
        TimeUnit::Second => n.saturating_mul(1_000_000),
        TimeUnit::Millisecond => n.saturating_mul(1_000),
        TimeUnit::Microsecond => n,
        TimeUnit::Nanosecond => n / 1_000,
    };
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| n.to_string())
}

/// A value as JSON: numbers stay numbers, timestamps become ISO strings.
pub fn json(v: &Value) -> serde_json::Value {
    use serde_json::json as j;
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Boolean(b) => j!(b),
        Value::TinyInt(n) => j!(n),
        Value::SmallInt(n) => j!(n),
        Value::Int(n) => j!(n),
        Value::BigInt(n) => j!(n),
        Value::HugeInt(n) => i64::try_from(*n)
            .map(|n| j!(n))
            .unwrap_or_else(|_| j!(n.to_string())),
        Value::UHugeInt(n) => u64::try_from(*n)
            .map(|n| j!(n))
            .unwrap_or_else(|_| j!(n.to_string())),
        Value::UTinyInt(n) => j!(n),
        Value::USmallInt(n) => j!(n),
        Value::UInt(n) => j!(n),
        Value::UBigInt(n) => j!(n),
        Value::Float(f) => j!(f),
        Value::Double(f) => j!(f),
        Value::Decimal(d) => d
            .to_string()
            .parse::<f64>()
            .map(|f| j!(f))
            .unwrap_or_else(|_| j!(d.to_string())),
        Value::Timestamp(unit, n) => j!(timestamp(*unit, *n)),
        Value::Text(s) | Value::Enum(s) => j!(s),
        Value::Blob(b) | Value::Geometry(b) => j!(crate::digest::hex(b)),
        Value::Date32(_) => j!(text(v)),
        Value::List(items) | Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(json).collect())
        }
        Value::Struct(fields) => {
            serde_json::Value::Object(fields.iter().map(|(k, v)| (k.clone(), json(v))).collect())
        }
        Value::Union(inner) => json(inner),
        other => j!(format!("{other:?}")),
    }
}
