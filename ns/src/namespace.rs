//! Owned handles to one namespace, and their identity.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::sys::{cvt, open, owned};
use crate::{Error, NsKind, PidFd, Result};

// ioctls on nsfs files (linux/nsfs.h): _IO(0xb7, n).
const NS_GET_USERNS: libc::c_ulong = 0xb701;
const NS_GET_PARENT: libc::c_ulong = 0xb702;
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
const NS_GET_OWNER_UID: libc::c_ulong = 0xb704;

/// The identity of a namespace: the nsfs device and inode, as shown by
/// `stat -L /proc/<pid>/ns/<kind>` and the `NS` column of `lsns`.
///
/// ```no_run
/// use palisade_ns::{Namespace, NsKind};
/// let net = Namespace::current(NsKind::Net)?;
/// println!("net:[{}]", net.id()?.ino);
/// # Ok::<(), palisade_ns::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NsId {
    /// Device of the nsfs mount.
    pub dev: u64,
    /// Inode number: the number in `net:[4026531840]`.
    pub ino: u64,
}

impl fmt::Display for NsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.ino)
    }
}

/// An open namespace: an nsfs file descriptor (close-on-exec) and its kind.
///
/// Holding it keeps the namespace alive even after every process in it exits.
///
/// ```no_run
/// use palisade_ns::{Namespace, NsKind};
/// let mine = Namespace::current(NsKind::Uts)?;
/// let init = Namespace::of_pid(1, NsKind::Uts)?;
/// println!("same uts as pid 1: {}", mine.id()? == init.id()?);
/// # Ok::<(), palisade_ns::Error>(())
/// ```
#[derive(Debug)]
pub struct Namespace {
    fd: OwnedFd,
    kind: NsKind,
}

impl Namespace {
    /// The namespace of `kind` the calling thread is in.
    pub fn current(kind: NsKind) -> Result<Namespace> {
        // Thread-self: net/uts/ipc may differ between threads of a process.
        let path = PathBuf::from(format!("/proc/thread-self/ns/{}", kind.proc_name()));
        Ok(Namespace {
            fd: open(&path, 0)?,
            kind,
        })
    }

    /// The namespace of `kind` that process `pid` is in.
    pub fn of_pid(pid: i32, kind: NsKind) -> Result<Namespace> {
        if pid <= 0 {
            return Err(Error::Invalid {
                what: "pid",
                value: pid.to_string(),
            });
        }
        let path = PathBuf::from(format!("/proc/{pid}/ns/{}", kind.proc_name()));
        Ok(Namespace {
            fd: open(&path, 0)?,
            kind,
        })
    }

    /// The namespace of `kind` of the process behind `pidfd`: with the
    /// `PIDFD_GET_*_NAMESPACE` ioctls (Linux 6.11) where the kernel has them,
    /// else through `/proc/<pid>` checked against the pidfd afterwards, so a
    /// recycled pid is never mistaken for the process.
    pub fn of_pidfd(pidfd: &PidFd, kind: NsKind) -> Result<Namespace> {
        let request: libc::c_ulong = 0xFF00
            | match kind {
                NsKind::Cgroup => 1,
                NsKind::Ipc => 2,
                NsKind::Mnt => 3,
                NsKind::Net => 4,
                NsKind::Pid => 5,
                NsKind::Time => 7,
                NsKind::User => 9,
                NsKind::Uts => 10,
            };
        // SAFETY: the ioctl takes no argument and returns a new fd or -1.
        match cvt(unsafe { libc::ioctl(pidfd.as_raw_fd(), request, 0) }) {
            // SAFETY: a fresh fd returned by the kernel.
            Ok(fd) => Ok(Namespace {
                fd: unsafe { owned(fd) },
                kind,
            }),
            Err(Errno::ENOTTY | Errno::EINVAL) => {
                let ns = Namespace::of_pid(pidfd.pid()?, kind)?;
                // The pid could have been reused between reading and opening.
                pidfd.ensure_alive()?;
                Ok(ns)
            }
            Err(errno) => Err(Error::sys("ioctl(PIDFD_GET_NAMESPACE)", errno)),
        }
    }

    /// Opens a namespace file (`/proc/<pid>/ns/net`, `/run/netns/NAME`, a
    /// bind mount made by [`persist`](crate::persist)) and checks that it is on
    /// nsfs and of `kind`.
    ///
    /// ```
    /// use palisade_ns::{Error, Namespace, NsKind};
    /// // A regular file is not a namespace.
    /// let err = Namespace::open("/proc/self/status", NsKind::Net).unwrap_err();
    /// assert!(matches!(err, Error::NotNamespace { .. }));
    /// ```
    pub fn open(path: impl AsRef<Path>, kind: NsKind) -> Result<Namespace> {
        let path = path.as_ref();
        let fd = open(path, 0)?;
        let found = Self::kind_of_fd(fd.as_fd(), path)?;
        if found != kind {
            return Err(Error::WrongKind {
                path: path.to_owned(),
                expected: kind,
                found,
            });
        }
        Ok(Namespace { fd, kind })
    }

    /// Opens a namespace file of whatever kind it is.
    pub fn open_any(path: impl AsRef<Path>) -> Result<Namespace> {
        let path = path.as_ref();
        let fd = open(path, 0)?;
        let kind = Self::kind_of_fd(fd.as_fd(), path)?;
        Ok(Namespace { fd, kind })
    }

    /// Wraps an nsfs fd, checking it is one and reading its kind.
    pub fn from_fd(fd: OwnedFd) -> Result<Namespace> {
        let kind = Self::kind_of_fd(fd.as_fd(), Path::new("<fd>"))?;
        Ok(Namespace { fd, kind })
    }

    fn kind_of_fd(fd: BorrowedFd<'_>, path: &Path) -> Result<NsKind> {
        let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
        // SAFETY: st is a valid out-pointer for one statfs.
        cvt(unsafe { libc::fstatfs(fd.as_raw_fd(), st.as_mut_ptr()) })
            .map_err(|e| Error::at("fstatfs", path, e))?;
        // SAFETY: fstatfs succeeded and filled st.
        let st = unsafe { st.assume_init() };
        if st.f_type != libc::NSFS_MAGIC {
            return Err(Error::NotNamespace {
                path: path.to_owned(),
            });
        }
        // SAFETY: NS_GET_NSTYPE takes no argument and returns a CLONE_NEW* bit.
        let bit = cvt(unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE, 0) })
            .map_err(|e| Error::at("ioctl(NS_GET_NSTYPE)", path, e))?;
        NsKind::from_clone_flag(bit).ok_or(Error::Invalid {
            what: "namespace type reported by the kernel",
            value: bit.to_string(),
        })
    }

    /// The kind of this namespace.
    pub fn kind(&self) -> NsKind {
        self.kind
    }

    /// Device and inode of the namespace (what `lsns` and `stat -L` show).
    pub fn id(&self) -> Result<NsId> {
        let st = nix::sys::stat::fstat(&self.fd).map_err(|e| Error::sys("fstat", e))?;
        Ok(NsId {
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }

    /// The user namespace that owns this namespace (`NS_GET_USERNS`).
    pub fn owner_user_ns(&self) -> Result<Namespace> {
        self.ns_ioctl(NS_GET_USERNS, "ioctl(NS_GET_USERNS)", Some(NsKind::User))
    }

    /// The parent of a pid or user namespace (`NS_GET_PARENT`). EPERM when
    /// the parent is outside the caller's view.
    pub fn parent(&self) -> Result<Namespace> {
        self.ns_ioctl(NS_GET_PARENT, "ioctl(NS_GET_PARENT)", Some(self.kind))
    }

    fn ns_ioctl(
        &self,
        request: libc::c_ulong,
        op: &'static str,
        kind: Option<NsKind>,
    ) -> Result<Namespace> {
        // SAFETY: these nsfs ioctls take no argument and return a new fd.
        let fd = cvt(unsafe { libc::ioctl(self.fd.as_raw_fd(), request, 0) })
            .map_err(|e| Error::sys(op, e))?;
        // SAFETY: fresh fd from the kernel (nsfs fds are O_CLOEXEC).
        let fd = unsafe { owned(fd) };
        match kind {
            Some(kind) => Ok(Namespace { fd, kind }),
            None => Namespace::from_fd(fd),
        }
    }

    /// The uid (in the caller's user namespace) that owns a user namespace.
    pub fn owner_uid(&self) -> Result<u32> {
        if self.kind != NsKind::User {
            return Err(Error::Invalid {
                what: "owner_uid of a non-user namespace",
                value: self.kind.to_string(),
            });
        }
        let mut uid: libc::uid_t = 0;
        // SAFETY: NS_GET_OWNER_UID writes one uid_t.
        cvt(unsafe { libc::ioctl(self.fd.as_raw_fd(), NS_GET_OWNER_UID, &mut uid) })
            .map_err(|e| Error::sys("ioctl(NS_GET_OWNER_UID)", e))?;
        Ok(uid)
    }

    /// Moves the calling thread into this namespace (`setns`).
    ///
    /// Net, uts, ipc and cgroup change only the calling thread; mount needs
    /// a thread that does not share its filesystem information (any thread
    /// of a single-threaded process), user a single-threaded process. Prefer
    /// [`run_in`](crate::run_in) for per-thread kinds in a multi-threaded
    /// program.
    pub fn enter(&self) -> Result<()> {
        // SAFETY: setns on an owned fd with its own kind.
        cvt(unsafe { libc::setns(self.fd.as_raw_fd(), self.kind.clone_flag()) })
            .map(drop)
            .map_err(|e| Error::sys("setns", e))
    }

    /// Consumes the handle, returning the fd.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

impl AsFd for Namespace {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
