//! Test support for the palisade crates.
//!
//! Every root integration test in the workspace uses this kit so that the
//! rules of the project hold everywhere:
//!
//! * [`require_root`] skips a test (printing why) when not run as root — but
//!   under `CI=true` a skip is a failure, so CI can never turn green by
//!   skipping. [`skip_absent`] is the only other way to skip: a kernel feature
//!   that was *probed* absent.
//! * [`unique_name`] / [`ifname`] / [`TempDir`] give resources names that are
//!   unique per process, per call and per test, and that the leak snapshot can
//!   attribute to their owning test process.
//! * [`busybox_rootfs`] builds a minimal busybox root filesystem once per
//!   workspace into `target/testkit/rootfs` and reuses it.
//! * [`Snapshot`] / [`assert_no_leaks`] record mounts, cgroup directories,
//!   links of the initial network namespace, `/run/netns` entries and child
//!   processes, and fail listing exactly what a closure left behind.
//! * [`fork_run`] runs a closure in a forked, single-threaded child and brings
//!   back its result or its panic message (for user/mount/time namespace work
//!   that needs a single-threaded process).
//! * [`run`] runs an oracle command (`ip -j`, `lsns -J`, `getcap`, …) and
//!   returns its stdout.

mod fork;
mod leaks;
mod names;
pub mod raw;
mod root;
mod rootfs;

pub use fork::{NsHolder, fork_run, time_in_fork, time_paired};
pub use leaks::{Exclusive, Leaks, Snapshot, assert_no_leaks, exclusive};
pub use names::{LinkGuard, NamedNetns, TempDir, ifname, unique_name};
pub use root::{RootGuard, in_ci, in_guest, is_root, require_root, rounds, skip_absent};
pub use rootfs::busybox_rootfs;

use std::process::Command;

/// Runs `program` with `args` and returns its stdout as a `String`.
///
/// Panics with the command line, exit status and stderr when the program
/// cannot be started or exits unsuccessfully: oracles must not fail silently.
///
/// ```no_run
/// let json = palisade_testkit::run("ip", &["-j", "link", "show", "lo"]);
/// assert!(json.contains("\"lo\""));
/// ```
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} {args:?}: {e} (run scripts/setup.sh?)"));
    if !out.status.success() {
        panic!(
            "{program} {args:?} failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Like [`run`], but returns `Err(stderr)` instead of panicking when the
/// command exits unsuccessfully (for tests that expect a failure).
pub fn try_run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Number of open file descriptors of this process (entries of
/// `/proc/self/fd`, not counting the one used to list them).
pub fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count().saturating_sub(1))
        .unwrap_or(0)
}
