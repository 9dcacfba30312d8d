//! A session's place on the run's listener (`crate::listener`): registering it (its OTLP
//! collector, and for an agent with `gateway:` its model gateway, live or replayed), and
//! when the agent is done, what its model calls mean for the session file: tokens and cost
//! from the gateway, `error` on an infrastructure failure, and the cassette to write.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::Context;
use crate::gateway::{self, record, GatewayRecord, Mode, Recording};
use crate::listener;
use crate::plan::Task;
use crate::session::{SessionFile, Status};
use crate::spec::{sandbox::Network, Agent};

/// Why a session could not be registered or its model calls settled: the session's error.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error(transparent)]
    Listener(#[from] listener::ListenerError),
    #[error("replay of run {run}: it has no cassette for {benchmark} / {agent} #{attempt} try {try_number}")]
    NoCassette {
        run: String,
        benchmark: String,
        agent: String,
        attempt: u32,
        try_number: u32,
    },
    #[error("gateway.api_key_env: the environment variable {var} is not set (reev sends its value upstream)")]
    KeyNotSet { var: String },
    #[error("cannot encode the cassette: {0}")]
    Encode(#[source] serde_json::Error),
}

/// Register the session on the run's listener.
pub fn register(
    ctx: &Context,
    task: &Task,
    agent: &Agent,
    try_number: u32,
) -> Result<listener::Handle, ModelsError> {
    let l = listener::get()?;
    if agent
        .sandbox
        .as_ref()
        .is_some_and(|s| s.network == Network::None)
    {
        // As root the agent joins this worker's empty network namespace: the listener's port
        // is bound there too. Unprivileged, the agent gets a namespace of its own that nothing
        // can be bound in beforehand (see the README's "Model gateway").
        if let Some(netns) = crate::sandbox::netns::for_this_worker() {
            l.serve_in(netns)?;
        }
    }
    let gateway = match &agent.gateway {
        None => None,
        Some(g) => Some(gateway::Session::new(mode(ctx, task, g, try_number)?)),
    };
    Ok(l.register(listener::Registration {
        session_id: task.session_id.clone(),
        gateway,
    })?)
}

fn mode(
    ctx: &Context,
    task: &Task,
    g: &crate::spec::agent::Gateway,
    try_number: u32,
) -> Result<Mode, ModelsError> {
    if let Some(source) = ctx.replay {
        let key = (
            task.agent.clone(),
            task.benchmark_id.clone(),
            task.attempt,
            try_number,
        );
        let Some(c) = source.cassette(&key) else {
            return Err(ModelsError::NoCassette {
                run: source.run_id.clone(),
                benchmark: task.benchmark_id.clone(),
                agent: task.agent.clone(),
                attempt: task.attempt,
                try_number,
            });
        };
        return Ok(Mode::Replay {
            from_run: source.run_id.clone(),
            upstream: c.upstream.clone(),
            calls: c.calls.clone(),
        });
    }
    let key = match &g.api_key_env {
        None => None,
        Some(var) => {
            Some(std::env::var(var).map_err(|_| ModelsError::KeyNotSet { var: var.clone() })?)
        }
    };
    Ok(Mode::Live {
        upstream: g.upstream.clone(),
        key,
    })
}

/// Where a session's cassette is, relative to the run directory.
pub fn cassette_path(task: &Task, try_number: u32) -> PathBuf {
    Path::new("cassettes")
        .join(&task.agent)
        .join(crate::session::try_file_name(
            &format!("{}@{}", task.benchmark_id, task.attempt),
            try_number,
        ))
}

/// Fold the gateway's recording into the session file; returns the cassette's bytes, to be
/// written (before the session file, which holds their digest) at `rel` in the run directory.
pub fn settle(
    file: &mut SessionFile,
    rec: Recording,
    rel: &Path,
    prices: &crate::spec::prices::Prices,
) -> Result<Vec<u8>, ModelsError> {
    let usage = rec.usage();
    let (input, output) = usage
        .values()
        .fold((0, 0), |(i, o), t| (i + t.input, o + t.output));
    let cassette = record::Cassette {
        format: record::CassetteFormat::V1,
        session_id: file.session_id.clone(),
        upstream: rec.upstream.clone(),
        replayed_from: rec.replayed_from.clone(),
        calls: rec.calls,
    };
    let bytes = serde_json::to_vec_pretty(&cassette).map_err(ModelsError::Encode)?;
    let (events_in, events_out) = (file.input_tokens, file.output_tokens);
    // The agent's `model_request` events, when it wrote any, counted these tokens.
    let disagree = events_in.is_some() && (events_in != Some(input) || events_out != Some(output));
    if !usage.is_empty() {
        // The gateway saw every call: its count prices the session, over what the agent says.
        file.input_tokens = Some(input);
        file.output_tokens = Some(output);
        file.cost_usd = match rec.replayed_from {
            Some(_) => Some(0.0),
            None => prices.cost(&usage),
        };
        if disagree {
            tracing::warn!(
                session = %file.session_id,
                "the agent's model_request events count {}/{} tokens, the gateway {input}/{output}: the gateway's count is recorded",
                events_in.unwrap_or(0),
                events_out.unwrap_or(0)
            );
        }
    } else if rec.replayed_from.is_some() && file.cost_usd.is_some() {
        file.cost_usd = Some(0.0);
    }
    if let Some(why) = cassette.calls.iter().find_map(|c| c.error.as_deref()) {
        file.status = Status::Error;
        file.error = Some(why.to_string());
    }
    file.gateway = Some(GatewayRecord {
        cassette: rel.to_string_lossy().into_owned(),
        cassette_sha256: record::hex(&Sha256::digest(&bytes)),
        upstream: cassette.upstream.clone(),
        replayed_from: cassette.replayed_from.clone(),
        input_tokens: input,
        output_tokens: output,
        events_input_tokens: events_in.filter(|_| disagree),
        events_output_tokens: events_out.filter(|_| disagree),
        calls: cassette.calls.iter().map(Into::into).collect(),
    });
    Ok(bytes)
}
