//! Judging a session: pure functions over its final state (the scratch directory, the
//! captured output, the trace) that turn a benchmark's assertions into results and a score.
//! Verifier commands are the one part that runs a process; everything else is testable
//! without one.

pub mod assertions;
pub mod caps;
pub mod events;
pub mod json_at;
pub mod trace_checks;
pub mod verify;
