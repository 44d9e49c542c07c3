//! Small helpers over raw syscalls: errno conversion and fd opening.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;

use crate::{Error, Result};

/// `-1` → the current errno.
pub(crate) fn cvt(ret: libc::c_int) -> std::result::Result<libc::c_int, Errno> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// `-1` → the current errno, for `syscall(2)` returns.
pub(crate) fn cvt_long(ret: libc::c_long) -> std::result::Result<libc::c_long, Errno> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

pub(crate) fn cstring(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Error::Invalid {
        what: "path (contains NUL)",
        value: path.display().to_string(),
    })
}

/// `open(path, O_RDONLY | O_CLOEXEC | extra)`.
pub(crate) fn open(path: &Path, extra: libc::c_int) -> Result<OwnedFd> {
    let c = cstring(path)?;
    // SAFETY: c is a valid NUL-terminated string.
    let fd = cvt(unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC | extra) })
        .map_err(|e| Error::at("open", path, e))?;
    // SAFETY: fd was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Takes ownership of a raw fd returned by a syscall.
///
/// # Safety
/// `fd` must be a fresh, open descriptor owned by nobody else.
pub(crate) unsafe fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: forwarded to the caller.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
