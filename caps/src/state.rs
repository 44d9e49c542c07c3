//! The five capability sets of a thread: read, compare, apply in order.

use std::path::PathBuf;

use nix::errno::Errno;

use crate::{ApplyStep, CapSet, Capability, Error, Result};

/// The capability sets of one thread.
///
/// ```no_run
/// use palisade_caps::CapState;
/// let me = CapState::current()?;
/// println!("effective: {}", me.effective);
/// # Ok::<(), palisade_caps::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CapState {
    /// Used for permission checks.
    pub effective: CapSet,
    /// What the thread may make effective.
    pub permitted: CapSet,
    /// Preserved across execve (with file or ambient help).
    pub inheritable: CapSet,
    /// The limit of what execve can grant.
    pub bounding: CapSet,
    /// Kept across execve of unprivileged programs.
    pub ambient: CapSet,
}

/// Per set, what another state has that this one lacks and vice versa.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapStateDiff {
    /// (added, removed) in effective.
    pub effective: (CapSet, CapSet),
    /// (added, removed) in permitted.
    pub permitted: (CapSet, CapSet),
    /// (added, removed) in inheritable.
    pub inheritable: (CapSet, CapSet),
    /// (added, removed) in bounding.
    pub bounding: (CapSet, CapSet),
    /// (added, removed) in ambient.
    pub ambient: (CapSet, CapSet),
}

impl CapStateDiff {
    /// No difference at all.
    pub fn is_empty(&self) -> bool {
        *self == CapStateDiff::default()
    }
}

impl CapState {
    /// The calling thread's state (`/proc/thread-self/status`).
    pub fn current() -> Result<CapState> {
        Self::from_status_file(PathBuf::from("/proc/thread-self/status"))
    }

    /// Process `pid`'s state (its main thread), from `/proc/<pid>/status`.
    pub fn of_pid(pid: i32) -> Result<CapState> {
        if pid <= 0 {
            return Err(Error::OutOfRange { index: pid as u32 });
        }
        Self::from_status_file(PathBuf::from(format!("/proc/{pid}/status")))
    }

    fn from_status_file(path: PathBuf) -> Result<CapState> {
        let text = std::fs::read(&path).map_err(|e| Error::Sys {
            op: "read",
            path: Some(path.clone()),
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?;
        Self::parse_status(&text)
    }

    /// Parses the `Cap*` lines of a `/proc/<pid>/status` text.
    ///
    /// ```
    /// let status = b"Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\n\
    ///                CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\n";
    /// let s = palisade_caps::CapState::parse_status(status)?;
    /// assert_eq!(s.effective, palisade_caps::CapSet::docker_default());
    /// # Ok::<(), palisade_caps::Error>(())
    /// ```
    pub fn parse_status(text: &[u8]) -> Result<CapState> {
        let mut state = CapState::default();
        let mut seen = 0u8;
        let finder = memchr::memmem::Finder::new(b"\nCap");
        // Prepend-free search: the Cap lines are never the first line.
        for pos in finder.find_iter(text) {
            let line = &text[pos + 1..];
            let end = memchr::memchr(b'\n', line).unwrap_or(line.len());
            let line = &line[..end];
            let Some(colon) = memchr::memchr(b':', line) else {
                continue;
            };
            let (key, value) = (&line[..colon], line[colon + 1..].trim_ascii());
            let slot = match key {
                b"CapInh" => (&mut state.inheritable, 1),
                b"CapPrm" => (&mut state.permitted, 2),
                b"CapEff" => (&mut state.effective, 4),
                b"CapBnd" => (&mut state.bounding, 8),
                b"CapAmb" => (&mut state.ambient, 16),
                _ => continue,
            };
            let hex = std::str::from_utf8(value).ok();
            let mask = hex
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::Parse {
                    what: "capability mask",
                    reason: format!(
                        "{}: {:?}",
                        String::from_utf8_lossy(key),
                        String::from_utf8_lossy(value)
                    ),
                })?;
            *slot.0 = CapSet::from_mask(mask);
            seen |= slot.1;
        }
        // Kernels before 4.3 have no CapAmb.
        if seen & 15 != 15 {
            return Err(Error::Parse {
                what: "/proc status",
                reason: "missing CapInh/CapPrm/CapEff/CapBnd lines".into(),
            });
        }
        Ok(state)
    }

    /// What `other` adds and removes, set by set.
    pub fn diff(&self, other: &CapState) -> CapStateDiff {
        let d = |a: CapSet, b: CapSet| (b - a, a - b);
        CapStateDiff {
            effective: d(self.effective, other.effective),
            permitted: d(self.permitted, other.permitted),
            inheritable: d(self.inheritable, other.inheritable),
            bounding: d(self.bounding, other.bounding),
            ambient: d(self.ambient, other.ambient),
        }
    }

    /// What a container process gets with `caps`, as Docker does it:
    /// effective = permitted = bounding = `caps`, inheritable and ambient
    /// empty.
    pub fn container(caps: CapSet) -> CapState {
        CapState {
            effective: caps,
            permitted: caps,
            inheritable: CapSet::EMPTY,
            bounding: caps,
            ambient: CapSet::EMPTY,
        }
    }

    /// Checks the kernel's rules: effective ⊆ permitted, ambient ⊆
    /// permitted ∩ inheritable.
    pub fn check(&self) -> Result<()> {
        if !self.effective.is_subset(self.permitted) {
            return Err(Error::Invariant {
                rule: "effective must be a subset of permitted",
            });
        }
        if !self.ambient.is_subset(self.permitted & self.inheritable) {
            return Err(Error::Invariant {
                rule: "ambient must be a subset of permitted and inheritable",
            });
        }
        Ok(())
    }
}

/// A user/group switch done between the bounding drop and `capset`, with
/// `PR_SET_KEEPCAPS` so permitted capabilities survive it: `setgroups`
/// (only when `groups` is `Some`), then `setresgid`, then `setresuid`.
///
/// In a user namespace whose `/proc/<pid>/setgroups` is `deny` (every
/// namespace an unprivileged user maps itself into, user_namespaces(7))
/// `setgroups` fails with `EPERM` even for an empty list; `groups: None`
/// makes no such call, keeping the groups the process has. The uid and gid
/// must be mapped in the namespace, or the kernel answers `EINVAL`.
///
/// ```
/// use palisade_caps::IdSwitch;
/// // Rootless: become the namespace's root without touching the groups.
/// let ids = IdSwitch { uid: 0, gid: 0, groups: None };
/// # let _ = ids;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdSwitch {
    /// New real/effective/saved uid.
    pub uid: u32,
    /// New real/effective/saved gid.
    pub gid: u32,
    /// Supplementary groups to set (`Some(vec![])` clears them); `None`
    /// leaves them as they are and makes no `setgroups` call.
    pub groups: Option<Vec<u32>>,
}

/// A target [`CapState`] checked and prepared in the parent, so that
/// [`apply_in_child`](PreparedCaps::apply_in_child) allocates nothing and
/// can run between `clone` and `execve`.
///
/// The order is the safe one: (1) drop from the bounding set every
/// capability up to `cap_last_cap` not wanted (needs CAP_SETPCAP, so it
/// comes first); (2) optionally switch uid/gid/groups keeping permitted
/// capabilities; (3) one `capset` of effective, permitted, inheritable;
/// (4) clear and raise ambient. Capabilities are per thread: apply in the
/// single-threaded child before `execve`.
///
/// ```no_run
/// use palisade_caps::{CapSet, CapState, PreparedCaps};
/// let prepared = PreparedCaps::new(CapState::container(CapSet::docker_default()))?;
/// prepared.apply()?; // in a child process, before execve
/// # Ok::<(), palisade_caps::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PreparedCaps {
    target: CapState,
    last_cap: u8,
    ids: Option<IdSwitch>,
    no_new_privs: bool,
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

impl PreparedCaps {
    /// Checks `target` and reads `cap_last_cap` now, in the parent.
    pub fn new(target: CapState) -> Result<PreparedCaps> {
        target.check()?;
        Ok(PreparedCaps {
            target,
            last_cap: Capability::last().index(),
            ids: None,
            no_new_privs: false,
        })
    }

    /// Switch to these ids between the bounding drop and `capset`.
    pub fn with_ids(mut self, ids: IdSwitch) -> Self {
        self.ids = Some(ids);
        self
    }

    /// Set `no_new_privs` as the last step.
    pub fn with_no_new_privs(mut self, yes: bool) -> Self {
        self.no_new_privs = yes;
        self
    }

    /// The target state.
    pub fn target(&self) -> &CapState {
        &self.target
    }

    /// Applies to the calling thread, mapping a failure to a typed error.
    /// Capabilities are per thread in Linux, and so is the id switch here
    /// (see [`ids`](crate::ids)): apply in the thread that will `execve`.
    pub fn apply(&self) -> Result<()> {
        self.apply_in_child()
            .map_err(|(step, errno)| Error::Apply { step, errno })
    }

    /// Applies to the calling thread with raw syscalls only — no
    /// allocation, no locks — for use between `clone` and `execve`. On
    /// failure returns the step and errno.
    pub fn apply_in_child(&self) -> std::result::Result<(), (ApplyStep, Errno)> {
        let t = &self.target;
        for i in 0..=self.last_cap {
            // Reading first is cheap; a drop commits new credentials (an
            // allocation and an RCU grace in the kernel) even for a
            // capability that is already gone.
            if !t.bounding.contains(Capability(i)) && bounding_has(i) {
                // SAFETY: prctl with integer arguments.
                let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, i as libc::c_ulong, 0, 0, 0) };
                if r != 0 {
                    return Err((ApplyStep::DropBounding(i), Errno::last()));
                }
            }
        }
        if let Some(ids) = &self.ids {
            // SAFETY: prctl with integer arguments.
            unsafe {
                if libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 {
                    return Err((ApplyStep::KeepCaps, Errno::last()));
                }
            }
            // Raw syscalls, not glibc's process-wide wrappers (see `ids`).
            if let Some(groups) = &ids.groups {
                crate::ids::set_groups(groups).map_err(|e| (ApplyStep::SetGroups, e))?;
            }
            crate::ids::set_gid(ids.gid).map_err(|e| (ApplyStep::SetGid, e))?;
            crate::ids::set_uid(ids.uid).map_err(|e| (ApplyStep::SetUid, e))?;
            // SAFETY: prctl with integer arguments.
            unsafe {
                if libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0 {
                    return Err((ApplyStep::KeepCaps, Errno::last()));
                }
            }
        }
        let split = |s: CapSet| (s.mask() as u32, (s.mask() >> 32) as u32);
        let (e0, e1) = split(t.effective);
        let (p0, p1) = split(t.permitted);
        let (i0, i1) = split(t.inheritable);
        let mut header = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let data = [
            CapData {
                effective: e0,
                permitted: p0,
                inheritable: i0,
            },
            CapData {
                effective: e1,
                permitted: p1,
                inheritable: i1,
            },
        ];
        // SAFETY: v3 header with two data structs, as the kernel expects.
        if unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) } != 0 {
            return Err((ApplyStep::Capset, Errno::last()));
        }
        // SAFETY: prctl with integer arguments.
        unsafe {
            if libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            ) != 0
                && !t.ambient.is_empty()
            {
                return Err((ApplyStep::Ambient(0), Errno::last()));
            }
            for i in 0..=self.last_cap {
                if t.ambient.contains(Capability(i))
                    && libc::prctl(
                        libc::PR_CAP_AMBIENT,
                        libc::PR_CAP_AMBIENT_RAISE,
                        i as libc::c_ulong,
                        0,
                        0,
                    ) != 0
                {
                    return Err((ApplyStep::Ambient(i), Errno::last()));
                }
            }
            if self.no_new_privs && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err((ApplyStep::NoNewPrivs, Errno::last()));
            }
        }
        Ok(())
    }
}

fn bounding_has(cap: u8) -> bool {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) == 1 }
}

/// Sets `no_new_privs` for the calling thread (inherited by children,
/// irreversible).
pub fn set_no_new_privs() -> Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(Error::sys("prctl(PR_SET_NO_NEW_PRIVS)", Errno::last()));
    }
    Ok(())
}

/// Whether `no_new_privs` is set for the calling thread.
pub fn no_new_privs() -> Result<bool> {
    // SAFETY: prctl with integer arguments.
    match unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } {
        -1 => Err(Error::sys("prctl(PR_GET_NO_NEW_PRIVS)", Errno::last())),
        v => Ok(v == 1),
    }
}

/// The calling thread's securebits (`SECBIT_*` flags).
pub fn securebits() -> Result<u32> {
    // SAFETY: prctl with integer arguments.
    match unsafe { libc::prctl(libc::PR_GET_SECUREBITS, 0, 0, 0, 0) } {
        -1 => Err(Error::sys("prctl(PR_GET_SECUREBITS)", Errno::last())),
        v => Ok(v as u32),
    }
}

/// Sets the calling thread's securebits (needs CAP_SETPCAP).
pub fn set_securebits(bits: u32) -> Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_SECUREBITS, bits as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(Error::sys("prctl(PR_SET_SECUREBITS)", Errno::last()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invariants_are_checked_before_anything_runs() {
        let mut s = CapState::container(CapSet::docker_default());
        assert!(PreparedCaps::new(s).is_ok());
        s.effective.insert(Capability::SYS_ADMIN);
        assert!(matches!(PreparedCaps::new(s), Err(Error::Invariant { .. })));
        let mut s = CapState::container(CapSet::docker_default());
        s.ambient.insert(Capability::CHOWN);
        assert!(matches!(PreparedCaps::new(s), Err(Error::Invariant { .. })));
    }

    #[test]
    fn status_parsing_rejects_garbage() {
        assert!(CapState::parse_status(b"").is_err());
        assert!(CapState::parse_status(b"x\nCapInh:\tzz\n").is_err());
        assert!(CapState::parse_status(b"\nCapInh\n\nCap").is_err());
    }

    #[test]
    fn diff_names_what_changed() {
        let a = CapState::container(CapSet::docker_default());
        let mut b = a;
        b.effective.remove(Capability::CHOWN);
        b.ambient.insert(Capability::KILL);
        let d = a.diff(&b);
        assert_eq!(d.effective, (CapSet::EMPTY, Capability::CHOWN.into()));
        assert_eq!(d.ambient, (Capability::KILL.into(), CapSet::EMPTY));
        assert!(a.diff(&a).is_empty());
    }
}
