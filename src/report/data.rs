//! Gathering a report from the database: aggregate in DuckDB, compute statistics in Rust.

use std::collections::BTreeMap;

use duckdb::{params, Connection};

use super::model::*;
use super::regress::{self, Replay, RunAgent};
use crate::error::{Error, Result};
use crate::stats;

/// Runs considered for trends, flakiness and the gate's history.
const HISTORY: i64 = 10;
/// Runs before the reported one over which the gate's false alarms are replayed.
const REPLAY: i64 = 20;

pub struct Ctx<'a> {
    pub conn: &'a Connection,
}

impl Ctx<'_> {
    fn err(&self, what: &str) -> impl Fn(duckdb::Error) -> Error + '_ {
        let what = what.to_string();
        move |e| Error::env(format!("report query `{what}` failed: {e}"))
    }

    /// `latest`, or a run id that must exist.
    pub fn resolve_run(&self, run: &str) -> Result<String> {
        if run == "latest" {
            return self
                .conn
                .query_row(
                    "SELECT run_id FROM current_sessions GROUP BY run_id ORDER BY max(started_at) DESC, run_id DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .map_err(|_| Error::input("the database holds no sessions; run `reev run` and `reev load` first"));
        }
        let n: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM current_sessions WHERE run_id = ?",
                [run],
                |r| r.get(0),
            )
            .map_err(self.err("find run"))?;
        if n == 0 {
            return Err(Error::input(format!(
                "run `{run}` has no sessions in the database"
            )));
        }
        Ok(run.to_string())
    }

    /// `previous` (the run before `run`), `none`, or a run id that must exist.
    pub fn resolve_baseline(&self, baseline: &str, run: &str) -> Result<Option<String>> {
        match baseline {
            "none" => Ok(None),
            "previous" => {
                let found = self.conn.query_row(
                    &format!(
                        "WITH r AS (SELECT run_id, max(started_at) AS t FROM current_sessions GROUP BY run_id)
                         SELECT run_id FROM r WHERE t < (SELECT t FROM r WHERE run_id = ?) AND {SAME_KIND}
                         ORDER BY t DESC, run_id DESC LIMIT 1"
                    ),
                    [run, run],
                    |r| r.get::<_, String>(0),
                );
                Ok(found.ok())
            }
            other => self.resolve_run(other).map(Some),
        }
    }

    /// The run whose recorded model answers `run` replayed (`reev run --replay`); `None`
    /// for a live run.
    pub fn replayed_from(&self, run: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT any_value(replayed_from) FROM model_calls WHERE run_id = ? AND replayed",
                [run],
                |r| r.get::<_, Option<String>>(0),
            )
            .map_err(self.err("replayed runs"))
    }

    pub fn agents(&self, run: &str) -> Result<Vec<AgentSummary>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT agent, count(*),
                        count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
                        count(*) FILTER (WHERE status = 'timed_out'), count(*) FILTER (WHERE status = 'error'),
                        avg(score), coalesce(stddev_samp(score), 0),
                        quantile_cont(duration_ms, 0.5), quantile_cont(duration_ms, 0.95), quantile_cont(duration_ms, 0.99),
                        avg(cpu_user_ms + cpu_system_ms), max(peak_rss_bytes), avg(peak_rss_bytes),
                        avg(input_tokens + output_tokens)::DOUBLE, avg(cost_usd), sum(cost_usd), count(cost_usd)
                 FROM current_sessions WHERE run_id = ? GROUP BY agent ORDER BY agent",
            )
            .map_err(self.err("agents"))?;
        let rows = st
            .query_map([run], |r| {
                let n: i64 = r.get(1)?;
                let ok: i64 = r.get(2)?;
                let errors: i64 = r.get(5)?;
                let mean: f64 = r.get(6)?;
                let sd: f64 = r.get(7)?;
                // `error` sessions were not judged: success is counted among the others.
                let judged = n - errors;
                let (wl, wh) = stats::wilson(ok as u64, judged as u64, 0.05);
                let (ml, mh) = stats::t_interval(mean, sd, n as u64, 0.05);
                Ok(AgentSummary {
                    agent: r.get(0)?,
                    sessions: n as u64,
                    succeeded: ok as u64,
                    failed: r.get::<_, i64>(3)? as u64,
                    timed_out: r.get::<_, i64>(4)? as u64,
                    errors: errors as u64,
                    success_rate: ok as f64 / judged.max(1) as f64,
                    error_rate: errors as f64 / n.max(1) as f64,
                    success_rate_ci: [wl, wh],
                    mean_score: mean,
                    mean_score_ci: [ml.max(0.0), mh.min(1.0)],
                    p50_duration_ms: r.get(8)?,
                    p95_duration_ms: r.get(9)?,
                    p99_duration_ms: r.get(10)?,
                    mean_cpu_ms: r.get(11)?,
                    max_peak_rss_bytes: r.get::<_, i64>(12)? as u64,
                    mean_peak_rss_bytes: r.get(13)?,
                    tokens_per_session: r.get(14)?,
                    cost_per_session: r.get(15)?,
                    cost_per_success: r
                        .get::<_, Option<f64>>(16)?
                        .filter(|_| ok > 0)
                        .map(|total| total / ok as f64),
                    priced_sessions: r.get::<_, i64>(17)? as u64,
                    k: 1,
                    pass_at_1: 0.0,
                    pass_at_k: 0.0,
                    pass_hat_k: 0.0,
                })
            })
            .map_err(self.err("agents"))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(self.err("agents"))
    }

    /// The benchmark x agent matrix of the run; also fills pass@k into `agents`.
    pub fn matrix(&self, run: &str, agents: &mut [AgentSummary]) -> Result<Vec<MatrixCell>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT benchmark_id, agent, count(*), count(*) FILTER (WHERE status = 'succeeded'), avg(score),
                        arg_max(status, attempt)
                 FROM current_sessions WHERE run_id = ? GROUP BY benchmark_id, agent ORDER BY benchmark_id, agent",
            )
            .map_err(self.err("matrix"))?;
        let cells = st
            .query_map([run], |r| {
                Ok(MatrixCell {
                    benchmark_id: r.get(0)?,
                    agent: r.get(1)?,
                    attempts: r.get::<_, i64>(2)? as u64,
                    succeeded: r.get::<_, i64>(3)? as u64,
                    mean_score: r.get(4)?,
                    latest_status: r.get(5)?,
                })
            })
            .map_err(self.err("matrix"))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(self.err("matrix"))?;
        for a in agents.iter_mut() {
            let mine: Vec<&MatrixCell> = cells.iter().filter(|c| c.agent == a.agent).collect();
            let k = mine.iter().map(|c| c.attempts).min().unwrap_or(1).max(1);
            let avg = |f: &dyn Fn(&MatrixCell) -> Option<f64>| {
                let v: Vec<f64> = mine.iter().filter_map(|c| f(c)).collect();
                if v.is_empty() {
                    0.0
                } else {
                    v.iter().sum::<f64>() / v.len() as f64
                }
            };
            a.k = k;
            a.pass_at_1 = avg(&|c| stats::pass_at_k(c.attempts, c.succeeded, 1));
            a.pass_at_k = avg(&|c| stats::pass_at_k(c.attempts, c.succeeded, k));
            a.pass_hat_k = avg(&|c| stats::pass_hat_k(c.attempts, c.succeeded, k));
        }
        Ok(cells)
    }

    /// The last HISTORY runs up to and including `run`, oldest first.
    fn history(&self, run: &str) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare(
                "WITH r AS (SELECT run_id, max(started_at) AS t FROM current_sessions GROUP BY run_id)
                 SELECT run_id FROM r WHERE t <= (SELECT t FROM r WHERE run_id = ?) ORDER BY t DESC, run_id DESC LIMIT ?",
            )
            .map_err(self.err("history"))?;
        let mut runs: Vec<String> = st
            .query_map(params![run, HISTORY], |r| r.get(0))
            .map_err(self.err("history"))?
            .collect::<std::result::Result<_, _>>()
            .map_err(self.err("history"))?;
        runs.reverse();
        Ok(runs)
    }

    pub fn descriptions(&self, run: &str) -> Result<BTreeMap<String, String>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT DISTINCT b.benchmark_id, b.description FROM benchmarks b
                 JOIN current_sessions s ON s.benchmark_id = b.benchmark_id AND s.benchmark_sha256 = b.sha256
                 WHERE s.run_id = ? ORDER BY 1",
            )
            .map_err(self.err("descriptions"))?;
        let rows = st
            .query_map([run], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                ))
            })
            .map_err(self.err("descriptions"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(self.err("descriptions"))
    }

    pub fn flaky(&self, run: &str) -> Result<Vec<Flaky>> {
        let runs = self.history(run)?;
        let list = sql_list(&runs);
        let mut st = self
            .conn
            .prepare(&format!(
                "WITH cur AS (SELECT DISTINCT benchmark_id, agent FROM current_sessions WHERE run_id = ?)
                 SELECT benchmark_id, agent, count(*) FILTER (WHERE s.status = 'succeeded'), count(*), count(DISTINCT s.run_id)
                 FROM current_sessions s JOIN cur USING (benchmark_id, agent)
                 WHERE s.run_id IN ({list})
                 GROUP BY benchmark_id, agent
                 HAVING count(*) FILTER (WHERE s.status = 'succeeded') BETWEEN 1 AND count(*) - 1
                 ORDER BY benchmark_id, agent"
            ))
            .map_err(self.err("flaky"))?;
        let rows = st
            .query_map([run], |r| {
                Ok(Flaky {
                    benchmark_id: r.get(0)?,
                    agent: r.get(1)?,
                    succeeded: r.get::<_, i64>(2)? as u64,
                    sessions: r.get::<_, i64>(3)? as u64,
                    runs: r.get::<_, i64>(4)? as u64,
                })
            })
            .map_err(self.err("flaky"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(self.err("flaky"))
    }

    pub fn trends(&self, run: &str) -> Result<Vec<TrendPoint>> {
        let runs = self.history(run)?;
        let list = sql_list(&runs);
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT agent, run_id, strftime(min(started_at), '%Y-%m-%d %H:%M'),
                        coalesce(avg(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END) FILTER (WHERE status <> 'error'), 0),
                        quantile_cont(duration_ms, 0.95)
                 FROM current_sessions WHERE run_id IN ({list}) GROUP BY agent, run_id ORDER BY agent, min(started_at), run_id"
            ))
            .map_err(self.err("trends"))?;
        let rows = st
            .query_map([], |r| {
                Ok(TrendPoint {
                    agent: r.get(0)?,
                    run_id: r.get(1)?,
                    started_at: r.get(2)?,
                    success_rate: r.get(3)?,
                    p95_duration_ms: r.get(4)?,
                })
            })
            .map_err(self.err("trends"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(self.err("trends"))
    }

    pub fn histograms(&self, run: &str) -> Result<Vec<Histogram>> {
        const BINS: i64 = 20;
        let width: f64 = self
            .conn
            .query_row(
                "SELECT greatest(1, max(duration_ms)) / ? FROM current_sessions WHERE run_id = ?",
                params![BINS as f64, run],
                |r| r.get(0),
            )
            .map_err(self.err("histogram"))?;
        let mut st = self
            .conn
            .prepare(
                "SELECT agent, least(CAST(floor(duration_ms / ?) AS BIGINT), ? - 1) AS bin, count(*)
                 FROM current_sessions WHERE run_id = ? GROUP BY ALL ORDER BY ALL",
            )
            .map_err(self.err("histogram"))?;
        let mut by_agent: BTreeMap<String, Vec<(f64, u64)>> = BTreeMap::new();
        let rows = st
            .query_map(params![width, BINS, run], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(self.err("histogram"))?;
        for row in rows {
            let (agent, bin, count) = row.map_err(self.err("histogram"))?;
            let bins = by_agent
                .entry(agent)
                .or_insert_with(|| (1..=BINS).map(|i| (i as f64 * width, 0)).collect());
            if let Some(b) = bins.get_mut(bin.clamp(0, BINS - 1) as usize) {
                b.1 = count as u64;
            }
        }
        Ok(by_agent
            .into_iter()
            .map(|(agent, bins)| Histogram { agent, bins })
            .collect())
    }

    /// Every session of the run, with its failing assertions, by agent, benchmark, attempt.
    /// Failures and the slowest sessions are derived from this one list.
    pub fn sessions(&self, run: &str) -> Result<Vec<SessionBrief>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT s.session_id, s.benchmark_id, s.agent, s.attempt, s.status, s.score, s.duration_ms,
                        s.error, right(coalesce(s.stdout, ''), 2000),
                        a.type, a.name, CAST(a.expected AS VARCHAR), CAST(a.actual AS VARCHAR), a.message
                 FROM current_sessions s LEFT JOIN assertions a ON a.session_id = s.session_id AND NOT a.passed
                 WHERE s.run_id = ?
                 ORDER BY s.agent, s.benchmark_id, s.attempt, s.session_id, a.idx",
            )
            .map_err(self.err("sessions"))?;
        let mut out: Vec<SessionBrief> = Vec::new();
        let rows = st
            .query_map([run], |r| {
                let brief = SessionBrief {
                    session_id: r.get(0)?,
                    benchmark_id: r.get(1)?,
                    agent: r.get(2)?,
                    attempt: r.get::<_, i64>(3)? as u64,
                    status: r.get(4)?,
                    score: r.get(5)?,
                    duration_ms: r.get::<_, i64>(6)? as u64,
                    error: r.get(7)?,
                    stdout_tail: r.get(8)?,
                    failing: Vec::new(),
                    trace: Vec::new(),
                };
                let failed = match r.get::<_, Option<String>>(9)? {
                    Some(kind) => Some(FailedAssertion {
                        kind,
                        name: r.get(10)?,
                        expected: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
                        actual: r.get::<_, Option<String>>(12)?.unwrap_or_default(),
                        message: r.get::<_, Option<String>>(13)?.unwrap_or_default(),
                    }),
                    None => None,
                };
                Ok((brief, failed))
            })
            .map_err(self.err("sessions"))?;
        for row in rows {
            let (brief, failed) = row.map_err(self.err("sessions"))?;
            if out.last().is_none_or(|l| l.session_id != brief.session_id) {
                out.push(brief);
            }
            if let (Some(f), Some(last)) = (failed, out.last_mut()) {
                last.failing.push(f);
            }
        }
        Ok(out)
    }

    /// Complete runs that started before `run`, at most `limit`, oldest first. A run is
    /// complete when it holds as many sessions as its manifests planned (or has no manifest).
    fn runs_before(&self, run: &str, limit: i64) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare(&format!(
                "WITH r AS (SELECT run_id, max(started_at) AS t, count(*) AS n FROM current_sessions GROUP BY run_id),
                      p AS (SELECT run_id, sum(planned_sessions) AS planned FROM runs GROUP BY run_id)
                 SELECT r.run_id FROM r LEFT JOIN p USING (run_id)
                 WHERE r.t < (SELECT t FROM r WHERE run_id = ?) AND (p.planned IS NULL OR r.n >= p.planned)
                   AND {SAME_KIND}
                 ORDER BY r.t DESC, r.run_id DESC LIMIT ?",
            ))
            .map_err(self.err("runs before"))?;
        let mut runs: Vec<String> = st
            .query_map(params![run, run, limit], |r| r.get(0))
            .map_err(self.err("runs before"))?
            .collect::<std::result::Result<_, _>>()
            .map_err(self.err("runs before"))?;
        runs.reverse();
        Ok(runs)
    }

    /// What the gate needs of each (run, agent) among `runs`.
    fn run_agents(&self, runs: &[String]) -> Result<BTreeMap<(String, String), RunAgent>> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT run_id, agent, benchmark_id, count(*), count(*) FILTER (WHERE status = 'succeeded'),
                        list(duration_ms::DOUBLE), list((cpu_user_ms + cpu_system_ms)::DOUBLE),
                        coalesce(sum(psi_cpu_some_ms), 0)::DOUBLE, coalesce(sum(psi_memory_some_ms), 0)::DOUBLE,
                        coalesce(sum(duration_ms) FILTER (WHERE psi_cpu_some_ms IS NOT NULL), 0)::DOUBLE,
                        list(cost_usd)
                 FROM current_sessions WHERE run_id IN ({}) AND status <> 'error' GROUP BY ALL ORDER BY ALL",
                sql_list(runs)
            ))
            .map_err(self.err("gate samples"))?;
        let doubles = |v: duckdb::types::Value| match v {
            duckdb::types::Value::List(v) => v
                .into_iter()
                .filter_map(|x| match x {
                    duckdb::types::Value::Double(d) => Some(d),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let rows = st
            .query_map([], |r| {
                Ok((
                    (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    r.get::<_, String>(2)?,
                    (r.get::<_, i64>(3)? as u64, r.get::<_, i64>(4)? as u64),
                    doubles(r.get(5)?),
                    doubles(r.get(6)?),
                    [
                        r.get::<_, f64>(7)?,
                        r.get::<_, f64>(8)?,
                        r.get::<_, f64>(9)?,
                    ],
                    doubles(r.get(10)?),
                ))
            })
            .map_err(self.err("gate samples"))?;
        let mut out: BTreeMap<(String, String), RunAgent> = BTreeMap::new();
        let mut stall: BTreeMap<(String, String), [f64; 3]> = BTreeMap::new();
        for row in rows {
            let (key, bench, counts, wall, cpu, psi, cost) =
                row.map_err(self.err("gate samples"))?;
            let a = out.entry(key.clone()).or_insert_with(|| RunAgent {
                run_id: key.0.clone(),
                agent: key.1.clone(),
                ..Default::default()
            });
            a.benchmarks.insert(bench, counts);
            a.durations.extend(wall);
            a.cpu.extend(cpu);
            a.costs.extend(cost);
            let s = stall.entry(key).or_default();
            (0..3).for_each(|i| s[i] += psi[i]);
        }
        for (key, [cpu, mem, wall]) in stall {
            if let Some(a) = out.get_mut(&key).filter(|_| wall > 0.0) {
                a.cpu_pressure = Some(cpu / wall);
                a.memory_pressure = Some(mem / wall);
            }
        }
        Ok(out)
    }

    /// The regression gate: `run` against `baseline` and the recent history of each agent, with
    /// each check's false-alarm rate replayed over the stored runs before `run`.
    pub fn gate(&self, run: &str, baseline: &str) -> Result<Gate> {
        let before = self.runs_before(run, REPLAY)?;
        let mut all = before.clone();
        all.extend([run.to_string(), baseline.to_string()]);
        let data = self.run_agents(&all)?;
        let t = regress::Thresholds::default();
        let agents: Vec<&String> = data
            .keys()
            .filter(|(r, a)| r == run && data.contains_key(&(baseline.to_string(), a.clone())))
            .map(|(_, a)| a)
            .collect();
        let mut gate = Gate {
            history_runs: before
                .iter()
                .rev()
                .take(HISTORY as usize)
                .rev()
                .cloned()
                .collect(),
            learning: false,
            thresholds: t,
            regressions: Vec::new(),
            checks: Vec::new(),
            replay: Vec::new(),
        };
        for agent in &agents {
            let mine: Vec<&RunAgent> = before
                .iter()
                .filter_map(|r| data.get(&(r.clone(), agent.to_string())))
                .collect();
            let history = &mine[mine.len().saturating_sub(HISTORY as usize)..];
            let (Some(base), Some(cur)) = (
                data.get(&(baseline.to_string(), agent.to_string())),
                data.get(&(run.to_string(), agent.to_string())),
            ) else {
                continue;
            };
            let v = regress::judge(history, base, cur, agents.len(), &t);
            gate.learning |= v.learning;
            gate.regressions.extend(v.regressions);
            gate.checks.extend(v.checks);
            gate.replay
                .push(regress::replay(&mine, agents.len(), HISTORY as usize, &t));
        }
        Ok(gate)
    }

    /// Every agent's replay over the last `runs` stored complete runs (for `reev calibrate`).
    pub fn calibrate(&self, runs: i64) -> Result<Vec<Replay>> {
        let Ok(latest) = self.resolve_run("latest") else {
            return Ok(Vec::new());
        };
        let mut all = self.runs_before(&latest, runs - 1)?;
        all.push(latest);
        let data = self.run_agents(&all)?;
        let agents: std::collections::BTreeSet<&String> = data.keys().map(|(_, a)| a).collect();
        let t = regress::Thresholds::default();
        Ok(agents
            .iter()
            .map(|agent| {
                let mine: Vec<&RunAgent> = all
                    .iter()
                    .filter_map(|r| data.get(&(r.clone(), agent.to_string())))
                    .collect();
                regress::replay(&mine, agents.len(), HISTORY as usize, &t)
            })
            .collect())
    }
}

/// SQL: run `r.run_id`/`run_id` is of the same kind as the run bound next (`?`): both replayed
/// from cassettes or both live. The gate never takes one for the other: a replay did not
/// call the model.
const SAME_KIND: &str = "((run_id IN (SELECT run_id FROM model_calls WHERE replayed)) = (? IN (SELECT run_id FROM model_calls WHERE replayed)))";

/// The sessions that did not succeed, by benchmark, agent and attempt.
pub fn failures(sessions: &[SessionBrief]) -> Vec<Failure> {
    let mut f: Vec<Failure> = sessions
        .iter()
        .filter(|s| s.status != "succeeded")
        .cloned()
        .collect();
    f.sort_by(|a, b| {
        (&a.benchmark_id, &a.agent, a.attempt).cmp(&(&b.benchmark_id, &b.agent, b.attempt))
    });
    f
}

/// The ten longest sessions (without assertions or output: the table shows times).
pub fn slowest(sessions: &[SessionBrief]) -> Vec<SessionBrief> {
    let mut s: Vec<&SessionBrief> = sessions.iter().collect();
    s.sort_by(|a, b| {
        b.duration_ms
            .cmp(&a.duration_ms)
            .then_with(|| a.session_id.cmp(&b.session_id))
    });
    s.into_iter()
        .take(10)
        .map(|b| SessionBrief {
            failing: Vec::new(),
            stdout_tail: String::new(),
            ..b.clone()
        })
        .collect()
}

/// Run ids as a SQL list literal. Run ids are validated names ([A-Za-z0-9._-]), quoted anyway.
fn sql_list(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("'{}'", id.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ")
}
