//! Network sysctls of a namespace, written from a thread inside it.

use std::io::Write;
use std::os::fd::BorrowedFd;

use nix::errno::Errno;

use crate::{Error, Netlink, Result};

fn path_of(key: &str) -> Result<String> {
    let ok = key.starts_with("net.")
        && key
            .split('.')
            .all(|p| !p.is_empty() && p != ".." && !p.contains('/'));
    if !ok {
        return Err(Error::Invalid {
            what: "network sysctl key (net.*)",
            value: key.to_owned(),
        });
    }
    Ok(format!("/proc/sys/{}", key.replace('.', "/")))
}

fn write(key: &str, value: &str) -> Result<()> {
    let path = path_of(key)?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| Error::Kernel {
            op: format!("write sysctl {key}={value}"),
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            message: None,
        })
}

/// Writes a `net.*` sysctl of the network namespace `netns` (e.g.
/// `net.ipv4.ip_forward`), from a short-lived thread inside it; with `None`,
/// of the caller's namespace.
///
/// ```no_run
/// let ns = std::fs::File::open("/run/netns/box")?;
/// use std::os::fd::AsFd;
/// palisade_netlink::set_sysctl(Some(ns.as_fd()), "net.ipv4.ip_forward", "1")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_sysctl(netns: Option<BorrowedFd<'_>>, key: &str, value: &str) -> Result<()> {
    path_of(key)?;
    match netns {
        None => write(key, value),
        Some(ns) => Netlink::run_in(ns, || write(key, value))?,
    }
}

/// Reads a `net.*` sysctl of `netns` (or the caller's namespace).
pub fn get_sysctl(netns: Option<BorrowedFd<'_>>, key: &str) -> Result<String> {
    let path = path_of(key)?;
    let read = move || {
        std::fs::read_to_string(&path)
            .map(|s| s.trim().to_owned())
            .map_err(|e| Error::Kernel {
                op: format!("read sysctl {key}"),
                errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                message: None,
            })
    };
    match netns {
        None => read(),
        Some(ns) => Netlink::run_in(ns, read)?,
    }
}
