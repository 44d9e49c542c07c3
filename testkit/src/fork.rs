//! Running a closure in a forked, single-threaded child.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, pipe2};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Runs `f` in a forked child process and returns its result, or the child's
/// panic message / abnormal exit as `Err`.
///
/// The child is single-threaded, so it may `unshare(CLONE_NEWUSER)`, `setns`
/// into a mount, user or time namespace, `chroot`, and so on, without
/// affecting the test process. The result travels back as JSON over a
/// close-on-exec pipe.
///
/// ```no_run
/// let pid = palisade_testkit::fork_run(|| std::process::id()).unwrap();
/// assert_ne!(pid, std::process::id());
/// ```
pub fn fork_run<R, F>(f: F) -> Result<R, String>
where
    R: Serialize + DeserializeOwned,
    F: FnOnce() -> R,
{
    let (rd, wr) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe2: {e}"))?;
    // SAFETY: the child only runs `f` and exits; glibc's fork handlers keep
    // malloc usable in the child of a multi-threaded parent.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(rd);
            child(wr, f)
        }
        ForkResult::Parent { child } => {
            drop(wr);
            let mut buf = Vec::new();
            let mut file = std::fs::File::from(rd);
            let _ = file.read_to_end(&mut buf);
            let status = waitpid(child, None).map_err(|e| format!("waitpid: {e}"))?;
            if buf.is_empty() {
                return Err(match status {
                    WaitStatus::Signaled(_, sig, _) => format!("child killed by {sig:?}"),
                    other => format!("child ended without a result: {other:?}"),
                });
            }
            let out: Result<R, String> =
                serde_json::from_slice(&buf).map_err(|e| format!("bad child result: {e}"))?;
            out
        }
    }
}

fn child<R: Serialize, F: FnOnce() -> R>(wr: OwnedFd, f: F) -> ! {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "child panicked".to_owned())
    });
    let bytes = serde_json::to_vec(&result).unwrap_or_else(|e| {
        serde_json::to_vec(&Err::<(), String>(format!("cannot encode result: {e}"))).unwrap()
    });
    let mut file = std::fs::File::from(wr);
    let _ = file.write_all(&bytes);
    drop(file);
    // SAFETY: _exit skips atexit handlers and destructors of the parent's
    // state that this forked copy must not run.
    unsafe { libc::_exit(0) }
}

/// Benchmark helper: times `iters` calls of `timed` inside one forked,
/// single-threaded child, each right after an untimed call of `other` (the
/// competing implementation), so both contenders run under the same
/// conditions (namespace teardown backlog, credentials, caches). Panics if
/// the child fails.
///
/// ```no_run
/// fn ours() {}
/// fn raw() {}
/// let spent = palisade_testkit::time_in_fork(1000, ours, raw);
/// ```
pub fn time_in_fork(iters: u64, timed: fn(), other: fn()) -> std::time::Duration {
    let nanos: u64 = fork_run(move || time_paired(iters, timed, other).as_nanos() as u64)
        .expect("benchmark child failed");
    std::time::Duration::from_nanos(nanos)
}

/// Benchmark helper for `iter_custom`: `iters` rounds of an untimed call of
/// `other` (the competing implementation) followed by a timed call of
/// `timed`. Measuring `ours` with `(ours, raw)` and `raw` with
/// `(raw, ours)` makes both run interleaved under the same conditions —
/// the kernel's deferred work from the previous call (unmounts, RCU
/// callbacks), caches, the neighbour's load — instead of one contender's
/// samples all coming minutes after the other's.
///
/// ```
/// let spent = palisade_testkit::time_paired(10, || {}, || {});
/// assert!(spent < std::time::Duration::from_secs(1));
/// ```
pub fn time_paired(
    iters: u64,
    mut timed: impl FnMut(),
    mut other: impl FnMut(),
) -> std::time::Duration {
    let mut total = std::time::Duration::ZERO;
    for _ in 0..iters {
        other();
        let start = std::time::Instant::now();
        timed();
        total += start.elapsed();
    }
    total
}

/// A child process that unshared the namespaces `flags` (`CLONE_NEWNET`,
/// `CLONE_NEWUTS`, `CLONE_NEWIPC`, `CLONE_NEWCGROUP`, …) and pauses until
/// dropped: namespaces for tests and benchmarks to join, at
/// `/proc/<pid>/ns/*`. Dropping kills and reaps it.
///
/// ```no_run
/// let holder = palisade_testkit::NsHolder::new(libc::CLONE_NEWNET);
/// let netns = std::fs::File::open(format!("/proc/{}/ns/net", holder.pid())).unwrap();
/// ```
#[derive(Debug)]
pub struct NsHolder {
    pid: nix::unistd::Pid,
}

impl NsHolder {
    /// Forks the holder; returns once it is inside its new namespaces.
    /// Panics if it could not unshare them.
    pub fn new(flags: libc::c_int) -> NsHolder {
        let (rd, wr) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe2");
        // SAFETY: the child only unshares, reports and pauses.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                drop(rd);
                // SAFETY: plain syscalls in the single-threaded child.
                unsafe {
                    if libc::unshare(flags) == 0 {
                        libc::write(
                            std::os::fd::AsRawFd::as_raw_fd(&wr),
                            [1u8].as_ptr().cast(),
                            1,
                        );
                    }
                    drop(wr);
                    loop {
                        libc::pause();
                    }
                }
            }
            ForkResult::Parent { child } => {
                drop(wr);
                let holder = NsHolder { pid: child };
                let mut ready = [0u8; 1];
                let n = std::fs::File::from(rd).read(&mut ready).unwrap_or(0);
                assert_eq!(n, 1, "namespace holder could not unshare {flags:#x}");
                holder
            }
        }
    }

    /// Its pid.
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_and_panic_come_back() {
        let pid = fork_run(std::process::id).unwrap();
        assert_ne!(pid, std::process::id());
        let err = fork_run(|| -> u32 { panic!("boom {}", 42) }).unwrap_err();
        assert!(err.contains("boom 42"), "{err}");
    }
}
