//! Mounting: new mount API with one `lowerdir+` per layer, or one escaped
//! `lowerdir=` list, else mount(2) with escaped paths; a guard that
//! unmounts on drop.
//!
//! Escaping follows the kernel (fs/overlayfs/params.c): `upperdir`,
//! `workdir` and `lowerdir` values are unescaped (`\x` is `x`) whichever
//! way they arrive, `lowerdir` is split on unescaped `:`, mount(2)'s string
//! on unescaped `,`; `lowerdir+` and `datadir+` are taken verbatim.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::errno::Errno;

use std::os::unix::ffi::OsStrExt;

use crate::builder::KernelValues;
use crate::options::{LOWERDIR_SPECIALS, MOUNT_DATA_SPECIALS, UPPER_SPECIALS, escape_bytes};
use crate::{Error, Options, Overlay, Result};

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
    /// `fsopen`/`fsconfig` with one `lowerdir+` per layer (Linux 6.8),
    /// taken as they are: no length limit but 255 bytes per path.
    NewApi,
    /// `fsopen`/`fsconfig` with one `lowerdir=` value: the layers escaped
    /// (`\` and `:`) and joined with `:`, at most 255 bytes (Linux 5.2;
    /// before 6.5 no value may hold a `,`).
    NewApiLowerdir,
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

impl KernelValues {
    pub(crate) fn new(
        lowers: &[PathBuf],
        data_lowers: &[PathBuf],
        upper_work: Option<(&Path, &Path)>,
        options: &Options,
    ) -> KernelValues {
        let raw = |p: &PathBuf| c_bytes(bytes(p).to_vec());
        let esc = |p: &Path, specials| c_bytes(escape_bytes(bytes(p), specials));
        KernelValues {
            lowers: lowers.iter().map(raw).collect(),
            data_lowers: data_lowers.iter().map(raw).collect(),
            upper_work: upper_work.map(|(u, w)| (esc(u, UPPER_SPECIALS), esc(w, UPPER_SPECIALS))),
            lowerdir: c_bytes(lowerdir_value(lowers, data_lowers, LOWERDIR_SPECIALS)),
            legacy: {
                let data = legacy_data(lowers, data_lowers, upper_work, options);
                (data.len() <= MOUNT_DATA_MAX).then(|| c_bytes(data))
            },
        }
    }
}

fn bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

/// A C string of bytes the builder checked for NUL; a NUL that slipped
/// through ends the string early rather than panicking.
fn c_bytes(mut v: Vec<u8>) -> CString {
    if let Some(nul) = memchr::memchr(0, &v) {
        v.truncate(nul);
    }
    CString::new(v).unwrap_or_default()
}

/// The layer list of a `lowerdir=` value: escaped layers joined with `:`,
/// data-only layers after `::`.
fn lowerdir_value(lowers: &[PathBuf], data_lowers: &[PathBuf], specials: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, l) in lowers.iter().enumerate() {
        if i > 0 {
            v.push(b':');
        }
        v.extend(escape_bytes(bytes(l), specials));
    }
    for d in data_lowers {
        v.extend_from_slice(b"::");
        v.extend(escape_bytes(bytes(d), specials));
    }
    v
}

/// mount(2)'s option string: every path escaped for `,` too.
fn legacy_data(
    lowers: &[PathBuf],
    data_lowers: &[PathBuf],
    upper_work: Option<(&Path, &Path)>,
    options: &Options,
) -> Vec<u8> {
    let mut s = b"lowerdir=".to_vec();
    s.extend(lowerdir_value(lowers, data_lowers, MOUNT_DATA_SPECIALS));
    if let Some((u, w)) = upper_work {
        s.extend_from_slice(b",upperdir=");
        s.extend(escape_bytes(bytes(u), MOUNT_DATA_SPECIALS));
        s.extend_from_slice(b",workdir=");
        s.extend(escape_bytes(bytes(w), MOUNT_DATA_SPECIALS));
    }
    for (k, v) in options.pairs() {
        s.push(b',');
        s.extend_from_slice(k.as_bytes());
        if let Some(v) = v {
            s.push(b'=');
            s.extend_from_slice(v.as_bytes());
        }
    }
    s
}

/// Why a layer cannot go through `fsconfig` as one value, if it cannot.
fn fsconfig_refusal(value: &CString) -> Option<&'static str> {
    (value.as_bytes().len() > FSCONFIG_VALUE_MAX)
        .then_some("longer than 255 bytes once escaped, the most fsconfig takes per value")
}

impl Overlay {
    /// The mount(2) option string with every path escaped (bytes that are
    /// not UTF-8 are shown as U+FFFD here; the mount passes them as they
    /// are).
    ///
    /// ```no_run
    /// let o = palisade_overlay::Overlay::builder().lower("/a:1").lower("/b").build()?;
    /// assert_eq!(o.legacy_options(), "lowerdir=/a\\:1:/b");
    /// # Ok::<(), palisade_overlay::Error>(())
    /// ```
    pub fn legacy_options(&self) -> String {
        let data = legacy_data(
            &self.lowers,
            &self.data_lowers,
            self.upper.as_deref().zip(self.work.as_deref()),
            &self.options,
        );
        String::from_utf8_lossy(&data).into_owned()
    }

    fn legacy_len(&self) -> usize {
        legacy_data(
            &self.lowers,
            &self.data_lowers,
            self.upper.as_deref().zip(self.work.as_deref()),
            &self.options,
        )
        .len()
    }

    /// A detached mount (not attached anywhere yet): an `O_CLOEXEC` fd that
    /// `move_mount` can place later, e.g. inside a container's new root.
    /// Needs the new mount API; layers go as one `lowerdir+` each where the
    /// kernel has it (Linux 6.8), else as one escaped `lowerdir=` list.
    ///
    /// Errors: [`Error::BadPath`] naming a path that `fsconfig` cannot
    /// take (over 255 bytes once escaped; a `,` before Linux 6.5),
    /// [`Error::Mount`] with the kernel's errno and message.
    pub fn mount_detached(&self) -> Result<OwnedFd> {
        let how = match strategy() {
            Strategy::NewApi => Strategy::NewApi,
            _ => Strategy::NewApiLowerdir,
        };
        self.prepare_work()?;
        self.mount_detached_with(how)
            .map_err(|e| self.volatile_refusal(e))
    }

    /// `<work>/work/incompat/volatile`, the kernel's mark of an upper last
    /// mounted with `volatile`.
    fn volatile_marker(&self) -> Option<PathBuf> {
        let work = self.work.as_ref()?;
        Some(work.join("work").join("incompat").join("volatile"))
    }

    /// Removes the volatile marker when the builder was told to: the
    /// marker directory and its `dirty` file, then `incompat` if empty.
    fn prepare_work(&self) -> Result<()> {
        let Some(marker) = self
            .volatile_marker()
            .filter(|_| self.remove_volatile_marker)
        else {
            return Ok(());
        };
        let gone = |r: std::io::Result<()>, path: &Path| match r {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
                path: path.to_owned(),
                errno: crate::error::io_errno(&e),
            }),
            _ => Ok(()),
        };
        gone(std::fs::remove_dir_all(&marker), &marker)?;
        if let Some(incompat) = marker.parent() {
            // Another incompat feature keeps the directory (and the kernel
            // refuses it by name).
            let _ = std::fs::remove_dir(incompat);
        }
        Ok(())
    }

    /// An `EINVAL` from a pair whose volatile marker is still there is the
    /// kernel refusing that marker: say so.
    fn volatile_refusal(&self, e: Error) -> Error {
        match self.volatile_marker() {
            Some(path) if e.errno() == Some(Errno::EINVAL) && path.exists() => {
                Error::VolatileMarker { path }
            }
            _ => e,
        }
    }

    /// The path (and why) that keeps `how` from taking this overlay
    /// through `fsconfig`, if one does.
    fn fsconfig_blocker(&self, how: Strategy) -> Option<(PathBuf, &'static str)> {
        let v = &self.values;
        if let Some((u, w)) = &v.upper_work {
            for (c, p) in [(u, &self.upper), (w, &self.work)] {
                if let (Some(why), Some(p)) = (fsconfig_refusal(c), p) {
                    return Some((p.clone(), why));
                }
            }
        }
        if how == Strategy::NewApi {
            let layers = v.lowers.iter().chain(&v.data_lowers);
            let paths = self.lowers.iter().chain(&self.data_lowers);
            return layers
                .zip(paths)
                .find_map(|(c, p)| fsconfig_refusal(c).map(|why| (p.clone(), why)));
        }
        if fsconfig_refusal(&v.lowerdir).is_some() {
            let list = PathBuf::from(std::ffi::OsStr::from_bytes(v.lowerdir.as_bytes()));
            return Some((
                list,
                "the lowerdir list is longer than 255 bytes, the most fsconfig takes per value",
            ));
        }
        // Before Linux 6.5 (no `lowerdir+` either) overlay had no
        // fs_context of its own: the VFS joins fsconfig values with `,`
        // and refuses any value holding one, escaped or not.
        if strategy() != Strategy::NewApi {
            let all = self.lowers.iter().chain(&self.data_lowers);
            if let Some(p) = all
                .chain(&self.upper)
                .chain(&self.work)
                .find(|p| bytes(p).contains(&b','))
            {
                return Some((
                    p.clone(),
                    "holds a ',', which fsconfig refuses before Linux 6.5",
                ));
            }
        }
        None
    }

    fn mount_detached_with(&self, how: Strategy) -> Result<OwnedFd> {
        if self.tmpfs_upper.is_some() {
            return Err(Error::Conflict(
                "a tmpfs upper lives with a mounted guard: use mount()",
            ));
        }
        if let Some((path, reason)) = self.fsconfig_blocker(how) {
            return Err(Error::BadPath { path, reason });
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
        let set = |key: &std::ffi::CStr, value: &CString, shown: &Path| -> Result<()> {
            fsconfig_string(&ctx, key, value).map_err(|e| {
                fail(
                    format!("fsconfig {} {}", key.to_string_lossy(), shown.display()),
                    e,
                )
            })
        };
        let v = &self.values;
        if how == Strategy::NewApi {
            for (c, p) in v.lowers.iter().zip(&self.lowers) {
                set(c"lowerdir+", c, p)?;
            }
            for (c, p) in v.data_lowers.iter().zip(&self.data_lowers) {
                set(c"datadir+", c, p)?;
            }
        } else {
            let shown = PathBuf::from(std::ffi::OsStr::from_bytes(v.lowerdir.as_bytes()));
            set(c"lowerdir", &v.lowerdir, &shown)?;
        }
        if let (Some((u, w)), Some(up), Some(wk)) = (&v.upper_work, &self.upper, &self.work) {
            set(c"upperdir", u, up)?;
            set(c"workdir", w, wk)?;
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

    /// Mounts at `target` with a chosen strategy. Every layer path reaches
    /// the kernel as given, whatever bytes it holds (each interface gets
    /// the escaping the kernel undoes); where `fsconfig` cannot take a
    /// value (over 255 bytes once escaped, a `,` before Linux 6.5) the
    /// mount goes through mount(2), when its options fit a page.
    ///
    /// Errors: [`Error::OptionsTooLong`] when mount(2) is needed and its
    /// options pass 4095 bytes; [`Error::Mount`] with the kernel's errno;
    /// [`Error::BadDirectory`] of role `target` for a missing mount point.
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
            with_upper.values = KernelValues::new(
                &with_upper.lowers,
                &with_upper.data_lowers,
                with_upper.upper.as_deref().zip(with_upper.work.as_deref()),
                &with_upper.options,
            );
            let mut mounted = with_upper.mount_with(target, strategy)?;
            mounted.tmpfs = Some(tmpfs);
            return Ok(mounted);
        }
        let target = target.as_ref();
        let c_target = cstring(target)?;
        let strategy = match strategy {
            // What fsconfig cannot take may still fit mount(2)'s page.
            s @ (Strategy::NewApi | Strategy::NewApiLowerdir)
                if self.fsconfig_blocker(s).is_some() =>
            {
                Strategy::Legacy
            }
            s => s,
        };
        self.prepare_work()?;
        self.mount_strategy(target, &c_target, strategy)
            .map_err(|e| self.volatile_refusal(e))
    }

    fn mount_strategy(
        &self,
        target: &Path,
        c_target: &CString,
        strategy: Strategy,
    ) -> Result<MountedOverlay> {
        match strategy {
            Strategy::NewApi | Strategy::NewApiLowerdir => {
                let mfd = self.mount_detached_with(strategy)?;
                move_mount(mfd.as_fd(), target).map_err(|e| target_error(e, target))?;
            }
            Strategy::Legacy => {
                let Some(c_data) = &self.values.legacy else {
                    return Err(Error::OptionsTooLong {
                        len: self.legacy_len(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_interface_gets_the_escaping_the_kernel_undoes() {
        let lowers = [PathBuf::from("/l\\1:,"), PathBuf::from("/l2")];
        let data = [PathBuf::from("/d:1")];
        let (u, w) = (Path::new("/u\\,:"), Path::new("/w"));
        let opts = Options {
            volatile: true,
            ..Options::default()
        };
        let v = KernelValues::new(&lowers, &data, Some((u, w)), &opts);
        // lowerdir+ / datadir+: verbatim.
        assert_eq!(v.lowers[0].as_bytes(), b"/l\\1:,");
        assert_eq!(v.data_lowers[0].as_bytes(), b"/d:1");
        // upperdir / workdir through fsconfig: only the backslash.
        let (cu, cw) = v.upper_work.unwrap();
        assert_eq!(cu.as_bytes(), b"/u\\\\,:");
        assert_eq!(cw.as_bytes(), b"/w");
        // lowerdir through fsconfig: backslash and colon, `::` before data.
        assert_eq!(v.lowerdir.as_bytes(), b"/l\\\\1\\:,:/l2::/d\\:1");
        // mount(2): backslash, colon and comma.
        assert_eq!(
            v.legacy.unwrap().as_bytes(),
            &b"lowerdir=/l\\\\1\\:\\,:/l2::/d\\:1,upperdir=/u\\\\\\,\\:,workdir=/w,volatile"[..]
        );
    }

    #[test]
    fn non_utf8_bytes_pass_unchanged() {
        use std::os::unix::ffi::OsStrExt;
        let odd = PathBuf::from(std::ffi::OsStr::from_bytes(b"/x\xff\n y"));
        let v = KernelValues::new(
            std::slice::from_ref(&odd),
            &[],
            Some((&odd, &odd)),
            &Options::default(),
        );
        assert_eq!(v.lowers[0].as_bytes(), b"/x\xff\n y");
        assert_eq!(v.upper_work.unwrap().0.as_bytes(), b"/x\xff\n y");
        assert_eq!(
            v.legacy.unwrap().as_bytes(),
            &b"lowerdir=/x\xff\n y,upperdir=/x\xff\n y,workdir=/x\xff\n y"[..]
        );
    }
}
