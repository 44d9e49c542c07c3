//! `palisade-init`, the program palisade runs inside a container before
//! the user's one (src/init/palisade-init.c, built by build.rs): held in a
//! sealed memfd, made once per process.
//!
//! Why not exec the user's program straight from the clone child? Until
//! its `execve` completes the child *is* the host program: `/proc/self/exe`
//! is the host binary, its memory and environment the host's. A program
//! whose `#!` line names `/proc/self/exe` would run the host binary inside
//! the container, where root can keep a handle to it and overwrite it once
//! the host program exits (CVE-2019-5736); a PID 1 that forks the program
//! and never execs leaves the host's memory and environment readable in
//! `/proc/1` (CVE-2016-9962). The child therefore execs this image first;
//! it is sealed (no write, grow or shrink), so a handle to it gives nothing.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;

use nix::errno::Errno;

use crate::{SpawnError, Step};

static IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/palisade-init"));

/// `MFD_EXEC` (Linux 6.3): ask for an executable memfd explicitly, so that
/// `vm.memfd_noexec = 1` does not make it non-executable.
const MFD_EXEC: libc::c_uint = 0x10;

static MEMFD: OnceLock<Result<OwnedFd, Errno>> = OnceLock::new();

/// The sealed, close-on-exec memfd holding `palisade-init`.
pub(crate) fn memfd() -> Result<BorrowedFd<'static>, SpawnError> {
    match MEMFD.get_or_init(create) {
        Ok(fd) => Ok(fd.as_fd()),
        Err(e) => Err(SpawnError::new(
            Step::Prepare,
            Some(*e),
            "memfd for palisade-init",
        )),
    }
}

fn create() -> Result<OwnedFd, Errno> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: a NUL-terminated name and flags; the result is checked.
    let mut fd = unsafe { libc::memfd_create(c"palisade-init".as_ptr(), flags | MFD_EXEC) };
    if fd < 0 && Errno::last() == Errno::EINVAL {
        // Before Linux 6.3 memfds are executable and MFD_EXEC is unknown.
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(c"palisade-init".as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a fresh fd owned here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(fd);
    file.write_all(IMAGE)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our fd.
    if unsafe {
        libc::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&file),
            libc::F_ADD_SEALS,
            seals,
        )
    } != 0
    {
        return Err(Errno::last());
    }
    Ok(OwnedFd::from(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_is_an_elf_and_the_memfd_is_sealed() {
        assert_eq!(&IMAGE[..4], b"\x7fELF");
        let fd = memfd().unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: fcntl query on a valid fd.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        assert_eq!(
            seals & (libc::F_SEAL_WRITE | libc::F_SEAL_SEAL),
            libc::F_SEAL_WRITE | libc::F_SEAL_SEAL
        );
        // SAFETY: as above.
        let fdflags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(fdflags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
    }
}
