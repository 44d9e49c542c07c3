//! palisade-caps against the real kernel (root), with libcap's tools as
//! oracles: `capsh`, `getcap`/`setcap`, and `/proc/<pid>/status` after exec.

use palisade_caps::{
    ApplyStep, CapSet, CapState, Capability, Error, FileCaps, IdSwitch, PreparedCaps,
};
use palisade_testkit::{TempDir, fork_run, require_root, run};

fn status_caps_after_exec() -> Vec<String> {
    // A fresh program shows what execve made of our state.
    let out = std::process::Command::new("/bin/grep")
        .args(["-E", "^(Cap|Uid)", "/proc/self/status"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn names_agree_with_capsh_decode() {
    let all = CapSet::all_supported();
    let decoded = run("capsh", &[&format!("--decode={:x}", all.mask())]);
    let names = decoded.trim().split_once('=').unwrap().1;
    assert_eq!(names, all.to_string().to_lowercase());
    let docker = run("capsh", &["--decode=00000000a80425fb"]);
    assert_eq!(
        docker.trim().split_once('=').unwrap().1,
        CapSet::docker_default().to_string().to_lowercase()
    );
    assert_eq!(Capability::last().index() as usize + 1, all.len() as usize);
}

#[test]
fn of_pid_sees_a_bounding_set_capsh_dropped() {
    let Some(_root) = require_root("capsh --drop needs CAP_SETPCAP") else {
        return;
    };
    let mut child = std::process::Command::new("capsh")
        .args(["--drop=cap_net_raw,cap_mknod", "--", "-c", "exec sleep 5"])
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let mut state = CapState::of_pid(pid).unwrap();
    for _ in 0..100 {
        if !state.bounding.contains(Capability::NET_RAW) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        state = CapState::of_pid(pid).unwrap();
    }
    let me = CapState::current().unwrap();
    assert!(!state.bounding.contains(Capability::NET_RAW));
    assert!(!state.bounding.contains(Capability::MKNOD));
    let diff = me.diff(&state);
    assert_eq!(
        diff.bounding.1,
        CapSet::of(&[Capability::NET_RAW, Capability::MKNOD]) & me.bounding
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn docker_default_survives_exec_exactly() {
    let Some(_root) = require_root("changes capability sets in a child") else {
        return;
    };
    let seen = fork_run(|| {
        PreparedCaps::new(CapState::container(CapSet::docker_default()))
            .unwrap()
            .apply()
            .unwrap();
        status_caps_after_exec()
    })
    .unwrap();
    for want in [
        "CapInh: 0000000000000000",
        "CapPrm: 00000000a80425fb",
        "CapEff: 00000000a80425fb",
        "CapBnd: 00000000a80425fb",
        "CapAmb: 0000000000000000",
    ] {
        assert!(seen.iter().any(|l| l == want), "{want} not in {seen:?}");
    }
}

#[test]
fn ambient_caps_carry_over_a_switch_to_an_unprivileged_user() {
    let Some(_root) = require_root("switches uid in a child") else {
        return;
    };
    let bind: CapSet = Capability::NET_BIND_SERVICE.into();
    let target = CapState {
        effective: bind,
        permitted: bind,
        inheritable: bind,
        bounding: bind,
        ambient: bind,
    };
    let seen = fork_run(move || {
        PreparedCaps::new(target)
            .unwrap()
            .with_ids(IdSwitch {
                uid: 1000,
                gid: 1000,
                groups: Some(vec![]),
            })
            .with_no_new_privs(true)
            .apply()
            .unwrap();
        assert!(palisade_caps::no_new_privs().unwrap());
        status_caps_after_exec()
    })
    .unwrap();
    assert!(seen.iter().any(|l| l == "Uid: 1000"), "{seen:?}");
    assert!(
        seen.iter().any(|l| l == "CapEff: 0000000000000400"),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|l| l == "CapAmb: 0000000000000400"),
        "{seen:?}"
    );
}

#[test]
fn raising_after_dropping_is_a_typed_error() {
    let Some(_root) = require_root("drops capabilities in a child") else {
        return;
    };
    let err = fork_run(|| {
        PreparedCaps::new(CapState::container(CapSet::EMPTY))
            .unwrap()
            .apply()
            .unwrap();
        let err = PreparedCaps::new(CapState::container(CapSet::docker_default()))
            .unwrap()
            .apply()
            .unwrap_err();
        match err {
            Error::Apply { step, errno } => (format!("{step}"), errno as i32),
            other => panic!("{other}"),
        }
    })
    .unwrap();
    assert_eq!(err.1, libc::EPERM);
    assert!(
        err.0.contains("capset") || err.0.contains("bounding"),
        "{err:?}"
    );
    let _ = ApplyStep::Capset;
}

#[test]
fn file_caps_agree_with_getcap_and_setcap() {
    let Some(_root) = require_root("sets security.capability") else {
        return;
    };
    let dir = TempDir::new("filecaps");
    let file = dir.path().join("prog");
    std::fs::copy("/bin/true", &file).unwrap();
    let path = file.to_str().unwrap();
    assert_eq!(FileCaps::read(&file).unwrap(), None);

    let ours = FileCaps::new(CapSet::of(&[Capability::NET_RAW, Capability::CHOWN])).effective(true);
    ours.write(&file).unwrap();
    let shown = run("getcap", &[path]);
    assert!(shown.contains("cap_chown,cap_net_raw=ep"), "{shown}");
    assert_eq!(FileCaps::read(&file).unwrap(), Some(ours));

    run("setcap", &["cap_kill,cap_setuid+ei", path]);
    let theirs = FileCaps::read(&file).unwrap().unwrap();
    assert_eq!(
        theirs.inheritable,
        CapSet::of(&[Capability::KILL, Capability::SETUID])
    );
    assert!(theirs.effective);
    let fd = std::fs::File::open(&file).unwrap();
    assert_eq!(FileCaps::read_fd(&fd).unwrap(), Some(theirs));

    FileCaps::remove(&file).unwrap();
    assert_eq!(run("getcap", &[path]).trim(), "");
    FileCaps::remove(&file).unwrap();
    assert!(FileCaps::read("/no/such/file").is_err());
}

/// An unprivileged user binds port 80 only with CAP_NET_BIND_SERVICE (in
/// its own network namespace, so nothing on the host is touched).
#[test]
fn net_bind_service_decides_whether_uid_1000_binds_port_80() {
    let Some(_root) = require_root("switches uid in a child") else {
        return;
    };
    let bind80 = |with_cap: bool| {
        fork_run(move || {
            // SAFETY: unshare in the single-threaded forked child.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
            let set: CapSet = if with_cap {
                Capability::NET_BIND_SERVICE.into()
            } else {
                CapSet::EMPTY
            };
            let target = CapState {
                effective: set,
                permitted: set,
                inheritable: set,
                bounding: set,
                ambient: set,
            };
            PreparedCaps::new(target)
                .unwrap()
                .with_ids(IdSwitch {
                    uid: 1000,
                    gid: 1000,
                    groups: Some(vec![]),
                })
                .apply()
                .unwrap();
            std::net::TcpListener::bind("0.0.0.0:80")
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .unwrap()
    };
    assert_eq!(bind80(true), Ok(()));
    let denied = bind80(false).unwrap_err();
    assert!(denied.contains("Permission denied"), "{denied}");
}

/// `ids` changes the calling thread only (the raw syscalls; glibc would
/// change every thread), as `/proc/thread-self/status` and a sibling
/// thread's status show; a thread that left root cannot come back (EPERM).
#[test]
fn ids_change_only_the_calling_thread() {
    let Some(_root) = require_root("switches uid/gid/groups") else {
        return;
    };
    let seen = fork_run(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let sibling = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::gettid() }).unwrap();
            done_rx.recv().unwrap();
        });
        let tid = rx.recv().unwrap();
        palisade_caps::ids::set_groups(&[5, 7]).unwrap();
        palisade_caps::ids::set_gid(1001).unwrap();
        palisade_caps::ids::set_uid(1002).unwrap();
        let back = palisade_caps::ids::set_uid(0).unwrap_err();
        let ids = |path: String| -> Vec<String> {
            std::fs::read_to_string(path)
                .unwrap()
                .lines()
                .filter(|l| {
                    l.starts_with("Uid:") || l.starts_with("Gid:") || l.starts_with("Groups:")
                })
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect()
        };
        let own = ids("/proc/thread-self/status".into());
        let other = ids(format!("/proc/self/task/{tid}/status"));
        done_tx.send(()).unwrap();
        sibling.join().unwrap();
        (own, other, back as i32)
    })
    .unwrap();
    let (own, other, back) = seen;
    assert_eq!(
        own,
        [
            "Uid: 1002 1002 1002 1002",
            "Gid: 1001 1001 1001 1001",
            "Groups: 5 7"
        ]
    );
    assert!(other[0].starts_with("Uid: 0 0 0 0"), "{other:?}");
    assert!(other[1].starts_with("Gid: 0 0 0 0"), "{other:?}");
    assert_eq!(back, libc::EPERM);
}

/// In a user namespace whose `setgroups` is `deny` (the rootless case),
/// `groups: None` makes no `setgroups` call and the switch works, keeping
/// the groups; `Some(vec![])` is the kernel's EPERM at `SetGroups`, and an
/// unmapped uid its EINVAL at `SetUid` (issue 18, item 4).
#[test]
fn no_setgroups_call_when_groups_are_left_alone() {
    let Some(_root) = require_root("makes a user namespace with setgroups denied") else {
        return;
    };
    let seen = fork_run(|| {
        palisade_caps::ids::set_groups(&[5, 7]).unwrap();
        // SAFETY: single-threaded forked child.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWUSER) }, 0);
        std::fs::write("/proc/self/setgroups", "deny").unwrap();
        std::fs::write("/proc/self/uid_map", "0 0 1").unwrap();
        std::fs::write("/proc/self/gid_map", "0 0 1").unwrap();
        let switch = |uid, groups| {
            PreparedCaps::new(CapState::container(CapSet::all_supported()))
                .unwrap()
                .with_ids(IdSwitch {
                    uid,
                    gid: 0,
                    groups,
                })
                .apply()
        };
        let denied = switch(0, Some(vec![]));
        let unmapped = switch(1000, None);
        let kept = switch(0, None);
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        (
            format!("{denied:?}"),
            format!("{unmapped:?}"),
            format!("{kept:?}"),
            line("Uid:"),
            line("Groups:"),
        )
    })
    .unwrap();
    let (denied, unmapped, kept, uid, groups) = seen;
    assert!(
        denied.contains("SetGroups") && denied.contains("EPERM"),
        "{denied}"
    );
    assert!(
        unmapped.contains("SetUid") && unmapped.contains("EINVAL"),
        "{unmapped}"
    );
    assert_eq!(kept, "Ok(())");
    assert_eq!(uid, "Uid: 0 0 0 0");
    // Groups 5 and 7 are kept; unmapped here, they read as the overflow gid.
    assert_eq!(groups, "Groups: 65534 65534");
}
