/*
 * remote.h - the SSH machines a project can launch agents on, kept in the
 * project's .sweepq/config.yaml under a top-level `remotes:` mapping:
 *
 *     remotes:
 *       gpu-box:
 *         host: gpu.example.com
 *         user: alice
 *         port: 22
 *         key: ~/.ssh/id_ed25519
 *         workdir: sweepq/my-project
 *         slots: 4
 *
 * Reading goes through cluster/config.h. Writing (remote_save,
 * remote_delete) changes only the text of one remote's entry, or appends
 * one: every other byte of the file, comments included, stays as it was.
 * A write goes to a temporary file in the same directory, is fsynced and
 * renamed over the old one, so a reader sees the old file or the new one.
 *
 * Invariants: a remote's name is 1-64 characters of [A-Za-z0-9_-] (it is
 * a path part and a config key); a loaded or saved remote passes
 * remote_check.
 */
#ifndef SQ_REMOTE_H
#define SQ_REMOTE_H

#include "cluster/ssh.h"
#include "util/workspace.h"

#include <stddef.h>

typedef struct remote {
    char *name;
    char *host;
    char *user;        /* NULL: ssh's default (the local login, or ~/.ssh/config) */
    int port;          /* 0: ssh's default */
    char *key;         /* NULL: ssh's default identities */
    char *workdir;     /* where the project is synced to; relative to the remote home */
    int slots;         /* trial slots on that machine; 0: an agent's default (its CPUs) */
    char *sweepq;      /* the sweepq program on the remote; NULL: "sweepq" from its PATH */
    char *known_hosts; /* NULL: the user's ~/.ssh/known_hosts */
} remote;

typedef struct remote_list {
    remote *items;
    size_t n;
} remote_list;

#define REMOTE_LIST_INIT                                                                           \
    {                                                                                              \
        NULL, 0                                                                                    \
    }

/* The workdir a remote gets when none is given: sweepq/BASENAME of the
 * project root, relative to the remote home. Caller frees. */
char *remote_default_workdir(const char *project_root);

/* 0 when name can be a remote's name, else SQ_EINVAL saying why. */
int remote_check_name(const char *name);

/* Checks every field (name, ssh fields, workdir, slots). 0 or SQ_EINVAL. */
int remote_check(const remote *r);

/* The ssh target of r (borrowing r's strings). */
ssh_target remote_target(const remote *r);

/* The program to run sweepq on r ("sweepq" when r->sweepq is NULL); borrowed. */
const char *remote_program(const remote *r);

/*
 * Runs script on r: one command line for its login shell (every word in it
 * quoted with ssh_quote), input (may be NULL) on its stdin. With what NULL
 * as ssh_run, else as ssh_run_checked ("cannot WHAT: CAUSE" unless it
 * exited 0). The caller inits and releases *res.
 */
int remote_run(run_result *res, const remote *r, const char *script, const char *input,
               double timeout, const char *what);

/*
 * Reads the remotes of config_path (a missing file or no `remotes:` key:
 * none) into *out, in file order. Returns 0, SQ_EIO, or SQ_EINVAL naming
 * file:line:col or the remote and field that is wrong. *out is released on
 * error.
 */
int remote_list_load(remote_list *out, const char *config_path);
void remote_list_release(remote_list *l);

/* The remote named name in l, or NULL. Borrowed. */
const remote *remote_find(const remote_list *l, const char *name);

/*
 * Loads the remote named name from config_path into *out (remote_release
 * it). SQ_ENOTFOUND says there is none and how to add one; other codes as
 * remote_list_load.
 */
int remote_lookup(remote *out, const char *config_path, const char *name);

/*
 * remote_lookup in the project ws's .sweepq/config.yaml, with the workdir
 * remote_default_workdir(ws->root) when the file gives none: the remote as
 * launch and collect use it. Returns as remote_lookup.
 */
int remote_open(remote *out, const workspace *ws, const char *name);

/*
 * Adds r to config_path, or replaces the remote of the same name (its whole
 * entry). Creates the file when missing. Returns 0, SQ_EINVAL (r fails
 * remote_check, or the file is not YAML a remote can be written into) or
 * SQ_EIO.
 */
int remote_save(const char *config_path, const remote *r);

/* Removes the remote named name. SQ_ENOTFOUND when there is none. */
int remote_delete(const char *config_path, const char *name);

void remote_release(remote *r);

#endif
