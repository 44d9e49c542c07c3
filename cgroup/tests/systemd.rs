//! The systemd driver: its refusals on any host, and — where systemd is PID
//! 1 (the guest lane's systemd mode, `PALISADE_VM_SYSTEMD=1`) — a scope
//! unit made, updated and removed, each step read back from systemd
//! (`systemctl show`) and from cgroupfs.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use palisade_cgroup::{Cgroup, CgroupManager, Error, Resources};
use palisade_testkit::unique_name;

fn systemd_running() -> bool {
    Path::new("/run/systemd/system").exists()
}

#[cfg(feature = "systemd")]
/// The systemd lane must not skip what it exists for.
fn systemd_lane() -> bool {
    std::env::var_os("PALISADE_VM_SYSTEMD").is_some()
}

fn sleeper() -> Child {
    Command::new("sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

fn own_cgroup(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap()
}

#[test]
fn malformed_systemd_names_are_refused_before_any_call() {
    for bad in [
        "palisade/abc",
        "system.slice:palisade",
        "system:palisade:abc",
    ] {
        match Cgroup::create_with(CgroupManager::Systemd, bad, &Resources::new(), Some(1)) {
            Err(Error::InvalidPath { path, .. }) => assert_eq!(path, bad),
            other => panic!("{bad}: {other:?}"),
        }
    }
    // Resources are validated before systemd is asked too.
    let bad = Resources::new().pids_max(0);
    assert!(matches!(
        Cgroup::create_with(CgroupManager::Systemd, "system.slice:p:n", &bad, Some(1)),
        Err(Error::InvalidValue { .. })
    ));
}

#[test]
fn systemd_driver_without_systemd_is_a_typed_error() {
    if systemd_running() && cfg!(feature = "systemd") {
        eprintln!("SKIP: systemd is PID 1 here; scope_limits_update_delete covers the driver");
        return;
    }
    let mut child = sleeper();
    let before = own_cgroup(child.id());
    let name = format!("system.slice:palisade:{}", unique_name("nosd"));
    let r = Resources::new().memory_max(64 << 20);
    let err = Cgroup::create_with(CgroupManager::Systemd, &name, &r, Some(child.id() as i32));
    let after = own_cgroup(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    match err {
        Err(Error::SystemdUnavailable { reason }) => {
            let expected = if cfg!(feature = "systemd") {
                "/run/systemd/system"
            } else {
                "`systemd` feature"
            };
            assert!(reason.contains(expected), "{reason}");
            let text = Error::SystemdUnavailable { reason }.to_string();
            assert!(text.starts_with("the systemd cgroup driver is unavailable"));
        }
        other => panic!("{other:?}"),
    }
    // Nothing was made: the process stayed where it was.
    assert_eq!(before, after);
}

#[cfg(feature = "systemd")]
#[test]
fn systemd_driver_needs_a_pid() {
    match Cgroup::create_with(
        CgroupManager::Systemd,
        ":palisade:x",
        &Resources::new(),
        None,
    ) {
        Err(Error::InvalidValue { field: "PIDs", .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[cfg(feature = "systemd")]
/// `systemctl show -p P1 -p P2 … unit` as a map.
fn show(unit: &str, props: &[&str]) -> std::collections::HashMap<String, String> {
    let mut cmd = Command::new("systemctl");
    cmd.arg("show");
    for p in props {
        cmd.args(["-p", p]);
    }
    let out = cmd.arg(unit).output().unwrap();
    assert!(out.status.success(), "systemctl show {unit}: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[cfg(feature = "systemd")]
fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
        .trim()
        .to_owned()
}

#[cfg(feature = "systemd")]
#[test]
fn scope_limits_update_delete() {
    use std::os::unix::process::ExitStatusExt;
    if !systemd_running() {
        assert!(
            !systemd_lane(),
            "PALISADE_VM_SYSTEMD is set but systemd is not PID 1"
        );
        eprintln!("SKIP: systemd is not PID 1 (the guest lane's systemd mode runs this)");
        return;
    }
    let Some(_root) = palisade_testkit::require_root("the system bus's StartTransientUnit") else {
        return;
    };
    let name = unique_name("sd");
    let unit = format!("palisade-{name}.scope");
    let mut child = sleeper();
    let pid = child.id();
    let r = Resources::new()
        .memory_max(64 << 20)
        .pids_max(32)
        .cpu_max(50_000, 100_000)
        .devices(palisade_cgroup::DeviceRule::docker_default());
    let cg = Cgroup::create_with(
        CgroupManager::Systemd,
        &format!("system.slice:palisade:{name}"),
        &r,
        Some(pid as i32),
    );
    let cg = match cg {
        Ok(cg) => cg,
        Err(e) => {
            child.kill().unwrap();
            panic!("create_with: {e}");
        }
    };
    assert_eq!(cg.systemd_unit(), Some(unit.as_str()));

    // systemd's view.
    let s = show(
        &unit,
        &[
            "ActiveState",
            "Slice",
            "Delegate",
            "ControlGroup",
            "MemoryMax",
            "TasksMax",
            "CPUQuotaPerSecUSec",
            "DevicePolicy",
        ],
    );
    assert_eq!(s["ActiveState"], "active", "{s:?}");
    assert_eq!(s["Slice"], "system.slice");
    assert_eq!(s["Delegate"], "yes");
    assert_eq!(s["ControlGroup"], format!("/system.slice/{unit}"));
    assert_eq!(s["MemoryMax"], (64u64 << 20).to_string());
    assert_eq!(s["TasksMax"], "32");
    assert_eq!(s["CPUQuotaPerSecUSec"], "500ms");
    assert_eq!(s["DevicePolicy"], "strict");

    // The kernel's view.
    let dir = Path::new("/sys/fs/cgroup").join(format!("system.slice/{unit}"));
    assert_eq!(cg.v2_dir(), Some(dir.as_path()));
    assert_eq!(read(&dir, "memory.max"), (64u64 << 20).to_string());
    assert_eq!(read(&dir, "pids.max"), "32");
    assert_eq!(read(&dir, "cpu.max"), "50000 100000");
    assert!(
        read(&dir, "cgroup.procs")
            .lines()
            .any(|l| l == pid.to_string())
    );

    // Update: both views follow.
    cg.apply(&Resources::new().memory_max(128 << 20).pids_max(64))
        .unwrap();
    let s = show(&unit, &["MemoryMax", "TasksMax"]);
    assert_eq!(s["MemoryMax"], (128u64 << 20).to_string());
    assert_eq!(s["TasksMax"], "64");
    assert_eq!(read(&dir, "memory.max"), (128u64 << 20).to_string());
    assert_eq!(read(&dir, "pids.max"), "64");

    // Delete: the process is killed, the unit and the group are gone.
    cg.delete().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert!(!dir.exists(), "{} still exists", dir.display());
    let s = show(&unit, &["LoadState", "ActiveState"]);
    assert!(
        s["LoadState"] == "not-found" || s["ActiveState"] == "inactive",
        "{unit} after delete: {s:?}"
    );
}

/// An OOM kill inside a scope is reported by `events()` and counted in
/// systemd's view too; the scope outlives it (`OOMPolicy=continue`: a
/// container is not stopped because one of its processes was killed).
#[cfg(feature = "systemd")]
#[test]
fn scope_reports_the_oom_kill() {
    use palisade_cgroup::Event;
    use std::io::Write;
    use std::time::{Duration, Instant};
    if !systemd_running() {
        assert!(
            !systemd_lane(),
            "PALISADE_VM_SYSTEMD is set but systemd is not PID 1"
        );
        eprintln!("SKIP: systemd is not PID 1 (the guest lane's systemd mode runs this)");
        return;
    }
    let Some(_root) = palisade_testkit::require_root("the system bus's StartTransientUnit") else {
        return;
    };
    let name = unique_name("sdoom");
    let unit = format!("palisade-{name}.scope");
    // The shell waits for a line, then runs the hog as its child and stays.
    let mut child = Command::new("/bin/sh")
        .args(["-c", "read x; tail /dev/zero; exec sleep 1000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let r = Resources::new().memory_max(32 << 20).memory_swap(0);
    let cg = Cgroup::create_with(
        CgroupManager::Systemd,
        &format!("system.slice:palisade:{name}"),
        &r,
        Some(child.id() as i32),
    );
    let cg = match cg {
        Ok(cg) => cg,
        Err(e) => {
            child.kill().unwrap();
            panic!("create_with: {e}");
        }
    };
    let mut events = cg.events().unwrap();
    writeln!(child.stdin.as_mut().unwrap()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let total = loop {
        assert!(Instant::now() < deadline, "no OomKill event; saw {seen:?}");
        match events.next_timeout(Duration::from_secs(1)) {
            Ok(Some(Event::OomKill { total })) => break total,
            Ok(Some(e)) => seen.push(e),
            Ok(None) => {}
            Err(e) => panic!("events: {e}"),
        }
    };
    assert!(total >= 1);
    let s = show(&unit, &["ActiveState"]);
    assert_eq!(
        s["ActiveState"], "active",
        "the scope stopped after the OOM kill"
    );
    cg.delete().unwrap();
    child.wait().unwrap();
}
