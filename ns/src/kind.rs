//! The eight namespace kinds and sets of them.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// One kind of Linux namespace.
///
/// ```
/// use palisade_ns::NsKind;
/// assert_eq!(NsKind::Net.proc_name(), "net");
/// assert_eq!("uts".parse::<NsKind>().unwrap(), NsKind::Uts);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum NsKind {
    /// Mount namespace (`CLONE_NEWNS`).
    Mnt,
    /// Hostname and NIS domain name (`CLONE_NEWUTS`).
    Uts,
    /// System V IPC and POSIX message queues (`CLONE_NEWIPC`).
    Ipc,
    /// Process ids (`CLONE_NEWPID`).
    Pid,
    /// Network stack (`CLONE_NEWNET`).
    Net,
    /// User and group ids, capabilities (`CLONE_NEWUSER`).
    User,
    /// Cgroup root (`CLONE_NEWCGROUP`).
    Cgroup,
    /// Monotonic and boot-time clocks (`CLONE_NEWTIME`).
    Time,
}

impl NsKind {
    /// Every kind, in the order `nsenter` joins them (user first, so the
    /// other joins happen with the target's capabilities; mount last, as it
    /// changes the root the others are looked up in).
    pub const ALL: [NsKind; 8] = [
        NsKind::User,
        NsKind::Cgroup,
        NsKind::Ipc,
        NsKind::Uts,
        NsKind::Net,
        NsKind::Pid,
        NsKind::Time,
        NsKind::Mnt,
    ];

    /// The `CLONE_NEW*` bit of this kind.
    ///
    /// ```
    /// assert_eq!(palisade_ns::NsKind::Net.clone_flag(), libc::CLONE_NEWNET);
    /// ```
    pub const fn clone_flag(self) -> libc::c_int {
        match self {
            NsKind::Mnt => libc::CLONE_NEWNS,
            NsKind::Uts => libc::CLONE_NEWUTS,
            NsKind::Ipc => libc::CLONE_NEWIPC,
            NsKind::Pid => libc::CLONE_NEWPID,
            NsKind::Net => libc::CLONE_NEWNET,
            NsKind::User => libc::CLONE_NEWUSER,
            NsKind::Cgroup => libc::CLONE_NEWCGROUP,
            NsKind::Time => libc::CLONE_NEWTIME,
        }
    }

    /// The kind whose `CLONE_NEW*` bit is `flag`, if any.
    ///
    /// ```
    /// use palisade_ns::NsKind;
    /// assert_eq!(NsKind::from_clone_flag(libc::CLONE_NEWPID), Some(NsKind::Pid));
    /// assert_eq!(NsKind::from_clone_flag(0), None);
    /// ```
    pub fn from_clone_flag(flag: libc::c_int) -> Option<NsKind> {
        NsKind::ALL.into_iter().find(|k| k.clone_flag() == flag)
    }

    /// The name of the kind under `/proc/<pid>/ns/`.
    pub const fn proc_name(self) -> &'static str {
        match self {
            NsKind::Mnt => "mnt",
            NsKind::Uts => "uts",
            NsKind::Ipc => "ipc",
            NsKind::Pid => "pid",
            NsKind::Net => "net",
            NsKind::User => "user",
            NsKind::Cgroup => "cgroup",
            NsKind::Time => "time",
        }
    }

    /// Does `setns` of this kind change only the calling thread (so it can be
    /// done on a helper thread of a multi-threaded process)? Mount, user,
    /// time-for-children and pid-for-children need a single-threaded caller
    /// or affect the whole process.
    ///
    /// ```
    /// assert!(palisade_ns::NsKind::Net.is_per_thread());
    /// assert!(!palisade_ns::NsKind::Mnt.is_per_thread());
    /// ```
    pub const fn is_per_thread(self) -> bool {
        matches!(
            self,
            NsKind::Net | NsKind::Uts | NsKind::Ipc | NsKind::Cgroup
        )
    }
}

impl fmt::Display for NsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.proc_name())
    }
}

impl FromStr for NsKind {
    type Err = Error;

    /// Accepts the `/proc` names and the `lsns`/OCI spellings
    /// (`mount`, `network`).
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "mnt" | "mount" => NsKind::Mnt,
            "uts" => NsKind::Uts,
            "ipc" => NsKind::Ipc,
            "pid" => NsKind::Pid,
            "net" | "network" => NsKind::Net,
            "user" => NsKind::User,
            "cgroup" => NsKind::Cgroup,
            "time" => NsKind::Time,
            _ => {
                return Err(Error::Invalid {
                    what: "namespace kind",
                    value: s.to_owned(),
                });
            }
        })
    }
}

bitflags::bitflags! {
    /// A set of namespace kinds, as the `CLONE_NEW*` mask the kernel takes.
    ///
    /// ```
    /// use palisade_ns::{NsKind, NsKinds};
    /// let set = NsKinds::NET | NsKinds::UTS;
    /// assert!(set.contains(NsKind::Net.into()));
    /// assert_eq!(set.kinds().collect::<Vec<_>>(), [NsKind::Uts, NsKind::Net]);
    /// assert_eq!(NsKinds::all().kinds().count(), 8);
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct NsKinds: libc::c_int {
        /// Mount.
        const MNT = libc::CLONE_NEWNS;
        /// UTS.
        const UTS = libc::CLONE_NEWUTS;
        /// IPC.
        const IPC = libc::CLONE_NEWIPC;
        /// PID.
        const PID = libc::CLONE_NEWPID;
        /// Network.
        const NET = libc::CLONE_NEWNET;
        /// User.
        const USER = libc::CLONE_NEWUSER;
        /// Cgroup.
        const CGROUP = libc::CLONE_NEWCGROUP;
        /// Time.
        const TIME = libc::CLONE_NEWTIME;
    }
}

impl NsKinds {
    /// The kinds in the set, in join order (see [`NsKind::ALL`]).
    pub fn kinds(self) -> impl Iterator<Item = NsKind> {
        NsKind::ALL
            .into_iter()
            .filter(move |k| self.contains(NsKinds::from(*k)))
    }
}

impl From<NsKind> for NsKinds {
    fn from(kind: NsKind) -> Self {
        NsKinds::from_bits_retain(kind.clone_flag())
    }
}

impl FromIterator<NsKind> for NsKinds {
    fn from_iter<I: IntoIterator<Item = NsKind>>(iter: I) -> Self {
        iter.into_iter()
            .fold(NsKinds::empty(), |acc, k| acc | k.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_flag_and_name() {
        for kind in NsKind::ALL {
            assert_eq!(NsKind::from_clone_flag(kind.clone_flag()), Some(kind));
            assert_eq!(kind.proc_name().parse::<NsKind>().unwrap(), kind);
        }
        let all: NsKinds = NsKind::ALL.into_iter().collect();
        assert_eq!(all, NsKinds::all());
        assert_eq!(all.bits().count_ones(), 8);
    }

    #[test]
    fn unknown_kind_is_a_typed_error() {
        let err = "netns".parse::<NsKind>().unwrap_err();
        assert!(err.to_string().contains("netns"), "{err}");
    }

    #[test]
    fn join_order_puts_user_first_and_mount_last() {
        let order: Vec<_> = NsKinds::all().kinds().collect();
        assert_eq!(order.first(), Some(&NsKind::User));
        assert_eq!(order.last(), Some(&NsKind::Mnt));
    }
}
