#!/usr/bin/env bash
# What receiving 10,000 spans costs reev: one session whose agent sends N GenAI spans over
# OTLP/HTTP (protobuf, then OTLP/JSON), against the same agent building the same requests and
# sending none. reev's own CPU is the CPU of `reev run` and all it waited for, minus the
# agent's (the session file's cpu_user_ms + cpu_system_ms). Prints wall and CPU time; exits 1
# when receiving costs more than 0.5 s of reev CPU in either encoding, or a span is missing.
set -euo pipefail
REEV="${1:?usage: otlp_receive.sh PATH_TO_REEV [N]}"
N="${2:-10000}"
PY="$(command -v python3)"
AGENT="$(cd "$(dirname "$0")" && pwd)/otlp_agent.py"
work="$(mktemp -d "${TMPDIR:-/tmp}/reev-bench-otlp.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/benchmarks"
cat > "$work/reev.yml" <<YML
agents:
  protobuf:
    command: ["$PY", "$AGENT", "$N", protobuf]
  json:
    command: ["$PY", "$AGENT", "$N", json]
YML
cat > "$work/benchmarks/spans.yml" <<YML
id: spans
description: an agent that sends many spans
prompt: send spans
timeout: 120s
ground_truth:
  assertions:
    - exit_code: 0
YML
cd "$work"
# One reev run; prints "wall cpu_total agent_cpu spans" (seconds, seconds, seconds, count).
measure() {
  local agent=$1 run=$2 send=$3
  SEND=$send python3 - "$REEV" "$agent" "$run" <<'PY'
import glob, json, os, resource, subprocess, sys, time
reev, agent, run = sys.argv[1:4]
before = resource.getrusage(resource.RUSAGE_CHILDREN)
t = time.monotonic()
subprocess.run([reev, "-q", "run", "--agent", agent, "--run-id", run], check=True, stdout=subprocess.DEVNULL)
wall = time.monotonic() - t
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
[path] = glob.glob(f"runs/{run}/sessions/{agent}/*.json")
s = json.load(open(path))
assert s["status"] == "succeeded", s.get("error")
agent_cpu = (s["cpu_user_ms"] + s["cpu_system_ms"]) / 1000
spans = s.get("otlp", {}).get("spans", 0) + s.get("otlp", {}).get("spans_dropped", 0)
print(f"{wall:.3f} {cpu:.3f} {agent_cpu:.3f} {spans}")
PY
}
status=0
for enc in protobuf json; do
  read -r bw bc ba _ < <(measure "$enc" "base-$enc" 0)
  read -r w c a spans < <(measure "$enc" "send-$enc" 1)
  python3 - "$enc" "$N" "$bw" "$bc" "$ba" "$w" "$c" "$a" "$spans" <<'PY' || status=1
import sys
enc, n = sys.argv[1], int(sys.argv[2])
bw, bc, ba, w, c, a = map(float, sys.argv[3:9])
spans = int(sys.argv[9])
base, sent = bc - ba, c - a
cost = sent - base
print(f"{enc}: {n} spans sent, {spans} received")
print(f"  without sending: wall {bw:6.3f} s, reev CPU {base:6.3f} s (agent {ba:.3f} s)")
print(f"  sending:         wall {w:6.3f} s, reev CPU {sent:6.3f} s (agent {a:.3f} s)")
print(f"  receiving cost:  {cost:6.3f} s of reev CPU (target <= 0.5 s)")
ok = cost <= 0.5 and spans == n
print(f"{'OK' if ok else 'MISSED'}  otlp receive ({enc}): {cost:.3f} s reev CPU for {n} spans, {spans} received (target <= 0.5 s CPU, all received)")
sys.exit(0 if ok else 1)
PY
done
exit $status
