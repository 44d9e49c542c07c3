//! Device access rules: the OCI runtime spec's `linux.resources.devices`.
//!
//! A rule list is ordered and later rules override earlier ones. Each rule
//! allows or denies `r`ead, `w`rite and/or `m`knod of the devices of one
//! type (`a` all, `b` block, `c` char) and one major:minor, where `*` (or
//! `None`) is any number. The list collapses to one *policy* — a default
//! (allow or deny every device) plus exceptions — the way the kernel's v1
//! `devices` controller stores it, and the same policy is put in force on
//! every layout:
//!
//! - cgroup v1: `devices.deny` / `devices.allow` writes that move the
//!   group's current `devices.list` to the policy without ever passing
//!   through "everything allowed" when the policy denies by default
//!   (runc's transition idea);
//! - cgroup2 (and the cgroup2 tree of a hybrid host, where the kernel
//!   consults both): a `BPF_PROG_TYPE_CGROUP_DEVICE` program built from the
//!   policy ([`DeviceProgram`]), attached with `BPF_F_ALLOW_MULTI`; an update
//!   attaches the new program before detaching the old one, so while both
//!   are attached an access needs both to allow it.
//!
//! Two orders the kernel's v1 list cannot express are refused up front
//! with [`Error::InvalidValue`] (as runc does), on every layout, so that a
//! list means the same everywhere: denying part of an earlier wildcard
//! allow (`c *:* m` then deny `c 1:3 m`), and allowing part of an earlier
//! wildcard deny when the default is allow. Deny everything first, then
//! allow what is needed.
//!
//! ```
//! use palisade_cgroup::{DeviceAccess, DeviceRule, DeviceType};
//! let mut rules = DeviceRule::docker_default();
//! rules.push(DeviceRule::parse(true, "c 10:229 rw")?); // /dev/fuse
//! assert_eq!(rules[0].to_string(), "a *:* rwm");
//! assert!(!rules[0].allow);
//! let tun = DeviceRule::allow(DeviceType::Char, Some(10), Some(200), DeviceAccess::all());
//! assert!(rules.contains(&tun));
//! # Ok::<(), palisade_cgroup::Error>(())
//! ```

pub(crate) mod bpf;
pub(crate) mod policy;

use std::fmt;

use crate::{Error, Result};

pub use bpf::{BpfInsn, DeviceProgram, PROGRAM_NAME, program_exists};

/// Largest major number a Linux `dev_t` holds (12 bits).
pub const MAX_MAJOR: u32 = (1 << 12) - 1;
/// Largest minor number a Linux `dev_t` holds (20 bits).
pub const MAX_MINOR: u32 = (1 << 20) - 1;

/// Which devices a rule covers: the first field of `devices.allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceType {
    /// `a`: block and char devices.
    All,
    /// `b`: block devices.
    Block,
    /// `c`: character devices.
    Char,
}

impl DeviceType {
    /// The letter the kernel and the OCI spec use.
    ///
    /// ```
    /// assert_eq!(palisade_cgroup::DeviceType::Block.letter(), 'b');
    /// ```
    pub const fn letter(self) -> char {
        match self {
            DeviceType::All => 'a',
            DeviceType::Block => 'b',
            DeviceType::Char => 'c',
        }
    }

    /// Parses `a`, `b` or `c`.
    ///
    /// ```
    /// use palisade_cgroup::DeviceType;
    /// assert_eq!(DeviceType::from_letter("c")?, DeviceType::Char);
    /// assert!(DeviceType::from_letter("p").is_err());
    /// # Ok::<(), palisade_cgroup::Error>(())
    /// ```
    pub fn from_letter(s: &str) -> Result<DeviceType> {
        match s {
            "a" => Ok(DeviceType::All),
            "b" => Ok(DeviceType::Block),
            "c" => Ok(DeviceType::Char),
            _ => Err(Error::InvalidValue {
                field: "device type",
                value: s.to_owned(),
                reason: "a (all), b (block) or c (char)",
            }),
        }
    }
}

bitflags::bitflags! {
    /// What a rule allows or denies: the third field of `devices.allow`.
    /// The bit values are the kernel's (`ACC_MKNOD`, `ACC_READ`,
    /// `ACC_WRITE`, the same as `BPF_DEVCG_ACC_*`).
    ///
    /// ```
    /// use palisade_cgroup::DeviceAccess;
    /// let a = DeviceAccess::parse("rw")?;
    /// assert_eq!(a, DeviceAccess::READ | DeviceAccess::WRITE);
    /// assert_eq!(a.to_string(), "rw");
    /// assert!(DeviceAccess::parse("x").is_err());
    /// # Ok::<(), palisade_cgroup::Error>(())
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct DeviceAccess: u8 {
        /// `m`: create the node with `mknod(2)`.
        const MKNOD = 1;
        /// `r`: open for reading.
        const READ = 2;
        /// `w`: open for writing.
        const WRITE = 4;
    }
}

impl DeviceAccess {
    /// Parses a non-empty combination of `r`, `w`, `m`.
    pub fn parse(s: &str) -> Result<DeviceAccess> {
        let bad = || Error::InvalidValue {
            field: "device access",
            value: s.to_owned(),
            reason: "a non-empty combination of r, w, m",
        };
        if s.is_empty() {
            return Err(bad());
        }
        let mut access = DeviceAccess::empty();
        for c in s.chars() {
            access |= match c {
                'r' => DeviceAccess::READ,
                'w' => DeviceAccess::WRITE,
                'm' => DeviceAccess::MKNOD,
                _ => return Err(bad()),
            };
        }
        Ok(access)
    }
}

impl fmt::Display for DeviceAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, c) in [
            (DeviceAccess::READ, 'r'),
            (DeviceAccess::WRITE, 'w'),
            (DeviceAccess::MKNOD, 'm'),
        ] {
            if self.contains(bit) {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// One entry of the OCI `linux.resources.devices` list.
///
/// Printed (`Display`) and parsed ([`DeviceRule::parse`]) in the text form
/// of the kernel's `devices.allow` / `devices.deny` files: `c 1:3 rwm`,
/// `b 8:* r`, `a *:* rwm`. `allow` decides which of the two files.
///
/// ```
/// use palisade_cgroup::{DeviceAccess, DeviceRule, DeviceType};
/// let r = DeviceRule::parse(false, "b 8:* rw")?;
/// assert_eq!(r, DeviceRule::deny(DeviceType::Block, Some(8), None,
///                                DeviceAccess::READ | DeviceAccess::WRITE));
/// assert_eq!(r.to_string(), "b 8:* rw");
/// # Ok::<(), palisade_cgroup::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceRule {
    /// Allow (`true`) or deny.
    pub allow: bool,
    /// Device type.
    pub kind: DeviceType,
    /// Major number, 0..=[`MAX_MAJOR`]; `None` = any (`*`).
    pub major: Option<u32>,
    /// Minor number, 0..=[`MAX_MINOR`]; `None` = any (`*`).
    pub minor: Option<u32>,
    /// Accesses allowed or denied; never empty.
    pub access: DeviceAccess,
}

impl DeviceRule {
    /// An allow rule.
    pub const fn allow(
        kind: DeviceType,
        major: Option<u32>,
        minor: Option<u32>,
        access: DeviceAccess,
    ) -> DeviceRule {
        DeviceRule {
            allow: true,
            kind,
            major,
            minor,
            access,
        }
    }

    /// A deny rule.
    pub const fn deny(
        kind: DeviceType,
        major: Option<u32>,
        minor: Option<u32>,
        access: DeviceAccess,
    ) -> DeviceRule {
        DeviceRule {
            allow: false,
            kind,
            major,
            minor,
            access,
        }
    }

    /// `a *:* rwm`, allowed: every device (a privileged container).
    ///
    /// ```
    /// assert_eq!(palisade_cgroup::DeviceRule::allow_all().to_string(), "a *:* rwm");
    /// ```
    pub const fn allow_all() -> DeviceRule {
        DeviceRule::allow(DeviceType::All, None, None, DeviceAccess::all())
    }

    /// `a *:* rwm`, denied: no device at all; put it first and allow what
    /// is needed after it.
    pub const fn deny_all() -> DeviceRule {
        DeviceRule::deny(DeviceType::All, None, None, DeviceAccess::all())
    }

    /// The list `docker run` puts in force (runc's default allowed
    /// devices after a deny-all): deny everything; `mknod` of any char
    /// and block device; read, write and mknod of `/dev/null` (1:3),
    /// `/dev/zero` (1:5), `/dev/full` (1:7), `/dev/random` (1:8),
    /// `/dev/urandom` (1:9), `/dev/tty` (5:0), `/dev/console` (5:1),
    /// `/dev/ptmx` (5:2), the pts range (136:*) and `/dev/net/tun` (10:200).
    ///
    /// ```
    /// let rules = palisade_cgroup::DeviceRule::docker_default();
    /// let text: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
    /// assert_eq!(text[..3], ["a *:* rwm", "c *:* m", "b *:* m"]);
    /// assert_eq!(rules.len(), 13);
    /// ```
    pub fn docker_default() -> Vec<DeviceRule> {
        let rwm = DeviceAccess::all();
        let c = |major, minor: Option<u32>| {
            DeviceRule::allow(DeviceType::Char, Some(major), minor, rwm)
        };
        vec![
            DeviceRule::deny_all(),
            DeviceRule::allow(DeviceType::Char, None, None, DeviceAccess::MKNOD),
            DeviceRule::allow(DeviceType::Block, None, None, DeviceAccess::MKNOD),
            c(1, Some(3)),    // /dev/null
            c(1, Some(5)),    // /dev/zero
            c(1, Some(7)),    // /dev/full
            c(1, Some(8)),    // /dev/random
            c(1, Some(9)),    // /dev/urandom
            c(5, Some(0)),    // /dev/tty
            c(5, Some(1)),    // /dev/console
            c(5, Some(2)),    // /dev/ptmx
            c(136, None),     // /dev/pts/*
            c(10, Some(200)), // /dev/net/tun
        ]
    }

    /// Parses the `devices.allow` text form `TYPE MAJOR:MINOR ACCESS`
    /// (`c 1:3 rwm`, `b 8:* r`, `a *:* rwm`; a lone `a` is `a *:* rwm`, as
    /// the kernel reads it). Errors are [`Error::InvalidValue`] with field
    /// `device rule` (malformed), `device type`, `device major`,
    /// `device minor` (out of range) or `device access`; nothing touches
    /// the kernel.
    pub fn parse(allow: bool, text: &str) -> Result<DeviceRule> {
        let malformed = || Error::InvalidValue {
            field: "device rule",
            value: text.to_owned(),
            reason: "expected `TYPE MAJOR:MINOR ACCESS`, like `c 1:3 rwm` or `b 8:* r`",
        };
        let mut fields = text.split_ascii_whitespace();
        let kind = DeviceType::from_letter(fields.next().ok_or_else(malformed)?)?;
        let Some(numbers) = fields.next() else {
            if kind == DeviceType::All {
                return Ok(DeviceRule {
                    allow,
                    ..DeviceRule::allow_all()
                });
            }
            return Err(malformed());
        };
        let (major, minor) = numbers.split_once(':').ok_or_else(malformed)?;
        let access = DeviceAccess::parse(fields.next().ok_or_else(malformed)?)?;
        if fields.next().is_some() {
            return Err(malformed());
        }
        let rule = DeviceRule {
            allow,
            kind,
            major: parse_number("device major", major, MAX_MAJOR)?,
            minor: parse_number("device minor", minor, MAX_MINOR)?,
            access,
        };
        Ok(rule)
    }

    /// Checks a rule built by hand: numbers within what a `dev_t` holds,
    /// access not empty. [`Resources::validate`](crate::Resources::validate)
    /// calls it for every rule.
    ///
    /// ```
    /// use palisade_cgroup::{DeviceAccess, DeviceRule, DeviceType};
    /// let r = DeviceRule::allow(DeviceType::Char, Some(5000), None, DeviceAccess::READ);
    /// assert!(r.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        let range = |field, v: Option<u32>, max: u32, reason| match v {
            Some(v) if v > max => Err(Error::InvalidValue {
                field,
                value: v.to_string(),
                reason,
            }),
            _ => Ok(()),
        };
        range("device major", self.major, MAX_MAJOR, "0..=4095 or *")?;
        range("device minor", self.minor, MAX_MINOR, "0..=1048575 or *")?;
        if self.access.is_empty() {
            return Err(Error::InvalidValue {
                field: "device access",
                value: String::new(),
                reason: "a non-empty combination of r, w, m",
            });
        }
        Ok(())
    }

    /// `a *:* rwm`: resets the policy to allow or deny everything.
    pub(crate) fn is_reset(&self) -> bool {
        self.kind == DeviceType::All
            && self.major.is_none()
            && self.minor.is_none()
            && self.access == DeviceAccess::all()
    }
}

fn parse_number(field: &'static str, s: &str, max: u32) -> Result<Option<u32>> {
    if s == "*" {
        return Ok(None);
    }
    let bad = |reason| Error::InvalidValue {
        field,
        value: s.to_owned(),
        reason,
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("a decimal number or *"));
    }
    match s.parse::<u32>() {
        Ok(v) if v <= max => Ok(Some(v)),
        _ if max == MAX_MAJOR => Err(bad("0..=4095 or *")),
        _ => Err(bad("0..=1048575 or *")),
    }
}

impl fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |v: Option<u32>| v.map_or_else(|| "*".to_owned(), |v| v.to_string());
        write!(
            f,
            "{} {}:{} {}",
            self.kind.letter(),
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

/// The device rules in force on a group, read back from the kernel
/// ([`Cgroup::devices_in_force`](crate::Cgroup::devices_in_force)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicesInForce {
    /// The v1 `devices.list` (allow entries; `a *:* rwm` alone means the
    /// group allows every device), or `None` without a v1 devices
    /// directory.
    pub v1: Option<Vec<DeviceRule>>,
    /// Ids of the `BPF_CGROUP_DEVICE` programs attached to the group's
    /// cgroup2 directory (`BPF_PROG_QUERY`; compare with `bpftool prog`),
    /// or `None` without a cgroup2 directory.
    pub v2_programs: Option<Vec<u32>>,
}

/// Whether `rules` (OCI semantics, collapsed as for the kernel) let a task
/// have `access` to device `kind` `major:minor` — the verdict the v1
/// controller and the cgroup2 program give. Errors as
/// [`DeviceProgram::build`].
///
/// ```
/// use palisade_cgroup::{DeviceAccess, DeviceRule, DeviceType, devices::allows};
/// let rules = DeviceRule::docker_default();
/// assert!(allows(&rules, DeviceType::Char, 1, 3, DeviceAccess::WRITE)?);
/// assert!(!allows(&rules, DeviceType::Char, 1, 11, DeviceAccess::READ)?);
/// # Ok::<(), palisade_cgroup::Error>(())
/// ```
pub fn allows(
    rules: &[DeviceRule],
    kind: DeviceType,
    major: u32,
    minor: u32,
    access: DeviceAccess,
) -> Result<bool> {
    Ok(policy::Policy::from_rules(rules)?.allows(kind, major, minor, access))
}

/// Parses a v1 `devices.list` (one allow rule per line).
///
/// ```
/// let rules = palisade_cgroup::parse_devices_list("c 1:3 rwm\nc 136:* rwm\n")?;
/// assert_eq!(rules.len(), 2);
/// assert_eq!(rules[1].minor, None);
/// # Ok::<(), palisade_cgroup::Error>(())
/// ```
pub fn parse_devices_list(text: &str) -> Result<Vec<DeviceRule>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| DeviceRule::parse(true, l))
        .collect()
}

#[cfg(feature = "serde")]
mod serde_impl {
    //! The OCI JSON form: `{"allow": true, "type": "c", "major": 1,
    //! "minor": 3, "access": "rwm"}`; `type` defaults to `a`, `access` to
    //! `rwm`, a missing (or -1) major/minor is `*`.
    use super::*;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Oci {
        allow: bool,
        #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        major: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        minor: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access: Option<String>,
    }

    impl Serialize for DeviceRule {
        fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            Oci {
                allow: self.allow,
                kind: Some(self.kind.letter().to_string()),
                major: self.major.map(i64::from),
                minor: self.minor.map(i64::from),
                access: Some(self.access.to_string()),
            }
            .serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for DeviceRule {
        fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            use serde::de::Error as _;
            let oci = Oci::deserialize(d)?;
            let number = |field, v: Option<i64>, max: u32| match v {
                None | Some(-1) => Ok(None),
                Some(v) => u32::try_from(v)
                    .ok()
                    .filter(|v| *v <= max)
                    .map(Some)
                    .ok_or_else(|| D::Error::custom(format!("{field} {v} out of range 0..={max}"))),
            };
            let rule = DeviceRule {
                allow: oci.allow,
                kind: match oci.kind.as_deref() {
                    None => DeviceType::All,
                    Some(k) => DeviceType::from_letter(k).map_err(D::Error::custom)?,
                },
                major: number("device major", oci.major, MAX_MAJOR)?,
                minor: number("device minor", oci.minor, MAX_MINOR)?,
                access: match oci.access.as_deref() {
                    None => DeviceAccess::all(),
                    Some(a) => DeviceAccess::parse(a).map_err(D::Error::custom)?,
                },
            };
            Ok(rule)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        for text in [
            "c 1:3 rwm",
            "a *:* rwm",
            "b 8:* r",
            "c *:5 wm",
            "b 4095:1048575 m",
        ] {
            let r = DeviceRule::parse(true, text).unwrap();
            assert_eq!(r.to_string(), text);
            assert_eq!(DeviceRule::parse(true, &r.to_string()).unwrap(), r);
        }
        assert_eq!(
            DeviceRule::parse(false, "a").unwrap(),
            DeviceRule::deny_all()
        );
        assert_eq!(
            DeviceRule::parse(true, "  c\t1:3   mr ")
                .unwrap()
                .to_string(),
            "c 1:3 rm"
        );
    }

    #[test]
    fn bad_text_gets_the_error_naming_the_field() {
        let field = |text: &str| match DeviceRule::parse(true, text) {
            Err(Error::InvalidValue { field, .. }) => field,
            other => panic!("{text:?}: {other:?}"),
        };
        assert_eq!(field(""), "device rule");
        assert_eq!(field("c"), "device rule");
        assert_eq!(field("c 1 rwm"), "device rule");
        assert_eq!(field("c 1:3"), "device rule");
        assert_eq!(field("c 1:3 rwm x"), "device rule");
        assert_eq!(field("x 1:3 rwm"), "device type");
        assert_eq!(field("cc 1:3 rwm"), "device type");
        assert_eq!(field("c 4096:0 r"), "device major");
        assert_eq!(field("c -1:0 r"), "device major");
        assert_eq!(field("c 99999999999:0 r"), "device major");
        assert_eq!(field("c 1:1048576 r"), "device minor");
        assert_eq!(field("c 1:+3 r"), "device minor");
        assert_eq!(field("c 1:3 rx"), "device access");
        assert_eq!(field("c 1:3 R"), "device access");
    }

    #[test]
    fn docker_default_matches_runc_allowed_devices() {
        let text: Vec<String> = DeviceRule::docker_default()
            .iter()
            .map(|r| format!("{} {r}", if r.allow { "allow" } else { "deny" }))
            .collect();
        assert_eq!(
            text,
            [
                "deny a *:* rwm",
                "allow c *:* m",
                "allow b *:* m",
                "allow c 1:3 rwm",
                "allow c 1:5 rwm",
                "allow c 1:7 rwm",
                "allow c 1:8 rwm",
                "allow c 1:9 rwm",
                "allow c 5:0 rwm",
                "allow c 5:1 rwm",
                "allow c 5:2 rwm",
                "allow c 136:* rwm",
                "allow c 10:200 rwm",
            ]
        );
    }

    #[test]
    fn hand_built_rules_are_validated() {
        let mut r = DeviceRule::allow(DeviceType::Char, Some(1), Some(3), DeviceAccess::READ);
        assert!(r.validate().is_ok());
        r.access = DeviceAccess::empty();
        assert!(r.validate().is_err());
        r.access = DeviceAccess::READ;
        r.minor = Some(MAX_MINOR + 1);
        assert!(r.validate().is_err());
    }
}
