//! palisade-seccomp: compile time of Docker's profile, and the per-call cost
//! of an installed filter (a tight `getppid` loop in a forked child) under
//! Docker's profile as palisade compiles it (libseccomp binary tree + ENOSYS
//! prologue), as libseccomp alone compiles it (tree, no prologue; linear
//! chain), and with no filter.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_caps::CapSet;
use palisade_seccomp::{CompiledFilter, Filter, InstallFlags, Profile};
use palisade_testkit::fork_run;

fn docker() -> Filter {
    Profile::docker_default(&CapSet::docker_default())
        .to_filter()
        .unwrap()
}

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("seccomp_compile");
    let template = Profile::docker_template();
    g.bench_function("docker_default/resolve+to_filter+compile", |b| {
        b.iter(|| {
            let p = template
                .resolve(
                    palisade_seccomp::Arch::native(),
                    &CapSet::docker_default(),
                    (6, 1),
                )
                .unwrap();
            black_box(p.to_filter().unwrap().compile().unwrap())
        })
    });
    let f = docker();
    g.bench_function("docker_default/compile", |b| {
        b.iter(|| black_box(f.compile().unwrap()))
    });
    g.finish();
}

/// Times `iters` getppid calls in a forked child after installing `filter`.
fn getppid_loop(iters: u64, filter: Option<&CompiledFilter>) -> Duration {
    let filter = filter.cloned();
    let nanos: u64 = fork_run(move || {
        if let Some(f) = &filter {
            // SAFETY: plain prctl.
            assert_eq!(
                unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) },
                0
            );
            f.install(InstallFlags::empty()).unwrap();
        }
        let start = std::time::Instant::now();
        for _ in 0..iters {
            // SAFETY: getppid has no arguments.
            black_box(unsafe { libc::syscall(libc::SYS_getppid) });
        }
        start.elapsed().as_nanos() as u64
    })
    .expect("benchmark child");
    Duration::from_nanos(nanos)
}

fn per_call(c: &mut Criterion) {
    let mut g = c.benchmark_group("seccomp_getppid");
    let palisade = docker().compile().unwrap();
    let mut plain = docker();
    plain.enosys_for_newer = false;
    let tree = plain.compile().unwrap();
    plain.binary_tree = false;
    let linear = plain.compile().unwrap();
    eprintln!(
        "instructions: palisade {}, libseccomp tree {}, libseccomp linear {}",
        palisade.len(),
        tree.len(),
        linear.len()
    );
    g.bench_function("no_filter", |b| b.iter_custom(|n| getppid_loop(n, None)));
    g.bench_function("docker/palisade", |b| {
        b.iter_custom(|n| getppid_loop(n, Some(&palisade)))
    });
    g.bench_function("docker/libseccomp_tree", |b| {
        b.iter_custom(|n| getppid_loop(n, Some(&tree)))
    });
    g.bench_function("docker/libseccomp_linear", |b| {
        b.iter_custom(|n| getppid_loop(n, Some(&linear)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    targets = compile, per_call
}
criterion_main!(benches);
