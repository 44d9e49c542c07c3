//! palisade-cgroup against the real kernel (root): every limit, move and
//! state change is read back from cgroupfs or /proc.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use std::time::{Duration, Instant};

use palisade_cgroup::{
    Cgroup, Controller, Error, Event, Hierarchy, Mode, Placement, Resources, Stats,
};
use palisade_testkit::{require_root, unique_name};

/// Deletes the cgroup even when the test fails.
struct Guard(Option<Cgroup>);

impl Guard {
    fn new(tag: &str) -> Guard {
        Guard(Some(Cgroup::create(&unique_name(tag)).unwrap()))
    }
}

impl std::ops::Deref for Guard {
    type Target = Cgroup;
    fn deref(&self) -> &Cgroup {
        self.0.as_ref().unwrap()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(cg) = self.0.take() {
            cg.delete().unwrap();
        }
    }
}

/// A shell started in `cg` (it moves itself before exec'ing `script`).
fn spawn_in(cg: &Cgroup, script: &str) -> Child {
    let procs: Vec<String> = cg
        .dirs_iter()
        .map(|d| d.join("cgroup.procs").display().to_string())
        .collect();
    let moves: String = procs.iter().map(|p| format!("echo $$ > {p}; ")).collect();
    Command::new("/bin/sh")
        .args(["-c", &format!("{moves}{script}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
        .trim()
        .to_owned()
}

fn file_of(cg: &Cgroup, c: Controller, v2: &str, v1: &str) -> std::path::PathBuf {
    match cg.hierarchy().placement(c).unwrap() {
        Placement::V2(_) => cg.v2_dir().unwrap().join(v2),
        Placement::V1(_) => cg.v1_dir(c).unwrap().join(v1),
    }
}

#[test]
fn detects_the_layout_mountinfo_shows() {
    let h = Hierarchy::detect().unwrap();
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let has_v1 = mounts
        .lines()
        .any(|l| l.split(' ').nth(2) == Some("cgroup"));
    let has_v2 = mounts
        .lines()
        .any(|l| l.split(' ').nth(2) == Some("cgroup2"));
    let want = match (has_v1, has_v2) {
        (true, true) => Mode::Hybrid,
        (true, false) => Mode::Legacy,
        (false, true) => Mode::Unified,
        (false, false) => panic!("no cgroup mounted"),
    };
    assert_eq!(h.mode(), want);
    for (c, mount) in h.v1_mounts() {
        let line = mounts
            .lines()
            .find(|l| l.split(' ').nth(1) == Some(mount.to_str().unwrap()))
            .unwrap();
        assert!(
            line.split(' ')
                .nth(3)
                .unwrap()
                .split(',')
                .any(|o| o == c.v1_name()),
            "{line}"
        );
    }
    if let Some(root) = h.unified() {
        let listed = read(root.join("cgroup.controllers"));
        assert_eq!(
            h.v2_controllers().len(),
            listed
                .split_whitespace()
                .filter(|n| *n != "rdma" && *n != "misc")
                .count()
        );
    }
}

#[test]
fn limits_are_written_where_each_controller_lives() {
    let Some(root) = require_root("creates cgroups") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let cg = Guard::new("limits");
        let r = Resources::new()
            .memory_max(64 << 20)
            .memory_swap(0)
            .pids_max(42)
            .cpu_max(50_000, 100_000)
            .cpu_weight(100);
        cg.apply(&r).unwrap();
        let mem = file_of(
            &cg,
            Controller::Memory,
            "memory.max",
            "memory.limit_in_bytes",
        );
        assert_eq!(read(mem), (64u64 << 20).to_string());
        assert_eq!(
            read(file_of(&cg, Controller::Pids, "pids.max", "pids.max")),
            "42"
        );
        match cg.hierarchy().placement(Controller::Cpu).unwrap() {
            Placement::V2(_) => {
                assert_eq!(read(cg.v2_dir().unwrap().join("cpu.max")), "50000 100000");
                assert_eq!(read(cg.v2_dir().unwrap().join("cpu.weight")), "100");
            }
            Placement::V1(_) => {
                let d = cg.v1_dir(Controller::Cpu).unwrap();
                assert_eq!(read(d.join("cpu.cfs_quota_us")), "50000");
                assert_eq!(read(d.join("cpu.cfs_period_us")), "100000");
                assert_eq!(
                    read(d.join("cpu.shares")),
                    palisade_cgroup::weight_to_shares(100).to_string()
                );
            }
        }
    });
}

#[test]
fn add_process_moves_it_in_every_hierarchy() {
    let Some(_root) = require_root("moves a process between cgroups") else {
        return;
    };
    let cg = Guard::new("procs");
    let mut child = Command::new("sleep").arg("100").spawn().unwrap();
    let pid = child.id() as i32;
    cg.add_process(pid).unwrap();
    assert_eq!(cg.procs().unwrap(), [pid]);
    let own = read(format!("/proc/{pid}/cgroup"));
    let path = cg.path().as_str();
    for line in own.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, p) = (f.next(), f.next().unwrap(), f.next().unwrap());
        if ctrls.starts_with("name=") {
            continue; // named hierarchies are not ours to manage
        }
        assert!(p.ends_with(path), "{line} not in {path}");
    }
    // Limits enable the controllers on cgroup2; stats then read them.
    cg.apply(&Resources::new().pids_max(100).memory_max(1 << 30))
        .unwrap();
    let stats = cg.stats().unwrap();
    assert_eq!(stats.pids_current, Some(1));
    assert!(stats.memory_current.is_some());
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn memory_limit_oom_kills_and_is_counted() {
    let Some(_root) = require_root("runs a process into a memory limit") else {
        return;
    };
    let cg = Guard::new("oom");
    cg.apply(&Resources::new().memory_max(32 << 20).memory_swap(0))
        .unwrap();
    // `tail` buffers an endless line of /dev/zero until the limit hits.
    let child = spawn_in(&cg, "exec tail /dev/zero");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{:?}", out);
    assert!(cg.memory_events().unwrap().oom_kill >= 1);
    assert!(cg.stats().unwrap().oom_kills.unwrap() >= 1);
}

#[test]
fn pids_limit_refuses_forks() {
    let Some(_root) = require_root("runs a fork loop under pids.max") else {
        return;
    };
    let cg = Guard::new("pids");
    cg.apply(&Resources::new().pids_max(4)).unwrap();
    let child = spawn_in(&cg, "for i in 1 2 3 4 5 6 7 8; do sleep 3 & done; wait");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("fork") || stderr.contains("Resource"),
        "{stderr}"
    );
    let events = file_of(&cg, Controller::Pids, "pids.events", "pids.events");
    let max_hits: u64 = read(events)
        .lines()
        .find_map(|l| l.strip_prefix("max ").map(|v| v.parse().unwrap()))
        .unwrap();
    assert!(max_hits >= 1, "pids.events max = {max_hits}");
    assert_eq!(cg.stats().unwrap().pids_limit, Some(4));
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = read(format!("/proc/{pid}/stat"));
    let after = stat.rsplit_once(") ").unwrap().1;
    let f: Vec<&str> = after.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn freeze_stops_cpu_and_thaw_resumes() {
    let Some(_root) = require_root("freezes a cgroup") else {
        return;
    };
    let cg = Guard::new("freeze");
    let mut child = spawn_in(&cg, "while :; do :; done");
    while cg.procs().unwrap().is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    cg.freeze().unwrap();
    let a = cpu_ticks(child.id());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let b = cpu_ticks(child.id());
    assert_eq!(a, b, "a frozen process used CPU");
    cg.thaw().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(cpu_ticks(child.id()) > b, "thawed process did not run");
    cg.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn delete_kills_and_removes_nested_groups_everywhere() {
    let Some(root) = require_root("creates and deletes cgroups") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let name = format!("{}/outer", unique_name("del"));
        let cg = Cgroup::create(&name).unwrap();
        let nested = Cgroup::create(&format!("{name}/inner")).unwrap();
        let mut a = spawn_in(&cg, "sleep 100");
        let mut b = spawn_in(&nested, "sleep 100");
        // The shells move themselves; wait until both are in (slow guests).
        let start = std::time::Instant::now();
        while cg.procs().unwrap().is_empty() || nested.procs().unwrap().is_empty() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "shells never moved in"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let dirs: Vec<_> = cg.dirs_iter().map(Path::to_owned).collect();
        cg.delete().unwrap();
        assert!(a.wait().unwrap().signal().is_some());
        assert!(b.wait().unwrap().signal().is_some());
        for d in dirs {
            assert!(!d.exists(), "{} left", d.display());
            assert!(!d.parent().unwrap().exists(), "created parent left");
        }
    });
}

#[test]
fn bad_input_gets_typed_errors_naming_the_value() {
    let Some(_root) = require_root("writes a value the kernel refuses") else {
        return;
    };
    assert!(matches!(
        Cgroup::create("../../etc"),
        Err(Error::InvalidPath { .. })
    ));
    assert!(matches!(
        Cgroup::open("palisade-test/does-not-exist"),
        Err(Error::Io { .. })
    ));
    let cg = Guard::new("bad");
    let err = cg.apply(&Resources::new().cpu_weight(0)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidValue {
                field: "cpu.weight",
                ..
            }
        ),
        "{err}"
    );
    // Syntactically fine, but no such CPU: the kernel refuses.
    let err = cg.apply(&Resources::new().cpuset_cpus("4000")).unwrap_err();
    match &err {
        Error::Write { file, value, errno } => {
            assert!(file.ends_with("cpuset.cpus"), "{err}");
            assert_eq!(value, "4000");
            assert!(errno.desc().len() > 1);
        }
        other => panic!("expected a write error, got {other}"),
    }
}

#[test]
fn dirfd_is_the_cgroup2_directory() {
    let Some(_root) = require_root("creates cgroups") else {
        return;
    };
    let cg = Guard::new("dirfd");
    let Some(dir) = cg.v2_dir() else {
        palisade_testkit::skip_absent("cgroup2", "no cgroup2 tree mounted");
        return;
    };
    let fd = cg.dirfd().unwrap();
    let via_fd = std::fs::metadata(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))
    .unwrap();
    assert_eq!(via_fd.ino(), std::fs::metadata(dir).unwrap().ino());
    let flags = read(format!(
        "/proc/self/fdinfo/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ));
    let flags = flags.lines().find(|l| l.starts_with("flags:")).unwrap();
    let octal = u32::from_str_radix(flags.split_whitespace().nth(1).unwrap(), 8).unwrap();
    assert_ne!(
        octal & libc::O_CLOEXEC as u32,
        0,
        "dirfd is not close-on-exec"
    );
}

#[test]
fn delete_of_an_opened_empty_cgroup_removes_it() {
    let Some(root) = require_root("creates cgroups") else {
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        let name = unique_name("opened");
        let created = Cgroup::create(&name).unwrap();
        let dirs: Vec<_> = created.dirs_iter().map(Path::to_owned).collect();
        drop(created); // forget it: only an opened handle remains
        Cgroup::open(&name).unwrap().delete().unwrap();
        assert!(
            dirs.iter().all(|d| !d.exists()),
            "opened cgroup not removed"
        );
    });
}

#[test]
fn cpuset_and_pressure() {
    let Some(_root) = require_root("creates cgroups") else {
        return;
    };
    let cg = Guard::new("cpuset");
    cg.apply(&Resources::new().cpuset_cpus("0").cpuset_mems("0"))
        .unwrap();
    let file = |name: &str| file_of(&cg, Controller::Cpuset, name, name);
    assert_eq!(read(file("cpuset.cpus")), "0");
    assert_eq!(read(file("cpuset.mems")), "0");
    if cg.v2_dir().is_some_and(|d| d.join("cpu.pressure").exists()) {
        let p = cg.pressure(palisade_cgroup::PressureKind::Cpu).unwrap();
        assert!(p.some.avg10 >= 0.0);
        let text = read(cg.v2_dir().unwrap().join("cpu.pressure"));
        assert!(
            text.contains(&format!("total={}", p.some.total_usec)),
            "{text}"
        );
    } else {
        palisade_testkit::skip_absent("PSI", "no cpu.pressure in the cgroup2 tree");
    }
}

/// A throttle on a loop device, read back from io.max (v2) or
/// blkio.throttle.read_bps_device (v1).
#[test]
fn io_limits_on_a_loop_device() {
    let Some(_root) = require_root("attaches a loop device") else {
        return;
    };
    let tmp = palisade_testkit::TempDir::new("loop");
    let img = tmp.path().join("disk.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let dev = palisade_testkit::run("losetup", &["-f", "--show", img.to_str().unwrap()]);
    let dev = dev.trim().to_owned();
    struct Detach(String);
    impl Drop for Detach {
        fn drop(&mut self) {
            let _ = palisade_testkit::try_run("losetup", &["-d", &self.0]);
        }
    }
    let _detach = Detach(dev.clone());
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(&dev).unwrap();
    assert!(meta.file_type().is_block_device());
    let rdev = meta.rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    let cg = Guard::new("io");
    cg.apply(&Resources::new().io_limit(palisade_cgroup::IoLimit {
        major,
        minor,
        read_bps: Some(1 << 20),
        write_iops: Some(100),
        ..Default::default()
    }))
    .unwrap();
    match cg.hierarchy().placement(Controller::Io).unwrap() {
        Placement::V2(_) => {
            let text = read(cg.v2_dir().unwrap().join("io.max"));
            assert!(
                text.contains(&format!("{major}:{minor} rbps=1048576")),
                "{text}"
            );
            assert!(text.contains("wiops=100"), "{text}");
        }
        Placement::V1(_) => {
            let d = cg.v1_dir(Controller::Io).unwrap();
            assert_eq!(
                read(d.join("blkio.throttle.read_bps_device")),
                format!("{major}:{minor} 1048576")
            );
            assert_eq!(
                read(d.join("blkio.throttle.write_iops_device")),
                format!("{major}:{minor} 100")
            );
        }
    }
}

#[test]
fn cpu_quota_caps_a_busy_loop_and_cpuset_pins_it() {
    let Some(_root) = require_root("runs a busy loop under a cpu quota") else {
        return;
    };
    let cg = Guard::new("quota");
    cg.apply(
        &Resources::new()
            .cpu_max(20_000, 100_000)
            .cpuset_cpus("0")
            .cpuset_mems("0"),
    )
    .unwrap();
    let mut child = spawn_in(&cg, "while :; do :; done");
    // The shell moves itself hierarchy by hierarchy: wait for all of them.
    let pid = child.id().to_string();
    while !cg
        .dirs_iter()
        .all(|d| read(d.join("cgroup.procs")).lines().any(|l| l == pid))
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let status = read(format!("/proc/{}/status", child.id()));
    let allowed = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list:"))
        .unwrap();
    assert!(allowed.ends_with("\t0"), "{allowed}");
    let ticks = |pid| cpu_ticks(pid);
    let a = ticks(child.id());
    std::thread::sleep(std::time::Duration::from_secs(1));
    let used = ticks(child.id()) - a; // clock ticks (USER_HZ, 100/s)
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    assert!(
        used * 100 <= hz * 30,
        "busy loop used {used} ticks of {hz} in 1 s (> 30 %)"
    );
    // The group's own figures agree: throttled, and at most ~30 % of a CPU.
    let before = cg.stats().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let after = cg.stats().unwrap();
    let pct = Stats::cpu_percent(&before, &after, Duration::from_millis(500)).unwrap();
    assert!(
        pct <= 30.0,
        "cgroup reports {pct:.1} % CPU under a 20 % quota"
    );
    assert!(after.cpu_nr_throttled.unwrap() > 0, "{after:?}");
    assert!(after.cpu_throttled_usec.unwrap() > 0, "{after:?}");
    assert!(after.cpu_user_usec.unwrap() + after.cpu_system_usec.unwrap() > 0);
    cg.kill().unwrap();
    child.wait().unwrap();
}

/// An allow-all list with one deny: /dev/null refused, /dev/zero still
/// opens — the v1 controller and, on the cgroup2 tree, the BPF program
/// (tests/devices.rs covers the rest).
#[test]
fn a_device_deny_blocks_dev_null_only() {
    let Some(_root) = require_root("denies a device") else {
        return;
    };
    let cg = Guard::new("devices");
    let rules = Resources::new()
        .device(palisade_cgroup::DeviceRule::allow_all())
        .device(palisade_cgroup::DeviceRule::parse(false, "c 1:3 rw").unwrap());
    cg.apply(&rules).unwrap();
    let child = spawn_in(&cg, "head -c1 /dev/zero && echo zero >&2; cat /dev/null");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "opened /dev/null: {stderr}");
    assert!(stderr.starts_with("zero"), "{stderr}");
    assert!(stderr.contains("Operation not permitted"), "{stderr}");
}

/// Waits for `want` among the events, at most `limit`.
fn expect_event(
    events: &mut palisade_cgroup::Events,
    limit: Duration,
    want: impl Fn(&Event) -> bool,
) -> Event {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.next_timeout(left).unwrap() {
            Some(e) if want(&e) => return e,
            Some(e) => seen.push(e),
            None => break,
        }
    }
    panic!("expected event not reported within {limit:?}; saw {seen:?}");
}

#[test]
fn events_report_the_oom_kill_within_a_second() {
    let Some(_root) = require_root("runs a process into a memory limit") else {
        return;
    };
    let cg = Guard::new("oomev");
    cg.apply(&Resources::new().memory_max(32 << 20).memory_swap(0))
        .unwrap();
    let mut events = cg.events().unwrap();
    let child = spawn_in(&cg, "exec tail /dev/zero");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{:?}", out);
    let e = expect_event(&mut events, Duration::from_secs(1), |e| {
        matches!(e, Event::OomKill { .. })
    });
    assert!(matches!(e, Event::OomKill { total } if total >= 1), "{e:?}");
    let stats = cg.stats().unwrap();
    assert!(stats.memory_events.unwrap().oom_kill >= 1, "{stats:?}");
}

#[test]
fn events_report_populated_frozen_and_the_end_of_the_group() {
    let Some(_root) = require_root("watches a cgroup") else {
        return;
    };
    let mut guard = Guard::new("events");
    let mut events = guard.events().unwrap();
    let mut child = spawn_in(&guard, "exec sleep 30");
    expect_event(&mut events, Duration::from_secs(2), |e| {
        *e == Event::Populated(true)
    });
    let v2_freezer = guard
        .v2_dir()
        .is_some_and(|d| d.join("cgroup.freeze").exists());
    if v2_freezer {
        guard.freeze().unwrap();
        expect_event(&mut events, Duration::from_secs(2), |e| {
            *e == Event::Frozen(true)
        });
        guard.thaw().unwrap();
        expect_event(&mut events, Duration::from_secs(2), |e| {
            *e == Event::Frozen(false)
        });
    }
    guard.kill().unwrap();
    child.wait().unwrap();
    expect_event(&mut events, Duration::from_secs(2), |e| {
        *e == Event::Populated(false)
    });
    guard.0.take().unwrap().delete().unwrap();
    assert_eq!(events.next_timeout(Duration::from_secs(2)).unwrap(), None);
    assert!(events.is_gone(), "the stream did not notice the removal");
    assert!(events.next().is_none());
}

#[test]
fn hugetlb_limit_is_written_where_the_controller_lives() {
    let Some(_root) = require_root("limits huge pages") else {
        return;
    };
    if Hierarchy::detect()
        .unwrap()
        .placement(Controller::Hugetlb)
        .is_err()
    {
        eprintln!("skipped: no hugetlb controller on this kernel");
        return;
    }
    let cg = Guard::new("huge");
    cg.apply(&Resources::new().hugetlb("2MB", 4 << 20)).unwrap();
    let file = file_of(
        &cg,
        Controller::Hugetlb,
        "hugetlb.2MB.max",
        "hugetlb.2MB.limit_in_bytes",
    );
    assert_eq!(read(file), (4u64 << 20).to_string());
    // A page size the kernel lacks names the file it refused.
    let err = cg
        .apply(&Resources::new().hugetlb("4MB", 1 << 22))
        .unwrap_err();
    assert!(err.to_string().contains("hugetlb.4MB"), "{err}");
}

#[test]
fn max_depth_and_descendants_bite_on_cgroup2() {
    let Some(_root) = require_root("limits a cgroup2 subtree") else {
        return;
    };
    let cg = Guard::new("depth");
    let Some(dir) = cg.v2_dir().map(Path::to_owned) else {
        let err = cg.set_max_depth(Some(1)).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        return;
    };
    cg.set_max_depth(Some(1)).unwrap();
    cg.set_max_descendants(Some(1)).unwrap();
    assert_eq!(read(dir.join("cgroup.max.depth")), "1");
    assert_eq!(read(dir.join("cgroup.max.descendants")), "1");
    std::fs::create_dir(dir.join("a")).unwrap();
    let second = std::fs::create_dir(dir.join("b")).unwrap_err();
    assert_eq!(second.raw_os_error(), Some(libc::EAGAIN), "descendants");
    let deep = std::fs::create_dir(dir.join("a/deeper")).unwrap_err();
    assert_eq!(deep.raw_os_error(), Some(libc::EAGAIN), "depth");
    cg.set_max_descendants(None).unwrap();
    assert_eq!(read(dir.join("cgroup.max.descendants")), "max");
}

/// The pure-v1 path of `events()` (no cgroup2 directory: an eventfd for
/// OOM, populated re-read every 100 ms), on this host's v1 hierarchies
/// seen without the cgroup2 tree.
#[test]
fn events_on_v1_hierarchies_alone() {
    let Some(_root) = require_root("watches a v1-only cgroup") else {
        return;
    };
    let v1 = Hierarchy::detect().unwrap().legacy_only();
    if v1.placement(Controller::Memory).is_err() {
        eprintln!("skipped: no v1 memory hierarchy on this host (pure cgroup2)");
        return;
    }
    let cg = Cgroup::create_in(v1, &unique_name("v1ev")).unwrap();
    assert!(cg.v2_dir().is_none());
    let guard = Guard(Some(cg));
    guard
        .apply(&Resources::new().memory_max(32 << 20).memory_swap(0))
        .unwrap();
    let mut events = guard.events().unwrap();
    let child = spawn_in(&guard, "sleep 0.3; exec tail /dev/zero");
    expect_event(&mut events, Duration::from_secs(2), |e| {
        *e == Event::Populated(true)
    });
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{out:?}");
    expect_event(&mut events, Duration::from_secs(1), |e| {
        matches!(e, Event::OomKill { .. })
    });
    expect_event(&mut events, Duration::from_secs(2), |e| {
        *e == Event::Populated(false)
    });
}

/// Siblings created and limited at once under a fresh parent of ours: the
/// first `apply` enables the controller in the parent's
/// `cgroup.subtree_control` while the others already read it as enabled —
/// the kernel lists it before it has created every child's files. Every
/// limit must land anyway. Runs with whichever controller lives on
/// cgroup2 here (pids on a pure-v2 host, hugetlb on a hybrid one).
#[test]
fn concurrent_siblings_all_get_their_cgroup2_limits() {
    let Some(root) = require_root("creates cgroups concurrently") else {
        return;
    };
    let hierarchy = Hierarchy::detect().unwrap();
    let on_v2 = |c| matches!(hierarchy.placement(c), Ok(Placement::V2(_)));
    let (limit, file, value) = if on_v2(Controller::Pids) {
        (Resources::new().pids_max(64), "pids.max", 64u64)
    } else if on_v2(Controller::Hugetlb) {
        (
            Resources::new().hugetlb("2MB", 2 << 20),
            "hugetlb.2MB.max",
            2 << 20,
        )
    } else {
        eprintln!("skipped: no limit-bearing controller on cgroup2 here");
        return;
    };
    let (_root, ()) = root.assert_no_leaks(|| {
        for round in 0..20 {
            let parent_name = unique_name(&format!("sib{round}"));
            let _parent = Guard(Some(Cgroup::create(&parent_name).unwrap()));
            std::thread::scope(|s| {
                for i in 0..8 {
                    let (parent_name, limit) = (&parent_name, &limit);
                    s.spawn(move || {
                        let child = Guard(Some(
                            Cgroup::create(&format!("{parent_name}/c{i}")).unwrap(),
                        ));
                        child
                            .apply(limit)
                            .unwrap_or_else(|e| panic!("round {round}, child {i}: {e}"));
                        // The kernel holds the limit.
                        assert_eq!(read(child.v2_dir().unwrap().join(file)), value.to_string());
                    });
                }
            });
        }
    });
}

/// `unified` (OCI `linux.resources.unified`): a raw file of a controller on
/// cgroup2 is written as given, after the typed limits, and read back; one
/// whose controller is on v1 here is refused before anything is written.
#[test]
fn unified_files_are_written_on_cgroup2_and_refused_on_v1() {
    let Some(_root) = require_root("creates cgroups") else {
        return;
    };
    let h = Hierarchy::detect().unwrap();
    let on_v2 = |c| matches!(h.placement(c), Ok(Placement::V2(_)));
    // A file each v2 controller this machine may have offers.
    let candidates = [
        (Controller::Memory, "memory.oom.group", "1"),
        (Controller::Pids, "pids.max", "77"),
        (Controller::Hugetlb, "hugetlb.2MB.max", "4194304"),
    ];
    let mut tried = 0;
    for (ctrl, file, value) in candidates {
        if h.placement(ctrl).is_err() {
            continue; // not on this machine at all
        }
        let cg = Guard::new("unified");
        let r = Resources::new().unified(file, value);
        if on_v2(ctrl) {
            let path = cg.v2_dir().unwrap().join(file);
            if ctrl == Controller::Hugetlb
                && !Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists()
            {
                continue; // no 2 MB pages on this machine: no such file
            }
            cg.apply(&r).unwrap();
            assert_eq!(read(&path), value, "{file}");
            tried += 1;
        } else {
            match cg.apply(&r) {
                Err(Error::Unsupported { version, .. }) => assert_eq!(version, "v1"),
                other => panic!("{file} on a v1 controller: {other:?}"),
            }
        }
    }
    // Typed limits first, unified last: it wins over pids_max.
    if on_v2(Controller::Pids) {
        let cg = Guard::new("unified-order");
        cg.apply(&Resources::new().pids_max(10).unified("pids.max", "33"))
            .unwrap();
        assert_eq!(read(cg.v2_dir().unwrap().join("pids.max")), "33");
    }
    eprintln!("unified: {tried} file(s) written on cgroup2");
}
