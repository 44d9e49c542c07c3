//! [`Resources`] → the properties of a systemd unit (`systemd.resource-control(5)`).

use crate::devices::{DeviceRule, DeviceType};
use crate::resources::{Resources, UNLIMITED, parse_id_list, shares_to_weight};
use crate::{Error, Result};

/// The value of one unit property, in the D-Bus type systemd declares for
/// it (`t`, `b`, `s`, `ay`, `au`, `a(ss)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyValue {
    /// `t`: bytes, µs, weights and counts; [`UNLIMITED`] is systemd's
    /// `infinity` (`CGROUP_LIMIT_MAX`, `USEC_INFINITY`).
    U64(u64),
    /// `b`.
    Bool(bool),
    /// `s`.
    Str(String),
    /// `ay`: a CPU or memory-node bitmask, bit `n % 8` of byte `n / 8`.
    Bitmask(Vec<u8>),
    /// `au`: process ids.
    Pids(Vec<u32>),
    /// `a(ss)`: `DeviceAllow` entries, (device, `rwm` letters).
    DeviceAllow(Vec<(String, String)>),
}

/// The systemd round-up of a CPU quota: systemd keeps it as a percentage,
/// so a quota per second is rounded up to a whole 10 ms (runc does the
/// same, so that the kernel's `cpu.max` is at least what was asked).
const QUOTA_GRAIN_US: u64 = 10_000;

/// The unit properties systemd knows for `resources`
/// (`systemd.resource-control(5)` names; accounting switched on for the
/// controllers used so that systemd enables them): `MemoryMax`,
/// `MemoryHigh`, `MemoryLow`, `MemoryMin`, `MemorySwapMax`, `CPUWeight`
/// (shares converted with [`shares_to_weight`]), `CPUQuotaPerSecUSec`
/// (quota × 1 s / period, rounded up to 10 ms) and `CPUQuotaPeriodUSec`,
/// `AllowedCPUs`, `AllowedMemoryNodes`, `TasksMax`, `IOWeight`, and
/// `DevicePolicy=strict` with `DeviceAllow` when the device rules are a
/// deny-all followed by allows of whole types or single devices (otherwise
/// systemd gets no device properties and palisade's own program alone
/// enforces the ordered rules). Everything else of `resources` is written
/// to the group's files directly by the driver.
///
/// Validates `resources` first ([`Resources::validate`]); a bad cpuset list
/// is [`Error::InvalidValue`].
///
/// ```
/// use palisade_cgroup::{PropertyValue, Resources, unit_properties};
/// let p = unit_properties(&Resources::new().memory_max(64 << 20).cpu_max(50_000, 100_000))?;
/// assert!(p.contains(&("MemoryMax", PropertyValue::U64(64 << 20))));
/// assert!(p.contains(&("CPUQuotaPerSecUSec", PropertyValue::U64(500_000))));
/// # Ok::<(), palisade_cgroup::Error>(())
/// ```
pub fn unit_properties(resources: &Resources) -> Result<Vec<(&'static str, PropertyValue)>> {
    use PropertyValue::*;
    resources.validate()?;
    let mut p = Vec::new();
    let cpu = &resources.cpu;
    let weight = cpu.weight.or(cpu.shares.map(shares_to_weight));
    let bandwidth = match cpu.cpus {
        Some(cpus) if cpus.0 == 0.0 => Some((UNLIMITED, 100_000)),
        Some(cpus) => Some((((cpus.0 * 100_000.0).round().max(1000.0)) as u64, 100_000)),
        None => cpu
            .period_us
            .map(|period| (cpu.quota_us.unwrap_or(UNLIMITED), period)),
    };
    if weight.is_some() || bandwidth.is_some() {
        p.push(("CPUAccounting", Bool(true)));
    }
    if let Some(w) = weight {
        p.push(("CPUWeight", U64(w)));
    }
    if let Some((quota, period)) = bandwidth {
        let per_sec = match quota {
            UNLIMITED => UNLIMITED,
            q => {
                let us = (q as u128 * 1_000_000).div_ceil(period as u128);
                let us = us.div_ceil(QUOTA_GRAIN_US as u128) * QUOTA_GRAIN_US as u128;
                u64::try_from(us).unwrap_or(UNLIMITED)
            }
        };
        p.push(("CPUQuotaPerSecUSec", U64(per_sec)));
        p.push(("CPUQuotaPeriodUSec", U64(period)));
    }
    for (name, field, list) in [
        ("AllowedCPUs", "cpuset.cpus", &resources.cpuset.cpus),
        ("AllowedMemoryNodes", "cpuset.mems", &resources.cpuset.mems),
    ] {
        if let Some(list) = list {
            let ids = parse_id_list(list).map_err(|reason| Error::InvalidValue {
                field,
                value: list.clone(),
                reason,
            })?;
            p.push((name, Bitmask(bitmask(&ids))));
        }
    }
    let m = &resources.memory;
    if m.max.is_some() || m.high.is_some() || m.low.is_some() || m.min.is_some() || m.swap.is_some()
    {
        p.push(("MemoryAccounting", Bool(true)));
    }
    for (name, v) in [
        ("MemoryMax", m.max),
        ("MemoryHigh", m.high),
        ("MemoryLow", m.low),
        ("MemoryMin", m.min),
        ("MemorySwapMax", m.swap),
    ] {
        if let Some(v) = v {
            p.push((name, U64(v)));
        }
    }
    if let Some(max) = resources.pids_max {
        p.push(("TasksAccounting", Bool(true)));
        p.push(("TasksMax", U64(max)));
    }
    if let Some(w) = resources.io.weight {
        p.push(("IOAccounting", Bool(true)));
        p.push(("IOWeight", U64(w)));
    }
    let needs_names = resources
        .devices
        .iter()
        .any(|r| r.major.is_some() && r.minor.is_none());
    let proc_devices = match needs_names {
        true => std::fs::read_to_string("/proc/devices")
            .map_err(|e| Error::io("read", "/proc/devices", e))?,
        false => String::new(),
    };
    if let Some(allow) = device_allow(&resources.devices, &proc_devices) {
        p.push(("DevicePolicy", Str("strict".into())));
        p.push(("DeviceAllow", DeviceAllow(allow)));
    }
    Ok(p)
}

/// `DeviceAllow` entries for rules of the form "deny everything, then
/// allow …" where each allow is a whole type (`char-*`, `block-*`) or one
/// device (`/dev/char/M:m`, which systemd parses without a node) or a
/// major with any minor named by `/proc/devices` (`char-pts` for 136, as
/// runc does). `None` for anything else (no rules, allow-all, later
/// denies, an unnamed major, any major with one minor): systemd's
/// allow-list cannot say it.
fn device_allow(rules: &[DeviceRule], proc_devices: &str) -> Option<Vec<(String, String)>> {
    let (first, rest) = rules.split_first()?;
    let deny_all = !first.allow
        && first.kind == DeviceType::All
        && first.major.is_none()
        && first.minor.is_none();
    if !deny_all {
        return None;
    }
    let mut out = Vec::new();
    for r in rest {
        let class = match r.kind {
            DeviceType::Char => "char",
            DeviceType::Block => "block",
            DeviceType::All => return None,
        };
        if !r.allow {
            return None;
        }
        let device = match (r.major, r.minor) {
            (None, None) => format!("{class}-*"),
            (Some(major), Some(minor)) => format!("/dev/{class}/{major}:{minor}"),
            (Some(major), None) => format!("{class}-{}", major_name(proc_devices, class, major)?),
            _ => return None,
        };
        out.push((device, r.access.to_string()));
    }
    Some(out)
}

/// The driver name of `major` in the `Character devices:` or `Block
/// devices:` section of `/proc/devices`.
fn major_name<'a>(proc_devices: &'a str, class: &str, major: u32) -> Option<&'a str> {
    let header = if class == "char" {
        "Character devices:"
    } else {
        "Block devices:"
    };
    let mut in_section = false;
    for line in proc_devices.lines() {
        let line = line.trim();
        if line.ends_with(':') {
            in_section = line == header;
            continue;
        }
        if in_section {
            let (num, name) = line.split_once(' ')?;
            if num.parse() == Ok(major) {
                return Some(name.trim());
            }
        }
    }
    None
}

fn bitmask(ids: &[u32]) -> Vec<u8> {
    let mut mask = Vec::new();
    for &id in ids {
        let byte = (id / 8) as usize;
        if mask.len() <= byte {
            mask.resize(byte + 1, 0);
        }
        mask[byte] |= 1 << (id % 8);
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::PropertyValue::*;
    use super::*;
    use crate::devices::DeviceAccess;

    fn get(p: &[(&'static str, PropertyValue)], name: &str) -> Option<PropertyValue> {
        p.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn memory_pids_io_map_one_to_one() {
        let r = Resources::new()
            .memory_max(64 << 20)
            .memory_swap(UNLIMITED)
            .pids_max(100);
        let mut r = r;
        r.memory.high = Some(48 << 20);
        r.memory.low = Some(1 << 20);
        r.io.weight = Some(300);
        let p = unit_properties(&r).unwrap();
        assert_eq!(get(&p, "MemoryMax"), Some(U64(64 << 20)));
        assert_eq!(get(&p, "MemoryHigh"), Some(U64(48 << 20)));
        assert_eq!(get(&p, "MemoryLow"), Some(U64(1 << 20)));
        assert_eq!(get(&p, "MemorySwapMax"), Some(U64(u64::MAX)));
        assert_eq!(get(&p, "TasksMax"), Some(U64(100)));
        assert_eq!(get(&p, "IOWeight"), Some(U64(300)));
        assert_eq!(get(&p, "MemoryAccounting"), Some(Bool(true)));
        assert_eq!(get(&p, "CPUWeight"), None);
        assert_eq!(get(&p, "DevicePolicy"), None);
    }

    #[test]
    fn cpu_quota_is_per_second_rounded_up_to_10ms() {
        let p = unit_properties(&Resources::new().cpu_max(50_000, 100_000)).unwrap();
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(U64(500_000)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(U64(100_000)));
        // 12345 µs per 100 ms = 123450 µs/s → 130000.
        let p = unit_properties(&Resources::new().cpu_max(12_345, 100_000)).unwrap();
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(U64(130_000)));
        let p = unit_properties(&Resources::new().cpus(1.5)).unwrap();
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(U64(1_500_000)));
        let p = unit_properties(&Resources::new().cpus(0.0)).unwrap();
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(U64(u64::MAX)));
        let mut r = Resources::new();
        r.cpu.shares = Some(1024);
        let p = unit_properties(&r).unwrap();
        assert_eq!(get(&p, "CPUWeight"), Some(U64(shares_to_weight(1024))));
    }

    #[test]
    fn cpusets_are_bitmasks() {
        let p = unit_properties(&Resources::new().cpuset_cpus("0-1,9").cpuset_mems("0")).unwrap();
        assert_eq!(get(&p, "AllowedCPUs"), Some(Bitmask(vec![0b11, 0b10])));
        assert_eq!(get(&p, "AllowedMemoryNodes"), Some(Bitmask(vec![1])));
        assert!(matches!(
            unit_properties(&Resources::new().cpuset_cpus("x")),
            Err(Error::InvalidValue { .. })
        ));
    }

    #[test]
    fn devices_only_when_systemd_can_say_them() {
        // The kernel names major 136 `pts` (drivers/tty/pty.c).
        let p = unit_properties(&Resources::new().devices(DeviceRule::docker_default())).unwrap();
        assert_eq!(get(&p, "DevicePolicy"), Some(Str("strict".into())));
        let Some(DeviceAllow(allow)) = get(&p, "DeviceAllow") else {
            panic!("{p:?}")
        };
        assert!(
            allow.contains(&("/dev/char/1:3".into(), "rwm".into())),
            "{allow:?}"
        );
        assert!(
            allow.contains(&("char-pts".into(), "rwm".into())),
            "{allow:?}"
        );
        assert!(allow.contains(&("char-*".into(), "m".into())), "{allow:?}");
        let text = "Character devices:\n  1 mem\n136 pts\n\nBlock devices:\n  7 loop\n";
        assert_eq!(major_name(text, "char", 136), Some("pts"));
        assert_eq!(major_name(text, "block", 7), Some("loop"));
        assert_eq!(major_name(text, "block", 1), None);
        let rw = DeviceAccess::READ | DeviceAccess::WRITE;
        let deny_all = DeviceRule {
            allow: false,
            kind: DeviceType::All,
            major: None,
            minor: None,
            access: DeviceAccess::all(),
        };
        let whole = DeviceRule::allow(DeviceType::Block, None, None, rw);
        assert_eq!(
            device_allow(&[deny_all, whole], ""),
            Some(vec![("block-*".into(), "rw".into())])
        );
        let unnamed = DeviceRule::allow(DeviceType::Char, Some(4000), None, rw);
        assert_eq!(
            device_allow(&[deny_all, unnamed], "Character devices:\n"),
            None
        );
        let later_deny = DeviceRule {
            allow: false,
            ..DeviceRule::allow(DeviceType::Char, Some(1), Some(3), rw)
        };
        assert_eq!(device_allow(&[deny_all, later_deny], ""), None);
        assert_eq!(device_allow(&[], ""), None);
    }
}
