//! The test kit proves its own claims against the real kernel.

use std::os::unix::process::CommandExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;

use palisade_testkit::*;

/// Runs `f` under `assert_no_leaks`, expects it to report a leak mentioning
/// `needle`, then runs `cleanup` and checks the snapshot is clean again.
fn expect_leak(needle: &str, f: impl FnOnce(), cleanup: impl FnOnce()) {
    let _x = exclusive();
    let before = Snapshot::take();
    let caught = catch_unwind(AssertUnwindSafe(|| assert_no_leaks(f)));
    cleanup();
    let msg = match caught {
        Ok(()) => panic!("leak of {needle} was not detected"),
        Err(p) => p.downcast_ref::<String>().cloned().unwrap_or_default(),
    };
    assert!(
        msg.contains(needle),
        "leak report does not name {needle}:\n{msg}"
    );
    let leaks = Snapshot::take().leaks_since(&before);
    assert!(leaks.is_empty(), "cleanup incomplete:\n{leaks}");
}

#[test]
fn detects_a_leaked_mount() {
    let Some(_root) = require_root("mounts a tmpfs") else {
        return;
    };
    drop(_root);
    let dir = TempDir::new("mnt");
    let target = dir.path().to_str().unwrap().to_owned();
    expect_leak(
        &target,
        || {
            run("mount", &["-t", "tmpfs", "none", &target]);
        },
        || {
            run("umount", &[&target]);
        },
    );
}

#[test]
fn detects_a_leaked_cgroup_dir() {
    let Some(_root) = require_root("creates a cgroup") else {
        return;
    };
    drop(_root);
    // Any mounted hierarchy will do; prefer pids (v1) else the v2 root.
    let base = [
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).join("cgroup.procs").exists())
    .expect("a cgroup hierarchy");
    let path = format!("{base}/{}", unique_name("leak"));
    expect_leak(
        &path,
        || std::fs::create_dir(&path).unwrap(),
        || std::fs::remove_dir(&path).unwrap(),
    );
}

#[test]
fn detects_a_leaked_veth() {
    let Some(_root) = require_root("creates a veth pair") else {
        return;
    };
    drop(_root);
    let a = ifname("a");
    let b = ifname("b");
    expect_leak(
        &a,
        || {
            run(
                "ip",
                &["link", "add", &a, "type", "veth", "peer", "name", &b],
            );
        },
        || {
            run("ip", &["link", "del", &a]);
        },
    );
}

#[test]
fn detects_a_leaked_child_process() {
    let _x = exclusive();
    let mut child = None;
    let before = Snapshot::take();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        assert_no_leaks(|| child = Some(Command::new("sleep").arg("30").spawn().unwrap()))
    }));
    let mut child = child.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let msg = caught
        .err()
        .and_then(|p| p.downcast_ref::<String>().cloned())
        .expect("leak seen");
    assert!(msg.contains(&format!("{} sleep", child.id())), "{msg}");
    assert!(Snapshot::take().leaks_since(&before).is_empty());
}

#[test]
fn clean_closure_passes() {
    assert_eq!(assert_no_leaks(|| 7), 7);
}

#[test]
fn busybox_rootfs_runs_a_shell_in_chroot() {
    let Some(_root) = require_root("chroot") else {
        return;
    };
    let root = busybox_rootfs().to_owned();
    for p in [
        "bin/sh",
        "etc/passwd",
        "etc/group",
        "proc",
        "dev",
        "sys",
        "tmp",
    ] {
        assert!(root.join(p).exists(), "{p} missing in rootfs");
    }
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "echo ok; ls /"])
        .env_clear()
        .env("PATH", "/bin");
    // SAFETY: chroot and chdir are async-signal-safe; nothing allocates.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::chroot(root.as_path())?;
            nix::unistd::chdir("/")?;
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.starts_with("ok\n"), "{stdout}");
    // Only the rootfs is visible: no host /work or /usr/lib.
    assert!(!stdout.contains("work"), "{stdout}");
}

#[test]
fn fork_run_gives_a_single_threaded_child() {
    let threads = fork_run(|| {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find(|l| l.starts_with("Threads:"))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    })
    .unwrap();
    assert_eq!(threads, "1");
}
