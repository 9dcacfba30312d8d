//! reev-sandbox: the session init (`reev-init`) and the typed messages between it and reev.
//!
//! reev starts `reev-init` (a small program beside its own executable) for every namespaced
//! process of a session — agent, setup, teardown, verifier — and sends it one [`Request`]
//! with the process's stdin, stdout and stderr over a socket; `reev-init` answers with
//! [`Status`] messages on the same socket. Both types are defined here, once, for both sides.
//! The init's work (namespaces, mounts, PID 1) lives in [`init`]; the few system calls no
//! safe wrapper covers live in `sys`, each `unsafe` block with its SAFETY comment.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod init;
pub mod message;
mod sys;

pub use message::{IdMaps, Mounts, Network, Request, Resource, Rlimit, Status, Step, Usage};
