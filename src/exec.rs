//! A new process inside a running container (`docker exec`).

use palisade_caps::CapState;
use palisade_cgroup::Cgroup;
use palisade_ns::{Namespace, NsKind, NsKinds, PidFd};

use crate::config::{Container, Network, Stdio};
use crate::{Child, SpawnError, Step};

/// What to run inside a running container, and how. Unset, everything is
/// the container's, read from its first process through the kernel: the
/// environment (`/proc/<pid>/environ`), the user (its uid and gid, mapped
/// into its user namespace), its capability bounding set as the
/// capabilities, and `no_new_privs`. The working directory defaults to
/// `/`.
///
/// The new process joins every namespace of the container that differs
/// from the caller's — the user namespace first, the pid namespace before
/// the fork so the process itself is inside it — its cgroup
/// (`CLONE_INTO_CGROUP` on cgroup2, its own `tasks` write on v1) and its root,
/// and starts through palisade-init like the first process.
///
/// ```no_run
/// use palisade::{Container, Exec, Stdio};
/// let child = Container::new("/bin/sleep").args(["60"]).rootfs("/srv/busybox").spawn()?;
/// let mut ps = child.exec(Exec::new("/bin/ps").stdout(Stdio::Piped))?;
/// let status = ps.wait()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Exec {
    program: String,
    args: Vec<String>,
    env: Option<Vec<(String, String)>>,
    cwd: Option<String>,
    user: Option<(u32, u32)>,
    capabilities: Option<palisade_caps::CapSet>,
    no_new_privs: Option<bool>,
    stdio: [Stdio; 3],
    terminal: Option<(u16, u16)>,
    pass_fds: Vec<(std::os::fd::OwnedFd, i32)>,
}

impl Exec {
    /// Runs `program` (a path inside the container).
    pub fn new(program: impl Into<String>) -> Exec {
        Exec {
            program: program.into(),
            ..Exec::default()
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

    /// Sets a variable (the container's environment is the base).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env
            .get_or_insert_with(Vec::new)
            .push((key.to_owned(), value.to_owned()));
        self
    }

    /// Working directory inside the container (default `/`).
    pub fn cwd(mut self, dir: &str) -> Self {
        self.cwd = Some(dir.to_owned());
        self
    }

    /// User and group inside the container.
    pub fn user(mut self, uid: u32, gid: u32) -> Self {
        self.user = Some((uid, gid));
        self
    }

    /// Capabilities (default: the container's bounding set).
    pub fn capabilities(mut self, caps: palisade_caps::CapSet) -> Self {
        self.capabilities = Some(caps);
        self
    }

    /// `no_new_privs` (default: the container's).
    pub fn no_new_privs(mut self, yes: bool) -> Self {
        self.no_new_privs = Some(yes);
        self
    }

    /// Standard input.
    pub fn stdin(mut self, s: Stdio) -> Self {
        self.stdio[0] = s;
        self
    }

    /// Standard output.
    pub fn stdout(mut self, s: Stdio) -> Self {
        self.stdio[1] = s;
        self
    }

    /// Standard error.
    pub fn stderr(mut self, s: Stdio) -> Self {
        self.stdio[2] = s;
        self
    }

    /// A pseudo-terminal from the container's devpts as the process's
    /// 0/1/2 and controlling terminal (`docker exec -t`); the master is
    /// the returned [`Child::pty`]. See [`Container::terminal`].
    pub fn terminal(mut self, rows: u16, cols: u16) -> Self {
        self.terminal = Some((rows, cols));
        self
    }

    /// Gives the process `fd` as fd `number` (runc's `exec --preserve-fds`,
    /// socket activation), as [`Container::pass_fd`] does for a first
    /// process: `dup2`'d there just before `execve`, every fd not passed
    /// still closed. `number` must be 3 or more and not passed twice, else
    /// a `Validate` error.
    ///
    /// ```no_run
    /// use palisade::{Container, Exec};
    /// let child = Container::new("/bin/sleep").args(["60"]).rootfs("/srv/busybox").spawn()?;
    /// let log = std::fs::File::create("/tmp/exec.log")?;
    /// child.exec(Exec::new("/bin/sh").args(["-c", "echo hi >&3"]).pass_fd(log.into(), 3))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pass_fd(mut self, fd: std::os::fd::OwnedFd, number: i32) -> Self {
        self.pass_fds.push((fd, number));
        self
    }
}

fn read_proc(pid: i32, file: &str) -> Result<String, SpawnError> {
    std::fs::read(format!("/proc/{pid}/{file}"))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| {
            SpawnError::new(
                Step::Validate,
                e.raw_os_error().map(nix::errno::Errno::from_raw),
                format!("/proc/{pid}/{file} of the container"),
            )
        })
}

/// `host` id seen through a uid_map/gid_map text: the id inside.
fn inner_id(map: &str, host: u32) -> Option<u32> {
    map.lines().find_map(|l| {
        let v: Vec<u64> = l
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let (inside, outside, count) = (*v.first()?, *v.get(1)?, *v.get(2)?);
        let h = host as u64;
        (h >= outside && h < outside + count).then(|| (inside + h - outside) as u32)
    })
}

/// The effective id from a `Uid:`/`Gid:` line of `/proc/<pid>/status`.
fn status_id(status: &str, key: &str) -> Option<u32> {
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}

/// Runs `exec` inside the container whose first process is `pid`.
///
/// Its namespaces come through the pidfd (`PIDFD_GET_*_NAMESPACE`, no pid
/// reuse possible) and are compared with those the spawner thread's clone
/// would inherit, read once per process (an open of
/// `/proc/thread-self/ns/*` per kind per exec measured ~10 µs each). One
/// read of `/proc/<pid>/status` gives the ids, `NoNewPrivs` and the
/// capabilities; the id maps are read only when the user namespace
/// differs; the pidfd then confirms the pid still names that process.
pub(crate) fn exec_into(
    pid: i32,
    pidfd: &PidFd,
    cgroup: Option<&Cgroup>,
    exec: Exec,
) -> Result<Child, SpawnError> {
    // Every namespace that differs from ours; the user namespace first.
    let order = [
        NsKind::User,
        NsKind::Mnt,
        NsKind::Uts,
        NsKind::Ipc,
        NsKind::Net,
        NsKind::Cgroup,
        NsKind::Time,
        NsKind::Pid,
    ];
    let ours = crate::spawner::namespace_ids();
    let mut joins = Vec::new();
    for kind in order {
        let theirs = Namespace::of_pidfd(pidfd, kind).map_err(|e| {
            let errno = e.errno();
            SpawnError::new(
                Step::JoinNamespace,
                errno,
                format!("{kind:?} namespace of pid {pid}: {e}"),
            )
        })?;
        let slot = NsKind::ALL.iter().position(|k| *k == kind);
        let same = match (slot.and_then(|i| ours[i]), theirs.id()) {
            (Some(o), Ok(t)) => o == t,
            _ => false,
        };
        if !same {
            joins.push(theirs);
        }
    }
    let own_userns = !joins.iter().any(|n| n.kind() == NsKind::User);

    let status = read_proc(pid, "status")?;
    let (uid, gid) = match exec.user {
        Some(ids) => ids,
        None => {
            let uid = status_id(&status, "Uid:").unwrap_or(0);
            let gid = status_id(&status, "Gid:").unwrap_or(0);
            if own_userns {
                (uid, gid)
            } else {
                let map = |f| read_proc(pid, f).ok();
                (
                    map("uid_map")
                        .and_then(|m| inner_id(&m, uid))
                        .unwrap_or(uid),
                    map("gid_map")
                        .and_then(|m| inner_id(&m, gid))
                        .unwrap_or(gid),
                )
            }
        }
    };
    let target_caps = CapState::parse_status(status.as_bytes())
        .map_err(|e| SpawnError::from_lib(Step::Validate, e, None))?;
    let nnp = status
        .lines()
        .find(|l| l.starts_with("NoNewPrivs:"))
        .is_some_and(|l| l.ends_with('1'));
    let env = environ(pid)?;
    // What /proc said was about the container's process, not a newcomer
    // that reused its pid.
    pidfd.send_signal(0).map_err(|e| {
        let errno = e.errno();
        SpawnError::new(
            Step::Validate,
            errno,
            format!("pid {pid}: the container's first process is gone"),
        )
    })?;
    let mut c = Container::new(exec.program);
    c.args = exec.args;
    c.env = match exec.env {
        Some(extra) => {
            let mut env = env;
            for (k, v) in extra {
                env.retain(|(ek, _)| *ek != k);
                env.push((k, v));
            }
            env
        }
        None => env,
    };
    c.cwd = exec.cwd.unwrap_or_else(|| "/".to_owned());
    c.namespaces = NsKinds::empty();
    c.network = Network::Host;
    c.dev = false;
    c.sys = false;
    c.masked_paths.clear();
    c.readonly_paths.clear();
    c.device_rules.clear();
    c.rootless = false;
    c.parent_death_signal = None;
    c.user = Some((uid, gid));
    c.capabilities = exec.capabilities.unwrap_or(target_caps.bounding);
    c.no_new_privs = exec.no_new_privs.unwrap_or(nnp);
    c.stdio = exec.stdio;
    c.terminal = exec.terminal;
    c.pass_fds = exec.pass_fds;
    // The pty comes from the container's devpts (its root is ours once
    // its mount namespace is joined); its /dev/console stays as it is.
    c.terminal_in_joined_root = true;
    c.exec_cgroup = cgroup.cloned();
    c.joins = joins;
    c.spawn()
}

/// The environment of the container's first process.
fn environ(pid: i32) -> Result<Vec<(String, String)>, SpawnError> {
    let text = read_proc(pid, "environ")?;
    Ok(text
        .split('\0')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_through_the_namespace() {
        let map = "         0     100000      65536\n";
        assert_eq!(inner_id(map, 100_000), Some(0));
        assert_eq!(inner_id(map, 101_000), Some(1000));
        assert_eq!(inner_id(map, 99), None);
        let status = "Uid:\t0\t100000\t100000\t100000\nGid:\t5\t6\t7\t8\n";
        assert_eq!(status_id(status, "Uid:"), Some(100_000));
        assert_eq!(status_id(status, "Gid:"), Some(6));
    }
}
