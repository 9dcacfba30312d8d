//! reev's side of starting a namespaced session process (see `namespace`): `reev-init` is
//! started with std's `Command` (posix_spawn: no page table of reev copied, no code of
//! reev's run in the child), in a process group of its own, with the environment the
//! process is to have; one [`Request`](reev_sandbox::Request) and the process's stdio go
//! to it over a socket, and reev waits for `Started` (the program has exec'd) or `Failed`.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use reev_sandbox::{message, Status, Step};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use super::namespace::{self, Plan};
use super::process::Spawn;

/// A started session process: its outer init's pid (also its process group) and the socket
/// on which the init reports.
pub struct Started {
    pub pid: libc::pid_t,
    socket: OwnedFd,
    /// Not yet waited for: dropping kills and reaps it.
    unreaped: bool,
}

impl Started {
    /// The init has been reaped.
    pub fn reaped(&mut self) {
        self.unreaped = false;
    }

    /// Readable when the init has reported the program's end (or is gone): how a lingering
    /// setup's init, which does not exit, tells that its command ended.
    pub fn status_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// The program's raw wait status, as the init reported it (None: the init was killed
    /// before it could).
    pub fn agent_status(&self) -> Option<i32> {
        loop {
            match message::recv_status(&self.socket) {
                Ok(Some(Status::Exited { status })) => return Some(status),
                Ok(Some(_)) => continue,
                _ => return None,
            }
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if self.unreaped {
            // An init still runs (reev is unwinding, or a lingering setup is over): its
            // death ends its PID namespace and all in it.
            let Some(pid) = rustix::process::Pid::from_raw(self.pid) else {
                return;
            };
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            while let Err(rustix::io::Errno::INTR) =
                rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())
            {}
        }
    }
}

/// Start `spec`'s program through `reev-init` in the namespaces of `plan`. Returns once it
/// has exec'd, with reev's ends of its stdin, stdout and stderr.
pub fn spawn(spec: &Spawn, plan: &Plan) -> io::Result<(Started, [OwnedFd; 3])> {
    let init = namespace::init_program().map_err(io::Error::other)?;
    let (ours, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let (stdin_r, stdin_w) = pipe()?;
    let (stdout_r, stdout_w) = pipe()?;
    let (stderr_r, stderr_w) = pipe()?;
    let mut cmd = Command::new(init);
    if spec.env_clear {
        cmd.env_clear();
    }
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::from(theirs))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0);
    let child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start {}: {e}", init.display())))?;
    let mut started = Started {
        pid: child.id() as libc::pid_t,
        socket: ours,
        unreaped: true,
    };
    drop(cmd); // closes the init's end of the socket here
    let request = plan.request(spec.argv, spec.cwd, spec.linger);
    let mut fds: Vec<BorrowedFd> = vec![stdin_r.as_fd(), stdout_w.as_fd(), stderr_w.as_fd()];
    fds.extend(plan.netns());
    message::send_request(&started.socket, &request, &fds)?;
    drop(fds);
    drop((stdin_r, stdout_w, stderr_w));
    match message::recv_status(&started.socket)? {
        Some(Status::Started { .. }) => Ok((started, [stdin_w, stdout_r, stderr_r])),
        Some(Status::Failed {
            step,
            errno,
            message,
        }) => {
            drop(started); // kills and reaps the init
            // An exec failure reads as std's would ("No such file or directory"); others
            // say which step of entering the namespaces failed.
            let kind = io::Error::from_raw_os_error(errno).kind();
            Err(match step {
                Step::Exec => io::Error::from_raw_os_error(errno),
                _ => io::Error::new(kind, format!("{step}: {message}")),
            })
        }
        other => {
            started.reaped(); // reaped below, with its status
            let status = child_status(started.pid);
            drop(started);
            Err(io::Error::other(format!(
                "{} ended without starting the program ({}; {status})",
                init.display(),
                match other {
                    Some(s) => format!("it said {s:?}"),
                    None => "it said nothing".to_string(),
                }
            )))
        }
    }
}

/// Reap a failed init and say how it ended.
fn child_status(pid: libc::pid_t) -> String {
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return String::new();
    };
    match rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty()) {
        Ok(Some((_, st))) => format!("wait status {:#x}", st.as_raw()),
        Ok(None) => "not reaped".to_string(),
        Err(e) => format!("wait: {e}"),
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = io::pipe()?;
    Ok((OwnedFd::from(r), OwnedFd::from(w)))
}
