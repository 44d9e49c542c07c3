//! The container's terminal (issue 21): a pty from the container's own
//! devpts, made the program's controlling terminal, its master handed to
//! the caller or to an OCI console socket. Root, real kernel; both lanes.

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use palisade::{Child, Container, Error, Stdio, Step};
use palisade_testkit::{TempDir, require_root};

fn busybox(script: &str) -> Container {
    common::busybox(script)
}

/// Reads the master until `needle` shows up (or EOF/EIO: the slave side
/// is gone); returns everything read. Fails after 10 s.
fn read_until(master: &mut File, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&out).contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} from the terminal: {:?}",
            String::from_utf8_lossy(&out)
        );
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break, // EIO: every slave fd is closed
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn master(child: &Child) -> File {
    child.pty().expect("a terminal").try_clone().unwrap()
}

#[test]
fn a_line_written_to_the_master_reaches_the_program_and_its_answer_comes_back() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let mut child = busybox("read line; echo \"got:$line:\"")
        .terminal(24, 80)
        .spawn()
        .unwrap();
    let mut pty = master(&child);
    pty.write_all(b"hello pty\n").unwrap();
    let out = read_until(&mut pty, "got:hello pty:");
    assert!(out.contains("got:hello pty:"), "{out:?}");
    // The terminal echoes what was typed (ECHO on, as for a login).
    assert!(out.starts_with("hello pty"), "{out:?}");
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_program_has_the_pty_as_its_controlling_terminal_and_console() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    // tty names the slave; /dev/tty opens only with a controlling
    // terminal; /dev/console is the slave (same device and inode); the
    // session is the program's own (sid = pid), and the master is not in
    // the program's fd table.
    let mut child = busybox(
        "tty; echo ctty-ok > /dev/tty; [ /dev/console -ef /dev/pts/0 ] && echo console-ok; \
         set -- $(cat /proc/$$/stat); [ \"$6\" = \"$$\" ] && echo session-ok; \
         ls /proc/$$/fd | tr '\\n' ' '; echo; \
         for f in /proc/$$/fd/*; do readlink $f; done | sort -u | tr '\\n' ' '; echo done",
    )
    .terminal(24, 80)
    .spawn()
    .unwrap();
    let mut pty = master(&child);
    let out = read_until(&mut pty, "done");
    assert!(child.wait().unwrap().success(), "{out}");
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    assert_eq!(lines[0], "/dev/pts/0", "{out}");
    for want in ["ctty-ok", "console-ok", "session-ok"] {
        assert!(lines.contains(&want), "{want} missing: {out}");
    }
    // sh's fds: 0 1 2 and its own script-reading fds at most, all the pty.
    let targets = lines
        .iter()
        .find(|l| l.ends_with("done"))
        .unwrap()
        .trim_end_matches("done");
    assert_eq!(targets.trim(), "/dev/pts/0", "{out}");
}

#[test]
fn the_window_size_is_set_at_start_and_resize_reaches_stty() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let mut child = busybox("stty size; echo first; read x; stty size; echo second")
        .terminal(24, 80)
        .spawn()
        .unwrap();
    let mut pty = master(&child);
    let out = read_until(&mut pty, "first");
    assert!(out.contains("24 80"), "{out:?}");
    child.resize(50, 132).unwrap();
    pty.write_all(b"\n").unwrap();
    let out = read_until(&mut pty, "second");
    assert!(out.contains("50 132"), "{out:?}");
    assert!(child.wait().unwrap().success());
    // No terminal: resize names it.
    let plain = busybox("true").spawn().unwrap();
    assert!(matches!(plain.resize(1, 1), Err(Error::NoTerminal)));
}

/// Receives one fd and its payload the way conmon reads runc's message.
fn recv_fd(sock: &OwnedFd) -> (OwnedFd, String) {
    let mut data = [0u8; 256];
    let mut cbuf = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: recvmsg into stack buffers, then reading the one cmsg.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf);
        let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
        assert!(n > 0, "recvmsg: {}", std::io::Error::last_os_error());
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        assert!(!cmsg.is_null(), "no control message");
        assert_eq!((*cmsg).cmsg_type, libc::SCM_RIGHTS);
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>());
        (
            OwnedFd::from_raw_fd(fd),
            String::from_utf8_lossy(&data[..n as usize]).into_owned(),
        )
    }
}

#[test]
fn the_console_socket_receives_a_working_master_in_runcs_framing() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let tmp = TempDir::new("console");
    let path = tmp.path().join("console.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let mut child = busybox("read line; echo \"console:$line:\"; tty")
        .terminal(30, 90)
        .console_socket(&path)
        .spawn()
        .unwrap();
    assert!(child.pty().is_none(), "the master went to the socket");
    let (conn, _) = listener.accept().unwrap();
    let (fd, name) = recv_fd(&OwnedFd::from(conn));
    assert_eq!(name, "/dev/pts/0");
    let mut pty = File::from(fd);
    pty.write_all(b"over the socket\n").unwrap();
    let out = read_until(&mut pty, "/dev/pts/0\r\n");
    assert!(out.contains("console:over the socket:"), "{out:?}");
    assert!(child.wait().unwrap().success());
}

#[test]
fn terminal_misuse_is_refused_before_anything_is_created() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let invalid = |c: Container, needle: &str| {
        let e = c.spawn().unwrap_err();
        assert_eq!(e.step, Step::Validate, "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    };
    invalid(
        Container::new("/bin/true").terminal(24, 80),
        "needs a rootfs",
    );
    invalid(
        busybox("true").dev(false).terminal(24, 80),
        "needs a rootfs",
    );
    invalid(
        busybox("true").terminal(24, 80).stdout(Stdio::Piped),
        "stream 1",
    );
    invalid(
        busybox("true").console_socket("/x.sock"),
        "needs terminal()",
    );
    // A console socket nobody listens on: named with its errno.
    let tmp = TempDir::new("console");
    let missing = tmp.path().join("nobody.sock");
    let e = busybox("true")
        .terminal(24, 80)
        .console_socket(&missing)
        .spawn()
        .unwrap_err();
    assert_eq!(e.step, Step::Prepare, "{e}");
    assert_eq!(e.errno, Some(nix::errno::Errno::ENOENT), "{e}");
    assert!(e.to_string().contains("nobody.sock"), "{e}");
}

#[test]
fn the_terminal_works_under_init_and_in_a_user_namespace() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let script = "tty; echo ctty > /dev/tty && echo ctty-ok; read l; echo \"in:$l:\"";
    type Configure = fn(Container) -> Container;
    let configs: [(&str, Configure); 2] = [
        ("init", |c| c.init(true)),
        ("userns", |c| {
            c.user_namespace(
                palisade::IdMaps::single(0, 100_000),
                palisade::IdMaps::single(0, 100_000),
            )
        }),
    ];
    for (name, f) in configs {
        let mut child = f(busybox(script)).terminal(24, 80).spawn().unwrap();
        let mut pty = master(&child);
        let out = read_until(&mut pty, "ctty-ok");
        assert!(out.starts_with("/dev/pts/0"), "{name}: {out:?}");
        pty.write_all(b"typed\n").unwrap();
        let out = read_until(&mut pty, "in:typed:");
        assert!(out.contains("in:typed:"), "{name}: {out:?}");
        assert!(child.wait().unwrap().success(), "{name}");
    }
}

#[test]
fn exec_gets_a_terminal_of_the_containers_devpts() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let container = busybox("sleep 30").spawn().unwrap();
    let mut exec = container
        .exec(
            palisade::Exec::new("/bin/sh")
                .args([
                    "-c",
                    "tty; echo ctty > /dev/tty && echo ctty-ok; read l; echo \"in:$l:\"",
                ])
                .terminal(24, 80),
        )
        .unwrap();
    let mut pty = master(&exec);
    let out = read_until(&mut pty, "ctty-ok");
    assert!(out.starts_with("/dev/pts/"), "{out:?}");
    pty.write_all(b"exec\n").unwrap();
    let out = read_until(&mut pty, "in:exec:");
    assert!(out.contains("in:exec:"), "{out:?}");
    assert!(exec.wait().unwrap().success());
    // The pty is the container's: its master lives on the container's
    // devpts instance, not the host's.
    use std::os::unix::fs::MetadataExt;
    let host_devpts = std::fs::metadata("/dev/pts/ptmx").unwrap().dev();
    assert_ne!(pty.metadata().unwrap().dev(), host_devpts);
    drop(container);
}

#[test]
fn a_created_container_has_its_terminal_before_start() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let created = busybox("echo started; tty")
        .terminal(24, 80)
        .create()
        .unwrap();
    let mut child = created.start().unwrap();
    let mut pty = master(&child);
    let out = read_until(&mut pty, "/dev/pts/0");
    assert!(out.starts_with("started"), "{out:?}");
    assert!(child.wait().unwrap().success());
}
