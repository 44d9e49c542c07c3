//! Errors of `Container::spawn` and of a running [`Child`](crate::Child).

use std::fmt;

use nix::errno::Errno;

/// The step of the spawn pipeline that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Checking the configuration (before anything was created).
    Validate,
    /// Creating the cgroup or applying its limits.
    Cgroup,
    /// Mounting the overlay root filesystem.
    Overlay,
    /// Pipes and other parent-side preparation.
    Prepare,
    /// `clone3`.
    Clone,
    /// Writing the user-namespace id maps.
    IdMaps,
    /// Writing time-namespace offsets.
    TimeOffsets,
    /// Creating and configuring the network.
    Network,
    /// Waiting for the parent's go-ahead.
    Sync,
    /// Joining an existing namespace.
    JoinNamespace,
    /// Making `/` private in the new mount namespace.
    MountPrivate,
    /// Binding the root filesystem.
    MountRootfs,
    /// Mounting `/proc`.
    MountProc,
    /// Building the minimal `/dev`.
    MountDev,
    /// Mounting `/sys`.
    MountSys,
    /// One of the extra mounts (`detail` names it).
    Mount,
    /// `pivot_root` into the new root.
    PivotRoot,
    /// Masking a path (`detail` names it).
    MaskPath,
    /// Making a path read-only (`detail` names it).
    ReadonlyPath,
    /// `sethostname`.
    Hostname,
    /// `setdomainname`.
    Domainname,
    /// Writing a namespaced sysctl (`detail` names it).
    Sysctl,
    /// Bringing up the loopback interface.
    Loopback,
    /// `setrlimit` (`detail` names the resource).
    Rlimit,
    /// Setting up stdin/stdout/stderr.
    Stdio,
    /// `chdir` to the working directory.
    Cwd,
    /// Dropping the bounding set, switching ids, `capset`, ambient.
    Capabilities,
    /// Forking the program under the minimal init.
    Init,
    /// `execve` of the program.
    Exec,
    /// A lifecycle hook that aborts on failure (`detail` names it).
    Hook,
    /// Compiling or installing the seccomp filter.
    Seccomp,
}

impl Step {
    pub(crate) const ALL: [Step; 31] = [
        Step::Validate,
        Step::Cgroup,
        Step::Overlay,
        Step::Prepare,
        Step::Clone,
        Step::IdMaps,
        Step::TimeOffsets,
        Step::Network,
        Step::Sync,
        Step::JoinNamespace,
        Step::MountPrivate,
        Step::MountRootfs,
        Step::MountProc,
        Step::MountDev,
        Step::MountSys,
        Step::Mount,
        Step::PivotRoot,
        Step::MaskPath,
        Step::ReadonlyPath,
        Step::Hostname,
        Step::Domainname,
        Step::Sysctl,
        Step::Loopback,
        Step::Rlimit,
        Step::Stdio,
        Step::Cwd,
        Step::Capabilities,
        Step::Init,
        Step::Exec,
        Step::Hook,
        Step::Seccomp,
    ];

    pub(crate) fn code(self) -> u32 {
        Step::ALL.iter().position(|s| *s == self).unwrap_or(0) as u32
    }

    pub(crate) fn from_code(code: u32) -> Step {
        Step::ALL.get(code as usize).copied().unwrap_or(Step::Exec)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Why a container did not start. Names the step, the kernel's errno where
/// there is one, and what was being worked on (a path, a value, a key).
/// Whatever the pipeline had created is gone when this is returned.
#[derive(Debug, thiserror::Error)]
#[error("container spawn failed at {step}{}: {detail}{}", errno.map(|e| e.to_string()).filter(|e| !detail.contains(e.as_str())).map(|e| format!(" ({e})")).unwrap_or_default(), cleanup.as_ref().map(|c| format!(" [cleanup also failed: {c}]")).unwrap_or_default())]
pub struct SpawnError {
    /// The step that failed.
    pub step: Step,
    /// The kernel's errno, if a system call failed.
    pub errno: Option<Errno>,
    /// What failed: the path, value or key involved, or the library error.
    pub detail: String,
    /// An error while undoing earlier steps, if any (should not happen).
    pub cleanup: Option<String>,
}

impl SpawnError {
    pub(crate) fn new(step: Step, errno: Option<Errno>, detail: impl Into<String>) -> SpawnError {
        SpawnError {
            step,
            errno,
            detail: bounded(detail.into()),
            cleanup: None,
        }
    }

    pub(crate) fn invalid(detail: impl Into<String>) -> SpawnError {
        SpawnError::new(Step::Validate, None, detail)
    }

    pub(crate) fn from_lib(
        step: Step,
        err: impl std::error::Error + 'static,
        errno: Option<Errno>,
    ) -> SpawnError {
        SpawnError::new(step, errno, err.to_string())
    }
}

/// Longest detail kept whole; a longer one (a megabyte of hostname, say)
/// keeps its start and says how long it was, so logs stay readable.
const MAX_DETAIL: usize = 512;

fn bounded(detail: String) -> String {
    if detail.len() <= MAX_DETAIL {
        return detail;
    }
    let mut cut = MAX_DETAIL;
    while !detail.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes in all)", &detail[..cut], detail.len())
}

/// Errors of a running container's handle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From palisade-ns (wait, signal, namespaces).
    #[error(transparent)]
    Ns(#[from] palisade_ns::Error),
    /// From palisade-cgroup (stats, freeze, delete).
    #[error(transparent)]
    Cgroup(#[from] palisade_cgroup::Error),
    /// From palisade-netlink (removing the host end of the network).
    #[error(transparent)]
    Netlink(#[from] palisade_netlink::Error),
    /// From palisade-overlay (unmounting the root filesystem).
    #[error(transparent)]
    Overlay(#[from] palisade_overlay::Error),
    /// The container has no cgroup of its own.
    #[error("the container has no cgroup")]
    NoCgroup,
    /// The container has no terminal of its own (no `terminal()`, or its
    /// master went to a console socket).
    #[error("the container has no terminal")]
    NoTerminal,
    /// Several cleanup steps failed.
    #[error("cleanup failed: {0}")]
    Cleanup(String),
    /// The container's first process is gone (or its pid names another
    /// process now).
    #[error("container process {pid} is not running")]
    NotRunning {
        /// Its pid when it was detached.
        pid: i32,
    },
    /// A system call failed.
    #[error("{op}: {errno}")]
    Sys {
        /// The call.
        op: &'static str,
        /// The kernel's errno.
        errno: Errno,
    },
}

#[cfg(test)]
mod display_tests {
    use super::*;

    #[test]
    fn errno_text_appears_once() {
        let e = SpawnError::new(Step::Capabilities, Some(Errno::EPERM), "setgroups");
        assert_eq!(
            e.to_string(),
            "container spawn failed at Capabilities (EPERM: Operation not permitted): setgroups"
        );
        // A library error's text already names the errno: not repeated.
        let lib = palisade_cgroup::Error::Write {
            file: "/sys/fs/cgroup/x/pids.max".into(),
            value: "0".into(),
            errno: Errno::EINVAL,
        };
        let e = SpawnError::from_lib(Step::Cgroup, lib, Some(Errno::EINVAL));
        assert_eq!(
            e.to_string(),
            "container spawn failed at Cgroup: writing \"0\" to /sys/fs/cgroup/x/pids.max failed: EINVAL: Invalid argument"
        );
    }
}
