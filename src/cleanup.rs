//! Removing what a killed spawner left on the host.
//!
//! When the process that spawned containers is killed with SIGKILL, its
//! containers die too (their first process has a parent-death signal and
//! takes its pid namespace with it) and a veth's host end disappears with
//! the container's network namespace. What can remain:
//! - cgroup directories (created by `Container::cgroup`, now empty);
//! - an overlay root mounted under `/run/palisade/rootfs-<pid>-<n>` if the
//!   spawner died during the spawn itself;
//! - host interfaces whose container side was never created.

use std::path::{Path, PathBuf};

use palisade_cgroup::{Cgroup, Hierarchy};

/// What [`cleanup_stale`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CleanupReport {
    /// Cgroups removed (paths relative to the hierarchy root).
    pub cgroups: Vec<String>,
    /// Overlay mount points unmounted and removed.
    pub mounts: Vec<PathBuf>,
    /// Host interfaces deleted.
    pub links: Vec<String>,
    /// What could not be removed, and why.
    pub errors: Vec<String>,
}

/// Removes leftovers of killed spawners: top-level cgroups whose name starts
/// with `prefix` (killing anything still in them), host interfaces whose
/// name starts with `prefix`, and overlay roots of spawner processes that
/// no longer exist. Never touches anything else: the prefix is yours to
/// choose so that it names only your containers.
///
/// ```no_run
/// let report = palisade::cleanup_stale("myrt-")?;
/// println!("removed {} cgroups", report.cgroups.len());
/// # Ok::<(), palisade::Error>(())
/// ```
pub fn cleanup_stale(prefix: &str) -> Result<CleanupReport, crate::Error> {
    if prefix.len() < 3 || prefix.contains('/') {
        return Err(crate::Error::Cleanup(format!(
            "prefix {prefix:?} must be at least 3 characters without '/' (it selects what is deleted)"
        )));
    }
    let mut report = CleanupReport::default();
    let h = Hierarchy::detect()?;
    let mut roots: Vec<PathBuf> = h.unified().map(Path::to_owned).into_iter().collect();
    roots.extend(h.v1_mounts().iter().map(|(_, p)| p.clone()));
    let mut names: Vec<String> = Vec::new();
    for root in &roots {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(prefix) && e.path().is_dir() && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    for name in names {
        match Cgroup::open(&name).and_then(Cgroup::delete) {
            Ok(()) => report.cgroups.push(name),
            Err(e) => report.errors.push(format!("cgroup {name}: {e}")),
        }
    }
    if let Ok(mut nl) = palisade_netlink::Netlink::new() {
        if let Ok(links) = nl.links() {
            for l in links.into_iter().filter(|l| l.name.starts_with(prefix)) {
                match nl.delete_link(&l.name) {
                    Ok(()) => report.links.push(l.name),
                    // Gone meanwhile: its network namespace was just freed.
                    Err(palisade_netlink::Error::NotFound { .. }) => {}
                    Err(e) => report.errors.push(format!("link {}: {e}", l.name)),
                }
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir("/run/palisade") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix("rootfs-")
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if Path::new(&format!("/proc/{pid}")).exists() {
                continue; // its spawner is alive
            }
            let path = e.path();
            let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
            match std::fs::remove_dir(&path) {
                Ok(()) => report.mounts.push(path),
                Err(err) => report.errors.push(format!("{}: {err}", path.display())),
            }
        }
    }
    Ok(report)
}
