//! The one error type of reev and its mapping onto the documented exit codes.

use std::fmt;
use std::path::{Path, PathBuf};

/// Which exit code an error maps to (see README, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// 1: benchmarks failed or a regression was found, when the user asked to gate on it.
    Failed,
    /// 2: usage or input error (bad flags, invalid benchmark or config files).
    Input,
    /// 3: environment error (I/O, disk, locked database, cannot spawn threads).
    Env,
    /// 141 (128 + SIGPIPE), silently: whoever read stdout stopped reading (`reev query | head`).
    /// Like `cat` killed by SIGPIPE, but reev never dies of the signal: agents' pipes need EPIPE.
    BrokenPipe,
    /// 128 + signal: reev was asked to stop by SIGINT or SIGTERM.
    Interrupted(i32),
}

impl Kind {
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Failed => 1,
            Kind::Input => 2,
            Kind::Env => 3,
            Kind::BrokenPipe => 128 + libc::SIGPIPE,
            Kind::Interrupted(sig) => 128 + sig,
        }
    }
}

/// One problem in one input file, with a position when the parser knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub message: String,
}

impl Diagnostic {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    pub fn at(file: &Path, line: u64, column: u64, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: (line > 0).then_some(line),
            column: (column > 0).then_some(column),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// What the user is told, the exit code it maps to, and the failure underneath it.
///
/// Rooms with failures of their own (the store, the listener, the sandbox, …) define an
/// error enum with thiserror and implement [`Classify`] on it; `?` then turns it into this
/// type with the room's error kept as `source()`, so the cause chain survives to the one
/// place where errors are printed (`app::fail`).
#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// A room's error type says which exit-code kind each of its variants is.
pub trait Classify: std::error::Error + Send + Sync + 'static {
    fn kind(&self) -> Kind;
}

impl<E: Classify> From<E> for Error {
    fn from(e: E) -> Self {
        Error {
            kind: e.kind(),
            message: e.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub fn input(message: impl Into<String>) -> Self {
        Error::new(Kind::Input, message)
    }

    pub fn env(message: impl Into<String>) -> Self {
        Error::new(Kind::Env, message)
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Error::new(Kind::Failed, message)
    }

    pub fn interrupted(signal: i32) -> Self {
        Error::new(
            Kind::Interrupted(signal),
            format!("interrupted by signal {signal}; running sessions were stopped and left no session file"),
        )
    }

    /// The same error with `note` on a line of its own after it and its causes.
    pub fn with_note(self, note: &str) -> Self {
        Error::new(self.kind, format!("{}\n{note}", self.chain()))
    }

    /// The message followed by every cause under it, `: `-separated, as printed on exit.
    pub fn chain(&self) -> String {
        let mut out = self.message.clone();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            let text = c.to_string();
            // A Classify error's own text is already the message; do not print it twice.
            if !text.is_empty() && !out.ends_with(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            cause = c.source();
        }
        out
    }

    /// A failed write to stdout: a closed pipe ends reev quietly, anything else is an
    /// environment error.
    pub fn stdout(err: std::io::Error) -> Self {
        if is_broken_pipe(&err) {
            return Error::new(Kind::BrokenPipe, "");
        }
        Error::env(format!("cannot write to stdout: {err}"))
    }

    /// An I/O failure on `path`: an environment error that names the file.
    pub fn io(what: &str, path: &Path, err: std::io::Error) -> Self {
        Error::env(format!("{what} {}: {err}", path.display()))
    }

    /// Several input problems at once; each is printed on its own line.
    pub fn diagnostics(diags: &[Diagnostic]) -> Self {
        let mut message = String::new();
        for (i, d) in diags.iter().enumerate() {
            if i > 0 {
                message.push('\n');
            }
            message.push_str(&d.to_string());
        }
        let n = diags.len();
        message.push_str(&format!(
            "\n{n} error{} found; fix {} and run `reev validate` again",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" }
        ));
        Error::input(message)
    }
}

/// EPIPE, also when a writer wrapped it (the csv crate turns its errors into `Other`).
fn is_broken_pipe(err: &std::io::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        cause = if let Some(io) = c.downcast_ref::<std::io::Error>() {
            io.get_ref()
                .map(|e| e as &(dyn std::error::Error + 'static))
        } else if let Some(csv::ErrorKind::Io(io)) =
            c.downcast_ref::<csv::Error>().map(|e| e.kind())
        {
            // csv::Error has no `source()`: its I/O error is only reachable through `kind()`.
            Some(io)
        } else {
            c.source()
        };
    }
    false
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Error as Io, ErrorKind};

    #[test]
    fn a_closed_pipe_is_found_through_writer_wrappers() {
        let pipe = || Io::from(ErrorKind::BrokenPipe);
        assert_eq!(super::Error::stdout(pipe()).kind.exit_code(), 141);
        let wrapped: Io = csv::Error::from(pipe()).into();
        assert_eq!(super::Error::stdout(wrapped).kind.exit_code(), 141);
        let full = super::Error::stdout(Io::from(ErrorKind::StorageFull));
        assert_eq!(full.kind.exit_code(), 3);
        assert!(full.message.contains("stdout"));
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the ledger {0}")]
    struct Room(&'static str, #[source] Io);

    impl super::Classify for Room {
        fn kind(&self) -> super::Kind {
            super::Kind::Env
        }
    }

    #[test]
    fn a_room_error_keeps_its_kind_and_cause_chain() {
        let room = Room(
            "db.duckdb",
            Io::new(ErrorKind::PermissionDenied, "permission denied"),
        );
        let e: super::Error = room.into();
        assert_eq!(e.kind.exit_code(), 3);
        assert_eq!(
            e.chain(),
            "cannot open the ledger db.duckdb: permission denied"
        );
    }
}
