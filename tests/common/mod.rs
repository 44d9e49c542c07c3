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
