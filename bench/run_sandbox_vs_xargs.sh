#!/usr/bin/env bash
# The cost of containment: N trivial sessions (agent `true`, --jobs 2) run by xargs -P2, by reev
# with no sandbox (PID namespace only, where available) and by reev with
# `sandbox: {network: none, filesystem: scratch}`, side by side in one invocation, for each
# size given (default 500 and 2000). Prints times and ratios; exits 1 when the sandboxed run
# takes more than 1.5x xargs at any size.
set -euo pipefail
REEV="${1:?usage: run_sandbox_vs_xargs.sh PATH_TO_REEV [N...]}"
shift
SIZES=("${@:-500 2000}")
read -r -a SIZES <<< "${SIZES[*]}"
work="$(mktemp -d "${TMPDIR:-/tmp}/reev-bench-sandbox.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/plain/benchmarks" "$work/boxed/benchmarks"
for d in plain boxed; do
  cat > "$work/$d/benchmarks/trivial.yml" <<YML
id: trivial
description: does nothing, passes on exit 0
prompt: nothing to do
ground_truth:
  assertions:
    - exit_code: 0
YML
done
cat > "$work/plain/reev.yml" <<YML
agents:
  true:
    command: [true]
YML
cat > "$work/boxed/reev.yml" <<YML
agents:
  true:
    command: [true]
    sandbox:
      network: none
      filesystem: scratch
YML
now() { date +%s.%N; }
status=0
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) (other builds may be running)"
for n in "${SIZES[@]}"; do
  t0=$(now)
  seq "$n" | xargs -P2 -n1 true
  t1=$(now)
  (cd "$work/plain" && "$REEV" -q run --jobs 2 --attempts "$n" --run-id "plain-$n" > /dev/null)
  t2=$(now)
  (cd "$work/boxed" && "$REEV" -q run --jobs 2 --attempts "$n" --run-id "boxed-$n" > /dev/null)
  t3=$(now)
  # The baseline: the same plain run in process groups instead of PID namespaces.
  (cd "$work/plain" && REEV_NO_NAMESPACES=1 "$REEV" -q run --jobs 2 --attempts "$n" --run-id "pgrp-$n" > /dev/null 2>&1)
  t4=$(now)
  for d in plain boxed pgrp; do
    dir="$work/$d"
    [ "$d" = pgrp ] && dir="$work/plain"
    files=$(find "$dir/runs/$d-$n/sessions" -name '*.json' | wc -l)
    [ "$files" -eq "$n" ] || { echo "$d: expected $n session files, found $files" >&2; exit 1; }
    bad=$(grep -L '"status": "succeeded"' -r --include='*.json' "$dir/runs/$d-$n/sessions" | head -1 || true)
    [ -z "$bad" ] || { echo "$d: a session did not succeed: $bad" >&2; exit 1; }
  done
  python3 - "$t0" "$t1" "$t2" "$t3" "$t4" "$n" <<'PY' || status=1
import sys
t0, t1, t2, t3, t4, n = map(float, sys.argv[1:])
x, r, s, g = t1 - t0, t2 - t1, t3 - t2, t4 - t3
print(f"sessions: {int(n)} (agent `true`, 2 at a time)")
print(f"  xargs -P2:                 {x:7.3f} s  ({x / n * 1000:.2f} ms per command)")
print(f"  reev, no sandbox:          {r:7.3f} s  ({r / n * 1000:.2f} ms per session)  ratio {r / x:5.2f}")
print(f"  reev, network none + fs:   {s:7.3f} s  ({s / n * 1000:.2f} ms per session)  ratio {s / x:5.2f}  (target <= 1.5)")
print(f"  reev, process groups only: {g:7.3f} s  ({g / n * 1000:.2f} ms per session)  ratio {g / x:5.2f}  (REEV_NO_NAMESPACES=1, the baseline)")
print(f"  sandbox / no sandbox:      {s / r:7.2f}")
sys.exit(0 if max(r, s) / x <= 1.5 else 1)
PY
done
exit "$status"
