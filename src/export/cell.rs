//! One DuckDB value as a cell of every output: text for people (tables, CSV), JSON for
//! machines (RFC 3339 timestamps in UTC). `reev query` and `reev export` share it.

use duckdb::types::{TimeUnit, Value};

/// A value as text: what a person reads in a table or a CSV cell.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Text(s) | Value::Enum(s) => s.clone(),
        // Exact digits, not through f64 (DECIMAL(38,1) has more digits than a double).
        Value::Decimal(d) => d.to_string(),
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

fn micros(unit: TimeUnit, n: i64) -> i64 {
    match unit {
        TimeUnit::Second => n.saturating_mul(1_000_000),
        TimeUnit::Millisecond => n.saturating_mul(1_000),
        TimeUnit::Microsecond => n,
        TimeUnit::Nanosecond => n / 1_000,
    }
}

fn timestamp(unit: TimeUnit, n: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros(unit, n))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| n.to_string())
}

/// A timestamp for machines: RFC 3339 in UTC with `Z` (reev stores UTC), milliseconds,
/// or microseconds when the value has them.
pub fn rfc3339(unit: TimeUnit, n: i64) -> String {
    let us = micros(unit, n);
    let digits = if us % 1_000 == 0 {
        chrono::SecondsFormat::Millis
    } else {
        chrono::SecondsFormat::Micros
    };
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(digits, true))
        .unwrap_or_else(|| n.to_string())
}

/// A value as JSON: numbers stay numbers, timestamps become RFC 3339 strings in UTC.
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
        Value::Timestamp(unit, n) => j!(rfc3339(*unit, *n)),
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
