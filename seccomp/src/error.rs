//! The crate's error type.

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong while reading a profile, building or compiling a filter,
/// or talking to the kernel. Every variant names the offending value or entry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A syscall name known to none of the filter's architectures (in the
    /// table of the libseccomp the crate is linked to), in a rule not marked
    /// optional.
    #[error("unknown syscall {name:?} in rule {rule}")]
    UnknownSyscall {
        /// Index of the rule in the filter.
        rule: usize,
        /// The name as given.
        name: String,
    },
    /// An architecture name that is neither an OCI `SCMP_ARCH_*` name nor a
    /// libseccomp architecture name.
    #[error("unknown architecture {0:?}")]
    UnknownArch(String),
    /// An action name that is not an OCI `SCMP_ACT_*` name.
    #[error("{entry}: unknown action {action:?}")]
    UnknownAction {
        /// Where: `defaultAction` or `syscalls[i]`.
        entry: String,
        /// The name as given.
        action: String,
    },
    /// An argument operator that is not an OCI `SCMP_CMP_*` name.
    #[error("{entry}: unknown comparison operator {op:?}")]
    UnknownOp {
        /// Where: `syscalls[i].args[j]`.
        entry: String,
        /// The name as given.
        op: String,
    },
    /// A filter flag that is not an OCI `SECCOMP_FILTER_FLAG_*` name.
    #[error("unknown filter flag {0:?}")]
    UnknownFlag(String),
    /// A profile or rule that is well-formed JSON but cannot mean anything:
    /// an argument index above 5, an errno above 4094, both `name` and
    /// `names`, `architectures` beside `archMap`, a rule contradicting
    /// another one, ...
    #[error("{entry}: {reason}")]
    Invalid {
        /// Where: `defaultAction`, `syscalls[i]`, `syscalls[i].args[j]`, `rule i`.
        entry: String,
        /// Why it was refused.
        reason: String,
    },
    /// The profile is not valid JSON or does not have the OCI / Docker shape.
    #[error("profile JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// libseccomp refused the filter (the operation and its errno).
    #[error("libseccomp: {op}: {source}")]
    Libseccomp {
        /// The libseccomp operation (`seccomp_rule_add` on rule i, ...).
        op: String,
        /// libseccomp's error.
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// The compiled program is longer than the kernel accepts
    /// (`BPF_MAXINSNS`, 4096 instructions).
    #[error("compiled filter has {0} instructions, the kernel takes at most 4096")]
    TooLong(usize),
    /// A system call failed.
    #[error("{op}: {errno}")]
    Sys {
        /// The call (`memfd_create`, `ioctl(SECCOMP_IOCTL_NOTIF_RECV)`, ...).
        op: &'static str,
        /// Its errno.
        errno: nix::errno::Errno,
    },
}

impl Error {
    pub(crate) fn invalid(entry: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Invalid {
            entry: entry.into(),
            reason: reason.into(),
        }
    }
    pub(crate) fn sys(op: &'static str, errno: nix::errno::Errno) -> Error {
        Error::Sys { op, errno }
    }
}
