//! Parsers of cgroup statistics files: flat-keyed (`memory.events`,
//! `cpu.stat`), PSI pressure lines.

use std::path::Path;

use crate::{Error, Result};

/// Usage figures of one cgroup, from whichever hierarchy holds each: the
/// same struct on v1, v2 and hybrid hosts. A field is `None` when no mounted
/// controller reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Stats {
    /// Memory in use, bytes.
    pub memory_current: Option<u64>,
    /// Peak memory use, bytes (v1 `max_usage_in_bytes`, v2 `memory.peak`).
    pub memory_peak: Option<u64>,
    /// Processes killed by the OOM killer in this group.
    pub oom_kills: Option<u64>,
    /// Every memory event counter (on v1 only `oom`/`oom_kill` are known).
    pub memory_events: Option<MemoryEvents>,
    /// Tasks in the group.
    pub pids_current: Option<u64>,
    /// `pids.max`; `u64::MAX` when unlimited.
    pub pids_limit: Option<u64>,
    /// CPU time used, microseconds.
    pub cpu_usage_usec: Option<u64>,
    /// CPU time in user mode, microseconds.
    pub cpu_user_usec: Option<u64>,
    /// CPU time in kernel mode, microseconds.
    pub cpu_system_usec: Option<u64>,
    /// Enforcement periods of the CPU quota that elapsed.
    pub cpu_nr_periods: Option<u64>,
    /// Periods in which the group was throttled.
    pub cpu_nr_throttled: Option<u64>,
    /// Time spent throttled, microseconds.
    pub cpu_throttled_usec: Option<u64>,
    /// Bytes read from block devices (all devices summed).
    pub io_read_bytes: Option<u64>,
    /// Bytes written to block devices (all devices summed).
    pub io_write_bytes: Option<u64>,
}

impl Stats {
    /// CPU use between two samples taken `elapsed` apart, in percent of
    /// **one** CPU (200.0 = two CPUs busy) — the cgroup's own figure, not the
    /// host's load that `top` inside a container shows. Divide by the CPUs
    /// of the group's quota to get the share of its limit.
    ///
    /// `None` when either sample lacks CPU usage or `elapsed` is zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use palisade_cgroup::Stats;
    /// let before = Stats { cpu_usage_usec: Some(1_000_000), ..Stats::default() };
    /// let after = Stats { cpu_usage_usec: Some(1_250_000), ..Stats::default() };
    /// assert_eq!(Stats::cpu_percent(&before, &after, Duration::from_secs(1)), Some(25.0));
    /// ```
    pub fn cpu_percent(before: &Stats, after: &Stats, elapsed: std::time::Duration) -> Option<f64> {
        let used = after.cpu_usage_usec?.checked_sub(before.cpu_usage_usec?)?;
        let wall = elapsed.as_micros();
        (wall > 0).then(|| used as f64 * 100.0 / wall as f64)
    }
}

/// Counters of `memory.events` (v2) or `memory.oom_control` (v1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MemoryEvents {
    /// Reclaim under `memory.low`.
    pub low: u64,
    /// Throttled at `memory.high`.
    pub high: u64,
    /// Hit `memory.max`.
    pub max: u64,
    /// OOM situations.
    pub oom: u64,
    /// Processes OOM-killed.
    pub oom_kill: u64,
}

/// One PSI line: share of time stalled over 10 s, 60 s, 300 s, and total µs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PressureLine {
    /// Percent over the last 10 s.
    pub avg10: f64,
    /// Percent over the last 60 s.
    pub avg60: f64,
    /// Percent over the last 300 s.
    pub avg300: f64,
    /// Total stall time, µs.
    pub total_usec: u64,
}

/// `cpu.pressure`, `memory.pressure` or `io.pressure`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Pressure {
    /// Some task stalled.
    pub some: PressureLine,
    /// All tasks stalled (absent for CPU on older kernels).
    pub full: Option<PressureLine>,
}

/// Parses a PSI file.
///
/// ```
/// let p = palisade_cgroup::parse_pressure(
///     "some avg10=1.50 avg60=0.00 avg300=0.00 total=42\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n",
/// ).unwrap();
/// assert_eq!(p.some.total_usec, 42);
/// assert_eq!(p.full.unwrap().total_usec, 7);
/// ```
pub fn parse_pressure(text: &str) -> std::result::Result<Pressure, String> {
    let mut p = Pressure::default();
    let mut saw_some = false;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.split_whitespace();
        let kind = fields.next().unwrap_or_default();
        let mut parsed = PressureLine::default();
        for f in fields {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| format!("field without '=': {f:?}"))?;
            let float = || v.parse::<f64>().map_err(|_| format!("bad number {v:?}"));
            match k {
                "avg10" => parsed.avg10 = float()?,
                "avg60" => parsed.avg60 = float()?,
                "avg300" => parsed.avg300 = float()?,
                "total" => parsed.total_usec = v.parse().map_err(|_| format!("bad total {v:?}"))?,
                _ => {}
            }
        }
        match kind {
            "some" => {
                p.some = parsed;
                saw_some = true;
            }
            "full" => p.full = Some(parsed),
            other => return Err(format!("unknown line kind {other:?}")),
        }
    }
    if !saw_some {
        return Err("no `some` line".into());
    }
    Ok(p)
}

/// Value of `key` in a flat-keyed file (`key value` per line).
///
/// ```
/// assert_eq!(palisade_cgroup::flat_key("usage_usec 10\nuser_usec 4\n", "user_usec"), Some(4));
/// assert_eq!(palisade_cgroup::flat_key("oom_kill x\n", "oom_kill"), None);
/// ```
pub fn flat_key(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Parses `memory.events` (v2) text.
pub fn parse_memory_events(text: &str) -> MemoryEvents {
    let k = |key| flat_key(text, key).unwrap_or(0);
    MemoryEvents {
        low: k("low"),
        high: k("high"),
        max: k("max"),
        oom: k("oom"),
        oom_kill: k("oom_kill"),
    }
}

/// Sums the `Read` and `Write` byte lines of a v1
/// `blkio.throttle.io_service_bytes` file (`8:0 Read 4096`, …, `Total N`).
///
/// ```
/// let text = "8:0 Read 4096\n8:0 Write 512\n8:16 Read 10\nTotal 4618\n";
/// assert_eq!(palisade_cgroup::parse_blkio_bytes(text), (4106, 512));
/// ```
pub fn parse_blkio_bytes(text: &str) -> (u64, u64) {
    let ops = text.lines().filter_map(|line| {
        let mut f = line.split_whitespace();
        let _device = f.next()?;
        Some((f.next()?, f.next()?))
    });
    sum_read_write(ops, "Read", "Write")
}

/// Sums `rbytes=` and `wbytes=` over the devices of a v2 `io.stat` file.
///
/// ```
/// let text = "8:0 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=0 dios=0\n8:16 rbytes=10 wbytes=0\n";
/// assert_eq!(palisade_cgroup::parse_io_stat_bytes(text), (4106, 512));
/// ```
pub fn parse_io_stat_bytes(text: &str) -> (u64, u64) {
    let fields = text.split_whitespace().filter_map(|f| f.split_once('='));
    sum_read_write(fields, "rbytes", "wbytes")
}

/// Totals of the values under the `read` and `write` keys (an unparsable
/// value counts 0; sums saturate).
fn sum_read_write<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    read: &str,
    write: &str,
) -> (u64, u64) {
    pairs.fold((0u64, 0u64), |(r, w), (key, value)| {
        let n: u64 = value.parse().unwrap_or(0);
        if key == read {
            (r.saturating_add(n), w)
        } else if key == write {
            (r, w.saturating_add(n))
        } else {
            (r, w)
        }
    })
}

pub(crate) fn read_u64(path: &Path) -> Result<Option<u64>> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let s = s.trim();
            if s == "max" {
                return Ok(Some(u64::MAX));
            }
            s.parse().map(Some).map_err(|_| Error::Parse {
                file: path.to_owned(),
                reason: format!("not a number: {s:?}"),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pressure_rejects_garbage_without_panicking() {
        assert!(parse_pressure("").is_err());
        assert!(parse_pressure("some avg10").is_err());
        assert!(parse_pressure("other avg10=1").is_err());
        assert!(parse_pressure("some avg10=x").is_err());
        let p = parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=0").unwrap();
        assert!(p.full.is_none());
    }
}
