//! Detached containers: a serialisable [`ContainerState`] that another
//! process (a later CLI call, a restarted daemon) turns back into a handle
//! with [`Attached::attach`].

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use nix::errno::Errno;
use palisade_cgroup::{Cgroup, Controller, Stats};
use palisade_ns::PidFd;

use crate::{Error, SpawnError, Step};

/// What identifies a detached container and what it holds on the host.
/// Plain data (serde with the `serde` feature): store it as JSON and hand
/// it to [`Attached::attach`] in any process of the same host.
///
/// ```no_run
/// use palisade::{Attached, Container, Status};
/// let child = Container::new("/bin/sleep").args(["60"]).rootfs("/srv/busybox")
///     .parent_death_signal(None) // outlive this process
///     .spawn()?;
/// let state = child.detach()?;
/// // …later, maybe in another process:
/// let c = Attached::attach(state)?;
/// assert_eq!(c.status(), Status::Running);
/// c.cleanup()?; // kill everything, remove cgroup, network, mounts
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ContainerState {
    /// The first process, as a pid of the host's pid namespace.
    pub pid: i32,
    /// Its start time (clock ticks after boot, `/proc/<pid>/stat` field
    /// 22): with `pid`, an identity that pid reuse cannot fake.
    pub start_time: u64,
    /// Its cgroup path (relative to each hierarchy), if it has one.
    pub cgroup: Option<String>,
    /// The host end of its veth, if it has one.
    pub host_interface: Option<String>,
    /// The overlay root mounted on the host (only until the program
    /// starts).
    pub rootfs_mount: Option<PathBuf>,
    /// Set while the program has not started (see [`Created`](crate::Created)).
    pub created: Option<CreatedGate>,
}

/// How a detached starter releases a created container: fds of the
/// waiting process (taken with `pidfd_getfd`) and the identity of the
/// binary it runs until it execs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CreatedGate {
    /// Write end of the start pipe, in the waiting process.
    pub start_fd: i32,
    /// Read end of its report pipe, in the waiting process.
    pub report_fd: i32,
    /// Device and inode of the binary the waiting process still runs.
    pub exe_dev: u64,
    /// See `exe_dev`.
    pub exe_ino: u64,
    /// The program, for error messages.
    pub program: String,
}

/// A container's status, derived from the kernel (the runtime spec's
/// states, plus `Paused` for a frozen cgroup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Status {
    /// Created, the program not started.
    Created,
    /// The program runs.
    Running,
    /// Its cgroup is frozen.
    Paused,
    /// Its first process is gone (or its pid now names another process).
    Stopped,
}

/// `(state, start time)` of a live pid, from `/proc/<pid>/stat`.
pub(crate) fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces and parentheses: fields follow the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 22 overall is the 20th after the command (fields 3..).
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// A container attached from its [`ContainerState`].
#[derive(Debug)]
pub struct Attached {
    state: ContainerState,
    /// `None` when the process is gone or its pid was reused.
    pidfd: Option<PidFd>,
    cgroup: Option<Cgroup>,
}

impl Attached {
    /// Attaches: opens a pidfd for the first process and checks its start
    /// time (after opening, so the pidfd names the right process), and
    /// opens its cgroup. A stopped container attaches too (for cleanup).
    pub fn attach(state: ContainerState) -> Result<Attached, Error> {
        let pidfd = PidFd::open(state.pid)
            .ok()
            .filter(|_| proc_stat(state.pid).is_some_and(|(_, t)| t == state.start_time));
        let cgroup = match &state.cgroup {
            Some(path) => Cgroup::open(path).ok(),
            None => None,
        };
        Ok(Attached {
            state,
            pidfd,
            cgroup,
        })
    }

    /// The state it was attached from.
    pub fn state(&self) -> &ContainerState {
        &self.state
    }

    /// Its cgroup, if it has one still.
    pub fn cgroup(&self) -> Option<&Cgroup> {
        self.cgroup.as_ref()
    }

    /// The status, read from the kernel now.
    pub fn status(&self) -> Status {
        let Some(_) = &self.pidfd else {
            return Status::Stopped;
        };
        match proc_stat(self.state.pid) {
            Some((s, t)) if t == self.state.start_time && s != 'Z' && s != 'X' => {}
            _ => return Status::Stopped,
        }
        if let Some(gate) = &self.state.created {
            let same = std::fs::metadata(format!("/proc/{}/exe", self.state.pid))
                .is_ok_and(|m| m.dev() == gate.exe_dev && m.ino() == gate.exe_ino);
            if same {
                return Status::Created;
            }
        }
        if self.frozen() {
            return Status::Paused;
        }
        Status::Running
    }

    fn frozen(&self) -> bool {
        let Some(cg) = &self.cgroup else {
            return false;
        };
        if let Some(dir) = cg.v2_dir() {
            if let Ok(v) = std::fs::read_to_string(dir.join("cgroup.freeze")) {
                return v.trim() == "1";
            }
        }
        cg.v1_dir(Controller::Freezer)
            .and_then(|d| std::fs::read_to_string(d.join("freezer.state")).ok())
            .is_some_and(|v| v.trim() == "FROZEN")
    }

    fn pidfd(&self) -> Result<&PidFd, Error> {
        self.pidfd.as_ref().ok_or(Error::NotRunning {
            pid: self.state.pid,
        })
    }

    /// Runs a new process inside the container (see [`Exec`](crate::Exec)).
    pub fn exec(&self, exec: crate::Exec) -> Result<crate::Child, SpawnError> {
        match (&self.pidfd, self.status()) {
            (Some(pidfd), Status::Running) => {
                crate::exec::exec_into(self.state.pid, pidfd, self.cgroup.as_ref(), exec)
            }
            (_, status) => Err(SpawnError::invalid(format!(
                "container {} is {status:?}: exec needs a running container",
                self.state.pid
            ))),
        }
    }

    /// Sends a signal to the first process.
    pub fn kill(&self, signal: i32) -> Result<(), Error> {
        Ok(self.pidfd()?.send_signal(signal)?)
    }

    /// Kills every process of the container (`cgroup.kill`, or freeze,
    /// kill each, thaw), or the first process alone without a cgroup.
    pub fn kill_all(&self) -> Result<(), Error> {
        match &self.cgroup {
            Some(cg) => Ok(cg.kill()?),
            None => self.kill(libc::SIGKILL),
        }
    }

    /// Freezes every process of the container.
    pub fn freeze(&self) -> Result<(), Error> {
        Ok(self.cgroup.as_ref().ok_or(Error::NoCgroup)?.freeze()?)
    }

    /// Thaws it.
    pub fn thaw(&self) -> Result<(), Error> {
        Ok(self.cgroup.as_ref().ok_or(Error::NoCgroup)?.thaw()?)
    }

    /// Usage of its cgroup.
    pub fn stats(&self) -> Result<Stats, Error> {
        Ok(self.cgroup.as_ref().ok_or(Error::NoCgroup)?.stats()?)
    }

    /// Pids of its processes (the host's pid namespace), from its cgroup,
    /// or the first process alone without one.
    pub fn processes(&self) -> Result<Vec<i32>, Error> {
        match &self.cgroup {
            Some(cg) => Ok(cg.procs()?),
            None if self.status() != Status::Stopped => Ok(vec![self.state.pid]),
            None => Ok(Vec::new()),
        }
    }

    /// Starts a created container from any process: takes the waiting
    /// process's start and report pipes with `pidfd_getfd`, releases it
    /// and waits for the program's `execve` (a failure comes back as
    /// `SpawnError { step: Exec }`). Afterwards the state has no
    /// `created` gate and no host overlay mount.
    pub fn start(&mut self) -> Result<(), SpawnError> {
        if self.status() != Status::Created {
            return Err(SpawnError::invalid(format!(
                "container {} is not in the created state",
                self.state.pid
            )));
        }
        let gate = self
            .state
            .created
            .clone()
            .expect("created status has a gate");
        let pidfd = self.pidfd.as_ref().expect("created status has a pidfd");
        let take = |fd: i32, what: &str| -> Result<File, SpawnError> {
            // SAFETY: pidfd_getfd on a valid pidfd; the result is checked
            // and owned.
            let got = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
            if got < 0 {
                return Err(SpawnError::new(
                    Step::Sync,
                    Some(Errno::last()),
                    what.to_owned(),
                ));
            }
            // SAFETY: a fresh fd (close-on-exec, as pidfd_getfd makes it).
            Ok(File::from(unsafe { OwnedFd::from_raw_fd(got as i32) }))
        };
        let mut start = take(gate.start_fd, "pidfd_getfd of the start pipe")?;
        let mut report = take(gate.report_fd, "pidfd_getfd of the report pipe")?;
        start.write_all(&[1]).map_err(|e| {
            SpawnError::new(
                Step::Sync,
                e.raw_os_error().map(Errno::from_raw),
                "releasing the created container",
            )
        })?;
        drop(start);
        let mut rec = [0u8; crate::child::RECORD_LEN];
        let n = std::io::Read::read(&mut report, &mut rec).unwrap_or(0);
        if n == crate::child::RECORD_LEN {
            let errno = i32::from_ne_bytes([rec[4], rec[5], rec[6], rec[7]]);
            return Err(SpawnError::new(
                Step::Exec,
                Some(Errno::from_raw(errno)),
                format!("execve {}", gate.program),
            ));
        }
        self.state.created = None;
        if let Some(path) = self.state.rootfs_mount.take() {
            let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(&path);
        }
        Ok(())
    }

    /// Kills everything left and removes what the container holds on the
    /// host: its cgroup, the host end of its network, an overlay mount.
    /// The first process, if this process is not its parent, is reaped by
    /// its parent or by init (or a subreaper, see
    /// [`set_child_subreaper`](crate::set_child_subreaper)).
    pub fn cleanup(self) -> Result<(), Error> {
        let mut errors = Vec::new();
        if let Some(pidfd) = &self.pidfd {
            let _ = pidfd.send_signal(libc::SIGKILL);
        }
        if let Some(cg) = self.cgroup {
            if let Err(e) = cg.delete() {
                errors.push(e.to_string());
            }
        }
        if let Some(name) = &self.state.host_interface {
            if let Ok(mut nl) = palisade_netlink::Netlink::new() {
                match nl.delete_link(name) {
                    Ok(()) | Err(palisade_netlink::Error::NotFound { .. }) => {}
                    Err(e) => errors.push(e.to_string()),
                }
            }
        }
        if let Some(path) = &self.state.rootfs_mount {
            let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(path);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Cleanup(errors.join("; ")))
        }
    }
}

/// Makes the calling process a child subreaper (`PR_SET_CHILD_SUBREAPER`):
/// orphans below it — the first process of a container whose creator has
/// exited, say — are re-parented to it instead of init, so it can reap
/// them (`waitpid(-1)`). Meant for daemons that attach to containers
/// another process of theirs created.
pub fn set_child_subreaper() -> Result<(), Error> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(Error::Sys {
            op: "prctl(PR_SET_CHILD_SUBREAPER)",
            errno: Errno::last(),
        });
    }
    Ok(())
}
