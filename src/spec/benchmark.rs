//! Benchmark files: one YAML benchmark per file, parsed strictly and validated into [`Benchmark`].

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::checks::{
    self, EventCheck, EventSpec, MetricCheck, MetricSpec, VerifyCheck, VerifySpec,
};
use super::{check_name, yaml};
use crate::error::Diagnostic;
use crate::session::AssertionKind;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BenchmarkFile {
    id: Spanned<String>,
    description: String,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    prompt: String,
    #[serde(default, deserialize_with = "yaml::duration")]
    timeout: Option<Duration>,
    #[serde(default)]
    initial_state: Vec<FileSpec>,
    /// argv run in the scratch dir before the agent (see `exec::fixture`).
    setup: Option<Spanned<Vec<String>>>,
    /// argv run in the scratch dir after the agent, whatever happened to it.
    teardown: Option<Spanned<Vec<String>>>,
    ground_truth: GroundTruthSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    path: Spanned<String>,
    content: Option<String>,
    json: Option<serde_json::Value>,
    #[serde(default)]
    executable: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroundTruthSpec {
    #[serde(default = "one", deserialize_with = "yaml::spanned")]
    pass_threshold: Spanned<f64>,
    assertions: Vec<AssertionSpec>,
}

fn one() -> Spanned<f64> {
    Spanned::new(1.0, Location::UNKNOWN, Location::UNKNOWN)
}

/// One assertion as written: exactly one check key, plus optional weight and name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssertionSpec {
    name: Option<String>,
    #[serde(default, deserialize_with = "yaml::opt_spanned")]
    weight: Option<Spanned<f64>>,
    #[serde(default, deserialize_with = "yaml::opt_spanned")]
    exit_code: Option<Spanned<i64>>,
    stdout_equals: Option<Spanned<String>>,
    stdout_contains: Option<Spanned<String>>,
    stdout_matches: Option<Spanned<String>>,
    file_exists: Option<Spanned<String>>,
    file_contains: Option<FileContainsSpec>,
    json_value: Option<JsonValueSpec>,
    #[serde(default, deserialize_with = "yaml::duration")]
    duration_at_most: Option<Duration>,
    verify: Option<Spanned<VerifySpec>>,
    event: Option<Spanned<EventSpec>>,
    metric: Option<Spanned<MetricSpec>>,
    tool_sequence: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileContainsSpec {
    path: Spanned<String>,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonValueSpec {
    /// A file in the scratch directory; absent means the agent's stdout.
    file: Option<Spanned<String>>,
    path: Spanned<String>,
    equals: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "yaml::opt_number")]
    at_least: Option<f64>,
    #[serde(default, deserialize_with = "yaml::opt_number")]
    at_most: Option<f64>,
}

/// A validated benchmark.
#[derive(Debug, Clone)]
pub struct Benchmark {
    pub id: String,
    pub description: String,
    pub tags: Vec<String>,
    pub prompt: String,
    pub timeout: Option<Duration>,
    pub initial_state: Vec<SeedFile>,
    /// argv templates (agent placeholders) run before and after the agent.
    pub setup: Option<Vec<String>>,
    pub teardown: Option<Vec<String>>,
    pub pass_threshold: f64,
    pub assertions: Vec<Assertion>,
    /// The file it came from, its bytes' SHA-256, and its text (kept for the store).
    pub path: PathBuf,
    /// The absolute directory of that file, for `{benchmark_dir}`.
    pub dir: PathBuf,
    pub sha256: String,
    pub yaml: String,
}

#[derive(Debug, Clone)]
pub struct SeedFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
    pub executable: bool,
}

#[derive(Debug, Clone)]
pub struct Assertion {
    pub name: Option<String>,
    pub weight: f64,
    pub check: Check,
}

#[derive(Debug, Clone)]
pub enum Check {
    ExitCode(i64),
    StdoutEquals(String),
    StdoutContains(String),
    StdoutMatches(Regex),
    FileExists(PathBuf),
    FileContains {
        path: PathBuf,
        value: String,
    },
    JsonValue(JsonCheck),
    DurationAtMost(Duration),
    Verify(VerifyCheck),
    Event(EventCheck),
    Metric(MetricCheck),
    /// Tool names that the trace's `tool_call` events contain in this order (a subsequence).
    ToolSequence(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct JsonCheck {
    pub file: Option<PathBuf>,
    /// As written (JSON Pointer or dotted path) and as a JSON Pointer.
    pub path: String,
    pub pointer: String,
    pub equals: Option<serde_json::Value>,
    pub at_least: Option<f64>,
    pub at_most: Option<f64>,
}

impl Check {
    /// The assertion type as written in YAML and recorded in session files.
    pub fn kind(&self) -> AssertionKind {
        match self {
            Check::ExitCode(_) => AssertionKind::ExitCode,
            Check::StdoutEquals(_) => AssertionKind::StdoutEquals,
            Check::StdoutContains(_) => AssertionKind::StdoutContains,
            Check::StdoutMatches(_) => AssertionKind::StdoutMatches,
            Check::FileExists(_) => AssertionKind::FileExists,
            Check::FileContains { .. } => AssertionKind::FileContains,
            Check::JsonValue(_) => AssertionKind::JsonValue,
            Check::DurationAtMost(_) => AssertionKind::DurationAtMost,
            Check::Verify(_) => AssertionKind::Verify,
            Check::Event(_) => AssertionKind::Event,
            Check::Metric(_) => AssertionKind::Metric,
            Check::ToolSequence(_) => AssertionKind::ToolSequence,
        }
    }
}

/// Parse and validate one benchmark file. Every problem found is returned, not just the first.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Benchmark, Vec<Diagnostic>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| vec![Diagnostic::new(path, format!("not valid UTF-8: {e}"))])?;
    let file: BenchmarkFile = yaml::parse(path, text).map_err(|d| vec![d])?;
    let mut diags = Vec::new();
    let at = |loc: Location, msg: String| Diagnostic::at(path, loc.line(), loc.column(), msg);

    if let Err(msg) = check_name("benchmark id", &file.id.value) {
        diags.push(at(file.id.referenced, msg));
    }
    for tag in &file.tags {
        if tag.value.trim().is_empty() {
            diags.push(at(tag.referenced, "a tag cannot be empty".into()));
        }
    }
    if file.timeout == Some(Duration::ZERO) {
        diags.push(Diagnostic::new(path, "timeout must be more than zero"));
    }

    let mut initial_state = Vec::new();
    for spec in &file.initial_state {
        let rel = match safe_relative(&spec.path.value) {
            Ok(p) => p,
            Err(msg) => {
                diags.push(at(
                    spec.path.referenced,
                    format!("initial_state path: {msg}"),
                ));
                continue;
            }
        };
        if initial_state.iter().any(|f: &SeedFile| f.path == rel) {
            diags.push(at(
                spec.path.referenced,
                format!("initial_state path `{}` is listed twice", spec.path.value),
            ));
        }
        let contents = match (&spec.content, &spec.json) {
            (Some(text), None) => text.clone().into_bytes(),
            (None, Some(value)) => match serde_json::to_vec_pretty(value) {
                Ok(mut v) => {
                    v.push(b'\n');
                    v
                }
                Err(e) => {
                    diags.push(at(spec.path.referenced, format!("json: {e}")));
                    continue;
                }
            },
            _ => {
                diags.push(at(
                    spec.path.referenced,
                    format!(
                        "initial_state `{}`: give exactly one of `content` (text) or `json` (structured)",
                        spec.path.value
                    ),
                ));
                continue;
            }
        };
        initial_state.push(SeedFile {
            path: rel,
            contents,
            executable: spec.executable,
        });
    }

    let setup = fixture("setup", file.setup, path, &mut diags);
    let teardown = fixture("teardown", file.teardown, path, &mut diags);

    let threshold = file.ground_truth.pass_threshold.value;
    if !(0.0..=1.0).contains(&threshold) {
        diags.push(at(
            file.ground_truth.pass_threshold.referenced,
            format!("pass_threshold must be between 0 and 1, not {threshold}"),
        ));
    }
    if file.ground_truth.assertions.is_empty() {
        diags.push(Diagnostic::new(
            path,
            "ground_truth.assertions: at least one assertion is needed",
        ));
    }
    let mut assertions = Vec::new();
    for (i, spec) in file.ground_truth.assertions.into_iter().enumerate() {
        match assertion(spec) {
            Ok(a) => assertions.push(a),
            Err((loc, msg)) => diags.push(match loc {
                Some(loc) => at(loc, format!("assertion {}: {msg}", i + 1)),
                None => Diagnostic::new(path, format!("ground_truth.assertions[{}]: {msg}", i + 1)),
            }),
        }
    }

    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(Benchmark {
        id: file.id.value,
        description: file.description,
        tags: file.tags.into_iter().map(|t| t.value).collect(),
        prompt: file.prompt,
        timeout: file.timeout,
        initial_state,
        setup,
        teardown,
        pass_threshold: threshold,
        assertions,
        path: path.to_path_buf(),
        dir: absolute_dir(path),
        sha256: crate::digest::sha256_hex(bytes),
        yaml: text.to_string(),
    })
}

/// A `setup:` / `teardown:` argv: not empty, and only the agents' placeholders.
fn fixture(
    key: &str,
    spec: Option<Spanned<Vec<String>>>,
    path: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<String>> {
    let spec = spec?;
    let loc = spec.referenced;
    let at = |msg: String| Diagnostic::at(path, loc.line(), loc.column(), msg);
    if spec.value.first().is_none_or(|p| p.is_empty()) {
        diags.push(at(format!(
            "{key}: give a command as a list of arguments (its program first)"
        )));
    }
    for arg in &spec.value {
        for ph in super::agent::placeholders_in(arg) {
            if !super::agent::PLACEHOLDERS.contains(&ph) {
                diags.push(at(format!(
                    "{key}: unknown placeholder {{{ph}}} (known: {})",
                    super::agent::PLACEHOLDERS.join(", ")
                )));
            }
        }
    }
    Some(spec.value)
}

type SpecError = (Option<Location>, String);

fn assertion(spec: AssertionSpec) -> Result<Assertion, SpecError> {
    let weight_loc = spec.weight.as_ref().map(|w| w.referenced);
    let weight = spec.weight.map(|w| w.value).unwrap_or(1.0);
    if !(weight.is_finite() && weight > 0.0) {
        return Err((
            weight_loc,
            format!("weight must be a positive number, not {weight}"),
        ));
    }
    let mut checks: Vec<Result<Check, SpecError>> = Vec::new();
    if let Some(v) = spec.exit_code {
        checks.push(Ok(Check::ExitCode(v.value)));
    }
    if let Some(v) = spec.stdout_equals {
        checks.push(Ok(Check::StdoutEquals(v.value)));
    }
    if let Some(v) = spec.stdout_contains {
        checks.push(Ok(Check::StdoutContains(v.value)));
    }
    if let Some(v) = spec.stdout_matches {
        checks.push(Regex::new(&v.value).map(Check::StdoutMatches).map_err(|e| {
            (
                Some(v.referenced),
                format!("stdout_matches: invalid regex: {e}"),
            )
        }));
    }
    if let Some(v) = spec.file_exists {
        checks.push(spanned_path(&v).map(Check::FileExists));
    }
    if let Some(v) = spec.file_contains {
        checks.push(spanned_path(&v.path).map(|path| Check::FileContains {
            path,
            value: v.value,
        }));
    }
    if let Some(v) = spec.json_value {
        checks.push(json_check(v).map(Check::JsonValue));
    }
    if let Some(d) = spec.duration_at_most {
        checks.push(Ok(Check::DurationAtMost(d)));
    }
    if let Some(v) = spec.verify {
        checks.push(checks::verify(v).map(Check::Verify));
    }
    if let Some(v) = spec.event {
        checks.push(checks::event(v).map(Check::Event));
    }
    if let Some(v) = spec.metric {
        checks.push(checks::metric(v).map(Check::Metric));
    }
    if let Some(v) = spec.tool_sequence {
        checks.push(checks::tool_sequence(v).map(Check::ToolSequence));
    }
    if checks.len() != 1 {
        return Err((
            weight_loc,
            format!(
                "give exactly one check (exit_code, stdout_equals, stdout_contains, stdout_matches, \
                 file_exists, file_contains, json_value, duration_at_most, verify, event, metric, \
                 tool_sequence); found {}",
                checks.len()
            ),
        ));
    }
    let check = checks.remove(0)?;
    Ok(Assertion {
        name: spec.name,
        weight,
        check,
    })
}

/// The benchmark file's directory, absolute (resolved when it exists, as `{config_dir}` is).
fn absolute_dir(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::canonicalize(dir)
        .or_else(|_| std::path::absolute(dir))
        .unwrap_or_else(|_| dir.to_path_buf())
}

fn spanned_path(p: &Spanned<String>) -> Result<PathBuf, SpecError> {
    safe_relative(&p.value).map_err(|msg| (Some(p.referenced), msg))
}

fn json_check(v: JsonValueSpec) -> Result<JsonCheck, SpecError> {
    let file = v.file.as_ref().map(spanned_path).transpose()?;
    let pointer = to_pointer(&v.path.value);
    if v.equals.is_some() && (v.at_least.is_some() || v.at_most.is_some()) {
        return Err((
            Some(v.path.referenced),
            "json_value: `equals` cannot be combined with `at_least` / `at_most`".into(),
        ));
    }
    if v.equals.is_none() && v.at_least.is_none() && v.at_most.is_none() {
        return Err((
            Some(v.path.referenced),
            "json_value: give `equals`, `at_least` or `at_most`".into(),
        ));
    }
    Ok(JsonCheck {
        file,
        path: v.path.value,
        pointer,
        equals: v.equals,
        at_least: v.at_least,
        at_most: v.at_most,
    })
}

/// `/a/0/b` is a JSON Pointer already; `a.0.b` (or `$.a.0.b`) is turned into one.
pub fn to_pointer(path: &str) -> String {
    if path.is_empty() || path.starts_with('/') {
        return path.to_string();
    }
    let path = path.strip_prefix("$.").unwrap_or(path);
    path.split('.')
        .map(|seg| format!("/{}", seg.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// A path that stays inside the scratch directory: relative, no `..`, not empty.
pub fn safe_relative(path: &str) -> Result<PathBuf, String> {
    if path.is_empty() {
        return Err("path is empty".into());
    }
    if path.contains('\0') {
        return Err("path contains a NUL byte".into());
    }
    let p = Path::new(path);
    let mut clean = PathBuf::new();
    for comp in p.components() {
        match comp {
            Component::Normal(c) => clean.push(c),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!(
                    "`{path}` escapes the scratch directory (`..` is not allowed)"
                ))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "`{path}` escapes the scratch directory (absolute paths are not allowed)"
                ))
            }
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(format!(
            "`{path}` names the scratch directory itself, not a file"
        ));
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers() {
        assert_eq!(to_pointer("/a/b"), "/a/b");
        assert_eq!(to_pointer("a.0.b"), "/a/0/b");
        assert_eq!(to_pointer("$.x"), "/x");
        assert_eq!(to_pointer("a/b.c"), "/a~1b/c");
    }

    #[test]
    fn safe_paths() {
        assert!(safe_relative("a/b.txt").is_ok());
        assert!(safe_relative("./a").is_ok());
        assert!(safe_relative("../a").is_err());
        assert!(safe_relative("a/../../b").is_err());
        assert!(safe_relative("/etc/passwd").is_err());
        assert!(safe_relative(".").is_err());
        assert!(safe_relative("").is_err());
    }
}
