//! palisade-overlay against the real kernel (root): mounts are read back
//! from /proc/self/mountinfo and through the merged directory.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use palisade_overlay::{
    ChangeKind, Error, Options, Overlay, RedirectDir, Strategy, changes, move_mount,
};
use palisade_testkit::{TempDir, require_root};

fn mounted_at(target: &Path) -> bool {
    let t = target.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(t) && l.contains(" - overlay "))
}

struct Layers {
    _tmp: TempDir,
    lowers: Vec<PathBuf>,
    upper: PathBuf,
    work: PathBuf,
    merged: PathBuf,
}

fn layers(names: &[&str]) -> Layers {
    let tmp = TempDir::new("ovl");
    let mk = |n: &str| {
        let p = tmp.path().join(n);
        std::fs::create_dir_all(&p).unwrap();
        p
    };
    let lowers = names.iter().map(|n| mk(n)).collect();
    Layers {
        lowers,
        upper: mk("upper"),
        work: mk("work"),
        merged: mk("merged"),
        _tmp: tmp,
    }
}

/// Runs `f` in a forked child inside a private mount namespace, so no mount
/// a test makes can reach the host's mount table, even if it fails.
fn private_ns(f: impl FnOnce()) {
    palisade_testkit::fork_run(|| {
        // SAFETY: unshare and a propagation change in the forked child.
        unsafe {
            assert_eq!(libc::unshare(libc::CLONE_NEWNS), 0);
            let r = libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            );
            assert_eq!(r, 0);
        }
        f();
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn rules_are_checked_before_any_syscall() {
    let l = layers(&["l1", "l2"]);
    let b = || Overlay::builder();
    assert!(matches!(
        b().lower(&l.lowers[0]).build(),
        Err(Error::TooFewLowers { count: 1 })
    ));
    assert!(matches!(
        b().lower(&l.lowers[0]).lower(&l.lowers[0]).build(),
        Err(Error::DuplicateLower { .. })
    ));
    assert!(matches!(
        b().lower(&l.lowers[0]).upper(&l.upper).build(),
        Err(Error::UpperWithoutWork { given: "upper" })
    ));
    let many: Vec<PathBuf> = (0..501).map(|i| PathBuf::from(format!("/l{i}"))).collect();
    assert!(matches!(
        b().lowers(many).build(),
        Err(Error::TooManyLowers { count: 501, .. })
    ));
    let err = b()
        .lower("/no/such/layer")
        .lower(&l.lowers[1])
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("/no/such/layer"), "{err}");
    std::fs::write(l.work.join("junk"), "x").unwrap();
    assert!(matches!(
        b().lower(&l.lowers[0])
            .upper(&l.upper)
            .work(&l.work)
            .build(),
        Err(Error::WorkNotEmpty { .. })
    ));
    std::fs::remove_file(l.work.join("junk")).unwrap();
    // /dev/shm is tmpfs, the test dir is not: cross-device.
    let other = PathBuf::from("/dev/shm");
    if std::fs::metadata(&other).is_ok() {
        assert!(matches!(
            b().lower(&l.lowers[0]).upper(&l.upper).work(&other).build(),
            Err(Error::CrossDevice { .. }) | Err(Error::WorkNotEmpty { .. })
        ));
    }
    let conflict = |o: Options| {
        b().lowers(&l.lowers)
            .upper(&l.upper)
            .work(&l.work)
            .options(o)
            .build()
    };
    assert!(matches!(
        conflict(Options {
            metacopy: Some(true),
            redirect_dir: Some(RedirectDir::Off),
            ..Options::default()
        }),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        conflict(Options {
            metacopy: Some(true),
            userxattr: true,
            ..Options::default()
        }),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        conflict(Options {
            metacopy: Some(true),
            nfs_export: Some(true),
            ..Options::default()
        }),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        b().lowers(&l.lowers)
            .options(Options {
                volatile: true,
                ..Options::default()
            })
            .build(),
        Err(Error::Conflict(_))
    ));
}

#[test]
fn layers_merge_and_the_guard_unmounts() {
    let Some(_root) = require_root("mounts overlayfs") else {
        return;
    };
    private_ns(move || {
        let l = layers(&["top", "bottom"]);
        std::fs::write(l.lowers[1].join("shared"), "bottom").unwrap();
        std::fs::write(l.lowers[0].join("shared"), "top").unwrap();
        std::fs::write(l.lowers[1].join("only-bottom"), "b").unwrap();
        let overlay = Overlay::builder()
            .lowers(&l.lowers)
            .upper(&l.upper)
            .work(&l.work)
            .build()
            .unwrap();
        // The private mount namespace is the leak guard here: a failing
        // test cannot leave a mount on the host.
        {
            for strategy in [palisade_overlay::strategy(), Strategy::Legacy] {
                let m = overlay.mount_with(&l.merged, strategy).unwrap();
                assert!(mounted_at(&l.merged), "{strategy:?}");
                assert_eq!(
                    std::fs::read_to_string(l.merged.join("shared")).unwrap(),
                    "top"
                );
                assert!(l.merged.join("only-bottom").exists());
                std::fs::write(l.merged.join("new"), "n").unwrap();
                assert!(l.upper.join("new").exists(), "write did not reach upper");
                std::fs::remove_file(l.merged.join("new")).unwrap();
                drop(m);
                assert!(!mounted_at(&l.merged));
                let _ = std::fs::remove_file(l.upper.join("new"));
            }
        }
    });
}

#[test]
fn five_hundred_long_layers_mount_without_a_length_limit() {
    let Some(_root) = require_root("mounts overlayfs") else {
        return;
    };
    private_ns(move || {
        if palisade_overlay::strategy() != Strategy::NewApi {
            palisade_testkit::skip_absent("overlay lowerdir+", "kernel before 6.8");
            return;
        }
        let tmp = TempDir::new("many");
        let long = "x".repeat(40);
        let lowers: Vec<PathBuf> = (0..500)
            .map(|i| {
                let p = tmp.path().join(format!("{long}-{i:03}"));
                std::fs::create_dir(&p).unwrap();
                p
            })
            .collect();
        std::fs::write(lowers[499].join("deepest"), "d").unwrap();
        let merged = tmp.path().join("merged");
        std::fs::create_dir(&merged).unwrap();
        let overlay = Overlay::builder().lowers(&lowers).build().unwrap();
        assert!(
            overlay.legacy_options().len() > 4095,
            "not past mount(2)'s limit"
        );
        assert!(matches!(
            overlay.mount_with(&merged, Strategy::Legacy),
            Err(Error::OptionsTooLong { .. })
        ));
        let m = overlay.mount(&merged).unwrap();
        assert_eq!(
            std::fs::read_to_string(merged.join("deepest")).unwrap(),
            "d"
        );
        m.unmount().unwrap();
    });
}

#[test]
fn paths_with_colons_and_commas_are_escaped() {
    let Some(_root) = require_root("mounts overlayfs") else {
        return;
    };
    private_ns(move || {
        let l = layers(&["a:b,c", "d\\e"]);
        std::fs::write(l.lowers[0].join("f"), "odd").unwrap();
        let overlay = Overlay::builder().lowers(&l.lowers).build().unwrap();
        for strategy in [Strategy::Legacy, palisade_overlay::strategy()] {
            let m = overlay.mount_with(&l.merged, strategy).unwrap();
            assert_eq!(std::fs::read_to_string(l.merged.join("f")).unwrap(), "odd");
            m.unmount().unwrap();
        }
        let parsed = palisade_overlay::split_escaped(
            overlay.legacy_options().trim_start_matches("lowerdir="),
        );
        let want: Vec<String> = l
            .lowers
            .iter()
            .map(|p| p.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(parsed, want);
    });
}

#[test]
fn a_detached_mount_can_be_placed_later() {
    let Some(_root) = require_root("mounts overlayfs") else {
        return;
    };
    private_ns(move || {
        if palisade_overlay::strategy() != Strategy::NewApi {
            palisade_testkit::skip_absent("new mount API for overlay", "kernel before 6.5");
            return;
        }
        let l = layers(&["x", "y"]);
        std::fs::write(l.lowers[1].join("f"), "y").unwrap();
        let overlay = Overlay::builder().lowers(&l.lowers).build().unwrap();
        let fd = overlay.mount_detached().unwrap();
        assert!(!mounted_at(&l.merged));
        move_mount(fd.as_fd(), &l.merged).unwrap();
        assert!(mounted_at(&l.merged));
        assert_eq!(std::fs::read_to_string(l.merged.join("f")).unwrap(), "y");
        drop(fd); // the fd pins the mount: EBUSY otherwise
        nix::mount::umount(&l.merged).unwrap();
    });
}

#[test]
fn changes_match_what_the_container_did() {
    let Some(_root) = require_root("mounts overlayfs") else {
        return;
    };
    private_ns(move || {
        let l = layers(&["img"]);
        let img = &l.lowers[0];
        std::fs::write(img.join("keep"), "k").unwrap();
        std::fs::write(img.join("edit"), "1").unwrap();
        std::fs::write(img.join("gone"), "g").unwrap();
        std::fs::create_dir_all(img.join("etc/conf.d")).unwrap();
        std::fs::write(img.join("etc/conf.d/old"), "o").unwrap();
        let overlay = Overlay::builder()
            .lower(img)
            .upper(&l.upper)
            .work(&l.work)
            .build()
            .unwrap();
        let m = overlay.mount(&l.merged).unwrap();
        let mm = &l.merged;
        std::fs::write(mm.join("edit"), "2").unwrap();
        std::fs::remove_file(mm.join("gone")).unwrap();
        std::fs::write(mm.join("added"), "a").unwrap();
        std::fs::write(mm.join("etc/new.conf"), "n").unwrap();
        std::fs::remove_dir_all(mm.join("etc/conf.d")).unwrap();
        std::fs::create_dir(mm.join("etc/conf.d")).unwrap(); // opaque now
        m.unmount().unwrap();
        let got: Vec<String> = changes(&l.upper, &l.lowers)
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        for want in [
            "A /added",
            "C /edit",
            "D /gone",
            "C /etc",
            "A /etc/new.conf",
            "C /etc/conf.d",
        ] {
            assert!(got.iter().any(|g| g == want), "{want} missing from {got:?}");
        }
        assert!(!got.iter().any(|g| g.ends_with("/keep")), "{got:?}");
        let kinds = changes(&l.upper, &l.lowers).unwrap();
        assert_eq!(
            kinds
                .iter()
                .filter(|c| c.kind == ChangeKind::Deleted)
                .count(),
            1,
            "{got:?}"
        );
    });
}

#[test]
fn a_size_limited_upper_fills_up_and_goes_with_the_guard() {
    let Some(_root) = require_root("mounts tmpfs and overlayfs") else {
        return;
    };
    private_ns(move || {
        let l = layers(&["img"]);
        let overlay = Overlay::builder()
            .lower(&l.lowers[0])
            .tmpfs_upper(1 << 20)
            .build()
            .unwrap();
        // The private mount namespace is the leak guard here: a failing
        // test cannot leave a mount on the host.
        {
            let m = overlay.mount(&l.merged).unwrap();
            std::fs::write(l.merged.join("small"), vec![1u8; 64 << 10]).unwrap();
            let err = std::fs::write(l.merged.join("big"), vec![1u8; 2 << 20]).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
            m.unmount().unwrap();
            let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
            assert!(
                !mounts.contains("palisade-upper"),
                "the tmpfs upper stayed mounted"
            );
        }
        assert!(
            !l.lowers[0].join("small").exists(),
            "a write reached the lower"
        );
    });
}

#[test]
fn spaces_and_equals_signs_in_layer_paths() {
    let Some(_root) = require_root("mounts overlayfs") else {
        return;
    };
    private_ns(move || {
        let l = layers(&["with space", "key=value"]);
        std::fs::write(l.lowers[1].join("f"), "eq").unwrap();
        let overlay = Overlay::builder().lowers(&l.lowers).build().unwrap();
        for strategy in [Strategy::Legacy, Strategy::NewApi] {
            if strategy == Strategy::NewApi && palisade_overlay::strategy() != Strategy::NewApi {
                continue;
            }
            let m = overlay.mount_with(&l.merged, strategy).unwrap();
            assert_eq!(std::fs::read_to_string(l.merged.join("f")).unwrap(), "eq");
            m.unmount().unwrap();
        }
    });
}

/// A small deterministic generator (xorshift64*), so a failing name can be
/// reproduced from the seed printed with it.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A directory name of 1..=10 bytes: any byte but NUL and `/`, half of
    /// them drawn from the bytes some interface treats specially.
    fn name(&mut self) -> Vec<u8> {
        const SPECIAL: &[u8] = b"\\\\,:= \n\t\x0b\xff\x80\xa0";
        let len = 1 + (self.next() % 10) as usize;
        (0..len)
            .map(|_| {
                let r = self.next();
                let b = if r & 1 == 0 {
                    SPECIAL[(r >> 8) as usize % SPECIAL.len()]
                } else {
                    (r >> 8) as u8
                };
                if b == 0 || b == b'/' { b'\\' } else { b }
            })
            .collect()
    }
}

#[test]
fn any_layer_name_reaches_the_kernel_through_every_strategy() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let Some(_root) = require_root("mounts overlayfs") else {
        return;
    };
    private_ns(move || {
        let mut strategies = vec![Strategy::Legacy, Strategy::NewApiLowerdir];
        if palisade_overlay::strategy() == Strategy::NewApi {
            strategies.push(Strategy::NewApi);
        }
        let seed = 0x5eed_0fae_u64;
        let mut g = Gen(seed);
        let mut names: Vec<Vec<u8>> = [
            &b"u\\b"[..],
            b"\\",
            b"\\\\",
            b"a,b",
            b"a:b",
            b"a::b",
            b"with space",
            b"new\nline",
            b"k=v",
            b"\xff\xfe",
            b"\\:\\,",
            b"end\\",
        ]
        .iter()
        .map(|n| n.to_vec())
        .collect();
        names.extend((0..48).map(|_| g.name()));
        let tmp = TempDir::new("esc");
        let merged = tmp.subdir("m");
        for (i, name) in names.iter().enumerate() {
            for strategy in &strategies {
                let case = tmp.path().join(format!("{i}{strategy:?}"));
                let dir = |role: &str| {
                    let mut b = role.as_bytes().to_vec();
                    b.extend_from_slice(name);
                    let p = case.join(OsStr::from_bytes(&b));
                    std::fs::create_dir_all(&p).unwrap();
                    p
                };
                let (l1, l2, upper, work) = (dir("a"), dir("b"), dir("u"), dir("w"));
                // The names an interface would see with its escaping undone
                // once too often: a mount that picks one of them is wrong.
                let decoy = {
                    let mut b = b"u".to_vec();
                    b.extend(name.iter().filter(|&&c| c != b'\\'));
                    case.join(OsStr::from_bytes(&b))
                };
                if decoy != upper {
                    std::fs::create_dir_all(&decoy).unwrap();
                }
                std::fs::write(l1.join("one"), "1").unwrap();
                std::fs::write(l2.join("two"), "2").unwrap();
                let overlay = Overlay::builder()
                    .lower(&l1)
                    .lower(&l2)
                    .upper(&upper)
                    .work(&work)
                    .build()
                    .unwrap();
                let what = format!(
                    "name \"{}\" (seed {seed:#x}) via {strategy:?}",
                    name.escape_ascii()
                );
                let m = overlay
                    .mount_with(&merged, *strategy)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(
                    std::fs::read_to_string(merged.join("one")).unwrap(),
                    "1",
                    "{what}"
                );
                assert_eq!(
                    std::fs::read_to_string(merged.join("two")).unwrap(),
                    "2",
                    "{what}"
                );
                std::fs::write(merged.join("written"), "w").unwrap();
                m.unmount().unwrap();
                assert_eq!(
                    std::fs::read_to_string(upper.join("written")).unwrap_or_default(),
                    "w",
                    "{what}: the write missed the named upper"
                );
                assert!(!decoy.join("written").exists() || decoy == upper, "{what}");
                assert!(!l1.join("written").exists(), "{what}");
            }
        }
    });
}

#[test]
fn a_path_fsconfig_cannot_take_goes_through_mount2_or_is_named() {
    let Some(_root) = require_root("mounts overlayfs") else {
        return;
    };
    private_ns(move || {
        let tmp = TempDir::new("long");
        // Escaped, these lowers are far over fsconfig's 255 bytes as one
        // lowerdir list, and the upper over it as one value.
        let long = "\\".repeat(140);
        let l1 = tmp.subdir(&format!("a{long}"));
        let l2 = tmp.subdir(&format!("b{long}"));
        let upper = tmp.subdir(&format!("u{long}"));
        let work = tmp.subdir("w");
        let merged = tmp.subdir("m");
        std::fs::write(l2.join("f"), "deep").unwrap();
        let overlay = Overlay::builder()
            .lowers([&l1, &l2])
            .upper(&upper)
            .work(&work)
            .build()
            .unwrap();
        for strategy in [Strategy::NewApiLowerdir, Strategy::NewApi] {
            let m = overlay.mount_with(&merged, strategy).unwrap();
            assert_eq!(std::fs::read_to_string(merged.join("f")).unwrap(), "deep");
            std::fs::write(merged.join("x"), "x").unwrap();
            m.unmount().unwrap();
            assert!(upper.join("x").exists(), "{strategy:?}");
            std::fs::remove_file(upper.join("x")).unwrap();
        }
        // A detached mount has no mount(2) to fall back on: the upper is
        // named.
        match overlay.mount_detached() {
            Err(Error::BadPath { path, .. }) => assert_eq!(path, upper),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn a_stopped_upper_mounts_again_with_and_without_volatile() {
    let Some(_root) = require_root("mounts overlayfs") else {
        return;
    };
    private_ns(move || {
        let mut strategies = vec![Strategy::Legacy, Strategy::NewApiLowerdir];
        if palisade_overlay::strategy() == Strategy::NewApi {
            strategies.push(Strategy::NewApi);
        }
        for strategy in strategies {
            for (volatile, index) in [(false, None), (false, Some(true)), (true, None)] {
                let what = format!("{strategy:?} volatile={volatile} index={index:?}");
                let l = layers(&["img"]);
                std::fs::write(l.lowers[0].join("base"), "b").unwrap();
                let options = Options {
                    volatile,
                    index,
                    ..Options::default()
                };
                let builder = || {
                    Overlay::builder()
                        .lower(&l.lowers[0])
                        .upper(&l.upper)
                        .work(&l.work)
                        .options(options.clone())
                };
                let first = builder().build().unwrap();
                let m = first.mount_with(&l.merged, strategy).unwrap();
                std::fs::write(l.merged.join("run1"), "1").unwrap();
                m.unmount().unwrap();
                assert!(l.work.join("work").is_dir(), "{what}: kernel left no work/");
                let marker = l.work.join("work/incompat/volatile");
                assert_eq!(marker.exists(), volatile, "{what}");
                let restarted = if volatile {
                    // Refused by name before the kernel, and by the kernel
                    // (mapped to the same error) for an overlay built earlier.
                    match builder().build() {
                        Err(Error::VolatileMarker { path }) => assert_eq!(path, marker),
                        other => panic!("{what}: {other:?}"),
                    }
                    match first.mount_with(&l.merged, strategy) {
                        Err(Error::VolatileMarker { path }) => assert_eq!(path, marker),
                        other => panic!("{what}: {other:?}"),
                    }
                    builder().remove_volatile_marker().build().unwrap()
                } else {
                    builder().build().unwrap()
                };
                let m = restarted.mount_with(&l.merged, strategy).unwrap();
                assert_eq!(
                    std::fs::read_to_string(l.merged.join("run1")).unwrap(),
                    "1",
                    "{what}: the kept change is gone"
                );
                assert_eq!(std::fs::read_to_string(l.merged.join("base")).unwrap(), "b");
                std::fs::write(l.merged.join("run2"), "2").unwrap();
                m.unmount().unwrap();
                assert!(l.upper.join("run1").exists() && l.upper.join("run2").exists());
                assert_eq!(marker.exists(), volatile, "{what}");
                // The same built overlay restarts again (it removes the
                // marker before each mount).
                if volatile {
                    restarted
                        .mount_with(&l.merged, strategy)
                        .unwrap()
                        .unmount()
                        .unwrap();
                }
            }
        }
    });
}

#[test]
fn a_work_dir_with_foreign_files_is_refused_naming_them() {
    let l = layers(&["img"]);
    let build = || {
        Overlay::builder()
            .lower(&l.lowers[0])
            .upper(&l.upper)
            .work(&l.work)
            .remove_volatile_marker()
            .build()
    };
    let foreign = |want: PathBuf| match build() {
        Err(Error::WorkNotEmpty { path, found }) => {
            assert_eq!(path, l.work);
            assert_eq!(found, want);
        }
        other => panic!("{other:?}"),
    };
    // The kernel's own leftovers pass.
    std::fs::create_dir_all(l.work.join("work/incompat/volatile")).unwrap();
    std::fs::create_dir_all(l.work.join("index")).unwrap();
    build().unwrap();
    // Anything else does not.
    std::fs::write(l.work.join("junk"), "x").unwrap();
    foreign(l.work.join("junk"));
    std::fs::remove_file(l.work.join("junk")).unwrap();
    std::fs::remove_dir(l.work.join("index")).unwrap();
    std::fs::write(l.work.join("index"), "not a dir").unwrap();
    foreign(l.work.join("index"));
    std::fs::remove_file(l.work.join("index")).unwrap();
    std::fs::create_dir(l.work.join("work/incompat/other")).unwrap();
    foreign(l.work.join("work/incompat/other"));
}
