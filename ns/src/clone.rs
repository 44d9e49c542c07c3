//! `clone3` with pidfds, namespaces and a target cgroup.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

use crate::sys::{cvt_long, owned};
use crate::{Error, NsKinds, PidFd, Result};

/// The `clone3` flag bits as the 64-bit values the kernel takes. libc's
/// `c_int` constants cannot hold the bits above 31 (`CLONE_INTO_CGROUP`).
pub mod flags {
    /// Return a pidfd of the child in the parent.
    pub const CLONE_PIDFD: u64 = 0x0000_1000;
    /// Child's parent is the caller's parent.
    pub const CLONE_PARENT: u64 = 0x0000_8000;
    /// Reset every handled signal to its default in the child.
    pub const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
    /// Start the child in the cgroup given by a cgroup2 directory fd.
    pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    /// New time namespace (for clone3 it applies to the child itself).
    pub const CLONE_NEWTIME: u64 = 0x0000_0080;
}

/// `struct clone_args` (CLONE_ARGS_SIZE_VER2, 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Which side of the fork the caller is on.
#[derive(Debug)]
pub enum CloneResult {
    /// In the new child. Only async-signal-safe work may follow (no
    /// allocation, no locks) until `execve` or `_exit`.
    Child,
    /// In the parent.
    Parent(ClonedChild),
}

/// The parent's view of the new child.
#[derive(Debug)]
pub struct ClonedChild {
    /// The child's pid in the caller's pid namespace.
    pub pid: i32,
    /// The child's pidfd, when requested.
    pub pidfd: Option<PidFd>,
    /// Whether the child was started in the requested cgroup. `false` when
    /// the kernel lacked `clone3` and `clone` was used: the caller must then
    /// move the child itself (write its pid to `cgroup.procs`).
    pub in_cgroup: bool,
}

/// Builder for `clone3(2)`, falling back to `clone(2)` where `clone3` is
/// unavailable (ENOSYS, or EPERM from an old seccomp profile).
///
/// ```no_run
/// use palisade_ns::{Clone3, CloneResult, NsKinds};
/// let clone = Clone3::new().namespaces(NsKinds::UTS | NsKinds::PID).pidfd(true);
/// // SAFETY: the child only makes raw syscalls before _exit.
/// match unsafe { clone.spawn()? } {
///     CloneResult::Child => unsafe { libc::_exit(0) },
///     CloneResult::Parent(child) => {
///         let status = child.pidfd.unwrap().wait()?;
///         assert!(status.success());
///     }
/// }
/// # Ok::<(), palisade_ns::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Clone3<'fd> {
    namespaces: NsKinds,
    pidfd: bool,
    cgroup: Option<BorrowedFd<'fd>>,
    exit_signal: i32,
    clear_sighand: bool,
}

impl Default for Clone3<'_> {
    fn default() -> Self {
        Clone3::new()
    }
}

impl<'fd> Clone3<'fd> {
    /// A plain fork-like clone with `SIGCHLD` as exit signal.
    pub fn new() -> Self {
        Clone3 {
            namespaces: NsKinds::empty(),
            pidfd: false,
            cgroup: None,
            exit_signal: libc::SIGCHLD,
            clear_sighand: false,
        }
    }

    /// New namespaces for the child.
    pub fn namespaces(mut self, kinds: NsKinds) -> Self {
        self.namespaces = kinds;
        self
    }

    /// Ask for a pidfd of the child (`CLONE_PIDFD`).
    pub fn pidfd(mut self, yes: bool) -> Self {
        self.pidfd = yes;
        self
    }

    /// Start the child in the cgroup2 directory `dir` (`CLONE_INTO_CGROUP`).
    pub fn into_cgroup(mut self, dir: BorrowedFd<'fd>) -> Self {
        self.cgroup = Some(dir);
        self
    }

    /// Signal the parent gets when the child exits (default `SIGCHLD`).
    pub fn exit_signal(mut self, signal: i32) -> Self {
        self.exit_signal = signal;
        self
    }

    /// Reset handled signals to default in the child (`CLONE_CLEAR_SIGHAND`).
    pub fn clear_sighand(mut self, yes: bool) -> Self {
        self.clear_sighand = yes;
        self
    }

    /// The flags `clone3` will get.
    pub fn flags(&self) -> u64 {
        let mut f = self.namespaces.bits() as u32 as u64;
        if self.pidfd {
            f |= flags::CLONE_PIDFD;
        }
        if self.cgroup.is_some() {
            f |= flags::CLONE_INTO_CGROUP;
        }
        if self.clear_sighand {
            f |= flags::CLONE_CLEAR_SIGHAND;
        }
        f
    }

    /// Forks. Everything is prepared before the syscall; the parent gets the
    /// child's pid and pidfd.
    ///
    /// # Safety
    /// As with `fork` in a multi-threaded program: in
    /// [`CloneResult::Child`] only async-signal-safe operations are allowed
    /// (no allocation, no locks, no stdio) until `execve` or `_exit`, and
    /// the child must never return into code that expects the parent's
    /// threads to exist. Some glibc calls that look harmless are not:
    /// `fork` takes the malloc and stdio locks, and `setresuid`,
    /// `setresgid`, `setgroups` signal every thread of the parent — each
    /// can hang the child forever. Fork with the raw `SYS_clone`, switch
    /// ids with `palisade_caps::ids`.
    pub unsafe fn spawn(&self) -> Result<CloneResult> {
        let mut pidfd: libc::c_int = -1;
        let args = CloneArgs {
            flags: self.flags(),
            pidfd: if self.pidfd { &raw mut pidfd as u64 } else { 0 },
            exit_signal: self.exit_signal as u64,
            cgroup: self.cgroup.map_or(0, |fd| fd.as_raw_fd() as u64),
            ..CloneArgs::default()
        };
        let use_clone3 = clone3_usable();
        // SAFETY: args is a valid clone_args of the size passed; with no
        // stack the child continues on a copy of this stack, like fork.
        let ret = if use_clone3 {
            unsafe {
                libc::syscall(
                    libc::SYS_clone3,
                    &raw const args,
                    std::mem::size_of::<CloneArgs>(),
                )
            }
        } else {
            if self.clear_sighand {
                return Err(Error::Unsupported {
                    feature: "CLONE_CLEAR_SIGHAND without clone3",
                    errno: Errno::ENOSYS,
                });
            }
            let legacy = (args.flags & 0xffff_ffff & !flags::CLONE_INTO_CGROUP) | args.exit_signal;
            // SAFETY: x86-64/arm64 order (flags, stack, parent_tid, child_tid,
            // tls); with CLONE_PIDFD the pidfd lands in parent_tid.
            unsafe {
                libc::syscall(
                    libc::SYS_clone,
                    legacy,
                    0usize,
                    if self.pidfd {
                        &raw mut pidfd
                    } else {
                        std::ptr::null_mut()
                    },
                    0usize,
                    0usize,
                )
            }
        };
        let pid = cvt_long(ret).map_err(|e| match e {
            Errno::EBUSY | Errno::EOPNOTSUPP if self.cgroup.is_some() => Error::Sys {
                op: "clone3(CLONE_INTO_CGROUP): target must be a cgroup2 leaf directory without internal processes",
                path: None,
                errno: e,
            },
            e => Error::sys(if use_clone3 { "clone3" } else { "clone" }, e),
        })?;
        if pid == 0 {
            return Ok(CloneResult::Child);
        }
        let pid = pid as i32;
        let pidfd = (self.pidfd && pidfd >= 0).then(|| {
            // SAFETY: the kernel stored a fresh pidfd (CLOEXEC) for `pid`.
            unsafe { PidFd::from_owned(owned(pidfd), pid) }
        });
        Ok(CloneResult::Parent(ClonedChild {
            pid,
            pidfd,
            in_cgroup: use_clone3 && self.cgroup.is_some(),
        }))
    }
}

/// Is `clone3` usable? Probed once with an invalid (too small) size:
/// ENOSYS/EPERM mean absent or filtered, EINVAL means present.
fn clone3_usable() -> bool {
    static USABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *USABLE.get_or_init(|| {
        // SAFETY: a null pointer with size 0 cannot create a process.
        let ret = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<CloneArgs>(), 0) };
        !(ret == -1 && matches!(Errno::last(), Errno::ENOSYS | Errno::EPERM))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_args_has_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<CloneArgs>(), 88);
    }

    #[test]
    fn flags_keep_the_bits_above_31() {
        let dir = std::fs::File::open("/").unwrap();
        use std::os::fd::AsFd;
        let c = Clone3::new()
            .namespaces(NsKinds::all())
            .pidfd(true)
            .into_cgroup(dir.as_fd());
        let f = c.flags();
        assert_ne!(f & flags::CLONE_INTO_CGROUP, 0);
        assert_ne!(f & flags::CLONE_PIDFD, 0);
        assert_eq!(
            f & 0xffff_ffff & !flags::CLONE_PIDFD,
            NsKinds::all().bits() as u64
        );
    }
}
