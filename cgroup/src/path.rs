//! Validated cgroup paths, relative to a hierarchy's root.

use std::fmt;

use crate::{Error, Result};

/// A cgroup path relative to the root of every hierarchy, such as
/// `palisade/web-1`. Checked before any filesystem call: no absolute
/// paths, no `.`/`..` components, no empty components, no NUL or newline,
/// no component over 255 bytes, and no name that collides with a cgroupfs
/// interface file prefix (`cgroup.`).
///
/// ```
/// use palisade_cgroup::CgroupPath;
/// assert_eq!(CgroupPath::new("palisade/web")?.as_str(), "palisade/web");
/// assert!(CgroupPath::new("../escape").is_err());
/// assert!(CgroupPath::new("/abs").is_err());
/// # Ok::<(), palisade_cgroup::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "String", into = "String"))]
pub struct CgroupPath(String);

impl CgroupPath {
    /// Validates `path`.
    pub fn new(path: &str) -> Result<CgroupPath> {
        let bad = |reason| {
            Err(Error::InvalidPath {
                path: path.to_owned(),
                reason,
            })
        };
        if path.is_empty() {
            return bad("empty (the root cgroup is never managed)");
        }
        if path.starts_with('/') {
            return bad("must be relative to the hierarchy root");
        }
        if path.contains('\0') || path.contains('\n') {
            return bad("contains NUL or newline");
        }
        for component in path.split('/') {
            match component {
                "" => return bad("empty component (`//` or trailing `/`)"),
                "." | ".." => return bad("`.` and `..` are not allowed"),
                c if c.len() > 255 => return bad("component longer than 255 bytes"),
                c if c.starts_with("cgroup.") => {
                    return bad("component looks like an interface file");
                }
                _ => {}
            }
        }
        Ok(CgroupPath(path.to_owned()))
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Each ancestor including self, outermost first: `a`, `a/b`, `a/b/c`.
    pub fn prefixes(&self) -> impl Iterator<Item = &str> {
        self.0
            .match_indices('/')
            .map(|(i, _)| &self.0[..i])
            .chain(std::iter::once(self.0.as_str()))
    }
}

impl fmt::Display for CgroupPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CgroupPath {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        CgroupPath::new(&s)
    }
}

impl From<CgroupPath> for String {
    fn from(p: CgroupPath) -> String {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_oddities_are_rejected() {
        for bad in [
            "",
            "/a",
            "a/../b",
            "a//b",
            "a/",
            ".",
            "a\nb",
            "cgroup.procs",
            "a/cgroup.kill",
        ] {
            assert!(CgroupPath::new(bad).is_err(), "{bad:?} accepted");
        }
        let long = "x".repeat(256);
        assert!(CgroupPath::new(&long).is_err());
    }

    #[test]
    fn prefixes_are_outermost_first() {
        let p = CgroupPath::new("a/b/c").unwrap();
        assert_eq!(p.prefixes().collect::<Vec<_>>(), ["a", "a/b", "a/b/c"]);
    }
}
