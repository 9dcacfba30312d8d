//! The plan: benchmarks x agents x attempts, narrowed by filters, split into shards.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use globset::{Glob, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use crate::digest::sha256_fields;
use crate::error::{Classify, Kind, Result};
use crate::spec::{Benchmark, Suite, SuitePaths};

/// `reev list`: the plan of this selection, as TSV or (`json`) JSON.
#[derive(Debug)]
pub struct ListOptions {
    pub suite: SuitePaths,
    pub selection: Selection,
    pub json: bool,
}

/// What the user asked to run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Selection {
    pub agents: Vec<String>,
    pub tags: Vec<String>,
    pub filters: Vec<String>,
    pub attempts: u32,
    pub shard: Option<Shard>,
}

/// Shard K of N, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// A `--shard` (or a manifest's shard) that is not K/N with 1 <= K <= N.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a shard: write K/N with 1 <= K <= N, e.g. 2/4")]
pub struct BadShard(pub String);

impl FromStr for Shard {
    type Err = BadShard;
    fn from_str(s: &str) -> std::result::Result<Self, BadShard> {
        let err = || BadShard(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(err)?;
        let index: u32 = k.trim().parse().map_err(|_| err())?;
        let count: u32 = n.trim().parse().map_err(|_| err())?;
        if index == 0 || count == 0 || index > count {
            return Err(err());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Serialize for Shard {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Shard {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One planned session. Its id is stable: derived from run, benchmark, agent and attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub session_id: String,
    pub benchmark_id: String,
    pub benchmark_sha256: String,
    pub agent: String,
    pub attempt: u32,
}

/// The stable id of a session.
pub fn session_id(run_id: &str, benchmark_id: &str, agent: &str, attempt: u32) -> String {
    let full = sha256_fields(&[
        "reev-session/1",
        run_id,
        benchmark_id,
        agent,
        &attempt.to_string(),
    ]);
    full[..24].to_string()
}

/// The id of try `k` of a planned session: the planned id itself for the first try, so
/// files from before retries keep their ids; a distinct stable id for every later try.
pub fn try_session_id(session_id: &str, k: u32) -> String {
    if k <= 1 {
        return session_id.to_string();
    }
    sha256_fields(&["reev-session-try/1", session_id, &k.to_string()])[..24].to_string()
}

/// Why a selection plans nothing: each is an input error (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("unknown agent `{name}`: {} defines {}", .config.display(), .known.join(", "))]
    UnknownAgent {
        name: String,
        config: PathBuf,
        known: Vec<String>,
    },
    #[error("--filter `{glob}`: {source}")]
    Filter {
        glob: String,
        #[source]
        source: globset::Error,
    },
    #[error("--filter: {0}")]
    Filters(#[source] globset::Error),
    #[error(
        "no benchmark matches the selection (tags: [{}], filters: [{}]) among {total} benchmarks",
        .tags.join(", "),
        .filters.join(", ")
    )]
    NoMatch {
        tags: Vec<String>,
        filters: Vec<String>,
        total: usize,
    },
}

impl Classify for PlanError {
    fn kind(&self) -> Kind {
        Kind::Input
    }
}

/// Build the plan for `run_id`. Errors on an unknown agent, a bad glob, or an empty selection.
pub fn plan(suite: &Suite, sel: &Selection, run_id: &str) -> Result<Vec<Task>> {
    let agents = selected_agents(suite, &sel.agents)?;
    let benchmarks = selected_benchmarks(suite, sel)?;
    let mut tasks = Vec::new();
    for b in &benchmarks {
        for agent in &agents {
            for attempt in 1..=sel.attempts.max(1) {
                tasks.push(Task {
                    session_id: session_id(run_id, &b.id, agent, attempt),
                    benchmark_id: b.id.clone(),
                    benchmark_sha256: b.sha256.clone(),
                    agent: agent.to_string(),
                    attempt,
                });
            }
        }
    }
    Ok(match sel.shard {
        Some(shard) => shard_of(tasks, shard),
        None => tasks,
    })
}

/// The agents `--agent` names, in the order named (every agent when none is): a `matrix:`
/// agent's declared name selects all its cells.
fn selected_agents<'a>(suite: &'a Suite, wanted: &'a [String]) -> Result<Vec<&'a str>, PlanError> {
    if wanted.is_empty() {
        return Ok(suite.config.agents.keys().map(String::as_str).collect());
    }
    let mut names = Vec::new();
    for name in wanted {
        // A `matrix:` agent's declared name selects every cell of its sweep.
        let cells: Vec<&str> = suite
            .config
            .agents
            .values()
            .filter(|a| a.declared.as_deref() == Some(name.as_str()))
            .map(|a| a.name.as_str())
            .collect();
        if !cells.is_empty() && suite.agent(name).is_none() {
            for c in cells {
                if !names.contains(&c) {
                    names.push(c);
                }
            }
            continue;
        }
        if suite.agent(name).is_none() {
            return Err(PlanError::UnknownAgent {
                name: name.clone(),
                config: suite.config.path.clone(),
                known: suite.config.agents.keys().cloned().collect(),
            });
        }
        if !names.contains(&name.as_str()) {
            names.push(name.as_str());
        }
    }
    Ok(names)
}

/// The benchmarks with one of the `--tag`s and matching one of the `--filter` globs (every
/// benchmark when neither is given); none is an error.
fn selected_benchmarks<'a>(
    suite: &'a Suite,
    sel: &Selection,
) -> Result<Vec<&'a Benchmark>, PlanError> {
    let mut globs = GlobSetBuilder::new();
    for f in &sel.filters {
        let glob = Glob::new(f).map_err(|source| PlanError::Filter {
            glob: f.clone(),
            source,
        })?;
        globs.add(glob);
    }
    let globs = globs.build().map_err(PlanError::Filters)?;
    let benchmarks: Vec<&Benchmark> = suite
        .benchmarks
        .iter()
        .filter(|b| sel.tags.is_empty() || b.tags.iter().any(|t| sel.tags.contains(t)))
        .filter(|b| sel.filters.is_empty() || globs.is_match(&b.id))
        .collect();
    if benchmarks.is_empty() {
        return Err(PlanError::NoMatch {
            tags: sel.tags.clone(),
            filters: sel.filters.clone(),
            total: suite.benchmarks.len(),
        });
    }
    Ok(benchmarks)
}

/// Keep shard K of N: tasks are ordered by a digest of (benchmark, agent, attempt) — the same on
/// every machine, whatever the run id — and dealt round-robin, so shards are balanced and disjoint.
pub fn shard_of(tasks: Vec<Task>, shard: Shard) -> Vec<Task> {
    let mut keyed: Vec<(String, Task)> = tasks
        .into_iter()
        .map(|t| {
            let key = sha256_fields(&[
                "reev-shard/1",
                &t.benchmark_id,
                &t.agent,
                &t.attempt.to_string(),
            ]);
            (key, t)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut kept: Vec<Task> = keyed
        .into_iter()
        .enumerate()
        .filter(|(i, _)| (*i as u32) % shard.count == shard.index - 1)
        .map(|(_, (_, t))| t)
        .collect();
    kept.sort_by(|a, b| {
        (&a.benchmark_id, &a.agent, a.attempt).cmp(&(&b.benchmark_id, &b.agent, b.attempt))
    });
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_parsing() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!(
            "4/3".parse::<Shard>().unwrap_err().to_string(),
            "`4/3` is not a shard: write K/N with 1 <= K <= N, e.g. 2/4"
        );
    }

    #[test]
    fn session_ids_are_stable_and_distinct() {
        assert_eq!(session_id("r", "b", "a", 1), session_id("r", "b", "a", 1));
        assert_ne!(session_id("r", "b", "a", 1), session_id("r", "b", "a", 2));
        assert_ne!(
            session_id("r", "b.a", "x", 1),
            session_id("r", "b", "a.x", 1)
        );
    }
}
