#![no_main]
//! Any bytes as /proc/<pid>/status: a parse error or a state; never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = palisade_caps::CapState::parse_status(data) {
        let _ = state.diff(&state);
        assert!(state.diff(&state).is_empty());
    }
});
