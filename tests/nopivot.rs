//! `Container::no_pivot`: the root entered by `MS_MOVE` onto `/` and
//! `chroot(".")` instead of `pivot_root` (runc's `--no-pivot`, for
//! initramfs roots). Read back from the container's own mountinfo, its
//! `ls /`, `..` walks, and — once the container unmounts its `/` — from what
//! is left beneath in its mount namespace. Root, real kernel; both lanes.

mod common;

use std::os::fd::AsRawFd;

use common::*;
use palisade::{Stdio, Step};
use palisade_caps::CapSet;
use palisade_testkit::{TempDir, fork_run, require_root};

/// The names in a directory listing, sorted.
fn names(listing: &str) -> Vec<String> {
    let mut v: Vec<String> = listing.split_whitespace().map(str::to_owned).collect();
    v.sort();
    v
}

#[test]
fn no_pivot_root_is_the_image_and_the_host_stays_out_of_reach() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let tmp = TempDir::new("nopivot");
    let root = evil_rootfs(&tmp);
    // A host file a path escape would find: /tmp/<unique> on the host.
    let marker = HostPath::new("nopivot-marker");
    std::fs::write(&marker.0, "host").unwrap();
    let name = marker.0.file_name().unwrap().to_str().unwrap().to_owned();
    let script = format!(
        "awk '$5 == \"/\" {{ print \"root-mount\", $4 }}' /proc/self/mountinfo; \
         echo ls: $(ls -a /); \
         cd /; cd ..; cd ../..; echo dotdot: $(pwd) $(ls -a); \
         echo up: $(ls -a /../../..); \
         for p in /tmp/{name} /../tmp/{name} /../../../tmp/{name} /proc/1/root/tmp/{name}; do \
           test -e $p && echo FOUND $p; done; \
         echo done"
    );
    let (status, out) = sh(on(&root, &script).no_pivot(true));
    assert!(status.success(), "{status}: {out}");
    // The rootfs is `/`: one mount there, whose root is the image's directory.
    let root_mounts: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("root-mount"))
        .collect();
    assert!(
        !root_mounts.is_empty(),
        "no mount at / in mountinfo:\n{out}"
    );
    let host_root = root.display().to_string();
    assert!(
        root_mounts
            .iter()
            .any(|l| host_root.ends_with(l.trim_start_matches("root-mount ").trim())),
        "the mount at / is not the rootfs {host_root}:\n{out}"
    );
    // `ls /` is the image (read after the run: mountpoints it made count).
    let mut image: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    image.extend([".".to_owned(), "..".to_owned()]);
    image.sort();
    let field = |tag: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(tag))
            .unwrap_or_else(|| panic!("no {tag} in:\n{out}"))
            .to_owned()
    };
    assert_eq!(names(&field("ls:")), image, "{out}");
    // `..` from / stays at /.
    let dotdot = field("dotdot:");
    let (pwd, rest) = dotdot.trim().split_once(' ').unwrap();
    assert_eq!(pwd, "/", "{out}");
    assert_eq!(names(rest), image, "{out}");
    assert_eq!(names(&field("up:")), image, "{out}");
    assert!(!out.contains("FOUND"), "a host file was reached:\n{out}");
    assert!(out.ends_with("done\n"), "{out}");
    // The container's mounts went with its namespace.
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host.contains(&host_root),
        "mounts of {host_root} left on the host:\n{host}"
    );
}

/// The classic chroot escape (CAP_SYS_CHROOT, Docker's default set):
/// chroot into a subdirectory while the cwd stays outside it, then `..`
/// up and chroot there. At the top of a moved root `..` stays put.
#[test]
fn a_chroot_escape_stays_inside_a_moved_root() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let tmp = TempDir::new("nopivot-chroot");
    let root = evil_rootfs(&tmp);
    let src = tmp.path().join("escape.c");
    common::static_c(
        "#include <stdio.h>\n#include <unistd.h>\n#include <dirent.h>\n#include <sys/stat.h>\n\
         int main(void) {\n\
           mkdir(\"/escape-jail\", 0755);\n\
           if (chroot(\"/escape-jail\") != 0) { perror(\"chroot\"); return 1; }\n\
           for (int i = 0; i < 64; i++) chdir(\"..\");\n\
           if (chroot(\".\") != 0) { perror(\"chroot .\"); return 1; }\n\
           DIR *d = opendir(\"/\"); struct dirent *e;\n\
           while ((e = readdir(d))) printf(\"%s\\n\", e->d_name);\n\
           return 0;\n\
         }\n",
        &src,
        &root.join("escape"),
    );
    let listing = output(
        palisade::Container::new("/escape")
            .rootfs(&root)
            .no_pivot(true),
    );
    let mut image: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    image.extend([".".to_owned(), "..".to_owned()]);
    image.sort();
    assert_eq!(names(&listing), image, "escaped to:\n{listing}");
}

#[test]
fn no_pivot_detaches_the_host_mounts_left_beneath() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let tmp = TempDir::new("nopivot-beneath");
    let root = evil_rootfs(&tmp);
    let marker = HostPath::new("nopivot-beneath");
    std::fs::write(&marker.0, "host").unwrap();
    // CAP_SYS_ADMIN and no filter: the container unmounts its own `/`,
    // which is what exposes the old root (the trade-off no_pivot makes).
    let admin = CapSet::docker_default()
        .tweak(&["CAP_SYS_ADMIN"], &[])
        .unwrap();
    let mut child = on(&root, "umount -l / && echo ready && exec sleep 60")
        .no_pivot(true)
        .capabilities(admin)
        .seccomp(palisade::Seccomp::Unconfined)
        .stdout(Stdio::Piped)
        .spawn()
        .unwrap();
    read_until_ready(&mut child);
    let ns = std::fs::File::open(format!("/proc/{}/ns/mnt", child.pid())).unwrap();
    let marker_path = marker.0.clone();
    let seen = fork_run(move || {
        // SAFETY: setns in the forked single-threaded child.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNS) } != 0 {
            return Err(format!("setns: {}", std::io::Error::last_os_error()));
        }
        // A mount point: a device of its own (not by filesystem type: in
        // the guest lane the host's tree is a 9p share whose /proc
        // directory reports the host's procfs).
        use std::os::unix::fs::MetadataExt;
        let dev = |p: &str| std::fs::metadata(p).map(|m| m.dev()).unwrap_or(0);
        let mounted: Vec<String> = ["/proc", "/sys", "/dev"]
            .into_iter()
            .filter(|p| dev(p) != dev("/"))
            .map(str::to_owned)
            .collect();
        Ok((marker_path.exists(), mounted))
    })
    .unwrap();
    child.kill(libc::SIGKILL).unwrap();
    let _ = child.wait();
    let (marker_seen, mounted) = seen.unwrap();
    // The old root is what is beneath (the trade-off, documented)…
    assert!(
        marker_seen,
        "the old root was expected beneath the container's /"
    );
    // …but the host's /proc, /sys and /dev were detached before the move.
    assert!(mounted.is_empty(), "host mounts still beneath: {mounted:?}");
}

#[test]
fn no_pivot_without_a_rootfs_is_refused_before_anything_starts() {
    let err = palisade::Container::new("/bin/true")
        .no_pivot(true)
        .spawn()
        .unwrap_err();
    assert_eq!(err.step, Step::Validate, "{err}");
    assert!(err.to_string().contains("no_pivot"), "{err}");
}
