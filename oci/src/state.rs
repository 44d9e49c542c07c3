//! The runtime's state: one directory per container under `--root`,
//! `state.json` written atomically (temp file + `rename`), every command
//! holding an exclusive `flock` on the directory while it works.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What `create` stores about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    /// Container id.
    pub id: String,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute root path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
    /// `annotations` of the config.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// palisade's handle.
    pub palisade: palisade::ContainerState,
    /// Hooks run by `start` and `delete`.
    #[serde(default)]
    pub hooks: crate::bundle::PostHooks,
}

/// Errors of the state store, naming the container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No directory for this id.
    #[error("container {0} does not exist")]
    NotFound(String),
    /// `create` of an id in use.
    #[error("container {0} already exists")]
    Exists(String),
    /// An id runc would refuse.
    #[error("invalid container id {0:?}: use letters, digits, '_', '+', '-', '.' (not only dots)")]
    BadId(String),
    /// I/O on the state directory.
    #[error("{path}: {err}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        err: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |err| Error::Io {
        path: path.to_owned(),
        err,
    }
}

/// Checks an id as runc does (`^[\w+-\.]+$`, not `.` or `..`).
pub fn check_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadId(id.to_owned()))
    }
}

/// A locked container directory.
#[derive(Debug)]
pub struct Locked {
    dir: PathBuf,
    id: String,
    _lock: File,
}

fn lock(dir: &Path) -> Result<File, Error> {
    let f = File::open(dir).map_err(io(dir))?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(Error::Io {
            path: dir.to_owned(),
            err: std::io::Error::last_os_error(),
        });
    }
    Ok(f)
}

impl Locked {
    /// Makes and locks the directory of a new container.
    pub fn create(root: &Path, id: &str) -> Result<Locked, Error> {
        check_id(id)?;
        std::fs::create_dir_all(root).map_err(io(root))?;
        let dir = root.join(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.to_owned()));
            }
            Err(e) => return Err(io(&dir)(e)),
        }
        let lock = lock(&dir)?;
        Ok(Locked {
            dir,
            id: id.to_owned(),
            _lock: lock,
        })
    }

    /// Locks the directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<Locked, Error> {
        check_id(id)?;
        let dir = root.join(id);
        let lock = match File::open(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_owned()));
            }
            _ => lock(&dir)?,
        };
        // Deleted while we waited for the lock.
        if !dir.join("state.json").exists() {
            return Err(Error::NotFound(id.to_owned()));
        }
        Ok(Locked {
            dir,
            id: id.to_owned(),
            _lock: lock,
        })
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Reads `state.json`.
    pub fn load(&self) -> Result<Stored, Error> {
        let path = self.dir.join("state.json");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        serde_json::from_str(&text).map_err(|e| Error::Io {
            path,
            err: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// Writes `state.json` atomically.
    pub fn save(&self, s: &Stored) -> Result<(), Error> {
        let text = serde_json::to_vec(s).expect("state serialises");
        write_atomic(&self.dir.join("state.json"), &text)
    }

    /// Removes the directory (still locked: waiters see no `state.json`).
    pub fn remove(self) -> Result<(), Error> {
        let _ = std::fs::remove_file(self.dir.join("state.json"));
        std::fs::remove_dir_all(&self.dir).map_err(io(&self.dir))
    }
}

/// Writes `path` through a temp file in the same directory and `rename`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Ids of every container under `root`.
pub fn list(root: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("state.json").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    ids
}

/// Now as RFC 3339 UTC with nanoseconds (`2026-01-02T03:04:05.000000006Z`).
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

/// Seconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(check_id("abc-1.2_x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "é"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_767_225_599, 0), "2025-12-31T23:59:59.000000000Z");
    }
}
