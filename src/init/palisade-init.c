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
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int err_fd = -1;
static uint32_t step_code;
static volatile pid_t program;

static int number(const char *s) {
    int n = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || n > 100000000) return -1;
        n = n * 10 + (*s - '0');
    }
    return n;
}

static void run(char *path, char **argv, char **envp) {
    fcntl(err_fd, F_SETFD, FD_CLOEXEC);
    execve(path, argv, envp);
    uint32_t rec[3] = {step_code, (uint32_t)errno, 0};
    ssize_t w = write(err_fd, rec, sizeof rec);
    (void)w;
    _exit(127);
}

static void forward(int sig) {
    if (program > 0) kill(program, sig);
}

int main(int argc, char **argv, char **envp) {
    if (argc < 6) return 127;
    err_fd = number(argv[2]);
    int step = number(argv[3]);
    if (err_fd < 3 || step < 0) return 127;
    step_code = (uint32_t)step;
    if (argv[1][0] == 'e') run(argv[4], argv + 5, envp);

    /* PID 1: not dumpable, so no process of the container may read this
     * one's memory or files through /proc without CAP_SYS_PTRACE. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid < 0) return 127;
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        run(argv[4], argv + 5, envp);
    }
    /* The program's copy of the error pipe closes at its execve: that EOF
     * is how the library learns the program started. */
    close(err_fd);
    program = pid;
    static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
    for (unsigned i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = forward;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(forwarded[i], &sa, NULL);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    for (;;) {
        int status = 0;
        pid_t reaped = waitpid(-1, &status, 0);
        if (reaped == pid) {
            if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
            _exit(128 + WTERMSIG(status));
        }
        if (reaped < 0 && errno == ECHILD) _exit(127);
    }
}
