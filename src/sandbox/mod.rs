//! Containment: what a session's processes can see and reach. `prepare` turns a benchmark's
//! `sandbox:` and reev's default results protection into a [`namespace::Plan`]; `spawn`
//! hands each process to the `reev-init` program (crate `reev-sandbox`), which alone runs
//! the namespace set-up; `netns` keeps one empty network namespace per worker; `beneath`
//! reads agent-controlled directories without following their links out.

pub mod beneath;
mod error;
pub mod namespace;
pub mod netns;
pub mod prepare;
pub mod spawn;

pub use error::SandboxError;
