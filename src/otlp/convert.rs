//! Spans as reev events, so that every trace check, the token count and the cost work on
//! them unchanged: the OpenTelemetry GenAI semantic conventions and OpenInference's.
//!
//! | span | event |
//! |---|---|
//! | `gen_ai.operation.name` = `chat`, `text_completion`, `generate_content` | `model_request`: `model` (`gen_ai.request.model`, else `gen_ai.response.model`), `input_tokens` / `output_tokens` (`gen_ai.usage.*`) |
//! | `gen_ai.operation.name` = `execute_tool` | `tool_call` named `gen_ai.tool.name`, `input` = `gen_ai.tool.call.arguments` |
//! | `openinference.span.kind` = `LLM` | `model_request`: `llm.model_name`, `llm.token_count.prompt` / `completion` |
//! | `openinference.span.kind` = `TOOL` | `tool_call` named `tool.name`, `input` = `input.value` |
//!
//! Every such event also has `duration_ms`, `ts` (start, Unix seconds, as reev's own agents
//! write it), `span_id` and `source: "otlp"`; other spans stay spans only.

use serde_json::{Map, Value};

use super::span::{Code, SpanRecord};
use super::Received;
use crate::judge::events::{self, Trace};
use crate::session::{Event, EventKind};

/// What a span means to reev, by its conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    ModelRequest,
    ToolCall,
}

fn meaning(s: &SpanRecord) -> Option<Meaning> {
    match s.attr_str("gen_ai.operation.name") {
        Some("chat" | "text_completion" | "generate_content") => {
            return Some(Meaning::ModelRequest)
        }
        Some("execute_tool") => return Some(Meaning::ToolCall),
        _ => {}
    }
    let kind = s.attr_str("openinference.span.kind")?;
    if kind.eq_ignore_ascii_case("llm") {
        Some(Meaning::ModelRequest)
    } else if kind.eq_ignore_ascii_case("tool") {
        Some(Meaning::ToolCall)
    } else {
        None
    }
}

/// The first of `keys` the span has, as a string.
fn first_str<'a>(s: &'a SpanRecord, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| s.attr_str(k))
}

/// The first of `keys` the span has as a count: a non-negative integer or a string of one.
fn first_count(s: &SpanRecord, keys: &[&str]) -> Option<u64> {
    keys.iter().find_map(|k| match s.attributes.get(*k)? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(t) => t.trim().parse().ok(),
        _ => None,
    })
}

/// A tool's arguments or result: the JSON it holds when it is JSON text, else the text.
fn structured(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ (Value::Object(_) | Value::Array(_))) => v,
        _ => Value::String(text.to_string()),
    }
}

/// The event a span stands for (`type` first, as in an events file), if it stands for one.
pub fn event_data(s: &SpanRecord) -> Option<Map<String, Value>> {
    let m = meaning(s)?;
    let mut d = Map::new();
    match m {
        Meaning::ModelRequest => {
            d.insert("type".into(), "model_request".into());
            let request = first_str(s, &["gen_ai.request.model", "llm.model_name"]);
            let response = s.attr_str("gen_ai.response.model");
            if let Some(model) = request.or(response) {
                d.insert("model".into(), model.into());
            }
            if let (Some(_), Some(r)) = (request, response) {
                d.insert("response_model".into(), r.into());
            }
            let input = [
                "gen_ai.usage.input_tokens",
                "gen_ai.usage.prompt_tokens",
                "llm.token_count.prompt",
            ];
            let output = [
                "gen_ai.usage.output_tokens",
                "gen_ai.usage.completion_tokens",
                "llm.token_count.completion",
            ];
            if let Some(n) = first_count(s, &input) {
                d.insert("input_tokens".into(), n.into());
            }
            if let Some(n) = first_count(s, &output) {
                d.insert("output_tokens".into(), n.into());
            }
        }
        Meaning::ToolCall => {
            d.insert("type".into(), "tool_call".into());
            let name = first_str(s, &["gen_ai.tool.name", "tool.name"]).unwrap_or(&s.name);
            d.insert("name".into(), name.into());
            if let Some(args) = first_str(s, &["gen_ai.tool.call.arguments", "input.value"]) {
                d.insert("input".into(), structured(args));
            }
            if let Some(out) = first_str(s, &["gen_ai.tool.call.result", "output.value"]) {
                d.insert("output".into(), structured(out));
            }
            if let Some(id) = s.attr_str("gen_ai.tool.call.id") {
                d.insert("tool_call_id".into(), id.into());
            }
        }
    }
    d.insert("duration_ms".into(), Value::from(s.duration_ms()));
    d.insert("ts".into(), Value::from(s.start_unix_nano as f64 / 1e9));
    if s.status == Code::Error {
        let why = s.status_message.as_deref().unwrap_or("span status error");
        d.insert("error".into(), why.into());
    }
    d.insert("span_id".into(), s.span_id.clone().into());
    d.insert("source".into(), "otlp".into());
    Some(d)
}

/// Merge what a session's spans say into its trace: their events, by start time, among the
/// events file's (whose order is kept; an event's `ts`, where it has one, places it in time,
/// one without follows the one before it); their tokens; spans past the caps as dropped
/// events. The merged trace keeps the events cap: the latest events past it are dropped.
pub fn merge(trace: &mut Trace, received: &Received) {
    for (model, t) in &received.dropped_usage {
        let u = trace.usage.entry(model.clone()).or_default();
        u.input = u.input.saturating_add(t.input);
        u.output = u.output.saturating_add(t.output);
    }
    trace.dropped += received.stats.spans_dropped;
    let mut from_spans: Vec<(u64, Map<String, Value>)> = received
        .spans
        .iter()
        .filter_map(|s| event_data(s).map(|d| (s.start_unix_nano, d)))
        .collect();
    if from_spans.is_empty() {
        return;
    }
    from_spans.sort_by_key(|(start, _)| *start);
    for (_, d) in &from_spans {
        events::add_usage(&mut trace.usage, d);
    }
    let file_events = std::mem::take(&mut trace.events);
    let total = file_events.len() + from_spans.len();
    let mut at = f64::NEG_INFINITY;
    let keyed = file_events.into_iter().map(|e| {
        if let Some(ts) = e
            .data
            .as_ref()
            .and_then(|d| d.get("ts"))
            .and_then(Value::as_f64)
        {
            at = ts;
        }
        (at, e)
    });
    let mut merged = Vec::with_capacity(total);
    let mut spans = from_spans.into_iter().peekable();
    for (at, e) in keyed {
        while let Some((start, _)) = spans.peek() {
            if (*start as f64 / 1e9) >= at {
                break;
            }
            merged.extend(spans.next().map(|(_, d)| event_of(0, d)));
        }
        merged.push(e);
    }
    merged.extend(spans.map(|(_, d)| event_of(0, d)));
    let cap = events::MAX_EVENTS;
    if merged.len() > cap {
        trace.dropped += (merged.len() - cap) as u64;
        merged.truncate(cap);
    }
    for (i, e) in merged.iter_mut().enumerate() {
        e.seq = i as u64 + 1;
    }
    trace.events = merged;
}

/// An event made by reev from `d` (a span's, an ATIF step's), its kind from `type`.
pub(crate) fn event_of(seq: u64, d: Map<String, Value>) -> Event {
    Event {
        seq,
        kind: d
            .get("type")
            .and_then(Value::as_str)
            .map_or(EventKind::Custom, EventKind::from),
        data: Some(Value::Object(d)),
        error: None,
        raw: None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::otlp::{span::hex, TraceIds};

    /// An OTLP/JSON request of a chat span (10 in, 5 out tokens, model `m`) and `n - 1`
    /// execute_tool spans named tool1, tool2, ..., one second apart, in the session's trace.
    pub fn json_request(ids: &TraceIds, n: usize) -> String {
        let mut spans = Vec::new();
        for i in 0..n {
            let attrs = if i == 0 {
                r#"[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
                    {"key":"gen_ai.request.model","value":{"stringValue":"m"}},
                    {"key":"gen_ai.usage.input_tokens","value":{"intValue":"10"}},
                    {"key":"gen_ai.usage.output_tokens","value":{"intValue":5}}]"#
                    .to_string()
            } else {
                format!(
                    r#"[{{"key":"gen_ai.operation.name","value":{{"stringValue":"execute_tool"}}}},
                        {{"key":"gen_ai.tool.name","value":{{"stringValue":"tool{i}"}}}},
                        {{"key":"gen_ai.tool.call.arguments","value":{{"stringValue":"{{\"path\":\"a\"}}"}}}}]"#
                )
            };
            let start = 1_700_000_000_000_000_000u64 + i as u64 * 1_000_000_000;
            spans.push(format!(
                r#"{{"traceId":"{}","spanId":"{:016x}","parentSpanId":"{}","name":"s{i}","kind":1,
                   "startTimeUnixNano":"{start}","endTimeUnixNano":"{}","attributes":{attrs}}}"#,
                hex(&ids.trace_id),
                i + 1,
                hex(&ids.root_span_id),
                start + 250_000_000
            ));
        }
        format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
            spans.join(",")
        )
    }

    fn received(n: usize) -> Received {
        let ids = TraceIds::for_session("x");
        let r = crate::otlp::decode::json(json_request(&ids, n).as_bytes()).expect("decodes");
        Received {
            spans: crate::otlp::span::from_request(r, Some(&ids.trace_id)),
            ..Default::default()
        }
    }

    fn empty_trace() -> Trace {
        Trace {
            events: Vec::new(),
            dropped: 0,
            metrics: Default::default(),
            usage: Default::default(),
            cut: false,
        }
    }

    #[test]
    fn genai_spans_become_events_with_tokens() {
        let mut t = empty_trace();
        merge(&mut t, &received(3));
        let kinds: Vec<&str> = t.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["model_request", "tool_call", "tool_call"]);
        let d = t.events[1].data.as_ref().expect("data");
        assert_eq!(d["name"], "tool1");
        assert_eq!(d["input"]["path"], "a");
        assert_eq!(d["duration_ms"], 250.0);
        let m = t.usage.get("m").expect("usage");
        assert_eq!((m.input, m.output), (10, 5));
        assert_eq!(
            t.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }

    #[test]
    fn file_events_keep_their_order_and_interleave_by_ts() {
        let mut t = empty_trace();
        let ev = |ts: Option<f64>, name: &str| {
            let mut d = serde_json::json!({"type": "tool_call", "name": name});
            if let Some(ts) = ts {
                d["ts"] = ts.into();
            }
            Event {
                seq: 1,
                kind: "tool_call".into(),
                data: Some(d),
                error: None,
                raw: None,
            }
        };
        // Spans start at 1.7e9 s and 1.7e9 + 1 s (the chat span, then tool1).
        t.events = vec![
            ev(Some(1.6e9), "early"),
            ev(None, "after-early"),
            ev(Some(1.7e9 + 0.5), "middle"),
        ];
        merge(&mut t, &received(2));
        let names: Vec<String> = t
            .events
            .iter()
            .map(|e| {
                e.data
                    .as_ref()
                    .and_then(|d| d.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or("chat")
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["early", "after-early", "chat", "middle", "tool1"]);
    }

    #[test]
    fn openinference_llm_and_tool_spans() {
        let mut s = received(1).spans.remove(0);
        s.attributes = serde_json::from_str(
            r#"{"openinference.span.kind":"LLM","llm.model_name":"gpt","llm.token_count.prompt":7,"llm.token_count.completion":"3"}"#,
        )
        .expect("json");
        let d = event_data(&s).expect("an event");
        assert_eq!(
            (d["type"].as_str(), d["model"].as_str()),
            (Some("model_request"), Some("gpt"))
        );
        assert_eq!(
            (d["input_tokens"].as_u64(), d["output_tokens"].as_u64()),
            (Some(7), Some(3))
        );
        s.attributes = serde_json::from_str(
            r#"{"openinference.span.kind":"TOOL","tool.name":"search","input.value":"plain text"}"#,
        )
        .expect("json");
        let d = event_data(&s).expect("an event");
        assert_eq!(
            (d["name"].as_str(), d["input"].as_str()),
            (Some("search"), Some("plain text"))
        );
        s.attributes =
            serde_json::from_str(r#"{"openinference.span.kind":"CHAIN"}"#).expect("json");
        assert!(event_data(&s).is_none());
    }
}
