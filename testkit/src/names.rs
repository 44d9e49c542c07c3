//! Unique resource names and temporary directories.
//!
//! Every name has the shape `pt<pid36>_<counter36><tag>`: `pt` marks a test
//! resource, `<pid36>` is the owning process id in base 36 so the leak
//! snapshot can ignore resources of *other live* test processes, and the
//! counter makes it unique within the process.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub(crate) fn base36(mut n: u32) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

fn prefix() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("pt{}_{}", base36(std::process::id()), base36(n))
}

/// A name unique to this process and call: `pt<pid36>_<n36><tag>`.
/// The tag is sanitised to `[a-z0-9-]`.
///
/// ```
/// let a = palisade_testkit::unique_name("cg");
/// let b = palisade_testkit::unique_name("cg");
/// assert_ne!(a, b);
/// assert!(a.starts_with("pt") && a.ends_with("cg"));
/// ```
pub fn unique_name(tag: &str) -> String {
    let tag: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{}{}", prefix(), tag)
}

/// A unique network interface name (at most 15 bytes, the kernel's limit):
/// the tag is cut to what fits.
///
/// ```
/// let n = palisade_testkit::ifname("veth-host-side");
/// assert!(n.len() <= 15);
/// ```
pub fn ifname(tag: &str) -> String {
    let mut n = unique_name(tag);
    n.truncate(15);
    n
}

/// Extracts the pid from a `pt<pid36>_` token anywhere in `s`.
pub(crate) fn owner_pid(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    let mut i = 0;
    while i + 2 < b.len() {
        let starts =
            b[i] == b'p' && b[i + 1] == b't' && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if starts {
            let digits: String = b[i + 2..]
                .iter()
                .take_while(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
                .map(|&c| c as char)
                .collect();
            let end = i + 2 + digits.len();
            if !digits.is_empty() && b.get(end) == Some(&b'_') {
                if let Ok(pid) = u32::from_str_radix(&digits, 36) {
                    return Some(pid);
                }
            }
        }
        i += 1;
    }
    None
}

/// A uniquely named directory under `/tmp/palisade-test`, removed with its
/// contents on drop (mounts inside must have been unmounted by the test).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `/tmp/palisade-test/pt<pid>_<n><tag>`.
    ///
    /// ```
    /// let d = palisade_testkit::TempDir::new("demo");
    /// assert!(d.path().is_dir());
    /// ```
    pub fn new(tag: &str) -> TempDir {
        let base = Path::new("/tmp/palisade-test");
        let path = base.join(unique_name(tag));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates (with parents) and returns a subdirectory.
    pub fn subdir(&self, rel: &str) -> PathBuf {
        let p = self.path.join(rel);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_attributed() {
        let a = unique_name("x");
        let b = unique_name("x");
        assert_ne!(a, b);
        assert_eq!(owner_pid(&a), Some(std::process::id()));
        assert_eq!(
            owner_pid(&format!("/tmp/palisade-test/{a}/m")),
            Some(std::process::id())
        );
        assert_eq!(owner_pid("/opt/ptx/abc"), None);
        assert_eq!(owner_pid("eth0"), None);
    }

    #[test]
    fn ifnames_fit_the_kernel_limit() {
        for _ in 0..1000 {
            assert!(ifname("a-very-long-tag-name").len() <= 15);
        }
    }
}

/// Deletes a host network interface (with `ip link del`) when dropped —
/// whether the test passed or panicked. For links a test created with a
/// name from [`ifname`].
///
/// ```no_run
/// let name = palisade_testkit::ifname("va");
/// let _guard = palisade_testkit::LinkGuard::new(&name);
/// // ... create and use the link ...
/// ```
#[derive(Debug)]
pub struct LinkGuard(String);

impl LinkGuard {
    /// Guards the link called `name` (it need not exist yet).
    pub fn new(name: &str) -> LinkGuard {
        LinkGuard(name.to_owned())
    }
}

impl Drop for LinkGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.0])
            .output();
    }
}

/// A named network namespace made with `ip netns add` (so `ip -n NAME`
/// reaches it), deleted with `ip netns del` on drop.
///
/// ```no_run
/// let ns = palisade_testkit::NamedNetns::new(&palisade_testkit::unique_name("bench"));
/// let fd = ns.file(); // nsfs fd of /run/netns/NAME
/// ```
#[derive(Debug)]
pub struct NamedNetns {
    name: String,
    file: std::fs::File,
}

impl NamedNetns {
    /// Creates it; panics if `ip netns add` fails.
    pub fn new(name: &str) -> NamedNetns {
        crate::run("ip", &["netns", "add", name]);
        let path = format!("/run/netns/{name}");
        match std::fs::File::open(&path) {
            Ok(file) => NamedNetns {
                name: name.to_owned(),
                file,
            },
            Err(e) => {
                let _ = crate::try_run("ip", &["netns", "del", name]);
                panic!("cannot open {path}: {e}");
            }
        }
    }

    /// Its name, for `ip -n`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The open nsfs file.
    pub fn file(&self) -> &std::fs::File {
        &self.file
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        let _ = crate::try_run("ip", &["netns", "del", &self.name]);
    }
}
