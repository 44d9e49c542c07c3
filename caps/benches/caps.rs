//! palisade-caps beside raw syscalls and the `caps` crate. Needs root for
//! the apply group.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_caps::{CapSet, CapState, PreparedCaps};
use palisade_testkit::time_in_fork;

fn read_state(c: &mut Criterion) {
    let mut g = c.benchmark_group("caps_read");
    let status = std::fs::read("/proc/self/status").unwrap();
    g.bench_function("palisade/parse_status", |b| {
        b.iter(|| CapState::parse_status(black_box(&status)).unwrap())
    });
    g.bench_function("palisade/current", |b| {
        b.iter(|| black_box(CapState::current().unwrap()))
    });
    g.bench_function("caps_crate/read_5_sets", |b| {
        use caps::CapSet as S;
        b.iter(|| {
            for s in [
                S::Effective,
                S::Permitted,
                S::Inheritable,
                S::Bounding,
                S::Ambient,
            ] {
                black_box(caps::read(None, s).unwrap());
            }
        })
    });
    g.finish();
}

fn palisade_apply() {
    thread_local! {
        static P: PreparedCaps = PreparedCaps::new(CapState::container(CapSet::docker_default())).unwrap();
    }
    P.with(|p| p.apply_in_child().unwrap());
}

fn raw_apply() {
    let last = 40u64;
    let want = CapSet::docker_default().mask();
    // SAFETY: prctl/capset with plain arguments.
    unsafe {
        for i in 0..=last {
            if want & (1 << i) == 0 && libc::prctl(libc::PR_CAPBSET_READ, i, 0, 0, 0) == 1 {
                libc::prctl(libc::PR_CAPBSET_DROP, i, 0, 0, 0);
            }
        }
        let mut hdr = [0x2008_0522u32, 0];
        let data = [
            want as u32,
            want as u32,
            0,
            (want >> 32) as u32,
            (want >> 32) as u32,
            0,
        ];
        assert_eq!(
            libc::syscall(libc::SYS_capset, hdr.as_mut_ptr(), data.as_ptr()),
            0
        );
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
    }
}

fn caps_crate_apply() {
    use caps::CapSet as S;
    let want: std::collections::HashSet<caps::Capability> = CapSet::docker_default()
        .iter()
        .map(|c| caps::Capability::try_from(c).unwrap())
        .collect();
    for c in caps::all() {
        if !want.contains(&c) {
            let _ = caps::drop(None, S::Bounding, c);
        }
    }
    caps::set(None, S::Effective, &want).unwrap();
    caps::set(None, S::Permitted, &want).unwrap();
    caps::clear(None, S::Inheritable).unwrap();
    caps::clear(None, S::Ambient).unwrap();
}

fn apply(c: &mut Criterion) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let mut g = c.benchmark_group("caps_apply");
    g.sample_size(40);
    g.bench_function("palisade/apply_docker_default", |b| {
        b.iter_custom(|iters| time_in_fork(iters, palisade_apply, raw_apply))
    });
    g.bench_function("raw/apply_docker_default", |b| {
        b.iter_custom(|iters| time_in_fork(iters, raw_apply, palisade_apply))
    });
    g.bench_function("caps_crate/apply_docker_default", |b| {
        b.iter_custom(|iters| time_in_fork(iters, caps_crate_apply, raw_apply))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = read_state, apply
}
criterion_main!(benches);
