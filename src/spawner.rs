//! The thread that forks every container.
//!
//! A container's parent-death signal is tied to the *thread* that forked
//! it (`PR_SET_PDEATHSIG`, prctl(2)): forked from a caller's short-lived
//! thread — a Tokio blocking worker that is retired, a scoped thread — the
//! container would be killed when that thread ends. So one thread per
//! process, started on first use and never ended, makes every `clone3`;
//! the caller waits for it. It also holds per-thread namespace state for
//! the fork: to start a program *inside* another pid namespace (not just
//! its children), the forking thread enters it with `setns` before the
//! fork and returns to its own afterwards.
//!
//! The thread blocks every signal so it never takes one meant for the
//! process; the child resets its mask and dispositions before the program
//! runs.

use std::sync::{Mutex, mpsc};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The spawner of this process, with the pid it was started in: a process
/// forked from this one inherits the sender but not the thread, and gets
/// its own.
static SPAWNER: Mutex<Option<(u32, mpsc::Sender<Job>)>> = Mutex::new(None);

fn sender() -> mpsc::Sender<Job> {
    let mut slot = SPAWNER.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if let Some((owner, tx)) = slot.as_ref() {
        if *owner == pid {
            return tx.clone();
        }
    }
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("palisade-spawner".into())
        .spawn(move || {
            // SAFETY: blocking signals in this thread only.
            unsafe {
                let mut all: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut all);
                libc::pthread_sigmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
            }
            for job in rx {
                // A panicking job drops its result sender: the caller
                // reports it; the thread lives on.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
        })
        .expect("starting the palisade-spawner thread");
    *slot = Some((pid, tx.clone()));
    tx
}

/// Runs `f` on the spawner thread and returns what it returns. In the
/// clone child, `f` never returns (it execs or exits).
pub(crate) fn run<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let (tx, rx) = mpsc::sync_channel::<R>(1);
    let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
        let _ = tx.send(f());
    });
    // SAFETY: the job borrows from this frame; we do not return before it
    // has run to its end: either it sent its result, or it panicked and
    // dropped `tx` (recv fails), or the send failed and the job came back
    // to us and is dropped here, unrun.
    let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
    if let Err(mpsc::SendError(job)) = sender().send(job) {
        drop(job);
        panic!("the palisade-spawner thread is gone");
    }
    match rx.recv() {
        Ok(r) => r,
        Err(_) => panic!("forking a container panicked on the palisade-spawner thread"),
    }
}
