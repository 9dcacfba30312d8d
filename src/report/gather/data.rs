//! Gathering a report from the database: aggregate in DuckDB, compute statistics in Rust.

use std::collections::BTreeMap;

use duckdb::{params, Connection};

use super::column::{assertion_type, status};
use super::model::*;
use super::samples::{self, RunAgents};
use super::timed;
use crate::error::{Error, Result};
use crate::session::Status;
use crate::stats;
use crate::store::schema::RUN_NO;

/// Runs considered for trends, flakiness and the gate's history.
pub const HISTORY: i64 = 10;
/// Runs before the reported one over which the gate's false alarms are replayed.
pub const REPLAY: i64 = 20;

/// `--baseline`: what the reported run is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Baseline {
    /// The last comparable run that passed the gate or was accepted (the default).
    Passed,
    /// The comparable run before.
    Previous,
    /// Nothing: only the error rate is checked.
    None,
    /// This run, which must be in the database.
    Run(String),
}

impl Baseline {
    /// `passed`, `previous`, `none`, or a run id.
    pub fn parse(text: &str) -> Baseline {
        match text {
            "passed" => Baseline::Passed,
            "previous" => Baseline::Previous,
            "none" => Baseline::None,
            id => Baseline::Run(id.to_string()),
        }
    }

    /// `--baseline`'s value parser: every text is a baseline (a run id is checked against the
    /// database when the report is gathered).
    pub fn parse_arg(text: &str) -> std::result::Result<Baseline, std::convert::Infallible> {
        Ok(Baseline::parse(text))
    }
}

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
                    "SELECT run_id FROM current_runs ORDER BY started_max DESC, run_id DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .map_err(|_| Error::input("the database holds no sessions; run `reev run` and `reev load` first"));
        }
        let n: i64 = self
            .conn
            .query_row(
                &format!("SELECT count(*) FROM current_sessions WHERE run_no = {RUN_NO}"),
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

    /// The comparable run before `run` (`--baseline previous`), if any.
    pub fn previous(&self, run: &str) -> Result<Option<String>> {
        let found = self.conn.query_row(
                    &format!(
                        "WITH r AS (SELECT run_id, started_max AS t FROM current_runs)
                         SELECT run_id FROM r WHERE t < (SELECT t FROM r WHERE run_id = ?) AND {SAME_KIND}
                         ORDER BY t DESC, run_id DESC LIMIT 1"
                    ),
                    [run, run],
                    |r| r.get::<_, String>(0),
                );
        Ok(found.ok())
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
            .prepare(&format!(
                "SELECT agent, count(*),
                        count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
                        count(*) FILTER (WHERE status = 'timed_out'), count(*) FILTER (WHERE status = 'error'),
                        avg(score), coalesce(stddev_samp(score), 0),
                        quantile_cont(duration_ms, 0.5), quantile_cont(duration_ms, 0.95), quantile_cont(duration_ms, 0.99),
                        avg(cpu_user_ms + cpu_system_ms), max(peak_rss_bytes), avg(peak_rss_bytes),
                        avg(input_tokens::DOUBLE + output_tokens::DOUBLE), avg(cost_usd), sum(cost_usd), count(cost_usd)
                 FROM current_sessions WHERE run_no = {RUN_NO} GROUP BY agent ORDER BY agent",
            ))
            .map_err(self.err("agents"))?;
        let rows = st
            .query_map([run], |r| {
                let n: i64 = r.get(1)?;
                let ok: i64 = r.get(2)?;
                let errors: i64 = r.get(5)?;
                // `error` sessions were not judged: they have no score (NULL, left out of
                // the mean), and success is counted among the others. With none judged there
                // is no rate and no mean: null, shown as "–", never 0.
                let mean: Option<f64> = r.get(6)?;
                let sd: f64 = r.get(7)?;
                let judged = (n - errors) as u64;
                let success = (judged > 0).then(|| {
                    let (wl, wh) = stats::wilson(ok as u64, judged, 0.05);
                    (ok as f64 / judged as f64, [wl, wh])
                });
                let ci = mean.map(|m| {
                    let (ml, mh) = stats::t_interval(m, sd, judged, 0.05);
                    [ml.max(0.0), mh.min(1.0)]
                });
                Ok(AgentSummary {
                    agent: r.get(0)?,
                    sessions: n as u64,
                    succeeded: ok as u64,
                    failed: r.get::<_, i64>(3)? as u64,
                    timed_out: r.get::<_, i64>(4)? as u64,
                    errors: errors as u64,
                    success_rate: success.map(|s| s.0),
                    error_rate: errors as f64 / n.max(1) as f64,
                    success_rate_ci: success.map(|s| s.1),
                    mean_score: mean,
                    mean_score_ci: ci,
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
                    matrix: BTreeMap::new(),
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
            .prepare(&format!(
                "SELECT benchmark_id, agent, count(*), count(*) FILTER (WHERE status = 'succeeded'), avg(score),
                        arg_max(status, attempt)
                 FROM current_sessions WHERE run_no = {RUN_NO} GROUP BY benchmark_id, agent ORDER BY benchmark_id, agent",
            ))
            .map_err(self.err("matrix"))?;
        let cells = st
            .query_map([run], |r| {
                Ok(MatrixCell {
                    benchmark_id: r.get(0)?,
                    agent: r.get(1)?,
                    attempts: r.get::<_, i64>(2)? as u64,
                    succeeded: r.get::<_, i64>(3)? as u64,
                    mean_score: r.get(4)?,
                    latest_status: status(r, 5)?,
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

    /// The `matrix:` values of the run's agents, filled into `agents`.
    pub fn agent_matrix(&self, run: &str, agents: &mut [AgentSummary]) -> Result<()> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT s.agent, m.key, any_value(m.value)
                 FROM current_sessions s JOIN session_matrix m ON m.run_no = s.run_no AND m.session_id = s.session_id
                 WHERE s.run_no = {RUN_NO} GROUP BY ALL ORDER BY ALL",
            ))
            .map_err(self.err("agent matrix"))?;
        let rows = st
            .query_map([run], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(self.err("agent matrix"))?;
        for row in rows {
            let (agent, key, value) = row.map_err(self.err("agent matrix"))?;
            if let Some(a) = agents.iter_mut().find(|a| a.agent == agent) {
                a.matrix.insert(key, value);
            }
        }
        Ok(())
    }

    /// The last HISTORY runs up to and including `run`, oldest first.
    fn history(&self, run: &str) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare(
                "WITH r AS (SELECT run_id, started_max AS t FROM current_runs)
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
            .prepare(&format!(
                "SELECT DISTINCT b.benchmark_id, b.description FROM benchmarks b
                 JOIN current_sessions s ON s.benchmark_id = b.benchmark_id AND s.benchmark_sha256 = b.sha256
                 WHERE s.run_no = {RUN_NO} ORDER BY 1",
            ))
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

    /// Benchmarks with mixed outcomes over the recent runs, split into the flaky ones and
    /// step changes (see [`classify`]).
    pub fn flaky(&self, run: &str) -> Result<(Vec<Flaky>, Vec<StepChange>)> {
        let runs = self.history(run)?;
        let list = run_nos(&runs);
        let mut st = self
            .conn
            .prepare(&format!(
                "WITH cur AS (SELECT DISTINCT benchmark_id, agent FROM current_sessions WHERE run_no = {RUN_NO})
                 SELECT benchmark_id, agent, s.run_id, count(*) FILTER (WHERE s.status = 'succeeded'), count(*)
                 FROM current_sessions s JOIN cur USING (benchmark_id, agent)
                 WHERE s.run_no IN ({list}) AND s.status <> 'error'
                 GROUP BY benchmark_id, agent, s.run_id
                 ORDER BY benchmark_id, agent, max(s.started_at), s.run_id"
            ))
            .map_err(self.err("flaky"))?;
        let rows = st
            .query_map([run], |r| {
                Ok((
                    (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    RunOutcome {
                        run_id: r.get(2)?,
                        succeeded: r.get::<_, i64>(3)? as u64,
                        sessions: r.get::<_, i64>(4)? as u64,
                    },
                ))
            })
            .map_err(self.err("flaky"))?;
        let mut by_pair: BTreeMap<(String, String), Vec<RunOutcome>> = BTreeMap::new();
        for row in rows {
            let (key, outcome) = row.map_err(self.err("flaky"))?;
            by_pair.entry(key).or_default().push(outcome);
        }
        let (mut flaky, mut changes) = (Vec::new(), Vec::new());
        for ((benchmark_id, agent), runs) in by_pair {
            match classify(&runs) {
                Mixed::No => {}
                Mixed::Flaky => flaky.push(Flaky {
                    succeeded: runs.iter().map(|r| r.succeeded).sum(),
                    sessions: runs.iter().map(|r| r.sessions).sum(),
                    runs: runs.len() as u64,
                    benchmark_id,
                    agent,
                }),
                Mixed::Step { broke, since } => changes.push(StepChange {
                    benchmark_id,
                    agent,
                    broke,
                    since_run: since,
                }),
            }
        }
        Ok((flaky, changes))
    }

    pub fn trends(&self, run: &str) -> Result<Vec<TrendPoint>> {
        let runs = self.history(run)?;
        let list = run_nos(&runs);
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT agent, run_id, strftime(min(started_at), '%Y-%m-%d %H:%M'),
                        avg(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END) FILTER (WHERE status <> 'error'),
                        quantile_cont(duration_ms, 0.95)
                 FROM current_sessions WHERE run_no IN ({list}) GROUP BY agent, run_id ORDER BY agent, min(started_at), run_id"
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
                &format!("SELECT greatest(1, max(duration_ms)) / ? FROM current_sessions WHERE run_no = {RUN_NO}"),
                params![BINS as f64, run],
                |r| r.get(0),
            )
            .map_err(self.err("histogram"))?;
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT agent, least(CAST(floor(duration_ms / ?) AS BIGINT), ? - 1) AS bin, count(*)
                 FROM current_sessions WHERE run_no = {RUN_NO} GROUP BY ALL ORDER BY ALL",
            ))
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
            .prepare(&format!(
                "SELECT s.session_id, s.benchmark_id, s.agent, s.attempt, s.status, s.score, s.duration_ms,
                        s.error, right(coalesce(s.stdout, ''), 2000),
                        least(s.input_tokens::HUGEINT + s.output_tokens, 9223372036854775807)::BIGINT, s.cost_usd,
                        a.type, a.name, CAST(a.expected AS VARCHAR), CAST(a.actual AS VARCHAR), a.message
                 FROM current_sessions s
                 LEFT JOIN assertions a ON a.run_no = s.run_no AND a.session_id = s.session_id AND NOT a.passed
                 WHERE s.run_no = {RUN_NO}
                 ORDER BY s.agent, s.benchmark_id, s.attempt, s.session_id, a.idx",
            ))
            .map_err(self.err("sessions"))?;
        let mut out: Vec<SessionBrief> = Vec::new();
        let rows = st
            .query_map([run], |r| {
                let brief = SessionBrief {
                    session_id: r.get(0)?,
                    benchmark_id: r.get(1)?,
                    agent: r.get(2)?,
                    attempt: r.get::<_, i64>(3)? as u64,
                    status: status(r, 4)?,
                    score: r.get(5)?,
                    duration_ms: r.get::<_, i64>(6)? as u64,
                    error: r.get(7)?,
                    stdout_tail: r.get(8)?,
                    failing: Vec::new(),
                    tokens: r.get::<_, Option<i64>>(9)?.map(|t| t.max(0) as u64),
                    cost_usd: r.get(10)?,
                    trace: Vec::new(),
                    detail: None,
                };
                let failed = match assertion_type(r, 11)? {
                    Some(kind) => Some(FailedAssertion {
                        kind,
                        name: r.get(12)?,
                        expected: r.get::<_, Option<String>>(13)?.unwrap_or_default(),
                        actual: r.get::<_, Option<String>>(14)?.unwrap_or_default(),
                        message: r.get::<_, Option<String>>(15)?.unwrap_or_default(),
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

    /// Complete runs comparable to `run` that started before it, at most `limit`, oldest
    /// first. A run is complete when it holds as many sessions as its manifests planned (or
    /// has no manifest); comparable when it ran the same (agent, benchmark) pairs — a run
    /// filtered to a few sessions, or of other agents, says nothing about this one's normal.
    fn runs_before(&self, run: &str, limit: i64) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare(&format!(
                "WITH r AS (SELECT run_id, started_max AS t, sessions AS n, shape FROM current_runs),
                      p AS (SELECT run_id, sum(planned_sessions) AS planned FROM runs GROUP BY run_id),
                      c AS (SELECT t, shape FROM r WHERE run_id = ?)
                 SELECT r.run_id FROM r LEFT JOIN p USING (run_id), c
                 WHERE r.t < c.t AND (p.planned IS NULL OR r.n >= p.planned) AND r.shape = c.shape
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

    /// What the gate needs of the comparable runs before `run` (at most [`REPLAY`]), of `run`
    /// and of an `explicit` baseline.
    pub fn past(&self, run: &str, explicit: Option<&str>) -> Result<Past> {
        let before = timed("runs before", || self.runs_before(run, REPLAY))?;
        let mut all = before.clone();
        all.push(run.to_string());
        all.extend(explicit.map(str::to_string));
        let samples = timed("gate samples", || {
            samples::gather(self.conn, &run_nos(&all))
        })?;
        Ok(Past {
            data: samples.data,
            errors: samples.errors,
            before,
        })
    }

    /// The last `runs` stored complete runs (oldest first, the latest last) and what the gate
    /// needs of each (for `reev calibrate`); empty without any run.
    pub fn calibration(&self, runs: i64) -> Result<(Vec<String>, RunAgents)> {
        let Ok(latest) = self.resolve_run("latest") else {
            return Ok(Default::default());
        };
        let mut all = self.runs_before(&latest, runs - 1)?;
        all.push(latest);
        let data = samples::gather(self.conn, &run_nos(&all))?.data;
        Ok((all, data))
    }
}

/// What the gate knows of the comparable runs before the reported one.
pub struct Past {
    /// The comparable complete runs before the reported one, oldest first.
    pub before: Vec<String>,
    pub data: RunAgents,
    /// (run, agent) -> share of its sessions that ended `error`.
    pub errors: BTreeMap<(String, String), f64>,
}

/// SQL: run `r.run_id`/`run_id` is of the same kind as the run bound next (`?`): both replayed
/// from cassettes or both live. The gate never takes one for the other: a replay did not
/// call the model.
const SAME_KIND: &str = "((run_id IN (SELECT run_id FROM model_calls WHERE replayed)) = (? IN (SELECT run_id FROM model_calls WHERE replayed)))";

/// The sessions that did not succeed, by benchmark, agent and attempt.
pub fn failures(sessions: &[SessionBrief]) -> Vec<Failure> {
    let mut f: Vec<Failure> = sessions
        .iter()
        .filter(|s| s.status != Status::Succeeded)
        .map(|s| Failure {
            detail: None,
            ..s.clone()
        })
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
            trace: Vec::new(),
            detail: None,
            ..b.clone()
        })
        .collect()
}

/// One (benchmark, agent) in one run: how many of its judged sessions succeeded.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_id: String,
    pub succeeded: u64,
    pub sessions: u64,
}

/// What a benchmark's outcomes across runs (oldest first) say.
#[derive(Debug, Clone, PartialEq)]
pub enum Mixed {
    /// Always succeeded, or never.
    No,
    /// Mixed within a run, or flipping back and forth: flaky.
    Flaky,
    /// Every run all-or-nothing, and the outcome changed once, in run `since`: the agent (or
    /// the benchmark) changed; a deterministic agent that broke is not flaky.
    Step { broke: bool, since: String },
}

pub fn classify(runs: &[RunOutcome]) -> Mixed {
    let pure = |r: &RunOutcome| r.succeeded == 0 || r.succeeded == r.sessions;
    let ok: u64 = runs.iter().map(|r| r.succeeded).sum();
    let n: u64 = runs.iter().map(|r| r.sessions).sum();
    if ok == 0 || ok == n {
        return Mixed::No;
    }
    if !runs.iter().all(pure) {
        return Mixed::Flaky;
    }
    let flips: Vec<usize> = (1..runs.len())
        .filter(|&i| (runs[i].succeeded > 0) != (runs[i - 1].succeeded > 0))
        .collect();
    match flips.as_slice() {
        [i] => Mixed::Step {
            broke: runs[*i].succeeded == 0,
            since: runs[*i].run_id.clone(),
        },
        _ => Mixed::Flaky,
    }
}

/// SQL: the numbers of the runs `ids`, for `run_no IN (...)`. Run ids are validated names
/// ([A-Za-z0-9._-]), quoted anyway.
fn run_nos(ids: &[String]) -> String {
    let list = ids
        .iter()
        .map(|id| format!("'{}'", id.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ");
    if list.is_empty() {
        return "SELECT NULL::BIGINT".into();
    }
    format!("SELECT run_no FROM run_numbers WHERE run_id IN ({list})")
}

#[cfg(test)]
mod tests {
    use super::{classify, Mixed, RunOutcome};

    fn runs(outcomes: &[(u64, u64)]) -> Vec<RunOutcome> {
        outcomes
            .iter()
            .enumerate()
            .map(|(i, (ok, n))| RunOutcome {
                run_id: format!("r{}", i + 1),
                succeeded: *ok,
                sessions: *n,
            })
            .collect()
    }

    #[test]
    fn a_deterministic_agent_that_broke_is_a_change_not_flaky() {
        assert_eq!(
            classify(&runs(&[(2, 2), (2, 2), (0, 2)])),
            Mixed::Step {
                broke: true,
                since: "r3".into()
            }
        );
        assert_eq!(
            classify(&runs(&[(0, 1), (1, 1)])),
            Mixed::Step {
                broke: false,
                since: "r2".into()
            }
        );
    }

    #[test]
    fn mixed_within_a_run_or_back_and_forth_is_flaky() {
        assert_eq!(classify(&runs(&[(2, 2), (1, 2)])), Mixed::Flaky);
        assert_eq!(classify(&runs(&[(1, 1), (0, 1), (1, 1)])), Mixed::Flaky);
        assert_eq!(classify(&runs(&[(3, 3), (3, 3)])), Mixed::No);
        assert_eq!(classify(&runs(&[(0, 3)])), Mixed::No);
    }
}
