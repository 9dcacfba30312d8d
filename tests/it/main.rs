//! The one integration test binary (as ripgrep's `tests/integration`): every test drives the
//! built `reev` as a user would. One binary links DuckDB once, where one per file linked it
//! two dozen times.

mod common;

mod batch;
mod calibrate;
mod config;
mod export;
mod gateway;
mod list;
mod load;
mod load_store;
mod otlp;
mod query;
mod readme;
mod report;
mod report_completeness;
mod report_errors;
mod run;
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
