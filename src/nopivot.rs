//! Entering the root without `pivot_root` ([`Container::no_pivot`]):
//! `mount --move` of the new root onto `/`, then `chroot(".")` — what runc's
//! `--no-pivot` and `switch_root` do, for roots `pivot_root(2)` refuses
//! (`EINVAL` when the current root is the initramfs/rootfs, which can never
//! be unmounted or moved).
//!
//! # The trade-off
//!
//! `pivot_root` leaves the old root *outside* the namespace once it is
//! detached. A move does not: the old root mount stays the namespace's root,
//! covered by the container's root but still there. Path walks cannot reach
//! it: `..` at the container's `/` stays there, and so does the classic
//! `chroot` escape runc warns about for `--no-pivot` (`CAP_SYS_CHROOT`:
//! chroot into a subdirectory, `..` up from the cwd left outside, chroot
//! again) — the old root is the namespace's topmost mount, so `..` from the
//! moved root has nowhere to go (tests/nopivot.rs checks both). But a
//! process that may unmount or move mounts (`CAP_SYS_ADMIN` over the mount
//! namespace) can take the container's `/` away, and what then resolves the
//! namespace root (a `setns` into it, such as an exec) finds the host's root
//! filesystem. So, before the move, every mount of the old root that is
//! neither the container's root, beneath it, nor one of its ancestors is
//! detached (`umount2(MNT_DETACH)`): what stays beneath holds no host
//! `/proc`, `/sys`, `/dev`, `/run` or data mounts. A `proc` or `sysfs` that
//! cannot be detached (mounts locked by a user namespace) is covered by an
//! empty read-only tmpfs instead, and the start fails if even that cannot
//! be done. The host's root filesystem itself (and any mount that is an
//! ancestor of the rootfs path) cannot be removed: prefer `pivot_root`
//! wherever it works, and never give `CAP_SYS_ADMIN` to a container
//! started this way.
//!
//! Runs in the child after clone: raw syscalls on stack buffers only, no
//! allocation.
//!
//! [`Container::no_pivot`]: crate::Container::no_pivot

use std::os::fd::RawFd;

/// Sub-step indices of `Step::PivotRoot` reported by [`move_root`].
pub(crate) mod sub {
    /// Reading `/proc/self/mountinfo` or the root's own path.
    pub const MOUNTINFO: u32 = 2;
    /// Covering an undetachable proc/sysfs with a tmpfs.
    pub const COVER: u32 = 3;
    /// `MS_MOVE` onto `/`, `chroot(".")`, `chdir("/")`.
    pub const MOVE: u32 = 4;
}

/// What [`sub`] index means, for error messages.
pub(crate) fn detail(index: u32) -> Option<&'static str> {
    Some(match index {
        sub::MOUNTINFO => "no_pivot: reading /proc/self/mountinfo to detach the host's mounts",
        sub::COVER => {
            "no_pivot: covering a host proc/sysfs mount that cannot be detached with a tmpfs"
        }
        sub::MOVE => "no_pivot: mount --move of the new root onto / and chroot(\".\")",
        _ => return None,
    })
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Detaches the host's mounts outside `rootfd` (a mount: the rootfs bound
/// onto itself), moves it onto `/` and chroots into it. Err: (sub-step, errno).
///
/// # Safety
/// In the cloned child, in its own mount namespace whose `/` is not shared.
pub(crate) unsafe fn move_root(rootfd: RawFd) -> Result<(), (u32, i32)> {
    // SAFETY: raw syscalls on stack buffers and our own fds.
    unsafe {
        let mut root = [0u8; libc::PATH_MAX as usize + 1];
        let root_len = fd_path(rootfd, &mut root).map_err(|e| (sub::MOUNTINFO, e))?;
        detach_outside(&root[..root_len])?;
        if libc::fchdir(rootfd) != 0
            || libc::mount(
                c".".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_MOVE,
                std::ptr::null(),
            ) != 0
            || libc::chroot(c".".as_ptr()) != 0
            || libc::chdir(c"/".as_ptr()) != 0
        {
            return Err((sub::MOVE, errno()));
        }
        Ok(())
    }
}

/// The canonical path of `fd` (readlink of its /proc/self/fd entry).
unsafe fn fd_path(fd: RawFd, buf: &mut [u8]) -> Result<usize, i32> {
    // "/proc/self/fd/" + up to 10 digits + NUL.
    let mut link = *b"/proc/self/fd/\0\0\0\0\0\0\0\0\0\0\0";
    let mut digits = [0u8; 10];
    let (mut n, mut v) = (0, fd as u32);
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in 0..n {
        link[14 + i] = digits[n - 1 - i];
    }
    // SAFETY: link is NUL-terminated; buf is ours.
    let len =
        unsafe { libc::readlink(link.as_ptr().cast(), buf.as_mut_ptr().cast(), buf.len() - 1) };
    if len <= 0 || len as usize >= buf.len() - 1 || buf[0] != b'/' {
        return Err(if len < 0 { errno() } else { libc::ENAMETOOLONG });
    }
    Ok(len as usize)
}

/// Whether `path` is `dir` or beneath it (both canonical, absolute).
fn within(path: &[u8], dir: &[u8]) -> bool {
    if dir == b"/" {
        return true;
    }
    path.starts_with(dir) && (path.len() == dir.len() || path[dir.len()] == b'/')
}

/// Walks the mountinfo, detaching every mount that is not `/`, not
/// within `root` and not an ancestor of it.
unsafe fn detach_outside(root: &[u8]) -> Result<(), (u32, i32)> {
    // SAFETY: raw syscalls on stack buffers and our own fd.
    unsafe {
        let fd = libc::open(
            c"/proc/self/mountinfo".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return Err((sub::MOUNTINFO, errno()));
        }
        let mut chunk = [0u8; 4096];
        // A mountinfo line: two paths of up to PATH_MAX plus options.
        let mut line = [0u8; 3 * libc::PATH_MAX as usize];
        let mut result = Ok(());
        // Passes over the same fd (the host /proc goes in the first) until
        // one detaches nothing: a walk that raced its own detaches misses
        // nothing that way.
        // Then one pass more covers what could not be detached.
        let mut cover = false;
        'pass: for pass in 0..9 {
            if libc::lseek(fd, 0, libc::SEEK_SET) != 0 {
                result = Err((sub::MOUNTINFO, errno()));
                break;
            }
            let (mut len, mut overflow, mut detached) = (0usize, false, false);
            loop {
                let n = libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len());
                if n < 0 {
                    result = Err((sub::MOUNTINFO, errno()));
                    break 'pass;
                }
                if n == 0 {
                    break;
                }
                for &b in &chunk[..n as usize] {
                    if b != b'\n' {
                        if len < line.len() {
                            line[len] = b;
                            len += 1;
                        } else {
                            overflow = true;
                        }
                        continue;
                    }
                    if overflow {
                        // A line we could not hold: fail closed.
                        result = Err((sub::MOUNTINFO, libc::ENAMETOOLONG));
                        break 'pass;
                    }
                    match handle_line(&line[..len], root, cover) {
                        Ok(d) => detached |= d,
                        Err(e) => {
                            result = Err(e);
                            break 'pass;
                        }
                    }
                    len = 0;
                }
            }
            if cover {
                break;
            }
            cover = !detached || pass == 7;
        }
        libc::close(fd);
        result
    }
}

/// One mountinfo line: `id parent maj:min root mountpoint …`.
/// Ok(true): a mount was detached. `cover`: detach nothing, cover a
/// proc/sysfs still there.
unsafe fn handle_line(line: &[u8], root: &[u8], cover: bool) -> Result<bool, (u32, i32)> {
    let Some(point) = line.split(|&b| b == b' ').nth(4) else {
        return Ok(false);
    };
    // Unescape \ooo (space, tab, newline, backslash) into a C string.
    let mut path = [0u8; libc::PATH_MAX as usize + 1];
    let mut n = 0;
    let mut i = 0;
    while i < point.len() {
        if n + 1 >= path.len() {
            return Err((sub::MOUNTINFO, libc::ENAMETOOLONG));
        }
        let b = point[i];
        if b == b'\\'
            && i + 3 < point.len()
            && point[i + 1..i + 4]
                .iter()
                .all(|d| (b'0'..=b'7').contains(d))
        {
            path[n] =
                (point[i + 1] - b'0') * 64 + (point[i + 2] - b'0') * 8 + (point[i + 3] - b'0');
            i += 4;
        } else {
            path[n] = b;
            i += 1;
        }
        n += 1;
    }
    let p = &path[..n];
    if within(p, root) {
        return Ok(false);
    }
    // No unmount may travel out to the host: with a non-recursive root
    // propagation the host's shared mounts are still peers of the host's
    // here, and an unmount beneath a peer happens on the host too. So `/`
    // and the root's other ancestors (kept) become slaves, and a mount
    // detached becomes a slave with all beneath it first (a mount that
    // cannot is left alone).
    if p == b"/" || within(root, p) {
        if !cover {
            // SAFETY: path is NUL-terminated (zeroed buffer, n < len).
            unsafe { make_slave(path.as_ptr().cast(), false) };
        }
        return Ok(false);
    }
    // SAFETY: path is NUL-terminated (zeroed buffer, n < len).
    unsafe {
        if !cover {
            return Ok(make_slave(path.as_ptr().cast(), true)
                && libc::umount2(
                    path.as_ptr().cast(),
                    libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW,
                ) == 0);
        }
        // Gone with a detached parent (ENOENT, or EINVAL on what is now a
        // plain directory of the hidden old root): nothing to do. Still a
        // proc or sysfs there (a mount locked by a user namespace): cover it.
        let mut fs: libc::statfs = std::mem::zeroed();
        if libc::statfs(path.as_ptr().cast(), &mut fs) != 0 {
            return Ok(false);
        }
        if (fs.f_type == libc::PROC_SUPER_MAGIC || fs.f_type == libc::SYSFS_MAGIC)
            && libc::mount(
                c"tmpfs".as_ptr(),
                path.as_ptr().cast(),
                c"tmpfs".as_ptr(),
                libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                c"mode=000".as_ptr().cast(),
            ) != 0
        {
            return Err((sub::COVER, errno()));
        }
    }
    Ok(false)
}

/// Makes the mount at `path` (the top one there) a slave, and with
/// `recursive` every mount beneath it. Whether it worked.
///
/// # Safety
/// `path` is NUL-terminated.
unsafe fn make_slave(path: *const libc::c_char, recursive: bool) -> bool {
    // SAFETY: raw syscalls on a NUL-terminated path and our own fd.
    unsafe {
        let fd = libc::open(path, libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC);
        if fd < 0 {
            return false;
        }
        let ok = crate::mountfd::setattr(fd, 0, 0, libc::MS_SLAVE, recursive).is_ok();
        libc::close(fd);
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::within;

    #[test]
    fn within_is_by_component() {
        assert!(within(b"/srv/root", b"/srv/root"));
        assert!(within(b"/srv/root/proc", b"/srv/root"));
        assert!(!within(b"/srv/rootfs", b"/srv/root"));
        assert!(within(b"/srv/root", b"/"));
        assert!(within(b"/srv/root", b"/srv"));
        assert!(!within(b"/srv", b"/srv/root"));
    }
}
