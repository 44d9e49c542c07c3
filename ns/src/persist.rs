//! Keeping a namespace alive in a file (bind mount), like `ip netns add`.

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::sys::{cstring, cvt};
use crate::{Error, Namespace, NsKind, Result};

/// Where `ip netns` keeps named network namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Bind-mounts `ns` onto `path` (created as an empty file if missing), so
/// it outlives every process in it. `nsenter --net=PATH` and
/// `Namespace::open(PATH, kind)` can then join it.
///
/// ```no_run
/// use palisade_ns::{persist, unpersist, Namespace, NsKind};
/// let ns = Namespace::of_pid(1234, NsKind::Uts)?;
/// persist(&ns, "/run/my-uts")?;
/// unpersist("/run/my-uts")?;
/// # Ok::<(), palisade_ns::Error>(())
/// ```
pub fn persist(ns: &Namespace, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let target = cstring(path)?;
    // SAFETY: valid C string; O_EXCL keeps us from mounting over a file the
    // caller did not mean to give us.
    let fd = cvt(unsafe {
        libc::open(
            target.as_ptr(),
            libc::O_RDONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            0o444,
        )
    })
    .map_err(|e| Error::at("create", path, e))?;
    // SAFETY: closing the fd we just created.
    unsafe { libc::close(fd) };
    let source = cstring(&PathBuf::from(format!(
        "/proc/self/fd/{}",
        ns.as_fd().as_raw_fd()
    )))?;
    // SAFETY: valid C strings; bind mount of an nsfs file.
    let mounted = cvt(unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    });
    if let Err(e) = mounted {
        let _ = std::fs::remove_file(path);
        return Err(Error::at("bind mount namespace onto", path, e));
    }
    Ok(())
}

/// Persists a network namespace as `/run/netns/<name>`, exactly where and
/// how `ip netns add` does: `/run/netns` is made a shared mount (bound onto
/// itself first if it is not a mount point) so the name is visible in
/// mount namespaces created later.
pub fn persist_netns(ns: &Namespace, name: &str) -> Result<PathBuf> {
    if ns.kind() != NsKind::Net {
        return Err(Error::Invalid {
            what: "namespace kind for persist_netns",
            value: ns.kind().to_string(),
        });
    }
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.len() > 255 {
        return Err(Error::Invalid {
            what: "netns name",
            value: name.to_owned(),
        });
    }
    let dir = Path::new(NETNS_RUN_DIR);
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::at("mkdir", dir, Errno::from_raw(e.raw_os_error().unwrap_or(0))))?;
    make_shared_mount_point(dir)?;
    let path = dir.join(name);
    persist(ns, &path)?;
    Ok(path)
}

fn make_shared_mount_point(dir: &Path) -> Result<()> {
    let c = cstring(dir)?;
    let shared = |c: &std::ffi::CString| {
        // SAFETY: propagation change on a valid path.
        cvt(unsafe {
            libc::mount(
                c"none".as_ptr(),
                c.as_ptr(),
                std::ptr::null(),
                libc::MS_SHARED | libc::MS_REC,
                std::ptr::null(),
            )
        })
    };
    if is_mount_point(dir) && shared(&c).is_ok() {
        return Ok(());
    }
    // SAFETY: bind the directory onto itself, as `ip` does.
    cvt(unsafe {
        libc::mount(
            c.as_ptr(),
            c.as_ptr(),
            c"none".as_ptr(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        )
    })
    .map_err(|e| Error::at("bind mount onto itself", dir, e))?;
    shared(&c)
        .map(drop)
        .map_err(|e| Error::at("make shared", dir, e))
}

fn is_mount_point(dir: &Path) -> bool {
    let want = dir.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|info| {
            info.lines()
                .any(|l| l.split(' ').nth(4) == Some(want.as_ref()))
        })
        .unwrap_or(false)
}

/// Undoes [`persist`]: detaches the bind mount and removes the file. The
/// namespace dies when its last process and handle go.
pub fn unpersist(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let c = cstring(path)?;
    // SAFETY: valid C string.
    match cvt(unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) }) {
        Ok(_) | Err(Errno::EINVAL) => {}
        Err(e) => return Err(Error::at("umount", path, e)),
    }
    std::fs::remove_file(path).map_err(|e| {
        Error::at(
            "remove",
            path,
            Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        )
    })
}
