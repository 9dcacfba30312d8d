//! Trace assertions: `event:` counts, `metric:` bounds and `tool_sequence:` order, judged
//! against the session's parsed events file (only the events kept under its cap).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::assertions::{within, Judged};
use crate::session::Event;
use crate::spec::checks::{EventCheck, MetricCheck};

/// Tool names shown in a failed `tool_sequence`'s `actual`.
const SHOWN_TOOLS: usize = 100;

/// The event's own `name` field, where it has a string one.
fn name_of(e: &Event) -> Option<&str> {
    e.data.as_ref()?.get("name")?.as_str()
}

pub fn event(c: &EventCheck, events: &[Event]) -> Judged {
    let count = events
        .iter()
        .filter(|e| e.kind == c.kind && c.name.as_deref().is_none_or(|n| name_of(e) == Some(n)))
        .count();
    let what = match &c.name {
        Some(n) => format!("{} `{n}` events", c.kind),
        None => format!("{} events", c.kind),
    };
    let (ok, bounds) = within(
        count as f64,
        c.at_least.map(|n| n as f64),
        c.at_most.map(|n| n as f64),
    );
    (
        ok,
        json!({"at_least": c.at_least, "at_most": c.at_most}),
        json!(count),
        format!("{count} {what}, expected {bounds}"),
    )
}

pub fn metric(c: &MetricCheck, metrics: &BTreeMap<String, f64>) -> Judged {
    let expected = json!({"at_least": c.at_least, "at_most": c.at_most});
    let Some(&x) = metrics.get(&c.name) else {
        return (
            false,
            expected,
            Value::Null,
            format!("no metric `{}` was reported", c.name),
        );
    };
    let (ok, bounds) = within(x, c.at_least, c.at_most);
    (
        ok,
        expected,
        json!(x),
        format!("metric {} = {x}, expected {bounds}", c.name),
    )
}

/// Passes when the `tool_call` events' names contain `want` in order, other calls between.
pub fn tool_sequence(want: &[String], events: &[Event]) -> Judged {
    let called: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "tool_call")
        .filter_map(name_of)
        .collect();
    let mut next = 0;
    for name in &called {
        if next < want.len() && *name == want[next] {
            next += 1;
        }
    }
    let ok = next == want.len();
    let message = if ok {
        format!("tool calls contain {} in order", want.join(" → "))
    } else {
        format!(
            "tool calls lack {} in order: matched {} of {}, missing `{}` after that ({} tool calls)",
            want.join(" → "),
            next,
            want.len(),
            want[next],
            called.len()
        )
    };
    let shown: Vec<&str> = called.iter().take(SHOWN_TOOLS).copied().collect();
    (ok, json!(want), json!(shown), message)
}
