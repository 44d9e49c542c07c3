//! The overlay builder and its validation.

use std::collections::HashSet;
use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::error::io_errno;
use crate::{Error, Options, Result};

/// The kernel's limit of stacked lower layers.
pub const MAX_LOWERS: usize = 500;

/// Mount flags of the overlay mount itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MountFlags {
    /// Read-only.
    pub readonly: bool,
    /// Ignore setuid bits.
    pub nosuid: bool,
    /// No device files.
    pub nodev: bool,
    /// No execution.
    pub noexec: bool,
}

/// Builder of an OverlayFS mount: lowers top to bottom, optional data-only
/// lowers, upper and work, options and flags.
///
/// ```no_run
/// use palisade_overlay::Overlay;
/// let overlay = Overlay::builder()
///     .lower("/img/layer2")
///     .lower("/img/layer1")
///     .upper("/ctr/upper")
///     .work("/ctr/work")
///     .build()?;
/// let mounted = overlay.mount("/ctr/merged")?; // unmounted on drop
/// # Ok::<(), palisade_overlay::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct OverlayBuilder {
    lowers: Vec<PathBuf>,
    data_lowers: Vec<PathBuf>,
    upper: Option<PathBuf>,
    work: Option<PathBuf>,
    tmpfs_upper: Option<u64>,
    options: Options,
    flags: MountFlags,
    remove_volatile_marker: bool,
}

/// A validated overlay description, ready to mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    pub(crate) lowers: Vec<PathBuf>,
    pub(crate) data_lowers: Vec<PathBuf>,
    pub(crate) upper: Option<PathBuf>,
    pub(crate) work: Option<PathBuf>,
    /// Size of a private tmpfs holding upper and work, made at mount time.
    pub(crate) tmpfs_upper: Option<u64>,
    pub(crate) options: Options,
    pub(crate) flags: MountFlags,
    /// Remove the kernel's `work/incompat/volatile` marker before mounting.
    pub(crate) remove_volatile_marker: bool,
    /// Every value handed to the kernel, made once at build time so a
    /// mount only makes syscalls; see [`KernelValues`].
    pub(crate) values: KernelValues,
}

/// The layer paths as each mount interface wants them. The kernel unescapes
/// `upperdir`, `workdir` and `lowerdir` values (through `fsconfig` and in
/// mount(2)'s option string alike) but takes `lowerdir+` and `datadir+`
/// values as they are; mount(2) also splits options on `,`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KernelValues {
    /// One raw path per `lowerdir+`.
    pub(crate) lowers: Vec<CString>,
    /// One raw path per `datadir+`.
    pub(crate) data_lowers: Vec<CString>,
    /// `upperdir` and `workdir` for `fsconfig`, backslashes escaped.
    pub(crate) upper_work: Option<(CString, CString)>,
    /// The `lowerdir` value for `fsconfig`: escaped, joined with `:` (and
    /// `::` before data-only layers).
    pub(crate) lowerdir: CString,
    /// The mount(2) option string, when it fits a page.
    pub(crate) legacy: Option<CString>,
}

impl Overlay {
    /// A new builder.
    pub fn builder() -> OverlayBuilder {
        OverlayBuilder::default()
    }

    /// Lower layers, top first.
    pub fn lowers(&self) -> &[PathBuf] {
        &self.lowers
    }

    /// The upper directory, if writable.
    pub fn upper(&self) -> Option<&Path> {
        self.upper.as_deref()
    }
}

impl OverlayBuilder {
    /// Adds a lower layer below those already added (top first).
    pub fn lower(mut self, dir: impl Into<PathBuf>) -> Self {
        self.lowers.push(dir.into());
        self
    }

    /// Adds several lower layers, top first.
    pub fn lowers<I, P>(mut self, dirs: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.lowers.extend(dirs.into_iter().map(Into::into));
        self
    }

    /// Adds a data-only lower layer (Linux 6.5; metacopy redirects only).
    pub fn data_lower(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_lowers.push(dir.into());
        self
    }

    /// The writable layer.
    pub fn upper(mut self, dir: impl Into<PathBuf>) -> Self {
        self.upper = Some(dir.into());
        self
    }

    /// The work directory: on the upper's filesystem, and empty or holding
    /// only what the kernel left there when this upper was last mounted
    /// (its `work` and `index` directories), so a stopped container can be
    /// mounted again with its changes. Anything else in it is refused
    /// ([`Error::WorkNotEmpty`]).
    ///
    /// ```no_run
    /// use palisade_overlay::Overlay;
    /// let o = Overlay::builder().lower("/img").upper("/ctr/upper").work("/ctr/work").build()?;
    /// drop(o.mount("/ctr/merged")?); // the container ran and stopped
    /// let again = Overlay::builder().lower("/img").upper("/ctr/upper").work("/ctr/work").build()?;
    /// let _restarted = again.mount("/ctr/merged")?; // same upper, same changes
    /// # Ok::<(), palisade_overlay::Error>(())
    /// ```
    pub fn work(mut self, dir: impl Into<PathBuf>) -> Self {
        self.work = Some(dir.into());
        self
    }

    /// A writable layer of at most `size_bytes` on a private tmpfs made at
    /// mount time (instead of `upper`/`work`); it goes away with the
    /// mounted guard. Writing past the size fails with ENOSPC.
    ///
    /// ```no_run
    /// let o = palisade_overlay::Overlay::builder().lower("/img").tmpfs_upper(64 << 20).build()?;
    /// let _mounted = o.mount("/ctr/merged")?;
    /// # Ok::<(), palisade_overlay::Error>(())
    /// ```
    pub fn tmpfs_upper(mut self, size_bytes: u64) -> Self {
        self.tmpfs_upper = Some(size_bytes);
        self
    }

    /// Mounts an upper last mounted with `volatile` again. The kernel
    /// leaves `<work>/work/incompat/volatile` after a `volatile` mount and
    /// refuses the pair until it is removed, because after a crash such an
    /// upper may have lost writes. Call this only when the machine has not
    /// crashed since that mount was unmounted: the marker is then removed
    /// right before each mount (`Documentation/filesystems/overlayfs.rst`,
    /// "Volatile mount"). Without it, [`build`](Self::build) refuses the
    /// pair with [`Error::VolatileMarker`].
    ///
    /// ```no_run
    /// use palisade_overlay::{Options, Overlay};
    /// let volatile = Options { volatile: true, ..Options::default() };
    /// let o = Overlay::builder()
    ///     .lower("/img")
    ///     .upper("/ctr/upper")
    ///     .work("/ctr/work")
    ///     .options(volatile)
    ///     .remove_volatile_marker() // the host did not crash since the last stop
    ///     .build()?;
    /// let _mounted = o.mount("/ctr/merged")?;
    /// # Ok::<(), palisade_overlay::Error>(())
    /// ```
    pub fn remove_volatile_marker(mut self) -> Self {
        self.remove_volatile_marker = true;
        self
    }

    /// Options.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Mount flags.
    pub fn flags(mut self, flags: MountFlags) -> Self {
        self.flags = flags;
        self
    }

    /// Checks the kernel's rules before any syscall; see [`Error`] for each.
    pub fn build(self) -> Result<Overlay> {
        if self.tmpfs_upper.is_some() && (self.upper.is_some() || self.work.is_some()) {
            return Err(Error::Conflict(
                "tmpfs_upper replaces upper and work; give one or the other",
            ));
        }
        if self.tmpfs_upper == Some(0) {
            return Err(Error::Conflict("tmpfs_upper needs a size above 0"));
        }
        let has_upper = match (&self.upper, &self.work) {
            (Some(_), Some(_)) => true,
            (None, None) => self.tmpfs_upper.is_some(),
            (Some(_), None) => return Err(Error::UpperWithoutWork { given: "upper" }),
            (None, Some(_)) => return Err(Error::UpperWithoutWork { given: "work" }),
        };
        let count = self.lowers.len();
        if count == 0 || (!has_upper && count < 2) {
            return Err(Error::TooFewLowers { count });
        }
        if count + self.data_lowers.len() > MAX_LOWERS {
            return Err(Error::TooManyLowers {
                count: count + self.data_lowers.len(),
                max: MAX_LOWERS,
            });
        }
        let mut seen = HashSet::new();
        for l in self.lowers.iter().chain(&self.data_lowers) {
            if !seen.insert(l) {
                return Err(Error::DuplicateLower { path: l.clone() });
            }
            check_path(l)?;
            dir_meta("lower", l)?;
        }
        let o = &self.options;
        if o.metacopy == Some(true) {
            if matches!(
                o.redirect_dir,
                Some(crate::RedirectDir::Off | crate::RedirectDir::NoFollow)
            ) {
                return Err(Error::Conflict(
                    "metacopy=on needs redirect_dir=on or follow",
                ));
            }
            if o.userxattr {
                return Err(Error::Conflict("userxattr excludes metacopy=on"));
            }
            if o.nfs_export == Some(true) {
                return Err(Error::Conflict("nfs_export=on excludes metacopy=on"));
            }
        }
        if !self.data_lowers.is_empty() && o.metacopy != Some(true) {
            return Err(Error::Conflict("data-only lower layers need metacopy=on"));
        }
        if !has_upper && (o.volatile || o.index == Some(true)) {
            return Err(Error::Conflict("volatile and index=on need an upper layer"));
        }
        if let (Some(upper), Some(work)) = (&self.upper, &self.work) {
            check_path(upper)?;
            check_path(work)?;
            let up = dir_meta("upper", upper)?;
            let wk = dir_meta("work", work)?;
            if up.dev() != wk.dev() {
                return Err(Error::CrossDevice {
                    upper: upper.clone(),
                    work: work.clone(),
                });
            }
            check_work(work, self.remove_volatile_marker)?;
        }
        let values = KernelValues::new(
            &self.lowers,
            &self.data_lowers,
            self.upper.as_deref().zip(self.work.as_deref()),
            &self.options,
        );
        Ok(Overlay {
            lowers: self.lowers,
            data_lowers: self.data_lowers,
            upper: self.upper,
            work: self.work,
            tmpfs_upper: self.tmpfs_upper,
            options: self.options,
            flags: self.flags,
            remove_volatile_marker: self.remove_volatile_marker,
            values,
        })
    }
}

/// The work directory holds nothing but what overlayfs itself leaves there
/// on unmount: `work` (its scratch directory, emptied by the next mount) and
/// `index`; inside `work`, an `incompat/volatile` marker only when the
/// caller asked for it to be removed.
fn check_work(work: &Path, remove_volatile_marker: bool) -> Result<()> {
    let read = |dir: &Path| -> Result<Vec<(std::ffi::OsString, std::fs::FileType)>> {
        let entries = std::fs::read_dir(dir).map_err(|e| Error::BadDirectory {
            role: "work",
            path: dir.to_owned(),
            errno: io_errno(&e),
        })?;
        entries
            .map(|e| {
                let e = e.map_err(|e| Error::Io {
                    path: dir.to_owned(),
                    errno: io_errno(&e),
                })?;
                let ft = e.file_type().map_err(|err| Error::Io {
                    path: e.path(),
                    errno: io_errno(&err),
                })?;
                Ok((e.file_name(), ft))
            })
            .collect()
    };
    let foreign = |found: PathBuf| Error::WorkNotEmpty {
        path: work.to_owned(),
        found,
    };
    for (name, ft) in read(work)? {
        if !ft.is_dir() || (name != "work" && name != "index") {
            return Err(foreign(work.join(name)));
        }
    }
    let incompat = work.join("work").join("incompat");
    if !incompat.is_dir() {
        return Ok(());
    }
    for (name, _) in read(&incompat)? {
        let path = incompat.join(&name);
        if name != "volatile" {
            return Err(foreign(path));
        }
        if !remove_volatile_marker {
            return Err(Error::VolatileMarker { path });
        }
    }
    Ok(())
}

fn check_path(p: &Path) -> Result<()> {
    if p.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(Error::BadPath {
            path: p.to_owned(),
            reason: "contains NUL",
        });
    }
    Ok(())
}

fn dir_meta(role: &'static str, p: &Path) -> Result<std::fs::Metadata> {
    let meta = std::fs::metadata(p).map_err(|e| Error::BadDirectory {
        role,
        path: p.to_owned(),
        errno: io_errno(&e),
    })?;
    if !meta.is_dir() {
        return Err(Error::BadDirectory {
            role,
            path: p.to_owned(),
            errno: Errno::ENOTDIR,
        });
    }
    Ok(meta)
}
