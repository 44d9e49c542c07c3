//! Leak snapshots: what exists on the host that a test could leave behind.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::names::owner_pid;
use std::cell::Cell;
use std::sync::RwLockWriteGuard;

use crate::root::{HOLDS_GUARD, ROOT_TESTS};

/// One category of host state, as a multiset of human-readable entries.
type Entries = BTreeMap<String, usize>;

/// A picture of the host state tests create: mounts of this process's mount
/// namespace, cgroup directories under every mounted hierarchy, links of the
/// initial network namespace, `/run/netns` entries, and this process's
/// children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// `mountpoint (fstype source)` lines of `/proc/self/mountinfo`.
    pub mounts: Entries,
    /// Every directory under every cgroup(2) mount point.
    pub cgroups: Entries,
    /// Interface names of the initial network namespace (`/proc/1/net/dev`).
    pub links: Entries,
    /// Entries of `/run/netns`.
    pub netns: Entries,
    /// `pid comm state` of this process's children.
    pub children: Entries,
}

/// What appeared between two snapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leaks {
    /// Category name → entries that appeared.
    pub items: Vec<(&'static str, String)>,
}

impl Leaks {
    /// No leak found.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether any leaked entry contains `needle`.
    pub fn mentions(&self, needle: &str) -> bool {
        self.items.iter().any(|(_, e)| e.contains(needle))
    }
}

impl fmt::Display for Leaks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (cat, e) in &self.items {
            writeln!(f, "  leaked {cat}: {e}")?;
        }
        Ok(())
    }
}

impl Snapshot {
    /// Reads the current host state.
    ///
    /// ```no_run
    /// let s = palisade_testkit::Snapshot::take();
    /// assert!(s.links.contains_key("lo"));
    /// ```
    pub fn take() -> Snapshot {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts = Entries::new();
        let mut cgroup_roots = Vec::new();
        for line in mountinfo.lines() {
            let Some((pre, post)) = line.split_once(" - ") else {
                continue;
            };
            let mountpoint = pre.split(' ').nth(4).unwrap_or("?");
            let mut post = post.split(' ');
            let fstype = post.next().unwrap_or("?");
            let source = post.next().unwrap_or("?");
            *mounts
                .entry(format!("{mountpoint} ({fstype} {source})"))
                .or_default() += 1;
            if fstype == "cgroup" || fstype == "cgroup2" {
                cgroup_roots.push(PathBuf::from(unescape(mountpoint)));
            }
        }
        let mut cgroups = Entries::new();
        for root in cgroup_roots {
            walk_dirs(&root, &mut cgroups);
        }
        let links = std::fs::read_to_string("/proc/1/net/dev")
            .unwrap_or_default()
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(|n| (n.trim().to_owned(), 1))
            .collect();
        let netns = std::fs::read_dir("/run/netns")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| (e.file_name().to_string_lossy().into_owned(), 1))
                    .collect()
            })
            .unwrap_or_default();
        Snapshot {
            mounts,
            cgroups,
            links,
            netns,
            children: children(),
        }
    }

    /// Entries present now but not in `before`, ignoring resources whose name
    /// marks them as owned by *another live* test process.
    pub fn leaks_since(&self, before: &Snapshot) -> Leaks {
        let mut items = Vec::new();
        let me = std::process::id();
        let foreign = |e: &str| match owner_pid(e) {
            Some(pid) => pid != me && Path::new(&format!("/proc/{pid}")).exists(),
            None => false,
        };
        for (cat, now, then) in [
            ("mount", &self.mounts, &before.mounts),
            ("cgroup", &self.cgroups, &before.cgroups),
            ("link", &self.links, &before.links),
            ("netns", &self.netns, &before.netns),
            ("child process", &self.children, &before.children),
        ] {
            for (e, n) in now {
                if *n > then.get(e).copied().unwrap_or(0) && !foreign(e) {
                    items.push((cat, e.clone()));
                }
            }
        }
        Leaks { items }
    }
}

fn unescape(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn walk_dirs(dir: &Path, out: &mut Entries) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            let p = e.path();
            *out.entry(p.display().to_string()).or_default() += 1;
            walk_dirs(&p, out);
        }
    }
}

fn children() -> Entries {
    let me = std::process::id().to_string();
    let mut out = Entries::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|c| c.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // comm may hold spaces and parens: split after the last ')'.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let comm = stat
            .get(stat.find('(').map_or(0, |i| i + 1)..close)
            .unwrap_or("?");
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().unwrap_or("?");
        if rest.next() == Some(me.as_str()) {
            out.insert(format!("{pid} {comm} {state}"), 1);
        }
    }
    out
}

/// Runs `f` between two snapshots and panics, listing exactly what was left
/// behind, if anything appeared. Waits up to 2 s for asynchronous teardown
/// (reaping, lazy unmounts, netns destruction) before judging.
///
/// Holds the process's root-test lock exclusively, so concurrent root tests
/// of the same binary cannot pollute the picture. Do not call it while your
/// thread holds a [`crate::RootGuard`]; use [`crate::RootGuard::assert_no_leaks`].
///
/// ```no_run
/// palisade_testkit::assert_no_leaks(|| {
///     // create and clean up resources
/// });
/// ```
pub fn assert_no_leaks<R>(f: impl FnOnce() -> R) -> R {
    if HOLDS_GUARD.with(|h| h.get()) {
        panic!("assert_no_leaks called while holding a RootGuard: use RootGuard::assert_no_leaks");
    }
    let _exclusive = exclusive();
    let before = Snapshot::take();
    let r = f();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let leaks = Snapshot::take().leaks_since(&before);
        if leaks.is_empty() {
            return r;
        }
        if Instant::now() >= deadline {
            panic!("resources left behind:\n{leaks}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

thread_local! {
    static HOLDS_EXCLUSIVE: Cell<bool> = const { Cell::new(false) };
}

/// Exclusive hold of the process's root-test lock (re-entrant on one thread):
/// while it lives, no other root test of this process runs. Useful to compare
/// [`Snapshot`]s by hand.
pub struct Exclusive {
    guard: Option<RwLockWriteGuard<'static, ()>>,
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        if self.guard.take().is_some() {
            HOLDS_EXCLUSIVE.with(|h| h.set(false));
        }
    }
}

/// Takes the root-test lock exclusively (see [`Exclusive`]).
pub fn exclusive() -> Exclusive {
    if HOLDS_EXCLUSIVE.with(|h| h.get()) {
        return Exclusive { guard: None };
    }
    let guard = ROOT_TESTS.write().unwrap_or_else(|e| e.into_inner());
    HOLDS_EXCLUSIVE.with(|h| h.set(true));
    Exclusive { guard: Some(guard) }
}
