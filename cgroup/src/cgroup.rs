//! One cgroup spanning every hierarchy it lives in.

use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::devices::bpf;
use crate::devices::policy::Policy;
use crate::hierarchy::{Controller, Hierarchy, Placement};
use crate::stats::{Pressure, parse_memory_events, parse_pressure, read_u64};
use crate::{
    CgroupPath, DeviceProgram, DeviceRule, DevicesInForce, Error, MemoryEvents, Resources, Result,
    Stats,
};

/// How long `freeze`, `thaw` and `delete` wait for the kernel.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The directory of the cgroup in one hierarchy.
#[derive(Debug, Clone)]
struct Dir {
    /// Mount point of the hierarchy.
    root: PathBuf,
    /// `root/<path>`.
    dir: PathBuf,
    /// cgroup2?
    unified: bool,
    /// v1 controllers of this mount.
    controllers: Vec<Controller>,
    /// Prefixes of the path this handle created (outermost first), removed
    /// by `delete` when empty.
    created: Vec<PathBuf>,
}

/// Which PSI file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PressureKind {
    /// `cpu.pressure`
    Cpu,
    /// `memory.pressure`
    Memory,
    /// `io.pressure`
    Io,
}

/// A cgroup at the same relative path in the cgroup2 tree (when mounted)
/// and in every v1 controller hierarchy: the handle a runtime keeps for one
/// container.
///
/// ```no_run
/// use palisade_cgroup::{Cgroup, Resources};
/// let cg = Cgroup::create("palisade/demo")?;
/// cg.apply(&Resources::new().memory_max(64 << 20).pids_max(64))?;
/// cg.add_process(std::process::id() as i32)?;
/// println!("{:?}", cg.stats()?);
/// # Ok::<(), palisade_cgroup::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Cgroup {
    path: CgroupPath,
    hierarchy: Hierarchy,
    dirs: Vec<Dir>,
    /// The transient scope unit owning the group (the systemd driver).
    #[cfg(feature = "systemd")]
    scope: Option<std::sync::Arc<crate::systemd::scope::Scope>>,
}

impl Cgroup {
    /// Creates the cgroup (and missing parents) in every hierarchy, on the
    /// machine's detected layout. An existing directory is reused.
    pub fn create(path: &str) -> Result<Cgroup> {
        Cgroup::create_in(Hierarchy::cached()?.clone(), path)
    }

    /// Creates the cgroup only where `resources` need it: the cgroup2 tree
    /// (when mounted: it gives freeze, kill and `CLONE_INTO_CGROUP`) plus
    /// the v1 hierarchies of the controllers `resources` uses (and the v1
    /// freezer when there is no cgroup2 tree). Fewer directories, faster
    /// start and delete.
    ///
    /// ```no_run
    /// use palisade_cgroup::{Cgroup, Resources};
    /// let r = Resources::new().memory_max(64 << 20);
    /// let cg = Cgroup::create_for("palisade/box", &r)?;
    /// cg.apply(&r)?;
    /// # Ok::<(), palisade_cgroup::Error>(())
    /// ```
    pub fn create_for(path: &str, resources: &Resources) -> Result<Cgroup> {
        Cgroup::create_for_in(Hierarchy::cached()?.clone(), path, resources)
    }

    /// [`create_for`](Cgroup::create_for) on a given layout.
    pub fn create_for_in(
        hierarchy: Hierarchy,
        path: &str,
        resources: &Resources,
    ) -> Result<Cgroup> {
        let mut wanted = resources.controllers();
        if hierarchy.unified().is_none() {
            wanted.push(Controller::Freezer);
        }
        Cgroup::make(hierarchy, path, Some(&wanted))
    }

    /// [`create`](Cgroup::create) on a given layout.
    pub fn create_in(hierarchy: Hierarchy, path: &str) -> Result<Cgroup> {
        Cgroup::make(hierarchy, path, None)
    }

    fn make(hierarchy: Hierarchy, path: &str, only: Option<&[Controller]>) -> Result<Cgroup> {
        let path = CgroupPath::new(path)?;
        let dirs = Self::dirs(&hierarchy, &path, only);
        let mut cg = Cgroup {
            dirs,
            path,
            hierarchy,
            #[cfg(feature = "systemd")]
            scope: None,
        };
        let prefixes: Vec<String> = cg.path.prefixes().map(str::to_owned).collect();
        for i in 0..cg.dirs.len() {
            for prefix in &prefixes {
                let dir = cg.dirs[i].root.join(prefix);
                match std::fs::create_dir(&dir) {
                    Ok(()) => cg.dirs[i].created.push(dir.clone()),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => {
                        let err = Error::io("mkdir", &dir, e);
                        let _ = cg.remove_created();
                        return Err(err);
                    }
                }
                if cg.dirs[i].controllers.contains(&Controller::Cpuset) {
                    if let Err(e) = inherit_cpuset(&dir) {
                        let _ = cg.remove_created();
                        return Err(e);
                    }
                }
            }
        }
        Ok(cg)
    }

    /// Creates a group through `manager`, puts `resources` in force and
    /// moves `pid` into it: one call whichever driver owns the tree.
    ///
    /// - [`CgroupManager::Cgroupfs`](crate::CgroupManager::Cgroupfs): `path` is relative to each
    ///   hierarchy's root (`palisade/box-1`); [`create_for`](Cgroup::create_for),
    ///   [`apply`](Cgroup::apply), then [`add_process`](Cgroup::add_process)
    ///   when `pid` is given.
    /// - [`CgroupManager::Systemd`](crate::CgroupManager::Systemd) (crate feature `systemd`): `path` is
    ///   `slice:prefix:name` ([`SystemdName`](crate::SystemdName)); a
    ///   transient scope unit is started with `PIDs=[pid]`,
    ///   `Delegate=yes`, the slice and the properties of
    ///   [`unit_properties`](crate::unit_properties), over the system bus
    ///   as root and the user manager's bus otherwise; the group is the
    ///   unit's `ControlGroup`, and what systemd cannot express is written
    ///   to its files directly (see [`crate::systemd`]). A scope cannot be
    ///   empty, so `pid` is required.
    ///
    /// Errors: the name and the resources are checked before anything is
    /// made ([`Error::InvalidPath`], [`Error::InvalidValue`]);
    /// [`Error::SystemdUnavailable`] when systemd is not PID 1 (no
    /// `/run/systemd/system`), its bus is unreachable or the feature is
    /// off; [`Error::Systemd`] when systemd refuses a call or a job fails;
    /// the cgroupfs errors of [`apply`](Cgroup::apply). A group made before
    /// a later step failed is removed again.
    ///
    /// ```no_run
    /// use palisade_cgroup::{Cgroup, CgroupManager, Resources};
    /// let r = Resources::new().memory_max(64 << 20).pids_max(64);
    /// let pid = 4242; // the container's first process
    /// let cg = Cgroup::create_with(CgroupManager::Systemd, "system.slice:palisade:box-1", &r, Some(pid))?;
    /// assert_eq!(cg.systemd_unit(), Some("palisade-box-1.scope"));
    /// cg.delete()?; // kill, StopUnit, wait for the job
    /// # Ok::<(), palisade_cgroup::Error>(())
    /// ```
    pub fn create_with(
        manager: crate::CgroupManager,
        path: &str,
        resources: &Resources,
        pid: Option<i32>,
    ) -> Result<Cgroup> {
        match manager {
            crate::CgroupManager::Cgroupfs => {
                let cg = Cgroup::create_for(path, resources)?;
                let placed = cg
                    .apply(resources)
                    .and_then(|()| pid.map_or(Ok(()), |pid| cg.add_process(pid)));
                match placed {
                    Ok(()) => Ok(cg),
                    Err(e) => {
                        let _ = cg.delete();
                        Err(e)
                    }
                }
            }
            crate::CgroupManager::Systemd => Cgroup::create_systemd(path, resources, pid),
        }
    }

    #[cfg(not(feature = "systemd"))]
    fn create_systemd(path: &str, resources: &Resources, pid: Option<i32>) -> Result<Cgroup> {
        let _ = (
            path.parse::<crate::SystemdName>()?,
            resources.validate()?,
            pid,
        );
        Err(Error::SystemdUnavailable {
            reason: "palisade-cgroup was built without its `systemd` feature".into(),
        })
    }

    #[cfg(feature = "systemd")]
    fn create_systemd(path: &str, resources: &Resources, pid: Option<i32>) -> Result<Cgroup> {
        use crate::systemd::{PropertyValue, scope};
        let name: crate::SystemdName = path.parse()?;
        let pid = match pid {
            Some(pid) if pid > 0 => pid as u32,
            other => {
                return Err(Error::InvalidValue {
                    field: "PIDs",
                    value: format!("{other:?}"),
                    reason: "a systemd scope starts with a process: pass the container's pid (> 0)",
                });
            }
        };
        let mut props = crate::unit_properties(resources)?;
        let (conn, user) = scope::connect()?;
        let slice = name
            .slice()
            .unwrap_or(if user { "user.slice" } else { "system.slice" });
        let mut all = vec![
            (
                "Description",
                PropertyValue::Str(format!("palisade container {}", name.name())),
            ),
            ("Slice", PropertyValue::Str(slice.to_owned())),
            ("Delegate", PropertyValue::Bool(true)),
            ("PIDs", PropertyValue::Pids(vec![pid])),
            // A failed scope is collected too, so its name is free again.
            (
                "CollectMode",
                PropertyValue::Str("inactive-or-failed".into()),
            ),
            // An OOM kill of one process does not stop the container (the
            // default policy, `stop`, would); events() reports it.
            ("OOMPolicy", PropertyValue::Str("continue".into())),
        ];
        all.append(&mut props);
        let scope = std::sync::Arc::new(scope::Scope::start(conn, user, name.unit(), &all)?);
        let made = scope.control_group().and_then(|dir| {
            let mut cg = Cgroup::open(dir.trim_start_matches('/'))?;
            cg.scope = Some(scope.clone());
            cg.apply_files(resources)?;
            Ok(cg)
        });
        if made.is_err() {
            let _ = scope.stop();
        }
        made
    }

    /// The systemd unit owning this group (`palisade-abc.scope`), when it
    /// was made by [`CgroupManager::Systemd`](crate::CgroupManager::Systemd).
    pub fn systemd_unit(&self) -> Option<&str> {
        #[cfg(feature = "systemd")]
        if let Some(scope) = &self.scope {
            return Some(scope.unit());
        }
        None
    }

    /// Opens an existing cgroup; it must exist in at least one hierarchy.
    /// `delete` of an opened cgroup removes only its own directories.
    pub fn open(path: &str) -> Result<Cgroup> {
        let hierarchy = Hierarchy::cached()?.clone();
        let path = CgroupPath::new(path)?;
        let dirs: Vec<Dir> = Self::dirs(&hierarchy, &path, None)
            .into_iter()
            .filter(|d| d.dir.is_dir())
            .collect();
        if dirs.is_empty() {
            return Err(Error::Io {
                op: "open cgroup",
                path: PathBuf::from(path.as_str()),
                errno: Errno::ENOENT,
            });
        }
        Ok(Cgroup {
            path,
            hierarchy,
            dirs,
            #[cfg(feature = "systemd")]
            scope: None,
        })
    }

    /// The directories of `path` in every hierarchy — or, with `only`, in
    /// the cgroup2 tree and the v1 hierarchies holding one of those
    /// controllers.
    fn dirs(hierarchy: &Hierarchy, path: &CgroupPath, only: Option<&[Controller]>) -> Vec<Dir> {
        let mut dirs: Vec<Dir> = Vec::new();
        let mounts = hierarchy.v1_mounts();
        for (controller, root) in mounts {
            // A mount is wanted when any controller it carries is.
            let wanted =
                only.is_none_or(|only| mounts.iter().any(|(c, r)| r == root && only.contains(c)));
            if !wanted {
                continue;
            }
            match dirs.iter_mut().find(|d| d.root == *root) {
                Some(d) => d.controllers.push(*controller),
                None => dirs.push(Dir {
                    root: root.clone(),
                    dir: root.join(path.as_str()),
                    unified: false,
                    controllers: vec![*controller],
                    created: Vec::new(),
                }),
            }
        }
        // cgroup2 last: creating, joining and removing it after the v1
        // directories measured cheaper than before them (benches/cgroup.rs).
        if let Some(root) = hierarchy.unified() {
            dirs.push(Dir {
                root: root.to_owned(),
                dir: root.join(path.as_str()),
                unified: true,
                controllers: Vec::new(),
                created: Vec::new(),
            });
        }
        dirs
    }

    /// The path relative to each hierarchy's root.
    pub fn path(&self) -> &CgroupPath {
        &self.path
    }

    /// The layout this cgroup was made on.
    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    /// The cgroup2 directory, when a cgroup2 tree is mounted.
    pub fn v2_dir(&self) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.unified)
            .map(|d| d.dir.as_path())
    }

    /// The v1 directory of `controller`, when it is mounted as v1.
    pub fn v1_dir(&self, controller: Controller) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.controllers.contains(&controller))
            .map(|d| d.dir.as_path())
    }

    /// Every directory of this cgroup (cgroup2 first).
    pub fn dirs_iter(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|d| d.dir.as_path())
    }

    /// The directory holding `controller`'s files.
    pub(crate) fn dir_of(&self, controller: Controller) -> Result<&Path> {
        match self.hierarchy.placement(controller)? {
            Placement::V2(_) => self.v2_dir(),
            Placement::V1(_) => self.v1_dir(controller),
        }
        .ok_or(Error::ControllerMissing {
            controller: controller.v1_name(),
        })
    }

    /// An `O_DIRECTORY | O_CLOEXEC` fd of the cgroup2 directory, for
    /// `clone3(CLONE_INTO_CGROUP)`.
    pub fn dirfd(&self) -> Result<OwnedFd> {
        let dir = self.v2_dir().ok_or(Error::Unsupported {
            what: "a cgroup2 directory fd (no cgroup2 tree mounted)",
            version: "v1",
        })?;
        let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|_| {
            Error::InvalidPath {
                path: dir.display().to_string(),
                reason: "contains NUL",
            }
        })?;
        // SAFETY: valid C string.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(Error::Io {
                op: "open",
                path: dir.to_owned(),
                errno: Errno::last(),
            });
        }
        // SAFETY: fresh fd.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// `O_WRONLY | O_CLOEXEC` fds of the `tasks` file of each v1
    /// hierarchy of this group, each with its path (none on a pure cgroup2
    /// host), for a new
    /// process to join itself: a single-threaded process that writes `0`
    /// to each is in the group in every v1 hierarchy.
    ///
    /// Why: moving another process through `cgroup.procs` takes the
    /// kernel's global threadgroup lock for writing, whose RCU grace period
    /// costs milliseconds (measured 7.7 ms median on an idle 6.x host);
    /// a thread moving itself through `tasks` skips that lock (tens of
    /// µs). The write needs the writer's own credentials to allow it (root,
    /// or the same uid as the task, `cgroup-v1.rst`), so join before
    /// dropping privileges. The cgroup2 side is `clone3(CLONE_INTO_CGROUP)`
    /// with [`dirfd`](Self::dirfd).
    ///
    /// ```no_run
    /// # use palisade_cgroup::Cgroup;
    /// # use std::os::fd::AsRawFd;
    /// let cg = Cgroup::create("demo/self-join")?;
    /// for (_path, fd) in cg.tasks_fds_v1()? {
    ///     // In the new, single-threaded process (after fork/clone3):
    ///     // SAFETY: writing a byte to our own fd.
    ///     unsafe { libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) };
    /// }
    /// # Ok::<(), palisade_cgroup::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] naming the `tasks` file that could not be opened.
    pub fn tasks_fds_v1(&self) -> Result<Vec<(PathBuf, OwnedFd)>> {
        let mut fds = Vec::new();
        for d in self.dirs.iter().filter(|d| !d.unified) {
            let path = d.dir.join("tasks");
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| Error::io("open", &path, e))?;
            fds.push((path, OwnedFd::from(file)));
        }
        Ok(fds)
    }

    /// Moves process `pid` into the cgroup2 directory only (a process
    /// that joined its v1 hierarchies itself, see
    /// [`tasks_fds_v1`](Self::tasks_fds_v1)). Nothing to do without a
    /// cgroup2 tree.
    ///
    /// # Errors
    /// [`Error::Write`] naming `cgroup.procs` and the errno.
    pub fn add_process_v2(&self, pid: i32) -> Result<()> {
        match self.v2_dir() {
            Some(dir) => write_file(&dir.join("cgroup.procs"), &pid.to_string()),
            None => Ok(()),
        }
    }

    /// Moves process `pid` (all its threads) into the cgroup in every
    /// hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        // v1 hierarchies first, cgroup2 last: measured ~10 % cheaper on a
        // hybrid host than the other order (benches/cgroup.rs), and the
        // same result.
        let pid = pid.to_string();
        for d in self.dirs.iter().filter(|d| !d.unified) {
            write_file(&d.dir.join("cgroup.procs"), &pid)?;
        }
        if let Some(dir) = self.v2_dir() {
            write_file(&dir.join("cgroup.procs"), &pid)?;
        }
        Ok(())
    }

    /// Moves process `pid` into the v1 hierarchies only (when it was already
    /// started in the cgroup2 directory by `CLONE_INTO_CGROUP`).
    pub fn add_process_v1(&self, pid: i32) -> Result<()> {
        for d in self.dirs.iter().filter(|d| !d.unified) {
            write_file(&d.dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Moves one thread: `tasks` in v1; in v2 only into a threaded cgroup
    /// (`cgroup.threads`).
    pub fn add_thread(&self, tid: i32) -> Result<()> {
        for d in &self.dirs {
            let file = if d.unified { "cgroup.threads" } else { "tasks" };
            write_file(&d.dir.join(file), &tid.to_string())?;
        }
        Ok(())
    }

    /// Pids in the cgroup (from the cgroup2 tree when mounted: it tracks
    /// every process even in hybrid mode).
    pub fn procs(&self) -> Result<Vec<i32>> {
        let Some(d) = self.main_dir() else {
            return Ok(Vec::new());
        };
        read_pids(&d.dir.join("cgroup.procs"))
    }

    /// The directory that answers for the whole group: the cgroup2 one
    /// when there is one (it tracks every process, even on hybrid hosts),
    /// else the first v1 hierarchy.
    fn main_dir(&self) -> Option<&Dir> {
        self.dirs
            .iter()
            .find(|d| d.unified)
            .or_else(|| self.dirs.first())
    }

    /// Child cgroups (names relative to this one).
    pub fn children(&self) -> Result<Vec<String>> {
        let Some(d) = self.main_dir() else {
            return Ok(Vec::new());
        };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&d.dir).map_err(|e| Error::io("read_dir", &d.dir, e))? {
            let entry = entry.map_err(|e| Error::io("read_dir", &d.dir, e))?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Writes every set limit. On cgroup2, the needed controllers are first
    /// enabled in `cgroup.subtree_control` of each ancestor. Validates
    /// everything first; the error of a refused write names file and value.
    ///
    /// Device rules, when set, are put in force first with
    /// [`set_devices`](Cgroup::set_devices).
    ///
    /// A group of the systemd driver first gets the unit properties
    /// systemd knows (`SetUnitProperties`, runtime, see
    /// [`unit_properties`](crate::unit_properties)), so that systemd
    /// keeps them; then every file is written as above.
    pub fn apply(&self, resources: &Resources) -> Result<()> {
        #[cfg(feature = "systemd")]
        if let Some(scope) = &self.scope {
            scope.set_properties(&crate::unit_properties(resources)?)?;
        }
        self.apply_files(resources)
    }

    /// [`apply`](Cgroup::apply)'s cgroupfs writes.
    fn apply_files(&self, resources: &Resources) -> Result<()> {
        let writes = resources.plan(&self.hierarchy)?;
        if !resources.devices.is_empty() {
            self.set_devices(&resources.devices)?;
        }
        let mut enabled: Vec<Controller> = Vec::new();
        for w in &writes {
            if let Placement::V2(root) = self.hierarchy.placement(w.controller)? {
                if !enabled.contains(&w.controller) {
                    self.enable_v2(root, w.controller, false)?;
                    enabled.push(w.controller);
                }
            }
        }
        let write_one = |w: &crate::resources::FileWrite| -> Result<()> {
            let file = self.dir_of(w.controller)?.join(&w.file);
            match write_file(&file, &w.value) {
                // The kernel lists a controller in `cgroup.subtree_control`
                // as soon as another process starts enabling it, before
                // it has created the files of every child (the read takes
                // no lock; the enabling holds cgroup_mutex throughout).
                // Enabling it ourselves waits for that one to finish.
                Err(Error::Write {
                    errno: Errno::ENOENT,
                    ..
                }) if enabled.contains(&w.controller) => {
                    if let Placement::V2(root) = self.hierarchy.placement(w.controller)? {
                        self.enable_v2(root, w.controller, true)?;
                    }
                    write_file(&file, &w.value)
                }
                // A v1 cpuset must hold each child's CPUs and nodes (the
                // kernel's `validate_change` answers EBUSY): narrowing a
                // parent narrows its children first.
                Err(Error::Write {
                    errno: Errno::EBUSY,
                    ..
                }) if is_v1_cpuset_list(&self.hierarchy, w) => {
                    let ids = crate::resources::parse_id_list(&w.value).map_err(|reason| {
                        Error::InvalidValue {
                            field: "cpuset list",
                            value: w.value.clone(),
                            reason,
                        }
                    })?;
                    narrow_cpuset_children(self.dir_of(w.controller)?, &w.file, &ids)?;
                    write_file(&file, &w.value)
                }
                other => other,
            }
        };
        // Files the kernel checks against each other come out of the plan
        // side by side (see `dependent_set`). Whichever order suits a
        // raise refuses the same change downwards (runc #3084), so a write
        // refused with EINVAL waits for the rest of its set and is tried
        // again, until the set is written or a round makes no progress.
        let mut i = 0;
        while i < writes.len() {
            let set = crate::resources::dependent_set(&writes[i].file);
            let mut end = i + 1;
            while set.is_some()
                && end < writes.len()
                && crate::resources::dependent_set(&writes[end].file) == set
            {
                end += 1;
            }
            if end - i == 1 {
                // A file on its own (the common case): no retry bookkeeping.
                write_one(&writes[i])?;
                i = end;
                continue;
            }
            let mut pending: Vec<&crate::resources::FileWrite> = writes[i..end].iter().collect();
            while !pending.is_empty() {
                let mut refused = None;
                let before = pending.len();
                let mut left = Vec::new();
                for w in pending {
                    match write_one(w) {
                        Ok(()) => {}
                        Err(
                            e @ Error::Write {
                                errno: Errno::EINVAL,
                                ..
                            },
                        ) => {
                            refused.get_or_insert(e);
                            left.push(w);
                        }
                        Err(e) => return Err(e),
                    }
                }
                if let Some(e) = refused.filter(|_| left.len() == before) {
                    return Err(e);
                }
                pending = left;
            }
            i = end;
        }
        Ok(())
    }

    /// Puts the ordered device rules in force (OCI
    /// `linux.resources.devices` semantics, see [`crate::devices`]) on
    /// every directory of this group that can enforce them:
    ///
    /// - the v1 `devices` directory: the `devices.deny` / `devices.allow`
    ///   writes that move its current `devices.list` to the rules (a fresh
    ///   group goes from allow-all straight to deny-all, then gains its
    ///   allows; an update between deny-by-default lists writes only the
    ///   difference, removals first);
    /// - the cgroup2 directory (pure v2, and hybrid hosts too: the kernel
    ///   consults both): a `BPF_PROG_TYPE_CGROUP_DEVICE` program, attached
    ///   with `BPF_F_ALLOW_MULTI` before the previous palisade program is
    ///   detached, so no access is allowed that the old or the new rules
    ///   deny.
    ///
    /// Rules are validated before any write ([`Error::InvalidValue`]);
    /// `ControllerMissing` when the group has neither directory; a refused
    /// write is [`Error::Write`], a refused `bpf(2)` command
    /// [`Error::Bpf`] / [`Error::BpfVerifier`]. Needs `CAP_SYS_ADMIN`.
    ///
    /// ```no_run
    /// use palisade_cgroup::{Cgroup, DeviceRule, Resources};
    /// let rules = Resources::new().devices(DeviceRule::docker_default());
    /// let cg = Cgroup::create_for("palisade/dev-demo", &rules)?;
    /// cg.set_devices(&rules.devices)?;
    /// println!("{:?}", cg.devices_in_force()?);
    /// # Ok::<(), palisade_cgroup::Error>(())
    /// ```
    pub fn set_devices(&self, rules: &[DeviceRule]) -> Result<()> {
        let target = Policy::from_rules(rules)?;
        let v1 = self.v1_dir(Controller::Devices);
        let v2 = self.v2_dir();
        if v1.is_none() && v2.is_none() {
            return Err(Error::ControllerMissing {
                controller: "devices",
            });
        }
        if let Some(dir) = v1 {
            let current = Policy::from_list(&self.v1_device_list(dir)?)?;
            for rule in current.transition(&target) {
                let file = if rule.allow {
                    "devices.allow"
                } else {
                    "devices.deny"
                };
                write_file(&dir.join(file), &rule.to_string())?;
            }
        }
        if let Some(dir) = v2 {
            let program = DeviceProgram::from_policy(&target);
            let fd = self.dirfd()?;
            bpf::replace(std::os::fd::AsFd::as_fd(&fd), dir, &program)?;
        }
        Ok(())
    }

    /// What the kernel holds for this group: the v1 `devices.list` and the
    /// ids of the device programs attached to the cgroup2 directory
    /// (`BPF_PROG_QUERY`; `bpftool cgroup list <dir>` shows the same).
    ///
    /// ```no_run
    /// # let cg = palisade_cgroup::Cgroup::open("palisade/dev-demo")?;
    /// let now = cg.devices_in_force()?;
    /// assert_eq!(now.v2_programs.map(|p| p.len()), Some(1));
    /// # Ok::<(), palisade_cgroup::Error>(())
    /// ```
    pub fn devices_in_force(&self) -> Result<DevicesInForce> {
        let v1 = match self.v1_dir(Controller::Devices) {
            Some(dir) => Some(self.v1_device_list(dir)?),
            None => None,
        };
        let v2_programs = match self.v2_dir() {
            Some(dir) => {
                let fd = self.dirfd()?;
                Some(bpf::query(std::os::fd::AsFd::as_fd(&fd), dir)?)
            }
            None => None,
        };
        Ok(DevicesInForce { v1, v2_programs })
    }

    fn v1_device_list(&self, dir: &Path) -> Result<Vec<DeviceRule>> {
        let file = dir.join("devices.list");
        let text = std::fs::read_to_string(&file).map_err(|e| Error::io("read", &file, e))?;
        crate::parse_devices_list(&text).map_err(|e| Error::Parse {
            file,
            reason: e.to_string(),
        })
    }

    /// Detaches palisade's device programs from the cgroup2 directory, once
    /// nothing runs in the group (a running task must never be left
    /// without its device policy). A missing directory has none.
    fn detach_device_programs(&self) -> Result<()> {
        let Some(dir) = self.v2_dir() else {
            return Ok(());
        };
        let fd = match self.dirfd() {
            Ok(fd) => fd,
            Err(Error::Io {
                errno: Errno::ENOENT,
                ..
            }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let fd = std::os::fd::AsFd::as_fd(&fd);
        if bpf::query(fd, dir)?.is_empty() {
            return Ok(());
        }
        if self.populated()? {
            self.kill_and_wait()?;
        }
        bpf::detach_ours(fd, dir)?;
        Ok(())
    }

    /// Enables `controller` for this cgroup in every ancestor's
    /// `cgroup.subtree_control`; where it is listed already only if
    /// `always` (to wait for a concurrent enabling to finish).
    fn enable_v2(&self, root: &Path, controller: Controller, always: bool) -> Result<()> {
        let Some(name) = controller.v2_name() else {
            return Ok(());
        };
        // Enable in the root and in every ancestor, never in the leaf
        // itself: the leaf holds processes (no-internal-process rule).
        let mut dirs = vec![root.to_owned()];
        let prefixes: Vec<&str> = self.path.prefixes().collect();
        dirs.extend(prefixes[..prefixes.len() - 1].iter().map(|p| root.join(p)));
        for dir in dirs {
            let file = dir.join("cgroup.subtree_control");
            let current =
                std::fs::read_to_string(&file).map_err(|e| Error::io("read", &file, e))?;
            if always || !current.split_whitespace().any(|c| c == name) {
                write_file(&file, &format!("+{name}"))?;
            }
        }
        Ok(())
    }

    /// Current usage: memory, OOM counters, pids, CPU time and throttling,
    /// block I/O bytes — read from whichever hierarchy holds each
    /// controller, into one struct on every layout.
    ///
    /// ```no_run
    /// # let cg = palisade_cgroup::Cgroup::open("palisade/demo")?;
    /// let before = cg.stats()?;
    /// std::thread::sleep(std::time::Duration::from_secs(1));
    /// let after = cg.stats()?;
    /// let pct = palisade_cgroup::Stats::cpu_percent(&before, &after, std::time::Duration::from_secs(1));
    /// println!("cpu {pct:?} %, memory {:?} bytes", after.memory_current);
    /// # Ok::<(), palisade_cgroup::Error>(())
    /// ```
    pub fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        if let Ok(dir) = self.dir_of(Controller::Memory) {
            let v2 = Some(dir) == self.v2_dir();
            // On cgroup2 the files exist only once a parent enabled the
            // controller for us (apply does); absent files are `None`.
            if v2 {
                s.memory_current = read_u64(&dir.join("memory.current"))?;
                s.memory_peak = read_u64(&dir.join("memory.peak"))?;
            } else {
                s.memory_current = read_u64(&dir.join("memory.usage_in_bytes"))?;
                s.memory_peak = read_u64(&dir.join("memory.max_usage_in_bytes"))?;
            }
            if s.memory_current.is_some() {
                let events = self.memory_events()?;
                s.oom_kills = Some(events.oom_kill);
                s.memory_events = Some(events);
            }
        }
        if let Ok(dir) = self.dir_of(Controller::Pids) {
            s.pids_current = read_u64(&dir.join("pids.current"))?;
            s.pids_limit = read_u64(&dir.join("pids.max"))?;
        }
        self.cpu_stats(&mut s)?;
        self.io_stats(&mut s)?;
        Ok(s)
    }

    fn cpu_stats(&self, s: &mut Stats) -> Result<()> {
        let read = |path: PathBuf| std::fs::read_to_string(path).ok();
        if let Some(dir) = self.v1_dir(Controller::Cpuacct) {
            s.cpu_usage_usec = read_u64(&dir.join("cpuacct.usage"))?.map(|ns| ns / 1000);
            if let Some(text) = read(dir.join("cpuacct.stat")) {
                // USER_HZ ticks.
                // SAFETY: sysconf has no memory effects.
                let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
                let usec = |k| crate::flat_key(&text, k).map(|t| t * 1_000_000 / hz);
                s.cpu_user_usec = usec("user");
                s.cpu_system_usec = usec("system");
            }
        }
        match self.dir_of(Controller::Cpu) {
            Ok(dir) if Some(dir) == self.v2_dir() => {}
            Ok(dir) => {
                if let Some(text) = read(dir.join("cpu.stat")) {
                    s.cpu_nr_periods = crate::flat_key(&text, "nr_periods");
                    s.cpu_nr_throttled = crate::flat_key(&text, "nr_throttled");
                    s.cpu_throttled_usec =
                        crate::flat_key(&text, "throttled_time").map(|ns| ns / 1000);
                }
            }
            Err(_) => {}
        }
        // cgroup2's cpu.stat always has the usage lines; the throttling
        // lines appear once the cpu controller is enabled for the group.
        if let Some(text) = self.v2_dir().and_then(|d| read(d.join("cpu.stat"))) {
            let k = |key| crate::flat_key(&text, key);
            if s.cpu_usage_usec.is_none() {
                s.cpu_usage_usec = k("usage_usec");
                s.cpu_user_usec = k("user_usec");
                s.cpu_system_usec = k("system_usec");
            }
            if s.cpu_nr_periods.is_none() {
                s.cpu_nr_periods = k("nr_periods");
                s.cpu_nr_throttled = k("nr_throttled");
                s.cpu_throttled_usec = k("throttled_usec");
            }
        }
        Ok(())
    }

    fn io_stats(&self, s: &mut Stats) -> Result<()> {
        let Ok(dir) = self.dir_of(Controller::Io) else {
            return Ok(());
        };
        let (file, v2) = if Some(dir) == self.v2_dir() {
            (dir.join("io.stat"), true)
        } else {
            (dir.join("blkio.throttle.io_service_bytes_recursive"), false)
        };
        if let Ok(text) = std::fs::read_to_string(&file) {
            let (r, w) = if v2 {
                crate::parse_io_stat_bytes(&text)
            } else {
                crate::parse_blkio_bytes(&text)
            };
            s.io_read_bytes = Some(r);
            s.io_write_bytes = Some(w);
        }
        Ok(())
    }

    /// Memory event counters (`memory.events` on v2, `memory.oom_control`
    /// on v1, where only `oom_kill` and `oom` — under_oom — exist).
    pub fn memory_events(&self) -> Result<MemoryEvents> {
        let dir = self.dir_of(Controller::Memory)?;
        if Some(dir) == self.v2_dir() {
            let path = dir.join("memory.events");
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
            Ok(parse_memory_events(&text))
        } else {
            let path = dir.join("memory.oom_control");
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
            Ok(MemoryEvents {
                oom: crate::flat_key(&text, "under_oom").unwrap_or(0),
                oom_kill: crate::flat_key(&text, "oom_kill").unwrap_or(0),
                ..MemoryEvents::default()
            })
        }
    }

    /// Pressure stall information (cgroup2 only).
    pub fn pressure(&self, kind: PressureKind) -> Result<Pressure> {
        let dir = self.v2_dir().ok_or(Error::Unsupported {
            what: "pressure stall information",
            version: "v1",
        })?;
        let file = dir.join(match kind {
            PressureKind::Cpu => "cpu.pressure",
            PressureKind::Memory => "memory.pressure",
            PressureKind::Io => "io.pressure",
        });
        let text = std::fs::read_to_string(&file).map_err(|e| Error::io("read", &file, e))?;
        parse_pressure(&text).map_err(|reason| Error::Parse { file, reason })
    }

    /// Freezes every process, returning once the kernel reports the group
    /// frozen (`frozen 1` in `cgroup.events`, or v1 `FROZEN`).
    pub fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }

    /// Thaws the group.
    pub fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        if let Some(dir) = self.v2_dir().filter(|d| d.join("cgroup.freeze").exists()) {
            write_file(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
            let events = dir.join("cgroup.events");
            let want = if frozen { Some(1) } else { Some(0) };
            return wait_until(dir, if frozen { "freeze" } else { "thaw" }, || {
                let text =
                    std::fs::read_to_string(&events).map_err(|e| Error::io("read", &events, e))?;
                Ok(crate::flat_key(&text, "frozen") == want)
            });
        }
        let dir = self
            .v1_dir(Controller::Freezer)
            .ok_or(Error::ControllerMissing {
                controller: "freezer",
            })?;
        let state = dir.join("freezer.state");
        let want = if frozen { "FROZEN" } else { "THAWED" };
        write_file(&state, want)?;
        wait_until(dir, if frozen { "freeze" } else { "thaw" }, || {
            let text = std::fs::read_to_string(&state).map_err(|e| Error::io("read", &state, e))?;
            Ok(text.trim() == want)
        })
    }

    /// Kills every process of the group and its descendants: `cgroup.kill`
    /// where the kernel has it (5.14), else freeze, SIGKILL each, thaw.
    pub fn kill(&self) -> Result<()> {
        if let Some(dir) = self.v2_dir() {
            let file = dir.join("cgroup.kill");
            if file.exists() {
                return write_file(&file, "1");
            }
        }
        let frozen = self.freeze().is_ok();
        for d in &self.dirs {
            for pid in read_pids_recursive(&d.dir)? {
                // SAFETY: kill with a pid read from the group.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if frozen {
            self.thaw()?;
        }
        Ok(())
    }

    /// Limits how deep the subtree below this group may grow
    /// (`cgroup.max.depth`; `None` = `max`). cgroup2 only — the tree a
    /// container with a delegated cgroup may build.
    ///
    /// ```no_run
    /// # let cg = palisade_cgroup::Cgroup::open("palisade/demo")?;
    /// cg.set_max_depth(Some(2))?;
    /// cg.set_max_descendants(Some(16))?;
    /// # Ok::<(), palisade_cgroup::Error>(())
    /// ```
    pub fn set_max_depth(&self, depth: Option<u32>) -> Result<()> {
        self.write_v2_limit("cgroup.max.depth", depth)
    }

    /// Limits how many groups may exist below this one
    /// (`cgroup.max.descendants`; `None` = `max`). cgroup2 only.
    pub fn set_max_descendants(&self, count: Option<u32>) -> Result<()> {
        self.write_v2_limit("cgroup.max.descendants", count)
    }

    fn write_v2_limit(&self, file: &'static str, value: Option<u32>) -> Result<()> {
        let dir = self.v2_dir().ok_or(Error::Unsupported {
            what: file,
            version: "v1",
        })?;
        let value = value.map_or_else(|| "max".to_owned(), |v| v.to_string());
        write_file(&dir.join(file), &value)
    }

    /// Kills what runs in it, waits until it is empty, and removes its
    /// directories bottom-up in every hierarchy (children first), plus the
    /// parents this handle created. Retries EBUSY a bounded number of times.
    ///
    /// palisade's device programs are detached from the cgroup2 directory
    /// first (after the group is empty), so they are freed at once rather
    /// than whenever the kernel releases the removed group.
    ///
    /// A group of the systemd driver is killed and emptied, then its unit
    /// stopped (`StopUnit`, waiting for the job; systemd removes the
    /// directories); [`Error::Systemd`] if the job fails, and
    /// [`Error::Timeout`] if a directory is still there afterwards.
    pub fn delete(self) -> Result<()> {
        #[cfg(feature = "systemd")]
        if let Some(scope) = self.scope.clone() {
            if self.populated()? {
                self.kill_and_wait()?;
            }
            match self.detach_device_programs() {
                // A rootless scope (the user manager's): without privilege
                // no device program can have been attached, nor queried.
                // ENOENT: systemd already collected the emptied scope (it
                // does so by itself once its last process is gone), and
                // its programs went with the group.
                Err(Error::Bpf {
                    errno: Errno::EPERM | Errno::ENOENT,
                    ..
                }) => {}
                r => r?,
            }
            scope.stop()?;
            let dirs = self.dirs.clone();
            return wait_until(&self.dirs[0].dir, "removal by systemd", || {
                Ok(dirs.iter().all(|d| !d.dir.exists()))
            });
        }
        self.detach_device_programs()?;
        // Fast path, the usual case: an empty leaf goes with one rmdir per
        // hierarchy. Only a busy group (tasks or child groups) is inspected.
        let mut busy = false;
        for d in &self.dirs {
            match std::fs::remove_dir(&d.dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => {
                    busy = true;
                }
                Err(e) => return Err(Error::io("rmdir", &d.dir, e)),
            }
        }
        if !busy {
            return self.remove_created();
        }
        if self.populated()? {
            self.kill_and_wait()?;
        }
        for d in &self.dirs {
            rmdir_tree(&d.dir)?;
        }
        self.remove_created()
    }

    /// Kills every process and waits until every directory is empty.
    fn kill_and_wait(&self) -> Result<()> {
        self.kill()?;
        let dirs = self.dirs.clone();
        wait_until(&self.dirs[0].dir, "emptying", || {
            for d in &dirs {
                if d.dir.exists() && !read_pids_recursive(&d.dir)?.is_empty() {
                    return Ok(false);
                }
            }
            Ok(true)
        })
    }

    /// Does anything run in it or below? One read of `cgroup.events` on
    /// cgroup2 (it tracks every process, even on hybrid hosts); otherwise
    /// the v1 `cgroup.procs` files.
    pub(crate) fn populated(&self) -> Result<bool> {
        if let Some(dir) = self.v2_dir() {
            let events = dir.join("cgroup.events");
            if let Ok(text) = std::fs::read_to_string(&events) {
                return Ok(crate::flat_key(&text, "populated") != Some(0));
            }
        }
        for d in &self.dirs {
            if d.dir.exists() && !read_pids_recursive(&d.dir)?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn remove_created(&self) -> Result<()> {
        for d in &self.dirs {
            // The leaf itself is gone by now.
            for dir in d.created.iter().rev().filter(|c| **c != d.dir) {
                match std::fs::remove_dir(dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    // A parent another cgroup also uses stays.
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EBUSY)) => {
                        break;
                    }
                    Err(e) => return Err(Error::io("rmdir", dir, e)),
                }
            }
        }
        Ok(())
    }
}

/// Is `w` a v1 `cpuset.cpus` / `cpuset.mems` write?
fn is_v1_cpuset_list(hierarchy: &Hierarchy, w: &crate::resources::FileWrite) -> bool {
    w.controller == Controller::Cpuset
        && matches!(w.file.as_str(), "cpuset.cpus" | "cpuset.mems")
        && matches!(
            hierarchy.placement(Controller::Cpuset),
            Ok(Placement::V1(_))
        )
}

/// Narrows every child group of the v1 cpuset `dir` to what it keeps of
/// `ids` in `file` (`cpuset.cpus` or `cpuset.mems`), deepest groups first,
/// so that `dir` can then be narrowed to `ids` (cgroup v1 keeps each child
/// within its parent; cgroup2 needs none of this, its `.effective` files
/// follow the parent). A child left with nothing while it holds tasks is
/// refused by the kernel (`ENOSPC`), reported as [`Error::Write`] on that
/// child's file. The children are inside a group this handle manages.
fn narrow_cpuset_children(dir: &Path, file: &str, ids: &[u32]) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("read_dir", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read_dir", dir, e))?;
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let child = entry.path();
        let own = child.join(file);
        let text = std::fs::read_to_string(&own).map_err(|e| Error::io("read", &own, e))?;
        let current =
            crate::resources::parse_id_list(&text).map_err(|reason| Error::InvalidValue {
                field: "cpuset list",
                value: text.trim().to_owned(),
                reason,
            })?;
        let kept: Vec<u32> = current
            .iter()
            .copied()
            .filter(|id| ids.binary_search(id).is_ok())
            .collect();
        narrow_cpuset_children(&child, file, &kept)?;
        if kept != current {
            // An empty list still needs a write(2): a newline.
            let list = crate::resources::format_id_list(&kept);
            write_file(&own, if list.is_empty() { "\n" } else { &list })?;
        }
    }
    Ok(())
}

/// A v1 cpuset starts empty; a task cannot join it until `cpus` and `mems`
/// are set. Copy the parent's, as `cgroup.clone_children` would.
fn inherit_cpuset(dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = dir.join(file);
        let current = std::fs::read_to_string(&own).map_err(|e| Error::io("read", &own, e))?;
        if current.trim().is_empty() {
            let from = parent.join(file);
            let value = std::fs::read_to_string(&from).map_err(|e| Error::io("read", &from, e))?;
            write_file(&own, value.trim())?;
        }
    }
    Ok(())
}

fn rmdir_tree(dir: &Path) -> Result<()> {
    // Usually a leaf: one rmdir. Only a busy directory is listed for
    // child cgroups to remove first.
    match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
        Err(e) => return Err(Error::io("rmdir", dir, e)),
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read_dir", dir, e)),
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            rmdir_tree(&entry.path())?;
        }
    }
    let mut delay = Duration::from_millis(1);
    for _ in 0..50 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            // The last task is exiting: the kernel frees the group shortly.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(Error::io("rmdir", dir, e)),
        }
    }
    Err(Error::Io {
        op: "rmdir (still busy after retries)",
        path: dir.to_owned(),
        errno: Errno::EBUSY,
    })
}

fn wait_until(
    dir: &Path,
    what: &'static str,
    mut done: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let start = Instant::now();
    let mut delay = Duration::from_micros(100);
    loop {
        if done()? {
            return Ok(());
        }
        if start.elapsed() > SETTLE_TIMEOUT {
            return Err(Error::Timeout {
                what,
                path: dir.to_owned(),
                millis: SETTLE_TIMEOUT.as_millis() as u64,
            });
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    }
}

fn read_pids(file: &Path) -> Result<Vec<i32>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", file, e)),
    };
    Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

fn read_pids_recursive(dir: &Path) -> Result<Vec<i32>> {
    let mut pids = read_pids(&dir.join("cgroup.procs"))?;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pids.extend(read_pids_recursive(&entry.path())?);
            }
        }
    }
    Ok(pids)
}

/// Writes `value` to an existing cgroupfs file in one `write`.
pub(crate) fn write_file(file: &Path, value: &str) -> Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| Error::Write {
            file: file.to_owned(),
            value: value.to_owned(),
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })
}
