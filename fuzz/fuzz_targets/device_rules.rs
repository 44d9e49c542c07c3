#![no_main]
//! Device rules: arbitrary `allow|deny TYPE MAJOR:MINOR ACCESS` lines are
//! parsed (typed errors, never a panic), printed back (round trip), and the
//! accepted lists compiled to the cgroup2 BPF program, whose verdict —
//! interpreted in user space — must equal the v1 controller's semantics
//! for the devices the rules name. (Kernel verifier acceptance of such
//! programs: cgroup/tests/devices.rs, root.)
use libfuzzer_sys::fuzz_target;
use palisade_cgroup::{DeviceAccess, DeviceProgram, DeviceRule, DeviceType, devices};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut rules = Vec::new();
    for line in text.lines().take(256) {
        let (allow, rest) = match line.split_once(' ') {
            Some(("deny", rest)) => (false, rest),
            Some((_, rest)) => (true, rest),
            None => (true, line),
        };
        if let Ok(rule) = DeviceRule::parse(allow, rest) {
            let again = DeviceRule::parse(allow, &rule.to_string()).expect("printed form parses");
            assert_eq!(again, rule);
            rules.push(rule);
        }
    }
    let Ok(program) = DeviceProgram::build(&rules) else {
        return;
    };
    assert_eq!(program.instructions().last().map(|i| i.code), Some(0x95));
    for rule in &rules {
        let major = rule.major.unwrap_or(0);
        let minor = rule.minor.unwrap_or(0);
        for kind in [DeviceType::Block, DeviceType::Char] {
            for bits in 1..8 {
                let access = DeviceAccess::from_bits_truncate(bits);
                let want = devices::allows(&rules, kind, major, minor, access).unwrap();
                assert_eq!(program.run(kind, major, minor, access), want);
            }
        }
    }
});
