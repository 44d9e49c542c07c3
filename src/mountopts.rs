//! Mount options as users write them — `mount -o` strings and OCI
//! `mounts[].options` arrays — parsed into what the new mount API takes:
//! `MOUNT_ATTR_*` bits (`fsmount(2)`/`mount_setattr(2)`), superblock flags
//! and data options for `fsconfig(2)`, bind/rbind, and propagation.
//!
//! Every flag of mount(8) and the OCI runtime spec is known; an option
//! that is none of them is a data option of the filesystem, checked
//! against the options of the filesystems palisade knows (tmpfs, proc,
//! devpts, mqueue, sysfs, cgroup2, overlay) and refused by name for a
//! bind, before anything is created. For a bind, `ro` and the other
//! attributes apply to every mount of an `rbind` (palisade never leaves a
//! submount writable under a read-only bind); the `r`-forms (`rro`,
//! `rnosuid`, …) say the same explicitly.

use std::fmt;

use crate::mountfd::attr;

/// Mount propagation (mount_namespaces(7)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Propagation {
    /// `private`: no events in or out.
    Private,
    /// `slave`: events in from the master, none out.
    Slave,
    /// `shared`: a new peer group.
    Shared,
    /// `unbindable`: private, and cannot be bind-mounted.
    Unbindable,
}

impl Propagation {
    /// The `MS_*` value `mount_setattr`'s `propagation` field takes.
    pub(crate) fn ms(self) -> u64 {
        match self {
            Propagation::Private => libc::MS_PRIVATE,
            Propagation::Slave => libc::MS_SLAVE,
            Propagation::Shared => libc::MS_SHARED,
            Propagation::Unbindable => libc::MS_UNBINDABLE,
        }
    }
}

/// Parsed mount options.
///
/// ```
/// use palisade::{MountOptions, Propagation};
/// let o = MountOptions::parse_str("tmpfs", "ro,nosuid,size=64k,mode=1777,rslave")?;
/// assert!(o.readonly());
/// assert_eq!(o.propagation(), Some((Propagation::Slave, true)));
/// assert!(MountOptions::parse_str("bind", "rbind,ro,size=1").is_err());
/// # Ok::<(), palisade::MountOptionError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// `MOUNT_ATTR_*` bits to set (atime mode excluded).
    pub(crate) attrs: u64,
    /// The atime mode (`MOUNT_ATTR_RELATIME` = 0, `NOATIME`,
    /// `STRICTATIME`), when one was named.
    pub(crate) atime: Option<u64>,
    /// `Some(recursive)` for `bind`/`rbind`.
    pub(crate) bind: Option<bool>,
    pub(crate) propagation: Option<(Propagation, bool)>,
    /// Superblock flags for `fsconfig(FSCONFIG_SET_FLAG)`: sync, dirsync.
    pub(crate) sb_flags: Vec<&'static str>,
    /// Data options for `fsconfig`: `key=value` or a flag `key`.
    pub(crate) data: Vec<(String, Option<String>)>,
    /// `Some(recursive)` for `idmap`/`ridmap`.
    pub(crate) idmap: Option<bool>,
}

/// A mount option palisade refuses, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountOptionError {
    /// Neither a flag of mount(8)/OCI nor an option of the filesystem.
    #[error("unknown mount option {option:?} for {fstype}")]
    Unknown {
        /// The option as given.
        option: String,
        /// The filesystem type (`bind` for a bind).
        fstype: String,
    },
    /// A superblock flag (`sync`, `dirsync`) on a bind: a bind shares the
    /// source's superblock; it cannot change it.
    #[error("mount option {option:?}: a superblock flag cannot be set by a bind")]
    NotForBind {
        /// The option as given.
        option: String,
    },
    /// An empty option (`ro,,nosuid`).
    #[error("empty mount option in {0:?}")]
    Empty(String),
}

/// Data options of the filesystems palisade knows (the kernel's
/// `fs_parameter_spec` names). Other types take any data option.
fn known_data(fstype: &str) -> Option<&'static [&'static str]> {
    Some(match fstype {
        "tmpfs" => &[
            "size",
            "nr_blocks",
            "nr_inodes",
            "mode",
            "uid",
            "gid",
            "huge",
            "mpol",
            "inode32",
            "inode64",
            "noswap",
            "quota",
            "usrquota",
            "grpquota",
        ],
        "proc" => &["hidepid", "subset", "gid"],
        "devpts" => &["newinstance", "ptmxmode", "mode", "gid", "uid", "max"],
        "mqueue" | "sysfs" => &[],
        "cgroup2" => &[
            "nsdelegate",
            "favordynmods",
            "memory_localevents",
            "memory_recursiveprot",
            "memory_hugetlb_accounting",
            "pids_localevents",
        ],
        "overlay" => &[
            "lowerdir",
            "upperdir",
            "workdir",
            "userxattr",
            "redirect_dir",
            "index",
            "metacopy",
            "volatile",
            "xino",
            "nfs_export",
            "uuid",
            "default_permissions",
        ],
        _ => return None,
    })
}

impl MountOptions {
    /// Parses an OCI `options` array (or `mount -o` words) for a mount of
    /// type `fstype` (`bind` for a bind; `rbind`/`bind` in the options
    /// make it one too).
    pub fn parse<I, S>(fstype: &str, options: I) -> Result<MountOptions, MountOptionError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut o = MountOptions::default();
        let words: Vec<String> = options.into_iter().map(|s| s.as_ref().to_owned()).collect();
        if fstype == "bind" || words.iter().any(|w| w == "bind" || w == "rbind") {
            o.bind = Some(false);
        }
        for w in &words {
            let w = w.as_str();
            if w.is_empty() {
                return Err(MountOptionError::Empty(words.join(",")));
            }
            let set = |o: &mut MountOptions, bit: u64, on: bool| {
                if on {
                    o.attrs |= bit;
                } else {
                    o.attrs &= !bit;
                }
            };
            match w {
                "defaults" | "async" | "auto" | "noauto" | "nouser" | "user" | "suid" | "dev"
                | "exec" | "rw" | "rrw" | "diratime" | "rdiratime" | "norelatime"
                | "nostrictatime" | "atime" | "ratime" | "loud" | "silent" | "lazytime"
                | "nolazytime" => {
                    let on_off: Option<(u64, bool)> = match w {
                        "suid" => Some((attr::NOSUID, false)),
                        "dev" => Some((attr::NODEV, false)),
                        "exec" => Some((attr::NOEXEC, false)),
                        "rw" | "rrw" => Some((attr::RDONLY, false)),
                        "diratime" | "rdiratime" => Some((attr::NODIRATIME, false)),
                        _ => None,
                    };
                    if let Some((bit, on)) = on_off {
                        set(&mut o, bit, on);
                    }
                    if w == "atime" || w == "ratime" || w == "nostrictatime" || w == "norelatime" {
                        o.atime = None;
                    }
                }
                "ro" | "rro" => set(&mut o, attr::RDONLY, true),
                "nosuid" | "rnosuid" => set(&mut o, attr::NOSUID, true),
                "nodev" | "rnodev" => set(&mut o, attr::NODEV, true),
                "noexec" | "rnoexec" => set(&mut o, attr::NOEXEC, true),
                "nodiratime" | "rnodiratime" => set(&mut o, attr::NODIRATIME, true),
                "noatime" | "rnoatime" => o.atime = Some(attr::NOATIME),
                "relatime" | "rrelatime" => o.atime = Some(attr::RELATIME),
                "strictatime" | "rstrictatime" => o.atime = Some(attr::STRICTATIME),
                "bind" => o.bind = Some(o.bind == Some(true)),
                "rbind" => o.bind = Some(true),
                "private" | "rprivate" | "slave" | "rslave" | "shared" | "rshared"
                | "unbindable" | "runbindable" => {
                    let (recursive, name) = match w.strip_prefix('r') {
                        Some(rest) => (true, rest),
                        None => (false, w),
                    };
                    let p = match name {
                        "private" => Propagation::Private,
                        "slave" => Propagation::Slave,
                        "shared" => Propagation::Shared,
                        _ => Propagation::Unbindable,
                    };
                    o.propagation = Some((p, recursive));
                }
                "idmap" => o.idmap = Some(false),
                "ridmap" => o.idmap = Some(true),
                "sync" | "dirsync" => {
                    if o.bind.is_some() {
                        return Err(MountOptionError::NotForBind {
                            option: w.to_owned(),
                        });
                    }
                    o.sb_flags
                        .push(if w == "sync" { "sync" } else { "dirsync" });
                }
                _ => {
                    let (key, value) = match w.split_once('=') {
                        Some((k, v)) => (k, Some(v.to_owned())),
                        None => (w, None),
                    };
                    let unknown = || MountOptionError::Unknown {
                        option: w.to_owned(),
                        fstype: if o.bind.is_some() { "bind" } else { fstype }.to_owned(),
                    };
                    if o.bind.is_some() || key.is_empty() {
                        return Err(unknown());
                    }
                    if let Some(known) = known_data(fstype) {
                        if !known.contains(&key) {
                            return Err(unknown());
                        }
                    }
                    o.data.push((key.to_owned(), value));
                }
            }
        }
        Ok(o)
    }

    /// Parses a `mount -o` string: `ro,nosuid,size=64k`.
    pub fn parse_str(fstype: &str, options: &str) -> Result<MountOptions, MountOptionError> {
        if options.is_empty() {
            return MountOptions::parse(fstype, std::iter::empty::<&str>());
        }
        MountOptions::parse(fstype, options.split(','))
    }

    /// Read-only (`ro`/`rro`)?
    pub fn readonly(&self) -> bool {
        self.attrs & attr::RDONLY != 0
    }

    /// A bind (`Some(true)`: recursive, `rbind`)?
    pub fn bind(&self) -> Option<bool> {
        self.bind
    }

    /// The propagation asked for, and whether recursive (`rslave`…).
    pub fn propagation(&self) -> Option<(Propagation, bool)> {
        self.propagation
    }

    /// The filesystem's data options, in order.
    pub fn data(&self) -> &[(String, Option<String>)] {
        &self.data
    }

    /// `idmap` (`Some(false)`) or `ridmap` (`Some(true)`).
    pub fn idmap(&self) -> Option<bool> {
        self.idmap
    }
}

impl fmt::Display for Propagation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Propagation::Private => "private",
            Propagation::Slave => "slave",
            Propagation::Shared => "shared",
            Propagation::Unbindable => "unbindable",
        })
    }
}
