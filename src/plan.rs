//! Everything the child needs, prepared in the parent: C strings, pointer
//! arrays, mount operations and the text of each operation for errors. The
//! child only reads this (its copy of the parent's memory) and makes raw
//! system calls.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::path::{Component, Path};

use palisade_caps::{CapState, IdSwitch, PreparedCaps};
use palisade_ns::NsKind;

use crate::config::{Container, Device, Mount};
use crate::{SpawnError, Step};
use palisade_cgroup::DeviceType;

/// One filesystem operation before `pivot_root`. Every target is a
/// container path, resolved in the child beneath the root with chroot
/// semantics ([`crate::inroot`]) and acted on through the resulting fd.
pub(crate) enum Op {
    /// An idmapped bind the parent made and sent ([`crate::idmap`]):
    /// the tree at fd `slot` moved onto `target` (a file when `file`).
    /// `source`, `recursive` and `attrs` tell the parent what to make.
    BindFd {
        source: CString,
        recursive: bool,
        attrs: u64,
        slot: RawFd,
        target: CString,
        file: bool,
    },
    /// Set the propagation (`MS_*`) of the mount on `target` (and of
    /// every mount below it when `recursive`).
    Propagation {
        target: CString,
        propagation: u64,
        recursive: bool,
    },
    /// A new filesystem instance (`fsopen`/`fsmount`) with `options` and
    /// mount attributes `attrs`, on `target` (made a directory if missing).
    Fs {
        fstype: CString,
        options: Vec<(CString, Option<CString>)>,
        attrs: u64,
        target: CString,
    },
    /// A bind of the host path `source` (its whole tree when `recursive`)
    /// with `attrs` added to every bound mount, on `target` (made a file
    /// when `file`, else a directory, if missing).
    Bind {
        source: CString,
        recursive: bool,
        attrs: u64,
        target: CString,
        file: bool,
    },
    /// `mknod` of a device node `name` in the container directory `dir`
    /// (an existing entry is replaced), then `chmod` and `chown`.
    Mknod {
        dir: CString,
        name: CString,
        mode: libc::mode_t,
        dev: libc::dev_t,
        uid: u32,
        gid: u32,
    },
    /// `symlink(to)` named `name` in the container directory `dir`; an
    /// existing entry is kept.
    Symlink {
        to: CString,
        dir: CString,
        name: CString,
    },
}

/// An [`Op`] with the step it belongs to and what to report if it fails.
pub(crate) struct PlannedOp {
    pub op: Op,
    pub step: Step,
    pub detail: String,
}

/// `Step::Stdio` record indexes: 0..=2 the streams, then the terminal's
/// sub-steps, then the passed fds.
pub(crate) const STDIO_TERMINAL: u32 = 100;
/// See [`STDIO_TERMINAL`].
pub(crate) const STDIO_PASSED: u32 = 1000;
/// `Step::Rlimit` record indexes of the other process attributes.
pub(crate) const RLIMIT_OOM: u32 = 10_000;
/// See [`RLIMIT_OOM`].
pub(crate) const RLIMIT_KEYRING: u32 = 10_001;

/// A path inside the container, to mask or make read-only after pivot.
pub(crate) struct InnerPath {
    pub path: CString,
    pub detail: String,
}

pub(crate) struct Plan {
    pub program: CString,
    /// Owns the strings `argv_ptrs` points to.
    _argv: Vec<CString>,
    pub argv_ptrs: Vec<*const libc::c_char>,
    /// Owns the strings `envp_ptrs` points to.
    _envp: Vec<CString>,
    pub envp_ptrs: Vec<*const libc::c_char>,
    pub cwd: CString,
    pub hostname: Option<CString>,
    pub domainname: Option<CString>,
    pub new_mnt: bool,
    pub rootfs: Option<CString>,
    pub ops: Vec<PlannedOp>,
    pub masked: Vec<InnerPath>,
    pub readonly: Vec<InnerPath>,
    pub sysctls: Vec<(CString, Vec<u8>, String)>,
    pub loopback: bool,
    pub rlimits: Vec<(u32, libc::rlimit)>,
    pub stdio: [RawFd; 3],
    pub joins: Vec<(RawFd, libc::c_int, String)>,
    pub caps: PreparedCaps,
    /// In a new user namespace: become its root (uid/gid 0 inside) once the
    /// maps are written, before any mount.
    pub become_ns_root: bool,
    /// Unshare the cgroup namespace after the parent placed us in our
    /// cgroups (v1 placement happens after clone, so a cgroup namespace
    /// made by clone would be rooted at the parent's v1 groups).
    pub unshare_cgroup: bool,
    pub parent_death_signal: Option<i32>,
    pub sync_fd: RawFd,
    pub err_fd: RawFd,
    /// The compiled syscall filter and the install flags the kernel has;
    /// `seccomp_early`: install before capabilities are dropped (no
    /// `no_new_privs`), else last before execve.
    pub seccomp: Option<(
        std::sync::Arc<palisade_seccomp::CompiledFilter>,
        palisade_seccomp::InstallFlags,
    )>,
    pub seccomp_early: bool,
    /// A Notify profile: the child's end of the socketpair its listener
    /// goes back on (-1: none).
    pub notify_sock: RawFd,
    /// A pid namespace to join (fd, or -1): the child enters it and forks
    /// the process that stays (see child::join_pid_namespace).
    pub pid_join: RawFd,
    /// With `pid_join`: the stack of the process forked in the pid
    /// namespace, which shares the first child's memory (`CLONE_VM`).
    pub pid_join_stack: Option<crate::stack::GuardedStack>,
    /// The v1 `tasks` files of the container's cgroup (fd, path): the
    /// child writes `0` to each first thing, joining itself (see
    /// `Cgroup::tasks_fds_v1` for why not the parent), then closes them.
    pub cgroup_join: Vec<(RawFd, String)>,
    /// The caller's argv and environment areas `[start, end)` (from
    /// `/proc/self/stat`), wiped in the child's copy before it becomes
    /// visible in a joined pid namespace.
    pub wipe: [(usize, usize); 2],
    /// Pause before `pivot_root` (a HOOKS record, then a byte on
    /// `sync_fd`) so the parent runs createRuntime/createContainer hooks.
    pub hooks_pause: bool,
    /// Create mode: the read end of the start pipe the child waits on
    /// just before execve (-1: start at once).
    pub start_fd: RawFd,
    /// The sealed memfd of palisade-init, exec'd in place of the program.
    pub init_fd: RawFd,
    /// The only fds the child keeps (sorted): stdio, its pipes, the
    /// namespaces it joins, the init image. Every other fd of the parent
    /// is closed first thing, before any path of the image is resolved.
    pub keep_fds: Vec<RawFd>,
    /// A terminal: the child's end of the socketpair the master goes
    /// back on, and the window's rows and columns.
    pub terminal: Option<(RawFd, u16, u16)>,
    /// Bind the terminal's slave over /dev/console (not for an exec).
    pub terminal_console: bool,
    /// Passed fds (source, number), `dup3`'d last before execve; every
    /// source, `err_fd` and `init_fd` are above every number (passfd.rs).
    pub pass_fds: Vec<(RawFd, i32)>,
    /// What stays open into `execveat` of palisade-init (sorted): stdio,
    /// the passed numbers, the error pipe and the image itself.
    pub final_keep: Vec<RawFd>,
    /// Enter the root by MS_MOVE onto `/` + chroot instead of pivot_root
    /// (nopivot.rs).
    pub no_pivot: bool,
    /// Make the root mount read-only after pivot (its submounts keep
    /// their own flags).
    pub readonly_rootfs: bool,
    /// personality(2) just before execve.
    pub personality: Option<libc::c_ulong>,
    /// `MS_*` flags for `/` at the start instead of `MS_REC|MS_PRIVATE`,
    /// and whether to make the new root shared after pivot_root.
    pub root_propagation: libc::c_ulong,
    pub root_shared: Option<bool>,
    /// Idmapped binds: the child's end of the socketpair they come on
    /// (-1: none), the fd number each goes to, and what the parent makes.
    pub idmap_sock: RawFd,
    pub idmap_slots: Vec<RawFd>,
    pub idmaps: Vec<crate::idmap::Source>,
    /// `umask` just before execve.
    pub umask: Option<libc::mode_t>,
    /// The text written to `/proc/self/oom_score_adj`.
    pub oom_score_adj: Option<Vec<u8>>,
    /// `KEYCTL_JOIN_SESSION_KEYRING` after the id switch.
    pub session_keyring: bool,
    /// A program found through `PATH`: the candidates in order (owning
    /// the strings) and, for each, palisade-init's argv naming it. The
    /// child execs the first that is an executable regular file. Empty:
    /// the program is a path, `argv_ptrs` is used as is.
    exec_paths: Vec<CString>,
    pub exec_argvs: Vec<Vec<*const libc::c_char>>,
}

// SAFETY: the raw pointers in `argv_ptrs`/`envp_ptrs` point into CStrings
// owned by the same Plan, which is never mutated after it is built.
unsafe impl Sync for Plan {}
// SAFETY: as above; moving the Plan moves the owned CStrings' heap buffers
// untouched, so the pointers stay valid.
unsafe impl Send for Plan {}

fn cstr(what: &str, s: &str) -> Result<CString, SpawnError> {
    CString::new(s).map_err(|_| SpawnError::invalid(format!("{what} contains a NUL byte: {s:?}")))
}

fn cpath(p: &Path) -> Result<CString, SpawnError> {
    CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| SpawnError::invalid(format!("path contains a NUL byte: {}", p.display())))
}

/// The supplementary groups the child sets, or `None` for no `setgroups`
/// call: when none were asked for and either the user namespace denies
/// the call (rootless mode writes `deny`, user_namespaces(7)) or the
/// caller has none to clear — the call would fail, or change nothing.
fn groups_to_set(c: &Container) -> Option<Vec<u32>> {
    // SAFETY: getgroups with size 0 only counts; no buffer is written.
    let inherited = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    if c.groups.is_empty() && (c.rootless || inherited == 0) {
        None
    } else {
        Some(c.groups.clone())
    }
}

/// What the plan would refuse, checked before anything is created: the
/// extra mounts, and `user()`/`groups()` ids the container's new user
/// namespace does not map (the child's `setresuid` would get `EINVAL`).
pub(crate) fn check_early(c: &Container) -> Result<(), SpawnError> {
    for m in &c.mounts {
        Plan::plan_mount(m, &mut Vec::new())?;
    }
    let (Some((uid, gid)), Some((uids, gids))) = (c.user, &c.id_maps) else {
        return Ok(());
    };
    let unmapped = |what: &str, kind: &str, id: u32, map: &palisade_ns::IdMaps| {
        Err(SpawnError::invalid(format!(
            "{what}: {kind} {id} is not mapped in the container's user namespace \
             ({kind} map {})",
            map.to_kernel_text().trim_end().replace('\n', ", ")
        )))
    };
    let user = format!("user({uid}, {gid})");
    if uids.to_outside(uid).is_none() {
        return unmapped(&user, "uid", uid, uids);
    }
    if gids.to_outside(gid).is_none() {
        return unmapped(&user, "gid", gid, gids);
    }
    for &g in &c.groups {
        if gids.to_outside(g).is_none() {
            return unmapped(&format!("groups({:?})", c.groups), "gid", g, gids);
        }
    }
    Ok(())
}

/// A path inside the container must be absolute and must not climb out
/// with `..`.
pub(crate) fn check_inner(what: &str, p: &str) -> Result<(), SpawnError> {
    let path = Path::new(p);
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(SpawnError::invalid(format!(
            "{what} {p:?} must be an absolute path without `..`"
        )));
    }
    Ok(())
}

/// The container's filter, compiled: Docker's profile once per capability
/// set (cached: libseccomp takes milliseconds), another profile each time.
#[allow(clippy::type_complexity)]
fn compile_seccomp(
    c: &Container,
) -> Result<
    Option<(
        std::sync::Arc<palisade_seccomp::CompiledFilter>,
        palisade_seccomp::InstallFlags,
    )>,
    SpawnError,
> {
    use palisade_seccomp::{CompiledFilter, InstallFlags, Profile};
    use std::sync::{Arc, Mutex};
    static DOCKER: Mutex<Vec<(palisade_caps::CapSet, Arc<CompiledFilter>)>> =
        Mutex::new(Vec::new());
    let compile = |p: &Profile| -> Result<Arc<CompiledFilter>, SpawnError> {
        p.to_filter()
            .and_then(|f| f.compile())
            .map(Arc::new)
            .map_err(|e| SpawnError::from_lib(Step::Seccomp, e, None))
    };
    let filter = match &c.seccomp {
        crate::config::Seccomp::Unconfined => return Ok(None),
        crate::config::Seccomp::Profile(p) => compile(p)?,
        crate::config::Seccomp::DockerDefault => {
            let mut cache = DOCKER.lock().unwrap_or_else(|p| p.into_inner());
            match cache.iter().find(|(caps, _)| *caps == c.capabilities) {
                Some((_, f)) => f.clone(),
                None => {
                    let f = compile(&Profile::docker_default(&c.capabilities))?;
                    cache.push((c.capabilities, f.clone()));
                    f
                }
            }
        }
    };
    let flags = filter.profile_flags() & InstallFlags::available();
    Ok(Some((filter, flags)))
}

/// `[arg_start, arg_end)` and `[env_start, env_end)` of this process
/// (`/proc/self/stat` fields 48–51); empty ranges if unreadable.
fn arg_env_areas() -> [(usize, usize); 2] {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
    // Field 3 is the first after the command; 48 is the 46th from there.
    let f: Vec<usize> = after
        .split_whitespace()
        .skip(45)
        .take(4)
        .filter_map(|x| x.parse().ok())
        .collect();
    match f[..] {
        [a, b, c, d] if a <= b && c <= d => [(a, b), (c, d)],
        _ => [(0, 0), (0, 0)],
    }
}

impl Plan {
    pub(crate) fn build(
        c: &Container,
        rootfs: Option<&Path>,
        stdio: [RawFd; 3],
        sync_fd: RawFd,
        err_fd: RawFd,
        init_fd: RawFd,
    ) -> Result<Plan, SpawnError> {
        let program = cstr("program", &c.program)?;
        // Every program starts through palisade-init (see trampoline.rs):
        // palisade-init MODE ERRFD STEP PATH ARGV0 [ARGS...].
        let mut argv = vec![
            c"palisade-init".into(),
            if c.init || c.time_offsets.is_some() {
                c"i".into()
            } else {
                c"e".into()
            },
            cstr("fd", &err_fd.to_string())?,
            cstr("step", &Step::Exec.code().to_string())?,
            program.clone(),
            program.clone(),
        ];
        for a in &c.args {
            argv.push(cstr("argument", a)?);
        }
        let mut envp = Vec::new();
        for (k, v) in &c.env {
            envp.push(cstr("environment variable", &format!("{k}={v}"))?);
        }
        let ptrs = |v: &Vec<CString>| {
            v.iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect::<Vec<_>>()
        };
        let new_mnt = c.has_new(NsKind::Mnt);
        let mut ops = Vec::new();
        if rootfs.is_some() {
            Self::plan_proc_dev_sys(c, &mut ops)?;
            if c.readonly_rootfs
                && !c.mounts.iter().any(|m| {
                    matches!(m, Mount::Tmpfs { target, .. } | Mount::TmpfsWith { target, .. }
                        | Mount::Bind { target, .. } | Mount::Oci { target, .. }
                        if target == Path::new("/run"))
                })
            {
                // A read-only root keeps /run writable (as /dev and /proc).
                ops.push(PlannedOp {
                    op: Op::Fs {
                        fstype: c"tmpfs".into(),
                        options: vec![(c"mode".into(), Some(c"755".into()))],
                        attrs: crate::mountfd::attr::NOSUID | crate::mountfd::attr::NODEV,
                        target: c"/run".into(),
                    },
                    step: Step::Mount,
                    detail: "tmpfs /run (read-only root)".into(),
                });
            }
            for m in &c.mounts {
                Self::plan_mount(m, &mut ops)?;
            }
            let in_userns =
                c.has_new(NsKind::User) || c.joins.iter().any(|n| n.kind() == NsKind::User);
            for d in &c.devices {
                Self::plan_device(d, in_userns, &mut ops)?;
            }
        }
        let inner = |list: &Vec<String>, what: &str| -> Result<Vec<InnerPath>, SpawnError> {
            list.iter()
                .map(|p| {
                    check_inner(what, p)?;
                    Ok(InnerPath {
                        path: cstr(what, p)?,
                        detail: p.clone(),
                    })
                })
                .collect()
        };
        let (masked, readonly) = if rootfs.is_some() {
            (
                inner(&c.masked_paths, "masked path")?,
                inner(&c.readonly_paths, "read-only path")?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let mut sysctls = Vec::new();
        for (k, v) in &c.sysctls {
            if k.is_empty() || k.contains('/') || k.split('.').any(|p| p.is_empty() || p == "..") {
                return Err(SpawnError::invalid(format!("invalid sysctl key {k:?}")));
            }
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            sysctls.push((
                cstr("sysctl", &path)?,
                v.as_bytes().to_vec(),
                format!("{k}={v}"),
            ));
        }
        let caps_state = CapState::container(c.capabilities);
        let mut caps = PreparedCaps::new(caps_state)
            .map_err(|e| SpawnError::from_lib(Step::Validate, e, None))?
            .with_no_new_privs(c.no_new_privs);
        if let Some((uid, gid)) = c.user {
            caps = caps.with_ids(IdSwitch {
                uid,
                gid,
                groups: groups_to_set(c),
            });
        }
        let joins: Vec<(RawFd, libc::c_int, String)> = c
            .joins
            .iter()
            .filter(|ns| ns.kind() != NsKind::Pid)
            .map(|ns| {
                use std::os::fd::{AsFd, AsRawFd};
                (
                    ns.as_fd().as_raw_fd(),
                    ns.kind().clone_flag(),
                    format!("{} namespace", ns.kind()),
                )
            })
            .collect();
        let pid_join_fd = c
            .joins
            .iter()
            .find(|n| n.kind() == NsKind::Pid)
            .map_or(-1, |n| {
                use std::os::fd::{AsFd, AsRawFd};
                n.as_fd().as_raw_fd()
            });
        let mut keep_fds: Vec<RawFd> = vec![0, 1, 2, sync_fd, err_fd, init_fd];
        let pid_join_stack = if pid_join_fd >= 0 {
            Some(crate::stack::GuardedStack::new().map_err(|e| {
                SpawnError::new(
                    Step::Prepare,
                    e.raw_os_error().map(nix::errno::Errno::from_raw),
                    "a stack for the process forked in the joined pid namespace",
                )
            })?)
        } else {
            None
        };
        if pid_join_fd >= 0 {
            keep_fds.push(pid_join_fd);
        }
        keep_fds.extend(stdio.iter().copied().filter(|&fd| fd >= 0));
        keep_fds.extend(joins.iter().map(|j| j.0));
        keep_fds.sort_unstable();
        keep_fds.dedup();
        Ok(Plan {
            argv_ptrs: ptrs(&argv),
            envp_ptrs: ptrs(&envp),
            program,
            _argv: argv,
            _envp: envp,
            cwd: cstr("working directory", &c.cwd)?,
            hostname: c
                .hostname
                .as_deref()
                .map(|h| cstr("hostname", h))
                .transpose()?,
            domainname: c
                .domainname
                .as_deref()
                .map(|h| cstr("domainname", h))
                .transpose()?,
            new_mnt,
            rootfs: rootfs.map(cpath).transpose()?,
            ops,
            masked,
            readonly,
            sysctls,
            loopback: c.has_new(NsKind::Net),
            rlimits: c
                .rlimits
                .iter()
                .map(|r| {
                    (
                        r.resource,
                        libc::rlimit {
                            rlim_cur: r.soft,
                            rlim_max: r.hard,
                        },
                    )
                })
                .collect(),
            stdio,
            joins,
            caps,
            become_ns_root: c.has_new(NsKind::User),
            unshare_cgroup: c.has_new(NsKind::Cgroup) && c.cgroup.is_some(),
            parent_death_signal: if c.time_offsets.is_some() {
                None
            } else {
                c.parent_death_signal
            },
            sync_fd,
            err_fd,
            init_fd,
            start_fd: -1,
            seccomp: compile_seccomp(c)?,
            seccomp_early: !c.no_new_privs,
            notify_sock: -1,
            pid_join: pid_join_fd,
            pid_join_stack,
            cgroup_join: Vec::new(),
            wipe: arg_env_areas(),
            hooks_pause: c.hooks.iter().any(|(p, _)| {
                matches!(
                    p,
                    crate::HookPoint::Prestart
                        | crate::HookPoint::CreateRuntime
                        | crate::HookPoint::CreateContainer
                )
            }),
            keep_fds,
            terminal: None,
            terminal_console: !c.terminal_in_joined_root,
            pass_fds: Vec::new(),
            final_keep: vec![0, 1, 2, err_fd.min(init_fd), err_fd.max(init_fd)],
            umask: c.umask,
            no_pivot: c.no_pivot,
            readonly_rootfs: c.readonly_rootfs && rootfs.is_some(),
            personality: c.personality.map(crate::Personality::value),
            root_propagation: match c.rootfs_propagation {
                Some((p, recursive)) if p != crate::Propagation::Shared => {
                    p.ms() | if recursive { libc::MS_REC } else { 0 }
                }
                // pivot_root refuses a shared parent: private until after.
                _ => libc::MS_REC | libc::MS_PRIVATE,
            },
            root_shared: match c.rootfs_propagation {
                Some((crate::Propagation::Shared, recursive)) if rootfs.is_some() => {
                    Some(recursive)
                }
                _ => None,
            },
            idmap_sock: -1,
            idmap_slots: Vec::new(),
            idmaps: Vec::new(),
            oom_score_adj: c.oom_score_adj.map(crate::attrs::oom_text),
            session_keyring: c.session_keyring,
            exec_paths: Vec::new(),
            exec_argvs: Vec::new(),
        })
    }

    fn plan_proc_dev_sys(c: &Container, ops: &mut Vec<PlannedOp>) -> Result<(), SpawnError> {
        use crate::mountfd::attr;
        let mut push = |op, step, detail: &str| {
            ops.push(PlannedOp {
                op,
                step,
                detail: detail.to_owned(),
            })
        };
        let fs = |fstype: &CStr, options: &[(&CStr, Option<&CStr>)], attrs, target: &CStr| Op::Fs {
            fstype: fstype.into(),
            options: options
                .iter()
                .map(|(k, v)| ((*k).into(), v.map(Into::into)))
                .collect(),
            attrs,
            target: target.into(),
        };
        let safe = attr::NOSUID | attr::NODEV | attr::NOEXEC;
        push(fs(c"proc", &[], safe, c"/proc"), Step::MountProc, "/proc");
        if c.dev {
            push(
                fs(
                    c"tmpfs",
                    &[(c"mode", Some(c"755")), (c"size", Some(c"65536k"))],
                    attr::NOSUID | attr::STRICTATIME,
                    c"/dev",
                ),
                Step::MountDev,
                "/dev",
            );
            for node in ["null", "zero", "full", "random", "urandom", "tty"] {
                let path = cstr("device", &format!("/dev/{node}"))?;
                push(
                    // Read-only: root inside may read and write the device,
                    // never chmod, chown or touch the host's inode (EROFS).
                    Op::Bind {
                        source: path.clone(),
                        recursive: false,
                        attrs: attr::RDONLY | attr::NOSUID | attr::NOEXEC,
                        target: path,
                        file: true,
                    },
                    Step::MountDev,
                    &format!("/dev/{node}"),
                );
            }
            for (link, to) in [
                ("fd", "/proc/self/fd"),
                ("stdin", "/proc/self/fd/0"),
                ("stdout", "/proc/self/fd/1"),
                ("stderr", "/proc/self/fd/2"),
                ("ptmx", "pts/ptmx"),
            ] {
                push(
                    Op::Symlink {
                        to: cstr("link", to)?,
                        dir: c"/dev".into(),
                        name: cstr("link", link)?,
                    },
                    Step::MountDev,
                    &format!("/dev/{link}"),
                );
            }
            push(
                fs(
                    c"devpts",
                    &[
                        (c"newinstance", None),
                        (c"ptmxmode", Some(c"0666")),
                        (c"mode", Some(c"0620")),
                    ],
                    attr::NOSUID | attr::NOEXEC,
                    c"/dev/pts",
                ),
                Step::MountDev,
                "/dev/pts",
            );
            push(
                fs(
                    c"tmpfs",
                    &[(c"mode", Some(c"1777")), (c"size", Some(c"65536k"))],
                    safe,
                    c"/dev/shm",
                ),
                Step::MountDev,
                "/dev/shm",
            );
            // mqueue needs a new ipc namespace to be private.
            if c.has_new(NsKind::Ipc) {
                push(
                    fs(c"mqueue", &[], safe, c"/dev/mqueue"),
                    Step::MountDev,
                    "/dev/mqueue",
                );
            }
        }
        if c.sys {
            let op = if c.has_new(NsKind::Net) {
                fs(c"sysfs", &[], safe | attr::RDONLY, c"/sys")
            } else {
                // sysfs of the host's network namespace: bind the host's
                // tree, every mount of it read-only (cgroupfs included).
                Op::Bind {
                    source: c"/sys".into(),
                    recursive: true,
                    attrs: safe | attr::RDONLY,
                    target: c"/sys".into(),
                    file: false,
                }
            };
            push(op, Step::MountSys, "/sys");
        }
        Ok(())
    }

    fn plan_device(
        d: &Device,
        in_userns: bool,
        ops: &mut Vec<PlannedOp>,
    ) -> Result<(), SpawnError> {
        let path = cpath(&d.path)?;
        let detail = format!(
            "device {} {} {}:{}",
            d.path.display(),
            d.kind.letter(),
            d.major,
            d.minor
        );
        let op = if in_userns {
            // mknod needs CAP_MKNOD in the initial user namespace: bind the
            // host's node instead, as runc does.
            Op::Bind {
                source: path.clone(),
                recursive: false,
                attrs: crate::mountfd::attr::RDONLY
                    | crate::mountfd::attr::NOSUID
                    | crate::mountfd::attr::NOEXEC,
                target: path,
                file: true,
            }
        } else {
            let (dir, name) = match (d.path.parent(), d.path.file_name()) {
                (Some(dir), Some(name)) => (dir, name),
                _ => return Err(SpawnError::invalid(format!("{detail}: no file name"))),
            };
            let kind = if d.kind == DeviceType::Block {
                libc::S_IFBLK
            } else {
                libc::S_IFCHR
            };
            Op::Mknod {
                dir: cpath(dir)?,
                name: cpath(Path::new(name))?,
                mode: kind | d.file_mode,
                dev: libc::makedev(d.major, d.minor),
                uid: d.uid,
                gid: d.gid,
            }
        };
        ops.push(PlannedOp {
            op,
            step: Step::Mount,
            detail,
        });
        Ok(())
    }

    fn plan_mount(m: &Mount, ops: &mut Vec<PlannedOp>) -> Result<(), SpawnError> {
        use crate::mountfd::attr;
        match m {
            Mount::Bind {
                source,
                target,
                readonly,
            } => {
                let t = target.to_string_lossy();
                check_inner("mount target", &t)?;
                let meta = std::fs::metadata(source).map_err(|e| {
                    SpawnError::new(
                        Step::Validate,
                        e.raw_os_error().map(nix::errno::Errno::from_raw),
                        format!("bind mount source {}", source.display()),
                    )
                })?;
                ops.push(PlannedOp {
                    op: Op::Bind {
                        source: cpath(source)?,
                        recursive: true,
                        attrs: if *readonly { attr::RDONLY } else { 0 },
                        target: cpath(target)?,
                        file: !meta.is_dir(),
                    },
                    step: Step::Mount,
                    detail: format!("{} -> {t}", source.display()),
                });
            }
            Mount::Tmpfs { target, size_bytes } => {
                let options = crate::TmpfsOptions::new().size_bytes(*size_bytes);
                Self::plan_tmpfs(target, &options, ops)?;
            }
            Mount::TmpfsWith { target, options } => Self::plan_tmpfs(target, options, ops)?,
            Mount::Oci {
                fstype,
                source,
                target,
                options,
            } => Self::plan_oci(fstype, source, target, options, ops)?,
        }
        Ok(())
    }

    /// An OCI mount (see [`crate::mountopts`]): a bind (attributes on
    /// every bound mount, atime mode cleared first when one is named) or a
    /// new filesystem (data options and superblock flags to `fsconfig`,
    /// attributes to `fsmount`), then its propagation.
    fn plan_oci(
        fstype: &str,
        source: &str,
        target: &Path,
        options: &[String],
        ops: &mut Vec<PlannedOp>,
    ) -> Result<(), SpawnError> {
        use crate::mountfd::attr;
        let t = target.to_string_lossy();
        check_inner("mount target", &t)?;
        let o = crate::MountOptions::parse(fstype, options)
            .map_err(|e| SpawnError::invalid(format!("mount {t}: {e}")))?;
        if o.idmap.is_some() && o.bind.is_none() {
            return Err(SpawnError::invalid(format!(
                "mount {t}: idmap/ridmap needs a bind (bind or rbind)"
            )));
        }
        let detail = format!("{fstype} {source} -> {t}");
        let op = if let Some(recursive) = o.bind {
            let meta = std::fs::metadata(source).map_err(|e| {
                SpawnError::new(
                    Step::Validate,
                    e.raw_os_error().map(nix::errno::Errno::from_raw),
                    format!("bind mount source {source}"),
                )
            })?;
            let mut attrs = o.attrs;
            if let Some(a) = o.atime {
                attrs |= a | attr::WANT_ATIME;
            }
            match o.idmap {
                // ridmap idmaps every mount of the tree; idmap with
                // rbind would leave submounts unmapped: both recursive.
                Some(_) => Op::BindFd {
                    source: cstr("mount source", source)?,
                    recursive,
                    attrs,
                    slot: -1,
                    target: cpath(target)?,
                    file: !meta.is_dir(),
                },
                None => Op::Bind {
                    source: cstr("mount source", source)?,
                    recursive,
                    attrs,
                    target: cpath(target)?,
                    file: !meta.is_dir(),
                },
            }
        } else {
            let mut fsopts = Vec::new();
            if !source.is_empty() && source != "none" {
                fsopts.push((c"source".into(), Some(cstr("mount source", source)?)));
            }
            for f in &o.sb_flags {
                fsopts.push((cstr("mount option", f)?, None));
            }
            for (k, v) in &o.data {
                let v = v.as_deref().map(|v| cstr("mount option", v)).transpose()?;
                fsopts.push((cstr("mount option", k)?, v));
            }
            Op::Fs {
                fstype: cstr("filesystem type", fstype)?,
                options: fsopts,
                attrs: o.attrs | o.atime.unwrap_or(0),
                target: cpath(target)?,
            }
        };
        ops.push(PlannedOp {
            op,
            step: Step::Mount,
            detail: detail.clone(),
        });
        if let Some((p, recursive)) = o.propagation {
            ops.push(PlannedOp {
                op: Op::Propagation {
                    target: cpath(target)?,
                    propagation: p.ms(),
                    recursive,
                },
                step: Step::Mount,
                detail: format!(
                    "{detail}: propagation {}{p}",
                    if recursive { "r" } else { "" }
                ),
            });
        }
        Ok(())
    }

    /// A tmpfs: its parameters go to `fsconfig`, its flags become mount
    /// attributes. Values the kernel would read otherwise are refused here.
    fn plan_tmpfs(
        target: &Path,
        o: &crate::TmpfsOptions,
        ops: &mut Vec<PlannedOp>,
    ) -> Result<(), SpawnError> {
        use crate::mountfd::attr;
        let t = target.to_string_lossy();
        check_inner("mount target", &t)?;
        if o.size_bytes == Some(0) {
            return Err(SpawnError::invalid(format!(
                "tmpfs {t}: size 0 would be no limit at all to the kernel; \
                 leave the size unset for the kernel's default (half of RAM)"
            )));
        }
        if o.mode > 0o7777 {
            return Err(SpawnError::invalid(format!(
                "tmpfs {t}: mode {:#o} has bits beyond 0o7777",
                o.mode
            )));
        }
        let mut options = vec![(
            c"mode".into(),
            Some(cstr("mode", &format!("{:o}", o.mode))?),
        )];
        for (key, value) in [
            (c"size", o.size_bytes),
            (c"uid", o.uid.map(u64::from)),
            (c"gid", o.gid.map(u64::from)),
        ] {
            let Some(value) = value else { continue };
            if value == u64::from(u32::MAX) && key != c"size" {
                return Err(SpawnError::invalid(format!(
                    "tmpfs {t}: {} {value} is the kernel's \"no id\"",
                    key.to_string_lossy()
                )));
            }
            options.push((key.into(), Some(cstr("tmpfs option", &value.to_string())?)));
        }
        let mut attrs = 0;
        for (on, bit) in [
            (o.noexec, attr::NOEXEC),
            (o.nosuid, attr::NOSUID),
            (o.nodev, attr::NODEV),
            (o.readonly, attr::RDONLY),
        ] {
            if on {
                attrs |= bit;
            }
        }
        ops.push(PlannedOp {
            op: Op::Fs {
                fstype: c"tmpfs".into(),
                options,
                attrs,
                target: cpath(target)?,
            },
            step: Step::Mount,
            detail: format!("tmpfs {t}"),
        });
        Ok(())
    }

    /// Create mode: the child waits on `start_rd` before execve and keeps
    /// `start_wr` and `report_rd` open (close-on-exec) for a detached
    /// starter.
    pub(crate) fn gate(&mut self, start_rd: RawFd, start_wr: RawFd, report_rd: RawFd) {
        self.start_fd = start_rd;
        self.keep_fds.extend([start_rd, start_wr, report_rd]);
        self.keep_fds.sort_unstable();
        self.keep_fds.dedup();
    }

    /// A terminal (see pty.rs): the child keeps `sock` until it has sent
    /// the master on it.
    /// A Notify profile: the child sends the listener on `sock`.
    pub(crate) fn add_notify(&mut self, sock: RawFd) {
        self.notify_sock = sock;
        self.keep_fds.push(sock);
        self.keep_fds.sort_unstable();
        self.keep_fds.dedup();
    }

    /// The v1 `tasks` files the child joins itself through (call before
    /// [`add_idmap`](Self::add_idmap), which numbers slots above every
    /// kept fd).
    pub(crate) fn add_cgroup_join(&mut self, files: &[(std::path::PathBuf, std::os::fd::OwnedFd)]) {
        use std::os::fd::AsRawFd;
        for (path, fd) in files {
            self.keep_fds.push(fd.as_raw_fd());
            self.cgroup_join
                .push((fd.as_raw_fd(), path.display().to_string()));
        }
        self.keep_fds.sort_unstable();
        self.keep_fds.dedup();
    }

    pub(crate) fn add_terminal(&mut self, sock: RawFd, rows: u16, cols: u16) {
        self.terminal = Some((sock, rows, cols));
        self.keep_fds.push(sock);
        self.keep_fds.sort_unstable();
        self.keep_fds.dedup();
    }

    /// A program without a `/`: the `PATH` candidates the child tries
    /// (see [`crate::attrs::candidates`]); argv\[4\] (palisade-init's
    /// PATH) names each in its own argv copy, argv\[5\] stays the name.
    pub(crate) fn search_path(&mut self, c: &Container) -> Result<(), SpawnError> {
        if c.program.contains('/') {
            return Ok(());
        }
        for cand in crate::attrs::candidates(&c.program, &c.env) {
            self.exec_paths.push(crate::attrs::ccand(&cand)?);
        }
        for p in &self.exec_paths {
            let mut argv = self.argv_ptrs.clone();
            argv[4] = p.as_ptr();
            self.exec_argvs.push(argv);
        }
        Ok(())
    }

    /// Idmapped binds, if any: the child keeps `sock` (our socketpair's
    /// other end) and puts the i-th tree at slot i, numbered above every
    /// fd it keeps plus their count (the received fds take the lowest free
    /// numbers, so they are all below the slots). Call after every other
    /// `add_*`. Returns whether there are any.
    pub(crate) fn idmap_count(&self) -> usize {
        self.ops
            .iter()
            .filter(|o| matches!(o.op, Op::BindFd { .. }))
            .count()
    }

    /// See [`Plan::idmap_count`].
    pub(crate) fn add_idmap(&mut self, sock: RawFd) {
        self.keep_fds.push(sock);
        self.keep_fds.sort_unstable();
        self.keep_fds.dedup();
        self.idmap_sock = sock;
        let n = self.idmap_count() as RawFd;
        let base = self.keep_fds.last().copied().unwrap_or(2) + 1 + n;
        for planned in &mut self.ops {
            if let Op::BindFd {
                source,
                recursive,
                attrs,
                slot,
                ..
            } = &mut planned.op
            {
                *slot = base + self.idmap_slots.len() as RawFd;
                self.idmap_slots.push(*slot);
                self.idmaps.push(crate::idmap::Source {
                    source: source.clone(),
                    recursive: *recursive,
                    attrs: *attrs,
                    detail: planned.detail.clone(),
                });
            }
        }
    }

    /// Passed fds (source, number), sources above every number.
    pub(crate) fn add_pass_fds(&mut self, pairs: Vec<(RawFd, i32)>) {
        self.keep_fds.extend(pairs.iter().map(|p| p.0));
        self.keep_fds.sort_unstable();
        self.keep_fds.dedup();
        self.final_keep.extend(pairs.iter().map(|p| p.1));
        self.final_keep.sort_unstable();
        self.final_keep.dedup();
        self.pass_fds = pairs;
    }

    /// The text for a failure record's (step, index).
    pub(crate) fn detail(&self, step: Step, index: u32) -> String {
        let i = index as usize;
        let from_ops = || {
            self.ops
                .get(i)
                .map(|o| o.detail.clone())
                .unwrap_or_default()
        };
        match step {
            Step::MountProc | Step::MountDev | Step::MountSys | Step::Mount => from_ops(),
            Step::MountRootfs => self
                .rootfs
                .as_ref()
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Step::MaskPath if index == u32::MAX => {
                "the host's /dev/null (the mask; must be the null device 1:3)".into()
            }
            Step::MaskPath => self
                .masked
                .get(i)
                .map(|p| p.detail.clone())
                .unwrap_or_default(),
            Step::ReadonlyPath if index == u32::MAX => {
                "read-only root (MOUNT_ATTR_RDONLY on / after pivot_root)".into()
            }
            Step::ReadonlyPath => self
                .readonly
                .get(i)
                .map(|p| p.detail.clone())
                .unwrap_or_default(),
            Step::Cgroup => self
                .cgroup_join
                .get(i)
                .map(|j| format!("joining the cgroup: writing 0 to {}", j.1))
                .unwrap_or_default(),
            Step::Sysctl => self.sysctls.get(i).map(|s| s.2.clone()).unwrap_or_default(),
            Step::JoinNamespace if i == (u32::MAX >> 1) as usize => {
                "unshare cgroup namespace".into()
            }
            Step::JoinNamespace if i == (u32::MAX >> 2) as usize => {
                "entering the pid namespace and forking in it".into()
            }
            Step::JoinNamespace => self.joins.get(i).map(|j| j.2.clone()).unwrap_or_default(),
            Step::Rlimit if index == RLIMIT_OOM => "writing /proc/self/oom_score_adj".into(),
            Step::Rlimit if index == RLIMIT_KEYRING => {
                "joining a new session keyring (KEYCTL_JOIN_SESSION_KEYRING)".into()
            }
            Step::Rlimit => self
                .rlimits
                .get(i)
                .map(|r| {
                    format!(
                        "resource {} soft {} hard {}",
                        r.0, r.1.rlim_cur, r.1.rlim_max
                    )
                })
                .unwrap_or_default(),
            Step::Exec if index == 1 => "personality(2)".into(),
            Step::PivotRoot if index == 1 => "making the new root shared (MS_SHARED)".into(),
            Step::PivotRoot if crate::nopivot::detail(index).is_some() => {
                crate::nopivot::detail(index).unwrap_or_default().into()
            }
            Step::Exec if !self.exec_paths.is_empty() => format!(
                "execve {} (searched PATH: {})",
                self.program.to_string_lossy(),
                self.exec_paths
                    .iter()
                    .map(|p| p.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Step::Exec => format!("execve {}", self.program.to_string_lossy()),
            Step::Stdio => match index {
                0..=2 => format!("stream {index} (dup2)"),
                STDIO_TERMINAL..STDIO_PASSED => {
                    crate::pty::child::detail(index - STDIO_TERMINAL).to_owned()
                }
                _ => self
                    .pass_fds
                    .get((index - STDIO_PASSED) as usize)
                    .map(|p| format!("passing fd as {} (dup3)", p.1))
                    .unwrap_or_default(),
            },
            Step::Cwd => format!("chdir {}", self.cwd.to_string_lossy()),
            Step::Hostname => format!(
                "sethostname {}",
                self.hostname
                    .as_ref()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            Step::Capabilities => format!("capability step {index}"),
            Step::PivotRoot => format!(
                "pivot_root into {}",
                self.rootfs
                    .as_ref()
                    .map(|r| r.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            _ => String::new(),
        }
    }
}
