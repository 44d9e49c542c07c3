//! Process attributes beyond ids and capabilities, checked and prepared in
//! the parent: typed resource limits (`setrlimit(2)` kinds, the names of
//! OCI `process.rlimits` and `docker run --ulimit`), `umask`,
//! `oom_score_adj`, and the program's `PATH` lookup inside the rootfs.

use std::ffi::CString;
use std::fmt;
use std::str::FromStr;

use crate::SpawnError;

/// A kind of resource limit (`RLIMIT_*`, getrlimit(2)).
///
/// ```
/// use palisade::RlimitKind;
/// let k: RlimitKind = "RLIMIT_NOFILE".parse()?;
/// assert_eq!(k, RlimitKind::Nofile);
/// assert_eq!("nproc".parse::<RlimitKind>()?, RlimitKind::Nproc);
/// assert!("files".parse::<RlimitKind>().is_err());
/// # Ok::<(), palisade::UnknownRlimit>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each is the RLIMIT_ of its name
pub enum RlimitKind {
    Cpu,
    Fsize,
    Data,
    Stack,
    Core,
    Rss,
    Nproc,
    Nofile,
    Memlock,
    As,
    Locks,
    Sigpending,
    Msgqueue,
    Nice,
    Rtprio,
    Rttime,
}

const KINDS: [(RlimitKind, &str, u32); 16] = [
    (RlimitKind::Cpu, "cpu", libc::RLIMIT_CPU),
    (RlimitKind::Fsize, "fsize", libc::RLIMIT_FSIZE),
    (RlimitKind::Data, "data", libc::RLIMIT_DATA),
    (RlimitKind::Stack, "stack", libc::RLIMIT_STACK),
    (RlimitKind::Core, "core", libc::RLIMIT_CORE),
    (RlimitKind::Rss, "rss", libc::RLIMIT_RSS),
    (RlimitKind::Nproc, "nproc", libc::RLIMIT_NPROC),
    (RlimitKind::Nofile, "nofile", libc::RLIMIT_NOFILE),
    (RlimitKind::Memlock, "memlock", libc::RLIMIT_MEMLOCK),
    (RlimitKind::As, "as", libc::RLIMIT_AS),
    (RlimitKind::Locks, "locks", libc::RLIMIT_LOCKS),
    (
        RlimitKind::Sigpending,
        "sigpending",
        libc::RLIMIT_SIGPENDING,
    ),
    (RlimitKind::Msgqueue, "msgqueue", libc::RLIMIT_MSGQUEUE),
    (RlimitKind::Nice, "nice", libc::RLIMIT_NICE),
    (RlimitKind::Rtprio, "rtprio", libc::RLIMIT_RTPRIO),
    (RlimitKind::Rttime, "rttime", libc::RLIMIT_RTTIME),
];

impl RlimitKind {
    /// The kernel's resource number (`libc::RLIMIT_*`).
    pub fn resource(self) -> u32 {
        KINDS.iter().find(|k| k.0 == self).map_or(0, |k| k.2)
    }

    /// The kind of a kernel resource number.
    pub fn from_resource(resource: u32) -> Option<RlimitKind> {
        KINDS.iter().find(|k| k.2 == resource).map(|k| k.0)
    }
}

impl fmt::Display for RlimitKind {
    /// `RLIMIT_NOFILE`, as OCI `process.rlimits[].type` spells it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = KINDS.iter().find(|k| k.0 == *self).map_or("?", |k| k.1);
        write!(f, "RLIMIT_{}", name.to_ascii_uppercase())
    }
}

/// An rlimit name that is none of [`RlimitKind`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rlimit {0:?} (known: RLIMIT_CPU … RLIMIT_RTTIME, or nofile, nproc…)")]
pub struct UnknownRlimit(pub String);

impl FromStr for RlimitKind {
    type Err = UnknownRlimit;

    /// `RLIMIT_NOFILE`, `nofile` (any case).
    fn from_str(s: &str) -> Result<RlimitKind, UnknownRlimit> {
        let lower = s.to_ascii_lowercase();
        let short = lower.strip_prefix("rlimit_").unwrap_or(&lower);
        KINDS
            .iter()
            .find(|k| k.1 == short)
            .map(|k| k.0)
            .ok_or_else(|| UnknownRlimit(s.to_owned()))
    }
}

/// Refuses a limit the kernel would refuse (`EINVAL`): an unknown
/// resource, or soft above hard.
pub(crate) fn check_rlimit(resource: u32, soft: u64, hard: u64) -> Result<(), SpawnError> {
    let Some(kind) = RlimitKind::from_resource(resource) else {
        return Err(SpawnError::invalid(format!(
            "rlimit resource {resource} is no RLIMIT_* the kernel knows"
        )));
    };
    if soft > hard {
        return Err(SpawnError::invalid(format!(
            "{kind}: soft limit {soft} is above the hard limit {hard}"
        )));
    }
    Ok(())
}

/// Refuses a umask with bits beyond 0o777 and an `oom_score_adj`
/// outside the kernel's -1000..=1000.
pub(crate) fn check(umask: Option<u32>, oom: Option<i32>) -> Result<(), SpawnError> {
    if let Some(m) = umask.filter(|m| *m > 0o777) {
        return Err(SpawnError::invalid(format!(
            "umask {m:#o} has bits beyond 0o777"
        )));
    }
    if let Some(o) = oom.filter(|o| !(-1000..=1000).contains(o)) {
        return Err(SpawnError::invalid(format!(
            "oom_score_adj {o} is outside -1000..=1000"
        )));
    }
    Ok(())
}

/// The paths to try for `program`: itself when it has a `/` (it must then
/// be absolute), else `dir/program` for each directory of the container's
/// `PATH` (the environment given, or the default), in order, as
/// `execvp(3)` does. Relative `PATH` entries are skipped: they would
/// depend on the working directory.
pub(crate) fn candidates(program: &str, env: &[(String, String)]) -> Vec<String> {
    if program.contains('/') {
        return vec![program.to_owned()];
    }
    let path = env.iter().find(|(k, _)| k == "PATH").map_or(
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        |(_, v)| v,
    );
    path.split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| format!("{}/{program}", d.trim_end_matches('/')))
        .collect()
}

/// `/proc/self/oom_score_adj`'s text for `value`.
pub(crate) fn oom_text(value: i32) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// A C string of a candidate.
pub(crate) fn ccand(c: &str) -> Result<CString, SpawnError> {
    CString::new(c).map_err(|_| SpawnError::invalid(format!("program contains a NUL: {c:?}")))
}

/// Everything above, for a [`crate::Container`], before anything is
/// created.
pub(crate) fn validate(c: &crate::Container) -> Result<(), SpawnError> {
    for r in &c.rlimits {
        check_rlimit(r.resource, r.soft, r.hard)?;
    }
    let idmaps = c
        .mounts
        .iter()
        .filter_map(|m| match m {
            crate::Mount::Oci {
                target, options, ..
            } if options.iter().any(|o| o == "idmap" || o == "ridmap") => Some(target),
            _ => None,
        })
        .collect::<Vec<_>>();
    if let Some(t) = idmaps.first() {
        if !c.has_new(palisade_ns::NsKind::User) || c.id_maps.is_none() {
            return Err(SpawnError::invalid(format!(
                "mount {}: idmap needs a new user namespace with id maps \
                 (user_namespace()); its ids are what the mount maps through",
                t.display()
            )));
        }
        if idmaps.len() > crate::idmap::MAX {
            return Err(SpawnError::invalid(format!(
                "{} idmapped mounts: at most {}",
                idmaps.len(),
                crate::idmap::MAX
            )));
        }
    }
    if c.rootfs_propagation.is_some() && !c.has_new(palisade_ns::NsKind::Mnt) {
        return Err(SpawnError::invalid(
            "rootfs_propagation needs a new mount namespace (it would change the host's)",
        ));
    }
    if c.no_pivot && c.rootfs.is_none() {
        return Err(SpawnError::invalid(
            "no_pivot needs a rootfs: it changes how the root is entered",
        ));
    }
    check(c.umask, c.oom_score_adj)
}

/// An execution domain (personality(2); OCI `linux.personality.domain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Personality {
    /// `PER_LINUX` (`LINUX`).
    Linux,
    /// `PER_LINUX32` (`LINUX32`): a 32-bit `uname -m`.
    Linux32,
}

impl Personality {
    /// The value personality(2) takes.
    pub fn value(self) -> libc::c_ulong {
        match self {
            Personality::Linux => 0x0000,
            Personality::Linux32 => 0x0008,
        }
    }
}
