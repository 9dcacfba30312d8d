#!/usr/bin/env bash
# Render a real report.html of three runs of the shipped suite in headless Chromium and keep
# two screenshots to look at: the top (tables, trend charts, histograms) and the failures
# with their traces. Runs where Chromium is installed (apt-get install chromium); says so and
# skips elsewhere.
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
for n in 1 2 3; do  # three runs, so the trend charts have lines
  "$REEV" -q run --runs-dir "$work/runs" --attempts 2 --jobs 4 --run-id "browser-$n" > /dev/null
done
"$REEV" -q load --runs-dir "$work/runs" --db "$work/reev.duckdb" > /dev/null
"$REEV" -q report --db "$work/reev.duckdb" --out "$work/reports" --format html > /dev/null
page="file://$work/reports/browser-3/report.html"
shot() {  # shot NAME URL
  "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" --window-size=1280,2400 --hide-scrollbars \
    --screenshot="$work/$1.png" "$2" 2> "$work/chromium.log" || {
    cat "$work/chromium.log" >&2; exit 1; }
  size=$(stat -c %s "$work/$1.png")
  [ "$size" -gt 30000 ] || { echo "test-browser: screenshot $1 too small (blank?) ($size bytes)" >&2; exit 1; }
}
shot report "$page"
# The failures come last on a long page: render a copy without the sections before them
# (a fragment URL does not scroll a headless screenshot).
sed '/<h2>Regressions<\/h2>/,/<a id=failures>/{/<a id=failures>/!d}' \
  "$work/reports/browser-3/report.html" > "$work/reports/browser-3/failures.html"
shot failures "file://$work/reports/browser-3/failures.html"
mkdir -p "$root/reports"
cp "$work/report.png" "$root/reports/browser-screenshot.png"
cp "$work/failures.png" "$root/reports/browser-screenshot-failures.png"
echo "test-browser: 1 passed, 0 failed (look at reports/browser-screenshot.png and reports/browser-screenshot-failures.png)"
