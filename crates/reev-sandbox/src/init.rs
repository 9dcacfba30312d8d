//! `reev-init`: namespaced session processes, from reev's request to their exit.
//!
//! One `reev-init` per reev worker thread serves requests (a zygote): it was exec'd once,
//! and for each request it only clones itself — with `CLONE_PARENT` and the session's new
//! namespaces — so the session's init is reev's own child (reev waits for it, reads its
//! rusage, and its zombie holds the process group id) without a program being exec'd and
//! loaded per session. For `network: none` as root it enters the worker's empty network
//! namespace just for the clone (only before a user namespace exists can it be entered).
//!
//! The process tree of one session, in the init's process group (reev signals it):
//! - the init, reev's child and PID 1 of the session's PID namespace: makes its process
//!   group, asks to die with reev, writes its user namespace maps, joins the cgroups, makes
//!   the mounts (protected paths read-only, the session's own area writable again, a fresh
//!   `/proc`), enters the working directory, applies rlimits, `no_new_privs` and drops
//!   capabilities, starts the program (std's `Command`: exec errors come back as
//!   `io::Error`s), sends `Started`, then reaps every orphan, turns TERM/INT/HUP into
//!   `kill(-1, sig)`, sends `Exited` when the program ends and exits — the kernel then kills
//!   whatever is left in the namespace; reev's `wait4` on it covers the whole tree's rusage.
//!   With `linger` it stays until reev kills it after teardown.
//! - the program itself.
//!
//! A resident init (a request with `resident`) is made the same way, once, and then serves
//! the requests that come on its own socket, one at a time, in its namespaces (see
//! [`resident`]): per request only the program is started — the trivial session's cost is
//! one process start, as without namespaces — and when the program ends everything else in
//! the namespace is killed and reaped before `Exited` (with the tree's rusage) is sent.
//! This is how nearly every process runs; a namespace per process is for lingering setups
//! and sandboxes with rlimits or cgroups.
//!
//! The init dies with reev (PR_SET_PDEATHSIG, and it checks that reev was still there when
//! it asked), so nothing outlives reev.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use rustix::mount::{MountFlags, MountPropagationFlags, MoveMountFlags, OpenTreeFlags};
use rustix::process::{Signal, WaitOptions};
use rustix::thread::{CapabilitySet, CapabilitySets, UnshareFlags};

use crate::message::{self, Mounts, Network, Request, Resource, Status, Step, Usage};
use crate::sys::{self, Forked};

/// A failed step: what `Status::Failed` carries.
struct Failure {
    step: Step,
    error: io::Error,
}

type Stepped<T> = Result<T, Failure>;

fn at<E: Into<io::Error>>(step: Step) -> impl FnOnce(E) -> Failure {
    move |e| Failure {
        step,
        error: e.into(),
    }
}

/// The program's entry point. `reev-init --probe` only checks that the namespaces a session
/// needs can be made here (exit 0, or the errno of the refusal); otherwise it serves the
/// requests that come on its stdin until reev closes it.
pub fn main() -> ! {
    match std::env::args_os().nth(1) {
        Some(a) if a == "--probe" => std::process::exit(probe()),
        Some(a) if a == "--protocol" => {
            println!("{}", message::PROTOCOL);
            std::process::exit(0)
        }
        _ => {}
    }
    let stdin = io::stdin();
    let control = stdin.as_fd();
    // No process a session starts may inherit the control socket.
    let _ = rustix::io::fcntl_setfd(control, rustix::io::FdFlags::CLOEXEC);
    // The zygote dies with the reev thread that started it, and its memory is closed to
    // other processes of the uid.
    let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
    let _ = set_dumpable(false);
    // Where to come back to after cloning a session into the worker's network namespace.
    let home_net = std::fs::File::open("/proc/self/ns/net").ok();
    // The protected mounts this zygote made in its own mount namespace (see `shared_mounts`),
    // and reev's, which sessions without mounts of their own (`filesystem: host`) go back to.
    let mut shared: Option<Mounts> = None;
    let home_mnt = std::fs::File::open("/proc/self/ns/mnt").ok();
    loop {
        let (request, mut fds) = match message::recv_request(control) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => std::process::exit(0),
            Err(e) => {
                let _ = message::send_status(control, &failed(Step::Request, &e));
                continue;
            }
        };
        if fds.len() < 4 {
            let e = io::Error::new(io::ErrorKind::InvalidInput, "too few descriptors");
            let _ = message::send_status(control, &failed(Step::Request, &e));
            continue;
        }
        let session = fds.remove(0);
        let homes = Homes {
            net: home_net.as_ref(),
            mnt: home_mnt.as_ref(),
        };
        serve(control, &request, session, fds, homes, &mut shared);
    }
}

/// One request: enter the worker's network namespace when asked (only before a user
/// namespace is made can it be entered), clone ourselves into the session's new namespaces
/// as reev's child — PID 1 of its PID namespace — and come back to our own network.
fn serve(
    control: BorrowedFd,
    req: &Request,
    session: OwnedFd,
    fds: Vec<OwnedFd>,
    homes: Homes,
    shared: &mut Option<Mounts>,
) {
    let home_net = homes.net;
    let joined = req.network == Network::Join;
    if joined {
        let entered = match (fds.get(3), home_net) {
            (Some(netns), Some(_)) => rustix::thread::move_into_link_name_space(
                netns.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .map_err(io::Error::from),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no network namespace was passed, or reev-init cannot return to its own",
            )),
        };
        if let Err(e) = entered {
            let _ = message::send_status(control, &failed(Step::Network, &e));
            return;
        }
    }
    let in_place = match shared_mounts(req, shared) {
        Ok(in_place) => in_place,
        Err(failure) => {
            // This zygote's mount namespace is half made: no later session may use it.
            let _ = message::send_status(control, &failed(failure.step, &failure.error));
            std::process::exit(1);
        }
    };
    let mut flags = libc::CLONE_NEWPID;
    if req.user.is_some() {
        flags |= libc::CLONE_NEWUSER;
    }
    if req.mount && !in_place {
        flags |= libc::CLONE_NEWNS;
    }
    if req.network == Network::New {
        flags |= libc::CLONE_NEWNET;
    }
    let reply = match sys::clone_parent(flags) {
        Ok(Forked::Child) => {
            sys::release_control();
            // A session without mounts of its own sees reev's, not this zygote's.
            let back_home = match (req.mount, shared.is_some(), homes.mnt) {
                (false, true, Some(mnt)) => rustix::thread::move_into_link_name_space(
                    mnt.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Mount),
                )
                .map_err(at(Step::Namespaces)),
                _ => Ok(()),
            };
            let started = back_home.and_then(|()| pid1(session.as_fd(), req, fds, in_place));
            let failure = match started {
                Err(f) => f,
                Ok(never) => match never {},
            };
            fail(session.as_fd(), failure)
        }
        Ok(Forked::Parent(pid)) => Status::Forked { pid },
        Err(e) => failed(Step::Namespaces, &e),
    };
    if let (true, Some(home)) = (joined, home_net) {
        let back = rustix::thread::move_into_link_name_space(
            home.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        );
        if back.is_err() {
            // Every later session would have the wrong network: end; reev starts another.
            let _ = message::send_status(control, &reply);
            std::process::exit(1);
        }
    }
    let _ = message::send_status(control, &reply);
}

/// The namespaces of reev's that the zygote was started in.
#[derive(Clone, Copy)]
struct Homes<'a> {
    net: Option<&'a std::fs::File>,
    mnt: Option<&'a std::fs::File>,
}

/// Does the session run in this zygote's own mount namespace, its mounts already made? For
/// a plain session of a root reev (results protected, no user namespace, no /proc of its
/// own), the zygote makes the protected mounts once, in a mount namespace of its own, and
/// every such session of this worker shares it: a mount namespace per session (copying the
/// mount table, then tearing it down) added about 0.2 ms to each, a third of what reev
/// added to a trivial session. The mounts
/// are the same for every session of a run (the run's results, this reev's own area).
/// Sandboxed sessions still get a mount namespace each, cloned from this one.
fn shared_mounts(req: &Request, shared: &mut Option<Mounts>) -> Stepped<bool> {
    if !req.mount || req.user.is_some() || req.mounts.proc {
        return Ok(false);
    }
    if let Some(made) = shared {
        return Ok(*made == req.mounts);
    }
    sys::unshare(UnshareFlags::NEWNS).map_err(at(Step::Namespaces))?;
    mounts(req)?;
    *shared = Some(req.mounts.clone());
    Ok(true)
}

/// Whether another process of our uid may read our memory and /proc entries (environ,
/// descriptors) or ptrace us. The zygote is not: it (and every clone of it) holds the
/// environments of the sessions' programs.
fn set_dumpable(dumpable: bool) -> rustix::io::Result<()> {
    use rustix::process::DumpableBehavior;
    rustix::process::set_dumpable_behavior(if dumpable {
        DumpableBehavior::Dumpable
    } else {
        DumpableBehavior::NotDumpable
    })
}

fn failed(step: Step, error: &io::Error) -> Status {
    Status::Failed {
        step,
        errno: error.raw_os_error().unwrap_or(libc::EIO),
        message: error.to_string(),
    }
}

/// Report `failure` to reev and end.
fn fail(socket: BorrowedFd, failure: Failure) -> ! {
    let _ = message::send_status(socket, &failed(failure.step, &failure.error));
    std::process::exit(127)
}

/// PID 1 of the session, reev's child: its namespaces entered, then the program, then
/// reaping; or, for a resident init, the requests that come on its socket.
fn pid1(
    socket: BorrowedFd,
    req: &Request,
    fds: Vec<OwnedFd>,
    mounted: bool,
) -> Stepped<std::convert::Infallible> {
    enter(socket, req, mounted)?;
    if req.resident {
        drop(fds);
        let _ = message::send_status(socket, &Status::Serving);
        resident(socket, req)
    }
    chdir(&req.cwd)?;
    let agent = start(req, fds)?;
    let _ = message::send_status(socket, &Status::Started { pid: agent });
    reap(socket, agent, req.linger)
}

/// Everything of a session's namespaces that is made once: its process group, death signal,
/// user namespace maps, cgroups; then mounts, limits and privileges.
fn enter(socket: BorrowedFd, req: &Request, mounted: bool) -> Stepped<()> {
    rustix::process::setpgid(None, None).map_err(at(Step::ProcessGroup))?;
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(at(Step::DeathSignal))?;
    // reev died before we asked to die with it: its end of the session socket is closed.
    let mut hangup = [rustix::event::PollFd::new(
        &socket,
        rustix::event::PollFlags::empty(),
    )];
    if rustix::event::poll(&mut hangup, Some(&rustix::event::Timespec::default())).is_ok()
        && hangup[0].revents().contains(rustix::event::PollFlags::HUP)
    {
        std::process::exit(1);
    }
    if let Some(maps) = &req.user {
        // A non-dumpable process's /proc/self files belong to root: an unprivileged one
        // could not write its own maps. Dumpable for as long as that takes.
        let _ = set_dumpable(true);
        for (file, line) in [
            ("/proc/self/setgroups", "deny"),
            ("/proc/self/uid_map", maps.uid_map.as_str()),
            ("/proc/self/gid_map", maps.gid_map.as_str()),
        ] {
            std::fs::write(file, line).map_err(at(Step::UserNamespace))?;
        }
        set_dumpable(false).map_err(at(Step::UserNamespace))?;
    }
    for file in &req.cgroups {
        std::fs::write(file, b"0").map_err(|e| Failure {
            step: Step::Cgroup,
            error: io::Error::new(e.kind(), format!("{}: {e}", file.display())),
        })?;
    }
    sys::block_handled().map_err(at(Step::Namespaces))?;
    if req.mount && !mounted {
        mounts(req)?;
    }
    for limit in &req.rlimits {
        let resource = match limit.resource {
            Resource::AddressSpace => rustix::process::Resource::As,
            Resource::Processes => rustix::process::Resource::Nproc,
            Resource::FileSize => rustix::process::Resource::Fsize,
        };
        let value = rustix::process::Rlimit {
            current: Some(limit.limit),
            maximum: Some(limit.limit),
        };
        rustix::process::setrlimit(resource, value).map_err(at(Step::Rlimits))?;
    }
    if req.no_new_privs {
        rustix::thread::set_no_new_privs(true).map_err(at(Step::Privileges))?;
    }
    if req.drop_capabilities {
        drop_capabilities().map_err(at(Step::Privileges))?;
    }
    if req.close_inherited {
        sys::close_inherited_on_exec();
    }
    Ok(())
}

fn chdir(cwd: &Path) -> Stepped<()> {
    std::env::set_current_dir(cwd).map_err(|e| Failure {
        step: Step::Chdir,
        error: io::Error::new(e.kind(), format!("{}: {e}", cwd.display())),
    })
}

/// A resident init: serve the requests that come on `control`, one process at a time, in
/// the namespaces made for `made`. Each process's session ends when the program ends:
/// everything else in the namespace is killed and reaped before `Exited` is sent, so the
/// next process starts in an empty namespace. A session costs one process start, where a
/// namespace per session costs a copy of this process too (page tables, copy-on-write
/// faults, its exit): on a 2-core VM that was more than a trivial session's whole run.
fn resident(control: BorrowedFd, made: &Request) -> ! {
    sys::new_session_keyring();
    let inherited = Inherited::now();
    loop {
        let (req, mut fds) = match message::recv_request(control) {
            Ok(got) => got,
            // reev is done with this worker's namespace (or gone).
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => std::process::exit(0),
            // Its descriptors are closed: reev reads the end of its session socket.
            Err(_) => continue,
        };
        if fds.len() < 4 {
            continue;
        }
        let session = fds.remove(0);
        // A TERM reev sent the last process after it ended must not reach this one, nor
        // a key it left in its uid's keyrings.
        sys::drain_handled();
        sys::clear_user_keyrings();
        let started = if req.fits(made) {
            chdir(&req.cwd).and_then(|()| start(&req, fds))
        } else {
            Err(Failure {
                step: Step::Request,
                error: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the request does not fit this resident init's namespaces",
                ),
            })
        };
        let agent = match started {
            Ok(agent) => agent,
            Err(f) => {
                let _ = message::send_status(&session, &failed(f.step, &f.error));
                continue;
            }
        };
        let _ = message::send_status(&session, &Status::Started { pid: agent });
        let (status, usage) = run_to_end(agent);
        let retired = Inherited::now() != inherited;
        let exited = Status::Exited {
            status,
            usage: Some(usage),
            retired,
        };
        let _ = message::send_status(&session, &exited);
        if retired {
            std::process::exit(0);
        }
    }
}

/// What every process a resident init starts inherits from it and a process of the same
/// uid can change from outside (`prlimit`, `setpriority`, `sched_setaffinity`,
/// `sched_setscheduler`, `ioprio_set` check the uid, not dumpability; as root,
/// `/proc/1/oom_score_adj` too): an agent that lowered the init's limits would break — or,
/// through a verifier that cannot fork, pass — every later process, and one that pinned it
/// to a CPU or made it idle-only would slow every later session. Compared after each
/// process; a change retires the init.
#[derive(PartialEq, Eq)]
struct Inherited {
    limits: Vec<rustix::process::Rlimit>,
    priority: Option<i32>,
    cpus: Vec<usize>,
    scheduling: [i64; 3],
    oom_score_adj: Option<String>,
}

impl Inherited {
    fn now() -> Inherited {
        use rustix::process::Resource as R;
        let all = [
            R::Cpu,
            R::Fsize,
            R::Data,
            R::Stack,
            R::Core,
            R::Rss,
            R::Nproc,
            R::Nofile,
            R::Memlock,
            R::As,
            R::Locks,
            R::Sigpending,
            R::Msgqueue,
            R::Nice,
            R::Rtprio,
            R::Rttime,
        ];
        Inherited {
            limits: all.into_iter().map(rustix::process::getrlimit).collect(),
            priority: rustix::process::getpriority_process(None).ok(),
            cpus: rustix::thread::sched_getaffinity(None)
                .map(|set| {
                    (0..rustix::thread::CpuSet::MAX_CPU)
                        .filter(|&cpu| set.is_set(cpu))
                        .collect()
                })
                .unwrap_or_default(),
            scheduling: sys::scheduling(),
            oom_score_adj: std::fs::read_to_string("/proc/self/oom_score_adj").ok(),
        }
    }
}

/// Wait for `agent` (forwarding TERM, INT and HUP to the namespace), then kill and reap
/// whatever is left; its wait status and what the whole tree used.
fn run_to_end(agent: i32) -> (i32, Usage) {
    let mut usage = Usage::default();
    let status = loop {
        let mut ended = None;
        while let Some((pid, status, used)) = sys::wait_any(true) {
            add(&mut usage, used);
            if pid == agent {
                ended = Some(status);
            }
        }
        if let Some(status) = ended {
            break status;
        }
        forward(sys::wait_signal());
    };
    // Everything the program left goes with it; orphans were ours to reap.
    loop {
        sys::kill(-1, libc::SIGKILL);
        match sys::wait_any(false) {
            Some((_, _, used)) => add(&mut usage, used),
            None => break,
        }
    }
    (status, usage)
}

fn add(total: &mut Usage, one: Usage) {
    total.user_us += one.user_us;
    total.system_us += one.system_us;
    total.max_rss_kib = total.max_rss_kib.max(one.max_rss_kib);
}

/// Start the program with the received stdio; std looks it up in PATH and reports a failed
/// exec as an error.
fn start(req: &Request, fds: Vec<OwnedFd>) -> Stepped<i32> {
    let mut fds = fds.into_iter();
    let mut next = || {
        fds.next().map(Stdio::from).ok_or_else(|| Failure {
            step: Step::Exec,
            error: io::Error::new(io::ErrorKind::InvalidInput, "stdio was not passed"),
        })
    };
    let (stdin, stdout, stderr) = (next()?, next()?, next()?);
    let (program, args) = req.argv.split_first().ok_or_else(|| Failure {
        step: Step::Exec,
        error: io::Error::new(io::ErrorKind::InvalidInput, "empty command"),
    })?;
    // Looked up here, not by std: with a changed environment and a bare name, std forks
    // (copying our page tables) where a full path lets it posix_spawn.
    let path = lookup(program, &req.env).map_err(at(Step::Exec))?;
    let mut command = Command::new(path);
    command
        .arg0(program)
        .args(args)
        .env_clear()
        .envs(req.env.iter().map(|(k, v)| (k, v)))
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr);
    // The program must start with no signal blocked (std's spawn keeps the caller's mask,
    // and a shell that inherits a blocked SIGCHLD waits forever for its background jobs).
    // Unblocked around the spawn rather than in a `pre_exec` hook, which would make std fork
    // (copying this process) instead of posix_spawn. What arrives meanwhile: SIGCHLD is
    // made up for by `reap`, which reaps before it waits; a TERM, INT or HUP from reev is
    // dropped (a PID 1 without a handler drops them) and reev's KILL after the grace
    // period follows.
    sys::unblock_handled().map_err(at(Step::Exec))?;
    let child = command.spawn();
    sys::block_handled().map_err(at(Step::Exec))?;
    let child = child.map_err(at(Step::Exec))?;
    Ok(child.id() as i32)
}

/// Where execvp would find `program` with this environment's PATH (the C library's default
/// without one): the first executable regular file; EACCES when only non-executable ones
/// are found, ENOENT when none.
fn lookup(program: &str, env: &[(String, String)]) -> io::Result<std::path::PathBuf> {
    if program.contains('/') {
        return Ok(program.into());
    }
    if program.is_empty() {
        return Err(io::ErrorKind::NotFound.into());
    }
    let path = env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map_or("/bin:/usr/bin", |(_, v)| v.as_str());
    let mut denied = false;
    for dir in path.split(':') {
        let candidate = Path::new(if dir.is_empty() { "." } else { dir }).join(program);
        if !candidate.is_file() {
            continue;
        }
        match rustix::fs::access(&candidate, rustix::fs::Access::EXEC_OK) {
            Ok(()) => return Ok(candidate),
            Err(_) => denied = true,
        }
    }
    Err(io::Error::from_raw_os_error(if denied {
        libc::EACCES
    } else {
        libc::ENOENT
    }))
}

/// Reap every child; report the program's status; forward TERM/INT/HUP to the namespace.
fn reap(socket: BorrowedFd, agent: i32, linger: bool) -> ! {
    let mut reported = false;
    loop {
        // Reap first: the program may have ended before its SIGCHLD could be waited for
        // (signals were unblocked while it was started, see `start`).
        loop {
            match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some((pid, status))) => {
                    if pid.as_raw_nonzero().get() == agent {
                        let raw = status.as_raw();
                        let exited = Status::Exited {
                            status: raw,
                            usage: None,
                            retired: false,
                        };
                        let _ = message::send_status(socket, &exited);
                        reported = true;
                        if !linger {
                            std::process::exit(0);
                        }
                    }
                }
                Ok(None) => break,
                Err(_) if reported && !linger => std::process::exit(0),
                Err(_) => break,
            }
        }
        forward(sys::wait_signal());
    }
}

/// What a signal reev sent PID 1 does: CHLD wakes it to reap, USR1 kills everything else
/// in the namespace, the others are passed on to it.
fn forward(sig: libc::c_int) {
    match sig {
        libc::SIGCHLD => {}
        libc::SIGUSR1 => sys::kill(-1, libc::SIGKILL),
        other => sys::kill(-1, other),
    }
}

/// Make the mounts: clone the writable paths, make the read-only ones read-only, put the
/// clones back, then a fresh /proc.
fn mounts(req: &Request) -> Stepped<()> {
    // Nothing we change may propagate back to reev's namespace.
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .map_err(at(Step::Mounts))?;
    let m = &req.mounts;
    let clones = m
        .writable
        .iter()
        .map(|path| {
            rustix::mount::open_tree(
                rustix::fs::CWD,
                path,
                OpenTreeFlags::OPEN_TREE_CLONE
                    | OpenTreeFlags::AT_RECURSIVE
                    | OpenTreeFlags::OPEN_TREE_CLOEXEC,
            )
            .map_err(|e| named(Step::Mounts, path, e.into()))
        })
        .collect::<Stepped<Vec<OwnedFd>>>()?;
    for path in &m.read_only {
        if path != Path::new("/") {
            rustix::mount::mount_bind_recursive(path, path)
                .map_err(|e| named(Step::Mounts, path, e.into()))?;
        }
        let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| {
            named(
                Step::Mounts,
                path,
                io::Error::new(io::ErrorKind::InvalidInput, e),
            )
        })?;
        sys::read_only_recursive(&c).map_err(|e| named(Step::Mounts, path, e))?;
    }
    for (clone, path) in clones.iter().zip(&m.writable) {
        rustix::mount::move_mount(
            clone.as_fd(),
            "",
            rustix::fs::CWD,
            path,
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .map_err(|e| named(Step::Mounts, path, e.into()))?;
    }
    if m.proc {
        rustix::mount::mount(
            "proc",
            "/proc",
            "proc",
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            None,
        )
        .map_err(at(Step::Proc))?;
    }
    Ok(())
}

fn named(step: Step, path: &Path, e: io::Error) -> Failure {
    Failure {
        step,
        error: io::Error::new(e.kind(), format!("{}: {e}", path.display())),
    }
}

/// No capability left, none to regain: the bounding set emptied (an exec as uid 0 then
/// gains nothing), the ambient set cleared, then the thread's own sets emptied.
fn drop_capabilities() -> io::Result<()> {
    for cap in 0..64 {
        let set = CapabilitySet::from_bits_retain(1 << cap);
        match rustix::thread::remove_capability_from_bounding_set(set) {
            Ok(()) => {}
            Err(rustix::io::Errno::INVAL) => break, // past the kernel's last capability
            Err(e) => return Err(e.into()),
        }
    }
    rustix::thread::clear_ambient_capability_set()?;
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: CapabilitySet::empty(),
            permitted: CapabilitySet::empty(),
            inheritable: CapabilitySet::empty(),
        },
    )?;
    Ok(())
}

/// `reev-init --probe`: can a session's namespaces be made? A user namespace first when not
/// root (mapping our ids), then PID, mount and network ones. Exit 0, or the errno.
fn probe() -> i32 {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let result = (|| -> io::Result<()> {
        if uid != 0 {
            sys::unshare(UnshareFlags::NEWUSER)?;
            std::fs::write("/proc/self/setgroups", "deny")?;
            std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))?;
            std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1\n"))?;
        }
        sys::unshare(UnshareFlags::NEWPID | UnshareFlags::NEWNS | UnshareFlags::NEWNET)
    })();
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            e.raw_os_error().unwrap_or(1).clamp(1, 255)
        }
    }
}
