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
    // cleanup_stale names the same cause.
    match palisade_cgroup::systemd::cleanup_stale("palisade") {
        Err(Error::SystemdUnavailable { .. }) => {}
        other => panic!("cleanup_stale without systemd: {other:?}"),
    }
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

/// The process [`killed_caller_leaves_nothing_after_cleanup_stale`]
/// re-executes as the caller it then SIGKILLs: with
/// `PALISADE_SD_STALE_NAME` (`slice:prefix:name`) and
/// `PALISADE_SD_STALE_PID` set, it makes the scope around that pid, prints
/// `ready UNIT` and waits to be killed. A no-op in an ordinary run.
#[cfg(feature = "systemd")]
#[test]
fn stale_scope_caller_role() {
    use std::io::Write;
    let (Ok(name), Ok(pid)) = (
        std::env::var("PALISADE_SD_STALE_NAME"),
        std::env::var("PALISADE_SD_STALE_PID"),
    ) else {
        return;
    };
    let pid: i32 = pid.parse().unwrap();
    let r = Resources::new().memory_max(64 << 20).pids_max(16);
    let cg = Cgroup::create_with(CgroupManager::Systemd, &name, &r, Some(pid))
        .unwrap_or_else(|e| panic!("create_with {name}: {e}"));
    let mut out = std::io::stdout().lock();
    // On a line of its own: libtest has written `test NAME ... ` already.
    writeln!(out, "\nready {}", cg.systemd_unit().unwrap()).unwrap();
    out.flush().unwrap();
    drop(out);
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

#[cfg(feature = "systemd")]
/// Units matching `pattern` that `systemctl list-units --all` shows.
fn listed(pattern: &str) -> Vec<String> {
    let out = Command::new("systemctl")
        .args(["list-units", "--all", "--plain", "--no-legend", pattern])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemctl list-units {pattern}: {out:?}"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// A caller SIGKILLed after making its scope: the scope outlives it; while
/// its process lives `cleanup_stale` leaves it alone; once the process is
/// gone too, `cleanup_stale` leaves nothing `systemctl list-units --all`
/// shows and no directory. A failed scope of the same prefix (systemd's
/// `RuntimeMaxSec` expired) is reset by it as well.
#[cfg(feature = "systemd")]
#[test]
fn killed_caller_leaves_nothing_after_cleanup_stale() {
    use palisade_cgroup::systemd::cleanup_stale;
    use std::io::BufRead;
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
    // Unique to this run, so that only this test's units match.
    let prefix = unique_name("stale");
    let pattern = format!("{prefix}-*.scope");
    let unit = format!("{prefix}-live.scope");
    let dir = Path::new("/sys/fs/cgroup/system.slice").join(&unit);

    // The caller: this binary again, making the scope around a sleeper.
    let mut sleeper = sleeper();
    let mut caller = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "stale_scope_caller_role",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            "PALISADE_SD_STALE_NAME",
            format!("system.slice:{prefix}:live"),
        )
        .env("PALISADE_SD_STALE_PID", sleeper.id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Read on a thread, so that a caller stuck before `ready` fails the
    // test instead of hanging the lane.
    let stdout = caller.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some((_, u)) = line.split_once("ready ") {
                let _ = tx.send(u.to_owned());
                break;
            }
        }
    });
    let ready = rx.recv_timeout(std::time::Duration::from_secs(120)).ok();
    if ready.is_none() {
        let _ = caller.kill();
    }
    if ready.is_none() {
        sleeper.kill().unwrap();
        panic!(
            "the caller exited before its scope was made: {:?}",
            caller.wait()
        );
    }
    assert_eq!(ready.as_deref(), Some(unit.as_str()));
    caller.kill().unwrap();
    let status = caller.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");

    // The caller is gone; its scope and the process in it are not, and
    // cleanup_stale must not take a scope with a live process.
    let removed = cleanup_stale(&prefix).unwrap();
    assert!(removed.is_empty(), "a live scope was removed: {removed:?}");
    assert_eq!(listed(&pattern), [unit.as_str()]);
    assert_eq!(show(&unit, &["ActiveState"])["ActiveState"], "active");
    assert!(
        read(&dir, "cgroup.procs")
            .lines()
            .any(|l| l == sleeper.id().to_string()),
        "the sleeper left {}",
        dir.display()
    );

    // Its process dies too: nothing may be left after cleanup_stale
    // (systemd may already have collected the emptied scope itself).
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    let removed = cleanup_stale(&prefix).unwrap();
    eprintln!("cleanup_stale after the kill: {removed:?}");
    assert!(removed.iter().all(|s| s.unit == unit), "{removed:?}");
    assert_eq!(listed(&pattern), Vec::<String>::new());
    assert!(!dir.exists(), "{} still exists", dir.display());

    // A failed scope stays listed until reset: one whose processes ignore
    // SIGTERM and outlive TimeoutStopSec on a stop fails (result
    // `timeout`). cleanup_stale resets it.
    let failed = format!("{prefix}-failed.scope");
    let mut holder = Command::new("systemd-run")
        .args(["--scope", "--quiet", "--unit", &failed])
        .args(["-p", "TimeoutStopSec=1", "/bin/sh", "-c"])
        .arg("trap '' TERM; while :; do sleep 1; done")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..200 {
        if show(&failed, &["ActiveState"])["ActiveState"] == "active" {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if !up {
        let _ = holder.kill();
        panic!("{failed} never became active: {:?}", holder.wait());
    }
    let stop = Command::new("systemctl")
        .args(["stop", &failed])
        .output()
        .unwrap();
    let status = holder.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?} {stop:?}");
    let s = show(&failed, &["ActiveState", "Result"]);
    assert_eq!(s["ActiveState"], "failed", "{s:?}");
    assert_eq!(s["Result"], "timeout", "{s:?}");
    assert_eq!(listed(&pattern), [failed.as_str()]);
    let removed = cleanup_stale(&prefix).unwrap();
    assert_eq!(
        removed,
        [palisade_cgroup::systemd::StaleScope {
            unit: failed.clone(),
            state: "failed/failed".into(),
        }]
    );
    assert_eq!(listed(&pattern), Vec::<String>::new());
    assert!(
        !Path::new("/sys/fs/cgroup/system.slice")
            .join(&failed)
            .exists()
    );
}

/// The user half of [`rootless_scope_through_the_user_manager`]: re-run as
/// a normal user with `PALISADE_SD_USER_NAME` (`slice:prefix:name`) set,
/// it makes a scope with a memory limit through the user bus around a
/// sleeper of its own, prints what it reads back (`key=value` lines), and
/// deletes it. A no-op in an ordinary run.
#[cfg(feature = "systemd")]
#[test]
fn rootless_scope_role() {
    let Ok(name) = std::env::var("PALISADE_SD_USER_NAME") else {
        return;
    };
    // SAFETY: getuid cannot fail.
    assert_ne!(
        unsafe { libc::getuid() },
        0,
        "the role runs as a normal user"
    );
    let mut child = sleeper();
    let pid = child.id();
    let r = Resources::new().memory_max(48 << 20).pids_max(20);
    let cg = match Cgroup::create_with(CgroupManager::Systemd, &name, &r, Some(pid as i32)) {
        Ok(cg) => cg,
        Err(e) => {
            child.kill().unwrap();
            panic!("create_with {name} through the user bus: {e}");
        }
    };
    let unit = cg.systemd_unit().unwrap().to_owned();
    let dir = cg.v2_dir().unwrap().to_owned();
    // On lines of their own: libtest has written `test NAME ... ` already.
    println!();
    println!("unit={unit}");
    println!("dir={}", dir.display());
    println!("memory.max={}", read(&dir, "memory.max"));
    println!("pids.max={}", read(&dir, "pids.max"));
    println!("proc={}", own_cgroup(pid).trim());
    let out = Command::new("systemctl")
        .args(["--user", "show", "-p", "MemoryMax", "-p", "Delegate", &unit])
        .output()
        .unwrap();
    assert!(out.status.success(), "systemctl --user show: {out:?}");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        println!("show.{line}");
    }
    cg.delete().unwrap();
    child.wait().unwrap();
    println!("deleted={}", !dir.exists());
}

/// A normal account of the machine (uid 1000–59999 in `/etc/passwd`):
/// `(name, uid, gid, home)`.
#[cfg(feature = "systemd")]
fn normal_user() -> Option<(String, u32, u32, String)> {
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let (uid, gid) = (f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?);
            (1000..60000).contains(&uid).then(|| {
                (
                    f[0].to_owned(),
                    uid,
                    gid,
                    f.get(5).unwrap_or(&"/").to_string(),
                )
            })
        })
        .next()
}

/// Rootless on a systemd host: a normal user's process, with its user
/// manager running (`user@UID.service`) and the user bus in
/// `DBUS_SESSION_BUS_ADDRESS`, gets a scope with a memory limit from its
/// own manager: systemd (`systemctl --user show`) and the kernel
/// (`memory.max` in the delegated subtree) both hold the limit.
#[cfg(feature = "systemd")]
#[test]
fn rootless_scope_through_the_user_manager() {
    use std::os::unix::process::CommandExt;
    if !systemd_running() {
        assert!(
            !systemd_lane(),
            "PALISADE_VM_SYSTEMD is set but systemd is not PID 1"
        );
        eprintln!("SKIP: systemd is not PID 1 (the guest lane's systemd mode runs this)");
        return;
    }
    let Some(_root) = palisade_testkit::require_root("starts user@UID.service") else {
        return;
    };
    let Some((user, uid, gid, home)) = normal_user() else {
        assert!(
            !systemd_lane(),
            "the systemd lane needs a normal account (uid 1000-59999) in /etc/passwd"
        );
        eprintln!("SKIP: no normal account (uid 1000-59999) in /etc/passwd");
        return;
    };
    let manager = format!("user@{uid}.service");
    let start = Command::new("systemctl")
        .args(["start", &manager])
        .output()
        .unwrap();
    assert!(
        start.status.success(),
        "systemctl start {manager} ({user}): {start:?}\n{}",
        String::from_utf8_lossy(
            &Command::new("journalctl")
                .args(["-b", "--no-pager", "-n", "30", "-u", &manager])
                .output()
                .unwrap()
                .stdout
        )
    );
    let runtime = format!("/run/user/{uid}");
    let name = unique_name("sdu");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "rootless_scope_role",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("USER", &user)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={runtime}/bus"),
        )
        .env(
            "PALISADE_SD_USER_NAME",
            format!("user.slice:palisade:{name}"),
        )
        .uid(uid)
        .gid(gid)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = Command::new("systemctl").args(["stop", &manager]).status();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the role as {user} ({uid}): {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    let got: std::collections::HashMap<&str, &str> =
        text.lines().filter_map(|l| l.split_once('=')).collect();
    let unit = format!("palisade-{name}.scope");
    let cgroup = format!("/user.slice/user-{uid}.slice/{manager}/user.slice/{unit}");
    assert_eq!(got.get("unit"), Some(&unit.as_str()), "{text}");
    assert_eq!(
        got.get("dir").copied(),
        Some(format!("/sys/fs/cgroup{cgroup}").as_str()),
        "{text}"
    );
    assert_eq!(
        got.get("proc").copied(),
        Some(format!("0::{cgroup}").as_str())
    );
    let limit = (48u64 << 20).to_string();
    assert_eq!(got.get("memory.max"), Some(&limit.as_str()), "{text}");
    assert_eq!(got.get("show.MemoryMax"), Some(&limit.as_str()), "{text}");
    assert_eq!(got.get("pids.max"), Some(&"20"), "{text}");
    assert_eq!(got.get("show.Delegate"), Some(&"yes"), "{text}");
    assert_eq!(got.get("deleted"), Some(&"true"), "{text}");
}
