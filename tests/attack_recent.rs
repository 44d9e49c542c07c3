//! Outsider attacks on the code added most recently: exec's second stage
//! (a process cloned into the container's pid namespace, sharing the
//! first child's memory), the v1 `tasks` fds the child joins its cgroups
//! through, and `no_pivot`. Root inside the container is the attacker;
//! every outcome is read back from the kernel on the host side. Root,
//! real kernel.

mod common;

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
        if r.read(&mut b).unwrap_or(0) != 1 {
            break;
        }
        out.push(b[0]);
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
        let (inside, host_view, rest, exec) = std::thread::scope(|s| {
            let h = s.spawn(|| first.exec(Exec::new("/bin/true")).map(|mut c| c.wait()));
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
            (inside, host_view, rest, exec)
        });
        let _ = first.kill(libc::SIGKILL);
        let _ = first.wait();
        let Some((exe, differ)) = host_view else {
            panic!("the watcher stopped nothing:\n{inside}{rest}");
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
