#!/usr/bin/env bash
# Render a real report.html in headless Chromium and check a screenshot is produced.
# Runs where Chromium is installed (apt-get install chromium); says so and skips elsewhere.
set -euo pipefail
REEV="$(realpath "${1:?usage: browser.sh PATH_TO_REEV}")"
root="$(cd "$(dirname "$0")/.." && pwd)"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -z "$browser" ]; then
  echo "test-browser: no Chromium found; skipped (apt-get install chromium to run it)"
  exit 0
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/reev-browser.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$root"
"$REEV" -q run --runs-dir "$work/runs" --attempts 2 --run-id browser > /dev/null
"$REEV" -q load --runs-dir "$work/runs" --db "$work/reev.duckdb" > /dev/null
"$REEV" -q report --db "$work/reev.duckdb" --out "$work/reports" --format html > /dev/null
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" --window-size=1280,2000 \
  --screenshot="$work/report.png" "file://$work/reports/browser/report.html" 2> "$work/chromium.log" || {
  cat "$work/chromium.log" >&2; exit 1; }
size=$(stat -c %s "$work/report.png")
[ "$size" -gt 10000 ] || { echo "test-browser: screenshot too small ($size bytes)" >&2; exit 1; }
mkdir -p "$root/reports"
cp "$work/report.png" "$root/reports/browser-screenshot.png"
echo "test-browser: 1 passed, 0 failed (screenshot: reports/browser-screenshot.png, $size bytes)"
