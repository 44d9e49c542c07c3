//! What the kernel does when a filter matches a system call.

use crate::error::{Error, Result};
use libseccomp::ScmpAction;

/// The largest errno a filter may return: one below the kernel's
/// `MAX_ERRNO` (4095), the limit libseccomp enforces.
pub const MAX_ERRNO: u16 = 4094;

/// A seccomp action (`SECCOMP_RET_*`, see `seccomp(2)`), with its data.
///
/// ```
/// use palisade_seccomp::Action;
/// assert_eq!(Action::Errno(1).ret(), 0x0005_0001); // SECCOMP_RET_ERRNO | EPERM
/// assert_eq!(Action::from_oci("SCMP_ACT_ALLOW", None).unwrap(), Action::Allow);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Run the system call (`SECCOMP_RET_ALLOW`).
    Allow,
    /// Skip it and return `-errno` (`SECCOMP_RET_ERRNO`); 0..=4094.
    Errno(u16),
    /// Kill the calling thread (`SECCOMP_RET_KILL_THREAD`).
    KillThread,
    /// Kill the whole process, core-dumping (`SECCOMP_RET_KILL_PROCESS`, 4.14).
    KillProcess,
    /// Send `SIGSYS` to the thread (`SECCOMP_RET_TRAP`).
    Trap,
    /// Stop for a ptrace tracer with this message (`SECCOMP_RET_TRACE`);
    /// without a tracer the call fails with `ENOSYS`.
    Trace(u16),
    /// Run it and log it to the audit log (`SECCOMP_RET_LOG`, 4.14).
    Log,
    /// Ask the supervisor holding the listener fd (`SECCOMP_RET_USER_NOTIF`,
    /// 5.0); see [`NotifyListener`](crate::NotifyListener).
    Notify,
}

impl Action {
    /// The 32-bit value the BPF program returns for this action.
    pub const fn ret(self) -> u32 {
        match self {
            Action::Allow => libc::SECCOMP_RET_ALLOW,
            Action::Errno(e) => libc::SECCOMP_RET_ERRNO | e as u32,
            Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
            Action::Trap => libc::SECCOMP_RET_TRAP,
            Action::Trace(m) => libc::SECCOMP_RET_TRACE | m as u32,
            Action::Log => libc::SECCOMP_RET_LOG,
            Action::Notify => libc::SECCOMP_RET_USER_NOTIF,
        }
    }

    /// True for actions that keep the system call from running on their own
    /// (errno, kill, trap). [`Trace`](Action::Trace) and
    /// [`Notify`](Action::Notify) hand the decision to someone else.
    pub const fn denies(self) -> bool {
        matches!(
            self,
            Action::Errno(_) | Action::KillThread | Action::KillProcess | Action::Trap
        )
    }

    /// The OCI name (`SCMP_ACT_ERRNO`, ...); the data travels separately
    /// (`errnoRet`).
    pub const fn oci_name(self) -> &'static str {
        match self {
            Action::Allow => "SCMP_ACT_ALLOW",
            Action::Errno(_) => "SCMP_ACT_ERRNO",
            Action::KillThread => "SCMP_ACT_KILL_THREAD",
            Action::KillProcess => "SCMP_ACT_KILL_PROCESS",
            Action::Trap => "SCMP_ACT_TRAP",
            Action::Trace(_) => "SCMP_ACT_TRACE",
            Action::Log => "SCMP_ACT_LOG",
            Action::Notify => "SCMP_ACT_NOTIFY",
        }
    }

    /// Parses an OCI action name with its `errnoRet`. As runc does,
    /// `SCMP_ACT_ERRNO` without `errnoRet` means `EPERM`, `SCMP_ACT_TRACE`
    /// takes `errnoRet` as its message, and `SCMP_ACT_KILL` is
    /// `SCMP_ACT_KILL_THREAD`.
    ///
    /// # Errors
    /// [`Error::UnknownAction`] for another name; [`Error::Invalid`] for an
    /// `errnoRet` above 4094 (errno) or 65535 (trace).
    pub fn from_oci(name: &str, errno_ret: Option<u32>) -> Result<Action> {
        let entry = "action";
        Action::parse(name, errno_ret, entry)
    }

    pub(crate) fn parse(name: &str, errno_ret: Option<u32>, entry: &str) -> Result<Action> {
        let action = match name {
            "SCMP_ACT_ALLOW" => Action::Allow,
            "SCMP_ACT_ERRNO" => {
                let e = errno_ret.unwrap_or(libc::EPERM as u32);
                if e > MAX_ERRNO as u32 {
                    return Err(Error::invalid(entry, format!("errnoRet {e} is above 4094")));
                }
                Action::Errno(e as u16)
            }
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
            "SCMP_ACT_TRAP" => Action::Trap,
            "SCMP_ACT_TRACE" => {
                let m = errno_ret.unwrap_or(libc::EPERM as u32);
                Action::Trace(u16::try_from(m).map_err(|_| {
                    Error::invalid(entry, format!("trace message {m} does not fit 16 bits"))
                })?)
            }
            "SCMP_ACT_LOG" => Action::Log,
            "SCMP_ACT_NOTIFY" => Action::Notify,
            _ => {
                return Err(Error::UnknownAction {
                    entry: entry.to_owned(),
                    action: name.to_owned(),
                });
            }
        };
        Ok(action)
    }

    /// The OCI `errnoRet` that goes with [`oci_name`](Action::oci_name).
    pub const fn oci_errno_ret(self) -> Option<u32> {
        match self {
            Action::Errno(e) | Action::Trace(e) => Some(e as u32),
            _ => None,
        }
    }

    pub(crate) fn check(self, entry: &str) -> Result<()> {
        match self {
            Action::Errno(e) if e > MAX_ERRNO => {
                Err(Error::invalid(entry, format!("errno {e} is above 4094")))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn scmp(self) -> ScmpAction {
        match self {
            Action::Allow => ScmpAction::Allow,
            Action::Errno(e) => ScmpAction::Errno(e.into()),
            Action::KillThread => ScmpAction::KillThread,
            Action::KillProcess => ScmpAction::KillProcess,
            Action::Trap => ScmpAction::Trap,
            Action::Trace(m) => ScmpAction::Trace(m),
            Action::Log => ScmpAction::Log,
            Action::Notify => ScmpAction::Notify,
        }
    }
}
