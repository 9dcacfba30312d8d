//! The checks that judge how an agent worked rather than the files it left: verifier programs
//! (`verify:`) and trace assertions (`event:`, `metric:`, `tool_sequence:`), as written in a
//! benchmark file and validated for `benchmark.rs`.

use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::invalid::{bounds, Invalid, Problem};
use super::placeholders::unknown_placeholders;
use super::yaml;
use crate::session::EventKind;

/// A verifier's time limit when its `timeout:` is left out.
pub const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VerifySpec {
    command: Spanned<Vec<String>>,
    #[serde(default, deserialize_with = "yaml::duration")]
    timeout: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventSpec {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    name: Option<String>,
    /// Read as numbers so that `-1` or `1.5` get a sentence, not "invalid u64".
    #[serde(default, deserialize_with = "yaml::opt_number")]
    at_least: Option<f64>,
    #[serde(default, deserialize_with = "yaml::opt_number")]
    at_most: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MetricSpec {
    name: Spanned<String>,
    #[serde(default, deserialize_with = "yaml::opt_number")]
    at_least: Option<f64>,
    #[serde(default, deserialize_with = "yaml::opt_number")]
    at_most: Option<f64>,
}

/// A program that judges the session: exit 0 passed, 1 failed, an optional JSON result line.
#[derive(Debug, Clone)]
pub struct VerifyCheck {
    /// argv template; the agent placeholders plus `{benchmark_dir}` are expanded.
    pub command: Vec<String>,
    pub timeout: Duration,
}

/// How many events of a type (and tool or metric `name`) the trace holds.
#[derive(Debug, Clone)]
pub struct EventCheck {
    pub kind: EventKind,
    pub name: Option<String>,
    pub at_least: Option<u64>,
    pub at_most: Option<u64>,
}

/// A metric the agent reported, within bounds.
#[derive(Debug, Clone)]
pub struct MetricCheck {
    pub name: String,
    pub at_least: Option<f64>,
    pub at_most: Option<f64>,
}

pub(super) fn verify(spec: Spanned<VerifySpec>) -> Result<VerifyCheck, Invalid> {
    let cmd = spec.value.command;
    let at = Some(cmd.referenced);
    if cmd.value.first().is_none_or(|p| p.is_empty()) {
        return Err(Invalid::at(at, Problem::VerifyNoProgram));
    }
    if let Some(unknown) = unknown_placeholders(&cmd.value).into_iter().next() {
        return Err(Invalid::at(at, Problem::VerifyPlaceholder(unknown)));
    }
    Ok(VerifyCheck {
        command: cmd.value,
        timeout: spec.value.timeout.unwrap_or(DEFAULT_VERIFY_TIMEOUT),
    })
}

pub(super) fn event(spec: Spanned<EventSpec>) -> Result<EventCheck, Invalid> {
    let at = Some(spec.referenced);
    let e = spec.value;
    if e.kind.value.trim().is_empty() {
        return Err(Invalid::at(
            Some(e.kind.referenced),
            Problem::EventTypeEmpty,
        ));
    }
    bounds("event", e.at_least, e.at_most).map_err(|b| Invalid::at(at, b))?;
    let count = |x: Option<f64>| match x {
        Some(n) if n < 0.0 || n.fract() != 0.0 => Err(Invalid::at(at, Problem::EventCount(n))),
        // Finite and whole: the cast is exact up to 2^53, and saturates beyond.
        other => Ok(other.map(|n| n as u64)),
    };
    Ok(EventCheck {
        kind: EventKind::from(e.kind.value.as_str()),
        name: e.name,
        at_least: count(e.at_least)?,
        at_most: count(e.at_most)?,
    })
}

pub(super) fn metric(spec: Spanned<MetricSpec>) -> Result<MetricCheck, Invalid> {
    let at = Some(spec.referenced);
    let m = spec.value;
    if m.name.value.trim().is_empty() {
        return Err(Invalid::at(
            Some(m.name.referenced),
            Problem::MetricNameEmpty,
        ));
    }
    bounds("metric", m.at_least, m.at_most).map_err(|b| Invalid::at(at, b))?;
    Ok(MetricCheck {
        name: m.name.value,
        at_least: m.at_least,
        at_most: m.at_most,
    })
}

pub(super) fn tool_sequence(spec: Spanned<Vec<String>>) -> Result<Vec<String>, Invalid> {
    let at = Some(spec.referenced);
    if spec.value.is_empty() {
        return Err(Invalid::at(at, Problem::NoTools));
    }
    if spec.value.iter().any(|t| t.trim().is_empty()) {
        return Err(Invalid::at(at, Problem::EmptyTool));
    }
    Ok(spec.value)
}
