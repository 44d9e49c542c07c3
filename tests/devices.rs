//! Device access policy of the default container (issue 17): Docker's
//! allow-list put in force by the container's cgroup, read back from the
//! kernel. Root, real kernel; both lanes.

mod common;

use common::{read_until_ready, sh};
use palisade::cgroup::DeviceRule;
use palisade::{Container, Device, IdMaps, Mount, Resources, Stdio, Step};
use palisade_testkit::{require_root, unique_name};

/// `/bin/sh -c script` on the busybox rootfs with a private `/tmp` (the
/// shared rootfs keeps no node between runs).
fn busybox(script: &str) -> Container {
    common::busybox(script).mount(Mount::Tmpfs {
        target: "/tmp".into(),
        size_bytes: 1 << 20,
    })
}

/// Opens `path` for reading then writing with busybox's `dd` (no data
/// moved: only the open is tested) and prints `name r:OK w:EPERM`-style.
fn probe(name: &str, path: &str) -> String {
    format!(
        "r=$(dd if={path} of=/dev/null bs=1 count=0 2>&1 && echo ok || echo no); \
         w=$(dd if=/dev/zero of={path} bs=1 count=0 conv=notrunc 2>&1 && echo ok || echo no); \
         echo {name} ${{r##*$'\\n'}} ${{w##*$'\\n'}};"
    )
}

fn verdicts(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .filter_map(|l| {
            let v: Vec<&str> = l.split_whitespace().collect();
            (v.len() == 3).then(|| (v[0].to_owned(), v[1].to_owned(), v[2].to_owned()))
        })
        .collect()
}

#[test]
fn default_container_refuses_undeclared_devices() {
    let Some(root) = require_root("device cgroups") else {
        return;
    };
    let script = format!(
        "mknod /tmp/kmsg c 1 11 && echo made-c; mknod /tmp/disk b 8 0 && echo made-b; \
         {} {} {} {} {} {} {} exec 3<>/dev/ptmx && echo ptmx ok ok",
        probe("kmsg", "/tmp/kmsg"),
        probe("disk", "/tmp/disk"),
        probe("null", "/dev/null"),
        probe("zero", "/dev/zero"),
        probe("urandom", "/dev/urandom"),
        probe("full", "/dev/full"),
        probe("random", "/dev/random"),
    );
    let (_root, (status, out)) = root.assert_no_leaks(|| sh(busybox(&script)));
    assert!(status.success(), "{status}: {out}");
    assert!(
        out.starts_with("made-c\nmade-b\n"),
        "mknod is allowed: {out}"
    );
    let v = verdicts(&out);
    let want = [
        ("kmsg", "no", "no"),
        ("disk", "no", "no"),
        ("null", "ok", "ok"),
        ("zero", "ok", "ok"),
        ("urandom", "ok", "ok"),
        ("full", "ok", "ok"),
        ("random", "ok", "ok"),
        ("ptmx", "ok", "ok"),
    ];
    let got: Vec<(&str, &str, &str)> = v
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(got, want, "{out}");
}

#[test]
fn an_extra_device_opens_exactly_and_a_later_deny_wins() {
    let Some(root) = require_root("device cgroups") else {
        return;
    };
    let mut rules = DeviceRule::docker_default();
    rules.push(DeviceRule::parse(false, "c 1:9 rw").unwrap());
    let script = format!(
        "ls -ln /dev/kmsg | awk '{{print $1, $3, $4}}'; mknod /tmp/mem c 1 1; {} {} {}",
        probe("kmsg", "/dev/kmsg"),
        probe("mem", "/tmp/mem"),
        probe("urandom", "/dev/urandom"),
    );
    let (_root, (status, out)) = root.assert_no_leaks(|| {
        sh(busybox(&script)
            .device(
                Device::char("/dev/kmsg", 1, 11)
                    .file_mode(0o640)
                    .owner(7, 9),
            )
            .device_rules(rules.clone()))
    });
    assert!(status.success(), "{status}: {out}");
    let first = out.lines().next().unwrap();
    assert_eq!(first, "crw-r----- 7 9", "{out}");
    let v = verdicts(&out);
    let got: Vec<(&str, &str, &str)> = v
        .iter()
        .skip(1)
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            // Reading /dev/kmsg needs CAP_SYSLOG, which the container
            // lacks; the write shows the cgroup lets the device through.
            ("kmsg", "no", "ok"),
            ("mem", "no", "no"),
            ("urandom", "no", "no")
        ],
        "{out}"
    );
}

#[test]
fn rules_read_back_from_the_kernel_and_update_on_a_running_container() {
    let Some(root) = require_root("device cgroups") else {
        return;
    };
    let cg = unique_name("devupd");
    let (_root, ()) = root.assert_no_leaks(|| {
        let mut child = busybox(
            "echo ready; while :; do \
               if dd if=/dev/urandom of=/dev/null bs=1 count=1 2>/dev/null; then echo u-ok; else echo u-no; fi; \
               sleep 0.05; done",
        )
        .cgroup(&cg, Resources::new().pids_max(32))
        .stdout(Stdio::Piped)
        .spawn()
        .unwrap();
        read_until_ready(&mut child);
        let cgroup = child.cgroup().unwrap().clone();
        let before = cgroup.devices_in_force().unwrap();
        if let Some(v1) = &before.v1 {
            let text: Vec<String> = v1.iter().map(|r| r.to_string()).collect();
            assert!(text.contains(&"c 1:9 rwm".to_owned()), "{text:?}");
            assert!(!text.contains(&"a *:* rwm".to_owned()), "{text:?}");
        }
        if let Some(progs) = &before.v2_programs {
            assert_eq!(progs.len(), 1, "{progs:?}");
        }
        let mut rules = DeviceRule::docker_default();
        rules.push(DeviceRule::parse(false, "c 1:9 rw").unwrap());
        child.update_device_rules(&rules).unwrap();
        // From now on the loop must see urandom refused.
        let stdout = child.stdout.as_mut().unwrap();
        let mut seen = String::new();
        let mut byte = [0u8; 1];
        while !seen.ends_with("u-no\n") {
            assert_eq!(std::io::Read::read(stdout, &mut byte).unwrap(), 1, "{seen}");
            seen.push(byte[0] as char);
            assert!(seen.len() < 4096, "update not in force: {seen}");
        }
        let after = cgroup.devices_in_force().unwrap();
        if let Some(v1) = &after.v1 {
            let text: Vec<String> = v1.iter().map(|r| r.to_string()).collect();
            assert!(!text.iter().any(|t| t == "c 1:9 rwm"), "{text:?}");
        }
        if let Some(progs) = &after.v2_programs {
            assert_eq!(progs.len(), 1, "old program detached: {progs:?}");
            assert_ne!(progs, before.v2_programs.as_ref().unwrap());
        }
        child.kill(libc::SIGKILL).unwrap();
        child.wait().unwrap();
    });
}

#[test]
fn bad_devices_and_rules_are_refused_before_anything_is_made() {
    let Some(root) = require_root("spawns containers") else {
        return;
    };
    let mut root = root;
    let cases = vec![
        busybox("true").device(Device::char("/dev/x", 4096, 0)),
        busybox("true").device(Device::char("/dev/x", 1, 1 << 20)),
        busybox("true").device(Device::char("dev/x", 1, 3)),
        busybox("true").device(Device::char("/dev/x", 1, 3).file_mode(0o10000)),
        busybox("true").device_rules([DeviceRule {
            major: Some(5000),
            ..DeviceRule::allow_all()
        }]),
    ];
    for c in cases {
        let (r, err) = root.assert_no_leaks(|| c.spawn().unwrap_err());
        root = r;
        assert_eq!(err.step, Step::Validate, "{err}");
    }
}

#[test]
fn in_a_user_namespace_devices_are_bound_from_the_host() {
    let Some(root) = require_root("writes id maps") else {
        return;
    };
    // No cgroup is made (the kernel refuses mknod there anyway); the
    // extra device is the host's node, bound.
    let (_root, (status, out)) = root.assert_no_leaks(|| {
        sh(busybox("mknod /tmp/k c 1 11 2>/dev/null && echo mknod-worked; cat /proc/self/cgroup | grep -c palisade-dev; test -c /dev/kmsg && echo kmsg-node")
            .user_namespace(IdMaps::single(0, 100_000), IdMaps::single(0, 100_000))
            .sys(false)
            .device(Device::char("/dev/kmsg", 1, 11)))
    });
    assert_eq!(out, "0\nkmsg-node\n", "{status}: {out}");
}
