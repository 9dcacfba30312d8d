#!/bin/sh
# Every structure count of docs/ARCHITECTURE.md for one checkout. usage: sh tools/counts/all.sh REPO
# An older commit: mkdir /tmp/old && git archive COMMIT | tar -x -C /tmp/old; then sh tools/counts/all.sh /tmp/old
R=${1:?repo}; D=$(dirname "$0")
echo "### 1 circles";        python3 $D/circles.py "$R" --why; python3 $D/circles.py "$R" --no-tests | grep -v '^  '
echo "### 2 flags";          python3 $D/flags.py "$R/src"
echo "### 3 string kinds";   python3 $D/strkinds.py "$R/src"
echo "### 4 long fns";       python3 $D/longfns.py "$R/src" $( [ -d "$R/crates" ] && echo "$R/crates" ) --comments
echo "### 5 unsafe";         python3 $D/unsafe_count.py "$R/src" $( [ -d "$R/crates/reev-sandbox" ] && echo "$R/crates/reev-sandbox" ) --files
echo "### 6 test binaries";  sh $D/testbins.sh "$R"
echo "### 7 loc";            sh $D/loc.sh "$R"
