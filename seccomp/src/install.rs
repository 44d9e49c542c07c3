//! The compiled program and its async-signal-safe installation.

use crate::action::Action;
use crate::error::{Error, Result};
use nix::errno::Errno;
use std::os::fd::RawFd;
use std::sync::OnceLock;

/// One classic-BPF instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Insn {
    /// Opcode (`BPF_LD | BPF_W | BPF_ABS`, ...).
    pub code: u16,
    /// Jump offset when the condition holds.
    pub jt: u8,
    /// Jump offset when it does not.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

const _: () = assert!(std::mem::size_of::<Insn>() == std::mem::size_of::<libc::sock_filter>());

bitflags::bitflags! {
    /// `SECCOMP_FILTER_FLAG_*` given to `seccomp(SECCOMP_SET_MODE_FILTER)`.
    /// [`NEW_LISTENER`](libc::SECCOMP_FILTER_FLAG_NEW_LISTENER) is not here:
    /// [`CompiledFilter::install`] adds it when the filter has a
    /// [`Notify`](Action::Notify) rule.
    ///
    /// ```
    /// use palisade_seccomp::InstallFlags;
    /// let wanted = InstallFlags::SPEC_ALLOW | InstallFlags::LOG;
    /// let flags = wanted & InstallFlags::available(); // probed once
    /// # let _ = flags;
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct InstallFlags: u32 {
        /// Apply to every thread of the process (3.17); fails with the
        /// offending thread id if one cannot take it.
        const TSYNC = libc::SECCOMP_FILTER_FLAG_TSYNC as u32;
        /// Log every action but `ALLOW` (4.14).
        const LOG = libc::SECCOMP_FILTER_FLAG_LOG as u32;
        /// Leave speculative-store-bypass mitigation off (4.17).
        const SPEC_ALLOW = libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32;
        /// A notified task waits killably once the supervisor has received
        /// the notification (5.19).
        const WAIT_KILLABLE_RECV = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32;
    }
}

impl InstallFlags {
    /// Parses an OCI flag name (`SECCOMP_FILTER_FLAG_TSYNC`, ...).
    ///
    /// # Errors
    /// [`Error::UnknownFlag`] naming it.
    pub fn from_oci(name: &str) -> Result<InstallFlags> {
        Ok(match name {
            "SECCOMP_FILTER_FLAG_TSYNC" => InstallFlags::TSYNC,
            "SECCOMP_FILTER_FLAG_LOG" => InstallFlags::LOG,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => InstallFlags::SPEC_ALLOW,
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => InstallFlags::WAIT_KILLABLE_RECV,
            _ => return Err(Error::UnknownFlag(name.to_owned())),
        })
    }

    /// The OCI names of the flags set.
    pub fn oci_names(self) -> Vec<&'static str> {
        [
            (InstallFlags::TSYNC, "SECCOMP_FILTER_FLAG_TSYNC"),
            (InstallFlags::LOG, "SECCOMP_FILTER_FLAG_LOG"),
            (InstallFlags::SPEC_ALLOW, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"),
            (
                InstallFlags::WAIT_KILLABLE_RECV,
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            ),
        ]
        .into_iter()
        .filter(|(f, _)| self.contains(*f))
        .map(|(_, n)| n)
        .collect()
    }

    /// The flags this kernel takes, probed once: `seccomp(SET_MODE_FILTER,
    /// flag, NULL)` fails with `EFAULT` for a known flag and `EINVAL` for an
    /// unknown one (the kernel checks flags before reading the program).
    pub fn available() -> InstallFlags {
        features().flags
    }
}

/// What this kernel's seccomp supports, probed once and cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// Filter flags the kernel takes.
    pub flags: InstallFlags,
    /// User notification (`NEW_LISTENER` flag and `RET_USER_NOTIF`, 5.0).
    pub notify: bool,
    /// `SECCOMP_RET_LOG` (4.14).
    pub log: bool,
    /// `SECCOMP_RET_KILL_PROCESS` (4.14).
    pub kill_process: bool,
}

/// Probes the kernel's seccomp once (`SECCOMP_GET_ACTION_AVAIL` and flag
/// probes) and caches the answer.
///
/// ```
/// let f = palisade_seccomp::features();
/// println!("notify: {}, flags: {:?}", f.notify, f.flags);
/// ```
pub fn features() -> Features {
    static CACHE: OnceLock<Features> = OnceLock::new();
    *CACHE.get_or_init(|| {
        let flag_ok = |flag: libc::c_ulong| {
            // SAFETY: a NULL program makes the kernel fail after its flag check.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    flag,
                    std::ptr::null::<libc::sock_fprog>(),
                )
            };
            r == -1 && Errno::last() == Errno::EFAULT
        };
        let action_ok = |ret: u32| {
            // SAFETY: GET_ACTION_AVAIL reads one u32 from a valid pointer.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_GET_ACTION_AVAIL,
                    0,
                    &ret as *const u32,
                )
            };
            r == 0
        };
        let mut flags = InstallFlags::empty();
        for f in InstallFlags::all().iter() {
            if flag_ok(f.bits().into()) {
                flags |= f;
            }
        }
        Features {
            flags,
            notify: flag_ok(libc::SECCOMP_FILTER_FLAG_NEW_LISTENER)
                && action_ok(Action::Notify.ret()),
            log: action_ok(Action::Log.ret()),
            kill_process: action_ok(Action::KillProcess.ret()),
        }
    })
}

/// A BPF program ready to install: compiled in the parent by
/// [`Filter::compile`](crate::Filter::compile), installed in the child by
/// [`install`](CompiledFilter::install) without allocating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledFilter {
    prog: Vec<Insn>,
    listener: bool,
    flags: InstallFlags,
    skipped: Vec<String>,
}

impl CompiledFilter {
    pub(crate) fn new(
        prog: Vec<Insn>,
        listener: bool,
        flags: InstallFlags,
        skipped: Vec<String>,
    ) -> CompiledFilter {
        CompiledFilter {
            prog,
            listener,
            flags,
            skipped,
        }
    }

    /// The program.
    pub fn instructions(&self) -> &[Insn] {
        &self.prog
    }

    /// Number of instructions.
    pub fn len(&self) -> usize {
        self.prog.len()
    }

    /// Never true for a compiled filter (kept for the `len` convention).
    pub fn is_empty(&self) -> bool {
        self.prog.is_empty()
    }

    /// True when the filter has a [`Notify`](Action::Notify) action, so
    /// [`install`](CompiledFilter::install) asks for a listener fd.
    pub fn wants_listener(&self) -> bool {
        self.listener
    }

    /// The flags the profile asked for (OCI `flags`).
    pub fn profile_flags(&self) -> InstallFlags {
        self.flags
    }

    /// Optional rules whose names libseccomp does not know (skipped).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Installs the filter on the calling thread (all threads with
    /// [`InstallFlags::TSYNC`]) with exactly one raw
    /// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)` system call: no
    /// allocation, no lock, so it may run in a child between `clone` and
    /// `execve`. Pass `flags & InstallFlags::available()` computed in the
    /// parent to drop flags the kernel lacks.
    ///
    /// The caller must have set `no_new_privs` (`prctl(PR_SET_NO_NEW_PRIVS)`)
    /// or hold `CAP_SYS_ADMIN` in its user namespace. When to call it: last
    /// before `execve` when `no_new_privs` is set (the fewest system calls
    /// the profile must allow for the runtime itself); otherwise before
    /// capabilities are dropped, while `CAP_SYS_ADMIN` is still held. runc
    /// orders it the same way.
    ///
    /// Returns the user-notification listener fd (close-on-exec, owned by
    /// the caller) when [`wants_listener`](CompiledFilter::wants_listener).
    ///
    /// # Errors
    /// The kernel's errno: `EACCES` without `no_new_privs` or
    /// `CAP_SYS_ADMIN`, `EINVAL` for an unknown flag, `EBUSY` when a
    /// listener already exists on the filter chain, `ESRCH` when `TSYNC`
    /// meets a thread that cannot take the filter.
    pub fn install(&self, flags: InstallFlags) -> std::result::Result<Option<RawFd>, Errno> {
        let mut raw = flags.bits() as libc::c_ulong;
        if self.listener {
            raw |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
            if flags.contains(InstallFlags::TSYNC) {
                // TSYNC and NEW_LISTENER both use the return value; with
                // TSYNC_ESRCH a failing thread is reported as ESRCH instead.
                raw |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
            }
        }
        let prog = libc::sock_fprog {
            len: self.prog.len() as libc::c_ushort,
            filter: self.prog.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points at `self.prog`, alive for the call; Insn has
        // sock_filter's layout (asserted above).
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                raw,
                &prog as *const libc::sock_fprog,
            )
        };
        if r < 0 {
            return Err(Errno::last());
        }
        Ok(self.listener.then_some(r as RawFd))
    }
}
