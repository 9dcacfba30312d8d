//! One agent process: its own process group (and PID namespace where available, see
//! `namespace`), concurrent capped capture, hard timeout, rusage.

use std::io::ErrorKind;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, PidfdFlags, Signal, WaitId, WaitIdOptions};

use super::interrupt;
use crate::sandbox::spawn::Started;

/// How long to keep reading output after the agent exited and its group was killed.
const DRAIN: Duration = Duration::from_millis(250);

pub struct Spawn<'a> {
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    pub cwd: &'a Path,
    pub stdin: &'a [u8],
    pub timeout: Duration,
    pub grace: Duration,
    /// Bytes kept of stdout and of stderr, each.
    pub cap: usize,
    /// Start from an empty environment instead of reev's (a sandbox's `env:` list).
    pub env_clear: bool,
    /// Namespaces and limits to start the agent in; `None`: a plain process group.
    pub plan: Option<&'a crate::sandbox::namespace::Plan>,
    /// A `setup:` fixture: when it exits, what it started keeps running (its process group
    /// is left alive, see `namespace::Plan::linger`) until [`kill_group`] after teardown.
    pub linger: bool,
    /// A `teardown:` fixture: a first SIGINT/SIGTERM of reev does not stop it (it cleans up
    /// after the session); a second one kills every group, this one too.
    pub through_stop: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Captured {
    pub bytes: Vec<u8>,
    pub total: u64,
    pub truncated: bool,
}

impl Captured {
    fn push(&mut self, chunk: &[u8], cap: usize) {
        self.total += chunk.len() as u64;
        let room = cap.saturating_sub(self.bytes.len());
        if chunk.len() > room {
            self.truncated = true;
        }
        self.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
}

#[derive(Debug)]
pub struct Finished {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// Set when reev itself was asked to stop while this process ran.
    pub interrupted: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub wall: Duration,
    pub user: Duration,
    pub system: Duration,
    pub peak_rss_bytes: u64,
    pub stdout: Captured,
    pub stderr: Captured,
    /// With `linger`: what was left running, for [`kill_group`].
    pub group: Option<Lingering>,
}

/// What a `linger` spawn left running: its process group and, when namespaced, its init
/// (still unreaped, on the stack `Started` owns).
pub struct Lingering {
    pgid: i32,
    init: Option<Started>,
    /// In a plain process group: the setup's exited leader, left unreaped (a zombie) so
    /// that its pid — the group's id — cannot be given to another process, whose group
    /// `kill_group` would then kill.
    zombie_leader: bool,
}

impl std::fmt::Debug for Lingering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lingering")
            .field("pgid", &self.pgid)
            .field("namespaced", &self.init.is_some())
            .finish()
    }
}

/// Kill what a `linger` spawn left running. The group id cannot have been reused: in a
/// plain process group the leader is still an unreaped zombie (reaped here, after the
/// kill), and a namespace's init is alive until killed here (and reaped when its `Started`
/// drops).
pub fn kill_group(left: Lingering) {
    signal_group(left.pgid, Signal::KILL);
    drop(left.init);
    if left.zombie_leader {
        if let Some(pid) = rustix::process::Pid::from_raw(left.pgid) {
            while let Err(rustix::io::Errno::INTR) =
                rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())
            {
            }
        }
    }
    interrupt::unregister_group(left.pgid);
}

/// Start the agent: in its namespaces (`spawn`), or, without a plan, as a plain process
/// group. Returns its pid (the process group's too), reev's ends of stdin, stdout and
/// stderr, and the namespaced start that `reap` completes.
#[allow(clippy::type_complexity)]
fn start(spec: &Spawn) -> std::io::Result<(i32, [OwnedFd; 3], Option<Started>)> {
    let (program, args) = spec
        .argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidInput, "empty command"))?;
    if let Some(plan) = spec.plan {
        let request = plan.request(spec.argv, &environment(spec), spec.cwd, spec.linger);
        let (started, fds) = crate::sandbox::spawn::spawn(&request, plan)?;
        return Ok((started.pid, fds, Some(started)));
    }
    let mut cmd = Command::new(program);
    if spec.env_clear {
        cmd.env_clear();
    }
    for held in super::secrets::held() {
        cmd.env_remove(held);
    }
    cmd.args(args)
        .current_dir(spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn()?;
    let piped = || std::io::Error::other("the agent's pipes were not created");
    let fds = [
        OwnedFd::from(child.stdin.take().ok_or_else(piped)?),
        OwnedFd::from(child.stdout.take().ok_or_else(piped)?),
        OwnedFd::from(child.stderr.take().ok_or_else(piped)?),
    ];
    Ok((child.id() as i32, fds, None))
}

/// The program's environment: reev's (or none, with a sandbox's `env:`), then the session's.
/// Variables that are not UTF-8 are left out (the request is JSON).
fn environment(spec: &Spawn) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = if spec.env_clear {
        Vec::new()
    } else {
        super::secrets::inherited()
    };
    for (k, v) in spec.env {
        env.retain(|(key, _)| key != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

/// Run one process to completion. `Err` means it could not be started.
pub fn run(spec: &Spawn) -> std::io::Result<Finished> {
    let started_at = Utc::now();
    let started = Instant::now();
    let (pid, [stdin, out, err], mut namespaced) = start(spec)?;
    interrupt::register_group(pid);

    let mut stdin = Some(stdin);
    let mut out = Some(out);
    let mut err = Some(err);
    for fd in [&stdin, &out, &err].into_iter().flatten() {
        set_nonblocking(fd);
    }
    if spec.stdin.is_empty() {
        stdin = None;
    }
    let pidfd = pidfd_open(pid);

    let mut f = Finished {
        exit_code: None,
        signal: None,
        timed_out: false,
        interrupted: false,
        started_at,
        finished_at: started_at,
        wall: Duration::ZERO,
        user: Duration::ZERO,
        system: Duration::ZERO,
        peak_rss_bytes: 0,
        stdout: Captured::default(),
        stderr: Captured::default(),
        group: None,
    };
    let deadline = started + spec.timeout;
    let mut written = 0usize;
    let mut kill_at: Option<Instant> = None;
    let mut reaped = false;
    let mut drain_until: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];

    loop {
        let now = Instant::now();
        if reaped && (out.is_none() && err.is_none() || drain_until.is_some_and(|d| now >= d)) {
            break;
        }
        // Decide what to wait for and for how long.
        let mut wait_until = if reaped {
            drain_until.unwrap_or(now)
        } else {
            kill_at.unwrap_or(deadline)
        };
        if pidfd.is_none() && !reaped {
            wait_until = wait_until.min(now + Duration::from_millis(5));
        }
        let timeout_ms = wait_until
            .saturating_duration_since(now)
            .as_millis()
            .min(60_000) as i32;

        let mut fds: Vec<PollFd> = Vec::with_capacity(6);
        let i_out = out
            .as_ref()
            .map(|fd| slot(&mut fds, fd.as_fd(), PollFlags::IN));
        let i_err = err
            .as_ref()
            .map(|fd| slot(&mut fds, fd.as_fd(), PollFlags::IN));
        let i_in = stdin
            .as_ref()
            .map(|fd| slot(&mut fds, fd.as_fd(), PollFlags::OUT));
        let i_pid = match (&pidfd, reaped) {
            (Some(fd), false) => Some(slot(&mut fds, fd.as_fd(), PollFlags::IN)),
            _ => None,
        };
        let i_status = match (&namespaced, spec.linger && !reaped) {
            (Some(init), true) => Some(slot(&mut fds, init.status_fd(), PollFlags::IN)),
            _ => None,
        };
        let i_wake = match (
            interrupt::wake_fd(),
            f.interrupted || reaped || spec.through_stop,
        ) {
            (Some(fd), false) => Some(slot(&mut fds, fd, PollFlags::IN)),
            _ => None,
        };
        let timeout = rustix::event::Timespec {
            tv_sec: i64::from(timeout_ms / 1000),
            tv_nsec: i64::from(timeout_ms % 1000) * 1_000_000,
        };
        if let Err(e) = rustix::event::poll(&mut fds, Some(&timeout)) {
            if e != rustix::io::Errno::INTR {
                tracing::warn!(pid, "poll failed: {e}");
                std::thread::sleep(Duration::from_millis(5));
            }
            continue;
        }
        let revents: Vec<bool> = fds.iter().map(|p| !p.revents().is_empty()).collect();
        drop(fds);
        let ready = |i: Option<usize>| i.is_some_and(|i| revents[i]);

        if ready(i_out) && drain(&mut out, &mut f.stdout, &mut buf, spec.cap) {
            out = None;
        }
        if ready(i_err) && drain(&mut err, &mut f.stderr, &mut buf, spec.cap) {
            err = None;
        }
        if ready(i_in) {
            if let Some(fd) = &stdin {
                match rustix::io::write(fd, &spec.stdin[written..]) {
                    Ok(k) => written += k,
                    Err(rustix::io::Errno::AGAIN) => {}
                    Err(_) => written = spec.stdin.len(), // EPIPE: the agent closed stdin
                }
                if written >= spec.stdin.len() {
                    stdin = None;
                }
            }
        }
        if ready(i_wake) && !f.interrupted {
            f.interrupted = true;
            signal_group(pid, Signal::TERM);
            kill_at = Some(Instant::now() + spec.grace);
        }

        let exited = if reaped {
            false
        } else if pidfd.is_some() {
            ready(i_pid)
        } else {
            has_exited(pid)
        };
        // A lingering setup's init reports its command's end through the status pipe and
        // stays; one that timed out or was interrupted ends like any other process.
        let lingers = spec.linger && !f.timed_out && !f.interrupted;
        let setup_ended = !exited && lingers && ready(i_status);
        let now = Instant::now();
        if exited || setup_ended {
            f.wall = now - started;
            f.finished_at = Utc::now();
            let keep = lingers && (setup_ended || namespaced.is_none());
            f.group = settle(pid, keep, &mut f, &mut namespaced);
            reaped = true;
            stdin = None;
            drain_until = Some(now + DRAIN);
            continue;
        }
        if !reaped {
            if kill_at.is_none() && now >= deadline {
                f.timed_out = true;
                signal_group(pid, Signal::TERM);
                kill_at = Some(now + spec.grace);
            } else if kill_at.is_some_and(|k| now >= k) {
                signal_group(pid, Signal::KILL);
                kill_at = Some(now + Duration::from_secs(3600));
            }
        }
    }
    // A lingering setup's background processes may hold its pipes: expected, not a warning.
    if (out.is_some() || err.is_some()) && f.group.is_none() {
        tracing::warn!(
            pid,
            "output pipe still held open by a process outside the agent's process group; stopped reading"
        );
    }
    Ok(f)
}

/// Read everything available; true at end of file.
fn drain(fd: &mut Option<OwnedFd>, cap_to: &mut Captured, buf: &mut [u8], cap: usize) -> bool {
    let Some(owned) = fd.as_ref() else {
        return true;
    };
    loop {
        match rustix::io::read(owned, &mut *buf) {
            Ok(0) => return true,
            Ok(k) => cap_to.push(&buf[..k], cap),
            Err(rustix::io::Errno::AGAIN) => return false,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return true,
        }
    }
}

/// One more descriptor to poll; its index.
fn slot<'a>(fds: &mut Vec<PollFd<'a>>, fd: BorrowedFd<'a>, events: PollFlags) -> usize {
    fds.push(PollFd::from_borrowed_fd(fd, events));
    fds.len() - 1
}

fn signal_group(pgid: i32, sig: Signal) {
    // ESRCH (the group is gone) is fine.
    if let Some(pgid) = Pid::from_raw(pgid) {
        let _ = rustix::process::kill_process_group(pgid, sig);
    }
}

/// The process (or its init) ended, or a lingering setup's command did: record how, and kill
/// what it left behind — unless `keep`, then return what [`kill_group`] ends after teardown.
fn settle(
    pid: i32,
    keep: bool,
    f: &mut Finished,
    namespaced: &mut Option<Started>,
) -> Option<Lingering> {
    if !keep {
        // The leader is a zombie until reaped, so its process group id cannot be reused:
        // kill whatever it left behind before reaping it.
        signal_group(pid, Signal::KILL);
        reap(pid, f, namespaced.as_mut());
        interrupt::unregister_group(pid);
        return None;
    }
    let init = namespaced.take();
    match &init {
        // The init stays, unreaped, with its namespace: the status comes from its socket.
        Some(started) => {
            if let Some(status) = started.agent_status() {
                record_status(status, f);
            }
        }
        // The leader's status is read, but the leader stays a zombie until `kill_group`.
        None => peek_status(pid, f),
    }
    let zombie_leader = init.is_none();
    Some(Lingering {
        pgid: pid,
        init,
        zombie_leader,
    })
}

/// How an exited process ended, leaving it unreaped (`waitid` with `WNOWAIT`).
fn peek_status(pid: i32, f: &mut Finished) {
    let Some(p) = rustix::process::Pid::from_raw(pid) else {
        return;
    };
    let options = rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOWAIT;
    loop {
        match rustix::process::waitid(rustix::process::WaitId::Pid(p), options) {
            Ok(Some(st)) => {
                f.exit_code = st.exit_status();
                f.signal = st.terminating_signal();
                return;
            }
            Err(rustix::io::Errno::INTR) => continue,
            Ok(None) | Err(_) => {
                tracing::warn!(pid, "waitid found no exited setup process");
                return;
            }
        }
    }
}

fn record_status(status: libc::c_int, f: &mut Finished) {
    if libc::WIFEXITED(status) {
        f.exit_code = Some(libc::WEXITSTATUS(status));
    } else if libc::WIFSIGNALED(status) {
        f.signal = Some(libc::WTERMSIG(status));
    }
}

/// Wait for the agent's process (the init, when namespaced) with its rusage; a namespace's
/// init reports the agent's own status, which is what the session records.
fn reap(pid: i32, f: &mut Finished, namespaced: Option<&mut Started>) {
    let mut status: libc::c_int = 0;
    let mut slot = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    let ru = loop {
        // SAFETY: valid pointers to status and rusage; zero is a valid rusage, and wait4
        // fills it in on success (neither rustix nor std returns a child's rusage).
        let (r, ru) = unsafe {
            (
                libc::wait4(pid, &mut status, 0, slot.as_mut_ptr()),
                slot.assume_init(),
            )
        };
        if r == pid {
            break ru;
        }
        if r < 0 && std::io::Error::last_os_error().kind() == ErrorKind::Interrupted {
            continue;
        }
        tracing::warn!(pid, "wait4 failed: {}", std::io::Error::last_os_error());
        return;
    };
    if let Some(started) = namespaced {
        started.reaped();
        status = started.agent_status().unwrap_or(status);
    }
    record_status(status, f);
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    f.user = tv(ru.ru_utime);
    f.system = tv(ru.ru_stime);
    f.peak_rss_bytes = (ru.ru_maxrss as u64) * 1024;
}

/// Without a pidfd: has the process exited? (WNOWAIT leaves it to `reap`.)
fn has_exited(pid: i32) -> bool {
    let Some(p) = Pid::from_raw(pid) else {
        return true;
    };
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    matches!(
        rustix::process::waitid(WaitId::Pid(p), options),
        Ok(Some(_))
    )
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    rustix::process::pidfd_open(Pid::from_raw(pid)?, PidfdFlags::empty()).ok()
}

fn set_nonblocking(fd: impl AsFd) {
    if let Ok(flags) = rustix::fs::fcntl_getfl(&fd) {
        let _ = rustix::fs::fcntl_setfl(&fd, flags | rustix::fs::OFlags::NONBLOCK);
    }
}
