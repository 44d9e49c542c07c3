//! File capabilities: the `security.capability` extended attribute
//! (`getcap`/`setcap` in Rust).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use nix::errno::Errno;

use crate::{CapSet, Error, Result};

const XATTR_NAME: &std::ffi::CStr = c"security.capability";
const VFS_CAP_REVISION_2: u32 = 0x0200_0000;
const VFS_CAP_REVISION_3: u32 = 0x0300_0000;
const VFS_CAP_REVISION_MASK: u32 = 0xFF00_0000;
const VFS_CAP_FLAGS_EFFECTIVE: u32 = 0x0000_0001;

/// The capabilities attached to an executable.
///
/// ```
/// use palisade_caps::{CapSet, Capability, FileCaps};
/// let caps = FileCaps::new(Capability::NET_RAW.into()).effective(true);
/// let bytes = caps.encode();
/// assert_eq!(bytes.len(), 20); // v2: no root id
/// assert_eq!(FileCaps::decode(&bytes)?, caps);
/// # Ok::<(), palisade_caps::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FileCaps {
    /// Added to the permitted set on exec (`p`).
    pub permitted: CapSet,
    /// ANDed with the thread's inheritable set on exec (`i`).
    pub inheritable: CapSet,
    /// Raise the new permitted set into effective (`e`).
    pub effective: bool,
    /// v3: the user-namespace root these caps are for (`None` = v2).
    pub root_id: Option<u32>,
}

impl FileCaps {
    /// Permitted `caps`, nothing inheritable, not effective, v2.
    pub fn new(permitted: CapSet) -> FileCaps {
        FileCaps {
            permitted,
            inheritable: CapSet::EMPTY,
            effective: false,
            root_id: None,
        }
    }

    /// Sets the effective flag.
    pub fn effective(mut self, yes: bool) -> Self {
        self.effective = yes;
        self
    }

    /// Sets the inheritable set.
    pub fn inheritable(mut self, set: CapSet) -> Self {
        self.inheritable = set;
        self
    }

    /// Makes it a v3 attribute for the namespace whose root is `uid`.
    pub fn root_id(mut self, uid: u32) -> Self {
        self.root_id = Some(uid);
        self
    }

    /// The xattr bytes (little-endian `vfs_cap_data` / `vfs_ns_cap_data`).
    pub fn encode(&self) -> Vec<u8> {
        let magic = match self.root_id {
            Some(_) => VFS_CAP_REVISION_3,
            None => VFS_CAP_REVISION_2,
        } | if self.effective {
            VFS_CAP_FLAGS_EFFECTIVE
        } else {
            0
        };
        let p = self.permitted.mask();
        let i = self.inheritable.mask();
        let mut out = Vec::with_capacity(24);
        for word in [
            magic,
            p as u32,
            i as u32,
            (p >> 32) as u32,
            (i >> 32) as u32,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        if let Some(root) = self.root_id {
            out.extend_from_slice(&root.to_le_bytes());
        }
        out
    }

    /// Parses xattr bytes (v2 or v3; v1 is 32-bit only and read as such).
    pub fn decode(bytes: &[u8]) -> Result<FileCaps> {
        let word = |i: usize| {
            bytes
                .get(i * 4..i * 4 + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let bad = |reason: &str| Error::Parse {
            what: "security.capability",
            reason: reason.to_owned(),
        };
        let magic = word(0).ok_or_else(|| bad("shorter than 4 bytes"))?;
        let effective = magic & VFS_CAP_FLAGS_EFFECTIVE != 0;
        let (len, root) = match magic & VFS_CAP_REVISION_MASK {
            0x0100_0000 => (12, false),
            VFS_CAP_REVISION_2 => (20, false),
            VFS_CAP_REVISION_3 => (24, true),
            _ => return Err(bad("unknown revision")),
        };
        if bytes.len() != len {
            return Err(bad("length does not match the revision"));
        }
        let lo = |i| word(i).unwrap_or(0) as u64;
        let (p, i) = if len == 12 {
            (lo(1), lo(2))
        } else {
            (lo(1) | lo(3) << 32, lo(2) | lo(4) << 32)
        };
        Ok(FileCaps {
            permitted: CapSet::from_mask(p),
            inheritable: CapSet::from_mask(i),
            effective,
            root_id: root.then(|| word(5).unwrap_or(0)),
        })
    }

    /// Reads the capabilities of the file at `path` (`None` if it has none).
    pub fn read(path: impl AsRef<Path>) -> Result<Option<FileCaps>> {
        let path = path.as_ref();
        let c = cpath(path)?;
        let mut buf = [0u8; 32];
        // SAFETY: valid C strings and buffer.
        let n = unsafe {
            libc::getxattr(
                c.as_ptr(),
                XATTR_NAME.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        Self::finish_read(n, &buf, path)
    }

    /// Reads the capabilities of an open file.
    pub fn read_fd(fd: impl AsFd) -> Result<Option<FileCaps>> {
        let mut buf = [0u8; 32];
        // SAFETY: valid fd, C string and buffer.
        let n = unsafe {
            libc::fgetxattr(
                fd.as_fd().as_raw_fd(),
                XATTR_NAME.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        Self::finish_read(n, &buf, Path::new("<fd>"))
    }

    fn finish_read(n: isize, buf: &[u8], path: &Path) -> Result<Option<FileCaps>> {
        if n < 0 {
            return match Errno::last() {
                Errno::ENODATA => Ok(None),
                e => Err(Error::Sys {
                    op: "getxattr security.capability",
                    path: Some(path.to_owned()),
                    errno: e,
                }),
            };
        }
        FileCaps::decode(&buf[..n as usize]).map(Some)
    }

    /// Writes the attribute to the file at `path` (needs CAP_SETFCAP).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let c = cpath(path)?;
        let bytes = self.encode();
        // SAFETY: valid C strings and buffer.
        let r = unsafe {
            libc::setxattr(
                c.as_ptr(),
                XATTR_NAME.as_ptr(),
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
            )
        };
        if r != 0 {
            return Err(Error::Sys {
                op: "setxattr security.capability",
                path: Some(path.to_owned()),
                errno: Errno::last(),
            });
        }
        Ok(())
    }

    /// Removes the attribute (no error if there was none).
    pub fn remove(path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let c = cpath(path)?;
        // SAFETY: valid C strings.
        if unsafe { libc::removexattr(c.as_ptr(), XATTR_NAME.as_ptr()) } != 0 {
            let e = Errno::last();
            if e != Errno::ENODATA {
                return Err(Error::Sys {
                    op: "removexattr security.capability",
                    path: Some(path.to_owned()),
                    errno: e,
                });
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for FileCaps {
    /// `setcap`'s text form: `cap_net_raw,cap_chown=ep`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let caps = self.permitted | self.inheritable;
        let names: Vec<String> = caps.iter().map(|c| c.to_string().to_lowercase()).collect();
        let mut flags = String::new();
        if self.effective {
            flags.push('e');
        }
        if !self.inheritable.is_empty() {
            flags.push('i');
        }
        if !self.permitted.is_empty() {
            flags.push('p');
        }
        write!(f, "{}={flags}", names.join(","))
    }
}

fn cpath(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Error::Sys {
        op: "path contains NUL",
        path: Some(path.to_owned()),
        errno: Errno::EINVAL,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Capability;

    #[test]
    fn v3_round_trips_with_high_bits() {
        let caps = FileCaps::new(CapSet::from_mask(1 << 40 | 1))
            .inheritable(Capability::KILL.into())
            .root_id(100_000);
        let bytes = caps.encode();
        assert_eq!(bytes.len(), 24);
        assert_eq!(FileCaps::decode(&bytes).unwrap(), caps);
    }

    #[test]
    fn malformed_attributes_are_errors() {
        assert!(FileCaps::decode(&[]).is_err());
        assert!(FileCaps::decode(&[0, 0, 0, 9]).is_err());
        assert!(FileCaps::decode(&[0, 0, 0, 2, 1]).is_err());
    }
}
