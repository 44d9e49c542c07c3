//! Extra fds handed to the program at chosen numbers
//! ([`Container::pass_fd`]), and the checks of the terminal and stream
//! settings — all done in the parent, before anything is created.
//!
//! The child `dup3`s each passed fd onto its number as the very last step
//! before `execve`. So that no `dup3` can clobber an fd still needed, the
//! parent first moves every source, the error pipe and the palisade-init
//! image *above* the highest passed number ([`floor`]): in the child the
//! targets are then all below everything still in use.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use crate::config::{Container, Stdio};
use crate::{SpawnError, Step};

/// The numbers the kernel accepts for an fd of this process
/// (`RLIMIT_NOFILE`'s soft limit).
fn fd_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit into a local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return 1024;
    }
    r.rlim_cur
}

/// Refuses, before anything is created: passed numbers below 3 (the
/// streams are [`Stdio::Fd`]), passed twice, or beyond `RLIMIT_NOFILE`;
/// a terminal without a rootfs and `/dev`, or with streams set; a console
/// socket without a terminal.
pub(crate) fn validate(c: &Container) -> Result<(), SpawnError> {
    let limit = fd_limit();
    for (i, (_, n)) in c.pass_fds.iter().enumerate() {
        if *n < 3 {
            return Err(SpawnError::invalid(format!(
                "pass_fd number {n}: 0, 1 and 2 are stdin/stdout/stderr (use Stdio::Fd); \
                 numbers start at 3"
            )));
        }
        // Room above the highest number for the moved fds (see floor()).
        if (*n as u64) + 16 >= limit {
            return Err(SpawnError::invalid(format!(
                "pass_fd number {n}: beyond the fd limit (RLIMIT_NOFILE {limit})"
            )));
        }
        if c.pass_fds[..i].iter().any(|(_, m)| m == n) {
            return Err(SpawnError::invalid(format!(
                "pass_fd number {n} is passed twice"
            )));
        }
    }
    if let Some((rows, cols)) = c.terminal {
        if !c.terminal_in_joined_root && (c.rootfs.is_none() || !c.dev) {
            return Err(SpawnError::invalid(format!(
                "terminal({rows}, {cols}) needs a rootfs with its /dev (the pty comes from the \
                 container's devpts)"
            )));
        }
        if let Some(i) = c.stdio.iter().position(|s| !matches!(s, Stdio::Inherit)) {
            return Err(SpawnError::invalid(format!(
                "terminal({rows}, {cols}) is stdin, stdout and stderr: stream {i} is also set \
                 to {:?}",
                c.stdio[i]
            )));
        }
    } else if let Some(path) = &c.console_socket {
        return Err(SpawnError::invalid(format!(
            "console_socket({}) needs terminal()",
            path.display()
        )));
    }
    Ok(())
}

/// The lowest number the moved fds may take: above every passed number
/// (0 when none is passed: nothing moves).
pub(crate) fn floor(c: &Container) -> RawFd {
    c.pass_fds.iter().map(|(_, n)| n + 1).max().unwrap_or(0)
}

/// A close-on-exec duplicate of `fd` at `floor` or above, or `None` when
/// `fd` is already there.
pub(crate) fn dup_above(fd: BorrowedFd<'_>, floor: RawFd) -> Result<Option<OwnedFd>, SpawnError> {
    if fd.as_raw_fd() >= floor {
        return Ok(None);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd makes a new fd we own.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, floor) };
    if new < 0 {
        return Err(SpawnError::new(
            Step::Prepare,
            Some(Errno::last()),
            format!("moving fd {} above the passed fd numbers", fd.as_raw_fd()),
        ));
    }
    // SAFETY: fresh fd.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(new) }))
}

/// `fd` itself when at `floor` or above, else its duplicate there.
pub(crate) fn above(fd: OwnedFd, floor: RawFd) -> Result<OwnedFd, SpawnError> {
    use std::os::fd::AsFd;
    Ok(dup_above(fd.as_fd(), floor)?.unwrap_or(fd))
}

/// The passed fds as (source, target), every source at `floor` or
/// above, and the duplicates made for that, to keep open until the clone
/// is done.
pub(crate) type Sources = (Vec<(RawFd, i32)>, Vec<OwnedFd>);

/// See [`Sources`].
pub(crate) fn sources(c: &Container, floor: RawFd) -> Result<Sources, SpawnError> {
    use std::os::fd::AsFd;
    let mut pairs = Vec::new();
    let mut held = Vec::new();
    for (fd, n) in &c.pass_fds {
        match dup_above(fd.as_fd(), floor)? {
            Some(d) => {
                pairs.push((d.as_raw_fd(), *n));
                held.push(d);
            }
            None => pairs.push((fd.as_raw_fd(), *n)),
        }
    }
    Ok((pairs, held))
}
