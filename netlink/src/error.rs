//! The one error type of palisade-netlink.

use nix::errno::Errno;

/// Result of every fallible palisade-netlink call.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong. Kernel refusals carry the errno and the kernel's
/// extended-ACK text (`Error: Unknown device type.` and the like).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel refused a request.
    #[error("{op}: {errno}{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kernel {
        /// The request, e.g. `add link veth ph0`.
        op: String,
        /// The kernel's errno.
        errno: Errno,
        /// The kernel's extended-ACK message, if it sent one.
        message: Option<String>,
    },
    /// The kernel lacks this link kind (module absent, not built).
    #[error("link kind {kind} is not supported by this kernel{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Unsupported {
        /// `ipvlan`, `dummy`, …
        kind: &'static str,
        /// The kernel's message.
        message: Option<String>,
    },
    /// No interface by that name or index.
    #[error("no such interface: {name}")]
    NotFound {
        /// The name (or `#index`).
        name: String,
    },
    /// An interface name the kernel would refuse.
    #[error("invalid interface name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A malformed address, prefix or sysctl key.
    #[error("invalid {what}: {value:?}")]
    Invalid {
        /// What kind of value.
        what: &'static str,
        /// The value.
        value: String,
    },
    /// A socket-level failure (including the receive timeout).
    #[error("netlink {op}: {errno}")]
    Socket {
        /// The operation.
        op: &'static str,
        /// The errno (EAGAIN on timeout).
        errno: Errno,
    },
    /// A reply could not be decoded.
    #[error("cannot decode netlink reply: {0}")]
    Decode(String),
    /// A dump kept being interrupted by concurrent changes.
    #[error("dump of {what} interrupted {attempts} times by concurrent changes")]
    DumpInterrupted {
        /// What was dumped.
        what: &'static str,
        /// Attempts made.
        attempts: u32,
    },
}

impl Error {
    /// The kernel errno behind the error, if any.
    ///
    /// ```
    /// let e = palisade_netlink::Error::NotFound { name: "x".into() };
    /// assert_eq!(e.errno(), None);
    /// ```
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Kernel { errno, .. } | Error::Socket { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

pub(crate) fn io(op: &'static str, e: std::io::Error) -> Error {
    Error::Socket {
        op,
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

#[cfg(test)]
mod display_tests {
    use super::*;

    #[test]
    fn errno_text_appears_once() {
        let e = Error::Kernel {
            op: "add link veth ph0".into(),
            errno: Errno::EEXIST,
            message: None,
        };
        assert_eq!(e.to_string(), "add link veth ph0: EEXIST: File exists");
        let e = Error::Kernel {
            op: "add link ipvlan x".into(),
            errno: Errno::EOPNOTSUPP,
            message: Some("Unknown device type".into()),
        };
        assert_eq!(
            e.to_string(),
            "add link ipvlan x: EOPNOTSUPP: Operation not supported on transport endpoint: Unknown device type"
        );
        let e = Error::Socket {
            op: "recv",
            errno: Errno::EAGAIN,
        };
        assert_eq!(e.to_string(), "netlink recv: EAGAIN: Try again");
    }
}
