#![no_main]
//! Any text: parse_mountinfo never panics, and every mount it returns came
//! from a line naming a cgroup filesystem.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let mounts = palisade_cgroup::parse_mountinfo(text);
        assert!(mounts.len() <= text.lines().count());
    }
});
