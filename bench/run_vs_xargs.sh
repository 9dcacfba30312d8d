#!/usr/bin/env bash
# reev run of N trivial sessions (agent `true`, --jobs 2) against xargs -P2 running the same
# N commands, side by side in one invocation. Prints wall and CPU time of both and the ratio;
# exits 1 when the wall-time ratio is over the target: 1.3 with the runs tree on tmpfs, 1.5
# on a disk, where every session file's fsync is part of the time. The runs tree goes under
# $TMPDIR (the Makefile's bench runs it on both).
set -euo pipefail
REEV="${1:?usage: run_vs_xargs.sh PATH_TO_REEV [N]}"
N="${2:-2000}"
here="$(cd "$(dirname "$0")" && pwd)"
export BENCH_DIR="$here"
work="$(mktemp -d "${TMPDIR:-/tmp}/reev-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/benchmarks"
cat > "$work/reev.yml" <<YML
agents:
  true:
    command: [true]
YML
cat > "$work/benchmarks/trivial.yml" <<YML
id: trivial
description: does nothing, passes on exit 0
prompt: nothing to do
ground_truth:
  assertions:
    - exit_code: 0
YML
cd "$work"
python3 - "$REEV" "$N" "$(df --output=fstype "$work" | tail -1)" <<'PY'
import glob, os, subprocess, sys
sys.path.insert(0, os.environ["BENCH_DIR"])
from benchlib import measured, judge, loadavg, finish
reev, n, fstype = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seq = subprocess.run(["seq", str(n)], capture_output=True, check=True).stdout
with open("seq.txt", "wb") as f:
    f.write(seq)
x = measured(["sh", "-c", "xargs -P2 -n1 true < seq.txt"])
r = measured([reev, "-q", "run", "--jobs", "2", "--attempts", str(n), "--run-id", "bench"])
files = len(glob.glob("runs/bench/sessions/*/*.json"))
if files != n:
    sys.exit(f"expected {n} session files, found {files}")
print(f"sessions: {n} (agent `true`, 2 at a time), runs tree on {fstype}, load average {loadavg()}")
print(f"xargs -P2:          {x}  ({x.wall / n * 1000:.2f} ms per command)")
print(f"reev run --jobs 2:  {r}  ({r.wall / n * 1000:.2f} ms per session, every session file durable)")
print(f"ratio reev/xargs:   wall {r.wall / x.wall:5.2f}, CPU {r.cpu / x.cpu:5.2f}")
# Judged on wall time measured side by side: what reev adds is partly waiting (the disk's
# flushes), which CPU time does not see; a neighbour slows both sides alike.
# Issue 17's budget on tmpfs (the default results protection included), issue 19's on a disk.
target = 1.3 if fstype == "tmpfs" else 1.5
judge(f"reev run / xargs, {n} sessions on {fstype}", r.wall / x.wall, target, "wall, side by side", "x")
finish()
PY
