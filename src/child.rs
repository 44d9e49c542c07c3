//! The container's side of the spawn pipeline. Runs between `clone3` and
//! `execve` in a copy of the parent's memory, possibly of a multi-threaded
//! parent: only raw system calls on data prepared in [`Plan`], no
//! allocation, no locks, no panics. Any failure writes a fixed-size record
//! (step, errno, index) to the error pipe and exits.

use std::sync::atomic::{AtomicI32, Ordering};

use palisade_caps::ApplyStep;

use crate::Step;
use crate::plan::{Op, Plan};

/// Exit code of a child that failed before `execve` (the parent reports the
/// real cause from the error pipe).
pub(crate) const FAILED: i32 = 127;

/// The record the child writes: step code, errno, index (native endian).
pub(crate) const RECORD_LEN: usize = 12;

fn errno() -> i32 {
    // SAFETY: reading the thread's errno.
    unsafe { *libc::__errno_location() }
}

fn report(plan: &Plan, step: Step, index: u32) -> ! {
    let e = errno();
    let mut rec = [0u8; RECORD_LEN];
    rec[..4].copy_from_slice(&step.code().to_ne_bytes());
    rec[4..8].copy_from_slice(&e.to_ne_bytes());
    rec[8..].copy_from_slice(&index.to_ne_bytes());
    // SAFETY: writing a stack buffer to our pipe, then leaving.
    unsafe {
        libc::write(plan.err_fd, rec.as_ptr().cast(), RECORD_LEN);
        libc::_exit(FAILED)
    }
}

/// Encodes a capability step in the record's index.
pub(crate) fn caps_index(step: ApplyStep) -> u32 {
    match step {
        ApplyStep::DropBounding(c) => 1000 + c as u32,
        ApplyStep::Ambient(c) => 2000 + c as u32,
        ApplyStep::KeepCaps => 1,
        ApplyStep::SetGroups => 2,
        ApplyStep::SetGid => 3,
        ApplyStep::SetUid => 4,
        ApplyStep::Capset => 5,
        ApplyStep::NoNewPrivs => 6,
    }
}

/// Decodes [`caps_index`] for the error message.
pub(crate) fn caps_detail(index: u32) -> String {
    let cap = |n: u32| {
        palisade_caps::Capability::from_index(n)
            .map(|c| c.to_string())
            .unwrap_or_default()
    };
    match index {
        1 => "PR_SET_KEEPCAPS".into(),
        2 => "setgroups".into(),
        3 => "setresgid".into(),
        4 => "setresuid".into(),
        5 => "capset".into(),
        6 => "PR_SET_NO_NEW_PRIVS".into(),
        n @ 1000..2000 => format!("dropping {} from the bounding set", cap(n - 1000)),
        n @ 2000..3000 => format!("raising ambient {}", cap(n - 2000)),
        n => format!("capability step {n}"),
    }
}

/// The child's whole life until `execve`.
///
/// # Safety
/// Call only in the child right after `clone3`, with `plan` prepared by the
/// parent before the clone.
pub(crate) unsafe fn run(plan: &Plan) -> ! {
    // SAFETY: every call below is a raw syscall on prepared data.
    unsafe {
        for &fd in &plan.close_in_child {
            libc::close(fd);
        }
        if let Some(sig) = plan.parent_death_signal {
            libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0);
        }
        // Wait for the parent: cgroup, id maps and network are ready when
        // the byte arrives; EOF means the parent gave up or died.
        let mut go = 0u8;
        loop {
            let n = libc::read(plan.sync_fd, (&raw mut go).cast(), 1);
            if n == 1 {
                break;
            }
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            libc::_exit(FAILED);
        }
        libc::close(plan.sync_fd);
        // Raw id syscalls: glibc's wrappers would wait on the copied
        // parent's other threads (see palisade_caps::ids).
        if plan.become_ns_root
            && (palisade_caps::ids::set_gid(0).is_err() || palisade_caps::ids::set_uid(0).is_err())
        {
            report(plan, Step::IdMaps, 0);
        }

        if plan.unshare_cgroup && libc::unshare(libc::CLONE_NEWCGROUP) != 0 {
            report(plan, Step::JoinNamespace, u32::MAX >> 1);
        }
        for (i, (fd, kind, _)) in plan.joins.iter().enumerate() {
            if libc::setns(*fd, *kind) != 0 {
                report(plan, Step::JoinNamespace, i as u32);
            }
        }
        if plan.new_mnt
            && libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
        {
            report(plan, Step::MountPrivate, 0);
        }
        for (i, planned) in plan.ops.iter().enumerate() {
            if !do_op(&planned.op) {
                report(plan, planned.step, i as u32);
            }
        }
        if let Some(root) = &plan.rootfs {
            if libc::chdir(root.as_ptr()) != 0
                || libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) != 0
                || libc::umount2(c".".as_ptr(), libc::MNT_DETACH) != 0
                || libc::chdir(c"/".as_ptr()) != 0
            {
                report(plan, Step::PivotRoot, 0);
            }
            for (i, p) in plan.masked.iter().enumerate() {
                if !mask(p.path.as_ptr()) {
                    report(plan, Step::MaskPath, i as u32);
                }
            }
            for (i, p) in plan.readonly.iter().enumerate() {
                if !make_readonly(p.path.as_ptr()) {
                    report(plan, Step::ReadonlyPath, i as u32);
                }
            }
        }
        if let Some(h) = &plan.hostname {
            if libc::sethostname(h.as_ptr(), h.as_bytes().len()) != 0 {
                report(plan, Step::Hostname, 0);
            }
        }
        if let Some(d) = &plan.domainname {
            if libc::setdomainname(d.as_ptr(), d.as_bytes().len()) != 0 {
                report(plan, Step::Domainname, 0);
            }
        }
        for (i, (path, value, _)) in plan.sysctls.iter().enumerate() {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            let ok = fd >= 0
                && libc::write(fd, value.as_ptr().cast(), value.len()) == value.len() as isize;
            if !ok {
                report(plan, Step::Sysctl, i as u32);
            }
            libc::close(fd);
        }
        if plan.loopback && !loopback_up() {
            report(plan, Step::Loopback, 0);
        }
        for (i, (resource, limit)) in plan.rlimits.iter().enumerate() {
            if libc::setrlimit(*resource as _, limit) != 0 {
                report(plan, Step::Rlimit, i as u32);
            }
        }
        for (target, &fd) in plan.stdio.iter().enumerate() {
            if fd >= 0 && libc::dup2(fd, target as libc::c_int) < 0 {
                report(plan, Step::Stdio, target as u32);
            }
        }
        if libc::chdir(plan.cwd.as_ptr()) != 0 {
            report(plan, Step::Cwd, 0);
        }
        if let Err((step, errno)) = plan.caps.apply_in_child() {
            *libc::__errno_location() = errno as i32;
            report(plan, Step::Capabilities, caps_index(step));
        }
        // Every inherited fd >= 3 closes at execve; the error pipe too, which
        // is how the parent learns that execve succeeded.
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
        if plan.init {
            init(plan);
        }
        exec(plan)
    }
}

unsafe fn exec(plan: &Plan) -> ! {
    // SAFETY: pointer arrays are NUL-terminated and point into the plan.
    unsafe {
        libc::execve(
            plan.program.as_ptr(),
            plan.argv_ptrs.as_ptr(),
            plan.envp_ptrs.as_ptr(),
        );
    }
    report(plan, Step::Exec, 0)
}

unsafe fn do_op(op: &Op) -> bool {
    let opt = |c: &Option<std::ffi::CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: prepared C strings.
    unsafe {
        match op {
            Op::Mkdir(p) => libc::mkdir(p.as_ptr(), 0o755) == 0 || errno() == libc::EEXIST,
            Op::Touch(p) => {
                let fd = libc::open(
                    p.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                );
                if fd >= 0 {
                    libc::close(fd);
                }
                fd >= 0
            }
            Op::Symlink(to, link) => {
                libc::symlink(to.as_ptr(), link.as_ptr()) == 0 || errno() == libc::EEXIST
            }
            Op::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => {
                libc::mount(
                    opt(source),
                    target.as_ptr(),
                    opt(fstype),
                    *flags,
                    opt(data).cast(),
                ) == 0
            }
        }
    }
}

/// Hides a path: `/dev/null` over a file, an empty read-only tmpfs over a
/// directory. A missing path needs no masking.
unsafe fn mask(path: *const libc::c_char) -> bool {
    // SAFETY: stat into a local buffer, mounts on prepared strings.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::stat(path, &mut st) != 0 {
            return errno() == libc::ENOENT;
        }
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            libc::mount(
                c"tmpfs".as_ptr(),
                path,
                c"tmpfs".as_ptr(),
                libc::MS_RDONLY,
                c"size=0".as_ptr().cast(),
            ) == 0
        } else {
            libc::mount(
                c"/dev/null".as_ptr(),
                path,
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ) == 0
        }
    }
}

/// Binds a path onto itself and remounts it read-only.
unsafe fn make_readonly(path: *const libc::c_char) -> bool {
    // SAFETY: mounts on a prepared string.
    unsafe {
        if libc::mount(
            path,
            path,
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        ) != 0
        {
            return errno() == libc::ENOENT;
        }
        libc::mount(
            std::ptr::null(),
            path,
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC,
            std::ptr::null(),
        ) == 0
    }
}

/// `ifconfig lo up` with one ioctl pair on a throwaway socket.
unsafe fn loopback_up() -> bool {
    // SAFETY: socket + ioctls on a zeroed ifreq naming "lo".
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return false;
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        ifr.ifr_name[0] = b'l' as libc::c_char;
        ifr.ifr_name[1] = b'o' as libc::c_char;
        let ok = libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut ifr) == 0 && {
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(sock, libc::SIOCSIFFLAGS, &ifr) == 0
        };
        libc::close(sock);
        ok
    }
}

/// The program's pid, for the signal-forwarding handler of the init.
static PROGRAM: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(signal: libc::c_int) {
    let pid = PROGRAM.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, signal) };
    }
}

const FORWARDED: [libc::c_int; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// A minimal PID 1: forks the program, forwards signals to it, reaps every
/// child (orphans re-parent to PID 1), and exits with the program's status
/// (128 + signal when it was killed, as shells report it).
unsafe fn init(plan: &Plan) -> ! {
    // SAFETY: signal masks, the raw clone, sigaction and waitpid touch no
    // lock of the copied parent.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, &mut old);
        // Not glibc's fork(): this process is a copy of a possibly
        // multi-threaded parent, and fork() takes the malloc arena, stdio
        // and atfork locks, which another parent thread may have held at
        // the moment of clone3: copied locked, with no owner to release
        // them, they hang the init forever. The raw clone takes none.
        let pid = libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        ) as libc::pid_t;
        if pid < 0 {
            report(plan, Step::Init, 0);
        }
        if pid == 0 {
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            exec(plan);
        }
        // The init never execs: close everything but stdio so the parent's
        // error pipe reports the program's execve, not ours.
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
        PROGRAM.store(pid, Ordering::Relaxed);
        for sig in FORWARDED {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
        libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        loop {
            let mut status = 0;
            let reaped = libc::waitpid(-1, &mut status, 0);
            if reaped == pid {
                let code = if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    128 + libc::WTERMSIG(status)
                };
                libc::_exit(code);
            }
            if reaped < 0 && errno() == libc::ECHILD {
                libc::_exit(FAILED);
            }
        }
    }
}
