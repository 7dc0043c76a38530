/*
 * workspace.h - the project's .sweepq/ directory and the paths inside it.
 *
 *   .sweepq/sweepq.db                  embedded store
 *   .sweepq/config.yaml                project settings
 *   .sweepq/sweeps/NAME/spec.yaml      frozen copy of the spec
 *   .sweepq/sweeps/NAME/trials/N/      trial directory (stable across attempts)
 *   .sweepq/sweeps/NAME/jobs/          scheduler scripts and logs
 *
 * The project is found by walking up from the working directory, as git
 * finds .git. The store is --store URL, else $SWEEPQ_STORE, else the
 * project's sqlite:.sweepq/sweepq.db.
 */
#ifndef SQ_WORKSPACE_H
#define SQ_WORKSPACE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct workspace {
    char *root;      /* absolute directory that holds .sweepq/ */
    char *dir;       /* root + "/.sweepq" */
    char *store_url; /* the store to use */
} workspace;

#define WORKSPACE_INIT                                                                             \
    {                                                                                              \
        NULL, NULL, NULL                                                                           \
    }

/*
 * Finds the project and the store. store_override is --store (may be NULL).
 * When no .sweepq/ exists above the working directory: with create=true one
 * is made in the working directory; else, with a store URL, the working
 * directory is the root (nothing is created); else SQ_ENOTFOUND with a
 * message that says to run 'sweepq init' or pass --store. A "sqlite:DIR/.sweepq/X.db" store
 * makes DIR the root even when the working directory is elsewhere.
 */
int workspace_open(workspace *ws, const char *store_override, bool create);
void workspace_release(workspace *ws);

/* Creates DIR/.sweepq (and its sweeps/) if missing. */
int workspace_init_dir(const char *root);

/*
 * 0 when name can be a sweep's directory under .sweepq/sweeps/: a non-empty
 * file name that is not "." or "..", has no '/' and no control character,
 * and is at most 255 bytes. Else SQ_EINVAL with a message naming it. The
 * store refuses to create a sweep whose name fails this (every backend, so
 * also through `serve`'s API), and code that builds a path from a name read
 * back from a store checks it again (a store written by an older sweepq or
 * by another program may hold any name).
 */
int workspace_check_name(const char *name);

/* Paths inside the workspace; the caller frees. sweep must pass
 * workspace_check_name (its caller checks it). */
char *workspace_config_path(const workspace *ws); /* .sweepq/config.yaml */
char *workspace_sweep_dir(const workspace *ws, const char *sweep);
char *workspace_trial_dir(const workspace *ws, const char *sweep, uint64_t number);

/* mkdir -p; 0 or SQ_EIO with the message (errno: the failed mkdir's). */
int mkdir_p(const char *path, unsigned mode);

#endif
