//! Raw system-call sequences that benchmarks time beside palisade's
//! wrappers: the same work written directly against `libc`, with strings
//! prepared up front, so a ratio shows only the wrapper's own cost.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use crate::TempDir;

/// `n` empty directories under `tmp`, to serve as overlay lower layers.
pub fn overlay_layers(tmp: &TempDir, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let p = tmp.path().join(format!("layer-{n}-{i:03}"));
            std::fs::create_dir_all(&p).unwrap();
            p
        })
        .collect()
}

/// The C strings of `paths`.
pub fn c_paths(paths: &[PathBuf]) -> Vec<CString> {
    paths.iter().map(|p| c_path(p)).collect()
}

/// The C string of `path`.
pub fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_encoded_bytes()).unwrap()
}

/// Mounts an overlay of `lowers` on `target` with the new mount API (one
/// `lowerdir+` per layer), then unmounts it. Panics on failure.
pub fn overlay_new_api(lowers: &[CString], target: &CString) {
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

/// Mounts an overlay with `mount(2)` and a prebuilt option string, then
/// unmounts it. Panics on failure.
pub fn overlay_mount2(data: &CString, target: &CString) {
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
