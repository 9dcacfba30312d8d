//! Verifier programs (`verify:` assertions): run after the agent, in its scratch dir, its
//! sandbox and its environment, and judged by exit status and an optional JSON result line.
//! Anything else a verifier does (another exit code, a signal, a timeout, a malformed result)
//! means the session could not be judged: an infrastructure error, never a silent 0.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::exec::process::{self, Captured};
use crate::sandbox::namespace::Plan;
use crate::session::{AssertionKind, AssertionResult, Output, VerifierRun};
use crate::spec::benchmark::Assertion;
use crate::spec::checks::VerifyCheck;
use crate::spec::placeholders;

/// Bytes read of a verifier's stdout and of its stderr: its result line must lie within.
pub const CAPTURE: usize = 64 * 1024;
/// Bytes of each kept in the assertion's record.
pub const KEEP: usize = 4 * 1024;

/// What every verifier of one session runs with: the agent's placeholders, environment
/// (plus `REEV_STDOUT`, `REEV_STDERR`), working directory and
/// containment (the same namespaces and sandbox, so nothing it starts outlives it).
pub struct Runner<'a> {
    pub values: &'a [(&'a str, &'a str)],
    pub env: &'a [(String, String)],
    pub cwd: &'a Path,
    pub grace: Duration,
    pub env_clear: bool,
    pub plan: Option<&'a Plan>,
}

/// One verifier's assertion record, and whether it broke.
pub struct Ran {
    pub result: AssertionResult,
    /// Why the verifier could not judge: the session's `error`.
    pub error: Option<String>,
    /// reev was asked to stop while the verifier ran.
    pub interrupted: bool,
}

/// What a verifier that worked said.
struct Verdict {
    score: f64,
    message: String,
    actual: Value,
}

impl Runner<'_> {
    /// Run the verifier of assertion `index` (from 0) to completion and judge what it did.
    pub fn run(&self, index: usize, a: &Assertion, check: &VerifyCheck) -> Ran {
        let argv: Vec<String> = check
            .command
            .iter()
            .map(|x| placeholders::expand(x, self.values))
            .collect();
        let label = match &a.name {
            Some(n) => format!("verifier `{n}`"),
            None => format!("verifier of assertion {}", index + 1),
        };
        let mut result = AssertionResult {
            kind: AssertionKind::Verify,
            name: a.name.clone(),
            weight: a.weight,
            passed: false,
            expected: json!({"command": argv}),
            actual: Value::Null,
            message: String::new(),
            score: None,
            verifier: None,
        };
        let ran = process::run(&process::Spawn {
            argv: &argv,
            env: self.env,
            cwd: self.cwd,
            stdin: &[],
            timeout: check.timeout,
            grace: self.grace,
            cap: CAPTURE,
            env_clear: self.env_clear,
            plan: self.plan,
            linger: false,
            through_stop: false,
        });
        let done = match ran {
            Ok(done) => done,
            Err(e) => return broken(result, format!("{label} ({}) cannot start: {e}", argv[0])),
        };
        result.verifier = Some(VerifierRun {
            command: argv.clone(),
            exit_code: done.exit_code,
            signal: done.signal,
            timed_out: done.timed_out,
            duration_ms: done.wall.as_millis() as u64,
            stdout: keep(&done.stdout),
            stderr: keep(&done.stderr),
        });
        if done.interrupted {
            return Ran {
                result,
                error: None,
                interrupted: true,
            };
        }
        match judge(&done, check.timeout) {
            Ok(v) => {
                result.passed = v.score >= 1.0;
                result.score = Some(v.score);
                result.message = v.message;
                result.actual = v.actual;
                Ran {
                    result,
                    error: None,
                    interrupted: false,
                }
            }
            Err(why) => broken(result, format!("{label} ({}) {why}", argv.join(" "))),
        }
    }
}

fn broken(mut result: AssertionResult, why: String) -> Ran {
    result.message = why.clone();
    Ran {
        result,
        error: Some(why),
        interrupted: false,
    }
}

/// Exit 0 passed, exit 1 failed, each refined by the first JSON object line on stdout.
fn judge(done: &process::Finished, timeout: Duration) -> Result<Verdict, String> {
    if done.timed_out {
        return Err(format!(
            "timed out after {}s; its process group was killed",
            timeout.as_secs_f64()
        ));
    }
    if let Some(sig) = done.signal {
        return Err(format!("was killed by signal {sig}"));
    }
    let code = match done.exit_code {
        Some(c @ (0 | 1)) => c,
        Some(c) => {
            return Err(format!(
                "exited with code {c} (0 = passed, 1 = failed, others: could not judge)"
            ))
        }
        None => return Err("ended without an exit status".into()),
    };
    let line = result_line(&done.stdout)?;
    let score = match line.as_ref().and_then(|o| o.get("score")) {
        None => f64::from(u8::from(code == 0)),
        Some(v) => match v.as_f64() {
            // + 0.0 turns -0.0 (in range) into 0.0, which the record and the file keep.
            Some(x) if (0.0..=1.0).contains(&x) => x + 0.0,
            _ => {
                return Err(format!(
                    "printed score {v}: a score must be a number from 0 to 1"
                ))
            }
        },
    };
    if code == 1 && score >= 1.0 {
        return Err("exited 1 (failed) but printed score 1: the two disagree".into());
    }
    let message = match line.as_ref().and_then(|o| o.get("message")) {
        None => None,
        Some(Value::String(m)) => Some(m.clone()),
        Some(v) => return Err(format!("printed message {v}: a message must be a string")),
    };
    let outcome = match (code, score) {
        (0, s) if s >= 1.0 => "passed".to_string(),
        (_, s) if s > 0.0 => format!("partial credit, score {s}"),
        _ => "failed".to_string(),
    };
    Ok(Verdict {
        score,
        message: match &message {
            Some(m) => format!("{outcome}: {m}"),
            None => format!("{outcome} (exit {code})"),
        },
        actual: json!({"exit_code": code, "score": score, "message": message}),
    })
}

/// The first stdout line that starts with `{`, which must be a JSON object; `None` when no
/// line does (the exit status alone judges).
fn result_line(stdout: &Captured) -> Result<Option<Map<String, Value>>, String> {
    let text = String::from_utf8_lossy(&stdout.bytes);
    let lines: Vec<&str> = text.split('\n').collect();
    let Some(at) = lines.iter().position(|l| l.trim().starts_with('{')) else {
        // A cut capture without a result line may hide one past the cut: judging by the exit
        // status alone would give full credit to a verifier that said `{"score": 0.25}` there.
        if stdout.truncated {
            return Err(format!(
                "printed more than {} KiB of stdout, all that reev reads, and no result line \
                 within them: a result line past them cannot be seen (send logs to stderr, or \
                 print the result line first)",
                CAPTURE / 1024
            ));
        }
        return Ok(None);
    };
    let line = lines[at].trim();
    // The last line of a cut capture goes on past what reev read.
    if stdout.truncated && at + 1 == lines.len() {
        return Err(format!(
            "printed a result line that goes past the first {} KiB of stdout, all that reev reads",
            CAPTURE / 1024
        ));
    }
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(obj)) => Ok(Some(obj)),
        Ok(_) => Err("printed a result line that is not a JSON object".into()),
        Err(e) => {
            let shown: String = line.chars().take(200).collect();
            Err(format!(
                "printed a malformed result line ({e}; the result is one JSON object on one \
                 line): {shown}"
            ))
        }
    }
}

/// The first [`KEEP`] bytes of a stream, for the record.
fn keep(c: &Captured) -> Output {
    let cut = &c.bytes[..c.bytes.len().min(KEEP)];
    Output {
        text: String::from_utf8_lossy(cut).into_owned(),
        bytes_total: c.total,
        truncated: c.total > cut.len() as u64,
    }
}
