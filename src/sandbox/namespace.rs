//! What a namespaced session process is started with (a [`Plan`]), where the init program
//! is, and whether namespaces can be had at all.
//!
//! Every process of a session — agent, setup, teardown, verifiers — is started by the
//! `reev-init` program (crate `reev-sandbox`; see `spawn` for reev's side and the crate's
//! `init` for the process tree). reev never runs namespace set-up code in its own address
//! space: it sends a [`Request`] and reads [`reev_sandbox::Status`] back.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::OnceLock;

use reev_sandbox::{IdMaps, Mounts, Network, Request, Rlimit};

use super::SandboxError;

/// How much a session is contained beyond its PID namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Containment {
    /// `filesystem: host`, written explicitly: reev's view of the filesystem, as before.
    Host,
    /// The default: the results (runs tree, database, reports, config, the suite) are
    /// read-only; the session's own area stays writable.
    Protected,
    /// `filesystem: scratch`: every mount read-only but the session's scratch, events file
    /// and private TMPDIR.
    Scratch,
}

/// Everything the init needs besides the command, prepared once per session.
#[derive(Debug, Clone)]
pub struct Plan {
    user: Option<IdMaps>,
    mount: bool,
    network: Network,
    /// `Network::Join`: this worker's empty network namespace (see `netns`).
    netns: Option<Arc<OwnedFd>>,
    mounts: Mounts,
    cgroups: Vec<PathBuf>,
    pub rlimits: Vec<Rlimit>,
    /// A sandbox: root inside its own user namespace, no capabilities, `no_new_privs`, its
    /// own /proc.
    hardened: bool,
    /// A sandboxed process gets no descriptor but its stdio: not those reev inherited
    /// without close-on-exec (a CI runner's log pipe, a jobserver), which would reach
    /// outside the sandbox. Unsandboxed ones keep them, as with `REEV_NO_NAMESPACES`.
    pub close_inherited: bool,
}

/// The paths a session may not write (each only if it exists), and its own area that it may.
#[derive(Debug, Clone)]
pub struct Protect<'a> {
    pub read_only: &'a [PathBuf],
    /// The session's directory (`scratch/`, the events file, TMPDIR), writable again when
    /// it lies under a read-only path.
    pub own: &'a Path,
}

impl Plan {
    /// A plan for one session. `hardened`: a `sandbox:` section (root too gets a user
    /// namespace, no capabilities, no_new_privs, its own /proc). `writable` is used by
    /// `Scratch` only.
    pub fn new(
        containment: Containment,
        hardened: bool,
        network_none: bool,
        protect: &Protect,
        writable: &[&Path],
        cgroups: &[PathBuf],
    ) -> Plan {
        let (uid, gid) = (rustix::process::getuid(), rustix::process::getgid());
        let (uid, gid) = (uid.as_raw(), gid.as_raw());
        let user = (uid != 0 || hardened).then(|| IdMaps {
            uid_map: format!("{uid} {uid} 1\n"),
            gid_map: format!("{gid} {gid} 1\n"),
        });
        let netns = network_none
            .then(super::netns::for_this_worker)
            .flatten()
            .map(Arc::new);
        let network = match (network_none, &netns) {
            (false, _) => Network::Host,
            (true, Some(_)) => Network::Join,
            (true, None) => Network::New,
        };
        let mounts = match containment {
            Containment::Host => Mounts::default(),
            Containment::Protected => {
                let read_only: Vec<PathBuf> = protect
                    .read_only
                    .iter()
                    .filter(|p| p.exists())
                    .cloned()
                    .collect();
                let own_inside = read_only.iter().any(|p| protect.own.starts_with(p));
                Mounts {
                    writable: own_inside
                        .then(|| protect.own.to_path_buf())
                        .into_iter()
                        .collect(),
                    read_only,
                    proc: hardened,
                }
            }
            Containment::Scratch => Mounts {
                read_only: vec![PathBuf::from("/")],
                writable: writable.iter().map(|p| p.to_path_buf()).collect(),
                proc: hardened,
            },
        };
        Plan {
            user,
            mount: !mounts.read_only.is_empty() || mounts.proc,
            network,
            netns,
            mounts,
            cgroups: cgroups.to_vec(),
            rlimits: Vec::new(),
            hardened,
            close_inherited: false,
        }
    }

    /// The request for one process; its stdio travels beside it.
    pub fn request(
        &self,
        argv: &[String],
        env: &[(String, String)],
        cwd: &Path,
        linger: bool,
    ) -> Request {
        Request {
            argv: argv.to_vec(),
            env: env.to_vec(),
            cwd: cwd.to_path_buf(),
            parent: std::process::id(),
            user: self.user.clone(),
            mount: self.mount,
            network: self.network,
            mounts: self.mounts.clone(),
            rlimits: self.rlimits.clone(),
            cgroups: self.cgroups.clone(),
            no_new_privs: self.hardened,
            drop_capabilities: self.hardened,
            close_inherited: self.close_inherited,
            linger,
            resident: false,
        }
    }

    /// The worker's network namespace to pass along, for `Network::Join`.
    pub fn netns(&self) -> Option<BorrowedFd<'_>> {
        self.netns.as_deref().map(|fd| fd.as_fd())
    }
}

/// Where `reev-init` is: `REEV_INIT`, else beside reev's own executable. Looked up once;
/// the error names every place looked at.
pub fn init_program() -> Result<&'static Path, SandboxError> {
    static FOUND: OnceLock<Result<PathBuf, SandboxError>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("REEV_INIT").filter(|p| !p.is_empty()) {
                let p = PathBuf::from(p);
                return if p.is_file() {
                    Ok(p)
                } else {
                    Err(SandboxError::InitNotAFile(p))
                };
            }
            let exe =
                std::env::current_exe().map_err(|e| SandboxError::NoExecutable(Arc::new(e)))?;
            let beside = exe.with_file_name("reev-init");
            if beside.is_file() {
                Ok(beside)
            } else {
                Err(SandboxError::InitMissing(beside))
            }
        })
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(SandboxError::clone)
}

/// Run `init` with the one `flag` (`--probe`, `--protocol`) and no input; its output.
fn ask(init: &Path, flag: &str) -> Result<std::process::Output, SandboxError> {
    std::process::Command::new(init)
        .arg(flag)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| SandboxError::Probe {
            init: init.to_path_buf(),
            source: Arc::new(e),
        })
}

/// Does `init` speak this reev's [`reev_sandbox::message::PROTOCOL`]? An older one, which
/// knows no `--protocol`, prints nothing (it reads requests from its empty stdin and ends).
pub fn same_protocol(init: &Path) -> Result<(), SandboxError> {
    let out = ask(init, "--protocol")?;
    let theirs = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let ours = reev_sandbox::message::PROTOCOL;
    if theirs == ours.to_string() {
        return Ok(());
    }
    Err(SandboxError::InitMismatch {
        init: init.to_path_buf(),
        theirs: if theirs.is_empty() {
            "none it can name".into()
        } else {
            theirs
        },
        ours,
    })
}

/// Can this process create the namespaces a session needs? `reev-init --probe` tries the
/// user (when not root), PID, mount and network namespaces once, in its own process.
pub fn probe() -> Result<(), SandboxError> {
    if std::env::var_os("REEV_NO_NAMESPACES").is_some_and(|v| !v.is_empty() && v != "0") {
        return Err(SandboxError::NamespacesOff);
    }
    let init = init_program()?;
    let out = ask(init, "--probe")?;
    match out.status.code() {
        Some(0) => Ok(()),
        Some(_) => Err(SandboxError::Refused {
            namespaces: if rustix::process::getuid().is_root() {
                "PID, mount or network"
            } else {
                "unprivileged user, PID, mount or network"
            },
            said: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
        None => Err(SandboxError::ProbeDied),
    }
}
