//! Mounts as the OCI runtime spec describes them (issue 21): any
//! filesystem with data options, bind and rbind, every flag, `rro`,
//! propagation, a read-only root — read back from the container's own
//! /proc/self/mountinfo. Root, real kernel; both lanes.

mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use palisade::{Container, Mount, MountOptionError, MountOptions, Propagation, Step};
use palisade_testkit::{TempDir, require_root};

/// One line of mountinfo (proc(5)).
#[derive(Debug)]
struct Info {
    options: Vec<String>,
    optional: Vec<String>,
    fstype: String,
    super_options: Vec<String>,
}

/// The last (topmost) mount at `target` in a mountinfo text.
fn info(mountinfo: &str, target: &str) -> Info {
    let line = mountinfo
        .lines()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some(target))
        .unwrap_or_else(|| panic!("no mount at {target}:\n{mountinfo}"));
    let f: Vec<&str> = line.split(' ').collect();
    let sep = f.iter().position(|x| *x == "-").unwrap();
    let list = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
    Info {
        options: list(f[5]),
        optional: f[6..sep].iter().map(|s| s.to_string()).collect(),
        fstype: f[sep + 1].to_owned(),
        super_options: list(f[sep + 3]),
    }
}

fn has(v: &[String], s: &str) -> bool {
    v.iter().any(|x| x == s)
}

/// A tmpfs the test mounts on the host under its own temp dir, unmounted
/// on drop (even on failure).
struct HostTmpfs(PathBuf);

impl HostTmpfs {
    fn new(at: &Path) -> HostTmpfs {
        std::fs::create_dir_all(at).unwrap();
        let p = CString::new(at.as_os_str().as_bytes()).unwrap();
        // SAFETY: mounting a fresh tmpfs on our own directory.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                p.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                c"size=1m".as_ptr().cast(),
            )
        };
        assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
        HostTmpfs(at.to_owned())
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let p = CString::new(self.0.as_os_str().as_bytes()).unwrap();
        // SAFETY: unmounting what new() mounted.
        unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
    }
}

#[test]
fn filesystems_with_flags_and_data_options_read_back_from_mountinfo() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let m = |t: &str, target: &str, o: &[&str]| Mount::oci(t, t, target, o).unwrap();
    let out = common::output(
        common::busybox("cat /proc/self/mountinfo")
            .mount(m(
                "tmpfs",
                "/t1",
                &[
                    "nosuid", "nodev", "noexec", "noatime", "size=1m", "mode=700",
                ],
            ))
            .mount(m(
                "tmpfs",
                "/t2",
                &["ro", "sync", "dirsync", "nodiratime", "unbindable"],
            ))
            .mount(m("tmpfs", "/t3", &["shared"]))
            .mount(m("mqueue", "/mq", &["nosuid", "nodev", "noexec"]))
            .mount(m(
                "proc",
                "/proc2",
                &["nosuid", "nodev", "noexec", "hidepid=2"],
            )),
    );
    let t1 = info(&out, "/t1");
    for f in ["rw", "nosuid", "nodev", "noexec", "noatime"] {
        assert!(has(&t1.options, f), "/t1 {f}: {t1:?}");
    }
    assert!(has(&t1.super_options, "size=1024k"), "{t1:?}");
    assert!(has(&t1.super_options, "mode=700"), "{t1:?}");
    let t2 = info(&out, "/t2");
    assert!(
        has(&t2.options, "ro") && has(&t2.options, "nodiratime"),
        "{t2:?}"
    );
    assert!(
        has(&t2.super_options, "sync") && has(&t2.super_options, "dirsync"),
        "{t2:?}"
    );
    assert_eq!(t2.optional, ["unbindable"], "{t2:?}");
    let t3 = info(&out, "/t3");
    assert!(
        t3.optional.iter().any(|o| o.starts_with("shared:")),
        "{t3:?}"
    );
    assert!(t1.optional.is_empty(), "private by default: {t1:?}");
    assert_eq!(info(&out, "/mq").fstype, "mqueue");
    let p2 = info(&out, "/proc2");
    assert_eq!(p2.fstype, "proc");
    assert!(has(&p2.super_options, "hidepid=invisible"), "{p2:?}");
}

#[test]
fn rro_makes_every_submount_of_an_rbind_read_only() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let tmp = TempDir::new("rro");
    let src = tmp.path().join("src");
    let _sub = HostTmpfs::new(&src.join("sub"));
    std::fs::write(src.join("sub/file"), "x").unwrap();
    let file = tmp.path().join("single");
    std::fs::write(&file, "one file").unwrap();
    let script = "cat /proc/self/mountinfo; \
                  touch /b/sub/new 2>/dev/null && echo SUBWRITE; \
                  touch /w/sub/new && echo WWRITE; cat /f; echo";
    let out = common::output(
        common::busybox(script)
            .mount(
                Mount::oci(
                    "bind",
                    src.to_str().unwrap(),
                    "/b",
                    ["rbind", "rro", "rprivate"],
                )
                .unwrap(),
            )
            .mount(Mount::oci("bind", src.to_str().unwrap(), "/w", ["rbind"]).unwrap())
            // A file source makes a file target.
            .mount(Mount::oci("bind", file.to_str().unwrap(), "/f", ["bind", "ro"]).unwrap()),
    );
    let b = info(&out, "/b");
    let bsub = info(&out, "/b/sub");
    assert!(has(&b.options, "ro"), "{b:?}");
    assert!(has(&bsub.options, "ro"), "the submount too: {bsub:?}");
    assert!(!out.contains("SUBWRITE"), "{out}");
    // Without ro, the same bind is writable (the test can fail).
    assert!(has(&info(&out, "/w/sub").options, "rw"));
    assert!(out.contains("WWRITE"), "{out}");
    assert!(out.contains("one file"), "{out}");
    assert!(src.join("sub/new").exists(), "the write through /w landed");
}

#[test]
fn a_read_only_root_keeps_dev_proc_and_run_writable() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let out = common::output(
        common::busybox(
            "cat /proc/self/mountinfo; touch /x 2>/dev/null && echo ROOTWRITE; \
             touch /run/x /dev/shm/x && echo RUNWRITE; echo 1 > /proc/self/oom_score_adj && echo PROC",
        )
        .readonly_rootfs(true),
    );
    assert!(has(&info(&out, "/").options, "ro"), "{out}");
    assert!(has(&info(&out, "/run").options, "rw"), "{out}");
    assert!(!out.contains("ROOTWRITE"), "{out}");
    assert!(out.contains("RUNWRITE") && out.contains("PROC"), "{out}");
    // Not read-only by default (the test can fail).
    let out = common::output(common::busybox("cat /proc/self/mountinfo"));
    assert!(has(&info(&out, "/").options, "rw"), "{out}");
}

#[test]
fn bad_mount_options_are_typed_before_anything_is_created() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    assert_eq!(
        MountOptions::parse_str("tmpfs", "size=1m,sizee=2"),
        Err(MountOptionError::Unknown {
            option: "sizee=2".into(),
            fstype: "tmpfs".into()
        })
    );
    assert_eq!(
        MountOptions::parse("bind", ["rbind", "mode=755"]),
        Err(MountOptionError::Unknown {
            option: "mode=755".into(),
            fstype: "bind".into()
        })
    );
    assert_eq!(
        MountOptions::parse("none", ["rbind", "sync"]),
        Err(MountOptionError::NotForBind {
            option: "sync".into()
        })
    );
    assert!(matches!(
        MountOptions::parse_str("tmpfs", "ro,,nosuid"),
        Err(MountOptionError::Empty(_))
    ));
    let o = MountOptions::parse("bind", ["rbind", "rslave"]).unwrap();
    assert_eq!(o.propagation(), Some((Propagation::Slave, true)));
    assert_eq!(o.bind(), Some(true));
    let invalid = |m: Mount, needle: &str| {
        let e = common::busybox("true").mount(m).spawn().unwrap_err();
        assert_eq!(e.step, Step::Validate, "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    };
    let raw = |t: &str, s: &str, d: &str, o: &[&str]| Mount::Oci {
        fstype: t.into(),
        source: s.into(),
        target: d.into(),
        options: o.iter().map(|s| s.to_string()).collect(),
    };
    invalid(
        raw("tmpfs", "tmpfs", "/x", &["bogus"]),
        "unknown mount option \"bogus\"",
    );
    invalid(raw("tmpfs", "tmpfs", "x", &[]), "absolute");
    invalid(
        raw("bind", "/nonexistent/src", "/x", &["rbind"]),
        "/nonexistent/src",
    );
    invalid(
        raw("bind", "/tmp", "/x", &["rbind", "idmap"]),
        "idmap needs a new user namespace",
    );
    assert!(
        Mount::oci("tmpfs", "tmpfs", "/x", ["idmap"]).is_ok(),
        "parses; refused at spawn"
    );
    let e = common::busybox("true")
        .user_namespace(
            palisade::IdMaps::single(0, 100_000),
            palisade::IdMaps::single(0, 100_000),
        )
        .mount(raw("tmpfs", "tmpfs", "/x", &["idmap"]))
        .spawn()
        .unwrap_err();
    assert!(e.to_string().contains("needs a bind"), "{e}");
    let _ = Container::new("/bin/true");
}

#[test]
fn an_idmapped_bind_shows_on_disk_ids_as_the_containers_own() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    use std::os::unix::fs::MetadataExt;
    // The container maps its 0 to host 100000. Through an idmapped bind
    // (the container's user namespace as the mount's idmap) the on-disk
    // ids are read as the container's: the host directory owned by 0 is
    // the container root's, and what it writes lands as 0 on disk — the
    // directory is shared with correct ownership without a chown.
    let tmp = TempDir::new("idmap");
    let dir = tmp.path().join("shared");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("owned"), "x").unwrap();
    for p in [dir.clone(), dir.join("owned")] {
        std::os::unix::fs::chown(&p, Some(0), Some(0)).unwrap();
    }
    let script = "stat -c 'owned %u %g' /data/owned; echo hi > /data/new && echo WROTE; \
                  stat -c 'new %u %g' /data/new; grep ' /data ' /proc/self/mountinfo";
    // Idmapped mounts need the filesystem's support: tmpfs has it from
    // Linux 6.3 (the guest lane's /tmp is a tmpfs on 6.1).
    let probe = common::busybox("true")
        .user_namespace(
            palisade::IdMaps::single(0, 100_000),
            palisade::IdMaps::single(0, 100_000),
        )
        .mount(Mount::oci("bind", dir.to_str().unwrap(), "/data", ["rbind", "idmap"]).unwrap())
        .spawn();
    match probe {
        Err(e) if e.errno == Some(nix::errno::Errno::EINVAL) && e.to_string().contains("IDMAP") => {
            palisade_testkit::skip_absent(
                "idmapped mounts on this filesystem",
                &format!(
                    "{} is on a filesystem this kernel cannot idmap: {e}",
                    dir.display()
                ),
            );
            return;
        }
        other => {
            other.unwrap().wait().unwrap();
        }
    }
    let run = |options: &[&str]| {
        common::output(
            common::busybox(script)
                .user_namespace(
                    palisade::IdMaps::single(0, 100_000),
                    palisade::IdMaps::single(0, 100_000),
                )
                .mount(Mount::oci("bind", dir.to_str().unwrap(), "/data", options).unwrap()),
        )
    };
    let out = run(&["rbind", "idmap"]);
    assert!(out.contains("owned 0 0\n"), "{out}");
    assert!(out.contains("WROTE") && out.contains("new 0 0\n"), "{out}");
    assert!(out.contains("idmapped"), "mountinfo says so: {out}");
    let meta = std::fs::metadata(dir.join("new")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, 0), "on-disk ownership");
    // The same bind without idmap: host root is no one inside, and the
    // container's root may not write there — the test can fail.
    std::fs::remove_file(dir.join("new")).unwrap();
    let out = run(&["rbind"]);
    assert!(out.contains("owned 65534 65534\n"), "{out}");
    assert!(!out.contains("WROTE"), "{out}");
    assert!(!out.contains("idmapped"), "{out}");
}

#[test]
fn rootfs_propagation_reads_back_on_the_containers_root() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let root_of = |c: Container| info(&common::output(c), "/");
    let script = "cat /proc/self/mountinfo";
    let default = root_of(common::busybox(script));
    assert!(
        default.optional.is_empty(),
        "rprivate by default: {default:?}"
    );
    let shared = root_of(common::busybox(script).rootfs_propagation(Propagation::Shared, true));
    assert!(
        shared.optional.iter().any(|o| o.starts_with("shared:")),
        "{shared:?}"
    );
    let e = Container::new("/bin/true")
        .namespaces(palisade::NsKinds::PID)
        .rootfs_propagation(Propagation::Slave, true)
        .spawn()
        .unwrap_err();
    assert_eq!(e.step, Step::Validate, "{e}");
}
