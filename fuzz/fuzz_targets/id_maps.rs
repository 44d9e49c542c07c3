#![no_main]
//! uid_map text: a validated map always writes back text that parses to it.
use libfuzzer_sys::fuzz_target;
use palisade_ns::IdMaps;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(maps) = text.parse::<IdMaps>() {
            let again: IdMaps = maps.to_kernel_text().parse().unwrap();
            assert_eq!(again, maps);
            for m in maps.lines() {
                assert_eq!(maps.to_outside(m.inside), Some(m.outside));
            }
        }
    }
});
