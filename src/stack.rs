//! A stack for a process cloned with `CLONE_VM` (see
//! `child::join_pid_namespace`): anonymous memory mapped by the parent
//! before the clone, with a `PROT_NONE` guard page below it so an overflow
//! faults instead of writing over the heap. Pages are touched only when
//! used (`MAP_NORESERVE`).

/// The usable size: as much as a thread of the caller gets by default.
const SIZE: usize = 2 << 20;
const GUARD: usize = 4096;

pub(crate) struct GuardedStack {
    base: *mut libc::c_void,
}

// SAFETY: the mapping is owned memory; nothing is shared through it.
unsafe impl Send for GuardedStack {}
// SAFETY: as above; only the cloned child writes to it.
unsafe impl Sync for GuardedStack {}

impl GuardedStack {
    pub(crate) fn new() -> std::io::Result<GuardedStack> {
        // SAFETY: a fresh anonymous mapping, then protecting its first page.
        unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                SIZE + GUARD,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return Err(std::io::Error::last_os_error());
            }
            let stack = GuardedStack { base };
            if libc::mprotect(base, GUARD, libc::PROT_NONE) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(stack)
        }
    }

    /// The top of the stack (it grows down), 16-byte aligned.
    pub(crate) fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of our mapping.
        unsafe { self.base.cast::<u8>().add(SIZE + GUARD).cast() }
    }
}

impl Drop for GuardedStack {
    fn drop(&mut self) {
        // SAFETY: our mapping, unmapped once.
        unsafe { libc::munmap(self.base, SIZE + GUARD) };
    }
}

impl std::fmt::Debug for GuardedStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuardedStack")
    }
}
