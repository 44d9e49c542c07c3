//! Attacks on `Container::spawn` written from the public API and docs, as
//! an outsider would try them: an untrusted image, root inside, and odd
//! input from the caller. Each test asserts the *safe* outcome, read from
//! the host side where the host is what is at stake; a failing test is a
//! finding (those are kept `#[ignore = "finding: …"]`). Root, real kernel.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{HostPath, busybox, evil_rootfs, on, read_until_ready, sh, trap};
use palisade::{Container, IdMaps, Mount, Network, NsKinds, SpawnError, Stdio, Step, TimeOffsets};
use palisade_testkit::{TempDir, require_root, run, unique_name};

/// `(ctime, ctime_nsec, mode, uid, gid, mtime)` of a host inode.
fn inode_stamp(p: &str) -> (i64, i64, u32, u32, u32, i64) {
    let m = std::fs::metadata(p).unwrap();
    (
        m.ctime(),
        m.ctime_nsec(),
        m.mode(),
        m.uid(),
        m.gid(),
        m.mtime(),
    )
}

/// Host entries tests of this binary make on purpose (a host secret in
/// /dev/shm) for as long as they run: not leaks of a spawn. A fixed wait
/// for them to go was too short under the guest's emulated CPU.
static DELIBERATE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Entries of the host's scratch places a spawn could leave behind.
fn scratch_entries() -> Vec<String> {
    let mut v = Vec::new();
    let deliberate = DELIBERATE.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for dir in ["/run/palisade", "/dev/shm", "/tmp"] {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if deliberate.contains(&format!("{dir}/{name}")) {
                    continue;
                }
                // /tmp is shared with other sessions: only what names palisade.
                if dir == "/tmp" && (!name.contains("palisade") || name == "palisade-test") {
                    continue;
                }
                v.push(format!("{dir}/{name}"));
            }
        }
    }
    v.sort();
    v
}

fn assert_no_scratch_left(before: &[String]) {
    // Other tests of this binary run at the same time and make (and
    // remove) their own scratch entries: only what stays is a leak.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let after = scratch_entries();
        let new: Vec<&String> = after.iter().filter(|e| !before.contains(e)).collect();
        if new.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left behind on the host: {new:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Runs the container, returning stdout or the spawn error.
fn try_sh(c: Container) -> Result<(palisade::ExitStatus, String), SpawnError> {
    let mut child = c.stdout(Stdio::Piped).spawn()?;
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    Ok((child.wait().unwrap(), out))
}

// ---------------------------------------------------------------------------
// The host's device inodes.

#[test]
fn chmod_and_chown_of_dev_nodes_and_masks_never_touch_the_hosts_inodes() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    // Each node of the minimal /dev and the files masked with a null
    // device: root inside (CAP_CHOWN, CAP_FOWNER) sets each to the mode
    // and owner the host's node already has, so nothing changes if it is
    // the host's inode — except its ctime, which the host then reads.
    let nodes = ["null", "zero", "full", "random", "urandom", "tty"];
    let before: Vec<_> = nodes
        .iter()
        .map(|n| inode_stamp(&format!("/dev/{n}")))
        .collect();
    let mut script = String::new();
    for (n, s) in nodes.iter().zip(&before) {
        script += &format!(
            "chmod {:o} /dev/{n} 2>/dev/null; chown {}:{} /dev/{n} 2>/dev/null; ",
            s.2 & 0o7777,
            s.3,
            s.4
        );
    }
    let null = &before[0];
    for masked in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/latency_stats",
    ] {
        script += &format!(
            "chmod {:o} {masked} 2>/dev/null; chown {}:{} {masked} 2>/dev/null; ",
            null.2 & 0o7777,
            null.3,
            null.4
        );
    }
    script += "echo done";
    let mut root = root;
    for userns in [false, true] {
        let mut c = busybox(&script);
        if userns {
            c = c
                .user_namespace(IdMaps::single(0, 100_000), IdMaps::single(0, 100_000))
                .sys(false);
        }
        let (r, (status, out)) = root.assert_no_leaks(|| sh(c));
        root = r;
        assert!(status.success(), "{status}: {out}");
        let after: Vec<_> = nodes
            .iter()
            .map(|n| inode_stamp(&format!("/dev/{n}")))
            .collect();
        for ((n, b), a) in nodes.iter().zip(&before).zip(&after) {
            assert_eq!(
                b, a,
                "userns {userns}: the host's /dev/{n} inode was changed from inside"
            );
        }
    }
}

#[test]
fn dev_shm_pts_and_mqueue_are_the_containers_own() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    // A host POSIX shm object must not be visible; the dev numbers of
    // /dev/shm and /dev/pts differ from the host's.
    let marker = format!("/dev/shm/{}", unique_name("shm"));
    DELIBERATE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(marker.clone());
    std::fs::write(&marker, "host secret").unwrap();
    struct Rm(String);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
            DELIBERATE
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|m| *m != self.0);
        }
    }
    let _rm = Rm(marker.clone());
    let tmp = TempDir::new("atk-shm");
    let rootfs = evil_rootfs(&tmp);
    let mut root = root;
    for dev in [true, false] {
        let script = format!(
            "cat {marker} 2>/dev/null && echo SEEN; stat -c %d /dev/shm /dev/pts; \
             ls /dev/pts | grep -v ptmx; echo done"
        );
        let (r, (status, out)) = root.assert_no_leaks(|| sh(on(&rootfs, &script).dev(dev)));
        root = r;
        assert!(status.success(), "dev {dev}: {status}: {out}");
        assert!(!out.contains("SEEN"), "dev {dev}: host shm visible: {out}");
        let lines: Vec<&str> = out.lines().collect();
        let host_shm = std::fs::metadata("/dev/shm").unwrap().dev();
        let host_pts = std::fs::metadata("/dev/pts").unwrap().dev();
        if dev {
            assert_ne!(
                lines[0],
                host_shm.to_string(),
                "dev {dev}: host /dev/shm: {out}"
            );
            assert_ne!(
                lines[1],
                host_pts.to_string(),
                "dev {dev}: host /dev/pts: {out}"
            );
        }
        assert_eq!(lines.last(), Some(&"done"), "{out}");
    }
}

// ---------------------------------------------------------------------------
// Image symlinks at places palisade resolves.

#[test]
fn dev_false_image_dev_links_stay_inside() {
    let Some(root) = require_root("mounts") else {
        return;
    };
    // With dev(false) the image's own /dev is kept: its subdirectories
    // palisade may still mount on (pts, shm, mqueue) are links to the host.
    let tmp = TempDir::new("atk-devf");
    let rootfs = evil_rootfs(&tmp);
    std::fs::create_dir_all(rootfs.join("dev")).unwrap();
    let paths: Vec<HostPath> = ["x.pts", "x.shm", "x.mq", "x.null", "x.ptmx"]
        .iter()
        .map(|t| HostPath::new(t))
        .collect();
    for (name, p) in ["dev/pts", "dev/shm", "dev/mqueue", "dev/null", "dev/ptmx"]
        .iter()
        .zip(&paths)
    {
        trap(&rootfs, name, &p.0);
    }
    let (_root, res) = root.assert_no_leaks(|| try_sh(on(&rootfs, "echo ran").dev(false)));
    for p in &paths {
        p.assert_absent();
    }
    // Either it ran or it failed with a typed step; both are fine.
    if let Ok((status, out)) = res {
        assert!(status.success(), "{status}: {out}");
    }
    // And a whole /dev that is a link to the host, with and without dev.
    let tmp2 = TempDir::new("atk-devl");
    let rootfs2 = evil_rootfs(&tmp2);
    let devdir = HostPath::new("x.devdir");
    trap(&rootfs2, "dev", &devdir.0);
    for dev in [false, true] {
        let _ = try_sh(on(&rootfs2, "echo ran").dev(dev));
        devdir.assert_absent();
    }
}

#[test]
fn overlay_rootfs_links_stay_inside() {
    let Some(root) = require_root("mounts") else {
        return;
    };
    // Class 1 through the other root kind: the lower layer is the image.
    let tmp = TempDir::new("atk-ovl");
    let lower = evil_rootfs(&tmp);
    let (conf, dir, cwd) = (
        HostPath::new("o.conf"),
        HostPath::new("o.d"),
        HostPath::new("o.cwd"),
    );
    trap(&lower, "etc/resolv.conf", &conf.0);
    trap(&lower, "data", &dir.0);
    trap(&lower, "work", &cwd.0);
    trap(&lower, "proc", "/tmp");
    let upper = tmp.subdir("upper");
    let work = tmp.subdir("work");
    let src = tmp.path().join("src.conf");
    std::fs::write(&src, "nameserver 192.0.2.9\n").unwrap();
    let (_root, res) = root.assert_no_leaks(|| {
        try_sh(
            Container::new("/bin/sh")
                .args(["-c", "cat /etc/resolv.conf; pwd"])
                .overlay_rootfs([lower.clone()], upper.clone(), work.clone())
                .mount(Mount::Bind {
                    source: src.clone(),
                    target: "/etc/resolv.conf".into(),
                    readonly: true,
                })
                .mount(Mount::Tmpfs {
                    target: "/data/sub".into(),
                    size_bytes: 1 << 20,
                })
                .cwd("/work/deeper"),
        )
    });
    for p in [&conf, &dir, &cwd] {
        p.assert_absent();
    }
    // (A dangling link of the lower layer as a bind target fails with
    // ENOENT here where a directory rootfs creates the target inside:
    // safe, if inconsistent.)
    match res {
        Err(e) => assert_eq!(e.step, Step::Mount, "{e}"),
        Ok((status, out)) => {
            assert!(status.success(), "{status}: {out}");
            assert!(out.starts_with("nameserver 192.0.2.9\n"), "{out}");
        }
    }
}

#[test]
fn masked_and_readonly_paths_through_image_links_stay_inside() {
    let Some(root) = require_root("mounts") else {
        return;
    };
    let tmp = TempDir::new("atk-mask");
    let rootfs = evil_rootfs(&tmp);
    let (m, r, rel) = (
        HostPath::new("m.d"),
        HostPath::new("r.d"),
        HostPath::new("rel.d"),
    );
    // Existing host directories the links point to: a mask or read-only
    // remount landing there would be visible (in the container's view)
    // and anything created there would show on the host.
    for p in [&m, &r, &rel] {
        std::fs::create_dir(&p.0).unwrap();
        std::fs::write(p.0.join("secret"), "host").unwrap();
    }
    trap(&rootfs, "mlink", &m.0);
    trap(&rootfs, "rlink", &r.0);
    trap(
        &rootfs,
        "rellink",
        format!("../../../../../../..{}", rel.s()),
    );
    let (_root, res) = root.assert_no_leaks(|| {
        try_sh(
            on(
                &rootfs,
                "cat /mlink/secret /rlink/secret /rellink/secret 2>&1; echo done",
            )
            .masked_paths(["/mlink/secret", "/mlink/new", "/rellink/secret"])
            .readonly_paths(["/rlink/secret", "/rlink/newdir"]),
        )
    });
    for p in [&m, &r, &rel] {
        let names: Vec<_> = std::fs::read_dir(&p.0)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["secret"], "{} changed on the host", p.s());
    }
    if let Ok((_, out)) = res {
        assert!(!out.contains("host"), "host files visible inside: {out}");
    }
}

#[test]
fn cwd_through_image_links_to_magic_links_is_refused_or_inside() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let tmp = TempDir::new("atk-cwd");
    let rootfs = evil_rootfs(&tmp);
    let mut targets: Vec<String> = (0..12).map(|n| format!("/proc/self/fd/{n}")).collect();
    targets.extend(
        [
            "/proc/self/cwd",
            "/proc/self/root",
            "/proc/1/cwd",
            "/proc/1/root/..",
            "../../../../proc/self/fd/3",
            "/proc/thread-self/cwd",
            "/proc/self/task/1/cwd",
            "/proc/self/map_files",
        ]
        .map(String::from),
    );
    let mut root = root;
    for t in &targets {
        trap(&rootfs, "work", t);
        let (r, res) = root.assert_no_leaks(|| try_sh(on(&rootfs, "pwd; ls /").cwd("/work")));
        root = r;
        match res {
            Err(e) => assert_eq!(e.step, Step::Cwd, "{t}: {e}"),
            Ok((status, out)) => {
                let pwd = out.lines().next().unwrap_or_default();
                assert!(
                    status.success() && pwd.starts_with('/') && !pwd.contains("unreachable"),
                    "{t}: {status}: {out}"
                );
            }
        }
    }
}

#[test]
fn mount_targets_through_magic_links_never_land_on_host_objects() {
    let Some(root) = require_root("mounts") else {
        return;
    };
    let host = HostPath::new("mt");
    std::fs::create_dir(&host.0).unwrap();
    let tmp = TempDir::new("atk-mt");
    let rootfs = evil_rootfs(&tmp);
    let mut targets: Vec<String> = (0..12).map(|n| format!("/proc/self/fd/{n}/x")).collect();
    targets.extend([
        format!("/proc/self/root{}/x", host.s()),
        format!("/proc/1/root{}/x", host.s()),
        "/proc/self/cwd/x".to_owned(),
        "/proc/self/exe".to_owned(),
    ]);
    let mut root = root;
    for t in &targets {
        for m in [
            Mount::Tmpfs {
                target: t.into(),
                size_bytes: 1 << 20,
            },
            Mount::Bind {
                source: tmp.path().to_owned(),
                target: t.into(),
                readonly: false,
            },
        ] {
            let (r, res) = root.assert_no_leaks(|| try_sh(on(&rootfs, "true").mount(m.clone())));
            root = r;
            if let Err(e) = &res {
                assert_eq!(e.step, Step::Mount, "{t}: {e}");
            }
            let names: Vec<_> = std::fs::read_dir(&host.0).unwrap().flatten().collect();
            assert!(names.is_empty(), "{t}: created on the host: {names:?}");
        }
    }
}

#[test]
fn shebang_through_proc_self_fd_never_runs_a_host_file() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    // CVE-2019-5736 / CVE-2024-21626 variants: the interpreter is opened
    // before close-on-exec fds are closed, so any fd open at the program's
    // execve is reachable as #!/proc/self/fd/N.
    let tmp = TempDir::new("atk-shebang");
    let rootfs = evil_rootfs(&tmp);
    let mut root = root;
    for n in 3..16 {
        let evil = rootfs.join("evil");
        std::fs::write(&evil, format!("#!/proc/self/fd/{n}\n")).unwrap();
        std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
        for init in [false, true] {
            let (r, res) = root.assert_no_leaks(|| {
                try_sh(
                    Container::new("/evil")
                        .rootfs(&rootfs)
                        .init(init)
                        .stderr(Stdio::Null),
                )
            });
            root = r;
            match res {
                Err(e) => assert_eq!(e.step, Step::Exec, "fd {n}: {e}"),
                Ok((status, out)) => {
                    assert!(
                        !status.success(),
                        "fd {n} init {init}: ran something: {out}"
                    );
                    assert!(!out.contains("running"), "fd {n}: host binary ran: {out}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The embedding process: environment, memory, fds.

/// A script that looks at every process it can see for what belongs to
/// the host test process: its environment (cargo sets CARGO_*), its
/// argv (the test binary's name) and its executable.
fn snoop_script(exe_len: usize) -> String {
    format!(
        "for p in /proc/[0-9]*; do \
           grep -q CARGO $p/environ 2>/dev/null && echo ENV $p; \
           cat $p/cmdline 2>/dev/null | tr '\\0' ' ' | grep -q 'atta[c]k' && echo CMDLINE $p; \
           test \"$(cat $p/exe 2>/dev/null | wc -c)\" = {exe_len} && echo EXE $p; \
           ls $p/root/tmp/ $p/cwd/ 2>/dev/null | grep -q 'palisade-tes[t]' && echo ROOT $p; \
         done; env | grep CARGO; echo done"
    )
}

#[test]
fn no_host_process_state_with_init_time_and_userns() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let exe_len = std::fs::metadata(std::env::current_exe().unwrap())
        .unwrap()
        .len() as usize;
    let script = snoop_script(exe_len);
    type Make<'a> = Box<dyn Fn() -> Container + 'a>;
    let variants: Vec<(&str, Make)> = vec![
        ("default", Box::new(|| busybox(&script))),
        ("init", Box::new(|| busybox(&script).init(true))),
        (
            "time",
            Box::new(|| busybox(&script).time_offsets(TimeOffsets::new().boottime_secs(3600))),
        ),
        (
            "time+userns",
            Box::new(|| {
                busybox(&script)
                    .time_offsets(TimeOffsets::new().monotonic_secs(-5))
                    .user_namespace(IdMaps::single(0, 100_000), IdMaps::single(0, 100_000))
                    .sys(false)
            }),
        ),
        (
            "userns+init",
            Box::new(|| {
                busybox(&script)
                    .init(true)
                    .user_namespace(IdMaps::single(0, 100_000), IdMaps::single(0, 100_000))
                    .sys(false)
            }),
        ),
        (
            "host-net",
            Box::new(|| busybox(&script).network(Network::Host).init(true)),
        ),
    ];
    let mut root = root;
    for (name, make) in &variants {
        let (r, (status, out)) = root.assert_no_leaks(|| sh(make()));
        root = r;
        assert!(status.success(), "{name}: {status}: {out}");
        assert_eq!(out, "done\n", "{name}: the host process is exposed");
    }
}

#[test]
fn join_pid_setup_is_invisible_to_the_joined_container() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    // Container A scans its /proc in a loop while containers B are
    // started into its pid namespace: B's clone child is born there
    // before it execs, carrying the host process's argv, environment and
    // (until it chroots) the host's root and cwd.
    let exe_len = std::fs::metadata(std::env::current_exe().unwrap())
        .unwrap()
        .len() as usize;
    let scan = snoop_script(exe_len).replace("; env | grep CARGO; echo done", "");
    let (_root, out) = root.assert_no_leaks(|| {
        let mut a = busybox(&format!("echo ready; while :; do {scan}; done"))
            .stdout(Stdio::Piped)
            .spawn()
            .unwrap();
        read_until_ready(&mut a);
        for _ in 0..palisade_testkit::rounds(150) {
            let mut b = busybox("true")
                .join_pid(a.pid(), NsKinds::PID)
                .spawn()
                .unwrap();
            b.wait().unwrap();
        }
        a.kill(libc::SIGKILL).unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(a.stdout.as_mut().unwrap(), &mut out).unwrap();
        a.wait().unwrap();
        out
    });
    assert_eq!(out, "", "the joined container saw the host process: {out}");
}

// ---------------------------------------------------------------------------
// Kernel interfaces of the host: sysctls, cgroupfs, /proc/sys.

#[test]
fn sysctls_are_refused_where_the_namespace_is_the_hosts() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    // With the host network (or ipc) namespace, a "namespaced" sysctl is
    // the host's. Same value as now, so nothing changes if it is written.
    let net = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_syncookies")
        .unwrap()
        .trim()
        .to_owned();
    let ipc = std::fs::read_to_string("/proc/sys/kernel/msgmnb")
        .unwrap()
        .trim()
        .to_owned();
    let cases: Vec<(&str, Container)> = vec![
        (
            "host net",
            busybox("true")
                .network(Network::Host)
                .sysctl("net.ipv4.tcp_syncookies", &net),
        ),
        (
            "host ipc",
            busybox("true")
                .namespaces(NsKinds::MNT | NsKinds::PID | NsKinds::NET | NsKinds::UTS)
                .sysctl("kernel.msgmnb", &ipc),
        ),
    ];
    let mut root = root;
    for (name, c) in cases {
        let (r, res) = root.assert_no_leaks(|| try_sh(c));
        root = r;
        assert!(
            res.is_err(),
            "{name}: a sysctl of the host's own namespace was accepted (and written)"
        );
    }
}

#[test]
fn sysctl_keys_cannot_walk_out_of_proc_sys() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let host = HostPath::new("sysctl");
    let keys = [
        format!("net.ipv4/../../../../../../..{}", host.s()),
        format!("net/../../../../../../..{}", host.s()),
        format!(
            "net.ipv4.conf.lo.forwarding/../../../../../../../..{}",
            host.s()
        ),
        "net.ipv4.ip_forward\0zq9".to_owned(),
        "".to_owned(),
        "net..ipv4".to_owned(),
    ];
    let mut root = root;
    for k in &keys {
        let (r, res) = root.assert_no_leaks(|| try_sh(busybox("true").sysctl(k, "1")));
        root = r;
        host.assert_absent();
        let e = res.expect_err(&format!("key {k:?} accepted"));
        assert!(
            matches!(e.step, Step::Validate | Step::Sysctl),
            "{k:?}: {e}"
        );
    }
}

#[test]
fn proc_sys_sysrq_and_cgroup_release_agents_are_not_writable() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    // Opening for append writes nothing: the open alone must fail.
    let script = "for f in /proc/sys/kernel/core_pattern /proc/sys/kernel/modprobe \
                  /proc/sys/vm/drop_caches /proc/sysrq-trigger /proc/sys/fs/binfmt_misc/register \
                  /sys/kernel/uevent_helper /sys/fs/cgroup/*/release_agent \
                  /sys/fs/cgroup/*/notify_on_release /sys/fs/cgroup/*/cgroup.procs \
                  /sys/fs/cgroup/cgroup.procs /sys/kernel/mm/transparent_hugepage/enabled \
                  /sys/class/net/lo/mtu /proc/1/../sys/kernel/hostname; do \
                    [ -e $f ] && ( : >> $f ) 2>/dev/null && echo writable $f; done; \
                  mount | grep -E ' (cgroup2?|sysfs|proc) ' | grep -v -E '[(,]ro[,)]' \
                    | grep -v ' on /proc type proc' ; echo done";
    let variants: Vec<(&str, Container)> = vec![
        ("default", busybox(script)),
        ("host-net", busybox(script).network(Network::Host)),
        (
            "host-net+cgroup",
            busybox(script).network(Network::Host).cgroup(
                &unique_name("atk-ra"),
                palisade::Resources::new().pids_max(32),
            ),
        ),
        (
            "userns",
            busybox(script)
                .user_namespace(IdMaps::single(0, 100_000), IdMaps::single(0, 100_000))
                .sys(false),
        ),
    ];
    let mut root = root;
    for (name, c) in variants {
        let (r, (status, out)) = root.assert_no_leaks(|| sh(c));
        root = r;
        assert!(status.success(), "{name}: {status}: {out}");
        // /proc/sys/kernel/hostname belongs to the uts namespace but sits
        // under the read-only /proc/sys: it too must be refused.
        assert_eq!(out, "done\n", "{name}: host kernel interfaces writable");
    }
}

// ---------------------------------------------------------------------------
// The caller's fds.

#[test]
fn non_cloexec_fds_of_the_caller_never_reach_the_container() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let tmp = TempDir::new("atk-fd");
    let secret = tmp.path().join("secret");
    std::fs::write(&secret, "zq9-host-secret\n").unwrap();
    // Opened without O_CLOEXEC, as careless C code in the same process would.
    let cpath = std::ffi::CString::new(secret.to_str().unwrap()).unwrap();
    let dpath = std::ffi::CString::new("/sys/fs/cgroup").unwrap();
    // SAFETY: plain open(2) of valid C strings.
    let (f, d) = unsafe {
        (
            libc::open(cpath.as_ptr(), libc::O_RDONLY),
            libc::open(dpath.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY),
        )
    };
    assert!(f >= 0 && d >= 0);
    // Stdio (0-2) is what the caller hands over explicitly: skipped.
    let script = "for fd in /proc/self/fd/* /proc/1/fd/*; do \
                  case $fd in */[012]) continue;; esac; readlink $fd; \
                  [ -f $fd ] && cat $fd; [ -d $fd ] && ls $fd; done 2>/dev/null \
                  | grep -E 'zq9|secret|cgroup|unified|pids' ; echo done";
    let variants: Vec<(&str, Container)> = vec![
        ("default", busybox(script)),
        ("init", busybox(script).init(true)),
        (
            "time",
            busybox(script).time_offsets(TimeOffsets::new().boottime_secs(10)),
        ),
        (
            "userns",
            busybox(script)
                .user_namespace(IdMaps::single(0, 100_000), IdMaps::single(0, 100_000))
                .sys(false),
        ),
    ];
    let mut root = root;
    let mut fails = Vec::new();
    for (name, c) in variants {
        let (r, (status, out)) = root.assert_no_leaks(|| sh(c));
        root = r;
        if !(status.success() && out == "done\n") {
            fails.push(format!("{name}: {status}: {out}"));
        }
    }
    // SAFETY: our own fds.
    unsafe {
        libc::close(f);
        libc::close(d);
    }
    assert!(fails.is_empty(), "{fails:?}");
}

// ---------------------------------------------------------------------------
// Races on the image while palisade resolves it.

#[test]
fn swapping_a_target_directory_for_a_host_link_during_spawn_stays_inside() {
    let Some(root) = require_root("mounts") else {
        return;
    };
    // CVE-2021-30465's shape: something else (another container sharing
    // the volume) swaps a directory on the mount target's path for a
    // symlink to a host directory, over and over, while palisade resolves it.
    let tmp = TempDir::new("atk-race");
    let rootfs = evil_rootfs(&tmp);
    let host = HostPath::new("race");
    std::fs::create_dir(&host.0).unwrap();
    let data = rootfs.join("data");
    // The shared rootfs may hold a /data of another test's mounts.
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir(&data).unwrap();
    std::fs::create_dir(data.join("sub")).unwrap();
    symlink(&host.0, data.join("alt")).unwrap();
    symlink(
        format!("../../../../../../..{}", host.s()),
        data.join("alt2"),
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let racer = {
        let stop = stop.clone();
        let data = data.clone();
        std::thread::spawn(move || {
            let c = |n: &str| std::ffi::CString::new(data.join(n).to_str().unwrap()).unwrap();
            let (sub, alt, alt2) = (c("sub"), c("alt"), c("alt2"));
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let other = if i % 2 == 0 { &alt } else { &alt2 };
                // SAFETY: renameat2 on valid C strings.
                unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        sub.as_ptr(),
                        libc::AT_FDCWD,
                        other.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    );
                }
                i += 1;
            }
        })
    };
    let src = tmp.subdir("src");
    let mut root = root;
    for i in 0..palisade_testkit::rounds(60) {
        let c = on(&rootfs, "true")
            .mount(Mount::Bind {
                source: src.clone(),
                target: format!("/data/sub/b{i}").into(),
                readonly: i % 2 == 0,
            })
            .mount(Mount::Tmpfs {
                target: format!("/data/sub/t{i}").into(),
                size_bytes: 1 << 16,
            })
            .cwd(&format!("/data/sub/c{i}"));
        let (r, _res) = root.assert_no_leaks(|| try_sh(c));
        root = r;
    }
    stop.store(true, Ordering::Relaxed);
    racer.join().unwrap();
    let names: Vec<_> = std::fs::read_dir(&host.0)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(names.is_empty(), "created on the host: {names:?}");
}

// ---------------------------------------------------------------------------
// Bad input from the caller.

#[test]
fn bad_input_gets_a_typed_error_naming_the_value_and_leaves_nothing() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let tmp = TempDir::new("atk-bad");
    let rootfs = evil_rootfs(&tmp);
    let b = || on(&rootfs, "true");
    // (what, container, a piece of the value the error must name)
    let cases: Vec<(&str, Container, &str)> = vec![
        (
            "program empty",
            Container::new("").rootfs(&rootfs),
            "program",
        ),
        (
            "program relative",
            Container::new("bin/zq9").rootfs(&rootfs),
            "zq9",
        ),
        (
            "program NUL",
            Container::new("/bin/sh\0zq9").rootfs(&rootfs),
            "zq9",
        ),
        (
            "program missing",
            Container::new("/zq9-missing").rootfs(&rootfs),
            "zq9",
        ),
        (
            "program dir",
            Container::new("/etc").rootfs(&rootfs),
            "/etc",
        ),
        ("arg NUL", b().args(["a\0zq9"]), "zq9"),
        ("env key empty", b().env("", "zq9"), "env"),
        ("env key =", b().env("A=zq9", "v"), "zq9"),
        ("env key NUL", b().env("A\0zq9", "v"), "zq9"),
        ("env value NUL", b().env("ZQ9", "a\0b"), "ZQ9"),
        ("cwd empty", b().cwd(""), "working directory"),
        ("cwd relative", b().cwd("zq9"), "zq9"),
        ("cwd NUL", b().cwd("/zq9\0x"), "zq9"),
        ("hostname NUL", b().hostname("zq9\0x"), "zq9"),
        ("hostname long", b().hostname(&"zq9".repeat(30)), "zq9"),
        ("domainname long", b().domainname(&"zq9".repeat(30)), "zq9"),
        (
            "rootfs empty",
            Container::new("/bin/sh").rootfs(""),
            "rootfs",
        ),
        (
            "rootfs NUL",
            Container::new("/bin/sh").rootfs("/tmp/zq9\0x"),
            "zq9",
        ),
        (
            "rootfs missing",
            Container::new("/bin/sh").rootfs("/tmp/zq9-missing"),
            "zq9",
        ),
        (
            "rootfs a file",
            Container::new("/bin/sh").rootfs(rootfs.join("bin/busybox")),
            "busybox",
        ),
        (
            "mount target empty",
            b().mount(Mount::Tmpfs {
                target: "".into(),
                size_bytes: 1 << 20,
            }),
            "target",
        ),
        (
            "mount target relative",
            b().mount(Mount::Tmpfs {
                target: "zq9".into(),
                size_bytes: 1 << 20,
            }),
            "zq9",
        ),
        (
            "mount target NUL",
            b().mount(Mount::Tmpfs {
                target: "/zq9\0x".into(),
                size_bytes: 1 << 20,
            }),
            "zq9",
        ),
        (
            "bind source missing",
            b().mount(Mount::Bind {
                source: "/tmp/zq9-missing".into(),
                target: "/mnt/x".into(),
                readonly: false,
            }),
            "zq9",
        ),
        (
            "bind source empty",
            b().mount(Mount::Bind {
                source: "".into(),
                target: "/mnt/zq9".into(),
                readonly: false,
            }),
            "source",
        ),
        (
            "bind source NUL",
            b().mount(Mount::Bind {
                source: "/tmp/zq9\0x".into(),
                target: "/mnt/x".into(),
                readonly: false,
            }),
            "zq9",
        ),
        ("masked path relative", b().masked_paths(["zq9"]), "zq9"),
        ("masked path NUL", b().masked_paths(["/proc/zq9\0"]), "zq9"),
        ("masked path empty", b().masked_paths([""]), "masked path"),
        ("readonly path relative", b().readonly_paths(["zq9"]), "zq9"),
        (
            "readonly path NUL",
            b().readonly_paths(["/proc/zq9\0"]),
            "zq9",
        ),
        (
            "readonly path empty",
            b().readonly_paths([""]),
            "read-only path",
        ),
        (
            "sysctl value NUL",
            b().sysctl("net.ipv4.ip_forward", "1\0zq9"),
            "ip_forward",
        ),
        ("sysctl unknown", b().sysctl("net.zq9.nothing", "1"), "zq9"),
        ("rlimit resource", b().rlimit(9999, 1, 1), "9999"),
        (
            "rlimit soft > hard",
            b().rlimit(libc::RLIMIT_NOFILE, 99, 9),
            "99",
        ),
        (
            "cgroup empty",
            b().cgroup("", palisade::Resources::new()),
            "cgroup",
        ),
        (
            "cgroup ..",
            b().cgroup("../zq9", palisade::Resources::new()),
            "zq9",
        ),
        (
            "cgroup abs",
            b().cgroup("/zq9", palisade::Resources::new()),
            "zq9",
        ),
        (
            "cgroup NUL",
            b().cgroup("zq9\0x", palisade::Resources::new()),
            "zq9",
        ),
        ("join_pid 0", b().join_pid(0, NsKinds::NET), "0"),
        ("join_pid -1", b().join_pid(-1, NsKinds::NET), "-1"),
        (
            "join_pid gone",
            b().join_pid(i32::MAX, NsKinds::UTS),
            "2147483647",
        ),
        (
            "veth name long",
            b().network(Network::veth("zq9zq9zq9zq9zq9zq9", "eth0")),
            "zq9",
        ),
        (
            "veth bad address",
            b().network(Network::veth("zq9a", "eth0").address("10.0.0.300/24")),
            "300",
        ),
    ];
    let before = scratch_entries();
    let mut root = root;
    let mut problems = Vec::new();
    for (what, c, needle) in cases {
        let (r, res) = root.assert_no_leaks(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                c.stdout(Stdio::Null)
                    .stderr(Stdio::Null)
                    .spawn()
                    .map(|mut ch| ch.wait())
            }))
        });
        root = r;
        match res {
            Err(_) => problems.push(format!("{what}: PANIC")),
            Ok(Ok(st)) => problems.push(format!("{what}: accepted, ran: {st:?}")),
            Ok(Err(e)) => {
                let text = format!("{e}");
                if !text.contains(needle) {
                    problems.push(format!("{what}: error does not name {needle:?}: {text}"));
                }
                if text.len() > 4096 {
                    problems.push(format!("{what}: error text {} bytes", text.len()));
                }
            }
        }
    }
    assert_no_scratch_left(&before);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_zero_size_tmpfs_is_not_unlimited() {
    let Some(root) = require_root("mounts") else {
        return;
    };
    // tmpfs reads size=0 as "no limit": asking for 0 bytes must not give
    // the container an unbounded memory-backed filesystem.
    let (_root, res) = root.assert_no_leaks(|| {
        try_sh(
            busybox(
                "dd if=/dev/zero of=/scratch/f bs=1k count=64 2>/dev/null && echo wrote; echo done",
            )
            .mount(Mount::Tmpfs {
                target: "/scratch".into(),
                size_bytes: 0,
            }),
        )
    });
    if let Ok((_, out)) = res {
        assert!(
            !out.contains("wrote"),
            "size_bytes 0 gave an unlimited tmpfs: {out}"
        );
    }
}

#[test]
fn huge_values_get_a_bounded_error() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let huge = "zq9".repeat(400_000);
    let cases: Vec<(&str, Container)> = vec![
        ("cwd", busybox("true").cwd(&format!("/{huge}"))),
        ("hostname", busybox("true").hostname(&huge)),
        (
            "mount target",
            busybox("true").mount(Mount::Tmpfs {
                target: format!("/{huge}").into(),
                size_bytes: 1 << 20,
            }),
        ),
    ];
    let mut root = root;
    for (what, c) in cases {
        let (r, res) = root.assert_no_leaks(|| c.spawn().map(|_| ()));
        root = r;
        let text = format!("{}", res.expect_err(what));
        assert!(text.contains("zq9"), "{what}: {text:.200}");
        assert!(
            text.len() < 4096,
            "{what}: error text is {} bytes",
            text.len()
        );
    }
}

#[test]
fn an_invalid_outside_id_is_refused_before_the_kernel_naming_it() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let (_root, res) = root.assert_no_leaks(|| {
        busybox("true")
            .user_namespace(IdMaps::single(0, u32::MAX), IdMaps::single(0, 100_000))
            .sys(false)
            .spawn()
            .map(|_| ())
    });
    let e = res.expect_err("uid map to 4294967295 accepted");
    assert_eq!(e.step, Step::Validate, "{e}");
    assert!(format!("{e}").contains("4294967295"), "{e}");
}

// ---------------------------------------------------------------------------
// Rootless: the same image attacks as an unprivileged caller.

#[test]
fn rootless_image_links_and_fds_stay_inside() {
    let Some(root) = require_root("switches to an unprivileged uid") else {
        return;
    };
    let tmp = TempDir::new("atk-rootless");
    let rootfs = evil_rootfs(&tmp);
    let (conf, dir, cwd) = (
        HostPath::new("rl.conf"),
        HostPath::new("rl.d"),
        HostPath::new("rl.cwd"),
    );
    trap(&rootfs, "etc/resolv.conf", &conf.0);
    trap(&rootfs, "data", &dir.0);
    trap(&rootfs, "work", &cwd.0);
    let src = tmp.path().join("src.conf");
    std::fs::write(&src, "nameserver 192.0.2.7\n").unwrap();
    run(
        "chown",
        &["-R", "65534:65534", &tmp.path().display().to_string()],
    );
    let (_root, res) = root.assert_no_leaks(|| {
        palisade_testkit::fork_run(|| {
            // SAFETY: plain id switches in the forked child.
            unsafe {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(65534) != 0
                    || libc::setuid(65534) != 0
                {
                    return "setuid failed".to_owned();
                }
            }
            let c = on(
                &rootfs,
                "cat /etc/resolv.conf; pwd; cat /proc/self/fd/3 /proc/self/fd/4 2>&1 | head -c 80; \
                 touch /dev/null && echo touched-null; chmod 666 /dev/null && echo chmod-null",
            )
            .rootless(true)
            .mount(Mount::Bind {
                source: src.clone(),
                target: "/etc/resolv.conf".into(),
                readonly: true,
            })
            .mount(Mount::Tmpfs {
                target: "/data/sub".into(),
                size_bytes: 1 << 20,
            })
            .cwd("/work/deeper");
            match try_sh(c) {
                Ok((st, out)) => format!("{st}: {out}"),
                Err(e) => format!("error {e}"),
            }
        })
    });
    let out = res.unwrap();
    for p in [&conf, &dir, &cwd] {
        p.assert_absent();
    }
    assert!(
        !out.contains("touched-null") && !out.contains("chmod-null"),
        "{out}"
    );
}
