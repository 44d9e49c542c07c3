//! An overlay root filesystem mounted on the host for the duration of the
//! spawn.

use std::path::{Path, PathBuf};

use crate::{SpawnError, Step};

/// The overlay mounted on the host; the container keeps its own copy.
#[derive(Debug)]
pub(crate) struct MountedRootfs {
    path: PathBuf,
}

impl MountedRootfs {
    pub(crate) fn overlay(
        _lowers: &[PathBuf],
        upper: &Path,
        _work: &Path,
    ) -> Result<MountedRootfs, SpawnError> {
        Err(SpawnError::new(
            Step::Overlay,
            None,
            format!("overlay on {} not available yet", upper.display()),
        ))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn unmount(self) -> Result<(), SpawnError> {
        Ok(())
    }
}
