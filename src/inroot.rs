//! Resolving a container path with chroot semantics, in the clone child:
//! every symlink of the image — absolute or relative, dangling or not — is
//! followed *inside* the root, and `..` stops at it, as the container will
//! see the path. The kernel does the walk (`openat2` with
//! `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`); missing components are
//! created one by one beneath a directory fd, and a dangling symlink is
//! expanded in place and the walk started again. The result is an
//! `O_PATH` fd to act on (mount onto, `fchdir` into): no path is ever
//! resolved on the host (runc CVE-2021-30465, CVE-2024-21626 class).
//!
//! Runs between `clone3` and `execve`: raw system calls and stack buffers
//! only, no allocation; errors are errnos.

use std::ffi::CStr;
use std::os::fd::RawFd;

/// What to do when the path does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    /// Fail with `ENOENT`.
    Nothing,
    /// Make it (and its parents) a directory, mode 0755.
    Dir,
    /// Make its parents directories and it an empty file, mode 0644.
    File,
}

const PATH_MAX: usize = libc::PATH_MAX as usize;
/// Symlink expansions plus created components before giving up (`ELOOP`).
const MAX_STEPS: usize = 256;

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn errno() -> i32 {
    // SAFETY: reading the thread's errno.
    unsafe { *libc::__errno_location() }
}

/// `openat2(dirfd, path, O_PATH | O_CLOEXEC | extra, resolve)`.
///
/// # Safety
/// `path` must be NUL-terminated.
pub(crate) unsafe fn openat2(
    dirfd: RawFd,
    path: *const libc::c_char,
    extra: i32,
    resolve: u64,
) -> RawFd {
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC | extra) as u64,
        mode: 0,
        resolve,
    };
    // SAFETY: a valid open_how of the size passed.
    unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            path,
            &raw const how,
            std::mem::size_of::<OpenHow>(),
        ) as RawFd
    }
}

/// `openat2` of `path` beneath `root` with chroot semantics, no magic links.
///
/// # Safety
/// `path` must be NUL-terminated.
pub(crate) unsafe fn open_beneath(root: RawFd, path: *const libc::c_char, extra: i32) -> RawFd {
    // SAFETY: forwarded.
    unsafe { openat2(root, path, extra, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) }
}

/// Opens `path` (a container path; leading `/` optional) beneath `root` as
/// the container sees it, creating what is missing as `create` says.
/// Returns an `O_PATH | O_CLOEXEC` fd.
///
/// # Safety
/// Call with valid fds; the returned fd is the caller's to close.
pub(crate) unsafe fn open_in_root(root: RawFd, path: &CStr, create: Create) -> Result<RawFd, i32> {
    let bytes = path.to_bytes();
    let mut buf = [0u8; PATH_MAX + 1];
    if bytes.len() > PATH_MAX - 2 {
        return Err(libc::ENAMETOOLONG);
    }
    // An empty path is the root itself.
    let mut len = if bytes.is_empty() {
        buf[0] = b'.';
        1
    } else {
        buf[..bytes.len()].copy_from_slice(bytes);
        bytes.len()
    };
    for _ in 0..MAX_STEPS {
        buf[len] = 0;
        // SAFETY: buf is NUL-terminated at len.
        let fd = unsafe { open_beneath(root, buf.as_ptr().cast(), 0) };
        if fd >= 0 {
            return Ok(fd);
        }
        let e = errno();
        if e != libc::ENOENT || create == Create::Nothing {
            return Err(e);
        }
        // SAFETY: forwarded; buf holds len bytes.
        len = unsafe { create_first_missing(root, &mut buf, len, create)? };
    }
    Err(libc::ELOOP)
}

/// Finds the first component of `buf[..len]` that does not resolve and
/// creates it; if it exists but does not resolve (a dangling symlink),
/// rewrites `buf` with the link expanded. Returns the new length.
unsafe fn create_first_missing(
    root: RawFd,
    buf: &mut [u8; PATH_MAX + 1],
    len: usize,
    create: Create,
) -> Result<usize, i32> {
    let mut start = 0;
    loop {
        while start < len && buf[start] == b'/' {
            start += 1;
        }
        if start >= len {
            // Everything resolves now: a concurrent change; walk again.
            return Ok(len);
        }
        let end = buf[start..len]
            .iter()
            .position(|&b| b == b'/')
            .map_or(len, |p| start + p);
        let saved = buf[end];
        buf[end] = 0;
        // SAFETY: NUL-terminated at end.
        let fd = unsafe { open_beneath(root, buf.as_ptr().cast(), 0) };
        buf[end] = saved;
        if fd >= 0 {
            // SAFETY: our fd.
            unsafe { libc::close(fd) };
            start = end;
            continue;
        }
        let e = errno();
        if e != libc::ENOENT {
            return Err(e);
        }
        // buf[start..end] is missing; its parent is buf[..start].
        let last = buf[end..len].iter().all(|&b| b == b'/');
        let parent = if start == 0 {
            None
        } else {
            let saved = buf[start];
            buf[start] = 0;
            // SAFETY: NUL-terminated at start.
            let p = unsafe { open_beneath(root, buf.as_ptr().cast(), libc::O_DIRECTORY) };
            buf[start] = saved;
            if p < 0 {
                return Err(errno());
            }
            Some(p)
        };
        let pfd = parent.unwrap_or(root);
        let mut name = [0u8; 256];
        let n = end - start;
        if n >= name.len() {
            close_opt(parent);
            return Err(libc::ENAMETOOLONG);
        }
        name[..n].copy_from_slice(&buf[start..end]);
        let made = if !last || create == Create::Dir {
            // SAFETY: NUL-terminated name beneath an fd.
            unsafe { libc::mkdirat(pfd, name.as_ptr().cast(), 0o755) == 0 }
        } else {
            // SAFETY: as above; O_NOFOLLOW|O_EXCL never follows or reuses.
            let f = unsafe {
                libc::openat(
                    pfd,
                    name.as_ptr().cast(),
                    libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_NOFOLLOW
                        | libc::O_WRONLY
                        | libc::O_CLOEXEC,
                    0o644,
                )
            };
            if f >= 0 {
                // SAFETY: our fd.
                unsafe { libc::close(f) };
            }
            f >= 0
        };
        if made {
            close_opt(parent);
            return Ok(len);
        }
        let e = errno();
        if e != libc::EEXIST {
            close_opt(parent);
            return Err(e);
        }
        // The name exists but does not resolve: a dangling symlink. Put its
        // target in its place (an absolute one is rooted at `root` by
        // RESOLVE_IN_ROOT) and walk again.
        let mut link = [0u8; PATH_MAX];
        // SAFETY: reads at most link.len() bytes.
        let ln = unsafe {
            libc::readlinkat(
                pfd,
                name.as_ptr().cast(),
                link.as_mut_ptr().cast(),
                link.len(),
            )
        };
        let read_errno = errno();
        close_opt(parent);
        if ln < 0 {
            // Not a symlink: replaced under us; walk again (bounded).
            return if read_errno == libc::EINVAL {
                Ok(len)
            } else {
                Err(read_errno)
            };
        }
        let ln = ln as usize;
        let absolute = link.first() == Some(&b'/');
        let keep = if absolute { 0 } else { start };
        let rest = len - end;
        let new_len = keep + ln + rest;
        if ln == 0 || new_len > PATH_MAX - 2 {
            return Err(libc::ENAMETOOLONG);
        }
        // buf = buf[..keep] + link + buf[end..len]; move the rest first.
        buf.copy_within(end..len, keep + ln);
        buf[keep..keep + ln].copy_from_slice(&link[..ln]);
        return Ok(new_len);
    }
}

fn close_opt(fd: Option<RawFd>) {
    if let Some(fd) = fd {
        // SAFETY: our fd.
        unsafe { libc::close(fd) };
    }
}
