#!/usr/bin/env python3
"""Write N synthetic but valid reev session files (plus run manifests) under a runs tree.

usage: gen_sessions.py OUT_DIR N [PER_RUN] [--shape realistic|repeat]

realistic (default): every planned session of a run is distinct (benchmark x agent x
attempt), and a few percent of them (RETRY_PERCENT) ended `error` and were run again by
--retry-errors: their first try (status error) and a second try (`.try2.json`) are both
written, as `reev run --retry-errors 1` leaves them. Of N files about 3% are earlier tries.

repeat: the shape this script had before: the same benchmark x agent x attempt repeats
within a run (40 benchmarks, 4 agents, 32 attempts per 5,000 files), so three quarters of
the sessions are superseded by another of the same key — the worst case for the views that
pick each session's current try.
"""
import json
import os
import sys

RETRY_PERCENT = 3
BENCHMARKS = 50
AGENTS = 4


def session(run_id, sid, bench, agent, attempt, i, run, status, try_number):
    ok = status == "succeeded"
    s = {
        "schema_version": 1, "session_id": sid, "run_id": run_id, "benchmark_id": bench,
        "benchmark_sha256": "0" * 64, "agent": agent, "agent_command": ["python3", "agent.py"], "attempt": attempt,
        "status": status, "score": 1.0 if ok else (0.0 if status == "error" else 0.5), "pass_threshold": 1.0,
        "assertions": [
            {"type": "exit_code", "name": None, "weight": 1.0, "passed": True, "expected": 0, "actual": 0, "message": "exit code 0"},
            {"type": "json_value", "name": "balance", "weight": 2.0, "passed": ok, "expected": 70, "actual": 70 if ok else 40, "message": "ledger.json /accounts/alice"},
            {"type": "stdout_contains", "name": None, "weight": 1.0, "passed": True, "expected": "ok", "actual": "ok\n", "message": "stdout contains \"ok\""},
        ] if status != "error" else [],
        "exit_code": 0 if status != "error" else None, "signal": None,
        "error": "cannot start agent: No such file or directory" if status == "error" else None,
        "started_at": f"2026-01-01T{run % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
        "finished_at": f"2026-01-01T{run % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{(i + 7) % 1000:03d}Z",
        "duration_ms": 100 + (i * 37) % 900, "timeout_ms": 30000, "cpu_user_ms": 12, "cpu_system_ms": 3,
        "peak_rss_bytes": 12_000_000 + i,
        "stdout": {"text": "ok\n", "bytes_total": 3, "truncated": False},
        "stderr": {"text": "", "bytes_total": 0, "truncated": False},
        "events": [
            {"seq": 1, "type": "model_request", "data": {"type": "model_request", "model": "m", "input_tokens": 800 + i % 100, "output_tokens": 40}, "error": None, "raw": None},
            {"seq": 2, "type": "tool_call", "data": {"type": "tool_call", "name": "read_file", "input": {"path": "ledger.json"}, "output": "..."}, "error": None, "raw": None},
            {"seq": 3, "type": "tool_call", "data": {"type": "tool_call", "name": "write_file", "input": {"path": "ledger.json"}, "output": "ok"}, "error": None, "raw": None},
            {"seq": 4, "type": "metric", "data": {"type": "metric", "name": "tokens", "value": 840 + i % 100}, "error": None, "raw": None},
        ],
        "events_dropped": 0, "metrics": {"tokens": float(840 + i % 100)}, "host": "bench", "reev_version": "0.1.0",
    }
    if try_number > 1:
        s["try"] = try_number
    return s


def write(rdir, s, name):
    d = os.path.join(rdir, "sessions", s["agent"])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "w") as f:
        json.dump(s, f)


def run_files(run_id, run, count, shape):
    """Yield (session, file name) for one run's `count` files, and its plan entries."""
    plan, files, i = [], [], 0
    while len(files) < count:
        if shape == "repeat":
            bench, agent, attempt = f"bench.{i % 40}", f"agent{i % 4}", i // 160 + 1
            name = f"{bench}@{attempt}-{i}.json"
        else:
            bench, agent = f"bench.{i % BENCHMARKS}", f"agent{i // BENCHMARKS % AGENTS}"
            attempt = i // (BENCHMARKS * AGENTS) + 1
            name = f"{bench}@{attempt}.json"
        sid = f"{run:08x}{i:016x}"
        ok = (i * 7 + run) % 5 != 0
        plan.append({"session_id": sid, "benchmark_id": bench, "benchmark_sha256": "0" * 64, "agent": agent, "attempt": attempt})
        retried = shape != "repeat" and (i * 2654435761 + run) % 100 < RETRY_PERCENT and len(files) + 2 <= count
        if retried:
            files.append((session(run_id, sid, bench, agent, attempt, i, run, "error", 1), name))
            sid2 = f"{run:08x}{i:016x}t2"
            files.append((session(run_id, sid2, bench, agent, attempt, i, run, "succeeded" if ok else "failed", 2),
                          f"{bench}@{attempt}.try2.json"))
        else:
            files.append((session(run_id, sid, bench, agent, attempt, i, run, "succeeded" if ok else "failed", 1), name))
        i += 1
    return files, plan


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--shape")]
    shape = "realistic"
    for a in sys.argv[1:]:
        if a.startswith("--shape"):
            shape = a.split("=", 1)[1]
    if shape not in ("realistic", "repeat"):
        sys.exit(f"unknown shape {shape}")
    out, n = args[0], int(args[1])
    per_run = int(args[2]) if len(args) > 2 else 1000
    written = 0
    run = 0
    while written < n:
        run_id = f"20260101T{run // 3600 % 24:02d}{run // 60 % 60:02d}{run % 60:02d}.000Z-{run:06x}"
        rdir = os.path.join(out, run_id)
        count = min(per_run, n - written)
        files, plan = run_files(run_id, run, count, shape)
        for s, name in files:
            write(rdir, s, name)
        manifest = {
            "schema_version": 1, "run_id": run_id, "created_at": "2026-01-01T00:00:00.000Z", "reev_version": "0.1.0",
            "host": "bench", "git_commit": None, "command_line": ["reev", "run"],
            "selection": {"agents": [], "tags": [], "filters": [], "attempts": 1, "shard": None},
            "timeout_ms": None, "jobs": 2, "benchmarks": {}, "agents": {}, "plan": plan,
        }
        with open(os.path.join(rdir, "run.json"), "w") as f:
            json.dump(manifest, f)
        written += count
        run += 1


if __name__ == "__main__":
    main()
