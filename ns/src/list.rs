//! Every namespace on the system, as `lsns` shows them.

use std::collections::BTreeMap;

use crate::{Namespace, NsId, NsKind, Result};

/// One namespace and who is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NsEntry {
    /// Identity (the `NS` column of `lsns`).
    pub id: NsId,
    /// Kind.
    pub kind: NsKind,
    /// Processes in it.
    pub nprocs: usize,
    /// Lowest pid in it.
    pub pid: i32,
    /// That process's command name.
    pub command: String,
}

/// Walks `/proc` and groups processes by namespace, like `lsns`
/// (optionally only one kind). Processes that exit or hide their
/// namespaces from us during the walk are skipped.
///
/// ```no_run
/// for ns in palisade_ns::list_namespaces(None)? {
///     println!("{} {} {} {}", ns.id, ns.kind, ns.nprocs, ns.command);
/// }
/// # Ok::<(), palisade_ns::Error>(())
/// ```
pub fn list_namespaces(only: Option<NsKind>) -> Result<Vec<NsEntry>> {
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .map_err(|e| {
            crate::Error::at(
                "read_dir",
                "/proc",
                nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            )
        })?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    let mut found: BTreeMap<(NsId, NsKind), NsEntry> = BTreeMap::new();
    for pid in pids {
        for kind in NsKind::ALL {
            if only.is_some_and(|k| k != kind) {
                continue;
            }
            let Ok(id) = Namespace::of_pid(pid, kind).and_then(|ns| ns.id()) else {
                continue;
            };
            found
                .entry((id, kind))
                .or_insert_with(|| NsEntry {
                    id,
                    kind,
                    nprocs: 0,
                    pid,
                    command: std::fs::read_to_string(format!("/proc/{pid}/comm"))
                        .map(|s| s.trim().to_owned())
                        .unwrap_or_default(),
                })
                .nprocs += 1;
        }
    }
    Ok(found.into_values().collect())
}
