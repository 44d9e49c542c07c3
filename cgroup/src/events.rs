//! Blocking notification of cgroup state changes: OOM kills, populated →
//! empty, freeze — the moment the kernel reports them, without polling.
//!
//! * cgroup2 files (`memory.events`, `cgroup.events`) raise `IN_MODIFY` on
//!   change: one inotify fd watches them.
//! * v1 memory: an eventfd registered on `memory.oom_control` through
//!   `cgroup.event_control` fires on every OOM in the group.
//! * A pure-v1 host has no populated notification (only the release agent,
//!   a host-global setting), so "populated" is re-read every 100 ms there.
//!
//! Each wake-up re-reads the counters and reports what differs from the last
//! reading, so no change is lost when several coalesce into one wake-up.

use std::collections::VecDeque;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::hierarchy::Controller;
use crate::{Cgroup, Error, Result};

/// Re-read interval where the kernel gives no notification (pure v1).
const POLL_FALLBACK: Duration = Duration::from_millis(100);

/// One change of a cgroup's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Event {
    /// The OOM killer killed a process of the group; `total` counts every
    /// kill so far.
    OomKill {
        /// Kills since the group was created.
        total: u64,
    },
    /// The group ran out of memory (the limit was hit and reclaim failed);
    /// usually followed by [`Event::OomKill`].
    Oom,
    /// Processes entered the empty group (`true`) or the last one left
    /// (`false`).
    Populated(bool),
    /// The group finished freezing (`true`) or thawed (`false`).
    Frozen(bool),
}

/// What the last reading showed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Snapshot {
    oom: u64,
    oom_kill: u64,
    populated: Option<bool>,
    frozen: Option<bool>,
}

/// A stream of [`Event`]s of one cgroup, from [`Cgroup::events`].
///
/// Iterating blocks until the next change; the iterator ends when the group
/// is removed. [`Events::next_timeout`] waits at most a given time.
///
/// ```no_run
/// use palisade_cgroup::{Cgroup, Event};
/// let cg = Cgroup::open("palisade/demo")?;
/// for event in cg.events()? {
///     match event? {
///         Event::OomKill { total } => println!("OOM kill #{total}"),
///         Event::Populated(false) => break,
///         other => println!("{other:?}"),
///     }
/// }
/// # Ok::<(), palisade_cgroup::Error>(())
/// ```
#[derive(Debug)]
pub struct Events {
    cgroup: Cgroup,
    /// Watches the cgroup2 files.
    inotify: Option<OwnedFd>,
    /// Signalled on every v1 OOM of the group.
    oom_eventfd: Option<OwnedFd>,
    /// Kept open: the eventfd registration lives as long as this file.
    _oom_control: Option<File>,
    /// The v2 `cgroup.events`, when there is one.
    cgroup_events: Option<PathBuf>,
    last: Snapshot,
    pending: VecDeque<Event>,
    /// The group was removed: report what is pending, then end.
    gone: bool,
}

impl Cgroup {
    /// Starts watching the group's state. The first reading is the baseline:
    /// only later changes are reported.
    ///
    /// ```no_run
    /// # let cg = palisade_cgroup::Cgroup::open("palisade/demo")?;
    /// let mut events = cg.events()?;
    /// if let Some(e) = events.next_timeout(std::time::Duration::from_secs(1))? {
    ///     println!("{e:?}");
    /// }
    /// # Ok::<(), palisade_cgroup::Error>(())
    /// ```
    pub fn events(&self) -> Result<Events> {
        let mut inotify = None;
        let mut watch = |file: &Path| -> Result<()> {
            if !file.exists() {
                return Ok(());
            }
            if inotify.is_none() {
                // SAFETY: plain syscall; the fd is owned right away.
                let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
                if fd < 0 {
                    return Err(Error::io(
                        "inotify_init1",
                        file,
                        std::io::Error::last_os_error(),
                    ));
                }
                // SAFETY: fd is a fresh descriptor nobody else owns.
                inotify = Some(unsafe { OwnedFd::from_raw_fd(fd) });
            }
            let cpath =
                CString::new(file.as_os_str().as_bytes()).map_err(|_| Error::InvalidPath {
                    path: file.display().to_string(),
                    reason: "contains a NUL byte",
                })?;
            let fd = inotify.as_ref().map_or(-1, |f| f.as_raw_fd());
            // SAFETY: valid fd and NUL-terminated path.
            let wd = unsafe { libc::inotify_add_watch(fd, cpath.as_ptr(), libc::IN_MODIFY) };
            if wd < 0 {
                return Err(Error::io(
                    "inotify_add_watch",
                    file,
                    std::io::Error::last_os_error(),
                ));
            }
            Ok(())
        };

        let cgroup_events = self
            .v2_dir()
            .map(|d| d.join("cgroup.events"))
            .filter(|f| f.exists());
        if let Some(file) = &cgroup_events {
            watch(file)?;
        }
        let (mut oom_eventfd, mut oom_control) = (None, None);
        if let Ok(dir) = self.dir_of(Controller::Memory) {
            if Some(dir) == self.v2_dir() {
                watch(&dir.join("memory.events"))?;
            } else {
                let (efd, control) = register_v1_oom(dir)?;
                oom_eventfd = Some(efd);
                oom_control = Some(control);
            }
        }
        let mut events = Events {
            cgroup: self.clone(),
            inotify,
            oom_eventfd,
            _oom_control: oom_control,
            cgroup_events,
            last: Snapshot::default(),
            pending: VecDeque::new(),
            gone: false,
        };
        events.last = events.read()?;
        Ok(events)
    }
}

/// `echo "<eventfd> <oom_control fd>" > cgroup.event_control`.
fn register_v1_oom(dir: &Path) -> Result<(OwnedFd, File)> {
    let control_path = dir.join("memory.oom_control");
    let control = File::open(&control_path).map_err(|e| Error::io("open", &control_path, e))?;
    // SAFETY: plain syscall; the fd is owned right away.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if efd < 0 {
        return Err(Error::io("eventfd", dir, std::io::Error::last_os_error()));
    }
    // SAFETY: efd is a fresh descriptor nobody else owns.
    let efd = unsafe { OwnedFd::from_raw_fd(efd) };
    let line = format!("{} {}", efd.as_raw_fd(), control.as_raw_fd());
    crate::cgroup::write_file(&dir.join("cgroup.event_control"), &line)?;
    Ok((efd, control))
}

impl Events {
    /// The next change, waiting at most `timeout`; `Ok(None)` when nothing
    /// changed in that time or the group is gone.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Event>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(Some(e));
            }
            if self.gone {
                return Ok(None);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let woke = self.wait(left)?;
            self.refresh()?;
            if !woke && Instant::now() >= deadline && self.pending.is_empty() {
                return Ok(None);
            }
        }
    }

    /// Is the group still there? (It ends the stream once removed.)
    pub fn is_gone(&self) -> bool {
        self.gone
    }

    /// Sleeps until a notification fd is readable or `timeout` passes;
    /// drains what woke it. Returns whether anything did.
    fn wait(&mut self, timeout: Duration) -> Result<bool> {
        let needs_polling = self.cgroup_events.is_none();
        let timeout = if needs_polling {
            timeout.min(POLL_FALLBACK)
        } else {
            timeout
        };
        let mut fds: Vec<libc::pollfd> = [&self.inotify, &self.oom_eventfd]
            .into_iter()
            .flatten()
            .map(|fd| libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: fds is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
        if n < 0 {
            let errno = Errno::last();
            if errno == Errno::EINTR {
                return Ok(false);
            }
            return Err(Error::Io {
                op: "poll",
                path: self
                    .cgroup
                    .dirs_iter()
                    .next()
                    .unwrap_or(Path::new(""))
                    .to_owned(),
                errno,
            });
        }
        if n == 0 {
            return Ok(false);
        }
        if let Some(fd) = &self.inotify {
            if self.drain_inotify(fd.as_raw_fd()) {
                self.gone = true;
            }
        }
        if let Some(fd) = &self.oom_eventfd {
            let mut count = 0u64;
            // SAFETY: reads 8 bytes into a u64; non-blocking fd.
            let r = unsafe { libc::read(fd.as_raw_fd(), (&raw mut count).cast(), 8) };
            if r == 8 {
                // Also signalled when the group is removed.
                if !self.cgroup.dirs_iter().any(Path::exists) {
                    self.gone = true;
                } else {
                    self.pending.push_back(Event::Oom);
                }
            }
        }
        Ok(true)
    }

    /// Reads every queued inotify record; true when a watch was removed
    /// (`IN_IGNORED`: the file's group was deleted).
    fn drain_inotify(&self, fd: i32) -> bool {
        let mut buf = [0u8; 4096];
        let mut ignored = false;
        loop {
            // SAFETY: reads into a local buffer of the given size.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return ignored;
            }
            let mut off = 0usize;
            let header = std::mem::size_of::<libc::inotify_event>();
            while off + header <= n as usize {
                // SAFETY: the kernel wrote whole records; read_unaligned
                // copes with the byte buffer's alignment.
                let ev: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(buf[off..].as_ptr().cast()) };
                ignored |= ev.mask & libc::IN_IGNORED != 0;
                off += header + ev.len as usize;
            }
        }
    }

    /// Re-reads the state and queues the differences.
    fn refresh(&mut self) -> Result<()> {
        let now = match self.read() {
            Ok(now) => now,
            // Removed between the wake-up and the read.
            Err(Error::Io { errno, .. }) if errno == Errno::ENOENT || errno == Errno::ENODEV => {
                self.gone = true;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let last = self.last;
        // The v1 eventfd already queued its Oom; v2 has a counter.
        if now.oom > last.oom && self.oom_eventfd.is_none() {
            self.pending.push_back(Event::Oom);
        }
        if now.oom_kill > last.oom_kill {
            self.pending.push_back(Event::OomKill {
                total: now.oom_kill,
            });
        }
        if let (Some(p), true) = (now.populated, now.populated != last.populated) {
            self.pending.push_back(Event::Populated(p));
        }
        if let (Some(f), true) = (now.frozen, now.frozen != last.frozen) {
            self.pending.push_back(Event::Frozen(f));
        }
        self.last = now;
        Ok(())
    }

    fn read(&self) -> Result<Snapshot> {
        let mut s = Snapshot::default();
        if self.cgroup.dir_of(Controller::Memory).is_ok() {
            match self.cgroup.memory_events() {
                Ok(m) => {
                    s.oom = m.oom;
                    s.oom_kill = m.oom_kill;
                }
                // cgroup2 memory not enabled for this group: no counters —
                // unless the group itself is gone, which `refresh` handles.
                Err(
                    e @ Error::Io {
                        errno: Errno::ENOENT,
                        ..
                    },
                ) if self.inotify.is_some() => {
                    if !self.cgroup.dirs_iter().any(Path::exists) {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(file) = &self.cgroup_events {
            let text = std::fs::read_to_string(file).map_err(|e| Error::io("read", file, e))?;
            s.populated = crate::flat_key(&text, "populated").map(|v| v != 0);
            s.frozen = crate::flat_key(&text, "frozen").map(|v| v != 0);
        } else {
            s.populated = Some(self.cgroup.populated()?);
        }
        Ok(s)
    }
}

impl Iterator for Events {
    type Item = Result<Event>;

    /// Blocks until the next change; `None` once the group is removed.
    fn next(&mut self) -> Option<Result<Event>> {
        loop {
            match self.next_timeout(Duration::from_secs(3600)) {
                Ok(Some(e)) => return Some(Ok(e)),
                Ok(None) if self.gone => return None,
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
