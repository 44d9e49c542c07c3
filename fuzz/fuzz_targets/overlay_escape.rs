#![no_main]
//! escape_path is undone by the kernel-style split: any list of layer paths
//! joined with ':' after escaping splits back into the same paths.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let layers: Vec<&str> = text.split('\n').collect();
        let joined: Vec<String> = layers.iter().map(|l| palisade_overlay::escape_path(l)).collect();
        let back = palisade_overlay::split_escaped(&joined.join(":"));
        assert_eq!(back, layers);
        let _ = palisade_overlay::split_escaped(text);
    }
});
