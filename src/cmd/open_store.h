/*
 * open_store.h - what every verb that touches the store does first: find the
 * project, open its store, look a sweep up, and turn a failure into one
 * "sweepq: cannot ...: cause" line on stderr and the matching exit code.
 *
 * Invariant: on any failure these have printed exactly one error (with what
 * to do next when there is something to do) and return an exit code from
 * exitcodes.h; on success they print nothing and return EXIT_OK.
 */
#ifndef SQ_OPEN_STORE_H
#define SQ_OPEN_STORE_H

#include "cmd/options.h"
#include "store/store.h"
#include "util/workspace.h"

/*
 * Opens the workspace named by g->store_url (else $SWEEPQ_STORE, else the
 * .sweepq/ found walking up) and its store. On success *ws is filled
 * (workspace_release it) and *out is the store (store_close it). On failure
 * *out is NULL and *ws released; returns EXIT_NOTFOUND when there is no
 * project, EXIT_STORE when the store cannot be opened.
 */
int open_store(workspace *ws, store **out, const sq_globals *g);

/*
 * Looks sweep name up. On SQ_ENOTFOUND prints "no sweep named 'x'; see
 * 'sweepq status' for the sweeps in this project" and returns EXIT_NOTFOUND.
 * *out is the caller's (store_sweep_free) on success, NULL on failure.
 */
int open_store_sweep(store *st, const char *name, store_sweep **out);

/* The exit code for a negative SQ_E* code (EXIT_OK for 0). */
int open_store_exit_code(int rc);

/*
 * Prints "sweepq: cannot WHAT: MSG" where WHAT is the formatted text and MSG
 * is sq_error_msg(), and returns open_store_exit_code(rc).
 */
int open_store_fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
