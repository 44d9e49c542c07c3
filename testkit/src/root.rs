//! Root checks and skips.

use std::cell::Cell;
use std::sync::{RwLock, RwLockReadGuard};

/// Root tests of one process hold this lock shared; [`crate::assert_no_leaks`]
/// holds it exclusively, so a leak check never sees another test's resources.
pub(crate) static ROOT_TESTS: RwLock<()> = RwLock::new(());

thread_local! {
    /// Whether this thread holds a [`RootGuard`] (to catch a self-deadlock).
    pub(crate) static HOLDS_GUARD: Cell<bool> = const { Cell::new(false) };
}

/// `true` when the effective uid is 0.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Whether the caller runs inside the QEMU guest lane (scripts/test-vm.sh),
/// told by the kernel command line `scripts/vm-run` sets.
pub fn in_guest() -> bool {
    std::fs::read_to_string("/proc/cmdline").is_ok_and(|c| c.contains("palisade.run="))
}

/// `n` on the host; a tenth of it (at least 5) in the QEMU guest lane,
/// where every spawn is emulated: loops that hunt races need many rounds
/// on real hardware, the guest lane checks the cgroup-v2 behaviour.
///
/// ```
/// assert!(palisade_testkit::rounds(150) >= 15);
/// ```
pub fn rounds(n: usize) -> usize {
    if in_guest() { (n / 10).max(5) } else { n }
}

/// `true` when the `CI` environment variable is `true` (or `1`).
pub fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

/// Proof that the test runs as root; while alive it keeps leak checks of
/// other tests of this process from running concurrently.
///
/// Use [`RootGuard::assert_no_leaks`] for a leak-checked section.
pub struct RootGuard {
    _shared: RwLockReadGuard<'static, ()>,
}

impl RootGuard {
    /// Runs `f` with the leak snapshot around it (see [`crate::assert_no_leaks`]).
    /// The guard is given up while `f` runs exclusively and taken again after.
    pub fn assert_no_leaks<R>(self, f: impl FnOnce() -> R) -> (Self, R) {
        drop(self);
        let r = crate::assert_no_leaks(f);
        let guard = RootGuard::take();
        (guard, r)
    }

    fn take() -> Self {
        let shared = ROOT_TESTS.read().unwrap_or_else(|e| e.into_inner());
        HOLDS_GUARD.with(|h| h.set(true));
        RootGuard { _shared: shared }
    }
}

impl Drop for RootGuard {
    fn drop(&mut self) {
        HOLDS_GUARD.with(|h| h.set(false));
    }
}

/// Returns a [`RootGuard`] when running as root.
///
/// Otherwise prints `SKIP <test>: needs root (<why>)` and returns `None` —
/// except under `CI=true`, where it panics: CI must never pass by skipping.
///
/// ```no_run
/// let Some(_root) = palisade_testkit::require_root("creates a netns") else { return };
/// ```
pub fn require_root(why: &str) -> Option<RootGuard> {
    if is_root() {
        return Some(RootGuard::take());
    }
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    if in_ci() {
        panic!("{test}: needs root ({why}) and CI=true forbids skipping");
    }
    eprintln!("SKIP {test}: needs root ({why})");
    None
}

/// Skips the current test because a kernel feature was probed absent.
/// Prints `SKIP <test>: <feature> absent: <why>`; allowed under CI, since
/// the feature truly is not there. Call it and `return`.
pub fn skip_absent(feature: &str, why: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    eprintln!("SKIP {test}: {feature} absent: {why}");
}
