//! Mounting: new mount API with one `lowerdir+` per layer, else mount(2)
//! with escaped paths; a guard that unmounts on drop.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::errno::Errno;

use crate::{Error, Overlay, Result, escape_path};

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;
const MOUNT_ATTR_NOEXEC: libc::c_uint = 0x8;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
/// fsconfig copies at most 256 bytes (with the NUL) per string value.
const FSCONFIG_VALUE_MAX: usize = 255;
/// mount(2) copies at most one page of options.
const MOUNT_DATA_MAX: usize = 4095;

/// How the overlay is handed to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `fsopen`/`fsconfig` with one `lowerdir+` per layer: no length limit.
    NewApi,
    /// `mount(2)` with an escaped option string of at most 4095 bytes.
    Legacy,
}

/// The strategy this kernel supports, probed once by building (not
/// mounting) a two-layer overlay of empty temporary directories with
/// `lowerdir+`. Before Linux 6.5 overlay takes any `fsconfig` key and only
/// fails at create time, so a key-only probe would lie.
pub fn strategy() -> Strategy {
    static PROBE: OnceLock<Strategy> = OnceLock::new();
    *PROBE.get_or_init(|| {
        if probe_new_api() {
            Strategy::NewApi
        } else {
            Strategy::Legacy
        }
    })
}

fn probe_new_api() -> bool {
    let base = std::env::temp_dir().join(format!("palisade-ovl-probe-{}", std::process::id()));
    let layers = [base.join("a"), base.join("b")];
    let made = layers.iter().all(|l| std::fs::create_dir_all(l).is_ok());
    let ok = made
        && fsopen().is_ok_and(|ctx| {
            layers.iter().all(|l| {
                CString::new(l.as_os_str().as_encoded_bytes())
                    .is_ok_and(|c| fsconfig_string(&ctx, c"lowerdir+", &c).is_ok())
            }) && fsconfig_create(&ctx).is_ok()
        });
    let _ = std::fs::remove_dir_all(&base);
    ok
}

fn fsopen() -> std::result::Result<OwnedFd, Errno> {
    // SAFETY: valid C string; returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn fsconfig_string(
    ctx: &OwnedFd,
    key: &std::ffi::CStr,
    value: &std::ffi::CStr,
) -> std::result::Result<(), Errno> {
    // SAFETY: valid fd and C strings.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// `FSCONFIG_CMD_CREATE`: build the superblock of a configured context.
fn fsconfig_create(ctx: &OwnedFd) -> std::result::Result<(), Errno> {
    // SAFETY: a command without key or value on our context.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// The kernel's messages queued on a filesystem context (`e overlay: …`).
fn context_message(ctx: &OwnedFd) -> String {
    let mut out = String::new();
    let mut buf = [0u8; 512];
    loop {
        // SAFETY: reading into a local buffer.
        let n = unsafe { libc::read(ctx.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        if !out.is_empty() {
            out.push_str("; ");
        }
        let text = String::from_utf8_lossy(&buf[..n as usize]);
        // Each message is "<e|w|i> <text>".
        let body = match text.as_bytes() {
            [b'e' | b'w' | b'i', b' ', ..] => &text[2..],
            _ => &text[..],
        };
        out.push_str(body.trim());
    }
    out
}

fn cstring(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| Error::BadPath {
        path: p.to_owned(),
        reason: "contains NUL",
    })
}

impl Overlay {
    /// The mount(2) option string with every path escaped.
    ///
    /// ```no_run
    /// let o = palisade_overlay::Overlay::builder().lower("/a:1").lower("/b").build()?;
    /// assert_eq!(o.legacy_options(), "lowerdir=/a\\:1:/b");
    /// # Ok::<(), palisade_overlay::Error>(())
    /// ```
    pub fn legacy_options(&self) -> String {
        let esc = |p: &PathBuf| escape_path(p.to_str().unwrap_or_default());
        let mut layers: Vec<String> = self.lowers.iter().map(esc).collect();
        // Data-only layers follow a `::` separator.
        let mut s = format!("lowerdir={}", layers.join(":"));
        if !self.data_lowers.is_empty() {
            layers = self.data_lowers.iter().map(esc).collect();
            s.push_str("::");
            s.push_str(&layers.join("::"));
        }
        if let (Some(u), Some(w)) = (&self.upper, &self.work) {
            s.push_str(&format!(",upperdir={},workdir={}", esc(u), esc(w)));
        }
        for (k, v) in self.options.pairs() {
            s.push(',');
            s.push_str(k);
            if let Some(v) = v {
                s.push('=');
                s.push_str(v);
            }
        }
        s
    }

    /// The escaped option string as a C string, `None` past mount(2)'s page.
    pub(crate) fn legacy_cstring(&self) -> Option<CString> {
        let data = self.legacy_options();
        (data.len() <= MOUNT_DATA_MAX)
            .then(|| CString::new(data).ok())
            .flatten()
    }

    /// A detached mount (not attached anywhere yet): an `O_CLOEXEC` fd that
    /// `move_mount` can place later, e.g. inside a container's new root.
    /// Needs the new mount API.
    pub fn mount_detached(&self) -> Result<OwnedFd> {
        if self.tmpfs_upper.is_some() {
            return Err(Error::Conflict(
                "a tmpfs upper lives with a mounted guard: use mount()",
            ));
        }
        let ctx = fsopen().map_err(|errno| Error::Mount {
            op: "fsopen overlay".into(),
            errno,
            message: String::new(),
        })?;
        let fail = |op: String, errno: Errno| Error::Mount {
            op,
            errno,
            message: context_message(&ctx),
        };
        let set = |key: &std::ffi::CStr, value: &CString| -> Result<()> {
            if value.as_bytes().len() > FSCONFIG_VALUE_MAX {
                return Err(Error::BadPath {
                    path: PathBuf::from(value.to_string_lossy().into_owned()),
                    reason: "longer than 255 bytes, the most fsconfig takes per value",
                });
            }
            fsconfig_string(&ctx, key, value).map_err(|e| {
                fail(
                    format!(
                        "fsconfig {} {}",
                        key.to_string_lossy(),
                        value.to_string_lossy()
                    ),
                    e,
                )
            })
        };
        for l in &self.c_lowers {
            set(c"lowerdir+", l)?;
        }
        for d in &self.c_data_lowers {
            set(c"datadir+", d)?;
        }
        if let Some((u, w)) = &self.c_upper_work {
            set(c"upperdir", u)?;
            set(c"workdir", w)?;
        }
        for (k, v) in self.options.pairs() {
            let key = CString::new(k).expect("static key");
            // SAFETY: valid fd and C strings.
            let r = unsafe {
                match v {
                    Some(v) => {
                        let v = CString::new(v).expect("static value");
                        libc::syscall(
                            libc::SYS_fsconfig,
                            ctx.as_raw_fd(),
                            FSCONFIG_SET_STRING,
                            key.as_ptr(),
                            v.as_ptr(),
                            0,
                        )
                    }
                    None => libc::syscall(
                        libc::SYS_fsconfig,
                        ctx.as_raw_fd(),
                        FSCONFIG_SET_FLAG,
                        key.as_ptr(),
                        std::ptr::null::<libc::c_char>(),
                        0,
                    ),
                }
            };
            if r < 0 {
                return Err(fail(format!("fsconfig {k}"), Errno::last()));
            }
        }
        fsconfig_create(&ctx).map_err(|e| fail("fsconfig create".into(), e))?;
        let f = self.flags;
        let attrs = [
            (f.readonly, MOUNT_ATTR_RDONLY),
            (f.nosuid, MOUNT_ATTR_NOSUID),
            (f.nodev, MOUNT_ATTR_NODEV),
            (f.noexec, MOUNT_ATTR_NOEXEC),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |a, (_, bit)| a | bit);
        // SAFETY: fsmount on our context.
        let mfd =
            unsafe { libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
        if mfd < 0 {
            return Err(fail("fsmount".into(), Errno::last()));
        }
        // SAFETY: fresh fd.
        Ok(unsafe { OwnedFd::from_raw_fd(mfd as i32) })
    }

    /// Mounts at `target`, with the probed [`strategy`]. The returned guard
    /// unmounts on drop.
    pub fn mount(&self, target: impl AsRef<Path>) -> Result<MountedOverlay> {
        self.mount_with(target, strategy())
    }

    /// Mounts at `target` with a chosen strategy (falls back to mount(2)
    /// when a path is too long for `fsconfig` but the options fit).
    pub fn mount_with(
        &self,
        target: impl AsRef<Path>,
        strategy: Strategy,
    ) -> Result<MountedOverlay> {
        if let Some(size) = self.tmpfs_upper {
            let tmpfs = TmpfsUpper::new(size)?;
            let mut with_upper = self.clone();
            with_upper.tmpfs_upper = None;
            with_upper.upper = Some(tmpfs.upper());
            with_upper.work = Some(tmpfs.work());
            with_upper.c_upper_work = Some((cstring(&tmpfs.upper())?, cstring(&tmpfs.work())?));
            with_upper.c_legacy = with_upper.legacy_cstring();
            let mut mounted = with_upper.mount_with(target, strategy)?;
            mounted.tmpfs = Some(tmpfs);
            return Ok(mounted);
        }
        let target = target.as_ref();
        let c_target = cstring(target)?;
        let long_path = self
            .lowers
            .iter()
            .chain(&self.data_lowers)
            .chain(&self.upper)
            .chain(&self.work)
            .any(|p| p.as_os_str().len() > FSCONFIG_VALUE_MAX);
        let strategy = match strategy {
            // A path fsconfig cannot take may still fit mount(2)'s page.
            Strategy::NewApi if long_path => Strategy::Legacy,
            s => s,
        };
        match strategy {
            Strategy::NewApi => {
                let mfd = self.mount_detached()?;
                move_mount(mfd.as_fd(), target).map_err(|e| target_error(e, target))?;
            }
            Strategy::Legacy => {
                let Some(c_data) = &self.c_legacy else {
                    return Err(Error::OptionsTooLong {
                        len: self.legacy_options().len(),
                    });
                };
                let f = self.flags;
                let flags = [
                    (f.readonly, libc::MS_RDONLY),
                    (f.nosuid, libc::MS_NOSUID),
                    (f.nodev, libc::MS_NODEV),
                    (f.noexec, libc::MS_NOEXEC),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .fold(0, |a, (_, bit)| a | bit);
                // SAFETY: valid C strings.
                let r = unsafe {
                    libc::mount(
                        c"overlay".as_ptr(),
                        c_target.as_ptr(),
                        c"overlay".as_ptr(),
                        flags,
                        c_data.as_ptr().cast(),
                    )
                };
                if r != 0 {
                    let err = Error::Mount {
                        op: format!("mount overlay on {}", target.display()),
                        errno: Errno::last(),
                        message: String::new(),
                    };
                    return Err(target_error(err, target));
                }
            }
        }
        Ok(MountedOverlay {
            target: Some(target.to_owned()),
            tmpfs: None,
        })
    }
}

/// A missing or non-directory mount point is a `BadDirectory` of role
/// `target` (the kernel checks it; no extra stat before the mount).
fn target_error(e: Error, target: &Path) -> Error {
    match e.errno() {
        Some(errno @ (Errno::ENOENT | Errno::ENOTDIR)) => Error::BadDirectory {
            role: "target",
            path: target.to_owned(),
            errno,
        },
        _ => e,
    }
}

/// Attaches a detached mount at `target` (`move_mount`).
pub fn move_mount(mount: std::os::fd::BorrowedFd<'_>, target: &Path) -> Result<()> {
    let c_target = cstring(target)?;
    // SAFETY: valid fds and C strings.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mount.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            c_target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(Error::Mount {
            op: format!("move_mount to {}", target.display()),
            errno: Errno::last(),
            message: String::new(),
        });
    }
    Ok(())
}

/// A mounted overlay; unmounts on drop (lazily if busy).
///
/// ```no_run
/// # let overlay = palisade_overlay::Overlay::builder().lower("/a").lower("/b").build()?;
/// let mounted = overlay.mount("/mnt/merged")?;
/// mounted.unmount()?; // or drop it, or `detach()` to keep it mounted
/// # Ok::<(), palisade_overlay::Error>(())
/// ```
#[derive(Debug)]
pub struct MountedOverlay {
    target: Option<PathBuf>,
    /// The private tmpfs of a size-limited upper, removed after the overlay.
    tmpfs: Option<TmpfsUpper>,
}

/// A private, size-limited tmpfs holding an overlay's upper and work.
#[derive(Debug)]
struct TmpfsUpper {
    dir: PathBuf,
}

impl TmpfsUpper {
    fn new(size: u64) -> Result<TmpfsUpper> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "palisade-upper-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| Error::BadDirectory {
            role: "upper",
            path: dir.clone(),
            errno: crate::error::io_errno(&e),
        })?;
        let c_dir = cstring(&dir)?;
        let data = CString::new(format!("size={size},mode=755")).expect("no NUL");
        // SAFETY: valid C strings.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                c_dir.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                data.as_ptr().cast(),
            )
        };
        if r != 0 {
            let errno = Errno::last();
            let _ = std::fs::remove_dir(&dir);
            return Err(Error::Mount {
                op: format!("mount tmpfs upper on {}", dir.display()),
                errno,
                message: String::new(),
            });
        }
        let t = TmpfsUpper { dir };
        for sub in ["upper", "work"] {
            std::fs::create_dir(t.dir.join(sub)).map_err(|e| Error::BadDirectory {
                role: "upper",
                path: t.dir.join(sub),
                errno: crate::error::io_errno(&e),
            })?;
        }
        Ok(t)
    }

    fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
}

impl Drop for TmpfsUpper {
    fn drop(&mut self) {
        if umount(&self.dir, 0).is_err() {
            let _ = umount(&self.dir, libc::MNT_DETACH);
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

impl MountedOverlay {
    /// Where it is mounted.
    pub fn target(&self) -> &Path {
        self.target.as_deref().expect("present until consumed")
    }

    /// Keeps it mounted (and its tmpfs upper, if any); returns the mount
    /// point.
    pub fn detach(mut self) -> PathBuf {
        std::mem::forget(self.tmpfs.take());
        self.target.take().expect("present until consumed")
    }

    /// Unmounts now, returning the error (EBUSY if in use).
    pub fn unmount(mut self) -> Result<()> {
        let target = self.target.take().expect("present until consumed");
        umount(&target, 0)
    }
}

fn umount(target: &Path, flags: libc::c_int) -> Result<()> {
    let c = cstring(target)?;
    // SAFETY: valid C string.
    if unsafe { libc::umount2(c.as_ptr(), flags) } != 0 {
        return Err(Error::Mount {
            op: format!("umount {}", target.display()),
            errno: Errno::last(),
            message: String::new(),
        });
    }
    Ok(())
}

impl Drop for MountedOverlay {
    fn drop(&mut self) {
        if let Some(t) = self.target.take() {
            if umount(&t, 0).is_err() {
                let _ = umount(&t, libc::MNT_DETACH);
            }
        }
    }
}
