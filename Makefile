# reev — build, run the shipped suite, test, benchmark.
# Everything builds in release mode only: the bundled DuckDB then compiles once, not twice.
# CARGO_TARGET_DIR defaults to a cache outside the clone so fresh clones reuse the build.

CARGO_TARGET_DIR ?= $(HOME)/.cache/reev/target
export CARGO_TARGET_DIR
CARGO ?= cargo
REEV := $(CARGO_TARGET_DIR)/release/reev

.PHONY: all build run test test-heavy test-browser lint fmt bench clean-runs dev-deps

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

## Python's duckdb package: a second real DuckDB process in tests, and the anchor in benchmarks.
dev-deps:
	@python3 -c 'import duckdb, xmlschema' 2>/dev/null || python3 -m pip install --quiet -r requirements-dev.txt

## The test suite: unit tests and integration tests through the built binary.
test: dev-deps
	$(CARGO) test --release --locked

## Render a report in headless Chromium, where Chromium is installed.
test-browser: build
	bash tests/browser.sh $(REEV)

## Slow and heavy tests, kept out of `make test`.
test-heavy:
	$(CARGO) test --release --locked -- --ignored

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

## Benchmarks, each compared side by side with its anchor in one invocation.
bench: build dev-deps
	bash bench/run_vs_xargs.sh $(REEV)
	bash bench/run_sandbox_vs_xargs.sh $(REEV)
	bash bench/load_vs_read_json.sh $(REEV)
	bash bench/load_scale.sh $(REEV)
	bash bench/report_1m.sh $(REEV)

clean-runs:
	rm -rf runs/*/ reports/*/
