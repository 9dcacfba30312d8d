//! The checks that judge how an agent worked rather than the files it left: verifier programs
//! (`verify:`) and trace assertions (`event:`, `metric:`, `tool_sequence:`), as written in a
//! benchmark file and validated for `benchmark.rs`.

use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::agent::unknown_placeholders;
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

/// (where, message): the error of one check, located where the YAML has a position.
type SpecError = (Option<serde_saphyr::Location>, String);

pub(super) fn verify(spec: Spanned<VerifySpec>) -> Result<VerifyCheck, SpecError> {
    let cmd = spec.value.command;
    let at = Some(cmd.referenced);
    if cmd.value.first().is_none_or(|p| p.is_empty()) {
        return Err((
            at,
            "verify: command must name a program (an argv list)".into(),
        ));
    }
    if let Some(unknown) = unknown_placeholders(&cmd.value).into_iter().next() {
        return Err((at, format!("verify: {unknown}")));
    }
    Ok(VerifyCheck {
        command: cmd.value,
        timeout: spec.value.timeout.unwrap_or(DEFAULT_VERIFY_TIMEOUT),
    })
}

pub(super) fn event(spec: Spanned<EventSpec>) -> Result<EventCheck, SpecError> {
    let at = Some(spec.referenced);
    let e = spec.value;
    if e.kind.value.trim().is_empty() {
        return Err((
            Some(e.kind.referenced),
            "event: `type` cannot be empty".into(),
        ));
    }
    bounds("event", e.at_least, e.at_most).map_err(|m| (at, m))?;
    let count = |x: Option<f64>| match x {
        Some(n) if n < 0.0 || n.fract() != 0.0 => Err((
            at,
            format!("event: bounds are counts (whole numbers from 0), not {n}"),
        )),
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

pub(super) fn metric(spec: Spanned<MetricSpec>) -> Result<MetricCheck, SpecError> {
    let at = Some(spec.referenced);
    let m = spec.value;
    if m.name.value.trim().is_empty() {
        return Err((
            Some(m.name.referenced),
            "metric: `name` cannot be empty".into(),
        ));
    }
    bounds("metric", m.at_least, m.at_most).map_err(|msg| (at, msg))?;
    Ok(MetricCheck {
        name: m.name.value,
        at_least: m.at_least,
        at_most: m.at_most,
    })
}

pub(super) fn tool_sequence(spec: Spanned<Vec<String>>) -> Result<Vec<String>, SpecError> {
    let at = Some(spec.referenced);
    if spec.value.is_empty() {
        return Err((at, "tool_sequence: list at least one tool name".into()));
    }
    if spec.value.iter().any(|t| t.trim().is_empty()) {
        return Err((at, "tool_sequence: a tool name cannot be empty".into()));
    }
    Ok(spec.value)
}

/// At least one bound, each a finite number, and `at_least <= at_most`.
fn bounds(what: &str, lo: Option<f64>, hi: Option<f64>) -> Result<(), String> {
    if lo.is_none() && hi.is_none() {
        return Err(format!("{what}: give `at_least`, `at_most` or both"));
    }
    if lo.into_iter().chain(hi).any(|x| !x.is_finite()) {
        return Err(format!("{what}: bounds must be finite numbers"));
    }
    if let (Some(lo), Some(hi)) = (lo, hi) {
        if lo > hi {
            return Err(format!(
                "{what}: at_least ({lo}) is greater than at_most ({hi}); nothing could pass"
            ));
        }
    }
    Ok(())
}
