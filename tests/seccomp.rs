//! The container's syscall filter (issue 19): Docker's profile by default,
//! a profile of one's own, unconfined. Root, real kernel; both lanes.

mod common;

use common::{busybox, sh};
use palisade::seccomp::Profile;
use palisade::{CapSet, Seccomp};
use palisade_testkit::require_root;

fn seccomp_mode(out: &str) -> &str {
    out.lines()
        .find(|l| l.starts_with("Seccomp:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
}

#[test]
fn default_containers_run_under_dockers_profile() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let (_root, (status, out)) = root.assert_no_leaks(|| {
        sh(busybox(
            "grep Seccomp: /proc/self/status; echo hi > /tmp/f && cat /tmp/f; \
             ping -c1 -W1 127.0.0.1 >/dev/null && echo ping-ok",
        ))
    });
    assert!(status.success(), "{status}: {out}");
    assert_eq!(seccomp_mode(&out), "2", "{out}");
    assert!(out.contains("hi\n") && out.contains("ping-ok"), "{out}");

    // Docker's capability-dependent rules follow the container's set:
    // without CAP_SYS_ADMIN the profile refuses unshare; given the
    // capability, the profile resolved against it allows it.
    let (status, out) = sh(busybox(
        "unshare -u true && echo unshare-ok || echo unshare-refused",
    ));
    assert!(status.success(), "{status}: {out}");
    assert_eq!(out, "unshare-refused\n");
    let with_admin = CapSet::docker_default()
        .tweak(&["CAP_SYS_ADMIN"], &[])
        .unwrap();
    let (status, out) = sh(
        busybox("unshare -u true && echo unshare-ok || echo unshare-refused")
            .capabilities(with_admin),
    );
    assert!(status.success(), "{status}: {out}");
    assert_eq!(out, "unshare-ok\n");
    // The same capability under the profile resolved for Docker's set:
    // the filter, not the capability, refuses it.
    let (status, out) = sh(
        busybox("unshare -u true && echo unshare-ok || echo unshare-refused")
            .capabilities(with_admin)
            .seccomp(Seccomp::Profile(Profile::docker_default(
                &CapSet::docker_default(),
            ))),
    );
    assert!(status.success(), "{status}: {out}");
    assert_eq!(out, "unshare-refused\n");
}

#[test]
fn a_profile_of_ones_own_and_unconfined() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let profile = Profile::from_json(
        r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
    )
    .unwrap();
    let (root, (status, out)) = root.assert_no_leaks(|| {
        sh(busybox("/bin/pwd 2>&1; echo rc=$?").seccomp(Seccomp::Profile(profile.clone())))
    });
    assert!(status.success(), "{status}: {out}");
    assert!(
        out.contains("Permission denied"),
        "getcwd answered EACCES: {out}"
    );
    let (_root, (status, out)) = root
        .assert_no_leaks(|| sh(busybox("grep Seccomp: /proc/self/status").seccomp_unconfined()));
    assert!(status.success(), "{status}: {out}");
    assert_eq!(seccomp_mode(&out), "0", "{out}");
}

#[test]
fn a_filter_that_cannot_be_compiled_fails_at_its_step() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    // Parsed, but no filter can say it: a default action of NOTIFY.
    let profile = Profile::from_json(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#).unwrap();
    let (_root, err) = root.assert_no_leaks(|| {
        busybox("true")
            .seccomp(Seccomp::Profile(profile))
            .spawn()
            .unwrap_err()
    });
    assert_eq!(err.step, palisade::Step::Seccomp, "{err}");
    assert!(err.to_string().to_lowercase().contains("notify"), "{err}");
}

#[test]
fn a_notify_profile_hands_its_listener_to_the_caller() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    use palisade::seccomp::Response;
    use std::io::Read;
    let profile = Profile::from_json(
        r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    )
    .unwrap();
    let (_root, out) = root.assert_no_leaks(|| {
        let mut child = busybox(
            "mkdir /tmp/a 2>/dev/null && echo a-made || echo a-refused; \
             mkdir /tmp/b 2>/dev/null && echo b-made || echo b-refused",
        )
        .mount(palisade::Mount::Tmpfs {
            target: "/tmp".into(),
            size_bytes: 1 << 20,
        })
        .seccomp(Seccomp::Profile(profile))
        .stdout(palisade::Stdio::Piped)
        .spawn()
        .unwrap();
        let listener = child
            .seccomp_notify()
            .expect("a Notify profile has a listener");
        // The first mkdir is refused, the second runs as asked.
        let first = listener.recv().unwrap();
        assert!(listener.id_valid(first.id));
        listener
            .respond(first.id, Response::Errno(libc::EPERM))
            .unwrap();
        let second = listener.recv().unwrap();
        listener.respond(second.id, Response::Continue).unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert!(child.wait().unwrap().success());
        out
    });
    assert_eq!(out, "a-refused\nb-made\n");
}
