#![no_main]
//! Seccomp profiles: arbitrary JSON (or a profile built from raw bytes) is
//! parsed, resolved, translated and compiled — typed errors, never a panic —
//! and every compiled program is checked the way the kernel's classic-BPF
//! checker does (every jump lands inside, the last instruction returns,
//! at most 4096 instructions). (Kernel acceptance of compiled filters:
//! seccomp/tests/profiles.rs, which installs 300 random ones.)
use libfuzzer_sys::fuzz_target;
use palisade_caps::CapSet;
use palisade_seccomp::{Arch, Insn, Profile};

const NAMES: &[&str] = &[
    "read", "write", "openat", "getcwd", "mkdir", "mount", "chown32", "socketcall", "clone",
    "arch_prctl", "no_such_call", "", "futex_waitv", "personality",
];
const ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_BOGUS",
];
const OPS: &[&str] = &[
    "SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GT", "SCMP_CMP_GE",
    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_X",
];
const ARCHES: &[&str] = &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"];

/// A profile built from bytes, so the compiler sees deep inputs too.
fn from_bytes(data: &[u8]) -> Profile {
    let pick = |xs: &[&str], b: u8| xs[b as usize % xs.len()].to_owned();
    let mut it = data.chunks(6);
    let head = it.next().unwrap_or(&[0; 6]);
    let get = |i: usize| head.get(i).copied().unwrap_or(0);
    let mut p = Profile {
        default_action: pick(ACTIONS, get(0)),
        default_errno_ret: (get(1) & 1 == 1).then(|| u32::from(get(2)) * 17),
        architectures: (0..get(3) % 4).map(|i| pick(ARCHES, get(4).wrapping_add(i))).collect(),
        ..Profile::default()
    };
    for c in it.take(64) {
        let b = |i: usize| c.get(i).copied().unwrap_or(0);
        let mut s = palisade_seccomp::Syscalls {
            names: vec![pick(NAMES, b(0))],
            action: pick(ACTIONS, b(1)),
            errno_ret: (b(2) & 1 == 1).then(|| u32::from(b(2)) * 33),
            ..Default::default()
        };
        for j in 0..b(3) % 3 {
            s.args.push(palisade_seccomp::Arg {
                index: u32::from(b(4).wrapping_add(j) % 7),
                value: u64::from(b(5)) << (j * 20),
                value_two: u64::from(b(5) & 3),
                op: pick(OPS, b(3) >> 2 ^ j),
            });
        }
        p.syscalls.push(s);
    }
    p
}

fn check(prog: &[Insn]) {
    assert!(!prog.is_empty() && prog.len() <= 4096);
    for (i, insn) in prog.iter().enumerate() {
        let class = insn.code & 0x07;
        if class == 0x05 {
            // BPF_JMP: JA uses k, the others jt/jf.
            if insn.code == 0x05 {
                assert!(i + 1 + (insn.k as usize) < prog.len(), "ja out of range at {i}");
            } else {
                assert!(i + 1 + (insn.jt.max(insn.jf) as usize) < prog.len(), "jump out of range at {i}");
            }
        }
    }
    assert_eq!(prog.last().unwrap().code & 0x07, 0x06, "last instruction must return");
}

fuzz_target!(|data: &[u8]| {
    let profile = match data.split_first() {
        Some((b'{', _)) => match std::str::from_utf8(data).ok().map(Profile::from_json) {
            Some(Ok(p)) => p,
            _ => return,
        },
        Some((_, rest)) => from_bytes(rest),
        None => return,
    };
    let caps = CapSet::from_mask((data.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let Ok(resolved) = profile.resolve(Arch::X86_64, &caps, (6, 1)) else {
        return;
    };
    let Ok(filter) = resolved.to_filter() else {
        return;
    };
    // The typed filter survives OCI JSON unchanged.
    let again = Profile::from_json(&Profile::from_filter(&filter).to_json())
        .expect("printed profile parses")
        .to_filter()
        .expect("printed profile translates");
    assert_eq!(again.rules, filter.rules);
    assert_eq!(again.default_action, filter.default_action);
    if let Ok(compiled) = filter.compile() {
        check(compiled.instructions());
    }
});
