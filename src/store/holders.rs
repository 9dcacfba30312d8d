//! Who holds the database file open: nobody, only readers, or a writer.
//!
//! DuckDB takes a POSIX record lock (`fcntl`) on the whole database file for as long as a
//! process has it open: shared (`F_RDLCK`) for a read-only connection, exclusive (`F_WRLCK`)
//! for a read-write one. Asking the kernel which lock would conflict with an exclusive one
//! tells the two apart without opening the database, and names the holder's PID.

use std::os::fd::AsRawFd;
use std::path::Path;

/// The lock another process holds on the database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// Nobody: the file can be opened for writing (or it does not exist yet).
    Nobody,
    /// One or more read-only connections (the PID is one of them).
    Readers { pid: i32 },
    /// A read-write connection: only one can exist, and readers cannot be open beside it.
    Writer { pid: i32 },
}

/// Probe the lock on `db` with `F_OFD_GETLK`, which reports traditional (`F_SETLK`) locks
/// such as DuckDB's with their PID, and unlike `F_GETLK` never drops locks this process
/// holds when the probe's descriptor is closed.
pub fn probe(db: &Path) -> std::io::Result<Holder> {
    let file = match std::fs::File::open(db) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Holder::Nobody),
        Err(e) => return Err(e),
    };
    // SAFETY: a zeroed `flock` is a valid value; the kernel fills it in.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 0;
    fl.l_pid = 0;
    // SAFETY: F_OFD_GETLK reads and writes the `flock` we pass, nothing else.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(match i32::from(fl.l_type) {
        t if t == libc::F_UNLCK => Holder::Nobody,
        t if t == libc::F_RDLCK => Holder::Readers { pid: fl.l_pid },
        _ => Holder::Writer { pid: fl.l_pid },
    })
}

/// `/proc/<pid>/cmdline`, for naming a holder in an error message.
pub fn describe(pid: i32) -> String {
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    // Printed to a terminal: no control characters from another process's argv.
    let cmd: String = cmd.chars().filter(|c| !c.is_control()).take(200).collect();
    if cmd.is_empty() {
        format!("PID {pid}")
    } else {
        format!("PID {pid} ({cmd})")
    }
}

/// An open descriptor of the live database holding an OFD read lock on the whole file, for
/// as long as a load builds its replacement beside it. DuckDB opens read-write only with an
/// exclusive POSIX lock on the file, which conflicts with this one: no process can open the
/// old file read-write (and write what the rename would then drop) until the load is over.
/// Read-only opens take a shared lock and go through. Released when dropped.
pub struct WritersBarred {
    _file: std::fs::File,
}

/// Take the OFD read lock on `db` without waiting: `Ok(None)` when a read-write holder
/// conflicts (`probe` names it), `Ok(Some(None))` when there is no file to protect.
pub fn bar_writers(db: &Path) -> std::io::Result<Option<Option<WritersBarred>>> {
    let file = match std::fs::File::open(db) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(None)),
        Err(e) => return Err(e),
    };
    // SAFETY: a zeroed `flock` is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_RDLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: F_OFD_SETLK reads the `flock` we pass; the lock belongs to `file`'s description.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &fl) } == 0 {
        return Ok(Some(Some(WritersBarred { _file: file })));
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(None),
        _ => Err(err),
    }
}
