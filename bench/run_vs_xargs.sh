#!/usr/bin/env bash
# reev run of N trivial sessions (agent `true`, --jobs 2) against xargs -P2 running the same
# N commands, side by side in one invocation. Prints both times and the ratio; exits 1 when
# it is over the target (1.5). The runs tree goes under $TMPDIR (see the Makefile's bench:
# on a disk, every session file's fsync is part of the time).
set -euo pipefail
REEV="${1:?usage: run_vs_xargs.sh PATH_TO_REEV [N]}"
N="${2:-2000}"
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
now() { date +%s.%N; }

t0=$(now)
seq "$N" | xargs -P2 -n1 true
t1=$(now)
"$REEV" -q run --jobs 2 --attempts "$N" --run-id bench > /dev/null
t2=$(now)

files=$(find runs/bench/sessions -name '*.json' | wc -l)
[ "$files" -eq "$N" ] || { echo "expected $N session files, found $files" >&2; exit 1; }
python3 - "$t0" "$t1" "$t2" "$N" "$(df --output=fstype "$work" | tail -1)" <<'PY'
import sys
t0, t1, t2, n = map(float, sys.argv[1:5])
x, r = t1 - t0, t2 - t1
print(f"sessions: {int(n)} (agent `true`, 2 at a time)")
print(f"xargs -P2:          {x:7.3f} s  ({x / n * 1000:.2f} ms per command)")
print(f"reev run --jobs 2:  {r:7.3f} s  ({r / n * 1000:.2f} ms per session, every session file fsynced)")
print(f"ratio reev/xargs:   {r / x:7.2f}  (target <= 1.5; runs tree on {sys.argv[5]})")
sys.exit(0 if r / x <= 1.5 else 1)
PY
