//! The messages between reev and `reev-init`, and how they travel: `SOCK_SEQPACKET` socket
//! pairs, whose packets keep message boundaries (no framing needed).
//!
//! - The control socket: `reev-init`'s stdin. reev sends one JSON [`Request`] per process,
//!   with, as `SCM_RIGHTS`, the process's own session socket, its stdin, stdout and stderr
//!   (and, for `network: none` as root, the worker's network namespace). `reev-init` answers
//!   `Forked { pid }`: the session's init (or a resident init, see below), a child of
//!   reev's and PID 1 of its namespace.
//! - The session socket: the session's init answers on it, one JSON
//!   [`Status`] per packet: `Started` once the program has exec'd, or `Failed`, then
//!   `Exited` when it ends.
//! - A resident init's socket (a request with `resident`): the init answers `Serving` on it
//!   once its namespaces are made, then reads the requests that come on it, one process at
//!   a time, each with its own session socket, stdin, stdout and stderr.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use serde::{Deserialize, Serialize};

/// The version of these messages. reev and `reev-init` must speak the same one: reev asks
/// (`reev-init --protocol`) before a run, and refuses an init of another build rather than
/// misread its answers. Raised with every change to [`Request`] or [`Status`].
pub const PROTOCOL: u32 = 2;

/// The largest request accepted (argv, environment, paths).
pub const MAX_REQUEST: usize = 1024 * 1024;
/// Descriptors a request carries at most: session socket, stdin, stdout, stderr, network
/// namespace.
const MAX_FDS: usize = 5;

/// What `reev-init` is to set up, then run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Request {
    /// The program and its arguments; the program is looked up in `PATH` as execvp does.
    pub argv: Vec<String>,
    /// The program's whole environment (`reev-init` itself runs with an empty one, so that
    /// no secret a sandbox's `env:` filtered out is in its memory or `/proc/<pid>/environ`).
    pub env: Vec<(String, String)>,
    /// The working directory, entered after the mounts are made.
    pub cwd: PathBuf,
    /// reev's pid: `reev-init` ends at once if its parent is already another process.
    pub parent: u32,
    /// A user namespace with these maps (unprivileged reev, or any sandboxed session).
    pub user: Option<IdMaps>,
    /// A mount namespace of its own, where `mounts` are made.
    pub mount: bool,
    pub network: Network,
    pub mounts: Mounts,
    pub rlimits: Vec<Rlimit>,
    /// `cgroup.procs` files `reev-init` moves itself into first (root, cgroup v1).
    pub cgroups: Vec<PathBuf>,
    /// `PR_SET_NO_NEW_PRIVS` for the process: no setuid binary gives it more.
    pub no_new_privs: bool,
    /// Empty capability sets and bounding set: root in the user namespace stays powerless.
    pub drop_capabilities: bool,
    /// Every descriptor but stdio is closed on exec (a sandbox gets nothing reev inherited).
    pub close_inherited: bool,
    /// A `setup:`: once the process has ended (and `Exited` is sent), the init stays, with
    /// what the setup left running, until reev kills it after teardown.
    pub linger: bool,
    /// Make a resident init: PID 1 of these namespaces that runs no program of its own but
    /// serves the requests that then come on the session socket, one at a time, each in
    /// these same namespaces (see `init`). Its stdio descriptors are not used.
    pub resident: bool,
}

impl Request {
    /// May this request's process run in a resident init (see `init`)? Not a `setup:` that
    /// lingers (its processes stay while the agent runs), nor one with rlimits or cgroups
    /// (set on the init itself, for good).
    pub fn may_be_resident(&self) -> bool {
        !self.linger && self.rlimits.is_empty() && self.cgroups.is_empty()
    }

    /// Would this request's process run in the namespaces `resident` was made with? Every
    /// field but the program's own (argv, environment, directory) must be equal.
    /// (Asked for every process: compared field by field, nothing cloned; the pattern names
    /// every field, so a new one must be placed on one side or the other.)
    pub fn fits(&self, resident: &Request) -> bool {
        let Request {
            argv: _,
            env: _,
            cwd: _,
            resident: _,
            parent,
            user,
            mount,
            network,
            mounts,
            rlimits,
            cgroups,
            no_new_privs,
            drop_capabilities,
            close_inherited,
            linger: _,
        } = resident;
        self.may_be_resident()
            && self.parent == *parent
            && self.user == *user
            && self.mount == *mount
            && self.network == *network
            && self.mounts == *mounts
            && self.rlimits == *rlimits
            && self.cgroups == *cgroups
            && self.no_new_privs == *no_new_privs
            && self.drop_capabilities == *drop_capabilities
            && self.close_inherited == *close_inherited
    }
}

/// The lines written to `/proc/self/uid_map` and `gid_map` ("inside outside count").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdMaps {
    pub uid_map: String,
    pub gid_map: String,
}

/// The network the process gets.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Network {
    /// reev's.
    #[default]
    Host,
    /// A new, empty network namespace of its own.
    New,
    /// The network namespace passed as the request's last descriptor (the worker's empty
    /// one, see reev's `sandbox::netns`), entered before any user namespace is made.
    Join,
}

/// The mount namespace's changes, made in this order: `writable` paths are cloned first,
/// then each of `read_only` is made read-only ("/" means every mount), then the clones are
/// put back over their paths, writable; then a fresh `/proc` when `proc`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mounts {
    pub read_only: Vec<PathBuf>,
    pub writable: Vec<PathBuf>,
    /// A `/proc` of the session's own PID namespace over the host's.
    pub proc: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: Resource,
    pub limit: u64,
}

/// The rlimits a `sandbox:` may set.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Resource {
    /// RLIMIT_AS: `memory` without a cgroup.
    AddressSpace,
    /// RLIMIT_NPROC: `processes` without a cgroup (unprivileged).
    Processes,
    /// RLIMIT_FSIZE: `file_size`.
    FileSize,
}

/// What `reev-init` reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Status {
    /// On the control socket: the session's init has this pid (reev's child).
    Forked { pid: i32 },
    /// The process has exec'd; `pid` as seen in the session's PID namespace.
    Started { pid: i32 },
    /// A step failed; nothing runs any more.
    Failed {
        step: Step,
        errno: i32,
        message: String,
    },
    /// The process ended with this raw wait status. A resident init adds what the process
    /// and everything it left behind used (reev cannot `wait4` a process it is not the
    /// parent of); a per-session init does not, reev's `wait4` on the init covers it.
    Exited {
        status: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<Usage>,
        /// A resident init that ends after this report: the process changed what the init
        /// passes on to every later one (its rlimits, its priority — a process of the same
        /// uid may, see `init::Inherited`). reev makes a new one for the next process.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        retired: bool,
    },
    /// On a resident init's socket: its namespaces are made; it reads requests now.
    Serving,
}

/// CPU time and peak memory of a process and its descendants (`wait4`'s rusage).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Usage {
    pub user_us: u64,
    pub system_us: u64,
    /// The largest resident set of any of the processes, in KiB.
    pub max_rss_kib: u64,
}

/// The steps of `reev-init`, in order; `Failed` names the one that failed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Step {
    Request,
    ProcessGroup,
    DeathSignal,
    Cgroup,
    Network,
    UserNamespace,
    Namespaces,
    Fork,
    Mounts,
    Proc,
    Chdir,
    Rlimits,
    Privileges,
    Exec,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Request => "reading reev's request",
            Step::ProcessGroup => "creating the session's process group",
            Step::DeathSignal => "asking to die with reev",
            Step::Cgroup => "joining the session's cgroup",
            Step::Network => "entering the worker's empty network namespace",
            Step::UserNamespace => "creating and mapping the user namespace",
            Step::Namespaces => "creating the PID, mount and network namespaces",
            Step::Fork => "starting the namespace's init",
            Step::Mounts => "making the protected paths read-only",
            Step::Proc => "mounting the session's own /proc",
            Step::Chdir => "entering the working directory",
            Step::Rlimits => "applying the sandbox's rlimits",
            Step::Privileges => "dropping privileges",
            Step::Exec => "executing the program",
        })
    }
}

/// Send `request` with `fds` (session socket, stdin, stdout, stderr[, network namespace]).
pub fn send_request(socket: impl AsFd, request: &Request, fds: &[BorrowedFd]) -> io::Result<()> {
    let bytes = serde_json::to_vec(request).map_err(io::Error::other)?;
    if bytes.len() > MAX_REQUEST {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the request for reev-init is {} bytes, more than {MAX_REQUEST}",
                bytes.len()
            ),
        ));
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many descriptors",
        ));
    }
    let sent = rustix::net::sendmsg(
        socket,
        &[io::IoSlice::new(&bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    if sent != bytes.len() {
        return Err(io::Error::other("the request was cut short"));
    }
    Ok(())
}

/// Receive the request and its descriptors; `UnexpectedEof` when reev closed the socket.
pub fn recv_request(socket: impl AsFd) -> io::Result<(Request, Vec<OwnedFd>)> {
    let socket = socket.as_fd();
    // The packet's length first (MSG_TRUNC reports it whole), so that a buffer of its size,
    // not of the largest, is zeroed per request.
    let (_, len) = rustix::net::recv(
        socket,
        &mut [0u8; 0][..],
        RecvFlags::PEEK | RecvFlags::TRUNC,
    )?;
    let mut buf = vec![0u8; len.clamp(1, MAX_REQUEST)];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        socket,
        &mut [io::IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    if got.bytes == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    if got.flags.contains(rustix::net::ReturnFlags::TRUNC) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the request was larger than reev-init reads",
        ));
    }
    let request = serde_json::from_slice(&buf[..got.bytes])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok((request, fds))
}

/// Send one status packet.
pub fn send_status(socket: impl AsFd, status: &Status) -> io::Result<()> {
    let bytes = serde_json::to_vec(status).map_err(io::Error::other)?;
    rustix::net::send(socket, &bytes, SendFlags::NOSIGNAL)?;
    Ok(())
}

/// Receive one status packet: `None` at end of file (every holder of the other end gone),
/// or, on a non-blocking socket, when none is waiting.
pub fn recv_status(socket: impl AsFd) -> io::Result<Option<Status>> {
    let mut buf = [0u8; 4096];
    let n = match rustix::net::recv(socket, &mut buf, RecvFlags::empty()) {
        Ok((n, _)) => n,
        Err(rustix::io::Errno::AGAIN) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if n == 0 {
        return Ok(None);
    }
    serde_json::from_slice(&buf[..n])
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_and_its_descriptors_cross_the_socket_whole() {
        let (a, b) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::SEQPACKET,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let req = Request {
            argv: vec!["sh".into(), "-c".into(), "exit 3".into()],
            cwd: "/tmp".into(),
            network: Network::Join,
            mounts: Mounts {
                read_only: vec!["/".into()],
                writable: vec!["/tmp/x".into()],
                proc: true,
            },
            rlimits: vec![Rlimit {
                resource: Resource::FileSize,
                limit: 10,
            }],
            ..Default::default()
        };
        let (r, w) = rustix::pipe::pipe().unwrap();
        send_request(&a, &req, &[r.as_fd(), w.as_fd()]).unwrap();
        let (got, fds) = recv_request(&b).unwrap();
        assert_eq!(got, req);
        assert_eq!(fds.len(), 2);
        let exited = Status::Exited {
            status: 3 << 8,
            usage: Some(Usage {
                user_us: 1,
                system_us: 2,
                max_rss_kib: 3,
            }),
            retired: true,
        };
        send_status(&b, &exited).unwrap();
        assert_eq!(recv_status(&a).unwrap(), Some(exited));
        drop(b);
        assert_eq!(recv_status(&a).unwrap(), None);
    }

    #[test]
    fn a_request_fits_a_resident_init_made_for_the_same_namespaces_only() {
        let made = Request {
            cwd: "/".into(),
            network: Network::Join,
            mounts: Mounts {
                read_only: vec!["/".into()],
                writable: vec!["/w/0/scratch".into()],
                proc: true,
            },
            no_new_privs: true,
            drop_capabilities: true,
            resident: true,
            ..Default::default()
        };
        let program = Request {
            argv: vec!["true".into()],
            env: vec![("K".into(), "v".into())],
            cwd: "/w/0/scratch".into(),
            resident: false,
            ..made.clone()
        };
        assert!(program.fits(&made));
        let other_mounts = Request {
            mounts: Mounts {
                writable: vec!["/w/1/scratch".into()],
                ..program.mounts.clone()
            },
            ..program.clone()
        };
        assert!(!other_mounts.fits(&made));
        let host_network = Request {
            network: Network::Host,
            ..program.clone()
        };
        assert!(!host_network.fits(&made));
        let lingering = Request {
            linger: true,
            ..program.clone()
        };
        assert!(!lingering.fits(&made));
        let limited = Request {
            rlimits: vec![Rlimit {
                resource: Resource::FileSize,
                limit: 1,
            }],
            ..program.clone()
        };
        assert!(!limited.fits(&made));
    }
}
