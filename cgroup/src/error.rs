//! The one error type of palisade-cgroup.

use std::path::PathBuf;

use nix::errno::Errno;

/// Result of every fallible palisade-cgroup call.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong, naming the file, the value and the kernel's errno.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel refused a value written to a cgroup file.
    #[error("writing {value:?} to {file} failed: {errno}")]
    Write {
        /// The cgroupfs file.
        file: PathBuf,
        /// The value written.
        value: String,
        /// The kernel's errno.
        errno: Errno,
    },
    /// Another filesystem operation failed.
    #[error("{op} {path}: {errno}")]
    Io {
        /// The operation, e.g. `"mkdir"`.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The kernel's errno.
        errno: Errno,
    },
    /// The cgroup path is not a safe relative path.
    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A resource value is out of range or malformed (checked before any write).
    #[error("invalid {field} value {value:?}: {reason}")]
    InvalidValue {
        /// The resource field, e.g. `"cpu.weight"`.
        field: &'static str,
        /// The value as given.
        value: String,
        /// The accepted range or form.
        reason: &'static str,
    },
    /// No mounted hierarchy has this controller.
    #[error(
        "cgroup controller {controller} is not available (not mounted as v1, not enabled in cgroup2)"
    )]
    ControllerMissing {
        /// The controller's name.
        controller: &'static str,
    },
    /// The resource cannot be expressed on the hierarchy the controller is on.
    #[error("{what} is not supported on cgroup {version}")]
    Unsupported {
        /// The resource or operation.
        what: &'static str,
        /// `"v1"` or `"v2"`.
        version: &'static str,
    },
    /// No cgroup filesystem is mounted.
    #[error("no cgroup filesystem is mounted")]
    NotMounted,
    /// A file of the kernel could not be parsed.
    #[error("cannot parse {file}: {reason}")]
    Parse {
        /// The file.
        file: PathBuf,
        /// What was unexpected.
        reason: String,
    },
    /// A `bpf(2)` command failed (loading, attaching, querying or
    /// detaching a cgroup2 device program).
    #[error("bpf({op}) on {target}: {errno}")]
    Bpf {
        /// The command, e.g. `"BPF_PROG_ATTACH"`.
        op: &'static str,
        /// The cgroup2 directory or program it acted on.
        target: String,
        /// The kernel's errno.
        errno: Errno,
    },
    /// The kernel's BPF verifier refused a device program; `log` is what it
    /// said (level 1).
    #[error(
        "the BPF verifier refused the {insns}-instruction device program: {errno}; log:\n{log}"
    )]
    BpfVerifier {
        /// `EACCES` or `EINVAL`.
        errno: Errno,
        /// Instructions in the program.
        insns: usize,
        /// The verifier's log.
        log: String,
    },
    /// The systemd driver cannot be used: systemd is not PID 1 (no
    /// `/run/systemd/system`), its bus is unreachable, or palisade-cgroup
    /// was built without its `systemd` feature.
    #[error("the systemd cgroup driver is unavailable: {reason}")]
    SystemdUnavailable {
        /// What is missing.
        reason: String,
    },
    /// systemd refused a D-Bus call, or the job it made did not finish
    /// with result `done`.
    #[error("systemd {call} of {unit}: {error}")]
    Systemd {
        /// The `org.freedesktop.systemd1.Manager` method, e.g.
        /// `"StartTransientUnit"`.
        call: &'static str,
        /// The unit, e.g. `palisade-abc.scope`.
        unit: String,
        /// The D-Bus error name and message, or the job's result.
        error: String,
    },
    /// A state change (freeze, thaw, empty) did not complete in time.
    #[error("{what} of {path} did not complete within {millis} ms")]
    Timeout {
        /// What was awaited.
        what: &'static str,
        /// The cgroup directory.
        path: PathBuf,
        /// How long we waited.
        millis: u64,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, err: std::io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            errno: Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO)),
        }
    }

    /// The kernel errno behind the error, if any.
    ///
    /// ```
    /// let err = palisade_cgroup::CgroupPath::new("../etc").unwrap_err();
    /// assert_eq!(err.errno(), None);
    /// ```
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Write { errno, .. }
            | Error::Io { errno, .. }
            | Error::Bpf { errno, .. }
            | Error::BpfVerifier { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

#[cfg(test)]
mod display_tests {
    use super::*;

    #[test]
    fn errno_text_appears_once() {
        let e = Error::Write {
            file: "/sys/fs/cgroup/cpu/a/cpu.cfs_period_us".into(),
            value: "20000".into(),
            errno: Errno::EINVAL,
        };
        assert_eq!(
            e.to_string(),
            "writing \"20000\" to /sys/fs/cgroup/cpu/a/cpu.cfs_period_us failed: EINVAL: Invalid argument"
        );
        let e = Error::Io {
            op: "mkdir",
            path: "/sys/fs/cgroup/pids/a".into(),
            errno: Errno::EEXIST,
        };
        assert_eq!(
            e.to_string(),
            "mkdir /sys/fs/cgroup/pids/a: EEXIST: File exists"
        );
    }
}
