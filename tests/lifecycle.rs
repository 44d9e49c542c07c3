//! Create/start, detach/attach and exec (issue 20). Root, real kernel;
//! both lanes.

mod common;

use std::io::Read;

use common::busybox;
use palisade::{Container, ExitStatus, Mount, Resources, Stdio, Step};
use palisade_testkit::{TempDir, busybox_rootfs, require_root, unique_name};

#[test]
fn a_created_container_waits_until_started() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let tmp = TempDir::new("created");
    let cg = unique_name("created");
    let (_root, ()) = root.assert_no_leaks(|| {
        let created = busybox("echo ran > /out/ran; echo hello")
            .mount(Mount::Bind {
                source: tmp.path().to_owned(),
                target: "/out".into(),
                readonly: false,
            })
            .cgroup(&cg, Resources::new().pids_max(16))
            .stdout(Stdio::Piped)
            .create()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        // Not run: no file, and the waiting process is not the program.
        assert!(!tmp.path().join("ran").exists());
        let procs = created.cgroup().unwrap().procs().unwrap();
        assert_eq!(
            procs,
            [created.pid()],
            "the waiting process is in its cgroup"
        );
        let exe = std::fs::read_link(format!("/proc/{}/exe", created.pid())).unwrap();
        assert_eq!(exe, std::env::current_exe().unwrap(), "not exec'd yet");
        let mut child = created.start().unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
        assert_eq!(out, "hello\n");
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("ran")).unwrap(),
            "ran\n"
        );
    });
}

#[test]
fn deleting_a_created_container_leaves_nothing() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let cg = unique_name("created-del");
    let (_root, ()) = root.assert_no_leaks(|| {
        let created = busybox("true")
            .cgroup(&cg, Resources::new().pids_max(16))
            .create()
            .unwrap();
        created.delete().unwrap();
        // Dropped without start: killed and removed as well.
        drop(
            busybox("true")
                .cgroup(&cg, Resources::new())
                .create()
                .unwrap(),
        );
    });
}

#[test]
fn an_execve_failure_after_start_is_reported() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let created = Container::new("/no/such/program")
            .rootfs(busybox_rootfs())
            .create()
            .unwrap();
        let err = created.start().unwrap_err();
        assert_eq!(err.step, Step::Exec, "{err}");
        assert_eq!(err.errno, Some(nix::errno::Errno::ENOENT), "{err}");
        assert!(err.to_string().contains("/no/such/program"), "{err}");
    });
}
