//! Helpers shared by the seccomp test files.
#![allow(dead_code)]

use nix::errno::Errno;
use palisade_seccomp::{CompiledFilter, InstallFlags};

/// In a forked child: sets no_new_privs and installs `f` (profile flags the
/// kernel has), returning the listener fd if any. Panics on failure.
pub fn install(f: &CompiledFilter) -> Option<i32> {
    // SAFETY: plain prctl.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(r, 0, "PR_SET_NO_NEW_PRIVS: {}", Errno::last());
    f.install(f.profile_flags() & InstallFlags::available())
        .expect("seccomp(SECCOMP_SET_MODE_FILTER)")
}

/// Raw syscall returning `Ok(ret)` or `Err(errno)`.
pub fn sys(nr: libc::c_long, a: [libc::c_long; 4]) -> Result<libc::c_long, i32> {
    // SAFETY: tests call only harmless numbers/arguments.
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3]) };
    if r < 0 { Err(Errno::last_raw()) } else { Ok(r) }
}

/// The `Seccomp:` field of /proc/self/status.
pub fn seccomp_mode() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:").map(|v| v.trim().to_owned()))
        .unwrap_or_default()
}
