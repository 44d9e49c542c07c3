//! Whole-container start, start to reaped exit of `/bin/true`, palisade beside
//! the peers a user would otherwise pick — same machine, same run, same
//! busybox rootfs, same isolation where the peer offers it.
//!
//! `cargo bench --bench container_start` (full), or
//! `cargo bench --bench container_start -- --quick` (CI smoke, seconds).
//! Needs root; peers that are not installed are skipped with a note
//! (`PALISADE_BENCH=1 ./scripts/setup.sh` installs crun, runc and bwrap).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use palisade::{Container, Resources};

#[path = "support/peers.rs"]
mod peers;

fn container_start(c: &mut Criterion) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        peers::note("container_start: needs root (namespaces, cgroups, mounts); skipped");
        return;
    }
    let rootfs = palisade_testkit::busybox_rootfs();
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&work).expect("create target/bench");
    let crun = peers::OciRuntime::new("crun", rootfs, &work).expect("prepare crun bundle");
    let runc = peers::OciRuntime::new("runc", rootfs, &work).expect("prepare runc bundle");

    let mut group = c.benchmark_group("container_start");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    let cgroup = format!("palisade-bench-{}", std::process::id());
    let limits = Resources::new()
        .memory_max(peers::MEMORY_LIMIT)
        .pids_max(peers::PIDS_LIMIT);
    // Same isolation as the OCI bundles: mnt, uts, ipc, pid, net and cgroup
    // namespaces, /proc, /dev, /sys, masked and read-only paths, Docker's
    // capabilities, a cgroup with memory+pids limits (removed at exit).
    group.bench_function("palisade_spawn", |b| {
        b.iter(|| {
            let mut child = Container::new("/bin/true")
                .rootfs(rootfs)
                .cgroup(&cgroup, limits.clone())
                .spawn()
                .unwrap();
            assert!(child.wait().unwrap().success());
        })
    });
    // Same, without a cgroup: the comparable of bwrap and unshare.
    group.bench_function("palisade_spawn_no_cgroup", |b| {
        b.iter(|| {
            let mut child = Container::new("/bin/true").rootfs(rootfs).spawn().unwrap();
            assert!(child.wait().unwrap().success());
        })
    });
    group.bench_function("fork_exec_true", |b| b.iter(peers::fork_exec_true));
    if peers::installed("unshare") {
        group.bench_function("unshare_fpnmiuC", |b| {
            b.iter(|| peers::unshare_true(black_box(rootfs)))
        });
    }
    if peers::installed("bwrap") {
        group.bench_function("bwrap_unshare_all", |b| {
            b.iter(|| peers::bwrap_true(black_box(rootfs)))
        });
    }
    if let Some(crun) = &crun {
        group.bench_function("crun_run", |b| b.iter(|| crun.run_true()));
    }
    if let Some(runc) = &runc {
        group.bench_function("runc_run", |b| b.iter(|| runc.run_true()));
    }
    group.finish();
}

criterion_group!(benches, container_start);
criterion_main!(benches);
