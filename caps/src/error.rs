//! The one error type of palisade-caps.

use std::path::PathBuf;

use nix::errno::Errno;

/// Result of every fallible palisade-caps call.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A capability name or mask could not be parsed.
    #[error(
        "unknown capability {name:?} (expected e.g. CAP_NET_ADMIN, net_admin, ALL or a hex mask)"
    )]
    UnknownCapability {
        /// The text as given.
        name: String,
    },
    /// An index beyond what any kernel defines (0..=63).
    #[error("capability index {index} is out of range 0..=63")]
    OutOfRange {
        /// The index.
        index: u32,
    },
    /// The requested state breaks a kernel rule.
    #[error("invalid capability state: {rule}")]
    Invariant {
        /// The rule, e.g. "effective must be a subset of permitted".
        rule: &'static str,
    },
    /// A system call failed during `apply`.
    #[error("{step}: {errno}")]
    Apply {
        /// The step of the documented order.
        step: ApplyStep,
        /// The kernel's errno.
        errno: Errno,
    },
    /// Another system call failed.
    #[error("{op}{}: {errno}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Sys {
        /// The operation.
        op: &'static str,
        /// The file, if any.
        path: Option<PathBuf>,
        /// The kernel's errno.
        errno: Errno,
    },
    /// A `/proc/<pid>/status` or xattr could not be parsed.
    #[error("cannot parse {what}: {reason}")]
    Parse {
        /// What was parsed.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
}

/// The steps of [`PreparedCaps::apply`](crate::PreparedCaps::apply), in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyStep {
    /// `prctl(PR_CAPBSET_DROP)` of one capability.
    DropBounding(u8),
    /// `prctl(PR_SET_KEEPCAPS)` around the id switch.
    KeepCaps,
    /// `setgroups`.
    SetGroups,
    /// `setresgid`.
    SetGid,
    /// `setresuid`.
    SetUid,
    /// `capset` of effective, permitted, inheritable.
    Capset,
    /// `prctl(PR_CAP_AMBIENT)`.
    Ambient(u8),
    /// `prctl(PR_SET_NO_NEW_PRIVS)`.
    NoNewPrivs,
}

impl std::fmt::Display for ApplyStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyStep::DropBounding(c) => write!(
                f,
                "dropping {} from the bounding set",
                crate::Capability(*c)
            ),
            ApplyStep::KeepCaps => f.write_str("PR_SET_KEEPCAPS"),
            ApplyStep::SetGroups => f.write_str("setgroups"),
            ApplyStep::SetGid => f.write_str("setresgid"),
            ApplyStep::SetUid => f.write_str("setresuid"),
            ApplyStep::Capset => f.write_str("capset"),
            ApplyStep::Ambient(c) => write!(f, "raising ambient {}", crate::Capability(*c)),
            ApplyStep::NoNewPrivs => f.write_str("PR_SET_NO_NEW_PRIVS"),
        }
    }
}

impl Error {
    pub(crate) fn sys(op: &'static str, errno: Errno) -> Error {
        Error::Sys {
            op,
            path: None,
            errno,
        }
    }
}

#[cfg(test)]
mod display_tests {
    use super::*;

    #[test]
    fn errno_text_appears_once() {
        let e = Error::Apply {
            step: ApplyStep::SetGroups,
            errno: Errno::EPERM,
        };
        assert_eq!(e.to_string(), "setgroups: EPERM: Operation not permitted");
        let e = Error::Sys {
            op: "getxattr",
            path: Some("/bin/ping".into()),
            errno: Errno::ENODATA,
        };
        assert_eq!(
            e.to_string(),
            "getxattr /bin/ping: ENODATA: No data available"
        );
    }
}
