#!/usr/bin/env python3
"""Write N synthetic but valid reev session files (plus run manifests) under a runs tree.

usage: gen_sessions.py OUT_DIR N [PER_RUN]
"""
import json
import os
import sys


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    per_run = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    zero = "0" * 64
    written = 0
    run = 0
    while written < n:
        run_id = f"20260101T{run // 3600 % 24:02d}{run // 60 % 60:02d}{run % 60:02d}.000Z-{run:06x}"
        rdir = os.path.join(out, run_id)
        plan = []
        count = min(per_run, n - written)
        for i in range(count):
            bench, agent, attempt = f"bench.{i % 40}", f"agent{i % 4}", i // 160 + 1
            sid = f"{run:08x}{i:016x}"
            ok = (i * 7 + run) % 5 != 0
            plan.append({"session_id": sid, "benchmark_id": bench, "benchmark_sha256": zero, "agent": agent, "attempt": attempt})
            s = {
                "schema_version": 1, "session_id": sid, "run_id": run_id, "benchmark_id": bench,
                "benchmark_sha256": zero, "agent": agent, "agent_command": ["python3", "agent.py"], "attempt": attempt,
                "status": "succeeded" if ok else "failed", "score": 1.0 if ok else 0.5, "pass_threshold": 1.0,
                "assertions": [
                    {"type": "exit_code", "name": None, "weight": 1.0, "passed": True, "expected": 0, "actual": 0, "message": "exit code 0"},
                    {"type": "json_value", "name": "balance", "weight": 2.0, "passed": ok, "expected": 70, "actual": 70 if ok else 40, "message": "ledger.json /accounts/alice"},
                    {"type": "stdout_contains", "name": None, "weight": 1.0, "passed": True, "expected": "ok", "actual": "ok\n", "message": "stdout contains \"ok\""},
                ],
                "exit_code": 0, "signal": None, "error": None,
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
            d = os.path.join(rdir, "sessions", agent)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"{bench}@{attempt}-{i}.json"), "w") as f:
                json.dump(s, f)
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
