//! Single capabilities and their names.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use crate::{Error, Result};

/// Canonical names, index = capability number (linux/capability.h).
const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// One capability, by its kernel number. Numbers this library has no name
/// for (a newer kernel's) are still representable and print as `CAP_<n>`.
///
/// ```
/// use palisade_caps::Capability;
/// assert_eq!(Capability::NET_ADMIN.index(), 12);
/// assert_eq!("net_admin".parse::<Capability>()?, Capability::NET_ADMIN);
/// assert_eq!(Capability::NET_ADMIN.to_string(), "CAP_NET_ADMIN");
/// # Ok::<(), palisade_caps::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Capability(pub(crate) u8);

macro_rules! caps {
    ($($name:ident = $n:expr),* $(,)?) => {
        impl Capability {
            $(
                #[doc = concat!("`CAP_", stringify!($name), "` (", stringify!($n), ").")]
                pub const $name: Capability = Capability($n);
            )*
        }
    };
}

caps! {
    CHOWN = 0, DAC_OVERRIDE = 1, DAC_READ_SEARCH = 2, FOWNER = 3, FSETID = 4, KILL = 5,
    SETGID = 6, SETUID = 7, SETPCAP = 8, LINUX_IMMUTABLE = 9, NET_BIND_SERVICE = 10,
    NET_BROADCAST = 11, NET_ADMIN = 12, NET_RAW = 13, IPC_LOCK = 14, IPC_OWNER = 15,
    SYS_MODULE = 16, SYS_RAWIO = 17, SYS_CHROOT = 18, SYS_PTRACE = 19, SYS_PACCT = 20,
    SYS_ADMIN = 21, SYS_BOOT = 22, SYS_NICE = 23, SYS_RESOURCE = 24, SYS_TIME = 25,
    SYS_TTY_CONFIG = 26, MKNOD = 27, LEASE = 28, AUDIT_WRITE = 29, AUDIT_CONTROL = 30,
    SETFCAP = 31, MAC_OVERRIDE = 32, MAC_ADMIN = 33, SYSLOG = 34, WAKE_ALARM = 35,
    BLOCK_SUSPEND = 36, AUDIT_READ = 37, PERFMON = 38, BPF = 39, CHECKPOINT_RESTORE = 40,
}

impl Capability {
    /// The capability with number `index` (0..=63).
    pub fn from_index(index: u32) -> Result<Capability> {
        if index < 64 {
            Ok(Capability(index as u8))
        } else {
            Err(Error::OutOfRange { index })
        }
    }

    /// The kernel number.
    pub const fn index(self) -> u8 {
        self.0
    }

    /// The canonical name (`CAP_NET_ADMIN`), if this library knows it.
    pub fn name(self) -> Option<&'static str> {
        NAMES.get(self.0 as usize).copied()
    }

    /// The highest capability the running kernel knows
    /// (`/proc/sys/kernel/cap_last_cap`), read once. Falls back to the last
    /// one named here when the file is unreadable.
    pub fn last() -> Capability {
        static LAST: OnceLock<u8> = OnceLock::new();
        Capability(*LAST.get_or_init(|| {
            std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
                .ok()
                .and_then(|s| s.trim().parse::<u8>().ok())
                .filter(|n| *n < 64)
                .unwrap_or(NAMES.len() as u8 - 1)
        }))
    }

    /// Every capability the running kernel knows, 0..=`last()`.
    pub fn all_supported() -> impl Iterator<Item = Capability> {
        (0..=Capability::last().0).map(Capability)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "CAP_{}", self.0),
        }
    }
}

impl FromStr for Capability {
    type Err = Error;

    /// `CAP_NET_ADMIN`, `NET_ADMIN`, `net_admin`, `cap_net_admin`, or
    /// `CAP_<n>` for a number.
    fn from_str(s: &str) -> Result<Capability> {
        let upper = s.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if let Some(i) = NAMES.iter().position(|n| &n[4..] == bare) {
            return Ok(Capability(i as u8));
        }
        if let Ok(n) = bare.parse::<u32>() {
            return Capability::from_index(n);
        }
        Err(Error::UnknownCapability { name: s.to_owned() })
    }
}

impl From<caps::Capability> for Capability {
    fn from(c: caps::Capability) -> Capability {
        Capability(c.index())
    }
}

impl TryFrom<Capability> for caps::Capability {
    type Error = Error;
    /// Fails for numbers the `caps` crate has no variant for.
    fn try_from(c: Capability) -> Result<caps::Capability> {
        caps::all()
            .into_iter()
            .find(|k| k.index() == c.0)
            .ok_or(Error::OutOfRange { index: c.0 as u32 })
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Capability {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Capability {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_in_every_spelling() {
        for i in 0..NAMES.len() as u32 {
            let c = Capability::from_index(i).unwrap();
            let name = c.to_string();
            assert_eq!(name.parse::<Capability>().unwrap(), c);
            assert_eq!(name[4..].to_lowercase().parse::<Capability>().unwrap(), c);
        }
        assert_eq!(
            "CAP_41".parse::<Capability>().unwrap().to_string(),
            "CAP_41"
        );
        assert!("CAP_64".parse::<Capability>().is_err());
        assert!("net_admn".parse::<Capability>().is_err());
    }

    #[test]
    fn interop_with_the_caps_crate() {
        for c in caps::all() {
            let ours = Capability::from(c);
            assert_eq!(ours.to_string(), c.to_string());
            assert_eq!(caps::Capability::try_from(ours).unwrap(), c);
        }
    }
}
