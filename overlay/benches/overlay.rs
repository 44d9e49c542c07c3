//! Overlay mount + unmount through palisade beside the same syscalls made
//! by hand: mount(2) with a prebuilt option string, and the new mount API
//! with one `lowerdir+` per layer. Needs root.

use std::ffi::CString;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_overlay::{Overlay, Strategy};
use palisade_testkit::raw::{c_paths, overlay_layers, overlay_mount2, overlay_new_api};
use palisade_testkit::{TempDir, time_paired};

fn bench(c: &mut Criterion) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("palisade-overlay benches need root; skipped");
        return;
    }
    let tmp = TempDir::new("ovlbench");
    let merged = tmp.path().join("merged");
    std::fs::create_dir_all(&merged).unwrap();
    let target = CString::new(merged.to_str().unwrap()).unwrap();
    let mut g = c.benchmark_group("overlay_mount");
    for n in [2usize, 16, 128, 500] {
        let lowers = overlay_layers(&tmp, n);
        let overlay = Overlay::builder().lowers(&lowers).build().unwrap();
        let c_lowers = c_paths(&lowers);
        // Each contender is timed right after an untimed run of the other
        // (time_paired), so both see the same kernel state.
        let ours_new = || {
            overlay
                .mount_with(black_box(&merged), Strategy::NewApi)
                .unwrap()
                .unmount()
                .unwrap()
        };
        let raw_new = || overlay_new_api(black_box(&c_lowers), &target);
        g.bench_function(format!("palisade/new_api_{n}"), |b| {
            b.iter_custom(|iters| time_paired(iters, ours_new, raw_new))
        });
        g.bench_function(format!("raw/new_api_{n}"), |b| {
            b.iter_custom(|iters| time_paired(iters, raw_new, ours_new))
        });
        let data = overlay.legacy_options();
        if data.len() <= 4095 {
            let c_data = CString::new(data).unwrap();
            let ours_legacy = || {
                overlay
                    .mount_with(black_box(&merged), Strategy::Legacy)
                    .unwrap()
                    .unmount()
                    .unwrap()
            };
            let raw_legacy = || overlay_mount2(black_box(&c_data), &target);
            g.bench_function(format!("palisade/mount2_{n}"), |b| {
                b.iter_custom(|iters| time_paired(iters, ours_legacy, raw_legacy))
            });
            g.bench_function(format!("raw/mount2_{n}"), |b| {
                b.iter_custom(|iters| time_paired(iters, raw_legacy, ours_legacy))
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = bench
}
criterion_main!(benches);
