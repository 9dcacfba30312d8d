//! Synthetic but valid runs trees, for load tests that need many files quickly.
#![allow(dead_code)]

use serde_json::json;
use std::path::Path;

/// Write `runs` runs of `per_run` sessions each under `root`; returns the session file paths.
pub fn runs_tree(root: &Path, runs: usize, per_run: usize, seed: u64) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for r in 0..runs {
        let run_id = format!("20260101T0000{:02}.000Z-{seed:06x}", r);
        let dir = root.join(&run_id);
        std::fs::create_dir_all(dir.join("sessions")).unwrap();
        let mut plan = Vec::new();
        for i in 0..per_run {
            let (bench, agent, attempt) = (
                format!("bench.{}", i % 7),
                format!("agent{}", i % 3),
                (i / 21) as u32 + 1,
            );
            let sid = format!("{seed:04x}{r:04x}{i:016x}");
            plan.push(json!({"session_id": sid, "benchmark_id": bench, "benchmark_sha256": "0".repeat(64), "agent": agent, "attempt": attempt}));
            let ok = (i * 7 + r) % 5 != 0;
            let s = json!({
                "schema_version": 1, "session_id": sid, "run_id": run_id, "benchmark_id": bench,
                "benchmark_sha256": "0".repeat(64), "agent": agent, "agent_command": ["true"], "attempt": attempt,
                "status": if ok { "succeeded" } else { "failed" }, "score": if ok { 1.0 } else { 0.5 },
                "pass_threshold": 1.0,
                "assertions": [
                    {"type": "exit_code", "name": null, "weight": 1.0, "passed": true, "expected": 0, "actual": 0, "message": "exit code 0"},
                    {"type": "stdout_contains", "name": "says ok", "weight": 1.0, "passed": ok, "expected": "ok", "actual": "ok\n", "message": ""}
                ],
                "exit_code": 0, "signal": null, "error": null,
                "started_at": format!("2026-01-01T00:{:02}:{:02}.{:03}Z", r % 60, i % 60, i % 1000),
                "finished_at": format!("2026-01-01T00:{:02}:{:02}.{:03}Z", r % 60, i % 60, (i + 1) % 1000),
                "duration_ms": 100 + (i % 50) as u64, "timeout_ms": 30000, "cpu_user_ms": 3, "cpu_system_ms": 1,
                "peak_rss_bytes": 1_000_000 + i as u64,
                "stdout": {"text": "ok\n", "bytes_total": 3, "truncated": false},
                "stderr": {"text": "", "bytes_total": 0, "truncated": false},
                "events": [
                    {"seq": 1, "type": "tool_call", "data": {"type": "tool_call", "name": "read_file", "input": {"path": "x"}}, "error": null, "raw": null},
                    {"seq": 2, "type": "metric", "data": {"type": "metric", "name": "tokens", "value": i}, "error": null, "raw": null}
                ],
                "events_dropped": 0, "metrics": {"tokens": i as f64}, "host": "gen", "reev_version": "0.0.0"
            });
            let path = dir
                .join("sessions")
                .join(&agent)
                .join(format!("{bench}@{attempt}-{i}.json"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, serde_json::to_vec_pretty(&s).unwrap()).unwrap();
            files.push(path);
        }
        let manifest = json!({
            "schema_version": 1, "run_id": run_id, "created_at": "2026-01-01T00:00:00.000Z", "reev_version": "0.0.0",
            "host": "gen", "git_commit": null, "command_line": ["reev", "run"],
            "selection": {"agents": [], "tags": [], "filters": [], "attempts": 1, "shard": null},
            "timeout_ms": null, "jobs": 2, "benchmarks": {}, "agents": {}, "plan": plan
        });
        std::fs::write(
            dir.join("run.json"),
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
    }
    files
}

/// One synthetic session, shaped by the caller.
pub struct Spec {
    pub benchmark: String,
    pub agent: String,
    pub attempt: u32,
    pub succeeded: bool,
    pub duration_ms: u64,
    pub stdout: String,
    pub error: Option<String>,
    /// `cost_usd` (with 1000 input tokens); absent when None, as in older session files.
    pub cost_usd: Option<f64>,
}

/// Write one run with the given sessions (started `minute` minutes past midnight).
pub fn run(root: &Path, run_id: &str, minute: u32, sessions: &[Spec]) {
    let dir = root.join(run_id);
    for (i, s) in sessions.iter().enumerate() {
        let sid = format!("{:08x}{:016x}", fnv(run_id), i);
        let mut v = json!({
            "schema_version": 1, "session_id": sid, "run_id": run_id, "benchmark_id": s.benchmark,
            "benchmark_sha256": "0".repeat(64), "agent": s.agent, "agent_command": ["x"], "attempt": s.attempt,
            "status": if s.succeeded { "succeeded" } else { "failed" }, "score": if s.succeeded { 1.0 } else { 0.0 },
            "pass_threshold": 1.0,
            "assertions": [{"type": "stdout_contains", "name": "says ok", "weight": 1.0, "passed": s.succeeded,
                            "expected": "ok", "actual": s.stdout, "message": if s.succeeded { "stdout contains \"ok\"" } else { "stdout does not contain \"ok\"" }}],
            "exit_code": 0, "signal": null, "error": s.error,
            "started_at": format!("2026-01-01T{:02}:{:02}:{:02}.000Z", minute / 60, minute % 60, i % 60),
            "finished_at": format!("2026-01-01T{:02}:{:02}:{:02}.500Z", minute / 60, minute % 60, i % 60),
            "duration_ms": s.duration_ms, "timeout_ms": 60000, "cpu_user_ms": 5, "cpu_system_ms": 1, "peak_rss_bytes": 2_000_000,
            "stdout": {"text": s.stdout, "bytes_total": s.stdout.len(), "truncated": false},
            "stderr": {"text": "", "bytes_total": 0, "truncated": false},
            "events": [{"seq": 1, "type": "tool_call", "data": {"type": "tool_call", "name": "read_file", "input": {"path": "ledger.json"}}, "error": null, "raw": null}],
            "events_dropped": 0, "metrics": {}, "host": "gen", "reev_version": "0.0.0"
        });
        if let Some(cost) = s.cost_usd {
            v["input_tokens"] = json!(1000);
            v["output_tokens"] = json!(0);
            v["cost_usd"] = json!(cost);
        }
        let path = dir
            .join("sessions")
            .join(&s.agent)
            .join(format!("{}@{}.json", s.benchmark, s.attempt));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }
}

fn fnv(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// Sessions for `agents` x `benchmarks` x `attempts`, with success and duration from `f`.
pub fn matrix(
    agents: &[&str],
    benchmarks: usize,
    attempts: u32,
    mut f: impl FnMut(&str, usize, u32) -> (bool, u64),
) -> Vec<Spec> {
    let mut v = Vec::new();
    for a in agents {
        for b in 0..benchmarks {
            for t in 1..=attempts {
                let (ok, d) = f(a, b, t);
                v.push(Spec {
                    benchmark: format!("bench.{b:02}"),
                    agent: a.to_string(),
                    attempt: t,
                    succeeded: ok,
                    duration_ms: d,
                    stdout: if ok { "ok\n".into() } else { "nope\n".into() },
                    error: None,
                    cost_usd: None,
                });
            }
        }
    }
    v
}
