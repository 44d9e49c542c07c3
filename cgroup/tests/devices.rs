//! Device rules against the real kernel (root): a forked child joins the
//! group and tries `mknod` and `open`; every verdict is the kernel's. Each
//! test runs on every layout this host offers: v1 `devices` alone, the
//! cgroup2 BPF program alone (on a hybrid host: the group lives only in
//! the cgroup2 tree), and both together (what `create_for` gives).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_cgroup::{Cgroup, Controller, DeviceProgram, DeviceRule, Error, Hierarchy, Resources};
use palisade_testkit::{TempDir, fork_run, require_root, unique_name};

const EPERM: i32 = libc::EPERM;

/// Which directories enforce the rules.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    /// v1 `devices` only (the cgroup2 tree left out).
    V1,
    /// The cgroup2 BPF program only (no v1 devices directory).
    V2,
    /// Both, as `create_for` makes it on a hybrid host.
    Both,
}

fn layouts() -> Vec<Layout> {
    let h = Hierarchy::detect().unwrap();
    let v1 = h.v1_mount(Controller::Devices).is_ok();
    let v2 = h.unified().is_some();
    let mut out = Vec::new();
    if v1 {
        out.push(Layout::V1);
    }
    if v2 {
        out.push(Layout::V2);
    }
    if v1 && v2 {
        out.push(Layout::Both);
    }
    assert!(!out.is_empty(), "no devices controller and no cgroup2 tree");
    out
}

/// Deletes the cgroup even when the test fails.
struct Guard(Option<Cgroup>);

impl Guard {
    fn new(layout: Layout, tag: &str) -> Guard {
        Guard::named(layout, &unique_name(tag))
    }

    fn named(layout: Layout, name: &str) -> Guard {
        let h = Hierarchy::detect().unwrap();
        let with_devices = Resources::new().device(DeviceRule::deny_all());
        let cg = match layout {
            Layout::V1 => Cgroup::create_for_in(h.legacy_only(), name, &with_devices),
            Layout::V2 => Cgroup::create_for_in(h, name, &Resources::new()),
            Layout::Both => Cgroup::create_for_in(h, name, &with_devices),
        }
        .unwrap();
        match layout {
            Layout::V1 => {
                assert!(cg.v2_dir().is_none() && cg.v1_dir(Controller::Devices).is_some())
            }
            Layout::V2 => {
                assert!(cg.v2_dir().is_some() && cg.v1_dir(Controller::Devices).is_none())
            }
            Layout::Both => {
                assert!(cg.v2_dir().is_some() && cg.v1_dir(Controller::Devices).is_some())
            }
        }
        Guard(Some(cg))
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

/// What the child tries.
#[derive(Clone)]
enum Op {
    /// `mknod(path, type | 0600, makedev(major, minor))`.
    Mknod(PathBuf, char, u32, u32),
    /// `open(path, flags)`.
    Open(PathBuf, i32),
}

fn c_path(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

/// 0 or the errno.
fn run_op(op: &Op) -> i32 {
    let errno = || std::io::Error::last_os_error().raw_os_error().unwrap();
    match op {
        Op::Mknod(path, kind, major, minor) => {
            let kind = if *kind == 'b' {
                libc::S_IFBLK
            } else {
                libc::S_IFCHR
            };
            let dev = libc::makedev(*major, *minor);
            // SAFETY: valid C string.
            let r = unsafe { libc::mknod(c_path(path).as_ptr(), kind | 0o600, dev) };
            if r == 0 { 0 } else { errno() }
        }
        Op::Open(path, flags) => {
            // SAFETY: valid C string; the fd is closed at once.
            let fd = unsafe {
                libc::open(
                    c_path(path).as_ptr(),
                    flags | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY,
                )
            };
            if fd < 0 {
                return errno();
            }
            // SAFETY: our fd.
            unsafe { libc::close(fd) };
            0
        }
    }
}

/// Runs `ops` in a forked child that first joined `cg`; one result each.
fn probe(cg: &Cgroup, ops: &[Op]) -> Vec<i32> {
    let ops = ops.to_vec();
    fork_run(move || {
        cg.add_process(std::process::id() as i32).unwrap();
        ops.iter().map(run_op).collect::<Vec<i32>>()
    })
    .unwrap()
}

fn open(path: impl AsRef<Path>, flags: i32) -> Op {
    Op::Open(path.as_ref().to_owned(), flags)
}

fn rules(lines: &[&str]) -> Vec<DeviceRule> {
    lines
        .iter()
        .map(|l| {
            let (verb, text) = l.split_once(' ').unwrap();
            DeviceRule::parse(verb == "allow", text).unwrap()
        })
        .collect()
}

fn docker_plus(lines: &[&str]) -> Vec<DeviceRule> {
    let mut r = DeviceRule::docker_default();
    r.extend(rules(lines));
    r
}

/// The docker list: mknod of an unlisted char and block device works,
/// opening either for read or write is EPERM; the listed devices open;
/// a node of a listed number opens wherever it is. Read back: the v1
/// list is exactly the allow-list, one program is attached.
#[test]
fn docker_default_refuses_undeclared_devices() {
    let Some(_root) = require_root("applies device rules") else {
        return;
    };
    for layout in layouts() {
        let tmp = TempDir::new("devs");
        let (kmsg, disk, null) = (
            tmp.path().join("kmsg"),
            tmp.path().join("disk"),
            tmp.path().join("null"),
        );
        let cg = Guard::new(layout, "devdef");
        cg.set_devices(&DeviceRule::docker_default()).unwrap();
        let got = probe(
            &cg,
            &[
                Op::Mknod(kmsg.clone(), 'c', 1, 11),
                Op::Mknod(disk.clone(), 'b', 8, 0),
                Op::Mknod(null.clone(), 'c', 1, 3),
                open(&kmsg, libc::O_RDONLY),
                open(&kmsg, libc::O_WRONLY),
                open(&disk, libc::O_RDONLY),
                open(&disk, libc::O_WRONLY),
                open(&null, libc::O_RDWR),
                open("/dev/null", libc::O_RDWR),
                open("/dev/zero", libc::O_RDONLY),
                open("/dev/urandom", libc::O_RDONLY),
                open("/dev/full", libc::O_WRONLY),
                open("/dev/ptmx", libc::O_RDWR),
            ],
        );
        assert_eq!(
            got,
            [0, 0, 0, EPERM, EPERM, EPERM, EPERM, 0, 0, 0, 0, 0, 0],
            "{layout:?}"
        );
        // Outside the group the same nodes open: the verdict was the group's.
        assert_eq!(run_op(&open(&kmsg, libc::O_RDONLY)), 0);

        let now = cg.devices_in_force().unwrap();
        if let Some(list) = &now.v1 {
            let mut text: Vec<String> = list.iter().map(|r| r.to_string()).collect();
            text.sort();
            let mut want: Vec<String> = DeviceRule::docker_default()[1..]
                .iter()
                .map(|r| r.to_string())
                .collect();
            want.sort();
            assert_eq!(text, want, "{layout:?}");
        }
        assert_eq!(now.v1.is_some(), layout != Layout::V2);
        match &now.v2_programs {
            Some(ids) => assert_eq!(ids.len(), 1, "{layout:?}: {ids:?}"),
            None => assert_eq!(layout, Layout::V1),
        }
    }
}

/// One extra rule opens exactly that device, only for the access it
/// names; a later deny overrides an earlier allow.
#[test]
fn an_extra_rule_opens_exactly_that_device_and_a_later_deny_wins() {
    let Some(_root) = require_root("applies device rules") else {
        return;
    };
    for layout in layouts() {
        let tmp = TempDir::new("devx");
        let (kmsg, fuse, disk) = (
            tmp.path().join("kmsg"),
            tmp.path().join("fuse"),
            tmp.path().join("disk"),
        );
        let cg = Guard::new(layout, "devx");
        cg.set_devices(&DeviceRule::docker_default()).unwrap();
        let made = probe(
            &cg,
            &[
                Op::Mknod(kmsg.clone(), 'c', 1, 11),
                Op::Mknod(fuse.clone(), 'c', 10, 229),
                Op::Mknod(disk.clone(), 'b', 7, 0),
            ],
        );
        assert_eq!(made, [0, 0, 0], "{layout:?}");
        let tries = [
            open(&kmsg, libc::O_RDONLY),
            open(&kmsg, libc::O_WRONLY),
            open(&fuse, libc::O_RDWR),
            open(&disk, libc::O_RDONLY),
            open("/dev/null", libc::O_RDWR),
        ];

        cg.set_devices(&docker_plus(&["allow c 1:11 r"])).unwrap();
        assert_eq!(
            probe(&cg, &tries),
            [0, EPERM, EPERM, EPERM, 0],
            "{layout:?}: only kmsg, only for reading"
        );

        cg.set_devices(&docker_plus(&["allow c 1:11 rw", "deny c 1:11 r"]))
            .unwrap();
        assert_eq!(
            probe(&cg, &tries),
            [EPERM, 0, EPERM, EPERM, 0],
            "{layout:?}: the later deny took the read away"
        );

        // A wildcard deny after the allows takes every 1:* away again.
        cg.set_devices(&docker_plus(&["allow c 1:11 rw", "deny c 1:* rw"]))
            .unwrap();
        assert_eq!(
            probe(&cg, &tries),
            [EPERM, EPERM, EPERM, EPERM, EPERM],
            "{layout:?}: deny c 1:* rw"
        );
        // Still exactly one program after three updates.
        if let Some(ids) = cg.devices_in_force().unwrap().v2_programs {
            assert_eq!(ids.len(), 1, "{layout:?}");
        }
    }
}

/// A process keeps opening /dev/null (allowed by every list) and a kmsg
/// node (denied by every list) while the rules are replaced many times:
/// never an EPERM on the first, never an open of the second.
#[test]
fn updates_under_a_running_process_never_loosen_or_break_access() {
    let Some(_root) = require_root("applies device rules") else {
        return;
    };
    for layout in layouts() {
        let tmp = TempDir::new("devu");
        let kmsg = tmp.path().join("kmsg");
        let stop = tmp.path().join("stop");
        let cg = Arc::new(Guard::new(layout, "devupd"));
        cg.set_devices(&DeviceRule::docker_default()).unwrap();
        assert_eq!(probe(&cg, &[Op::Mknod(kmsg.clone(), 'c', 1, 11)]), [0]);

        let child = {
            let (cg, kmsg, stop) = (cg.clone(), kmsg.clone(), stop.clone());
            std::thread::spawn(move || {
                fork_run(move || {
                    cg.add_process(std::process::id() as i32).unwrap();
                    let (mut loops, mut null_refused, mut kmsg_opened) = (0u64, 0u64, 0u64);
                    let deadline = Instant::now() + Duration::from_secs(30);
                    while !stop.exists() && Instant::now() < deadline {
                        if run_op(&open("/dev/null", libc::O_RDWR)) != 0 {
                            null_refused += 1;
                        }
                        if run_op(&open(&kmsg, libc::O_RDONLY)) == 0 {
                            kmsg_opened += 1;
                        }
                        loops += 1;
                    }
                    (loops, null_refused, kmsg_opened)
                })
            })
        };
        let start = Instant::now();
        while cg.procs().unwrap().is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "child never joined"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let lists = [
            docker_plus(&["allow c 10:229 rw"]),
            docker_plus(&["allow b 7:* r", "allow c 1:3 rwm"]),
            DeviceRule::docker_default(),
            docker_plus(&["deny c 1:9 rw"]),
        ];
        for i in 0..60 {
            cg.set_devices(&lists[i % lists.len()]).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        std::fs::write(&stop, "").unwrap();
        let (loops, null_refused, kmsg_opened) = child.join().unwrap().unwrap();
        assert!(loops > 100, "{layout:?}: only {loops} loops");
        assert_eq!(
            null_refused, 0,
            "{layout:?}: /dev/null refused during updates"
        );
        assert_eq!(kmsg_opened, 0, "{layout:?}: kmsg opened during updates");
        if let Some(ids) = cg.devices_in_force().unwrap().v2_programs {
            assert_eq!(ids.len(), 1, "{layout:?}: old programs left attached");
        }
        drop(Arc::try_unwrap(cg).ok().unwrap());
    }
}

/// Bad rules are typed errors before anything is written: the group's
/// v1 list and attached programs stay as they were.
#[test]
fn bad_rules_are_refused_before_any_write() {
    let Some(_root) = require_root("applies device rules") else {
        return;
    };
    for layout in layouts() {
        let cg = Guard::new(layout, "devbad");
        cg.set_devices(&DeviceRule::docker_default()).unwrap();
        let before = cg.devices_in_force().unwrap();
        let mut too_big = DeviceRule::docker_default();
        too_big.push(DeviceRule {
            major: Some(4096),
            ..DeviceRule::allow_all()
        });
        let carve = docker_plus(&["deny c 1:3 m"]);
        let mut empty_access = DeviceRule::docker_default();
        empty_access.push(DeviceRule {
            access: palisade_cgroup::DeviceAccess::empty(),
            ..DeviceRule::allow_all()
        });
        for (bad, field) in [
            (too_big, "device major"),
            (carve, "device rules"),
            (empty_access, "device access"),
        ] {
            match cg.set_devices(&bad) {
                Err(Error::InvalidValue { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{layout:?}: {field}: {other:?}"),
            }
            let err = cg
                .apply(&Resources::new().pids_max(10).devices(bad))
                .unwrap_err();
            assert!(matches!(err, Error::InvalidValue { .. }), "{err}");
        }
        assert_eq!(cg.devices_in_force().unwrap(), before, "{layout:?}");
    }
    for text in ["c 1:3", "x 1:3 r", "c 1:1048576 r", "c 1:3 rwx"] {
        assert!(matches!(
            DeviceRule::parse(true, text),
            Err(Error::InvalidValue { .. })
        ));
    }
}

/// After delete the program is detached and freed (its id is gone), and a
/// group re-created under the same name has no program attached.
#[test]
fn delete_detaches_the_program_and_leaves_nothing() {
    let Some(root) = require_root("applies device rules") else {
        return;
    };
    let h = Hierarchy::detect().unwrap();
    if h.unified().is_none() {
        return palisade_testkit::skip_absent("cgroup2", "no cgroup2 tree to attach to");
    }
    let (_root, ()) = root.assert_no_leaks(|| {
        for layout in layouts().into_iter().filter(|l| *l != Layout::V1) {
            let name = unique_name("devleak");
            let mut cg = Guard::named(layout, &name);
            cg.set_devices(&DeviceRule::docker_default()).unwrap();
            let ids = cg.devices_in_force().unwrap().v2_programs.unwrap();
            assert_eq!(ids.len(), 1);
            cg.0.take().unwrap().delete().unwrap();
            let deadline = Instant::now() + Duration::from_secs(2);
            while palisade_cgroup::devices::program_exists(ids[0]).unwrap() {
                assert!(
                    Instant::now() < deadline,
                    "{layout:?}: program {} still exists after delete",
                    ids[0]
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            let again = Guard::named(layout, &name);
            assert_eq!(
                again.devices_in_force().unwrap().v2_programs,
                Some(vec![]),
                "{layout:?}"
            );
        }
    });
}

/// delete() of a group with a running member: killed first, then the
/// program detached, then removed.
#[test]
fn delete_with_a_running_member_kills_then_detaches() {
    let Some(_root) = require_root("applies device rules") else {
        return;
    };
    if Hierarchy::detect().unwrap().unified().is_none() {
        return;
    }
    let cg = Cgroup::create_for(
        &unique_name("devrun"),
        &Resources::new().devices(DeviceRule::docker_default()),
    )
    .unwrap();
    cg.apply(&Resources::new().devices(DeviceRule::docker_default()))
        .unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    cg.add_process(child.id() as i32).unwrap();
    let ids = cg.devices_in_force().unwrap().v2_programs.unwrap();
    cg.delete().unwrap();
    assert!(
        child.wait().unwrap().code().is_none(),
        "sleep was not killed"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while palisade_cgroup::devices::program_exists(ids[0]).unwrap() {
        assert!(Instant::now() < deadline, "program left behind");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// xorshift64*: a small deterministic PRNG, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_rule(rng: &mut Rng) -> DeviceRule {
    use palisade_cgroup::{DeviceAccess, DeviceType};
    let number = |rng: &mut Rng, max: u64| match rng.below(4) {
        0 => None,
        1 => Some(rng.below(max + 1) as u32),
        _ => Some(rng.below(16) as u32),
    };
    DeviceRule {
        allow: rng.below(3) != 0,
        kind: [DeviceType::All, DeviceType::Block, DeviceType::Char][rng.below(3) as usize],
        major: number(rng, 4095),
        minor: number(rng, (1 << 20) - 1),
        access: DeviceAccess::from_bits_truncate(1 + rng.below(7) as u8),
    }
}

/// Hundreds of random rule lists: every program the encoder builds is
/// accepted by the kernel's verifier (lists the policy refuses, such as
/// carving a wildcard, are counted, not loaded).
#[test]
fn the_verifier_accepts_every_program_the_encoder_builds() {
    let Some(_root) = require_root("loads BPF programs") else {
        return;
    };
    let mut rng = Rng(0x0005_eed0_fde7_1ce5);
    let (mut loaded, mut refused) = (0, 0);
    for i in 0..400 {
        let len = 1 + rng.below(if i % 50 == 0 { 600 } else { 40 }) as usize;
        let mut list: Vec<DeviceRule> = (0..len).map(|_| random_rule(&mut rng)).collect();
        if rng.below(2) == 0 {
            list.insert(0, DeviceRule::deny_all());
        }
        match DeviceProgram::build(&list) {
            Ok(program) => {
                if let Err(e) = program.load() {
                    let text: Vec<String> = list
                        .iter()
                        .map(|r| format!("{} {r}", if r.allow { "allow" } else { "deny" }))
                        .collect();
                    panic!("list {i} {text:?}: {e}");
                }
                loaded += 1;
            }
            Err(Error::InvalidValue { .. }) => refused += 1,
            Err(e) => panic!("list {i}: unexpected {e}"),
        }
    }
    assert!(
        loaded >= 100,
        "only {loaded} programs loaded ({refused} refused)"
    );
}

/// The three presets on the whole layout matrix read back as the kernel
/// shows them: allow_all is `a *:* rwm` in v1; deny_all an empty list.
#[test]
fn presets_read_back_from_devices_list() {
    let Some(_root) = require_root("applies device rules") else {
        return;
    };
    for layout in layouts().into_iter().filter(|l| *l != Layout::V2) {
        let cg = Guard::new(layout, "devpre");
        cg.set_devices(&[DeviceRule::deny_all()]).unwrap();
        assert_eq!(cg.devices_in_force().unwrap().v1, Some(vec![]));
        cg.set_devices(&[DeviceRule::allow_all()]).unwrap();
        assert_eq!(
            cg.devices_in_force().unwrap().v1,
            Some(vec![DeviceRule::allow_all()])
        );
        assert_eq!(probe(&cg, &[open("/dev/null", libc::O_RDWR)]), [0]);
    }
}
