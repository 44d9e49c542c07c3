//! An OCI bundle (`config.json` + root) turned into a [`palisade::Container`].
//!
//! Follows the OCI runtime spec's `config.md` and `config-linux.md`. Every
//! field is either applied or refused with [`Error::Unsupported`] naming
//! it; the few that palisade approximates (the standard `/proc`, `/dev`,
//! `/sys` mounts, which palisade makes itself) are reported back as
//! [`Translation::notes`] for the caller to log, never dropped in silence.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxCapabilities, LinuxDeviceCgroup, LinuxDeviceType, LinuxNamespaceType, LinuxResources,
    Mount as OciMount, Process, Spec,
};
use palisade::cgroup::{
    CgroupManager, DeviceAccess, DeviceRule, DeviceType, IoLimit, SystemdName, UNLIMITED,
};
use palisade::{
    CapSet, Capability, Container, Device, IdMap, IdMaps, Mount, Namespace, Network, NsKind,
    NsKinds, Resources, TimeOffsets, TmpfsOptions,
};

/// A refusal or a failure while reading a bundle.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `config.json` is missing or malformed.
    #[error("{path}: {msg}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// A field palisade cannot apply (yet); `field` is its JSON path.
    #[error("{field}: {msg}")]
    Unsupported {
        /// JSON path of the field, e.g. `linux.seccomp`.
        field: String,
        /// Why.
        msg: String,
    },
}

fn unsupported(field: impl Into<String>, msg: impl Into<String>) -> Error {
    Error::Unsupported {
        field: field.into(),
        msg: msg.into(),
    }
}

/// Options of the runtime, not of the bundle.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The container id (the default cgroup path when `cgroupsPath` is unset).
    pub id: String,
    /// `--rootless`.
    pub rootless: bool,
    /// `--console-socket`: where the pty master goes when
    /// `process.terminal` is set.
    pub console_socket: Option<PathBuf>,
    /// `--systemd-cgroup`: the container's group is a transient systemd
    /// scope, `cgroupsPath` is `slice:prefix:name` ([`systemd_cgroup_name`]).
    pub systemd_cgroup: bool,
}

/// A bundle ready to run.
#[derive(Debug)]
pub struct Translation {
    /// The container, with `parent_death_signal(None)`.
    pub container: Container,
    /// The root directory on the host.
    pub rootfs: PathBuf,
    /// The cgroup path palisade uses: relative to each hierarchy's root
    /// (cgroupfs), or `slice:prefix:name` with `--systemd-cgroup`.
    pub cgroup: String,
    /// Fields approximated by palisade's own defaults, for the log.
    pub notes: Vec<String>,
    /// `hooks.poststart` and `hooks.poststop`, for `start` and `delete`.
    pub post_hooks: PostHooks,
}

/// The hooks that run after `create` returned: stored with the state.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PostHooks {
    /// Run by `start` once the program runs (failures are logged).
    #[serde(default)]
    pub poststart: Vec<oci_spec::runtime::Hook>,
    /// Run by `delete` once the container is gone (failures are logged).
    #[serde(default)]
    pub poststop: Vec<oci_spec::runtime::Hook>,
}

fn to_hook(field: &str, h: &oci_spec::runtime::Hook) -> Result<palisade::Hook, Error> {
    if !h.path().is_absolute() {
        return Err(unsupported(
            format!("{field}.path"),
            format!("{} is not absolute", h.path().display()),
        ));
    }
    let mut out = palisade::Hook::new(h.path());
    if let Some(args) = h.args() {
        out = out.args(args.iter().cloned());
    }
    for e in h.env().iter().flatten() {
        out = out.env(e);
    }
    match h.timeout() {
        None => {}
        Some(t) if t > 0 => out = out.timeout(std::time::Duration::from_secs(t as u64)),
        Some(t) => {
            return Err(unsupported(
                format!("{field}.timeout"),
                format!("{t}: must be positive"),
            ));
        }
    }
    Ok(out)
}

/// Runs one OCI hook on the host with the state JSON on stdin (runtime
/// spec, "POSIX-platform Hooks"): `args[0]` as argv\[0\], exactly `env`,
/// killed after `timeout` seconds. `Err` names the hook.
pub fn run_hook(h: &oci_spec::runtime::Hook, state: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    let name = h.path().display().to_string();
    let mut cmd = std::process::Command::new(h.path());
    if let Some(args) = h.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    cmd.env_clear();
    for e in h.env().iter().flatten() {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(std::process::Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("hook {name}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(state.as_bytes());
    }
    let deadline = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| std::time::Instant::now() + std::time::Duration::from_secs(t as u64));
    loop {
        if let Some(st) = child.try_wait().map_err(|e| format!("hook {name}: {e}"))? {
            return if st.success() {
                Ok(())
            } else {
                Err(format!("hook {name}: {st}"))
            };
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("hook {name}: timed out"));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The OCI versions this runtime reads: 1.0.0 up to 1.2.x.
pub fn check_version(version: &str) -> Result<(), Error> {
    let core = version.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let nums: Option<Vec<u64>> = parts.iter().map(|p| p.parse().ok()).collect();
    match nums.as_deref() {
        Some([1, minor, _]) if *minor <= 2 => Ok(()),
        Some([_, _, _]) => Err(unsupported(
            "ociVersion",
            format!("{version:?} is not a runtime-spec version 1.0 to 1.2"),
        )),
        _ => Err(unsupported(
            "ociVersion",
            format!("{version:?} is not a semantic version"),
        )),
    }
}

/// Reads and version-checks `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Spec, Error> {
    let path = bundle.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Config {
        path: path.clone(),
        msg: e.to_string(),
    })?;
    let spec: Spec = serde_json::from_str(&text).map_err(|e| Error::Config {
        path: path.clone(),
        msg: e.to_string(),
    })?;
    check_version(spec.version())?;
    Ok(spec)
}

/// Resolves `program` through `PATH` inside `rootfs` (as `execvp` would in
/// the container); a program with a `/` is taken as it is.
pub fn lookup(program: &str, env: &[(String, String)], rootfs: &Path) -> String {
    if program.contains('/') {
        return program.to_owned();
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| d.starts_with('/')) {
        let candidate = format!("{}/{program}", dir.trim_end_matches('/'));
        // symlink_metadata: a link of the image may point anywhere on the
        // host's side; the facade resolves it inside the root later.
        if std::fs::symlink_metadata(rootfs.join(&candidate[1..])).is_ok() {
            return candidate;
        }
    }
    program.to_owned()
}

/// `KEY=VALUE` lines, exactly as given (a line without `=` is refused).
pub fn parse_env(field: &str, env: &[String]) -> Result<Vec<(String, String)>, Error> {
    env.iter()
        .enumerate()
        .map(|(i, line)| match line.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(unsupported(
                format!("{field}[{i}]"),
                format!("{line:?} is not KEY=VALUE"),
            )),
        })
        .collect()
}

fn cap_set(
    field: &str,
    set: &Option<HashSet<oci_spec::runtime::Capability>>,
) -> Result<CapSet, Error> {
    let mut out = CapSet::EMPTY;
    for cap in set.iter().flatten() {
        let name = cap.to_string();
        let c: Capability = name
            .parse()
            .map_err(|e| unsupported(field, format!("{name}: {e}")))?;
        out.insert(c);
    }
    Ok(out)
}

/// The one capability set palisade gives a process (bounding = permitted =
/// effective, no inheritable or ambient): the OCI sets must agree with it.
///
/// Ambient capabilities are accepted for uid 0 only, where they add
/// nothing (root's `execve` gets the bounding set as permitted anyway), and
/// must be a subset of bounding; for another uid they are refused.
pub fn capabilities(field: &str, caps: &LinuxCapabilities, uid: u32) -> Result<CapSet, Error> {
    let bounding = cap_set(&format!("{field}.bounding"), caps.bounding())?;
    let effective = cap_set(&format!("{field}.effective"), caps.effective())?;
    let permitted = cap_set(&format!("{field}.permitted"), caps.permitted())?;
    let inheritable = cap_set(&format!("{field}.inheritable"), caps.inheritable())?;
    let ambient = cap_set(&format!("{field}.ambient"), caps.ambient())?;
    let set = if caps.bounding().is_some() {
        bounding
    } else {
        permitted
    };
    for (name, s) in [("effective", effective), ("permitted", permitted)] {
        if s != set {
            return Err(unsupported(
                format!("{field}.{name}"),
                "palisade gives one set as bounding, permitted and effective: it must equal bounding",
            ));
        }
    }
    if ambient != CapSet::EMPTY && (uid != 0 || ambient.mask() & !set.mask() != 0) {
        return Err(unsupported(
            format!("{field}.ambient"),
            "ambient capabilities are supported only for uid 0, as a subset of bounding",
        ));
    }
    // Inheritable without ambient gives an unprivileged exec nothing
    // (file capabilities aside); palisade clears it, as Docker now does.
    if inheritable.mask() & !set.mask() != 0 {
        return Err(unsupported(
            format!("{field}.inheritable"),
            "must be a subset of bounding",
        ));
    }
    Ok(set)
}

fn rlimit(field: &str, r: &oci_spec::runtime::PosixRlimit) -> Result<(u32, u64, u64), Error> {
    let name = serde_json::to_value(r.typ())
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let res = palisade::rlimit_by_name(&name)
        .ok_or_else(|| unsupported(field, format!("unknown rlimit {name}")))?;
    Ok((res, r.soft(), r.hard()))
}

fn checks_process(p: &Process) -> Result<(), Error> {
    if p.apparmor_profile()
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        let present = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.trim() == "Y");
        let why = if present {
            "AppArmor profiles are not applied by palisade yet"
        } else {
            "AppArmor is not enabled on this host"
        };
        return Err(unsupported("process.apparmorProfile", why));
    }
    if p.selinux_label().as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(unsupported(
            "process.selinuxLabel",
            "SELinux labels are not supported",
        ));
    }
    if p.io_priority().is_some() {
        return Err(unsupported("process.ioPriority", "not supported"));
    }
    if p.scheduler().is_some() {
        return Err(unsupported("process.scheduler", "not supported"));
    }
    if p.exec_cpu_affinity().is_some() {
        return Err(unsupported("process.execCPUAffinity", "not supported"));
    }
    Ok(())
}

fn ns_kind(t: LinuxNamespaceType) -> NsKind {
    match t {
        LinuxNamespaceType::Mount => NsKind::Mnt,
        LinuxNamespaceType::Cgroup => NsKind::Cgroup,
        LinuxNamespaceType::Uts => NsKind::Uts,
        LinuxNamespaceType::Ipc => NsKind::Ipc,
        LinuxNamespaceType::User => NsKind::User,
        LinuxNamespaceType::Pid => NsKind::Pid,
        LinuxNamespaceType::Network => NsKind::Net,
        LinuxNamespaceType::Time => NsKind::Time,
    }
}

fn id_maps(field: &str, maps: &[oci_spec::runtime::LinuxIdMapping]) -> Result<IdMaps, Error> {
    IdMaps::new(
        maps.iter()
            .map(|m| IdMap {
                inside: m.container_id(),
                outside: m.host_id(),
                count: m.size(),
            })
            .collect(),
    )
    .map_err(|e| unsupported(field, e.to_string()))
}

/// `cgroupsPath` as a palisade path: relative is taken as it is, absolute
/// loses its leading `/`; what [`CgroupPath::new`](palisade::cgroup::CgroupPath::new)
/// refuses (`..`, `.`, empty or `cgroup.*` components, NUL, newline, a
/// component over 255 bytes) and the systemd `slice:prefix:name` form
/// are refused as `linux.cgroupsPath` (that form needs
/// `--systemd-cgroup`, see [`systemd_cgroup_name`]).
pub fn cgroup_path(path: Option<&Path>, id: &str) -> Result<String, Error> {
    let Some(path) = path else {
        return Ok(format!("palisade-oci/{id}"));
    };
    let text = path
        .to_str()
        .ok_or_else(|| unsupported("linux.cgroupsPath", "not UTF-8"))?;
    let rel = text.trim_start_matches('/');
    if text.contains(':') && !text.starts_with('/') {
        return Err(unsupported(
            "linux.cgroupsPath",
            format!("{text:?} is a systemd path (slice:prefix:name): it needs --systemd-cgroup"),
        ));
    }
    // palisade-cgroup's own rules (empty, `.`/`..` or `cgroup.*`
    // components, NUL, newline, components over 255 bytes), named here as
    // the spec's field rather than later at the cgroup step.
    palisade::cgroup::CgroupPath::new(rel).map_err(|e| match e {
        palisade::cgroup::Error::InvalidPath { reason, .. } => {
            unsupported("linux.cgroupsPath", format!("{text:?}: {reason}"))
        }
        other => unsupported("linux.cgroupsPath", format!("{text:?}: {other}")),
    })?;
    Ok(rel.to_owned())
}

/// `cgroupsPath` with `--systemd-cgroup`, runc's form `slice:prefix:name`
/// (`system.slice:palisade:abc` is the scope `palisade-abc.scope` in
/// `system.slice`; an empty slice is the manager's default). Unset, the
/// scope is `palisade-oci-ID.scope` in the default slice, as runc makes
/// `runc-ID.scope`. A cgroupfs path (with `/`) or any malformed name is
/// refused, naming it.
///
/// ```
/// use palisade_oci::bundle::systemd_cgroup_name;
/// use std::path::Path;
/// let n = systemd_cgroup_name(Some(Path::new("system.slice:palisade:abc")), "x").unwrap();
/// assert_eq!((n.slice(), n.unit()), (Some("system.slice"), "palisade-abc.scope".to_owned()));
/// assert_eq!(systemd_cgroup_name(None, "x").unwrap().unit(), "palisade-oci-x.scope");
/// assert!(systemd_cgroup_name(Some(Path::new("/palisade/x")), "x").is_err());
/// ```
pub fn systemd_cgroup_name(path: Option<&Path>, id: &str) -> Result<SystemdName, Error> {
    let bad = |text: &str, e: palisade::cgroup::Error| {
        unsupported(
            "linux.cgroupsPath",
            format!("{text:?} with --systemd-cgroup: {e}"),
        )
    };
    let Some(path) = path else {
        return SystemdName::new("", "palisade-oci", id).map_err(|e| bad(id, e));
    };
    let text = path
        .to_str()
        .ok_or_else(|| unsupported("linux.cgroupsPath", "not UTF-8"))?;
    text.parse::<SystemdName>().map_err(|e| bad(text, e))
}

fn device_rule(field: &str, d: &LinuxDeviceCgroup) -> Result<DeviceRule, Error> {
    let kind = match d.typ() {
        None | Some(LinuxDeviceType::A) => DeviceType::All,
        Some(LinuxDeviceType::B) => DeviceType::Block,
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => DeviceType::Char,
        Some(LinuxDeviceType::P) => {
            return Err(unsupported(field, "fifo rules have no cgroup meaning"));
        }
    };
    let num = |n: Option<i64>, what: &str| -> Result<Option<u32>, Error> {
        match n {
            None | Some(-1) => Ok(None),
            Some(v) => u32::try_from(v)
                .map(Some)
                .map_err(|_| unsupported(format!("{field}.{what}"), format!("{v} out of range"))),
        }
    };
    let mut access = DeviceAccess::empty();
    let acc = d.access().clone().unwrap_or_else(|| "rwm".to_owned());
    for ch in acc.chars() {
        access |= match ch {
            'r' => DeviceAccess::READ,
            'w' => DeviceAccess::WRITE,
            'm' => DeviceAccess::MKNOD,
            _ => {
                return Err(unsupported(
                    format!("{field}.access"),
                    format!("{acc:?}: only r, w, m"),
                ));
            }
        };
    }
    Ok(DeviceRule {
        allow: d.allow(),
        kind,
        major: num(d.major(), "major")?,
        minor: num(d.minor(), "minor")?,
        access,
    })
}

/// `linux.resources` as palisade [`Resources`] plus device rules (`None`
/// when the spec gives no device list: palisade's default list stays).
pub fn resources(r: &LinuxResources) -> Result<(Resources, Option<Vec<DeviceRule>>), Error> {
    let f = "linux.resources";
    let mut out = Resources::new();
    let rules = match r.devices() {
        Some(list) => Some(
            list.iter()
                .enumerate()
                .map(|(i, d)| device_rule(&format!("{f}.devices[{i}]"), d))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let limit = |v: i64, field: &str| -> Result<u64, Error> {
        match v {
            -1 => Ok(UNLIMITED),
            v if v >= 0 => Ok(v as u64),
            v => Err(unsupported(field, format!("{v} is negative"))),
        }
    };
    if let Some(m) = r.memory() {
        if let Some(v) = m.limit() {
            out.memory.max = Some(limit(v, "linux.resources.memory.limit")?);
        }
        if let Some(v) = m.reservation() {
            out.memory.low = Some(limit(v, "linux.resources.memory.reservation")?);
        }
        if let Some(v) = m.swap() {
            // OCI swap is memory+swap (v1 memsw); palisade's is on top.
            let total = limit(v, "linux.resources.memory.swap")?;
            out.memory.swap = Some(match (total, out.memory.max) {
                (UNLIMITED, _) | (_, None) | (_, Some(UNLIMITED)) => UNLIMITED,
                (t, Some(max)) if t >= max => t - max,
                (t, Some(max)) => {
                    return Err(unsupported(
                        "linux.resources.memory.swap",
                        format!("{t} is below memory.limit {max} (swap counts memory+swap)"),
                    ));
                }
            });
        }
        if m.kernel().is_some_and(|v| v != 0) {
            return Err(unsupported(
                "linux.resources.memory.kernel",
                "removed from the kernel",
            ));
        }
        if m.kernel_tcp().is_some_and(|v| v != 0) {
            return Err(unsupported(
                "linux.resources.memory.kernelTCP",
                "not supported",
            ));
        }
        out.memory.swappiness = m.swappiness();
        out.memory.oom_kill_disable = m.disable_oom_killer();
    }
    if let Some(c) = r.cpu() {
        out.cpu.shares = c.shares().filter(|s| *s != 0);
        if let Some(q) = c.quota() {
            if q > 0 {
                out.cpu.quota_us = Some(q as u64);
            } else if q == -1 {
                out.cpu.quota_us = Some(UNLIMITED);
            }
        }
        out.cpu.period_us = c.period().filter(|p| *p != 0);
        out.cpu.burst_us = c.burst();
        if let Some(idle) = c.idle() {
            out.cpu.idle = Some(idle != 0);
        }
        if c.realtime_runtime().is_some_and(|v| v != 0)
            || c.realtime_period().is_some_and(|v| v != 0)
        {
            return Err(unsupported(
                "linux.resources.cpu.realtimeRuntime",
                "not supported",
            ));
        }
        out.cpuset.cpus = c.cpus().clone().filter(|s| !s.is_empty());
        out.cpuset.mems = c.mems().clone().filter(|s| !s.is_empty());
    }
    if let Some(p) = r.pids() {
        out.pids_max = Some(if p.limit() <= 0 {
            UNLIMITED
        } else {
            p.limit() as u64
        });
    }
    if let Some(b) = r.block_io() {
        out.io.weight = b.weight().map(u64::from);
        if b.leaf_weight().is_some() {
            return Err(unsupported(
                "linux.resources.blockIO.leafWeight",
                "not supported",
            ));
        }
        if b.weight_device().as_ref().is_some_and(|v| !v.is_empty()) {
            return Err(unsupported(
                "linux.resources.blockIO.weightDevice",
                "not supported",
            ));
        }
        let mut limits: Vec<IoLimit> = Vec::new();
        let lists = [
            (b.throttle_read_bps_device(), 0),
            (b.throttle_write_bps_device(), 1),
            (b.throttle_read_iops_device(), 2),
            (b.throttle_write_iops_device(), 3),
        ];
        for (list, which) in lists {
            for d in list.iter().flatten() {
                let (major, minor) = (d.major() as u32, d.minor() as u32);
                let idx = match limits
                    .iter()
                    .position(|l| l.major == major && l.minor == minor)
                {
                    Some(i) => i,
                    None => {
                        limits.push(IoLimit {
                            major,
                            minor,
                            ..IoLimit::default()
                        });
                        limits.len() - 1
                    }
                };
                let l = &mut limits[idx];
                let v = Some(d.rate());
                match which {
                    0 => l.read_bps = v,
                    1 => l.write_bps = v,
                    2 => l.read_iops = v,
                    _ => l.write_iops = v,
                }
            }
        }
        out.io.limits = limits;
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let bytes = limit(
            h.limit(),
            &format!("linux.resources.hugepageLimits[{i}].limit"),
        )?;
        out = out.hugetlb(h.page_size(), bytes);
    }
    if r.network().is_some() {
        return Err(unsupported(
            "linux.resources.network",
            "net_cls/net_prio are not supported",
        ));
    }
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(unsupported("linux.resources.rdma", "not supported"));
    }
    if let Some(unified) = r.unified() {
        // A map: sorted by key, so the writes are in a stable order.
        let mut keys: Vec<_> = unified.iter().collect();
        keys.sort();
        for (file, value) in keys {
            out = out.unified(file, value);
        }
        out.validate()
            .map_err(|e| unsupported("linux.resources.unified", e.to_string()))?;
    }
    Ok((out, rules))
}

fn tmpfs_options(field: &str, options: &[String]) -> Result<TmpfsOptions, Error> {
    let mut o = TmpfsOptions::new().nosuid(false).nodev(false);
    for opt in options {
        let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
        match k {
            "nosuid" => o = o.nosuid(true),
            "nodev" => o = o.nodev(true),
            "noexec" => o = o.noexec(true),
            "ro" => o = o.readonly(true),
            "suid" | "dev" | "exec" | "rw" | "rprivate" | "private" | "strictatime"
            | "relatime" | "noatime" => {}
            "mode" => {
                o = o.mode(
                    u32::from_str_radix(v, 8)
                        .map_err(|_| unsupported(field, format!("mode {v:?}")))?,
                );
            }
            "size" => {
                o = o.size_bytes(size(v).ok_or_else(|| unsupported(field, format!("size {v:?}")))?)
            }
            "uid" | "gid" => {
                let n: u32 = v
                    .parse()
                    .map_err(|_| unsupported(field, format!("{opt:?}")))?;
                if k == "uid" {
                    o.uid = Some(n);
                } else {
                    o.gid = Some(n);
                }
            }
            _ => {
                return Err(unsupported(
                    field,
                    format!("tmpfs option {opt:?} is not supported"),
                ));
            }
        }
    }
    Ok(o)
}

fn size(v: &str) -> Option<u64> {
    let (num, mul) = match v.chars().last()? {
        'k' | 'K' => (&v[..v.len() - 1], 1 << 10),
        'm' | 'M' => (&v[..v.len() - 1], 1 << 20),
        'g' | 'G' => (&v[..v.len() - 1], 1 << 30),
        _ => (v, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// One `mounts[i]`: a bind or tmpfs becomes a palisade [`Mount`]; the
/// standard filesystems palisade builds itself return `None` and a note.
/// A mount's own `uidMappings`/`gidMappings` (runtime spec 1.1, with
/// `idmap`/`ridmap`) say which ids the idmapped mount maps. palisade
/// idmaps with the container's user namespace, so the mount's mappings
/// must be the container's (`linux.uidMappings`/`gidMappings`, what podman
/// passes); other mappings, or mappings without `idmap`/`ridmap`, are
/// refused naming the field rather than dropped.
fn mount_id_maps(i: usize, m: &OciMount, linux: &oci_spec::runtime::Linux) -> Result<(), Error> {
    let same = |field: &str,
                mine: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>,
                container: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>|
     -> Result<(), Error> {
        let Some(mine) = mine.as_ref().filter(|v| !v.is_empty()) else {
            return Ok(());
        };
        let field = format!("mounts[{i}].{field}");
        let idmapped = m
            .options()
            .iter()
            .flatten()
            .any(|o| o == "idmap" || o == "ridmap");
        if !idmapped {
            return Err(unsupported(
                field,
                "mappings need the idmap or ridmap option",
            ));
        }
        if container.as_ref() != Some(mine) {
            return Err(unsupported(
                field,
                "palisade idmaps a mount with the container's user namespace: \
                 a mount's mappings must equal linux.uidMappings/gidMappings",
            ));
        }
        Ok(())
    };
    same("uidMappings", m.uid_mappings(), linux.uid_mappings())?;
    same("gidMappings", m.gid_mappings(), linux.gid_mappings())
}

fn mount(i: usize, m: &OciMount, notes: &mut Vec<String>) -> Result<Option<Mount>, Error> {
    let field = format!("mounts[{i}]");
    let dest = m.destination().to_string_lossy().into_owned();
    let options = m.options().clone().unwrap_or_default();
    let typ = m.typ().clone().unwrap_or_default();
    let is_bind = options.iter().any(|o| o == "bind" || o == "rbind") || typ == "bind";
    if is_bind {
        let source = m
            .source()
            .clone()
            .ok_or_else(|| unsupported(format!("{field}.source"), "a bind needs a source"))?;
        let fstype = if typ.is_empty() || typ == "none" {
            "bind"
        } else {
            typ.as_str()
        };
        return Mount::oci(fstype, &source.to_string_lossy(), dest, &options)
            .map(Some)
            .map_err(|e| unsupported(format!("{field}.options"), e.to_string()));
    }
    // The filesystems palisade mounts itself for every container.
    let builtin = matches!(
        (typ.as_str(), dest.as_str()),
        ("proc", "/proc")
            | ("tmpfs", "/dev")
            | ("devpts", "/dev/pts")
            | ("tmpfs", "/dev/shm")
            | ("shm", "/dev/shm")
            | ("mqueue", "/dev/mqueue")
            | ("sysfs", "/sys")
    );
    if builtin {
        notes.push(format!(
            "{field}: {typ} at {dest} is palisade's own (options {options:?} replaced by its defaults)"
        ));
        return Ok(None);
    }
    if (typ == "cgroup" || typ == "cgroup2") && dest == "/sys/fs/cgroup" {
        notes.push(format!(
            "{field}: {typ} at /sys/fs/cgroup not mounted (palisade mounts no cgroupfs yet; the directory stays empty)"
        ));
        return Ok(None);
    }
    if typ == "tmpfs" {
        return Ok(Some(Mount::tmpfs(
            dest,
            tmpfs_options(&format!("{field}.options"), &options)?,
        )));
    }
    Err(unsupported(
        format!("{field}.type"),
        format!(
            "{typ:?} at {dest}: only bind and tmpfs mounts (and the standard /proc, /dev, /sys) are supported"
        ),
    ))
}

/// Turns a loaded spec of the bundle at `bundle` into a container.
pub fn translate(spec: &Spec, bundle: &Path, opts: &Options) -> Result<Translation, Error> {
    let mut notes = Vec::new();
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| unsupported("root", "missing"))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    if !rootfs.is_dir() {
        return Err(unsupported(
            "root.path",
            format!("{} is not a directory", rootfs.display()),
        ));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| unsupported("process", "missing (needed by create)"))?;
    checks_process(process)?;
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(unsupported("process.args", "empty"));
    }
    let env = parse_env("process.env", process.env().as_deref().unwrap_or(&[]))?;
    let program = lookup(&args[0], &env, &rootfs);
    let mut c = Container::new(program)
        .args(args[1..].iter().cloned())
        .env_clear()
        .rootfs(&rootfs)
        .parent_death_signal(None)
        .rootless(opts.rootless);
    for (k, v) in &env {
        c = c.env(k, v);
    }
    let cwd = process.cwd().to_string_lossy();
    if !cwd.starts_with('/') {
        return Err(unsupported(
            "process.cwd",
            format!("{cwd:?} is not absolute"),
        ));
    }
    c = c.cwd(&cwd);
    let user = process.user();
    c = c.user(user.uid(), user.gid());
    if let Some(gids) = user.additional_gids() {
        c = c.groups(gids);
    }
    c = c.capabilities(match process.capabilities() {
        Some(caps) => capabilities("process.capabilities", caps, user.uid())?,
        None => CapSet::EMPTY,
    });
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        let (res, soft, hard) = rlimit(&format!("process.rlimits[{i}]"), r)?;
        c = c.rlimit(res, soft, hard);
    }
    c = c.no_new_privs(process.no_new_privileges().unwrap_or(false));
    if let Some(mask) = user.umask() {
        c = c.umask(mask);
    }
    if let Some(adj) = process.oom_score_adj() {
        c = c.oom_score_adj(adj);
    }
    if process.terminal() == Some(true) {
        let size = process.console_size();
        let (rows, cols) = size.map_or((24, 80), |b| (b.height() as u16, b.width() as u16));
        c = c.terminal(rows, cols);
        if let Some(sock) = &opts.console_socket {
            c = c.console_socket(sock);
        }
    }
    c = c.readonly_rootfs(root.readonly() == Some(true));
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        c = c.hostname(h);
    }
    if let Some(d) = spec.domainname().as_deref().filter(|h| !h.is_empty()) {
        c = c.domainname(d);
    }
    // Hooks up to startContainer run inside palisade's create; poststart
    // and poststop run from the `start` and `delete` commands (another
    // process), so they are handed back in the translation.
    let mut post = PostHooks::default();
    if let Some(h) = spec.hooks() {
        let points = [
            (
                "hooks.prestart",
                h.prestart(),
                palisade::HookPoint::Prestart,
            ),
            (
                "hooks.createRuntime",
                h.create_runtime(),
                palisade::HookPoint::CreateRuntime,
            ),
            (
                "hooks.createContainer",
                h.create_container(),
                palisade::HookPoint::CreateContainer,
            ),
            (
                "hooks.startContainer",
                h.start_container(),
                palisade::HookPoint::StartContainer,
            ),
        ];
        for (field, list, point) in points {
            for (i, hook) in list.iter().flatten().enumerate() {
                c = c.hook(point, to_hook(&format!("{field}[{i}]"), hook)?);
            }
        }
        post.poststart = h.poststart().clone().unwrap_or_default();
        post.poststop = h.poststop().clone().unwrap_or_default();
        c = c.id(&opts.id).bundle(&bundle.to_string_lossy());
    }
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| unsupported("linux", "missing"))?;

    // Namespaces: new by type, joined by path.
    let mut kinds = NsKinds::empty();
    let mut joins = Vec::new();
    let mut seen = HashSet::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        let kind = ns_kind(ns.typ());
        if !seen.insert(kind) {
            return Err(unsupported(
                format!("linux.namespaces[{i}]"),
                format!("{kind:?} listed twice"),
            ));
        }
        match ns.path() {
            Some(p) if !p.as_os_str().is_empty() => {
                let n = Namespace::open(p, kind).map_err(|e| {
                    unsupported(
                        format!("linux.namespaces[{i}].path"),
                        format!("{}: {e}", p.display()),
                    )
                })?;
                joins.push(n);
            }
            _ => kinds |= kind.into(),
        }
    }
    c = c.namespaces(kinds);
    if !kinds.contains(NsKinds::NET) {
        c = c.network(Network::Host);
    } else {
        c = c.network(Network::None);
    }
    for n in joins {
        c = c.join(n);
    }
    let uids = linux.uid_mappings().clone().unwrap_or_default();
    let gids = linux.gid_mappings().clone().unwrap_or_default();
    if !uids.is_empty() || !gids.is_empty() {
        if !kinds.contains(NsKinds::USER) {
            return Err(unsupported(
                "linux.uidMappings",
                "mappings need a new user namespace",
            ));
        }
        c = c.user_namespace(
            id_maps("linux.uidMappings", &uids)?,
            id_maps("linux.gidMappings", &gids)?,
        );
    }
    if let Some(offsets) = linux.time_offsets() {
        if !kinds.contains(NsKinds::TIME) {
            return Err(unsupported(
                "linux.timeOffsets",
                "offsets need a new time namespace",
            ));
        }
        let mut t = TimeOffsets::new();
        for (clock, off) in offsets {
            let ns =
                off.secs().unwrap_or(0) * 1_000_000_000 + i64::from(off.nanosecs().unwrap_or(0));
            match clock.as_str() {
                "monotonic" => t.monotonic_ns = ns,
                "boottime" => t.boottime_ns = ns,
                other => {
                    return Err(unsupported(
                        format!("linux.timeOffsets.{other}"),
                        "unknown clock",
                    ));
                }
            }
        }
        c = c.time_offsets(t);
    }

    // Mounts, in order.
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        mount_id_maps(i, m, linux)?;
        if let Some(m) = mount(i, m, &mut notes)? {
            c = c.mount(m);
        }
    }
    c = c.masked_paths(linux.masked_paths().clone().unwrap_or_default());
    c = c.readonly_paths(linux.readonly_paths().clone().unwrap_or_default());
    if let Some(prop) = linux
        .rootfs_propagation()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        let recursive = prop.starts_with('r');
        let p = match prop.trim_start_matches('r') {
            "private" => palisade::Propagation::Private,
            "slave" => palisade::Propagation::Slave,
            "shared" => palisade::Propagation::Shared,
            "unbindable" => palisade::Propagation::Unbindable,
            _ => {
                return Err(unsupported(
                    "linux.rootfsPropagation",
                    format!("{prop:?}: [r]private, [r]slave, [r]shared or [r]unbindable"),
                ));
            }
        };
        c = c.rootfs_propagation(p, recursive);
    }
    if linux
        .mount_label()
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        return Err(unsupported(
            "linux.mountLabel",
            "SELinux labels are not supported",
        ));
    }
    // No `linux.seccomp` is no filter (not palisade's Docker default).
    c = match linux.seccomp() {
        None => c.seccomp_unconfined(),
        Some(sc) => {
            let text = serde_json::to_string(sc).expect("seccomp serialises");
            let profile = palisade::seccomp::Profile::from_json(&text)
                .map_err(|e| unsupported("linux.seccomp", e.to_string()))?;
            c.seccomp(palisade::Seccomp::Profile(profile))
        }
    };
    if let Some(p) = linux.personality() {
        let domain = serde_json::to_value(p.domain()).ok();
        let pers = match domain.as_ref().and_then(|v| v.as_str()) {
            Some("LINUX") => palisade::Personality::Linux,
            Some("LINUX32") => palisade::Personality::Linux32,
            other => {
                return Err(unsupported(
                    "linux.personality.domain",
                    format!("{other:?}: LINUX or LINUX32"),
                ));
            }
        };
        if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
            return Err(unsupported("linux.personality.flags", "not supported"));
        }
        c = c.personality(pers);
    }
    if linux.intel_rdt().is_some() {
        return Err(unsupported("linux.intelRdt", "not supported"));
    }
    if linux.memory_policy().is_some() {
        return Err(unsupported("linux.memoryPolicy", "not supported"));
    }
    if linux.net_devices().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(unsupported("linux.netDevices", "not supported"));
    }
    for (k, v) in linux.sysctl().iter().flatten() {
        c = c.sysctl(k, v);
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        let field = format!("linux.devices[{i}]");
        let num = |v: i64, w: &str| {
            u32::try_from(v).map_err(|_| unsupported(format!("{field}.{w}"), format!("{v}")))
        };
        let (major, minor) = (num(d.major(), "major")?, num(d.minor(), "minor")?);
        let mut dev = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => Device::char(d.path(), major, minor),
            LinuxDeviceType::B => Device::block(d.path(), major, minor),
            other => {
                return Err(unsupported(
                    format!("{field}.type"),
                    format!("{other:?} nodes are not supported"),
                ));
            }
        };
        if let Some(mode) = d.file_mode() {
            dev = dev.file_mode(mode & 0o7777);
        }
        dev = dev.owner(d.uid().unwrap_or(0), d.gid().unwrap_or(0));
        c = c.device(dev);
    }

    // The cgroup: always one (pause, stats, kill --all need it).
    let cgroup = if opts.systemd_cgroup {
        systemd_cgroup_name(linux.cgroups_path().as_deref(), &opts.id)?.to_string()
    } else {
        cgroup_path(linux.cgroups_path().as_deref(), &opts.id)?
    };
    let (res, rules) = match linux.resources() {
        Some(r) => resources(r)?,
        None => (Resources::new(), None),
    };
    // Join the memory and pids controllers even without a limit (the
    // kernel's default, "max", written back), as runc joins them, so a
    // later `update` finds the container there. (Not cpu: shares 1024
    // would become weight 39 on cgroup2, not its default 100.)
    let mut res = res;
    res.memory.max.get_or_insert(UNLIMITED);
    res.pids_max.get_or_insert(UNLIMITED);
    if let Some(mut rules) = rules {
        // As runc and crun do, the standard nodes (null, zero, full,
        // random, urandom, tty, console, ptmx, pts, tun) stay allowed after
        // the spec's rules: palisade makes them in every /dev.
        rules.extend(DeviceRule::docker_default().into_iter().filter(|r| r.allow));
        c = c.device_rules(rules);
    }
    // In every v1 hierarchy, as runc: containerd's shim reads each
    // controller's stats from the pid's own group (a cpuacct left at the
    // root would report the whole machine's CPU time as the container's).
    c = c.cgroup(&cgroup, res).cgroup_all_controllers(true);
    if opts.systemd_cgroup {
        c = c.cgroup_manager(CgroupManager::Systemd);
    }

    Ok(Translation {
        container: c,
        rootfs,
        cgroup,
        notes,
        post_hooks: post,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(check_version("1.0.2").is_ok());
        assert!(check_version("1.2.0").is_ok());
        assert!(check_version("1.0.2-dev").is_ok());
        assert!(check_version("2.0.0").is_err());
        assert!(check_version("1.9.0").is_err());
        assert!(check_version("one").is_err());
        assert!(check_version("").is_err());
    }

    #[test]
    fn cgroup_paths() {
        assert_eq!(
            cgroup_path(Some(Path::new("/default/abc")), "x").unwrap(),
            "default/abc"
        );
        assert_eq!(cgroup_path(Some(Path::new("a/b")), "x").unwrap(), "a/b");
        assert_eq!(cgroup_path(None, "x").unwrap(), "palisade-oci/x");
        let long = format!("/{}", "c".repeat(5000));
        for bad in [
            "/a/../b",
            "../x",
            "/",
            "a//b",
            "system.slice:docker:abc",
            "/a\0b",
            "/a\nb",
            "/a/cgroup.procs",
            &long,
        ] {
            let e = cgroup_path(Some(Path::new(bad)), "x").unwrap_err();
            assert!(e.to_string().starts_with("linux.cgroupsPath"), "{bad}: {e}");
        }
    }

    #[test]
    fn systemd_cgroup_names() {
        let n = systemd_cgroup_name(Some(Path::new("machine.slice:palisade:abc")), "x").unwrap();
        assert_eq!(n.to_string(), "machine.slice:palisade:abc");
        assert_eq!(n.unit(), "palisade-abc.scope");
        let n = systemd_cgroup_name(None, "web.1").unwrap();
        assert_eq!(n.to_string(), ":palisade-oci:web.1");
        for bad in [
            "/default/abc",
            "a/b",
            "system.slice:palisade",
            "system:palisade:abc",
            "system.slice:pal/isade:abc",
        ] {
            let e = systemd_cgroup_name(Some(Path::new(bad)), "x").unwrap_err();
            let text = e.to_string();
            assert!(text.starts_with("linux.cgroupsPath"), "{bad}: {e}");
            assert!(text.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn a_mounts_own_id_maps_must_be_the_containers() {
        let linux: oci_spec::runtime::Linux = serde_json::from_str(
            r#"{"uidMappings":[{"containerID":0,"hostID":1000,"size":65536}],
                "gidMappings":[{"containerID":0,"hostID":1000,"size":65536}]}"#,
        )
        .unwrap();
        let m = |json: &str| -> OciMount { serde_json::from_str(json).unwrap() };
        let same = m(
            r#"{"destination":"/d","type":"bind","source":"/s","options":["rbind","idmap"],
            "uidMappings":[{"containerID":0,"hostID":1000,"size":65536}],
            "gidMappings":[{"containerID":0,"hostID":1000,"size":65536}]}"#,
        );
        mount_id_maps(0, &same, &linux).unwrap();
        let plain = m(r#"{"destination":"/d","type":"bind","source":"/s","options":["rbind"]}"#);
        mount_id_maps(0, &plain, &linux).unwrap();
        let other = m(
            r#"{"destination":"/d","type":"bind","source":"/s","options":["rbind","idmap"],
            "uidMappings":[{"containerID":0,"hostID":2000,"size":10}],
            "gidMappings":[{"containerID":0,"hostID":1000,"size":65536}]}"#,
        );
        let e = mount_id_maps(3, &other, &linux).unwrap_err().to_string();
        assert!(e.contains("mounts[3].uidMappings"), "{e}");
        let no_opt = m(
            r#"{"destination":"/d","type":"bind","source":"/s","options":["rbind"],
            "uidMappings":[{"containerID":0,"hostID":1000,"size":65536}]}"#,
        );
        let e = mount_id_maps(1, &no_opt, &linux).unwrap_err().to_string();
        assert!(
            e.contains("mounts[1].uidMappings") && e.contains("idmap"),
            "{e}"
        );
    }

    #[test]
    fn env_is_exact() {
        let env = parse_env("process.env", &["A=1".into(), "B==x".into(), "C=".into()]).unwrap();
        assert_eq!(
            env,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "=x".into()),
                ("C".into(), "".into())
            ]
        );
        assert!(parse_env("process.env", &["NOEQ".into()]).is_err());
    }

    #[test]
    fn swap_is_memory_plus_swap() {
        let r: LinuxResources =
            serde_json::from_str(r#"{"memory":{"limit":100,"swap":300},"pids":{"limit":5}}"#)
                .unwrap();
        let (res, rules) = resources(&r).unwrap();
        assert_eq!(
            (res.memory.max, res.memory.swap, res.pids_max),
            (Some(100), Some(200), Some(5))
        );
        assert!(rules.is_none());
        let r: LinuxResources =
            serde_json::from_str(r#"{"memory":{"limit":100,"swap":50}}"#).unwrap();
        assert!(resources(&r).is_err());
        let r: LinuxResources = serde_json::from_str(
            r#"{"unified":{"memory.oom.group":"1","io.weight":"default 50"}}"#,
        )
        .unwrap();
        assert_eq!(
            resources(&r).unwrap().0.unified,
            [
                ("io.weight".to_owned(), "default 50".to_owned()),
                ("memory.oom.group".to_owned(), "1".to_owned())
            ]
        );
        for bad in [r#"{"cgroup.procs":"1"}"#, r#"{"../memory.max":"1"}"#] {
            let r: LinuxResources =
                serde_json::from_str(&format!(r#"{{"unified":{bad}}}"#)).unwrap();
            let e = resources(&r).unwrap_err().to_string();
            assert!(e.starts_with("linux.resources.unified"), "{e}");
        }
    }

    #[test]
    fn device_rules() {
        let r: LinuxResources = serde_json::from_str(
            r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}]}"#,
        )
        .unwrap();
        let (_, rules) = resources(&r).unwrap();
        let rules: Vec<String> = rules.unwrap().iter().map(|r| r.to_string()).collect();
        assert_eq!(rules, ["a *:* rwm", "c 1:3 rw"]);
    }

    #[test]
    fn capability_sets_must_agree() {
        let caps: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_KILL","CAP_CHOWN"],"effective":["CAP_KILL","CAP_CHOWN"],"permitted":["CAP_KILL","CAP_CHOWN"]}"#,
        )
        .unwrap();
        let set = capabilities("process.capabilities", &caps, 0).unwrap();
        assert_eq!(set.iter().count(), 2);
        let caps: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_KILL"],"effective":[],"permitted":["CAP_KILL"]}"#,
        )
        .unwrap();
        let e = capabilities("process.capabilities", &caps, 0).unwrap_err();
        assert!(
            e.to_string().starts_with("process.capabilities.effective"),
            "{e}"
        );
    }
}
