//! The one error type of palisade-ns.

use std::path::PathBuf;

use nix::errno::Errno;

use crate::NsKind;

/// Result of every fallible palisade-ns call.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong, naming the operation, the path or value, and the errno.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed.
    #[error("{op}{}: {errno}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Sys {
        /// The operation, e.g. `"setns"`.
        op: &'static str,
        /// The file involved, if any.
        path: Option<PathBuf>,
        /// The kernel's errno.
        errno: Errno,
    },
    /// The path is not a namespace file (it is not on nsfs).
    #[error("{path} is not a namespace file (not on nsfs)")]
    NotNamespace {
        /// The path that was opened.
        path: PathBuf,
    },
    /// The namespace file is of another kind than asked for.
    #[error("{path} is a {found} namespace, expected {expected}")]
    WrongKind {
        /// The path that was opened.
        path: PathBuf,
        /// The kind the caller asked for.
        expected: NsKind,
        /// The kind the kernel reports.
        found: NsKind,
    },
    /// An id map is not acceptable to the kernel (checked before writing).
    #[error("invalid id map: {reason}")]
    InvalidIdMap {
        /// Why, naming the offending line.
        reason: String,
    },
    /// The kernel refused the id map (EPERM/EINVAL on `uid_map`/`gid_map`).
    #[error("writing {path} failed: {errno}; {hint}")]
    IdMapRefused {
        /// `/proc/<pid>/uid_map` or `gid_map`.
        path: PathBuf,
        /// The kernel's errno.
        errno: Errno,
        /// What usually causes it.
        hint: &'static str,
    },
    /// Time offsets can only be set before the first process enters the
    /// time namespace (the kernel answers EACCES after that).
    #[error("time namespace offsets of pid {pid} are fixed: a process already entered it")]
    TimeOffsetsTooLate {
        /// The process whose `timens_offsets` was written.
        pid: i32,
    },
    /// A value given by the caller is out of range or malformed.
    #[error("invalid {what}: {value:?}")]
    Invalid {
        /// What kind of value.
        what: &'static str,
        /// The value as given.
        value: String,
    },
    /// The kernel does not support the facility.
    #[error("{feature} is not supported by this kernel: {errno}")]
    Unsupported {
        /// What is missing.
        feature: &'static str,
        /// The errno of the probe.
        errno: Errno,
    },
}

impl Error {
    pub(crate) fn sys(op: &'static str, errno: Errno) -> Self {
        Error::Sys {
            op,
            path: None,
            errno,
        }
    }

    pub(crate) fn at(op: &'static str, path: impl Into<PathBuf>, errno: Errno) -> Self {
        Error::Sys {
            op,
            path: Some(path.into()),
            errno,
        }
    }

    /// The kernel errno behind this error, if there is one.
    ///
    /// ```
    /// use palisade_ns::{Error, NsKind, Namespace};
    /// let err = Namespace::open("/nonexistent", NsKind::Net).unwrap_err();
    /// assert_eq!(err.errno(), Some(nix::errno::Errno::ENOENT));
    /// ```
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Sys { errno, .. }
            | Error::IdMapRefused { errno, .. }
            | Error::Unsupported { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

#[cfg(test)]
mod display_tests {
    use super::*;

    #[test]
    fn errno_text_appears_once() {
        let e = Error::Sys {
            op: "setns",
            path: Some("/proc/1/ns/net".into()),
            errno: Errno::EPERM,
        };
        assert_eq!(
            e.to_string(),
            "setns /proc/1/ns/net: EPERM: Operation not permitted"
        );
        let e = Error::IdMapRefused {
            path: "/proc/9/uid_map".into(),
            errno: Errno::EINVAL,
            hint: "overlapping ranges",
        };
        assert_eq!(
            e.to_string(),
            "writing /proc/9/uid_map failed: EINVAL: Invalid argument; overlapping ranges"
        );
    }
}
