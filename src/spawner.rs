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

use palisade_ns::{Namespace, NsId, NsKind};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The namespaces the spawner thread is in, by [`NsKind::ALL`] order
/// (`None`: that kind unknown to the kernel). What a clone3 from it
/// inherits; read once when the thread starts — nothing ever moves the
/// thread (a time namespace is entered on a helper thread of its own).
pub(crate) type NamespaceIds = [Option<NsId>; NsKind::ALL.len()];

/// The spawner of this process, with the pid it was started in: a process
/// forked from this one inherits the sender but not the thread, and gets
/// its own.
static SPAWNER: Mutex<Option<(u32, mpsc::Sender<Job>, NamespaceIds)>> = Mutex::new(None);

fn sender() -> (mpsc::Sender<Job>, NamespaceIds) {
    let mut slot = SPAWNER.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if let Some((owner, tx, ids)) = slot.as_ref() {
        if *owner == pid {
            return (tx.clone(), *ids);
        }
    }
    let (tx, rx) = mpsc::channel::<Job>();
    let (ids_tx, ids_rx) = mpsc::sync_channel::<NamespaceIds>(1);
    std::thread::Builder::new()
        .name("palisade-spawner".into())
        .spawn(move || {
            // SAFETY: blocking signals in this thread only.
            unsafe {
                let mut all: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut all);
                libc::pthread_sigmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
            }
            let ids = NsKind::ALL.map(|k| Namespace::current(k).and_then(|n| n.id()).ok());
            let _ = ids_tx.send(ids);
            for job in rx {
                // A panicking job drops its result sender: the caller
                // reports it; the thread lives on.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
        })
        .expect("starting the palisade-spawner thread");
    let ids = ids_rx
        .recv()
        .expect("the palisade-spawner thread reads its namespaces");
    *slot = Some((pid, tx.clone(), ids));
    (tx, ids)
}

/// The namespaces a container cloned now would start in (see
/// [`NamespaceIds`]): an exec joins those of the container that differ.
pub(crate) fn namespace_ids() -> NamespaceIds {
    sender().1
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
    if let Err(mpsc::SendError(job)) = sender().0.send(job) {
        drop(job);
        panic!("the palisade-spawner thread is gone");
    }
    match rx.recv() {
        Ok(r) => r,
        Err(_) => panic!("forking a container panicked on the palisade-spawner thread"),
    }
}
