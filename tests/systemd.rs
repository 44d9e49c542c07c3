//! `Container::cgroup_manager(CgroupManager::Systemd)` (issue 23): without
//! systemd a typed error at the cgroup step and nothing left; where systemd
//! is PID 1 (the guest lane's systemd mode, `PALISADE_VM_SYSTEMD=1`) the
//! container's group is a transient scope whose limits systemd reports.

mod common;

use std::path::Path;

use common::busybox;
use palisade::cgroup::CgroupManager;
use palisade::{Resources, Step};
use palisade_testkit::{require_root, unique_name};

fn systemd_running() -> bool {
    Path::new("/run/systemd/system").exists()
}

#[test]
fn without_systemd_the_driver_is_a_typed_error_and_leaves_nothing() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    if systemd_running() && cfg!(feature = "systemd") {
        eprintln!("SKIP: systemd is PID 1 here; a_container_in_a_systemd_scope covers the driver");
        return;
    }
    let name = format!("system.slice:palisade:{}", unique_name("sd"));
    let (_root, err) = root.assert_no_leaks(|| {
        busybox("true")
            .cgroup(&name, Resources::new().pids_max(16))
            .cgroup_manager(CgroupManager::Systemd)
            .spawn()
            .unwrap_err()
    });
    assert_eq!(err.step, Step::Cgroup, "{err}");
    assert!(err.to_string().contains("systemd"), "{err}");
}

#[cfg(feature = "systemd")]
#[test]
fn a_container_in_a_systemd_scope() {
    let Some(_root) = require_root("spawns containers") else {
        return;
    };
    if !systemd_running() {
        assert!(
            std::env::var_os("PALISADE_VM_SYSTEMD").is_none(),
            "the systemd lane must have systemd as PID 1"
        );
        eprintln!("SKIP: systemd is not PID 1 here (the guest lane's systemd mode runs this)");
        return;
    }
    let id = unique_name("sd");
    let unit = format!("palisade-{id}.scope");
    let show = |prop: &str| {
        let out = std::process::Command::new("systemctl")
            .args(["show", &unit, "-p", prop, "--value"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    // Not under the leak snapshot: the first D-Bus call starts dbus.service
    // (socket activation), a group of systemd's own. What is ours — the
    // scope and its group — is checked gone below.
    {
        let mut child = busybox("cat /proc/self/cgroup; echo ready; exec sleep 60")
            .cgroup(
                &format!("system.slice:palisade:{id}"),
                Resources::new().memory_max(64 << 20).pids_max(32),
            )
            .cgroup_manager(CgroupManager::Systemd)
            .namespaces(palisade::NsKinds::MNT | palisade::NsKinds::PID | palisade::NsKinds::UTS)
            .network(palisade::Network::Host)
            .stdout(palisade::Stdio::Piped)
            .spawn()
            .unwrap();
        let out = common::read_until_ready(&mut child);
        assert!(out.contains(&unit), "the program is in the scope: {out}");
        assert_eq!(show("ActiveState"), "active");
        assert_eq!(show("MemoryMax"), (64u64 << 20).to_string());
        assert_eq!(show("TasksMax"), "32");
        let cg = child.cgroup().unwrap();
        let dir = cg.v2_dir().unwrap().to_owned();
        assert_eq!(
            std::fs::read_to_string(dir.join("memory.max"))
                .unwrap()
                .trim(),
            (64u64 << 20).to_string()
        );
        assert!(cg.procs().unwrap().contains(&child.pid()));
        child.kill(libc::SIGKILL).unwrap();
        child.wait().unwrap();
        assert!(!dir.exists(), "the scope's group is gone");
        assert_ne!(show("ActiveState"), "active");
    }
}
