#![no_main]
//! PSI, flat-keyed stat/events files, io byte counters and cpuset id lists.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = palisade_cgroup::parse_pressure(text);
        let _ = palisade_cgroup::parse_memory_events(text);
        let _ = palisade_cgroup::flat_key(text, "usage_usec");
        let _ = palisade_cgroup::parse_blkio_bytes(text);
        let _ = palisade_cgroup::parse_io_stat_bytes(text);
        if let Ok(ids) = palisade_cgroup::parse_id_list(text) {
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        }
        let _ = palisade_cgroup::CgroupPath::new(text);
    }
});
