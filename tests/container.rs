//! `Container::spawn` end to end (root): every fact is read back from inside
//! the container (its output) or from the host's /proc and cgroupfs.

mod common;
use common::*;

use std::os::unix::fs::MetadataExt;

use palisade::{
    CapSet, Capability, Container, ExitStatus, IdMaps, Mount, Network, NsKind, Resources,
    SpawnError, Stdio, Step,
};
use palisade_testkit::{
    LinkGuard, TempDir, busybox_rootfs, ifname, require_root, run, try_run, unique_name,
};

#[test]
fn hostname_pid1_and_only_the_rootfs_is_visible() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let (status, out) = sh(busybox(
            "hostname; echo pid=$$; cat /proc/self/mountinfo | wc -l; ls /; cat /proc/1/cmdline | tr '\\0' ' '",
        )
        .hostname("box"));
        assert!(status.success(), "{status}: {out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "box");
        assert_eq!(lines[1], "pid=1");
        let mounts: usize = lines[2].trim().parse().unwrap();
        assert!(mounts < 30, "{mounts} mounts visible: the host's leaked in");
        assert!(out.contains("bin") && !out.contains("target"), "{out}");
    });
}

#[test]
fn exit_codes_and_signals_come_back() {
    let Some(_root) = require_root("spawns containers") else {
        return;
    };
    let (status, _) = sh(busybox("exit 7"));
    assert_eq!(status, ExitStatus::Exited(7));
    let mut child = busybox("sleep 100").spawn().unwrap();
    child.kill(libc::SIGKILL).unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn default_capabilities_are_dockers() {
    let Some(_root) = require_root("spawns containers") else {
        return;
    };
    let (_, out) = sh(busybox(
        "grep -E '^Cap(Eff|Bnd|Prm|Inh|Amb)' /proc/self/status",
    ));
    for want in [
        "CapEff:\t00000000a80425fb",
        "CapBnd:\t00000000a80425fb",
        "CapInh:\t0000000000000000",
    ] {
        assert!(out.contains(want), "{want} not in {out}");
    }
    let only_net = CapSet::of(&[Capability::NET_ADMIN]);
    let (_, out) = sh(busybox("grep CapEff /proc/self/status").capabilities(only_net));
    assert!(out.contains("CapEff:\t0000000000001000"), "{out}");
}

#[test]
fn only_stdio_fds_reach_the_program() {
    let Some(_root) = require_root("spawns containers") else {
        return;
    };
    // Non-CLOEXEC fds in the parent must not leak into the container.
    let leaked: Vec<i32> = (0..20)
        .map(|_| unsafe { libc::open(c"/etc/hostname".as_ptr(), libc::O_RDONLY) })
        .collect();
    let (_, out) = sh(busybox("ls /proc/self/fd; readlink /proc/self/cwd"));
    for fd in leaked {
        unsafe { libc::close(fd) };
    }
    let fds: Vec<&str> = out
        .lines()
        .take_while(|l| l.parse::<u32>().is_ok())
        .collect();
    // ls itself opens one fd for the directory it lists.
    assert!(fds.len() <= 4, "fds inside: {fds:?}");
    assert!(fds.starts_with(&["0", "1", "2"]), "{fds:?}");
    assert!(out.lines().last() == Some("/"), "{out}");
}

#[test]
fn cgroup_limits_bite_and_the_cgroup_goes_away() {
    let Some(root) = require_root("creates cgroups") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let path = unique_name("ctr");
        let mut child = busybox("exec tail /dev/zero")
            .cgroup(
                &path,
                Resources::new()
                    .memory_max(32 << 20)
                    .memory_swap(0)
                    .pids_max(16),
            )
            .spawn()
            .unwrap();
        let cg = child.cgroup().unwrap().clone();
        let procs =
            std::fs::read_to_string(cg.dirs_iter().next().unwrap().join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l.trim() == child.pid().to_string()),
            "{procs}"
        );
        let status = child.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "not OOM-killed: {status}"
        );
        assert!(cg.dirs_iter().all(|d| !d.exists()), "cgroup left behind");
        // Reported as an OOM kill, from the cgroup's last figures.
        assert!(child.oom_killed(), "{:?}", child.stats());
        let last = child.stats().unwrap();
        assert!(last.memory_peak.unwrap() >= 30 << 20, "{last:?}");
        assert!(last.cpu_usage_usec.unwrap() > 0, "{last:?}");
        // A SIGKILL of our own is not an OOM kill.
        let mut killed = busybox("exec sleep 10")
            .cgroup(&unique_name("kill"), Resources::new().memory_max(32 << 20))
            .spawn()
            .unwrap();
        killed.kill(libc::SIGKILL).unwrap();
        assert_eq!(killed.wait().unwrap().signal(), Some(libc::SIGKILL));
        assert!(!killed.oom_killed(), "{:?}", killed.stats());

        let (_, out) = sh(busybox(
            "exec 2>&1; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait",
        )
        .cgroup(&unique_name("pids"), Resources::new().pids_max(4)));
        assert!(out.contains("can't fork"), "pids.max did not bite: {out}");
    });
}

#[test]
fn user_namespace_maps_root_to_an_unprivileged_uid() {
    let Some(_root) = require_root("writes id maps") else {
        return;
    };
    let (status, out) = sh(busybox("id -u; id -g; cat /proc/self/uid_map")
        .user_namespace(IdMaps::single(0, 100_000), IdMaps::single(0, 100_000))
        .sys(false));
    assert!(status.success(), "{status}: {out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0");
    assert_eq!(lines[1], "0");
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "1"]
    );
}

#[test]
fn init_reaps_zombies_and_forwards_sigterm() {
    let Some(_root) = require_root("spawns containers") else {
        return;
    };
    // The program leaves an orphan behind and waits for SIGTERM.
    let mut child =
        busybox("(sleep 0 &) ; trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done")
            .init(true)
            .stdout(Stdio::Piped)
            .spawn()
            .unwrap();
    // Signal only once the trap is set (slow guests take a while).
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    std::thread::sleep(std::time::Duration::from_millis(100));
    // The loop's own `sleep`s are zombies for an instant before the
    // shell reaps them; an orphan init failed to reap stays one. So the
    // namespace must be seen without zombies at least once within 2 s.
    let pid_ns = child.namespace(NsKind::Pid).unwrap();
    let mut zombies = count_zombies_in(&pid_ns);
    for _ in 0..40 {
        if zombies == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        zombies = count_zombies_in(&pid_ns);
    }
    assert_eq!(zombies, 0, "init left zombies");
    child.kill(libc::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(42));
}

fn count_zombies_in(ns: &palisade::Namespace) -> usize {
    let want = ns.id().unwrap().ino;
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .filter(|e| std::fs::metadata(e.path().join("ns/pid")).is_ok_and(|m| m.ino() == want))
        .filter(|e| {
            std::fs::read_to_string(e.path().join("stat"))
                .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')))
        })
        .count()
}

#[test]
fn mounts_and_masked_paths() {
    let Some(_root) = require_root("spawns containers") else {
        return;
    };
    let dir = palisade_testkit::TempDir::new("bind");
    std::fs::write(dir.path().join("hello"), "from host\n").unwrap();
    let (status, out) = sh(busybox(
        "cat /data/hello; echo x 2>/dev/null > /data/new && echo writable || echo readonly; \
         df /scratch | tail -1 | awk '{print $2}'; \
         cat /proc/timer_list | wc -c; grep -c -E ' /proc/(keys|timer_list) ' /proc/self/mountinfo; echo 1 2>/dev/null > /proc/sys/kernel/domainname && echo sysrw || echo sysro; \
         ls /sys/firmware | wc -l",
    )
    .mount(Mount::Bind {
        source: dir.path().to_owned(),
        target: "/data".into(),
        readonly: true,
    })
    .mount(Mount::Tmpfs {
        target: "/scratch".into(),
        size_bytes: 8 << 20,
    }));
    assert!(status.success(), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "from host");
    assert_eq!(lines[1], "readonly");
    assert_eq!(lines[2], "8192", "tmpfs size in KiB");
    // (/proc/kcore does not exist on every kernel; timer_list and keys do.)
    assert_eq!(lines[3].trim(), "0", "/proc/timer_list readable");
    assert_eq!(lines[4].trim(), "2", "masks are not mounts");
    assert_eq!(lines[5], "sysro");
    assert_eq!(lines[6].trim(), "0");
}

#[test]
fn every_failure_names_its_step_and_leaves_nothing() {
    let Some(root) = require_root("spawns failing containers") else {
        return;
    };
    let cases: Vec<(Container, Step)> = vec![
        (
            Container::new("/bin/true").rootfs("/nonexistent/rootfs"),
            Step::Validate,
        ),
        (
            busybox("true").cgroup(&unique_name("bad"), Resources::new().cpuset_cpus("4000")),
            Step::Cgroup,
        ),
        (
            Container::new("/no/such/program").rootfs(busybox_rootfs()),
            Step::Exec,
        ),
        // A missing working directory is made (as `docker run -w`); one
        // beneath a file cannot be.
        (busybox("true").cwd("/bin/busybox/dir"), Step::Cwd),
        (
            busybox("true").sysctl("net.ipv4.no_such_knob", "1"),
            Step::Sysctl,
        ),
        (busybox("true").hostname(&"x".repeat(65)), Step::Validate),
        (
            busybox("true").mount(Mount::Bind {
                source: "/nonexistent".into(),
                target: "/x".into(),
                readonly: false,
            }),
            Step::Validate,
        ),
        // uid 4294967295 is (uid_t)-1: refused before the kernel.
        (
            busybox("true").user_namespace(IdMaps::single(0, u32::MAX), IdMaps::single(0, 0)),
            Step::Validate,
        ),
    ];
    // A host interface that already has the veth's name.
    let clash = ifname("clash");
    run(
        "ip",
        &[
            "link",
            "add",
            &clash,
            "type",
            "veth",
            "peer",
            "name",
            &ifname("clashp"),
        ],
    );
    let _clash = LinkGuard::new(&clash);
    let tmp = TempDir::new("badovl");
    let (up, wk) = (tmp.path().join("up"), tmp.path().join("wk"));
    std::fs::create_dir_all(&up).unwrap();
    std::fs::create_dir_all(&wk).unwrap();
    let mut cases = cases;
    cases.push((
        busybox("true").network(Network::veth(&clash, "eth0")),
        Step::Network,
    ));
    cases.push((
        Container::new("/bin/true").overlay_rootfs(["/nonexistent/layer"], &up, &wk),
        Step::Overlay,
    ));
    cases.push((
        busybox("true").network(Network::veth("bad/name", "eth0")),
        Step::Validate,
    ));
    let mut root = root;
    for (container, step) in cases {
        let (r, err): (_, SpawnError) = root.assert_no_leaks(|| container.spawn().unwrap_err());
        root = r;
        assert_eq!(err.step, step, "{err}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn veth_network_answers_ping_and_is_removed_after_exit() {
    let Some(root) = require_root("creates links and namespaces") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let host = ifname("ch");
        let mut child = busybox("ip -o -4 addr show eth0; ip route; echo ready; exec sleep 10")
            .network(
                Network::veth(&host, "eth0")
                    .address("10.232.1.2/24")
                    .host_address("10.232.1.1/24")
                    .gateway("10.232.1.1"),
            )
            .stdout(Stdio::Piped)
            .spawn()
            .unwrap();
        assert_eq!(child.host_interface(), Some(host.as_str()));
        let out = read_until_ready(&mut child);
        run("ping", &["-c", "1", "-W", "2", "10.232.1.2"]);
        child.kill(libc::SIGKILL).unwrap();
        child.wait().unwrap();
        assert!(out.contains("10.232.1.2/24"), "{out}");
        assert!(out.contains("default via 10.232.1.1"), "{out}");
        assert!(
            try_run("ip", &["link", "show", &host]).is_err(),
            "host end left behind"
        );
    });
}

#[test]
fn overlay_rootfs_keeps_changes_in_the_upper_layer() {
    let Some(root) = require_root("mounts overlayfs") else {
        return;
    };
    let tmp = TempDir::new("ctrovl");
    let (up, wk) = (tmp.path().join("upper"), tmp.path().join("work"));
    std::fs::create_dir_all(&up).unwrap();
    std::fs::create_dir_all(&wk).unwrap();
    // The image layer is a copy on the test's own filesystem: OverlayFS
    // refuses some lower filesystems (9p in the VM lane).
    let lower = tmp.path().join("lower");
    run(
        "cp",
        &[
            "-a",
            busybox_rootfs().to_str().unwrap(),
            lower.to_str().unwrap(),
        ],
    );
    let (_root, ()) = root.assert_no_leaks(|| {
        let (status, out) = sh(Container::new("/bin/sh")
            .args([
                "-c",
                "echo hi > /newfile && rm /etc/group && grep -c overlay /proc/self/mountinfo",
            ])
            .overlay_rootfs([&lower], &up, &wk));
        assert!(status.success(), "{status} {out}");
        assert_eq!(out.trim(), "1", "the root is not the overlay");
    });
    assert!(
        lower.join("etc/group").exists(),
        "the lower layer was modified"
    );
    let changes: Vec<String> = palisade::overlay::changes(&up, &[&lower])
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert!(changes.contains(&"A /newfile".to_owned()), "{changes:?}");
    assert!(changes.contains(&"D /etc/group".to_owned()), "{changes:?}");
}

#[test]
fn time_namespace_offsets_shift_the_programs_clocks() {
    let Some(_root) = require_root("creates a time namespace") else {
        return;
    };
    let host_up: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (status, out) = sh(busybox("cut -d' ' -f1 /proc/uptime; echo $$")
        .time_offsets(palisade::TimeOffsets::new().boottime_secs(86_400)));
    assert!(status.success(), "{out}");
    let mut lines = out.lines();
    let up: f64 = lines.next().unwrap().parse().unwrap();
    assert!(up >= host_up + 86_000.0, "uptime {up} vs host {host_up}");
    // A time namespace implies the init: the program is pid 2.
    assert_eq!(lines.next(), Some("2"));
}

#[test]
fn the_cgroup_namespace_is_rooted_at_the_containers_cgroup() {
    let Some(_root) = require_root("creates cgroups") else {
        return;
    };
    let (status, out) = sh(busybox("cat /proc/self/cgroup")
        .cgroup(&unique_name("cgns"), Resources::new().pids_max(32)));
    assert!(status.success());
    for line in out.lines() {
        assert!(line.ends_with(":/"), "not rooted at its own cgroup: {line}");
    }
}

/// The controllers whose hierarchy `/proc/<pid>/cgroup` puts `pid` in
/// `path` ("" for the cgroup2 tree), read on the host.
fn hierarchies_at(pid: i32, path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, p) = (f.next()?, f.next()?, f.next()?);
            (p == path).then(|| ctrls.to_owned())
        })
        .collect()
}

/// By default the group is made only in the hierarchies its resources need;
/// with `cgroup_all_controllers` in every v1 hierarchy mounted, as runc
/// places it (containerd's shim reads cpuacct and blkio from there).
#[test]
fn the_group_is_in_every_v1_hierarchy_when_asked() {
    let Some(root) = require_root("creates cgroups") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let hierarchy = palisade::cgroup::Hierarchy::detect().unwrap();
        let v1: std::collections::BTreeSet<std::path::PathBuf> = hierarchy
            .v1_mounts()
            .iter()
            .map(|(_, root)| root.clone())
            .collect();
        let v2 = usize::from(hierarchy.unified().is_some());
        for all in [false, true] {
            let path = unique_name("allc");
            let mut child = busybox("exec sleep 10")
                .cgroup(&path, Resources::new().pids_max(32))
                .cgroup_all_controllers(all)
                .spawn()
                .unwrap();
            let at = hierarchies_at(child.pid(), &format!("/{path}"));
            let unused = at
                .iter()
                .any(|c| c.contains("cpuacct") || c.contains("blkio"));
            if all {
                assert_eq!(at.len(), v1.len() + v2, "in {at:?}, v1 {v1:?}");
                assert_eq!(unused, !v1.is_empty(), "{at:?}");
            } else {
                // pids and devices (Docker's rules) and the cgroup2 tree only.
                assert!(!unused, "in a hierarchy it does not use: {at:?}");
                assert!(at.len() <= 2 + v2, "{at:?}");
            }
            child.kill(libc::SIGKILL).unwrap();
            child.wait().unwrap();
        }
    });
}

/// Two containers with macvlans of one host parent reach each other, and a
/// sidecar that joins the first one's net and uts namespaces by pid sees
/// its hostname and address.
#[test]
fn macvlan_network_and_joining_another_containers_namespaces() {
    let Some(root) = require_root("creates links and namespaces") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let (pa, pb) = (ifname("cma"), ifname("cmb"));
        let _guard = LinkGuard::new(&pa);
        run(
            "ip",
            &["link", "add", &pa, "type", "veth", "peer", "name", &pb],
        );
        run("ip", &["link", "set", &pa, "up"]);
        run("ip", &["link", "set", &pb, "up"]);
        let mut first = busybox("echo ready; exec sleep 20")
            .hostname("boxa")
            .network(Network::macvlan(&pa).address("10.239.0.2/24"))
            .stdout(Stdio::Piped)
            .spawn()
            .unwrap();
        read_until_ready(&mut first);
        output(
            busybox("ping -c 1 -W 3 10.239.0.2")
                .network(Network::macvlan(&pa).address("10.239.0.3/24")),
        );
        // The kernel's view of the first container's eth0, from the host.
        let netns = format!("--net=/proc/{}/ns/net", first.pid());
        let link: serde_json::Value = serde_json::from_str(&run(
            "nsenter",
            &[&netns, "ip", "-j", "-d", "link", "show", "eth0"],
        ))
        .unwrap();
        assert_eq!(link[0]["linkinfo"]["info_kind"], "macvlan", "{link}");
        assert_eq!(link[0]["linkinfo"]["info_data"]["mode"], "bridge", "{link}");
        assert_eq!(
            link[0]["link"],
            serde_json::Value::Null,
            "parent is in another netns"
        );
        let sidecar = output(
            busybox("hostname; ip -o -4 addr show eth0")
                .join_pid(first.pid(), palisade::NsKinds::NET | palisade::NsKinds::UTS),
        );
        assert!(sidecar.starts_with("boxa\n"), "{sidecar}");
        assert!(sidecar.contains("10.239.0.2/24"), "{sidecar}");
        // The host never saw the container ends.
        let host_links = run("ip", &["-o", "link", "show"]);
        assert!(!host_links.contains("10.239"), "{host_links}");
        first.kill(libc::SIGKILL).unwrap();
        first.wait().unwrap();
        // A process that is gone fails the join step, naming the pid.
        let err = busybox("true")
            .join_pid(first.pid(), palisade::NsKinds::NET)
            .spawn()
            .unwrap_err();
        assert_eq!(err.step, Step::JoinNamespace, "{err}");
        assert!(err.detail.contains(&first.pid().to_string()), "{err}");
        // A parent that does not exist is the network step's typed error.
        let err = busybox("true")
            .network(Network::macvlan("pt-no-such-if"))
            .spawn()
            .unwrap_err();
        assert_eq!(err.step, Step::Network, "{err}");
        assert!(err.detail.contains("pt-no-such-if"), "{err}");
    });
}

/// A container described in JSON runs with what the JSON says; the config
/// round-trips; bad configs are typed errors before anything starts.
#[cfg(feature = "serde")]
#[test]
fn container_config_from_json_runs_as_described() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let cgroup = unique_name("cfg");
        let json = format!(
            r#"{{
                "program": "/bin/sh",
                "args": ["-c", "hostname; ulimit -n; echo $GREETING; grep CapEff /proc/self/status; echo ready; exec sleep 10"],
                "env": {{ "GREETING": "hello" }},
                "rootfs": {{ "dir": {rootfs:?} }},
                "hostname": "fromjson",
                "cgroup": {{ "path": {cgroup:?}, "resources": {{ "pids_max": 33 }} }},
                "capabilities": ["CAP_CHOWN", "CAP_KILL"],
                "rlimits": [{{ "resource": "RLIMIT_NOFILE", "soft": 77, "hard": 77 }}]
            }}"#,
            rootfs = busybox_rootfs().display().to_string(),
        );
        let config: palisade::ContainerConfig = serde_json::from_str(&json).unwrap();
        let again: palisade::ContainerConfig =
            serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
        assert_eq!(again, config, "JSON round trip");
        assert_eq!(config.parent_death_signal, Some(libc::SIGKILL));
        let mut child = config
            .into_container()
            .unwrap()
            .stdout(Stdio::Piped)
            .spawn()
            .unwrap();
        let out = read_until_ready(&mut child);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "fromjson", "{out}");
        assert_eq!(lines[1], "77", "{out}");
        assert_eq!(lines[2], "hello", "{out}");
        // CAP_CHOWN (0) | CAP_KILL (5)
        assert!(lines[3].ends_with("0000000000000021"), "{out}");
        // The limit, as the kernel's pids.max of the container's cgroup.
        assert_eq!(child.stats().unwrap().pids_limit, Some(33));
        child.kill(libc::SIGKILL).unwrap();
        child.wait().unwrap();

        let bad = |json: &str| {
            serde_json::from_str::<palisade::ContainerConfig>(json)
                .map_err(|e| e.to_string())
                .and_then(|c| c.into_container().map_err(|e| e.to_string()))
                .map(|_| ())
                .unwrap_err()
        };
        assert!(bad(r#"{"args": []}"#).contains("program"));
        assert!(bad(r#"{"program": "/bin/true", "rlimits": [{"resource": "files", "soft": 1, "hard": 1}]}"#).contains("files"));
        assert!(bad(r#"{"program": "/bin/true", "hostnme": "x"}"#).contains("hostnme"));
        assert!(bad(r#"{"program": "/bin/true", "capabilities": ["CAP_FLY"]}"#).contains("CAP_FLY"));
        assert!(bad(r#"{"program": "/bin/true", "network": {"type": "join", "path": "/etc/hostname"}}"#).contains("/etc/hostname"));
        assert!(bad(r#"{"program": "/bin/true", "uid_map": [{"inside": 0, "outside": 100000, "count": 1}]}"#).contains("gid_map"));
    });
}

/// Rootless mode, as an unprivileged user (nobody): the container's root
/// is the caller's uid on the host, and what needs host root is refused
/// before anything starts.
#[test]
fn rootless_mode_as_an_unprivileged_user() {
    let Some(root) = require_root("switches to an unprivileged user to test rootless mode") else {
        return;
    };
    const NOBODY: u32 = 65534;
    let (_root, ()) = root.assert_no_leaks(|| {
        let rootfs = busybox_rootfs();
        let result = palisade_testkit::fork_run(move || -> Result<(String, String), String> {
            // SAFETY: single-threaded forked child dropping its privileges.
            unsafe {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setresgid(NOBODY, NOBODY, NOBODY) != 0
                    || libc::setresuid(NOBODY, NOBODY, NOBODY) != 0
                {
                    return Err(format!("dropping to nobody: {}", std::io::Error::last_os_error()));
                }
                // Changing the uid cleared "dumpable", which makes /proc
                // files of our children root's; a user's own login process
                // is dumpable, so restore what a real user would have.
                libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0);
            }
            let mut child = Container::new("/bin/sh")
                .args(["-c", "id -u; id -g; cat /proc/self/uid_map; hostname; ip -o link; echo ready; exec sleep 10"])
                .rootfs(rootfs)
                .hostname("rootless")
                .stdout(Stdio::Piped)
                .spawn()
                .map_err(|e| e.to_string())?;
            let inside = read_until_ready(&mut child);
            let status = std::fs::read_to_string(format!("/proc/{}/status", child.pid()))
                .map_err(|e| e.to_string())?;
            let host_uid = status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .unwrap_or_default()
                .to_owned();
            child.kill(libc::SIGKILL).map_err(|e| e.to_string())?;
            child.wait().map_err(|e| e.to_string())?;
            // What needs host root is refused up front, typed.
            let refused = Container::new("/bin/true")
                .rootfs(rootfs)
                .network(Network::veth("pt-rl0", "eth0"))
                .spawn()
                .map_err(|e| e.to_string())
                .unwrap_err();
            Ok((inside, format!("{host_uid}\n{refused}")))
        });
        let (inside, host) = result.unwrap().unwrap();
        let lines: Vec<&str> = inside.lines().collect();
        assert_eq!(lines[0], "0", "uid inside: {inside}");
        assert_eq!(lines[1], "0", "gid inside: {inside}");
        let map: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(map, ["0", "65534", "1"], "{inside}");
        assert_eq!(lines[3], "rootless", "{inside}");
        assert!(lines[4].contains("lo:") && !inside.contains("eth0"), "{inside}");
        let uid_line: Vec<&str> = host.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(&uid_line[1..], ["65534"; 4], "host view: {host}");
        assert!(host.contains("rootless mode") && host.contains("veth"), "{host}");
    });
}

/// `Mount::tmpfs` says size, mode, owner and flags (issue 18, item 8):
/// mountinfo shows the flags and parameters, `stat` the mode and owner;
/// a size of 0 (no limit to the kernel), a mode beyond 0o7777 and the
/// kernel's "no id" are refused before anything is created.
#[test]
fn tmpfs_options_reach_the_kernel_and_odd_values_are_refused() {
    use palisade::TmpfsOptions;
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let (root, ()) = root.assert_no_leaks(|| {
        let out = output(
            busybox(
                "for d in /scratch /ro /plain; do \
                   grep \" $d \" /proc/self/mountinfo | awk '{print $6, $NF}'; \
                   stat -c '%a %u %g' $d; done",
            )
            .mount(Mount::tmpfs(
                "/scratch",
                TmpfsOptions::new()
                    .size_bytes(4 << 20)
                    .mode(0o750)
                    .owner(1000, 1001)
                    .noexec(true),
            ))
            .mount(Mount::tmpfs(
                "/ro",
                TmpfsOptions::new()
                    .readonly(true)
                    .nosuid(false)
                    .nodev(false),
            ))
            .mount(Mount::Tmpfs {
                target: "/plain".into(),
                size_bytes: 1 << 20,
            }),
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 6, "{out}");
        let flags = |line: &str| -> Vec<String> {
            line.split(' ')
                .flat_map(|f| f.split(','))
                .map(str::to_owned)
                .collect()
        };
        let scratch = flags(lines[0]);
        for want in [
            "rw",
            "noexec",
            "nosuid",
            "nodev",
            "size=4096k",
            "mode=750",
            "uid=1000",
            "gid=1001",
        ] {
            assert!(scratch.iter().any(|f| f == want), "{want} in {}", lines[0]);
        }
        assert_eq!(lines[1], "750 1000 1001");
        let ro = flags(lines[2]);
        assert_eq!(ro[0], "ro", "{}", lines[2]);
        for absent in ["nosuid", "nodev", "noexec"] {
            assert!(!ro.iter().any(|f| f == absent), "{absent} in {}", lines[2]);
        }
        assert!(
            !ro.iter().any(|f| f.starts_with("size=")),
            "kernel default size: {}",
            lines[2]
        );
        assert_eq!(lines[3], "1777 0 0");
        let plain = flags(lines[4]);
        // (tmpfs shows mode= only when it is not its default 1777.)
        for want in ["nosuid", "nodev", "size=1024k"] {
            assert!(plain.iter().any(|f| f == want), "{want} in {}", lines[4]);
        }
        assert!(!plain.iter().any(|f| f == "noexec"), "{}", lines[4]);
        assert_eq!(lines[5], "1777 0 0");
    });
    let mut root = root;
    let refused: Vec<(Mount, &str)> = vec![
        (
            Mount::Tmpfs {
                target: "/scratch".into(),
                size_bytes: 0,
            },
            "size 0",
        ),
        (
            Mount::tmpfs("/scratch", TmpfsOptions::new().size_bytes(0)),
            "size 0",
        ),
        (
            Mount::tmpfs("/scratch", TmpfsOptions::new().mode(0o17777)),
            "0o17777",
        ),
        (
            Mount::tmpfs("/scratch", TmpfsOptions::new().owner(u32::MAX, 0)),
            "uid 4294967295",
        ),
    ];
    for (mount, says) in refused {
        let (r, err) = root.assert_no_leaks(|| busybox("true").mount(mount).spawn().unwrap_err());
        root = r;
        assert_eq!(err.step, Step::Validate, "{err}");
        assert!(err.to_string().contains(says), "{says}: {err}");
    }
    #[cfg(feature = "serde")]
    {
        // Missing fields take the defaults; unknown ones are refused.
        let m: Mount = serde_json::from_str(
            r#"{ "tmpfs_with": { "target": "/t", "options": { "mode": 448, "noexec": true } } }"#,
        )
        .unwrap();
        let want = TmpfsOptions::new().mode(0o700).noexec(true);
        assert_eq!(m, Mount::tmpfs("/t", want));
        assert!(
            serde_json::from_str::<Mount>(
                r#"{ "tmpfs_with": { "target": "/t", "options": { "nosetuid": true } } }"#
            )
            .is_err()
        );
    }
}

/// The state letter of `pid` in `/proc/<pid>/stat` (`None`: no such process).
fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// A container lives as long as its `Child`, whichever thread spawned it
/// (issue 18, item 7): the default parent-death signal must not follow
/// the spawning thread, which here exits (a retired `spawn_blocking`
/// worker, a scoped thread) long before the container does.
#[test]
fn a_container_outlives_the_thread_that_spawned_it() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let mut plain = std::thread::spawn(|| busybox("exec sleep 30").spawn().unwrap())
            .join()
            .unwrap();
        let mut scoped = std::thread::scope(|s| {
            s.spawn(|| busybox("exec sleep 30").spawn().unwrap())
                .join()
                .unwrap()
        });
        // Both threads are gone; a signal sent at their exit has landed.
        std::thread::sleep(std::time::Duration::from_millis(300));
        for child in [&mut plain, &mut scoped] {
            let state = proc_state(child.pid());
            assert!(
                matches!(state, Some('S' | 'R')),
                "pid {} state {state:?}: killed with its spawning thread",
                child.pid()
            );
            assert_eq!(child.try_wait().unwrap(), None);
            child.kill(libc::SIGKILL).unwrap();
            assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
        }
    });
}

/// Rootless with an explicit user (issue 18, item 4): as nobody with a
/// supplementary group, `user(0, 0)` runs — no `setgroups` call, which the
/// user namespace denies — and what cannot work is refused at `Validate`
/// naming the option, with nothing created.
#[test]
fn rootless_with_an_explicit_user_runs_and_unmapped_ids_are_named() {
    let Some(root) = require_root("switches to an unprivileged user to test rootless mode") else {
        return;
    };
    const NOBODY: u32 = 65534;
    let (_root, ()) = root.assert_no_leaks(|| {
        let rootfs = busybox_rootfs();
        let result = palisade_testkit::fork_run(move || -> Result<Vec<String>, String> {
            // SAFETY: single-threaded forked child dropping its privileges;
            // like a login user it keeps a supplementary group.
            unsafe {
                if libc::setgroups(1, [NOBODY].as_ptr()) != 0
                    || libc::setresgid(NOBODY, NOBODY, NOBODY) != 0
                    || libc::setresuid(NOBODY, NOBODY, NOBODY) != 0
                {
                    return Err(format!(
                        "dropping to nobody: {}",
                        std::io::Error::last_os_error()
                    ));
                }
                libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0);
            }
            let mut out = Vec::new();
            let mut child = Container::new("/bin/id")
                .rootfs(rootfs)
                .user(0, 0)
                .stdout(Stdio::Piped)
                .spawn()
                .map_err(|e| e.to_string())?;
            let mut id = String::new();
            std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut id)
                .map_err(|e| e.to_string())?;
            out.push(format!("{} {id}", child.wait().map_err(|e| e.to_string())?));
            let refused = |c: Container| c.spawn().map(|_| ()).unwrap_err();
            let id_maps = || {
                (
                    palisade::IdMaps::single(0, NOBODY),
                    palisade::IdMaps::single(0, NOBODY),
                )
            };
            for err in [
                refused(Container::new("/bin/id").rootfs(rootfs).user(5, 5)),
                refused(
                    Container::new("/bin/id")
                        .rootfs(rootfs)
                        .user(0, 0)
                        .groups(&[0]),
                ),
                refused({
                    let (u, g) = id_maps();
                    Container::new("/bin/id")
                        .rootfs(rootfs)
                        .user_namespace(u, g)
                        .user(1, 0)
                }),
                refused({
                    let (u, g) = id_maps();
                    Container::new("/bin/id")
                        .rootfs(rootfs)
                        .user_namespace(u, g)
                        .user(0, 7)
                }),
            ] {
                out.push(format!("{:?} {err}", err.step));
            }
            Ok(out)
        });
        let out = result.unwrap().unwrap();
        assert!(
            out[0].starts_with("exit status 0 uid=0(root) gid=0(root)"),
            "{out:?}"
        );
        assert_eq!(out.len(), 5, "{out:?}");
        for (line, names) in out[1..].iter().zip([
            "user(5, 5)",
            "groups()",
            "user(1, 0): uid 1 is not mapped",
            "user(0, 7): gid 7 is not mapped",
        ]) {
            assert!(line.starts_with("Validate "), "{line}");
            assert!(line.contains(names), "{names} in {line}");
        }
    });
}

/// A veth network is usable the moment `spawn` returns (issue 18, item
/// 5): the program's first action is a ping of each family to the host
/// end, one packet, 1 s — IPv6 addresses palisade adds skip duplicate
/// address detection on both ends, so neither is `tentative`.
#[test]
fn a_veth_answers_the_containers_first_pings_of_both_families() {
    let Some(root) = require_root("creates veth pairs") else {
        return;
    };
    let (root, ()) = root.assert_no_leaks(|| {
        let host = ifname("pd6");
        let _g = LinkGuard::new(&host);
        let out = output(
            busybox(
                "ping -c1 -W1 10.213.18.1 >/dev/null && echo v4; \
                 ping -c1 -W1 fd00:1813::1 >/dev/null && echo v6; \
                 ping -c1 -W1 127.0.0.1 >/dev/null && echo lo",
            )
            .network(
                Network::veth(&host, "eth0")
                    .address("10.213.18.2/24")
                    .host_address("10.213.18.1/24")
                    .gateway("10.213.18.1")
                    .address6("fd00:1813::2/64")
                    .host_address6("fd00:1813::1/64")
                    .gateway6("fd00:1813::1"),
            ),
        );
        assert_eq!(out, "v4\nv6\nlo\n");
        // The example of the report, IPv6 only, in the plain fields.
        let host = ifname("pd6");
        let _g = LinkGuard::new(&host);
        let out = output(
            busybox(
                "ping -c1 -W1 fd00:1::1 >/dev/null && echo v6; \
                 ip -6 route show default",
            )
            .network(
                Network::veth(&host, "eth0")
                    .address("fd00:1::2/64")
                    .host_address("fd00:1::1/64")
                    .gateway("fd00:1::1"),
            ),
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "v6", "{out}");
        assert!(
            lines[1].starts_with("default via fd00:1::1 dev eth0"),
            "{out}"
        );
    });
    let (_root, err) = root.assert_no_leaks(|| {
        busybox("true")
            .network(
                Network::veth(&ifname("pd6"), "eth0")
                    .address("10.213.18.2/24")
                    .address6("10.213.19.2/24"),
            )
            .spawn()
            .unwrap_err()
    });
    assert_eq!(err.step, Step::Validate, "{err}");
    assert!(err.to_string().contains("address6"), "{err}");
}

#[test]
fn sysctls_are_written_before_proc_sys_turns_read_only() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    // Docker's read-only paths include /proc/sys; podman's default sysctl
    // (ping_group_range) must still be written, and /proc/sys must end up
    // read-only for the program.
    let (_root, (status, out)) = root.assert_no_leaks(|| {
        sh(busybox(
            "cat /proc/sys/net/ipv4/ping_group_range; \
             echo 1 > /proc/sys/net/ipv4/ip_forward 2>/dev/null && echo writable || echo read-only",
        )
        .sysctl("net.ipv4.ping_group_range", "0 0"))
    });
    assert!(status.success(), "{status}: {out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["0", "0"],
        "{out}"
    );
    assert_eq!(lines[1], "read-only", "{out}");
}
