//! Trace assertions: `event:` counts, `metric:` bounds and `tool_sequence:` order, judged
//! against the session's parsed events file (only the events kept under its cap).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::session::{Event, EventKind};
use crate::spec::checks::{EventCheck, MetricCheck};

/// Tool names shown in a failed `tool_sequence`'s `actual`.
const SHOWN_TOOLS: usize = 100;

/// (passed, expected, actual, message) of one check.
pub(super) type Judged = (bool, Value, Value, String);

/// Is `x` within the bounds (either may be absent), and the bounds in words.
pub(super) fn within(x: f64, lo: Option<f64>, hi: Option<f64>) -> (bool, String) {
    let ok = lo.is_none_or(|lo| x >= lo) && hi.is_none_or(|hi| x <= hi);
    let words = match (lo, hi) {
        (Some(lo), Some(hi)) => format!("between {lo} and {hi}"),
        (Some(lo), None) => format!("at least {lo}"),
        (None, Some(hi)) => format!("at most {hi}"),
        (None, None) => "anything".to_string(),
    };
    (ok, words)
}

/// The event's own `name` field, where it has a string one.
fn name_of(e: &Event) -> Option<&str> {
    e.data.as_ref()?.get("name")?.as_str()
}

/// Counts the matching events. When part of the events file was not read (`unread`), the
/// true count may be higher: only a lower bound that the kept events already meet is judged.
pub fn event(c: &EventCheck, events: &[Event], unread: Option<&str>) -> Judged {
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
    let mut message = format!("{count} {what}, expected {bounds}");
    let judged = ok && (unread.is_none() || c.at_most.is_none());
    if let (false, Some(unread)) = (judged, unread) {
        message.push_str(&cut_trace(unread, "the whole count"));
    }
    (
        judged,
        json!({"at_least": c.at_least, "at_most": c.at_most}),
        json!(count),
        message,
    )
}

/// The metric's last reported value within bounds; when part of the events file was not
/// read (`unread`), a later value may lie there, so the check cannot pass.
pub fn metric(c: &MetricCheck, metrics: &BTreeMap<String, f64>, unread: Option<&str>) -> Judged {
    let expected = json!({"at_least": c.at_least, "at_most": c.at_most});
    let note = |unknown: &str| unread.map(|u| cut_trace(u, unknown)).unwrap_or_default();
    let Some(&x) = metrics.get(&c.name) else {
        let message = format!("no metric `{}` was reported{}", c.name, note("its value"));
        return (false, expected, Value::Null, message);
    };
    let (ok, bounds) = within(x, c.at_least, c.at_most);
    let message = format!(
        "metric {} = {x}, expected {bounds}{}",
        c.name,
        note("its last value")
    );
    (ok && unread.is_none(), expected, json!(x), message)
}

/// The end of a message about a trace that was not read whole.
fn cut_trace(unread: &str, unknown: &str) -> String {
    format!("; but the trace is incomplete ({unread} not read), so {unknown} is unknown")
}

/// Passes when the `tool_call` events' names contain `want` in order, other calls between.
/// A sequence not found in a trace that was not read whole (`unread`) says so.
pub fn tool_sequence(want: &[String], events: &[Event], unread: Option<&str>) -> Judged {
    let called: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == EventKind::ToolCall)
        .filter_map(name_of)
        .collect();
    let mut next = 0;
    for name in &called {
        if next < want.len() && *name == want[next] {
            next += 1;
        }
    }
    let ok = next == want.len();
    let mut message = if ok {
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
    if let (false, Some(unread)) = (ok, unread) {
        message.push_str(&cut_trace(unread, "the rest of the sequence"));
    }
    let shown: Vec<&str> = called.iter().take(SHOWN_TOOLS).copied().collect();
    (ok, json!(want), json!(shown), message)
}
