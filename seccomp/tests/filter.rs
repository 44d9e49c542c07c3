//! Compiled filters installed in forked children on the real kernel; the
//! outcome is read back from the kernel (errno of the call, /proc status).

mod common;
use common::{install, seccomp_mode, sys};
use palisade_caps::CapSet;
use palisade_seccomp::{Action, Arch, CmpOp, Condition, Error, Filter, Profile, Rule};
use palisade_testkit::{fork_run, require_root};

#[test]
fn status_shows_filter_mode_after_install() {
    let f = Filter::new(Action::Allow)
        .rule(Rule::new("acct", Action::Errno(1)))
        .compile()
        .unwrap();
    let (before, after) = fork_run(move || {
        let before = seccomp_mode();
        install(&f);
        (before, seccomp_mode())
    })
    .unwrap();
    assert_eq!(before, "0");
    assert_eq!(after, "2");
}

#[test]
fn getcwd_answered_with_the_profiles_errno() {
    let p = Profile::from_json(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":5}]}"#,
    )
    .unwrap();
    let f = p.to_filter().unwrap().compile().unwrap();
    let (control, filtered) = fork_run(move || {
        let control = std::env::current_dir().map_err(|e| e.raw_os_error());
        install(&f);
        let filtered = std::env::current_dir().map_err(|e| e.raw_os_error());
        (control.is_ok(), filtered.err().flatten())
    })
    .unwrap();
    assert!(control);
    assert_eq!(filtered, Some(libc::EIO));
}

#[test]
fn argument_conditions_select_the_action() {
    // dup(fd) fails with EBADF for a closed fd; the filter answers EACCES
    // only when arg0 == 1000 (64-bit) or its low 32 bits == 2000.
    let f = Filter::new(Action::Allow)
        .rule(Rule::new("dup", Action::Errno(libc::EACCES as u16)).arg(0, CmpOp::Eq, 1000))
        .rule(
            Rule::new("dup", Action::Errno(libc::ENOTTY as u16)).condition(Condition::new32(
                0,
                CmpOp::Eq,
                2000,
            )),
        )
        .rule(Rule::new("dup", Action::Errno(libc::EXDEV as u16)).arg(
            0,
            CmpOp::MaskedEq(0xf000),
            0x3000,
        ))
        .compile()
        .unwrap();
    let got = fork_run(move || {
        install(&f);
        [1000i64, 1001, 2000 | (1 << 32), 0x3abc, 0x4abc]
            .map(|a| sys(libc::SYS_dup, [a, 0, 0, 0]).err())
    })
    .unwrap();
    assert_eq!(
        got,
        [
            Some(libc::EACCES),
            Some(libc::EBADF),
            Some(libc::ENOTTY),
            Some(libc::EXDEV),
            Some(libc::EBADF)
        ]
    );
}

#[test]
fn docker_default_blocks_privileged_calls_with_eperm() {
    let Some(_root) = require_root("the unfiltered control calls need root to succeed") else {
        return;
    };
    let f = Profile::docker_default(&CapSet::docker_default())
        .to_filter()
        .unwrap()
        .compile()
        .unwrap();
    let calls = || {
        let c = |p: &std::ffi::CStr| p.as_ptr() as libc::c_long;
        let nowhere = c"/nonexistent-palisade";
        [
            // unshare(CLONE_NEWUTS): succeeds as root (forked child only).
            sys(libc::SYS_unshare, [libc::CLONE_NEWUTS as _, 0, 0, 0]).err(),
            // mount onto a missing path: ENOENT as root.
            sys(libc::SYS_mount, [c(c"none"), c(nowhere), c(c"tmpfs"), 0]).err(),
            sys(libc::SYS_swapoff, [c(nowhere), 0, 0, 0]).err(),
            // reboot with a wrong magic: EINVAL as root, before any effect.
            sys(libc::SYS_reboot, [0, 0, 0, 0]).err(),
        ]
    };
    let (control, filtered, ordinary) = fork_run(move || {
        let control = calls();
        install(&f);
        let filtered = calls();
        // Ordinary work still runs under the profile.
        let dir = std::env::temp_dir().join(format!("palisade-seccomp-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("f"), b"x").unwrap();
        let ok = std::fs::read(dir.join("f")).unwrap() == b"x";
        std::fs::remove_dir_all(&dir).unwrap();
        (
            control,
            filtered,
            ok && sys(libc::SYS_getppid, [0; 4]).is_ok(),
        )
    })
    .unwrap();
    assert_eq!(
        control,
        [
            None,
            Some(libc::ENOENT),
            Some(libc::ENOENT),
            Some(libc::EINVAL)
        ]
    );
    assert_eq!(filtered, [Some(libc::EPERM); 4]);
    assert!(ordinary);
}

#[test]
fn calls_newer_than_the_profile_get_enosys() {
    let profile = Profile::docker_default(&CapSet::docker_default());
    let f = profile.to_filter().unwrap().compile().unwrap();
    let mut no_stub = profile.to_filter().unwrap();
    no_stub.enosys_for_newer = false;
    let no_stub = no_stub.compile().unwrap();
    // 452 = fchmodat2 (Linux 6.6, asm-generic numbering), newer than Docker's
    // profile here; 1000 is no system call at all; kexec_load is known to
    // the profile and denied by its default action.
    let probe = || {
        [
            sys(452, [libc::AT_FDCWD as _, c"/".as_ptr() as _, 0o755, 0]).err(),
            sys(1000, [0; 4]).err(),
            sys(libc::SYS_kexec_load, [0; 4]).err(),
        ]
    };
    let with = fork_run(move || {
        install(&f);
        probe()
    })
    .unwrap();
    let without = fork_run(move || {
        install(&no_stub);
        probe()
    })
    .unwrap();
    assert_eq!(
        with,
        [Some(libc::ENOSYS), Some(libc::ENOSYS), Some(libc::EPERM)]
    );
    assert_eq!(without, [Some(libc::EPERM); 3]);
}

#[cfg(target_arch = "x86_64")]
mod i386 {
    use super::*;

    /// An i386 system call through `int 0x80` from this 64-bit process.
    fn int80(nr: i32, a: u32) -> i32 {
        let ret: i32;
        // SAFETY: the compat entry clobbers only eax; rbx is swapped by hand
        // because LLVM reserves it.
        unsafe {
            std::arch::asm!(
                "xchg {a:e}, ebx",
                "int 0x80",
                "xchg {a:e}, ebx",
                a = inout(reg) a => _,
                inlateout("eax") nr => ret,
                in("ecx") 0, in("edx") 0,
            );
        }
        ret
    }

    #[test]
    fn i386_calls_are_filtered_by_their_own_table() {
        // getpid is 20 on i386 (39 on x86_64); reboot is 88; chown32 (212)
        // exists on i386 only.
        let has_ia32 = fork_run(|| int80(20, 0) == std::process::id() as i32).unwrap_or(false);
        if !has_ia32 {
            palisade_testkit::skip_absent("IA32 emulation", "int 0x80 does not reach the kernel");
            return;
        }
        let docker = Profile::docker_default(&CapSet::docker_default())
            .to_filter()
            .unwrap()
            .compile()
            .unwrap();
        let got = fork_run(move || {
            install(&docker);
            (
                int80(20, 0) == std::process::id() as i32,
                int80(88, 0),
                int80(1000, 0),
            )
        })
        .unwrap();
        assert_eq!(got, (true, -libc::EPERM, -libc::ENOSYS));

        // A rule naming getpid hits the i386 number, not the x86_64 one.
        let f = Filter::new(Action::Allow)
            .architectures(&[Arch::X86_64, Arch::X86])
            .rule(Rule::new("getpid", Action::Errno(libc::EROFS as u16)))
            .rule(Rule::new("chown32", Action::Errno(libc::EXDEV as u16)))
            .compile()
            .unwrap();
        let got = fork_run(move || {
            install(&f);
            (
                int80(20, 0),
                int80(212, 0),
                sys(libc::SYS_getpid, [0; 4]).err(),
            )
        })
        .unwrap();
        assert_eq!(got, (-libc::EROFS, -libc::EXDEV, Some(libc::EROFS)));

        // Without the i386 ABI in the filter, an int 0x80 call is a bad-arch
        // call: the process is killed (SIGSYS).
        let only64 = Filter::new(Action::Allow)
            .rule(Rule::new("acct", Action::Errno(1)))
            .compile()
            .unwrap();
        let err = fork_run(move || {
            install(&only64);
            int80(20, 0)
        })
        .unwrap_err();
        assert!(err.contains("SIGSYS"), "{err}");
    }
}

#[test]
fn bad_filters_get_typed_errors_naming_the_rule() {
    let e = Filter::new(Action::Allow)
        .rule(Rule::new("no_such_call", Action::Errno(1)))
        .compile()
        .unwrap_err();
    assert!(
        matches!(e, Error::UnknownSyscall { rule: 0, ref name } if name == "no_such_call"),
        "{e}"
    );
    let skipped = Filter::new(Action::Allow)
        .rule(Rule::new("no_such_call", Action::Errno(1)).optional())
        .compile()
        .unwrap();
    assert_eq!(skipped.skipped(), ["no_such_call"]);
    let e = Filter::new(Action::Allow)
        .rule(Rule::new("read", Action::Errno(1)).arg(6, CmpOp::Eq, 0))
        .compile()
        .unwrap_err();
    assert!(
        e.to_string().contains("rule 0 (read)") && e.to_string().contains("index 6"),
        "{e}"
    );
    let e = Filter::new(Action::Allow)
        .rule(Rule::new("read", Action::Errno(5000)))
        .compile()
        .unwrap_err();
    assert!(e.to_string().contains("4094"), "{e}");
    let e = Filter::new(Action::Allow)
        .rule(Rule::new("read", Action::Errno(1)).condition(Condition::new32(0, CmpOp::Lt, 3)))
        .compile()
        .unwrap_err();
    assert!(e.to_string().contains("32-bit SCMP_CMP_LT"), "{e}");
    // Same call, same conditions, different actions: contradictory.
    let e = Filter::new(Action::Allow)
        .rule(Rule::new("read", Action::Errno(1)).arg(0, CmpOp::Eq, 3))
        .rule(Rule::new("read", Action::Errno(2)).arg(0, CmpOp::Eq, 3))
        .compile()
        .unwrap_err();
    assert!(e.to_string().starts_with("rule 1 (read)"), "{e}");
}
