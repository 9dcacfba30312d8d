#!/usr/bin/env bash
# `reev status` over runs trees of 100 and 1,000 runs (20 sessions each: 2 agents x 10),
# side by side with its anchor, `find` listing the same tree (the floor for anything that
# looks at every file name), and with `cat` of every session file (what status avoids).
# Target: status of 1,000 runs in under 1 s; exits 1 when it misses.
set -euo pipefail
REEV="${1:?usage: status_1k.sh PATH_TO_REEV}"
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
            open(os.path.join(d, f"{bench}@1.{statuses[(r + b) % 4]}"), "w").close()
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

now() { date +%s.%N; }
fail=0
for runs in 100 1000; do
    tree="$work/runs-$runs"
    gen "$tree" "$runs"
    sync
    "$REEV" status --runs-dir "$tree" > /dev/null # warm the page cache alike for all three
    t0=$(now)
    files=$(find "$tree" -type f | wc -l)
    t1=$(now)
    lines=$("$REEV" status --runs-dir "$tree" --format json | python3 -c 'import json,sys; r=json.load(sys.stdin); assert all(x["state"]=="complete" and x["done"]==20 for x in r); print(len(r))')
    t2=$(now)
    "$REEV" status --runs-dir "$tree" > /dev/null
    t3=$(now)
    find "$tree" -name '*.json' -path '*/sessions/*' -exec cat {} + > /dev/null
    t4=$(now)
    [ "$lines" -eq "$runs" ] || { echo "status listed $lines runs, expected $runs" >&2; exit 1; }
    python3 - "$runs" "$files" "$t0" "$t1" "$t3" "$t2" "$t4" <<'PY' || fail=1
import sys
runs, files = int(sys.argv[1]), int(sys.argv[2])
t0, t1, t3, t2, t4 = map(float, sys.argv[3:])
find, status, cat = t1 - t0, t3 - t2, t4 - t3
print(f"{runs} runs, {files} files (machine shared with other builds; numbers are noisy)")
print(f"  find (listing only, anchor): {find:6.3f} s")
print(f"  reev status (table):         {status:6.3f} s")
print(f"  cat every session file:      {cat:6.3f} s  (what status does not do)")
if runs >= 1000 and status > 1.0:
    print(f"  MISSED: status of {runs} runs took {status:.3f} s (target < 1 s)")
    sys.exit(1)
PY
done
exit "$fail"
