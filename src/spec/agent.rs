//! Agent definitions: the `agents:` section of the config file (reev.yml).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::matrix::Cell;
use super::placeholders::{placeholders_in, unknown_placeholders_with};
use super::prices::{PriceSpec, Prices};
use super::sandbox::{Sandbox, SandboxSpec};
use super::{check_name, yaml};
use crate::error::Diagnostic;

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
    /// argv template; see [`super::placeholders::PLACEHOLDERS`].
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

/// Read and check the config file's agents (each `matrix:` expanded into its cells) and
/// prices; every problem is returned, not just the first.
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
        for (agent, at) in declared(path, name, spec, default_sandbox.as_ref(), &mut diags) {
            insert_agent(&mut agents, agent, at, path, &mut diags);
        }
    }
    if agents.is_empty() {
        diags.push(Diagnostic::new(path, "no agents defined under `agents:`"));
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(AgentConfig {
        path: path.to_path_buf(),
        dir: config_dir(path)?,
        agents,
        prices,
    })
}

/// The agents one `agents:` entry declares — itself, or one per cell of its `matrix:` — each
/// with the position its id is reported at; its problems go to `diags`.
fn declared(
    path: &Path,
    name: Spanned<String>,
    spec: AgentSpec,
    default_sandbox: Option<&SandboxSpec>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(Agent, Location)> {
    if let Err(e) = check_name("agent name", &name.value) {
        diags.push(yaml::at(path, name.referenced, e.to_string()));
    }
    if spec.command.value.is_empty() || spec.command.value[0].is_empty() {
        diags.push(yaml::at(
            path,
            spec.command.referenced,
            format!(
                "agent `{}`: command must name a program (an argv list)",
                name.value
            ),
        ));
    }
    let cells = super::matrix::expand(path, &name, spec.matrix.as_ref(), diags);
    check_command(path, &name.value, &spec, &cells, diags);
    let sandbox = Sandbox::merge(spec.sandbox.as_ref(), default_sandbox);
    check_sandbox_env(path, &name, sandbox.as_ref(), diags);
    let gateway = checked_gateway(
        path,
        &name.value,
        spec.gateway,
        &spec.command,
        &spec.env,
        diags,
    );
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
        return vec![(agent, name.referenced)];
    }
    cells
        .into_iter()
        .map(|cell| {
            let one = Agent {
                name: cell.id,
                matrix: cell.values,
                declared: Some(name.value.clone()),
                ..agent.clone()
            };
            (one, cell.at)
        })
        .collect()
}

/// The command's placeholders (reev's own and the matrix keys) and the agent's timeout.
fn check_command(
    path: &Path,
    name: &str,
    spec: &AgentSpec,
    cells: &[Cell],
    diags: &mut Vec<Diagnostic>,
) {
    let keys: Vec<&str> = cells
        .first()
        .map(|c| c.values.iter().map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    let at = spec.command.referenced;
    for unknown in unknown_placeholders_with(&spec.command.value, &keys) {
        diags.push(yaml::at(path, at, format!("agent `{name}`: {unknown}")));
    }
    if spec.timeout == Some(Duration::ZERO) {
        diags.push(yaml::at(
            path,
            at,
            format!("agent `{name}`: timeout must be more than zero"),
        ));
    }
}

/// Every name in the effective `sandbox.env` is an environment variable name.
fn check_sandbox_env(
    path: &Path,
    name: &Spanned<String>,
    sandbox: Option<&Sandbox>,
    diags: &mut Vec<Diagnostic>,
) {
    for var in sandbox.iter().flat_map(|s| s.env.iter().flatten()) {
        if var.is_empty() || var.contains('=') || var.contains('\0') {
            diags.push(yaml::at(
                path,
                name.referenced,
                format!(
                    "agent `{}`: sandbox.env: `{var}` is not an environment variable name",
                    name.value
                ),
            ));
        }
    }
}

/// The agent's validated `gateway:`; `{gateway_url}` in its argv or `env:` needs one.
fn checked_gateway(
    path: &Path,
    name: &str,
    spec: Option<GatewaySpec>,
    command: &Spanned<Vec<String>>,
    env: &BTreeMap<String, String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Gateway> {
    let declared = spec.is_some();
    let gateway = spec.and_then(|g| gateway(name, g, &mut |l, m| diags.push(yaml::at(path, l, m))));
    if !declared && uses_gateway_url(&command.value, env) {
        diags.push(yaml::at(
            path,
            command.referenced,
            format!("agent `{name}`: {{gateway_url}} is only known to agents with `gateway:`"),
        ));
    }
    gateway
}

/// The config file's directory, absolute, for `{config_dir}`.
fn config_dir(path: &Path) -> Result<PathBuf, Vec<Diagnostic>> {
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
    std::fs::canonicalize(dir).map_err(|e| {
        vec![Diagnostic::new(
            path,
            format!("cannot resolve its directory: {e}"),
        )]
    })
}

/// Add `agent` unless a cell of a matrix (or another agent) already took its id.
fn insert_agent(
    agents: &mut BTreeMap<String, Agent>,
    agent: Agent,
    at: Location,
    path: &Path,
    diags: &mut Vec<Diagnostic>,
) {
    if let Some(other) = agents.get(&agent.name) {
        let whose = |a: &Agent| match &a.declared {
            Some(d) => format!("a cell of `{d}`'s matrix"),
            None => "an agent".to_string(),
        };
        diags.push(yaml::at(
            path,
            at,
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
    diag: &mut dyn FnMut(Location, String),
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
