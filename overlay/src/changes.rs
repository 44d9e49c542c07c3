//! What a container changed: the upper directory read against the lowers,
//! as `docker diff` shows it.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::io_errno;
use crate::{Error, Result};

/// Kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ChangeKind {
    /// New in the container (`A`).
    Added,
    /// Present in a lower layer and changed (`C`).
    Modified,
    /// Present in a lower layer and removed (`D`).
    Deleted,
}

/// One changed path, relative to the root (`/etc/passwd`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Change {
    /// The path inside the container.
    pub path: PathBuf,
    /// What happened to it.
    pub kind: ChangeKind,
}

impl std::fmt::Display for Change {
    /// `docker diff` style: `A /new`, `C /etc`, `D /gone`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = match self.kind {
            ChangeKind::Added => 'A',
            ChangeKind::Modified => 'C',
            ChangeKind::Deleted => 'D',
        };
        write!(f, "{c} {}", self.path.display())
    }
}

/// Reads `upper` (of an unmounted or mounted overlay) against `lowers`:
/// whiteouts (char device 0:0) are deletions, opaque directories
/// (`trusted.overlay.opaque` or `user.overlay.opaque` = `y`) replace the
/// lower directory, everything else is added or modified depending on
/// whether a lower layer has the path. Sorted by path.
///
/// ```no_run
/// for change in palisade_overlay::changes("/ctr/upper", &["/img/layer1"])? {
///     println!("{change}");
/// }
/// # Ok::<(), palisade_overlay::Error>(())
/// ```
pub fn changes<P: AsRef<Path>>(upper: impl AsRef<Path>, lowers: &[P]) -> Result<Vec<Change>> {
    let lowers: Vec<&Path> = lowers.iter().map(AsRef::as_ref).collect();
    let mut out = Vec::new();
    walk(upper.as_ref(), Path::new("/"), &lowers, &mut out)?;
    out.sort();
    Ok(out)
}

fn in_lowers(lowers: &[&Path], rel: &Path) -> bool {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    lowers
        .iter()
        .any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok())
}

fn is_opaque(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    [c"trusted.overlay.opaque", c"user.overlay.opaque"]
        .iter()
        .any(|name| {
            let mut v = [0u8; 4];
            // SAFETY: valid C strings and buffer.
            let n = unsafe {
                libc::lgetxattr(c.as_ptr(), name.as_ptr(), v.as_mut_ptr().cast(), v.len())
            };
            n == 1 && v[0] == b'y'
        })
}

fn walk(dir: &Path, rel: &Path, lowers: &[&Path], out: &mut Vec<Change>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Io {
        path: dir.to_owned(),
        errno: io_errno(&e),
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::Io {
            path: dir.to_owned(),
            errno: io_errno(&e),
        })?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::Io {
            path: path.clone(),
            errno: io_errno(&e),
        })?;
        let inner = rel.join(entry.file_name());
        let ft = meta.file_type();
        if ft.is_char_device() && meta.rdev() == 0 {
            out.push(Change {
                path: inner,
                kind: ChangeKind::Deleted,
            });
            continue;
        }
        let existed = in_lowers(lowers, &inner);
        if ft.is_dir() {
            let opaque = is_opaque(&path);
            if existed {
                if opaque {
                    out.push(Change {
                        path: inner.clone(),
                        kind: ChangeKind::Modified,
                    });
                }
                // A copied-up directory: report what changed inside, and the
                // directory itself when something did.
                let before = out.len();
                let sub_lowers: Vec<&Path> = if opaque { Vec::new() } else { lowers.to_vec() };
                walk(&path, &inner, &sub_lowers, out)?;
                if !opaque && out.len() > before {
                    out.push(Change {
                        path: inner,
                        kind: ChangeKind::Modified,
                    });
                }
            } else {
                out.push(Change {
                    path: inner.clone(),
                    kind: ChangeKind::Added,
                });
                walk(&path, &inner, &[], out)?;
            }
            continue;
        }
        out.push(Change {
            path: inner,
            kind: if existed {
                ChangeKind::Modified
            } else {
                ChangeKind::Added
            },
        });
    }
    Ok(())
}
