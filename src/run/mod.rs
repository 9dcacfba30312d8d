//! Running a plan: the shard's cost budget, the retry policy and the per-run status log
//! that `status`, `--resume` and retries read.

pub mod budget;
pub mod retry;
pub mod status_log;
