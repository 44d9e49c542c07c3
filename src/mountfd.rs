//! Mounting onto file descriptors with the new mount API, in the clone
//! child (raw system calls, no allocation; errors are errnos): a target
//! is an `O_PATH` fd from [`crate::inroot`], so a mount lands exactly on
//! what was resolved inside the root, and attributes are set on the
//! detached tree before it is attached — recursively, adding to (never
//! replacing) what the source carries, so a read-only bind keeps `nosuid`,
//! `nodev`, `noexec` and the flags a user namespace locks.

use std::ffi::CString;
use std::os::fd::RawFd;

const OPEN_TREE_CLONE: u32 = 1;
const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
const FSOPEN_CLOEXEC: u32 = 1;
const FSCONFIG_SET_FLAG: u32 = 0;
const FSCONFIG_SET_STRING: u32 = 1;
const FSCONFIG_CMD_CREATE: u32 = 6;
const FSMOUNT_CLOEXEC: u32 = 1;

/// `MOUNT_ATTR_*` (linux/mount.h).
pub(crate) mod attr {
    pub const RDONLY: u64 = 0x01;
    pub const NOSUID: u64 = 0x02;
    pub const NODEV: u64 = 0x04;
    pub const NOEXEC: u64 = 0x08;
    pub const STRICTATIME: u64 = 0x20;
    pub const RELATIME: u64 = 0x00;
    pub const NOATIME: u64 = 0x10;
    /// The atime mode field (`MOUNT_ATTR__ATIME`).
    pub const ATIME: u64 = 0x70;
    pub const NODIRATIME: u64 = 0x80;
    /// Not the kernel's: asks [`super::set_attrs`] to clear the atime
    /// field before setting the mode in `set` (the kernel changes the
    /// mode only so; relatime is 0).
    pub const WANT_ATIME: u64 = 1 << 63;
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn errno() -> i32 {
    // SAFETY: reading the thread's errno.
    unsafe { *libc::__errno_location() }
}

fn check(ret: libc::c_long) -> Result<libc::c_long, i32> {
    if ret < 0 { Err(errno()) } else { Ok(ret) }
}

fn close(fd: libc::c_long) {
    // SAFETY: our fd.
    unsafe { libc::close(fd as RawFd) };
}

/// Adds `set` to the mount at `fd` (and every mount below it when
/// `recursive`), keeping every other flag it has.
///
/// # Safety
/// `fd` must be a valid fd.
pub(crate) unsafe fn set_attrs(fd: RawFd, set: u64, recursive: bool) -> Result<(), i32> {
    if set == 0 {
        return Ok(());
    }
    let clr = if set & attr::WANT_ATIME != 0 {
        attr::ATIME
    } else {
        0
    };
    // SAFETY: forwarded.
    unsafe { setattr(fd, set & !attr::WANT_ATIME, clr, 0, recursive) }
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE])` with these
/// fields (`propagation`: an `MS_*` value, or 0 to keep it).
///
/// # Safety
/// `fd` must be a valid fd.
pub(crate) unsafe fn setattr(
    fd: RawFd,
    set: u64,
    clr: u64,
    propagation: u64,
    recursive: bool,
) -> Result<(), i32> {
    let a = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation,
        userns_fd: 0,
    };
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: a valid mount_attr of the size passed.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags as libc::c_uint,
            &raw const a,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// Attaches the detached mount `tree` onto the target fd, then closes it.
unsafe fn attach(tree: libc::c_long, target: RawFd) -> Result<(), i32> {
    // SAFETY: forwarded.
    let r = unsafe { move_tree(tree as RawFd, target) };
    close(tree);
    r
}

/// Attaches the detached mount `tree` onto the target fd; `tree` stays
/// open (and now names the attached mount).
///
/// # Safety
/// Valid fds.
pub(crate) unsafe fn move_tree(tree: RawFd, target: RawFd) -> Result<(), i32> {
    // SAFETY: fds and empty paths.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree as RawFd,
            c"".as_ptr(),
            target,
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// A detached copy of the mount at `path` (not recursive).
///
/// # Safety
/// `path` NUL-terminated.
pub(crate) unsafe fn detached_copy(path: &std::ffi::CStr) -> Result<RawFd, i32> {
    // SAFETY: a NUL-terminated path.
    check(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC,
        )
    })
    .map(|fd| fd as RawFd)
}

/// Binds `source` (a path resolved from the caller's view, or the object
/// of `source_fd` when `source` is empty) onto `target`, with `set` added
/// to every mount of the bound tree.
///
/// # Safety
/// Valid fds; `source` NUL-terminated.
pub(crate) unsafe fn bind(
    source_fd: RawFd,
    source: &std::ffi::CStr,
    recursive: bool,
    set: u64,
    target: RawFd,
) -> Result<(), i32> {
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    if source.is_empty() {
        flags |= libc::AT_EMPTY_PATH as u32;
    }
    // SAFETY: a NUL-terminated path beneath a valid fd.
    let tree =
        check(unsafe { libc::syscall(libc::SYS_open_tree, source_fd, source.as_ptr(), flags) })?;
    // SAFETY: our fresh tree fd.
    if let Err(e) = unsafe { set_attrs(tree as RawFd, set, recursive) } {
        close(tree);
        return Err(e);
    }
    // SAFETY: forwarded.
    unsafe { attach(tree, target) }
}

/// A new instance of `fstype` with `options` (`key=value`, or a flag when
/// the value is `None`) and mount attributes `attrs`, attached on `target`.
///
/// # Safety
/// Valid fd; NUL-terminated strings.
pub(crate) unsafe fn new_fs(
    fstype: &std::ffi::CStr,
    options: &[(CString, Option<CString>)],
    attrs: u64,
    target: RawFd,
) -> Result<(), i32> {
    // SAFETY: NUL-terminated name.
    let fs = check(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
    let result = (|| {
        for (key, value) in options {
            let (cmd, v) = match value {
                Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
                None => (FSCONFIG_SET_FLAG, std::ptr::null()),
            };
            // SAFETY: NUL-terminated key and value (or null for a flag).
            check(unsafe { libc::syscall(libc::SYS_fsconfig, fs, cmd, key.as_ptr(), v, 0) })?;
        }
        // SAFETY: the create command takes no strings.
        check(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs,
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_char>(),
                0,
            )
        })?;
        // SAFETY: a configured fs context.
        let mnt = check(unsafe { libc::syscall(libc::SYS_fsmount, fs, FSMOUNT_CLOEXEC, attrs) })?;
        // SAFETY: forwarded.
        unsafe { attach(mnt, target) }
    })();
    close(fs);
    result
}
