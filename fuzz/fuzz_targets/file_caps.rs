#![no_main]
//! security.capability bytes: decode never panics; v2/v3 round-trip.
use libfuzzer_sys::fuzz_target;
use palisade_caps::FileCaps;

fuzz_target!(|data: &[u8]| {
    if let Ok(caps) = FileCaps::decode(data) {
        if data.len() != 12 {
            assert_eq!(FileCaps::decode(&caps.encode()).unwrap(), caps);
        }
        let _ = caps.to_string();
    }
});
