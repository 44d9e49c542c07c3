//! User notification on the real kernel: a forked child installs a filter
//! whose `mkdir` goes to a supervisor thread (started before the filter, so
//! unfiltered) that reads the path from /proc/<tid>/mem and answers.

mod common;
use common::install;
use palisade_seccomp::{Action, Filter, NotifyListener, Response, Rule, features};
use palisade_testkit::fork_run;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};

/// Reads a NUL-terminated string at `addr` in thread `tid`'s memory.
fn read_path(tid: u32, addr: u64) -> String {
    let mut mem = std::fs::File::open(format!("/proc/{tid}/mem")).unwrap();
    mem.seek(SeekFrom::Start(addr)).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = mem.read(&mut buf).unwrap();
    let end = buf[..n].iter().position(|b| *b == 0).unwrap_or(n);
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[test]
fn supervisor_denies_continues_and_injects_an_fd() {
    if !features().notify {
        palisade_testkit::skip_absent("seccomp user notification", "kernel before 5.0");
        return;
    }
    let dir = palisade_testkit::TempDir::new("seccomp-notify");
    let base = dir.path().to_owned();
    let injected = base.join("injected");
    std::fs::write(&injected, b"from the supervisor").unwrap();
    let f = Filter::new(Action::Allow)
        .rule(Rule::new("mkdir", Action::Notify))
        .rule(Rule::new("mkdirat", Action::Notify))
        .compile()
        .unwrap();
    assert!(f.wants_listener());
    let b = base.clone();
    let (deny, allow, fd_text, log) = fork_run(move || {
        let (tx, rx) = std::sync::mpsc::channel::<i32>();
        let inj = injected.clone();
        let supervisor = std::thread::spawn(move || {
            // SAFETY: the fd number came from install() and is owned here.
            let listener =
                NotifyListener::from(unsafe { OwnedFd::from_raw_fd(rx.recv().unwrap()) });
            let file = std::fs::File::open(&inj).unwrap();
            let mut log = Vec::new();
            for _ in 0..3 {
                let n = listener.recv().unwrap();
                // mkdir(path) or mkdirat(dirfd, path): libc uses either.
                let ptr = if n.nr == libc::SYS_mkdir as i32 {
                    n.args[0]
                } else {
                    n.args[1]
                };
                let path = read_path(n.pid, ptr);
                assert!(listener.id_valid(n.id), "pending notification not valid");
                let name = path.rsplit('/').next().unwrap().to_owned();
                match name.as_str() {
                    "deny" => listener
                        .respond(n.id, Response::Errno(libc::EPERM))
                        .unwrap(),
                    "allow" => listener.respond(n.id, Response::Continue).unwrap(),
                    _ => {
                        listener
                            .add_fd(n.id, file.as_fd(), None, true, true)
                            .unwrap();
                    }
                }
                // Answered: the id is no longer pending.
                log.push((name, listener.id_valid(n.id)));
            }
            log
        });
        tx.send(install(&f).expect("listener fd")).unwrap();
        let deny = std::fs::create_dir(b.join("deny")).map_err(|e| e.raw_os_error());
        let allow = std::fs::create_dir(b.join("allow")).map_err(|e| e.raw_os_error());
        // The supervisor answers this mkdir with an fd (ADDFD_FLAG_SEND): the
        // call returns the new fd number.
        let p = std::ffi::CString::new(b.join("fd").into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: raw mkdir with a valid path.
        let fd = unsafe { libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, p.as_ptr(), 0o755) };
        assert!(fd > 2, "mkdir answered with {fd}");
        let mut text = String::new();
        // SAFETY: the kernel installed fd in our table for us.
        let mut file = unsafe { std::fs::File::from_raw_fd(fd as i32) };
        file.read_to_string(&mut text).unwrap();
        let log = supervisor.join().unwrap();
        (deny.err().flatten(), allow.is_ok(), text, log)
    })
    .unwrap();
    assert_eq!(deny, Some(libc::EPERM));
    assert!(allow);
    assert_eq!(fd_text, "from the supervisor");
    // Read back from the kernel: only the continued mkdir made a directory.
    assert!(base.join("allow").is_dir());
    assert!(!base.join("deny").exists());
    assert!(!base.join("fd").exists());
    assert_eq!(
        log,
        [
            ("deny".to_owned(), false),
            ("allow".to_owned(), false),
            ("fd".to_owned(), false)
        ]
    );
}
