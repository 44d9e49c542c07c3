//! Which cgroup hierarchies are mounted where: unified, legacy or hybrid.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use memchr::{memchr, memmem};

use crate::{Error, Result};

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;

/// A resource controller.
///
/// ```
/// use palisade_cgroup::Controller;
/// assert_eq!(Controller::Io.v1_name(), "blkio");
/// assert_eq!(Controller::Io.v2_name(), Some("io"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Controller {
    /// CPU bandwidth and weight.
    Cpu,
    /// CPU accounting (v1 only; part of `cpu` in v2).
    Cpuacct,
    /// CPU and memory-node placement.
    Cpuset,
    /// Memory limits.
    Memory,
    /// Process-count limit.
    Pids,
    /// Block I/O (`blkio` in v1, `io` in v2).
    Io,
    /// Huge-page limits.
    Hugetlb,
    /// Device access lists (v1; eBPF in v2).
    Devices,
    /// Freezer (v1; `cgroup.freeze` is built into v2).
    Freezer,
}

impl Controller {
    /// Every controller palisade manages.
    pub const ALL: [Controller; 9] = [
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Memory,
        Controller::Pids,
        Controller::Io,
        Controller::Hugetlb,
        Controller::Devices,
        Controller::Freezer,
    ];

    /// Name in a v1 mount's options and in `/proc/<pid>/cgroup`.
    pub const fn v1_name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Io => "blkio",
            Controller::Hugetlb => "hugetlb",
            Controller::Devices => "devices",
            Controller::Freezer => "freezer",
        }
    }

    /// Name in `cgroup.controllers`, or `None` where v2 has no such
    /// controller (cpuacct, devices, freezer are built in or eBPF).
    pub const fn v2_name(self) -> Option<&'static str> {
        match self {
            Controller::Cpu => Some("cpu"),
            Controller::Cpuset => Some("cpuset"),
            Controller::Memory => Some("memory"),
            Controller::Pids => Some("pids"),
            Controller::Io => Some("io"),
            Controller::Hugetlb => Some("hugetlb"),
            Controller::Cpuacct | Controller::Devices | Controller::Freezer => None,
        }
    }

    fn from_v1_name(name: &str) -> Option<Controller> {
        Controller::ALL.into_iter().find(|c| c.v1_name() == name)
    }

    fn from_v2_name(name: &str) -> Option<Controller> {
        Controller::ALL
            .into_iter()
            .find(|c| c.v2_name() == Some(name))
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.v2_name().unwrap_or(self.v1_name()))
    }
}

/// How the machine's cgroups are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Mode {
    /// Only cgroup2.
    Unified,
    /// Only v1 controller hierarchies.
    Legacy,
    /// v1 controllers plus a cgroup2 tree (systemd's "hybrid").
    Hybrid,
}

/// One cgroup filesystem mount found in `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// `true` for cgroup2.
    pub unified: bool,
    /// The v1 controllers of the mount (empty for cgroup2 and named ones).
    pub controllers: Vec<Controller>,
}

/// Finds every cgroup mount in mountinfo text. Octal escapes in mount
/// points (`\040` for space) are decoded. Malformed lines are skipped.
///
/// ```
/// let text = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
///             41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
/// let mounts = palisade_cgroup::parse_mountinfo(text);
/// assert_eq!(mounts.len(), 2);
/// assert!(mounts[1].unified);
/// ```
pub fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    let mut mounts = Vec::new();
    let bytes = text.as_bytes();
    let finder = memmem::Finder::new(b" - cgroup");
    let mut start = 0;
    while start < bytes.len() {
        let end = memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let line = &text[start..end];
        start = end + 1;
        if finder.find(line.as_bytes()).is_none() {
            continue;
        }
        if let Some(mount) = parse_line(line) {
            mounts.push(mount);
        }
    }
    mounts
}

fn parse_line(line: &str) -> Option<CgroupMount> {
    let (left, right) = line.split_once(" - ")?;
    let mut right = right.split(' ');
    let fstype = right.next()?;
    let _source = right.next()?;
    let super_opts = right.next().unwrap_or("");
    let mount_point = unescape_octal(left.split(' ').nth(4)?);
    match fstype {
        "cgroup2" => Some(CgroupMount {
            mount_point,
            unified: true,
            controllers: Vec::new(),
        }),
        "cgroup" => Some(CgroupMount {
            mount_point,
            unified: false,
            controllers: super_opts
                .split(',')
                .filter_map(Controller::from_v1_name)
                .collect(),
        }),
        _ => None,
    }
}

fn unescape_octal(s: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// The cgroup layout of this machine: mode, the cgroup2 mount, and the
/// mount of each v1 controller.
///
/// ```no_run
/// use palisade_cgroup::{Controller, Hierarchy, Mode};
/// let h = Hierarchy::detect()?;
/// if h.mode() == Mode::Hybrid {
///     println!("memory (v1) at {}", h.v1_mount(Controller::Memory)?.display());
/// }
/// # Ok::<(), palisade_cgroup::Error>(())
/// ```
///
/// Cloning is a reference-count bump: every [`Cgroup`](crate::Cgroup) keeps
/// the layout it was made on without copying the mount table.
#[derive(Debug, Clone)]
pub struct Hierarchy(Arc<Layout>);

#[derive(Debug)]
struct Layout {
    mode: Mode,
    unified: Option<PathBuf>,
    v1: Vec<(Controller, PathBuf)>,
    v2_controllers: Vec<Controller>,
}

impl Hierarchy {
    /// Reads `/proc/self/mountinfo`, confirms each mount with `statfs`, and
    /// reads the cgroup2 root's `cgroup.controllers`.
    pub fn detect() -> Result<Hierarchy> {
        let info = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
        let mut unified = None;
        let mut v1 = Vec::new();
        for m in parse_mountinfo(&info) {
            let magic = statfs_magic(&m.mount_point);
            if m.unified && magic == Some(CGROUP2_SUPER_MAGIC) {
                // The first cgroup2 mount wins (later ones are usually
                // bind mounts of it into containers).
                unified.get_or_insert(m.mount_point);
            } else if !m.unified && magic == Some(CGROUP_SUPER_MAGIC) {
                for c in m.controllers {
                    if !v1.iter().any(|(have, _)| *have == c) {
                        v1.push((c, m.mount_point.clone()));
                    }
                }
            }
        }
        let v2_controllers = match &unified {
            Some(root) => std::fs::read_to_string(root.join("cgroup.controllers"))
                .map(|s| {
                    s.split_whitespace()
                        .filter_map(Controller::from_v2_name)
                        .collect()
                })
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let mode = match (&unified, v1.is_empty()) {
            (Some(_), true) => Mode::Unified,
            (Some(_), false) => Mode::Hybrid,
            (None, false) => Mode::Legacy,
            (None, true) => return Err(Error::NotMounted),
        };
        Ok(Hierarchy(Arc::new(Layout {
            mode,
            unified,
            v1,
            v2_controllers,
        })))
    }

    /// [`detect`](Hierarchy::detect) once per process.
    pub fn cached() -> Result<&'static Hierarchy> {
        static CACHE: OnceLock<Hierarchy> = OnceLock::new();
        if let Some(h) = CACHE.get() {
            return Ok(h);
        }
        let h = Hierarchy::detect()?;
        Ok(CACHE.get_or_init(|| h))
    }

    /// The same layout with the cgroup2 tree left out: a hybrid host seen
    /// as pure v1, as runc and most libraries see it. Groups made on it lose
    /// what only cgroup2 gives on hybrid hosts (`CLONE_INTO_CGROUP`,
    /// `cgroup.kill`, populated events) and save one migration per process.
    /// On a unified host it is an empty layout: every controller is missing.
    ///
    /// ```no_run
    /// let v1 = palisade_cgroup::Hierarchy::detect()?.legacy_only();
    /// assert!(v1.unified().is_none());
    /// # Ok::<(), palisade_cgroup::Error>(())
    /// ```
    pub fn legacy_only(&self) -> Hierarchy {
        Hierarchy(Arc::new(Layout {
            mode: Mode::Legacy,
            unified: None,
            v1: self.0.v1.clone(),
            v2_controllers: Vec::new(),
        }))
    }

    /// Unified, legacy or hybrid.
    pub fn mode(&self) -> Mode {
        self.0.mode
    }

    /// The cgroup2 mount point, if any.
    pub fn unified(&self) -> Option<&Path> {
        self.0.unified.as_deref()
    }

    /// The v1 mount point of `controller`.
    pub fn v1_mount(&self, controller: Controller) -> Result<&Path> {
        self.0
            .v1
            .iter()
            .find(|(c, _)| *c == controller)
            .map(|(_, p)| p.as_path())
            .ok_or(Error::ControllerMissing {
                controller: controller.v1_name(),
            })
    }

    /// Every mounted v1 controller and its mount point.
    pub fn v1_mounts(&self) -> &[(Controller, PathBuf)] {
        &self.0.v1
    }

    /// Controllers available in the cgroup2 root.
    pub fn v2_controllers(&self) -> &[Controller] {
        &self.0.v2_controllers
    }

    /// Where `controller` lives: v2 when the cgroup2 root offers it, else
    /// its v1 mount; `ControllerMissing` when neither.
    pub fn placement(&self, controller: Controller) -> Result<Placement<'_>> {
        if self.0.v2_controllers.contains(&controller) {
            if let Some(root) = &self.0.unified {
                return Ok(Placement::V2(root));
            }
        }
        self.v1_mount(controller).map(Placement::V1)
    }
}

/// Where a controller's files are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement<'a> {
    /// In the cgroup2 tree rooted here.
    V2(&'a Path),
    /// In the v1 hierarchy mounted here.
    V1(&'a Path),
}

fn statfs_magic(path: &Path) -> Option<i64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: valid C string and out-pointer.
    if unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: statfs succeeded.
    Some(unsafe { st.assume_init() }.f_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/my\\040tree rw,relatime - cgroup2 cgroup2 rw
garbage line
";

    #[test]
    fn parses_combined_named_and_escaped_mounts() {
        let m = parse_mountinfo(HYBRID);
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].controllers, [Controller::Cpu, Controller::Cpuacct]);
        assert!(
            m[2].controllers.is_empty(),
            "named hierarchy has no controller"
        );
        assert_eq!(m[3].mount_point, PathBuf::from("/sys/fs/cgroup/my tree"));
        assert!(m[3].unified);
    }

    #[test]
    fn odd_input_does_not_panic() {
        for text in [
            "",
            "\n\n",
            " - cgroup",
            "a b c d - cgroup x",
            "\\",
            "1 2 3 4 \\0 - cgroup2 x y",
        ] {
            let _ = parse_mountinfo(text);
        }
    }
}
