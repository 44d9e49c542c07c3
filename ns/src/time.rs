//! Time-namespace clock offsets.

use std::io::Write;
use std::path::PathBuf;

use nix::errno::Errno;

use crate::{Error, Result};

/// Offsets of `CLOCK_MONOTONIC` and `CLOCK_BOOTTIME` in a new time namespace,
/// in nanoseconds (may be negative, within what the clocks allow).
///
/// ```
/// use palisade_ns::TimeOffsets;
/// let o = TimeOffsets::new().boottime_secs(86_400);
/// assert_eq!(o.to_kernel_text(), "monotonic 0 0\nboottime 86400 0\n");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TimeOffsets {
    /// Offset of `CLOCK_MONOTONIC`, nanoseconds.
    pub monotonic_ns: i64,
    /// Offset of `CLOCK_BOOTTIME`, nanoseconds.
    pub boottime_ns: i64,
}

impl TimeOffsets {
    /// No offsets.
    pub fn new() -> TimeOffsets {
        TimeOffsets::default()
    }

    /// Monotonic offset in whole seconds.
    pub fn monotonic_secs(mut self, secs: i64) -> Self {
        self.monotonic_ns = secs.saturating_mul(1_000_000_000);
        self
    }

    /// Boot-time offset in whole seconds.
    pub fn boottime_secs(mut self, secs: i64) -> Self {
        self.boottime_ns = secs.saturating_mul(1_000_000_000);
        self
    }

    /// The `timens_offsets` text: `<clock> <secs> <nanos>` lines, nanos in
    /// 0..1e9 as the kernel requires.
    pub fn to_kernel_text(&self) -> String {
        let line = |name: &str, ns: i64| {
            format!(
                "{name} {} {}\n",
                ns.div_euclid(1_000_000_000),
                ns.rem_euclid(1_000_000_000)
            )
        };
        line("monotonic", self.monotonic_ns) + &line("boottime", self.boottime_ns)
    }

    /// Writes the offsets for the time namespace that `pid`'s children will
    /// be born into (after `unshare(CLONE_NEWTIME)` by `pid`), in one write.
    /// Fails with [`Error::TimeOffsetsTooLate`] once a process has entered it.
    pub fn write_for(&self, pid: i32) -> Result<()> {
        let path = PathBuf::from(format!("/proc/{pid}/timens_offsets"));
        let text = self.to_kernel_text();
        let result = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        result.map_err(|e| match Errno::from_raw(e.raw_os_error().unwrap_or(0)) {
            Errno::EACCES => Error::TimeOffsetsTooLate { pid },
            errno => Error::at("write", path, errno),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_offsets_keep_nanos_positive() {
        let o = TimeOffsets {
            monotonic_ns: -1,
            boottime_ns: 1_500_000_000,
        };
        assert_eq!(
            o.to_kernel_text(),
            "monotonic -1 999999999\nboottime 1 500000000\n"
        );
    }
}
