/*
 * spawn.c - start, signal and reap child processes; see spawn.h for the
 * discipline.
 *
 * The child runs child_main on child_stack, sharing the parent's memory
 * until it calls execve (CLONE_VM | CLONE_VFORK: the parent's thread sleeps
 * until then). So child_main must not allocate, take locks, touch stdio or
 * return: it makes system calls, writes its errno into the shared
 * spawn_child struct when something fails, and _exits.
 */
#include "util/common.h"

#include "agent/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* execvp needs PATH_MAX-ish buffers on its stack, the script fallback a copy
 * of argv; this leaves ample room and costs nothing until touched. */
#define CHILD_STACK_SIZE (256 * 1024)

typedef enum {
    STEP_NONE = 0,
    STEP_PDEATHSIG,
    STEP_STDIN,
    STEP_DUP,
    STEP_CHDIR,
    STEP_EXEC,
} child_step;

/* Shared between parent and child (CLONE_VM) until the child execs. */
typedef struct spawn_child {
    const spawn_opts *o;
    pid_t parent;
    int err;         /* errno of the failed step; 0 on success */
    child_step step; /* which step failed */
} spawn_child;

static pthread_mutex_t stack_lock = PTHREAD_MUTEX_INITIALIZER;
static void *child_stack; /* mapped once, reused by every spawn */

static int child_fail(spawn_child *c, child_step step)
{
    c->err = errno;
    c->step = step;
    _exit(127);
}

/* Makes fd the child's descriptor target, keeping it across exec. */
static int child_dup(int fd, int target)
{
    if (fd == target)
        return fcntl(fd, F_SETFD, 0);
    return dup2(fd, target) < 0 ? -1 : 0;
}

static int child_main(void *arg)
{
    spawn_child *c = arg;
    const spawn_opts *o = c->o;

    if (o->new_pgroup)
        setpgid(0, 0);
    if (o->die_with_parent) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
            return child_fail(c, STEP_PDEATHSIG);
        /* The parent may have died before the prctl: then nobody would
         * send the signal, so give up now. */
        if (getppid() != c->parent)
            _exit(127);
    }
    /* Defaults for every signal before unblocking, so that none of the
     * parent's handlers can run here (they would run on shared memory). */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP || (o->reset && sigismember(o->reset, sig) != 1))
            continue;
        sigaction(sig, &dfl, NULL); /* fails harmlessly for glibc's reserved ones */
    }
    if (o->stdin_fd >= 0) {
        if (child_dup(o->stdin_fd, 0) < 0)
            return child_fail(c, STEP_DUP);
    } else {
        int null = open("/dev/null", O_RDONLY);
        if (null < 0)
            return child_fail(c, STEP_STDIN);
        if (null != 0) {
            if (dup2(null, 0) < 0)
                return child_fail(c, STEP_STDIN);
            close(null);
        }
    }
    if (o->stdout_fd >= 0 && child_dup(o->stdout_fd, 1) < 0)
        return child_fail(c, STEP_DUP);
    if (o->stderr_fd >= 0 && child_dup(o->stderr_fd, 2) < 0)
        return child_fail(c, STEP_DUP);
    if (o->cwd && chdir(o->cwd) < 0)
        return child_fail(c, STEP_CHDIR);
    /* Nothing but 0-2 crosses the exec: a library's descriptors that were
     * opened without O_CLOEXEC (libcurl's socketpair, say) would otherwise
     * leak into every trial. Old kernels without the flag keep them. */
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (o->envp)
        execvpe(o->argv[0], o->argv, o->envp);
    else
        execvp(o->argv[0], o->argv);
    return child_fail(c, STEP_EXEC);
}

static int failure_message(const spawn_child *c)
{
    const char *prog = c->o->argv[0];
    const char *cause = strerror(c->err);
    switch (c->step) {
    case STEP_CHDIR:
        return sq_error_set(SQ_ERROR, "cannot run '%s': cannot enter directory '%s': %s", prog,
                            c->o->cwd, cause);
    case STEP_STDIN:
        return sq_error_set(SQ_ERROR, "cannot run '%s': cannot open '/dev/null': %s", prog, cause);
    case STEP_DUP:
        return sq_error_set(SQ_ERROR, "cannot run '%s': cannot set up its output: %s", prog, cause);
    case STEP_PDEATHSIG:
        return sq_error_set(SQ_ERROR, "cannot run '%s': cannot tie it to its parent: %s", prog,
                            cause);
    default: return sq_error_set(SQ_ERROR, "cannot run '%s': %s", prog, cause);
    }
}

int spawn_start(pid_t *out_pid, int *out_errno, const spawn_opts *o)
{
    *out_pid = -1;
    if (out_errno)
        *out_errno = 0;
    if (!o->argv || !o->argv[0])
        SQ_BUG("spawn_start without argv");

    spawn_child c = {.o = o, .parent = getpid(), .err = 0, .step = STEP_NONE};
    int rc = 0;
    pthread_mutex_lock(&stack_lock);
    if (!child_stack) {
        void *p = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (p == MAP_FAILED) {
            rc = sq_error_set(SQ_EIO, "cannot run '%s': cannot map a stack for it: %s", o->argv[0],
                              strerror(errno));
            goto out;
        }
        child_stack = p;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* The stack grows down on every architecture Linux runs sweepq on. */
    pid_t pid = clone(child_main, (char *)child_stack + CHILD_STACK_SIZE,
                      CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        rc = sq_error_set(SQ_EIO, "cannot run '%s': cannot create a process: %s", o->argv[0],
                          strerror(clone_errno));
        goto out;
    }
    if (c.step != STEP_NONE) {
        spawn_status st;
        spawn_reap(pid, true, &st);
        if (out_errno)
            *out_errno = c.err;
        rc = failure_message(&c);
        goto out;
    }
    *out_pid = pid;
out:
    pthread_mutex_unlock(&stack_lock);
    return rc;
}

int spawn_exited(pid_t pid)
{
    siginfo_t info;
    for (;;) {
        info.si_pid = 0;
        if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0)
            return info.si_pid == pid ? 1 : 0;
        if (errno != EINTR)
            return sq_error_set(SQ_ENOTFOUND, "cannot wait for process %d: %s", (int)pid,
                                strerror(errno));
    }
}

int spawn_reap(pid_t pid, bool wait, spawn_status *out)
{
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, wait ? 0 : WNOHANG);
        if (r == 0)
            return 0;
        if (r == pid)
            break;
        if (errno != EINTR)
            return sq_error_set(SQ_ENOTFOUND, "cannot wait for process %d: %s", (int)pid,
                                strerror(errno));
    }
    if (WIFSIGNALED(status)) {
        out->exit_code = -1;
        out->term_signal = WTERMSIG(status);
    } else {
        out->exit_code = WEXITSTATUS(status);
        out->term_signal = 0;
    }
    return 1;
}

int spawn_signal_group(pid_t pid, int sig)
{
    if (pid <= 0)
        SQ_BUG("spawn_signal_group(%d)", (int)pid);
    if (kill(-pid, sig) == 0 || errno == ESRCH)
        return 0;
    return sq_error_set(SQ_EIO, "cannot signal process group %d: %s", (int)pid, strerror(errno));
}

const char *spawn_status_text(const spawn_status *s, char *buf, unsigned size)
{
    if (s->exit_code >= 0)
        snprintf(buf, size, "exit status %d", s->exit_code);
    else
        snprintf(buf, size, "killed by signal %d (%s)", s->term_signal, strsignal(s->term_signal));
    return buf;
}
