//! Files the kernel checks against each other (runc #3084 class): every
//! pair is changed upwards and downwards under a limited parent, and each
//! value is read back from cgroupfs.

use std::path::{Path, PathBuf};

use palisade_cgroup::{Cgroup, Controller, Placement, Resources};
use palisade_testkit::{require_root, skip_absent, unique_name};

/// A limited parent and its child; both deleted even when the test fails.
struct Family {
    parent: Option<Cgroup>,
    child: Option<Cgroup>,
}

impl Family {
    fn new(tag: &str, parent_limits: &Resources) -> Family {
        let name = unique_name(tag);
        let parent = Cgroup::create_for(&name, parent_limits).unwrap();
        let mut f = Family {
            parent: Some(parent),
            child: None,
        };
        f.parent().apply(parent_limits).unwrap();
        f.child = Some(Cgroup::create_for(&format!("{name}/child"), parent_limits).unwrap());
        f.child().apply(parent_limits).unwrap();
        f
    }

    fn parent(&self) -> &Cgroup {
        self.parent.as_ref().unwrap()
    }

    fn child(&self) -> &Cgroup {
        self.child.as_ref().unwrap()
    }
}

impl Drop for Family {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            let _ = c.delete();
        }
        if let Some(p) = self.parent.take() {
            p.delete().unwrap();
        }
    }
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
        .trim()
        .to_owned()
}

fn dir(cg: &Cgroup, c: Controller) -> (PathBuf, bool) {
    match cg.hierarchy().placement(c).unwrap() {
        Placement::V2(_) => (cg.v2_dir().unwrap().to_owned(), true),
        Placement::V1(_) => (cg.v1_dir(c).unwrap().to_owned(), false),
    }
}

/// (quota, period, burst) as the kernel reports them.
fn cpu_of(cg: &Cgroup) -> (String, String, Option<String>) {
    let (d, v2) = dir(cg, Controller::Cpu);
    let burst_file = d.join(if v2 {
        "cpu.max.burst"
    } else {
        "cpu.cfs_burst_us"
    });
    let burst = burst_file.exists().then(|| read(&burst_file));
    if v2 {
        let max = read(d.join("cpu.max"));
        let (q, p) = max.split_once(' ').unwrap();
        (q.to_owned(), p.to_owned(), burst)
    } else {
        (
            read(d.join("cpu.cfs_quota_us")),
            read(d.join("cpu.cfs_period_us")),
            burst,
        )
    }
}

#[test]
fn cpu_quota_and_period_move_both_ways_under_a_limited_parent() {
    let Some(_root) = require_root("creates cgroups") else {
        return;
    };
    let half = Resources::new().cpu_max(50_000, 100_000);
    let f = Family::new("dep-cpu", &half);
    assert_eq!(cpu_of(f.child()).0, "50000");
    // Down: the period first would make 50000/20000, over the parent's
    // half a CPU (the runc #3084 case).
    for (quota, period) in [
        (10_000, 20_000),
        (50_000, 100_000),
        (1_000, 1_000_000),
        (40_000, 80_000),
        (5_000, 10_000),
    ] {
        f.child()
            .apply(&Resources::new().cpu_max(quota, period))
            .unwrap_or_else(|e| panic!("{quota}/{period}: {e}"));
        let (q, p, _) = cpu_of(f.child());
        assert_eq!((q, p), (quota.to_string(), period.to_string()));
    }
    // Over the parent's ratio stays a refusal naming the file.
    let over = f.child().apply(&Resources::new().cpu_max(90_000, 100_000));
    if dir(f.child(), Controller::Cpu).1 {
        // cgroup2 takes it and applies the parent's limit on top.
        over.unwrap();
        assert_eq!(cpu_of(f.child()).0, "90000");
    } else {
        let err = over.unwrap_err();
        assert!(err.to_string().contains("cpu.cfs_"), "{err}");
    }
    assert_eq!(cpu_of(f.parent()).0, "50000");
}

#[test]
fn cpu_burst_and_quota_move_both_ways() {
    let Some(_root) = require_root("creates cgroups") else {
        return;
    };
    let half = Resources::new().cpu_max(50_000, 100_000);
    let f = Family::new("dep-burst", &half);
    if cpu_of(f.child()).2.is_none() {
        skip_absent("cpu burst", "no cpu.cfs_burst_us / cpu.max.burst");
        return;
    }
    let with_burst = |q, p, b| {
        let mut r = Resources::new().cpu_max(q, p);
        r.cpu.burst_us = Some(b);
        r
    };
    // Up: the quota before the burst; down: the burst before the quota.
    for (q, p, b) in [
        (40_000, 100_000, 30_000),
        (10_000, 20_000, 5_000),
        (45_000, 100_000, 40_000),
        (2_000, 10_000, 1_000),
    ] {
        f.child()
            .apply(&with_burst(q, p, b))
            .unwrap_or_else(|e| panic!("{q}/{p} burst {b}: {e}"));
        let got = cpu_of(f.child());
        assert_eq!(
            got,
            (q.to_string(), p.to_string(), Some(b.to_string())),
            "{q}/{p} burst {b}"
        );
    }
}

#[test]
fn memory_and_memsw_limits_move_both_ways_under_a_limited_parent() {
    let Some(_root) = require_root("creates cgroups") else {
        return;
    };
    const M: u64 = 1 << 20;
    let parent = Resources::new().memory_max(512 * M);
    let f = Family::new("dep-mem", &parent);
    let (d, v2) = dir(f.child(), Controller::Memory);
    let (mem_file, swap_file) = if v2 {
        ("memory.max", "memory.swap.max")
    } else {
        ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")
    };
    if !d.join(swap_file).exists() {
        skip_absent("memory+swap limit", "swap accounting is off");
        return;
    }
    // (max, swap): up past the old memsw, down under the old max, both.
    for (max, swap) in [
        (64 * M, 64 * M),
        (200 * M, 50 * M),
        (32 * M, 16 * M),
        (256 * M, 256 * M),
        (8 * M, 0),
        (300 * M, 8 * M),
    ] {
        f.child()
            .apply(&Resources::new().memory_max(max).memory_swap(swap))
            .unwrap_or_else(|e| panic!("max {max} swap {swap}: {e}"));
        let want_swap = if v2 { swap } else { max + swap };
        assert_eq!(read(d.join(mem_file)), max.to_string());
        assert_eq!(read(d.join(swap_file)), want_swap.to_string());
    }
}

/// The CPUs of `cg`'s cpuset: (`cpuset.cpus`, `cpuset.cpus.effective` on
/// cgroup2).
fn cpus_of(cg: &Cgroup) -> (String, Option<String>) {
    let (d, v2) = dir(cg, Controller::Cpuset);
    (
        read(d.join("cpuset.cpus")),
        v2.then(|| read(d.join("cpuset.cpus.effective"))),
    )
}

#[test]
fn cpuset_of_a_parent_and_its_child_move_both_ways() {
    let Some(_root) = require_root("creates cgroups") else {
        return;
    };
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        skip_absent("cpuset narrowing", "needs two CPUs");
        return;
    }
    let both = Resources::new().cpuset_cpus("0-1");
    let f = Family::new("dep-cpuset", &both);
    let v2 = dir(f.child(), Controller::Cpuset).1;
    let one = Resources::new().cpuset_cpus("0");
    // Down: the parent narrowed under its child's CPUs (cgroup v1 refuses
    // with EBUSY until the child is narrowed first).
    f.parent().apply(&one).unwrap();
    assert_eq!(cpus_of(f.parent()).0, "0");
    if v2 {
        // cgroup2 keeps the child's request and narrows what it gets.
        assert_eq!(cpus_of(f.child()), ("0-1".into(), Some("0".into())));
    } else {
        assert_eq!(cpus_of(f.child()).0, "0");
    }
    // A child asking for more than its parent: v1 refuses naming the file.
    let wider = f.child().apply(&both);
    if v2 {
        wider.unwrap();
    } else {
        let err = wider.unwrap_err();
        assert!(err.to_string().contains("cpuset.cpus"), "{err}");
        assert_eq!(cpus_of(f.child()).0, "0");
    }
    // Up: the parent first, then the child.
    f.parent().apply(&both).unwrap();
    f.child().apply(&both).unwrap();
    assert_eq!(cpus_of(f.parent()).0, "0-1");
    assert_eq!(cpus_of(f.child()).0, "0-1");
    // A child with a task that would be left with no CPU: refused, and
    // neither group changes.
    f.child().apply(&Resources::new().cpuset_cpus("1")).unwrap();
    let mut sleeper = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    f.child().add_process(sleeper.id() as i32).unwrap();
    let refused = f.parent().apply(&one);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    if v2 {
        refused.unwrap();
        assert_eq!(cpus_of(f.child()), ("1".into(), Some("0".into())));
    } else {
        let err = refused.unwrap_err();
        assert!(
            err.to_string().contains("child/cpuset.cpus"),
            "the error names the child's file: {err}"
        );
        assert_eq!(cpus_of(f.parent()).0, "0-1");
        assert_eq!(cpus_of(f.child()).0, "1");
    }
}
