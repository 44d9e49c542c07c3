//! Fds handed to the program (issue 21): `Container::pass_fd` at chosen
//! numbers (socket activation) and `Stdio::Fd` for the streams; every
//! other fd closed. Root, real kernel; both lanes.

mod common;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use palisade::{Container, Mount, Stdio, Step};
use palisade_testkit::{TempDir, require_root};

/// A static program that accepts one connection on fd 3 and answers it.
fn accept3(dir: &Path) -> PathBuf {
    let src = dir.join("accept3.c");
    let bin = dir.join("accept3");
    common::static_c(
        "#include <sys/socket.h>\n#include <unistd.h>\n\
         int main(void) { int c = accept(3, 0, 0); if (c < 0) return 2;\n\
         return write(c, \"accepted on 3\\n\", 14) == 14 ? 0 : 3; }\n",
        &src,
        &bin,
    );
    bin
}

/// `socket:[inode]` as /proc/<pid>/fd shows the socket.
fn socket_link(fd: &impl AsRawFd) -> String {
    let ino = std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .unwrap()
        .ino();
    format!("socket:[{ino}]")
}

/// The fds of `pid` as (number, link), read from the host.
fn fds_of(pid: i32) -> Vec<(i32, String)> {
    let mut fds: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let n = e.file_name().to_string_lossy().parse().unwrap();
            let link = std::fs::read_link(e.path()).unwrap();
            (n, link.to_string_lossy().into_owned())
        })
        .collect();
    fds.sort();
    fds
}

/// The process running `comm` among `pid` and its children, once it
/// runs (polled, 10 s).
fn running(pid: i32, comm: &str) -> i32 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        for p in std::iter::once(pid).chain(children.split_whitespace().map(|c| c.parse().unwrap()))
        {
            let c = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
            if c.trim_end() == comm {
                return p;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {comm} under {pid}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn a_listening_socket_passed_at_3_accepts_the_tests_connection() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let tmp = TempDir::new("passfd");
    let bin = accept3(tmp.path());
    for init in [false, true] {
        let sock = tmp.path().join(format!("listen-{init}.sock"));
        let listener = UnixListener::bind(&sock).unwrap();
        let link = socket_link(&listener);
        let null = std::fs::File::open("/dev/null").unwrap();
        let child = Container::new("/accept3")
            .rootfs(palisade_testkit::busybox_rootfs())
            .mount(Mount::Bind {
                source: bin.clone(),
                target: "/accept3".into(),
                readonly: true,
            })
            .init(init)
            .pass_fd(OwnedFd::from(listener), 3)
            .stdin(Stdio::Fd(OwnedFd::from(null)))
            .spawn()
            .unwrap();
        // While it waits in accept(): only the streams and the passed
        // socket — nothing else of the host (the error pipe, the init
        // image) reaches the program.
        let program = running(child.pid(), "accept3");
        let fds = fds_of(program);
        let numbers: Vec<i32> = fds.iter().map(|f| f.0).collect();
        assert_eq!(numbers, [0, 1, 2, 3], "init {init}: {fds:?}");
        assert_eq!(fds[3].1, link, "init {init}");
        assert_eq!(fds[0].1, "/dev/null", "init {init}: Stdio::Fd on stdin");
        let mut conn = UnixStream::connect(&sock).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "accepted on 3\n", "init {init}");
        let mut child = child;
        assert!(child.wait().unwrap().success(), "init {init}");
    }
}

#[test]
fn fds_land_at_high_numbers_and_stdio_fd_replaces_a_stream() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let tmp = TempDir::new("passfd");
    let (a, _a_peer) = UnixStream::pair().unwrap();
    let (b, _b_peer) = UnixStream::pair().unwrap();
    let (la, lb) = (socket_link(&a), socket_link(&b));
    let log = tmp.path().join("out.log");
    let file = std::fs::File::create(&log).unwrap();
    // 40 is above the error pipe and the init image: they move above it.
    // b goes to 5, a to 40 — given in that order to check no dup clobbers.
    let mut child = Container::new("/bin/sleep")
        .args(["30"])
        .rootfs(palisade_testkit::busybox_rootfs())
        .pass_fd(OwnedFd::from(b), 5)
        .pass_fd(OwnedFd::from(a), 40)
        .stdout(Stdio::Fd(OwnedFd::from(file)))
        .spawn()
        .unwrap();
    let fds = fds_of(child.pid());
    child.kill(libc::SIGKILL).unwrap();
    child.wait().unwrap();
    let numbers: Vec<i32> = fds.iter().map(|f| f.0).collect();
    assert_eq!(numbers, [0, 1, 2, 5, 40], "{fds:?}");
    assert_eq!(fds[1].1, log.to_string_lossy(), "{fds:?}");
    assert_eq!(fds[3].1, lb);
    assert_eq!(fds[4].1, la);
    // What the program writes to a Stdio::Fd stream lands in the file;
    // Stdio::Null takes writes (it once was opened read-only).
    let file = std::fs::File::create(&log).unwrap();
    let mut child = common::busybox("echo to the file; echo to stderr >&2")
        .stdout(Stdio::Fd(OwnedFd::from(file)))
        .stderr(Stdio::Null)
        .spawn()
        .unwrap();
    let status = child.wait().unwrap();
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status}: {written}");
    assert_eq!(written, "to the file\n");
}

#[test]
fn colliding_or_reserved_numbers_are_refused_before_anything_is_created() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let fd = || OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
    let invalid = |c: Container, needle: &str| {
        let e = c.spawn().unwrap_err();
        assert_eq!(e.step, Step::Validate, "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    };
    invalid(
        common::busybox("true").pass_fd(fd(), 4).pass_fd(fd(), 4),
        "number 4 is passed twice",
    );
    invalid(
        common::busybox("true").pass_fd(fd(), 1),
        "numbers start at 3",
    );
    invalid(
        common::busybox("true").pass_fd(fd(), -1),
        "numbers start at 3",
    );
    invalid(
        common::busybox("true").pass_fd(fd(), i32::MAX),
        "beyond the fd limit",
    );
}
