//! An overlay root filesystem, mounted on the host only for the duration
//! of the spawn: the container's mount namespace keeps its own copy.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use palisade_overlay::{MountedOverlay, Overlay};

use crate::{SpawnError, Step};

/// Where merged directories are made.
const RUN_DIR: &str = "/run/palisade";

/// The overlay mounted on the host.
#[derive(Debug)]
pub(crate) struct MountedRootfs {
    mount: Option<MountedOverlay>,
    path: PathBuf,
}

impl MountedRootfs {
    pub(crate) fn overlay(
        lowers: &[PathBuf],
        upper: &Path,
        work: &Path,
    ) -> Result<MountedRootfs, SpawnError> {
        let overlay = Overlay::builder()
            .lowers(lowers.iter().cloned())
            .upper(upper)
            .work(work)
            .build()
            .map_err(|e| {
                let errno = e.errno();
                SpawnError::from_lib(Step::Overlay, e, errno)
            })?;
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = Path::new(RUN_DIR).join(format!(
            "rootfs-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).map_err(|e| {
            SpawnError::new(
                Step::Overlay,
                e.raw_os_error().map(nix::errno::Errno::from_raw),
                format!("mkdir {}", path.display()),
            )
        })?;
        match overlay.mount(&path) {
            Ok(mount) => Ok(MountedRootfs {
                mount: Some(mount),
                path,
            }),
            Err(e) => {
                let _ = std::fs::remove_dir(&path);
                let errno = e.errno();
                Err(SpawnError::from_lib(Step::Overlay, e, errno))
            }
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the mount (a detached created container still needs it) and
    /// returns its path; whoever holds the path removes it.
    pub(crate) fn leak(mut self) -> PathBuf {
        if let Some(m) = self.mount.take() {
            std::mem::forget(m);
        }
        let path = std::mem::take(&mut self.path);
        std::mem::forget(self);
        path
    }

    /// Unmounts on the host (lazily if busy) and removes the directory.
    pub(crate) fn unmount(mut self) -> Result<(), palisade_overlay::Error> {
        let result = match self.mount.take() {
            Some(m) => m.unmount(),
            None => Ok(()),
        };
        if result.is_err() {
            // Busy (a concurrent spawn's half-made mount namespace still
            // shares it): detach it lazily; the kernel frees it when unused.
            let _ = nix::mount::umount2(&self.path, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir(&self.path);
        result
    }
}

impl Drop for MountedRootfs {
    fn drop(&mut self) {
        drop(self.mount.take());
        let _ = std::fs::remove_dir(&self.path);
    }
}
