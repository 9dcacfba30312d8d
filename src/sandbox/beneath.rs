//! Files under a directory fd, never through a symbolic link: what reev opens, reads and
//! removes in a session's scratch area, which the agent controls.
//!
//! The agent may replace any part of its scratch area while (or after) it runs: swap the
//! scratch directory for a symlink to somewhere else, leave a FIFO where an assertion reads,
//! or a 1 GB sparse file. So reev opens the scratch directory once, before the agent starts,
//! and resolves every path relative to that fd with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)` (or, on kernels without openat2, an `O_NOFOLLOW` walk one component
//! at a time); it opens files non-blocking and reads only regular files, at most a cap.

use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{self, AtFlags, Mode, OFlags, ResolveFlags};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// An open directory; every path below it is resolved without following symlinks.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

fn cstring(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// `openat` of one name (no slashes) relative to `dir`, never following a symlink there.
fn open_one(dir: BorrowedFd, name: &CStr, flags: OFlags) -> io::Result<OwnedFd> {
    Ok(fs::openat(
        dir,
        name,
        flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// The relative path's normal components; absolute paths and `..` are refused.
fn components(rel: &Path) -> io::Result<Vec<CString>> {
    let mut out = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => out.push(cstring(n)?),
            Component::CurDir => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "path leaves the directory",
                ))
            }
        }
    }
    Ok(out)
}

impl Dir {
    /// Open a directory by path (following symlinks: the caller trusts this path).
    pub fn open(path: &Path) -> io::Result<Dir> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Ok(Dir {
            fd: fs::open(path, flags, Mode::empty())?,
        })
    }

    /// The subdirectory `name` (one component), created when missing; a symlink or any other
    /// non-directory in its place is removed first.
    pub fn ensure_subdir(&self, name: &OsStr) -> io::Result<Dir> {
        let c = cstring(name)?;
        for _ in 0..3 {
            match open_one(self.fd.as_fd(), &c, OFlags::RDONLY | OFlags::DIRECTORY) {
                Ok(fd) => return Ok(Dir { fd }),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    match fs::mkdirat(&self.fd, c.as_c_str(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                // ELOOP or ENOTDIR: a symlink or a file where the directory belongs.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                    self.unlink(name)?;
                }
                Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
                    self.make_dir_usable(&c)?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!(
            "{} keeps changing under reev",
            name.to_string_lossy()
        )))
    }

    /// Remove a non-directory entry; a missing one is fine.
    pub fn unlink(&self, name: &OsStr) -> io::Result<()> {
        let c = cstring(name)?;
        match fs::unlinkat(&self.fd, c.as_c_str(), AtFlags::empty()) {
            Err(e) if e != rustix::io::Errno::NOENT => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Empty the regular file `name` in place, keeping its inode (a sandbox's namespace may
    /// have it mounted: see the resident init in `spawn`); whatever else is there — a
    /// symlink, FIFO, directory, or a file with other links, which may be someone else's —
    /// is removed instead, never followed. A missing one is fine.
    pub fn empty_file(&self, name: &OsStr) -> io::Result<()> {
        let c = cstring(name)?;
        let own = match fs::statat(&self.fd, c.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
            Ok(st) => st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_nlink == 1,
        };
        if own {
            // Writable again first: an agent that made it read-only must not leave the next
            // session (no capability to override modes) unable to write its events.
            let _ = fs::chmodat(
                &self.fd,
                c.as_c_str(),
                Mode::from_raw_mode(0o644),
                AtFlags::empty(),
            );
            let flags = OFlags::WRONLY | OFlags::NONBLOCK;
            if let Ok(fd) = open_one(self.fd.as_fd(), &c, flags) {
                let st = stat(&fd)?;
                if st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_nlink == 1 {
                    fs::fchmod(&fd, Mode::from_raw_mode(0o644))?;
                    return Ok(fs::ftruncate(&fd, 0)?);
                }
            }
        }
        self.remove_tree(name)
    }

    /// Open `rel` below this directory without following any symlink and without leaving it.
    fn open_beneath(&self, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        match openat2(self.fd.as_fd(), rel, flags) {
            // ENOSYS: Linux < 5.6; EPERM: a seccomp filter (older container runtimes) refuses it.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                self.open_walk(rel, flags)
            }
            other => other,
        }
    }

    /// Without openat2: walk one component at a time, never following a symlink.
    fn open_walk(&self, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        let parts = components(rel)?;
        let Some((last, dirs)) = parts.split_last() else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        let mut cur: Option<OwnedFd> = None;
        for d in dirs {
            let at = cur.as_ref().map_or(self.fd.as_fd(), |f| f.as_fd());
            // O_PATH | O_NOFOLLOW opens a symlink itself: refuse it as openat2 would (ELOOP).
            let fd = open_one(at, d, OFlags::PATH)?;
            match file_type(&fd)? {
                libc::S_IFDIR => cur = Some(fd),
                libc::S_IFLNK => return Err(io::Error::from_raw_os_error(libc::ELOOP)),
                _ => return Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
            }
        }
        let at = cur.as_ref().map_or(self.fd.as_fd(), |f| f.as_fd());
        open_one(at, last, flags)
    }

    /// Is `rel` a regular file below this directory? `Ok` when it is; otherwise why not
    /// (missing, a symlink, a FIFO or other non-regular file).
    pub fn regular_file(&self, rel: &Path) -> Result<(), ReadError> {
        let fd = self
            .open_beneath(rel, OFlags::PATH)
            .map_err(ReadError::Io)?;
        match file_type(&fd).map_err(ReadError::Io)? {
            libc::S_IFREG => Ok(()),
            t => Err(ReadError::NotRegular(kind_name(t))),
        }
    }

    /// Read the regular file `rel` below this directory, at most `cap` bytes.
    pub fn read_capped(&self, rel: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
        let fd = self
            .open_beneath(rel, OFlags::RDONLY | OFlags::NONBLOCK)
            .map_err(ReadError::Io)?;
        read_regular(fd, cap)
    }

    /// Make an entry this directory holds, which reev cannot open, usable (mode 0700),
    /// without following a symlink: chmod through an `O_PATH` fd's /proc link.
    fn make_dir_usable(&self, name: &CStr) -> io::Result<()> {
        let fd = open_one(self.fd.as_fd(), name, OFlags::PATH | OFlags::DIRECTORY)?;
        let proc = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        Ok(fs::chmod(proc.as_c_str(), Mode::from_raw_mode(0o700))?)
    }

    /// Is this directory still the one at `path` (the path not a symlink to it)?
    pub fn is_at(&self, path: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (identity(&self.fd), std::fs::symlink_metadata(path)) {
            (Ok(id), Ok(m)) => m.is_dir() && id == (m.dev(), m.ino()),
            _ => false,
        }
    }

    /// Does `path`, resolved as a program's `chdir` or `open` would (following links), still
    /// lead to this very directory? The agent may have moved it away and put another
    /// directory, or a symlink, in its place.
    pub fn is_reached_by(&self, path: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (identity(&self.fd), std::fs::metadata(path)) {
            (Ok(id), Ok(m)) => id == (m.dev(), m.ino()),
            _ => false,
        }
    }

    /// Give the owner rwx on this directory again if the agent took it away (best effort):
    /// reev creates and removes entries in it.
    pub fn make_writable(&self) {
        writable(&self.fd);
    }

    /// Remove everything in this directory, never following a symlink (a symlink is
    /// removed, not its target). Directories the agent left read-only are made writable.
    pub fn empty(&self) -> io::Result<()> {
        empty_tree(&self.fd)
    }

    /// Remove the subdirectory `name` and everything in it (or the symlink or file there).
    pub fn remove_tree(&self, name: &OsStr) -> io::Result<()> {
        let c = cstring(name)?;
        match open_one(self.fd.as_fd(), &c, OFlags::RDONLY | OFlags::DIRECTORY) {
            Ok(fd) => empty_tree(&fd)?,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                return self.unlink(name)
            }
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
                self.make_dir_usable(&c)?;
                return self.remove_tree(name);
            }
            Err(e) => return Err(e),
        }
        rmdir(self.fd.as_fd(), &c)
    }

    /// Create (or truncate, never through a symlink) the regular file `rel`, with its parent directories, below
    /// this directory.
    pub fn create_file(&self, rel: &Path, mode: u32) -> io::Result<File> {
        let parts = components(rel)?;
        let Some((last, dirs)) = parts.split_last() else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        let mut cur: Option<Dir> = None;
        for d in dirs {
            let parent = cur.as_ref().unwrap_or(self);
            cur = Some(parent.ensure_subdir(OsStr::from_bytes(d.to_bytes()))?);
        }
        let at = cur.as_ref().unwrap_or(self);
        // Non-blocking: a FIFO put there after the caller removed what was there (by a process
        // that outlived its agent) must not make reev wait forever for a reader.
        let flags = OFlags::WRONLY
            | OFlags::CREATE
            | OFlags::TRUNC
            | OFlags::NOFOLLOW
            | OFlags::NONBLOCK
            | OFlags::CLOEXEC;
        let fd = fs::openat(&at.fd, last.as_c_str(), flags, Mode::from_raw_mode(mode))?;
        match file_type(&fd)? {
            libc::S_IFREG => {}
            t => {
                return Err(io::Error::other(format!(
                    "{} is a {}, not a regular file",
                    rel.display(),
                    kind_name(t)
                )))
            }
        }
        // The umask may have taken bits away (an executable seed must stay executable).
        fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
        Ok(File::from(fd))
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// Not a regular file: the kind found (FIFO, directory, socket, device).
    NotRegular(&'static str),
    /// Larger than the cap: its size in bytes (at least cap + 1).
    TooLarge(u64),
}

impl ReadError {
    /// The reason, as the end of a sentence that starts with the file's name.
    pub fn describe(&self, cap: u64) -> String {
        match self {
            ReadError::Io(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                "does not exist".to_string()
            }
            ReadError::Io(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                "is or passes through a symbolic link, which reev does not follow in the scratch directory"
                    .to_string()
            }
            ReadError::Io(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                "leads outside the scratch directory".to_string()
            }
            ReadError::Io(e) => format!("cannot be read: {e}"),
            ReadError::NotRegular(kind) => {
                format!("is a {kind}, not a regular file; reev reads only regular files")
            }
            ReadError::TooLarge(n) => format!(
                "is {n} bytes, over the limit of {cap} bytes ({} MiB) that reev reads",
                cap / (1024 * 1024)
            ),
        }
    }
}

fn openat2(dir: BorrowedFd, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    components(rel)?;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(fs::openat2(dir, rel, flags, Mode::empty(), resolve)?)
}

fn stat(fd: &OwnedFd) -> io::Result<fs::Stat> {
    Ok(fs::fstat(fd)?)
}

fn file_type(fd: &OwnedFd) -> io::Result<libc::mode_t> {
    Ok(stat(fd)?.st_mode & libc::S_IFMT)
}

fn kind_name(t: libc::mode_t) -> &'static str {
    match t {
        libc::S_IFIFO => "FIFO",
        libc::S_IFDIR => "directory",
        libc::S_IFSOCK => "socket",
        libc::S_IFCHR => "character device",
        libc::S_IFBLK => "block device",
        libc::S_IFLNK => "symbolic link",
        _ => "special file",
    }
}

/// Read a file opened non-blocking: only a regular one, only up to `cap` bytes; a larger
/// one is refused.
pub fn read_regular(fd: OwnedFd, cap: u64) -> Result<Vec<u8>, ReadError> {
    read_upto(fd, cap, false)
}

/// Like [`read_regular`], but a larger file yields its first `cap` bytes.
pub fn read_regular_prefix(fd: OwnedFd, cap: u64) -> Result<Vec<u8>, ReadError> {
    read_upto(fd, cap, true)
}

fn read_upto(fd: OwnedFd, cap: u64, prefix: bool) -> Result<Vec<u8>, ReadError> {
    let st = stat(&fd).map_err(ReadError::Io)?;
    let t = st.st_mode & libc::S_IFMT;
    if t != libc::S_IFREG {
        return Err(ReadError::NotRegular(kind_name(t)));
    }
    let size = u64::try_from(st.st_size).unwrap_or(0);
    if size > cap && !prefix {
        return Err(ReadError::TooLarge(size));
    }
    // A regular file never blocks, but clear O_NONBLOCK anyway so reads are plain reads.
    let flags = fs::fcntl_getfl(&fd).map_err(|e| ReadError::Io(e.into()))?;
    fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK).map_err(|e| ReadError::Io(e.into()))?;
    let mut bytes = Vec::with_capacity(size.min(cap) as usize);
    // The file may still grow (an orphan writing to it): never read past the cap.
    let limit = if prefix { cap } else { cap + 1 };
    File::from(fd)
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Open `name` in `dir` for reading, non-blocking, not through a symlink.
pub fn open_entry(dir: &Dir, name: &OsStr) -> io::Result<OwnedFd> {
    let c = cstring(name)?;
    open_one(dir.fd.as_fd(), &c, OFlags::RDONLY | OFlags::NONBLOCK)
}

fn rmdir(dir: BorrowedFd, name: &CStr) -> io::Result<()> {
    match fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Err(e) if e != rustix::io::Errno::NOENT => Err(e.into()),
        _ => Ok(()),
    }
}

/// The names in a directory (without `.` and `..`).
fn list(dir: BorrowedFd) -> io::Result<Vec<CString>> {
    // A duplicate (no permission check, unlike opening "." again), read from the start.
    let dup = rustix::io::fcntl_dupfd_cloexec(dir, 0)?;
    fs::seek(&dup, fs::SeekFrom::Start(0))?;
    let mut names = Vec::new();
    for entry in fs::Dir::new(dup)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// A directory's identity, to check that `..` leads back where reev came from.
fn identity(fd: &OwnedFd) -> io::Result<(u64, u64)> {
    let st = stat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

/// Let reev remove what a directory the agent left read-only holds (best effort).
fn writable(dir: &OwnedFd) {
    if let Ok(st) = stat(dir) {
        if st.st_mode & 0o700 != 0o700 {
            // Best effort: its failure changes nothing.
            let _ = fs::fchmod(dir, Mode::from_raw_mode((st.st_mode & 0o7777) | 0o700));
        }
    }
}

/// One directory on the way down: its fd, its name in its parent, the names still to remove.
struct Level {
    fd: OwnedFd,
    name: CString,
    pending: Vec<CString>,
}

/// Empty the directory `top` depth-first without following symlinks and with a constant
/// number of open fds (agents can nest directories deeper than the fd limit): going down
/// opens the child with `O_NOFOLLOW` and closes the parent; going up reopens `..` and checks
/// it is the same directory as before.
fn empty_tree(top: &OwnedFd) -> io::Result<()> {
    let top = top.try_clone()?;
    let mut ids: Vec<(u64, u64)> = Vec::new();
    let mut names: Vec<(CString, Vec<CString>)> = Vec::new();
    let mut cur = Level {
        pending: list(top.as_fd())?,
        fd: top,
        name: CString::default(),
    };
    let mut relisted = 0u32;
    writable(&cur.fd);
    loop {
        let Some(name) = cur.pending.pop() else {
            // Listed entries are gone; an orphan may have added more meanwhile.
            let again = list(cur.fd.as_fd())?;
            if !again.is_empty() && relisted < 100 {
                relisted += 1;
                cur.pending = again;
                continue;
            }
            let Some((parent_name_pending, id)) = names.pop().zip(ids.pop()) else {
                return Ok(());
            };
            let parent = open_one(cur.fd.as_fd(), c"..", OFlags::RDONLY | OFlags::DIRECTORY)?;
            if identity(&parent)? != id {
                return Err(io::Error::other(
                    "a directory was moved while reev removed it",
                ));
            }
            rmdir(parent.as_fd(), &cur.name)?;
            let (name, pending) = parent_name_pending;
            cur = Level {
                fd: parent,
                name,
                pending,
            };
            continue;
        };
        match fs::unlinkat(&cur.fd, name.as_c_str(), AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => continue,
            Err(rustix::io::Errno::ISDIR | rustix::io::Errno::PERM) => {}
            Err(e) => return Err(e.into()),
        }
        let child = match open_one(cur.fd.as_fd(), &name, OFlags::RDONLY | OFlags::DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
                let dir = Dir {
                    fd: cur.fd.try_clone()?,
                };
                dir.make_dir_usable(&name)?;
                open_one(cur.fd.as_fd(), &name, OFlags::RDONLY | OFlags::DIRECTORY)?
            }
            Err(e) => return Err(e),
        };
        writable(&child);
        let pending = list(child.as_fd())?;
        ids.push(identity(&cur.fd)?);
        let parent = std::mem::replace(
            &mut cur,
            Level {
                fd: child,
                name,
                pending,
            },
        );
        names.push((parent.name, parent.pending));
        // parent.fd is dropped here: one fd per level would run out on deep trees.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mkfifo(p: &Path) {
        fs::mknodat(
            fs::CWD,
            p,
            fs::FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
    }

    #[test]
    fn openat2_and_the_walk_agree() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::fs::write(t.path().join("a/b/f.txt"), "inside").unwrap();
        std::fs::write(outside.path().join("secret"), "outside").unwrap();
        symlink(outside.path(), t.path().join("out")).unwrap();
        symlink("b", t.path().join("a/inner")).unwrap();
        mkfifo(&t.path().join("fifo"));
        let d = Dir::open(t.path()).unwrap();
        let flags = OFlags::RDONLY | OFlags::NONBLOCK;
        type Open = fn(&Dir, &Path, OFlags) -> io::Result<OwnedFd>;
        for open in [Dir::open_beneath as Open, Dir::open_walk] {
            let f = open(&d, Path::new("a/b/f.txt"), flags).unwrap();
            assert_eq!(read_regular(f, 100).unwrap(), b"inside");
            for linked in ["out/secret", "a/inner/f.txt"] {
                let e = open(&d, Path::new(linked), flags).unwrap_err();
                assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{linked}: {e}");
            }
            let fifo = open(&d, Path::new("fifo"), flags).unwrap();
            assert!(matches!(
                read_regular(fifo, 100),
                Err(ReadError::NotRegular("FIFO"))
            ));
            assert!(open(&d, Path::new("../x"), flags).is_err());
            assert!(open(&d, Path::new("/etc/passwd"), flags).is_err());
        }
        let f = d.open_beneath(Path::new("a/b/f.txt"), flags).unwrap();
        assert!(matches!(read_regular(f, 3), Err(ReadError::TooLarge(6))));
        let f = d.open_beneath(Path::new("a/b/f.txt"), flags).unwrap();
        assert_eq!(read_regular_prefix(f, 3).unwrap(), b"ins");
    }

    #[test]
    fn creating_a_file_never_blocks_on_or_writes_into_a_fifo() {
        let t = tempfile::tempdir().unwrap();
        let d = Dir::open(t.path()).unwrap();
        mkfifo(&t.path().join("fifo"));
        // No reader: refused at once instead of waiting for one.
        let e = d.create_file(Path::new("fifo"), 0o644).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENXIO), "{e}");
        // A reader (the agent's leftover process): still not written into.
        let reader = fs::open(
            t.path().join("fifo"),
            OFlags::RDONLY | OFlags::NONBLOCK,
            Mode::empty(),
        )
        .unwrap();
        let e = d.create_file(Path::new("fifo"), 0o644).unwrap_err();
        assert!(
            e.to_string().contains("is a FIFO, not a regular file"),
            "{e}"
        );
        drop(reader);
    }

    #[test]
    fn removal_never_follows_links_and_handles_deep_and_locked_trees() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("canary"), "c").unwrap();
        let mut deep = t.path().join("w");
        for _ in 0..200 {
            deep.push("d");
        }
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("f"), "x").unwrap();
        symlink(outside.path(), t.path().join("w/link")).unwrap();
        symlink(outside.path(), deep.join("link")).unwrap();
        std::fs::create_dir(t.path().join("w/locked")).unwrap();
        std::fs::write(t.path().join("w/locked/f"), "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        let p = std::fs::Permissions::from_mode;
        std::fs::set_permissions(t.path().join("w/locked"), p(0o000)).unwrap();
        std::fs::set_permissions(t.path().join("w/d"), p(0o500)).unwrap();
        let d = Dir::open(t.path()).unwrap();
        d.ensure_subdir(OsStr::new("w")).unwrap().empty().unwrap();
        assert_eq!(std::fs::read_dir(t.path().join("w")).unwrap().count(), 0);
        assert!(outside.path().join("canary").is_file());
        // A symlink where a directory belongs is replaced, not followed.
        std::fs::remove_dir(t.path().join("w")).unwrap();
        symlink(outside.path(), t.path().join("w")).unwrap();
        let w = d.ensure_subdir(OsStr::new("w")).unwrap();
        w.empty().unwrap();
        assert!(outside.path().join("canary").is_file());
        assert!(!t.path().join("w").is_symlink());
        w.create_file(Path::new("s/x.sh"), 0o755).unwrap();
        let mode = std::fs::metadata(t.path().join("w/s/x.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        d.remove_tree(OsStr::new("w")).unwrap();
        assert!(!t.path().join("w").exists());
        symlink(outside.path(), t.path().join("w")).unwrap();
        d.remove_tree(OsStr::new("w")).unwrap();
        assert!(outside.path().join("canary").is_file());
    }
}
