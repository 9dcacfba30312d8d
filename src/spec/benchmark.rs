//! Benchmark files: one YAML benchmark per file, parsed strictly and validated into [`Benchmark`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::checks::{
    self, EventCheck, EventSpec, MetricCheck, MetricSpec, VerifyCheck, VerifySpec,
};
use super::invalid::{safe_relative, Invalid, Problem};
use super::placeholders::{placeholders_in, PLACEHOLDERS};
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
    check_header(path, &file, &mut diags);
    let initial_state = seed_files(path, &file.initial_state, &mut diags);
    let setup = fixture("setup", file.setup, path, &mut diags);
    let teardown = fixture("teardown", file.teardown, path, &mut diags);
    let (pass_threshold, assertions) = ground_truth(path, file.ground_truth, &mut diags);
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
        pass_threshold,
        assertions,
        path: path.to_path_buf(),
        dir: absolute_dir(path),
        sha256: crate::digest::sha256_hex(bytes),
        yaml: text.to_string(),
    })
}

/// The id is a plain name, no tag is empty, the timeout is not zero.
fn check_header(path: &Path, file: &BenchmarkFile, diags: &mut Vec<Diagnostic>) {
    if let Err(e) = check_name("benchmark id", &file.id.value) {
        diags.push(yaml::at(path, file.id.referenced, e.to_string()));
    }
    for tag in &file.tags {
        if tag.value.trim().is_empty() {
            diags.push(yaml::at(path, tag.referenced, "a tag cannot be empty"));
        }
    }
    if file.timeout == Some(Duration::ZERO) {
        diags.push(Diagnostic::new(path, "timeout must be more than zero"));
    }
}

/// The `initial_state:` files: each inside the scratch directory, listed once, with exactly
/// one of `content` or `json`.
fn seed_files(path: &Path, specs: &[FileSpec], diags: &mut Vec<Diagnostic>) -> Vec<SeedFile> {
    let mut files: Vec<SeedFile> = Vec::new();
    for spec in specs {
        let at = |msg: String| yaml::at(path, spec.path.referenced, msg);
        let rel = match safe_relative(&spec.path.value) {
            Ok(p) => p,
            Err(e) => {
                diags.push(at(format!("initial_state path: {e}")));
                continue;
            }
        };
        if files.iter().any(|f| f.path == rel) {
            diags.push(at(format!(
                "initial_state path `{}` is listed twice",
                spec.path.value
            )));
        }
        match seed_contents(spec) {
            Ok(contents) => files.push(SeedFile {
                path: rel,
                contents,
                executable: spec.executable,
            }),
            Err(e) => diags.push(at(e.to_string())),
        }
    }
    files
}

/// Why a seed file has no contents.
#[derive(Debug, thiserror::Error)]
enum SeedError {
    #[error("json: {0}")]
    Json(serde_json::Error),
    #[error("initial_state `{0}`: give exactly one of `content` (text) or `json` (structured)")]
    NotOne(String),
}

/// The bytes of one seed file: its `content`, or its `json` pretty-printed with a newline.
fn seed_contents(spec: &FileSpec) -> Result<Vec<u8>, SeedError> {
    match (&spec.content, &spec.json) {
        (Some(text), None) => Ok(text.clone().into_bytes()),
        (None, Some(value)) => {
            let mut v = serde_json::to_vec_pretty(value).map_err(SeedError::Json)?;
            v.push(b'\n');
            Ok(v)
        }
        _ => Err(SeedError::NotOne(spec.path.value.clone())),
    }
}

/// `ground_truth:`: a pass threshold between 0 and 1 and at least one valid assertion.
fn ground_truth(
    path: &Path,
    spec: GroundTruthSpec,
    diags: &mut Vec<Diagnostic>,
) -> (f64, Vec<Assertion>) {
    let threshold = spec.pass_threshold.value;
    if !(0.0..=1.0).contains(&threshold) {
        diags.push(yaml::at(
            path,
            spec.pass_threshold.referenced,
            format!("pass_threshold must be between 0 and 1, not {threshold}"),
        ));
    }
    if spec.assertions.is_empty() {
        diags.push(Diagnostic::new(
            path,
            "ground_truth.assertions: at least one assertion is needed",
        ));
    }
    let mut assertions = Vec::new();
    for (i, spec) in spec.assertions.into_iter().enumerate() {
        match assertion(spec) {
            Ok(a) => assertions.push(a),
            Err(Invalid { at, problem }) => diags.push(match at {
                Some(loc) => yaml::at(path, loc, format!("assertion {}: {problem}", i + 1)),
                None => Diagnostic::new(
                    path,
                    format!("ground_truth.assertions[{}]: {problem}", i + 1),
                ),
            }),
        }
    }
    (threshold, assertions)
}

/// A `setup:` / `teardown:` argv: not empty, and only the agents' placeholders.
fn fixture(
    key: &str,
    spec: Option<Spanned<Vec<String>>>,
    path: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<String>> {
    let spec = spec?;
    let at = |msg: String| yaml::at(path, spec.referenced, msg);
    if spec.value.first().is_none_or(|p| p.is_empty()) {
        diags.push(at(format!(
            "{key}: give a command as a list of arguments (its program first)"
        )));
    }
    for arg in &spec.value {
        for ph in placeholders_in(arg) {
            if !PLACEHOLDERS.contains(&ph) {
                diags.push(at(format!(
                    "{key}: unknown placeholder {{{ph}}} (known: {})",
                    PLACEHOLDERS.join(", ")
                )));
            }
        }
    }
    Some(spec.value)
}

fn assertion(spec: AssertionSpec) -> Result<Assertion, Invalid> {
    let weight_loc = spec.weight.as_ref().map(|w| w.referenced);
    let weight = spec.weight.as_ref().map_or(1.0, |w| w.value);
    if !(weight.is_finite() && weight > 0.0) {
        return Err(Invalid::at(weight_loc, Problem::Weight(weight)));
    }
    let name = spec.name.clone();
    let mut checks = written_checks(spec);
    if checks.len() != 1 {
        return Err(Invalid::at(weight_loc, Problem::CheckCount(checks.len())));
    }
    let check = checks.remove(0)?;
    Ok(Assertion {
        name,
        weight,
        check,
    })
}

/// Every check key an assertion has, each validated: one is right, none or more an error.
fn written_checks(spec: AssertionSpec) -> Vec<Result<Check, Invalid>> {
    let mut checks: Vec<Result<Check, Invalid>> = Vec::new();
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
        checks.push(
            Regex::new(&v.value)
                .map(Check::StdoutMatches)
                .map_err(|e| Invalid::at(Some(v.referenced), Problem::Regex(e))),
        );
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
    checks
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

fn spanned_path(p: &Spanned<String>) -> Result<PathBuf, Invalid> {
    safe_relative(&p.value).map_err(|e| Invalid::at(Some(p.referenced), e))
}

fn json_check(v: JsonValueSpec) -> Result<JsonCheck, Invalid> {
    let file = v.file.as_ref().map(spanned_path).transpose()?;
    let pointer = to_pointer(&v.path.value);
    let at = Some(v.path.referenced);
    if v.equals.is_some() && (v.at_least.is_some() || v.at_most.is_some()) {
        return Err(Invalid::at(at, Problem::JsonEqualsAndBounds));
    }
    if v.equals.is_none() && v.at_least.is_none() && v.at_most.is_none() {
        return Err(Invalid::at(at, Problem::JsonNoExpectation));
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

    /// The sentences (and positions) of invalid assertions, as `reev validate` prints them.
    #[test]
    fn invalid_assertions_say_what_and_where() {
        let yaml = "id: b\ndescription: d\nprompt: p\nground_truth:\n  assertions:\n    - name: none\n    - weight: 0\n      exit_code: 0\n    - weight: 2\n      exit_code: 0\n      stdout_equals: x\n    - event: {type: tool_call, at_least: 2, at_most: 1}\n    - event: {type: tool_call, at_least: 1.5}\n    - metric: {name: m}\n    - json_value: {path: a.b, equals: 1, at_least: 0}\n    - json_value: {path: a.b}\n    - file_exists: ../x\n    - tool_sequence: []\n    - stdout_matches: \"(\"\n";
        let diags = parse(Path::new("b.yml"), yaml.as_bytes()).unwrap_err();
        let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        let expected = [
            "b.yml: ground_truth.assertions[1]: give exactly one check (exit_code, stdout_equals, stdout_contains, stdout_matches, file_exists, file_contains, json_value, duration_at_most, verify, event, metric, tool_sequence); found 0",
            "b.yml:7:15: assertion 2: weight must be a positive number, not 0",
            "b.yml:9:15: assertion 3: give exactly one check (exit_code, stdout_equals, stdout_contains, stdout_matches, file_exists, file_contains, json_value, duration_at_most, verify, event, metric, tool_sequence); found 2",
            "b.yml:12:14: assertion 4: event: at_least (2) is greater than at_most (1); nothing could pass",
            "b.yml:13:14: assertion 5: event: bounds are counts (whole numbers from 0), not 1.5",
            "b.yml:14:15: assertion 6: metric: give `at_least`, `at_most` or both",
            "b.yml:15:26: assertion 7: json_value: `equals` cannot be combined with `at_least` / `at_most`",
            "b.yml:16:26: assertion 8: json_value: give `equals`, `at_least` or `at_most`",
            "b.yml:17:20: assertion 9: `../x` escapes the scratch directory (`..` is not allowed)",
            "b.yml:18:22: assertion 10: tool_sequence: list at least one tool name",
        ];
        assert_eq!(text[..expected.len()], expected);
        assert!(text[expected.len()]
            .starts_with("b.yml:19:23: assertion 11: stdout_matches: invalid regex: "));
        assert_eq!(text.len(), expected.len() + 1);
    }
}
