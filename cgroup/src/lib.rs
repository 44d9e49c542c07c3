//! cgroup v1, v2 and hybrid hierarchies as one typed tree.
//!
//! [`Hierarchy::detect`] finds the layout (`statfs` magic plus
//! `/proc/self/mountinfo`): unified, legacy, or hybrid with v1 controllers
//! beside a cgroup2 tree. A [`Cgroup`] lives at the same relative path in
//! every hierarchy; each controller's files are used where that controller
//! is ([`Hierarchy::placement`]), and the cgroup2 tree — present even in
//! hybrid mode — gives `CLONE_INTO_CGROUP`, `cgroup.freeze`, `cgroup.kill`
//! and PSI where the kernel has them.
//!
//! [`Resources`] is one description of limits with one documented v1↔v2
//! translation (see the table in [`resources`]); [`Cgroup::apply`] writes
//! only what is set and reports the file and value the kernel refused.
//!
//! Device access follows the OCI runtime spec's ordered
//! `linux.resources.devices` rules ([`DeviceRule`], with the
//! [`DeviceRule::docker_default`] preset) on every layout: the v1
//! `devices` controller, and a `BPF_CGROUP_DEVICE` program on the cgroup2
//! tree (see [`devices`]); [`Cgroup::devices_in_force`] reads back what the
//! kernel holds.
//!
//! [`Cgroup::stats`] reads one [`Stats`] on every layout, and
//! [`Cgroup::events`] blocks until the kernel reports an OOM, an OOM kill,
//! the group emptying or freezing (inotify on cgroup2 files, an eventfd on
//! v1 `memory.oom_control`).
//!
//! ```no_run
//! use palisade_cgroup::{Cgroup, Resources};
//! let cg = Cgroup::create("palisade/box-1")?;
//! cg.apply(&Resources::new().memory_max(256 << 20).pids_max(128).cpus(0.5))?;
//! cg.add_process(4242)?;
//! cg.freeze()?;
//! cg.thaw()?;
//! cg.delete()?; // kill, wait until empty, rmdir bottom-up
//! # Ok::<(), palisade_cgroup::Error>(())
//! ```

mod cgroup;
pub mod devices;
mod error;
mod events;
mod hierarchy;
mod path;
pub mod resources;
mod stats;
pub mod systemd;

pub use cgroup::{Cgroup, PressureKind};
pub use devices::{
    BpfInsn, DeviceAccess, DeviceProgram, DeviceRule, DeviceType, DevicesInForce,
    parse_devices_list,
};
pub use error::{Error, Result};
pub use events::{Event, Events};
pub use hierarchy::{CgroupMount, Controller, Hierarchy, Mode, Placement, parse_mountinfo};
pub use path::CgroupPath;
pub use resources::{
    Cpu, Cpus, Cpuset, FileWrite, HugetlbLimit, Io, IoLimit, Memory, PIDS_MAX_LIMIT, Resources,
    UNLIMITED, io_weight_v2_to_v1, parse_id_list, shares_to_weight, weight_to_shares,
};
pub use stats::{
    MemoryEvents, Pressure, PressureLine, Stats, flat_key, parse_blkio_bytes, parse_io_stat_bytes,
    parse_memory_events, parse_pressure,
};
pub use systemd::{CgroupManager, PropertyValue, SystemdName, expand_slice, unit_properties};
