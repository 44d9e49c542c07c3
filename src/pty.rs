//! The container's terminal: a pseudo-terminal pair allocated by the clone
//! child from the container's own devpts instance (after `pivot_root`, so
//! the pty belongs to the container, as with runc and crun), and the
//! `SCM_RIGHTS` message that carries its master out — to the parent over a
//! socketpair, and from the parent to an OCI console socket.
//!
//! The console-socket framing is runc's (`utils.SendFile`): one
//! `sendmsg` whose payload is the pty's name (`/dev/pts/N`) and whose one
//! `SCM_RIGHTS` control message holds the master fd. conmon and
//! containerd's shim read exactly that.
//!
//! The child-side functions run between `clone3` and `execve`: raw system
//! calls and stack buffers only.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `struct winsize` for `TIOCSWINSZ`.
fn winsize(rows: u16, cols: u16) -> libc::winsize {
    libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// Sets the window size of the terminal behind `fd` (`TIOCSWINSZ`); the
/// kernel sends `SIGWINCH` to its foreground process group.
pub(crate) fn set_winsize(fd: RawFd, rows: u16, cols: u16) -> Result<(), i32> {
    let ws = winsize(rows, cols);
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
    if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(errno());
    }
    Ok(())
}

fn errno() -> i32 {
    // SAFETY: reading the thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Room for one control message holding one fd (`CMSG_SPACE(sizeof(int))`,
/// 24 bytes on 64-bit), aligned for `cmsghdr`.
#[repr(C, align(8))]
struct CmsgBuf([u8; 32]);

/// Sends `fd` with `SCM_RIGHTS` and `payload` as the data, in one
/// `sendmsg` (runc's framing). No allocation: usable in the clone child.
///
/// # Safety
/// `sock` is a connected unix socket and `fd` an open fd.
pub(crate) unsafe fn send_fd(sock: RawFd, fd: RawFd, payload: &[u8]) -> Result<(), i32> {
    let mut buf = CmsgBuf([0; 32]);
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    // SAFETY: msghdr is plain data; zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is arithmetic.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<RawFd>() as u32) } as _;
    // SAFETY: the control buffer is large enough and aligned for one
    // cmsghdr with one int of data.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
    }
    loop {
        // SAFETY: a fully built msghdr over live buffers.
        let n = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        if errno() != libc::EINTR {
            return Err(errno());
        }
    }
}

/// Receives one fd sent by [`send_fd`], with its payload; `None` when the
/// peer closed without sending (the child failed: its error record says
/// why).
pub(crate) fn recv_fd(sock: RawFd) -> std::io::Result<Option<(OwnedFd, Vec<u8>)>> {
    let mut data = [0u8; 256];
    let mut buf = CmsgBuf([0; 32]);
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.0.as_mut_ptr().cast();
    msg.msg_controllen = buf.0.len() as _;
    let n = loop {
        // SAFETY: receiving into live stack buffers; fds arrive CLOEXEC.
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    // SAFETY: walking the control messages the kernel wrote.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
                return Ok(Some((OwnedFd::from_raw_fd(fd), data[..n].to_vec())));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if n == 0 {
        return Ok(None);
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "a message without an SCM_RIGHTS fd",
    ))
}

/// Connects to an OCI console socket (`--console-socket`): a unix stream
/// socket a runtime manager (conmon, containerd's shim) listens on.
pub(crate) fn connect_console(path: &std::path::Path) -> std::io::Result<OwnedFd> {
    Ok(std::os::unix::net::UnixStream::connect(path)?.into())
}

/// Hands the master to a console socket in runc's framing, payload the
/// pty's name.
pub(crate) fn send_console(sock: &OwnedFd, master: &File, name: &[u8]) -> Result<(), i32> {
    // SAFETY: our connected socket and open master.
    unsafe { send_fd(sock.as_raw_fd(), master.as_raw_fd(), name) }
}

/// What the child does for the terminal; failures are (sub-step, errno).
pub(crate) mod child {
    use super::*;

    /// Sub-steps, reported as `Step::Stdio` index `TERMINAL + n`.
    pub(crate) const OPEN_PTMX: u32 = 0;
    pub(crate) const UNLOCK: u32 = 1;
    pub(crate) const PEER: u32 = 2;
    pub(crate) const WINSIZE: u32 = 3;
    pub(crate) const CONSOLE: u32 = 4;
    pub(crate) const SEND: u32 = 5;
    pub(crate) const CTTY: u32 = 6;
    pub(crate) const DUP: u32 = 7;

    /// The text for a sub-step.
    pub(crate) fn detail(sub: u32) -> &'static str {
        match sub {
            OPEN_PTMX => "terminal: opening the container's /dev/pts/ptmx",
            UNLOCK => "terminal: unlocking the pty (TIOCSPTLCK/TIOCGPTN)",
            PEER => "terminal: opening the pty's slave (TIOCGPTPEER)",
            WINSIZE => "terminal: setting the window size (TIOCSWINSZ)",
            CONSOLE => "terminal: binding the slave over /dev/console",
            SEND => "terminal: sending the master (SCM_RIGHTS)",
            CTTY => "terminal: setsid + TIOCSCTTY",
            DUP => "terminal: the slave on 0, 1 and 2",
            _ => "terminal",
        }
    }

    const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
    const RESOLVE_IN_ROOT: u64 = 0x10;

    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }

    /// Opens the pty: the master from the container's devpts (resolved
    /// inside the new root), unlocked, its slave through `TIOCGPTPEER` (no
    /// path), the window size set. Writes `/dev/pts/N` into `name` and
    /// returns (master, slave, name length).
    ///
    /// # Safety
    /// Call after `pivot_root`, in the child.
    pub(crate) unsafe fn open(
        rows: u16,
        cols: u16,
        name: &mut [u8; 32],
    ) -> Result<(RawFd, RawFd, usize), (u32, i32)> {
        // SAFETY: raw syscalls on stack data and our fds.
        unsafe {
            let root = libc::open(
                c"/".as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            );
            if root < 0 {
                return Err((OPEN_PTMX, errno()));
            }
            let how = OpenHow {
                flags: (libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) as u64,
                mode: 0,
                resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
            };
            let master = libc::syscall(
                libc::SYS_openat2,
                root,
                c"dev/pts/ptmx".as_ptr(),
                &how,
                size_of::<OpenHow>(),
            ) as RawFd;
            let e = errno();
            libc::close(root);
            if master < 0 {
                return Err((OPEN_PTMX, e));
            }
            let fail = |sub, e| {
                libc::close(master);
                Err((sub, e))
            };
            let unlock: libc::c_int = 0;
            let mut n: libc::c_uint = 0;
            if libc::ioctl(master, libc::TIOCSPTLCK, &unlock) != 0
                || libc::ioctl(master, libc::TIOCGPTN, &mut n) != 0
            {
                return fail(UNLOCK, errno());
            }
            let slave = libc::ioctl(
                master,
                libc::TIOCGPTPEER,
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            );
            if slave < 0 {
                return fail(PEER, errno());
            }
            if let Err(e) = set_winsize(master, rows, cols) {
                libc::close(slave);
                return fail(WINSIZE, e);
            }
            // "/dev/pts/" then the number's digits.
            let prefix = b"/dev/pts/";
            name[..prefix.len()].copy_from_slice(prefix);
            let mut digits = [0u8; 10];
            let mut i = digits.len();
            loop {
                i -= 1;
                digits[i] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            let len = prefix.len() + digits.len() - i;
            name[prefix.len()..len].copy_from_slice(&digits[i..]);
            Ok((master, slave, len))
        }
    }

    /// Makes `slave` the controlling terminal of a new session and the
    /// process's 0, 1 and 2; closes `slave`.
    ///
    /// # Safety
    /// In the child, with `slave` open.
    pub(crate) unsafe fn attach(slave: RawFd) -> Result<(), (u32, i32)> {
        // SAFETY: raw syscalls on our fd.
        unsafe {
            if libc::setsid() < 0 || libc::ioctl(slave, libc::TIOCSCTTY, 0) != 0 {
                return Err((CTTY, errno()));
            }
            for target in 0..3 {
                if target != slave && libc::dup3(slave, target, 0) < 0 {
                    return Err((DUP, errno()));
                }
            }
            if slave > 2 {
                libc::close(slave);
            }
        }
        Ok(())
    }
}
