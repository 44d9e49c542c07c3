//! User and group ids of the calling thread, set by raw system call.
//!
//! glibc's `setresuid`/`setresgid`/`setgroups` change every thread of the
//! process: they take the thread-list lock and signal each other thread.
//! Between `clone` and `execve` the process is a copy of a possibly
//! multi-threaded parent whose locks may have been copied held and whose
//! other threads do not exist, so those wrappers can hang forever there.
//! These functions make the bare system call, which changes only the
//! calling thread — all there is in a freshly cloned child. They allocate
//! nothing and take no lock.
//!
//! ```no_run
//! // In a child between clone and execve (or a single-threaded process):
//! palisade_caps::ids::set_groups(&[])?;
//! palisade_caps::ids::set_gid(65534)?;
//! palisade_caps::ids::set_uid(65534)?;
//! # Ok::<(), nix::errno::Errno>(())
//! ```

use nix::errno::Errno;

// 32-bit x86 and ARM keep the 16-bit-id calls under the plain names.
#[cfg(not(any(target_arch = "x86", target_arch = "arm")))]
use libc::{
    SYS_setgroups as SYS_SETGROUPS, SYS_setresgid as SYS_SETRESGID, SYS_setresuid as SYS_SETRESUID,
};
#[cfg(any(target_arch = "x86", target_arch = "arm"))]
use libc::{
    SYS_setgroups32 as SYS_SETGROUPS, SYS_setresgid32 as SYS_SETRESGID,
    SYS_setresuid32 as SYS_SETRESUID,
};

fn check(r: libc::c_long) -> Result<(), Errno> {
    if r == 0 { Ok(()) } else { Err(Errno::last()) }
}

/// Sets the calling thread's real, effective and saved uid.
pub fn set_uid(uid: u32) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(SYS_SETRESUID, uid, uid, uid) })
}

/// Sets the calling thread's real, effective and saved gid.
pub fn set_gid(gid: u32) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(SYS_SETRESGID, gid, gid, gid) })
}

/// Sets the calling thread's supplementary groups (empty clears them).
pub fn set_groups(groups: &[u32]) -> Result<(), Errno> {
    // SAFETY: the kernel reads `len` ids from a live slice.
    check(unsafe { libc::syscall(SYS_SETGROUPS, groups.len(), groups.as_ptr()) })
}
