//! What `reev compare` reads from the database: the two sides named on the command line and
//! their sessions.

use serde::Serialize;

use super::data::{Baseline, Ctx};
use crate::error::{Error, Result};
use crate::session::Status;
use crate::store::schema::RUN_NO;

/// One side of a comparison: a run, and the agent when one is named.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Side {
    pub run_id: String,
    pub agent: Option<String>,
}

impl Side {
    /// `run` or `run/agent`, as the reports name it.
    pub fn label(&self) -> String {
        match &self.agent {
            Some(a) => format!("{}/{a}", self.run_id),
            None => self.run_id.clone(),
        }
    }
}

/// One session as the comparison reads it.
#[derive(Debug, Clone)]
pub struct Row {
    pub agent: String,
    pub benchmark_id: String,
    pub session_id: String,
    pub status: Status,
    /// NULL for an `error` session (not judged).
    pub score: Option<f64>,
    pub duration_ms: f64,
    pub tokens: Option<f64>,
    pub cost: Option<f64>,
}

/// The two sides from the command line: `A B`, `A B --agent X`, `A --agent X --agent Y`,
/// `A B --agent X --agent Y`. `previous` as A is the run before B.
pub fn sides(ctx: &Ctx, runs: &[String], agents: &[String]) -> Result<(Side, Side)> {
    let (run_a, run_b) = match runs {
        [a] => {
            let a = ctx.resolve_run(a)?;
            (a.clone(), a)
        }
        [a, b] => {
            let b = ctx.resolve_run(b)?;
            let earlier = match Baseline::parse(a) {
                Baseline::Previous => ctx.previous(&b)?,
                Baseline::None => None,
                // `passed` names a run here, as any other id.
                Baseline::Passed | Baseline::Run(_) => Some(ctx.resolve_run(a)?),
            };
            let a = match earlier {
                Some(a) => a,
                None => {
                    return Err(Error::input(format!(
                        "no run `{a}` to compare with run {b}"
                    )))
                }
            };
            (a, b)
        }
        _ => return Err(Error::input("compare takes one run id or two")),
    };
    let (agent_a, agent_b) = match agents {
        [] => (None, None),
        [x] => (Some(x.clone()), Some(x.clone())),
        [x, y] => (Some(x.clone()), Some(y.clone())),
        _ => return Err(Error::input("--agent is given once or twice")),
    };
    if run_a == run_b && (agent_a.is_none() || agent_a == agent_b) {
        return Err(Error::input(format!(
            "both sides are run {run_a}{}: give two runs, or two agents with --agent X --agent Y",
            agent_a.map(|a| format!(" agent {a}")).unwrap_or_default()
        )));
    }
    Ok((
        Side {
            run_id: run_a,
            agent: agent_a,
        },
        Side {
            run_id: run_b,
            agent: agent_b,
        },
    ))
}

pub fn rows(conn: &duckdb::Connection, side: &Side) -> Result<Vec<Row>> {
    let err = |e: duckdb::Error| {
        Error::env(format!(
            "compare: reading the sessions of {} failed: {e}",
            side.label()
        ))
    };
    let mut st = conn
        .prepare(&format!(
            "SELECT agent, benchmark_id, session_id, status, score, duration_ms::DOUBLE,
                    (input_tokens::DOUBLE + output_tokens::DOUBLE), cost_usd
             FROM current_sessions WHERE run_no = {RUN_NO} AND (CAST(? AS VARCHAR) IS NULL OR agent = ?)
             ORDER BY agent, benchmark_id, attempt",
        ))
        .map_err(err)?;
    let agent = side.agent.as_deref();
    let rows = st
        .query_map(duckdb::params![side.run_id, agent, agent], |r| {
            Ok(Row {
                agent: r.get(0)?,
                benchmark_id: r.get(1)?,
                session_id: r.get(2)?,
                status: super::column::status(r, 3)?,
                score: r.get(4)?,
                duration_ms: r.get(5)?,
                tokens: r.get(6)?,
                cost: r.get(7)?,
            })
        })
        .map_err(err)?;
    let rows: Vec<Row> = rows.collect::<std::result::Result<_, _>>().map_err(err)?;
    if rows.is_empty() {
        return Err(Error::input(format!(
            "{} has no sessions in the database",
            side.label()
        )));
    }
    Ok(rows)
}
