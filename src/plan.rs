//! Everything the child needs, prepared in the parent: C strings, pointer
//! arrays, mount operations and the text of each operation for errors. The
//! child only reads this (its copy of the parent's memory) and makes raw
//! system calls.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::path::{Component, Path, PathBuf};

use palisade_caps::{CapState, IdSwitch, PreparedCaps};
use palisade_ns::NsKind;

use crate::config::{Container, Mount};
use crate::{SpawnError, Step};

/// One filesystem operation before `pivot_root`.
pub(crate) enum Op {
    /// `mkdir(path, 0755)`, EEXIST ignored.
    Mkdir(CString),
    /// Create an empty file (mount point for a file bind), EEXIST ignored.
    Touch(CString),
    /// `symlink(target, link)`, EEXIST ignored.
    Symlink(CString, CString),
    /// `mount(source, target, fstype, flags, data)`.
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
    },
}

/// An [`Op`] with the step it belongs to and what to report if it fails.
pub(crate) struct PlannedOp {
    pub op: Op,
    pub step: Step,
    pub detail: String,
}

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
    pub init: bool,
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
    /// Parent ends of pipes, closed first thing in the child.
    pub close_in_child: Vec<RawFd>,
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

/// `rootfs` + container path.
fn under(rootfs: &Path, inner: &Path) -> PathBuf {
    rootfs.join(inner.strip_prefix("/").unwrap_or(inner))
}

impl Plan {
    pub(crate) fn build(
        c: &Container,
        rootfs: Option<&Path>,
        stdio: [RawFd; 3],
        sync_fd: RawFd,
        err_fd: RawFd,
        close_in_child: Vec<RawFd>,
    ) -> Result<Plan, SpawnError> {
        let program = cstr("program", &c.program)?;
        let mut argv = vec![program.clone()];
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
        if let Some(root) = rootfs {
            let root_c = cpath(root)?;
            ops.push(PlannedOp {
                op: Op::Mount {
                    source: Some(root_c.clone()),
                    target: root_c,
                    fstype: None,
                    flags: libc::MS_BIND | libc::MS_REC,
                    data: None,
                },
                step: Step::MountRootfs,
                detail: root.display().to_string(),
            });
            Self::plan_proc_dev_sys(c, root, &mut ops)?;
            for (i, m) in c.mounts.iter().enumerate() {
                Self::plan_mount(root, m, i, &mut ops)?;
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
                groups: c.groups.clone(),
            });
        }
        let joins = c
            .joins
            .iter()
            .map(|ns| {
                use std::os::fd::{AsFd, AsRawFd};
                (
                    ns.as_fd().as_raw_fd(),
                    ns.kind().clone_flag(),
                    format!("{} namespace", ns.kind()),
                )
            })
            .collect();
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
            init: c.init || c.time_offsets.is_some(),
            become_ns_root: c.has_new(NsKind::User),
            unshare_cgroup: c.has_new(NsKind::Cgroup) && c.cgroup.is_some(),
            parent_death_signal: if c.time_offsets.is_some() {
                None
            } else {
                c.parent_death_signal
            },
            sync_fd,
            err_fd,
            close_in_child,
        })
    }

    fn plan_proc_dev_sys(
        c: &Container,
        root: &Path,
        ops: &mut Vec<PlannedOp>,
    ) -> Result<(), SpawnError> {
        let mut push = |op, step, detail: &str| {
            ops.push(PlannedOp {
                op,
                step,
                detail: detail.to_owned(),
            })
        };
        let nodev = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        let proc_dir = under(root, Path::new("/proc"));
        push(Op::Mkdir(cpath(&proc_dir)?), Step::MountProc, "/proc");
        push(
            Op::Mount {
                source: Some(c"proc".into()),
                target: cpath(&proc_dir)?,
                fstype: Some(c"proc".into()),
                flags: nodev,
                data: None,
            },
            Step::MountProc,
            "/proc",
        );
        if c.dev {
            let dev = under(root, Path::new("/dev"));
            push(Op::Mkdir(cpath(&dev)?), Step::MountDev, "/dev");
            push(
                Op::Mount {
                    source: Some(c"tmpfs".into()),
                    target: cpath(&dev)?,
                    fstype: Some(c"tmpfs".into()),
                    flags: libc::MS_NOSUID | libc::MS_STRICTATIME,
                    data: Some(c"mode=755,size=65536k".into()),
                },
                Step::MountDev,
                "/dev",
            );
            for node in ["null", "zero", "full", "random", "urandom", "tty"] {
                let target = dev.join(node);
                let detail = format!("/dev/{node}");
                push(Op::Touch(cpath(&target)?), Step::MountDev, &detail);
                push(
                    Op::Mount {
                        source: Some(cstr("device", &detail)?),
                        target: cpath(&target)?,
                        fstype: None,
                        flags: libc::MS_BIND,
                        data: None,
                    },
                    Step::MountDev,
                    &detail,
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
                    Op::Symlink(cstr("link", to)?, cpath(&dev.join(link))?),
                    Step::MountDev,
                    &format!("/dev/{link}"),
                );
            }
            for (dir, fstype, data, flags) in [
                (
                    "pts",
                    c"devpts",
                    c"newinstance,ptmxmode=0666,mode=0620",
                    libc::MS_NOSUID | libc::MS_NOEXEC,
                ),
                ("shm", c"tmpfs", c"mode=1777,size=65536k", nodev),
                ("mqueue", c"mqueue", c"", nodev),
            ] {
                let target = dev.join(dir);
                let detail = format!("/dev/{dir}");
                push(Op::Mkdir(cpath(&target)?), Step::MountDev, &detail);
                // mqueue needs a new ipc namespace to be private.
                if dir == "mqueue" && !c.has_new(NsKind::Ipc) {
                    continue;
                }
                push(
                    Op::Mount {
                        source: Some(fstype.into()),
                        target: cpath(&target)?,
                        fstype: Some(fstype.into()),
                        flags,
                        data: (!data.is_empty()).then(|| data.into()),
                    },
                    Step::MountDev,
                    &detail,
                );
            }
        }
        if c.sys {
            let sys = under(root, Path::new("/sys"));
            push(Op::Mkdir(cpath(&sys)?), Step::MountSys, "/sys");
            if c.has_new(NsKind::Net) {
                push(
                    Op::Mount {
                        source: Some(c"sysfs".into()),
                        target: cpath(&sys)?,
                        fstype: Some(c"sysfs".into()),
                        flags: nodev | libc::MS_RDONLY,
                        data: None,
                    },
                    Step::MountSys,
                    "/sys",
                );
            } else {
                // sysfs of the host's network namespace: bind it read-only.
                push(
                    Op::Mount {
                        source: Some(c"/sys".into()),
                        target: cpath(&sys)?,
                        fstype: None,
                        flags: libc::MS_BIND | libc::MS_REC,
                        data: None,
                    },
                    Step::MountSys,
                    "/sys",
                );
                push(
                    Op::Mount {
                        source: None,
                        target: cpath(&sys)?,
                        fstype: None,
                        flags: libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | nodev,
                        data: None,
                    },
                    Step::MountSys,
                    "/sys",
                );
            }
        }
        Ok(())
    }

    fn plan_mount(
        root: &Path,
        m: &Mount,
        i: usize,
        ops: &mut Vec<PlannedOp>,
    ) -> Result<(), SpawnError> {
        let _ = i;
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
                let host_target = cpath(&under(root, target))?;
                let detail = format!("{} -> {t}", source.display());
                let mk = if meta.is_dir() {
                    Op::Mkdir(host_target.clone())
                } else {
                    Op::Touch(host_target.clone())
                };
                ops.push(PlannedOp {
                    op: mk,
                    step: Step::Mount,
                    detail: detail.clone(),
                });
                ops.push(PlannedOp {
                    op: Op::Mount {
                        source: Some(cpath(source)?),
                        target: host_target.clone(),
                        fstype: None,
                        flags: libc::MS_BIND | libc::MS_REC,
                        data: None,
                    },
                    step: Step::Mount,
                    detail: detail.clone(),
                });
                if *readonly {
                    ops.push(PlannedOp {
                        op: Op::Mount {
                            source: None,
                            target: host_target,
                            fstype: None,
                            flags: libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                            data: None,
                        },
                        step: Step::Mount,
                        detail,
                    });
                }
            }
            Mount::Tmpfs { target, size_bytes } => {
                let t = target.to_string_lossy();
                check_inner("mount target", &t)?;
                let host_target = cpath(&under(root, target))?;
                ops.push(PlannedOp {
                    op: Op::Mkdir(host_target.clone()),
                    step: Step::Mount,
                    detail: format!("tmpfs {t}"),
                });
                ops.push(PlannedOp {
                    op: Op::Mount {
                        source: Some(c"tmpfs".into()),
                        target: host_target,
                        fstype: Some(c"tmpfs".into()),
                        flags: libc::MS_NOSUID | libc::MS_NODEV,
                        data: Some(cstr("tmpfs size", &format!("size={size_bytes},mode=1777"))?),
                    },
                    step: Step::Mount,
                    detail: format!("tmpfs {t}"),
                });
            }
        }
        Ok(())
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
            Step::MountRootfs | Step::MountProc | Step::MountDev | Step::MountSys | Step::Mount => {
                from_ops()
            }
            Step::MaskPath => self
                .masked
                .get(i)
                .map(|p| p.detail.clone())
                .unwrap_or_default(),
            Step::ReadonlyPath => self
                .readonly
                .get(i)
                .map(|p| p.detail.clone())
                .unwrap_or_default(),
            Step::Sysctl => self.sysctls.get(i).map(|s| s.2.clone()).unwrap_or_default(),
            Step::JoinNamespace if i == (u32::MAX >> 1) as usize => {
                "unshare cgroup namespace".into()
            }
            Step::JoinNamespace => self.joins.get(i).map(|j| j.2.clone()).unwrap_or_default(),
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
            Step::Exec => format!("execve {}", self.program.to_string_lossy()),
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
