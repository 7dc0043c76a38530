/*
 * tunnel.h - the tunnel keeper: a long-running process that keeps a reverse
 * ssh tunnel (`ssh -N -R RPORT:127.0.0.1:LPORT`, cluster/ssh.h) open to one
 * remote for one sweep, so that agents there reach a store on this machine
 * at the remote's 127.0.0.1:RPORT, and that stops once the sweep has ended.
 *
 * What a keeper owns:
 *   - its ssh child and, when given serve_argv, a serve child whose port is
 *     LPORT (each in a process group of its own);
 *   - the files of its state directory:
 *       keeper.pid   its pid, while it runs;
 *       keeper.log   what it did, one line each (also ssh's stderr);
 *       tunnel.port  RPORT, written once the tunnel is first up, removed
 *                    once the sweep has ended (a keeper that dies leaves it);
 *       ssh.pid      the ssh child's pid, while it runs;
 *       serve.log    the serve child's output (0600: serve prints a new
 *                    token there once).
 *
 * Invariants:
 *   1. RPORT never changes once chosen: a tunnel is always reopened on the
 *      same remote port, so the URL the agents were given stays right. A
 *      keeper started where a dead one left tunnel.port asks for that port
 *      first (for up to TUNNEL_REUSE_TIMEOUT seconds, stopping the dead
 *      keeper's leftover ssh named in ssh.pid), and takes a new one only
 *      after that, saying so in keeper.log.
 *   2. A serve child that ends is started again (on a new port); its tunnel
 *      is closed first and reopened to the new port.
 *   3. An ssh that ends is reopened after a back-off that starts at 1 s,
 *      doubles up to 30 s, and starts over once a tunnel stayed up 60 s.
 *   4. No child outlives tunnel_keeper_release: each is sent SIGTERM, then
 *      SIGKILL 5 s later, and reaped.
 *
 * How it stops: tunnel_keeper_run returns once *stop is set (by the
 * caller's signal handler), or TUNNEL_LINGER seconds after the sweep has
 * ended (finished, cancelled or deleted; looked at every 5 s), which leaves
 * agents time to deregister and run on_complete.
 *
 * Lifecycle, in the keeper process: tunnel_keeper_init, tunnel_keeper_start,
 * then the caller announces the tunnel on stdout with TUNNEL_READY_FMT,
 * tunnel_keeper_run, tunnel_keeper_release. In the process that starts a
 * keeper: tunnel_keeper_spawn, which reads that announcement. Nothing here
 * prints to stdout or exits; all a keeper says goes to keeper.log.
 */
#ifndef SQ_TUNNEL_H
#define SQ_TUNNEL_H

#include "cluster/ssh.h"
#include "store/store.h"

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

/* How long starting a keeper may take until its tunnel (and serve) is up. */
#define TUNNEL_START_TIMEOUT 60
/* How long a new keeper keeps asking for the remote port a dead keeper
 * recorded before it takes a new one. */
#define TUNNEL_REUSE_TIMEOUT 60
/* How long a keeper keeps the tunnel after its sweep ended. */
#define TUNNEL_LINGER 30
/* The first line a keeper process prints on stdout, once its tunnel is up. */
#define TUNNEL_READY_FMT "tunnel %d\n"
/* An argument every keeper's command line holds: a pid read from
 * keeper.pid is taken for a keeper only while its command line holds it
 * (pids are reused). */
#define TUNNEL_KEEPER_ARG "--keep-tunnel"

typedef struct tunnel_keeper {
    /* Set by the caller before tunnel_keeper_start; borrowed. */
    const char *state_dir;   /* where the files above are */
    const char *store_url;   /* the store that says when the sweep has ended */
    const char *sweep;       /* the sweep whose end stops the keeper */
    ssh_target target;       /* the remote */
    char *const *serve_argv; /* NULL: a store already listens on local_port */
    const char *serve_cwd;   /* the serve child's directory */
    int local_port;          /* LPORT; with serve_argv, set by the keeper */

    /* The keeper's own state; read, never written, by the caller. */
    int remote_port; /* RPORT, once started */
    int log_fd;      /* keeper.log, -1 until started */
    int serve_fd;
    pid_t serve_pid, ssh_pid; /* -1: not running */
    store *st;
    double restart_at, backoff, next_check, ended_at;
} tunnel_keeper;

/* Fills *k with nothing running; the caller then sets the first fields. */
void tunnel_keeper_init(tunnel_keeper *k);

/*
 * Opens keeper.log, writes keeper.pid, opens the store, starts the serve
 * child when serve_argv is set (waiting until it says "sweepq: serving
 * URL"), opens the tunnel on the remote port tunnel.port records (see
 * invariant 1) or else one ssh picks, and writes tunnel.port. Returns 0 with k->remote_port set, or
 * SQ_EIO / SQ_ERROR / the store's code with the message; tunnel_keeper_release it either way. After
 * a success, k->log_fd is the log the caller may point its stderr at.
 */
int tunnel_keeper_start(tunnel_keeper *k);

/*
 * Keeps serve and the tunnel up (invariants 2 and 3) until *stop is set
 * or the sweep has ended (see "How it stops"). Logs what it does; returns
 * nothing because it has nothing left to say to a caller.
 */
void tunnel_keeper_run(tunnel_keeper *k, volatile sig_atomic_t *stop);

/* Stops and reaps the children, closes the store and the logs, and removes
 * keeper.pid when this keeper wrote it (k's log was opened). */
void tunnel_keeper_release(tunnel_keeper *k);

/*
 * The pid of a live keeper for state_dir (keeper.pid names a running
 * process whose command line holds TUNNEL_KEEPER_ARG), or 0.
 */
pid_t tunnel_keeper_find(const char *state_dir);

/* The remote port recorded in state_dir's tunnel.port (by a keeper that
 * runs, or one that died before its sweep ended), or 0. */
int tunnel_recorded_port(const char *state_dir);

/*
 * Makes sure a keeper runs for state_dir and returns the remote port of
 * its tunnel in *out_port: the port of a live keeper (tunnel_keeper_find)
 * when it has one, else it starts argv (a keeper process, which puts
 * itself in a session of its own and outlives this one) in cwd with its
 * stderr appended to keeper.log, and waits at most TUNNEL_START_TIMEOUT +
 * TUNNEL_REUSE_TIMEOUT seconds for its TUNNEL_READY_FMT line. Returns 0, or SQ_EIO pointing at
 * keeper.log (a keeper that did not come up is stopped and reaped).
 */
int tunnel_keeper_spawn(int *out_port, const char *state_dir, char *const *argv, const char *cwd);

#endif
