#!/usr/bin/env bash
# `reev status` over runs trees of 100 and 1,000 runs (20 sessions each: 2 agents x 10),
# side by side with its anchor, `find` listing the same tree (the floor for anything that
# looks at every file name), and with `cat` of every session file (what status avoids).
# Target: status of 1,000 runs in under 1 s; exits 1 when it misses.
set -euo pipefail
REEV="${1:?usage: status_1k.sh PATH_TO_REEV}"
here="$(cd "$(dirname "$0")" && pwd)"
export BENCH_DIR="$here"
work="$(mktemp -d "${TMPDIR:-/tmp}/reev-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

gen() { # gen DIR RUNS: RUNS complete runs, as `reev run` lays them out
python3 - "$1" "$2" <<'PY'
import json, os, sys
root, runs = sys.argv[1], int(sys.argv[2])
statuses = ["succeeded", "failed", "timed_out", "error"]
for r in range(runs):
    run_id = f"20260101T{r // 3600 % 24:02d}{r // 60 % 60:02d}{r % 60:02d}.000Z-{r:06x}"
    rdir = os.path.join(root, run_id)
    plan = []
    for agent in ("alpha", "beta"):
        d = os.path.join(rdir, "sessions", agent)
        os.makedirs(d, exist_ok=True)
        for b in range(10):
            bench = f"bench.{b:02d}"
            plan.append({"session_id": f"{r:08x}{b:04x}{agent}", "benchmark_id": bench,
                         "benchmark_sha256": "0" * 64, "agent": agent, "attempt": 1})
            with open(os.path.join(d, f"{bench}@1.json"), "w") as f:
                f.write('{"status": "succeeded", "padding": "' + "x" * 2000 + '"}')
            with open(os.path.join(rdir, "status.log"), "a") as f:
                f.write(f"{agent}/{bench}@1 {statuses[(r + b) % 4]}\n")
    manifest = {
        "schema_version": 2, "run_id": run_id, "created_at": f"2026-01-01T00:00:{r % 60:02d}.{r % 1000:03d}Z",
        "reev_version": "0.1.0", "host": "bench", "git_commit": None, "command_line": ["reev", "run"],
        "selection": {"agents": [], "tags": [], "filters": [], "attempts": 1, "shard": None},
        "timeout_ms": None, "jobs": 2, "benchmarks": {}, "agents": {}, "plan": plan,
        "run_planned": {"alpha": 10, "beta": 10},
    }
    with open(os.path.join(rdir, "run.json"), "w") as f:
        json.dump(manifest, f)
PY
}

fail=0
for runs in 100 1000; do
    tree="$work/runs-$runs"
    gen "$tree" "$runs"
    sync
    python3 - "$REEV" "$tree" "$runs" <<'PY' || fail=1
import json, os, subprocess, sys
sys.path.insert(0, os.environ["BENCH_DIR"])
from benchlib import measured, median, judge, loadavg, finish
reev, tree, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
measured([reev, "status", "--runs-dir", tree])  # warm the page cache alike for all three
files = sum(len(f) for _, _, f in os.walk(tree))
find = measured(["find", tree, "-type", "f"])
status = median([measured([reev, "status", "--runs-dir", tree]) for _ in range(3)])
out = measured([reev, "status", "--runs-dir", tree, "--format", "json"], stdout=subprocess.PIPE)
r = json.loads(out.stdout)
assert len(r) == runs and all(x["state"] == "complete" and x["done"] == 20 for x in r), "status is wrong"
cat = measured(["sh", "-c", f"find {tree} -name '*.json' -path '*/sessions/*' -exec cat {{}} + > /dev/null"])
print(f"{runs} runs, {files} files; load average {loadavg()}")
print(f"  find (listing only, anchor): {find}")
print(f"  reev status (table):         {status}  (median of 3)")
print(f"  cat every session file:      {cat}  (what status does not do)")
if runs >= 1000:
    # Judged on CPU time: status reads a cached tree, it waits on nothing.
    judge(f"reev status of {runs} runs", status.cpu, 1.0, "CPU")
finish()
PY
done
exit "$fail"
