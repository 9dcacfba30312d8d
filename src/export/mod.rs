//! `reev export`: tables of the store as CSV, JSON lines or Parquet, to a file or stdout.
//! Its row writers (CSV, JSON lines, the human table) also serve `reev query`.

pub mod cell;
mod csv_out;
mod json_out;
pub mod options;
pub mod query;
mod table;

pub use csv_out::CsvOut;
pub(crate) use options::check_run;
pub use options::{ExportOptions, Format, Table};
pub use table::TableOut;

use std::io::Write;

use duckdb::types::Value;

use crate::error::{Error, Result};
use crate::store::{self, Mode};

/// A row writer for one streaming format.
pub trait RowWriter {
    fn header(&mut self, columns: &[String]) -> std::io::Result<()>;
    fn row(&mut self, values: &[Value]) -> std::io::Result<()>;
    fn finish(&mut self) -> std::io::Result<()>;
}

/// Which result columns have DuckDB's JSON type (a VARCHAR alias): their text is a JSON
/// document, written as a JSON value rather than as a string holding JSON.
pub fn json_columns(stmt: Option<&duckdb::Statement<'_>>) -> Vec<bool> {
    let Some(stmt) = stmt else {
        return Vec::new();
    };
    (0..stmt.column_count())
        .map(|i| {
            stmt.column_logical_type(i)
                .get_alias()
                .is_some_and(|a| a.eq_ignore_ascii_case("json"))
        })
        .collect()
}

/// A value as JSON; text of a JSON column becomes the JSON value it holds.
pub fn json_cell(v: &Value, json_column: bool) -> serde_json::Value {
    match v {
        Value::Text(s) if json_column => {
            serde_json::from_str(s).unwrap_or_else(|_| serde_json::Value::String(s.clone()))
        }
        other => cell::json(other),
    }
}

/// The documented, stable column lists. New columns are only ever appended.
fn source(table: Table) -> (&'static str, &'static str, &'static str) {
    // (select list, from clause, order by)
    match table {
        Table::Sessions => (
            "s.session_id, s.run_id, s.benchmark_id, s.benchmark_sha256, s.agent, s.attempt, s.status, s.score, \
             s.pass_threshold, s.assertions_passed, s.assertions_total, s.exit_code, s.signal, s.error, s.started_at, \
             s.finished_at, s.duration_ms, s.timeout_ms, s.cpu_user_ms, s.cpu_system_ms, s.peak_rss_bytes, \
             s.stdout_bytes, s.stdout_truncated, s.stderr_bytes, s.stderr_truncated, s.events_count, s.host, s.reev_version, \
             s.input_tokens, s.output_tokens, s.cost_usd, s.try_number",
            "sessions s",
            "s.started_at, s.session_id",
        ),
        Table::Agents => (
            "s.run_id, s.agent, min(s.started_at) AS started_at, count(*) AS sessions, \
             count(*) FILTER (WHERE s.status = 'succeeded') AS succeeded, count(*) FILTER (WHERE s.status = 'failed') AS failed, \
             count(*) FILTER (WHERE s.status = 'timed_out') AS timed_out, count(*) FILTER (WHERE s.status = 'error') AS errors, \
             avg(s.score) AS mean_score, quantile_cont(s.duration_ms, 0.5) AS p50_duration_ms, \
             quantile_cont(s.duration_ms, 0.95) AS p95_duration_ms, avg(s.cpu_user_ms + s.cpu_system_ms) AS mean_cpu_ms, \
             max(s.peak_rss_bytes) AS max_peak_rss_bytes",
            "current_sessions s",
            "started_at, s.run_id, s.agent",
        ),
        Table::Benchmarks => (
            "b.benchmark_id, b.sha256, b.description, b.tags, b.yaml",
            "benchmarks b",
            "b.benchmark_id, b.sha256",
        ),
        Table::Assertions => (
            "a.session_id, s.run_id, s.benchmark_id, s.agent, s.attempt, a.idx, a.type, a.name, a.weight, a.passed, \
             a.expected, a.actual, a.message",
            "assertions a JOIN sessions s USING (session_id)",
            "s.started_at, a.session_id, a.idx",
        ),
        Table::Events => (
            "e.session_id, s.run_id, s.benchmark_id, s.agent, s.attempt, e.seq, e.type, e.name, e.data, e.error",
            "events e JOIN sessions s USING (session_id)",
            "s.started_at, e.session_id, e.seq",
        ),
        Table::Runs => (
            "r.run_id, r.manifest, r.shard, r.created_at, r.reev_version, r.host, r.git_commit, r.timeout_ms, r.jobs, \
             r.planned_sessions",
            "runs r",
            "r.created_at, r.run_id, r.manifest",
        ),
    }
}

fn query(opts: &ExportOptions) -> Result<(String, Vec<String>)> {
    let (cols, from, order) = source(opts.table);
    let mut filters = Vec::new();
    let mut params = Vec::new();
    let (run_col, time_col) = match opts.table {
        Table::Benchmarks => (None, None),
        Table::Runs => (Some("r.run_id"), Some("r.created_at")),
        _ => (Some("s.run_id"), Some("s.started_at")),
    };
    if let Some(run) = &opts.run {
        let col =
            run_col.ok_or_else(|| Error::input("--run does not apply to --table benchmarks"))?;
        filters.push(format!("{col} = ?"));
        params.push(run.clone());
    }
    if let Some(since) = &opts.since {
        chrono::NaiveDate::parse_from_str(since, "%Y-%m-%d")
            .map(|_| ())
            .or_else(|_| chrono::DateTime::parse_from_rfc3339(since).map(|_| ()))
            .map_err(|_| {
                Error::input(format!(
                    "--since `{since}`: give a date (2026-11-01) or an RFC 3339 time"
                ))
            })?;
        let col =
            time_col.ok_or_else(|| Error::input("--since does not apply to --table benchmarks"))?;
        filters.push(format!("{col} >= CAST(? AS TIMESTAMP)"));
        params.push(since.trim_end_matches('Z').replace('T', " "));
    }
    let filter = if filters.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", filters.join(" AND "))
    };
    let group = if opts.table == Table::Agents {
        " GROUP BY s.run_id, s.agent"
    } else {
        ""
    };
    let date = if opts.partition_by_date {
        format!(
            ", CAST({} AS DATE) AS date",
            time_col.unwrap_or("current_date")
        )
    } else {
        String::new()
    };
    let date = if opts.table == Table::Agents && opts.partition_by_date {
        ", CAST(min(s.started_at) AS DATE) AS date".to_string()
    } else {
        date
    };
    Ok((
        format!("SELECT {cols}{date} FROM {from}{filter}{group} ORDER BY {order}"),
        params,
    ))
}

pub fn export(opts: &ExportOptions) -> Result<u64> {
    if opts.format == Format::OtlpJson {
        return crate::otlp::export::from_store(opts);
    }
    let to_stdout = opts.out.as_ref().is_none_or(|p| p.as_os_str() == "-");
    if opts.partition_by_date && opts.format != Format::Parquet {
        return Err(Error::input("--partition-by-date needs --format parquet"));
    }
    if opts.format == Format::Parquet && to_stdout {
        return Err(Error::input("Parquet cannot go to stdout: give --out FILE (or a directory with --partition-by-date)"));
    }
    let conn = store::open(&opts.db, Mode::ReadOnly, opts.wait)?;
    let (sql, params) = query(opts)?;
    if let Some(run) = &opts.run {
        check_run(&conn, run)?;
    }
    let qerr = |e: duckdb::Error| Error::env(format!("export query failed: {e}\nquery: {sql}"));
    if opts.format == Format::Parquet {
        let out = opts.out.clone().unwrap_or_default();
        let target = out.display().to_string().replace('\'', "''");
        let partition = if opts.partition_by_date {
            ", PARTITION_BY (date), OVERWRITE_OR_IGNORE"
        } else {
            ""
        };
        let copy = format!("COPY ({sql}) TO '{target}' (FORMAT PARQUET{partition})");
        let n = conn
            .execute(&copy, duckdb::params_from_iter(params.iter()))
            .map_err(|e| Error::env(format!("cannot write Parquet to {}: {e}", out.display())))?;
        return Ok(n as u64);
    }
    let mut st = conn.prepare(&sql).map_err(qerr)?;
    let mut rows = st
        .query(duckdb::params_from_iter(params.iter()))
        .map_err(qerr)?;
    let columns: Vec<String> = rows.as_ref().map(|s| s.column_names()).unwrap_or_default();
    let sink: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        let path = opts.out.clone().unwrap_or_default();
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(&path).map_err(|e| Error::io("cannot create", &path, e))?,
        ))
    };
    let mut w: Box<dyn RowWriter> = match opts.format {
        Format::Csv => Box::new(csv_out::CsvOut::new(sink, !opts.raw)),
        _ => Box::new(json_out::JsonLines::new(
            sink,
            columns.clone(),
            json_columns(rows.as_ref()),
        )),
    };
    let io = |e: std::io::Error| {
        if to_stdout {
            Error::stdout(e)
        } else {
            Error::env(format!("cannot write export: {e}"))
        }
    };
    w.header(&columns).map_err(io)?;
    let mut n = 0u64;
    let mut values = Vec::with_capacity(columns.len());
    while let Some(row) = rows.next().map_err(qerr)? {
        values.clear();
        for i in 0..columns.len() {
            values.push(row.get::<_, Value>(i).map_err(qerr)?);
        }
        w.row(&values).map_err(io)?;
        n += 1;
    }
    w.finish().map_err(io)?;
    Ok(n)
}

/// Numbers of every width and sign: right-aligned in tables, and never a formula in CSV.
pub(crate) fn is_number(v: &Value) -> bool {
    matches!(
        v,
        Value::TinyInt(_)
            | Value::SmallInt(_)
            | Value::Int(_)
            | Value::BigInt(_)
            | Value::HugeInt(_)
            | Value::UTinyInt(_)
            | Value::USmallInt(_)
            | Value::UInt(_)
            | Value::UBigInt(_)
            | Value::UHugeInt(_)
            | Value::Float(_)
            | Value::Double(_)
            | Value::Decimal(_)
    )
}
