/*
 * ssh.h - ssh and rsync command lines for one remote machine, run with
 * their output captured (agent/run.h), and reverse tunnels.
 *
 * Every command is an argv run with the one spawn module (agent/spawn.h):
 * no local shell ever sees a string built from user input. The only shell
 * involved is the remote login shell that sshd hands the remote command to,
 * and every word that goes into such a command is quoted for /bin/sh by the
 * caller (ssh_quote).
 *
 * The options are those a script wants from ssh: BatchMode (never ask for a
 * password or a passphrase, fail instead), a connect timeout, keep-alives
 * (a dead link is noticed in ServerAliveInterval * ServerAliveCountMax),
 * StrictHostKeyChecking=accept-new (a new host is learned, a changed key
 * is refused). The user's own ~/.ssh/config is still read, so ProxyJump,
 * aliases and the like keep working.
 *
 * Invariants:
 *   - A target's host and user never start with '-' and hold no space or
 *     control character, so ssh cannot read them as options
 *     (ssh_target_check); its key and known_hosts paths hold no quote, so
 *     they survive rsync's splitting of its -e command.
 *   - Commands run through run_command (agent/run.h), which never leaves a
 *     child behind.
 */
#ifndef SQ_SSH_H
#define SQ_SSH_H

#include "agent/run.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Where and how to log in. Strings are borrowed; NULL means ssh's default. */
typedef struct ssh_target {
    const char *host;        /* required */
    const char *user;        /* -l USER */
    int port;                /* -p PORT; 0: ssh's default */
    const char *key;         /* -i KEY (with IdentitiesOnly=yes) */
    const char *known_hosts; /* UserKnownHostsFile */
} ssh_target;

/* A NULL-terminated argv under construction; the strings are owned. */
typedef struct ssh_argv {
    char **v; /* v[n] == NULL once anything was added */
    size_t n, cap;
} ssh_argv;

#define SSH_ARGV_INIT                                                                              \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void ssh_argv_add(ssh_argv *a, const char *s);
void ssh_argv_addf(ssh_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ssh_argv_release(ssh_argv *a);

/* The connect timeout and keep-alive interval every command uses, seconds. */
#define SSH_CONNECT_TIMEOUT 10
#define SSH_ALIVE_INTERVAL 15

/*
 * Checks that t can be put on a command line safely (see the invariants).
 * Returns 0 or SQ_EINVAL naming the field and what is wrong with it.
 */
int ssh_target_check(const ssh_target *t);

/* "user@host:port" (or less) for messages; caller frees. */
char *ssh_target_text(const ssh_target *t);

/*
 * Appends `ssh OPTIONS [extra...] HOST [remote_cmd]` to out. extra (may be
 * NULL) is a NULL-terminated list of further ssh arguments placed before
 * the host (e.g. "-N", "-R", "0:127.0.0.1:8600"); remote_cmd (may be NULL)
 * is one string the remote login shell runs: quote its words (ssh_quote).
 */
void ssh_build(ssh_argv *out, const ssh_target *t, const char *const *extra,
               const char *remote_cmd);

/*
 * Appends `rsync -a --protect-args -e "ssh OPTIONS" [extra...] SRC DST` to
 * out, where the remote side of SRC or DST is written "REMOTE:path" by the
 * caller with ssh_rsync_remote. extra: NULL-terminated, may be NULL.
 */
void ssh_rsync_build(ssh_argv *out, const ssh_target *t, const char *const *extra, const char *src,
                     const char *dst);

/* "[user@]host:path" as rsync wants a remote path; caller frees. */
char *ssh_rsync_remote(const ssh_target *t, const char *path);

/* Appends s to sb quoted for the remote /bin/sh as one inert word. */
void ssh_quote(strbuf *sb, const char *s);

/* The most bytes of a remote command's stdout, and of its stderr, kept
 * (run_result_init's max for the commands here). */
#define SSH_OUTPUT_MAX ((size_t)4 << 20)

/*
 * The last non-empty line of r->err (what ssh or rsync said went wrong,
 * e.g. "Connection refused"), or a description of how it ended when it
 * printed nothing. Caller frees.
 */
char *ssh_result_why(const run_result *r);

/*
 * run_command (agent/run.h), failing unless the command exited 0: returns
 * run_command's code, or SQ_EIO, with the message "cannot WHAT: CAUSE"
 * (CAUSE: run_command's message, or ssh_result_why). *r is filled as by
 * run_command either way.
 */
int ssh_run_checked(run_result *r, char *const *argv, const char *input, double timeout,
                    const char *what);

/* ---- reverse tunnels ------------------------------------------------- */

/*
 * Starts `ssh -N -R RPORT:127.0.0.1:LPORT HOST` as a child in a process
 * group of its own, with ExitOnForwardFailure so that a port the remote
 * cannot bind ends it, and its stderr appended to log_fd (a regular file,
 * required). With remote_port 0 the remote side picks a free port: this
 * waits (at most timeout seconds) until ssh writes "Allocated port N" to
 * the log and returns N in *out_port; with a given port *out_port is that
 * port and this does not wait. Returns 0 with *out_pid the ssh process
 * (reap it with spawn_reap), SQ_EIO with ssh's last words when it ended or
 * timed out before the port was known (the child already killed and
 * reaped), SQ_ERROR when ssh could not be run.
 */
int ssh_tunnel_open(pid_t *out_pid, int *out_port, const ssh_target *t, int remote_port,
                    int local_port, int log_fd, double timeout);

#endif
