//! What can go wrong in containment: no `reev-init`, no namespaces, a limit that cannot be
//! set up. A session's failure becomes its `error` (the text); `reev run` refuses to start
//! without `reev-init` (`prepare::ready`, an environment error).

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Classify, Kind};

/// Shared (`Arc`) causes: the answers about `reev-init` and the namespaces are looked up
/// once and handed to every session.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SandboxError {
    #[error("REEV_INIT is {}, which is not a file: reev needs its session init program there", .0.display())]
    InitNotAFile(PathBuf),
    #[error("cannot tell where reev's executable is ({0}), so cannot find reev-init beside it; set REEV_INIT")]
    NoExecutable(Arc<io::Error>),
    #[error(
        "reev-init is missing: looked for it beside reev at {} (and REEV_INIT is not set); \
         install both programs (`make install`, `cargo install --path .`), or set \
         REEV_INIT to its path, or REEV_NO_NAMESPACES=1 to run agents unprotected in \
         process groups",
        .0.display()
    )]
    InitMissing(PathBuf),
    #[error(
        "{} is reev-init of another build (it speaks protocol {theirs}, this reev {ours}): \
         install both programs from one build (`make install`, `cargo install --path .`), \
         or point REEV_INIT at the reev-init built with this reev",
        .init.display()
    )]
    InitMismatch {
        init: PathBuf,
        theirs: String,
        ours: u32,
    },
    #[error("REEV_NO_NAMESPACES is set")]
    NamespacesOff,
    #[error("cannot run {}: {source}", .init.display())]
    Probe {
        init: PathBuf,
        #[source]
        source: Arc<io::Error>,
    },
    /// The probe's message (its stderr) says which namespace the kernel refused.
    #[error("the kernel refuses {namespaces} namespaces: {said}")]
    Refused {
        namespaces: &'static str,
        said: String,
    },
    #[error("the namespace probe died")]
    ProbeDied,
    #[error(
        "the agent asks for a sandbox, but Linux namespaces are unavailable here ({0}); \
         refusing to run it unsandboxed"
    )]
    Unavailable(Box<SandboxError>),
    /// Making the private TMPDIR, the events file, or emptying TMPDIR again (`what` says
    /// which and where).
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: Arc<io::Error>,
    },
    #[error("cannot create a {controller} cgroup: {source}")]
    Cgroup {
        controller: &'static str,
        #[source]
        source: Arc<io::Error>,
    },
    #[error(
        "sandbox.processes cannot be enforced for root without the cgroup v1 pids \
         controller (RLIMIT_NPROC does not apply to uid 0)"
    )]
    NoPidsLimitForRoot,
}

impl SandboxError {
    pub(super) fn io(what: String, e: io::Error) -> Self {
        SandboxError::Io {
            what,
            source: Arc::new(e),
        }
    }
}

impl Classify for SandboxError {
    fn kind(&self) -> Kind {
        Kind::Env
    }
}
