//! The one error type of palisade-overlay.

use std::path::PathBuf;

use nix::errno::Errno;

/// Result of every fallible palisade-overlay call.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong. Configuration errors are found before any syscall.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Without an upper layer OverlayFS needs at least two lowers.
    #[error("a read-only overlay needs at least 2 lower layers, got {count}")]
    TooFewLowers {
        /// How many were given.
        count: usize,
    },
    /// More layers than the kernel stacks (500).
    #[error("{count} lower layers; the kernel stacks at most {max}")]
    TooManyLowers {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A layer appears twice.
    #[error("lower layer {path} is listed twice")]
    DuplicateLower {
        /// The layer.
        path: PathBuf,
    },
    /// A layer, upper or work directory is missing or not a directory.
    #[error("{role} {path}: {errno}")]
    BadDirectory {
        /// `"lower"`, `"upper"`, `"work"` or `"target"`.
        role: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        errno: Errno,
    },
    /// `upper` given without `work`, or the reverse.
    #[error("upper and work directories go together (got only the {given})")]
    UpperWithoutWork {
        /// The one given.
        given: &'static str,
    },
    /// Upper and work must be on the same filesystem.
    #[error("upper {upper} and work {work} are on different filesystems")]
    CrossDevice {
        /// Upper.
        upper: PathBuf,
        /// Work.
        work: PathBuf,
    },
    /// The work directory holds something overlayfs did not leave there
    /// (it accepts an empty one, or its own `work` and `index`).
    #[error("work directory {path} holds {found}, which overlayfs did not leave there")]
    WorkNotEmpty {
        /// The work directory.
        path: PathBuf,
        /// The foreign entry.
        found: PathBuf,
    },
    /// The upper was last mounted with `volatile` and the kernel refuses it
    /// until its marker is removed: see
    /// [`OverlayBuilder::remove_volatile_marker`](crate::OverlayBuilder::remove_volatile_marker).
    #[error(
        "{path} marks an upper last mounted with volatile, whose writes a crash may have lost; use a fresh upper and work, or remove_volatile_marker() if the host has not crashed since"
    )]
    VolatileMarker {
        /// The marker directory (`<work>/work/incompat/volatile`).
        path: PathBuf,
    },
    /// Two options the kernel refuses together.
    #[error("option conflict: {0}")]
    Conflict(&'static str),
    /// A path cannot be passed to the kernel (NUL, or > 255 bytes per value
    /// through the new mount API).
    #[error("path {path} cannot be passed to the kernel: {reason}")]
    BadPath {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// The escaped option string for mount(2) is too long and the kernel
    /// lacks the new mount API's per-layer `lowerdir+`.
    #[error(
        "overlay options are {len} bytes, mount(2) takes at most 4095 and this kernel has no `lowerdir+` (Linux 6.8); use fewer layers or shorter paths (e.g. bind the layers under a short directory)"
    )]
    OptionsTooLong {
        /// Length of the option string.
        len: usize,
    },
    /// A mount system call failed; `message` carries the kernel's own text
    /// from the filesystem context where there is one.
    #[error("{op} failed: {errno}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Mount {
        /// The operation (`fsconfig lowerdir+ /path`, `mount`, …).
        op: String,
        /// The kernel's errno.
        errno: Errno,
        /// The kernel's message, if it gave one.
        message: String,
    },
    /// Reading the upper directory for `changes` failed.
    #[error("reading {path}: {errno}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The errno.
        errno: Errno,
    },
}

impl Error {
    /// The kernel errno behind the error, if any.
    ///
    /// ```
    /// use palisade_overlay::Error;
    /// assert_eq!(Error::TooFewLowers { count: 1 }.errno(), None);
    /// ```
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::BadDirectory { errno, .. }
            | Error::Mount { errno, .. }
            | Error::Io { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

pub(crate) fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

#[cfg(test)]
mod display_tests {
    use super::*;

    #[test]
    fn errno_text_appears_once() {
        let e = Error::Mount {
            op: "fsconfig upperdir /u".into(),
            errno: Errno::ENOENT,
            message: "failed to resolve '/u': -2".into(),
        };
        assert_eq!(
            e.to_string(),
            "fsconfig upperdir /u failed: ENOENT: No such file or directory: failed to resolve '/u': -2"
        );
        let e = Error::BadDirectory {
            role: "lower",
            path: "/img".into(),
            errno: Errno::ENOTDIR,
        };
        assert_eq!(e.to_string(), "lower /img: ENOTDIR: Not a directory");
    }
}
