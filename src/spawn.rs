//! The parent's side of the spawn pipeline, and the running container.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::errno::Errno;
use palisade_cgroup::{Cgroup, DeviceRule, Resources, Stats};
use palisade_ns::{
    Clone3, CloneResult, ExitStatus, IdMaps, Namespace, NsKind, NsKinds, PidFd, SetGroups,
};

use crate::HookPoint;
use crate::child::{self, RECORD_LEN};
use crate::config::{Container, Device, Network, Rootfs, Stdio};
use crate::hooks::AnyHook;
use crate::net::HostNetwork;
use crate::plan::{Plan, check_inner};
use crate::rootfs::MountedRootfs;
use crate::state::ContainerState;
use crate::{Error, SpawnError, Step};

fn pipe() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 into a local array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(SpawnError::new(Step::Prepare, Some(Errno::last()), "pipe2"));
    }
    // SAFETY: fresh fds owned here.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// What the pipeline created on the host; undone on failure, and by the
/// `Child` after exit.
#[derive(Debug, Default)]
struct HostState {
    cgroup: Option<Cgroup>,
    rootfs: Option<MountedRootfs>,
    network: Option<HostNetwork>,
}

impl HostState {
    /// Removes everything, in reverse order of creation. Returns the errors.
    fn undo(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(net) = self.network.take() {
            if let Err(e) = net.remove() {
                errors.push(e.to_string());
            }
        }
        if let Some(rootfs) = self.rootfs.take() {
            if let Err(e) = rootfs.unmount() {
                errors.push(e.to_string());
            }
        }
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.delete() {
                errors.push(e.to_string());
            }
        }
        errors
    }
}

impl Container {
    /// Rootless mode: a user namespace mapping the caller to root unless
    /// the caller gave maps; refuses what needs host root, before anything
    /// is created.
    fn make_rootless(&mut self) -> Result<(), SpawnError> {
        let refuse = |what: &str| {
            Err(SpawnError::invalid(format!(
                "rootless mode: {what} needs root on the host"
            )))
        };
        if matches!(self.network, Network::Veth(_) | Network::Macvlan(_)) {
            return refuse("veth/macvlan networking (CAP_NET_ADMIN)");
        }
        if matches!(self.rootfs, Some(Rootfs::Overlay { .. })) {
            return refuse("an overlay root filesystem mounted by the host");
        }
        if !self.groups.is_empty() {
            return refuse("groups() (setgroups is denied in its user namespace)");
        }
        if self.id_maps.is_none() && !self.joins.iter().any(|n| n.kind() == NsKind::User) {
            if let Some((uid, gid)) = self.user.filter(|&(u, g)| u != 0 || g != 0) {
                return Err(SpawnError::invalid(format!(
                    "user({uid}, {gid}): rootless mode maps only your own uid (to 0): running \
                     as another user needs user_namespace() maps (e.g. from /etc/subuid via \
                     newuidmap)"
                )));
            }
            // SAFETY: geteuid/getegid have no preconditions.
            let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
            self.namespaces |= NsKinds::USER;
            self.id_maps = Some((IdMaps::single(0, uid), IdMaps::single(0, gid)));
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), SpawnError> {
        // A name without `/` is looked up in the container's PATH.
        if self.program.contains('/') || self.program.is_empty() {
            check_inner("program", &self.program)?;
        }
        crate::passfd::validate(self)?;
        crate::attrs::validate(self)?;
        crate::plan::check_early(self)?;
        check_inner("working directory", &self.cwd)?;
        for (k, _) in &self.env {
            if k.is_empty() || k.contains('=') {
                return Err(SpawnError::invalid(format!(
                    "invalid environment variable name {k:?}"
                )));
            }
        }
        let uts = self.has_new(NsKind::Uts) || self.joins.iter().any(|n| n.kind() == NsKind::Uts);
        if (self.hostname.is_some() || self.domainname.is_some()) && !uts {
            return Err(SpawnError::invalid(
                "a hostname or domainname needs a new uts namespace (it would change the host's)",
            ));
        }
        for name in self.hostname.iter().chain(&self.domainname) {
            if name.is_empty() || name.len() > 64 {
                return Err(SpawnError::invalid(format!(
                    "hostname {name:?} must be 1..=64 bytes"
                )));
            }
        }
        let has_mnt = self.has_new(NsKind::Mnt);
        if self.rootfs.is_some() && !has_mnt {
            return Err(SpawnError::invalid("a rootfs needs a new mount namespace"));
        }
        if self.rootfs.is_none() && !self.mounts.is_empty() {
            return Err(SpawnError::invalid("extra mounts need a rootfs"));
        }
        if let Some(Rootfs::Dir(dir)) = &self.rootfs {
            let meta = std::fs::metadata(dir).map_err(|e| {
                SpawnError::new(
                    Step::Validate,
                    e.raw_os_error().map(Errno::from_raw),
                    format!("rootfs {}", dir.display()),
                )
            })?;
            if !meta.is_dir() {
                return Err(SpawnError::new(
                    Step::Validate,
                    Some(Errno::ENOTDIR),
                    format!("rootfs {}", dir.display()),
                ));
            }
        }
        for (key, _) in &self.sysctls {
            // Each key must belong to a namespace the container has of its
            // own, or the write lands on the host's (runc's rule).
            let ipc = [
                "kernel.msgmax",
                "kernel.msgmnb",
                "kernel.msgmni",
                "kernel.sem",
                "kernel.shmall",
                "kernel.shmmax",
                "kernel.shmmni",
                "kernel.shm_rmid_forced",
            ];
            let (ok, needs) = if key.starts_with("net.") {
                (self.has_new(NsKind::Net), "a new net namespace")
            } else if ipc.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
                (self.has_new(NsKind::Ipc), "a new ipc namespace")
            } else {
                (
                    false,
                    "a namespace: it is not a namespaced sysctl (use hostname() for kernel.hostname)",
                )
            };
            if !ok {
                return Err(SpawnError::invalid(format!(
                    "sysctl {key:?} needs {needs}; otherwise it would change the host's"
                )));
            }
        }
        if matches!(
            self.network,
            Network::Veth(_) | Network::Macvlan(_) | Network::None
        ) && !self.has_new(NsKind::Net)
        {
            return Err(SpawnError::invalid(
                "network none/veth/macvlan needs a new net namespace",
            ));
        }
        if matches!(self.network, Network::Host) && self.has_new(NsKind::Net) {
            return Err(SpawnError::invalid(
                "network host contradicts a new net namespace (remove NET from namespaces)",
            ));
        }
        match &self.network {
            Network::Veth(v) => crate::net::validate(v)?,
            Network::Macvlan(m) => crate::net::validate_macvlan(m)?,
            _ => {}
        }
        if self.id_maps.is_none() && self.has_new(NsKind::User) {
            return Err(SpawnError::invalid("a new user namespace needs id maps"));
        }
        if let Some((uids, gids)) = &self.id_maps {
            // IdMaps::single skips the checks IdMaps::new makes.
            for (what, maps) in [("uid map", uids), ("gid map", gids)] {
                IdMaps::new(maps.lines().to_vec())
                    .map_err(|e| SpawnError::invalid(format!("{what}: {e}")))?;
            }
        }
        for d in &self.devices {
            let what = format!("device {} {}:{}", d.path.display(), d.major, d.minor);
            check_inner("device path", &d.path.to_string_lossy())?;
            if d.kind == palisade_cgroup::DeviceType::All {
                return Err(SpawnError::invalid(format!(
                    "{what}: type must be char or block"
                )));
            }
            if d.major > palisade_cgroup::devices::MAX_MAJOR
                || d.minor > palisade_cgroup::devices::MAX_MINOR
            {
                return Err(SpawnError::invalid(format!(
                    "{what}: major must be 0..=4095 and minor 0..=1048575"
                )));
            }
            if d.file_mode > 0o7777 {
                return Err(SpawnError::invalid(format!(
                    "{what}: file mode {:#o} has bits beyond 0o7777",
                    d.file_mode
                )));
            }
        }
        if self.rootfs.is_none() && !self.devices.is_empty() {
            return Err(SpawnError::invalid("device nodes need a rootfs"));
        }
        for r in &self.device_rules {
            r.validate()
                .map_err(|e| SpawnError::from_lib(Step::Validate, e, None))?;
        }
        Ok(())
    }

    /// The device rules in force: the container's, then its devices', then
    /// those of its cgroup's resources.
    fn effective_device_rules(&self, resources: Option<&Resources>) -> Vec<DeviceRule> {
        let mut rules = self.device_rules.clone();
        rules.extend(self.devices.iter().map(Device::allow_rule));
        if let Some(r) = resources {
            rules.extend(r.devices.iter().copied());
        }
        rules
    }

    /// The cgroup to make: the caller's, with the device rules, or one
    /// just for the rules (unless they allow everything, or a user
    /// namespace makes a cgroup impossible and `mknod` refused anyway).
    fn cgroup_plan(&self) -> Option<(String, Resources)> {
        if let Some((path, resources)) = &self.cgroup {
            let mut r = resources.clone();
            r.devices = self.effective_device_rules(Some(resources));
            return Some((path.clone(), r));
        }
        let rules = self.effective_device_rules(None);
        let in_userns = self.has_new(NsKind::User)
            || self.joins.iter().any(|n| n.kind() == NsKind::User)
            || self.rootless;
        if rules.is_empty() || rules == [DeviceRule::allow_all()] || in_userns {
            return None;
        }
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!(
            "palisade-dev-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        Some((name, Resources::new().devices(rules)))
    }

    /// Starts the container. Every failure names its step and leaves
    /// nothing behind on the host.
    pub fn spawn(self) -> Result<Child, SpawnError> {
        // startContainer hooks run between a create and a start.
        let gated = self
            .hooks
            .iter()
            .any(|(p, _)| *p == HookPoint::StartContainer);
        match self.launch(gated)? {
            (child, Some(gate)) => Created { child, gate }.start(),
            (mut child, None) => {
                let failures = child.run_hooks(HookPoint::Poststart, "running");
                child.hook_failures.extend(failures);
                Ok(child)
            }
        }
    }

    fn hook_id(&self) -> String {
        self.id
            .clone()
            .unwrap_or_else(|| format!("palisade-{}", std::process::id()))
    }

    /// prestart, createRuntime on the host; createContainer in the
    /// child's mount namespace (before pivot_root).
    fn run_create_hooks(&self, pid: i32) -> Result<(), SpawnError> {
        let state = crate::hooks::state_json(
            &self.hook_id(),
            "creating",
            pid,
            self.bundle.as_deref().unwrap_or_default(),
        );
        let mut failures = crate::hooks::run_point(&self.hooks, HookPoint::Prestart, &state, None);
        if failures.is_empty() {
            failures = crate::hooks::run_point(&self.hooks, HookPoint::CreateRuntime, &state, None);
        }
        if failures.is_empty() {
            let mnt = File::open(format!("/proc/{pid}/ns/mnt")).map_err(|e| {
                SpawnError::new(
                    Step::Hook,
                    e.raw_os_error().map(Errno::from_raw),
                    "the container's mount namespace",
                )
            })?;
            let fd = mnt.as_raw_fd();
            let enter = move || -> crate::hooks::PreExec {
                Box::new(move || {
                    // SAFETY: setns on an fd the hook process inherited.
                    if unsafe { libc::setns(fd, libc::CLONE_NEWNS) } != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                })
            };
            failures = crate::hooks::run_point(
                &self.hooks,
                HookPoint::CreateContainer,
                &state,
                Some(&enter),
            );
            drop(mnt);
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(SpawnError::new(Step::Hook, None, failures.join("; ")))
        }
    }

    /// Creates the container without starting its program (the OCI
    /// runtime's `create`): namespaces, cgroup, rootfs and mounts, network
    /// and id maps are all in place, and the first process waits just
    /// before `execve`, blocked reading a pipe (no busy wait; every fd of
    /// it closes at exec). [`Created::start`] releases it. The container
    /// is built from this `Container`, consumed here: nothing changed
    /// later reaches it.
    ///
    /// ```no_run
    /// let created = palisade::Container::new("/bin/echo")
    ///     .args(["hello"])
    ///     .rootfs("/srv/busybox")
    ///     .create()?;
    /// println!("created as pid {}", created.pid());
    /// let mut child = created.start()?; // an execve failure is reported here
    /// child.wait()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(self) -> Result<Created, SpawnError> {
        let (child, gate) = self.launch(true)?;
        Ok(Created {
            child,
            gate: gate.expect("create mode returns its gate"),
        })
    }

    fn launch(mut self, create: bool) -> Result<(Child, Option<Gate>), SpawnError> {
        if matches!(self.network, Network::Join(_)) {
            if let Network::Join(ns) = std::mem::replace(&mut self.network, Network::Host) {
                self.joins.push(ns);
            }
        }
        for (pid, kinds) in std::mem::take(&mut self.join_pids) {
            for kind in kinds.kinds() {
                let ns = Namespace::of_pid(pid, kind).map_err(|e| {
                    let errno = e.errno();
                    SpawnError::new(
                        Step::JoinNamespace,
                        errno,
                        format!("{kind:?} namespace of pid {pid}: {e}"),
                    )
                })?;
                self.joins.push(ns);
            }
        }
        if self.rootless {
            self.make_rootless()?;
        }
        self.validate()?;
        let mut host = HostState::default();
        match self.spawn_with(&mut host, create) {
            Ok(done) => Ok(done),
            Err(mut e) => {
                let errors = host.undo();
                if !errors.is_empty() {
                    e.cleanup = Some(errors.join("; "));
                }
                Err(e)
            }
        }
    }

    fn spawn_with(
        &self,
        host: &mut HostState,
        create: bool,
    ) -> Result<(Child, Option<Gate>), SpawnError> {
        // With the systemd driver the scope is made around the child's pid
        // after the clone (systemd will not start an empty scope).
        let mut by_systemd = None;
        let planned = self.cgroup_plan();
        if let Some((path, resources)) = &planned {
            if self.cgroup_manager == palisade_cgroup::CgroupManager::Systemd
                && self.cgroup.is_some()
            {
                by_systemd = Some((path.clone(), resources.clone()));
            }
        }
        if let Some((path, resources)) = planned.as_ref().filter(|_| by_systemd.is_none()) {
            // palisade's own device group has a name unique to this
            // process and call: it cannot hold anything yet.
            if self.cgroup.is_some() {
                refuse_occupied_cgroup(path)?;
            }
            let made = if self.cgroup_all_controllers && self.cgroup.is_some() {
                Cgroup::create(path)
            } else {
                Cgroup::create_for(path, resources)
            };
            let cg = made.map_err(|e| {
                let errno = e.errno();
                SpawnError::from_lib(Step::Cgroup, e, errno)
            })?;
            host.cgroup = Some(cg);
            let cg = host.cgroup.as_ref().expect("just set");
            cg.apply(resources).map_err(|e| {
                let errno = e.errno();
                SpawnError::from_lib(Step::Cgroup, e, errno)
            })?;
        }
        let rootfs_dir: Option<PathBuf> = match &self.rootfs {
            None => None,
            Some(Rootfs::Dir(d)) => Some(d.clone()),
            Some(Rootfs::Overlay {
                lowers,
                upper,
                work,
            }) => {
                let mounted = MountedRootfs::overlay(lowers, upper, work)?;
                let dir = mounted.path().to_owned();
                host.rootfs = Some(mounted);
                Some(dir)
            }
        };

        let (sync_rd, sync_wr) = pipe()?;
        let (err_rd, err_wr) = pipe()?;
        let (start_rd, start_wr) = if create {
            let (r, w) = pipe()?;
            (Some(r), Some(File::from(w)))
        } else {
            (None, None)
        };
        // Read-write: Stdio::Null on stdout/stderr takes the program's
        // writes (a read-only /dev/null fails them with EBADF).
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(|e| {
                SpawnError::new(
                    Step::Prepare,
                    e.raw_os_error().map(Errno::from_raw),
                    "/dev/null",
                )
            })?;
        let mut parent_ends: [Option<File>; 3] = [None, None, None];
        let mut child_ends: Vec<OwnedFd> = Vec::new();
        let mut stdio_fds = [-1 as RawFd; 3];
        for (i, s) in self.stdio.iter().enumerate() {
            match s {
                Stdio::Inherit => {}
                Stdio::Null => stdio_fds[i] = null.as_raw_fd(),
                Stdio::Piped => {
                    let (rd, wr) = pipe()?;
                    let (ours, theirs) = if i == 0 { (wr, rd) } else { (rd, wr) };
                    stdio_fds[i] = theirs.as_raw_fd();
                    parent_ends[i] = Some(File::from(ours));
                    child_ends.push(theirs);
                }
                Stdio::Fd(fd) => stdio_fds[i] = fd.as_raw_fd(),
            }
        }
        let init_fd = crate::trampoline::memfd()?;
        // Passed fds: the error pipe, the init image and every source go
        // above the highest passed number (see passfd.rs).
        let floor = crate::passfd::floor(self);
        let err_wr = crate::passfd::above(err_wr, floor)?;
        let init_moved = crate::passfd::dup_above(init_fd, floor)?;
        let init_fd = init_moved.as_ref().map_or(init_fd, |f| f.as_fd());
        let (pass_pairs, pass_held) = crate::passfd::sources(self, floor)?;
        // A terminal: the master comes back on a socketpair; a console
        // socket is connected now, before the container exists.
        let console = match (&self.terminal, &self.console_socket) {
            (Some(_), Some(path)) => Some(crate::pty::connect_console(path).map_err(|e| {
                SpawnError::new(
                    Step::Prepare,
                    e.raw_os_error().map(Errno::from_raw),
                    format!("console socket {}", path.display()),
                )
            })?),
            _ => None,
        };
        let term_pair = match self.terminal {
            Some(_) => Some(socketpair()?),
            None => None,
        };
        let mut plan = Plan::build(
            self,
            rootfs_dir.as_deref(),
            stdio_fds,
            sync_rd.as_raw_fd(),
            err_wr.as_raw_fd(),
            init_fd.as_raw_fd(),
        )?;
        if let (Some(rd), Some(wr)) = (&start_rd, &start_wr) {
            // The waiting child keeps both start-pipe ends and the read end
            // of its report, close-on-exec: a detached starter in another
            // process takes them with pidfd_getfd.
            plan.gate(rd.as_raw_fd(), wr.as_raw_fd(), err_rd.as_raw_fd());
        }
        if let (Some((rows, cols)), Some((_, theirs))) = (self.terminal, &term_pair) {
            plan.add_terminal(theirs.as_raw_fd(), rows, cols);
        }
        // An exec joins the container's cgroup; a spawn uses its own.
        let cgroup = self.exec_cgroup.as_ref().or(host.cgroup.as_ref());
        // Its v1 hierarchies the child joins itself (fast, see child.rs).
        let tasks_fds = match cgroup {
            Some(cg) => cg.tasks_fds_v1().map_err(|e| {
                let errno = e.errno();
                SpawnError::from_lib(Step::Cgroup, e, errno)
            })?,
            None => Vec::new(),
        };
        plan.add_cgroup_join(&tasks_fds);
        plan.add_pass_fds(pass_pairs);
        plan.search_path(self)?;
        // A profile with Notify: the listener comes back on a socketpair.
        let notify_pair = if plan
            .seccomp
            .as_ref()
            .is_some_and(|(f, _)| f.wants_listener())
        {
            let (ours, theirs) = socketpair()?;
            plan.add_notify(theirs.as_raw_fd());
            Some((ours, theirs))
        } else {
            None
        };
        let idmap_pair = if plan.idmap_count() > 0 {
            let (ours, theirs) = socketpair()?;
            plan.add_idmap(theirs.as_raw_fd());
            Some((ours, theirs))
        } else {
            None
        };
        // A cgroup made for device rules counts too.
        plan.unshare_cgroup =
            self.has_new(NsKind::Cgroup) && (host.cgroup.is_some() || by_systemd.is_some());

        let cgroup_fd = match cgroup {
            Some(cg) if cg.v2_dir().is_some() => Some(cg.dirfd().map_err(|e| {
                let errno = e.errno();
                SpawnError::from_lib(Step::Cgroup, e, errno)
            })?),
            _ => None,
        };
        let mut namespaces = self.namespaces;
        if plan.unshare_cgroup {
            namespaces.remove(NsKind::Cgroup.into());
        }
        let mut clone = Clone3::new().namespaces(namespaces).pidfd(true);
        if let Some(fd) = &cgroup_fd {
            clone = clone.into_cgroup(fd.as_fd());
        }
        // A joined pid namespace is entered by the child itself, which
        // forks the process that stays (see child::join_pid_namespace).
        let cloned = match &self.time_offsets {
            None => crate::spawner::run(|| {
                // SAFETY: the child runs only child::run on the prepared plan.
                match unsafe { clone.spawn() } {
                    Ok(CloneResult::Child) => unsafe { child::run(&plan) },
                    other => other,
                }
            }),
            Some(offsets) => spawn_in_time_namespace(&clone, offsets, &plan)?,
        };
        let cloned = match cloned {
            Ok(CloneResult::Parent(c)) => c,
            Ok(CloneResult::Child) => unreachable!("the child never returns"),
            Err(e) => {
                let errno = e.errno();
                return Err(SpawnError::from_lib(Step::Clone, e, errno));
            }
        };
        drop(sync_rd);
        drop(err_wr);
        drop(start_rd);
        drop(child_ends);
        drop(pass_held);
        drop(init_moved);
        let term_ours = term_pair.map(|(ours, _theirs)| ours);
        let idmap_ours = idmap_pair.map(|(ours, _theirs)| ours);
        let notify_ours = notify_pair.map(|(ours, _theirs)| ours);
        drop(null);
        let mut pid = cloned.pid;
        let mut pidfd = match cloned.pidfd {
            Some(p) => p,
            None => PidFd::open(pid).map_err(|e| SpawnError::from_lib(Step::Clone, e, None))?,
        };
        if plan.pid_join >= 0 {
            // The first child forked the process that stays, inside the
            // joined pid namespace, as our child (CLONE_PARENT), told us
            // its pid and exited: reap it, take the other.
            let mut report = File::from(err_rd.try_clone().map_err(|e| {
                SpawnError::new(Step::Prepare, e.raw_os_error().map(Errno::from_raw), "dup")
            })?);
            let rec = read_record(&mut report);
            let _ = pidfd.wait();
            match rec {
                Ok(Some(r)) if r.step == child::PID => {
                    pid = r.index as i32;
                    pidfd = PidFd::open(pid).map_err(|e| {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                        SpawnError::from_lib(Step::JoinNamespace, e, None)
                    })?;
                }
                Ok(Some(r)) => return Err(r.error(&plan)),
                Ok(None) => {
                    return Err(SpawnError::new(
                        Step::JoinNamespace,
                        None,
                        "the child exited before joining the pid namespace",
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        // From here on a failure must also kill and reap the child.
        // A child that failed on its own (before waiting for the release,
        // when joining its cgroup) left the real cause on the error pipe:
        // it wins over what the parent then tripped on (ESRCH, EPIPE).
        let own_report = err_rd.try_clone().map(File::from).ok();
        let fail = |e: SpawnError| {
            let _ = pidfd.send_signal(libc::SIGKILL);
            let _ = pidfd.wait();
            match own_report.as_ref().and_then(pending_record) {
                Some(rec) if rec.step < child::PID => rec.error(&plan),
                _ => e,
            }
        };
        drop(tasks_fds);
        if let Some(cg) = cgroup.filter(|_| !cloned.in_cgroup) {
            // clone3 could not place it in the cgroup2 directory.
            if let Err(e) = cg.add_process_v2(pid) {
                let errno = e.errno();
                return Err(fail(SpawnError::from_lib(Step::Cgroup, e, errno)));
            }
        }
        if let Some((path, resources)) = &by_systemd {
            match Cgroup::create_with(
                palisade_cgroup::CgroupManager::Systemd,
                path,
                resources,
                Some(pid),
            ) {
                Ok(cg) => host.cgroup = Some(cg),
                Err(e) => {
                    let errno = e.errno();
                    return Err(fail(SpawnError::from_lib(Step::Cgroup, e, errno)));
                }
            }
        }
        if let Some((uids, gids)) = &self.id_maps {
            // An unprivileged writer may map its own ids only after
            // denying setgroups (user_namespaces(7)).
            let setgroups = if self.rootless {
                SetGroups::Deny
            } else {
                SetGroups::Allow
            };
            if let Err(e) = palisade_ns::write_id_maps(pid, uids, gids, setgroups) {
                let errno = e.errno();
                return Err(fail(SpawnError::from_lib(Step::IdMaps, e, errno)));
            }
        }
        match &self.network {
            Network::Veth(v) => match HostNetwork::wire(v, &pidfd) {
                Ok(net) => host.network = Some(net),
                Err(e) => return Err(fail(e)),
            },
            Network::Macvlan(m) => {
                if let Err(e) = crate::net::wire_macvlan(m, &pidfd) {
                    return Err(fail(e));
                }
            }
            _ => {}
        }
        // Idmapped binds need the child's user namespace with its maps.
        if let Some(sock) = &idmap_ours {
            if let Err(e) = crate::idmap::send(pid, &plan.idmaps, sock) {
                return Err(fail(e));
            }
        }
        // Release the child.
        // SAFETY: writing one byte to our pipe.
        if unsafe { libc::write(sync_wr.as_raw_fd(), [1u8].as_ptr().cast(), 1) } != 1 {
            return Err(fail(SpawnError::new(
                Step::Sync,
                Some(Errno::last()),
                "release",
            )));
        }
        let mut report = File::from(err_rd);
        if plan.hooks_pause {
            // Mounts are made, pivot_root not yet: the host-side hooks and
            // those in the container's mount namespace run now.
            match read_record(&mut report) {
                Ok(Some(rec)) if rec.step == child::HOOKS => {}
                Ok(Some(rec)) => return Err(fail(rec.error(&plan))),
                Ok(None) => {
                    return Err(fail(SpawnError::new(
                        Step::Sync,
                        None,
                        "the child exited before its hooks",
                    )));
                }
                Err(e) => return Err(fail(e)),
            }
            if let Err(e) = self.run_create_hooks(pid) {
                return Err(fail(e));
            }
            // SAFETY: writing one byte to our pipe.
            if unsafe { libc::write(sync_wr.as_raw_fd(), [1u8].as_ptr().cast(), 1) } != 1 {
                return Err(fail(SpawnError::new(
                    Step::Sync,
                    Some(Errno::last()),
                    "release after hooks",
                )));
            }
        }
        drop(sync_wr);
        let pty = match term_ours {
            Some(sock) => match receive_terminal(&sock, console.as_ref(), &mut report, &plan) {
                Ok(pty) => pty,
                Err(e) => return Err(fail(e)),
            },
            None => None,
        };
        let [stdin, stdout, stderr] = parent_ends;
        // The listener was sent before READY/execve; EOF: none was made.
        let notify = |sock: Option<OwnedFd>| {
            sock.and_then(|s| crate::pty::recv_fd(s.as_raw_fd()).ok().flatten())
                .map(|(fd, _)| palisade_seccomp::NotifyListener::from(fd))
        };
        let child = |pidfd, host: &mut HostState, seccomp_notify| Child {
            pid,
            pidfd,
            seccomp_notify,
            host: std::mem::take(host),
            status: None,
            final_stats: None,
            stdin,
            stdout,
            stderr,
            pty,
            hooks: self.hooks.clone(),
            hook_id: self.hook_id(),
            bundle: self.bundle.clone().unwrap_or_default(),
            hook_failures: Vec::new(),
        };
        if let Some(start) = start_wr {
            // Create: the child reports READY just before execve, then
            // waits on the start pipe.
            match read_record(&mut report) {
                Ok(Some(rec)) if rec.step == child::READY => {}
                Ok(Some(rec)) => return Err(fail(rec.error(&plan))),
                Ok(None) => {
                    return Err(fail(SpawnError::new(
                        Step::Sync,
                        None,
                        "the child exited before it was ready",
                    )));
                }
                Err(e) => return Err(fail(e)),
            }
            return Ok((
                child(pidfd, host, notify(notify_ours)),
                Some(Gate {
                    start,
                    report,
                    plan,
                }),
            ));
        }
        if let Err(e) = await_exec(&mut report, &plan) {
            return Err(fail(e));
        }
        // execve succeeded: the container holds its own copy of the
        // overlay mount, the host's can go (lazily) right away.
        if let Some(rootfs) = host.rootfs.take() {
            let _ = rootfs.unmount();
        }
        Ok((child(pidfd, host, notify(notify_ours)), None))
    }
}

/// Refuses a cgroup that already holds processes (in any hierarchy, in
/// the group or a group beneath it), before anything is made. The
/// container's group is its own: it is deleted with the container (or
/// when a later step fails), which kills everything still in it, so a
/// path naming a group of the host's (a service's, another container's)
/// would kill what runs there. runc refuses the same ("container's
/// cgroup is not empty").
fn refuse_occupied_cgroup(path: &str) -> Result<(), SpawnError> {
    // A bad path or layout: `Cgroup::create` reports it.
    let (Ok(path), Ok(hierarchy)) = (
        palisade_cgroup::CgroupPath::new(path),
        palisade_cgroup::Hierarchy::cached(),
    ) else {
        return Ok(());
    };
    let rel = path.as_str().trim_start_matches('/');
    // cgroup2's `populated` counts the groups beneath; v1 has no such
    // file, so its groups beneath are walked (a busy leaf is deleted with
    // them, killing what they hold).
    fn holds_processes(dir: &std::path::Path, depth: u32) -> bool {
        // The usual case, a group still to be made: one failed lookup.
        if depth == 0 && !dir.is_dir() {
            return false;
        }
        let events = std::fs::read_to_string(dir.join("cgroup.events")).unwrap_or_default();
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        if events.lines().any(|l| l.trim() == "populated 1") || !procs.trim().is_empty() {
            return true;
        }
        depth < 64
            && std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    e.file_type().is_ok_and(|t| t.is_dir()) && holds_processes(&e.path(), depth + 1)
                })
    }
    let occupied = |dir: PathBuf| -> Result<(), SpawnError> {
        if holds_processes(&dir, 0) {
            return Err(SpawnError::new(
                Step::Cgroup,
                Some(Errno::EBUSY),
                format!(
                    "cgroup {}: it already holds processes; a container's group must be its \
                     own (deleting it kills everything in it)",
                    dir.display()
                ),
            ));
        }
        Ok(())
    };
    for (_, root) in hierarchy.v1_mounts() {
        occupied(root.join(rel))?;
    }
    if let Some(root) = hierarchy.unified() {
        occupied(root.join(rel))?;
    }
    Ok(())
}

/// A close-on-exec unix stream socketpair.
fn socketpair() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    let mut fds = [0; 2];
    // SAFETY: socketpair into a local array.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } != 0
    {
        return Err(SpawnError::new(
            Step::Prepare,
            Some(Errno::last()),
            "socketpair",
        ));
    }
    // SAFETY: fresh fds owned here.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Takes the terminal's master from the child; hands it on to the console
/// socket when there is one (then keeps none). EOF means the child failed:
/// its record says why.
fn receive_terminal(
    sock: &OwnedFd,
    console: Option<&OwnedFd>,
    report: &mut File,
    plan: &Plan,
) -> Result<Option<File>, SpawnError> {
    let got = crate::pty::recv_fd(sock.as_raw_fd()).map_err(|e| {
        SpawnError::new(
            Step::Stdio,
            e.raw_os_error().map(Errno::from_raw),
            "receiving the terminal's master",
        )
    })?;
    let Some((master, name)) = got else {
        return Err(match read_record(report)? {
            Some(rec) => rec.error(plan),
            None => SpawnError::new(Step::Sync, None, "the child exited before its terminal"),
        });
    };
    let master = File::from(master);
    match console {
        None => Ok(Some(master)),
        Some(c) => {
            crate::pty::send_console(c, &master, &name).map_err(|e| {
                SpawnError::new(
                    Step::Stdio,
                    Some(Errno::from_raw(e)),
                    "sending the terminal's master to the console socket",
                )
            })?;
            Ok(None)
        }
    }
}

/// One failure (or READY) record of the child.
struct Record {
    step: u32,
    errno: i32,
    index: u32,
}

impl Record {
    fn error(&self, plan: &Plan) -> SpawnError {
        let step = Step::from_code(self.step);
        let detail = match step {
            Step::Capabilities => child::caps_detail(self.index),
            _ => plan.detail(step, self.index),
        };
        SpawnError::new(step, Some(Errno::from_raw(self.errno)), detail)
    }
}

/// A record already waiting on the error pipe, without blocking (the
/// child is reaped; a record it wrote is there whole or not at all).
fn pending_record(report: &File) -> Option<Record> {
    let mut pfd = libc::pollfd {
        fd: report.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd on the stack, zero timeout.
    if unsafe { libc::poll(&mut pfd, 1, 0) } != 1 || pfd.revents & libc::POLLIN == 0 {
        return None;
    }
    let mut f = report;
    read_record_from(&mut f).ok().flatten()
}

/// Reads one record, or `None` at EOF (every write end closed: the
/// program's execve succeeded, or the child died without a word).
fn read_record(report: &mut File) -> Result<Option<Record>, SpawnError> {
    read_record_from(report)
}

fn read_record_from(report: &mut impl Read) -> Result<Option<Record>, SpawnError> {
    let mut buf = [0u8; RECORD_LEN];
    let mut got = 0;
    while got < RECORD_LEN {
        match report.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(SpawnError::new(
                    Step::Sync,
                    e.raw_os_error().map(Errno::from_raw),
                    "reading the child's report",
                ));
            }
        }
    }
    if got == 0 {
        return Ok(None);
    }
    let word =
        |i: usize| u32::from_ne_bytes([buf[i * 4], buf[i * 4 + 1], buf[i * 4 + 2], buf[i * 4 + 3]]);
    Ok(Some(Record {
        step: word(0),
        errno: word(1) as i32,
        index: word(2),
    }))
}

/// Waits for the program's execve: EOF is success, a record a failure.
fn await_exec(report: &mut File, plan: &Plan) -> Result<(), SpawnError> {
    match read_record(report)? {
        None => Ok(()),
        Some(rec) => Err(rec.error(plan)),
    }
}

/// The parent's ends of a created container's start pipe and report pipe.
pub(crate) struct Gate {
    start: File,
    report: File,
    plan: Plan,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("start", &self.start)
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

/// The `CLONE_NEW*` flags of the namespaces (but pid) in which `pid`
/// differs from the caller: joining one's own user namespace is refused.
fn differing_namespaces(pid: i32) -> libc::c_int {
    let mut flags = 0;
    for kind in [
        NsKind::User,
        NsKind::Mnt,
        NsKind::Uts,
        NsKind::Ipc,
        NsKind::Net,
        NsKind::Cgroup,
        NsKind::Time,
    ] {
        let name = kind.proc_name();
        let theirs = std::fs::metadata(format!("/proc/{pid}/ns/{name}"));
        let ours = std::fs::metadata(format!("/proc/self/ns/{name}"));
        if let (Ok(a), Ok(b)) = (theirs, ours) {
            use std::os::unix::fs::MetadataExt;
            if (a.dev(), a.ino()) != (b.dev(), b.ino()) {
                flags |= kind.clone_flag();
            }
        }
    }
    flags
}

/// `clone3` from a helper thread that has unshared a time namespace and
/// written its offsets, so the child is born into it with the offsets set
/// (they cannot change once a process is inside).
fn spawn_in_time_namespace(
    clone: &Clone3<'_>,
    offsets: &palisade_ns::TimeOffsets,
    plan: &Plan,
) -> Result<palisade_ns::Result<CloneResult>, SpawnError> {
    let clone = clone.clone().namespaces({
        let mut n = palisade_ns::NsKinds::from_bits_retain(clone.flags() as u32 as i32);
        n.remove(palisade_ns::NsKinds::TIME);
        n & palisade_ns::NsKinds::all()
    });
    std::thread::scope(|s| {
        s.spawn(|| {
            palisade_ns::unshare(palisade_ns::NsKinds::TIME)
                .map_err(|e| SpawnError::from_lib(Step::TimeOffsets, e, None))?;
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() };
            offsets
                .write_for(tid)
                .map_err(|e| SpawnError::from_lib(Step::TimeOffsets, e, None))?;
            // SAFETY: the child runs only child::run on the prepared plan.
            match unsafe { clone.spawn() } {
                Ok(CloneResult::Child) => unsafe { child::run(plan) },
                other => Ok(other),
            }
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// A created container whose program has not started (see
/// [`Container::create`]). Dropping it kills and removes it.
#[derive(Debug)]
pub struct Created {
    child: Child,
    gate: Gate,
}

impl Created {
    /// The waiting first process, as a pid of the caller's namespace.
    pub fn pid(&self) -> i32 {
        self.child.pid
    }

    /// Its pidfd.
    pub fn pidfd(&self) -> &PidFd {
        &self.child.pidfd
    }

    /// Its cgroup, if it has one.
    pub fn cgroup(&self) -> Option<&Cgroup> {
        self.child.cgroup()
    }

    /// The master of its terminal, there before the program starts (see
    /// [`Child::pty`]).
    pub fn pty(&self) -> Option<&File> {
        self.child.pty()
    }

    /// Releases the program and waits for its `execve`: a failure (path
    /// not found, not executable…) comes back as a [`SpawnError`] at step
    /// `Exec` naming the program and errno, and the container is removed.
    pub fn start(self) -> Result<Child, SpawnError> {
        let Created {
            mut child,
            mut gate,
        } = self;
        let failures = child.run_hooks(HookPoint::StartContainer, "created");
        if !failures.is_empty() {
            return Err(SpawnError::new(Step::Hook, None, failures.join("; ")));
        }
        let released = std::io::Write::write_all(&mut gate.start, &[1]);
        drop(gate.start);
        if let Err(e) = released {
            return Err(SpawnError::new(
                Step::Sync,
                e.raw_os_error().map(Errno::from_raw),
                "releasing the created container",
            ));
        }
        await_exec(&mut gate.report, &gate.plan)?;
        if let Some(rootfs) = child.host.rootfs.take() {
            let _ = rootfs.unmount();
        }
        let failures = child.run_hooks(HookPoint::Poststart, "running");
        child.hook_failures.extend(failures);
        Ok(child)
    }

    /// Lets the created container outlive this handle (and this process,
    /// if built with [`parent_death_signal(None)`](Container::parent_death_signal)):
    /// returns its state for [`Attached::attach`](crate::Attached::attach),
    /// whose `start` releases it from any process.
    pub fn detach(self) -> Result<ContainerState, Error> {
        let Created { child, gate } = self;
        let exe = std::fs::metadata("/proc/self/exe").map_err(|e| Error::Sys {
            op: "stat /proc/self/exe",
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?;
        let created = crate::state::CreatedGate {
            start_fd: gate.start.as_raw_fd(),
            report_fd: gate.report.as_raw_fd(),
            exe_dev: std::os::unix::fs::MetadataExt::dev(&exe),
            exe_ino: std::os::unix::fs::MetadataExt::ino(&exe),
            program: gate.plan.program.to_string_lossy().into_owned(),
        };
        let mut state = child.detach()?;
        state.created = Some(created);
        Ok(state)
    }

    /// Kills the waiting process and removes everything the creation made.
    pub fn delete(self) -> Result<(), Error> {
        let mut child = self.child;
        let _ = child.pidfd.send_signal(libc::SIGKILL);
        child.wait()?;
        Ok(())
    }
}

/// A running container. Waiting for it (or dropping it) removes what the
/// spawn created on the host: its cgroup, the host end of its network.
///
/// Dropping a `Child` that is still running kills it (`SIGKILL`) and reaps
/// it, like `docker run --rm`.
#[derive(Debug)]
pub struct Child {
    pid: i32,
    pidfd: PidFd,
    host: HostState,
    status: Option<ExitStatus>,
    /// The cgroup's figures when the container was reaped (the cgroup is
    /// gone after that).
    final_stats: Option<Stats>,
    /// The write end of the container's stdin, when piped.
    pub stdin: Option<File>,
    /// The read end of the container's stdout, when piped.
    pub stdout: Option<File>,
    /// The read end of the container's stderr, when piped.
    pub stderr: Option<File>,
    /// The master of its terminal ([`Container::terminal`]), unless it
    /// went to a console socket.
    pty: Option<File>,
    seccomp_notify: Option<palisade_seccomp::NotifyListener>,
    hooks: Vec<(HookPoint, AnyHook)>,
    hook_id: String,
    bundle: String,
    hook_failures: Vec<String>,
}

impl Child {
    /// The master side of the container's terminal
    /// ([`Container::terminal`]): write to it to type into the program,
    /// read from it for what the program prints (`try_clone` for a reader
    /// and a writer). `None` without a terminal, or when the master went
    /// to a [console socket](Container::console_socket).
    pub fn pty(&self) -> Option<&File> {
        self.pty.as_ref()
    }

    /// Takes the master out of the `Child` (it then outlives it).
    pub fn take_pty(&mut self) -> Option<File> {
        self.pty.take()
    }

    /// Sets the terminal's window size (`TIOCSWINSZ` on the master): the
    /// program's `stty size` reads it, and its foreground process group
    /// gets `SIGWINCH`. Fails with [`Error::NoTerminal`] without one.
    pub fn resize(&self, rows: u16, cols: u16) -> Result<(), Error> {
        let pty = self.pty.as_ref().ok_or(Error::NoTerminal)?;
        crate::pty::set_winsize(pty.as_raw_fd(), rows, cols).map_err(|e| Error::Sys {
            op: "TIOCSWINSZ on the terminal",
            errno: Errno::from_raw(e),
        })
    }

    /// The container's first process, as a pid of the caller's namespace.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Its pidfd.
    pub fn pidfd(&self) -> &PidFd {
        &self.pidfd
    }

    /// Its cgroup, if it has one.
    pub fn cgroup(&self) -> Option<&Cgroup> {
        self.host.cgroup.as_ref()
    }

    /// The name of the host end of its veth, if it has one.
    pub fn host_interface(&self) -> Option<&str> {
        self.host.network.as_ref().map(HostNetwork::host_name)
    }

    /// A namespace of the container.
    pub fn namespace(&self, kind: NsKind) -> Result<Namespace, Error> {
        Ok(self.pidfd.namespace(kind)?)
    }

    /// Sends a signal to the container's first process.
    pub fn kill(&self, signal: i32) -> Result<(), Error> {
        Ok(self.pidfd.send_signal(signal)?)
    }

    /// Waits for the container to exit, then removes its host resources.
    pub fn wait(&mut self) -> Result<ExitStatus, Error> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        drop(self.stdin.take());
        let status = self.pidfd.wait()?;
        self.reaped(status)?;
        Ok(status)
    }

    /// Records the exit and the cgroup's last figures, then cleans up
    /// and runs the poststop hooks.
    fn reaped(&mut self, status: ExitStatus) -> Result<(), Error> {
        self.status = Some(status);
        self.final_stats = self.host.cgroup.as_ref().and_then(|cg| cg.stats().ok());
        let cleaned = self.cleanup();
        let failures = self.run_hooks(HookPoint::Poststop, "stopped");
        self.hook_failures.extend(failures);
        cleaned
    }

    /// The seccomp user-notification listener, when the container's
    /// profile has `SCMP_ACT_NOTIFY` rules (taken once): the program's
    /// notified calls wait until it answers them.
    ///
    /// ```no_run
    /// use palisade::seccomp::Response;
    /// # let mut child = palisade::Container::new("/bin/sh").spawn()?;
    /// if let Some(listener) = child.seccomp_notify() {
    ///     let n = listener.recv()?;
    ///     listener.respond(n.id, Response::Errno(libc::EPERM))?;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn seccomp_notify(&mut self) -> Option<palisade_seccomp::NotifyListener> {
        self.seccomp_notify.take()
    }

    /// Failures of hooks that do not abort (`poststart`, `poststop`), as
    /// text naming the point and the hook, in order.
    pub fn hook_failures(&self) -> &[String] {
        &self.hook_failures
    }

    /// Runs the hooks of `point`; for `StartContainer` inside every
    /// namespace of the container (user first) and its root.
    fn run_hooks(&self, point: HookPoint, status: &str) -> Vec<String> {
        if !self.hooks.iter().any(|(p, _)| *p == point) {
            return Vec::new();
        }
        let state = crate::hooks::state_json(&self.hook_id, status, self.pid, &self.bundle);
        if point != HookPoint::StartContainer {
            return crate::hooks::run_point(&self.hooks, point, &state, None);
        }
        let flags = differing_namespaces(self.pid);
        let pidfd = self.pidfd.as_raw_fd();
        let enter = move || -> crate::hooks::PreExec {
            Box::new(move || {
                // SAFETY: setns through a pidfd the hook process inherited.
                if flags != 0 && unsafe { libc::setns(pidfd, flags) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        };
        crate::hooks::run_point(&self.hooks, point, &state, Some(&enter))
    }

    /// The exit status if the container has exited (then cleans up).
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, Error> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        match self.pidfd.try_wait()? {
            Some(status) => {
                self.reaped(status)?;
                Ok(Some(status))
            }
            None => Ok(None),
        }
    }

    /// Usage of its cgroup: live while it runs; once reaped, the figures
    /// read just before its cgroup was removed (CPU time used, peak memory,
    /// OOM kills).
    ///
    /// ```no_run
    /// # let mut child = palisade::Container::new("/bin/true").spawn()?;
    /// let status = child.wait()?;
    /// if child.oom_killed() {
    ///     eprintln!("{status}: killed by the OOM killer (memory limit)");
    /// }
    /// println!("cpu {:?} µs", child.stats()?.cpu_usage_usec);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> Result<Stats, Error> {
        if let Some(s) = &self.final_stats {
            return Ok(s.clone());
        }
        Ok(self.host.cgroup.as_ref().ok_or(Error::NoCgroup)?.stats()?)
    }

    /// Did the OOM killer kill a process of the container (its memory
    /// limit bit)? Tells an OOM kill apart from another `SIGKILL` in the
    /// exit status. `false` without a cgroup of its own.
    pub fn oom_killed(&self) -> bool {
        self.stats()
            .ok()
            .and_then(|s| s.oom_kills)
            .is_some_and(|n| n > 0)
    }

    /// Runs a new process inside this container (see [`Exec`](crate::Exec)).
    /// The returned [`Child`] is that process: wait for it, kill it; it has
    /// no host resources of its own. Fails at `Validate` when the container
    /// has exited.
    pub fn exec(&self, exec: crate::Exec) -> Result<Child, SpawnError> {
        if self.status.is_some() {
            return Err(SpawnError::invalid(format!(
                "container {} has exited: nothing to exec into",
                self.pid
            )));
        }
        crate::exec::exec_into(self.pid, &self.pidfd, self.host.cgroup.as_ref(), exec)
    }

    /// Lets the container outlive this handle: no kill on drop, no
    /// cleanup; returns the state [`Attached::attach`](crate::Attached::attach)
    /// takes. To outlive this *process* too, build it with
    /// [`parent_death_signal(None)`](Container::parent_death_signal). This
    /// process stays the parent of its first process: it reaps it by
    /// exiting or waiting; an exited parent hands it to init or to a
    /// [subreaper](crate::set_child_subreaper).
    pub fn detach(mut self) -> Result<ContainerState, Error> {
        let (_, start_time) =
            crate::state::proc_stat(self.pid).ok_or(Error::NotRunning { pid: self.pid })?;
        let host = std::mem::take(&mut self.host);
        let rootfs_mount = host.rootfs.map(|r| r.leak());
        let state = ContainerState {
            pid: self.pid,
            start_time,
            cgroup: host.cgroup.as_ref().map(|c| c.path().to_string()),
            host_interface: host.network.as_ref().map(|n| n.host_name().to_owned()),
            rootfs_mount,
            created: None,
        };
        self.status = Some(ExitStatus::Exited(0)); // no kill on drop
        Ok(state)
    }

    /// Replaces the device rules of the running container (they take
    /// effect at once; on cgroup2 the new program is attached before the
    /// old one is detached, so no moment allows more than both). Fails with
    /// [`Error::NoCgroup`] when the container has no cgroup (a user
    /// namespace, or rules that allowed everything at spawn).
    ///
    /// ```no_run
    /// use palisade::cgroup::DeviceRule;
    /// # let child = palisade::Container::new("/bin/sh").spawn()?;
    /// let mut rules = DeviceRule::docker_default();
    /// rules.push(DeviceRule::parse(true, "c 10:229 rwm")?); // /dev/fuse
    /// child.update_device_rules(&rules)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update_device_rules(&self, rules: &[DeviceRule]) -> Result<(), Error> {
        Ok(self
            .host
            .cgroup
            .as_ref()
            .ok_or(Error::NoCgroup)?
            .set_devices(rules)?)
    }

    /// Freezes every process of the container.
    pub fn freeze(&self) -> Result<(), Error> {
        Ok(self.host.cgroup.as_ref().ok_or(Error::NoCgroup)?.freeze()?)
    }

    /// Thaws it.
    pub fn thaw(&self) -> Result<(), Error> {
        Ok(self.host.cgroup.as_ref().ok_or(Error::NoCgroup)?.thaw()?)
    }

    /// Removes host resources (cgroup — killing what is left in it — and
    /// the host end of the network). Idempotent.
    pub fn cleanup(&mut self) -> Result<(), Error> {
        let errors = self.host.undo();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Cleanup(errors.join("; ")))
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.pidfd.send_signal(libc::SIGKILL);
            if let Ok(status) = self.pidfd.wait() {
                let _ = self.reaped(status);
            }
        }
        let _ = self.cleanup();
    }
}
