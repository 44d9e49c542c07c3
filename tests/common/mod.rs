//! Helpers shared by the facade's integration tests.
// Each test binary uses only some of them.
#![allow(dead_code)]

use std::io::Read;

use palisade::{Container, ExitStatus, Stdio};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use palisade_testkit::{TempDir, busybox_rootfs, run, unique_name};

/// `/bin/sh -c script` in a default container on the busybox rootfs.
pub fn busybox(script: &str) -> Container {
    Container::new("/bin/sh")
        .args(["-c", script])
        .rootfs(busybox_rootfs())
}

/// Runs the container with stdout piped; returns its status and stdout.
pub fn sh(c: Container) -> (ExitStatus, String) {
    let mut child = c.stdout(Stdio::Piped).spawn().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (child.wait().unwrap(), out)
}

/// Like [`sh`], asserting that the container succeeded.
pub fn output(c: Container) -> String {
    let (status, out) = sh(c);
    assert!(status.success(), "{status}: {out}");
    out
}

/// Reads the child's piped stdout until a line `ready`; returns what came
/// before it. The pipe stays open (the child keeps running).
pub fn read_until_ready(child: &mut palisade::Child) -> String {
    let stdout = child.stdout.as_mut().expect("stdout piped");
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while !out.ends_with(b"ready\n") {
        assert_eq!(
            stdout.read(&mut byte).unwrap(),
            1,
            "stdout closed before `ready`: {}",
            String::from_utf8_lossy(&out)
        );
        out.push(byte[0]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A private copy of the busybox rootfs the test may booby-trap.
pub fn evil_rootfs(tmp: &TempDir) -> PathBuf {
    let root = tmp.path().join("root");
    run(
        "cp",
        &[
            "-a",
            &busybox_rootfs().display().to_string(),
            &root.display().to_string(),
        ],
    );
    root
}

/// Replaces `rootfs/name` (whatever is there) with a symlink to `to`.
pub fn trap(rootfs: &Path, name: &str, to: impl AsRef<Path>) {
    let p = rootfs.join(name);
    let _ = std::fs::remove_dir_all(&p);
    let _ = std::fs::remove_file(&p);
    symlink(to, p).unwrap();
}

/// `/bin/sh -c script` in a default container on `root`.
pub fn on(root: &Path, script: &str) -> Container {
    Container::new("/bin/sh").args(["-c", script]).rootfs(root)
}

/// A host path that must never be created: `/tmp/<unique>`.
pub struct HostPath(pub PathBuf);

impl HostPath {
    pub fn new(tag: &str) -> HostPath {
        HostPath(Path::new("/tmp").join(unique_name(tag)))
    }
    pub fn s(&self) -> String {
        self.0.display().to_string()
    }
    pub fn assert_absent(&self) {
        assert!(
            std::fs::symlink_metadata(&self.0).is_err(),
            "{} was created on the host",
            self.0.display()
        );
    }
}

impl Drop for HostPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes the C program `code` to `src` and compiles it into the static
/// binary `bin` (`cc -static`, so it runs in any rootfs); panics with the
/// compiler's output when that fails.
pub fn static_c(code: &str, src: &Path, bin: &Path) {
    std::fs::write(src, code).unwrap();
    let out = std::process::Command::new("cc")
        .args(["-static", "-O", "-o"])
        .arg(bin)
        .arg(src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
