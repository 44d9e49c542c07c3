//! Outsider attacks on the code added most recently: exec's second stage
//! (a process cloned into the container's pid namespace, sharing the
//! first child's memory), the v1 `tasks` fds the child joins its cgroups
//! through, and `no_pivot`. Root inside the container is the attacker;
//! every outcome is read back from the kernel on the host side. Root,
//! real kernel.

mod common;

use std::os::unix::fs::MetadataExt;

use common::{evil_rootfs, on, read_until_ready};
use palisade::{Exec, Stdio};
use palisade_testkit::{TempDir, require_root};

/// A static watcher for inside the container: it stops (SIGSTOP) the
/// first process that appears after it in its pid namespace and prints
/// what its /proc files show while it is stopped, then continues it.
const WATCHER: &str = r#"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static char buf[1 << 20];
static void dump(int pid, const char *f) {
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/%s", pid, f);
    int fd = open(p, O_RDONLY);
    if (fd < 0) { printf("%s! %d\n", f, errno); return; }
    int n, tot = 0;
    while ((n = read(fd, buf + tot, sizeof buf - 1 - tot)) > 0) tot += n;
    if (n < 0) printf("%s! %d\n", f, errno);
    buf[tot] = 0;
    close(fd);
    for (int i = 0; i < tot; i++) if (buf[i] == 0) buf[i] = ' ';
    for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) printf("%s| %s\n", f, l);
}
static void lnk(int pid, const char *f) {
    char p[64], t[4096];
    snprintf(p, sizeof p, "/proc/%d/%s", pid, f);
    ssize_t n = readlink(p, t, sizeof t - 1);
    if (n < 0) { printf("%s! %d\n", f, errno); return; }
    t[n] = 0;
    printf("%s| %s\n", f, t);
}
int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int self = getpid();
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        for (int pid = self + 1; pid < self + 64; pid++) {
            if (kill(pid, SIGSTOP) != 0) continue;
            printf("stopped %d\n", pid);
            dump(pid, "status");
            dump(pid, "cmdline");
            dump(pid, "environ");
            dump(pid, "mountinfo");
            dump(pid, "net/dev");
            dump(pid, "cgroup");
            lnk(pid, "root");
            lnk(pid, "cwd");
            lnk(pid, "exe");
            lnk(pid, "ns/mnt");
            char p[64];
            snprintf(p, sizeof p, "/proc/%d/fd", pid);
            DIR *d = opendir(p);
            if (!d) printf("fd! %d\n", errno);
            else {
                struct dirent *e;
                while ((e = readdir(d))) {
                    if (e->d_name[0] == '.') continue;
                    char f[64];
                    snprintf(f, sizeof f, "fd/%s", e->d_name);
                    lnk(pid, f);
                }
                closedir(d);
            }
            snprintf(p, sizeof p, "/proc/%d/root/etc/hostname", pid);
            int fd = open(p, O_RDONLY);
            printf("root-open %s\n", fd >= 0 ? "OK" : strerror(errno));
            printf("inspect\n");
            fflush(stdout);
            char go;
            read(0, &go, 1);
            kill(pid, SIGCONT);
            printf("done\n");
            fflush(stdout);
            while (read(0, &go, 1) > 0) {}
            return 0;
        }
    }
}
"#;

/// Reads `r` byte by byte until `marker` (a whole line); returns it all.
fn read_until(r: &mut impl std::io::Read, marker: &str) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while !out.ends_with(marker.as_bytes()) {
        match r.read(&mut b) {
            Ok(1) => out.push(b[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The host pid of the process whose pid in `first`'s pid namespace is
/// `inner`.
fn host_pid_of(first: i32, inner: &str) -> Option<i32> {
    let ns = std::fs::read_link(format!("/proc/{first}/ns/pid")).ok()?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let nspid = status.lines().find(|l| l.starts_with("NSpid:"))?;
        let last = nspid.split_whitespace().last()?;
        let same = std::fs::read_link(format!("/proc/{pid}/ns/pid_for_children")).ok()? == ns
            || std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()? == ns;
        (last == inner && same && pid != first).then_some(pid)
    })
}

/// Root in a container (no user namespace: same uid as the runtime) stops
/// an exec's second stage the moment it appears in its pid namespace and
/// reads its /proc files that need no ptrace rights. The stage must
/// already be in every namespace of the container: before the fix it was
/// still in the host's mount and network namespaces there, so the
/// container read the host's whole mount table (`mountinfo`) and the
/// host's links and sockets (`net/dev`, `net/tcp`, `net/unix`). Host side:
/// the stopped process's namespaces, read from /proc, are the container's.
#[test]
fn exec_second_stage_is_in_every_namespace_when_it_becomes_visible() {
    let Some(_root) = require_root("spawns containers") else {
        return;
    };
    let tmp = TempDir::new("attack-exec-window");
    let root = evil_rootfs(&tmp);
    common::static_c(WATCHER, &tmp.path().join("w.c"), &root.join("watch"));
    let me = std::fs::read_link("/proc/self/exe").unwrap();
    for attempt in 0.. {
        let mut first = on(&root, "exec /watch")
            .stdin(Stdio::Piped)
            .stdout(Stdio::Piped)
            .spawn()
            .unwrap();
        read_until_ready(&mut first);
        let mut stdout = first.stdout.take().unwrap();
        let mut stdin = first.stdin.take().unwrap();
        let first_pid = first.pid();
        let done = std::sync::atomic::AtomicBool::new(false);
        let (inside, host_view, rest, exec) = std::thread::scope(|s| {
            // Whatever goes wrong, the reads below end: a failed exec, or
            // 10 s, kills the container (its stdout then reaches EOF).
            s.spawn(|| {
                for _ in 0..200 {
                    if done.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                let _ = first.kill(libc::SIGKILL);
            });
            let h = s.spawn(|| {
                let r = first.exec(Exec::new("/bin/true")).map(|mut c| c.wait());
                if r.is_err() {
                    let _ = first.kill(libc::SIGKILL);
                }
                r
            });
            let inside = read_until(&mut stdout, "inspect\n");
            // Host side, while the stage is stopped: its exe (still the
            // host program's copy, or it was caught too late) and each of
            // its namespaces against the container's.
            let host_view = inside
                .lines()
                .find_map(|l| l.strip_prefix("stopped "))
                .and_then(|n| host_pid_of(first_pid, n))
                .map(|pid| {
                    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
                    let differ: Vec<&str> = ["mnt", "net", "uts", "ipc", "cgroup"]
                        .into_iter()
                        .filter(|k| {
                            let ns = |p: i32| std::fs::read_link(format!("/proc/{p}/ns/{k}")).ok();
                            ns(pid) != ns(first_pid)
                        })
                        .collect();
                    (exe, differ)
                });
            // Continue it (and, whatever happened, end the container so
            // the exec cannot hang).
            let _ = std::io::Write::write_all(&mut stdin, b"g");
            let rest = read_until(&mut stdout, "done\n");
            let exec = h.join().unwrap();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            (inside, host_view, rest, exec)
        });
        let _ = first.kill(libc::SIGKILL);
        let _ = first.wait();
        let Some((exe, differ)) = host_view else {
            // Nothing stopped (the watcher lost the race): try again.
            assert!(
                attempt < 5,
                "the watcher never stopped the stage (exec: {exec:?}):\n{inside}{rest}"
            );
            continue;
        };
        if exe.as_deref() != Some(me.as_path()) {
            // Caught after its execve: nothing learned, try again.
            assert!(attempt < 5, "never caught before execve: {exe:?}\n{inside}");
            continue;
        }
        assert!(
            differ.is_empty(),
            "the exec's second stage was visible in the container while still in the \
             host's {differ:?} namespaces; the container read:\n{inside}"
        );
        // What the container read is its own: no link but lo in its empty
        // network namespace, and no mount of the host's tree at `/`.
        let links: Vec<&str> = inside
            .lines()
            .filter_map(|l| l.strip_prefix("net/dev| "))
            .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim()))
            .filter(|n| !n.contains('|') && !n.is_empty())
            .collect();
        assert_eq!(links, ["lo"], "{inside}");
        let host_root = inside
            .lines()
            .filter_map(|l| l.strip_prefix("mountinfo| "))
            .any(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                f.get(3) == Some(&"/") && f.get(4) == Some(&"/")
            });
        assert!(
            !host_root,
            "the host's / in the stage's mountinfo:\n{inside}"
        );
        assert!(
            !inside.contains("root-open OK"),
            "/proc/<pid>/root opened:\n{inside}"
        );
        assert!(
            matches!(exec, Ok(Ok(palisade::ExitStatus::Exited(0)))),
            "{exec:?}"
        );
        break;
    }
}

/// The exec'd process holds no fd of the host: not the v1 `tasks` files
/// its second stage joined the cgroup through (written and closed before
/// anything else), not the spawn's pipes. Host side: every fd link of the
/// running exec'd process, and its cgroup in each hierarchy is the first
/// process's (the group the caller named, not one the image could pick).
#[test]
fn exec_holds_no_tasks_fd_and_joins_the_callers_group_in_every_hierarchy() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let cg = palisade_testkit::unique_name("attack-tasks");
    let (_root, ()) = root.assert_no_leaks(|| {
        let mut first = common::busybox("echo ready; exec sleep 60")
            .cgroup(&cg, palisade::Resources::new().pids_max(32))
            .cgroup_all_controllers(true)
            .stdout(Stdio::Piped)
            .spawn()
            .unwrap();
        read_until_ready(&mut first);
        let mut ex = first
            .exec(
                Exec::new("/bin/sh")
                    .args(["-c", "echo ready; exec sleep 60"])
                    .stdout(Stdio::Piped),
            )
            .unwrap();
        read_until_ready(&mut ex);
        let fds: Vec<(String, String)> = std::fs::read_dir(format!("/proc/{}/fd", ex.pid()))
            .unwrap()
            .flatten()
            .map(|e| {
                let to = std::fs::read_link(e.path()).unwrap_or_default();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    to.display().to_string(),
                )
            })
            .collect();
        let cgroups = |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let (ex_cg, first_cg) = (cgroups(ex.pid()), cgroups(first.pid()));
        ex.kill(libc::SIGKILL).unwrap();
        ex.wait().unwrap();
        first.kill(libc::SIGKILL).unwrap();
        first.wait().unwrap();
        let mut numbers: Vec<&str> = fds.iter().map(|(n, _)| n.as_str()).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, ["0", "1", "2"], "{fds:?}");
        assert!(
            !fds.iter()
                .any(|(_, to)| to.contains("cgroup") || to.contains("tasks")),
            "{fds:?}"
        );
        assert_eq!(ex_cg, first_cg);
        // Every controller line (each v1 hierarchy and cgroup2) names the
        // group; a named hierarchy (name=systemd) holds no controller.
        assert!(
            ex_cg
                .lines()
                .filter(|l| !l.contains(":name="))
                .all(|l| l.ends_with(&cg)),
            "{ex_cg}"
        );
    });
}

/// An exec into a `no_pivot` container (its root a mount moved onto the
/// namespace's `/`, entered by `setns`, not by `chroot`) lands in the
/// container's root, not in the old root beneath it: host side, its
/// `/proc/<pid>/root` is the first process's root directory (same device
/// and inode), and what it lists is the image.
#[test]
fn exec_into_a_no_pivot_container_lands_in_its_root() {
    let Some(_root) = require_root("spawns containers") else {
        return;
    };
    let tmp = TempDir::new("attack-nopivot-exec");
    let root = evil_rootfs(&tmp);
    let mut first = on(&root, "echo ready; exec sleep 60")
        .no_pivot(true)
        .stdout(Stdio::Piped)
        .spawn()
        .unwrap();
    read_until_ready(&mut first);
    let mut ex = first
        .exec(
            Exec::new("/bin/sh")
                .args(["-c", "cd ..; echo $(ls -a); echo ready; exec sleep 60"])
                .stdout(Stdio::Piped),
        )
        .unwrap();
    let out = read_until_ready(&mut ex);
    let id = |pid: i32| {
        std::fs::metadata(format!("/proc/{pid}/root/"))
            .map(|m| (m.dev(), m.ino()))
            .unwrap()
    };
    let (ex_root, first_root) = (id(ex.pid()), id(first.pid()));
    ex.kill(libc::SIGKILL).unwrap();
    ex.wait().unwrap();
    first.kill(libc::SIGKILL).unwrap();
    first.wait().unwrap();
    assert_eq!(
        ex_root, first_root,
        "the exec's root is not the container's"
    );
    let mut image: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .chain([".".to_owned(), "..".to_owned()])
        .collect();
    image.sort();
    let mut seen: Vec<String> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    seen.sort();
    assert_eq!(seen, image, "{out}");
}

/// An exec'd program that is a `#!/proc/self/exe` script (and one whose
/// path is an image link to `/proc/self/exe`) never runs the host
/// program: the interpreter found is palisade-init's sealed image. Were
/// it this test binary, `--list` would print its tests.
#[test]
fn exec_of_a_proc_self_exe_script_or_link_never_runs_the_host_program() {
    let Some(_root) = require_root("spawns containers") else {
        return;
    };
    let tmp = TempDir::new("attack-exec-shebang");
    let root = evil_rootfs(&tmp);
    std::fs::write(root.join("evil"), "#!/proc/self/exe --list\n").unwrap();
    std::fs::set_permissions(
        root.join("evil"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("/proc/self/exe", root.join("evil-link")).unwrap();
    let mut first = on(&root, "echo ready; exec sleep 60")
        .stdout(Stdio::Piped)
        .spawn()
        .unwrap();
    read_until_ready(&mut first);
    for program in ["/evil", "/evil-link"] {
        let r = first.exec(
            Exec::new(program)
                .args(["--list"])
                .stdout(Stdio::Piped)
                .stderr(Stdio::Piped),
        );
        if let Ok(mut c) = r {
            let mut out = String::new();
            let _ = std::io::Read::read_to_string(c.stdout.as_mut().unwrap(), &mut out);
            let status = c.wait().unwrap();
            assert!(
                !out.contains(": test"),
                "{program} ran the host program ({status}):\n{out}"
            );
        }
    }
    first.kill(libc::SIGKILL).unwrap();
    first.wait().unwrap();
}

/// A container's cgroup path that names a group already holding a host
/// process (a service's, another container's) is refused before anything
/// is made: deleting the container's group — after exit, or when a later
/// step fails — kills everything in it, so reusing it killed the host's
/// process and removed its group. Host side: the victim lives on in its
/// group, in every hierarchy.
#[test]
fn a_cgroup_already_holding_host_processes_is_refused_and_left_alone() {
    let Some(_root) = require_root("creates cgroups") else {
        return;
    };
    let hierarchy = palisade::cgroup::Hierarchy::detect().unwrap();
    let name = palisade_testkit::unique_name("attack-victim");
    let mut roots: Vec<std::path::PathBuf> = hierarchy
        .v1_mounts()
        .iter()
        .map(|(_, r)| r.clone())
        .chain(hierarchy.unified().map(|u| u.to_owned()))
        .collect();
    roots.sort();
    roots.dedup();
    // The victim: a host process in a group of its own in every hierarchy.
    let victim = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    struct Cleanup(Vec<std::path::PathBuf>, std::process::Child);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = self.1.kill();
            let _ = self.1.wait();
            for d in &self.0 {
                for _ in 0..50 {
                    if std::fs::remove_dir(d).is_ok() || !d.exists() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        }
    }
    let dirs: Vec<std::path::PathBuf> = roots.iter().map(|r| r.join(&name)).collect();
    let victim_pid = victim.id();
    // Groups beneath first: a parent goes only once they are gone.
    let subs: Vec<std::path::PathBuf> = dirs.iter().map(|d| d.join("svc")).collect();
    let cleanup = Cleanup(subs.iter().chain(&dirs).cloned().collect(), victim);
    for d in &dirs {
        std::fs::create_dir(d).unwrap();
        // A v1 cpuset group takes no task before it has cpus and mems.
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if d.join(f).exists() {
                let v = std::fs::read_to_string(d.parent().unwrap().join(f)).unwrap();
                std::fs::write(d.join(f), v.trim()).unwrap();
            }
        }
        std::fs::write(d.join("cgroup.procs"), victim_pid.to_string()).unwrap();
    }
    for all in [false, true] {
        let err = common::busybox("true")
            .cgroup(&name, palisade::Resources::new().pids_max(8))
            .cgroup_all_controllers(all)
            .spawn()
            .map(|mut c| c.wait())
            .expect_err("a populated group was reused");
        assert_eq!(err.step, palisade::Step::Cgroup, "{err}");
        assert!(err.to_string().contains("already holds processes"), "{err}");
    }
    let alive = std::fs::read_to_string(format!("/proc/{victim_pid}/cgroup")).unwrap();
    assert!(
        alive
            .lines()
            .filter(|l| !l.contains(":name="))
            .all(|l| l.ends_with(&name)),
        "{alive}"
    );
    assert!(
        dirs.iter().all(|d| d.exists()),
        "the victim's group was removed"
    );
    // The victim in a group beneath the one named (which holds nothing
    // itself): deleting the named group kills what is beneath too.
    // With v1 hierarchies, only in those, where no `populated` file tells
    // (the cgroup2 group is emptied: the victim goes to the cgroup2 root);
    // on a pure cgroup2 machine in the cgroup2 group beneath.
    let v1 = !hierarchy.v1_mounts().is_empty();
    let unified = hierarchy.unified().map(|u| u.join(&name));
    let beneath = |s: &&std::path::PathBuf| !v1 || Some(s.parent().unwrap()) != unified.as_deref();
    if let Some(u) = unified.as_ref().filter(|_| v1) {
        std::fs::write(
            u.parent().unwrap().join("cgroup.procs"),
            victim_pid.to_string(),
        )
        .unwrap();
    }
    for s in subs.iter().filter(beneath) {
        std::fs::create_dir(s).unwrap();
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if s.join(f).exists() {
                let v = std::fs::read_to_string(s.parent().unwrap().join(f)).unwrap();
                std::fs::write(s.join(f), v.trim()).unwrap();
            }
        }
        std::fs::write(s.join("cgroup.procs"), victim_pid.to_string()).unwrap();
    }
    let err = common::busybox("true")
        .cgroup(&name, palisade::Resources::new().pids_max(8))
        .spawn()
        .map(|mut c| c.wait())
        .expect_err("a group with a populated group beneath was reused");
    assert_eq!(err.step, palisade::Step::Cgroup, "{err}");
    let alive = std::fs::read_to_string(format!("/proc/{victim_pid}/cgroup")).unwrap();
    assert!(
        alive
            .lines()
            .filter(|l| !l.contains(":name=") && (!v1 || !l.starts_with("0::")))
            .all(|l| l.ends_with("/svc")),
        "{alive}"
    );
    assert!(
        subs.iter().filter(beneath).all(|d| d.exists()),
        "the victim's group was removed"
    );
    drop(cleanup);
}

/// A host mount tree made shared (what systemd does to every mount) with
/// a leaf beneath, made by the test under its own directory.
struct SharedHostTree {
    top: std::path::PathBuf,
    leaf: std::path::PathBuf,
}

impl SharedHostTree {
    fn new(tmp: &TempDir) -> SharedHostTree {
        let top = tmp.path().join("shared-top");
        let leaf = top.join("leaf");
        std::fs::create_dir_all(&top).unwrap();
        let top_s = top.to_str().unwrap();
        palisade_testkit::run("mount", &["-t", "tmpfs", "atk-top", top_s]);
        palisade_testkit::run("mount", &["--make-shared", top_s]);
        std::fs::create_dir(&leaf).unwrap();
        palisade_testkit::run(
            "mount",
            &["-t", "tmpfs", "atk-leaf", leaf.to_str().unwrap()],
        );
        SharedHostTree { top, leaf }
    }

    /// Whether the host still has the leaf mounted, from its mountinfo.
    fn leaf_mounted(&self) -> bool {
        let leaf = self.leaf.to_str().unwrap();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(leaf))
    }
}

impl Drop for SharedHostTree {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-R", "-l", self.top.to_str().unwrap()])
            .status();
    }
}

/// With a non-recursive `rootfs_propagation` only `/` stops sharing: the
/// copies of shared host mounts beneath stay peers of the host's. The
/// old root detached after `pivot_root` (or the host mounts `no_pivot`
/// detaches) must not take the host's mounts with it: host side, the
/// leaf of a shared tree is still mounted after the container ran.
#[test]
fn non_recursive_root_propagation_never_unmounts_the_hosts_mounts() {
    let Some(_root) = require_root("mounts") else {
        return;
    };
    let tmp = TempDir::new("attack-propagation");
    let tree = SharedHostTree::new(&tmp);
    assert!(tree.leaf_mounted());
    for no_pivot in [false, true] {
        for p in [palisade::Propagation::Slave, palisade::Propagation::Private] {
            let r = common::busybox("true")
                .rootfs_propagation(p, false)
                .no_pivot(no_pivot)
                .spawn()
                .map(|mut c| c.wait());
            assert!(
                tree.leaf_mounted(),
                "{p:?} (non-recursive, no_pivot {no_pivot}): the host's {} was unmounted ({r:?})",
                tree.leaf.display()
            );
        }
    }
}

/// An exec into a container with a user namespace joins it before its
/// pid namespace (the early joins): it runs as the container's root,
/// mapped, in every namespace of the first process, and a process of the
/// container cannot read its memory while it is still the host program's
/// copy (not dumpable before the user namespace is entered).
#[test]
fn exec_into_a_user_namespace_joins_it_first_and_runs_mapped() {
    let Some(_root) = require_root("writes id maps") else {
        return;
    };
    let mut first = common::busybox("echo ready; exec sleep 60")
        .user_namespace(
            palisade::IdMaps::single(0, 100_000),
            palisade::IdMaps::single(0, 100_000),
        )
        .sys(false)
        .stdout(Stdio::Piped)
        .spawn()
        .unwrap();
    read_until_ready(&mut first);
    let mut ex = first
        .exec(
            Exec::new("/bin/sh")
                .args(["-c", "id -u; echo ready; exec sleep 60"])
                .stdout(Stdio::Piped),
        )
        .unwrap();
    let out = read_until_ready(&mut ex);
    let differ: Vec<&str> = ["user", "mnt", "uts", "ipc", "net", "cgroup", "pid"]
        .into_iter()
        .filter(|k| {
            let ns = |p: i32| std::fs::read_link(format!("/proc/{p}/ns/{k}")).ok();
            ns(ex.pid()) != ns(first.pid())
        })
        .collect();
    let status = std::fs::read_to_string(format!("/proc/{}/status", ex.pid())).unwrap();
    ex.kill(libc::SIGKILL).unwrap();
    ex.wait().unwrap();
    first.kill(libc::SIGKILL).unwrap();
    first.wait().unwrap();
    assert!(differ.is_empty(), "not in the container's {differ:?}");
    assert_eq!(out.lines().next(), Some("0"), "{out}");
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid.split_whitespace().skip(1).all(|u| u == "100000"),
        "{uid}"
    );
}
