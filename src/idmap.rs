//! Idmapped bind mounts (`idmap`/`ridmap`, mount_setattr(2)
//! `MOUNT_ATTR_IDMAP`): files of a host directory appear inside the
//! container with their owners mapped through the container's user
//! namespace, and what the container writes lands with the host ids.
//!
//! Setting `MOUNT_ATTR_IDMAP` needs `CAP_SYS_ADMIN` over the filesystem's
//! own user namespace (the host's), which the clone child — in its new
//! user namespace — lacks. So, as runc does, the *parent* makes the
//! detached trees after the clone (once the child's id maps are written),
//! idmaps them with the child's user namespace, and sends them over a
//! socketpair with `SCM_RIGHTS`; the child moves each onto its target
//! like any bind ([`crate::plan::Op::BindFd`]).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use crate::mountfd::attr;
use crate::{SpawnError, Step};

/// At most this many idmapped mounts per container (one message).
pub(crate) const MAX: usize = 16;

/// `MOUNT_ATTR_IDMAP`.
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const OPEN_TREE_CLONE: u32 = 1;

/// One idmapped bind the parent prepares: host `source`, whole tree when
/// `recursive`, other attributes `attrs` (`WANT_ATIME` meaning as in
/// [`crate::mountfd::set_attrs`]).
pub(crate) struct Source {
    pub source: CString,
    pub recursive: bool,
    pub attrs: u64,
    pub detail: String,
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Makes the idmapped trees for the child `pid` (its user namespace's id
/// maps written) and sends them, in order, on `sock`.
pub(crate) fn send(pid: i32, sources: &[Source], sock: &OwnedFd) -> Result<(), SpawnError> {
    let userns = std::fs::File::open(format!("/proc/{pid}/ns/user")).map_err(|e| {
        SpawnError::new(
            Step::Mount,
            e.raw_os_error().map(Errno::from_raw),
            "the container's user namespace (for idmapped mounts)",
        )
    })?;
    let mut trees = Vec::new();
    for s in sources {
        let fail = |what: &str| {
            SpawnError::new(
                Step::Mount,
                Some(Errno::last()),
                format!("{}: {what}", s.detail),
            )
        };
        let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32;
        if s.recursive {
            flags |= libc::AT_RECURSIVE as u32;
        }
        // SAFETY: a NUL-terminated host path.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                s.source.as_ptr(),
                flags,
            )
        };
        if fd < 0 {
            return Err(fail("open_tree"));
        }
        // SAFETY: a fresh fd.
        let tree = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        let a = MountAttr {
            attr_set: (s.attrs & !attr::WANT_ATIME) | MOUNT_ATTR_IDMAP,
            attr_clr: if s.attrs & attr::WANT_ATIME != 0 {
                attr::ATIME
            } else {
                0
            },
            propagation: 0,
            userns_fd: userns.as_raw_fd() as u64,
        };
        let at = libc::AT_EMPTY_PATH | if s.recursive { libc::AT_RECURSIVE } else { 0 };
        // SAFETY: a valid mount_attr of the size passed, on our tree.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                tree.as_raw_fd(),
                c"".as_ptr(),
                at as libc::c_uint,
                &raw const a,
                size_of::<MountAttr>(),
            )
        };
        if r != 0 {
            return Err(fail(
                "mount_setattr(MOUNT_ATTR_IDMAP) with the container's user namespace",
            ));
        }
        trees.push(tree);
    }
    send_fds(sock.as_raw_fd(), &trees).map_err(|e| {
        SpawnError::new(
            Step::Mount,
            Some(Errno::from_raw(e)),
            "sending the idmapped mounts to the child",
        )
    })
}

/// Room for `MAX` fds in one control message, aligned.
#[repr(C, align(8))]
struct Cmsg([u8; 96]);

fn send_fds(sock: RawFd, fds: &[OwnedFd]) -> Result<(), i32> {
    let mut buf = Cmsg([0; 96]);
    let byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_ptr() as *mut libc::c_void,
        iov_len: 1,
    };
    let len = (fds.len() * size_of::<RawFd>()) as u32;
    // SAFETY: plain data; a cmsg sized for `fds` in our aligned buffer.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = buf.0.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(len) as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(len) as _;
        let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
        for (i, fd) in fds.iter().enumerate() {
            std::ptr::write_unaligned(data.add(i), fd.as_raw_fd());
        }
        if libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(*libc::__errno_location());
        }
    }
    Ok(())
}

/// In the child: receives the trees and puts the i-th at `slots[i]`
/// (numbers above every fd it holds, chosen by the parent), close-on-exec.
///
/// # Safety
/// In the clone child; `sock` our end of the pair.
pub(crate) unsafe fn receive(sock: RawFd, slots: &[RawFd]) -> Result<(), i32> {
    let mut buf = Cmsg([0; 96]);
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: receiving into stack buffers; reading the cmsg the kernel wrote.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = buf.0.as_mut_ptr().cast();
        msg.msg_controllen = buf.0.len() as _;
        let n = loop {
            let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n >= 0 || *libc::__errno_location() != libc::EINTR {
                break n;
            }
        };
        if n <= 0 {
            return Err(if n == 0 {
                libc::EPIPE
            } else {
                *libc::__errno_location()
            });
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
            return Err(libc::EBADMSG);
        }
        let got = ((*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / size_of::<RawFd>();
        let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
        if got != slots.len() {
            for i in 0..got {
                libc::close(std::ptr::read_unaligned(data.add(i)));
            }
            return Err(libc::EBADMSG);
        }
        // The received fds are the lowest free numbers: all below the
        // slots (see Plan::add_idmap), so no dup3 clobbers one.
        for (i, &slot) in slots.iter().enumerate() {
            let fd = std::ptr::read_unaligned(data.add(i));
            if libc::dup3(fd, slot, libc::O_CLOEXEC) < 0 {
                return Err(*libc::__errno_location());
            }
            libc::close(fd);
        }
        libc::close(sock);
    }
    Ok(())
}
