#![no_main]
//! Capability names and masks: whatever parses prints back to the same set.
use libfuzzer_sys::fuzz_target;
use palisade_caps::{CapSet, Capability};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(set) = text.parse::<CapSet>() {
            let printed = set.to_string();
            assert_eq!(printed.parse::<CapSet>().unwrap(), set, "{printed}");
        }
        if let Ok(cap) = text.parse::<Capability>() {
            assert_eq!(cap.to_string().parse::<Capability>().unwrap(), cap);
        }
        let _ = CapSet::docker_default().tweak(&[text], &[]);
    }
});
