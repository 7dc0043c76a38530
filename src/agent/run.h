/*
 * run.h - run a command to its end with its output captured: ssh, rsync,
 * sbatch, squeue, qstat and the like, never a trial (the agent runs those
 * with spawn.h directly, their output going to a file).
 *
 * Invariants:
 *   - The command is an argv started with spawn_start (spawn.h) in a
 *     process group of its own: no local shell is involved.
 *   - stdout and stderr are read at once (poll), and stdin is written from
 *     the same loop, so a child that fills one pipe while this side waits
 *     on another cannot deadlock.
 *   - run_command never leaves a child behind: past its timeout the child's
 *     process group is killed and reaped before it returns.
 */
#ifndef SQ_RUN_H
#define SQ_RUN_H

#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>

/* What a command printed and how it ended. */
typedef struct run_result {
    strbuf out, err; /* at most the max given to run_result_init; the rest is dropped */
    int exit_code;   /* 0..255, or -1 when killed by a signal */
    int term_signal; /* 0 unless killed by a signal */
    bool timed_out;  /* it ran past the timeout and was killed */
    double seconds;  /* how long it ran */
} run_result;

/* max: the most bytes of stdout, and of stderr, kept. */
void run_result_init(run_result *r, size_t max);
void run_result_release(run_result *r);

/*
 * Runs argv (argv[0] looked up in PATH) in cwd (NULL: this one), with input
 * (NULL: stdin is /dev/null) on its stdin and its stdout and stderr
 * captured into *r, for at most timeout seconds (0: no limit; past it
 * SIGTERM, SIGKILL a second later). Returns 0 when the command ran,
 * whatever its exit status (read r->exit_code), or an SQ_E* code when it
 * could not be started ("cannot run 'ssh': ..."), with *r filled as far as
 * it got. The caller inits and releases *r.
 */
int run_command(run_result *r, char *const *argv, const char *cwd, const char *input,
                double timeout);

#endif
