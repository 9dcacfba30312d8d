# reev — build, run the shipped suite, test, benchmark.
# Everything builds in release mode only: the bundled DuckDB then compiles once, not twice.
# CARGO_TARGET_DIR defaults to a cache outside the clone so fresh clones reuse the build.

CARGO_TARGET_DIR ?= $(HOME)/.cache/reev/target
export CARGO_TARGET_DIR
CARGO ?= cargo
REEV := $(CARGO_TARGET_DIR)/release/reev

# Python for the test and benchmark dependencies: a virtual environment that `make dev-deps`
# creates once and reuses (stock Debian/Ubuntu Python refuses `pip install` outside one).
# PYTHON creates it; VENV is where it lives. The shipped agents keep plain `python3`.
PYTHON ?= python3
VENV ?= $(HOME)/.cache/reev/venv
VENV_PYTHON := $(VENV)/bin/python3
# Tests that drive Python's duckdb or xmlschema run this interpreter (tests/common: python()).
export REEV_TEST_PYTHON := $(abspath $(VENV_PYTHON))

# `make install`: copy the built binaries into $(PREFIX)/bin (no rebuild when they are
# current): reev and reev-init, the session init it finds beside itself.
PREFIX ?= $(HOME)/.local

.PHONY: all build run test test-heavy test-browser lint fmt bench clean-runs dev-deps install

all: build

build:
	$(CARGO) build --release --locked

## Build, then run the shipped suite end to end: validate, run, load, and a first look.
run: build
	$(REEV) validate
	$(REEV) run --attempts 2
	$(REEV) load
	$(REEV) report
	$(REEV) query "SELECT * FROM agent_performance ORDER BY agent"

## Put the built reev on PATH: $(PREFIX)/bin/reev (default ~/.local/bin/reev).
install: build
	install -d $(PREFIX)/bin
	install -m 0755 $(REEV) $(PREFIX)/bin/reev
	install -m 0755 $(dir $(REEV))reev-init $(PREFIX)/bin/reev-init
	@case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; *) echo "add $(PREFIX)/bin to PATH: export PATH=\"$(PREFIX)/bin:\$$PATH\"";; esac

## Python's duckdb and xmlschema in a virtual environment: a second real DuckDB process in
## tests, the JUnit schema check, and the anchor in benchmarks. Re-installed when
## requirements-dev.txt changes.
dev-deps: $(VENV)/.requirements-dev.txt

$(VENV)/.requirements-dev.txt: requirements-dev.txt
	@test -x $(VENV_PYTHON) || $(PYTHON) -m venv $(VENV) || { \
	  echo "cannot create a virtual environment with $(PYTHON); on Debian/Ubuntu: apt-get install python3-venv" >&2; \
	  rm -rf $(VENV); exit 1; }
	$(VENV_PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	cp requirements-dev.txt $@

## The test suite: unit tests and integration tests through the built binary.
test: dev-deps
	$(CARGO) test --release --locked --workspace

## Render a report in headless Chromium, where Chromium is installed.
test-browser: build
	bash tests/browser.sh $(REEV)

## Slow and heavy tests, kept out of `make test`.
test-heavy: dev-deps
	PATH="$(abspath $(VENV))/bin:$$PATH" $(CARGO) test --release --locked -- --ignored

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

## Where the run benchmarks put their runs trees: tmpfs judges what reev adds to starting a
## process (namespaces, sandbox, capture, the session file); the disk adds each flush of the
## session files (group-committed, see exec/commit.rs). `make bench` judges both; set
## BENCH_TMPDIR to one directory to measure only there.
BENCH_TMPDIR ?= $(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm) /tmp

## Benchmarks, each compared side by side with its anchor in one invocation; every script
## runs to the end and every missed target is listed at the end (bench/all.sh).
## (The venv's python3 comes first on PATH: the anchors use Python's duckdb.)
bench: build dev-deps
	PATH="$(abspath $(VENV))/bin:$$PATH" RUN_TMPDIRS="$(BENCH_TMPDIR)" bash bench/all.sh $(REEV)

clean-runs:
	rm -rf runs/*/ reports/*/
