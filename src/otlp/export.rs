//! `reev export --format otlp-json`: sessions as OTLP/JSON, one `ExportTraceServiceRequest`
//! per line (the OpenTelemetry Collector's `otlpjsonfile` format), for Jaeger, Tempo,
//! Phoenix or any OTel backend.
//!
//! Each session is one trace (the ids its agent got in `TRACEPARENT`): a root span with the
//! session's status, score and attributes; under it the spans the agent sent, its events
//! file's model requests and tool calls as GenAI spans, and a span per verifier run.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde_json::{json, Map, Value};

use super::span::{key_values, unhex, Code, Kind, SpanRecord};
use super::TraceIds;
use crate::error::{Error, Result};
use crate::export::options::{self, ExportOptions};
use crate::session::{self, EventKind, SessionFile, Status as SessionStatus};
use crate::store::{self, Mode};

/// One session as one OTLP/JSON line (no newline).
pub fn session_line(s: &SessionFile) -> String {
    let ids = TraceIds::for_session(&s.session_id);
    let start = nanos(&s.started_at);
    let end = nanos(&s.finished_at).max(start);
    let mut spans = vec![root(s, &ids, start, end)];
    let known: HashSet<&str> = s.spans.iter().map(|r| r.span_id.as_str()).collect();
    for r in &s.spans {
        spans.push(proto_span(r, &ids, &known));
    }
    spans.extend(event_spans(s, &ids, start));
    spans.extend(verifier_spans(s, &ids, end));
    let mut resource = Map::new();
    resource.insert("service.name".into(), "reev".into());
    resource.insert("reev.run_id".into(), s.run_id.clone().into());
    resource.insert("reev.host".into(), s.host.clone().into());
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: key_values(&resource),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "reev".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    let mut v = serde_json::to_value(&request).unwrap_or(Value::Null);
    compact(&mut v);
    v.to_string()
}

/// `reev export --format otlp-json [--run RUN]`: the sessions the database knows (of RUN),
/// each read from its session file (found through the loaded-files ledger: the files hold
/// what the tables leave out, such as verifier runs).
pub fn from_store(opts: &ExportOptions) -> Result<u64> {
    if opts.since.is_some() || opts.partition_by_date {
        return Err(Error::input(
            "--since and --partition-by-date do not apply to --format otlp-json (use --run)",
        ));
    }
    let conn = store::open(&opts.db, Mode::ReadOnly, opts.wait)?;
    if let Some(run) = &opts.run {
        options::check_run(&conn, run)?;
    }
    let paths = session_paths(&conn, opts.run.as_deref())?;
    drop(conn);
    let to_stdout = opts.out.as_ref().is_none_or(|p| p.as_os_str() == "-");
    let mut sink: Box<dyn Write> = if to_stdout {
        Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        let path = opts.out.clone().unwrap_or_default();
        let f = std::fs::File::create(&path).map_err(|e| Error::io("cannot create", &path, e))?;
        Box::new(std::io::BufWriter::new(f))
    };
    let io = |e: std::io::Error| {
        if to_stdout {
            Error::stdout(e)
        } else {
            Error::env(format!("cannot write export: {e}"))
        }
    };
    let mut n = 0;
    for path in &paths {
        let s = session::read(Path::new(path)).map_err(|e| {
            Error::input(format!(
                "{path}: {e} (was it removed or changed after `reev load`?)"
            ))
        })?;
        sink.write_all(session_line(&s).as_bytes()).map_err(io)?;
        sink.write_all(b"\n").map_err(io)?;
        n += 1;
    }
    sink.flush().map_err(io)?;
    Ok(n)
}

fn session_paths(conn: &duckdb::Connection, run: Option<&str>) -> Result<Vec<String>> {
    let filter = if run.is_some() {
        "AND s.run_id = ?"
    } else {
        ""
    };
    let sql = format!(
        "SELECT l.path FROM loaded_files l JOIN sessions s USING (session_id)
         WHERE l.kind = 'session' {filter}
         QUALIFY row_number() OVER (PARTITION BY l.session_id ORDER BY l.load_id, l.path) = 1
         ORDER BY s.started_at, s.session_id"
    );
    let err = |e: duckdb::Error| Error::env(format!("cannot list the sessions to export: {e}"));
    let mut st = conn.prepare(&sql).map_err(err)?;
    let rows = st
        .query_map(duckdb::params_from_iter(run), |r| r.get::<_, String>(0))
        .map_err(err)?;
    rows.collect::<std::result::Result<Vec<_>, _>>()
        .map_err(err)
}

fn nanos(rfc3339: &str) -> u64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .map_or(0, |n| n.max(0) as u64)
}

/// A span id of reev's own making (an event's, a verifier's): 8 bytes of a digest.
fn derived_id(session_id: &str, what: &str, n: usize) -> Vec<u8> {
    super::sha2_of(&format!("reev-span\0{session_id}\0{what}\0{n}"))[..8].to_vec()
}

fn status(code: Code, message: Option<String>) -> Option<Status> {
    Some(Status {
        code: code.to_proto(),
        message: message.unwrap_or_default(),
    })
}

fn root(s: &SessionFile, ids: &TraceIds, start: u64, end: u64) -> Span {
    let mut a = Map::new();
    a.insert("reev.session_id".into(), s.session_id.clone().into());
    a.insert("reev.run_id".into(), s.run_id.clone().into());
    a.insert("reev.benchmark_id".into(), s.benchmark_id.clone().into());
    a.insert(
        "reev.benchmark_sha256".into(),
        s.benchmark_sha256.clone().into(),
    );
    a.insert("reev.agent".into(), s.agent.clone().into());
    a.insert("reev.attempt".into(), s.attempt.into());
    a.insert("reev.try".into(), s.try_number.into());
    a.insert("reev.status".into(), s.status.as_str().into());
    a.insert("reev.score".into(), json!(s.score));
    a.insert("reev.pass_threshold".into(), json!(s.pass_threshold));
    let optional = [
        ("reev.exit_code", s.exit_code.map(Value::from)),
        ("reev.signal", s.signal.map(Value::from)),
        ("gen_ai.usage.input_tokens", s.input_tokens.map(Value::from)),
        (
            "gen_ai.usage.output_tokens",
            s.output_tokens.map(Value::from),
        ),
        ("reev.cost_usd", s.cost_usd.map(Value::from)),
        ("reev.error", s.error.clone().map(Value::from)),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            a.insert(k.into(), v);
        }
    }
    a.insert("reev.events_dropped".into(), s.events_dropped.into());
    let (code, message) = match s.status {
        SessionStatus::Succeeded => (Code::Ok, None),
        other => (
            Code::Error,
            Some(
                s.error
                    .clone()
                    .unwrap_or_else(|| other.as_str().to_string()),
            ),
        ),
    };
    Span {
        trace_id: ids.trace_id.to_vec(),
        span_id: ids.root_span_id.to_vec(),
        name: format!(
            "reev session {} / {} #{}",
            s.benchmark_id, s.agent, s.attempt
        ),
        kind: Kind::Internal.to_proto(),
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: key_values(&a),
        status: status(code, message),
        ..Default::default()
    }
}

/// A span the agent sent. Spans of the session's trace (all but `foreign` ones, also those
/// of a trace file, recorded under ids of their own) go into the session's trace; one whose
/// parent is not there nests under the session's root span.
fn proto_span(r: &SpanRecord, ids: &TraceIds, known: &HashSet<&str>) -> Span {
    let root_id = ids.root_span_id.to_vec();
    let (trace_id, parent) = if r.foreign {
        let parent = r
            .parent_span_id
            .as_deref()
            .and_then(unhex)
            .unwrap_or_default();
        (unhex(&r.trace_id).unwrap_or_default(), parent)
    } else {
        let parent = r
            .parent_span_id
            .as_deref()
            .filter(|p| known.contains(p))
            .and_then(unhex)
            .unwrap_or(root_id);
        (ids.trace_id.to_vec(), parent)
    };
    Span {
        trace_id,
        span_id: unhex(&r.span_id).unwrap_or_default(),
        parent_span_id: parent,
        name: r.name.clone(),
        kind: r.kind.to_proto(),
        start_time_unix_nano: r.start_unix_nano,
        end_time_unix_nano: r.end_unix_nano,
        attributes: key_values(&r.attributes),
        status: status(r.status, r.status_message.clone()),
        ..Default::default()
    }
}

/// The events file's model requests and tool calls (not those made from spans, which are
/// exported as they came) as GenAI spans. An event with `ts` starts then, one without after
/// the one before it; `duration_ms` gives its length.
fn event_spans(s: &SessionFile, ids: &TraceIds, session_start: u64) -> Vec<Span> {
    let mut out = Vec::new();
    let mut at = session_start;
    for (i, e) in s.events.iter().enumerate() {
        let Some(d) = e.data.as_ref().and_then(Value::as_object) else {
            continue;
        };
        if d.get("source").and_then(Value::as_str) == Some("otlp") {
            continue;
        }
        if let Some(ts) = d
            .get("ts")
            .and_then(Value::as_f64)
            .filter(|t| t.is_finite() && *t > 0.0)
        {
            at = (ts * 1e9) as u64;
        }
        let len = d
            .get("duration_ms")
            .and_then(Value::as_f64)
            .filter(|x| x.is_finite() && *x >= 0.0);
        let end = at.saturating_add(len.map_or(0, |ms| (ms * 1e6) as u64));
        let (name, attrs) = match e.kind {
            EventKind::ModelRequest => model_attrs(d),
            EventKind::ToolCall => tool_attrs(d),
            _ => continue,
        };
        let failed = d
            .get("error")
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
        out.push(Span {
            trace_id: ids.trace_id.to_vec(),
            span_id: derived_id(&s.session_id, "event", i),
            parent_span_id: ids.root_span_id.to_vec(),
            name,
            kind: Kind::Internal.to_proto(),
            start_time_unix_nano: at,
            end_time_unix_nano: end,
            attributes: key_values(&attrs),
            status: status(
                if failed.is_some() {
                    Code::Error
                } else {
                    Code::Unset
                },
                failed,
            ),
            ..Default::default()
        });
        at = end;
    }
    out
}

fn model_attrs(d: &Map<String, Value>) -> (String, Map<String, Value>) {
    let mut a = Map::new();
    a.insert("gen_ai.operation.name".into(), "chat".into());
    let model = d.get("model").and_then(Value::as_str);
    for (from, to) in [
        ("model", "gen_ai.request.model"),
        ("response_model", "gen_ai.response.model"),
        ("input_tokens", "gen_ai.usage.input_tokens"),
        ("output_tokens", "gen_ai.usage.output_tokens"),
    ] {
        if let Some(v) = d.get(from).filter(|v| v.is_string() || v.is_number()) {
            a.insert(to.into(), v.clone());
        }
    }
    (
        format!("chat {}", model.unwrap_or(""))
            .trim_end()
            .to_string(),
        a,
    )
}

fn tool_attrs(d: &Map<String, Value>) -> (String, Map<String, Value>) {
    let mut a = Map::new();
    a.insert("gen_ai.operation.name".into(), "execute_tool".into());
    let name = d.get("name").and_then(Value::as_str).unwrap_or("");
    a.insert("gen_ai.tool.name".into(), name.into());
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    if let Some(v) = d.get("input") {
        a.insert("gen_ai.tool.call.arguments".into(), text(v).into());
    }
    if let Some(v) = d.get("output") {
        a.insert("gen_ai.tool.call.result".into(), text(v).into());
    }
    (format!("execute_tool {name}").trim_end().to_string(), a)
}

/// A span per verifier run, after the agent, one after the other, as they ran.
fn verifier_spans(s: &SessionFile, ids: &TraceIds, agent_end: u64) -> Vec<Span> {
    let mut at = agent_end;
    let mut out = Vec::new();
    for (i, a) in s.assertions.iter().enumerate() {
        let Some(v) = &a.verifier else { continue };
        let end = at.saturating_add(v.duration_ms.saturating_mul(1_000_000));
        let mut attrs = Map::new();
        attrs.insert("reev.verifier.command".into(), json!(v.command));
        attrs.insert("reev.assertion.index".into(), i.into());
        attrs.insert("reev.assertion.passed".into(), a.passed.into());
        attrs.insert("reev.assertion.weight".into(), json!(a.weight));
        for (k, x) in [
            ("reev.verifier.exit_code", v.exit_code.map(Value::from)),
            ("reev.verifier.signal", v.signal.map(Value::from)),
            ("reev.verifier.score", a.score.map(Value::from)),
        ] {
            if let Some(x) = x {
                attrs.insert(k.into(), x);
            }
        }
        attrs.insert("reev.verifier.timed_out".into(), v.timed_out.into());
        out.push(Span {
            trace_id: ids.trace_id.to_vec(),
            span_id: derived_id(&s.session_id, "verifier", i),
            parent_span_id: ids.root_span_id.to_vec(),
            name: format!(
                "verify {}",
                a.name.clone().unwrap_or_else(|| format!("#{}", i + 1))
            ),
            kind: Kind::Internal.to_proto(),
            start_time_unix_nano: at,
            end_time_unix_nano: end,
            attributes: key_values(&attrs),
            status: status(
                if a.passed { Code::Ok } else { Code::Error },
                (!a.passed).then(|| a.message.clone()),
            ),
            ..Default::default()
        });
        at = end;
    }
    out
}

/// Leave out what the OTLP/JSON spec lets a sender omit (empty strings and lists, zero
/// counters, nulls), except inside attribute values, where an empty string or a zero is the
/// value itself.
fn compact(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, x| {
                let value_field = matches!(
                    k.as_str(),
                    "stringValue" | "intValue" | "doubleValue" | "boolValue"
                );
                value_field
                    || !(x.is_null()
                        || x.as_str() == Some("")
                        || x.as_array().is_some_and(Vec::is_empty)
                        || x.as_u64() == Some(0))
            });
            for (k, x) in m.iter_mut() {
                if !matches!(
                    k.as_str(),
                    "stringValue" | "intValue" | "doubleValue" | "boolValue"
                ) {
                    compact(x);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(compact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn compact_keeps_attribute_values() {
        let mut v = serde_json::json!({"a": "", "b": [], "c": 0, "d": null,
            "value": {"stringValue": ""}, "x": {"intValue": "0"}, "kind": 1});
        super::compact(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"value": {"stringValue": ""}, "x": {"intValue": "0"}, "kind": 1})
        );
    }
}
