//! User notification: the supervisor side of `SECCOMP_RET_USER_NOTIF`.

use crate::error::{Error, Result};
use nix::errno::Errno;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// One system call waiting for the supervisor's answer
/// (`struct seccomp_notif`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// Cookie naming this notification in every answer.
    pub id: u64,
    /// Thread id of the caller, in the listener's pid namespace (0 when
    /// the caller is not visible there).
    pub pid: u32,
    /// The system call number, in the caller's ABI.
    pub nr: i32,
    /// The caller's ABI (`AUDIT_ARCH_*`, see [`Arch::audit_arch`](crate::Arch::audit_arch)).
    pub arch: u32,
    /// Instruction pointer at the call.
    pub instruction_pointer: u64,
    /// The six argument registers.
    pub args: [u64; 6],
}

/// The supervisor's answer (`struct seccomp_notif_resp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// Let the kernel run the system call as if no filter had asked
    /// (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`, 5.5). Only safe for calls whose
    /// arguments the supervisor does not rely on: the caller's memory may
    /// change between the check and the call (see `seccomp_unotify(2)`).
    Continue,
    /// Fail the call with this errno.
    Errno(i32),
    /// Complete the call without running it, returning this value.
    Value(i64),
}

/// The user-notification listener fd returned by
/// [`CompiledFilter::install`](crate::CompiledFilter::install) (in the
/// child, passed to the supervisor e.g. over `SCM_RIGHTS`).
///
/// ```no_run
/// use palisade_seccomp::{NotifyListener, Response};
/// # fn get() -> std::os::fd::OwnedFd { unimplemented!() }
/// let listener = NotifyListener::from(get());
/// let n = listener.recv()?;
/// if listener.id_valid(n.id) {
///     listener.respond(n.id, Response::Errno(libc::EPERM))?;
/// }
/// # Ok::<(), palisade_seccomp::Error>(())
/// ```
#[derive(Debug)]
pub struct NotifyListener(OwnedFd);

impl From<OwnedFd> for NotifyListener {
    fn from(fd: OwnedFd) -> NotifyListener {
        NotifyListener(fd)
    }
}

impl AsFd for NotifyListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for NotifyListener {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl From<NotifyListener> for OwnedFd {
    fn from(l: NotifyListener) -> OwnedFd {
        l.0
    }
}

fn ioctl<T>(fd: RawFd, req: libc::Ioctl, arg: *mut T) -> std::result::Result<libc::c_int, Errno> {
    // SAFETY: each caller passes the request's matching struct.
    let r = unsafe { libc::ioctl(fd, req, arg) };
    if r < 0 { Err(Errno::last()) } else { Ok(r) }
}

impl NotifyListener {
    /// Waits for the next notification (`SECCOMP_IOCTL_NOTIF_RECV`),
    /// retrying on `EINTR`. The fd is blocking unless the caller made it
    /// non-blocking (then `EAGAIN` when none is pending; it polls readable
    /// when one is).
    ///
    /// # Errors
    /// [`Error::Sys`] with the ioctl's errno; `ENOENT` when the caller died
    /// or was interrupted before the notification was read.
    pub fn recv(&self) -> Result<Notification> {
        loop {
            // The kernel requires a zeroed buffer.
            // SAFETY: seccomp_notif is plain data; all-zero is valid.
            let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
            match ioctl(self.0.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("ioctl(SECCOMP_IOCTL_NOTIF_RECV)", e)),
                Ok(_) => {
                    return Ok(Notification {
                        id: n.id,
                        pid: n.pid,
                        nr: n.data.nr,
                        arch: n.data.arch,
                        instruction_pointer: n.data.instruction_pointer,
                        args: n.data.args,
                    });
                }
            }
        }
    }

    /// True while the notification is pending: the caller is alive and
    /// still waiting (`SECCOMP_IOCTL_NOTIF_ID_VALID`). Check it after
    /// reading the caller's memory (`/proc/<pid>/mem`) to know the pid was
    /// not reused meanwhile.
    pub fn id_valid(&self, id: u64) -> bool {
        let mut id = id;
        ioctl(
            self.0.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
            &mut id,
        )
        .is_ok()
    }

    /// Answers notification `id` (`SECCOMP_IOCTL_NOTIF_SEND`).
    ///
    /// # Errors
    /// [`Error::Sys`]: `ENOENT` when the caller is gone or already
    /// answered, `EINVAL` for `Continue` on a kernel before 5.5.
    pub fn respond(&self, id: u64, response: Response) -> Result<()> {
        let (val, error, flags) = match response {
            Response::Continue => (0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
            Response::Errno(e) => (0, -e, 0),
            Response::Value(v) => (v, 0, 0),
        };
        let mut resp = libc::seccomp_notif_resp {
            id,
            val,
            error,
            flags,
        };
        ioctl(
            self.0.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &mut resp,
        )
        .map(drop)
        .map_err(|e| Error::sys("ioctl(SECCOMP_IOCTL_NOTIF_SEND)", e))
    }

    /// Installs a copy of `fd` into the caller's fd table
    /// (`SECCOMP_IOCTL_NOTIF_ADDFD`, 5.9) and returns its number there.
    ///
    /// `target`: `Some(n)` puts it at number `n` (replacing what was there,
    /// `SECCOMP_ADDFD_FLAG_SETFD`), `None` takes the lowest free number.
    /// `cloexec` sets `O_CLOEXEC` on the new fd. With `send` the kernel also
    /// answers the notification with the new fd number as the call's return
    /// value, atomically (`SECCOMP_ADDFD_FLAG_SEND`, 5.14): no
    /// [`respond`](NotifyListener::respond) afterwards.
    ///
    /// # Errors
    /// [`Error::Sys`]: `ENOENT` when the caller is gone, `EMFILE` when its
    /// table is full, `EINPROGRESS` if the notification was not received yet.
    pub fn add_fd(
        &self,
        id: u64,
        fd: BorrowedFd<'_>,
        target: Option<RawFd>,
        cloexec: bool,
        send: bool,
    ) -> Result<RawFd> {
        let mut flags = 0u32;
        if target.is_some() {
            flags |= libc::SECCOMP_ADDFD_FLAG_SETFD as u32;
        }
        if send {
            flags |= libc::SECCOMP_ADDFD_FLAG_SEND as u32;
        }
        let mut add = libc::seccomp_notif_addfd {
            id,
            flags,
            srcfd: fd.as_raw_fd() as u32,
            newfd: target.unwrap_or(0) as u32,
            newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
        };
        ioctl(
            self.0.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ADDFD,
            &mut add,
        )
        .map_err(|e| Error::sys("ioctl(SECCOMP_IOCTL_NOTIF_ADDFD)", e))
    }
}
