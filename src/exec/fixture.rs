//! A benchmark's fixtures: `setup:` before the agent and `teardown:` after it, each through
//! the agent's own spawn path (same environment, sandbox and scratch directory, own PID
//! namespace, the session's time limit, no stdin), recorded in the session file.
//!
//! What a setup starts in the background (a service on `REEV_PORT`) keeps running while the
//! agent and the teardown run: the setup's process group (with its PID namespace) is left
//! alive when the setup exits, and killed once the teardown is done — so nothing a fixture
//! starts outlives the session.

use std::path::Path;
use std::time::Duration;

use super::{output, process};
use crate::sandbox::namespace;
use crate::session::FixtureRun;

/// Bytes kept of a fixture's stdout and of its stderr (they are diagnostics, not results).
pub const FIXTURE_OUTPUT_CAP: usize = 64 * 1024;

/// What every process of one session shares.
pub struct Launch<'a> {
    pub env: &'a [(String, String)],
    pub cwd: &'a Path,
    pub timeout: Duration,
    pub grace: Duration,
    pub env_clear: bool,
    pub plan: Option<&'a namespace::Plan>,
}

/// One fixture's end: its record, the process group a setup left running, and whether reev
/// was interrupted meanwhile.
pub struct Ran {
    pub record: FixtureRun,
    pub group: Option<process::Lingering>,
    pub interrupted: bool,
}

/// Which fixture runs: they differ in what outlives them and in how a stop ends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Its background processes stay until [`Ran::group`] is killed with
    /// [`process::kill_group`]; a SIGINT/SIGTERM of reev stops it like an agent.
    Setup,
    /// Runs to its end (or its time limit) even after reev is asked to stop, so what setup
    /// made is undone; only a second signal kills it.
    Teardown,
}

/// Run one fixture (argv already expanded).
pub fn run(launch: &Launch, argv: Vec<String>, role: Role) -> Ran {
    let spawned = process::run(&process::Spawn {
        argv: &argv,
        env: launch.env,
        cwd: launch.cwd,
        stdin: &[],
        timeout: launch.timeout,
        grace: launch.grace,
        cap: FIXTURE_OUTPUT_CAP,
        env_clear: launch.env_clear,
        plan: launch.plan,
        linger: role == Role::Setup,
        through_stop: role == Role::Teardown,
    });
    let mut record = FixtureRun {
        command: argv,
        exit_code: None,
        signal: None,
        timed_out: false,
        duration_ms: 0,
        error: None,
        stdout: Default::default(),
        stderr: Default::default(),
    };
    match spawned {
        Ok(done) => {
            record.exit_code = done.exit_code;
            record.signal = done.signal;
            record.timed_out = done.timed_out;
            record.duration_ms = done.wall.as_millis() as u64;
            record.stdout = output(&done.stdout);
            record.stderr = output(&done.stderr);
            Ran {
                record,
                group: done.group,
                interrupted: done.interrupted,
            }
        }
        Err(e) => {
            record.error = Some(e.to_string());
            Ran {
                record,
                group: None,
                interrupted: false,
            }
        }
    }
}
