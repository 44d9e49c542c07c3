/*
 * palisade-init: the only program palisade executes inside a container
 * before the user's program. It is embedded in the library, copied once per
 * process into a sealed memfd and started with execveat(2), so that nothing
 * of the host program (its memory, its environment, its binary) is left in
 * the container: /proc/<pid>/exe of every process palisade leaves inside
 * points at this sealed image, never at the host binary (CVE-2019-5736,
 * CVE-2016-9962 class). See docs/security.md.
 *
 * argv: palisade-init MODE ERRFD STEP PATH ARGV0 [ARGS...]
 *   MODE  "e": execve PATH; "i": be PID 1 — fork PATH, forward signals to
 *         it, reap every child, exit with its status (128+signal if killed).
 *   ERRFD the spawn's error pipe: a failed execve writes the 12-byte record
 *         (STEP, errno, 0) in native byte order, as the library's child does.
 *   STEP  the library's code for its Exec step.
 * The environment is the container's, passed through untouched.
 *
 * On x86_64 it is freestanding (-nostdlib: its own _start and raw system
 * calls, 4 KiB on disk): every spawn and exec runs it once, and a static
 * glibc image (0.7 MB, with its start-up: IRELATIVE relocations, TLS,
 * tunables) cost ~0.3 ms more per execve on the 2-core test VM. Elsewhere
 * the same code is built against the C library (build.rs chooses).
 */
#include <stddef.h>
#include <stdint.h>

#include <asm/unistd.h>
#include <linux/fcntl.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <linux/signal.h>

#ifdef PALISADE_INIT_FREESTANDING

#include <linux/errno.h>

static long sys4(long n, long a, long b, long c, long d) {
    long r;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return r;
}

/* The kernel gives _start the stack: argc, argv[], NULL, envp[], NULL. */
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  xor %ebp, %ebp\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call start_c\n"
        "  hlt\n");

/* rt_sigaction on x86_64 needs SA_RESTORER: the handler returns here. */
__asm__(".text\n"
        ".global restore_rt\n"
        "restore_rt:\n"
        "  mov $15, %eax\n" /* __NR_rt_sigreturn */
        "  syscall\n");
void restore_rt(void);

/* gcc may emit calls to these even when freestanding. */
void *memset(void *d, int c, size_t n) {
    unsigned char *p = d;
    while (n--) *p++ = (unsigned char)c;
    return d;
}

#else /* against the C library */

#include <unistd.h>
#include <sys/syscall.h>
#include <errno.h>

static long sys4(long n, long a, long b, long c, long d) {
    long r = syscall(n, a, b, c, d);
    return r < 0 ? -errno : r;
}

#endif

#define SYS0(n) sys4((n), 0, 0, 0, 0)
#define SYS1(n, a) sys4((n), (long)(a), 0, 0, 0)
#define SYS2(n, a, b) sys4((n), (long)(a), (long)(b), 0, 0)
#define SYS3(n, a, b, c) sys4((n), (long)(a), (long)(b), (long)(c), 0)
#define SYS4(n, a, b, c, d) sys4((n), (long)(a), (long)(b), (long)(c), (long)(d))

/* The kernel's struct sigaction for rt_sigaction (not glibc's). */
struct ksigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};
#define KSA_RESTORER 0x04000000UL

static int err_fd = -1;
static uint32_t step_code;
static volatile int program;

static __attribute__((noreturn)) void leave(int code) {
    for (;;) SYS1(__NR_exit_group, code);
}

static int number(const char *s) {
    int n = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || n > 100000000) return -1;
        n = n * 10 + (*s - '0');
    }
    return n;
}

static __attribute__((noreturn)) void run(char *path, char **argv, char **envp) {
    SYS3(__NR_fcntl, err_fd, F_SETFD, FD_CLOEXEC);
    long e = SYS3(__NR_execve, path, argv, envp);
    uint32_t rec[3] = {step_code, (uint32_t)-e, 0};
    SYS3(__NR_write, err_fd, rec, sizeof rec);
    leave(127);
}

static void forward(int sig) {
    if (program > 0) SYS2(__NR_kill, program, sig);
}

static int init_main(int argc, char **argv, char **envp) {
    if (argc < 6) return 127;
    err_fd = number(argv[2]);
    int step = number(argv[3]);
    if (err_fd < 3 || step < 0) return 127;
    step_code = (uint32_t)step;
    if (argv[1][0] == 'e') run(argv[4], argv + 5, envp);

    /* PID 1: not dumpable, so no process of the container may read this
     * one's memory or files through /proc without CAP_SYS_PTRACE. */
    SYS2(__NR_prctl, PR_SET_DUMPABLE, 0);
    uint64_t all = ~(uint64_t)0, old = 0;
    SYS4(__NR_rt_sigprocmask, SIG_SETMASK, &all, &old, 8);
    long pid = SYS2(__NR_clone, SIGCHLD, 0);
    if (pid < 0) return 127;
    if (pid == 0) {
        SYS4(__NR_rt_sigprocmask, SIG_SETMASK, &old, 0, 8);
        run(argv[4], argv + 5, envp);
    }
    /* The program's copy of the error pipe closes at its execve: that EOF
     * is how the library learns the program started. */
    SYS1(__NR_close, err_fd);
    program = (int)pid;
    static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
    for (unsigned i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
        struct ksigaction sa;
        sa.handler = forward;
        sa.flags = SA_RESTART;
        sa.restorer = 0;
        sa.mask = 0;
#ifdef PALISADE_INIT_FREESTANDING
        sa.flags |= KSA_RESTORER;
        sa.restorer = restore_rt;
#endif
        SYS4(__NR_rt_sigaction, forwarded[i], &sa, 0, 8);
    }
    SYS4(__NR_rt_sigprocmask, SIG_SETMASK, &old, 0, 8);
    for (;;) {
        int status = 0;
        long reaped = SYS4(__NR_wait4, -1, &status, 0, 0);
        if (reaped == pid) {
            if ((status & 0x7f) == 0) leave((status >> 8) & 0xff); /* exited */
            leave(128 + (status & 0x7f));                           /* killed */
        }
        if (reaped == -ECHILD) leave(127);
    }
}

#ifdef PALISADE_INIT_FREESTANDING
__attribute__((noreturn, used)) void start_c(long *sp) {
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    leave(init_main(argc, argv, argv + argc + 1));
}
#else
int main(int argc, char **argv, char **envp) { return init_main(argc, argv, envp); }
#endif
