//! Values that mean what Docker and the kernel say (issue 18, item 8):
//! `UNLIMITED` lifts every limit an earlier `apply` set, `cpus(0.0)` is
//! no limit, and the `pids.max` range is exactly the kernel's. Every
//! outcome is read back from cgroupfs, on the hierarchy (v1 or cgroup2)
//! each controller lives in.

use std::path::Path;

use palisade_cgroup::{
    Cgroup, Controller, Error, Hierarchy, PIDS_MAX_LIMIT, Placement, Resources, UNLIMITED,
};
use palisade_testkit::{require_root, unique_name};

/// Deletes the cgroup even when the test fails.
struct Guard(Option<Cgroup>);

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

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
        .trim()
        .to_owned()
}

/// The file for `c` in `cg` (the v2 or v1 name), and whether it is v2.
fn file(cg: &Cgroup, c: Controller, v2: &str, v1: &str) -> (std::path::PathBuf, bool) {
    match cg.hierarchy().placement(c).unwrap() {
        Placement::V2(_) => (cg.v2_dir().unwrap().join(v2), true),
        Placement::V1(_) => (cg.v1_dir(c).unwrap().join(v1), false),
    }
}

/// What "no limit" reads as in `path`: `max` on cgroup2 and in
/// `pids.max`; in other v1 files the kernel's own maximum, which its root
/// group holds (v1 memory reads back `PAGE_COUNTER_MAX` pages in bytes).
fn unlimited_text(path: &Path, v2: bool, cg: &Cgroup, c: Controller) -> String {
    let name = path.file_name().unwrap().to_str().unwrap();
    if v2 || name == "pids.max" {
        return "max".into();
    }
    if name == "cpu.cfs_quota_us" {
        return "-1".into();
    }
    let Placement::V1(mount) = cg.hierarchy().placement(c).unwrap() else {
        unreachable!()
    };
    read(mount.join(name))
}

fn limits(hugetlb: bool, swap: bool) -> Resources {
    let mut r = Resources::new()
        .memory_max(64 << 20)
        .pids_max(10)
        .cpu_max(50_000, 100_000);
    if swap {
        r = r.memory_swap(32 << 20);
    }
    if hugetlb {
        r = r.hugetlb("2MB", 4 << 20);
    }
    r
}

#[test]
fn unlimited_lifts_every_limit_and_reads_back_max() {
    let Some(root) = require_root("creates cgroups") else {
        return;
    };
    let hugetlb = Hierarchy::detect()
        .unwrap()
        .placement(Controller::Hugetlb)
        .is_ok()
        && Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists();
    let (_root, ()) = root.assert_no_leaks(|| {
        let name = unique_name("unlimited");
        let cg = Guard(Some(
            Cgroup::create_for(&name, &limits(hugetlb, false)).unwrap(),
        ));
        let mem = file(
            &cg,
            Controller::Memory,
            "memory.max",
            "memory.limit_in_bytes",
        );
        let swap = file(
            &cg,
            Controller::Memory,
            "memory.swap.max",
            "memory.memsw.limit_in_bytes",
        );
        // memsw / swap.max exist only with swap accounting on.
        let swap_on = swap.0.exists();
        let pids = file(&cg, Controller::Pids, "pids.max", "pids.max");
        let quota = file(&cg, Controller::Cpu, "cpu.max", "cpu.cfs_quota_us");
        let huge = file(
            &cg,
            Controller::Hugetlb,
            "hugetlb.2MB.max",
            "hugetlb.2MB.limit_in_bytes",
        );
        // cpu.max is "quota period"; the quota part.
        let cpu_text = || read(&quota.0).split(' ').next().unwrap().to_owned();
        let lifts: [(&str, Resources); 2] = [
            ("cpus(0.0)", Resources::new().cpus(0.0)),
            (
                "cpu_max(UNLIMITED)",
                Resources::new().cpu_max(UNLIMITED, 100_000),
            ),
        ];
        for (what, cpu_lift) in lifts {
            cg.apply(&limits(hugetlb, swap_on)).unwrap();
            assert_eq!(read(&mem.0), (64u64 << 20).to_string());
            assert_eq!(read(&pids.0), "10");
            assert_eq!(cpu_text(), "50000");
            if hugetlb {
                assert_eq!(read(&huge.0), (4u64 << 20).to_string());
            }
            if swap_on {
                let want = if swap.1 { 32u64 << 20 } else { 96 << 20 };
                assert_eq!(read(&swap.0), want.to_string());
            }
            let mut lift = cpu_lift.memory_max(UNLIMITED).pids_max(UNLIMITED);
            if swap_on {
                lift = lift.memory_swap(UNLIMITED);
            }
            if hugetlb {
                lift = lift.hugetlb("2MB", UNLIMITED);
            }
            cg.apply(&lift).unwrap_or_else(|e| panic!("{what}: {e}"));
            let un = |f: &(std::path::PathBuf, bool), c| unlimited_text(&f.0, f.1, &cg, c);
            assert_eq!(read(&mem.0), un(&mem, Controller::Memory), "memory");
            assert_eq!(read(&pids.0), "max", "pids");
            assert_eq!(cpu_text(), un(&quota, Controller::Cpu), "{what}");
            if quota.1 {
                assert_eq!(read(&quota.0), "max 100000", "{what}");
            }
            if swap_on {
                assert_eq!(read(&swap.0), un(&swap, Controller::Memory), "swap");
            }
            if hugetlb {
                assert_eq!(read(&huge.0), un(&huge, Controller::Hugetlb), "hugetlb");
            }
        }
        // A fractional count is quota per docker's 100 ms period.
        cg.apply(&Resources::new().cpus(1.5)).unwrap();
        assert_eq!(cpu_text(), "150000");
    });
}

#[test]
fn pids_max_takes_exactly_the_kernels_range() {
    let Some(_root) = require_root("creates cgroups") else {
        return;
    };
    let cg = Guard(Some(
        Cgroup::create_for(&unique_name("pidsrange"), &Resources::new().pids_max(1)).unwrap(),
    ));
    let (pids, _) = file(&cg, Controller::Pids, "pids.max", "pids.max");
    cg.apply(&Resources::new().pids_max(PIDS_MAX_LIMIT))
        .unwrap();
    assert_eq!(read(&pids), PIDS_MAX_LIMIT.to_string());
    // One more is what the kernel refuses; validate refuses it first.
    let raw = std::fs::write(&pids, (PIDS_MAX_LIMIT + 1).to_string()).unwrap_err();
    assert_eq!(raw.raw_os_error(), Some(libc::EINVAL));
    for bad in [0, PIDS_MAX_LIMIT + 1, i64::MAX as u64] {
        let err = cg.apply(&Resources::new().pids_max(bad)).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidValue { field: "pids.max", value, .. } if *value == bad.to_string()),
            "{bad}: {err}"
        );
    }
    assert_eq!(
        read(&pids),
        PIDS_MAX_LIMIT.to_string(),
        "nothing was written"
    );
}

#[test]
fn cpus_negative_nan_or_infinite_are_refused_before_writing() {
    let Some(_root) = require_root("creates cgroups") else {
        return;
    };
    let cg = Guard(Some(
        Cgroup::create_for(&unique_name("cpusbad"), &Resources::new().cpus(0.5)).unwrap(),
    ));
    cg.apply(&Resources::new().cpus(0.5)).unwrap();
    let (quota, _) = file(&cg, Controller::Cpu, "cpu.max", "cpu.cfs_quota_us");
    let before = read(&quota);
    assert!(before.starts_with("50000"), "{before}");
    for bad in [-1.0, -0.001, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = cg.apply(&Resources::new().cpus(bad)).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidValue { field: "cpus", .. }),
            "{bad}: {err}"
        );
    }
    let err = cg
        .apply(&Resources::new().cpus(1.0).cpu_max(10_000, 100_000))
        .unwrap_err();
    assert!(err.to_string().contains("not both"), "{err}");
    assert_eq!(read(&quota), before, "nothing was written");
}
