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

#[test]
fn detach_in_one_process_attach_in_another() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let cg = unique_name("detach");
    let (_root, ()) = root.assert_no_leaks(|| {
        let child = busybox("exec sleep 60")
            .cgroup(&cg, Resources::new().pids_max(16))
            .parent_death_signal(None)
            .spawn()
            .unwrap();
        let pid = child.pid();
        let state = child.detach().unwrap();
        assert_eq!(state.pid, pid);
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "survives the handle"
        );
        #[cfg(feature = "serde")]
        let state: palisade::ContainerState =
            serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
        // Another process attaches, reads, kills and cleans up.
        let seen = palisade_testkit::fork_run(move || {
            let c = palisade::Attached::attach(state.clone()).map_err(|e| e.to_string())?;
            let running = c.status();
            let procs = c.processes().map_err(|e| e.to_string())?;
            let stats_ok = c.stats().is_ok();
            c.freeze().map_err(|e| e.to_string())?;
            let paused = c.status();
            c.thaw().map_err(|e| e.to_string())?;
            // A forged start time is another process: stopped.
            let mut other = state.clone();
            other.start_time += 1;
            let reused = palisade::Attached::attach(other).unwrap().status();
            c.cleanup().map_err(|e| e.to_string())?;
            Ok::<_, String>(format!(
                "{running:?} {paused:?} {reused:?} {} {stats_ok}",
                procs.len()
            ))
        })
        .unwrap()
        .unwrap();
        assert_eq!(seen, "Running Paused Stopped 1 true");
        // The test process is the parent: reap the killed sleep, then the
        // state reads stopped.
        let mut status = 0;
        // SAFETY: waitpid on our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    });
}

#[test]
fn a_created_container_starts_from_another_process() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let tmp = TempDir::new("detached-created");
    let (_root, ()) = root.assert_no_leaks(|| {
        let created = busybox("echo started > /out/started")
            .mount(Mount::Bind {
                source: tmp.path().to_owned(),
                target: "/out".into(),
                readonly: false,
            })
            .parent_death_signal(None)
            .create()
            .unwrap();
        let pid = created.pid();
        let state = created.detach().unwrap();
        let before = palisade::Attached::attach(state.clone()).unwrap().status();
        assert_eq!(before, palisade::Status::Created);
        let kept = state.clone();
        let after = palisade_testkit::fork_run(move || {
            let mut c = palisade::Attached::attach(state).map_err(|e| e.to_string())?;
            c.start().map_err(|e| e.to_string())?;
            Ok::<_, String>(c.state().created.is_none())
        })
        .unwrap()
        .unwrap();
        assert!(after);
        let mut status = 0;
        // SAFETY: waitpid on our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{status:#x}"
        );
        // Detached: its host resources (here the device-rules cgroup) are
        // the attacher's to remove.
        let stopped = palisade::Attached::attach(kept).unwrap();
        assert_eq!(stopped.status(), palisade::Status::Stopped);
        stopped.cleanup().unwrap();
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("started")).unwrap(),
            "started\n"
        );
    });
}

#[test]
fn exec_joins_every_namespace_the_cgroup_and_the_capabilities() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let cg = unique_name("exec");
    let (_root, ()) = root.assert_no_leaks(|| {
        let mut first = busybox("echo ready; exec sleep 60")
            .cgroup(&cg, Resources::new().pids_max(64))
            .hostname("execbox")
            .env("FROM_CONTAINER", "yes")
            .stdout(Stdio::Piped)
            .spawn()
            .unwrap();
        common::read_until_ready(&mut first);
        let mut ex = first
            .exec(
                palisade::Exec::new("/bin/sh")
                    .args(["-c", "hostname; echo $FROM_CONTAINER; echo $$; grep CapEff /proc/self/status; echo ready; exec sleep 60"])
                    .stdout(Stdio::Piped),
            )
            .unwrap();
        let out = common::read_until_ready(&mut ex);
        // Host side: every namespace of the exec'd process is the first one's.
        for kind in ["user", "mnt", "uts", "ipc", "net", "cgroup", "pid", "time"] {
            let a = std::fs::read_link(format!("/proc/{}/ns/{kind}", first.pid())).unwrap();
            let b = std::fs::read_link(format!("/proc/{}/ns/{kind}", ex.pid())).unwrap();
            assert_eq!(a, b, "{kind}");
        }
        let status = std::fs::read_to_string(format!("/proc/{}/status", ex.pid())).unwrap();
        let nspid: Vec<&str> = status
            .lines()
            .find(|l| l.starts_with("NSpid:"))
            .unwrap()
            .split_whitespace()
            .skip(1)
            .collect();
        assert_eq!(nspid.len(), 2, "{status}");
        assert!(first.cgroup().unwrap().procs().unwrap().contains(&ex.pid()));
        // In every hierarchy (the v1 ones it joined itself, cgroup2 by
        // clone3), as seen from the host.
        let cgroups = |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        assert_eq!(cgroups(ex.pid()), cgroups(first.pid()));
        assert!(cgroups(ex.pid()).contains(&cg), "{}", cgroups(ex.pid()));
        let first_caps = std::fs::read_to_string(format!("/proc/{}/status", first.pid())).unwrap();
        let capeff = |s: &str| s.lines().find(|l| l.starts_with("CapEff:")).unwrap().to_owned();
        assert_eq!(capeff(&status), capeff(&first_caps));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "execbox", "{out}");
        assert_eq!(lines[1], "yes", "{out}");
        assert_eq!(lines[2], nspid[1], "{out}");
        ex.kill(libc::SIGKILL).unwrap();
        ex.wait().unwrap();
        // Exit codes come back; 20 concurrent execs all succeed.
        let codes: Vec<ExitStatus> = std::thread::scope(|s| {
            let first = &first;
            let handles: Vec<_> = (0..20)
                .map(|i| {
                    s.spawn(move || {
                        let mut c = first
                            .exec(palisade::Exec::new("/bin/sh").args(["-c", &format!("exit {i}")]))
                            .unwrap();
                        c.wait().unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, code) in codes.iter().enumerate() {
            assert_eq!(*code, ExitStatus::Exited(i as i32));
        }
        first.kill(libc::SIGKILL).unwrap();
        first.wait().unwrap();
        let err = first.exec(palisade::Exec::new("/bin/true")).unwrap_err();
        assert_eq!(err.step, Step::Validate, "{err}");
    });
}

#[test]
fn hooks_run_in_order_with_the_state_and_the_spec_failure_semantics() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    use palisade::{Hook, HookPoint};
    let tmp = TempDir::new("hooks");
    let log = tmp.path().join("log");
    let host_hook = |point: &str| {
        Hook::new("/bin/sh").args([
            "sh".to_owned(),
            "-c".to_owned(),
            format!(
                "s=$(cat); case \"$s\" in *'\"id\":\"hooked\"'*) ;; *) exit 9;; esac; \
                 st=${{s#*\\\"status\\\":\\\"}}; echo {point} ${{st%%\\\"*}} >> {}",
                log.display()
            ),
        ])
    };
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen2 = seen.clone();
    let (root, ()) = root.assert_no_leaks(|| {
        let mut child = busybox("echo program >> /out/log")
            .id("hooked")
            .mount(Mount::Bind {
                source: tmp.path().to_owned(),
                target: "/out".into(),
                readonly: false,
            })
            .hook(HookPoint::Prestart, host_hook("prestart"))
            .hook(HookPoint::CreateRuntime, host_hook("createRuntime"))
            // In the container's mount namespace before pivot_root: the
            // host's paths are still there.
            .hook(HookPoint::CreateContainer, host_hook("createContainer"))
            // Inside the container: its own /bin/sh and the bind at /out.
            .hook(
                HookPoint::StartContainer,
                Hook::new("/bin/sh").args([
                    "sh",
                    "-c",
                    "echo startContainer $(hostname) >> /out/log",
                ]),
            )
            .hook(HookPoint::Poststart, host_hook("poststart"))
            .hook(
                HookPoint::Poststart,
                Hook::new("/bin/sh").args(["sh", "-c", "exit 3"]),
            )
            .hook(HookPoint::Poststart, host_hook("poststart2"))
            .hook(HookPoint::Poststop, host_hook("poststop"))
            .hook_fn(HookPoint::Poststop, move |state| {
                seen2.lock().unwrap().push(state.to_owned());
                Ok(())
            })
            .hostname("hooked-box")
            .spawn()
            .unwrap();
        assert_eq!(child.wait().unwrap(), ExitStatus::Exited(0));
        assert_eq!(
            child.hook_failures().len(),
            1,
            "{:?}",
            child.hook_failures()
        );
        assert!(
            child.hook_failures()[0].contains("Poststart"),
            "{:?}",
            child.hook_failures()
        );
    });
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "prestart creating",
            "createRuntime creating",
            "createContainer creating"
        ],
        "{text}"
    );
    assert_eq!(lines[3], "startContainer hooked-box", "{text}");
    // The program and the poststart hooks race; poststop is last.
    let mut middle = lines[4..lines.len() - 1].to_vec();
    middle.sort();
    assert_eq!(
        middle,
        ["poststart running", "poststart2 running", "program"],
        "{text}"
    );
    assert_eq!(lines[lines.len() - 1], "poststop stopped", "{text}");
    let states = seen.lock().unwrap();
    assert_eq!(states.len(), 1);
    assert!(states[0].contains("\"status\":\"stopped\""), "{states:?}");

    // A hanging createRuntime hook is killed at its timeout and aborts,
    // leaving nothing behind; so does a failing startContainer hook.
    let (root, ()) = root.assert_no_leaks(|| {
        let started = std::time::Instant::now();
        let err = busybox("true")
            .hook(
                HookPoint::CreateRuntime,
                Hook::new("/bin/sleep")
                    .args(["sleep", "30"])
                    .timeout(std::time::Duration::from_millis(200)),
            )
            .spawn()
            .unwrap_err();
        assert_eq!(err.step, Step::Hook, "{err}");
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let err = busybox("true")
            .hook(HookPoint::StartContainer, Hook::new("/bin/false"))
            .spawn()
            .unwrap_err();
        assert_eq!(err.step, Step::Hook, "{err}");
    });
    drop(root);
}
