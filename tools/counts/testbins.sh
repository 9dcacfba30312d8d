#!/bin/sh
# Integration test binaries cargo builds: tests/*.rs plus tests/*/main.rs, and any [[test]]
# targets / autotests setting in Cargo.toml (printed for checking).
# usage: sh testbins.sh REPO
R=${1:-.}
n=$( (ls "$R"/tests/*.rs 2>/dev/null; ls "$R"/tests/*/main.rs 2>/dev/null) | wc -l)
echo "test binaries: $n"
(ls "$R"/tests/*.rs 2>/dev/null; ls "$R"/tests/*/main.rs 2>/dev/null) | sed "s|^$R/|  |"
grep -n '^\[\[test\]\]\|autotests' "$R"/Cargo.toml "$R"/crates/*/Cargo.toml 2>/dev/null
for c in "$R"/crates/*; do [ -d "$c/tests" ] && echo "  $c/tests: $(ls $c/tests/*.rs 2>/dev/null | wc -l) .rs files"; done
echo "test modules under tests/*/ (one binary each dir): $(find "$R"/tests -mindepth 2 -name '*.rs' | wc -l) files"
