//! The container's side of the spawn pipeline. Runs between `clone3` and
//! `execve` in a copy of the parent's memory, possibly of a multi-threaded
//! parent: only raw system calls on data prepared in [`Plan`], no
//! allocation, no locks, no panics. Any failure writes a fixed-size record
//! (step, errno, index) to the error pipe and exits.

use std::os::fd::RawFd;

use palisade_caps::ApplyStep;

use crate::Step;
use crate::inroot::{self, Create};
use crate::mountfd;
use crate::plan::{Op, Plan, RLIMIT_KEYRING, RLIMIT_OOM, STDIO_PASSED, STDIO_TERMINAL};

/// Exit code of a child that failed before `execve` (the parent reports the
/// real cause from the error pipe).
pub(crate) const FAILED: i32 = 127;

/// The record the child writes: step code, errno, index (native endian).
pub(crate) const RECORD_LEN: usize = 12;

/// The step code of the record a created child writes when it is ready.
pub(crate) const READY: u32 = u32::MAX;

/// The step code of the record the first child writes, with the pid of
/// the process it forked inside a joined pid namespace as index.
pub(crate) const PID: u32 = u32::MAX - 2;

/// Joins the pid namespace of `plan.pid_join`: only children of a process
/// enter it, and a process forked there is visible to the namespace's
/// processes from its birth — with `/proc/<pid>/cmdline`, readable
/// without ptrace rights, showing the caller's argv. So this (invisible)
/// first child wipes its copy of the caller's argv and environment, enters
/// the namespace, clones the process that stays as the caller's child
/// (`CLONE_PARENT`), reports its pid and exits. That process shares this
/// one's (wiped) memory (`CLONE_VM`, on `plan.pid_join_stack`) instead of
/// copying it once more; it is alone in it once this one exits, and gets
/// its own at `execve`. It goes on with [`after_join`].
///
/// Its other namespaces it joins *before* (see [`joins_early`]): a process
/// of the pid namespace may stop the newcomer (SIGSTOP, same uid) and read
/// the /proc files that take no ptrace check — `mountinfo` lists the
/// mounts of its mount namespace, `net/*` the links, routes and sockets of
/// its network namespace. Joined only after the release, those were the
/// host's.
unsafe fn join_pid_namespace(plan: &Plan) -> ! {
    extern "C" fn stays(arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `arg` is the plan, alive in the memory we share.
        unsafe {
            let plan = &*(arg as *const Plan);
            libc::close(plan.pid_join);
            after_join(plan)
        }
    }
    // SAFETY: the areas are this process's own copy of the caller's
    // argv/env strings (mapped, writable stack); raw syscalls otherwise;
    // the new process runs on its own prepared stack.
    unsafe {
        for &(start, end) in &plan.wipe {
            if start < end {
                std::ptr::write_bytes(start as *mut u8, 0, end - start);
            }
        }
        if libc::setns(plan.pid_join, libc::CLONE_NEWPID) != 0 {
            report(plan, Step::JoinNamespace, u32::MAX >> 2);
        }
        let Some(stack) = &plan.pid_join_stack else {
            set_errno(libc::EINVAL);
            report(plan, Step::JoinNamespace, u32::MAX >> 2);
        };
        // The exit signal is this process's own (CLONE_PARENT).
        let pid = libc::clone(
            stays,
            stack.top(),
            libc::CLONE_PARENT | libc::CLONE_VM,
            (plan as *const Plan).cast_mut().cast(),
        );
        if pid < 0 {
            report(plan, Step::JoinNamespace, u32::MAX >> 2);
        }
        let mut rec = [0u8; RECORD_LEN];
        rec[..4].copy_from_slice(&PID.to_ne_bytes());
        rec[8..].copy_from_slice(&(pid as u32).to_ne_bytes());
        libc::write(plan.err_fd, rec.as_ptr().cast(), RECORD_LEN);
        libc::_exit(0);
    }
}

/// Installs the compiled filter (one raw seccomp(2) call); a listener (a
/// profile with `Notify`) goes to the parent over `notify_sock`.
unsafe fn install_seccomp(plan: &Plan) {
    if let Some((filter, flags)) = &plan.seccomp {
        match filter.install(*flags) {
            Ok(Some(listener)) => {
                // SAFETY: our fds; send_fd makes only raw calls.
                unsafe {
                    if plan.notify_sock >= 0
                        && let Err(e) = crate::pty::send_fd(plan.notify_sock, listener, b"seccomp")
                    {
                        set_errno(e);
                        report(plan, Step::Seccomp, 1);
                    }
                    libc::close(listener);
                }
            }
            Ok(None) => {}
            Err(e) => {
                set_errno(e as i32);
                report(plan, Step::Seccomp, 0);
            }
        }
    }
}

/// The step code of the record a child writes when its mounts are made
/// and it waits (on the sync pipe) for the parent's hooks.
pub(crate) const HOOKS: u32 = u32::MAX - 1;

/// Tells the parent the mounts are in place, waits for its go-ahead.
unsafe fn pause_for_hooks(plan: &Plan) {
    // SAFETY: a stack record to our pipe, a one-byte read.
    unsafe {
        let mut rec = [0u8; RECORD_LEN];
        rec[..4].copy_from_slice(&HOOKS.to_ne_bytes());
        libc::write(plan.err_fd, rec.as_ptr().cast(), RECORD_LEN);
        let mut go = 0u8;
        loop {
            let n = libc::read(plan.sync_fd, (&raw mut go).cast(), 1);
            if n == 1 {
                return;
            }
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            libc::_exit(FAILED);
        }
    }
}

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

/// Closes every fd except `keep` (sorted ascending).
unsafe fn close_all_except(keep: &[i32]) {
    let mut from: u32 = 0;
    for &fd in keep {
        let fd = fd as u32;
        if fd > from {
            // SAFETY: closing fds we own as the sole user of this table.
            unsafe { libc::syscall(libc::SYS_close_range, from, fd - 1, 0u32) };
        }
        from = from.max(fd + 1);
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, 0u32) };
}

fn set_errno(e: i32) {
    // SAFETY: writing the thread's errno.
    unsafe { *libc::__errno_location() = e };
}

/// The child's whole life until `execve`.
///
/// # Safety
/// Call only in the child right after `clone3`, with `plan` prepared by the
/// parent before the clone.
pub(crate) unsafe fn run(plan: &Plan) -> ! {
    // SAFETY: every call below is a raw syscall on prepared data.
    unsafe {
        // The program starts with every signal at its default and none
        // blocked, whatever the host program ignores or blocks (an ignored
        // signal stays ignored across execve: Rust ignores SIGPIPE).
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        // Nothing of the host that the plan does not name stays open: no
        // path of the image can reach a host fd through /proc/self/fd.
        close_all_except(&plan.keep_fds);
        // Into the container's v1 cgroups before anything else runs here
        // (cgroup2 was clone3's CLONE_INTO_CGROUP). Writing 0 to `tasks`
        // moves this one thread — the whole process, it has no other —
        // without the global threadgroup lock the parent's cgroup.procs
        // write would take (milliseconds; see Cgroup::tasks_fds_v1).
        for (i, (fd, _)) in plan.cgroup_join.iter().enumerate() {
            if libc::write(*fd, b"0".as_ptr().cast(), 1) != 1 {
                report(plan, Step::Cgroup, i as u32);
            }
            libc::close(*fd);
        }
        if plan.pid_join >= 0 {
            if joins_early(plan) {
                // Not dumpable first: in a joined user namespace its root
                // could otherwise ptrace this copy of the host program.
                libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
                enter_joins(plan);
            }
            join_pid_namespace(plan);
        }
        after_join(plan)
    }
}

/// Whether the namespaces to join are entered before the pid namespace
/// (see [`join_pid_namespace`]): when joining a pid namespace and nothing
/// must happen before the joins — no new user namespace whose maps the
/// parent writes through our /proc (refused once we are not dumpable) and
/// whose root we become first, no cgroup namespace to unshare first.
fn joins_early(plan: &Plan) -> bool {
    plan.pid_join >= 0 && !plan.become_ns_root && !plan.unshare_cgroup
}

/// `setns` into each namespace of `plan.joins`, in order.
unsafe fn enter_joins(plan: &Plan) {
    for (i, (fd, kind, _)) in plan.joins.iter().enumerate() {
        // SAFETY: a raw syscall on our fd.
        if unsafe { libc::setns(*fd, *kind) } != 0 {
            report(plan, Step::JoinNamespace, i as u32);
        }
    }
}

/// The rest of the child's life, in the process that stays.
///
/// # Safety
/// As [`run`].
unsafe fn after_join(plan: &Plan) -> ! {
    // SAFETY: every call below is a raw syscall on prepared data.
    unsafe {
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
        if !plan.hooks_pause {
            libc::close(plan.sync_fd);
        }
        // Idmapped binds the parent made (it sent them before the byte).
        if plan.idmap_sock >= 0 {
            if let Err(e) = crate::idmap::receive(plan.idmap_sock, &plan.idmap_slots) {
                set_errno(e);
                report(plan, Step::Mount, u32::MAX);
            }
        }
        // Until it execs, this process is a copy of the host program: no
        // process of the container may read its memory through /proc.
        // (Not before: the parent, maybe unprivileged, writes our id maps,
        // which a non-dumpable process's /proc files would refuse it.)
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
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
        if !joins_early(plan) {
            enter_joins(plan);
        }
        if plan.new_mnt
            && libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                plan.root_propagation,
                std::ptr::null(),
            ) != 0
        {
            report(plan, Step::MountPrivate, 0);
        }
        match &plan.rootfs {
            Some(root) => enter_rootfs(plan, root),
            None if plan.hooks_pause => pause_for_hooks(plan),
            None => {}
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
        // Read-only paths last among the filesystem work: /proc/sys is one
        // of Docker's, and the sysctls above are written through it.
        if plan.rootfs.is_some() && !plan.readonly.is_empty() {
            let root = libc::open(
                c"/".as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            );
            if root < 0 {
                report(plan, Step::ReadonlyPath, 0);
            }
            for (i, p) in plan.readonly.iter().enumerate() {
                if let Err(e) = make_readonly(root, &p.path) {
                    set_errno(e);
                    report(plan, Step::ReadonlyPath, i as u32);
                }
            }
            libc::close(root);
        }
        if plan.loopback && !loopback_up() {
            report(plan, Step::Loopback, 0);
        }
        for (i, (resource, limit)) in plan.rlimits.iter().enumerate() {
            if libc::setrlimit(*resource as _, limit) != 0 {
                report(plan, Step::Rlimit, i as u32);
            }
        }
        if let Some(text) = &plan.oom_score_adj {
            // Before capabilities go: lowering it needs CAP_SYS_RESOURCE.
            let fd = libc::open(
                c"/proc/self/oom_score_adj".as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            );
            if fd < 0 || libc::write(fd, text.as_ptr().cast(), text.len()) != text.len() as isize {
                report(plan, Step::Rlimit, RLIMIT_OOM);
            }
            libc::close(fd);
        }
        for (target, &fd) in plan.stdio.iter().enumerate() {
            if fd >= 0 && libc::dup2(fd, target as libc::c_int) < 0 {
                report(plan, Step::Stdio, target as u32);
            }
        }
        if let Some((sock, rows, cols)) = plan.terminal {
            terminal(plan, sock, rows, cols);
        }
        // Before seccomp (Docker's profile refuses keyctl) and the id
        // switch; the possessor keeps every right to it after the switch.
        // No keyrings in the kernel: nothing to hide.
        if plan.session_keyring
            && libc::syscall(
                libc::SYS_keyctl,
                KEYCTL_JOIN_SESSION_KEYRING,
                std::ptr::null::<libc::c_char>(),
            ) < 0
            && errno() != libc::ENOSYS
        {
            report(plan, Step::Rlimit, RLIMIT_KEYRING);
        }
        enter_cwd(plan);
        if plan.seccomp_early {
            install_seccomp(plan);
        }
        if let Err((step, errno)) = plan.caps.apply_in_child() {
            set_errno(errno as i32);
            report(plan, Step::Capabilities, caps_index(step));
        }
        if !plan.seccomp_early {
            install_seccomp(plan);
        }
        if plan.start_fd >= 0 {
            // Created: say so, then wait to be started (EOF: abandoned).
            let mut rec = [0u8; RECORD_LEN];
            rec[..4].copy_from_slice(&READY.to_ne_bytes());
            libc::write(plan.err_fd, rec.as_ptr().cast(), RECORD_LEN);
            let mut go = 0u8;
            loop {
                let n = libc::read(plan.start_fd, (&raw mut go).cast(), 1);
                if n == 1 {
                    break;
                }
                if n < 0 && errno() == libc::EINTR {
                    continue;
                }
                libc::_exit(FAILED);
            }
        }
        // Only stdio, the error pipe and the init image reach execveat;
        // the pipe is inherited by palisade-init, which marks it
        // close-on-exec before the program's execve: its EOF tells the
        // parent the program started.
        if let Some(mask) = plan.umask {
            libc::umask(mask);
        }
        if let Some(p) = plan.personality {
            if libc::personality(p) < 0 {
                report(plan, Step::Exec, 1);
            }
        }
        let argv = if plan.exec_argvs.is_empty() {
            &plan.argv_ptrs
        } else {
            &plan.exec_argvs[search_path(plan)]
        };
        // Passed fds last: every source and the two fds above are
        // numbered above every target (the parent moved them), so no
        // dup3 clobbers one still needed. dup3 clears close-on-exec.
        for (i, &(from, to)) in plan.pass_fds.iter().enumerate() {
            if libc::dup3(from, to, 0) < 0 {
                report(plan, Step::Stdio, STDIO_PASSED + i as u32);
            }
        }
        close_all_except(&plan.final_keep);
        libc::fcntl(plan.err_fd, libc::F_SETFD, 0);
        libc::syscall(
            libc::SYS_execveat,
            plan.init_fd,
            c"".as_ptr(),
            argv.as_ptr(),
            plan.envp_ptrs.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
        report(plan, Step::Exec, 0)
    }
}

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;

/// The index of the first `PATH` candidate that is an executable regular
/// file for us (as `execvp(3)` looks, in the container's root now), or a
/// failure record: `EACCES` if one existed but was not executable, else
/// `ENOENT`.
unsafe fn search_path(plan: &Plan) -> usize {
    let mut denied = false;
    for (i, argv) in plan.exec_argvs.iter().enumerate() {
        let path = argv[4];
        // SAFETY: a prepared NUL-terminated path; a stack stat buffer.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::stat(path, &mut st) != 0 || st.st_mode & libc::S_IFMT != libc::S_IFREG {
                continue;
            }
            if libc::faccessat(libc::AT_FDCWD, path, libc::X_OK, libc::AT_EACCESS) == 0 {
                return i;
            }
        }
        denied = true;
    }
    set_errno(if denied { libc::EACCES } else { libc::ENOENT });
    report(plan, Step::Exec, 0)
}

/// The container's terminal (after `pivot_root`): a pty from its devpts,
/// the slave bound over `/dev/console`, the master sent to the parent on
/// `sock` (then closed here: the program never holds it), the slave the
/// controlling terminal of a new session and 0, 1, 2.
unsafe fn terminal(plan: &Plan, sock: RawFd, rows: u16, cols: u16) {
    use crate::pty::child as tty;
    let fail = |(sub, e): (u32, i32)| -> ! {
        set_errno(e);
        report(plan, Step::Stdio, STDIO_TERMINAL + sub)
    };
    // SAFETY: raw syscalls on stack buffers and our fds.
    unsafe {
        let mut name = [0u8; 32];
        let (master, slave, len) = tty::open(rows, cols, &mut name).unwrap_or_else(|e| fail(e));
        if plan.terminal_console {
            let root = libc::open(
                c"/".as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            );
            if root < 0 {
                fail((tty::CONSOLE, errno()));
            }
            let console = inroot::open_in_root(root, c"/dev/console", Create::File)
                .unwrap_or_else(|e| fail((tty::CONSOLE, e)));
            libc::close(root);
            if let Err(e) = mountfd::bind(slave, c"", false, 0, console) {
                fail((tty::CONSOLE, e));
            }
            libc::close(console);
        }
        if let Err(e) = crate::pty::send_fd(sock, master, &name[..len]) {
            fail((tty::SEND, e));
        }
        libc::close(master);
        libc::close(sock);
        if let Err(e) = tty::attach(slave) {
            fail(e);
        }
    }
}

/// Binds the rootfs onto itself, builds the container's mounts beneath it
/// (every target resolved inside it), pivots into it, then masks and
/// write-protects paths of the new root.
unsafe fn enter_rootfs(plan: &Plan, root: &std::ffi::CStr) {
    // SAFETY: raw syscalls on prepared strings and our own fds.
    unsafe {
        if libc::mount(
            root.as_ptr(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        ) != 0
        {
            report(plan, Step::MountRootfs, 0);
        }
        let rootfd = libc::open(
            root.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if rootfd < 0 {
            report(plan, Step::MountRootfs, 0);
        }
        // A detached copy of the host's /dev/null, checked to be the null
        // device, masks files later: nothing the image holds is used as a
        // tool. (Made now: a mount of the old root cannot be copied once
        // it is detached by pivot_root.)
        let null = match mountfd::detached_copy(c"/dev/null") {
            Ok(fd) => fd,
            Err(e) => {
                set_errno(e);
                report(plan, Step::MaskPath, u32::MAX);
            }
        };
        // Read-only: a mask never lets root inside chmod or touch the
        // host's null device.
        if let Err(e) = mountfd::set_attrs(null, mountfd::attr::RDONLY, false) {
            set_errno(e);
            report(plan, Step::MaskPath, u32::MAX);
        }
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(null, &mut st) != 0 {
            report(plan, Step::MaskPath, u32::MAX);
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
            set_errno(libc::ENODEV);
            report(plan, Step::MaskPath, u32::MAX);
        }
        for (i, planned) in plan.ops.iter().enumerate() {
            if let Err(e) = do_op(rootfd, &planned.op) {
                set_errno(e);
                report(plan, planned.step, i as u32);
            }
        }
        if plan.hooks_pause {
            pause_for_hooks(plan);
        }
        if plan.no_pivot {
            // MS_MOVE + chroot (nopivot.rs): for roots pivot_root refuses.
            if let Err((sub, e)) = crate::nopivot::move_root(rootfd) {
                set_errno(e);
                report(plan, Step::PivotRoot, sub);
            }
        } else {
            // The old root is made a slave before it is detached: with a
            // non-recursive root propagation the host's shared mounts
            // beneath `/` are still peers of the host's, and detaching
            // them would unmount the host's too (runc does the same).
            let oldroot = libc::open(
                c"/".as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            );
            if oldroot < 0
                || libc::fchdir(rootfd) != 0
                || libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) != 0
                || mountfd::setattr(oldroot, 0, 0, libc::MS_SLAVE, true)
                    .map_err(set_errno)
                    .is_err()
                || libc::umount2(c".".as_ptr(), libc::MNT_DETACH) != 0
                || libc::chdir(c"/".as_ptr()) != 0
            {
                report(plan, Step::PivotRoot, 0);
            }
            libc::close(oldroot);
        }
        libc::close(rootfd);
        let newroot = libc::open(
            c"/".as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if newroot < 0 {
            report(plan, Step::PivotRoot, 0);
        }
        let mut null_attached = false;
        for (i, p) in plan.masked.iter().enumerate() {
            if let Err(e) = mask(newroot, null, &mut null_attached, &p.path) {
                set_errno(e);
                report(plan, Step::MaskPath, i as u32);
            }
        }
        if let Some(recursive) = plan.root_shared {
            if let Err(e) = mountfd::setattr(newroot, 0, 0, libc::MS_SHARED, recursive) {
                set_errno(e);
                report(plan, Step::PivotRoot, 1);
            }
        }
        if plan.readonly_rootfs {
            if let Err(e) = mountfd::setattr(newroot, mountfd::attr::RDONLY, 0, 0, false) {
                set_errno(e);
                report(plan, Step::ReadonlyPath, u32::MAX);
            }
        }
        libc::close(null);
        libc::close(newroot);
    }
}

/// Enters the working directory, resolved inside the root without magic
/// links (created when missing, as `docker run -w` does), and checks the
/// result is beneath the root.
unsafe fn enter_cwd(plan: &Plan) {
    // SAFETY: raw syscalls on a prepared string, a stack buffer, our fds.
    unsafe {
        let fd = if plan.rootfs.is_some() {
            let root = libc::open(
                c"/".as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            );
            if root < 0 {
                report(plan, Step::Cwd, 0);
            }
            let fd = inroot::open_in_root(root, &plan.cwd, Create::Dir);
            libc::close(root);
            match fd {
                Ok(fd) => fd,
                Err(e) => {
                    set_errno(e);
                    report(plan, Step::Cwd, 0);
                }
            }
        } else {
            let fd = inroot::openat2(
                libc::AT_FDCWD,
                plan.cwd.as_ptr(),
                libc::O_DIRECTORY,
                RESOLVE_NO_MAGICLINKS,
            );
            if fd < 0 {
                report(plan, Step::Cwd, 0);
            }
            fd
        };
        if libc::fchdir(fd) != 0 {
            report(plan, Step::Cwd, 0);
        }
        libc::close(fd);
        // A directory outside the root reads back as "(unreachable)/…".
        let mut buf = [0u8; libc::PATH_MAX as usize];
        let n = libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len());
        if n < 0 || buf[0] != b'/' {
            set_errno(libc::EXDEV);
            report(plan, Step::Cwd, 0);
        }
    }
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;

/// Resolves a target beneath `root` and returns its fd.
unsafe fn target(root: RawFd, path: &std::ffi::CStr, create: Create) -> Result<RawFd, i32> {
    // SAFETY: forwarded.
    unsafe { inroot::open_in_root(root, path, create) }
}

unsafe fn do_op(root: RawFd, op: &Op) -> Result<(), i32> {
    // SAFETY: raw syscalls on prepared strings and fds we own.
    unsafe {
        match op {
            Op::Fs {
                fstype,
                options,
                attrs,
                target: t,
            } => {
                let fd = target(root, t, Create::Dir)?;
                let r = mountfd::new_fs(fstype, options, *attrs, fd);
                libc::close(fd);
                r
            }
            Op::Bind {
                source,
                recursive,
                attrs,
                target: t,
                file,
            } => {
                let fd = target(root, t, if *file { Create::File } else { Create::Dir })?;
                let r = mountfd::bind(libc::AT_FDCWD, source, *recursive, *attrs, fd);
                libc::close(fd);
                r
            }
            Op::Mknod {
                dir,
                name,
                mode,
                dev,
                uid,
                gid,
            } => {
                let fd = target(root, dir, Create::Dir)?;
                libc::unlinkat(fd, name.as_ptr(), 0);
                let ok = libc::mknodat(fd, name.as_ptr(), *mode, *dev) == 0
                    // The umask must not trim the mode asked for.
                    && libc::fchmodat(fd, name.as_ptr(), *mode & 0o7777, 0) == 0
                    && libc::fchownat(fd, name.as_ptr(), *uid, *gid, libc::AT_SYMLINK_NOFOLLOW)
                        == 0;
                let e = errno();
                libc::close(fd);
                if ok { Ok(()) } else { Err(e) }
            }
            Op::BindFd {
                slot,
                target: t,
                file,
                ..
            } => {
                let fd = target(root, t, if *file { Create::File } else { Create::Dir })?;
                let r = mountfd::move_tree(*slot, fd);
                libc::close(fd);
                libc::close(*slot);
                r
            }
            Op::Propagation {
                target: t,
                propagation,
                recursive,
            } => {
                let fd = target(root, t, Create::Nothing)?;
                let r = mountfd::setattr(fd, 0, 0, *propagation, *recursive);
                libc::close(fd);
                r
            }
            Op::Symlink { to, dir, name } => {
                let fd = target(root, dir, Create::Dir)?;
                let r = libc::symlinkat(to.as_ptr(), fd, name.as_ptr());
                let e = errno();
                libc::close(fd);
                if r == 0 || e == libc::EEXIST {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }
}

/// Hides a path: the host's `/dev/null` over a file (`null`: its detached
/// copy, attached at the first file masked and copied from there for the
/// next ones), an empty read-only tmpfs over a directory. A missing path
/// needs no mask.
unsafe fn mask(
    root: RawFd,
    null: RawFd,
    null_attached: &mut bool,
    path: &std::ffi::CStr,
) -> Result<(), i32> {
    use mountfd::attr;
    // SAFETY: raw syscalls on our fds.
    unsafe {
        let fd = match target(root, path, Create::Nothing) {
            Ok(fd) => fd,
            Err(libc::ENOENT) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut st: libc::stat = std::mem::zeroed();
        let r = if libc::fstat(fd, &mut st) != 0 {
            Err(errno())
        } else if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            mountfd::new_fs(
                c"tmpfs",
                &[],
                attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC,
                fd,
            )
        } else if *null_attached {
            mountfd::bind(null, c"", false, mountfd::attr::RDONLY, fd)
        } else {
            let r = mountfd::move_tree(null, fd);
            *null_attached = r.is_ok();
            r
        };
        libc::close(fd);
        r
    }
}

/// Binds a path onto itself read-only, recursively, keeping its other
/// flags. A missing path needs nothing.
unsafe fn make_readonly(root: RawFd, path: &std::ffi::CStr) -> Result<(), i32> {
    // SAFETY: raw syscalls on our fds.
    unsafe {
        let fd = match target(root, path, Create::Nothing) {
            Ok(fd) => fd,
            Err(libc::ENOENT) => return Ok(()),
            Err(e) => return Err(e),
        };
        let r = mountfd::bind(fd, c"", true, mountfd::attr::RDONLY, fd);
        libc::close(fd);
        r
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
