//! reev as a library: everything the `reev` binary does, for the binary and for tests.
//! `app` is the entry point; the rest are the rooms it calls (see docs/ARCHITECTURE.md).

pub mod app;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod digest;
pub mod duration;
pub mod error;
pub mod exec;
pub mod export;
pub mod gateway;
pub mod judge;
pub mod listener;
pub mod lock;
pub mod logging;
pub mod machine;
pub mod manifest;
pub mod otlp;
pub mod plan;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod session;
pub mod settings;
pub mod show;
pub mod spec;
pub mod stats;
pub mod store;
pub mod term;
pub mod timestamp;
