//! What one session's trace may hold, whichever way it arrives (the agent's events file,
//! OTLP spans), and the tokens of model requests, which are counted also past those caps.
//! Shared by `events` and `otlp`, and importing neither: the session file holds both.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::spec::prices::{add_tokens, Tokens};

/// Events kept per session, and bytes read from the events file.
pub const MAX_EVENTS: usize = 10_000;
pub const MAX_BYTES: u64 = 8 * 1024 * 1024;

/// A `model_request` event's tokens, added to its model's (`""` when it names none: such
/// requests have no price). A count that is not a non-negative number counts as 0.
pub fn add_usage(usage: &mut BTreeMap<String, Tokens>, obj: &serde_json::Map<String, Value>) {
    if obj.get("type").and_then(Value::as_str) != Some("model_request") {
        return;
    }
    let count = |key: &str| {
        obj.get(key)
            .and_then(Value::as_f64)
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map_or(0, |n| n as u64)
    };
    let model = obj.get("model").and_then(Value::as_str).unwrap_or_default();
    let t = usage.entry(model.to_string()).or_default();
    t.input = add_tokens(t.input, count("input_tokens"));
    t.output = add_tokens(t.output, count("output_tokens"));
}
