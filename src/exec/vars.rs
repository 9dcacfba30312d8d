//! What every process of a session is given: the placeholder values (`{workdir}`, `{port}`,
//! ...) for argv and the agent's `env:`, and the environment (`REEV_*` and the rest).

use super::{Context, MAX_ENV_PROMPT};
use crate::plan::Task;
use crate::spec::{placeholders, Agent, Benchmark};

/// The placeholder values of one session (agent argv, its `env:`, setup and teardown argv).
pub struct Vars {
    pub attempt: String,
    pub scratch: String,
    pub events: String,
    pub config_dir: String,
    pub port: String,
    /// The benchmark file's directory (`{benchmark_dir}`).
    pub benchmark_dir: String,
    /// The session's model gateway (`{gateway_url}`), empty without `gateway:`.
    pub gateway_url: String,
}

impl Vars {
    pub fn values<'a>(&'a self, task: &'a Task, bench: &'a Benchmark) -> [(&'a str, &'a str); 11] {
        [
            ("prompt", bench.prompt.as_str()),
            ("config_dir", self.config_dir.as_str()),
            ("workdir", self.scratch.as_str()),
            ("events", self.events.as_str()),
            ("session_id", task.session_id.as_str()),
            ("benchmark_id", task.benchmark_id.as_str()),
            ("attempt", self.attempt.as_str()),
            ("agent", task.agent.as_str()),
            ("port", self.port.as_str()),
            ("benchmark_dir", self.benchmark_dir.as_str()),
            ("gateway_url", self.gateway_url.as_str()),
        ]
    }

    /// The values of the agent's argv and `env:`: reev's own, then the agent's `matrix:`
    /// values (`{model}`), which validation keeps from shadowing reev's.
    pub fn agent_values<'a>(
        &'a self,
        task: &'a Task,
        bench: &'a Benchmark,
        agent: &'a Agent,
    ) -> Vec<(&'a str, &'a str)> {
        let mut v = self.values(task, bench).to_vec();
        v.extend(agent.matrix.iter().map(|(k, x)| (k.as_str(), x.as_str())));
        v
    }
}

/// The environment of every process of the session: the sandbox's, the agent's `env:`, `REEV_*`.
pub fn environment(
    ctx: &Context,
    task: &Task,
    bench: &Benchmark,
    agent: &Agent,
    vars: &Vars,
    base: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let values = vars.agent_values(task, bench, agent);
    let mut env = base;
    env.extend(
        agent
            .env
            .iter()
            .map(|(k, v)| (k.clone(), placeholders::expand(v, &values))),
    );
    for (k, v) in [
        ("REEV_SESSION_ID", task.session_id.as_str()),
        ("REEV_RUN_ID", ctx.run_id),
        ("REEV_BENCHMARK_ID", task.benchmark_id.as_str()),
        ("REEV_AGENT", task.agent.as_str()),
        ("REEV_ATTEMPT", vars.attempt.as_str()),
        ("REEV_EVENTS", vars.events.as_str()),
        ("REEV_WORKDIR", vars.scratch.as_str()),
        ("REEV_PORT", vars.port.as_str()),
        ("REEV_BENCHMARK_DIR", vars.benchmark_dir.as_str()),
    ] {
        env.push((k.to_string(), v.to_string()));
    }
    for (k, v) in &agent.matrix {
        env.push((crate::spec::matrix::variable(k), v.clone()));
    }
    // The kernel refuses any single environment string over 128 KiB (MAX_ARG_STRLEN): a longer
    // prompt arrives on stdin (and in argv placeholders, if the agent asks) but not here.
    if bench.prompt.len() <= MAX_ENV_PROMPT {
        env.push(("REEV_PROMPT".to_string(), bench.prompt.clone()));
    }
    env
}

/// An argv template with its placeholders replaced.
pub fn expand_all(template: &[String], values: &[(&str, &str)]) -> Vec<String> {
    template
        .iter()
        .map(|a| placeholders::expand(a, values))
        .collect()
}
