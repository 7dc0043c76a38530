/*
 * spawn.h - the one way sweepq starts a child process (STYLE.md #11, after
 * libuv's src/unix/process.c).
 *
 * Discipline:
 *   - Everything the child needs (argv, envp, directory, descriptors) is
 *     built by the caller before the child exists; between clone and exec
 *     the child makes only async-signal-safe system calls.
 *   - The child is made with clone(CLONE_VM | CLONE_VFORK) on a stack of its
 *     own, as glibc's posix_spawn does: no page tables are copied, so the
 *     cost does not grow with the parent's size (fork from a large parent
 *     was measured 35x slower). posix_spawn itself cannot set a parent-death
 *     signal, which is why it is not used.
 *   - Every signal is blocked in the parent around clone, and the child
 *     resets every disposition to the default before unblocking, so none of
 *     the parent's handlers ever runs in the child.
 *   - An exec failure is reported to the parent with its errno and the step
 *     that failed; the child is reaped and the caller gets a one-line
 *     message ("cannot run 'foo': No such file or directory"). The report
 *     travels through the memory parent and child share until exec
 *     (CLONE_VM), as in glibc's posix_spawn: the parent sleeps until the
 *     child has exec'd or exited, so it is read at once and no close-on-exec
 *     pipe (libuv's way after a real fork) is needed.
 *   - Children are waited for by pid (never waitpid(-1), which would steal
 *     the children of libraries).
 *
 * Invariant: a pid handed out by spawn_start stays a zombie (so neither it
 * nor its process group id can be reused) until spawn_reap collects it;
 * spawn_signal_group is therefore safe until then.
 */
#ifndef SQ_SPAWN_H
#define SQ_SPAWN_H

#include <signal.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct spawn_opts {
    char *const *argv;    /* argv[0] is looked up in PATH (execvp's rules) */
    char *const *envp;    /* the whole environment; NULL: the parent's */
    const char *cwd;      /* directory to run in; NULL: the parent's */
    int stdin_fd;         /* -1: /dev/null */
    int stdout_fd;        /* -1: the parent's */
    int stderr_fd;        /* -1: the parent's */
    bool new_pgroup;      /* lead a process group of its own (setpgid(0, 0)) */
    bool die_with_parent; /* SIGKILL when the parent dies (PR_SET_PDEATHSIG) */
    /* The signals whose disposition the parent changed (handled or
     * ignored): the child sets them back to the default before it unblocks
     * signals. NULL: every signal, 64 system calls in the child while the
     * parent waits; a caller that knows its handlers passes them, as the
     * agent does. */
    const sigset_t *reset;
} spawn_opts;

#define SPAWN_OPTS_INIT                                                                            \
    {                                                                                              \
        NULL, NULL, NULL, -1, -1, -1, false, false, NULL                                           \
    }

/* How a child ended. */
typedef struct spawn_status {
    int exit_code;   /* 0..255, or -1 when killed by a signal */
    int term_signal; /* the signal that killed it, or 0 */
} spawn_status;

/*
 * Starts a child as o says. On success *out_pid is its pid and returns 0.
 * When the child cannot be run (exec, chdir or a descriptor failed in the
 * child) returns SQ_ERROR with "cannot run 'ARGV0': CAUSE" (chdir:
 * "cannot run 'ARGV0': cannot enter directory 'DIR': CAUSE"), the child
 * already reaped, *out_pid = -1 and *out_errno (may be NULL) the errno.
 * SQ_EIO when no process could be made. Not safe to call from two threads
 * at once (one child stack; calls are serialised by a mutex).
 */
int spawn_start(pid_t *out_pid, int *out_errno, const spawn_opts *o);

/*
 * Checks whether child pid has ended without reaping it. Returns 1 when it
 * has (the pid stays a zombie until spawn_reap), 0 while it runs, or
 * SQ_ENOTFOUND when pid is not a child of this process.
 */
int spawn_exited(pid_t pid);

/*
 * Reaps child pid. With wait=false it returns 0 at once when the child still
 * runs; otherwise it blocks. Returns 1 with *out filled when reaped, 0 when
 * still running, SQ_ENOTFOUND when pid is not a child of this process.
 */
int spawn_reap(pid_t pid, bool wait, spawn_status *out);

/*
 * Sends sig to the process group led by pid (a child started with
 * new_pgroup that is not yet reaped). A group that is already gone is not
 * an error. Returns 0 or SQ_EIO.
 */
int spawn_signal_group(pid_t pid, int sig);

/* "exit status 3", "killed by signal 9 (Killed)" into buf (>= 64 bytes). */
const char *spawn_status_text(const spawn_status *s, char *buf, unsigned size);

#endif
