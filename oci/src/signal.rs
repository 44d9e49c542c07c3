//! Signal names as `kill(1)` and runc take them.

const NAMES: [(&str, i32); 31] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("SYS", libc::SIGSYS),
];

/// `TERM`, `SIGTERM`, `sigterm`, `15`, `RTMIN+3` → the number (1..=64).
///
/// ```
/// assert_eq!(palisade_oci::signal::parse("SIGKILL"), Some(9));
/// assert_eq!(palisade_oci::signal::parse("term"), Some(15));
/// assert_eq!(palisade_oci::signal::parse("0"), None);
/// ```
pub fn parse(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let bare = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some((_, n)) = NAMES.iter().find(|(name, _)| *name == bare) {
        return Some(*n);
    }
    let rt = |base: i32, rest: &str, sign: i32| -> Option<i32> {
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest.parse().ok()?
        };
        let n = base + sign * off;
        (libc::SIGRTMIN()..=libc::SIGRTMAX())
            .contains(&n)
            .then_some(n)
    };
    if let Some(rest) = bare.strip_prefix("RTMIN") {
        return rt(libc::SIGRTMIN(), rest.trim_start_matches('+'), 1);
    }
    if let Some(rest) = bare.strip_prefix("RTMAX") {
        return rt(libc::SIGRTMAX(), rest.trim_start_matches('-'), -1);
    }
    None
}

/// What a foreground `run` forwards to the container's first process, as
/// runc's does: the terminal's and the supervisor's signals.
pub const FORWARDED: [i32; 7] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

/// Forwards [`FORWARDED`] signals to a child until it exits. Made before
/// the child exists: the signals (and `SIGCHLD`) are blocked in the calling
/// thread, which threads started later inherit, and taken from a
/// `signalfd` — none is lost between the child's creation and the wait, and
/// none kills this process. (A container's first process does not inherit
/// the mask: palisade's child clears its own.)
///
/// ```no_run
/// let fwd = palisade_oci::signal::Forwarder::new()?;
/// let pid = 1234; // a child of this process, started after `new`
/// let status = fwd.wait(pid)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Forwarder {
    fd: std::os::fd::OwnedFd,
}

impl Forwarder {
    /// Blocks the forwarded signals and `SIGCHLD` in this thread; their
    /// signalfd (close-on-exec).
    pub fn new() -> std::io::Result<Forwarder> {
        use std::os::fd::FromRawFd;
        // SAFETY: a zeroed sigset filled by sigemptyset/sigaddset; the
        // mask and signalfd calls take valid pointers.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in FORWARDED.iter().chain([&libc::SIGCHLD]) {
                libc::sigaddset(&mut set, *s);
            }
            let r = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if r != 0 {
                return Err(std::io::Error::from_raw_os_error(r));
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(Forwarder {
                fd: std::os::fd::OwnedFd::from_raw_fd(fd),
            })
        }
    }

    /// Waits for the child `pid` to exit, sending it every forwarded signal
    /// that arrives meanwhile; its raw wait status.
    pub fn wait(&self, pid: i32) -> std::io::Result<i32> {
        use std::os::fd::AsRawFd;
        loop {
            let mut status = 0;
            // SAFETY: waitpid on our own child with a valid out pointer.
            match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
                0 => {}
                r if r == pid => return Ok(status),
                _ => {
                    let e = std::io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::EINTR) {
                        return Err(e);
                    }
                }
            }
            // SAFETY: reading one signalfd_siginfo into a zeroed value.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    size,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(e);
            }
            let sig = info.ssi_signo as i32;
            if n as usize == size && sig != libc::SIGCHLD {
                // SAFETY: kill with integer arguments; a child already
                // gone is reaped on the next turn.
                unsafe { libc::kill(pid, sig) };
            }
        }
    }
}
