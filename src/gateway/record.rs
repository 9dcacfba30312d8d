//! What the gateway records: each request/response pair ([`Call`]), the cassette file that
//! holds a session's calls (written once, beside the session file), the summary the session
//! file keeps ([`GatewayRecord`], with the cassette's digest), and the JSON helpers both
//! recording and replay need: canonical request bodies, the first differing JSON path, and
//! the `usage` of a response (also the final chunk of a stream).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The cassette format's name and version, the file's `format`. A cassette of any other
/// format is refused when read (replay), rather than misread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CassetteFormat {
    #[serde(rename = "reev-cassette/1")]
    V1,
}

/// One piece of a response body as it arrived: milliseconds after the request was sent
/// upstream, and the bytes (as UTF-8; the gateway asks for uncompressed bodies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chunk {
    pub at_ms: f64,
    pub data: String,
}

impl Chunk {
    pub fn new(at: Duration, data: &[u8]) -> Chunk {
        Chunk {
            at_ms: (at.as_secs_f64() * 1e6).round() / 1e3,
            data: String::from_utf8_lossy(data).into_owned(),
        }
    }
}

/// One request/response pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// 1, 2, ... in the order the requests arrived.
    pub seq: u32,
    pub method: String,
    /// The path below the session's base URL, with its query (`/v1/chat/completions`).
    pub path: String,
    /// The request body as canonical JSON (keys sorted), or its text when it is not JSON.
    pub request: Value,
    /// SHA-256 of method, path and canonical body: what replay matches.
    pub request_sha256: String,
    /// The request's `model`: what `prices:` are keyed by.
    pub model: Option<String>,
    /// The upstream's status; absent when no response came (unreachable upstream).
    pub status: Option<u16>,
    pub content_type: Option<String>,
    pub chunks: Vec<Chunk>,
    pub duration_ms: f64,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// What went wrong, as the session's `error` says it: unreachable upstream, malformed
    /// JSON, a cut stream, a replay mismatch.
    pub error: Option<String>,
}

impl Call {
    /// The whole response body.
    pub fn body(&self) -> String {
        self.chunks.iter().map(|c| c.data.as_str()).collect()
    }
}

/// The cassette file: `runs/<run>/cassettes/<agent>/<benchmark>@<attempt>[.try<k>].json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cassette {
    pub format: CassetteFormat,
    pub session_id: String,
    pub upstream: String,
    /// The run whose cassette answered, when this session was replayed.
    pub replayed_from: Option<String>,
    pub calls: Vec<Call>,
}

/// The session file's `gateway`: the calls in brief and where their cassette is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayRecord {
    /// The cassette, relative to the run directory.
    pub cassette: String,
    /// SHA-256 of the cassette file's bytes: replay refuses a cassette edited since.
    pub cassette_sha256: String,
    pub upstream: String,
    /// The run this session's model answers were replayed from; absent when live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed_from: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// What the agent's `model_request` events said, when it differs from the gateway's
    /// count (which prices the session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_output_tokens: Option<u64>,
    pub calls: Vec<CallSummary>,
}

/// One call in the session file (and the store's `model_calls`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSummary {
    pub seq: u32,
    pub path: String,
    pub model: Option<String>,
    pub status: Option<u16>,
    pub request_sha256: String,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub duration_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&Call> for CallSummary {
    fn from(c: &Call) -> Self {
        CallSummary {
            seq: c.seq,
            path: c.path.clone(),
            model: c.model.clone(),
            status: c.status,
            request_sha256: c.request_sha256.clone(),
            input_tokens: c.input_tokens,
            output_tokens: c.output_tokens,
            duration_ms: c.duration_ms,
            error: c.error.clone(),
        }
    }
}

/// A request body as recorded and matched: canonical JSON (object keys sorted, no
/// whitespace), or the text itself when it is not JSON.
pub fn canonical(body: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => sorted(v),
        Err(_) => Value::String(String::from_utf8_lossy(body).into_owned()),
    }
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The digest replay matches requests by.
pub fn request_digest(method: &str, path: &str, request: &Value) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(request.to_string().as_bytes());
    hex(&h.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The JSON Pointer of the first place where `a` and `b` differ (`""` for the whole value),
/// `None` when they are equal. Object keys are visited in sorted order.
pub fn first_difference(a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => {
                    first_difference(p, q).map(|rest| format!("/{}{rest}", escape(k)))
                }
                _ => Some(format!("/{}", escape(k))),
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            (0..x.len().max(y.len())).find_map(|i| match (x.get(i), y.get(i)) {
                (Some(p), Some(q)) => first_difference(p, q).map(|rest| format!("/{i}{rest}")),
                _ => Some(format!("/{i}")),
            })
        }
        _ if a == b => None,
        _ => Some(String::new()),
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Tokens a response reports: `usage` of a JSON body, or of the last stream event that has
/// one (`stream_options: {include_usage: true}`). OpenAI's and the Responses/Anthropic names.
pub fn usage(content_type: Option<&str>, body: &str) -> Result<Option<(u64, u64)>, String> {
    let from = |v: &Value| -> Option<(u64, u64)> {
        let u = v.get("usage").filter(|u| u.is_object())?;
        let n = |a: &str, b: &str| u.get(a).or_else(|| u.get(b)).and_then(Value::as_u64);
        Some((
            n("prompt_tokens", "input_tokens")?,
            n("completion_tokens", "output_tokens").unwrap_or(0),
        ))
    };
    if is_event_stream(content_type) {
        let mut found = None;
        for data in sse_data(body) {
            let v: Value = serde_json::from_str(data).map_err(|e| {
                format!(
                    "malformed JSON in a stream event from the upstream ({e}): {}",
                    clip(data)
                )
            })?;
            found = from(&v).or(found);
        }
        return Ok(found);
    }
    if !content_type.is_some_and(|t| t.contains("json")) {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(body)
        .map_err(|e| format!("malformed JSON from the upstream ({e}): {}", clip(body)))?;
    Ok(from(&v))
}

pub fn is_event_stream(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|t| t.starts_with("text/event-stream"))
}

/// The `data:` payloads of a server-sent-events body, `[DONE]` left out.
fn sse_data(body: &str) -> impl Iterator<Item = &str> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .filter(|d| !d.is_empty() && *d != "[DONE]")
}

fn clip(s: &str) -> String {
    let cut: String = s.chars().take(120).collect();
    if cut.len() < s.len() {
        format!("{cut}...")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cassette_format_is_written_as_before() {
        let f = serde_json::to_string(&CassetteFormat::V1).expect("json");
        assert_eq!(f, r#""reev-cassette/1""#);
        assert!(serde_json::from_str::<CassetteFormat>(r#""reev-cassette/2""#).is_err());
    }

    #[test]
    fn canonical_sorts_keys_at_every_depth() {
        let a = canonical(br#"{"b":1,"a":{"y":[{"d":1,"c":2}],"x":0}}"#);
        assert_eq!(a.to_string(), r#"{"a":{"x":0,"y":[{"c":2,"d":1}]},"b":1}"#);
        assert_eq!(canonical(b"not json"), json!("not json"));
    }

    #[test]
    fn first_difference_names_the_path() {
        let a = json!({"messages": [{"role": "user", "content": "a"}], "model": "m"});
        let b = json!({"messages": [{"role": "user", "content": "b"}], "model": "m"});
        assert_eq!(first_difference(&a, &a), None);
        assert_eq!(
            first_difference(&a, &b).as_deref(),
            Some("/messages/0/content")
        );
        let c = json!({"messages": [], "model": "m", "a/b": 1});
        assert_eq!(first_difference(&a, &c).as_deref(), Some("/a~1b"));
        assert_eq!(first_difference(&json!(1), &json!(2)).as_deref(), Some(""));
    }

    #[test]
    fn usage_from_json_and_from_the_last_stream_chunk() {
        let body = r#"{"usage": {"prompt_tokens": 7, "completion_tokens": 3}}"#;
        assert_eq!(usage(Some("application/json"), body), Ok(Some((7, 3))));
        let sse = "data: {\"choices\":[]}\n\ndata: {\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
        assert_eq!(usage(Some("text/event-stream"), sse), Ok(Some((5, 2))));
        assert!(usage(Some("application/json"), "{oops").is_err());
        assert!(usage(Some("text/event-stream"), "data: {oops\n\n").is_err());
        assert_eq!(usage(Some("text/plain"), "hi"), Ok(None));
    }
}
