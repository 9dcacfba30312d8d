//! Evaluating a benchmark's ground truth against a finished session's final state, its
//! trace (`trace_checks`) and its verifier programs (`verify`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::trace_checks::{self, within, Judged};
use super::verify;
use crate::sandbox::beneath::Dir;
use crate::session::{AssertionResult, Event};
use crate::spec::benchmark::{Assertion, Check, JsonCheck};

/// Largest file an assertion (`file_contains`, `json_value` with `file:`) reads; a larger
/// one fails the assertion, so reev's memory stays bounded whatever an agent writes.
pub const ASSERTION_READ_CAP: u64 = 8 * 1024 * 1024;

/// Longest text kept in an assertion's `actual`.
const SNIPPET: usize = 1024;

/// What the assertions look at.
pub struct FinalState<'a> {
    pub stdout: &'a [u8],
    pub exit_code: Option<i32>,
    pub duration: Duration,
    /// The scratch directory as opened before the agent started.
    pub scratch: &'a Dir,
    /// The session's trace and metrics, for `event`, `metric` and `tool_sequence`.
    pub events: &'a [Event],
    /// What of the events file was not read (see `events::Trace::unread`).
    pub unread: Option<&'a str>,
    pub metrics: &'a BTreeMap<String, f64>,
    /// Runs `verify:` programs; `Err` says why they are not run (the agent timed out...).
    pub verifier: Result<&'a verify::Runner<'a>, &'a str>,
}

/// Every assertion's record, and whether a verifier broke or reev was interrupted.
pub struct Judgement {
    pub results: Vec<AssertionResult>,
    /// The first verifier that could not judge: the session is `error`.
    pub error: Option<String>,
    pub interrupted: bool,
}

pub fn evaluate(assertions: &[Assertion], state: &FinalState) -> Judgement {
    // Every other check first: a verifier may change the scratch directory, and those checks
    // judge the agent's final state, not what a verifier made of it. Records keep file order.
    let mut slots: Vec<Option<AssertionResult>> = assertions
        .iter()
        .map(|a| (!matches!(a.check, Check::Verify(_))).then(|| one(a, state)))
        .collect();
    let mut j = Judgement {
        results: Vec::with_capacity(assertions.len()),
        error: None,
        interrupted: false,
    };
    for (i, a) in assertions.iter().enumerate() {
        let Check::Verify(check) = &a.check else {
            continue;
        };
        slots[i] = Some(match state.verifier {
            Ok(runner) => {
                let ran = runner.run(i, a, check);
                if ran.interrupted {
                    j.interrupted = true;
                    return j;
                }
                j.error = j.error.or(ran.error);
                ran.result
            }
            Err(why) => {
                let judged = (
                    false,
                    json!({"command": check.command}),
                    Value::Null,
                    format!("not run: {why}"),
                );
                record(a, judged)
            }
        });
    }
    j.results = slots.into_iter().flatten().collect();
    j
}

/// Weight times credit over total weight, in [0, 1]: credit is an assertion's `score` where
/// it has one (a verifier's partial credit), else 1 when passed and 0 when not.
pub fn score(results: &[AssertionResult]) -> f64 {
    let total: f64 = results.iter().map(|r| r.weight).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let credit = |r: &AssertionResult| r.score.unwrap_or(if r.passed { 1.0 } else { 0.0 });
    let passed: f64 = results.iter().map(|r| r.weight * credit(r)).sum();
    // Summing no values gives -0.0 in Rust, and clamp keeps it: a score of "-0.00" would
    // reach the session file, the database and every export. Adding +0.0 makes it +0.0.
    (passed / total).clamp(0.0, 1.0) + 0.0
}

fn one(a: &Assertion, s: &FinalState) -> AssertionResult {
    let stdout = String::from_utf8_lossy(s.stdout);
    let judged = match &a.check {
        Check::ExitCode(want) => exit_code(*want, s.exit_code),
        Check::StdoutEquals(want) => {
            let ok = stdout.trim_end() == want.trim_end();
            let msg = if ok {
                "stdout matches"
            } else {
                "stdout differs"
            };
            (ok, json!(want), json!(snippet(&stdout)), msg.to_string())
        }
        Check::StdoutContains(want) => {
            let ok = stdout.contains(want.as_str());
            let msg = if ok {
                format!("stdout contains {want:?}")
            } else {
                format!(
                    "stdout ({} bytes) does not contain {want:?}",
                    s.stdout.len()
                )
            };
            (ok, json!(want), json!(snippet(&stdout)), msg)
        }
        Check::StdoutMatches(re) => {
            let ok = re.is_match(&stdout);
            let msg = if ok {
                format!("stdout matches /{re}/")
            } else {
                format!("stdout does not match /{re}/")
            };
            (ok, json!(re.as_str()), json!(snippet(&stdout)), msg)
        }
        Check::FileExists(path) => file_exists(s.scratch, path),
        Check::FileContains { path, value } => file_contains(s.scratch, path, value),
        Check::JsonValue(check) => json_value(check, &stdout, s),
        Check::Event(c) => trace_checks::event(c, s.events, s.unread),
        Check::Metric(c) => trace_checks::metric(c, s.metrics, s.unread),
        Check::ToolSequence(want) => trace_checks::tool_sequence(want, s.events, s.unread),
        // `evaluate` runs verifiers; they never get here.
        Check::Verify(_) => (false, Value::Null, Value::Null, "verifier not run".into()),
        Check::DurationAtMost(limit) => duration_at_most(*limit, s.duration),
    };
    record(a, judged)
}

fn exit_code(want: i64, got: Option<i32>) -> Judged {
    let ok = got.map(i64::from) == Some(want);
    let msg = match got {
        Some(c) if ok => format!("exit code {c}"),
        Some(c) => format!("exit code {c}, expected {want}"),
        None => format!("no exit code (killed by a signal), expected {want}"),
    };
    (ok, json!(want), json!(got), msg)
}

fn file_exists(scratch: &Dir, path: &Path) -> Judged {
    let (ok, msg) = match scratch.regular_file(path) {
        Ok(()) => (true, format!("{} exists", path.display())),
        Err(e) => (
            false,
            format!("{} {}", path.display(), e.describe(ASSERTION_READ_CAP)),
        ),
    };
    (ok, json!(path), json!(ok), msg)
}

fn file_contains(scratch: &Dir, path: &Path, value: &str) -> Judged {
    match read_text(scratch, path) {
        Ok(text) => {
            let ok = text.contains(value);
            let msg = if ok {
                format!("{} contains {value:?}", path.display())
            } else {
                format!("{} does not contain {value:?}", path.display())
            };
            (ok, json!(value), json!(snippet(&text)), msg)
        }
        Err(e) => (false, json!(value), Value::Null, e),
    }
}

fn duration_at_most(limit: Duration, took: Duration) -> Judged {
    let ok = took <= limit;
    let msg = format!(
        "took {} ms, limit {} ms",
        took.as_millis(),
        limit.as_millis()
    );
    (
        ok,
        json!(limit.as_millis() as u64),
        json!(took.as_millis() as u64),
        msg,
    )
}

fn record(a: &Assertion, (passed, expected, actual, message): Judged) -> AssertionResult {
    AssertionResult {
        kind: a.check.kind(),
        name: a.name.clone(),
        weight: a.weight,
        passed,
        expected,
        actual,
        message,
        score: None,
        verifier: None,
    }
}

fn json_value(c: &JsonCheck, stdout: &str, s: &FinalState) -> Judged {
    let expected = match &c.equals {
        Some(v) => v.clone(),
        None => json!({"at_least": c.at_least, "at_most": c.at_most}),
    };
    let source = match &c.file {
        Some(p) => p.display().to_string(),
        None => "stdout".to_string(),
    };
    let text = match &c.file {
        Some(p) => match read_text(s.scratch, p) {
            Ok(t) => t,
            Err(e) => return (false, expected, Value::Null, e),
        },
        None => stdout.to_string(),
    };
    // Only the pointer's path is built as a Value: memory stays near the text's size.
    let found = match super::json_at::value_at(text.trim(), &c.pointer) {
        Ok(v) => v,
        Err(e) => {
            return (
                false,
                expected,
                Value::Null,
                format!("{source} is not JSON: {e}"),
            )
        }
    };
    let Some(actual) = found else {
        return (
            false,
            expected,
            Value::Null,
            format!("{source} has no value at {}", c.path),
        );
    };
    if let Some(want) = &c.equals {
        let ok = json_equal(want, &actual);
        let msg = if ok {
            format!("{source} {} = {actual}", c.path)
        } else {
            format!("{source} {} is {actual}, expected {want}", c.path)
        };
        return (ok, expected, actual, msg);
    }
    let Some(x) = actual.as_f64() else {
        return (
            false,
            expected,
            actual,
            format!("{source} {} is not a number", c.path),
        );
    };
    let (ok, bounds) = within(x, c.at_least, c.at_most);
    let msg = format!("{source} {} = {x}, expected {bounds}", c.path);
    (ok, expected, actual, msg)
}

/// JSON equality where 2 and 2.0 are the same number.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// A regular file below the scratch directory, at most [`ASSERTION_READ_CAP`] bytes; never
/// through a symlink, never a FIFO or device (see `beneath`).
fn read_text(scratch: &Dir, rel: &Path) -> Result<String, String> {
    scratch
        .read_capped(rel, ASSERTION_READ_CAP)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| format!("{} {}", rel.display(), e.describe(ASSERTION_READ_CAP)))
}

fn snippet(text: &str) -> String {
    if text.len() <= SNIPPET {
        return text.to_string();
    }
    let mut end = SNIPPET;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_equal(&json!(2), &json!(2.0)));
        assert!(json_equal(&json!({"a": [1, 2]}), &json!({"a": [1.0, 2]})));
        assert!(!json_equal(&json!("2"), &json!(2)));
    }

    #[test]
    fn score_is_weighted() {
        let r = |w: f64, p: bool| AssertionResult {
            kind: crate::session::AssertionKind::ExitCode,
            name: None,
            weight: w,
            passed: p,
            expected: Value::Null,
            actual: Value::Null,
            message: String::new(),
            score: None,
            verifier: None,
        };
        assert_eq!(score(&[r(3.0, true), r(1.0, false)]), 0.75);
        assert_eq!(score(&[]), 0.0);
        let none = score(&[r(1.0, false), r(2.0, false)]);
        assert!(none == 0.0 && none.is_sign_positive(), "{none:?}");
    }
}
