#!/usr/bin/env bash
# reev load of N generated session files, cold and as a no-op reload, against DuckDB's own
# read_json (Python duckdb 2.0) loading the same files with an explicit column list, in one
# invocation. Then, when BIG > 0, a large load with its peak memory (bench/load_scale.sh
# measures the large sizes: 200,000 and 1,000,000).
set -euo pipefail
REEV="$(realpath "${1:?usage: load_vs_read_json.sh PATH_TO_REEV [N] [BIG]}")"
N="${2:-20000}"
BIG="${3:-0}"
here="$(cd "$(dirname "$0")" && pwd)"
export BENCH_DIR="$here"
work="$(mktemp -d "${TMPDIR:-/tmp}/reev-load-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install --quiet -r "$here/../requirements-dev.txt"

echo "generating $N session files..."
python3 "$here/gen_sessions.py" runs "$N" 1000
sync
python3 - "$REEV" "$N" <<'PY'
import os, subprocess, sys
sys.path.insert(0, os.environ["BENCH_DIR"])
from benchlib import measured, median, judge, loadavg, finish
reev, n = sys.argv[1], int(sys.argv[2])

# Warm the page cache once so neither side pays for cold disk reads.
subprocess.run("find runs -type f -exec cat {} + > /dev/null", shell=True, check=True)

# The anchor in its own process, so that its CPU time is measured as reev's is.
ANCHOR = """
import duckdb
con = duckdb.connect("anchor.duckdb")
con.execute("SET enable_progress_bar = false")  # its bar would go to stdout, which is read
con.execute(\"\"\"
    CREATE TABLE sessions AS SELECT * FROM read_json('runs/*/sessions/*/*.json',
        columns = {session_id: 'VARCHAR', run_id: 'VARCHAR', benchmark_id: 'VARCHAR', agent: 'VARCHAR',
                   status: 'VARCHAR', score: 'DOUBLE', duration_ms: 'BIGINT'})
\"\"\")
print(con.execute("SELECT count(*) FROM sessions").fetchone()[0])
con.close()
"""
anchor = measured([sys.executable, "-c", ANCHOR], stdout=subprocess.PIPE)
rows = int(anchor.stdout)
assert rows == n, rows

def cold():
    for f in ("reev.duckdb", "reev.duckdb.wal"):
        if os.path.exists(f):
            os.remove(f)
    return measured([reev, "-q", "load", "--db", "reev.duckdb", "--runs-dir", "runs"])

load = [reev, "-q", "load", "--db", "reev.duckdb", "--runs-dir", "runs"]
# Medians: this machine is shared and noisy. Each cold load starts from no database.
c = median([cold() for _ in range(3)])
noop = median([measured(load) for _ in range(5)])
out = subprocess.run([reev, "query", "--db", "reev.duckdb", "--format", "csv",
                      "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM assertions), (SELECT count(*) FROM events)"],
                     check=True, capture_output=True, text=True).stdout.splitlines()[1]
print(f"files: {n} session files; reev loaded sessions,assertions,events = {out}; load average {loadavg()}")
print(f"duckdb read_json, 7 columns, 1 table:      {anchor}")
print(f"reev load, cold, all tables (median of 3): {c}   ratio to read_json: wall {c.wall / anchor.wall:5.2f}, CPU {c.cpu / anchor.cpu:5.2f}")
print(f"reev load, no-op reload (median of 5):     {noop}   ratio to cold: wall {noop.wall / c.wall:5.2f}, CPU {noop.cpu / c.cpu:5.2f}")
judge(f"reev load of {n:,} files / duckdb read_json", c.cpu / anchor.cpu, 0.2, "ratio of CPU times", "x")
judge(f"no-op reload / cold load of {n:,} files", noop.cpu / c.cpu, 0.10, "ratio of CPU times", "x")
finish()
PY

if [ "$BIG" -gt 0 ]; then
  echo "generating $BIG session files..."
  rm -rf runs reev.duckdb*
  python3 "$here/gen_sessions.py" runs "$BIG" 5000
  python3 - "$REEV" "$BIG" <<'PY'
import resource, subprocess, sys, time
reev, n = sys.argv[1], int(sys.argv[2])
t = time.perf_counter()
subprocess.run([reev, "-q", "load", "--db", "big.duckdb", "--runs-dir", "runs"], check=True, stdout=subprocess.DEVNULL)
took = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"reev load of {n} sessions: {took:7.1f} s, peak memory {peak:6.0f} MiB (target < 500 MiB)")
PY
fi
