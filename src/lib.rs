//! palisade: start a container from typed Linux primitives.
//!
//! [`Container`] composes the workspace's crates — namespaces
//! ([`palisade_ns`]), cgroups ([`palisade_cgroup`]), OverlayFS
//! ([`palisade_overlay`]), links and addresses ([`palisade_netlink`]) and
//! capabilities ([`palisade_caps`]) — into one spawn pipeline:
//!
//! 1. the parent validates the whole configuration and prepares every
//!    buffer and file descriptor, creates the cgroup and applies its limits,
//!    mounts the overlay;
//! 2. `clone3(CLONE_PIDFD | CLONE_INTO_CGROUP | CLONE_NEW…)`, made by one
//!    long-lived spawner thread of the process;
//! 3. the parent writes id maps, wires the network, releases the child;
//! 4. the child closes every fd it was not given, joins its cgroup's v1
//!    hierarchies itself (`0` into each `tasks` file the parent opened: no
//!    global lock, unlike a `cgroup.procs` write for another process), makes `/` private, mounts
//!    the rootfs, `/proc`, a minimal `/dev` and `/sys` — each target
//!    resolved *inside* the rootfs and mounted onto its fd — `pivot_root`s,
//!    masks paths, sets the hostname and sysctls, brings `lo` up, drops
//!    capabilities in order and execs `palisade-init` (a small sealed
//!    image), which execs the program or stays as PID 1 — with raw system
//!    calls only;
//! 5. a failure anywhere comes back as a [`SpawnError`] naming the step and
//!    errno, with everything already created removed.
//!
//! Networks: none (only `lo`), host, an existing namespace, a veth pair
//! ([`Network::veth`]) or a macvlan ([`Network::macvlan`]) — the container
//! end is born inside its namespace. [`Container::join_pid`] shares another
//! container's namespaces. Run by a normal user, a container is rootless
//! ([`Container::rootless`]): a user namespace maps the caller to root.
//! [`ContainerConfig`] describes the same container as data (JSON/TOML with
//! the `serde` feature). After [`Child::wait`], [`Child::stats`] holds the
//! cgroup's last figures and [`Child::oom_killed`] tells an OOM kill apart.
//!
//! **Security.** The image is untrusted and root runs inside: symlinks of
//! the rootfs never resolve onto the host, no host fd, memory, environment
//! or binary reaches the container, and read-only means read-only on every
//! submount. The threat model, each fault class with its defence and the
//! peer CVE it answers are in `docs/security.md`; `tests/escape.rs` attacks
//! each one. Needs Linux 5.12 (`openat2`, the new mount API,
//! `mount_setattr`).
//!
//! ```no_run
//! use palisade::{CapSet, Container, Resources};
//! let mut child = Container::new("/bin/sh")
//!     .args(["-c", "echo hello from $(hostname)"])
//!     .rootfs("/srv/busybox")
//!     .hostname("box")
//!     .cgroup("palisade/demo", Resources::new().memory_max(64 << 20).pids_max(64))
//!     .capabilities(CapSet::docker_default())
//!     .init(true)
//!     .spawn()?;
//! let status = child.wait()?; // the cgroup is removed here
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod attrs;
mod child;
mod cleanup;
mod config;
mod error;
mod exec;
mod hooks;
mod idmap;
mod inroot;
mod mountfd;
mod mountopts;
mod net;
mod nopivot;
mod passfd;
mod plan;
mod pty;
mod rootfs;
mod spawn;
mod spawner;
mod spec;
mod stack;
mod state;
mod trampoline;

pub use attrs::{Personality, RlimitKind, UnknownRlimit};
pub use cleanup::{CleanupReport, cleanup_stale};
pub use config::{
    Container, DOCKER_MASKED_PATHS, DOCKER_READONLY_PATHS, Device, Macvlan, Mount, Network, Rlimit,
    Rootfs, Seccomp, Stdio, TmpfsOptions, Veth,
};
pub use error::{Error, SpawnError, Step};
pub use exec::Exec;
pub use hooks::{Hook, HookFn, HookPoint};
pub use mountopts::{MountOptionError, MountOptions, Propagation};
pub use spawn::{Child, Created};
pub use spec::{
    CgroupConfig, ContainerConfig, JoinConfig, NetworkConfig, RlimitConfig, rlimit_by_name,
};
pub use state::{Attached, ContainerState, CreatedGate, Status, set_child_subreaper};

pub use palisade_caps::{self as caps, CapSet, Capability};
pub use palisade_cgroup::{self as cgroup, Resources};
pub use palisade_netlink as netlink;
pub use palisade_ns::{
    self as ns, ExitStatus, IdMap, IdMaps, Namespace, NsKind, NsKinds, TimeOffsets,
};
pub use palisade_overlay as overlay;
pub use palisade_seccomp as seccomp;
