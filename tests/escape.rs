//! Attacks on `Container::spawn` from an untrusted image and from root
//! inside the container, one per fault class of docs/security.md, each
//! checked from the host side. Root, real kernel; both lanes.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::{HostPath, busybox, evil_rootfs, on, read_until_ready, sh, trap};
use palisade::{Container, IdMaps, Mount, Network, NsKinds, SpawnError, Stdio, Step};
use palisade_testkit::{TempDir, require_root, run, unique_name};

#[test]
fn image_symlinks_resolve_inside_the_rootfs_never_on_the_host() {
    let Some(root) = require_root("mounts") else {
        return;
    };
    let tmp = TempDir::new("esc1");
    let rootfs = evil_rootfs(&tmp);
    let (conf, dir, rel, tmpfs, cwd) = (
        HostPath::new("x.conf"),
        HostPath::new("x.d"),
        HostPath::new("x.rel"),
        HostPath::new("x.tmpfs"),
        HostPath::new("x.cwd"),
    );
    // Absolute, relative-climbing and dangling links to host paths.
    trap(&rootfs, "etc/resolv.conf", &conf.0);
    trap(&rootfs, "data", &dir.0);
    trap(
        &rootfs,
        "etc/rel",
        format!("../../../../../../../..{}", rel.s()),
    );
    trap(&rootfs, "scratch", &tmpfs.0);
    trap(&rootfs, "work", &cwd.0);
    let source_file = tmp.path().join("resolv");
    std::fs::write(&source_file, "nameserver 192.0.2.53\n").unwrap();
    let source_dir = tmp.subdir("srcdir");
    std::fs::write(source_dir.join("marker"), "bound\n").unwrap();
    let (root, out) = root.assert_no_leaks(|| {
        sh(on(
            &rootfs,
            "cat /etc/resolv.conf; cat /data/sub/marker; cat /etc/rel/sub/marker; \
             touch /scratch/t && echo tmpfs-ok; pwd",
        )
        .mount(Mount::Bind {
            source: source_file.clone(),
            target: "/etc/resolv.conf".into(),
            readonly: true,
        })
        .mount(Mount::Bind {
            source: source_dir.clone(),
            target: "/data/sub".into(),
            readonly: false,
        })
        .mount(Mount::Bind {
            source: source_dir.clone(),
            target: "/etc/rel/sub".into(),
            readonly: false,
        })
        .mount(Mount::Tmpfs {
            target: "/scratch".into(),
            size_bytes: 1 << 20,
        })
        .cwd("/work/deeper"))
    });
    for p in [&conf, &dir, &rel, &tmpfs, &cwd] {
        p.assert_absent();
    }
    let (status, out) = out;
    assert!(status.success(), "{status}: {out}");
    // Inside, each mount is where the container's own view puts it.
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "nameserver 192.0.2.53",
            "bound",
            "bound",
            "tmpfs-ok",
            &format!("{}/deeper", cwd.s())
        ],
        "{out}"
    );
    // And the links were followed inside the rootfs copy.
    assert!(rootfs.join(conf.0.strip_prefix("/").unwrap()).is_file());
    assert!(
        rootfs
            .join(dir.0.strip_prefix("/").unwrap())
            .join("sub")
            .is_dir()
    );
    drop(root);
}

#[test]
fn proc_dev_sys_mount_points_that_are_symlinks_stay_inside() {
    let Some(root) = require_root("mounts") else {
        return;
    };
    let tmp = TempDir::new("esc2");
    let rootfs = evil_rootfs(&tmp);
    let paths: Vec<HostPath> = ["x.proc", "x.dev", "x.sys", "x.pts"]
        .iter()
        .map(|t| HostPath::new(t))
        .collect();
    for (name, p) in ["proc", "dev", "sys"].iter().zip(&paths) {
        trap(&rootfs, name, &p.0);
    }
    let (_root, (status, out)) = root.assert_no_leaks(|| {
        sh(on(
            &rootfs,
            "echo hi > /dev/null && echo null-ok; test -c /dev/zero && echo zero-ok; \
             grep -c . /proc/self/status >/dev/null && echo proc-ok; \
             test -d /sys/kernel && echo sys-ok",
        ))
    });
    for p in &paths {
        p.assert_absent();
    }
    assert!(status.success(), "{status}: {out}");
    assert_eq!(out, "null-ok\nzero-ok\nproc-ok\nsys-ok\n");
}

#[test]
fn a_working_directory_through_a_host_fd_is_refused() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    // runc CVE-2024-21626: a host directory fd left open in the child and
    // reached through /proc/self/fd/N. Try every small N, a cgroup of the
    // container's own open in the parent, and other magic links.
    let cg = unique_name("esc-cwd");
    let mut cases: Vec<String> = (0..palisade_testkit::rounds(40) as i32)
        .map(|n| format!("/proc/self/fd/{n}"))
        .collect();
    cases.extend(
        [
            "/proc/self/cwd",
            "/proc/1/root",
            "/proc/self/root",
            "/proc/thread-self/fd/5",
        ]
        .map(String::from),
    );
    let mut root = root;
    for cwd in cases {
        let (r, result) = root.assert_no_leaks(|| {
            busybox("pwd; ls /sys/fs/cgroup 2>/dev/null | head -3")
                .cgroup(&cg, palisade::Resources::new().pids_max(64))
                .cwd(&cwd)
                .stdout(Stdio::Piped)
                .spawn()
                .map(|mut c| {
                    let mut out = String::new();
                    std::io::Read::read_to_string(c.stdout.as_mut().unwrap(), &mut out).unwrap();
                    (c.wait().unwrap(), out)
                })
        });
        root = r;
        match result {
            Err(e) => assert_eq!(e.step, Step::Cwd, "{cwd}: {e}"),
            // Some names resolve to a plain directory of the container's
            // own /proc — then it must be beneath the root, like any.
            Ok((status, out)) => {
                let pwd = out.lines().next().unwrap_or_default();
                assert!(
                    status.success() && pwd.starts_with('/') && !pwd.contains("unreachable"),
                    "{cwd}: {status}: {out}"
                );
                assert!(!pwd.starts_with("/sys/fs/cgroup"), "{cwd}: {out}");
            }
        }
    }
}

#[test]
fn no_process_palisade_leaves_inside_exposes_the_host_program() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let host_exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    // The init (pid 1) and, through #!/proc/self/exe, the program itself.
    let (root, (status, out)) = root.assert_no_leaks(|| {
        sh(busybox(
            "cat /proc/1/environ >/dev/null 2>&1 && echo environ-readable; \
             cat /proc/1/mem >/dev/null 2>&1 && echo mem-readable; \
             readlink /proc/1/exe >/dev/null 2>&1 && echo exe-readable; \
             cat /proc/1/exe >/dev/null 2>&1 && echo exe-openable; \
             grep -l CARGO /proc/*/environ 2>/dev/null; echo done",
        )
        .init(true))
    });
    assert!(status.success(), "{status}: {out}");
    assert_eq!(out, "done\n", "the init exposes the host process");

    // A program whose interpreter is /proc/self/exe (CVE-2019-5736) runs
    // the image palisade exec'd — palisade-init, which refuses to run
    // without its arguments — never the host binary (which would print the
    // test harness's "running 0 tests").
    let tmp = TempDir::new("esc5736");
    let rootfs = evil_rootfs(&tmp);
    let evil = rootfs.join("evil");
    std::fs::write(&evil, "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    for init in [false, true] {
        let c = Container::new("/evil").rootfs(&rootfs).init(init);
        let (status, out) = sh(c);
        assert_eq!(status, palisade::ExitStatus::Exited(127), "{out}");
        assert!(
            !out.contains("running"),
            "the host binary ran inside: {out}"
        );
    }
    // Nothing in the container can read the host binary through any
    // process's exe link: every one it can see is its own or sealed.
    let (status, out) =
        sh(busybox("for p in /proc/[0-9]*; do cat $p/exe 2>/dev/null | wc -c; done").init(true));
    assert!(status.success(), "{status}: {out}");
    for size in out.lines() {
        assert_ne!(
            size.trim().parse::<usize>().unwrap(),
            host_exe.len(),
            "{out}"
        );
    }
    drop(root);
}

#[test]
fn host_network_sys_is_read_only_all_the_way_down() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let name = unique_name("esc-sys");
    let groups: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.is_symlink())
        .map(|p| p.join(&name))
        .collect();
    let script = format!(
        "for d in /sys/fs/cgroup/*/; do mkdir $d{name} 2>/dev/null && echo made $d; done; \
         mkdir /sys/fs/cgroup/{name} 2>/dev/null && echo made-top; \
         awk '$5 ~ /^\\/sys/ && $6 !~ /(^|,)ro(,|$)/ {{print \"rw\", $5}}' /proc/self/mountinfo; \
         echo done"
    );
    let (_root, (status, out)) = root.assert_no_leaks(|| {
        sh(busybox(&script)
            .namespaces(NsKinds::MNT | NsKinds::UTS | NsKinds::IPC | NsKinds::PID)
            .network(Network::Host))
    });
    for g in &groups {
        let _ = std::fs::remove_dir(g);
    }
    assert!(status.success(), "{status}: {out}");
    assert_eq!(out, "done\n", "writable /sys reached the host");
    for g in &groups {
        assert!(!g.exists(), "{} created on the host", g.display());
    }
}

#[test]
fn join_pid_puts_the_program_itself_in_the_pid_namespace() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let mut first = busybox("echo ready; exec sleep 30")
            .stdout(Stdio::Piped)
            .spawn()
            .unwrap();
        read_until_ready(&mut first);
        let mut second = busybox("echo $$; ls -d /proc/[0-9]* | wc -l; echo ready; exec sleep 30")
            .join_pid(first.pid(), NsKinds::PID)
            .stdout(Stdio::Piped)
            .spawn()
            .unwrap();
        let out = read_until_ready(&mut second);
        // Read from the host: the program's pid at both levels.
        let status = std::fs::read_to_string(format!("/proc/{}/status", second.pid())).unwrap();
        for c in [&mut second, &mut first] {
            c.kill(libc::SIGKILL).unwrap();
            c.wait().unwrap();
        }
        let lines: Vec<&str> = out.lines().collect();
        let nspid: Vec<&str> = status
            .lines()
            .find(|l| l.starts_with("NSpid:"))
            .unwrap()
            .split_whitespace()
            .skip(1)
            .collect();
        assert_eq!(nspid.len(), 2, "NSpid has two levels: {status}");
        assert_eq!(nspid[1], lines[0], "$$ is the pid inside: {out}");
        let small: u32 = lines[0].parse().unwrap();
        assert!(small < 100, "{out}");
        // The first container's sleep, this shell, ls (and wc): nothing of
        // the host.
        let seen: u32 = lines[1].trim().parse().unwrap();
        assert!(seen <= 4, "sees {seen} processes: {out}");
    });
}

#[test]
fn read_only_binds_keep_the_source_flags_also_in_a_user_namespace() {
    let Some(root) = require_root("mounts") else {
        return;
    };
    let tmp = TempDir::new("esc-flags");
    let src = tmp.subdir("src");
    run(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "nosuid,nodev,noexec,size=1m",
            "tmpfs",
            &src.display().to_string(),
        ],
    );
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let _u = Unmount(src.clone());
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = "awk '$5 == \"/data\" {print $6}' /proc/self/mountinfo; \
                  touch /data/x 2>/dev/null && echo writable; echo done";
    for userns in [false, true] {
        let mut c = busybox(script).mount(Mount::Bind {
            source: src.clone(),
            target: "/data".into(),
            readonly: true,
        });
        if userns {
            c = c
                .user_namespace(IdMaps::single(0, 100_000), IdMaps::single(0, 100_000))
                .sys(false);
        }
        let (status, out) = sh(c);
        assert!(status.success(), "userns {userns}: {status}: {out}");
        let lines: Vec<&str> = out.lines().collect();
        let flags: Vec<&str> = lines[0].split(',').collect();
        for f in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(flags.contains(&f), "userns {userns}: {f} missing: {out}");
        }
        assert_eq!(lines[1], "done", "userns {userns}: {out}");
    }
    drop(root);
}

#[test]
fn masks_use_the_hosts_null_device_not_the_images() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    // The image's /dev/null is a file full of text; with dev(false) it is
    // what the container sees at /dev/null — but the masks must not be it.
    let tmp = TempDir::new("esc-null");
    let rootfs = evil_rootfs(&tmp);
    std::fs::write(rootfs.join("dev/null"), "not the null device\n").unwrap();
    let (_root, (status, out)) = root.assert_no_leaks(|| {
        sh(on(
            &rootfs,
            "cat /proc/timer_list /proc/kcore 2>/tmp/err | wc -c; cat /dev/null",
        )
        .dev(false))
    });
    assert!(status.success(), "{status}: {out}");
    assert_eq!(out, "0\nnot the null device\n");
}

#[test]
fn bad_paths_fail_with_their_step_and_leave_nothing() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let tmp = TempDir::new("esc-bad");
    let rootfs = evil_rootfs(&tmp);
    // A mount target below a file; a symlink loop; a cwd below a file.
    trap(&rootfs, "loop1", "loop2");
    trap(&rootfs, "loop2", "loop1");
    let cases: Vec<(Container, Step)> = vec![
        (
            on(&rootfs, "true").mount(Mount::Tmpfs {
                target: "/bin/busybox/x".into(),
                size_bytes: 1 << 20,
            }),
            Step::Mount,
        ),
        (
            on(&rootfs, "true").mount(Mount::Tmpfs {
                target: "/loop1/x".into(),
                size_bytes: 1 << 20,
            }),
            Step::Mount,
        ),
        (on(&rootfs, "true").cwd("/loop1"), Step::Cwd),
    ];
    let mut root = root;
    for (c, step) in cases {
        let (r, err): (_, SpawnError) = root.assert_no_leaks(|| c.spawn().unwrap_err());
        root = r;
        assert_eq!(err.step, step, "{err}");
        assert!(err.errno.is_some(), "{err}");
    }
}
