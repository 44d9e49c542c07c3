//! palisade-ns against the real kernel (root). Every fact is read back from
//! `/proc`, `lsns`, `ip netns`, `nsenter` or cgroupfs.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use palisade_ns::{
    Clone3, CloneResult, Error, ExitStatus, IdMaps, Namespace, NsKind, NsKinds, PidFd, SetGroups,
    TimeOffsets, join, persist, persist_netns, run_in, unpersist, unshare, write_id_maps,
};
use palisade_testkit::{fork_run, require_root, run, try_run, unique_name};

/// A child started by clone3 that sleeps in `pause()` until killed.
struct Paused {
    pidfd: PidFd,
    pid: i32,
}

impl Paused {
    fn spawn(kinds: NsKinds) -> Paused {
        let clone = Clone3::new().namespaces(kinds).pidfd(true);
        // SAFETY: the child only calls pause/_exit.
        match unsafe { clone.spawn() }.expect("clone3") {
            CloneResult::Child => unsafe {
                loop {
                    libc::pause();
                }
            },
            CloneResult::Parent(child) => Paused {
                pidfd: child.pidfd.expect("pidfd requested"),
                pid: child.pid,
            },
        }
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = self.pidfd.send_signal(libc::SIGKILL);
        let _ = self.pidfd.wait();
    }
}

fn proc_ino(pid: &str, kind: NsKind) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/{}", kind.proc_name()))
        .unwrap()
        .ino()
}

#[test]
fn ids_match_proc_and_lsns() {
    let Some(_root) = require_root("lsns of a process in new namespaces") else {
        return;
    };
    let child = Paused::spawn(NsKinds::all() - NsKinds::USER);
    let pid = child.pid.to_string();
    let lsns: serde_json::Value =
        serde_json::from_str(&run("lsns", &["-J", "-p", &pid, "-o", "NS,TYPE"])).unwrap();
    let listed = lsns["namespaces"].as_array().unwrap();
    assert!(listed.len() >= 7, "lsns listed {listed:?}");
    for kind in NsKind::ALL {
        let theirs = Namespace::of_pid(child.pid, kind).unwrap();
        assert_eq!(theirs.kind(), kind);
        let id = theirs.id().unwrap();
        assert_eq!(id.ino, proc_ino(&pid, kind), "{kind}");
        let lsns_type = match kind {
            NsKind::Mnt => "mnt",
            k => k.proc_name(),
        };
        let entry = listed
            .iter()
            .find(|e| e["type"] == lsns_type)
            .unwrap_or_else(|| panic!("lsns lists no {kind}: {listed:?}"));
        let ns = entry["ns"]
            .as_u64()
            .or_else(|| entry["ns"].as_str()?.parse().ok());
        assert_eq!(ns, Some(id.ino), "lsns disagrees for {kind}");
        let me = Namespace::current(kind).unwrap();
        assert_eq!(me.id().unwrap().ino, proc_ino("thread-self", kind));
    }
}

#[test]
fn open_checks_nsfs_and_kind() {
    let err = Namespace::open("/proc/self/status", NsKind::Net).unwrap_err();
    assert!(matches!(err, Error::NotNamespace { .. }), "{err}");
    let err = Namespace::open("/proc/self/ns/uts", NsKind::Net).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongKind {
                expected: NsKind::Net,
                found: NsKind::Uts,
                ..
            }
        ),
        "{err}"
    );
    let err = Namespace::open("/no/such/ns", NsKind::Net).unwrap_err();
    assert_eq!(err.errno(), Some(nix::errno::Errno::ENOENT));
    assert!(err.to_string().contains("/no/such/ns"), "{err}");
    let any = Namespace::open_any("/proc/self/ns/ipc").unwrap();
    assert_eq!(any.kind(), NsKind::Ipc);
}

#[test]
fn owner_user_ns_and_uid_of_the_initial_namespaces() {
    let Some(_root) = require_root("reads a child's user namespace") else {
        return;
    };
    let child = Paused::spawn(NsKinds::NET);
    let net = child.pidfd.namespace(NsKind::Net).unwrap();
    let owner = net.owner_user_ns().unwrap();
    assert_eq!(owner.kind(), NsKind::User);
    assert_eq!(owner.id().unwrap().ino, proc_ino("self", NsKind::User));
    assert_eq!(owner.owner_uid().unwrap(), 0);
    assert!(net.owner_uid().is_err(), "owner_uid needs a user namespace");
}

#[test]
fn clone3_creates_every_namespace_and_reports_exit_status() {
    let Some(_root) = require_root("clone3 with new namespaces") else {
        return;
    };
    let kinds = NsKinds::all() - NsKinds::USER;
    let child = Paused::spawn(kinds);
    for kind in kinds.kinds() {
        let theirs = Namespace::of_pidfd(&child.pidfd, kind)
            .unwrap()
            .id()
            .unwrap();
        let ours = proc_ino("self", kind);
        // clone3 places the child itself in the new pid and time namespaces.
        assert_ne!(theirs.ino, ours, "{kind} not new");
        assert_eq!(theirs.ino, proc_ino(&child.pid.to_string(), kind));
    }
    // The child is pid 1 of its pid namespace.
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.pid)).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert!(nspid.trim_end().ends_with("\t1"), "{nspid}");
    // The parent of its pid namespace is ours.
    let pid_ns = child.pidfd.namespace(NsKind::Pid).unwrap();
    assert_eq!(
        pid_ns.parent().unwrap().id().unwrap().ino,
        proc_ino("self", NsKind::Pid)
    );
    drop(child);

    for (code, expect) in [
        (7, ExitStatus::Exited(7)),
        (
            -9,
            ExitStatus::Signaled {
                signal: 9,
                core_dumped: false,
            },
        ),
    ] {
        // Not a new pid namespace here: its init would be immune to its own SIGKILL.
        let clone = Clone3::new()
            .namespaces(NsKinds::UTS | NsKinds::NET)
            .pidfd(true);
        // SAFETY: the child only calls kill/_exit.
        match unsafe { clone.spawn() }.unwrap() {
            CloneResult::Child => unsafe {
                if code < 0 {
                    libc::kill(libc::getpid(), -code);
                }
                libc::_exit(code);
            },
            CloneResult::Parent(c) => {
                let pidfd = c.pidfd.unwrap();
                assert_eq!(pidfd.wait().unwrap(), expect);
                // Reaped: no zombie remains.
                assert!(!std::path::Path::new(&format!("/proc/{}", c.pid)).exists());
            }
        }
    }
}

#[test]
fn clone3_into_a_cgroup2_directory() {
    let Some(_root) = require_root("creates a cgroup2 directory") else {
        return;
    };
    let Some(unified) = cgroup2_mount() else {
        palisade_testkit::skip_absent("cgroup2", "no cgroup2 hierarchy mounted");
        return;
    };
    let dir = unified.join(unique_name("clone3cg"));
    std::fs::create_dir(&dir).unwrap();
    struct Rmdir(std::path::PathBuf);
    impl Drop for Rmdir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _guard = Rmdir(dir.clone());
    let dirfd = std::fs::File::open(&dir).unwrap();
    let child = {
        let clone = Clone3::new().pidfd(true).into_cgroup(dirfd.as_fd());
        // SAFETY: the child only calls pause.
        match unsafe { clone.spawn() }.unwrap() {
            CloneResult::Child => unsafe {
                loop {
                    libc::pause();
                }
            },
            CloneResult::Parent(c) => {
                assert!(c.in_cgroup);
                Paused {
                    pidfd: c.pidfd.unwrap(),
                    pid: c.pid,
                }
            }
        }
    };
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
    assert_eq!(procs.trim(), child.pid.to_string());
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", child.pid)).unwrap();
    let name = dir.file_name().unwrap().to_str().unwrap();
    assert!(
        own.lines()
            .any(|l| l.starts_with("0::/") && l.ends_with(name)),
        "{own}"
    );
    drop(child);
}

fn cgroup2_mount() -> Option<std::path::PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        right
            .starts_with("cgroup2 ")
            .then(|| left.split(' ').nth(4).unwrap().into())
    })
}

#[test]
fn unshare_moves_only_the_forked_child() {
    let Some(_root) = require_root("unshare uts/ipc/net/mnt") else {
        return;
    };
    let host_uts = proc_ino("self", NsKind::Uts);
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let kinds = NsKinds::UTS | NsKinds::IPC | NsKinds::NET | NsKinds::MNT | NsKinds::CGROUP;
    let inside: Vec<(String, u64)> = fork_run(move || {
        unshare(kinds).unwrap();
        // SAFETY: a valid buffer and its length.
        assert_eq!(
            unsafe { libc::sethostname(c"palisade-unshare".as_ptr(), 16) },
            0
        );
        kinds
            .kinds()
            .map(|k| (k.to_string(), proc_ino("self", k)))
            .collect()
    })
    .unwrap();
    for (kind, ino) in inside {
        let kind: NsKind = kind.parse().unwrap();
        assert_ne!(ino, proc_ino("self", kind), "{kind} not unshared");
    }
    assert_eq!(proc_ino("self", NsKind::Uts), host_uts);
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_name
    );
}

#[test]
fn join_enters_several_namespaces_at_once() {
    let Some(_root) = require_root("setns into a child's namespaces") else {
        return;
    };
    let child = Paused::spawn(NsKinds::NET | NsKinds::UTS | NsKinds::IPC | NsKinds::MNT);
    let want: Vec<u64> = [NsKind::Net, NsKind::Uts, NsKind::Ipc, NsKind::Mnt]
        .iter()
        .map(|k| proc_ino(&child.pid.to_string(), *k))
        .collect();
    let pid = child.pid;
    let got: Vec<u64> = fork_run(move || {
        let target = PidFd::open(pid).unwrap();
        // USER is asked for but shared with the target: masked, not an error.
        join(
            &target,
            NsKinds::NET | NsKinds::UTS | NsKinds::IPC | NsKinds::MNT | NsKinds::USER,
        )
        .unwrap();
        [NsKind::Net, NsKind::Uts, NsKind::Ipc, NsKind::Mnt]
            .iter()
            .map(|k| proc_ino("self", *k))
            .collect()
    })
    .unwrap();
    assert_eq!(got, want);
    // And one handle at a time.
    let uts = Namespace::of_pidfd(&child.pidfd, NsKind::Uts).unwrap();
    let want_uts = want[1];
    let got_uts = fork_run(move || {
        uts.enter().unwrap();
        proc_ino("self", NsKind::Uts)
    })
    .unwrap();
    assert_eq!(got_uts, want_uts);
}

#[test]
fn run_in_uses_a_helper_thread() {
    let Some(_root) = require_root("setns net on a helper thread") else {
        return;
    };
    let child = Paused::spawn(NsKinds::NET);
    let net = child.pidfd.namespace(NsKind::Net).unwrap();
    let before = proc_ino("thread-self", NsKind::Net);
    let inside = run_in(&net, || proc_ino("thread-self", NsKind::Net)).unwrap();
    assert_eq!(inside, proc_ino(&child.pid.to_string(), NsKind::Net));
    assert_ne!(inside, before);
    assert_eq!(proc_ino("thread-self", NsKind::Net), before, "caller moved");
    let mnt = child.pidfd.namespace(NsKind::Mnt).unwrap();
    assert!(run_in(&mnt, || ()).is_err(), "mount ns is not per-thread");
}

#[test]
fn persisted_netns_works_with_ip_and_nsenter() {
    let Some(root) = require_root("bind-mounts a netns in /run/netns") else {
        return;
    };
    // `ip netns add` leaves /run/netns as a shared mount point for good; make
    // that happen before the leak-checked part, which must leave nothing.
    {
        let warm = Paused::spawn(NsKinds::NET);
        let name = unique_name("warm");
        let path = persist_netns(&warm.pidfd.namespace(NsKind::Net).unwrap(), &name).unwrap();
        unpersist(&path).unwrap();
    }
    let (_root, ()) = root.assert_no_leaks(|| {
        let child = Paused::spawn(NsKinds::NET);
        let net = child.pidfd.namespace(NsKind::Net).unwrap();
        let want = net.id().unwrap().ino;
        let name = unique_name("netns");
        let path = persist_netns(&net, &name).unwrap();
        drop(child); // the namespace now lives only in the file
        assert!(run("ip", &["netns", "list"]).contains(&name));
        let seen = run(
            "ip",
            &[
                "netns",
                "exec",
                &name,
                "stat",
                "-L",
                "-c",
                "%i",
                "/proc/self/ns/net",
            ],
        );
        assert_eq!(seen.trim(), want.to_string());
        let via_nsenter = run(
            "nsenter",
            &[
                &format!("--net={}", path.display()),
                "stat",
                "-L",
                "-c",
                "%i",
                "/proc/self/ns/net",
            ],
        );
        assert_eq!(via_nsenter.trim(), want.to_string());
        let reopened = Namespace::open(&path, NsKind::Net).unwrap();
        assert_eq!(reopened.id().unwrap().ino, want);
        drop(reopened);
        unpersist(&path).unwrap();
        assert!(!path.exists());
        assert!(!run("ip", &["netns", "list"]).contains(&name));
    });
    let tmp = palisade_testkit::TempDir::new("persist");
    let file = tmp.path().join("uts");
    let uts = Namespace::current(NsKind::Uts).unwrap();
    persist(&uts, &file).unwrap();
    assert!(
        persist(&uts, &file).is_err(),
        "persisting over an existing file"
    );
    unpersist(&file).unwrap();
}

#[test]
fn id_maps_are_written_and_refused_twice() {
    let Some(_root) = require_root("writes uid_map of a child") else {
        return;
    };
    let child = Paused::spawn(NsKinds::USER);
    let uids: IdMaps = "0 1000 1\n1 100000 65535".parse().unwrap();
    let gids = IdMaps::single(0, 1000);
    write_id_maps(child.pid, &uids, &gids, SetGroups::Deny).unwrap();
    let read = |f: &str| std::fs::read_to_string(format!("/proc/{}/{f}", child.pid)).unwrap();
    let uid_map: IdMaps = read("uid_map").parse().unwrap();
    assert_eq!(uid_map, uids);
    let gid_map: IdMaps = read("gid_map").parse().unwrap();
    assert_eq!(gid_map, gids);
    assert_eq!(read("setgroups").trim(), "deny");
    let err = write_id_maps(child.pid, &uids, &gids, SetGroups::Deny).unwrap_err();
    assert!(matches!(err, Error::IdMapRefused { .. }), "{err}");
    // Owner of the new user namespace is us (root).
    let user = child.pidfd.namespace(NsKind::User).unwrap();
    assert_eq!(user.owner_uid().unwrap(), 0);
    assert_eq!(
        user.parent().unwrap().id().unwrap().ino,
        proc_ino("self", NsKind::User)
    );
}

#[test]
fn time_offsets_shift_boottime_and_freeze_after_entry() {
    let Some(_root) = require_root("unshare a time namespace") else {
        return;
    };
    let host_uptime = uptime();
    let (child_uptime, late) = fork_run(|| {
        unshare(NsKinds::TIME).unwrap();
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() };
        TimeOffsets::new()
            .boottime_secs(86_400)
            .write_for(me)
            .unwrap();
        let out = try_run("cat", &["/proc/uptime"]).unwrap();
        let up: f64 = out.split_whitespace().next().unwrap().parse().unwrap();
        let late = TimeOffsets::new()
            .boottime_secs(1)
            .write_for(me)
            .unwrap_err();
        (up, late.to_string())
    })
    .unwrap();
    assert!(
        child_uptime >= host_uptime + 86_000.0,
        "uptime in the time namespace {child_uptime} vs host {host_uptime}"
    );
    assert!(late.contains("fixed"), "{late}");
}

fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn pidfd_of_a_dead_pid_and_bad_input() {
    assert!(PidFd::open(0).is_err());
    assert!(PidFd::open(-5).is_err());
    assert!(Namespace::of_pid(-1, NsKind::Net).is_err());
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pidfd = PidFd::open(child.id() as i32).unwrap();
    child.wait().unwrap();
    let err = pidfd.send_signal(libc::SIGTERM).unwrap_err();
    assert_eq!(err.errno(), Some(nix::errno::Errno::ESRCH));
}

/// list_namespaces (the lsns example) agrees with util-linux lsns on ids,
/// kinds and process counts.
#[test]
fn list_namespaces_matches_util_linux_lsns() {
    let Some(root) = require_root("reads every process's namespaces") else {
        return;
    };
    // Exclusive: other tests of this binary create namespaces concurrently.
    let (_root, ()) = root.assert_no_leaks(|| {
        let child = Paused::spawn(NsKinds::NET | NsKinds::UTS);
        let net = proc_ino(&child.pid.to_string(), NsKind::Net);
        let ours = palisade_ns::list_namespaces(None).unwrap();
        let theirs: serde_json::Value =
            serde_json::from_str(&run("lsns", &["-J", "-o", "NS,TYPE,NPROCS"])).unwrap();
        let theirs: Vec<(u64, String, u64)> = theirs["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                let num = |v: &serde_json::Value| {
                    v.as_u64().or_else(|| v.as_str()?.parse().ok()).unwrap()
                };
                (
                    num(&n["ns"]),
                    n["type"].as_str().unwrap().to_owned(),
                    num(&n["nprocs"]),
                )
            })
            .collect();
        let child_net = ours
            .iter()
            .find(|n| n.id.ino == net && n.kind == NsKind::Net)
            .unwrap();
        assert_eq!(child_net.nprocs, 1);
        assert_eq!(child_net.pid, child.pid);
        assert!(
            theirs
                .iter()
                .any(|t| t.0 == net && t.1 == "net" && t.2 == 1),
            "lsns disagrees"
        );
        // Processes come and go between the two walks: compare the set of
        // namespaces, which is stable.
        let a: std::collections::BTreeSet<(u64, String)> = ours
            .iter()
            .map(|n| (n.id.ino, n.kind.to_string()))
            .collect();
        let b: std::collections::BTreeSet<(u64, String)> =
            theirs.iter().map(|t| (t.0, t.1.clone())).collect();
        assert_eq!(a, b, "ours vs lsns");
    });
}
