//! The container description: a builder with Docker-like defaults.

use std::path::PathBuf;

use palisade_caps::CapSet;
use palisade_cgroup::{DeviceAccess, DeviceRule, DeviceType, Resources};
use palisade_netlink::MacvlanMode;
use palisade_ns::{IdMaps, Namespace, NsKind, NsKinds, TimeOffsets};

/// Where the container's `/` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "lowercase", deny_unknown_fields)
)]
pub enum Rootfs {
    /// A directory on the host (bound, then `pivot_root`ed into).
    Dir(PathBuf),
    /// An OverlayFS of read-only `lowers` (top first) and a writable
    /// `upper` with its `work` directory on the same filesystem.
    Overlay {
        /// Read-only layers, top to bottom.
        lowers: Vec<PathBuf>,
        /// The container's writable layer.
        upper: PathBuf,
        /// OverlayFS work directory (empty, same filesystem as `upper`).
        work: PathBuf,
    },
}

/// An extra mount inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "lowercase", deny_unknown_fields)
)]
pub enum Mount {
    /// Bind a host path at `target` (read-only if `readonly`).
    Bind {
        /// Host path.
        source: PathBuf,
        /// Path inside the container.
        target: PathBuf,
        /// Remount read-only.
        #[cfg_attr(feature = "serde", serde(default))]
        readonly: bool,
    },
    /// A tmpfs of `size_bytes` at `target`, mode `1777`, `nosuid,nodev`
    /// (Docker's `--tmpfs` defaults). [`Mount::tmpfs`] spells out size,
    /// mode, owner and flags.
    Tmpfs {
        /// Path inside the container.
        target: PathBuf,
        /// Size limit in bytes, at least 1: the kernel reads `size=0` as no
        /// limit at all, so `0` is refused ([`Step::Validate`](crate::Step::Validate)).
        size_bytes: u64,
    },
    /// A tmpfs with every option spelled out (OCI `tmpfs` mount options,
    /// `docker run --mount type=tmpfs,tmpfs-mode=…`); see [`Mount::tmpfs`].
    #[cfg_attr(feature = "serde", serde(rename = "tmpfs_with"))]
    TmpfsWith {
        /// Path inside the container.
        target: PathBuf,
        /// Size, mode, owner and mount flags.
        #[cfg_attr(feature = "serde", serde(default))]
        options: TmpfsOptions,
    },
    /// Any mount an OCI `mounts[]` entry describes: `fstype` (`bind` for
    /// a bind, or any filesystem: `proc`, `sysfs`, `tmpfs`, `devpts`,
    /// `mqueue`, `cgroup2`, `overlay`, …), `source` (a host path for a
    /// bind; for a filesystem its `source` parameter, `none` for none),
    /// `target` inside the container, and `options` as the spec and
    /// `mount -o` spell them (see [`MountOptions`](crate::MountOptions)):
    /// flags, `bind`/`rbind`, `rro`, propagation, data options. Checked
    /// before anything is created; a bind's target is made a file or a
    /// directory to match its source. See [`Mount::oci`].
    Oci {
        /// `bind` or a filesystem type.
        fstype: String,
        /// Host path of a bind, or the filesystem's source.
        source: String,
        /// Path inside the container.
        target: PathBuf,
        /// OCI options (`["rbind", "ro", "rslave"]`).
        #[cfg_attr(feature = "serde", serde(default))]
        options: Vec<String>,
    },
}

impl Mount {
    /// An OCI-style mount, its options parsed now (a typed error names
    /// an unknown option).
    ///
    /// ```
    /// use palisade::Mount;
    /// let data = Mount::oci("bind", "/srv/data", "/data", ["rbind", "rro", "rprivate"])?;
    /// let run = Mount::oci("tmpfs", "tmpfs", "/run", "nosuid,nodev,mode=755,size=64m".split(','))?;
    /// assert!(Mount::oci("tmpfs", "tmpfs", "/x", ["sizee=1"]).is_err());
    /// # Ok::<(), palisade::MountOptionError>(())
    /// ```
    pub fn oci<I, S>(
        fstype: &str,
        source: &str,
        target: impl Into<PathBuf>,
        options: I,
    ) -> Result<Mount, crate::MountOptionError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let options: Vec<String> = options.into_iter().map(|s| s.as_ref().to_owned()).collect();
        crate::MountOptions::parse(fstype, &options)?;
        Ok(Mount::Oci {
            fstype: fstype.to_owned(),
            source: source.to_owned(),
            target: target.into(),
            options,
        })
    }

    /// A tmpfs at `target` with `options`.
    ///
    /// ```
    /// use palisade::{Mount, TmpfsOptions};
    /// let run = Mount::tmpfs("/run", TmpfsOptions::new().size_bytes(64 << 20).mode(0o755).noexec(true));
    /// assert!(matches!(run, Mount::TmpfsWith { .. }));
    /// ```
    pub fn tmpfs(target: impl Into<PathBuf>, options: TmpfsOptions) -> Mount {
        Mount::TmpfsWith {
            target: target.into(),
            options,
        }
    }
}

/// The options of a [`Mount::TmpfsWith`]: the tmpfs parameters `size`,
/// `mode`, `uid`, `gid` (given to `fsconfig`, see the kernel's
/// `Documentation/filesystems/tmpfs.rst`) and the mount attributes
/// `MOUNT_ATTR_NOEXEC`, `_NOSUID`, `_NODEV`, `_RDONLY`. Defaults are
/// Docker's: no size (the kernel's default, half of RAM), mode `1777`,
/// owner root of the container, `nosuid,nodev`, exec allowed, writable.
/// Refused at [`Step::Validate`](crate::Step::Validate), before anything is
/// created: `size_bytes: Some(0)` (the kernel reads it as no limit at all),
/// a mode above `0o7777`, a uid or gid of `u32::MAX` (the kernel's "no id").
///
/// ```
/// use palisade::TmpfsOptions;
/// let o = TmpfsOptions::new().size_bytes(1 << 20).mode(0o700).owner(1000, 1000).noexec(true);
/// assert_eq!((o.mode, o.uid, o.nosuid, o.noexec), (0o700, Some(1000), true, true));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct TmpfsOptions {
    /// Size limit in bytes (`size=`); `None` = the kernel's default, half
    /// of RAM. `Some(0)` is refused.
    pub size_bytes: Option<u64>,
    /// Permission bits of the root directory (`mode=`), at most `0o7777`.
    pub mode: u32,
    /// Owner of the root directory (`uid=`), as the container sees ids;
    /// `None` = 0.
    pub uid: Option<u32>,
    /// Group of the root directory (`gid=`); `None` = 0.
    pub gid: Option<u32>,
    /// `noexec`: no program runs from it.
    pub noexec: bool,
    /// `nosuid`: set-id bits and file capabilities are ignored.
    pub nosuid: bool,
    /// `nodev`: device nodes on it cannot be opened.
    pub nodev: bool,
    /// Read-only (an empty read-only tmpfs, e.g. to hide a directory).
    pub readonly: bool,
}

impl Default for TmpfsOptions {
    fn default() -> TmpfsOptions {
        TmpfsOptions {
            size_bytes: None,
            mode: 0o1777,
            uid: None,
            gid: None,
            noexec: false,
            nosuid: true,
            nodev: true,
            readonly: false,
        }
    }
}

impl TmpfsOptions {
    /// Docker's defaults (see the type).
    pub fn new() -> TmpfsOptions {
        TmpfsOptions::default()
    }
    /// Size limit in bytes (at least 1).
    pub fn size_bytes(mut self, bytes: u64) -> Self {
        self.size_bytes = Some(bytes);
        self
    }
    /// Permission bits of the root directory, e.g. `0o755`.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
    /// Owner and group of the root directory, as the container sees ids.
    pub fn owner(mut self, uid: u32, gid: u32) -> Self {
        self.uid = Some(uid);
        self.gid = Some(gid);
        self
    }
    /// Set or clear `noexec`.
    pub fn noexec(mut self, on: bool) -> Self {
        self.noexec = on;
        self
    }
    /// Set or clear `nosuid`.
    pub fn nosuid(mut self, on: bool) -> Self {
        self.nosuid = on;
        self
    }
    /// Set or clear `nodev`.
    pub fn nodev(mut self, on: bool) -> Self {
        self.nodev = on;
        self
    }
    /// Mount it read-only.
    pub fn readonly(mut self, on: bool) -> Self {
        self.readonly = on;
        self
    }
}

/// A device node made in the container, with the cgroup rule that allows
/// it (`docker run --device`, OCI `linux.devices`): `mknod` at `path`
/// (resolved inside the rootfs, usually under `/dev`), then `chmod`
/// `file_mode` and `chown` `uid:gid`. In a user namespace, where the kernel
/// refuses `mknod`, the host's node at the same path is bound instead.
///
/// ```
/// use palisade::Device;
/// let fuse = Device::char("/dev/fuse", 10, 229).file_mode(0o600);
/// assert_eq!(fuse.allow_rule().to_string(), "c 10:229 rwm");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Path inside the container.
    pub path: PathBuf,
    /// [`DeviceType::Char`] or [`DeviceType::Block`].
    pub kind: DeviceType,
    /// Major number (0..=4095).
    pub major: u32,
    /// Minor number (0..=1048575).
    pub minor: u32,
    /// Permission bits (default 0o666).
    pub file_mode: u32,
    /// Owner (default 0).
    pub uid: u32,
    /// Group (default 0).
    pub gid: u32,
}

impl Device {
    /// A character device.
    pub fn char(path: impl Into<PathBuf>, major: u32, minor: u32) -> Device {
        Device::new(path.into(), DeviceType::Char, major, minor)
    }

    /// A block device.
    pub fn block(path: impl Into<PathBuf>, major: u32, minor: u32) -> Device {
        Device::new(path.into(), DeviceType::Block, major, minor)
    }

    fn new(path: PathBuf, kind: DeviceType, major: u32, minor: u32) -> Device {
        Device {
            path,
            kind,
            major,
            minor,
            file_mode: 0o666,
            uid: 0,
            gid: 0,
        }
    }

    /// Permission bits of the node.
    pub fn file_mode(mut self, mode: u32) -> Self {
        self.file_mode = mode;
        self
    }

    /// Owner of the node.
    pub fn owner(mut self, uid: u32, gid: u32) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// The rule that lets the container read, write and `mknod` it.
    pub fn allow_rule(&self) -> DeviceRule {
        DeviceRule::allow(
            self.kind,
            Some(self.major),
            Some(self.minor),
            DeviceAccess::all(),
        )
    }
}

/// The container's syscall filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Seccomp {
    /// Docker's default profile, its capability-dependent rules resolved
    /// against the container's capabilities (what `docker run` gives).
    #[default]
    DockerDefault,
    /// A profile of one's own (OCI `linux.seccomp`, or a Docker/Podman
    /// profile file: [`Profile::from_json`](palisade_seccomp::Profile::from_json)).
    Profile(palisade_seccomp::Profile),
    /// No filter (`--security-opt seccomp=unconfined`).
    Unconfined,
}

/// The container's network.
#[derive(Debug)]
pub enum Network {
    /// A new network namespace with only `lo`, up.
    None,
    /// The host's network (no new network namespace).
    Host,
    /// Join an existing network namespace.
    Join(Namespace),
    /// A new network namespace wired to the host by a veth pair.
    Veth(Veth),
    /// A new network namespace whose interface is a macvlan of a host
    /// interface, born inside it with its final name.
    Macvlan(Macvlan),
}

/// A macvlan of the host interface `parent`, created directly inside the
/// container's network namespace as `name` (default `eth0`): the container
/// gets its own MAC address on the parent's network.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Macvlan {
    /// The host interface it hangs off.
    pub parent: String,
    /// Name inside the container (≤ 15 bytes).
    #[cfg_attr(feature = "serde", serde(default = "default_ifname"))]
    pub name: String,
    /// Bridge (default), private, vepa or passthru.
    #[cfg_attr(feature = "serde", serde(default = "default_macvlan_mode"))]
    pub mode: MacvlanMode,
    /// Container address with prefix, e.g. `192.168.1.50/24`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub address: Option<String>,
    /// Default gateway inside the container.
    #[cfg_attr(feature = "serde", serde(default))]
    pub gateway: Option<String>,
    /// MTU (at most the parent's).
    #[cfg_attr(feature = "serde", serde(default))]
    pub mtu: Option<u32>,
}

#[cfg(feature = "serde")]
fn default_ifname() -> String {
    "eth0".to_owned()
}

#[cfg(feature = "serde")]
fn default_macvlan_mode() -> MacvlanMode {
    MacvlanMode::Bridge
}

/// A veth pair: `host` end stays on the host (optionally addressed, or
/// enslaved to a bridge), `peer` is born inside the container with its
/// final name, address and default route.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Veth {
    /// Host-side interface name (≤ 15 bytes).
    pub host: String,
    /// Container-side interface name (≤ 15 bytes), e.g. `eth0`.
    pub peer: String,
    /// Container address with prefix, e.g. `10.88.0.2/24`.
    pub address: Option<String>,
    /// Default gateway inside the container, e.g. `10.88.0.1`.
    pub gateway: Option<String>,
    /// Address of the host end, e.g. `10.88.0.1/24`.
    pub host_address: Option<String>,
    /// Attach the host end to this bridge instead of addressing it.
    pub bridge: Option<String>,
    /// MTU of both ends.
    pub mtu: Option<u32>,
    /// Dual stack: the container's IPv6 address beside an IPv4 `address`
    /// (Docker's `--ip6`), e.g. `fd00:1::2/64`.
    pub address6: Option<String>,
    /// Dual stack: the IPv6 default gateway, e.g. `fd00:1::1`.
    pub gateway6: Option<String>,
    /// Dual stack: the host end's IPv6 address, e.g. `fd00:1::1/64`.
    pub host_address6: Option<String>,
}

impl Network {
    /// A veth pair `host` ↔ `peer`. Every address palisade gives either
    /// end is usable when `spawn` returns: IPv6 ones skip duplicate
    /// address detection (`IFA_F_NODAD`; the link is new, there is nothing
    /// to collide with), the routes are in and `lo` is up.
    ///
    /// ```
    /// let n = palisade::Network::veth("ph0", "eth0").address("10.88.0.2/24").gateway("10.88.0.1");
    /// ```
    pub fn veth(host: &str, peer: &str) -> Veth {
        Veth {
            host: host.to_owned(),
            peer: peer.to_owned(),
            address: None,
            gateway: None,
            host_address: None,
            bridge: None,
            mtu: None,
            address6: None,
            gateway6: None,
            host_address6: None,
        }
    }
}

impl Network {
    /// A macvlan `eth0` on the host interface `parent`, bridge mode.
    ///
    /// ```
    /// let n = palisade::Network::macvlan("eth1").address("192.168.1.50/24").gateway("192.168.1.1");
    /// assert_eq!(n.name, "eth0");
    /// ```
    pub fn macvlan(parent: &str) -> Macvlan {
        Macvlan {
            parent: parent.to_owned(),
            name: "eth0".to_owned(),
            mode: MacvlanMode::Bridge,
            address: None,
            gateway: None,
            mtu: None,
        }
    }
}

impl Macvlan {
    /// Name inside the container.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }
    /// Macvlan mode.
    pub fn mode(mut self, mode: MacvlanMode) -> Self {
        self.mode = mode;
        self
    }
    /// Container address with prefix.
    pub fn address(mut self, cidr: &str) -> Self {
        self.address = Some(cidr.to_owned());
        self
    }
    /// Default gateway inside the container.
    pub fn gateway(mut self, ip: &str) -> Self {
        self.gateway = Some(ip.to_owned());
        self
    }
    /// MTU.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }
}

impl From<Macvlan> for Network {
    fn from(m: Macvlan) -> Network {
        Network::Macvlan(m)
    }
}

impl Veth {
    /// Container address with prefix.
    pub fn address(mut self, cidr: &str) -> Self {
        self.address = Some(cidr.to_owned());
        self
    }
    /// Default gateway inside the container.
    pub fn gateway(mut self, ip: &str) -> Self {
        self.gateway = Some(ip.to_owned());
        self
    }
    /// Address of the host end.
    pub fn host_address(mut self, cidr: &str) -> Self {
        self.host_address = Some(cidr.to_owned());
        self
    }
    /// Dual stack: the container's IPv6 address with prefix, beside an
    /// IPv4 [`address`](Veth::address).
    ///
    /// ```
    /// let n = palisade::Network::veth("ph0", "eth0")
    ///     .address("10.88.0.2/24").host_address("10.88.0.1/24").gateway("10.88.0.1")
    ///     .address6("fd00:1::2/64").host_address6("fd00:1::1/64").gateway6("fd00:1::1");
    /// ```
    pub fn address6(mut self, cidr: &str) -> Self {
        self.address6 = Some(cidr.to_owned());
        self
    }
    /// Dual stack: the IPv6 default gateway inside the container.
    pub fn gateway6(mut self, ip: &str) -> Self {
        self.gateway6 = Some(ip.to_owned());
        self
    }
    /// Dual stack: the IPv6 address of the host end.
    pub fn host_address6(mut self, cidr: &str) -> Self {
        self.host_address6 = Some(cidr.to_owned());
        self
    }
    /// Enslave the host end to a bridge.
    pub fn bridge(mut self, name: &str) -> Self {
        self.bridge = Some(name.to_owned());
        self
    }
    /// MTU of both ends.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }
}

impl From<Veth> for Network {
    fn from(v: Veth) -> Network {
        Network::Veth(v)
    }
}

/// What a standard stream of the container is connected to. (For a
/// terminal on all three, see [`Container::terminal`].)
#[derive(Debug, Default)]
pub enum Stdio {
    /// The caller's own stream (the default).
    #[default]
    Inherit,
    /// `/dev/null`.
    Null,
    /// A pipe; the other end is on [`Child`](crate::Child).
    Piped,
    /// This fd (a file, socket, pipe end…), `dup2`'d onto the stream in
    /// the container; the caller's copy is closed when the `Container` is
    /// dropped.
    ///
    /// ```no_run
    /// use palisade::{Container, Stdio};
    /// let log = std::fs::File::create("/tmp/out.log")?;
    /// Container::new("/bin/date").rootfs("/srv/busybox")
    ///     .stdout(Stdio::Fd(log.into()))
    ///     .spawn()?.wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Fd(std::os::fd::OwnedFd),
}

impl Stdio {
    /// `Inherit`, `Null` or `Piped` again; an `Fd` is duplicated
    /// (`F_DUPFD_CLOEXEC`).
    pub fn try_clone(&self) -> std::io::Result<Stdio> {
        Ok(match self {
            Stdio::Inherit => Stdio::Inherit,
            Stdio::Null => Stdio::Null,
            Stdio::Piped => Stdio::Piped,
            Stdio::Fd(fd) => Stdio::Fd(fd.try_clone()?),
        })
    }
}

/// A resource limit (`setrlimit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// `libc::RLIMIT_*`.
    pub resource: u32,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// Docker's default masked paths.
pub const DOCKER_MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's default read-only paths.
pub const DOCKER_READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// A container to start: program, isolation, limits, network, privileges.
///
/// Defaults follow `docker run`: new mount, uts, ipc, pid, net and cgroup
/// namespaces; only `lo` up; Docker's 14 capabilities; Docker's masked and
/// read-only paths; a minimal `/dev`; `PATH` and `HOME` set, everything else
/// cleared (`TERM` passed through); parent-death signal `SIGKILL`.
///
/// ```no_run
/// use palisade::{Container, Resources};
/// let mut child = Container::new("/bin/sh")
///     .args(["-c", "echo hello from $(hostname)"])
///     .rootfs("/srv/busybox")
///     .hostname("box")
///     .cgroup("palisade/demo", Resources::new().memory_max(64 << 20).pids_max(64))
///     .spawn()?;
/// let status = child.wait()?;
/// assert!(status.success());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Container {
    pub(crate) program: String,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: String,
    pub(crate) namespaces: NsKinds,
    pub(crate) joins: Vec<Namespace>,
    pub(crate) join_pids: Vec<(i32, NsKinds)>,
    pub(crate) hostname: Option<String>,
    pub(crate) domainname: Option<String>,
    pub(crate) rootfs: Option<Rootfs>,
    pub(crate) mounts: Vec<Mount>,
    pub(crate) dev: bool,
    pub(crate) sys: bool,
    pub(crate) masked_paths: Vec<String>,
    pub(crate) readonly_paths: Vec<String>,
    pub(crate) cgroup: Option<(String, Resources)>,
    /// An exec: the running container's cgroup to join (not to create).
    pub(crate) exec_cgroup: Option<palisade_cgroup::Cgroup>,
    pub(crate) device_rules: Vec<DeviceRule>,
    pub(crate) seccomp: Seccomp,
    pub(crate) cgroup_manager: palisade_cgroup::CgroupManager,
    pub(crate) hooks: Vec<(crate::HookPoint, crate::hooks::AnyHook)>,
    pub(crate) id: Option<String>,
    pub(crate) bundle: Option<String>,
    pub(crate) devices: Vec<Device>,
    pub(crate) network: Network,
    pub(crate) sysctls: Vec<(String, String)>,
    pub(crate) user: Option<(u32, u32)>,
    pub(crate) groups: Vec<u32>,
    pub(crate) id_maps: Option<(IdMaps, IdMaps)>,
    pub(crate) capabilities: CapSet,
    pub(crate) no_new_privs: bool,
    pub(crate) rlimits: Vec<Rlimit>,
    pub(crate) time_offsets: Option<TimeOffsets>,
    pub(crate) stdio: [Stdio; 3],
    /// A pseudo-terminal on 0/1/2: (rows, columns) at start.
    pub(crate) terminal: Option<(u16, u16)>,
    /// An exec: the terminal comes from the joined container's root, and
    /// its /dev/console is left alone.
    pub(crate) terminal_in_joined_root: bool,
    /// The OCI console socket the terminal's master goes to.
    pub(crate) console_socket: Option<PathBuf>,
    /// Extra fds for the program, at these numbers.
    pub(crate) pass_fds: Vec<(std::os::fd::OwnedFd, i32)>,
    pub(crate) umask: Option<u32>,
    pub(crate) readonly_rootfs: bool,
    /// Enter the root by MS_MOVE + chroot, not pivot_root.
    pub(crate) no_pivot: bool,
    pub(crate) cgroup_all_controllers: bool,
    pub(crate) personality: Option<crate::Personality>,
    pub(crate) rootfs_propagation: Option<(crate::Propagation, bool)>,
    pub(crate) oom_score_adj: Option<i32>,
    /// Join a new session keyring (runc's default).
    pub(crate) session_keyring: bool,
    pub(crate) init: bool,
    pub(crate) parent_death_signal: Option<i32>,
    pub(crate) rootless: bool,
}

impl Container {
    /// A container running `program` (a path inside the container).
    pub fn new(program: impl Into<String>) -> Container {
        let mut env = vec![
            (
                "PATH".to_owned(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
            ),
            ("HOME".to_owned(), "/root".to_owned()),
        ];
        if let Ok(term) = std::env::var("TERM") {
            env.push(("TERM".to_owned(), term));
        }
        Container {
            program: program.into(),
            args: Vec::new(),
            env,
            cwd: "/".to_owned(),
            namespaces: NsKinds::MNT
                | NsKinds::UTS
                | NsKinds::IPC
                | NsKinds::PID
                | NsKinds::NET
                | NsKinds::CGROUP,
            joins: Vec::new(),
            join_pids: Vec::new(),
            hostname: None,
            domainname: None,
            rootfs: None,
            mounts: Vec::new(),
            dev: true,
            sys: true,
            masked_paths: DOCKER_MASKED_PATHS.iter().map(|s| s.to_string()).collect(),
            readonly_paths: DOCKER_READONLY_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            cgroup: None,
            exec_cgroup: None,
            device_rules: DeviceRule::docker_default(),
            seccomp: Seccomp::DockerDefault,
            cgroup_manager: palisade_cgroup::CgroupManager::Cgroupfs,
            hooks: Vec::new(),
            id: None,
            bundle: None,
            devices: Vec::new(),
            network: Network::None,
            sysctls: Vec::new(),
            user: None,
            groups: Vec::new(),
            id_maps: None,
            capabilities: CapSet::docker_default(),
            no_new_privs: false,
            rlimits: Vec::new(),
            time_offsets: None,
            stdio: Default::default(),
            terminal: None,
            terminal_in_joined_root: false,
            console_socket: None,
            pass_fds: Vec::new(),
            umask: None,
            readonly_rootfs: false,
            no_pivot: false,
            cgroup_all_controllers: false,
            personality: None,
            rootfs_propagation: None,
            oom_score_adj: None,
            session_keyring: true,
            init: false,
            parent_death_signal: Some(libc::SIGKILL),
            // SAFETY: geteuid has no preconditions.
            rootless: unsafe { libc::geteuid() } != 0,
        }
    }

    /// Arguments after the program name.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets (or replaces) one environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Removes every environment variable, defaults included.
    pub fn env_clear(mut self) -> Self {
        self.env.clear();
        self
    }

    /// Working directory inside the container (default `/`): an absolute
    /// path, resolved inside the rootfs as the container sees it (symlinks
    /// of the image followed within it, never to the host; `/proc/*/fd/*`
    /// magic links refused) and made if missing, as `docker run -w` does.
    /// A directory that cannot be entered, or that is not beneath the
    /// root, fails the `Cwd` step.
    pub fn cwd(mut self, dir: &str) -> Self {
        self.cwd = dir.to_owned();
        self
    }

    /// Device access rules (OCI `linux.resources.devices`, in order, later
    /// ones overriding earlier ones), replacing the default
    /// [`DeviceRule::docker_default`]: deny every device but `mknod` and
    /// the standard nodes (null, zero, full, random, urandom, tty,
    /// console, ptmx, pts, tun), as `docker run` does. Rules of
    /// [`device`](Self::device)s and of the cgroup's [`Resources`] come
    /// after these. `[DeviceRule::allow_all()]` is a privileged container.
    ///
    /// They are put in force by the container's cgroup — v1 `devices` and,
    /// where cgroup2 is mounted, a `BPF_CGROUP_DEVICE` program. Without a
    /// [`cgroup`](Self::cgroup), one is made for them (`palisade-dev-…`,
    /// removed with the container), except in a user namespace, where the
    /// kernel refuses `mknod` anyway and no cgroup may be made.
    ///
    /// ```no_run
    /// use palisade::{Container, cgroup::DeviceRule};
    /// let mut rules = DeviceRule::docker_default();
    /// rules.push(DeviceRule::parse(false, "c 1:9 rw")?); // no /dev/urandom
    /// let c = Container::new("/bin/sh").rootfs("/srv/busybox").device_rules(rules);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn device_rules(mut self, rules: impl IntoIterator<Item = DeviceRule>) -> Self {
        self.device_rules = rules.into_iter().collect();
        self
    }

    /// A hook command at a lifecycle point (see [`HookPoint`](crate::HookPoint)
    /// for where each runs and which failures abort). Hooks of one point run
    /// in the order added, each with the container's state JSON on stdin
    /// (`{"ociVersion","id","status","pid","bundle"}`).
    ///
    /// ```no_run
    /// use palisade::{Container, Hook, HookPoint};
    /// let c = Container::new("/bin/true").rootfs("/srv/busybox")
    ///     .hook(HookPoint::CreateRuntime, Hook::new("/usr/local/bin/setup-net"));
    /// ```
    pub fn hook(mut self, point: crate::HookPoint, hook: crate::Hook) -> Self {
        self.hooks
            .push((point, crate::hooks::AnyHook::Command(hook)));
        self
    }

    /// A closure hook, run in the calling process at `point` with the
    /// state JSON (for `CreateContainer` and `StartContainer` too: it runs
    /// on the host at that moment). An `Err` is the hook failing.
    pub fn hook_fn(
        mut self,
        point: crate::HookPoint,
        f: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.hooks
            .push((point, crate::hooks::AnyHook::Fn(std::sync::Arc::new(f))));
        self
    }

    /// The container's id in hook state JSON (default `palisade-<pid>`).
    pub fn id(mut self, id: &str) -> Self {
        self.id = Some(id.to_owned());
        self
    }

    /// The bundle path in hook state JSON (default empty).
    pub fn bundle(mut self, path: &str) -> Self {
        self.bundle = Some(path.to_owned());
        self
    }

    /// The syscall filter (default [`Seccomp::DockerDefault`], as `docker
    /// run`). It is compiled in the parent (Docker's profile once per
    /// capability set, then cached) and installed in the child with one
    /// `seccomp(2)` call: last before `execve` when `no_new_privs` is set,
    /// otherwise before capabilities are dropped, while `CAP_SYS_ADMIN` is
    /// still held (as runc orders it). A call the profile does not know
    /// gets `ENOSYS`, so libc falls back to an older one.
    ///
    /// ```no_run
    /// use palisade::{Container, Seccomp, seccomp::Profile};
    /// let profile = Profile::from_json(&std::fs::read_to_string("/etc/containers/seccomp.json")?)?;
    /// let c = Container::new("/bin/sh").rootfs("/srv/busybox").seccomp(Seccomp::Profile(profile));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seccomp(mut self, filter: Seccomp) -> Self {
        self.seccomp = filter;
        self
    }

    /// Who makes the container's [`cgroup`](Self::cgroup): palisade itself
    /// in cgroupfs (the default), or systemd, as a transient scope unit
    /// (`CgroupManager::Systemd`: the path is then `slice:prefix:name`, e.g.
    /// `system.slice:palisade:web`; needs the crate feature `systemd` and a
    /// running systemd, else `SpawnError { step: Cgroup }` saying so). The
    /// scope is made around the first process after the clone; limits
    /// systemd cannot express are written to the delegated group. A
    /// cgroup made only for device rules stays in cgroupfs.
    ///
    /// ```no_run
    /// use palisade::{Container, Resources, cgroup::CgroupManager};
    /// let c = Container::new("/bin/true").rootfs("/srv/busybox")
    ///     .cgroup("system.slice:palisade:web", Resources::new().memory_max(64 << 20))
    ///     .cgroup_manager(CgroupManager::Systemd);
    /// ```
    pub fn cgroup_manager(mut self, manager: palisade_cgroup::CgroupManager) -> Self {
        self.cgroup_manager = manager;
        self
    }

    /// No syscall filter: `seccomp(Seccomp::Unconfined)`.
    pub fn seccomp_unconfined(self) -> Self {
        self.seccomp(Seccomp::Unconfined)
    }

    /// Makes a device node in the container and allows it (see [`Device`]).
    pub fn device(mut self, device: Device) -> Self {
        self.devices.push(device);
        self
    }

    /// The set of new namespaces (replaces the default set).
    pub fn namespaces(mut self, kinds: NsKinds) -> Self {
        self.namespaces = kinds;
        self
    }

    /// Join an existing namespace instead of creating one of its kind.
    /// Joining a network namespace replaces the [`network`](Self::network).
    pub fn join(mut self, ns: Namespace) -> Self {
        self.namespaces.remove(ns.kind().into());
        if ns.kind() == NsKind::Net {
            self.network = Network::Host;
        }
        self.joins.push(ns);
        self
    }

    /// Join the `kinds` namespaces of the running process `pid` (another
    /// container, say) — what `docker run --net=container:X --pid=…`
    /// does. They are opened when [`spawn`](Self::spawn) runs; a process
    /// that is gone by then fails the `JoinNamespace` step.
    ///
    /// ```no_run
    /// use palisade::{Container, NsKinds};
    /// # let first_pid = 1;
    /// // A sidecar in the first container's network and uts namespaces.
    /// let sidecar = Container::new("/bin/sh").rootfs("/srv/busybox")
    ///     .join_pid(first_pid, NsKinds::NET | NsKinds::UTS);
    /// ```
    pub fn join_pid(mut self, pid: i32, kinds: NsKinds) -> Self {
        self.namespaces.remove(kinds);
        if kinds.contains(NsKinds::NET) {
            self.network = Network::Host;
        }
        self.join_pids.push((pid, kinds));
        self
    }

    /// Hostname (needs a new uts namespace).
    pub fn hostname(mut self, name: &str) -> Self {
        self.hostname = Some(name.to_owned());
        self
    }

    /// NIS domain name (needs a new uts namespace).
    pub fn domainname(mut self, name: &str) -> Self {
        self.domainname = Some(name.to_owned());
        self
    }

    /// A host directory as the root filesystem.
    pub fn rootfs(mut self, dir: impl Into<PathBuf>) -> Self {
        self.rootfs = Some(Rootfs::Dir(dir.into()));
        self
    }

    /// An OverlayFS root: `lowers` top first, writable `upper` and `work`.
    pub fn overlay_rootfs<I, P>(
        mut self,
        lowers: I,
        upper: impl Into<PathBuf>,
        work: impl Into<PathBuf>,
    ) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.rootfs = Some(Rootfs::Overlay {
            lowers: lowers.into_iter().map(Into::into).collect(),
            upper: upper.into(),
            work: work.into(),
        });
        self
    }

    /// An extra mount.
    pub fn mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Whether to build the minimal `/dev` (default yes).
    pub fn dev(mut self, yes: bool) -> Self {
        self.dev = yes;
        self
    }

    /// Whether to mount `/sys` read-only (default yes).
    pub fn sys(mut self, yes: bool) -> Self {
        self.sys = yes;
        self
    }

    /// Replaces the masked paths (Docker's by default).
    pub fn masked_paths<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.masked_paths = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Replaces the read-only paths (Docker's by default).
    pub fn readonly_paths<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.readonly_paths = paths.into_iter().map(Into::into).collect();
        self
    }

    /// A cgroup of its own at `path` (relative to each hierarchy's root),
    /// with `resources`; created before start, removed after exit. An
    /// existing empty group is reused; one that already holds processes is
    /// refused (`Step::Cgroup`, `EBUSY`) — its removal would kill them.
    pub fn cgroup(mut self, path: &str, resources: Resources) -> Self {
        self.cgroup = Some((path.to_owned(), resources));
        self
    }

    /// Makes the [`cgroup`](Container::cgroup) in every cgroup v1
    /// hierarchy mounted, as runc does, instead of only in those of the
    /// controllers its resources use (the default: fewer directories to
    /// make, join and remove). Readers that look up the container's group
    /// per controller from `/proc/<pid>/cgroup` — containerd's shim for
    /// `ctr task metrics`, monitoring agents — then find its own
    /// `cpuacct`/`blkio`/… group, not the caller's or the root's (whose
    /// counters are the whole machine's). No effect on a pure cgroup2
    /// machine, where one group holds every controller.
    ///
    /// ```no_run
    /// use palisade::{Container, cgroup::Resources};
    /// Container::new("/bin/true")
    ///     .rootfs("/srv/busybox")
    ///     .cgroup("palisade/box", Resources::new())
    ///     .cgroup_all_controllers(true)
    ///     .spawn()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cgroup_all_controllers(mut self, yes: bool) -> Self {
        self.cgroup_all_controllers = yes;
        self
    }

    /// The network (default: new namespace, only `lo` up).
    pub fn network(mut self, network: impl Into<Network>) -> Self {
        self.network = network.into();
        match self.network {
            Network::Host | Network::Join(_) => self.namespaces.remove(NsKinds::NET),
            Network::None | Network::Veth(_) | Network::Macvlan(_) => {
                self.namespaces.insert(NsKinds::NET)
            }
        }
        self
    }

    /// A namespaced sysctl, e.g. `("net.ipv4.ip_forward", "1")`.
    pub fn sysctl(mut self, key: &str, value: &str) -> Self {
        self.sysctls.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Run as `uid:gid` (inside the container's user namespace if any).
    pub fn user(mut self, uid: u32, gid: u32) -> Self {
        self.user = Some((uid, gid));
        self
    }

    /// Supplementary groups.
    pub fn groups(mut self, groups: &[u32]) -> Self {
        self.groups = groups.to_vec();
        self
    }

    /// A new user namespace with these uid and gid maps.
    pub fn user_namespace(mut self, uids: IdMaps, gids: IdMaps) -> Self {
        self.namespaces |= NsKinds::USER;
        self.id_maps = Some((uids, gids));
        self
    }

    /// Capabilities of the program (Docker's 14 by default).
    pub fn capabilities(mut self, caps: CapSet) -> Self {
        self.capabilities = caps;
        self
    }

    /// Set `no_new_privs` before exec.
    pub fn no_new_privs(mut self, yes: bool) -> Self {
        self.no_new_privs = yes;
        self
    }

    /// A resource limit.
    pub fn rlimit(mut self, resource: u32, soft: u64, hard: u64) -> Self {
        self.rlimits.push(Rlimit {
            resource,
            soft,
            hard,
        });
        self
    }

    /// A new time namespace with these clock offsets (implies `init`).
    ///
    /// The fork happens on a throwaway thread (a multi-threaded process
    /// cannot leave a time namespace it entered), so such a container gets
    /// no [parent-death signal](Self::parent_death_signal): it outlives the
    /// caller unless waited for or killed.
    pub fn time_offsets(mut self, offsets: TimeOffsets) -> Self {
        self.namespaces |= NsKinds::TIME;
        self.time_offsets = Some(offsets);
        self
    }

    /// stdin.
    pub fn stdin(mut self, s: Stdio) -> Self {
        self.stdio[0] = s;
        self
    }

    /// stdout.
    pub fn stdout(mut self, s: Stdio) -> Self {
        self.stdio[1] = s;
        self
    }

    /// stderr.
    pub fn stderr(mut self, s: Stdio) -> Self {
        self.stdio[2] = s;
        self
    }

    /// A pseudo-terminal as the program's stdin, stdout and stderr and its
    /// controlling terminal (`docker run -t`, OCI `process.terminal`): the
    /// pty comes from the container's own devpts after `pivot_root`, the
    /// program starts in a new session with the slave as controlling
    /// terminal, the slave is bound over `/dev/console`, and the window is
    /// `rows` x `cols`. The master is [`Child::pty`](crate::Child::pty)
    /// (or goes to the [`console_socket`](Self::console_socket)). Needs a
    /// rootfs with the default `/dev`; the streams must be left `Inherit`
    /// (else a `Validate` error).
    ///
    /// ```no_run
    /// use std::io::{Read, Write};
    /// let mut child = palisade::Container::new("/bin/sh")
    ///     .rootfs("/srv/busybox")
    ///     .terminal(24, 80)
    ///     .spawn()?;
    /// let mut pty = child.pty().unwrap().try_clone()?;
    /// pty.write_all(b"tty; exit\n")?;
    /// child.resize(50, 132)?; // TIOCSWINSZ; the program gets SIGWINCH
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn terminal(mut self, rows: u16, cols: u16) -> Self {
        self.terminal = Some((rows, cols));
        self
    }

    /// Sends the terminal's master to the unix socket at `path` instead of
    /// keeping it (OCI `--console-socket`, runc's framing: one message,
    /// payload the pty's name `/dev/pts/N`, the fd in `SCM_RIGHTS`), for
    /// conmon or containerd's shim. Connected before anything is created
    /// (a failure is a `Prepare` error naming the path and errno). Needs
    /// [`terminal`](Self::terminal).
    pub fn console_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.console_socket = Some(path.into());
        self
    }

    /// Gives the program `fd` as fd `number` (socket activation: a
    /// listening socket at 3 with `LISTEN_FDS=1`). It is `dup2`'d there
    /// last, just before `execve`, and stays open through palisade-init;
    /// every fd not passed is still closed. `number` must be 3 or more
    /// (0..=2 are [`Stdio::Fd`]) and not passed twice, else `Validate`.
    ///
    /// ```no_run
    /// let listener = std::net::TcpListener::bind("127.0.0.1:8080")?;
    /// palisade::Container::new("/bin/server")
    ///     .rootfs("/srv/app")
    ///     .network(palisade::Network::Host)
    ///     .env("LISTEN_FDS", "1")
    ///     .pass_fd(listener.into(), 3)
    ///     .spawn()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pass_fd(mut self, fd: std::os::fd::OwnedFd, number: i32) -> Self {
        self.pass_fds.push((fd, number));
        self
    }

    /// The program's file mode creation mask (`umask(2)`, OCI
    /// `process.user.umask`), set just before `execve`. Bits beyond 0o777
    /// are a `Validate` error. Default: inherited from the caller.
    ///
    /// ```no_run
    /// palisade::Container::new("/bin/sh").rootfs("/srv/busybox").umask(0o027).spawn()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn umask(mut self, mask: u32) -> Self {
        self.umask = Some(mask);
        self
    }

    /// The program's `oom_score_adj` (-1000..=1000, proc(5); OCI
    /// `process.oomScoreAdj`, `docker run --oom-score-adj`), written to
    /// `/proc/self/oom_score_adj` in the child before capabilities are
    /// dropped (lowering it needs `CAP_SYS_RESOURCE`). Out of range is a
    /// `Validate` error.
    ///
    /// ```no_run
    /// palisade::Container::new("/bin/sh").rootfs("/srv/busybox").oom_score_adj(500).spawn()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn oom_score_adj(mut self, value: i32) -> Self {
        self.oom_score_adj = Some(value);
        self
    }

    /// A resource limit by kind (`setrlimit(2)`; OCI `process.rlimits`,
    /// `docker run --ulimit nofile=1024:2048`). Soft above hard is a
    /// `Validate` error. Names parse with [`RlimitKind::from_str`](std::str::FromStr).
    ///
    /// ```no_run
    /// use palisade::{Container, RlimitKind};
    /// Container::new("/bin/sh").rootfs("/srv/busybox")
    ///     .ulimit(RlimitKind::Nofile, 1024, 2048)
    ///     .ulimit("nproc".parse()?, 64, 64)
    ///     .spawn()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ulimit(self, kind: crate::RlimitKind, soft: u64, hard: u64) -> Self {
        self.rlimit(kind.resource(), soft, hard)
    }

    /// A read-only root filesystem (`docker run --read-only`, OCI
    /// `root.readonly`): after `pivot_root` the root mount is made
    /// read-only (`mount_setattr`, not recursive); `/dev`, `/proc`, `/dev/shm`
    /// and the extra mounts keep their own flags, and `/run` gets a tmpfs
    /// (mode 755, nosuid, nodev) unless a mount already targets it.
    ///
    /// ```no_run
    /// palisade::Container::new("/bin/sh").rootfs("/srv/busybox").readonly_rootfs(true).spawn()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn readonly_rootfs(mut self, yes: bool) -> Self {
        self.readonly_rootfs = yes;
        self
    }

    /// Enter the root filesystem without `pivot_root` (runc's and crun's
    /// `--no-pivot`): the rootfs is moved onto `/` (`MS_MOVE`) and the
    /// program `chroot`s into it. For roots where `pivot_root(2)` cannot
    /// work: a host running from its initramfs (rootfs), whose root mount
    /// can never be moved or unmounted.
    ///
    /// **Weaker isolation**: the old root stays mounted beneath the
    /// container's `/` in its mount namespace. Paths cannot reach it (`..`
    /// at `/` stays at `/`, even through the `CAP_SYS_CHROOT` chroot-escape
    /// trick), but a process with `CAP_SYS_ADMIN` can unmount `/`, after
    /// which whatever enters the namespace (an exec) finds the host's root
    /// filesystem. Before the move every host mount outside the rootfs (and
    /// not an ancestor of it) is detached, so `/proc`, `/sys`, `/dev` and data
    /// mounts of the host are not among what remains; a locked `proc`/`sysfs`
    /// is covered by an empty read-only tmpfs. Use `pivot_root` (the
    /// default) wherever it works; never add `CAP_SYS_ADMIN` here.
    /// Needs a rootfs and a new mount namespace, like every root switch.
    ///
    /// ```no_run
    /// palisade::Container::new("/bin/sh").rootfs("/srv/busybox").no_pivot(true).spawn()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn no_pivot(mut self, yes: bool) -> Self {
        self.no_pivot = yes;
        self
    }

    /// The program's execution domain (personality(2), OCI
    /// `linux.personality`): `Linux32` makes `uname -m` say `i686` on
    /// x86_64, as `setarch linux32` does. Set just before `execve`.
    ///
    /// ```no_run
    /// use palisade::{Container, Personality};
    /// Container::new("/bin/uname").args(["-m"]).rootfs("/srv/busybox")
    ///     .personality(Personality::Linux32).spawn()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn personality(mut self, p: crate::Personality) -> Self {
        self.personality = Some(p);
        self
    }

    /// The propagation of the container's mount tree (OCI
    /// `linux.rootfsPropagation`; default `rprivate`): `Slave` lets the
    /// host's mount events in, never out; `Shared` puts the container's
    /// root in a new peer group after `pivot_root`; `recursive` for the
    /// `r`-forms. Needs a new mount namespace.
    pub fn rootfs_propagation(mut self, p: crate::Propagation, recursive: bool) -> Self {
        self.rootfs_propagation = Some((p, recursive));
        self
    }

    /// Join a new anonymous session keyring (`KEYCTL_JOIN_SESSION_KEYRING`,
    /// keyrings(7)) so the container shares no keys with the caller's
    /// session — runc's default, and this one's. `false` keeps the
    /// caller's. A kernel without keyrings (`ENOSYS`) is not an error.
    pub fn session_keyring(mut self, yes: bool) -> Self {
        self.session_keyring = yes;
        self
    }

    /// Run a minimal PID 1 that forwards SIGTERM/SIGINT/SIGHUP to the
    /// program, reaps every zombie and exits with the program's status
    /// (`docker run --init`).
    pub fn init(mut self, yes: bool) -> Self {
        self.init = yes;
        self
    }

    /// Signal the container's first process gets when the spawning
    /// process dies (default `SIGKILL`; `None` to keep it running). Every
    /// container is forked by one long-lived thread of the process, so a
    /// short-lived spawning thread ending does not count as a death.
    pub fn parent_death_signal(mut self, signal: Option<i32>) -> Self {
        self.parent_death_signal = signal;
        self
    }

    /// Rootless mode (the default when the caller is not root): the
    /// container gets a new user namespace in which the caller's uid and
    /// gid are root (unless [`user_namespace`](Self::user_namespace) gives
    /// other maps), `setgroups` is denied as the kernel requires for an
    /// unprivileged map, and what needs real root on the host is refused
    /// before anything starts: veth/macvlan networking, an overlay root
    /// mounted by the host, supplementary groups. A cgroup works only where
    /// one was delegated to the caller.
    ///
    /// ```no_run
    /// // As any user: a container whose root is you.
    /// let mut child = palisade::Container::new("/bin/id")
    ///     .rootfs("/home/me/busybox")
    ///     .rootless(true)
    ///     .spawn()?;
    /// child.wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rootless(mut self, yes: bool) -> Self {
        self.rootless = yes;
        self
    }

    /// Whether a kind of namespace will be new.
    pub fn has_new(&self, kind: NsKind) -> bool {
        self.namespaces.contains(kind.into())
    }
}
