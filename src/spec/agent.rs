//! Agent definitions: the `agents:` section of the config file (reev.yml).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::prices::{PriceSpec, Prices};
use super::sandbox::{Sandbox, SandboxSpec};
use super::{check_name, yaml};
use crate::error::Diagnostic;

/// The placeholders an agent's argv may contain; each is replaced whole-word, once, no shell.
pub const PLACEHOLDERS: &[&str] = &[
    "prompt",
    "config_dir",
    "workdir",
    "events",
    "session_id",
    "benchmark_id",
    "attempt",
    "agent",
    "port",
    "benchmark_dir",
    "gateway_url",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    agents: std::collections::HashMap<Spanned<String>, AgentSpec>,
    /// Read by `config`; checked there, except `sandbox:`, the agents' default.
    #[serde(default)]
    settings: Option<SettingsPart>,
    /// USD per million tokens, per model (`prices.rs`).
    #[serde(default)]
    prices: std::collections::HashMap<Spanned<String>, PriceSpec>,
}

/// The one key of `settings:` that belongs to agents; the others are `config`'s.
#[derive(Debug, Default, Deserialize)]
struct SettingsPart {
    #[serde(default)]
    sandbox: Option<SandboxSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentSpec {
    /// Documentation for people reading reev.yml; reev does not use it.
    #[allow(dead_code)]
    #[serde(default)]
    description: String,
    command: Spanned<Vec<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "yaml::duration")]
    timeout: Option<Duration>,
    #[serde(default)]
    sandbox: Option<SandboxSpec>,
    /// A sweep: one agent per combination of these values (`matrix.rs`).
    #[serde(default)]
    matrix: Option<super::matrix::MatrixSpec>,
    /// How the agent writes its events file: reev (default), otlp-json, atif.
    #[serde(default)]
    events_format: crate::otlp::formats::EventsFormat,
    #[serde(default)]
    gateway: Option<GatewaySpec>,
}

/// `gateway:` — the agent's model server, reached through reev's model gateway.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewaySpec {
    upstream: Spanned<String>,
    #[serde(default)]
    api_key_env: Option<Spanned<String>>,
}

/// A validated `gateway:`.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub upstream: std::sync::Arc<crate::gateway::Upstream>,
    /// The environment variable of reev's whose value is sent upstream as the key.
    pub api_key_env: Option<String>,
}

/// A validated agent.
#[derive(Debug, Clone)]
pub struct Agent {
    pub name: String,
    /// argv template; see [`PLACEHOLDERS`].
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub timeout: Option<Duration>,
    /// Its own `sandbox:` merged over `settings.sandbox`; `None` when neither exists.
    pub sandbox: Option<Sandbox>,
    /// One cell of a `matrix:` sweep: (key, value) in key order, each also a placeholder
    /// `{key}` and a variable `REEV_MATRIX_<KEY>`; empty for an agent without `matrix:`.
    pub matrix: Vec<(String, String)>,
    /// The name the agent was declared under when it is a cell of a `matrix:` (its `name` is
    /// the cell's id, `<declared>.<values>`); `--agent <declared>` selects every cell.
    pub declared: Option<String>,
    /// The format of its events file (`events_format:`).
    pub events_format: crate::otlp::formats::EventsFormat,
    /// Its model server, when its model calls go through reev (recorded, replayable).
    pub gateway: Option<Gateway>,
}

/// The parsed config file.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub path: PathBuf,
    /// Absolute directory of the config file, for `{config_dir}`.
    pub dir: PathBuf,
    pub agents: BTreeMap<String, Agent>,
    /// What model requests cost; sessions record `cost_usd` by it.
    pub prices: Prices,
}

pub fn load(path: &Path) -> Result<AgentConfig, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Diagnostic::new(
            path,
            format!("cannot read agent config: {e}"),
        )]
    })?;
    let file: ConfigFile = yaml::parse(path, &text).map_err(|d| vec![d])?;
    let mut diags = Vec::new();
    let prices = Prices::parse(path, file.prices, &mut diags);
    let mut agents = BTreeMap::new();
    let default_sandbox = file.settings.and_then(|s| s.sandbox);
    let mut entries: Vec<_> = file.agents.into_iter().collect();
    entries.sort_by(|a, b| a.0.value.cmp(&b.0.value));
    for (name, spec) in entries {
        let at = |loc: serde_saphyr::Location, msg: String| {
            Diagnostic::at(path, loc.line(), loc.column(), msg)
        };
        if let Err(msg) = check_name("agent name", &name.value) {
            diags.push(at(name.referenced, msg));
        }
        if spec.command.value.is_empty() || spec.command.value[0].is_empty() {
            diags.push(at(
                spec.command.referenced,
                format!(
                    "agent `{}`: command must name a program (an argv list)",
                    name.value
                ),
            ));
        }
        let cells = super::matrix::expand(path, &name, spec.matrix.as_ref(), &mut diags);
        let keys: Vec<&str> = cells
            .first()
            .map(|c| c.values.iter().map(|(k, _)| k.as_str()).collect())
            .unwrap_or_default();
        for unknown in unknown_placeholders_with(&spec.command.value, &keys) {
            diags.push(at(
                spec.command.referenced,
                format!("agent `{}`: {unknown}", name.value),
            ));
        }
        if spec.timeout == Some(Duration::ZERO) {
            diags.push(at(
                spec.command.referenced,
                format!("agent `{}`: timeout must be more than zero", name.value),
            ));
        }
        let sandbox = Sandbox::merge(spec.sandbox.as_ref(), default_sandbox.as_ref());
        for var in sandbox.iter().flat_map(|s| s.env.iter().flatten()) {
            if var.is_empty() || var.contains('=') || var.contains('\0') {
                diags.push(at(
                    name.referenced,
                    format!(
                        "agent `{}`: sandbox.env: `{var}` is not an environment variable name",
                        name.value
                    ),
                ));
            }
        }
        let declared_gateway = spec.gateway.is_some();
        let gateway = spec
            .gateway
            .and_then(|g| gateway(&name.value, g, &mut |l, m| diags.push(at(l, m))));
        if !declared_gateway && uses_gateway_url(&spec.command.value, &spec.env) {
            diags.push(at(
                spec.command.referenced,
                format!(
                    "agent `{}`: {{gateway_url}} is only known to agents with `gateway:`",
                    name.value
                ),
            ));
        }
        let agent = Agent {
            name: name.value.clone(),
            command: spec.command.value,
            env: spec.env,
            timeout: spec.timeout,
            sandbox,
            matrix: Vec::new(),
            declared: None,
            events_format: spec.events_format,
            gateway,
        };
        if spec.matrix.is_none() {
            insert_agent(&mut agents, agent, name.referenced, path, &mut diags);
            continue;
        }
        for cell in cells {
            let one = Agent {
                name: cell.id,
                matrix: cell.values,
                declared: Some(name.value.clone()),
                ..agent.clone()
            };
            insert_agent(&mut agents, one, cell.at, path, &mut diags);
        }
    }
    if agents.is_empty() {
        diags.push(Diagnostic::new(path, "no agents defined under `agents:`"));
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let dir = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).map_err(|e| {
        vec![Diagnostic::new(
            path,
            format!("cannot resolve its directory: {e}"),
        )]
    })?;
    Ok(AgentConfig {
        path: path.to_path_buf(),
        dir,
        agents,
        prices,
    })
}

/// Add `agent` unless a cell of a matrix (or another agent) already took its id.
fn insert_agent(
    agents: &mut BTreeMap<String, Agent>,
    agent: Agent,
    at: serde_saphyr::Location,
    path: &Path,
    diags: &mut Vec<Diagnostic>,
) {
    if let Some(other) = agents.get(&agent.name) {
        let whose = |a: &Agent| match &a.declared {
            Some(d) => format!("a cell of `{d}`'s matrix"),
            None => "an agent".to_string(),
        };
        diags.push(Diagnostic::at(
            path,
            at.line(),
            at.column(),
            format!(
                "agent id `{}` is both {} and {}; rename one",
                agent.name,
                whose(other),
                whose(&agent)
            ),
        ));
        return;
    }
    agents.insert(agent.name.clone(), agent);
}

/// Check an agent's `gateway:`; every problem goes to `diag` with its position.
fn gateway(
    agent: &str,
    spec: GatewaySpec,
    diag: &mut dyn FnMut(serde_saphyr::Location, String),
) -> Option<Gateway> {
    let upstream = crate::gateway::Upstream::parse(&spec.upstream.value)
        .map_err(|e| {
            diag(
                spec.upstream.referenced,
                format!("agent `{agent}`: gateway.upstream: {e}"),
            )
        })
        .ok();
    let key = spec.api_key_env.map(|k| {
        if k.value.is_empty() || k.value.contains('=') || k.value.contains('\0') {
            diag(
                k.referenced,
                format!("agent `{agent}`: gateway.api_key_env: `{}` is not an environment variable name", k.value),
            );
        }
        k.value
    });
    Some(Gateway {
        upstream: std::sync::Arc::new(upstream?),
        api_key_env: key,
    })
}

fn uses_gateway_url(argv: &[String], env: &BTreeMap<String, String>) -> bool {
    argv.iter()
        .chain(env.values())
        .any(|a| placeholders_in(a).contains(&"gateway_url"))
}

/// One sentence per placeholder in `argv` that reev does not know.
pub(crate) fn unknown_placeholders(argv: &[String]) -> Vec<String> {
    unknown_placeholders_with(argv, &[])
}

/// As [`unknown_placeholders`], also knowing an agent's matrix keys.
fn unknown_placeholders_with(argv: &[String], extra: &[&str]) -> Vec<String> {
    argv.iter()
        .flat_map(|arg| placeholders_in(arg))
        .filter(|ph| !PLACEHOLDERS.contains(ph) && !extra.contains(ph))
        .map(|ph| {
            let mut known: Vec<&str> = PLACEHOLDERS.to_vec();
            known.extend(extra);
            format!(
                "unknown placeholder {{{ph}}} in command (known: {})",
                known.join(", ")
            )
        })
        .collect()
}

/// Names inside `{...}` that look like placeholders (identifier characters only).
pub fn placeholders_in(arg: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    out.push(name);
                }
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

/// Replace placeholders in one argv element. Values are inserted verbatim and never re-expanded.
pub fn expand(arg: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let replaced = after.find('}').and_then(|close| {
            let name = &after[..close];
            values
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v, close))
        });
        match replaced {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_replaces_once_and_never_reexpands() {
        let v = [
            ("prompt", "{events} $(rm -rf /) `x` ; | &"),
            ("events", "/tmp/e"),
        ];
        assert_eq!(
            expand("--p={prompt}", &v),
            "--p={events} $(rm -rf /) `x` ; | &"
        );
        assert_eq!(expand("{events}/{nope}", &v), "/tmp/e/{nope}");
        assert_eq!(expand("{", &v), "{");
    }

    #[test]
    fn finds_placeholders() {
        assert_eq!(placeholders_in("a{prompt}b{x y}{c}"), vec!["prompt", "c"]);
    }
}
