//! User-namespace id maps: validated, then written for a child.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;

use nix::errno::Errno;

use crate::{Error, Result};

/// The kernel's limit of lines in one `uid_map`/`gid_map` (Linux 4.15+).
pub const MAX_ID_MAP_LINES: usize = 340;

/// One line of an id map: `count` ids starting at `inside` in the namespace
/// are `outside` in the parent namespace.
///
/// ```
/// use palisade_ns::IdMap;
/// let m = IdMap::new(0, 100000, 65536);
/// assert_eq!(m.to_string(), "0 100000 65536");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct IdMap {
    /// First id inside the namespace.
    pub inside: u32,
    /// First id in the parent namespace.
    pub outside: u32,
    /// Number of ids.
    pub count: u32,
}

impl IdMap {
    /// `count` ids from `inside` map to `outside`.
    pub const fn new(inside: u32, outside: u32, count: u32) -> IdMap {
        IdMap {
            inside,
            outside,
            count,
        }
    }
}

impl fmt::Display for IdMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.inside, self.outside, self.count)
    }
}

/// A whole map, checked against the kernel's rules before it is written:
/// 1..=340 lines, no empty range, no range past `u32::MAX`, no overlapping
/// ranges on either side.
///
/// ```
/// use palisade_ns::{IdMap, IdMaps};
/// let maps: IdMaps = "0 1000 1\n1 100000 65535".parse()?;
/// assert_eq!(maps.len(), 2);
/// assert!("0 1000 10\n5 2000 10".parse::<IdMaps>().is_err()); // overlap inside
/// # Ok::<(), palisade_ns::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct IdMaps(Vec<IdMap>);

impl IdMaps {
    /// Validates `lines`.
    pub fn new(lines: Vec<IdMap>) -> Result<IdMaps> {
        let invalid = |reason: String| Err(Error::InvalidIdMap { reason });
        if lines.is_empty() {
            return invalid("no lines".into());
        }
        if lines.len() > MAX_ID_MAP_LINES {
            return invalid(format!(
                "{} lines, the kernel takes at most {MAX_ID_MAP_LINES}",
                lines.len()
            ));
        }
        for (i, l) in lines.iter().enumerate() {
            if l.count == 0 {
                return invalid(format!("line {}: `{l}` maps zero ids", i + 1));
            }
            // 4294967295 is (uid_t)-1, "no id", which the kernel refuses
            // on both sides of a map.
            let last = u32::MAX - 1;
            if l.inside
                .checked_add(l.count - 1)
                .is_none_or(|end| end > last)
                || l.outside
                    .checked_add(l.count - 1)
                    .is_none_or(|end| end > last)
            {
                return invalid(format!("line {}: `{l}` runs past id {last}", i + 1));
            }
        }
        for side in [|m: &IdMap| m.inside, |m: &IdMap| m.outside] {
            let mut ranges: Vec<(u64, u64, usize)> = lines
                .iter()
                .enumerate()
                .map(|(i, m)| (side(m) as u64, side(m) as u64 + m.count as u64, i))
                .collect();
            ranges.sort_unstable();
            for w in ranges.windows(2) {
                if w[1].0 < w[0].1 {
                    return invalid(format!(
                        "lines {} and {} overlap (`{}` and `{}`)",
                        w[0].2 + 1,
                        w[1].2 + 1,
                        lines[w[0].2],
                        lines[w[1].2]
                    ));
                }
            }
        }
        Ok(IdMaps(lines))
    }

    /// Maps one id: `inside` → `outside`, a single line.
    pub fn single(inside: u32, outside: u32) -> IdMaps {
        IdMaps(vec![IdMap::new(inside, outside, 1)])
    }

    /// The lines.
    pub fn lines(&self) -> &[IdMap] {
        &self.0
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true for a validated map; present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The id outside that `inside` maps to, if mapped.
    pub fn to_outside(&self, inside: u32) -> Option<u32> {
        self.0.iter().find_map(|m| {
            (inside >= m.inside && inside - m.inside < m.count)
                .then(|| m.outside + (inside - m.inside))
        })
    }

    /// The text the kernel takes, built once so the write is one syscall.
    pub fn to_kernel_text(&self) -> String {
        let mut s = String::with_capacity(self.0.len() * 24);
        for m in &self.0 {
            s.push_str(&m.to_string());
            s.push('\n');
        }
        s
    }
}

impl FromStr for IdMaps {
    type Err = Error;

    /// Parses the `/proc/<pid>/uid_map` format (whitespace-separated
    /// triples, one per line).
    fn from_str(s: &str) -> Result<IdMaps> {
        let mut lines = Vec::new();
        for (i, line) in s.lines().enumerate() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.is_empty() {
                continue;
            }
            let parse = |f: &str| f.parse::<u32>().ok();
            match fields.as_slice() {
                [a, b, c] => match (parse(a), parse(b), parse(c)) {
                    (Some(a), Some(b), Some(c)) => lines.push(IdMap::new(a, b, c)),
                    _ => {
                        return Err(Error::InvalidIdMap {
                            reason: format!("line {}: `{line}` is not three ids", i + 1),
                        });
                    }
                },
                _ => {
                    return Err(Error::InvalidIdMap {
                        reason: format!("line {}: `{line}` is not three fields", i + 1),
                    });
                }
            }
        }
        IdMaps::new(lines)
    }
}

/// Whether the child may call `setgroups(2)` after its gid map is written.
/// Unprivileged gid maps need `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetGroups {
    /// Write `allow` to `/proc/<pid>/setgroups`.
    Allow,
    /// Write `deny` (required for a map written without CAP_SETGID).
    Deny,
}

/// Writes `uid_map`, `setgroups` and `gid_map` of process `pid` (which is in
/// a new user namespace and has not been given maps yet), each in one
/// `write`, as the kernel requires.
///
/// ```no_run
/// use palisade_ns::{write_id_maps, IdMaps, SetGroups};
/// let maps = IdMaps::single(0, 1000);
/// write_id_maps(1234, &maps, &maps, SetGroups::Deny)?;
/// # Ok::<(), palisade_ns::Error>(())
/// ```
pub fn write_id_maps(pid: i32, uids: &IdMaps, gids: &IdMaps, setgroups: SetGroups) -> Result<()> {
    write_proc(pid, "uid_map", &uids.to_kernel_text())?;
    let policy = match setgroups {
        SetGroups::Allow => "allow",
        SetGroups::Deny => "deny",
    };
    write_proc(pid, "setgroups", policy)?;
    write_proc(pid, "gid_map", &gids.to_kernel_text())
}

fn write_proc(pid: i32, file: &str, text: &str) -> Result<()> {
    let path = PathBuf::from(format!("/proc/{pid}/{file}"));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    result.map_err(|e| {
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(0));
        match errno {
            Errno::EPERM | Errno::EINVAL if file != "setgroups" => Error::IdMapRefused {
                path,
                errno,
                hint: "the map was already written, an outside id is not mapped in the parent \
                       namespace, or the writer lacks CAP_SETUID/CAP_SETGID there (use \
                       newuidmap/newgidmap with /etc/subuid and /etc/subgid)",
            },
            _ => Error::at("write", path, errno),
        }
    })
}

/// Writes the maps through the setuid helpers `newuidmap`/`newgidmap`
/// (package `uidmap`), which check `/etc/subuid` and `/etc/subgid`: the
/// rootless way.
pub fn write_id_maps_with_helpers(pid: i32, uids: &IdMaps, gids: &IdMaps) -> Result<()> {
    for (program, maps) in [("newuidmap", uids), ("newgidmap", gids)] {
        let mut cmd = std::process::Command::new(program);
        cmd.arg(pid.to_string());
        for m in maps.lines() {
            cmd.args([
                m.inside.to_string(),
                m.outside.to_string(),
                m.count.to_string(),
            ]);
        }
        let out = cmd.output().map_err(|e| Error::Unsupported {
            feature: program,
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })?;
        if !out.status.success() {
            return Err(Error::IdMapRefused {
                path: PathBuf::from(format!("/proc/{pid}/{}", &program[3..])),
                errno: Errno::EPERM,
                hint: "newuidmap/newgidmap refused: the ranges must be granted in /etc/subuid \
                       and /etc/subgid",
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_the_kernel_rejects() {
        assert!(IdMaps::new(vec![]).is_err());
        assert!(IdMaps::new(vec![IdMap::new(0, 0, 0)]).is_err());
        assert!(IdMaps::new(vec![IdMap::new(u32::MAX, 0, 2)]).is_err());
        // (uid_t)-1 is no id: refused on either side, even alone.
        assert!(IdMaps::new(vec![IdMap::new(0, u32::MAX, 1)]).is_err());
        assert!(IdMaps::new(vec![IdMap::new(u32::MAX, 0, 1)]).is_err());
        assert!(IdMaps::new(vec![IdMap::new(0, u32::MAX - 1, 1)]).is_ok());
        assert!(IdMaps::new(vec![IdMap::new(0, 10, 5), IdMap::new(5, 10, 1)]).is_err());
        let too_many = (0..341).map(|i| IdMap::new(i, i, 1)).collect();
        let err = IdMaps::new(too_many).unwrap_err().to_string();
        assert!(err.contains("341"), "{err}");
        let ok = (0..340).map(|i| IdMap::new(i, i + 1000, 1)).collect();
        assert_eq!(IdMaps::new(ok).unwrap().len(), 340);
    }

    #[test]
    fn text_round_trips_and_maps_ids() {
        let maps: IdMaps = "0 1000 1\n 1 100000 65535 \n".parse().unwrap();
        assert_eq!(maps.to_kernel_text(), "0 1000 1\n1 100000 65535\n");
        assert_eq!(maps.to_outside(0), Some(1000));
        assert_eq!(maps.to_outside(2), Some(100001));
        assert_eq!(maps.to_outside(65536), None);
        assert!("0 1000".parse::<IdMaps>().is_err());
        assert!("a b c".parse::<IdMaps>().is_err());
    }
}
