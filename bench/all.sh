#!/usr/bin/env bash
# Run every bench script to the end, even after one misses or breaks, then list every miss
# (each script's MISSED lines, or that it failed without judging) and exit 1 if there was any.
#
# usage: all.sh PATH_TO_REEV [SCRIPT...]   (default: every script `make bench` names)
# RUN_TMPDIRS: where the run benchmarks put their runs trees, each judged (the Makefile's
# BENCH_TMPDIR: tmpfs and the disk).
set -uo pipefail
REEV="$(realpath "${1:?usage: all.sh PATH_TO_REEV [SCRIPT...]}")"
shift
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -gt 0 ]; then scripts=("$@"); else
  scripts=(run_vs_xargs.sh run_sandbox_vs_xargs.sh load_vs_read_json.sh load_scale.sh
           report_1m.sh status_1k.sh gate_noise.sh otlp_receive.sh gateway.py)
fi
log="$(mktemp "${TMPDIR:-/tmp}/reev-bench-all.XXXXXX")"
trap 'rm -f "$log"' EXIT
misses=()
for s in "${scripts[@]}"; do
  dirs=("${TMPDIR:-/tmp}")
  case "$s" in run_*) read -r -a dirs <<< "${RUN_TMPDIRS:-${TMPDIR:-/tmp}}" ;; esac
  for dir in "${dirs[@]}"; do
    echo "== bench/$s (TMPDIR=$dir)"
    case "$s" in *.py) run=(python3 "$here/$s") ;; *) run=(bash "$here/$s") ;; esac
    TMPDIR="$dir" "${run[@]}" "$REEV" | tee "$log"
    code=${PIPESTATUS[0]}
    while IFS= read -r line; do misses+=("$s ($dir): ${line#MISSED  }"); done < <(grep '^MISSED' "$log")
    if [ "$code" -ne 0 ] && ! grep -q '^MISSED' "$log"; then
      misses+=("$s ($dir): exited $code without judging a target (broken?)")
    fi
  done
done
echo
if [ ${#misses[@]} -eq 0 ]; then
  echo "make bench: every target met"
  exit 0
fi
echo "make bench: ${#misses[@]} missed:"
printf '  %s\n' "${misses[@]}"
exit 1
