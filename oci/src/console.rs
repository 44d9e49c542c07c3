//! Sending a pty master to a `--console-socket` (runc's protocol: one
//! `sendmsg` on a unix stream socket, the payload a name, the fd in an
//! `SCM_RIGHTS` control message), as containerd's shim and conmon expect.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Connects to `socket` and sends `fd` with `name` as the payload.
///
/// ```no_run
/// let pty = std::fs::File::open("/dev/ptmx")?;
/// use std::os::fd::AsFd;
/// palisade_oci::console::send(std::path::Path::new("/run/conmon.sock"), pty.as_fd(), "/dev/ptmx")?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn send(socket: &Path, fd: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    let stream = UnixStream::connect(socket)?;
    let mut payload = name.as_bytes().to_vec();
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: payload.len(),
    };
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: msghdr is plain data; every pointer below points into live
    // buffers of the right sizes for the duration of sendmsg.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: the control buffer holds one cmsg of CMSG_SPACE(int) bytes.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), fd.as_raw_fd());
    }
    // SAFETY: a valid socket and message.
    let n = unsafe { libc::sendmsg(stream.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
