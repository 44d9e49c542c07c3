//! Process attributes (issue 21): umask, oom_score_adj, typed rlimits,
//! the program found through PATH inside the rootfs, the exact
//! environment — read back from /proc/<pid> and the program's output.
//! Root, real kernel; both lanes.

mod common;

use palisade::{Child, Container, Mount, RlimitKind, Step, UnknownRlimit};
use palisade_testkit::{TempDir, busybox_rootfs, require_root};

/// `sleep 30` on the busybox rootfs, configured by `f`, running.
fn sleeper(f: impl FnOnce(Container) -> Container) -> Child {
    f(Container::new("/bin/sleep")
        .args(["30"])
        .rootfs(busybox_rootfs()))
    .spawn()
    .unwrap()
}

fn proc_file(child: &Child, name: &str) -> String {
    std::fs::read_to_string(format!("/proc/{}/{name}", child.pid())).unwrap()
}

#[test]
fn umask_and_oom_score_adj_are_the_programs() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let child = sleeper(|c| c.umask(0o027).oom_score_adj(500));
    assert!(
        proc_file(&child, "status").contains("Umask:\t0027\n"),
        "{}",
        proc_file(&child, "status")
    );
    assert_eq!(proc_file(&child, "oom_score_adj"), "500\n");
    drop(child);
    // Lowering below the caller's needs CAP_SYS_RESOURCE (done before
    // capabilities drop); without it the kernel's EACCES is named.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:\t"))
        .map(|h| u64::from_str_radix(h.trim(), 16).unwrap())
        .unwrap();
    let lower = || {
        Container::new("/bin/sleep")
            .args(["30"])
            .rootfs(busybox_rootfs())
            .oom_score_adj(-800)
            .umask(0o777)
            .spawn()
    };
    if eff & (1 << 24) /* CAP_SYS_RESOURCE */ != 0 {
        let child = lower().unwrap();
        assert_eq!(proc_file(&child, "oom_score_adj"), "-800\n");
        assert!(proc_file(&child, "status").contains("Umask:\t0777\n"));
    } else {
        let e = lower().unwrap_err();
        assert_eq!(e.step, Step::Rlimit, "{e}");
        assert_eq!(e.errno, Some(nix::errno::Errno::EACCES), "{e}");
        assert!(e.detail.contains("oom_score_adj"), "{e}");
    }
    // The shell sees the umask too.
    let out = common::output(common::busybox("umask").umask(0o002));
    assert_eq!(out.trim(), "0002");
}

#[test]
fn rlimits_by_kind_and_name_reach_the_program() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let child = sleeper(|c| {
        c.ulimit(RlimitKind::Nofile, 1000, 2000)
            .ulimit("nproc".parse().unwrap(), 77, 88)
            .ulimit("RLIMIT_CORE".parse().unwrap(), 0, 4096)
    });
    let limits = proc_file(&child, "limits");
    let row = |name: &str| -> Vec<String> {
        let line = limits
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}: {limits}"));
        line[name.len()..]
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(row("Max open files")[..2], ["1000", "2000"], "{limits}");
    assert_eq!(row("Max processes")[..2], ["77", "88"], "{limits}");
    assert_eq!(row("Max core file size")[..2], ["0", "4096"], "{limits}");
    assert_eq!(RlimitKind::Nofile.to_string(), "RLIMIT_NOFILE");
    assert_eq!(
        RlimitKind::from_resource(libc::RLIMIT_NPROC),
        Some(RlimitKind::Nproc)
    );
}

#[test]
fn the_program_is_found_through_path_inside_the_rootfs() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    // Default PATH: `sh` is /bin/sh of the image; argv[0] stays `sh`.
    let out = common::output(
        Container::new("sh")
            .args(["-c", "echo $0; echo ok"])
            .rootfs(busybox_rootfs()),
    );
    assert_eq!(out, "sh\nok\n");
    // The container's PATH, in order; a relative entry is skipped.
    let child = Container::new("sleep")
        .args(["30"])
        .rootfs(busybox_rootfs())
        .env("PATH", "relative:/nonexistent:/bin")
        .spawn()
        .unwrap();
    assert_eq!(proc_file(&child, "cmdline"), "sleep\x0030\x00");
    drop(child);
    // Not found: ENOENT at Exec, naming every candidate tried.
    let e = Container::new("no-such-program")
        .rootfs(busybox_rootfs())
        .env("PATH", "/usr/bin:/bin")
        .spawn()
        .unwrap_err();
    assert_eq!(e.step, Step::Exec, "{e}");
    assert_eq!(e.errno, Some(nix::errno::Errno::ENOENT), "{e}");
    assert!(
        e.detail
            .contains("/usr/bin/no-such-program /bin/no-such-program"),
        "{e}"
    );
    // Found but not executable, and nothing else: EACCES, as execvp says.
    let tmp = TempDir::new("path");
    let file = tmp.path().join("tool");
    std::fs::write(&file, "#!/bin/sh\necho no\n").unwrap();
    let e = Container::new("tool")
        .rootfs(busybox_rootfs())
        .mount(Mount::Bind {
            source: file,
            target: "/xbin/tool".into(),
            readonly: true,
        })
        .env("PATH", "/xbin:/bin")
        .spawn()
        .unwrap_err();
    assert_eq!(e.step, Step::Exec, "{e}");
    assert_eq!(e.errno, Some(nix::errno::Errno::EACCES), "{e}");
}

#[test]
fn the_environment_is_exactly_what_was_given() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let child = sleeper(|c| c.env_clear().env("ONLY", "this"));
    assert_eq!(proc_file(&child, "environ"), "ONLY=this\x00");
    drop(child);
    // Without env_clear, the defaults and nothing of the caller's but TERM.
    let child = sleeper(|c| c.env("X", "1"));
    let env = proc_file(&child, "environ");
    let mut names: Vec<&str> = env
        .split('\0')
        .filter(|v| !v.is_empty())
        .map(|v| v.split('=').next().unwrap())
        .filter(|n| *n != "TERM")
        .collect();
    names.sort();
    assert_eq!(names, ["HOME", "PATH", "X"], "{env:?}");
}

#[test]
fn bad_attributes_are_refused_before_anything_is_created() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    assert_eq!(
        "files".parse::<RlimitKind>(),
        Err(UnknownRlimit("files".into()))
    );
    let invalid = |c: Container, needle: &str| {
        let e = c.spawn().unwrap_err();
        assert_eq!(e.step, Step::Validate, "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    };
    let c = || common::busybox("true");
    invalid(c().umask(0o1000), "umask 0o1000");
    invalid(c().oom_score_adj(1001), "oom_score_adj 1001");
    invalid(c().oom_score_adj(-1001), "oom_score_adj -1001");
    invalid(
        c().ulimit(RlimitKind::Nofile, 10, 5),
        "RLIMIT_NOFILE: soft limit 10 is above the hard limit 5",
    );
    invalid(c().rlimit(99, 1, 1), "rlimit resource 99");
    invalid(Container::new("bin/sh"), "program");
}

/// The session keyring id of the calling process (keyrings(7)).
fn session_keyring_id_here() -> i64 {
    // SAFETY: KEYCTL_GET_KEYRING_ID takes two integers.
    unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            0,  /* GET_KEYRING_ID */
            -3, /* SESSION */
            1,
        )
    }
}

#[test]
fn the_program_gets_a_new_session_keyring_unless_asked_not_to() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let tmp = TempDir::new("keyring");
    let src = tmp.path().join("keyid.c");
    let bin = tmp.path().join("keyid");
    common::static_c(
        "#include <stdio.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n\
         int main(void) { printf(\"%ld\\n\", syscall(SYS_keyctl, 0, -3, 0)); return 0; }\n",
        &src,
        &bin,
    );
    let host = session_keyring_id_here();
    assert!(host > 0, "the test process has a session keyring");
    // Docker's seccomp profile refuses keyctl: the probe runs unconfined.
    let run = |join: bool| -> i64 {
        common::output(
            Container::new("/keyid")
                .rootfs(busybox_rootfs())
                .mount(Mount::Bind {
                    source: bin.clone(),
                    target: "/keyid".into(),
                    readonly: true,
                })
                .seccomp(palisade::Seccomp::Unconfined)
                .session_keyring(join),
        )
        .trim()
        .parse()
        .unwrap()
    };
    // Each container gets a keyring of its own; without the switch the
    // keyring is the spawning thread's, the same every time. (Session
    // keyrings live in per-thread credentials: the spawner thread's may
    // not be this test thread's, so `host` is only a sanity check.)
    let (a, b) = (run(true), run(true));
    let (c, d) = (run(false), run(false));
    assert!(a > 0 && b > 0 && a != b, "new keyrings {a} {b}");
    assert_eq!(c, d, "session_keyring(false) keeps the caller's");
    assert!(c != a && c != b, "{c} vs {a} {b}");
    let _ = host;
}

#[test]
fn personality_linux32_gives_a_32_bit_uname() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    if std::env::consts::ARCH != "x86_64" {
        return; // the 32-bit name asserted below is x86's
    }
    let child = sleeper(|c| c.personality(palisade::Personality::Linux32));
    assert_eq!(proc_file(&child, "personality"), "00000008\n");
    drop(child);
    let out =
        common::output(common::busybox("uname -m").personality(palisade::Personality::Linux32));
    assert_eq!(out.trim(), "i686");
    let out = common::output(common::busybox("uname -m"));
    assert_eq!(out.trim(), "x86_64", "not by default");
}

#[test]
fn supplementary_groups_read_back_from_status() {
    let Some(_root) = require_root("creates containers") else {
        return;
    };
    let child = sleeper(|c| c.user(1000, 1000).groups(&[5, 20, 1000]));
    let status = proc_file(&child, "status");
    let line = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(line("Uid:"), ["1000"; 4], "{status}");
    assert_eq!(line("Groups:"), ["5", "20", "1000"], "{status}");
}
