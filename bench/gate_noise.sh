#!/usr/bin/env bash
# The regression gate on real batches of this machine, beside its anchor (the old gate: the
# baseline run alone, Mann-Whitney + 10%, plain Fisher), both judged on the same database.
#
#   10 identical batches (a Python agent: some CPU and a random 80-160 ms sleep; 12 benchmarks
#   x 2 agents x 3 attempts), two of them beside a CPU-bound neighbour process,
#   then one batch whose agent `a` is 60% slower (its sleep scaled; no neighbour),
#   then one batch whose agent `b` succeeds 40 points less often.
#
# Targets: at most 1 regression over the identical batches; the slow batch flagged `slower a`;
# the drop batch flagged `success_rate_drop b`. Exits 1 when a target is missed.
# Usage: gate_noise.sh PATH_TO_REEV [BATCHES]
set -euo pipefail
REEV="$(realpath "${1:?usage: gate_noise.sh PATH_TO_REEV [BATCHES]}")"
BATCHES="${2:-10}"
work="$(mktemp -d "${TMPDIR:-/tmp}/reev-gate.XXXXXX")"
neighbour=""
cleanup() {
    [ -n "$neighbour" ] && kill "$neighbour" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
mkdir -p benchmarks
for i in $(seq -w 1 12); do
    cat > "benchmarks/b$i.yml" <<YML
id: b$i
description: passes when the agent exits 0
prompt: task $i
ground_truth:
  assertions:
    - exit_code: 0
YML
done
cat > agent.py <<'PY'
import random, sys, time
cpu_ms, scale, fail = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
t = time.process_time()
x = 0
while (time.process_time() - t) * 1000 < cpu_ms:
    x += 1
time.sleep(random.uniform(0.080, 0.160) * scale)
sys.exit(1 if random.random() < fail else 0)
PY
# agents A_SCALE A_FAIL B_SCALE B_FAIL
agents() {
    cat > reev.yml <<YML
agents:
  a:
    command: [python3, $work/agent.py, "20", "$1", "$2"]
  b:
    command: [python3, $work/agent.py, "20", "$3", "$4"]
YML
}
# batch NAME: run, load, report; prints "NAME exit regressions inconclusive"
batch() {
    "$REEV" -q run --jobs 2 --attempts 3 --run-id "$1" > /dev/null
    "$REEV" -q load > /dev/null 2>&1 || true
    local code=0
    "$REEV" -q report --format json --fail-on-regression > /dev/null 2> "report-$1.err" || code=$?
    python3 - "$1" "$code" <<'PY'
import json, sys
name, code = sys.argv[1], sys.argv[2]
r = json.load(open(f"reports/{name}/report.json"))
kinds = [f"{g['kind']}:{g['agent']}" for g in r["regressions"]]
inc = [f"{c['kind']}:{c['agent']}" for c in (r.get("gate") or {}).get("checks", []) if c["outcome"] == "inconclusive"]
for c in (r.get("gate") or {}).get("checks", []):
    if c["kind"] == "slower":
        print(f"{name} {c['agent']}: {c['compared_with']} | {c['observed']} | {c['outcome']}", file=open("checks.txt", "a"))
print(name, code, len(kinds), len(inc), ";".join(kinds) or "-", ";".join(inc) or "-")
PY
}
: > results.txt
agents 1.0 0.05 1.0 0.05
busy_batches=" $((BATCHES * 4 / 10)) $((BATCHES * 8 / 10)) "
for i in $(seq 1 "$BATCHES"); do
    if [[ "$busy_batches" == *" $i "* ]]; then
        python3 -c 'while True: pass' &
        neighbour=$!
        batch "same$i" | sed 's/$/ neighbour/' | tee -a results.txt
        kill "$neighbour"; wait "$neighbour" 2>/dev/null || true; neighbour=""
    else
        batch "same$i" | sed 's/$/ quiet/' | tee -a results.txt
    fi
done
# "Really 60% slower": on a loaded machine Python's start-up dominates the wall time, so the
# sleep is scaled until the added time is 60% of agent a's median duration so far.
scale=$(python3 - <<'PY'
import duckdb
con = duckdb.connect("reev.duckdb", read_only=True)
med = con.execute("SELECT median(duration_ms) FROM sessions WHERE agent = 'a'").fetchone()[0]
print(f"{1 + 0.6 * med / 120:.2f}")
PY
)
echo "slow batch: agent a's sleep scaled by $scale (60% of its median wall time added)"
agents "$scale" 0.05 1.0 0.05
batch slow | tee -a results.txt
agents 1.0 0.05 1.0 0.45
batch drop | tee -a results.txt
"$REEV" calibrate --runs 30 | tee calibrate.txt
cat checks.txt

# The anchor: the old gate (baseline = previous run; slower: median +10% and one-sided
# Mann-Whitney p < 0.01/agents; success drop: one-sided Fisher p < 0.01/agents), on the same data.
python3 - <<'PY'
import duckdb, json, math
con = duckdb.connect("reev.duckdb", read_only=True)
cols = ["run_id", "agent", "d", "ok", "n", "t"]
rows = [dict(zip(cols, r)) for r in con.execute(
    "SELECT run_id, agent, list(duration_ms) AS d, count(*) FILTER (WHERE status = 'succeeded') AS ok, count(*) AS n, "
    "min(started_at) AS t FROM sessions GROUP BY ALL ORDER BY t, run_id, agent").fetchall()]
def mw_p(base, cur):
    allv = sorted([(v, 1) for v in cur] + [(v, 0) for v in base])
    n1, n2 = len(cur), len(base); ranks = 0.0; ties = 0.0; i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1][0] == allv[i][0]: j += 1
        r = (i + j) / 2 + 1; t = j - i + 1; ties += t ** 3 - t
        ranks += sum(r for k in range(i, j + 1) if allv[k][1]); i = j + 1
    u = ranks - n1 * (n1 + 1) / 2; nn = n1 + n2
    var = n1 * n2 / 12 * ((nn + 1) - ties / (nn * (nn - 1)))
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(var)
    return 0.5 * math.erfc(z / math.sqrt(2))
def fisher_lower(bs, bn, cs, cn):
    tot, s = bn + cn, bs + cs
    lo = max(0, s - bn)
    return min(1.0, sum(math.comb(s, x) * math.comb(tot - s, cn - x) / math.comb(tot, cn) for x in range(lo, min(cs, cn) + 1)))
runs = []
for r in rows:
    if not runs or runs[-1] != r["run_id"]:
        if r["run_id"] not in runs: runs.append(r["run_id"])
by = {(r["run_id"], r["agent"]): r for r in rows}
out = {}
for prev, cur in zip(runs, runs[1:]):
    fired = []
    for agent in ("a", "b"):
        b, c = by[(prev, agent)], by[(cur, agent)]
        med = lambda v: sorted(v)[len(v) // 2] if len(v) % 2 else sum(sorted(v)[len(v)//2-1:len(v)//2+1]) / 2
        if med(c["d"]) >= 1.1 * med(b["d"]) and mw_p(b["d"], c["d"]) < 0.005: fired.append(f"slower {agent}")
        if c["ok"] / c["n"] < b["ok"] / b["n"] and fisher_lower(b["ok"], b["n"], c["ok"], c["n"]) < 0.005: fired.append(f"success_rate_drop {agent}")
    out[cur] = fired
json.dump(out, open("anchor.json", "w"))
PY

python3 - <<'PY'
import json
anchor = json.load(open("anchor.json"))
rows = [l.split() for l in open("results.txt")]
same = [r for r in rows if r[0].startswith("same") and r[0] != "same1"]
new_alarms = sum(1 for r in same if int(r[2]) > 0)
old_alarms = sum(1 for r in same if anchor.get(r[0]))
busy = [r for r in same if r[-1] == "neighbour"]
print()
print(f"{'batch':<8} {'machine':<9} {'exit':>4} {'new gate':<40} {'inconclusive':<14} old gate")
for r in rows:
    print(f"{r[0]:<8} {r[-1] if r[0].startswith('same') else 'quiet':<9} {r[1]:>4} {r[4]:<40} {r[5]:<14} {';'.join(anchor.get(r[0], [])) or '-'}")
slow = next(r for r in rows if r[0] == "slow")
drop = next(r for r in rows if r[0] == "drop")
slow_ok = "slower:a" in slow[4].split(";")
drop_ok = "success_rate_drop:b" in drop[4].split(";")
print()
print(f"identical batches compared: {len(same)} ({len(busy)} beside a CPU-bound neighbour)")
print(f"false alarms, new gate: {new_alarms} of {len(same)} (target <= 1); old gate: {old_alarms} of {len(same)}")
print(f"60% slower agent flagged: new gate {'yes' if slow_ok else 'NO'}; old gate {'yes' if 'slower a' in anchor.get('slow', []) else 'no'}")
print(f"40-point success drop flagged: new gate {'yes' if drop_ok else 'NO'}; old gate {'yes' if 'success_rate_drop b' in anchor.get('drop', []) else 'no'}")
# Counts, not times: no wall or CPU figure to judge here (bench/all.sh collects these lines).
missed = [m for m, bad in (
    (f"false alarms over identical batches: {new_alarms} (target <= 1)", new_alarms > 1),
    ("the 60% slower agent was not flagged `slower a`", not slow_ok),
    ("the 40-point success drop was not flagged `success_rate_drop b`", not drop_ok)) if bad]
for m in missed:
    print(f"MISSED  {m}")
print("target met" if not missed else "TARGET MISSED")
raise SystemExit(1 if missed else 0)
PY
