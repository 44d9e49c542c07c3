//! The systemd cgroup driver: a container's group as a transient scope unit.
//!
//! On hosts where systemd is PID 1 it owns the cgroup tree; a runtime that
//! `mkdir`s and writes cgroupfs behind its back fights it (systemd resets
//! what it does not know about on `daemon-reload`). The systemd driver asks
//! systemd instead, over its D-Bus API (`org.freedesktop.systemd1.Manager`,
//! see `man org.freedesktop.systemd1`), as runc's `libcontainer/cgroups/systemd`
//! does:
//!
//! - create: `StartTransientUnit` of a `.scope` with `PIDs`, `Delegate=yes`,
//!   `Slice`, `Description` and the resource properties systemd knows
//!   (`MemoryMax`, `MemoryHigh`, `MemoryLow`, `MemoryMin`, `MemorySwapMax`,
//!   `CPUWeight`, `CPUQuotaPerSecUSec`, `CPUQuotaPeriodUSec`, `AllowedCPUs`,
//!   `AllowedMemoryNodes`, `TasksMax`, `IOWeight`, `DevicePolicy`,
//!   `DeviceAllow`), waiting for the job's `JobRemoved` signal; the group's
//!   path is read back from the unit's `ControlGroup` property; what systemd
//!   cannot express (cpu burst and idle, io.max limits, hugetlb, v1-only
//!   files, the exact ordered device rules) is written to the delegated
//!   group's files directly;
//! - update: `SetUnitProperties` (runtime), then the same direct writes;
//! - delete: the group is killed and emptied, then `StopUnit`, waiting for
//!   the job; systemd removes the directory.
//!
//! The system bus is used as root, the user bus (the user manager's
//! delegated subtree) otherwise: the only way to get cgroup limits without
//! root on a systemd host.
//!
//! Groups are named the runc/containerd way, `slice:prefix:name`
//! ([`SystemdName`]): `system.slice:palisade:abc` is unit
//! `palisade-abc.scope` in `system.slice`.
//!
//! [`SystemdName`] and [`CgroupManager`] are always compiled (an OCI
//! runtime parses `cgroupsPath` without talking to systemd); the D-Bus side
//! needs the crate feature `systemd` (zbus, blocking API). Without it, or
//! when systemd is not PID 1 (no `/run/systemd/system`, see
//! `sd_booted(3)`), creating a group through the driver is
//! [`crate::Error::SystemdUnavailable`].

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

pub(crate) mod props;
#[cfg(feature = "systemd")]
pub(crate) mod scope;

pub use props::{PropertyValue, unit_properties};

/// Who makes and removes a container's cgroup.
///
/// ```
/// use palisade_cgroup::CgroupManager;
/// assert_eq!(CgroupManager::default(), CgroupManager::Cgroupfs);
/// assert_eq!("systemd".parse::<CgroupManager>()?, CgroupManager::Systemd);
/// # Ok::<(), palisade_cgroup::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum CgroupManager {
    /// palisade `mkdir`s and writes cgroupfs itself; the path is relative
    /// to each hierarchy's root (`palisade/box-1`).
    #[default]
    Cgroupfs,
    /// systemd makes a transient scope unit (system bus as root, the user
    /// manager otherwise); the path is `slice:prefix:name`
    /// ([`SystemdName`]). Needs the crate feature `systemd`.
    Systemd,
}

impl FromStr for CgroupManager {
    type Err = Error;

    /// `cgroupfs` or `systemd` (kubelet's `--cgroup-driver` values).
    fn from_str(s: &str) -> Result<CgroupManager> {
        match s {
            "cgroupfs" => Ok(CgroupManager::Cgroupfs),
            "systemd" => Ok(CgroupManager::Systemd),
            _ => Err(Error::InvalidValue {
                field: "cgroup manager",
                value: s.to_owned(),
                reason: "expected `cgroupfs` or `systemd`",
            }),
        }
    }
}

/// A systemd-managed group named the runc/containerd way:
/// `slice:prefix:name`, the scope unit `prefix-name.scope` (or
/// `name.scope` with an empty prefix) in `slice` (empty: the manager's
/// default, `system.slice` for the system manager, `user.slice` for a user
/// manager).
///
/// Checked before any D-Bus call: exactly three `:`-separated fields; the
/// slice ends in `.slice`, has no `/`, no empty `-`-separated part; prefix
/// and name use only `[A-Za-z0-9_.-]` (systemd's unit name characters
/// without `:`, `\` and `@`); a name is required and may not end in
/// `.slice` (slice units as container groups are not supported); the unit
/// name is at most 255 bytes. Otherwise [`Error::InvalidPath`].
///
/// ```
/// use palisade_cgroup::SystemdName;
/// let n: SystemdName = "system.slice:palisade:abc".parse()?;
/// assert_eq!(n.unit(), "palisade-abc.scope");
/// assert_eq!(n.slice(), Some("system.slice"));
/// assert_eq!(n.to_string(), "system.slice:palisade:abc");
/// assert_eq!(SystemdName::new("", "", "web")?.unit(), "web.scope");
/// assert!("system.slice/palisade".parse::<SystemdName>().is_err());
/// # Ok::<(), palisade_cgroup::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SystemdName {
    slice: String,
    prefix: String,
    name: String,
}

const UNIT_NAME_MAX: usize = 255;

impl SystemdName {
    /// Validates the three fields (see the type's documentation).
    pub fn new(slice: &str, prefix: &str, name: &str) -> Result<SystemdName> {
        let whole = format!("{slice}:{prefix}:{name}");
        let bad = |reason| {
            Err(Error::InvalidPath {
                path: whole.clone(),
                reason,
            })
        };
        if !slice.is_empty() {
            if let Err(reason) = check_slice(slice) {
                return bad(reason);
            }
        }
        let word = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        };
        if name.is_empty() {
            return bad("the name (third field of slice:prefix:name) is empty");
        }
        if !word(prefix) || !word(name) {
            return bad("prefix and name may only use A-Z a-z 0-9 _ . -");
        }
        if name.ends_with(".slice") {
            return bad("a name ending in .slice (a slice unit) is not supported");
        }
        let n = SystemdName {
            slice: slice.to_owned(),
            prefix: prefix.to_owned(),
            name: name.to_owned(),
        };
        if n.unit().len() > UNIT_NAME_MAX {
            return bad("the unit name is longer than 255 bytes");
        }
        Ok(n)
    }

    /// The scope unit: `prefix-name.scope`, or `name.scope`.
    pub fn unit(&self) -> String {
        if self.prefix.is_empty() {
            format!("{}.scope", self.name)
        } else {
            format!("{}-{}.scope", self.prefix, self.name)
        }
    }

    /// The slice as given; `None` for the manager's default.
    pub fn slice(&self) -> Option<&str> {
        (!self.slice.is_empty()).then_some(self.slice.as_str())
    }

    /// The prefix field.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The name field.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl FromStr for SystemdName {
    type Err = Error;

    fn from_str(s: &str) -> Result<SystemdName> {
        let fields: Vec<&str> = s.split(':').collect();
        match fields[..] {
            [slice, prefix, name] => SystemdName::new(slice, prefix, name).map_err(|e| match e {
                Error::InvalidPath { reason, .. } => Error::InvalidPath {
                    path: s.to_owned(),
                    reason,
                },
                e => e,
            }),
            _ => Err(Error::InvalidPath {
                path: s.to_owned(),
                reason: "expected slice:prefix:name (three fields separated by `:`)",
            }),
        }
    }
}

impl fmt::Display for SystemdName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.slice, self.prefix, self.name)
    }
}

fn check_slice(slice: &str) -> std::result::Result<(), &'static str> {
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err("the slice must end in .slice");
    };
    if slice.contains('/') {
        return Err("the slice may not contain /");
    }
    if slice.len() > UNIT_NAME_MAX {
        return Err("the slice name is longer than 255 bytes");
    }
    if stem == "-" {
        return Ok(()); // the root slice
    }
    if stem.is_empty() || stem.split('-').any(str::is_empty) {
        return Err("the slice has an empty `-`-separated part");
    }
    if !stem
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err("the slice may only use A-Z a-z 0-9 _ . -");
    }
    Ok(())
}

/// The cgroup directory of a slice relative to the root, as systemd lays
/// it out: every `-` opens a level (`a-b.slice` → `a.slice/a-b.slice`;
/// the root slice `-.slice` is the root, `""`). Errors as
/// [`SystemdName`] for a malformed slice.
///
/// ```
/// use palisade_cgroup::expand_slice;
/// assert_eq!(expand_slice("system.slice")?, "system.slice");
/// assert_eq!(expand_slice("machine-palisade.slice")?, "machine.slice/machine-palisade.slice");
/// assert_eq!(expand_slice("-.slice")?, "");
/// assert!(expand_slice("a--b.slice").is_err());
/// # Ok::<(), palisade_cgroup::Error>(())
/// ```
pub fn expand_slice(slice: &str) -> Result<String> {
    check_slice(slice).map_err(|reason| Error::InvalidPath {
        path: slice.to_owned(),
        reason,
    })?;
    let stem = &slice[..slice.len() - ".slice".len()];
    if stem == "-" {
        return Ok(String::new());
    }
    let mut out = Vec::new();
    let mut end = 0;
    for part in stem.split('-') {
        end += part.len();
        out.push(format!("{}.slice", &stem[..end]));
        end += 1;
    }
    Ok(out.join("/"))
}

/// A scope [`cleanup_stale`] removed: its unit name and the state
/// systemd reported for it before (`ActiveState/SubState`, e.g.
/// `active/running` for a scope whose processes are all gone, or
/// `failed/failed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleScope {
    /// The unit, `palisade-abc.scope`.
    pub unit: String,
    /// `ActiveState/SubState` as listed before the cleanup.
    pub state: String,
}

/// Removes the scopes a killed caller left behind: every loaded unit
/// named `PREFIX-*.scope` (the `prefix` field of [`SystemdName`]) that is
/// `failed`, or whose group holds no live process, is stopped
/// (`StopUnit`, waiting for the job) and reset (`ResetFailedUnit`), so
/// that `systemctl list-units --all 'PREFIX-*.scope'` no longer shows it
/// and systemd removes its directory. Returns what it removed.
///
/// A scope with at least one live process anywhere in its group
/// (`GetUnitProcesses`, recursive) is never touched: it may belong to a
/// running container of another caller. Units are listed with
/// `ListUnitsByPatterns` of `org.freedesktop.systemd1.Manager` on the
/// system bus as root, the user manager's bus otherwise (as
/// [`Cgroup::create_with`](crate::Cgroup::create_with)).
///
/// ```no_run
/// // After a crash: clear what palisade's scopes left.
/// for s in palisade_cgroup::systemd::cleanup_stale("palisade")? {
///     eprintln!("removed {} ({})", s.unit, s.state);
/// }
/// # Ok::<(), palisade_cgroup::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidValue`] for an empty prefix or one outside
/// `[A-Za-z0-9_.-]` (checked before any call, so a pattern cannot match
/// other units); [`Error::SystemdUnavailable`] when systemd is not PID 1,
/// its bus is unreachable or the crate feature `systemd` is off;
/// [`Error::Systemd`] when listing fails or a stop job fails.
pub fn cleanup_stale(prefix: &str) -> Result<Vec<StaleScope>> {
    if prefix.is_empty()
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(Error::InvalidValue {
            field: "systemd scope prefix",
            value: prefix.to_owned(),
            reason: "expected a non-empty prefix of A-Z a-z 0-9 _ . -",
        });
    }
    #[cfg(feature = "systemd")]
    {
        scope::cleanup_stale(prefix)
    }
    #[cfg(not(feature = "systemd"))]
    {
        Err(Error::SystemdUnavailable {
            reason: "palisade-cgroup was built without its `systemd` feature".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_form_round_trips() {
        for s in [
            "system.slice:palisade:abc",
            ":palisade:abc",
            "machine-pods.slice::web_1",
            "-.slice:x:y",
        ] {
            let n: SystemdName = s.parse().unwrap();
            assert_eq!(n.to_string(), s);
        }
        let n: SystemdName = "user.slice:docker:0123abcd".parse().unwrap();
        assert_eq!(n.unit(), "docker-0123abcd.scope");
        assert_eq!(n.slice(), Some("user.slice"));
        assert_eq!(n.prefix(), "docker");
        assert_eq!(n.name(), "0123abcd");
        assert_eq!(":p:n".parse::<SystemdName>().unwrap().slice(), None);
    }

    #[test]
    fn malformed_names_are_typed_errors() {
        for (s, why) in [
            ("system.slice:palisade", "three fields"),
            ("a:b:c:d", "three fields"),
            ("palisade/abc", "three fields"),
            ("system:palisade:abc", "end in .slice"),
            ("sys/tem.slice:p:n", "may not contain /"),
            ("a--b.slice:p:n", "empty `-`"),
            ("-a.slice:p:n", "empty `-`"),
            ("system.slice:palisade:", "name"),
            ("system.slice:pal isade:abc", "only use"),
            ("system.slice:p:a/b", "only use"),
            ("system.slice:p:kube.slice", ".slice"),
        ] {
            match s.parse::<SystemdName>() {
                Err(Error::InvalidPath { path, reason }) => {
                    assert_eq!(path, s);
                    assert!(reason.contains(why), "{s}: {reason}");
                }
                other => panic!("{s}: {other:?}"),
            }
        }
        // 249 + ".scope" = 255 bytes, systemd's limit.
        let long = "x".repeat(249);
        assert!(SystemdName::new("", "", &long).is_ok());
        assert!(SystemdName::new("", "p", &long).is_err());
    }

    #[test]
    fn slices_expand_like_systemd() {
        assert_eq!(
            expand_slice("a-b-c.slice").unwrap(),
            "a.slice/a-b.slice/a-b-c.slice"
        );
        assert_eq!(expand_slice("user.slice").unwrap(), "user.slice");
        assert!(expand_slice("nope").is_err());
        assert!(expand_slice("a-.slice").is_err());
    }

    #[test]
    fn cleanup_prefix_is_checked_first() {
        for bad in ["", "a*", "pal isade", "x/y", "a\\x2d"] {
            match cleanup_stale(bad) {
                Err(Error::InvalidValue { value, .. }) => assert_eq!(value, bad),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn manager_names() {
        assert_eq!(
            "cgroupfs".parse::<CgroupManager>().unwrap(),
            CgroupManager::Cgroupfs
        );
        assert!(matches!(
            "Systemd".parse::<CgroupManager>(),
            Err(Error::InvalidValue {
                field: "cgroup manager",
                ..
            })
        ));
    }
}
