//! The one integration test binary (as ripgrep's `tests/integration`): every test drives the
//! built `reev` as a user would. One binary links DuckDB once, where one per file linked it
//! two dozen times.

// The package denies undocumented unsafe blocks (see Cargo.toml's [lints]); the tests' few
// libc calls (kill, wait4, flock on their own children and files) are not reev's code.
#![allow(clippy::undocumented_unsafe_blocks)]

mod common;

mod batch;
mod calibrate;
mod compare;
mod config;
mod examples;
mod export;
mod gateway;
mod list;
mod load;
mod load_store;
mod load_tries;
mod matrix;
mod otlp;
mod query;
mod readme;
mod report;
mod report_completeness;
mod report_errors;
mod report_gate;
mod resume_commands;
mod run;
mod run_contain;
mod run_cost;
mod run_fixtures;
mod run_openai_agent;
mod run_recovery;
mod run_retry;
mod run_sandbox;
mod run_verify;
mod show;
mod status;
mod validate;
mod viewer;
