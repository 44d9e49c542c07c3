//! OCI `linux.seccomp` profiles (runtime-spec `LinuxSeccomp`) and Docker's
//! profile format, in and out with serde.

use crate::action::Action;
use crate::arch::Arch;
use crate::error::{Error, Result};
use crate::filter::{CmpOp, Condition, Filter, Rule};
use crate::install::InstallFlags;
use palisade_caps::{CapSet, Capability};
use serde::{Deserialize, Serialize};

/// A seccomp profile as JSON carries it: the OCI runtime spec's
/// `linux.seccomp` object, plus the fields Docker's and Podman's profile
/// files add (`archMap`, `includes`/`excludes`, `comment`, the old
/// single-`name` form), so those files load unchanged.
///
/// A Docker-format profile is first resolved for a container with
/// [`resolve`](Profile::resolve) (as the Docker daemon does), then turned
/// into a [`Filter`] with [`to_filter`](Profile::to_filter).
///
/// ```
/// use palisade_seccomp::Profile;
/// let p = Profile::from_json(r#"{
///     "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
///     "architectures": ["SCMP_ARCH_X86_64"],
///     "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]
/// }"#)?;
/// let filter = p.to_filter()?;
/// assert_eq!(filter.rules.len(), 2);
/// let back = Profile::from_json(&p.to_json())?;
/// assert_eq!(back, p);
/// # Ok::<(), palisade_seccomp::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// `SCMP_ACT_*` for calls no rule matches.
    pub default_action: String,
    /// errno for `SCMP_ACT_ERRNO` / message for `SCMP_ACT_TRACE`
    /// (default EPERM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// `SCMP_ARCH_*` names.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub architectures: Vec<String>,
    /// Docker: per native architecture, the sub-architectures to add.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub arch_map: Vec<ArchMap>,
    /// `SECCOMP_FILTER_FLAG_*` names.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub flags: Vec<String>,
    /// Unix socket the runtime sends the notify listener fd to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
    /// Opaque data sent with the listener fd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_metadata: Option<String>,
    /// The rules.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub syscalls: Vec<Syscalls>,
}

/// Docker's `archMap` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    /// The native architecture this entry applies to.
    pub architecture: String,
    /// Architectures added beside it.
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

/// One `syscalls[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Syscalls {
    /// System call names.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub names: Vec<String>,
    /// Docker's old single-name form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `SCMP_ACT_*`.
    pub action: String,
    /// errno for `SCMP_ACT_ERRNO` (default EPERM) or trace message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Argument conditions (all must hold).
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub args: Vec<Arg>,
    /// Docker: free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Docker: apply only when all of these hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Condset>,
    /// Docker: skip when any of these holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<Condset>,
}

/// One argument condition.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    /// Argument index, 0..=5.
    pub index: u32,
    /// The value; the mask for `SCMP_CMP_MASKED_EQ`.
    pub value: u64,
    /// The datum for `SCMP_CMP_MASKED_EQ` (arg & value == valueTwo).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub value_two: u64,
    /// `SCMP_CMP_*`.
    pub op: String,
}

/// Go writes a nil slice as `null`; Docker's and Podman's files have them.
fn null_as_empty<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Docker's `includes` / `excludes`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condset {
    /// Go architecture names (`amd64`, `arm64`, ...).
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub arches: Vec<String>,
    /// Capability names (`CAP_SYS_ADMIN`).
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub caps: Vec<String>,
    /// Kernel version (`4.8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

fn cmp_op(op: &str, value: u64, value_two: u64, entry: &str) -> Result<(CmpOp, u64)> {
    Ok(match op {
        "SCMP_CMP_EQ" => (CmpOp::Eq, value),
        "SCMP_CMP_NE" => (CmpOp::Ne, value),
        "SCMP_CMP_LT" => (CmpOp::Lt, value),
        "SCMP_CMP_LE" => (CmpOp::Le, value),
        "SCMP_CMP_GT" => (CmpOp::Gt, value),
        "SCMP_CMP_GE" => (CmpOp::Ge, value),
        "SCMP_CMP_MASKED_EQ" => (CmpOp::MaskedEq(value), value_two),
        _ => {
            return Err(Error::UnknownOp {
                entry: entry.to_owned(),
                op: op.to_owned(),
            });
        }
    })
}

/// A kernel version `major.minor` compared as Docker does.
fn parse_kernel(v: &str) -> Option<(u32, u32)> {
    let mut it = v.split(['.', '-', '+']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

/// The running kernel's `major.minor` from `uname(2)`.
pub(crate) fn running_kernel() -> (u32, u32) {
    nix::sys::utsname::uname()
        .ok()
        .and_then(|u| parse_kernel(&u.release().to_string_lossy()))
        .unwrap_or((0, 0))
}

impl Profile {
    /// Parses a profile (OCI or Docker format).
    ///
    /// # Errors
    /// [`Error::Json`] with serde's line and column for malformed JSON or a
    /// field of the wrong type.
    pub fn from_json(json: &str) -> Result<Profile> {
        Ok(serde_json::from_str(json)?)
    }

    /// Reads the `linux.seccomp` object of an OCI `config.json`.
    /// `Ok(None)` when the config has none.
    ///
    /// # Errors
    /// [`Error::Json`] as for [`from_json`](Profile::from_json).
    pub fn from_oci_config(config_json: &str) -> Result<Option<Profile>> {
        #[derive(Deserialize)]
        struct Config {
            linux: Option<Linux>,
        }
        #[derive(Deserialize)]
        struct Linux {
            seccomp: Option<Profile>,
        }
        let c: Config = serde_json::from_str(config_json)?;
        Ok(c.linux.and_then(|l| l.seccomp))
    }

    /// Serialises in the OCI format (Docker's extra fields only when set).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a Profile always serialises")
    }

    /// Resolves Docker's format for a container on `arch` (usually
    /// [`Arch::native`]) with capabilities `caps` and kernel `kernel`
    /// (`major.minor`), as the Docker daemon does (moby
    /// `profiles/seccomp`): `architectures` from the `archMap` entry of
    /// `arch`, entries dropped unless all their `includes` hold (every
    /// listed cap held, `arch` listed, kernel at least `minKernel`), and
    /// dropped when any `excludes` holds; `name` folded into `names`. The
    /// result is a plain OCI profile. A profile without Docker's fields
    /// comes back unchanged.
    ///
    /// # Errors
    /// [`Error::Invalid`] for `architectures` beside `archMap`, both `name`
    /// and `names` in an entry, or an unparsable `minKernel`.
    pub fn resolve(&self, arch: Arch, caps: &CapSet, kernel: (u32, u32)) -> Result<Profile> {
        let mut out = self.clone();
        if !self.arch_map.is_empty() {
            if !self.architectures.is_empty() {
                return Err(Error::invalid(
                    "architectures",
                    "both architectures and archMap are set",
                ));
            }
            out.arch_map.clear();
            if let Some(m) = self
                .arch_map
                .iter()
                .find(|m| m.architecture == arch.oci_name())
            {
                out.architectures.push(m.architecture.clone());
                out.architectures
                    .extend(m.sub_architectures.iter().flatten().cloned());
            }
        }
        let holds_cap = |name: &str| name.parse::<Capability>().is_ok_and(|c| caps.contains(c));
        let min_kernel = |v: &Option<String>, entry: &str| -> Result<Option<(u32, u32)>> {
            v.as_deref()
                .map(|s| {
                    parse_kernel(s).ok_or_else(|| {
                        Error::invalid(entry, format!("minKernel {s:?} is not a kernel version"))
                    })
                })
                .transpose()
        };
        out.syscalls.clear();
        for (i, s) in self.syscalls.iter().enumerate() {
            let entry = format!("syscalls[{i}]");
            if let Some(ex) = &s.excludes {
                if ex.arches.iter().any(|a| a == arch.go_name())
                    || ex.caps.iter().any(|c| holds_cap(c))
                    || min_kernel(&ex.min_kernel, &entry)?.is_some_and(|m| kernel >= m)
                {
                    continue;
                }
            }
            if let Some(inc) = &s.includes {
                if (!inc.arches.is_empty() && !inc.arches.iter().any(|a| a == arch.go_name()))
                    || !inc.caps.iter().all(|c| holds_cap(c))
                    || min_kernel(&inc.min_kernel, &entry)?.is_some_and(|m| kernel < m)
                {
                    continue;
                }
            }
            let mut s = s.clone();
            if let Some(name) = s.name.take() {
                if !s.names.is_empty() {
                    return Err(Error::invalid(entry, "both name and names are set"));
                }
                s.names.push(name);
            }
            s.includes = None;
            s.excludes = None;
            out.syscalls.push(s);
        }
        Ok(out)
    }

    /// Translates to a typed [`Filter`]. Names are optional (skipped when
    /// libseccomp does not know them, as runc and crun do, because profiles
    /// list calls newer than some hosts); an empty `architectures` means the
    /// native one. Docker's fields must have been resolved first.
    ///
    /// # Errors
    /// Typed errors naming the entry (`syscalls[3].args[0]`): unknown
    /// action, operator, architecture or flag; `errnoRet` above 4094;
    /// argument index above 5; an entry without names; unresolved Docker
    /// fields.
    pub fn to_filter(&self) -> Result<Filter> {
        let default = Action::parse(
            &self.default_action,
            self.default_errno_ret,
            "defaultAction",
        )?;
        let mut f = Filter::new(default);
        if !self.arch_map.is_empty() {
            return Err(Error::invalid(
                "archMap",
                "Docker profile not resolved (call Profile::resolve first)",
            ));
        }
        if !self.architectures.is_empty() {
            f.architectures = self
                .architectures
                .iter()
                .map(|a| Arch::from_oci(a))
                .collect::<Result<_>>()?;
            f.architectures.dedup();
        }
        for flag in &self.flags {
            f.flags |= InstallFlags::from_oci(flag)?;
        }
        for (i, s) in self.syscalls.iter().enumerate() {
            let entry = format!("syscalls[{i}]");
            if s.includes.is_some() || s.excludes.is_some() {
                return Err(Error::invalid(
                    entry,
                    "Docker includes/excludes not resolved (call Profile::resolve first)",
                ));
            }
            let action = Action::parse(&s.action, s.errno_ret, &entry)?;
            let mut conditions = Vec::with_capacity(s.args.len());
            for (j, a) in s.args.iter().enumerate() {
                let entry = format!("{entry}.args[{j}]");
                let (op, value) = cmp_op(&a.op, a.value, a.value_two, &entry)?;
                let index = u8::try_from(a.index)
                    .ok()
                    .filter(|i| *i <= 5)
                    .ok_or_else(|| {
                        Error::invalid(&entry, format!("argument index {} is above 5", a.index))
                    })?;
                conditions.push(Condition::new(index, op, value));
            }
            let names: Vec<&String> = s.names.iter().chain(s.name.as_ref()).collect();
            if names.is_empty() {
                return Err(Error::invalid(entry, "no syscall names"));
            }
            for n in names {
                f.rules.push(Rule {
                    syscall: n.clone(),
                    action,
                    conditions: conditions.clone(),
                    optional: true,
                });
            }
        }
        Ok(f)
    }

    /// The OCI profile for a typed filter (one entry per rule).
    pub fn from_filter(f: &Filter) -> Profile {
        Profile {
            default_action: f.default_action.oci_name().to_owned(),
            default_errno_ret: f.default_action.oci_errno_ret(),
            architectures: f
                .architectures
                .iter()
                .map(|a| a.oci_name().to_owned())
                .collect(),
            flags: f.flags.oci_names().into_iter().map(str::to_owned).collect(),
            syscalls: f
                .rules
                .iter()
                .map(|r| Syscalls {
                    names: vec![r.syscall.clone()],
                    action: r.action.oci_name().to_owned(),
                    errno_ret: r.action.oci_errno_ret(),
                    args: r
                        .conditions
                        .iter()
                        .map(|c| match c.op {
                            CmpOp::MaskedEq(mask) => Arg {
                                index: c.index.into(),
                                value: mask,
                                value_two: c.value,
                                op: c.op.oci_name().to_owned(),
                            },
                            _ => Arg {
                                index: c.index.into(),
                                value: c.value,
                                value_two: 0,
                                op: c.op.oci_name().to_owned(),
                            },
                        })
                        .collect(),
                    ..Syscalls::default()
                })
                .collect(),
            ..Profile::default()
        }
    }

    /// Docker's default profile in Docker's own format (with `archMap` and
    /// capability-dependent `includes`/`excludes`), as embedded in this
    /// crate. Most callers want [`docker_default`](Profile::docker_default).
    pub fn docker_template() -> Profile {
        Profile::from_json(include_str!("docker_default.json"))
            .expect("the embedded Docker profile parses (tested)")
    }

    /// What `docker run` applies: Docker's default profile resolved for the
    /// native architecture, the running kernel and a container holding
    /// `caps` (e.g. `CapSet::docker_default()`; `CAP_SYS_ADMIN` opens
    /// `mount`, `unshare`, `setns`, ...; `CAP_SYS_BOOT` opens `reboot`).
    /// Default action `ERRNO(EPERM)`; on x86_64 the i386 and x32 ABIs are
    /// filtered too.
    ///
    /// ```
    /// use palisade_caps::CapSet;
    /// use palisade_seccomp::Profile;
    /// let filter = Profile::docker_default(&CapSet::docker_default()).to_filter()?;
    /// assert!(filter.rules.iter().any(|r| r.syscall == "read"));
    /// assert!(!filter.rules.iter().any(|r| r.syscall == "mount"));
    /// # Ok::<(), palisade_seccomp::Error>(())
    /// ```
    pub fn docker_default(caps: &CapSet) -> Profile {
        Profile::docker_template()
            .resolve(Arch::native(), caps, running_kernel())
            .expect("the embedded Docker profile resolves (tested)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel("6.18.44-fc-v1045"), Some((6, 18)));
        assert_eq!(parse_kernel("5"), Some((5, 0)));
        assert_eq!(parse_kernel("x.1"), None);
    }

    #[test]
    fn docker_template_parses_and_resolves() {
        let t = Profile::docker_template();
        assert_eq!(t.default_action, "SCMP_ACT_ERRNO");
        let p = t
            .resolve(Arch::X86_64, &CapSet::docker_default(), (6, 1))
            .unwrap();
        assert_eq!(
            p.architectures,
            ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        );
        let names: Vec<&str> = p
            .syscalls
            .iter()
            .flat_map(|s| s.names.iter().map(String::as_str))
            .collect();
        assert!(names.contains(&"arch_prctl"));
        assert!(names.contains(&"ptrace")); // minKernel 4.8
        assert!(!names.contains(&"mount"));
        assert!(!names.contains(&"riscv_flush_icache"));
        let admin = t
            .resolve(
                Arch::X86_64,
                &CapSet::docker_default()
                    .tweak(&["CAP_SYS_ADMIN"], &[])
                    .unwrap(),
                (6, 1),
            )
            .unwrap();
        let admin_names: Vec<&str> = admin
            .syscalls
            .iter()
            .flat_map(|s| s.names.iter().map(String::as_str))
            .collect();
        assert!(admin_names.contains(&"mount"));
        // The clone3 → ENOSYS entry is excluded with CAP_SYS_ADMIN.
        assert!(!admin.syscalls.iter().any(|s| s.errno_ret == Some(38)));
    }
}
