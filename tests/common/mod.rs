//! Helpers shared by the facade's integration tests.
// Each test binary uses only some of them.
#![allow(dead_code)]

use std::io::Read;

use palisade::{Container, ExitStatus, Stdio};
use palisade_testkit::busybox_rootfs;

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
