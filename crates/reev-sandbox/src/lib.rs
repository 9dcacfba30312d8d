//! reev-sandbox: the session init (`reev-init`) and the typed messages between it and reev.
//!
//! Every namespaced process of a session — agent, setup, teardown, verifier — is started by
//! `reev-init` (a small program beside reev's own executable): reev sends one [`Request`]
//! with the process's stdin, stdout and stderr over a socket, to the worker's zygote or to one
//! of its resident inits, and reads [`Status`] messages back. Both types are defined here, once, for both sides.
//! The init's work (namespaces, mounts, PID 1) lives in [`init`]; the few system calls no
//! safe wrapper covers live in `sys`, each `unsafe` block with its SAFETY comment.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod init;
pub mod message;
mod sys;

pub use message::{IdMaps, Mounts, Network, Request, Resource, Rlimit, Status, Step, Usage};
