//! A span as reev keeps it (the session file's `spans`, the `spans` table): ids in hex,
//! attributes as one JSON object. Every string in it came from the agent: untrusted text,
//! escaped wherever it is shown.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// OTel span kinds (a closed set; an unknown number reads as `unspecified`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Unspecified => "unspecified",
            Kind::Internal => "internal",
            Kind::Server => "server",
            Kind::Client => "client",
            Kind::Producer => "producer",
            Kind::Consumer => "consumer",
        }
    }

    fn from_proto(k: i32) -> Self {
        match SpanKind::try_from(k) {
            Ok(SpanKind::Internal) => Kind::Internal,
            Ok(SpanKind::Server) => Kind::Server,
            Ok(SpanKind::Client) => Kind::Client,
            Ok(SpanKind::Producer) => Kind::Producer,
            Ok(SpanKind::Consumer) => Kind::Consumer,
            _ => Kind::Unspecified,
        }
    }

    pub fn to_proto(self) -> i32 {
        (match self {
            Kind::Unspecified => SpanKind::Unspecified,
            Kind::Internal => SpanKind::Internal,
            Kind::Server => SpanKind::Server,
            Kind::Client => SpanKind::Client,
            Kind::Producer => SpanKind::Producer,
            Kind::Consumer => SpanKind::Consumer,
        }) as i32
    }
}

/// OTel status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    Unset,
    Ok,
    Error,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unset => "unset",
            Code::Ok => "ok",
            Code::Error => "error",
        }
    }

    fn from_proto(c: i32) -> Self {
        match StatusCode::try_from(c) {
            Ok(StatusCode::Ok) => Code::Ok,
            Ok(StatusCode::Error) => Code::Error,
            _ => Code::Unset,
        }
    }

    pub fn to_proto(self) -> i32 {
        (match self {
            Code::Unset => StatusCode::Unset,
            Code::Ok => StatusCode::Ok,
            Code::Error => StatusCode::Error,
        }) as i32
    }
}

/// One span of the session's trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanRecord {
    /// 32 lowercase hex digits (whatever length the sender gave, in hex).
    pub trace_id: String,
    pub span_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    pub name: String,
    pub kind: Kind,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub status: Code,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// The span's attributes: OTLP values as JSON (int64 as numbers, bytes as hex).
    pub attributes: Map<String, Value>,
    /// The resource's `service.name`, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Its trace id is not the session's: kept, but not from the session's `TRACEPARENT`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub foreign: bool,
}

impl SpanRecord {
    /// About what the span costs in the session file, for the byte cap.
    pub fn approx_bytes(&self) -> usize {
        fn value(v: &Value) -> usize {
            match v {
                Value::String(s) => s.len() + 2,
                Value::Array(a) => a.iter().map(value).sum::<usize>() + 2,
                Value::Object(m) => {
                    m.iter().map(|(k, v)| k.len() + 4 + value(v)).sum::<usize>() + 2
                }
                _ => 8,
            }
        }
        let attrs: usize = self
            .attributes
            .iter()
            .map(|(k, v)| k.len() + 4 + value(v))
            .sum();
        200 + self.name.len()
            + attrs
            + self.status_message.as_ref().map_or(0, String::len)
            + self.service.as_ref().map_or(0, String::len)
    }

    pub fn duration_ms(&self) -> f64 {
        self.end_unix_nano.saturating_sub(self.start_unix_nano) as f64 / 1e6
    }

    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key)?.as_str()
    }
}

pub use crate::digest::hex;

/// Lowercase hex back to bytes; `None` for anything else.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Every span of a request, flagged `foreign` when `session_trace` is given and differs.
pub fn from_request(
    r: ExportTraceServiceRequest,
    session_trace: Option<&[u8; 16]>,
) -> Vec<SpanRecord> {
    let mut out = Vec::new();
    for rs in r.resource_spans {
        let service = rs.resource.as_ref().and_then(|res| {
            res.attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
        });
        for ss in rs.scope_spans {
            for s in ss.spans {
                out.push(record(s, service.clone(), session_trace));
            }
        }
    }
    out
}

fn record(s: Span, service: Option<String>, session_trace: Option<&[u8; 16]>) -> SpanRecord {
    let (status, status_message) = match &s.status {
        Some(st) => (
            Code::from_proto(st.code),
            Some(st.message.clone()).filter(|m| !m.is_empty()),
        ),
        None => (Code::Unset, None),
    };
    SpanRecord {
        foreign: session_trace.is_some_and(|t| s.trace_id.as_slice() != t.as_slice()),
        trace_id: hex(&s.trace_id),
        span_id: hex(&s.span_id),
        parent_span_id: Some(hex(&s.parent_span_id)).filter(|p| !p.is_empty()),
        name: s.name,
        kind: Kind::from_proto(s.kind),
        start_unix_nano: s.start_time_unix_nano,
        end_unix_nano: s.end_time_unix_nano,
        status,
        status_message,
        attributes: attributes(s.attributes),
        service,
    }
}

/// Attributes as one JSON object (a repeated key: the last wins).
pub fn attributes(kvs: Vec<KeyValue>) -> Map<String, Value> {
    kvs.into_iter()
        .map(|kv| (kv.key, kv.value.map_or(Value::Null, json_of)))
        .collect()
}

fn json_of(v: AnyValue) -> Value {
    match v.value {
        None | Some(any_value::Value::StringValueStrindex(_)) => Value::Null,
        Some(any_value::Value::StringValue(s)) => Value::String(s),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(b),
        Some(any_value::Value::IntValue(i)) => Value::from(i),
        // JSON has no NaN or infinity: those are kept as their names.
        Some(any_value::Value::DoubleValue(d)) => serde_json::Number::from_f64(d)
            .map_or_else(|| Value::String(d.to_string()), Value::Number),
        Some(any_value::Value::BytesValue(b)) => Value::String(hex(&b)),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.into_iter().map(json_of).collect())
        }
        Some(any_value::Value::KvlistValue(kv)) => Value::Object(attributes(kv.values)),
    }
}

/// A JSON value as an OTLP attribute value (the inverse of the above, for export): objects
/// become key-value lists, integers `intValue`, other numbers `doubleValue`.
pub fn any_value(v: &Value) -> AnyValue {
    let value = match v {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or_default()),
        }),
        Value::String(s) => Some(any_value::Value::StringValue(s.clone())),
        Value::Array(a) => Some(any_value::Value::ArrayValue(
            opentelemetry_proto::tonic::common::v1::ArrayValue {
                values: a.iter().map(any_value).collect(),
            },
        )),
        Value::Object(m) => Some(any_value::Value::KvlistValue(
            opentelemetry_proto::tonic::common::v1::KeyValueList {
                values: key_values(m),
            },
        )),
    };
    AnyValue { value }
}

pub fn key_values(m: &Map<String, Value>) -> Vec<KeyValue> {
    m.iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: Some(any_value(v)),
            ..Default::default()
        })
        .collect()
}
