//! palisade-ns wrappers beside the raw syscalls, in the same groups so the
//! ratio is visible (`palisade/X` vs `raw/X`). Needs root.
//!
//! `cargo bench -p palisade-ns` (the workspace links with `-z now`, so a
//! forked child pays no lazy symbol binding).

use std::hint::black_box;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_ns::{Clone3, CloneResult, Namespace, NsKind, NsKinds, PidFd, join, unshare};
use palisade_testkit::{NsHolder, time_in_fork};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A child in new namespaces (the test kit's holder, kept alive by the
/// second field) and its pidfd.
struct Target(PidFd, #[allow(dead_code)] NsHolder);

impl Target {
    fn new(flags: libc::c_int) -> Target {
        let holder = NsHolder::new(flags);
        Target(PidFd::open(holder.pid()).unwrap(), holder)
    }
}

/// setns into a target namespace and back, per kind (per-thread kinds, so
/// the bench thread itself can switch).
fn setns(c: &mut Criterion) {
    let target = Target::new(
        libc::CLONE_NEWNET | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWCGROUP,
    );
    let mut g = c.benchmark_group("ns_setns");
    for kind in [NsKind::Net, NsKind::Uts, NsKind::Ipc, NsKind::Cgroup] {
        let theirs = target.0.namespace(kind).unwrap();
        let ours = Namespace::current(kind).unwrap();
        g.bench_function(format!("palisade/{kind}"), |b| {
            b.iter(|| {
                theirs.enter().unwrap();
                ours.enter().unwrap();
            })
        });
        let (t, o, flag) = (
            theirs.as_fd().as_raw_fd(),
            ours.as_fd().as_raw_fd(),
            kind.clone_flag(),
        );
        g.bench_function(format!("raw/{kind}"), |b| {
            b.iter(|| {
                // SAFETY: setns on fds we own.
                unsafe {
                    assert_eq!(libc::setns(black_box(t), flag), 0);
                    assert_eq!(libc::setns(black_box(o), flag), 0);
                }
            })
        });
    }
    g.finish();
}

/// unshare of one kind, repeated inside a forked child (each call makes a
/// fresh namespace).
fn unshare_kinds(c: &mut Criterion) {
    let mut g = c.benchmark_group("ns_unshare");
    g.sample_size(40);
    macro_rules! pair {
        ($name:literal, $kinds:expr, $flag:expr) => {{
            fn ours() {
                unshare(black_box($kinds)).unwrap()
            }
            fn raw() {
                // SAFETY: unshare with a flag mask.
                assert_eq!(unsafe { libc::unshare(black_box($flag)) }, 0)
            }
            g.bench_function(concat!("palisade/", $name), |b| {
                b.iter_custom(|iters| time_in_fork(iters, ours, raw))
            });
            g.bench_function(concat!("raw/", $name), |b| {
                b.iter_custom(|iters| time_in_fork(iters, raw, ours))
            });
        }};
    }
    pair!("uts", NsKinds::UTS, libc::CLONE_NEWUTS);
    pair!("ipc", NsKinds::IPC, libc::CLONE_NEWIPC);
    pair!("mnt", NsKinds::MNT, libc::CLONE_NEWNS);
    pair!("cgroup", NsKinds::CGROUP, libc::CLONE_NEWCGROUP);
    g.finish();
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

fn palisade_clone3_wait(kinds: NsKinds) {
    let clone = Clone3::new().namespaces(kinds).pidfd(true);
    // SAFETY: the child only _exits.
    match unsafe { clone.spawn() }.unwrap() {
        CloneResult::Child => unsafe { libc::_exit(0) },
        CloneResult::Parent(child) => {
            assert!(child.pidfd.unwrap().wait().unwrap().success());
        }
    }
}

fn raw_clone3_wait(kinds: NsKinds) {
    let mut pidfd: i32 = -1;
    let args = CloneArgs {
        flags: kinds.bits() as u64 | 0x1000,
        pidfd: &raw mut pidfd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: a fork-like clone3; the child only _exits.
    let pid = unsafe { libc::syscall(libc::SYS_clone3, &raw const args, size_of::<CloneArgs>()) };
    if pid == 0 {
        unsafe { libc::_exit(0) };
    }
    assert!(pid > 0);
    // SAFETY: waitid on our pidfd, then close it.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        assert_eq!(
            libc::waitid(libc::P_PIDFD, pidfd as u32, &mut info, libc::WEXITED),
            0
        );
        libc::close(pidfd);
    }
}

/// clone3 with new namespaces and a pidfd, then reap. Process creation and
/// namespace teardown vary a lot from one run to the next on a VM, so the
/// two contenders are interleaved: each timed call follows an untimed call
/// of the other.
fn clone3(c: &mut Criterion) {
    let kinds = NsKinds::UTS | NsKinds::IPC | NsKinds::PID | NsKinds::CGROUP | NsKinds::MNT;
    let mut g = c.benchmark_group("ns_clone3");
    g.sample_size(60);
    let interleaved = |timed: fn(NsKinds), other: fn(NsKinds)| {
        move |iters: u64| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                other(kinds);
                let start = Instant::now();
                timed(kinds);
                total += start.elapsed();
            }
            total
        }
    };
    g.bench_function("palisade/clone3_wait", |b| {
        b.iter_custom(interleaved(palisade_clone3_wait, raw_clone3_wait))
    });
    g.bench_function("raw/clone3_wait", |b| {
        b.iter_custom(interleaved(raw_clone3_wait, palisade_clone3_wait))
    });
    g.finish();
}

/// Joining net+uts+ipc of a target: one setns(pidfd) vs three setns(nsfd),
/// then back, on the bench thread.
fn join_many(c: &mut Criterion) {
    let target = Target::new(libc::CLONE_NEWNET | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC);
    let kinds = NsKinds::NET | NsKinds::UTS | NsKinds::IPC;
    let ours: Vec<Namespace> = kinds
        .kinds()
        .map(|k| Namespace::current(k).unwrap())
        .collect();
    let theirs: Vec<Namespace> = kinds
        .kinds()
        .map(|k| target.0.namespace(k).unwrap())
        .collect();
    let back = |ours: &[Namespace]| ours.iter().for_each(|n| n.enter().unwrap());
    let mut g = c.benchmark_group("ns_join");
    g.bench_function("palisade/pidfd_join_3", |b| {
        b.iter(|| {
            join(&target.0, black_box(kinds)).unwrap();
            back(&ours);
        })
    });
    g.bench_function("raw/per_kind_join_3", |b| {
        b.iter(|| {
            for n in &theirs {
                // SAFETY: setns on fds we own.
                unsafe { assert_eq!(libc::setns(n.as_fd().as_raw_fd(), n.kind().clone_flag()), 0) };
            }
            back(&ours);
        })
    });
    g.finish();
}

fn all(c: &mut Criterion) {
    if !is_root() {
        eprintln!("palisade-ns benches need root; skipped");
        return;
    }
    setns(c);
    unshare_kinds(c);
    clone3(c);
    join_many(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = all
}
criterion_main!(benches);
