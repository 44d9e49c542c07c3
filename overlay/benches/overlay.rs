//! Overlay mount + unmount through palisade beside the same syscalls made
//! by hand: mount(2) with a prebuilt option string, and the new mount API
//! with one `lowerdir+` per layer. Needs root.

use std::ffi::CString;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use palisade_overlay::{Overlay, Strategy};
use palisade_testkit::{TempDir, time_paired};

fn layers(tmp: &TempDir, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let p = tmp.path().join(format!("layer-{n}-{i:03}"));
            std::fs::create_dir_all(&p).unwrap();
            p
        })
        .collect()
}

fn raw_new_api(lowers: &[CString], target: &CString) {
    // SAFETY: the new mount API on prebuilt strings; fds closed here.
    unsafe {
        let ctx = libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), 1) as i32;
        assert!(ctx >= 0);
        for l in lowers {
            let r = libc::syscall(
                libc::SYS_fsconfig,
                ctx,
                1,
                c"lowerdir+".as_ptr(),
                l.as_ptr(),
                0,
            );
            assert_eq!(r, 0);
        }
        assert_eq!(
            libc::syscall(libc::SYS_fsconfig, ctx, 6, 0usize, 0usize, 0),
            0
        );
        let mfd = libc::syscall(libc::SYS_fsmount, ctx, 1, 0) as i32;
        assert!(mfd >= 0);
        let r = libc::syscall(
            libc::SYS_move_mount,
            mfd,
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            4,
        );
        assert_eq!(r, 0);
        libc::close(mfd);
        libc::close(ctx);
        assert_eq!(libc::umount2(target.as_ptr(), 0), 0);
    }
}

fn raw_mount2(data: &CString, target: &CString) {
    // SAFETY: mount(2)/umount2 on prebuilt strings.
    unsafe {
        let r = libc::mount(
            c"overlay".as_ptr(),
            target.as_ptr(),
            c"overlay".as_ptr(),
            0,
            data.as_ptr().cast(),
        );
        assert_eq!(r, 0);
        assert_eq!(libc::umount2(target.as_ptr(), 0), 0);
    }
}

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
        let lowers = layers(&tmp, n);
        let overlay = Overlay::builder().lowers(&lowers).build().unwrap();
        let c_lowers: Vec<CString> = lowers
            .iter()
            .map(|l| CString::new(l.to_str().unwrap()).unwrap())
            .collect();
        // Each contender is timed right after an untimed run of the other
        // (time_paired), so both see the same kernel state.
        let ours_new = || {
            overlay
                .mount_with(black_box(&merged), Strategy::NewApi)
                .unwrap()
                .unmount()
                .unwrap()
        };
        let raw_new = || raw_new_api(black_box(&c_lowers), &target);
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
            let raw_legacy = || raw_mount2(black_box(&c_data), &target);
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
