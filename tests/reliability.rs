//! Issue 11: what a container runtime must survive. Root; every fact is
//! read from the host's /proc, cgroupfs, `ip`, or from inside containers.

mod common;
use common::*;

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use palisade::{Container, Network, Resources};
use palisade_testkit::{TempDir, busybox_rootfs, ifname, require_root, unique_name};

/// 100 inheritable fds of every kind in the parent; the container's first
/// process, seen from the host, holds only 0, 1, 2 and sits in its rootfs.
#[test]
fn no_fd_reaches_the_container() {
    let Some(_root) = require_root("spawns containers") else {
        return;
    };
    let mut raw = Vec::new();
    // SAFETY: plain opens/sockets without O_CLOEXEC, closed at the end.
    unsafe {
        for i in 0..100 {
            let fd = match i % 4 {
                0 => libc::open(c"/etc/hostname".as_ptr(), libc::O_RDONLY),
                1 => libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0),
                2 => libc::open(
                    c"/sys/fs/cgroup".as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY,
                ),
                _ => libc::open(c"/proc/self/ns/net".as_ptr(), libc::O_RDONLY),
            };
            assert!(fd >= 0);
            raw.push(fd);
        }
    }
    let mut child = Container::new("/bin/sleep")
        .args(["5"])
        .rootfs(busybox_rootfs())
        .cgroup(&unique_name("fds"), Resources::new().pids_max(8))
        .spawn()
        .unwrap();
    for fd in &raw {
        // SAFETY: closing our own fds.
        unsafe { libc::close(*fd) };
    }
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", child.pid()))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut sorted = fds.clone();
    sorted.sort();
    assert_eq!(sorted, ["0", "1", "2"], "fds in the container: {fds:?}");
    // The cwd is the container's root: the rootfs directory itself (its
    // path is not resolvable from the host's mount namespace, its inode is).
    use std::os::unix::fs::MetadataExt;
    let cwd = std::fs::metadata(format!("/proc/{}/cwd", child.pid())).unwrap();
    let rootfs = std::fs::metadata(busybox_rootfs()).unwrap();
    assert_eq!(
        (cwd.dev(), cwd.ino()),
        (rootfs.dev(), rootfs.ino()),
        "cwd is not the rootfs"
    );
    child.kill(libc::SIGKILL).unwrap();
    child.wait().unwrap();
}

/// The container's pid 1 is its own program; the spawning binary is not
/// reachable (CVE-2019-5736 class): no host path, no /proc entry of ours.
#[test]
fn the_host_runtime_binary_is_out_of_reach() {
    let Some(_root) = require_root("spawns containers") else {
        return;
    };
    let me = std::env::current_exe().unwrap();
    let script = format!(
        "readlink /proc/1/exe; ls /proc | grep -c '^[0-9]'; \
         test -e {} && echo visible || echo absent; \
         echo x 2>/dev/null >> /proc/1/exe && echo writable || echo protected",
        me.display()
    );
    let out = output(busybox(&script).init(false));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "/bin/busybox", "{out}");
    let procs: usize = lines[1].trim().parse().unwrap();
    assert!(procs <= 4, "host processes visible: {procs}");
    assert_eq!(lines[2], "absent");
    assert_eq!(lines[3], "protected");
}

/// With Docker's defaults, sensitive /proc and /sys paths are masked and
/// /proc/sys is read-only; opting out gives them back.
#[test]
fn masked_paths_and_the_opt_out() {
    let Some(_root) = require_root("spawns containers") else {
        return;
    };
    let script = "cat /proc/timer_list | wc -c; ls /sys/firmware | wc -l; \
                  echo 1 2>/dev/null > /proc/sys/kernel/domainname && echo rw || echo ro";
    let out = output(busybox(script));
    let l: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(l, ["0", "0", "ro"], "{out}");
    let out = output(
        busybox(script)
            .masked_paths(Vec::<String>::new())
            .readonly_paths(Vec::<String>::new()),
    );
    let l: Vec<&str> = out.lines().map(str::trim).collect();
    assert_ne!(l[0], "0", "timer_list still masked: {out}");
}

/// The spawner is SIGKILLed while its container runs: the container dies
/// with it, no zombie or orphan remains, and cleanup_stale removes the
/// cgroup it left behind.
#[test]
fn parent_death_kills_the_container_and_cleanup_stale_removes_the_rest() {
    let Some(root) = require_root("kills a spawner process") else {
        return;
    };
    let prefix = format!("pdt{}x", std::process::id());
    let (_root, ()) = root.assert_no_leaks(|| {
        let mut spawner = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "spawner_helper",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PALISADE_SPAWNER_PREFIX", &prefix)
            .env_remove("CI")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut out = spawner.stdout.take().unwrap();
        let mut text = String::new();
        let mut buf = [0u8; 256];
        let start = Instant::now();
        let pid: i32 = loop {
            let n = out.read(&mut buf).unwrap();
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            // libtest prints "test spawner_helper ... " before our line.
            if let Some(at) = text.find("CONTAINER ") {
                let rest = &text[at + 10..];
                if let Some(end) = rest.find('\n') {
                    break rest[..end].trim().parse().unwrap();
                }
            }
            assert!(
                n > 0 && start.elapsed() < Duration::from_secs(30),
                "spawner said {text:?}"
            );
        };
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        spawner.kill().unwrap(); // SIGKILL
        spawner.wait().unwrap();
        let start = Instant::now();
        while Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "container survived its spawner"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let h = palisade::cgroup::Hierarchy::detect().unwrap();
        let roots: Vec<std::path::PathBuf> = h
            .unified()
            .map(Path::to_owned)
            .into_iter()
            .chain(h.v1_mounts().iter().map(|(_, p)| p.clone()))
            .collect();
        let cg_left = roots
            .iter()
            .any(|r| r.join(format!("{prefix}-box")).exists());
        assert!(
            cg_left,
            "expected the killed spawner's cgroup to be left behind"
        );
        let report = palisade::cleanup_stale(&prefix).unwrap();
        assert_eq!(report.cgroups, [format!("{prefix}-box")], "{report:?}");
        assert!(report.errors.is_empty(), "{report:?}");
    });
}

/// Run by the test above in a child process; does nothing on its own.
#[test]
#[ignore = "helper: run by parent_death_kills_the_container_and_cleanup_stale_removes_the_rest"]
fn spawner_helper() {
    let Ok(prefix) = std::env::var("PALISADE_SPAWNER_PREFIX") else {
        return;
    };
    let child = busybox("exec sleep 100")
        .cgroup(&format!("{prefix}-box"), Resources::new().pids_max(8))
        .network(Network::veth(
            &format!("{}h", &prefix[..prefix.len().min(13)]),
            "eth0",
        ))
        .spawn()
        .unwrap();
    println!("CONTAINER {}", child.pid());
    std::thread::sleep(Duration::from_secs(100));
    drop(child);
}

/// 8 threads start 50 containers, each with its own cgroup, overlay root
/// and veth; each sees only its own; nothing is left afterwards.
#[test]
fn fifty_concurrent_containers_each_alone() {
    let Some(root) = require_root("spawns many containers") else {
        return;
    };
    let tmp = TempDir::new("conc");
    let (_root, ()) = root.assert_no_leaks(|| {
        std::thread::scope(|s| {
            for t in 0..8u32 {
                let tmp = tmp.path().to_owned();
                s.spawn(move || {
                    for i in 0..(if t < 2 { 7 } else { 6 }) {
                        let n = t * 7 + i;
                        let dir = tmp.join(format!("c{n}"));
                        let (up, wk) = (dir.join("up"), dir.join("wk"));
                        std::fs::create_dir_all(&up).unwrap();
                        std::fs::create_dir_all(&wk).unwrap();
                        let host = ifname(&format!("k{n}"));
                        let out = output(
                            Container::new("/bin/sh")
                                .args([
                                    "-c",
                                    "hostname; ip -o link | grep -c -v -e ': lo:' -e ': eth0@'; \
                                     ip -o -4 addr show eth0 | awk '{print $4}'; \
                                     echo $$ > /mine; ls /mine",
                                ])
                                .overlay_rootfs([busybox_rootfs()], &up, &wk)
                                .hostname(&format!("box{n}"))
                                .cgroup(
                                    &unique_name(&format!("conc{n}")),
                                    Resources::new().pids_max(16),
                                )
                                .network(
                                    Network::veth(&host, "eth0")
                                        .address(&format!("10.235.{n}.2/24"))
                                        .host_address(&format!("10.235.{n}.1/24")),
                                ),
                        );
                        let l: Vec<&str> = out.lines().collect();
                        assert_eq!(l[0], format!("box{n}"));
                        assert_eq!(l[1].trim(), "0", "foreign links visible: {out}");
                        assert_eq!(l[2], format!("10.235.{n}.2/24"));
                        assert!(
                            up.join("mine").exists(),
                            "write did not land in its own upper"
                        );
                        assert!(!busybox_rootfs().join("mine").exists());
                    }
                });
            }
        });
    });
}

/// Between `clone3` and `execve` the child is a copy of this multi-threaded
/// test process, locks included. While other threads allocate and start
/// threads without pause, containers with an init (which forks) and with a
/// user switch (setgroups/setresgid/setresuid) must all start and report
/// what they ran as. glibc's `fork` and id wrappers waited on locks copied
/// held and hung the child forever (CI stop 14): 0–15 spawns reproduced it.
#[test]
fn spawning_beside_busy_threads_never_hangs() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    // No cgroup, mount or process of the 100 containers may outlive them.
    let (_root, ()) = root.assert_no_leaks(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let busy: Vec<_> = (0..3)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut n = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::black_box(Vec::<u8>::with_capacity(1 + n % 4096));
                        n += 1;
                        if n % 16 == 0 {
                            std::thread::spawn(|| {}).join().unwrap();
                        }
                    }
                })
            })
            .collect();
        let stop_busy = || {
            stop.store(true, Ordering::Relaxed);
        };
        for i in 0..palisade_testkit::rounds(100) {
            // Each in a cgroup of its own: a hung child can be killed there.
            let path = unique_name("busy");
            let container = if i % 2 == 0 {
                busybox("echo init; id -u").init(true)
            } else {
                busybox("id -u; id -G").user(1000, 1000).groups(&[5])
            }
            .cgroup(&path, Resources::new().pids_max(16));
            let (tx, rx) = std::sync::mpsc::channel();
            let spawner = std::thread::spawn(move || {
                let _ = tx.send(sh(container));
            });
            let Ok((status, out)) = rx.recv_timeout(Duration::from_secs(30)) else {
                stop_busy();
                if let Ok(cg) = palisade::cgroup::Cgroup::open(&path) {
                    let _ = cg.kill();
                }
                let _ = spawner.join();
                panic!("spawn {i} hung: its child never reached execve");
            };
            spawner.join().unwrap();
            assert!(status.success(), "spawn {i}: {status}: {out}");
            let want = if i % 2 == 0 {
                "init\n0\n"
            } else {
                "1000\n1000 5\n"
            };
            assert_eq!(out, want, "spawn {i}");
        }
        stop_busy();
        for t in busy {
            t.join().unwrap();
        }
    });
}
