//! Sets of capabilities as the kernel's 64-bit masks.

use std::fmt;
use std::ops::{BitAnd, BitOr, Not, Sub};
use std::str::FromStr;

use crate::{Capability, Error, Result};

/// A set of capabilities: a `u64` mask that keeps bits this library has no
/// name for.
///
/// ```
/// use palisade_caps::{CapSet, Capability};
/// let set: CapSet = "CAP_NET_ADMIN, net_raw".parse()?;
/// assert!(set.contains(Capability::NET_RAW));
/// assert_eq!(set.to_string(), "CAP_NET_ADMIN,CAP_NET_RAW");
/// assert_eq!(CapSet::docker_default().mask(), 0xa80425fb);
/// assert_eq!("00000000a80425fb".parse::<CapSet>()?, CapSet::docker_default());
/// # Ok::<(), palisade_caps::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CapSet(u64);

impl CapSet {
    /// No capability.
    pub const EMPTY: CapSet = CapSet(0);

    /// From a raw mask.
    pub const fn from_mask(mask: u64) -> CapSet {
        CapSet(mask)
    }

    /// The raw mask.
    pub const fn mask(self) -> u64 {
        self.0
    }

    /// Every capability of the running kernel (0..=cap_last_cap).
    pub fn all_supported() -> CapSet {
        let last = Capability::last().index();
        CapSet(if last >= 63 {
            u64::MAX
        } else {
            (1u64 << (last + 1)) - 1
        })
    }

    /// Docker's default set (14): `CapEff 00000000a80425fb`.
    pub const fn docker_default() -> CapSet {
        CapSet::of(&[
            Capability::CHOWN,
            Capability::DAC_OVERRIDE,
            Capability::FSETID,
            Capability::FOWNER,
            Capability::MKNOD,
            Capability::NET_RAW,
            Capability::SETGID,
            Capability::SETUID,
            Capability::SETFCAP,
            Capability::SETPCAP,
            Capability::NET_BIND_SERVICE,
            Capability::SYS_CHROOT,
            Capability::KILL,
            Capability::AUDIT_WRITE,
        ])
    }

    /// Podman's default set (11).
    pub const fn podman_default() -> CapSet {
        CapSet::of(&[
            Capability::CHOWN,
            Capability::DAC_OVERRIDE,
            Capability::FOWNER,
            Capability::FSETID,
            Capability::KILL,
            Capability::NET_BIND_SERVICE,
            Capability::SETFCAP,
            Capability::SETGID,
            Capability::SETPCAP,
            Capability::SETUID,
            Capability::SYS_CHROOT,
        ])
    }

    /// CRI-O's default set (9).
    pub const fn crio_default() -> CapSet {
        CapSet::of(&[
            Capability::CHOWN,
            Capability::DAC_OVERRIDE,
            Capability::FSETID,
            Capability::FOWNER,
            Capability::SETGID,
            Capability::SETUID,
            Capability::SETPCAP,
            Capability::NET_BIND_SERVICE,
            Capability::KILL,
        ])
    }

    /// The set of the given capabilities.
    pub const fn of(caps: &[Capability]) -> CapSet {
        let mut mask = 0u64;
        let mut i = 0;
        while i < caps.len() {
            mask |= 1u64 << caps[i].0;
            i += 1;
        }
        CapSet(mask)
    }

    /// Is `cap` in the set?
    pub const fn contains(self, cap: Capability) -> bool {
        self.0 & (1u64 << cap.0) != 0
    }

    /// Adds `cap`.
    pub fn insert(&mut self, cap: Capability) {
        self.0 |= 1u64 << cap.0;
    }

    /// Removes `cap`.
    pub fn remove(&mut self, cap: Capability) {
        self.0 &= !(1u64 << cap.0);
    }

    /// Is `self` a subset of `other`?
    pub const fn is_subset(self, other: CapSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// No capability?
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of capabilities.
    pub const fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// The capabilities, lowest number first.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        (0u8..64)
            .filter(move |i| self.0 & (1u64 << i) != 0)
            .map(Capability)
    }

    /// Docker-style tweak: `--cap-add`/`--cap-drop`, where `ALL` in `drop`
    /// starts from nothing and `ALL` in `add` means every supported one;
    /// drops win over adds except for a drop of `ALL`.
    ///
    /// ```
    /// use palisade_caps::CapSet;
    /// let set = CapSet::docker_default().tweak(&["NET_ADMIN"], &["MKNOD"])?;
    /// assert!(set.contains(palisade_caps::Capability::NET_ADMIN));
    /// assert!(!set.contains(palisade_caps::Capability::MKNOD));
    /// let only = CapSet::docker_default().tweak(&["CHOWN"], &["ALL"])?;
    /// assert_eq!(only.to_string(), "CAP_CHOWN");
    /// # Ok::<(), palisade_caps::Error>(())
    /// ```
    pub fn tweak(self, add: &[&str], drop: &[&str]) -> Result<CapSet> {
        let is_all = |s: &&str| s.trim().eq_ignore_ascii_case("ALL");
        let mut set = if drop.iter().any(is_all) {
            CapSet::EMPTY
        } else {
            self
        };
        for a in add {
            set = set | a.parse::<CapSet>()?;
        }
        if !drop.iter().any(is_all) {
            for d in drop {
                set = set - d.parse::<CapSet>()?;
            }
        }
        Ok(set)
    }
}

impl BitOr for CapSet {
    type Output = CapSet;
    fn bitor(self, rhs: CapSet) -> CapSet {
        CapSet(self.0 | rhs.0)
    }
}

impl BitAnd for CapSet {
    type Output = CapSet;
    fn bitand(self, rhs: CapSet) -> CapSet {
        CapSet(self.0 & rhs.0)
    }
}

impl Sub for CapSet {
    type Output = CapSet;
    fn sub(self, rhs: CapSet) -> CapSet {
        CapSet(self.0 & !rhs.0)
    }
}

impl Not for CapSet {
    type Output = CapSet;
    /// Complement within the kernel's supported capabilities.
    fn not(self) -> CapSet {
        CapSet(!self.0 & CapSet::all_supported().0)
    }
}

impl From<Capability> for CapSet {
    fn from(c: Capability) -> CapSet {
        CapSet(1u64 << c.0)
    }
}

impl FromIterator<Capability> for CapSet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> CapSet {
        iter.into_iter().fold(CapSet::EMPTY, |s, c| s | c.into())
    }
}

impl fmt::Display for CapSet {
    /// Comma-separated canonical names, lowest number first (empty for none).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl FromStr for CapSet {
    type Err = Error;

    /// Comma/space-separated names (any spelling), `ALL` (every supported
    /// capability), `""` (empty), or a hex mask as in `/proc/<pid>/status`
    /// (`000001ffffffffff`, or with `0x`).
    fn from_str(s: &str) -> Result<CapSet> {
        let t = s.trim();
        let hex = t
            .strip_prefix("0x")
            .or_else(|| (t.len() == 16 && t.bytes().all(|b| b.is_ascii_hexdigit())).then_some(t));
        if let Some(hex) = hex {
            return u64::from_str_radix(hex, 16)
                .map(CapSet)
                .map_err(|_| Error::UnknownCapability { name: s.to_owned() });
        }
        let mut set = CapSet::EMPTY;
        for part in t.split([',', ' ']).filter(|p| !p.is_empty()) {
            if part.eq_ignore_ascii_case("ALL") {
                set = set | CapSet::all_supported();
            } else {
                set.insert(part.parse()?);
            }
        }
        Ok(set)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for CapSet {
    /// As a list of names, as OCI's `process.capabilities` lists them.
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(|c| c.to_string()))
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for CapSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        names
            .iter()
            .map(|n| n.parse::<CapSet>())
            .try_fold(CapSet::EMPTY, |acc, s| s.map(|s| acc | s))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_have_the_documented_sizes() {
        assert_eq!(CapSet::docker_default().len(), 14);
        assert_eq!(CapSet::podman_default().len(), 11);
        assert_eq!(CapSet::crio_default().len(), 9);
        assert!(CapSet::crio_default().is_subset(CapSet::docker_default()));
    }

    #[test]
    fn display_parse_round_trip_keeps_unknown_bits() {
        let set = CapSet::from_mask(0x8000_0000_0000_0001);
        let text = set.to_string();
        assert_eq!(text, "CAP_CHOWN,CAP_63");
        assert_eq!(text.parse::<CapSet>().unwrap(), set);
        assert_eq!("".parse::<CapSet>().unwrap(), CapSet::EMPTY);
        assert!("CAP_BOGUS".parse::<CapSet>().is_err());
        assert!("0xzz".parse::<CapSet>().is_err());
    }
}
