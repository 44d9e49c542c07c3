//! Moving the calling process or thread between namespaces.

use std::os::fd::AsRawFd;

use nix::errno::Errno;

use crate::sys::cvt;
use crate::{Error, Namespace, NsKind, NsKinds, PidFd, Result};

/// `unshare(kinds)`: moves the caller into new namespaces of `kinds`.
///
/// `USER` and `MNT` need a single-threaded process (the kernel answers
/// EINVAL otherwise); `PID` and `TIME` take effect for children only.
///
/// ```no_run
/// use palisade_ns::{unshare, NsKinds};
/// unshare(NsKinds::UTS | NsKinds::IPC)?;
/// # Ok::<(), palisade_ns::Error>(())
/// ```
pub fn unshare(kinds: NsKinds) -> Result<()> {
    // SAFETY: unshare takes a flag mask.
    cvt(unsafe { libc::unshare(kinds.bits()) })
        .map(drop)
        .map_err(|e| Error::sys("unshare", e))
}

/// Joins the namespaces `kinds` of the process behind `target` at once.
///
/// One `setns(pidfd, mask)` (Linux 5.8): atomic, either every namespace is
/// joined or none is. `USER` is dropped from the mask when the target is in
/// our own user namespace (the kernel refuses to re-enter it). On kernels
/// without the pidfd form the namespaces are joined one by one in `nsenter`'s
/// order (user first, mount last), all opened before the first join.
///
/// ```no_run
/// use palisade_ns::{join, NsKinds, PidFd};
/// let target = PidFd::open(1234)?;
/// join(&target, NsKinds::NET | NsKinds::UTS)?;
/// # Ok::<(), palisade_ns::Error>(())
/// ```
pub fn join(target: &PidFd, kinds: NsKinds) -> Result<()> {
    let mut kinds = kinds;
    if kinds.contains(NsKinds::USER) {
        let theirs = Namespace::of_pidfd(target, NsKind::User)?.id()?;
        let ours = Namespace::current(NsKind::User)?.id()?;
        if theirs == ours {
            kinds.remove(NsKinds::USER);
        }
    }
    if kinds.is_empty() {
        return Ok(());
    }
    // SAFETY: setns on a pidfd with a CLONE_NEW* mask.
    match cvt(unsafe { libc::setns(target.as_raw_fd(), kinds.bits()) }) {
        Ok(_) => Ok(()),
        // Before 5.8 a pidfd is not a namespace fd: EINVAL (or EBADF).
        Err(Errno::EINVAL | Errno::EBADF) if !pidfd_setns_supported() => {
            let namespaces = kinds
                .kinds()
                .map(|k| Namespace::of_pidfd(target, k))
                .collect::<Result<Vec<_>>>()?;
            namespaces.iter().try_for_each(Namespace::enter)
        }
        Err(e) => Err(Error::sys("setns(pidfd)", e)),
    }
}

/// Does this kernel accept a pidfd in `setns` (Linux 5.8)? Probed once, on
/// our own pidfd with an empty mask: EINVAL there means "not a namespace fd".
fn pidfd_setns_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        // SAFETY: getpid has no preconditions.
        let Ok(me) = PidFd::open(unsafe { libc::getpid() }) else {
            return false;
        };
        // Joining our own uts namespace is a no-op that only a kernel with
        // the pidfd form accepts.
        // SAFETY: setns of our own namespace through our own pidfd.
        unsafe { libc::setns(me.as_raw_fd(), libc::CLONE_NEWUTS) == 0 }
    })
}

/// Runs `f` on a short-lived thread that has entered `ns`, and returns its
/// result. The calling thread never changes namespace, so this is safe in
/// multi-threaded programs (tokio workers included). Only kinds that are
/// per-thread (net, uts, ipc, cgroup) are accepted.
///
/// A socket opened inside `f` stays bound to `ns` after the thread ends.
///
/// ```no_run
/// use palisade_ns::{run_in, Namespace, NsKind};
/// let net = Namespace::of_pid(1234, NsKind::Net)?;
/// let links = run_in(&net, || std::fs::read_to_string("/proc/self/net/dev"))?;
/// # Ok::<(), palisade_ns::Error>(())
/// ```
pub fn run_in<T, F>(ns: &Namespace, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    if !ns.kind().is_per_thread() {
        return Err(Error::Invalid {
            what: "namespace kind for run_in (needs net, uts, ipc or cgroup)",
            value: ns.kind().to_string(),
        });
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                ns.enter()?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
