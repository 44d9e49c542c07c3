//! palisade-cgroup beside the raw file operations doing the same work
//! (`palisade/X` vs `raw/X`). Needs root. Runs on whatever layout the
//! machine has (hybrid here: memory and pids are v1).

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_cgroup::{Cgroup, Controller, Hierarchy, Placement, Resources};

fn write(path: &std::path::Path, value: &str) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .unwrap();
}

/// The directories a raw implementation touches for memory + pids: the
/// controller's hierarchy for each, plus the cgroup2 tree when mounted.
fn raw_dirs(h: &Hierarchy, name: &str) -> (Vec<PathBuf>, PathBuf, PathBuf) {
    let dir_of = |c| match h.placement(c).unwrap() {
        Placement::V2(root) | Placement::V1(root) => root.join(name),
    };
    let (mem, pids) = (dir_of(Controller::Memory), dir_of(Controller::Pids));
    let mut all = vec![mem.clone(), pids.clone()];
    if let Some(u) = h.unified() {
        all.push(u.join(name));
    }
    all.sort();
    all.dedup();
    (all, mem, pids)
}

fn bench(c: &mut Criterion) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("palisade-cgroup benches need root; skipped");
        return;
    }
    let h = Hierarchy::detect().unwrap();
    let name = format!("palisade-bench-cg-{}", std::process::id());
    let resources = Resources::new().memory_max(64 << 20).pids_max(64);
    let mem_file = match h.placement(Controller::Memory).unwrap() {
        Placement::V2(_) => "memory.max",
        Placement::V1(_) => "memory.limit_in_bytes",
    };
    let mut g = c.benchmark_group("cgroup");
    g.bench_function("palisade/create_apply_delete", |b| {
        b.iter(|| {
            let cg = Cgroup::create_for_in(h.clone(), black_box(&name), &resources).unwrap();
            cg.apply(&resources).unwrap();
            cg.delete().unwrap();
        })
    });
    let (dirs, mem, pids) = raw_dirs(&h, &name);
    g.bench_function("raw/create_apply_delete", |b| {
        b.iter(|| {
            for d in &dirs {
                std::fs::create_dir(d).unwrap();
            }
            write(&mem.join(mem_file), "67108864");
            write(&pids.join("pids.max"), "64");
            for d in &dirs {
                std::fs::remove_dir(d).unwrap();
            }
        })
    });
    let cg = Cgroup::create_in(h.clone(), &name).unwrap();
    g.bench_function("palisade/apply_memory_max", |b| {
        let r = Resources::new().memory_max(64 << 20);
        b.iter(|| cg.apply(black_box(&r)).unwrap())
    });
    g.bench_function("raw/apply_memory_max", |b| {
        b.iter(|| write(&mem.join(mem_file), black_box("67108864")))
    });
    g.bench_function("palisade/stats", |b| {
        b.iter(|| black_box(cg.stats().unwrap()))
    });
    g.finish();
    cg.delete().unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
