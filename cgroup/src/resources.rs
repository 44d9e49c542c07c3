//! Resource limits, and their one translation to v1 and v2 files.
//!
//! | resource | cgroup v2 | cgroup v1 |
//! |---|---|---|
//! | cpu weight / shares | `cpu.weight` (1..=10000) | `cpu.shares` (2..=262144); [`shares_to_weight`] / [`weight_to_shares`] |
//! | cpu quota/period | `cpu.max` `"quota period"` / `"max period"` | `cpu.cfs_period_us`, `cpu.cfs_quota_us` (-1 = max) |
//! | cpu burst | `cpu.max.burst` | `cpu.cfs_burst_us` |
//! | cpu idle | `cpu.idle` | `cpu.idle` |
//! | cpuset | `cpuset.cpus`, `cpuset.mems` | same names |
//! | memory max | `memory.max` | `memory.limit_in_bytes` |
//! | memory high | `memory.high` | unsupported (typed error) |
//! | memory low | `memory.low` | `memory.soft_limit_in_bytes` |
//! | memory min | `memory.min` | unsupported |
//! | swap | `memory.swap.max` (swap only) | `memory.memsw.limit_in_bytes` (= max + swap) |
//! | swappiness | unsupported | `memory.swappiness` |
//! | oom-kill disable | unsupported | `memory.oom_control` |
//! | pids max | `pids.max` (1..=4194304) | `pids.max` |
//! | io weight | `io.weight` (1..=10000) | `blkio.weight` (10..=1000); [`io_weight_v2_to_v1`] |
//! | io device limits | `io.max` `"maj:min rbps= wbps= riops= wiops="` | `blkio.throttle.{read,write}_{bps,iops}_device` |
//! | hugetlb | `hugetlb.<size>.max` | `hugetlb.<size>.limit_in_bytes` |
//! | devices (ordered rules) | a `BPF_CGROUP_DEVICE` program (also on hybrid hosts) | `devices.deny` / `devices.allow` moving `devices.list` to the rules |
//!
//! Every byte, task and microsecond limit takes [`UNLIMITED`] for "no
//! limit": it is written as the kernel's `max` on cgroup2 and in
//! `pids.max`, and as `-1` in the other v1 files, so an update can lift a
//! limit an earlier `apply` set.
//!
//! Device rules are not file writes of [`Resources::plan`]: [`Cgroup::apply`](crate::Cgroup::apply)
//! puts them in force with [`Cgroup::set_devices`](crate::Cgroup::set_devices) (see [`crate::devices`]).

use crate::hierarchy::{Controller, Hierarchy, Placement};
use crate::{Error, Result};

/// "No limit" for any byte, task or microsecond limit of [`Resources`]
/// (`memory.max`, `memory.high`, `memory.low`, swap, `pids.max`, the cpu
/// quota, hugetlb): written as `max` on cgroup2 and in `pids.max`, and as
/// `-1` in the other v1 files. Applying it lifts a limit set before
/// (docker's `--memory -1`, `--pids-limit -1`, `--cpus 0`).
///
/// ```
/// use palisade_cgroup::{Resources, UNLIMITED};
/// let lift = Resources::new().memory_max(UNLIMITED).memory_swap(UNLIMITED).pids_max(UNLIMITED);
/// assert!(lift.validate().is_ok());
/// ```
pub const UNLIMITED: u64 = u64::MAX;

/// The highest `pids.max` the kernel takes: `PID_MAX_LIMIT` on 64-bit
/// (`kernel/cgroup/pids.c` refuses larger values with `EINVAL`).
pub const PIDS_MAX_LIMIT: u64 = 4 * 1024 * 1024;

/// A CPU count as `docker --cpus` takes it: `0.5` is half a CPU, `0.0` no
/// limit. Compared by bit pattern, so that [`Resources`] stays `Eq`;
/// [`Resources::validate`] refuses negative, NaN and infinite counts.
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Cpus(pub f64);

impl PartialEq for Cpus {
    fn eq(&self, other: &Cpus) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Cpus {}

/// The period `cpus` are measured over, as docker's: 100 ms.
const CPUS_PERIOD_US: u64 = 100_000;

/// CPU limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct Cpu {
    /// v2 weight, 1..=10000 (default 100).
    pub weight: Option<u64>,
    /// v1 shares, 2..=262144 (default 1024). Converted when on v2.
    pub shares: Option<u64>,
    /// Bandwidth quota per period in microseconds, at least 1000;
    /// `None` or [`UNLIMITED`] with a period set = `max` (no limit).
    pub quota_us: Option<u64>,
    /// Period in microseconds, 1000..=1000000.
    pub period_us: Option<u64>,
    /// Burst in microseconds.
    pub burst_us: Option<u64>,
    /// SCHED_IDLE-like group.
    pub idle: Option<bool>,
    /// CPUs as `docker --cpus`: written as quota `cpus × 100000` per
    /// period `100000` µs (at least 1000 µs), `0.0` as no limit (`max`).
    /// Not together with `quota_us`/`period_us` (docker refuses that too).
    pub cpus: Option<Cpus>,
}

/// CPU and memory-node placement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct Cpuset {
    /// CPU list, e.g. `"0-1,3"`.
    pub cpus: Option<String>,
    /// Memory-node list, e.g. `"0"`.
    pub mems: Option<String>,
}

/// Memory limits, bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct Memory {
    /// Hard limit (OOM beyond it).
    pub max: Option<u64>,
    /// Throttling threshold (v2).
    pub high: Option<u64>,
    /// Best-effort protection.
    pub low: Option<u64>,
    /// Hard protection (v2).
    pub min: Option<u64>,
    /// Swap allowed on top of `max`.
    pub swap: Option<u64>,
    /// Swappiness 0..=100 (v1).
    pub swappiness: Option<u64>,
    /// Disable the OOM killer (v1).
    pub oom_kill_disable: Option<bool>,
}

/// Per-device I/O limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct IoLimit {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Read bytes per second.
    pub read_bps: Option<u64>,
    /// Write bytes per second.
    pub write_bps: Option<u64>,
    /// Read operations per second.
    pub read_iops: Option<u64>,
    /// Write operations per second.
    pub write_iops: Option<u64>,
}

/// Block I/O.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct Io {
    /// v2 weight 1..=10000 (converted to `blkio.weight` 10..=1000 on v1).
    pub weight: Option<u64>,
    /// Per-device limits.
    pub limits: Vec<IoLimit>,
}

/// A huge-page limit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HugetlbLimit {
    /// Page size as the kernel names it: `"2MB"`, `"1GB"`.
    pub page_size: String,
    /// Bytes.
    pub limit: u64,
}

pub use crate::devices::DeviceRule;

/// Every limit a container can get; only what is set is written.
///
/// ```
/// use palisade_cgroup::Resources;
/// let r = Resources::new().memory_max(64 << 20).pids_max(64).cpu_max(50_000, 100_000);
/// assert_eq!(r.memory.max, Some(64 << 20));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct Resources {
    /// CPU.
    pub cpu: Cpu,
    /// Cpuset.
    pub cpuset: Cpuset,
    /// Memory.
    pub memory: Memory,
    /// Maximum number of tasks.
    pub pids_max: Option<u64>,
    /// Block I/O.
    pub io: Io,
    /// Huge pages.
    pub hugetlb: Vec<HugetlbLimit>,
    /// Device rules (OCI `linux.resources.devices`), in order, later ones
    /// overriding earlier ones; empty = leave the group's device access
    /// as it is. See [`crate::devices`].
    pub devices: Vec<DeviceRule>,
    /// Raw cgroup2 interface files and their values (OCI
    /// `linux.resources.unified`), written after everything else so they
    /// win, in the cgroup2 directory. See [`unified`](Self::unified).
    pub unified: Vec<(String, String)>,
}

impl Resources {
    /// A raw cgroup2 interface file of a controller, `CONTROLLER.NAME`
    /// (e.g. `memory.oom.group`, `io.latency`), written as given after
    /// every typed limit (OCI `linux.resources.unified`; a later entry for
    /// the same file wins). The controller must be on cgroup2 on this
    /// host and is enabled like any other.
    ///
    /// ```
    /// use palisade_cgroup::Resources;
    /// let r = Resources::new().unified("memory.oom.group", "1");
    /// assert!(r.validate().is_ok());
    /// // Not a controller's file, or a path: refused.
    /// assert!(Resources::new().unified("cgroup.procs", "1").validate().is_err());
    /// assert!(Resources::new().unified("memory/../x", "1").validate().is_err());
    /// ```
    ///
    /// # Errors
    /// At [`validate`](Self::validate)/`apply`: [`Error::InvalidValue`]
    /// for a key that is not `CONTROLLER.NAME` of a controller palisade
    /// knows (`cgroup.*` core files are the runtime's own), holds anything
    /// but `A-Z a-z 0-9 _ .`, or a value with a NUL or newline byte;
    /// [`Error::Unsupported`] when the controller is on cgroup v1 here.
    pub fn unified(mut self, file: &str, value: &str) -> Self {
        self.unified.push((file.to_owned(), value.to_owned()));
        self
    }
    /// Nothing set.
    pub fn new() -> Resources {
        Resources::default()
    }
    /// Memory hard limit in bytes, or [`UNLIMITED`].
    pub fn memory_max(mut self, bytes: u64) -> Self {
        self.memory.max = Some(bytes);
        self
    }
    /// Memory throttle threshold (v2).
    pub fn memory_high(mut self, bytes: u64) -> Self {
        self.memory.high = Some(bytes);
        self
    }
    /// Swap in bytes on top of the memory limit, or [`UNLIMITED`]. On
    /// cgroup v1 it is written as `memory.memsw.limit_in_bytes` = max + swap
    /// (`-1` when either is [`UNLIMITED`]).
    pub fn memory_swap(mut self, bytes: u64) -> Self {
        self.memory.swap = Some(bytes);
        self
    }
    /// Task limit, 1..=[`PIDS_MAX_LIMIT`], or [`UNLIMITED`] (`max`).
    /// `0` is refused: it forbids every fork, the container's own start
    /// included (docker reads 0 as no limit; say [`UNLIMITED`]).
    pub fn pids_max(mut self, max: u64) -> Self {
        self.pids_max = Some(max);
        self
    }
    /// CPU weight (v2 scale 1..=10000).
    pub fn cpu_weight(mut self, weight: u64) -> Self {
        self.cpu.weight = Some(weight);
        self
    }
    /// CPU shares (v1 scale 2..=262144).
    pub fn cpu_shares(mut self, shares: u64) -> Self {
        self.cpu.shares = Some(shares);
        self
    }
    /// CPU bandwidth: `quota_us` (≥ 1000, or [`UNLIMITED`] for `max`) per
    /// `period_us` (1000..=1000000), in microseconds.
    pub fn cpu_max(mut self, quota_us: u64, period_us: u64) -> Self {
        self.cpu.quota_us = Some(quota_us);
        self.cpu.period_us = Some(period_us);
        self
    }
    /// Fractional CPUs, as `docker --cpus`: quota `cpus × 100 ms` per
    /// 100 ms period (at least 1 ms); `0.0` means no limit and lifts an
    /// earlier one (`max`). Negative, NaN and infinite counts are refused
    /// by [`Resources::validate`] with [`Error::InvalidValue`].
    ///
    /// ```
    /// use palisade_cgroup::Resources;
    /// assert!(Resources::new().cpus(1.5).validate().is_ok());
    /// assert!(Resources::new().cpus(0.0).validate().is_ok()); // no limit
    /// assert!(Resources::new().cpus(-1.0).validate().is_err());
    /// assert!(Resources::new().cpus(f64::NAN).validate().is_err());
    /// ```
    pub fn cpus(mut self, cpus: f64) -> Self {
        self.cpu.cpus = Some(Cpus(cpus));
        self
    }
    /// CPU list.
    pub fn cpuset_cpus(mut self, cpus: &str) -> Self {
        self.cpuset.cpus = Some(cpus.to_owned());
        self
    }
    /// Memory-node list.
    pub fn cpuset_mems(mut self, mems: &str) -> Self {
        self.cpuset.mems = Some(mems.to_owned());
        self
    }
    /// I/O weight (v2 scale).
    pub fn io_weight(mut self, weight: u64) -> Self {
        self.io.weight = Some(weight);
        self
    }
    /// A per-device I/O limit.
    pub fn io_limit(mut self, limit: IoLimit) -> Self {
        self.io.limits.push(limit);
        self
    }
    /// A huge-page limit.
    pub fn hugetlb(mut self, page_size: &str, bytes: u64) -> Self {
        self.hugetlb.push(HugetlbLimit {
            page_size: page_size.to_owned(),
            limit: bytes,
        });
        self
    }
    /// Appends one device rule.
    pub fn device(mut self, rule: DeviceRule) -> Self {
        self.devices.push(rule);
        self
    }
    /// Appends device rules, e.g. [`DeviceRule::docker_default`].
    ///
    /// ```
    /// use palisade_cgroup::{DeviceRule, Resources};
    /// let r = Resources::new().devices(DeviceRule::docker_default());
    /// assert_eq!(r.devices.len(), 13);
    /// ```
    pub fn devices(mut self, rules: impl IntoIterator<Item = DeviceRule>) -> Self {
        self.devices.extend(rules);
        self
    }

    /// Checks every value against its range before anything is written.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] naming the field, the value and the range:
    /// weights and shares out of range, a period outside 1000..=1000000 µs,
    /// a quota under 1000 µs, `cpus` negative, NaN, infinite or set with a
    /// quota/period, `pids_max` 0 or over [`PIDS_MAX_LIMIT`], bad cpuset
    /// lists, hugetlb sizes and device rules.
    pub fn validate(&self) -> Result<()> {
        let range = |field, v: Option<u64>, lo: u64, hi: u64, reason| match v {
            Some(UNLIMITED) if matches!(field, "cpu quota" | "pids.max") => Ok(()),
            Some(v) if !(lo..=hi).contains(&v) => Err(Error::InvalidValue {
                field,
                value: v.to_string(),
                reason,
            }),
            _ => Ok(()),
        };
        range("cpu.weight", self.cpu.weight, 1, 10_000, "1..=10000")?;
        range("cpu.shares", self.cpu.shares, 2, 262_144, "2..=262144")?;
        range(
            "cpu period",
            self.cpu.period_us,
            1_000,
            1_000_000,
            "1000..=1000000 µs",
        )?;
        range(
            "cpu quota",
            self.cpu.quota_us,
            1_000,
            u64::MAX / 2,
            ">= 1000 µs",
        )?;
        range(
            "memory.swappiness",
            self.memory.swappiness,
            0,
            100,
            "0..=100",
        )?;
        range("io.weight", self.io.weight, 1, 10_000, "1..=10000")?;
        range(
            "pids.max",
            self.pids_max,
            1,
            PIDS_MAX_LIMIT,
            "1..=4194304, or UNLIMITED; 0 would forbid the container's own start",
        )?;
        if let Some(Cpus(cpus)) = self.cpu.cpus {
            if !cpus.is_finite() || cpus < 0.0 {
                return Err(Error::InvalidValue {
                    field: "cpus",
                    value: cpus.to_string(),
                    reason: "a finite count >= 0 (0 = no limit)",
                });
            }
            if self.cpu.quota_us.is_some() || self.cpu.period_us.is_some() {
                return Err(Error::InvalidValue {
                    field: "cpus",
                    value: cpus.to_string(),
                    reason: "set cpus or a quota/period, not both",
                });
            }
        }
        if self.cpu.weight.is_some() && self.cpu.shares.is_some() {
            return Err(Error::InvalidValue {
                field: "cpu",
                value: "weight and shares".into(),
                reason: "set one of them; they are the same knob on two scales",
            });
        }
        if self.cpu.quota_us.is_some() && self.cpu.period_us.is_none() {
            return Err(Error::InvalidValue {
                field: "cpu quota",
                value: format!("{:?}", self.cpu.quota_us),
                reason: "a quota needs a period",
            });
        }
        for (field, list) in [
            ("cpuset.cpus", &self.cpuset.cpus),
            ("cpuset.mems", &self.cpuset.mems),
        ] {
            if let Some(list) = list {
                parse_id_list(list).map_err(|reason| Error::InvalidValue {
                    field,
                    value: list.clone(),
                    reason,
                })?;
            }
        }
        for h in &self.hugetlb {
            let ok = h.page_size.len() >= 3
                && h.page_size.ends_with('B')
                && h.page_size[..h.page_size.len() - 2]
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                && matches!(&h.page_size[h.page_size.len() - 2..], "KB" | "MB" | "GB");
            if !ok {
                return Err(Error::InvalidValue {
                    field: "hugetlb page size",
                    value: h.page_size.clone(),
                    reason: "like 2MB or 1GB",
                });
            }
        }
        if !self.devices.is_empty() {
            crate::devices::policy::Policy::from_rules(&self.devices)?;
        }
        for (file, value) in &self.unified {
            unified_controller(file)?;
            if value.bytes().any(|b| b == 0 || b == b'\n') {
                return Err(Error::InvalidValue {
                    field: "unified value",
                    value: format!("{file}={value:?}"),
                    reason: "no NUL or newline byte",
                });
            }
        }
        Ok(())
    }

    /// The writes `apply` will make on `hierarchy`, in order: each names the
    /// controller, the file and the value. Validates first; a resource the
    /// controller's hierarchy cannot express is an `Unsupported` error.
    /// Device rules are not among them: their v1 writes depend on the
    /// group's current `devices.list` (see [`crate::devices`]).
    pub fn plan(&self, hierarchy: &Hierarchy) -> Result<Vec<FileWrite>> {
        self.validate()?;
        let mut w = Plan {
            hierarchy,
            writes: Vec::new(),
        };
        let cpu = &self.cpu;
        if let Some(weight) = cpu.weight.or(cpu.shares.map(shares_to_weight)) {
            match w.v(Controller::Cpu)? {
                true => w.push(Controller::Cpu, "cpu.weight", weight),
                false => w.push(
                    Controller::Cpu,
                    "cpu.shares",
                    cpu.shares.unwrap_or_else(|| weight_to_shares(weight)),
                ),
            }
        }
        let bandwidth = match cpu.cpus {
            Some(Cpus(0.0)) => Some((UNLIMITED, CPUS_PERIOD_US)),
            Some(Cpus(cpus)) => {
                // Finite and positive (validated); at least the kernel's 1 ms.
                let quota = (cpus * CPUS_PERIOD_US as f64).round().max(1000.0);
                Some((quota.min((u64::MAX / 2) as f64) as u64, CPUS_PERIOD_US))
            }
            None => cpu
                .period_us
                .map(|period| (cpu.quota_us.unwrap_or(UNLIMITED), period)),
        };
        if let Some((quota, period)) = bandwidth {
            match w.v(Controller::Cpu)? {
                true => w.push(
                    Controller::Cpu,
                    "cpu.max",
                    format!("{} {period}", limit_v2(quota)),
                ),
                false => {
                    w.push(Controller::Cpu, "cpu.cfs_period_us", period);
                    w.push(Controller::Cpu, "cpu.cfs_quota_us", limit_v1(quota));
                }
            }
        }
        if let Some(burst) = cpu.burst_us {
            let file = if w.v(Controller::Cpu)? {
                "cpu.max.burst"
            } else {
                "cpu.cfs_burst_us"
            };
            w.push(Controller::Cpu, file, burst);
        }
        if let Some(idle) = cpu.idle {
            w.push(Controller::Cpu, "cpu.idle", u8::from(idle));
        }
        if let Some(cpus) = &self.cpuset.cpus {
            w.v(Controller::Cpuset)?;
            w.push(Controller::Cpuset, "cpuset.cpus", cpus);
        }
        if let Some(mems) = &self.cpuset.mems {
            w.v(Controller::Cpuset)?;
            w.push(Controller::Cpuset, "cpuset.mems", mems);
        }
        let m = &self.memory;
        let any_memory = m.max.is_some()
            || m.high.is_some()
            || m.low.is_some()
            || m.min.is_some()
            || m.swap.is_some()
            || m.swappiness.is_some()
            || m.oom_kill_disable.is_some();
        if any_memory {
            let v2 = w.v(Controller::Memory)?;
            let unsupported = |what, v2: bool| Error::Unsupported {
                what,
                version: if v2 { "v2" } else { "v1" },
            };
            let limit = |v: u64| if v2 { limit_v2(v) } else { limit_v1(v) };
            if let Some(max) = m.max {
                w.push(
                    Controller::Memory,
                    if v2 {
                        "memory.max"
                    } else {
                        "memory.limit_in_bytes"
                    },
                    limit(max),
                );
            }
            if let Some(swap) = m.swap {
                if v2 {
                    w.push(Controller::Memory, "memory.swap.max", limit(swap));
                } else {
                    let max = m.max.ok_or(Error::InvalidValue {
                        field: "memory swap",
                        value: swap.to_string(),
                        reason: "on cgroup v1 swap needs a memory max (memsw = max + swap)",
                    })?;
                    // UNLIMITED is u64::MAX: either one unlimited saturates to -1.
                    w.push(
                        Controller::Memory,
                        "memory.memsw.limit_in_bytes",
                        limit(max.saturating_add(swap)),
                    );
                }
            }
            if let Some(high) = m.high {
                if !v2 {
                    return Err(unsupported("memory.high", v2));
                }
                w.push(Controller::Memory, "memory.high", limit(high));
            }
            if let Some(low) = m.low {
                w.push(
                    Controller::Memory,
                    if v2 {
                        "memory.low"
                    } else {
                        "memory.soft_limit_in_bytes"
                    },
                    limit(low),
                );
            }
            if let Some(min) = m.min {
                if !v2 {
                    return Err(unsupported("memory.min", v2));
                }
                w.push(Controller::Memory, "memory.min", limit(min));
            }
            if let Some(s) = m.swappiness {
                if v2 {
                    return Err(unsupported("memory swappiness", v2));
                }
                w.push(Controller::Memory, "memory.swappiness", s);
            }
            if let Some(disable) = m.oom_kill_disable {
                if v2 {
                    return Err(unsupported("disabling the OOM killer", v2));
                }
                w.push(Controller::Memory, "memory.oom_control", u8::from(disable));
            }
        }
        if let Some(max) = self.pids_max {
            w.v(Controller::Pids)?;
            // pids.max takes "max" on v1 too, and refuses -1.
            w.push(Controller::Pids, "pids.max", limit_v2(max));
        }
        if self.io.weight.is_some() || !self.io.limits.is_empty() {
            let v2 = w.v(Controller::Io)?;
            if let Some(weight) = self.io.weight {
                match v2 {
                    true => w.push(Controller::Io, "io.weight", weight),
                    false => w.push(Controller::Io, "blkio.weight", io_weight_v2_to_v1(weight)),
                }
            }
            for l in &self.io.limits {
                let dev = format!("{}:{}", l.major, l.minor);
                if v2 {
                    let mut line = dev.clone();
                    for (key, v) in [
                        ("rbps", l.read_bps),
                        ("wbps", l.write_bps),
                        ("riops", l.read_iops),
                        ("wiops", l.write_iops),
                    ] {
                        if let Some(v) = v {
                            line.push_str(&format!(" {key}={v}"));
                        }
                    }
                    w.push(Controller::Io, "io.max", line);
                } else {
                    for (file, v) in [
                        ("blkio.throttle.read_bps_device", l.read_bps),
                        ("blkio.throttle.write_bps_device", l.write_bps),
                        ("blkio.throttle.read_iops_device", l.read_iops),
                        ("blkio.throttle.write_iops_device", l.write_iops),
                    ] {
                        if let Some(v) = v {
                            w.push(Controller::Io, file, format!("{dev} {v}"));
                        }
                    }
                }
            }
        }
        for h in &self.hugetlb {
            let v2 = w.v(Controller::Hugetlb)?;
            let file = if v2 {
                format!("hugetlb.{}.max", h.page_size)
            } else {
                format!("hugetlb.{}.limit_in_bytes", h.page_size)
            };
            let limit = if v2 {
                limit_v2(h.limit)
            } else {
                limit_v1(h.limit)
            };
            w.push_owned(Controller::Hugetlb, file, limit);
        }
        for (file, value) in &self.unified {
            let controller = unified_controller(file)?;
            if !w.v(controller)? {
                return Err(Error::Unsupported {
                    what: "a raw cgroup2 file (unified) of a controller mounted as v1",
                    version: "v1",
                });
            }
            w.push_owned(controller, file.clone(), value.clone());
        }
        Ok(w.writes)
    }

    /// Controllers this set of resources needs.
    pub fn controllers(&self) -> Vec<Controller> {
        let mut c = Vec::new();
        let cpu = &self.cpu;
        if cpu.weight.is_some()
            || cpu.shares.is_some()
            || cpu.cpus.is_some()
            || cpu.period_us.is_some()
            || cpu.burst_us.is_some()
            || cpu.idle.is_some()
        {
            c.push(Controller::Cpu);
        }
        if self.cpuset.cpus.is_some() || self.cpuset.mems.is_some() {
            c.push(Controller::Cpuset);
        }
        if self.memory != Memory::default() {
            c.push(Controller::Memory);
        }
        if self.pids_max.is_some() {
            c.push(Controller::Pids);
        }
        if self.io != Io::default() {
            c.push(Controller::Io);
        }
        if !self.hugetlb.is_empty() {
            c.push(Controller::Hugetlb);
        }
        if !self.devices.is_empty() {
            c.push(Controller::Devices);
        }
        for (file, _) in &self.unified {
            if let Ok(ctrl) = unified_controller(file) {
                if !c.contains(&ctrl) {
                    c.push(ctrl);
                }
            }
        }
        c
    }
}

/// The controller of a `unified` key `CONTROLLER.NAME`.
fn unified_controller(file: &str) -> Result<Controller> {
    let bad = |reason| Error::InvalidValue {
        field: "unified file",
        value: file.to_owned(),
        reason,
    };
    if file.is_empty()
        || !file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return Err(bad("a cgroup2 file name: A-Z a-z 0-9 _ ."));
    }
    let (name, rest) = file
        .split_once('.')
        .ok_or(bad("CONTROLLER.NAME, e.g. memory.oom.group"))?;
    if rest.is_empty() || rest.starts_with('.') || rest.ends_with('.') {
        return Err(bad("CONTROLLER.NAME, e.g. memory.oom.group"));
    }
    Controller::ALL
        .into_iter()
        .find(|c| c.v2_name() == Some(name))
        .ok_or(bad(
            "the file of a cgroup2 controller (cpu cpuset memory pids io hugetlb); cgroup.* files are the runtime's",
        ))
}

/// A limit as a cgroup2 file (and `pids.max`) takes it.
fn limit_v2(v: u64) -> String {
    match v {
        UNLIMITED => "max".to_owned(),
        v => v.to_string(),
    }
}

/// A limit as a v1 file other than `pids.max` takes it.
fn limit_v1(v: u64) -> String {
    match v {
        UNLIMITED => "-1".to_owned(),
        v => v.to_string(),
    }
}

/// One write `apply` makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    /// The controller the file belongs to.
    pub controller: Controller,
    /// The interface file name, e.g. `memory.max`.
    pub file: String,
    /// The value.
    pub value: String,
}

/// The set of interface files the kernel checks against each other, for
/// those that have one: a v1 group's cfs quota/period ratio must stay
/// within its parent's and above its children's, a burst at most the quota
/// (v1 and v2), `memory.limit_in_bytes` at most `memory.memsw.limit_in_bytes`.
/// [`Resources::plan`] puts each set's writes side by side;
/// [`Cgroup::apply`](crate::Cgroup::apply) retries a refused one after the
/// rest of its set.
pub(crate) fn dependent_set(file: &str) -> Option<u8> {
    match file {
        "cpu.cfs_period_us" | "cpu.cfs_quota_us" | "cpu.cfs_burst_us" | "cpu.max"
        | "cpu.max.burst" => Some(1),
        "memory.limit_in_bytes" | "memory.memsw.limit_in_bytes" => Some(2),
        _ => None,
    }
}

struct Plan<'h> {
    hierarchy: &'h Hierarchy,
    writes: Vec<FileWrite>,
}

impl Plan<'_> {
    /// Is `controller` on v2 here?
    fn v(&self, controller: Controller) -> Result<bool> {
        Ok(matches!(
            self.hierarchy.placement(controller)?,
            Placement::V2(_)
        ))
    }
    fn push(&mut self, controller: Controller, file: &str, value: impl ToString) {
        self.push_owned(controller, file.to_owned(), value.to_string());
    }
    fn push_owned(&mut self, controller: Controller, file: String, value: String) {
        self.writes.push(FileWrite {
            controller,
            file,
            value,
        });
    }
}

/// v1 `cpu.shares` → v2 `cpu.weight`, the formula runc and the kernel docs
/// use: 2 → 1, 1024 → 39, 262144 → 10000.
///
/// ```
/// assert_eq!(palisade_cgroup::shares_to_weight(2), 1);
/// assert_eq!(palisade_cgroup::shares_to_weight(262_144), 10_000);
/// ```
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// v2 `cpu.weight` → v1 `cpu.shares`, the inverse of [`shares_to_weight`]
/// (rounded up so that a round trip never loses weight).
///
/// ```
/// assert_eq!(palisade_cgroup::weight_to_shares(1), 2);
/// assert_eq!(palisade_cgroup::weight_to_shares(10_000), 262_144);
/// ```
pub fn weight_to_shares(weight: u64) -> u64 {
    let weight = weight.clamp(1, 10_000);
    2 + ((weight - 1) * 262_142).div_ceil(9999)
}

/// v2 `io.weight` (1..=10000) → v1 `blkio.weight` (10..=1000).
///
/// ```
/// assert_eq!(palisade_cgroup::io_weight_v2_to_v1(100), 19);
/// assert_eq!(palisade_cgroup::io_weight_v2_to_v1(10_000), 1000);
/// ```
pub fn io_weight_v2_to_v1(weight: u64) -> u64 {
    10 + (weight.clamp(1, 10_000) - 1) * 990 / 9999
}

/// Parses a kernel id list (`"0-3,5"`) into sorted ids; the error says why.
///
/// ```
/// assert_eq!(palisade_cgroup::parse_id_list("0-2,5").unwrap(), [0, 1, 2, 5]);
/// assert!(palisade_cgroup::parse_id_list("3-1").is_err());
/// ```
pub fn parse_id_list(list: &str) -> std::result::Result<Vec<u32>, &'static str> {
    let mut ids = Vec::new();
    let list = list.trim();
    if list.is_empty() {
        return Ok(ids);
    }
    for part in list.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo, hi),
            None => (part, part),
        };
        let parse = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| "ids are decimal numbers like 0-3,5")
        };
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        if lo > hi {
            return Err("a range must run low-high");
        }
        if hi - lo > 65_536 || ids.len() > 65_536 {
            return Err("more than 65536 ids");
        }
        ids.extend(lo..=hi);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// The kernel's list form of sorted, deduplicated `ids`: ranges joined by
/// commas (`[0, 1, 2, 5]` → `"0-2,5"`; empty → `""`), what
/// [`parse_id_list`] reads back.
pub(crate) fn format_id_list(ids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < ids.len() {
        let lo = ids[i];
        while i + 1 < ids.len() && ids[i + 1] == ids[i] + 1 {
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if ids[i] == lo {
            out += &lo.to_string();
        } else {
            out += &format!("{lo}-{}", ids[i]);
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_and_shares_round_trip_within_one_step() {
        for shares in [2, 100, 1024, 4096, 262_144] {
            let back = weight_to_shares(shares_to_weight(shares));
            assert!(back.abs_diff(shares) <= 27, "{shares} -> {back}");
        }
        assert_eq!(shares_to_weight(1024), 39);
    }

    #[test]
    fn out_of_range_values_are_refused_before_writing() {
        assert!(Resources::new().cpu_weight(0).validate().is_err());
        assert!(Resources::new().cpu_shares(1).validate().is_err());
        assert!(Resources::new().cpuset_cpus("1-0").validate().is_err());
        for list in ["", "0", "0-3", "0-2,5", "1,3,5-7,9"] {
            assert_eq!(format_id_list(&parse_id_list(list).unwrap()), list);
        }
        assert!(Resources::new().cpuset_cpus("x").validate().is_err());
        assert!(Resources::new().hugetlb("2M", 1).validate().is_err());
        assert!(Resources::new().pids_max(0).validate().is_err());
        let err = Resources::new().cpu_weight(20_000).validate().unwrap_err();
        assert!(err.to_string().contains("cpu.weight"), "{err}");
        assert!(
            Resources::new()
                .cpus(0.5)
                .memory_max(1 << 20)
                .validate()
                .is_ok()
        );
    }
}
