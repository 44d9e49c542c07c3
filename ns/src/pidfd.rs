//! Process file descriptors: a handle to one process that a recycled pid
//! can never alias.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;

use crate::sys::{cvt, cvt_long, owned};
use crate::{Error, Namespace, NsKind, Result};

/// How a process ended.
///
/// ```
/// use palisade_ns::ExitStatus;
/// assert!(ExitStatus::Exited(0).success());
/// assert_eq!(ExitStatus::Signaled { signal: 9, core_dumped: false }.code(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ExitStatus {
    /// Called `exit` with this code.
    Exited(i32),
    /// Killed by a signal.
    Signaled {
        /// The signal number.
        signal: i32,
        /// Whether a core was dumped.
        core_dumped: bool,
    },
}

impl ExitStatus {
    /// Exited with code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }

    /// The exit code, when the process exited.
    pub fn code(self) -> Option<i32> {
        match self {
            ExitStatus::Exited(code) => Some(code),
            ExitStatus::Signaled { .. } => None,
        }
    }

    /// The signal that killed the process, if one did.
    pub fn signal(self) -> Option<i32> {
        match self {
            ExitStatus::Signaled { signal, .. } => Some(signal),
            ExitStatus::Exited(_) => None,
        }
    }

    /// The shell convention: the code, or 128 + signal.
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => code,
            ExitStatus::Signaled { signal, .. } => 128 + signal,
        }
    }

    /// From a `siginfo_t` filled by `waitid`.
    fn from_siginfo(info: &libc::siginfo_t) -> ExitStatus {
        // SAFETY: waitid filled a SIGCHLD siginfo.
        let status = unsafe { info.si_status() };
        match info.si_code {
            libc::CLD_EXITED => ExitStatus::Exited(status),
            code => ExitStatus::Signaled {
                signal: status,
                core_dumped: code == libc::CLD_DUMPED,
            },
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Exited(code) => write!(f, "exit status {code}"),
            ExitStatus::Signaled { signal, .. } => write!(f, "killed by signal {signal}"),
        }
    }
}

/// A pidfd: an owned, close-on-exec handle to one process.
///
/// ```no_run
/// use palisade_ns::PidFd;
/// let child = std::process::Command::new("sleep").arg("10").spawn()?;
/// let pidfd = PidFd::open(child.id() as i32)?;
/// pidfd.send_signal(libc::SIGTERM)?;
/// println!("{}", pidfd.wait()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PidFd {
    fd: OwnedFd,
    pid: i32,
}

impl PidFd {
    /// `pidfd_open(pid)`.
    pub fn open(pid: i32) -> Result<PidFd> {
        if pid <= 0 {
            return Err(Error::Invalid {
                what: "pid",
                value: pid.to_string(),
            });
        }
        // SAFETY: pidfd_open takes a pid and flags; returns a new fd (CLOEXEC).
        let fd =
            cvt_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) }).map_err(
                |e| match e {
                    Errno::ENOSYS => Error::Unsupported {
                        feature: "pidfd_open",
                        errno: e,
                    },
                    e => Error::sys("pidfd_open", e),
                },
            )?;
        // SAFETY: fresh fd from the kernel.
        Ok(PidFd {
            fd: unsafe { owned(fd as libc::c_int) },
            pid,
        })
    }

    /// Wraps a pidfd received from `clone3(CLONE_PIDFD)` for process `pid`.
    ///
    /// # Safety
    /// `fd` must be a pidfd referring to process `pid`.
    pub unsafe fn from_owned(fd: OwnedFd, pid: i32) -> PidFd {
        PidFd { fd, pid }
    }

    /// The pid the process had when the pidfd was made (in our pid namespace).
    pub fn pid(&self) -> Result<i32> {
        Ok(self.pid)
    }

    /// Sends `signal` (`pidfd_send_signal`); never hits another process.
    pub fn send_signal(&self, signal: i32) -> Result<()> {
        // SAFETY: plain syscall with a null siginfo.
        cvt_long(unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        })
        .map(drop)
        .map_err(|e| Error::sys("pidfd_send_signal", e))
    }

    /// Errors with ESRCH when the process has exited.
    pub(crate) fn ensure_alive(&self) -> Result<()> {
        self.send_signal(0)
    }

    /// Waits for the process (our child) to exit and reaps it.
    pub fn wait(&self) -> Result<ExitStatus> {
        self.wait_with(libc::WEXITED)
            .map(|s| s.expect("waitid without WNOHANG returns a status"))
    }

    /// Reaps the process if it has exited; `None` while it runs.
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        self.wait_with(libc::WEXITED | libc::WNOHANG)
    }

    fn wait_with(&self, options: libc::c_int) -> Result<Option<ExitStatus>> {
        loop {
            // SAFETY: zeroed siginfo is a valid out-parameter for waitid.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: waitid(P_PIDFD) on our fd.
            let ret = unsafe {
                libc::waitid(
                    libc::P_PIDFD,
                    self.fd.as_raw_fd() as libc::id_t,
                    &mut info,
                    options,
                )
            };
            match cvt(ret) {
                // SAFETY: si_pid is valid for SIGCHLD siginfo; 0 = still running.
                Ok(_) if unsafe { info.si_pid() } == 0 => return Ok(None),
                Ok(_) => return Ok(Some(ExitStatus::from_siginfo(&info))),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("waitid(P_PIDFD)", e)),
            }
        }
    }

    /// The namespace of `kind` the process is in.
    pub fn namespace(&self, kind: NsKind) -> Result<Namespace> {
        Namespace::of_pidfd(self, kind)
    }
}

impl AsFd for PidFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> libc::c_int {
        self.fd.as_raw_fd()
    }
}
