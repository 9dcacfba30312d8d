//! The few system calls a session's namespace init makes once reev has gone on: made
//! directly, never through libc, because the init shares reev's memory (it is a
//! `clone(CLONE_VM)` child, see `spawn`) and with it the thread-local `errno` of the reev
//! thread that started it. A libc wrapper that fails would write that `errno` under the
//! feet of reev's running thread; these return `-errno` instead and touch nothing else.

use libc::c_long;

/// One system call with up to four arguments; returns the result or `-errno`.
///
/// # Safety
/// The arguments must be valid for system call `n`.
#[cfg(target_arch = "x86_64")]
pub unsafe fn syscall4(n: c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the x86-64 Linux system call convention; rcx and r11 are clobbered by `syscall`.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        );
    }
    ret
}

/// One system call with up to four arguments; returns the result or `-errno`.
///
/// # Safety
/// The arguments must be valid for system call `n`.
#[cfg(target_arch = "aarch64")]
pub unsafe fn syscall4(n: c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the aarch64 Linux system call convention: number in x8, result in x0.
    unsafe {
        core::arch::asm!(
            "svc 0",
            in("x8") n,
            inlateout("x0") a as isize => ret,
            in("x1") b,
            in("x2") c,
            in("x3") d,
            options(nostack)
        );
    }
    ret
}

/// Elsewhere: through libc, whose `errno` write on failure is the (small) price.
///
/// # Safety
/// The arguments must be valid for system call `n`.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub unsafe fn syscall4(n: c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    // SAFETY: forwarded as given.
    let r = unsafe { libc::syscall(n, a, b, c, d) } as isize;
    if r < 0 {
        // SAFETY: errno of this thread, read right after the failed call.
        -(unsafe { *libc::__errno_location() } as isize)
    } else {
        r
    }
}

pub fn kill(pid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: kill takes plain integers.
    unsafe { syscall4(libc::SYS_kill, pid as usize, sig as usize, 0, 0) };
}

/// `wait4(-1, &status, 0, NULL)`: the pid reaped, or `-errno`.
pub fn wait_any(status: &mut libc::c_int) -> isize {
    let minus_one = -1isize as usize;
    // SAFETY: status is a valid pointer for the duration of the call.
    unsafe {
        syscall4(
            libc::SYS_wait4,
            minus_one,
            status as *mut libc::c_int as usize,
            0,
            0,
        )
    }
}

/// `read`/`write` (`n`) of `len` bytes at `ptr` on `fd`: the count, or `-errno`.
///
/// # Safety
/// `ptr` must be valid for `len` bytes, writable for `read`.
unsafe fn transfer(n: c_long, fd: libc::c_int, ptr: usize, len: usize) -> isize {
    // SAFETY: as the caller promises.
    unsafe { syscall4(n, fd as usize, ptr, len, 0) }
}

pub fn write(fd: libc::c_int, bytes: &[u8]) -> isize {
    // SAFETY: bytes is valid for reading for its length.
    unsafe { transfer(libc::SYS_write, fd, bytes.as_ptr() as usize, bytes.len()) }
}

/// `read(fd, buf)`: the bytes read, or `-errno`.
pub fn read(fd: libc::c_int, buf: &mut [u8]) -> isize {
    // SAFETY: buf is valid for writing for its length.
    unsafe { transfer(libc::SYS_read, fd, buf.as_mut_ptr() as usize, buf.len()) }
}

/// `fcntl(fd, F_DUPFD, min)`: the new descriptor, or `-errno`.
pub fn dup_at_least(fd: libc::c_int, min: libc::c_int) -> isize {
    // SAFETY: fcntl takes plain integers.
    unsafe {
        syscall4(
            libc::SYS_fcntl,
            fd as usize,
            libc::F_DUPFD as usize,
            min as usize,
            0,
        )
    }
}

/// Unblock every signal of this process.
pub fn unblock_all() {
    let empty: u64 = 0;
    // SAFETY: a valid 8-byte kernel signal set; the old set is not asked for.
    unsafe {
        syscall4(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK as usize,
            &empty as *const u64 as usize,
            0,
            8,
        )
    };
}

pub fn exit(code: libc::c_int) -> ! {
    loop {
        // SAFETY: exit_group ends this process; it does not return.
        unsafe { syscall4(libc::SYS_exit_group, code as usize, 0, 0, 0) };
    }
}
