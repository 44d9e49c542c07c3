//! [`ContainerConfig`]: the same container as plain data, so it can be
//! written in JSON or TOML (with the `serde` feature) and turned into a
//! [`Container`] — every field optional, defaults as `docker run`'s.

use std::collections::BTreeMap;
use std::path::PathBuf;

use palisade_caps::CapSet;
use palisade_cgroup::Resources;
use palisade_ns::{IdMaps, Namespace, NsKind, NsKinds, TimeOffsets};

use crate::SpawnError;
use crate::config::{Container, Macvlan, Mount, Network, Rootfs, Veth};

/// A container described as data. Absent fields keep [`Container::new`]'s
/// defaults; [`ContainerConfig::into_container`] checks what a type cannot
/// (namespace files, rlimit names) and returns a typed error naming it.
///
/// ```
/// # #[cfg(feature = "serde")] {
/// let json = r#"{
///     "program": "/bin/sh",
///     "args": ["-c", "echo hi from $(hostname)"],
///     "rootfs": { "dir": "/srv/busybox" },
///     "hostname": "box",
///     "cgroup": { "path": "palisade/box", "resources": { "memory": { "max": 67108864 }, "pids_max": 64 } },
///     "network": { "type": "veth", "host": "pbox0", "peer": "eth0", "address": "10.88.0.2/24" },
///     "capabilities": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
///     "rlimits": [{ "resource": "nofile", "soft": 1024, "hard": 1024 }],
///     "init": true
/// }"#;
/// let config: palisade::ContainerConfig = serde_json::from_str(json).unwrap();
/// let container = config.into_container().unwrap();
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct ContainerConfig {
    /// The program, a path inside the container.
    pub program: String,
    /// Its arguments (after the program name).
    pub args: Vec<String>,
    /// Variables added to (or replacing) the defaults `PATH`, `HOME`, `TERM`.
    pub env: BTreeMap<String, String>,
    /// Start from an empty environment instead of the defaults.
    pub clear_env: bool,
    /// Working directory (default `/`).
    pub cwd: Option<String>,
    /// The new namespaces (default: mnt, uts, ipc, pid, net, cgroup).
    pub namespaces: Option<Vec<NsKind>>,
    /// Existing namespaces to join instead of creating them.
    pub join: Vec<JoinConfig>,
    /// Hostname.
    pub hostname: Option<String>,
    /// NIS domain name.
    pub domainname: Option<String>,
    /// Root filesystem.
    pub rootfs: Option<Rootfs>,
    /// Extra mounts.
    pub mounts: Vec<Mount>,
    /// Build the minimal `/dev` (default yes).
    pub dev: Option<bool>,
    /// Mount `/sys` read-only (default yes).
    pub sys: Option<bool>,
    /// Masked paths (default Docker's).
    pub masked_paths: Option<Vec<String>>,
    /// Read-only paths (default Docker's).
    pub readonly_paths: Option<Vec<String>>,
    /// A cgroup of the container's own.
    pub cgroup: Option<CgroupConfig>,
    /// The network (default `none`: only `lo`).
    pub network: NetworkConfig,
    /// Namespaced sysctls.
    pub sysctls: BTreeMap<String, String>,
    /// User id to run as.
    pub uid: Option<u32>,
    /// Group id to run as.
    pub gid: Option<u32>,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// A new user namespace with these uid maps (needs `gid_map` too).
    pub uid_map: Option<IdMaps>,
    /// …and these gid maps.
    pub gid_map: Option<IdMaps>,
    /// Capabilities (default Docker's 14), as OCI lists them:
    /// `["CAP_CHOWN", "CAP_KILL"]` (`"ALL"` and lower case accepted).
    pub capabilities: Option<CapSet>,
    /// Set `no_new_privs`.
    pub no_new_privs: bool,
    /// Resource limits.
    pub rlimits: Vec<RlimitConfig>,
    /// A new time namespace with these offsets.
    pub time_offsets: Option<TimeOffsets>,
    /// Run the minimal init as PID 1.
    pub init: bool,
    /// Signal on parent death; absent = `SIGKILL` (9), `null` = none.
    #[cfg_attr(feature = "serde", serde(default = "sigkill"))]
    pub parent_death_signal: Option<i32>,
    /// A terminal of `[rows, columns]` on 0/1/2 (`process.terminal`).
    pub terminal: Option<(u16, u16)>,
    /// The OCI console socket its master goes to.
    pub console_socket: Option<std::path::PathBuf>,
    /// `process.user.umask`.
    pub umask: Option<u32>,
    /// `process.oomScoreAdj`.
    pub oom_score_adj: Option<i32>,
    /// `root.readonly`.
    pub readonly_rootfs: bool,
    /// Enter the root by `MS_MOVE` + `chroot` instead of `pivot_root`
    /// (runc's `--no-pivot`; see [`Container::no_pivot`]).
    pub no_pivot: bool,
    /// A new session keyring; absent = yes.
    pub session_keyring: Option<bool>,
    /// `linux.personality.domain`.
    pub personality: Option<crate::Personality>,
    /// `linux.rootfsPropagation`: `[propagation, recursive]`.
    pub rootfs_propagation: Option<(crate::Propagation, bool)>,
}

#[cfg(feature = "serde")]
fn sigkill() -> Option<i32> {
    Some(libc::SIGKILL)
}

/// An existing namespace to join: a file (`/run/netns/x`,
/// `/proc/<pid>/ns/net`) of one kind, or several kinds of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(untagged, deny_unknown_fields))]
pub enum JoinConfig {
    /// `{ "kind": "net", "path": "/run/netns/x" }`
    Path {
        /// The namespace's kind.
        kind: NsKind,
        /// The nsfs file.
        path: PathBuf,
    },
    /// `{ "pid": 1234, "kinds": ["net", "uts"] }`
    Pid {
        /// The process.
        pid: i32,
        /// Which of its namespaces.
        kinds: Vec<NsKind>,
    },
}

/// The container's cgroup: where, with which limits, and who makes it.
///
/// `manager` is `"cgroupfs"` (the default: palisade `mkdir`s `path`
/// relative to each hierarchy's root) or `"systemd"` (a transient scope
/// unit; `path` is then `slice:prefix:name`, see
/// [`Container::cgroup_manager`]).
///
/// ```
/// # #[cfg(feature = "serde")] {
/// use palisade::{CgroupConfig, cgroup::CgroupManager};
/// let json = r#"{ "path": "system.slice:palisade:web", "manager": "systemd",
///                 "resources": { "pids_max": 64 } }"#;
/// let cg: CgroupConfig = serde_json::from_str(json).unwrap();
/// assert_eq!(cg.manager, CgroupManager::Systemd);
/// // Absent: cgroupfs, as before.
/// let cg: CgroupConfig = serde_json::from_str(r#"{ "path": "palisade/web" }"#).unwrap();
/// assert_eq!(cg.manager, CgroupManager::Cgroupfs);
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct CgroupConfig {
    /// Path relative to each hierarchy's root (cgroupfs), or
    /// `slice:prefix:name` (systemd).
    pub path: String,
    /// Limits.
    #[cfg_attr(feature = "serde", serde(default))]
    pub resources: Resources,
    /// Who makes and removes the group (default cgroupfs).
    #[cfg_attr(feature = "serde", serde(default))]
    pub manager: palisade_cgroup::CgroupManager,
    /// In every cgroup v1 hierarchy, not only the controllers' of
    /// `resources` (runc's placement; see
    /// [`Container::cgroup_all_controllers`]). Default no.
    #[cfg_attr(feature = "serde", serde(default))]
    pub all_controllers: bool,
}

/// The network, tagged by `type`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "type", rename_all = "lowercase"))]
pub enum NetworkConfig {
    /// A new network namespace with only `lo`.
    #[default]
    None,
    /// The host's network.
    Host,
    /// Join the network namespace at `path`.
    Join {
        /// The nsfs file, e.g. `/run/netns/x`.
        path: PathBuf,
    },
    /// A veth pair to the host.
    Veth(Veth),
    /// A macvlan of a host interface.
    Macvlan(Macvlan),
}

/// One `setrlimit`, the resource by name (`nofile`, `RLIMIT_NPROC`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct RlimitConfig {
    /// `nofile`, `nproc`, `core`, … with or without `RLIMIT_`, any case.
    pub resource: String,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// `RLIMIT_*` by name.
const RLIMITS: [(&str, u32); 16] = [
    ("cpu", libc::RLIMIT_CPU),
    ("fsize", libc::RLIMIT_FSIZE),
    ("data", libc::RLIMIT_DATA),
    ("stack", libc::RLIMIT_STACK),
    ("core", libc::RLIMIT_CORE),
    ("rss", libc::RLIMIT_RSS),
    ("nproc", libc::RLIMIT_NPROC),
    ("nofile", libc::RLIMIT_NOFILE),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("as", libc::RLIMIT_AS),
    ("locks", libc::RLIMIT_LOCKS),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
];

/// The `RLIMIT_*` number of a name like `nofile` or `RLIMIT_NOFILE`.
///
/// ```
/// assert_eq!(palisade::rlimit_by_name("RLIMIT_NOFILE"), Some(libc::RLIMIT_NOFILE));
/// assert_eq!(palisade::rlimit_by_name("nproc"), Some(libc::RLIMIT_NPROC));
/// assert_eq!(palisade::rlimit_by_name("files"), None);
/// ```
pub fn rlimit_by_name(name: &str) -> Option<u32> {
    let lower = name.to_ascii_lowercase();
    let short = lower.strip_prefix("rlimit_").unwrap_or(&lower);
    RLIMITS.iter().find(|(n, _)| *n == short).map(|(_, r)| *r)
}

impl ContainerConfig {
    /// Builds the [`Container`]: opens the namespace files to join and
    /// resolves rlimit names. Everything else is checked by
    /// [`Container::spawn`] as for a container built in code.
    pub fn into_container(self) -> Result<Container, SpawnError> {
        if self.program.is_empty() {
            return Err(SpawnError::invalid("config: `program` is missing"));
        }
        let mut c = Container::new(self.program).args(self.args);
        if self.clear_env {
            c = c.env_clear();
        }
        for (k, v) in &self.env {
            c = c.env(k, v);
        }
        if let Some(cwd) = &self.cwd {
            c = c.cwd(cwd);
        }
        if let Some(kinds) = &self.namespaces {
            c = c.namespaces(kinds.iter().copied().collect::<NsKinds>());
        }
        // A namespace list without `net` and no network given means the
        // host's network, not a silently re-added net namespace.
        let no_netns = self
            .namespaces
            .as_ref()
            .is_some_and(|k| !k.contains(&NsKind::Net));
        c = match self.network {
            NetworkConfig::None if no_netns => c.network(Network::Host),
            NetworkConfig::None => c.network(Network::None),
            NetworkConfig::Host => c.network(Network::Host),
            NetworkConfig::Join { path } => c.network(Network::Join(open_ns(&path, NsKind::Net)?)),
            NetworkConfig::Veth(v) => c.network(v),
            NetworkConfig::Macvlan(m) => c.network(m),
        };
        for join in self.join {
            c = match join {
                JoinConfig::Path { kind, path } => c.join(open_ns(&path, kind)?),
                JoinConfig::Pid { pid, kinds } => {
                    c.join_pid(pid, kinds.into_iter().collect::<NsKinds>())
                }
            };
        }
        if let Some(h) = &self.hostname {
            c = c.hostname(h);
        }
        if let Some(d) = &self.domainname {
            c = c.domainname(d);
        }
        c.rootfs = self.rootfs;
        for m in self.mounts {
            c = c.mount(m);
        }
        if let Some(dev) = self.dev {
            c = c.dev(dev);
        }
        if let Some(sys) = self.sys {
            c = c.sys(sys);
        }
        if let Some(paths) = self.masked_paths {
            c = c.masked_paths(paths);
        }
        if let Some(paths) = self.readonly_paths {
            c = c.readonly_paths(paths);
        }
        if let Some(cg) = self.cgroup {
            c = c
                .cgroup(&cg.path, cg.resources)
                .cgroup_manager(cg.manager)
                .cgroup_all_controllers(cg.all_controllers);
        }
        for (k, v) in &self.sysctls {
            c = c.sysctl(k, v);
        }
        match (self.uid, self.gid) {
            (None, None) => {}
            (uid, gid) => c = c.user(uid.unwrap_or(0), gid.unwrap_or(0)),
        }
        c = c.groups(&self.groups);
        match (self.uid_map, self.gid_map) {
            (None, None) => {}
            (Some(uids), Some(gids)) => c = c.user_namespace(uids, gids),
            _ => {
                return Err(SpawnError::invalid(
                    "config: a user namespace needs both `uid_map` and `gid_map`",
                ));
            }
        }
        if let Some(caps) = self.capabilities {
            c = c.capabilities(caps);
        }
        c = c.no_new_privs(self.no_new_privs);
        for r in &self.rlimits {
            let resource = rlimit_by_name(&r.resource).ok_or_else(|| {
                SpawnError::invalid(format!("config: unknown rlimit {:?}", r.resource))
            })?;
            c = c.rlimit(resource, r.soft, r.hard);
        }
        if let Some(offsets) = self.time_offsets {
            c = c.time_offsets(offsets);
        }
        if let Some((rows, cols)) = self.terminal {
            c = c.terminal(rows, cols);
        }
        if let Some(path) = self.console_socket {
            c = c.console_socket(path);
        }
        if let Some(mask) = self.umask {
            c = c.umask(mask);
        }
        if let Some(adj) = self.oom_score_adj {
            c = c.oom_score_adj(adj);
        }
        if let Some(p) = self.personality {
            c = c.personality(p);
        }
        if let Some((p, recursive)) = self.rootfs_propagation {
            c = c.rootfs_propagation(p, recursive);
        }
        c = c
            .readonly_rootfs(self.readonly_rootfs)
            .no_pivot(self.no_pivot)
            .session_keyring(self.session_keyring.unwrap_or(true));
        Ok(c.init(self.init)
            .parent_death_signal(self.parent_death_signal))
    }
}

fn open_ns(path: &std::path::Path, kind: NsKind) -> Result<Namespace, SpawnError> {
    Namespace::open(path, kind).map_err(|e| {
        let errno = e.errno();
        SpawnError::new(
            crate::Step::JoinNamespace,
            errno,
            format!("{kind:?} namespace {}: {e}", path.display()),
        )
    })
}

impl Container {
    /// [`ContainerConfig::into_container`].
    pub fn from_config(config: ContainerConfig) -> Result<Container, SpawnError> {
        config.into_container()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(program: &str) -> ContainerConfig {
        ContainerConfig {
            program: program.into(),
            ..ContainerConfig::default()
        }
    }

    #[test]
    fn defaults_are_docker_like_and_namespace_lists_are_respected() {
        let c = config("/bin/true").into_container().unwrap();
        for kind in [
            NsKind::Mnt,
            NsKind::Uts,
            NsKind::Ipc,
            NsKind::Pid,
            NsKind::Net,
            NsKind::Cgroup,
        ] {
            assert!(c.has_new(kind), "{kind:?}");
        }
        assert!(!c.has_new(NsKind::User) || c.rootless);
        let c = ContainerConfig {
            namespaces: Some(vec![NsKind::Mnt, NsKind::Pid]),
            ..config("/bin/true")
        }
        .into_container()
        .unwrap();
        assert!(c.has_new(NsKind::Pid) && !c.has_new(NsKind::Net));
        assert!(matches!(c.network, Network::Host));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn process_and_mount_fields_of_issue_21_come_from_json() {
        let json = r#"{"program": "sh", "terminal": [30, 100], "umask": 18,
            "oom_score_adj": 300, "readonly_rootfs": true, "session_keyring": false, "no_pivot": true,
            "personality": "Linux32", "rootfs_propagation": ["Slave", true],
            "rlimits": [{"resource": "RLIMIT_NOFILE", "soft": 10, "hard": 20}],
            "mounts": [{"oci": {"fstype": "bind", "source": "/srv", "target": "/srv",
                                "options": ["rbind", "rro", "rslave"]}}]}"#;
        let config: ContainerConfig = serde_json::from_str(json).unwrap();
        let again: ContainerConfig =
            serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
        assert_eq!(config, again);
        let c = config.into_container().unwrap();
        assert_eq!(c.terminal, Some((30, 100)));
        assert_eq!(c.umask, Some(0o022));
        assert_eq!(c.oom_score_adj, Some(300));
        assert!(c.readonly_rootfs && !c.session_keyring && c.no_pivot);
        assert_eq!(c.personality, Some(crate::Personality::Linux32));
        assert_eq!(
            c.rootfs_propagation,
            Some((crate::Propagation::Slave, true))
        );
        assert!(matches!(&c.mounts[0], Mount::Oci { options, .. } if options.len() == 3));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn the_cgroup_manager_comes_from_json() {
        use palisade_cgroup::CgroupManager;
        let json = r#"{"program": "sh", "cgroup": {"path": "system.slice:palisade:web",
            "manager": "systemd", "resources": {"pids_max": 8}}}"#;
        let config: ContainerConfig = serde_json::from_str(json).unwrap();
        let again: ContainerConfig =
            serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
        assert_eq!(config, again);
        let c = config.into_container().unwrap();
        assert_eq!(c.cgroup_manager, CgroupManager::Systemd);
        assert_eq!(
            c.cgroup.as_ref().map(|(p, _)| p.as_str()),
            Some("system.slice:palisade:web")
        );
        // Absent means cgroupfs; anything else is refused, naming it.
        let config: ContainerConfig =
            serde_json::from_str(r#"{"program": "sh", "cgroup": {"path": "palisade/web"}}"#)
                .unwrap();
        let c = config.into_container().unwrap();
        assert_eq!(c.cgroup_manager, CgroupManager::Cgroupfs);
        let err = serde_json::from_str::<ContainerConfig>(
            r#"{"program": "sh", "cgroup": {"path": "x", "manager": "launchd"}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("launchd"), "{err}");
    }

    #[test]
    fn bad_configs_are_typed_errors() {
        let err = config("").into_container().unwrap_err();
        assert_eq!(err.step, crate::Step::Validate);
        let err = ContainerConfig {
            rlimits: vec![RlimitConfig {
                resource: "files".into(),
                soft: 1,
                hard: 1,
            }],
            ..config("/bin/true")
        }
        .into_container()
        .unwrap_err();
        assert!(err.detail.contains("files"), "{err}");
        let err = ContainerConfig {
            join: vec![JoinConfig::Path {
                kind: NsKind::Net,
                path: "/nonexistent/ns".into(),
            }],
            ..config("/bin/true")
        }
        .into_container()
        .unwrap_err();
        assert_eq!(err.step, crate::Step::JoinNamespace, "{err}");
        assert!(err.detail.contains("/nonexistent/ns"), "{err}");
    }
}
