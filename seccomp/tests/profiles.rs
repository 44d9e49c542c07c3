//! Profile files: Docker's and Podman's own (fetched from Debian's packages
//! by scripts/fixtures.sh), OCI config fragments, bad profiles, and many
//! random profiles compiled and installed in forked children.

mod common;
use common::install;
use palisade_caps::CapSet;
use palisade_seccomp::{Action, Arch, CmpOp, Error, Filter, Profile, Rule};
use palisade_testkit::fork_run;
use std::path::PathBuf;

fn fixture(name: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/seccomp-fixtures");
    let path = dir.join(name);
    if !path.exists() {
        let st =
            std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fixtures.sh"))
                .arg(&dir)
                .status()
                .expect("run scripts/fixtures.sh");
        assert!(st.success(), "scripts/fixtures.sh failed");
    }
    std::fs::read_to_string(&path).unwrap()
}

fn names(p: &Profile) -> Vec<String> {
    p.syscalls.iter().flat_map(|s| s.names.clone()).collect()
}

#[test]
fn dockers_and_podmans_own_profile_files_load_resolve_and_apply() {
    let caps = CapSet::docker_default();
    for file in ["docker-default.json", "podman-seccomp.json"] {
        let p = Profile::from_json(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let r = p.resolve(Arch::X86_64, &caps, (6, 1)).unwrap();
        assert_eq!(r.architectures[0], "SCMP_ARCH_X86_64", "{file}");
        let n = names(&r);
        assert!(n.iter().any(|s| s == "read"), "{file}");
        if file.starts_with("docker") {
            // Docker opens mount to CAP_SYS_ADMIN; Podman's file never allows it.
            assert!(!n.iter().any(|s| s == "mount"), "{file}");
            let with_admin = p
                .resolve(
                    Arch::X86_64,
                    &caps.tweak(&["CAP_SYS_ADMIN"], &[]).unwrap(),
                    (6, 1),
                )
                .unwrap();
            assert!(names(&with_admin).iter().any(|s| s == "mount"), "{file}");
        }
        // What the profile says acct gets: its own entry's errno, else the
        // default's (EPERM for Docker, ENOSYS for Podman).
        let want = r
            .syscalls
            .iter()
            .find(|s| s.names.iter().any(|n| n == "acct") && s.args.is_empty())
            .map_or(r.default_errno_ret, |s| s.errno_ret)
            .unwrap_or(libc::EPERM as u32) as i32;
        let f = r.to_filter().unwrap().compile().unwrap();
        // Applied: a blocked call gets the profile's errno, reboot with a bad
        // magic would be EINVAL (root) or EPERM (capability) without it.
        let got = fork_run(move || {
            install(&f);
            // SAFETY: acct(NULL) only turns accounting off, and is blocked.
            let r = unsafe { libc::syscall(libc::SYS_acct, 0) };
            (r, nix::errno::Errno::last_raw())
        })
        .unwrap();
        assert_eq!(got, (-1, want), "{file}");
    }
}

#[test]
fn the_embedded_docker_profile_matches_the_upstream_file_on_common_names() {
    // Every call the upstream file allows unconditionally for a default
    // container is allowed by the embedded copy too.
    let caps = CapSet::docker_default();
    let upstream = Profile::from_json(&fixture("docker-default.json"))
        .unwrap()
        .resolve(Arch::X86_64, &caps, (6, 1))
        .unwrap();
    let ours = Profile::docker_template()
        .resolve(Arch::X86_64, &caps, (6, 1))
        .unwrap();
    let ours_names = names(&ours);
    let missing: Vec<String> = upstream
        .syscalls
        .iter()
        .filter(|s| s.action == "SCMP_ACT_ALLOW" && s.args.is_empty())
        .flat_map(|s| s.names.clone())
        .filter(|n| !ours_names.contains(n))
        // Debian's copy is Docker 20.10's; moby removed io_uring from the
        // default profile since (Docker 25).
        .filter(|n| !n.starts_with("io_uring"))
        .collect();
    assert!(missing.is_empty(), "embedded profile lacks {missing:?}");
}

#[test]
fn oci_config_fragment_loads_and_round_trips() {
    let config = r#"{
      "ociVersion": "1.2.0",
      "process": {"args": ["sh"]},
      "linux": {
        "namespaces": [{"type": "pid"}],
        "seccomp": {
          "defaultAction": "SCMP_ACT_ERRNO",
          "defaultErrnoRet": 38,
          "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
          "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
          "listenerPath": "/run/seccomp-agent.sock",
          "syscalls": [
            {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
            {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
            {"names": ["kill"], "action": "SCMP_ACT_LOG"}
          ]
        }
      }
    }"#;
    let p = Profile::from_oci_config(config).unwrap().unwrap();
    assert_eq!(p.listener_path.as_deref(), Some("/run/seccomp-agent.sock"));
    let f = p.to_filter().unwrap();
    assert_eq!(f.default_action, Action::Errno(38));
    assert_eq!(f.architectures, [Arch::X86_64, Arch::X86, Arch::X32]);
    assert!(f.rules.iter().any(|r| r.syscall == "clone"
        && r.conditions[0].op == CmpOp::MaskedEq(2114060288)
        && r.conditions[0].value == 0));
    let c = f.compile().unwrap();
    assert!(c.wants_listener());
    // Typed filter → OCI → typed filter is the identity.
    let back = Profile::from_json(&Profile::from_filter(&f).to_json())
        .unwrap()
        .to_filter()
        .unwrap();
    assert_eq!(back.rules, f.rules);
    assert_eq!(back.default_action, f.default_action);
    assert_eq!(back.flags, f.flags);
    assert!(
        Profile::from_oci_config(r#"{"linux": {}}"#)
            .unwrap()
            .is_none()
    );
}

#[test]
fn malformed_and_contradictory_profiles_name_the_entry() {
    let bad = |json: &str| {
        Profile::from_json(json)
            .and_then(|p| p.to_filter()?.compile().map(drop))
            .unwrap_err()
    };
    let e = bad(r#"{"defaultAction":"SCMP_ACT_NOPE"}"#);
    assert!(
        matches!(e, Error::UnknownAction { ref entry, .. } if entry == "defaultAction"),
        "{e}"
    );
    let e = bad(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":9,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert_eq!(
        e.to_string(),
        "syscalls[1].args[0]: argument index 9 is above 5"
    );
    let e = bad(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_ABOUT"}]}]}"#,
    );
    assert!(
        matches!(e, Error::UnknownOp { ref entry, .. } if entry == "syscalls[0].args[0]"),
        "{e}"
    );
    let e = bad(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":70000}]}"#,
    );
    assert!(
        e.to_string().starts_with("syscalls[0]: errnoRet 70000"),
        "{e}"
    );
    let e = bad(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_Z80"]}"#);
    assert!(
        matches!(e, Error::UnknownArch(ref a) if a == "SCMP_ARCH_Z80"),
        "{e}"
    );
    let e = bad(r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_FAST"]}"#);
    assert!(matches!(e, Error::UnknownFlag(_)), "{e}");
    let e = bad(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ERRNO"}]}"#);
    assert_eq!(e.to_string(), "syscalls[0]: no syscall names");
    let e = bad(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"]}]}"#);
    assert!(
        matches!(e, Error::Json(_)) && e.to_string().contains("action"),
        "{e}"
    );
    // Contradictory: the same call and argument, two different errnos.
    let e = bad(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":0,"value":3,"op":"SCMP_CMP_EQ"}]},
        {"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":2,"args":[{"index":0,"value":3,"op":"SCMP_CMP_EQ"}]}]}"#);
    assert!(
        e.to_string().starts_with("rule 1 (read): contradicts"),
        "{e}"
    );
    // Docker's format refused where it cannot mean anything.
    let docker = Profile::from_json(r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#).unwrap();
    let e = docker
        .resolve(Arch::X86_64, &CapSet::EMPTY, (6, 1))
        .unwrap_err();
    assert!(
        e.to_string().contains("both architectures and archMap"),
        "{e}"
    );
    let e = docker.to_filter().unwrap_err();
    assert!(e.to_string().starts_with("archMap:"), "{e}");
}

/// xorshift64*: a fixed seed makes a failure reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

fn random_filter(rng: &mut Rng) -> Filter {
    let actions = [
        Action::Allow,
        Action::Errno(1),
        Action::Errno(4094),
        Action::Errno(0),
        Action::KillThread,
        Action::KillProcess,
        Action::Trap,
        Action::Trace(7),
        Action::Log,
        Action::Notify,
    ];
    let ops = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
        CmpOp::MaskedEq(0xff00),
    ];
    let pool: Vec<String> = names(&Profile::docker_default(&CapSet::all_supported()))
        .into_iter()
        .filter(|n| n != "exit_group" && n != "exit")
        .chain(["chown32".into(), "no_such_call".into(), "socketcall".into()])
        .collect();
    let mut f = Filter::new(rng.pick(&actions));
    f.architectures = match rng.next() % 3 {
        0 => vec![Arch::X86_64],
        1 => vec![Arch::X86_64, Arch::X86],
        _ => vec![Arch::X86_64, Arch::X86, Arch::X32],
    };
    for _ in 0..rng.next() % 120 {
        let mut r = Rule::new(
            pool[(rng.next() % pool.len() as u64) as usize].clone(),
            rng.pick(&actions),
        )
        .optional();
        for i in 0..rng.next() % 3 {
            r = r.arg(i as u8, rng.pick(&ops), rng.next() % 4);
        }
        f.rules.push(r);
    }
    // The child must be able to leave.
    f.rules.push(Rule::new("exit_group", Action::Allow));
    f
}

#[test]
fn every_compiled_random_filter_is_accepted_by_the_kernel() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut installed, mut refused) = (0, 0);
    for i in 0..300 {
        let f = random_filter(&mut rng);
        let compiled = match f.compile() {
            Ok(c) => c,
            Err(Error::Invalid { .. }) => {
                // Contradicting random rules: refused before the kernel.
                refused += 1;
                continue;
            }
            Err(e) => panic!("filter {i} (default {:?}): {e}", f.default_action),
        };
        // A raw fork: the child installs and leaves with exit_group only.
        // SAFETY: the child calls only async-signal-safe functions.
        match unsafe { libc::fork() } {
            0 => {
                // SAFETY: prctl, then the raw seccomp call, then exit_group.
                unsafe {
                    libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                    let code = match compiled.install(palisade_seccomp::InstallFlags::empty()) {
                        Ok(_) => 0,
                        Err(e) => e as i32,
                    };
                    libc::syscall(libc::SYS_exit_group, code);
                }
                unreachable!()
            }
            pid => {
                let mut status = 0;
                // SAFETY: waiting for our own child.
                assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
                assert!(
                    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                    "filter {i} ({} instructions): status {status:#x}\n{}",
                    compiled.len(),
                    Profile::from_filter(&f).to_json()
                );
                installed += 1;
            }
        }
    }
    eprintln!("random filters: {installed} installed, {refused} refused as contradictory");
    assert!(installed > 200);
}
