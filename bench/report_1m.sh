#!/usr/bin/env bash
# reev report on a database of N (default 1,000,000) generated sessions, timed, with the time
# split between queries and rendering (target: under 3 s in all). The schema comes from
# `reev load` itself; the rows are generated inside DuckDB with SQL, which is much faster than
# writing a million files first (the file path is measured by load_vs_read_json.sh).
set -euo pipefail
REEV="$(realpath "${1:?usage: report_1m.sh PATH_TO_REEV [N]}")"
N="${2:-1000000}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/reev-report-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install --quiet -r "$here/../requirements-dev.txt"
mkdir runs
"$REEV" -q load --db big.duckdb --runs-dir runs > /dev/null || true
python3 - "$N" <<'PY'
import sys, time
import duckdb
n = int(sys.argv[1])
per_run = 5000
t = time.perf_counter()
con = duckdb.connect("big.duckdb")
con.execute(f"""
INSERT INTO sessions
SELECT printf('%024x', i) AS session_id,
       printf('run%05d', i // {per_run}) AS run_id,
       printf('bench.%03d', i % 50) AS benchmark_id,
       repeat('0', 64),
       printf('agent%d', (i // 50) % 4) AS agent,
       '["true"]',
       (i // 200) % 5 + 1 AS attempt,
       CASE WHEN hash(i) % 10 < 8 THEN 'succeeded' WHEN hash(i) % 10 < 9 THEN 'failed' ELSE 'timed_out' END,
       CASE WHEN hash(i) % 10 < 8 THEN 1.0 ELSE 0.5 END, 1.0, 2, 2, 0, NULL, NULL,
       TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND,
       TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND + INTERVAL 1 SECOND,
       100 + hash(i * 7) % 2000, 60000, 12, 3, 10000000 + hash(i) % 1000000,
       'ok', 3, false, '', 0, false, 2, 0, 'bench', '0.1.0', repeat('0', 64),
       NULL, NULL, NULL,                                   -- psi_*_ms
       1000 + hash(i) % 500, 100, (1000 + hash(i) % 500) * 0.0000006 + 0.00022   -- tokens, cost_usd
FROM range({n}) t(i)
""")
con.execute(f"""
INSERT INTO assertions
SELECT s.session_id, j, CASE j WHEN 0 THEN 'exit_code' ELSE 'json_value' END, NULL, 1.0,
       s.status = 'succeeded' OR j = 0, '70', '40', 'ledger.json /accounts/alice'
FROM sessions s, range(2) r(j)
""")
con.close()
print(f"generated {n} sessions and {2 * n} assertions in {time.perf_counter() - t:.1f} s")
PY
start=$(date +%s.%N)
"$REEV" -v report --db big.duckdb --out reports 2> report.log > /dev/null
end=$(date +%s.%N)
grep -o 'queries [0-9]* ms, rendering [0-9]* ms' report.log | head -1 | sed 's/^/split: /'
python3 -c "import sys; print(f'reev report on {int(sys.argv[3])} sessions: {float(sys.argv[2]) - float(sys.argv[1]):.2f} s wall (target < 3 s)')" "$start" "$end" "$N"
ls -la reports/latest/ | grep -E "report|junit"
