//! Decoding `ExportTraceServiceRequest` bodies: protobuf (what the SDKs send by default) with
//! prost, and OTLP/JSON with opentelemetry-proto's serde support plus the fix-ups that make it
//! accept all that the OTLP/JSON spec (and the protobuf JSON mapping it builds on) allows.
//!
//! opentelemetry-proto's serde already reads hex trace and span ids, 64-bit integers as
//! strings or numbers, and ignores unknown fields. It refuses, where the spec allows them:
//! enum values given by name (`"kind": "SPAN_KIND_SERVER"`, `"code": "STATUS_CODE_ERROR"`),
//! `null` for any field (= its default), an `arrayValue` or `kvlistValue` without `values`
//! (an empty list may be left out) and 32-bit counters given as strings. A body it refuses is
//! parsed again as a JSON tree, fixed up, and decoded from that; the fast path costs nothing
//! for the bodies that follow the spec to the letter.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
use serde_json::Value;

use super::Rejected;

/// The encoding a request's `Content-Type` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// `application/x-protobuf` (also when no type is sent: the SDKs' default) or
    /// `application/json`, parameters such as `; charset=utf-8` ignored.
    pub fn of(content_type: Option<&str>) -> Result<Self, Rejected> {
        let Some(ct) = content_type else {
            return Ok(Encoding::Protobuf);
        };
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if essence.eq_ignore_ascii_case("application/x-protobuf")
            || essence.eq_ignore_ascii_case("application/protobuf")
        {
            Ok(Encoding::Protobuf)
        } else if essence.eq_ignore_ascii_case("application/json") {
            Ok(Encoding::Json)
        } else {
            Err(Rejected::UnsupportedMediaType)
        }
    }
}

pub fn request(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<ExportTraceServiceRequest, Rejected> {
    match Encoding::of(content_type)? {
        Encoding::Protobuf => protobuf(body),
        Encoding::Json => json(body),
    }
}

pub fn protobuf(body: &[u8]) -> Result<ExportTraceServiceRequest, Rejected> {
    <ExportTraceServiceRequest as prost::Message>::decode(body)
        .map_err(|e| Rejected::Malformed(format!("protobuf: {e}")))
}

pub fn json(body: &[u8]) -> Result<ExportTraceServiceRequest, Rejected> {
    // serde would also read a struct from a JSON array: only an object is a request.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Rejected::Malformed(
            "JSON: not an ExportTraceServiceRequest object".into(),
        ));
    }
    let first = match serde_json::from_slice::<ExportTraceServiceRequest>(body) {
        Ok(r) => return Ok(r),
        Err(e) => e,
    };
    let malformed = |e: &serde_json::Error| Rejected::Malformed(format!("JSON: {e}"));
    let mut tree: Value = serde_json::from_slice(body).map_err(|e| malformed(&e))?;
    fix_up(&mut tree, None);
    // The first error is the one that names what the sender got wrong.
    serde_json::from_value(tree).map_err(|_| malformed(&first))
}

/// 32-bit integer fields the protobuf JSON mapping lets a sender quote.
const COUNTERS: &[&str] = &[
    "droppedAttributesCount",
    "droppedEventsCount",
    "droppedLinksCount",
    "flags",
];

/// Rewrite what the spec allows and opentelemetry-proto's serde refuses (see the module doc).
/// `key` is the field name the value sits under.
fn fix_up(v: &mut Value, key: Option<&str>) {
    match v {
        Value::Object(map) => {
            map.retain(|_, x| !x.is_null());
            for (k, x) in map.iter_mut() {
                fix_field(k, x);
                fix_up(x, Some(k));
            }
            if matches!(key, Some("arrayValue" | "kvlistValue")) && !map.contains_key("values") {
                map.insert("values".into(), Value::Array(Vec::new()));
            }
        }
        Value::Array(items) => {
            for x in items {
                fix_up(x, key);
            }
        }
        _ => {}
    }
}

fn fix_field(k: &str, x: &mut Value) {
    let Value::String(s) = x else { return };
    let number = match k {
        "kind" => SpanKind::from_str_name(s).map(|e| e as i64),
        "code" => StatusCode::from_str_name(s).map(|e| e as i64),
        _ if COUNTERS.contains(&k) => s.parse::<u32>().ok().map(i64::from),
        _ => None,
    };
    if let Some(n) = number {
        *x = Value::from(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(r: &ExportTraceServiceRequest) -> Vec<&opentelemetry_proto::tonic::trace::v1::Span> {
        r.resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .collect()
    }

    #[test]
    fn spec_json_decodes_with_hex_ids_and_string_int64() {
        let body = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a"}}]},
          "scopeSpans":[{"scope":{"name":"s"},"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C",
          "spanId":"EEE19B7EC3C1B174","parentSpanId":"","name":"chat m","kind":3,
          "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
          "attributes":[{"key":"gen_ai.usage.input_tokens","value":{"intValue":"12"}},
                        {"key":"d","value":{"doubleValue":1.5}}],
          "status":{"code":2,"message":"bad"},"unknownField":1}]}]}]}"#;
        let r = json(body.as_bytes()).expect("decodes");
        let s = spans(&r);
        assert_eq!(s[0].trace_id.len(), 16);
        assert_eq!(s[0].trace_id[0], 0x5b);
        assert_eq!(s[0].start_time_unix_nano, 1544712660000000000);
        assert_eq!(s[0].kind, 3);
    }

    #[test]
    fn enum_names_nulls_and_missing_lists_are_fixed_up() {
        let body = r#"{"resourceSpans":[{"resource":null,"scopeSpans":[{"spans":[{
          "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
          "name":"x","kind":"SPAN_KIND_CLIENT","startTimeUnixNano":"1","endTimeUnixNano":"2",
          "droppedAttributesCount":"0","parentSpanId":null,
          "attributes":[{"key":"a","value":{"arrayValue":{}}},{"key":"k","value":{"kvlistValue":{}}}],
          "status":{"code":"STATUS_CODE_ERROR"}}]}]}]}"#;
        let r = json(body.as_bytes()).expect("fixed up");
        let s = spans(&r);
        assert_eq!(s[0].kind, SpanKind::Client as i32);
        assert_eq!(s[0].status.as_ref().map(|x| x.code), Some(2));
    }

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        let bodies: [&[u8]; 5] = [b"{", b"[]", b"null", b"{\"resourceSpans\":5}", b"\xff\xfe"];
        for body in bodies {
            assert!(
                matches!(json(body), Err(Rejected::Malformed(_))),
                "{body:?}"
            );
        }
        assert!(matches!(
            protobuf(b"\xff\xff\xff\xff"),
            Err(Rejected::Malformed(_))
        ));
        assert_eq!(
            Encoding::of(Some("application/json; charset=utf-8")),
            Ok(Encoding::Json)
        );
        assert_eq!(
            Encoding::of(Some("text/html")),
            Err(Rejected::UnsupportedMediaType)
        );
    }
}
