//! palisade-cgroup beside the raw file operations doing the same work
//! (`palisade/X` vs `raw/X`) and beside the peer crates `cgroups-rs` and
//! youki's `libcgroups` (`cgroups-rs/X`, `libcgroups/X`). Needs root. Runs on
//! whatever layout the machine has (hybrid here: memory, pids, cpu are v1).
//!
//! `lifecycle` = create + apply(memory 64 MiB, pids 64, cpu 50 ms/100 ms) +
//! add a process + delete. The process is a sleeping child parked in a group
//! of the bench's own; moving it back to the park before the delete is the
//! same raw write for every contender and is not timed (`iter_custom`).
//!
//! Each peer is used the way its documentation shows: cgroups-rs with
//! `set_specified_controllers` (only the three controllers), libcgroups'
//! v1/v2 manager as youki uses it (it joins every mounted v1 controller).

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_cgroup::{
    Cgroup, Controller, DeviceProgram, DeviceRule, Hierarchy, Placement, Resources,
};

fn write(path: &Path, value: &str) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// What a hand-written implementation touches for memory + pids + cpu: each
/// controller's directory plus the cgroup2 tree when mounted (as palisade).
struct Raw {
    dirs: Vec<PathBuf>,
    writes: Vec<(PathBuf, &'static str)>,
}

impl Raw {
    fn new(h: &Hierarchy, name: &str) -> Raw {
        let dir_of = |c| match h.placement(c).unwrap() {
            Placement::V2(root) | Placement::V1(root) => root.join(name),
        };
        let v2 = |c| matches!(h.placement(c), Ok(Placement::V2(_)));
        let (mem, pids, cpu) = (
            dir_of(Controller::Memory),
            dir_of(Controller::Pids),
            dir_of(Controller::Cpu),
        );
        let mut writes = vec![
            (
                mem.join(if v2(Controller::Memory) {
                    "memory.max"
                } else {
                    "memory.limit_in_bytes"
                }),
                "67108864",
            ),
            (pids.join("pids.max"), "64"),
        ];
        if v2(Controller::Cpu) {
            writes.push((cpu.join("cpu.max"), "50000 100000"));
        } else {
            writes.push((cpu.join("cpu.cfs_period_us"), "100000"));
            writes.push((cpu.join("cpu.cfs_quota_us"), "50000"));
        }
        let mut dirs = vec![mem, pids, cpu];
        dirs.sort();
        dirs.dedup();
        if let Some(u) = h.unified() {
            dirs.push(u.join(name));
        }
        Raw { dirs, writes }
    }

    /// On cgroup2 the controllers must be enabled for the new group first.
    fn enable_v2(h: &Hierarchy) {
        if let Some(u) = h.unified() {
            for c in ["memory", "pids", "cpu"] {
                if h.v2_controllers().iter().any(|x| x.v2_name() == Some(c)) {
                    let _ = std::fs::OpenOptions::new()
                        .write(true)
                        .open(u.join("cgroup.subtree_control"))
                        .and_then(|mut f| f.write_all(format!("+{c}").as_bytes()));
                }
            }
        }
    }

    fn create_apply_add(&self, pid: &str) {
        for d in &self.dirs {
            std::fs::create_dir(d).unwrap();
        }
        for (file, value) in &self.writes {
            write(file, value);
        }
        for d in &self.dirs {
            write(&d.join("cgroup.procs"), pid);
        }
    }

    fn delete(&self) {
        for d in &self.dirs {
            std::fs::remove_dir(d).unwrap();
        }
    }

    /// The files palisade's `stats()` reads on this layout, read raw.
    fn stats_files(cg: &Cgroup) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for d in cg.dirs_iter() {
            for f in [
                "memory.usage_in_bytes",
                "memory.max_usage_in_bytes",
                "memory.oom_control",
                "memory.current",
                "memory.peak",
                "memory.events",
                "pids.current",
                "pids.max",
                "cpuacct.usage",
                "cpuacct.stat",
                "cpu.stat",
                "io.stat",
                "blkio.throttle.io_service_bytes_recursive",
            ] {
                let p = d.join(f);
                if p.exists() {
                    files.push(p);
                }
            }
        }
        files
    }
}

/// A sleeping child and a group of our own that holds it between rounds.
struct Park {
    group: Option<Cgroup>,
    child: Child,
}

impl Park {
    fn new(h: &Hierarchy, name: &str) -> Park {
        let group = Cgroup::create_in(h.clone(), name).unwrap();
        let child = Command::new("sleep").arg("1000").spawn().unwrap();
        group.add_process(child.id() as i32).unwrap();
        Park {
            group: Some(group),
            child,
        }
    }
    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    fn take_back(&self) {
        self.group
            .as_ref()
            .unwrap()
            .add_process(self.pid())
            .unwrap();
    }
}

impl Drop for Park {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(g) = self.group.take() {
            let _ = g.delete();
        }
    }
}

/// Times `setup` (create/apply/add) and `teardown` (delete), not the
/// untimed move back to the park between them.
fn lifecycle<F: FnOnce()>(iters: u64, park: &Park, mut setup: impl FnMut() -> F) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let t = Instant::now();
        let teardown = setup();
        total += t.elapsed();
        park.take_back();
        let t = Instant::now();
        teardown();
        total += t.elapsed();
    }
    total
}

fn libcgroups_resources() -> oci_spec::runtime::LinuxResources {
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
    };
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64i64 << 20)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(64).build().unwrap())
        .cpu(
            LinuxCpuBuilder::default()
                .quota(50_000i64)
                .period(100_000u64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn cgroups_rs_build(name: &str) -> cgroups_rs::fs::Cgroup {
    use cgroups_rs::fs::MaxValue;
    use cgroups_rs::fs::cgroup_builder::CgroupBuilder;
    CgroupBuilder::new(name)
        .set_specified_controllers(vec!["memory".into(), "pids".into(), "cpu".into()])
        .memory()
        .memory_hard_limit(64 << 20)
        .done()
        .pid()
        .maximum_number_of_processes(MaxValue::Value(64))
        .done()
        .cpu()
        .period(100_000)
        .quota(50_000)
        .done()
        .build(cgroups_rs::fs::hierarchies::auto())
        .unwrap()
}

fn bench(c: &mut Criterion) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("palisade-cgroup benches need root; skipped");
        return;
    }
    let h = Hierarchy::detect().unwrap();
    let me = std::process::id();
    let name = format!("palisade-bench-cg-{me}");
    let park = Park::new(&h, &format!("palisade-bench-park-{me}"));
    let pid = park.pid();
    let pid_text = pid.to_string();
    let resources = Resources::new()
        .memory_max(64 << 20)
        .pids_max(64)
        .cpu_max(50_000, 100_000);

    let mut g = c.benchmark_group("cgroup");
    let raw = Raw::new(&h, &name);
    Raw::enable_v2(&h);
    let palisade_round = || {
        lifecycle(1, &park, || {
            let cg = Cgroup::create_for_in(h.clone(), black_box(&name), &resources).unwrap();
            cg.apply(&resources).unwrap();
            cg.add_process(pid).unwrap();
            move || cg.delete().unwrap()
        })
    };
    let raw_round = || {
        lifecycle(1, &park, || {
            raw.create_apply_add(black_box(&pid_text));
            || raw.delete()
        })
    };
    // palisade and raw run interleaved, each timed right after an untimed
    // round of the other, so both see the same kernel state (RCU grace
    // periods of earlier migrations dominate this benchmark).
    g.bench_function("palisade/lifecycle", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    raw_round();
                    palisade_round()
                })
                .sum()
        })
    });
    g.bench_function("raw/lifecycle", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    palisade_round();
                    raw_round()
                })
                .sum()
        })
    });
    // Like for like with cgroups-rs, which knows only the v1 hierarchies
    // on a hybrid host: palisade on the same three directories.
    if h.mode() == palisade_cgroup::Mode::Hybrid {
        let v1 = h.legacy_only();
        g.bench_function("palisade/lifecycle_v1_only", |b| {
            b.iter_custom(|iters| {
                lifecycle(iters, &park, || {
                    let cg =
                        Cgroup::create_for_in(v1.clone(), black_box(&name), &resources).unwrap();
                    cg.apply(&resources).unwrap();
                    cg.add_process(pid).unwrap();
                    move || cg.delete().unwrap()
                })
            })
        });
    }
    g.bench_function("cgroups-rs/lifecycle", |b| {
        b.iter_custom(|iters| {
            lifecycle(iters, &park, || {
                let cg = cgroups_rs_build(black_box(&name));
                cg.add_task_by_tgid(cgroups_rs::CgroupPid::from(pid as u64))
                    .unwrap();
                move || cg.delete().unwrap()
            })
        })
    });
    let oci = libcgroups_resources();
    g.bench_function("libcgroups/lifecycle", |b| {
        use libcgroups::common::{CgroupManager, ControllerOpt};
        b.iter_custom(|iters| {
            lifecycle(iters, &park, || {
                let m = libcgroups::v1::manager::Manager::new(Path::new(black_box(&name))).unwrap();
                m.add_task(nix029::unistd::Pid::from_raw(pid)).unwrap();
                m.apply(&ControllerOpt {
                    resources: &oci,
                    disable_oom_killer: false,
                    oom_score_adj: None,
                    freezer_state: None,
                })
                .unwrap();
                move || m.remove().unwrap()
            })
        })
    });

    // Reading usage of a populated group, present in every hierarchy (as
    // libcgroups expects for its stats).
    let cg = Cgroup::create_in(h.clone(), &name).unwrap();
    cg.apply(&resources).unwrap();
    cg.add_process(pid).unwrap();
    g.bench_function("palisade/apply_memory_max", |b| {
        let r = Resources::new().memory_max(64 << 20);
        b.iter(|| cg.apply(black_box(&r)).unwrap())
    });
    g.bench_function("raw/apply_memory_max", |b| {
        let (file, value) = &raw.writes[0];
        b.iter(|| write(file, black_box(value)))
    });
    g.bench_function("palisade/stats", |b| {
        b.iter(|| black_box(cg.stats().unwrap()))
    });
    let files = Raw::stats_files(&cg);
    g.bench_function("raw/stats", |b| {
        b.iter(|| {
            for f in &files {
                black_box(std::fs::read_to_string(f).unwrap());
            }
        })
    });
    let peer = cgroups_rs::fs::Cgroup::load(cgroups_rs::fs::hierarchies::auto(), name.as_str());
    g.bench_function("cgroups-rs/stats", |b| {
        use cgroups_rs::fs::{
            cpuacct::CpuAcctController, memory::MemController, pid::PidController,
        };
        b.iter(|| {
            let mem: &MemController = peer.controller_of().unwrap();
            let pids: &PidController = peer.controller_of().unwrap();
            let cpu: Option<&CpuAcctController> = peer.controller_of();
            black_box((
                mem.memory_stat(),
                pids.get_pid_current().ok(),
                cpu.map(|c| c.cpuacct()),
            ));
        })
    });
    g.bench_function("libcgroups/stats", |b| {
        use libcgroups::common::CgroupManager;
        let m = libcgroups::v1::manager::Manager::new(Path::new(&name)).unwrap();
        b.iter(|| black_box(m.stats().unwrap()))
    });
    g.finish();
    park.take_back();
    cg.delete().unwrap();
}

/// Times `timed` on a fresh group `name` made on `layout` for `made_by`,
/// `iters` times; creating and deleting it is untimed.
fn on_fresh(
    iters: u64,
    layout: &Hierarchy,
    name: &str,
    made_by: &Resources,
    timed: impl Fn(&Cgroup),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let cg = Cgroup::create_for_in(layout.clone(), name, made_by).unwrap();
        let start = Instant::now();
        timed(&cg);
        total += start.elapsed();
        cg.delete().unwrap();
    }
    total
}

/// Device rules (`docker_default`, 13 rules) put in force on a fresh
/// group: on v1 the `devices.list` read and 13 `devices.deny` /
/// `devices.allow` writes, beside the same 13 raw writes; on the cgroup2
/// tree building, loading and attaching the BPF program (with the
/// `BPF_PROG_QUERY` for programs to replace). Also an update of a group
/// that has rules (v2: attach the new program, detach the old). Creating
/// and deleting the group is untimed.
fn devices(c: &mut Criterion) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let h = Hierarchy::detect().unwrap();
    let name = format!("palisade-bench-dev-{}", std::process::id());
    let rules = DeviceRule::docker_default();
    let mut other = DeviceRule::docker_default();
    other.push(DeviceRule::parse(true, "c 10:229 rwm").unwrap());
    let mut g = c.benchmark_group("devices");
    g.bench_function("palisade/build_program", |b| {
        b.iter(|| black_box(DeviceProgram::build(black_box(&rules)).unwrap()))
    });
    let with_devices = Resources::new().devices(rules.clone());
    if h.v1_mount(Controller::Devices).is_ok() {
        let v1 = h.legacy_only();
        g.bench_function("palisade/v1_fresh", |b| {
            b.iter_custom(|iters| {
                on_fresh(iters, &v1, &name, &with_devices, |cg| {
                    cg.set_devices(black_box(&rules)).unwrap()
                })
            })
        });
        let text: Vec<(bool, String)> = rules.iter().map(|r| (r.allow, r.to_string())).collect();
        g.bench_function("raw/v1_fresh_writes", |b| {
            b.iter_custom(|iters| {
                on_fresh(iters, &v1, &name, &with_devices, |cg| {
                    let dir = cg.v1_dir(Controller::Devices).unwrap();
                    let (allow, deny) = (dir.join("devices.allow"), dir.join("devices.deny"));
                    for (is_allow, line) in &text {
                        write(if *is_allow { &allow } else { &deny }, line);
                    }
                })
            })
        });
    }
    if h.unified().is_some() {
        let none = Resources::new();
        g.bench_function("palisade/v2_fresh_build_load_attach", |b| {
            b.iter_custom(|iters| {
                on_fresh(iters, &h, &name, &none, |cg| {
                    cg.set_devices(black_box(&rules)).unwrap()
                })
            })
        });
        let cg = Cgroup::create_for_in(h.clone(), &name, &none).unwrap();
        cg.set_devices(&rules).unwrap();
        let mut flip = false;
        g.bench_function("palisade/v2_update", |b| {
            b.iter(|| {
                flip = !flip;
                cg.set_devices(if flip { &other } else { &rules }).unwrap()
            })
        });
        g.bench_function("palisade/v2_query", |b| {
            b.iter(|| black_box(cg.devices_in_force().unwrap()))
        });
        cg.delete().unwrap();
    }
    g.finish();
}

/// The systemd driver beside cgroupfs through the same call
/// (`Cgroup::create_with`), where systemd is PID 1 (the guest lane's
/// systemd mode; `--features systemd`): a transient scope started with the
/// parked process, then emptied (the process goes back to the park, so the
/// scope stops by itself) and deleted. systemd's job round trips are the
/// expected cost.
#[cfg(feature = "systemd")]
fn systemd(c: &mut Criterion) {
    use palisade_cgroup::CgroupManager;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/run/systemd/system").exists() {
        eprintln!("systemd benches need root and systemd as PID 1; skipped");
        return;
    }
    let h = Hierarchy::detect().unwrap();
    let me = std::process::id();
    let park = Park::new(&h, &format!("palisade-bench-sdpark-{me}"));
    let pid = park.pid();
    let resources = Resources::new()
        .memory_max(64 << 20)
        .pids_max(64)
        .cpu_max(50_000, 100_000);
    let mut n = 0u64;
    let mut g = c.benchmark_group("driver");
    for (label, manager) in [
        ("cgroupfs/lifecycle", CgroupManager::Cgroupfs),
        ("systemd/lifecycle", CgroupManager::Systemd),
    ] {
        g.bench_function(label, |b| {
            b.iter_custom(|iters| {
                lifecycle(iters, &park, || {
                    n += 1;
                    let path = match manager {
                        CgroupManager::Cgroupfs => format!("palisade-bench-drv-{me}-{n}"),
                        _ => format!("system.slice:palisade-bench:{me}-{n}"),
                    };
                    let cg = Cgroup::create_with(manager, black_box(&path), &resources, Some(pid))
                        .unwrap();
                    move || cg.delete().unwrap()
                })
            })
        });
    }
    g.finish();
}

#[cfg(not(feature = "systemd"))]
fn systemd(_: &mut Criterion) {}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = bench, devices, systemd
}
criterion_main!(benches);
