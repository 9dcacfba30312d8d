#!/bin/sh
# Lines (wc -l) per top-level entry of src/ (a directory's .rs files summed; a top-level file
# on its own), the total, the workspace crates, and the 10 largest .rs files.
# usage: sh loc.sh REPO
R=${1:-.}
cd "$R" || exit 1
echo "per top-level module of src/ (wc -l):"
for e in src/*; do
  if [ -d "$e" ]; then n=$(find "$e" -name '*.rs' -exec cat {} + | wc -l); echo "$n $e/"
  else case "$e" in *.rs) echo "$(wc -l < "$e") $e";; esac; fi
done | sort -rn | awk '{printf "  %6d %s\n", $1, $2}'
echo "  total src: $(find src -name '*.rs' -exec cat {} + | wc -l) lines in $(find src -name '*.rs' | wc -l) files"
for c in crates/*; do [ -d "$c" ] && echo "  $c: $(find "$c" -name '*.rs' -exec cat {} + | wc -l) lines in $(find "$c" -name '*.rs' | wc -l) files"; done
echo "largest 10 .rs files (src and crates):"
find src crates -name '*.rs' 2>/dev/null | xargs wc -l | grep -v ' total$' | sort -rn | head -10 | awk '{printf "  %6d %s\n", $1, $2}'
