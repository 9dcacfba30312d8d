//! `events_format:` — the trace file an agent leaves at `REEV_EVENTS`, in one of three
//! formats: reev's own JSON lines, an OTLP JSON export (one `ExportTraceServiceRequest` per
//! line, as the OpenTelemetry Collector's file exporter writes), or Harbor's ATIF trajectory
//! (one JSON document). All become the same trace, under the same caps.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{Caps, Collector, Received};
use crate::judge::events::{self, Trace};
use crate::sandbox::beneath::Dir;

/// How an agent's events file is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventsFormat {
    /// reev's JSON lines (see the README's Agents section).
    #[default]
    Reev,
    /// One OTLP/JSON `ExportTraceServiceRequest` per line.
    OtlpJson,
    /// Harbor's Agent Trajectory Interchange Format: one trajectory object.
    Atif,
}

/// The session's trace from its events file in `format`, and the spans it held.
pub fn read(dir: &Dir, name: &str, format: EventsFormat) -> (Trace, Received) {
    if format == EventsFormat::Reev {
        return (events::read(dir, name), Received::default());
    }
    let mut trace = Trace::default();
    let bytes = match events::read_file(dir, name) {
        Ok(Some(b)) => b,
        Ok(None) => return (trace, Received::default()),
        Err(why) => {
            trace.events.push(events::error_event(0, why, None));
            return (trace, Received::default());
        }
    };
    trace.cut = bytes.len() as u64 >= events::MAX_BYTES;
    let received = match format {
        EventsFormat::OtlpJson => otlp_lines(&bytes, &mut trace),
        _ => {
            atif(&bytes, &mut trace);
            Received::default()
        }
    };
    super::merge(&mut trace, &received);
    (trace, received)
}

/// Every line a request; a line that is not one becomes an `error` event.
fn otlp_lines(bytes: &[u8], trace: &mut Trace) -> Received {
    let c = Collector::for_file(Caps::default());
    let lines = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace));
    for (i, line) in lines.enumerate() {
        if let Err(e) = c.receive(Some("application/json"), line) {
            let why = format!("line {}: {e}", i + 1);
            trace
                .events
                .push(events::error_event(i as u64 + 1, why, Some(line)));
        }
    }
    c.finish()
}

#[derive(Deserialize)]
struct Trajectory {
    #[serde(default)]
    agent: Option<AtifAgent>,
    steps: Vec<Step>,
    #[serde(default)]
    final_metrics: Option<FinalMetrics>,
}

#[derive(Deserialize)]
struct AtifAgent {
    #[serde(default)]
    model_name: Option<String>,
}

#[derive(Deserialize)]
struct Step {
    #[serde(default)]
    step_id: Option<u64>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    source: String,
    #[serde(default)]
    model_name: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCall>>,
    #[serde(default)]
    observation: Option<Observation>,
    #[serde(default)]
    metrics: Option<Map<String, Value>>,
    #[serde(default)]
    llm_call_count: Option<u64>,
}

#[derive(Deserialize)]
struct ToolCall {
    #[serde(default)]
    tool_call_id: Option<String>,
    function_name: String,
    #[serde(default)]
    arguments: Value,
}

#[derive(Deserialize)]
struct Observation {
    #[serde(default)]
    results: Vec<ObservationResult>,
}

#[derive(Deserialize)]
struct ObservationResult {
    #[serde(default)]
    source_call_id: Option<String>,
    #[serde(default)]
    content: Value,
}

#[derive(Deserialize)]
struct FinalMetrics {
    #[serde(default)]
    total_prompt_tokens: Option<u64>,
    #[serde(default)]
    total_completion_tokens: Option<u64>,
}

/// An ATIF trajectory as events: an agent step is a `model_request` (its `metrics`' prompt
/// and completion tokens; not when `llm_call_count` is 0), each of its `tool_calls` a
/// `tool_call` (`function_name`, `arguments`, and the observation result answering it as
/// `output`). When no step reports tokens, `final_metrics`' totals go on the first request.
fn atif(bytes: &[u8], trace: &mut Trace) {
    let t: Trajectory = match serde_json::from_slice(bytes) {
        Ok(t) => t,
        Err(e) => {
            trace.events.push(events::error_event(
                1,
                format!("not an ATIF trajectory: {e}"),
                Some(bytes),
            ));
            return;
        }
    };
    let default_model = t.agent.and_then(|a| a.model_name);
    let mut out: Vec<Map<String, Value>> = Vec::new();
    let mut step_tokens = false;
    for step in t.steps {
        let ts = step
            .timestamp
            .as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.timestamp_micros() as f64 / 1e6);
        let mut common = Map::new();
        if let Some(id) = step.step_id {
            common.insert("step_id".into(), id.into());
        }
        if let Some(ts) = ts {
            common.insert("ts".into(), ts.into());
        }
        if step.source == "agent" && step.llm_call_count != Some(0) {
            let mut d = json!({"type": "model_request"})
                .as_object()
                .cloned()
                .unwrap_or_default();
            if let Some(m) = step.model_name.as_ref().or(default_model.as_ref()) {
                d.insert("model".into(), m.clone().into());
            }
            let metrics = step.metrics.unwrap_or_default();
            for (from, to) in [
                ("prompt_tokens", "input_tokens"),
                ("completion_tokens", "output_tokens"),
            ] {
                if let Some(n) = metrics.get(from).filter(|v| v.is_number()) {
                    d.insert(to.into(), n.clone());
                    step_tokens = true;
                }
            }
            d.extend(common.clone());
            out.push(d);
        }
        let results = step.observation.map(|o| o.results).unwrap_or_default();
        for call in step.tool_calls.unwrap_or_default() {
            let mut d =
                json!({"type": "tool_call", "name": call.function_name, "input": call.arguments});
            let answer = results
                .iter()
                .find(|r| r.source_call_id.is_some() && r.source_call_id == call.tool_call_id);
            if let (Some(obj), Some(r)) = (d.as_object_mut(), answer) {
                obj.insert("output".into(), r.content.clone());
            }
            let mut d = d.as_object().cloned().unwrap_or_default();
            if let Some(id) = call.tool_call_id {
                d.insert("tool_call_id".into(), id.into());
            }
            d.extend(common.clone());
            out.push(d);
        }
    }
    if let (false, Some(f)) = (step_tokens, t.final_metrics) {
        totals_on_first_request(&mut out, f, default_model);
    }
    push_events(trace, out);
}

fn totals_on_first_request(
    out: &mut Vec<Map<String, Value>>,
    f: FinalMetrics,
    model: Option<String>,
) {
    if f.total_prompt_tokens.is_none() && f.total_completion_tokens.is_none() {
        return;
    }
    let at = match out
        .iter()
        .position(|d| d.get("type").and_then(Value::as_str) == Some("model_request"))
    {
        Some(i) => i,
        None => {
            let mut d = Map::new();
            d.insert("type".into(), "model_request".into());
            if let Some(m) = model {
                d.insert("model".into(), m.into());
            }
            out.insert(0, d);
            0
        }
    };
    let d = &mut out[at];
    d.insert(
        "input_tokens".into(),
        f.total_prompt_tokens.unwrap_or(0).into(),
    );
    d.insert(
        "output_tokens".into(),
        f.total_completion_tokens.unwrap_or(0).into(),
    );
    d.insert("tokens_from".into(), "final_metrics".into());
}

/// Events under the cap, every request's tokens counted.
fn push_events(trace: &mut Trace, out: Vec<Map<String, Value>>) {
    for (i, d) in out.into_iter().enumerate() {
        events::add_usage(&mut trace.usage, &d);
        if trace.events.len() >= events::MAX_EVENTS {
            trace.dropped += 1;
            continue;
        }
        trace.events.push(super::convert::event_of(i as u64 + 1, d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(text: &str, format: EventsFormat) -> (Trace, Received) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("e"), text).expect("write");
        read(&Dir::open(dir.path()).expect("dir"), "e", format)
    }

    #[test]
    fn atif_steps_become_requests_and_tool_calls() {
        let text = r#"{"schema_version":"ATIF-v1.6","session_id":"s","agent":{"name":"a","version":"1","model_name":"m"},
          "steps":[{"step_id":1,"source":"user","message":"do it"},
                   {"step_id":2,"source":"agent","message":"","tool_calls":[
                       {"tool_call_id":"c1","function_name":"read_file","arguments":{"path":"x"}},
                       {"tool_call_id":"c2","function_name":"write_file","arguments":{}}],
                    "observation":{"results":[{"source_call_id":"c1","content":"data"}]}}],
          "final_metrics":{"total_prompt_tokens":100,"total_completion_tokens":20,"total_steps":2}}"#;
        let (t, _) = read_str(text, EventsFormat::Atif);
        let kinds: Vec<&str> = t.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["model_request", "tool_call", "tool_call"]);
        assert_eq!(
            t.events[1].data.as_ref().map(|d| d["output"].clone()),
            Some("data".into())
        );
        let m = t.usage.get("m").expect("usage");
        assert_eq!((m.input, m.output), (100, 20));
        let (t, _) = read_str("{\"steps\": 5}", EventsFormat::Atif);
        assert_eq!(t.events[0].kind, crate::session::EventKind::Error);
    }

    #[test]
    fn otlp_json_lines_with_a_bad_line() {
        let ids = super::super::TraceIds::for_session("f");
        let line = super::super::convert::tests::json_request(&ids, 2).replace('\n', " ");
        let (t, r) = read_str(&format!("{line}\nnot json\n"), EventsFormat::OtlpJson);
        let kinds: Vec<&str> = t.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["error", "model_request", "tool_call"]);
        assert_eq!(r.spans.len(), 2);
        assert!(r.spans.iter().all(|s| !s.foreign));
    }
}
